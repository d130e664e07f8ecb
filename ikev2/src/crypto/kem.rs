//! ML-KEM (NIST FIPS 203) as IKEv2 key exchange methods 35, 36 and 37 (ML-KEM-512,
//! -768, -1024; RFC 9370 for carrying them as additional key exchanges,
//! draft-ietf-ipsecme-ikev2-mlkem for the encoding):
//!
//! | method | initiator's KE data | responder's KE data | shared secret |
//! |---|---|---|---|
//! | 35 ML-KEM-512 | encapsulation key, 800 octets | ciphertext, 768 octets | 32 octets |
//! | 36 ML-KEM-768 | encapsulation key, 1184 octets | ciphertext, 1088 octets | 32 octets |
//! | 37 ML-KEM-1024 | encapsulation key, 1568 octets | ciphertext, 1568 octets | 32 octets |
//!
//! Unlike Diffie-Hellman the two sides do different things: the initiator makes a key
//! pair ([`MlKemInitiator`]) and decapsulates the responder's ciphertext; the
//! responder encapsulates to the initiator's key ([`encapsulate`]). The responder
//! checks the key first as FIPS 203 section 7.2 requires (the length, and every
//! 12-bit coefficient below q = 3329: the "modulus check"); the initiator checks
//! the ciphertext's length (section 7.3; a wrong ciphertext of the right length
//! gives a pseudorandom secret by implicit rejection, and the AUTH exchange fails).
//!
//! The arithmetic is the RustCrypto `ml-kem` crate (pure Rust, constant time in the
//! secret values, randomness from the caller's generator so the endpoint's seeded
//! RNG keeps simulations reproducible); docs/crypto-dh.md has the comparison with
//! aws-lc-rs that chose it. Decapsulation keys zeroize on drop; `Debug` shows only
//! the method.

use ml_kem::kem::{Decapsulate, Encapsulate};
use ml_kem::{Ciphertext, EncodedSizeUser, KemCore, MlKem512, MlKem768, MlKem1024};
use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroize;

use super::dh::{DhError, InvalidPublicValue};
use super::secret::SecretBytes;
use crate::wire::DhGroup;

/// The ML-KEM parameter sets, by key exchange method.
pub const METHODS: [DhGroup; 3] = [
    DhGroup::ML_KEM_512,
    DhGroup::ML_KEM_768,
    DhGroup::ML_KEM_1024,
];

/// q, the modulus of ML-KEM's ring.
const Q: u16 = 3329;

/// Whether `method` is one of the ML-KEM parameter sets.
pub fn is_ml_kem(method: DhGroup) -> bool {
    METHODS.contains(&method)
}

/// (k, encapsulation key octets, ciphertext octets) of a parameter set.
fn sizes(method: DhGroup) -> Option<(usize, usize, usize)> {
    match method {
        DhGroup::ML_KEM_512 => Some((2, 800, 768)),
        DhGroup::ML_KEM_768 => Some((3, 1184, 1088)),
        DhGroup::ML_KEM_1024 => Some((4, 1568, 1568)),
        _ => None,
    }
}

/// Octets of the initiator's KE data (the encapsulation key) and of the
/// responder's (the ciphertext).
pub fn ke_data_len(method: DhGroup) -> Option<(usize, usize)> {
    sizes(method).map(|(_, ek, ct)| (ek, ct))
}

/// FIPS 203 section 7.2, the encapsulation key check: the right length, and its
/// 384·k octets of polynomial coefficients decode to 12-bit values all below q (an
/// encoding that `ByteEncode12(ByteDecode12(x))` would change is refused). The key
/// is public: no need for constant time.
pub fn check_encapsulation_key(method: DhGroup, ek: &[u8]) -> Result<(), DhError> {
    let Some((k, len, _)) = sizes(method) else {
        return Err(DhError::UnsupportedGroup(method));
    };
    let invalid = |reason| DhError::InvalidPublicValue {
        group: method,
        reason,
    };
    if ek.len() != len {
        return Err(invalid(InvalidPublicValue::Length {
            expected: len,
            actual: ek.len(),
        }));
    }
    for c in ek[..384 * k].chunks_exact(3) {
        let a = u16::from(c[0]) | (u16::from(c[1] & 0x0f) << 8);
        let b = u16::from(c[1] >> 4) | (u16::from(c[2]) << 4);
        if a >= Q || b >= Q {
            return Err(invalid(InvalidPublicValue::OutOfRange));
        }
    }
    Ok(())
}

/// The initiator's side: a fresh key pair; the encapsulation key goes in its KE
/// payload.
pub struct MlKemInitiator {
    method: DhGroup,
    ek: Vec<u8>,
    dk: Dk,
}

// The decapsulation keys zeroize on drop (the crate's `zeroize` feature).
enum Dk {
    K512(Box<<MlKem512 as KemCore>::DecapsulationKey>),
    K768(Box<<MlKem768 as KemCore>::DecapsulationKey>),
    K1024(Box<<MlKem1024 as KemCore>::DecapsulationKey>),
}

