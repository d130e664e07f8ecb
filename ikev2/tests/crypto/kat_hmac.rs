//! The PRFs against HMAC known answers (shared/vectors/primitives/hmac_sha2_rfc4868.json
//! and RFC 2202 for HMAC-SHA1).

use crate::vectors;

use ikev2::crypto::algorithms::PrfAlgorithm;
use ikev2::crypto::prf::Prf;

/// The PRF computing the same HMAC, and the octets kept: all for PRF vectors, the
/// RFC 4868 truncation for integrity vectors.
fn hmac_named(name: &str) -> (PrfAlgorithm, usize) {
    match name {
        "PRF_HMAC_SHA2_256" => (PrfAlgorithm::HmacSha256, 32),
        "PRF_HMAC_SHA2_384" => (PrfAlgorithm::HmacSha384, 48),
        "PRF_HMAC_SHA2_512" => (PrfAlgorithm::HmacSha512, 64),
        "AUTH_HMAC_SHA2_256_128" => (PrfAlgorithm::HmacSha256, 16),
        "AUTH_HMAC_SHA2_384_192" => (PrfAlgorithm::HmacSha384, 24),
        "AUTH_HMAC_SHA2_512_256" => (PrfAlgorithm::HmacSha512, 32),
        other => panic!("unknown HMAC {other} in a vector file"),
    }
}

#[test]
fn rfc4868_hmac_sha2() {
    let file = vectors::load("primitives/hmac_sha2_rfc4868.json");
    let list = vectors::vectors(&file, "hmac_sha2_rfc4868", 24);
    let (mut as_prf, mut as_icv) = (0, 0);
    for v in list {
        let id = vectors::id(v);
        let alg = vectors::str_field(v, "alg");
        let (prf, keep) = hmac_named(alg);
        let expected = vectors::hex_field(v, "output");
        assert_eq!(expected.len(), keep, "{id}");
        let key = vectors::hex_field(v, "key");
        let data = vectors::hex_field(v, "data");
        let out = prf.prf(&key, &[&data]);
        assert_eq!(out.len(), prf.output_len(), "{id}");
        assert_eq!(&out.expose()[..keep], &expected[..], "{id}");
        // Splitting the data into parts must not change the result.
        let (a, b) = data.split_at(data.len() / 3);
        assert_eq!(prf.prf(&key, &[a, &[], b]), out, "{id}: parts");
        if alg.starts_with("PRF_") {
            as_prf += 1;
        } else {
            as_icv += 1;
        }
    }
    assert_eq!((as_prf, as_icv), (15, 9));
}

/// RFC 2202 section 3 test cases 1 and 6 (the vector files have no HMAC-SHA1).
#[test]
fn rfc2202_hmac_sha1() {
    let sha1 = PrfAlgorithm::HmacSha1;
    assert_eq!(
        hex::encode(sha1.prf(&[0x0b; 20], &[b"Hi There"]).expose()),
        "b617318655057264e28bc0b6fb378c8ef146be00"
    );
    assert_eq!(
        hex::encode(
            sha1.prf(
                &[0xaa; 80],
                &[b"Test Using Larger Than Block-Size Key - Hash Key First"]
            )
            .expose()
        ),
        "aa4ae5e15272d00e95705637ce8a3b55ed402112"
    );
}

/// RFC 4231 section 4.6, test case 5 ("Test With Truncation", output truncated to 128
/// bits): the one RFC 4231 case the RFC 4868 file does not carry. Expected values are
/// the RFC's, re-checked with Python's `hmac` module.
#[test]
fn rfc4231_test_case_5_truncation() {
    let key = [0x0c; 20];
    let data: &[u8] = b"Test With Truncation";
    for (prf, expected) in [
        (PrfAlgorithm::HmacSha256, "a3b6167473100ee06e0c796c2955552b"),
        (PrfAlgorithm::HmacSha384, "3abf34c3503b2a23a46efc619baef897"),
        (PrfAlgorithm::HmacSha512, "415fad6271580a531d4179bc891d87a6"),
    ] {
        let out = prf.prf(&key, &[data]);
        assert_eq!(hex::encode(&out.expose()[..16]), expected, "{prf:?}");
    }
}
