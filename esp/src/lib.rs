//! ESP tunnel-mode data plane (RFC 4303). Pure encapsulation and decapsulation on
//! reusable buffers; the IO layer lives at the edge.
//!
//! This crate never opens a socket, reads a clock or asks the OS for randomness: an
//! outbound SA takes an RNG once, at creation, for its CBC IV key. Everything else is a
//! function of the SA state and the packet, so tests and the fuzzer are deterministic.
//!
//! The core (see docs/esp-dataplane.md):
//! - [`buf::PacketBuf`]: one packet with headroom and tailroom, reused across packets.
//! - [`sa::OutboundSa`] / [`sa::InboundSa`] from a [`sa::SaConfig`] (keys and
//!   algorithms as the IKE side negotiated them).
//! - [`encap::encapsulate`] / [`decap::decapsulate`] and their `_batch` forms.
//! - [`replay::ReplayWindow`]: RFC 6479 bitmap with ESN inference (RFC 4303 A2).
//! - [`counters`]: octets, packets, drops by reason, lifetimes, [`counters::SaEvent`]s
//!   and [`counters::SaUsage`] for the IKE side.
//! - [`cipher`]: the transforms; AEAD backend behind [`cipher::EspAead`] (aws-lc-rs
//!   by benchmark, ring without the `aws-lc` feature).
//!
//! Inner-packet tools used around encapsulation:
//! - [`ip`]: zero-copy view of inner IPv4/IPv6 packets, checksums.
//! - [`spd`]: traffic selectors to SA lookup (outbound) and inbound selector checks.
//! - [`offload`] / [`coalesce`]: TUN offloads, cutting TCP super-packets and merging
//!   received segments into them.
//! - [`mtu`]: ESP and outer-header overhead per transform and encapsulation, the
//!   inner MTU a path MTU leaves; [`mss`]: TCP MSS clamping; [`icmp`]: "fragmentation needed"/"packet too big";
//!   [`frag`]: inner IPv4 fragmentation; [`natt`]: port-4500 framing and keepalives.
//!
//! With feature `io` (off by default), `io` holds the only system calls: a TUN
//! device, the UDP port-4500 socket and a raw ESP socket behind batch traits, and
//! channel-backed doubles for tests.

pub mod buf;
pub mod cipher;
pub mod coalesce;
pub mod counters;
pub mod decap;
pub mod encap;
pub mod frag;
pub mod icmp;
#[cfg(feature = "io")]
pub mod io;
pub mod ip;
pub mod mss;
pub mod mtu;
pub mod natt;
pub mod offload;
pub mod replay;
pub mod sa;
pub mod spd;
pub mod wire;

pub use buf::PacketBuf;
pub use cipher::{Backend, SaError};
pub use counters::{DropReason, Lifetime, SaEvent, SaUsage};
pub use decap::{DecapError, Inner, decapsulate, decapsulate_batch};
pub use encap::{EncapError, encapsulate, encapsulate_batch};
pub use sa::{InboundSa, OutboundSa, SaConfig};
pub use wire::{IpVersion, Spi};
