//! ikev2d library part: what the binary and the integration tests share. For now the
//! configuration (TOML model, mapping to `ikev2` types, `ikev2d check` lints).

pub mod config;
pub mod control;
pub mod netlink;
pub mod runtime;
