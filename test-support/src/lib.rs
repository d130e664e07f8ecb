//! What a test needs from the machine (root, a capability, `/dev/net/tun`, a command,
//! a kernel feature) and the one rule for a missing piece, shared by every test of
//! the workspace that needs one: under CI ([`is_ci`]) the test fails and names what is
//! missing; elsewhere it prints a `SKIP` line and the test returns.
//!
//! A dev-dependency only: nothing outside tests links it, and it never changes the
//! system (it reads `/proc` and asks the shell what is installed).

use std::fmt;
use std::io::Write as _;
use std::process::Command;

/// A missing prerequisite and how to get it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub what: String,
    pub fix: String,
}

impl Missing {
    pub fn new(what: impl Into<String>, fix: impl Into<String>) -> Self {
        Missing {
            what: what.into(),
            fix: fix.into(),
        }
    }
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.what, self.fix)
    }
}

/// `CI` is set to `true` or `1` (`.ci/run` sets it when the runner does not).
pub fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// What `check` gave if it passed. Otherwise, under CI: panic naming `test` and what
/// is missing (the test fails); elsewhere: print `SKIP test: what (fix)` and return
/// `None`, and the caller returns.
///
/// ```ignore
/// let Some(()) = require("tun_round_trip", test_support::tun()) else { return };
/// let Some(sock) = require("gso", try_gso().map_err(|e| kernel_feature("UDP GSO", e))) else { return };
/// ```
#[track_caller]
pub fn require<T>(test: &str, check: Result<T, Missing>) -> Option<T> {
    match check {
        Ok(t) => Some(t),
        Err(m) if is_ci() => panic!("{test}: prerequisite missing in CI: {m}"),
        Err(m) => {
            // Straight to the file descriptor: libtest captures `eprintln!` of passing
            // tests, and a skip must be visible.
            let _ = writeln!(std::io::stderr().lock(), "SKIP {test}: {m}");
            None
        }
    }
}

/// The effective user is root.
pub fn root() -> Result<(), Missing> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err(Missing::new("root", "run the tests as root"))
    }
}

/// A Linux capability, by its number in `<linux/capability.h>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    NetAdmin = 12,
    NetRaw = 13,
}

impl Capability {
    fn name(self) -> &'static str {
        match self {
            Capability::NetAdmin => "CAP_NET_ADMIN",
            Capability::NetRaw => "CAP_NET_RAW",
        }
    }
}

/// `cap` is in the effective set (the `CapEff` line of `/proc/self/status`).
pub fn capability(cap: Capability) -> Result<(), Missing> {
    let effective = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("CapEff:"))?;
            u64::from_str_radix(line.split_whitespace().nth(1)?, 16).ok()
        });
    if effective.is_some_and(|eff| eff & (1 << cap as u32) != 0) {
        Ok(())
    } else {
        Err(Missing::new(cap.name(), "run the tests as root"))
    }
}

/// CAP_NET_ADMIN and a `/dev/net/tun` this process can open for reading and writing.
pub fn tun() -> Result<(), Missing> {
    capability(Capability::NetAdmin)?;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
        .map(drop)
        .map_err(|e| {
            Missing::new(
                format!("a usable /dev/net/tun ({e})"),
                "load the tun module (`modprobe tun`) or give the container the TUN device",
            )
        })
}

/// `command` is on `PATH`; otherwise install `package`.
pub fn command(command: &str, package: &str) -> Result<(), Missing> {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {command}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        Ok(())
    } else {
        Err(Missing::new(
            format!("`{command}`"),
            format!("apt-get install {package}"),
        ))
    }
}

/// The kernel refused `feature` with `error` (the test found out by trying).
pub fn kernel_feature(feature: &str, error: impl fmt::Display) -> Missing {
    Missing::new(
        format!("kernel support for {feature} ({error})"),
        "a kernel with it (this machine's kernel or container refuses it)",
    )
}
