//! "The tunnel drops every few minutes": the NAT in front of us forgets our UDP
//! mapping when nothing passed for longer than its idle timeout, and what the peer
//! sends until our next datagram re-creates the mapping is lost. From here that
//! looks like this: inbound ESP stops, and when it comes back its sequence numbers
//! have a hole ([`InboundGap`], found by the inbound worker), right after a silence
//! that our own datagram ended. The longest silence (nothing sent or received to or
//! from the peer) before that datagram is an upper bound on the NAT's idle timeout.
//!
//! Each such loss is counted per connection, logged in the operator's words, shown
//! in status and exported; with `keep_alive = "auto"` (the default) the connection's
//! NAT-keepalive interval is halved, below the silence that was too long and not
//! below [`KeepAlive::AUTO_FLOOR`], and the interval that worked is kept for the
//! connection (across its IKE SAs and reloads that leave `keep_alive` alone).
//!
//! Only while the IKE SA says we are behind a NAT: without one, a hole is ordinary
//! loss. Holes within a flow are left out by the worker (the SA must have been quiet
//! for [`GAP_QUIET`](super::super::dataplane::GAP_QUIET)), and silences shorter than
//! [`MIN_SILENCE`] are not blamed on a NAT.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::config::KeepAlive;
use crate::runtime::dataplane::InboundGap;

/// No NAT forgets a mapping this fast; a hole after a shorter silence is ordinary
/// loss.
pub const MIN_SILENCE: Duration = Duration::from_secs(5);
/// Datagram times kept per peer: with keepalives every few seconds, more than the
/// longest silence worth judging.
const TIMELINE: usize = 32;
/// At most this many peers are watched (a bound on memory, about 0.5 KiB each).
const MAX_PEERS: usize = 16_384;
/// A peer nothing passed to or from for this long is forgotten.
const FORGET: Duration = Duration::from_secs(600);

/// IKE messages and NAT-keepalives to and from one peer, the last [`TIMELINE`]:
/// every one of them kept the NAT's mapping alive.
#[derive(Debug, Default, Clone)]
pub struct Timeline {
    /// (when, sent by us), in time order.
    events: VecDeque<(Instant, bool)>,
}

impl Timeline {
    pub fn record(&mut self, t: Instant, sent: bool) {
        if self.events.len() == TIMELINE {
            self.events.pop_front();
        }
        self.events.push_back((t, sent));
    }

    fn last(&self) -> Option<Instant> {
        self.events.back().map(|e| e.0)
    }
}

/// What a hole says about the NAT: the longest silence before the datagram of ours
/// that re-opened the way in, and that datagram's time. `None` if nothing of ours
/// left between the SA's last packet and the packets coming back (then the NAT
/// kept the mapping and the hole is ordinary loss), or if no silence was long
/// enough to blame a NAT. `esp_out`: the child's last packet out, if known.
pub fn silence_before(
    gap: &InboundGap,
    timeline: &Timeline,
    esp_out: Option<Instant>,
) -> Option<(Duration, Instant)> {
    let within = |t: Instant| t >= gap.quiet_since && t <= gap.at;
    let mut events: Vec<(Instant, bool)> = timeline
        .events
        .iter()
        .copied()
        .filter(|(t, _)| within(*t))
        .chain(esp_out.filter(|t| within(*t)).map(|t| (t, true)))
        .chain(std::iter::once((gap.quiet_since, false)))
        .collect();
    events.sort();
    let reopened = events
        .iter()
        .rposition(|(t, sent)| *sent && *t > gap.quiet_since)?;
    let longest = events[..=reopened]
        .windows(2)
        .map(|w| w[1].0.saturating_duration_since(w[0].0))
        .max()?;
    (longest >= MIN_SILENCE).then_some((longest, events[reopened].0))
}

/// One time the NAT dropped our mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loss {
    /// When the peer's packets came back.
    pub at: Instant,
    /// The silence the mapping died in (at most this long).
    pub silence: Duration,
    /// Packets of the peer lost.
    pub missing: u64,
    /// Our datagram that re-opened the mapping: the same loss seen on several SAs
    /// has the same one.
    pub reopened: Instant,
    /// The keep-alive interval in use then.
    pub keep_alive: Duration,
}

/// One connection's NAT mapping losses and what `auto` learned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NatMapping {
    pub losses: u64,
    pub last: Option<Loss>,
    /// The interval `auto` settled on (None: [`KeepAlive::AUTO_START`]).
    pub learned: Option<Duration>,
}

impl NatMapping {
    /// The interval in use under `setting`.
    pub fn effective(&self, setting: KeepAlive) -> Duration {
        match setting {
            KeepAlive::Auto => self.learned.unwrap_or(KeepAlive::AUTO_START),
            KeepAlive::Every(d) => d,
        }
    }

