//! Rekeying the IKE SA (RFC 7296 sections 1.3.2, 2.8, 2.8.2, 2.18; strongSwan
//! `ike_rekey.c`): CREATE_CHILD_SA with `SA(IKE, new SPI) Ni KE`, answered
//! `SA Nr KE`. SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr), the keys from it as
//! in section 2.14 with the new SPIs; the initiator of this exchange is the original
//! initiator of the new IKE SA.
//!
//! The [`IkeSaId`](crate::event::IkeSaId) stays: the SA object takes the new SPIs,
//! keys and message IDs (from 0), keeps its CHILD SAs, and the old incarnation is
//! split off as a *ghost* SA without children that only deletes itself (the rekey
//! initiator sends the Delete on it) or waits for the peer's Delete (responder).
//!
//! Collisions (section 2.8.2): if both ends rekey at once, each answers the other and
//! decides once its own exchange is complete: the new SA whose exchange has the
//! lowest nonce of the four is redundant and deleted by its initiator; the winner's
//! initiator deletes the old SA. While our IKE rekey is outstanding, a CHILD rekey or
//! creation from the peer is answered TEMPORARY_FAILURE; while any other request of
//! ours is outstanding, so is the peer's IKE rekey.

use crate::crypto::algorithms::IkeSuite;
use crate::crypto::dh::DhError;
use crate::crypto::ke::{self, KeInitiator};
use crate::crypto::keymat::{IkeKeys, rekey_skeyseed};
use crate::crypto::proposal::{self, Preference, Proposal, SelectOptions};
use crate::crypto::secret::SecretBytes;
use crate::error::{Cause, Phase};
use crate::ike_sa::ctx::Ctx;
use crate::ike_sa::{IkeSa, NewIke, SaCrypto, State};
use crate::wire::{self, DhGroup, IkeSpi, Ke, Nonce, NotifyType, Payload, ProtocolId};

use super::followup_ke::{Followups, Passive, Pending, PendingIkeRekey, Step};
use super::ike_init::{nonce, numbered, peer_proposals};
use super::ike_intermediate::AddKeProblem;
use super::{Chain, Outcome, Task, find, find_notify, first_error, rekey_retry_delay};

/// The initiator's IKE SA rekey.
#[derive(Debug)]
pub(crate) struct IkeRekey {
    group: Option<DhGroup>,
    spi: IkeSpi,
    nonce: Vec<u8>,
    dh: Option<KeInitiator>,
    retries: u32,
    /// After a CREATE_CHILD_SA response that agreed on additional key exchanges:
    /// what it agreed and the IKE_FOLLOWUP_KE exchanges in progress.
    followup: Option<Box<(Agreed, Followups)>>,
}

/// What the CREATE_CHILD_SA response agreed on.
#[derive(Debug)]
struct Agreed {
    suite: IkeSuite,
    spi_r: IkeSpi,
    nr: Vec<u8>,
    g_ir: SecretBytes,
}

impl IkeRekey {
    pub(crate) fn new() -> Self {
        Self {
            group: None,
            spi: IkeSpi::ZERO,
            nonce: Vec::new(),
            dh: None,
            retries: 0,
            followup: None,
        }
    }

    /// Whether its next request (or the one in flight) is an IKE_FOLLOWUP_KE.
    pub(crate) fn in_followup(&self) -> bool {
        self.followup.is_some()
    }

