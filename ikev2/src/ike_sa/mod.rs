//! One IKE SA: its state, keys, message windows, CHILD SAs and the task queue.
//!
//! The endpoint routes each datagram to the SA by SPI; the SA then checks the window
//! (before any crypto), verifies and decrypts (reassembling fragments), checks the
//! payload rules and hands the payloads to the exchange code in [`crate::exchange`].
//! Requests are answered at once and the answer is cached; our own requests run one
//! at a time from a queue of [`Task`]s.
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | the SA's fields, state and keys; established, failure and going down |
//! | `ctx.rs` | what the SA sees of the endpoint ([`ctx::Ctx`], `Shared`, `Action`) |
//! | `receive.rs` | window check, unprotect, reassembly, dispatch to the exchanges |
//! | `send.rs` | protect, transmit, the task queue, requests and responses |
//! | `child.rs` | CHILD SA records: states, retire, switch outbound, remove |
//! | `adopt.rs` | IKE SA rekey adoption: new SPIs and keys, ghosts |
//! | `timers.rs`, `window.rs`, `fragment.rs` | deadlines, message IDs, reassembly |

mod adopt;
mod child;
pub(crate) mod ctx;
pub(crate) mod faults;
pub(crate) mod fragment;
mod receive;
mod send;
pub(crate) mod timers;
pub(crate) mod window;

use core::net::SocketAddr;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{ConnectionConfig, IKE_PORT, Identity, NAT_T_PORT};
use crate::crypto::algorithms::IkeSuite;
use crate::crypto::keymat::IkeKeys;
use crate::crypto::secret::SecretBytes;
use crate::crypto::sk::SkProtector;
use crate::error::{Cause, Phase};
use crate::event::{DownReason, Event, Failure, IkeSaDown, IkeSaId, IkeSaUp};
use crate::exchange::Task;
use crate::nat::NatStatus;
use crate::status::{ChildSaStatus, IkeSaStatus};
use crate::wire::{ExchangeType, Flags, HeaderRepr, IkeSpi};
use ctx::{Action, Ctx};

pub(crate) use adopt::NewIke;
pub(crate) use child::{ChildSa, ChildState};
use fragment::Reassembler;
pub(crate) use timers::Recreate;
use window::{RequestWindow, ResponseWindow};

/// Where an IKE SA is in its life: the state status displays show, one enum for both.
pub(crate) use crate::status::IkeSaState as State;

/// The keys of an IKE SA after IKE_SA_INIT.
pub(crate) struct SaCrypto {
    pub suite: IkeSuite,
    pub sk_d: SecretBytes,
    pub sk_pi: SecretBytes,
    pub sk_pr: SecretBytes,
    pub protector: SkProtector,
    /// SK_ei, SK_er, SK_ai, SK_ar, kept only with `export_keys` (debugging).
    pub export: Option<Box<[SecretBytes; 4]>>,
}

impl core::fmt::Debug for SaCrypto {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SaCrypto")
            .field("suite", &self.suite)
            .field("protector", &self.protector)
            .finish_non_exhaustive()
    }
}

impl SaCrypto {
    /// The keys of an IKE SA from IKE_SA_INIT; `initiator` picks the direction.
    /// `export` keeps a copy of the SK_e/SK_a keys for [`Event::IkeSaKeys`].
    pub(crate) fn new(
        suite: IkeSuite,
        keys: IkeKeys,
        initiator: bool,
        export: bool,
    ) -> Result<Self, Cause> {
        let make = if initiator {
            SkProtector::initiator
        } else {
            SkProtector::responder
        };
        let protector = make(
            suite.encr,
            suite.integ,
            keys.sk_ei.expose(),
            keys.sk_ai.expose(),
            keys.sk_er.expose(),
            keys.sk_ar.expose(),
        )
        .map_err(|e| Cause::Protection(e.into()))?;
        let export = export.then(|| {
            Box::new([
                keys.sk_ei.clone(),
                keys.sk_er.clone(),
                keys.sk_ai.clone(),
                keys.sk_ar.clone(),
            ])
        });
        Ok(Self {
            suite,
            sk_d: keys.sk_d,
            sk_pi: keys.sk_pi,
            sk_pr: keys.sk_pr,
            protector,
            export,
        })
    }
}

