//! "Packet too big" messages for inner packets that do not fit the tunnel: ICMP
//! Destination Unreachable / Fragmentation Needed and DF Set (type 3 code 4, RFC 792,
//! with the next-hop MTU of RFC 1191 section 4) and ICMPv6 Packet Too Big (type 2,
//! RFC 4443 section 3.2), sent back toward the packet's source so that its PMTU
//! discovery (RFC 1191, RFC 8201) learns the tunnel's inner MTU. This is the
//! "tunnel as a link with a smaller MTU" approach of RFC 4459 section 3.1.
//!
//! [`too_big_reply`] builds the whole reply packet (IP header included) into a
//! caller-owned buffer; the caller writes it to the TUN device. It refuses, with a
//! reason, in the cases where RFC 1122 section 3.2.2, RFC 1812 section 4.3.2.7 and
//! RFC 4443 section 2.4 (e) forbid an ICMP error. [`IcmpRateLimiter`] is the rate
//! limit RFC 4443 section 2.4 (f) and RFC 1812 section 4.3.2.8 call for; the caller
//! owns one and passes the time in.
//!
//! # Choices
//!
//! - **Source address**: `our_addr` when the caller has an address on the tunnel
//!   side (RFC 1812 section 4.3.2.4 wants the address of the interface the error
//!   goes out of). Without one, the original packet's destination. A policy-based
//!   gateway often has no address inside the protected networks, and its outer
//!   address may be filtered (reverse-path checks, host firewalls that only let in
//!   ICMP "related" to a connection from addresses they talk to). The original
//!   destination is an address the sender is talking to and routes toward the
//!   tunnel, and hosts find the path to update from the quoted packet, not from the
//!   sender of the error (RFC 1191, RFC 8201), so PMTU discovery works the same.
//!   The cost: a traceroute-like tool would show the far host as the reporter. For
//!   an IPv6 packet to a multicast group (the one case RFC 4443 allows a reply for
//!   a multicast destination) `our_addr` is required.
//! - **Quote length**: IPv4 quotes as much of the original as fits in a 576-octet
//!   reply (548 octets), as RFC 1812 section 4.3.2.3 asks of routers (and Linux
//!   does), more than RFC 792's header + 64 bits, so that the sender can match
//!   tunnelled or option-heavy packets. IPv6 quotes as much as fits in the minimum
//!   MTU of 1280 (1232 octets, RFC 4443 section 2.4 (c)).
//! - **Header fields**: IPv4 TOS 0xc0 (precedence 6, internetwork control, RFC 1812
//!   section 4.3.2.5), identification 0 with DF set (an atomic datagram, whose
//!   identification RFC 6864 leaves free), TTL 64. IPv6 traffic class 0, flow
//!   label 0, hop limit 64.
//! - **MTU bounds**: the MTU reported is at least 68 for IPv4 (RFC 791) and 1280 for
//!   IPv6 (RFC 8200 section 5); hosts ignore smaller values (RFC 8201 section 4). A
//!   tunnel whose inner room is below 1280 must carry IPv6 by fragmenting the outer
//!   packets instead (RFC 8200 section 5, RFC 4459 section 3): [`too_big_reply`]
//!   returns [`IcmpError::MtuTooSmall`] then.
//! - **IPv4 without DF** is refused ([`IcmpError::NotDontFragment`]): such a packet
//!   is to be fragmented ([`crate::frag`]), never answered with code 4.

use core::net::IpAddr;
use core::time::Duration;
use std::time::Instant;

use crate::ip::{
    IpError, IpVersion, PacketView, checksum, fold, is_ipv4_non_unicast, is_ipv6_non_unicast,
    ones_sum, pseudo_header_sum,
};

/// Largest IPv4 ICMP error this module builds (RFC 1812 section 4.3.2.3).
pub const IPV4_ERROR_MAX_LEN: usize = 576;
/// Smallest IPv4 MTU (RFC 791: every module must forward 68 octets).
pub const IPV4_MIN_MTU: u16 = 68;
/// Smallest IPv6 link MTU (RFC 8200 section 5), also the largest ICMPv6 error
/// (RFC 4443 section 2.4 (c)).
pub const IPV6_MIN_MTU: u16 = 1280;
/// TTL / hop limit of the replies.
pub const REPLY_HOP_LIMIT: u8 = 64;
/// IPv4 TOS of the replies: precedence 6 (RFC 1812 section 4.3.2.5).
pub const REPLY_TOS: u8 = 0xc0;

