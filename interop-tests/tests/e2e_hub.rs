//! One ikev2d with two peers: strongSwan on one link, another ikev2d on a second
//! link, each its own connection with its own local address (ikev2d listens on
//! both) and its own remote network.
//!
//! ```text
//! B: strongSwan 192.0.2.2, 10.2.0.1  <-- veth0 --  A: ikev2d hub  -- veth1 -->  C: ikev2d 198.51.100.2, 10.3.0.1
//!                                                  192.0.2.1, 198.51.100.1, 10.1.0.1
//! ```

use std::net::IpAddr;
use std::time::Duration;

use interop_tests::ikev2d::is_established;
use interop_tests::netns::veth;
use interop_tests::prereq::{ikev2d_binary, require_root, require_strongswan, require_tun};
use interop_tests::strongswan::wait_agreed;
use interop_tests::topology::{INNER_A, INNER_B};
use interop_tests::{
    Charon, ConnSpec, Ikev2d, Ikev2dConfig, Netns, TimeBound, ping, ping_until, require,
};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address literal")
}

#[test]
fn hub_with_strongswan_and_ikev2d_spokes() {
    require!(
        require_root(),
        require_tun(),
        require_strongswan(),
        ikev2d_binary()
    );
    let _bound = TimeBound::new(
        "hub_with_strongswan_and_ikev2d_spokes",
        Duration::from_secs(90),
    );
    let a = Netns::new("hub");
    let b = Netns::new("b");
    let c = Netns::new("c");
    veth(&a, "veth0", &b, "veth0");
    veth(&a, "veth1", &c, "veth0");
    a.add_addr("veth0", "192.0.2.1/24");
    a.add_addr("veth1", "198.51.100.1/24");
    a.add_addr("lo", "10.1.0.1/24");
    b.add_addr("veth0", "192.0.2.2/24");
    b.add_addr("lo", "10.2.0.1/24");
    c.add_addr("veth0", "198.51.100.2/24");
    c.add_addr("lo", "10.3.0.1/24");
    assert!(a.reachable(ip("192.0.2.2"), Duration::from_secs(5)));
    assert!(a.reachable(ip("198.51.100.2"), Duration::from_secs(5)));

    let mut to_b = ConnSpec::site_a();
    to_b.name = "to-b".to_owned();
    let mut to_c = ConnSpec::site_a();
    to_c.name = "to-c".to_owned();
    to_c.local_addr = ip("198.51.100.1");
    to_c.remote_addr = ip("198.51.100.2");
    to_c.local_id = "198.51.100.1".to_owned();
    to_c.remote_id = "198.51.100.2".to_owned();
    to_c.children[0].remote_ts = vec!["10.3.0.0/24".to_owned()];
    to_c.psk = "another-Interop-PSK-for-spoke-C-3#kL9".to_owned();

    let charon = Charon::start(&b, &[to_b.mirrored()]);
    let spoke_c = Ikev2d::start(&c, &Ikev2dConfig::new(vec![to_c.mirrored()]));
    let hub = Ikev2d::start(&a, &Ikev2dConfig::new(vec![to_b, to_c]));
    for conn in ["to-b", "to-c"] {
        let up = hub.up(conn, Duration::from_secs(20));
        assert!(up.ok(), "hub up {conn}: {up}");
    }
    wait_agreed(&hub, &charon, "to-b", Duration::from_secs(10)).unwrap_or_else(|e| panic!("{e}"));
    let sc = spoke_c
        .wait_established("to-c", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));
    let status = hub.status_json();
    let conns = status["connections"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(conns.len(), 2, "{status}");
    assert!(conns.iter().all(is_established), "{status}");
    let hc = conns
        .iter()
        .find(|c| c["name"] == "to-c")
        .expect("to-c in the hub's status");
    assert_eq!(
        hc["ike_sa"]["spi_i"], sc["ike_sa"]["spi_i"],
        "hub: {hc}\nspoke: {sc}"
    );

    let c_inner = ip("10.3.0.1");
    assert!(
        ping_until(&a, INNER_A, INNER_B, Duration::from_secs(10)),
        "hub -> B"
    );
    assert!(
        ping_until(&a, INNER_A, c_inner, Duration::from_secs(10)),
        "hub -> C"
    );
    assert_eq!(ping(&a, INNER_A, INNER_B, 3), 3, "hub -> B");
    assert_eq!(ping(&a, INNER_A, c_inner, 3), 3, "hub -> C");
    assert_eq!(ping(&b, INNER_B, INNER_A, 3), 3, "B -> hub");
    assert_eq!(ping(&c, c_inner, INNER_A, 3), 3, "C -> hub");
}
