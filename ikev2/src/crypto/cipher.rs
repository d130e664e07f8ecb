//! Cipher and integrity primitives that protect IKE messages (RFC 7296 section 3.14,
//! RFC 5282, RFC 7634, RFC 4868).
//!
//! Three layers, each usable on its own:
//!
//! - [`CbcCipher`]: raw AES-CBC on whole blocks (IKE pads by itself).
//! - [`AeadCipher`]: AES-GCM with an 8, 12 or 16 octet ICV, and ChaCha20-Poly1305, both
//!   keyed with `key | 4-octet salt` and used with `nonce = salt | 8-octet IV`.
//! - [`Integrity`]: HMAC-SHA1-96 and HMAC-SHA2-{256-128, 384-192, 512-256}.
//!
//! [`IkeCipher`] joins them into the one transform that protects one direction of an IKE
//! SA: encrypt-then-MAC for AES-CBC + HMAC, or an AEAD.
//!
//! This module never chooses an IV: the caller passes it. IV uniqueness for the AEADs
//! is the job of [`crate::crypto::sk::SkProtector`], the only type that should call
//! [`IkeCipher::seal_in_place`] outside tests.
//!
//! Every tag and ICV is compared in constant time, and the AEADs and CBC+HMAC both
//! verify before anything is decrypted. Keys zeroize on drop (the `aes`, `ghash` and
//! `polyval` crates are built with their `zeroize` features, `chacha20poly1305` always
//! wipes its key, HMAC keys are kept in [`SecretBytes`]). No `Debug` prints key bytes.

use aes::{Aes128, Aes192, Aes256};
use aes_gcm::AesGcm;
use aes_gcm::aead::consts::{U12, U16};
use aes_gcm::aead::generic_array::typenum::Unsigned;
use aes_gcm::aead::{AeadCore, AeadInPlace, KeyInit, Nonce, Tag};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockCipher, BlockDecryptMut, BlockEncryptMut, InnerIvInit};
use chacha20poly1305::ChaCha20Poly1305;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Sha256, Sha384, Sha512};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use super::algorithms::{EncrAlgorithm, IntegAlgorithm};
use super::secret::SecretBytes;

/// Length of the salt that ends the keying material of an AEAD (RFC 5282 section 7.1,
/// RFC 7634 section 2).
pub const AEAD_SALT_LEN: usize = 4;

/// Length of the explicit IV carried by the AEADs (RFC 5282 section 3.1, RFC 7634).
pub const AEAD_IV_LEN: usize = 8;

/// AES block size, also the AES-CBC IV length.
pub const AES_BLOCK_LEN: usize = 16;

/// The longest integrity ICV we produce (HMAC-SHA2-512-256).
const MAX_INTEG_ICV_LEN: usize = 32;

/// Errors of the cipher and integrity primitives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// A key (including the AEAD salt) has the wrong length for its algorithm.
    #[error("bad key length: expected {expected} octets, got {actual}")]
    BadKeyLength { expected: usize, actual: usize },
    /// The ICV or AEAD tag does not match: the data was modified or the key is wrong.
    #[error("integrity check failed")]
    IntegrityCheckFailed,
    /// An IV, ICV or data buffer has a length the algorithm cannot take (for example
    /// CBC data that is not a whole number of blocks).
    #[error("bad input length")]
    BadLength,
    /// AES-CBC needs an integrity algorithm and none was given.
    #[error("AES-CBC needs an integrity algorithm")]
    MissingIntegrity,
    /// An AEAD was combined with an integrity algorithm (RFC 5282 section 8).
    #[error("an AEAD cipher takes no integrity algorithm")]
    UnexpectedIntegrity,
    /// An algorithm value we cannot run (e.g. an AES key size other than 128/192/256).
    #[error("unsupported algorithm parameters")]
    Unsupported,
}

// ---------------------------------------------------------------------------------
// AES-CBC

/// AES-CBC with a 128, 192 or 256-bit key, no padding mode.
///
/// Only the key is kept; the AES key schedule (about 1 KiB with the run-time
/// AES-NI/software dispatch) is expanded for each message and wiped after it. An IKE SA
/// protects a message every few seconds at most, so the expansion (well under a
/// microsecond) costs nothing measurable, while keeping two schedules per IKE SA cost
/// 2 KiB per tunnel (docs/performance.md, memory).
pub struct CbcCipher {
    key: SecretBytes,
}

enum CbcInner {
    Aes128(Aes128),
    Aes192(Aes192),
    Aes256(Aes256),
}

