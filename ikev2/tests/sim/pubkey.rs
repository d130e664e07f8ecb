//! Public-key authentication between two endpoints (RFC 7296 section 2.15, RFC
//! 7427): certificates made by the test (rcgen), chains through an intermediate,
//! every key type, mixed PSK and certificate sides, and the failures an operator
//! must be told about (expired, unknown CA, ID not in the certificate, the other
//! kind of authentication, no wall clock).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use crate::harness::*;
use ikev2::config::{EndpointConfig, LocalAuth, LocalCredentials, RemoteAuth, SendCert};
use ikev2::crypto::signature::PrivateKey;
use ikev2::error::Phase;
use ikev2::pki::{Certificate, Revocation, TrustStore};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType, SignatureAlgorithm,
    date_time_ymd,
};

/// 2026-12-07 00:00:00 UTC.
const NOW: u64 = 1_796_601_600;

struct Pki {
    root: rcgen::Certificate,
    im: rcgen::Certificate,
    im_key: KeyPair,
}

fn pki(name: &str) -> Pki {
    let root_key = KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let mut p = CertificateParams::default();
    p.distinguished_name
        .push(DnType::CommonName, format!("{name} Root CA"));
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let root = p.self_signed(&root_key).unwrap();
    let im_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    let mut p = CertificateParams::default();
    p.distinguished_name
        .push(DnType::CommonName, format!("{name} Intermediate"));
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let im = p.signed_by(&im_key, &root, &root_key).unwrap();
    Pki { root, im, im_key }
}

/// A gateway certificate for address `addr` from `pki`'s intermediate, with a key of
/// `alg`, valid until `until` (year), and its credentials.
fn gateway(
    pki: &Pki,
    addr: &str,
    alg: &'static SignatureAlgorithm,
    until: i32,
) -> Arc<LocalCredentials> {
    let key = KeyPair::generate_for(alg).unwrap();
    let mut p = CertificateParams::default();
    p.distinguished_name
        .push(DnType::CommonName, format!("gw {addr}"));
    p.subject_alt_names = vec![SanType::IpAddress(ip(addr))];
    p.not_after = date_time_ymd(until, 1, 1);
    let cert = p.signed_by(&key, &pki.im, &pki.im_key).unwrap();
    Arc::new(LocalCredentials {
        chain: vec![
            Certificate::from_der(cert.der()).unwrap(),
            Certificate::from_der(pki.im.der()).unwrap(),
        ],
        key: Arc::new(PrivateKey::from_der(&key.serialize_der()).unwrap()),
        // RSA keys sign with RSASSA-PSS here (PKCS#1 v1.5 in the crypto tests).
        rsa_pss: std::ptr::eq(alg, &rcgen::PKCS_RSA_SHA256),
    })
}

fn trust(pki: &Pki) -> RemoteAuth {
    RemoteAuth::Pubkey {
        trust: Arc::new(TrustStore {
            anchors: vec![Certificate::from_der(pki.root.der()).unwrap()],
            ..TrustStore::default()
        }),
        revocation: Revocation::Relaxed,
    }
}

fn with(local: LocalAuth, remote: RemoteAuth) -> impl FnOnce(&mut EndpointConfig) {
    move |c| {
        let conn = conn(c);
        conn.local_auth = local;
        conn.remote_auth = remote;
        // Certificates make IKE_AUTH large: fragments, small ones here to exercise them.
        c.fragment_size = 576;
    }
}

fn clocked(mut net: Network) -> Network {
    let now = net.now;
    for n in &mut net.nodes {
        n.ep.set_wall_clock(now, NOW);
    }
    net
}

fn up(net: &mut Network) -> bool {
    net.initiate(0, "ab");
    net.drive_until(Duration::from_secs(30), |n| n.established(1))
}

