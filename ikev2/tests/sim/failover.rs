//! Several peer addresses (`remote_addrs` as an ordered candidate list): initiation
//! tries each in turn, moving on after a short budget on one that does not answer.
#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::time::Duration;

use crate::harness::*;
use ikev2::Endpoint;
use ikev2::config::{EndpointConfig, SharedSecret};
use ikev2::error::Cause;

/// An address no node owns: everything sent there is lost.
fn dead() -> IpAddr {
    "198.51.100.99".parse().unwrap()
}

#[test]
fn initiation_moves_on_to_the_next_address_when_the_first_does_not_answer() {
    let mut net = pair_with(3, |a| conn(a).remote_addrs = vec![dead(), ip(IP_B)], |_| {});
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(60), |n| n.established(1)));
    // IKE_SA_INIT to the dead address, one retransmission (4 s + 7.2 s), then B.
    let t = net.elapsed();
    assert!(
        t >= Duration::from_millis(11_200) && t < Duration::from_secs(12),
        "{t:?}"
    );
    let sas = net.nodes[0].ep.ike_sas();
    assert_eq!(sas.len(), 1);
    assert_eq!(sas[0].remote.ip(), ip(IP_B));
    let f = net.failures(0);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        matches!(f[0].cause, Cause::Timeout { retransmits: 1, remote } if remote.ip() == dead()),
        "{f:?}"
    );
    assert_eq!(f[0].next_remote, Some(ip(IP_B)));
    assert!(
        f[0].to_string().ends_with(&format!("; trying {IP_B} next")),
        "{}",
        f[0]
    );
    // Two datagrams went to the dead address.
    let to_dead = net.nodes[0]
        .sent
        .iter()
        .filter(|(_, t)| t.remote.ip() == dead())
        .count();
    assert_eq!(to_dead, 2);
}

#[test]
fn the_last_address_gets_the_whole_retransmission_budget() {
    let mut net = pair_with(
        3,
        |a| {
            conn(a).remote_addrs = vec![dead(), "198.51.100.98".parse().unwrap()];
            conn(a).keyingtries = 1;
        },
        |_| {},
    );
    net.initiate(0, "ab");
    net.drive_for(Duration::from_secs(400));
    let f = net.failures(0);
    assert_eq!(f.len(), 2, "{f:?}");
    let retransmits: Vec<u32> = f
        .iter()
        .map(|f| match f.cause {
            Cause::Timeout { retransmits, .. } => retransmits,
            _ => u32::MAX,
        })
        .collect();
    // The first address: one retransmission; the last: the full budget (5 by default).
    assert_eq!(retransmits, vec![1, 5]);
    assert_eq!(f[0].next_remote, Some("198.51.100.98".parse().unwrap()));
    assert_eq!(f[1].next_remote, None);
    // keyingtries = 1: one pass over the list, then nothing more.
    assert!(net.nodes[0].ep.ike_sas().is_empty());
}

#[test]
fn a_single_address_keeps_the_whole_budget() {
    let mut net = pair_with(
        3,
        |a| {
            conn(a).remote_addrs = vec![dead()];
            conn(a).keyingtries = 1;
        },
        |_| {},
    );
    net.initiate(0, "ab");
    net.drive_for(Duration::from_secs(400));
    let f = net.failures(0);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        matches!(f[0].cause, Cause::Timeout { retransmits: 5, .. }),
        "{f:?}"
    );
}

