//! IKE_FOLLOWUP_KE requests and responses that do not fit (RFC 9370 section 2.2.4):
//! a follow-up for no sequence or with a wrong link is answered STATE_NOT_FOUND and
//! changes nothing; one with a wrong key exchange method is answered
//! NO_PROPOSAL_CHOSEN and ends the sequence (SPI released, failure reported); a
//! CREATE_CHILD_SA response that agrees on an additional exchange but has no link
//! fails the CHILD SA on the initiator and keeps the old one. The messages are built
//! and protected with the SAs' real keys, hence a test inside the crate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

use super::sim::*;
use crate::crypto::proposal::Proposal;
use crate::crypto::sk::Opened;
use crate::error::{Cause, Phase};
use crate::event::IkeSaId;
use crate::exchange::ike_intermediate::AddKeProblem;
use crate::wire::{
    DhGroup, ExchangeType, Ke, Notify, NotifyType, Payload, PayloadType, ProtocolId,
    emit_payload_chain, parse_payload_chain,
};

/// Both sides: X25519 + ML-KEM-768 for the IKE SA and its CHILD SAs.
fn hybrid(c: &mut crate::config::EndpointConfig) {
    let conn = conn(c);
    conn.proposals =
        Proposal::parse_list(ProtocolId::IKE, "aes256gcm16-prfsha384-x25519-ke1_mlkem768").unwrap();
    conn.children[0].esp_proposals =
        Proposal::parse_list(ProtocolId::ESP, "aes256gcm16-x25519-ke1_mlkem768").unwrap();
}

fn established() -> Network {
    let mut net = pair_with(31, hybrid, hybrid);
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    net.drive_for(Duration::from_secs(2));
    net
}

fn ids(net: &Network) -> (IkeSaId, IkeSaId) {
    (
        net.nodes[0].ep.ike_sas()[0].id,
        net.nodes[1].ep.ike_sas()[0].id,
    )
}

/// A starts a CHILD SA rekey; its CREATE_CHILD_SA request reaches B, whose answer
/// (returned) does not reach A. B now waits for the follow-up.
fn rekey_request_reaches_b(net: &mut Network) -> Vec<u8> {
    let now = net.now;
    let spi = net.children(0)[0].spi_in;
    net.nodes[0].ep.rekey_child(now, spi).expect("rekey");
    let req = net.nodes[0]
        .ep
        .poll_transmit()
        .expect("A's CREATE_CHILD_SA");
    let b = net.nodes[1].ep.ike_sas()[0].clone();
    net.nodes[1]
        .ep
        .handle_datagram(now, b.local, b.remote, &req.payload);
    net.nodes[1].ep.poll_transmit().expect("B answers").payload
}

