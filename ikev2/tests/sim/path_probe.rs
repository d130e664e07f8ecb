//! Path MTU probes (`Endpoint::probe_path_mtu`): padded INFORMATIONAL requests that
//! tell whether a datagram size gets through, without ever blocking the window or
//! looking like a dead peer when it does not.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use crate::harness::*;
use ikev2::event::{Event, PathProbed};

/// Outer IPv4 + UDP headers around the IKE messages of these tests (port 500: no
/// non-ESP marker).
const OVERHEAD: usize = 28;

fn probed(net: &Network, node: usize) -> Vec<PathProbed> {
    net.nodes[node]
        .events
        .iter()
        .filter_map(|e| match e {
            Event::PathProbed(p) => Some(p.clone()),
            _ => None,
        })
        .collect()
}

/// A pair whose path drops every datagram longer than `limit` octets (IP packet).
fn limited_pair(limit: usize) -> Network {
    let mut net = pair_with(3, |_| {}, |_| {});
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    net.filter = Some(Box::new(move |_, t| t.payload.len() + OVERHEAD <= limit));
    net
}

fn probe(net: &mut Network, size: usize) -> PathProbed {
    let before = probed(net, 0).len();
    let now = net.now;
    let id = net.nodes[0].ep.ike_sas()[0].id;
    net.nodes[0].ep.probe_path_mtu(now, id, size).unwrap();
    assert!(
        net.drive_until(Duration::from_secs(30), |n| probed(n, 0).len() > before),
        "no answer to the probe of {size}"
    );
    probed(net, 0).pop().unwrap()
}

#[test]
fn a_probe_that_fits_is_answered_and_sent_whole() {
    let mut net = limited_pair(1500);
    let sent_before = net.nodes[0].sent.len();
    let p = probe(&mut net, 1400);
    assert!(p.fits);
    // AES-CBC: the size sent is the largest block step not above the size asked for.
    assert!(p.size <= 1400 && p.size > 1400 - 16, "{}", p.size);
    // One datagram of that size (never fragmented, although 1400 is above the
    // fragment size of 1280 and both sides support fragmentation).
    let sizes: Vec<usize> = net.nodes[0].sent[sent_before..]
        .iter()
        .map(|(_, t)| t.payload.len() + OVERHEAD)
        .collect();
    assert_eq!(sizes, vec![p.size]);
    assert_eq!(net.nodes[0].ep.stats().path_probes_sent, 1);
    assert_eq!(net.nodes[0].ep.stats().path_probes_answered, 1);
}

#[test]
fn a_probe_too_big_for_the_path_reads_as_not_fitting_and_harms_nothing() {
    let mut net = limited_pair(1300);
    let p = probe(&mut net, 1400);
    assert!(!p.fits);
    // Answered within the probe timeout plus a round trip of the small request.
    assert!(
        net.elapsed() < Duration::from_secs(5),
        "{:?}",
        net.elapsed()
    );
    assert_eq!(net.nodes[0].ep.stats().path_probes_answered, 0);
    // The IKE SA is fine: no failure, the window moved on, a rekey still works.
    assert!(net.failures(0).is_empty() && net.failures(1).is_empty());
    let now = net.now;
    let id = net.nodes[0].ep.ike_sas()[0].id;
    net.nodes[0].ep.rekey_ike_sa(now, id).unwrap();
    net.drive_for(Duration::from_secs(10));
    assert!(net.failures(0).is_empty());
    assert_eq!(net.nodes[0].ep.ike_sa_count(), 1);
    assert!(
        net.nodes[0]
            .events
            .iter()
            .any(|e| matches!(e, Event::IkeSaRekeyed(_)))
    );
}

#[test]
fn a_search_over_probes_finds_the_path_mtu() {
    for limit in [1280, 1300, 1400, 1453, 1500] {
        let mut net = limited_pair(limit);
        // The search runs over the sizes asked for; the answer is the largest size
        // actually sent that fitted (CBC may send up to a block less than asked).
        let (mut lo, mut hi, mut best) = (576, 1500, 0);
        while hi - lo > 16 {
            let mid = (lo + hi) / 2;
            let p = probe(&mut net, mid);
            if p.fits {
                lo = mid;
                best = best.max(p.size);
            } else {
                hi = mid - 1;
            }
        }
        assert!(
            best <= limit && limit - best < 32,
            "limit {limit}: found {best}"
        );
        assert!(net.failures(0).is_empty(), "limit {limit}");
    }
}

#[test]
fn one_probe_at_a_time_and_only_on_an_established_sa() {
    let mut net = limited_pair(1500);
    let now = net.now;
    let id = net.nodes[0].ep.ike_sas()[0].id;
    net.nodes[0].ep.probe_path_mtu(now, id, 1400).unwrap();
    assert!(matches!(
        net.nodes[0].ep.probe_path_mtu(now, id, 1400),
        Err(ikev2::error::CommandError::ProbeBusy(_))
    ));
    net.drive_for(Duration::from_secs(1));
    assert_eq!(probed(&net, 0).len(), 1);
    let gone = ikev2::event::IkeSaId(id.0 + 100);
    assert!(net.nodes[0].ep.probe_path_mtu(now, gone, 1400).is_err());
}

#[test]
fn a_probe_smaller_than_an_empty_request_is_refused_without_harm() {
    let mut net = limited_pair(1500);
    let now = net.now;
    let id = net.nodes[0].ep.ike_sas()[0].id;
    assert!(matches!(
        net.nodes[0].ep.probe_path_mtu(now, id, 40),
        Err(ikev2::error::CommandError::ProbeTooSmall { size: 40, .. })
    ));
    net.drive_for(Duration::from_secs(10));
    assert_eq!(net.nodes[0].ep.ike_sa_count(), 1);
    assert!(probed(&net, 0).is_empty());
}
