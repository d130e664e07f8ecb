//! ICMP "fragmentation needed" / ICMPv6 "packet too big": the replies are compared
//! byte by byte with packets etherparse builds from the same fields, and the
//! RFC 1122 / RFC 1812 / RFC 4443 "do not reply" rules are checked one by one.

use core::net::IpAddr;
use std::time::{Duration, Instant};

use esp::icmp::{IcmpError, IcmpRateLimiter, too_big_reply};
use esp::ip::IpError;
use etherparse::icmpv4::DestUnreachableHeader;
use etherparse::{
    Icmpv4Header, Icmpv4Type, Icmpv6Header, Icmpv6Type, IpDscp, IpFragOffset, IpHeaders, IpNumber,
    Ipv4Header, Ipv6Extensions, Ipv6FlowLabel, Ipv6FragmentHeader, Ipv6Header, PacketBuilder,
    SlicedPacket, TransportSlice,
};
use proptest::prelude::*;

const H1: [u8; 4] = [10, 1, 0, 5];
const H2: [u8; 4] = [10, 2, 0, 9];
const GW: [u8; 4] = [10, 1, 0, 1];
const A1: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5];
const A2: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9];
const AGW: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + 3) as u8).collect()
}

/// A TCP packet of `total` octets (DF set, as etherparse's default).
fn tcp_v4(src: [u8; 4], dst: [u8; 4], total: usize) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ipv4(src, dst, 63)
        .tcp(40000, 443, 1, 1000)
        .ack(5)
        .write(&mut out, &payload(total - 40))
        .expect("build");
    out
}

fn icmp_v4(src: [u8; 4], dst: [u8; 4], ty: u8, code: u8, total: usize) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ipv4(src, dst, 63)
        .icmpv4_raw(ty, code, [0; 4])
        .write(&mut out, &payload(total - 28))
        .expect("build");
    out
}

fn udp_v6(src: [u8; 16], dst: [u8; 16], total: usize) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ipv6(src, dst, 63)
        .udp(5000, 53)
        .write(&mut out, &payload(total - 48))
        .expect("build");
    out
}

fn icmp_v6(src: [u8; 16], dst: [u8; 16], ty: u8, total: usize) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ipv6(src, dst, 63)
        .icmpv6_raw(ty, 0, [0; 4])
        .write(&mut out, &payload(total - 48))
        .expect("build");
    out
}

fn fix_v4_checksum(p: &mut [u8]) {
    p[10..12].copy_from_slice(&[0, 0]);
    let c = esp::ip::checksum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
}

/// What the reply must be, built by etherparse: IPv4 TOS 0xc0 (DSCP CS6), ID 0, DF,
/// TTL 64, ICMP 3/4 with the next-hop MTU, then the quote.
fn expected_v4(src: [u8; 4], dst: [u8; 4], mtu: u16, quote: &[u8]) -> Vec<u8> {
    let icmp = Icmpv4Header::with_checksum(
        Icmpv4Type::DestinationUnreachable(DestUnreachableHeader::FragmentationNeeded {
            next_hop_mtu: mtu,
        }),
        quote,
    );
    let len = (icmp.header_len() + quote.len()) as u16;
    let mut ip = Ipv4Header::new(len, 64, IpNumber::ICMP, src, dst).expect("ip");
    ip.dscp = IpDscp::CS6;
    ip.dont_fragment = true;
    ip.identification = 0;
    ip.header_checksum = ip.calc_header_checksum();
    [ip.to_bytes().as_slice(), icmp.to_bytes().as_slice(), quote].concat()
}

/// IPv6 traffic class 0, flow label 0, hop limit 64, ICMPv6 2/0 with the MTU.
fn expected_v6(src: [u8; 16], dst: [u8; 16], mtu: u16, quote: &[u8]) -> Vec<u8> {
    let icmp = Icmpv6Header::with_checksum(
        Icmpv6Type::PacketTooBig {
            mtu: u32::from(mtu),
        },
        src,
        dst,
        quote,
    )
    .expect("icmpv6");
    let ip = Ipv6Header {
        traffic_class: 0,
        flow_label: Ipv6FlowLabel::ZERO,
        payload_length: (icmp.header_len() + quote.len()) as u16,
        next_header: IpNumber::IPV6_ICMP,
        hop_limit: 64,
        source: src,
        destination: dst,
    };
    [ip.to_bytes().as_slice(), icmp.to_bytes().as_slice(), quote].concat()
}

fn reply(pkt: &[u8], mtu: u16, our: Option<IpAddr>) -> Result<Vec<u8>, IcmpError> {
    let mut out = Vec::new();
    too_big_reply(pkt, mtu, our, &mut out).map(|()| out)
}

