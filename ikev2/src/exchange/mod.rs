//! Exchanges as tasks (strongSwan's `sa/ikev2/tasks`): one file per exchange, a
//! closed [`Task`] enum for the requests we initiate, and `process_request` functions
//! for the requests we answer.
//!
//! | file | initiator task | responder side | RFC 7296 |
//! |---|---|---|---|
//! | [`ike_init`] | IKE_SA_INIT request, COOKIE and INVALID_KE retries | [`ike_init::respond`] (before any SA exists) | 1.2, 2.6, 2.23 |
//! | [`ike_auth`] | IKE_AUTH with PSK and the first CHILD SA | [`ike_auth::process_request`] | 1.2, 2.15 |
//! | [`child_create`] | CREATE_CHILD_SA for a new CHILD SA; the CHILD SA part of IKE_AUTH | [`child_create::process_request`] | 1.3.1, 2.9, 2.17 |
//! | [`child_rekey`] | CREATE_CHILD_SA with N(REKEY_SA), collisions | [`child_rekey::check_request`] (from `child_create`) | 1.3.3, 2.8, 2.8.1 |
//! | [`child_delete`] | INFORMATIONAL with D(ESP) | in [`informational::process_request`] | 1.4.1 |
//! | [`ike_rekey`] | CREATE_CHILD_SA with an IKE proposal, collisions | [`ike_rekey::process_request`] (from `child_create`) | 1.3.2, 2.8.2, 2.18 |
//! | [`followup_ke`] | IKE_FOLLOWUP_KE after CREATE_CHILD_SA (in the tasks above) | [`followup_ke::process_request`] | RFC 9370 2.2.4 |
//! | [`informational`] | Delete, liveness check, AUTHENTICATION_FAILED | [`informational::process_request`] | 1.4, 2.4, 2.21 |
//!
//! [`rules`] checks payload counts before any of them runs; [`refusal`] is the one
//! table of what a malformed or invalid request is answered with.

pub(crate) mod auth;
pub(crate) mod child_create;
pub(crate) mod child_delete;
pub(crate) mod child_rekey;
pub(crate) mod followup_ke;
pub(crate) mod ike_auth;
pub(crate) mod ike_init;
pub(crate) mod ike_intermediate;
pub(crate) mod ike_rekey;
pub(crate) mod informational;
pub(crate) mod path_probe;
pub(crate) mod refusal;
pub(crate) mod rules;

use core::time::Duration;

use crate::error::Cause;
use crate::event::{Event, IkeSaId};
use crate::ike_sa::IkeSa;
use crate::ike_sa::ctx::Ctx;
use crate::wire::{self, ExchangeType, Notify, NotifyType, Payload, PayloadType};

/// After a failed rekey (IKE or CHILD SA) the SA is kept and the rekey tried again
/// this long later, minus a random part of [`REKEY_RETRY_JITTER`] (strongSwan's
/// `RETRY_INTERVAL` in `sa/ike_sa.h`, used by `schedule_delayed_rekey` in
/// `child_rekey.c` and `ike_rekey.c`).
pub(crate) const REKEY_RETRY_INTERVAL: Duration = Duration::from_secs(15);

/// strongSwan's `RETRY_JITTER`: the retry comes `RETRY_INTERVAL - (random %
/// RETRY_JITTER)` seconds after the failure, so 6 to 15 s.
pub(crate) const REKEY_RETRY_JITTER: Duration = Duration::from_secs(10);

/// When to retry a failed rekey, from now: whole seconds in 6..=15, as strongSwan.
pub(crate) fn rekey_retry_delay(rng: &mut impl rand_core::RngCore) -> Duration {
    let jitter = REKEY_RETRY_JITTER.as_secs().max(1);
    REKEY_RETRY_INTERVAL.saturating_sub(Duration::from_secs(rng.next_u64() % jitter))
}