/// The peer vanishes after the tunnel is up: A declares it dead within `dpd_delay` +
/// the DPD bound (`dpd_timeout`, else 5 × `dpd_delay`), not after the whole
/// retransmission budget (165 s), with its retransmissions packed into the bound.
#[test]
fn a_dead_peer_is_declared_within_the_dpd_bound() {
    for (timeout, bound) in [(None, 50), (Some(Duration::from_secs(20)), 20)] {
        let mut net = pair_with(
            3,
            |a| {
                conn(a).dpd_delay = Duration::from_secs(10);
                conn(a).dpd_timeout = timeout;
            },
            |_| {},
        );
        net.initiate(0, "ab");
        assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
        let t0 = net.now;
        let sent_before = net.nodes[0].sent.len();
        net.filter = Some(Box::new(|_, _| false));
        assert!(
            net.drive_until(Duration::from_secs(300), |n| !n.failures(0).is_empty()),
            "bound {bound}: never declared dead"
        );
        let took = net.now - t0;
        assert!(
            took <= Duration::from_secs(10 + bound + 1)
                && took >= Duration::from_secs(10 + bound - 1),
            "bound {bound}: dead after {took:?}"
        );
        let f = net.failures(0);
        assert!(matches!(f[0].cause, Cause::Timeout { .. }), "{f:?}");
        // The liveness check and its retransmissions (4 s, 7.2 s, 13 s ... apart).
        let checks = net.nodes[0].sent.len() - sent_before;
        assert!(checks >= 3, "bound {bound}: {checks} datagrams");
        assert!(net.nodes[0].ep.ike_sas().is_empty(), "bound {bound}");
    }
}

const IP_B2: &str = "198.51.100.3";

/// A (node 0) with `remote_addrs = [B1, B2]`; B1 (node 1, `IP_B`) and B2 (node 2,
/// `IP_B2`) serve the same identity and selectors, as two gateways of one site do.
fn two_gateways(
    tweak_a: impl FnOnce(&mut EndpointConfig),
    tweak_b1: impl FnOnce(&mut EndpointConfig),
) -> Network {
    let mut a = endpoint_config(site("ab", IP_A, IP_B, true), PSK);
    conn(&mut a).remote_addrs = vec![ip(IP_B), ip(IP_B2)];
    conn(&mut a).dpd_delay = Duration::from_secs(3);
    conn(&mut a).dpd_action = ikev2::config::DpdAction::Restart;
    tweak_a(&mut a);
    let mut b1 = endpoint_config(site("ab", IP_B, IP_A, false), PSK);
    tweak_b1(&mut b1);
    let mut b2 = endpoint_config(site("ab", IP_B2, IP_A, false), PSK);
    conn(&mut b2).local_id = id(IP_B);
    let ep = |c: EndpointConfig, s: u8| Endpoint::new(std::sync::Arc::new(c), seed(s));
    Network::new(
        vec![
            (ep(a, 1), vec![ip(IP_A)]),
            (ep(b1, 2), vec![ip(IP_B)]),
            (ep(b2, 3), vec![ip(IP_B2)]),
        ],
        3,
    )
}

fn remote_of_a(net: &Network) -> Option<IpAddr> {
    let sas = net.nodes[0].ep.ike_sas();
    sas.iter()
        .find(|s| s.state == ikev2::IkeSaState::Established)
        .map(|s| s.remote.ip())
}

fn reconnections(net: &Network) -> Vec<ikev2::remotes::Reconnected> {
    net.nodes[0]
        .events
        .iter()
        .filter_map(|e| match e {
            ikev2::event::Event::Reconnected(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

/// Drops everything from and to `gone` (a gateway that died).
fn cut(net: &mut Network, gone: &'static str) {
    let gone = ip(gone);
    net.filter = Some(Box::new(move |from, t| {
        let from_gone = (from == 1 && gone == ip(IP_B)) || (from == 2 && gone == ip(IP_B2));
        !from_gone && t.remote.ip() != gone
    }));
}

#[test]
fn an_authentication_failure_moves_on_to_the_next_address() {
    let mut net = two_gateways(
        |_| {},
        |b1| {
            b1.secrets = vec![SharedSecret::new(
                vec![id(IP_A), id(IP_B)],
                "another-psk-entirely",
            )]
        },
    );
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(10), |n| remote_of_a(n).is_some()));
    assert_eq!(remote_of_a(&net), Some(ip(IP_B2)));
    // No retransmissions: B1 answered, with an error.
    assert!(
        net.elapsed() < Duration::from_secs(1),
        "{:?}",
        net.elapsed()
    );
    let f = net.failures(0);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        matches!(
            f[0].cause,
            Cause::PeerAuthenticationFailed { signed: false }
        ),
        "{f:?}"
    );
    assert_eq!(f[0].next_remote, Some(ip(IP_B2)));
    let r = net.nodes[0].ep.remotes("ab");
    assert_eq!(r.len(), 2);
    assert!(
        matches!(&r[0].last, Some((_, ikev2::remotes::Outcome::Failed(w))) if w.contains("AUTHENTICATION_FAILED")),
        "{r:?}"
    );
    assert!(matches!(
        r[1].last,
        Some((_, ikev2::remotes::Outcome::Established))
    ));
    // Not a failover: nothing was lost.
    assert!(reconnections(&net).is_empty());
}

#[test]
fn a_proposal_mismatch_moves_on_to_the_next_address() {
    let mut net = two_gateways(
        |_| {},
        |b1| {
            conn(b1).proposals = ikev2::crypto::proposal::Proposal::parse_list(
                ikev2::wire::ProtocolId::IKE,
                "aes128-sha1-modp1024",
            )
            .unwrap();
        },
    );
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(10), |n| remote_of_a(n).is_some()));
    assert_eq!(remote_of_a(&net), Some(ip(IP_B2)));
    let f = net.failures(0);
    assert!(
        matches!(f[0].cause, Cause::PeerRejectedProposals { .. }),
        "{f:?}"
    );
    assert_eq!(f[0].next_remote, Some(ip(IP_B2)));
}

