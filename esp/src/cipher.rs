//! ESP transforms: the AEADs behind one small trait ([`EspAead`]) with the backend
//! chosen by benchmark, and AES-CBC + HMAC-SHA2 (encrypt-then-MAC, RFC 4303 section
//! 3.3.2). [`EspCipher`] applies either to a whole ESP packet in place.
//!
//! Backends, chosen by benchmark (numbers in docs/esp-dataplane.md):
//! - **aws-lc-rs** (default; cargo feature `aws-lc`, on by default): AES-GCM-16 with
//!   128/256-bit keys and ChaCha20-Poly1305.
//! - **ring**: the same algorithms; the default when built without `aws-lc`.
//! - **RustCrypto** (through `ikev2::crypto::cipher::AeadCipher`): AES-GCM with a
//!   192-bit key or an 8/12-octet ICV, which the other two lack; also selectable for
//!   all AEADs to compare.
//! - AES-CBC is RustCrypto `aes` + `cbc` (ring has no CBC; `aes` picks AES-NI at run
//!   time), its HMAC RustCrypto `hmac` + `sha2` (faster than ring's here).
//!
//! Every tag and ICV comparison is constant time, and no plaintext is released before
//! it succeeded (ring and aws-lc-rs verify the tag of an AEAD before returning the
//! plaintext; CBC is decrypted only after the HMAC matched).
//!
//! Key hygiene: key bytes handed in are [`SecretBytes`] (zeroized by their owner); the
//! salt, the CBC key schedules (`aes` with `zeroize`), the IV key and aws-lc-rs's keys
//! are wiped on drop. Not wiped: ring's expanded keys (ring does not zeroize) and the
//! precomputed HMAC states (`hmac` 0.12 has no zeroize support). No `Debug` here
//! prints key material.

use aes::cipher::{BlockEncrypt, KeyInit};
use aes::{Aes128, Aes192, Aes256};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, InnerIvInit};
use hmac::{Hmac, Mac};
use ikev2::crypto::algorithms::{EncrAlgorithm, IntegAlgorithm};
use ikev2::crypto::cipher::AeadCipher;
use ikev2::crypto::secret::SecretBytes;
use sha1::Sha1;
use sha2::{Sha256, Sha384, Sha512};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use crate::wire::ESP_HEADER_LEN;

/// Salt octets at the end of an AEAD's keying material (RFC 4106 section 8.1, RFC 7634
/// section 2).
pub const SALT_LEN: usize = 4;
/// Explicit IV of the AEADs.
pub const AEAD_IV_LEN: usize = 8;
/// AES block, also the CBC IV length.
pub const AES_BLOCK: usize = 16;
/// Longest ICV we produce (HMAC-SHA2-512-256).
pub const MAX_ICV_LEN: usize = 32;

/// Errors of the primitives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// ICV or tag mismatch.
    #[error("integrity check failed")]
    Icv,
    /// A length the transform cannot take (short packet, CBC data not whole blocks).
    #[error("bad length for this transform")]
    BadLength,
}

/// Errors building an SA's transform from negotiated algorithms and keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SaError {
    #[error("bad {what} key length: expected {expected} octets, got {actual}")]
    BadKeyLength {
        what: &'static str,
        expected: usize,
        actual: usize,
    },
    #[error("AES-CBC needs an integrity algorithm and key")]
    MissingIntegrity,
    #[error("an AEAD takes no integrity algorithm")]
    UnexpectedIntegrity,
    #[error("unsupported algorithm: {0:?}")]
    Unsupported(EncrAlgorithm),
    #[error("backend not compiled in (enable the `aws-lc` feature)")]
    BackendUnavailable,
}

/// Which crate runs the AEADs. AES-GCM-192 and GCM with an 8/12-octet ICV, which
/// neither ring nor aws-lc-rs offers, run on RustCrypto whatever is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// aws-lc-rs (feature `aws-lc`, on by default): the default, the fastest for
    /// AES-GCM at 1400 octets and equal elsewhere (docs/esp-dataplane.md).
    AwsLc,
    /// ring: the default when built without `aws-lc`.
    Ring,
    /// RustCrypto `aes-gcm` / `chacha20poly1305` (through the `ikev2` crate), 4-5x
    /// slower: for comparison.
    RustCrypto,
}

