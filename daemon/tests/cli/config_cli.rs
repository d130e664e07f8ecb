//! `ikev2d check --config PATH`: output format and exit codes.
#![allow(clippy::unwrap_used)]

use std::process::Command;

const EXAMPLE: &str = include_str!("../data/site-b.toml");

fn check(text: &str, json: bool) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ikev2d.toml");
    std::fs::write(&path, text).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ikev2d"));
    cmd.arg("check").arg("--config").arg(&path);
    if json {
        cmd.arg("--json");
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
    )
}

#[test]
fn clean_config_exits_0() {
    let (code, out) = check(EXAMPLE, false);
    assert_eq!(code, 0, "{out}");
    assert!(out.ends_with("0 error(s), 0 warning(s): usable\n"), "{out}");
}

#[test]
fn warnings_only_exit_0_and_are_printed() {
    let (code, out) = check(&EXAMPLE.replace("\"20s\"", "\"60s\""), false);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.starts_with("warning: daemon.keep_alive (line 5): keep_alive 1m is longer"),
        "{out}"
    );
    assert!(out.contains("0 error(s), 1 warning(s): usable"), "{out}");
}

#[test]
fn errors_exit_1() {
    let (code, out) = check(&EXAMPLE.replace("encap ", "encapsulation "), false);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.starts_with(
            "error: connections.site-b.encapsulation (line 15): unknown key `encapsulation`"
        ),
        "{out}"
    );
    assert!(
        out.contains("1 error(s), 0 warning(s): not usable"),
        "{out}"
    );
    let (code, out) = check(
        &EXAMPLE.replace("[\"10.2.0.0/24\"]", "[\"10.1.0.0/16\"]"),
        false,
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("error: connections.site-b.children.net.local_ts[0] (line 23):"),
        "{out}"
    );
}

#[test]
fn unreadable_file_exits_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_ikev2d"))
        .args(["check", "--config", "/nonexistent/ikev2d.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("cannot read /nonexistent/ikev2d.toml"),
        "{err}"
    );
}

#[test]
fn json_output() {
    let (code, out) = check(&EXAMPLE.replace("\"20s\"", "\"60s\""), true);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["errors"], 0);
    assert_eq!(v["warnings"], 1);
    let f = &v["findings"][0];
    assert_eq!(f["severity"], "warning");
    assert_eq!(f["rule"], "keep-alive");
    assert_eq!(f["path"], "daemon.keep_alive");
    assert_eq!(f["line"], 5);

    let (code, out) = check("[daemon]\nmtu = \"big\"\n", true);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["findings"][0]["path"], "daemon.mtu");
    assert_eq!(v["findings"][0]["line"], 2);
}
