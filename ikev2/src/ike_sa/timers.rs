//! The timers of an IKE SA, as a table of deadlines (quinn's `TimerTable` idea, but
//! computed from state rather than stored, so no timer can be left armed by mistake):
//!
//! | timer | armed while | on expiry |
//! |---|---|---|
//! | retransmit | a request of ours is outstanding | resend the same datagrams, or give up after `tries` retransmissions (RFC 7296 section 2.4) |
//! | half-open | responder between IKE_SA_INIT and IKE_AUTH | delete the SA, report [`Cause::HalfOpenTimeout`] |
//! | reassembly | fragments of an incomplete message are held | drop them |
//! | DPD | established, `dpd_delay` > 0, nothing in flight | send an empty INFORMATIONAL (liveness check, section 1.4) |
//! | CHILD rekey | a CHILD SA is installed and not being rekeyed | `rekey_time` minus a random jitter up to `rand_time` (from the endpoint's seeded RNG): CREATE_CHILD_SA with N(REKEY_SA); after a failed rekey, 6 to 15 s later (strongSwan's `RETRY_INTERVAL`/`RETRY_JITTER`) |
//! | CHILD hard expiry | a CHILD SA exists | `life_time`: remove it (rekeyed or not) and send a Delete; with `dpd_action` restart or trap, create it again |
//! | CHILD linger | a rekeyed CHILD SA was deleted | `delete_rekeyed_delay` later its inbound SA is removed |
//! | CHILD create retry | a new CHILD SA was answered TEMPORARY_FAILURE | 6 to 15 s later: ask again |
//! | IKE rekey | established, `rekey_time` > 0 | `rekey_time` minus a random jitter up to `rand_time` (default `over_time`): CREATE_CHILD_SA with an IKE proposal; after a failed rekey, 6 to 15 s later |
//! | IKE hard expiry | established, `rekey_time` > 0 | `over_time` (10 % of `rekey_time`) after the jittered rekey time, as strongSwan: the SA goes down ([`DownReason::Expired`]), then `dpd_action` (restart: initiate again, INITIAL_CONTACT replaces the peer's SA; otherwise a one-shot Delete tells the peer) |
//! | ghost | the old incarnation of a rekeyed IKE SA waits for the peer's Delete | removed after the retransmission budget (165 s) |
//! | keepalive | established, we are behind a NAT, `keep_alive` (as tuned by `Endpoint::set_keep_alive`, else the connection's, else the endpoint's) > 0 | send a NAT-keepalive (one 0xff octet, RFC 3948 section 2.3) if nothing was sent for `keep_alive` |

use std::time::{Duration, Instant};

use super::{ChildSa, ChildState, IkeSa, State};
use crate::config::DpdAction;
use crate::error::{Cause, Phase};
use crate::event::{DownReason, Event};
use crate::exchange::Chain;
use crate::exchange::Task;
use crate::exchange::child_create::ChildCreate;
use crate::exchange::child_delete::ChildDelete;
use crate::exchange::child_rekey::ChildRekey;
use crate::exchange::ike_rekey::IkeRekey;
use crate::exchange::informational::Informational;
use crate::ike_sa::ctx::{Action, Ctx};
use crate::wire::{Delete, ExchangeType, Payload};

/// Retransmissions of an IKE_SA_INIT before the next of the connection's
/// `remote_addrs` is tried (with the default timers: 4 s + 7.2 s).
pub(crate) const CANDIDATE_RETRANSMITS: u32 = 1;

impl IkeSa {
    /// The earliest deadline of this SA.
    pub(crate) fn next_timeout(
        &self,
        ctx_config: &crate::config::EndpointConfig,
    ) -> Option<Instant> {
        if self.is_dead() {
            return None;
        }
        let mut t: Option<Instant> = None;
        let mut arm = |d: Option<Instant>| {
            if let Some(d) = d {
                t = Some(t.map_or(d, |x| x.min(d)));
            }
        };
        arm(self.requests.outstanding.as_ref().map(|o| o.deadline));
        if self.is_half_open() {
            arm(Some(self.created + ctx_config.half_open_timeout));
        }
        arm(self
            .reassembly_requests
            .deadline(ctx_config.reassembly_timeout));
        arm(self
            .reassembly_responses
            .deadline(ctx_config.reassembly_timeout));
        arm(self.dpd_due());
        arm(self.resolve_again_at);
        arm(self.keepalive_due(ctx_config));
        if self.is_established() || self.state == State::Deleting {
            for c in &self.children {
                arm(child_deadline(c, self.is_established()));
            }
        }
        if self.state == State::Rekeyed {
            arm(Some(self.created + ctx_config.retransmit.total()));
        }
        if self.is_established() {
            arm(self.rekey_at);
            arm(self.expire_at);
            arm(self.child_retries.iter().map(|(at, _)| *at).min());
        }
        t
    }

