//! The Security Policy Database of the data plane (RFC 4301 section 4.4.1): which
//! CHILD SA an outbound inner packet goes to, and whether an inbound decapsulated
//! packet is one its SA may carry. The role boringtun's `allowed_ips.rs` has for
//! WireGuard, with IKEv2 traffic selectors (RFC 7296 section 2.9) as the keys.
//!
//! A CHILD SA with local selectors `L` and remote selectors `R` stands for the
//! policies `l === r` for every `l` in `L` and `r` in `R`, as strongSwan installs them
//! (one kernel policy per pair). An outbound packet matches `l === r` when its source
//! is in `l` and its destination in `r` (address, protocol and the port on that side,
//! see [`PacketView::ports`]); inbound it is the other way round.
//!
//! # Precedence
//!
//! When several policies match, the most specific one wins, the order a strongSwan
//! user knows: strongSwan gives each kernel policy a priority from its selectors
//! (`get_priority` in the kernel-netlink plugin, `calculate_priority` in libipsec's
//! `ipsec_policy_mgr.c`), and the kernel picks the best priority. We order the same
//! way, comparing in turn:
//!
//! 1. the sum of the prefix lengths of the two address ranges (longer = more
//!    specific; a range that is not one CIDR block counts as the smallest block
//!    that covers it, as strongSwan's `to_subnet` does);
//! 2. whether a port range is restricted on either side (anything but 0-65535,
//!    OPAQUE included; strongSwan derives this flag from the port or port mask it
//!    can install, so there a wide range may count as unrestricted);
//! 3. whether a protocol is restricted on either side;
//! 4. among equal ranks, the most recently inserted wins. That is libipsec's order
//!    (a new policy goes before those of equal priority) and also what an update of
//!    an identical kernel policy does; it lets a rekeyed CHILD SA with the same
//!    selectors take over as soon as it is inserted, which is the "switch outbound"
//!    step of a rekey, after which the old one is removed.
//!
//! There are no "bypass", "discard" or "trap" policies here: a packet that matches
//! nothing gets `None`, and what to do with it (drop, count, trigger an acquire) is
//! the caller's business.
//!
//! # Cost
//!
//! [`Spd::lookup_outbound`] is a linear scan of the policies in precedence order and
//! stops at the first match: O(P) for P = the sum over SAs of |local| × |remote|,
//! each step a few integer comparisons on precomputed ranges, no allocation. That
//! is the right structure for the handful of SAs a gateway usually has (a few
//! nanoseconds per policy); a trie keyed on the destination would pay off only with
//! hundreds or thousands of policies (bench `esp/benches/pkt.rs`: about 40 ns for
//! parse + lookup through 33 policies). Insertion and removal rebuild and re-sort
//! the policies (O(P log P)) and belong to the control path.

use core::net::IpAddr;

use ikev2::ts::TrafficSelector;

use crate::ip::PacketView;

/// Selector pairs mapped to values (SA handles), looked up by packet.
#[derive(Debug, Clone)]
pub struct Spd<T> {
    /// Everything inserted, in insertion order.
    entries: Vec<Entry<T>>,
    /// One per (local, remote) pair of every entry, best precedence first.
    policies: Vec<Policy>,
    /// Insertion counter: later insertions win ties.
    next_seq: u64,
}

#[derive(Debug, Clone)]
struct Entry<T> {
    local: Vec<TrafficSelector>,
    remote: Vec<TrafficSelector>,
    value: T,
    seq: u64,
}

#[derive(Debug, Clone, Copy)]
struct Policy {
    /// Whether both selectors are IPv4.
    v4: bool,
    local: Side,
    remote: Side,
    rank: Rank,
    seq: u64,
    /// Index into `entries`.
    entry: usize,
}

/// Specificity of a policy; greater is more specific. Field order is comparison
/// order (module docs, "Precedence").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Rank {
    prefix_sum: u16,
    ports: bool,
    proto: bool,
}

impl<T> Default for Spd<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Spd<T> {
    /// An empty SPD.
    pub fn new() -> Self {
        Self {
            entries: Vec::new(),
            policies: Vec::new(),
            next_seq: 0,
        }
    }

    /// Adds the policies `local_ts × remote_ts` for `value` (a CHILD SA's negotiated
    /// TSi/TSr as seen from here: `local_ts` covers our side). Pairs of different
    /// address families and empty selectors never match and are not stored. An
    /// empty list on either side adds an entry that matches nothing.
    pub fn insert(
        &mut self,
        local_ts: &[TrafficSelector],
        remote_ts: &[TrafficSelector],
        value: T,
    ) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.entries.push(Entry {
            local: local_ts.to_vec(),
            remote: remote_ts.to_vec(),
            value,
            seq,
        });
        self.rebuild();
    }

    /// Keeps only the entries whose value `keep` accepts, in their order.
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        let before = self.entries.len();
        self.entries.retain(|e| keep(&e.value));
        if self.entries.len() != before {
            self.rebuild();
        }
    }

    /// Removes every entry whose value equals `value`; returns how many.
    pub fn remove(&mut self, value: &T) -> usize
    where
        T: PartialEq,
    {
        let before = self.entries.len();
        self.retain(|v| v != value);
        before - self.entries.len()
    }

    /// Number of entries (SAs) inserted and not removed.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Number of selector-pair policies (the P of the lookup cost).
    pub fn policy_count(&self) -> usize {
        self.policies.len()
    }

    /// The entries as (local selectors, remote selectors, value), in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&[TrafficSelector], &[TrafficSelector], &T)> + '_ {
        self.entries
            .iter()
            .map(|e| (e.local.as_slice(), e.remote.as_slice(), &e.value))
    }

    /// The value of the most specific policy (module docs) whose local selector
    /// covers the packet's source (and source port) and whose remote selector covers
    /// its destination (and destination port), both allowing its protocol. `None`
    /// if no policy matches.
    pub fn lookup_outbound(&self, packet: &PacketView<'_>) -> Option<&T> {
        let (sport, dport) = split_ports(packet);
        let proto = packet.protocol();
        let (v4, src, dst) = (
            !packet.is_ipv6(),
            addr_u128(packet.src()),
            addr_u128(packet.dst()),
        );
        self.policies
            .iter()
            .find(|p| {
                p.v4 == v4
                    && p.local.matches(src, proto, sport)
                    && p.remote.matches(dst, proto, dport)
            })
            .map(|p| &self.entries[p.entry].value)
    }

    fn rebuild(&mut self) {
        self.policies.clear();
        for (i, e) in self.entries.iter().enumerate() {
            for l in &e.local {
                for r in &e.remote {
                    if l.is_ipv4() != r.is_ipv4() {
                        continue;
                    }
                    let (Some(local), Some(remote)) = (Side::new(l), Side::new(r)) else {
                        continue;
                    };
                    self.policies.push(Policy {
                        v4: l.is_ipv4(),
                        local,
                        remote,
                        rank: rank(l, r),
                        seq: e.seq,
                        entry: i,
                    });
                }
            }
        }
        // best rank first, then newest first; within one entry keep selector order
        self.policies
            .sort_by(|a, b| b.rank.cmp(&a.rank).then(b.seq.cmp(&a.seq)));
    }
}

