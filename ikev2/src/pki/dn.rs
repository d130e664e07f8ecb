//! Distinguished names as strongSwan writes, encodes and compares them: the text
//! form `C=CH, O=Example, CN=gw.example.org` (RDNs in certificate order, not
//! reversed as in LDAP), its DER encoding, and the match of a peer's DN against a
//! configured one, where a value `*` is a wildcard.
//!
//! Parsing DER goes through RustCrypto's `x509-cert`; only the attribute table and
//! the comparison rules are ours, so that an ID written in swanctl.conf matches the
//! same certificates here as there.

use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::der::asn1::{ObjectIdentifier, SetOfVec};
use x509_cert::der::{Any, Decode as _, Encode as _, Tag, Tagged as _};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};

/// Attribute names strongSwan knows, their OIDs and the string type it encodes
/// their values with (PrintableString falls back to UTF8String for other text).
const ATTRIBUTES: &[(&str, &str, Tag)] = &[
    ("UID", "0.9.2342.19200300.100.1.1", Tag::PrintableString),
    ("DC", "0.9.2342.19200300.100.1.25", Tag::PrintableString),
    ("CN", "2.5.4.3", Tag::PrintableString),
    ("S", "2.5.4.4", Tag::PrintableString),
    ("SN", "2.5.4.5", Tag::PrintableString),
    ("serialNumber", "2.5.4.5", Tag::PrintableString),
    ("C", "2.5.4.6", Tag::PrintableString),
    ("L", "2.5.4.7", Tag::PrintableString),
    ("ST", "2.5.4.8", Tag::PrintableString),
    ("O", "2.5.4.10", Tag::PrintableString),
    ("OU", "2.5.4.11", Tag::PrintableString),
    ("T", "2.5.4.12", Tag::PrintableString),
    ("D", "2.5.4.13", Tag::PrintableString),
    ("N", "2.5.4.41", Tag::PrintableString),
    ("G", "2.5.4.42", Tag::PrintableString),
    ("I", "2.5.4.43", Tag::PrintableString),
    ("ID", "2.5.4.45", Tag::PrintableString),
    ("E", "1.2.840.113549.1.9.1", Tag::Ia5String),
    ("Email", "1.2.840.113549.1.9.1", Tag::Ia5String),
    ("emailAddress", "1.2.840.113549.1.9.1", Tag::Ia5String),
    ("UN", "1.2.840.113549.1.9.2", Tag::Ia5String),
    ("unstructuredName", "1.2.840.113549.1.9.2", Tag::Ia5String),
];

const EMAIL_OID: &str = "1.2.840.113549.1.9.1";

/// Why a text DN cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnError {
    #[error("{0:?} is not NAME=value")]
    Syntax(String),
    #[error(
        "unknown attribute {0:?} (C, ST, L, O, OU, CN, E, DC, UID, SN, T, G, N, I, D, ID, UN, or a dotted OID)"
    )]
    Attribute(String),
    #[error("cannot encode {0:?}")]
    Encoding(String),
}

/// Whether `s` fits a PrintableString (X.680 section 41.4).
fn printable(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&b))
}

/// Splits at unescaped `sep`, undoing `\` escapes in each part.
fn split_escaped(s: &str, sep: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let (Some(n), Some(p)) = (chars.next(), parts.last_mut()) {
                    p.push(n);
                }
            }
            c if c == sep => parts.push(String::new()),
            c => {
                if let Some(p) = parts.last_mut() {
                    p.push(c);
                }
            }
        }
    }
    parts
}

/// A dotted OID (`2.5.4.3`). Encoded here, not by const-oid's
/// `ObjectIdentifier::new`: that overflows on an arc above `u32::MAX` (a panic with
/// overflow checks, another OID without: 2.5.4.4294967299 became 2.5.4.3, CN) and
/// writes arcs with a base-128 digit of exactly 0x80 wrong (1.2.128 became 1.2.0).
/// `ObjectIdentifier::from_bytes` checks the result, so what is written reads back.
fn dotted_oid(text: &str) -> Option<ObjectIdentifier> {
    let arcs = text
        .split('.')
        .map(|a| {
            let digits = !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit());
            digits.then(|| a.parse::<u32>().ok()).flatten()
        })
        .collect::<Option<Vec<u32>>>()?;
    let [first @ 0..=2, second @ 0..=39, rest @ ..] = arcs.as_slice() else {
        return None;
    };
    let mut der = vec![u8::try_from(first * 40 + second).ok()?];
    for &arc in rest {
        let start = der.len();
        let mut n = arc;
        der.push((n & 0x7f) as u8);
        while n > 0x7f {
            n >>= 7;
            der.insert(start, (n & 0x7f) as u8 | 0x80);
        }
    }
    ObjectIdentifier::from_bytes(&der).ok()
}

