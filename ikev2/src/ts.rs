//! Traffic selectors as policy values (RFC 7296 section 2.9 and 3.13.1): parsing and
//! printing in strongSwan's swanctl.conf syntax, set operations, responder narrowing,
//! route covers and conversion to and from the wire form in [`crate::wire`].
//!
//! A [`TrafficSelector`] is an inclusive address range of one family, an IP protocol
//! (0 = any) and an inclusive 16-bit "port" range. For ICMP and ICMPv6 the port field
//! holds type and code as `type << 8 | code` (RFC 7296 section 3.13.1, RFC 4301 section
//! 4.4.1.3). Start port 65535 with end port 0 is the OPAQUE selector: it matches
//! packets whose ports cannot be seen (fragments, ESP-in-ESP, ...).
//!
//! This module never resolves host or service names through the OS, never looks at
//! routing tables and never decides which configuration applies: it is pure
//! arithmetic on values. The "dynamic" keyword of swanctl.conf (the tunnel address or
//! virtual IP, known only once an SA is set up) is kept as [`TsSpec::Dynamic`] and
//! turned into a selector by the caller with [`TsSpec::resolve`].
//!
//! # Narrowing
//!
//! [`narrow`] is what the responder does with the initiator's TSi/TSr (RFC 7296
//! section 2.9): for every proposed selector, in the initiator's order, its
//! intersection with every configured selector, in configuration order; then every
//! result contained in another result is dropped (of equal results the first is
//! kept). This gives exactly the set strongSwan's `traffic_selector_list_t.select`
//! (`get_subset` for every pair, then `remove_duplicate_ts`) gives, in possibly a
//! different order: strongSwan orders by configured selector first. Neither RFC 7296
//! nor strongSwan's initiator attaches meaning to the order of a response.
//! strongSwan-only behaviour not mirrored here: "dynamic" resolution, transport-mode
//! NAT selector rewriting and narrowing plugins (all the caller's business).

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::str::FromStr;

use crate::wire;

mod text;
use text::{fmt_proto_ports, parse_addrs, parse_proto_ports, syntax};

/// IP protocol numbers (IANA "Assigned Internet Protocol Numbers") that selectors use
/// most.
pub mod ip_proto {
    /// Any protocol: the wildcard of a traffic selector.
    pub const ANY: u8 = 0;
    /// ICMP for IPv4; ports carry type and code.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// GRE (no ports).
    pub const GRE: u8 = 47;
    /// ESP (no ports).
    pub const ESP: u8 = 50;
    /// ICMP for IPv6 (`ipv6-icmp`); ports carry type and code.
    pub const ICMPV6: u8 = 58;
    /// SCTP.
    pub const SCTP: u8 = 132;
}

/// Start port of an OPAQUE selector (RFC 7296 section 3.13.1).
pub const OPAQUE_START_PORT: u16 = 0xffff;
/// End port of an OPAQUE selector.
pub const OPAQUE_END_PORT: u16 = 0;

/// The 16-bit port value of an ICMP/ICMPv6 type and code (RFC 4301 section 4.4.1.3).
pub const fn icmp_port(icmp_type: u8, code: u8) -> u16 {
    ((icmp_type as u16) << 8) | code as u16
}

/// One traffic selector: an address range, an IP protocol (0 = any) and a port range.
///
/// `start` and `end` must be of the same family and are inclusive. The constructors
/// guarantee that; a value built by hand with mixed families, `start > end`, or a
/// port range with start above end that is not OPAQUE is *empty*: it intersects
/// nothing, contains nothing and matches no packet (see [`Self::is_empty`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TrafficSelector {
    /// IP protocol number; 0 matches every protocol.
    pub ip_proto: u8,
    /// First port (or ICMP type/code), inclusive; 65535 with `end_port` 0 is OPAQUE.
    pub start_port: u16,
    /// Last port, inclusive.
    pub end_port: u16,
    /// First address, inclusive.
    pub start: IpAddr,
    /// Last address, inclusive, of the same family as `start`.
    pub end: IpAddr,
}

