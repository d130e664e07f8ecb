//! What the responder answers to a malformed request inside an established SA's SK
//! payload (RFC 7296 section 2.5): the request is built and protected with the
//! initiator's real keys from the simulation, delivered to the responder, and the
//! response decrypted again. This needs the SAs' keys, hence a test inside the crate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

use super::sim::*;
use crate::crypto::sk::Opened;
use crate::event::Event;
use crate::wire::{ExchangeType, NotifyType, Payload, PayloadType, parse_payload_chain};

/// A payload type no RFC assigns (private use range of RFC 7296 section 3.2).
const UNKNOWN: PayloadType = PayloadType(200);

/// Sends `inner` (a payload chain starting with a payload of type `first`) from node
/// 0 to node 1 as an INFORMATIONAL request protected with node 0's keys, and returns
/// the notifies of node 1's decrypted answer as (type, data).
fn request_from_a(
    net: &mut Network,
    first: PayloadType,
    inner: &[u8],
) -> Vec<(NotifyType, Vec<u8>)> {
    let now = net.now;
    let b = net.nodes[1].ep.ike_sas()[0].clone();
    let a_id = net.nodes[0].ep.ike_sas()[0].id;
    let sa = net.nodes[0].ep.sa_mut(a_id).expect("A's IKE SA");
    // The request takes A's next message ID, as if A's own exchange had sent it.
    let msgid = sa.requests.next_id;
    sa.requests.next_id += 1;
    let header = sa.header(ExchangeType::INFORMATIONAL, msgid, false);
    let mut rng = ChaCha20Rng::from_seed([7; 32]);
    let msg = sa
        .crypto
        .as_mut()
        .expect("keys")
        .protector
        .encrypt_message(&header.to_bytes(PayloadType::SK, 0), first, inner, &mut rng)
        .expect("protect");
    net.nodes[1]
        .ep
        .handle_datagram(now, b.local, b.remote, &msg);
    let answer = net.nodes[1]
        .ep
        .poll_transmit()
        .expect("B answers the request");
    assert!(net.nodes[1].ep.poll_transmit().is_none());
    let sa = net.nodes[0].ep.sa_mut(a_id).expect("A's IKE SA");
    let Ok(Opened::Message(plain)) = sa
        .crypto
        .as_ref()
        .expect("keys")
        .protector
        .open(&answer.payload)
    else {
        panic!("B's answer does not decrypt with the SA's keys");
    };
    let payloads = parse_payload_chain(plain.next_payload, &plain.payloads).expect("answer parses");
    payloads
        .iter()
        .map(|p| match p {
            Payload::Notify(n) => (n.ty, n.data.to_vec()),
            other => panic!(
                "answer carries {:?}, not only notifies",
                other.payload_type()
            ),
        })
        .collect()
}

fn established_pair() -> Network {
    let mut net = pair();
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    net.drive_for(Duration::from_secs(2));
    net
}

/// The SAs on both nodes are still up and in step: a CHILD SA rekey completes.
fn assert_still_up(net: &mut Network) {
    for node in 0..2 {
        let sas = net.nodes[node].ep.ike_sas();
        assert_eq!(sas.len(), 1, "node {node}");
        assert_eq!(sas[0].state, crate::IkeSaState::Established, "node {node}");
        assert!(
            !net.nodes[node]
                .events
                .iter()
                .any(|e| matches!(e, Event::IkeSaDown(_) | Event::Failed(_))),
            "node {node}: {:?}",
            net.nodes[node].events
        );
    }
    let spi_in = net.children(0)[0].spi_in;
    let now = net.now;
    net.nodes[0].ep.rekey_child(now, spi_in).expect("rekey");
    assert!(
        net.drive_until(Duration::from_secs(5), |n| n.children(0).len() == 2
            && n.children(1).len() == 2)
    );
}

#[test]
fn unknown_critical_payload_in_sk_is_answered_unsupported_critical_payload() {
    let mut net = established_pair();
    // Generic payload header: next payload none, critical bit, length 8; 4 octets body.
    let inner = [0, 0x80, 0, 8, 1, 2, 3, 4];
    let notifies = request_from_a(&mut net, UNKNOWN, &inner);
    assert_eq!(
        notifies,
        [(NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD, vec![UNKNOWN.0])]
    );
    assert_still_up(&mut net);
}

#[test]
fn unknown_noncritical_payload_in_sk_is_skipped() {
    let mut net = established_pair();
    let inner = [0, 0, 0, 8, 1, 2, 3, 4];
    // An empty INFORMATIONAL (a liveness check) with an unknown payload to skip.
    assert_eq!(request_from_a(&mut net, UNKNOWN, &inner), []);
    assert_still_up(&mut net);
}

#[test]
fn garbled_payload_chain_in_sk_is_answered_invalid_syntax() {
    let mut net = established_pair();
    // A Notify payload whose length points past the end of the chain.
    let inner = [0, 0, 0, 40, 0, 0, 0, 1];
    assert_eq!(
        request_from_a(&mut net, PayloadType::NOTIFY, &inner),
        [(NotifyType::INVALID_SYNTAX, vec![])]
    );
    assert_still_up(&mut net);
}
