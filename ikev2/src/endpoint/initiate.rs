//! Starting IKE SAs as initiator: the candidate list of a connection's peer
//! addresses for one pass (its DNS names resolved first, at every initiation, by the
//! caller: [`Event::Resolve`] / [`Endpoint::resolved`]), and the IKE SA to one of
//! them.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Endpoint;
use crate::config::{ConnectionConfig, RemoteHost};
use crate::crypto::proposal;
use crate::error::{Cause, CommandError, Phase};
use crate::event::{DnsAnswer, Event, IkeSaId};
use crate::exchange::Task;
use crate::exchange::ike_init::IkeInit;
use crate::ike_sa::IkeSa;
use crate::ike_sa::ctx::Ctx;
use crate::wire::IkeSpi;

/// A connection whose DNS names gave no address asks again after this long (one
/// of its `keyingtries` each time).
pub const RESOLVE_RETRY: Duration = Duration::from_secs(10);

impl Endpoint {
    /// Starts an IKE SA for connection `conn` (with all its children: the first in
    /// IKE_AUTH, the others with CREATE_CHILD_SA), to the first of its peer
    /// addresses; if that one fails, the next ones are tried in turn. With DNS names
    /// among them, the SA first waits for their addresses ([`Event::Resolve`]).
    pub fn initiate(&mut self, now: Instant, conn: &str) -> Result<IkeSaId, CommandError> {
        self.begin(now, conn, 0, None)
    }

