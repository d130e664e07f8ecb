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
//! - [`Endpoint`]: the sans-IO state machine that sets up IKE and CHILD SAs, as
//!   initiator and responder. Datagrams and time go in through
//!   [`Endpoint::handle_datagram`] and [`Endpoint::handle_timeout`]; datagrams, events
//!   and the next deadline come out of [`Endpoint::poll_transmit`],
//!   [`Endpoint::poll_event`] and [`Endpoint::poll_timeout`]. Its configuration is in
//!   [`config`], its events in [`event`], failure causes in [`error`].
//! - [`ts`], [`nat`], [`cookie`]: traffic selectors, NAT detection, IKE_SA_INIT
//!   cookies.

pub mod config;
pub mod cookie;
pub mod crypto;
mod endpoint;
pub mod error;
pub mod event;
mod exchange;
mod ike_sa;
pub mod nat;
pub mod pki;
pub mod remotes;
mod status;
mod timer_index;
pub mod ts;
pub mod wire;

#[cfg(test)]
mod tests;

// The simulation harness of the integration tests (`tests/sim`) names the crate
// `ikev2`; unit tests that need internal hooks include it too.
#[cfg(test)]
extern crate self as ikev2;

pub use endpoint::Endpoint;
pub use event::UsageReport;
pub use ike_sa::ctx::{Transmit, TransmitKind};
pub use status::{ChildSaState, ChildSaStatus, IkeSaState, IkeSaStatus, ReloadSummary, Stats};
