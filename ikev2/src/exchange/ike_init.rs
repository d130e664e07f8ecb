//! IKE_SA_INIT (RFC 7296 sections 1.2, 2.6, 2.10, 2.23; strongSwan `ike_init.c`,
//! `ike_natd.c`): proposals, Diffie-Hellman, nonces, NAT detection, the
//! IKEV2_FRAGMENTATION_SUPPORTED and CHILDLESS_IKEV2_SUPPORTED announcements.
//!
//! Initiator ([`IkeInit`]): sends `[N(COOKIE)] SA KE Ni N(NAT_D_SRC) N(NAT_D_DST)
//! [N(FRAG_SUP)]`. A COOKIE answer is retried with the cookie first; an
//! INVALID_KE_PAYLOAD answer with the group the responder asks for, if our proposals
//! have it; both keep SPIi, message ID 0 and our nonce, at most 5 times (strongSwan's
//! `MAX_RETRIES`). Other error notifies end the IKE SA: in IKE_SA_INIT they cannot be
//! authenticated, and RFC 7296 section 2.21.1 accepts that.
//!
//! Responder ([`respond`]): runs before any SA state exists; every refusal is a
//! stateless notify-only answer with SPIr 0.

use core::net::SocketAddr;

use crate::config::{Childless, Fragmentation};
use crate::crypto::dh::DhError;
use crate::crypto::ke::{self, KeInitiator};
use crate::crypto::keymat::IkeKeys;
use crate::crypto::proposal::{self, Preference, Proposal, SelectOptions};
use crate::error::Cause;
use crate::ike_sa::ctx::Ctx;
use crate::ike_sa::{IkeSa, SaCrypto, State, float_port};
use crate::nat;
use crate::wire::{self, DhGroup, HeaderRepr, IkeSpi, Ke, Nonce, NotifyType, Payload};

use super::ike_intermediate::{self, IkeIntermediate};
use super::{Chain, Outcome, Task, find, find_notify, first_error, has_notify};

/// Octets of our nonces (strongSwan's `NONCE_SIZE`).
pub(crate) const NONCE_LEN: usize = 32;

/// Retries after COOKIE or INVALID_KE_PAYLOAD before giving up.
const MAX_RETRIES: u32 = 5;

/// The initiator's IKE_SA_INIT task.
#[derive(Debug)]
pub(crate) struct IkeInit {
    dh: KeInitiator,
    nonce: Vec<u8>,
    cookie: Option<Vec<u8>>,
    retries: u32,
}

/// A fresh nonce from the endpoint's RNG.
pub(crate) fn nonce(ctx: &mut Ctx<'_>) -> Vec<u8> {
    if let Some(n) = ctx.sh.faults.take_nonce() {
        return n;
    }
    let mut n = vec![0u8; NONCE_LEN];
    rand_core::RngCore::fill_bytes(&mut ctx.sh.rng, &mut n);
    n
}

/// Our proposals numbered from 1, as sent.
pub(crate) fn numbered(proposals: &[Proposal]) -> Vec<Proposal> {
    proposals
        .iter()
        .enumerate()
        .map(|(i, p)| {
            p.clone()
                .with_number(u8::try_from(i + 1).unwrap_or(u8::MAX))
        })
        .collect()
}

/// The peer's proposals we can read (those with attributes we do not understand are
/// left out, RFC 7296 section 3.3.6).
pub(crate) fn peer_proposals(sa: &wire::Sa<'_>) -> Vec<Proposal> {
    sa.proposals
        .iter()
        .filter_map(|p| Proposal::from_wire(p).ok())
        .collect()
}

impl IkeInit {
    pub(crate) fn new(ctx: &mut Ctx<'_>, group: DhGroup) -> Result<Self, Cause> {
        let dh = KeInitiator::start(group, &mut ctx.sh.rng).map_err(Cause::LocalDh)?;
        Ok(Self {
            dh,
            nonce: nonce(ctx),
            cookie: None,
            retries: 0,
        })
    }

