//! The harness itself, with strongSwan on both sides (no ikev2d needed): namespaces,
//! veth, charon with kernel-libipsec, swanctl, `--list-sas` parsing, ping, cleanup.

use std::time::Duration;

use interop_tests::prereq::{require_root, require_strongswan, require_tun};
use interop_tests::topology::{INNER_A, INNER_B};
use interop_tests::{Charon, ConnSpec, Netns, Pair, TimeBound, ping, ping_until, require};

#[test]
fn netns_is_removed_on_drop() {
    require!(require_root(), require_tun());
    let _bound = TimeBound::new("netns_is_removed_on_drop", Duration::from_secs(30));
    let ns = Netns::new("t");
    let name = ns.name().to_owned();
    let sleeper = ns.spawn(
        "sleep",
        &["sleep", "600"],
        &std::env::temp_dir().join(format!("{name}.log")),
    );
    // `ip netns exec` enters the namespace a moment after the spawn.
    let inside =
        interop_tests::cmd::wait_for(Duration::from_secs(5), Duration::from_millis(20), || {
            ns.pids().contains(&sleeper.pid()).then_some(())
        });
    assert!(inside.is_some(), "pid {} not in {name}", sleeper.pid());
    drop(sleeper);
    drop(ns);
    let list = interop_tests::cmd::run_args("ip", &["netns", "list"], Duration::from_secs(5));
    assert!(
        !list.stdout.contains(&name),
        "{name} still listed: {}",
        list.stdout
    );
    let _ = std::fs::remove_file(std::env::temp_dir().join(format!("{name}.log")));
}

#[test]
fn strongswan_pair_ping() {
    require!(require_root(), require_tun(), require_strongswan());
    let _bound = TimeBound::new("strongswan_pair_ping", Duration::from_secs(90));
    let net = Pair::new();
    let b = Charon::start(&net.b, &[ConnSpec::site_b()]);
    let a = Charon::start(&net.a, &[ConnSpec::site_a()]);
    let o = a.initiate("net");
    assert!(o.ok(), "initiate: {o}\n{}", a.logs_tail(40));
    let sa = a
        .wait_established("lab", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));
    let sb = b
        .wait_established("lab", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((&sa.spi_i, &sa.spi_r), (&sb.spi_i, &sb.spi_r));
    assert_eq!(sa.children[0].spi_out, sb.children[0].spi_in);
    assert_eq!(sa.children[0].mode, "TUNNEL-in-UDP");
    assert!(ping_until(
        &net.a,
        INNER_A,
        INNER_B,
        Duration::from_secs(10)
    ));
    assert_eq!(ping(&net.a, INNER_A, INNER_B, 3), 3);
    let sb = &b.list_sas()[0];
    assert!(sb.children[0].packets_in >= 3, "{sb:?}");
    assert!(sb.children[0].bytes_out > 0, "{sb:?}");
}
