//! IKE_AUTH (RFC 7296 sections 1.2, 2.15, 2.21.2; strongSwan `ike_auth.c`), carrying
//! the first CHILD SA (or none: RFC 6023 childless). Both AUTHs cover the same
//! octets, `<message 1 or 2 as sent> | peer nonce | prf(SK_px, ID body)` (and the
//! IntAuth of IKE_INTERMEDIATE); what is done with them depends on `local.auth` and
//! `remote.auth` ([`super::auth`]):
//!
//! ```text
//! psk:    AUTH = prf(prf(PSK, "Key Pad for IKEv2"), octets)
//! pubkey: AUTH = signature(octets) with our key, CERT payloads with our chain;
//!         the peer's certificate must chain to remote cacerts and carry its ID
//! ```
//!
//! The PSK is looked up by both identities ([`EndpointConfig::find_psk`]). A
//! responder whose check fails answers AUTHENTICATION_FAILED and deletes the SA; an
//! initiator whose check of the responder fails sends a one-shot INFORMATIONAL with
//! AUTHENTICATION_FAILED and deletes the SA. A CHILD SA that cannot be created does
//! not take the IKE SA down (strongSwan's `close_ike_on_child_failure = no`).
//!
//! [`EndpointConfig::find_psk`]: crate::config::EndpointConfig::find_psk

use crate::config::{Childless, ConnectionConfig, IdMatch, Identity};
use crate::crypto::keymat::signed_octets;
use crate::error::{Cause, Phase};
use crate::ike_sa::IkeSa;
use crate::ike_sa::ctx::{Action, Ctx};
use crate::wire::{Auth, Id, NotifyType, Payload};

use super::child_create::{self, Proposed};
use super::{Chain, Outcome, Task, find, first_error, has_notify};

/// The initiator's IKE_AUTH task.
#[derive(Debug)]
pub(crate) struct IkeAuth {
    /// The first CHILD SA, if IKE_AUTH carries one.
    child: Option<Proposed>,
    /// Whether the request was childless.
    childless: bool,
}

impl IkeAuth {
    pub(crate) fn new() -> Self {
        Self {
            child: None,
            childless: false,
        }
    }

    pub(crate) fn reserved_spi(&self) -> Option<u32> {
        self.child.as_ref().map(|p| p.spi_in)
    }

    pub(crate) fn build(&mut self, sa: &mut IkeSa, ctx: &mut Ctx<'_>) -> Result<Chain, Cause> {
        let conn = sa.conn.clone();
        let local_id = conn.effective_local_id(sa.local);
        let (ty, data) = local_id
            .to_wire()
            .ok_or_else(|| Cause::Internal("no local identity".into()))?;
        let idi = Id::new(ty, &data);
        let crypto = sa
            .crypto
            .as_ref()
            .ok_or_else(|| Cause::Internal("no keys".into()))?;
        let prf = crypto.suite.prf;
        let mut octets = signed_octets(
            prf,
            &sa.init_request,
            &sa.nr,
            &crypto.sk_pi,
            &idi.auth_octets(),
        );
        // RFC 9242 section 3.3.2: the IKE_INTERMEDIATE messages too, if any.
        octets.extend_from_slice(&sa.int_auth.octets());
        let ours = super::auth::ours(sa, ctx, &local_id, &conn.remote_id, &octets)?;
        let (method, auth) = (ours.method, ours.data);
        sa.auth_local = Some(ours.described);

        // strongSwan's order: IDi, CERT*, N(INITIAL_CONTACT), CERTREQ, IDr, AUTH.
        let mut c = Chain::new();
        c.push(&Payload::IdI(idi))?;
        super::auth::push_certs(sa, &mut c)?;
        if sa.first_contact && conn.initial_contact {
            c.notify(NotifyType::INITIAL_CONTACT, &[])?;
        }
        super::auth::push_certreq([&*conn], &mut c)?;
        if let Some((ty, data)) = conn.remote_id.to_wire() {
            c.push(&Payload::IdR(Id::new(ty, &data)))?;
        }
        c.push(&Payload::Auth(Auth {
            method,
            data: &auth,
        }))?;
        self.childless = match conn.childless {
            Childless::Force if !sa.peer_childless => {
                return Err(Cause::Childless(
                    "childless = force, but the peer does not support childless IKE_AUTH \
                     (no CHILDLESS_IKEV2_SUPPORTED)",
                ));
            }
            Childless::Force => true,
            Childless::Prefer => sa.peer_childless,
            Childless::Allow | Childless::Never => false,
        } || conn.children.is_empty();
        if !self.childless {
            let p = child_create::propose(sa, ctx, 0)?;
            p.push_sa(&mut c)?;
            p.push_ts(&mut c)?;
            self.child = Some(p);
        }
        sa.local_id = local_id;
        Ok(c)
    }

