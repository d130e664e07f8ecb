//! `Endpoint::reload`: connections compared by name; unchanged ones keep their SAs,
//! changed and removed ones are terminated (the peer sees a Delete), added ones can
//! be initiated, endpoint-wide settings change for what comes next.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use crate::harness::*;
use ikev2::ReloadSummary;
use ikev2::config::{ConnectionConfig, EndpointConfig, SharedSecret};
use ikev2::error::CommandError;
use ikev2::event::{DownReason, Event};
use ikev2::{Endpoint, IkeSaStatus};

/// A's side of connection `name`: A to B, identified as `<name>.a.example` (`ab`
/// keeps the address as ID), so B tells the connections apart by ID.
fn a_conn(name: &str) -> ConnectionConfig {
    let mut c = site(name, IP_A, IP_B, true);
    if name != "ab" {
        c.local_id = id(&format!("{name}.a.example"));
    }
    c
}

/// B's side of connection `name`.
fn b_conn(name: &str) -> ConnectionConfig {
    let mut c = site(name, IP_B, IP_A, false);
    if name != "ab" {
        c.remote_id = id(&format!("{name}.a.example"));
    }
    c
}

fn config(conns: Vec<ConnectionConfig>) -> EndpointConfig {
    EndpointConfig {
        connections: conns,
        secrets: vec![SharedSecret::new(vec![], PSK)],
        ..EndpointConfig::default()
    }
}

fn sa_of<'a>(sas: &'a [IkeSaStatus], conn: &str) -> Option<&'a IkeSaStatus> {
    sas.iter().find(|s| s.conn == conn)
}

fn downs(net: &Network, node: usize, conn: &str) -> Vec<DownReason> {
    net.nodes[node]
        .events
        .iter()
        .filter_map(|e| match e {
            Event::IkeSaDown(d) if d.conn == conn => Some(d.reason.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn reload_keeps_unchanged_connections_and_terminates_changed_and_removed_ones() {
    let a = config(vec![a_conn("ab"), a_conn("x"), a_conn("y")]);
    let b = config(vec![b_conn("ab"), b_conn("x"), b_conn("y"), b_conn("z")]);
    let a = Endpoint::new(Arc::new(a), seed(1));
    let b = Endpoint::new(Arc::new(b), seed(2));
    let mut net = Network::new(vec![(a, vec![ip(IP_A)]), (b, vec![ip(IP_B)])], 11);
    for c in ["ab", "x", "y"] {
        net.initiate(0, c);
    }
    assert!(
        net.drive_until(Duration::from_secs(5), |n| n.ike_ups(0).len() == 3
            && n.ike_ups(1).len() == 3)
    );
    let before = net.nodes[0].ep.ike_sas();
    let b_before = net.nodes[1].ep.ike_sas();
    for c in ["ab", "x", "y"] {
        assert!(sa_of(&b_before, c).is_some(), "B matched {c} by ID");
    }

    // x changes (DPD), y goes, z comes; the retransmission settings change too.
    let mut x = a_conn("x");
    x.dpd_delay = Duration::from_secs(30);
    let mut new = config(vec![a_conn("ab"), x, a_conn("z")]);
    new.retransmit.tries = 3;
    let now = net.now;
    let summary = net.nodes[0].ep.reload(now, Arc::new(new));
    assert_eq!(
        summary,
        ReloadSummary {
            added: vec!["z".into()],
            removed: vec!["y".into()],
            changed: vec!["x".into()],
            unchanged: vec!["ab".into()],
            credentials: vec![],
        }
    );
    assert_eq!(net.nodes[0].ep.config().retransmit.tries, 3);
    net.drive_for(Duration::from_secs(5));

    // ab: the same IKE SA, SPIs and CHILD SA, on both sides.
    let after = net.nodes[0].ep.ike_sas();
    let (ab0, ab1) = (sa_of(&before, "ab").unwrap(), sa_of(&after, "ab").unwrap());
    assert_eq!(
        (ab0.id, ab0.spi_i, ab0.spi_r),
        (ab1.id, ab1.spi_i, ab1.spi_r)
    );
    assert_eq!(ab0.children[0].spi_in, ab1.children[0].spi_in);
    assert!(downs(&net, 0, "ab").is_empty() && downs(&net, 1, "ab").is_empty());
    assert!(sa_of(&net.nodes[1].ep.ike_sas(), "ab").is_some());
    // x and y: terminated here, deleted by us as far as B is concerned.
    for c in ["x", "y"] {
        assert_eq!(downs(&net, 0, c), [DownReason::Terminated], "{c}");
        assert_eq!(downs(&net, 1, c), [DownReason::DeletedByPeer], "{c}");
        assert!(sa_of(&after, c).is_none());
    }
    assert_eq!(net.nodes[0].ep.ike_sa_count(), 1);
    assert_eq!(net.nodes[1].ep.ike_sa_count(), 1);

    // y is gone, x (new settings) and z can be initiated.
    let now = net.now;
    assert!(matches!(
        net.nodes[0].ep.initiate(now, "y"),
        Err(CommandError::UnknownConnection(_))
    ));
    net.initiate(0, "x");
    net.initiate(0, "z");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.ike_ups(0).len() == 5));
    let sas = net.nodes[0].ep.ike_sas();
    for c in ["ab", "x", "z"] {
        let s = sa_of(&sas, c).unwrap();
        assert_eq!(s.state, ikev2::IkeSaState::Established, "{c}");
        assert_eq!(s.children.len(), 1, "{c}");
    }
    assert!(sa_of(&net.nodes[1].ep.ike_sas(), "z").is_some());
    // ab's SA was never touched: its id and SPIs are still the first ones.
    assert_eq!(sa_of(&sas, "ab").unwrap().spi_i, ab0.spi_i);
}

#[test]
fn reload_with_the_same_configuration_changes_nothing() {
    let mut net = pair();
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    let before = net.nodes[0].ep.ike_sas();
    let timeout = net.nodes[0].ep.poll_timeout();
    let same = Arc::new(net.nodes[0].ep.config().clone());
    let now = net.now;
    let summary = net.nodes[0].ep.reload(now, same);
    assert_eq!(summary.unchanged, ["ab"]);
    assert!(summary.added.is_empty() && summary.removed.is_empty() && summary.changed.is_empty());
    assert_eq!(net.nodes[0].ep.poll_timeout(), timeout, "timers untouched");
    assert!(net.nodes[0].ep.poll_transmit().is_none());
    net.drive_for(Duration::from_secs(5));
    let after = net.nodes[0].ep.ike_sas();
    assert_eq!(before[0].spi_i, after[0].spi_i);
    assert_eq!(before[0].children[0].spi_in, after[0].children[0].spi_in);
    assert_eq!(
        net.nodes[0].events.len(),
        2,
        "IkeSaUp and ChildSaInstalled only"
    );
}
