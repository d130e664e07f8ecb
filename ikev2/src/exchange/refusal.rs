//! The one table from a malformed request to the notify that answers it (RFC 7296
//! sections 2.5 and 2.21.1), for IKE_SA_INIT in the clear and for SK-protected
//! requests alike.
//!
//! It only decides what to say; the callers decide whether to send it (an
//! unauthenticated IKE_SA_INIT gets an answer only where the peer can act on it) and
//! never send anything themselves from here.

use crate::wire::{self, ErrorKind, NotifyType};

/// The error notify that answers a request, with its notification data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub notify: NotifyType,
    pub data: Vec<u8>,
}

impl Refusal {
    /// The answer to a request that does not parse. The notify type is the wire
    /// layer's [`wire::Error::notify`]; the data is what RFC 7296 section 3.10.1
    /// requires with it: the one-octet type of the unsupported critical payload
    /// (section 2.5), the highest major version we speak (section 2.5), or nothing
    /// (INVALID_SYNTAX, section 2.21.1).
    pub(crate) fn malformed(e: &wire::Error) -> Self {
        let data = match e.kind() {
            ErrorKind::UnsupportedCritical(ty) => vec![ty.0],
            ErrorKind::InvalidMajorVersion(_) => vec![2],
            _ => Vec::new(),
        };
        Self {
            notify: e.notify(),
            data,
        }
    }

    /// A request that parses but breaks the exchange's payload rules, or arrives in a
    /// state where its exchange is not allowed.
    pub(crate) fn invalid_syntax() -> Self {
        Self {
            notify: NotifyType::INVALID_SYNTAX,
            data: Vec::new(),
        }
    }

    /// Whether an unauthenticated request (IKE_SA_INIT, or a header with a major
    /// version we do not speak) is answered with this notify: only when it tells the
    /// peer something it can fix. A datagram that is merely garbled gets no answer, so
    /// forged or broken datagrams cannot make us send anything.
    pub(crate) fn answers_in_clear(&self) -> bool {
        self.notify != NotifyType::INVALID_SYNTAX
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Message, PayloadType};

    /// A header with next payload `first`, followed by `body`.
    fn message(first: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![0x11; 8];
        m.extend_from_slice(&[0; 8]);
        m.extend_from_slice(&[first, 0x20, 34, 0x08, 0, 0, 0, 0]);
        let len = u32::try_from(28 + body.len()).unwrap_or(u32::MAX);
        m.extend_from_slice(&len.to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    #[test]
    fn unknown_critical_payload_names_its_type() {
        let m = message(200, &[0, 0x80, 0, 4]);
        let Err(e) = Message::parse(&m) else {
            panic!("a critical unknown payload must not parse");
        };
        let r = Refusal::malformed(&e);
        assert_eq!(r.notify, NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD);
        assert_eq!(r.data, [PayloadType(200).0]);
        assert!(r.answers_in_clear());
    }

    #[test]
    fn garbled_chain_is_invalid_syntax_without_data() {
        let m = message(40, &[0, 0, 0, 9]);
        let Err(e) = Message::parse(&m) else {
            panic!("a payload longer than the message must not parse");
        };
        let r = Refusal::malformed(&e);
        assert_eq!(r, Refusal::invalid_syntax());
        assert!(!r.answers_in_clear());
    }
}
