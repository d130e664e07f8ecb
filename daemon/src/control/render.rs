//! The plain-text form of `ikev2d status`: one block per connection, laid out like
//! `swanctl --list-sas` but in aligned columns.
//!
//! ```text
//! site-b: ESTABLISHED, 192.0.2.1[4500] <-> 198.51.100.2[4500], NAT detected
//!   IKE   0123456789abcdef_i fedcba9876543210_r  aes256-sha256-modp2048  established 3h08m20s  rekeys 2
//!   auth: peer ECDSA with SHA-256, certificate CN=gw-b; us pre-shared key
//!   CHILD  STATE      SPI IN    SPI OUT   PROPOSAL     MTU   LOCAL === REMOTE              IN                 OUT               SA IN             SA OUT           REKEYS
//!   net    INSTALLED  c1a2b3c4  d4e5f6a7  aes256gcm16  1400  10.1.0.0/24 === 10.2.0.0/24  1.2 MiB, 1034 pkt  340 KiB, 987 pkt  200 KiB, 100 pkt  50 KiB, 40 pkt   1
//!   last error: IKE_AUTH: PSK mismatch (2026-11-23 14:00:00 UTC, 5m ago)
//! ```
//!
//! Pure: the caller passes the current time, so the output is deterministic.

use std::fmt::Write as _;

use super::proto::{ChildStatus, ConnState, ConnStatus, LastError, StatusReport};

/// Renders the whole report. `now_unix` (seconds since the Unix epoch) is used for
/// the age of `last_error`.
pub fn render_status(report: &StatusReport, now_unix: u64) -> String {
    let mut out = String::new();
    if report.connections.is_empty() {
        out.push_str("no connections configured\n");
        return out;
    }
    let count = |s| report.connections.iter().filter(|c| c.state == s).count();
    let _ = writeln!(
        out,
        "{} connection(s): {} established, {} connecting, {} down",
        report.connections.len(),
        count(ConnState::Established),
        count(ConnState::Connecting),
        count(ConnState::Down),
    );
    for conn in &report.connections {
        out.push('\n');
        render_connection(&mut out, conn, now_unix);
    }
    if let Some(k) = &report.key_export {
        out.push('\n');
        match (k.active, k.remaining_secs) {
            (true, Some(s)) => {
                let _ = writeln!(
                    out,
                    "key export: ON to {} ({} left): new SAs' keys are written there",
                    k.dir,
                    duration(s)
                );
            }
            (true, None) => {
                let _ = writeln!(out, "key export: ON to {}", k.dir);
            }
            (false, _) => {
                let _ = writeln!(
                    out,
                    "key export: off ({} configured; `ikev2d debug key-export on`)",
                    k.dir
                );
            }
        }
    }
    if !report.counters.is_empty() {
        out.push('\n');
        let _ = writeln!(out, "counters: {}", pairs(&report.counters));
    }
    out
}

