//! IPv4 fragmentation: fragments are re-parsed and reassembled with etherparse
//! (`IpDefragPool`) and compared with the original; offsets, flags, options and
//! checksums are checked field by field.

use esp::frag::{FragError, Fragment, fragment_count, fragment_ipv4};
use etherparse::defrag::IpDefragPool;
use etherparse::{Ipv4HeaderSlice, PacketBuilder, SlicedPacket};
use proptest::prelude::*;

const SRC: [u8; 4] = [10, 1, 0, 5];
const DST: [u8; 4] = [10, 2, 0, 9];

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 + 7) as u8).collect()
}

/// A UDP datagram of `total` octets, DF clear, ID 0x1234, with optional IP options
/// (a multiple of 4 octets).
fn udp_packet(total: usize, options: &[u8]) -> Vec<u8> {
    let mut p = Vec::new();
    PacketBuilder::ipv4(SRC, DST, 64)
        .udp(5000, 5001)
        .write(&mut p, &data(total - 28 - options.len()))
        .expect("build");
    p.splice(20..20, options.iter().copied());
    p[0] = 0x40 | ((20 + options.len()) / 4) as u8;
    let len = p.len() as u16;
    p[2..4].copy_from_slice(&len.to_be_bytes());
    p[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
    p[6] = 0; // DF clear
    fix_checksum(&mut p);
    p
}

fn fix_checksum(p: &mut [u8]) {
    let ihl = usize::from(p[0] & 0x0f) * 4;
    p[10..12].copy_from_slice(&[0, 0]);
    let c = esp::ip::checksum(&p[..ihl]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
}

fn collect(packet: &[u8], mtu: u16) -> Result<Vec<Vec<u8>>, FragError> {
    let mut out = Vec::new();
    let n = fragment_ipv4(packet, mtu, |f: Fragment<'_>| {
        let mut buf = vec![0u8; f.len()];
        assert_eq!(f.write_to(&mut buf), Some(f.len()));
        assert_eq!(&buf[..f.header().len()], f.header());
        assert_eq!(&buf[f.header().len()..], f.payload());
        out.push(buf);
    })?;
    assert_eq!(n, out.len());
    assert_eq!(fragment_count(packet, mtu), Ok(n));
    Ok(out)
}

struct Hdr {
    ihl: usize,
    total: usize,
    id: u16,
    df: bool,
    mf: bool,
    offset: usize,
}

/// Reads a fragment header with etherparse and checks its checksum independently.
fn hdr(frag: &[u8]) -> Hdr {
    let h = Ipv4HeaderSlice::from_slice(frag).expect("etherparse parses the header");
    assert_eq!(
        h.to_header().calc_header_checksum(),
        h.header_checksum(),
        "header checksum"
    );
    assert_eq!(h.total_len() as usize, frag.len());
    assert_eq!(h.source(), SRC);
    assert_eq!(h.destination(), DST);
    assert_eq!(h.ttl(), 64);
    assert_eq!(h.protocol(), etherparse::IpNumber::UDP);
    Hdr {
        ihl: h.slice().len(),
        total: h.total_len() as usize,
        id: h.identification(),
        df: h.dont_fragment(),
        mf: h.more_fragments(),
        offset: usize::from(h.fragments_offset().value()) * 8,
    }
}

/// Reassembles with etherparse; returns the IP payload of the datagram.
fn reassemble(frags: &[Vec<u8>]) -> Vec<u8> {
    let mut pool: IpDefragPool = IpDefragPool::new();
    let mut done = None;
    for f in frags {
        let sliced = SlicedPacket::from_ip(f).expect("etherparse parses the fragment");
        if let Some(r) = pool.process_sliced_packet(&sliced, (), ()).expect("defrag") {
            assert!(done.is_none(), "completed twice");
            done = Some(r.payload);
        }
    }
    done.expect("reassembly completes")
}

#[test]
fn splits_and_reassembles() {
    let p = udp_packet(1500, &[]);
    let frags = collect(&p, 576).expect("fragments");
    assert_eq!(frags.len(), 3); // 552 + 552 + 376
    let mut expect_offset = 0;
    for (i, f) in frags.iter().enumerate() {
        let h = hdr(f);
        assert!(h.total <= 576);
        assert_eq!(h.id, 0x1234);
        assert!(!h.df);
        assert_eq!(h.offset, expect_offset);
        let last = i == frags.len() - 1;
        assert_eq!(h.mf, !last);
        if !last {
            assert_eq!((h.total - h.ihl) % 8, 0);
        }
        expect_offset += h.total - h.ihl;
    }
    assert_eq!(reassemble(&frags), p[20..]);
}

#[test]
fn fitting_packets_pass_through_even_with_df() {
    let p = udp_packet(576, &[]);
    assert_eq!(collect(&p, 576).expect("one"), vec![p.clone()]);
    let mut df = p.clone();
    df[6] = 0x40;
    fix_checksum(&mut df);
    assert_eq!(collect(&df, 1500).expect("one"), vec![df.clone()]);
    // trailing octets after the total length are not part of the packet
    let mut padded = p.clone();
    padded.extend_from_slice(&[0xaa; 8]);
    assert_eq!(collect(&padded, 1500).expect("one"), vec![p]);
}

#[test]
fn df_is_refused_without_emitting() {
    let mut p = udp_packet(1500, &[]);
    p[6] = 0x40;
    fix_checksum(&mut p);
    let mut called = false;
    assert_eq!(
        fragment_ipv4(&p, 1400, |_| called = true),
        Err(FragError::DontFragment)
    );
    assert!(!called);
    assert_eq!(fragment_count(&p, 1400), Err(FragError::DontFragment));
}

#[test]
fn options_copied_only_when_flagged() {
    // NOP, Router Alert (0x94, copied, 4 octets), Timestamp (0x44, not copied,
    // 8 octets), NOP NOP NOP EOL
    let opts = [1, 0x94, 4, 0, 0, 0x44, 8, 5, 0, 0, 0, 0, 1, 1, 1, 0];
    let p = udp_packet(1000, &opts);
    let frags = collect(&p, 300).expect("fragments");
    assert!(frags.len() > 2);
    let first = hdr(&frags[0]);
    assert_eq!(first.ihl, 36);
    assert_eq!(&frags[0][20..36], &opts);
    for f in &frags[1..] {
        let h = hdr(f);
        assert_eq!(h.ihl, 24, "20 + router alert");
        assert_eq!(&f[20..24], &[0x94, 4, 0, 0]);
        assert!(h.total <= 300);
    }
    // first fragment room: 300 - 36 = 264; the others: 300 - 24 = 272 (both / 8)
    assert_eq!(frags[0].len() - 36, 264);
    assert_eq!(frags[1].len() - 24, 272);
    assert_eq!(reassemble(&frags), p[36..]);
}

#[test]
fn copied_options_are_padded() {
    // a 3-octet copied option (0x88 stream ID is 4; use an unknown copied type 0x9e)
    let opts = [0x9e, 3, 7, 0];
    let p = udp_packet(200, &opts);
    let frags = collect(&p, 100).expect("fragments");
    for f in &frags[1..] {
        assert_eq!(hdr(f).ihl, 24);
        assert_eq!(&f[20..24], &[0x9e, 3, 7, 0]);
    }
    assert_eq!(reassemble(&frags), p[24..]);
}

/// Fragmenting fragments: split a datagram once, then split every piece again;
/// the second generation must still reassemble to the original.
#[test]
fn refragmenting_fragments() {
    let p = udp_packet(3000, &[0x94, 4, 0, 0]);
    let gen1 = collect(&p, 1400).expect("gen1");
    assert_eq!(gen1.len(), 3);
    let mut gen2 = Vec::new();
    for (i, f) in gen1.iter().enumerate() {
        let pieces = collect(f, 500).expect("gen2");
        let last_of_gen1 = i == gen1.len() - 1;
        for (j, q) in pieces.iter().enumerate() {
            let h = hdr(q);
            let last = j == pieces.len() - 1;
            // only the very last piece of the datagram has MF clear
            assert_eq!(h.mf, !(last && last_of_gen1));
            if i > 0 || j > 0 {
                assert_eq!(h.ihl, 24, "non-first pieces keep only copied options");
            }
        }
        assert_eq!(hdr(&pieces[0]).offset, hdr(f).offset);
        gen2.extend(pieces);
    }
    // reassemble in a shuffled order
    gen2.reverse();
    assert_eq!(reassemble(&gen2), p[24..]);
}

#[test]
fn minimum_mtu() {
    let p = udp_packet(100, &[]);
    assert_eq!(
        collect(&p, 27),
        Err(FragError::MtuTooSmall {
            mtu: 27,
            header_len: 20
        })
    );
    let frags = collect(&p, 28).expect("8-octet fragments");
    assert_eq!(frags.len(), 10);
    assert!(frags.iter().all(|f| f.len() == 28));
    assert_eq!(reassemble(&frags), p[20..]);
    // a 40-octet header needs 48
    let q = udp_packet(
        200,
        &[
            0x94, 4, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0,
        ],
    );
    assert_eq!(
        collect(&q, 47),
        Err(FragError::MtuTooSmall {
            mtu: 47,
            header_len: 40
        })
    );
    assert!(collect(&q, 48).is_ok());
}

#[test]
fn malformed_inputs() {
    let good = udp_packet(600, &[]);
    let mut bad_sum = good.clone();
    bad_sum[8] ^= 1;
    assert_eq!(collect(&bad_sum, 500), Err(FragError::BadChecksum));
    assert_eq!(collect(&good[..599], 500), Err(FragError::Malformed));
    assert_eq!(collect(&good[..10], 500), Err(FragError::Malformed));
    assert_eq!(collect(&[], 500), Err(FragError::Malformed));
    let mut v6 = good.clone();
    v6[0] = 0x65;
    assert_eq!(collect(&v6, 500), Err(FragError::Malformed));
    let mut ihl4 = good.clone();
    ihl4[0] = 0x44;
    assert_eq!(collect(&ihl4, 500), Err(FragError::Malformed));
    for opts in [
        [0x94, 0, 0, 0],
        [0x94, 1, 0, 0],
        [1, 1, 0x94, 4],
        [1, 1, 1, 0x94],
    ] {
        let p = udp_packet(600, &opts);
        assert_eq!(collect(&p, 500), Err(FragError::BadOptions), "{opts:?}");
    }
}

#[test]
fn offset_overflow() {
    // a last fragment at offset 65000 with 1000 octets ends past what IPv4 can express
    let mut p = udp_packet(1020, &[]);
    let word = (65000u16 / 8).to_be_bytes();
    p[6] = word[0];
    p[7] = word[1];
    fix_checksum(&mut p);
    assert_eq!(collect(&p, 500), Err(FragError::OffsetOverflow));
}

proptest! {
    #[test]
    fn random_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        mtu in any::<u16>(),
    ) {
        let _ = fragment_ipv4(&bytes, mtu, |_| {});
        let _ = fragment_count(&bytes, mtu);
    }

    #[test]
    fn fragments_reassemble(
        total in 28usize..4000,
        mtu in 28u16..1600,
        with_opts in any::<bool>(),
    ) {
        let opts: &[u8] = if with_opts { &[0x94, 4, 0, 0, 0x44, 4, 5, 0] } else { &[] };
        prop_assume!(total >= 28 + opts.len());
        prop_assume!(usize::from(mtu) >= 20 + opts.len() + 8);
        let p = udp_packet(total, opts);
        let frags = collect(&p, mtu).expect("fragments");
        if p.len() <= usize::from(mtu) {
            prop_assert_eq!(&frags, &vec![p.clone()]);
        } else {
            let mut next = 0;
            for (i, f) in frags.iter().enumerate() {
                let h = hdr(f);
                prop_assert!(h.total <= usize::from(mtu));
                prop_assert_eq!(h.offset, next);
                prop_assert_eq!(h.mf, i + 1 < frags.len());
                next += h.total - h.ihl;
            }
            prop_assert_eq!(reassemble(&frags), p[20 + opts.len()..].to_vec());
        }
    }
}

/// An input that is a non-first fragment but still carries a non-copied option
/// (which RFC 791 says it should not): only the copied options are kept, and the
/// MTU check is against that smaller header.
#[test]
fn non_first_input_with_stray_options() {
    let opts = [0x44, 8, 5, 0, 0, 0, 0, 0]; // timestamp, not copied
    let mut p = udp_packet(300, &opts);
    p[6] = 0x20; // MF
    p[7] = 10; // offset 80
    fix_checksum(&mut p);
    // 20 + 8 octets is enough for the 20-octet headers the pieces get
    let frags = collect(&p, 28).expect("fragments");
    assert!(frags.iter().all(|f| f.len() <= 28 && hdr(f).ihl == 20));
    assert_eq!(hdr(&frags[0]).offset, 80);
    assert!(frags.iter().all(|f| hdr(f).mf));
}
