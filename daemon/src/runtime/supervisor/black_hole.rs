//! "Established but no data": a tunnel that sends and hears nothing back for a
//! while. Two things look like that, and each gets its check:
//! - a dead peer (any packets out, nothing in for [`LIVENESS_QUIET`]): a liveness
//!   check now, bounded by `dpd_timeout`, instead of after `dpd_delay` (the start
//!   of a failover to the next of `remote_addrs`);
//! - a path MTU drop where no ICMP arrives (large packets out, nothing in for
//!   [`QUIET`]: the large outer packets vanish, the inner TCP receiver sends no more
//!   ACKs): a path MTU search toward the peer.
//!
//! One-way traffic (a UDP stream without answers) looks the same and costs at most
//! a liveness check per [`LIVENESS_HOLDOFF`] and a probe search per
//! [`SEARCH_HOLDOFF`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// How long packets must go out unanswered before the peer's liveness is checked.
pub const LIVENESS_QUIET: Duration = Duration::from_secs(2);
/// At most one liveness check per peer this often for this reason.
pub const LIVENESS_HOLDOFF: Duration = Duration::from_secs(10);
/// How long large packets must go out unanswered before the path is probed.
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

/// What a sample makes due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Due {
    pub liveness_check: bool,
    pub path_search: bool,
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    last: Sample,
    /// Since when packets went out and nothing came in.
    silent_since: Option<Instant>,
    /// Since when large packets went out and nothing came in.
    quiet_since: Option<Instant>,
}

/// Per tunnel (outbound SPI): the last sample and how long it has been quiet.
#[derive(Debug, Default)]
pub struct BlackHoleWatch {
    tunnels: HashMap<u32, Seen>,
    searched: HashMap<IpAddr, Instant>,
    checked: HashMap<IpAddr, Instant>,
}

impl BlackHoleWatch {
    /// Takes a sample of tunnel `spi_out` to `peer`; what is due toward the peer now.
    pub fn observe(&mut self, spi_out: u32, peer: IpAddr, s: Sample, now: Instant) -> Due {
        let seen = self.tunnels.entry(spi_out).or_insert(Seen {
            last: s,
            silent_since: None,
            quiet_since: None,
        });
        let sent = s.out_packets.saturating_sub(seen.last.out_packets);
        let octets = s.out_bytes.saturating_sub(seen.last.out_bytes);
        let heard = s.in_packets > seen.last.in_packets;
        if heard {
            seen.silent_since = None;
            seen.quiet_since = None;
        } else if let Some(avg) = octets.checked_div(sent) {
            seen.silent_since.get_or_insert(now);
            if avg >= LARGE {
                seen.quiet_since.get_or_insert(now);
            }
        }
        seen.last = s;
        let lasted = |since: Option<Instant>, d: Duration| {
            since.is_some_and(|t| now.saturating_duration_since(t) >= d)
        };
        let free = |last: Option<&Instant>, d: Duration| {
            last.is_none_or(|t| now.saturating_duration_since(*t) >= d)
        };
        let mut due = Due::default();
        if lasted(seen.silent_since, LIVENESS_QUIET)
            && free(self.checked.get(&peer), LIVENESS_HOLDOFF)
        {
            seen.silent_since = None;
            self.checked.insert(peer, now);
            due.liveness_check = true;
        }
        if lasted(seen.quiet_since, QUIET) && free(self.searched.get(&peer), SEARCH_HOLDOFF) {
            seen.quiet_since = None;
            self.searched.insert(peer, now);
            due.path_search = true;
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

    fn search(w: &mut BlackHoleWatch, spi: u32, s: Sample, t: Instant) -> bool {
        w.observe(spi, PEER, s, t).path_search
    }

    #[test]
    fn large_packets_unanswered_for_a_while_trigger_one_search() {
        let mut w = BlackHoleWatch::default();
        let t0 = Instant::now();
        let s = Duration::from_secs;
        assert!(!search(&mut w, 1, sample(100, 1400, 50), t0));
        assert!(!search(&mut w, 1, sample(200, 1400, 50), t0 + s(1)));
        assert!(!search(&mut w, 1, sample(300, 1400, 50), t0 + s(3)));
        assert!(search(&mut w, 1, sample(400, 1400, 50), t0 + s(4)));
        // Held off, although still quiet.
        assert!(!search(&mut w, 1, sample(500, 1400, 50), t0 + s(9)));
        assert!(!search(&mut w, 1, sample(600, 1400, 50), t0 + s(20)));
        assert!(search(&mut w, 1, sample(700, 1400, 50), t0 + s(40)));
    }

    #[test]
    fn any_packets_unanswered_for_a_while_trigger_a_liveness_check() {
        let mut w = BlackHoleWatch::default();
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        // Pings to a peer that stopped answering: small packets, nothing back.
        let due: Vec<Due> = [0, 1000, 2000, 2500, 3000, 8000, 12_000]
            .iter()
            .enumerate()
            .map(|(i, t)| w.observe(2, PEER, sample(i as u64 + 1, 84, 7), t0 + ms(*t)))
            .collect();
        let checks: Vec<bool> = due.iter().map(|d| d.liveness_check).collect();
        // Silent from the sample at 1 s on: due 2 s later, then held off for 10 s.
        assert_eq!(checks, [false, false, false, false, true, false, false]);
        assert!(due.iter().all(|d| !d.path_search));
        assert!(
            w.observe(2, PEER, sample(9, 84, 7), t0 + ms(15_500))
                .liveness_check
        );
    }

    #[test]
    fn answers_or_silence_trigger_nothing() {
        let mut w = BlackHoleWatch::default();
        let t0 = Instant::now();
        let s = Duration::from_secs;
        for i in 1..10 {
            // Large packets out, something comes back every second.
            assert_eq!(
                w.observe(1, PEER, sample(100 * i, 1400, 10 * i), t0 + s(i)),
                Due::default()
            );
            // Nothing at all.
            assert_eq!(
                w.observe(3, PEER, sample(5, 1400, 0), t0 + s(i)),
                Due::default()
            );
        }
        // Small packets unanswered: a liveness check, never a path search.
        for i in 1..10 {
            assert!(!search(&mut w, 2, sample(i, 84, 0), t0 + s(i)));
        }
    }
}
