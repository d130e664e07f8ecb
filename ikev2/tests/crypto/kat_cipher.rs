//! Known-answer tests of the SK primitives against the shared vectors
//! (`/work/shared/vectors`, see its README): AES-CBC, ChaCha20-Poly1305 (including the
//! RFC 7634 Appendix B IKEv2 SK payload), truncated HMAC-SHA2 (RFC 4868), and AES-GCM
//! (draft-mcgrew-gcm-test-01 ESP packets, whose AEAD math is the one IKE uses).
//!
//! The vector directory is `$CARGO_MANIFEST_DIR/../../shared/vectors` unless
//! `IKEV2D_VECTORS` names another. A missing file fails the test; nothing is skipped.

use std::path::PathBuf;

use ikev2::crypto::algorithms::{EncrAlgorithm, IntegAlgorithm};
use ikev2::crypto::cipher::{AeadCipher, CbcCipher, CryptoError, Integrity};
use serde_json::Value;

fn vectors_dir() -> PathBuf {
    match std::env::var_os("IKEV2D_VECTORS") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors"),
    }
}

/// The `vectors` list of a vector file; panics with the path if it cannot be read.
fn load(rel: &str) -> Vec<Value> {
    let path = vectors_dir().join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "test vectors missing: cannot read {} ({e}); set IKEV2D_VECTORS to the vectors directory",
            path.display()
        )
    });
    let doc: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    doc["vectors"]
        .as_array()
        .unwrap_or_else(|| panic!("{} has no `vectors` list", path.display()))
        .clone()
}

fn hex_field(v: &Value, name: &str) -> Vec<u8> {
    let s = v[name]
        .as_str()
        .unwrap_or_else(|| panic!("vector {} has no string field {name}", v["id"]));
    hex::decode(s).unwrap_or_else(|e| panic!("vector {} field {name}: {e}", v["id"]))
}

fn id(v: &Value) -> &str {
    v["id"].as_str().unwrap_or("?")
}

#[test]
fn aes_cbc_vectors() {
    let vectors = load("primitives/aes_cbc.json");
    assert_eq!(vectors.len(), 6, "aes_cbc.json vector count");
    let mut sizes = Vec::new();
    for v in &vectors {
        let key = hex_field(v, "key");
        let iv = hex_field(v, "iv");
        let pt = hex_field(v, "plaintext");
        let ct = hex_field(v, "ciphertext");
        let c = CbcCipher::new(&key).expect("valid AES key");
        sizes.push(c.key_bits());

        let mut buf = pt.clone();
        c.encrypt_in_place(&iv, &mut buf).expect("encrypt");
        assert_eq!(hex::encode(&buf), hex::encode(&ct), "{} encrypt", id(v));
        c.decrypt_in_place(&iv, &mut buf).expect("decrypt");
        assert_eq!(buf, pt, "{} decrypt", id(v));
    }
    sizes.sort_unstable();
    sizes.dedup();
    assert_eq!(sizes, [128, 192, 256], "all AES key sizes covered");
}

#[test]
fn aes_cbc_rejects_partial_blocks_and_bad_keys() {
    let c = CbcCipher::new(&[0u8; 16]).expect("key");
    let mut buf = [0u8; 17];
    assert_eq!(
        c.encrypt_in_place(&[0u8; 16], &mut buf),
        Err(CryptoError::BadLength)
    );
    assert_eq!(
        c.decrypt_in_place(&[0u8; 8], &mut buf[..16]),
        Err(CryptoError::BadLength)
    );
    assert!(matches!(
        CbcCipher::new(&[0u8; 20]),
        Err(CryptoError::BadKeyLength { .. })
    ));
}

