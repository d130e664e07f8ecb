//! Public-key authentication in the configuration: certificate, CA, CRL, raw key and
//! private key files (made here with rcgen) loaded into the `ikev2` connection, the
//! load errors an operator meets (a readable key file, an encrypted key, no key for
//! the certificate, an ID the certificate does not carry, keys on the wrong side),
//! and the lints of `ikev2d check` (expiry, chain, CRL).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use ikev2::config::{Identity, LocalAuth, RemoteAuth};
use ikev2::pki::Revocation;
use ikev2d::config::{DaemonConfig, Finding, LoadError, Severity, lint};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType, IsCa,
    KeyIdMethod, KeyPair, KeyUsagePurpose, SanType, SerialNumber, date_time_ymd,
};

/// 2026-12-07 00:00:00 UTC.
const NOW: u64 = 1_796_601_600;

struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

fn ca(cn: &str, issuer: Option<&Ca>) -> Ca {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_after = date_time_ymd(2036, 1, 1);
    let cert = match issuer {
        Some(i) => p.signed_by(&key, &i.cert, &i.key).unwrap(),
        None => p.self_signed(&key).unwrap(),
    };
    Ca { cert, key }
}

/// A gateway certificate `gw.a.example.org` from `issuer`, valid until `until`
/// (year, month, day), and its key.
fn gateway(issuer: &Ca, until: (i32, u8, u8)) -> (rcgen::Certificate, KeyPair) {
    let key = KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, "gw-a");
    p.subject_alt_names = vec![SanType::DnsName("gw.a.example.org".try_into().unwrap())];
    p.not_before = date_time_ymd(2026, 1, 1);
    p.not_after = date_time_ymd(until.0, until.1, until.2);
    (p.signed_by(&key, &issuer.cert, &issuer.key).unwrap(), key)
}

fn write(dir: &Path, name: &str, data: &[u8], mode: u32) {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A directory with root → intermediate → gateway (bundle `gw.pem` holds the
/// gateway and the intermediate), `gw.key` (mode 600), `ca.pem`, an empty CRL of the
/// intermediate, and the peer's CA `peer-ca.pem`.
fn files(until: (i32, u8, u8)) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = ca("Root CA", None);
    let im = ca("Intermediate CA", Some(&root));
    let (gw, key) = gateway(&im, until);
    let d = dir.path();
    write(
        d,
        "gw.pem",
        format!("{}{}", gw.pem(), im.cert.pem()).as_bytes(),
        0o644,
    );
    write(d, "gw.key", key.serialize_pem().as_bytes(), 0o600);
    write(d, "ca.pem", root.cert.pem().as_bytes(), 0o644);
    write(
        d,
        "peer-ca.pem",
        ca("Peer CA", None).cert.pem().as_bytes(),
        0o644,
    );
    let crl = CertificateRevocationListParams {
        this_update: date_time_ymd(2026, 12, 1),
        next_update: date_time_ymd(2027, 1, 1),
        crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: Vec::new(),
        key_identifier_method: KeyIdMethod::Sha256,
    }
    .signed_by(&im.cert, &im.key)
    .unwrap();
    write(d, "im.crl", crl.der(), 0o644);
    write(d, "gw.pub", key.public_key_pem().as_bytes(), 0o644);
    dir
}

const CONF: &str = r#"
[connections.site-b]
remote_addrs = ["192.0.2.2"]
proposals = ["aes256gcm16-prfsha384-x25519"]

[connections.site-b.local]
auth = "pubkey"
certs = ["gw.pem"]

[connections.site-b.remote]
auth = "pubkey"
id = "C=CH, O=Peer, CN=gw-b"
cacerts = ["ca.pem", "peer-ca.pem"]
crls = ["im.crl"]
revocation = "strict"

[connections.site-b.children.net]
local_ts = ["10.1.0.0/24"]
remote_ts = ["10.2.0.0/24"]
esp_proposals = ["aes256gcm16"]

[secrets.private-gw]
file = "gw.key"
"#;

fn load(dir: &Path, text: &str) -> Result<DaemonConfig, Vec<Finding>> {
    let conf = dir.join("ikev2d.toml");
    std::fs::write(&conf, text).unwrap();
    match DaemonConfig::load(&conf) {
        Ok(c) => Ok(c),
        Err(LoadError::Invalid(f)) => Err(f),
        Err(e) => panic!("{e}"),
    }
}

fn one_error(dir: &Path, text: &str, path: &str) -> String {
    let f = load(dir, text).expect_err("must be refused");
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].path, path, "{f:#?}");
    assert!(f[0].line.is_some(), "{f:#?}");
    f[0].message.clone()
}