/// The DER of a text DN (`C=CH, O=Example, CN=gw`; `/C=CH/O=Example/CN=gw` too), one
/// attribute per RDN, in the order written, as strongSwan encodes it.
pub fn from_text(text: &str) -> Result<Vec<u8>, DnError> {
    let t = text.trim();
    let parts = if let Some(rest) = t.strip_prefix('/') {
        split_escaped(rest, '/')
    } else {
        split_escaped(t, ',')
    };
    let mut rdns = Vec::new();
    for part in parts {
        let part = part.trim();
        let (name, value) = part
            .split_once('=')
            .ok_or_else(|| DnError::Syntax(part.to_owned()))?;
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty() {
            return Err(DnError::Syntax(part.to_owned()));
        }
        let (oid, tag) = match ATTRIBUTES
            .iter()
            .find(|(n, ..)| n.eq_ignore_ascii_case(name))
        {
            Some((_, oid, tag)) => (*oid, *tag),
            None => (name, Tag::PrintableString),
        };
        let oid = dotted_oid(oid).ok_or_else(|| DnError::Attribute(name.to_owned()))?;
        let tag = if tag == Tag::PrintableString && !printable(value) {
            Tag::Utf8String
        } else {
            tag
        };
        let value = Any::new(tag, value.as_bytes().to_vec())
            .map_err(|_| DnError::Encoding(part.to_owned()))?;
        let atv = AttributeTypeAndValue { oid, value };
        let set = SetOfVec::try_from(vec![atv]).map_err(|_| DnError::Encoding(part.to_owned()))?;
        rdns.push(RelativeDistinguishedName(set));
    }
    RdnSequence(rdns)
        .to_der()
        .map_err(|_| DnError::Encoding(t.to_owned()))
}

/// The attributes of a DN in order (multi-valued RDNs flattened), or `None` when the
/// DER is not a Name.
fn attributes(der: &[u8]) -> Option<Vec<AttributeTypeAndValue>> {
    let name = Name::from_der(der).ok()?;
    Some(
        name.0
            .into_iter()
            .flat_map(|rdn| rdn.0.into_vec())
            .collect(),
    )
}

/// A DN as strongSwan prints it (`C=CH, O=Example, CN=gw`); the DER in hex if it
/// does not parse.
pub fn to_text(der: &[u8]) -> String {
    let Some(atvs) = attributes(der) else {
        return der.iter().map(|b| format!("{b:02x}")).collect();
    };
    atvs.iter()
        .map(|a| {
            let oid = a.oid.to_string();
            let name = ATTRIBUTES
                .iter()
                .find(|(_, o, _)| *o == oid)
                .map_or(oid.as_str(), |(n, ..)| n);
            let value: String = String::from_utf8_lossy(a.value.value())
                .chars()
                .map(|c| if c.is_control() { '?' } else { c })
                .collect();
            format!("{name}={value}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether the peer's DN `peer` matches the configured DN `pattern`, as strongSwan's
/// `matches_dn`: the same attributes in the same order, each value equal (ignoring
/// ASCII case when both are PrintableStrings, or both IA5 e-mail addresses), or `*`
/// in the pattern. `Some(n)` with the number of wildcards used; `None`: no match.
pub fn matches(peer: &[u8], pattern: &[u8]) -> Option<usize> {
    if peer == pattern {
        return Some(0);
    }
    let (p, o) = (attributes(peer)?, attributes(pattern)?);
    if p.len() != o.len() {
        return None;
    }
    let mut wildcards = 0;
    for (p, o) in p.iter().zip(&o) {
        if p.oid != o.oid {
            return None;
        }
        let (pv, ov) = (p.value.value(), o.value.value());
        if ov == b"*" {
            wildcards += 1;
            continue;
        }
        let (pt, ot) = (p.value.tag(), o.value.tag());
        let caseless = pt == ot
            && (pt == Tag::PrintableString
                || (pt == Tag::Ia5String && p.oid.to_string() == EMAIL_OID));
        let equal = if caseless {
            pv.eq_ignore_ascii_case(ov)
        } else {
            pv == ov
        };
        if !equal {
            return None;
        }
    }
    Some(wildcards)
}

/// Whether the configured DN has a `*` value (then it only matches, never names us).
pub fn has_wildcards(der: &[u8]) -> bool {
    attributes(der).is_some_and(|a| a.iter().any(|a| a.value.value() == b"*"))
}
