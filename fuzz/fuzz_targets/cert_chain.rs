//! The certificate path of public-key authentication, as `exchange::auth::check_peer`
//! walks it: CERT payloads parsed as certificates, the chain verified against trust
//! anchors and CRLs, the peer's ID checked against the end entity, its public key
//! taken and AUTH signatures verified with it (and with raw public keys, RFC 7670);
//! CERTREQ payloads read as CA key hashes.
//!
//! The input is a control octet, an 8-octet time, then records of a tag (0 IDi,
//! 1 CERT, 2 CERTREQ, 3 AUTH; other values modulo 4), a 2-octet length (cut to what
//! is left) and the payload body. Each record is framed as a payload with a generic
//! header and parsed by `wire::parse_payload_chain`. CERT payloads of encoding 4
//! (X.509) are the peer's chain, end entity first; of encoding 15 (raw public key) a
//! key the peer signed with, trusted as `remote pubkeys`. The others stand for the
//! configured credentials, read as files are (`pki::encoding`, PEM or DER): encoding
//! 7 (CRL) the CRLs of the trust store, any other encoding extra trust anchors.
//! Control bits: 0-1 revocation (relaxed, ifuri, strict, relaxed), 2-3 the time
//! (2026-12-07, three years before, twenty years after, or the given one), 4 allow
//! SHA-1 signatures, 5 leave out the fixed anchor.
//!
//! The fixed anchor and the seeds come from `fuzz/cert_chain/make_seeds.py` (a small
//! PKI made once with Python's `cryptography`: RSA root, P-384 intermediate, P-256,
//! P-384, Ed25519 and RSA end entities, CRLs; see that file). Nothing may panic, and
//! what parses and verifies must be consistent: a certificate re-parses to the same
//! value from its DER, carries its own subject as an ID, a verified chain starts at
//! the end entity and ends at a configured anchor within every validity period.
//!
//! The IDs checked against the end entity: those of the IDi payloads, the same octets
//! read as an ID written in swanctl.conf (`C=CH, O=x, CN=*`: text DNs, `pki::dn`),
//! and a few fixed ones (the seeds' FQDN, e-mail, IPv4 and IPv6 alt names).

#![no_main]

use std::net::{Ipv4Addr, Ipv6Addr};

use ikev2::config::Identity;
use ikev2::crypto::signature::{PublicKey, SignatureScheme};
use ikev2::pki::{AltName, Certificate, Revocation, TrustStore, dn, encoding, ids};
use ikev2::wire::{
    Auth, AuthMethod, CertEncoding, CertReq, Payload, PayloadType, parse_payload_chain,
};
use libfuzzer_sys::fuzz_target;

/// The trust anchor: `fuzz/cert_chain/root.der` (CN=ikev2d fuzz Root CA).
const ROOT: &[u8] = include_bytes!("../cert_chain/root.der");

/// What the AUTH signatures of the seeds sign (`OCTETS` in make_seeds.py).
const OCTETS: &[u8] = b"ikev2d cert_chain fuzz target: the octets an AUTH payload signs";

/// 2026-12-07 00:00:00 UTC, inside the validity of the seed PKI (2026 to 2036).
const NOW: u64 = 1_796_601_600;
const YEAR: u64 = 365 * 86_400;

/// At most this many records (strongSwan takes at most 8 CERT payloads).
const MAX_RECORDS: usize = 24;

/// A certificate that parsed: it re-parses to the same value, carries its subject,
/// and its key, CERTREQ hash and names can be taken without a panic.
fn certificate(der: &[u8]) -> Option<Certificate> {
    let c = Certificate::from_der(der).map_err(|e| e.to_string()).ok()?;
    assert_eq!(c.der(), der);
    assert_eq!(
        Certificate::from_der(c.der()).as_ref(),
        Ok(&c),
        "parsing is a function"
    );
    let _ = c.public_key().map_err(|e| e.to_string());
    let _ = c.certreq_hash();
    for n in &c.alt_names {
        let _ = n.to_string();
    }
    ids::check(&c, &Identity::DerAsn1Dn(c.subject_der.clone()))
        .expect("a certificate carries its own subject");
    let any = ids::check(&c, &Identity::Any).expect_err("%any is never carried");
    let _ = any.to_string();
    Some(c)
}

