//! The one error type of the wire layer: what went wrong, where, and in which structure.

use core::fmt;

use super::enums::{NotifyType, PayloadType};

/// A malformed message (when parsing) or an unencodable value (when emitting).
///
/// Small and `Copy`: the kind, the byte offset where the problem was found, and the name
/// of the structure being read. When parsing a whole message the offset counts from the
/// first byte of the IKE header; [`parse_payload_chain`](super::parse_payload_chain)
/// counts from the start of the bytes it was given (the decrypted SK content), and the
/// `parse` function of a single payload from the first byte after the generic payload
/// header. When emitting, the offset is the position in the output buffer where the
/// offending structure starts.
///
/// [`Error::notify`] gives the notify a responder sends back (RFC 7296 section 2.21.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    offset: usize,
    what: &'static str,
}

/// What is wrong with the bytes (or, for [`ErrorKind::TooLarge`], with the value).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The data ends inside a fixed-size field or header.
    Truncated,
    /// A length field is too small for its structure, points past the end of the
    /// enclosing data, or (IKE header) disagrees with the datagram length.
    BadLength,
    /// Bytes follow the last payload or substructure of a container.
    TrailingData,
    /// A payload we do not implement has the critical bit set. The responder answers
    /// UNSUPPORTED_CRITICAL_PAYLOAD with this payload type as notification data.
    UnsupportedCritical(PayloadType),
    /// The payload chain holds more than [`MAX_PAYLOADS`](super::MAX_PAYLOADS) payloads.
    TooManyPayloads,
    /// The IKE header carries a major version other than 2.
    InvalidMajorVersion(u8),
    /// A proposal or transform "last/more" flag, or a substructure count, disagrees
    /// with the substructures actually present.
    BadSubstructure,
    /// A field holds a value the RFCs forbid (for example a 3-octet IPv4 identity, a
    /// 4-octet nonce, an ESP proposal whose SPI is not 4 octets).
    InvalidValue,
    /// An SK or SKF payload is followed by more data: it must be the last payload.
    EncryptedNotLast,
    /// Emitting only: a value does not fit its length or count field.
    TooLarge,
}

impl Error {
    pub(crate) const fn new(kind: ErrorKind, offset: usize, what: &'static str) -> Self {
        Self { kind, offset, what }
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Byte offset of the field or structure where the problem was found.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Name of the structure that was being read or written ("proposal", "Nonce
    /// payload", ...), for log lines.
    pub fn structure(&self) -> &'static str {
        self.what
    }

    /// The notify a responder sends for this error: UNSUPPORTED_CRITICAL_PAYLOAD,
    /// INVALID_MAJOR_VERSION, or INVALID_SYNTAX for everything else.
    pub fn notify(&self) -> NotifyType {
        match self.kind {
            ErrorKind::UnsupportedCritical(_) => NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD,
            ErrorKind::InvalidMajorVersion(_) => NotifyType::INVALID_MAJOR_VERSION,
            _ => NotifyType::INVALID_SYNTAX,
        }
    }

    /// Moves the offset by `base`, for errors from a nested buffer.
    pub(crate) fn shifted(mut self, base: usize) -> Self {
        self.offset = self.offset.saturating_add(base);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} (at byte offset {})",
            self.what, self.kind, self.offset
        )
    }
}

impl std::error::Error for Error {}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("data ends inside the structure"),
            Self::BadLength => f.write_str("length field is inconsistent with the data"),
            Self::TrailingData => f.write_str("unexpected data after the last element"),
            Self::UnsupportedCritical(ty) => {
                write!(f, "unsupported payload {ty} is marked critical")
            }
            Self::TooManyPayloads => {
                write!(f, "more than {} payloads", super::MAX_PAYLOADS)
            }
            Self::InvalidMajorVersion(v) => {
                write!(f, "major version {v} is not supported (only 2 is)")
            }
            Self::BadSubstructure => {
                f.write_str("substructure flags or counts disagree with the data")
            }
            Self::InvalidValue => f.write_str("field holds a value the protocol forbids"),
            Self::EncryptedNotLast => {
                f.write_str("encrypted payload (SK/SKF) is not the last payload")
            }
            Self::TooLarge => f.write_str("value does not fit its length or count field"),
        }
    }
}
