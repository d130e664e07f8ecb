//! TCP MSS clamping, checked with etherparse as the independent parser: it builds
//! the SYNs, then re-parses the clamped packets and recomputes the TCP checksum.

use esp::mss::{Handshake, MssOutcome, TcpEnds, clamp_mss, default_mss, tcp_handshake};
use etherparse::{
    IpHeaders, IpNumber, Ipv6Extensions, Ipv6FlowLabel, Ipv6Header, Ipv6RawExtHeader,
    PacketBuilder, SlicedPacket, TcpOptionElement, TransportSlice,
};
use proptest::prelude::*;

const SRC4: [u8; 4] = [10, 1, 0, 5];
const DST4: [u8; 4] = [10, 2, 0, 9];
const SRC6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5];
const DST6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9];

#[derive(Clone, Copy)]
enum Flags {
    Syn,
    SynAck,
    Ack,
    SynRst,
}

fn tcp_v4(options: &[u8], flags: Flags, payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ipv4(SRC4, DST4, 64).tcp(40000, 443, 0x01020304, 64240);
    let b = match flags {
        Flags::Syn => b.syn(),
        Flags::SynAck => b.syn().ack(0x0a0b0c0d),
        Flags::Ack => b.ack(1),
        Flags::SynRst => b.syn().rst(),
    };
    let b = b.options_raw(options).expect("options fit");
    let mut out = Vec::new();
    b.write(&mut out, payload).expect("write");
    out
}

