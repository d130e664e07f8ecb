//! NAT-T framing on port 4500 (RFC 3948): classification, the UDP header and its
//! checksum (checked with etherparse), encapsulation choice and the keepalive timer.

use core::net::IpAddr;
use std::time::{Duration, Instant};

use esp::natt::{
    Classified4500, DEFAULT_KEEPALIVE_INTERVAL, Encapsulation, KEEPALIVE, KeepaliveTimer,
    NON_ESP_MARKER, UdpError, choose_encapsulation, classify_4500, encap_udp_header, udp_checksum,
};
use etherparse::{PacketBuilder, SlicedPacket, TransportSlice};
use proptest::prelude::*;

fn ike_header() -> Vec<u8> {
    let mut h = vec![0x11; 8]; // SPIi
    h.extend_from_slice(&[0; 8]); // SPIr
    h.extend_from_slice(&[33, 0x20, 34, 0x08, 0, 0, 0, 0, 0, 0, 0, 28]);
    h
}

#[test]
fn keepalive() {
    assert_eq!(KEEPALIVE, [0xff]);
    assert_eq!(classify_4500(&KEEPALIVE), Classified4500::Keepalive);
    assert_eq!(classify_4500(&[0xfe]), Classified4500::Invalid);
    assert_eq!(classify_4500(&[]), Classified4500::Invalid);
    // 0xff followed by more is not a keepalive: 0xff.. is an SPI
    assert!(matches!(
        classify_4500(&[0xff, 0, 0, 1, 0, 0, 0, 1]),
        Classified4500::Esp(_)
    ));
}

#[test]
fn ike_after_non_esp_marker() {
    let ike = ike_header();
    let dgram = [NON_ESP_MARKER.as_slice(), &ike].concat();
    assert_eq!(classify_4500(&dgram), Classified4500::Ike(&ike[..]));
    // a marker without a full IKE header behind it
    assert_eq!(classify_4500(&dgram[..31]), Classified4500::Invalid);
    assert_eq!(classify_4500(&[0, 0, 0, 0]), Classified4500::Invalid);
    assert_eq!(classify_4500(&[0, 0, 0]), Classified4500::Invalid);
}

#[test]
fn esp_with_nonzero_spi() {
    let esp = [0xc0, 0x01, 0x02, 0x03, 0, 0, 0, 1, 0xaa, 0xbb];
    assert_eq!(classify_4500(&esp), Classified4500::Esp(&esp[..]));
    // reserved SPI values 1-255 are left to the SA lookup
    let low = [0, 0, 0, 1, 0, 0, 0, 1];
    assert_eq!(classify_4500(&low), Classified4500::Esp(&low[..]));
    // too short to hold SPI and sequence number
    assert_eq!(classify_4500(&esp[..7]), Classified4500::Invalid);
}

#[test]
fn udp_header_for_ipv4_has_zero_checksum() {
    let esp = [0xc0, 1, 2, 3, 0, 0, 0, 1, 9, 9, 9, 9];
    let h = encap_udp_header(4500, 4500, esp.len()).expect("fits");
    assert_eq!(h, [0x11, 0x94, 0x11, 0x94, 0, 20, 0, 0]);
    // etherparse sees a UDP datagram of the right length
    let mut ip = Vec::new();
    PacketBuilder::ipv4([192, 0, 2, 1], [198, 51, 100, 7], 64)
        .udp(4500, 4500)
        .write(&mut ip, &esp)
        .expect("build");
    assert_eq!(&ip[20..26], &h[..6]);
    assert_eq!(
        encap_udp_header(1, 2, 65527).map(|h| h[4..6].to_vec()),
        Ok(vec![0xff, 0xff])
    );
    assert_eq!(encap_udp_header(1, 2, 65528), Err(UdpError::TooLong(65528)));
}

#[test]
fn udp_checksum_matches_etherparse() {
    let cases: [(IpAddr, IpAddr); 2] = [
        (
            "192.0.2.1".parse().expect("v4"),
            "198.51.100.7".parse().expect("v4"),
        ),
        (
            "2001:db8::1".parse().expect("v6"),
            "2001:db8:ffff::42".parse().expect("v6"),
        ),
    ];
    for (src, dst) in cases {
        for len in [0usize, 1, 7, 8, 9, 100, 1401] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 13 + 1) as u8).collect();
            let mut packet = Vec::new();
            match (src, dst) {
                (IpAddr::V4(s), IpAddr::V4(d)) => PacketBuilder::ipv4(s.octets(), d.octets(), 64)
                    .udp(4500, 4500)
                    .write(&mut packet, &payload),
                (IpAddr::V6(s), IpAddr::V6(d)) => PacketBuilder::ipv6(s.octets(), d.octets(), 64)
                    .udp(4500, 4500)
                    .write(&mut packet, &payload),
                _ => unreachable!(),
            }
            .expect("build");
            let sliced = SlicedPacket::from_ip(&packet).expect("parse");
            let Some(TransportSlice::Udp(udp)) = sliced.transport else {
                panic!("udp")
            };
            let mut dgram = encap_udp_header(4500, 4500, len).expect("fits").to_vec();
            dgram.extend_from_slice(&payload);
            assert_eq!(
                udp_checksum(src, dst, &dgram),
                udp.checksum(),
                "{src} len {len}"
            );
        }
    }
}