impl CbcCipher {
    /// Key AES-CBC; the key length (16, 24 or 32 octets) chooses AES-128/192/256.
    pub fn new(key: &[u8]) -> Result<Self, CryptoError> {
        if !matches!(key.len(), 16 | 24 | 32) {
            return Err(CryptoError::BadKeyLength {
                expected: 16,
                actual: key.len(),
            });
        }
        Ok(Self {
            key: SecretBytes::new(key.to_vec()),
        })
    }

    /// Key length in bits.
    pub fn key_bits(&self) -> u16 {
        // 16, 24 or 32 octets (checked in `new`).
        (self.key.len() * 8) as u16
    }

    /// The expanded key schedule, zeroized when dropped (`aes` with `zeroize`).
    fn keyed(&self) -> Result<CbcInner, CryptoError> {
        let key = self.key.expose();
        let bad = CryptoError::BadKeyLength {
            expected: 16,
            actual: key.len(),
        };
        Ok(match key.len() {
            16 => CbcInner::Aes128(Aes128::new_from_slice(key).map_err(|_| bad)?),
            24 => CbcInner::Aes192(Aes192::new_from_slice(key).map_err(|_| bad)?),
            32 => CbcInner::Aes256(Aes256::new_from_slice(key).map_err(|_| bad)?),
            _ => return Err(bad),
        })
    }

