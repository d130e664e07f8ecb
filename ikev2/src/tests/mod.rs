//! Tests that need the crate's internals.

mod sim_retry;
mod strongswan_replay;
