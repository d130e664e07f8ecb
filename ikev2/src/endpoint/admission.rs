//! Admission: what the endpoint does with a datagram before any IKE SA has it.
//! IKE_SA_INIT requests are answered here (retransmissions recognised by their
//! bytes, cookies under load, half-open limits per endpoint and per peer address, the
//! connection chosen by address), and so is a header with a major version we do not
//! speak. Malformed requests are answered as the refusal table says; nothing here
//! touches an established SA.

use core::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use sha2::{Digest, Sha256};

use super::Endpoint;
use crate::config::ConnectionConfig;
use crate::cookie::CookieGenerator;
use crate::error::Phase;
use crate::event::{Event, Failure};
use crate::exchange::ike_init::{self, InitKey};
use crate::exchange::refusal::Refusal;
use crate::exchange::rules;
use crate::ike_sa::IkeSa;
use crate::ike_sa::ctx::Ctx;
use crate::wire::{ExchangeType, Header, HeaderRepr, Message, NotifyType, Payload};

impl Endpoint {
    /// RFC 7296 section 2.5: a request with a major version above 2 is answered
    /// INVALID_MAJOR_VERSION (with version 2 in the header), as the refusal table
    /// says for `refusal`.
    pub(super) fn answer_major_version(
        &mut self,
        view: &Header<'_>,
        local: SocketAddr,
        remote: SocketAddr,
        refusal: &Refusal,
    ) {
        if view.flags().is_response() || view.major_version() < 2 {
            return;
        }
        let request = HeaderRepr {
            spi_i: view.spi_i(),
            spi_r: view.spi_r(),
            minor_version: 0,
            exchange_type: view.exchange_type(),
            flags: view.flags(),
            message_id: view.message_id(),
        };
        if !refusal.answers_in_clear() {
            return;
        }
        if let Some(m) = ike_init::notify_response(&request, refusal.notify, &refusal.data) {
            self.sh.send(local, remote, &m);
        }
    }

