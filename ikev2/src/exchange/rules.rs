//! Which payloads each exchange may carry, as data (strongSwan's `payload_rule_t`
//! tables in `message.c`), checked before any task looks at a message.
//!
//! A rule gives the minimum and maximum count of one payload type. Payload types
//! without a rule are not allowed, except unknown non-critical ones, which are skipped
//! (RFC 7296 section 2.5). When a message carries an error notify (type below 16384),
//! or a COOKIE, the minimum counts are not enforced: such a response needs nothing
//! else (strongSwan's "sufficient" notifies).

use core::fmt;

use crate::wire::{ExchangeType, NotifyType, Payload, PayloadType};

#[derive(Debug, Clone, Copy)]
struct Rule {
    ty: PayloadType,
    min: u16,
    max: u16,
}

const fn r(ty: PayloadType, min: u16, max: u16) -> Rule {
    Rule { ty, min, max }
}

const MANY: u16 = u16::MAX;

const IKE_SA_INIT_REQ: &[Rule] = &[
    r(PayloadType::NOTIFY, 0, MANY),
    r(PayloadType::SA, 1, 1),
    r(PayloadType::KE, 1, 1),
    r(PayloadType::NONCE, 1, 1),
    r(PayloadType::VENDOR_ID, 0, MANY),
];

const IKE_SA_INIT_RESP: &[Rule] = &[
    r(PayloadType::NOTIFY, 0, MANY),
    r(PayloadType::SA, 1, 1),
    r(PayloadType::KE, 1, 1),
    r(PayloadType::NONCE, 1, 1),
    r(PayloadType::CERTREQ, 0, MANY),
    r(PayloadType::VENDOR_ID, 0, MANY),
];

const IKE_AUTH_REQ: &[Rule] = &[
    r(PayloadType::NOTIFY, 0, MANY),
    r(PayloadType::IDI, 1, 1),
    r(PayloadType::CERT, 0, MANY),
    r(PayloadType::CERTREQ, 0, MANY),
    r(PayloadType::IDR, 0, 1),
    r(PayloadType::AUTH, 1, 1),
    r(PayloadType::EAP, 0, 1),
    r(PayloadType::CP, 0, 1),
    r(PayloadType::SA, 0, 1),
    r(PayloadType::TSI, 0, 1),
    r(PayloadType::TSR, 0, 1),
    r(PayloadType::VENDOR_ID, 0, MANY),
];

const IKE_AUTH_RESP: &[Rule] = &[
    r(PayloadType::NOTIFY, 0, MANY),
    r(PayloadType::CERT, 0, MANY),
    r(PayloadType::IDR, 1, 1),
    r(PayloadType::AUTH, 1, 1),
    r(PayloadType::EAP, 0, 1),
    r(PayloadType::CP, 0, 1),
    r(PayloadType::SA, 0, 1),
    r(PayloadType::TSI, 0, 1),
    r(PayloadType::TSR, 0, 1),
    r(PayloadType::VENDOR_ID, 0, MANY),
];

const CREATE_CHILD_SA: &[Rule] = &[
    r(PayloadType::NOTIFY, 0, MANY),
    r(PayloadType::SA, 1, 1),
    r(PayloadType::NONCE, 1, 1),
    r(PayloadType::KE, 0, 1),
    r(PayloadType::TSI, 0, 1),
    r(PayloadType::TSR, 0, 1),
    r(PayloadType::CP, 0, 1),
    r(PayloadType::VENDOR_ID, 0, MANY),
];

/// RFC 9242 with RFC 9370's additional key exchanges: a KE (none in an error
/// answer) and notifies.
const IKE_INTERMEDIATE: &[Rule] = &[
    r(PayloadType::NOTIFY, 0, MANY),
    r(PayloadType::KE, 0, 1),
    r(PayloadType::VENDOR_ID, 0, MANY),
];

/// RFC 9370 section 2.2.4: a KE and the ADDITIONAL_KEY_EXCHANGE notify (none on the
/// last response; no KE in an error answer).
const IKE_FOLLOWUP_KE: &[Rule] = &[
    r(PayloadType::NOTIFY, 0, MANY),
    r(PayloadType::KE, 1, 1),
    r(PayloadType::VENDOR_ID, 0, MANY),
];

const INFORMATIONAL: &[Rule] = &[
    r(PayloadType::NOTIFY, 0, MANY),
    r(PayloadType::DELETE, 0, MANY),
    r(PayloadType::CP, 0, 1),
    r(PayloadType::VENDOR_ID, 0, MANY),
];

