//! Additional key exchanges after CREATE_CHILD_SA (RFC 9370 section 2.2.4,
//! IKE_FOLLOWUP_KE): CHILD SA rekeys and IKE SA rekeys with `ke1_mlkem768`, several
//! additional exchanges, loss, fragments, collisions, and a peer without them.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use crate::harness::*;
use ikev2::crypto::proposal::Proposal;
use ikev2::wire::{DhGroup, ExchangeType, Header, ProtocolId};

const IKE: &str = "aes256gcm16-prfsha384-x25519-ke1_mlkem768";
const ESP: &str = "aes256gcm16-x25519-ke1_mlkem768";

fn proposals(protocol: ProtocolId, s: &str) -> Vec<Proposal> {
    Proposal::parse_list(protocol, s).unwrap()
}

/// Hybrid IKE and ESP proposals, the CHILD SA rekeyed every `child` seconds and the
/// IKE SA every `ike` (0: never).
fn hybrid(esp: &'static str, child: u64, ike: u64) -> impl Fn(&mut ikev2::config::EndpointConfig) {
    move |c| {
        let conn = conn(c);
        conn.proposals = proposals(ProtocolId::IKE, IKE);
        conn.rekey_time = Duration::from_secs(ike);
        let ch = &mut conn.children[0];
        ch.esp_proposals = proposals(ProtocolId::ESP, esp);
        ch.rekey_time = Duration::from_secs(child);
        ch.life_time = Duration::from_secs(child + child / 10 + 1);
    }
}

/// How many requests of exchange `ty` node `node` sent (each IKE SA and message ID
/// once, whatever the retransmissions and fragments).
fn requests(net: &Network, node: usize, ty: ExchangeType) -> usize {
    let ids: std::collections::HashSet<_> = net.nodes[node]
        .sent
        .iter()
        .filter_map(|(_, t)| Header::new_checked(&t.payload).ok())
        .filter(|h| h.exchange_type() == ty && !h.flags().is_response())
        .map(|h| (h.spi_i(), h.message_id()))
        .collect();
    ids.len()
}

#[test]
fn child_rekeys_run_ml_kem_in_ike_followup_ke_and_lose_no_packet() {
    let mut net = pair_with(21, hybrid(ESP, 30, 0), hybrid(ESP, 30, 0));
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    // The CHILD SA of IKE_AUTH has no key exchange at all (RFC 7296 section 1.2).
    assert_eq!(net.children(0)[0].suite.dh, None);
    net.start_traffic(Duration::from_millis(100));
    let done = net.drive_until(Duration::from_secs(2000), |n| {
        child_rekeys(n, 0) >= 20 && child_rekeys(n, 1) >= 20
    });
    assert!(done, "{:?} {:?}", net.failures(0), net.failures(1));
    net.drive_for(Duration::from_secs(10));
    for i in 0..2 {
        assert!(net.failures(i).is_empty(), "{:?}", net.failures(i));
        let dp = &net.nodes[i].dp;
        assert_eq!(dp.lost, 0, "node {i}: {} of {} lost", dp.lost, dp.sent);
        assert!(dp.errors.is_empty(), "{:?}", dp.errors);
        for c in net.children(i).iter().filter(|c| c.rekey_of.is_some()) {
            assert_eq!(c.suite.dh, Some(DhGroup::CURVE25519));
            assert_eq!(
                c.suite.additional().collect::<Vec<_>>(),
                [(1, DhGroup::ML_KEM_768)]
            );
        }
    }
    // One IKE_FOLLOWUP_KE per rekey, from whichever side rekeyed.
    let rekey_requests = requests(&net, 0, ExchangeType::CREATE_CHILD_SA)
        + requests(&net, 1, ExchangeType::CREATE_CHILD_SA);
    let followups = requests(&net, 0, ExchangeType::IKE_FOLLOWUP_KE)
        + requests(&net, 1, ExchangeType::IKE_FOLLOWUP_KE);
    assert!(rekey_requests >= 20);
    assert_eq!(followups, rekey_requests);
    assert_same_children(&net);
    assert_child_pair(
        net.children(0).last().unwrap(),
        net.children(1)
            .into_iter()
            .find(|c| c.spi_in == net.children(0).last().unwrap().spi_out)
            .unwrap(),
    );
}

