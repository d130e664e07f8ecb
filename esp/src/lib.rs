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
//! - [`cipher`]: the transforms; the AEAD backend sits behind [`cipher::EspAead`]
//!   (aws-lc-rs by benchmark, ring without the `aws-lc` feature).

pub mod buf;
pub mod cipher;
pub mod counters;
pub mod decap;
pub mod encap;
pub mod replay;
pub mod sa;
pub mod wire;

pub use buf::PacketBuf;
pub use cipher::{Backend, SaError};
pub use counters::{DropReason, Lifetime, SaEvent, SaUsage};
pub use decap::{DecapError, Inner, decapsulate, decapsulate_batch};
pub use encap::{EncapError, encapsulate, encapsulate_batch};
pub use sa::{InboundSa, OutboundSa, SaConfig};
pub use wire::{IpVersion, Spi};
