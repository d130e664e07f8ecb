//! Every DH group and every kind of cipher we implement, end to end; INVALID_KE_PAYLOAD
//! in both directions.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use crate::harness::*;
use ikev2::crypto::algorithms::EncrAlgorithm;
use ikev2::crypto::proposal::Proposal;
use ikev2::wire::{DhGroup, ProtocolId};

fn run(ike: &str, esp: &str) -> Network {
    let ike_list = Proposal::parse_list(ProtocolId::IKE, ike).unwrap();
    let esp_list = Proposal::parse_list(ProtocolId::ESP, esp).unwrap();
    let (i2, e2) = (ike_list.clone(), esp_list.clone());
    let mut net = pair_with(
        3,
        move |a| {
            conn(a).proposals = ike_list;
            conn(a).children[0].esp_proposals = esp_list;
        },
        move |b| {
            conn(b).proposals = i2;
            conn(b).children[0].esp_proposals = e2;
        },
    );
    net.initiate(0, "ab");
    assert!(
        net.drive_until(Duration::from_secs(10), |n| n.established(1)),
        "{ike} / {esp}: {:?} {:?}",
        net.failures(0),
        net.failures(1)
    );
    assert_child_pair(net.children(0)[0], net.children(1)[0]);
    net
}

#[test]
fn every_dh_group() {
    for (kw, group) in [
        ("modp2048", DhGroup::MODP_2048),
        ("modp3072", DhGroup::MODP_3072),
        ("modp4096", DhGroup::MODP_4096),
        ("ecp256", DhGroup::ECP_256),
        ("ecp384", DhGroup::ECP_384),
        ("ecp521", DhGroup::ECP_521),
        ("curve25519", DhGroup::CURVE25519),
    ] {
        let net = run(&format!("aes256-sha256-{kw}"), "aes256gcm16");
        assert_eq!(net.ike_ups(0)[0].suite.dh, group, "{kw}");
        assert_eq!(net.ike_ups(1)[0].suite.dh, group, "{kw}");
    }
}

/// ML-KEM as the key exchange method (transform type 4, strongSwan's `mlkem768`):
/// the initiator's KE payload carries its encapsulation key, the responder's the
/// ciphertext; IKE_SA_INIT, an IKE rekey and a CHILD rekey with ML-KEM PFS all agree.
#[test]
fn ml_kem_as_the_key_exchange_method_sets_up_and_rekeys() {
    for (kw, method) in [
        ("mlkem512", DhGroup::ML_KEM_512),
        ("mlkem768", DhGroup::ML_KEM_768),
        ("mlkem1024", DhGroup::ML_KEM_1024),
    ] {
        let mut net = run(
            &format!("aes256gcm16-prfsha384-{kw}"),
            &format!("aes256gcm16-{kw}"),
        );
        for node in 0..2 {
            assert_eq!(net.ike_ups(node)[0].suite.dh, method, "{kw}");
        }
        let now = net.now;
        let ike = net.nodes[0].ep.ike_sas()[0].id;
        net.nodes[0].ep.rekey_ike_sa(now, ike).unwrap();
        let spi = net.children(0)[0].spi_in;
        net.nodes[0].ep.rekey_child(now, spi).unwrap();
        net.drive_for(Duration::from_secs(10));
        assert!(
            net.failures(0).is_empty() && net.failures(1).is_empty(),
            "{kw}: {:?} {:?}",
            net.failures(0),
            net.failures(1)
        );
        let rekeyed = |n: &Network, node: usize| {
            n.nodes[node]
                .events
                .iter()
                .filter(|e| matches!(e, ikev2::event::Event::IkeSaRekeyed(_)))
                .count()
        };
        assert_eq!((rekeyed(&net, 0), rekeyed(&net, 1)), (1, 1), "{kw}");
        let child_rekeys: Vec<_> = net
            .children(1)
            .into_iter()
            .filter(|c| c.rekey_of.is_some())
            .collect();
        assert_eq!(child_rekeys.len(), 1, "{kw}");
        assert_eq!(child_rekeys[0].suite.dh, Some(method), "{kw}: PFS");
        let (a, b) = (net.nodes[0].ep.ike_sas(), net.nodes[1].ep.ike_sas());
        assert_eq!((a.len(), b.len()), (1, 1));
        assert_eq!((a[0].spi_i, a[0].spi_r), (b[0].spi_i, b[0].spi_r), "{kw}");
    }
}

