//! IPv6 against strongSwan: IKE and ESP over IPv6 between the gateways, IPv6 networks
//! inside the tunnel (both directions of initiation).

use std::net::IpAddr;
use std::time::Duration;

use interop_tests::netns::veth;
use interop_tests::prereq::{ikev2d_binary, require_root, require_strongswan, require_tun};
use interop_tests::strongswan::wait_agreed;
use interop_tests::{
    Charon, ConnSpec, Ikev2d, Ikev2dConfig, Netns, TimeBound, ping, ping_until, require,
};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address literal")
}

/// Two namespaces over IPv6 only (no DAD delay), inner fd01:1::/64 and fd01:2::/64.
fn v6_pair() -> (Netns, Netns) {
    let a = Netns::new("a6");
    let b = Netns::new("b6");
    veth(&a, "veth0", &b, "veth0");
    a.run_ok(&[
        "ip",
        "-6",
        "addr",
        "add",
        "2001:db8::1/64",
        "dev",
        "veth0",
        "nodad",
    ]);
    b.run_ok(&[
        "ip",
        "-6",
        "addr",
        "add",
        "2001:db8::2/64",
        "dev",
        "veth0",
        "nodad",
    ]);
    a.run_ok(&["ip", "-6", "addr", "add", "fd01:1::1/64", "dev", "lo"]);
    b.run_ok(&["ip", "-6", "addr", "add", "fd01:2::1/64", "dev", "lo"]);
    assert!(
        a.reachable(ip("2001:db8::2"), Duration::from_secs(5)),
        "IPv6 veth does not pass traffic"
    );
    (a, b)
}

fn conn() -> ConnSpec {
    let mut c = ConnSpec::site_a();
    c.local_addr = ip("2001:db8::1");
    c.remote_addr = ip("2001:db8::2");
    c.local_id = "2001:db8::1".to_owned();
    c.remote_id = "2001:db8::2".to_owned();
    c.children[0].local_ts = vec!["fd01:1::/64".to_owned()];
    c.children[0].remote_ts = vec!["fd01:2::/64".to_owned()];
    c.with_proposals("aes256gcm16-prfsha256-ecp256", "aes256gcm16")
}

#[test]
fn ipv6_ikev2d_initiator_strongswan_responder() {
    require!(
        require_root(),
        require_tun(),
        require_strongswan(),
        ikev2d_binary()
    );
    let _bound = TimeBound::new(
        "ipv6_ikev2d_initiator_strongswan_responder",
        Duration::from_secs(60),
    );
    let (a, b) = v6_pair();
    let c = conn();
    let charon = Charon::start(&b, &[c.mirrored()]);
    let ikev2d = Ikev2d::start(&a, &Ikev2dConfig::new(vec![c]));
    let up = ikev2d.up("lab", Duration::from_secs(20));
    assert!(up.ok(), "up over IPv6: {up}");
    wait_agreed(&ikev2d, &charon, "lab", Duration::from_secs(10)).unwrap_or_else(|e| panic!("{e}"));
    let (src, dst) = (ip("fd01:1::1"), ip("fd01:2::1"));
    assert!(
        ping_until(&a, src, dst, Duration::from_secs(10)),
        "no IPv6 ping through the tunnel"
    );
    assert_eq!(ping(&a, src, dst, 3), 3);
    assert_eq!(ping(&b, dst, src, 3), 3, "B -> A");
}

#[test]
fn ipv6_strongswan_initiator_ikev2d_responder() {
    require!(
        require_root(),
        require_tun(),
        require_strongswan(),
        ikev2d_binary()
    );
    let _bound = TimeBound::new(
        "ipv6_strongswan_initiator_ikev2d_responder",
        Duration::from_secs(60),
    );
    let (a, b) = v6_pair();
    let c = conn();
    let ikev2d = Ikev2d::start(&b, &Ikev2dConfig::new(vec![c.mirrored()]));
    let charon = Charon::start(&a, &[c]);
    let o = charon.initiate("net");
    assert!(o.ok(), "swanctl --initiate over IPv6: {o}");
    wait_agreed(&ikev2d, &charon, "lab", Duration::from_secs(10)).unwrap_or_else(|e| panic!("{e}"));
    let (src, dst) = (ip("fd01:1::1"), ip("fd01:2::1"));
    assert!(
        ping_until(&a, src, dst, Duration::from_secs(10)),
        "no IPv6 ping through the tunnel"
    );
    assert_eq!(ping(&a, src, dst, 3), 3);
    assert_eq!(ping(&b, dst, src, 3), 3, "B -> A");
}
