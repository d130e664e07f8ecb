//! The site-to-site topology every test uses (the same as `scripts/strongswan-lab`):
//!
//! ```text
//! netns A                                   netns B
//! lo 10.1.0.1/24 (inner net)                lo 10.2.0.1/24
//! veth0 192.0.2.1/24  <------ veth ------>  veth0 192.0.2.2/24
//! ```
//!
//! A and B joined through two routers whose middle link can be made smaller and
//! fragment-dropping, as many cloud paths are ([`RoutedPair`]):
//!
//! ```text
//! netns A              netns R1                 netns R2                 netns B
//! veth0 172.16.0.2 <-> veth0 172.16.0.1         veth1 192.0.2.254  <->  veth0 192.0.2.2
//!                      veth1 198.51.100.1 <---> veth0 198.51.100.2
//!                                  (the far link: MTU set by the test)
//! ```
//!
//! and the same over IPv6: A 2001:db8:a::2, B 2001:db8:b::2, inner fd01:1::1 and
//! fd01:2::1 on `lo`.
//!
//! and the same with A behind a NAT ([`NatPair`]):
//!
//! ```text
//! netns A                      netns R (router, MASQUERADE)            netns B
//! lo 10.1.0.1/24               veth0 172.16.0.1/24                     lo 10.2.0.1/24
//! veth0 172.16.0.2/24 <------> veth1 192.0.2.254/24  <------------>    veth0 192.0.2.2/24
//! default via 172.16.0.1
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
/// A's address behind the NAT of [`NatPair`], and the NAT's public address.
pub const PRIVATE_A: IpAddr = IpAddr::V4(Ipv4Addr::new(172, 16, 0, 2));
pub const NAT_PUBLIC: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 254));

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

/// A behind a NAT router R (source NAT to 192.0.2.254 on the way to B). B cannot
/// reach A's private address; everything from A reaches B from 192.0.2.254.
#[derive(Debug)]
pub struct NatPair {
    pub a: Netns,
    pub router: Netns,
    pub b: Netns,
}