#[test]
fn udp_checksum_zero_is_sent_as_ffff() {
    // find a payload whose checksum computes to 0 by adjusting two octets
    let (src, dst): (IpAddr, IpAddr) = (
        "10.0.0.1".parse().expect("v4"),
        "10.0.0.2".parse().expect("v4"),
    );
    let mut dgram = encap_udp_header(4500, 4500, 2).expect("fits").to_vec();
    dgram.extend_from_slice(&[0, 0]);
    let c = udp_checksum(src, dst, &dgram);
    // adding the checksum value to the data makes the sum 0xffff, checksum 0
    dgram[8..10].copy_from_slice(&c.to_be_bytes());
    assert_eq!(udp_checksum(src, dst, &dgram), 0xffff);
}

#[test]
fn encapsulation_choice() {
    assert_eq!(
        choose_encapsulation(false, false, false),
        Encapsulation::RawEsp
    );
    assert_eq!(
        choose_encapsulation(true, false, false),
        Encapsulation::UdpEsp
    );
    assert_eq!(
        choose_encapsulation(false, true, false),
        Encapsulation::UdpEsp
    );
    assert_eq!(
        choose_encapsulation(false, false, true),
        Encapsulation::UdpEsp
    );
    assert_eq!(Encapsulation::RawEsp.overhead(), 0);
    assert_eq!(Encapsulation::UdpEsp.overhead(), 8);
}

#[test]
fn keepalive_timer_only_behind_nat() {
    let t0 = Instant::now();
    let s = Duration::from_secs(1);
    let mut k = KeepaliveTimer::new(DEFAULT_KEEPALIVE_INTERVAL, false);
    k.handle_sent(t0);
    assert_eq!(k.poll_timeout(t0), None);
    assert!(!k.poll_keepalive(t0 + 100 * s));

    k.set_behind_nat(true);
    assert_eq!(k.poll_timeout(t0), Some(t0 + 20 * s));
    assert!(!k.poll_keepalive(t0 + 19 * s));
    // traffic postpones it
    k.handle_sent(t0 + 15 * s);
    assert!(!k.poll_keepalive(t0 + 20 * s));
    assert_eq!(k.poll_timeout(t0 + 20 * s), Some(t0 + 35 * s));
    assert!(k.poll_keepalive(t0 + 35 * s));
    // the keepalive counts as sent
    assert_eq!(k.poll_timeout(t0 + 35 * s), Some(t0 + 55 * s));
    // an older send time does not move it back
    k.handle_sent(t0 + s);
    assert_eq!(k.poll_timeout(t0 + 35 * s), Some(t0 + 55 * s));
}

#[test]
fn keepalive_timer_never_sent_and_disabled() {
    let t0 = Instant::now();
    let mut k = KeepaliveTimer::new(Duration::from_secs(20), true);
    assert_eq!(k.poll_timeout(t0), Some(t0));
    assert!(k.poll_keepalive(t0));
    assert!(!k.poll_keepalive(t0));
    let mut off = KeepaliveTimer::new(Duration::ZERO, true);
    assert_eq!(off.poll_timeout(t0), None);
    assert!(!off.poll_keepalive(t0));
}

proptest! {
    /// Every datagram gets exactly one class, consistent with RFC 3948's rules.
    #[test]
    fn classification_is_total_and_consistent(d in proptest::collection::vec(any::<u8>(), 0..64)) {
        match classify_4500(&d) {
            Classified4500::Keepalive => prop_assert_eq!(&d[..], &[0xff][..]),
            Classified4500::Ike(ike) => {
                prop_assert_eq!(&d[..4], &[0, 0, 0, 0][..]);
                prop_assert_eq!(ike, &d[4..]);
                prop_assert!(ike.len() >= 28);
            }
            Classified4500::Esp(esp) => {
                prop_assert_eq!(esp, &d[..]);
                prop_assert!(d.len() >= 8 && d[..4] != [0, 0, 0, 0]);
            }
            Classified4500::Invalid => prop_assert!(
                (d.len() < 8 && d != [0xff])
                    || (d.len() >= 4 && d[..4] == [0, 0, 0, 0] && d.len() < 32)
            ),
            _ => prop_assert!(false, "new variant"),
        }
    }
}
