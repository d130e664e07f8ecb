//! TCP MSS clamping: lower the Maximum Segment Size option (RFC 9293 section 3.7.1)
//! of TCP SYN and SYN-ACK segments crossing the tunnel, in either direction, so that
//! neither end sends segments that do not fit the tunnel. This is what iptables'
//! `TCPMSS --clamp-mss-to-pmtu`/`--set-mss` does and what strongSwan users are told
//! to configure by hand; it avoids depending on PMTU discovery, which ICMP filtering
//! often breaks (RFC 4459 section 3.2, RFC 2923 section 2.1).
//!
//! [`clamp_mss`] works in place on an IPv4 or IPv6 packet (IPv4 options and IPv6
//! extension headers are skipped, see [`crate::ip`]), walks the TCP options safely and
//! fixes the TCP checksum incrementally (RFC 1624): the cost does not depend on the
//! payload. It never allocates and never panics.
//!
//! A SYN without an MSS option is left alone, as iptables TCPMSS and strongSwan do:
//! the peer then assumes the default MSS, 536 for IPv4 and 1220 for IPv6
//! (RFC 9293 section 3.7.1, RFC 8200 section 8.3), which any tunnel MTU of 576
//! (IPv4) or 1280 (IPv6) or more accommodates. Adding an option would have to grow
//! the packet and its TCP header.

use crate::ip::{PacketView, be16, update_checksum};

/// TCP protocol number.
const TCP: u8 = 6;
/// TCP flags (RFC 9293 section 3.1).
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;
/// TCP option kinds (RFC 9293 section 3.2).
const OPT_EOL: u8 = 0;
const OPT_NOP: u8 = 1;
const OPT_MSS: u8 = 2;
/// Length of the MSS option.
const MSS_LEN: usize = 4;
/// TCP header length without options.
const TCP_MIN_HEADER: usize = 20;

/// Result of [`clamp_mss`].
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MssOutcome {
    /// A SYN or SYN-ACK whose MSS is already at most the limit, or that carries no
    /// MSS option (see the module docs); the packet was not changed.
    Unchanged,
    /// The MSS option was lowered from `from` to `to` and the TCP checksum fixed.
    Clamped {
        /// The MSS the sender announced.
        from: u16,
        /// The MSS now in the packet.
        to: u16,
    },
    /// Not a TCP segment with SYN set (and RST clear), or a non-first fragment; the
    /// packet was not changed.
    NotTcpSyn,
    /// A malformed IP header, a truncated TCP header, a bad data offset or a bad
    /// option length; the packet was not changed. Callers would normally forward it
    /// untouched (the receiver drops it) or drop it and count.
    Malformed,
}

/// The MSS to clamp to for an inner MTU of `tunnel_mtu` octets (the room for an
/// inner packet, after the outer IP, UDP and ESP overheads): the MTU minus 40
/// (IPv4 and TCP headers) or minus 60 (IPv6 and TCP headers) (RFC 9293 section
/// 3.7.1, RFC 6691). A 1500-octet path with about 100 octets of ESP overhead gives
/// a tunnel MTU of 1400 and an MSS of 1360 (IPv4) or 1340 (IPv6). Saturates at 0.
pub const fn default_mss(tunnel_mtu: u16, ipv6: bool) -> u16 {
    tunnel_mtu.saturating_sub(if ipv6 { 60 } else { 40 })
}

/// Lowers every MSS option of a TCP SYN or SYN-ACK in `packet` (an IPv4 or IPv6
/// packet) that is above `max_mss` to `max_mss`, fixing the TCP checksum
/// incrementally. The first fragment of a fragmented segment is clamped too when
/// the whole TCP header is in it (a first fragment that cuts the TCP header short
/// is reported [`MssOutcome::Malformed`] and left alone). See [`MssOutcome`].
pub fn clamp_mss(packet: &mut [u8], max_mss: u16) -> MssOutcome {
    let (tcp, end) = match PacketView::parse(packet) {
        Err(_) => return MssOutcome::Malformed,
        Ok(v) if v.protocol() != TCP || v.is_non_first_fragment() => {
            return MssOutcome::NotTcpSyn;
        }
        Ok(v) => (v.l4_offset(), v.total_len()),
    };
    if end < tcp + TCP_MIN_HEADER {
        return MssOutcome::Malformed;
    }
    let flags = packet[tcp + 13];
    if flags & SYN == 0 || flags & RST != 0 {
        return MssOutcome::NotTcpSyn;
    }
    let header_len = usize::from(packet[tcp + 12] >> 4) * 4;
    if header_len < TCP_MIN_HEADER || tcp + header_len > end {
        return MssOutcome::Malformed;
    }
    let options = tcp + TCP_MIN_HEADER..tcp + header_len;
    // Check every option length before changing anything.
    if walk_options(packet, tcp, options.clone(), None).is_err() {
        return MssOutcome::Malformed;
    }
    match walk_options(packet, tcp, options, Some(max_mss)) {
        Ok(Some(from)) => MssOutcome::Clamped { from, to: max_mss },
        Ok(None) => MssOutcome::Unchanged,
        Err(()) => MssOutcome::Malformed,
    }
}

