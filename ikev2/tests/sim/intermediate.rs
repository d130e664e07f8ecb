//! Hybrid key exchange: RFC 9370 additional key exchanges in IKE_INTERMEDIATE
//! exchanges (RFC 9242) between IKE_SA_INIT and IKE_AUTH, with the key update after
//! each and AUTH covering the intermediate messages (IntAuth).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use crate::harness::*;
use ikev2::crypto::proposal::Proposal;
use ikev2::error::{Cause, Phase};
use ikev2::wire::{DhGroup, ExchangeType, Header, ProtocolId};

fn ike(s: &str) -> Vec<Proposal> {
    Proposal::parse_list(ProtocolId::IKE, s).unwrap()
}

/// Both sides with `ours` / `theirs` IKE proposals.
fn hybrid(seed: u64, ours: &str, theirs: &str) -> Network {
    let (a, b) = (ike(ours), ike(theirs));
    pair_with(
        seed,
        move |c| conn(c).proposals = a,
        move |c| conn(c).proposals = b,
    )
}

/// The exchange types node `node` sent, in order.
fn exchanges(net: &Network, node: usize) -> Vec<ExchangeType> {
    net.nodes[node]
        .sent
        .iter()
        .filter_map(|(_, t)| Header::new_checked(&t.payload).ok())
        .map(|h| h.exchange_type())
        .collect()
}

#[test]
fn x25519_plus_ml_kem_768_sets_up_through_ike_intermediate() {
    let p = "aes256gcm16-prfsha384-x25519-ke1_mlkem768";
    let mut net = hybrid(1, p, p);
    net.initiate(0, "ab");
    assert!(
        net.drive_until(Duration::from_secs(10), |n| n.established(1)),
        "{:?} {:?}",
        net.failures(0),
        net.failures(1)
    );
    assert_child_pair(net.children(0)[0], net.children(1)[0]);
    for node in 0..2 {
        let s = net.ike_ups(node)[0].suite;
        assert_eq!(s.dh, DhGroup::CURVE25519);
        assert_eq!(
            s.additional().collect::<Vec<_>>(),
            [(1, DhGroup::ML_KEM_768)]
        );
    }
    assert_eq!(
        exchanges(&net, 0),
        [
            ExchangeType::IKE_SA_INIT,
            ExchangeType::IKE_INTERMEDIATE,
            ExchangeType::IKE_AUTH
        ]
    );
    // Traffic flows on the CHILD SA keyed from the final SK_d.
    net.start_traffic(Duration::from_millis(100));
    net.drive_for(Duration::from_secs(5));
    assert!(net.nodes[0].dp.delivered > 10 && net.nodes[0].dp.lost == 0);
}

#[test]
fn several_additional_exchanges_optional_ones_and_fragments() {
    // Three additional exchanges, ADDKE3 optional and agreed; tiny fragments so the
    // ML-KEM messages go in SKF pieces (IntAuth over the reassembled form).
    let ours = "aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke2_ecp384-ke3_mlkem1024-ke3_none";
    let theirs = "aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke2_ecp384-ke3_mlkem1024";
    for seed in 0..4 {
        let (a, b) = (ike(ours), ike(theirs));
        let mut net = pair_with(
            seed,
            move |c| {
                conn(c).proposals = a;
                c.fragment_size = 400;
            },
            move |c| {
                conn(c).proposals = b;
                c.fragment_size = 400;
            },
        );
        net.loss = 0.05;
        net.reorder = 0.3;
        net.duplicate = 0.1;
        net.initiate(0, "ab");
        let up = net.drive_until(Duration::from_secs(170), |n| n.established(1));
        assert!(
            up,
            "seed {seed}: {:?} {:?}",
            net.failures(0),
            net.failures(1)
        );
        let s = net.ike_ups(1)[0].suite;
        assert_eq!(
            s.additional().collect::<Vec<_>>(),
            [
                (1, DhGroup::ML_KEM_768),
                (2, DhGroup::ECP_384),
                (3, DhGroup::ML_KEM_1024)
            ],
            "seed {seed}"
        );
        assert!(net.nodes[0].ep.stats().fragmented_messages > 0);
        assert_child_pair(net.children(0)[0], net.children(1)[0]);
    }
    // The optional one declined by the responder: two exchanges.
    let mut net = hybrid(
        9,
        ours,
        "aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke2_ecp384-ke3_none",
    );
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(10), |n| n.established(1)));
    assert_eq!(net.ike_ups(0)[0].suite.additional().count(), 2);
}

