//! The [`Endpoint`]: every IKE SA of one daemon, driven by datagrams, time and
//! commands, polled for datagrams, events and the next deadline.
//!
//! It does what strongSwan's `receiver.c` and `ike_sa_manager.c` do before an IKE SA
//! handles a message (which comes without the non-ESP marker: the socket edge strips
//! it): sanity-check the size and header, hand IKE_SA_INIT requests to admission
//! ([`admission`]: half-open limits, cookies, retransmissions of IKE_SA_INIT), and
//! route everything else by our SPI; after an SA ran, [`settle`] carries out what it
//! asked for. Commands (initiate,
//! terminate, rekey, reload) and the outputs are here. Nothing a peer sends can make
//! it panic, and nothing unauthenticated can take down an established SA.

use core::net::{IpAddr, SocketAddr};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand_core::RngCore;

use crate::config::{ConnectionConfig, EndpointConfig};
use crate::cookie::CookieGenerator;
use crate::error::CommandError;
use crate::event::{DownReason, Event, IkeSaId, UsageReport};
use crate::exchange::Task;
use crate::exchange::ike_init::InitKey;
use crate::exchange::informational::Informational;
use crate::exchange::refusal::Refusal;
use crate::ike_sa::ctx::{Ctx, Shared, Transmit};
use crate::ike_sa::{ChildState, IkeSa};
use crate::status::{IkeSaStatus, ReloadSummary, Stats};
use crate::timer_index::TimerIndex;
use crate::wire::{ErrorKind, ExchangeType, Header, HeaderRepr, IkeSpi};

mod admission;
mod failover;
mod initiate;
mod settle;
#[cfg(test)]
mod test_hooks;

/// All IKE SAs of a daemon. Sans-IO: see the crate documentation.
#[derive(Debug)]
pub struct Endpoint {
    config: Arc<EndpointConfig>,
    conns: Vec<Arc<ConnectionConfig>>,
    sh: Shared,
    /// Boxed: an `IkeSa` is a few KiB, and B-tree nodes keep up to 11 values inline,
    /// about half of them empty after sequential inserts; boxing halved the heap per
    /// established SA (docs/performance.md, `scripts/bench memprofile`).
    sas: BTreeMap<IkeSaId, Box<IkeSa>>,
    /// Every SA's next deadline (kept in step by `refresh_timer`).
    timers: TimerIndex,
    by_spi: HashMap<IkeSpi, IkeSaId>,
    /// Responder SAs by the initiator's SPI and address of their IKE_SA_INIT.
    init_index: HashMap<InitKey, IkeSaId>,
    half_open_total: usize,
    half_open_by_ip: HashMap<IpAddr, usize>,
    /// Made at the first IKE_SA_INIT request (it needs a time).
    cookies: Option<CookieGenerator>,
    next_id: u64,
    /// The last answer for each DNS name among the connections' peer addresses
    /// (what a responder matches peers against).
    dns: HashMap<String, Vec<IpAddr>>,
    /// NAT-keepalive intervals set at run time, by connection name
    /// ([`Endpoint::set_keep_alive`]).
    keep_alive_tuned: HashMap<String, Duration>,
}