#[test]
fn chacha20poly1305_vectors() {
    let vectors = load("primitives/chacha20poly1305.json");
    assert_eq!(vectors.len(), 3, "chacha20poly1305.json vector count");
    let mut saw_ikev2_example = false;
    for v in &vectors {
        let mut keymat = hex_field(v, "key");
        keymat.extend_from_slice(&hex_field(v, "salt"));
        let iv = hex_field(v, "iv");
        let aad = hex_field(v, "aad");
        let pt = hex_field(v, "plaintext");
        let expected = hex_field(v, "ciphertext_and_tag");
        let c = AeadCipher::new(EncrAlgorithm::ChaCha20Poly1305, &keymat).expect("key");
        assert_eq!(c.icv_len(), 16);

        let mut buf = pt.clone();
        let mut tag = [0u8; 16];
        c.seal_in_place(&iv, &aad, &mut buf, &mut tag)
            .expect("seal");
        buf.extend_from_slice(&tag);
        assert_eq!(hex::encode(&buf), hex::encode(&expected), "{} seal", id(v));

        let (ct, tag) = expected.split_at(expected.len() - 16);
        let mut buf = ct.to_vec();
        c.open_in_place(&iv, &aad, &mut buf, tag).expect("open");
        assert_eq!(buf, pt, "{} open", id(v));

        // Any change to the AAD is caught.
        let mut bad_aad = aad.clone();
        bad_aad[0] ^= 0x80;
        let mut buf = ct.to_vec();
        assert_eq!(
            c.open_in_place(&iv, &bad_aad, &mut buf, tag),
            Err(CryptoError::IntegrityCheckFailed),
            "{}",
            id(v)
        );
        assert_eq!(buf, ct, "{}: nothing decrypted on failure", id(v));

        if id(v) == "strongswan/chacha20poly1305_4" {
            // RFC 7634 Appendix B: the AAD is the IKE header and the SK payload header.
            assert_eq!(aad.len(), 28 + 4);
            assert_eq!(aad[16], 46, "IKE header next payload = SK");
            saw_ikev2_example = true;
        }
    }
    assert!(saw_ikev2_example, "RFC 7634 Appendix B vector present");
}

#[test]
fn hmac_sha2_truncated_icv_vectors() {
    let vectors = load("primitives/hmac_sha2_rfc4868.json");
    assert_eq!(vectors.len(), 24, "hmac_sha2_rfc4868.json vector count");
    let mut checked = 0;
    let mut prf_only = 0;
    for v in &vectors {
        let alg = match v["alg"].as_str() {
            Some("AUTH_HMAC_SHA2_256_128") => IntegAlgorithm::HmacSha256_128,
            Some("AUTH_HMAC_SHA2_384_192") => IntegAlgorithm::HmacSha384_192,
            Some("AUTH_HMAC_SHA2_512_256") => IntegAlgorithm::HmacSha512_256,
            Some(a) if a.starts_with("PRF_") => {
                // Full-output PRF vectors with 20..131-octet keys: the PRF's tests
                // (crypto/prf.rs) own them; an integrity key has the hash length.
                prf_only += 1;
                continue;
            }
            other => panic!("{}: unexpected alg {other:?}", id(v)),
        };
        let key = hex_field(v, "key");
        let data = hex_field(v, "data");
        let expected = hex_field(v, "output");
        let i = Integrity::new(alg, &key).expect("key has the hash length");
        assert_eq!(expected.len(), i.icv_len(), "{}", id(v));
        let mut icv = vec![0u8; i.icv_len()];
        i.compute(&[&data], &mut icv).expect("compute");
        assert_eq!(hex::encode(&icv), hex::encode(&expected), "{}", id(v));
        i.verify(&[&data], &expected).expect("verify");
        // Split input gives the same ICV.
        let (a, b) = data.split_at(data.len() / 2);
        i.verify(&[a, b], &expected).expect("verify split");
        let mut bad = expected.clone();
        *bad.last_mut().expect("non-empty") ^= 1;
        assert_eq!(
            i.verify(&[&data], &bad),
            Err(CryptoError::IntegrityCheckFailed)
        );
        checked += 1;
    }
    assert_eq!(checked, 9, "integrity vectors checked");
    assert_eq!(prf_only, 15, "PRF vectors left to prf.rs");
}

