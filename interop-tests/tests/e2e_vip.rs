//! A local address that appears after the daemon started, as keepalived adds a
//! virtual address to the master (issue 20's first step): ikev2d starts with it in
//! `local_addrs` although the host does not have it, says so in its log, and answers
//! IKE and carries ESP on it once the address is there.

use std::net::IpAddr;
use std::time::Duration;

use interop_tests::prereq::{ikev2d_binary, require_root, require_tun};
use interop_tests::topology::{INNER_A, INNER_B, VETH};
use interop_tests::{ConnSpec, Ikev2d, Ikev2dConfig, Pair, TimeBound, ping_until, require};

#[test]
fn a_local_address_added_after_start_is_answered_on() {
    require!(require_root(), require_tun(), ikev2d_binary());
    let _bound = TimeBound::new("vip_after_start", Duration::from_secs(90));
    let net = Pair::new();
    let vip: IpAddr = "192.0.2.11".parse().expect("addr");
    // A listens on the VIP only; B's peer is the VIP.
    let mut a_conn = ConnSpec::site_a();
    a_conn.local_addr = vip;
    a_conn.local_id = vip.to_string();
    let b_conn = a_conn.mirrored();

    let a = Ikev2d::start(&net.a, &Ikev2dConfig::new(vec![a_conn]));
    let warned = a.log().lines().any(|l| {
        l.contains("WARN") && l.contains("local address 192.0.2.11 is not on this host (yet)")
    });
    assert!(warned, "{}", a.log_tail(20));
    let b = Ikev2d::start(&net.b, &Ikev2dConfig::new(vec![b_conn]));

    // The address arrives (keepalived would add it on becoming master).
    net.a.add_addr(VETH, "192.0.2.11/24");
    let up = b.up("lab", Duration::from_secs(20));
    assert!(up.ok(), "{up}\n{}\n{}", b.log_tail(30), a.log_tail(30));
    let st = a
        .wait_established("lab", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}", a.log_tail(30)));
    assert!(
        st["ike_sa"]["local"]
            .as_str()
            .is_some_and(|l| l.starts_with("192.0.2.11:")),
        "{st}"
    );
    assert!(ping_until(&net.b, INNER_B, INNER_A, Duration::from_secs(5)));
}