#[test]
fn every_kind_of_cipher_for_ike_and_esp() {
    for (ike, esp, encr) in [
        (
            "aes128-sha1-ecp256",
            "aes128-sha1",
            EncrAlgorithm::AesCbc { key_bits: 128 },
        ),
        (
            "aes192-sha384-ecp256",
            "aes192-sha384",
            EncrAlgorithm::AesCbc { key_bits: 192 },
        ),
        (
            "aes256-sha512-ecp256",
            "aes256-sha512",
            EncrAlgorithm::AesCbc { key_bits: 256 },
        ),
        (
            "aes128gcm8-prfsha256-curve25519",
            "aes128gcm8",
            EncrAlgorithm::AesGcm {
                key_bits: 128,
                icv_len: 8,
            },
        ),
        (
            "aes192gcm12-prfsha384-curve25519",
            "aes192gcm12",
            EncrAlgorithm::AesGcm {
                key_bits: 192,
                icv_len: 12,
            },
        ),
        (
            "aes256gcm16-prfsha512-curve25519",
            "aes256gcm16",
            EncrAlgorithm::AesGcm {
                key_bits: 256,
                icv_len: 16,
            },
        ),
        (
            "chacha20poly1305-prfsha256-curve25519",
            "chacha20poly1305",
            EncrAlgorithm::ChaCha20Poly1305,
        ),
    ] {
        let net = run(ike, esp);
        assert_eq!(net.ike_ups(0)[0].suite.encr, encr, "{ike}");
        let child = net.children(0)[0];
        assert_eq!(child.suite.encr, encr, "{esp}");
        assert_eq!(child.keys.encr_in.len(), encr.keymat_len(), "{esp}");
        if encr.is_aead() {
            assert!(child.keys.integ_in.is_empty());
        } else {
            assert!(!child.keys.integ_in.is_empty());
        }
    }
}

#[test]
fn esp_pfs_group_is_ignored_in_ike_auth() {
    // RFC 7296 section 1.2: the CHILD SA of IKE_AUTH has no KE; a PFS group in the
    // ESP proposals does not stop it.
    let net = run("aes256-sha256-ecp256", "aes256gcm16-modp2048");
    let c = net.children(0)[0];
    assert_eq!(c.suite.dh, None);
}

#[test]
fn invalid_ke_retry_with_the_group_the_responder_prefers() {
    let mut net = pair_with(
        5,
        // A guesses MODP-2048 (first in its list) but also offers ECP-256.
        |a| {
            conn(a).proposals =
                Proposal::parse_list(ProtocolId::IKE, "aes256-sha256-modp2048-ecp256").unwrap()
        },
        // B prefers ECP-256, though MODP-2048 would be acceptable.
        |b| {
            conn(b).proposals =
                Proposal::parse_list(ProtocolId::IKE, "aes256-sha256-ecp256-modp2048").unwrap()
        },
    );
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(10), |n| n.established(1)));
    assert_eq!(net.ike_ups(0)[0].suite.dh, DhGroup::ECP_256);
    assert_eq!(net.nodes[1].ep.stats().invalid_ke_sent, 1);
    assert_eq!(net.nodes[0].ep.stats().invalid_ke_retries, 1);
    // Same SPIi both times, message ID 0; the responder kept no state in between.
    let sent = &net.nodes[0].sent;
    assert_eq!(sent[0].1.payload[..8], sent[1].1.payload[..8]);
    assert_ne!(sent[0].1.payload, sent[1].1.payload);
    assert!(net.failures(0).is_empty() && net.failures(1).is_empty());
    assert_child_pair(net.children(0)[0], net.children(1)[0]);
}

#[test]
fn invalid_ke_across_proposals() {
    let mut net = pair_with(
        5,
        |a| {
            conn(a).proposals = Proposal::parse_list(
                ProtocolId::IKE,
                "aes256-sha256-modp3072, aes128gcm16-prfsha256-curve25519",
            )
            .unwrap()
        },
        |b| {
            conn(b).proposals =
                Proposal::parse_list(ProtocolId::IKE, "aes128gcm16-prfsha256-curve25519").unwrap()
        },
    );
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(10), |n| n.established(1)));
    assert_eq!(net.ike_ups(0)[0].suite.dh, DhGroup::CURVE25519);
    assert_eq!(net.nodes[0].ep.stats().invalid_ke_retries, 1);
}
