//! Break-glass connections and key export against the real daemon (`ikev2d run` in
//! a network namespace of its own): rotate, drill, activation with the right
//! halves, refusal of wrong ones, TTL expiry, the audit records, the alert hook,
//! and who may ask (admin yes, viewer and others no).
#![allow(clippy::unwrap_used)]

use crate::common;

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::time::Duration;

use common::{BIN, Daemon, rotate};
use ikev2d::runtime::breakglass::{hash_half, verify_halves};

const HALF1: &str = "Kq7mX2pLw9RtZ4vN8cYb3HsJ6fGd5AeU";
const HALF2: &str = "uE5dGf6JsH3bYc8Nv4ZtR9wLp2Xm7qKa";

/// A break-glass connection `bg` (TTL `ttl`) and an ordinary responder `plain`.
fn conns(hashes: &[String; 2], ttl: &str) -> String {
    format!(
        r#"
[connections.bg]
local_addrs  = ["192.0.2.1"]
remote_addrs = ["192.0.2.2"]
break_glass = true
break_glass_hashes = ["{}", "{}"]
break_glass_ttl = "{ttl}"
[connections.bg.local]
id = "192.0.2.1"
[connections.bg.remote]
id = "192.0.2.2"
[connections.bg.children.net]
local_ts  = ["10.1.0.0/24"]
remote_ts = ["10.2.0.0/24"]

[connections.plain]
local_addrs  = ["192.0.2.1"]
remote_addrs = ["198.51.100.0/24"]
[connections.plain.local]
id = "192.0.2.1"
[connections.plain.remote]
id = "%any"
[connections.plain.children.net]
local_ts  = ["10.1.0.0/24"]
remote_ts = ["10.3.0.0/24"]

[secrets.ike-plain]
id = "192.0.2.1"
secret = "Xq7#vR2m-Lp9$wT4zK8!nB3hJ6@cF5dS"
"#,
        hashes[0], hashes[1]
    )
}

fn hashes() -> [String; 2] {
    [hash_half(HALF1).unwrap(), hash_half(HALF2).unwrap()]
}

fn both() -> String {
    format!("{HALF1}\n{HALF2}\n")
}

