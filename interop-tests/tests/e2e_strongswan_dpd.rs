//! Dead peer detection against strongSwan: liveness checks in either direction keep
//! an idle tunnel up; when strongSwan dies without a word (SIGKILL) and comes back
//! with no state, ikev2d notices (dpd_delay + retransmissions) and, with
//! `dpd_action = "restart"`, builds a new tunnel to the restarted peer.
//!
//! Only one side has `dpd_delay` in each test: a liveness request also counts as
//! traffic from the peer, so with both on only the quicker side would ever send one.

use std::time::Duration;

use interop_tests::cmd::wait_for;
use interop_tests::ikev2d::{LoggedIkeSa, is_established};
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
    let mut theirs = conn.mirrored();
    theirs.dpd_delay = None;
    let mut charon = Charon::start(&net.b, &[theirs.clone()]);
    let mut cfg = Ikev2dConfig::new(vec![conn.clone()]);
    cfg.retransmit_timeout = Some("1s".to_owned());
    cfg.retransmit_tries = Some(2);
    let ikev2d = Ikev2d::start(&net.a, &cfg);
    let up = ikev2d.up("lab", Duration::from_secs(20));
    assert!(up.ok(), "up: {up}");
    let first = ikev2d
        .wait_established("lab", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));

    // Idle for more than two DPD intervals: still up, on both.
    std::thread::sleep(Duration::from_secs(5));
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
    // ikev2d checked strongSwan (empty INFORMATIONAL requests).
    assert!(
        log.matches("parsed INFORMATIONAL request").count() >= 2,
        "no liveness checks from ikev2d in strongSwan's log:\n{}",
        charon.logs_tail(40)
    );

    // strongSwan crashes: ikev2d declares it dead within dpd_delay + dpd_timeout
    // (default 5 x dpd_delay = 10 s), then restarts without state.
    charon.kill();
    drop(charon);
    let killed = std::time::Instant::now();
    let left = wait_for(Duration::from_secs(30), Duration::from_millis(200), || {
        ikev2d
            .conn_status("lab")
            .filter(|c| c["ike_sa"]["spi_i"] != first["ike_sa"]["spi_i"])
            .map(|_| killed.elapsed())
    });
    let left = left.unwrap_or_else(|| {
        panic!(
            "the dead peer's IKE SA was still there 30 s after SIGKILL\n{}",
            ikev2d.log_tail(30)
        )
    });
    assert!(
        left <= Duration::from_secs(2 + 10 + 2),
        "dead peer noticed after {left:?}, bound dpd_delay 2 s + dpd_timeout 10 s"
    );
    assert!(
        ikev2d.log().contains("INFORMATIONAL with 192.0.2.2"),
        "{}",
        ikev2d.log_tail(30)
    );
    let charon = Charon::start(&net.b, &[theirs]);
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
    // The dead SA is gone: one IKE SA on each side.
    let sas = ikev2d.logged_ike_sas("lab");
    let live = sas.iter().filter(|s| s.down.is_none()).count();
    assert_eq!(
        live, 1,
        "ikev2d's IKE SAs of lab after the restart: {sas:?}"
    );
    let theirs = charon.list_sas();
    assert_eq!(theirs.len(), 1, "strongSwan's IKE SAs: {theirs:?}");
}

#[test]
fn strongswan_dpd_is_answered() {
    require!(
        require_root(),
        require_tun(),
        require_strongswan(),
        ikev2d_binary()
    );
    let _bound = TimeBound::new("strongswan_dpd_is_answered", Duration::from_secs(60));
    let net = Pair::new();
    let conn = ConnSpec::site_a();
    let mut theirs = conn.mirrored();
    theirs.dpd_delay = Some("1s".to_owned());
    let charon = Charon::start(&net.b, &[theirs]);
    let ikev2d = Ikev2d::start(&net.a, &Ikev2dConfig::new(vec![conn]));
    let up = ikev2d.up("lab", Duration::from_secs(20));
    assert!(up.ok(), "up: {up}");
    std::thread::sleep(Duration::from_secs(4));
    let log = charon.log();
    assert!(
        log.matches("parsed INFORMATIONAL response").count() >= 2,
        "strongSwan's DPD requests were not answered:\n{}",
        charon.logs_tail(40)
    );
    charon
        .wait_established("lab", Duration::from_secs(1))
        .unwrap_or_else(|e| panic!("{e}"));
    let st = ikev2d.conn_status("lab").expect("status");
    assert!(is_established(&st), "{st}");
    assert!(ping_until(&net.a, INNER_A, INNER_B, Duration::from_secs(5)));
}