#[test]
fn certificates_keys_cas_and_crls_reach_the_connection() {
    let dir = files((2030, 1, 1));
    let cfg = load(dir.path(), CONF).unwrap();
    let c = &cfg.connections[0];
    // strongSwan's default local ID with a certificate: its subject.
    assert_eq!(c.local.id.to_string(), "CN=gw-a");
    assert_eq!(c.remote.id.to_string(), "C=CH, O=Peer, CN=gw-b");
    let ike = c.to_ikev2();
    let LocalAuth::Pubkey(cred) = &ike.local_auth else {
        panic!("{:?}", ike.local_auth)
    };
    // The end entity, then the intermediate; the key is the certificate's.
    let subjects: Vec<&str> = cred.chain.iter().map(|c| c.subject.as_str()).collect();
    assert_eq!(subjects, ["CN=gw-a", "CN=Intermediate CA"]);
    assert_eq!(cred.key.spki(), cred.chain[0].spki.as_slice());
    let RemoteAuth::Pubkey { trust, revocation } = &ike.remote_auth else {
        panic!("{:?}", ike.remote_auth)
    };
    assert_eq!(*revocation, Revocation::Strict);
    assert_eq!(trust.anchors.len(), 2);
    assert_eq!(trust.crls.len(), 1);
    assert!(trust.raw_keys.is_empty());
    // The key is in no Debug output.
    let key_pem = std::fs::read_to_string(dir.path().join("gw.key")).unwrap();
    let body = key_pem.lines().nth(1).unwrap();
    assert!(!format!("{cfg:?}").contains(body));
    // A sound configuration: nothing for `check` to say.
    assert_eq!(lint::lint_at(&cfg, NOW), vec![]);

    // Our root in the bundle too: it is never sent.
    let full = std::fs::read_to_string(dir.path().join("gw.pem")).unwrap()
        + &std::fs::read_to_string(dir.path().join("ca.pem")).unwrap();
    write(dir.path(), "gw-full.pem", full.as_bytes(), 0o644);
    let cfg = load(dir.path(), &CONF.replace("\"gw.pem\"", "\"gw-full.pem\"")).unwrap();
    assert_eq!(cfg.connections[0].local.certs.len(), 3);
    let LocalAuth::Pubkey(cred) = cfg.connections[0].to_ikev2().local_auth else {
        panic!()
    };
    let sent: Vec<&str> = cred.chain.iter().map(|c| c.subject.as_str()).collect();
    assert_eq!(sent, ["CN=gw-a", "CN=Intermediate CA"]);
}

#[test]
fn auth_defaults_to_pubkey_with_certificates_and_raw_keys_work() {
    let dir = files((2030, 1, 1));
    let text = r#"
[connections.c]
[connections.c.local]
id = "gw.a.example.org"
certs = ["gw.pem"]
[connections.c.remote]
id = "peer.example.org"
pubkeys = ["gw.pub"]
[secrets.rsa-gw]
file = "gw.key"
"#;
    let cfg = load(dir.path(), text).unwrap();
    let ike = cfg.connections[0].to_ikev2();
    assert!(matches!(ike.local_auth, LocalAuth::Pubkey(_)));
    let RemoteAuth::Pubkey { trust, .. } = &ike.remote_auth else {
        panic!()
    };
    assert_eq!(trust.raw_keys.len(), 1);
    assert_eq!(
        cfg.connections[0].local.id,
        Identity::Fqdn("gw.a.example.org".into())
    );
    // Our own raw public key instead of a certificate: no chain is sent.
    let text = text.replace("certs = [\"gw.pem\"]", "pubkeys = [\"gw.pub\"]");
    let cfg = load(dir.path(), &text).unwrap();
    let LocalAuth::Pubkey(cred) = cfg.connections[0].to_ikev2().local_auth else {
        panic!()
    };
    assert!(cred.chain.is_empty());
}

