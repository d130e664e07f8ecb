//! Receive-side TCP coalescing for an offloading TUN device (what the kernel's GRO
//! does on a NIC, and wireguard-go does on its TUN write path): consecutive TCP
//! segments of one flow in a batch of decrypted packets become one super-packet
//! behind a `virtio_net_hdr` (`GSO_TCPV4`/`GSO_TCPV6`, `F_NEEDS_CSUM`), so the
//! receiving host's TCP stack handles one packet where it would have handled dozens.
//! The inverse of [`crate::offload::segment_tcp`]: cutting a super-packet made here
//! gives back the segments it was made of.
//!
//! Pure: [`Coalescer::coalesce`] decides the groups and rewrites the first packet of
//! each merged group in place; [`Coalescer::writes`] lists, in order, what to hand to
//! the device, each write as a header and the slices of the packets that make it up
//! (the first packet whole, then the payload of every further segment), so the IO
//! edge can send it with one `writev(2)` and no copy. Nothing here touches a device.
//!
//! Two segments merge only when the kernel's GRO would merge them, or more strictly:
//! - IPv4 without options or fragmentation, header checksum valid, total length equal
//!   to the packet's; IPv6 with TCP as the next header (no extension headers);
//! - same addresses and ports; same TOS / traffic class and flow label, TTL / hop
//!   limit, and IPv4 flags; IPv4 identification one more than the segment before
//!   (or, with DF, the same in every segment);
//! - TCP flags ACK, or ACK+PSH, which then ends the group (no SYN, FIN, RST, URG,
//!   ECE, CWR); same acknowledgment number, window, urgent pointer, header length
//!   and options;
//! - the sequence number continues the group exactly; a payload no longer than the
//!   first segment's (`gso_size`), and a shorter one ends the group; not empty;
//! - the TCP checksum verifies (a segment with a bad checksum is written on its own,
//!   and the kernel drops it as it would have);
//! - the super-packet stays within 65,535 octets of IP length and [`MAX_SEGMENTS`].
//!
//! Anything else is written as it came, after what came before it: within a flow the
//! order of the batch is kept (a packet only ever joins the flow's latest group).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::collections::HashMap;

use crate::PacketBuf;
use crate::ip::{checksum, fold, ones_sum, pseudo_header_sum};
use crate::offload::VnetHdr;

const TCP_PSH: u8 = 0x08;
const TCP_ACK: u8 = 0x10;
const IPV4_DF: u16 = 0x4000;
/// Most octets of IP packet a super-packet may have (the IPv4 total length field; the
/// IPv6 payload length field allows 40 more, which we do not use).
const MAX_SUPER_PACKET: usize = 65_535;
const NONE: u32 = u32::MAX;
/// Most segments in one super-packet (as UDP GSO's limit; also keeps a `writev(2)`
/// far below `IOV_MAX`).
pub const MAX_SEGMENTS: usize = 64;

/// Addresses and ports of a TCP flow (the family is in the length of the addresses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FlowKey {
    src: [u8; 16],
    dst: [u8; 16],
    ports: [u8; 4],
    v6: bool,
}

/// What [`Coalescer::coalesce`] learned about a TCP segment that may merge.
#[derive(Debug, Clone, Copy)]
struct Segment {
    v6: bool,
    /// IP header length (20 or 40).
    ip_len: usize,
    /// IP + TCP header length.
    hdr_len: usize,
    payload: usize,
    seq: u32,
    flags: u8,
    id: u16,
}

/// One write to the device: a packet on its own or a merged group.
#[derive(Debug, Clone, Copy)]
struct Group {
    /// Index of the first packet; the others follow through `next`.
    first: u32,
    last: u32,
    count: u32,
    hdr: VnetHdr,
    /// Can take more segments (a mergeable TCP segment without PSH and with a full
    /// payload ended it so far).
    open: bool,
    seg: Option<Segment>,
    /// IP length of the super-packet so far.
    total: usize,
    next_seq: u32,
    /// IPv4 identifications: `None` until the second segment decides between
    /// incrementing (`Some(false)`) and fixed with DF (`Some(true)`).
    fixed_id: Option<bool>,
    /// The last segment so far had PSH (the super-packet gets it).
    psh: bool,
}