#[test]
fn certificates_of_every_key_type_authenticate_both_ways() {
    let (pa, pb) = (pki("A"), pki("B"));
    let mut checked = 0;
    // With the schemes each side must see the other sign with (status).
    for (alg_a, alg_b, a_signs, b_signs) in [
        (
            &rcgen::PKCS_ECDSA_P256_SHA256,
            &rcgen::PKCS_ED25519,
            "ECDSA with SHA-256",
            "Ed25519",
        ),
        (
            &rcgen::PKCS_RSA_SHA256,
            &rcgen::PKCS_ECDSA_P384_SHA384,
            "RSASSA-PSS with SHA-256",
            "ECDSA with SHA-384",
        ),
        (
            &rcgen::PKCS_ED25519,
            &rcgen::PKCS_ECDSA_P521_SHA512,
            "Ed25519",
            "ECDSA with SHA-512",
        ),
    ] {
        let a = gateway(&pa, IP_A, alg_a, 2030);
        let b = gateway(&pb, IP_B, alg_b, 2030);
        let mut net = clocked(pair_with(
            3,
            with(LocalAuth::Pubkey(a), trust(&pb)),
            with(LocalAuth::Pubkey(b), trust(&pa)),
        ));
        assert!(
            up(&mut net),
            "{alg_a:?}/{alg_b:?}: {:?} {:?}",
            net.failures(0),
            net.failures(1)
        );
        // The certificates made IKE_AUTH larger than a fragment.
        assert!(net.nodes[0].ep.stats().fragmented_messages > 0);
        let auth = |n: usize| {
            let sa = &net.nodes[n].ep.ike_sas()[0];
            (
                sa.auth_local.clone().unwrap(),
                sa.auth_remote.clone().unwrap(),
            )
        };
        let (a_local, a_remote) = auth(0);
        let (b_local, b_remote) = auth(1);
        assert_eq!(a_local, format!("{a_signs}, certificate CN=gw {IP_A}"));
        assert_eq!(b_remote, a_local);
        assert_eq!(b_local, format!("{b_signs}, certificate CN=gw {IP_B}"));
        assert_eq!(a_remote, b_local);
        assert_child_pair(net.children(0)[0], net.children(1)[0]);
        net.start_traffic(Duration::from_millis(100));
        net.drive_for(Duration::from_secs(2));
        assert!(net.nodes[0].dp.delivered > 5 && net.nodes[0].dp.lost == 0);
        checked += 1;
    }
    assert_eq!(checked, 3);
}

#[test]
fn one_side_signs_the_other_uses_a_psk() {
    let pb = pki("B");
    let b = gateway(&pb, IP_B, &rcgen::PKCS_ECDSA_P256_SHA256, 2030);
    // A: PSK itself, B must sign. B: signs, A uses the PSK.
    let mut net = clocked(pair_with(
        4,
        with(LocalAuth::Psk, trust(&pb)),
        with(LocalAuth::Pubkey(b), RemoteAuth::Psk),
    ));
    assert!(up(&mut net), "{:?} {:?}", net.failures(0), net.failures(1));
}

/// Runs a setup that must fail; the first failure of `node` as text.
fn failure(mut net: Network, node: usize) -> String {
    net.initiate(0, "ab");
    net.drive_for(Duration::from_secs(10));
    assert!(!net.established(1));
    let f = net.failures(node);
    let f = f
        .first()
        .unwrap_or_else(|| panic!("node {node} reports no failure"));
    assert_eq!(f.phase, Phase::IkeAuth, "{f}");
    f.to_string()
}

