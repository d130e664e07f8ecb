//! Per-SA counters, lifetimes and the events they raise for the IKE side.
//!
//! The data plane has no clock: it counts octets and packets, compares them with the
//! soft and hard limits the IKE side configured, and raises each [`SaEvent`] once.
//! Time-based lifetimes are the IKE side's job (it has `now`). The worker that owns an
//! SA sends [`SaUsage`] snapshots back (`Endpoint::handle_usage`).
//!
//! Octet counts are inner-packet octets (what the tunnel carried), for both directions.

use crate::wire::Spi;

/// Why a packet was dropped. Every drop is counted under exactly one reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// Sequence number already seen or left of the window.
    Replay,
    /// ICV / AEAD tag did not verify.
    Icv,
    /// The inner packet does not match the SA's traffic selectors (counted by the
    /// selector check of the `spd` module).
    TsMismatch,
    /// Too big for the path MTU (counted by the MTU / fragmentation code).
    Mtu,
    /// No SA for the SPI (counted by whoever looks SAs up).
    NoSa,
    /// Wrong length, alignment or framing.
    Malformed,
    /// Authenticated, but padding bytes or pad length were wrong.
    Padding,
    /// Authenticated, but Next Header does not match the inner packet, or the inner
    /// packet is not IPv4/IPv6.
    NextHeader,
    /// The hard octet or packet lifetime was reached.
    Expired,
    /// Outbound sequence numbers are used up (RFC 4303 section 3.3.3: never wrap).
    SeqExhausted,
}

/// Drop counters, one per [`DropReason`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DropCounters {
    pub replay: u64,
    pub icv: u64,
    pub ts_mismatch: u64,
    pub mtu: u64,
    pub no_sa: u64,
    pub malformed: u64,
    pub padding: u64,
    pub next_header: u64,
    pub expired: u64,
    pub seq_exhausted: u64,
}

impl DropCounters {
    #[inline]
    pub fn record(&mut self, reason: DropReason) {
        let c = match reason {
            DropReason::Replay => &mut self.replay,
            DropReason::Icv => &mut self.icv,
            DropReason::TsMismatch => &mut self.ts_mismatch,
            DropReason::Mtu => &mut self.mtu,
            DropReason::NoSa => &mut self.no_sa,
            DropReason::Malformed => &mut self.malformed,
            DropReason::Padding => &mut self.padding,
            DropReason::NextHeader => &mut self.next_header,
            DropReason::Expired => &mut self.expired,
            DropReason::SeqExhausted => &mut self.seq_exhausted,
        };
        *c += 1;
    }

    /// Sum of all drops.
    pub fn total(&self) -> u64 {
        self.replay
            + self.icv
            + self.ts_mismatch
            + self.mtu
            + self.no_sa
            + self.malformed
            + self.padding
            + self.next_header
            + self.expired
            + self.seq_exhausted
    }
}

/// Octet and packet limits of one SA (RFC 7296 section 2.8 leaves them to policy).
/// `None` is no limit. Soft limits tell the IKE side to rekey; at a hard limit the data
/// plane stops using the SA and the IKE side must delete it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lifetime {
    pub soft_bytes: Option<u64>,
    pub hard_bytes: Option<u64>,
    pub soft_packets: Option<u64>,
    pub hard_packets: Option<u64>,
}

/// Outbound sequence numbers left when [`SaEvent::SeqNearExhaustion`] is raised:
/// 2^26 packets, about 75 s of 1400-octet packets at 10 Gbit/s, or 7 s of minimum-size
/// packets at 10 Mpacket/s: time for a CHILD_SA rekey (one round trip plus a DH).
pub const SEQ_SOFT_MARGIN: u64 = 1 << 26;

/// Something the IKE side must act on. Each is raised once per SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SaEvent {
    /// The soft octet or packet limit was reached: rekey.
    SoftLifetime,
    /// The hard octet or packet limit was reached: the SA no longer passes traffic.
    HardLifetime,
    /// Fewer than [`SEQ_SOFT_MARGIN`] outbound sequence numbers are left: rekey.
    SeqNearExhaustion,
    /// The last outbound sequence number was used: every further packet is dropped.
    SeqExhausted,
}

impl SaEvent {
    fn bit(self) -> u8 {
        match self {
            Self::SoftLifetime => 1,
            Self::HardLifetime => 2,
            Self::SeqNearExhaustion => 4,
            Self::SeqExhausted => 8,
        }
    }

