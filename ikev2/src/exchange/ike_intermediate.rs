//! IKE_INTERMEDIATE (RFC 9242) carrying the additional key exchanges of RFC 9370
//! (`ke1_mlkem768` and friends), between IKE_SA_INIT and IKE_AUTH:
//!
//! - one exchange per additional key exchange the selected proposal has (ADDKE1
//!   first, NONE skipped), each `SK{KE}` both ways, message IDs 1, 2, ...;
//! - after exchange n both sides derive all seven keys again:
//!   `SKEYSEED(n) = prf(SK_d(n-1), SK(n) | Ni | Nr)`, then prf+ as in IKE_SA_INIT.
//!   The new keys protect the next exchange: the initiator installs them when it
//!   sends its next request, the responder when that request arrives (so a
//!   retransmitted request n still opens with the keys of exchange n);
//! - every IKE_INTERMEDIATE message is MACed into one chain per direction with the
//!   SK_p of its exchange ([`IntAuth`]), and IKE_AUTH's AUTH covers both chains and
//!   the IKE_AUTH message ID, so an attacker cannot have changed an intermediate
//!   message without AUTH failing.

use crate::crypto::dh::DhError;
use crate::crypto::ke::{self, KeInitiator};
use crate::crypto::keymat::{IkeKeys, rekey_skeyseed};
use crate::crypto::prf::Prf;
use crate::crypto::secret::SecretBytes;
use crate::error::Cause;
use crate::ike_sa::IkeSa;
use crate::ike_sa::ctx::Ctx;
use crate::wire::{DhGroup, HEADER_LEN, HeaderRepr, Ke, NotifyType, Payload, PayloadType};

use super::{Chain, Outcome};

/// The IntAuth chains of an IKE SA being set up (RFC 9242 section 3.3.2): one over
/// the initiator's IKE_INTERMEDIATE requests (keyed with SK_pi), one over the
/// responder's responses (SK_pr), and the message ID of the first IKE_AUTH request.
#[derive(Debug, Default)]
pub(crate) struct IntAuth {
    i: Option<SecretBytes>,
    r: Option<SecretBytes>,
    auth_mid: Option<u32>,
}

impl IntAuth {
    /// Adds one IKE_INTERMEDIATE message: `header` its IKE header as sent (any Next
    /// Payload and Length), `first` the type of its first inner payload, `plain` the
    /// inner payloads. The chain is the sender's: the initiator's for requests.
    pub(crate) fn add(
        &mut self,
        sa_crypto: &crate::ike_sa::SaCrypto,
        header: &[u8; HEADER_LEN],
        first: PayloadType,
        plain: &[u8],
        request: bool,
    ) {
        let key = if request {
            &sa_crypto.sk_pi
        } else {
            &sa_crypto.sk_pr
        };
        self.add_with(sa_crypto.suite.prf, key, header, first, plain, request);
    }

    /// [`Self::add`] with the PRF and the SK_p key given.
    fn add_with(
        &mut self,
        prf: crate::crypto::algorithms::PrfAlgorithm,
        key: &SecretBytes,
        header: &[u8; HEADER_LEN],
        first: PayloadType,
        plain: &[u8],
        request: bool,
    ) {
        // A: the IKE header and the SK payload header as if the message went
        // unfragmented with nothing but SK (RFC 9242 section 3.3.2, RFC 7383
        // reassembled form): Next Payload SK, both lengths for the plaintext.
        let sk_len = 4 + plain.len();
        let mut a = Vec::with_capacity(HEADER_LEN + 4);
        a.extend_from_slice(header);
        a[16] = PayloadType::SK.0;
        let total = u32::try_from(HEADER_LEN + sk_len).unwrap_or(u32::MAX);
        a[24..28].copy_from_slice(&total.to_be_bytes());
        a.push(first.0);
        a.push(0);
        a.extend_from_slice(&u16::try_from(sk_len).unwrap_or(u16::MAX).to_be_bytes());
        let chain = if request { &mut self.i } else { &mut self.r };
        let previous = chain.take();
        let prev: &[u8] = previous.as_ref().map_or(&[], SecretBytes::expose);
        *chain = Some(prf.prf(key.expose(), &[prev, &a, plain]));
    }