    pub(crate) fn build(
        &mut self,
        sa: &mut IkeSa,
        ctx: &mut Ctx<'_>,
    ) -> Result<Option<Chain>, Cause> {
        if let Some(f) = &mut self.followup {
            return f.1.build(ctx).map(Some);
        }
        if !sa.is_established() || sa.ghost {
            return Ok(None);
        }
        let current = sa.crypto.as_ref().map(|c| c.suite.dh);
        let group = self
            .group
            .or(current)
            .or_else(|| proposal::first_dh_group(&sa.conn.proposals))
            .ok_or_else(|| Cause::Internal("no DH group to rekey the IKE SA".into()))?;
        let dh = KeInitiator::start(group, &mut ctx.sh.rng).map_err(Cause::LocalDh)?;
        self.spi = new_spi(ctx);
        self.nonce = nonce(ctx);
        let proposals: Vec<Proposal> = numbered(&sa.conn.proposals)
            .into_iter()
            .map(|p| p.with_spi(self.spi.to_bytes().to_vec()))
            .collect();
        let mut c = Chain::new();
        c.push(&Payload::Sa(wire::Sa {
            proposals: proposals.iter().map(Proposal::to_wire).collect(),
        }))?;
        c.push(&Payload::Nonce(Nonce { data: &self.nonce }))?;
        c.push(&Payload::Ke(Ke {
            group: dh.method(),
            data: dh.public_value(),
        }))?;
        self.dh = Some(dh);
        Ok(Some(c))
    }