/// Every AUTH payload checked with `key`, as check_peer does (method 14 or classic).
fn signatures(key: &PublicKey, auths: &[Auth<'_>], allow_sha1: bool) {
    for a in auths {
        let checked = if a.method == AuthMethod::DIGITAL_SIGNATURE {
            match SignatureScheme::parse_auth_data(a.data) {
                Ok((scheme, signature)) => {
                    // What we would send for it parses back the same.
                    let again = scheme.auth_data(signature);
                    assert_eq!(
                        SignatureScheme::parse_auth_data(&again),
                        Ok((scheme, signature))
                    );
                    let _ = scheme.to_string();
                    key.verify(scheme, OCTETS, signature, allow_sha1)
                }
                Err(e) => Err(e),
            }
        } else {
            key.verify_classic(a.method, OCTETS, a.data, allow_sha1)
        };
        if let Err(e) = checked {
            let _ = e.to_string();
        }
    }
}

/// A credential file that is not PEM is one DER object, taken as it is.
fn is_pem(bytes: &[u8]) -> bool {
    bytes.windows(11).any(|w| w == b"-----BEGIN ")
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let (given, mut rest) = rest.split_at(rest.len().min(8));
    let given = given.iter().fold(0u64, |a, &b| a << 8 | u64::from(b));
    let revocation = match control & 3 {
        1 => Revocation::IfUri,
        2 => Revocation::Strict,
        _ => Revocation::Relaxed,
    };
    let now = match (control >> 2) & 3 {
        0 => NOW,
        1 => NOW - 3 * YEAR,
        2 => NOW + 20 * YEAR,
        _ => given,
    };
    let allow_sha1 = control & 0x10 != 0;

    // Each record as a one-payload chain with a correct generic header.
    let mut framed: Vec<(PayloadType, Vec<u8>)> = Vec::new();
    while rest.len() >= 3 && framed.len() < MAX_RECORDS {
        let ty = match rest[0] % 4 {
            0 => PayloadType::IDI,
            1 => PayloadType::CERT,
            2 => PayloadType::CERTREQ,
            _ => PayloadType::AUTH,
        };
        let n = usize::from(u16::from_be_bytes([rest[1], rest[2]]));
        let n = n.min(rest.len() - 3).min(usize::from(u16::MAX) - 4);
        let mut p = Vec::with_capacity(4 + n);
        p.extend([0, 0]);
        p.extend(((4 + n) as u16).to_be_bytes());
        p.extend(&rest[3..3 + n]);
        framed.push((ty, p));
        rest = &rest[3 + n..];
    }
    let mut peer_ids = Vec::new();
    let mut configured = Vec::new();
    let mut chain: Vec<&[u8]> = Vec::new();
    let mut store = TrustStore::default();
    let mut certreqs: Vec<CertReq<'_>> = Vec::new();
    let mut auths: Vec<Auth<'_>> = Vec::new();
    let mut raw_keys: Vec<PublicKey> = Vec::new();
    if control & 0x20 == 0 {
        store
            .anchors
            .push(Certificate::from_der(ROOT).expect("the fixed anchor parses"));
    }
    for (ty, p) in &framed {
        let Ok(payloads) = parse_payload_chain(*ty, p) else {
            continue;
        };
        for payload in payloads {
            match payload {
                Payload::IdI(id) => {
                    peer_ids.push(Identity::from_wire(&id));
                    // The same octets as an ID written in swanctl.conf (`C=CH, O=x, CN=*`).
                    if let Ok(text) = std::str::from_utf8(id.data) {
                        configured.extend(text.parse::<Identity>().ok());
                    }
                }
                Payload::Cert(c) if c.encoding == CertEncoding::X509_SIGNATURE => {
                    chain.push(c.data)
                }
                Payload::Cert(c) if c.encoding == CertEncoding::RAW_PUBLIC_KEY => {
                    match encoding::public_key(c.data) {
                        Ok((der, key)) => {
                            let again = encoding::public_key(&der).expect("re-encoded key");
                            assert_eq!(again, (der.clone(), key.clone()));
                            store.raw_keys.push(der);
                            raw_keys.push(key);
                        }
                        Err(e) => {
                            let _ = e.to_string();
                        }
                    }
                }
                Payload::Cert(c) if c.encoding == CertEncoding::CRL => {
                    match encoding::crls(c.data) {
                        Ok(crls) => {
                            if !is_pem(c.data) {
                                assert_eq!(crls, [c.data]);
                            }
                            store.crls.extend(crls);
                        }
                        Err(e) => {
                            let _ = e.to_string();
                            // Also what a file would not give (verify skips it).
                            store.crls.push(c.data.to_vec());
                        }
                    }
                }
                Payload::Cert(c) => match encoding::certificates(c.data) {
                    Ok(certs) => {
                        if !is_pem(c.data) {
                            assert_eq!(certs.len(), 1);
                        }
                        for a in certs {
                            let again = certificate(a.der()).expect("an anchor re-parses");
                            assert_eq!(again, a);
                            store.anchors.push(a);
                        }
                    }
                    Err(e) => {
                        let _ = e.to_string();
                    }
                },
                Payload::CertReq(r) => certreqs.push(r),
                Payload::Auth(a) => auths.push(a),
                _ => {}
            }
        }
    }

    // CERTREQ: whole 20-octet hashes or nothing, looked up among the anchors.
    let ours: Vec<[u8; 20]> = store
        .anchors
        .iter()
        .map(Certificate::certreq_hash)
        .collect();
    for r in &certreqs {
        match r.ca_key_hashes() {
            Some(hashes) => {
                let hashes: Vec<&[u8]> = hashes.collect();
                assert_eq!(hashes.len() * 20, r.data.len());
                let _known = hashes
                    .iter()
                    .filter(|h| ours.iter().any(|o| o == **h))
                    .count();
            }
            None => assert_ne!(r.data.len() % 20, 0),
        }
    }

    // A peer without a certificate: its raw public key.
    for key in &raw_keys {
        signatures(key, &auths, allow_sha1);
    }

    let certs: Vec<Option<Certificate>> = chain.iter().map(|d| certificate(d)).collect();
    let Some(Some(ee)) = certs.first() else {
        return;
    };
    if store.raw_keys.contains(&ee.spki) {
        // A certificate around a key trusted as such: checked as that key.
        if let Ok(key) = ee.public_key() {
            assert!(raw_keys.contains(&key));
        }
    }
    // As check_peer: any intermediate that does not parse fails the peer.
    let Some(intermediates) = certs[1..].iter().cloned().collect::<Option<Vec<_>>>() else {
        return;
    };

    match store.verify(ee, &intermediates, now, revocation) {
        Ok(v) => {
            assert!(!ee.key_usage_forbids_signing);
            assert!(
                ee.not_before <= now && now <= ee.not_after,
                "{ee:?} at {now}"
            );
            assert!(revocation != Revocation::Strict || !store.crls.is_empty());
            assert_eq!(v.path.first(), Some(&ee.subject));
            assert!(v.path.len() >= 2, "{:?}", v.path);
            let top = v.path.last().expect("not empty");
            assert!(
                store.anchors.iter().any(|a| &a.subject == top),
                "{:?}",
                v.path
            );
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }

    for c in &configured {
        for p in &peer_ids {
            let _ = c.matches(p);
        }
    }
    let mut identities = peer_ids;
    identities.extend(configured);
    identities.extend([
        Identity::Fqdn("gw.example.org".into()),
        Identity::Rfc822("GW@example.org".into()),
        Identity::Ipv4(Ipv4Addr::new(192, 0, 2, 1)),
        Identity::Ipv6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
    ]);
    for n in &ee.alt_names {
        if let AltName::Dn(d) = n {
            ids::check(ee, &Identity::DerAsn1Dn(d.clone()))
                .expect("a certificate carries its directoryName alt names");
        }
    }
    for id in &identities {
        // Printed for logs (a DN as text when that reads back as a DN, else hex).
        let text = id.to_string();
        if let (Identity::DerAsn1Dn(d), Ok(Identity::DerAsn1Dn(back))) = (id, text.parse()) {
            let _ = dn::matches(d, &back);
        }
        if let Err(e) = ids::check(ee, id) {
            let _ = e.to_string();
        }
    }

    let key = match ee.public_key() {
        Ok(k) => k,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    signatures(&key, &auths, allow_sha1);
});
