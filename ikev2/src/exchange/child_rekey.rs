//! Rekeying CHILD SAs (RFC 7296 sections 1.3.3, 2.8, 2.8.1; strongSwan
//! `child_rekey.c`): CREATE_CHILD_SA with N(REKEY_SA) naming the SA replaced, and new
//! SPIs, nonces and (with PFS) KE payloads; then the old SA is deleted.
//!
//! Make-before-break, as strongSwan does it:
//!
//! 1. The responder installs the new SA pair before it answers; it keeps sending on
//!    the old SA (the initiator cannot decrypt the new one yet).
//! 2. The initiator installs the new pair on the response, switches its outbound
//!    traffic to it at once and deletes the old SA (`ChildDelete`).
//! 3. The responder switches outbound when that Delete arrives.
//! 4. Both keep the old inbound SA `delete_rekeyed_delay` (5 s) after the Delete.
//!
//! Collisions (section 2.8.1): when both ends rekey the same SA at once, each
//! answers the other's request. Once both exchanges are complete, the one whose
//! lowest nonce is the lowest of all four created the redundant SA; its initiator
//! deletes that SA, the winner's initiator deletes the old one. A rekey of an SA we
//! already replaced or are deleting is answered TEMPORARY_FAILURE, one of an SA we do
//! not know CHILD_SA_NOT_FOUND.
//!
//! A rekey that fails (an error notify, a response we cannot use, a local error)
//! leaves the old SA in use and is tried again after
//! [`rekey_retry_delay`] (6 to 15 s, strongSwan's
//! `schedule_delayed_rekey`), until the SA's hard lifetime.

use core::time::Duration;

use crate::error::Phase;
use crate::ike_sa::ctx::Ctx;
use crate::ike_sa::{ChildState, IkeSa, Recreate};
use crate::wire::{Notify, NotifyType, Payload, ProtocolId};

use super::child_create::ChildCreate;
use super::child_delete::ChildDelete;
use super::{Chain, Outcome, Task, first_error, note_retry, rekey_retry_delay};

/// The initiator's rekey of one CHILD SA.
#[derive(Debug)]
pub(crate) struct ChildRekey {
    /// Our inbound SPI of the SA rekeyed.
    pub(crate) old: u32,
    inner: ChildCreate,
    /// The SA was, when the request was built, a replacement from the peer's own
    /// rekey that the peer had not started to use: the peer may not have had it yet
    /// (our answer to its rekey still on the way), so a CHILD_SA_NOT_FOUND for this
    /// request (the peer answers retransmissions from its cache) proves nothing.
    peer_may_not_know: bool,
}

impl ChildRekey {
    /// A rekey of the CHILD SA with inbound SPI `old`, or `None` if it does not exist
    /// or its configuration is gone.
    pub(crate) fn new(sa: &IkeSa, old: u32) -> Option<Self> {
        let c = sa.children.iter().find(|c| c.spi_in == old)?;
        let index = sa.conn.children.iter().position(|cfg| cfg.name == c.name)?;
        let mut inner = ChildCreate::new(index);
        inner.rekey = Some(old);
        Some(Self::with(old, inner))
    }

    pub(crate) fn with(old: u32, inner: ChildCreate) -> Self {
        Self {
            old,
            inner,
            peer_may_not_know: false,
        }
    }

    pub(crate) fn reserved_spi(&self) -> Option<u32> {
        self.inner.reserved_spi()
    }

    /// Whether its next request (or the one in flight) is an IKE_FOLLOWUP_KE.
    pub(crate) fn in_followup(&self) -> bool {
        self.inner.in_followup()
    }

