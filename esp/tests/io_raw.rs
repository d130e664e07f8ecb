//! Raw ESP (IP protocol 50) on loopback. Needs CAP_NET_RAW, and IPv6 on loopback for
//! the IPv6 test: in CI a missing one fails the test, elsewhere it is skipped with a
//! message (`test_support::require`).
#![cfg(feature = "io")]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use esp::PacketBuf;
use esp::io::{Datagram, DatagramKind, DatagramSink, DatagramSource, RawEspSocket};
use test_support::{Capability, Missing, capability, require};

fn esp_packet(spi: u32, seq: u32, len: usize) -> Vec<u8> {
    let mut p = Vec::with_capacity(len);
    p.extend_from_slice(&spi.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.resize(len, 0x5a);
    p
}

/// Sends `pkts` from one raw socket to `dst` and receives them on another bound to
/// `dst`, ignoring other ESP traffic (other SPIs).
fn loopback_round_trip(test: &str, dst: IpAddr, spi: u32) {
    let bound = RawEspSocket::bind(dst);
    if let (IpAddr::V4(_), Err(e)) = (dst, &bound) {
        panic!("raw ESP on 127.0.0.1 must work: {e}");
    }
    let bound = bound.map_err(|e| {
        Missing::new(
            format!("a raw ESP socket on {dst} ({e})"),
            "enable IPv6 on loopback (sysctl net.ipv6.conf.lo.disable_ipv6=0)",
        )
    });
    let Some(mut rx) = require(test, bound) else {
        return;
    };
    rx.set_nonblocking(true).expect("nonblocking");
    let unspecified = match dst {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    let mut tx = RawEspSocket::bind(unspecified).expect("raw socket");
    let pkts: Vec<_> = (1..=3)
        .map(|seq| esp_packet(spi, seq, 40 + 10 * seq as usize))
        .collect();
    let batch: Vec<_> = pkts
        .iter()
        .map(|p| {
            Datagram::to(
                SocketAddr::new(dst, 0),
                DatagramKind::Esp,
                PacketBuf::from_packet(p),
            )
        })
        .collect();
    assert_eq!(tx.send_batch(&batch).expect("send"), 3);

    let mut got = Vec::new();
    let mut slots: Vec<_> = (0..8).map(|_| Datagram::new()).collect();
    let deadline = Instant::now() + Duration::from_secs(2);
    while got.len() < 3 {
        assert!(Instant::now() < deadline, "got {} of 3 packets", got.len());
        match rx.recv_batch(&mut slots, 32) {
            Ok(n) => got.extend(
                slots[..n]
                    .iter()
                    .filter(|d| d.buf.as_slice().starts_with(&spi.to_be_bytes()))
                    .cloned(),
            ),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("recv: {e}"),
        }
    }
    for (d, p) in got.iter().zip(&pkts) {
        assert_eq!(d.buf.as_slice(), &p[..], "IP header stripped, ESP intact");
        assert_eq!(d.buf.headroom(), 32 + if dst.is_ipv4() { 20 } else { 0 });
        assert_eq!(d.kind, DatagramKind::Esp);
        assert_eq!(d.peer.ip(), dst);
    }
}

#[test]
fn raw_esp_ipv4_loopback() {
    let test = "raw_esp_ipv4_loopback";
    if require(test, capability(Capability::NetRaw)).is_some() {
        loopback_round_trip(test, IpAddr::V4(Ipv4Addr::LOCALHOST), 0xe5e5_0004);
    }
}

#[test]
fn raw_esp_ipv6_loopback() {
    let test = "raw_esp_ipv6_loopback";
    if require(test, capability(Capability::NetRaw)).is_some() {
        loopback_round_trip(test, IpAddr::V6(Ipv6Addr::LOCALHOST), 0xe5e5_0006);
    }
}

/// `ikev2d ping`'s echo socket on loopback: a reply comes back with its round-trip
/// time; with DF a request larger than the loopback MTU is refused locally.
#[test]
fn echo_round_trip_on_loopback() {
    use esp::io::echo::{EchoResult, EchoSocket};
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let sock = EchoSocket::bind(lo, true, 0x4242);
    let Some(sock) = require(
        "echo_round_trip_on_loopback",
        sock.map_err(|e| {
            Missing::new(
                format!("a raw ICMP socket ({e})"),
                "run as root (CAP_NET_RAW)",
            )
        }),
    ) else {
        return;
    };
    for seq in 1..=3 {
        let r = sock
            .ping(lo, seq, 56, Duration::from_secs(1))
            .expect("send");
        assert!(
            matches!(r, EchoResult::Reply(t) if t < Duration::from_secs(1)),
            "{r:?}"
        );
    }
    // Larger than an IP packet can be: refused by the local stack.
    let r = sock
        .ping(lo, 4, 65_600, Duration::from_millis(200))
        .expect("send");
    assert_eq!(r, EchoResult::TooBig);
}
