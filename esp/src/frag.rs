//! IPv4 fragmentation of inner packets before encapsulation (RFC 791 section 3.2,
//! "Fragmentation and reassembly"; RFC 4459 section 3.3, fragmenting the inner
//! packet): a packet without DF that is larger than the tunnel's inner MTU is split
//! so that each fragment is encapsulated on its own and the final destination
//! reassembles. Packets with DF get an ICMP "fragmentation needed" instead
//! ([`crate::icmp`]); IPv6 packets are never fragmented on the way (RFC 8200
//! section 5).
//!
//! [`fragment_ipv4`] hands each fragment to a callback as a header (built in a
//! 60-octet stack buffer) and a slice of the original payload: no allocation and no
//! copy of the payload, the caller writes both into its own (headroom) buffer. The
//! input is checked completely before the first fragment is emitted, so an error
//! never leaves half a datagram sent.
//!
//! Rules (RFC 791 section 3.2 and 3.1 "Options"):
//! - every fragment but the last carries a multiple of 8 payload octets; offsets
//!   count 8-octet units from the start of the original datagram;
//! - all fragments but the last have MF set; the last keeps the input's MF, so an
//!   input that is already a fragment is split further correctly (its offset is the
//!   base of the new offsets);
//! - the first fragment (offset 0) keeps all options; the others keep only the
//!   options with the "copied" flag (0x80) set, padded with zeros (End of Option
//!   List) to a multiple of 4 octets;
//! - identification, TOS, TTL, protocol and addresses are copied; total length,
//!   flags, offset and the header checksum are recomputed.

use crate::ip::{IPV4_DF, IPV4_MF, IPV4_MIN_HEADER_LEN, IPV4_OFFSET_MASK, be16, checksum};

/// Largest IPv4 header (IHL 15).
pub const IPV4_MAX_HEADER_LEN: usize = 60;

/// Option types with special lengths (RFC 791 section 3.1).
const OPT_EOL: u8 = 0;
const OPT_NOP: u8 = 1;
/// The "copied" flag of an option type.
const OPT_COPIED: u8 = 0x80;

/// One fragment: an IPv4 header and a slice of the original payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment<'a> {
    header: &'a [u8],
    payload: &'a [u8],
}

impl<'a> Fragment<'a> {
    /// The fragment's IPv4 header (20 to 60 octets, checksum set).
    pub fn header(&self) -> &'a [u8] {
        self.header
    }

    /// The payload octets this fragment carries.
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// Total length of the fragment (header + payload).
    #[allow(clippy::len_without_is_empty)] // a fragment is never empty
    pub fn len(&self) -> usize {
        self.header.len() + self.payload.len()
    }

    /// Copies the fragment to the start of `out` and returns its length, or `None`
    /// (copying nothing) if `out` is too small.
    pub fn write_to(&self, out: &mut [u8]) -> Option<usize> {
        let len = self.len();
        let dst = out.get_mut(..len)?;
        dst[..self.header.len()].copy_from_slice(self.header);
        dst[self.header.len()..].copy_from_slice(self.payload);
        Some(len)
    }
}

/// Why a packet cannot be fragmented.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FragError {
    /// Not a well-formed IPv4 packet (version, lengths, truncation).
    #[error("not a well-formed IPv4 packet")]
    Malformed,
    /// The header checksum is wrong; fragmenting would hide the corruption behind
    /// fresh checksums (RFC 1812 section 5.2.2).
    #[error("bad IPv4 header checksum")]
    BadChecksum,
    /// An option with a length that is too small or runs past the header.
    #[error("malformed IPv4 options")]
    BadOptions,
    /// DF is set and the packet does not fit: send ICMP "fragmentation needed".
    #[error("DF set: send ICMP fragmentation needed instead")]
    DontFragment,
    /// The MTU cannot hold a header and 8 payload octets.
    #[error("MTU {mtu} leaves no room for 8 payload octets after a {header_len}-octet header")]
    MtuTooSmall {
        /// The MTU given.
        mtu: u16,
        /// The header length that did not fit with 8 octets.
        header_len: usize,
    },
    /// The fragments would end past the largest offset IPv4 can express.
    #[error("fragment offset out of range")]
    OffsetOverflow,
}

