//! SIGHUP reloads the configuration of a running ikev2d: unchanged connections keep
//! their SAs, changed ones are torn down and started again per start_action, added
//! ones appear, and a broken file leaves the running configuration in place.

use std::process::Command;
use std::time::Duration;

use interop_tests::ikev2d::is_established;
use interop_tests::prereq::{ikev2d_binary, require_root, require_tun};
use interop_tests::topology::{INNER_A, INNER_B};
use interop_tests::{
    ConnSpec, Ikev2d, Ikev2dConfig, Pair, StartAction, TimeBound, ping_until, require,
};
use serde_json::Value;

/// Writes `config` over the daemon's file and sends it SIGHUP.
fn reload(d: &Ikev2d, text: &str) {
    let conf = d.dir().join("ikev2d.toml");
    std::fs::write(&conf, text).unwrap_or_else(|e| panic!("write {}: {e}", conf.display()));
    let out = Command::new("pkill")
        .args(["-HUP", "-f", &format!("run --config {}", conf.display())])
        .output()
        .expect("pkill runs");
    assert!(out.status.success(), "no ikev2d to send SIGHUP to: {out:?}");
}

fn spi_i(c: &Value) -> String {
    c["ike_sa"]["spi_i"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn sighup_keeps_unchanged_restarts_changed_adds_new_and_survives_a_broken_file() {
    require!(require_root(), require_tun(), ikev2d_binary());
    let _bound = TimeBound::new("sighup_reload", Duration::from_secs(120));
    let net = Pair::new();
    let lab = ConnSpec::site_a().with_start_action(StartAction::Start);
    let b_conf = Ikev2dConfig::new(vec![lab.mirrored()]);
    let mut b = Ikev2d::start(&net.b, &b_conf);
    let a_conf = Ikev2dConfig::new(vec![lab.clone()]);
    let mut a = Ikev2d::start(&net.a, &a_conf);
    let first = a
        .wait_established("lab", Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e}\n{}", a.log_tail(40)));

    // Unchanged `lab` plus a new connection: lab keeps its IKE SA.
    let mut extra = ConnSpec::site_a();
    extra.name = "extra".to_owned();
    extra.remote_addr = "192.0.2.99".parse().expect("addr");
    extra.remote_id = "192.0.2.99".to_owned();
    extra.children[0].remote_ts = vec!["10.99.0.0/24".to_owned()];
    let with_extra = Ikev2dConfig::new(vec![lab.clone(), extra.clone()]);
    reload(&a, &with_extra.to_toml(a.socket()));
    let added =
        interop_tests::cmd::wait_for(Duration::from_secs(5), Duration::from_millis(100), || {
            let st = a.status_json();
            (st["connections"].as_array().map(Vec::len) == Some(2)).then_some(st)
        })
        .unwrap_or_else(|| panic!("extra not added\n{}", a.log_tail(20)));
    let lab_now = added["connections"][0].clone();
    assert!(is_established(&lab_now), "{lab_now}");
    assert_eq!(
        spi_i(&lab_now),
        spi_i(&first),
        "unchanged lab was rekeyed or restarted"
    );
    assert_eq!(added["connections"][1]["state"], "DOWN", "{added}");

    // `lab` changed on both ends (another ESP proposal): torn down, started again.
    let lab2 = lab
        .clone()
        .with_proposals("aes256-sha256-modp2048", "aes128gcm16");
    reload(
        &b,
        &Ikev2dConfig::new(vec![lab2.mirrored()]).to_toml(b.socket()),
    );
    reload(
        &a,
        &Ikev2dConfig::new(vec![lab2.clone(), extra]).to_toml(a.socket()),
    );
    let again =
        interop_tests::cmd::wait_for(Duration::from_secs(20), Duration::from_millis(200), || {
            a.conn_status("lab").filter(|c| {
                is_established(c)
                    && spi_i(c) != spi_i(&first)
                    && c["children"][0]["proposal"].as_str() == Some("aes128gcm16")
            })
        });
    assert!(
        again.is_some(),
        "changed lab not re-established with aes128gcm16: {:?}\n{}",
        a.conn_status("lab"),
        a.log_tail(30)
    );
    assert!(ping_until(
        &net.a,
        INNER_A,
        INNER_B,
        Duration::from_secs(10)
    ));

    // A broken file: logged, the running configuration stays.
    reload(&a, "[daemon\nthis is not toml");
    std::thread::sleep(Duration::from_millis(500));
    assert!(a.is_running(), "ikev2d died on a broken reload");
    assert!(a.log().contains("not reloaded"), "{}", a.log_tail(10));
    let still = a.conn_status("lab").expect("lab still configured");
    assert!(is_established(&still), "{still}");

    a.stop_clean();
    b.stop_clean();
}
