//! IKEv2 key derivation (RFC 7296 sections 2.14, 2.17, 2.18) and the PSK/MAC'ed-ID parts
//! of authentication (section 2.15).
//!
//! ```text
//! SKEYSEED = prf(Ni | Nr, g^ir)                                   (2.14)
//! {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr}
//!          = prf+ (SKEYSEED, Ni | Nr | SPIi | SPIr)
//! KEYMAT   = prf+(SK_d, Ni | Nr)                                  (2.17)
//! KEYMAT   = prf+(SK_d, g^ir (new) | Ni | Nr)                     (2.17, PFS)
//! SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)                (2.18)
//! KEYMAT   = prf+(SK_d, SK(0) | Ni | Nr | SK(1) | ... | SK(n))      (RFC 9370 2.2.4)
//! SKEYSEED = prf(SK_d (old), SK(0) | Ni | Nr | SK(1) | ... | SK(n))  (RFC 9370 2.2.4)
//! AUTH     = prf( prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>)  (2.15)
//! ```
//!
//! Every function takes the PRF as a [`Prf`] (in production a
//! [`PrfAlgorithm`](super::algorithms::PrfAlgorithm)). All PRFs we implement are HMACs,
//! which take keys of any length, so SKEYSEED is keyed with the whole nonces; the
//! half-nonce rule of section 2.14 is for fixed-key-size PRFs (AES-XCBC/CMAC), which we
//! do not implement.
//!
//! Not done here: Diffie-Hellman ([`super::dh`]), parsing of messages and ID payloads,
//! and signature-based authentication (which signs the same [`signed_octets`]).

use subtle::ConstantTimeEq;

use super::algorithms::{EspSuite, IkeSuite};
use super::prf::{Prf, PrfPlusTooLong};
use super::secret::SecretBytes;

/// The pad string of PSK and EAP authentication (RFC 7296 section 2.15), no terminator.
pub const KEY_PAD: &[u8] = b"Key Pad for IKEv2";

/// SKEYSEED = prf(Ni | Nr, g^ir) (RFC 7296 section 2.14).
pub fn skeyseed(prf: impl Prf, ni: &[u8], nr: &[u8], g_ir: &SecretBytes) -> SecretBytes {
    let key = [ni, nr].concat();
    prf.prf(&key, &[g_ir.expose()])
}

/// SKEYSEED of a rekeyed IKE SA = prf(SK_d (old), g^ir (new) | Ni | Nr) (RFC 7296
/// section 2.18), or with additional key exchanges (IKE_FOLLOWUP_KE, RFC 9370 section
/// 2.2.4) prf(SK_d (old), SK(0) | Ni | Nr | SK(1) | ... | SK(n)), `additional` being
/// SK(1) to SK(n) in order. `prf` is the *old* SA's PRF; Ni and Nr are the nonces of
/// the CREATE_CHILD_SA exchange. The new SA's keys then come from [`IkeKeys::derive`]
/// with the new SA's suite and SPIs.
pub fn rekey_skeyseed(
    prf: impl Prf,
    sk_d_old: &SecretBytes,
    g_ir_new: &SecretBytes,
    ni: &[u8],
    nr: &[u8],
    additional: &[SecretBytes],
) -> SecretBytes {
    prf.prf(
        sk_d_old.expose(),
        &seed_parts(Some(g_ir_new), ni, nr, additional),
    )
}

/// `[g^ir |] Ni | Nr | SK(1) | ... | SK(n)`, the input of a CHILD SA's KEYMAT and of a
/// rekeyed IKE SA's SKEYSEED, as parts.
fn seed_parts<'a>(
    g_ir: Option<&'a SecretBytes>,
    ni: &'a [u8],
    nr: &'a [u8],
    additional: &'a [SecretBytes],
) -> Vec<&'a [u8]> {
    let mut parts = Vec::with_capacity(3 + additional.len());
    parts.extend(g_ir.map(SecretBytes::expose));
    parts.push(ni);
    parts.push(nr);
    parts.extend(additional.iter().map(SecretBytes::expose));
    parts
}

/// The keys of an IKE SA (RFC 7296 section 2.14). SK_ai/SK_ar are empty for AEAD suites;
/// SK_ei/SK_er include the 4-octet salt for AEAD suites.
#[derive(Debug, PartialEq, Eq)]
pub struct IkeKeys {
    /// Derives CHILD SA keys and the SKEYSEED of a rekeyed IKE SA.
    pub sk_d: SecretBytes,
    pub sk_ai: SecretBytes,
    pub sk_ar: SecretBytes,
    pub sk_ei: SecretBytes,
    pub sk_er: SecretBytes,
    /// Keys the MAC'ed ID in the initiator's AUTH ([`signed_octets`]).
    pub sk_pi: SecretBytes,
    /// Keys the MAC'ed ID in the responder's AUTH.
    pub sk_pr: SecretBytes,
}