impl TrafficSelector {
    /// The subnet `addr/prefix_len`, all protocols and ports.
    ///
    /// Host bits set in `addr` are cleared, as strongSwan does for
    /// `10.1.0.1/24` (it means `10.1.0.0/24`). A prefix longer than the address
    /// (more than 32 or 128) is an error; strongSwan silently clamps it.
    pub fn from_cidr(addr: IpAddr, prefix_len: u8) -> Result<Self, TsError> {
        let bits = family_bits(addr);
        if prefix_len > bits {
            return Err(TsError::PrefixTooLong { addr, prefix_len });
        }
        let host = host_mask(bits - prefix_len);
        let v = to_u128(addr);
        let v4 = addr.is_ipv4();
        Ok(Self::any_ports(
            from_u128(v & !host, v4),
            from_u128(v | host, v4),
        ))
    }

    /// A single address (`/32` or `/128`), all protocols and ports.
    pub fn host(addr: IpAddr) -> Self {
        Self::any_ports(addr, addr)
    }

    /// The inclusive range `start`..=`end`, all protocols and ports. Both must be of
    /// the same family and `start <= end`.
    pub fn range(start: IpAddr, end: IpAddr) -> Result<Self, TsError> {
        if start.is_ipv4() != end.is_ipv4() {
            return Err(TsError::FamilyMismatch { start, end });
        }
        if to_u128(start) > to_u128(end) {
            return Err(TsError::AddressOrder { start, end });
        }
        Ok(Self::any_ports(start, end))
    }

    /// All IPv4 addresses (`0.0.0.0/0`), all protocols and ports.
    pub fn any_ipv4() -> Self {
        Self::any_ports(Ipv4Addr::UNSPECIFIED.into(), Ipv4Addr::BROADCAST.into())
    }

    /// All IPv6 addresses (`::/0`), all protocols and ports.
    pub fn any_ipv6() -> Self {
        Self::any_ports(
            Ipv6Addr::UNSPECIFIED.into(),
            Ipv6Addr::from(u128::MAX).into(),
        )
    }

    fn any_ports(start: IpAddr, end: IpAddr) -> Self {
        Self {
            ip_proto: ip_proto::ANY,
            start_port: 0,
            end_port: 0xffff,
            start,
            end,
        }
    }

    /// The same addresses restricted to `ip_proto` (0 = any) and the raw port range
    /// `start_port..=end_port` (for ICMP: see [`icmp_port`]). `start_port` must not be
    /// above `end_port`, except for OPAQUE (65535, 0).
    pub fn with_protocol(
        self,
        ip_proto: u8,
        start_port: u16,
        end_port: u16,
    ) -> Result<Self, TsError> {
        if start_port > end_port && !is_opaque(start_port, end_port) {
            return Err(TsError::PortOrder {
                start: start_port,
                end: end_port,
            });
        }
        Ok(Self {
            ip_proto,
            start_port,
            end_port,
            ..self
        })
    }

    /// Whether this is an IPv4 selector (TS_IPV4_ADDR_RANGE).
    pub fn is_ipv4(&self) -> bool {
        self.start.is_ipv4()
    }

    /// Whether the port range is OPAQUE (start 65535, end 0).
    pub fn is_opaque(&self) -> bool {
        is_opaque(self.start_port, self.end_port)
    }

    /// Whether the port range is 0..=65535 (all ports).
    pub fn has_any_port(&self) -> bool {
        is_any_port(self.start_port, self.end_port)
    }

    /// Whether the selector matches nothing: mixed address families, `start > end`,
    /// or a port range with its start above its end that is not OPAQUE.
    pub fn is_empty(&self) -> bool {
        self.addr_range().is_none() || (self.start_port > self.end_port && !self.is_opaque())
    }

    /// The prefix length if the address range is exactly one CIDR block.
    pub fn prefix_len(&self) -> Option<u8> {
        let (lo, hi, v4) = self.addr_range()?;
        let mask = lo ^ hi;
        // mask must be 0..01..1 with no bit of it set in lo
        if mask & mask.wrapping_add(1) != 0 || lo & mask != 0 {
            return None;
        }
        let bits = if v4 { 32 } else { 128 };
        let host_bits = u8::try_from(mask.count_ones()).ok()?;
        Some(bits - host_bits)
    }

