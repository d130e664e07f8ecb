//! The flood test of the hardening issue: 50,000 well-formed IKE_SA_INIT requests
//! from many spoofed sources (198.18.0.0/15 and 203.0.113.0/24, forged with a raw
//! IP_HDRINCL socket in A's namespace) hit ikev2d B while an established tunnel
//! A <-> B carries a ping. Asserted: the ping loses nothing, B's RSS grows by less
//! than [`RSS_BOUND_KIB`], `ikev2d status` answers within [`STATUS_LIMIT`] every
//! time it is polled during the flood, and B's drop counters (not allowed, rate
//! limited, cookies, half-open limits, queue full) plus the kernel's UDP receive
//! buffer drops account for the flood.
//!
//! The test runs alone ([`TimeBound::alone`]): its ping and status-latency verdicts
//! depend on timing, and other tests' daemons would share the two cores with the
//! flood. One ping of 50 may be lost ([`PINGS_LOST_ALLOWED`], reason there).
//!
//! The flood mixes three kinds of sources:
//! - 25,000 requests from distinct addresses in 198.18.0.0/16, which B's
//!   `branches` connection admits (`remote_addrs = ["198.18.0.0/16"]`): they reach
//!   the state machine, which answers with cookies once 10 SAs are half open;
//! - 15,000 from 198.19.0.0/16 (inside `allowed_peers`, outside every connection)
//!   and from 203.0.113.0/24 (outside `allowed_peers`): dropped before parsing;
//! - 10,000 from the single address 198.18.0.1: beyond 20/s they are rate limited.

use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};
use std::os::fd::AsRawFd as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ikev2::Endpoint;
use ikev2::config::{ChildConfig, ConnectionConfig, EndpointConfig};
use interop_tests::prereq::{ikev2d_binary, require_root, require_tun};
use interop_tests::topology::{INNER_A, INNER_B, OUTER_A, OUTER_B};
use interop_tests::{
    ConnSpec, Ikev2d, Ikev2dConfig, Netns, Pair, TimeBound, ping, ping_until, require,
};
use nix::sys::socket::{
    AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType, SockaddrIn, sendto, socket,
};

const FLOOD: u32 = 50_000;
const PINGS: u32 = 50;
/// Pings of the 50 that may be lost during the flood: the flood arrives at 6,000
/// datagrams a second on the same veth as the tunnel, and when the two cores fall
/// behind the kernel drops packets from the device's backlog queue
/// (`netdev_max_backlog`) before any socket, ikev2d's ESP among them, sees them. One
/// in 50 (2 %) is allowed for that; a tunnel that the flood really hurts (a starved
/// data plane, a lost SA) loses far more, and the 3 pings after the flood must all pass.
const PINGS_LOST_ALLOWED: u32 = 1;
/// How much B's resident memory may grow during the flood.
const RSS_BOUND_KIB: u64 = 64 * 1024;
/// Longest acceptable `ikev2d status` round trip during the flood.
const STATUS_LIMIT: Duration = Duration::from_secs(2);

/// An IKE_SA_INIT request as ikev2's initiator builds it (to B, from 198.18.0.1).
fn template() -> Vec<u8> {
    let mut c = ConnectionConfig::new("flood");
    c.local_addrs = vec![IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1))];
    c.remote_addrs = vec![OUTER_B];
    c.children = vec![ChildConfig::new("net")];
    let cfg = EndpointConfig {
        connections: vec![c],
        ..EndpointConfig::default()
    };
    let mut ep = Endpoint::new(Arc::new(cfg), [9; 32]);
    ep.initiate(Instant::now(), "flood").expect("initiate");
    ep.poll_transmit().expect("IKE_SA_INIT").payload
}

/// The source address of flood packet `i`.
fn source(i: u32) -> Ipv4Addr {
    match i % 5 {
        // 2 in 5: distinct addresses in 198.18.0.0/16 (admitted by `branches`)
        0 | 1 => {
            let n = 2 + (i / 5) * 2 + i % 5;
            Ipv4Addr::new(198, 18, (n >> 8) as u8, n as u8)
        }
        // 1 in 5: 198.19.0.0/16 (allowed_peers, but no connection)
        2 => Ipv4Addr::new(198, 19, (i >> 8) as u8, i as u8),
        // 1 in 10: outside allowed_peers; 1 in 10: the one busy source
        3 if i % 2 == 0 => Ipv4Addr::new(203, 0, 113, (i % 250) as u8 + 1),
        _ => Ipv4Addr::new(198, 18, 0, 1),
    }
}

