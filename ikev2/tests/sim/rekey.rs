//! CHILD SA rekeying in simulated time: make-before-break with data traffic,
//! collisions (RFC 7296 section 2.8.1), rekey under loss, PFS.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use crate::harness::*;
use ikev2::event::Event;

fn short_lifetimes(rekey: u64) -> impl Fn(&mut ikev2::config::EndpointConfig) {
    move |c| {
        let child = &mut conn(c).children[0];
        child.rekey_time = Duration::from_secs(rekey);
        child.life_time = Duration::from_secs(rekey + rekey / 10);
    }
}

#[test]
fn a_thousand_child_rekeys_lose_no_packet() {
    let mut net = pair_with(3, short_lifetimes(20), short_lifetimes(20));
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    net.start_traffic(Duration::from_millis(250));
    let done = net.drive_until(Duration::from_secs(30_000), |n| {
        child_rekeys(n, 0) >= 1000 && child_rekeys(n, 1) >= 1000
    });
    assert!(done, "only {} rekeys", child_rekeys(&net, 0));
    eprintln!(
        "rekeys {} / {}, installs {}, rekey time {:?}",
        child_rekeys(&net, 0),
        child_rekeys(&net, 1),
        net.children(0).len(),
        net.elapsed()
    );
    // Let the last deletes and lingering SAs settle.
    net.drive_until(Duration::from_secs(10), |_| false);
    for i in 0..2 {
        let dp = &net.nodes[i].dp;
        assert!(dp.errors.is_empty(), "{:?}", dp.errors);
        assert_eq!(
            dp.lost, 0,
            "node {i}: {} of {} packets lost",
            dp.lost, dp.sent
        );
        assert_eq!(dp.past_lifetime, 0);
        assert!(dp.delivered > 50_000, "{}", dp.delivered);
        assert!(net.failures(i).is_empty(), "{:?}", net.failures(i));
    }
    assert_same_children(&net);
    assert_eq!(current_children(&net, 0).len(), 1);
    assert_eq!(net.nodes[0].ep.ike_sa_count(), 1);
    // Old SAs are all gone: one pair in the data plane (plus at most a lingering one).
    assert!(net.nodes[0].dp.inbound.len() <= 2);
}

