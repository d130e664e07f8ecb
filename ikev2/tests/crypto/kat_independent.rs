//! Independent expectations for IKE crypto paths that no published vector in
//! `shared/vectors` covers and that round trips through our own code cannot check
//! (both ends would share any mistake). A second implementation computes the expected
//! bytes: aws-lc-rs for HMAC, AES-CBC and AES-GCM (the code under test uses RustCrypto),
//! and the constructions written out here from the RFCs.
//!
//! - prf+ with PRF_HMAC_SHA1 (RFC 7296 section 2.13; the shared prf+ vectors are
//!   SHA2 only), and SKEYSEED, the SK_* split and CHILD SA KEYMAT built on it.
//! - SK payloads byte for byte (RFC 7296 section 3.14) from fixed keys and a seeded
//!   RNG, for every AES-CBC + HMAC suite (IV: 16 random octets; padding: zeros up to a
//!   whole block, then the pad length; ICV: the truncated HMAC of everything from the
//!   IKE header to the end of the ciphertext) and every AES-GCM suite (RFC 5282: IV:
//!   8 octets counting up from a random start; nonce: the 4-octet salt at the end of
//!   SK_e, then the IV; AAD: the IKE header and the SK payload header; no padding but
//!   the pad length octet; ICV: the GCM tag cut to 8, 12 or 16 octets).

use ikev2::crypto::algorithms::{EncrAlgorithm, IkeSuite, IntegAlgorithm, PrfAlgorithm};
use ikev2::crypto::keymat::{self, IkeKeys};
use ikev2::crypto::prf::{Prf, PrfPlusTooLong};
use ikev2::crypto::secret::SecretBytes;
use ikev2::crypto::sk::SkProtector;
use ikev2::wire::{DhGroup, PayloadType};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

/// Deterministic test bytes, different per `tag`.
fn bytes(len: usize, tag: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(tag))
        .collect()
}

// -- the second implementation ------------------------------------------------------

fn hmac_alg(integ: IntegAlgorithm) -> aws_lc_rs::hmac::Algorithm {
    use aws_lc_rs::hmac;
    match integ {
        IntegAlgorithm::HmacSha1_96 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        IntegAlgorithm::HmacSha256_128 => hmac::HMAC_SHA256,
        IntegAlgorithm::HmacSha384_192 => hmac::HMAC_SHA384,
        IntegAlgorithm::HmacSha512_256 => hmac::HMAC_SHA512,
        other => panic!("no HMAC for {other:?}"),
    }
}

/// The full HMAC of the concatenation of `parts`.
fn hmac(alg: aws_lc_rs::hmac::Algorithm, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut ctx = aws_lc_rs::hmac::Context::with_key(&aws_lc_rs::hmac::Key::new(alg, key));
    for p in parts {
        ctx.update(p);
    }
    ctx.sign().as_ref().to_vec()
}

fn hmac_sha1(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    hmac(aws_lc_rs::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key, parts)
}

/// prf+ (RFC 7296 section 2.13) over HMAC-SHA1: T1 = prf(K, S | 0x01),
/// Tn = prf(K, Tn-1 | S | n), the first `len` octets of T1 | T2 | ...
fn prf_plus_sha1(key: &[u8], seed: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut t = Vec::new();
    let mut n = 1usize;
    while out.len() < len {
        let counter = u8::try_from(n).expect("at most 255 blocks");
        t = hmac_sha1(key, &[&t, seed, &[counter]]);
        out.extend_from_slice(&t);
        n += 1;
    }
    out.truncate(len);
    out
}

fn aes_cbc_encrypt(key: &[u8], iv: &[u8], data: &[u8]) -> Vec<u8> {
    use aws_lc_rs::cipher::{AES_128, AES_192, AES_256, EncryptingKey, EncryptionContext};
    let alg = match key.len() {
        16 => &AES_128,
        24 => &AES_192,
        _ => &AES_256,
    };
    let key = aws_lc_rs::cipher::UnboundCipherKey::new(alg, key).expect("AES key");
    let iv: [u8; 16] = iv.try_into().expect("16-octet IV");
    let mut buf = data.to_vec();
    EncryptingKey::cbc(key)
        .expect("CBC")
        .less_safe_encrypt(&mut buf, EncryptionContext::Iv128(iv.into()))
        .expect("whole blocks");
    buf
}

