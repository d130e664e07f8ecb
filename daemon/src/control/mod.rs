//! The control socket: protocol types, the daemon-side listener and the client.

pub mod access;
pub mod audit;
pub mod breakglass;
pub mod client;
pub mod proto;
pub mod render;
pub mod server;