/// The active gateway dies: DPD declares it dead, the restart tries it once briefly
/// (it is first in the list) and goes on to the second; the failover is reported
/// and counted. When the second dies too while the first is back, the restart
/// starts from the top and gets the first at once.
#[test]
fn a_dead_gateway_fails_over_to_the_next_and_a_recovered_primary_is_preferred() {
    let mut net = two_gateways(
        |a| conn(a).dpd_timeout = Some(Duration::from_secs(6)),
        |_| {},
    );
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| remote_of_a(n).is_some()));
    assert_eq!(remote_of_a(&net), Some(ip(IP_B)));
    let t0 = net.now;
    cut(&mut net, IP_B);
    assert!(net.drive_until(Duration::from_secs(120), |n| remote_of_a(n)
        == Some(ip(IP_B2))));
    let took = net.now - t0;
    // dpd_delay 3 s + dpd_timeout 6 s + one short try at B1 (4 s + 7.2 s).
    assert!(
        took >= Duration::from_secs(20) && took <= Duration::from_secs(22),
        "{took:?}"
    );
    let r = reconnections(&net);
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(r[0].is_failover());
    assert_eq!((r[0].from, r[0].to), (ip(IP_B), ip(IP_B2)));
    assert_eq!(r[0].why, "DPD");
    assert!(
        r[0].gap >= took - Duration::from_millis(50) && r[0].gap <= took + Duration::from_secs(1),
        "{r:?}"
    );
    assert_eq!(net.nodes[0].ep.stats().failovers, 1);
    let st = net.nodes[0].ep.remotes("ab");
    assert!(
        matches!(&st[0].last, Some((_, ikev2::remotes::Outcome::Failed(_)))),
        "{st:?}"
    );
    assert!(matches!(
        st[1].last,
        Some((_, ikev2::remotes::Outcome::Established))
    ));

    // B1 recovers (it kept its old SA: A's INITIAL_CONTACT will replace it), B2 dies.
    let t1 = net.now;
    cut(&mut net, IP_B2);
    assert!(net.drive_until(Duration::from_secs(120), |n| remote_of_a(n)
        == Some(ip(IP_B))));
    let took = net.now - t1;
    // DPD (3 s + 6 s), then B1 first in the list answers at once.
    assert!(took <= Duration::from_secs(10), "{took:?}");
    let r = reconnections(&net);
    assert_eq!(r.len(), 2, "{r:?}");
    assert_eq!((r[1].from, r[1].to), (ip(IP_B2), ip(IP_B)));
    assert_eq!(net.nodes[0].ep.stats().failovers, 2);
    // B1 holds exactly one IKE SA for A: the new one replaced the old.
    net.drive_for(Duration::from_secs(2));
    let b1 = net.nodes[1].ep.ike_sas();
    assert_eq!(
        b1.iter()
            .filter(|s| s.state == ikev2::IkeSaState::Established)
            .count(),
        1,
        "{b1:?}"
    );
}

