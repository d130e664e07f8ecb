//! `ikev2d decode`: show a captured IKE message as an operator reads it.
//!
//! Encrypted payloads are shown as such (their length and first inner payload); with
//! no keys there is nothing more to say about them.

use ikev2::crypto::proposal::Proposal as CryptoProposal;
use ikev2::wire::{
    self, Attribute, AttributeValue, IdValue, Message, Payload, TrafficSelector, Transform,
};
use serde_json::{Value, json};
use std::fmt::Write as _;

/// A datagram as captured, and what became of it.
#[derive(Debug)]
pub struct Decoded<'a> {
    pub datagram_len: usize,
    pub non_esp_marker: bool,
    pub result: Result<Decoding<'a>, wire::Error>,
}

#[derive(Debug)]
pub struct Decoding<'a> {
    pub message: Message<'a>,
    /// Whether re-serializing the parsed message gives back the same bytes.
    pub roundtrip: bool,
}

/// Parse one datagram (with or without the non-ESP marker of port 4500).
pub fn decode(datagram: &[u8]) -> Decoded<'_> {
    let (bytes, non_esp_marker) = crate::hexinput::strip_non_esp_marker(datagram);
    let result = Message::parse(bytes).map(|message| {
        let roundtrip = message.to_vec().is_ok_and(|v| v == bytes);
        Decoding { message, roundtrip }
    });
    Decoded {
        datagram_len: datagram.len(),
        non_esp_marker,
        result,
    }
}

impl Decoded<'_> {
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "datagram_length": self.datagram_len,
            "non_esp_marker": self.non_esp_marker,
        });
        match &self.result {
            Ok(d) => {
                v["ok"] = json!(true);
                v["header"] = header_json(&d.message.header);
                v["payloads"] = d.message.payloads.iter().map(payload_json).collect();
                v["roundtrip"] = json!(d.roundtrip);
            }
            Err(e) => {
                v["ok"] = json!(false);
                v["error"] = error_json(e, self.marker_len());
            }
        }
        v
    }

    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let marker = if self.non_esp_marker {
            " (port 4500: non-ESP marker of 4 octets stripped)"
        } else {
            ""
        };
        let _ = writeln!(s, "datagram: {} octets{marker}", self.datagram_len);
        match &self.result {
            Ok(d) => {
                let h = &d.message.header;
                let role = if h.flags.is_initiator() {
                    "from the original initiator"
                } else {
                    "from the original responder"
                };
                let kind = if h.flags.is_response() {
                    "response"
                } else {
                    "request"
                };
                let _ = writeln!(
                    s,
                    "{} {kind}, {role}, message ID {}",
                    h.exchange_type, h.message_id
                );
                let _ = writeln!(
                    s,
                    "  SPIi {:016x}  SPIr {:016x}  version 2.{}  flags 0x{:02x}",
                    h.spi_i.0,
                    h.spi_r.0,
                    h.minor_version,
                    h.flags.bits()
                );
                for p in &d.message.payloads {
                    payload_text(&mut s, p);
                }
                let _ = writeln!(
                    s,
                    "roundtrip: {}",
                    if d.roundtrip {
                        "identical bytes"
                    } else {
                        "DIFFERENT bytes after re-serializing (non-zero reserved bits or a critical flag on a known payload)"
                    }
                );
            }
            Err(e) => {
                let _ = writeln!(s, "error: {e}");
                let _ = writeln!(
                    s,
                    "  offset {} in the datagram; a responder would answer {}",
                    e.offset() + self.marker_len(),
                    e.notify()
                );
            }
        }
        s
    }

    fn marker_len(&self) -> usize {
        if self.non_esp_marker { 4 } else { 0 }
    }
}

fn error_json(e: &wire::Error, marker_len: usize) -> Value {
    json!({
        "message": e.to_string(),
        "kind": format!("{:?}", e.kind()),
        "structure": e.structure(),
        "offset": e.offset() + marker_len,
        "offset_in_message": e.offset(),
        "notify": e.notify().to_string(),
    })
}

