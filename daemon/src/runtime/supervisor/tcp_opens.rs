//! "Ping works, TCP does not": one service through a child gets no answer while
//! other traffic comes back (a firewall at the peer's site that lets ICMP through
//! and drops TCP to port 443, say). The child as a whole is not one-way
//! ([`super::one_way`]), so this is watched per TCP service (our inner address, the
//! far inner address, its port): the outbound worker notes SYNs, the inbound worker
//! SYN-ACKs and RSTs ([`TcpService`]); a service whose opens got no answer for
//! `[daemon] one_way_warning` while still being tried gets a line in the child's
//! status, a log line once per episode and a metric, cleared by the first answer.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::runtime::dataplane::TcpService;

/// Reports come once a second from each worker, in either order: an answer noted
/// this much before an open still answers it.
const REPORT_SLACK: Duration = Duration::from_secs(2);
/// A service still counts as being tried when its last open is this recent.
const TRYING: Duration = Duration::from_secs(5);
/// Services not tried for this long are forgotten.
const FORGET: Duration = Duration::from_secs(60);
/// At most this many services per child are watched (a bound on memory).
const MAX_SERVICES: usize = 64;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Tries {
    last_open: Option<Instant>,
    last_answer: Option<Instant>,
    /// The first open since the last answer.
    unanswered_since: Option<Instant>,
    warned: bool,
}

/// What [`TcpOpens::observe`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Opens for this long without an answer.
    Began(TcpService, Duration),
    /// An answer came after this long.
    Ended(TcpService, Duration),
    /// No more tries (for [`FORGET`]) after this long without an answer.
    GaveUp(TcpService, Duration),
}

/// One child's TCP services and their answers.
#[derive(Debug, Clone, Default)]
pub struct TcpOpens {
    services: BTreeMap<TcpService, Tries>,
    /// Answers to services that were warned about, to report once.
    ended: Vec<(TcpService, Duration)>,
}

impl TcpOpens {
    /// Our side opened `s` (a report at `t`).
    pub fn opened(&mut self, s: TcpService, t: Instant) {
        if !self.services.contains_key(&s) && self.services.len() >= MAX_SERVICES {
            return;
        }
        let e = self.services.entry(s).or_default();
        e.last_open = Some(t);
        let answered = e.last_answer.is_some_and(|a| a + REPORT_SLACK >= t);
        if !answered {
            e.unanswered_since.get_or_insert(t);
        }
    }

    /// The far side answered `s` (SYN-ACK or RST; a report at `t`).
    pub fn answered(&mut self, s: TcpService, t: Instant) {
        if !self.services.contains_key(&s) && self.services.len() >= MAX_SERVICES {
            return;
        }
        let e = self.services.entry(s).or_default();
        e.last_answer = Some(t);
        if let Some(since) = e.unanswered_since.take()
            && e.warned
        {
            self.ended.push((s, t.saturating_duration_since(since)));
        }
        e.warned = false;
    }

    /// Every tick: what began (opens for `after` with no answer, still tried), ended
    /// or was given up since the last look. `after` zero: never.
    pub fn observe(&mut self, after: Duration, now: Instant) -> Vec<Change> {
        let mut out: Vec<Change> = self
            .ended
            .drain(..)
            .map(|(s, d)| Change::Ended(s, d))
            .collect();
        self.services.retain(|s, e| {
            let idle = e
                .last_open
                .max(e.last_answer)
                .is_none_or(|t| now.saturating_duration_since(t) > FORGET);
            if idle {
                if e.warned
                    && let Some(since) = e.unanswered_since
                {
                    out.push(Change::GaveUp(*s, now.saturating_duration_since(since)));
                }
                return false;
            }
            let trying = e
                .last_open
                .is_some_and(|t| now.saturating_duration_since(t) <= TRYING);
            if let Some(since) = e.unanswered_since
                && !after.is_zero()
                && !e.warned
                && trying
                && now.saturating_duration_since(since) >= after
            {
                e.warned = true;
                out.push(Change::Began(*s, now.saturating_duration_since(since)));
            }
            true
        });
        out
    }

    /// The services warned about now, with how long they went unanswered.
    pub fn unanswered(&self, now: Instant) -> Vec<(TcpService, Duration)> {
        self.services
            .iter()
            .filter(|(_, e)| e.warned)
            .filter_map(|(s, e)| Some((*s, now.saturating_duration_since(e.unanswered_since?))))
            .collect()
    }
}

