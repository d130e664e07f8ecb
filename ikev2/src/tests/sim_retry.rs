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

use std::time::Duration;

use super::sim::*;
use crate::config::{DpdAction, EndpointConfig};
use crate::crypto::proposal::Proposal;
use crate::error::{Cause, Phase};
use crate::event::{DownReason, Event};
use crate::wire::ProtocolId;

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
        // The peer learns it (it has no rekey of its own to expire the SA): from
        // the new SA's INITIAL_CONTACT with restart, from a Delete otherwise.
        let peer = if action == DpdAction::Restart {
            DownReason::Replaced
        } else {
            DownReason::DeletedByPeer
        };
        assert_eq!(downs(&net, 1), [peer], "{action:?}");
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
                assert_eq!(now[0].state, crate::IkeSaState::Established);
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

/// The data plane repeats its soft limit in every report; once a rekey failed, its
/// retry keeps strongSwan's interval instead of starting again at each report.
#[test]
fn usage_reports_do_not_hurry_a_rekey_retry() {
    let mut net = pair();
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    net.nodes[1].ep.refuse_rekeys(1, 0);
    let c = net.children(0)[0];
    let soft = crate::UsageReport {
        spi_in: c.spi_in,
        spi_out: c.spi_out,
        soft_limit_reached: true,
        ..crate::UsageReport::default()
    };
    let now = net.now;
    net.nodes[0].ep.handle_usage(now, soft.clone());
    assert!(net.drive_until(Duration::from_secs(1), |n| !n.failures(0).is_empty()));
    let failed_at = net.elapsed();
    let wait = net.failures(0)[0].retry_in.expect("retry scheduled");
    for _ in 0..4 {
        net.drive_for(Duration::from_secs(1));
        let now = net.now;
        net.nodes[0].ep.handle_usage(now, soft.clone());
    }
    assert!(net.drive_until(Duration::from_secs(20), |n| child_rekeys(n, 0) == 1));
    let took = net.elapsed() - failed_at;
    assert!(took >= wait, "retried after {took:?}, announced {wait:?}");
    assert_eq!(net.failures(0).len(), 1);
}

/// A peer that drops our IKE rekey: the exchange times out (RFC 7296 section 2.4),
/// the SA fails, and `restart` sets it up again; the peer's stale SA is replaced by
/// INITIAL_CONTACT, so each side ends with one IKE SA.
#[test]
fn unanswered_ike_rekey_fails_the_sa_and_restart_replaces_it_cleanly() {
    let mut net = pair_with(5, ike_times(100, 300, DpdAction::Restart), |_| {});
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    // Drop A's first CREATE_CHILD_SA request and its 5 retransmissions.
    let mut dropped = 0;
    net.filter = Some(Box::new(move |from, t| {
        let create_child = t.payload.get(18) == Some(&36);
        let request = t.payload.get(19).is_some_and(|f| f & 0x20 == 0);
        if from == 0 && create_child && request && dropped < 6 {
            dropped += 1;
            return false;
        }
        true
    }));
    net.drive_for(Duration::from_secs(300));
    let f = net.failures(0);
    assert_eq!(f.len(), 1);
    assert!(matches!(f[0].cause, Cause::Timeout { .. }) && !f[0].ike_sa_kept);
    assert_eq!(net.ike_ups(0).len(), 2);
    assert_eq!(downs(&net, 1), [DownReason::Replaced]);
    assert_eq!(net.nodes[0].ep.ike_sa_count(), 1);
    assert_eq!(net.nodes[1].ep.ike_sa_count(), 1);
    assert_eq!(net.children(0).len(), 2);
    assert_child_pair(net.children(0)[1], net.children(1)[1]);
}

/// The whole point: a tunnel configured to stay up (`dpd_action = restart`,
/// `keyingtries = 0`) with strongSwan's default lifetimes lives through three
/// months of rekeys, refused rekeys on both sides and hour-long outages, never has
/// two IKE SAs at once, and is up at the end.
#[test]
fn a_tunnel_lives_for_three_months_through_refusals_and_outages() {
    // A fast DH group: 540 IKE rekeys and the re-initiations are the cost here.
    let x25519 = || Proposal::parse_list(ProtocolId::IKE, "aes256-sha256-curve25519").unwrap();
    let keep_up = |c: &mut EndpointConfig| {
        let ike = conn(c);
        ike.proposals = x25519();
        ike.dpd_delay = Duration::from_secs(60);
        ike.dpd_action = DpdAction::Restart;
        ike.keyingtries = 0;
    };
    let mut net = pair_with(21, keep_up, |b| {
        conn(b).proposals = x25519();
        conn(b).dpd_delay = Duration::from_secs(60);
    });
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    net.start_traffic(Duration::from_secs(300));
    let established = |n: &Network, node: usize| {
        n.nodes[node]
            .ep
            .ike_sas()
            .iter()
            .filter(|s| s.state == crate::IkeSaState::Established)
            .count()
    };
    let mut most = [0usize; 2];
    let day = Duration::from_secs(86_400);
    let mut outages = 0;
    for d in 0..90 {
        match d % 10 {
            3 => net.nodes[1].ep.refuse_rekeys(4, 2),
            6 => net.nodes[0].ep.refuse_rekeys(3, 3),
            8 => {
                // An hour without any IKE datagram getting through.
                outages += 1;
                net.filter = Some(Box::new(|_, _| false));
                net.drive_until(Duration::from_secs(3600), |n| {
                    most[0] = most[0].max(established(n, 0));
                    most[1] = most[1].max(established(n, 1));
                    false
                });
                net.filter = None;
            }
            _ => {}
        }
        net.drive_until(day, |n| {
            most[0] = most[0].max(established(n, 0));
            most[1] = most[1].max(established(n, 1));
            false
        });
    }
    eprintln!(
        "ups {}/{}, failures {}/{}, child installs {}, downs {:?}",
        net.ike_ups(0).len(),
        net.ike_ups(1).len(),
        net.failures(0).len(),
        net.failures(1).len(),
        net.children(0).len(),
        downs(&net, 0)
    );
    assert_eq!(most, [1, 1], "never two IKE SAs at once");
    assert!(net.established_now(), "the tunnel is up after 90 days");
    let retried = net
        .failures(0)
        .into_iter()
        .chain(net.failures(1))
        .filter(|f| f.retry_in.is_some())
        .count();
    assert!(retried >= 20, "{retried} retried failures");
    // Each outage took the tunnel down once (DPD) and it came back by itself.
    assert!(net.ike_ups(0).len() > outages, "{}", net.ike_ups(0).len());
    for i in 0..2 {
        let dp = &net.nodes[i].dp;
        assert!(dp.errors.is_empty(), "{:?}", dp.errors);
        assert_eq!(dp.past_lifetime, 0);
    }
}

