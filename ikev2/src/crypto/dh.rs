//! Diffie-Hellman key exchange for IKEv2 (RFC 7296 sections 1.2, 2.14, 3.4).
//!
//! | group | what | crate | KE data | g^ir |
//! |---|---|---|---|---|
//! | 14, 15, 16 | MODP 2048/3072/4096 (RFC 3526), g = 2 | `crypto-bigint` (constant-time Montgomery `pow`) | y, big-endian, left-padded to the prime length | same encoding |
//! | 19, 20, 21 | ECP P-256/P-384/P-521 (RFC 5903) | `p256`, `p384`, `p521` | x \| y, each left-padded to the field length, no 0x04 prefix (RFC 5903 section 7) | x only |
//! | 31 | Curve25519 (RFC 8031) | `x25519-dalek` | 32-octet u-coordinate | 32 octets |
//!
//! A [`DhPrivate`] is one side's ephemeral private value together with its public value.
//! Peer public values are checked before use (RFC 6989): exact length for the group;
//! MODP 1 < y < p-1; ECP a point on the curve (the identity has no x | y encoding);
//! Curve25519 an all-zero shared secret (a low-order point) is refused (RFC 8031
//! section 2.3). Private values zeroize on drop and `Debug` shows only the group.
//!
//! MODP private exponents are [`modp_exponent_bits`] long: twice the group's security
//! strength (NIST SP 800-56A rev. 3 section 5.6.1.1.4), rounded up to a whole 64-bit
//! limb. See `docs/crypto-dh.md` for the reasoning and the measurements.
//!
//! Not done here: choosing a group, KE payload framing (see [`crate::wire`]), and
//! randomness: the caller passes a `CryptoRng`.

use std::sync::LazyLock;

use crypto_bigint::modular::runtime_mod::{DynResidue, DynResidueParams};
use crypto_bigint::subtle::ConstantTimeEq;
use crypto_bigint::{Limb, U2048, U3072, U4096, Uint};
use p256::elliptic_curve::generic_array::typenum::Unsigned;
use p256::elliptic_curve::sec1::{FromEncodedPoint, ModulusSize, ToEncodedPoint};
use p256::elliptic_curve::{AffinePoint, CurveArithmetic, FieldBytesSize, PublicKey, SecretKey};
use rand_core::{CryptoRng, RngCore};
use zeroize::{Zeroize, Zeroizing};

use super::secret::SecretBytes;
use crate::wire::DhGroup;

/// Why a key exchange failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DhError {
    /// We do not implement this group (see [`super::algorithms::dh_supported`]).
    #[error("key exchange method {0} is not supported")]
    UnsupportedGroup(DhGroup),
    /// The peer's KE data is not a valid public value of the group.
    #[error("invalid {group} public value: {reason}")]
    InvalidPublicValue {
        group: DhGroup,
        reason: InvalidPublicValue,
    },
    /// A private value given to [`DhPrivate::from_bytes`] is not usable.
    #[error("invalid {group} private value: {reason}")]
    InvalidPrivateValue {
        group: DhGroup,
        reason: &'static str,
    },
}

/// What is wrong with a peer's public value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidPublicValue {
    #[error("{actual} octets, the group needs {expected}")]
    Length { expected: usize, actual: usize },
    /// MODP: y is 0, 1, p-1 or not below p.
    #[error("not in the range 1 < y < p-1")]
    OutOfRange,
    /// ECP: x | y is not an affine point on the curve (or a coordinate is not below p).
    #[error("not a point on the curve")]
    NotOnCurve,
    /// Curve25519: the shared secret is all zero, so the peer sent a low-order point.
    #[error("low-order point (all-zero shared secret)")]
    LowOrder,
}

/// One side's ephemeral Diffie-Hellman private value and its public value.
pub struct DhPrivate {
    group: DhGroup,
    public: Vec<u8>,
    key: Key,
}

