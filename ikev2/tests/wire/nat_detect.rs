//! NAT detection (RFC 7296 section 2.23): known answers, strongSwan captures, and
//! evaluation in every NAT combination.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;

use ikev2::nat::{
    NAT_HASH_LEN, NatStatus, evaluate, nat_detection_hash, our_hashes, received_hashes,
};
use ikev2::wire::{IkeSpi, Message, Notify, NotifyType, Payload};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn h(hex_str: &str) -> [u8; NAT_HASH_LEN] {
    hex::decode(hex_str).unwrap().try_into().unwrap()
}

fn rng() -> ChaCha20Rng {
    ChaCha20Rng::from_seed([7; 32])
}

const SPI_I: IkeSpi = IkeSpi(0x0123_4567_89ab_cdef);
const SPI_R: IkeSpi = IkeSpi(0xfedc_ba98_7654_3210);

#[test]
fn known_answers() {
    // python3 -c "import hashlib,socket,struct;print(hashlib.sha1(bytes.fromhex('0123456789abcdef'+'00'*8)+socket.inet_pton(socket.AF_INET,'192.0.2.1')+struct.pack('!H',500)).hexdigest())"
    assert_eq!(
        nat_detection_hash(SPI_I, IkeSpi::ZERO, sa("192.0.2.1:500")),
        h("9426429034924268452f8e3ff79fb69e2a8d71eb")
    );
    // python3 -c "import hashlib,socket,struct;print(hashlib.sha1(bytes.fromhex('0123456789abcdef'+'fedcba9876543210')+socket.inet_pton(socket.AF_INET6,'2001:db8::1')+struct.pack('!H',4500)).hexdigest())"
    assert_eq!(
        nat_detection_hash(SPI_I, SPI_R, sa("[2001:db8::1]:4500")),
        h("9de8bfefaab479f0d5a5609a6de20595c6307502")
    );
    // a dual-stack socket's IPv4-mapped address hashes as the IPv4 address
    assert_eq!(
        nat_detection_hash(SPI_I, IkeSpi::ZERO, sa("[::ffff:192.0.2.1]:500")),
        h("9426429034924268452f8e3ff79fb69e2a8d71eb")
    );
    // every input matters
    let base = nat_detection_hash(SPI_I, SPI_R, sa("192.0.2.1:500"));
    assert_ne!(base, nat_detection_hash(SPI_R, SPI_I, sa("192.0.2.1:500")));
    assert_ne!(base, nat_detection_hash(SPI_I, SPI_R, sa("192.0.2.1:4500")));
    assert_ne!(base, nat_detection_hash(SPI_I, SPI_R, sa("192.0.2.3:500")));
    assert_ne!(
        base,
        nat_detection_hash(SPI_I, IkeSpi::ZERO, sa("192.0.2.1:500"))
    );
}

/// The NAT-D hashes of a captured message: (source hashes, destination hash).
fn capture(file: &[u8]) -> (Message<'_>, Vec<[u8; 20]>, [u8; 20]) {
    let msg = Message::parse(file).unwrap();
    let (src, dst) = received_hashes(&msg.payloads);
    // cross-check against the wire accessor directly
    let direct: Vec<[u8; 20]> = msg
        .payloads
        .iter()
        .filter_map(|p| match p {
            Payload::Notify(n) if n.ty == NotifyType::NAT_DETECTION_SOURCE_IP => {
                n.nat_detection_hash().copied()
            }
            _ => None,
        })
        .collect();
    assert_eq!(src, direct);
    assert_eq!(src.len(), 1);
    (msg, src, dst.unwrap())
}

#[test]
fn strongswan_capture_request() {
    // 192.0.2.1:500 -> 192.0.2.2:500, SPIr zero. strongSwan with kernel-libipsec
    // fakes its source hash, so the destination matches and the source does not.
    let (msg, src, dst) = capture(include_bytes!(
        "../data/strongswan/modp2048/01-ike_sa_init-req-500.bin"
    ));
    let spi_i = msg.header.spi_i;
    assert_eq!(spi_i, IkeSpi(0xfad2_347a_f9ff_9521));
    assert!(msg.header.spi_r.is_zero());
    assert_eq!(
        dst,
        nat_detection_hash(spi_i, IkeSpi::ZERO, sa("192.0.2.2:500"))
    );
    assert_ne!(
        src[0],
        nat_detection_hash(spi_i, IkeSpi::ZERO, sa("192.0.2.1:500"))
    );
    // as the responder sees it: the peer "is behind a NAT", we are not
    let status = evaluate(
        spi_i,
        IkeSpi::ZERO,
        sa("192.0.2.2:500"),
        sa("192.0.2.1:500"),
        &src,
        Some(dst),
    );
    assert_eq!(
        status,
        Some(NatStatus {
            local_behind_nat: false,
            remote_behind_nat: true
        })
    );
}