    /// Encrypt `buf` (a whole number of 16-octet blocks) in place.
    pub fn encrypt_in_place(&self, iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError> {
        check_cbc_lengths(iv, buf)?;
        match self.keyed()? {
            CbcInner::Aes128(c) => cbc_encrypt(c, iv, buf),
            CbcInner::Aes192(c) => cbc_encrypt(c, iv, buf),
            CbcInner::Aes256(c) => cbc_encrypt(c, iv, buf),
        }
    }

    /// Decrypt `buf` (a whole number of 16-octet blocks) in place. This does not
    /// authenticate anything; [`IkeCipher::open_in_place`] checks the ICV first.
    pub fn decrypt_in_place(&self, iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError> {
        check_cbc_lengths(iv, buf)?;
        match self.keyed()? {
            CbcInner::Aes128(c) => cbc_decrypt(c, iv, buf),
            CbcInner::Aes192(c) => cbc_decrypt(c, iv, buf),
            CbcInner::Aes256(c) => cbc_decrypt(c, iv, buf),
        }
    }
}

fn check_cbc_lengths(iv: &[u8], buf: &[u8]) -> Result<(), CryptoError> {
    if iv.len() != AES_BLOCK_LEN || buf.len() % AES_BLOCK_LEN != 0 {
        return Err(CryptoError::BadLength);
    }
    Ok(())
}

fn cbc_encrypt<C>(cipher: C, iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError>
where
    C: BlockEncryptMut + BlockCipher,
{
    let enc =
        cbc::Encryptor::<C>::inner_iv_slice_init(cipher, iv).map_err(|_| CryptoError::BadLength)?;
    let len = buf.len();
    enc.encrypt_padded_mut::<NoPadding>(buf, len)
        .map_err(|_| CryptoError::BadLength)?;
    Ok(())
}

fn cbc_decrypt<C>(cipher: C, iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError>
where
    C: BlockDecryptMut + BlockCipher,
{
    let dec =
        cbc::Decryptor::<C>::inner_iv_slice_init(cipher, iv).map_err(|_| CryptoError::BadLength)?;
    dec.decrypt_padded_mut::<NoPadding>(buf)
        .map_err(|_| CryptoError::BadLength)?;
    Ok(())
}

impl std::fmt::Debug for CbcCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CbcCipher(AES-{}-CBC, key redacted)", self.key_bits())
    }
}

// ---------------------------------------------------------------------------------
// AEADs

type Aes128Gcm16 = AesGcm<Aes128, U12, U16>;
type Aes192Gcm16 = AesGcm<Aes192, U12, U16>;
type Aes256Gcm16 = AesGcm<Aes256, U12, U16>;
type Aes128Gcm12 = AesGcm<Aes128, U12, U12>;
type Aes192Gcm12 = AesGcm<Aes192, U12, U12>;
type Aes256Gcm12 = AesGcm<Aes256, U12, U12>;

/// An AEAD keyed for IKE: AES-GCM (ICV 8, 12 or 16) or ChaCha20-Poly1305, with the
/// 4-octet salt that completes each nonce. Like [`CbcCipher`] it keeps only the key
/// and keys the algorithm for each message.
pub struct AeadCipher {
    alg: EncrAlgorithm,
    salt: [u8; AEAD_SALT_LEN],
    key: SecretBytes,
}

/// The `aes-gcm` crate supports tags of 12 to 16 octets, so the 8-octet ICV of
/// ENCR_AES_GCM_8 runs on the 16-octet type and is truncated (SP 800-38D section 5.2.1.2:
/// a shorter tag is the leftmost octets of the full one).
enum AeadInner {
    Gcm128(Aes128Gcm16),
    Gcm192(Aes192Gcm16),
    Gcm256(Aes256Gcm16),
    Gcm128Icv12(Aes128Gcm12),
    Gcm192Icv12(Aes192Gcm12),
    Gcm256Icv12(Aes256Gcm12),
    ChaCha20Poly1305(ChaCha20Poly1305),
}

/// Run `$body` with `$a` bound to the concrete AEAD inside an [`AeadInner`].
macro_rules! with_aead {
    ($inner:expr, $a:ident => $body:expr) => {
        match $inner {
            AeadInner::Gcm128($a) => $body,
            AeadInner::Gcm192($a) => $body,
            AeadInner::Gcm256($a) => $body,
            AeadInner::Gcm128Icv12($a) => $body,
            AeadInner::Gcm192Icv12($a) => $body,
            AeadInner::Gcm256Icv12($a) => $body,
            AeadInner::ChaCha20Poly1305($a) => $body,
        }
    };
}

impl AeadCipher {
    /// Key an AEAD from its keying material, `key | salt` as taken from prf+
    /// ([`EncrAlgorithm::keymat_len`] octets).
    pub fn new(alg: EncrAlgorithm, keymat: &[u8]) -> Result<Self, CryptoError> {
        if !alg.is_aead() {
            return Err(CryptoError::Unsupported);
        }
        let expected = alg.keymat_len();
        if keymat.len() != expected {
            return Err(CryptoError::BadKeyLength {
                expected,
                actual: keymat.len(),
            });
        }
        let (key, salt) = keymat.split_at(expected - AEAD_SALT_LEN);
        let mut s = [0u8; AEAD_SALT_LEN];
        s.copy_from_slice(salt);
        let cipher = Self {
            alg,
            salt: s,
            key: SecretBytes::new(key.to_vec()),
        };
        // Refuse an unsupported algorithm now rather than at the first message.
        cipher.keyed()?;
        Ok(cipher)
    }

    /// The keyed algorithm, zeroized when dropped.
    fn keyed(&self) -> Result<AeadInner, CryptoError> {
        let key = self.key.expose();
        let bad = CryptoError::BadKeyLength {
            expected: self.alg.keymat_len(),
            actual: key.len() + AEAD_SALT_LEN,
        };
        Ok(match self.alg {
            EncrAlgorithm::AesGcm { key_bits, icv_len } => match (key_bits, icv_len) {
                (128, 8 | 16) => {
                    AeadInner::Gcm128(Aes128Gcm16::new_from_slice(key).map_err(|_| bad)?)
                }
                (192, 8 | 16) => {
                    AeadInner::Gcm192(Aes192Gcm16::new_from_slice(key).map_err(|_| bad)?)
                }
                (256, 8 | 16) => {
                    AeadInner::Gcm256(Aes256Gcm16::new_from_slice(key).map_err(|_| bad)?)
                }
                (128, 12) => {
                    AeadInner::Gcm128Icv12(Aes128Gcm12::new_from_slice(key).map_err(|_| bad)?)
                }
                (192, 12) => {
                    AeadInner::Gcm192Icv12(Aes192Gcm12::new_from_slice(key).map_err(|_| bad)?)
                }
                (256, 12) => {
                    AeadInner::Gcm256Icv12(Aes256Gcm12::new_from_slice(key).map_err(|_| bad)?)
                }
                _ => return Err(CryptoError::Unsupported),
            },
            EncrAlgorithm::ChaCha20Poly1305 => {
                AeadInner::ChaCha20Poly1305(ChaCha20Poly1305::new_from_slice(key).map_err(|_| bad)?)
            }
            _ => return Err(CryptoError::Unsupported),
        })
    }

    pub fn algorithm(&self) -> EncrAlgorithm {
        self.alg
    }

    /// Length of the tag (ICV) in octets.
    pub fn icv_len(&self) -> usize {
        self.alg.icv_len()
    }

    fn nonce(&self, iv: &[u8]) -> Result<[u8; 12], CryptoError> {
        if iv.len() != AEAD_IV_LEN {
            return Err(CryptoError::BadLength);
        }
        let mut nonce = [0u8; 12];
        nonce[..AEAD_SALT_LEN].copy_from_slice(&self.salt);
        nonce[AEAD_SALT_LEN..].copy_from_slice(iv);
        Ok(nonce)
    }

    /// Encrypt `buf` in place and write the tag to `tag_out` (exactly
    /// [`icv_len`](Self::icv_len) octets). The nonce is `salt | iv`.
    ///
    /// The caller guarantees that `iv` is never used twice with this key.
    pub fn seal_in_place(
        &self,
        iv: &[u8],
        aad: &[u8],
        buf: &mut [u8],
        tag_out: &mut [u8],
    ) -> Result<(), CryptoError> {
        let nonce = self.nonce(iv)?;
        if tag_out.len() != self.icv_len() {
            return Err(CryptoError::BadLength);
        }
        with_aead!(&self.keyed()?, a => aead_seal(a, nonce, aad, buf, tag_out))
    }

    /// Verify `tag` over `aad` and the ciphertext `buf` in constant time and, only if it
    /// matches, decrypt `buf` in place. On failure `buf` is left as it was.
    pub fn open_in_place(
        &self,
        iv: &[u8],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8],
    ) -> Result<(), CryptoError> {
        let nonce = self.nonce(iv)?;
        if tag.len() != self.icv_len() {
            return Err(CryptoError::BadLength);
        }
        with_aead!(&self.keyed()?, a => aead_open(a, nonce, aad, buf, tag))
    }
}

fn aead_seal<A>(
    aead: &A,
    nonce: [u8; 12],
    aad: &[u8],
    buf: &mut [u8],
    tag_out: &mut [u8],
) -> Result<(), CryptoError>
where
    A: AeadInPlace + AeadCore<NonceSize = U12>,
{
    let nonce = Nonce::<A>::from(nonce);
    let tag = aead
        .encrypt_in_place_detached(&nonce, aad, buf)
        .map_err(|_| CryptoError::BadLength)?;
    // tag_out is at most the full tag: icv_len() never exceeds A::TagSize.
    let full: &[u8] = tag.as_slice();
    let t = full.get(..tag_out.len()).ok_or(CryptoError::BadLength)?;
    tag_out.copy_from_slice(t);
    Ok(())
}

fn aead_open<A>(
    aead: &A,
    nonce: [u8; 12],
    aad: &[u8],
    buf: &mut [u8],
    tag: &[u8],
) -> Result<(), CryptoError>
where
    A: AeadInPlace + AeadCore<NonceSize = U12>,
{
    let nonce = Nonce::<A>::from(nonce);
    if tag.len() == A::TagSize::USIZE {
        // aes-gcm and chacha20poly1305 compute the tag over the ciphertext, compare in
        // constant time, and only then apply the keystream.
        return aead
            .decrypt_in_place_detached(&nonce, aad, buf, Tag::<A>::from_slice(tag))
            .map_err(|_| CryptoError::IntegrityCheckFailed);
    }
    if tag.len() > A::TagSize::USIZE {
        return Err(CryptoError::BadLength);
    }
    // Truncated tag (ENCR_AES_GCM_8). The crate has no "verify a short tag" call, so:
    // keystream = E(0...) under this nonce; candidate P = C ^ keystream; re-encrypting
    // P gives back C and the full tag over it. Nothing derived from P leaves this
    // function unless the truncated tag matches, and the scratch buffers are wiped.
    let mut plain = Zeroizing::new(vec![0u8; buf.len()]);
    aead.encrypt_in_place_detached(&nonce, aad, &mut plain)
        .map_err(|_| CryptoError::BadLength)?;
    for (p, c) in plain.iter_mut().zip(buf.iter()) {
        *p ^= *c;
    }
    let mut again = Zeroizing::new(plain.to_vec());
    let full = aead
        .encrypt_in_place_detached(&nonce, aad, &mut again)
        .map_err(|_| CryptoError::BadLength)?;
    let full: &[u8] = full.as_slice();
    let ok = full
        .get(..tag.len())
        .map(|t| bool::from(t.ct_eq(tag)))
        .unwrap_or(false);
    if !ok {
        return Err(CryptoError::IntegrityCheckFailed);
    }
    buf.copy_from_slice(&plain);
    Ok(())
}

impl Drop for AeadCipher {
    fn drop(&mut self) {
        self.salt.zeroize();
    }
}

impl std::fmt::Debug for AeadCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AeadCipher({:?}, key redacted)", self.alg)
    }
}