    /// Counts `loss` (unless it is one already counted, seen on another SA) and,
    /// under `auto`, lowers the interval. Returns whether it was new, and the new
    /// interval if it changed.
    pub fn lost(&mut self, loss: Loss, setting: KeepAlive) -> (bool, Option<Duration>) {
        if self.last.is_some_and(|l| l.reopened == loss.reopened) {
            return (false, None);
        }
        self.losses += 1;
        self.last = Some(loss);
        let KeepAlive::Auto = setting else {
            return (true, None);
        };
        let now = self.effective(setting);
        let below = loss.silence.saturating_sub(Duration::from_secs(1));
        let next = (now / 2).min(below).max(KeepAlive::AUTO_FLOOR);
        if next < now {
            self.learned = Some(next);
            (true, Some(next))
        } else {
            (true, None)
        }
    }

    /// The operator's words for the last loss.
    pub fn text(&self, setting: KeepAlive) -> Option<String> {
        let l = self.last?;
        let now = self.effective(setting);
        let advice = match setting {
            KeepAlive::Auto if now < l.keep_alive => format!(
                "keep_alive lowered from {} s to {} s (auto)",
                l.keep_alive.as_secs(),
                now.as_secs()
            ),
            KeepAlive::Auto => format!(
                "keep_alive is at its floor of {} s (auto): the NAT forgets faster than that, \
                 or something else loses the first packets after a silence",
                now.as_secs()
            ),
            KeepAlive::Every(d) => format!(
                "lower keep_alive (now {} s) below that, or set it to \"auto\"",
                d.as_secs()
            ),
        };
        Some(format!(
            "the NAT between us and the peer dropped our UDP mapping after at most {} s of \
             silence ({} packet(s) from the peer lost until we sent again): {advice}",
            l.silence.as_secs(),
            l.missing
        ))
    }
}

/// What the supervisor keeps: the timelines of the peers.
#[derive(Debug, Default)]
pub struct NatWatch {
    timelines: HashMap<IpAddr, Timeline>,
    /// When [`NatWatch::expire`] last looked (it walks every peer: not every tick).
    expired: Option<Instant>,
}

impl NatWatch {
    /// An IKE message or NAT-keepalive went to (`sent`) or came from `peer` on
    /// port 4500 (where an IKE SA behind a NAT talks; IKE_SA_INIT floods from
    /// forged sources are answered from port 500 and watch nothing). Only a
    /// datagram of ours starts a timeline.
    pub fn datagram(&mut self, peer: IpAddr, t: Instant, sent: bool) {
        if let Some(tl) = self.timelines.get_mut(&peer) {
            tl.record(t, sent);
        } else if sent && self.timelines.len() < MAX_PEERS {
            self.timelines.entry(peer).or_default().record(t, sent);
        }
    }

    pub fn timeline(&self, peer: IpAddr) -> Option<&Timeline> {
        self.timelines.get(&peer)
    }

    /// Forgets peers nothing passed to or from for a long time (looks at most every
    /// 10 s).
    pub fn expire(&mut self, now: Instant) {
        if self
            .expired
            .is_some_and(|t| now.saturating_duration_since(t) < Duration::from_secs(10))
        {
            return;
        }
        self.expired = Some(now);
        self.timelines.retain(|_, t| {
            t.last()
                .is_some_and(|l| now.saturating_duration_since(l) < FORGET)
        });
    }
}

impl super::Supervisor {
    /// A hole in inbound SA `spi_in`'s sequence numbers after a silence: if we are
    /// behind a NAT and our own datagram ended a long silence right before the
    /// packets came back, the NAT dropped our mapping.
    pub(super) fn inbound_gap(&mut self, spi_in: u32, gap: &InboundGap) {
        let Some((conn, child)) = self.book.owner(esp::counters::Direction::Inbound, spi_in) else {
            return;
        };
        let Some((remote, nat)) = self.endpoint.child_peer(spi_in) else {
            return;
        };
        if !nat.local_behind_nat {
            return;
        }
        let Some(timeline) = self.nat.timeline(remote.ip()) else {
            return;
        };
        let esp_out = self.book.child_traffic(&conn, &child).last_out;
        let Some((silence, reopened)) = silence_before(gap, timeline, esp_out) else {
            return;
        };
        let Some(setting) = self
            .config
            .connections
            .iter()
            .find(|c| c.name == conn)
            .map(|c| c.keep_alive.unwrap_or(self.config.daemon.keep_alive))
        else {
            return;
        };
        let m = self.book.nat_mapping(&conn);
        let loss = Loss {
            at: gap.at,
            silence,
            missing: gap.missing,
            reopened,
            keep_alive: m.effective(setting),
        };
        let (new, lowered) = m.lost(loss, setting);
        if !new {
            return;
        }
        if let Some(text) = m.text(setting) {
            tracing::warn!("{conn}: {text}");
        }
        if let Some(every) = lowered {
            self.endpoint.set_keep_alive(&conn, Some(every));
        }
    }

