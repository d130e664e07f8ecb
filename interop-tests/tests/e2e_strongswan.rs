//! ikev2d against strongSwan (charon 5.9 with kernel-libipsec: userspace ESP, always
//! UDP-encapsulated on port 4500, NAT detection faked, so ikev2d must float to 4500).
//! Both directions: ikev2d initiates to a strongSwan responder, and strongSwan
//! initiates to an ikev2d responder. Each checks both daemons' view of the SAs, that
//! pings pass, and the counters. Then rekeys from either side, rekey collisions
//! (simultaneous, and made certain by dropping ikev2d's request, which the iptables
//! counter must confirm), and failures that must name their phase. After every rekey
//! both sides must have new SPIs of the rekeyed kind (both IKE SPIs, or both ESP
//! SPIs) and keep those of the other.

use std::time::Duration;

use interop_tests::firewall::{CREATE_CHILD_SA, DropRule, FLAG_INITIATOR};
use interop_tests::ikev2d::child_counter;
use interop_tests::prereq::{
    ikev2d_binary, require_iptables, require_root, require_strongswan, require_tun,
};
use interop_tests::strongswan::{
    IkeSa, Rekey, TunnelSpis, wait_agreed, wait_agreed_on, wait_rekeyed,
};
use interop_tests::topology::{INNER_A, INNER_B, VETH};
use interop_tests::{
    Charon, ConnSpec, Ikev2d, Ikev2dConfig, Pair, TimeBound, ping, ping_until, require,
};
use serde_json::Value;

/// SPIs agree, pings pass both ways, counters on both sides.
fn check(net: &Pair, ours: &Value, ikev2d: &Ikev2d, charon: &Charon, sw: &IkeSa) {
    assert_eq!(
        ours["ike_sa"]["spi_i"].as_str(),
        Some(sw.spi_i.as_str()),
        "{ours}\n{sw:?}"
    );
    assert_eq!(
        ours["ike_sa"]["spi_r"].as_str(),
        Some(sw.spi_r.as_str()),
        "{ours}\n{sw:?}"
    );
    let ch = &sw.children[0];
    assert_eq!(
        ours["children"][0]["spi_out"].as_str(),
        Some(ch.spi_in.as_str()),
        "ikev2d: {ours}\nstrongSwan: {sw:?}"
    );
    assert_eq!(
        ours["children"][0]["spi_in"].as_str(),
        Some(ch.spi_out.as_str()),
        "ikev2d: {ours}\nstrongSwan: {sw:?}"
    );
    assert_eq!(ch.mode, "TUNNEL-in-UDP", "{sw:?}");
    assert!(
        ping_until(&net.a, INNER_A, INNER_B, Duration::from_secs(10)),
        "no ping reply through the tunnel within 10 s\n{}\n{}",
        ikev2d.log_tail(40),
        charon.logs_tail(40)
    );
    assert_eq!(ping(&net.a, INNER_A, INNER_B, 5), 5, "lost pings A -> B");
    assert_eq!(ping(&net.b, INNER_B, INNER_A, 3), 3, "lost pings B -> A");

    let sas = charon.list_sas();
    let sw = sas
        .iter()
        .find(|s| s.name == "lab")
        .expect("swanctl --list-sas shows lab");
    assert_eq!(sw.state, "ESTABLISHED", "{sas:?}");
    let ch = &sw.children[0];
    assert_eq!(ch.state, "INSTALLED", "{sas:?}");
    assert!(
        ch.packets_in >= 8 && ch.packets_out >= 8,
        "strongSwan counters: {ch:?}"
    );
    let fields = ["packets_in", "packets_out"];
    let (c, ok) = ikev2d.wait_counters("lab", &fields, 8, Duration::from_secs(5));
    assert!(ok, "ikev2d packet counters < 8 after 8+ pings: {c}");
    for f in ["bytes_in", "bytes_out"] {
        assert!(child_counter(&c, f) > 0, "ikev2d {f} is 0: {c}");
    }
    assert_eq!(c["state"], "ESTABLISHED", "{c}");

    // Quiet tunnel: what one side counts out, the other counts in, packets and octets
    // (`status` asks the data plane for current counters; nothing else flows).
    let ours = ikev2d.conn_status("lab").expect("status");
    let sw = charon.list_sas();
    let ch = &sw.iter().find(|s| s.name == "lab").expect("lab").children[0];
    let mine = |f: &str| child_counter(&ours, f);
    assert_eq!(
        (mine("packets_out"), mine("bytes_out")),
        (ch.packets_in, ch.bytes_in),
        "ikev2d out vs strongSwan in\nikev2d: {ours}\nstrongSwan: {ch:?}"
    );
    assert_eq!(
        (mine("packets_in"), mine("bytes_in")),
        (ch.packets_out, ch.bytes_out),
        "ikev2d in vs strongSwan out\nikev2d: {ours}\nstrongSwan: {ch:?}"
    );
}

