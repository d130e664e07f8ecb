//! ESN between two ikev2d (strongSwan's kernel-libipsec has none, so here only
//! ikev2d against itself), and establishment under 30 % random loss of IKE datagrams
//! in both directions, against strongSwan and against ikev2d. The initiator's first
//! IKE_SA_INIT request is always dropped besides, and the tests check from the
//! iptables counters and ikev2d's `ike_retransmitted_requests` that the loss bit.

use std::time::Duration;

use interop_tests::firewall::DropRule;
use interop_tests::ikev2d::is_established;
use interop_tests::prereq::{
    ikev2d_binary, require_iptables, require_root, require_strongswan, require_tun,
};
use interop_tests::topology::{INNER_A, INNER_B, VETH};
use interop_tests::{
    Charon, ConnSpec, Ikev2d, Ikev2dConfig, Netns, Pair, TimeBound, ping, ping_until, require,
};

#[test]
fn esn_between_two_ikev2d_survives_a_rekey() {
    require!(require_root(), require_tun(), ikev2d_binary());
    let _bound = TimeBound::new("esn_between_two_ikev2d", Duration::from_secs(90));
    let net = Pair::new();
    let conn = ConnSpec::site_a().with_proposals("aes256-sha256-modp2048", "aes256gcm16-esn");
    let mut b = Ikev2d::start(&net.b, &Ikev2dConfig::new(vec![conn.mirrored()]));
    let mut a = Ikev2d::start(&net.a, &Ikev2dConfig::new(vec![conn]));
    let up = a.up("lab", Duration::from_secs(20));
    assert!(up.ok(), "up: {up}\n{}", a.log_tail(30));
    for d in [&a, &b] {
        let c = d.conn_status("lab").expect("lab");
        let p = c["children"][0]["proposal"].as_str().unwrap_or_default();
        assert!(p.ends_with("-esn"), "ESN not negotiated: {c}");
    }
    assert_eq!(ping(&net.a, INNER_A, INNER_B, 3), 3);
    let r = a.rekey_child("lab", "net");
    assert!(r.ok(), "rekey: {r}");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        ping(&net.a, INNER_A, INNER_B, 3),
        3,
        "lost pings after an ESN rekey"
    );
    a.stop_clean();
    b.stop_clean();
}

/// The certain part of the loss: the first IKE datagram leaving `ns` on UDP 500 (the
/// initiator's first IKE_SA_INIT request) is dropped, so the initiator retransmits at
/// least once whatever the random rules do (with 30 % random loss alone, a single
/// establishment of 4 datagrams loses none in 0.7^4, about a quarter of the runs).
fn first_init_lost(ns: &Netns) -> DropRule {
    DropRule::first(ns, &["-o", VETH, "-p", "udp", "--dport", "500"])
}

/// Packets the rules dropped, summed.
fn dropped(rules: &[DropRule]) -> u64 {
    rules.iter().map(DropRule::dropped).sum()
}

/// Random loss of IKE datagrams (UDP 500 and 4500) leaving `ns`.
fn ike_loss(ns: &Netns, percent: u32) -> Vec<DropRule> {
    let p = format!("0.{percent:02}");
    ["500", "4500"]
        .iter()
        .map(|port| {
            DropRule::output(
                ns,
                &[
                    "-o",
                    VETH,
                    "-p",
                    "udp",
                    "--dport",
                    port,
                    "-m",
                    "statistic",
                    "--mode",
                    "random",
                    "--probability",
                    &p,
                ],
            )
        })
        .collect()
}

/// Starts an initiator and sets the tunnel up `ROUNDS` times under the loss (a fresh
/// ikev2d each round: its INITIAL_CONTACT replaces the peer's old SA, and no round
/// waits for a Delete whose answer was lost). Every round must establish, and the
/// initiators must have retransmitted (else the loss never bit); returns how many
/// requests they retransmitted.
fn rounds_under_loss(ns: &Netns, config: &Ikev2dConfig, peer_log: &dyn Fn() -> String) -> u64 {
    let mut retrans = 0;
    for round in 0..ROUNDS {
        let mut a = Ikev2d::start(ns, config);
        let up = a.up("lab", Duration::from_secs(60));
        assert!(
            up.ok(),
            "round {round}: not established under 30 % loss: {up}\n{}\n{}",
            a.log_tail(40),
            peer_log()
        );
        let st = a.status_json();
        retrans += st["counters"]["ike_retransmitted_requests"]
            .as_u64()
            .unwrap_or(0);
        a.stop_clean();
    }
    assert!(
        retrans > 0,
        "no retransmission in {ROUNDS} rounds: the loss rules did not drop anything?"
    );
    retrans
}

/// Establishments under loss per test (the first IKE_SA_INIT request is always lost,
/// [`first_init_lost`]; the random loss then hits the other rounds).
const ROUNDS: usize = 5;

