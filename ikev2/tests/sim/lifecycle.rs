//! Liveness checks and deletion from either side.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use crate::harness::*;
use ikev2::error::{Cause, Phase};
use ikev2::event::{DownReason, Event};

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

#[test]
fn dpd_checks_an_idle_peer_and_notices_when_it_is_gone() {
    let mut net = pair_with(1, |a| conn(a).dpd_delay = Duration::from_secs(30), |_| {});
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    net.drive_for(Duration::from_secs(65));
    // Two liveness checks (at 30 s and 60 s of silence), both answered.
    assert_eq!(net.nodes[0].sent.len(), 4);
    assert_eq!(net.nodes[1].sent.len(), 4);
    assert!(net.failures(0).is_empty());
    // The peer disappears.
    net.filter = Some(Box::new(|_, _| false));
    net.drive_for(Duration::from_secs(300));
    let f = net.failures(0);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].phase, Phase::Informational);
    assert!(matches!(f[0].cause, Cause::Timeout { retransmits: 5, .. }));
    let d = downs(&net, 0);
    assert!(
        matches!(&d[..], [DownReason::Failed(Cause::Timeout { .. })]),
        "{d:?}"
    );
    assert!(
        net.nodes[0]
            .events
            .iter()
            .any(|e| matches!(e, Event::ChildSaDeleted(_)))
    );
    assert_eq!(net.nodes[0].ep.ike_sa_count(), 0);
}

/// The responder's first request (a liveness check) reaches the initiator before the
/// IKE_AUTH response that establishes the SA there (the response was lost). The
/// initiator must not answer it (it has not authenticated the peer yet) and must not
/// refuse it either: answered INVALID_SYNTAX, strongSwan deleted the new SA. Unanswered,
/// it is retransmitted and answered once the retransmitted IKE_AUTH completes.
#[test]
fn a_request_before_the_ike_auth_response_waits_for_it() {
    let mut net = pair_with(1, |_| {}, |b| conn(b).dpd_delay = Duration::from_secs(1));
    let mut dropped = false;
    net.filter = Some(Box::new(move |from, t| {
        // Octet 18 of the IKE header is the exchange type, 19 the flags.
        let auth_response =
            t.payload.get(18) == Some(&35) && t.payload.get(19).is_some_and(|f| f & 0x20 != 0);
        if from == 1 && auth_response && !dropped {
            dropped = true;
            return false;
        }
        true
    }));
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(30), |n| n.established(1)));
    net.drive_for(Duration::from_secs(20));
    assert!(net.failures(0).is_empty(), "{:?}", net.failures(0));
    assert!(net.failures(1).is_empty(), "{:?}", net.failures(1));
    assert!(downs(&net, 0).is_empty() && downs(&net, 1).is_empty());
    for n in &net.nodes {
        assert_eq!(n.ep.ike_sa_count(), 1);
    }
    // The early request was seen and left unanswered.
    assert!(net.nodes[0].ep.stats().dropped_unexpected >= 1);
    let informational_from_a = net.nodes[0]
        .sent
        .iter()
        .filter(|(_, t)| t.payload.get(18) == Some(&37))
        .count();
    assert!(
        informational_from_a >= 1,
        "the liveness check was never answered"
    );
}

#[test]
fn responder_can_delete_too() {
    let mut net = pair();
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    let now = net.now;
    assert_eq!(net.nodes[1].ep.terminate(now, "ab").unwrap(), 1);
    net.drive_for(Duration::from_secs(5));
    assert_eq!(downs(&net, 1), [DownReason::Terminated]);
    assert_eq!(downs(&net, 0), [DownReason::DeletedByPeer]);
    assert_eq!(net.nodes[0].ep.ike_sa_count(), 0);
    assert_eq!(net.nodes[1].ep.ike_sa_count(), 0);
}

#[test]
fn delete_goes_through_even_if_the_peer_is_gone() {
    let mut net = pair();
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    net.filter = Some(Box::new(|_, _| false));
    let now = net.now;
    net.nodes[0].ep.terminate(now, "ab").unwrap();
    net.drive_for(Duration::from_secs(300));
    assert_eq!(downs(&net, 0), [DownReason::Terminated]);
    assert!(
        net.failures(0).is_empty(),
        "an unanswered Delete is no failure"
    );
}

