//! TUN offloads (`IFF_VNET_HDR`, as wireguard-go uses them): with TCP segmentation
//! offload the kernel hands the TUN reader whole TCP "super-packets" of up to 64 KiB
//! behind a `virtio_net_hdr`, instead of one read per MSS-sized segment, and may leave
//! the transport checksum for the reader to finish. This module is the pure part: the
//! header, finishing a partial checksum, and cutting a super-packet into segments
//! that are exactly what the kernel would have sent.
//!
//! Segmenting follows what the kernel's own GSO does for TCP: every segment gets the
//! original IP and TCP headers with the IPv4 total length and identification (+1 per
//! segment) or the IPv6 payload length rewritten, the sequence number advanced by the
//! payload before it, FIN and PSH only on the last segment, CWR only on the first, and
//! fresh IPv4 header and TCP checksums.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::PacketBuf;
use crate::ip::{checksum, fold, ones_sum, pseudo_header_sum};

/// Octets of the `virtio_net_hdr` in front of every packet on an `IFF_VNET_HDR` TUN.
pub const VNET_HDR_LEN: usize = 10;

/// `struct virtio_net_hdr` (without `num_buffers`), in the host's byte order as TUN
/// uses it on little-endian machines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VnetHdr {
    pub flags: u8,
    pub gso_type: u8,
    pub hdr_len: u16,
    pub gso_size: u16,
    pub csum_start: u16,
    pub csum_offset: u16,
}

impl VnetHdr {
    /// The transport checksum is partial: finish it ([`complete_checksum`]).
    pub const F_NEEDS_CSUM: u8 = 1;
    pub const GSO_NONE: u8 = 0;
    pub const GSO_TCPV4: u8 = 1;
    pub const GSO_TCPV6: u8 = 4;
    /// Set with a TCP GSO type when the flow uses ECN (CWR on the first segment only).
    pub const GSO_ECN: u8 = 0x80;

    pub fn parse(b: &[u8]) -> Option<Self> {
        let b: &[u8; VNET_HDR_LEN] = b.get(..VNET_HDR_LEN)?.try_into().ok()?;
        let u = |i: usize| u16::from_ne_bytes([b[i], b[i + 1]]);
        Some(Self {
            flags: b[0],
            gso_type: b[1],
            hdr_len: u(2),
            gso_size: u(4),
            csum_start: u(6),
            csum_offset: u(8),
        })
    }

    pub fn encode(&self) -> [u8; VNET_HDR_LEN] {
        let mut b = [0u8; VNET_HDR_LEN];
        b[0] = self.flags;
        b[1] = self.gso_type;
        b[2..4].copy_from_slice(&self.hdr_len.to_ne_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_ne_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_ne_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_ne_bytes());
        b
    }

    /// The GSO type without the ECN bit.
    pub fn gso(&self) -> u8 {
        self.gso_type & !Self::GSO_ECN
    }
}

/// Why a packet from an offloading TUN could not be turned into plain packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OffloadError {
    #[error("packet too short for its headers or checksum offsets")]
    Malformed,
    #[error("GSO type {0} is not TCP over IPv4/IPv6")]
    Unsupported(u8),
    #[error("buffers too small for a segment")]
    NoRoom,
}

/// Finishes a partial checksum (`F_NEEDS_CSUM`): the checksum field at
/// `csum_start + csum_offset` holds the pseudo-header sum; the checksum covers the
/// packet from `csum_start` to its end.
pub fn complete_checksum(pkt: &mut [u8], hdr: &VnetHdr) -> Result<(), OffloadError> {
    let start = usize::from(hdr.csum_start);
    let field = start + usize::from(hdr.csum_offset);
    if field + 2 > pkt.len() {
        return Err(OffloadError::Malformed);
    }
    let sum = !fold(ones_sum(0, &pkt[start..]));
    pkt[field..field + 2].copy_from_slice(&sum.to_be_bytes());
    Ok(())
}