impl NatPair {
    #[track_caller]
    pub fn new() -> Self {
        let a = Netns::new("a");
        let router = Netns::new("r");
        let b = Netns::new("b");
        veth(&a, VETH, &router, "veth0");
        veth(&router, "veth1", &b, VETH);
        a.add_addr(VETH, "172.16.0.2/24");
        a.add_addr("lo", "10.1.0.1/24");
        a.run_ok(&["ip", "route", "add", "default", "via", "172.16.0.1"]);
        router.add_addr("veth0", "172.16.0.1/24");
        router.add_addr("veth1", "192.0.2.254/24");
        router.run_ok(&["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
        router.run_ok(&[
            "iptables",
            "-t",
            "nat",
            "-A",
            "POSTROUTING",
            "-o",
            "veth1",
            "-j",
            "MASQUERADE",
        ]);
        b.add_addr(VETH, "192.0.2.2/24");
        b.add_addr("lo", "10.2.0.1/24");
        assert!(
            a.reachable(OUTER_B, Duration::from_secs(5)),
            "{} cannot reach {OUTER_B} through the NAT in {}",
            a.name(),
            router.name()
        );
        Self { a, router, b }
    }

    /// Count packets A sends through the NAT that match `spec` (iptables match
    /// arguments); read it with [`NatPair::count`].
    #[track_caller]
    pub fn add_counter(&self, spec: &[&str]) {
        let mut args = vec!["iptables", "-I", "FORWARD", "-i", "veth0"];
        args.extend_from_slice(spec);
        args.extend(["-j", "ACCEPT"]);
        self.router.run_ok(&args);
    }

    /// Packets counted by the first FORWARD rule (the last one added).
    #[track_caller]
    pub fn count(&self) -> u64 {
        let o = self.router.run_ok(&[
            "iptables",
            "-L",
            "FORWARD",
            "-v",
            "-x",
            "-n",
            "--line-numbers",
        ]);
        o.stdout
            .lines()
            .find(|l| l.trim_start().starts_with("1 "))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }
}

impl NatPair {
    /// Makes the NAT forget an idle UDP mapping after `secs` seconds, as the short
    /// timeouts of some cloud and carrier NATs do (Linux: 30 s, and 120 s once
    /// both directions were seen).
    #[track_caller]
    pub fn forget_udp_after(&self, secs: u32) {
        for key in [
            "net.netfilter.nf_conntrack_udp_timeout",
            "net.netfilter.nf_conntrack_udp_timeout_stream",
        ] {
            self.router
                .run_ok(&["sysctl", "-q", "-w", &format!("{key}={secs}")]);
        }
    }

    /// Whether the NAT holds a mapping for A's UDP port `port` (its connection
    /// tracking table).
    #[track_caller]
    pub fn has_mapping(&self, port: u16) -> bool {
        let o = self.router.run_ok(&["cat", "/proc/net/nf_conntrack"]);
        let src = format!("src={PRIVATE_A} ");
        let sport = format!("sport={port} ");
        o.stdout
            .lines()
            .any(|l| l.contains(" udp ") && l.contains(&src) && l.contains(&sport))
    }
}

impl Default for NatPair {
    fn default() -> Self {
        Self::new()
    }
}

/// A and B through routers R1 and R2 (see the module docs), IPv4 and IPv6: no NAT,
/// so each side sees the other's own address ([`PRIVATE_A`], [`OUTER_B`]). The link R1-R2 starts
/// at MTU 1500; [`RoutedPair::far_link`] shrinks it and makes both routers drop IP
/// fragments, [`RoutedPair::filter_icmp`] stops them from sending "fragmentation
/// needed".
#[derive(Debug)]
pub struct RoutedPair {
    pub a: Netns,
    pub r1: Netns,
    pub r2: Netns,
    pub b: Netns,
}

impl RoutedPair {
    #[track_caller]
    pub fn new() -> Self {
        let a = Netns::new("a");
        let r1 = Netns::new("r1");
        let r2 = Netns::new("r2");
        let b = Netns::new("b");
        veth(&a, VETH, &r1, "veth0");
        veth(&r1, "veth1", &r2, "veth0");
        veth(&r2, "veth1", &b, VETH);
        a.add_addr(VETH, "172.16.0.2/24");
        a.add_addr("lo", "10.1.0.1/24");
        a.run_ok(&["ip", "route", "add", "default", "via", "172.16.0.1"]);
        r1.add_addr("veth0", "172.16.0.1/24");
        r1.add_addr("veth1", "198.51.100.1/24");
        r1.run_ok(&["ip", "route", "add", "192.0.2.0/24", "via", "198.51.100.2"]);
        r2.add_addr("veth0", "198.51.100.2/24");
        r2.add_addr("veth1", "192.0.2.254/24");
        r2.run_ok(&["ip", "route", "add", "172.16.0.0/24", "via", "198.51.100.1"]);
        for r in [&r1, &r2] {
            r.run_ok(&["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
        }
        b.add_addr(VETH, "192.0.2.2/24");
        b.add_addr("lo", "10.2.0.1/24");
        b.run_ok(&["ip", "route", "add", "default", "via", "192.0.2.254"]);
        // The same over IPv6 (no duplicate address detection delay).
        let v6 = |ns: &Netns, dev: &str, cidr: &str| {
            ns.run_ok(&["ip", "-6", "addr", "add", cidr, "dev", dev, "nodad"]);
        };
        v6(&a, VETH, "2001:db8:a::2/64");
        v6(&a, "lo", "fd01:1::1/64");
        a.run_ok(&[
            "ip",
            "-6",
            "route",
            "add",
            "default",
            "via",
            "2001:db8:a::1",
        ]);
        v6(&r1, "veth0", "2001:db8:a::1/64");
        v6(&r1, "veth1", "2001:db8:1::1/64");
        r1.run_ok(&[
            "ip",
            "-6",
            "route",
            "add",
            "2001:db8:b::/64",
            "via",
            "2001:db8:1::2",
        ]);
        v6(&r2, "veth0", "2001:db8:1::2/64");
        v6(&r2, "veth1", "2001:db8:b::254/64");
        r2.run_ok(&[
            "ip",
            "-6",
            "route",
            "add",
            "2001:db8:a::/64",
            "via",
            "2001:db8:1::1",
        ]);
        for r in [&r1, &r2] {
            r.run_ok(&["sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=1"]);
        }
        v6(&b, VETH, "2001:db8:b::2/64");
        v6(&b, "lo", "fd01:2::1/64");
        b.run_ok(&[
            "ip",
            "-6",
            "route",
            "add",
            "default",
            "via",
            "2001:db8:b::254",
        ]);
        assert!(
            a.reachable(OUTER_B, Duration::from_secs(5)),
            "{} cannot reach {OUTER_B} through {} and {}",
            a.name(),
            r1.name(),
            r2.name()
        );
        let b6: IpAddr = "2001:db8:b::2".parse().expect("literal");
        assert!(
            a.reachable(b6, Duration::from_secs(5)),
            "{} cannot reach {b6} through the routers",
            a.name()
        );
        Self { a, r1, r2, b }
    }

    /// The far link (R1-R2) carries at most `mtu` octets, and both routers drop IP
    /// fragments (`iptables -A FORWARD -f -j DROP`, as many cloud paths do).
    #[track_caller]
    pub fn far_link(&self, mtu: u16) {
        let mtu = mtu.to_string();
        self.r1.run_ok(&["ip", "link", "set", "veth1", "mtu", &mtu]);
        self.r2.run_ok(&["ip", "link", "set", "veth0", "mtu", &mtu]);
        for r in [&self.r1, &self.r2] {
            r.run_ok(&["iptables", "-A", "FORWARD", "-f", "-j", "DROP"]);
            r.run_ok(&["ip6tables", "-A", "FORWARD", "-m", "frag", "-j", "DROP"]);
        }
    }

    /// Both routers stop sending ICMP "fragmentation needed" (an ICMP-filtering
    /// path: large packets vanish without a word).
    #[track_caller]
    pub fn filter_icmp(&self) {
        for r in [&self.r1, &self.r2] {
            r.run_ok(&[
                "iptables",
                "-A",
                "OUTPUT",
                "-p",
                "icmp",
                "--icmp-type",
                "fragmentation-needed",
                "-j",
                "DROP",
            ]);
            r.run_ok(&[
                "ip6tables",
                "-A",
                "OUTPUT",
                "-p",
                "icmpv6",
                "--icmpv6-type",
                "packet-too-big",
                "-j",
                "DROP",
            ]);
        }
    }

    /// IPv4 packets dropped as fragments by the routers' FORWARD rules (0 before
    /// [`RoutedPair::far_link`]).
    #[track_caller]
    pub fn fragments_dropped(&self) -> u64 {
        [&self.r1, &self.r2]
            .iter()
            .map(|r| {
                let o = r.run_ok(&["iptables", "-L", "FORWARD", "-v", "-x", "-n"]);
                o.stdout
                    .lines()
                    .filter(|l| l.contains("DROP") && l.contains("-f"))
                    .filter_map(|l| l.split_whitespace().next()?.parse::<u64>().ok())
                    .sum::<u64>()
            })
            .sum()
    }
}

impl Default for RoutedPair {
    fn default() -> Self {
        Self::new()
    }
}

/// One site (A) and two gateways of the far site (B1 primary, B2 standby) that both
/// serve 10.2.0.0/24 (each has 10.2.0.1 on `lo`), through a router R
/// ([`TwoGateways`]):
///
/// ```text
/// netns A              netns R                        netns B1 / netns B2
/// lo 10.1.0.1/24       veth0 192.0.2.254/24           B1 veth0 198.51.100.2/24, lo 10.2.0.1/24
/// veth0 192.0.2.1 <--> veth1 198.51.100.1/24  <---->  B2 veth0 203.0.113.2/24, lo 10.2.0.1/24
/// default via R        veth2 203.0.113.1/24   <---->
/// ```
#[derive(Debug)]
pub struct TwoGateways {
    pub a: Netns,
    pub router: Netns,
    pub b1: Netns,
    pub b2: Netns,
}

pub const GATEWAY_1: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2));
pub const GATEWAY_2: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 2));

