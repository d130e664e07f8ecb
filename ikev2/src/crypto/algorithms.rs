//! The algorithms ikev2d implements, as closed enums with their sizes.
//!
//! The wire registries ([`crate::wire::EncrId`] ...) are open: they hold any value a
//! peer may send. These enums are the subset we can actually run, so code that holds
//! one never needs an "unsupported" branch.

use crate::wire::{DhGroup, EncrId, IntegId, PrfId};

/// An encryption transform (transform type 1) we implement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EncrAlgorithm {
    /// AES-CBC (RFC 3602); needs a separate integrity algorithm.
    AesCbc { key_bits: u16 },
    /// AES-GCM (RFC 4106 for ESP, RFC 5282 for IKE) with an ICV of 8, 12 or 16 octets.
    AesGcm { key_bits: u16, icv_len: u8 },
    /// ChaCha20-Poly1305 (RFC 7634): 256-bit key, 16-octet ICV.
    ChaCha20Poly1305,
}

impl EncrAlgorithm {
    /// Map a transform ID and its KEY_LENGTH attribute (in bits) to an algorithm.
    /// AES requires a key length of 128, 192 or 256; ChaCha20-Poly1305 must have none.
    pub fn from_transform(id: EncrId, key_length: Option<u16>) -> Option<Self> {
        let aes_bits = |k: Option<u16>| match k {
            Some(b @ (128 | 192 | 256)) => Some(b),
            _ => None,
        };
        match id {
            EncrId::AES_CBC => aes_bits(key_length).map(|key_bits| Self::AesCbc { key_bits }),
            EncrId::AES_GCM_8 => aes_bits(key_length).map(|key_bits| Self::AesGcm {
                key_bits,
                icv_len: 8,
            }),
            EncrId::AES_GCM_12 => aes_bits(key_length).map(|key_bits| Self::AesGcm {
                key_bits,
                icv_len: 12,
            }),
            EncrId::AES_GCM_16 => aes_bits(key_length).map(|key_bits| Self::AesGcm {
                key_bits,
                icv_len: 16,
            }),
            EncrId::CHACHA20_POLY1305 if key_length.is_none() => Some(Self::ChaCha20Poly1305),
            _ => None,
        }
    }

    /// The transform ID and KEY_LENGTH attribute (bits) this algorithm is sent as.
    pub fn to_transform(self) -> (EncrId, Option<u16>) {
        match self {
            Self::AesCbc { key_bits } => (EncrId::AES_CBC, Some(key_bits)),
            Self::AesGcm {
                key_bits,
                icv_len: 8,
            } => (EncrId::AES_GCM_8, Some(key_bits)),
            Self::AesGcm {
                key_bits,
                icv_len: 12,
            } => (EncrId::AES_GCM_12, Some(key_bits)),
            Self::AesGcm { key_bits, .. } => (EncrId::AES_GCM_16, Some(key_bits)),
            Self::ChaCha20Poly1305 => (EncrId::CHACHA20_POLY1305, None),
        }
    }

    /// Combined-mode (AEAD) ciphers need no integrity transform.
    pub fn is_aead(self) -> bool {
        !matches!(self, Self::AesCbc { .. })
    }

    /// Octets of keying material taken from prf+ / KEYMAT: the cipher key plus, for
    /// AEADs, the 4-octet salt (RFC 4106 section 8.1, RFC 5282 section 7.1, RFC 7634 section 2).
    pub fn keymat_len(self) -> usize {
        match self {
            Self::AesCbc { key_bits } => usize::from(key_bits / 8),
            Self::AesGcm { key_bits, .. } => usize::from(key_bits / 8) + 4,
            Self::ChaCha20Poly1305 => 32 + 4,
        }
    }

    /// Octets of the explicit IV carried in each packet.
    pub fn iv_len(self) -> usize {
        match self {
            Self::AesCbc { .. } => 16,
            Self::AesGcm { .. } | Self::ChaCha20Poly1305 => 8,
        }
    }