    /// Remembers the message ID of the first IKE_AUTH request.
    pub(crate) fn auth_message_id(&mut self, mid: u32) {
        self.auth_mid.get_or_insert(mid);
    }

    /// What AUTH covers beyond RFC 7296's octets: `IntAuth_iN | IntAuth_rN |
    /// IKE_AUTH_MID`, or nothing when no IKE_INTERMEDIATE exchange took place.
    pub(crate) fn octets(&self) -> Vec<u8> {
        match (&self.i, &self.r) {
            (Some(i), Some(r)) => {
                let mut out = Vec::with_capacity(i.len() + r.len() + 4);
                out.extend_from_slice(i.expose());
                out.extend_from_slice(r.expose());
                out.extend_from_slice(&self.auth_mid.unwrap_or(0).to_be_bytes());
                out
            }
            _ => Vec::new(),
        }
    }
}

/// The keys after additional key exchange `secret`: all seven derived again from the
/// current SK_d (RFC 9370 section 2.2.2), ready to protect messages.
pub(crate) fn updated_keys(
    sa: &IkeSa,
    ctx: &Ctx<'_>,
    secret: &SecretBytes,
) -> Result<Box<crate::ike_sa::SaCrypto>, Cause> {
    let crypto = sa
        .crypto
        .as_ref()
        .ok_or_else(|| Cause::Internal("no keys to update".into()))?;
    let suite = crypto.suite;
    let skeyseed = rekey_skeyseed(suite.prf, &crypto.sk_d, secret, &sa.ni, &sa.nr, &[]);
    let keys = IkeKeys::derive(
        &suite,
        &skeyseed,
        &sa.ni,
        &sa.nr,
        &sa.spi_i.to_bytes(),
        &sa.spi_r.to_bytes(),
    )
    .map_err(Cause::KeyDerivation)?;
    let crypto = crate::ike_sa::SaCrypto::new(suite, keys, sa.initiator, ctx.config.export_keys)?;
    Ok(Box::new(crypto))
}

/// The initiator's task: additional key exchange number `n` with `method`.
#[derive(Debug)]
pub(crate) struct IkeIntermediate {
    n: u8,
    method: DhGroup,
    ke: Option<KeInitiator>,
}

impl IkeIntermediate {
    pub(crate) fn new(n: u8, method: DhGroup) -> Self {
        Self {
            n,
            method,
            ke: None,
        }
    }

    pub(crate) fn build(&mut self, ctx: &mut Ctx<'_>) -> Result<Chain, Cause> {
        let ke = KeInitiator::start(self.method, &mut ctx.sh.rng).map_err(Cause::LocalDh)?;
        let mut c = Chain::new();
        c.push(&Payload::Ke(Ke {
            group: self.method,
            data: ke.public_value(),
        }))?;
        self.ke = Some(ke);
        Ok(c)
    }

