//! What the IO tests need from the system (capabilities, /dev/net/tun) and the one
//! rule for a missing piece: in CI (`CI=true`) the test fails, elsewhere it is
//! skipped with a message. Shared by the esp and daemon IO tests.
#![allow(dead_code)]

pub const CAP_NET_ADMIN: u32 = 12;
pub const CAP_NET_RAW: u32 = 13;

/// Whether the effective capability set has `cap` (from /proc/self/status).
pub fn has_cap(cap: u32) -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("CapEff:"))?;
            u64::from_str_radix(line.split_whitespace().nth(1)?, 16).ok()
        })
        .is_some_and(|eff| eff & (1 << cap) != 0)
}

/// CAP_NET_ADMIN and a usable /dev/net/tun, or what is missing.
pub fn missing_tun() -> Option<&'static str> {
    if !has_cap(CAP_NET_ADMIN) {
        return Some("CAP_NET_ADMIN (run as root)");
    }
    if std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
        .is_err()
    {
        return Some("a usable /dev/net/tun");
    }
    None
}

/// `true` if nothing is `missing`; otherwise fails in CI and skips elsewhere.
pub fn require(test: &str, missing: Option<&str>) -> bool {
    let Some(what) = missing else {
        return true;
    };
    let msg = format!("{test} needs {what}");
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg}");
    }
    eprintln!("skipping: {msg}");
    false
}
