//! "Up but no data": a child that keeps sending and hears nothing back. The IKE SA
//! may be fine (DPD answered) while the traffic dies on the way: the peer's firewall,
//! its routes back to our `local_ts`, or its selectors. Per child, across its rekeys:
//! when its first packet out went without anything coming back, and when the last
//! packets in and out passed ([`ChildTraffic`]); after `[daemon] one_way_warning` of
//! that (30 s by default) the child gets a warning in status, a log line once per
//! episode and a metric, cleared by the first packet back.

use std::time::{Duration, Instant};

/// A child still counts as sending when its last packet out is this recent (the
/// workers report once a second).
pub const SENDING: Duration = Duration::from_secs(3);

/// What a child's SAs passed, over all its SAs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChildTraffic {
    pub last_in: Option<Instant>,
    pub last_out: Option<Instant>,
    /// The first packet out since the last one in (or since the child came up).
    pub first_out_unanswered: Option<Instant>,
    /// Since when it has been one-way (a warning stands).
    pub one_way_since: Option<Instant>,
}

/// What [`ChildTraffic::observe`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// It became one-way: sending for this long with nothing back.
    Began(Duration),
    /// Traffic came back after this long one-way.
    Ended(Duration),
}

impl ChildTraffic {
    /// An SA of the child passed its last packet at `t` in direction `inbound`.
    pub fn packet(&mut self, inbound: bool, t: Instant) {
        if inbound {
            if self.last_in.is_none_or(|l| t > l) {
                self.last_in = Some(t);
                self.first_out_unanswered = None;
            }
        } else if self.last_out.is_none_or(|l| t > l) {
            self.last_out = Some(t);
            let answered_after = self.last_in.is_some_and(|i| i >= t);
            if !answered_after {
                self.first_out_unanswered.get_or_insert(t);
            }
        }
    }

    /// Whether it is one-way now (after `after`; zero: never), and what changed.
    pub fn observe(&mut self, after: Duration, now: Instant) -> Option<Change> {
        let sending = self
            .last_out
            .is_some_and(|t| now.saturating_duration_since(t) <= SENDING);
        let unanswered = self
            .first_out_unanswered
            .map(|t| now.saturating_duration_since(t));
        let one_way = !after.is_zero() && sending && unanswered.is_some_and(|d| d >= after);
        match (one_way, self.one_way_since) {
            (true, None) => {
                self.one_way_since = self.first_out_unanswered;
                unanswered.map(Change::Began)
            }
            (false, Some(since)) if self.first_out_unanswered.is_none() => {
                self.one_way_since = None;
                Some(Change::Ended(
                    self.last_in.unwrap_or(now).saturating_duration_since(since),
                ))
            }
            // Stopped sending without an answer: the episode stays until an answer
            // or until it is resumed; nothing new to say.
            _ => None,
        }
    }

    /// For how long it has been one-way, if it is.
    pub fn one_way_for(&self, now: Instant) -> Option<Duration> {
        self.one_way_since.map(|t| now.saturating_duration_since(t))
    }
}

impl super::Supervisor {
    /// Every tick: each child with a live SA looked at; a one-way episode is logged
    /// when it begins and when it ends.
    pub(super) fn watch_one_way(&mut self, now: Instant) {
        let after = self.config.daemon.one_way_warning;
        for (conn, child) in self.book.live_children() {
            match self.book.child_traffic(&conn, &child).observe(after, now) {
                Some(Change::Began(d)) => {
                    tracing::warn!("{conn}/{child}: {}", self.one_way_text(&conn, &child, d));
                }
                Some(Change::Ended(d)) => tracing::info!(
                    "{conn}/{child}: traffic comes back again (nothing did for {} s)",
                    d.as_secs()
                ),
                None => {}
            }
        }
    }

