//! ikev2d behind a real NAT (a router namespace with iptables MASQUERADE): NAT
//! detection (RFC 7296 §2.23), the float to port 4500, ESP in UDP (RFC 3948) and
//! NAT-T keepalives (a single 0xFF octet, RFC 3948 §2.3) from the side behind the
//! NAT, against strongSwan and against another ikev2d.

use std::time::Duration;

use interop_tests::ikev2d::is_established;
use interop_tests::prereq::{
    ikev2d_binary, require_iptables, require_root, require_strongswan, require_tun,
};
use interop_tests::strongswan::wait_agreed;
use interop_tests::topology::{INNER_A, INNER_B, NAT_PUBLIC, PRIVATE_A};
use interop_tests::{
    Charon, ConnSpec, Ikev2d, Ikev2dConfig, NatPair, TimeBound, ping, ping_until, require,
};

/// A's side (behind the NAT) and B's side of the tunnel.
fn conns() -> (ConnSpec, ConnSpec) {
    let mut a = ConnSpec::site_a();
    a.local_addr = PRIVATE_A;
    a.local_id = PRIVATE_A.to_string();
    let mut b = a.mirrored();
    b.remote_addr = NAT_PUBLIC;
    (a, b)
}

/// ikev2d in A with 1 s keepalives.
fn ikev2d_a(net: &NatPair, a: ConnSpec) -> Ikev2d {
    let mut cfg = Ikev2dConfig::new(vec![a]);
    cfg.keep_alive = Some("1s".to_owned());
    Ikev2d::start(&net.a, &cfg)
}

/// After 4 idle seconds with `keep_alive = "1s"`, A has sent keepalives through the
/// NAT (UDP to 4500 with one octet of payload: IP length 29).
fn check_keepalives(net: &NatPair) {
    net.add_counter(&[
        "-p", "udp", "--dport", "4500", "-m", "length", "--length", "29",
    ]);
    std::thread::sleep(Duration::from_secs(4));
    let n = net.count();
    assert!(
        n >= 2,
        "{n} NAT-T keepalive(s) from ikev2d behind the NAT in 4 idle seconds"
    );
}

#[test]
fn ikev2d_behind_nat_to_strongswan() {
    require!(
        require_root(),
        require_tun(),
        require_strongswan(),
        ikev2d_binary(),
        require_iptables()
    );
    let _bound = TimeBound::new("ikev2d_behind_nat_to_strongswan", Duration::from_secs(90));
    let net = NatPair::new();
    let (a, b) = conns();
    let charon = Charon::start(&net.b, &[b]);
    let ikev2d = ikev2d_a(&net, a);
    let up = ikev2d.up("lab", Duration::from_secs(20));
    assert!(up.ok(), "ikev2d up through the NAT: {up}");
    wait_agreed(&ikev2d, &charon, "lab", Duration::from_secs(10)).unwrap_or_else(|e| panic!("{e}"));
    let st = ikev2d.conn_status("lab").expect("status");
    assert_eq!(st["nat_detected"], true, "{st}");
    assert!(
        st["local"].as_str().is_some_and(|l| l.ends_with(":4500")),
        "{st}"
    );
    assert!(ping_until(
        &net.a,
        INNER_A,
        INNER_B,
        Duration::from_secs(10)
    ));
    assert_eq!(ping(&net.a, INNER_A, INNER_B, 3), 3);
    assert_eq!(
        ping(&net.b, INNER_B, INNER_A, 3),
        3,
        "B -> A through the NAT"
    );
    check_keepalives(&net);
    let sas = charon.list_sas_text();
    assert!(
        sas.contains("192.0.2.254[4500]"),
        "strongSwan does not see A at the NAT's address:\n{sas}"
    );
}

#[test]
fn ikev2d_pair_behind_nat() {
    require!(
        require_root(),
        require_tun(),
        ikev2d_binary(),
        require_iptables()
    );
    let _bound = TimeBound::new("ikev2d_pair_behind_nat", Duration::from_secs(90));
    let net = NatPair::new();
    let (a, b) = conns();
    let responder = Ikev2d::start(&net.b, &Ikev2dConfig::new(vec![b]));
    let initiator = ikev2d_a(&net, a);
    let up = initiator.up("lab", Duration::from_secs(20));
    assert!(up.ok(), "ikev2d up through the NAT: {up}");
    let sa = initiator
        .wait_established("lab", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));
    let sb = responder
        .wait_established("lab", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));
    for (who, s) in [("initiator (behind the NAT)", &sa), ("responder", &sb)] {
        assert_eq!(s["nat_detected"], true, "{who}: {s}");
    }
    assert!(
        sb["remote"]
            .as_str()
            .is_some_and(|r| r.starts_with("192.0.2.254:")),
        "responder should see the NAT's address: {sb}"
    );
    assert!(ping_until(
        &net.a,
        INNER_A,
        INNER_B,
        Duration::from_secs(10)
    ));
    assert_eq!(ping(&net.a, INNER_A, INNER_B, 3), 3);
    assert_eq!(
        ping(&net.b, INNER_B, INNER_A, 3),
        3,
        "B -> A through the NAT"
    );
    check_keepalives(&net);
    assert!(is_established(
        &responder.conn_status("lab").expect("status")
    ));
    for (who, d) in [("initiator", &initiator), ("responder", &responder)] {
        assert!(
            d.log().contains("ESP in UDP"),
            "{who} did not log its CHILD SA as ESP in UDP:\n{}",
            d.log_tail(20)
        );
    }
}

/// The other way round: strongSwan behind the NAT initiates, ikev2d responds to the
/// NAT's address and port and must send its ESP and IKE there.
#[test]
fn strongswan_behind_nat_to_ikev2d() {
    require!(
        require_root(),
        require_tun(),
        require_strongswan(),
        ikev2d_binary(),
        require_iptables()
    );
    let _bound = TimeBound::new("strongswan_behind_nat_to_ikev2d", Duration::from_secs(90));
    let net = NatPair::new();
    let (a, b) = conns();
    let ikev2d = Ikev2d::start(&net.b, &Ikev2dConfig::new(vec![b]));
    let charon = Charon::start(&net.a, &[a]);
    let o = charon.initiate("net");
    assert!(o.ok(), "swanctl --initiate through the NAT: {o}");
    wait_agreed(&ikev2d, &charon, "lab", Duration::from_secs(10)).unwrap_or_else(|e| panic!("{e}"));
    let st = ikev2d.conn_status("lab").expect("status");
    assert_eq!(st["nat_detected"], true, "{st}");
    assert!(
        st["remote"]
            .as_str()
            .is_some_and(|r| r.starts_with("192.0.2.254:")),
        "ikev2d should see strongSwan at the NAT's address: {st}"
    );
    assert!(ping_until(
        &net.a,
        INNER_A,
        INNER_B,
        Duration::from_secs(10)
    ));
    assert_eq!(ping(&net.a, INNER_A, INNER_B, 3), 3);
    assert_eq!(
        ping(&net.b, INNER_B, INNER_A, 3),
        3,
        "B -> A through the NAT"
    );
}