    fn keepalive_due(&self, config: &crate::config::EndpointConfig) -> Option<Instant> {
        let every = self
            .keep_alive_tuned
            .or(self.conn.keep_alive)
            .unwrap_or(config.keep_alive);
        (self.is_established() && self.nat.local_behind_nat && !every.is_zero())
            .then(|| self.last_sent + every)
    }

    fn dpd_due(&self) -> Option<Instant> {
        let delay = self.conn.dpd_delay;
        (self.is_established()
            && !delay.is_zero()
            && self.active.is_none()
            && self.queue.is_empty())
        .then(|| self.last_received + delay)
    }

    pub(crate) fn handle_timeout(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now;
        if self.is_dead() {
            return;
        }
        if self.is_half_open() && self.created + ctx.config.half_open_timeout <= now {
            let cause = Cause::HalfOpenTimeout {
                remote: self.remote,
            };
            ctx.sh.stats.half_open_timeouts += 1;
            self.fail(ctx, Phase::IkeAuth, cause, false, None);
            return;
        }
        if self.resolve_again_at.is_some_and(|t| t <= now) {
            self.resolve_again_at = None;
            ctx.sh.event(Event::Resolve {
                conn: self.conn.name.clone(),
                names: self.conn.remote_names(),
            });
        }
        let timeout = ctx.config.reassembly_timeout;
        if self.reassembly_requests.expire(now, timeout) {
            ctx.sh.stats.dropped_fragment_timeout += 1;
        }
        if self.reassembly_responses.expire(now, timeout) {
            ctx.sh.stats.dropped_fragment_timeout += 1;
        }
        let due = self
            .requests
            .outstanding
            .as_ref()
            .is_some_and(|o| o.deadline <= now);
        if due {
            self.retransmit_or_give_up(ctx);
        }
        if self.keepalive_due(ctx.config).is_some_and(|d| d <= now) {
            ctx.sh.send_keepalive(self.local, self.remote);
            self.last_sent = now;
        }
        if self.state == State::Rekeyed && self.created + ctx.config.retransmit.total() <= now {
            // A ghost the peer never deleted.
            self.go_down(ctx, DownReason::Terminated);
            return;
        }
        if self.is_established() && self.expire_at.is_some_and(|t| t <= now) {
            self.expire(ctx);
            return;
        }
        if self.is_established() && self.rekey_at.is_some_and(|t| t <= now) {
            self.rekey_at = None;
            let queued = self
                .queue
                .iter()
                .chain(self.active.as_ref())
                .any(|t| matches!(t, Task::IkeRekey(_)));
            if !queued {
                self.queue
                    .push_back(Task::IkeRekey(Box::new(IkeRekey::new())));
            }
        }
        self.child_timers(ctx);
        if self.is_dead() {
            return;
        }
        if self.dpd_due().is_some_and(|d| d <= now) {
            self.queue
                .push_back(Task::Informational(Informational::Dpd));
            self.start_next(ctx);
        }
    }

    /// Rekeys, hard expiries and lingering inbound SAs of the CHILD SAs, and new
    /// CHILD SAs to ask for again.
    fn child_timers(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now;
        if self.is_established() {
            let (due, later): (Vec<_>, Vec<_>) =
                self.child_retries.iter().partition(|(at, _)| *at <= now);
            self.child_retries = later;
            for (_, index) in due {
                if !self.child_in_use(index) {
                    self.queue
                        .push_back(Task::ChildCreate(Box::new(ChildCreate::new(index))));
                }
            }
        }
        let mut i = 0;
        while i < self.children.len() {
            let c = &self.children[i];
            let spi = c.spi_in;
            match c.state {
                ChildState::Lingering(t) if t <= now => {
                    self.remove_child(ctx, spi);
                    continue;
                }
                ChildState::Lingering(_) => {}
                _ if c.expire_at.is_some_and(|t| t <= now) => {
                    // Hard lifetime: the SA goes, rekeyed or not; the peer is told.
                    let (name, rekeying) = (c.name.clone(), c.state == ChildState::Rekeying);
                    self.remove_child(ctx, spi);
                    if self.is_established() {
                        self.queue
                            .push_back(Task::ChildDelete(ChildDelete::expired(spi)));
                        if !rekeying {
                            self.recreate_child(&name, Recreate::IfKeptUp);
                        }
                    }
                    continue;
                }
                ChildState::Installed
                    if self.is_established() && c.rekey_at.is_some_and(|t| t <= now) =>
                {
                    self.start_child_rekey(spi);
                }
                _ => {}
            }
            i += 1;
        }
        self.start_next(ctx);
    }