/// The SPIs of the tunnel both sides agree on now.
fn agreed_spis(ikev2d: &Ikev2d, charon: &Charon) -> TunnelSpis {
    let (st, sw) = wait_agreed_on(ikev2d, charon, "lab", Duration::from_secs(15), &|_, _| true)
        .unwrap_or_else(|e| panic!("{e}"));
    TunnelSpis::of(&st, &sw)
}

#[test]
fn ikev2d_initiator_strongswan_responder() {
    require!(
        require_root(),
        require_tun(),
        require_strongswan(),
        ikev2d_binary()
    );
    let _bound = TimeBound::new(
        "ikev2d_initiator_strongswan_responder",
        Duration::from_secs(120),
    );
    let net = Pair::new();
    let charon = Charon::start(&net.b, &[ConnSpec::site_b()]);
    let mut ikev2d = Ikev2d::start(&net.a, &Ikev2dConfig::new(vec![ConnSpec::site_a()]));
    let up = ikev2d.up("lab", Duration::from_secs(30));
    assert!(
        up.ok(),
        "ikev2d up lab: {up}\n{}\n{}",
        ikev2d.log_tail(60),
        charon.logs_tail(60)
    );
    let ours = ikev2d
        .wait_established("lab", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));
    let sw = charon
        .wait_established("lab", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));
    check(&net, &ours, &ikev2d, &charon, &sw);
    // SIGTERM: ikev2d deletes the IKE SA, strongSwan drops it.
    ikev2d.stop_clean();
    let gone =
        interop_tests::cmd::wait_for(Duration::from_secs(10), Duration::from_millis(250), || {
            charon
                .list_sas()
                .iter()
                .all(|s| s.name != "lab")
                .then_some(())
        });
    assert!(
        gone.is_some(),
        "strongSwan still has the SA 10 s after ikev2d stopped: {}",
        charon.list_sas_text()
    );
}

#[test]
fn strongswan_initiator_ikev2d_responder() {
    require!(
        require_root(),
        require_tun(),
        require_strongswan(),
        ikev2d_binary()
    );
    let _bound = TimeBound::new(
        "strongswan_initiator_ikev2d_responder",
        Duration::from_secs(120),
    );
    let net = Pair::new();
    let conn = ConnSpec::site_a()
        .with_proposals("aes256gcm16-prfsha256-curve25519", "aes256gcm16-curve25519");
    let mut ikev2d = Ikev2d::start(&net.b, &Ikev2dConfig::new(vec![conn.mirrored()]));
    let charon = Charon::start(&net.a, &[conn]);
    let o = charon.initiate("net");
    assert!(
        o.ok(),
        "swanctl --initiate: {o}\n{}\n{}",
        charon.logs_tail(60),
        ikev2d.log_tail(60)
    );
    let sw = charon
        .wait_established("lab", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));
    let ours = ikev2d
        .wait_established("lab", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));
    check(&net, &ours, &ikev2d, &charon, &sw);
    let before = agreed_spis(&ikev2d, &charon);
    // strongSwan rekeys the child with PFS (CREATE_CHILD_SA with KE); traffic goes on.
    let r = charon.swanctl(&["--rekey", "--child", "net"]);
    assert!(r.ok(), "swanctl --rekey: {r}");
    wait_rekeyed(
        &ikev2d,
        &charon,
        &before,
        Rekey::Child,
        Duration::from_secs(15),
        "strongSwan's PFS child rekey",
    );
    assert!(
        ping_until(&net.a, INNER_A, INNER_B, Duration::from_secs(10)),
        "no ping after strongSwan's PFS child rekey\n{}\n{}",
        ikev2d.log_tail(60),
        charon.logs_tail(60)
    );
    assert_eq!(
        ping(&net.a, INNER_A, INNER_B, 3),
        3,
        "lost pings after the rekey"
    );
    ikev2d.stop_clean();
}

