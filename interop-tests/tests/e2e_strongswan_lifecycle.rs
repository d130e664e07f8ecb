//! Taking tunnels down and up against strongSwan: `ikev2d down` deletes the SAs at
//! strongSwan and removes the route; `up` builds them again; when strongSwan
//! terminates the tunnel, `close_action = "start"` makes ikev2d build it again.

use std::time::Duration;

use interop_tests::cmd::wait_for;
use interop_tests::ikev2d::is_established;
use interop_tests::prereq::{ikev2d_binary, require_root, require_strongswan, require_tun};
use interop_tests::strongswan::wait_agreed;
use interop_tests::topology::{INNER_A, INNER_B};
use interop_tests::{
    Charon, ConnSpec, Ikev2d, Ikev2dConfig, Pair, TimeBound, ping, ping_until, require,
};

#[test]
fn down_and_up_again_with_strongswan() {
    require!(
        require_root(),
        require_tun(),
        require_strongswan(),
        ikev2d_binary()
    );
    let _bound = TimeBound::new("down_and_up_again_with_strongswan", Duration::from_secs(90));
    let net = Pair::new();
    let conn = ConnSpec::site_a();
    let charon = Charon::start(&net.b, &[conn.mirrored()]);
    let ikev2d = Ikev2d::start(&net.a, &Ikev2dConfig::new(vec![conn]));
    for round in 1..=2 {
        let up = ikev2d.up("lab", Duration::from_secs(20));
        assert!(up.ok(), "round {round}: up: {up}");
        wait_agreed(&ikev2d, &charon, "lab", Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert!(ping_until(
            &net.a,
            INNER_A,
            INNER_B,
            Duration::from_secs(10)
        ));
        let down = ikev2d.down("lab");
        assert!(down.ok(), "round {round}: down: {down}");
        let gone = wait_for(Duration::from_secs(10), Duration::from_millis(250), || {
            charon.list_sas().is_empty().then_some(())
        });
        assert!(
            gone.is_some(),
            "round {round}: strongSwan still lists SAs after `down`:\n{}",
            charon.list_sas_text()
        );
        let st = ikev2d.conn_status("lab").expect("status");
        assert_eq!(st["state"], "DOWN", "round {round}: {st}");
        let routes = net
            .a
            .run_ok(&["ip", "route", "show", "table", "all"])
            .stdout;
        assert!(
            !routes.contains("10.2.0.0/24"),
            "round {round}: route left after `down`:\n{routes}"
        );
        assert_eq!(
            ping(&net.a, INNER_A, INNER_B, 1),
            0,
            "round {round}: traffic after `down`"
        );
    }
}

#[test]
fn close_action_start_after_strongswan_terminates() {
    require!(
        require_root(),
        require_tun(),
        require_strongswan(),
        ikev2d_binary()
    );
    let _bound = TimeBound::new(
        "close_action_start_after_strongswan_terminates",
        Duration::from_secs(90),
    );
    let net = Pair::new();
    let mut conn = ConnSpec::site_a();
    conn.children[0].close_action = Some("start".to_owned());
    let mut theirs = conn.mirrored();
    theirs.children[0].close_action = None;
    let charon = Charon::start(&net.b, &[theirs]);
    let ikev2d = Ikev2d::start(&net.a, &Ikev2dConfig::new(vec![conn]));
    let up = ikev2d.up("lab", Duration::from_secs(20));
    assert!(up.ok(), "up: {up}");
    let first = ikev2d
        .wait_established("lab", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));
    let t = charon.swanctl(&["--terminate", "--ike", "lab", "--timeout", "10"]);
    assert!(t.ok(), "swanctl --terminate: {t}");
    let again = wait_for(Duration::from_secs(20), Duration::from_millis(250), || {
        ikev2d
            .conn_status("lab")
            .filter(|c| is_established(c) && c["ike_sa"]["spi_i"] != first["ike_sa"]["spi_i"])
    });
    assert!(
        again.is_some(),
        "ikev2d did not build the tunnel again after strongSwan closed it: {:?}\n{}",
        ikev2d.conn_status("lab"),
        ikev2d.log_tail(30)
    );
    wait_agreed(&ikev2d, &charon, "lab", Duration::from_secs(10)).unwrap_or_else(|e| panic!("{e}"));
    assert!(ping_until(
        &net.a,
        INNER_A,
        INNER_B,
        Duration::from_secs(10)
    ));
}
