//! ML-KEM (FIPS 203) as key exchange methods 35-37: agreement of both roles through
//! [`ke`](ikev2::crypto::ke), interoperation with an independent implementation
//! (aws-lc-rs) in both directions, the encapsulation key check of FIPS 203 section
//! 7.2, length checks, and NIST ACVP known answers (tests/data/mlkem_acvp.json, with
//! its sources).

use aws_lc_rs::kem as lc;
use ikev2::crypto::dh::{DhError, InvalidPublicValue};
use ikev2::crypto::ke::{KeInitiator, respond};
use ikev2::crypto::kem::{self, MlKemInitiator};
use ikev2::wire::DhGroup;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::Value;

fn lc_alg(m: DhGroup) -> &'static lc::Algorithm<lc::AlgorithmId> {
    match m {
        DhGroup::ML_KEM_512 => &lc::ML_KEM_512,
        DhGroup::ML_KEM_768 => &lc::ML_KEM_768,
        _ => &lc::ML_KEM_1024,
    }
}

#[test]
fn both_roles_agree_for_every_parameter_set_and_with_diffie_hellman_too() {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    for m in kem::METHODS
        .into_iter()
        .chain([DhGroup::CURVE25519, DhGroup::ECP_256])
    {
        let i = KeInitiator::start(m, &mut rng).expect("start");
        assert_eq!(i.method(), m);
        let (answer, r_secret) = respond(m, i.public_value(), &mut rng).expect("respond");
        let i_secret = i.finish(&answer).expect("finish");
        assert_eq!(i_secret.expose(), r_secret.expose(), "{m}");
        if kem::is_ml_kem(m) {
            let (ek, ct) = kem::ke_data_len(m).expect("sizes");
            assert_eq!(i.public_value().len(), ek, "{m}");
            assert_eq!(answer.len(), ct, "{m}");
            assert_eq!(i_secret.len(), 32);
        }
    }
}

/// Ours against aws-lc-rs's ML-KEM, both ways: the encodings and the shared
/// secrets agree.
#[test]
fn interoperates_with_aws_lc_both_ways() {
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    for m in kem::METHODS {
        // We are the initiator, aws-lc the responder.
        let ours = MlKemInitiator::generate(m, &mut rng).expect("keygen");
        let their_ek = lc::EncapsulationKey::new(lc_alg(m), ours.public_value())
            .expect("aws-lc takes our encapsulation key");
        let (ct, theirs) = their_ek.encapsulate().expect("aws-lc encapsulates");
        let mine = ours.shared_secret(ct.as_ref()).expect("we decapsulate");
        assert_eq!(mine.expose(), theirs.as_ref(), "{m}: we initiate");
        // aws-lc is the initiator, we respond.
        let dk = lc::DecapsulationKey::generate(lc_alg(m)).expect("aws-lc keygen");
        let ek = dk.encapsulation_key().expect("ek");
        let ek_bytes = ek.key_bytes().expect("ek bytes");
        let (ct, mine) = respond(m, ek_bytes.as_ref(), &mut rng).expect("we encapsulate");
        let theirs = dk
            .decapsulate(lc::Ciphertext::from(ct.as_slice()))
            .expect("aws-lc decapsulates");
        assert_eq!(mine.expose(), theirs.as_ref(), "{m}: we respond");
    }
}

