//! IKEv2 wire format (RFC 7296 section 3, RFC 7383): zero-copy parsing of messages
//! into typed payloads, and serialization back.

pub mod enums;

pub use enums::*;