/// An initiator config that keeps trying: a constant 1 s wait, 15 retransmissions
/// (an exchange then fails with probability 0.51^16, about 2e-5, under 30 % loss
/// each way).
fn patient(conn: ConnSpec) -> Ikev2dConfig {
    let mut c = Ikev2dConfig::new(vec![conn]);
    c.retransmit_timeout = Some("1s".to_owned());
    c.retransmit_tries = Some(15);
    c.retransmit_base = Some(1.0);
    c
}

#[test]
fn establishes_under_30_percent_ike_loss_against_ikev2d() {
    require!(
        require_root(),
        require_tun(),
        require_iptables(),
        ikev2d_binary()
    );
    let _bound = TimeBound::new("ike_loss_ikev2d", Duration::from_secs(300));
    let net = Pair::new();
    let conn = ConnSpec::site_a();
    let mut b = Ikev2d::start(&net.b, &Ikev2dConfig::new(vec![conn.mirrored()]));
    let mut a = Ikev2d::start(&net.a, &patient(conn));
    let certain = first_init_lost(&net.a);
    let loss = [ike_loss(&net.a, 30), ike_loss(&net.b, 30)];
    let up = a.up("lab", Duration::from_secs(120));
    assert!(
        up.ok(),
        "not established under 30 % loss: {up}\n{}",
        a.log_tail(40)
    );
    let random = [dropped(&loss[0]), dropped(&loss[1])];
    drop(loss);
    let certain = certain.remove();
    let retrans = a.status_json()["counters"]["ike_retransmitted_requests"]
        .as_u64()
        .unwrap_or(0);
    eprintln!(
        "dropped: the first IKE_SA_INIT {certain}, randomly A -> B {}, B -> A {}; \
         A retransmitted {retrans} request(s)",
        random[0], random[1]
    );
    // The first IKE_SA_INIT request was dropped, so the tunnel came up only because
    // the initiator retransmitted.
    assert_eq!(certain, 1, "the first IKE_SA_INIT request was not dropped");
    assert!(
        retrans >= 1,
        "established without a retransmission although a request was dropped\n{}",
        a.log_tail(40)
    );
    let st = b
        .wait_established("lab", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("responder: {e}"));
    assert!(is_established(&st));
    assert!(ping_until(
        &net.a,
        INNER_A,
        INNER_B,
        Duration::from_secs(10)
    ));
    a.stop_clean();
    b.stop_clean();
}

#[test]
fn establishes_under_30_percent_ike_loss_against_strongswan() {
    require!(
        require_root(),
        require_tun(),
        require_iptables(),
        require_strongswan(),
        ikev2d_binary()
    );
    let _bound = TimeBound::new("ike_loss_strongswan", Duration::from_secs(300));
    let net = Pair::new();
    let conn = ConnSpec::site_a();
    let charon = Charon::start(&net.b, &[conn.mirrored()]);
    let certain = first_init_lost(&net.a);
    let loss = [ike_loss(&net.a, 30), ike_loss(&net.b, 30)];
    let retrans = rounds_under_loss(&net.a, &patient(conn.clone()), &|| charon.logs_tail(40));
    let random = [dropped(&loss[0]), dropped(&loss[1])];
    drop(loss);
    let certain = certain.remove();
    eprintln!(
        "dropped: the first IKE_SA_INIT {certain}, randomly A -> B {}, B -> A {}; \
         the initiators retransmitted {retrans} request(s)",
        random[0], random[1]
    );
    assert_eq!(certain, 1, "the first IKE_SA_INIT request was not dropped");
    let mut a = Ikev2d::start(&net.a, &patient(conn));
    assert!(a.up("lab", Duration::from_secs(20)).ok());
    charon
        .wait_established("lab", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("strongSwan: {e}"));
    assert!(ping_until(
        &net.a,
        INNER_A,
        INNER_B,
        Duration::from_secs(10)
    ));
    a.stop_clean();
}

/// Nobody answers on 192.0.2.2 (the peer's namespace runs no daemon): `up` fails, and
/// `status --json` names the phase and the likely cause.
#[test]
fn unreachable_peer_is_reported_as_such() {
    require!(require_root(), require_tun(), ikev2d_binary());
    let _bound = TimeBound::new("unreachable_peer", Duration::from_secs(60));
    let net = Pair::new();
    let mut c = Ikev2dConfig::new(vec![ConnSpec::site_a()]);
    c.retransmit_timeout = Some("1s".to_owned());
    c.retransmit_tries = Some(2);
    c.retransmit_base = Some(1.0);
    let mut a = Ikev2d::start(&net.a, &c);
    let up = a.up("lab", Duration::from_secs(20));
    assert!(!up.ok(), "up succeeded without a peer: {up}");
    let st = a.conn_status("lab").expect("lab");
    assert_eq!(st["state"], "DOWN", "{st}");
    let e = &st["last_error"];
    assert_eq!(e["phase"], "IKE_SA_INIT", "{st}");
    let reason = e["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("no response") && reason.contains("UDP 500/4500"),
        "{reason}"
    );
    a.stop_clean();
}