impl Default for Backend {
    fn default() -> Self {
        if cfg!(feature = "aws-lc") {
            Self::AwsLc
        } else {
            Self::Ring
        }
    }
}

/// The small trait every AEAD backend implements. The nonce is `salt | iv`; the salt
/// belongs to the key.
pub trait EspAead {
    /// Encrypt `in_out` in place and write the tag (exactly [`tag_len`](Self::tag_len)
    /// octets) to `tag`.
    fn seal(
        &self,
        iv: &[u8; AEAD_IV_LEN],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &mut [u8],
    ) -> Result<(), CryptoError>;

    /// `in_out` is ciphertext followed by the tag. Verify the tag in constant time and,
    /// only if it matches, decrypt the ciphertext part in place. On error the contents
    /// of `in_out` are unspecified and must not be used.
    fn open(
        &self,
        iv: &[u8; AEAD_IV_LEN],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<(), CryptoError>;

    fn tag_len(&self) -> usize;
}

#[inline]
fn nonce_bytes(salt: &[u8; SALT_LEN], iv: &[u8; AEAD_IV_LEN]) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[..SALT_LEN].copy_from_slice(salt);
    n[SALT_LEN..].copy_from_slice(iv);
    n
}

fn split_keymat(alg: EncrAlgorithm, keymat: &[u8]) -> Result<(&[u8], [u8; SALT_LEN]), SaError> {
    let expected = alg.keymat_len();
    if keymat.len() != expected {
        return Err(SaError::BadKeyLength {
            what: "encryption",
            expected,
            actual: keymat.len(),
        });
    }
    let (key, salt) = keymat.split_at(expected - SALT_LEN);
    let mut s = [0u8; SALT_LEN];
    s.copy_from_slice(salt);
    Ok((key, s))
}

/// Defines a backend over a crate with ring's `aead` API (ring, aws-lc-rs).
macro_rules! ring_like_aead {
    ($name:ident, $krate:ident, $label:literal) => {
        #[doc = concat!("An AEAD on ", $label, ".")]
        pub struct $name {
            key: $krate::aead::LessSafeKey,
            salt: [u8; SALT_LEN],
        }

        impl $name {
            /// `keymat` is `key | salt`. Supports AES-GCM-16 with 128/256-bit keys and
            /// ChaCha20-Poly1305.
            pub fn new(alg: EncrAlgorithm, keymat: &[u8]) -> Result<Self, SaError> {
                let ring_alg = match alg {
                    EncrAlgorithm::AesGcm {
                        key_bits: 128,
                        icv_len: 16,
                    } => &$krate::aead::AES_128_GCM,
                    EncrAlgorithm::AesGcm {
                        key_bits: 256,
                        icv_len: 16,
                    } => &$krate::aead::AES_256_GCM,
                    EncrAlgorithm::ChaCha20Poly1305 => &$krate::aead::CHACHA20_POLY1305,
                    other => return Err(SaError::Unsupported(other)),
                };
                let (key, salt) = split_keymat(alg, keymat)?;
                let unbound = $krate::aead::UnboundKey::new(ring_alg, key).map_err(|_| {
                    SaError::BadKeyLength {
                        what: "encryption",
                        expected: alg.keymat_len(),
                        actual: keymat.len(),
                    }
                })?;
                Ok(Self {
                    key: $krate::aead::LessSafeKey::new(unbound),
                    salt,
                })
            }
        }

        impl EspAead for $name {
            #[inline]
            fn seal(
                &self,
                iv: &[u8; AEAD_IV_LEN],
                aad: &[u8],
                in_out: &mut [u8],
                tag: &mut [u8],
            ) -> Result<(), CryptoError> {
                let nonce = $krate::aead::Nonce::assume_unique_for_key(nonce_bytes(&self.salt, iv));
                let t = self
                    .key
                    .seal_in_place_separate_tag(nonce, $krate::aead::Aad::from(aad), in_out)
                    .map_err(|_| CryptoError::BadLength)?;
                if tag.len() != t.as_ref().len() {
                    return Err(CryptoError::BadLength);
                }
                tag.copy_from_slice(t.as_ref());
                Ok(())
            }

            #[inline]
            fn open(
                &self,
                iv: &[u8; AEAD_IV_LEN],
                aad: &[u8],
                in_out: &mut [u8],
            ) -> Result<(), CryptoError> {
                if in_out.len() < self.tag_len() {
                    return Err(CryptoError::BadLength);
                }
                let nonce = $krate::aead::Nonce::assume_unique_for_key(nonce_bytes(&self.salt, iv));
                self.key
                    .open_in_place(nonce, $krate::aead::Aad::from(aad), in_out)
                    .map(|_| ())
                    .map_err(|_| CryptoError::Icv)
            }

            #[inline]
            fn tag_len(&self) -> usize {
                self.key.algorithm().tag_len()
            }
        }

        impl Drop for $name {
            fn drop(&mut self) {
                self.salt.zeroize();
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(
                    f,
                    "{}({:?}, key redacted)",
                    stringify!($name),
                    self.key.algorithm()
                )
            }
        }
    };
}

