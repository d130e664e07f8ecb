//! What each of a connection's configured peer addresses (`remote_addrs`) last did,
//! and the failovers between them: an established IKE SA whose peer stopped
//! answering is remembered until the connection is up again, then reported as
//! [`Reconnected`] (to another address: a failover).
//!
//! Only configured addresses are kept (never the sources of responder connections
//! with ranges), so the table stays as small as the configuration.

use core::fmt;
use core::net::IpAddr;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The last result of one peer address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// An IKE SA with it was established.
    Established,
    /// Setting up with it failed, or its established IKE SA died: why, in words.
    Failed(String),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Established => f.write_str("established"),
            Outcome::Failed(why) => write!(f, "failed: {why}"),
        }
    }
}

/// One configured peer address of a connection with its last result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteStatus {
    pub addr: IpAddr,
    /// The DNS name it was resolved from, if it was.
    pub name: Option<String>,
    /// When and how the last attempt with it ended; `None` if never tried.
    pub last: Option<(Instant, Outcome)>,
}

/// A connection is up again after its peer stopped answering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconnected {
    pub conn: String,
    /// The address that stopped answering.
    pub from: IpAddr,
    /// The address the new IKE SA is with (the same one: it answers again).
    pub to: IpAddr,
    /// How the dead peer was noticed ("DPD", "no answer to CREATE_CHILD_SA", ...).
    pub why: String,
    /// From the last message heard from `from` to the new IKE SA.
    pub gap: Duration,
}

impl Reconnected {
    /// Whether another address took over.
    pub fn is_failover(&self) -> bool {
        self.from != self.to
    }
}

impl fmt::Display for Reconnected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let gap = self.gap.as_secs_f64();
        if self.is_failover() {
            write!(
                f,
                "{}: {} stopped answering ({}), now using {} after {gap:.1} s",
                self.conn, self.from, self.why, self.to
            )
        } else {
            write!(
                f,
                "{}: {} stopped answering ({}) and answers again: up after {gap:.1} s",
                self.conn, self.from, self.why
            )
        }
    }
}

#[derive(Debug, Clone)]
struct Lost {
    addr: IpAddr,
    last_heard: Instant,
    why: String,
}

#[derive(Debug, Default)]
struct ConnRemotes {
    last: HashMap<IpAddr, (Instant, Outcome)>,
    lost: Option<Lost>,
    /// Addresses whose established SA just died: the next pass over the list gives
    /// them one short try only (see `IkeSa::short_budget`).
    just_died: Option<IpAddr>,
}

/// Per connection name: the configured addresses' last results.
#[derive(Debug, Default)]
pub(crate) struct RemoteLog {
    conns: HashMap<String, ConnRemotes>,
}

impl RemoteLog {
    /// Setting up with `addr` (a configured address of `conn`) failed, or its SA died.
    pub(crate) fn failed(&mut self, conn: &str, addr: IpAddr, now: Instant, why: String) {
        self.entry(conn)
            .last
            .insert(addr, (now, Outcome::Failed(why)));
    }

    /// The established IKE SA of `conn` with `addr` died: nothing heard since
    /// `last_heard`.
    pub(crate) fn lost(
        &mut self,
        conn: &str,
        addr: IpAddr,
        last_heard: Instant,
        now: Instant,
        why: String,
    ) {
        let e = self.entry(conn);
        e.last.insert(
            addr,
            (now, Outcome::Failed(format!("stopped answering ({why})"))),
        );
        // A second death before the connection came back keeps the first: the gap
        // counts from the first peer that went silent.
        e.lost.get_or_insert(Lost {
            addr,
            last_heard,
            why,
        });
        e.just_died = Some(addr);
    }

    /// The address whose SA of `conn` just died, taken (one restart uses it).
    pub(crate) fn take_just_died(&mut self, conn: &str) -> Option<IpAddr> {
        self.conns.get_mut(conn).and_then(|c| c.just_died.take())
    }

    /// An IKE SA of `conn` with `addr` is established; if the connection had lost its
    /// peer, how it came back.
    pub(crate) fn established(
        &mut self,
        conn: &str,
        addr: IpAddr,
        configured: bool,
        now: Instant,
    ) -> Option<Reconnected> {
        let e = self.entry(conn);
        if configured {
            e.last.insert(addr, (now, Outcome::Established));
        }
        e.just_died = None;
        let lost = e.lost.take()?;
        Some(Reconnected {
            conn: conn.to_owned(),
            from: lost.addr,
            to: addr,
            why: lost.why,
            gap: now.saturating_duration_since(lost.last_heard),
        })
    }

    /// The configured addresses of `conn` in order, with their last results.
    pub(crate) fn status(&self, conn: &str, configured: &[IpAddr]) -> Vec<RemoteStatus> {
        let c = self.conns.get(conn);
        configured
            .iter()
            .map(|a| RemoteStatus {
                addr: *a,
                name: None,
                last: c.and_then(|c| c.last.get(a).cloned()),
            })
            .collect()
    }

    /// Forgets connections no longer configured and addresses no longer listed.
    pub(crate) fn retain(&mut self, configured: impl Fn(&str) -> Option<Vec<IpAddr>>) {
        self.conns.retain(|name, c| match configured(name) {
            Some(addrs) => {
                c.last.retain(|a, _| addrs.contains(a));
                true
            }
            None => false,
        });
    }

    fn entry(&mut self, conn: &str) -> &mut ConnRemotes {
        self.conns.entry(conn.to_owned()).or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(core::net::Ipv4Addr::new(198, 51, 100, 2));
    const B: IpAddr = IpAddr::V4(core::net::Ipv4Addr::new(198, 51, 100, 3));

    #[test]
    fn a_lost_peer_is_reported_once_when_the_connection_is_back() {
        let mut log = RemoteLog::default();
        let t0 = Instant::now();
        let s = Duration::from_secs;
        assert_eq!(log.established("c", A, true, t0), None);
        log.lost("c", A, t0 + s(10), t0 + s(20), "DPD".into());
        // A second death (the restart's SA to A) keeps the first silence.
        log.lost("c", A, t0 + s(21), t0 + s(22), "DPD".into());
        assert_eq!(log.take_just_died("c"), Some(A));
        assert_eq!(log.take_just_died("c"), None);
        let r = log
            .established("c", B, true, t0 + s(25))
            .expect("reconnected");
        assert!(r.is_failover());
        assert_eq!(r.gap, s(15));
        assert_eq!(
            r.to_string(),
            "c: 198.51.100.2 stopped answering (DPD), now using 198.51.100.3 after 15.0 s"
        );
        assert_eq!(log.established("c", B, true, t0 + s(26)), None);
        let st = log.status("c", &[A, B]);
        assert!(matches!(&st[0].last, Some((_, Outcome::Failed(w))) if w.contains("DPD")));
        assert_eq!(st[1].last, Some((t0 + s(26), Outcome::Established)));
    }

    #[test]
    fn unconfigured_addresses_are_not_kept() {
        let mut log = RemoteLog::default();
        let now = Instant::now();
        log.established("c", A, false, now);
        assert_eq!(log.status("c", &[A])[0].last, None);
        log.failed("c", B, now, "x".into());
        log.retain(|n| (n == "c").then(|| vec![A]));
        assert_eq!(log.status("c", &[A, B])[1].last, None);
        log.retain(|_| None);
        assert!(log.conns.is_empty());
    }
}