impl Endpoint {
    /// An endpoint with `config`. All randomness (SPIs, nonces, DH private values,
    /// IVs) comes from a ChaCha20 generator seeded with `seed`: the daemon passes 32
    /// octets from the OS, tests a constant to be reproducible.
    pub fn new(config: Arc<EndpointConfig>, seed: [u8; 32]) -> Self {
        let conns = config.connections.iter().cloned().map(Arc::new).collect();
        Self {
            config,
            conns,
            sh: Shared::new(seed),
            sas: BTreeMap::new(),
            timers: TimerIndex::default(),
            by_spi: HashMap::new(),
            init_index: HashMap::new(),
            half_open_total: 0,
            half_open_by_ip: HashMap::new(),
            cookies: None,
            next_id: 1,
            dns: HashMap::new(),
            keep_alive_tuned: HashMap::new(),
        }
    }

    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    /// Replaces the configuration (`swanctl --load-all`). Connections are compared by
    /// name: the IKE SAs (and with them the CHILD SAs) of removed and changed
    /// connections are terminated as [`terminate`](Self::terminate) does; those of
    /// unchanged connections keep running untouched (same SPIs, keys, timers).
    /// Added and changed connections take effect for the next `initiate` and the next
    /// IKE_SA_INIT from a peer. Endpoint-wide settings (secrets, cookies and
    /// half-open limits, retransmission, fragment size, keepalives ...) apply from now
    /// on to all work, including the running SAs' next exchanges. Of two connections
    /// with the same name the first counts, as for `initiate`.
    pub fn reload(&mut self, now: Instant, config: Arc<EndpointConfig>) -> ReloadSummary {
        let mut summary = ReloadSummary::default();
        let mut seen: HashSet<&str> = HashSet::new();
        let mut conns = Vec::with_capacity(config.connections.len());
        for new in &config.connections {
            let old = self.conns.iter().find(|c| c.name == new.name);
            let first = seen.insert(new.name.as_str());
            match old {
                Some(old) if **old == *new => {
                    if first {
                        summary.unchanged.push(new.name.clone());
                    }
                    conns.push(old.clone());
                }
                Some(old) if old.same_apart_from_credentials(new) => {
                    if first {
                        summary.credentials.push(new.name.clone());
                    }
                    conns.push(Arc::new(new.clone()));
                }
                Some(_) => {
                    if first {
                        summary.changed.push(new.name.clone());
                    }
                    conns.push(Arc::new(new.clone()));
                }
                None => {
                    if first {
                        summary.added.push(new.name.clone());
                    }
                    conns.push(Arc::new(new.clone()));
                }
            }
        }
        for old in &self.conns {
            if !seen.contains(old.name.as_str()) && !summary.removed.contains(&old.name) {
                summary.removed.push(old.name.clone());
            }
        }
        self.conns = conns;
        self.config = config;
        let gone: HashSet<&str> = summary
            .removed
            .iter()
            .chain(&summary.changed)
            .map(String::as_str)
            .collect();
        let ids: Vec<IkeSaId> = self
            .sas
            .iter()
            .filter(|(_, sa)| gone.contains(sa.conn.name.as_str()))
            .map(|(id, _)| *id)
            .collect();
        for sa in self.sas.values_mut() {
            // A half-open responder SA picks its connection in IKE_AUTH: only among
            // those still configured as they were.
            sa.candidates.retain(|c| {
                summary
                    .unchanged
                    .iter()
                    .chain(&summary.credentials)
                    .any(|n| *n == c.name)
            });
        }
        for id in ids {
            self.terminate_sa(now, id);
        }
        let known: Vec<(String, Vec<IpAddr>)> = self
            .conns
            .iter()
            .map(|c| {
                let addrs = self.candidates(c).into_iter().map(|(a, _)| a).collect();
                (c.name.clone(), addrs)
            })
            .collect();
        self.sh.remotes.retain(|name| {
            known
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, a)| a.clone())
        });
        // Deadlines depend on endpoint-wide settings (half-open and reassembly
        // timeouts, keepalives) that may have changed.
        let all: Vec<IkeSaId> = self.sas.keys().copied().collect();
        for id in all {
            self.refresh_timer(id);
        }
        summary
    }

    // -- inputs ----------------------------------------------------------------------

    /// A UDP datagram received on `local` from `remote`.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        msg: &[u8],
    ) {
        self.sh.stats.received += 1;
        if msg.len() > self.config.max_packet {
            self.sh.stats.dropped_too_large += 1;
            return;
        }
        let Ok(view) = Header::new_checked(msg) else {
            self.sh.stats.dropped_parse_error += 1;
            return;
        };
        let hdr = match HeaderRepr::parse(&view) {
            Ok(h) => h,
            Err(e) => {
                self.sh.stats.dropped_parse_error += 1;
                if let ErrorKind::InvalidMajorVersion(_) = e.kind() {
                    self.answer_major_version(&view, local, remote, &Refusal::malformed(&e));
                }
                return;
            }
        };
        if usize::try_from(view.length()).ok() != Some(msg.len()) {
            self.sh.stats.dropped_parse_error += 1;
            return;
        }
        let is_init_request = hdr.spi_r.is_zero() && !hdr.flags.is_response();
        if is_init_request {
            if hdr.exchange_type == ExchangeType::IKE_SA_INIT
                && hdr.message_id == 0
                && hdr.flags.is_initiator()
            {
                self.handle_init_request(now, local, remote, msg, &hdr);
            } else {
                self.sh.stats.dropped_unknown_spi += 1;
            }
            return;
        }
        // The peer's I flag tells which half of the header is our SPI.
        let (ours, theirs) = if hdr.flags.is_initiator() {
            (hdr.spi_r, hdr.spi_i)
        } else {
            (hdr.spi_i, hdr.spi_r)
        };
        let Some(&id) = self.by_spi.get(&ours) else {
            self.sh.stats.dropped_unknown_spi += 1;
            return;
        };
        let Some(sa) = self.sas.get_mut(&id) else {
            self.sh.stats.dropped_unknown_spi += 1;
            return;
        };
        let peer_spi = if sa.initiator { sa.spi_r } else { sa.spi_i };
        // Before IKE_SA_INIT completes the initiator does not know SPIr yet.
        if peer_spi != theirs && !peer_spi.is_zero() {
            self.sh.stats.dropped_unknown_spi += 1;
            return;
        }
        let mut ctx = Ctx {
            now,
            config: &self.config,
            sh: &mut self.sh,
        };
        sa.handle_message(&mut ctx, local, remote, msg, &hdr);
        self.settle(now, id);
    }

    /// Timers whose deadline is `now` or earlier fire.
    pub fn handle_timeout(&mut self, now: Instant) {
        // The index may name an SA whose deadline moved later: it is only re-entered.
        for id in self.timers.due(now) {
            let due = self
                .sas
                .get(&id)
                .and_then(|sa| sa.next_timeout(&self.config))
                .is_some_and(|t| t <= now);
            if !due {
                self.refresh_timer(id);
                continue;
            }
            if let Some(sa) = self.sas.get_mut(&id) {
                let mut ctx = Ctx {
                    now,
                    config: &self.config,
                    sh: &mut self.sh,
                };
                sa.handle_timeout(&mut ctx);
            }
            self.settle(now, id);
        }
    }

    /// What the data plane counted on a CHILD SA pair: traffic postpones DPD;
    /// `rekey_bytes`/`rekey_packets`, the soft limit and sequence number exhaustion
    /// start a rekey (unless a rekey failed already: then its retry comes on its own
    /// schedule); the hard limit removes the SA (and tells the peer).
    pub fn handle_usage(&mut self, now: Instant, report: UsageReport) {
        let matches = |sa: &IkeSa| {
            sa.children
                .iter()
                .position(|c| c.spi_in == report.spi_in || c.spi_out == report.spi_out)
        };
        let Some((id, i)) = self.find_child(report.spi_in, matches) else {
            return;
        };
        let Some(sa) = self.sas.get_mut(&id) else {
            return;
        };
        if let Some(t) = report.last_inbound {
            if t > sa.last_received && t <= now {
                sa.last_received = t;
            }
        }
        let c = &mut sa.children[i];
        let cfg = sa.conn.children.iter().find(|cfg| cfg.name == c.name);
        let over = |limit: u64, n: u64| limit > 0 && n >= limit;
        let rekey = report.soft_limit_reached
            || report.seq_exhausted
            || cfg.is_some_and(|cfg| {
                over(cfg.rekey_bytes, report.bytes) || over(cfg.rekey_packets, report.packets)
            });
        if report.hard_limit_reached {
            c.expire_at = Some(now);
        } else if rekey
            && c.rekey_at.is_none_or(|t| t > now)
            && c.state == ChildState::Installed
            && !c.rekey_retry
        {
            c.rekey_at = Some(now);
        } else {
            self.refresh_timer(id);
            return;
        }
        self.refresh_timer(id);
        self.handle_timeout(now);
        self.settle(now, id);
    }

    /// Deletes every IKE SA of connection `conn` (an established one with a Delete
    /// exchange, one being set up at once). Returns how many there were.
    pub fn terminate(&mut self, now: Instant, conn: &str) -> Result<usize, CommandError> {
        if !self.conns.iter().any(|c| c.name == conn) {
            return Err(CommandError::UnknownConnection(conn.to_owned()));
        }
        let ids = self.ids_of(conn);
        for &id in &ids {
            self.terminate_sa(now, id);
        }
        Ok(ids.len())
    }

    /// The IKE SA for which `pick` finds something, asked first of the SA the SPI index
    /// names for inbound SPI `spi_in`, then of every SA (a CHILD SA the index does not
    /// know yet, or a report naming only the outbound SPI).
    fn find_child<T>(
        &self,
        spi_in: u32,
        pick: impl Fn(&IkeSa) -> Option<T>,
    ) -> Option<(IkeSaId, T)> {
        let hinted = self
            .sh
            .child_spis
            .get(&spi_in)
            .copied()
            .flatten()
            .and_then(|id| self.sas.get(&id).and_then(|sa| pick(sa)).map(|t| (id, t)));
        hinted.or_else(|| {
            self.sas
                .iter()
                .find_map(|(id, sa)| pick(sa).map(|t| (*id, t)))
        })
    }

    /// The peer's address and the NAT status of the IKE SA holding the CHILD SA with
    /// inbound SPI `spi_in` (an index lookup, not a walk over all SAs).
    pub fn child_peer(&self, spi_in: u32) -> Option<(SocketAddr, crate::nat::NatStatus)> {
        self.find_child(spi_in, |sa| {
            sa.children
                .iter()
                .any(|c| c.spi_in == spi_in)
                .then_some((sa.remote, sa.nat))
        })
        .map(|(_, peer)| peer)
    }

    /// The IKE SA holding the CHILD SA with inbound SPI `spi_in`, and the child's state.
    fn child_state(&self, spi_in: u32) -> Result<(IkeSaId, ChildState), CommandError> {
        self.find_child(spi_in, |sa| {
            sa.children
                .iter()
                .find(|c| c.spi_in == spi_in)
                .map(|c| c.state.clone())
        })
        .ok_or(CommandError::UnknownChildSa(spi_in))
    }

    /// Rekeys the CHILD SA with inbound SPI `spi_in` now (`swanctl --rekey --child`).
    /// [`CommandError::ChildSaRekeying`] while a rekey of it runs (ours, or the
    /// peer's: its replacement exists, or it is the replacement the peer has not
    /// started to use and may not know yet); [`CommandError::ChildSaBusy`] while it is
    /// being deleted.
    pub fn rekey_child(&mut self, now: Instant, spi_in: u32) -> Result<(), CommandError> {
        let (id, state) = self
            .find_child(spi_in, |sa| {
                sa.children
                    .iter()
                    .find(|c| c.spi_in == spi_in)
                    .map(|c| (c.state.clone(), c.pending_switch.is_some()))
            })
            .ok_or(CommandError::UnknownChildSa(spi_in))?;
        match state {
            (ChildState::Installed, false) => {}
            // The peer's rekey made it (the SA not switched to yet), or a rekey runs.
            (ChildState::Installed, true) | (ChildState::Rekeying | ChildState::Rekeyed, _) => {
                return Err(CommandError::ChildSaRekeying(spi_in));
            }
            _ => return Err(CommandError::ChildSaBusy(spi_in)),
        }
        if let Some(sa) = self.sas.get_mut(&id) {
            sa.start_child_rekey(spi_in);
        }
        self.start_queued(now, id);
        Ok(())
    }

    /// Rekeys IKE SA `id` now (`swanctl --rekey --ike`).
    pub fn rekey_ike_sa(&mut self, now: Instant, id: IkeSaId) -> Result<(), CommandError> {
        let sa = self
            .sas
            .get_mut(&id)
            .filter(|sa| sa.is_established() && !sa.ghost)
            .ok_or(CommandError::UnknownIkeSa(id.0))?;
        sa.rekey_at = Some(now);
        self.refresh_timer(id);
        self.handle_timeout(now);
        Ok(())
    }

    /// Probes whether a datagram of `size` octets (the outer IP packet, headers
    /// included) reaches the peer of IKE SA `id`: an INFORMATIONAL request padded to
    /// that size (see `exchange/path_probe.rs`), answered by
    /// [`Event::PathProbed`](crate::event::Event::PathProbed). One probe at a time per
    /// IKE SA ([`CommandError::ProbeBusy`]); it queues behind other requests.
    pub fn probe_path_mtu(
        &mut self,
        now: Instant,
        id: IkeSaId,
        size: usize,
    ) -> Result<(), CommandError> {
        let sa = self
            .sas
            .get_mut(&id)
            .filter(|sa| sa.is_established() && !sa.ghost)
            .ok_or(CommandError::UnknownIkeSa(id.0))?;
        let busy = sa
            .queue
            .iter()
            .chain(sa.active.as_ref())
            .any(|t| matches!(t, Task::PathProbe(_)));
        if busy {
            return Err(CommandError::ProbeBusy(id.0));
        }
        let smallest = crate::exchange::path_probe::PathProbe::smallest(sa)
            .map_err(|_| CommandError::UnknownIkeSa(id.0))?;
        if size < smallest {
            return Err(CommandError::ProbeTooSmall { size, smallest });
        }
        sa.queue.push_back(Task::PathProbe(
            crate::exchange::path_probe::PathProbe::new(size),
        ));
        self.start_queued(now, id);
        Ok(())
    }

    /// Starts the next queued task of IKE SA `id` (if its window allows) and
    /// settles what that did: a command queued one.
    fn start_queued(&mut self, now: Instant, id: IkeSaId) {
        if let Some(sa) = self.sas.get_mut(&id) {
            let mut ctx = Ctx {
                now,
                config: &self.config,
                sh: &mut self.sh,
            };
            sa.start_next(&mut ctx);
        }
        self.settle(now, id);
    }

    /// Deletes the CHILD SA with inbound SPI `spi_in` (`swanctl --terminate --child`).
    pub fn delete_child(&mut self, now: Instant, spi_in: u32) -> Result<(), CommandError> {
        let (id, state) = self.child_state(spi_in)?;
        if matches!(state, ChildState::Deleting | ChildState::Lingering(_)) {
            return Err(CommandError::ChildSaBusy(spi_in));
        }
        if let Some(sa) = self.sas.get_mut(&id) {
            sa.queue.push_back(Task::ChildDelete(
                crate::exchange::child_delete::ChildDelete::redundant(spi_in),
            ));
        }
        self.start_queued(now, id);
        Ok(())
    }

    /// Deletes one IKE SA.
    pub fn terminate_ike_sa(&mut self, now: Instant, id: IkeSaId) -> Result<(), CommandError> {
        if !self.sas.contains_key(&id) {
            return Err(CommandError::UnknownIkeSa(id.0));
        }
        self.terminate_sa(now, id);
        Ok(())
    }

    fn terminate_sa(&mut self, now: Instant, id: IkeSaId) {
        let Some(sa) = self.sas.get_mut(&id) else {
            return;
        };
        let mut ctx = Ctx {
            now,
            config: &self.config,
            sh: &mut self.sh,
        };
        if sa.is_established() {
            let deleting = sa
                .queue
                .iter()
                .chain(sa.active.as_ref())
                .any(|t| matches!(t, Task::Informational(Informational::DeleteIke)));
            if !deleting {
                // Whatever was queued is moot.
                sa.queue.clear();
                sa.queue
                    .push_back(Task::Informational(Informational::DeleteIke));
                sa.start_next(&mut ctx);
            }
        } else {
            sa.go_down(&mut ctx, DownReason::Terminated);
        }
        self.settle(now, id);
    }

    // -- outputs ---------------------------------------------------------------------

    /// The next datagram to send.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.sh.transmits.pop_front()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.sh.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        #[cfg(debug_assertions)]
        self.check_timers();
        self.timers.first()
    }

    /// Debug builds (every test) check the index against the SAs: each SA with a
    /// deadline is entered no later than that deadline.
    #[cfg(debug_assertions)]
    fn check_timers(&self) {
        for (id, sa) in &self.sas {
            if let Some(t) = sa.next_timeout(&self.config) {
                let entered = self.timers.get(*id);
                assert!(
                    entered.is_some_and(|e| e <= t),
                    "timer index out of step for IKE SA {id:?}: entered {entered:?}, due {t:?}"
                );
            }
        }
    }

    /// Re-enter SA `id`'s next deadline (after anything that may have changed it).
    fn refresh_timer(&mut self, id: IkeSaId) {
        let tuned = &self.keep_alive_tuned;
        let t = self.sas.get_mut(&id).and_then(|sa| {
            // Every SA passes here after each change: new ones (initiated, answered,
            // rekeyed) pick up the connection's tuned interval.
            sa.keep_alive_tuned = tuned.get(&sa.conn.name).copied();
            sa.next_timeout(&self.config)
        });
        self.timers.set(id, t);
    }

    /// The IDs of connection `conn`'s IKE SAs (in any state).
    fn ids_of(&self, conn: &str) -> Vec<IkeSaId> {
        self.sas
            .iter()
            .filter(|(_, sa)| sa.conn.name == conn)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Tells the endpoint the wall-clock time: at `now` it is `unix_secs` seconds
    /// since the Unix epoch. Certificates and CRLs are checked against it (the
    /// caller sets it at start and again from time to time, to follow clock steps);
    /// without it, a peer's certificate is not accepted.
    pub fn set_wall_clock(&mut self, now: Instant, unix_secs: u64) {
        self.sh.wall_clock = Some((now, unix_secs));
    }

    /// Sets the NAT-keepalive interval of connection `conn` at run time, for its
    /// IKE SAs now and later (`None`: back to the configured one), e.g. after the
    /// NAT in front of us dropped our mapping during a silence shorter than the
    /// configured interval. Kept across [`reload`](Self::reload); zero turns
    /// keepalives off.
    pub fn set_keep_alive(&mut self, conn: &str, every: Option<Duration>) {
        match every {
            Some(d) => self.keep_alive_tuned.insert(conn.to_owned(), d),
            None => self.keep_alive_tuned.remove(conn),
        };
        let ids = self.ids_of(conn);
        for id in ids {
            self.refresh_timer(id);
        }
    }

    pub fn stats(&self) -> &Stats {
        &self.sh.stats
    }

    /// IKE SAs in any state.
    pub fn ike_sa_count(&self) -> usize {
        self.sas.values().filter(|sa| !sa.ghost).count()
    }

    /// A snapshot of every IKE SA and its CHILD SAs, for status displays.
    pub fn ike_sas(&self) -> Vec<IkeSaStatus> {
        self.sas
            .values()
            .filter(|sa| !sa.ghost)
            .map(|sa| sa.status())
            .collect()
    }

    /// Responder IKE SAs waiting for IKE_AUTH.
    pub fn half_open_count(&self) -> usize {
        self.half_open_total
    }

    fn new_id(&mut self) -> IkeSaId {
        let id = IkeSaId(self.next_id);
        self.next_id += 1;
        id
    }

    fn new_ike_spi(&mut self) -> IkeSpi {
        loop {
            let spi = IkeSpi(self.sh.rng.next_u64());
            if !spi.is_zero() && !self.by_spi.contains_key(&spi) {
                return spi;
            }
        }
    }
}
