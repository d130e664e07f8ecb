//! Signatures of public-key authentication (`crypto::signature`): every scheme signs
//! and verifies with keys aws-lc-rs generates, and fails on a changed message, a
//! changed signature, another key or another key type; SHA-1 is refused unless asked
//! for; method 14's AUTH data round-trips; the scheme follows the peer's
//! SIGNATURE_HASH_ALGORITHMS as strongSwan chooses; keys load from PKCS#8, PKCS#1 and
//! SEC1 DER, and their SubjectPublicKeyInfo gives back a public key that verifies.
#![allow(clippy::unwrap_used)]

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair};
use ikev2::crypto::signature::{
    HashAlgorithm, KeyKind, PrivateKey, PublicKey, SignatureError, SignatureScheme,
};
use ikev2::wire::AuthMethod;

const OCTETS: &[u8] = b"IKE_SA_INIT request | Nr | prf(SK_pi, IDi')";

fn rsa(size: KeySize) -> PrivateKey {
    let k = RsaKeyPair::generate(size).expect("RSA key");
    let der =
        aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&k).expect("PKCS#8");
    PrivateKey::from_der(der.as_ref()).expect("loads")
}

fn ecdsa(alg: &'static sig::EcdsaSigningAlgorithm) -> PrivateKey {
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &SystemRandom::new()).expect("EC key");
    PrivateKey::from_der(pkcs8.as_ref()).expect("loads")
}

fn ed25519() -> PrivateKey {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("Ed25519 key");
    PrivateKey::from_der(pkcs8.as_ref()).expect("loads")
}

fn public(k: &PrivateKey) -> PublicKey {
    PublicKey::from_spki(k.spki()).expect("its SPKI parses")
}

