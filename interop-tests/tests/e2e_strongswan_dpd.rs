//! Dead peer detection against strongSwan: liveness checks in both directions keep
//! an idle tunnel up; when strongSwan dies without a word (SIGKILL) and comes back
//! with no state, ikev2d notices (dpd_delay + retransmissions) and, with
//! `dpd_action = "restart"`, builds a new tunnel to the restarted peer.

use std::time::Duration;

use interop_tests::cmd::wait_for;
use interop_tests::ikev2d::is_established;
use interop_tests::prereq::{ikev2d_binary, require_root, require_strongswan, require_tun};
use interop_tests::topology::{INNER_A, INNER_B};
use interop_tests::{
    Charon, ConnSpec, Ikev2d, Ikev2dConfig, Pair, TimeBound, ping, ping_until, require,
};

#[test]
fn dpd_restart_after_strongswan_dies() {
    require!(
        require_root(),
        require_tun(),
        require_strongswan(),
        ikev2d_binary()
    );
    let _bound = TimeBound::new(
        "dpd_restart_after_strongswan_dies",
        Duration::from_secs(120),
    );
    let net = Pair::new();
    let mut conn = ConnSpec::site_a();
    conn.dpd_delay = Some("2s".to_owned());
    conn.children[0].dpd_action = Some("restart".to_owned());
    let mut charon = Charon::start(&net.b, &[conn.mirrored()]);
    let mut cfg = Ikev2dConfig::new(vec![conn.clone()]);
    cfg.retransmit_timeout = Some("1s".to_owned());
    cfg.retransmit_tries = Some(2);
    let ikev2d = Ikev2d::start(&net.a, &cfg);
    let up = ikev2d.up("lab", Duration::from_secs(20));
    assert!(up.ok(), "up: {up}");
    let first = ikev2d
        .wait_established("lab", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));

    // Idle for three DPD intervals of both sides: still up, on both.
    std::thread::sleep(Duration::from_secs(7));
    let st = ikev2d.conn_status("lab").expect("status");
    assert!(
        is_established(&st),
        "idle tunnel went down with DPD on both sides: {st}"
    );
    assert_eq!(st["ike_sa"]["spi_i"], first["ike_sa"]["spi_i"], "{st}");
    charon
        .wait_established("lab", Duration::from_secs(1))
        .unwrap_or_else(|e| panic!("{e}"));
    let log = charon.log();
    // strongSwan checked ikev2d, and ikev2d checked strongSwan (empty INFORMATIONAL).
    assert!(
        log.contains("sending DPD request") && log.contains("parsed INFORMATIONAL request"),
        "no liveness checks both ways in strongSwan's log:\n{}",
        charon.logs_tail(40)
    );

    // strongSwan crashes and restarts without state.
    charon.kill();
    drop(charon);
    let charon = Charon::start(&net.b, &[conn.mirrored()]);
    // ikev2d: DPD request unanswered (the new charon knows no such SA) -> dead peer ->
    // restart -> a new IKE SA with the new charon.
    let again = wait_for(Duration::from_secs(60), Duration::from_millis(500), || {
        ikev2d
            .conn_status("lab")
            .filter(|c| is_established(c) && c["ike_sa"]["spi_i"] != first["ike_sa"]["spi_i"])
    });
    assert!(
        again.is_some(),
        "ikev2d did not re-establish after the peer restarted: {:?}\n{}\n{}",
        ikev2d.conn_status("lab"),
        ikev2d.log_tail(40),
        charon.logs_tail(40)
    );
    charon
        .wait_established("lab", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(ping_until(
        &net.a,
        INNER_A,
        INNER_B,
        Duration::from_secs(10)
    ));
    assert_eq!(ping(&net.a, INNER_A, INNER_B, 3), 3);
}