impl MlKemInitiator {
    /// A fresh key pair for `method`.
    pub fn generate(
        method: DhGroup,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Self, DhError> {
        let (dk, ek) = match method {
            DhGroup::ML_KEM_512 => {
                let (dk, ek) = MlKem512::generate(rng);
                (Dk::K512(Box::new(dk)), ek.as_bytes().to_vec())
            }
            DhGroup::ML_KEM_768 => {
                let (dk, ek) = MlKem768::generate(rng);
                (Dk::K768(Box::new(dk)), ek.as_bytes().to_vec())
            }
            DhGroup::ML_KEM_1024 => {
                let (dk, ek) = MlKem1024::generate(rng);
                (Dk::K1024(Box::new(dk)), ek.as_bytes().to_vec())
            }
            _ => return Err(DhError::UnsupportedGroup(method)),
        };
        Ok(Self { method, ek, dk })
    }

    /// FIPS 203 `ML-KEM.KeyGen_internal(d, z)`, for known-answer tests.
    pub fn from_seed(method: DhGroup, d: &[u8; 32], z: &[u8; 32]) -> Result<Self, DhError> {
        let (d, z) = ((*d).into(), (*z).into());
        let (dk, ek) = match method {
            DhGroup::ML_KEM_512 => {
                let (dk, ek) = MlKem512::generate_deterministic(&d, &z);
                (Dk::K512(Box::new(dk)), ek.as_bytes().to_vec())
            }
            DhGroup::ML_KEM_768 => {
                let (dk, ek) = MlKem768::generate_deterministic(&d, &z);
                (Dk::K768(Box::new(dk)), ek.as_bytes().to_vec())
            }
            DhGroup::ML_KEM_1024 => {
                let (dk, ek) = MlKem1024::generate_deterministic(&d, &z);
                (Dk::K1024(Box::new(dk)), ek.as_bytes().to_vec())
            }
            _ => return Err(DhError::UnsupportedGroup(method)),
        };
        Ok(Self { method, ek, dk })
    }

    pub fn method(&self) -> DhGroup {
        self.method
    }

    /// The encapsulation key: our KE data.
    pub fn public_value(&self) -> &[u8] {
        &self.ek
    }

    /// The decapsulation key, encoded (FIPS 203 `dk`), for known-answer tests.
    pub fn decapsulation_key(&self) -> SecretBytes {
        match &self.dk {
            Dk::K512(dk) => secret(dk.as_bytes()),
            Dk::K768(dk) => secret(dk.as_bytes()),
            Dk::K1024(dk) => secret(dk.as_bytes()),
        }
    }

    /// The shared secret from the responder's ciphertext (its length checked).
    pub fn shared_secret(&self, ciphertext: &[u8]) -> Result<SecretBytes, DhError> {
        let method = self.method;
        let (_, _, len) = sizes(method).ok_or(DhError::UnsupportedGroup(method))?;
        if ciphertext.len() != len {
            return Err(DhError::InvalidPublicValue {
                group: method,
                reason: InvalidPublicValue::Length {
                    expected: len,
                    actual: ciphertext.len(),
                },
            });
        }
        // Decapsulation cannot fail for a ciphertext of the right length (implicit
        // rejection); the crate's error type is uninhabited in practice.
        let failed = |_| DhError::InvalidPublicValue {
            group: method,
            reason: InvalidPublicValue::OutOfRange,
        };
        Ok(match &self.dk {
            Dk::K512(dk) => secret(
                dk.decapsulate(&ct::<MlKem512>(ciphertext))
                    .map_err(failed)?,
            ),
            Dk::K768(dk) => secret(
                dk.decapsulate(&ct::<MlKem768>(ciphertext))
                    .map_err(failed)?,
            ),
            Dk::K1024(dk) => secret(
                dk.decapsulate(&ct::<MlKem1024>(ciphertext))
                    .map_err(failed)?,
            ),
        })
    }
}

/// A ciphertext of the right length for `K` (checked by the caller).
fn ct<K: KemCore>(bytes: &[u8]) -> Ciphertext<K> {
    let mut c = Ciphertext::<K>::default();
    c.copy_from_slice(bytes);
    c
}

impl std::fmt::Debug for MlKemInitiator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MlKemInitiator")
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

/// The responder's side: encapsulates to the initiator's key (checked first, FIPS
/// 203 section 7.2). Returns our KE data (the ciphertext) and the shared secret.
pub fn encapsulate(
    method: DhGroup,
    ek: &[u8],
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<(Vec<u8>, SecretBytes), DhError> {
    check_encapsulation_key(method, ek)?;
    let failed = |_| DhError::InvalidPublicValue {
        group: method,
        reason: InvalidPublicValue::OutOfRange,
    };
    let (ct, ss) = match method {
        DhGroup::ML_KEM_512 => {
            let (c, s) = ek_of::<MlKem512>(ek).encapsulate(rng).map_err(failed)?;
            (c.to_vec(), secret(s))
        }
        DhGroup::ML_KEM_768 => {
            let (c, s) = ek_of::<MlKem768>(ek).encapsulate(rng).map_err(failed)?;
            (c.to_vec(), secret(s))
        }
        DhGroup::ML_KEM_1024 => {
            let (c, s) = ek_of::<MlKem1024>(ek).encapsulate(rng).map_err(failed)?;
            (c.to_vec(), secret(s))
        }
        _ => return Err(DhError::UnsupportedGroup(method)),
    };
    Ok((ct, ss))
}

/// FIPS 203 `ML-KEM.Encaps_internal(ek, m)`, for known-answer tests: the
/// ciphertext and the shared secret for the randomness `m`.
pub fn encapsulate_with(
    method: DhGroup,
    ek: &[u8],
    m: &[u8; 32],
) -> Result<(Vec<u8>, SecretBytes), DhError> {
    use ml_kem::EncapsulateDeterministic as _;
    check_encapsulation_key(method, ek)?;
    let m = (*m).into();
    let failed = |_| DhError::InvalidPublicValue {
        group: method,
        reason: InvalidPublicValue::OutOfRange,
    };
    let (ct, ss) = match method {
        DhGroup::ML_KEM_512 => {
            let (c, s) = ek_of::<MlKem512>(ek)
                .encapsulate_deterministic(&m)
                .map_err(failed)?;
            (c.to_vec(), secret(s))
        }
        DhGroup::ML_KEM_768 => {
            let (c, s) = ek_of::<MlKem768>(ek)
                .encapsulate_deterministic(&m)
                .map_err(failed)?;
            (c.to_vec(), secret(s))
        }
        DhGroup::ML_KEM_1024 => {
            let (c, s) = ek_of::<MlKem1024>(ek)
                .encapsulate_deterministic(&m)
                .map_err(failed)?;
            (c.to_vec(), secret(s))
        }
        _ => return Err(DhError::UnsupportedGroup(method)),
    };
    Ok((ct, ss))
}

/// FIPS 203 `ML-KEM.Decaps(dk, c)` with an encoded decapsulation key, for
/// known-answer tests.
pub fn decapsulate_with(method: DhGroup, dk: &[u8], c: &[u8]) -> Result<SecretBytes, DhError> {
    let (k, ek_len, ct_len) = sizes(method).ok_or(DhError::UnsupportedGroup(method))?;
    // dk = dk_PKE (384·k) || ek || H(ek) || z (FIPS 203 algorithm 16).
    let dk_len = 384 * k + ek_len + 64;
    let invalid = |expected, actual| DhError::InvalidPublicValue {
        group: method,
        reason: InvalidPublicValue::Length { expected, actual },
    };
    if dk.len() != dk_len {
        return Err(invalid(dk_len, dk.len()));
    }
    if c.len() != ct_len {
        return Err(invalid(ct_len, c.len()));
    }
    let failed = |_| DhError::InvalidPublicValue {
        group: method,
        reason: InvalidPublicValue::OutOfRange,
    };
    Ok(match method {
        DhGroup::ML_KEM_512 => secret(
            dk_of::<MlKem512>(dk)
                .decapsulate(&ct::<MlKem512>(c))
                .map_err(failed)?,
        ),
        DhGroup::ML_KEM_768 => secret(
            dk_of::<MlKem768>(dk)
                .decapsulate(&ct::<MlKem768>(c))
                .map_err(failed)?,
        ),
        DhGroup::ML_KEM_1024 => secret(
            dk_of::<MlKem1024>(dk)
                .decapsulate(&ct::<MlKem1024>(c))
                .map_err(failed)?,
        ),
        _ => return Err(DhError::UnsupportedGroup(method)),
    })
}

/// The encapsulation key of `K` from checked bytes.
fn ek_of<K: KemCore>(bytes: &[u8]) -> K::EncapsulationKey {
    let mut enc = ml_kem::Encoded::<K::EncapsulationKey>::default();
    enc.copy_from_slice(bytes);
    K::EncapsulationKey::from_bytes(&enc)
}

/// The decapsulation key of `K` from bytes of the right length (the copy wiped).
fn dk_of<K: KemCore>(bytes: &[u8]) -> K::DecapsulationKey {
    let mut enc = ml_kem::Encoded::<K::DecapsulationKey>::default();
    enc.copy_from_slice(bytes);
    let dk = K::DecapsulationKey::from_bytes(&enc);
    enc.as_mut_slice().zeroize();
    dk
}

/// A shared key into [`SecretBytes`], the crate's copy wiped (its arrays do not
/// zeroize themselves).
fn secret(mut key: impl AsMut<[u8]>) -> SecretBytes {
    let s = SecretBytes::from_slice(key.as_mut());
    key.as_mut().zeroize();
    s
}