    pub(crate) fn process_response(
        &mut self,
        sa: &mut IkeSa,
        ctx: &mut Ctx<'_>,
        payloads: &[Payload<'_>],
    ) -> Outcome {
        let auth = find(payloads, |p| match p {
            Payload::Auth(a) => Some(a),
            _ => None,
        });
        let idr = find(payloads, |p| match p {
            Payload::IdR(i) => Some(i),
            _ => None,
        });
        let (Some(auth), Some(idr)) = (auth, idr) else {
            // Without AUTH the response is an error notify (the rules ensure one).
            let ty = first_error(payloads).map_or(NotifyType::INVALID_SYNTAX, |n| n.ty);
            return Outcome::Failed(match ty {
                NotifyType::AUTHENTICATION_FAILED => Cause::PeerAuthenticationFailed {
                    signed: matches!(sa.conn.local_auth, crate::config::LocalAuth::Pubkey(_)),
                },
                NotifyType::INVALID_SYNTAX if self.childless => Cause::Childless(
                    "peer answered INVALID_SYNTAX to our childless IKE_AUTH: it has \
                     childless = never",
                ),
                ty => Cause::PeerNotify(ty),
            });
        };
        let conn = sa.conn.clone();
        let peer_id = Identity::from_wire(idr);
        let failed = |sa: &mut IkeSa, ctx: &mut Ctx<'_>, cause: Cause| {
            let msgid = sa.requests.next_id.saturating_add(1);
            sa.send_auth_failed(ctx, msgid);
            Outcome::Failed(cause)
        };
        if conn.remote_id.matches(&peer_id) == IdMatch::None {
            let cause = Cause::PeerIdMismatch {
                expected: conn.remote_id.clone(),
                received: peer_id,
            };
            return failed(sa, ctx, cause);
        }
        let Some(crypto) = sa.crypto.as_ref() else {
            return Outcome::Failed(Cause::Internal("no keys".into()));
        };
        let prf = crypto.suite.prf;
        let mut octets = signed_octets(
            prf,
            &sa.init_response,
            &sa.ni,
            &crypto.sk_pr,
            &idr.auth_octets(),
        );
        // RFC 9242 section 3.3.2: the IKE_INTERMEDIATE messages too, if any.
        octets.extend_from_slice(&sa.int_auth.octets());
        let checked =
            super::auth::check_peer(sa, ctx, &peer_id, auth.method, auth.data, payloads, &octets);
        match checked {
            Ok(how) => sa.auth_remote = Some(how),
            Err(cause) => return failed(sa, ctx, cause),
        }
        sa.remote_id = peer_id;
        sa.established(ctx);

        let ni = sa.ni.clone();
        let nr = sa.nr.clone();
        if let Some(p) = self.child.take() {
            child_create::complete(sa, ctx, p, payloads, &ni, &nr, None, Phase::IkeAuth, None);
        }
        // The other children follow with CREATE_CHILD_SA.
        let first = usize::from(!self.childless);
        for i in first..conn.children.len() {
            sa.queue
                .push_back(Task::ChildCreate(Box::new(child_create::ChildCreate::new(
                    i,
                ))));
        }
        Outcome::Done
    }
}

/// The connection among `candidates` whose remote identity accepts `peer_id` (and,
/// if the initiator named us in IDr, whose local identity is that).
fn pick_connection(
    sa: &IkeSa,
    peer_id: &Identity,
    idr: Option<&Identity>,
) -> Option<std::sync::Arc<ConnectionConfig>> {
    let mut best: Option<(IdMatch, &std::sync::Arc<ConnectionConfig>)> = None;
    for c in &sa.candidates {
        let m = c.remote_id.matches(peer_id);
        if m == IdMatch::None {
            continue;
        }
        if let Some(idr) = idr {
            let ours = c.effective_local_id(sa.local);
            if !c.local_id.is_any() && ours.matches(idr) == IdMatch::None {
                continue;
            }
        }
        if best.is_none_or(|(b, _)| m > b) {
            best = Some((m, c));
        }
    }
    best.map(|(_, c)| c.clone())
}

