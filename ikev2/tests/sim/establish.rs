//! Establishing IKE and CHILD SAs between two endpoints in the simulated network.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use crate::harness::*;

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
    // Key material never shows in Debug output.
    let shown = format!("{:?} {:?}", net.nodes[0].events, net.nodes[1].events);
    assert!(shown.contains("redacted"));
    let key_hex: String = ca
        .keys
        .encr_out
        .expose()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let key_dec = format!("{:?}", ca.keys.encr_out.expose());
    assert!(!shown.contains(&key_hex) && !shown.contains(&key_dec[1..key_dec.len() - 1]));
    assert_eq!(ca.local.port(), 500);
    assert!(net.failures(0).is_empty() && net.failures(1).is_empty());
    // Two exchanges, four datagrams, nothing retransmitted.
    assert_eq!(net.nodes[0].sent.len(), 2);
    assert_eq!(net.nodes[1].sent.len(), 2);
    assert_eq!(net.nodes[1].ep.half_open_count(), 0);
}

#[test]
fn every_identity_type() {
    use ikev2::config::SharedSecret;
    for (ida, idb) in [
        ("a.example.com", "@b.example.com"),
        ("alice@example.com", "bob@example.com"),
        ("@#0102030405", "keyid:#a0b0c0"),
        ("2001:db8::a", "2001:db8::b"),
        (
            "asn1dn:#300f310d300b06035504030c0461616161",
            "asn1dn:#300f310d300b06035504030c0462626262",
        ),
    ] {
        let secrets = vec![SharedSecret::new(vec![id(ida), id(idb)], "per-id key")];
        let s2 = secrets.clone();
        let mut net = pair_with(
            1,
            |a| {
                conn(a).local_id = id(ida);
                conn(a).remote_id = id(idb);
                a.secrets = secrets;
            },
            |b| {
                conn(b).local_id = id(idb);
                conn(b).remote_id = id(ida);
                b.secrets = s2;
            },
        );
        net.initiate(0, "ab");
        assert!(
            net.drive_until(Duration::from_secs(5), |n| n.established(1)),
            "{ida} / {idb}: {:?} {:?}",
            net.failures(0),
            net.failures(1)
        );
        assert_eq!(net.ike_ups(1)[0].remote_id, id(ida));
        assert_eq!(net.ike_ups(0)[0].remote_id, id(idb));
    }
}

#[test]
fn responder_picks_connection_and_psk_by_peer_id() {
    use std::sync::Arc;

    use ikev2::Endpoint;
    use ikev2::config::{EndpointConfig, SharedSecret};

    // B serves two road warriors from any address, told apart by their IDs.
    let rw = |name: &str, peer: &str| {
        let mut c = site(name, IP_B, IP_A, false);
        c.remote_addrs.clear();
        c.remote_id = id(peer);
        c.children[0].remote_ts = vec!["dynamic".parse().unwrap()];
        c
    };
    let b_cfg = EndpointConfig {
        connections: vec![rw("x", "x@example.com"), rw("y", "y@example.com")],
        secrets: vec![
            SharedSecret::new(vec![id("x@example.com")], "key of x"),
            SharedSecret::new(vec![id("y@example.com")], "key of y"),
        ],
        ..EndpointConfig::default()
    };
    let client = |me: &str, addr: &str, key: &str| {
        let mut c = site("home", addr, IP_B, true);
        c.local_id = id(me);
        c.children[0].local_ts = vec!["dynamic".parse().unwrap()];
        EndpointConfig {
            connections: vec![c],
            secrets: vec![SharedSecret::new(vec![id(me)], key)],
            ..EndpointConfig::default()
        }
    };
    let nodes = vec![
        (
            Endpoint::new(
                Arc::new(client("x@example.com", "192.0.2.10", "key of x")),
                seed(1),
            ),
            vec![ip("192.0.2.10")],
        ),
        (Endpoint::new(Arc::new(b_cfg), seed(2)), vec![ip(IP_B)]),
        (
            Endpoint::new(
                Arc::new(client("y@example.com", "192.0.2.20", "key of y")),
                seed(3),
            ),
            vec![ip("192.0.2.20")],
        ),
    ];
    let mut net = Network::new(nodes, 1);
    net.initiate(0, "home");
    net.initiate(2, "home");
    net.drive_for(Duration::from_secs(5));
    let ups = net.ike_ups(1);
    assert_eq!(ups.len(), 2, "{:?}", net.failures(1));
    let mut conns: Vec<_> = ups
        .iter()
        .map(|u| (u.conn.clone(), u.remote_id.to_string()))
        .collect();
    conns.sort();
    assert_eq!(
        conns,
        [
            ("x".to_string(), "x@example.com".to_string()),
            ("y".to_string(), "y@example.com".to_string())
        ]
    );
    // "dynamic" resolved to each client's address.
    let c = net.children(1);
    let mut remotes: Vec<String> = c.iter().map(|c| c.remote_ts[0].to_string()).collect();
    remotes.sort();
    assert_eq!(remotes, ["192.0.2.10/32", "192.0.2.20/32"]);
    // A client with the other's key is refused.
    let mut bad = client("x@example.com", "192.0.2.30", "key of y");
    bad.connections[0].name = "bad".into();
    net.nodes.push(Node {
        ep: Endpoint::new(Arc::new(bad), seed(4)),
        addrs: vec![ip("192.0.2.30")],
        events: Vec::new(),
        sent: Vec::new(),
        dp: Default::default(),
    });
    net.initiate(3, "bad");
    net.drive_for(Duration::from_secs(5));
    assert!(matches!(
        net.failures(1).last().unwrap().cause,
        ikev2::error::Cause::AuthMismatch { .. }
    ));
}