/// IPv4 + UDP 500 -> 500 around `ike` (checksums: IP filled in by the kernel,
/// UDP 0 = none).
fn packet(src: Ipv4Addr, dst: Ipv4Addr, ike: &[u8]) -> Vec<u8> {
    let udp_len = 8 + ike.len();
    let total = 20 + udp_len;
    let mut p = Vec::with_capacity(total);
    p.extend_from_slice(&[
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        0,
        0x40,
        0,
        64,
        17,
        0,
        0,
    ]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(&[
        0x01,
        0xf4,
        0x01,
        0xf4,
        (udp_len >> 8) as u8,
        udp_len as u8,
        0,
        0,
    ]);
    p.extend_from_slice(ike);
    p
}

/// Sends the flood from a raw socket created in `ns` over about `span`; returns how
/// many datagrams went out.
fn flood(ns: &Netns, span: Duration) -> u32 {
    let ns_path = format!("/var/run/netns/{}", ns.name());
    std::thread::spawn(move || {
        let f = std::fs::File::open(&ns_path).expect("netns file");
        nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        let fd = socket(
            AddressFamily::Inet,
            SockType::Raw,
            SockFlag::empty(),
            SockProtocol::Raw,
        )
        .expect("raw socket (IP_HDRINCL)");
        let dst = match OUTER_B {
            IpAddr::V4(v) => v,
            IpAddr::V6(_) => unreachable!("B is IPv4"),
        };
        let to = SockaddrIn::from(SocketAddrV4::new(dst, 0));
        let mut ike = template();
        let start = Instant::now();
        let batches = 200u32;
        let per = FLOOD / batches;
        let mut sent = 0;
        for b in 0..batches {
            for k in 0..per {
                let i = b * per + k;
                // a fresh initiator SPI per request
                ike[..8].copy_from_slice(&(u64::from(i) + 0x0f10_0d00_0000_0001).to_be_bytes());
                let p = packet(source(i), dst, &ike);
                if sendto(fd.as_raw_fd(), &p, &to, MsgFlags::empty()).is_ok() {
                    sent += 1;
                }
            }
            let due = start + span.mul_f64(f64::from(b + 1) / f64::from(batches));
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        sent
    })
    .join()
    .expect("flood thread")
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// `Udp: ... RcvbufErrors` of the namespace (datagrams the kernel dropped because
/// ikev2d's socket buffer was full).
fn udp_rcvbuf_errors(ns: &Netns) -> u64 {
    let o = ns.exec(&["cat", "/proc/net/snmp"], Duration::from_secs(5));
    let udp: Vec<&str> = o.stdout.lines().filter(|l| l.starts_with("Udp:")).collect();
    let (Some(names), Some(values)) = (udp.first(), udp.get(1)) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "RcvbufErrors")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

fn counter(status: &serde_json::Value, name: &str) -> u64 {
    status["counters"][name].as_u64().unwrap_or(0)
}

#[test]
fn flood_of_spoofed_ike_sa_init_does_not_hurt_the_tunnel() {
    require!(require_root(), require_tun(), ikev2d_binary());
    let _bound = TimeBound::alone("flood", Duration::from_secs(120));
    let net = Pair::new();
    // B answers the spoofed sources through A (which does not forward, so the
    // answers die there) and must not drop them by reverse-path filtering.
    for args in [
        &["sysctl", "-q", "-w", "net.ipv4.conf.all.rp_filter=0"][..],
        &["sysctl", "-q", "-w", "net.ipv4.conf.veth0.rp_filter=0"],
        &[
            "ip",
            "route",
            "add",
            "198.18.0.0/15",
            "via",
            &OUTER_A.to_string(),
        ],
        &[
            "ip",
            "route",
            "add",
            "203.0.113.0/24",
            "via",
            &OUTER_A.to_string(),
        ],
    ] {
        net.b.run_ok(args);
    }
    let mut b_conf = Ikev2dConfig::new(vec![ConnSpec::site_b()]);
    b_conf.allowed_peers = vec!["192.0.2.0/24".to_owned(), "198.18.0.0/15".to_owned()];
    b_conf.tail = r#"
[connections.branches]
local_addrs  = ["192.0.2.2"]
remote_addrs = ["198.18.0.0/16"]
[connections.branches.local]
auth = "psk"
id = "192.0.2.2"
[connections.branches.remote]
auth = "psk"
id = "%any"
[connections.branches.children.net]
local_ts  = ["10.2.0.0/24"]
remote_ts = ["10.77.0.0/16"]
"#
    .to_owned();
    let b = Ikev2d::start(&net.b, &b_conf);
    let a = Ikev2d::start(&net.a, &Ikev2dConfig::new(vec![ConnSpec::site_a()]));
    let up = a.up("lab", Duration::from_secs(20));
    assert!(up.ok(), "up: {up}\n{}", b.log_tail(30));
    assert!(ping_until(
        &net.a,
        INNER_A,
        INNER_B,
        Duration::from_secs(10)
    ));

    let pid = b.pid();
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    assert_eq!(comm.trim(), "ikev2d", "pid {pid} is not the daemon");
    let rss_before = rss_kib(pid);
    let before = b.status_json();
    let kernel_before = udp_rcvbuf_errors(&net.b);

    let done = AtomicBool::new(false);
    let t0 = Instant::now();
    let (sent, received, latencies, rss_peak) = std::thread::scope(|s| {
        let pinger = s.spawn(|| ping(&net.a, INNER_A, INNER_B, PINGS));
        let poller = s.spawn(|| {
            let mut lat = Vec::new();
            let mut peak = 0;
            while !done.load(Ordering::Relaxed) {
                let t = Instant::now();
                let o = b.ctl(&["status", "--json"]);
                lat.push((t.elapsed(), o.ok()));
                peak = peak.max(rss_kib(pid));
                std::thread::sleep(Duration::from_millis(200));
            }
            (lat, peak)
        });
        let sent = flood(&net.a, Duration::from_secs(8));
        let received = pinger.join().expect("ping thread");
        done.store(true, Ordering::Relaxed);
        let (lat, peak) = poller.join().expect("status thread");
        (sent, received, lat, peak)
    });
    let flood_time = t0.elapsed();
    // let B work through its queue
    std::thread::sleep(Duration::from_secs(1));
    let after = b.status_json();
    let rss_after = rss_kib(pid);
    let kernel = udp_rcvbuf_errors(&net.b) - kernel_before;

    let delta = |n: &str| counter(&after, n) - counter(&before, n);
    let names = [
        "ike_not_allowed",
        "ike_init_rate_limited",
        "ike_queue_full",
        "ike_dropped_cookie_required",
        "ike_dropped_half_open_limit",
        "ike_dropped_block_threshold",
        "ike_dropped_parse_error",
        "ike_dh_computations",
        "ike_cookies_sent",
        "ike_received",
    ];
    let breakdown: Vec<String> = names.iter().map(|n| format!("{n} {}", delta(n))).collect();
    // Every flood datagram ends in exactly one of these (a DH computation stands for
    // a half-open SA the flood created before cookies were required).
    let accounted = delta("ike_not_allowed")
        + delta("ike_init_rate_limited")
        + delta("ike_queue_full")
        + delta("ike_dropped_cookie_required")
        + delta("ike_dropped_half_open_limit")
        + delta("ike_dropped_block_threshold")
        + delta("ike_dh_computations")
        + kernel;
    let max_lat = latencies.iter().map(|(d, _)| *d).max().unwrap_or_default();
    let failed_polls = latencies.iter().filter(|(_, ok)| !ok).count();
    let report = format!(
        "flood: sent {sent} in {:.1} s; pings {received}/{PINGS}; RSS {rss_before} -> {rss_after} KiB \
         (peak {rss_peak}, +{} KiB); status polled {} times, max {:.0} ms, {failed_polls} failed; \
         kernel UDP rcvbuf drops {kernel}; accounted {accounted}; {}",
        flood_time.as_secs_f64(),
        rss_peak.max(rss_after).saturating_sub(rss_before),
        latencies.len(),
        max_lat.as_secs_f64() * 1000.0,
        breakdown.join(", ")
    );
    println!("{report}");

    assert_eq!(sent, FLOOD, "{report}");
    assert!(
        received + PINGS_LOST_ALLOWED >= PINGS,
        "more than {PINGS_LOST_ALLOWED} ping(s) lost during the flood: {report}"
    );
    assert!(
        rss_peak.max(rss_after).saturating_sub(rss_before) < RSS_BOUND_KIB,
        "memory grew too much: {report}"
    );
    assert!(latencies.len() >= 10, "status polled too rarely: {report}");
    assert_eq!(failed_polls, 0, "status failed during the flood: {report}");
    assert!(max_lat < STATUS_LIMIT, "status too slow: {report}");
    assert!(
        accounted >= u64::from(FLOOD) * 99 / 100 && accounted <= u64::from(FLOOD) + 100,
        "the counters do not account for the flood: {report}"
    );
    for n in [
        "ike_not_allowed",
        "ike_init_rate_limited",
        "ike_dropped_cookie_required",
    ] {
        assert!(delta(n) > 0, "{n} did not move: {report}");
    }
    // 3 in 10 of the datagrams that reached ikev2d came from sources no connection
    // or allowed_peers admits (the kernel drops a share before the daemon reads
    // them, whatever their source).
    let reached = accounted - kernel;
    assert!(
        delta("ike_not_allowed") * 10 >= reached * 2,
        "too few not-allowed drops: {report}"
    );
    // Far fewer DH computations than requests: cookies and limits held.
    assert!(delta("ike_dh_computations") < 2_000, "{report}");
    // The tunnel is still up and carries traffic after the flood.
    assert_eq!(ping(&net.a, INNER_A, INNER_B, 3), 3, "{report}");
}