#[test]
fn every_scheme_signs_and_verifies_and_rejects_tampering() {
    use HashAlgorithm::*;
    use SignatureScheme::*;
    let rsa2048 = rsa(KeySize::Rsa2048);
    let cases: Vec<(PrivateKey, Vec<SignatureScheme>)> = vec![
        (
            rsa(KeySize::Rsa2048),
            vec![
                RsaPkcs1(Sha256),
                RsaPkcs1(Sha384),
                RsaPkcs1(Sha512),
                RsaPss(Sha256),
                RsaPss(Sha384),
                RsaPss(Sha512),
            ],
        ),
        (
            ecdsa(&sig::ECDSA_P256_SHA256_ASN1_SIGNING),
            vec![Ecdsa(Sha256)],
        ),
        (
            ecdsa(&sig::ECDSA_P384_SHA384_ASN1_SIGNING),
            vec![Ecdsa(Sha384)],
        ),
        (
            ecdsa(&sig::ECDSA_P521_SHA512_ASN1_SIGNING),
            vec![Ecdsa(Sha512)],
        ),
        (ed25519(), vec![Ed25519]),
    ];
    let mut checked = 0;
    for (key, schemes) in &cases {
        let pk = public(key);
        assert_eq!(pk.kind(), key.kind());
        for &scheme in schemes {
            let s = key.sign(scheme, OCTETS).expect("signs");
            pk.verify(scheme, OCTETS, &s, false)
                .unwrap_or_else(|e| panic!("{scheme} with {:?}: {e}", key.kind()));
            assert_eq!(
                pk.verify(scheme, b"other octets", &s, false),
                Err(SignatureError::BadSignature),
                "{scheme}"
            );
            let mut bad = s.clone();
            let last = bad.len() - 1;
            bad[last] ^= 1;
            assert!(pk.verify(scheme, OCTETS, &bad, false).is_err(), "{scheme}");
            // Another key of the same type does not verify it.
            if matches!(key.kind(), KeyKind::Rsa { .. }) {
                assert_eq!(
                    public(&rsa2048).verify(scheme, OCTETS, &s, false),
                    Err(SignatureError::BadSignature)
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 10);
    // A key of another type is told apart before any signature check.
    let ec = ecdsa(&sig::ECDSA_P256_SHA256_ASN1_SIGNING);
    let s = ec.sign(Ecdsa(Sha256), OCTETS).unwrap();
    assert!(matches!(
        public(&rsa2048).verify(Ecdsa(Sha256), OCTETS, &s, false),
        Err(SignatureError::WrongKeyType { key: "RSA", .. })
    ));
    assert!(matches!(
        rsa2048.sign(SignatureScheme::Ed25519, OCTETS),
        Err(SignatureError::WrongKeyType { .. })
    ));
}

#[test]
fn auth_data_round_trips_and_unknown_or_sha1_algorithms_are_refused() {
    use HashAlgorithm::*;
    use SignatureScheme::*;
    let key = rsa(KeySize::Rsa2048);
    let pk = public(&key);
    for scheme in [RsaPkcs1(Sha256), RsaPss(Sha384), RsaPkcs1(Sha512)] {
        let data = scheme.auth_data(&key.sign(scheme, OCTETS).unwrap());
        assert_eq!(usize::from(data[0]), scheme.algorithm_identifier().len());
        let (got, s) = SignatureScheme::parse_auth_data(&data).expect("parses");
        assert_eq!(got, scheme);
        pk.verify(got, OCTETS, s, false).expect("verifies");
    }
    // RFC 7427 allows the parameters of RSA PKCS#1 to be absent instead of NULL.
    let no_null = [
        &[0x0d][..],
        &[
            0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b,
        ],
        &[0xaa; 256],
    ]
    .concat();
    assert_eq!(
        SignatureScheme::parse_auth_data(&no_null).map(|(s, _)| s),
        Ok(RsaPkcs1(Sha256))
    );
    // sha1WithRSAEncryption: known, refused by default with a sentence that says so.
    let sha1 = [
        &[0x0f][..],
        &[
            0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05, 0x05,
            0x00,
        ],
        &[0x55; 256],
    ]
    .concat();
    let (scheme, s) = SignatureScheme::parse_auth_data(&sha1).unwrap();
    assert_eq!(scheme, RsaPkcs1(Sha1));
    let e = pk.verify(scheme, OCTETS, s, false).unwrap_err();
    assert_eq!(e, SignatureError::NotAcceptable(RsaPkcs1(Sha1)));
    assert!(e.to_string().contains("SHA-1"), "{e}");
    // An unknown AlgorithmIdentifier, and a truncated one.
    let odd = [&[0x04][..], &[0x30, 0x02, 0x05, 0x00], &[1, 2, 3]].concat();
    assert!(matches!(
        SignatureScheme::parse_auth_data(&odd),
        Err(SignatureError::UnknownAlgorithm(_))
    ));
    assert_eq!(
        SignatureScheme::parse_auth_data(&[0x20, 0x30]),
        Err(SignatureError::Truncated)
    );
    assert_eq!(
        SignatureScheme::parse_auth_data(&[]),
        Err(SignatureError::Truncated)
    );
}

#[test]
fn scheme_follows_the_peers_hashes_as_strongswan_chooses() {
    use HashAlgorithm::*;
    use SignatureScheme::*;
    let all = HashAlgorithm::ANNOUNCED;
    assert_eq!(
        rsa(KeySize::Rsa2048).choose_scheme(&all),
        Ok(RsaPkcs1(Sha256))
    );
    // strongSwan signs with SHA-384 first above 3072 bits.
    assert_eq!(
        rsa(KeySize::Rsa4096).choose_scheme(&all),
        Ok(RsaPkcs1(Sha384))
    );
    assert_eq!(
        rsa(KeySize::Rsa2048).choose_scheme(&[Sha512]),
        Ok(RsaPkcs1(Sha512))
    );
    // `auth = rsa/pss`: the same hashes with RSASSA-PSS; other keys are unaffected.
    assert_eq!(
        rsa(KeySize::Rsa4096).choose_scheme_with(&all, true),
        Ok(RsaPss(Sha384))
    );
    assert_eq!(
        ed25519().choose_scheme_with(&all, true),
        Ok(SignatureScheme::Ed25519)
    );
    assert_eq!(
        ecdsa(&sig::ECDSA_P384_SHA384_ASN1_SIGNING).choose_scheme(&all),
        Ok(Ecdsa(Sha384))
    );
    assert_eq!(ed25519().choose_scheme(&all), Ok(Ed25519));
    // A peer without Identity (5) cannot verify Ed25519.
    let e = ed25519().choose_scheme(&[Sha256, Sha384]).unwrap_err();
    assert!(
        e.to_string().contains("Ed25519") && e.to_string().contains("SHA-384"),
        "{e}"
    );
    // The notify's data both ways: IDs in order, unknown ones and SHA-1 kept apart.
    assert_eq!(HashAlgorithm::notify_data(&all), [0, 2, 0, 3, 0, 4, 0, 5]);
    assert_eq!(
        HashAlgorithm::parse_notify(&[0, 1, 0, 2, 0, 9, 0, 5, 7]),
        [Sha1, Sha256, Identity]
    );
}

#[test]
fn classic_ecdsa_methods_sign_r_and_s_of_fixed_length() {
    for (alg, method, len) in [
        (
            &sig::ECDSA_P256_SHA256_ASN1_SIGNING,
            AuthMethod::ECDSA_SHA256_P256,
            64,
        ),
        (
            &sig::ECDSA_P384_SHA384_ASN1_SIGNING,
            AuthMethod::ECDSA_SHA384_P384,
            96,
        ),
        (
            &sig::ECDSA_P521_SHA512_ASN1_SIGNING,
            AuthMethod::ECDSA_SHA512_P521,
            132,
        ),
    ] {
        let key = ecdsa(alg);
        assert_eq!(key.kind().classic_method(), Some(method));
        let s = key.sign_classic(OCTETS).expect("signs");
        assert_eq!(s.len(), len);
        let pk = public(&key);
        pk.verify_classic(method, OCTETS, &s, false)
            .expect("verifies");
        assert_eq!(
            pk.verify_classic(method, b"changed", &s, false),
            Err(SignatureError::BadSignature)
        );
    }
    // Method 1 is RSA with SHA-1: refused unless allowed; never made.
    let key = rsa(KeySize::Rsa2048);
    assert_eq!(key.kind().classic_method(), None);
    assert!(matches!(
        public(&key).verify_classic(AuthMethod::RSA_SIG, OCTETS, &[0; 256], false),
        Err(SignatureError::NotAcceptable(_))
    ));
    assert_eq!(
        public(&key).verify_classic(AuthMethod::RSA_SIG, OCTETS, &[0; 256], true),
        Err(SignatureError::BadSignature)
    );
}

#[test]
fn keys_load_from_pkcs1_and_sec1_too_and_garbage_is_refused() {
    // PKCS#1 RSAPrivateKey, as `pki --gen --type rsa` writes it.
    let k = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let pkcs1 = aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&k).unwrap();
    // (aws-lc writes PKCS#8; the RSAPrivateKey is its last OCTET STRING's content.)
    let der = pkcs1.as_ref();
    let inner = &der[der.len() - rsa_private_key_len(der)..];
    let key = PrivateKey::from_der(inner).expect("PKCS#1 loads");
    assert!(matches!(key.kind(), KeyKind::Rsa { bits: 2048 }));
    // SEC1 ECPrivateKey, as `pki --gen --type ecdsa` writes it.
    let ec = EcdsaKeyPair::generate(&sig::ECDSA_P384_SHA384_ASN1_SIGNING).unwrap();
    let sec1 = ec.private_key().as_der().unwrap();
    let key = PrivateKey::from_der(sec1.as_ref()).expect("SEC1 loads");
    assert_eq!(key.kind(), KeyKind::EcdsaP384);
    let s = key
        .sign(SignatureScheme::Ecdsa(HashAlgorithm::Sha384), OCTETS)
        .unwrap();
    public(&key)
        .verify(
            SignatureScheme::Ecdsa(HashAlgorithm::Sha384),
            OCTETS,
            &s,
            false,
        )
        .unwrap();
    assert!(matches!(
        PrivateKey::from_der(&[0x30, 0x03, 0x02, 0x01, 0x00]),
        Err(SignatureError::BadKey(_))
    ));
    assert!(PublicKey::from_spki(&[0x30, 0x00]).is_err());
    // Debug shows the key's kind, never its contents.
    assert_eq!(format!("{key:?}"), "PrivateKey(ECDSA P-384)");
}

/// The length of the RSAPrivateKey at the end of a PKCS#8 PrivateKeyInfo: the
/// content of its privateKey OCTET STRING (a long-form length of 2 octets for
/// 2048-bit keys).
fn rsa_private_key_len(pkcs8: &[u8]) -> usize {
    // Find the OCTET STRING (04 82 hi lo) followed by the RSAPrivateKey SEQUENCE.
    let at = pkcs8
        .windows(5)
        .position(|w| w[0] == 0x04 && w[1] == 0x82 && w[4] == 0x30)
        .expect("an OCTET STRING holding a SEQUENCE");
    usize::from(u16::from_be_bytes([pkcs8[at + 2], pkcs8[at + 3]]))
}
