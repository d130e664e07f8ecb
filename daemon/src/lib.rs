//! ikev2d library part: what the binary and the integration tests share: the
//! configuration (TOML model, mapping to `ikev2` types, `ikev2d check` lints), the
//! control socket (protocol, server, client, status rendering), netlink routes and the
//! daemon runtime (`ikev2d run`).

pub mod config;
pub mod control;
pub mod metrics;
pub mod netlink;
pub mod runtime;
