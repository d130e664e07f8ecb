//! IKE SA rekeying in simulated time (RFC 7296 sections 1.3.2, 2.8.2, 2.18): CHILD SAs
//! move to the new IKE SA untouched, the old one is deleted, collisions.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use crate::harness::*;
use ikev2::event::{Event, IkeSaRekeyed};

fn ike_rekeys(net: &Network, node: usize) -> Vec<&IkeSaRekeyed> {
    net.nodes[node]
        .events
        .iter()
        .filter_map(|e| match e {
            Event::IkeSaRekeyed(r) => Some(r),
            _ => None,
        })
        .collect()
}

fn ike_rekey_every(secs: u64) -> impl Fn(&mut ikev2::config::EndpointConfig) {
    move |c| {
        conn(c).rekey_time = Duration::from_secs(secs);
        conn(c).children[0].rekey_time = Duration::from_secs(100_000);
        conn(c).children[0].life_time = Duration::from_secs(110_000);
    }
}

/// Both sides see the same IKE SA: same SPIs.
fn assert_same_ike_sa(net: &Network) {
    let a = net.nodes[0].ep.ike_sas();
    let b = net.nodes[1].ep.ike_sas();
    assert_eq!(a.len(), 1);
    assert_eq!(b.len(), 1);
    assert_eq!((a[0].spi_i, a[0].spi_r), (b[0].spi_i, b[0].spi_r));
    assert_ne!(a[0].initiator, b[0].initiator);
}

#[test]
fn a_hundred_ike_rekeys_keep_the_child_sas_and_lose_no_packet() {
    let mut net = pair_with(4, ike_rekey_every(60), ike_rekey_every(60));
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    net.start_traffic(Duration::from_millis(500));
    let done = net.drive_until(Duration::from_secs(10_000), |n| {
        ike_rekeys(n, 0).len() >= 100 && ike_rekeys(n, 1).len() >= 100
    });
    assert!(done, "{} IKE rekeys", ike_rekeys(&net, 0).len());
    net.drive_for(Duration::from_secs(10));
    assert_same_ike_sa(&net);
    for i in 0..2 {
        let dp = &net.nodes[i].dp;
        assert_eq!(dp.lost, 0, "node {i}");
        assert!(dp.errors.is_empty());
        assert!(net.failures(i).is_empty(), "{:?}", net.failures(i));
        // One IKE SA, the CHILD SA still the first one (IKE rekeys do not touch it).
        assert_eq!(net.nodes[i].ep.ike_sa_count(), 1);
        assert_eq!(net.children(i).len(), 1);
        assert!(
            !net.nodes[i]
                .events
                .iter()
                .any(|e| matches!(e, Event::IkeSaDown(_) | Event::ChildSaDeleted(_)))
        );
    }
    // The rekeyed SA works: a CHILD rekey on it derives from the new SK_d.
    let a = net.children(0)[0].spi_in;
    let now = net.now;
    net.nodes[0].ep.rekey_child(now, a).unwrap();
    net.drive_for(Duration::from_secs(10));
    assert_eq!(child_rekeys(&net, 0), 1);
    assert_child_pair(net.children(0)[1], net.children(1)[1]);
    assert_eq!(net.nodes[0].dp.lost, 0);
}

