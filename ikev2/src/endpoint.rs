//! The [`Endpoint`]: every IKE SA of one daemon, driven by datagrams, time and
//! commands, polled for datagrams, events and the next deadline.
//!
//! It does what strongSwan's `receiver.c` and `ike_sa_manager.c` do before an IKE SA
//! handles a message: sanity-check the size and header, answer IKE_SA_INIT requests (half-open limits, cookies, retransmissions of
//! IKE_SA_INIT), and route everything else by our SPI. Nothing a peer sends can make
//! it panic, and nothing unauthenticated can take down an established SA.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};

use crate::config::{ConnectionConfig, DpdAction, EndpointConfig, Identity};
use crate::cookie::CookieGenerator;
use crate::crypto::algorithms::{EspSuite, IkeSuite};
use crate::crypto::proposal;
use crate::error::{CommandError, Phase};
use crate::event::UsageReport;
use crate::event::{DownReason, Event, Failure, IkeSaId};
use crate::exchange::ike_init::{self, IkeInit, InitKey};
use crate::exchange::informational::Informational;
use crate::exchange::{Task, rules};
use crate::ike_sa::{ChildState, IkeSa};
use crate::nat::NatStatus;
use crate::timer_index::TimerIndex;
use crate::ts::TrafficSelector;
use crate::wire::{
    ErrorKind, ExchangeType, Header, HeaderRepr, IkeSpi, Message, NotifyType, Payload,
};

/// A datagram to send. The sender frames it for the wire: the non-ESP marker in
/// front of an IKE message sent from a port other than 500, the single 0xff octet of
/// a NAT-keepalive (RFC 3948 sections 2.2 and 2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub kind: TransmitKind,
    /// The IKE message, from its header on (never a non-ESP marker); empty for a
    /// NAT-keepalive.
    pub payload: Vec<u8>,
}

/// What a [`Transmit`] carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransmitKind {
    /// An IKE message.
    Ike,
    /// A NAT-keepalive (RFC 3948 section 2.3): the sender writes its one octet.
    NatKeepalive,
}

/// Counters of what the endpoint did with its input. Every dropped datagram is
/// counted under exactly one `dropped_*` reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    pub received: u64,
    pub sent: u64,
    pub dropped_too_large: u64,
    /// Not a well-formed IKE message (header, lengths, payload syntax, decryption
    /// framing).
    pub dropped_parse_error: u64,
    /// No IKE SA with our SPI, or the peer's SPI does not match.
    pub dropped_unknown_spi: u64,
    /// ICV or AEAD tag did not verify.
    pub dropped_bad_icv: u64,
    /// A request whose message ID is neither the expected one nor the last answered.
    pub dropped_out_of_window: u64,
    /// A retransmitted request we answered already and do not answer again (later
    /// fragments of a retransmission, a retransmitted IKE_SA_INIT of an established SA).
    pub dropped_duplicate: u64,
    /// A response that answers nothing we sent, or a message in the wrong state.
    pub dropped_unexpected: u64,
    /// Well-formed but against the protocol (payload rules, flags, nonsense answers).
    pub dropped_invalid: u64,
    /// IKE_SA_INIT without a valid cookie while cookies are required.
    pub dropped_cookie_required: u64,
    pub dropped_half_open_limit: u64,
    pub dropped_block_threshold: u64,
    pub dropped_fragment_limit: u64,
    pub dropped_fragment_timeout: u64,
    pub retransmitted_requests: u64,
    pub retransmitted_responses: u64,
    pub fragmented_messages: u64,
    pub reassembled_messages: u64,
    pub cookies_sent: u64,
    pub cookie_retries: u64,
    pub invalid_ke_sent: u64,
    pub invalid_ke_retries: u64,
    pub nat_detected: u64,
    pub half_open_timeouts: u64,
    pub child_sas_installed: u64,
    pub rekeys_refused: u64,
    /// Diffie-Hellman shared secrets computed (IKE_SA_INIT, IKE SA rekeys, CHILD SAs
    /// with PFS), as initiator or responder: the expensive work a flood aims at.
    pub dh_computations: u64,
}

