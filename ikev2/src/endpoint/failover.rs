//! Inputs that speed up finding a dead peer or a dead address, and what the
//! endpoint knows of each connection's peer addresses:
//! - [`Endpoint::peer_unreachable`]: an ICMP error quoting our IKE_SA_INIT moves
//!   the setup on to the connection's next address at once;
//! - [`Endpoint::check_liveness`]: traffic goes out and nothing comes back, so the
//!   liveness check runs now (bounded by `dpd_timeout`) instead of after
//!   `dpd_delay`;
//! - [`Endpoint::remotes`]: each configured address's last result.

use core::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::Endpoint;
use crate::config::{ConnectionConfig, RemoteHost};
use crate::error::{Cause, CommandError, Phase};
use crate::event::IkeSaId;
use crate::exchange::Task;
use crate::exchange::informational::Informational;
use crate::ike_sa::State;
use crate::ike_sa::ctx::Ctx;
use crate::remotes::RemoteStatus;
use crate::wire::IkeSpi;

/// Octets of an IKE header an ICMP error must quote: both SPIs.
const QUOTED_SPIS: usize = 16;

impl Endpoint {
    /// An ICMP error (`what`: "port unreachable", ...) from `reporter` about a
    /// datagram we sent to `remote`, quoting `quoted` (the IKE message from its
    /// header on, without a non-ESP marker). If it names, by both SPIs, an IKE SA we
    /// are setting up with `remote` and the connection has another address to try,
    /// the setup moves on now. Otherwise nothing happens: ICMP is unauthenticated,
    /// so it never ends an SA that has nowhere else to go, and the 128 bits of SPIs
    /// keep off-path senders from aiming it. Returns whether it was acted on.
    pub fn peer_unreachable(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        reporter: IpAddr,
        what: &'static str,
        quoted: &[u8],
    ) -> bool {
        let Some(spis) = quoted.get(..QUOTED_SPIS) else {
            return false;
        };
        let spi = |b: &[u8]| IkeSpi(u64::from_be_bytes(b.try_into().unwrap_or_default()));
        let (spi_i, spi_r) = (spi(&spis[..8]), spi(&spis[8..]));
        let Some(&id) = self.by_spi.get(&spi_i) else {
            return false;
        };
        let Some(sa) = self.sas.get_mut(&id) else {
            return false;
        };
        let ours = sa.initiator
            && sa.spi_i == spi_i
            && sa.spi_r == spi_r
            && sa.remote == remote
            && matches!(sa.state, State::Connecting | State::Authenticating)
            && sa.next_candidate().is_some();
        if !ours {
            return false;
        }
        let phase = if sa.state == State::Connecting {
            Phase::IkeSaInit
        } else {
            Phase::IkeAuth
        };
        let mut ctx = Ctx {
            now,
            config: &self.config,
            sh: &mut self.sh,
        };
        ctx.sh.stats.unreachable_reports += 1;
        let cause = Cause::Unreachable {
            remote,
            what,
            reporter,
        };
        sa.fail(&mut ctx, phase, cause, true, None);
        self.settle(now, id);
        true
    }

    /// Sends a liveness check (an empty INFORMATIONAL, answered or declared dead
    /// within `dpd_timeout`) on established IKE SA `id` now, unless its peer was
    /// heard from within `quiet`, DPD is off (`dpd_delay` 0), or a request is in
    /// flight or queued already (its own retransmissions tell). Returns whether a
    /// check started.
    pub fn check_liveness(
        &mut self,
        now: Instant,
        id: IkeSaId,
        quiet: Duration,
    ) -> Result<bool, CommandError> {
        let sa = self
            .sas
            .get_mut(&id)
            .filter(|sa| sa.is_established() && !sa.ghost)
            .ok_or(CommandError::UnknownIkeSa(id.0))?;
        let due = !sa.conn.dpd_delay.is_zero()
            && sa.active.is_none()
            && sa.queue.is_empty()
            && now.saturating_duration_since(sa.last_received) >= quiet;
        if due {
            sa.queue.push_back(Task::Informational(Informational::Dpd));
            self.start_queued(now, id);
        }
        Ok(due)
    }

    /// Connection `conn`'s peer addresses in configured order (a DNS name's as it
    /// last resolved, with the name), each with its last result (established, or
    /// why it failed); empty for an unknown connection.
    pub fn remotes(&self, conn: &str) -> Vec<RemoteStatus> {
        let Some(c) = self.conns.iter().find(|c| c.name == conn) else {
            return Vec::new();
        };
        let named = self.candidates(c);
        let addrs: Vec<IpAddr> = named.iter().map(|(a, _)| *a).collect();
        let mut st = self.sh.remotes.status(conn, &addrs);
        for (s, (_, name)) in st.iter_mut().zip(named) {
            s.name = name;
        }
        st
    }

    /// `c`'s peer addresses in configured order, DNS names replaced by their last
    /// answer, each with the name it came from.
    pub(super) fn candidates(&self, c: &ConnectionConfig) -> Vec<(IpAddr, Option<String>)> {
        if !c.has_names() {
            return c.remote_addrs.iter().map(|a| (*a, None)).collect();
        }
        let mut out: Vec<(IpAddr, Option<String>)> = Vec::new();
        for h in &c.remote_hosts {
            let entries: Vec<(IpAddr, Option<String>)> = match h {
                RemoteHost::Addr(a) => vec![(*a, None)],
                RemoteHost::Name(n) => self
                    .dns
                    .get(n)
                    .map(|v| v.iter().map(|a| (*a, Some(n.clone()))).collect())
                    .unwrap_or_default(),
            };
            for e in entries {
                if !out.iter().any(|(a, _)| *a == e.0) {
                    out.push(e);
                }
            }
        }
        out
    }
}