#[test]
fn terminate_while_connecting_just_stops() {
    let mut net = pair();
    net.filter = Some(Box::new(|_, _| false));
    net.initiate(0, "ab");
    net.drive_for(Duration::from_secs(5));
    let now = net.now;
    assert_eq!(net.nodes[0].ep.terminate(now, "ab").unwrap(), 1);
    assert_eq!(net.nodes[0].ep.ike_sa_count(), 0);
    assert!(net.nodes[0].ep.poll_timeout().is_none());
    net.drive_for(Duration::from_secs(300));
    assert!(net.nodes[0].events.is_empty());
    assert!(net.nodes[0].ep.terminate(now, "nope").is_err());
    assert!(net.nodes[0].ep.initiate(now, "nope").is_err());
}

fn dpd(action: ikev2::config::DpdAction) -> impl Fn(&mut ikev2::config::EndpointConfig) {
    move |c| {
        conn(c).dpd_delay = Duration::from_secs(30);
        conn(c).dpd_action = action;
    }
}

/// A silent peer is found dead within dpd_delay plus the DPD bound (`dpd_timeout`,
/// by default 5 x dpd_delay = 150 s here, below the retransmission budget of 165 s),
/// for each `dpd_action`.
#[test]
fn dpd_detects_a_silent_peer_within_delay_plus_retransmissions() {
    use ikev2::config::DpdAction;
    for action in [DpdAction::Clear, DpdAction::Restart, DpdAction::Trap] {
        let mut net = pair_with(1, dpd(action), |_| {});
        net.initiate(0, "ab");
        assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
        net.filter = Some(Box::new(|_, _| false));
        let start = net.elapsed();
        assert!(net.drive_until(Duration::from_secs(400), |n| !downs(n, 0).is_empty()));
        let took = net.elapsed() - start;
        assert!(
            took <= Duration::from_secs(30 + 151),
            "{action:?}: {took:?}"
        );
        assert!(
            took >= Duration::from_secs(30 + 149),
            "{action:?}: {took:?}"
        );
        let trap = net.nodes[0]
            .events
            .iter()
            .any(|e| matches!(e, Event::Trap { conn } if conn == "ab"));
        assert_eq!(trap, action == DpdAction::Trap, "{action:?}");
        match action {
            DpdAction::Restart => {
                // Initiating again at once; once the peer is back, a new IKE SA comes up
                // and INITIAL_CONTACT makes the peer drop the stale one.
                assert_eq!(net.nodes[0].ep.ike_sa_count(), 1);
                net.filter = None;
                assert!(net.drive_until(Duration::from_secs(200), |n| n.ike_ups(0).len() == 2));
                net.drive_for(Duration::from_secs(1));
                assert_eq!(net.nodes[1].ep.ike_sa_count(), 1);
                assert!(downs(&net, 1).contains(&DownReason::Replaced));
            }
            _ => assert_eq!(net.nodes[0].ep.ike_sa_count(), 0, "{action:?}"),
        }
    }
}

/// ESP traffic reported by the data plane counts as a sign of life: no liveness check
/// while packets arrive.
#[test]
fn inbound_esp_postpones_dpd() {
    let mut net = pair_with(1, dpd(ikev2::config::DpdAction::Clear), |_| {});
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    let c = net.children(0)[0];
    let (spi_in, spi_out) = (c.spi_in, c.spi_out);
    let sent = net.nodes[0].sent.len();
    for _ in 0..20 {
        net.drive_for(Duration::from_secs(10));
        let now = net.now;
        net.nodes[0].ep.handle_usage(
            now,
            ikev2::UsageReport {
                spi_in,
                spi_out,
                bytes: 1000,
                packets: 10,
                last_inbound: Some(now),
                ..Default::default()
            },
        );
    }
    assert_eq!(net.nodes[0].sent.len(), sent, "no DPD while ESP arrives");
    // Traffic stops: the check comes dpd_delay later.
    net.drive_for(Duration::from_secs(31));
    assert_eq!(net.nodes[0].sent.len(), sent + 1);
}