/// Cuts the TCP super-packet `pkt` (IPv4 or IPv6 without extension headers) into
/// segments of `gso_size` payload octets. Each segment is written into a buffer from
/// `next_buf` at `headroom` and pushed onto `out`; returns how many.
pub fn segment_tcp(
    pkt: &[u8],
    gso_size: usize,
    headroom: usize,
    mut next_buf: impl FnMut() -> PacketBuf,
    out: &mut Vec<PacketBuf>,
) -> Result<usize, OffloadError> {
    let (ip_len, v4) = match pkt.first().map(|b| b >> 4) {
        Some(4) if pkt.len() >= 20 && pkt[9] == 6 => (usize::from(pkt[0] & 0x0f) * 4, true),
        Some(6) if pkt.len() >= 40 && pkt[6] == 6 => (40, false),
        _ => return Err(OffloadError::Malformed),
    };
    if ip_len < 20 || pkt.len() < ip_len + 20 || gso_size == 0 {
        return Err(OffloadError::Malformed);
    }
    let tcp_len = usize::from(pkt[ip_len + 12] >> 4) * 4;
    let hdr = ip_len + tcp_len;
    if tcp_len < 20 || pkt.len() < hdr {
        return Err(OffloadError::Malformed);
    }
    let (src, dst) = if v4 {
        let a = |i: usize| IpAddr::V4(Ipv4Addr::new(pkt[i], pkt[i + 1], pkt[i + 2], pkt[i + 3]));
        (a(12), a(16))
    } else {
        let a = |i: usize| {
            let mut o = [0u8; 16];
            o.copy_from_slice(&pkt[i..i + 16]);
            IpAddr::V6(Ipv6Addr::from(o))
        };
        (a(8), a(24))
    };
    let seq0 = u32::from_be_bytes([
        pkt[ip_len + 4],
        pkt[ip_len + 5],
        pkt[ip_len + 6],
        pkt[ip_len + 7],
    ]);
    let id0 = u16::from_be_bytes([pkt[4], pkt[5]]);
    let flags0 = pkt[ip_len + 13];
    let payload = &pkt[hdr..];
    let count = payload.len().div_ceil(gso_size).max(1);
    for i in 0..count {
        let chunk = payload
            .get(i * gso_size..((i + 1) * gso_size).min(payload.len()))
            .unwrap_or_default();
        let mut buf = next_buf();
        buf.clear(headroom);
        let seg = buf
            .push_back(hdr + chunk.len())
            .ok_or(OffloadError::NoRoom)?;
        seg[..hdr].copy_from_slice(&pkt[..hdr]);
        seg[hdr..].copy_from_slice(chunk);
        if v4 {
            let total = u16::try_from(hdr + chunk.len()).map_err(|_| OffloadError::Malformed)?;
            seg[2..4].copy_from_slice(&total.to_be_bytes());
            let id = id0.wrapping_add(i as u16);
            seg[4..6].copy_from_slice(&id.to_be_bytes());
            seg[10..12].fill(0);
            let c = checksum(&seg[..ip_len]);
            seg[10..12].copy_from_slice(&c.to_be_bytes());
        } else {
            let plen = u16::try_from(tcp_len + chunk.len()).map_err(|_| OffloadError::Malformed)?;
            seg[4..6].copy_from_slice(&plen.to_be_bytes());
        }
        let t = ip_len;
        let seq = seq0.wrapping_add((i * gso_size) as u32);
        seg[t + 4..t + 8].copy_from_slice(&seq.to_be_bytes());
        let mut flags = flags0;
        if i + 1 < count {
            flags &= !(0x01 | 0x08); // FIN, PSH: last segment only
        }
        if i > 0 {
            flags &= !0x80; // CWR: first segment only
        }
        seg[t + 13] = flags;
        seg[t + 16..t + 18].fill(0);
        let upper = (tcp_len + chunk.len()) as u32;
        let c = !fold(ones_sum(pseudo_header_sum(src, dst, 6, upper), &seg[t..]));
        seg[t + 16..t + 18].copy_from_slice(&c.to_be_bytes());
        out.push(buf);
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv4 TCP packet with `payload`, valid checksums.
    fn tcp4(payload: &[u8], flags: u8) -> Vec<u8> {
        let mut p = vec![0u8; 40];
        p[0] = 0x45;
        let total = (40 + payload.len()) as u16;
        p[2..4].copy_from_slice(&total.to_be_bytes());
        p[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
        p[8] = 64;
        p[9] = 6;
        p[12..16].copy_from_slice(&[10, 1, 0, 1]);
        p[16..20].copy_from_slice(&[10, 2, 0, 1]);
        p[20..22].copy_from_slice(&5001u16.to_be_bytes());
        p[22..24].copy_from_slice(&5201u16.to_be_bytes());
        p[24..28].copy_from_slice(&0xffff_fff0u32.to_be_bytes());
        p[32] = 5 << 4;
        p[33] = flags;
        p.extend_from_slice(payload);
        p
    }

    fn tcp_ok(seg: &[u8]) -> bool {
        let v = crate::ip::PacketView::parse(seg).expect("parses");
        let t = v.l4_offset();
        let sum = ones_sum(
            pseudo_header_sum(v.src(), v.dst(), 6, (seg.len() - t) as u32),
            &seg[t..],
        );
        fold(sum) == 0xffff
    }

    #[test]
    fn tso_super_packet_becomes_the_segments_the_kernel_would_send() {
        let payload: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
        let sup = tcp4(&payload, 0x18 | 0x01 | 0x80); // PSH ACK FIN CWR
        let mut out = Vec::new();
        let n = segment_tcp(&sup, 1000, 32, PacketBuf::new, &mut out).expect("segments");
        assert_eq!(n, 3);
        for (i, b) in out.iter().enumerate() {
            let s = b.as_slice();
            assert_eq!(s.len(), 1040);
            assert_eq!(u16::from_be_bytes([s[2], s[3]]), 1040);
            assert_eq!(u16::from_be_bytes([s[4], s[5]]), 0x1234 + i as u16);
            assert_eq!(checksum(&s[..20]), 0, "IPv4 header checksum");
            assert!(tcp_ok(s), "TCP checksum of segment {i}");
            let seq = u32::from_be_bytes([s[24], s[25], s[26], s[27]]);
            assert_eq!(seq, 0xffff_fff0u32.wrapping_add(1000 * i as u32));
            assert_eq!(&s[40..], &payload[i * 1000..(i + 1) * 1000]);
            let flags = s[33];
            assert_eq!(flags & 0x10, 0x10, "ACK everywhere");
            assert_eq!(flags & 0x09 != 0, i == 2, "FIN/PSH only last");
            assert_eq!(flags & 0x80 != 0, i == 0, "CWR only first");
            // etherparse agrees it is a well-formed IPv4/TCP packet.
            let parsed = etherparse::SlicedPacket::from_ip(s).expect("etherparse");
            assert!(matches!(
                parsed.transport,
                Some(etherparse::TransportSlice::Tcp(_))
            ));
        }
    }

    #[test]
    fn short_last_segment_and_ipv6() {
        let payload = vec![7u8; 2500];
        let mut p = vec![0u8; 60];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
        p[6] = 6;
        p[7] = 64;
        p[8..24].copy_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().expect("v6").octets());
        p[24..40].copy_from_slice(&"2001:db8::2".parse::<Ipv6Addr>().expect("v6").octets());
        p[52] = 5 << 4;
        p[53] = 0x10;
        p.extend_from_slice(&payload);
        let mut out = Vec::new();
        assert_eq!(segment_tcp(&p, 1200, 0, PacketBuf::new, &mut out), Ok(3));
        let lens: Vec<usize> = out.iter().map(PacketBuf::len).collect();
        assert_eq!(lens, vec![60 + 1200, 60 + 1200, 60 + 100]);
        for b in &out {
            let s = b.as_slice();
            assert_eq!(usize::from(u16::from_be_bytes([s[4], s[5]])), s.len() - 40);
            assert!(tcp_ok(s));
        }
    }

    #[test]
    fn partial_checksum_is_completed() {
        let mut p = tcp4(b"hello world", 0x18);
        // What the kernel leaves: the pseudo-header sum in the field.
        let pseudo = fold(pseudo_header_sum(
            IpAddr::V4(Ipv4Addr::new(10, 1, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(10, 2, 0, 1)),
            6,
            (p.len() - 20) as u32,
        ));
        p[36..38].copy_from_slice(&pseudo.to_be_bytes());
        let hdr = VnetHdr {
            flags: VnetHdr::F_NEEDS_CSUM,
            csum_start: 20,
            csum_offset: 16,
            ..VnetHdr::default()
        };
        complete_checksum(&mut p, &hdr).expect("completes");
        assert!(tcp_ok(&p));
        let bad = VnetHdr {
            csum_start: 60,
            ..hdr
        };
        assert_eq!(
            complete_checksum(&mut p, &bad),
            Err(OffloadError::Malformed)
        );
    }

    #[test]
    fn header_round_trips_and_garbage_is_refused() {
        let h = VnetHdr {
            flags: 1,
            gso_type: VnetHdr::GSO_TCPV4 | VnetHdr::GSO_ECN,
            hdr_len: 54,
            gso_size: 1448,
            csum_start: 34,
            csum_offset: 16,
        };
        assert_eq!(VnetHdr::parse(&h.encode()), Some(h));
        assert_eq!(h.gso(), VnetHdr::GSO_TCPV4);
        assert_eq!(VnetHdr::parse(&[0; 9]), None);
        let mut out = Vec::new();
        for bad in [&[][..], &[0x45; 19][..], &tcp4(b"x", 0x10)[..30]] {
            assert_eq!(
                segment_tcp(bad, 100, 0, PacketBuf::new, &mut out),
                Err(OffloadError::Malformed)
            );
        }
        assert!(out.is_empty());
    }
}
