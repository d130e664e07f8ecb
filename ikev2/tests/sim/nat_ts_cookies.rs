//! Traffic selector narrowing, NAT detection and the move to port 4500, forced UDP
//! encapsulation, and cookies.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use crate::harness::*;
use ikev2::TransmitKind;
use ikev2::config::ChildConfig;
use ikev2::crypto::proposal::Proposal;
use ikev2::error::{Cause, Phase};
use ikev2::event::Event;
use ikev2::wire::ProtocolId;

const PUBLIC: &str = "203.0.113.1";

fn ts(list: &[&str]) -> Vec<ikev2::ts::TsSpec> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

fn set_ts(c: &mut ikev2::config::EndpointConfig, local: &[&str], remote: &[&str]) {
    conn(c).children[0].local_ts = ts(local);
    conn(c).children[0].remote_ts = ts(remote);
}

fn shown(v: &[ikev2::ts::TrafficSelector]) -> Vec<String> {
    v.iter().map(ToString::to_string).collect()
}

#[test]
fn responder_narrows_a_wide_proposal() {
    let mut net = pair_with(
        1,
        |a| set_ts(a, &["10.0.0.0/8"], &["0.0.0.0/0"]),
        |b| set_ts(b, &["10.2.0.0/24", "10.3.0.0/24"], &["10.1.0.0/24"]),
    );
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    let (a, b) = (net.children(0)[0], net.children(1)[0]);
    assert_child_pair(a, b);
    assert_eq!(shown(&a.local_ts), ["10.1.0.0/24"]);
    assert_eq!(shown(&a.remote_ts), ["10.2.0.0/24", "10.3.0.0/24"]);
}

#[test]
fn responder_keeps_a_narrower_proposal() {
    let mut net = pair_with(
        1,
        |a| set_ts(a, &["10.1.0.7/32"], &["10.2.0.0/25[tcp/443]"]),
        |b| set_ts(b, &["10.2.0.0/16"], &["10.1.0.0/16"]),
    );
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    let b = net.children(1)[0];
    assert_eq!(shown(&b.remote_ts), ["10.1.0.7/32"]);
    assert_eq!(shown(&b.local_ts), ["10.2.0.0/25[tcp/443]"]);
    assert_child_pair(net.children(0)[0], b);
}

#[test]
fn responder_picks_the_child_whose_selectors_match() {
    let mut net = pair_with(
        1,
        |_| {},
        |b| {
            let mut other = ChildConfig::new("other");
            other.local_ts = ts(&["10.5.0.0/24"]);
            other.remote_ts = ts(&["10.6.0.0/24"]);
            other.esp_proposals = Proposal::parse_list(ProtocolId::ESP, "aes256gcm16").unwrap();
            conn(b).children.insert(0, other);
        },
    );
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    assert_eq!(net.children(1)[0].child, "net");
}

#[test]
fn ts_unacceptable_names_both_sides_and_keeps_the_ike_sa() {
    let mut net = pair_with(1, |_| {}, |b| set_ts(b, &["10.2.0.0/24"], &["10.9.0.0/24"]));
    net.initiate(0, "ab");
    net.drive_for(Duration::from_secs(5));
    assert_eq!(net.ike_ups(0).len(), 1);
    assert_eq!(net.ike_ups(1).len(), 1);
    let fb = net.failures(1);
    assert_eq!(fb.len(), 1);
    assert_eq!(fb[0].phase, Phase::IkeAuth);
    assert!(fb[0].ike_sa_kept);
    let text = fb[0].cause.to_string();
    assert_eq!(
        text,
        "TS_UNACCEPTABLE: local_ts/remote_ts do not match: we have local_ts [10.2.0.0/24] \
         remote_ts [10.9.0.0/24], peer proposed TSi [10.1.0.0/24] TSr [10.2.0.0/24]"
    );
    let fa = net.failures(0);
    assert!(matches!(fa[0].cause, Cause::PeerTsUnacceptable { .. }));
    assert_eq!(
        fa[0].cause.to_string(),
        "peer answered TS_UNACCEPTABLE: local_ts/remote_ts do not match: we proposed TSi \
         [10.1.0.0/24] TSr [10.2.0.0/24]"
    );
    assert_eq!(fa[0].child.as_deref(), Some("net"));
}

