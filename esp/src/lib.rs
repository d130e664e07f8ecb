//! ESP tunnel-mode data plane (RFC 4303). Pure encapsulation and decapsulation on
//! buffers; the IO layer lives at the edge. Not built yet: see the esp issue.

pub mod frag;
pub mod icmp;
pub mod ip;
pub mod mss;
pub mod natt;
pub mod spd;