impl IkeKeys {
    /// SK_d, SK_ai, SK_ar, SK_ei, SK_er, SK_pi, SK_pr, in that order, from
    /// prf+(SKEYSEED, Ni | Nr | SPIi | SPIr). Sizes: SK_d/SK_pi/SK_pr the PRF's preferred
    /// key length (its output length), SK_a* the integrity key length (0 for AEAD), SK_e*
    /// the cipher's keying material (key plus salt for AEAD).
    pub fn derive(
        suite: &IkeSuite,
        skeyseed: &SecretBytes,
        ni: &[u8],
        nr: &[u8],
        spi_i: &[u8; 8],
        spi_r: &[u8; 8],
    ) -> Result<IkeKeys, PrfPlusTooLong> {
        let prf_len = suite.prf.output_len();
        let integ_len = suite.integ.map_or(0, |i| i.key_len());
        let encr_len = suite.encr.keymat_len();
        let total = 3 * prf_len + 2 * integ_len + 2 * encr_len;
        let mut keymat = suite
            .prf
            .prf_plus(skeyseed.expose(), &[ni, nr, spi_i, spi_r], total)?;
        Ok(IkeKeys {
            sk_d: keymat.take_front(prf_len),
            sk_ai: keymat.take_front(integ_len),
            sk_ar: keymat.take_front(integ_len),
            sk_ei: keymat.take_front(encr_len),
            sk_er: keymat.take_front(encr_len),
            sk_pi: keymat.take_front(prf_len),
            sk_pr: keymat.take_front(prf_len),
        })
    }

    /// SKEYSEED from g^ir, then [`IkeKeys::derive`]: the keys of a new IKE SA from
    /// IKE_SA_INIT.
    pub fn from_shared_secret(
        suite: &IkeSuite,
        g_ir: &SecretBytes,
        ni: &[u8],
        nr: &[u8],
        spi_i: &[u8; 8],
        spi_r: &[u8; 8],
    ) -> Result<IkeKeys, PrfPlusTooLong> {
        let seed = skeyseed(suite.prf, ni, nr, g_ir);
        Self::derive(suite, &seed, ni, nr, spi_i, spi_r)
    }
}

/// `len` octets of CHILD SA KEYMAT (RFC 7296 section 2.17): prf+(SK_d, Ni | Nr), or with
/// PFS (`g_ir_new` from the CREATE_CHILD_SA KE payloads) prf+(SK_d, g^ir (new) | Ni | Nr),
/// and with additional key exchanges (RFC 9370 section 2.2.4) the secrets of the
/// IKE_FOLLOWUP_KE exchanges, `additional`, after Nr. Ni and Nr are the nonces of the
/// exchange that creates the CHILD SA.
pub fn child_keymat(
    prf: impl Prf,
    sk_d: &SecretBytes,
    g_ir_new: Option<&SecretBytes>,
    ni: &[u8],
    nr: &[u8],
    additional: &[SecretBytes],
    len: usize,
) -> Result<SecretBytes, PrfPlusTooLong> {
    prf.prf_plus(
        sk_d.expose(),
        &seed_parts(g_ir_new, ni, nr, additional),
        len,
    )
}

/// The keys of an ESP CHILD SA pair. `_i` keys protect traffic from the initiator to the
/// responder, `_r` keys the other direction. Integrity keys are empty for AEAD suites;
/// encryption keys include the 4-octet salt for AEAD suites.
#[derive(Debug, PartialEq, Eq)]
pub struct ChildKeys {
    pub encr_i: SecretBytes,
    pub integ_i: SecretBytes,
    pub encr_r: SecretBytes,
    pub integ_r: SecretBytes,
}

impl ChildKeys {
    /// KEYMAT ([`child_keymat`]) split as RFC 7296 section 2.17 orders it: all keys for
    /// initiator-to-responder before responder-to-initiator, and within a direction the
    /// encryption key before the integrity key.
    pub fn derive(
        prf: impl Prf,
        sk_d: &SecretBytes,
        suite: &EspSuite,
        g_ir_new: Option<&SecretBytes>,
        ni: &[u8],
        nr: &[u8],
        additional: &[SecretBytes],
    ) -> Result<ChildKeys, PrfPlusTooLong> {
        let encr_len = suite.encr.keymat_len();
        let integ_len = suite.integ.map_or(0, |i| i.key_len());
        let total = 2 * (encr_len + integ_len);
        let mut keymat = child_keymat(prf, sk_d, g_ir_new, ni, nr, additional, total)?;
        Ok(ChildKeys {
            encr_i: keymat.take_front(encr_len),
            integ_i: keymat.take_front(integ_len),
            encr_r: keymat.take_front(encr_len),
            integ_r: keymat.take_front(integ_len),
        })
    }
}