    /// A new pass over `conn`'s peer addresses, as keying try `keyingtry`; `quick`:
    /// see `IkeSa::short_budget`.
    pub(super) fn begin(
        &mut self,
        now: Instant,
        conn: &str,
        keyingtry: u32,
        quick: Option<IpAddr>,
    ) -> Result<IkeSaId, CommandError> {
        let c = self.conn(conn)?;
        if !c.has_names() {
            let remotes: Arc<[IpAddr]> = c.remote_addrs.clone().into();
            return self.initiate_to(now, conn, remotes, 0, keyingtry, quick);
        }
        Self::check_initiable(&c)?;
        // A placeholder SA (state Connecting, nothing sent) holds the place until the
        // names are resolved: status shows the connection as connecting, terminate
        // and reload end it, and no second initiation starts meanwhile.
        let id = self.new_id();
        let spi_i = self.new_ike_spi();
        let unspecified = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), c.remote_port);
        let mut sa = IkeSa::new(
            id,
            c.clone(),
            true,
            spi_i,
            IkeSpi::ZERO,
            unspecified,
            unspecified,
            now,
        );
        sa.resolving = true;
        sa.keyingtry = keyingtry;
        sa.quick = quick;
        self.by_spi.insert(spi_i, id);
        self.sas.insert(id, Box::new(sa));
        self.sh.event(Event::Resolve {
            conn: conn.to_owned(),
            names: c.remote_names(),
        });
        self.settle(now, id);
        Ok(id)
    }

    /// The resolver's answers for the DNS names of connection `conn` (after
    /// [`Event::Resolve`], or on the caller's own schedule to keep the responder's
    /// view fresh). The answers become what the connection matches peers against;
    /// a connection waiting for them starts its IKE SA with its addresses in
    /// configured order, each name replaced by its addresses. Names that failed are
    /// reported ([`Event::Failed`] with the SA kept); if no address is left at all,
    /// the connection asks again after [`RESOLVE_RETRY`] while `keyingtries` allows.
    pub fn resolved(&mut self, now: Instant, conn: &str, answers: Vec<DnsAnswer>) {
        for (name, answer) in &answers {
            if let Ok(addrs) = answer {
                self.dns.insert(name.clone(), addrs.clone());
            }
        }
        let waiting = self
            .sas
            .iter()
            .find(|(_, sa)| sa.conn.name == conn && sa.resolving && !sa.is_dead())
            .map(|(id, _)| *id);
        let Some(id) = waiting else {
            return;
        };
        let Some(sa) = self.sas.get(&id) else {
            return;
        };
        let c = sa.conn.clone();
        let (keyingtry, quick) = (sa.keyingtry, sa.quick);
        let failed: Vec<(String, String)> = answers
            .iter()
            .filter_map(|(n, a)| a.as_ref().err().map(|e| (n.clone(), e.clone())))
            .collect();
        let mut list: Vec<IpAddr> = Vec::new();
        for h in &c.remote_hosts {
            let addrs: Vec<IpAddr> = match h {
                RemoteHost::Addr(a) => vec![*a],
                RemoteHost::Name(n) => answers
                    .iter()
                    .find(|(name, _)| name == n)
                    .and_then(|(_, a)| a.as_ref().ok().cloned())
                    .unwrap_or_default(),
            };
            for a in addrs {
                if !list.contains(&a) {
                    list.push(a);
                }
            }
        }
        let mut ctx = Ctx {
            now,
            config: &self.config,
            sh: &mut self.sh,
        };
        let Some(sa) = self.sas.get_mut(&id) else {
            return;
        };
        for (name, error) in &failed {
            let cause = Cause::Unresolved {
                name: name.clone(),
                error: error.clone(),
            };
            let mut f = sa.failure(Phase::IkeSaInit, cause, true, None, true);
            f.ike_sa_kept = !list.is_empty();
            ctx.sh.event(Event::Failed(f));
        }
        if list.is_empty() {
            let tries = c.keyingtries;
            let next = keyingtry.saturating_add(1);
            if tries == 0 || tries > next {
                // Kept, asking again later (handle_timeout sends Event::Resolve).
                sa.keyingtry = next;
                sa.resolve_again_at = Some(now + RESOLVE_RETRY);
                self.settle(now, id);
                return;
            }
            sa.go_down(&mut ctx, crate::event::DownReason::Terminated);
            self.settle(now, id);
            return;
        }
        // The placeholder goes; the real SA starts with the first address.
        sa.go_down(&mut ctx, crate::event::DownReason::Terminated);
        self.settle(now, id);
        let _ = self.initiate_to(now, conn, list.into(), 0, keyingtry, quick);
    }

    /// The addresses `c`'s DNS names last resolved to (for matching peers).
    pub(super) fn resolved_addrs(&self, c: &ConnectionConfig) -> Vec<IpAddr> {
        c.remote_names()
            .iter()
            .filter_map(|n| self.dns.get(n))
            .flatten()
            .copied()
            .collect()
    }

    /// An IKE SA for `conn` to `remotes[candidate]`, in keying try `keyingtry`.
    pub(crate) fn initiate_to(
        &mut self,
        now: Instant,
        conn: &str,
        remotes: Arc<[IpAddr]>,
        candidate: usize,
        keyingtry: u32,
        quick: Option<IpAddr>,
    ) -> Result<IkeSaId, CommandError> {
        let c = self.conn(conn)?;
        let remote_ip = *remotes
            .get(candidate)
            .ok_or_else(|| CommandError::NoRemoteAddress(conn.to_owned()))?;
        let group = Self::check_initiable(&c)?;
        // A local address of the peer's family, else the unspecified one (the
        // daemon's socket fills it in).
        let local_ip = c
            .local_addrs
            .iter()
            .find(|a| a.is_ipv4() == remote_ip.is_ipv4())
            .copied()
            .unwrap_or(match remote_ip {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            });
        let local = SocketAddr::new(local_ip, c.local_port);
        let remote = SocketAddr::new(remote_ip, c.remote_port);
        let spi_i = self.new_ike_spi();
        let id = self.new_id();
        let mut sa = IkeSa::new(id, c.clone(), true, spi_i, IkeSpi::ZERO, local, remote, now);
        sa.remotes = remotes;
        sa.candidate = candidate;
        sa.keyingtry = keyingtry;
        sa.quick = quick;
        sa.first_contact = !self
            .sas
            .values()
            .any(|s| s.conn.name == c.name && s.is_established());
        let mut ctx = Ctx {
            now,
            config: &self.config,
            sh: &mut self.sh,
        };
        let task =
            IkeInit::new(&mut ctx, group).map_err(|_| CommandError::NoDhGroup(conn.to_owned()))?;
        sa.queue.push_back(Task::IkeInit(Box::new(task)));
        sa.start_next(&mut ctx);
        self.by_spi.insert(spi_i, id);
        self.sas.insert(id, Box::new(sa));
        self.settle(now, id);
        Ok(id)
    }

    fn conn(&self, name: &str) -> Result<Arc<ConnectionConfig>, CommandError> {
        self.conns
            .iter()
            .find(|c| c.name == name)
            .cloned()
            .ok_or_else(|| CommandError::UnknownConnection(name.to_owned()))
    }

    /// What an initiation of `c` needs besides an address: an identity and a DH
    /// group to start with.
    fn check_initiable(c: &ConnectionConfig) -> Result<crate::wire::DhGroup, CommandError> {
        if c.local_addrs.is_empty() && c.local_id.is_any() {
            return Err(CommandError::NoLocalIdentity(c.name.clone()));
        }
        if c.remote_addrs.is_empty() && !c.has_names() {
            return Err(CommandError::NoRemoteAddress(c.name.clone()));
        }
        proposal::first_dh_group(&c.proposals)
            .ok_or_else(|| CommandError::NoDhGroup(c.name.clone()))
    }
}
