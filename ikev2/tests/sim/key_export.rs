//! `export_keys`: IKE SA keys are reported (for Wireshark's decryption table) only
//! when asked for, identical on both ends, and again after an IKE SA rekey.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use crate::harness::*;
use ikev2::event::{Event, IkeSaKeys};

fn exported(net: &Network, node: usize) -> Vec<&IkeSaKeys> {
    net.nodes[node]
        .events
        .iter()
        .filter_map(|e| match e {
            Event::IkeSaKeys(k) => Some(&**k),
            _ => None,
        })
        .collect()
}

#[test]
fn keys_are_exported_only_when_configured() {
    let mut net = pair();
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    assert!(exported(&net, 0).is_empty() && exported(&net, 1).is_empty());
}

#[test]
fn both_ends_export_the_same_keys_and_again_after_an_ike_rekey() {
    let on = |c: &mut ikev2::config::EndpointConfig| c.export_keys = true;
    let mut net = pair_with(7, on, on);
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    let (a, b) = (exported(&net, 0), exported(&net, 1));
    assert_eq!((a.len(), b.len()), (1, 1));
    let up = net.ike_ups(0)[0];
    for k in [a[0], b[0]] {
        assert_eq!((k.spi_i, k.spi_r), (up.spi_i, up.spi_r));
        assert_eq!(k.suite, up.suite);
        assert!(!k.sk_ei.is_empty() && k.sk_ei != k.sk_er);
    }
    assert_eq!(a[0].sk_ei, b[0].sk_ei);
    assert_eq!(a[0].sk_er, b[0].sk_er);
    assert_eq!(a[0].sk_ai, b[0].sk_ai);
    assert_eq!(a[0].sk_ar, b[0].sk_ar);

    let id = net.nodes[0].ep.ike_sas()[0].id;
    let now = net.now;
    net.nodes[0].ep.rekey_ike_sa(now, id).unwrap();
    net.drive_for(Duration::from_secs(5));
    let (a, b) = (exported(&net, 0), exported(&net, 1));
    assert_eq!((a.len(), b.len()), (2, 2), "the rekeyed SA is exported too");
    assert_ne!(a[1].spi_i, a[0].spi_i);
    assert_ne!(a[1].sk_ei, a[0].sk_ei);
    assert_eq!(a[1].sk_ei, b[1].sk_ei);
    let live = &net.nodes[0].ep.ike_sas()[0];
    assert_eq!((a[1].spi_i, a[1].spi_r), (live.spi_i, live.spi_r));
}