/// Merges TCP segments of a batch; keeps its tables between batches (no allocation
/// once warm).
#[derive(Debug, Default)]
pub struct Coalescer {
    groups: Vec<Group>,
    /// Per packet: the next packet of its group, or `NONE`.
    next: Vec<u32>,
    /// A flow's latest group.
    flows: HashMap<FlowKey, u32>,
}

/// One write of [`Coalescer::writes`].
#[derive(Debug, Clone, Copy)]
pub struct Write<'a> {
    /// The `virtio_net_hdr` to put in front: [`VnetHdr::default`] for a packet as it
    /// came, TCP GSO with a partial checksum for a super-packet.
    pub hdr: VnetHdr,
    /// How many packets of the batch this write carries.
    pub segments: usize,
    first: u32,
    skip: usize,
    next: &'a [u32],
}

impl<'a> Write<'a> {
    /// The slices to write after the header, in order: the first packet whole, then
    /// the payload of each further segment.
    pub fn parts<'p>(&self, pkts: &'p [PacketBuf]) -> impl Iterator<Item = &'p [u8]> + use<'a, 'p> {
        let next = self.next;
        let skip = self.skip;
        let mut i = self.first;
        let mut first = true;
        std::iter::from_fn(move || {
            let pkt = pkts.get(usize::try_from(i).ok()?)?;
            let s = if first {
                pkt.as_slice()
            } else {
                pkt.as_slice().get(skip..).unwrap_or_default()
            };
            first = false;
            i = next.get(i as usize).copied().unwrap_or(NONE);
            Some(s)
        })
    }

    /// Index (in the batch) of the first packet.
    pub fn first(&self) -> usize {
        self.first as usize
    }

    /// Indices (in the batch) of the packets this write carries, in order.
    pub fn members(&self) -> impl Iterator<Item = usize> + use<'a> {
        let next = self.next;
        let mut i = self.first;
        std::iter::from_fn(move || {
            let cur = usize::try_from(i).ok().filter(|_| i != NONE)?;
            i = next.get(cur).copied().unwrap_or(NONE);
            Some(cur)
        })
    }
}

