//! Traffic selectors against strongSwan (RFC 7296 §2.9): strongSwan narrows a wider
//! proposal to its configuration and ikev2d routes only what was agreed; selectors
//! with nothing in common fail with TS_UNACCEPTABLE, and ikev2d says so.

use std::time::Duration;

use interop_tests::prereq::{ikev2d_binary, require_root, require_strongswan, require_tun};
use interop_tests::strongswan::wait_agreed;
use interop_tests::topology::{INNER_A, INNER_B};
use interop_tests::{Charon, ConnSpec, Ikev2d, Ikev2dConfig, Pair, TimeBound, ping, require};

#[test]
fn strongswan_narrows_ikev2d_selectors() {
    require!(
        require_root(),
        require_tun(),
        require_strongswan(),
        ikev2d_binary()
    );
    let _bound = TimeBound::new(
        "strongswan_narrows_ikev2d_selectors",
        Duration::from_secs(60),
    );
    let net = Pair::new();
    let theirs = ConnSpec::site_b();
    let mut ours = ConnSpec::site_a();
    ours.children[0].local_ts = vec!["10.1.0.0/16".to_owned()];
    ours.children[0].remote_ts = vec!["10.2.0.0/16".to_owned()];
    let charon = Charon::start(&net.b, &[theirs]);
    let ikev2d = Ikev2d::start(&net.a, &Ikev2dConfig::new(vec![ours]));
    let up = ikev2d.up("lab", Duration::from_secs(20));
    assert!(up.ok(), "up: {up}");
    wait_agreed(&ikev2d, &charon, "lab", Duration::from_secs(10)).unwrap_or_else(|e| panic!("{e}"));
    let st = ikev2d.conn_status("lab").expect("status");
    let child = &st["children"][0];
    assert_eq!(
        child["local_ts"],
        serde_json::json!(["10.1.0.0/24"]),
        "not narrowed: {st}"
    );
    assert_eq!(
        child["remote_ts"],
        serde_json::json!(["10.2.0.0/24"]),
        "not narrowed: {st}"
    );
    assert_eq!(ping(&net.a, INNER_A, INNER_B, 3), 3);
    // Only the agreed /24 is routed into the tunnel, not the configured /16.
    let routes = net
        .a
        .run_ok(&["ip", "route", "show", "table", "all"])
        .stdout;
    assert!(
        routes.contains("10.2.0.0/24") && !routes.contains("10.2.0.0/16"),
        "routes do not follow the narrowed selectors:\n{routes}"
    );
}

#[test]
fn disjoint_selectors_fail_with_ts_unacceptable() {
    require!(
        require_root(),
        require_tun(),
        require_strongswan(),
        ikev2d_binary()
    );
    let _bound = TimeBound::new(
        "disjoint_selectors_fail_with_ts_unacceptable",
        Duration::from_secs(60),
    );
    let net = Pair::new();
    let theirs = ConnSpec::site_b();
    let mut ours = ConnSpec::site_a();
    ours.children[0].remote_ts = vec!["10.3.0.0/24".to_owned()];
    let _charon = Charon::start(&net.b, &[theirs]);
    let ikev2d = Ikev2d::start(&net.a, &Ikev2dConfig::new(vec![ours]));
    let up = ikev2d.up("lab", Duration::from_secs(20));
    assert!(!up.ok(), "up succeeded with disjoint selectors: {up}");
    let st = ikev2d.conn_status("lab").expect("status");
    let err = &st["last_error"];
    let reason = err["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("TS_UNACCEPTABLE"),
        "last_error: {err}\nup said: {up}"
    );
    assert!(
        reason.contains("10.3.0.0/24"),
        "the reason should name the selectors we proposed: {err}"
    );
    eprintln!("up said: {}\nlast_error: {err}", up.stderr.trim());
}