/// Both gateways dead, the last one's SA just died: the first pass of the restart
/// gives each address one short try and does not count against `keyingtries`; the
/// next pass gives the last address the whole budget.
#[test]
fn the_address_that_just_died_gets_one_short_try_in_a_pass_that_does_not_count() {
    let mut net = two_gateways(
        |a| {
            conn(a).dpd_timeout = Some(Duration::from_secs(6));
            conn(a).keyingtries = 1;
        },
        |_| {},
    );
    cut(&mut net, IP_B);
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(30), |n| remote_of_a(n)
        == Some(ip(IP_B2))));
    let before = net.failures(0).len();
    net.filter = Some(Box::new(|from, t| from == 0 && t.remote.ip() == ip(IP_A)));
    net.drive_for(Duration::from_secs(600));
    let f = net.failures(0);
    let retransmits: Vec<(IpAddr, u32)> = f[before..]
        .iter()
        .filter_map(|f| match f.cause {
            Cause::Timeout {
                retransmits,
                remote,
            } => Some((remote.ip(), retransmits)),
            _ => None,
        })
        .collect();
    // The DPD failure (B2), then B1 short, B2 short (just died), B1 short, B2 whole.
    assert_eq!(
        &retransmits[1..],
        &[(ip(IP_B), 1), (ip(IP_B2), 1), (ip(IP_B), 1), (ip(IP_B2), 5)],
        "{retransmits:?}"
    );
    assert!(net.nodes[0].ep.ike_sas().is_empty());
}

/// The IKE_SA_INIT request as A sent it last (from its header on).
fn last_init_request(net: &Network) -> (std::net::SocketAddr, Vec<u8>) {
    let (_, t) = net.nodes[0]
        .sent
        .iter()
        .rev()
        .find(|(_, t)| {
            ikev2::wire::Header::new_checked(&t.payload)
                .is_ok_and(|h| h.exchange_type() == ikev2::wire::ExchangeType::IKE_SA_INIT)
        })
        .unwrap();
    (t.remote, t.payload.clone())
}

#[test]
fn an_icmp_unreachable_quoting_our_ike_sa_init_moves_on_at_once() {
    let mut net = two_gateways(|_| {}, |_| {});
    cut(&mut net, IP_B);
    net.initiate(0, "ab");
    net.drive_for(Duration::from_millis(100));
    let (remote, quoted) = last_init_request(&net);
    assert_eq!(remote.ip(), ip(IP_B));
    let now = net.now;
    let router = ip("192.0.2.254");
    // Forged: wrong SPIs, or the right SPIs for another destination.
    let mut wrong = quoted.clone();
    wrong[0] ^= 1;
    let ep = &mut net.nodes[0].ep;
    assert!(!ep.peer_unreachable(now, remote, router, "port unreachable", &wrong));
    let elsewhere = std::net::SocketAddr::new(ip(IP_B2), 500);
    assert!(!ep.peer_unreachable(now, elsewhere, router, "port unreachable", &quoted));
    assert!(!ep.peer_unreachable(now, remote, router, "port unreachable", &quoted[..10]));
    assert!(ep.peer_unreachable(now, remote, ip(IP_B), "port unreachable", &quoted));
    assert!(net.drive_until(Duration::from_secs(2), |n| remote_of_a(n)
        == Some(ip(IP_B2))));
    let f = net.failures(0);
    assert!(matches!(f[0].cause, Cause::Unreachable { .. }), "{f:?}");
    assert!(
        f[0].to_string().contains("ICMP port unreachable"),
        "{}",
        f[0]
    );
    assert_eq!(net.nodes[0].ep.stats().unreachable_reports, 1);
}