    /// RFC 7296 section 2.6: while `cookie_threshold` or more SAs are half-open, an
    /// IKE_SA_INIT request must start with a COOKIE notify we made for this initiator
    /// (SPIi, address, Ni); otherwise it is answered with one and forgotten. Returns
    /// whether to go on with the request.
    fn check_cookie(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        hdr: &HeaderRepr,
        payloads: &[Payload<'_>],
    ) -> bool {
        if self.half_open_total < self.config.cookie_threshold {
            return true;
        }
        let rng = &mut self.sh.rng;
        let cookies = self
            .cookies
            .get_or_insert_with(|| CookieGenerator::new(rng, now));
        cookies.maybe_rotate(now, rng);
        let Some(ni) = payloads.iter().find_map(|p| match p {
            Payload::Nonce(n) => Some(n.data),
            _ => None,
        }) else {
            return false;
        };
        if let Some(Payload::Notify(n)) = payloads.first() {
            if n.ty == NotifyType::COOKIE && cookies.verify(n.data, ni, remote.ip(), hdr.spi_i) {
                return true;
            }
        }
        let cookie = cookies.cookie(ni, remote.ip(), hdr.spi_i);
        self.sh.stats.dropped_cookie_required += 1;
        if let Some(m) = ike_init::notify_response(hdr, NotifyType::COOKIE, &cookie) {
            self.sh.stats.cookies_sent += 1;
            self.sh.send(local, remote, &m);
        }
        false
    }

    pub(super) fn handle_init_request(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        msg: &[u8],
        hdr: &HeaderRepr,
    ) {
        let key: InitKey = (hdr.spi_i, remote);
        let hash: [u8; 32] = Sha256::digest(msg).into();
        if let Some(sa) = self.init_index.get(&key).and_then(|id| self.sas.get(id)) {
            // strongSwan's INVALID_KE retry reuses SPIi, but then we kept no state; a
            // request we hold an SA for is a retransmission if its bytes are the same.
            let same = sa.init_key.is_some_and(|(_, h)| h == hash);
            if same && sa.is_half_open() {
                let response = sa.init_response.clone();
                self.sh.stats.retransmitted_responses += 1;
                self.sh.send(local, remote, &response);
            } else {
                self.sh.stats.dropped_duplicate += 1;
            }
            return;
        }
        let parsed = match Message::parse(msg) {
            Ok(m) => m,
            Err(e) => {
                self.sh.stats.dropped_parse_error += 1;
                let refusal = Refusal::malformed(&e);
                if refusal.answers_in_clear() {
                    if let Some(m) = ike_init::notify_response(hdr, refusal.notify, &refusal.data) {
                        self.sh.send(local, remote, &m);
                    }
                }
                return;
            }
        };
        if rules::check(ExchangeType::IKE_SA_INIT, false, &parsed.payloads).is_err() {
            self.sh.stats.dropped_invalid += 1;
            return;
        }
        if !self.check_cookie(now, local, remote, hdr, &parsed.payloads) {
            return;
        }
        let cfg = &self.config;
        if cfg.half_open_limit > 0 && self.half_open_total >= cfg.half_open_limit {
            self.sh.stats.dropped_half_open_limit += 1;
            return;
        }
        let from_peer = self.half_open_by_ip.get(&remote.ip()).copied().unwrap_or(0);
        if cfg.block_threshold > 0 && from_peer >= cfg.block_threshold {
            self.sh.stats.dropped_block_threshold += 1;
            return;
        }
        let mut candidates: Vec<(u8, Arc<ConnectionConfig>)> = self
            .conns
            .iter()
            .filter_map(|c| {
                c.address_match(local.ip(), remote.ip(), &self.resolved_addrs(c))
                    .map(|s| (s, c.clone()))
            })
            .collect();
        candidates.sort_by_key(|c| core::cmp::Reverse(c.0));
        let candidates: Vec<Arc<ConnectionConfig>> =
            candidates.into_iter().map(|(_, c)| c).collect();
        let Some(first) = candidates.first().cloned() else {
            if let Some(m) = ike_init::notify_response(hdr, NotifyType::NO_PROPOSAL_CHOSEN, &[]) {
                self.sh.send(local, remote, &m);
            }
            self.sh.event(Event::Failed(Failure {
                conn: None,
                ike_sa: None,
                child: None,
                phase: Phase::IkeSaInit,
                remote,
                cause: crate::error::Cause::NoConnectionForAddress { local, remote },
                initiator: false,
                ike_sa_kept: false,
                retry_in: None,
                next_remote: None,
            }));
            return;
        };
        let spi_r = self.new_ike_spi();
        let id = self.new_id();
        let mut sa = IkeSa::new(id, first, false, hdr.spi_i, spi_r, local, remote, now);
        sa.candidates = candidates;
        let mut ctx = Ctx {
            now,
            config: &self.config,
            sh: &mut self.sh,
        };
        match ike_init::respond(&mut sa, &mut ctx, msg, &parsed.payloads) {
            Ok(response) => {
                ctx.sh.send(local, remote, &response);
                sa.init_key = Some((key, hash));
                sa.counted_half_open = true;
                self.half_open_total += 1;
                *self.half_open_by_ip.entry(remote.ip()).or_insert(0) += 1;
                self.by_spi.insert(spi_r, id);
                self.init_index.insert(key, id);
                self.sas.insert(id, Box::new(sa));
                self.refresh_timer(id);
            }
            Err(refusal) => {
                if let Some((ty, data)) = refusal.notify {
                    if let Some(m) = ike_init::notify_response(hdr, ty, &data) {
                        ctx.sh.send(local, remote, &m);
                    }
                }
                if let Some(cause) = refusal.failure {
                    ctx.sh.event(Event::Failed(Failure {
                        conn: Some(sa.conn.name.clone()),
                        ike_sa: None,
                        child: None,
                        phase: Phase::IkeSaInit,
                        remote,
                        cause,
                        initiator: false,
                        ike_sa_kept: false,
                        retry_in: None,
                        next_remote: None,
                    }));
                }
            }
        }
    }
}