fn nat_before_initiator() -> Network {
    let mut net = pair_with(4, |_| {}, |b| conn(b).remote_addrs.clear());
    net.nat = Some(Nat::new(0, PUBLIC));
    net.nodes[1].addrs.push(ip(IP_B));
    net
}

#[test]
fn initiator_behind_nat_moves_to_4500() {
    let mut net = nat_before_initiator();
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    let (ua, ub) = (net.ike_ups(0)[0], net.ike_ups(1)[0]);
    assert!(ua.nat.local_behind_nat && !ua.nat.remote_behind_nat);
    assert!(!ub.nat.local_behind_nat && ub.nat.remote_behind_nat);
    assert_eq!(ua.local.port(), 4500);
    assert_eq!(ua.remote.port(), 4500);
    assert_eq!(ub.local.port(), 4500);
    assert_eq!(ub.remote.ip(), ip(PUBLIC), "B talks to the NAT's mapping");
    assert_ne!(ub.remote.port(), 4500);
    let (ca, cb) = (net.children(0)[0], net.children(1)[0]);
    assert_child_pair(ca, cb);
    assert!(ca.encap && cb.encap);
    assert_eq!(cb.remote, ub.remote);
    // IKE_AUTH went from and to 4500, as an IKE message from its header on (the
    // sender adds the non-ESP marker), like IKE_SA_INIT on port 500.
    let auth = &net.nodes[0].sent[1].1;
    assert_eq!((auth.local.port(), auth.remote.port()), (4500, 4500));
    assert_eq!(auth.kind, TransmitKind::Ike);
    let h = ikev2::wire::Header::new_checked(&auth.payload).unwrap();
    assert_eq!(h.exchange_type(), ikev2::wire::ExchangeType::IKE_AUTH);
    let first = &net.nodes[0].sent[0].1;
    assert_eq!(first.local.port(), 500);
    let h = ikev2::wire::Header::new_checked(&first.payload).unwrap();
    assert_eq!(h.exchange_type(), ikev2::wire::ExchangeType::IKE_SA_INIT);
}

#[test]
fn responder_behind_nat_is_detected_by_both() {
    let mut net = pair_with(4, |a| conn(a).remote_addrs = vec![ip(PUBLIC)], |_| {});
    net.nat = Some(Nat::new(1, PUBLIC).forward(IP_B, &[500, 4500]));
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    let (ua, ub) = (net.ike_ups(0)[0], net.ike_ups(1)[0]);
    assert!(!ua.nat.local_behind_nat && ua.nat.remote_behind_nat);
    assert!(ub.nat.local_behind_nat && !ub.nat.remote_behind_nat);
    assert_eq!(ua.remote.to_string(), "203.0.113.1:4500");
    assert!(net.children(0)[0].encap && net.children(1)[0].encap);
}

#[test]
fn encap_is_forced_by_faking_the_source_hash() {
    let mut net = pair_with(4, |a| conn(a).encap = true, |_| {});
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    let (ua, ub) = (net.ike_ups(0)[0], net.ike_ups(1)[0]);
    assert!(!ua.nat.any(), "A sees no NAT: its own hashes were fake");
    assert!(ub.nat.remote_behind_nat, "B thinks A is behind a NAT");
    assert_eq!(ua.local.port(), 4500);
    assert_eq!(ub.local.port(), 4500);
    let (ca, cb) = (net.children(0)[0], net.children(1)[0]);
    assert!(ca.encap && cb.encap);
    assert_child_pair(ca, cb);
}

#[test]
fn blocked_4500_is_diagnosed() {
    let mut net = nat_before_initiator();
    net.filter = Some(Box::new(|_, t| {
        t.remote.port() != 4500 && t.local.port() != 4500
    }));
    net.initiate(0, "ab");
    net.drive_for(Duration::from_secs(200));
    let fa = net.failures(0);
    assert_eq!(fa.len(), 1);
    assert_eq!(fa[0].phase, Phase::IkeAuth);
    assert_eq!(
        fa[0].cause.to_string(),
        "no response after 5 retransmissions to 198.51.100.2:4500: UDP 500/4500 blocked or peer down"
    );
    // The responder's half-open SA gave up after 30 s and said why.
    let fb = net.failures(1);
    assert_eq!(fb.len(), 1);
    assert!(matches!(fb[0].cause, Cause::HalfOpenTimeout { .. }));
    assert!(fb[0].cause.to_string().contains("UDP 4500 blocked"));
    assert_eq!(net.nodes[1].ep.half_open_count(), 0);
}

