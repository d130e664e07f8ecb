//! Inner IP packets: a zero-copy view of an IPv4 or IPv6 packet as it comes from the
//! TUN device or out of a decapsulated ESP payload, and the Internet checksum.
//!
//! [`PacketView::parse`] reads the fields the data plane needs (addresses, upper-layer
//! protocol, ports or ICMP type and code, fragmentation) without copying and without
//! panicking: every malformed packet is a typed [`IpError`]. It walks IPv6 extension
//! headers (RFC 8200 section 4) to find the upper-layer header. The checksum helpers
//! implement RFC 1071 (full sum) and RFC 1624 (incremental update).
//!
//! This module never allocates, never looks at a clock and never changes a packet.
//!
//! # Fragments and ports (RFC 4301 section 7)
//!
//! Only a packet that is not a fragment, or the first fragment (offset 0), carries the
//! upper-layer header. A non-first fragment has no ports: [`PacketView::ports`] is
//! `None` and it can only match selectors with all ports or OPAQUE ports, which is
//! what RFC 4301 section 7.1 (tunnel-mode SAs carrying initial and non-initial
//! fragments) and 7.2 (separate SAs for non-initial fragments, OPAQUE ports) describe.
//! We do not keep the per-datagram state of section 7.3 (stateful fragment checking).
//! A first fragment that is too short to hold the ports is treated like a non-first
//! one (ports `None`); an unfragmented packet that is too short is malformed.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ikev2::ts::{icmp_port, ip_proto};

/// Length of an IPv4 header without options.
pub const IPV4_MIN_HEADER_LEN: usize = 20;
/// Length of the fixed IPv6 header (RFC 8200 section 3).
pub const IPV6_HEADER_LEN: usize = 40;

/// IPv4 flag "Don't Fragment" in the flags/fragment-offset word (RFC 791 section 3.1).
pub const IPV4_DF: u16 = 0x4000;
/// IPv4 flag "More Fragments".
pub const IPV4_MF: u16 = 0x2000;
/// Mask of the 13-bit IPv4 fragment offset (in units of 8 octets).
pub const IPV4_OFFSET_MASK: u16 = 0x1fff;

/// IPv6 next-header values of the extension headers [`PacketView::parse`] walks
/// through (RFC 8200 section 4, RFC 4302).
pub mod ipv6_ext {
    /// Hop-by-Hop Options header.
    pub const HOP_BY_HOP: u8 = 0;
    /// Routing header.
    pub const ROUTING: u8 = 43;
    /// Fragment header.
    pub const FRAGMENT: u8 = 44;
    /// Authentication Header (RFC 4302); its length counts 4-octet units.
    pub const AH: u8 = 51;
    /// No Next Header: nothing follows.
    pub const NO_NEXT_HEADER: u8 = 59;
    /// Destination Options header.
    pub const DEST_OPTS: u8 = 60;
}

/// The most extension headers [`PacketView::parse`] walks before giving up. Each is at
/// least 8 octets, so the packet length bounds the walk anyway; this bounds the time.
pub const MAX_IPV6_EXTENSIONS: usize = 16;

/// IP version of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpVersion {
    /// IPv4 (RFC 791).
    V4,
    /// IPv6 (RFC 8200).
    V6,
}

/// Why a buffer is not a well-formed IP packet.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IpError {
    /// The buffer is shorter than the header (or the length field) says it must be.
    #[error("truncated IP packet: {need} octets needed, {have} present")]
    Truncated {
        /// Octets the headers call for.
        need: usize,
        /// Octets in the buffer.
        have: usize,
    },
    /// The version nibble is neither 4 nor 6.
    #[error("IP version {0} (expected 4 or 6)")]
    Version(u8),
    /// An IPv4 header length (IHL) below 5 words, or a total length smaller than it.
    #[error("bad IPv4 header length {ihl} or total length {total_len}")]
    Ipv4Length {
        /// Header length in octets (IHL * 4).
        ihl: usize,
        /// The total-length field.
        total_len: usize,
    },
    /// More IPv6 extension headers than [`MAX_IPV6_EXTENSIONS`].
    #[error("more than {MAX_IPV6_EXTENSIONS} IPv6 extension headers")]
    TooManyExtensions,
}