impl Coalescer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Groups the packets of `pkts` (inner IP packets in the order they arrived) and
    /// rewrites the headers of the first packet of every merged group: IP length
    /// (IPv4 header checksum), PSH from the last segment, and the TCP checksum field
    /// set to the pseudo-header sum (`F_NEEDS_CSUM`). Later segments are not changed;
    /// their headers are skipped by [`Self::writes`].
    pub fn coalesce(&mut self, pkts: &mut [PacketBuf]) {
        self.groups.clear();
        self.flows.clear();
        self.next.clear();
        self.next.resize(pkts.len(), NONE);
        for (i, pkt) in pkts.iter().enumerate() {
            let Ok(i) = u32::try_from(i) else { break };
            let bytes = pkt.as_slice();
            let Some(key) = flow_key(bytes) else {
                self.single(i, None, bytes.len());
                continue;
            };
            let seg = mergeable(bytes);
            if let (Some(seg), Some(&g)) = (seg, self.flows.get(&key)) {
                let first = pkts[self.groups[g as usize].first as usize].as_slice();
                if self.try_append(g, i, &seg, first, bytes) {
                    continue;
                }
            }
            let g = self.single(i, seg, bytes.len());
            if seg.is_some() {
                self.flows.insert(key, g);
            } else {
                // Anything else of the flow (SYN, FIN, options...) goes after what came
                // before it; later segments start a new group.
                self.flows.remove(&key);
            }
        }
        for g in &mut self.groups {
            if g.count > 1 {
                finish(g, pkts[g.first as usize].as_mut_slice());
            }
        }
    }

    /// What to write, in order (after [`Self::coalesce`] on the same packets).
    pub fn writes(&self) -> impl Iterator<Item = Write<'_>> {
        self.groups.iter().map(|g| Write {
            hdr: g.hdr,
            segments: g.count as usize,
            first: g.first,
            skip: g.seg.map_or(0, |s| s.hdr_len),
            next: &self.next,
        })
    }

    /// Packets that were merged into another one by the last [`Self::coalesce`].
    pub fn merged(&self) -> usize {
        self.next.len() - self.groups.len()
    }

    fn single(&mut self, i: u32, seg: Option<Segment>, len: usize) -> u32 {
        let g = self.groups.len() as u32;
        let open = seg.is_some_and(|s| s.flags & TCP_PSH == 0);
        self.groups.push(Group {
            first: i,
            last: i,
            count: 1,
            hdr: VnetHdr::default(),
            open,
            seg,
            total: len,
            next_seq: seg.map_or(0, |s| s.seq.wrapping_add(s.payload as u32)),
            fixed_id: None,
            psh: false,
        });
        g
    }

    /// Appends packet `i` (`seg`, `bytes`) to group `g` whose first packet is `first`,
    /// if it continues it.
    fn try_append(&mut self, g: u32, i: u32, seg: &Segment, first: &[u8], bytes: &[u8]) -> bool {
        let grp = &mut self.groups[g as usize];
        let Some(head) = grp.seg else { return false };
        if !grp.open
            || grp.count as usize >= MAX_SEGMENTS
            || seg.v6 != head.v6
            || seg.hdr_len != head.hdr_len
            || seg.seq != grp.next_seq
            || seg.payload > head.payload
            || grp.total + seg.payload > MAX_SUPER_PACKET
        {
            return false;
        }
        let (ip, t) = (head.ip_len, head.hdr_len);
        let ip_same = if head.v6 {
            // Version, traffic class, flow label; hop limit.
            first[..4] == bytes[..4] && first[7] == bytes[7]
        } else {
            // TOS; flags and fragment offset; TTL.
            first[1] == bytes[1] && first[6..9] == bytes[6..9]
        };
        // Acknowledgment; header length, flags (but PSH) and window; urgent pointer
        // (meaningless without URG, but it would not survive the merge); options.
        let tcp_same = first[ip + 8..ip + 12] == bytes[ip + 8..ip + 12]
            && first[ip + 12] == bytes[ip + 12]
            && first[ip + 14..ip + 16] == bytes[ip + 14..ip + 16]
            && first[ip + 18..t] == bytes[ip + 18..t];
        if !ip_same || !tcp_same {
            return false;
        }
        if !head.v6 {
            let df = u16::from_be_bytes([first[6], first[7]]) & IPV4_DF != 0;
            let inc = head.id.wrapping_add(grp.count as u16);
            let fixed = match grp.fixed_id {
                Some(true) if seg.id == head.id => true,
                Some(false) if seg.id == inc => false,
                None if seg.id == inc => false,
                None if df && seg.id == head.id => true,
                _ => return false,
            };
            grp.fixed_id = Some(fixed);
        }
        grp.count += 1;
        grp.total += seg.payload;
        grp.next_seq = seg.seq.wrapping_add(seg.payload as u32);
        grp.open = seg.flags & TCP_PSH == 0 && seg.payload == head.payload;
        grp.psh = seg.flags & TCP_PSH != 0;
        self.next[grp.last as usize] = i;
        grp.last = i;
        true
    }
}

/// Rewrites the first packet of a merged group into the super-packet's headers and
/// sets the group's `virtio_net_hdr`.
fn finish(g: &mut Group, pkt: &mut [u8]) {
    let Some(seg) = g.seg else { return };
    let ip = seg.ip_len;
    if g.psh {
        pkt[ip + 13] |= TCP_PSH;
    }
    let tcp_len = g.total - ip;
    let (src, dst, gso_type) = if seg.v6 {
        let plen = tcp_len as u16;
        pkt[4..6].copy_from_slice(&plen.to_be_bytes());
        (v6(&pkt[8..24]), v6(&pkt[24..40]), VnetHdr::GSO_TCPV6)
    } else {
        let total = g.total as u16;
        pkt[2..4].copy_from_slice(&total.to_be_bytes());
        pkt[10..12].fill(0);
        let c = checksum(&pkt[..20]);
        pkt[10..12].copy_from_slice(&c.to_be_bytes());
        (v4(&pkt[12..16]), v4(&pkt[16..20]), VnetHdr::GSO_TCPV4)
    };
    let pseudo = fold(pseudo_header_sum(src, dst, 6, tcp_len as u32));
    pkt[ip + 16..ip + 18].copy_from_slice(&pseudo.to_be_bytes());
    g.hdr = VnetHdr {
        flags: VnetHdr::F_NEEDS_CSUM,
        gso_type,
        hdr_len: seg.hdr_len as u16,
        gso_size: seg.payload as u16,
        csum_start: ip as u16,
        csum_offset: 16,
    };
}

