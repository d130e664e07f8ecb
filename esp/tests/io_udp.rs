//! UDP port-4500 batches on loopback (no privileges needed) and the channel
//! doubles. IPv6 loopback, UDP GSO and UDP_GRO come from the kernel: in CI a missing
//! one fails its test, elsewhere the test is skipped with a message
//! (`test_support::require`).
#![cfg(feature = "io")]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use esp::PacketBuf;
use esp::io::{
    ChannelSocket, ChannelTun, Datagram, DatagramKind, DatagramSink, DatagramSource, MAX_BATCH,
    PacketSink, PacketSource, UdpEncapSocket,
};
use test_support::{Missing, kernel_feature, require};

const HEADROOM: usize = 64;

fn esp_packet(spi: u32, seq: u32, len: usize) -> Vec<u8> {
    let mut p = Vec::with_capacity(len);
    p.extend_from_slice(&spi.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.resize(len, 0xa5);
    p
}

fn ike_message(len: usize) -> Vec<u8> {
    // An IKE header shape: non-zero initiator SPI first (never the marker).
    let mut p = vec![0x11; 8];
    p.resize(len, 0x22);
    p
}

fn bufs(n: usize) -> Vec<Datagram> {
    (0..n).map(|_| Datagram::new()).collect()
}

/// Receives until `want` datagrams arrived (the socket has a read timeout).
fn recv_n(sock: &mut UdpEncapSocket, want: usize) -> Vec<Datagram> {
    let mut got = Vec::new();
    let mut slots = bufs(8);
    while got.len() < want {
        let n = sock
            .recv_batch(&mut slots, HEADROOM)
            .expect("datagrams within the timeout");
        assert!(n >= 1 && n <= slots.len());
        got.extend(slots[..n].iter().cloned());
    }
    got
}

/// Two sockets on `ip`'s loopback; `None` (skip) only for IPv6 and outside CI.
fn loopback_pair(test: &str, ip: IpAddr) -> Option<(UdpEncapSocket, UdpEncapSocket)> {
    let a = UdpEncapSocket::bind(SocketAddr::new(ip, 0), true);
    let b = UdpEncapSocket::bind(SocketAddr::new(ip, 0), false);
    match (a, b) {
        (Ok(a), Ok(b)) => {
            for s in [&a, &b] {
                s.as_std()
                    .set_read_timeout(Some(Duration::from_secs(2)))
                    .expect("timeout");
            }
            Some((a, b))
        }
        (Err(e), _) | (_, Err(e)) => {
            assert!(ip.is_ipv6(), "IPv4 loopback must work: {e}");
            let missing = Missing::new(
                format!("UDP sockets on {ip} ({e})"),
                "enable IPv6 on loopback (sysctl net.ipv6.conf.lo.disable_ipv6=0)",
            );
            require(test, Err(missing))
        }
    }
}

fn exchange_mixed_batch(test: &str, ip: IpAddr) {
    let Some((mut a, mut b)) = loopback_pair(test, ip) else {
        return;
    };
    let to_b = b.local_addr().expect("addr");
    let esp1 = esp_packet(0x1000_0001, 1, 120);
    let ike = ike_message(80);
    let esp2 = esp_packet(0x1000_0001, 2, 1400);
    let batch = vec![
        Datagram::to(to_b, DatagramKind::Esp, PacketBuf::from_packet(&esp1)),
        Datagram::to(to_b, DatagramKind::Ike, PacketBuf::from_packet(&ike)),
        Datagram::to(
            to_b,
            DatagramKind::Keepalive,
            PacketBuf::from_packet(&[0xff]),
        ),
        Datagram::to(to_b, DatagramKind::Esp, PacketBuf::from_packet(&esp2)),
    ];
    assert_eq!(a.send_batch(&batch).expect("send"), 4);

    let got = recv_n(&mut b, 4);
    let from_a = a.local_addr().expect("addr");
    let kinds: Vec<_> = got.iter().map(|d| d.kind).collect();
    assert_eq!(
        kinds,
        [
            DatagramKind::Esp,
            DatagramKind::Ike,
            DatagramKind::Keepalive,
            DatagramKind::Esp
        ]
    );
    assert!(got.iter().all(|d| d.peer == from_a), "peer is the sender");
    assert_eq!(got[0].buf.as_slice(), &esp1[..]);
    assert_eq!(got[0].buf.headroom(), HEADROOM, "packet at the headroom");
    assert_eq!(got[1].buf.as_slice(), &ike[..], "marker stripped");
    assert_eq!(got[1].buf.headroom(), HEADROOM + 4);
    assert_eq!(got[2].buf.as_slice(), &[0xff]);
    assert_eq!(got[3].buf.as_slice(), &esp2[..]);
}

#[test]
fn mixed_batch_ipv4() {
    exchange_mixed_batch("mixed_batch_ipv4", IpAddr::V4(Ipv4Addr::LOCALHOST));
}

#[test]
fn mixed_batch_ipv6() {
    exchange_mixed_batch("mixed_batch_ipv6", IpAddr::V6(Ipv6Addr::LOCALHOST));
}

#[test]
fn wire_framing_and_invalid_datagrams() {
    let mut sock = UdpEncapSocket::bind((Ipv4Addr::LOCALHOST, 0).into(), false).expect("bind");
    sock.as_std()
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let plain = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    plain
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let to_plain = plain.local_addr().expect("addr");

    // What goes on the wire: IKE with the marker, ESP without.
    let ike = ike_message(40);
    let esp = esp_packet(7, 9, 32);
    sock.send_batch(&[
        Datagram::to(to_plain, DatagramKind::Ike, PacketBuf::from_packet(&ike)),
        Datagram::to(to_plain, DatagramKind::Esp, PacketBuf::from_packet(&esp)),
    ])
    .expect("send");
    let mut wire = [0u8; 2048];
    let n = plain.recv(&mut wire).expect("ike");
    assert_eq!(&wire[..4], &[0, 0, 0, 0]);
    assert_eq!(&wire[4..n], &ike[..]);
    let n = plain.recv(&mut wire).expect("esp");
    assert_eq!(&wire[..n], &esp[..]);

    // What is not IKE, ESP or a keepalive, and what does not fit the buffer.
    let to_sock = sock.local_addr().expect("addr");
    for bad in [&[0u8, 0, 0, 0, 1][..], &[0xfe][..], &[1, 2, 3][..]] {
        plain.send_to(bad, to_sock).expect("send");
    }
    plain
        .send_to(&esp_packet(5, 1, 200), to_sock)
        .expect("send");
    let mut slots: Vec<Datagram> = (0..3).map(|_| Datagram::new()).collect();
    slots.push(Datagram::with_buf(PacketBuf::with_capacity(0, 100)));
    let mut kinds = Vec::new();
    while kinds.len() < 4 {
        let start = kinds.len();
        let n = sock.recv_batch(&mut slots[start..], 0).expect("recv");
        kinds.extend(slots[start..start + n].iter().map(|d| d.kind));
    }
    assert_eq!(kinds, [DatagramKind::Invalid; 4], "last one truncated");
}

#[test]
fn large_batches_are_split_and_nonblocking_reports_would_block() {
    let test = "large_batches_are_split_and_nonblocking_reports_would_block";
    let (mut a, mut b) = loopback_pair(test, IpAddr::V4(Ipv4Addr::LOCALHOST)).expect("loopback");
    b.set_nonblocking(true).expect("nonblocking");
    let mut slots = bufs(4);
    let err = b.recv_batch(&mut slots, HEADROOM).expect_err("empty");
    assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);

    let to_b = b.local_addr().expect("addr");
    let count = MAX_BATCH + 8;
    let batch: Vec<_> = (0..count)
        .map(|i| {
            let p = esp_packet(0x200, i as u32 + 1, 64);
            Datagram::to(to_b, DatagramKind::Esp, PacketBuf::from_packet(&p))
        })
        .collect();
    assert_eq!(a.send_batch(&batch).expect("send"), count);
    b.set_nonblocking(false).expect("blocking");
    let mut slots = bufs(count);
    let mut seqs = Vec::new();
    while seqs.len() < count {
        let n = b.recv_batch(&mut slots, HEADROOM).expect("recv");
        assert!(n <= MAX_BATCH);
        seqs.extend(
            slots[..n]
                .iter()
                .map(|d| u32::from_be_bytes(d.buf.as_slice()[4..8].try_into().expect("seq"))),
        );
    }
    assert_eq!(seqs, (1..=count as u32).collect::<Vec<_>>(), "in order");
}