#[test]
fn cookies_are_demanded_and_returned() {
    let mut net = pair_with(1, |_| {}, |b| b.cookie_threshold = 0);
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    assert_eq!(net.nodes[1].ep.stats().cookies_sent, 1);
    assert_eq!(net.nodes[0].ep.stats().cookie_retries, 1);
    assert_child_pair(net.children(0)[0], net.children(1)[0]);
}

#[test]
fn cookie_is_kept_across_invalid_ke() {
    let mut net = pair_with(
        1,
        |a| {
            conn(a).proposals =
                Proposal::parse_list(ProtocolId::IKE, "aes256-sha256-modp2048-ecp256").unwrap()
        },
        |b| {
            b.cookie_threshold = 0;
            conn(b).proposals =
                Proposal::parse_list(ProtocolId::IKE, "aes256-sha256-ecp256").unwrap()
        },
    );
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    let (sa, sb) = (net.nodes[0].ep.stats(), net.nodes[1].ep.stats());
    assert_eq!((sa.cookie_retries, sa.invalid_ke_retries), (1, 1));
    assert_eq!((sb.cookies_sent, sb.invalid_ke_sent), (1, 1));
    // Three IKE_SA_INIT requests, then IKE_AUTH.
    assert_eq!(net.nodes[0].sent.len(), 4);
}

#[test]
fn half_open_sas_trigger_cookies_and_per_peer_blocking() {
    // A's IKE_AUTH requests are lost, so B's SAs stay half-open.
    let mut net = pair_with(
        1,
        |_| {},
        |b| {
            b.cookie_threshold = 3;
            b.block_threshold = 4;
        },
    );
    net.filter = Some(Box::new(|from, t| {
        from != 0 || t.payload.get(18) != Some(&35)
    }));
    for _ in 0..6 {
        net.initiate(0, "ab");
        net.drive_for(Duration::from_millis(100));
    }
    let sb = net.nodes[1].ep.stats().clone();
    // Three SAs came up half-open without cookies; from then on every request had to
    // return a cookie (the 4th, 5th, 6th); with the cookie the 4th was accepted, the
    // 5th and 6th were blocked: four half-open SAs from one address.
    assert_eq!(net.nodes[1].ep.half_open_count(), 4);
    assert_eq!(sb.cookies_sent, 3);
    assert_eq!(sb.dropped_block_threshold, 2);
    net.drive_for(Duration::from_secs(40));
    assert_eq!(net.nodes[1].ep.half_open_count(), 0);
    assert_eq!(net.nodes[1].ep.stats().half_open_timeouts, 4);
}

/// A connection's own `keep_alive` beats the endpoint's (a NAT that forgets UDP
/// mappings after 15 s needs them more often than every 20 s); zero turns them off
/// for that connection only.
#[test]
fn a_connection_keep_alive_overrides_the_endpoints() {
    for (every, expected) in [
        (Some(Duration::from_secs(5)), 13),
        (Some(Duration::ZERO), 0),
    ] {
        let mut net = pair_with(
            4,
            |a| conn(a).keep_alive = every,
            |b| conn(b).remote_addrs.clear(),
        );
        net.nat = Some(Nat::new(0, PUBLIC));
        net.nodes[1].addrs.push(ip(IP_B));
        net.initiate(0, "ab");
        assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
        net.drive_for(Duration::from_secs(65));
        let ka = net.nodes[0]
            .sent
            .iter()
            .filter(|(_, t)| t.kind == TransmitKind::NatKeepalive)
            .count();
        assert_eq!(ka, expected, "keep_alive {every:?}");
    }
}

