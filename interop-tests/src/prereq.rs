//! What the interop tests need from the machine. What to do when it is missing is
//! the workspace's one rule (`test_support::require`): under CI a missing
//! prerequisite fails the test (scripts/test installs everything, so missing means
//! broken), elsewhere the test prints a skip line and returns. Use
//! [`require!`](crate::require) at the top of a test.

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use test_support::{Missing, is_ci, require};

use crate::cmd::{self, DEFAULT_TIMEOUT};

/// strongSwan's IKE daemon as Debian installs it.
pub const CHARON: &str = "/usr/lib/ipsec/charon";
/// strongSwan's userspace ESP plugin (the kernel here has no XFRM/ESP).
pub const KERNEL_LIBIPSEC: &str = "/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so";
/// The apt packages the interop tests use (also in scripts/test's APT_PACKAGES).
pub const APT_PACKAGES: &str = "strongswan-charon strongswan-swanctl libcharon-extra-plugins \
     libstrongswan-standard-plugins iproute2 iputils-ping iptables procps";

/// Each `(tool, package)`: the tool is on PATH, else what to install.
fn require_tools(tools: &[(&str, &str)]) -> Result<(), Missing> {
    for (tool, pkg) in tools {
        if !cmd::run_args(
            "sh",
            &["-c", &format!("command -v {tool}")],
            DEFAULT_TIMEOUT,
        )
        .ok()
        {
            return Err(Missing::new(
                format!("`{tool}`"),
                format!("apt-get install {pkg}"),
            ));
        }
    }
    Ok(())
}

/// Network namespaces and veth need root (CAP_NET_ADMIN, CAP_SYS_ADMIN).
pub fn require_root() -> Result<(), Missing> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err(Missing::new(
            "root",
            "run the interop tests as root, e.g. `sudo -E scripts/test`",
        ))
    }
}

/// `/dev/net/tun` (ikev2d and kernel-libipsec create TUN devices), `ip` and `ping`.
pub fn require_tun() -> Result<(), Missing> {
    if !Path::new("/dev/net/tun").exists() {
        return Err(Missing::new(
            "/dev/net/tun",
            "load the tun module (`modprobe tun`) or give the container the TUN device",
        ));
    }
    require_tools(&[("ip", "iproute2"), ("ping", "iputils-ping")])
}

/// `iptables` with the u32 match and the nat table (a NAT router, dropping chosen IKE
/// messages) and `sysctl`.
pub fn require_iptables() -> Result<(), Missing> {
    require_tools(&[("iptables", "iptables"), ("sysctl", "procps")])
}

/// `tshark` and `tcpdump` for the wire check (an independent dissector decrypting
/// our packets with the keys ikev2d exports).
pub fn require_tshark() -> Result<(), Missing> {
    require_tools(&[("tshark", "tshark"), ("tcpdump", "tcpdump")])
}

/// `dnsmasq` as a local DNS server whose answers a test changes.
pub fn require_dnsmasq() -> Result<(), Missing> {
    require_tools(&[("dnsmasq", "dnsmasq-base")])
}

/// `iperf3` for bulk TCP through a tunnel.
pub fn require_iperf3() -> Result<(), Missing> {
    require_tools(&[("iperf3", "iperf3")])
}

/// strongSwan's `pki` tool, which makes the test certificates ([`crate::pki`]).
pub fn require_pki() -> Result<(), Missing> {
    require_tools(&[("pki", "strongswan-pki")])
}

