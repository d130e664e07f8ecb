//! Admission of IKE datagrams to the endpoint: the peer filter (`[daemon]
//! allowed_peers` and the connections' `remote_addrs`, with the peers of just
//! unloaded connections let through while their DELETEs finish) and the per-source
//! IKE_SA_INIT rate limit. What is refused is counted and dropped before the endpoint
//! parses anything, so floods cost no DH. The IKE header is read here once, for the
//! rate limit and the debug trace; nothing else of the message is looked at.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ikev2::wire::Header;

use super::super::dataplane::{DataStats, IkeDatagram};
use super::super::ratelimit;
use super::{Supervisor, trace_ike};
use crate::config::{DaemonConfig, RemoteHost};

/// How often at most the "not allowed" warning is logged.
const WARNING_INTERVAL: Duration = Duration::from_secs(10);

/// How long the peers of an unloaded connection still pass the filter.
pub(super) const DRAIN_TIME: Duration = Duration::from_secs(30);

/// The admission state of the control task.
#[derive(Debug)]
pub(super) struct Admission {
    /// `init_rate_per_source`.
    init_limit: ratelimit::InitRateLimit,
    /// Peers of connections that were just unloaded, until when: their answers to our
    /// DELETE still pass the peer filter.
    draining: HashMap<IpAddr, Instant>,
    /// Rate limit of the "not allowed" warning: one line per [`WARNING_INTERVAL`].
    last_not_allowed_warning: Option<Instant>,
    not_allowed_since_warning: u64,
    /// What each DNS name among the connections' `remote_addrs` last resolved to.
    pub(super) dns: HashMap<String, Vec<IpAddr>>,
}

impl Admission {
    pub(super) fn new(init_rate_per_source: u32) -> Self {
        Self {
            init_limit: ratelimit::InitRateLimit::new(init_rate_per_source),
            draining: HashMap::new(),
            last_not_allowed_warning: None,
            not_allowed_since_warning: 0,
            dns: HashMap::new(),
        }
    }

    /// Lets `ip` through the peer filter until `until`.
    pub(super) fn drain(&mut self, ip: IpAddr, until: Instant) {
        self.draining.insert(ip, until);
    }

    /// Forgets draining peers whose time is up.
    pub(super) fn expire(&mut self, now: Instant) {
        self.draining.retain(|_, until| *until > now);
    }

    /// Whether `d` may reach the endpoint (`active`: the active break-glass
    /// connections); what is refused is counted in `stats`. Gives the message's IKE
    /// header as read (or why it is not one: the endpoint counts that).
    pub(super) fn admit<'a>(
        &mut self,
        config: &DaemonConfig,
        active: impl Fn(&str) -> bool,
        stats: &DataStats,
        d: &'a IkeDatagram,
    ) -> Option<Result<Header<'a>, ikev2::wire::Error>> {
        let ip = d.remote.ip();
        let dns = |n: &str| self.dns.get(n).cloned();
        if !peer_allowed_with(config, active, &dns, ip) && !self.draining.contains_key(&ip) {
            stats.ike_not_allowed.fetch_add(1, Ordering::Relaxed);
            self.not_allowed_since_warning += 1;
            let now = Instant::now();
            if self
                .last_not_allowed_warning
                .is_none_or(|t| now.duration_since(t) >= WARNING_INTERVAL)
            {
                tracing::warn!(
                    "IKE from {} dropped: not in allowed_peers or any connection's remote_addrs \
                     ({} such datagram(s) since the last warning)",
                    d.remote,
                    self.not_allowed_since_warning
                );
                self.last_not_allowed_warning = Some(now);
                self.not_allowed_since_warning = 0;
            }
            return None;
        }
        let hdr = Header::new_checked(&d.msg);
        if hdr.as_ref().is_ok_and(ratelimit::is_new_ike_sa_request)
            && !self.init_limit.allow(ip, Instant::now())
        {
            stats.ike_init_rate_limited.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(hdr)
    }
}

impl Supervisor {
    /// An IKE message from a reader or the inbound worker: to the endpoint if admitted.
    pub(super) fn ike_datagram(&mut self, d: IkeDatagram) {
        let active = &self.break_glass;
        let Some(hdr) = self.admission.admit(
            &self.config,
            |c| active.contains_key(c),
            &self.data.stats,
            &d,
        ) else {
            return;
        };
        trace_ike("received", d.local, d.remote, &hdr, d.msg.len());
        if d.local.port() != 500 {
            self.nat.datagram(d.remote.ip(), Instant::now(), false);
        }
        self.endpoint
            .handle_datagram(Instant::now(), d.local, d.remote, &d.msg);
    }
}

/// Whether IKE from `ip` may reach the state machine: inside `[daemon].allowed_peers`
/// (when set) and a possible peer of some connection (its `remote_addrs`, or any
/// address when a connection has none). Everything else is dropped before parsing,
/// so a stolen PSK is useless from elsewhere and floods cost no DH.
/// Break-glass connections count only while active (see [`peer_allowed_with`]).
pub fn peer_allowed(config: &DaemonConfig, ip: IpAddr) -> bool {
    peer_allowed_with(config, |_| false, &|_| None, ip)
}

/// [`peer_allowed`] with the break-glass connections for which `active` says yes
/// loaded and `dns` giving what a DNS name last resolved to. `remote_addrs` may
/// hold addresses, CIDR ranges and DNS names.
pub fn peer_allowed_with(
    config: &DaemonConfig,
    active: impl Fn(&str) -> bool,
    dns: &dyn Fn(&str) -> Option<Vec<IpAddr>>,
    ip: IpAddr,
) -> bool {
    let ip = ip.to_canonical();
    let peers = &config.daemon.allowed_peers;
    let daemon_ok = peers.is_empty() || peers.iter().any(|&n| crate::config::in_prefix(ip, n));
    daemon_ok
        && config
            .connections
            .iter()
            .filter(|c| c.break_glass.is_none() || active(&c.name))
            .any(|c| {
                (c.remote_addrs.is_empty()
                    && c.remote_ranges.is_empty()
                    && c.remote_hosts.is_empty())
                    || c.remote_addrs.iter().any(|a| a.to_canonical() == ip)
                    || c.remote_hosts.iter().any(|h| match h {
                        RemoteHost::Name(n) => {
                            dns(n).is_some_and(|v| v.iter().any(|a| a.to_canonical() == ip))
                        }
                        RemoteHost::Addr(_) => false,
                    })
                    || c.remote_ranges
                        .iter()
                        .any(|&r| crate::config::in_prefix(ip, r))
            })
}