/// Sends a request of `exchange` with `payloads` from A to B with message ID `msgid`,
/// protected with A's keys; B's decrypted answer as (type, data) of its notifies and
/// whether it carried a KE.
fn from_a(
    net: &mut Network,
    exchange: ExchangeType,
    msgid: u32,
    payloads: &[Payload<'_>],
) -> (Vec<(NotifyType, Vec<u8>)>, bool) {
    let now = net.now;
    let (a_id, _) = ids(net);
    let b = net.nodes[1].ep.ike_sas()[0].clone();
    let mut inner = Vec::new();
    let first = emit_payload_chain(payloads, &mut inner).expect("emit");
    let sa = net.nodes[0].ep.sa_mut(a_id).expect("A's IKE SA");
    let header = sa.header(exchange, msgid, false);
    let mut rng = ChaCha20Rng::from_seed([9; 32]);
    let msg = sa
        .crypto
        .as_mut()
        .expect("keys")
        .protector
        .encrypt_message(
            &header.to_bytes(PayloadType::SK, 0),
            first,
            &inner,
            &mut rng,
        )
        .expect("protect");
    net.nodes[1]
        .ep
        .handle_datagram(now, b.local, b.remote, &msg);
    let answer = net.nodes[1].ep.poll_transmit().expect("B answers");
    let sa = net.nodes[0].ep.sa_mut(a_id).expect("A's IKE SA");
    let Ok(Opened::Message(plain)) = sa
        .crypto
        .as_ref()
        .expect("keys")
        .protector
        .open(&answer.payload)
    else {
        panic!("B's answer does not decrypt");
    };
    let got = parse_payload_chain(plain.next_payload, &plain.payloads).expect("parses");
    let notifies = got
        .iter()
        .filter_map(|p| match p {
            Payload::Notify(n) => Some((n.ty, n.data.to_vec())),
            _ => None,
        })
        .collect();
    (notifies, got.iter().any(|p| matches!(p, Payload::Ke(_))))
}

/// Moves node `node`'s events into its log (this test feeds datagrams by hand, past
/// the harness that would).
fn take_events(net: &mut Network, node: usize) {
    while let Some(e) = net.nodes[node].ep.poll_event() {
        net.nodes[node].events.push(e);
    }
}

fn followup<'a>(method: DhGroup, data: &'a [u8], link: &'a [u8]) -> [Payload<'a>; 2] {
    [
        Payload::Ke(Ke {
            group: method,
            data,
        }),
        Payload::Notify(Notify::new(NotifyType::ADDITIONAL_KEY_EXCHANGE, link)),
    ]
}

#[test]
fn followups_that_do_not_fit_are_refused_without_harm() {
    let mut net = established();
    let (a_id, b_id) = ids(&net);
    let ek = vec![0x11; 1184];
    // No sequence at B yet: STATE_NOT_FOUND.
    let msgid = net.nodes[0].ep.sa_mut(a_id).unwrap().requests.next_id;
    let (n, ke) = from_a(
        &mut net,
        ExchangeType::IKE_FOLLOWUP_KE,
        msgid,
        &followup(DhGroup::ML_KEM_768, &ek, &[1, 2, 3]),
    );
    assert_eq!(n, [(NotifyType::STATE_NOT_FOUND, vec![])]);
    assert!(!ke);
    net.nodes[0].ep.sa_mut(a_id).unwrap().requests.next_id += 1;

    // A's rekey reaches B: B waits with its link and a reserved SPI.
    rekey_request_reaches_b(&mut net);
    let (link, reserved) = {
        let p = net.nodes[1]
            .ep
            .sa_mut(b_id)
            .unwrap()
            .followup
            .as_ref()
            .expect("waiting");
        (p.rounds.link.clone(), p.reserved_spi().expect("a CHILD SA"))
    };
    assert!(net.nodes[1].ep.spi_taken(reserved));
    let next = net.nodes[0].ep.sa_mut(a_id).unwrap().requests.next_id + 1;

    // The wrong link: STATE_NOT_FOUND, the sequence stays.
    let (n, _) = from_a(
        &mut net,
        ExchangeType::IKE_FOLLOWUP_KE,
        next,
        &followup(DhGroup::ML_KEM_768, &ek, b"not-the-link"),
    );
    assert_eq!(n, [(NotifyType::STATE_NOT_FOUND, vec![])]);
    assert!(net.nodes[1].ep.sa_mut(b_id).unwrap().followup.is_some());

    // The right link with the wrong method: NO_PROPOSAL_CHOSEN, sequence over.
    let (n, ke) = from_a(
        &mut net,
        ExchangeType::IKE_FOLLOWUP_KE,
        next + 1,
        &followup(DhGroup::ECP_384, &[4; 97], &link),
    );
    assert_eq!(n, [(NotifyType::NO_PROPOSAL_CHOSEN, vec![])]);
    assert!(!ke);
    assert!(net.nodes[1].ep.sa_mut(b_id).unwrap().followup.is_none());
    assert!(!net.nodes[1].ep.spi_taken(reserved), "the SPI is released");
    take_events(&mut net, 1);
    let failure = net
        .failures(1)
        .into_iter()
        .find(|f| f.phase == Phase::CreateChildSa)
        .expect("B reports the failure");
    assert!(
        matches!(
            failure.cause,
            Cause::AdditionalKe {
                n: 1,
                method: DhGroup::ML_KEM_768,
                problem: AddKeProblem::WrongMethod(DhGroup::ECP_384)
            }
        ),
        "{failure}"
    );
    assert!(failure.to_string().contains("KE1"), "{failure}");

    // A follow-up for the sequence that ended: STATE_NOT_FOUND.
    let (n, _) = from_a(
        &mut net,
        ExchangeType::IKE_FOLLOWUP_KE,
        next + 2,
        &followup(DhGroup::ML_KEM_768, &ek, &link),
    );
    assert_eq!(n, [(NotifyType::STATE_NOT_FOUND, vec![])]);
    // B kept its CHILD SA; nothing new was installed.
    assert_eq!(net.children(1).len(), 1);
    assert_eq!(net.nodes[1].ep.ike_sas()[0].children.len(), 1);
}