/// Rekeys in both directions under traffic: ikev2d rekeys the CHILD SA (with PFS) and
/// the IKE SA, then strongSwan does; after each, both sides agree on the SPIs and
/// pings pass.
#[test]
fn rekeys_both_ways_with_strongswan() {
    require!(
        require_root(),
        require_tun(),
        require_strongswan(),
        ikev2d_binary()
    );
    let _bound = TimeBound::new("rekeys_both_ways_with_strongswan", Duration::from_secs(150));
    let net = Pair::new();
    let conn = ConnSpec::site_a()
        .with_proposals("aes256gcm16-prfsha256-curve25519", "aes256gcm16-curve25519");
    let charon = Charon::start(&net.b, &[conn.mirrored()]);
    let mut ikev2d = Ikev2d::start(&net.a, &Ikev2dConfig::new(vec![conn]));
    let up = ikev2d.up("lab", Duration::from_secs(30));
    assert!(up.ok(), "ikev2d up lab: {up}");
    let pings = |what: &str| {
        assert!(
            ping_until(&net.a, INNER_A, INNER_B, Duration::from_secs(10)),
            "no ping reply after {what}"
        );
        assert_eq!(
            ping(&net.a, INNER_A, INNER_B, 3),
            3,
            "lost pings after {what}"
        );
    };
    let mut spis = agreed_spis(&ikev2d, &charon);
    pings("IKE_AUTH");
    let rekeys: [(&str, Rekey); 4] = [
        ("ikev2d's CHILD SA rekey", Rekey::Child),
        ("ikev2d's IKE SA rekey", Rekey::Ike),
        ("strongSwan's CHILD SA rekey", Rekey::Child),
        ("strongSwan's IKE SA rekey", Rekey::Ike),
    ];
    for (i, (what, kind)) in rekeys.into_iter().enumerate() {
        let r = match (i < 2, kind) {
            (true, Rekey::Child) => ikev2d.rekey_child("lab", "net"),
            (true, Rekey::Ike) => ikev2d.rekey_ike("lab"),
            (false, Rekey::Child) => charon.swanctl(&["--rekey", "--child", "net"]),
            (false, Rekey::Ike) => charon.swanctl(&["--rekey", "--ike", "lab"]),
        };
        assert!(r.ok(), "{what}: {r}");
        spis = wait_rekeyed(&ikev2d, &charon, &spis, kind, Duration::from_secs(15), what).0;
        pings(what);
    }
    ikev2d.stop_clean();
}

/// Failures say where and why: a wrong PSK fails `up` in IKE_AUTH, a proposal with
/// nothing in common fails it in IKE_SA_INIT; `last_error` in `status --json` says so.
#[test]
fn failures_are_reported_with_phase() {
    require!(
        require_root(),
        require_tun(),
        require_strongswan(),
        ikev2d_binary()
    );
    let _bound = TimeBound::new("failures_are_reported_with_phase", Duration::from_secs(120));
    let net = Pair::new();
    let mut good = ConnSpec::site_b();
    good.name = "psk".to_owned();
    let mut other = ConnSpec::site_b();
    other.name = "prop".to_owned();
    other.proposals = vec!["aes128-sha256-ecp256".to_owned()];
    // One strongSwan serves both: a different remote id selects the connection, so
    // give the second pair of ids its own address on A's veth.
    net.a.add_addr("veth0", "192.0.2.3/24");
    other.remote_addr = "192.0.2.3".parse().expect("address literal");
    other.remote_id = "192.0.2.3".to_owned();
    let charon = Charon::start(&net.b, &[good.clone(), other.clone()]);

    let mut wrong_psk = good.mirrored();
    wrong_psk.psk = "a-Different-Pre-Shared-Key-9#qWx2zT".to_owned();
    let mut wrong_prop = other.mirrored();
    wrong_prop.proposals = vec!["aes256-sha512-modp3072".to_owned()];
    let mut ikev2d = Ikev2d::start(&net.a, &Ikev2dConfig::new(vec![wrong_psk, wrong_prop]));

    for (conn, phase) in [("psk", "IKE_AUTH"), ("prop", "IKE_SA_INIT")] {
        let up = ikev2d.up(conn, Duration::from_secs(20));
        assert!(
            !up.ok(),
            "`up {conn}` succeeded against a misconfigured peer: {up}"
        );
        let c = ikev2d.conn_status(conn).expect("status of the connection");
        assert_ne!(c["state"], "ESTABLISHED", "{c}");
        let err = &c["last_error"];
        assert_eq!(
            err["phase"].as_str(),
            Some(phase),
            "{conn}: last_error {err}\n`up` said: {up}"
        );
        assert!(
            err["reason"].as_str().is_some_and(|r| !r.is_empty()),
            "{conn}: last_error without a reason: {err}"
        );
        eprintln!("{conn}: up said {:?}; last_error {err}", up.stderr.trim());
    }
    assert!(charon.list_sas().iter().all(|s| s.state != "ESTABLISHED"));
    ikev2d.stop_clean();
}