/// ICMP type Destination Unreachable (RFC 792).
pub const ICMP_DEST_UNREACHABLE: u8 = 3;
/// ICMP code Fragmentation Needed and DF Set (RFC 792, RFC 1191).
pub const ICMP_FRAG_NEEDED: u8 = 4;
/// ICMPv6 type Packet Too Big (RFC 4443 section 3.2).
pub const ICMPV6_PACKET_TOO_BIG: u8 = 2;

const IPPROTO_ICMP: u8 = 1;
const IPPROTO_ICMPV6: u8 = 58;
/// ICMPv6 Redirect (RFC 4861), which RFC 4443 section 2.4 (e.2) puts with errors.
const ICMPV6_REDIRECT: u8 = 137;

/// Why no reply was built. The variants [`IcmpError::is_suppressed`] reports are the
/// cases the RFCs forbid an ICMP error for; callers count them and drop the packet.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IcmpError {
    /// The inner packet is not a well-formed IP packet.
    #[error("malformed inner packet: {0}")]
    Malformed(#[from] IpError),
    /// The packet is not larger than the MTU: nothing to report.
    #[error("packet of {len} octets fits the MTU of {mtu}")]
    Fits {
        /// Packet length.
        len: usize,
        /// The MTU given.
        mtu: u16,
    },
    /// The MTU is below the protocol minimum (68 for IPv4, 1280 for IPv6).
    #[error("MTU {mtu} is below the minimum of {min}; fragment the outer packet instead")]
    MtuTooSmall {
        /// The MTU given.
        mtu: u16,
        /// The minimum for the packet's IP version.
        min: u16,
    },
    /// An IPv4 packet without DF: fragment it instead.
    #[error("IPv4 packet without DF: fragment it instead of answering")]
    NotDontFragment,
    /// A fragment other than the first (RFC 1122 section 3.2.2, RFC 1812 section
    /// 4.3.2.7): it does not identify the flow.
    #[error("non-first fragment: no ICMP error for it")]
    NonFirstFragment,
    /// The packet is itself an ICMP error or an ICMPv6 error or Redirect, or an
    /// ICMP packet whose type cannot be read.
    #[error("ICMP error message: no ICMP error for it")]
    QuotesIcmpError,
    /// The source does not name a single host (unspecified, loopback, multicast,
    /// broadcast, reserved).
    #[error("source {0} is not a unicast address: no ICMP error for it")]
    SourceNotUnicast(IpAddr),
    /// An IPv4 packet to a multicast or broadcast address (RFC 1122 section 3.2.2).
    #[error("IPv4 destination {0} is multicast or broadcast: no ICMP error for it")]
    DestinationNotUnicast(IpAddr),
    /// `our_addr` is of the other IP version.
    #[error("our address {our_addr} is not of the packet's IP version")]
    FamilyMismatch {
        /// The address given.
        our_addr: IpAddr,
    },
    /// An IPv6 packet to a multicast group and no `our_addr` to send from.
    #[error("packet to a multicast group and no address of ours to reply from")]
    NoSourceAddress,
}

impl IcmpError {
    /// Whether this is one of the cases the RFCs forbid an ICMP error for (as
    /// opposed to a bad argument or a malformed packet).
    pub fn is_suppressed(&self) -> bool {
        matches!(
            self,
            Self::NonFirstFragment
                | Self::QuotesIcmpError
                | Self::SourceNotUnicast(_)
                | Self::DestinationNotUnicast(_)
        )
    }
}