#[derive(Debug)]
pub(crate) struct IkeSa {
    pub id: IkeSaId,
    /// The connection; for a responder before IKE_AUTH, the best address match.
    pub conn: Arc<ConnectionConfig>,
    /// Responder before IKE_AUTH: every connection the addresses allow, best first.
    pub candidates: Vec<Arc<ConnectionConfig>>,
    /// Whether we are the original initiator.
    pub initiator: bool,
    pub state: State,
    /// IkeSaUp was reported.
    pub was_up: bool,
    pub spi_i: IkeSpi,
    pub spi_r: IkeSpi,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub created: Instant,
    pub last_received: Instant,
    /// When we last sent anything (for NAT keepalives).
    pub last_sent: Instant,
    /// The NAT-keepalive interval the operator's side learned for this connection
    /// ([`Endpoint::set_keep_alive`](crate::Endpoint::set_keep_alive)); it wins over
    /// the configured one.
    pub keep_alive_tuned: Option<Duration>,
    pub crypto: Option<SaCrypto>,
    pub ni: Vec<u8>,
    pub nr: Vec<u8>,
    /// The IKE_SA_INIT messages as sent, for AUTH (RFC 7296 section 2.15).
    pub init_request: Vec<u8>,
    pub init_response: Vec<u8>,
    /// Additional key exchanges (IKE_INTERMEDIATE) completed so far.
    pub addke_done: u8,
    /// The keys after the latest additional key exchange, in use from the next
    /// exchange on: the initiator's next request, the first request that opens with
    /// them at the responder (see `exchange::ike_intermediate`).
    pub pending_keys: Option<Box<SaCrypto>>,
    /// The IntAuth chains over the IKE_INTERMEDIATE messages, for AUTH.
    pub int_auth: crate::exchange::ike_intermediate::IntAuth,
    /// The hashes the peer can verify signatures with (its SIGNATURE_HASH_ALGORITHMS,
    /// RFC 7427); empty when it sent none.
    pub peer_hashes: Vec<crate::crypto::signature::HashAlgorithm>,
    /// The peer sent a CERTREQ (IKE_SA_INIT or IKE_AUTH): `send_cert = ifasked`
    /// sends our certificates then.
    pub peer_certreq: bool,
    /// How we and the peer authenticated, for status (`RSASSA-PSS with SHA-384,
    /// certificate CN=gw-b`); set in IKE_AUTH, kept across IKE rekeys.
    pub auth_local: Option<String>,
    pub auth_remote: Option<String>,
    /// Responder: a CREATE_CHILD_SA waiting for its IKE_FOLLOWUP_KE exchanges.
    pub followup: Option<Box<crate::exchange::followup_ke::Passive>>,
    /// Responder: the key under which the endpoint indexes our IKE_SA_INIT request,
    /// and its SHA-256, to recognise retransmissions.
    pub init_key: Option<((IkeSpi, SocketAddr), [u8; 32])>,
    pub nat: NatStatus,
    /// The peer sent NAT detection notifies.
    pub nat_t: bool,
    /// Both sides announced IKEV2_FRAGMENTATION_SUPPORTED.
    pub peer_fragmentation: bool,
    /// The responder announced CHILDLESS_IKEV2_SUPPORTED.
    pub peer_childless: bool,
    /// Initiator: send INITIAL_CONTACT (no other IKE SA with this peer).
    pub first_contact: bool,
    /// Counted as half-open by the endpoint.
    pub counted_half_open: bool,
    pub local_id: Identity,
    pub remote_id: Identity,
    pub requests: RequestWindow,
    pub responses: ResponseWindow,
    pub active: Option<Task>,
    pub queue: VecDeque<Task>,
    pub children: Vec<ChildSa>,
    pub reassembly_requests: Reassembler,
    pub reassembly_responses: Reassembler,
    /// The old incarnation of a rekeyed IKE SA (or a redundant one of a collision):
    /// no CHILD SAs, no events, it only deletes itself or waits to be deleted.
    pub ghost: bool,
    /// When to rekey the IKE SA (`rekey_time` minus jitter).
    pub rekey_at: Option<Instant>,
    /// Hard expiry of the IKE SA (`rekey_time` + `over_time`).
    pub expire_at: Option<Instant>,
    /// The peer's IKE rekey we answered while ours was in flight.
    pub peer_ike_rekey: Option<Box<NewIke>>,
    /// A new IKE SA to switch to once the current exchange is complete, and whether
    /// we delete the old one (we initiated the winning exchange).
    /// Boxed: a `NewIke` holds a whole `SaCrypto` (about 2 KiB) and is needed only
    /// during an IKE rekey, while every established SA carries the field.
    pub pending_adopt: Option<(Box<NewIke>, bool)>,
    /// New IKE SAs that lost a collision, to be split off as ghosts: to delete (ours)
    /// or to wait for the peer's Delete (theirs).
    pub extra_ghosts: Vec<(NewIke, bool)>,
    /// The old incarnation's SPIs and windows were deleted by the peer already.
    pub old_deleted: bool,
    /// Initiator: earlier tries to set up this connection that got no answer
    /// (`keyingtries`).
    pub keyingtry: u32,
    /// Initiator: the peer addresses of this pass (the connection's `remote_addrs`,
    /// or its addresses and DNS names as resolved for this pass), and which of them
    /// this SA talks to.
    pub remotes: Arc<[core::net::IpAddr]>,
    pub candidate: usize,
    /// Initiator waiting for the connection's DNS names to be resolved (a
    /// placeholder: nothing sent yet), and when to ask again after no name gave an
    /// address.
    pub resolving: bool,
    pub resolve_again_at: Option<Instant>,
    /// Initiator, first pass over `remote_addrs` after an established SA of the
    /// connection died: the address that stopped answering (see
    /// [`Self::short_budget`]).
    pub quick: Option<core::net::IpAddr>,
    /// New CHILD SAs (config index) the peer answered TEMPORARY_FAILURE, and when to
    /// ask again.
    pub child_retries: Vec<(Instant, usize)>,
}