/// A parsed, borrowed view of an inner IPv4 or IPv6 packet. Build it with
/// [`PacketView::parse`]; no accessor can panic afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketView<'a> {
    /// The packet, cut to its total length (trailing TFC padding removed).
    bytes: &'a [u8],
    version: IpVersion,
    /// Offset of the upper-layer header (IPv4 IHL; IPv6 40 + extension headers).
    l4_offset: usize,
    protocol: u8,
    src: IpAddr,
    dst: IpAddr,
    /// Fragment offset in octets (0 if not a fragment).
    frag_offset: u16,
    more_fragments: bool,
    /// IPv4: the DF flag. IPv6: always true (routers never fragment IPv6).
    dont_fragment: bool,
    /// IPv6 only: the packet carries a Fragment header.
    ipv6_fragment_header: bool,
    /// Ports (or ICMP type/code as ports) when visible.
    ports: Option<(u16, u16)>,
    icmp: Option<(u8, u8)>,
}

impl<'a> PacketView<'a> {
    /// Parses the IP header(s) of `packet`. Octets after the IPv4 total length or the
    /// IPv6 payload length are ignored (RFC 4303 section 2.7 TFC padding, link-layer
    /// padding). An IPv6 payload length of 0 means an empty payload: jumbograms
    /// (RFC 2675) are not supported in a tunnel.
    pub fn parse(packet: &'a [u8]) -> Result<Self, IpError> {
        let first = *packet
            .first()
            .ok_or(IpError::Truncated { need: 1, have: 0 })?;
        match first >> 4 {
            4 => Self::parse_v4(packet),
            6 => Self::parse_v6(packet),
            v => Err(IpError::Version(v)),
        }
    }

    fn parse_v4(packet: &'a [u8]) -> Result<Self, IpError> {
        let have = packet.len();
        if have < IPV4_MIN_HEADER_LEN {
            return Err(IpError::Truncated {
                need: IPV4_MIN_HEADER_LEN,
                have,
            });
        }
        let ihl = usize::from(packet[0] & 0x0f) * 4;
        let total_len = usize::from(be16(packet, 2));
        if ihl < IPV4_MIN_HEADER_LEN || total_len < ihl {
            return Err(IpError::Ipv4Length { ihl, total_len });
        }
        if have < total_len {
            return Err(IpError::Truncated {
                need: total_len,
                have,
            });
        }
        let bytes = &packet[..total_len];
        let flags = be16(bytes, 6);
        let frag_offset = (flags & IPV4_OFFSET_MASK) << 3;
        let more_fragments = flags & IPV4_MF != 0;
        let protocol = bytes[9];
        let src = Ipv4Addr::from(be32(bytes, 12)).into();
        let dst = Ipv4Addr::from(be32(bytes, 16)).into();
        let (ports, icmp) = upper_layer(
            protocol,
            &bytes[ihl..],
            frag_offset != 0,
            more_fragments || frag_offset != 0,
        )?;
        Ok(Self {
            bytes,
            version: IpVersion::V4,
            l4_offset: ihl,
            protocol,
            src,
            dst,
            frag_offset,
            more_fragments,
            dont_fragment: flags & IPV4_DF != 0,
            ipv6_fragment_header: false,
            ports,
            icmp,
        })
    }