#[test]
fn several_additional_exchanges_with_loss_reordering_and_fragments() {
    const ESP3: &str = "aes256gcm16-x25519-ke1_mlkem768-ke2_ecp384-ke3_mlkem512";
    for seed in 0..3 {
        let frag = |c: &mut ikev2::config::EndpointConfig| c.fragment_size = 500;
        let mut net = pair_with(
            seed,
            move |c| {
                hybrid(ESP3, 40, 0)(c);
                frag(c);
            },
            move |c| {
                hybrid(ESP3, 40, 0)(c);
                frag(c);
            },
        );
        net.initiate(0, "ab");
        assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
        net.loss = 0.1;
        net.reorder = 0.3;
        net.duplicate = 0.1;
        let done = net.drive_until(Duration::from_secs(3000), |n| {
            child_rekeys(n, 0) >= 5 && child_rekeys(n, 1) >= 5
        });
        assert!(
            done,
            "seed {seed}: {:?} {:?}",
            net.failures(0),
            net.failures(1)
        );
        net.loss = 0.0;
        net.drive_for(Duration::from_secs(30));
        let last = net.children(1).into_iter().last().unwrap();
        assert_eq!(
            last.suite.additional().collect::<Vec<_>>(),
            [
                (1, DhGroup::ML_KEM_768),
                (2, DhGroup::ECP_384),
                (3, DhGroup::ML_KEM_512)
            ]
        );
        assert!(net.nodes[0].ep.stats().fragmented_messages > 0);
        assert_same_children(&net);
        assert_eq!(current_children(&net, 0).len(), 1, "seed {seed}");
        // Three follow-ups per rekey.
        let ccsa = requests(&net, 0, ExchangeType::CREATE_CHILD_SA)
            + requests(&net, 1, ExchangeType::CREATE_CHILD_SA);
        let fu = requests(&net, 0, ExchangeType::IKE_FOLLOWUP_KE)
            + requests(&net, 1, ExchangeType::IKE_FOLLOWUP_KE);
        assert!(
            fu >= 3 * child_rekeys(&net, 0),
            "{fu} follow-ups, {ccsa} rekeys"
        );
    }
}

#[test]
fn ike_rekeys_with_followups_keep_the_child_sa() {
    let mut net = pair_with(22, hybrid(ESP, 100_000, 60), hybrid(ESP, 100_000, 60));
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    net.start_traffic(Duration::from_millis(200));
    let done = net.drive_until(Duration::from_secs(2000), |n| {
        ike_rekeys(n, 0) >= 10 && ike_rekeys(n, 1) >= 10
    });
    assert!(done, "{:?} {:?}", net.failures(0), net.failures(1));
    net.drive_for(Duration::from_secs(10));
    let a = net.nodes[0].ep.ike_sas();
    let b = net.nodes[1].ep.ike_sas();
    assert_eq!((a.len(), b.len()), (1, 1));
    assert_eq!((a[0].spi_i, a[0].spi_r), (b[0].spi_i, b[0].spi_r));
    let suite = a[0].suite.unwrap();
    assert_eq!(
        suite.additional().collect::<Vec<_>>(),
        [(1, DhGroup::ML_KEM_768)]
    );
    for i in 0..2 {
        assert!(net.failures(i).is_empty(), "{:?}", net.failures(i));
        assert_eq!(net.nodes[i].dp.lost, 0);
        assert_eq!(net.nodes[i].ep.ike_sas()[0].children.len(), 1);
    }
    assert!(
        requests(&net, 0, ExchangeType::IKE_FOLLOWUP_KE)
            + requests(&net, 1, ExchangeType::IKE_FOLLOWUP_KE)
            >= 10
    );
    // The rekeyed IKE SA (keys from SK(0) and SK(1)) still carries a CHILD rekey.
    let c = current_children(&net, 0)[0].0;
    let now = net.now;
    net.nodes[0].ep.rekey_child(now, c).unwrap();
    net.drive_for(Duration::from_secs(10));
    assert_eq!(child_rekeys(&net, 0), 1);
    assert_same_children(&net);
}

