//! "Established but no data": a tunnel that sends large packets and hears nothing
//! back for a while. That is what a path MTU drop looks like where no ICMP arrives
//! (the large outer packets vanish, the inner TCP receiver sends no more ACKs), so it
//! triggers a path MTU search toward the peer. One-way traffic (a UDP stream without
//! answers) looks the same and costs at most a probe search per [`SEARCH_HOLDOFF`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// How long large packets must go out unanswered.
pub const QUIET: Duration = Duration::from_secs(3);
/// At most one search per peer this often for this reason.
pub const SEARCH_HOLDOFF: Duration = Duration::from_secs(30);
/// Outbound packets this large on average count as "large" (below it, the inner
/// MTU cannot be the problem).
const LARGE: u64 = 576;

/// One look at a tunnel's counters: packets and octets sent, packets received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sample {
    pub out_packets: u64,
    pub out_bytes: u64,
    pub in_packets: u64,
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    last: Sample,
    /// Since when large packets went out and nothing came in.
    quiet_since: Option<Instant>,
}

/// Per tunnel (outbound SPI): the last sample and how long it has been quiet.
#[derive(Debug, Default)]
pub struct BlackHoleWatch {
    tunnels: HashMap<u32, Seen>,
    searched: HashMap<IpAddr, Instant>,
}

impl BlackHoleWatch {
    /// Takes a sample of tunnel `spi_out` to `peer`; whether a search toward the peer
    /// is due now.
    pub fn observe(&mut self, spi_out: u32, peer: IpAddr, s: Sample, now: Instant) -> bool {
        let seen = self.tunnels.entry(spi_out).or_insert(Seen {
            last: s,
            quiet_since: None,
        });
        let sent = s.out_packets.saturating_sub(seen.last.out_packets);
        let octets = s.out_bytes.saturating_sub(seen.last.out_bytes);
        let heard = s.in_packets > seen.last.in_packets;
        if heard {
            seen.quiet_since = None;
        } else if sent > 0 && octets / sent >= LARGE {
            seen.quiet_since.get_or_insert(now);
        }
        seen.last = s;
        let due = seen
            .quiet_since
            .is_some_and(|t| now.saturating_duration_since(t) >= QUIET)
            && self
                .searched
                .get(&peer)
                .is_none_or(|t| now.saturating_duration_since(*t) >= SEARCH_HOLDOFF);
        if due {
            seen.quiet_since = None;
            self.searched.insert(peer, now);
        }
        due
    }

    /// Forgets tunnels no longer in `live`.
    pub fn retain(&mut self, live: impl Fn(u32) -> bool) {
        self.tunnels.retain(|spi, _| live(*spi));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    fn sample(out_packets: u64, avg: u64, in_packets: u64) -> Sample {
        Sample {
            out_packets,
            out_bytes: out_packets * avg,
            in_packets,
        }
    }

    #[test]
    fn large_packets_unanswered_for_a_while_trigger_one_search() {
        let mut w = BlackHoleWatch::default();
        let t0 = Instant::now();
        let s = Duration::from_secs;
        assert!(!w.observe(1, PEER, sample(100, 1400, 50), t0));
        assert!(!w.observe(1, PEER, sample(200, 1400, 50), t0 + s(1)));
        assert!(!w.observe(1, PEER, sample(300, 1400, 50), t0 + s(3)));
        assert!(w.observe(1, PEER, sample(400, 1400, 50), t0 + s(4)));
        // Held off, although still quiet.
        assert!(!w.observe(1, PEER, sample(500, 1400, 50), t0 + s(9)));
        assert!(!w.observe(1, PEER, sample(600, 1400, 50), t0 + s(20)));
        assert!(w.observe(1, PEER, sample(700, 1400, 50), t0 + s(40)));
    }

    #[test]
    fn answers_small_packets_or_silence_trigger_nothing() {
        let mut w = BlackHoleWatch::default();
        let t0 = Instant::now();
        let s = Duration::from_secs;
        for i in 1..10 {
            // Large packets out, something comes back every second.
            assert!(!w.observe(1, PEER, sample(100 * i, 1400, 10 * i), t0 + s(i)));
            // Small packets out, nothing back (pings to a dead host).
            assert!(!w.observe(2, PEER, sample(i, 84, 0), t0 + s(i)));
            // Nothing at all.
            assert!(!w.observe(3, PEER, sample(5, 1400, 0), t0 + s(i)));
        }
    }
}