    /// The intersection: addresses and ports overlap, and the protocols are equal or
    /// one of them is 0 (the result then has the other one).
    ///
    /// Ports follow strongSwan's `get_subset`: OPAQUE intersected with OPAQUE or with
    /// all ports is OPAQUE; OPAQUE and any other range do not intersect (RFC 7296
    /// section 3.13.1: OPAQUE is not a sub-range of real ports). `None` if empty.
    pub fn intersect(&self, other: &Self) -> Option<Self> {
        let (a_lo, a_hi, a_v4) = self.addr_range()?;
        let (b_lo, b_hi, b_v4) = other.addr_range()?;
        if a_v4 != b_v4 {
            return None;
        }
        if self.ip_proto != other.ip_proto && self.ip_proto != 0 && other.ip_proto != 0 {
            return None;
        }
        let ip_proto = self.ip_proto.max(other.ip_proto);
        let (start_port, end_port) = if (self.is_opaque()
            && (other.is_opaque() || other.has_any_port()))
            || (other.is_opaque() && self.has_any_port())
        {
            (OPAQUE_START_PORT, OPAQUE_END_PORT)
        } else {
            let s = self.start_port.max(other.start_port);
            let e = self.end_port.min(other.end_port);
            if s > e {
                return None;
            }
            (s, e)
        };
        let lo = a_lo.max(b_lo);
        let hi = a_hi.min(b_hi);
        if lo > hi {
            return None;
        }
        Some(Self {
            ip_proto,
            start_port,
            end_port,
            start: from_u128(lo, a_v4),
            end: from_u128(hi, a_v4),
        })
    }

    /// Whether every packet `other` matches is matched by `self` (strongSwan's
    /// `is_contained_in`: the intersection is `other` itself). An empty `other` is
    /// contained in nothing.
    pub fn contains(&self, other: &Self) -> bool {
        !other.is_empty() && self.intersect(other).as_ref() == Some(other)
    }

    /// Whether a packet to or from `addr` with protocol `ip_proto` and port `port`
    /// matches. `port` is the port on the same side as `addr` for TCP/UDP/SCTP, the
    /// [`icmp_port`] value for ICMP, and `None` when it cannot be seen (non-first
    /// fragments, protocols without ports): then only selectors with all ports or
    /// OPAQUE ports match.
    pub fn contains_packet(&self, addr: IpAddr, ip_proto: u8, port: Option<u16>) -> bool {
        let Some((lo, hi, v4)) = self.addr_range() else {
            return false;
        };
        let a = to_u128(addr);
        if v4 != addr.is_ipv4() || a < lo || a > hi {
            return false;
        }
        if self.ip_proto != 0 && self.ip_proto != ip_proto {
            return false;
        }
        if self.has_any_port() {
            return true;
        }
        match port {
            None => self.is_opaque(),
            Some(p) => self.start_port <= p && p <= self.end_port,
        }
    }

    /// The fewest CIDR blocks whose union is exactly the address range, in address
    /// order (what to install as routes). Empty for an empty selector.
    pub fn to_cidrs(&self) -> Vec<(IpAddr, u8)> {
        let mut out = Vec::new();
        let Some((mut lo, hi, v4)) = self.addr_range().filter(|_| !self.is_empty()) else {
            return out;
        };
        let bits: u8 = if v4 { 32 } else { 128 };
        loop {
            // the largest block that starts at `lo` (aligned) and ends at or before `hi`
            let align = u8::try_from(lo.trailing_zeros()).map_or(bits, |tz| tz.min(bits));
            let mut k = align;
            while lo | host_mask(k) > hi {
                k -= 1;
            }
            let block_end = lo | host_mask(k);
            out.push((from_u128(lo, v4), bits - k));
            if block_end >= hi {
                return out;
            }
            lo = block_end + 1;
        }
    }

