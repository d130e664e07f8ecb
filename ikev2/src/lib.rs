//! IKEv2 (RFC 7296) for ikev2d.
//!
//! This crate is deterministic and does no IO: it never opens a socket, reads a clock
//! or asks the OS for randomness on its own. Bytes, time and a random number generator
//! are passed in; datagrams, timers and events come out.
//!
//! - [`wire`]: zero-copy parsing and serialization of IKE messages and payloads
//!   (RFC 7296 section 3, RFC 7383 fragments).
//! - [`crypto`]: proposals and their negotiation, Diffie-Hellman groups, PRFs, key
//!   derivation, and protection of the SK/SKF payloads.
//! - [`ts`]: traffic selectors (swanctl syntax, intersection, responder narrowing).
//! - [`nat`]: NAT detection hashes (RFC 7296 section 2.23).
//! - [`cookie`]: stateless IKE_SA_INIT cookies (RFC 7296 section 2.6).

pub mod cookie;
pub mod crypto;
pub mod nat;
pub mod ts;
pub mod wire;