/// HMAC-SHA1-96 (RFC 2404): RFC 2202 section 3 test cases 1 and 3 (the ones with a
/// 20-octet key), truncated to 96 bits; recomputed with Python hashlib.
#[test]
fn hmac_sha1_96_vectors() {
    let cases: [(&[u8], &[u8], &str); 2] = [
        (&[0x0b; 20], b"Hi There", "b617318655057264e28bc0b6"),
        (&[0xaa; 20], &[0xdd; 50], "125d7342b9ac11cd91a39af4"),
    ];
    for (key, data, icv) in cases {
        let i = Integrity::new(IntegAlgorithm::HmacSha1_96, key).expect("key");
        let mut out = [0u8; 12];
        i.compute(&[data], &mut out).expect("compute");
        assert_eq!(hex::encode(out), icv);
    }
    assert!(matches!(
        Integrity::new(IntegAlgorithm::HmacSha1_96, &[0u8; 32]),
        Err(CryptoError::BadKeyLength {
            expected: 20,
            actual: 32
        })
    ));
}

#[test]
fn aes_gcm_vectors() {
    let vectors = load("esp/esp_aes_gcm_draft_mcgrew.json");
    assert_eq!(
        vectors.len(),
        14,
        "esp_aes_gcm_draft_mcgrew.json vector count"
    );
    let mut non_esn = 0;
    let mut sizes = Vec::new();
    for v in &vectors {
        // The AAD is given whole (SPI|seq32 or SPI|seq64), so ESN cases exercise the
        // same AEAD with a 12-octet AAD.
        if v["esn"] == Value::Bool(false) {
            non_esn += 1;
        }
        let key = hex_field(v, "enc_key");
        let key_bits = u16::try_from(key.len() * 8).expect("small");
        sizes.push(key_bits);
        let mut keymat = key.clone();
        keymat.extend_from_slice(&hex_field(v, "salt"));
        let iv = hex_field(v, "iv");
        let aad = hex_field(v, "aad");
        let pt = hex_field(v, "plaintext_with_trailer");
        let expected = hex_field(v, "ciphertext_and_icv");
        let (ct, tag16) = expected.split_at(expected.len() - 16);

        for icv_len in [16u8, 12, 8] {
            let c =
                AeadCipher::new(EncrAlgorithm::AesGcm { key_bits, icv_len }, &keymat).expect("key");
            let n = usize::from(icv_len);
            let mut buf = pt.clone();
            let mut tag = vec![0u8; n];
            c.seal_in_place(&iv, &aad, &mut buf, &mut tag)
                .expect("seal");
            assert_eq!(
                hex::encode(&buf),
                hex::encode(ct),
                "{} icv {icv_len}",
                id(v)
            );
            assert_eq!(
                hex::encode(&tag),
                hex::encode(&tag16[..n]),
                "{} icv {icv_len}",
                id(v)
            );

            let mut buf = ct.to_vec();
            c.open_in_place(&iv, &aad, &mut buf, &tag16[..n])
                .expect("open");
            assert_eq!(buf, pt, "{} icv {icv_len}", id(v));

            let mut buf = ct.to_vec();
            let mut bad = tag16[..n].to_vec();
            bad[n - 1] ^= 0x01;
            assert_eq!(
                c.open_in_place(&iv, &aad, &mut buf, &bad),
                Err(CryptoError::IntegrityCheckFailed),
                "{} icv {icv_len}",
                id(v)
            );
            assert_eq!(buf, ct, "{}: nothing decrypted on failure", id(v));
        }
    }
    assert_eq!(non_esn, 5, "non-ESN vectors");
    sizes.sort_unstable();
    sizes.dedup();
    assert_eq!(sizes, [128, 192, 256], "all AES key sizes covered");
}