#[test]
fn load_errors_say_what_to_fix() {
    let dir = files((2030, 1, 1));
    let d = dir.path();

    // A key file others can read.
    std::fs::set_permissions(d.join("gw.key"), std::fs::Permissions::from_mode(0o640)).unwrap();
    let m = one_error(d, CONF, "secrets.private-gw.file");
    assert!(m.contains("mode 640") && m.contains("chmod 600"), "{m}");
    std::fs::set_permissions(d.join("gw.key"), std::fs::Permissions::from_mode(0o600)).unwrap();

    // A passphrase: encrypted keys are not read.
    let m = one_error(
        d,
        &CONF.replace("file = \"gw.key\"", "file = \"gw.key\"\nsecret = \"pass\""),
        "secrets.private-gw.secret",
    );
    assert!(
        m.contains("encrypted private keys are not supported"),
        "{m}"
    );

    // No key for the certificate.
    let f = load(
        d,
        &CONF.replace("[secrets.private-gw]\nfile = \"gw.key\"\n", ""),
    )
    .unwrap_err();
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].path, "connections.site-b.local.certs");
    assert!(
        f[0].message
            .contains("no private key for our certificate CN=gw-a"),
        "{}",
        f[0].message
    );

    // An ID the certificate does not carry.
    let m = one_error(
        d,
        &CONF.replace(
            "certs = [\"gw.pem\"]",
            "certs = [\"gw.pem\"]\nid = \"gw.x.example.org\"",
        ),
        "connections.site-b.local.id",
    );
    assert!(
        m.contains("gw.x.example.org does not match the certificate's subjectAltName (DNS:gw.a.example.org)"),
        "{m}"
    );

    // Keys on the wrong side or with the wrong method.
    let m = one_error(
        d,
        &CONF.replace(
            "certs = [\"gw.pem\"]",
            "certs = [\"gw.pem\"]\ncacerts = [\"ca.pem\"]",
        ),
        "connections.site-b.local.cacerts",
    );
    assert!(m.contains("belongs in remote"), "{m}");
    let m = one_error(
        d,
        &CONF.replace("crls = [\"im.crl\"]", "certs = [\"gw.pem\"]"),
        "connections.site-b.remote.certs",
    );
    assert!(m.contains("not supported"), "{m}");
    let m = one_error(
        d,
        &CONF.replace(
            "auth = \"pubkey\"\nid = \"C=CH",
            "auth = \"psk\"\nid = \"C=CH",
        ),
        "connections.site-b.remote.cacerts",
    );
    assert!(m.contains("needs auth = \"pubkey\""), "{m}");
    let m = one_error(
        d,
        &CONF.replace("cacerts = [\"ca.pem\", \"peer-ca.pem\"]\n", ""),
        "connections.site-b.remote.auth",
    );
    assert!(m.contains("needs cacerts"), "{m}");

    // Files that are missing or not what they claim.
    let m = one_error(
        d,
        &CONF.replace("[\"ca.pem\", \"peer-ca.pem\"]", "[\"nope.pem\"]"),
        "connections.site-b.remote.cacerts[0]",
    );
    assert!(
        m.contains("cannot read certificate") && m.contains("nope.pem"),
        "{m}"
    );
    let m = one_error(
        d,
        &CONF.replace("crls = [\"im.crl\"]", "crls = [\"gw.key\"]"),
        "connections.site-b.remote.crls[0]",
    );
    assert!(m.contains("CRL"), "{m}");
    // The key's text never appears in an error.
    let key = std::fs::read_to_string(d.join("gw.key")).unwrap();
    let f = load(
        d,
        &CONF.replace("[\"ca.pem\", \"peer-ca.pem\"]", "[\"gw.key\"]"),
    )
    .unwrap_err();
    assert!(!format!("{f:?}").contains(key.lines().nth(1).unwrap()));
}

#[test]
fn check_warns_of_expiry_and_of_a_chain_no_ca_here_verifies() {
    let rules = |f: &[Finding]| -> Vec<(&'static str, Severity)> {
        f.iter().map(|f| (f.rule, f.severity)).collect()
    };
    // Expires in 10 days: a warning that says when.
    let dir = files((2026, 12, 17));
    let cfg = load(dir.path(), CONF).unwrap();
    let f = lint::lint_at(&cfg, NOW);
    assert_eq!(rules(&f), [("cert-expiry", Severity::Warning)], "{f:#?}");
    assert!(
        f[0].message.contains("expires on 2026-12-17") && f[0].message.contains("in 10 days"),
        "{}",
        f[0].message
    );
    assert_eq!(f[0].path, "connections.site-b.local.certs");

    // Expired: an error (the peer refuses it).
    let f = lint::lint_at(&cfg, NOW + 30 * 86_400);
    assert!(
        f.iter().any(|f| f.rule == "cert-expiry"
            && f.severity == Severity::Error
            && f.message.contains("expired on 2026-12-17")),
        "{f:#?}"
    );
    // ... and the CRL is past its next update (2027-01-01) by then too, under strict.
    let f = lint::lint_at(&cfg, NOW + 40 * 86_400);
    assert!(
        f.iter()
            .any(|f| f.rule == "crl-expired" && f.severity == Severity::Error),
        "{f:#?}"
    );

    // Our chain's root is in no cacerts of this file.
    let dir = files((2030, 1, 1));
    let text = CONF.replace("[\"ca.pem\", \"peer-ca.pem\"]", "[\"peer-ca.pem\"]");
    let cfg = load(dir.path(), &text).unwrap();
    let f = lint::lint_at(&cfg, NOW);
    assert_eq!(rules(&f), [("cert-chain", Severity::Warning)], "{f:#?}");
    assert!(
        f[0].message
            .contains("does not chain to a CA of this configuration"),
        "{}",
        f[0].message
    );
}