/// Splits the IPv4 `packet` into fragments of at most `mtu` octets and passes each,
/// in order, to `emit`; returns how many. A packet that already fits is passed
/// through unchanged as a single fragment (even with DF set). See the module docs
/// for the rules. Octets after the header's total length are ignored.
pub fn fragment_ipv4(
    packet: &[u8],
    mtu: u16,
    mut emit: impl FnMut(Fragment<'_>),
) -> Result<usize, FragError> {
    let plan = Plan::new(packet, mtu)?;
    if plan.fits {
        emit(Fragment {
            header: &packet[..plan.ihl],
            payload: &packet[plan.ihl..plan.total_len],
        });
        return Ok(1);
    }
    let payload = &packet[plan.ihl..plan.total_len];
    let flags = be16(packet, 6);
    let keep_flags = flags & !(IPV4_MF | IPV4_OFFSET_MASK);

    let mut first_hdr = [0u8; IPV4_MAX_HEADER_LEN];
    first_hdr[..plan.ihl].copy_from_slice(&packet[..plan.ihl]);
    let mut other_hdr = [0u8; IPV4_MAX_HEADER_LEN];
    other_hdr[..IPV4_MIN_HEADER_LEN].copy_from_slice(&packet[..IPV4_MIN_HEADER_LEN]);
    let other_len = copied_options(packet, plan.ihl, &mut other_hdr);

    let mut count = 0;
    let mut pos = 0;
    while pos < payload.len() {
        let first = count == 0 && plan.base_is_zero;
        let (hdr, hlen, room) = if first {
            (&mut first_hdr, plan.ihl, plan.first_room)
        } else {
            (&mut other_hdr, other_len, plan.other_room)
        };
        let end = (pos + room).min(payload.len());
        let last = end == payload.len();
        let offset_units = (plan.base + pos) / 8;
        let mut word = keep_flags | offset_units as u16;
        if !last || flags & IPV4_MF != 0 {
            word |= IPV4_MF;
        }
        let total = (hlen + end - pos) as u16;
        hdr[0] = 0x40 | (hlen / 4) as u8;
        hdr[2..4].copy_from_slice(&total.to_be_bytes());
        hdr[6..8].copy_from_slice(&word.to_be_bytes());
        hdr[10..12].copy_from_slice(&[0, 0]);
        let c = checksum(&hdr[..hlen]);
        hdr[10..12].copy_from_slice(&c.to_be_bytes());
        emit(Fragment {
            header: &hdr[..hlen],
            payload: &payload[pos..end],
        });
        count += 1;
        pos = end;
    }
    Ok(count)
}

/// How many fragments [`fragment_ipv4`] would emit, with the same checks.
pub fn fragment_count(packet: &[u8], mtu: u16) -> Result<usize, FragError> {
    let plan = Plan::new(packet, mtu)?;
    if plan.fits {
        return Ok(1);
    }
    let len = plan.total_len - plan.ihl;
    let first = if plan.base_is_zero {
        plan.first_room
    } else {
        plan.other_room
    };
    if len <= first {
        return Ok(1);
    }
    Ok(1 + (len - first).div_ceil(plan.other_room))
}

/// The checked input and the sizes of the fragments.
struct Plan {
    ihl: usize,
    total_len: usize,
    fits: bool,
    /// Offset of the input's payload in the original datagram, in octets.
    base: usize,
    base_is_zero: bool,
    /// Payload octets per fragment (multiples of 8) for the first fragment (all
    /// options) and the others (copied options only).
    first_room: usize,
    other_room: usize,
}

impl Plan {
    fn new(packet: &[u8], mtu: u16) -> Result<Self, FragError> {
        if packet.len() < IPV4_MIN_HEADER_LEN || packet[0] >> 4 != 4 {
            return Err(FragError::Malformed);
        }
        let ihl = usize::from(packet[0] & 0x0f) * 4;
        let total_len = usize::from(be16(packet, 2));
        if ihl < IPV4_MIN_HEADER_LEN || total_len < ihl || packet.len() < total_len {
            return Err(FragError::Malformed);
        }
        if checksum(&packet[..ihl]) != 0 {
            return Err(FragError::BadChecksum);
        }
        let mut scratch = [0u8; IPV4_MAX_HEADER_LEN];
        let other_len = copied_options_checked(packet, ihl, &mut scratch)?;
        let flags = be16(packet, 6);
        let base = usize::from(flags & IPV4_OFFSET_MASK) * 8;
        let fits = total_len <= usize::from(mtu);
        let room = |hlen: usize| (usize::from(mtu).saturating_sub(hlen)) & !7;
        let plan = Self {
            ihl,
            total_len,
            fits,
            base,
            base_is_zero: base == 0,
            first_room: room(ihl),
            other_room: room(other_len),
        };
        if fits {
            return Ok(plan);
        }
        if flags & IPV4_DF != 0 {
            return Err(FragError::DontFragment);
        }
        // The first fragment of the datagram keeps every option; any later one
        // (all of them if the input is itself a non-first fragment) only the
        // copied ones.
        if plan.base_is_zero && plan.first_room < 8 {
            return Err(FragError::MtuTooSmall {
                mtu,
                header_len: ihl,
            });
        }
        if plan.other_room < 8 {
            return Err(FragError::MtuTooSmall {
                mtu,
                header_len: other_len,
            });
        }
        // The last fragment's offset (at most 8191 units of 8 octets) must fit.
        if (base + (total_len - ihl)).saturating_sub(1) / 8 > usize::from(IPV4_OFFSET_MASK) {
            return Err(FragError::OffsetOverflow);
        }
        Ok(plan)
    }
}

/// Writes the options of `packet[20..ihl]` that have the copied flag after the
/// 20-octet header in `out`, pads with zeros to a multiple of 4 and returns the new
/// header length. The options must have been checked ([`copied_options_checked`]).
fn copied_options(packet: &[u8], ihl: usize, out: &mut [u8; IPV4_MAX_HEADER_LEN]) -> usize {
    copied_options_checked(packet, ihl, out).unwrap_or(IPV4_MIN_HEADER_LEN)
}

/// [`copied_options`] that reports malformed options (RFC 791 section 3.1: EOL ends
/// the list, NOP is one octet, every other option has a length octet of at least 2
/// counting the type and length octets).
fn copied_options_checked(
    packet: &[u8],
    ihl: usize,
    out: &mut [u8; IPV4_MAX_HEADER_LEN],
) -> Result<usize, FragError> {
    let mut w = IPV4_MIN_HEADER_LEN;
    let mut i = IPV4_MIN_HEADER_LEN;
    while i < ihl {
        let kind = packet[i];
        match kind {
            OPT_EOL => break,
            OPT_NOP => i += 1,
            _ => {
                if i + 1 >= ihl {
                    return Err(FragError::BadOptions);
                }
                let len = usize::from(packet[i + 1]);
                if len < 2 || i + len > ihl {
                    return Err(FragError::BadOptions);
                }
                if kind & OPT_COPIED != 0 {
                    out[w..w + len].copy_from_slice(&packet[i..i + len]);
                    w += len;
                }
                i += len;
            }
        }
    }
    let padded = w.next_multiple_of(4);
    out[w..padded].fill(OPT_EOL);
    Ok(padded)
}