fn rules(exchange: ExchangeType, response: bool) -> Option<&'static [Rule]> {
    Some(match (exchange, response) {
        (ExchangeType::IKE_SA_INIT, false) => IKE_SA_INIT_REQ,
        (ExchangeType::IKE_SA_INIT, true) => IKE_SA_INIT_RESP,
        (ExchangeType::IKE_AUTH, false) => IKE_AUTH_REQ,
        (ExchangeType::IKE_AUTH, true) => IKE_AUTH_RESP,
        (ExchangeType::CREATE_CHILD_SA, _) => CREATE_CHILD_SA,
        (ExchangeType::IKE_INTERMEDIATE, _) => IKE_INTERMEDIATE,
        (ExchangeType::IKE_FOLLOWUP_KE, _) => IKE_FOLLOWUP_KE,
        (ExchangeType::INFORMATIONAL, _) => INFORMATIONAL,
        _ => return None,
    })
}

/// How a message breaks its exchange's payload rules. `Display` gives the sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RuleViolation {
    /// An exchange type ikev2d does not implement.
    UnsupportedExchange(ExchangeType),
    /// A payload type the exchange may not carry.
    NotAllowed {
        ty: PayloadType,
        exchange: ExchangeType,
    },
    /// More payloads of a type than the exchange allows.
    TooMany {
        ty: PayloadType,
        count: usize,
        max: u16,
        exchange: ExchangeType,
    },
    /// A payload the exchange needs is missing.
    Missing {
        ty: PayloadType,
        exchange: ExchangeType,
    },
}

impl fmt::Display for RuleViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnsupportedExchange(e) => write!(f, "exchange {e} is not supported"),
            Self::NotAllowed { ty, exchange } => {
                write!(f, "payload {ty} not allowed in {exchange}")
            }
            Self::TooMany {
                ty,
                count,
                max,
                exchange,
            } => write!(
                f,
                "{count} {ty} payloads in {exchange}, at most {max} allowed"
            ),
            Self::Missing { ty, exchange } => write!(f, "{exchange} lacks a {ty} payload"),
        }
    }
}

/// Whether the payloads of an `exchange` request (`response == false`) or response
/// fit the rules; `Err` names the first violation.
pub(crate) fn check(
    exchange: ExchangeType,
    response: bool,
    payloads: &[Payload<'_>],
) -> Result<(), RuleViolation> {
    let Some(rules) = rules(exchange, response) else {
        return Err(RuleViolation::UnsupportedExchange(exchange));
    };
    let has_error = payloads
        .iter()
        .any(|p| matches!(p, Payload::Notify(n) if n.ty.is_error() || n.ty == NotifyType::COOKIE));
    for p in payloads {
        if matches!(p, Payload::Unknown { .. }) {
            continue;
        }
        let ty = p.payload_type();
        if !rules.iter().any(|r| r.ty == ty) {
            return Err(RuleViolation::NotAllowed { ty, exchange });
        }
    }
    for rule in rules {
        let n = payloads
            .iter()
            .filter(|p| p.payload_type() == rule.ty)
            .count();
        if n > usize::from(rule.max) {
            return Err(RuleViolation::TooMany {
                ty: rule.ty,
                count: n,
                max: rule.max,
                exchange,
            });
        }
        if n < usize::from(rule.min) && !has_error {
            return Err(RuleViolation::Missing {
                ty: rule.ty,
                exchange,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::wire::{Nonce, Notify};

    #[test]
    fn missing_and_surplus_payloads() {
        let nonce = Payload::Nonce(Nonce { data: &[0; 16] });
        let e = check(
            ExchangeType::IKE_SA_INIT,
            false,
            std::slice::from_ref(&nonce),
        );
        assert_eq!(
            e,
            Err(RuleViolation::Missing {
                ty: PayloadType::SA,
                exchange: ExchangeType::IKE_SA_INIT
            })
        );
        assert_eq!(e.unwrap_err().to_string(), "IKE_SA_INIT lacks a SA payload");
        let err = Payload::Notify(Notify::new(NotifyType::NO_PROPOSAL_CHOSEN, &[]));
        assert!(check(ExchangeType::IKE_SA_INIT, true, std::slice::from_ref(&err)).is_ok());
        let e = check(
            ExchangeType::INFORMATIONAL,
            false,
            &[nonce.clone(), err.clone()],
        );
        assert_eq!(
            e,
            Err(RuleViolation::NotAllowed {
                ty: PayloadType::NONCE,
                exchange: ExchangeType::INFORMATIONAL
            })
        );
        assert!(e.unwrap_err().to_string().contains("not allowed"));
        assert!(check(ExchangeType::INFORMATIONAL, true, &[]).is_ok());
        assert_eq!(
            check(ExchangeType(99), false, &[]),
            Err(RuleViolation::UnsupportedExchange(ExchangeType(99)))
        );
    }
}
