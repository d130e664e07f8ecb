//! Answering a real strongSwan 5.9.8 IKE_SA_INIT request (captured with tcpdump in the
//! lab of docs/strongswan-lab.md; tests/data/strongswan/modp2048).
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use ikev2::Endpoint;
use ikev2::config::{ChildConfig, ConnectionConfig, EndpointConfig, SharedSecret};
use ikev2::crypto::proposal::Proposal;
use ikev2::event::Event;
use ikev2::wire::{DhGroup, ExchangeType, Message, NotifyType, Payload, ProtocolId};

fn capture(scenario: &str, file: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/strongswan")
        .join(scenario)
        .join(file);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Node b of the lab (config.txt of the scenario), as an ikev2d responder.
fn node_b(ike: &str) -> Endpoint {
    let mut c = ConnectionConfig::new("lab");
    c.local_addrs = vec!["192.0.2.2".parse().unwrap()];
    c.remote_addrs = vec!["192.0.2.1".parse().unwrap()];
    c.local_id = "192.0.2.2".parse().unwrap();
    c.remote_id = "192.0.2.1".parse().unwrap();
    c.proposals = Proposal::parse_list(ProtocolId::IKE, ike).unwrap();
    let mut child = ChildConfig::new("net");
    child.local_ts = vec!["10.2.0.0/24".parse().unwrap()];
    child.remote_ts = vec!["10.1.0.0/24".parse().unwrap()];
    child.esp_proposals = Proposal::parse_list(ProtocolId::ESP, "aes256gcm16").unwrap();
    c.children = vec![child];
    let cfg = EndpointConfig {
        connections: vec![c],
        secrets: vec![SharedSecret::new(
            vec!["192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap()],
            "ikev2d-strongswan-lab-psk",
        )],
        ..EndpointConfig::default()
    };
    Endpoint::new(Arc::new(cfg), [9; 32])
}

#[test]
fn answers_a_real_strongswan_ike_sa_init_request() {
    let request = capture("modp2048", "01-ike_sa_init-req-500.bin");
    let req = Message::parse(&request).unwrap();
    let mut ep = node_b("aes256-sha256-modp2048");
    let a: SocketAddr = "192.0.2.1:500".parse().unwrap();
    let b: SocketAddr = "192.0.2.2:500".parse().unwrap();
    ep.handle_datagram(Instant::now(), b, a, &request);
    let t = ep.poll_transmit().expect("a response");
    assert!(ep.poll_transmit().is_none());
    assert_eq!((t.local, t.remote), (b, a));
    let resp = Message::parse(&t.payload).unwrap();
    let h = resp.header;
    assert_eq!(h.exchange_type, ExchangeType::IKE_SA_INIT);
    assert!(h.flags.is_response() && !h.flags.is_initiator());
    assert_eq!(h.message_id, 0);
    assert_eq!(h.spi_i, req.header.spi_i);
    assert!(!h.spi_r.is_zero());

    // SA: exactly the one proposal strongSwan offered, with its number.
    let offered = req
        .payloads
        .iter()
        .find_map(|p| match p {
            Payload::Sa(s) => Some(s.clone()),
            _ => None,
        })
        .unwrap();
    let Some(Payload::Sa(sa)) = resp.payloads.first() else {
        panic!("SA first: {:?}", resp.payloads);
    };
    assert_eq!(sa.proposals.len(), 1);
    let chosen = Proposal::from_wire(&sa.proposals[0]).unwrap();
    assert_eq!(chosen.to_string(), "aes256-sha256-modp2048");
    assert_eq!(sa.proposals[0].num, offered.proposals[0].num);
    let ke = resp
        .payloads
        .iter()
        .find_map(|p| match p {
            Payload::Ke(k) => Some(k),
            _ => None,
        })
        .unwrap();
    assert_eq!(ke.group, DhGroup::MODP_2048);
    assert_eq!(ke.data.len(), 256);
    let nonce = resp
        .payloads
        .iter()
        .find_map(|p| match p {
            Payload::Nonce(n) => Some(n),
            _ => None,
        })
        .unwrap();
    assert!(nonce.data.len() >= 16);
    let notifies: Vec<NotifyType> = resp
        .payloads
        .iter()
        .filter_map(|p| match p {
            Payload::Notify(n) => Some(n.ty),
            _ => None,
        })
        .collect();
    for ty in [
        NotifyType::NAT_DETECTION_SOURCE_IP,
        NotifyType::NAT_DETECTION_DESTINATION_IP,
        NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
        NotifyType::CHILDLESS_IKEV2_SUPPORTED,
    ] {
        assert!(notifies.contains(&ty), "{ty} missing: {notifies:?}");
    }
    // strongSwan with kernel-libipsec fakes its NAT_DETECTION_SOURCE_IP, so we see
    // it "behind a NAT" and will encapsulate.
    let status = &ep.ike_sas()[0];
    assert!(status.nat.remote_behind_nat);
    assert!(!status.nat.local_behind_nat);
    assert_eq!(status.state, ikev2::IkeSaState::Authenticating);
    assert_eq!(ep.half_open_count(), 1);
    assert!(ep.poll_event().is_none());

    // A retransmission of the request gets the same response, no new SA.
    ep.handle_datagram(Instant::now(), b, a, &request);
    assert_eq!(ep.poll_transmit().unwrap().payload, t.payload);
    assert_eq!(ep.ike_sa_count(), 1);
}

#[test]
fn asks_strongswan_for_another_group() {
    // strongSwan's first guess (MODP-2048) is not what we accept.
    let request = capture("modp2048", "01-ike_sa_init-req-500.bin");
    let mut ep = node_b("aes256-sha256-ecp256");
    let a: SocketAddr = "192.0.2.1:500".parse().unwrap();
    let b: SocketAddr = "192.0.2.2:500".parse().unwrap();
    ep.handle_datagram(Instant::now(), b, a, &request);
    let t = ep.poll_transmit().unwrap();
    let resp = Message::parse(&t.payload).unwrap();
    assert!(resp.header.spi_r.is_zero());
    let [Payload::Notify(n)] = resp.payloads.as_slice() else {
        panic!("{:?}", resp.payloads)
    };
    // strongSwan offered only MODP-2048, so we cannot ask for ECP-256.
    assert_eq!(n.ty, NotifyType::NO_PROPOSAL_CHOSEN);
    assert_eq!(ep.ike_sa_count(), 0);
    let Some(Event::Failed(f)) = ep.poll_event() else {
        panic!("no failure")
    };
    assert!(
        f.cause
            .to_string()
            .contains("peer offered [aes256-sha256-modp2048]")
    );

    // strongSwan's invalid-ke scenario: it offers MODP-2048 and ECP-256, guesses
    // MODP-2048; we prefer ECP-256 and ask for it, exactly as strongSwan's responder did.
    let request = capture("invalid-ke", "01-ike_sa_init_invalid_ke-req-500.bin");
    let theirs = capture("invalid-ke", "02-ike_sa_init_invalid_ke-resp-500.bin");
    let mut ep = node_b("aes256-sha256-ecp256-modp2048");
    ep.handle_datagram(Instant::now(), b, a, &request);
    let t = ep.poll_transmit().unwrap();
    let resp = Message::parse(&t.payload).unwrap();
    let [Payload::Notify(n)] = resp.payloads.as_slice() else {
        panic!("{:?}", resp.payloads)
    };
    assert_eq!(n.ty, NotifyType::INVALID_KE_PAYLOAD);
    assert_eq!(n.invalid_ke_group(), Some(DhGroup::ECP_256));
    assert_eq!(t.payload, theirs, "byte for byte what strongSwan answered");
    assert_eq!(ep.ike_sa_count(), 0);
    assert!(ep.poll_event().is_none());

    // Its retry with ECP-256 (same SPIi, message ID 0) is answered normally.
    let retry = capture("invalid-ke", "03-ike_sa_init-req-500.bin");
    ep.handle_datagram(Instant::now(), b, a, &retry);
    let t = ep.poll_transmit().unwrap();
    let resp = Message::parse(&t.payload).unwrap();
    assert!(!resp.header.spi_r.is_zero());
    assert!(
        resp.payloads
            .iter()
            .any(|p| matches!(p, Payload::Ke(k) if k.group == DhGroup::ECP_256))
    );
    assert_eq!(ep.ike_sa_count(), 1);
}

/// strongSwan's request with N(COOKIE) put first, as its retry would be.
fn with_cookie(request: &[u8], cookie: &[u8]) -> Vec<u8> {
    let mut out = request[..28].to_vec();
    let first = out[16];
    out[16] = 41; // Notify
    let len = 8 + cookie.len();
    out.extend_from_slice(&[first, 0, (len >> 8) as u8, len as u8, 0, 0]);
    out.extend_from_slice(&NotifyType::COOKIE.0.to_be_bytes());
    out.extend_from_slice(cookie);
    out.extend_from_slice(&request[28..]);
    let total = (out.len() as u32).to_be_bytes();
    out[24..28].copy_from_slice(&total);
    out
}

#[test]
fn demands_a_cookie_from_strongswan_and_accepts_it() {
    let request = capture("modp2048", "01-ike_sa_init-req-500.bin");
    let a: SocketAddr = "192.0.2.1:500".parse().unwrap();
    let b: SocketAddr = "192.0.2.2:500".parse().unwrap();
    // node b with cookies always required.
    let mut cfg = node_b("aes256-sha256-modp2048").config().clone();
    cfg.cookie_threshold = 0;
    let mut ep = Endpoint::new(Arc::new(cfg), [9; 32]);
    let now = Instant::now();
    ep.handle_datagram(now, b, a, &request);
    let t = ep.poll_transmit().unwrap();
    let resp = Message::parse(&t.payload).unwrap();
    let [Payload::Notify(n)] = resp.payloads.as_slice() else {
        panic!("{:?}", resp.payloads)
    };
    assert_eq!(n.ty, NotifyType::COOKIE);
    assert!(resp.header.spi_r.is_zero());
    assert_eq!(
        ep.ike_sa_count(),
        0,
        "no state before the cookie comes back"
    );
    let retry = with_cookie(&request, n.data);
    Message::parse(&retry).unwrap();
    // A wrong cookie is refused again.
    let mut forged = n.data.to_vec();
    forged[10] ^= 1;
    ep.handle_datagram(now, b, a, &with_cookie(&request, &forged));
    let again = ep.poll_transmit().unwrap().payload;
    let again = Message::parse(&again).unwrap();
    assert!(matches!(&again.payloads[..], [Payload::Notify(n)] if n.ty == NotifyType::COOKIE));
    assert_eq!(ep.ike_sa_count(), 0);
    // The right one is accepted.
    ep.handle_datagram(now, b, a, &retry);
    let ok = ep.poll_transmit().unwrap().payload;
    let ok = Message::parse(&ok).unwrap();
    assert!(ok.payloads.iter().any(|p| matches!(p, Payload::Ke(_))));
    assert_eq!(ep.ike_sa_count(), 1);
    assert_eq!(ep.stats().cookies_sent, 2);
}
