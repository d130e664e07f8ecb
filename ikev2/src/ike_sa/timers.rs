//! The timers of an IKE SA, as a table of deadlines (quinn's `TimerTable` idea, but
//! computed from state rather than stored, so no timer can be left armed by mistake):
//!
//! | timer | armed while | on expiry |
//! |---|---|---|
//! | retransmit | a request of ours is outstanding | resend the same datagrams, or give up after `tries` retransmissions (RFC 7296 section 2.4) |
//! | half-open | responder between IKE_SA_INIT and IKE_AUTH | delete the SA, report [`Cause::HalfOpenTimeout`] |
//! | reassembly | fragments of an incomplete message are held | drop them |
//! | DPD | established, `dpd_delay` > 0, nothing in flight | send an empty INFORMATIONAL (liveness check, section 1.4) |
//! | keepalive | established, we are behind a NAT, `keep_alive` > 0 | send a NAT-keepalive (one 0xff octet, RFC 3948 section 2.3) if nothing was sent for `keep_alive` |

use std::time::Instant;

use super::{IkeSa, State};
use crate::endpoint::Ctx;
use crate::error::{Cause, Phase};
use crate::event::DownReason;
use crate::exchange::Task;
use crate::exchange::informational::Informational;

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
        arm(self.keepalive_due(ctx_config));
        t
    }

    fn keepalive_due(&self, config: &crate::config::EndpointConfig) -> Option<Instant> {
        (self.is_established() && self.nat.local_behind_nat && !config.keep_alive.is_zero())
            .then(|| self.last_sent + config.keep_alive)
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
            ctx.sh.send_raw(self.local, self.remote, &[0xff]);
            self.last_sent = now;
        }
        if self.dpd_due().is_some_and(|d| d <= now) {
            self.queue
                .push_back(Task::Informational(Informational::Dpd));
            self.start_next(ctx);
        }
    }

    fn retransmit_or_give_up(&mut self, ctx: &mut Ctx<'_>) {
        let tries = ctx.config.retransmit.tries;
        let Some(out) = self.requests.outstanding.as_mut() else {
            return;
        };
        if out.retransmits < tries {
            out.retransmits += 1;
            out.deadline = ctx.now + ctx.config.retransmit.wait(out.retransmits);
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
        self.fail(ctx, Phase::of(exchange), cause, true, None);
    }
}