    pub(crate) fn build(&mut self, sa: &mut IkeSa, ctx: &mut Ctx<'_>) -> Result<Chain, Cause> {
        let conn = sa.conn.clone();
        let mut c = Chain::new();
        if let Some(cookie) = &self.cookie {
            // RFC 7296 section 2.6: the cookie is the first payload.
            c.notify(NotifyType::COOKIE, cookie)?;
        }
        let props = numbered(&conn.proposals);
        c.push(&Payload::Sa(wire::Sa {
            proposals: props.iter().map(Proposal::to_wire).collect(),
        }))?;
        c.push(&Payload::Ke(Ke {
            group: self.dh.method(),
            data: self.dh.public_value(),
        }))?;
        c.push(&Payload::Nonce(Nonce { data: &self.nonce }))?;
        let (src, dst) = nat::our_hashes(
            sa.spi_i,
            IkeSpi::ZERO,
            sa.local,
            sa.remote,
            conn.encap,
            &mut ctx.sh.rng,
        );
        c.notify(NotifyType::NAT_DETECTION_SOURCE_IP, &src)?;
        c.notify(NotifyType::NAT_DETECTION_DESTINATION_IP, &dst)?;
        if conn.fragmentation != Fragmentation::No {
            c.notify(NotifyType::IKEV2_FRAGMENTATION_SUPPORTED, &[])?;
        }
        if ike_intermediate::offered(&conn.proposals) {
            // RFC 9370 section 2.2.1: additional key exchanges need IKE_INTERMEDIATE.
            c.notify(NotifyType::INTERMEDIATE_EXCHANGE_SUPPORTED, &[])?;
        }
        if conn.uses_pubkey() {
            super::auth::push_hash_algorithms(&mut c)?;
        }
        Ok(c)
    }

