//! IKE_FOLLOWUP_KE (RFC 9370 section 2.2.4): the additional key exchanges of a
//! CREATE_CHILD_SA whose selected proposal has ADDKE transforms (a CHILD SA created
//! or rekeyed with `esp_proposals = ["…-x25519-ke1_mlkem768"]`, or an IKE SA rekey
//! with `proposals = ["…-x25519-ke1_mlkem768"]`):
//!
//! ```text
//! CREATE_CHILD_SA  SA, Ni, KEi [, TSi, TSr]          -->
//!                  <--  SA, Nr, KEr [, TSi, TSr], N(ADDITIONAL_KEY_EXCHANGE)(link)
//! IKE_FOLLOWUP_KE  KEi(1), N(ADDITIONAL_KEY_EXCHANGE)(link)  -->
//!                  <--  KEr(1) [, N(ADDITIONAL_KEY_EXCHANGE)(link')]
//! ... one IKE_FOLLOWUP_KE per additional exchange, ADDKE1 first
//! ```
//!
//! The link data is the responder's: it names the sequence the next request
//! continues. Nothing is installed before the last exchange; then the CHILD SA's
//! KEYMAT is prf+(SK_d, SK(0) | Ni | Nr | SK(1) | … | SK(n)) and a rekeyed IKE SA's
//! SKEYSEED prf(SK_d (old), SK(0) | Ni | Nr | SK(1) | … | SK(n)).
//!
//! The initiator's task stays active from the CREATE_CHILD_SA request to the last
//! IKE_FOLLOWUP_KE response, so no other request of ours goes between them:
//! strongSwan answers anything else in the middle of a sequence with an error and,
//! during an IKE rekey, deletes the IKE SA. The responder keeps one sequence
//! ([`Passive`]); a new CREATE_CHILD_SA request abandons it, a follow-up with an
//! unknown link is answered STATE_NOT_FOUND.
//!
//! Collisions (both ends rekey the same SA) are decided, as strongSwan does, when
//! the initiator processes its CREATE_CHILD_SA response: the exchange with the lowest
//! nonce loses and its initiator sends no follow-up; the winner drops the loser's
//! sequence it was answering. A rekey request from the peer for an SA whose
//! follow-ups we already send is answered TEMPORARY_FAILURE.

use crate::crypto::algorithms::{EspSuite, IkeSuite};
use crate::crypto::ke::{self, KeInitiator};
use crate::crypto::secret::SecretBytes;
use crate::error::{Cause, Phase};
use crate::ike_sa::IkeSa;
use crate::ike_sa::ctx::Ctx;
use crate::ts::TrafficSelector;
use crate::wire::{DhGroup, IkeSpi, Ke, NotifyType, Payload};

use super::ike_intermediate::AddKeProblem;
use super::{Chain, find, find_notify, first_error};

/// The additional key exchanges of one CREATE_CHILD_SA: those still to run and the
/// secrets of those done.
#[derive(Debug)]
pub(crate) struct Rounds {
    /// (n, method) of every additional exchange, in order.
    all: Vec<(u8, DhGroup)>,
    /// SK(1), SK(2), ... of the exchanges done.
    pub(crate) secrets: Vec<SecretBytes>,
    /// The responder's ADDITIONAL_KEY_EXCHANGE data for the next request.
    pub(crate) link: Vec<u8>,
}

impl Rounds {
    pub(crate) fn new(all: impl Iterator<Item = (u8, DhGroup)>, link: Vec<u8>) -> Self {
        Self {
            all: all.collect(),
            secrets: Vec::new(),
            link,
        }
    }

    /// The exchange to run next, or `None` when all are done.
    pub(crate) fn current(&self) -> Option<(u8, DhGroup)> {
        self.all.get(self.secrets.len()).copied()
    }

    fn problem(&self, problem: AddKeProblem) -> Cause {
        let (n, method) = self.current().unwrap_or((0, DhGroup::NONE));
        Cause::AdditionalKe { n, method, problem }
    }
}

