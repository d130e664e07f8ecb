//! Tunnel-mode decapsulation (RFC 4303 section 3.4): an ESP packet (SPI first; the IO
//! layer stripped the outer IP and UDP headers) becomes the inner IPv4/IPv6 packet in
//! the same buffer.
//!
//! Order (no packet content is trusted before its ICV verified): header view and lengths → `replay.check(seq)` (also infers
//! the ESN high bits) → verify the ICV in constant time and decrypt → `replay.commit`
//! → padding (`1, 2, 3, ...`) and Next Header checks → the inner packet's own IP
//! header must agree with Next Header and fit. Nothing from the packet but its SPI,
//! sequence number and length is looked at before the ICV verified. Every failure is
//! counted under one [`DropReason`]. Selector (TS) checks are the `spd` module's.

use crate::buf::PacketBuf;
use crate::cipher::CryptoError;
use crate::counters::DropReason;
use crate::replay::ReplayError;
use crate::sa::InboundSa;
use crate::wire::{ESP_HEADER_LEN, EspPacket, IpVersion, NEXT_HEADER_NONE, Spi, inner_ip};

/// A decapsulated inner packet (now the contents of the buffer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inner {
    pub version: IpVersion,
    /// Octets of the inner packet (TFC padding removed).
    pub len: usize,
    /// The full (64-bit with ESN) sequence number it arrived with.
    pub seq: u64,
}

/// Why a packet was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecapError {
    /// Too short, or a length the transform cannot take.
    #[error("malformed ESP packet")]
    Malformed,
    /// The packet's SPI is not this SA's.
    #[error("SPI {0} does not belong to this SA")]
    WrongSpi(Spi),
    #[error("replay check failed: {0}")]
    Replay(ReplayError),
    /// ICV mismatch: forged, corrupted, or the wrong key.
    #[error("ICV verification failed")]
    Icv,
    /// Authenticated, but the padding is not 1, 2, 3, ... or Pad Length is too big.
    #[error("bad ESP padding")]
    Padding,
    /// Authenticated, but Next Header is not 4/41 or disagrees with the inner packet.
    #[error("next header does not match the inner packet")]
    NextHeader,
    /// A dummy packet (Next Header 59, RFC 4303 section 2.6): discard silently. Not
    /// counted as a drop.
    #[error("dummy packet")]
    Dummy,
    /// The SA's hard lifetime is reached.
    #[error("SA hard lifetime reached")]
    Expired,
}

impl DecapError {
    /// The counter this error is recorded under (`None` for dummy packets).
    pub fn drop_reason(self) -> Option<DropReason> {
        Some(match self {
            Self::Malformed => DropReason::Malformed,
            Self::WrongSpi(_) => DropReason::NoSa,
            Self::Replay(_) => DropReason::Replay,
            Self::Icv => DropReason::Icv,
            Self::Padding => DropReason::Padding,
            Self::NextHeader => DropReason::NextHeader,
            Self::Dummy => return None,
            Self::Expired => DropReason::Expired,
        })
    }
}

/// Decapsulate the ESP packet in `pkt` with `sa`. On success `pkt` holds the inner
/// packet; on error the packet is dropped (counted) and `pkt` holds unspecified bytes.
#[inline]
pub fn decapsulate(sa: &mut InboundSa, pkt: &mut PacketBuf) -> Result<Inner, DecapError> {
    let r = decap(sa, pkt);
    if let Err(e) = r {
        if let Some(reason) = e.drop_reason() {
            sa.acct.drops.record(reason);
        }
    }
    r
}

/// Decapsulate every packet of `pkts` (all for this SA); `results` is cleared and gets
/// one entry per packet (reuse the vector: no allocation once it has grown).
pub fn decapsulate_batch(
    sa: &mut InboundSa,
    pkts: &mut [PacketBuf],
    results: &mut Vec<Result<Inner, DecapError>>,
) {
    results.clear();
    results.extend(pkts.iter_mut().map(|p| decapsulate(sa, p)));
}

#[inline]
fn decap(sa: &mut InboundSa, pkt: &mut PacketBuf) -> Result<Inner, DecapError> {
    if sa.acct.expired {
        return Err(DecapError::Expired);
    }
    let c = &sa.cipher;
    let body_at = ESP_HEADER_LEN + c.iv_len();
    let icv_len = c.icv_len();
    let esp = pkt.as_slice();
    // At least Pad Length and Next Header must be there, and CBC needs whole blocks.
    let ct_len = esp
        .len()
        .checked_sub(body_at + icv_len)
        .ok_or(DecapError::Malformed)?;
    if ct_len < 2 || (!c.is_aead() && ct_len & (c.align() - 1) != 0) {
        return Err(DecapError::Malformed);
    }
    let view = EspPacket::new_unchecked(esp);
    if view.spi() != sa.spi {
        return Err(DecapError::WrongSpi(view.spi()));
    }
    let seq = sa
        .replay
        .check(view.seq_low())
        .map_err(DecapError::Replay)?;
    let seq_high = sa.replay.esn().then_some((seq >> 32) as u32);
    sa.cipher
        .open(pkt.as_mut_slice(), seq_high)
        .map_err(|e| match e {
            CryptoError::Icv => DecapError::Icv,
            _ => DecapError::Malformed,
        })?;
    sa.replay.commit(seq).map_err(DecapError::Replay)?;

    // Authenticated from here on.
    let plain = &pkt.as_slice()[body_at..body_at + ct_len];
    let next_header = plain[ct_len - 1];
    let pad = usize::from(plain[ct_len - 2]);
    let inner_len = ct_len.checked_sub(2 + pad).ok_or(DecapError::Padding)?;
    let padding_ok = plain[inner_len..inner_len + pad]
        .iter()
        .enumerate()
        .all(|(i, &b)| usize::from(b) == i + 1);
    if !padding_ok {
        return Err(DecapError::Padding);
    }
    if next_header == NEXT_HEADER_NONE {
        return Err(DecapError::Dummy);
    }
    let (version, ip_len) = inner_ip(&plain[..inner_len]).ok_or(DecapError::NextHeader)?;
    if version.next_header() != next_header {
        return Err(DecapError::NextHeader);
    }
    pkt.pull_front(body_at)
        .expect("the packet is longer than its header");
    pkt.truncate(ip_len);
    sa.acct.add(ip_len);
    Ok(Inner {
        version,
        len: ip_len,
        seq,
    })
}