    pub(crate) fn build(
        &mut self,
        sa: &mut IkeSa,
        ctx: &mut Ctx<'_>,
    ) -> Result<Option<Chain>, crate::error::Cause> {
        if self.inner.in_followup() {
            // Between the exchanges of one rekey: whatever happened to the old SA
            // meanwhile is sorted out once the new one exists.
            return self.inner.build(sa, ctx);
        }
        // The SA may have been deleted, or rekeyed by the peer, while we waited.
        match sa.child_mut(self.old) {
            Some(c) if matches!(c.state, ChildState::Installed | ChildState::Rekeying) => {
                c.state = ChildState::Rekeying;
                self.peer_may_not_know = c.pending_switch.is_some();
            }
            _ => return Ok(None),
        }
        match self.inner.build(sa, ctx) {
            Ok(Some(c)) => Ok(Some(c)),
            Ok(None) => {
                if let Some(c) = sa.child_mut(self.old) {
                    c.state = ChildState::Installed;
                }
                Ok(None)
            }
            Err(cause) => {
                // A local problem (no DH value ...): like strongSwan, keep the SA and
                // try again later instead of failing the IKE SA.
                if let Some(spi) = self.inner.reserved_spi() {
                    ctx.sh.child_spis.remove(&spi);
                }
                let name = sa.child_mut(self.old).map(|c| c.name.clone());
                if let Some(name) = name {
                    sa.fail_child(ctx, Phase::CreateChildSa, cause, true, &name);
                    if let Some(wait) = retry_later(sa, ctx, self.old) {
                        note_retry(ctx, sa.id, Some(&name), wait);
                    }
                }
                Ok(None)
            }
        }
    }