ring_like_aead!(RingAead, ring, "ring");
#[cfg(feature = "aws-lc")]
ring_like_aead!(AwsLcAead, aws_lc_rs, "aws-lc-rs");

/// An AEAD on RustCrypto (`aes-gcm`, `chacha20poly1305`), reusing the IKE crate's
/// keyed cipher. Supports every [`EncrAlgorithm`] AEAD, including AES-GCM-192 and the
/// 8/12-octet ICVs (the 8-octet one allocates per packet to verify: legacy only).
pub struct RustCryptoAead {
    inner: AeadCipher,
}

impl RustCryptoAead {
    /// `keymat` is `key | salt`.
    pub fn new(alg: EncrAlgorithm, keymat: &[u8]) -> Result<Self, SaError> {
        split_keymat(alg, keymat)?;
        AeadCipher::new(alg, keymat)
            .map(|inner| Self { inner })
            .map_err(|_| SaError::Unsupported(alg))
    }
}

impl EspAead for RustCryptoAead {
    #[inline]
    fn seal(
        &self,
        iv: &[u8; AEAD_IV_LEN],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &mut [u8],
    ) -> Result<(), CryptoError> {
        self.inner
            .seal_in_place(iv, aad, in_out, tag)
            .map_err(|_| CryptoError::BadLength)
    }

    #[inline]
    fn open(
        &self,
        iv: &[u8; AEAD_IV_LEN],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<(), CryptoError> {
        let split = in_out
            .len()
            .checked_sub(self.tag_len())
            .ok_or(CryptoError::BadLength)?;
        let (ct, tag) = in_out.split_at_mut(split);
        self.inner
            .open_in_place(iv, aad, ct, tag)
            .map_err(|_| CryptoError::Icv)
    }

    #[inline]
    fn tag_len(&self) -> usize {
        self.inner.icv_len()
    }
}

impl std::fmt::Debug for RustCryptoAead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RustCryptoAead({:?})", self.inner)
    }
}

/// The AEAD of one SA: static dispatch over the backends.
#[derive(Debug)]
// The aws-lc-rs and ring keys stay inline (what every packet touches); the rarer one is
// boxed.
#[allow(clippy::large_enum_variant)]
enum AnyAead {
    Ring(RingAead),
    RustCrypto(Box<RustCryptoAead>),
    #[cfg(feature = "aws-lc")]
    AwsLc(AwsLcAead),
}

macro_rules! with_aead {
    ($a:expr, $x:ident => $body:expr) => {
        match $a {
            AnyAead::Ring($x) => $body,
            AnyAead::RustCrypto($x) => $body,
            #[cfg(feature = "aws-lc")]
            AnyAead::AwsLc($x) => $body,
        }
    };
}