/// Marks the failure just reported for IKE SA `ike_sa` (and `child`, for a CHILD SA)
/// as retried after `wait`, so the operator sees when the next attempt comes.
pub(crate) fn note_retry(ctx: &mut Ctx<'_>, ike_sa: IkeSaId, child: Option<&str>, wait: Duration) {
    let last = ctx.sh.events.iter_mut().rev().find_map(|e| match e {
        Event::Failed(f)
            if f.ike_sa == Some(ike_sa)
                && f.initiator
                && f.retry_in.is_none()
                && f.child.as_deref() == child =>
        {
            Some(f)
        }
        _ => None,
    });
    if let Some(f) = last {
        f.retry_in = Some(wait);
    }
}

/// A request we initiate, in progress or queued. One variant per exchange file; each
/// keeps what it needs to process the response.
#[derive(Debug)]
pub(crate) enum Task {
    IkeInit(Box<ike_init::IkeInit>),
    IkeIntermediate(Box<ike_intermediate::IkeIntermediate>),
    IkeAuth(Box<ike_auth::IkeAuth>),
    ChildCreate(Box<child_create::ChildCreate>),
    ChildRekey(Box<child_rekey::ChildRekey>),
    ChildDelete(child_delete::ChildDelete),
    IkeRekey(Box<ike_rekey::IkeRekey>),
    Informational(informational::Informational),
    PathProbe(path_probe::PathProbe),
}

impl Task {
    /// The exchange type of the request.
    pub(crate) fn exchange(&self) -> ExchangeType {
        match self {
            Task::IkeInit(_) => ExchangeType::IKE_SA_INIT,
            Task::IkeIntermediate(_) => ExchangeType::IKE_INTERMEDIATE,
            Task::IkeAuth(_) => ExchangeType::IKE_AUTH,
            Task::ChildCreate(t) if t.in_followup() => ExchangeType::IKE_FOLLOWUP_KE,
            Task::ChildRekey(t) if t.in_followup() => ExchangeType::IKE_FOLLOWUP_KE,
            Task::IkeRekey(t) if t.in_followup() => ExchangeType::IKE_FOLLOWUP_KE,
            Task::ChildCreate(_) | Task::ChildRekey(_) | Task::IkeRekey(_) => {
                ExchangeType::CREATE_CHILD_SA
            }
            Task::Informational(_) | Task::ChildDelete(_) | Task::PathProbe(_) => {
                ExchangeType::INFORMATIONAL
            }
        }
    }
}

/// What processing a response leads to.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The exchange is complete; the next queued task may start.
    Done,
    /// Send the request again with the same message ID (IKE_SA_INIT after COOKIE or
    /// INVALID_KE_PAYLOAD); the task was updated.
    Retry,
    /// The exchange is complete and the task's next request follows at once, with the
    /// next message ID (IKE_FOLLOWUP_KE after CREATE_CHILD_SA).
    Continue,
    /// Not a response we can use (an unauthenticated IKE_SA_INIT response that does
    /// not make sense); keep waiting, retransmitting as before.
    Ignore,
    /// The IKE SA failed (events already sent or to be sent by the caller).
    Failed(Cause),
    /// The IKE SA is deleted (after a Delete exchange); no failure.
    Deleted,
}

/// A payload chain under construction: each payload is encoded as it is pushed and
/// the previous payload's next-payload field is patched.
#[derive(Debug, Clone, Default)]
pub(crate) struct Chain {
    pub bytes: Vec<u8>,
    pub first: PayloadType,
    last: Option<usize>,
}

impl Chain {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn push(&mut self, p: &Payload<'_>) -> Result<(), Cause> {
        let at = self.bytes.len();
        p.emit_with_next(PayloadType::NO_NEXT_PAYLOAD, &mut self.bytes)
            .map_err(|error| Cause::Encoding {
                payload: p.payload_type(),
                error,
            })?;
        match self.last {
            Some(prev) => self.bytes[prev] = p.payload_type().0,
            None => self.first = p.payload_type(),
        }
        self.last = Some(at);
        Ok(())
    }

    pub(crate) fn notify(&mut self, ty: NotifyType, data: &[u8]) -> Result<(), Cause> {
        self.push(&Payload::Notify(Notify::new(ty, data)))
    }