#[test]
fn strongswan_capture_response() {
    // 192.0.2.2:500 -> 192.0.2.1:500, both SPIs.
    let (msg, src, dst) = capture(include_bytes!(
        "../data/strongswan/modp2048/02-ike_sa_init-resp-500.bin"
    ));
    let (spi_i, spi_r) = (msg.header.spi_i, msg.header.spi_r);
    assert_eq!(spi_r, IkeSpi(0xc8d4_5fdf_dbe6_90fd));
    assert_eq!(dst, nat_detection_hash(spi_i, spi_r, sa("192.0.2.1:500")));
    assert_ne!(
        src[0],
        nat_detection_hash(spi_i, spi_r, sa("192.0.2.2:500"))
    );
    // the response is not hashed with SPIr zero
    assert_ne!(
        dst,
        nat_detection_hash(spi_i, IkeSpi::ZERO, sa("192.0.2.1:500"))
    );
    let status = evaluate(
        spi_i,
        spi_r,
        sa("192.0.2.1:500"),
        sa("192.0.2.2:500"),
        &src,
        Some(dst),
    );
    assert_eq!(
        status,
        Some(NatStatus {
            local_behind_nat: false,
            remote_behind_nat: true
        })
    );
    assert!(status.unwrap().any());
}

#[test]
fn other_strongswan_captures() {
    for (req, resp) in [
        (
            &include_bytes!("../data/strongswan/curve25519/01-ike_sa_init-req-500.bin")[..],
            &include_bytes!("../data/strongswan/curve25519/02-ike_sa_init-resp-500.bin")[..],
        ),
        (
            &include_bytes!("../data/strongswan/invalid-ke/03-ike_sa_init-req-500.bin")[..],
            &include_bytes!("../data/strongswan/invalid-ke/04-ike_sa_init-resp-500.bin")[..],
        ),
    ] {
        let (m, src, dst) = capture(req);
        let i = m.header.spi_i;
        assert_eq!(
            dst,
            nat_detection_hash(i, IkeSpi::ZERO, sa("192.0.2.2:500"))
        );
        assert_ne!(
            src[0],
            nat_detection_hash(i, IkeSpi::ZERO, sa("192.0.2.1:500"))
        );
        let (m, src, dst) = capture(resp);
        let r = m.header.spi_r;
        assert_eq!(dst, nat_detection_hash(i, r, sa("192.0.2.1:500")));
        assert_ne!(src[0], nat_detection_hash(i, r, sa("192.0.2.2:500")));
    }
}

/// A peer at `peer_sends_from` talking to `peer_sends_to`; we receive on `local` from
/// `remote` (what the NATs made of it).
fn scenario(
    peer_sends_from: &str,
    peer_sends_to: &str,
    local: &str,
    remote: &str,
) -> Option<NatStatus> {
    let src = nat_detection_hash(SPI_I, SPI_R, sa(peer_sends_from));
    let dst = nat_detection_hash(SPI_I, SPI_R, sa(peer_sends_to));
    evaluate(SPI_I, SPI_R, sa(local), sa(remote), &[src], Some(dst))
}

#[test]
fn evaluate_all_four_combinations() {
    // no NAT
    let s = scenario(
        "198.51.100.7:500",
        "203.0.113.1:500",
        "203.0.113.1:500",
        "198.51.100.7:500",
    )
    .unwrap();
    assert_eq!(s, NatStatus::default());
    assert!(!s.any());
    // the peer is behind a NAT: its 10.0.0.7:500 shows up as 198.51.100.7:4096
    let s = scenario(
        "10.0.0.7:500",
        "203.0.113.1:500",
        "203.0.113.1:500",
        "198.51.100.7:4096",
    )
    .unwrap();
    assert_eq!(
        s,
        NatStatus {
            local_behind_nat: false,
            remote_behind_nat: true
        }
    );
    assert!(s.any());
    // we are behind a NAT: the peer sent to our public 203.0.113.1:500, we are 10.0.0.1:500
    let s = scenario(
        "198.51.100.7:500",
        "203.0.113.1:500",
        "10.0.0.1:500",
        "198.51.100.7:500",
    )
    .unwrap();
    assert_eq!(
        s,
        NatStatus {
            local_behind_nat: true,
            remote_behind_nat: false
        }
    );
    // both
    let s = scenario(
        "10.0.0.7:500",
        "203.0.113.1:500",
        "10.0.0.1:500",
        "198.51.100.7:4096",
    )
    .unwrap();
    assert_eq!(
        s,
        NatStatus {
            local_behind_nat: true,
            remote_behind_nat: true
        }
    );
    // only the port translated is a NAT too
    let s = scenario(
        "198.51.100.7:500",
        "203.0.113.1:500",
        "203.0.113.1:500",
        "198.51.100.7:501",
    )
    .unwrap();
    assert!(s.remote_behind_nat);
}