impl AnyAead {
    fn new(alg: EncrAlgorithm, keymat: &[u8], backend: Backend) -> Result<Self, SaError> {
        let ring_can = matches!(
            alg,
            EncrAlgorithm::AesGcm {
                key_bits: 128 | 256,
                icv_len: 16
            } | EncrAlgorithm::ChaCha20Poly1305
        );
        match backend {
            Backend::Ring if ring_can => RingAead::new(alg, keymat).map(Self::Ring),
            Backend::Ring | Backend::RustCrypto => {
                RustCryptoAead::new(alg, keymat).map(|a| Self::RustCrypto(Box::new(a)))
            }
            #[cfg(feature = "aws-lc")]
            Backend::AwsLc if ring_can => AwsLcAead::new(alg, keymat).map(Self::AwsLc),
            #[cfg(feature = "aws-lc")]
            Backend::AwsLc => {
                RustCryptoAead::new(alg, keymat).map(|a| Self::RustCrypto(Box::new(a)))
            }
            #[cfg(not(feature = "aws-lc"))]
            Backend::AwsLc => Err(SaError::BackendUnavailable),
        }
    }
}

impl EspAead for AnyAead {
    #[inline]
    fn seal(
        &self,
        iv: &[u8; AEAD_IV_LEN],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &mut [u8],
    ) -> Result<(), CryptoError> {
        with_aead!(self, a => a.seal(iv, aad, in_out, tag))
    }

    #[inline]
    fn open(
        &self,
        iv: &[u8; AEAD_IV_LEN],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<(), CryptoError> {
        with_aead!(self, a => a.open(iv, aad, in_out))
    }

    #[inline]
    fn tag_len(&self) -> usize {
        with_aead!(self, a => a.tag_len())
    }
}

// ---------------------------------------------------------------------------------
// AES-CBC + HMAC

/// An expanded AES key of any size (RustCrypto, AES-NI when present).
#[derive(Clone)]
enum AesKey {
    A128(Aes128),
    A192(Aes192),
    A256(Aes256),
}

impl AesKey {
    fn new(key: &[u8]) -> Option<Self> {
        Some(match key.len() {
            16 => Self::A128(Aes128::new_from_slice(key).ok()?),
            24 => Self::A192(Aes192::new_from_slice(key).ok()?),
            32 => Self::A256(Aes256::new_from_slice(key).ok()?),
            _ => return None,
        })
    }
}

macro_rules! with_aes {
    ($k:expr, $c:ident => $body:expr) => {
        match $k {
            AesKey::A128($c) => $body,
            AesKey::A192($c) => $body,
            AesKey::A256($c) => $body,
        }
    };
}

#[inline]
fn cbc_encrypt<C>(cipher: &C, iv: &[u8; AES_BLOCK], buf: &mut [u8]) -> Result<(), CryptoError>
where
    C: aes::cipher::BlockCipher + aes::cipher::BlockEncryptMut + Clone,
{
    // Cloning copies the expanded key schedule (no allocation); cbc::Encryptor owns
    // its cipher.
    let len = buf.len();
    cbc::Encryptor::<C>::inner_iv_slice_init(cipher.clone(), iv)
        .map_err(|_| CryptoError::BadLength)?
        .encrypt_padded_mut::<NoPadding>(buf, len)
        .map(|_| ())
        .map_err(|_| CryptoError::BadLength)
}

#[inline]
fn cbc_decrypt<C>(cipher: &C, iv: &[u8; AES_BLOCK], buf: &mut [u8]) -> Result<(), CryptoError>
where
    C: aes::cipher::BlockCipher + aes::cipher::BlockDecryptMut + Clone,
{
    cbc::Decryptor::<C>::inner_iv_slice_init(cipher.clone(), iv)
        .map_err(|_| CryptoError::BadLength)?
        .decrypt_padded_mut::<NoPadding>(buf)
        .map(|_| ())
        .map_err(|_| CryptoError::BadLength)
}

/// HMAC with the inner and outer hash states precomputed (RustCrypto `hmac` +
/// `sha1`/`sha2`; measured faster than ring's and aws-lc-rs's HMAC here, see
/// docs/esp-dataplane.md). Each packet clones the keyed state: a copy, no allocation.
enum HmacKey {
    Sha1(Hmac<Sha1>),
    Sha256(Hmac<Sha256>),
    Sha384(Hmac<Sha384>),
    Sha512(Hmac<Sha512>),
}

impl HmacKey {
    fn new(alg: IntegAlgorithm, key: &[u8]) -> Result<Self, SaError> {
        if key.len() != alg.key_len() {
            return Err(SaError::BadKeyLength {
                what: "integrity",
                expected: alg.key_len(),
                actual: key.len(),
            });
        }
        fn keyed<M: Mac + KeyInit>(key: &[u8]) -> M {
            <M as Mac>::new_from_slice(key).expect("HMAC takes keys of any length")
        }
        Ok(match alg {
            IntegAlgorithm::HmacSha1_96 => Self::Sha1(keyed(key)),
            IntegAlgorithm::HmacSha256_128 => Self::Sha256(keyed(key)),
            IntegAlgorithm::HmacSha384_192 => Self::Sha384(keyed(key)),
            // IntegAlgorithm is non_exhaustive in name only: this is its last value.
            _ => Self::Sha512(keyed(key)),
        })
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Sha1(_) => "HMAC-SHA1-96",
            Self::Sha256(_) => "HMAC-SHA2-256-128",
            Self::Sha384(_) => "HMAC-SHA2-384-192",
            Self::Sha512(_) => "HMAC-SHA2-512-256",
        }
    }