/// Builds into `out` (cleared first; no allocation once it has the capacity, at most
/// 1280 octets) the complete ICMP "fragmentation needed" (IPv4) or ICMPv6 "packet
/// too big" (IPv6) packet that tells the source of `inner_packet` that at most `mtu`
/// octets fit, addressed to the packet's source from `our_addr` or, without it, from
/// the packet's destination. See the module docs for the choices and the refusals.
/// On error `out` is left empty.
pub fn too_big_reply(
    inner_packet: &[u8],
    mtu: u16,
    our_addr: Option<IpAddr>,
    out: &mut Vec<u8>,
) -> Result<(), IcmpError> {
    out.clear();
    let view = PacketView::parse(inner_packet)?;
    match view.version() {
        IpVersion::V4 => reply_v4(&view, mtu, our_addr, out),
        IpVersion::V6 => reply_v6(&view, mtu, our_addr, out),
    }
}

fn reply_v4(
    view: &PacketView<'_>,
    mtu: u16,
    our_addr: Option<IpAddr>,
    out: &mut Vec<u8>,
) -> Result<(), IcmpError> {
    let (IpAddr::V4(orig_src), IpAddr::V4(orig_dst)) = (view.src(), view.dst()) else {
        return Err(IpError::Version(4).into());
    };
    if mtu < IPV4_MIN_MTU {
        return Err(IcmpError::MtuTooSmall {
            mtu,
            min: IPV4_MIN_MTU,
        });
    }
    if view.total_len() <= usize::from(mtu) {
        return Err(IcmpError::Fits {
            len: view.total_len(),
            mtu,
        });
    }
    if !view.dont_fragment() {
        return Err(IcmpError::NotDontFragment);
    }
    if view.is_non_first_fragment() {
        return Err(IcmpError::NonFirstFragment);
    }
    if is_ipv4_non_unicast(orig_src) {
        return Err(IcmpError::SourceNotUnicast(view.src()));
    }
    if orig_dst.is_multicast() || orig_dst.is_broadcast() {
        return Err(IcmpError::DestinationNotUnicast(view.dst()));
    }
    if view.protocol() == IPPROTO_ICMP && !icmpv4_is_query(view.icmp_type_code()) {
        return Err(IcmpError::QuotesIcmpError);
    }
    let src = match our_addr {
        None => orig_dst,
        Some(IpAddr::V4(a)) => a,
        Some(a) => return Err(IcmpError::FamilyMismatch { our_addr: a }),
    };

    let quote = &view.bytes()[..view.total_len().min(IPV4_ERROR_MAX_LEN - 28)];
    let total = (28 + quote.len()) as u16; // <= 576
    out.extend_from_slice(&[0x45, REPLY_TOS]);
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0x40, 0, REPLY_HOP_LIMIT, IPPROTO_ICMP, 0, 0]);
    out.extend_from_slice(&src.octets());
    out.extend_from_slice(&orig_src.octets());
    let ip_check = checksum(&out[..20]);
    out[10..12].copy_from_slice(&ip_check.to_be_bytes());

    out.extend_from_slice(&[ICMP_DEST_UNREACHABLE, ICMP_FRAG_NEEDED, 0, 0, 0, 0]);
    out.extend_from_slice(&mtu.to_be_bytes());
    out.extend_from_slice(quote);
    let icmp_check = checksum(&out[20..]);
    out[22..24].copy_from_slice(&icmp_check.to_be_bytes());
    Ok(())
}