#[test]
fn channel_socket_frames_like_udp() {
    let a_addr: SocketAddr = "192.0.2.1:4500".parse().expect("addr");
    let b_addr: SocketAddr = "198.51.100.1:4500".parse().expect("addr");
    let (mut a, mut b) = ChannelSocket::pair(a_addr, b_addr);
    let ike = ike_message(30);
    let esp = esp_packet(0x42, 1, 50);
    let sent = a
        .send_batch(&[
            Datagram::to(b_addr, DatagramKind::Ike, PacketBuf::from_packet(&ike)),
            Datagram::to(b_addr, DatagramKind::Esp, PacketBuf::from_packet(&esp)),
            Datagram::to(
                b_addr,
                DatagramKind::Keepalive,
                PacketBuf::from_packet(&[0xff]),
            ),
        ])
        .expect("send");
    assert_eq!(sent, 3);
    let mut slots = bufs(8);
    let n = b.recv_batch(&mut slots, HEADROOM).expect("recv");
    assert_eq!(n, 3);
    assert_eq!(slots[0].kind, DatagramKind::Ike);
    assert_eq!(slots[0].buf.as_slice(), &ike[..]);
    assert_eq!(slots[1].kind, DatagramKind::Esp);
    assert_eq!(slots[1].buf.as_slice(), &esp[..]);
    assert_eq!(slots[1].buf.headroom(), HEADROOM);
    assert_eq!(slots[2].kind, DatagramKind::Keepalive);
    assert!(slots[..3].iter().all(|d| d.peer == a_addr));

    b.set_nonblocking(true);
    let err = b.recv_batch(&mut slots, HEADROOM).expect_err("empty");
    assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
    drop(a);
    assert_eq!(b.recv_batch(&mut slots, HEADROOM).expect("eof"), 0);
}