/// One IKE SA as [`Endpoint::ike_sas`] shows it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IkeSaStatus {
    pub id: IkeSaId,
    pub conn: String,
    /// `CONNECTING`, `AUTHENTICATING`, `ESTABLISHED`, `DELETING`.
    pub state: &'static str,
    pub initiator: bool,
    pub spi_i: IkeSpi,
    pub spi_r: IkeSpi,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub local_id: Identity,
    pub remote_id: Identity,
    /// Once IKE_SA_INIT completed.
    pub suite: Option<IkeSuite>,
    pub nat: NatStatus,
    pub children: Vec<ChildSaStatus>,
}

/// One CHILD SA pair in [`IkeSaStatus`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ChildSaStatus {
    pub name: String,
    /// `INSTALLED`, `REKEYING`, `REKEYED` (replaced, waiting for the Delete),
    /// `DELETING`, `LINGERING` (deleted, inbound SA kept `delete_rekeyed_delay`).
    pub state: &'static str,
    /// Our outbound traffic uses this SA.
    pub outbound: bool,
    pub spi_in: u32,
    pub spi_out: u32,
    pub suite: EspSuite,
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
}

/// What [`Endpoint::reload`] did, connection by connection (names in the order of
/// the new configuration; removed ones in the order of the old).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadSummary {
    /// New connections: they can be initiated and answered now.
    pub added: Vec<String>,
    /// Connections no longer configured: their IKE SAs were terminated (Delete sent,
    /// events as for [`Endpoint::terminate`]).
    pub removed: Vec<String>,
    /// Connections configured differently: their IKE SAs were terminated like the
    /// removed ones; nothing is initiated, the daemon decides (e.g. by `start_action`).
    pub changed: Vec<String>,
    /// Connections configured exactly as before: their SAs, timers and state are
    /// untouched.
    pub unchanged: Vec<String>,
}

/// Endpoint-level work an SA asks for while it handles a message.
#[derive(Debug)]
pub(crate) enum Action {
    /// The peer sent INITIAL_CONTACT: delete our other IKE SAs between these IDs.
    InitialContact {
        keep: IkeSaId,
        local_id: Identity,
        remote_id: Identity,
    },
    /// An IKE SA was rekeyed: route `new` (our new SPI) to it instead of `old`.
    Respi {
        id: IkeSaId,
        old: IkeSpi,
        new: IkeSpi,
    },
    /// A ghost SA (the old incarnation of a rekeyed IKE SA) to add.
    AddSa(Box<IkeSa>),
    /// An established IKE SA of `conn` ended without us deleting it: an exchange
    /// timed out (the peer is dead) or its hard lifetime passed (then the
    /// connection's `dpd_action` decides what follows), or the peer deleted it
    /// (`closed`: its `close_action` decides). strongSwan's `ike_sa.c`
    /// `reestablish()`.
    Reestablish {
        conn: Arc<ConnectionConfig>,
        closed: bool,
    },
    /// Our IKE_SA_INIT or IKE_AUTH of `conn` got no answer and `keyingtries` allows
    /// another try: initiate again, this being try number `keyingtry` + 1.
    Retry {
        conn: Arc<ConnectionConfig>,
        keyingtry: u32,
    },
}

/// State every SA writes to: randomness, output queues, counters.
#[derive(Debug)]
pub(crate) struct Shared {
    pub rng: ChaCha20Rng,
    pub transmits: VecDeque<Transmit>,
    pub events: VecDeque<Event>,
    pub stats: Stats,
    /// Our inbound ESP SPIs in use, with the IKE SA holding each once it is known
    /// (filled in after every operation on an SA), so that the data plane's usage
    /// reports find their SA without a visit to every SA.
    pub child_spis: HashMap<u32, Option<IkeSaId>>,
    pub actions: Vec<Action>,
    /// Tests replaying captures: nonces to use instead of random ones, in order.
    #[cfg(test)]
    pub nonces: VecDeque<Vec<u8>>,
    /// Tests: answer this many of the peer's next CHILD SA rekey requests with
    /// NO_PROPOSAL_CHOSEN (a peer whose configuration changed).
    #[cfg(test)]
    pub refuse_child_rekeys: u32,
    /// Tests: the same for IKE SA rekey requests.
    #[cfg(test)]
    pub refuse_ike_rekeys: u32,
    /// Tests: answer this many new CHILD SA requests with TEMPORARY_FAILURE.
    #[cfg(test)]
    pub busy_child_creates: u32,
}