// ---------------------------------------------------------------------------------
// Integrity

/// A truncated-HMAC integrity key (RFC 4868, RFC 2404).
pub struct Integrity {
    alg: IntegAlgorithm,
    key: SecretBytes,
}

impl Integrity {
    /// The key must be exactly [`IntegAlgorithm::key_len`] octets (RFC 4868 section 2.1.1).
    pub fn new(alg: IntegAlgorithm, key: &[u8]) -> Result<Self, CryptoError> {
        if key.len() != alg.key_len() {
            return Err(CryptoError::BadKeyLength {
                expected: alg.key_len(),
                actual: key.len(),
            });
        }
        Ok(Self {
            alg,
            key: SecretBytes::from_slice(key),
        })
    }

    pub fn algorithm(&self) -> IntegAlgorithm {
        self.alg
    }

    pub fn icv_len(&self) -> usize {
        self.alg.icv_len()
    }

    /// The truncated HMAC of the concatenation of `parts`, written to `icv_out`
    /// (exactly [`icv_len`](Self::icv_len) octets).
    pub fn compute(&self, parts: &[&[u8]], icv_out: &mut [u8]) -> Result<(), CryptoError> {
        if icv_out.len() != self.icv_len() {
            return Err(CryptoError::BadLength);
        }
        self.compute_truncated(parts, icv_out);
        Ok(())
    }

