//! One key exchange of IKEv2, whatever its method (RFC 9370 section 2.2 renames
//! "Diffie-Hellman group" to "key exchange method"): a KE payload each way and a
//! shared secret at the end. With Diffie-Hellman both sides send a public value;
//! with a KEM the initiator sends its encapsulation key and the responder the
//! ciphertext it made with it. So the two roles are two types: the side that
//! speaks first keeps a [`KeInitiator`]; the side that answers calls [`respond`].

use rand_core::{CryptoRng, RngCore};

use super::dh::{DhError, DhPrivate};
use super::kem::{self, MlKemInitiator};
use super::secret::SecretBytes;
use crate::wire::DhGroup;

/// The first speaker's state of one key exchange.
#[derive(Debug)]
pub enum KeInitiator {
    /// Boxed: a MODP private value is several hundred octets.
    Dh(Box<DhPrivate>),
    MlKem(MlKemInitiator),
}

impl KeInitiator {
    /// A fresh exchange with `method`.
    pub fn start(method: DhGroup, rng: &mut (impl RngCore + CryptoRng)) -> Result<Self, DhError> {
        if kem::is_ml_kem(method) {
            MlKemInitiator::generate(method, rng).map(Self::MlKem)
        } else {
            DhPrivate::generate(method, rng).map(|d| Self::Dh(Box::new(d)))
        }
    }

    pub fn method(&self) -> DhGroup {
        match self {
            Self::Dh(d) => d.group(),
            Self::MlKem(k) => k.method(),
        }
    }

    /// Our KE data.
    pub fn public_value(&self) -> &[u8] {
        match self {
            Self::Dh(d) => d.public_value(),
            Self::MlKem(k) => k.public_value(),
        }
    }

    /// The shared secret from the answer's KE data (checked first).
    pub fn finish(&self, peer: &[u8]) -> Result<SecretBytes, DhError> {
        match self {
            Self::Dh(d) => d.shared_secret(peer),
            Self::MlKem(k) => k.shared_secret(peer),
        }
    }
}

/// The answering side of one key exchange with `method`, given the first
/// speaker's KE data (checked first): our KE data and the shared secret.
pub fn respond(
    method: DhGroup,
    peer: &[u8],
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<(Vec<u8>, SecretBytes), DhError> {
    if kem::is_ml_kem(method) {
        kem::encapsulate(method, peer, rng)
    } else {
        let ours = DhPrivate::generate(method, rng)?;
        let secret = ours.shared_secret(peer)?;
        Ok((ours.public_value().to_vec(), secret))
    }
}