impl IkeSa {
    /// A new SA with nothing negotiated yet.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        id: IkeSaId,
        conn: Arc<ConnectionConfig>,
        initiator: bool,
        spi_i: IkeSpi,
        spi_r: IkeSpi,
        local: SocketAddr,
        remote: SocketAddr,
        now: Instant,
    ) -> Self {
        let remote_id = conn.remote_id.clone();
        let local_id = conn.effective_local_id(local);
        Self {
            id,
            candidates: Vec::new(),
            conn,
            initiator,
            state: State::Connecting,
            was_up: false,
            spi_i,
            spi_r,
            local,
            remote,
            created: now,
            last_received: now,
            last_sent: now,
            keep_alive_tuned: None,
            crypto: None,
            ni: Vec::new(),
            nr: Vec::new(),
            init_request: Vec::new(),
            init_response: Vec::new(),
            addke_done: 0,
            pending_keys: None,
            int_auth: Default::default(),
            followup: None,
            peer_hashes: Vec::new(),
            peer_certreq: false,
            auth_local: None,
            auth_remote: None,
            init_key: None,
            nat: NatStatus::default(),
            nat_t: false,
            peer_fragmentation: false,
            peer_childless: false,
            first_contact: false,
            counted_half_open: false,
            local_id,
            remote_id,
            requests: RequestWindow::default(),
            responses: ResponseWindow::default(),
            active: None,
            queue: VecDeque::new(),
            children: Vec::new(),
            reassembly_requests: Reassembler::default(),
            reassembly_responses: Reassembler::default(),
            ghost: false,
            rekey_at: None,
            expire_at: None,
            peer_ike_rekey: None,
            pending_adopt: None,
            extra_ghosts: Vec::new(),
            old_deleted: false,
            keyingtry: 0,
            remotes: Arc::from([]),
            candidate: 0,
            resolving: false,
            resolve_again_at: None,
            quick: None,
            child_retries: Vec::new(),
        }
    }

    /// Arms the IKE SA's rekey and hard expiry from now. As strongSwan
    /// (`ike_sa.c` `set_state`: `STAT_DELETE = STAT_REKEY + over_time`), the hard
    /// expiry is `over_time` after the jittered rekey time, so there are always
    /// `over_time` of rekey attempts and the two ends of an SA do not expire at the
    /// same moment.
    pub(crate) fn schedule_ike_rekey(&mut self, ctx: &mut Ctx<'_>) {
        let conn = &self.conn;
        if conn.rekey_time.is_zero() {
            // Not rekeyed on a timer; a retry armed for the SA this one replaces goes.
            self.rekey_at = None;
            return;
        }
        let jitter = crate::exchange::child_create::random_duration(
            &mut ctx.sh.rng,
            conn.effective_rand_time(),
        );
        let rekey_at = ctx.now + conn.rekey_time.saturating_sub(jitter);
        self.rekey_at = Some(rekey_at);
        self.expire_at = Some(rekey_at + conn.effective_over_time());
    }

    /// A snapshot for status displays.
    pub(crate) fn status(&self) -> IkeSaStatus {
        IkeSaStatus {
            id: self.id,
            conn: self.conn.name.clone(),
            state: self.state,
            initiator: self.initiator,
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            local: self.local,
            remote: self.remote,
            local_id: self.local_id.clone(),
            remote_id: self.remote_id.clone(),
            suite: self.crypto.as_ref().map(|c| c.suite),
            auth_local: self.auth_local.clone(),
            auth_remote: self.auth_remote.clone(),
            nat: self.nat,
            children: self
                .children
                .iter()
                .map(|c| ChildSaStatus {
                    name: c.name.clone(),
                    state: c.state.status(),
                    outbound: c.outbound,
                    spi_in: c.spi_in,
                    spi_out: c.spi_out,
                    suite: c.suite,
                    local_ts: c.local_ts.clone(),
                    remote_ts: c.remote_ts.clone(),
                })
                .collect(),
        }
    }

    /// Our SPI: the one the peer puts in the other half of the header.
    pub(crate) fn our_spi(&self) -> IkeSpi {
        if self.initiator {
            self.spi_i
        } else {
            self.spi_r
        }
    }

    pub(crate) fn is_dead(&self) -> bool {
        self.state == State::Dead
    }

    pub(crate) fn is_established(&self) -> bool {
        self.state == State::Established
    }

    /// A responder SA between IKE_SA_INIT and a completed IKE_AUTH.
    pub(crate) fn is_half_open(&self) -> bool {
        !self.initiator && matches!(self.state, State::Connecting | State::Authenticating)
    }

    /// Whether ESP is UDP-encapsulated: a NAT on either side, or forced by us.
    pub(crate) fn encap(&self) -> bool {
        self.nat.any() || self.conn.encap
    }

    /// The header of a message we send.
    pub(crate) fn header(&self, exchange: ExchangeType, msgid: u32, response: bool) -> HeaderRepr {
        let mut flags = Flags::empty();
        if self.initiator {
            flags = flags | Flags::INITIATOR;
        }
        if response {
            flags = flags | Flags::RESPONSE;
        }
        HeaderRepr {
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            minor_version: 0,
            exchange_type: exchange,
            flags,
            message_id: msgid,
        }
    }

    // -- life and death --------------------------------------------------------------

    /// Reports the SA established (after AUTH verified).
    pub(crate) fn established(&mut self, ctx: &mut Ctx<'_>) {
        self.state = State::Established;
        self.was_up = true;
        // The IKE_SA_INIT messages are signed in the AUTH payloads and nowhere else
        // (RFC 7296 section 2.15); both AUTHs are done now. Retransmitted requests are
        // answered from the response window, not by recomputing.
        self.init_request = Vec::new();
        self.init_response = Vec::new();
        self.schedule_ike_rekey(ctx);
        self.export_keys(ctx);
        let Some(crypto) = &self.crypto else {
            return;
        };
        let remote_ip = self.remote.ip();
        let configured = self.remotes.contains(&remote_ip);
        if let Some(r) = ctx
            .sh
            .remotes
            .established(&self.conn.name, remote_ip, configured, ctx.now)
        {
            if r.is_failover() {
                ctx.sh.stats.failovers += 1;
            }
            ctx.sh.event(Event::Reconnected(r));
        }
        ctx.sh.event(Event::IkeSaUp(IkeSaUp {
            conn: self.conn.name.clone(),
            ike_sa: self.id,
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            initiator: self.initiator,
            suite: crypto.suite,
            local: self.local,
            remote: self.remote,
            local_id: self.local_id.clone(),
            remote_id: self.remote_id.clone(),
            nat: self.nat,
        }));
    }

    /// `export_keys`: reports the SA's keys for Wireshark's decryption table.
    fn export_keys(&self, ctx: &mut Ctx<'_>) {
        let Some(crypto) = &self.crypto else {
            return;
        };
        let Some(keys) = &crypto.export else {
            return;
        };
        let [sk_ei, sk_er, sk_ai, sk_ar] = &**keys;
        ctx.sh
            .event(Event::IkeSaKeys(Box::new(crate::event::IkeSaKeys {
                conn: self.conn.name.clone(),
                ike_sa: self.id,
                spi_i: self.spi_i,
                spi_r: self.spi_r,
                suite: crypto.suite,
                sk_ei: sk_ei.clone(),
                sk_er: sk_er.clone(),
                sk_ai: sk_ai.clone(),
                sk_ar: sk_ar.clone(),
            })));
    }

    /// The failure event of an exchange on this SA.
    pub(crate) fn failure(
        &self,
        phase: Phase,
        cause: Cause,
        initiator: bool,
        child: Option<String>,
        ike_sa_kept: bool,
    ) -> Failure {
        Failure {
            conn: Some(self.conn.name.clone()),
            ike_sa: Some(self.id),
            child,
            phase,
            remote: self.remote,
            cause,
            initiator,
            ike_sa_kept,
            retry_in: None,
            next_remote: None,
        }
    }

    /// Reports a failure of this SA and takes it down. An initiator setting up the
    /// connection moves on to its next address ([`Action::NextCandidate`]).
    pub(crate) fn fail(
        &mut self,
        ctx: &mut Ctx<'_>,
        phase: Phase,
        cause: Cause,
        initiator: bool,
        child: Option<String>,
    ) {
        if self.is_dead() {
            return;
        }
        if self.ghost {
            // The old incarnation of a rekeyed SA: nothing to report.
            self.go_down(ctx, DownReason::Terminated);
            return;
        }
        let mut f = self.failure(phase, cause.clone(), initiator, child, false);
        if self.initiator && !self.was_up && self.remotes.contains(&self.remote.ip()) {
            ctx.sh.remotes.failed(
                &self.conn.name,
                self.remote.ip(),
                ctx.now,
                format!("{phase}: {cause}"),
            );
        }
        if let Some((candidate, addr)) = self.next_candidate() {
            f.next_remote = Some(addr);
            ctx.sh.actions.push(Action::NextCandidate {
                conn: self.conn.clone(),
                remotes: self.remotes.clone(),
                candidate,
                keyingtry: self.keyingtry,
                quick: self.quick,
            });
        }
        ctx.sh.event(Event::Failed(f));
        self.go_down(ctx, DownReason::Failed(cause));
    }

    /// Initiator setting up the connection: the next of its `remote_addrs` to try
    /// when this one fails.
    pub(crate) fn next_candidate(&self) -> Option<(usize, core::net::IpAddr)> {
        let setting_up = self.initiator
            && !self.was_up
            && !self.ghost
            && matches!(self.state, State::Connecting | State::Authenticating);
        let next = self.candidate + 1;
        setting_up
            .then(|| self.remotes.get(next).map(|a| (next, *a)))
            .flatten()
    }

    /// Whether an unanswered IKE_SA_INIT gives up after `CANDIDATE_RETRANSMITS`
    /// instead of the whole retransmission budget: another address follows in the
    /// list, or this address's established SA just died and others exist (the first
    /// pass of the restart must not wait out the full budget on it; such a pass does
    /// not use up one of `keyingtries`).
    pub(crate) fn short_budget(&self) -> bool {
        let n = self.remotes.len();
        self.initiator
            && !self.was_up
            && self.state == State::Connecting
            && (self.candidate + 1 < n || (n > 1 && self.quick == Some(self.remote.ip())))
    }

    /// Reports a CHILD SA failure; the IKE SA stays.
    pub(crate) fn fail_child(
        &self,
        ctx: &mut Ctx<'_>,
        phase: Phase,
        cause: Cause,
        initiator: bool,
        child: &str,
    ) {
        let f = self.failure(phase, cause, initiator, Some(child.to_owned()), true);
        ctx.sh.event(Event::Failed(f));
    }

    /// Takes the SA down: CHILD SAs deleted, then IkeSaDown if it was up.
    pub(crate) fn go_down(&mut self, ctx: &mut Ctx<'_>, reason: DownReason) {
        if self.is_dead() {
            return;
        }
        let spis: Vec<u32> = self.children.iter().map(|c| c.spi_in).collect();
        for spi in spis {
            self.remove_child(ctx, spi);
        }
        if self.was_up {
            ctx.sh.event(Event::IkeSaDown(IkeSaDown {
                conn: self.conn.name.clone(),
                ike_sa: self.id,
                spi_i: self.spi_i,
                spi_r: self.spi_r,
                reason,
            }));
        }
        self.state = State::Dead;
        if let Some(spi) = self.active.as_ref().and_then(Task::reserved_spi) {
            ctx.sh.child_spis.remove(&spi);
        }
        crate::exchange::followup_ke::abandon(self, ctx);
        self.active = None;
        self.queue.clear();
        self.requests.outstanding = None;
    }
}

/// IP and UDP header octets, plus the non-ESP marker, around an IKE message.
pub(crate) fn datagram_overhead(local: SocketAddr, remote: SocketAddr) -> usize {
    let ip = if remote.ip().to_canonical().is_ipv4() {
        20
    } else {
        40
    };
    let marker = if needs_marker(local) { 4 } else { 0 };
    ip + 8 + marker
}

/// Whether datagrams from `local` carry the non-ESP marker: everything not sent from
/// the IKE port, as strongSwan's sockets do (RFC 3948 section 2.2).
pub(crate) fn needs_marker(local: SocketAddr) -> bool {
    local.port() != IKE_PORT
}

/// Moves an address from port 500 to 4500 (RFC 7296 section 2.23); other ports stay.
pub(crate) fn float_port(a: SocketAddr) -> SocketAddr {
    if a.port() == IKE_PORT {
        SocketAddr::new(a.ip(), NAT_T_PORT)
    } else {
        a
    }
}