/// Whether an outbound packet may use an SA with these selectors: its source in one
/// of `local_ts`, its destination in one of `remote_ts` (with protocol and ports).
pub fn matches_outbound(
    local_ts: &[TrafficSelector],
    remote_ts: &[TrafficSelector],
    packet: &PacketView<'_>,
) -> bool {
    let (sport, dport) = split_ports(packet);
    let proto = packet.protocol();
    local_ts
        .iter()
        .any(|l| l.contains_packet(packet.src(), proto, sport))
        && remote_ts
            .iter()
            .any(|r| r.contains_packet(packet.dst(), proto, dport))
}

/// The inbound selector check of RFC 4301 section 5.2 (step 4: after ESP
/// processing the packet is matched against the selectors of the SA it came in on):
/// whether a packet decapsulated from an SA with these selectors is one the SA may
/// carry. Its source must be in one of
/// `remote_ts` and its destination in one of `local_ts` (with protocol and ports).
/// A packet that fails is to be dropped and counted.
///
/// Since an SA's policies are every (local, remote) pair, checking each side on its
/// own is exact.
pub fn check_inbound(
    local_ts: &[TrafficSelector],
    remote_ts: &[TrafficSelector],
    packet: &PacketView<'_>,
) -> bool {
    let (sport, dport) = split_ports(packet);
    let proto = packet.protocol();
    remote_ts
        .iter()
        .any(|r| r.contains_packet(packet.src(), proto, sport))
        && local_ts
            .iter()
            .any(|l| l.contains_packet(packet.dst(), proto, dport))
}

/// One selector in the form the lookup compares fastest: integers, no `IpAddr`.
/// [`Side::matches`] is [`TrafficSelector::contains_packet`] for an address of the
/// selector's family (the SPD tests check the two agree).
#[derive(Debug, Clone, Copy)]
struct Side {
    lo: u128,
    hi: u128,
    proto: u8,
    port_lo: u16,
    port_hi: u16,
    any_port: bool,
    opaque: bool,
}

impl Side {
    /// `None` for an empty selector (mixed families, inverted ranges).
    fn new(ts: &TrafficSelector) -> Option<Self> {
        if ts.is_empty() {
            return None;
        }
        Some(Self {
            lo: addr_u128(ts.start),
            hi: addr_u128(ts.end),
            proto: ts.ip_proto,
            port_lo: ts.start_port,
            port_hi: ts.end_port,
            any_port: ts.has_any_port(),
            opaque: ts.is_opaque(),
        })
    }

    #[inline]
    fn matches(&self, addr: u128, proto: u8, port: Option<u16>) -> bool {
        self.lo <= addr
            && addr <= self.hi
            && (self.proto == 0 || self.proto == proto)
            && (self.any_port
                || match port {
                    None => self.opaque,
                    Some(p) => self.port_lo <= p && p <= self.port_hi,
                })
    }
}

fn addr_u128(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn split_ports(packet: &PacketView<'_>) -> (Option<u16>, Option<u16>) {
    match packet.ports() {
        Some((s, d)) => (Some(s), Some(d)),
        None => (None, None),
    }
}

fn rank(l: &TrafficSelector, r: &TrafficSelector) -> Rank {
    Rank {
        prefix_sum: u16::from(covering_prefix(l)) + u16::from(covering_prefix(r)),
        ports: !l.has_any_port() || !r.has_any_port(),
        proto: l.ip_proto != 0 || r.ip_proto != 0,
    }
}

/// The prefix length of the smallest CIDR block holding the selector's range (its
/// exact prefix length if it is one block).
fn covering_prefix(ts: &TrafficSelector) -> u8 {
    let bits = match (ts.start, ts.end) {
        (IpAddr::V4(_), IpAddr::V4(_)) => 32u32,
        (IpAddr::V6(_), IpAddr::V6(_)) => 128,
        _ => return 0,
    };
    let (lo, hi) = (addr_u128(ts.start), addr_u128(ts.end));
    let differing = 128 - (lo ^ hi).leading_zeros();
    // `differing` <= bits for a well-formed range of this family
    u8::try_from(bits.saturating_sub(differing)).unwrap_or(0)
}