    pub(crate) fn process_response(
        &mut self,
        sa: &mut IkeSa,
        ctx: &mut Ctx<'_>,
        hdr: &HeaderRepr,
        payloads: &[Payload<'_>],
        raw: &[u8],
    ) -> Outcome {
        let conn = sa.conn.clone();
        if let Some(n) = find_notify(payloads, NotifyType::COOKIE) {
            if self.retries >= MAX_RETRIES {
                return Outcome::Failed(Cause::TooManyRetries { what: "a cookie" });
            }
            self.cookie = Some(n.data.to_vec());
            self.retries += 1;
            ctx.sh.stats.cookie_retries += 1;
            return Outcome::Retry;
        }
        if let Some(n) = find_notify(payloads, NotifyType::INVALID_KE_PAYLOAD) {
            let Some(group) = n.invalid_ke_group() else {
                return Outcome::Ignore;
            };
            if !proposal::contains_dh_group(&conn.proposals, group) {
                return Outcome::Failed(Cause::InvalidKeGroup {
                    requested: group,
                    ours: conn.proposals.clone(),
                });
            }
            if group == self.dh.method() {
                // It asks for what we sent: nonsense, maybe forged.
                return Outcome::Ignore;
            }
            if self.retries >= MAX_RETRIES {
                return Outcome::Failed(Cause::TooManyRetries {
                    what: "another DH group",
                });
            }
            match KeInitiator::start(group, &mut ctx.sh.rng) {
                Ok(dh) => self.dh = dh,
                Err(e) => return Outcome::Failed(Cause::LocalDh(e)),
            }
            self.retries += 1;
            ctx.sh.stats.invalid_ke_retries += 1;
            return Outcome::Retry;
        }
        if let Some(err) = first_error(payloads) {
            return Outcome::Failed(match err.ty {
                NotifyType::NO_PROPOSAL_CHOSEN => Cause::PeerRejectedProposals {
                    ours: conn.proposals.clone(),
                },
                ty => Cause::PeerNotify(ty),
            });
        }
        match self.complete(sa, ctx, hdr, payloads, raw) {
            Ok(()) => Outcome::Done,
            Err(cause) => Outcome::Failed(cause),
        }
    }

    /// A successful response: check the choice, derive the keys, detect NATs, queue
    /// IKE_AUTH.
    fn complete(
        &mut self,
        sa: &mut IkeSa,
        ctx: &mut Ctx<'_>,
        hdr: &HeaderRepr,
        payloads: &[Payload<'_>],
        raw: &[u8],
    ) -> Result<(), Cause> {
        let conn = sa.conn.clone();
        let protocol = |s: &str| Cause::Protocol(s.to_owned());
        if hdr.spi_r.is_zero() {
            return Err(protocol("IKE_SA_INIT response with a zero responder SPI"));
        }
        let sa_payload = find(payloads, |p| match p {
            Payload::Sa(s) => Some(s),
            _ => None,
        })
        .ok_or_else(|| protocol("no SA payload"))?;
        let [chosen] = sa_payload.proposals.as_slice() else {
            return Err(protocol("the response must carry exactly one proposal"));
        };
        let chosen = Proposal::from_wire(chosen).map_err(Cause::UnsupportedAttribute)?;
        // The choice must be one we offered.
        proposal::select_with(
            &conn.proposals,
            std::slice::from_ref(&chosen),
            SelectOptions {
                preference: Preference::PreferOurs,
                additional_ke: true,
                ..SelectOptions::default()
            },
        )
        .map_err(Cause::NoProposalChosen)?;
        let suite = chosen
            .ike_suite()
            .ok_or_else(|| protocol("the chosen proposal is not a single complete suite"))?;
        let ke = find(payloads, |p| match p {
            Payload::Ke(k) => Some(k),
            _ => None,
        })
        .ok_or_else(|| protocol("no KE payload"))?;
        if ke.group != suite.dh || ke.group != self.dh.method() {
            return Err(Cause::KeGroupMismatch {
                received: ke.group,
                sent: self.dh.method(),
                chosen: suite.dh,
            });
        }
        let nr = find(payloads, |p| match p {
            Payload::Nonce(n) => Some(n.data.to_vec()),
            _ => None,
        })
        .ok_or_else(|| protocol("no Nonce payload"))?;
        ctx.sh.stats.dh_computations += 1;
        let g_ir = self.dh.finish(ke.data).map_err(Cause::InvalidKe)?;
        sa.spi_r = hdr.spi_r;
        let keys = IkeKeys::from_shared_secret(
            &suite,
            &g_ir,
            &self.nonce,
            &nr,
            &sa.spi_i.to_bytes(),
            &sa.spi_r.to_bytes(),
        )
        .map_err(Cause::KeyDerivation)?;
        sa.crypto = Some(SaCrypto::new(suite, keys, true, ctx.config.export_keys)?);
        sa.ni = self.nonce.clone();
        sa.nr = nr;
        sa.init_response = raw.to_vec();

        let (sources, destination) = nat::received_hashes(payloads);
        let status = nat::evaluate(
            sa.spi_i,
            sa.spi_r,
            sa.local,
            sa.remote,
            &sources,
            destination,
        );
        sa.nat_t = status.is_some();
        sa.nat = status.unwrap_or_default();
        sa.peer_fragmentation = conn.fragmentation != Fragmentation::No
            && has_notify(payloads, NotifyType::IKEV2_FRAGMENTATION_SUPPORTED);
        sa.peer_childless = has_notify(payloads, NotifyType::CHILDLESS_IKEV2_SUPPORTED);
        sa.peer_hashes = peer_hash_algorithms(payloads);
        sa.peer_certreq = payloads.iter().any(|p| matches!(p, Payload::CertReq(_)));
        if sa.nat_t && (sa.nat.any() || conn.encap) {
            // RFC 7296 section 2.23: continue on port 4500.
            sa.local = float_port(sa.local);
            sa.remote = float_port(sa.remote);
        }
        if sa.nat.any() {
            ctx.sh.stats.nat_detected += 1;
        }
        let additional: Vec<(u8, DhGroup)> = suite.additional().collect();
        if !additional.is_empty()
            && !has_notify(payloads, NotifyType::INTERMEDIATE_EXCHANGE_SUPPORTED)
        {
            return Err(Cause::IntermediateNotSupported);
        }
        sa.state = State::Authenticating;
        let auth = super::ike_auth::IkeAuth::new();
        sa.queue.push_front(Task::IkeAuth(Box::new(auth)));
        // One IKE_INTERMEDIATE per additional key exchange, ADDKE1 first, before
        // IKE_AUTH (RFC 9370 section 2.2.2).
        for (n, method) in additional.into_iter().rev() {
            let t = IkeIntermediate::new(n, method);
            sa.queue.push_front(Task::IkeIntermediate(Box::new(t)));
        }
        Ok(())
    }
}

/// A stateless refusal of an IKE_SA_INIT request: the notify to answer with (`None`:
/// drop silently) and the failure to report, if any.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub notify: Option<(NotifyType, Vec<u8>)>,
    pub failure: Option<Cause>,
}

impl Refusal {
    fn notify(ty: NotifyType, data: Vec<u8>, failure: Option<Cause>) -> Box<Self> {
        Box::new(Self {
            notify: Some((ty, data)),
            failure,
        })
    }
}

/// The responder's side: fills in `sa` (created by the endpoint with SPIs, addresses
/// and the connections the addresses allow) and returns the response message.
pub(crate) fn respond(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    raw: &[u8],
    payloads: &[Payload<'_>],
) -> Result<Vec<u8>, Box<Refusal>> {
    let conn = sa.conn.clone();
    let no_proposal =
        |cause: Cause| Refusal::notify(NotifyType::NO_PROPOSAL_CHOSEN, Vec::new(), Some(cause));
    let sa_payload = find(payloads, |p| match p {
        Payload::Sa(s) => Some(s),
        _ => None,
    });
    let ke = find(payloads, |p| match p {
        Payload::Ke(k) => Some(k),
        _ => None,
    });
    let ni = find(payloads, |p| match p {
        Payload::Nonce(n) => Some(n.data),
        _ => None,
    });
    let (Some(sa_payload), Some(ke), Some(ni)) = (sa_payload, ke, ni) else {
        return Err(Box::new(Refusal {
            notify: None,
            failure: None,
        }));
    };
    let theirs = peer_proposals(sa_payload);
    // Additional key exchanges only with IKE_INTERMEDIATE: without IKE_INT_SUP a
    // proposal that needs one cannot be chosen (RFC 9370 section 2.2.1).
    let int_sup = has_notify(payloads, NotifyType::INTERMEDIATE_EXCHANGE_SUPPORTED);
    let options = SelectOptions {
        preference: Preference::PreferOurs,
        additional_ke: int_sup,
        ..SelectOptions::default()
    };
    let selected = proposal::select_with(&conn.proposals, &theirs, options)
        .map_err(|e| no_proposal(Cause::NoProposalChosen(e)))?;
    let suite = selected
        .ike_suite()
        .ok_or_else(|| no_proposal(Cause::Internal("selected proposal is incomplete".into())))?;
    if ke.group != suite.dh {
        // RFC 7296 section 1.2: ask for the group of the selected proposal.
        ctx.sh.stats.invalid_ke_sent += 1;
        return Err(Refusal::notify(
            NotifyType::INVALID_KE_PAYLOAD,
            suite.dh.0.to_be_bytes().to_vec(),
            None,
        ));
    }
    ctx.sh.stats.dh_computations += 1;
    let (ke_data, g_ir) = ke::respond(suite.dh, ke.data, &mut ctx.sh.rng).map_err(|e| {
        no_proposal(match e {
            DhError::UnsupportedGroup(_) => Cause::LocalDh(e),
            _ => Cause::InvalidKe(e),
        })
    })?;
    let nr = nonce(ctx);
    let keys = IkeKeys::from_shared_secret(
        &suite,
        &g_ir,
        ni,
        &nr,
        &sa.spi_i.to_bytes(),
        &sa.spi_r.to_bytes(),
    )
    .map_err(|e| no_proposal(Cause::KeyDerivation(e)))?;
    sa.crypto =
        Some(SaCrypto::new(suite, keys, false, ctx.config.export_keys).map_err(no_proposal)?);

    // NAT detection: the request's hashes use SPIr = 0.
    let (sources, destination) = nat::received_hashes(payloads);
    let status = nat::evaluate(
        sa.spi_i,
        IkeSpi::ZERO,
        sa.local,
        sa.remote,
        &sources,
        destination,
    );
    sa.nat_t = status.is_some();
    sa.nat = status.unwrap_or_default();
    if sa.nat.any() {
        ctx.sh.stats.nat_detected += 1;
    }
    let peer_frag = has_notify(payloads, NotifyType::IKEV2_FRAGMENTATION_SUPPORTED);
    let we_frag = conn.fragmentation != Fragmentation::No;
    sa.peer_fragmentation = peer_frag && we_frag;
    // RFC 7427: answered when one of the connections the peer may be for signs.
    let pubkey = sa.candidates.iter().any(|c| c.uses_pubkey()) || conn.uses_pubkey();
    sa.peer_hashes = peer_hash_algorithms(payloads);
    sa.peer_certreq = payloads.iter().any(|p| matches!(p, Payload::CertReq(_)));
    let certreq_for: Vec<std::sync::Arc<crate::config::ConnectionConfig>> = sa
        .candidates
        .iter()
        .cloned()
        .chain(std::iter::once(conn.clone()))
        .collect();

    let mut c = Chain::new();
    let build = |c: &mut Chain, ctx: &mut Ctx<'_>, sa: &IkeSa| -> Result<(), Cause> {
        c.push(&Payload::Sa(wire::Sa {
            proposals: vec![selected.to_wire()],
        }))?;
        c.push(&Payload::Ke(Ke {
            group: suite.dh,
            data: &ke_data,
        }))?;
        c.push(&Payload::Nonce(Nonce { data: &nr }))?;
        if sa.nat_t {
            let (src, dst) = nat::our_hashes(
                sa.spi_i,
                sa.spi_r,
                sa.local,
                sa.remote,
                conn.encap,
                &mut ctx.sh.rng,
            );
            c.notify(NotifyType::NAT_DETECTION_SOURCE_IP, &src)?;
            c.notify(NotifyType::NAT_DETECTION_DESTINATION_IP, &dst)?;
        }
        if peer_frag && we_frag {
            c.notify(NotifyType::IKEV2_FRAGMENTATION_SUPPORTED, &[])?;
        }
        if conn.childless != Childless::Never {
            c.notify(NotifyType::CHILDLESS_IKEV2_SUPPORTED, &[])?;
        }
        if suite.additional().next().is_some() {
            c.notify(NotifyType::INTERMEDIATE_EXCHANGE_SUPPORTED, &[])?;
        }
        if pubkey && !sa.peer_hashes.is_empty() {
            super::auth::push_hash_algorithms(c)?;
        }
        super::auth::push_certreq(certreq_for.iter().map(|c| &**c), c)?;
        Ok(())
    };
    build(&mut c, ctx, sa).map_err(no_proposal)?;
    let header = sa.header(wire::ExchangeType::IKE_SA_INIT, 0, true);
    let message = c.to_message(&header).map_err(no_proposal)?;
    sa.ni = ni.to_vec();
    sa.nr = nr;
    sa.init_request = raw.to_vec();
    sa.init_response = message.clone();
    sa.state = State::Authenticating;
    sa.responses.answered(0, vec![message.clone()]);
    Ok(message)
}

/// A notify-only IKE_SA_INIT response (SPIr 0): COOKIE, INVALID_KE_PAYLOAD,
/// NO_PROPOSAL_CHOSEN, INVALID_MAJOR_VERSION ...
pub(crate) fn notify_response(
    request: &HeaderRepr,
    ty: NotifyType,
    data: &[u8],
) -> Option<Vec<u8>> {
    let mut c = Chain::new();
    c.notify(ty, data).ok()?;
    let header = HeaderRepr {
        spi_i: request.spi_i,
        spi_r: IkeSpi::ZERO,
        minor_version: 0,
        exchange_type: request.exchange_type,
        flags: wire::Flags::RESPONSE,
        message_id: request.message_id,
    };
    c.to_message(&header).ok()
}

/// Where an IKE_SA_INIT request came from and went to, for the endpoint's index of
/// half-open SAs.
pub(crate) type InitKey = (IkeSpi, SocketAddr);

/// The hashes of the peer's SIGNATURE_HASH_ALGORITHMS notify, if it sent one.
fn peer_hash_algorithms(payloads: &[Payload<'_>]) -> Vec<crate::crypto::signature::HashAlgorithm> {
    super::find_notify(payloads, NotifyType::SIGNATURE_HASH_ALGORITHMS)
        .map(|n| crate::crypto::signature::HashAlgorithm::parse_notify(n.data))
        .unwrap_or_default()
}