/// The responder's side of IKE_AUTH.
pub(crate) fn process_request(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    payloads: &[Payload<'_>],
    resp: &mut Chain,
) {
    let idi = find(payloads, |p| match p {
        Payload::IdI(i) => Some(i),
        _ => None,
    });
    let auth = find(payloads, |p| match p {
        Payload::Auth(a) => Some(a),
        _ => None,
    });
    sa.peer_certreq |= payloads.iter().any(|p| matches!(p, Payload::CertReq(_)));
    let (Some(idi), Some(auth)) = (idi, auth) else {
        // The rules make both present; be defensive.
        let _ = resp.notify(NotifyType::INVALID_SYNTAX, &[]);
        sa.fail(
            ctx,
            Phase::IkeAuth,
            Cause::Protocol("IKE_AUTH without IDi/AUTH".into()),
            false,
            None,
        );
        return;
    };
    let idr = find(payloads, |p| match p {
        Payload::IdR(i) => Some(Identity::from_wire(i)),
        _ => None,
    });
    let peer_id = Identity::from_wire(idi);
    let reject = |sa: &mut IkeSa, ctx: &mut Ctx<'_>, resp: &mut Chain, cause: Cause| {
        let _ = resp.notify(NotifyType::AUTHENTICATION_FAILED, &[]);
        sa.fail(ctx, Phase::IkeAuth, cause, false, None);
    };
    let Some(conn) = pick_connection(sa, &peer_id, idr.as_ref()) else {
        let cause = Cause::NoConnectionForId {
            peer_id,
            remote: sa.remote,
        };
        return reject(sa, ctx, resp, cause);
    };
    sa.conn = conn.clone();
    sa.local_id = conn.effective_local_id(sa.local);
    sa.remote_id = peer_id.clone();
    let Some(crypto) = sa.crypto.as_ref() else {
        return reject(sa, ctx, resp, Cause::Internal("no keys".into()));
    };
    let prf = crypto.suite.prf;
    let mut octets = signed_octets(
        prf,
        &sa.init_request,
        &sa.nr,
        &crypto.sk_pi,
        &idi.auth_octets(),
    );
    // RFC 9242 section 3.3.2: the IKE_INTERMEDIATE messages too, if any.
    octets.extend_from_slice(&sa.int_auth.octets());
    let checked =
        super::auth::check_peer(sa, ctx, &peer_id, auth.method, auth.data, payloads, &octets);
    match checked {
        Ok(how) => sa.auth_remote = Some(how),
        Err(cause) => return reject(sa, ctx, resp, cause),
    }

    // RFC 6023: SA, TSi and TSr all absent is a childless IKE_AUTH.
    let has = |ty| {
        payloads
            .iter()
            .any(|p: &Payload<'_>| p.payload_type() == ty)
    };
    use crate::wire::PayloadType as T;
    let child_parts = [has(T::SA), has(T::TSI), has(T::TSR)];
    let childless = child_parts == [false; 3];
    let policy_error = match conn.childless {
        Childless::Never if childless => Some(
            "peer sent a childless IKE_AUTH, but childless = never: allow it or have the \
             peer create a CHILD SA in IKE_AUTH",
        ),
        Childless::Force if !childless => {
            Some("peer created a CHILD SA in IKE_AUTH, but childless = force")
        }
        _ => None,
    };
    if let Some(why) = policy_error {
        let _ = resp.notify(NotifyType::INVALID_SYNTAX, &[]);
        sa.fail(ctx, Phase::IkeAuth, Cause::Childless(why), false, None);
        return;
    }
    if !childless && child_parts != [true; 3] {
        let _ = resp.notify(NotifyType::INVALID_SYNTAX, &[]);
        let cause = Cause::Protocol("IKE_AUTH with only some of SA, TSi, TSr".into());
        sa.fail(ctx, Phase::IkeAuth, cause, false, None);
        return;
    }

    // Our AUTH.
    let Some((ty, data)) = sa.local_id.to_wire() else {
        return reject(sa, ctx, resp, Cause::Internal("no local identity".into()));
    };
    let id = Id::new(ty, &data);
    let Some(crypto) = sa.crypto.as_ref() else {
        return reject(sa, ctx, resp, Cause::Internal("no keys".into()));
    };
    let mut octets = signed_octets(
        prf,
        &sa.init_response,
        &sa.ni,
        &crypto.sk_pr,
        &id.auth_octets(),
    );
    // RFC 9242 section 3.3.2: the IKE_INTERMEDIATE messages too, if any.
    octets.extend_from_slice(&sa.int_auth.octets());
    let (local_id, remote_id) = (sa.local_id.clone(), sa.remote_id.clone());
    let (method, our_auth) = match super::auth::ours(sa, ctx, &local_id, &remote_id, &octets) {
        Ok(a) => {
            sa.auth_local = Some(a.described);
            (a.method, a.data)
        }
        Err(cause) => return reject(sa, ctx, resp, cause),
    };
    // strongSwan's order: IDr, CERT*, AUTH.
    let built = resp
        .push(&Payload::IdR(id.clone()))
        .and_then(|()| super::auth::push_certs(sa, resp))
        .and_then(|()| {
            resp.push(&Payload::Auth(Auth {
                method,
                data: &our_auth,
            }))
        });
    if let Err(cause) = built {
        return reject(sa, ctx, resp, cause);
    }
    sa.established(ctx);
    if has_notify(payloads, NotifyType::INITIAL_CONTACT) {
        ctx.sh.actions.push(Action::InitialContact {
            keep: sa.id,
            local_id: sa.local_id.clone(),
            remote_id: sa.remote_id.clone(),
        });
    }
    if !childless {
        let ni = sa.ni.clone();
        let nr = sa.nr.clone();
        child_create::respond(sa, ctx, payloads, resp, &ni, &nr, Phase::IkeAuth);
    }
}