/// Both ends rekey the same CHILD SA at once: the exchange with the lowest nonce
/// loses at its CREATE_CHILD_SA response and sends no follow-up; one new SA remains
/// on both sides, whichever side won.
#[test]
fn simultaneous_child_rekeys_with_followups() {
    let mut winners = [0usize; 2];
    for s in 0..12u8 {
        let mut net = pair_seeded(
            u64::from(s),
            10 + s,
            40 + s,
            hybrid(ESP, 100_000, 0),
            hybrid(ESP, 100_000, 0),
        );
        net.initiate(0, "ab");
        assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
        net.start_traffic(Duration::from_millis(5));
        net.drive_for(Duration::from_millis(100));
        let a = net.children(0)[0].spi_in;
        let b = net.children(1)[0].spi_in;
        let now = net.now;
        net.nodes[0].ep.rekey_child(now, a).unwrap();
        net.nodes[1].ep.rekey_child(now, b).unwrap();
        net.drive_for(Duration::from_secs(10));
        assert_same_children(&net);
        let kept = current_children(&net, 0);
        assert_eq!(kept.len(), 1, "seed {s}");
        // Only the winner's rekey was completed: one new SA each side.
        assert_eq!(child_rekeys(&net, 0), 1, "seed {s}");
        assert_eq!(child_rekeys(&net, 1), 1, "seed {s}");
        let survivor = net
            .children(0)
            .into_iter()
            .find(|c| c.spi_in == kept[0].0)
            .unwrap();
        winners[usize::from(!survivor.initiator)] += 1;
        assert_eq!(
            requests(&net, 0, ExchangeType::IKE_FOLLOWUP_KE)
                + requests(&net, 1, ExchangeType::IKE_FOLLOWUP_KE),
            1,
            "seed {s}: only the winner sends its follow-up"
        );
        for i in 0..2 {
            let dp = &net.nodes[i].dp;
            assert_eq!(dp.lost, 0, "seed {s} node {i}");
            assert_eq!(dp.inbound.len(), 1, "seed {s} node {i}: old SAs left");
            assert!(net.failures(i).is_empty(), "{:?}", net.failures(i));
        }
        net.stop_traffic();
    }
    assert!(winners[0] > 0 && winners[1] > 0, "{winners:?}");
}

#[test]
fn simultaneous_ike_rekeys_with_followups() {
    let mut winners = [0usize; 2];
    for s in 0..12u8 {
        let mut net = pair_seeded(
            u64::from(s),
            60 + s,
            90 + s,
            hybrid(ESP, 100_000, 0),
            hybrid(ESP, 100_000, 0),
        );
        net.initiate(0, "ab");
        assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
        net.start_traffic(Duration::from_millis(10));
        let ia = net.ike_ups(0)[0].ike_sa;
        let ib = net.ike_ups(1)[0].ike_sa;
        let now = net.now;
        net.nodes[0].ep.rekey_ike_sa(now, ia).unwrap();
        net.nodes[1].ep.rekey_ike_sa(now, ib).unwrap();
        net.drive_for(Duration::from_secs(10));
        let a = net.nodes[0].ep.ike_sas();
        let b = net.nodes[1].ep.ike_sas();
        assert_eq!((a.len(), b.len()), (1, 1), "seed {s}");
        assert_eq!((a[0].spi_i, a[0].spi_r), (b[0].spi_i, b[0].spi_r));
        winners[usize::from(!a[0].initiator)] += 1;
        for i in 0..2 {
            assert_eq!(ike_rekeys(&net, i), 1, "seed {s} node {i}");
            assert_eq!(net.nodes[i].dp.lost, 0);
            assert!(net.failures(i).is_empty(), "{:?}", net.failures(i));
        }
        // The survivor works: a CHILD rekey with its follow-up.
        let c = net.children(0)[0].spi_in;
        let now = net.now;
        net.nodes[0].ep.rekey_child(now, c).unwrap();
        net.drive_for(Duration::from_secs(10));
        assert_eq!(child_rekeys(&net, 0), 1, "seed {s}");
        net.stop_traffic();
    }
    assert!(winners[0] > 0 && winners[1] > 0, "{winners:?}");
}

/// Optional additional exchanges (`ke1_none`) against a peer without them: the CHILD
/// rekey goes without IKE_FOLLOWUP_KE. A mandatory one against such a peer fails
/// with both sides' proposals named, and the old SA is kept.
#[test]
fn a_peer_without_additional_key_exchanges() {
    const OPTIONAL: &str = "aes256gcm16-x25519-ke1_mlkem768-ke1_none";
    const CLASSIC: &str = "aes256gcm16-x25519";
    let mut net = pair_with(23, hybrid(OPTIONAL, 30, 0), hybrid(CLASSIC, 100_000, 0));
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(100), |n| child_rekeys(n, 0) >= 2));
    assert_eq!(requests(&net, 0, ExchangeType::IKE_FOLLOWUP_KE), 0);
    assert!(net.failures(0).is_empty(), "{:?}", net.failures(0));
    assert_eq!(
        net.children(0).last().unwrap().suite.additional().count(),
        0
    );

    let mut net = pair_with(24, hybrid(ESP, 30, 0), hybrid(CLASSIC, 100_000, 0));
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    assert!(net.drive_until(Duration::from_secs(31), |n| !n.failures(0).is_empty()));
    let f = net.failures(0);
    assert!(!f.is_empty());
    let text = f[0].to_string();
    eprintln!("{text}");
    assert!(text.contains("CREATE_CHILD_SA"), "{text}");
    assert!(
        text.contains("ke1_mlkem768") || text.contains("KE1"),
        "{text}"
    );
    assert_eq!(child_rekeys(&net, 0), 0);
    assert_eq!(current_children(&net, 0).len(), 1, "the old SA is kept");
}
