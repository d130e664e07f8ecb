//! The site-to-site topology every test uses (the same as `scripts/strongswan-lab`):
//!
//! ```text
//! netns A                                   netns B
//! lo 10.1.0.1/24 (inner net)                lo 10.2.0.1/24
//! veth0 192.0.2.1/24  <------ veth ------>  veth0 192.0.2.2/24
//! ```

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::netns::{Netns, veth};

pub const OUTER_A: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
pub const OUTER_B: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
pub const INNER_A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 1, 0, 1));
pub const INNER_B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 2, 0, 1));
pub const NET_A: &str = "10.1.0.0/24";
pub const NET_B: &str = "10.2.0.0/24";
/// Name of the veth end in each namespace.
pub const VETH: &str = "veth0";

/// Two namespaces joined by a veth pair, inner addresses on `lo`. Field order is drop
/// order: declare daemons after the `Pair` so they stop before the namespaces go.
#[derive(Debug)]
pub struct Pair {
    pub a: Netns,
    pub b: Netns,
}

impl Pair {
    /// Build it and check that the veth passes traffic.
    #[track_caller]
    pub fn new() -> Self {
        let a = Netns::new("a");
        let b = Netns::new("b");
        veth(&a, VETH, &b, VETH);
        a.add_addr(VETH, "192.0.2.1/24");
        b.add_addr(VETH, "192.0.2.2/24");
        a.add_addr("lo", "10.1.0.1/24");
        b.add_addr("lo", "10.2.0.1/24");
        assert!(
            a.reachable(OUTER_B, Duration::from_secs(5)),
            "veth {} <-> {} does not pass traffic",
            a.name(),
            b.name()
        );
        Self { a, b }
    }
}

impl Default for Pair {
    fn default() -> Self {
        Self::new()
    }
}
