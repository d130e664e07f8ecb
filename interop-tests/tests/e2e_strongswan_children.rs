//! Several CHILD SAs under one IKE SA against strongSwan: the first comes with
//! IKE_AUTH, the second with CREATE_CHILD_SA; each carries its own networks.

use std::time::Duration;

use interop_tests::ikev2d::is_established;
use interop_tests::prereq::{ikev2d_binary, require_root, require_strongswan, require_tun};
use interop_tests::topology::{INNER_A, INNER_B};
use interop_tests::{
    Charon, ConnSpec, Ikev2d, Ikev2dConfig, Pair, TimeBound, ping, ping_until, require,
};

#[test]
fn two_children_with_strongswan() {
    require!(
        require_root(),
        require_tun(),
        require_strongswan(),
        ikev2d_binary()
    );
    let _bound = TimeBound::new("two_children_with_strongswan", Duration::from_secs(90));
    let net = Pair::new();
    net.a.add_addr("lo", "10.1.1.1/24");
    net.b.add_addr("lo", "10.2.1.1/24");
    let mut conn = ConnSpec::site_a();
    let mut second = conn.children[0].clone();
    second.name = "net2".to_owned();
    second.local_ts = vec!["10.1.1.0/24".to_owned()];
    second.remote_ts = vec!["10.2.1.0/24".to_owned()];
    conn.children.push(second);
    let charon = Charon::start(&net.b, &[conn.mirrored()]);
    let ikev2d = Ikev2d::start(&net.a, &Ikev2dConfig::new(vec![conn]));
    let up = ikev2d.up("lab", Duration::from_secs(20));
    assert!(up.ok(), "up with two children: {up}");
    let st = ikev2d
        .wait_established("lab", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(is_established(&st), "{st}");
    let children = st["children"].as_array().cloned().unwrap_or_default();
    assert_eq!(children.len(), 2, "{st}");
    let sw = charon
        .wait_established("lab", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sw.children.len(), 2, "strongSwan: {sw:?}");
    for c in &children {
        let name = c["name"].as_str().unwrap_or_default();
        let theirs = sw
            .children
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("strongSwan has no child {name}: {sw:?}"));
        assert_eq!(
            c["spi_out"].as_str(),
            Some(theirs.spi_in.as_str()),
            "{name}"
        );
        assert_eq!(
            c["spi_in"].as_str(),
            Some(theirs.spi_out.as_str()),
            "{name}"
        );
    }
    assert!(ping_until(
        &net.a,
        INNER_A,
        INNER_B,
        Duration::from_secs(10)
    ));
    assert_eq!(ping(&net.a, INNER_A, INNER_B, 3), 3, "through net");
    let (a2, b2) = (
        "10.1.1.1".parse().expect("literal"),
        "10.2.1.1".parse().expect("literal"),
    );
    assert!(
        ping_until(&net.a, a2, b2, Duration::from_secs(10)),
        "through net2"
    );
    assert_eq!(ping(&net.a, a2, b2, 3), 3, "through net2");
    // Each child counted its own traffic.
    let (st, ok) = ikev2d.wait_counters("lab", &["packets_out"], 3, Duration::from_secs(5));
    assert!(ok, "{st}");
    let n2 = st["children"][1]["packets_out"].as_u64().unwrap_or(0);
    assert!(n2 >= 3, "net2 packets_out {n2}: {st}");
}