fn v4(b: &[u8]) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
}

fn v6(b: &[u8]) -> IpAddr {
    let mut o = [0u8; 16];
    o.copy_from_slice(b);
    IpAddr::V6(Ipv6Addr::from(o))
}

/// The flow of a TCP packet (IPv4 without options or IPv6 without extension headers,
/// ports present); `None` for anything else, which never merges.
fn flow_key(p: &[u8]) -> Option<FlowKey> {
    let mut key = FlowKey {
        src: [0; 16],
        dst: [0; 16],
        ports: [0; 4],
        v6: false,
    };
    match p.first()? >> 4 {
        4 if p.len() >= 24 && p[0] & 0x0f == 5 && p[9] == 6 => {
            key.src[..4].copy_from_slice(&p[12..16]);
            key.dst[..4].copy_from_slice(&p[16..20]);
            key.ports.copy_from_slice(&p[20..24]);
        }
        6 if p.len() >= 44 && p[6] == 6 => {
            key.src.copy_from_slice(&p[8..24]);
            key.dst.copy_from_slice(&p[24..40]);
            key.ports.copy_from_slice(&p[40..44]);
            key.v6 = true;
        }
        _ => return None,
    }
    Some(key)
}

/// The TCP segment in `p` if it may merge with others (see the module head); `p` is
/// known to have a [`flow_key`].
fn mergeable(p: &[u8]) -> Option<Segment> {
    let v6 = p[0] >> 4 == 6;
    let ip_len = if v6 { 40 } else { 20 };
    if v6 {
        if usize::from(u16::from_be_bytes([p[4], p[5]])) + 40 != p.len() {
            return None;
        }
    } else {
        let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
        let frag = u16::from_be_bytes([p[6], p[7]]) & !IPV4_DF;
        if total != p.len() || frag != 0 || checksum(&p[..20]) != 0 {
            return None;
        }
    }
    let tcp = p.get(ip_len..)?;
    if tcp.len() < 20 {
        return None;
    }
    let doff = usize::from(tcp[12] >> 4) * 4;
    let flags = tcp[13];
    let payload = tcp.len().checked_sub(doff)?;
    if doff < 20 || flags & !TCP_PSH != TCP_ACK || tcp[12] & 0x0f != 0 || payload == 0 {
        return None;
    }
    let (src, dst) = if v6 {
        (v6_addr(p, 8), v6_addr(p, 24))
    } else {
        (v4(&p[12..16]), v4(&p[16..20]))
    };
    let sum = ones_sum(pseudo_header_sum(src, dst, 6, tcp.len() as u32), tcp);
    if fold(sum) != 0xffff {
        return None;
    }
    Some(Segment {
        v6,
        ip_len,
        hdr_len: ip_len + doff,
        payload,
        seq: u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]),
        flags,
        id: if v6 {
            0
        } else {
            u16::from_be_bytes([p[4], p[5]])
        },
    })
}