    pub(crate) fn process_response(
        &mut self,
        sa: &mut IkeSa,
        ctx: &mut Ctx<'_>,
        payloads: &[Payload<'_>],
    ) -> Outcome {
        if let Some(f) = self.followup.take() {
            return self.process_followup(sa, ctx, payloads, *f);
        }
        if let Some(group) =
            find_notify(payloads, NotifyType::INVALID_KE_PAYLOAD).and_then(|n| n.invalid_ke_group())
        {
            if proposal::contains_dh_group(&sa.conn.proposals, group) && self.retries < 5 {
                let mut again = IkeRekey::new();
                again.group = Some(group);
                again.retries = self.retries + 1;
                sa.queue.push_front(Task::IkeRekey(Box::new(again)));
                return Outcome::Done;
            }
        }
        if self.dh.is_some() {
            ctx.sh.stats.dh_computations += 1;
        }
        let ours = match self.agreed(sa, payloads) {
            Ok(a) if a.suite.additional().next().is_some() => {
                return self.start_followups(sa, ctx, payloads, a);
            }
            Ok(a) => new_ike(
                sa,
                a.suite,
                &a.g_ir,
                self.spi,
                a.spi_r,
                &self.nonce,
                &a.nr,
                true,
                &[],
            )
            .map_err(Some),
            Err(e) => Err(e),
        };
        self.finish(sa, ctx, ours)
    }

    /// The new SA (or why there is none) is known: adopt it, or the peer's after a
    /// collision, or try again later.
    fn finish(
        &mut self,
        sa: &mut IkeSa,
        ctx: &mut Ctx<'_>,
        ours: Result<NewIke, Option<Cause>>,
    ) -> Outcome {
        let ours = match ours {
            Ok(n) => n,
            Err(refused) => {
                if let Some(theirs) = sa.peer_ike_rekey.take() {
                    // The peer's rekey (which we answered) is the one that stays; the
                    // peer deletes the old SA.
                    sa.pending_adopt = Some((theirs, false));
                    return Outcome::Done;
                }
                // The old SA stays; try again later, until its hard lifetime
                // (strongSwan's `schedule_delayed_rekey`). TEMPORARY_FAILURE (RFC 7296
                // section 2.25) is a collision, not reported as a failure.
                let wait = rekey_retry_delay(&mut ctx.sh.rng);
                sa.rekey_at = Some(ctx.now + wait);
                if let Some(cause) = refused {
                    let mut f = sa.failure(Phase::CreateChildSa, cause, true, None, true);
                    f.retry_in = Some(wait);
                    ctx.sh.event(crate::event::Event::Failed(f));
                }
                return Outcome::Done;
            }
        };
        match sa.peer_ike_rekey.take() {
            Some(theirs) if ours.min_nonce < theirs.min_nonce => {
                // We lost: the peer's new SA stays; ours is redundant, ours to delete.
                sa.extra_ghosts.push((ours, true));
                sa.pending_adopt = Some((theirs, false));
            }
            Some(theirs) => {
                // We won: the peer deletes its redundant SA (a ghost waits for that).
                sa.extra_ghosts.push((*theirs, false));
                sa.pending_adopt = Some((Box::new(ours), true));
            }
            None => sa.pending_adopt = Some((Box::new(ours), true)),
        }
        Outcome::Done
    }

    /// RFC 9370: the response agreed on additional key exchanges. A collision with the
    /// peer's rekey is decided now, as strongSwan does: the exchange with the lowest
    /// nonce loses, and its initiator sends no IKE_FOLLOWUP_KE.
    fn start_followups(
        &mut self,
        sa: &mut IkeSa,
        ctx: &mut Ctx<'_>,
        payloads: &[Payload<'_>],
        agreed: Agreed,
    ) -> Outcome {
        let our_min = if self.nonce <= agreed.nr {
            self.nonce.clone()
        } else {
            agreed.nr.clone()
        };
        let peer_waiting = sa
            .followup
            .as_ref()
            .filter(|p| matches!(p.pending, Pending::IkeRekey(_)))
            .map(|p| p.min_nonce().to_vec());
        if let Some(theirs) = sa.peer_ike_rekey.take() {
            if our_min < theirs.min_nonce {
                // We lost to the peer's completed rekey: it stays, the peer deletes the
                // old SA.
                sa.pending_adopt = Some((theirs, false));
                return Outcome::Done;
            }
            sa.peer_ike_rekey = Some(theirs);
        }
        if let Some(peer_min) = peer_waiting {
            if our_min < peer_min {
                // We lost: the peer's rekey goes on and is adopted after its last
                // IKE_FOLLOWUP_KE. Should that never come, we rekey again later.
                sa.rekey_at = Some(ctx.now + rekey_retry_delay(&mut ctx.sh.rng));
                return Outcome::Done;
            }
            // We won: the peer abandons its sequence.
            super::followup_ke::abandon(sa, ctx);
        }
        match Followups::start(agreed.suite.additional(), payloads) {
            Ok(f) => {
                self.followup = Some(Box::new((agreed, f)));
                Outcome::Continue
            }
            Err(cause) => self.finish(sa, ctx, Err(Some(cause))),
        }
    }

    /// The response to one of our IKE_FOLLOWUP_KE requests.
    fn process_followup(
        &mut self,
        sa: &mut IkeSa,
        ctx: &mut Ctx<'_>,
        payloads: &[Payload<'_>],
        mut f: (Agreed, Followups),
    ) -> Outcome {
        match f.1.process_response(ctx, payloads) {
            Ok(Step::More) => {
                self.followup = Some(Box::new(f));
                Outcome::Continue
            }
            Ok(Step::Done) => {
                let (a, followups) = f;
                let ours = new_ike(
                    sa,
                    a.suite,
                    &a.g_ir,
                    self.spi,
                    a.spi_r,
                    &self.nonce,
                    &a.nr,
                    true,
                    &followups.rounds.secrets,
                )
                .map_err(Some);
                self.finish(sa, ctx, ours)
            }
            Err(Cause::AdditionalKe {
                problem: AddKeProblem::Refused(NotifyType::TEMPORARY_FAILURE),
                ..
            }) => self.finish(sa, ctx, Err(None)),
            Err(cause) => self.finish(sa, ctx, Err(Some(cause))),
        }
    }

    /// What the response agreed on; `Err(None)` for TEMPORARY_FAILURE, otherwise the
    /// cause of the failure.
    fn agreed(&mut self, sa: &IkeSa, payloads: &[Payload<'_>]) -> Result<Agreed, Option<Cause>> {
        if let Some(err) = first_error(payloads) {
            return Err(match err.ty {
                NotifyType::TEMPORARY_FAILURE => None,
                NotifyType::NO_PROPOSAL_CHOSEN => Some(Cause::PeerRejectedProposals {
                    ours: sa.conn.proposals.clone(),
                }),
                ty => Some(Cause::PeerNotify(ty)),
            });
        }
        let protocol = |s: &str| Some(Cause::Protocol(format!("IKE SA rekey response: {s}")));
        let sa_payload = find(payloads, |p| match p {
            Payload::Sa(s) => Some(s),
            _ => None,
        })
        .ok_or_else(|| protocol("no SA payload"))?;
        let [chosen] = sa_payload.proposals.as_slice() else {
            return Err(protocol("not exactly one proposal"));
        };
        let chosen =
            Proposal::from_wire(chosen).map_err(|e| Some(Cause::UnsupportedAttribute(e)))?;
        proposal::select_with(
            &sa.conn.proposals,
            std::slice::from_ref(&chosen),
            rekey_select_options(),
        )
        .map_err(|e| Some(Cause::NoProposalChosen(e)))?;
        let suite = chosen
            .ike_suite()
            .ok_or_else(|| protocol("the chosen proposal is not a complete suite"))?;
        let spi_r = <[u8; 8]>::try_from(chosen.spi.as_slice())
            .map(IkeSpi::from_bytes)
            .map_err(|_| protocol("no 8-octet SPI"))?;
        let nr = find(payloads, |p| match p {
            Payload::Nonce(n) => Some(n.data.to_vec()),
            _ => None,
        })
        .ok_or_else(|| protocol("no nonce"))?;
        let ke = find(payloads, |p| match p {
            Payload::Ke(k) => Some(k),
            _ => None,
        })
        .ok_or_else(|| protocol("no KE payload"))?;
        let dh = self.dh.as_ref().ok_or_else(|| protocol("no DH value"))?;
        if ke.group != suite.dh || ke.group != dh.method() {
            return Err(protocol("KE of another group"));
        }
        let g_ir = dh.finish(ke.data).map_err(|e| Some(Cause::InvalidKe(e)))?;
        Ok(Agreed {
            suite,
            spi_r,
            nr,
            g_ir,
        })
    }
}

/// Selecting a rekeyed IKE SA's proposal: ours decide, and additional key exchanges
/// may be chosen (they run in IKE_FOLLOWUP_KE; no IKE_INT_SUP is involved).
fn rekey_select_options() -> SelectOptions {
    SelectOptions {
        preference: Preference::PreferOurs,
        skip_dh: false,
        additional_ke: true,
    }
}

/// Whether a CREATE_CHILD_SA request rekeys the IKE SA: its SA payload proposes for
/// IKE (RFC 7296 section 1.3.2), not for ESP. The one test for it, used both to route
/// the request here and to let it through while our own IKE rekey is in flight.
pub(crate) fn rekeys_ike_sa(payloads: &[Payload<'_>]) -> bool {
    find(payloads, |p| match p {
        Payload::Sa(s) => s.proposals.first().map(|p| p.protocol == ProtocolId::IKE),
        _ => None,
    })
    .unwrap_or(false)
}

fn new_spi(ctx: &mut Ctx<'_>) -> IkeSpi {
    loop {
        let s = IkeSpi(rand_core::RngCore::next_u64(&mut ctx.sh.rng));
        if !s.is_zero() {
            return s;
        }
    }
}

/// The keys of the new IKE SA (section 2.18). `we_initiated`: this exchange is ours.
#[allow(clippy::too_many_arguments)]
fn new_ike(
    sa: &IkeSa,
    suite: IkeSuite,
    g_ir: &crate::crypto::secret::SecretBytes,
    spi_i: IkeSpi,
    spi_r: IkeSpi,
    ni: &[u8],
    nr: &[u8],
    we_initiated: bool,
    additional: &[SecretBytes],
) -> Result<NewIke, Cause> {
    let old = sa
        .crypto
        .as_ref()
        .ok_or_else(|| Cause::Internal("no keys".into()))?;
    let seed = rekey_skeyseed(old.suite.prf, &old.sk_d, g_ir, ni, nr, additional);
    let keys = IkeKeys::derive(&suite, &seed, ni, nr, &spi_i.to_bytes(), &spi_r.to_bytes())
        .map_err(Cause::KeyDerivation)?;
    // A rekeyed SA keeps exporting if its predecessor did.
    let crypto = SaCrypto::new(suite, keys, we_initiated, old.export.is_some())?;
    Ok(NewIke {
        spi_i,
        spi_r,
        initiator: we_initiated,
        crypto,
        ni: ni.to_vec(),
        nr: nr.to_vec(),
        min_nonce: if ni <= nr { ni.to_vec() } else { nr.to_vec() },
    })
}

/// Responder: handles an IKE SA rekey request (answered in `resp`); false if it must
/// be refused with NO_ADDITIONAL_SAS.
pub(crate) fn process_request(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    payloads: &[Payload<'_>],
    resp: &mut Chain,
) -> bool {
    if sa.ghost || sa.state != State::Established {
        let _ = resp.notify(NotifyType::TEMPORARY_FAILURE, &[]);
        ctx.sh.stats.rekeys_refused += 1;
        return true;
    }
    // Our own rekey collides only before its IKE_FOLLOWUP_KE exchanges; after that it
    // is as good as done (strongSwan answers the same).
    let colliding = matches!(&sa.active, Some(Task::IkeRekey(t)) if !t.in_followup());
    if (sa.active.is_some() && !colliding) || sa.pending_adopt.is_some() {
        // Something of ours is in flight on this SA (strongSwan answers the same).
        let _ = resp.notify(NotifyType::TEMPORARY_FAILURE, &[]);
        ctx.sh.stats.rekeys_refused += 1;
        return true;
    }
    if ctx.sh.faults.refuse_ike_rekey() {
        let _ = resp.notify(NotifyType::NO_PROPOSAL_CHOSEN, &[]);
        return true;
    }
    let sa_payload = find(payloads, |p| match p {
        Payload::Sa(s) => Some(s),
        _ => None,
    });
    let ni = find(payloads, |p| match p {
        Payload::Nonce(n) => Some(n.data.to_vec()),
        _ => None,
    });
    let ke = find(payloads, |p| match p {
        Payload::Ke(k) => Some(k),
        _ => None,
    });
    let (Some(sa_payload), Some(ni), Some(ke)) = (sa_payload, ni, ke) else {
        let _ = resp.notify(NotifyType::INVALID_SYNTAX, &[]);
        return true;
    };
    let theirs: Vec<Proposal> = peer_proposals(sa_payload)
        .into_iter()
        .filter(|p| p.protocol == ProtocolId::IKE)
        .collect();
    let selected = match proposal::select_with(&sa.conn.proposals, &theirs, rekey_select_options())
    {
        Ok(s) => s,
        Err(e) => {
            let _ = resp.notify(NotifyType::NO_PROPOSAL_CHOSEN, &[]);
            let f = sa.failure(
                Phase::CreateChildSa,
                Cause::NoProposalChosen(e),
                false,
                None,
                true,
            );
            ctx.sh.event(crate::event::Event::Failed(f));
            return true;
        }
    };
    let (Some(suite), Ok(spi_i)) = (
        selected.ike_suite(),
        <[u8; 8]>::try_from(selected.spi.as_slice()).map(IkeSpi::from_bytes),
    ) else {
        let _ = resp.notify(NotifyType::INVALID_SYNTAX, &[]);
        return true;
    };
    if ke.group != suite.dh {
        ctx.sh.stats.invalid_ke_sent += 1;
        let _ = resp.notify(NotifyType::INVALID_KE_PAYLOAD, &suite.dh.0.to_be_bytes());
        return true;
    }
    ctx.sh.stats.dh_computations += 1;
    let made = ke::respond(suite.dh, ke.data, &mut ctx.sh.rng).map_err(|e| match e {
        DhError::UnsupportedGroup(_) => Cause::LocalDh(e),
        _ => Cause::InvalidKe(e),
    });
    let (ke_data, g_ir) = match made {
        Ok(x) => x,
        Err(cause) => {
            let _ = resp.notify(NotifyType::NO_PROPOSAL_CHOSEN, &[]);
            let f = sa.failure(Phase::CreateChildSa, cause, false, None, true);
            ctx.sh.event(crate::event::Event::Failed(f));
            return true;
        }
    };
    let spi_r = new_spi(ctx);
    let nr = nonce(ctx);
    if suite.additional().next().is_some() {
        // RFC 9370: the new SA's keys need the IKE_FOLLOWUP_KE exchanges first.
        let pending = PendingIkeRekey {
            suite,
            spi_i,
            spi_r,
        };
        let passive = Passive::new(
            Pending::IkeRekey(pending),
            ni,
            nr.clone(),
            g_ir,
            suite.additional(),
            ctx,
        );
        let built = push_rekey_response(resp, &selected, spi_r, &nr, suite.dh, &ke_data)
            .and_then(|()| passive.push_link(resp));
        if built.is_err() {
            return false;
        }
        sa.followup = Some(Box::new(passive));
        return true;
    }
    let new = match new_ike(sa, suite, &g_ir, spi_i, spi_r, &ni, &nr, false, &[]) {
        Ok(n) => n,
        Err(cause) => {
            let _ = resp.notify(NotifyType::NO_PROPOSAL_CHOSEN, &[]);
            let f = sa.failure(Phase::CreateChildSa, cause, false, None, true);
            ctx.sh.event(crate::event::Event::Failed(f));
            return true;
        }
    };
    if push_rekey_response(resp, &selected, spi_r, &nr, suite.dh, &ke_data).is_err() {
        return false;
    }
    adopt_peers(sa, new);
    true
}

/// `SA Nr KE` of the responder's answer to an IKE SA rekey.
fn push_rekey_response(
    resp: &mut Chain,
    selected: &Proposal,
    spi_r: IkeSpi,
    nr: &[u8],
    method: DhGroup,
    ke_data: &[u8],
) -> Result<(), Cause> {
    resp.push(&Payload::Sa(wire::Sa {
        proposals: vec![
            selected
                .clone()
                .with_spi(spi_r.to_bytes().to_vec())
                .to_wire(),
        ],
    }))?;
    resp.push(&Payload::Nonce(Nonce { data: nr }))?;
    resp.push(&Payload::Ke(Ke {
        group: method,
        data: ke_data,
    }))
}

/// The peer's rekey is complete on our side: its SA takes over once our response is
/// sent (the peer deletes the old one), or, while our own rekey awaits its
/// CREATE_CHILD_SA response, the collision is decided then.
fn adopt_peers(sa: &mut IkeSa, new: NewIke) {
    if matches!(&sa.active, Some(Task::IkeRekey(t)) if !t.in_followup()) {
        sa.peer_ike_rekey = Some(Box::new(new));
    } else {
        sa.pending_adopt = Some((Box::new(new), false));
    }
}

/// The responder's last IKE_FOLLOWUP_KE of the peer's IKE SA rekey is answered: the
/// new SA's keys from all the secrets.
pub(crate) fn install_responder(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    r: PendingIkeRekey,
    ni: &[u8],
    nr: &[u8],
    g_ir: &SecretBytes,
    additional: &[SecretBytes],
) {
    match new_ike(
        sa, r.suite, g_ir, r.spi_i, r.spi_r, ni, nr, false, additional,
    ) {
        Ok(new) => adopt_peers(sa, new),
        Err(cause) => {
            let f = sa.failure(Phase::CreateChildSa, cause, false, None, true);
            ctx.sh.event(crate::event::Event::Failed(f));
        }
    }
}