impl Shared {
    /// Queues an IKE message from `local` to `remote` (the sender adds the non-ESP
    /// marker where the port needs it).
    pub(crate) fn send(&mut self, local: SocketAddr, remote: SocketAddr, msg: &[u8]) {
        self.stats.sent += 1;
        self.transmits.push_back(Transmit {
            local,
            remote,
            kind: TransmitKind::Ike,
            payload: msg.to_vec(),
        });
    }

    /// Queues a NAT-keepalive from `local` to `remote`.
    pub(crate) fn send_keepalive(&mut self, local: SocketAddr, remote: SocketAddr) {
        self.stats.sent += 1;
        self.transmits.push_back(Transmit {
            local,
            remote,
            kind: TransmitKind::NatKeepalive,
            payload: Vec::new(),
        });
    }

    pub(crate) fn event(&mut self, e: Event) {
        self.events.push_back(e);
    }

    /// A fresh inbound ESP SPI: random, not in use, above the reserved 1-255.
    pub(crate) fn new_child_spi(&mut self) -> u32 {
        loop {
            let spi = self.rng.next_u32();
            if spi >= 0x100 && !self.child_spis.contains_key(&spi) {
                self.child_spis.insert(spi, None);
                return spi;
            }
        }
    }
}

/// What an SA sees of the endpoint while it runs.
#[derive(Debug)]
pub(crate) struct Ctx<'a> {
    pub now: Instant,
    pub config: &'a EndpointConfig,
    pub sh: &'a mut Shared,
}

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
            sh: Shared {
                rng: ChaCha20Rng::from_seed(seed),
                transmits: VecDeque::new(),
                events: VecDeque::new(),
                stats: Stats::default(),
                child_spis: HashMap::new(),
                actions: Vec::new(),
                #[cfg(test)]
                nonces: VecDeque::new(),
                #[cfg(test)]
                refuse_child_rekeys: 0,
                #[cfg(test)]
                refuse_ike_rekeys: 0,
                #[cfg(test)]
                busy_child_creates: 0,
            },
            sas: BTreeMap::new(),
            timers: TimerIndex::default(),
            by_spi: HashMap::new(),
            init_index: HashMap::new(),
            half_open_total: 0,
            half_open_by_ip: HashMap::new(),
            cookies: None,
            next_id: 1,
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
            sa.candidates
                .retain(|c| summary.unchanged.iter().any(|n| *n == c.name));
        }
        for id in ids {
            self.terminate_sa(now, id);
        }
        // Deadlines depend on endpoint-wide settings (half-open and reassembly
        // timeouts, keepalives) that may have changed.
        let all: Vec<IkeSaId> = self.sas.keys().copied().collect();
        for id in all {
            self.refresh_timer(id);
        }
        summary
    }

    // -- inputs ----------------------------------------------------------------------

    /// An IKE message received on `local` from `remote`, from its header on: on a
    /// port other than 500 the receiver has already taken off the non-ESP marker and
    /// kept ESP and NAT-keepalives away (RFC 3948 section 2.2).
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
                    self.answer_major_version(&view, local, remote);
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

    /// Starts an IKE SA for connection `conn` (with all its children: the first in
    /// IKE_AUTH, the others with CREATE_CHILD_SA).
    pub fn initiate(&mut self, now: Instant, conn: &str) -> Result<IkeSaId, CommandError> {
        let c = self
            .conns
            .iter()
            .find(|c| c.name == conn)
            .cloned()
            .ok_or_else(|| CommandError::UnknownConnection(conn.to_owned()))?;
        let remote_ip = *c
            .remote_addrs
            .first()
            .ok_or_else(|| CommandError::NoRemoteAddress(conn.to_owned()))?;
        if c.local_addrs.is_empty() && c.local_id.is_any() {
            return Err(CommandError::NoLocalIdentity(conn.to_owned()));
        }
        let group = proposal::first_dh_group(&c.proposals)
            .ok_or_else(|| CommandError::NoDhGroup(conn.to_owned()))?;
        let local_ip = c.local_addrs.first().copied().unwrap_or(match remote_ip {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        });
        let local = SocketAddr::new(local_ip, c.local_port);
        let remote = SocketAddr::new(remote_ip, c.remote_port);
        let spi_i = self.new_ike_spi();
        let id = self.new_id();
        let mut sa = IkeSa::new(id, c.clone(), true, spi_i, IkeSpi::ZERO, local, remote, now);
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

    /// Deletes every IKE SA of connection `conn` (an established one with a Delete
    /// exchange, one being set up at once). Returns how many there were.
    pub fn terminate(&mut self, now: Instant, conn: &str) -> Result<usize, CommandError> {
        if !self.conns.iter().any(|c| c.name == conn) {
            return Err(CommandError::UnknownConnection(conn.to_owned()));
        }
        let ids: Vec<IkeSaId> = self
            .sas
            .iter()
            .filter(|(_, sa)| sa.conn.name == conn)
            .map(|(id, _)| *id)
            .collect();
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
    pub fn rekey_child(&mut self, now: Instant, spi_in: u32) -> Result<(), CommandError> {
        let (id, state) = self.child_state(spi_in)?;
        if state != ChildState::Installed {
            return Err(CommandError::ChildSaBusy(spi_in));
        }
        if let Some(sa) = self.sas.get_mut(&id) {
            sa.start_child_rekey(spi_in);
            let mut ctx = Ctx {
                now,
                config: &self.config,
                sh: &mut self.sh,
            };
            sa.start_next(&mut ctx);
        }
        self.settle(now, id);
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
            let mut ctx = Ctx {
                now,
                config: &self.config,
                sh: &mut self.sh,
            };
            sa.start_next(&mut ctx);
        }
        self.settle(now, id);
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
        let t = self
            .sas
            .get(&id)
            .and_then(|sa| sa.next_timeout(&self.config));
        self.timers.set(id, t);
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
            .map(|sa| IkeSaStatus {
                id: sa.id,
                conn: sa.conn.name.clone(),
                state: sa.state.name(),
                initiator: sa.initiator,
                spi_i: sa.spi_i,
                spi_r: sa.spi_r,
                local: sa.local,
                remote: sa.remote,
                local_id: sa.local_id.clone(),
                remote_id: sa.remote_id.clone(),
                suite: sa.crypto.as_ref().map(|c| c.suite),
                nat: sa.nat,
                children: sa
                    .children
                    .iter()
                    .map(|c| ChildSaStatus {
                        name: c.name.clone(),
                        state: c.state.name(),
                        outbound: c.outbound,
                        spi_in: c.spi_in,
                        spi_out: c.spi_out,
                        suite: c.suite,
                        local_ts: c.local_ts.clone(),
                        remote_ts: c.remote_ts.clone(),
                    })
                    .collect(),
            })
            .collect()
    }

    /// Responder IKE SAs waiting for IKE_AUTH.
    pub fn half_open_count(&self) -> usize {
        self.half_open_total
    }

    // -- internals -------------------------------------------------------------------

    /// Connection `i` as SAs share it.
    #[cfg(test)]
    pub(crate) fn connection(&self, i: usize) -> Arc<ConnectionConfig> {
        self.conns[i].clone()
    }

    /// The next nonce we make (tests replaying captures).
    #[cfg(test)]
    pub(crate) fn push_nonce(&mut self, n: Vec<u8>) {
        self.sh.nonces.push_back(n);
    }

    /// Answers the peer's next `child` CHILD SA rekeys and `ike` IKE SA rekeys with
    /// NO_PROPOSAL_CHOSEN (simulation tests of failed rekeys).
    #[cfg(test)]
    pub(crate) fn refuse_rekeys(&mut self, child: u32, ike: u32) {
        self.sh.refuse_child_rekeys = child;
        self.sh.refuse_ike_rekeys = ike;
    }

    /// Answers the peer's next `n` requests for new CHILD SAs with TEMPORARY_FAILURE.
    #[cfg(test)]
    pub(crate) fn busy_child_creates(&mut self, n: u32) {
        self.sh.busy_child_creates = n;
    }

    /// The IKE SA the SPI index names for inbound ESP SPI `spi_in`.
    #[cfg(test)]
    pub(crate) fn child_owner(&self, spi_in: u32) -> Option<IkeSaId> {
        self.sh.child_spis.get(&spi_in).copied().flatten()
    }

    /// Adds a hand-built SA (tests replaying captures).
    #[cfg(test)]
    pub(crate) fn insert_sa(&mut self, sa: IkeSa) {
        self.by_spi.insert(sa.our_spi(), sa.id);
        self.next_id = self.next_id.max(sa.id.0 + 1);
        let id = sa.id;
        self.sas.insert(id, Box::new(sa));
        self.refresh_timer(id);
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

    /// After an SA ran: endpoint actions, half-open accounting, removal when dead.
    fn settle(&mut self, now: Instant, id: IkeSaId) {
        let actions = std::mem::take(&mut self.sh.actions);
        let mut touched = vec![id];
        for a in actions {
            match a {
                Action::InitialContact {
                    keep,
                    local_id,
                    remote_id,
                } => {
                    for (other, sa) in self.sas.iter_mut() {
                        if *other == keep
                            || !sa.was_up
                            || sa.is_dead()
                            || sa.local_id != local_id
                            || sa.remote_id != remote_id
                        {
                            continue;
                        }
                        let mut ctx = Ctx {
                            now,
                            config: &self.config,
                            sh: &mut self.sh,
                        };
                        sa.go_down(&mut ctx, DownReason::Replaced);
                        touched.push(*other);
                    }
                }
                Action::Respi { id, old, new } => {
                    if self.by_spi.get(&old) == Some(&id) {
                        self.by_spi.remove(&old);
                    }
                    self.by_spi.insert(new, id);
                }
                Action::Reestablish { conn, closed } => self.reestablish(now, &conn.name, closed),
                Action::Retry { conn, keyingtry } => {
                    if self.other_sa_of(&conn.name) {
                        continue;
                    }
                    // Errors here were errors at the first initiate too.
                    if let Ok(id) = self.initiate(now, &conn.name) {
                        if let Some(sa) = self.sas.get_mut(&id) {
                            sa.keyingtry = keyingtry;
                        }
                    }
                }
                Action::AddSa(mut ghost) => {
                    let gid = self.new_id();
                    ghost.id = gid;
                    self.by_spi.insert(ghost.our_spi(), gid);
                    self.sas.insert(gid, ghost);
                    touched.push(gid);
                }
            }
        }
        for id in touched {
            self.settle_one(id);
        }
    }

    /// An established IKE SA of connection `name` ended without us deleting it (peer
    /// dead, hard lifetime: `dpd_action`; deleted by the peer, `closed`:
    /// `close_action`): with `restart` the connection is initiated again (the new SA
    /// sends INITIAL_CONTACT, so the peer drops whatever it kept of the old one);
    /// with `trap` the daemon is told to install a trap policy; with `clear` nothing
    /// happens. The connection's current configuration decides (it may have been
    /// reloaded or removed meanwhile). Nothing is started either if another IKE SA of
    /// the connection is up or on its way already (the peer re-initiated first), so
    /// there are never two.
    fn reestablish(&mut self, now: Instant, name: &str, closed: bool) {
        let Some(conn) = self.conns.iter().find(|c| c.name == name).cloned() else {
            return;
        };
        if self.other_sa_of(name) {
            return;
        }
        let action = if closed {
            conn.close_action
        } else {
            conn.dpd_action
        };
        match action {
            DpdAction::Clear => {}
            DpdAction::Restart => {
                // Errors here were errors at the first initiate too.
                let _ = self.initiate(now, name);
            }
            DpdAction::Trap => self.sh.event(Event::Trap {
                conn: name.to_owned(),
            }),
        }
    }

    /// Whether an IKE SA of connection `name` is up or being set up.
    fn other_sa_of(&self, name: &str) -> bool {
        self.sas
            .values()
            .any(|sa| sa.conn.name == name && !sa.ghost && !sa.is_dead())
    }

    fn settle_one(&mut self, id: IkeSaId) {
        self.settle_sa(id);
        self.refresh_timer(id);
        if let Some(sa) = self.sas.get(&id) {
            for c in &sa.children {
                if let Some(owner) = self.sh.child_spis.get_mut(&c.spi_in) {
                    *owner = Some(id);
                }
            }
        }
    }

    fn settle_sa(&mut self, id: IkeSaId) {
        let Some(sa) = self.sas.get_mut(&id) else {
            return;
        };
        if sa.counted_half_open && !sa.is_half_open() {
            sa.counted_half_open = false;
            self.half_open_total = self.half_open_total.saturating_sub(1);
            if let Some(((_, addr), _)) = sa.init_key {
                if let Some(n) = self.half_open_by_ip.get_mut(&addr.ip()) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        self.half_open_by_ip.remove(&addr.ip());
                    }
                }
            }
        }
        if sa.is_dead() {
            if self.by_spi.get(&sa.our_spi()) == Some(&id) {
                self.by_spi.remove(&sa.our_spi());
            }
            if let Some((key, _)) = sa.init_key {
                if self.init_index.get(&key) == Some(&id) {
                    self.init_index.remove(&key);
                }
            }
            self.sas.remove(&id);
        }
    }

    /// RFC 7296 section 2.5: a request with a major version above 2 is answered
    /// INVALID_MAJOR_VERSION (with version 2 in the header).
    fn answer_major_version(&mut self, view: &Header<'_>, local: SocketAddr, remote: SocketAddr) {
        if view.flags().is_response() || view.major_version() < 2 {
            return;
        }
        let request = HeaderRepr {
            spi_i: view.spi_i(),
            spi_r: view.spi_r(),
            minor_version: 0,
            exchange_type: view.exchange_type(),
            flags: view.flags(),
            message_id: view.message_id(),
        };
        if let Some(m) =
            ike_init::notify_response(&request, NotifyType::INVALID_MAJOR_VERSION, &[2])
        {
            self.sh.send(local, remote, &m);
        }
    }

    /// RFC 7296 section 2.6: while `cookie_threshold` or more SAs are half-open, an
    /// IKE_SA_INIT request must start with a COOKIE notify we made for this initiator
    /// (SPIi, address, Ni); otherwise it is answered with one and forgotten. Returns
    /// whether to go on with the request.
    fn check_cookie(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        hdr: &HeaderRepr,
        payloads: &[Payload<'_>],
    ) -> bool {
        if self.half_open_total < self.config.cookie_threshold {
            return true;
        }
        let rng = &mut self.sh.rng;
        let cookies = self
            .cookies
            .get_or_insert_with(|| CookieGenerator::new(rng, now));
        cookies.maybe_rotate(now, rng);
        let Some(ni) = payloads.iter().find_map(|p| match p {
            Payload::Nonce(n) => Some(n.data),
            _ => None,
        }) else {
            return false;
        };
        if let Some(Payload::Notify(n)) = payloads.first() {
            if n.ty == NotifyType::COOKIE && cookies.verify(n.data, ni, remote.ip(), hdr.spi_i) {
                return true;
            }
        }
        let cookie = cookies.cookie(ni, remote.ip(), hdr.spi_i);
        self.sh.stats.dropped_cookie_required += 1;
        if let Some(m) = ike_init::notify_response(hdr, NotifyType::COOKIE, &cookie) {
            self.sh.stats.cookies_sent += 1;
            self.sh.send(local, remote, &m);
        }
        false
    }

    fn handle_init_request(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        msg: &[u8],
        hdr: &HeaderRepr,
    ) {
        let key: InitKey = (hdr.spi_i, remote);
        let hash: [u8; 32] = Sha256::digest(msg).into();
        if let Some(sa) = self.init_index.get(&key).and_then(|id| self.sas.get(id)) {
            // strongSwan's INVALID_KE retry reuses SPIi, but then we kept no state; a
            // request we hold an SA for is a retransmission if its bytes are the same.
            let same = sa.init_key.is_some_and(|(_, h)| h == hash);
            if same && sa.is_half_open() {
                let response = sa.init_response.clone();
                self.sh.stats.retransmitted_responses += 1;
                self.sh.send(local, remote, &response);
            } else {
                self.sh.stats.dropped_duplicate += 1;
            }
            return;
        }
        let parsed = match Message::parse(msg) {
            Ok(m) => m,
            Err(e) => {
                self.sh.stats.dropped_parse_error += 1;
                if let ErrorKind::UnsupportedCritical(ty) = e.kind() {
                    if let Some(m) = ike_init::notify_response(
                        hdr,
                        NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD,
                        &[ty.0],
                    ) {
                        self.sh.send(local, remote, &m);
                    }
                }
                return;
            }
        };
        if rules::check(ExchangeType::IKE_SA_INIT, false, &parsed.payloads).is_err() {
            self.sh.stats.dropped_invalid += 1;
            return;
        }
        if !self.check_cookie(now, local, remote, hdr, &parsed.payloads) {
            return;
        }
        let cfg = &self.config;
        if cfg.half_open_limit > 0 && self.half_open_total >= cfg.half_open_limit {
            self.sh.stats.dropped_half_open_limit += 1;
            return;
        }
        let from_peer = self.half_open_by_ip.get(&remote.ip()).copied().unwrap_or(0);
        if cfg.block_threshold > 0 && from_peer >= cfg.block_threshold {
            self.sh.stats.dropped_block_threshold += 1;
            return;
        }
        let mut candidates: Vec<(u8, Arc<ConnectionConfig>)> = self
            .conns
            .iter()
            .filter_map(|c| {
                c.address_match(local.ip(), remote.ip())
                    .map(|s| (s, c.clone()))
            })
            .collect();
        candidates.sort_by_key(|c| core::cmp::Reverse(c.0));
        let candidates: Vec<Arc<ConnectionConfig>> =
            candidates.into_iter().map(|(_, c)| c).collect();
        let Some(first) = candidates.first().cloned() else {
            if let Some(m) = ike_init::notify_response(hdr, NotifyType::NO_PROPOSAL_CHOSEN, &[]) {
                self.sh.send(local, remote, &m);
            }
            self.sh.event(Event::Failed(Failure {
                conn: None,
                ike_sa: None,
                child: None,
                phase: Phase::IkeSaInit,
                remote,
                cause: crate::error::Cause::NoConnectionForAddress { local, remote },
                initiator: false,
                ike_sa_kept: false,
                retry_in: None,
            }));
            return;
        };
        let spi_r = self.new_ike_spi();
        let id = self.new_id();
        let mut sa = IkeSa::new(id, first, false, hdr.spi_i, spi_r, local, remote, now);
        sa.candidates = candidates;
        let mut ctx = Ctx {
            now,
            config: &self.config,
            sh: &mut self.sh,
        };
        match ike_init::respond(&mut sa, &mut ctx, msg, &parsed.payloads) {
            Ok(response) => {
                ctx.sh.send(local, remote, &response);
                sa.init_key = Some((key, hash));
                sa.counted_half_open = true;
                self.half_open_total += 1;
                *self.half_open_by_ip.entry(remote.ip()).or_insert(0) += 1;
                self.by_spi.insert(spi_r, id);
                self.init_index.insert(key, id);
                self.sas.insert(id, Box::new(sa));
                self.refresh_timer(id);
            }
            Err(refusal) => {
                if let Some((ty, data)) = refusal.notify {
                    if let Some(m) = ike_init::notify_response(hdr, ty, &data) {
                        ctx.sh.send(local, remote, &m);
                    }
                }
                if let Some(cause) = refusal.failure {
                    ctx.sh.event(Event::Failed(Failure {
                        conn: Some(sa.conn.name.clone()),
                        ike_sa: None,
                        child: None,
                        phase: Phase::IkeSaInit,
                        remote,
                        cause,
                        initiator: false,
                        ike_sa_kept: false,
                        retry_in: None,
                    }));
                }
            }
        }
    }
}