fn out(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn actions(d: &Daemon) -> Vec<(String, String)> {
    d.audit_records()
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap().to_owned(),
                r["result"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn events(d: &Daemon) -> Vec<String> {
    d.alert_events()
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn rotate_rewrites_only_the_hashes_in_place() {
    let test = "rotate_rewrites_only_the_hashes_in_place";
    if test_support::require(test, test_support::root()).is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ikev2d.toml");
    let original = conns(&hashes(), "4h").replace(
        "break_glass_hashes",
        "# kept: a comment the operator wrote\nbreak_glass_hashes",
    );
    std::fs::write(&path, &original).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::chown(&path, Some(0), Some(65534)).unwrap();
    let ino_before = std::fs::metadata(&path).unwrap().ino();

    let (h1, h2) = rotate(&path, "bg");
    assert_eq!((h1.len(), h2.len()), (32, 32));
    assert_ne!(h1, h2);
    let text = std::fs::read_to_string(&path).unwrap();
    // Only hashes are written: neither half, nor the whole key.
    assert!(!text.contains(&h1) && !text.contains(&h2), "{text}");
    assert!(!text.contains(HALF1), "old hashes replaced");
    assert!(text.contains("# kept: a comment the operator wrote"));
    assert!(text.contains("[connections.plain]"));
    assert!(text.contains("secret = \"Xq7#vR2m-Lp9$wT4zK8!nB3hJ6@cF5dS\""));
    let cfg = ikev2d::config::DaemonConfig::load(&path).unwrap();
    let bg = cfg.connections[0].break_glass.clone().unwrap();
    assert!(verify_halves(&bg.hashes, [&h1, &h2]));
    assert!(!verify_halves(&bg.hashes, [&h2, &h1]));
    assert!(!verify_halves(&bg.hashes, [HALF1, HALF2]));
    // mode and owner kept, replaced by rename (a new inode)
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o640);
    assert_eq!((meta.uid(), meta.gid()), (0, 65534));
    assert_ne!(meta.ino(), ino_before);
    // `check` accepts it: the halves pass the weak-psk rule, no secret is needed
    let check = std::process::Command::new(BIN)
        .args(["check", "--json", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", out(&check));
    let report: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
    for f in report["findings"].as_array().unwrap() {
        assert_ne!(f["rule"], "missing-secret", "{f}");
        assert_ne!(f["rule"], "weak-psk", "{f}");
    }
    // A second rotation gives other halves.
    let (g1, _) = rotate(&path, "bg");
    assert_ne!(g1, h1);
    // A connection not marked break_glass is refused and the file left alone.
    let before = std::fs::read_to_string(&path).unwrap();
    let o = std::process::Command::new(BIN)
        .args(["break-glass", "rotate", "plain", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(out(&o).contains("break_glass = true"), "{}", out(&o));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
}

#[test]
fn check_validates_break_glass_settings() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    let check = |text: &str| {
        std::fs::write(&path, text).unwrap();
        let o = std::process::Command::new(BIN)
            .args(["check", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        (o.status.code(), out(&o))
    };
    let good = conns(&hashes(), "4h");
    let (code, text) = check(&good);
    assert_eq!(code, Some(0), "{text}");
    // a hash that is not argon2id PHC
    let bad = good.replacen("$argon2id$", "$argon2i$", 1);
    let (code, text) = check(&bad);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("break_glass_hashes[0]"), "{text}");
    // one hash only
    let h = hashes();
    let (code, text) = check(&conns(&h, "4h").replace(&format!(", \"{}\"", h[1]), ""));
    assert_eq!(code, Some(1), "{text}");
    // no hashes at all
    let (code, text) = check(&good.replace("break_glass_hashes", "# break_glass_hashes"));
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("ikev2d break-glass rotate"), "{text}");
    // a whole PSK for the break-glass identities in [secrets]: a warning
    let (code, text) = check(&format!(
        "{good}\n[secrets.ike-whole]\nids = [\"192.0.2.1\", \"192.0.2.2\"]\nsecret = \"{HALF1}{HALF2}\"\n"
    ));
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("holds a whole PSK"), "{text}");
    // a range-only connection cannot start
    let (code, text) = check(&good.replace(
        "remote_ts = [\"10.3.0.0/24\"]",
        "remote_ts = [\"10.3.0.0/24\"]\nstart_action = \"start\"",
    ));
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("only ranges"), "{text}");
}

#[test]
fn activation_drill_wrong_halves_expiry_audit_and_alerts() {
    let Some(d) = Daemon::start(
        "alert_command = \"cat >> {dir}/alerts.jsonl\"",
        "",
        &conns(&hashes(), "3s"),
        &["192.0.2.1/32"],
    ) else {
        return;
    };
    // Not loaded at start.
    let bg = d.conn("bg");
    assert_eq!(bg["state"], "DOWN");
    assert_eq!(bg["break_glass"]["active"], false);
    assert_eq!(bg["break_glass"]["ttl_secs"], 3);
    assert!(d.log_text().contains("not loaded"), "{}", d.log_text());

    // Wrong halves: refused, audited, alerted, CRITICAL, nothing changes.
    let o = d.ctl(
        &["break-glass", "bg"],
        Some(&format!("{HALF1}\nwrong-half\n")),
    );
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(out(&o).contains("do not match"), "{}", out(&o));
    assert_eq!(d.conn("bg")["break_glass"]["active"], false);
    assert_eq!(d.conn("bg")["state"], "DOWN");
    // swapped halves are wrong too
    let o = d.ctl(&["break-glass", "bg"], Some(&format!("{HALF2}\n{HALF1}\n")));
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(
        d.wait(Duration::from_secs(5), |d| events(d).len() >= 2),
        "{:?}",
        events(&d)
    );
    assert_eq!(events(&d), ["failed_attempt", "failed_attempt"]);
    assert!(
        actions(&d)
            .iter()
            .any(|(a, _)| a == "break-glass-failed-attempt")
    );
    assert!(
        d.log_text()
            .contains("CRITICAL: break-glass bg: FAILED activation attempt")
    );
    assert!(!d.log_text().contains(HALF1), "a half in the log");

    // Drill: verified, nothing brought up.
    let o = d.ctl(&["break-glass", "drill", "bg"], Some(&both()));
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(out(&o).contains("drill passed"), "{}", out(&o));
    assert_eq!(d.conn("bg")["break_glass"]["active"], false);
    assert_eq!(d.conn("bg")["state"], "DOWN");
    assert!(d.wait(Duration::from_secs(5), |d| events(d).len() >= 3));
    let drill = &d.alert_events()[2];
    assert_eq!(drill["event"], "drill");
    assert_eq!(drill["conn"], "bg");
    assert_eq!(drill["uid"], 0);
    assert!(actions(&d).contains(&(
        "break-glass-drill".to_owned(),
        "both halves verified".to_owned()
    )));

    // Activation: loaded, initiated, TTL shown.
    let o = d.ctl(&["break-glass", "bg"], Some(&both()));
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(
        out(&o).contains("break-glass activated for 3s"),
        "{}",
        out(&o)
    );
    let bg = d.conn("bg");
    assert_eq!(bg["break_glass"]["active"], true);
    assert!(bg["break_glass"]["remaining_secs"].as_u64().unwrap() <= 3);
    assert_ne!(bg["state"], "DOWN", "initiated: {bg}");
    let text = String::from_utf8_lossy(&d.ctl(&["status"], None).stdout).into_owned();
    assert!(text.contains("BREAK-GLASS ACTIVE"), "{text}");
    // a second activation while active is refused
    let o = d.ctl(&["break-glass", "bg"], Some(&both()));
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(out(&o).contains("already active"), "{}", out(&o));

    // Expiry: torn down, unloaded, audited, alerted.
    assert!(
        d.wait(Duration::from_secs(6), |d| {
            let bg = d.conn("bg");
            bg["break_glass"]["active"] == false && bg["state"] == "DOWN"
        }),
        "{}",
        d.conn("bg")
    );
    assert!(d.wait(Duration::from_secs(5), |d| events(d).len() >= 5));
    assert_eq!(
        events(&d),
        [
            "failed_attempt",
            "failed_attempt",
            "drill",
            "activation",
            "expiry"
        ]
    );
    let acts = actions(&d);
    for want in [
        "break-glass-activation",
        "break-glass-expiry",
        "break-glass-drill",
        "break-glass-failed-attempt",
    ] {
        assert!(acts.iter().any(|(a, _)| a == want), "{want}: {acts:?}");
    }
    let log = d.log_text();
    assert!(log.contains("CRITICAL: break-glass bg: ACTIVATED"), "{log}");
    assert!(
        log.contains("CRITICAL: break-glass bg: TTL expired"),
        "{log}"
    );
    assert!(
        !log.contains(HALF1) && !log.contains(HALF2),
        "a half in the log"
    );
    let audit = std::fs::read_to_string(&d.audit).unwrap();
    assert!(!audit.contains(HALF1) && !audit.contains(HALF2));
}

#[test]
fn alert_command_failure_is_logged_and_does_not_block() {
    let Some(d) = Daemon::start(
        "alert_command = \"sleep 60\"",
        "",
        &conns(&hashes(), "1h"),
        &["192.0.2.1/32"],
    ) else {
        return;
    };
    // the command never reads and never ends: the daemon still answers at once
    let t = std::time::Instant::now();
    let o = d.ctl(&["break-glass", "drill", "bg"], Some(&both()));
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let o = d.ctl(&["status", "--json"], None);
    assert!(o.status.success());
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    drop(d);
    let Some(d) = Daemon::start(
        "alert_command = \"exit 3\"",
        "",
        &conns(&hashes(), "1h"),
        &["192.0.2.1/32"],
    ) else {
        return;
    };
    let o = d.ctl(&["break-glass", "drill", "bg"], Some(&both()));
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(
        d.wait(Duration::from_secs(5), |d| d
            .log_text()
            .contains("alert_command \"exit 3\" failed")),
        "{}",
        d.log_text()
    );
}

#[test]
fn key_export_is_off_until_an_admin_turns_it_on() {
    let Some(d) = Daemon::start(
        "key_export_dir = \"{dir}/keys\"",
        "",
        &conns(&hashes(), "1h"),
        &["192.0.2.1/32"],
    ) else {
        return;
    };
    let ke = |d: &Daemon| d.status()["key_export"].clone();
    assert_eq!(
        ke(&d)["active"],
        false,
        "configuration alone exports nothing"
    );
    let o = d.ctl(&["debug", "key-export", "on", "--for", "2s"], None);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(out(&o).contains("SAs already up are not exported"));
    assert_eq!(ke(&d)["active"], true);
    assert!(ke(&d)["remaining_secs"].as_u64().unwrap() <= 2);
    assert!(
        d.wait(Duration::from_secs(5), |d| ke(d)["active"] == false
            && actions(d).iter().any(|(_, r)| r == "expired")),
        "--for ends it"
    );
    let o = d.ctl(&["debug", "key-export", "on"], None);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let o = d.ctl(&["debug", "key-export", "off"], None);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert_eq!(ke(&d)["active"], false);
    let acts = actions(&d);
    for (a, r) in [
        ("key-export", "ok: key export on for 2s"),
        ("key-export", "expired"),
        ("key-export", "ok: key export off"),
    ] {
        assert!(
            acts.iter().any(|(x, y)| x == a && y.starts_with(r)),
            "{a} {r}: {acts:?}"
        );
    }
}

#[test]
fn key_export_without_a_directory_is_refused() {
    let Some(d) = Daemon::start("", "", &conns(&hashes(), "1h"), &["192.0.2.1/32"]) else {
        return;
    };
    let o = d.ctl(&["debug", "key-export", "on"], None);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(out(&o).contains("key_export_dir is not configured"));
    assert!(d.status().get("key_export").is_none());
}

#[test]
fn only_admins_may_break_glass_drill_or_export_keys() {
    let Some(d) = Daemon::start(
        "key_export_dir = \"{dir}/keys\"\nalert_command = \"cat >> {dir}/alerts.jsonl\"",
        "viewer_group = \"nogroup\"\nadmin_group = \"daemon\"",
        &conns(&hashes(), "1h"),
        &["192.0.2.1/32"],
    ) else {
        return;
    };
    let viewer = Some((65534, 65534));
    let nobody_else = Some((65534, 54321));
    let commands: [(&[&str], Option<String>); 4] = [
        (&["break-glass", "bg"], Some(both())),
        (&["break-glass", "drill", "bg"], Some(both())),
        (&["debug", "key-export", "on"], None),
        (&["debug", "key-export", "off"], None),
    ];
    // viewers see status
    let o = d.ctl_as(viewer, &["status", "--json"], None);
    assert!(o.status.success(), "{}", out(&o));
    for (args, stdin) in &commands {
        for who in [viewer, nobody_else] {
            let o = d.ctl_as(who, args, stdin.as_deref());
            assert_eq!(o.status.code(), Some(1), "{args:?} as {who:?}: {}", out(&o));
            assert!(
                out(&o).contains("permission denied"),
                "{args:?} as {who:?}: {}",
                out(&o)
            );
        }
    }
    // nothing happened: no alert, no activation, no export
    assert!(d.alert_events().is_empty());
    assert_eq!(d.conn("bg")["break_glass"]["active"], false);
    assert_eq!(d.status()["key_export"]["active"], false);
    // a member of admin_group (not root) may, and so may root
    let admin = Some((65534, 1));
    for (args, stdin) in &commands {
        let o = d.ctl_as(admin, args, stdin.as_deref());
        assert_eq!(o.status.code(), Some(0), "{args:?} as admin: {}", out(&o));
    }
    assert_eq!(d.conn("bg")["break_glass"]["active"], true);
    let o = d.ctl(&["debug", "key-export", "on"], None);
    assert_eq!(o.status.code(), Some(0), "root: {}", out(&o));
    let o = d.ctl(&["break-glass", "drill", "bg"], Some(&both()));
    assert_eq!(o.status.code(), Some(0), "root: {}", out(&o));
    // the audit log names the non-root admin
    assert!(
        d.audit_records()
            .iter()
            .any(|r| r["uid"] == 65534 && r["action"] == "break-glass-activation"),
        "{:?}",
        d.audit_records()
    );
}

#[test]
fn sighup_keeps_an_unchanged_activation_and_ends_a_changed_one() {
    let h = hashes();
    let Some(d) = Daemon::start("", "", &conns(&h, "1h"), &["192.0.2.1/32"]) else {
        return;
    };
    let hup = |d: &Daemon| {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(d.pid()).unwrap()),
            nix::sys::signal::Signal::SIGHUP,
        )
        .unwrap();
    };
    let reloads = |d: &Daemon| {
        d.log_text()
            .matches("SIGHUP: configuration reloaded")
            .count()
    };
    let o = d.ctl(&["break-glass", "bg"], Some(&both()));
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    // Unrelated change (another connection's selectors): the activation stays.
    let text = std::fs::read_to_string(&d.config).unwrap();
    std::fs::write(&d.config, text.replace("10.3.0.0/24", "10.4.0.0/24")).unwrap();
    hup(&d);
    assert!(d.wait(Duration::from_secs(5), |d| reloads(d) == 1));
    let bg = d.conn("bg");
    assert_eq!(bg["break_glass"]["active"], true, "{bg}");
    assert_ne!(bg["state"], "DOWN", "{bg}");
    // The break-glass connection itself changed: the activation ends.
    let text = std::fs::read_to_string(&d.config).unwrap();
    std::fs::write(
        &d.config,
        text.replace("break_glass_ttl = \"1h\"", "break_glass_ttl = \"2h\""),
    )
    .unwrap();
    hup(&d);
    assert!(d.wait(Duration::from_secs(5), |d| reloads(d) == 2));
    let bg = d.conn("bg");
    assert_eq!(bg["break_glass"]["active"], false, "{bg}");
    assert!(
        actions(&d).iter().any(|(a, _)| a == "break-glass-end"),
        "{:?}",
        actions(&d)
    );
    assert!(d.log_text().contains("activation ended by SIGHUP"));
}