    /// Truncated HMAC of `data | extra` into `out` (icv_len octets).
    #[inline]
    fn compute(&self, data: &[u8], extra: &[u8], out: &mut [u8]) {
        fn run<M: Mac + Clone>(m: &M, data: &[u8], extra: &[u8], out: &mut [u8]) {
            let mut m = m.clone();
            m.update(data);
            m.update(extra);
            let tag = m.finalize().into_bytes();
            out.copy_from_slice(&tag[..out.len()]);
        }
        match self {
            Self::Sha1(m) => run(m, data, extra, out),
            Self::Sha256(m) => run(m, data, extra, out),
            Self::Sha384(m) => run(m, data, extra, out),
            Self::Sha512(m) => run(m, data, extra, out),
        }
    }
}

/// AES-CBC (RFC 3602) with HMAC-SHA2 (RFC 4868) or HMAC-SHA1-96 (RFC 2404).
struct CbcHmac {
    aes: AesKey,
    hmac: HmacKey,
    icv_len: usize,
}

/// The transform of one SA, applied to whole ESP packets (SPI first).
pub struct EspCipher {
    kind: Kind,
    encr: EncrAlgorithm,
    iv_len: usize,
    icv_len: usize,
    /// What plaintext + trailer must be a multiple of: 4, or 16 for CBC.
    align: usize,
}

// The AEAD inline: one pointer chase less per packet on the common path.
#[allow(clippy::large_enum_variant)]
enum Kind {
    Aead(AnyAead),
    CbcHmac(Box<CbcHmac>),
}

impl EspCipher {
    /// Key the transform for one direction of a CHILD SA. `encr_key` is the encryption
    /// keying material as IKE derives it (for AEADs `key | 4-octet salt`,
    /// [`EncrAlgorithm::keymat_len`]); `integ` is required for AES-CBC and forbidden
    /// for AEADs.
    pub fn new(
        encr: EncrAlgorithm,
        encr_key: &SecretBytes,
        integ: Option<(IntegAlgorithm, &SecretBytes)>,
        backend: Backend,
    ) -> Result<Self, SaError> {
        let (kind, icv_len) = match (encr, integ) {
            (EncrAlgorithm::AesCbc { .. }, None) => return Err(SaError::MissingIntegrity),
            (EncrAlgorithm::AesCbc { key_bits }, Some((ialg, ikey))) => {
                let expected = usize::from(key_bits / 8);
                let bad = SaError::BadKeyLength {
                    what: "encryption",
                    expected,
                    actual: encr_key.len(),
                };
                if encr_key.len() != expected {
                    return Err(bad);
                }
                let aes = AesKey::new(encr_key.expose()).ok_or(bad)?;
                let hmac = HmacKey::new(ialg, ikey.expose())?;
                let icv_len = ialg.icv_len();
                (
                    Kind::CbcHmac(Box::new(CbcHmac { aes, hmac, icv_len })),
                    icv_len,
                )
            }
            (_, Some(_)) => return Err(SaError::UnexpectedIntegrity),
            (alg, None) => {
                let aead = AnyAead::new(alg, encr_key.expose(), backend)?;
                let t = aead.tag_len();
                (Kind::Aead(aead), t)
            }
        };
        Ok(Self {
            kind,
            encr,
            iv_len: encr.iv_len(),
            icv_len,
            align: encr.block_len().max(4),
        })
    }

