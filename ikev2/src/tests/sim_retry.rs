//! Failed rekeys and hard expiries in the simulation (the "lifecycle" work: a tunnel
//! must live for months without an operator). The peer refuses rekeys through a
//! test-only hook of the endpoint ([`crate::Endpoint::refuse_rekeys`]), which is why
//! these tests live inside the crate; they use the integration tests' harness.
//!
//! strongSwan (`child_rekey.c`, `ike_rekey.c`: `schedule_delayed_rekey`) keeps the SA
//! after a failed rekey and tries again `RETRY_INTERVAL - random % RETRY_JITTER`
//! (15 s - 0..9 s) later; an expired CHILD SA is recreated after its Delete
//! (`child_delete.c`), and an IKE SA that ends unplanned is re-established per its
//! action (`ike_sa.c` `reestablish()`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../tests/sim/mod.rs"]
mod sim;

use std::time::Duration;

use crate::config::{DpdAction, EndpointConfig};
use crate::error::{Cause, Phase};
use crate::event::{DownReason, Event};
use sim::*;

/// Child `net` of A rekeys after 90 to 100 s and expires at `life` s.
fn child_times(life: u64) -> impl Fn(&mut EndpointConfig) {
    move |c| {
        let child = &mut conn(c).children[0];
        child.rekey_time = Duration::from_secs(100);
        child.life_time = Duration::from_secs(life);
        child.rand_time = Some(Duration::from_secs(10));
    }
}

/// The IKE SA rekeys after `rekey` s (no jitter) and expires `over` s later.
fn ike_times(rekey: u64, over: u64, action: DpdAction) -> impl Fn(&mut EndpointConfig) {
    move |c| {
        let ike = conn(c);
        ike.rekey_time = Duration::from_secs(rekey);
        ike.over_time = Some(Duration::from_secs(over));
        ike.rand_time = Some(Duration::ZERO);
        ike.dpd_action = action;
    }
}

fn child_rekeys(net: &Network, node: usize) -> usize {
    net.children(node)
        .iter()
        .filter(|c| c.rekey_of.is_some())
        .count()
}

fn ike_rekeys(net: &Network, node: usize) -> usize {
    net.nodes[node]
        .events
        .iter()
        .filter(|e| matches!(e, Event::IkeSaRekeyed(_)))
        .count()
}

fn downs(net: &Network, node: usize) -> Vec<DownReason> {
    net.nodes[node]
        .events
        .iter()
        .filter_map(|e| match e {
            Event::IkeSaDown(d) => Some(d.reason.clone()),
            _ => None,
        })
        .collect()
}

/// strongSwan's retry window: 6 to 15 s.
fn assert_retry_window(d: Duration) {
    assert!(
        (Duration::from_secs(6)..=Duration::from_secs(15)).contains(&d),
        "retry after {d:?}"
    );
}

#[test]
fn refused_child_rekey_is_retried_after_the_strongswan_interval_without_traffic_gap() {
    let mut net = pair_with(3, child_times(160), |_| {});
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    net.nodes[1].ep.refuse_rekeys(1, 0);
    net.start_traffic(Duration::from_millis(100));
    assert!(net.drive_until(Duration::from_secs(120), |n| !n.failures(0).is_empty()));
    let failed_at = net.elapsed();
    assert_eq!(child_rekeys(&net, 0), 0);
    let f = net.failures(0)[0].clone();
    assert_eq!(f.phase, Phase::CreateChildSa);
    assert_eq!(f.child.as_deref(), Some("net"));
    assert!(f.ike_sa_kept && f.initiator);
    assert!(
        matches!(f.cause, Cause::PeerRejectedProposals { .. }),
        "{:?}",
        f.cause
    );
    let wait = f.retry_in.expect("a retry is scheduled");
    assert_retry_window(wait);
    assert!(f.to_string().contains("retrying in"), "{f}");
    // The retry comes after that wait (plus one round trip) and succeeds.
    assert!(net.drive_until(Duration::from_secs(30), |n| child_rekeys(n, 0) == 1));
    let took = net.elapsed() - failed_at;
    assert!(
        took >= wait && took <= wait + Duration::from_millis(100),
        "retried {took:?} after the failure, announced {wait:?}"
    );
    assert_eq!(net.failures(0).len(), 1);
    net.drive_for(Duration::from_secs(10));
    net.stop_traffic();
    net.drive_for(Duration::from_secs(1));
    for i in 0..2 {
        let dp = &net.nodes[i].dp;
        assert!(dp.errors.is_empty(), "{:?}", dp.errors);
        assert_eq!(dp.lost, 0, "node {i}: traffic gap");
        assert_eq!(dp.past_lifetime, 0);
        assert!(dp.delivered > 1000);
    }
    assert_eq!(net.nodes[0].ep.ike_sa_count(), 1);
    let a = &net.nodes[0].ep.ike_sas()[0];
    assert_eq!(a.children.len(), 1, "{:?}", a.children);
}