    /// The IKE SA's hard lifetime passed without a successful rekey: go down
    /// ([`DownReason::Expired`]) and let the endpoint apply `dpd_action`.
    ///
    /// The peer is told with a Delete we do not wait for (strongSwan deletes an
    /// expired IKE SA too), unless we initiate again at once (`restart`) and send
    /// INITIAL_CONTACT: then the new SA replaces the peer's old one, and a Delete
    /// would only invite a peer with `close_action = restart` to initiate a second
    /// SA at the same time. With a request in flight the window is full and no
    /// Delete can be sent either.
    fn expire(&mut self, ctx: &mut Ctx<'_>) {
        let conn = &self.conn;
        let replaced_by_restart = conn.dpd_action == DpdAction::Restart && conn.initial_contact;
        if self.requests.outstanding.is_none() && !replaced_by_restart {
            let mut chain = Chain::new();
            if chain.push(&Payload::Delete(Delete::ike())).is_ok() {
                let header = self.header(ExchangeType::INFORMATIONAL, self.requests.next_id, false);
                if let Ok(m) = self.protect(ctx, &header, &chain) {
                    self.transmit(ctx, &m);
                }
            }
        }
        let keep_up = self.was_up && !self.ghost;
        self.go_down(ctx, DownReason::Expired);
        if keep_up {
            ctx.sh.actions.push(Action::Reestablish {
                conn: self.conn.clone(),
                closed: false,
            });
        }
    }

    /// A CHILD SA of config `name` is gone without being replaced: create it again in
    /// this IKE SA, after any queued Delete, as strongSwan's `child_delete.c` and
    /// `child_rekey.c` do ("CHILD_SA recreate after hard expire", and on
    /// CHILD_SA_NOT_FOUND), when `when` allows. Not if another SA of that config is
    /// still in use (a replacement from the peer's rekey).
    pub(crate) fn recreate_child(&mut self, name: &str, when: Recreate) {
        let kept_up = self.conn.dpd_action != DpdAction::Clear;
        if self.ghost || (when == Recreate::IfKeptUp && !kept_up) {
            return;
        }
        let Some(index) = self.conn.children.iter().position(|c| c.name == name) else {
            return;
        };
        if self.child_in_use(index) {
            return;
        }
        self.queue
            .push_back(Task::ChildCreate(Box::new(ChildCreate::new(index))));
    }

    /// Whether a CHILD SA of child config `index` is in use (not replaced or going).
    fn child_in_use(&self, index: usize) -> bool {
        let Some(cfg) = self.conn.children.get(index) else {
            return true;
        };
        self.children.iter().any(|c| {
            c.name == cfg.name && matches!(c.state, ChildState::Installed | ChildState::Rekeying)
        })
    }

    /// Queues a rekey of the CHILD SA with inbound SPI `spi` (once).
    pub(crate) fn start_child_rekey(&mut self, spi: u32) {
        let Some(task) = ChildRekey::new(self, spi) else {
            return;
        };
        if let Some(c) = self.child_mut(spi) {
            if c.state != ChildState::Installed {
                return;
            }
            c.rekey_at = None;
            c.state = ChildState::Rekeying;
        }
        self.queue.push_back(Task::ChildRekey(Box::new(task)));
    }