fn tcp_v6(options: &[u8], flags: Flags, payload: &[u8], with_exts: bool) -> Vec<u8> {
    let mut exts = Ipv6Extensions::default();
    if with_exts {
        exts.hop_by_hop_options = Some(
            Ipv6RawExtHeader::new_raw(IpNumber::IPV6_DESTINATION_OPTIONS, &[1, 4, 0, 0, 0, 0])
                .expect("hbh"),
        );
        exts.destination_options = Some(
            Ipv6RawExtHeader::new_raw(IpNumber::TCP, &[1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
                .expect("dst opts"),
        );
    }
    let header = Ipv6Header {
        traffic_class: 0,
        flow_label: Ipv6FlowLabel::ZERO,
        payload_length: 0,
        next_header: IpNumber::TCP,
        hop_limit: 64,
        source: SRC6,
        destination: DST6,
    };
    let b = PacketBuilder::ip(IpHeaders::Ipv6(header, exts)).tcp(40000, 443, 7, 65535);
    let b = match flags {
        Flags::Syn => b.syn(),
        Flags::SynAck => b.syn().ack(99),
        Flags::Ack => b.ack(1),
        Flags::SynRst => b.syn().rst(),
    };
    let b = b.options_raw(options).expect("options fit");
    let mut out = Vec::new();
    b.write(&mut out, payload).expect("write");
    out
}

/// Re-parses with etherparse, checks the TCP checksum is right and returns the MSS
/// options found (by etherparse's option iterator).
fn verify(packet: &[u8]) -> Vec<u16> {
    let sliced = SlicedPacket::from_ip(packet).expect("etherparse parses the packet");
    let Some(TransportSlice::Tcp(tcp)) = &sliced.transport else {
        panic!("no TCP");
    };
    let expected = match sliced.net.as_ref().expect("net") {
        etherparse::NetSlice::Ipv4(ip) => tcp
            .calc_checksum_ipv4(ip.header().source(), ip.header().destination())
            .expect("checksum"),
        etherparse::NetSlice::Ipv6(ip) => tcp
            .calc_checksum_ipv6(ip.header().source(), ip.header().destination())
            .expect("checksum"),
        _ => panic!("not IP"),
    };
    assert_eq!(tcp.checksum(), expected, "TCP checksum after clamping");
    tcp.options_iterator()
        .filter_map(|o| match o.expect("options parse") {
            TcpOptionElement::MaximumSegmentSize(m) => Some(m),
            _ => None,
        })
        .collect()
}

fn mss(v: u16) -> [u8; 4] {
    let b = v.to_be_bytes();
    [2, 4, b[0], b[1]]
}

/// Typical Linux SYN options: MSS, SACK permitted, timestamps, NOP, window scale.
fn linux_options(m: u16) -> Vec<u8> {
    let mut o = mss(m).to_vec();
    o.extend_from_slice(&[4, 2, 8, 10, 0, 1, 2, 3, 0, 0, 0, 0, 1, 3, 3, 7]);
    o
}

#[test]
fn default_mss_values() {
    assert_eq!(default_mss(1400, false), 1360);
    assert_eq!(default_mss(1400, true), 1340);
    assert_eq!(default_mss(1500, false), 1460);
    assert_eq!(default_mss(1280, true), 1220);
    assert_eq!(default_mss(30, false), 0);
}

#[test]
fn ipv4_syn_clamped_and_checksum_verified() {
    let mut p = tcp_v4(&linux_options(1460), Flags::Syn, &[]);
    let before = p.clone();
    assert_eq!(
        clamp_mss(&mut p, 1360),
        MssOutcome::Clamped {
            from: 1460,
            to: 1360
        }
    );
    assert_eq!(verify(&p), vec![1360]);
    // only the MSS value and the TCP checksum changed
    let diff: Vec<usize> = (0..p.len()).filter(|&i| p[i] != before[i]).collect();
    assert!(
        diff.iter().all(|&i| matches!(i, 36 | 37 | 42 | 43)),
        "{diff:?}"
    );
}

#[test]
fn ipv4_syn_ack_clamped() {
    let mut p = tcp_v4(&linux_options(8960), Flags::SynAck, &[]);
    assert_eq!(
        clamp_mss(&mut p, 1360),
        MssOutcome::Clamped {
            from: 8960,
            to: 1360
        }
    );
    assert_eq!(verify(&p), vec![1360]);
}

#[test]
fn ipv6_syn_clamped_and_checksum_verified() {
    let mut p = tcp_v6(&linux_options(1440), Flags::Syn, &[], false);
    assert_eq!(
        clamp_mss(&mut p, 1340),
        MssOutcome::Clamped {
            from: 1440,
            to: 1340
        }
    );
    assert_eq!(verify(&p), vec![1340]);
}

#[test]
fn ipv6_syn_ack_behind_extension_headers() {
    let mut p = tcp_v6(&linux_options(1440), Flags::SynAck, b"data", true);
    assert_eq!(p[6], 0, "hop-by-hop first");
    assert_eq!(
        clamp_mss(&mut p, 1220),
        MssOutcome::Clamped {
            from: 1440,
            to: 1220
        }
    );
    assert_eq!(verify(&p), vec![1220]);
}

#[test]
fn ipv4_with_ip_options() {
    let mut p = tcp_v4(&linux_options(1460), Flags::Syn, &[]);
    // insert a 4-octet IP option (NOP NOP NOP EOL) and fix IHL, total length, checksum
    p.splice(20..20, [1, 1, 1, 0]);
    p[0] = 0x46;
    let total = p.len() as u16;
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p[10..12].copy_from_slice(&[0, 0]);
    let c = esp::ip::checksum(&p[..24]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    assert_eq!(
        clamp_mss(&mut p, 1300),
        MssOutcome::Clamped {
            from: 1460,
            to: 1300
        }
    );
    assert_eq!(verify(&p), vec![1300]);
}

/// The MSS option at even and odd offsets within the TCP header, with other
/// options around it, and a payload so the checksum is not trivial.
#[test]
fn mss_at_various_positions() {
    let layouts: Vec<Vec<u8>> = vec![
        [mss(9000).as_slice(), &[1, 1, 1, 0]].concat(),
        [&[1][..], &mss(9000), &[1, 1, 1]].concat(), // offset 21 (odd)
        [&[1, 1][..], &mss(9000), &[1, 1]].concat(), // offset 22
        [&[3, 3, 7][..], &mss(9000), &[1]].concat(), // after window scale, offset 23
        [&[4, 2, 1][..], &mss(9000), &[0, 0, 0, 0, 0]].concat(), // SACK-perm, NOP, MSS, EOL
        [
            &[8, 10, 1, 2, 3, 4, 5, 6, 7, 8, 1][..],
            &mss(9000),
            &[1, 1, 1, 1, 3, 3, 2, 0],
        ]
        .concat(), // after timestamps, offset 31 (odd), window scale after
    ];
    for (i, opts) in layouts.iter().enumerate() {
        for payload in [&b""[..], b"x", b"odd-length payload!"] {
            let mut p = tcp_v4(opts, Flags::Syn, payload);
            assert_eq!(
                clamp_mss(&mut p, 1360),
                MssOutcome::Clamped {
                    from: 9000,
                    to: 1360
                },
                "layout {i}"
            );
            assert_eq!(verify(&p), vec![1360], "layout {i}");
            let mut q = tcp_v6(opts, Flags::Syn, payload, i % 2 == 0);
            assert_eq!(
                clamp_mss(&mut q, 1340),
                MssOutcome::Clamped {
                    from: 9000,
                    to: 1340
                },
                "v6 layout {i}"
            );
            assert_eq!(verify(&q), vec![1340], "v6 layout {i}");
        }
    }
}

#[test]
fn mss_already_small_or_equal_is_unchanged() {
    for m in [536, 1360] {
        let mut p = tcp_v4(&linux_options(m), Flags::Syn, &[]);
        let before = p.clone();
        assert_eq!(clamp_mss(&mut p, 1360), MssOutcome::Unchanged);
        assert_eq!(p, before);
    }
}

#[test]
fn no_mss_option_is_unchanged_and_not_added() {
    let mut p = tcp_v4(&[1, 3, 3, 7], Flags::Syn, &[]);
    let before = p.clone();
    assert_eq!(clamp_mss(&mut p, 1360), MssOutcome::Unchanged);
    assert_eq!(p, before);
    let mut p = tcp_v4(&[], Flags::Syn, &[]);
    assert_eq!(clamp_mss(&mut p, 1360), MssOutcome::Unchanged);
}

#[test]
fn mss_after_eol_is_ignored() {
    // RFC 9293: EOL ends the option list; what follows is padding.
    let mut p = tcp_v4(&[0, 0, 0, 0, 2, 4, 0x23, 0x28], Flags::Syn, &[]);
    let before = p.clone();
    assert_eq!(clamp_mss(&mut p, 1360), MssOutcome::Unchanged);
    assert_eq!(p, before);
}

#[test]
fn every_mss_option_is_clamped() {
    let opts = [mss(9000), mss(1200), mss(1500)].concat();
    let mut p = tcp_v4(&opts, Flags::Syn, &[]);
    assert_eq!(
        clamp_mss(&mut p, 1360),
        MssOutcome::Clamped {
            from: 9000,
            to: 1360
        }
    );
    assert_eq!(verify(&p), vec![1360, 1200, 1360]);
}

#[test]
fn not_a_syn() {
    for flags in [Flags::Ack, Flags::SynRst] {
        let mut p = tcp_v4(&linux_options(1460), flags, &[]);
        let before = p.clone();
        assert_eq!(clamp_mss(&mut p, 1360), MssOutcome::NotTcpSyn);
        assert_eq!(p, before);
    }
    let mut udp = Vec::new();
    PacketBuilder::ipv4(SRC4, DST4, 64)
        .udp(1, 2)
        .write(&mut udp, &[2, 4, 0x23, 0x28])
        .expect("udp");
    assert_eq!(clamp_mss(&mut udp, 1360), MssOutcome::NotTcpSyn);
}

#[test]
fn non_first_fragment_is_not_touched() {
    let mut p = tcp_v4(&linux_options(1460), Flags::Syn, &[]);
    p[6] = 0x20; // MF, offset 8 octets
    p[7] = 0x01;
    p[10..12].copy_from_slice(&[0, 0]);
    let c = esp::ip::checksum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    let before = p.clone();
    assert_eq!(clamp_mss(&mut p, 1360), MssOutcome::NotTcpSyn);
    assert_eq!(p, before);
}

#[test]
fn malformed_options_and_headers() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("option length 0", vec![3, 0, 1, 1]),
        ("option length 1", vec![3, 1, 1, 1]),
        ("option past header", vec![1, 1, 8, 10]),
        ("kind without length octet", vec![1, 1, 1, 3]),
        ("MSS length 3", vec![2, 3, 5, 1]),
        ("MSS length 6", vec![2, 6, 5, 1, 0, 0, 0, 0]),
        (
            "bad option after a good MSS",
            vec![2, 4, 0x23, 0x28, 5, 9, 0, 0],
        ),
    ];
    for (what, opts) in cases {
        let mut p = tcp_v4(&opts, Flags::Syn, &[]);
        let before = p.clone();
        assert_eq!(clamp_mss(&mut p, 1360), MssOutcome::Malformed, "{what}");
        assert_eq!(p, before, "{what}: unchanged");
    }

    let good = tcp_v4(&linux_options(1460), Flags::Syn, &[]);
    // data offset below 5
    let mut p = good.clone();
    p[32] = 0x40;
    assert_eq!(clamp_mss(&mut p, 1360), MssOutcome::Malformed);
    // data offset past the packet
    let mut p = good.clone();
    p[32] = 0xf0;
    assert_eq!(clamp_mss(&mut p, 1360), MssOutcome::Malformed);
    // truncated buffer (IP total length says more)
    let mut p = good[..good.len() - 3].to_vec();
    assert_eq!(clamp_mss(&mut p, 1360), MssOutcome::Malformed);
    // TCP header cut short by the IP total length
    let mut p = good[..30].to_vec();
    p[2..4].copy_from_slice(&30u16.to_be_bytes());
    assert_eq!(clamp_mss(&mut p, 1360), MssOutcome::Malformed);
    // empty and garbage
    assert_eq!(clamp_mss(&mut [], 1360), MssOutcome::Malformed);
    assert_eq!(clamp_mss(&mut [0x50; 60], 1360), MssOutcome::Malformed);
}

proptest! {
    #[test]
    fn random_bytes_never_panic(
        mut bytes in proptest::collection::vec(any::<u8>(), 0..200),
        max in any::<u16>(),
    ) {
        let _ = clamp_mss(&mut bytes, max);
    }

    /// Random bytes after a plausible header: exercises the option walker.
    #[test]
    fn random_options_never_panic_and_keep_checksum(
        opts in proptest::collection::vec(any::<u8>(), 0..10).prop_map(|mut v| {
            v.resize(v.len().div_ceil(4) * 4, 0);
            v
        }),
        tail in proptest::collection::vec(any::<u8>(), 0..30),
        max in any::<u16>(),
        v6 in any::<bool>(),
    ) {
        let mut p = if v6 {
            tcp_v6(&opts, Flags::Syn, &tail, false)
        } else {
            tcp_v4(&opts, Flags::Syn, &tail)
        };
        let before = p.clone();
        match clamp_mss(&mut p, max) {
            MssOutcome::Clamped { to, .. } => {
                prop_assert_eq!(to, max);
                let _ = verify(&p);
            }
            _ => prop_assert_eq!(&p, &before),
        }
    }

    #[test]
    fn clamp_matches_model(
        m in any::<u16>(),
        max in any::<u16>(),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
        lead_nops in 0usize..4,
        v6 in any::<bool>(),
        synack in any::<bool>(),
    ) {
        let mut opts = vec![1u8; lead_nops];
        opts.extend_from_slice(&mss(m));
        opts.resize(opts.len().div_ceil(4) * 4, 0);
        let flags = if synack { Flags::SynAck } else { Flags::Syn };
        let mut p = if v6 {
            tcp_v6(&opts, flags, &payload, lead_nops == 1)
        } else {
            tcp_v4(&opts, flags, &payload)
        };
        let outcome = clamp_mss(&mut p, max);
        if m > max {
            prop_assert_eq!(outcome, MssOutcome::Clamped { from: m, to: max });
        } else {
            prop_assert_eq!(outcome, MssOutcome::Unchanged);
        }
        prop_assert_eq!(verify(&p), vec![m.min(max)]);
    }
}

/// Opens and answers are told apart for both families (IPv6 with extension
/// headers too); plain ACKs, UDP and garbage are nothing.
#[test]
fn tcp_handshakes_are_classified() {
    let ends4 = TcpEnds {
        src: std::net::IpAddr::from(SRC4),
        dst: std::net::IpAddr::from(DST4),
        sport: 40000,
        dport: 443,
    };
    let mss = [2, 4, 5, 180];
    assert_eq!(
        tcp_handshake(&tcp_v4(&mss, Flags::Syn, &[])),
        Some((ends4, Handshake::Open))
    );
    assert_eq!(
        tcp_handshake(&tcp_v4(&mss, Flags::SynAck, &[])),
        Some((ends4, Handshake::Answer))
    );
    assert_eq!(
        tcp_handshake(&tcp_v4(&[], Flags::SynRst, &[])),
        Some((ends4, Handshake::Answer))
    );
    assert_eq!(tcp_handshake(&tcp_v4(&[], Flags::Ack, b"data")), None);
    for exts in [false, true] {
        let (ends, kind) =
            tcp_handshake(&tcp_v6(&mss, Flags::Syn, &[], exts)).expect("an IPv6 SYN");
        assert_eq!(kind, Handshake::Open);
        assert_eq!(ends.dst, std::net::IpAddr::from(DST6));
        assert_eq!(ends.dport, 443);
    }
    let mut udp = Vec::new();
    PacketBuilder::ipv4(SRC4, DST4, 64)
        .udp(53, 53)
        .write(&mut udp, b"q")
        .expect("udp");
    assert_eq!(tcp_handshake(&udp), None);
    let syn = tcp_v4(&mss, Flags::Syn, &[]);
    for cut in 0..syn.len() {
        assert_eq!(tcp_handshake(&syn[..cut]), None, "cut at {cut}");
    }
}