#[test]
fn channel_tun_moves_packets_both_ways() {
    let (mut tun, kernel) = ChannelTun::new();
    for i in 0..3u8 {
        kernel.inbound.send(vec![0x45, i, 0, 20]).expect("send");
    }
    let mut pkts: Vec<_> = (0..8).map(|_| PacketBuf::new()).collect();
    assert_eq!(tun.recv_batch(&mut pkts, HEADROOM).expect("recv"), 3);
    assert_eq!(pkts[2].as_slice(), &[0x45, 2, 0, 20]);
    assert_eq!(pkts[2].headroom(), HEADROOM);
    assert_eq!(tun.send_batch(&pkts[..2]).expect("send"), 2);
    assert_eq!(kernel.outbound.try_recv().expect("first"), [0x45, 0, 0, 20]);
    assert_eq!(
        kernel.outbound.try_recv().expect("second"),
        [0x45, 1, 0, 20]
    );
    drop(kernel);
    assert_eq!(tun.recv_batch(&mut pkts, HEADROOM).expect("eof"), 0);
    assert!(tun.send_batch(&pkts[..1]).is_err(), "kernel end gone");
}

/// UDP GSO: one `send_gso` of equal segments and a shorter last one arrives as that
/// many datagrams, each with its own contents, classified as ESP.
#[test]
fn gso_send_arrives_as_separate_datagrams() {
    let test = "gso_send_arrives_as_separate_datagrams";
    let Some((a, mut b)) = loopback_pair(test, IpAddr::V4(Ipv4Addr::LOCALHOST)) else {
        return;
    };
    let to = b.local_addr().expect("addr");
    let segs: Vec<Vec<u8>> = (0..5u32)
        .map(|i| esp_packet(0x1000 + i, i + 1, if i == 4 { 60 } else { 100 }))
        .collect();
    let refs: Vec<&[u8]> = segs.iter().map(Vec::as_slice).collect();
    let sent = match a.send_gso(to, &refs) {
        // EINVAL, EIO, ENOPROTOOPT: a kernel without UDP GSO (before 4.18); the data
        // plane falls back to one datagram per send.
        Err(e) if matches!(e.raw_os_error(), Some(22 | 5 | 92)) => {
            Err(kernel_feature("UDP GSO (UDP_SEGMENT)", e))
        }
        Err(e) => panic!("send_gso: {e}"),
        Ok(()) => Ok(()),
    };
    if require(test, sent).is_none() {
        return;
    }
    let got = recv_n(&mut b, 5);
    for (d, want) in got.iter().zip(&segs) {
        assert_eq!(d.kind, DatagramKind::Esp);
        assert_eq!(d.buf.as_slice(), want.as_slice());
    }
    // Unequal segments are refused before the kernel sees them.
    let bad: Vec<&[u8]> = vec![&segs[4], &segs[0]];
    assert_eq!(
        a.send_gso(to, &bad).map_err(|e| e.kind()),
        Err(std::io::ErrorKind::InvalidInput)
    );
}