fn header_json(h: &wire::HeaderRepr) -> Value {
    json!({
        "spi_i": format!("{:016x}", h.spi_i.0),
        "spi_r": format!("{:016x}", h.spi_r.0),
        "version": format!("2.{}", h.minor_version),
        "exchange": h.exchange_type.to_string(),
        "exchange_type": h.exchange_type.0,
        "flags": {
            "raw": h.flags.bits(),
            "initiator": h.flags.is_initiator(),
            "response": h.flags.is_response(),
        },
        "message_id": h.message_id,
    })
}

fn transform_text(t: &Transform<'_>) -> String {
    let key = t.key_length().map(|k| format!("-{k}")).unwrap_or_default();
    let name = match t.ty {
        wire::TransformType::ENCR => wire::EncrId(t.id).to_string(),
        wire::TransformType::PRF => wire::PrfId(t.id).to_string(),
        wire::TransformType::INTEG => wire::IntegId(t.id).to_string(),
        wire::TransformType::DH => wire::DhGroup(t.id).to_string(),
        wire::TransformType::ESN => wire::EsnId(t.id).to_string(),
        _ => format!("{}", t.id),
    };
    format!("{}:{name}{key}", t.ty)
}

fn attribute_json(a: &Attribute<'_>) -> Value {
    match &a.value {
        AttributeValue::Tv(v) => json!({"type": a.ty.to_string(), "value": v}),
        AttributeValue::Tlv(b) => json!({"type": a.ty.to_string(), "data": hex::encode(b)}),
    }
}

/// The strongSwan-style summary of a wire proposal, when every transform is known.
fn proposal_summary(p: &wire::Proposal<'_>) -> String {
    match CryptoProposal::from_wire(p) {
        Ok(cp) => cp.describe(),
        Err(e) => format!("(not usable: {e})"),
    }
}

fn ts_json(t: &TrafficSelector<'_>) -> Value {
    match t {
        TrafficSelector::Ipv4 {
            ip_proto,
            start_port,
            end_port,
            start,
            end,
        } => json!({
            "type": "IPV4_ADDR_RANGE", "ip_proto": ip_proto, "start_port": start_port,
            "end_port": end_port, "start": start.to_string(), "end": end.to_string(),
        }),
        TrafficSelector::Ipv6 {
            ip_proto,
            start_port,
            end_port,
            start,
            end,
        } => json!({
            "type": "IPV6_ADDR_RANGE", "ip_proto": ip_proto, "start_port": start_port,
            "end_port": end_port, "start": start.to_string(), "end": end.to_string(),
        }),
        TrafficSelector::Other { ty, octet1, data } => json!({
            "type": ty.to_string(), "octet1": octet1, "data": hex::encode(data),
        }),
    }
}

fn ts_text(t: &TrafficSelector<'_>) -> String {
    let ports = |proto: u8, s: u16, e: u16| {
        let proto = if proto == 0 {
            String::new()
        } else {
            format!(" proto {proto}")
        };
        let ports = if (s, e) == (0, 0xffff) {
            String::new()
        } else if s == e {
            format!(" port {s}")
        } else {
            format!(" ports {s}-{e}")
        };
        format!("{proto}{ports}")
    };
    match t {
        TrafficSelector::Ipv4 {
            ip_proto,
            start_port,
            end_port,
            start,
            end,
        } => {
            format!("{start}..{end}{}", ports(*ip_proto, *start_port, *end_port))
        }
        TrafficSelector::Ipv6 {
            ip_proto,
            start_port,
            end_port,
            start,
            end,
        } => {
            format!("{start}..{end}{}", ports(*ip_proto, *start_port, *end_port))
        }
        TrafficSelector::Other { ty, data, .. } => format!("{ty} ({} octets)", data.len()),
    }
}

