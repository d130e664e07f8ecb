//! Liveness checks and deletion from either side.
#![allow(clippy::unwrap_used)]

mod sim;

use std::time::Duration;

use ikev2::error::{Cause, Phase};
use ikev2::event::{DownReason, Event};
use sim::*;

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
