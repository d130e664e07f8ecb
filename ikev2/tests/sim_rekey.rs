//! CHILD SA rekeying in simulated time: make-before-break with data traffic,
//! collisions (RFC 7296 section 2.8.1), rekey under loss, PFS.
#![allow(clippy::unwrap_used)]

mod sim;

use std::time::Duration;

use ikev2::event::Event;
use sim::*;

fn rekeys(net: &Network, node: usize) -> usize {
    net.children(node)
        .iter()
        .filter(|c| c.rekey_of.is_some())
        .count()
}

/// The CHILD SAs in use (not replaced) on a node: (inbound, outbound) SPIs.
fn current_children(net: &Network, node: usize) -> Vec<(u32, u32)> {
    let mut v: Vec<(u32, u32)> = net.nodes[node]
        .ep
        .ike_sas()
        .iter()
        .flat_map(|s| s.children.iter())
        .filter(|c| c.state == "INSTALLED" || c.state == "REKEYING")
        .map(|c| (c.spi_in, c.spi_out))
        .collect();
    v.sort_unstable();
    v
}

/// Both nodes agree on the CHILD SAs: each of A's pairs is one of B's, mirrored.
fn assert_same_children(net: &Network) {
    let a = current_children(net, 0);
    let mut b: Vec<(u32, u32)> = current_children(net, 1)
        .into_iter()
        .map(|(i, o)| (o, i))
        .collect();
    b.sort_unstable();
    assert_eq!(a, b, "A and B disagree on the CHILD SAs");
}

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
        rekeys(n, 0) >= 1000 && rekeys(n, 1) >= 1000
    });
    assert!(done, "only {} rekeys", rekeys(&net, 0));
    eprintln!(
        "rekeys {} / {}, installs {}, rekey time {:?}",
        rekeys(&net, 0),
        rekeys(&net, 1),
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
    assert!(net.drive_until(Duration::from_secs(200), |n| rekeys(n, 0) == 1));
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
