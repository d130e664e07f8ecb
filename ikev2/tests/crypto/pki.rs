//! Certificates and the trust decision (`ikev2::pki`), on chains the test makes with
//! rcgen: a 3-level chain verifies for RSA, ECDSA and Ed25519 end entities; an
//! expired certificate, a missing CA, a missing intermediate, a revoked
//! certificate, a missing CRL under `strict`/`ifuri`, a keyUsage without
//! digitalSignature, a tampered signature and truncated DER each fail with the
//! sentence an operator needs; IDs match the subjectAltName or subject as strongSwan
//! matches them; the CERTREQ hash is SHA-1 of the CA's SubjectPublicKeyInfo.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr};

use ikev2::config::Identity;
use ikev2::pki::{Certificate, Revocation, TrustError, TrustStore};
use ikev2::pki::{encoding, ids};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CrlDistributionPoint,
    DnType, IsCa, KeyIdMethod, KeyPair, KeyUsagePurpose, RevokedCertParams, SanType, SerialNumber,
    SignatureAlgorithm, date_time_ymd,
};

/// 2026-12-07 00:00:00 UTC.
const NOW: u64 = 1_796_601_600;

struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

fn ca(cn: &str, alg: &'static SignatureAlgorithm, issuer: Option<&Ca>) -> Ca {
    let key = KeyPair::generate_for(alg).unwrap();
    let mut p = CertificateParams::default();
    p.distinguished_name
        .push(DnType::OrganizationName, "ikev2d test");
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = match issuer {
        Some(i) => p.signed_by(&key, &i.cert, &i.key).unwrap(),
        None => p.self_signed(&key).unwrap(),
    };
    Ca { cert, key }
}

fn ee_params(cn: &str, sans: Vec<SanType>) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.subject_alt_names = sans;
    p.serial_number = Some(SerialNumber::from(7u64));
    p
}

fn ee(p: CertificateParams, alg: &'static SignatureAlgorithm, issuer: &Ca) -> Certificate {
    let key = KeyPair::generate_for(alg).unwrap();
    let c = p.signed_by(&key, &issuer.cert, &issuer.key).unwrap();
    Certificate::from_der(c.der()).unwrap()
}

fn parsed(c: &Ca) -> Certificate {
    Certificate::from_der(c.cert.der()).unwrap()
}

fn dns(s: &str) -> SanType {
    SanType::DnsName(s.try_into().unwrap())
}

fn crl(issuer: &Ca, revoked: &[u64], next_update: (i32, u8, u8)) -> Vec<u8> {
    CertificateRevocationListParams {
        this_update: date_time_ymd(2026, 12, 1),
        next_update: date_time_ymd(next_update.0, next_update.1, next_update.2),
        crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: revoked
            .iter()
            .map(|s| RevokedCertParams {
                serial_number: SerialNumber::from(*s),
                revocation_time: date_time_ymd(2026, 12, 2),
                reason_code: None,
                invalidity_date: None,
            })
            .collect(),
        key_identifier_method: KeyIdMethod::Sha256,
    }
    .signed_by(&issuer.cert, &issuer.key)
    .unwrap()
    .der()
    .to_vec()
}

#[test]
fn three_level_chains_verify_for_every_key_type() {
    let root = ca("Root CA", &rcgen::PKCS_RSA_SHA256, None);
    let im = ca(
        "Intermediate CA",
        &rcgen::PKCS_ECDSA_P384_SHA384,
        Some(&root),
    );
    let store = TrustStore {
        anchors: vec![parsed(&root)],
        ..TrustStore::default()
    };
    let mut checked = 0;
    for alg in [
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &rcgen::PKCS_ECDSA_P521_SHA512,
        &rcgen::PKCS_ED25519,
        &rcgen::PKCS_RSA_SHA256,
    ] {
        let gw = ee(ee_params("gw.b", vec![dns("gw.b.example.org")]), alg, &im);
        let v = store
            .verify(&gw, &[parsed(&im)], NOW, Revocation::Relaxed)
            .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        assert_eq!(
            v.path,
            [
                "CN=gw.b",
                "CN=Intermediate CA, O=ikev2d test",
                "CN=Root CA, O=ikev2d test"
            ]
        );
        gw.public_key().expect("its key is usable for AUTH");
        checked += 1;
    }
    assert_eq!(checked, 4);
}