    pub fn encr(&self) -> EncrAlgorithm {
        self.encr
    }

    /// Octets of explicit IV after the ESP header.
    #[inline]
    pub fn iv_len(&self) -> usize {
        self.iv_len
    }

    /// Octets of ICV at the end of the packet.
    #[inline]
    pub fn icv_len(&self) -> usize {
        self.icv_len
    }

    /// Plaintext + padding + pad length + next header is a multiple of this.
    #[inline]
    pub fn align(&self) -> usize {
        self.align
    }

    /// What this transform adds to an inner packet ([`crate::mtu`]).
    pub fn overhead(&self) -> crate::mtu::EspOverhead {
        crate::mtu::EspOverhead::from_parts(self.iv_len, self.icv_len, self.align)
    }

    /// Whether this is an AEAD (its IV is the sequence number; CBC needs an
    /// unpredictable one).
    pub fn is_aead(&self) -> bool {
        matches!(self.kind, Kind::Aead(_))
    }

    /// Protect the ESP packet `esp` in place: `SPI | seq | IV | plaintext | ICV room`,
    /// with the header and IV already written and `plaintext` already padded.
    /// `seq_high` is the high half of the sequence number when ESN is on: it goes into
    /// the AAD (RFC 4106 section 5, RFC 7634 section 3) or is appended to the HMAC
    /// input (RFC 4303 section 3.3.2.1).
    #[inline]
    pub fn seal(&self, esp: &mut [u8], seq_high: Option<u32>) -> Result<(), CryptoError> {
        let body = ESP_HEADER_LEN + self.iv_len;
        let Some(icv_at) = esp.len().checked_sub(self.icv_len).filter(|&a| a >= body) else {
            return Err(CryptoError::BadLength);
        };
        match &self.kind {
            Kind::Aead(aead) => {
                let (head, rest) = esp.split_at_mut(body);
                let (pt, icv) = rest.split_at_mut(icv_at - body);
                let mut esn_aad = [0u8; 12];
                let aad = aead_aad(head, seq_high, &mut esn_aad);
                aead.seal(iv8(head), aad, pt, icv)
            }
            Kind::CbcHmac(c) => {
                let (head, rest) = esp.split_at_mut(body);
                let pt = &mut rest[..icv_at - body];
                if pt.len() % AES_BLOCK != 0 {
                    return Err(CryptoError::BadLength);
                }
                let iv = iv16(head);
                with_aes!(&c.aes, k => cbc_encrypt(k, &iv, pt))?;
                let hi = seq_high.map(u32::to_be_bytes);
                let mut out = [0u8; MAX_ICV_LEN];
                c.hmac.compute(
                    &esp[..icv_at],
                    hi.as_ref().map_or(&[][..], |h| &h[..]),
                    &mut out[..c.icv_len],
                );
                esp[icv_at..].copy_from_slice(&out[..c.icv_len]);
                Ok(())
            }
        }
    }