/// AES-GCM: ciphertext and the tag cut to `icv_len`.
fn aes_gcm_seal(key: &[u8], nonce: [u8; 12], aad: &[u8], data: &[u8], icv_len: usize) -> Vec<u8> {
    use aws_lc_rs::aead::{AES_128_GCM, AES_192_GCM, AES_256_GCM, Aad, LessSafeKey, Nonce};
    let alg = match key.len() {
        16 => &AES_128_GCM,
        24 => &AES_192_GCM,
        _ => &AES_256_GCM,
    };
    let key = LessSafeKey::new(aws_lc_rs::aead::UnboundKey::new(alg, key).expect("GCM key"));
    let mut buf = data.to_vec();
    let tag = key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut buf,
        )
        .expect("seal");
    buf.extend_from_slice(&tag.as_ref()[..icv_len]);
    buf
}

// -- prf+ and the key derivation with HMAC-SHA1 ---------------------------------------

#[test]
fn prf_plus_with_hmac_sha1() {
    let key = bytes(20, 1);
    let (ni, nr, spi_i, spi_r) = (bytes(16, 2), bytes(24, 3), bytes(8, 4), bytes(8, 5));
    let seed = [&ni[..], &nr, &spi_i, &spi_r].concat();
    // One block, partial blocks, many blocks, and the most prf+ may give (255 blocks).
    for len in [1, 19, 20, 21, 40, 100, 1000, 255 * 20] {
        let ours = PrfAlgorithm::HmacSha1
            .prf_plus(&key, &[&ni, &nr, &spi_i, &spi_r], len)
            .expect("within 255 blocks");
        assert_eq!(
            hex::encode(ours.expose()),
            hex::encode(prf_plus_sha1(&key, &seed, len)),
            "prf+ HMAC-SHA1, {len} octets"
        );
    }
    assert_eq!(
        PrfAlgorithm::HmacSha1
            .prf_plus(&key, &[&seed], 255 * 20 + 1)
            .map(|k| k.len()),
        Err(PrfPlusTooLong {
            requested: 255 * 20 + 1,
            max: 255 * 20
        })
    );
    // prf itself, with a key longer than SHA-1's 64-octet block (hashed first).
    let long_key = bytes(100, 6);
    assert_eq!(
        PrfAlgorithm::HmacSha1.prf(&long_key, &[&seed]).expose(),
        &hmac_sha1(&long_key, &[&seed])[..]
    );
}

/// SKEYSEED = prf(Ni | Nr, g^ir) with nonces long enough that the PRF key (96
/// octets) exceeds the SHA-1 block, SK_d ... SK_pr from prf+(SKEYSEED, Ni | Nr | SPIi |
/// SPIr) in RFC 7296 order and sizes, and CHILD SA KEYMAT with and without PFS.
#[test]
fn ike_and_child_keys_with_hmac_sha1() {
    let suite = IkeSuite {
        encr: EncrAlgorithm::AesCbc { key_bits: 128 },
        integ: Some(IntegAlgorithm::HmacSha1_96),
        prf: PrfAlgorithm::HmacSha1,
        dh: DhGroup::MODP_2048,
        addke: IkeSuite::NO_ADDKE,
    };
    let (ni, nr) = (bytes(48, 7), bytes(48, 8));
    let spi_i: [u8; 8] = bytes(8, 9).try_into().expect("8");
    let spi_r: [u8; 8] = bytes(8, 10).try_into().expect("8");
    let g_ir = bytes(256, 11);
    let keys = IkeKeys::from_shared_secret(
        &suite,
        &SecretBytes::from_slice(&g_ir),
        &ni,
        &nr,
        &spi_i,
        &spi_r,
    )
    .expect("keys");

    let skeyseed = hmac_sha1(&[&ni[..], &nr].concat(), &[&g_ir]);
    let seed = [&ni[..], &nr, &spi_i, &spi_r].concat();
    // SK_d 20, SK_ai 20, SK_ar 20, SK_ei 16, SK_er 16, SK_pi 20, SK_pr 20.
    let km = prf_plus_sha1(&skeyseed, &seed, 3 * 20 + 2 * 20 + 2 * 16);
    let mut at = 0;
    let mut next = |n: usize| {
        at += n;
        hex::encode(&km[at - n..at])
    };
    let got = [
        &keys.sk_d,
        &keys.sk_ai,
        &keys.sk_ar,
        &keys.sk_ei,
        &keys.sk_er,
        &keys.sk_pi,
        &keys.sk_pr,
    ]
    .map(|k| hex::encode(k.expose()));
    let want = [
        next(20),
        next(20),
        next(20),
        next(16),
        next(16),
        next(20),
        next(20),
    ];
    assert_eq!(got, want, "SK_d, SK_ai, SK_ar, SK_ei, SK_er, SK_pi, SK_pr");

    let (cni, cnr, g_new) = (bytes(32, 12), bytes(32, 13), bytes(256, 14));
    let len = 2 * (16 + 20);
    let plain = keymat::child_keymat(
        PrfAlgorithm::HmacSha1,
        &keys.sk_d,
        None,
        &cni,
        &cnr,
        &[],
        len,
    )
    .expect("KEYMAT");
    assert_eq!(
        plain.expose(),
        &prf_plus_sha1(keys.sk_d.expose(), &[&cni[..], &cnr].concat(), len)[..]
    );
    let g_new_secret = SecretBytes::from_slice(&g_new);
    let pfs = keymat::child_keymat(
        PrfAlgorithm::HmacSha1,
        &keys.sk_d,
        Some(&g_new_secret),
        &cni,
        &cnr,
        &[],
        len,
    )
    .expect("KEYMAT");
    assert_eq!(
        pfs.expose(),
        &prf_plus_sha1(keys.sk_d.expose(), &[&g_new[..], &cni, &cnr].concat(), len)[..]
    );
    // RFC 9370 section 2.2.4: the secrets of the IKE_FOLLOWUP_KE exchanges follow Nr.
    let (sk1, sk2) = (bytes(32, 15), bytes(32, 16));
    let extra = [SecretBytes::from_slice(&sk1), SecretBytes::from_slice(&sk2)];
    let multi = keymat::child_keymat(
        PrfAlgorithm::HmacSha1,
        &keys.sk_d,
        Some(&g_new_secret),
        &cni,
        &cnr,
        &extra,
        len,
    )
    .expect("KEYMAT");
    assert_eq!(
        multi.expose(),
        &prf_plus_sha1(
            keys.sk_d.expose(),
            &[&g_new[..], &cni, &cnr, &sk1, &sk2].concat(),
            len
        )[..]
    );
    assert_ne!(multi.expose(), pfs.expose());
    let seed = keymat::rekey_skeyseed(
        PrfAlgorithm::HmacSha1,
        &keys.sk_d,
        &g_new_secret,
        &cni,
        &cnr,
        &extra,
    );
    assert_eq!(
        seed.expose(),
        &hmac_sha1(keys.sk_d.expose(), &[&g_new[..], &cni, &cnr, &sk1, &sk2])[..],
        "rekey SKEYSEED with additional key exchanges"
    );
}