fn reply_v6(
    view: &PacketView<'_>,
    mtu: u16,
    our_addr: Option<IpAddr>,
    out: &mut Vec<u8>,
) -> Result<(), IcmpError> {
    let (IpAddr::V6(orig_src), IpAddr::V6(orig_dst)) = (view.src(), view.dst()) else {
        return Err(IpError::Version(6).into());
    };
    if mtu < IPV6_MIN_MTU {
        return Err(IcmpError::MtuTooSmall {
            mtu,
            min: IPV6_MIN_MTU,
        });
    }
    if view.total_len() <= usize::from(mtu) {
        return Err(IcmpError::Fits {
            len: view.total_len(),
            mtu,
        });
    }
    if view.is_non_first_fragment() {
        return Err(IcmpError::NonFirstFragment);
    }
    if is_ipv6_non_unicast(orig_src) {
        return Err(IcmpError::SourceNotUnicast(view.src()));
    }
    if view.protocol() == IPPROTO_ICMPV6 && !icmpv6_is_informational(view.icmp_type_code()) {
        return Err(IcmpError::QuotesIcmpError);
    }
    let src = match our_addr {
        Some(IpAddr::V6(a)) => a,
        Some(a) => return Err(IcmpError::FamilyMismatch { our_addr: a }),
        None if orig_dst.is_multicast() => return Err(IcmpError::NoSourceAddress),
        None => orig_dst,
    };

    let max_quote = usize::from(IPV6_MIN_MTU) - 48;
    let quote = &view.bytes()[..view.total_len().min(max_quote)];
    let plen = (8 + quote.len()) as u16; // <= 1240
    out.extend_from_slice(&[0x60, 0, 0, 0]);
    out.extend_from_slice(&plen.to_be_bytes());
    out.extend_from_slice(&[IPPROTO_ICMPV6, REPLY_HOP_LIMIT]);
    out.extend_from_slice(&src.octets());
    out.extend_from_slice(&orig_src.octets());
    out.extend_from_slice(&[ICMPV6_PACKET_TOO_BIG, 0, 0, 0]);
    out.extend_from_slice(&u32::from(mtu).to_be_bytes());
    out.extend_from_slice(quote);
    let sum = pseudo_header_sum(
        IpAddr::V6(src),
        IpAddr::V6(orig_src),
        IPPROTO_ICMPV6,
        u32::from(plen),
    );
    let check = !fold(ones_sum(sum, &out[40..]));
    out[42..44].copy_from_slice(&check.to_be_bytes());
    Ok(())
}

/// ICMPv4 query (informational) types: echo reply 0, echo 8, router advertisement 9
/// and solicitation 10, timestamp 13/14, information 15/16, address mask 17/18
/// (RFC 792, RFC 950, RFC 1256). Everything else, including unknown types and an
/// unreadable header, is treated as an error message and not answered (the safe
/// side of RFC 1122 section 3.2.2).
fn icmpv4_is_query(type_code: Option<(u8, u8)>) -> bool {
    matches!(type_code, Some((0 | 8 | 9 | 10 | 13..=18, _)))
}

/// ICMPv6 informational messages have types 128-255 (RFC 4443 section 2.1); of
/// those, Redirect is treated like an error (RFC 4443 section 2.4 (e.2)).
fn icmpv6_is_informational(type_code: Option<(u8, u8)>) -> bool {
    matches!(type_code, Some((t, _)) if t >= 128 && t != ICMPV6_REDIRECT)
}

/// A token bucket limiting how many ICMP errors are sent (RFC 4443 section 2.4 (f),
/// RFC 1812 section 4.3.2.8). Pure: the caller passes the time in.
#[derive(Debug, Clone)]
pub struct IcmpRateLimiter {
    burst: u32,
    interval: Duration,
    tokens: u32,
    last: Option<Instant>,
}

impl Default for IcmpRateLimiter {
    /// Linux's global ICMP limit: a burst of 50, then 1000 per second
    /// (`net.ipv4.icmp_msgs_burst`, `icmp_msgs_per_sec`).
    fn default() -> Self {
        Self::new(50, Duration::from_millis(1))
    }
}

impl IcmpRateLimiter {
    /// Up to `burst` messages at once, then one more per `interval`. A zero interval
    /// never limits.
    pub fn new(burst: u32, interval: Duration) -> Self {
        Self {
            burst,
            interval,
            tokens: burst,
            last: None,
        }
    }

    /// Whether a message may be sent at `now`; if so, it is counted. Time going
    /// backwards refills nothing.
    pub fn allow(&mut self, now: Instant) -> bool {
        if self.interval.is_zero() {
            return true;
        }
        match self.last {
            None => self.last = Some(now),
            Some(last) => {
                let elapsed = now.saturating_duration_since(last);
                let earned = elapsed.as_nanos() / self.interval.as_nanos();
                if earned > 0 {
                    let room = u128::from(self.burst - self.tokens.min(self.burst));
                    if earned >= room {
                        self.tokens = self.burst;
                        self.last = Some(now);
                    } else {
                        // earned < room <= u32::MAX
                        self.tokens += earned as u32;
                        // keep the fraction of an interval already elapsed
                        self.last = Some(last + self.interval * earned as u32);
                    }
                }
            }
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}