    pub(crate) fn process_response(
        &mut self,
        sa: &mut IkeSa,
        ctx: &mut Ctx<'_>,
        payloads: &[Payload<'_>],
    ) -> Outcome {
        match self.complete(sa, ctx, payloads) {
            Ok(()) => Outcome::Done,
            Err(cause) => Outcome::Failed(cause),
        }
    }

    fn complete(
        &mut self,
        sa: &mut IkeSa,
        ctx: &mut Ctx<'_>,
        payloads: &[Payload<'_>],
    ) -> Result<(), Cause> {
        if let Some(err) = super::first_error(payloads) {
            return Err(Cause::AdditionalKe {
                n: self.n,
                method: self.method,
                problem: AddKeProblem::Refused(err.ty),
            });
        }
        let ke = super::find(payloads, |p| match p {
            Payload::Ke(k) => Some(k),
            _ => None,
        })
        .ok_or_else(|| Cause::Protocol("IKE_INTERMEDIATE response without a KE payload".into()))?;
        if ke.group != self.method {
            return Err(Cause::AdditionalKe {
                n: self.n,
                method: self.method,
                problem: AddKeProblem::WrongMethod(ke.group),
            });
        }
        let ours = self
            .ke
            .as_ref()
            .ok_or_else(|| Cause::Internal("no key exchange in progress".into()))?;
        ctx.sh.stats.dh_computations += 1;
        let secret = ours.finish(ke.data).map_err(|e| Cause::AdditionalKe {
            n: self.n,
            method: self.method,
            problem: AddKeProblem::Invalid(e),
        })?;
        sa.pending_keys = Some(updated_keys(sa, ctx, &secret)?);
        sa.addke_done += 1;
        Ok(())
    }
}

/// What went wrong with an additional key exchange, for [`Cause::AdditionalKe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddKeProblem {
    /// The peer answered with this error notify.
    Refused(NotifyType),
    /// The KE payload names another method than the one negotiated.
    WrongMethod(DhGroup),
    /// The peer's key exchange data is not valid for the method.
    Invalid(DhError),
    /// The peer sent a request for an exchange that was not negotiated.
    Unexpected,
    /// The peer's CREATE_CHILD_SA or IKE_FOLLOWUP_KE response has no
    /// ADDITIONAL_KEY_EXCHANGE notify, so the next exchange cannot follow.
    MissingLink,
}

impl core::fmt::Display for AddKeProblem {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Refused(ty) => write!(f, "the peer refused it ({ty})"),
            Self::WrongMethod(m) => write!(f, "the peer's KE payload is for {m}"),
            Self::Invalid(e) => write!(f, "{e}"),
            Self::Unexpected => f.write_str("no such exchange was negotiated"),
            Self::MissingLink => f.write_str(
                "the peer's response has no ADDITIONAL_KEY_EXCHANGE notify to continue with",
            ),
        }
    }
}