/// The data plane's byte count, sequence number exhaustion and hard limit.
#[test]
fn usage_limits_trigger_rekey_and_expiry() {
    let mut net = pair_with(1, |c| conn(c).children[0].rekey_bytes = 1_000_000, |_| {});
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    let c = net.children(0)[0];
    let (spi_in, spi_out) = (c.spi_in, c.spi_out);
    let now = net.now;
    let report = ikev2::UsageReport {
        spi_in,
        spi_out,
        bytes: 999_999,
        ..Default::default()
    };
    net.nodes[0].ep.handle_usage(now, report.clone());
    net.drive_for(Duration::from_secs(1));
    assert_eq!(net.children(0).len(), 1);
    net.nodes[0].ep.handle_usage(
        now,
        ikev2::UsageReport {
            bytes: 1_000_000,
            ..report
        },
    );
    net.drive_for(Duration::from_secs(1));
    assert_eq!(net.children(0).len(), 2, "rekeyed at rekey_bytes");
    let new = net.children(0)[1];
    let (spi_in, spi_out) = (new.spi_in, new.spi_out);
    let now = net.now;
    net.nodes[0].ep.handle_usage(
        now,
        ikev2::UsageReport {
            spi_in,
            spi_out,
            seq_exhausted: true,
            ..Default::default()
        },
    );
    net.drive_for(Duration::from_secs(1));
    assert_eq!(net.children(0).len(), 3, "rekeyed at sequence exhaustion");
    let last = net.children(0)[2];
    let (spi_in, spi_out) = (last.spi_in, last.spi_out);
    let now = net.now;
    net.nodes[0].ep.handle_usage(
        now,
        ikev2::UsageReport {
            spi_in,
            spi_out,
            hard_limit_reached: true,
            ..Default::default()
        },
    );
    net.drive_for(Duration::from_secs(10));
    // Gone on both sides (the peer was told).
    for i in 0..2 {
        let left: usize = net.nodes[i].ep.ike_sas()[0].children.len();
        assert_eq!(left, 0, "node {i}");
    }
}

/// A peer that restarts (all state lost) and connects again with INITIAL_CONTACT
/// replaces the old IKE and CHILD SAs cleanly (RFC 7296 section 2.4).
#[test]
fn restarted_peer_replaces_the_old_sas() {
    use std::sync::Arc;
    let mut net = pair();
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    let old_child = net.children(1)[0].spi_in;
    // A restarts: a fresh endpoint with the same configuration, another seed.
    let cfg = Arc::new(endpoint_config(site("ab", IP_A, IP_B, true), PSK));
    net.nodes[0].ep = ikev2::Endpoint::new(cfg, seed(77));
    net.nodes[0].events.clear();
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.ike_ups(1).len() == 2));
    net.drive_for(Duration::from_secs(1));
    assert_eq!(downs(&net, 1), [DownReason::Replaced]);
    assert!(
        net.nodes[1]
            .events
            .iter()
            .any(|e| matches!(e, Event::ChildSaDeleted(d) if d.spi_in == old_child))
    );
    assert_eq!(net.nodes[1].ep.ike_sa_count(), 1);
    assert_eq!(net.nodes[1].ep.ike_sas()[0].children.len(), 1);
}

/// Deletes of single CHILD SAs in both directions.
#[test]
fn child_sa_delete_from_either_side() {
    for deleter in [0usize, 1] {
        let mut net = pair();
        net.initiate(0, "ab");
        assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
        let spi = net.children(deleter)[0].spi_in;
        let now = net.now;
        net.nodes[deleter].ep.delete_child(now, spi).unwrap();
        net.drive_for(Duration::from_secs(2));
        for i in 0..2 {
            assert_eq!(net.nodes[i].ep.ike_sa_count(), 1);
            assert!(net.nodes[i].ep.ike_sas()[0].children.is_empty());
            assert!(
                net.nodes[i]
                    .events
                    .iter()
                    .any(|e| matches!(e, Event::ChildSaDeleted(_)))
            );
        }
    }
}