impl TwoGateways {
    #[track_caller]
    pub fn new() -> Self {
        let a = Netns::new("a");
        let router = Netns::new("r");
        let b1 = Netns::new("b1");
        let b2 = Netns::new("b2");
        veth(&a, VETH, &router, "veth0");
        veth(&router, "veth1", &b1, VETH);
        veth(&router, "veth2", &b2, VETH);
        a.add_addr(VETH, "192.0.2.1/24");
        a.add_addr("lo", "10.1.0.1/24");
        a.run_ok(&["ip", "route", "add", "default", "via", "192.0.2.254"]);
        router.add_addr("veth0", "192.0.2.254/24");
        router.add_addr("veth1", "198.51.100.1/24");
        router.add_addr("veth2", "203.0.113.1/24");
        router.run_ok(&["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
        for (b, addr, via) in [
            (&b1, "198.51.100.2/24", "198.51.100.1"),
            (&b2, "203.0.113.2/24", "203.0.113.1"),
        ] {
            b.add_addr(VETH, addr);
            b.add_addr("lo", "10.2.0.1/24");
            b.run_ok(&["ip", "route", "add", "default", "via", via]);
        }
        for gw in [GATEWAY_1, GATEWAY_2] {
            assert!(
                a.reachable(gw, Duration::from_secs(5)),
                "{} cannot reach gateway {gw} through {}",
                a.name(),
                router.name()
            );
        }
        Self { a, router, b1, b2 }
    }

    /// The namespace of gateway 1 or 2.
    pub fn gateway(&self, n: u8) -> &Netns {
        if n == 1 { &self.b1 } else { &self.b2 }
    }

    /// The router silently drops everything to and from gateway `n` (a dead link
    /// or host without any ICMP), or forwards it again (`cut = false`).
    #[track_caller]
    pub fn silence(&self, n: u8, cut: bool) {
        let gw = if n == 1 { GATEWAY_1 } else { GATEWAY_2 }.to_string();
        let op = if cut { "-I" } else { "-D" };
        for dir in ["-d", "-s"] {
            self.router
                .run_ok(&["iptables", op, "FORWARD", dir, &gw, "-j", "DROP"]);
        }
    }
}

impl Default for TwoGateways {
    fn default() -> Self {
        Self::new()
    }
}