#[test]
fn an_icmp_unreachable_for_the_last_address_changes_nothing() {
    let mut net = two_gateways(|a| conn(a).remote_addrs = vec![ip(IP_B)], |_| {});
    cut(&mut net, IP_B);
    net.initiate(0, "ab");
    net.drive_for(Duration::from_millis(100));
    let (remote, quoted) = last_init_request(&net);
    let now = net.now;
    let ep = &mut net.nodes[0].ep;
    assert!(!ep.peer_unreachable(now, remote, ip(IP_B), "port unreachable", &quoted));
    assert_eq!(ep.ike_sas().len(), 1);
    assert!(net.failures(0).is_empty());
}

/// Traffic goes out and nothing comes back: the daemon asks for a liveness check
/// at once; the peer is declared dead within `dpd_timeout` of that, long before
/// `dpd_delay` would even have started one.
#[test]
fn a_liveness_check_on_demand_is_bounded_by_dpd_timeout() {
    let mut net = two_gateways(
        |a| {
            conn(a).dpd_delay = Duration::from_secs(60);
            conn(a).dpd_timeout = Some(Duration::from_secs(6));
        },
        |_| {},
    );
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| remote_of_a(n).is_some()));
    let id = net.nodes[0].ep.ike_sas()[0].id;
    let quiet = Duration::from_secs(2);
    let now = net.now;
    // Heard from just now: no check.
    assert!(!net.nodes[0].ep.check_liveness(now, id, quiet).unwrap());
    cut(&mut net, IP_B);
    net.drive_for(Duration::from_secs(3));
    // Nothing was pending: time moves on by itself.
    net.now = now + Duration::from_secs(3);
    let (now, t0) = (net.now, net.now);
    assert!(net.nodes[0].ep.check_liveness(now, id, quiet).unwrap());
    // One at a time.
    assert!(!net.nodes[0].ep.check_liveness(now, id, quiet).unwrap());
    assert!(net.drive_until(Duration::from_secs(60), |n| remote_of_a(n)
        == Some(ip(IP_B2))));
    let f = net.failures(0);
    assert!(matches!(f[0].cause, Cause::Timeout { .. }), "{f:?}");
    // 6 s bound, then a short try at B1 (11.2 s), then B2.
    let took = net.now - t0;
    assert!(took <= Duration::from_secs(18), "{took:?}");
    assert!(
        net.nodes[0]
            .ep
            .check_liveness(now, ikev2::event::IkeSaId(9999), quiet)
            .is_err()
    );
}

/// The DNS names node `node` was asked to resolve so far, in order.
fn resolve_requests(net: &Network, node: usize) -> Vec<Vec<String>> {
    net.nodes[node]
        .events
        .iter()
        .filter_map(|e| match e {
            ikev2::event::Event::Resolve { names, .. } => Some(names.clone()),
            _ => None,
        })
        .collect()
}

fn answer(net: &mut Network, node: usize, name: &str, a: Result<Vec<IpAddr>, String>) {
    let now = net.now;
    net.nodes[node]
        .ep
        .resolved(now, "ab", vec![(name.to_owned(), a)]);
    net.drive_for(Duration::ZERO);
}

const NAME: &str = "gw.site-b.example";

/// `remote_addrs = ["gw.site-b.example"]`: nothing is sent before the name is
/// resolved; each initiation (here: the restart after DPD) resolves it again, so a
/// changed answer is followed.
#[test]
fn a_dns_name_is_resolved_at_each_initiation() {
    let mut net = two_gateways(
        |a| {
            conn(a).remote_addrs.clear();
            conn(a).remote_hosts = vec![ikev2::config::RemoteHost::Name(NAME.into())];
            conn(a).dpd_timeout = Some(Duration::from_secs(6));
        },
        |_| {},
    );
    net.initiate(0, "ab");
    net.drive_for(Duration::from_secs(1));
    assert!(
        net.nodes[0].sent.is_empty(),
        "sent before the name resolved"
    );
    assert_eq!(resolve_requests(&net, 0), vec![vec![NAME.to_owned()]]);
    let sas = net.nodes[0].ep.ike_sas();
    assert_eq!(sas.len(), 1);
    assert_eq!(sas[0].state, ikev2::IkeSaState::Connecting);
    answer(&mut net, 0, NAME, Ok(vec![ip(IP_B)]));
    assert!(net.drive_until(Duration::from_secs(5), |n| remote_of_a(n) == Some(ip(IP_B))));
    let st = net.nodes[0].ep.remotes("ab");
    assert_eq!(st.len(), 1);
    assert_eq!((st[0].addr, st[0].name.as_deref()), (ip(IP_B), Some(NAME)));

    // B1 dies; the name now points at B2.
    cut(&mut net, IP_B);
    assert!(
        net.drive_until(Duration::from_secs(60), |n| resolve_requests(n, 0).len()
            == 2)
    );
    answer(&mut net, 0, NAME, Ok(vec![ip(IP_B2)]));
    assert!(net.drive_until(Duration::from_secs(10), |n| remote_of_a(n)
        == Some(ip(IP_B2))));
    let r = reconnections(&net);
    assert_eq!((r[0].from, r[0].to), (ip(IP_B), ip(IP_B2)), "{r:?}");
}