/// Both sides rekey the CHILD SA at the same moment, several times (RFC 7296 §2.8.1:
/// on a collision the rekey with the lowest nonce is redundant). Whatever the timing,
/// each round must end with one CHILD SA that both sides agree on and traffic
/// passing. How many rounds really collided is printed (strongSwan logs the
/// collisions it resolves).
#[test]
fn simultaneous_child_rekeys_with_strongswan() {
    require!(
        require_root(),
        require_tun(),
        require_strongswan(),
        ikev2d_binary()
    );
    let _bound = TimeBound::new(
        "simultaneous_child_rekeys_with_strongswan",
        Duration::from_secs(180),
    );
    let net = Pair::new();
    let conn = ConnSpec::site_a()
        .with_proposals("aes256gcm16-prfsha256-curve25519", "aes256gcm16-curve25519");
    let charon = Charon::start(&net.b, &[conn.mirrored()]);
    let mut ikev2d = Ikev2d::start(&net.a, &Ikev2dConfig::new(vec![conn]));
    let up = ikev2d.up("lab", Duration::from_secs(30));
    assert!(up.ok(), "ikev2d up lab: {up}");
    let mut spis = agreed_spis(&ikev2d, &charon);
    for round in 1..=8 {
        let (ours, theirs) = std::thread::scope(|s| {
            let a = s.spawn(|| ikev2d.rekey_child("lab", "net"));
            let b = s.spawn(|| charon.swanctl(&["--rekey", "--child", "net"]));
            (
                a.join().expect("ikev2d rekey thread"),
                b.join().expect("swanctl rekey thread"),
            )
        });
        assert!(ours.ok(), "round {round}: ikev2d rekey: {ours}");
        assert!(theirs.ok(), "round {round}: swanctl --rekey: {theirs}");
        // Whichever rekey won (or both, without a collision), the child is new.
        spis = wait_rekeyed(
            &ikev2d,
            &charon,
            &spis,
            Rekey::Child,
            Duration::from_secs(15),
            &format!("round {round}"),
        )
        .0;
        assert!(
            ping_until(&net.a, INNER_A, INNER_B, Duration::from_secs(10)),
            "round {round}: no traffic after simultaneous rekeys"
        );
    }
    let collisions = charon.log().matches("collision").count();
    eprintln!("simultaneous rekeys: strongSwan logged {collisions} line(s) about collisions");
    ikev2d.stop_clean();
}

