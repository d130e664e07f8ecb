//! Traffic selector properties: printing round trips, intersection laws, exact
//! packet-level meaning of intersections, and minimal exact CIDR covers.
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ikev2::ts::{TrafficSelector, TsSpec, narrow};
use proptest::prelude::*;

/// Addresses from a small window so that selectors overlap often, plus the edges of
/// the address space.
fn v4_addr() -> impl Strategy<Value = u32> {
    prop_oneof![
        6 => (0u32..64).prop_map(|x| 0x0a00_0000 + x),
        1 => Just(0u32),
        1 => Just(u32::MAX),
        1 => any::<u32>(),
    ]
}

fn v6_addr() -> impl Strategy<Value = u128> {
    prop_oneof![
        6 => (0u128..64).prop_map(|x| (0x2001_0db8u128 << 96) + x),
        1 => Just(0u128),
        1 => Just(u128::MAX),
        1 => any::<u128>(),
    ]
}

fn addrs() -> impl Strategy<Value = (IpAddr, IpAddr)> {
    let v4 = prop_oneof![
        (v4_addr(), 0u8..=32).prop_map(|(a, len)| {
            let t = TrafficSelector::from_cidr(Ipv4Addr::from(a).into(), len).unwrap();
            (t.start, t.end)
        }),
        (v4_addr(), v4_addr()).prop_map(|(a, b)| {
            let (a, b) = (a.min(b), a.max(b));
            (Ipv4Addr::from(a).into(), Ipv4Addr::from(b).into())
        }),
    ];
    let v6 = prop_oneof![
        (v6_addr(), 0u8..=128).prop_map(|(a, len)| {
            let t = TrafficSelector::from_cidr(Ipv6Addr::from(a).into(), len).unwrap();
            (t.start, t.end)
        }),
        (v6_addr(), v6_addr()).prop_map(|(a, b)| {
            let (a, b) = (a.min(b), a.max(b));
            (Ipv6Addr::from(a).into(), Ipv6Addr::from(b).into())
        }),
    ];
    prop_oneof![3 => v4, 1 => v6]
}

fn port() -> impl Strategy<Value = u16> {
    prop_oneof![4 => 0u16..100, 1 => Just(0xffff), 1 => any::<u16>()]
}

fn ports() -> impl Strategy<Value = (u16, u16)> {
    prop_oneof![
        3 => Just((0, 0xffff)),
        1 => Just((0xffff, 0)),
        2 => port().prop_map(|p| (p, p)),
        3 => (port(), port()).prop_map(|(a, b)| (a.min(b), a.max(b))),
    ]
}

fn proto() -> impl Strategy<Value = u8> {
    prop_oneof![4 => Just(0u8), 2 => Just(6u8), 2 => Just(17u8), 1 => Just(1u8), 1 => Just(58u8), 1 => any::<u8>()]
}

fn selector() -> impl Strategy<Value = TrafficSelector> {
    (addrs(), proto(), ports()).prop_map(|((start, end), ip_proto, (start_port, end_port))| {
        TrafficSelector {
            ip_proto,
            start_port,
            end_port,
            start,
            end,
        }
    })
}

/// A packet near the interesting values: (address, protocol, port or unseen).
fn packet() -> impl Strategy<Value = (IpAddr, u8, Option<u16>)> {
    let addr = prop_oneof![
        3 => v4_addr().prop_map(|a| IpAddr::from(Ipv4Addr::from(a))),
        1 => v6_addr().prop_map(|a| IpAddr::from(Ipv6Addr::from(a))),
    ];
    (
        addr,
        proto(),
        prop_oneof![1 => Just(None), 4 => port().prop_map(Some)],
    )
}

/// strongSwan's traffic_selector_list_t.select: configured-major get_subset, then
/// remove_duplicate_ts (a literal transcription, as a reference model).
fn strongswan_select(
    configured: &[TrafficSelector],
    supplied: &[TrafficSelector],
) -> Vec<TrafficSelector> {
    let mut list: Vec<TrafficSelector> = Vec::new();
    for c in configured {
        for s in supplied {
            if let Some(x) = c.intersect(s) {
                list.push(x);
            }
        }
    }
    // remove_duplicate_ts
    let mut i = 0;
    'outer: while i < list.len() {
        let mut j = 0;
        while j < list.len() {
            if i != j {
                if list[i].contains(&list[j]) {
                    list.remove(j);
                    i = 0;
                    continue 'outer;
                }
                if list[j].contains(&list[i]) {
                    list.remove(i);
                    continue 'outer;
                }
            }
            j += 1;
        }
        i += 1;
    }
    list
}

