//! Tunnel-mode encapsulation (RFC 4303 sections 2 and 3.3): an inner IPv4/IPv6 packet
//! in a [`PacketBuf`] becomes the ESP packet, SPI first, in the same buffer.
//!
//! Steps: check the SA can still send → take the next sequence number → append
//! padding `1, 2, 3, ...` to the cipher block and 4-octet alignment, Pad Length and
//! Next Header (4 or 41) → prepend SPI, sequence number and IV → encrypt in place and
//! write the ICV. The outer IP (and, for NAT-T, UDP) header is the IO layer's: the
//! buffer keeps the rest of its headroom for it. Nothing is allocated when the buffer
//! has [`crate::buf::DEFAULT_HEADROOM`] and room behind the packet.

use crate::buf::PacketBuf;
use crate::counters::DropReason;
use crate::sa::{OutboundSa, pad_len};
use crate::wire::{ESP_HEADER_LEN, inner_ip};

/// Why a packet was not encapsulated. Each is also counted in the SA's drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncapError {
    /// Not a well-formed IPv4 or IPv6 packet.
    #[error("inner packet is not IPv4 or IPv6")]
    NotIp,
    /// The hard octet or packet lifetime is reached.
    #[error("SA hard lifetime reached")]
    Expired,
    /// Sequence numbers are used up; the SA must be rekeyed.
    #[error("outbound sequence numbers exhausted")]
    SeqExhausted,
    /// Internal length error of the transform (a bug if it ever shows).
    #[error("transform length error")]
    Crypto,
}

impl EncapError {
    pub fn drop_reason(self) -> DropReason {
        match self {
            Self::NotIp | Self::Crypto => DropReason::Malformed,
            Self::Expired => DropReason::Expired,
            Self::SeqExhausted => DropReason::SeqExhausted,
        }
    }
}

/// Encapsulate the inner packet in `pkt` for `sa`. On error the packet is dropped
/// (counted) and `pkt` holds unspecified bytes.
#[inline]
pub fn encapsulate(sa: &mut OutboundSa, pkt: &mut PacketBuf) -> Result<(), EncapError> {
    let r = encap(sa, pkt);
    if let Err(e) = r {
        sa.acct.drops.record(e.drop_reason());
    }
    r
}

/// Encapsulate every packet of `pkts`; `results` is cleared and gets one entry per
/// packet (reuse the vector: no allocation once it has grown).
pub fn encapsulate_batch(
    sa: &mut OutboundSa,
    pkts: &mut [PacketBuf],
    results: &mut Vec<Result<(), EncapError>>,
) {
    results.clear();
    results.extend(pkts.iter_mut().map(|p| encapsulate(sa, p)));
}

#[inline]
fn encap(sa: &mut OutboundSa, pkt: &mut PacketBuf) -> Result<(), EncapError> {
    if sa.acct.expired {
        return Err(EncapError::Expired);
    }
    let (version, ip_len) = inner_ip(pkt.as_slice()).ok_or(EncapError::NotIp)?;
    pkt.truncate(ip_len);
    if sa.seq >= sa.seq_max {
        return Err(EncapError::SeqExhausted);
    }
    // Consume the number before sealing: an IV is never used twice, even if sealing
    // failed after writing.
    let seq = sa.seq + 1;
    sa.seq = seq;

    let c = &sa.cipher;
    let iv_len = c.iv_len();
    let icv_len = c.icv_len();
    let pad = pad_len(ip_len, c.align());
    let front = ESP_HEADER_LEN + iv_len;
    pkt.reserve(front, pad + 2 + icv_len);

    let trailer = pkt
        .push_back(pad + 2 + icv_len)
        .expect("reserve made room behind the packet");
    for (i, b) in trailer[..pad].iter_mut().enumerate() {
        // RFC 4303 section 2.4: padding is 1, 2, 3, ... (pad <= 15, fits)
        *b = i as u8 + 1;
    }
    trailer[pad] = pad as u8;
    trailer[pad + 1] = version.next_header();

    let head = pkt
        .push_front(front)
        .expect("reserve made room in front of the packet");
    head[..4].copy_from_slice(&sa.spi.to_be_bytes());
    head[4..8].copy_from_slice(&(seq as u32).to_be_bytes());
    match &sa.iv_gen {
        // AEAD: the 64-bit sequence number is the IV (unique per SA).
        None => head[8..16].copy_from_slice(&seq.to_be_bytes()),
        Some(g) => head[8..24].copy_from_slice(&g.iv(seq)),
    }

    let seq_high = sa.esn.then_some((seq >> 32) as u32);
    sa.cipher
        .seal(pkt.as_mut_slice(), seq_high)
        .map_err(|_| EncapError::Crypto)?;
    sa.acct.add(ip_len);
    sa.after_seq(seq);
    Ok(())
}
