//! Tests that need the crate's internals.

mod strongswan_replay;
