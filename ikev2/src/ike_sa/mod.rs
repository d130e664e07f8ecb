//! One IKE SA: its state, keys, message windows, CHILD SAs and the task queue.
//!
//! The endpoint routes each datagram to the SA by SPI; the SA then checks the window
//! (before any crypto), verifies and decrypts (reassembling fragments), checks the
//! payload rules and hands the payloads to the exchange code in [`crate::exchange`].
//! Requests are answered at once and the answer is cached; our own requests run one
//! at a time from a queue of [`Task`]s.

pub(crate) mod ctx;
pub(crate) mod fragment;
pub(crate) mod timers;
pub(crate) mod window;

use core::net::SocketAddr;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use crate::config::{ConnectionConfig, Fragmentation, IKE_PORT, Identity, NAT_T_PORT};
use crate::crypto::algorithms::{EspSuite, IkeSuite};
use crate::crypto::keymat::IkeKeys;
use crate::crypto::secret::SecretBytes;
use crate::crypto::sk::{Opened, SkError, SkPlaintext, SkProtector};
use crate::error::{Cause, Phase};
use crate::event::{ChildSaDeleted, DownReason, Event, Failure, IkeSaDown, IkeSaId, IkeSaUp};
use crate::exchange::refusal::Refusal;
use crate::exchange::{self, Chain, Outcome, Task, rules};
use crate::nat::NatStatus;
use crate::status::{ChildSaState, ChildSaStatus, IkeSaState, IkeSaStatus};
use crate::ts::TrafficSelector;
use crate::wire::{
    ExchangeType, Flags, HeaderRepr, IkeSpi, Message, NotifyType, Payload, PayloadType,
    parse_payload_chain,
};
use ctx::{Action, Ctx};

use fragment::{Added, Reassembler};
use window::{Outstanding, RequestKind, RequestWindow, ResponseWindow};

/// Where an IKE SA is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Initiator: IKE_SA_INIT sent, no keys yet.
    Connecting,
    /// Keys derived, IKE_AUTH in progress (a responder SA is "half-open").
    Authenticating,
    /// IKE_AUTH verified.
    Established,
    /// Our Delete is in flight.
    Deleting,
    /// A ghost: the old incarnation of a rekeyed IKE SA, waiting for the peer's
    /// Delete (it answers nothing else but retransmissions).
    Rekeyed,
    /// Gone; the endpoint removes it.
    Dead,
}

impl State {
    /// The state as status displays show it.
    pub(crate) fn status(self) -> IkeSaState {
        match self {
            State::Connecting => IkeSaState::Connecting,
            State::Authenticating => IkeSaState::Authenticating,
            State::Established => IkeSaState::Established,
            State::Deleting => IkeSaState::Deleting,
            State::Rekeyed => IkeSaState::Rekeyed,
            State::Dead => IkeSaState::Dead,
        }
    }
}

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
        .map_err(|e| Cause::Internal(format!("SK keys: {e}")))?;
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

/// The new IKE SA of a rekey (RFC 7296 section 2.18), before it replaces the old.
#[derive(Debug)]
pub(crate) struct NewIke {
    pub spi_i: IkeSpi,
    pub spi_r: IkeSpi,
    /// We initiated the rekey exchange, so we are the new SA's original initiator.
    pub initiator: bool,
    pub crypto: SaCrypto,
    pub ni: Vec<u8>,
    pub nr: Vec<u8>,
    /// The lower nonce of the exchange (collisions, section 2.8.2).
    pub min_nonce: Vec<u8>,
}

/// Where a CHILD SA is in its life (strongSwan's `child_sa_state_t`, reduced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChildState {
    /// In use.
    Installed,
    /// Our rekey of it is in flight.
    Rekeying,
    /// Replaced by a rekey; waiting for the Delete (ours or the peer's).
    Rekeyed,
    /// Our Delete of it is in flight.
    Deleting,
    /// Deleted; the inbound SA lingers until then (`delete_rekeyed_delay`).
    Lingering(Instant),
}