    /// Block size the plaintext is padded to (1 for stream-like AEADs; ESP still pads to
    /// 4-octet alignment on its own).
    pub fn block_len(self) -> usize {
        match self {
            Self::AesCbc { .. } => 16,
            Self::AesGcm { .. } | Self::ChaCha20Poly1305 => 1,
        }
    }

    /// Octets of the AEAD tag (0 for non-AEAD ciphers).
    pub fn icv_len(self) -> usize {
        match self {
            Self::AesCbc { .. } => 0,
            Self::AesGcm { icv_len, .. } => usize::from(icv_len),
            Self::ChaCha20Poly1305 => 16,
        }
    }

    /// Key strength in bits (used by lints comparing IKE and ESP strength).
    pub fn strength_bits(self) -> u16 {
        match self {
            Self::AesCbc { key_bits } | Self::AesGcm { key_bits, .. } => key_bits,
            Self::ChaCha20Poly1305 => 256,
        }
    }
}

/// An integrity transform (transform type 3) we implement: HMAC truncated per RFC 4868.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IntegAlgorithm {
    /// HMAC-SHA1-96 (RFC 2404), only for legacy peers.
    HmacSha1_96,
    HmacSha256_128,
    HmacSha384_192,
    HmacSha512_256,
}

impl IntegAlgorithm {
    pub fn from_id(id: IntegId) -> Option<Self> {
        match id {
            IntegId::HMAC_SHA1_96 => Some(Self::HmacSha1_96),
            IntegId::HMAC_SHA2_256_128 => Some(Self::HmacSha256_128),
            IntegId::HMAC_SHA2_384_192 => Some(Self::HmacSha384_192),
            IntegId::HMAC_SHA2_512_256 => Some(Self::HmacSha512_256),
            _ => None,
        }
    }

    pub fn id(self) -> IntegId {
        match self {
            Self::HmacSha1_96 => IntegId::HMAC_SHA1_96,
            Self::HmacSha256_128 => IntegId::HMAC_SHA2_256_128,
            Self::HmacSha384_192 => IntegId::HMAC_SHA2_384_192,
            Self::HmacSha512_256 => IntegId::HMAC_SHA2_512_256,
        }
    }

    /// Key length in octets (the full hash output, RFC 4868 section 2.1.1).
    pub fn key_len(self) -> usize {
        match self {
            Self::HmacSha1_96 => 20,
            Self::HmacSha256_128 => 32,
            Self::HmacSha384_192 => 48,
            Self::HmacSha512_256 => 64,
        }
    }

    /// Length of the truncated ICV in octets.
    pub fn icv_len(self) -> usize {
        match self {
            Self::HmacSha1_96 => 12,
            Self::HmacSha256_128 => 16,
            Self::HmacSha384_192 => 24,
            Self::HmacSha512_256 => 32,
        }
    }
}

/// A pseudo-random function (transform type 2) we implement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PrfAlgorithm {
    HmacSha1,
    HmacSha256,
    HmacSha384,
    HmacSha512,
}

impl PrfAlgorithm {
    pub fn from_id(id: PrfId) -> Option<Self> {
        match id {
            PrfId::HMAC_SHA1 => Some(Self::HmacSha1),
            PrfId::HMAC_SHA2_256 => Some(Self::HmacSha256),
            PrfId::HMAC_SHA2_384 => Some(Self::HmacSha384),
            PrfId::HMAC_SHA2_512 => Some(Self::HmacSha512),
            _ => None,
        }
    }

    pub fn id(self) -> PrfId {
        match self {
            Self::HmacSha1 => PrfId::HMAC_SHA1,
            Self::HmacSha256 => PrfId::HMAC_SHA2_256,
            Self::HmacSha384 => PrfId::HMAC_SHA2_384,
            Self::HmacSha512 => PrfId::HMAC_SHA2_512,
        }
    }

    /// Output length in octets; also the preferred key length (RFC 7296 section 2.13)
    /// used for SK_d, SK_pi and SK_pr.
    pub fn output_len(self) -> usize {
        match self {
            Self::HmacSha1 => 20,
            Self::HmacSha256 => 32,
            Self::HmacSha384 => 48,
            Self::HmacSha512 => 64,
        }
    }
}

