//! Tests that need the crate's internals.

/// The simulation harness of the integration tests, shared with them.
#[path = "../../tests/sim/harness.rs"]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod sim;

mod followup_ke_refusal;
mod sa_index;
mod sim_retry;
mod sk_refusal;
mod strongswan_replay;