/// `keyingtries` (strongSwan's `retransmit()` in state CONNECTING): an unanswered
/// setup is tried again at once, that many times in all, or forever with 0.
#[test]
fn keyingtries_retry_an_unanswered_setup() {
    for tries in [1u32, 3] {
        let mut net = pair_with(1, |a| conn(a).keyingtries = tries, |_| {});
        net.filter = Some(Box::new(|_, _| false));
        net.initiate(0, "ab");
        net.drive_for(Duration::from_secs(1000));
        let f = net.failures(0);
        assert_eq!(f.len() as u32, tries, "keyingtries {tries}");
        assert!(f.iter().all(|f| matches!(f.cause, Cause::Timeout { .. })));
        let (last, earlier) = f.split_last().unwrap();
        assert!(earlier.iter().all(|f| f.retry_in == Some(Duration::ZERO)));
        assert!(
            earlier
                .iter()
                .all(|f| f.to_string().ends_with("trying again"))
        );
        assert_eq!(last.retry_in, None);
        assert_eq!(net.nodes[0].ep.ike_sa_count(), 0);
        assert!(net.nodes[0].ep.poll_timeout().is_none());
    }
    // Forever: the peer is unreachable for 10 minutes, then the tunnel comes up.
    let mut net = pair_with(1, |a| conn(a).keyingtries = 0, |_| {});
    net.filter = Some(Box::new(|_, _| false));
    net.initiate(0, "ab");
    net.drive_for(Duration::from_secs(600));
    assert!(net.failures(0).len() >= 3);
    assert_eq!(net.nodes[0].ep.ike_sa_count(), 1, "one try at a time");
    net.filter = None;
    assert!(net.drive_until(Duration::from_secs(200), |n| n.established(1)));
    assert_eq!(net.nodes[1].ep.ike_sa_count(), 1);
}

/// `close_action` (swanctl's none/start/trap): what follows when the peer deletes
/// the IKE SA. Not after our own Delete crossed the peer's.
#[test]
fn close_action_restart_sets_the_tunnel_up_again_after_the_peers_delete() {
    use ikev2::config::DpdAction;
    for action in [DpdAction::Clear, DpdAction::Restart, DpdAction::Trap] {
        let mut net = pair_with(1, |a| conn(a).close_action = action, |_| {});
        net.initiate(0, "ab");
        assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
        let now = net.now;
        net.nodes[1].ep.terminate(now, "ab").unwrap();
        net.drive_for(Duration::from_secs(10));
        assert_eq!(downs(&net, 0), [DownReason::DeletedByPeer]);
        let trap = net.nodes[0]
            .events
            .iter()
            .any(|e| matches!(e, Event::Trap { conn } if conn == "ab"));
        assert_eq!(trap, action == DpdAction::Trap, "{action:?}");
        let restarted = action == DpdAction::Restart;
        assert_eq!(
            net.ike_ups(0).len(),
            1 + usize::from(restarted),
            "{action:?}"
        );
        assert_eq!(net.nodes[0].ep.ike_sa_count(), usize::from(restarted));
        assert_eq!(net.nodes[1].ep.ike_sa_count(), usize::from(restarted));
    }
    // Both ends delete at once: nobody restarts.
    let mut net = pair_with(1, |a| conn(a).close_action = DpdAction::Restart, |_| {});
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    let now = net.now;
    net.nodes[0].ep.terminate(now, "ab").unwrap();
    net.nodes[1].ep.terminate(now, "ab").unwrap();
    net.drive_for(Duration::from_secs(10));
    assert_eq!(net.ike_ups(0).len(), 1);
    assert_eq!(net.nodes[0].ep.ike_sa_count(), 0);
}

/// `life_time = 0` means no hard lifetime (strongSwan), not "expire at once"; with
/// `rekey_time = 0` too, the CHILD SA simply stays.
#[test]
fn zero_life_time_means_no_hard_lifetime() {
    let no_limits = |c: &mut ikev2::config::EndpointConfig| {
        let child = &mut conn(c).children[0];
        child.life_time = Duration::ZERO;
        child.rekey_time = Duration::ZERO;
    };
    let mut net = pair_with(3, no_limits, no_limits);
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    let spi = net.children(0)[0].spi_in;
    net.drive_for(Duration::from_secs(10 * 24 * 3600));
    for i in 0..2 {
        let sas = net.nodes[i].ep.ike_sas();
        let kids: Vec<u32> = sas
            .iter()
            .flat_map(|s| s.children.iter().map(|c| c.spi_in))
            .collect();
        assert_eq!(kids.len(), 1, "node {i}: still exactly one CHILD SA");
    }
    assert_eq!(net.children(0).len(), 1, "never rekeyed or recreated");
    assert!(
        net.nodes[0].ep.ike_sas()[0]
            .children
            .iter()
            .any(|c| c.spi_in == spi)
    );
}