#[test]
fn ipv4_frag_needed_byte_by_byte() {
    let pkt = tcp_v4(H1, H2, 1500);
    let got = reply(&pkt, 1400, None).expect("reply");
    // from the original destination to the original source, 576 octets in all
    assert_eq!(got, expected_v4(H2, H1, 1400, &pkt[..548]));
    assert_eq!(got.len(), 576);
    // and etherparse reads it back as such
    let sliced = SlicedPacket::from_ip(&got).expect("parses");
    let Some(etherparse::NetSlice::Ipv4(ip)) = &sliced.net else {
        panic!("not IPv4")
    };
    assert_eq!(ip.header().source(), H2);
    let Some(TransportSlice::Icmpv4(icmp)) = &sliced.transport else {
        panic!("not ICMP")
    };
    assert_eq!(
        icmp.icmp_type(),
        Icmpv4Type::DestinationUnreachable(DestUnreachableHeader::FragmentationNeeded {
            next_hop_mtu: 1400
        })
    );
}

#[test]
fn ipv4_from_our_address_and_short_quote() {
    // a packet only a little larger than the MTU is quoted whole
    let pkt = tcp_v4(H1, H2, 100);
    let got = reply(&pkt, 68, Some(IpAddr::from(GW))).expect("reply");
    assert_eq!(got, expected_v4(GW, H1, 68, &pkt));
    assert_eq!(got.len(), 128);
}

#[test]
fn ipv4_trailing_bytes_are_not_quoted() {
    let mut pkt = tcp_v4(H1, H2, 200);
    let orig = pkt.clone();
    pkt.extend_from_slice(&[0xee; 16]); // TFC padding after the total length
    let got = reply(&pkt, 100, None).expect("reply");
    assert_eq!(got, expected_v4(H2, H1, 100, &orig));
}

#[test]
fn ipv4_echo_request_gets_a_reply() {
    let pkt = icmp_v4(H1, H2, 8, 0, 1500);
    let got = reply(&pkt, 1400, None).expect("reply");
    assert_eq!(got, expected_v4(H2, H1, 1400, &pkt[..548]));
}

#[test]
fn ipv6_packet_too_big_byte_by_byte() {
    let pkt = udp_v6(A1, A2, 1500);
    let got = reply(&pkt, 1400, None).expect("reply");
    assert_eq!(got, expected_v6(A2, A1, 1400, &pkt[..1232]));
    assert_eq!(got.len(), 1280);
    let sliced = SlicedPacket::from_ip(&got).expect("parses");
    let Some(TransportSlice::Icmpv6(icmp)) = &sliced.transport else {
        panic!("not ICMPv6")
    };
    assert_eq!(icmp.icmp_type(), Icmpv6Type::PacketTooBig { mtu: 1400 });
}

#[test]
fn ipv6_from_our_address_short_packet() {
    let pkt = udp_v6(A1, A2, 1300);
    let got = reply(&pkt, 1280, Some(IpAddr::from(AGW))).expect("reply");
    assert_eq!(got, expected_v6(AGW, A1, 1280, &pkt[..1232]));
    let pkt = icmp_v6(A1, A2, 128, 1281); // echo request: informational
    let got = reply(&pkt, 1280, Some(IpAddr::from(AGW))).expect("reply");
    assert_eq!(got, expected_v6(AGW, A1, 1280, &pkt[..1232]));
}

#[test]
fn ipv6_multicast_destination_needs_our_address() {
    // RFC 4443 2.4 (e.3): Packet Too Big is allowed for multicast destinations
    let group = [0xff, 0x0e, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x42];
    let pkt = udp_v6(A1, group, 1500);
    assert_eq!(reply(&pkt, 1400, None), Err(IcmpError::NoSourceAddress));
    let got = reply(&pkt, 1400, Some(IpAddr::from(AGW))).expect("reply");
    assert_eq!(got, expected_v6(AGW, A1, 1400, &pkt[..1232]));
}

#[test]
fn bad_arguments() {
    let v4 = tcp_v4(H1, H2, 1500);
    let v6 = udp_v6(A1, A2, 1500);
    assert_eq!(
        reply(&v4, 1500, None),
        Err(IcmpError::Fits {
            len: 1500,
            mtu: 1500
        })
    );
    assert_eq!(
        reply(&v6, 1500, None),
        Err(IcmpError::Fits {
            len: 1500,
            mtu: 1500
        })
    );
    assert_eq!(
        reply(&v4, 67, None),
        Err(IcmpError::MtuTooSmall { mtu: 67, min: 68 })
    );
    assert_eq!(
        reply(&v6, 1279, None),
        Err(IcmpError::MtuTooSmall {
            mtu: 1279,
            min: 1280
        })
    );
    assert_eq!(
        reply(&v4, 1400, Some(IpAddr::from(AGW))),
        Err(IcmpError::FamilyMismatch {
            our_addr: IpAddr::from(AGW)
        })
    );
    assert_eq!(
        reply(&v6, 1400, Some(IpAddr::from(GW))),
        Err(IcmpError::FamilyMismatch {
            our_addr: IpAddr::from(GW)
        })
    );
    assert!(matches!(
        reply(&v4[..1000], 576, None),
        Err(IcmpError::Malformed(IpError::Truncated { .. }))
    ));
    assert!(matches!(
        reply(&[], 576, None),
        Err(IcmpError::Malformed(_))
    ));
}

