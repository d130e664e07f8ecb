//! Flapping: a connection whose IKE SA keeps going down and coming back ("the tunnel
//! drops every few minutes"). Each re-establishment (an IKE SA up after the
//! connection's previous one went down other than by our own terminate) is kept for
//! an hour with why the previous one ended; more than `[daemon] flap_warning` of them
//! in the hour give the connection a warning naming the causes.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use ikev2::event::DownReason;

/// The window the limit counts in.
pub const WINDOW: Duration = Duration::from_secs(3600);

/// A short name for why an IKE SA ended.
pub fn cause(reason: &DownReason) -> &'static str {
    match reason {
        DownReason::Terminated => "terminated",
        DownReason::DeletedByPeer => "deleted by the peer",
        DownReason::Replaced => "replaced by the peer's new SA (INITIAL_CONTACT)",
        DownReason::Expired => "expired without a rekey",
        DownReason::Failed(ikev2::error::Cause::Timeout { .. }) => "no answer (dead peer)",
        DownReason::Failed(_) => "an exchange failed",
        _ => "other",
    }
}

/// One connection's recent re-establishments.
#[derive(Debug, Default, Clone)]
pub struct Flaps {
    /// Why the last IKE SA went down, until the next one is up.
    down: Option<&'static str>,
    /// Re-establishments in the window: when, and why the SA before went down.
    recent: VecDeque<(Instant, &'static str)>,
    /// All of them since the daemon started.
    pub total: u64,
}

impl Flaps {
    /// An IKE SA of the connection went down.
    pub fn down(&mut self, reason: &DownReason) {
        // Our own terminate (ikev2d down, reload, shutdown) is not flapping.
        self.down = (!matches!(reason, DownReason::Terminated)).then(|| cause(reason));
    }

    /// An IKE SA of the connection came up at `now`.
    pub fn up(&mut self, now: Instant) {
        if let Some(c) = self.down.take() {
            self.recent.push_back((now, c));
            self.total += 1;
        }
        self.expire(now);
    }

    fn expire(&mut self, now: Instant) {
        while self
            .recent
            .front()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) > WINDOW)
        {
            self.recent.pop_front();
        }
    }

    /// The warning when there were more than `limit` re-establishments in the last
    /// hour (`limit` 0: never).
    pub fn warning(&self, limit: u32, now: Instant) -> Option<String> {
        let recent: Vec<&(Instant, &str)> = self
            .recent
            .iter()
            .filter(|(t, _)| now.saturating_duration_since(*t) <= WINDOW)
            .collect();
        if limit == 0 || recent.len() <= limit as usize {
            return None;
        }
        let mut by_cause: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, c) in &recent {
            *by_cause.entry(c).or_default() += 1;
        }
        let causes: Vec<String> = by_cause.iter().map(|(c, n)| format!("{n} x {c}")).collect();
        Some(format!(
            "flapping: re-established {} times in the last hour ({}); see \
             docs/troubleshooting.md",
            recent.len(),
            causes.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn re_establishments_beyond_the_limit_warn_with_their_causes() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut f = Flaps::default();
        f.up(t0);
        assert_eq!(f.total, 0, "the first is no re-establishment");
        let timeout = DownReason::Failed(ikev2::error::Cause::Timeout {
            retransmits: 5,
            remote: "192.0.2.2:500".parse().unwrap_or_else(|_| unreachable!()),
        });
        for i in 0..3 {
            f.down(&timeout);
            f.up(t0 + s(60 * i + 30));
        }
        f.down(&DownReason::DeletedByPeer);
        f.up(t0 + s(300));
        // Our own terminate does not count.
        f.down(&DownReason::Terminated);
        f.up(t0 + s(310));
        assert_eq!(f.total, 4);
        assert_eq!(f.warning(4, t0 + s(320)), None);
        assert_eq!(
            f.warning(3, t0 + s(320)).as_deref(),
            Some(
                "flapping: re-established 4 times in the last hour (1 x deleted by the peer, \
                 3 x no answer (dead peer)); see docs/troubleshooting.md"
            )
        );
        assert_eq!(f.warning(0, t0 + s(320)), None);
        // An hour later they are history.
        assert_eq!(f.warning(1, t0 + s(4000)), None);
    }
}