/// A CHILD SA pair as the IKE SA remembers it.
#[derive(Debug, Clone)]
pub(crate) struct ChildSa {
    pub name: String,
    pub spi_in: u32,
    pub spi_out: u32,
    pub suite: EspSuite,
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
    pub state: ChildState,
    /// When to start a rekey (`rekey_time` minus jitter); `None` once handled.
    pub rekey_at: Option<Instant>,
    /// Hard lifetime: removed then, rekeyed or not; `None` for `life_time = 0` (no
    /// hard lifetime, as in strongSwan).
    pub expire_at: Option<Instant>,
    /// A rekey replacement whose outbound is not used yet: the old inbound SPI.
    pub pending_switch: Option<u32>,
    /// Whether our outbound traffic uses this SA.
    pub outbound: bool,
    /// The peer rekeyed this SA while our own rekey of it was in flight (RFC 7296
    /// section 2.8.1): the inbound SPI of the peer's replacement and the lowest nonce
    /// of its exchange.
    pub peer_rekey: Option<(u32, Vec<u8>)>,
    /// A rekey of it failed and `rekey_at` is the retry: usage reports do not bring
    /// it forward (they repeat their soft limit every time).
    pub rekey_retry: bool,
}

impl ChildState {
    /// The state as status displays show it.
    pub(crate) fn status(&self) -> ChildSaState {
        match self {
            ChildState::Installed => ChildSaState::Installed,
            ChildState::Rekeying => ChildSaState::Rekeying,
            ChildState::Rekeyed => ChildSaState::Rekeyed,
            ChildState::Deleting => ChildSaState::Deleting,
            ChildState::Lingering(_) => ChildSaState::Lingering,
        }
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
    pub crypto: Option<SaCrypto>,
    pub ni: Vec<u8>,
    pub nr: Vec<u8>,
    /// The IKE_SA_INIT messages as sent, for AUTH (RFC 7296 section 2.15).
    pub init_request: Vec<u8>,
    pub init_response: Vec<u8>,
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
            crypto: None,
            ni: Vec::new(),
            nr: Vec::new(),
            init_request: Vec::new(),
            init_response: Vec::new(),
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

    /// A ghost SA from a new IKE SA's keys (a redundant SA of a collision).
    fn ghost_of(&self, ctx: &mut Ctx<'_>, n: NewIke, delete: bool) -> IkeSa {
        let mut g = IkeSa::new(
            self.id,
            self.conn.clone(),
            n.initiator,
            n.spi_i,
            n.spi_r,
            self.local,
            self.remote,
            ctx.now,
        );
        g.crypto = Some(n.crypto);
        self.ghost_common(ctx, g, delete)
    }

    fn ghost_common(&self, ctx: &mut Ctx<'_>, mut g: IkeSa, delete: bool) -> IkeSa {
        g.ghost = true;
        g.state = State::Rekeyed;
        g.local_id = self.local_id.clone();
        g.remote_id = self.remote_id.clone();
        g.nat = self.nat;
        g.nat_t = self.nat_t;
        g.peer_fragmentation = self.peer_fragmentation;
        if delete {
            g.queue.push_back(Task::Informational(
                exchange::informational::Informational::DeleteIke,
            ));
            g.start_next(ctx);
        }
        g
    }

    /// Switches to the new IKE SA of a rekey: new SPIs, keys and message IDs, the
    /// same CHILD SAs. The old incarnation becomes a ghost that deletes itself
    /// (`delete_old`) or waits for the peer's Delete.
    fn adopt(&mut self, ctx: &mut Ctx<'_>, n: NewIke, delete_old: bool) {
        let old_spi = self.our_spi();
        let (old_i, old_r) = (self.spi_i, self.spi_r);
        let mut g = IkeSa::new(
            self.id,
            self.conn.clone(),
            self.initiator,
            self.spi_i,
            self.spi_r,
            self.local,
            self.remote,
            ctx.now,
        );
        g.crypto = self.crypto.take();
        g.requests = core::mem::take(&mut self.requests);
        g.responses = core::mem::take(&mut self.responses);
        g.reassembly_requests = core::mem::take(&mut self.reassembly_requests);
        g.reassembly_responses = core::mem::take(&mut self.reassembly_responses);
        if g.requests.outstanding.is_some() {
            // A request of ours on the old SA (a rekey that lost): it ends there.
            g.active = self.active.take();
        }
        let g = self.ghost_common(ctx, g, delete_old && !self.old_deleted);
        self.spi_i = n.spi_i;
        self.spi_r = n.spi_r;
        self.initiator = n.initiator;
        self.crypto = Some(n.crypto);
        self.ni = n.ni;
        self.nr = n.nr;
        self.peer_ike_rekey = None;
        self.schedule_ike_rekey(ctx);
        self.export_keys(ctx);
        ctx.sh
            .event(Event::IkeSaRekeyed(crate::event::IkeSaRekeyed {
                conn: self.conn.name.clone(),
                ike_sa: self.id,
                old_spi_i: old_i,
                old_spi_r: old_r,
                spi_i: self.spi_i,
                spi_r: self.spi_r,
            }));
        ctx.sh.actions.push(Action::Respi {
            id: self.id,
            old: old_spi,
            new: self.our_spi(),
        });
        if !self.old_deleted {
            ctx.sh.actions.push(Action::AddSa(Box::new(g)));
        }
        self.old_deleted = false;
    }

    /// After an exchange: switch to a new IKE SA and split off ghosts, if a rekey
    /// asked for it.
    pub(crate) fn finish_rekey(&mut self, ctx: &mut Ctx<'_>) {
        for (n, delete) in core::mem::take(&mut self.extra_ghosts) {
            let g = self.ghost_of(ctx, n, delete);
            ctx.sh.actions.push(Action::AddSa(Box::new(g)));
        }
        if let Some((n, delete_old)) = self.pending_adopt.take() {
            self.adopt(ctx, *n, delete_old);
        }
    }

    /// A snapshot for status displays.
    pub(crate) fn status(&self) -> IkeSaStatus {
        IkeSaStatus {
            id: self.id,
            conn: self.conn.name.clone(),
            state: self.state.status(),
            initiator: self.initiator,
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            local: self.local,
            remote: self.remote,
            local_id: self.local_id.clone(),
            remote_id: self.remote_id.clone(),
            suite: self.crypto.as_ref().map(|c| c.suite),
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

    // -- sending ---------------------------------------------------------------------

    /// Sends IKE messages from our current addresses.
    pub(crate) fn transmit(&mut self, ctx: &mut Ctx<'_>, messages: &[Vec<u8>]) {
        for m in messages {
            ctx.sh.send(self.local, self.remote, m);
        }
        self.last_sent = ctx.now;
    }

    /// Encrypts a payload chain into one SK message, or SKF fragments when the
    /// datagram would exceed `fragment_size` and both sides support fragmentation.
    pub(crate) fn protect(
        &mut self,
        ctx: &mut Ctx<'_>,
        header: &HeaderRepr,
        chain: &Chain,
    ) -> Result<Vec<Vec<u8>>, Cause> {
        let fragment = self.peer_fragmentation && self.conn.fragmentation == Fragmentation::Yes;
        let overhead = datagram_overhead(self.local, self.remote);
        let crypto = self
            .crypto
            .as_mut()
            .ok_or_else(|| Cause::Internal("no keys to protect a message".into()))?;
        let hdr = header.to_bytes(PayloadType::SK, 0);
        let len = crypto.protector.message_len(0, chain.bytes.len());
        let result = if fragment && len + overhead > ctx.config.fragment_size {
            let budget = ctx.config.fragment_size.saturating_sub(overhead);
            ctx.sh.stats.fragmented_messages += 1;
            crypto.protector.encrypt_fragments(
                &hdr,
                chain.first,
                &chain.bytes,
                budget,
                &mut ctx.sh.rng,
            )
        } else {
            crypto
                .protector
                .encrypt_message(&hdr, chain.first, &chain.bytes, &mut ctx.sh.rng)
                .map(|m| vec![m])
        };
        result.map_err(|e| Cause::Internal(format!("protecting a message: {e}")))
    }

    /// Starts the next queued task if no request is outstanding.
    pub(crate) fn start_next(&mut self, ctx: &mut Ctx<'_>) {
        while self.active.is_none() && !self.is_dead() {
            let Some(task) = self.queue.pop_front() else {
                return;
            };
            self.send_request(ctx, task);
        }
    }

    /// Builds and sends the request of `task` with the current message ID.
    pub(crate) fn send_request(&mut self, ctx: &mut Ctx<'_>, mut task: Task) {
        let exchange = task.exchange();
        let chain = match task.build(self, ctx) {
            Ok(Some(c)) => c,
            Ok(None) => return, // nothing to do any more (e.g. a child already exists)
            Err(cause) => {
                self.fail(ctx, Phase::of(exchange), cause, true, None);
                return;
            }
        };
        let msgid = self.requests.next_id;
        let header = self.header(exchange, msgid, false);
        let messages = if exchange == ExchangeType::IKE_SA_INIT {
            match chain.to_message(&header) {
                Ok(m) => {
                    self.init_request = m.clone();
                    vec![m]
                }
                Err(cause) => return self.fail(ctx, Phase::of(exchange), cause, true, None),
            }
        } else {
            match self.protect(ctx, &header, &chain) {
                Ok(m) => m,
                Err(cause) => return self.fail(ctx, Phase::of(exchange), cause, true, None),
            }
        };
        self.transmit(ctx, &messages);
        self.requests.outstanding = Some(Outstanding {
            msgid,
            exchange,
            messages,
            retransmits: 0,
            deadline: ctx.now + ctx.config.retransmit.wait(0),
        });
        self.active = Some(task);
    }

    /// Sends a one-shot INFORMATIONAL with AUTHENTICATION_FAILED after the peer's AUTH
    /// did not verify (RFC 7296 section 2.21.2); no retransmission, the SA dies.
    pub(crate) fn send_auth_failed(&mut self, ctx: &mut Ctx<'_>, msgid: u32) {
        let mut chain = Chain::new();
        if chain
            .notify(NotifyType::AUTHENTICATION_FAILED, &[])
            .is_err()
        {
            return;
        }
        let header = self.header(ExchangeType::INFORMATIONAL, msgid, false);
        if let Ok(m) = self.protect(ctx, &header, &chain) {
            self.transmit(ctx, &m);
        }
    }

    // -- receiving -------------------------------------------------------------------

    /// A datagram for this SA (marker already stripped).
    pub(crate) fn handle_message(
        &mut self,
        ctx: &mut Ctx<'_>,
        local: SocketAddr,
        remote: SocketAddr,
        msg: &[u8],
        hdr: &HeaderRepr,
    ) {
        // The I flag says who sent it: the original initiator iff that is not us.
        if hdr.flags.is_initiator() == self.initiator {
            ctx.sh.stats.dropped_invalid += 1;
            return;
        }
        if hdr.flags.is_response() {
            self.handle_response(ctx, msg, hdr);
        } else {
            self.handle_request(ctx, local, remote, msg, hdr);
        }
    }

    fn handle_response(&mut self, ctx: &mut Ctx<'_>, msg: &[u8], hdr: &HeaderRepr) {
        let exchange = hdr.exchange_type;
        if !self.requests.matches(hdr.message_id, exchange) {
            ctx.sh.stats.dropped_unexpected += 1;
            return;
        }
        if exchange == ExchangeType::IKE_SA_INIT {
            let parsed = match Message::parse(msg) {
                Ok(m) => m,
                Err(_) => {
                    ctx.sh.stats.dropped_parse_error += 1;
                    return;
                }
            };
            if rules::check(exchange, true, &parsed.payloads).is_err() {
                // Unauthenticated: could be forged, keep waiting.
                ctx.sh.stats.dropped_invalid += 1;
                return;
            }
            self.dispatch_response(ctx, hdr, &parsed.payloads, msg);
            return;
        }
        let Some(opened) = self.unprotect(ctx, msg) else {
            return;
        };
        let Some(plain) =
            complete_plaintext(ctx, &mut self.reassembly_responses, hdr.message_id, opened)
        else {
            return;
        };
        self.last_received = ctx.now;
        let payloads = match parse_payload_chain(plain.next_payload, &plain.payloads) {
            Ok(p) => p,
            Err(e) => {
                ctx.sh.stats.dropped_parse_error += 1;
                let cause = Cause::Protocol(format!("malformed {exchange} response: {e}"));
                self.fail(ctx, Phase::of(exchange), cause, true, None);
                return;
            }
        };
        if let Err(e) = rules::check(exchange, true, &payloads) {
            ctx.sh.stats.dropped_invalid += 1;
            self.fail(ctx, Phase::of(exchange), Cause::Protocol(e), true, None);
            return;
        }
        self.dispatch_response(ctx, hdr, &payloads, msg);
    }

    fn dispatch_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        hdr: &HeaderRepr,
        payloads: &[Payload<'_>],
        raw: &[u8],
    ) {
        let Some(mut task) = self.active.take() else {
            ctx.sh.stats.dropped_unexpected += 1;
            return;
        };
        let exchange = task.exchange();
        match task.process_response(self, ctx, hdr, payloads, raw) {
            Outcome::Done => {
                self.requests.complete();
                self.finish_rekey(ctx);
                self.start_next(ctx);
            }
            Outcome::Retry => {
                self.requests.outstanding = None;
                self.send_request(ctx, task);
            }
            Outcome::Ignore => {
                ctx.sh.stats.dropped_invalid += 1;
                self.active = Some(task);
            }
            Outcome::Failed(cause) => {
                self.requests.outstanding = None;
                if let Some(spi) = task.reserved_spi() {
                    ctx.sh.child_spis.remove(&spi);
                }
                self.fail(ctx, Phase::of(exchange), cause, true, None);
            }
            Outcome::Deleted => {
                self.requests.outstanding = None;
                self.go_down(ctx, DownReason::Terminated);
            }
        }
    }

    fn handle_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        local: SocketAddr,
        remote: SocketAddr,
        msg: &[u8],
        hdr: &HeaderRepr,
    ) {
        let exchange = hdr.exchange_type;
        if exchange == ExchangeType::IKE_SA_INIT {
            // Retransmitted IKE_SA_INIT requests are handled by the endpoint.
            ctx.sh.stats.dropped_unexpected += 1;
            return;
        }
        let kind = self.responses.classify(hdr.message_id);
        if kind == RequestKind::Invalid {
            ctx.sh.stats.dropped_out_of_window += 1;
            return;
        }
        let Some(opened) = self.unprotect(ctx, msg) else {
            return;
        };
        self.last_received = ctx.now;
        if kind == RequestKind::Retransmit {
            // RFC 7383 section 2.6.1: answer a fragmented retransmission once, on its
            // first fragment.
            let resend = match &opened {
                Opened::Message(_) => true,
                Opened::Fragment(f) => f.number == 1,
            };
            if resend {
                if let Some(c) = &self.responses.last {
                    let messages = c.messages.clone();
                    ctx.sh.stats.retransmitted_responses += 1;
                    self.transmit(ctx, &messages);
                }
            } else {
                ctx.sh.stats.dropped_duplicate += 1;
            }
            return;
        }
        let Some(plain) =
            complete_plaintext(ctx, &mut self.reassembly_requests, hdr.message_id, opened)
        else {
            return;
        };
        // An authenticated request from new addresses: follow the peer (RFC 7296
        // section 2.23, NAT mapping changes and the move to port 4500).
        if (local, remote) != (self.local, self.remote)
            && (self.nat.any() || self.conn.encap || local.port() != IKE_PORT)
        {
            self.local = local;
            self.remote = remote;
        }
        self.process_request(ctx, hdr, &plain);
    }

    fn process_request(&mut self, ctx: &mut Ctx<'_>, hdr: &HeaderRepr, plain: &SkPlaintext) {
        let exchange = hdr.exchange_type;
        let mut resp = Chain::new();
        let payloads = parse_payload_chain(plain.next_payload, &plain.payloads)
            .map_err(|e| {
                (
                    Refusal::malformed(&e),
                    format!("malformed {exchange} request: {e}"),
                )
            })
            .and_then(|p| match rules::check(exchange, false, &p) {
                Ok(()) => Ok(p),
                Err(e) => Err((Refusal::invalid_syntax(), e)),
            });
        match payloads {
            Err((refusal, e)) => {
                ctx.sh.stats.dropped_invalid += 1;
                let _ = resp.notify(refusal.notify, &refusal.data);
                if !self.is_established() {
                    self.fail(ctx, Phase::of(exchange), Cause::Protocol(e), false, None);
                }
            }
            Ok(payloads) => {
                let state_ok = match exchange {
                    ExchangeType::IKE_AUTH => self.state == State::Authenticating,
                    ExchangeType::CREATE_CHILD_SA => self.is_established(),
                    _ => matches!(
                        self.state,
                        State::Established | State::Deleting | State::Rekeyed
                    ),
                };
                let busy = exchange == ExchangeType::CREATE_CHILD_SA
                    && (matches!(self.state, State::Deleting | State::Rekeyed)
                        || matches!(self.active, Some(Task::IkeRekey(_)))
                            && !rules_ike_rekey(&payloads));
                if busy {
                    // Being rekeyed or deleted (RFC 7296 section 2.25).
                    ctx.sh.stats.rekeys_refused += 1;
                    let _ = resp.notify(NotifyType::TEMPORARY_FAILURE, &[]);
                } else if !state_ok {
                    ctx.sh.stats.dropped_invalid += 1;
                    let refusal = Refusal::invalid_syntax();
                    let _ = resp.notify(refusal.notify, &refusal.data);
                } else {
                    match exchange {
                        ExchangeType::IKE_AUTH => {
                            exchange::ike_auth::process_request(self, ctx, &payloads, &mut resp)
                        }
                        ExchangeType::CREATE_CHILD_SA => {
                            exchange::child_create::process_request(self, ctx, &payloads, &mut resp)
                        }
                        _ => exchange::informational::process_request(
                            self, ctx, &payloads, &mut resp,
                        ),
                    }
                }
            }
        }
        self.send_response(ctx, exchange, hdr.message_id, &resp);
        if !self.is_dead() {
            self.finish_rekey(ctx);
            self.start_next(ctx);
        }
    }

    /// Encrypts, caches and sends our response to request `msgid`.
    fn send_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        exchange: ExchangeType,
        msgid: u32,
        resp: &Chain,
    ) {
        let header = self.header(exchange, msgid, true);
        match self.protect(ctx, &header, resp) {
            Ok(messages) => {
                self.transmit(ctx, &messages);
                self.responses.answered(msgid, messages);
            }
            Err(cause) => self.fail(ctx, Phase::of(exchange), cause, false, None),
        }
    }

    /// Verifies and decrypts an SK/SKF message; `None` (counted) if it does not verify.
    fn unprotect(&mut self, ctx: &mut Ctx<'_>, msg: &[u8]) -> Option<Opened> {
        let Some(crypto) = &self.crypto else {
            ctx.sh.stats.dropped_unexpected += 1;
            return None;
        };
        match crypto.protector.open(msg) {
            Ok(o) => Some(o),
            Err(SkError::IntegrityCheckFailed) => {
                ctx.sh.stats.dropped_bad_icv += 1;
                None
            }
            Err(_) => {
                ctx.sh.stats.dropped_parse_error += 1;
                None
            }
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
        }
    }

    /// Reports a failure of this SA and takes it down.
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
        let f = self.failure(phase, cause.clone(), initiator, child, false);
        ctx.sh.event(Event::Failed(f));
        self.go_down(ctx, DownReason::Failed(cause));
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

    /// Our CHILD SA with inbound SPI `spi_in`.
    pub(crate) fn child_mut(&mut self, spi_in: u32) -> Option<&mut ChildSa> {
        self.children.iter_mut().find(|c| c.spi_in == spi_in)
    }

    /// Outbound traffic of the replacement of `old` (inbound SPI) starts; the old SA
    /// is deleted and lingers (its inbound SA still receives) for
    /// `delete_rekeyed_delay`.
    pub(crate) fn retire_rekeyed(&mut self, ctx: &mut Ctx<'_>, old: u32) {
        let linger = ctx.now + ctx.config.delete_rekeyed_delay;
        let Some(pos) = self.children.iter().position(|c| c.spi_in == old) else {
            return;
        };
        let old_spi_out = self.children[pos].spi_out;
        let was_outbound = self.children[pos].outbound;
        self.children[pos].state = ChildState::Lingering(linger);
        self.children[pos].outbound = false;
        self.children[pos].rekey_at = None;
        if let Some(new) = self
            .children
            .iter_mut()
            .find(|c| c.pending_switch == Some(old))
        {
            new.pending_switch = None;
            if was_outbound && !new.outbound {
                new.outbound = true;
                let e = crate::event::ChildSaOutboundSwitched {
                    conn: self.conn.name.clone(),
                    child: new.name.clone(),
                    ike_sa: self.id,
                    old_spi_out,
                    spi_in: new.spi_in,
                    spi_out: new.spi_out,
                };
                ctx.sh.event(Event::ChildSaOutboundSwitched(e));
            }
        }
    }

    /// Switches outbound traffic from `old` (inbound SPI) to `new`.
    pub(crate) fn switch_outbound(&mut self, ctx: &mut Ctx<'_>, old: u32, new: u32) {
        let old_spi_out = match self.child_mut(old) {
            Some(c) if c.outbound => {
                c.outbound = false;
                c.spi_out
            }
            Some(_) => return,
            // Gone meanwhile (hard lifetime, deleted by the peer): the new SA is all
            // there is.
            None => 0,
        };
        let conn = self.conn.name.clone();
        let id = self.id;
        if let Some(n) = self.child_mut(new) {
            n.pending_switch = None;
            n.outbound = true;
            let e = crate::event::ChildSaOutboundSwitched {
                conn,
                child: n.name.clone(),
                ike_sa: id,
                old_spi_out,
                spi_in: n.spi_in,
                spi_out: n.spi_out,
            };
            ctx.sh.event(Event::ChildSaOutboundSwitched(e));
        }
    }

    /// Removes a CHILD SA by our inbound SPI, reporting it.
    pub(crate) fn remove_child(&mut self, ctx: &mut Ctx<'_>, spi_in: u32) -> Option<ChildSa> {
        let pos = self.children.iter().position(|c| c.spi_in == spi_in)?;
        let c = self.children.remove(pos);
        ctx.sh.child_spis.remove(&c.spi_in);
        ctx.sh.event(Event::ChildSaDeleted(ChildSaDeleted {
            conn: self.conn.name.clone(),
            child: c.name.clone(),
            ike_sa: self.id,
            spi_in: c.spi_in,
            spi_out: c.spi_out,
        }));
        Some(c)
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
        self.active = None;
        self.queue.clear();
        self.requests.outstanding = None;
    }
}

/// Whether a CREATE_CHILD_SA request rekeys the IKE SA (its SA payload is for IKE).
fn rules_ike_rekey(payloads: &[Payload<'_>]) -> bool {
    payloads.iter().any(|p| match p {
        Payload::Sa(s) => s
            .proposals
            .first()
            .is_some_and(|p| p.protocol == crate::wire::ProtocolId::IKE),
        _ => false,
    })
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

/// The whole plaintext of an authenticated message: at once for an SK payload, or when
/// the last fragment of an SKF series arrives (RFC 7383 section 2.6). Reassemblies and
/// fragments dropped for exceeding the limits are counted.
fn complete_plaintext(
    ctx: &mut Ctx<'_>,
    assembler: &mut Reassembler,
    message_id: u32,
    opened: Opened,
) -> Option<SkPlaintext> {
    match opened {
        Opened::Message(p) => Some(p),
        Opened::Fragment(f) => {
            match assembler.add(ctx.now, ctx.config.fragment_limits, message_id, f) {
                Added::Complete(p) => {
                    ctx.sh.stats.reassembled_messages += 1;
                    Some(p)
                }
                Added::Pending => None,
                Added::Error => {
                    ctx.sh.stats.dropped_fragment_limit += 1;
                    None
                }
            }
        }
    }
}