#[test]
fn failures_name_the_certificate_and_the_cause() {
    let root = ca("Root CA", &rcgen::PKCS_ECDSA_P256_SHA256, None);
    let im = ca(
        "Intermediate CA",
        &rcgen::PKCS_ECDSA_P256_SHA256,
        Some(&root),
    );
    let other = ca("Other CA", &rcgen::PKCS_ECDSA_P256_SHA256, None);
    let store = TrustStore {
        anchors: vec![parsed(&root)],
        ..TrustStore::default()
    };
    let alg = &rcgen::PKCS_ECDSA_P256_SHA256;

    // Expired.
    let mut p = ee_params("gw.b", vec![dns("gw.b.example.org")]);
    p.not_after = date_time_ymd(2026, 11, 30);
    let old = ee(p, alg, &im);
    let e = store
        .verify(&old, &[parsed(&im)], NOW, Revocation::Relaxed)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "peer certificate CN=gw.b expired on 2026-11-30 00:00:00 UTC"
    );

    // Issued by a CA we do not trust.
    let stranger = ee(ee_params("gw.x", vec![]), alg, &other);
    let e = store
        .verify(&stranger, &[], NOW, Revocation::Relaxed)
        .unwrap_err();
    assert!(
        matches!(&e, TrustError::NoTrustAnchor { issuer } if issuer == "CN=Other CA, O=ikev2d test"),
        "{e}"
    );
    assert!(
        e.to_string()
            .starts_with("no trust anchor for issuer CN=Other CA, O=ikev2d test")
    );

    // The peer did not send the intermediate.
    let gw = ee(ee_params("gw.b", vec![dns("gw.b.example.org")]), alg, &im);
    let e = store
        .verify(&gw, &[], NOW, Revocation::Relaxed)
        .unwrap_err();
    assert!(
        matches!(&e, TrustError::NoTrustAnchor { issuer } if issuer.starts_with("CN=Intermediate CA")),
        "{e}"
    );

    // A keyUsage that does not allow signing.
    // (rcgen writes no extensions at all for a certificate without subjectAltName.)
    let mut p = ee_params("enc.only", vec![dns("enc.only")]);
    p.key_usages = vec![KeyUsagePurpose::KeyEncipherment];
    let enc = ee(p, alg, &im);
    assert!(matches!(
        store.verify(&enc, &[parsed(&im)], NOW, Revocation::Relaxed),
        Err(TrustError::KeyUsage { .. })
    ));

    // A changed signature octet.
    let mut der = gw.der().to_vec();
    let last = der.len() - 1;
    der[last] ^= 0x01;
    let bad = Certificate::from_der(&der).expect("still parses");
    let e = store
        .verify(&bad, &[parsed(&im)], NOW, Revocation::Relaxed)
        .unwrap_err();
    assert!(matches!(e, TrustError::BadSignature { .. }), "{e}");

    // Truncated DER never gets that far.
    assert!(Certificate::from_der(&gw.der()[..gw.der().len() / 2]).is_err());
    assert!(Certificate::from_der(&[]).is_err());
}

#[test]
fn revocation_policies_as_swanctl_means_them() {
    let root = ca("Root CA", &rcgen::PKCS_ECDSA_P256_SHA256, None);
    let im = ca(
        "Intermediate CA",
        &rcgen::PKCS_ECDSA_P256_SHA256,
        Some(&root),
    );
    let alg = &rcgen::PKCS_ECDSA_P256_SHA256;
    let gw = ee(ee_params("gw.b", vec![dns("gw.b.example.org")]), alg, &im);
    let im_c = [parsed(&im)];
    let with = |crls: Vec<Vec<u8>>| TrustStore {
        anchors: vec![parsed(&root)],
        crls,
        ..TrustStore::default()
    };
    // No CRL at all: relaxed passes, strict fails and says so.
    assert!(
        with(vec![])
            .verify(&gw, &im_c, NOW, Revocation::Relaxed)
            .is_ok()
    );
    let e = with(vec![])
        .verify(&gw, &im_c, NOW, Revocation::Strict)
        .unwrap_err();
    assert!(
        matches!(
            e,
            TrustError::NoCrl {
                policy: "strict",
                ..
            }
        ),
        "{e}"
    );
    // The end entity revoked by the intermediate's CRL: fails under every policy.
    let revoked = with(vec![
        crl(&im, &[7], (2027, 1, 1)),
        crl(&root, &[], (2027, 1, 1)),
    ]);
    for policy in [Revocation::Relaxed, Revocation::IfUri, Revocation::Strict] {
        let e = revoked.verify(&gw, &im_c, NOW, policy).unwrap_err();
        assert!(matches!(e, TrustError::Revoked { .. }), "{policy:?}: {e}");
        assert!(e.to_string().contains("CN=gw.b is revoked"), "{e}");
    }
    // Strict needs a CRL for every link: the intermediate's from the root too.
    let only_im = with(vec![crl(&im, &[99], (2027, 1, 1))]);
    let e = only_im
        .verify(&gw, &im_c, NOW, Revocation::Strict)
        .unwrap_err();
    assert!(
        matches!(&e, TrustError::NoCrl { subject, issuer, .. }
            if subject.starts_with("CN=Intermediate CA") && issuer.starts_with("CN=Root CA")),
        "{e}"
    );
    let both = with(vec![
        crl(&im, &[99], (2027, 1, 1)),
        crl(&root, &[], (2027, 1, 1)),
    ]);
    both.verify(&gw, &im_c, NOW, Revocation::Strict)
        .expect("current CRLs for both links");
    // An expired CRL does not do for strict.
    let stale = with(vec![
        crl(&im, &[], (2026, 12, 5)),
        crl(&root, &[], (2027, 1, 1)),
    ]);
    assert!(matches!(
        stale.verify(&gw, &im_c, NOW, Revocation::Strict),
        Err(TrustError::CrlExpired { .. } | TrustError::NoCrl { .. })
    ));
    // ifuri: only a certificate naming a distribution point needs a CRL.
    let mut p = ee_params("gw.uri", vec![dns("gw.uri")]);
    p.crl_distribution_points = vec![CrlDistributionPoint {
        uris: vec!["http://crl.example.org/im.crl".into()],
    }];
    let with_uri = ee(p, alg, &im);
    assert!(
        with(vec![])
            .verify(&gw, &im_c, NOW, Revocation::IfUri)
            .is_ok()
    );
    let e = with(vec![])
        .verify(&with_uri, &im_c, NOW, Revocation::IfUri)
        .unwrap_err();
    assert!(
        matches!(
            e,
            TrustError::NoCrl {
                policy: "ifuri",
                ..
            }
        ),
        "{e}"
    );
    with(vec![crl(&im, &[], (2027, 1, 1))])
        .verify(&with_uri, &im_c, NOW, Revocation::IfUri)
        .expect("its CRL is there");
}

