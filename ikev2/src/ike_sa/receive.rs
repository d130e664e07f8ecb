//! What an IKE SA does with a datagram the endpoint routed to it: the message-ID
//! window check (before any crypto), verification and decryption, fragment
//! reassembly (RFC 7383), following the peer's new addresses, payload rules, and the
//! hand-over to the exchange code: responses to the active task, requests to the
//! exchange's `process_request`. Malformed requests are answered as the refusal table
//! says; nothing unauthenticated changes the SA.

use core::net::SocketAddr;

use super::ctx::Ctx;
use super::fragment::{Added, Reassembler};
use super::window::RequestKind;
use super::{IkeSa, State};
use crate::config::IKE_PORT;
use crate::crypto::sk::{Opened, SkError, SkPlaintext};
use crate::error::{Cause, Phase};
use crate::event::{DownReason, Event};
use crate::exchange::refusal::Refusal;
use crate::exchange::{self, Chain, Outcome, Task, rules};
use crate::wire::{
    self, ExchangeType, HeaderRepr, Message, NotifyType, Payload, parse_payload_chain,
};

impl IkeSa {
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
        self.note_received_int_auth(msg, hdr, &plain, false);
        self.last_received = ctx.now;
        let payloads = match parse_payload_chain(plain.next_payload, &plain.payloads) {
            Ok(p) => p,
            Err(e) => {
                ctx.sh.stats.dropped_parse_error += 1;
                let cause = Cause::Malformed {
                    exchange,
                    response: true,
                    error: e,
                };
                self.fail(ctx, Phase::of(exchange), cause, true, None);
                return;
            }
        };
        if let Err(violation) = rules::check(exchange, true, &payloads) {
            ctx.sh.stats.dropped_invalid += 1;
            let cause = Cause::PayloadRules {
                exchange,
                response: true,
                violation,
            };
            self.fail(ctx, Phase::of(exchange), cause, true, None);
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
            Outcome::Continue => {
                self.requests.complete();
                self.send_request(ctx, task);
                self.start_next(ctx);
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
        if self.initiator && self.state == State::Authenticating {
            // The responder's first request (a DPD, say) overtook its IKE_AUTH response,
            // or that response was lost. Until the response verifies, the peer is not
            // authenticated: leave the request unanswered (no message ID used), so the
            // peer retransmits it and gets its answer once we are established. An
            // INVALID_SYNTAX here made strongSwan delete the new SA.
            ctx.sh.stats.dropped_unexpected += 1;
            return;
        }
        let kind = self.responses.classify(hdr.message_id);
        if kind == RequestKind::Invalid {
            ctx.sh.stats.dropped_out_of_window += 1;
            return;
        }
        let opened = match &self.pending_keys {
            // After an additional key exchange a new request comes with the new keys;
            // they are taken only once one opens with them (a retransmission of the
            // previous request still opens with the old ones, and nothing
            // unauthenticated switches keys).
            Some(next) if kind != RequestKind::Retransmit => match next.protector.open(msg) {
                Ok(o) => {
                    self.install_pending_keys();
                    Some(o)
                }
                Err(SkError::IntegrityCheckFailed) => {
                    ctx.sh.stats.dropped_bad_icv += 1;
                    None
                }
                Err(_) => {
                    ctx.sh.stats.dropped_parse_error += 1;
                    None
                }
            },
            _ => self.unprotect(ctx, msg),
        };
        let Some(opened) = opened else {
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
        self.note_received_int_auth(msg, hdr, &plain, true);
        if hdr.exchange_type == ExchangeType::IKE_AUTH {
            self.int_auth.auth_message_id(hdr.message_id);
        }
        // An authenticated request from new addresses: follow the peer (RFC 7296
        // section 2.23, NAT mapping changes and the move to port 4500).
        if (local, remote) != (self.local, self.remote)
            && (self.nat.any() || self.conn.encap || local.port() != IKE_PORT)
        {
            if self.is_established() && !self.ghost && remote != self.remote {
                // Its NAT gave it a new mapping (or it moved to port 4500 late): ESP
                // must follow too.
                ctx.sh.stats.peer_mapping_changes += 1;
                ctx.sh.event(Event::PeerAddressChanged(
                    crate::event::PeerAddressChanged {
                        conn: self.conn.name.clone(),
                        ike_sa: self.id,
                        old: self.remote,
                        new: remote,
                        spis_out: self.children.iter().map(|c| c.spi_out).collect(),
                    },
                ));
            }
            self.local = local;
            self.remote = remote;
        }
        self.process_request(ctx, hdr, &plain);
    }

    fn process_request(&mut self, ctx: &mut Ctx<'_>, hdr: &HeaderRepr, plain: &SkPlaintext) {
        let exchange = hdr.exchange_type;
        let mut resp = Chain::new();
        let payloads = parse_payload_chain(plain.next_payload, &plain.payloads)
            .map_err(|error| {
                let cause = Cause::Malformed {
                    exchange,
                    response: false,
                    error,
                };
                (Refusal::malformed(&error), Box::new(cause))
            })
            .and_then(|p| match rules::check(exchange, false, &p) {
                Ok(()) => Ok(p),
                Err(violation) => {
                    let cause = Cause::PayloadRules {
                        exchange,
                        response: false,
                        violation,
                    };
                    Err((Refusal::invalid_syntax(), Box::new(cause)))
                }
            });
        match payloads {
            Err((refusal, cause)) => {
                ctx.sh.stats.dropped_invalid += 1;
                let _ = resp.notify(refusal.notify, &refusal.data);
                if !self.is_established() {
                    self.fail(ctx, Phase::of(exchange), *cause, false, None);
                }
            }
            Ok(payloads) => {
                let state_ok = match exchange {
                    ExchangeType::IKE_AUTH => self.state == State::Authenticating,
                    ExchangeType::IKE_INTERMEDIATE => {
                        self.state == State::Authenticating && !self.initiator
                    }
                    ExchangeType::CREATE_CHILD_SA | ExchangeType::IKE_FOLLOWUP_KE => {
                        self.is_established()
                    }
                    _ => matches!(
                        self.state,
                        State::Established | State::Deleting | State::Rekeyed
                    ),
                };
                let busy = exchange == ExchangeType::CREATE_CHILD_SA
                    && (matches!(self.state, State::Deleting | State::Rekeyed)
                        || matches!(self.active, Some(Task::IkeRekey(_)))
                            && !exchange::ike_rekey::rekeys_ike_sa(&payloads));
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
                        ExchangeType::IKE_INTERMEDIATE => {
                            exchange::ike_intermediate::process_request(
                                self, ctx, &payloads, &mut resp,
                            );
                        }
                        ExchangeType::CREATE_CHILD_SA => {
                            exchange::child_create::process_request(self, ctx, &payloads, &mut resp)
                        }
                        ExchangeType::IKE_FOLLOWUP_KE => {
                            exchange::followup_ke::process_request(self, ctx, &payloads, &mut resp)
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

    /// A received IKE_INTERMEDIATE message into its IntAuth chain, with the keys that
    /// protected it (other exchanges are left alone).
    fn note_received_int_auth(
        &mut self,
        msg: &[u8],
        hdr: &HeaderRepr,
        plain: &SkPlaintext,
        request: bool,
    ) {
        if hdr.exchange_type != ExchangeType::IKE_INTERMEDIATE {
            return;
        }
        let (Some(crypto), Some(header)) = (
            &self.crypto,
            msg.get(..wire::HEADER_LEN)
                .and_then(|h| <[u8; wire::HEADER_LEN]>::try_from(h).ok()),
        ) else {
            return;
        };
        self.int_auth.add(
            crypto,
            &header,
            plain.next_payload,
            &plain.payloads,
            request,
        );
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
