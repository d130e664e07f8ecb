//! Round trips: any inner IPv4/IPv6 packet, any supported SA (suite, ESN, backend,
//! starting sequence number), encapsulated then decapsulated, comes back unchanged.
//! Also the failure paths: ICV and padding failures are counted and never panic.

mod common;

use common::{backends, config, ip_packet, rng, suites};
use esp::cipher::Backend;
use esp::counters::DropReason;
use esp::wire::IpVersion;
use esp::{
    DecapError, EncapError, InboundSa, OutboundSa, PacketBuf, decapsulate, decapsulate_batch,
    encapsulate, encapsulate_batch,
};
use proptest::prelude::*;

fn pair(suite: usize, esn: bool, backend: Backend, seed: u64) -> (OutboundSa, InboundSa) {
    let (_, encr, integ) = suites()[suite];
    let c = config(encr, integ, esn, 0x1000 + suite as u32, seed, backend);
    (
        OutboundSa::new(&c, &mut rng(seed)).expect("outbound SA"),
        InboundSa::new(&c).expect("inbound SA"),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encap_then_decap_gives_the_packet_back(
        suite in 0..suites().len(),
        esn in any::<bool>(),
        backend in 0..3usize,
        v6 in any::<bool>(),
        payload in proptest::collection::vec(any::<u8>(), 0..1600),
        start in prop_oneof![
            Just(1u64),
            1u64..1 << 20,
            (1u64 << 32) - 4..(1u64 << 32) + 4,
        ],
        headroom in prop_oneof![Just(esp::buf::DEFAULT_HEADROOM), 0usize..40],
        seed in any::<u64>(),
    ) {
        let backend = backends()[backend % backends().len()];
        let (mut out, mut inb) = pair(suite, esn, backend, seed);
        // Without ESN the sequence space ends at 2^32 - 1.
        let start = if esn { start } else { start.min(u64::from(u32::MAX)) };
        out.advance_seq_for_test(start);
        let inner = ip_packet(v6, &payload);
        let mut pkt = PacketBuf::with_capacity(headroom, inner.len() + headroom + 8);
        pkt.set_packet(headroom, &inner);
        encapsulate(&mut out, &mut pkt).expect("encapsulate");
        let c = out.cipher();
        prop_assert_eq!(pkt.len(), inner.len() + out.overhead(inner.len()));
        prop_assert_eq!((pkt.len() - 8 - c.iv_len() - c.icv_len()) % c.align(), 0);
        // With ESN and a start beyond 2^32 the receiver first needs a packet in the
        // middle of subspace 0 to move its window there (as a real flow would).
        if esn && start > 1 << 31 {
            let mut o2 = pair(suite, esn, backend, seed).0;
            o2.advance_seq_for_test(1 << 31);
            let mut p2 = PacketBuf::from_packet(&ip_packet(false, &[]));
            encapsulate(&mut o2, &mut p2).expect("encapsulate");
            decapsulate(&mut inb, &mut p2).expect("decapsulate");
            if start > (1 << 32) + 1 {
                o2.advance_seq_for_test((1 << 32) - 1);
                let mut p3 = PacketBuf::from_packet(&ip_packet(false, &[]));
                encapsulate(&mut o2, &mut p3).expect("encapsulate");
                decapsulate(&mut inb, &mut p3).expect("decapsulate");
            }
        }
        let got = decapsulate(&mut inb, &mut pkt).expect("decapsulate");
        prop_assert_eq!(pkt.as_slice(), &inner[..]);
        prop_assert_eq!(got.seq, start);
        prop_assert_eq!(got.len, inner.len());
        prop_assert_eq!(got.version, if v6 { IpVersion::V6 } else { IpVersion::V4 });
        prop_assert_eq!(out.usage().bytes, inner.len() as u64);
    }

    /// Random octets never panic decapsulation, and are dropped under some reason.
    #[test]
    fn random_packets_are_dropped_and_counted(
        suite in 0..suites().len(),
        esn in any::<bool>(),
        body in proptest::collection::vec(any::<u8>(), 0..200),
        spi_right in any::<bool>(),
    ) {
        let (_, mut inb) = pair(suite, esn, Backend::default(), 7);
        let mut data = if spi_right { inb.spi().to_be_bytes().to_vec() } else { vec![] };
        data.extend(&body);
        let mut pkt = PacketBuf::from_packet(&data);
        prop_assert!(decapsulate(&mut inb, &mut pkt).is_err());
        prop_assert_eq!(inb.usage().drops.total(), 1);
    }
}

#[test]
fn every_suite_and_backend_round_trips_all_sizes() {
    for (suite, (name, _, _)) in suites().iter().enumerate() {
        for backend in backends() {
            for esn in [false, true] {
                let (mut out, mut inb) = pair(suite, esn, backend, 3);
                for len in [0usize, 1, 13, 14, 15, 16, 17, 100, 1380, 1400, 8900] {
                    for v6 in [false, true] {
                        let inner = ip_packet(v6, &vec![0xA5; len]);
                        let mut pkt = PacketBuf::from_packet(&inner);
                        encapsulate(&mut out, &mut pkt).expect("encapsulate");
                        decapsulate(&mut inb, &mut pkt)
                            .unwrap_or_else(|e| panic!("{name} {backend:?} {len}: {e}"));
                        assert_eq!(pkt.as_slice(), &inner[..], "{name} {backend:?} {len}");
                    }
                }
                assert_eq!(inb.usage().drops.total(), 0);
                assert_eq!(inb.usage().packets, 22);
            }
        }
    }
}

#[test]
fn batches() {
    let (mut out, mut inb) = pair(0, true, Backend::default(), 9);
    let inners: Vec<Vec<u8>> = (0..32)
        .map(|i| ip_packet(i % 2 == 1, &vec![i as u8; i * 40]))
        .collect();
    let mut bufs: Vec<PacketBuf> = inners.iter().map(|p| PacketBuf::from_packet(p)).collect();
    bufs[5].set_packet(64, &[0x12; 30]); // not IP
    let mut er = Vec::new();
    encapsulate_batch(&mut out, &mut bufs, &mut er);
    assert_eq!(er.len(), 32);
    assert_eq!(er[5], Err(EncapError::NotIp));
    assert_eq!(er.iter().filter(|r| r.is_ok()).count(), 31);
    assert_eq!(out.usage().drops.malformed, 1);
    bufs.swap(3, 20); // reordering inside the window is fine
    let mut dr = Vec::new();
    decapsulate_batch(&mut inb, &mut bufs, &mut dr);
    assert_eq!(dr.len(), 32);
    for (i, r) in dr.iter().enumerate() {
        let orig = match i {
            3 => 20,
            20 => 3,
            _ => i,
        };
        if orig == 5 {
            assert!(r.is_err());
            continue;
        }
        r.as_ref().expect("decapsulates");
        assert_eq!(bufs[i].as_slice(), &inners[orig][..]);
    }
}

#[test]
fn icv_failures_are_counted_and_do_not_move_the_window() {
    for (suite, (name, _, _)) in suites().iter().enumerate() {
        let (mut out, mut inb) = pair(suite, false, Backend::default(), 11);
        let mut pkts = Vec::new();
        for _ in 0..3 {
            let mut p = PacketBuf::from_packet(&ip_packet(false, &[1; 60]));
            encapsulate(&mut out, &mut p).expect("encapsulate");
            pkts.push(p);
        }
        for pos in [9, 20, pkts[2].len() - 1] {
            let mut bad = pkts[2].clone();
            bad.as_mut_slice()[pos] ^= 1;
            assert_eq!(
                decapsulate(&mut inb, &mut bad),
                Err(DecapError::Icv),
                "{name}"
            );
        }
        assert_eq!(
            inb.replay_window().top(),
            0,
            "{name}: forged packets moved the window"
        );
        assert_eq!(inb.usage().drops.icv, 3, "{name}");
        for p in &mut pkts {
            decapsulate(&mut inb, p).expect("genuine packets still pass");
        }
        let u = inb.usage();
        assert_eq!((u.packets, u.drops.total()), (3, 3));
    }
}

/// Build a packet with the right keys but a chosen plaintext + trailer, so that it
/// authenticates and the checks after the ICV are what rejects it.
fn forged(out: &mut OutboundSa, seq: u32, plaintext: &[u8]) -> PacketBuf {
    let c = out.cipher();
    let mut esp = Vec::new();
    esp.extend(out.spi().to_be_bytes());
    esp.extend(seq.to_be_bytes());
    esp.extend(vec![0x33; c.iv_len()]);
    esp.extend(plaintext);
    esp.resize(esp.len() + c.icv_len(), 0);
    c.seal(&mut esp, None).expect("seal");
    PacketBuf::from_packet(&esp)
}

#[test]
fn padding_and_next_header_failures_are_counted() {
    // AES-GCM (align 4) and AES-CBC (align 16).
    for suite in [0usize, 6] {
        let (mut out, mut inb) = pair(suite, false, Backend::default(), 13);
        let align = out.cipher().align();
        let inner = ip_packet(false, &[7; 29]); // 49 octets: padding 1 or 13
        let pad = (align - (inner.len() + 2) % align) % align;
        let build = |padding: &[u8], pad_len: u8, nh: u8| {
            let mut p = inner.clone();
            p.extend(padding);
            p.push(pad_len);
            p.push(nh);
            p
        };
        let good: Vec<u8> = (1..=pad as u8).collect();
        let mut wrong = good.clone();
        wrong[0] = 9;
        let cases: Vec<(Vec<u8>, DecapError)> = vec![
            (build(&wrong, pad as u8, 4), DecapError::Padding),
            (build(&vec![0; pad], pad as u8, 4), DecapError::Padding),
            (build(&good, pad as u8, 41), DecapError::NextHeader),
            (build(&good, pad as u8, 6), DecapError::NextHeader),
            (build(&good, pad as u8, 59), DecapError::Dummy),
            // Pad Length larger than the payload.
            (build(&good, 250, 4), DecapError::Padding),
        ];
        for (i, (pt, err)) in cases.iter().enumerate() {
            let mut p = forged(&mut out, i as u32 + 1, pt);
            assert_eq!(
                decapsulate(&mut inb, &mut p),
                Err(*err),
                "suite {suite} case {i}"
            );
        }
        // A correct one passes, and one with 12 octets of padding 1..12 too (any
        // amount up to 255 is allowed on receipt, as long as it counts 1, 2, 3...).
        let mut p = forged(&mut out, 100, &build(&good, pad as u8, 4));
        decapsulate(&mut inb, &mut p).expect("well-formed");
        let long: Vec<u8> = (1..=(pad as u8 + 16)).collect();
        let mut p = forged(&mut out, 101, &build(&long, long.len() as u8, 4));
        decapsulate(&mut inb, &mut p).expect("longer padding");
        let d = inb.usage().drops;
        assert_eq!(
            (d.padding, d.next_header, d.total()),
            (3, 2, 5),
            "suite {suite}"
        );
    }
}

#[test]
fn tfc_padding_after_the_inner_packet_is_removed() {
    let (mut out, mut inb) = pair(0, false, Backend::default(), 15);
    let inner = ip_packet(true, &[1, 2, 3]);
    let mut pt = inner.clone();
    pt.extend([0xEE; 9]); // TFC padding: 43 + 9 + 2 = 54, pad to 56
    pt.extend([1, 2, 2, 41]);
    let mut p = forged(&mut out, 1, &pt);
    let got = decapsulate(&mut inb, &mut p).expect("decapsulates");
    assert_eq!(p.as_slice(), &inner[..]);
    assert_eq!(got.len, inner.len());
}

#[test]
fn malformed_lengths_and_wrong_spi() {
    let (mut out, mut inb) = pair(6, false, Backend::default(), 17); // CBC: whole blocks
    let mut p = PacketBuf::from_packet(&ip_packet(false, &[0; 20]));
    encapsulate(&mut out, &mut p).expect("encapsulate");
    let esp = p.as_slice().to_vec();
    for cut in [0, 4, 7, 8, 23, 24 + 16, esp.len() - 1] {
        let mut q = PacketBuf::from_packet(&esp[..cut]);
        assert_eq!(
            decapsulate(&mut inb, &mut q),
            Err(DecapError::Malformed),
            "cut {cut}"
        );
    }
    let mut q = PacketBuf::from_packet(&esp);
    q.as_mut_slice()[3] ^= 1;
    assert!(matches!(
        decapsulate(&mut inb, &mut q),
        Err(DecapError::WrongSpi(_))
    ));
    let d = inb.usage().drops;
    assert_eq!((d.malformed, d.no_sa), (7, 1));
    let mut q = PacketBuf::from_packet(&esp);
    decapsulate(&mut inb, &mut q).expect("the original still decapsulates");
}

#[test]
fn lifetimes_raise_events_and_hard_limit_drops() {
    let (_, encr, integ) = suites()[0];
    let c = config(encr, integ, false, 0x77, 19, Backend::default()).with_lifetime(esp::Lifetime {
        soft_bytes: Some(1000),
        hard_bytes: None,
        soft_packets: None,
        hard_packets: Some(5),
    });
    let mut out = OutboundSa::new(&c, &mut rng(1)).expect("SA");
    let mut inb = InboundSa::new(&c).expect("SA");
    let mut events = Vec::new();
    for i in 0..7 {
        let mut p = PacketBuf::from_packet(&ip_packet(false, &[0; 280])); // 300 octets
        let r = encapsulate(&mut out, &mut p);
        while let Some(e) = out.poll_event() {
            events.push((i, e));
        }
        if i < 5 {
            r.expect("within the hard limit");
            decapsulate(&mut inb, &mut p).expect("decapsulate");
        } else {
            assert_eq!(r, Err(EncapError::Expired));
        }
    }
    assert_eq!(
        events,
        vec![
            (3, esp::SaEvent::SoftLifetime),
            (4, esp::SaEvent::HardLifetime)
        ]
    );
    assert!(out.is_expired() && inb.is_expired());
    assert_eq!(out.usage().drops.expired, 2);
    assert_eq!(inb.poll_event(), Some(esp::SaEvent::SoftLifetime));
    assert_eq!(inb.poll_event(), Some(esp::SaEvent::HardLifetime));
    assert_eq!(inb.poll_event(), None);
}

#[test]
fn sequence_exhaustion_without_esn() {
    let (mut out, mut inb) = pair(0, false, Backend::default(), 21);
    out.advance_seq_for_test(u64::from(u32::MAX) - (1 << 26) - 1);
    let send = |out: &mut OutboundSa| {
        let mut p = PacketBuf::from_packet(&ip_packet(false, &[]));
        encapsulate(out, &mut p).map(|_| p)
    };
    let mut p = send(&mut out).expect("below the soft margin");
    assert_eq!(out.poll_event(), None);
    decapsulate(&mut inb, &mut p).expect("decapsulate");
    send(&mut out).expect("at the soft margin");
    assert_eq!(out.poll_event(), Some(esp::SaEvent::SeqNearExhaustion));
    out.advance_seq_for_test(u64::from(u32::MAX));
    let mut p = send(&mut out).expect("the last number");
    assert_eq!(out.last_seq(), u64::from(u32::MAX));
    assert_eq!(out.poll_event(), Some(esp::SaEvent::SeqExhausted));
    assert_eq!(
        decapsulate(&mut inb, &mut p).expect("decapsulate").seq,
        u64::from(u32::MAX)
    );
    assert_eq!(send(&mut out).err(), Some(EncapError::SeqExhausted));
    assert_eq!(send(&mut out).err(), Some(EncapError::SeqExhausted));
    assert_eq!(out.last_seq(), u64::from(u32::MAX), "never wraps");
    assert_eq!(out.usage().drops.seq_exhausted, 2);
    assert!(out.is_expired());
    assert_eq!(out.poll_event(), None);
}

#[test]
fn outside_drops_can_be_recorded() {
    let (mut out, mut inb) = pair(0, false, Backend::default(), 23);
    inb.record_drop(DropReason::TsMismatch);
    out.record_drop(DropReason::Mtu);
    assert_eq!(inb.usage().drops.ts_mismatch, 1);
    assert_eq!(out.usage().drops.mtu, 1);
}

#[test]
fn debug_output_has_no_key_bytes() {
    let (_, encr, integ) = suites()[6];
    let c = config(encr, integ, false, 1, 25, Backend::default());
    let key_hex = hex::encode(c.encr_key.expose());
    let out = OutboundSa::new(&c, &mut rng(1)).expect("SA");
    let inb = InboundSa::new(&c).expect("SA");
    for s in [format!("{c:?}"), format!("{out:?}"), format!("{inb:?}")] {
        assert!(!s.contains(&key_hex[..8]), "{s}");
        assert!(
            !s.contains(&format!("{:?}", &c.encr_key.expose()[..4])),
            "{s}"
        );
    }
}

#[test]
fn mtu_helpers_agree_with_encapsulation() {
    for (suite, (name, _, _)) in suites().iter().enumerate() {
        let (mut out, _) = pair(suite, false, Backend::default(), 27);
        for mtu in [100usize, 1280, 1400, 1438, 1500] {
            let max = out.max_inner_len(mtu);
            let mut p = PacketBuf::from_packet(&ip_packet(false, &vec![0; max - 20]));
            encapsulate(&mut out, &mut p).expect("encapsulate");
            assert!(p.len() <= mtu, "{name} mtu {mtu}: {} > {mtu}", p.len());
            let mut p = PacketBuf::from_packet(&ip_packet(false, &vec![0; max + 1 - 20]));
            encapsulate(&mut out, &mut p).expect("encapsulate");
            assert!(
                p.len() > mtu,
                "{name} mtu {mtu}: max_inner_len not the largest"
            );
        }
    }
}