// -- SK payloads byte for byte -----------------------------------------------------

const IKE_HEADER_LEN: usize = 28;

/// An INFORMATIONAL request header; next payload and length are the protector's to
/// fill in.
fn ike_header() -> [u8; IKE_HEADER_LEN] {
    let mut h = [0u8; IKE_HEADER_LEN];
    h[..8].copy_from_slice(&bytes(8, 0x40));
    h[8..16].copy_from_slice(&bytes(8, 0x50));
    h[17] = 0x20; // IKEv2
    h[18] = 37; // INFORMATIONAL
    h[19] = 0x08; // from the original initiator
    h[20..24].copy_from_slice(&5u32.to_be_bytes());
    h
}

/// The IKE header with next payload SK (46) and the message's length, then the SK
/// payload header (next payload: the first inner one; length of the SK payload).
fn headers(total: usize, first_inner: PayloadType) -> Vec<u8> {
    let mut m = ike_header().to_vec();
    m[16] = PayloadType::SK.0;
    m[24..28].copy_from_slice(&(total as u32).to_be_bytes());
    m.push(first_inner.0);
    m.push(0);
    m.extend(((total - IKE_HEADER_LEN) as u16).to_be_bytes());
    m
}

/// Inner payload chains of several lengths (0, odd, whole blocks and one over).
fn inners() -> Vec<Vec<u8>> {
    [0usize, 1, 8, 15, 16, 17, 100, 1000]
        .iter()
        .map(|&n| bytes(n, n as u8))
        .collect()
}

/// The keys of both directions: SK_ei, SK_ai, SK_er, SK_ar.
fn keys(encr: EncrAlgorithm, integ: Option<IntegAlgorithm>) -> [Vec<u8>; 4] {
    let ek = encr.keymat_len();
    let ak = integ.map_or(0, |i| i.key_len());
    [
        bytes(ek, 0x61),
        bytes(ak, 0x62),
        bytes(ek, 0x63),
        bytes(ak, 0x64),
    ]
}

/// Builds one message by hand: (SK_e, SK_a, IV, inner payloads) -> message.
type Expected<'a> = &'a dyn Fn(&[u8], &[u8], &[u8], &[u8]) -> Vec<u8>;
/// Predicts the next IV from a twin of the protector's RNG (and the AEAD counter).
type NextIv<'a> = &'a dyn Fn(&mut ChaCha20Rng, &mut Option<u64>) -> Vec<u8>;