#[test]
fn failures_say_what_is_wrong_with_the_peers_certificate() {
    let (pa, pb, other) = (pki("A"), pki("B"), pki("Other"));
    let alg = &rcgen::PKCS_ECDSA_P256_SHA256;

    // B's certificate expired: A, the initiator, says so.
    let text = failure(
        clocked(pair_with(
            5,
            with(LocalAuth::Pubkey(gateway(&pa, IP_A, alg, 2030)), trust(&pb)),
            with(LocalAuth::Pubkey(gateway(&pb, IP_B, alg, 2025)), trust(&pa)),
        )),
        0,
    );
    assert!(
        text.contains("peer certificate CN=gw 198.51.100.2 expired on 2025-01-01 00:00:00 UTC")
            || text.contains("expired on 2025-01-01"),
        "{text}"
    );

    // A's certificate is from a CA B does not trust: B, the responder, says so, and
    // A, told AUTHENTICATION_FAILED, points at its certificate, not at a PSK.
    let untrusted_a = || {
        clocked(pair_with(
            6,
            with(
                LocalAuth::Pubkey(gateway(&other, IP_A, alg, 2030)),
                trust(&pb),
            ),
            with(LocalAuth::Pubkey(gateway(&pb, IP_B, alg, 2030)), trust(&pa)),
        ))
    };
    let text = failure(untrusted_a(), 1);
    assert!(
        text.contains("no trust anchor for issuer CN=Other Root CA"),
        "{text}"
    );
    let text = failure(untrusted_a(), 0);
    assert!(
        text.contains("did not accept our certificate") && !text.contains("pre-shared"),
        "{text}"
    );

    // B's certificate is for another address than B's ID.
    let text = failure(
        clocked(pair_with(
            7,
            with(LocalAuth::Pubkey(gateway(&pa, IP_A, alg, 2030)), trust(&pb)),
            with(
                LocalAuth::Pubkey(gateway(&pb, "203.0.113.9", alg, 2030)),
                trust(&pa),
            ),
        )),
        0,
    );
    assert!(
        text.contains("does not match the certificate's subjectAltName (IP:203.0.113.9)"),
        "{text}"
    );

    // B signs where A expects its PSK.
    let text = failure(
        clocked(pair_with(
            8,
            with(
                LocalAuth::Pubkey(gateway(&pa, IP_A, alg, 2030)),
                RemoteAuth::Psk,
            ),
            with(LocalAuth::Pubkey(gateway(&pb, IP_B, alg, 2030)), trust(&pa)),
        )),
        0,
    );
    assert!(text.contains("remote auth is psk"), "{text}");
}

#[test]
fn without_the_wall_clock_no_certificate_is_accepted() {
    let (pa, pb) = (pki("A"), pki("B"));
    let alg = &rcgen::PKCS_ECDSA_P256_SHA256;
    let net = pair_with(
        9,
        with(LocalAuth::Pubkey(gateway(&pa, IP_A, alg, 2030)), trust(&pb)),
        with(LocalAuth::Pubkey(gateway(&pb, IP_B, alg, 2030)), trust(&pa)),
    );
    let text = failure(net, 1);
    assert!(text.contains("wall clock"), "{text}");
}

/// Raw public keys (`pubkeys`): no certificate on the wire, each side trusts the
/// other's key as configured.
fn raw_key(alg: &'static SignatureAlgorithm) -> (Arc<LocalCredentials>, Vec<u8>) {
    let key = PrivateKey::from_der(&KeyPair::generate_for(alg).unwrap().serialize_der()).unwrap();
    let spki = key.spki().to_vec();
    (
        Arc::new(LocalCredentials {
            chain: Vec::new(),
            key: Arc::new(key),
            rsa_pss: false,
        }),
        spki,
    )
}

fn trust_keys(keys: Vec<Vec<u8>>) -> RemoteAuth {
    RemoteAuth::Pubkey {
        trust: Arc::new(TrustStore {
            raw_keys: keys,
            ..TrustStore::default()
        }),
        revocation: Revocation::Relaxed,
    }
}

#[test]
fn raw_public_keys_authenticate_without_certificates() {
    let (a, a_pub) = raw_key(&rcgen::PKCS_ED25519);
    let (b, b_pub) = raw_key(&rcgen::PKCS_ECDSA_P256_SHA256);
    let (_, other_pub) = raw_key(&rcgen::PKCS_ECDSA_P256_SHA256);
    // A trusts two keys, B's among them.
    let mut net = clocked(pair_with(
        10,
        with(
            LocalAuth::Pubkey(a.clone()),
            trust_keys(vec![other_pub.clone(), b_pub]),
        ),
        with(
            LocalAuth::Pubkey(b.clone()),
            trust_keys(vec![a_pub.clone()]),
        ),
    ));
    assert!(up(&mut net), "{:?} {:?}", net.failures(0), net.failures(1));

    // B's key is not the one A trusts.
    let text = failure(
        clocked(pair_with(
            11,
            with(LocalAuth::Pubkey(a), trust_keys(vec![other_pub])),
            with(LocalAuth::Pubkey(b), trust_keys(vec![a_pub])),
        )),
        0,
    );
    assert!(
        text.contains("does not verify with any key of remote pubkeys"),
        "{text}"
    );
}