    /// The wire form (TS_IPV4_ADDR_RANGE or TS_IPV6_ADDR_RANGE). A selector with
    /// mixed address families becomes an empty range (start all ones, end zero) of
    /// `start`'s family.
    pub fn to_wire(&self) -> wire::TrafficSelector<'static> {
        let (ip_proto, start_port, end_port) = (self.ip_proto, self.start_port, self.end_port);
        match (self.start, self.end) {
            (IpAddr::V4(start), IpAddr::V4(end)) => wire::TrafficSelector::Ipv4 {
                ip_proto,
                start_port,
                end_port,
                start,
                end,
            },
            (IpAddr::V6(start), IpAddr::V6(end)) => wire::TrafficSelector::Ipv6 {
                ip_proto,
                start_port,
                end_port,
                start,
                end,
            },
            (IpAddr::V4(_), IpAddr::V6(_)) => wire::TrafficSelector::Ipv4 {
                ip_proto,
                start_port,
                end_port,
                start: Ipv4Addr::BROADCAST,
                end: Ipv4Addr::UNSPECIFIED,
            },
            (IpAddr::V6(_), IpAddr::V4(_)) => wire::TrafficSelector::Ipv6 {
                ip_proto,
                start_port,
                end_port,
                start: Ipv6Addr::from(u128::MAX),
                end: Ipv6Addr::UNSPECIFIED,
            },
        }
    }

    /// The selector of an IPv4 or IPv6 address-range wire selector, as received
    /// (ranges are not checked: an inverted one is [empty](Self::is_empty)). `None`
    /// for other selector types (RFC 9478 security labels, FC, ...).
    pub fn from_wire(ts: &wire::TrafficSelector<'_>) -> Option<Self> {
        match *ts {
            wire::TrafficSelector::Ipv4 {
                ip_proto,
                start_port,
                end_port,
                start,
                end,
            } => Some(Self {
                ip_proto,
                start_port,
                end_port,
                start: start.into(),
                end: end.into(),
            }),
            wire::TrafficSelector::Ipv6 {
                ip_proto,
                start_port,
                end_port,
                start,
                end,
            } => Some(Self {
                ip_proto,
                start_port,
                end_port,
                start: start.into(),
                end: end.into(),
            }),
            wire::TrafficSelector::Other { .. } => None,
        }
    }

    /// (low, high, is IPv4) as integers, or `None` if the families differ.
    fn addr_range(&self) -> Option<(u128, u128, bool)> {
        if self.start.is_ipv4() != self.end.is_ipv4() {
            return None;
        }
        let (lo, hi) = (to_u128(self.start), to_u128(self.end));
        (lo <= hi).then_some((lo, hi, self.start.is_ipv4()))
    }

    fn fmt_addrs(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.prefix_len() {
            Some(len) => write!(f, "{}/{}", self.start, len),
            None => write!(f, "{}-{}", self.start, self.end),
        }
    }
}

/// Prints the swanctl.conf form: `10.1.0.0/24`, `10.1.0.5/32`, `10.0.0.1-10.0.0.9`,
/// `2001:db8::/64`, then `[proto/ports]` unless the selector covers all protocols and
/// ports: `10.1.0.0/24[tcp/80]`, `[udp]`, `[tcp/1024-65535]`, `[sctp/opaque]`,
/// `[0/80]` (any protocol, port 80, as charon logs it). Protocols print under their
/// `/etc/protocols` name (`tcp`, `udp`, `icmp`, `ipv6-icmp`, `sctp`, ...) or number;
/// ports as numbers. ICMP ports print as the type (`[icmp/8]`), or `type(code)` when
/// the code is not 0 (`[icmp/3(4)]`, the form charon logs; swanctl.conf needs the
/// number `type * 256 + code` there, which [`FromStr`] also accepts).
impl fmt::Display for TrafficSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_addrs(f)?;
        fmt_proto_ports(f, self.ip_proto, self.start_port, self.end_port)
    }
}

/// Parses the swanctl.conf syntax of `local_ts`/`remote_ts` (one selector; split the
/// comma-separated list first), as strongSwan's vici `parse_ts` does:
///
/// - addresses: `10.1.0.0/24`, `10.1.0.5` (a host), `2001:db8::/64`,
///   `10.0.0.1-10.0.0.9` (a range; spaces around `-` allowed). Host bits are cleared.
/// - optional `[protocol]` or `[protocol/ports]`. Protocol: `any`, empty, a name
///   (`tcp`, `udp`, `icmp`, `ipv6-icmp`, `sctp`, `gre`, `esp`, ... as in
///   `/etc/protocols`, case-insensitive; `icmpv6` and `icmp6` are accepted as
///   aliases of `ipv6-icmp`) or a number 0-255. Ports: `any`, empty, `opaque`, a
///   number, `low-high`, or a service name from a built-in table of well-known ones
///   (`http`, `https`, `ssh`, `domain`, `isakmp`, `ipsec-nat-t`, ...).
/// - for `icmp` and `ipv6-icmp` a port below 256 is a message type with code 0
///   (`[icmp/8]` = echo request; strongSwan shifts it the same way), a port of 256 or
///   more is `type * 256 + code`, and `type(code)` (charon's log form) is accepted too.
///
/// Stricter than strongSwan: text after `]`, prefix lengths that are not a decimal
/// number or longer than the address, numbers with leading zeros (strongSwan reads
/// them as octal), an inverted address or port range, and unknown names are errors,
/// each naming the offending text. `dynamic` is refused here: parse a [`TsSpec`].
impl FromStr for TrafficSelector {
    type Err = TsError;