/// An interval set at run time (what `keep_alive = "auto"` learns after the NAT
/// dropped a mapping) applies to the running SA at once and to the connection's
/// later SAs, and `None` gives the configured one back.
#[test]
fn a_keep_alive_set_at_run_time_applies_now_and_later() {
    let mut net = nat_before_initiator();
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    let keepalives = |net: &Network| {
        net.nodes[0]
            .sent
            .iter()
            .filter(|(_, t)| t.kind == TransmitKind::NatKeepalive)
            .count()
    };
    // The lookup the daemon's NAT watch uses: the child's peer and NAT status.
    let spi = net.children(0)[0].spi_in;
    let (peer, nat) = net.nodes[0].ep.child_peer(spi).expect("a live child");
    assert_eq!(peer, net.ike_ups(0)[0].remote);
    assert!(nat.local_behind_nat);
    assert_eq!(net.nodes[0].ep.child_peer(spi ^ 1), None);
    net.nodes[0]
        .ep
        .set_keep_alive("ab", Some(Duration::from_secs(5)));
    net.drive_for(Duration::from_secs(61));
    // Every 5 s instead of every 20 s.
    let tuned = keepalives(&net);
    assert!((11..=13).contains(&tuned), "{tuned} keepalives in 61 s");
    // A new IKE SA of the connection (after a restart) keeps the tuned interval.
    let now = net.now;
    net.nodes[0].ep.terminate(now, "ab").expect("terminate");
    net.drive_for(Duration::from_secs(2));
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    let before = keepalives(&net);
    net.drive_for(Duration::from_secs(31));
    let again = keepalives(&net) - before;
    assert!(
        (5..=7).contains(&again),
        "{again} keepalives in 31 s on the new SA"
    );
    // Back to the configured 20 s.
    net.nodes[0].ep.set_keep_alive("ab", None);
    let before = keepalives(&net);
    net.drive_for(Duration::from_secs(61));
    let back = keepalives(&net) - before;
    assert!(
        (2..=3).contains(&back),
        "{back} keepalives in 61 s after the reset"
    );
}

#[test]
fn keepalives_hold_the_nat_mapping() {
    let mut net = nat_before_initiator();
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    net.drive_for(Duration::from_secs(65));
    // One every 20 s from the side behind the NAT, none from the other.
    let ka: Vec<_> = net.nodes[0]
        .sent
        .iter()
        .filter(|(_, t)| t.kind == TransmitKind::NatKeepalive)
        .collect();
    assert_eq!(ka.len(), 3);
    assert!(ka.iter().all(|(_, t)| t.local.port() == 4500));
    assert_eq!(net.keepalives_received.get(&1), Some(&3));
    assert!(
        !net.nodes[1]
            .sent
            .iter()
            .any(|(_, t)| t.kind == TransmitKind::NatKeepalive)
    );
}

/// The NAT in front of A forgets its mapping (idle too long): A's next request
/// leaves from a new public port, B follows it (RFC 7296 section 2.23), says so, and
/// counts it; its ESP is to go there too.
#[test]
fn a_changed_nat_mapping_is_followed_and_reported() {
    let mut net = pair_with(
        4,
        |a| conn(a).dpd_delay = Duration::from_secs(10),
        |b| conn(b).remote_addrs.clear(),
    );
    net.nat = Some(Nat::new(0, PUBLIC));
    net.nodes[1].addrs.push(ip(IP_B));
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    let old = net.ike_ups(1)[0].remote;
    let spi_out = net.children(1)[0].spi_out;
    net.nat.as_mut().expect("nat").forget();
    let changed = |n: &Network| {
        n.nodes[1].events.iter().find_map(|e| match e {
            Event::PeerAddressChanged(p) => Some(p.clone()),
            _ => None,
        })
    };
    assert!(net.drive_until(Duration::from_secs(30), |n| changed(n).is_some()));
    let p = changed(&net).expect("event");
    assert_eq!(p.old, old);
    assert_eq!(p.new.ip(), ip(PUBLIC));
    assert_ne!(p.new.port(), old.port());
    assert_eq!(p.spis_out, vec![spi_out]);
    assert_eq!(net.nodes[1].ep.stats().peer_mapping_changes, 1);
    // B answers at the new mapping: the tunnel stays up.
    net.drive_for(Duration::from_secs(60));
    assert!(net.failures(0).is_empty() && net.failures(1).is_empty());
    assert_eq!(net.nodes[1].ep.ike_sas()[0].remote, p.new);
}
