//! No input makes an Endpoint panic, and nothing unauthenticated takes an established
//! SA down: random datagrams and mutations of real messages, thrown at a responder in
//! every state.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use crate::harness::*;
use ikev2::error::Phase;
use proptest::prelude::*;

/// An established pair plus every datagram it exchanged.
fn established() -> (Network, Vec<Vec<u8>>) {
    let mut net = pair_with(1, |a| a.fragment_size = 300, |b| b.fragment_size = 300);
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    let mut all: Vec<Vec<u8>> = Vec::new();
    for n in &net.nodes {
        all.extend(n.sent.iter().map(|(_, t)| t.payload.clone()));
    }
    (net, all)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn mutated_messages_never_hurt(
        which in 0usize..16,
        flips in proptest::collection::vec((0usize..2000, any::<u8>()), 1..4),
        cut in proptest::option::of(0usize..2000),
        port4500 in any::<bool>(),
    ) {
        let (mut net, msgs) = established();
        let mut m = msgs[which % msgs.len()].clone();
        for (at, x) in flips {
            let i = at % m.len();
            m[i] ^= x | 1;
        }
        if let Some(c) = cut {
            m.truncate(c % (m.len() + 1));
        }
        let port = if port4500 { 4500 } else { 500 };
        let b: SocketAddr = format!("{IP_B}:{port}").parse().unwrap();
        let a: SocketAddr = format!("{IP_A}:{port}").parse().unwrap();
        let now = net.now;
        for node in 0..2 {
            let (to, from) = if node == 1 { (b, a) } else { (a, b) };
            net.nodes[node].ep.handle_datagram(now, to, from, &m);
        }
        net.drive_for(Duration::from_secs(1));
        // Still up on both sides. A mutated IKE_SA_INIT request is a new request: it
        // may leave a half-open SA or be refused (reported, without any SA).
        for node in 0..2 {
            for f in net.failures(node) {
                prop_assert!(f.ike_sa.is_none() && f.phase == Phase::IkeSaInit, "{}", f);
            }
        }
        for n in &net.nodes {
            let up = n.ep.ike_sas().iter().filter(|s| s.state == ikev2::IkeSaState::Established).count();
            prop_assert_eq!(up, 1);
        }
    }

    #[test]
    fn random_datagrams_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let (mut net, _) = established();
        let now = net.now;
        for port in [500u16, 4500] {
            let b: SocketAddr = format!("{IP_B}:{port}").parse().unwrap();
            let a: SocketAddr = format!("{IP_A}:{port}").parse().unwrap();
            net.nodes[1].ep.handle_datagram(now, b, a, &data);
            let mut hdr = data.clone();
            if hdr.len() >= 28 {
                // Give it a plausible header so it gets further.
                hdr[17] = 0x20;
                let len = (hdr.len() as u32).to_be_bytes();
                hdr[24..28].copy_from_slice(&len);
                net.nodes[1].ep.handle_datagram(now, b, a, &hdr);
                net.nodes[0].ep.handle_datagram(now, a, b, &hdr);
            }
        }
        net.drive_for(Duration::from_secs(1));
        let up = net.nodes[1].ep.ike_sas().iter().filter(|s| s.state == ikev2::IkeSaState::Established).count();
        prop_assert_eq!(up, 1);
    }
}