/// `send_cert` and `send_certreq` as strongSwan means them: by default a side sends
/// its certificates only when asked with a CERTREQ.
#[test]
fn certificates_go_out_when_asked_or_always() {
    let (pa, pb) = (pki("A"), pki("B"));
    let alg = &rcgen::PKCS_ECDSA_P256_SHA256;
    let setup = |seed, a_certreq: bool, b_send: SendCert| {
        let (a, b) = (gateway(&pa, IP_A, alg, 2030), gateway(&pb, IP_B, alg, 2030));
        let (ta, tb) = (trust(&pb), trust(&pa));
        clocked(pair_with(
            seed,
            move |c| {
                with(LocalAuth::Pubkey(a), ta)(c);
                conn(c).send_certreq = a_certreq;
            },
            move |c| {
                with(LocalAuth::Pubkey(b), tb)(c);
                conn(c).send_cert = b_send;
            },
        ))
    };
    // A asks (default): B sends its certificate.
    let mut net = setup(12, true, SendCert::IfAsked);
    assert!(up(&mut net), "{:?} {:?}", net.failures(0), net.failures(1));
    // A does not ask: B (ifasked) sends none, and A cannot verify B.
    let text = failure(setup(13, false, SendCert::IfAsked), 0);
    assert!(text.contains("sent no certificate"), "{text}");
    // B sends always: A need not ask.
    let mut net = setup(14, false, SendCert::Always);
    assert!(up(&mut net), "{:?} {:?}", net.failures(0), net.failures(1));
    // B never sends.
    let text = failure(setup(15, true, SendCert::Never), 0);
    assert!(text.contains("sent no certificate"), "{text}");
}

/// A reload that changes only credentials (a new certificate) keeps the running SAs;
/// the next IKE SA authenticates with the new certificate (here one from a CA the
/// peer does not trust, so that the test sees which one went out).
#[test]
fn a_credentials_only_reload_keeps_the_sas() {
    let (pa, pb) = (pki("A"), pki("B"));
    let alg = &rcgen::PKCS_ECDSA_P256_SHA256;
    let mut net = clocked(pair_with(
        16,
        with(LocalAuth::Pubkey(gateway(&pa, IP_A, alg, 2030)), trust(&pb)),
        with(LocalAuth::Pubkey(gateway(&pb, IP_B, alg, 2030)), trust(&pa)),
    ));
    assert!(up(&mut net), "{:?} {:?}", net.failures(0), net.failures(1));
    let before = net.nodes[1].ep.ike_sas();

    // B gets a certificate from another CA.
    let renewed = gateway(&pki("Other"), IP_B, alg, 2031);
    let mut cfg = net.nodes[1].ep.config().clone();
    cfg.connections[0].local_auth = LocalAuth::Pubkey(Arc::clone(&renewed));
    let now = net.now;
    let summary = net.nodes[1].ep.reload(now, Arc::new(cfg));
    assert_eq!(summary.credentials, vec!["ab".to_owned()], "{summary:?}");
    assert!(summary.changed.is_empty(), "{summary:?}");
    net.drive_for(Duration::from_secs(5));
    let after = net.nodes[1].ep.ike_sas();
    assert_eq!(after.len(), 1);
    assert_eq!(
        (after[0].spi_i, after[0].spi_r),
        (before[0].spi_i, before[0].spi_r)
    );

    // A new IKE SA: B sends the new certificate, which A refuses.
    net.nodes[0].ep.terminate(net.now, "ab").unwrap();
    net.drive_for(Duration::from_secs(5));
    assert!(net.nodes[1].ep.ike_sas().is_empty());
    let text = failure(net, 0);
    assert!(
        text.contains("no trust anchor for issuer CN=Other"),
        "{text}"
    );
}