#[test]
fn several_source_hashes_any_match_is_enough() {
    let local = sa("203.0.113.1:500");
    let remote = sa("198.51.100.7:500");
    let dst = nat_detection_hash(SPI_I, SPI_R, local);
    let other = nat_detection_hash(SPI_I, SPI_R, sa("198.51.100.8:500"));
    let right = nat_detection_hash(SPI_I, SPI_R, remote);
    let s = evaluate(SPI_I, SPI_R, local, remote, &[other, right], Some(dst)).unwrap();
    assert!(!s.remote_behind_nat);
    let s = evaluate(SPI_I, SPI_R, local, remote, &[other, other], Some(dst)).unwrap();
    assert!(s.remote_behind_nat);
}

#[test]
fn absent_notifies_mean_no_detection() {
    let x = [0u8; 20];
    let (l, r) = (sa("203.0.113.1:500"), sa("198.51.100.7:500"));
    assert_eq!(evaluate(SPI_I, SPI_R, l, r, &[], None), None);
    assert_eq!(evaluate(SPI_I, SPI_R, l, r, &[x], None), None);
    assert_eq!(evaluate(SPI_I, SPI_R, l, r, &[], Some(x)), None);
    assert_eq!(received_hashes(&[]), (vec![], None));
}

#[test]
fn our_hashes_round_trip_through_evaluate() {
    let (l, r) = (sa("192.0.2.1:500"), sa("192.0.2.2:500"));
    // honest: the peer (local/remote swapped) sees no NAT
    let (src, dst) = our_hashes(SPI_I, IkeSpi::ZERO, l, r, false, &mut rng());
    assert_eq!(src, nat_detection_hash(SPI_I, IkeSpi::ZERO, l));
    assert_eq!(dst, nat_detection_hash(SPI_I, IkeSpi::ZERO, r));
    assert_eq!(
        evaluate(SPI_I, IkeSpi::ZERO, r, l, &[src], Some(dst)),
        Some(NatStatus::default())
    );

    // faked (encap = yes): the peer thinks we are behind a NAT; it is not behind one
    let (fsrc, fdst) = our_hashes(SPI_I, IkeSpi::ZERO, l, r, true, &mut rng());
    assert_eq!(fdst, dst);
    assert_ne!(fsrc, src);
    assert_eq!(
        evaluate(SPI_I, IkeSpi::ZERO, r, l, &[fsrc], Some(fdst)),
        Some(NatStatus {
            local_behind_nat: false,
            remote_behind_nat: true
        })
    );
    // deterministic for a seeded rng: the hash of a random IPv4 address with port 0,
    // as strongSwan's build_natd_payload
    let again = our_hashes(SPI_I, IkeSpi::ZERO, l, r, true, &mut rng());
    assert_eq!(again, (fsrc, fdst));
    let mut four = [0u8; 4];
    rand_chacha::rand_core::RngCore::fill_bytes(&mut rng(), &mut four);
    let fake_addr = SocketAddr::new(std::net::Ipv4Addr::from(four).into(), 0);
    assert_eq!(fsrc, nat_detection_hash(SPI_I, IkeSpi::ZERO, fake_addr));
    // another draw gives another address
    let mut g = rng();
    let first = our_hashes(SPI_I, IkeSpi::ZERO, l, r, true, &mut g);
    let second = our_hashes(SPI_I, IkeSpi::ZERO, l, r, true, &mut g);
    assert_ne!(first.0, second.0);

    // an unspecified local address is faked too
    let (usrc, _) = our_hashes(SPI_I, IkeSpi::ZERO, sa("0.0.0.0:500"), r, false, &mut rng());
    assert_eq!(usrc, fsrc);
}

#[test]
fn received_hashes_picks_the_notifies() {
    let a = [1u8; 20];
    let b = [2u8; 20];
    let c = [3u8; 20];
    let d = [4u8; 20];
    let payloads = vec![
        Payload::Notify(Notify::new(NotifyType::NAT_DETECTION_SOURCE_IP, &a)),
        Payload::Notify(Notify::new(NotifyType::NAT_DETECTION_DESTINATION_IP, &c)),
        Payload::Notify(Notify::new(NotifyType::NAT_DETECTION_SOURCE_IP, &b)),
        Payload::Notify(Notify::new(NotifyType::NAT_DETECTION_DESTINATION_IP, &d)),
        Payload::Notify(Notify::new(NotifyType::NAT_DETECTION_SOURCE_IP, &[9; 19])),
        Payload::Notify(Notify::new(NotifyType::COOKIE, &[5; 20])),
    ];
    assert_eq!(received_hashes(&payloads), (vec![a, b], Some(c)));
}