    /// Every 5 s: decrypted packets the kernel dropped by reverse-path filtering
    /// (the other direction of "up but no data": ikev2d delivered them to the TUN,
    /// the kernel threw them away). The count is the network namespace's, so it is
    /// blamed on the tunnel only while the TUN device filters at all.
    pub(super) fn watch_rp_filter(&mut self, now: Instant) {
        if self
            .rp_checked
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(5))
        {
            return;
        }
        self.rp_checked = Some(now);
        let Some(count) = super::super::rp_filter::dropped() else {
            return;
        };
        let Some(rise) = self.rp_watch.observe(count, now) else {
            return;
        };
        let tun = &self.config.daemon.tun_name;
        let filtering = super::super::rp_filter::effective(
            std::path::Path::new("/proc/sys/net/ipv4/conf"),
            tun,
        )
        .is_some_and(|v| v != 0);
        if filtering {
            tracing::warn!(
                "the kernel dropped {rise} packet(s) by reverse-path filtering (rp_filter on \
                 {tun}): decrypted packets whose source it would route back elsewhere never \
                 reach their destination; check the routes toward the children's remote_ts \
                 and set net.ipv4.conf.{tun}.rp_filter=2"
            );
        }
    }

    /// The warning of a child one-way for `d`, in the operator's words.
    fn one_way_text(&self, conn: &str, child: &str, d: Duration) -> String {
        let cfg = self.config.connections.iter().find(|c| c.name == conn);
        match cfg.and_then(|c| Some((c, c.children.iter().find(|x| x.name == child)?))) {
            Some((c, ch)) => warning(c, ch, d),
            None => format!("nothing comes back for {} s", d.as_secs()),
        }
    }
}

/// The warning of child `ch` of `c`, one-way for `d`.
pub fn warning(c: &crate::config::Connection, ch: &crate::config::Child, d: Duration) -> String {
    let list = |ts: &[ikev2::ts::TsSpec]| {
        ts.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let ike = if c.dpd_delay.is_zero() {
        "the IKE SA is up (dpd_delay is 0, so whether the peer lives is not checked)"
    } else {
        "the IKE SA is alive (the peer answers liveness checks)"
    };
    one_way_sentence(&list(&ch.remote_ts), &list(&ch.local_ts), d, ike)
}

/// "sending to 10.2.0.0/24 but nothing comes back for 45 s: ...".
pub fn one_way_sentence(remote: &str, local: &str, d: Duration, ike: &str) -> String {
    format!(
        "sending to {remote} but nothing comes back for {} s: the peer's firewall, its \
         routes back to {local}, or its selectors; {ike}",
        d.as_secs()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sending_without_answers_for_the_threshold_is_one_way_until_an_answer() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let after = s(30);
        let mut c = ChildTraffic::default();
        // Traffic both ways: never.
        for i in 0..40 {
            c.packet(false, t0 + s(i));
            c.packet(true, t0 + s(i));
            assert_eq!(c.observe(after, t0 + s(i)), None);
        }
        // From 40 s on only outbound.
        for i in 40..70 {
            c.packet(false, t0 + s(i));
            assert_eq!(c.observe(after, t0 + s(i)), None, "at {i}");
        }
        c.packet(false, t0 + s(70));
        assert_eq!(c.observe(after, t0 + s(70)), Some(Change::Began(s(30))));
        assert_eq!(c.one_way_for(t0 + s(75)), Some(s(35)));
        c.packet(false, t0 + s(80));
        assert_eq!(c.observe(after, t0 + s(80)), None, "said once");
        // An answer ends it.
        c.packet(true, t0 + s(81));
        assert_eq!(c.observe(after, t0 + s(81)), Some(Change::Ended(s(41))));
        assert_eq!(c.one_way_for(t0 + s(82)), None);
    }

    #[test]
    fn idle_or_disabled_is_never_one_way() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut c = ChildTraffic::default();
        c.packet(false, t0);
        // One packet, then silence both ways: not "sending".
        assert_eq!(c.observe(s(30), t0 + s(60)), None);
        let mut c = ChildTraffic::default();
        for i in 0..100 {
            c.packet(false, t0 + s(i));
            assert_eq!(c.observe(Duration::ZERO, t0 + s(i)), None);
        }
    }
}