#[test]
fn identities_match_subject_alt_names_and_subjects_as_strongswan_does() {
    let root = ca("Root CA", &rcgen::PKCS_ECDSA_P256_SHA256, None);
    let gw = ee(
        ee_params(
            "gw.b.example.org",
            vec![
                dns("gw.b.example.org"),
                SanType::IpAddress(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2))),
                SanType::Rfc822Name("ops@example.org".try_into().unwrap()),
                dns("*.wild.example.org"),
            ],
        ),
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &root,
    );
    let ok = |id: Identity| ids::check(&gw, &id).map_err(|e| e.to_string());
    assert_eq!(ok(Identity::Fqdn("gw.b.example.org".into())), Ok(()));
    assert_eq!(ok(Identity::Fqdn("GW.B.example.org".into())), Ok(()));
    assert_eq!(ok(Identity::Ipv4(Ipv4Addr::new(192, 0, 2, 2))), Ok(()));
    assert_eq!(ok(Identity::Rfc822("ops@example.org".into())), Ok(()));
    assert_eq!(ok(Identity::DerAsn1Dn(gw.subject_der.clone())), Ok(()));
    // The subject written as text, as in swanctl.conf (rcgen encodes UTF8String,
    // the text PrintableString: strongSwan compares the values, not the types).
    assert_eq!(gw.subject, "CN=gw.b.example.org");
    assert_eq!(ok("CN=gw.b.example.org".parse().unwrap()), Ok(()));
    let e = ok("CN=gw.x.example.org".parse().unwrap()).unwrap_err();
    assert!(e.contains("subject (CN=gw.b.example.org)"), "{e}");
    // A wildcard names no certificate (IDs compare for equality here).
    assert!(ok("CN=*".parse().unwrap()).is_err());
    // A wildcard in the certificate matches nothing; neither does the CN alone.
    let e = ok(Identity::Fqdn("x.wild.example.org".into())).unwrap_err();
    assert!(
        e.contains("x.wild.example.org does not match the certificate's subjectAltName (DNS:gw.b.example.org, IP:192.0.2.2"),
        "{e}"
    );
    let cn_only = ee(
        ee_params("gw.c.example.org", vec![]),
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &root,
    );
    let e = ids::check(&cn_only, &Identity::Fqdn("gw.c.example.org".into())).unwrap_err();
    assert!(e.to_string().contains("it has none"), "{e}");
    assert!(ok(Identity::Ipv4(Ipv4Addr::new(192, 0, 2, 3))).is_err());
}

#[test]
fn certreq_hash_is_sha1_of_the_subject_public_key_info() {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    let mut p = CertificateParams::default();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let c = Certificate::from_der(p.self_signed(&key).unwrap().der()).unwrap();
    // rcgen's own SubjectPublicKeyInfo, hashed by aws-lc: an independent computation.
    let spki = key.public_key_der();
    assert_eq!(c.spki, spki);
    let want = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &spki);
    assert_eq!(c.certreq_hash().as_slice(), want.as_ref());
    assert!(c.is_ca);
}

fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out + &format!("-----END {label}-----\n")
}

#[test]
fn credential_files_in_pem_and_der() {
    let root = ca("Root CA", &rcgen::PKCS_ECDSA_P256_SHA256, None);
    let im = ca("Intermediate", &rcgen::PKCS_ECDSA_P384_SHA384, Some(&root));
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = ee_params("gw", vec![dns("gw.example.org")])
        .signed_by(&key, &im.cert, &im.key)
        .unwrap();

    // A PEM bundle keeps its order (end entity, then intermediate); DER is one cert.
    let bundle = format!("# comment\n{}{}", cert.pem(), im.cert.pem());
    let got = encoding::certificates(bundle.as_bytes()).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].subject, "CN=gw");
    assert_eq!(got[1].subject, "CN=Intermediate, O=ikev2d test");
    assert_eq!(encoding::certificates(cert.der()).unwrap()[0], got[0]);
    assert!(encoding::certificates(b"-----BEGIN X-----\nAAAA\n-----END X-----\n").is_err());
    assert!(encoding::certificates(&cert.der()[..100]).is_err());

    // Private keys: PKCS#8 in PEM and DER give the certificate's public key.
    let k = encoding::private_key(key.serialize_pem().as_bytes()).unwrap();
    assert_eq!(k.spki(), got[0].spki.as_slice());
    let k = encoding::private_key(&key.serialize_der()).unwrap();
    assert_eq!(k.spki(), got[0].spki.as_slice());
    // An encrypted key is refused with the way out; garbage is an error, not a panic.
    let enc = pem("ENCRYPTED PRIVATE KEY", &[0x30, 0x03, 0x02, 0x01, 0x00]);
    let e = encoding::private_key(enc.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(e.contains("encrypted") && e.contains("openssl pkey"), "{e}");
    assert!(encoding::private_key(b"not a key").is_err());

    // Raw public keys: the SPKI, in PEM as `pki --pub` writes it, or DER.
    let (spki, _) =
        encoding::public_key(pem("PUBLIC KEY", &key.public_key_der()).as_bytes()).unwrap();
    assert_eq!(spki, got[0].spki);
    assert_eq!(encoding::public_key(&key.public_key_der()).unwrap().0, spki);
    assert!(encoding::public_key(b"\x30\x00").is_err());

    // CRLs in PEM and DER.
    let der = crl(&root, &[7], (2027, 1, 1));
    assert_eq!(encoding::crls(&der).unwrap(), vec![der.clone()]);
    assert_eq!(
        encoding::crls(pem("X509 CRL", &der).as_bytes()).unwrap(),
        vec![der.clone()]
    );
    assert!(encoding::crls(&der[..der.len() - 3]).is_err());
}

/// Found by the `cert_chain` fuzz target (an ID written as a DN with a dotted OID):
/// const-oid's `ObjectIdentifier::new` overflowed on an arc above `u32::MAX` (a
/// panic with overflow checks, another OID without: 2^32 + 3 became 3, and 2.5.4.3
/// is CN), and wrote arcs with a base-128 digit of exactly 0x80 (128, 16384) wrong.
#[test]
fn dotted_oids_in_text_dns_are_checked_and_encoded_exactly() {
    use ikev2::pki::dn;
    for bad in [
        "2.5.4.4294967299=gw",
        "2.5.4.99999999999999999999=gw",
        "1.2.3.+5=gw",
        "2.5..3=gw",
        "3.1.2=gw",
        "1.40.2=gw",
    ] {
        assert!(dn::from_text(bad).is_err(), "{bad}");
        assert!(bad.parse::<Identity>().is_err(), "{bad}");
    }
    // The attribute's OID as DER (tag 06, length, arcs) and back to text.
    for (text, oid) in [
        ("1.2.128=x", &[0x2a, 0x81, 0x00][..]),
        ("1.2.16384=x", &[0x2a, 0x81, 0x80, 0x00]),
        ("1.2.268435455=x", &[0x2a, 0xff, 0xff, 0xff, 0x7f]),
        ("2.5.4.3=x", &[0x55, 0x04, 0x03]),
    ] {
        let der = dn::from_text(text).unwrap();
        let tlv = [&[0x06, oid.len() as u8][..], oid].concat();
        assert!(
            der.windows(tlv.len()).any(|w| w == tlv),
            "{text}: {der:02x?}"
        );
        let back = text.replace("2.5.4.3", "CN");
        assert_eq!(dn::to_text(&der), back);
    }
}