    /// The whole unencrypted message with `header`.
    pub(crate) fn to_message(&self, header: &wire::HeaderRepr) -> Result<Vec<u8>, Cause> {
        let len = u32::try_from(wire::HEADER_LEN + self.bytes.len())
            .map_err(|_| Cause::Internal("message too long".into()))?;
        let mut out = header.to_bytes(self.first, len).to_vec();
        out.extend_from_slice(&self.bytes);
        Ok(out)
    }
}

/// The first notify of type `ty`.
pub(crate) fn find_notify<'a, 'p>(
    payloads: &'p [Payload<'a>],
    ty: NotifyType,
) -> Option<&'p Notify<'a>> {
    payloads.iter().find_map(|p| match p {
        Payload::Notify(n) if n.ty == ty => Some(n),
        _ => None,
    })
}

/// Whether a notify of type `ty` is present.
pub(crate) fn has_notify(payloads: &[Payload<'_>], ty: NotifyType) -> bool {
    find_notify(payloads, ty).is_some()
}

/// The first error notify (type below 16384).
pub(crate) fn first_error<'a, 'p>(payloads: &'p [Payload<'a>]) -> Option<&'p Notify<'a>> {
    payloads.iter().find_map(|p| match p {
        Payload::Notify(n) if n.ty.is_error() => Some(n),
        _ => None,
    })
}

/// Finds the first payload for which `f` returns `Some`.
pub(crate) fn find<'a, 'p, T>(
    payloads: &'p [Payload<'a>],
    f: impl Fn(&'p Payload<'a>) -> Option<T>,
) -> Option<T> {
    payloads.iter().find_map(f)
}

impl Task {
    /// The inbound ESP SPI this task reserved for a CHILD SA it proposed, if any (to
    /// release it when the IKE SA dies mid-exchange).
    pub(crate) fn reserved_spi(&self) -> Option<u32> {
        match self {
            Task::IkeAuth(t) => t.reserved_spi(),
            Task::ChildCreate(t) => t.reserved_spi(),
            Task::ChildRekey(t) => t.reserved_spi(),
            Task::IkeInit(_)
            | Task::IkeIntermediate(_)
            | Task::Informational(_)
            | Task::PathProbe(_)
            | Task::ChildDelete(_)
            | Task::IkeRekey(_) => None,
        }
    }

    /// The request's payloads; `Ok(None)` if there is nothing to send any more.
    pub(crate) fn build(
        &mut self,
        sa: &mut IkeSa,
        ctx: &mut Ctx<'_>,
    ) -> Result<Option<Chain>, Cause> {
        match self {
            Task::IkeInit(t) => t.build(sa, ctx).map(Some),
            Task::IkeIntermediate(t) => t.build(ctx).map(Some),
            Task::IkeAuth(t) => t.build(sa, ctx).map(Some),
            Task::ChildCreate(t) => t.build(sa, ctx),
            Task::ChildRekey(t) => t.build(sa, ctx),
            Task::ChildDelete(t) => t.build(sa, ctx),
            Task::IkeRekey(t) => t.build(sa, ctx),
            Task::Informational(t) => t.build(sa, ctx).map(Some),
            Task::PathProbe(t) => t.build(sa, ctx),
        }
    }

    /// Processes the response to the request (`raw` is the whole message, needed for
    /// the IKE_SA_INIT response that AUTH covers).
    pub(crate) fn process_response(
        &mut self,
        sa: &mut IkeSa,
        ctx: &mut Ctx<'_>,
        hdr: &wire::HeaderRepr,
        payloads: &[Payload<'_>],
        raw: &[u8],
    ) -> Outcome {
        match self {
            Task::IkeInit(t) => t.process_response(sa, ctx, hdr, payloads, raw),
            Task::IkeIntermediate(t) => t.process_response(sa, ctx, payloads),
            Task::IkeAuth(t) => t.process_response(sa, ctx, payloads),
            Task::ChildCreate(t) => t.process_response(sa, ctx, payloads),
            Task::ChildRekey(t) => t.process_response(sa, ctx, payloads),
            Task::ChildDelete(t) => t.process_response(sa, ctx, payloads),
            Task::IkeRekey(t) => t.process_response(sa, ctx, payloads),
            Task::Informational(t) => t.process_response(sa, ctx, payloads),
            Task::PathProbe(t) => t.process_response(sa, ctx),
        }
    }
}