    pub(crate) fn process_response(
        &mut self,
        sa: &mut IkeSa,
        ctx: &mut Ctx<'_>,
        payloads: &[Payload<'_>],
    ) -> Outcome {
        let error = first_error(payloads).map(|n| n.ty);
        let was_followup = self.inner.in_followup();
        let mut outcome = self.inner.process_response(sa, ctx, payloads);
        if matches!(outcome, Outcome::Continue) {
            if was_followup {
                return outcome;
            }
            match self.collision_before_followups(sa, ctx) {
                Some(o) => return o,
                // Lost to the peer's completed rekey: as if ours had failed.
                None => outcome = Outcome::Done,
            }
        }
        let old = self.old;
        let Some(new) = self.inner.installed else {
            let rekeying = sa
                .children
                .iter()
                .any(|c| c.spi_in == old && c.state == ChildState::Rekeying);
            if self.inner.retried || !rekeying {
                // Retried with another group, or the old SA was deleted meanwhile.
                return outcome;
            }
            // No new SA. Whatever the peer did to the old one decides what is next.
            let peer_rekey = sa.child_mut(old).and_then(|c| c.peer_rekey.take());
            match (error, peer_rekey) {
                (_, Some((peer_new, _))) => {
                    // The peer's rekey of it succeeded: that is the replacement, and
                    // the peer deletes the old SA.
                    if let Some(c) = sa.child_mut(old) {
                        c.state = ChildState::Rekeyed;
                    }
                    if let Some(n) = sa.child_mut(peer_new) {
                        n.pending_switch = Some(old);
                    }
                }
                (Some(NotifyType::CHILD_SA_NOT_FOUND), None)
                    if self.peer_may_not_know
                        || sa
                            .child_mut(old)
                            .is_some_and(|c| c.pending_switch.is_some()) =>
                {
                    // It is the replacement of the peer's own rekey, which the peer
                    // had not started to use when we asked: our answer to that rekey
                    // was still on its way (or lost and about to be retransmitted), so
                    // the peer did not know it yet. Removing it would leave both ends
                    // without a CHILD SA once the peer installs it; try again later
                    // instead (the retry is a new request, answered afresh).
                    retry_later(sa, ctx, old);
                }
                (Some(NotifyType::CHILD_SA_NOT_FOUND), None) => {
                    // The peer no longer has it (RFC 7296 section 2.25): remove it
                    // without a Delete and create a new one from scratch, whatever
                    // `dpd_action` says (as strongSwan's child_rekey does): the peer
                    // lost state, the operator did not ask for the SA to go.
                    if let Some(c) = sa.remove_child(ctx, old) {
                        sa.recreate_child(&c.name, Recreate::Always);
                    }
                }
                (Some(NotifyType::TEMPORARY_FAILURE), None) => {
                    // Try again a little later (RFC 7296 section 2.25), unless a Delete
                    // of it arrives first. Not reported: a collision, not a failure.
                    retry_later(sa, ctx, old);
                }
                (_, None) => {
                    // Failed (reported already): the old SA stays and the rekey is tried
                    // again until its hard lifetime (strongSwan's
                    // `schedule_delayed_rekey`).
                    let name = sa.child_mut(old).map(|c| c.name.clone());
                    if let (Some(wait), Some(name)) = (retry_later(sa, ctx, old), name) {
                        note_retry(ctx, sa.id, Some(&name), wait);
                    }
                }
            }
            return outcome;
        };
        let old_rekeying = sa
            .children
            .iter()
            .any(|c| c.spi_in == old && c.state == ChildState::Rekeying);
        if !old_rekeying {
            // The old SA was replaced meanwhile (the peer's rekey won and its Delete
            // came before our response, e.g. after losses). If its replacement is in
            // place, ours is redundant; if nothing is (the old SA expired), ours is it.
            let name = sa.child_mut(new).map(|c| c.name.clone());
            let replaced = sa.children.iter().any(|c| {
                c.spi_in != new
                    && c.spi_in != old
                    && Some(&c.name) == name.as_ref()
                    && matches!(c.state, ChildState::Installed | ChildState::Rekeying)
            });
            if replaced {
                if let Some(n) = sa.child_mut(new) {
                    n.pending_switch = None;
                    n.rekey_at = None;
                }
                sa.queue
                    .push_front(Task::ChildDelete(ChildDelete::redundant(new)));
            } else {
                won(sa, ctx, old, new);
            }
            return outcome;
        }
        let our_min = lowest(self.inner.nonce(), &self.inner.nr).to_vec();
        let peer_rekey = sa.child_mut(old).and_then(|c| c.peer_rekey.take());
        match peer_rekey {
            Some((peer_new, peer_min)) if our_min < peer_min => {
                // We lost: our new SA is redundant and ours to delete; the peer's
                // replacement takes over when the peer deletes the old SA.
                if let Some(n) = sa.child_mut(new) {
                    n.pending_switch = None;
                    n.rekey_at = None;
                }
                if let Some(n) = sa.child_mut(peer_new) {
                    n.pending_switch = Some(old);
                }
                if let Some(c) = sa.child_mut(old) {
                    c.state = ChildState::Rekeyed;
                }
                sa.queue
                    .push_front(Task::ChildDelete(ChildDelete::redundant(new)));
            }
            Some((peer_new, _)) => {
                // We won: the peer deletes its redundant SA; we delete the old one.
                if let Some(n) = sa.child_mut(peer_new) {
                    n.pending_switch = None;
                    n.rekey_at = None;
                }
                won(sa, ctx, old, new);
            }
            None => won(sa, ctx, old, new),
        }
        outcome
    }
}

impl ChildRekey {
    /// RFC 9370 section 2.2.4, as strongSwan decides it: our CREATE_CHILD_SA response
    /// agreed on additional key exchanges, and the peer rekeys the same SA too (done
    /// already, or waiting for its own follow-ups). The exchange with the lowest nonce
    /// loses; its initiator sends no follow-up. `Some(outcome)` to return, `None` when
    /// we lost to a completed rekey of the peer (handled like a failed rekey of ours).
    fn collision_before_followups(&mut self, sa: &mut IkeSa, ctx: &mut Ctx<'_>) -> Option<Outcome> {
        let old = self.old;
        let our_min = lowest(self.inner.nonce(), &self.inner.nr).to_vec();
        let peer_done = sa
            .children
            .iter()
            .find(|c| c.spi_in == old)
            .and_then(|c| c.peer_rekey.as_ref().map(|(_, min)| min.clone()));
        let peer_waiting = sa
            .followup
            .as_ref()
            .filter(|p| p.rekeys_child() == Some(old))
            .map(|p| p.min_nonce().to_vec());
        let lost = match (&peer_done, &peer_waiting) {
            (Some(peer_min), _) | (None, Some(peer_min)) => our_min < *peer_min,
            (None, None) => return Some(Outcome::Continue),
        };
        if !lost {
            // We won: the peer abandons its sequence, so stop waiting for it.
            if peer_waiting.is_some() {
                super::followup_ke::abandon(sa, ctx);
            }
            return Some(Outcome::Continue);
        }
        self.inner.abort_followup(ctx);
        if peer_done.is_some() {
            return None;
        }
        // The peer's rekey goes on and replaces the SA when its last follow-up
        // arrives; the peer then deletes the old one.
        if let Some(c) = sa.child_mut(old) {
            c.state = ChildState::Rekeyed;
            c.rekey_at = None;
        }
        Some(Outcome::Done)
    }
}

/// The rekey of `old` (inbound SPI) did not happen: the SA is used on and its rekey
/// tried again after [`rekey_retry_delay`]. Returns that wait, or `None` if the SA is
/// no longer being rekeyed by us (deleted or replaced meanwhile).
fn retry_later(sa: &mut IkeSa, ctx: &mut Ctx<'_>, old: u32) -> Option<Duration> {
    let wait = rekey_retry_delay(&mut ctx.sh.rng);
    let c = sa.child_mut(old)?;
    if c.state != ChildState::Rekeying {
        return None;
    }
    c.state = ChildState::Installed;
    c.rekey_at = Some(ctx.now + wait);
    c.rekey_retry = true;
    Some(wait)
}

/// Our new SA replaces `old`: outbound switches now, the old SA is deleted.
fn won(sa: &mut IkeSa, ctx: &mut Ctx<'_>, old: u32, new: u32) {
    sa.switch_outbound(ctx, old, new);
    if let Some(c) = sa.child_mut(old) {
        c.state = ChildState::Rekeyed;
        c.rekey_at = None;
    }
    sa.queue
        .push_front(Task::ChildDelete(ChildDelete::rekeyed(old)));
}

/// The lower of two nonces (compared as unsigned big-endian octet strings, as
/// strongSwan's `memcmp` of equal-length nonces).
fn lowest<'a>(a: &'a [u8], b: &'a [u8]) -> &'a [u8] {
    if a <= b { a } else { b }
}

/// Responder: the SA a REKEY_SA notify names, if it may be rekeyed; otherwise the
/// answer (CHILD_SA_NOT_FOUND or TEMPORARY_FAILURE) is put in `resp`.
pub(crate) fn check_request(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    n: &Notify<'_>,
    resp: &mut Chain,
) -> Option<u32> {
    let spi = <[u8; 4]>::try_from(n.spi).ok().map(u32::from_be_bytes);
    let found = spi.and_then(|spi| {
        sa.children
            .iter()
            .find(|c| c.spi_out == spi && !matches!(c.state, ChildState::Lingering(_)))
    });
    let Some(c) = found else {
        // RFC 7296 section 2.25.
        let _ = resp.push(&Payload::Notify(Notify::with_spi(
            ProtocolId::ESP,
            n.spi,
            NotifyType::CHILD_SA_NOT_FOUND,
            &[],
        )));
        ctx.sh.stats.rekeys_refused += 1;
        return None;
    };
    let our_followups_sent = matches!(
        &sa.active,
        Some(Task::ChildRekey(t)) if t.old == c.spi_in && t.in_followup()
    );
    match c.state {
        ChildState::Rekeying if our_followups_sent => {
            // Our own rekey of it is past CREATE_CHILD_SA (strongSwan answers the same).
            let _ = resp.notify(NotifyType::TEMPORARY_FAILURE, &[]);
            ctx.sh.stats.rekeys_refused += 1;
            None
        }
        ChildState::Installed | ChildState::Rekeying => Some(c.spi_in),
        _ => {
            // Already replaced or being deleted (strongSwan answers the same).
            let _ = resp.notify(NotifyType::TEMPORARY_FAILURE, &[]);
            ctx.sh.stats.rekeys_refused += 1;
            None
        }
    }
}

/// Responder: the peer's replacement `new` of `old` is installed.
pub(crate) fn responder_installed(sa: &mut IkeSa, old: u32, new: u32, ni: &[u8], nr: &[u8]) {
    let min = lowest(ni, nr).to_vec();
    let Some(c) = sa.child_mut(old) else {
        return;
    };
    if c.state == ChildState::Rekeying {
        // A collision: our own rekey of it is in flight; decided on its response.
        c.peer_rekey = Some((new, min));
        if let Some(n) = sa.child_mut(new) {
            n.pending_switch = None;
        }
    } else {
        c.state = ChildState::Rekeyed;
        c.rekey_at = None;
    }
}