/// UDP GRO: a GSO send of equal-length datagrams reaches a socket with `UDP_GRO` as
/// one coalesced datagram (or, on kernels without it, as several); `split_gro` gives
/// back every datagram, each classified on its own (an IKE message of the same length
/// or a keepalive at the end are not ESP).
#[test]
fn gro_receive_splits_into_the_datagrams_sent() {
    let test = "gro_receive_splits_into_the_datagrams_sent";
    let Some((a, mut b)) = loopback_pair(test, IpAddr::V4(Ipv4Addr::LOCALHOST)) else {
        return;
    };
    let gro = b.set_gro(true).map_err(|e| kernel_feature("UDP_GRO", e));
    if require(test, gro).is_none() {
        return;
    }
    let to = b.local_addr().expect("addr");
    let mut ike = esp::natt::NON_ESP_MARKER.to_vec();
    ike.extend_from_slice(&ike_message(96));
    let segs: Vec<Vec<u8>> = vec![
        esp_packet(0x1000, 1, 100),
        ike,
        esp_packet(0x1000, 2, 100),
        esp_packet(0x1000, 3, 100),
        vec![0xff],
    ];
    let refs: Vec<&[u8]> = segs.iter().map(Vec::as_slice).collect();
    let sent = a
        .send_gso(to, &refs)
        .map_err(|e| kernel_feature("UDP GSO (UDP_SEGMENT)", e));
    if require(test, sent).is_none() {
        return;
    }
    let mut got = Vec::new();
    let mut slots = bufs(8);
    while got.len() < segs.len() {
        let n = b.recv_batch(&mut slots, HEADROOM).expect("datagrams");
        for d in &slots[..n] {
            if d.gro_size != 0 {
                eprintln!("coalesced: {} octets of {}", d.buf.len(), d.gro_size);
                assert_eq!(d.gro_size, 100);
                assert_eq!(d.buf.len(), 4 * 100 + 1);
            }
            d.split_gro(HEADROOM, PacketBuf::new, &mut got);
        }
    }
    let kinds: Vec<DatagramKind> = got.iter().map(|d| d.kind).collect();
    use DatagramKind::{Esp, Ike, Keepalive};
    assert_eq!(kinds, vec![Esp, Ike, Esp, Esp, Keepalive]);
    assert_eq!(got[0].buf.as_slice(), segs[0].as_slice());
    assert_eq!(got[1].buf.as_slice(), &segs[1][4..], "marker stripped");
    assert_eq!(got[3].buf.as_slice(), segs[3].as_slice());
    assert!(
        got.iter()
            .all(|d| d.gro_size == 0 && d.peer == a.local_addr().expect("a"))
    );
}

/// An ICMP port unreachable for a datagram sent to a closed port comes back through
/// the error queue with its quote, the reporter and what it said (the IKE socket on
/// port 500 moves a setup on to the next peer address with it).
#[test]
fn a_port_unreachable_is_reported_with_its_quote() {
    use std::os::fd::AsRawFd;

    use esp::io::errqueue::{QueuedError, enable_reports, recv_error};
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    enable_reports(sock.as_raw_fd(), false).expect("IP_RECVERR");
    // A port nobody listens on: bind one, note it, close it.
    let closed = UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free port");
    let msg = ike_message(64);
    sock.send_to(&msg, closed).expect("send");
    let mut report = None;
    for _ in 0..200 {
        match recv_error(sock.as_raw_fd()).expect("error queue") {
            Some(e) => {
                report = Some(e);
                break;
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    let Some(QueuedError::Unreachable(u)) = report else {
        panic!("no port unreachable reported: {report:?}");
    };
    assert_eq!(u.peer, closed);
    assert_eq!(u.what, "port unreachable");
    assert_eq!(u.reporter, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    assert_eq!(u.quoted(), &msg[..esp::io::errqueue::QUOTE_LEN]);
    // Drained.
    assert_eq!(recv_error(sock.as_raw_fd()).ok(), Some(None));
}

/// An address this host does not have (TEST-NET-3) can be bound only with
/// `freebind` (a VRRP address keepalived adds later); without it, binding fails as
/// it always did, so a mistyped address is still noticed.
#[test]
fn freebind_binds_an_address_the_host_does_not_have() {
    let absent = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 77)), 0);
    let e = UdpEncapSocket::bind(absent, false).expect_err("not a local address");
    assert_eq!(e.raw_os_error(), Some(libc::EADDRNOTAVAIL), "{e}");
    let s = UdpEncapSocket::bind_with(absent, false, true).expect("freebind");
    assert_eq!(s.local_addr().expect("bound").ip(), absent.ip());
}
