//! Rekeys under traffic against strongSwan (make-before-break, RFC 7296 §2.8): a
//! 100-packet-per-second ping runs while ikev2d rekeys the CHILD SA, strongSwan
//! rekeys it, ikev2d rekeys the IKE SA and strongSwan does. At most
//! [`LOST_ALLOWED`] echo of 500 may be lost, and afterwards both sides agree on a
//! tunnel whose IKE and ESP SPIs are all new. The test runs alone
//! ([`TimeBound::alone`]): its verdict depends on timing.

use std::time::Duration;

use serde_json::Value;

use interop_tests::prereq::{ikev2d_binary, require_root, require_strongswan, require_tun};
use interop_tests::strongswan::{IkeSa, TunnelSpis, wait_agreed_on};
use interop_tests::topology::{INNER_A, INNER_B};
use interop_tests::{Charon, ConnSpec, Ikev2d, Ikev2dConfig, Pair, TimeBound, ping_until, require};

#[test]
fn rekeys_under_traffic_with_strongswan() {
    require!(
        require_root(),
        require_tun(),
        require_strongswan(),
        ikev2d_binary()
    );
    let _bound = TimeBound::alone(
        "rekeys_under_traffic_with_strongswan",
        Duration::from_secs(90),
    );
    let net = Pair::new();
    let conn = ConnSpec::site_a()
        .with_proposals("aes256gcm16-prfsha256-curve25519", "aes256gcm16-curve25519");
    let charon = Charon::start(&net.b, &[conn.mirrored()]);
    let ikev2d = Ikev2d::start(&net.a, &Ikev2dConfig::new(vec![conn]));
    let up = ikev2d.up("lab", Duration::from_secs(20));
    assert!(up.ok(), "up: {up}");
    assert!(ping_until(
        &net.a,
        INNER_A,
        INNER_B,
        Duration::from_secs(10)
    ));
    let agreed = |accept: &dyn Fn(&Value, &IkeSa) -> bool| {
        let (st, sw) = wait_agreed_on(&ikev2d, &charon, "lab", Duration::from_secs(15), accept)
            .unwrap_or_else(|e| panic!("{e}"));
        TunnelSpis::of(&st, &sw)
    };
    let before = agreed(&|_, _| true);

    let (src, dst) = (INNER_A.to_string(), INNER_B.to_string());
    let (pings, rekeys) = std::thread::scope(|s| {
        let pinger = s.spawn(|| {
            net.a.exec(
                &[
                    "ping", "-n", "-q", "-c", "500", "-i", "0.01", "-W", "1", "-I", &src, &dst,
                ],
                Duration::from_secs(30),
            )
        });
        let mut rekeys = Vec::new();
        std::thread::sleep(Duration::from_millis(1000));
        rekeys.push(ikev2d.rekey_child("lab", "net"));
        std::thread::sleep(Duration::from_millis(1000));
        rekeys.push(charon.swanctl(&["--rekey", "--child", "net"]));
        std::thread::sleep(Duration::from_millis(1000));
        rekeys.push(ikev2d.rekey_ike("lab"));
        std::thread::sleep(Duration::from_millis(1000));
        rekeys.push(charon.swanctl(&["--rekey", "--ike", "lab"]));
        (pinger.join().expect("ping thread"), rekeys)
    });
    for r in &rekeys {
        assert!(r.ok(), "rekey: {r}");
    }
    let received = interop_tests::ping::parse_received(&pings.stdout).unwrap_or(0);
    // LOST_ALLOWED: make-before-break means no echo is lost to a rekey, and the test
    // runs alone, so the tunnel should lose nothing. One echo in 500 (0.2 %) is a
    // margin for the machine, not the protocol: the echoes cross two userspace ESP
    // stacks (ikev2d's and strongSwan's kernel-libipsec threads) on 2 shared cores,
    // and a stall of more than ping's final 1 s wait loses the last echo. The price:
    // a fault that loses exactly one echo at one of the 4 switches would pass.
    assert!(
        received + LOST_ALLOWED >= 500,
        "{} echoes of 500 lost during rekeys (allowed: {LOST_ALLOWED}): {pings}\n{}\n{}",
        500u32.saturating_sub(received),
        ikev2d.log_tail(30),
        charon.logs_tail(30)
    );
    if received < 500 {
        eprintln!(
            "rekeys under traffic: {} echo(es) of 500 lost (allowed {LOST_ALLOWED})",
            500u32.saturating_sub(received)
        );
    }
    let after = agreed(&|st, sw| {
        let now = TunnelSpis::of(st, sw);
        now.ike_all_new(&before) && now.esp_all_new(&before)
    });
    eprintln!("SPIs before the rekeys: {before:?}\nafter: {after:?}");
    let st = ikev2d.conn_status("lab").expect("status");
    assert!(st["children"][0]["rekeys"].as_u64() >= Some(2), "{st}");
}

/// Echoes of the 500 that may be lost (the reason is at the assertion).
const LOST_ALLOWED: u32 = 1;