/// As strongSwan (`STAT_DELETE = STAT_REKEY + over_time`): the hard expiry comes
/// `over_time` after the jittered rekey time, whatever the jitter.
#[test]
fn ike_sa_expires_over_time_after_its_jittered_rekey() {
    for seed in 1..4u8 {
        let mut net = pair_seeded(
            u64::from(seed),
            seed,
            100 + seed,
            |a| {
                let ike = conn(a);
                ike.rekey_time = Duration::from_secs(300);
                ike.over_time = Some(Duration::from_secs(60));
                ike.rand_time = Some(Duration::from_secs(200));
            },
            |b| conn(b).rekey_time = Duration::ZERO,
        );
        net.initiate(0, "ab");
        assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
        net.nodes[1].ep.refuse_rekeys(0, u32::MAX);
        assert!(net.drive_until(Duration::from_secs(400), |n| !n.failures(0).is_empty()));
        let first_try = net.elapsed();
        assert!(
            first_try < Duration::from_secs(300),
            "jittered: {first_try:?}"
        );
        assert!(net.drive_until(Duration::from_secs(100), |n| !downs(n, 0).is_empty()));
        assert_eq!(downs(&net, 0), [DownReason::Expired]);
        let window = net.elapsed() - first_try;
        let over = Duration::from_secs(60);
        assert!(
            window <= over && over - window < Duration::from_millis(100),
            "expired {window:?} after the first rekey"
        );
    }
}

/// A new CHILD SA the peer answers TEMPORARY_FAILURE (busy) is asked for again
/// 6 to 15 s later (strongSwan's `child_create.c` `schedule_delayed_retry`).
#[test]
fn busy_peer_gets_asked_for_a_new_child_sa_again() {
    let second = |a_side: bool| {
        move |c: &mut EndpointConfig| {
            let mut child = conn(c).children[0].clone();
            child.name = "net2".into();
            let (l, r) = if a_side {
                ("10.1.1.0/24", "10.2.1.0/24")
            } else {
                ("10.2.1.0/24", "10.1.1.0/24")
            };
            child.local_ts = vec![l.parse().unwrap()];
            child.remote_ts = vec![r.parse().unwrap()];
            conn(c).children.push(child);
        }
    };
    let mut net = pair_with(4, second(true), second(false));
    net.nodes[1].ep.busy_child_creates(1);
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    let start = net.elapsed();
    net.drive_for(Duration::from_secs(5));
    assert_eq!(net.children(0).len(), 1, "net2 refused once");
    assert!(net.failures(0).is_empty(), "busy is not a failure");
    assert!(net.drive_until(Duration::from_secs(15), |n| n.established(2)));
    let took = net.elapsed() - start;
    assert!(took >= Duration::from_secs(6), "{took:?}");
    assert_eq!(net.children(0)[1].child, "net2");
    assert_child_pair(net.children(0)[1], net.children(1)[1]);
}

/// Both ends keep the tunnel up (`restart` for `dpd_action` and `close_action`):
/// after A's IKE SA expires there is still exactly one IKE SA, because A's restart
/// replaces B's old SA with INITIAL_CONTACT instead of deleting it (which would make
/// B initiate too).
#[test]
fn expiry_with_both_ends_restarting_gives_one_sa() {
    let both = |c: &mut EndpointConfig| {
        conn(c).dpd_action = DpdAction::Restart;
        conn(c).close_action = DpdAction::Restart;
    };
    let mut net = pair_with(
        5,
        |a| {
            ike_times(120, 60, DpdAction::Restart)(a);
            both(a);
        },
        |b| {
            both(b);
            conn(b).rekey_time = Duration::ZERO;
        },
    );
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    net.nodes[1].ep.refuse_rekeys(0, u32::MAX);
    net.drive_for(Duration::from_secs(200));
    assert_eq!(downs(&net, 0), [DownReason::Expired]);
    assert_eq!(downs(&net, 1), [DownReason::Replaced]);
    assert_eq!(net.ike_ups(0).len(), 2);
    assert_eq!(net.ike_ups(1).len(), 2);
    assert!(net.established_now());
}