#[test]
fn rekey_switches_outbound_after_install_and_deletes_the_old_sa_later() {
    let mut net = pair_with(3, short_lifetimes(100), |_| {});
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    let first = net.children(0)[0].spi_in;
    assert!(net.drive_until(Duration::from_secs(200), |n| child_rekeys(n, 0) == 1));
    net.drive_for(Duration::from_secs(1));
    // A (initiator of the rekey): installed, switched, still holding the old inbound.
    let kinds: Vec<&str> = net.nodes[0]
        .events
        .iter()
        .skip(2)
        .map(|e| match e {
            Event::ChildSaInstalled(_) => "installed",
            Event::ChildSaOutboundSwitched(_) => "switched",
            Event::ChildSaDeleted(_) => "deleted",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["installed", "switched"]);
    let kinds_b: Vec<&str> = net.nodes[1]
        .events
        .iter()
        .skip(2)
        .map(|e| match e {
            Event::ChildSaInstalled(c) => {
                assert!(!c.outbound);
                "installed"
            }
            Event::ChildSaOutboundSwitched(_) => "switched",
            Event::ChildSaDeleted(_) => "deleted",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds_b, ["installed", "switched"]);
    assert!(net.nodes[0].dp.inbound.contains(&first));
    net.drive_for(Duration::from_secs(5));
    assert!(!net.nodes[0].dp.inbound.contains(&first));
    assert!(
        net.nodes[1]
            .events
            .iter()
            .any(|e| matches!(e, Event::ChildSaDeleted(d) if d.spi_out == first))
    );
    let a = net.children(0)[1];
    let b = net.children(1)[1];
    assert_child_pair(a, b);
    assert_eq!(a.rekey_of, Some(first));
    assert_same_children(&net);
}

/// Both ends rekey the same CHILD SA at the same moment (RFC 7296 section 2.8.1;
/// strongSwan's `test_collision`): with different seeds either side's nonce is the
/// lowest; in every case both sides keep the same single SA and lose no packet.
#[test]
fn simultaneous_child_rekey_is_resolved_the_same_on_both_sides() {
    let mut winners = [0usize; 2];
    for s in 0..16u8 {
        let mut net = pair_seeded(u64::from(s), 10 + s, 40 + s, |_| {}, |_| {});
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
        // Two rekey exchanges completed on each side: four new SAs in all, one kept.
        assert_eq!(child_rekeys(&net, 0), 2, "seed {s}");
        assert_eq!(child_rekeys(&net, 1), 2, "seed {s}");
        assert_same_children(&net);
        let kept = current_children(&net, 0);
        assert_eq!(kept.len(), 1, "seed {s}");
        let survivor = net
            .children(0)
            .into_iter()
            .find(|c| c.spi_in == kept[0].0)
            .unwrap();
        winners[usize::from(!survivor.initiator)] += 1;
        for i in 0..2 {
            let dp = &net.nodes[i].dp;
            assert_eq!(dp.lost, 0, "seed {s} node {i}");
            assert!(dp.errors.is_empty(), "{:?}", dp.errors);
            assert_eq!(dp.inbound.len(), 1, "seed {s} node {i}: old SAs left");
            assert!(net.failures(i).is_empty(), "{:?}", net.failures(i));
        }
        net.stop_traffic();
    }
    // Both orders of nonces occurred: A's exchange won sometimes, B's other times.
    assert!(winners[0] > 0 && winners[1] > 0, "{winners:?}");
}

/// The peer's rekey request arrives after our own rekey completed (strongSwan's
/// `test_collision_delayed_request`): B's request is lost once and its
/// retransmission finds the old SA deleted; B keeps A's replacement, no packet lost.
#[test]
fn a_delayed_colliding_rekey_request_is_refused() {
    let mut net = pair();
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    net.start_traffic(Duration::from_millis(5));
    net.drive_for(Duration::from_millis(50));
    let a = net.children(0)[0].spi_in;
    let b = net.children(1)[0].spi_in;
    let mut dropped = false;
    net.filter = Some(Box::new(move |from, t| {
        let drop = from == 1 && t.payload[18] == 36 && t.payload[19] & 0x20 == 0 && !dropped;
        dropped |= drop;
        !drop
    }));
    let now = net.now;
    net.nodes[0].ep.rekey_child(now, a).unwrap();
    net.nodes[1].ep.rekey_child(now, b).unwrap();
    net.drive_for(Duration::from_secs(20));
    assert_eq!(child_rekeys(&net, 0), 1);
    assert_eq!(child_rekeys(&net, 1), 1);
    assert_same_children(&net);
    assert_eq!(current_children(&net, 1).len(), 1);
    for i in 0..2 {
        assert_eq!(net.nodes[i].dp.lost, 0, "node {i}");
        assert_eq!(net.nodes[i].dp.inbound.len(), 1, "node {i}");
    }
    assert_eq!(net.nodes[0].ep.stats().rekeys_refused, 1);
}

/// One side deletes the CHILD SA while the other rekeys it (strongSwan's
/// `test_collision_delete`): the rekey is refused, the SA is gone on both sides.
#[test]
fn rekey_collides_with_delete() {
    for order in [0usize, 1] {
        let mut net = pair();
        net.initiate(0, "ab");
        assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
        let spis = [net.children(0)[0].spi_in, net.children(1)[0].spi_in];
        let now = net.now;
        let deleter = order;
        let rekeyer = 1 - order;
        net.nodes[deleter]
            .ep
            .delete_child(now, spis[deleter])
            .unwrap();
        net.nodes[rekeyer]
            .ep
            .rekey_child(now, spis[rekeyer])
            .unwrap();
        net.drive_for(Duration::from_secs(30));
        assert!(current_children(&net, 0).is_empty(), "order {order}");
        assert!(current_children(&net, 1).is_empty(), "order {order}");
        assert_eq!(child_rekeys(&net, 0), 0);
        assert!(net.nodes[0].dp.inbound.is_empty());
        assert!(net.nodes[1].dp.inbound.is_empty());
        assert_eq!(net.nodes[0].ep.ike_sa_count(), 1);
        // The rekey was refused (TEMPORARY_FAILURE): the SA was being deleted.
        assert_eq!(
            net.nodes[deleter].ep.stats().rekeys_refused,
            1,
            "order {order}"
        );
    }
}

/// A rekey of a CHILD SA the peer no longer has is answered CHILD_SA_NOT_FOUND
/// (RFC 7296 section 2.25); the requester removes it silently and creates a new one
/// from scratch (as strongSwan does, whatever `dpd_action` says: the default `clear`
/// here): the peer lost state, nobody asked for the tunnel to go.
#[test]
fn rekey_of_an_sa_the_peer_deleted_gets_child_sa_not_found() {
    // A's CHILD SA expires (hard lifetime) long before B's; A's Delete is lost.
    let mut net = pair_with(
        5,
        |a| {
            let c = &mut conn(a).children[0];
            c.rekey_time = Duration::from_secs(3600);
            c.life_time = Duration::from_secs(50);
        },
        |_| {},
    );
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    let b = net.children(1)[0].spi_in;
    net.filter = Some(Box::new(|from, t| !(from == 0 && t.payload[18] == 37)));
    net.drive_for(Duration::from_secs(51));
    assert!(current_children(&net, 0).is_empty());
    assert_eq!(current_children(&net, 1).len(), 1);
    let now = net.now;
    net.nodes[1].ep.rekey_child(now, b).unwrap();
    net.drive_for(Duration::from_secs(1));
    assert_eq!(net.nodes[0].ep.stats().rekeys_refused, 1);
    assert!(!net.nodes[1].dp.inbound.contains(&b));
    assert_eq!(net.nodes[1].ep.stats().child_sas_installed, 2);
    assert_eq!(current_children(&net, 1).len(), 1);
    assert_same_children(&net);
}

/// Rekeying under 20 % loss: retransmissions carry it through, both sides agree.
#[test]
fn child_rekeys_under_twenty_percent_loss() {
    let mut net = pair_with(11, short_lifetimes(60), short_lifetimes(60));
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    net.loss = 0.2;
    net.start_traffic(Duration::from_millis(500));
    let done = net.drive_until(Duration::from_secs(3600), |n| {
        child_rekeys(n, 0) >= 30 && child_rekeys(n, 1) >= 30
    });
    assert!(done, "{} rekeys", child_rekeys(&net, 0));
    net.loss = 0.0;
    net.stop_traffic();
    net.drive_for(Duration::from_secs(200));
    assert_same_children(&net);
    assert_eq!(current_children(&net, 0).len(), 1);
    for i in 0..2 {
        let dp = &net.nodes[i].dp;
        assert_eq!(dp.past_lifetime, 0);
        // Only IKE is lost here: data is lost only if an SA was missing.
        assert_eq!(dp.lost, 0, "node {i}: {} of {} lost", dp.lost, dp.sent);
        assert!(net.failures(i).is_empty(), "{:?}", net.failures(i));
    }
}

/// PFS: the rekey carries KE payloads and the keys differ from a no-PFS derivation;
/// a PFS group mismatch shows at the first rekey, with the sentence operators need.
#[test]
fn pfs_rekey_and_pfs_mismatch() {
    use ikev2::crypto::proposal::Proposal;
    use ikev2::wire::ProtocolId;
    let pfs = |c: &mut ikev2::config::EndpointConfig| {
        conn(c).children[0].esp_proposals =
            Proposal::parse_list(ProtocolId::ESP, "aes256gcm16-modp2048").unwrap();
    };
    let mut net = pair_with(2, pfs, pfs);
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    let a = net.children(0)[0].spi_in;
    let now = net.now;
    net.nodes[0].ep.rekey_child(now, a).unwrap();
    net.drive_for(Duration::from_secs(1));
    assert!(net.failures(0).is_empty(), "{:?}", net.failures(0));
    assert!(net.failures(1).is_empty(), "{:?}", net.failures(1));
    assert_eq!(child_rekeys(&net, 0), 1);
    assert_child_pair(net.children(0)[1], net.children(1)[1]);
    // The request was large: it carried a 256-octet MODP_2048 KE.
    let big = net.nodes[0]
        .sent
        .iter()
        .filter(|(_, t)| t.payload[18] == 36 && t.payload.len() > 400)
        .count();
    assert_eq!(big, 1);

    // B requires PFS, A offers none: IKE_AUTH works, the first rekey fails.
    let mut net = pair_with(2, |_| {}, pfs);
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    let a = net.children(0)[0].spi_in;
    let now = net.now;
    net.nodes[0].ep.rekey_child(now, a).unwrap();
    net.drive_for(Duration::from_secs(1));
    let f = net.failures(1);
    assert_eq!(f.len(), 1);
    let text = f[0].to_string();
    assert!(
        text.contains("PFS group mismatch: we require MODP_2048, peer offered none"),
        "{text}"
    );
    assert!(f[0].ike_sa_kept);
    assert_eq!(net.failures(0).len(), 1);
    // The old SA still works on both sides.
    assert_same_children(&net);
    assert_eq!(current_children(&net, 0).len(), 1);
}