/// "TCP to 10.2.0.1 port 443 from 10.1.0.1: no answer for 12 s ...". `others_back`:
/// other traffic of the child came back meanwhile.
pub fn sentence(s: &TcpService, d: Duration, others_back: bool) -> String {
    let why = if others_back {
        "other traffic comes back, so something at the far site drops this service (a \
         firewall letting ICMP through but not this port), or the host does not offer \
         it and its RSTs are filtered"
    } else {
        "nothing else comes back either (see the child's warning)"
    };
    format!(
        "TCP to {} port {} from {}: connection attempts without an answer (no SYN-ACK, no \
         RST) for {} s: {why}",
        s.remote,
        s.port,
        s.local,
        d.as_secs()
    )
}

impl super::Supervisor {
    /// Every tick, with the one-way watch: each child's TCP services.
    pub(super) fn watch_tcp_opens(&mut self, now: Instant) {
        let after = self.config.daemon.one_way_warning;
        for (conn, child) in self.book.live_children() {
            let back_since = self.book.child_traffic(&conn, &child).last_in;
            for c in self.book.tcp_opens(&conn, &child).observe(after, now) {
                match c {
                    Change::Began(s, d) => {
                        let others = back_since.is_some_and(|t| t + d >= now);
                        tracing::warn!("{conn}/{child}: {}", sentence(&s, d, others));
                    }
                    Change::Ended(s, d) => tracing::info!(
                        "{conn}/{child}: TCP to {} port {} is answered again (it was not for {} s)",
                        s.remote,
                        s.port,
                        d.as_secs()
                    ),
                    Change::GaveUp(s, d) => tracing::info!(
                        "{conn}/{child}: no more tries of TCP to {} port {} (unanswered for {} s)",
                        s.remote,
                        s.port,
                        d.as_secs()
                    ),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(port: u16) -> TcpService {
        TcpService {
            local: "10.1.0.1"
                .parse()
                .unwrap_or(std::net::Ipv4Addr::LOCALHOST.into()),
            remote: "10.2.0.1"
                .parse()
                .unwrap_or(std::net::Ipv4Addr::LOCALHOST.into()),
            port,
        }
    }

    #[test]
    fn opens_without_answers_are_warned_once_and_cleared_by_an_answer() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut w = TcpOpens::default();
        let after = s(5);
        // Port 22 answered every time (in either report order), 443 never.
        for i in 0..8 {
            let t = t0 + s(i);
            if i % 2 == 0 {
                w.answered(svc(22), t);
                w.opened(svc(22), t + Duration::from_millis(900));
            } else {
                w.opened(svc(22), t);
                w.answered(svc(22), t + Duration::from_millis(100));
            }
            w.opened(svc(443), t);
            let changes = w.observe(after, t);
            if i < 5 {
                assert!(changes.is_empty(), "at {i}: {changes:?}");
            } else if i == 5 {
                assert_eq!(changes, vec![Change::Began(svc(443), s(5))]);
            } else {
                assert!(changes.is_empty(), "said once: {changes:?}");
            }
        }
        assert_eq!(w.unanswered(t0 + s(8)), vec![(svc(443), s(8))]);
        w.answered(svc(443), t0 + s(9));
        assert_eq!(
            w.observe(after, t0 + s(9)),
            vec![Change::Ended(svc(443), s(9))]
        );
        assert!(w.unanswered(t0 + s(9)).is_empty());
    }

    #[test]
    fn a_service_no_longer_tried_is_not_warned_and_is_forgotten() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut w = TcpOpens::default();
        w.opened(svc(443), t0);
        // Tried once, long ago: not "still being tried".
        assert!(w.observe(s(5), t0 + s(30)).is_empty());
        assert!(w.observe(s(5), t0 + s(61)).is_empty());
        assert!(w.services.is_empty());
        // Warned, then given up.
        for i in 0..7 {
            w.opened(svc(443), t0 + s(100 + i));
            w.observe(s(5), t0 + s(100 + i));
        }
        assert_eq!(w.unanswered(t0 + s(106)).len(), 1);
        assert_eq!(
            w.observe(s(5), t0 + s(170)),
            vec![Change::GaveUp(svc(443), s(70))]
        );
        // Disabled: never.
        let mut w = TcpOpens::default();
        for i in 0..20 {
            w.opened(svc(443), t0 + s(i));
            assert!(w.observe(Duration::ZERO, t0 + s(i)).is_empty());
        }
    }

    #[test]
    fn the_number_of_services_is_bounded() {
        let t0 = Instant::now();
        let mut w = TcpOpens::default();
        for p in 0..1000 {
            w.opened(svc(p), t0);
        }
        assert_eq!(w.services.len(), MAX_SERVICES);
    }
}