#[test]
fn a_classic_peer_gets_the_classic_fallback_and_a_hybrid_only_one_fails_plainly() {
    // Hybrid first, classic second, against a classic-only responder.
    let mut net = hybrid(
        2,
        "aes256gcm16-prfsha384-x25519-ke1_mlkem768,aes256gcm16-prfsha384-x25519",
        "aes256gcm16-prfsha384-x25519",
    );
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(10), |n| n.established(1)));
    assert_eq!(net.ike_ups(0)[0].suite.additional().count(), 0);
    assert!(!exchanges(&net, 0).contains(&ExchangeType::IKE_INTERMEDIATE));
    // Hybrid only against classic only: NO_PROPOSAL_CHOSEN in IKE_SA_INIT.
    let mut net = hybrid(
        3,
        "aes256gcm16-prfsha384-x25519-ke1_mlkem768",
        "aes256gcm16-prfsha384-x25519",
    );
    net.initiate(0, "ab");
    net.drive_for(Duration::from_secs(10));
    let f = net.failures(0);
    let rejected = f
        .iter()
        .find(|f| {
            f.phase == Phase::IkeSaInit && matches!(f.cause, Cause::PeerRejectedProposals { .. })
        })
        .unwrap_or_else(|| panic!("{f:?}"));
    let text = rejected.cause.to_string();
    assert!(text.contains("needs an additional key exchange"), "{text}");
    // The responder's side names the missing additional exchange.
    let theirs = net.failures(1);
    let text = theirs
        .iter()
        .map(|f| f.cause.to_string())
        .find(|t| t.contains("NO_PROPOSAL_CHOSEN"))
        .unwrap_or_else(|| panic!("{theirs:?}"));
    assert!(text.contains("additional key exchange (KE1)"), "{text}");
}

/// The datagram sizes of a setup with and without ML-KEM-768, for
/// docs/post-quantum.md: `cargo test -p ikev2 --test sim message_sizes -- --nocapture`.
/// ML-KEM adds its key share (1184 octets) and ciphertext (1088) plus headers in one
/// IKE_INTERMEDIATE exchange; IKE_SA_INIT stays the same.
#[test]
fn message_sizes_with_and_without_ml_kem() {
    let size_of = |p: &str| {
        let mut net = hybrid(5, p, p);
        net.initiate(0, "ab");
        assert!(net.drive_until(Duration::from_secs(10), |n| n.established(1)));
        let sizes = |node: usize| -> Vec<(ExchangeType, usize)> {
            net.nodes[node]
                .sent
                .iter()
                .filter_map(|(_, t)| {
                    Header::new_checked(&t.payload)
                        .ok()
                        .map(|h| (h.exchange_type(), t.payload.len()))
                })
                .collect()
        };
        (sizes(0), sizes(1))
    };
    let classic = size_of("aes256gcm16-prfsha384-x25519");
    let hybrid = size_of("aes256gcm16-prfsha384-x25519-ke1_mlkem768");
    let total = |v: &[(ExchangeType, usize)]| v.iter().map(|(_, n)| n).sum::<usize>();
    eprintln!(
        "classic: initiator {:?}, responder {:?}",
        classic.0, classic.1
    );
    eprintln!(
        "hybrid:  initiator {:?}, responder {:?}",
        hybrid.0, hybrid.1
    );
    let extra_i = total(&hybrid.0) - total(&classic.0);
    let extra_r = total(&hybrid.1) - total(&classic.1);
    eprintln!("added by ML-KEM-768: initiator {extra_i} octets, responder {extra_r} octets");
    // The key share and the ciphertext, plus IKE, SK and KE headers, IV and ICV, and
    // the IKE_INT_SUP notifies and the ADDKE transform.
    assert!((1184..1184 + 150).contains(&extra_i), "{extra_i}");
    assert!((1088..1088 + 150).contains(&extra_r), "{extra_r}");
}