/// Walks the TCP options in `options` (RFC 9293 section 3.2: EOL ends the list,
/// NOP is one octet, every other option has a length octet of at least 2). With
/// `clamp` set, lowers each MSS option above it; returns the first MSS lowered.
/// `Err` on a length that is too small, runs past the header, or an MSS option
/// that is not 4 octets long.
fn walk_options(
    packet: &mut [u8],
    tcp: usize,
    options: core::ops::Range<usize>,
    clamp: Option<u16>,
) -> Result<Option<u16>, ()> {
    let mut first = None;
    let mut i = options.start;
    while i < options.end {
        match packet[i] {
            OPT_EOL => break,
            OPT_NOP => i += 1,
            kind => {
                if i + 1 >= options.end {
                    return Err(());
                }
                let len = usize::from(packet[i + 1]);
                if len < 2 || i + len > options.end || (kind == OPT_MSS && len != MSS_LEN) {
                    return Err(());
                }
                if let Some(max_mss) = clamp.filter(|_| kind == OPT_MSS) {
                    let mss = be16(packet, i + 2);
                    if mss > max_mss {
                        set_u16_fix_checksum(packet, tcp, i + 2, max_mss);
                        first.get_or_insert(mss);
                    }
                }
                i += len;
            }
        }
    }
    Ok(first)
}

/// Writes `value` at `at` (inside the TCP header starting at `tcp`) and updates the
/// TCP checksum at `tcp + 16` (RFC 1624). The pseudo-header has an even length, so
/// the parity of `at - tcp` is the parity in the checksummed data.
fn set_u16_fix_checksum(packet: &mut [u8], tcp: usize, at: usize, value: u16) {
    let old = be16(packet, at);
    let check = be16(packet, tcp + 16);
    let new_check = if (at - tcp) % 2 == 0 {
        update_checksum(check, old, value)
    } else {
        update_checksum(check, old.swap_bytes(), value.swap_bytes())
    };
    packet[at..at + 2].copy_from_slice(&value.to_be_bytes());
    packet[tcp + 16..tcp + 18].copy_from_slice(&new_check.to_be_bytes());
}

/// A TCP segment's part in connection setup (see [`tcp_handshake`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handshake {
    /// A SYN without ACK: someone opens a connection.
    Open,
    /// A SYN-ACK or an RST: the other end answered an open (yes or no).
    Answer,
}

/// The addresses and ports of a TCP segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TcpEnds {
    pub src: core::net::IpAddr,
    pub dst: core::net::IpAddr,
    pub sport: u16,
    pub dport: u16,
}

/// Whether `packet` (IPv4 or IPv6) opens a TCP connection or answers an open, and
/// between whom: what tells "the far side never answers TCP" apart from "nothing
/// comes back at all". Anything else, or a malformed packet: `None`. Cheap for
/// packets that are not TCP (one octet looked at).
pub fn tcp_handshake(packet: &[u8]) -> Option<(TcpEnds, Handshake)> {
    // The common case (a data segment or no TCP at all) decided from two octets,
    // before the full parse: this runs for every packet through the tunnel.
    let flags_at = match packet.first().map(|b| b >> 4) {
        Some(4) if packet.get(9) == Some(&TCP) => Some(usize::from(packet[0] & 0x0f) * 4 + 13),
        Some(4) => return None,
        Some(6) if packet.get(6) == Some(&TCP) => Some(40 + 13),
        // Extension headers: the full parse decides.
        Some(6) => None,
        _ => return None,
    };
    if let Some(at) = flags_at
        && packet.get(at).is_none_or(|f| f & (SYN | RST) == 0)
    {
        return None;
    }
    let v = PacketView::parse(packet).ok()?;
    if v.protocol() != TCP || v.is_non_first_fragment() {
        return None;
    }
    let tcp = v.l4_payload();
    let flags = *tcp.get(13)?;
    let (sport, dport) = v.ports()?;
    let kind = match (flags & SYN != 0, flags & ACK != 0, flags & RST != 0) {
        (_, _, true) => Handshake::Answer,
        (true, false, false) => Handshake::Open,
        (true, true, false) => Handshake::Answer,
        _ => return None,
    };
    let ends = TcpEnds {
        src: v.src(),
        dst: v.dst(),
        sport,
        dport,
    };
    Some((ends, kind))
}
