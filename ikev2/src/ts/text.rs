//! The swanctl text form of traffic selectors: protocol and service names, port
//! ranges, ICMP type/code, and address ranges, parsed and printed. Only text; the
//! selector algebra (narrowing, containment) is in `ts.rs`.

use core::fmt;
use core::net::IpAddr;

use super::*;

pub(super) fn syntax(text: &str, reason: &'static str) -> TsError {
    TsError::Syntax {
        text: text.to_owned(),
        reason,
    }
}

/// `/etc/protocols` names (first column) of the protocols we print by name.
const PROTOCOL_NAMES: &[(&str, u8)] = &[
    ("icmp", 1),
    ("igmp", 2),
    ("ipencap", 4),
    ("tcp", 6),
    ("udp", 17),
    ("ipv6", 41),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("ipv6-icmp", 58),
    ("ospf", 89),
    ("pim", 103),
    ("vrrp", 112),
    ("l2tp", 115),
    ("sctp", 132),
    ("udplite", 136),
];

/// Further names accepted when parsing (aliases of `/etc/protocols`, plus ours).
const PROTOCOL_ALIASES: &[(&str, u8)] = &[
    ("ip", 0),
    ("ip-encap", 4),
    ("ipsec-esp", 50),
    ("ipsec-ah", 51),
    ("icmpv6", 58),
    ("icmp6", 58),
    ("ospfigp", 89),
];

/// Well-known service names (`/etc/services`), TCP and UDP alike, as getservbyname
/// with no protocol would find them.
const SERVICES: &[(&str, u16)] = &[
    ("ftp-data", 20),
    ("ftp", 21),
    ("ssh", 22),
    ("telnet", 23),
    ("smtp", 25),
    ("domain", 53),
    ("bootps", 67),
    ("bootpc", 68),
    ("tftp", 69),
    ("http", 80),
    ("www", 80),
    ("kerberos", 88),
    ("pop3", 110),
    ("sunrpc", 111),
    ("ntp", 123),
    ("imap2", 143),
    ("imap", 143),
    ("snmp", 161),
    ("snmp-trap", 162),
    ("bgp", 179),
    ("ldap", 389),
    ("https", 443),
    ("isakmp", 500),
    ("syslog", 514),
    ("submission", 587),
    ("ldaps", 636),
    ("imaps", 993),
    ("pop3s", 995),
    ("openvpn", 1194),
    ("l2f", 1701),
    ("l2tp", 1701),
    ("radius", 1812),
    ("radius-acct", 1813),
    ("nfs", 2049),
    ("mysql", 3306),
    ("ms-wbt-server", 3389),
    ("ipsec-nat-t", 4500),
    ("sip", 5060),
    ("postgresql", 5432),
];

fn protocol_name(ip_proto: u8) -> Option<&'static str> {
    PROTOCOL_NAMES
        .iter()
        .find(|&&(_, n)| n == ip_proto)
        .map(|&(name, _)| name)
}

/// A decimal number without leading zeros, or `0x` hexadecimal.
fn parse_number(s: &str) -> Option<u32> {
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        return u32::from_str_radix(hex, 16).ok();
    }
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

fn parse_protocol(s: &str) -> Result<u8, TsError> {
    let t = s.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("any") {
        return Ok(0);
    }
    if let Some(&(_, n)) = PROTOCOL_NAMES
        .iter()
        .chain(PROTOCOL_ALIASES)
        .find(|(name, _)| name.eq_ignore_ascii_case(t))
    {
        return Ok(n);
    }
    parse_number(t)
        .and_then(|n| u8::try_from(n).ok())
        .ok_or_else(|| TsError::Protocol(s.to_owned()))
}

/// Parses what is between `[` and `]`.
pub(super) fn parse_proto_ports(inner: &str) -> Result<(u8, u16, u16), TsError> {
    let (proto_text, port_text) = match inner.split_once('/') {
        Some((p, q)) => (p, q.trim()),
        None => (inner, ""),
    };
    let ip_proto = parse_protocol(proto_text)?;
    let (start, end) = parse_ports(ip_proto, port_text)?;
    Ok((ip_proto, start, end))
}