/// The octets an AUTH payload covers (RFC 7296 section 2.15):
///
/// ```text
/// InitiatorSignedOctets = RealMessage1 | NonceRData | prf(SK_pi, RestOfInitIDPayload)
/// ResponderSignedOctets = RealMessage2 | NonceIData | prf(SK_pr, RestOfRespIDPayload)
/// ```
///
/// For the initiator's AUTH pass (IKE_SA_INIT request as sent, Nr, SK_pi, IDi body); for
/// the responder's (IKE_SA_INIT response as sent, Ni, SK_pr, IDr body). `id_body` is the
/// ID payload after its generic header: ID Type, 3 reserved octets, identification data.
pub fn signed_octets(
    prf: impl Prf,
    message: &[u8],
    peer_nonce: &[u8],
    sk_p: &SecretBytes,
    id_body: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + peer_nonce.len() + prf.output_len());
    out.extend_from_slice(message);
    out.extend_from_slice(peer_nonce);
    // MACedIDFor[IR] is not secret: it goes into the octets a signature covers.
    prf.compute_into(sk_p.expose(), &[id_body], &mut out);
    out
}

/// AUTH Data for shared-key authentication (RFC 7296 section 2.15):
/// prf(prf(Shared Secret, "Key Pad for IKEv2"), SignedOctets). With EAP the shared secret
/// is the MSK (or SK_pi/SK_pr when EAP gives none). The result is sent in the AUTH
/// payload; check a received one with [`verify_psk_auth`], not by comparing bytes.
pub fn psk_auth(prf: impl Prf, shared_secret: &SecretBytes, signed_octets: &[u8]) -> Vec<u8> {
    let pad_key = prf.prf(shared_secret.expose(), &[KEY_PAD]);
    let mut auth = Vec::with_capacity(prf.output_len());
    prf.compute_into(pad_key.expose(), &[signed_octets], &mut auth);
    auth
}

/// Whether `received` AUTH Data is the [`psk_auth`] of `signed_octets`, compared in
/// constant time.
pub fn verify_psk_auth(
    prf: impl Prf,
    shared_secret: &SecretBytes,
    signed_octets: &[u8],
    received: &[u8],
) -> bool {
    let expected = SecretBytes::new(psk_auth(prf, shared_secret, signed_octets));
    auth_eq(expected.expose(), received)
}

/// Constant-time equality of two AUTH values (time depends only on the lengths).
pub fn auth_eq(expected: &[u8], received: &[u8]) -> bool {
    expected.len() == received.len() && bool::from(expected.ct_eq(received))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::algorithms::{EncrAlgorithm, IntegAlgorithm, PrfAlgorithm};
    use crate::wire::DhGroup;

    const SHA256: PrfAlgorithm = PrfAlgorithm::HmacSha256;

    fn suite(encr: EncrAlgorithm, integ: Option<IntegAlgorithm>) -> IkeSuite {
        IkeSuite {
            encr,
            integ,
            prf: SHA256,
            dh: DhGroup::CURVE25519,
            addke: IkeSuite::NO_ADDKE,
        }
    }

    #[test]
    fn ike_keys_are_consecutive_slices_of_prf_plus() {
        let s = suite(
            EncrAlgorithm::AesCbc { key_bits: 128 },
            Some(IntegAlgorithm::HmacSha1_96),
        );
        let seed = SecretBytes::from_slice(&[7; 32]);
        let keys = IkeKeys::derive(&s, &seed, b"ni", b"nr", &[1; 8], &[2; 8]).expect("short");
        let all = SHA256
            .prf_plus(
                &[7; 32],
                &[b"ninr", &[1; 8], &[2; 8]],
                3 * 32 + 2 * 20 + 2 * 16,
            )
            .expect("short");
        let mut joined = Vec::new();
        for k in [
            &keys.sk_d,
            &keys.sk_ai,
            &keys.sk_ar,
            &keys.sk_ei,
            &keys.sk_er,
            &keys.sk_pi,
            &keys.sk_pr,
        ] {
            joined.extend_from_slice(k.expose());
        }
        assert_eq!(joined, all.expose());
        assert_eq!(keys.sk_ai.len(), 20);
        assert_eq!(keys.sk_ei.len(), 16);
    }

    #[test]
    fn aead_child_keys_have_no_integrity_key() {
        let esp = EspSuite {
            encr: EncrAlgorithm::ChaCha20Poly1305,
            integ: None,
            dh: None,
            addke: EspSuite::NO_ADDKE,
            esn: false,
        };
        let sk_d = SecretBytes::from_slice(&[3; 32]);
        let keys = ChildKeys::derive(SHA256, &sk_d, &esp, None, b"ni", b"nr", &[]).expect("short");
        assert_eq!(keys.encr_i.len(), 36);
        assert_eq!(keys.encr_r.len(), 36);
        assert!(keys.integ_i.is_empty() && keys.integ_r.is_empty());
        assert_ne!(keys.encr_i, keys.encr_r);
    }

    #[test]
    fn auth_eq_needs_equal_length_and_bytes() {
        assert!(auth_eq(b"abc", b"abc"));
        assert!(!auth_eq(b"abc", b"abd"));
        assert!(!auth_eq(b"abc", b"ab"));
        assert!(!auth_eq(b"", b"a"));
    }
}