enum Key {
    Modp2048(ModpKey<{ U2048::LIMBS }>),
    Modp3072(ModpKey<{ U3072::LIMBS }>),
    Modp4096(ModpKey<{ U4096::LIMBS }>),
    P256(SecretKey<p256::NistP256>),
    P384(SecretKey<p384::NistP384>),
    P521(SecretKey<p521::NistP521>),
    X25519(x25519_dalek::StaticSecret),
}

impl DhPrivate {
    /// A fresh private value for `group`.
    pub fn generate(
        group: DhGroup,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<DhPrivate, DhError> {
        let key = match group {
            DhGroup::MODP_2048 => Key::Modp2048(ModpKey::generate(&MODP_2048, rng)),
            DhGroup::MODP_3072 => Key::Modp3072(ModpKey::generate(&MODP_3072, rng)),
            DhGroup::MODP_4096 => Key::Modp4096(ModpKey::generate(&MODP_4096, rng)),
            DhGroup::ECP_256 => Key::P256(SecretKey::random(rng)),
            DhGroup::ECP_384 => Key::P384(SecretKey::random(rng)),
            DhGroup::ECP_521 => Key::P521(SecretKey::random(rng)),
            DhGroup::CURVE25519 => {
                Key::X25519(x25519_dalek::StaticSecret::random_from_rng(&mut *rng))
            }
            _ => return Err(DhError::UnsupportedGroup(group)),
        };
        Ok(Self::with_key(group, key))
    }

    /// A private value given as bytes, for known-answer tests and load generators.
    ///
    /// - MODP: the exponent, big-endian, 1 to prime-length octets, not zero. The
    ///   exponentiation runs over `8 * private.len()` bits, so its time depends on the
    ///   length of `private` but not on its value.
    /// - ECP: the scalar, big-endian, at most the field length (shorter input is
    ///   left-padded), in 1..n-1.
    /// - Curve25519: the 32-octet scalar before clamping (RFC 7748 section 5).
    pub fn from_bytes(group: DhGroup, private: &[u8]) -> Result<DhPrivate, DhError> {
        let key = match group {
            DhGroup::MODP_2048 => Key::Modp2048(ModpKey::from_exponent(&MODP_2048, private)?),
            DhGroup::MODP_3072 => Key::Modp3072(ModpKey::from_exponent(&MODP_3072, private)?),
            DhGroup::MODP_4096 => Key::Modp4096(ModpKey::from_exponent(&MODP_4096, private)?),
            DhGroup::ECP_256 => Key::P256(ecp_secret(group, private)?),
            DhGroup::ECP_384 => Key::P384(ecp_secret(group, private)?),
            DhGroup::ECP_521 => Key::P521(ecp_secret(group, private)?),
            DhGroup::CURVE25519 => {
                let mut scalar: [u8; 32] =
                    private
                        .try_into()
                        .map_err(|_| DhError::InvalidPrivateValue {
                            group,
                            reason: "a Curve25519 scalar is 32 octets",
                        })?;
                let secret = x25519_dalek::StaticSecret::from(scalar);
                scalar.zeroize();
                Key::X25519(secret)
            }
            _ => return Err(DhError::UnsupportedGroup(group)),
        };
        Ok(Self::with_key(group, key))
    }

    fn with_key(group: DhGroup, key: Key) -> Self {
        let public = match &key {
            Key::Modp2048(k) => k.public_value(),
            Key::Modp3072(k) => k.public_value(),
            Key::Modp4096(k) => k.public_value(),
            Key::P256(k) => ecp_public(k),
            Key::P384(k) => ecp_public(k),
            Key::P521(k) => ecp_public(k),
            Key::X25519(k) => x25519_dalek::PublicKey::from(k).as_bytes().to_vec(),
        };
        Self { group, public, key }
    }

    pub fn group(&self) -> DhGroup {
        self.group
    }

    /// Our public value as carried in the KE payload's Key Exchange Data.
    pub fn public_value(&self) -> &[u8] {
        &self.public
    }

    /// g^ir from the peer's KE data, after validating it. MODP: left-padded to the prime
    /// length; ECP: the x coordinate; Curve25519: 32 octets.
    pub fn shared_secret(&self, peer_public: &[u8]) -> Result<SecretBytes, DhError> {
        let group = self.group;
        let invalid = |reason| DhError::InvalidPublicValue { group, reason };
        match &self.key {
            Key::Modp2048(k) => k.shared_secret(peer_public).map_err(invalid),
            Key::Modp3072(k) => k.shared_secret(peer_public).map_err(invalid),
            Key::Modp4096(k) => k.shared_secret(peer_public).map_err(invalid),
            Key::P256(k) => ecp_shared_secret(k, peer_public).map_err(invalid),
            Key::P384(k) => ecp_shared_secret(k, peer_public).map_err(invalid),
            Key::P521(k) => ecp_shared_secret(k, peer_public).map_err(invalid),
            Key::X25519(k) => x25519_shared_secret(k, peer_public).map_err(invalid),
        }
    }
}

impl std::fmt::Debug for DhPrivate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DhPrivate")
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

/// The groups this module implements, in IANA order (the same set as
/// [`super::algorithms::dh_supported`]).
pub const SUPPORTED_GROUPS: [DhGroup; 7] = [
    DhGroup::MODP_2048,
    DhGroup::MODP_3072,
    DhGroup::MODP_4096,
    DhGroup::ECP_256,
    DhGroup::ECP_384,
    DhGroup::ECP_521,
    DhGroup::CURVE25519,
];

/// Octets of Key Exchange Data (and of a public value) for a group we implement.
pub fn public_value_len(group: DhGroup) -> Option<usize> {
    Some(match group {
        DhGroup::MODP_2048 => U2048::BYTES,
        DhGroup::MODP_3072 => U3072::BYTES,
        DhGroup::MODP_4096 => U4096::BYTES,
        DhGroup::ECP_256 => 2 * 32,
        DhGroup::ECP_384 => 2 * 48,
        DhGroup::ECP_521 => 2 * 66,
        DhGroup::CURVE25519 => 32,
        _ => return None,
    })
}

/// Bits of a MODP private exponent made by [`DhPrivate::generate`].
pub fn modp_exponent_bits(group: DhGroup) -> Option<usize> {
    Some(match group {
        DhGroup::MODP_2048 => MODP_2048.exponent_bits,
        DhGroup::MODP_3072 => MODP_3072.exponent_bits,
        DhGroup::MODP_4096 => MODP_4096.exponent_bits,
        _ => return None,
    })
}

/// The prime of a MODP group, big-endian (RFC 3526).
pub fn modp_prime(group: DhGroup) -> Option<Vec<u8>> {
    Some(match group {
        DhGroup::MODP_2048 => to_be_bytes(MODP_2048.params.modulus()),
        DhGroup::MODP_3072 => to_be_bytes(MODP_3072.params.modulus()),
        DhGroup::MODP_4096 => to_be_bytes(MODP_4096.params.modulus()),
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------
// MODP (RFC 3526) with crypto-bigint

/// A MODP group: its Montgomery parameters and the length of the exponents we make.
struct ModpGroup<const L: usize> {
    id: DhGroup,
    params: DynResidueParams<L>,
    p_minus_1: Uint<L>,
    exponent_bits: usize,
}

impl<const L: usize> ModpGroup<L> {
    fn new(id: DhGroup, prime_hex: &str, exponent_bits: usize) -> Self {
        let p = Uint::<L>::from_be_hex(prime_hex);
        Self {
            id,
            // The RFC 3526 primes are odd, so this cannot panic.
            params: DynResidueParams::new(&p),
            p_minus_1: p.wrapping_sub(&Uint::ONE),
            exponent_bits,
        }
    }
}

// Exponent lengths: 2 x security strength (SP 800-56A rev. 3 section 5.6.1.1.4: 112, 128
// and 152 bits for MODP-2048/3072/4096), rounded up to a multiple of 64 bits.
static MODP_2048: LazyLock<ModpGroup<{ U2048::LIMBS }>> =
    LazyLock::new(|| ModpGroup::new(DhGroup::MODP_2048, MODP_2048_PRIME, 256));
static MODP_3072: LazyLock<ModpGroup<{ U3072::LIMBS }>> =
    LazyLock::new(|| ModpGroup::new(DhGroup::MODP_3072, MODP_3072_PRIME, 256));
static MODP_4096: LazyLock<ModpGroup<{ U4096::LIMBS }>> =
    LazyLock::new(|| ModpGroup::new(DhGroup::MODP_4096, MODP_4096_PRIME, 320));

/// A MODP private exponent x. `x_bits` is public (the exponent's length, not its value):
/// the exponentiation's running time depends only on it.
struct ModpKey<const L: usize> {
    group: &'static ModpGroup<L>,
    x: Uint<L>,
    x_bits: usize,
}

impl<const L: usize> ModpKey<L> {
    fn generate(group: &'static ModpGroup<L>, rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let mut bytes = Zeroizing::new(vec![0u8; group.exponent_bits.div_ceil(8)]);
        loop {
            rng.fill_bytes(&mut bytes);
            // Zero has probability 2^-256 or less; draw again rather than bias.
            if let Ok(key) = Self::from_exponent(group, &bytes) {
                return key;
            }
        }
    }

    fn from_exponent(group: &'static ModpGroup<L>, x: &[u8]) -> Result<Self, DhError> {
        if x.is_empty() || x.len() > Uint::<L>::BYTES {
            return Err(DhError::InvalidPrivateValue {
                group: group.id,
                reason: "a MODP exponent is 1 to prime-length octets",
            });
        }
        let mut padded = Zeroizing::new(vec![0u8; Uint::<L>::BYTES]);
        padded[Uint::<L>::BYTES - x.len()..].copy_from_slice(x);
        let key = Self {
            group,
            x: Uint::from_be_slice(&padded),
            x_bits: 8 * x.len(),
        };
        if bool::from(key.x.ct_eq(&Uint::ZERO)) {
            return Err(DhError::InvalidPrivateValue {
                group: group.id,
                reason: "the exponent is zero",
            });
        }
        Ok(key)
    }

    fn public_value(&self) -> Vec<u8> {
        self.pow(&Uint::from_u8(2))
    }

    fn shared_secret(&self, peer: &[u8]) -> Result<SecretBytes, InvalidPublicValue> {
        if peer.len() != Uint::<L>::BYTES {
            return Err(InvalidPublicValue::Length {
                expected: Uint::<L>::BYTES,
                actual: peer.len(),
            });
        }
        // RFC 6989 section 2.2: for safe primes, 1 < y < p-1 leaves only subgroups of
        // order q and 2q, so at most the lowest bit of our exponent could leak.
        let y = Uint::<L>::from_be_slice(peer);
        if y <= Uint::ONE || y >= self.group.p_minus_1 {
            return Err(InvalidPublicValue::OutOfRange);
        }
        Ok(SecretBytes::new(self.pow(&y)))
    }

    /// base^x mod p, big-endian, prime-length. Constant time in x for a given `x_bits`.
    fn pow(&self, base: &Uint<L>) -> Vec<u8> {
        let mut r = DynResidue::new(base, self.group.params).pow_bounded_exp(&self.x, self.x_bits);
        let mut z = r.retrieve();
        let out = to_be_bytes(&z);
        r.zeroize();
        z.zeroize();
        out
    }
}

impl<const L: usize> Drop for ModpKey<L> {
    fn drop(&mut self) {
        self.x.zeroize();
    }
}

/// Big-endian bytes of a `Uint`, `Uint::<L>::BYTES` long.
fn to_be_bytes<const L: usize>(x: &Uint<L>) -> Vec<u8> {
    let mut out = Vec::with_capacity(Uint::<L>::BYTES);
    for word in x.as_words().iter().rev() {
        out.extend_from_slice(&word.to_be_bytes());
    }
    debug_assert_eq!(out.len(), L * Limb::BYTES);
    out
}

// ---------------------------------------------------------------------------------------
// ECP (RFC 5903) with the RustCrypto NIST curves

fn ecp_secret<C>(group: DhGroup, private: &[u8]) -> Result<SecretKey<C>, DhError>
where
    C: CurveArithmetic,
{
    let field = FieldBytesSize::<C>::USIZE;
    if private.is_empty() || private.len() > field {
        return Err(DhError::InvalidPrivateValue {
            group,
            reason: "an ECP scalar is 1 to field-length octets",
        });
    }
    let mut padded = Zeroizing::new(vec![0u8; field]);
    padded[field - private.len()..].copy_from_slice(private);
    SecretKey::from_slice(&padded).map_err(|_| DhError::InvalidPrivateValue {
        group,
        reason: "the scalar is zero or not below the group order",
    })
}

/// x | y, each left-padded to the field length (RFC 5903 section 7).
fn ecp_public<C>(key: &SecretKey<C>) -> Vec<u8>
where
    C: CurveArithmetic,
    AffinePoint<C>: FromEncodedPoint<C> + ToEncodedPoint<C>,
    FieldBytesSize<C>: ModulusSize,
{
    let point = key.public_key().to_encoded_point(false);
    // Uncompressed SEC1 is 0x04 | x | y; a public key is never the identity.
    point.as_bytes()[1..].to_vec()
}

fn ecp_shared_secret<C>(key: &SecretKey<C>, peer: &[u8]) -> Result<SecretBytes, InvalidPublicValue>
where
    C: CurveArithmetic,
    AffinePoint<C>: FromEncodedPoint<C> + ToEncodedPoint<C>,
    FieldBytesSize<C>: ModulusSize,
{
    let expected = 2 * FieldBytesSize::<C>::USIZE;
    if peer.len() != expected {
        return Err(InvalidPublicValue::Length {
            expected,
            actual: peer.len(),
        });
    }
    let mut sec1 = Vec::with_capacity(1 + expected);
    sec1.push(0x04);
    sec1.extend_from_slice(peer);
    // Checks that both coordinates are field elements and y^2 = x^3 + ax + b.
    let peer =
        PublicKey::<C>::from_sec1_bytes(&sec1).map_err(|_| InvalidPublicValue::NotOnCurve)?;
    let mut scalar = key.to_nonzero_scalar();
    // By reference: the scalar is `Copy`, and a by-value copy would not be wiped.
    #[allow(clippy::needless_borrows_for_generic_args)]
    let shared = p256::elliptic_curve::ecdh::diffie_hellman(&scalar, peer.as_affine());
    scalar.zeroize();
    Ok(SecretBytes::from_slice(shared.raw_secret_bytes()))
}

// ---------------------------------------------------------------------------------------
// Curve25519 (RFC 8031)

fn x25519_shared_secret(
    key: &x25519_dalek::StaticSecret,
    peer: &[u8],
) -> Result<SecretBytes, InvalidPublicValue> {
    let peer: [u8; 32] = peer.try_into().map_err(|_| InvalidPublicValue::Length {
        expected: 32,
        actual: peer.len(),
    })?;
    let shared = key.diffie_hellman(&x25519_dalek::PublicKey::from(peer));
    // RFC 8031 section 2.3: MUST check for the all-zero value (constant-time check).
    if !shared.was_contributory() {
        return Err(InvalidPublicValue::LowOrder);
    }
    Ok(SecretBytes::from_slice(shared.as_bytes()))
}

/// RFC 3526 section 3 prime (group 14), 2048 bits.
const MODP_2048_PRIME: &str = "\
    FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74\
    020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437\
    4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED\
    EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05\
    98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB\
    9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B\
    E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718\
    3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF";

/// RFC 3526 section 4 prime (group 15), 3072 bits.
const MODP_3072_PRIME: &str = "\
    FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74\
    020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437\
    4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED\
    EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05\
    98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB\
    9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B\
    E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718\
    3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33\
    A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7\
    ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864\
    D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2\
    08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF";

/// RFC 3526 section 5 prime (group 16), 4096 bits.
const MODP_4096_PRIME: &str = "\
    FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74\
    020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437\
    4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED\
    EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05\
    98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB\
    9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B\
    E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718\
    3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33\
    A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7\
    ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864\
    D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2\
    08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D7\
    88719A10BDBA5B2699C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8\
    DBBBC2DB04DE8EF92E8EFC141FBECAA6287C59474E6BC05D99B2964FA090C3A2\
    233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA9\
    93B4EA988D8FDDC186FFB7DC90A6C08F4DF435C934063199FFFFFFFFFFFFFFFF";

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn public_values_have_the_group_length() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        for group in SUPPORTED_GROUPS {
            let key = DhPrivate::generate(group, &mut rng).expect("supported");
            assert_eq!(
                Some(key.public_value().len()),
                public_value_len(group),
                "{group}"
            );
            assert_eq!(key.group(), group);
        }
    }

    #[test]
    fn generated_modp_exponents_have_the_documented_length() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let key = ModpKey::generate(&MODP_2048, &mut rng);
        assert_eq!(key.x_bits, 256);
        assert!(key.x.bits() <= 256);
        assert_eq!(modp_exponent_bits(DhGroup::MODP_3072), Some(256));
        assert_eq!(modp_exponent_bits(DhGroup::MODP_4096), Some(320));
        assert_eq!(modp_exponent_bits(DhGroup::ECP_256), None);
    }

    /// algorithms.rs decides what we negotiate; this module (and `kem` for ML-KEM)
    /// what we can compute.
    #[test]
    fn supported_groups_agree_with_negotiation() {
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        for n in 0..=u16::from(u8::MAX) {
            let group = DhGroup(n);
            let here = SUPPORTED_GROUPS.contains(&group);
            let kem = crate::crypto::kem::is_ml_kem(group);
            assert!(!(here && kem), "{group}");
            assert_eq!(
                here || kem,
                crate::crypto::algorithms::dh_supported(group),
                "{group}"
            );
            let ke = crate::crypto::ke::KeInitiator::start(group, &mut rng).map(|k| k.method());
            assert_eq!(ke.ok(), (here || kem).then_some(group), "{group}");
            assert_eq!(here, public_value_len(group).is_some(), "{group}");
            if !here {
                assert_eq!(
                    DhPrivate::generate(group, &mut rng).map(|_| ()),
                    Err(DhError::UnsupportedGroup(group))
                );
            }
        }
    }

    #[test]
    fn unsupported_groups_are_refused() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        for group in [DhGroup::MODP_1024, DhGroup::CURVE448, DhGroup(0xffff)] {
            assert_eq!(
                DhPrivate::generate(group, &mut rng).map(|_| ()),
                Err(DhError::UnsupportedGroup(group))
            );
            assert_eq!(
                DhPrivate::from_bytes(group, &[1; 32]).map(|_| ()),
                Err(DhError::UnsupportedGroup(group))
            );
            assert_eq!(public_value_len(group), None);
        }
    }

    #[test]
    fn to_be_bytes_is_big_endian() {
        let x = U2048::from_u64(0x0102_0304_0506_0708);
        let bytes = to_be_bytes(&x);
        assert_eq!(bytes.len(), 256);
        assert_eq!(&bytes[248..], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert!(bytes[..248].iter().all(|&b| b == 0));
    }
}