/// FIPS 203 section 7.2: a key whose coefficient encoding holds a value of q or
/// more is refused before encapsulation, as is a key of the wrong length; the
/// initiator refuses a ciphertext of the wrong length.
#[test]
fn malformed_keys_and_ciphertexts_are_refused() {
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    for m in kem::METHODS {
        let i = MlKemInitiator::generate(m, &mut rng).expect("keygen");
        let ek = i.public_value().to_vec();
        assert_eq!(kem::check_encapsulation_key(m, &ek), Ok(()));
        // First coefficient = 0xfff (4095 >= q), second unchanged.
        let mut bad = ek.clone();
        bad[0] = 0xff;
        bad[1] |= 0x0f;
        let out_of_range = Err(DhError::InvalidPublicValue {
            group: m,
            reason: InvalidPublicValue::OutOfRange,
        });
        assert_eq!(kem::check_encapsulation_key(m, &bad), out_of_range);
        assert_eq!(respond(m, &bad, &mut rng).map(|_| ()), out_of_range);
        // Exactly q in the second coefficient of the last triple of t-hat.
        let k = ek.len() / 384;
        let last = 384 * k - 3;
        let mut at_q = ek.clone();
        at_q[last + 1] = (at_q[last + 1] & 0x0f) | ((3329 & 0x0f) << 4) as u8;
        at_q[last + 2] = (3329 >> 4) as u8;
        assert_eq!(kem::check_encapsulation_key(m, &at_q), out_of_range);
        // q - 1 is fine.
        at_q[last + 1] = (at_q[last + 1] & 0x0f) | ((3328 & 0x0f) << 4) as u8;
        at_q[last + 2] = (3328 >> 4) as u8;
        assert_eq!(kem::check_encapsulation_key(m, &at_q), Ok(()));
        // The 32-octet seed rho at the end is not checked (any value is fine).
        let mut rho = ek.clone();
        let n = rho.len();
        rho[n - 1] = 0xff;
        assert_eq!(kem::check_encapsulation_key(m, &rho), Ok(()));
        for len in [0, ek.len() - 1, ek.len() + 1] {
            assert!(
                matches!(
                    kem::check_encapsulation_key(m, &vec![0; len]),
                    Err(DhError::InvalidPublicValue {
                        reason: InvalidPublicValue::Length { .. },
                        ..
                    })
                ),
                "{m}: ek of {len} octets"
            );
        }
        let (ct, _) = respond(m, &ek, &mut rng).expect("respond");
        assert!(i.shared_secret(&ct[1..]).is_err());
        assert!(i.shared_secret(&[ct.as_slice(), &[0]].concat()).is_err());
        // A changed ciphertext of the right length: implicit rejection, a different
        // secret, no error.
        let mut changed = ct.clone();
        changed[0] ^= 1;
        let good = i.shared_secret(&ct).expect("good");
        let other = i.shared_secret(&changed).expect("implicit rejection");
        assert_ne!(good.expose(), other.expose());
    }
    assert_eq!(
        KeInitiator::start(DhGroup::MODP_1024, &mut rng).map(|_| ()),
        Err(DhError::UnsupportedGroup(DhGroup::MODP_1024))
    );
    assert_eq!(
        format!(
            "{:?}",
            MlKemInitiator::generate(DhGroup::ML_KEM_768, &mut rng).expect("keygen")
        ),
        "MlKemInitiator { method: ML_KEM_768, .. }"
    );
}

fn kat_file() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/mlkem_acvp.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn hex(v: &Value, field: &str) -> Vec<u8> {
    let s = v[field]
        .as_str()
        .unwrap_or_else(|| panic!("vector {} has no {field}", v["id"]));
    ::hex::decode(s).unwrap_or_else(|e| panic!("vector {}: {field}: {e}", v["id"]))
}

fn method(v: &Value) -> DhGroup {
    match v["parameter_set"].as_str() {
        Some("ML-KEM-512") => DhGroup::ML_KEM_512,
        Some("ML-KEM-768") => DhGroup::ML_KEM_768,
        Some("ML-KEM-1024") => DhGroup::ML_KEM_1024,
        other => panic!("vector {}: parameter set {other:?}", v["id"]),
    }
}

fn b32(v: &Value, field: &str) -> [u8; 32] {
    hex(v, field)
        .try_into()
        .unwrap_or_else(|_| panic!("vector {}: {field} is not 32 octets", v["id"]))
}

/// NIST ACVP known answers: key generation from (d, z), encapsulation with a given
/// m, decapsulation (with a changed ciphertext among them: implicit rejection).
#[test]
fn nist_acvp_known_answers() {
    let file = kat_file();
    let all = file["vectors"].as_array().expect("vectors");
    let mut counts = [0usize; 3];
    for v in all {
        let m = method(v);
        match v["function"].as_str() {
            Some("keyGen") => {
                let i = MlKemInitiator::from_seed(m, &b32(v, "d"), &b32(v, "z")).expect("keygen");
                assert_eq!(i.public_value(), hex(v, "ek"), "{}: ek", v["id"]);
                assert_eq!(
                    i.decapsulation_key().expose(),
                    hex(v, "dk").as_slice(),
                    "{}: dk",
                    v["id"]
                );
                counts[0] += 1;
            }
            Some("encapsulation") => {
                let (c, k) = kem::encapsulate_with(m, &hex(v, "ek"), &b32(v, "m")).expect("encaps");
                assert_eq!(c, hex(v, "c"), "{}: c", v["id"]);
                assert_eq!(k.expose(), hex(v, "k").as_slice(), "{}: k", v["id"]);
                counts[1] += 1;
            }
            Some("decapsulation") => {
                let k = kem::decapsulate_with(m, &hex(v, "dk"), &hex(v, "c")).expect("decaps");
                assert_eq!(k.expose(), hex(v, "k").as_slice(), "{}: k", v["id"]);
                counts[2] += 1;
            }
            other => panic!("vector {}: function {other:?}", v["id"]),
        }
    }
    // Each parameter set, each function: a truncated file fails.
    assert_eq!(
        counts,
        [6, 6, 6],
        "keyGen, encapsulation, decapsulation vectors"
    );
}