/// A name that does not resolve: reported (last_error), asked again after
/// RESOLVE_RETRY while keyingtries allows; other addresses in the list go on.
#[test]
fn a_name_that_does_not_resolve_is_reported_and_asked_again() {
    let mut net = two_gateways(
        |a| {
            conn(a).remote_addrs.clear();
            conn(a).remote_hosts = vec![ikev2::config::RemoteHost::Name(NAME.into())];
            conn(a).keyingtries = 2;
        },
        |_| {},
    );
    net.initiate(0, "ab");
    answer(&mut net, 0, NAME, Err("no such host".into()));
    let f = net.failures(0);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(matches!(&f[0].cause, Cause::Unresolved { name, .. } if name == NAME));
    assert!(
        f[0].to_string()
            .contains("cannot resolve gw.site-b.example: no such host"),
        "{}",
        f[0]
    );
    assert_eq!(net.nodes[0].ep.ike_sas().len(), 1, "kept, waiting");
    let t0 = net.now;
    assert!(
        net.drive_until(Duration::from_secs(30), |n| resolve_requests(n, 0).len()
            == 2)
    );
    assert_eq!(
        net.now - t0,
        Duration::from_secs(10),
        "asked again after 10 s"
    );
    answer(&mut net, 0, NAME, Err("no such host".into()));
    // keyingtries = 2: that was the last try.
    assert!(net.nodes[0].ep.ike_sas().is_empty());
    assert_eq!(net.failures(0).len(), 2);
}

#[test]
fn a_failed_name_among_addresses_is_skipped() {
    let mut net = two_gateways(
        |a| {
            conn(a).remote_addrs = vec![ip(IP_B2)];
            conn(a).remote_hosts = vec![
                ikev2::config::RemoteHost::Name(NAME.into()),
                ikev2::config::RemoteHost::Addr(ip(IP_B2)),
            ];
        },
        |_| {},
    );
    net.initiate(0, "ab");
    answer(&mut net, 0, NAME, Err("SERVFAIL".into()));
    assert!(net.drive_until(Duration::from_secs(5), |n| remote_of_a(n)
        == Some(ip(IP_B2))));
    let f = net.failures(0);
    assert!(
        matches!(f[0].cause, Cause::Unresolved { .. }) && f[0].ike_sa_kept,
        "{f:?}"
    );
}

/// A responder connection whose peer is a DNS name accepts that peer only from the
/// addresses the name resolved to.
#[test]
fn a_responder_matches_the_addresses_a_name_resolved_to() {
    let mut net = pair_with(
        3,
        |_| {},
        |b| {
            conn(b).remote_addrs.clear();
            conn(b).remote_hosts =
                vec![ikev2::config::RemoteHost::Name("gw.site-a.example".into())];
        },
    );
    net.initiate(0, "ab");
    net.drive_for(Duration::from_secs(1));
    assert!(!net.established(1));
    let f = net.failures(1);
    assert!(
        matches!(f[0].cause, Cause::NoConnectionForAddress { .. }),
        "{f:?}"
    );
    let now = net.now;
    net.nodes[1].ep.resolved(
        now,
        "ab",
        vec![("gw.site-a.example".into(), Ok(vec![ip(IP_A)]))],
    );
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(30), |n| n.ike_ups(1).len() == 1));
}