    /// Check `icv` against the truncated HMAC of `parts` in constant time.
    pub fn verify(&self, parts: &[&[u8]], icv: &[u8]) -> Result<(), CryptoError> {
        // Lengths are public (they follow from the negotiated algorithm).
        if icv.len() != self.icv_len() {
            return Err(CryptoError::IntegrityCheckFailed);
        }
        let mut expected = [0u8; MAX_INTEG_ICV_LEN];
        let expected = &mut expected[..icv.len()];
        self.compute_truncated(parts, expected);
        if bool::from(expected.ct_eq(icv)) {
            Ok(())
        } else {
            Err(CryptoError::IntegrityCheckFailed)
        }
    }

    fn compute_truncated(&self, parts: &[&[u8]], out: &mut [u8]) {
        let key = self.key.expose();
        match self.alg {
            IntegAlgorithm::HmacSha1_96 => hmac_truncated::<Hmac<Sha1>>(key, parts, out),
            IntegAlgorithm::HmacSha256_128 => hmac_truncated::<Hmac<Sha256>>(key, parts, out),
            IntegAlgorithm::HmacSha384_192 => hmac_truncated::<Hmac<Sha384>>(key, parts, out),
            IntegAlgorithm::HmacSha512_256 => hmac_truncated::<Hmac<Sha512>>(key, parts, out),
        }
    }
}

/// HMAC keyed afresh per message from the zeroizing key: hmac 0.12 cannot wipe a
/// stored keyed state, and two extra compression blocks per IKE message cost nothing.
fn hmac_truncated<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]], out: &mut [u8]) {
    let mut mac = <M as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(part);
    }
    let tag = mac.finalize().into_bytes();
    // out.len() is icv_len(), shorter than every hash output we use.
    out.copy_from_slice(&tag[..out.len()]);
}

impl std::fmt::Debug for Integrity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Integrity({:?}, key redacted)", self.alg)
    }
}

// ---------------------------------------------------------------------------------
// The combined transform

/// The protection of one direction of an IKE SA: AES-CBC + HMAC (encrypt-then-MAC) or
/// an AEAD. Built from SK_ei/SK_ai or SK_er/SK_ar.
///
/// Deliberately not `Clone`: a copy of an AEAD key would also need its own IV space.
pub struct IkeCipher {
    encr: EncrAlgorithm,
    kind: Kind,
}

enum Kind {
    CbcHmac { cbc: CbcCipher, integ: Integrity },
    Aead(AeadCipher),
}