/// A key exchange method we implement (transform type 4): a Diffie-Hellman group or
/// an ML-KEM parameter set.
pub fn dh_supported(group: DhGroup) -> bool {
    // One list per kind: the ones the key-exchange code implements.
    super::dh::SUPPORTED_GROUPS.contains(&group) || super::kem::is_ml_kem(group)
}

/// The algorithms of an IKE SA, once negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IkeSuite {
    pub encr: EncrAlgorithm,
    /// `None` exactly when `encr` is an AEAD.
    pub integ: Option<IntegAlgorithm>,
    pub prf: PrfAlgorithm,
    pub dh: DhGroup,
    /// The additional key exchanges ADDKE1..ADDKE7 (RFC 9370), [`DhGroup::NONE`]
    /// where there is none.
    pub addke: [DhGroup; 7],
}

impl IkeSuite {
    /// No additional key exchanges.
    pub const NO_ADDKE: [DhGroup; 7] = [DhGroup::NONE; 7];

    /// The additional key exchanges that take place, in order: (1..=7, method).
    pub fn additional(&self) -> impl Iterator<Item = (u8, DhGroup)> + '_ {
        (1u8..).zip(self.addke).filter(|(_, m)| *m != DhGroup::NONE)
    }
}

/// The algorithms of an ESP CHILD SA, once negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EspSuite {
    pub encr: EncrAlgorithm,
    /// `None` exactly when `encr` is an AEAD.
    pub integ: Option<IntegAlgorithm>,
    /// The PFS group for CREATE_CHILD_SA, if the proposal has one.
    pub dh: Option<DhGroup>,
    /// The additional key exchanges ADDKE1..ADDKE7 (RFC 9370) of CREATE_CHILD_SA,
    /// [`DhGroup::NONE`] where there is none. They run only with a PFS group.
    pub addke: [DhGroup; 7],
    pub esn: bool,
}

impl EspSuite {
    /// No additional key exchanges.
    pub const NO_ADDKE: [DhGroup; 7] = [DhGroup::NONE; 7];

    /// The additional key exchanges that take place after CREATE_CHILD_SA, in order:
    /// (1..=7, method). None without a PFS group: as strongSwan, additional exchanges
    /// follow the first one and are ignored where there is none.
    pub fn additional(&self) -> impl Iterator<Item = (u8, DhGroup)> + '_ {
        let addke = if self.dh.is_some() {
            self.addke
        } else {
            Self::NO_ADDKE
        };
        (1u8..).zip(addke).filter(|(_, m)| *m != DhGroup::NONE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encr_transform_round_trip() {
        for alg in [
            EncrAlgorithm::AesCbc { key_bits: 128 },
            EncrAlgorithm::AesCbc { key_bits: 256 },
            EncrAlgorithm::AesGcm {
                key_bits: 128,
                icv_len: 16,
            },
            EncrAlgorithm::AesGcm {
                key_bits: 256,
                icv_len: 8,
            },
            EncrAlgorithm::AesGcm {
                key_bits: 192,
                icv_len: 12,
            },
            EncrAlgorithm::ChaCha20Poly1305,
        ] {
            let (id, kl) = alg.to_transform();
            assert_eq!(EncrAlgorithm::from_transform(id, kl), Some(alg));
        }
    }

    #[test]
    fn aes_needs_a_valid_key_length() {
        assert_eq!(EncrAlgorithm::from_transform(EncrId::AES_CBC, None), None);
        assert_eq!(
            EncrAlgorithm::from_transform(EncrId::AES_CBC, Some(100)),
            None
        );
        assert_eq!(
            EncrAlgorithm::from_transform(EncrId::CHACHA20_POLY1305, Some(256)),
            None
        );
    }

    #[test]
    fn keymat_includes_salt_for_aead() {
        assert_eq!(
            EncrAlgorithm::AesGcm {
                key_bits: 256,
                icv_len: 16
            }
            .keymat_len(),
            36
        );
        assert_eq!(EncrAlgorithm::ChaCha20Poly1305.keymat_len(), 36);
        assert_eq!(EncrAlgorithm::AesCbc { key_bits: 128 }.keymat_len(), 16);
    }
}
