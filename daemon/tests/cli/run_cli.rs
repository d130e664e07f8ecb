//! `ikev2d run`: what happens before the daemon gets going (bad configs), and the
//! systemd unit that starts it.

use std::process::Command;

fn ikev2d() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ikev2d"))
}

#[test]
fn bad_config_exits_1_with_one_line_naming_key_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[daemon]\nmtu = 1400\nbogus_key = 1\n[connections.x]\nremote_addrs = [\"192.0.2.2\"]\n",
    )
    .expect("write");
    let out = ikev2d()
        .args(["run", "--config"])
        .arg(&path)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<_> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {err}");
    assert!(lines[0].contains("bogus_key"), "{err}");
    assert!(lines[0].contains("line 3"), "{err}");
}

#[test]
fn missing_config_exits_1() {
    let out = ikev2d()
        .args(["run", "--config", "/nonexistent/ikev2d.toml"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/ikev2d.toml"), "{err}");
}

#[test]
fn systemd_unit_runs_check_then_run_with_the_needed_capabilities() {
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/systemd/ikev2d.service"
    ))
    .expect("unit file");
    let value = |key: &str| {
        unit.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("{key} missing"))
            .to_owned()
    };
    assert!(value("ExecStartPre").ends_with("check --config /etc/ikev2d/ikev2d.toml"));
    assert!(value("ExecStart").ends_with("run --config /etc/ikev2d/ikev2d.toml"));
    assert!(value("ExecReload").contains("-HUP"));
    for cap in ["CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_NET_BIND_SERVICE"] {
        assert!(value("CapabilityBoundingSet").contains(cap), "{cap}");
        assert!(value("AmbientCapabilities").contains(cap), "{cap}");
    }
    assert!(value("DeviceAllow").contains("/dev/net/tun"));
    // The default audit log (/var/log/ikev2d) must stay writable under ProtectSystem.
    assert_eq!(value("LogsDirectory"), "ikev2d");
    assert_eq!(value("RuntimeDirectory"), "ikev2d");
    // The subcommands the unit uses exist.
    for sub in ["check", "run"] {
        let out = ikev2d().args([sub, "--help"]).output().expect("runs");
        assert!(out.status.success(), "ikev2d {sub} --help");
    }
}