/// strongSwan (the initiator) crashes and, restarted, connects again: its IKE_AUTH
/// carries INITIAL_CONTACT (RFC 7296 §2.4), so ikev2d must drop the stale SAs of that
/// peer at once and send B -> A traffic through the new CHILD SA. Afterwards each side
/// has exactly one IKE SA, the new one, and ikev2d's log says the old one ended
/// because of the INITIAL_CONTACT.
#[test]
fn strongswan_restart_with_initial_contact() {
    require!(
        require_root(),
        require_tun(),
        require_strongswan(),
        ikev2d_binary()
    );
    let _bound = TimeBound::new(
        "strongswan_restart_with_initial_contact",
        Duration::from_secs(90),
    );
    let net = Pair::new();
    let conn = ConnSpec::site_a();
    let ikev2d = Ikev2d::start(&net.b, &Ikev2dConfig::new(vec![conn.mirrored()]));
    let mut charon = Charon::start(&net.a, std::slice::from_ref(&conn));
    let o = charon.initiate("net");
    assert!(o.ok(), "initiate: {o}");
    let first = ikev2d
        .wait_established("lab", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(ping_until(
        &net.b,
        INNER_B,
        INNER_A,
        Duration::from_secs(10)
    ));

    charon.kill();
    drop(charon);
    let charon = Charon::start(&net.a, &[conn]);
    let o = charon.initiate("net");
    assert!(o.ok(), "initiate after the restart: {o}");
    interop_tests::strongswan::wait_agreed(&ikev2d, &charon, "lab", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));
    let st = ikev2d.conn_status("lab").expect("status");
    assert_ne!(st["ike_sa"]["spi_i"], first["ike_sa"]["spi_i"], "{st}");
    // B -> A goes out through ikev2d's new outbound SA, not the stale one.
    assert!(
        ping_until(&net.b, INNER_B, INNER_A, Duration::from_secs(5)),
        "B -> A after the peer restart\n{}",
        ikev2d.log_tail(30)
    );
    assert_eq!(ping(&net.b, INNER_B, INNER_A, 3), 3);

    // Exactly one IKE SA on each side, the new one: ikev2d ended the stale SA because
    // of the INITIAL_CONTACT (its log says so), and strongSwan knows only the new one.
    let lines = || {
        ikev2d
            .log()
            .lines()
            .filter(|l| l.contains("lab: IKE SA") || l.contains("INITIAL_CONTACT"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let sas = ikev2d.logged_ike_sas("lab");
    let live: Vec<&LoggedIkeSa> = sas.iter().filter(|s| s.down.is_none()).collect();
    assert_eq!(
        live.len(),
        1,
        "ikev2d's live IKE SAs of lab: {sas:?}\n{}",
        lines()
    );
    let spis = |v: &serde_json::Value| {
        (
            v["ike_sa"]["spi_i"].as_str().unwrap_or_default().to_owned(),
            v["ike_sa"]["spi_r"].as_str().unwrap_or_default().to_owned(),
        )
    };
    let new = spis(&st);
    assert_eq!(
        (live[0].spi_i.clone(), live[0].spi_r.clone()),
        new,
        "ikev2d's live IKE SA is not the one its status shows\n{}",
        lines()
    );
    let old = spis(&first);
    let stale = sas
        .iter()
        .find(|s| (s.spi_i.clone(), s.spi_r.clone()) == old)
        .unwrap_or_else(|| {
            panic!(
                "the first IKE SA {old:?} is not in ikev2d's log\n{}",
                lines()
            )
        });
    assert!(
        stale
            .down
            .as_deref()
            .is_some_and(|r| r.contains("INITIAL_CONTACT")),
        "the stale IKE SA did not end because of the INITIAL_CONTACT: {stale:?}\n{}",
        lines()
    );
    let theirs = charon.list_sas();
    assert_eq!(theirs.len(), 1, "strongSwan's IKE SAs: {theirs:?}");
    assert_eq!(theirs[0].state, "ESTABLISHED", "{theirs:?}");
    assert_eq!(
        (theirs[0].spi_i.clone(), theirs[0].spi_r.clone()),
        new,
        "strongSwan's IKE SA is not ikev2d's new one"
    );
}
