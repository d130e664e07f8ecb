//! The search for the outer path MTU over probes, for paths that send no ICMP
//! (packetization-layer path MTU discovery in the spirit of RFC 8899): padded IKE
//! INFORMATIONAL requests (`Endpoint::probe_path_mtu`) that the peer answers only if
//! they arrived, so it works against any RFC 7296 peer.
//!
//! When a CHILD SA comes up toward a peer whose path MTU is only configured, the
//! first probe is at least as large as the outer packet of the tunnel's largest
//! inner packet (`TunnelMtu::needed_path`; up to 15 octets more, as the IKE cipher's
//! block allows). If it is answered, nothing changes. If not (no answer
//! within 2 s), a binary search between the protocol minimum (576 / 1280) and that
//! size finds, within 16 octets, the largest probe that gets through, which becomes
//! the peer's path MTU (source `probe`). Every [`PATH_MTU_HOLD`] a learned value is
//! checked again with one probe at the needed size: answered, the configured value
//! comes back; not, the learned one holds for another period.
//!
//! A probe lost to ordinary loss reads as "does not fit": the search then settles
//! lower than the path allows (a smaller but working tunnel), and the next check
//! raises it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

use esp::mtu::{IPV4_MIN_PATH_MTU, IPV6_MIN_PATH_MTU};
use ikev2::event::{IkeSaId, PathProbed};

use esp::counters::Direction;

use super::Supervisor;
use super::black_hole::{QUIET, Sample};
use super::path_mtu::{PATH_MTU_HOLD, PathMtuSource};

/// Stop the binary search when the bounds are this close (octets).
const RESOLUTION: u16 = 16;
/// A probe is padded to the largest size its IKE SA's cipher allows not above the
/// size asked (AES-CBC: 16-octet steps). The first probe must be at least the size
/// the tunnels need, so it asks this much more: IKE cipher blocks are at most 16.
const ROUND_UP: u16 = 15;

/// One search toward a peer.
#[derive(Debug, Clone)]
pub struct PathSearch {
    ike_sa: IkeSaId,
    /// The outer packet the tunnels to this peer need.
    needed: u16,
    /// Sizes asked for: `lo` is known to fit (the protocol minimum is assumed to),
    /// nothing above `hi` does.
    lo: u16,
    hi: u16,
    /// The size the probe in flight asked for (the datagram sent may be up to a
    /// cipher block smaller); above `needed` only for the first.
    asked: u16,
    /// The largest datagram sent that was answered.
    best: u16,
    /// Probes sent.
    probes: u32,
    started: Instant,
    /// A periodic check of a learned value: if the first probe is not answered, the
    /// learned value holds (no search below it).
    check: bool,
}

/// The searches in progress, per peer.
#[derive(Debug, Default)]
pub struct PathSearches {
    running: HashMap<IpAddr, PathSearch>,
    /// When each peer was last searched or checked.
    last: HashMap<IpAddr, Instant>,
}

impl Supervisor {
    /// A CHILD SA to `peer` came up (`needed`: its largest outer packet): search the
    /// path if nothing is known about it and no search runs.
    pub(super) fn maybe_search_path(
        &mut self,
        ike_sa: IkeSaId,
        peer: IpAddr,
        needed: u16,
        now: Instant,
    ) {
        let known = self.path_mtus.get(peer);
        let recent = self
            .searches
            .last
            .get(&peer)
            .is_some_and(|t| now.saturating_duration_since(*t) < PATH_MTU_HOLD);
        if known.source != PathMtuSource::Configured
            || recent
            || self.searches.running.contains_key(&peer)
        {
            return;
        }
        self.start_search(ike_sa, peer, needed.min(known.mtu), now, false);
    }

    fn start_search(
        &mut self,
        ike_sa: IkeSaId,
        peer: IpAddr,
        needed: u16,
        now: Instant,
        check: bool,
    ) {
        let floor = if peer.is_ipv4() {
            IPV4_MIN_PATH_MTU
        } else {
            IPV6_MIN_PATH_MTU
        };
        if needed <= floor {
            return;
        }
        let search = PathSearch {
            ike_sa,
            needed,
            lo: floor,
            hi: needed,
            asked: needed.saturating_add(ROUND_UP),
            best: floor,
            probes: 0,
            started: now,
            check,
        };
        self.searches.last.insert(peer, now);
        self.searches.running.insert(peer, search);
        self.next_probe(peer, needed.saturating_add(ROUND_UP), now);
    }

    /// Sends the probe of `size` for the search toward `peer`; ends the search if
    /// the IKE SA cannot send it.
    fn next_probe(&mut self, peer: IpAddr, size: u16, now: Instant) {
        let Some(s) = self.searches.running.get_mut(&peer) else {
            return;
        };
        s.probes += 1;
        s.asked = size;
        let ike_sa = s.ike_sa;
        if let Err(e) = self.endpoint.probe_path_mtu(now, ike_sa, usize::from(size)) {
            tracing::debug!("path MTU search toward {peer} ended: {e}");
            self.searches.running.remove(&peer);
        }
    }