    fn from_str(s: &str) -> Result<Self, TsError> {
        match s.parse::<TsSpec>()? {
            TsSpec::Fixed(ts) => Ok(ts),
            TsSpec::Dynamic { .. } => Err(TsError::Dynamic),
        }
    }
}

/// A configured traffic selector (one entry of swanctl.conf's `local_ts` or
/// `remote_ts`): a fixed selector, or `dynamic`, which stands for the tunnel endpoint
/// address (or the virtual IP) and becomes a selector once that is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TsSpec {
    /// A selector with its addresses given.
    Fixed(TrafficSelector),
    /// `dynamic`: the single address known once the SA is set up, with this protocol
    /// and port range.
    Dynamic {
        /// IP protocol (0 = any).
        ip_proto: u8,
        /// First port.
        start_port: u16,
        /// Last port.
        end_port: u16,
    },
}

impl TsSpec {
    /// The selector, with `dynamic` replaced by the single address `host`.
    pub fn resolve(&self, host: IpAddr) -> TrafficSelector {
        match *self {
            Self::Fixed(ts) => ts,
            Self::Dynamic {
                ip_proto,
                start_port,
                end_port,
            } => TrafficSelector {
                ip_proto,
                start_port,
                end_port,
                start: host,
                end: host,
            },
        }
    }
}

/// Same syntax as [`TrafficSelector`]'s, plus `dynamic` as the address part
/// (`dynamic`, `dynamic[tcp/22]`).
impl FromStr for TsSpec {
    type Err = TsError;

    fn from_str(s: &str) -> Result<Self, TsError> {
        let text = s.trim();
        let (addr_text, proto_ports) = match text.find('[') {
            None => (text, None),
            Some(i) => {
                let (a, rest) = text.split_at(i);
                let inner = rest
                    .strip_prefix('[')
                    .and_then(|r| r.strip_suffix(']'))
                    .ok_or_else(|| syntax(text, "missing ']' at the end"))?;
                if inner.contains(['[', ']']) {
                    return Err(syntax(text, "more than one '[...]'"));
                }
                (a.trim_end(), Some(inner))
            }
        };
        let (ip_proto, start_port, end_port) = match proto_ports {
            None => (0, 0, 0xffff),
            Some(inner) => parse_proto_ports(inner)?,
        };
        if addr_text == "dynamic" {
            return Ok(Self::Dynamic {
                ip_proto,
                start_port,
                end_port,
            });
        }
        let ts = parse_addrs(addr_text)?;
        Ok(Self::Fixed(TrafficSelector {
            ip_proto,
            start_port,
            end_port,
            ..ts
        }))
    }
}

impl fmt::Display for TsSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Fixed(ts) => ts.fmt(f),
            Self::Dynamic {
                ip_proto,
                start_port,
                end_port,
            } => {
                f.write_str("dynamic")?;
                fmt_proto_ports(f, ip_proto, start_port, end_port)
            }
        }
    }
}

impl From<TrafficSelector> for TsSpec {
    fn from(ts: TrafficSelector) -> Self {
        Self::Fixed(ts)
    }
}

/// Why a selector could not be built or parsed. Each variant names the offending
/// text or values.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TsError {
    /// Text that is not an IPv4 or IPv6 address.
    #[error("invalid IP address {0:?}")]
    Address(String),
    /// Text after `/` that is not a decimal prefix length.
    #[error("invalid prefix length {0:?} (expected /0-/32 for IPv4, /0-/128 for IPv6)")]
    Prefix(String),
    /// A prefix length above 32 (IPv4) or 128 (IPv6).
    #[error("prefix length /{prefix_len} is longer than the address {addr}")]
    PrefixTooLong {
        /// The address before the `/`.
        addr: IpAddr,
        /// The prefix length given.
        prefix_len: u8,
    },
    /// A range from an IPv4 to an IPv6 address or the reverse.
    #[error("address range {start}-{end} mixes IPv4 and IPv6")]
    FamilyMismatch {
        /// First address given.
        start: IpAddr,
        /// Last address given.
        end: IpAddr,
    },
    /// A range whose first address is above its last.
    #[error("address range {start}-{end} starts above its end")]
    AddressOrder {
        /// First address given.
        start: IpAddr,
        /// Last address given.
        end: IpAddr,
    },
    /// A protocol that is neither a known name nor a number 0-255.
    #[error(
        "unknown protocol {0:?} (expected any, a name such as tcp, udp, icmp, \
         ipv6-icmp, sctp, or a number 0-255)"
    )]
    Protocol(String),
    /// A port that is neither a keyword, a number 0-65535 nor a known service.
    #[error(
        "invalid port {0:?} (expected any, opaque, a number 0-65535 without leading \
         zeros, low-high, a service name, or for ICMP type(code))"
    )]
    Port(String),
    /// A port range whose start is above its end (and that is not OPAQUE).
    #[error("port range {start}-{end} starts above its end")]
    PortOrder {
        /// First port given.
        start: u16,
        /// Last port given.
        end: u16,
    },
    /// Brackets out of place, or no address.
    #[error("malformed traffic selector {text:?}: {reason}")]
    Syntax {
        /// The whole selector text (trimmed).
        text: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `dynamic` given where a fixed selector is needed.
    #[error(
        "\"dynamic\" stands for an address known only when the SA is set up; \
         parse it as a TsSpec"
    )]
    Dynamic,
}