/// With such short lifetimes, over_time/life_time must leave room for
/// retransmissions under loss (the defaults, 10 %, assume hours).
#[test]
fn ike_and_child_rekeys_interleaved_with_loss() {
    let tweak = |c: &mut ikev2::config::EndpointConfig| {
        conn(c).rekey_time = Duration::from_secs(50);
        conn(c).over_time = Some(Duration::from_secs(60));
        conn(c).rand_time = Some(Duration::from_secs(5));
        let child = &mut conn(c).children[0];
        child.rekey_time = Duration::from_secs(30);
        child.life_time = Duration::from_secs(90);
        child.rand_time = Some(Duration::from_secs(3));
    };
    let mut net = pair_with(9, tweak, tweak);
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    net.loss = 0.1;
    net.start_traffic(Duration::from_millis(500));
    net.drive_for(Duration::from_secs(3600));
    net.loss = 0.0;
    net.stop_traffic();
    net.drive_for(Duration::from_secs(200));
    assert!(net.failures(0).is_empty(), "{:?}", net.failures(0));
    assert!(net.failures(1).is_empty(), "{:?}", net.failures(1));
    assert!(
        ike_rekeys(&net, 0).len() > 30,
        "{}",
        ike_rekeys(&net, 0).len()
    );
    assert!(child_rekeys(&net, 0) > 50);
    assert_same_ike_sa(&net);
    let mut a: Vec<(u32, u32)> = net.nodes[0].ep.ike_sas()[0]
        .children
        .iter()
        .filter(|c| c.state == ikev2::ChildSaState::Installed)
        .map(|c| (c.spi_in, c.spi_out))
        .collect();
    let mut b: Vec<(u32, u32)> = net.nodes[1].ep.ike_sas()[0]
        .children
        .iter()
        .filter(|c| c.state == ikev2::ChildSaState::Installed)
        .map(|c| (c.spi_out, c.spi_in))
        .collect();
    a.sort_unstable();
    b.sort_unstable();
    assert_eq!(a, b);
    assert_eq!(a.len(), 1);
    for i in 0..2 {
        assert_eq!(net.nodes[i].dp.past_lifetime, 0);
        assert!(net.failures(i).is_empty(), "{:?}", net.failures(i));
    }
}

/// Both ends rekey the IKE SA at once (RFC 7296 section 2.8.2; strongSwan's
/// `test_collision`): both orders of nonces occur over the seeds, and both sides
/// always end with the same single IKE SA and their CHILD SA.
#[test]
fn simultaneous_ike_rekey_is_resolved_the_same_on_both_sides() {
    let mut winners = [0usize; 2];
    for s in 0..12u8 {
        let mut net = pair_seeded(u64::from(s), 60 + s, 90 + s, |_| {}, |_| {});
        net.initiate(0, "ab");
        assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
        net.start_traffic(Duration::from_millis(10));
        let ia = net.ike_ups(0)[0].ike_sa;
        let ib = net.ike_ups(1)[0].ike_sa;
        let now = net.now;
        net.nodes[0].ep.rekey_ike_sa(now, ia).unwrap();
        net.nodes[1].ep.rekey_ike_sa(now, ib).unwrap();
        net.drive_for(Duration::from_secs(10));
        assert_same_ike_sa(&net);
        let a = &net.nodes[0].ep.ike_sas()[0];
        winners[usize::from(!a.initiator)] += 1;
        for i in 0..2 {
            assert_eq!(ike_rekeys(&net, i).len(), 1, "seed {s} node {i}");
            assert_eq!(net.nodes[i].ep.ike_sa_count(), 1);
            assert_eq!(net.nodes[i].dp.lost, 0);
            assert!(net.failures(i).is_empty(), "{:?}", net.failures(i));
            assert_eq!(net.nodes[i].ep.ike_sas()[0].children.len(), 1);
        }
        // The IKE SA works afterwards.
        let c = net.children(0)[0].spi_in;
        let now = net.now;
        net.nodes[0].ep.rekey_child(now, c).unwrap();
        net.drive_for(Duration::from_secs(10));
        assert_eq!(child_rekeys(&net, 0), 1, "seed {s}");
        net.stop_traffic();
    }
    assert!(winners[0] > 0 && winners[1] > 0, "{winners:?}");
}

/// The IKE SA's hard lifetime: a peer that never answers a rekey costs the SA after
/// rekey_time + over_time at the latest.
#[test]
fn ike_sa_expires_when_rekeying_fails() {
    let mut net = pair_with(4, ike_rekey_every(100), |_| {});
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    let start = net.elapsed();
    net.filter = Some(Box::new(|from, _| from == 0));
    net.drive_until(Duration::from_secs(500), |n| {
        n.nodes[0].ep.ike_sa_count() == 0
    });
    let gone = net.elapsed() - start;
    assert!(gone <= Duration::from_secs(111), "{gone:?}");
    assert!(gone >= Duration::from_secs(89), "{gone:?}");
}