fn sorted(mut v: Vec<TrafficSelector>) -> Vec<String> {
    let mut s: Vec<String> = v.drain(..).map(|t| format!("{t:?}")).collect();
    s.sort();
    s
}

/// The fewest aligned blocks covering exactly lo..=hi (dynamic programming).
fn min_blocks(lo: u32, hi: u32) -> usize {
    let n = (hi - lo + 1) as usize;
    let mut best = vec![usize::MAX; n + 1];
    best[0] = 0;
    for i in 0..n {
        if best[i] == usize::MAX {
            continue;
        }
        let start = lo + i as u32;
        for k in 0..=32u32 {
            let size = 1u64 << k;
            if u64::from(start) % size != 0 || i as u64 + size > n as u64 {
                break;
            }
            let j = i + size as usize;
            best[j] = best[j].min(best[i] + 1);
        }
    }
    best[n]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn display_parse_round_trip(t in selector()) {
        let shown = t.to_string();
        let back: TrafficSelector = shown.parse().map_err(|e| TestCaseError::fail(format!("{shown}: {e}")))?;
        prop_assert_eq!(back, t, "{}", shown);
        let spec: TsSpec = shown.parse().unwrap();
        prop_assert_eq!(spec.to_string(), shown);
    }

    #[test]
    fn wire_round_trip(t in selector()) {
        prop_assert_eq!(TrafficSelector::from_wire(&t.to_wire()), Some(t));
    }

    #[test]
    fn intersection_laws(a in selector(), b in selector(), c in selector()) {
        let ab = a.intersect(&b);
        // commutative
        prop_assert_eq!(ab, b.intersect(&a));
        // idempotent
        prop_assert_eq!(a.intersect(&a), Some(a));
        if let Some(x) = ab {
            // contained in both, non-empty, and stable
            prop_assert!(!x.is_empty());
            prop_assert!(a.contains(&x), "{} !> {}", a, x);
            prop_assert!(b.contains(&x), "{} !> {}", b, x);
            prop_assert_eq!(x.intersect(&a), Some(x));
            prop_assert_eq!(x.intersect(&x), Some(x));
        }
        // associative
        let left = ab.and_then(|x| x.intersect(&c));
        let right = b.intersect(&c).and_then(|x| a.intersect(&x));
        prop_assert_eq!(left, right);
        // contains is "the intersection is the other one"
        prop_assert_eq!(a.contains(&b), ab == Some(b));
        prop_assert!(a.contains(&a));
        // containment is antisymmetric
        if a.contains(&b) && b.contains(&a) {
            prop_assert_eq!(a, b);
        }
    }

    /// The intersection matches exactly the packets both selectors match.
    #[test]
    fn intersection_is_exact_on_packets(a in selector(), b in selector(), pkts in prop::collection::vec(packet(), 1..40)) {
        let ab = a.intersect(&b);
        // also probe the edges of both selectors
        let mut probes = pkts;
        for t in [a, b] {
            for addr in [t.start, t.end] {
                for port in [None, Some(t.start_port), Some(t.end_port)] {
                    probes.push((addr, t.ip_proto, port));
                }
            }
        }
        for (addr, proto, port) in probes {
            let both = a.contains_packet(addr, proto, port) && b.contains_packet(addr, proto, port);
            let inter = ab.is_some_and(|x| x.contains_packet(addr, proto, port));
            prop_assert_eq!(both, inter, "{:?} {:?} {:?} in {} and {}", addr, proto, port, a, b);
            if a.contains(&b) && b.contains_packet(addr, proto, port) {
                prop_assert!(a.contains_packet(addr, proto, port));
            }
        }
    }

    /// to_cidrs covers exactly the IPv4 range, with the fewest blocks, in order.
    #[test]
    fn cidr_cover_is_exact_and_minimal(a in any::<u32>(), b in any::<u32>(), small in any::<bool>(), len in 0u32..300) {
        let (lo, hi) = if small {
            let lo = a.min(u32::MAX - len);
            (lo, lo + len)
        } else {
            (a.min(b), a.max(b))
        };
        let t = TrafficSelector::range(Ipv4Addr::from(lo).into(), Ipv4Addr::from(hi).into()).unwrap();
        let blocks = t.to_cidrs();
        prop_assert!(!blocks.is_empty() && blocks.len() <= 62);
        let mut next = u64::from(lo);
        for &(addr, plen) in &blocks {
            let IpAddr::V4(addr) = addr else { panic!("family") };
            let start = u64::from(u32::from(addr));
            let size = 1u64 << (32 - u32::from(plen));
            prop_assert_eq!(start, next, "contiguous, in order");
            prop_assert_eq!(start % size, 0, "aligned");
            // each block is a valid CIDR whose selector is inside t
            let b = TrafficSelector::from_cidr(addr.into(), plen).unwrap();
            prop_assert!(t.contains(&b));
            next = start + size;
        }
        prop_assert_eq!(next, u64::from(hi) + 1, "ends at the end");
        // edges: first and last addresses in, neighbours out
        prop_assert!(t.contains_packet(Ipv4Addr::from(lo).into(), 0, None));
        prop_assert!(t.contains_packet(Ipv4Addr::from(hi).into(), 0, None));
        if lo > 0 {
            prop_assert!(!t.contains_packet(Ipv4Addr::from(lo - 1).into(), 0, None));
        }
        if hi < u32::MAX {
            prop_assert!(!t.contains_packet(Ipv4Addr::from(hi + 1).into(), 0, None));
        }
        if hi - lo < 300 {
            prop_assert_eq!(blocks.len(), min_blocks(lo, hi));
            // enumerate: every address is in exactly one block
            for x in lo..=hi {
                let n = blocks.iter().filter(|(addr, plen)| {
                    TrafficSelector::from_cidr(*addr, *plen).unwrap().contains_packet(Ipv4Addr::from(x).into(), 0, None)
                }).count();
                prop_assert_eq!(n, 1);
            }
        }
    }

    #[test]
    fn cidr_cover_of_a_cidr_is_itself(a in v6_addr(), len in 0u8..=128) {
        let t = TrafficSelector::from_cidr(Ipv6Addr::from(a).into(), len).unwrap();
        prop_assert_eq!(t.to_cidrs(), vec![(t.start, len)]);
        prop_assert_eq!(t.prefix_len(), Some(len));
    }

    /// narrow gives strongSwan's set; every result is inside a configured and a
    /// proposed selector; results do not contain each other; and every packet that
    /// both the configuration and the proposal allow is allowed by the result.
    #[test]
    fn narrowing_properties(
        cfg in prop::collection::vec(selector(), 0..4),
        prop in prop::collection::vec(selector(), 0..5),
        pkts in prop::collection::vec(packet(), 1..30),
    ) {
        let got = narrow(&cfg, &prop);
        prop_assert_eq!(sorted(got.clone()), sorted(strongswan_select(&cfg, &prop)));
        for (i, x) in got.iter().enumerate() {
            prop_assert!(cfg.iter().any(|c| c.contains(x)));
            prop_assert!(prop.iter().any(|p| p.contains(x)));
            for (j, y) in got.iter().enumerate() {
                if i != j {
                    prop_assert!(!y.contains(x), "{} contains {}", y, x);
                }
            }
        }
        for (addr, proto, port) in pkts {
            let allowed = cfg.iter().any(|c| c.contains_packet(addr, proto, port))
                && prop.iter().any(|p| p.contains_packet(addr, proto, port));
            let narrowed = got.iter().any(|x| x.contains_packet(addr, proto, port));
            // a packet allowed by one configured and one proposed selector is in
            // their intersection
            let pairwise = cfg.iter().any(|c| prop.iter().any(|p| c.contains_packet(addr, proto, port) && p.contains_packet(addr, proto, port)));
            prop_assert_eq!(pairwise, allowed);
            prop_assert_eq!(narrowed, allowed);
        }
        // narrowing what we answered changes nothing
        prop_assert_eq!(sorted(narrow(&cfg, &got)), sorted(got.clone()));
    }
}
