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
use crate::crypto::proposal::{self, Preference, Proposal};
use crate::error::{Cause, Phase};
use crate::ike_sa::ctx::Ctx;
use crate::ike_sa::{IkeSa, NewIke, SaCrypto, State};
use crate::wire::{self, DhGroup, IkeSpi, Ke, Nonce, NotifyType, Payload, ProtocolId};

use super::ike_init::{nonce, numbered, peer_proposals};
use super::{Chain, Outcome, Task, find, find_notify, first_error, rekey_retry_delay};

/// The initiator's IKE SA rekey.
#[derive(Debug)]
pub(crate) struct IkeRekey {
    group: Option<DhGroup>,
    spi: IkeSpi,
    nonce: Vec<u8>,
    dh: Option<KeInitiator>,
    retries: u32,
}

impl IkeRekey {
    pub(crate) fn new() -> Self {
        Self {
            group: None,
            spi: IkeSpi::ZERO,
            nonce: Vec::new(),
            dh: None,
            retries: 0,
        }
    }

    pub(crate) fn build(
        &mut self,
        sa: &mut IkeSa,
        ctx: &mut Ctx<'_>,
    ) -> Result<Option<Chain>, Cause> {
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
        let ours = match self.complete(sa, payloads) {
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

    /// The new SA from the response; `Err(None)` for TEMPORARY_FAILURE, otherwise the
    /// cause of the failure.
    fn complete(&mut self, sa: &IkeSa, payloads: &[Payload<'_>]) -> Result<NewIke, Option<Cause>> {
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
        proposal::select(
            &sa.conn.proposals,
            std::slice::from_ref(&chosen),
            Preference::PreferOurs,
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
        new_ike(sa, suite, &g_ir, self.spi, spi_r, &self.nonce, &nr, true).map_err(Some)
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
) -> Result<NewIke, Cause> {
    let old = sa
        .crypto
        .as_ref()
        .ok_or_else(|| Cause::Internal("no keys".into()))?;
    let seed = rekey_skeyseed(old.suite.prf, &old.sk_d, g_ir, ni, nr, &[]);
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
    let colliding = matches!(sa.active, Some(Task::IkeRekey(_)));
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
    let selected = match proposal::select(&sa.conn.proposals, &theirs, Preference::PreferOurs) {
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
    let new = match new_ike(sa, suite, &g_ir, spi_i, spi_r, &ni, &nr, false) {
        Ok(n) => n,
        Err(cause) => {
            let _ = resp.notify(NotifyType::NO_PROPOSAL_CHOSEN, &[]);
            let f = sa.failure(Phase::CreateChildSa, cause, false, None, true);
            ctx.sh.event(crate::event::Event::Failed(f));
            return true;
        }
    };
    let built = (|| -> Result<(), Cause> {
        resp.push(&Payload::Sa(wire::Sa {
            proposals: vec![
                selected
                    .clone()
                    .with_spi(spi_r.to_bytes().to_vec())
                    .to_wire(),
            ],
        }))?;
        resp.push(&Payload::Nonce(Nonce { data: &nr }))?;
        resp.push(&Payload::Ke(Ke {
            group: suite.dh,
            data: &ke_data,
        }))
    })();
    if built.is_err() {
        return false;
    }
    if colliding {
        // Decided when our own exchange completes.
        sa.peer_ike_rekey = Some(Box::new(new));
    } else {
        // The new SA takes over once the response is sent; the peer deletes the old.
        sa.pending_adopt = Some((Box::new(new), false));
    }
    true
}
