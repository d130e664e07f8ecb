//! Establishing IKE and CHILD SAs between two endpoints in the simulated network.
#![allow(clippy::unwrap_used)]

mod sim;

use std::time::Duration;

use sim::*;

#[test]
fn psk_site_to_site_comes_up() {
    let mut net = pair();
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    let (a, b) = (net.ike_ups(0)[0], net.ike_ups(1)[0]);
    assert!(a.initiator && !b.initiator);
    assert_eq!((a.spi_i, a.spi_r), (b.spi_i, b.spi_r));
    assert_eq!(a.suite, b.suite);
    assert_eq!(a.remote_id, id(IP_B));
    assert_eq!(b.remote_id, id(IP_A));
    assert!(!a.nat.any() && !b.nat.any());
    let (ca, cb) = (net.children(0)[0], net.children(1)[0]);
    assert_child_pair(ca, cb);
    assert_eq!(ca.local_ts[0].to_string(), "10.1.0.0/24");
    assert_eq!(ca.remote_ts[0].to_string(), "10.2.0.0/24");
    assert!(!ca.encap);
    assert_eq!(ca.local.port(), 500);
    assert!(net.failures(0).is_empty() && net.failures(1).is_empty());
    // Two exchanges, four datagrams, nothing retransmitted.
    assert_eq!(net.nodes[0].sent.len(), 2);
    assert_eq!(net.nodes[1].sent.len(), 2);
    assert_eq!(net.nodes[1].ep.half_open_count(), 0);
}