    fn parse_v6(packet: &'a [u8]) -> Result<Self, IpError> {
        let have = packet.len();
        if have < IPV6_HEADER_LEN {
            return Err(IpError::Truncated {
                need: IPV6_HEADER_LEN,
                have,
            });
        }
        let total_len = IPV6_HEADER_LEN + usize::from(be16(packet, 4));
        if have < total_len {
            return Err(IpError::Truncated {
                need: total_len,
                have,
            });
        }
        let bytes = &packet[..total_len];
        let src = Ipv6Addr::from(be128(bytes, 8)).into();
        let dst = Ipv6Addr::from(be128(bytes, 24)).into();

        let mut next = bytes[6];
        let mut off = IPV6_HEADER_LEN;
        let mut frag_offset = 0;
        let mut more_fragments = false;
        let mut fragment_header = false;
        let mut walked = 0;
        loop {
            let ext_len = match next {
                ipv6_ext::HOP_BY_HOP | ipv6_ext::ROUTING | ipv6_ext::DEST_OPTS => {
                    let len_octet = *bytes.get(off + 1).ok_or(IpError::Truncated {
                        need: off + 2,
                        have: total_len,
                    })?;
                    8 + usize::from(len_octet) * 8
                }
                ipv6_ext::AH => {
                    let len_octet = *bytes.get(off + 1).ok_or(IpError::Truncated {
                        need: off + 2,
                        have: total_len,
                    })?;
                    (usize::from(len_octet) + 2) * 4
                }
                ipv6_ext::FRAGMENT => 8,
                _ => break,
            };
            walked += 1;
            if walked > MAX_IPV6_EXTENSIONS {
                return Err(IpError::TooManyExtensions);
            }
            if off + ext_len > total_len {
                return Err(IpError::Truncated {
                    need: off + ext_len,
                    have: total_len,
                });
            }
            let this = next;
            next = bytes[off];
            if this == ipv6_ext::FRAGMENT {
                let word = be16(bytes, off + 2);
                fragment_header = true;
                frag_offset = word & 0xfff8;
                more_fragments = word & 1 != 0;
                off += ext_len;
                if frag_offset != 0 {
                    // The rest is the middle of a datagram: `next` names the first
                    // header of the fragmentable part, which is not here.
                    break;
                }
                continue;
            }
            off += ext_len;
        }
        let is_fragment = fragment_header && (frag_offset != 0 || more_fragments);
        let (ports, icmp) = upper_layer(next, &bytes[off..], frag_offset != 0, is_fragment)?;
        Ok(Self {
            bytes,
            version: IpVersion::V6,
            l4_offset: off,
            protocol: next,
            src,
            dst,
            frag_offset,
            more_fragments,
            dont_fragment: true,
            ipv6_fragment_header: fragment_header,
            ports,
            icmp,
        })
    }

    /// The packet, cut to its IPv4 total length or IPv6 header + payload length.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// IPv4 or IPv6.
    pub fn version(&self) -> IpVersion {
        self.version
    }

    /// Whether this is an IPv6 packet.
    pub fn is_ipv6(&self) -> bool {
        self.version == IpVersion::V6
    }

    /// The packet length from its header (IPv4 total length, IPv6 40 + payload
    /// length).
    pub fn total_len(&self) -> usize {
        self.bytes.len()
    }

    /// Offset of the upper-layer header: the IPv4 header length, or for IPv6 40 plus
    /// the extension headers walked (up to and including a Fragment header of a
    /// non-first fragment).
    pub fn l4_offset(&self) -> usize {
        self.l4_offset
    }

    /// The octets after [`Self::l4_offset`].
    pub fn l4_payload(&self) -> &'a [u8] {
        &self.bytes[self.l4_offset..]
    }

    /// The upper-layer protocol: the IPv4 protocol field, or the IPv6 next-header
    /// value after the extension headers (for a non-first IPv6 fragment: the next
    /// header named by its Fragment header).
    pub fn protocol(&self) -> u8 {
        self.protocol
    }

    /// Source address.
    pub fn src(&self) -> IpAddr {
        self.src
    }

    /// Destination address.
    pub fn dst(&self) -> IpAddr {
        self.dst
    }

    /// (source port, destination port) as traffic selectors see them, when visible.
    ///
    /// TCP, UDP, UDP-Lite, SCTP and DCCP: the ports. ICMP and ICMPv6: both are
    /// [`icmp_port`]`(type, code)` (RFC 7296 section 3.13.1): type and code belong to
    /// the packet, not to one end, so a selector on either side that names an ICMP
    /// type restricts it (as the Linux XFRM selector does, which compares type and
    /// code whichever CHILD SA side they were configured on). `None` for other
    /// protocols and for fragments without the upper-layer header (module docs).
    pub fn ports(&self) -> Option<(u16, u16)> {
        self.ports
    }

    /// ICMP or ICMPv6 (type, code), when visible.
    pub fn icmp_type_code(&self) -> Option<(u8, u8)> {
        self.icmp
    }

    /// IPv4: the DF flag (RFC 791). IPv6: always `true`, since routers never
    /// fragment IPv6 packets (RFC 8200 section 5).
    pub fn dont_fragment(&self) -> bool {
        self.dont_fragment
    }

    /// Fragment offset in octets; 0 for unfragmented packets and first fragments.
    pub fn fragment_offset(&self) -> u16 {
        self.frag_offset
    }

    /// The More Fragments flag.
    pub fn more_fragments(&self) -> bool {
        self.more_fragments
    }

    /// Whether this is a fragment of a larger datagram (offset non-zero or MF set).
    pub fn is_fragment(&self) -> bool {
        self.frag_offset != 0 || self.more_fragments
    }

    /// Whether this is a fragment other than the first (it has no upper-layer
    /// header).
    pub fn is_non_first_fragment(&self) -> bool {
        self.frag_offset != 0
    }

    /// IPv6 only: whether a Fragment header is present (possibly an atomic fragment,
    /// RFC 6946).
    pub fn has_ipv6_fragment_header(&self) -> bool {
        self.ipv6_fragment_header
    }
}