/// charon, swanctl and the kernel-libipsec, openssl and gcm plugins.
pub fn require_strongswan() -> Result<(), Missing> {
    let install = format!("apt-get install --no-install-recommends {APT_PACKAGES}");
    if !Path::new(CHARON).exists() {
        return Err(Missing::new(CHARON, install));
    }
    if !cmd::run_args("sh", &["-c", "command -v swanctl"], DEFAULT_TIMEOUT).ok() {
        return Err(Missing::new("swanctl", install));
    }
    if !Path::new(KERNEL_LIBIPSEC).exists() {
        return Err(Missing::new("strongSwan's kernel-libipsec plugin", install));
    }
    for p in ["openssl", "gcm"] {
        let f = format!("/usr/lib/ipsec/plugins/libstrongswan-{p}.so");
        if !Path::new(&f).exists() {
            return Err(Missing::new(
                format!("strongSwan's {p} plugin ({f})"),
                install,
            ));
        }
    }
    Ok(())
}

/// Debian sid: strongSwan 6.1.0, with ML-KEM through its openssl plugin (OpenSSL 3.6).
pub const STRONGSWAN61_SUITE: &str = "sid";

/// Debian 13 "trixie", the current stable: strongSwan 6.0.1, classical additional key
/// exchanges only (no ML-KEM in its openssl plugin).
pub const STRONGSWAN601_SUITE: &str = "trixie";

/// A chroot with the strongSwan 6 of Debian `suite` ([`STRONGSWAN61_SUITE`],
/// [`STRONGSWAN601_SUITE`]) for
/// [`CharonOptions::chroot`](crate::CharonOptions::chroot): `scripts/strongswan6-chroot`
/// prints its path, building and caching it first if needed (debootstrap, about a
/// minute and 290 MB the first time).
pub fn require_strongswan6(suite: &str) -> Result<PathBuf, Missing> {
    require_root()?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/strongswan6-chroot");
    let script = script.to_string_lossy().into_owned();
    let o = cmd::run_args(&script, &[suite], Duration::from_secs(600));
    let dir = o.stdout.lines().last().map(PathBuf::from);
    match dir {
        Some(d) if o.ok() && d.join("usr/lib/ipsec/charon").is_file() => Ok(d),
        _ => {
            let tail: Vec<&str> = o.stderr.lines().collect();
            Err(Missing::new(
                format!(
                    "a strongSwan 6 chroot ({o}; stdout: {:?}; stderr ends: {})",
                    o.stdout.trim(),
                    tail[tail.len().saturating_sub(10)..].join(" | ")
                ),
                format!("run `sudo {script} {suite}` and see why it fails"),
            ))
        }
    }
}

/// The ikev2d binary: `$IKEV2D_BIN`, else the newer of `target/debug/ikev2d` and
/// `target/release/ikev2d` under `$CARGO_TARGET_DIR` or the workspace's `target/`.
/// scripts/test builds it (`cargo build -p ikev2d`) before the tests run.
pub fn ikev2d_binary() -> Result<PathBuf, Missing> {
    if let Some(p) = std::env::var_os("IKEV2D_BIN") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(Missing::new(
                format!("IKEV2D_BIN={} (no such file)", p.display()),
                "point IKEV2D_BIN at a built ikev2d",
            ))
        };
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || {
            let t = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target");
            t.canonicalize().unwrap_or(t)
        },
        PathBuf::from,
    );
    let newest = ["debug", "release"]
        .iter()
        .map(|p| target.join(p).join("ikev2d"))
        .filter_map(|p| {
            let m = p.metadata().ok()?.modified().ok()?;
            Some((m, p))
        })
        .max();
    newest.map(|(_, p)| p).ok_or_else(|| {
        Missing::new(
            format!(
                "the ikev2d binary (looked in {}/{{debug,release}})",
                target.display()
            ),
            "run `cargo build -p ikev2d` first or set IKEV2D_BIN",
        )
    })
}

/// Check prerequisites at the top of a test; on the first missing one, fail (CI) or
/// print a skip line and `return` from the test ([`require`]).
///
/// ```ignore
/// interop_tests::require!(require_root(), require_tun(), require_strongswan());
/// ```
#[macro_export]
macro_rules! require {
    ($($check:expr),+ $(,)?) => {
        $(
            if $crate::prereq::require(concat!(module_path!(), ":", line!()), $check).is_none() {
                return;
            }
        )+
    };
}