/// `a 1, b 2` for the non-zero counters of a map.
fn pairs(m: &std::collections::BTreeMap<String, u64>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The block of one connection: header, IKE SA line, child table, last error.
pub fn render_connection(out: &mut String, conn: &ConnStatus, now_unix: u64) {
    let _ = write!(
        out,
        "{}: {}, {} <-> {}",
        conn.name,
        state_name(conn.state),
        conn.local,
        conn.remote
    );
    if conn.nat_detected {
        out.push_str(", NAT detected");
    }
    out.push('\n');
    if let Some(bg) = &conn.break_glass {
        match (bg.active, bg.remaining_secs) {
            (true, Some(s)) => {
                let _ = writeln!(
                    out,
                    "  BREAK-GLASS ACTIVE: {} left of {}",
                    duration(s),
                    duration(bg.ttl_secs)
                );
            }
            _ => {
                let _ = writeln!(
                    out,
                    "  break-glass: not active (`ikev2d break-glass {}` with both custodians)",
                    conn.name
                );
            }
        }
    }
    if let Some(ike) = &conn.ike_sa {
        let _ = writeln!(
            out,
            "  IKE  {}_i {}_r  {}  established {}  rekeys {}",
            ike.spi_i,
            ike.spi_r,
            ike.proposal,
            duration(ike.established_secs),
            ike.rekeys
        );
        if !ike.remote_auth.is_empty() {
            let _ = writeln!(
                out,
                "  auth: peer {}; us {}",
                ike.remote_auth, ike.local_auth
            );
        }
    }
    if !conn.children.is_empty() {
        let mut rows = vec![
            [
                "CHILD",
                "STATE",
                "SPI IN",
                "SPI OUT",
                "PROPOSAL",
                "MTU",
                "LOCAL === REMOTE",
                "IN",
                "OUT",
                "SA IN",
                "SA OUT",
                "REKEYS",
            ]
            .map(str::to_owned)
            .to_vec(),
        ];
        rows.extend(conn.children.iter().map(child_row));
        table(out, "  ", &rows);
        for c in conn.children.iter().filter(|c| !c.drops.is_empty()) {
            let _ = writeln!(out, "  {} drops: {}", c.name, pairs(&c.drops));
        }
        for c in &conn.children {
            if let Some(w) = &c.warning {
                let _ = writeln!(out, "  {} WARNING: {w}", c.name);
            }
            for w in &c.unanswered_tcp {
                let _ = writeln!(out, "  {} WARNING: {w}", c.name);
            }
        }
    }
    if let Some(w) = &conn.warning {
        let _ = writeln!(out, "  WARNING: {w}");
    }
    if let Some(p) = &conn.pair {
        let _ = writeln!(
            out,
            "  pair: {}{}, {}",
            p.role,
            if p.role == "primary" {
                String::new()
            } else {
                format!(" of {}", p.primary)
            },
            if p.active {
                "carrying the traffic"
            } else {
                "idle"
            }
        );
    }
    if conn.peer_mapping_changes > 0 {
        let _ = writeln!(
            out,
            "  peer NAT mapping changes: {} (IKE and ESP followed)",
            conn.peer_mapping_changes
        );
    }
    if let Some(k) = &conn.keep_alive {
        let _ = writeln!(
            out,
            "  keep_alive: {} s{}, NAT mapping losses: {}",
            k.secs,
            if k.auto { " (auto)" } else { "" },
            k.mapping_losses
        );
        if let (Some(l), Some(ago)) = (&k.last_loss, k.last_loss_secs_ago) {
            let _ = writeln!(out, "  last NAT mapping loss {} ago: {l}", duration(ago));
        }
    }
    if conn.remotes.len() > 1 {
        let list: Vec<String> = conn.remotes.iter().map(remote_entry).collect();
        let _ = writeln!(out, "  remote_addrs: {}", list.join(", "));
    }
    if let Some(f) = &conn.last_failover {
        let _ = writeln!(
            out,
            "  failovers: {}, last: {}",
            conn.failovers,
            last_error(f, now_unix).trim_start_matches("failover: ")
        );
    }
    if let Some(e) = &conn.last_error {
        let _ = writeln!(out, "  last error: {}", last_error(e, now_unix));
    }
}

/// `ikev2d ping`'s output, in ping's own layout.
pub fn render_ping(r: &super::proto::PingReport) -> String {
    let mut out = String::new();
    let through = format!("{}/{}", r.conn, r.child);
    if r.replies.is_empty() {
        match r.sweep {
            Some(s) => {
                let _ = writeln!(
                    out,
                    "largest packet from {} to {} through {through} with DF: {} octets (ICMP \
                     payload {}): usable inner MTU {}, TCP MSS {}",
                    r.from, r.to, s.mtu, s.largest_payload, s.mtu, s.mss
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "no packet from {} to {} through {through} got an answer, not even a small \
                     one: check `ikev2d status` for a one-way warning, the peer's firewall and \
                     its routes back",
                    r.from, r.to
                );
            }
        }
        return out;
    }
    let _ = writeln!(
        out,
        "PING {} from {} through {through}: {} data bytes",
        r.to, r.from, r.size
    );
    for (seq, rtt) in &r.replies {
        match rtt {
            Some(ms) => {
                let _ = writeln!(
                    out,
                    "{} bytes from {}: icmp_seq={seq} time={ms:.2} ms",
                    u32::from(r.size) + 8,
                    r.to
                );
            }
            None => {
                let _ = writeln!(out, "no answer to icmp_seq={seq}");
            }
        }
    }
    let sent = r.replies.len();
    let got = r.received();
    let loss = ((sent - got) * 100).checked_div(sent).unwrap_or(0);
    let _ = writeln!(out, "--- {} ping through {through} ---", r.to);
    let _ = writeln!(
        out,
        "{sent} packets transmitted, {got} received, {loss}% packet loss"
    );
    out
}

/// `198.51.100.3 (in use)`, `198.51.100.2 (failed 42s ago: IKE_SA_INIT: ...)`.
fn remote_entry(r: &super::proto::RemoteAddrStatus) -> String {
    let mut notes = Vec::new();
    if r.in_use {
        notes.push("in use".to_owned());
    }
    if let (Some(result), Some(ago)) = (&r.last_result, r.last_result_secs_ago) {
        if !(r.in_use && result == "established") {
            notes.push(match result.split_once(": ") {
                Some((word, why)) => format!("{word} {} ago: {why}", duration(ago)),
                None => format!("{result} {} ago", duration(ago)),
            });
        }
    }
    let addr = match &r.name {
        Some(n) => format!("{n}={}", r.addr),
        None => r.addr.clone(),
    };
    if notes.is_empty() {
        return addr;
    }
    format!("{addr} ({})", notes.join(", "))
}

fn child_row(c: &ChildStatus) -> Vec<String> {
    let dash = |s: &str| {
        if s.is_empty() {
            "-".to_owned()
        } else {
            s.to_owned()
        }
    };
    let ts = |l: &[String]| {
        if l.is_empty() {
            "-".to_owned()
        } else {
            l.join(",")
        }
    };
    vec![
        c.name.clone(),
        c.state.clone(),
        dash(&c.spi_in),
        dash(&c.spi_out),
        dash(&c.proposal),
        mtu(c),
        format!("{} === {}", ts(&c.local_ts), ts(&c.remote_ts)),
        traffic(c.bytes_in, c.packets_in),
        traffic(c.bytes_out, c.packets_out),
        traffic(c.sa_bytes_in, c.sa_packets_in),
        traffic(c.sa_bytes_out, c.sa_packets_out),
        c.rekeys.to_string(),
    ]
}

/// The child's inner MTU, with the path MTU when something was learned about it:
/// `1400`, `1238 (path 1300, icmp)`.
fn mtu(c: &ChildStatus) -> String {
    match (c.mtu, c.path_mtu, c.path_mtu_source.as_deref()) {
        (None, ..) => "-".to_owned(),
        (Some(m), Some(p), Some(src)) if src != "configured" => format!("{m} (path {p}, {src})"),
        (Some(m), ..) => m.to_string(),
    }
}

/// `IKE_AUTH: PSK mismatch (2026-11-23 14:00:00 UTC, 5m ago)`.
pub fn last_error(e: &LastError, now_unix: u64) -> String {
    let mut s = format!("{}: {} ({}", e.phase, e.reason, utc(e.at_unix));
    if now_unix >= e.at_unix {
        let _ = write!(s, ", {} ago", duration(now_unix - e.at_unix));
    }
    s.push(')');
    s
}

fn state_name(s: ConnState) -> &'static str {
    match s {
        ConnState::Down => "DOWN",
        ConnState::Connecting => "CONNECTING",
        ConnState::Established => "ESTABLISHED",
    }
}

