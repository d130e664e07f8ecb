//! Tests that run parts of the daemon against the system: the control socket with a
//! fake daemon, routes over rtnetlink in a private network namespace, and the real
//! `ikev2d run` in a namespace of its own ([`common`]; needs root: under CI a missing
//! prerequisite fails the test, elsewhere it skips). One module per topic, one binary.

#[path = "../common/mod.rs"]
mod common;

mod allowlist_dh;
mod break_glass;
mod control_socket;
mod netlink_routes;