fn v6_addr(p: &[u8], off: usize) -> IpAddr {
    v6(&p[off..off + 16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offload::{complete_checksum, segment_tcp};
    use proptest::prelude::*;

    /// A TCP segment with valid checksums: IPv4 (id `id`, DF) or IPv6, a timestamp
    /// option, `flags`, `seq`, `payload`.
    #[derive(Debug, Clone)]
    struct Seg {
        v6: bool,
        sport: u16,
        seq: u32,
        ack: u32,
        id: u16,
        flags: u8,
        window: u16,
        ttl: u8,
        payload: Vec<u8>,
    }

    impl Seg {
        fn new(v6: bool, seq: u32, id: u16, payload: Vec<u8>) -> Self {
            Self {
                v6,
                sport: 40000,
                seq,
                ack: 77,
                id,
                flags: TCP_ACK,
                window: 500,
                ttl: 64,
                payload,
            }
        }

        fn bytes(&self) -> Vec<u8> {
            let ip = if self.v6 { 40 } else { 20 };
            let tcp_len = 32 + self.payload.len();
            let mut p = vec![0u8; ip + 32];
            if self.v6 {
                p[0] = 0x60;
                p[1] = 0x01; // a flow label
                p[4..6].copy_from_slice(&(tcp_len as u16).to_be_bytes());
                p[6] = 6;
                p[7] = self.ttl;
                p[8..24]
                    .copy_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().expect("literal").octets());
                p[24..40]
                    .copy_from_slice(&"2001:db8::2".parse::<Ipv6Addr>().expect("literal").octets());
            } else {
                p[0] = 0x45;
                p[2..4].copy_from_slice(&((ip + tcp_len) as u16).to_be_bytes());
                p[4..6].copy_from_slice(&self.id.to_be_bytes());
                p[6] = 0x40; // DF
                p[8] = self.ttl;
                p[9] = 6;
                p[12..16].copy_from_slice(&[10, 1, 0, 1]);
                p[16..20].copy_from_slice(&[10, 2, 0, 1]);
                let c = checksum(&p[..20]);
                p[10..12].copy_from_slice(&c.to_be_bytes());
            }
            let t = &mut p[ip..];
            t[0..2].copy_from_slice(&self.sport.to_be_bytes());
            t[2..4].copy_from_slice(&5201u16.to_be_bytes());
            t[4..8].copy_from_slice(&self.seq.to_be_bytes());
            t[8..12].copy_from_slice(&self.ack.to_be_bytes());
            t[12] = 8 << 4;
            t[13] = self.flags;
            t[14..16].copy_from_slice(&self.window.to_be_bytes());
            t[20..32].copy_from_slice(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]); // NOP NOP TS
            p.extend_from_slice(&self.payload);
            let (src, dst) = if self.v6 {
                (v6_addr(&p, 8), v6_addr(&p, 24))
            } else {
                (v4(&p[12..16]), v4(&p[16..20]))
            };
            let c = !fold(ones_sum(
                pseudo_header_sum(src, dst, 6, tcp_len as u32),
                &p[ip..],
            ));
            p[ip + 16..ip + 18].copy_from_slice(&c.to_be_bytes());
            p
        }
    }

    /// `n` consecutive full segments of `mss` octets.
    fn run(v6: bool, n: usize, mss: usize) -> Vec<Seg> {
        (0..n)
            .map(|i| {
                let payload = (0..mss).map(|j| (i * 7 + j) as u8).collect();
                Seg::new(v6, 1000 + (i * mss) as u32, 9 + i as u16, payload)
            })
            .collect()
    }

    fn bufs(segs: &[Seg]) -> Vec<PacketBuf> {
        segs.iter()
            .map(|s| PacketBuf::from_packet(&s.bytes()))
            .collect()
    }

    /// Coalesces, then turns every write back into packets as the kernel would see
    /// them (super-packets cut again with `segment_tcp`); also checks each write.
    fn round_trip(pkts: &mut [PacketBuf]) -> (Vec<Vec<u8>>, Vec<(VnetHdr, usize)>) {
        let mut c = Coalescer::new();
        c.coalesce(pkts);
        let mut out = Vec::new();
        let mut writes = Vec::new();
        for w in c.writes() {
            let mut sup: Vec<u8> = w.parts(pkts).flatten().copied().collect();
            writes.push((w.hdr, w.segments));
            if w.hdr.gso() == VnetHdr::GSO_NONE {
                assert_eq!(w.segments, 1);
                out.push(sup);
                continue;
            }
            assert!(w.segments > 1);
            assert!(sup.len() <= MAX_SUPER_PACKET);
            assert!(
                usize::from(w.hdr.hdr_len) + usize::from(w.hdr.gso_size) * (w.segments - 1)
                    < sup.len()
            );
            let mut segs = Vec::new();
            let n = segment_tcp(&sup, w.hdr.gso_size.into(), 0, PacketBuf::new, &mut segs)
                .expect("a super-packet we made segments");
            assert_eq!(n, w.segments);
            out.extend(segs.iter().map(|b| b.as_slice().to_vec()));
            // What the kernel does with F_NEEDS_CSUM: the result must verify.
            complete_checksum(&mut sup, &w.hdr).expect("offsets in range");
            assert!(tcp_checksum_ok(&sup), "super-packet checksum");
            let parsed = etherparse::SlicedPacket::from_ip(&sup).expect("etherparse");
            assert!(matches!(
                parsed.transport,
                Some(etherparse::TransportSlice::Tcp(_))
            ));
        }
        assert_eq!(c.merged() + writes.len(), pkts.len());
        (out, writes)
    }

    fn tcp_checksum_ok(p: &[u8]) -> bool {
        let v = crate::ip::PacketView::parse(p).expect("parses");
        let t = v.l4_offset();
        let sum = ones_sum(
            pseudo_header_sum(v.src(), v.dst(), 6, (p.len() - t) as u32),
            &p[t..],
        );
        fold(sum) == 0xffff
    }

    #[test]
    fn a_run_of_segments_becomes_one_super_packet_and_cuts_back() {
        for v6 in [false, true] {
            let mut segs = run(v6, 5, 1000);
            segs[4].payload.truncate(300);
            segs[4].flags |= TCP_PSH;
            let input: Vec<Vec<u8>> = segs.iter().map(Seg::bytes).collect();
            let mut pkts = bufs(&segs);
            let (out, writes) = round_trip(&mut pkts);
            assert_eq!(out, input);
            assert_eq!(writes.len(), 1);
            let (h, n) = writes[0];
            assert_eq!(n, 5);
            let ip = if v6 { 40 } else { 20 };
            assert_eq!(h.flags, VnetHdr::F_NEEDS_CSUM);
            assert_eq!(
                h.gso(),
                if v6 {
                    VnetHdr::GSO_TCPV6
                } else {
                    VnetHdr::GSO_TCPV4
                }
            );
            assert_eq!((h.gso_size, h.hdr_len), (1000, ip + 32));
            assert_eq!((h.csum_start, h.csum_offset), (ip, 16));
            // The super-packet carries PSH (from the last segment).
            assert_eq!(pkts[0].as_slice()[usize::from(ip) + 13], TCP_ACK | TCP_PSH);
        }
    }

    #[test]
    fn fixed_ipv4_ids_with_df_merge_too() {
        let mut segs = run(false, 3, 500);
        for s in &mut segs {
            s.id = 0;
        }
        let mut pkts = bufs(&segs);
        let mut c = Coalescer::new();
        c.coalesce(&mut pkts);
        assert_eq!(c.writes().map(|w| w.segments).collect::<Vec<_>>(), vec![3]);
    }

    #[test]
    fn segments_that_must_not_merge_are_left_alone() {
        type Change = fn(&mut Seg);
        let cases: [(&str, Change); 14] = [
            ("SYN", |s| s.flags |= 0x02),
            ("FIN", |s| s.flags |= 0x01),
            ("RST", |s| s.flags |= 0x04),
            ("URG", |s| s.flags |= 0x20),
            ("ECE", |s| s.flags |= 0x40),
            ("CWR", |s| s.flags |= 0x80),
            ("no ACK", |s| s.flags = TCP_PSH),
            ("other ack", |s| s.ack += 1),
            ("other window", |s| s.window += 1),
            ("other TTL", |s| s.ttl -= 1),
            ("sequence gap", |s| s.seq += 1),
            ("longer payload", |s| s.payload.push(0)),
            ("empty payload", |s| s.payload.clear()),
            ("other IPv4 id", |s| s.id += 5),
        ];
        for v6 in [false, true] {
            for (what, change) in cases {
                if v6 && what == "other IPv4 id" {
                    continue;
                }
                let mut segs = run(v6, 3, 400);
                change(&mut segs[1]);
                let input: Vec<Vec<u8>> = segs.iter().map(Seg::bytes).collect();
                let mut pkts = bufs(&segs);
                let (out, writes) = round_trip(&mut pkts);
                assert_eq!(out, input, "{what} v6={v6}");
                // The changed segment is written on its own; the first is not merged
                // with it, and the third may start a group of its own at most.
                let counts: Vec<usize> = writes.iter().map(|w| w.1).collect();
                assert_eq!(counts, vec![1, 1, 1], "{what} v6={v6}");
            }
        }
    }

    #[test]
    fn bad_checksums_options_and_fragments_are_not_merged() {
        let segs = run(false, 3, 400);
        let input: Vec<Vec<u8>> = segs.iter().map(Seg::bytes).collect();
        let bad_tcp = {
            let mut b = input.clone();
            let l = b[1].len();
            b[1][l - 1] ^= 0xff;
            b
        };
        let bad_ip = {
            let mut b = input.clone();
            b[1][10] ^= 0x01;
            b
        };
        let fragment = {
            let mut b = input.clone();
            b[1][6] |= 0x20; // MF
            b[1][10..12].fill(0);
            let c = checksum(&b[1][..20]);
            b[1][10..12].copy_from_slice(&c.to_be_bytes());
            b
        };
        // Valid TCP checksum again after a header change (IPv4, 20-octet header).
        let refresh = |p: &mut Vec<u8>| {
            p[36..38].fill(0);
            let sum = ones_sum(
                pseudo_header_sum(v4(&p[12..16]), v4(&p[16..20]), 6, (p.len() - 20) as u32),
                &p[20..],
            );
            p[36..38].copy_from_slice(&(!fold(sum)).to_be_bytes());
        };
        let other_option = {
            let mut b = input.clone();
            b[1][47] = 9; // timestamp value
            refresh(&mut b[1]);
            b
        };
        let other_urgent_pointer = {
            let mut b = input.clone();
            b[1][38] = 0xdc; // without URG, but it would not survive the merge
            refresh(&mut b[1]);
            b
        };
        let padded = {
            let mut b = input.clone();
            b[1].push(0); // longer than the IP total length says
            b
        };
        for (what, pkts) in [
            ("bad TCP checksum", bad_tcp),
            ("bad IP checksum", bad_ip),
            ("fragment", fragment),
            ("other option", other_option),
            ("other urgent pointer", other_urgent_pointer),
            ("trailing octet", padded),
        ] {
            let mut bufs: Vec<PacketBuf> = pkts.iter().map(|p| PacketBuf::from_packet(p)).collect();
            let mut c = Coalescer::new();
            c.coalesce(&mut bufs);
            assert_eq!(c.merged(), 0, "{what}");
            for (w, p) in c.writes().zip(&pkts) {
                let got: Vec<u8> = w.parts(&bufs).flatten().copied().collect();
                assert_eq!(&got, p, "{what}: written as it came");
                assert_eq!(w.hdr, VnetHdr::default());
            }
        }
    }

    #[test]
    fn flows_interleave_and_each_keeps_its_order() {
        let a = run(false, 4, 300);
        let mut b = run(false, 4, 300);
        for s in &mut b {
            s.sport = 40001;
        }
        let c6 = run(true, 2, 300);
        let mut segs = Vec::new();
        for i in 0..4 {
            segs.push(a[i].clone());
            segs.push(b[i].clone());
            if i < 2 {
                segs.push(c6[i].clone());
            }
        }
        let mut pkts = bufs(&segs);
        let (out, writes) = round_trip(&mut pkts);
        assert_eq!(
            writes.iter().map(|w| w.1).collect::<Vec<_>>(),
            vec![4, 4, 2]
        );
        let want: Vec<Vec<u8>> = a.iter().chain(&b).chain(&c6).map(Seg::bytes).collect();
        assert_eq!(out, want);
    }

    #[test]
    fn a_short_segment_or_psh_ends_a_group_and_the_size_is_capped() {
        let mut segs = run(false, 4, 400);
        segs[1].payload.truncate(100);
        // The sequence continues after the short one.
        segs[2].seq = segs[1].seq + 100;
        segs[3].seq = segs[2].seq + 400;
        let mut pkts = bufs(&segs);
        let (_, writes) = round_trip(&mut pkts);
        assert_eq!(writes.iter().map(|w| w.1).collect::<Vec<_>>(), vec![2, 2]);

        // 60 segments of 1400: no more than 65,535 octets of IP packet in one.
        let mut pkts = bufs(&run(false, 60, 1400));
        let (_, writes) = round_trip(&mut pkts);
        let counts: Vec<usize> = writes.iter().map(|w| w.1).collect();
        assert_eq!(counts.iter().sum::<usize>(), 60);
        assert!(counts.iter().all(|&n| 52 + n * 1400 <= MAX_SUPER_PACKET));
        assert_eq!(counts[0], (MAX_SUPER_PACKET - 52) / 1400);
    }

    /// What a generated packet is.
    #[derive(Debug, Clone)]
    enum Gen {
        /// Next segment of flow `flow` with a payload of `len` (clamped to its MSS).
        Next { flow: usize, len: usize, psh: bool },
        /// A segment of `flow` that breaks it (FIN, gap, other ack, bad checksum).
        Odd { flow: usize, how: u8 },
        /// Random octets.
        Junk(Vec<u8>),
    }

    fn gen_packet() -> impl Strategy<Value = Gen> {
        prop_oneof![
            8 => (0..3usize, 1..1500usize, proptest::bool::weighted(0.1))
                .prop_map(|(flow, len, psh)| Gen::Next { flow, len, psh }),
            1 => (0..3usize, 0..4u8).prop_map(|(flow, how)| Gen::Odd { flow, how }),
            1 => proptest::collection::vec(any::<u8>(), 0..80).prop_map(Gen::Junk),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Coalesced, then cut again: every flow's packets come out exactly as they
        /// went in, in the same order, and every super-packet's checksum verifies.
        #[test]
        fn coalesced_then_segmented_equals_the_input(
            gens in proptest::collection::vec(gen_packet(), 0..120),
            mss in proptest::array::uniform3(1..1460usize),
        ) {
            let v6 = [false, true, false];
            let mut flows: Vec<Seg> = (0..3)
                .map(|f| {
                    let mut s = Seg::new(v6[f], 0xffff_f000u32.wrapping_add(f as u32), 100, vec![]);
                    s.sport = 40000 + f as u16;
                    s
                })
                .collect();
            let mut input = Vec::new();
            for g in &gens {
                let p = match g {
                    Gen::Next { flow, len, psh } => {
                        let s = &mut flows[*flow];
                        let n = (*len).min(mss[*flow]);
                        s.payload = vec![(*len % 251) as u8; n];
                        s.flags = if *psh { TCP_ACK | TCP_PSH } else { TCP_ACK };
                        let p = s.bytes();
                        s.seq = s.seq.wrapping_add(n as u32);
                        s.id = s.id.wrapping_add(1);
                        p
                    }
                    Gen::Odd { flow, how } => {
                        let s = &mut flows[*flow];
                        let mut o = s.clone();
                        o.payload = vec![1; 10];
                        match how {
                            0 => o.flags |= 0x01,
                            1 => o.seq = o.seq.wrapping_add(7),
                            2 => o.ack += 1,
                            _ => {}
                        }
                        let mut p = o.bytes();
                        if *how == 3 {
                            let l = p.len();
                            p[l - 1] ^= 0x5a;
                        }
                        s.id = s.id.wrapping_add(1);
                        p
                    }
                    Gen::Junk(b) => b.clone(),
                };
                input.push(p);
            }
            let mut pkts: Vec<PacketBuf> = input.iter().map(|p| PacketBuf::from_packet(p)).collect();
            let (out, _) = round_trip(&mut pkts);
            prop_assert_eq!(out.len(), input.len());
            let key = |p: &Vec<u8>| flow_key(p);
            let mut keys: Vec<Option<FlowKey>> = input.iter().map(key).collect();
            keys.dedup();
            for k in keys {
                let a: Vec<&Vec<u8>> = input.iter().filter(|p| key(p) == k).collect();
                let b: Vec<&Vec<u8>> = out.iter().filter(|p| key(p) == k).collect();
                prop_assert_eq!(a, b);
            }
        }

        /// Garbage never panics and is written as it came.
        #[test]
        fn junk_is_written_unmerged(
            junk in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..100), 0..20),
        ) {
            let mut pkts: Vec<PacketBuf> = junk.iter().map(|p| PacketBuf::from_packet(p)).collect();
            let mut c = Coalescer::new();
            c.coalesce(&mut pkts);
            let out: Vec<Vec<u8>> = c.writes().map(|w| w.parts(&pkts).flatten().copied().collect()).collect();
            prop_assert_eq!(out.len() + c.merged(), junk.len());
            if c.merged() == 0 {
                prop_assert_eq!(out, junk);
            }
        }
    }
}