    /// Verify the ICV of the ESP packet `esp` in constant time and, only if it
    /// matches, decrypt the payload (between IV and ICV) in place. The header, IV and
    /// ICV octets are left as they were.
    #[inline]
    pub fn open(&self, esp: &mut [u8], seq_high: Option<u32>) -> Result<(), CryptoError> {
        let body = ESP_HEADER_LEN + self.iv_len;
        let Some(icv_at) = esp.len().checked_sub(self.icv_len).filter(|&a| a >= body) else {
            return Err(CryptoError::BadLength);
        };
        match &self.kind {
            Kind::Aead(aead) => {
                let (head, rest) = esp.split_at_mut(body);
                let mut esn_aad = [0u8; 12];
                let aad = aead_aad(head, seq_high, &mut esn_aad);
                aead.open(iv8(head), aad, rest)
            }
            Kind::CbcHmac(c) => {
                if (icv_at - body) % AES_BLOCK != 0 {
                    return Err(CryptoError::BadLength);
                }
                let hi = seq_high.map(u32::to_be_bytes);
                let mut expected = [0u8; MAX_ICV_LEN];
                let expected = &mut expected[..c.icv_len];
                c.hmac.compute(
                    &esp[..icv_at],
                    hi.as_ref().map_or(&[][..], |h| &h[..]),
                    expected,
                );
                if !bool::from(expected.ct_eq(&esp[icv_at..])) {
                    return Err(CryptoError::Icv);
                }
                let (head, rest) = esp.split_at_mut(body);
                let iv = iv16(head);
                with_aes!(&c.aes, k => cbc_decrypt(k, &iv, &mut rest[..icv_at - body]))
            }
        }
    }
}

/// AAD of an AEAD: SPI | seq (the first 8 octets of the packet, no copy), or with ESN
/// SPI | seq high | seq low, built in `esn_buf`.
#[inline]
fn aead_aad<'a>(head: &'a [u8], seq_high: Option<u32>, esn_buf: &'a mut [u8; 12]) -> &'a [u8] {
    match seq_high {
        None => &head[..ESP_HEADER_LEN],
        Some(hi) => {
            esn_buf[..4].copy_from_slice(&head[..4]);
            esn_buf[4..8].copy_from_slice(&hi.to_be_bytes());
            esn_buf[8..12].copy_from_slice(&head[4..8]);
            esn_buf
        }
    }
}

#[inline]
fn iv8(head: &[u8]) -> &[u8; AEAD_IV_LEN] {
    head[ESP_HEADER_LEN..ESP_HEADER_LEN + AEAD_IV_LEN]
        .try_into()
        .expect("the header is followed by an 8-octet IV")
}

#[inline]
fn iv16(head: &[u8]) -> [u8; AES_BLOCK] {
    let mut iv = [0u8; AES_BLOCK];
    iv.copy_from_slice(&head[ESP_HEADER_LEN..ESP_HEADER_LEN + AES_BLOCK]);
    iv
}

impl std::fmt::Debug for EspCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.kind {
            Kind::Aead(a) => format!("{a:?}"),
            Kind::CbcHmac(c) => format!("AES-CBC + {}, keys redacted", c.hmac.name()),
        };
        f.debug_struct("EspCipher")
            .field("encr", &self.encr)
            .field("kind", &kind)
            .finish()
    }
}

/// The CBC IV generator of an outbound SA: `IV = AES-128(iv_key, 0^64 | seq)`.
///
/// The IV key is 16 octets from the caller's CSPRNG at SA creation, used for nothing
/// else. AES is a pseudo-random permutation, so to anyone without the IV key the IVs of
/// distinct sequence numbers (never repeated within an SA) are indistinguishable from
/// independent uniformly random blocks: unpredictable as RFC 3602 section 2 requires,
/// and the construction NIST SP 800-38A appendix C recommends (encrypting a nonce),
/// with a separate key so that IVs reveal nothing about the data key.
pub(crate) struct CbcIvGen {
    key: Aes128,
}

impl CbcIvGen {
    pub(crate) fn new(mut key: [u8; 16]) -> Self {
        let g = Self {
            key: Aes128::new(&key.into()),
        };
        key.zeroize();
        g
    }

    #[inline]
    pub(crate) fn iv(&self, seq: u64) -> [u8; AES_BLOCK] {
        let mut block = [0u8; AES_BLOCK];
        block[8..].copy_from_slice(&seq.to_be_bytes());
        let mut b = block.into();
        self.key.encrypt_block(&mut b);
        b.into()
    }
}

impl std::fmt::Debug for CbcIvGen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CbcIvGen(key redacted)")
    }
}