/// Builds with `SkProtector` (initiator and responder) and by hand: the messages must
/// be equal, octet for octet. `expected` builds one message by hand from the outbound
/// keys and the IV `next_iv` predicts.
fn check_exact(
    encr: EncrAlgorithm,
    integ: Option<IntegAlgorithm>,
    expected: Expected<'_>,
    next_iv: NextIv<'_>,
) {
    let [ei, ai, er, ar] = keys(encr, integ);
    for (initiator, (ek, ak)) in [(true, (&ei, &ai)), (false, (&er, &ar))] {
        let mut p = if initiator {
            SkProtector::initiator(encr, integ, &ei, &ai, &er, &ar)
        } else {
            SkProtector::responder(encr, integ, &ei, &ai, &er, &ar)
        }
        .expect("protector");
        // The RNG the protector draws IVs from, and a twin that predicts them.
        let seed = 0x5eed_0000 + u64::from(initiator);
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut twin = ChaCha20Rng::seed_from_u64(seed);
        let mut counter = None;
        for inner in inners() {
            let got = p
                .encrypt_message(&ike_header(), PayloadType::NOTIFY, &inner, &mut rng)
                .expect("encrypt");
            let iv = next_iv(&mut twin, &mut counter);
            let want = expected(ek, ak, &iv, &inner);
            assert_eq!(
                hex::encode(&got),
                hex::encode(&want),
                "{encr:?} {integ:?} initiator {initiator}: {} octets of payloads",
                inner.len()
            );
        }
    }
}

#[test]
fn sk_payload_cbc_hmac_byte_exact() {
    let mut suites = 0;
    for key_bits in [128u16, 192, 256] {
        for integ in [
            IntegAlgorithm::HmacSha1_96,
            IntegAlgorithm::HmacSha256_128,
            IntegAlgorithm::HmacSha384_192,
            IntegAlgorithm::HmacSha512_256,
        ] {
            let icv_len = match integ {
                IntegAlgorithm::HmacSha1_96 => 12,
                IntegAlgorithm::HmacSha256_128 => 16,
                IntegAlgorithm::HmacSha384_192 => 24,
                IntegAlgorithm::HmacSha512_256 => 32,
                other => panic!("no ICV length for {other:?}"),
            };
            let expected = |ek: &[u8], ak: &[u8], iv: &[u8], inner: &[u8]| {
                let pad = 15 - inner.len() % 16;
                let mut pt = inner.to_vec();
                pt.resize(inner.len() + pad, 0);
                pt.push(pad as u8);
                let total = IKE_HEADER_LEN + 4 + 16 + pt.len() + icv_len;
                let mut m = headers(total, PayloadType::NOTIFY);
                m.extend_from_slice(iv);
                m.extend(aes_cbc_encrypt(ek, iv, &pt));
                let icv = hmac(hmac_alg(integ), ak, &[&m]);
                m.extend_from_slice(&icv[..icv_len]);
                m
            };
            // CBC: 16 fresh random octets per message.
            let next_iv = |rng: &mut ChaCha20Rng, _: &mut Option<u64>| {
                let mut iv = vec![0u8; 16];
                rng.fill_bytes(&mut iv);
                iv
            };
            check_exact(
                EncrAlgorithm::AesCbc { key_bits },
                Some(integ),
                &expected,
                &next_iv,
            );
            suites += 1;
        }
    }
    assert_eq!(suites, 12);
}

#[test]
fn sk_payload_aes_gcm_byte_exact() {
    let mut suites = 0;
    for key_bits in [128u16, 192, 256] {
        for icv_len in [8u8, 12, 16] {
            let expected = |ek: &[u8], _: &[u8], iv: &[u8], inner: &[u8]| {
                let (key, salt) = ek.split_at(ek.len() - 4);
                let mut pt = inner.to_vec();
                pt.push(0); // pad length: no padding
                let total = IKE_HEADER_LEN + 4 + 8 + pt.len() + usize::from(icv_len);
                let mut m = headers(total, PayloadType::NOTIFY);
                let mut nonce = [0u8; 12];
                nonce[..4].copy_from_slice(salt);
                nonce[4..].copy_from_slice(iv);
                let sealed = aes_gcm_seal(key, nonce, &m, &pt, usize::from(icv_len));
                m.extend_from_slice(iv);
                m.extend(sealed);
                m
            };
            // GCM: a random 64-bit start drawn once, then one more per message.
            let next_iv = |rng: &mut ChaCha20Rng, counter: &mut Option<u64>| {
                let c = counter.get_or_insert_with(|| {
                    let mut start = [0u8; 8];
                    rng.fill_bytes(&mut start);
                    u64::from_be_bytes(start)
                });
                let iv = c.to_be_bytes().to_vec();
                *c = c.wrapping_add(1);
                iv
            };
            check_exact(
                EncrAlgorithm::AesGcm { key_bits, icv_len },
                None,
                &expected,
                &next_iv,
            );
            suites += 1;
        }
    }
    assert_eq!(suites, 9);
}
