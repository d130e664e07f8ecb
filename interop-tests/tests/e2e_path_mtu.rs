//! Path MTU end to end (issue 15): two ikev2d with ESP in UDP, default MTU settings,
//! joined through two routers whose middle link shrinks to 1300 octets mid-life
//! and drops IP fragments (`RoutedPair::far_link`). The routers' ICMP
//! "fragmentation needed" reaches the gateways: they learn the path MTU, answer
//! inner DF packets with the smaller inner MTU, and TCP keeps flowing both ways.

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use interop_tests::ikev2d::conn_of;
use interop_tests::prereq::{
    ikev2d_binary, require_iperf3, require_root, require_strongswan, require_tun,
};
use interop_tests::strongswan::wait_agreed;
use interop_tests::topology::{INNER_A, INNER_B, PRIVATE_A};
use interop_tests::{Charon, ConnSpec, Ikev2d, Ikev2dConfig, RoutedPair, TimeBound, ping, require};
use serde_json::Value;

/// Bits per second of a 3-second iperf3 TCP run from A to B (`reverse`: B to A),
/// the server's log in `dir`.
fn iperf(net: &RoutedPair, dir: &Path, reverse: bool) -> f64 {
    iperf_between(net, dir, INNER_A, INNER_B, reverse)
}

/// [`iperf`] between any inner addresses of A (`src`) and B (`dst`).
fn iperf_between(net: &RoutedPair, dir: &Path, src: IpAddr, dst: IpAddr, reverse: bool) -> f64 {
    interop_tests::iperf::tcp((&net.a, src), (&net.b, dst), 3, reverse, dir).bits_per_second()
}

/// `ping` in A from `src` to `dst`: `count` packets with `size` octets of ICMP
/// payload, DF set (`-M do`) or not (`-M dont`), 0.3 s apart.
fn sized_ping(
    net: &RoutedPair,
    src: IpAddr,
    dst: IpAddr,
    size: u64,
    count: u32,
    df: bool,
) -> interop_tests::cmd::Output {
    let (size, count, src, dst) = (
        size.to_string(),
        count.to_string(),
        src.to_string(),
        dst.to_string(),
    );
    let mode = if df { "do" } else { "dont" };
    net.a.exec(
        &[
            "ping", "-M", mode, "-s", &size, "-c", &count, "-i", "0.3", "-W", "2", "-I", &src, &dst,
        ],
        Duration::from_secs(15),
    )
}

/// Connection `lab` from A over a [`RoutedPair`] (no NAT: A's own address), ESP in
/// UDP or raw ESP.
fn routed_conn(encap: bool) -> ConnSpec {
    let mut conn = ConnSpec::site_a();
    conn.local_addr = PRIVATE_A;
    conn.local_id = PRIVATE_A.to_string();
    conn.encap = encap;
    conn
}

/// ikev2d on both ends of `net` with `conn` (A's view, default settings), the tunnel
/// brought up from A: (A, B).
fn ikev2d_pair(net: &RoutedPair, conn: ConnSpec) -> (Ikev2d, Ikev2d) {
    let b = Ikev2d::start(&net.b, &Ikev2dConfig::new(vec![conn.mirrored()]));
    let a = Ikev2d::start(&net.a, &Ikev2dConfig::new(vec![conn]));
    assert!(
        a.up("lab", Duration::from_secs(20)).ok(),
        "up:\n{}",
        a.log_tail(20)
    );
    (a, b)
}

