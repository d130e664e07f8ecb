//! Receive coalescing (`esp::coalesce`) on arbitrary batches.
//!
//! The input is a batch of packets (each a 2-octet length and its octets). Packets
//! that look like IPv4/IPv6 TCP get correct IP header and TCP checksums first, so
//! the fuzzer reaches the merge logic instead of stopping at checksums. Nothing may
//! panic, every packet is written exactly once, and a super-packet cut again with
//! `segment_tcp` gives back the packets it was made of (IPv4 identification and
//! header checksum aside, which the cut renumbers), with a TCP checksum that verifies.

#![no_main]

use std::net::IpAddr;

use esp::PacketBuf;
use esp::coalesce::Coalescer;
use esp::ip::{checksum, fold, ones_sum, pseudo_header_sum};
use esp::offload::{VnetHdr, complete_checksum, segment_tcp};
use libfuzzer_sys::fuzz_target;

fn addr(b: &[u8]) -> IpAddr {
    match b.len() {
        4 => IpAddr::from(<[u8; 4]>::try_from(b).expect("4 octets")),
        _ => IpAddr::from(<[u8; 16]>::try_from(b).expect("16 octets")),
    }
}

/// Writes valid checksums into something shaped like IPv4/IPv6 + TCP.
fn fix_checksums(p: &mut [u8]) {
    let (ip, src, dst) = match p.first().map(|b| b >> 4) {
        Some(4) if p.len() >= 40 && p[9] == 6 => {
            let ihl = usize::from(p[0] & 0x0f) * 4;
            if ihl < 20 || p.len() < ihl + 20 {
                return;
            }
            p[10..12].fill(0);
            let c = checksum(&p[..ihl]);
            p[10..12].copy_from_slice(&c.to_be_bytes());
            (ihl, addr(&p[12..16]), addr(&p[16..20]))
        }
        Some(6) if p.len() >= 60 && p[6] == 6 => (40, addr(&p[8..24]), addr(&p[24..40])),
        _ => return,
    };
    p[ip + 16..ip + 18].fill(0);
    let sum = ones_sum(pseudo_header_sum(src, dst, 6, (p.len() - ip) as u32), &p[ip..]);
    p[ip + 16..ip + 18].copy_from_slice(&(!fold(sum)).to_be_bytes());
}

fn tcp_ok(p: &[u8], ip: usize) -> bool {
    let (src, dst) = if ip == 40 {
        (addr(&p[8..24]), addr(&p[24..40]))
    } else {
        (addr(&p[12..16]), addr(&p[16..20]))
    };
    fold(ones_sum(pseudo_header_sum(src, dst, 6, (p.len() - ip) as u32), &p[ip..])) == 0xffff
}

fuzz_target!(|data: &[u8]| {
    let mut input: Vec<Vec<u8>> = Vec::new();
    let mut rest = data;
    while rest.len() >= 2 && input.len() < 256 {
        let n = usize::from(u16::from_be_bytes([rest[0], rest[1]])) % 2048;
        let n = n.min(rest.len() - 2);
        let mut p = rest[2..2 + n].to_vec();
        fix_checksums(&mut p);
        input.push(p);
        rest = &rest[2 + n..];
    }
    let mut pkts: Vec<PacketBuf> = input.iter().map(|p| PacketBuf::from_packet(p)).collect();
    let mut c = Coalescer::new();
    c.coalesce(&mut pkts);
    let mut seen = vec![false; input.len()];
    for w in c.writes() {
        let members: Vec<usize> = w.members().collect();
        assert_eq!(members.len(), w.segments);
        for &m in &members {
            assert!(!seen[m], "packet {m} written twice");
            seen[m] = true;
        }
        let mut sup: Vec<u8> = w.parts(&pkts).flatten().copied().collect();
        if w.hdr.gso() == VnetHdr::GSO_NONE {
            assert_eq!(members.len(), 1);
            assert_eq!(sup, input[members[0]], "a lone packet is written as it came");
            continue;
        }
        assert!(sup.len() <= 65_535);
        let mut segs = Vec::new();
        let n = segment_tcp(&sup, w.hdr.gso_size.into(), 0, PacketBuf::new, &mut segs)
            .expect("a super-packet we made segments");
        assert_eq!(n, members.len());
        let v4 = w.hdr.gso() == VnetHdr::GSO_TCPV4;
        for (seg, &m) in segs.iter().zip(&members) {
            let (mut a, mut b) = (seg.as_slice().to_vec(), input[m].clone());
            if v4 {
                for x in [&mut a, &mut b] {
                    x[4..6].fill(0);
                    x[10..12].fill(0);
                }
            }
            assert_eq!(a, b, "segment {m} comes back as it went in");
        }
        complete_checksum(&mut sup, &w.hdr).expect("offsets in range");
        assert!(tcp_ok(&sup, usize::from(w.hdr.csum_start)));
    }
    assert!(seen.iter().all(|s| *s), "every packet written");
});