fn parse_ports(ip_proto: u8, text: &str) -> Result<(u16, u16), TsError> {
    if text.is_empty() || text.eq_ignore_ascii_case("any") {
        return Ok((0, 0xffff));
    }
    if text.eq_ignore_ascii_case("opaque") {
        return Ok((OPAQUE_START_PORT, OPAQUE_END_PORT));
    }
    if !is_icmp(ip_proto) {
        if let Some(&(_, port)) = SERVICES.iter().find(|(n, _)| n.eq_ignore_ascii_case(text)) {
            return Ok((port, port));
        }
    }
    let bad = || TsError::Port(text.to_owned());
    let one = |s: &str| -> Result<u16, TsError> {
        let s = s.trim();
        if is_icmp(ip_proto) {
            parse_icmp_port(s).ok_or_else(bad)
        } else {
            parse_number(s)
                .and_then(|n| u16::try_from(n).ok())
                .ok_or_else(bad)
        }
    };
    let (start, end) = match text.split_once('-') {
        Some((a, b)) => (one(a)?, one(b)?),
        None => {
            let p = one(text)?;
            (p, p)
        }
    };
    if start > end {
        return Err(TsError::PortOrder { start, end });
    }
    Ok((start, end))
}

/// An ICMP port: `type(code)`, a type (below 256), or `type * 256 + code`.
fn parse_icmp_port(s: &str) -> Option<u16> {
    if let Some((ty, code)) = s.strip_suffix(')').and_then(|r| r.split_once('(')) {
        let ty = u8::try_from(parse_number(ty.trim())?).ok()?;
        let code = u8::try_from(parse_number(code.trim())?).ok()?;
        return Some(icmp_port(ty, code));
    }
    let n = u16::try_from(parse_number(s)?).ok()?;
    Some(if n < 256 { n << 8 } else { n })
}

fn parse_addr(s: &str) -> Result<IpAddr, TsError> {
    s.parse().map_err(|_| TsError::Address(s.to_owned()))
}

/// Parses the address part: `a/len`, `a`, or `a-b`.
pub(super) fn parse_addrs(text: &str) -> Result<TrafficSelector, TsError> {
    if text.is_empty() {
        return Err(syntax(text, "no address"));
    }
    if let Some((a, b)) = text.split_once('-') {
        return TrafficSelector::range(parse_addr(a.trim())?, parse_addr(b.trim())?);
    }
    match text.split_once('/') {
        Some((a, len)) => {
            let addr = parse_addr(a)?;
            let prefix = parse_number(len)
                .filter(|_| !len.starts_with("0x") && !len.starts_with("0X"))
                .and_then(|n| u8::try_from(n).ok())
                .ok_or_else(|| TsError::Prefix(len.to_owned()))?;
            TrafficSelector::from_cidr(addr, prefix)
        }
        None => Ok(TrafficSelector::host(parse_addr(text)?)),
    }
}

pub(super) fn fmt_proto_ports(
    f: &mut fmt::Formatter<'_>,
    ip_proto: u8,
    start: u16,
    end: u16,
) -> fmt::Result {
    let any_port = is_any_port(start, end);
    if ip_proto == 0 && any_port {
        return Ok(());
    }
    f.write_str("[")?;
    match protocol_name(ip_proto) {
        Some(name) => f.write_str(name)?,
        None => write!(f, "{ip_proto}")?,
    }
    if !any_port {
        f.write_str("/")?;
        if start == end {
            fmt_port(f, ip_proto, start)?;
        } else if is_opaque(start, end) {
            f.write_str("opaque")?;
        } else {
            fmt_port(f, ip_proto, start)?;
            f.write_str("-")?;
            fmt_port(f, ip_proto, end)?;
        }
    }
    f.write_str("]")
}

fn fmt_port(f: &mut fmt::Formatter<'_>, ip_proto: u8, port: u16) -> fmt::Result {
    if is_icmp(ip_proto) {
        let (ty, code) = (port >> 8, port & 0xff);
        if code == 0 {
            write!(f, "{ty}")
        } else {
            write!(f, "{ty}({code})")
        }
    } else {
        write!(f, "{port}")
    }
}