impl IkeCipher {
    /// `encr_key` is SK_e* ([`EncrAlgorithm::keymat_len`] octets, salt last for AEADs);
    /// `integ_key` is SK_a* and must be empty for an AEAD.
    pub fn new(
        encr: EncrAlgorithm,
        integ: Option<IntegAlgorithm>,
        encr_key: &[u8],
        integ_key: &[u8],
    ) -> Result<Self, CryptoError> {
        let kind = match (encr, integ) {
            (EncrAlgorithm::AesCbc { key_bits }, Some(integ)) => {
                if !matches!(key_bits, 128 | 192 | 256) {
                    return Err(CryptoError::Unsupported);
                }
                let expected = encr.keymat_len();
                if encr_key.len() != expected {
                    return Err(CryptoError::BadKeyLength {
                        expected,
                        actual: encr_key.len(),
                    });
                }
                Kind::CbcHmac {
                    cbc: CbcCipher::new(encr_key)?,
                    integ: Integrity::new(integ, integ_key)?,
                }
            }
            (EncrAlgorithm::AesCbc { .. }, None) => return Err(CryptoError::MissingIntegrity),
            (_, Some(_)) => return Err(CryptoError::UnexpectedIntegrity),
            (_, None) => {
                if !integ_key.is_empty() {
                    return Err(CryptoError::BadKeyLength {
                        expected: 0,
                        actual: integ_key.len(),
                    });
                }
                Kind::Aead(AeadCipher::new(encr, encr_key)?)
            }
        };
        Ok(Self { encr, kind })
    }

    pub fn encr(&self) -> EncrAlgorithm {
        self.encr
    }

    pub fn integ(&self) -> Option<IntegAlgorithm> {
        match &self.kind {
            Kind::CbcHmac { integ, .. } => Some(integ.algorithm()),
            Kind::Aead(_) => None,
        }
    }

    /// Octets of IV in each message (16 for CBC, 8 for the AEADs).
    pub fn iv_len(&self) -> usize {
        self.encr.iv_len()
    }

    /// Octets of ICV at the end of each message: the HMAC ICV or the AEAD tag.
    pub fn icv_len(&self) -> usize {
        match &self.kind {
            Kind::CbcHmac { integ, .. } => integ.icv_len(),
            Kind::Aead(a) => a.icv_len(),
        }
    }

    /// The plaintext (payloads, padding and pad length octet) must be a multiple of this.
    pub fn block_len(&self) -> usize {
        self.encr.block_len()
    }

    /// Whether this is a combined-mode cipher.
    pub fn is_aead(&self) -> bool {
        matches!(self.kind, Kind::Aead(_))
    }

    /// Encrypt `buf` in place and write the ICV to `icv_out`.
    ///
    /// `aad` is every octet of the message before the IV. For AES-CBC the ICV is the
    /// truncated HMAC of `aad | iv | ciphertext` (RFC 7296 section 3.14); for an AEAD,
    /// `aad` is the associated data (RFC 5282 section 5.1) and the nonce is
    /// `salt | iv`. The caller chooses `iv`: random for CBC, never repeated for an AEAD.
    pub fn seal_in_place(
        &self,
        aad: &[u8],
        iv: &[u8],
        buf: &mut [u8],
        icv_out: &mut [u8],
    ) -> Result<(), CryptoError> {
        if iv.len() != self.iv_len() || icv_out.len() != self.icv_len() {
            return Err(CryptoError::BadLength);
        }
        match &self.kind {
            Kind::CbcHmac { cbc, integ } => {
                cbc.encrypt_in_place(iv, buf)?;
                integ.compute(&[aad, iv, buf], icv_out)
            }
            Kind::Aead(a) => a.seal_in_place(iv, aad, buf, icv_out),
        }
    }

    /// Verify the ICV in constant time and, only if it matches, decrypt `buf` in place.
    /// Same layout as [`seal_in_place`](Self::seal_in_place). On any error `buf` is
    /// unchanged.
    pub fn open_in_place(
        &self,
        aad: &[u8],
        iv: &[u8],
        buf: &mut [u8],
        icv: &[u8],
    ) -> Result<(), CryptoError> {
        if iv.len() != self.iv_len() || icv.len() != self.icv_len() {
            return Err(CryptoError::BadLength);
        }
        match &self.kind {
            Kind::CbcHmac { cbc, integ } => {
                if buf.len() % AES_BLOCK_LEN != 0 {
                    return Err(CryptoError::BadLength);
                }
                integ.verify(&[aad, iv, buf], icv)?;
                cbc.decrypt_in_place(iv, buf)
            }
            Kind::Aead(a) => a.open_in_place(iv, aad, buf, icv),
        }
    }
}

impl std::fmt::Debug for IkeCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IkeCipher")
            .field("encr", &self.encr)
            .field("integ", &self.integ())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