/// The child's status once `pred` holds (or the last one after `timeout`).
fn wait_child(d: &Ikev2d, timeout: Duration, pred: impl Fn(&Value) -> bool) -> (Value, bool) {
    let end = Instant::now() + timeout;
    loop {
        let c = conn_of(&d.status_json(), "lab")
            .map(|c| c["children"][0].clone())
            .unwrap_or(Value::Null);
        if pred(&c) {
            return (c, true);
        }
        if Instant::now() >= end {
            return (c, false);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn counter(d: &Ikev2d, name: &str) -> u64 {
    d.status_json()["counters"][name].as_u64().unwrap_or(0)
}

#[test]
fn ikev2d_pair_learns_a_smaller_path_mtu_from_icmp_and_tcp_flows_both_ways() {
    require!(
        require_root(),
        require_tun(),
        ikev2d_binary(),
        require_iperf3()
    );
    let _bound = TimeBound::alone("path_mtu_icmp", Duration::from_secs(180));
    // AES-GCM-256 over IPv4 on a 1300-octet path: 1300 - 20 (IP) - 8 (UDP, in UDP
    // only) - 8 (ESP) - 8 (IV) - 16 (ICV) leaves 1240 or 1248; minus the 2 trailer
    // octets and aligned to 4: 1238 in UDP, 1246 raw.
    learns_from_icmp(true, 1238);
    learns_from_icmp(false, 1246);
}

fn learns_from_icmp(encap: bool, inner: u64) {
    let label = if encap { "ESP in UDP" } else { "raw ESP" };
    let net = RoutedPair::new();
    let (mut a, mut b) = ikev2d_pair(&net, routed_conn(encap));
    let (c, ok) = wait_child(&a, Duration::from_secs(5), |c| c["mtu"] == 1400);
    assert!(ok, "{label}: default inner MTU is not 1400: {c}");
    let before = iperf(&net, b.dir(), false);
    assert!(
        before > 0.0,
        "no TCP through the tunnel before the path shrank"
    );

    net.far_link(1300);
    // A DF ping of 1400 octets: the first is lost on the far link and brings the
    // router's ICMP (A learns 1300); the next ones are answered by ikev2d with
    // "fragmentation needed" naming the inner MTU.
    let out = sized_ping(&net, INNER_A, INNER_B, 1372, 4, true);
    let (c, ok) = wait_child(&a, Duration::from_secs(5), |c| {
        c["path_mtu"] == 1300 && c["path_mtu_source"] == "icmp" && c["mtu"] == inner
    });
    assert!(
        ok,
        "{label}: A did not learn the path MTU: {c}\nping: {out}\n{}",
        a.log_tail(20)
    );
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(
        text.contains(&format!("mtu = {inner}")) || text.contains(&format!("mtu={inner}")),
        "{label}: no frag-needed naming {inner} from the tunnel: {text}"
    );
    assert!(counter(&a, "esp_pmtu_applied") >= 1, "{}", a.status_json());
    assert!(
        counter(&a, "esp_out_too_big_sent") >= 1,
        "{}",
        a.status_json()
    );
    // A DF ping that fits the inner MTU passes.
    let fits = sized_ping(&net, INNER_A, INNER_B, inner - 28, 3, true);
    assert!(
        fits.stdout.contains("3 received"),
        "{label}: DF ping of {inner} lost: {fits}"
    );
    assert_eq!(ping(&net.a, INNER_A, INNER_B, 2), 2, "small pings lost");
    // Without DF a 1400-octet packet is fragmented before encryption (the reply's
    // first copy may be lost while B learns the path, as A's request was). A's kernel
    // forgets the inner MTU it learned from our ICMP first, or it would fragment itself.
    net.a.run_ok(&["ip", "route", "flush", "cache"]);
    let nodf = sized_ping(&net, INNER_A, INNER_B, 1372, 4, false);
    let received = interop_tests::ping::parse_received(&nodf.stdout).unwrap_or(0);
    assert!(received >= 2, "pings of 1400 without DF: {nodf}");
    assert!(
        counter(&a, "esp_out_fragmented_inner") >= 4,
        "{}",
        a.status_json()
    );

    let after = iperf(&net, b.dir(), false);
    let reverse = iperf(&net, b.dir(), true);
    eprintln!(
        "{label}: TCP A->B: {:.0} Mbit/s at path MTU 1500, {:.0} Mbit/s at 1300; B->A at 1300: {:.0} Mbit/s; fragments dropped: {}",
        before / 1e6,
        after / 1e6,
        reverse / 1e6,
        net.fragments_dropped()
    );
    for (what, rate) in [("A->B", after), ("B->A", reverse)] {
        assert!(
            rate >= before * 0.3,
            "{label}: TCP {what} over the 1300-octet path: {:.1} Mbit/s, before: {:.1}\nA: {}\nB: {}",
            rate / 1e6,
            before / 1e6,
            a.log_tail(10),
            b.log_tail(10)
        );
    }
    a.stop_clean();
    b.stop_clean();
}

/// Sends from R1 to A an ICMP "fragmentation needed" naming `mtu` that quotes an ESP
/// in UDP packet from A to B with `spi` and `seq`.
const FORGE_ICMP: &str = r#"
import socket, struct, sys
mtu, spi, seq = int(sys.argv[1]), int(sys.argv[2], 16), int(sys.argv[3])
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
a, b = socket.inet_aton("172.16.0.2"), socket.inet_aton("192.0.2.2")
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 1464, 0, 0x4000, 63, 17, 0, a, b)
ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
udp = struct.pack("!HHHH", 4500, 4500, 1444, 0)
quote = ip + udp + struct.pack("!II", spi, seq)
icmp = struct.pack("!BBHHH", 3, 4, 0, 0, mtu) + quote
icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.sendto(icmp, ("172.16.0.2", 0))
"#;

/// Forged ICMP (an SPI we do not use, an MTU below 576, a sequence number we never
/// sent) changes nothing; the same ICMP with our SPI, a sequence number we sent and a
/// plausible MTU is applied (so the forged ones did reach the daemon).
#[test]
fn forged_icmp_too_big_changes_nothing() {
    require!(require_root(), require_tun(), ikev2d_binary());
    let _bound = TimeBound::new("path_mtu_forged_icmp", Duration::from_secs(90));
    let net = RoutedPair::new();
    let (mut a, mut b) = ikev2d_pair(&net, routed_conn(true));
    assert_eq!(
        ping(&net.a, INNER_A, INNER_B, 3),
        3,
        "pings through the tunnel"
    );
    let (c, _) = wait_child(&a, Duration::from_secs(2), |c| c["spi_out"].is_string());
    let spi = c["spi_out"].as_str().unwrap_or_default().to_owned();
    let forge = |mtu: &str, spi: &str, seq: &str| {
        net.r1
            .exec(
                &["python3", "-c", FORGE_ICMP, mtu, spi, seq],
                Duration::from_secs(10),
            )
            .expect_ok();
    };
    forge("1000", "deadbeef", "1");
    forge("68", &spi, "1");
    forge("1000", &spi, "2000000");
    let end = Instant::now() + Duration::from_secs(3);
    while counter(&a, "esp_pmtu_reports") < 3 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
    }
    let st = a.status_json();
    assert_eq!(counter(&a, "esp_pmtu_reports"), 3, "{st}");
    assert_eq!(counter(&a, "esp_pmtu_ignored"), 3, "{st}");
    assert_eq!(counter(&a, "esp_pmtu_applied"), 0, "{st}");
    let (c, ok) = wait_child(&a, Duration::from_secs(1), |c| {
        c["path_mtu"] == 1500 && c["path_mtu_source"] == "configured" && c["mtu"] == 1400
    });
    assert!(ok, "a forged ICMP changed the tunnel: {c}");
    assert_eq!(
        ping(&net.a, INNER_A, INNER_B, 2),
        2,
        "pings after the forged ICMP"
    );

    forge("1280", &spi, "2");
    let (c, ok) = wait_child(&a, Duration::from_secs(3), |c| {
        c["path_mtu"] == 1280 && c["path_mtu_source"] == "icmp"
    });
    assert!(
        ok,
        "a genuine-looking ICMP was not applied: {c}\n{}",
        a.log_tail(10)
    );
    a.stop_clean();
    b.stop_clean();
}

/// The same pair over a path that drops fragments and sends no ICMP at all: the
/// probe search finds the path MTU when the tunnel comes up, and TCP flows both ways.
#[test]
fn ikev2d_pair_finds_the_path_mtu_by_probing_when_icmp_is_filtered() {
    require!(
        require_root(),
        require_tun(),
        ikev2d_binary(),
        require_iperf3()
    );
    let _bound = TimeBound::alone("path_mtu_probe", Duration::from_secs(180));
    // 1460: a common cloud path, just below what a 1400-octet tunnel needs (1464).
    for link in [1300, 1460] {
        probing_finds(link);
    }
}

fn probing_finds(link: u64) {
    let net = RoutedPair::new();
    net.far_link(link as u16);
    net.filter_icmp();
    let started = Instant::now();
    let (mut a, mut b) = ikev2d_pair(&net, routed_conn(true));
    // Both sides search (each installs a CHILD SA toward the other).
    let mut found = Vec::new();
    for (who, d) in [("A", &a), ("B", &b)] {
        let (c, ok) = wait_child(d, Duration::from_secs(30), |c| {
            c["path_mtu_source"] == "probe"
        });
        let path = c["path_mtu"].as_u64().unwrap_or(0);
        assert!(
            ok && (link - 32..=link).contains(&path),
            "{who} did not find the {link}-octet path by probing: {c}\n{}",
            d.log_tail(20)
        );
        found.push((who, path, c["mtu"].as_u64().unwrap_or(0)));
    }
    let converged = started.elapsed();
    let sent = counter(&a, "ike_path_probes_sent");
    assert!(sent >= 3, "{}", a.status_json());
    // A 1400-octet DF ping is answered by the tunnel with the inner MTU.
    let out = sized_ping(&net, INNER_A, INNER_B, 1372, 2, true);
    let inner = found[0].2;
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(
        text.contains(&format!("mtu = {inner}")) || text.contains(&format!("mtu={inner}")),
        "no frag-needed naming {inner}: {text}"
    );
    let forward = iperf(&net, b.dir(), false);
    let reverse = iperf(&net, b.dir(), true);
    eprintln!(
        "probing {link}: {found:?} after {:.1} s from `up` ({sent} probes from A); TCP A->B {:.0} Mbit/s, B->A {:.0} Mbit/s; fragments dropped: {}",
        converged.as_secs_f64(),
        forward / 1e6,
        reverse / 1e6,
        net.fragments_dropped()
    );
    for (what, rate) in [("A->B", forward), ("B->A", reverse)] {
        assert!(
            rate > 20e6,
            "TCP {what} over the ICMP-filtered {link}-octet path: {:.1} Mbit/s",
            rate / 1e6
        );
    }
    a.stop_clean();
    b.stop_clean();
}

/// ikev2d (A) against strongSwan with kernel-libipsec (B) over a 1300-octet path
/// that drops fragments, with and without ICMP from the routers: ikev2d finds the
/// path MTU by probing (strongSwan answers the padded INFORMATIONAL requests) and
/// clamps the MSS of both directions' SYNs, so TCP flows both ways although
/// strongSwan itself sizes its packets for a 1400-octet tunnel.
#[test]
fn ikev2d_against_strongswan_over_a_small_fragment_dropping_path() {
    require!(
        require_root(),
        require_tun(),
        require_strongswan(),
        ikev2d_binary(),
        require_iperf3()
    );
    let _bound = TimeBound::alone("path_mtu_strongswan", Duration::from_secs(240));
    for icmp in [true, false] {
        let label = if icmp { "ICMP passes" } else { "ICMP filtered" };
        let net = RoutedPair::new();
        net.far_link(1300);
        if !icmp {
            net.filter_icmp();
        }
        let conn = routed_conn(false);
        let charon = Charon::start(&net.b, &[conn.mirrored()]);
        let mut a = Ikev2d::start(&net.a, &Ikev2dConfig::new(vec![conn]));
        let started = Instant::now();
        assert!(
            a.up("lab", Duration::from_secs(20)).ok(),
            "{label}: up:\n{}",
            a.log_tail(20)
        );
        wait_agreed(&a, &charon, "lab", Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        // With ICMP the router's answer to the first probe (quoting its IKE SPIs)
        // gives the exact value at once; without, the search finds it.
        let source = if icmp { "icmp" } else { "probe" };
        let (c, ok) = wait_child(&a, Duration::from_secs(30), |c| {
            c["path_mtu_source"] == source
        });
        let path = c["path_mtu"].as_u64().unwrap_or(0);
        assert!(
            ok && (1300 - 32..=1300).contains(&path) && (!icmp || path == 1300),
            "{label}: ikev2d did not find the 1300-octet path: {c}\n{}\n{}",
            a.log_tail(20),
            charon.logs_tail(20)
        );
        let converged = started.elapsed();
        assert_eq!(ping(&net.a, INNER_A, INNER_B, 2), 2, "{label}: pings");
        let forward = iperf(&net, charon.dir(), false);
        let reverse = iperf(&net, charon.dir(), true);
        eprintln!(
            "{label}: path MTU {path} ({source}) after {:.1} s from `up`; TCP ikev2d->strongSwan {:.0} Mbit/s, strongSwan->ikev2d {:.0} Mbit/s; fragments dropped: {}",
            converged.as_secs_f64(),
            forward / 1e6,
            reverse / 1e6,
            net.fragments_dropped()
        );
        for (what, rate) in [
            ("ikev2d->strongSwan", forward),
            ("strongSwan->ikev2d", reverse),
        ] {
            assert!(
                rate > 10e6,
                "{label}: TCP {what}: {:.1} Mbit/s\n{}",
                rate / 1e6,
                a.log_tail(10)
            );
        }
        a.stop_clean();
    }
}

/// A TCP transfer runs while the path shrinks to 1300 octets and starts dropping
/// fragments, once with the routers' ICMP (ikev2d learns from it) and once without
/// (ikev2d sees large packets go out unanswered, probes the path and tells the
/// sender the new inner MTU); the transfer recovers. Prints the time to recover
/// (first second at more than a tenth of the rate before).
#[test]
fn ikev2d_pair_recovers_when_the_path_shrinks_mid_transfer() {
    require!(
        require_root(),
        require_tun(),
        ikev2d_binary(),
        require_iperf3()
    );
    let _bound = TimeBound::alone("path_mtu_mid_transfer", Duration::from_secs(180));
    recovers_mid_transfer(true);
    recovers_mid_transfer(false);
}

fn recovers_mid_transfer(icmp: bool) {
    let label = if icmp { "with ICMP" } else { "without ICMP" };
    let net = RoutedPair::new();
    let (mut a, mut b) = ikev2d_pair(&net, routed_conn(true));
    let server =
        interop_tests::iperf::IperfServer::start(&net.b, INNER_B, &b.dir().join("iperf3.log"));
    let client = {
        let args = interop_tests::iperf::client_args(INNER_A, INNER_B, 30, false);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let cmd = net.a.command(&args);
        std::thread::spawn(move || {
            let mut cmd = cmd;
            interop_tests::cmd::run(&mut cmd, Duration::from_secs(40))
        })
    };
    let shrink_at = 4.0;
    std::thread::sleep(Duration::from_secs_f64(shrink_at));
    eprintln!("shrinking the path at {:?}", std::time::SystemTime::now());
    // ICMP filtered first: not one "fragmentation needed" may get out.
    if !icmp {
        net.filter_icmp();
    }
    net.far_link(1300);
    let out = client.join().expect("iperf3 thread");
    server.stop();
    let j: Value = serde_json::from_str(&out.stdout).unwrap_or(Value::Null);
    let intervals: Vec<(f64, f64)> = j["intervals"]
        .as_array()
        .map(|v| {
            v.iter()
                .map(|i| {
                    (
                        i["sum"]["start"].as_f64().unwrap_or(0.0),
                        i["sum"]["bits_per_second"].as_f64().unwrap_or(0.0),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    assert!(intervals.len() >= 20, "iperf3: {out}");
    let before: f64 = intervals
        .iter()
        .filter(|(t, _)| *t + 1.0 < shrink_at)
        .map(|(_, r)| r)
        .sum::<f64>()
        / intervals
            .iter()
            .filter(|(t, _)| *t + 1.0 < shrink_at)
            .count()
            .max(1) as f64;
    let recovered = intervals
        .iter()
        .filter(|(t, _)| *t > shrink_at + 1.0)
        .find(|(_, r)| *r > before * 0.1)
        .map(|(t, _)| t - shrink_at);
    let tail: f64 = intervals.iter().rev().take(5).map(|(_, r)| r).sum::<f64>() / 5.0;
    let source = if icmp { "icmp" } else { "probe" };
    let (c, _) = wait_child(&a, Duration::from_secs(1), |c| {
        c["path_mtu_source"] == source
    });
    eprintln!(
        "mid-transfer shrink {label}: {:.0} Mbit/s before, recovered after {recovered:?} s, {:.0} Mbit/s over the last 5 s; A: {c}",
        before / 1e6,
        tail / 1e6
    );
    for l in a
        .log()
        .lines()
        .filter(|l| l.contains("path MTU") || l.contains("probing"))
    {
        eprintln!("A: {l}");
    }
    assert_eq!(
        c["path_mtu_source"],
        source,
        "{label}: A did not learn the path: {c}\n{}",
        a.log_tail(20)
    );
    assert!(
        recovered.is_some_and(|t| t < 24.0) && tail > before * 0.1,
        "{label}: TCP did not recover: {intervals:?}\n{}",
        a.log_tail(20)
    );
    a.stop_clean();
    b.stop_clean();
}

/// One cell of the path MTU table: who runs where and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setup {
    /// ikev2d both ends, default MTU settings.
    Default,
    /// ikev2d both ends, default settings, the routers' ICMP filtered.
    DefaultNoIcmp,
    /// ikev2d both ends, `mtu` set by hand to what fits the path.
    HandSet,
    /// ikev2d (A) and strongSwan (B), default settings.
    Mixed,
    /// strongSwan both ends (kernel-libipsec), default settings.
    StrongSwan,
}

/// TCP Mbit/s A->B and B->A through a tunnel of `setup` over a far link of `mtu`
/// octets that drops fragments.
fn table_cell(setup: Setup, mtu: u16) -> (f64, f64) {
    let net = RoutedPair::new();
    if mtu < 1500 {
        net.far_link(mtu);
    }
    if setup == Setup::DefaultNoIcmp {
        net.filter_icmp();
    }
    let mut conn = routed_conn(false);
    // What an operator would find by trial: the inner MTU of AES-GCM in UDP over IPv4.
    let fitted = ((mtu - 60) / 4 * 4 - 2).min(1400);
    let ikev2d_cfg = |c: ConnSpec| {
        let mut cfg = Ikev2dConfig::new(vec![c]);
        if setup == Setup::HandSet {
            cfg.mtu = Some(fitted);
        }
        cfg
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let rates = |net: &RoutedPair| {
        // Give a probe search time to end (it runs when the CHILD SA comes up).
        std::thread::sleep(Duration::from_secs(8));
        (
            iperf(net, dir.path(), false) / 1e6,
            iperf(net, dir.path(), true) / 1e6,
        )
    };
    match setup {
        Setup::Default | Setup::DefaultNoIcmp | Setup::HandSet => {
            conn.encap = true;
            let mut b = Ikev2d::start(&net.b, &ikev2d_cfg(conn.mirrored()));
            let mut a = Ikev2d::start(&net.a, &ikev2d_cfg(conn));
            assert!(
                a.up("lab", Duration::from_secs(20)).ok(),
                "{setup:?} {mtu}: up"
            );
            let r = rates(&net);
            a.stop_clean();
            b.stop_clean();
            r
        }
        Setup::Mixed => {
            let charon = Charon::start(&net.b, &[conn.mirrored()]);
            let mut a = Ikev2d::start(&net.a, &ikev2d_cfg(conn));
            assert!(
                a.up("lab", Duration::from_secs(20)).ok(),
                "{setup:?} {mtu}: up"
            );
            let r = rates(&net);
            a.stop_clean();
            drop(charon);
            r
        }
        Setup::StrongSwan => {
            let b = Charon::start(&net.b, &[conn.mirrored()]);
            let a = Charon::start(&net.a, &[conn]);
            let up = a.initiate("net");
            assert!(up.ok(), "{setup:?} {mtu}: {up}");
            let r = rates(&net);
            drop((a, b));
            r
        }
    }
}

/// The throughput table of docs/tuning.md (`scripts/bench mtu` runs it with a
/// release build): TCP both ways over far links of 1500, 1460, 1400, 1300 and 1280
/// octets that drop fragments, for each setup. A measurement, not a check: run with
/// `--ignored --nocapture`.
#[test]
#[ignore = "a measurement (scripts/bench mtu), about 5 minutes"]
fn path_mtu_table() {
    require!(
        require_root(),
        require_tun(),
        require_strongswan(),
        ikev2d_binary(),
        require_iperf3()
    );
    let setups = [
        (Setup::Default, "ikev2d, default"),
        (Setup::DefaultNoIcmp, "ikev2d, default, no ICMP"),
        (Setup::HandSet, "ikev2d, mtu by hand"),
        (Setup::Mixed, "ikev2d - strongSwan, default"),
        (Setup::StrongSwan, "strongSwan - strongSwan"),
    ];
    let mut rows = Vec::new();
    for mtu in [1500u16, 1460, 1400, 1300, 1280] {
        let mut row = format!("| {mtu} |");
        for (setup, _) in setups {
            let (fwd, rev) = table_cell(setup, mtu);
            row.push_str(&format!(" {fwd:.0} / {rev:.0} |"));
            eprintln!("{mtu} {setup:?}: {fwd:.0} / {rev:.0} Mbit/s");
        }
        rows.push(row);
    }
    println!(
        "| far link MTU |{}",
        setups
            .iter()
            .map(|(_, n)| format!(" {n} |"))
            .collect::<String>()
    );
    println!("|---|{}", "---|".repeat(setups.len()));
    for r in rows {
        println!("{r}");
    }
}

/// IPv6 outside and inside: two ikev2d over the routers' IPv6 path, whose far link
/// shrinks to 1400 octets and drops fragments. The tunnel learns the path (by probing
/// at establishment, or from ICMPv6 "packet too big"), answers a too-large inner
/// IPv6 packet with "packet too big" naming its inner MTU (IPv6 is never fragmented
/// on the way), and TCP over IPv6 flows both ways.
#[test]
fn ipv6_outer_and_inner_over_a_smaller_path() {
    require!(
        require_root(),
        require_tun(),
        ikev2d_binary(),
        require_iperf3()
    );
    let _bound = TimeBound::alone("path_mtu_ipv6", Duration::from_secs(120));
    let ip = |s: &str| -> IpAddr { s.parse().expect("literal") };
    let (a6, b6, in_a, in_b) = (
        ip("2001:db8:a::2"),
        ip("2001:db8:b::2"),
        ip("fd01:1::1"),
        ip("fd01:2::1"),
    );
    let net = RoutedPair::new();
    net.far_link(1400);
    let mut conn = ConnSpec::site_a();
    conn.local_addr = a6;
    conn.remote_addr = b6;
    conn.local_id = a6.to_string();
    conn.remote_id = b6.to_string();
    conn.children[0].local_ts = vec!["fd01:1::/64".to_owned()];
    conn.children[0].remote_ts = vec!["fd01:2::/64".to_owned()];
    conn.encap = true;
    let (mut a, mut b) = ikev2d_pair(&net, conn);
    // AES-GCM-256 in UDP over IPv6: 40 + 8 + 8 + 8 + 16 + 2 octets around the inner
    // packet, padded to 4: a 1400-octet path leaves 1318.
    let (c, ok) = wait_child(&a, Duration::from_secs(30), |c| {
        c["path_mtu"]
            .as_u64()
            .is_some_and(|p| (1400 - 32..=1400).contains(&p))
            && c["path_mtu_source"] != "configured"
    });
    assert!(ok, "A did not learn the IPv6 path: {c}\n{}", a.log_tail(20));
    let inner = c["mtu"].as_u64().unwrap_or(0);
    assert!((1318 - 32..=1318).contains(&inner), "{c}");
    // 1388 octets: within the TUN's 1400, above the tunnel's inner MTU.
    let out = sized_ping(&net, in_a, in_b, 1340, 2, true);
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(
        text.contains(&format!("mtu={inner}")) || text.contains(&format!("mtu = {inner}")),
        "no packet too big naming {inner}: {text}"
    );
    assert!(
        counter(&a, "esp_out_too_big_sent") >= 1,
        "{}",
        a.status_json()
    );
    let forward = iperf_between(&net, b.dir(), in_a, in_b, false);
    let reverse = iperf_between(&net, b.dir(), in_a, in_b, true);
    eprintln!(
        "IPv6: path {} ({}), inner MTU {inner}; TCP A->B {:.0} Mbit/s, B->A {:.0} Mbit/s",
        c["path_mtu"],
        c["path_mtu_source"],
        forward / 1e6,
        reverse / 1e6
    );
    for (what, rate) in [("A->B", forward), ("B->A", reverse)] {
        assert!(
            rate > 20e6,
            "TCP over IPv6 {what}: {:.1} Mbit/s",
            rate / 1e6
        );
    }
    a.stop_clean();
    b.stop_clean();
}

/// `ikev2d ping --sweep` over a path whose far link carries 1300 octets (ESP in UDP):
/// it reports the tunnel's usable inner MTU, and a DF ping of that size then passes
/// (one octet more does not).
#[test]
fn ping_sweep_finds_the_usable_mtu() {
    require!(require_root(), require_tun(), ikev2d_binary());
    let _bound = TimeBound::alone("ping_sweep_finds_the_usable_mtu", Duration::from_secs(120));
    let net = RoutedPair::new();
    net.far_link(1300);
    let (a, _b) = ikev2d_pair(&net, routed_conn(true));
    let o = a.ctl(&["ping", "lab", "--sweep", "--json"]);
    assert!(o.ok(), "{o}\n{}", a.log_tail(30));
    let v: Value = serde_json::from_str(&o.stdout).expect("JSON");
    let payload = v["sweep"]["largest_payload"].as_u64().expect("a size");
    let mtu = v["sweep"]["mtu"].as_u64().expect("an MTU");
    assert_eq!(mtu, payload + 28, "{v}");
    assert_eq!(v["sweep"]["mss"].as_u64(), Some(mtu - 40), "{v}");
    // 1238 is what AES-GCM in UDP leaves of 1300 (see the path MTU tests).
    assert!((1200..=1238).contains(&mtu), "{v}");
    let fits = sized_ping(&net, INNER_A, INNER_B, payload, 2, true);
    assert!(fits.stdout.contains(" 2 received"), "{fits}");
    let over = sized_ping(&net, INNER_A, INNER_B, payload + 1, 2, true);
    assert!(!over.stdout.contains(" 2 received"), "{over}");
    let text = a.ctl(&["ping", "lab", "--sweep"]);
    eprintln!("$ ikev2d ping lab --sweep\n{}", text.stdout);
    assert!(
        text.stdout
            .contains(&format!("usable inner MTU {mtu}, TCP MSS {}", mtu - 40)),
        "{text}"
    );
}
