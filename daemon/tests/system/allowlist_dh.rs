//! The pre-parse peer filter against the real daemon: IKE_SA_INIT requests from
//! peers outside `[daemon] allowed_peers`, or that no connection's `remote_addrs`
//! (addresses and CIDR ranges) admits, are dropped before any Diffie-Hellman work:
//! the `ike_dh_computations` counter stays 0 while `ike_not_allowed` counts them;
//! one request from an admitted peer shows that the counter does move.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Daemon;
use ikev2::Endpoint;
use ikev2::config::{ChildConfig, ConnectionConfig, EndpointConfig};

const GATEWAY: &str = "192.0.2.1";

/// A fresh IKE_SA_INIT request from `src` to the gateway (new SPI each call).
fn ike_sa_init(src: IpAddr, seed: u8) -> Vec<u8> {
    let mut c = ConnectionConfig::new("probe");
    c.local_addrs = vec![src];
    c.remote_addrs = vec![GATEWAY.parse().unwrap()];
    c.children = vec![ChildConfig::new("net")];
    let cfg = EndpointConfig {
        connections: vec![c],
        ..EndpointConfig::default()
    };
    let mut ep = Endpoint::new(Arc::new(cfg), [seed; 32]);
    ep.initiate(Instant::now(), "probe").unwrap();
    ep.poll_transmit().unwrap().payload
}

/// Sends `n` requests from `src` (an address on the namespace's `lo`).
fn send_from(d: &Daemon, src: &'static str, n: u8) {
    d.in_netns(move || {
        let ip: IpAddr = src.parse().unwrap();
        let s = UdpSocket::bind(SocketAddr::new(ip, 0)).unwrap();
        for i in 0..n {
            let m = ike_sa_init(ip, i.wrapping_add(1));
            s.send_to(&m, (GATEWAY, 500)).unwrap();
        }
    });
}

#[test]
fn dropped_peers_cost_no_diffie_hellman() {
    let Some(d) = Daemon::start(
        r#"allowed_peers = ["192.0.2.0/24", "203.0.113.0/24"]"#,
        "",
        r#"
[connections.branches]
local_addrs  = ["192.0.2.1"]
remote_addrs = ["192.0.2.0/25"]
[connections.branches.local]
id = "192.0.2.1"
[connections.branches.remote]
id = "%any"
[connections.branches.children.net]
local_ts  = ["10.1.0.0/24"]
remote_ts = ["10.9.0.0/16"]
[secrets.ike-branches]
id = "192.0.2.1"
secret = "Xq7#vR2m-Lp9$wT4zK8!nB3hJ6@cF5dS"
"#,
        &[
            "192.0.2.1/32",
            "192.0.2.9/32",
            "192.0.2.200/32",
            "198.51.100.9/32",
            "203.0.113.9/32",
        ],
    ) else {
        return;
    };
    // outside allowed_peers
    send_from(&d, "198.51.100.9", 20);
    // inside allowed_peers, but outside every connection's remote_addrs range
    send_from(&d, "203.0.113.9", 20);
    send_from(&d, "192.0.2.200", 20);
    assert!(
        d.wait(Duration::from_secs(5), |d| d.counter("ike_not_allowed")
            == 60),
        "{}",
        d.status()["counters"]
    );
    let c = d.status()["counters"].clone();
    assert_eq!(c["ike_dh_computations"].as_u64().unwrap_or(0), 0, "{c}");
    assert_eq!(
        c["ike_received"].as_u64().unwrap_or(0),
        0,
        "never parsed: {c}"
    );
    assert_eq!(
        c["ike_sent"].as_u64().unwrap_or(0),
        0,
        "never answered: {c}"
    );

    // An admitted peer (inside 192.0.2.0/25) gets a responder's DH and an answer.
    send_from(&d, "192.0.2.9", 1);
    assert!(
        d.wait(Duration::from_secs(5), |d| d.counter("ike_dh_computations")
            >= 1),
        "{}",
        d.status()["counters"]
    );
    assert!(d.counter("ike_sent") >= 1);
    assert_eq!(d.counter("ike_not_allowed"), 60);
    // the metrics endpoint is fed from the same counters
    let text = String::from_utf8_lossy(&d.ctl(&["status"], None).stdout).into_owned();
    assert!(text.contains("ike_dh_computations 1"), "{text}");
}