/// The responder's side of an IKE_INTERMEDIATE request: the next additional key
/// exchange of the selected proposal. Errors are answered and end the SA being set
/// up (it is not authenticated yet).
pub(crate) fn process_request(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    payloads: &[Payload<'_>],
    resp: &mut Chain,
) {
    if let Err((notify, cause)) = answer(sa, ctx, payloads, resp) {
        let _ = resp.notify(notify, &[]);
        sa.fail(
            ctx,
            crate::error::Phase::IkeIntermediate,
            cause,
            false,
            None,
        );
    }
}

fn answer(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    payloads: &[Payload<'_>],
    resp: &mut Chain,
) -> Result<(), (NotifyType, Cause)> {
    let suite = sa.crypto.as_ref().map(|c| c.suite).ok_or((
        NotifyType::INVALID_SYNTAX,
        Cause::Internal("no keys".into()),
    ))?;
    let Some((n, method)) = suite.additional().nth(usize::from(sa.addke_done)) else {
        let cause = Cause::AdditionalKe {
            n: sa.addke_done + 1,
            method: DhGroup::NONE,
            problem: AddKeProblem::Unexpected,
        };
        return Err((NotifyType::INVALID_SYNTAX, cause));
    };
    let problem = |p| Cause::AdditionalKe {
        n,
        method,
        problem: p,
    };
    let Some(ke) = super::find(payloads, |p| match p {
        Payload::Ke(k) => Some(k),
        _ => None,
    }) else {
        let cause = Cause::Protocol("IKE_INTERMEDIATE request without a KE payload".into());
        return Err((NotifyType::INVALID_SYNTAX, cause));
    };
    if ke.group != method {
        return Err((
            NotifyType::NO_PROPOSAL_CHOSEN,
            problem(AddKeProblem::WrongMethod(ke.group)),
        ));
    }
    ctx.sh.stats.dh_computations += 1;
    let (data, secret) = ke::respond(method, ke.data, &mut ctx.sh.rng).map_err(|e| {
        (
            NotifyType::NO_PROPOSAL_CHOSEN,
            problem(AddKeProblem::Invalid(e)),
        )
    })?;
    resp.push(&Payload::Ke(Ke {
        group: method,
        data: &data,
    }))
    .map_err(|c| (NotifyType::INVALID_SYNTAX, c))?;
    let keys = updated_keys(sa, ctx, &secret).map_err(|c| (NotifyType::INVALID_SYNTAX, c))?;
    sa.pending_keys = Some(keys);
    sa.addke_done += 1;
    Ok(())
}

/// The header octets of `hdr` as sent (for [`IntAuth::add`] on our own messages).
pub(crate) fn header_octets(hdr: &HeaderRepr) -> [u8; HEADER_LEN] {
    hdr.to_bytes(PayloadType::SK, 0)
}

/// Whether `proposals` offer any additional key exchange (then IKE_SA_INIT carries
/// IKE_INT_SUP).
pub(crate) fn offered(proposals: &[crate::crypto::proposal::Proposal]) -> bool {
    proposals
        .iter()
        .any(crate::crypto::proposal::Proposal::has_additional_ke)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::algorithms::PrfAlgorithm;
    use hmac::{Hmac, Mac};

    fn hmac384(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        let mut m = Hmac::<sha2::Sha384>::new_from_slice(key).expect("any key length");
        for p in parts {
            m.update(p);
        }
        m.finalize().into_bytes().to_vec()
    }

    /// RFC 9242 section 3.3.2, recomputed by hand with HMAC-SHA-384: A is the IKE
    /// header (Next Payload SK, Length for the unfragmented message) and the SK header
    /// (the first inner payload's type, Length 4 + plaintext), P the plaintext; each
    /// chain starts without a prefix and then carries the previous value; AUTH gets
    /// `IntAuth_iN | IntAuth_rN | MID`.
    #[test]
    fn int_auth_octets_follow_rfc_9242() {
        let (ki, kr) = (SecretBytes::new(vec![1; 48]), SecretBytes::new(vec![2; 48]));
        let prf = PrfAlgorithm::HmacSha384;
        // As received as fragment 1 of 2: SKF Next Payload, the fragment's length.
        let mut hdr = [0u8; HEADER_LEN];
        hdr[..8].copy_from_slice(&[0xaa; 8]);
        hdr[8..16].copy_from_slice(&[0xbb; 8]);
        hdr[16] = PayloadType::SKF.0;
        hdr[17] = 0x20;
        hdr[18] = 43;
        hdr[19] = 0x08;
        hdr[20..24].copy_from_slice(&1u32.to_be_bytes());
        hdr[24..28].copy_from_slice(&700u32.to_be_bytes());
        let p1 = vec![0x5a; 1192];
        let p2 = vec![0x3c; 1096];
        let mut ia = IntAuth::default();
        assert!(ia.octets().is_empty(), "no exchange: nothing appended");
        ia.add_with(prf, &ki, &hdr, PayloadType::KE, &p1, true);
        let mut resp = hdr;
        resp[19] = 0x20;
        ia.add_with(prf, &kr, &resp, PayloadType::KE, &p2, false);
        ia.add_with(prf, &ki, &hdr, PayloadType::KE, &p1, true);
        ia.auth_message_id(3);
        ia.auth_message_id(9); // the first IKE_AUTH's ID stays
        let a = |h: &[u8; HEADER_LEN], plen: usize| {
            let mut a = h.to_vec();
            a[16] = 46;
            a[24..28].copy_from_slice(&u32::try_from(28 + 4 + plen).expect("small").to_be_bytes());
            a.extend_from_slice(&[34, 0]);
            a.extend_from_slice(&u16::try_from(4 + plen).expect("small").to_be_bytes());
            a
        };
        let i1 = hmac384(ki.expose(), &[&a(&hdr, p1.len()), &p1]);
        let i2 = hmac384(ki.expose(), &[&i1, &a(&hdr, p1.len()), &p1]);
        let r1 = hmac384(kr.expose(), &[&a(&resp, p2.len()), &p2]);
        let mut want = i2;
        want.extend_from_slice(&r1);
        want.extend_from_slice(&[0, 0, 0, 3]);
        assert_eq!(ia.octets(), want);
    }
}