/// Whether a CREATE_CHILD_SA response (or IKE_FOLLOWUP_KE response) links to a next
/// exchange, and with which data.
fn link_of(payloads: &[Payload<'_>]) -> Option<Vec<u8>> {
    find_notify(payloads, NotifyType::ADDITIONAL_KEY_EXCHANGE).map(|n| n.data.to_vec())
}

/// The initiator's side: one IKE_FOLLOWUP_KE request at a time.
#[derive(Debug)]
pub(crate) struct Followups {
    pub(crate) rounds: Rounds,
    ke: Option<KeInitiator>,
}

/// What a follow-up response leads to.
#[derive(Debug)]
pub(crate) enum Step {
    /// Another IKE_FOLLOWUP_KE exchange is due.
    More,
    /// All done: the secrets are in [`Rounds::secrets`].
    Done,
}

impl Followups {
    /// After the CREATE_CHILD_SA response: the additional exchanges `all` follow,
    /// linked with the response's notify (an error if it has none).
    pub(crate) fn start(
        all: impl Iterator<Item = (u8, DhGroup)>,
        response: &[Payload<'_>],
    ) -> Result<Self, Cause> {
        let rounds = Rounds::new(all, Vec::new());
        let Some(link) = link_of(response) else {
            return Err(rounds.problem(AddKeProblem::MissingLink));
        };
        Ok(Self {
            rounds: Rounds { link, ..rounds },
            ke: None,
        })
    }

    /// The next IKE_FOLLOWUP_KE request: `KEi(n), N(ADDITIONAL_KEY_EXCHANGE)`.
    pub(crate) fn build(&mut self, ctx: &mut Ctx<'_>) -> Result<Chain, Cause> {
        let (_, method) = self
            .rounds
            .current()
            .ok_or_else(|| Cause::Internal("no additional key exchange left".into()))?;
        let ke = KeInitiator::start(method, &mut ctx.sh.rng).map_err(Cause::LocalDh)?;
        let mut c = Chain::new();
        c.push(&Payload::Ke(Ke {
            group: method,
            data: ke.public_value(),
        }))?;
        c.notify(NotifyType::ADDITIONAL_KEY_EXCHANGE, &self.rounds.link)?;
        self.ke = Some(ke);
        Ok(c)
    }

    /// The response to the latest request. `Err` with the peer's error notify (a
    /// TEMPORARY_FAILURE means: try again later) or what was wrong.
    pub(crate) fn process_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        payloads: &[Payload<'_>],
    ) -> Result<Step, Cause> {
        if let Some(err) = first_error(payloads) {
            return Err(self.rounds.problem(AddKeProblem::Refused(err.ty)));
        }
        let (_, method) = self
            .rounds
            .current()
            .ok_or_else(|| Cause::Internal("no additional key exchange left".into()))?;
        let ke = find(payloads, |p| match p {
            Payload::Ke(k) => Some(k),
            _ => None,
        })
        .ok_or_else(|| Cause::Protocol("IKE_FOLLOWUP_KE response without a KE payload".into()))?;
        if ke.group != method {
            return Err(self.rounds.problem(AddKeProblem::WrongMethod(ke.group)));
        }
        let ours = self
            .ke
            .take()
            .ok_or_else(|| Cause::Internal("no key exchange in progress".into()))?;
        ctx.sh.stats.dh_computations += 1;
        let secret = ours
            .finish(ke.data)
            .map_err(|e| self.rounds.problem(AddKeProblem::Invalid(e)))?;
        self.rounds.secrets.push(secret);
        if self.rounds.current().is_none() {
            return Ok(Step::Done);
        }
        match link_of(payloads) {
            Some(link) => {
                self.rounds.link = link;
                Ok(Step::More)
            }
            None => Err(self.rounds.problem(AddKeProblem::MissingLink)),
        }
    }
}

/// What the responder installs once a sequence is complete.
#[derive(Debug)]
pub(crate) enum Pending {
    Child(PendingChild),
    IkeRekey(PendingIkeRekey),
}

/// A CHILD SA agreed in CREATE_CHILD_SA, waiting for its additional exchanges.
#[derive(Debug)]
pub(crate) struct PendingChild {
    /// Index into the connection's children.
    pub child: usize,
    pub spi_in: u32,
    pub spi_out: u32,
    pub suite: EspSuite,
    /// Ours and the peer's, as installed.
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
    /// Our inbound SPI of the CHILD SA it rekeys.
    pub rekey_of: Option<u32>,
}

/// An IKE SA rekey agreed in CREATE_CHILD_SA, waiting for its additional exchanges.
#[derive(Debug)]
pub(crate) struct PendingIkeRekey {
    pub suite: IkeSuite,
    pub spi_i: IkeSpi,
    pub spi_r: IkeSpi,
}

/// The responder's sequence: what CREATE_CHILD_SA agreed, its nonces and first
/// secret, and the additional exchanges.
#[derive(Debug)]
pub(crate) struct Passive {
    pub pending: Pending,
    pub ni: Vec<u8>,
    pub nr: Vec<u8>,
    pub g_ir: SecretBytes,
    pub rounds: Rounds,
}

impl Passive {
    /// A new sequence; its link data is random, so a follow-up for an abandoned one is
    /// told apart.
    pub(crate) fn new(
        pending: Pending,
        ni: Vec<u8>,
        nr: Vec<u8>,
        g_ir: SecretBytes,
        all: impl Iterator<Item = (u8, DhGroup)>,
        ctx: &mut Ctx<'_>,
    ) -> Self {
        Self {
            pending,
            ni,
            nr,
            g_ir,
            rounds: Rounds::new(all, new_link(ctx)),
        }
    }

    /// The notify that ends our CREATE_CHILD_SA (or IKE_FOLLOWUP_KE) response.
    pub(crate) fn push_link(&self, resp: &mut Chain) -> Result<(), Cause> {
        resp.notify(NotifyType::ADDITIONAL_KEY_EXCHANGE, &self.rounds.link)
    }

    /// The lower of the two nonces (for collisions).
    pub(crate) fn min_nonce(&self) -> &[u8] {
        if self.ni <= self.nr {
            &self.ni
        } else {
            &self.nr
        }
    }

    /// The CHILD SA it rekeys, if it is a CHILD SA rekey.
    pub(crate) fn rekeys_child(&self) -> Option<u32> {
        match &self.pending {
            Pending::Child(c) => c.rekey_of,
            Pending::IkeRekey(_) => None,
        }
    }

    /// The inbound SPI it reserved, to release when it is abandoned.
    pub(crate) fn reserved_spi(&self) -> Option<u32> {
        match &self.pending {
            Pending::Child(c) => Some(c.spi_in),
            Pending::IkeRekey(_) => None,
        }
    }
}

fn new_link(ctx: &mut Ctx<'_>) -> Vec<u8> {
    let mut link = vec![0; 8];
    rand_core::RngCore::fill_bytes(&mut ctx.sh.rng, &mut link);
    link
}

/// Drops the responder's sequence in progress (a new CREATE_CHILD_SA replaced it, the
/// collision was lost by the peer, or it failed), releasing its SPI.
pub(crate) fn abandon(sa: &mut IkeSa, ctx: &mut Ctx<'_>) {
    if let Some(p) = sa.followup.take() {
        if let Some(spi) = p.reserved_spi() {
            ctx.sh.child_spis.remove(&spi);
        }
    }
}

/// The responder's side of IKE_FOLLOWUP_KE.
pub(crate) fn process_request(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    payloads: &[Payload<'_>],
    resp: &mut Chain,
) {
    let linked = match (
        &sa.followup,
        find_notify(payloads, NotifyType::ADDITIONAL_KEY_EXCHANGE),
    ) {
        (Some(p), Some(n)) => n.data == p.rounds.link.as_slice(),
        _ => false,
    };
    if !linked {
        // RFC 9370 section 2.2.4: no such sequence (abandoned, lost collision, or a
        // follow-up after we restarted).
        ctx.sh.stats.dropped_unexpected += 1;
        let _ = resp.notify(NotifyType::STATE_NOT_FOUND, &[]);
        return;
    }
    let Some(mut p) = sa.followup.take() else {
        return;
    };
    match answer(ctx, &mut p, payloads, resp) {
        Ok(false) => sa.followup = Some(p),
        Ok(true) => finish(sa, ctx, *p),
        Err((notify, cause)) => {
            *resp = Chain::new();
            let _ = resp.notify(notify, &[]);
            if let Some(spi) = p.reserved_spi() {
                ctx.sh.child_spis.remove(&spi);
            }
            let child = match &p.pending {
                Pending::Child(c) => sa.conn.children.get(c.child).map(|c| c.name.clone()),
                Pending::IkeRekey(_) => None,
            };
            let f = sa.failure(Phase::CreateChildSa, cause, false, child, true);
            ctx.sh.event(crate::event::Event::Failed(f));
        }
    }
}

/// Runs the exchange the request asks for; `Ok(true)` when it was the last.
fn answer(
    ctx: &mut Ctx<'_>,
    p: &mut Passive,
    payloads: &[Payload<'_>],
    resp: &mut Chain,
) -> Result<bool, (NotifyType, Cause)> {
    let Some((_, method)) = p.rounds.current() else {
        let cause = p.rounds.problem(AddKeProblem::Unexpected);
        return Err((NotifyType::STATE_NOT_FOUND, cause));
    };
    let Some(ke) = find(payloads, |x| match x {
        Payload::Ke(k) => Some(k),
        _ => None,
    }) else {
        let cause = Cause::Protocol("IKE_FOLLOWUP_KE request without a KE payload".into());
        return Err((NotifyType::INVALID_SYNTAX, cause));
    };
    if ke.group != method {
        let cause = p.rounds.problem(AddKeProblem::WrongMethod(ke.group));
        return Err((NotifyType::NO_PROPOSAL_CHOSEN, cause));
    }
    ctx.sh.stats.dh_computations += 1;
    let (data, secret) = ke::respond(method, ke.data, &mut ctx.sh.rng).map_err(|e| {
        let cause = p.rounds.problem(AddKeProblem::Invalid(e));
        (NotifyType::NO_PROPOSAL_CHOSEN, cause)
    })?;
    resp.push(&Payload::Ke(Ke {
        group: method,
        data: &data,
    }))
    .map_err(|c| (NotifyType::INVALID_SYNTAX, c))?;
    p.rounds.secrets.push(secret);
    if p.rounds.current().is_none() {
        return Ok(true);
    }
    p.rounds.link = new_link(ctx);
    p.push_link(resp)
        .map_err(|c| (NotifyType::INVALID_SYNTAX, c))?;
    Ok(false)
}

/// The last exchange of a sequence is answered: install what it agreed.
fn finish(sa: &mut IkeSa, ctx: &mut Ctx<'_>, p: Passive) {
    let Passive {
        pending,
        ni,
        nr,
        g_ir,
        rounds,
    } = p;
    match pending {
        Pending::Child(c) => super::child_create::install_responder(
            sa,
            ctx,
            c,
            &ni,
            &nr,
            Some(&g_ir),
            &rounds.secrets,
        ),
        Pending::IkeRekey(r) => {
            super::ike_rekey::install_responder(sa, ctx, r, &ni, &nr, &g_ir, &rounds.secrets)
        }
    }
}