    /// After a reload: connections whose `keep_alive` is no longer `auto` forget
    /// what auto learned; the others keep it.
    pub(super) fn reapply_keep_alives(&mut self) {
        let config = std::sync::Arc::clone(&self.config);
        for c in &config.connections {
            let setting = c.keep_alive.unwrap_or(config.daemon.keep_alive);
            let m = self.book.nat_mapping(&c.name);
            if setting != KeepAlive::Auto {
                m.learned = None;
            }
            let learned = m.learned;
            self.endpoint.set_keep_alive(&c.name, learned);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    /// A NAT that forgets after 15 s, keepalives every 20 s: the peer's packets at
    /// 16..20 s are lost, the keepalive at 20 s opens the way again.
    #[test]
    fn a_hole_after_our_silence_blames_the_nat_with_the_silence() {
        let t0 = Instant::now();
        let mut tl = Timeline::default();
        tl.record(t0 + s(3), true);
        tl.record(t0 + s(23), true);
        let gap = InboundGap {
            at: t0 + s(23) + Duration::from_millis(400),
            missing: 8,
            quiet_since: t0,
        };
        assert_eq!(silence_before(&gap, &tl, None), Some((s(20), t0 + s(23))));
        // ESP of ours in between shortens the silence.
        assert_eq!(
            silence_before(&gap, &tl, Some(t0 + s(13))),
            Some((s(10), t0 + s(23)))
        );
        // So do the peer's datagrams: with one every 4 s no silence is long enough.
        let mut with_peer = tl.clone();
        with_peer.record(t0 + s(9), false);
        assert_eq!(
            silence_before(&gap, &with_peer, None),
            Some((s(14), t0 + s(23)))
        );
        for t in [7, 11, 15, 19] {
            with_peer.record(t0 + s(t), false);
        }
        assert_eq!(silence_before(&gap, &with_peer, None), None);
    }

    #[test]
    fn a_hole_without_our_datagram_before_it_is_ordinary_loss() {
        let t0 = Instant::now();
        let mut tl = Timeline::default();
        tl.record(t0 + s(1), true);
        let gap = InboundGap {
            at: t0 + s(30),
            missing: 3,
            quiet_since: t0 + s(2),
        };
        // Nothing of ours between the SA's last packet and the hole's end.
        assert_eq!(silence_before(&gap, &tl, None), None);
        // A datagram after the packets came back does not count either.
        tl.record(t0 + s(31), true);
        assert_eq!(silence_before(&gap, &tl, None), None);
        // A short silence is not blamed on a NAT.
        let gap = InboundGap {
            at: t0 + s(5),
            missing: 1,
            quiet_since: t0 + s(2),
        };
        let mut tl = Timeline::default();
        tl.record(t0 + s(4), true);
        assert_eq!(silence_before(&gap, &tl, None), None);
    }

    fn loss(m: &NatMapping, setting: KeepAlive, t0: Instant, silence: u64, reopened: u64) -> Loss {
        Loss {
            at: t0 + s(reopened + 1),
            silence: s(silence),
            missing: 4,
            reopened: t0 + s(reopened),
            keep_alive: m.effective(setting),
        }
    }

    #[test]
    fn auto_halves_below_the_silence_down_to_the_floor_and_keeps_it() {
        let t0 = Instant::now();
        let mut m = NatMapping::default();
        assert_eq!(m.effective(KeepAlive::Auto), s(20));
        assert_eq!(
            m.lost(loss(&m, KeepAlive::Auto, t0, 20, 20), KeepAlive::Auto),
            (true, Some(s(10)))
        );
        // The same loss seen on a second SA is not counted again.
        assert_eq!(
            m.lost(loss(&m, KeepAlive::Auto, t0, 20, 20), KeepAlive::Auto),
            (false, None)
        );
        assert_eq!(m.losses, 1);
        let text = m.text(KeepAlive::Auto).unwrap_or_default();
        assert!(text.contains("after at most 20 s of silence"), "{text}");
        assert!(text.contains("lowered from 20 s to 10 s"), "{text}");
        // A silence of 8 s was still too long: below it, not just half.
        assert_eq!(
            m.lost(loss(&m, KeepAlive::Auto, t0, 8, 60), KeepAlive::Auto),
            (true, Some(s(5)))
        );
        assert_eq!(
            m.lost(loss(&m, KeepAlive::Auto, t0, 6, 90), KeepAlive::Auto),
            (true, None)
        );
        assert_eq!(m.effective(KeepAlive::Auto), s(5));
        assert_eq!(m.losses, 3);
        assert!(
            m.text(KeepAlive::Auto)
                .unwrap_or_default()
                .contains("at its floor of 5 s")
        );
    }

    #[test]
    fn a_fixed_interval_is_counted_and_advised_but_never_changed() {
        let t0 = Instant::now();
        let mut m = NatMapping::default();
        let fixed = KeepAlive::Every(s(20));
        assert_eq!(m.lost(loss(&m, fixed, t0, 20, 20), fixed), (true, None));
        assert_eq!(m.effective(fixed), s(20));
        let text = m.text(fixed).unwrap_or_default();
        assert!(
            text.contains("dropped our UDP mapping after at most 20 s of silence")
                && text.contains("lower keep_alive (now 20 s) below that"),
            "{text}"
        );
    }
}