/// `1.2 MiB, 1034 pkt`.
pub fn traffic(bytes: u64, packets: u64) -> String {
    format!("{}, {} pkt", human_bytes(bytes), human_count(packets))
}

/// Bytes in binary units with one decimal below 10 (`0 B`, `999 B`, `1.5 KiB`,
/// `340 KiB`, `12 GiB`).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut unit = 0;
    let mut v = n as f64;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if v < 10.0 {
        format!("{v:.1} {}", UNITS[unit])
    } else {
        format!("{v:.0} {}", UNITS[unit])
    }
}

/// Counts exact up to 99999, then `123k`, `4.5M`, `12G`.
pub fn human_count(n: u64) -> String {
    if n < 100_000 {
        return n.to_string();
    }
    let (v, unit) = if n < 1_000_000 {
        (n as f64 / 1e3, "k")
    } else if n < 1_000_000_000 {
        (n as f64 / 1e6, "M")
    } else {
        (n as f64 / 1e9, "G")
    };
    if v < 10.0 {
        format!("{v:.1}{unit}")
    } else {
        format!("{v:.0}{unit}")
    }
}

/// `45s`, `3m05s`, `3h08m20s`, `2d03h`.
pub fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d{h:02}h")
    } else if h > 0 {
        format!("{h}h{m:02}m{s:02}s")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

/// `2026-11-23 14:00:00 UTC`.
pub fn utc(unix: u64) -> String {
    let days = unix / 86_400;
    let rem = unix % 86_400;
    let (y, mo, d) = civil_from_days(days);
    format!(
        "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard
/// Hinnant's `civil_from_days`, for non-negative day counts).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// Left-aligned columns separated by two spaces, each line prefixed by `indent`,
/// without trailing spaces.
fn table(out: &mut String, indent: &str, rows: &[Vec<String>]) {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut line = String::from(indent);
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(cell);
            if i + 1 < row.len() {
                let pad = widths[i].saturating_sub(cell.chars().count());
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::proto::IkeSaStatus;

    fn child(name: &str) -> ChildStatus {
        ChildStatus {
            name: name.into(),
            state: "INSTALLED".into(),
            spi_in: "c1a2b3c4".into(),
            spi_out: "d4e5f6a7".into(),
            proposal: "aes256gcm16".into(),
            algorithms: String::new(),
            local_ts: vec!["10.1.0.0/24".into()],
            remote_ts: vec!["10.2.0.0/24".into(), "10.3.0.0/16".into()],
            bytes_in: 1_258_291,
            bytes_out: 348_160,
            packets_in: 1034,
            packets_out: 987,
            sa_bytes_in: 204_800,
            sa_bytes_out: 51_200,
            sa_packets_in: 100,
            sa_packets_out: 40,
            rekeys: 1,
            drops: Default::default(),
            mtu: Some(1400),
            path_mtu: Some(1500),
            path_mtu_source: Some("configured".into()),
            last_inbound_secs: None,
            last_outbound_secs: None,
            warning: None,
            unanswered_tcp: Vec::new(),
        }
    }

    fn report() -> StatusReport {
        StatusReport {
            connections: vec![
                ConnStatus {
                    name: "site-b".into(),
                    state: ConnState::Established,
                    local: "192.0.2.1[4500]".into(),
                    remote: "198.51.100.2[4500]".into(),
                    nat_detected: true,
                    ike_sa: Some(IkeSaStatus {
                        spi_i: "0123456789abcdef".into(),
                        spi_r: "fedcba9876543210".into(),
                        proposal: "aes256-sha256-modp2048".into(),
                        algorithms: String::new(),
                        local_auth: String::new(),
                        remote_auth: String::new(),
                        established_secs: 11_300,
                        rekeys: 2,
                        local: "192.0.2.1:4500".into(),
                        remote: "198.51.100.2:4500".into(),
                    }),
                    children: vec![child("net"), child("voice-long-name")],
                    last_error: None,
                    ..Default::default()
                },
                ConnStatus {
                    name: "site-c".into(),
                    state: ConnState::Down,
                    local: "192.0.2.1".into(),
                    remote: "203.0.113.9".into(),
                    nat_detected: false,
                    ike_sa: None,
                    children: vec![ChildStatus {
                        state: "DOWN".into(),
                        spi_in: String::new(),
                        spi_out: String::new(),
                        proposal: String::new(),
                        algorithms: String::new(),
                        bytes_in: 0,
                        bytes_out: 0,
                        packets_in: 0,
                        packets_out: 0,
                        sa_bytes_in: 0,
                        sa_bytes_out: 0,
                        sa_packets_in: 0,
                        sa_packets_out: 0,
                        rekeys: 0,
                        ..child("lan")
                    }],
                    last_error: Some(LastError {
                        phase: "IKE_AUTH".into(),
                        reason: "PSK mismatch".into(),
                        at_unix: 1_795_960_800, // 2026-11-29 14:00:00 UTC
                    }),
                    ..Default::default()
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn renders_every_field() {
        let s = render_status(&report(), 1_795_960_800 + 300);
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(
            lines[0],
            "2 connection(s): 1 established, 0 connecting, 1 down"
        );
        assert_eq!(
            lines[2],
            "site-b: ESTABLISHED, 192.0.2.1[4500] <-> 198.51.100.2[4500], NAT detected"
        );
        assert_eq!(
            lines[3],
            "  IKE  0123456789abcdef_i fedcba9876543210_r  aes256-sha256-modp2048  established 3h08m20s  rekeys 2"
        );
        assert!(lines[4].starts_with("  CHILD            STATE      SPI IN    SPI OUT"));
        let net = lines[5];
        for want in [
            "net ",
            "INSTALLED",
            "c1a2b3c4",
            "d4e5f6a7",
            "aes256gcm16",
            "10.1.0.0/24 === 10.2.0.0/24,10.3.0.0/16",
            "1.2 MiB, 1034 pkt",
            "340 KiB, 987 pkt",
            "200 KiB, 100 pkt",
            "50 KiB, 40 pkt",
        ] {
            assert!(net.contains(want), "{want:?} missing in {net:?}");
        }
        assert!(net.ends_with("  1"), "{net:?}");
        assert!(lines[6].starts_with("  voice-long-name  INSTALLED"));
        // columns line up: every child row has its state where the header has STATE
        let col = lines[4].find("STATE").expect("header");
        assert_eq!(lines[5].find("INSTALLED"), Some(col));
        assert_eq!(lines[6].find("INSTALLED"), Some(col));

        assert_eq!(lines[8], "site-c: DOWN, 192.0.2.1 <-> 203.0.113.9");
        assert!(!s.contains("site-c: DOWN, 192.0.2.1 <-> 203.0.113.9, NAT"));
        assert!(
            lines[10].starts_with("  lan    DOWN   -       -        -"),
            "{:?}",
            lines[10]
        );
        assert!(lines[10].contains("0 B, 0 pkt"));
        assert_eq!(
            lines[11],
            "  last error: IKE_AUTH: PSK mismatch (2026-11-29 14:00:00 UTC, 5m00s ago)"
        );
        assert!(s.lines().all(|l| l == l.trim_end()), "trailing spaces");
    }

    #[test]
    fn how_both_sides_authenticated_follows_the_ike_line() {
        let mut r = report();
        let ike = r.connections[0].ike_sa.as_mut().expect("ike");
        ike.remote_auth = "RSASSA-PSS with SHA-384, certificate CN=gw-b".into();
        ike.local_auth = "ECDSA with SHA-256, certificate CN=gw-a".into();
        let s = render_status(&r, 1_795_961_100);
        let lines: Vec<&str> = s.lines().collect();
        assert!(lines[3].starts_with("  IKE  "), "{s}");
        assert_eq!(
            lines[4],
            "  auth: peer RSASSA-PSS with SHA-384, certificate CN=gw-b; us ECDSA with SHA-256, certificate CN=gw-a"
        );
    }

    #[test]
    fn several_remote_addrs_and_failovers_are_shown() {
        use super::super::proto::RemoteAddrStatus;
        let mut r = report();
        let c = &mut r.connections[0];
        c.remotes = vec![
            RemoteAddrStatus {
                addr: "198.51.100.9".into(),
                name: None,
                in_use: false,
                last_result: Some("failed: INFORMATIONAL: stopped answering (DPD)".into()),
                last_result_secs_ago: Some(42),
            },
            RemoteAddrStatus {
                addr: "198.51.100.2".into(),
                name: None,
                in_use: true,
                last_result: Some("established".into()),
                last_result_secs_ago: Some(30),
            },
            RemoteAddrStatus {
                addr: "198.51.100.7".into(),
                name: Some("gw3.example".into()),
                in_use: false,
                last_result: None,
                last_result_secs_ago: None,
            },
        ];
        c.failovers = 1;
        c.warning = Some("flapping: re-established 6 times in the last hour".into());
        c.pair = Some(super::super::proto::PairStatus {
            primary: "site-b".into(),
            role: "hot standby".into(),
            active: true,
        });
        c.last_failover = Some(LastError {
            phase: "failover".into(),
            reason: "198.51.100.9 stopped answering (DPD), now using 198.51.100.2 after 4.2 s"
                .into(),
            at_unix: 1_795_960_800,
        });
        let s = render_status(&r, 1_795_960_800 + 60);
        assert!(
            s.contains(
                "\n  remote_addrs: 198.51.100.9 (failed 42s ago: INFORMATIONAL: stopped \
                 answering (DPD)), 198.51.100.2 (in use), gw3.example=198.51.100.7\n"
            ),
            "{s}"
        );
        assert!(
            s.contains(
                "\n  failovers: 1, last: 198.51.100.9 stopped answering (DPD), now using \
                 198.51.100.2 after 4.2 s (2026-11-29 14:00:00 UTC, 1m00s ago)\n"
            ),
            "{s}"
        );
        assert!(
            s.contains("\n  pair: hot standby of site-b, carrying the traffic\n")
                && s.contains("\n  WARNING: flapping: re-established 6 times in the last hour\n"),
            "{s}"
        );
        // One address: no list.
        r.connections[0].remotes.truncate(1);
        assert!(!render_status(&r, 0).contains("remote_addrs:"));
        // Behind a NAT that dropped the mapping once; auto lowered the interval.
        assert!(!render_status(&r, 0).contains("keep_alive:"));
        r.connections[0].keep_alive = Some(super::super::proto::KeepAliveStatus {
            secs: 10,
            auto: true,
            mapping_losses: 1,
            last_loss: Some("the NAT between us and the peer dropped our UDP mapping".into()),
            last_loss_secs_ago: Some(75),
            last_loss_silence_secs: Some(20),
        });
        let s = render_status(&r, 0);
        assert!(
            s.contains(
                "\n  keep_alive: 10 s (auto), NAT mapping losses: 1\n  last NAT mapping loss \
                 1m15s ago: the NAT between us and the peer dropped our UDP mapping\n"
            ),
            "{s}"
        );
    }

    #[test]
    fn ping_output_reads_like_ping() {
        let mut r = crate::control::proto::PingReport {
            conn: "lab".into(),
            child: "net".into(),
            from: "10.1.0.1".into(),
            to: "10.2.0.1".into(),
            size: 56,
            replies: vec![(1, Some(1.234)), (2, None)],
            sweep: None,
        };
        let s = render_ping(&r);
        assert_eq!(
            s,
            "PING 10.2.0.1 from 10.1.0.1 through lab/net: 56 data bytes\n\
             64 bytes from 10.2.0.1: icmp_seq=1 time=1.23 ms\n\
             no answer to icmp_seq=2\n\
             --- 10.2.0.1 ping through lab/net ---\n\
             2 packets transmitted, 1 received, 50% packet loss\n"
        );
        r.replies.clear();
        assert!(render_ping(&r).contains("not even a small one"));
        r.sweep = Some(crate::control::proto::Sweep {
            largest_payload: 1210,
            mtu: 1238,
            mss: 1198,
        });
        assert!(render_ping(&r).contains("usable inner MTU 1238, TCP MSS 1198"));
    }

    #[test]
    fn drops_and_counters_are_shown_when_not_zero() {
        let mut r = report();
        r.connections[0].children[0]
            .drops
            .extend([("replay".to_owned(), 3), ("icv".to_owned(), 1)]);
        r.counters.extend([
            ("ike_received".to_owned(), 12),
            ("esp_in_no_sa".to_owned(), 4),
        ]);
        r.connections[0].children[1].warning =
            Some("sending to 10.2.0.0/24 but nothing comes back for 45 s".into());
        let s = render_status(&r, 0);
        assert!(s.contains("\n  net drops: icv 1, replay 3\n"), "{s}");
        assert!(
            s.contains("\n  voice-long-name WARNING: sending to 10.2.0.0/24 but nothing comes back for 45 s\n"),
            "{s}"
        );
        assert!(!s.contains("voice-long-name drops"), "{s}");
        assert!(
            s.ends_with("\ncounters: esp_in_no_sa 4, ike_received 12\n"),
            "{s}"
        );
        let plain = render_status(&report(), 0);
        assert!(!plain.contains("drops:") && !plain.contains("counters:"));
    }

    #[test]
    fn empty_report() {
        assert_eq!(
            render_status(&StatusReport::default(), 0),
            "no connections configured\n"
        );
    }

    #[test]
    fn units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1024), "1.0 KiB");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(348_160), "340 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
        assert_eq!(human_bytes(u64::MAX), "16 EiB");
        assert_eq!(human_count(99_999), "99999");
        assert_eq!(human_count(123_456), "123k");
        assert_eq!(human_count(4_500_000), "4.5M");
        assert_eq!(human_count(450_000_000), "450M");
        assert_eq!(human_count(u64::MAX), "18446744074G");
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(185), "3m05s");
        assert_eq!(duration(11_300), "3h08m20s");
        assert_eq!(duration(2 * 86_400 + 3 * 3600 + 59), "2d03h");
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_795_960_800), "2026-11-29 14:00:00 UTC");
        // far future must not panic
        let _ = utc(u64::MAX);
    }

    #[test]
    fn error_in_the_future_has_no_age() {
        let e = LastError {
            phase: "IKE_SA_INIT".into(),
            reason: "no proposal chosen".into(),
            at_unix: 100,
        };
        assert_eq!(
            last_error(&e, 50),
            "IKE_SA_INIT: no proposal chosen (1970-01-01 00:01:40 UTC)"
        );
    }
}
