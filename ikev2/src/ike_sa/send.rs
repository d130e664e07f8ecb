//! What an IKE SA sends: requests from its task queue (one outstanding at a time),
//! responses (cached for retransmitted requests), SK protection with fragmentation
//! (RFC 7383), and the datagrams themselves from the SA's current addresses.
//! Retransmission timing is in `timers.rs`.

use super::ctx::Ctx;
use super::window::Outstanding;
use super::{IkeSa, datagram_overhead};
use crate::config::Fragmentation;
use crate::error::{Cause, Phase};
use crate::exchange::informational::Informational;
use crate::exchange::{Chain, Task};
use crate::wire::{ExchangeType, HeaderRepr, NotifyType, PayloadType};

impl IkeSa {
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
        self.protect_as(ctx, header, chain, fragment)
    }

    /// The octets around a message on the wire: IP and UDP headers and the non-ESP
    /// marker.
    pub(crate) fn datagram_overhead(&self) -> usize {
        datagram_overhead(self.local, self.remote)
    }

    /// The length of the SK-protected message carrying `inner_len` octets of payloads.
    pub(crate) fn message_len(&self, inner_len: usize) -> Result<usize, Cause> {
        self.crypto
            .as_ref()
            .map(|c| c.protector.message_len(0, inner_len))
            .ok_or_else(|| Cause::Internal("no keys to protect a message".into()))
    }

    /// [`Self::protect`], fragmenting only if `fragment` allows it.
    fn protect_as(
        &mut self,
        ctx: &mut Ctx<'_>,
        header: &HeaderRepr,
        chain: &Chain,
        fragment: bool,
    ) -> Result<Vec<Vec<u8>>, Cause> {
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
        result.map_err(Cause::Protection)
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
        // The keys of the latest additional key exchange protect the next one (or
        // IKE_AUTH) from its first message on.
        self.install_pending_keys();
        if exchange == ExchangeType::IKE_AUTH {
            // AUTH covers it with the IntAuth chains (RFC 9242 section 3.3.2).
            self.int_auth.auth_message_id(self.requests.next_id);
        }
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
        self.note_int_auth(&header, chain.first, &chain.bytes, true);
        let messages = if exchange == ExchangeType::IKE_SA_INIT {
            match chain.to_message(&header) {
                Ok(m) => {
                    self.init_request = m.clone();
                    vec![m]
                }
                Err(cause) => return self.fail(ctx, Phase::of(exchange), cause, true, None),
            }
        } else {
            // A path probe is one datagram of the size probed, never fragments.
            let fragment = !matches!(task, Task::PathProbe(_))
                && self.peer_fragmentation
                && self.conn.fragmentation == Fragmentation::Yes;
            match self.protect_as(ctx, &header, &chain, fragment) {
                Ok(m) => m,
                Err(cause) => return self.fail(ctx, Phase::of(exchange), cause, true, None),
            }
        };
        self.transmit(ctx, &messages);
        let mut wait = ctx.config.retransmit.wait(0);
        if matches!(task, Task::PathProbe(_)) {
            wait = wait.min(crate::exchange::path_probe::PROBE_TIMEOUT);
        }
        // A liveness check has its own bound (dpd_timeout): a dead peer is declared
        // within it, its retransmissions packed into the window.
        let give_up_at = matches!(task, Task::Informational(Informational::Dpd))
            .then(|| ctx.now + self.conn.dpd_bound());
        let deadline = (ctx.now + wait).min(give_up_at.unwrap_or(ctx.now + wait));
        self.requests.outstanding = Some(Outstanding {
            msgid,
            exchange,
            messages,
            retransmits: 0,
            deadline,
            give_up_at,
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

    /// Encrypts, caches and sends our response to request `msgid`.
    pub(super) fn send_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        exchange: ExchangeType,
        msgid: u32,
        resp: &Chain,
    ) {
        let header = self.header(exchange, msgid, true);
        self.note_int_auth(&header, resp.first, &resp.bytes, false);
        match self.protect(ctx, &header, resp) {
            Ok(messages) => {
                self.transmit(ctx, &messages);
                self.responses.answered(msgid, messages);
            }
            Err(cause) => self.fail(ctx, Phase::of(exchange), cause, false, None),
        }
    }

    /// Our own IKE_INTERMEDIATE message into its IntAuth chain (other exchanges are
    /// left alone).
    fn note_int_auth(
        &mut self,
        header: &HeaderRepr,
        first: PayloadType,
        plain: &[u8],
        request: bool,
    ) {
        if header.exchange_type != ExchangeType::IKE_INTERMEDIATE {
            return;
        }
        if let Some(crypto) = &self.crypto {
            let octets = crate::exchange::ike_intermediate::header_octets(header);
            self.int_auth.add(crypto, &octets, first, plain, request);
        }
    }

    /// Installs the keys of the latest additional key exchange, if any are waiting.
    pub(crate) fn install_pending_keys(&mut self) {
        if let Some(next) = self.pending_keys.take() {
            self.crypto = Some(*next);
        }
    }
}
