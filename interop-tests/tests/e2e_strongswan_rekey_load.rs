//! Rekeys under traffic against strongSwan (make-before-break, RFC 7296 §2.8): a
//! 100-packet-per-second ping runs while ikev2d rekeys the CHILD SA, strongSwan
//! rekeys it, and ikev2d rekeys the IKE SA. No echo may be lost.

use std::time::Duration;

use interop_tests::prereq::{ikev2d_binary, require_root, require_strongswan, require_tun};
use interop_tests::strongswan::wait_agreed;
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
    let _bound = TimeBound::new(
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
    let received = interop_tests::ping::parse_received(&pings.stdout);
    assert_eq!(
        received,
        Some(500),
        "echoes lost during rekeys: {pings}\n{}\n{}",
        ikev2d.log_tail(30),
        charon.logs_tail(30)
    );
    wait_agreed(&ikev2d, &charon, "lab", Duration::from_secs(15)).unwrap_or_else(|e| panic!("{e}"));
    let st = ikev2d.conn_status("lab").expect("status");
    assert!(st["children"][0]["rekeys"].as_u64() >= Some(2), "{st}");
}
