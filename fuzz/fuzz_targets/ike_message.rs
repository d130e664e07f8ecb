//! Parses arbitrary octets as an IKE message and as inner payload chains.
//!
//! Whatever parses must re-encode, and the re-encoding must parse to the same value
//! and re-encode to the same octets (a structural round trip: reserved bits and the
//! critical bit of known payloads are not kept, so the first encoding may differ from
//! the input). Any panic, in the parsers or in these assertions, is a bug.

#![no_main]

use ikev2::crypto::proposal::Proposal;
use ikev2::wire::{
    Message, Payload, PayloadType, emit_payload_chain, locate_encrypted, parse_payload_chain,
};
use libfuzzer_sys::fuzz_target;

fn message(data: &[u8]) {
    let located = locate_encrypted(data);
    let Ok(first) = Message::parse(data) else { return };
    let bytes = first.to_vec().expect("a parsed message re-encodes");
    let again = Message::parse(&bytes).expect("an emitted message parses");
    assert_eq!(again, first);
    assert_eq!(again.to_vec().expect("a parsed message re-encodes"), bytes);
    let located = located.expect("the framing of a parsed message is valid");
    assert_eq!(located.is_some(), first.sk().is_some() || first.skf().is_some());
    if let Some(loc) = located {
        let body = match (first.sk(), first.skf()) {
            (Some(sk), _) => sk.body,
            (_, Some(skf)) => skf.body,
            _ => unreachable!("checked above"),
        };
        assert_eq!(data.get(loc.body), Some(body));
    }
}

fn chain(first: PayloadType, data: &[u8]) {
    let Ok(payloads) = parse_payload_chain(first, data) else { return };
    proposals(&payloads);
    let mut out = Vec::new();
    let f = emit_payload_chain(&payloads, &mut out).expect("a parsed chain re-encodes");
    let again = parse_payload_chain(f, &out).expect("an emitted chain parses");
    assert_eq!(again, payloads);
    let mut out2 = Vec::new();
    emit_payload_chain(&again, &mut out2).expect("a parsed chain re-encodes");
    assert_eq!(out2, out);
}

/// SA payloads as negotiation reads them: suites with RFC 9370 additional key
/// exchanges (ADDKE transform types), their display, never a panic.
fn proposals(payloads: &[Payload<'_>]) {
    for p in payloads {
        let Payload::Sa(sa) = p else { continue };
        for prop in &sa.proposals {
            let Ok(p) = Proposal::from_wire(prop) else { continue };
            if let Some(s) = p.ike_suite() {
                assert!(s.additional().count() <= 7);
            }
            let _ = p.esp_suite();
            let _ = (p.has_additional_ke(), p.needs_additional_ke());
            let _ = (p.to_string(), p.describe());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    message(data);
    // The decrypted content of SK payloads, as IKE_AUTH, CREATE_CHILD_SA,
    // IKE_INTERMEDIATE and INFORMATIONAL exchanges start it; the first octet picks any
    // other type.
    for first in [
        PayloadType::IDI,
        PayloadType::SA,
        PayloadType::KE,
        PayloadType::NOTIFY,
        PayloadType::DELETE,
    ] {
        chain(first, data);
    }
    if let Some((&ty, rest)) = data.split_first() {
        chain(PayloadType(ty), rest);
    }
});