/// B's CREATE_CHILD_SA answer, re-protected without its ADDITIONAL_KEY_EXCHANGE
/// notify, makes A give up the rekey (no IKE_FOLLOWUP_KE can follow) and keep the
/// old SA, with a failure that says so.
#[test]
fn a_response_without_a_link_fails_the_rekey_and_keeps_the_sa() {
    let mut net = established();
    let (a_id, b_id) = ids(&net);
    let old = net.children(0)[0].spi_in;
    let answer = rekey_request_reaches_b(&mut net);
    // Open B's answer with A's keys, drop the notify, protect it again with B's.
    let plain = {
        let sa = net.nodes[0].ep.sa_mut(a_id).unwrap();
        match sa.crypto.as_ref().unwrap().protector.open(&answer) {
            Ok(Opened::Message(p)) => p,
            _ => panic!("B's answer does not decrypt"),
        }
    };
    let payloads = parse_payload_chain(plain.next_payload, &plain.payloads).unwrap();
    let kept: Vec<Payload<'_>> = payloads
        .into_iter()
        .filter(|p| !matches!(p, Payload::Notify(n) if n.ty == NotifyType::ADDITIONAL_KEY_EXCHANGE))
        .collect();
    let mut inner = Vec::new();
    let first = emit_payload_chain(&kept, &mut inner).unwrap();
    let header: [u8; 28] = answer[..28].try_into().unwrap();
    let mut rng = ChaCha20Rng::from_seed([5; 32]);
    let forged = net.nodes[1]
        .ep
        .sa_mut(b_id)
        .unwrap()
        .crypto
        .as_mut()
        .unwrap()
        .protector
        .encrypt_message(&header, first, &inner, &mut rng)
        .unwrap();
    let now = net.now;
    let a = net.nodes[0].ep.ike_sas()[0].clone();
    net.nodes[0]
        .ep
        .handle_datagram(now, a.local, a.remote, &forged);
    take_events(&mut net, 0);
    let f = net
        .failures(0)
        .into_iter()
        .find(|f| f.phase == Phase::CreateChildSa)
        .expect("A reports the failed rekey");
    assert!(
        matches!(
            f.cause,
            Cause::AdditionalKe {
                problem: AddKeProblem::MissingLink,
                ..
            }
        ),
        "{f}"
    );
    assert!(f.to_string().contains("ADDITIONAL_KEY_EXCHANGE"), "{f}");
    // No follow-up went out; A keeps its SA and tries again later.
    while let Some(t) = net.nodes[0].ep.poll_transmit() {
        let h = crate::wire::Header::new_checked(&t.payload).unwrap();
        assert_ne!(h.exchange_type(), ExchangeType::IKE_FOLLOWUP_KE);
    }
    let st = &net.nodes[0].ep.ike_sas()[0];
    assert!(st.children.iter().any(|c| c.spi_in == old));
    assert_eq!(net.children(0).len(), 1, "nothing installed");
}