    /// The answer (or its absence) to a probe.
    pub(super) fn path_probed(&mut self, p: &PathProbed) {
        let now = Instant::now();
        let Some((&peer, s)) = self
            .searches
            .running
            .iter_mut()
            .find(|(_, s)| s.ike_sa == p.ike_sa)
        else {
            return;
        };
        let sent = u16::try_from(p.size).unwrap_or(u16::MAX);
        if s.asked > s.needed {
            // The first probe: at least the size the tunnels need.
            if p.fits && sent >= s.needed {
                self.searches.running.remove(&peer);
                tracing::debug!("path to {peer} carries {sent} octets: enough for its tunnels");
                if self.path_mtus.get(peer).source != PathMtuSource::Configured {
                    self.path_mtu_restored(peer);
                }
                return;
            }
            if s.check {
                // The learned value holds another period.
                self.path_mtus.renew(peer, now);
                self.searches.running.remove(&peer);
                return;
            }
            s.hi = s.needed - 1;
        } else if p.fits {
            s.lo = s.asked;
            s.best = s.best.max(sent);
        } else {
            s.hi = s.asked - 1;
        }
        if s.hi.saturating_sub(s.lo) <= RESOLUTION {
            let (best, probes, took) = (s.best, s.probes, now - s.started);
            self.searches.running.remove(&peer);
            tracing::info!(
                "path MTU search toward {peer}: {best} octets get through ({probes} probes, \
                 {:.1} s)",
                took.as_secs_f64()
            );
            self.path_mtu_learned(peer, best, PathMtuSource::Probe);
            return;
        }
        let next = mid(s.lo, s.hi);
        self.next_probe(peer, next, now);
    }

    /// Learned path MTUs whose hold ran out are checked with one probe at the
    /// needed size, through an IKE SA to that peer.
    pub(super) fn recheck_paths(&mut self, now: Instant) {
        for peer in self.path_mtus.due(now) {
            if self.searches.running.contains_key(&peer) {
                continue;
            }
            let Some(needed) = self.book.needed_path_to(peer) else {
                // No tunnel to that peer any more: nothing to protect.
                self.path_mtu_restored(peer);
                continue;
            };
            let Some(ike_sa) = self.ike_sa_to(peer) else {
                self.path_mtu_restored(peer);
                continue;
            };
            let needed = needed.min(self.config.daemon.path_mtu);
            self.start_search(ike_sa, peer, needed, now, true);
        }
    }

    /// Tunnels that send and hear nothing back ([`BlackHoleWatch`]) get a liveness
    /// check of their peer (any packets) and a path MTU search toward it (large
    /// packets).
    pub(super) fn watch_black_holes(&mut self, now: Instant) {
        let mut due = Vec::new();
        let mut checks = Vec::new();
        for (spi_out, peer, t) in self.book.tunnels() {
            let Some((spi_in, _)) = self.pairs.pair_of(Direction::Outbound, spi_out) else {
                continue;
            };
            let out = self.book.sa_traffic(Direction::Outbound, spi_out);
            let inbound = self.book.sa_traffic(Direction::Inbound, spi_in);
            let sample = Sample {
                out_packets: out.packets,
                out_bytes: out.bytes,
                in_packets: inbound.packets,
            };
            let d = self.black_holes.observe(spi_out, peer, sample, now);
            if d.liveness_check {
                checks.push(peer);
            }
            // Probes share the outer path of ESP only in UDP (see maybe_search_path).
            if d.path_search && t.udp() {
                due.push(peer);
            }
        }
        for peer in checks {
            self.check_liveness(peer, now);
        }
        let book = &self.book;
        self.black_holes.retain(|spi| book.tunnel(spi).is_some());
        for peer in due {
            if self.searches.running.contains_key(&peer) {
                continue;
            }
            let (Some(needed), Some(ike_sa)) =
                (self.book.needed_path_to(peer), self.ike_sa_to(peer))
            else {
                continue;
            };
            tracing::info!(
                "tunnel to {peer}: large packets out, nothing back for {} s: probing the path MTU",
                QUIET.as_secs()
            );
            let needed = needed.min(self.config.daemon.path_mtu);
            self.start_search(ike_sa, peer, needed, now, false);
        }
    }

    /// Whether `quoted` (the start of a datagram an ICMP error quoted) is an IKE
    /// message of the IKE SA searching the path to `peer` (non-ESP marker, then both
    /// IKE SPIs: 128 bits no off-path sender can guess).
    pub(super) fn probe_quoted(&self, peer: IpAddr, quoted: &[u8]) -> bool {
        let Some(s) = self.searches.running.get(&peer) else {
            return false;
        };
        let spi = |r: std::ops::Range<usize>| {
            quoted
                .get(r)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes)
        };
        let (Some(spi_i), Some(spi_r)) = (spi(4..12), spi(12..20)) else {
            return false;
        };
        quoted.starts_with(&[0; 4])
            && self.endpoint.ike_sas().iter().any(|sa| {
                sa.id == s.ike_sa
                    && sa.remote.ip() == peer
                    && sa.spi_i.0 == spi_i
                    && sa.spi_r.0 == spi_r
            })
    }

    /// Ends the search toward `peer` (its answer came another way).
    pub(super) fn path_searched(&mut self, peer: IpAddr) {
        if let Some(s) = self.searches.running.remove(&peer) {
            tracing::debug!(
                "path MTU search toward {peer} answered by ICMP after {} probes",
                s.probes
            );
        }
    }

    /// An established IKE SA to `peer`.
    pub(super) fn ike_sa_to(&self, peer: IpAddr) -> Option<IkeSaId> {
        self.endpoint
            .ike_sas()
            .iter()
            .find(|s| s.remote.ip() == peer && s.state == ikev2::IkeSaState::Established)
            .map(|s| s.id)
    }
}

/// The size between `lo` and `hi` to ask for next (upper middle, so the search
/// always moves).
fn mid(lo: u16, hi: u16) -> u16 {
    lo + (hi - lo).div_ceil(2)
}