/// Responder narrowing (RFC 7296 section 2.9) of one side: the intersections of
/// every `proposed` selector (in the initiator's order) with every `configured` one
/// (in configuration order), with results contained in another result removed (the
/// first of equal results is kept). The same set as strongSwan's; see the
/// [module documentation](self). Empty: answer TS_UNACCEPTABLE.
pub fn narrow(
    configured: &[TrafficSelector],
    proposed: &[TrafficSelector],
) -> Vec<TrafficSelector> {
    let all: Vec<TrafficSelector> = proposed
        .iter()
        .flat_map(|p| configured.iter().filter_map(|c| c.intersect(p)))
        .collect();
    maximal(&all)
}

/// Narrowing for the responder of a CHILD SA: TSi (the initiator's side, our remote)
/// against `cfg_remote` and TSr (our local side) against `cfg_local`. Returns the
/// (TSi, TSr) to answer, or `None` if either side is empty (TS_UNACCEPTABLE).
pub fn narrow_pair(
    cfg_local: &[TrafficSelector],
    cfg_remote: &[TrafficSelector],
    tsi: &[TrafficSelector],
    tsr: &[TrafficSelector],
) -> Option<(Vec<TrafficSelector>, Vec<TrafficSelector>)> {
    let i = narrow(cfg_remote, tsi);
    let r = narrow(cfg_local, tsr);
    (!i.is_empty() && !r.is_empty()).then_some((i, r))
}

/// A list for diagnostics: `10.1.0.0/24, 10.3.0.0/16`, or `(none)` if empty.
pub fn describe_list(list: &[TrafficSelector]) -> String {
    if list.is_empty() {
        return "(none)".to_owned();
    }
    let parts: Vec<String> = list.iter().map(ToString::to_string).collect();
    parts.join(", ")
}

/// The selectors of `list` not contained in another one; of equal ones the first.
fn maximal(list: &[TrafficSelector]) -> Vec<TrafficSelector> {
    list.iter()
        .enumerate()
        .filter(|&(i, ts)| {
            !list
                .iter()
                .enumerate()
                .any(|(j, other)| j != i && other.contains(ts) && (j < i || other != ts))
        })
        .map(|(_, ts)| *ts)
        .collect()
}

fn is_opaque(start: u16, end: u16) -> bool {
    start == OPAQUE_START_PORT && end == OPAQUE_END_PORT
}

fn is_any_port(start: u16, end: u16) -> bool {
    start == 0 && end == 0xffff
}

fn is_icmp(ip_proto: u8) -> bool {
    ip_proto == ip_proto::ICMP || ip_proto == ip_proto::ICMPV6
}

fn family_bits(addr: IpAddr) -> u8 {
    if addr.is_ipv4() { 32 } else { 128 }
}

/// The low `host_bits` bits set (`host_bits` <= 128).
fn host_mask(host_bits: u8) -> u128 {
    if host_bits >= 128 {
        u128::MAX
    } else {
        (1u128 << host_bits) - 1
    }
}

fn to_u128(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// `v` as an address of the given family (`v` < 2^32 for IPv4; higher bits are
/// dropped).
fn from_u128(v: u128, v4: bool) -> IpAddr {
    if v4 {
        IpAddr::V4(Ipv4Addr::from(v as u32))
    } else {
        IpAddr::V6(Ipv6Addr::from(v))
    }
}