    const ALL: [SaEvent; 4] = [
        Self::SoftLifetime,
        Self::HardLifetime,
        Self::SeqNearExhaustion,
        Self::SeqExhausted,
    ];
}

/// Which way an SA carries traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Inbound,
    Outbound,
}

/// A snapshot of one SA's counters, sent from its worker to the IKE side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SaUsage {
    pub spi: Spi,
    pub direction: Direction,
    /// Inner-packet octets passed.
    pub bytes: u64,
    pub packets: u64,
    pub drops: DropCounters,
    /// Highest sequence number sent (outbound) or authenticated (inbound).
    pub last_seq: u64,
    pub soft_lifetime_reached: bool,
    pub hard_lifetime_reached: bool,
    pub seq_near_exhaustion: bool,
    pub seq_exhausted: bool,
}

/// The counting state shared by both SA directions.
#[derive(Debug, Clone)]
pub(crate) struct Accounting {
    pub(crate) bytes: u64,
    pub(crate) packets: u64,
    pub(crate) drops: DropCounters,
    limits: Lifetime,
    /// Events raised so far (bits of [`SaEvent::bit`]).
    raised: u8,
    /// Events raised but not yet polled.
    pending: u8,
    /// Cached: the hard limit was reached.
    pub(crate) expired: bool,
}

impl Accounting {
    pub(crate) fn new(limits: Lifetime) -> Self {
        Self {
            bytes: 0,
            packets: 0,
            drops: DropCounters::default(),
            limits,
            raised: 0,
            pending: 0,
            expired: false,
        }
    }

    /// Count one packet of `len` octets and raise any limit it crosses.
    #[inline]
    pub(crate) fn add(&mut self, len: usize) {
        self.bytes = self.bytes.saturating_add(len as u64);
        self.packets += 1;
        let l = self.limits;
        let reached = |limit: Option<u64>, value: u64| limit.is_some_and(|x| value >= x);
        if reached(l.hard_bytes, self.bytes) || reached(l.hard_packets, self.packets) {
            self.expired = true;
            self.raise(SaEvent::HardLifetime);
        }
        if reached(l.soft_bytes, self.bytes) || reached(l.soft_packets, self.packets) {
            self.raise(SaEvent::SoftLifetime);
        }
    }

    #[inline]
    pub(crate) fn raise(&mut self, event: SaEvent) {
        let b = event.bit();
        if self.raised & b == 0 {
            self.raised |= b;
            self.pending |= b;
        }
    }

    pub(crate) fn poll_event(&mut self) -> Option<SaEvent> {
        let e = SaEvent::ALL
            .into_iter()
            .find(|e| self.pending & e.bit() != 0)?;
        self.pending &= !e.bit();
        Some(e)
    }

    pub(crate) fn usage(&self, spi: Spi, direction: Direction, last_seq: u64) -> SaUsage {
        let r = |e: SaEvent| self.raised & e.bit() != 0;
        SaUsage {
            spi,
            direction,
            bytes: self.bytes,
            packets: self.packets,
            drops: self.drops,
            last_seq,
            soft_lifetime_reached: r(SaEvent::SoftLifetime),
            hard_lifetime_reached: r(SaEvent::HardLifetime),
            seq_near_exhaustion: r(SaEvent::SeqNearExhaustion),
            seq_exhausted: r(SaEvent::SeqExhausted),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_raise_once() {
        let mut a = Accounting::new(Lifetime {
            soft_bytes: Some(100),
            hard_bytes: Some(200),
            soft_packets: None,
            hard_packets: Some(10),
        });
        a.add(60);
        assert_eq!(a.poll_event(), None);
        a.add(60);
        assert_eq!(a.poll_event(), Some(SaEvent::SoftLifetime));
        a.add(60);
        assert_eq!(a.poll_event(), None);
        a.add(60);
        assert!(a.expired);
        assert_eq!(a.poll_event(), Some(SaEvent::HardLifetime));
        assert_eq!(a.poll_event(), None);
        let u = a.usage(Spi(1), Direction::Inbound, 4);
        assert!(u.soft_lifetime_reached && u.hard_lifetime_reached);
        assert_eq!((u.bytes, u.packets), (240, 4));
    }

    #[test]
    fn drop_reasons_count_separately() {
        let mut d = DropCounters::default();
        d.record(DropReason::Icv);
        d.record(DropReason::Icv);
        d.record(DropReason::Replay);
        assert_eq!((d.icv, d.replay, d.total()), (2, 1, 3));
    }
}