#[test]
fn ipv4_without_df_is_to_be_fragmented() {
    let mut pkt = tcp_v4(H1, H2, 1500);
    pkt[6] = 0;
    fix_v4_checksum(&mut pkt);
    assert_eq!(reply(&pkt, 1400, None), Err(IcmpError::NotDontFragment));
}

#[test]
fn no_reply_to_icmp_errors() {
    // RFC 1122 3.2.2: never an error about an error; unknown types count as errors
    for ty in [3u8, 4, 5, 11, 12, 42] {
        let pkt = icmp_v4(H1, H2, ty, 0, 1500);
        let e = reply(&pkt, 1400, None).expect_err("suppressed");
        assert_eq!(e, IcmpError::QuotesIcmpError, "type {ty}");
        assert!(e.is_suppressed());
    }
    // RFC 4443 2.4 (e.1, e.2): ICMPv6 errors (types 0-127) and Redirect
    for ty in [1u8, 2, 3, 4, 100, 127, 137] {
        let pkt = icmp_v6(A1, A2, ty, 1500);
        assert_eq!(
            reply(&pkt, 1400, None),
            Err(IcmpError::QuotesIcmpError),
            "type {ty}"
        );
    }
}

#[test]
fn no_reply_to_non_first_fragments() {
    let mut pkt = tcp_v4(H1, H2, 1500);
    pkt[6] = 0x40 | 0x20; // DF + MF is odd but possible; offset below
    pkt[7] = 0x10;
    fix_v4_checksum(&mut pkt);
    let e = reply(&pkt, 1400, None).expect_err("suppressed");
    assert_eq!(e, IcmpError::NonFirstFragment);
    assert!(e.is_suppressed());

    let exts = Ipv6Extensions {
        fragment: Some(Ipv6FragmentHeader::new(
            IpNumber::UDP,
            IpFragOffset::try_new(100).expect("offset"),
            true,
            7,
        )),
        ..Default::default()
    };
    let header = Ipv6Header {
        traffic_class: 0,
        flow_label: Ipv6FlowLabel::ZERO,
        payload_length: 0,
        next_header: IpNumber::UDP,
        hop_limit: 64,
        source: A1,
        destination: A2,
    };
    let mut v6 = Vec::new();
    PacketBuilder::ip(IpHeaders::Ipv6(header, exts))
        .udp(1, 2)
        .write(&mut v6, &payload(1400))
        .expect("build");
    assert_eq!(reply(&v6, 1280, None), Err(IcmpError::NonFirstFragment));
    // the first fragment is answered
    let mut first = v6.clone();
    first[42..44].copy_from_slice(&[0, 1]); // offset 0, M set
    let got = reply(&first, 1280, None).expect("reply");
    assert_eq!(got, expected_v6(A2, A1, 1280, &first[..1232]));
}

#[test]
fn no_reply_to_non_unicast_sources_or_v4_group_destinations() {
    for src in [
        [0, 0, 0, 0],
        [0, 1, 2, 3],
        [127, 0, 0, 1],
        [224, 0, 0, 5],
        [240, 0, 0, 1],
        [255; 4],
    ] {
        let pkt = tcp_v4(src, H2, 1500);
        let e = reply(&pkt, 1400, None).expect_err("suppressed");
        assert_eq!(e, IcmpError::SourceNotUnicast(IpAddr::from(src)));
        assert!(e.is_suppressed());
    }
    for dst in [[224, 0, 0, 5], [239, 1, 2, 3], [255; 4]] {
        let pkt = tcp_v4(H1, dst, 1500);
        assert_eq!(
            reply(&pkt, 1400, None),
            Err(IcmpError::DestinationNotUnicast(IpAddr::from(dst)))
        );
    }
    let mut loopback = [0u8; 16];
    loopback[15] = 1;
    let mut mcast = [0u8; 16];
    mcast[0] = 0xff;
    mcast[1] = 2;
    mcast[15] = 1;
    for src in [[0u8; 16], loopback, mcast] {
        let pkt = udp_v6(src, A2, 1500);
        assert_eq!(
            reply(&pkt, 1400, None),
            Err(IcmpError::SourceNotUnicast(IpAddr::from(src)))
        );
    }
}

