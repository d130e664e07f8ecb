//! IKE fragmentation (RFC 7383), childless IKE_AUTH (RFC 6023) with CREATE_CHILD_SA,
//! more than one CHILD SA, and INITIAL_CONTACT.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use crate::harness::*;
use ikev2::Endpoint;
use ikev2::config::{ChildConfig, Childless, Fragmentation};
use ikev2::crypto::proposal::Proposal;
use ikev2::error::{Cause, Phase};
use ikev2::event::{DownReason, Event};
use ikev2::wire::{DhGroup, ProtocolId};

fn esp(s: &str) -> Vec<Proposal> {
    Proposal::parse_list(ProtocolId::ESP, s).unwrap()
}

#[test]
fn tiny_fragment_size_fragments_ike_auth_both_ways() {
    let mut net = pair_with(2, |a| a.fragment_size = 200, |b| b.fragment_size = 200);
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    assert_child_pair(net.children(0)[0], net.children(1)[0]);
    for n in &net.nodes {
        // Every datagram after IKE_SA_INIT fits in 200 octets of IP datagram.
        for (_, t) in n.sent.iter().skip(1) {
            // IP and UDP headers, and the non-ESP marker on port 4500.
            let marker = if t.local.port() == 500 { 0 } else { 4 };
            assert!(
                t.payload.len() + 28 + marker <= 200,
                "{} octets",
                t.payload.len()
            );
        }
        assert_eq!(n.ep.stats().fragmented_messages, 1);
        assert_eq!(n.ep.stats().reassembled_messages, 1);
    }
    assert!(
        net.nodes[0].sent.len() >= 3,
        "IKE_SA_INIT and at least two fragments"
    );
}

#[test]
fn fragments_survive_loss_and_reordering() {
    for seed in 0..8 {
        let mut net = pair_with(seed, |a| a.fragment_size = 180, |b| b.fragment_size = 180);
        net.loss = 0.1;
        net.reorder = 0.5;
        net.duplicate = 0.2;
        net.initiate(0, "ab");
        net.drive_for(Duration::from_secs(170));
        if net.established(1) {
            assert_child_pair(net.children(0)[0], net.children(1)[0]);
        } else {
            for f in net.failures(0) {
                assert!(matches!(f.cause, Cause::Timeout { .. }), "seed {seed}: {f}");
            }
        }
    }
}

#[test]
fn no_fragments_unless_both_support_them() {
    let mut net = pair_with(
        2,
        |a| a.fragment_size = 200,
        |b| conn(b).fragmentation = Fragmentation::No,
    );
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    assert_eq!(net.nodes[0].ep.stats().fragmented_messages, 0);
    assert!(net.nodes[0].sent[1].1.payload.len() > 200);
}

#[test]
fn reassembly_limits_are_enforced() {
    let mut net = pair_with(
        2,
        |a| a.fragment_size = 150,
        |b| b.fragment_limits.max_fragments = 2,
    );
    net.initiate(0, "ab");
    net.drive_for(Duration::from_secs(200));
    assert!(net.ike_ups(1).is_empty());
    assert!(net.nodes[1].ep.stats().dropped_fragment_limit >= 1);
    assert!(matches!(net.failures(0)[0].cause, Cause::Timeout { .. }));
}

#[test]
fn childless_ike_auth_then_create_child_sa_with_pfs() {
    let mut net = pair_with(
        3,
        |a| {
            conn(a).childless = Childless::Force;
            conn(a).children[0].esp_proposals = esp("aes256gcm16-ecp256");
        },
        |b| conn(b).children[0].esp_proposals = esp("aes256gcm16-ecp256"),
    );
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    // IKE_SA_INIT, IKE_AUTH without a child, CREATE_CHILD_SA.
    assert_eq!(net.nodes[0].sent.len(), 3);
    let (ca, cb) = (net.children(0)[0], net.children(1)[0]);
    assert_child_pair(ca, cb);
    assert!(ca.initiator);
    assert_eq!(
        ca.suite.dh,
        Some(DhGroup::ECP_256),
        "PFS in CREATE_CHILD_SA"
    );
    assert!(net.failures(0).is_empty() && net.failures(1).is_empty());
}