fn id_json(id: &wire::Id<'_>) -> Value {
    let value = match id.value() {
        IdValue::Ipv4(a) => json!(a.to_string()),
        IdValue::Ipv6(a) => json!(a.to_string()),
        IdValue::Fqdn(b) | IdValue::Rfc822(b) => json!(String::from_utf8_lossy(b)),
        IdValue::KeyId(b) | IdValue::DerAsn1Dn(b) | IdValue::Other(_, b) => json!(hex::encode(b)),
        _ => json!(hex::encode(id.data)),
    };
    json!({"id_type": id.id_type.to_string(), "value": value})
}

fn id_text(id: &wire::Id<'_>) -> String {
    let v = id_json(id);
    format!("{} {}", id.id_type, v["value"].as_str().unwrap_or_default())
}

fn payload_json(p: &Payload<'_>) -> Value {
    let ty = p.payload_type().to_string();
    let mut v = match p {
        Payload::Sa(sa) => json!({"proposals": sa.proposals.iter().map(|pr| json!({
            "number": pr.num,
            "protocol": pr.protocol.to_string(),
            "spi": hex::encode(pr.spi),
            "summary": proposal_summary(pr),
            "transforms": pr.transforms.iter().map(|t| json!({
                "type": t.ty.to_string(),
                "id": t.id,
                "name": transform_text(t),
                "attributes": t.attributes.iter().map(attribute_json).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>()}),
        Payload::Ke(ke) => {
            json!({"group": ke.group.to_string(), "group_id": ke.group.0, "data_length": ke.data.len(), "data": hex::encode(ke.data)})
        }
        Payload::IdI(id) | Payload::IdR(id) => id_json(id),
        Payload::Cert(c) => {
            json!({"encoding": c.encoding.to_string(), "data_length": c.data.len()})
        }
        Payload::CertReq(c) => {
            json!({"encoding": c.encoding.to_string(), "data_length": c.data.len()})
        }
        Payload::Auth(a) => json!({"method": a.method.to_string(), "data_length": a.data.len()}),
        Payload::Nonce(n) => json!({"length": n.data.len(), "data": hex::encode(n.data)}),
        Payload::Notify(n) => json!({
            "notify": n.ty.to_string(), "notify_type": n.ty.0, "error": n.ty.is_error(),
            "protocol": n.protocol.to_string(), "spi": hex::encode(n.spi), "data": hex::encode(n.data),
        }),
        Payload::Delete(d) => {
            json!({"protocol": d.protocol.to_string(), "spis": d.spis.iter().map(|s| format!("{s:08x}")).collect::<Vec<_>>()})
        }
        Payload::VendorId(vid) => json!({"data": hex::encode(vid.data)}),
        Payload::TsI(ts) | Payload::TsR(ts) => {
            json!({"selectors": ts.selectors.iter().map(ts_json).collect::<Vec<_>>()})
        }
        Payload::Sk(sk) => {
            json!({"encrypted": true, "first_inner": sk.first_inner.to_string(), "body_length": sk.body.len()})
        }
        Payload::Skf(f) => json!({
            "encrypted": true, "fragment_number": f.fragment_number, "total_fragments": f.total_fragments,
            "first_inner": f.first_inner.to_string(), "body_length": f.body.len(),
        }),
        Payload::Cp(cp) => {
            json!({"cfg_type": cp.cfg_type.to_string(), "attributes": cp.attributes.iter().map(|a| json!({
            "type": a.ty.to_string(), "value": hex::encode(a.value),
        })).collect::<Vec<_>>()})
        }
        Payload::Eap(e) => json!({"length": e.message.len()}),
        Payload::Unknown { critical, body, .. } => {
            json!({"unknown": true, "critical": critical, "body_length": body.len()})
        }
        _ => json!({}),
    };
    v["type"] = json!(ty);
    v
}

fn payload_text(s: &mut String, p: &Payload<'_>) {
    let ty = p.payload_type();
    let _ = match p {
        Payload::Sa(sa) => {
            let _ = writeln!(s, "  {ty}: {} proposal(s)", sa.proposals.len());
            for pr in &sa.proposals {
                let spi = if pr.spi.is_empty() {
                    String::new()
                } else {
                    format!(" spi {}", hex::encode(pr.spi))
                };
                let _ = writeln!(
                    s,
                    "    #{} {}{spi}: {}",
                    pr.num,
                    pr.protocol,
                    proposal_summary(pr)
                );
                let ts: Vec<_> = pr.transforms.iter().map(transform_text).collect();
                let _ = writeln!(s, "       {}", ts.join(" "));
            }
            Ok(())
        }
        Payload::Ke(ke) => writeln!(s, "  {ty}: {} ({} octets)", ke.group, ke.data.len()),
        Payload::IdI(id) | Payload::IdR(id) => writeln!(s, "  {ty}: {}", id_text(id)),
        Payload::Cert(c) => writeln!(s, "  {ty}: {} ({} octets)", c.encoding, c.data.len()),
        Payload::CertReq(c) => writeln!(s, "  {ty}: {} ({} octets)", c.encoding, c.data.len()),
        Payload::Auth(a) => writeln!(s, "  {ty}: {} ({} octets)", a.method, a.data.len()),
        Payload::Nonce(n) => writeln!(s, "  {ty}: {} octets", n.data.len()),
        Payload::Notify(n) => {
            let spi = if n.spi.is_empty() {
                String::new()
            } else {
                format!(" {} spi {}", n.protocol, hex::encode(n.spi))
            };
            let data = if n.data.is_empty() {
                String::new()
            } else {
                format!(" data {}", hex::encode(n.data))
            };
            writeln!(s, "  {ty}: {}{spi}{data}", n.ty)
        }
        Payload::Delete(d) => {
            let spis: Vec<_> = d.spis.iter().map(|x| format!("{x:08x}")).collect();
            writeln!(s, "  {ty}: {} {}", d.protocol, spis.join(" "))
        }
        Payload::VendorId(v) => writeln!(s, "  {ty}: {}", hex::encode(v.data)),
        Payload::TsI(ts) | Payload::TsR(ts) => {
            let list: Vec<_> = ts.selectors.iter().map(ts_text).collect();
            writeln!(s, "  {ty}: {}", list.join(", "))
        }
        Payload::Sk(sk) => writeln!(
            s,
            "  {ty}: encrypted, {} octets (IV, ciphertext, ICV); first inner payload {}",
            sk.body.len(),
            sk.first_inner
        ),
        Payload::Skf(f) => writeln!(
            s,
            "  {ty}: encrypted fragment {}/{}, {} octets; first inner payload {}",
            f.fragment_number,
            f.total_fragments,
            f.body.len(),
            f.first_inner
        ),
        Payload::Cp(cp) => writeln!(
            s,
            "  {ty}: {} with {} attribute(s)",
            cp.cfg_type,
            cp.attributes.len()
        ),
        Payload::Eap(e) => writeln!(s, "  {ty}: {} octets", e.message.len()),
        Payload::Unknown { critical, body, .. } => writeln!(
            s,
            "  {ty}: not understood, skipped (critical {critical}, {} octets)",
            body.len()
        ),
        _ => writeln!(s, "  {ty}"),
    };
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// Whatever the bytes, decoding and both renderings finish without a panic, and
        /// the JSON says whether it parsed.
        #[test]
        fn never_panics_on_any_input(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let d = decode(&bytes);
            let _ = d.to_text();
            let j = d.to_json();
            prop_assert_eq!(j["ok"].as_bool(), Some(d.result.is_ok()));
        }

        /// A valid header followed by garbage: parsing gets further, still no panic,
        /// and an error's offset lies inside the datagram.
        #[test]
        fn errors_point_inside_the_datagram(tail in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut m = vec![0x11u8; 8];
            m.extend([0; 8]);
            m.extend([0x21, 0x20, 34, 0x08, 0, 0, 0, 0]);
            let len = u32::try_from(28 + tail.len()).unwrap_or(u32::MAX);
            m.extend(len.to_be_bytes());
            m.extend(&tail);
            let d = decode(&m);
            if let Err(e) = &d.result {
                prop_assert!(e.offset() <= m.len());
            }
        }
    }
}