#[test]
fn output_buffer_is_reused_and_cleared_on_error() {
    let mut out = Vec::with_capacity(1280);
    out.extend_from_slice(b"stale");
    let ptr = out.as_ptr();
    too_big_reply(&udp_v6(A1, A2, 1500), 1400, None, &mut out).expect("reply");
    assert_eq!(out.len(), 1280);
    assert_eq!(out.as_ptr(), ptr, "no reallocation");
    too_big_reply(&tcp_v4(H1, H2, 1500), 1400, None, &mut out).expect("reply");
    assert_eq!(out.len(), 576);
    assert!(too_big_reply(&tcp_v4(H1, H2, 100), 1400, None, &mut out).is_err());
    assert!(out.is_empty());
}

#[test]
fn rate_limiter() {
    let t0 = Instant::now();
    let mut rl = IcmpRateLimiter::new(3, Duration::from_millis(100));
    assert!(rl.allow(t0));
    assert!(rl.allow(t0));
    assert!(rl.allow(t0));
    assert!(!rl.allow(t0));
    assert!(!rl.allow(t0 + Duration::from_millis(99)));
    assert!(rl.allow(t0 + Duration::from_millis(100)));
    assert!(!rl.allow(t0 + Duration::from_millis(150)));
    // the fraction of an interval is kept: the next token is due at 200 ms, not 250
    assert!(!rl.allow(t0 + Duration::from_millis(199)));
    assert!(rl.allow(t0 + Duration::from_millis(200)));
    // a long pause refills to the burst, not beyond
    let later = t0 + Duration::from_secs(10);
    assert!((0..3).all(|_| rl.allow(later)));
    assert!(!rl.allow(later));
    // time going backwards refills nothing
    assert!(!rl.allow(t0));
    let mut unlimited = IcmpRateLimiter::new(0, Duration::ZERO);
    assert!((0..1000).all(|_| unlimited.allow(t0)));
    let mut default = IcmpRateLimiter::default();
    assert_eq!((0..100).filter(|_| default.allow(t0)).count(), 50);
}

proptest! {
    #[test]
    fn random_input_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..1600),
        mtu in any::<u16>(),
    ) {
        let mut out = Vec::new();
        let _ = too_big_reply(&bytes, mtu, None, &mut out);
    }

    /// Any reply built parses with etherparse, with correct checksums, addressed to
    /// the source, quoting the start of the packet.
    #[test]
    fn replies_are_well_formed(
        total in 69usize..3000,
        mtu in 68u16..3000,
        v6 in any::<bool>(),
        our in any::<bool>(),
    ) {
        let (pkt, our_addr) = if v6 {
            (udp_v6(A1, A2, total.max(48)), our.then(|| IpAddr::from(AGW)))
        } else {
            (tcp_v4(H1, H2, total.max(40)), our.then(|| IpAddr::from(GW)))
        };
        let mut out = Vec::new();
        match too_big_reply(&pkt, mtu, our_addr, &mut out) {
            Ok(()) => {
                prop_assert!(pkt.len() > usize::from(mtu));
                let sliced = SlicedPacket::from_ip(&out).expect("parses");
                match (&sliced.net, &sliced.transport) {
                    (Some(etherparse::NetSlice::Ipv4(ip)), Some(TransportSlice::Icmpv4(icmp))) => {
                        let h = ip.header();
                        prop_assert_eq!(h.to_header().calc_header_checksum(), h.header_checksum());
                        prop_assert_eq!(ip.header().destination(), H1);
                        prop_assert!(out.len() <= 576);
                        let q = icmp.payload();
                        prop_assert_eq!(q, &pkt[..q.len()]);
                        let expect = Icmpv4Header::with_checksum(icmp.icmp_type(), q);
                        prop_assert_eq!(icmp.header().checksum, expect.checksum);
                    }
                    (Some(etherparse::NetSlice::Ipv6(ip)), Some(TransportSlice::Icmpv6(icmp))) => {
                        prop_assert_eq!(ip.header().destination(), A1);
                        prop_assert!(out.len() <= 1280);
                        let q = icmp.payload();
                        prop_assert_eq!(q, &pkt[..q.len()]);
                        let src = ip.header().source();
                        let expect = Icmpv6Header::with_checksum(icmp.icmp_type(), src, A1, q)
                            .expect("sum");
                        prop_assert_eq!(icmp.header().checksum, expect.checksum);
                    }
                    other => prop_assert!(false, "unexpected {:?}", other),
                }
            }
            Err(e) => prop_assert!(
                matches!(e, IcmpError::Fits { .. } | IcmpError::MtuTooSmall { .. }),
                "{e:?}"
            ),
        }
    }
}
