//! Reverse-path filtering: the kernel drops a packet that arrives on an interface
//! its route back to the source does not use (`rp_filter = 1`, strict). Decrypted
//! packets come in on the TUN device; when a route toward part of a child's
//! `remote_ts` points elsewhere (a more specific route out of the LAN, asymmetric
//! routing), they vanish after ikev2d counted them delivered. The daemon warns at
//! start when the TUN device filters strictly, and watches the kernel's own count
//! (`IPReversePathFilter` in /proc/net/netstat) while it runs.

use std::path::Path;

/// The effective `rp_filter` of interface `dev`: the larger of `all` and its own
/// (ip-sysctl.txt), from `/proc/sys/net/ipv4/conf` under `root`.
pub fn effective(root: &Path, dev: &str) -> Option<u8> {
    let read = |name: &str| -> Option<u8> {
        std::fs::read_to_string(root.join(name).join("rp_filter"))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    Some(read("all")?.max(read(dev)?))
}

/// The warning for strict filtering on the TUN device `dev`, if it applies.
pub fn warning(dev: &str, value: u8) -> Option<String> {
    (value == 1).then(|| {
        format!(
            "rp_filter is strict (1) on {dev}: the kernel drops decrypted packets from any \
             source it would not route back through {dev} (a more specific route toward \
             part of a child's remote_ts, asymmetric routing); set \
             net.ipv4.conf.{dev}.rp_filter=2 (loose) or 0 (the kernel applies the larger \
             of that and net.ipv4.conf.all.rp_filter)"
        )
    })
}

/// `IPReversePathFilter` of the `TcpExt:` lines of /proc/net/netstat's text.
pub fn parse_netstat(text: &str) -> Option<u64> {
    let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let names = lines.next()?;
    let values = lines.next()?;
    let i = names
        .split_whitespace()
        .position(|n| n == "IPReversePathFilter")?;
    values.split_whitespace().nth(i)?.parse().ok()
}

/// The kernel's count of packets dropped by reverse-path filtering in this network
/// namespace.
pub fn dropped() -> Option<u64> {
    parse_netstat(&std::fs::read_to_string("/proc/net/netstat").ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_netstat_counter_and_the_sysctls() {
        let text = "TcpExt: SyncookiesSent IPReversePathFilter TCPTimeouts\n\
                    TcpExt: 0 17 3\n\
                    IpExt: InNoRoutes\nIpExt: 0\n";
        assert_eq!(parse_netstat(text), Some(17));
        assert_eq!(parse_netstat("IpExt: A\nIpExt: 1\n"), None);
        let dir = tempfile::tempdir().expect("tempdir");
        for (dev, v) in [("all", "0"), ("ipsec0", "1"), ("eth0", "2")] {
            std::fs::create_dir_all(dir.path().join(dev)).expect("dir");
            std::fs::write(dir.path().join(dev).join("rp_filter"), format!("{v}\n"))
                .expect("write");
        }
        assert_eq!(effective(dir.path(), "ipsec0"), Some(1));
        assert_eq!(effective(dir.path(), "eth0"), Some(2));
        assert_eq!(effective(dir.path(), "nope"), None);
        assert!(
            warning("ipsec0", 1).is_some_and(|w| w.contains("net.ipv4.conf.ipsec0.rp_filter=2"))
        );
        assert_eq!(warning("ipsec0", 2), None);
    }

    #[test]
    fn rises_are_reported_at_most_once_a_minute() {
        let t0 = std::time::Instant::now();
        let s = std::time::Duration::from_secs;
        let mut w = RpWatch::default();
        assert_eq!(w.observe(100, t0), None, "the base");
        assert_eq!(w.observe(100, t0 + s(5)), None);
        assert_eq!(w.observe(103, t0 + s(10)), Some(3));
        assert_eq!(w.observe(110, t0 + s(15)), None, "held off");
        assert_eq!(w.observe(111, t0 + s(75)), Some(1));
        assert_eq!(w.total, 11);
    }
}

/// The kernel's count looked at now and then: what it rose by since the last look.
#[derive(Debug, Default)]
pub struct RpWatch {
    last: Option<u64>,
    /// Risen since the daemon started.
    pub total: u64,
    warned_at: Option<std::time::Instant>,
}

/// At most one warning per this long.
pub const WARN_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

impl RpWatch {
    /// Takes the kernel's count `now`; the rise to warn about, if one is due (the
    /// first look only sets the base).
    pub fn observe(&mut self, count: u64, now: std::time::Instant) -> Option<u64> {
        let rise = self.last.map(|l| count.saturating_sub(l));
        self.last = Some(count);
        let rise = rise.filter(|r| *r > 0)?;
        self.total += rise;
        if self
            .warned_at
            .is_some_and(|t| now.duration_since(t) < WARN_EVERY)
        {
            return None;
        }
        self.warned_at = Some(now);
        Some(rise)
    }
}