#[test]
fn refused_ike_rekey_is_retried() {
    let a = ike_times(300, 60, DpdAction::Clear);
    let mut net = pair_with(3, a, |_| {});
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    let before = net.nodes[0].ep.ike_sas()[0].clone();
    net.nodes[1].ep.refuse_rekeys(0, 1);
    assert!(net.drive_until(Duration::from_secs(310), |n| !n.failures(0).is_empty()));
    let failed_at = net.elapsed();
    let f = net.failures(0)[0].clone();
    assert_eq!(f.phase, Phase::CreateChildSa);
    assert_eq!(f.child, None);
    assert!(f.ike_sa_kept);
    assert!(matches!(f.cause, Cause::PeerRejectedProposals { .. }));
    let wait = f.retry_in.expect("a retry is scheduled");
    assert_retry_window(wait);
    assert!(net.drive_until(Duration::from_secs(30), |n| ike_rekeys(n, 0) == 1));
    let took = net.elapsed() - failed_at;
    assert!(took >= wait && took <= wait + Duration::from_millis(100));
    net.drive_for(Duration::from_secs(5));
    // The same IKE SA with new SPIs, its CHILD SA untouched, one IKE SA each side.
    let after = &net.nodes[0].ep.ike_sas()[0];
    assert_eq!(after.id, before.id);
    assert_ne!(after.spi_i, before.spi_i);
    assert_eq!(after.children[0].spi_in, before.children[0].spi_in);
    assert_eq!(net.nodes[0].ep.ike_sa_count(), 1);
    assert_eq!(net.nodes[1].ep.ike_sa_count(), 1);
    assert!(downs(&net, 0).is_empty() && downs(&net, 1).is_empty());
    assert_eq!(net.failures(0).len(), 1);
}

/// A peer that refuses every IKE rekey: the retries go on until the hard lifetime,
/// then the IKE SA expires. `restart` initiates it again (with its CHILD SA, and the
/// peer deletes its copy of the old one), `clear` leaves it down.
#[test]
fn ike_sa_that_cannot_be_rekeyed_expires_and_is_reinitiated_for_restart_only() {
    for action in [DpdAction::Restart, DpdAction::Clear, DpdAction::Trap] {
        let mut net = pair_with(5, ike_times(120, 60, action), |b| {
            conn(b).rekey_time = Duration::ZERO;
        });
        net.initiate(0, "ab");
        assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
        let first = net.nodes[0].ep.ike_sas()[0].clone();
        net.nodes[1].ep.refuse_rekeys(0, u32::MAX);
        net.drive_for(Duration::from_secs(200));
        // Rekeys refused at 120 s and retried every 6 to 15 s until 180 s.
        let tries = net.failures(0).len();
        assert!((4..=11).contains(&tries), "{action:?}: {tries} attempts");
        assert!(net.failures(0).iter().all(|f| f.retry_in.is_some()));
        assert_eq!(downs(&net, 0), [DownReason::Expired], "{action:?}");
        // The peer was told (it has no rekey of its own to expire the SA).
        assert_eq!(downs(&net, 1), [DownReason::DeletedByPeer], "{action:?}");
        let trap = net.nodes[0]
            .events
            .iter()
            .any(|e| matches!(e, Event::Trap { conn } if conn == "ab"));
        assert_eq!(trap, action == DpdAction::Trap);
        match action {
            DpdAction::Restart => {
                assert_eq!(net.ike_ups(0).len(), 2);
                assert_eq!(net.ike_ups(1).len(), 2);
                assert_eq!(net.children(0).len(), 2, "the CHILD SA came back");
                assert_eq!(net.children(1).len(), 2);
                assert_child_pair(net.children(0)[1], net.children(1)[1]);
                let now = &net.nodes[0].ep.ike_sas();
                assert_eq!(now.len(), 1);
                assert_ne!(now[0].id, first.id);
                assert_eq!(now[0].state, "ESTABLISHED");
                assert_eq!(now[0].children.len(), 1);
                assert_eq!(net.nodes[1].ep.ike_sa_count(), 1, "no duplicate");
            }
            _ => {
                assert_eq!(net.ike_ups(0).len(), 1);
                assert_eq!(net.nodes[0].ep.ike_sa_count(), 0);
                assert_eq!(net.nodes[1].ep.ike_sa_count(), 0);
            }
        }
    }
}

/// A CHILD SA whose every rekey is refused dies at its hard lifetime; with
/// `dpd_action = restart` it is created again in the same IKE SA after its Delete.
#[test]
fn expired_child_sa_is_recreated_for_restart_only() {
    for action in [DpdAction::Restart, DpdAction::Clear] {
        let mut net = pair_with(
            9,
            |a| {
                child_times(130)(a);
                conn(a).dpd_action = action;
            },
            |_| {},
        );
        net.initiate(0, "ab");
        assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
        let first = net.children(0)[0].spi_in;
        net.nodes[1].ep.refuse_rekeys(u32::MAX, 0);
        net.drive_for(Duration::from_secs(140));
        assert!(
            net.failures(0).len() >= 2,
            "retried until the hard lifetime"
        );
        let deleted = |node: usize, spi: u32| {
            net.nodes[node].events.iter().any(|e| {
                matches!(e, Event::ChildSaDeleted(d)
                    if d.spi_in == spi || d.spi_out == spi)
            })
        };
        assert!(deleted(0, first) && deleted(1, first), "{action:?}");
        assert_eq!(child_rekeys(&net, 0), 0);
        let sas = net.nodes[0].ep.ike_sas();
        assert_eq!(sas.len(), 1, "the IKE SA stays");
        match action {
            DpdAction::Restart => {
                assert_eq!(net.children(0).len(), 2);
                let new = net.children(0)[1];
                assert_eq!(new.rekey_of, None);
                assert!(new.initiator);
                assert_child_pair(new, net.children(1)[1]);
                assert_eq!(sas[0].children.len(), 1);
                assert_eq!(sas[0].children[0].spi_in, new.spi_in);
            }
            _ => {
                assert_eq!(net.children(0).len(), 1);
                assert!(sas[0].children.is_empty());
            }
        }
    }
}