/// Ports (as selectors see them) and ICMP type/code of an upper-layer header.
type UpperLayer = (Option<(u16, u16)>, Option<(u8, u8)>);

/// Ports and ICMP type/code of the upper-layer header in `l4`.
fn upper_layer(
    protocol: u8,
    l4: &[u8],
    non_first: bool,
    is_fragment: bool,
) -> Result<UpperLayer, IpError> {
    if non_first {
        return Ok((None, None));
    }
    let need = match protocol {
        ip_proto::TCP | ip_proto::UDP | ip_proto::SCTP | DCCP | UDPLITE => 4,
        ip_proto::ICMP | ip_proto::ICMPV6 => 2,
        _ => return Ok((None, None)),
    };
    if l4.len() < need {
        if is_fragment {
            return Ok((None, None));
        }
        return Err(IpError::Truncated {
            need,
            have: l4.len(),
        });
    }
    if need == 2 {
        let p = icmp_port(l4[0], l4[1]);
        return Ok((Some((p, p)), Some((l4[0], l4[1]))));
    }
    Ok((Some((be16(l4, 0), be16(l4, 2))), None))
}

/// DCCP (RFC 4340): ports in the first four octets like TCP.
const DCCP: u8 = 33;
/// UDP-Lite (RFC 3828).
const UDPLITE: u8 = 136;

/// The big-endian u16 at `off`. Callers have checked the length.
#[inline]
pub(crate) fn be16(b: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([b[off], b[off + 1]])
}

#[inline]
fn be32(b: &[u8], off: usize) -> u32 {
    u32::from_be_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

#[inline]
fn be128(b: &[u8], off: usize) -> u128 {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[off..off + 16]);
    u128::from_be_bytes(a)
}

/// The one's-complement sum (RFC 1071) of `data` as big-endian 16-bit words, added to
/// `acc`, not yet folded. An odd last octet is padded with a zero octet. `acc` may be
/// a previous result (for data split at an even offset) or a pseudo-header sum.
pub fn ones_sum(acc: u64, data: &[u8]) -> u64 {
    let mut sum = acc;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        sum += u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
    }
    let rest = chunks.remainder();
    let mut i = 0;
    while i + 1 < rest.len() {
        sum += u64::from(u16::from_be_bytes([rest[i], rest[i + 1]]));
        i += 2;
    }
    if i < rest.len() {
        sum += u64::from(rest[i]) << 8;
    }
    sum
}

/// Folds a [`ones_sum`] to 16 bits with end-around carry.
pub fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The Internet checksum (RFC 1071) of `data`: the one's complement of its
/// one's-complement sum. Computed over a header whose checksum field holds this
/// value, the result is 0.
pub fn checksum(data: &[u8]) -> u16 {
    !fold(ones_sum(0, data))
}

/// The one's-complement sum of the TCP/UDP/ICMPv6 pseudo-header: RFC 793 / RFC 768
/// for IPv4 (addresses, zero, protocol, 16-bit length), RFC 8200 section 8.1 for IPv6
/// (addresses, 32-bit length, zeros, next header). Mixed families sum only the
/// protocol and length (no valid packet has them).
pub fn pseudo_header_sum(src: IpAddr, dst: IpAddr, protocol: u8, upper_len: u32) -> u64 {
    let mut sum = u64::from(protocol) + u64::from(upper_len >> 16) + u64::from(upper_len & 0xffff);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            sum = ones_sum(sum, &s.octets());
            sum = ones_sum(sum, &d.octets());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            sum = ones_sum(sum, &s.octets());
            sum = ones_sum(sum, &d.octets());
        }
        _ => {}
    }
    sum
}

