//! Tests that need no privileges and no running daemon: the configuration (parsing,
//! lints, its documentation), the peer filter, and the `ikev2d` commands `check`,
//! `decode` and `run` (before it gets going). One module per topic, one binary.

mod config_cli;
mod config_docs;
mod config_lint;
mod config_parse;
mod config_pubkey;
mod decode_cli;
mod peer_filter;
mod run_cli;