#[test]
fn childless_against_childless_never() {
    // Force: fails before sending IKE_AUTH (the peer did not announce support).
    let mut net = pair_with(
        3,
        |a| conn(a).childless = Childless::Force,
        |b| conn(b).childless = Childless::Never,
    );
    net.initiate(0, "ab");
    net.drive_for(Duration::from_secs(60));
    let f = net.failures(0);
    assert!(matches!(f[0].cause, Cause::Childless(_)), "{f:?}");
    assert_eq!(f[0].phase, Phase::IkeAuth);
    // Prefer: falls back to a CHILD SA in IKE_AUTH.
    let mut net = pair_with(
        3,
        |a| conn(a).childless = Childless::Prefer,
        |b| conn(b).childless = Childless::Never,
    );
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    assert_eq!(net.nodes[0].sent.len(), 2);
}

#[test]
fn second_child_follows_with_create_child_sa() {
    let add = |c: &mut ikev2::config::EndpointConfig, l: &str, r: &str| {
        let mut ch = ChildConfig::new("net2");
        ch.local_ts = vec![l.parse().unwrap()];
        ch.remote_ts = vec![r.parse().unwrap()];
        ch.esp_proposals = esp("chacha20poly1305");
        conn(c).children.push(ch);
    };
    let mut net = pair_with(
        3,
        |a| add(a, "10.11.0.0/24", "10.12.0.0/24"),
        |b| add(b, "10.12.0.0/24", "10.11.0.0/24"),
    );
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(2)));
    for i in 0..2 {
        assert_child_pair(net.children(0)[i], net.children(1)[i]);
    }
    assert_eq!(net.children(1)[1].child, "net2");
    let st = &net.nodes[1].ep.ike_sas()[0];
    assert_eq!(st.children.len(), 2);
}

#[test]
fn create_child_sa_retries_after_invalid_ke() {
    let mut net = pair_with(
        3,
        |a| {
            conn(a).childless = Childless::Force;
            conn(a).children[0].esp_proposals = esp("aes256gcm16-modp2048-ecp256");
        },
        |b| conn(b).children[0].esp_proposals = esp("aes256gcm16-ecp256"),
    );
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    assert_eq!(net.children(0)[0].suite.dh, Some(DhGroup::ECP_256));
    assert_eq!(net.nodes[1].ep.stats().invalid_ke_sent, 1);
    assert_child_pair(net.children(0)[0], net.children(1)[0]);
}

#[test]
fn initial_contact_replaces_stale_sas() {
    let mut net = pair();
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    // A second SA from the same running A: no INITIAL_CONTACT, both stay.
    net.initiate(0, "ab");
    net.drive_for(Duration::from_secs(5));
    assert_eq!(net.nodes[1].ep.ike_sa_count(), 2);
    // A restarts (forgets everything) and connects again: INITIAL_CONTACT.
    let cfg = Arc::new(net.nodes[0].ep.config().clone());
    net.nodes[0].ep = Endpoint::new(cfg, seed(77));
    net.initiate(0, "ab");
    net.drive_for(Duration::from_secs(5));
    assert_eq!(net.nodes[1].ep.ike_sa_count(), 1);
    let replaced = net.nodes[1]
        .events
        .iter()
        .filter(|e| matches!(e, Event::IkeSaDown(d) if d.reason == DownReason::Replaced))
        .count();
    assert_eq!(replaced, 2);
    let deleted = net.nodes[1]
        .events
        .iter()
        .filter(|e| matches!(e, Event::ChildSaDeleted(_)))
        .count();
    assert_eq!(deleted, 2);
    assert_eq!(net.ike_ups(1).len(), 3);
}
