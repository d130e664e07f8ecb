//! A break-glass connection between two ikev2d: B holds `lab` as a break-glass
//! connection (hashes from `ikev2d break-glass rotate`, TTL 12 s, an alert command),
//! A an ordinary connection whose PSK is the two halves joined. Wrong halves are
//! refused, a drill brings nothing up, the right halves bring the tunnel up (B
//! initiates) and it carries pings until the TTL tears it down on both sides. B also
//! has `key_export_dir` set: nothing is exported until an admin turns export on.

use std::time::Duration;

use interop_tests::prereq::{ikev2d_binary, require_root, require_tun};
use interop_tests::topology::{INNER_A, INNER_B};
use interop_tests::{ConnSpec, Ikev2d, Ikev2dConfig, Pair, TimeBound, ping, ping_until, require};

const TTL_SECS: u64 = 12;

fn events(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["event"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn break_glass_up_traffic_and_ttl_expiry_between_two_ikev2d() {
    require!(require_root(), require_tun(), ikev2d_binary());
    let _bound = TimeBound::new("break_glass_pair", Duration::from_secs(120));
    let net = Pair::new();
    let work = tempfile::tempdir().expect("temp dir");
    let alerts = work.path().join("alerts.jsonl");
    let keys = work.path().join("keys");

    let mut b_conf = Ikev2dConfig::new(vec![ConnSpec::site_b()]);
    b_conf.break_glass = vec![("lab".to_owned(), format!("{TTL_SECS}s"))];
    b_conf.alert_command = Some(format!("cat >> {}", alerts.display()));
    b_conf.key_export_dir = Some(keys.clone());
    b_conf.key_export_at_start = false;
    let b = Ikev2d::start(&net.b, &b_conf);
    let (h1, h2) = b.halves("lab").expect("rotate gave halves");
    let conf_text = std::fs::read_to_string(b.dir().join("ikev2d.toml")).expect("config");
    assert!(!conf_text.contains(&h1) && !conf_text.contains(&h2));

    let mut a_spec = ConnSpec::site_a();
    a_spec.psk = format!("{h1}{h2}");
    let a = Ikev2d::start(&net.a, &Ikev2dConfig::new(vec![a_spec]));

    // Not loaded: A cannot bring it up (B drops IKE from A before parsing).
    let lab = b.conn_status("lab").expect("lab in status");
    assert_eq!(lab["break_glass"]["active"], false, "{lab}");
    let up = a.up("lab", Duration::from_secs(3));
    assert!(
        !up.ok(),
        "A brought up a break-glass tunnel that is not active"
    );
    a.down("lab");

    // Wrong halves: refused, nothing changes.
    let wrong = b.break_glass("lab", false, &h1, &h1);
    assert_eq!(wrong.status.and_then(|s| s.code()), Some(1), "{wrong}");
    // Drill: verified, nothing brought up.
    let drill = b.break_glass("lab", true, &h1, &h2);
    assert!(drill.ok(), "{drill}");
    assert_ne!(b.conn_status("lab").expect("lab")["state"], "ESTABLISHED");

    // Activation: B initiates; the tunnel carries traffic.
    let t0 = std::time::Instant::now();
    let on = b.break_glass("lab", false, &h1, &h2);
    assert!(on.ok(), "{on}\n{}", b.log_tail(30));
    let sb = b
        .wait_established("lab", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", b.log_tail(40), a.log_tail(40)));
    a.wait_established("lab", Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("{e}"));
    let up_after = t0.elapsed();
    let left = sb["break_glass"]["remaining_secs"].as_u64().unwrap_or(0);
    assert!(left > 0 && left <= TTL_SECS, "{sb}");
    let text = b.status_text();
    assert!(text.contains("BREAK-GLASS ACTIVE"), "{text}");
    assert!(
        ping_until(&net.a, INNER_A, INNER_B, Duration::from_secs(5)),
        "no ping through the break-glass tunnel"
    );
    assert_eq!(ping(&net.a, INNER_A, INNER_B, 5), 5, "lost pings");

    // key_export_dir alone exported nothing; after `debug key-export on` a rekeyed
    // CHILD SA's keys are written.
    assert!(
        !keys.join("esp_sa").exists() && !keys.join("ikev2_decryption_table").exists(),
        "keys exported without an admin request"
    );
    b.key_export(true);
    let r = b.rekey_child("lab", "net");
    assert!(r.ok(), "rekey: {r}");
    let exported =
        interop_tests::cmd::wait_for(Duration::from_secs(5), Duration::from_millis(200), || {
            keys.join("esp_sa").exists().then_some(())
        });
    assert!(
        exported.is_some(),
        "no esp_sa after key-export on and a rekey"
    );
    b.key_export(false);

    // TTL expiry: B deletes the IKE SA (A sees the DELETE) and unloads the connection.
    let expired = interop_tests::cmd::wait_for(
        Duration::from_secs(TTL_SECS + 8),
        Duration::from_millis(250),
        || {
            let lab = b.conn_status("lab")?;
            (lab["break_glass"]["active"] == false && lab["state"] == "DOWN").then_some(())
        },
    );
    assert!(
        expired.is_some(),
        "still active after the TTL: {:?}\n{}",
        b.conn_status("lab"),
        b.log_tail(30)
    );
    let lasted = t0.elapsed();
    assert!(
        lasted >= Duration::from_secs(TTL_SECS - 1),
        "torn down early: {lasted:?}"
    );
    let a_down =
        interop_tests::cmd::wait_for(Duration::from_secs(5), Duration::from_millis(250), || {
            a.conn_status("lab").filter(|c| c["state"] == "DOWN")
        });
    assert!(
        a_down.is_some(),
        "A did not see the DELETE: {:?}",
        a.conn_status("lab")
    );
    assert_eq!(ping(&net.a, INNER_A, INNER_B, 2), 0, "traffic after expiry");

    // The alarm: CRITICAL lines and the alert command saw every event.
    let ev =
        interop_tests::cmd::wait_for(Duration::from_secs(5), Duration::from_millis(200), || {
            let e = events(&alerts);
            (e.len() >= 4).then_some(e)
        })
        .unwrap_or_else(|| events(&alerts));
    assert_eq!(ev, ["failed_attempt", "drill", "activation", "expiry"]);
    let log = b.log();
    assert!(
        log.contains("CRITICAL: break-glass lab: ACTIVATED"),
        "{log}"
    );
    assert!(
        log.contains("CRITICAL: break-glass lab: TTL expired"),
        "{log}"
    );
    assert!(
        !log.contains(&h1) && !log.contains(&h2),
        "a half in the log"
    );
    println!(
        "break-glass: established {:.1} s after activation, torn down after {:.1} s (TTL {TTL_SECS} s)",
        up_after.as_secs_f64(),
        lasted.as_secs_f64()
    );
}