/// A rekey collision made certain: ikev2d's CREATE_CHILD_SA request is dropped on
/// the way out (iptables; its counter must show the drop), strongSwan rekeys the same
/// SA while ikev2d waits, then ikev2d's retransmissions reach strongSwan after its
/// rekey replaced the SA. Both must end with one IKE SA and one CHILD SA they agree
/// on, with new SPIs of the rekeyed kind, and traffic must pass.
fn delayed_collision(test: &str, what: Rekey) {
    require!(
        require_root(),
        require_tun(),
        require_strongswan(),
        ikev2d_binary(),
        require_iptables()
    );
    let _bound = TimeBound::new(test, Duration::from_secs(120));
    let net = Pair::new();
    let conn = ConnSpec::site_a()
        .with_proposals("aes256gcm16-prfsha256-curve25519", "aes256gcm16-curve25519");
    let charon = Charon::start(&net.b, &[conn.mirrored()]);
    let mut cfg = Ikev2dConfig::new(vec![conn]);
    cfg.retransmit_timeout = Some("1s".to_owned());
    if let Rekey::Ike = what {
        cfg.retransmit_tries = Some(2);
    }
    let mut ikev2d = Ikev2d::start(&net.a, &cfg);
    let up = ikev2d.up("lab", Duration::from_secs(30));
    assert!(up.ok(), "ikev2d up lab: {up}");
    assert!(ping_until(
        &net.a,
        INNER_A,
        INNER_B,
        Duration::from_secs(10)
    ));
    let before = agreed_spis(&ikev2d, &charon);

    let drop = DropRule::ike_4500(&net.a, VETH, CREATE_CHILD_SA, FLAG_INITIATOR);
    let (ours, theirs) = std::thread::scope(|s| {
        let a = s.spawn(|| match what {
            Rekey::Child => ikev2d.rekey_child("lab", "net"),
            Rekey::Ike => ikev2d.rekey_ike("lab"),
        });
        std::thread::sleep(Duration::from_millis(300));
        let theirs = match what {
            Rekey::Child => charon.swanctl(&["--rekey", "--child", "net"]),
            Rekey::Ike => charon.swanctl(&["--rekey", "--ike", "lab"]),
        };
        (a.join().expect("ikev2d rekey thread"), theirs)
    });
    // The collision is only certain if the rule did drop ikev2d's request.
    let dropped = drop.remove();
    assert!(
        dropped >= 1,
        "{test}: the rule dropped no CREATE_CHILD_SA request of ikev2d, so nothing \
         collided\n{}",
        exchanges(&ikev2d, &charon)
    );
    assert!(ours.ok(), "{test}: ikev2d rekey: {ours}");
    assert!(theirs.ok(), "{test}: swanctl --rekey: {theirs}");
    // CHILD: ikev2d's retransmission (after 1 s) is answered by strongSwan, whose
    // rekey replaced that child. IKE: ikev2d's retransmissions on the old SA
    // (1 s + 1.8 s + 3.2 s) run out after strongSwan deleted it.
    std::thread::sleep(Duration::from_secs(match what {
        Rekey::Child => 4,
        Rekey::Ike => 8,
    }));
    if let Err(e) = wait_agreed(&ikev2d, &charon, "lab", Duration::from_secs(15)) {
        panic!("{test}: {e}\n{}", exchanges(&ikev2d, &charon));
    }
    // strongSwan's rekey (or ikev2d's, if it won) replaced the SA.
    wait_rekeyed(
        &ikev2d,
        &charon,
        &before,
        what,
        Duration::from_secs(15),
        test,
    );
    assert!(
        ping_until(&net.a, INNER_A, INNER_B, Duration::from_secs(10)),
        "{test}: no traffic after the collision"
    );
    assert_eq!(ping(&net.a, INNER_A, INNER_B, 3), 3);
    eprintln!("{}", exchanges(&ikev2d, &charon));
    ikev2d.stop_clean();
}

/// strongSwan's `test_collision_delayed_request` case for a CHILD SA: strongSwan
/// answers ikev2d's late request with NO_CHILD_SA.
#[test]
fn delayed_rekey_collision_with_strongswan() {
    delayed_collision("delayed_rekey_collision_with_strongswan", Rekey::Child);
}

/// The same for the IKE SA: strongSwan rekeys and deletes the old IKE SA while
/// ikev2d's request is lost.
#[test]
fn delayed_ike_rekey_collision_with_strongswan() {
    delayed_collision("delayed_ike_rekey_collision_with_strongswan", Rekey::Ike);
}

/// The exchanges and rekey lines of both logs, for failure messages.
fn exchanges(ikev2d: &Ikev2d, charon: &Charon) -> String {
    let pick = |log: String| {
        log.lines()
            .filter(|l| !l.contains("[CFG]"))
            .filter(|l| {
                [
                    "CREATE_CHILD_SA",
                    "INFORMATIONAL",
                    "rekey",
                    "collision",
                    "IKE SA",
                ]
                .iter()
                .any(|k| l.contains(k))
            })
            .map(str::to_owned)
            .collect::<Vec<_>>()
            .join("\n")
    };
    format!(
        "--- ikev2d\n{}\n--- strongSwan\n{}",
        pick(ikev2d.log()),
        pick(charon.log())
    )
}
