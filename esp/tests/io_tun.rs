//! TUN device in a private network namespace: the kernel routes a UDP datagram into
//! the TUN, and a packet written to the TUN reaches a kernel UDP socket.
//!
//! Needs CAP_NET_ADMIN, /dev/net/tun and the `ip` command: in CI anything missing
//! fails the test, elsewhere it is skipped with a message (`test_support::require`).
//!
//! The namespace belongs to one test thread (`unshare(CLONE_NEWNET)` affects the
//! calling thread only); the `ip` commands it runs inherit it. When the thread
//! ends, passing or panicking, the namespace and the TUN device in it go away, so
//! there is nothing to clean up and the test process never leaves its own
//! namespace.
#![cfg(feature = "io")]

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use esp::PacketBuf;
use esp::io::{PacketSink, PacketSource, Tun};
use nix::sched::{CloneFlags, unshare};
use test_support::{Missing, command, require, tun};

const HEADROOM: usize = 96;
const LOCAL: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
const REMOTE: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);

/// What the TUN test needs: CAP_NET_ADMIN, /dev/net/tun and the `ip` command.
fn prerequisites() -> Result<(), Missing> {
    tun()?;
    command("ip", "iproute2")
}

/// Runs `f` on a thread in a fresh network namespace; re-raises its panic.
fn in_fresh_netns(f: impl FnOnce() + Send + 'static) {
    let handle = std::thread::spawn(move || {
        unshare(CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
        f();
    });
    if let Err(panic) = handle.join() {
        std::panic::resume_unwind(panic);
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An IPv4/UDP packet with a correct header checksum and UDP checksum 0.
fn udp_packet(src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8]) -> Vec<u8> {
    let total = 20 + 8 + payload.len();
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[6] = 0x40; // DF
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&src.ip().octets());
    p[16..20].copy_from_slice(&dst.ip().octets());
    let mut sum: u32 = p[..20]
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    p[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    p[20..22].copy_from_slice(&src.port().to_be_bytes());
    p[22..24].copy_from_slice(&dst.port().to_be_bytes());
    p[24..26].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    p[28..].copy_from_slice(payload);
    p
}

/// Reads from the (non-blocking) TUN until `count` IPv4/UDP packets to `dst` arrive
/// (skipping anything else the kernel sends, such as IPv6 router solicitations).
fn read_udp_to(tun: &mut Tun, dst: Ipv4Addr, count: usize) -> Vec<PacketBuf> {
    let mut bufs: Vec<_> = (0..8).map(|_| PacketBuf::new()).collect();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(3);
    while got.len() < count {
        assert!(Instant::now() < deadline, "got {} of {count}", got.len());
        match tun.recv_batch(&mut bufs, HEADROOM) {
            Ok(n) => got.extend(
                bufs[..n]
                    .iter()
                    .filter(|b| {
                        let p = b.as_slice();
                        p.len() >= 28 && p[0] >> 4 == 4 && p[9] == 17 && p[16..20] == dst.octets()
                    })
                    .cloned(),
            ),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("tun read: {e}"),
        }
    }
    got
}

#[test]
fn tun_exchanges_packets_with_the_kernel() {
    if require("tun_exchanges_packets_with_the_kernel", prerequisites()).is_none() {
        return;
    }
    in_fresh_netns(|| {
        let mut tun = Tun::create("esptest%d").expect("create TUN");
        let name = tun.name().to_owned();
        assert!(name.starts_with("esptest"), "{name}");
        tun.set_mtu(1380).expect("set MTU");
        assert_eq!(tun.mtu().expect("MTU"), 1380);
        tun.set_up(true).expect("up");
        tun.set_nonblocking(true);
        ip(&["addr", "add", &format!("{LOCAL}/24"), "dev", &name]);

        // Kernel -> TUN: datagrams routed to 10.99.0.2 come out of the device.
        let sock = UdpSocket::bind((LOCAL, 0)).expect("bind in the namespace");
        sock.set_read_timeout(Some(Duration::from_secs(3)))
            .expect("timeout");
        let remote = SocketAddrV4::new(REMOTE, 4000);
        for i in 0..3u8 {
            sock.send_to(&[b'k', i], remote).expect("send to the TUN");
        }
        let pkts = read_udp_to(&mut tun, REMOTE, 3);
        for (i, p) in pkts.iter().enumerate() {
            let b = p.as_slice();
            assert_eq!(p.headroom(), HEADROOM, "packet at the headroom");
            assert_eq!(b[0], 0x45, "IPv4, no packet-information prefix");
            assert_eq!(&b[12..16], &LOCAL.octets());
            assert_eq!(&b[22..24], &4000u16.to_be_bytes());
            assert_eq!(&b[28..], &[b'k', i as u8]);
        }

        // TUN -> kernel: packets written to the device reach the socket.
        let local = match sock.local_addr().expect("addr") {
            std::net::SocketAddr::V4(a) => a,
            other => panic!("{other}"),
        };
        let out: Vec<_> = (0..3u8)
            .map(|i| PacketBuf::from_packet(&udp_packet(remote, local, &[b't', i])))
            .collect();
        assert_eq!(tun.send_batch(&out).expect("write to the TUN"), 3);
        let mut buf = [0u8; 64];
        for i in 0..3u8 {
            let (n, from) = sock.recv_from(&mut buf).expect("kernel got it");
            assert_eq!(&buf[..n], &[b't', i]);
            assert_eq!(from, remote.into());
        }

        // Blocking mode: the read waits in poll(2) for the next packet.
        tun.set_nonblocking(false);
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            sock.send_to(b"late", remote).expect("send");
        });
        let mut bufs: Vec<_> = (0..4).map(|_| PacketBuf::new()).collect();
        let n = tun.recv_batch(&mut bufs, HEADROOM).expect("blocking read");
        assert!(n >= 1);
        sender.join().expect("sender");

        tun.set_up(false).expect("down");
    });
}

#[test]
fn tun_rejects_bad_names() {
    for bad in ["", "sixteen-octets-x", "a\0b"] {
        let err = Tun::create(bad).expect_err(bad);
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{bad:?}");
    }
}
