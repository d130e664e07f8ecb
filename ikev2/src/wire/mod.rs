//! IKEv2 wire format (RFC 7296 section 3, RFC 7383): zero-copy parsing of messages
//! into typed payloads, and serialization back.
//!
//! - [`Message::parse`] checks the header, walks the payload chain with a bounded
//!   iterator ([`PayloadIter`]) and parses every payload body; variable-length data
//!   borrows from the datagram. [`Message::emit`] computes all length and
//!   next-payload fields.
//! - [`parse_payload_chain`] / [`emit_payload_chain`] do the same for the decrypted
//!   content of an SK payload; [`locate_encrypted`] and [`emit_encrypted_header`]
//!   give the crypto layer the associated data and body ranges.
//! - Every failure is a small `Copy` [`Error`] with a kind, the byte offset and the
//!   structure name; [`Error::notify`] picks what the responder answers.
//!
//! No input makes this module panic: all reads go through a bounds-checked reader.
//! Parsing checks syntax only (RFC 7296 section 2.21.1 INVALID_SYNTAX territory):
//! which payloads an exchange needs, and whether algorithms, key sizes or selectors
//! are acceptable, is decided by the layers above. Anything emitted by this module
//! parses back to the same value; values that would not (an SK payload in the middle,
//! a 3-octet IPv4 identity, ...) are refused when emitting.

mod auth;
mod cert;
mod codec;
mod cp;
mod delete;
pub mod enums;
mod error;
pub mod header;
mod id;
mod ke;
mod message;
mod nonce;
mod notify;
mod payload;
mod sa;
mod sk;
mod ts;
mod vendor;

pub use auth::Auth;
pub use cert::{Cert, CertReq};
pub use cp::{CfgAttribute, Cp};
pub use delete::Delete;
pub use enums::*;
pub use error::{Error, ErrorKind};
pub use header::{Flags, HEADER_LEN, Header, HeaderRepr, IkeSpi};
pub use id::{Id, IdValue};
pub use ke::Ke;
pub use message::Message;
pub use nonce::{NONCE_MAX, NONCE_MIN, Nonce};
pub use notify::{NAT_DETECTION_HASH_LEN, Notify};
pub use payload::{
    MAX_PAYLOADS, PAYLOAD_HEADER_LEN, Payload, PayloadIter, RawPayload, emit_payload_chain,
    parse_payload_chain,
};
pub use sa::{Attribute, AttributeValue, Proposal, Sa, Transform};
pub use sk::{
    EncryptedHeader, EncryptedLocation, SKF_FRAGMENT_FIELDS_LEN, Sk, Skf, emit_encrypted_header,
    locate_encrypted,
};
pub use ts::{TrafficSelector, Ts};
pub use vendor::{Eap, VendorId};