/// Incremental checksum update (RFC 1624 equation 3): the new checksum after a
/// 16-bit word covered by `check` changed from `old` to `new`,
/// `HC' = ~(~HC + ~m + m')`.
///
/// The word must sit at an even offset from the start of the checksummed data. For
/// a field at an odd offset pass both values byte-swapped ([`u16::swap_bytes`]):
/// its two octets then fall in the low half of one word and the high half of the
/// next, which in the one's-complement sum is the same as the swapped value.
pub fn update_checksum(check: u16, old: u16, new: u16) -> u16 {
    let sum = u64::from(!check) + u64::from(!old) + u64::from(new);
    !fold(sum)
}

/// Whether `addr` is an IPv4 address that does not name a single host (RFC 1122
/// section 3.2.1.3 and RFC 1812 section 4.2.2.11): "this network" 0.0.0.0/8,
/// loopback 127.0.0.0/8, multicast 224.0.0.0/4, reserved 240.0.0.0/4 and the
/// limited broadcast 255.255.255.255.
pub fn is_ipv4_non_unicast(addr: Ipv4Addr) -> bool {
    let o = addr.octets();
    o[0] == 0 || o[0] == 127 || o[0] >= 224
}

/// Whether `addr` is an IPv6 address that does not name a single node as a source
/// (RFC 4443 section 2.4 (e.6), RFC 4291): unspecified `::`, loopback `::1`
/// (never forwarded, RFC 4291 section 2.5.3) and multicast `ff00::/8`.
pub fn is_ipv6_non_unicast(addr: Ipv6Addr) -> bool {
    addr.is_unspecified() || addr.is_loopback() || addr.is_multicast()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(proto: u8, payload: &[u8]) -> Vec<u8> {
        let total = 20 + payload.len();
        let mut p = vec![
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            1,
            0x40,
            0,
            64,
            proto,
            0,
            0,
            10,
            0,
            0,
            1,
            10,
            0,
            0,
            2,
        ];
        p.extend_from_slice(payload);
        let c = checksum(&p[..20]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p
    }

    #[test]
    fn ipv4_udp_ports() {
        let p = v4(17, &[0x12, 0x34, 0x00, 0x35, 0, 8, 0, 0]);
        let v = PacketView::parse(&p).expect("valid");
        assert_eq!(v.ports(), Some((0x1234, 53)));
        assert_eq!(v.protocol(), 17);
        assert!(v.dont_fragment());
        assert_eq!(checksum(&p[..20]), 0);
    }

    #[test]
    fn ipv4_trailing_padding_ignored() {
        let mut p = v4(17, &[0, 1, 0, 2, 0, 8, 0, 0]);
        p.extend_from_slice(&[1, 2, 3]);
        let v = PacketView::parse(&p).expect("valid");
        assert_eq!(v.total_len(), 28);
    }

    #[test]
    fn ipv4_truncated_tcp_unfragmented_is_malformed() {
        let p = v4(6, &[0, 1]);
        assert!(matches!(
            PacketView::parse(&p),
            Err(IpError::Truncated { .. })
        ));
    }

    #[test]
    fn ipv4_non_first_fragment_has_no_ports() {
        let mut p = v4(6, &[0, 1, 0, 2, 0, 0, 0, 0]);
        p[6] = 0x20; // MF, offset 1 (8 octets)
        p[7] = 1;
        let v = PacketView::parse(&p).expect("valid");
        assert_eq!(v.ports(), None);
        assert_eq!(v.fragment_offset(), 8);
        assert!(v.is_non_first_fragment());
    }

    #[test]
    fn icmp_ports() {
        let p = v4(1, &[8, 0, 0, 0, 0, 0, 0, 0]);
        let v = PacketView::parse(&p).expect("valid");
        assert_eq!(v.ports(), Some((0x0800, 0x0800)));
        assert_eq!(v.icmp_type_code(), Some((8, 0)));
    }

    #[test]
    fn incremental_matches_full() {
        let mut data = [0x12u8, 0x34, 0xab, 0xcd, 0xff, 0xff, 0x00, 0x01];
        let c = checksum(&data);
        data[2..4].copy_from_slice(&0x0102u16.to_be_bytes());
        let inc = update_checksum(c, 0xabcd, 0x0102);
        assert_eq!(inc, checksum(&data));
        // odd offset: octets 3..5
        let c = checksum(&data);
        let old = u16::from_be_bytes([data[3], data[4]]);
        data[3..5].copy_from_slice(&0x5a5au16.to_be_bytes());
        let inc = update_checksum(c, old.swap_bytes(), 0x5a5au16.swap_bytes());
        assert_eq!(inc, checksum(&data));
    }

    /// An IPv6 packet: fixed header with `next`, then `rest`.
    fn v6(next: u8, rest: &[u8]) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&(rest.len() as u16).to_be_bytes());
        p.extend_from_slice(&[next, 64]);
        p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        p.extend_from_slice(rest);
        p
    }

    const TCP_PORTS: [u8; 20] = [
        0x1f, 0x90, 0x01, 0xbb, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, 2, 0, 0, 0, 0, 0, 0,
    ];

    #[test]
    fn ipv6_walks_hop_by_hop_routing_dest_opts_and_ah() {
        let mut rest = vec![ipv6_ext::ROUTING, 0, 1, 4, 0, 0, 0, 0]; // hop-by-hop, 8
        rest.extend_from_slice(&[ipv6_ext::DEST_OPTS, 1]); // routing, 16
        rest.extend_from_slice(&[0; 14]);
        rest.extend_from_slice(&[ipv6_ext::AH, 0, 1, 4, 0, 0, 0, 0]); // dest opts, 8
        rest.extend_from_slice(&[ip_proto::TCP, 4, 0, 0]); // AH, (4 + 2) * 4 = 24
        rest.extend_from_slice(&[0; 20]);
        rest.extend_from_slice(&TCP_PORTS);
        let p = v6(ipv6_ext::HOP_BY_HOP, &rest);
        let v = PacketView::parse(&p).expect("valid");
        assert_eq!(v.protocol(), ip_proto::TCP);
        assert_eq!(v.l4_offset(), 40 + 8 + 16 + 8 + 24);
        assert_eq!(v.ports(), Some((8080, 443)));
        assert!(v.dont_fragment());
        assert!(!v.is_fragment());
    }

    #[test]
    fn ipv6_fragments() {
        // first fragment: ports visible
        let mut rest = vec![ip_proto::TCP, 0, 0, 1, 0, 0, 0, 9];
        rest.extend_from_slice(&TCP_PORTS);
        let v_first = v6(ipv6_ext::FRAGMENT, &rest);
        let v = PacketView::parse(&v_first).expect("valid");
        assert_eq!(v.ports(), Some((8080, 443)));
        assert!(v.is_fragment() && !v.is_non_first_fragment());
        // non-first: no ports, protocol from the fragment header
        let rest = [
            ip_proto::UDP,
            0,
            0x05,
            0x00,
            0,
            0,
            0,
            9,
            1,
            2,
            3,
            4,
            5,
            6,
            7,
            8,
        ];
        let p = v6(ipv6_ext::FRAGMENT, &rest);
        let v = PacketView::parse(&p).expect("valid");
        assert_eq!(v.protocol(), ip_proto::UDP);
        assert_eq!(v.fragment_offset(), 0x500);
        assert!(!v.more_fragments());
        assert_eq!(v.ports(), None);
        assert_eq!(v.l4_offset(), 48);
        // atomic fragment (offset 0, M clear): a whole packet
        let mut rest = vec![ip_proto::TCP, 0, 0, 0, 0, 0, 0, 9];
        rest.extend_from_slice(&TCP_PORTS);
        let p = v6(ipv6_ext::FRAGMENT, &rest);
        let v = PacketView::parse(&p).expect("valid");
        assert!(v.has_ipv6_fragment_header() && !v.is_fragment());
        // a first fragment too short for the ports: no ports rather than an error
        let p = v6(
            ipv6_ext::FRAGMENT,
            &[ip_proto::TCP, 0, 0, 1, 0, 0, 0, 9, 0x1f],
        );
        assert_eq!(PacketView::parse(&p).expect("valid").ports(), None);
    }

    #[test]
    fn ipv6_upper_layers_without_ports() {
        for next in [ipv6_ext::NO_NEXT_HEADER, ip_proto::ESP, ip_proto::GRE] {
            let p = v6(next, &[0; 8]);
            let v = PacketView::parse(&p).expect("valid");
            assert_eq!((v.protocol(), v.ports()), (next, None));
        }
        let p = v6(ip_proto::ICMPV6, &[128, 0, 0, 0, 0, 0, 0, 0]);
        let v = PacketView::parse(&p).expect("valid");
        assert_eq!(v.ports(), Some((0x8000, 0x8000)));
    }

    #[test]
    fn ipv6_malformed() {
        // extension header running past the payload
        let p = v6(ipv6_ext::DEST_OPTS, &[ip_proto::TCP, 2, 0, 0, 0, 0, 0, 0]);
        assert!(matches!(
            PacketView::parse(&p),
            Err(IpError::Truncated { .. })
        ));
        // no room for the length octet
        let p = v6(ipv6_ext::ROUTING, &[ip_proto::TCP]);
        assert!(matches!(
            PacketView::parse(&p),
            Err(IpError::Truncated { .. })
        ));
        // payload length beyond the buffer
        let mut p = v6(ip_proto::UDP, &[0; 8]);
        p.truncate(47);
        assert!(matches!(
            PacketView::parse(&p),
            Err(IpError::Truncated { need: 48, have: 47 })
        ));
        // a chain of 17 destination options headers
        let mut rest = Vec::new();
        for _ in 0..17 {
            rest.extend_from_slice(&[ipv6_ext::DEST_OPTS, 0, 1, 4, 0, 0, 0, 0]);
        }
        let p = v6(ipv6_ext::DEST_OPTS, &rest);
        assert_eq!(PacketView::parse(&p), Err(IpError::TooManyExtensions));
        // truncated UDP in an unfragmented packet
        let p = v6(ip_proto::UDP, &[0, 1, 0]);
        assert!(matches!(
            PacketView::parse(&p),
            Err(IpError::Truncated { need: 4, have: 3 })
        ));
    }

    #[test]
    fn bad_versions_and_lengths() {
        assert_eq!(PacketView::parse(&[0x50; 40]), Err(IpError::Version(5)));
        assert!(matches!(
            PacketView::parse(&[]),
            Err(IpError::Truncated { need: 1, have: 0 })
        ));
        let mut p = v4(17, &[0, 1, 0, 2, 0, 8, 0, 0]);
        p[0] = 0x44;
        assert!(matches!(
            PacketView::parse(&p),
            Err(IpError::Ipv4Length { ihl: 16, .. })
        ));
        let mut p = v4(17, &[0, 1, 0, 2, 0, 8, 0, 0]);
        p[3] = 19;
        assert!(matches!(
            PacketView::parse(&p),
            Err(IpError::Ipv4Length { total_len: 19, .. })
        ));
        assert!(matches!(
            PacketView::parse(&p[..19]),
            Err(IpError::Truncated { need: 20, have: 19 })
        ));
    }

    #[test]
    fn non_unicast_classification() {
        for a in [
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert!(is_ipv4_non_unicast(a.parse().expect("v4")), "{a}");
        }
        for a in ["10.0.0.1", "192.0.2.1", "223.255.255.254"] {
            assert!(!is_ipv4_non_unicast(a.parse().expect("v4")), "{a}");
        }
        for a in ["::", "::1", "ff02::1"] {
            assert!(is_ipv6_non_unicast(a.parse().expect("v6")), "{a}");
        }
        assert!(!is_ipv6_non_unicast("2001:db8::1".parse().expect("v6")));
    }

    #[test]
    fn odd_length_checksum() {
        // RFC 1071 pads an odd octet with zero on the right.
        assert_eq!(checksum(&[0x01]), !0x0100);
        assert_eq!(checksum(&[0x00, 0x01, 0xf2]), !(0x0001u16 + 0xf200));
    }
}
