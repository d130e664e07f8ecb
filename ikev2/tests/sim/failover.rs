//! Several peer addresses (`remote_addrs` as an ordered candidate list): initiation
//! tries each in turn, moving on after a short budget on one that does not answer.
#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::time::Duration;

use crate::harness::*;
use ikev2::error::Cause;

/// An address no node owns: everything sent there is lost.
fn dead() -> IpAddr {
    "198.51.100.99".parse().unwrap()
}

#[test]
fn initiation_moves_on_to_the_next_address_when_the_first_does_not_answer() {
    let mut net = pair_with(3, |a| conn(a).remote_addrs = vec![dead(), ip(IP_B)], |_| {});
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(60), |n| n.established(1)));
    // IKE_SA_INIT to the dead address, one retransmission (4 s + 7.2 s), then B.
    let t = net.elapsed();
    assert!(
        t >= Duration::from_millis(11_200) && t < Duration::from_secs(12),
        "{t:?}"
    );
    let sas = net.nodes[0].ep.ike_sas();
    assert_eq!(sas.len(), 1);
    assert_eq!(sas[0].remote.ip(), ip(IP_B));
    let f = net.failures(0);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        matches!(f[0].cause, Cause::Timeout { retransmits: 1, remote } if remote.ip() == dead()),
        "{f:?}"
    );
    assert_eq!(f[0].next_remote, Some(ip(IP_B)));
    assert!(
        f[0].to_string().ends_with(&format!("; trying {IP_B} next")),
        "{}",
        f[0]
    );
    // Two datagrams went to the dead address.
    let to_dead = net.nodes[0]
        .sent
        .iter()
        .filter(|(_, t)| t.remote.ip() == dead())
        .count();
    assert_eq!(to_dead, 2);
}

#[test]
fn the_last_address_gets_the_whole_retransmission_budget() {
    let mut net = pair_with(
        3,
        |a| {
            conn(a).remote_addrs = vec![dead(), "198.51.100.98".parse().unwrap()];
            conn(a).keyingtries = 1;
        },
        |_| {},
    );
    net.initiate(0, "ab");
    net.drive_for(Duration::from_secs(400));
    let f = net.failures(0);
    assert_eq!(f.len(), 2, "{f:?}");
    let retransmits: Vec<u32> = f
        .iter()
        .map(|f| match f.cause {
            Cause::Timeout { retransmits, .. } => retransmits,
            _ => u32::MAX,
        })
        .collect();
    // The first address: one retransmission; the last: the full budget (5 by default).
    assert_eq!(retransmits, vec![1, 5]);
    assert_eq!(f[0].next_remote, Some("198.51.100.98".parse().unwrap()));
    assert_eq!(f[1].next_remote, None);
    // keyingtries = 1: one pass over the list, then nothing more.
    assert!(net.nodes[0].ep.ike_sas().is_empty());
}

#[test]
fn a_single_address_keeps_the_whole_budget() {
    let mut net = pair_with(
        3,
        |a| {
            conn(a).remote_addrs = vec![dead()];
            conn(a).keyingtries = 1;
        },
        |_| {},
    );
    net.initiate(0, "ab");
    net.drive_for(Duration::from_secs(400));
    let f = net.failures(0);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        matches!(f[0].cause, Cause::Timeout { retransmits: 5, .. }),
        "{f:?}"
    );
}

/// The peer vanishes after the tunnel is up: A declares it dead within `dpd_delay` +
/// the DPD bound (`dpd_timeout`, else 5 × `dpd_delay`), not after the whole
/// retransmission budget (165 s), with its retransmissions packed into the bound.
#[test]
fn a_dead_peer_is_declared_within_the_dpd_bound() {
    for (timeout, bound) in [(None, 50), (Some(Duration::from_secs(20)), 20)] {
        let mut net = pair_with(
            3,
            |a| {
                conn(a).dpd_delay = Duration::from_secs(10);
                conn(a).dpd_timeout = timeout;
            },
            |_| {},
        );
        net.initiate(0, "ab");
        assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
        let t0 = net.now;
        let sent_before = net.nodes[0].sent.len();
        net.filter = Some(Box::new(|_, _| false));
        assert!(
            net.drive_until(Duration::from_secs(300), |n| !n.failures(0).is_empty()),
            "bound {bound}: never declared dead"
        );
        let took = net.now - t0;
        assert!(
            took <= Duration::from_secs(10 + bound + 1)
                && took >= Duration::from_secs(10 + bound - 1),
            "bound {bound}: dead after {took:?}"
        );
        let f = net.failures(0);
        assert!(matches!(f[0].cause, Cause::Timeout { .. }), "{f:?}");
        // The liveness check and its retransmissions (4 s, 7.2 s, 13 s ... apart).
        let checks = net.nodes[0].sent.len() - sent_before;
        assert!(checks >= 3, "bound {bound}: {checks} datagrams");
        assert!(net.nodes[0].ep.ike_sas().is_empty(), "bound {bound}");
    }
}