    fn retransmit_or_give_up(&mut self, ctx: &mut Ctx<'_>) {
        let tries = ctx.config.retransmit.tries;
        if let Some(Task::PathProbe(probe)) = self.active.as_mut() {
            if !probe.replaced {
                // No timely answer: the same message ID without the padding, so a
                // probe too big for the path neither blocks the window nor counts
                // against the peer (see exchange/path_probe.rs).
                probe.replaced = true;
                self.replace_probe(ctx);
                return;
            }
        }
        // An IKE_SA_INIT with more of the connection's addresses left to try moves
        // on after CANDIDATE_RETRANSMITS: a dead address must not cost the whole
        // retransmission budget while another one may answer.
        let short = self.short_budget();
        let tries = if short {
            tries.min(CANDIDATE_RETRANSMITS)
        } else {
            tries
        };
        let Some(out) = self.requests.outstanding.as_mut() else {
            return;
        };
        let bound_reached = out.give_up_at.is_some_and(|t| ctx.now >= t);
        if out.retransmits < tries && !bound_reached {
            out.retransmits += 1;
            let next = ctx.now + ctx.config.retransmit.wait(out.retransmits);
            out.deadline = out.give_up_at.map_or(next, |t| next.min(t));
            let messages = out.messages.clone();
            ctx.sh.stats.retransmitted_requests += 1;
            self.transmit(ctx, &messages);
            return;
        }
        let exchange = out.exchange;
        let retransmits = out.retransmits;
        if self.state == State::Deleting {
            // Our Delete went unanswered: the SA is gone anyway.
            self.go_down(ctx, DownReason::Terminated);
            return;
        }
        let cause = Cause::Timeout {
            retransmits,
            remote: self.remote,
        };
        let was_up = self.was_up && !self.ghost;
        if was_up {
            let why = match self.active.as_ref() {
                Some(Task::Informational(Informational::Dpd)) => "DPD".to_owned(),
                _ => format!("no answer to {exchange}"),
            };
            ctx.sh.remotes.lost(
                &self.conn.name,
                self.remote.ip(),
                self.last_received,
                ctx.now,
                why,
            );
        }
        // Setting up: `keyingtries` decides whether to try again (strongSwan's
        // `retransmit()` in state CONNECTING) once no address is left in this pass. A
        // pass that ended with a short try at the address that just died does not
        // count.
        let moves_on = self.next_candidate().is_some();
        let tries = self.conn.keyingtries;
        let next = if short {
            self.keyingtry
        } else {
            self.keyingtry.saturating_add(1)
        };
        let again = self.initiator
            && !self.was_up
            && !self.ghost
            && !moves_on
            && matches!(self.state, State::Connecting | State::Authenticating)
            && (tries == 0 || tries > next);
        self.fail(ctx, Phase::of(exchange), cause, true, None);
        if again {
            crate::exchange::note_retry(ctx, self.id, None, Duration::ZERO);
            ctx.sh.actions.push(Action::Retry {
                conn: self.conn.clone(),
                keyingtry: next,
            });
        }
        if was_up {
            // The peer is dead: `dpd_action` decides what follows.
            ctx.sh.actions.push(Action::Reestablish {
                conn: self.conn.clone(),
                closed: false,
            });
        }
    }
}

/// The next deadline of one CHILD SA.
fn child_deadline(c: &ChildSa, established: bool) -> Option<Instant> {
    match c.state {
        ChildState::Lingering(t) => Some(t),
        ChildState::Installed if established => match (c.rekey_at, c.expire_at) {
            (Some(r), Some(e)) => Some(r.min(e)),
            (r, e) => r.or(e),
        },
        _ => c.expire_at,
    }
}

impl IkeSa {
    /// Sends the outstanding path probe again without its padding, with the usual
    /// retransmission schedule from here on.
    fn replace_probe(&mut self, ctx: &mut Ctx<'_>) {
        let Some(msgid) = self.requests.outstanding.as_ref().map(|o| o.msgid) else {
            return;
        };
        let header = self.header(ExchangeType::INFORMATIONAL, msgid, false);
        let messages = match self.protect(ctx, &header, &Chain::new()) {
            Ok(m) => m,
            Err(cause) => return self.fail(ctx, Phase::Informational, cause, true, None),
        };
        self.transmit(ctx, &messages);
        if let Some(out) = self.requests.outstanding.as_mut() {
            out.messages = messages;
            out.deadline = ctx.now + ctx.config.retransmit.wait(0);
        }
    }
}

/// When [`IkeSa::recreate_child`] creates a lost CHILD SA again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recreate {
    /// Only if the connection is to be kept up (`dpd_action` restart or trap): the
    /// SA reached its hard lifetime, which the configuration chose.
    IfKeptUp,
    /// Always: the peer lost the SA (CHILD_SA_NOT_FOUND to our rekey), nobody asked
    /// for it to go.
    Always,
}
