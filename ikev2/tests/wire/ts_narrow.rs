//! Responder narrowing (RFC 7296 section 2.9) on worked examples.
#![allow(clippy::unwrap_used)]

use ikev2::ts::{TrafficSelector, describe_list, narrow, narrow_pair};

fn list(s: &str) -> Vec<TrafficSelector> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(|x| x.parse().unwrap_or_else(|e| panic!("{x}: {e}")))
        .collect()
}

fn n(cfg: &str, proposed: &str) -> String {
    describe_list(&narrow(&list(cfg), &list(proposed)))
}

#[test]
fn exact_match() {
    assert_eq!(n("10.1.0.0/24", "10.1.0.0/24"), "10.1.0.0/24");
}

#[test]
fn narrower_config_narrows_the_proposal() {
    assert_eq!(n("10.1.0.0/24", "10.0.0.0/8"), "10.1.0.0/24");
    assert_eq!(n("10.1.0.0/24", "0.0.0.0/0"), "10.1.0.0/24");
}

#[test]
fn wider_config_accepts_the_proposal() {
    assert_eq!(n("10.0.0.0/8", "10.1.0.0/24"), "10.1.0.0/24");
    assert_eq!(n("0.0.0.0/0", "10.1.0.5"), "10.1.0.5/32");
}

#[test]
fn partial_overlap_gives_the_overlap() {
    assert_eq!(
        n("10.1.0.0-10.1.0.100", "10.1.0.50-10.1.0.200"),
        "10.1.0.50-10.1.0.100"
    );
}

#[test]
fn disjoint_is_empty() {
    assert_eq!(n("10.1.0.0/24", "10.9.0.0/24"), "(none)");
    assert!(narrow(&list("10.1.0.0/24"), &[]).is_empty());
    assert!(narrow(&[], &list("10.1.0.0/24")).is_empty());
    // families never meet
    assert_eq!(n("10.1.0.0/24", "2001:db8::/64"), "(none)");
}

#[test]
fn several_selectors_in_the_initiators_order() {
    // each proposed selector, in the initiator's order, against every configured one
    assert_eq!(
        n(
            "10.1.0.0/24, 10.3.0.0/16",
            "10.3.5.0/24, 10.1.0.0/16, 10.9.0.0/16"
        ),
        "10.3.5.0/24, 10.1.0.0/24"
    );
    // one proposed selector can yield several results
    assert_eq!(
        n("10.1.0.0/24, 10.1.2.0/24", "10.1.0.0/16"),
        "10.1.0.0/24, 10.1.2.0/24"
    );
}

#[test]
fn contained_results_and_duplicates_are_removed() {
    // RFC 7296 section 2.9: the first selector may be the packet that triggered the
    // request; it is inside the second result and dropped (strongSwan does the same)
    assert_eq!(n("10.1.0.0/16", "10.1.0.5, 10.1.0.0/24"), "10.1.0.0/24");
    assert_eq!(n("10.1.0.0/24", "10.1.0.0/24, 10.1.0.0/24"), "10.1.0.0/24");
    assert_eq!(n("10.1.0.0/24, 10.1.0.0/25", "10.0.0.0/8"), "10.1.0.0/24");
    // a later, larger result replaces an earlier smaller one
    assert_eq!(n("10.0.0.0/8", "10.1.0.0/25, 10.1.0.0/24"), "10.1.0.0/24");
}

#[test]
fn ipv4_and_ipv6_mixed() {
    assert_eq!(
        n("10.1.0.0/24, 2001:db8:1::/48", "0.0.0.0/0, ::/0"),
        "10.1.0.0/24, 2001:db8:1::/48"
    );
    assert_eq!(
        n("10.1.0.0/24, 2001:db8:1::/48", "2001:db8:1:5::/64"),
        "2001:db8:1:5::/64"
    );
    assert_eq!(n("2001:db8:1::/48", "10.1.0.0/24"), "(none)");
}

#[test]
fn protocol_and_port_narrowing() {
    // configured protocol narrows a wildcard proposal, and the reverse
    assert_eq!(n("10.1.0.0/24[tcp]", "10.1.0.0/24"), "10.1.0.0/24[tcp]");
    assert_eq!(
        n("10.1.0.0/24", "10.1.0.0/24[udp/53]"),
        "10.1.0.0/24[udp/53]"
    );
    // port ranges intersect
    assert_eq!(
        n("10.1.0.0/24[tcp/1-1023]", "10.1.0.0/16[tcp/80-8080]"),
        "10.1.0.0/24[tcp/80-1023]"
    );
    // different protocols never meet
    assert_eq!(n("10.1.0.0/24[tcp]", "10.1.0.0/24[udp]"), "(none)");
    assert_eq!(n("10.1.0.0/24[tcp/22]", "10.1.0.0/24[tcp/80]"), "(none)");
    // OPAQUE (RFC 7296 section 3.13.1) meets only OPAQUE and all ports
    assert_eq!(
        n("10.1.0.0/24[udp/opaque]", "10.1.0.0/24[udp]"),
        "10.1.0.0/24[udp/opaque]"
    );
    assert_eq!(
        n("10.1.0.0/24", "10.1.0.0/24[udp/opaque]"),
        "10.1.0.0/24[udp/opaque]"
    );
    assert_eq!(
        n("10.1.0.0/24[udp/opaque]", "10.1.0.0/24[udp/53]"),
        "(none)"
    );
    // several protocols configured
    assert_eq!(
        n(
            "10.1.0.0/24[tcp/443], 10.1.0.0/24[udp/53], 10.1.0.0/24[icmp/8]",
            "10.1.0.0/16"
        ),
        "10.1.0.0/24[tcp/443], 10.1.0.0/24[udp/53], 10.1.0.0/24[icmp/8]"
    );
    // a wildcard-protocol configured selector swallows protocol-specific results
    assert_eq!(
        n("10.1.0.0/24, 10.1.0.0/24[tcp]", "10.1.0.0/24"),
        "10.1.0.0/24"
    );
}

#[test]
fn narrow_pair_swaps_sides_for_the_responder() {
    // the strongSwan lab: responder b has local_ts 10.2.0.0/24, remote_ts 10.1.0.0/24
    let local = list("10.2.0.0/24");
    let remote = list("10.1.0.0/24");
    let (tsi, tsr) =
        narrow_pair(&local, &remote, &list("10.1.0.0/24"), &list("10.2.0.0/24")).unwrap();
    assert_eq!(describe_list(&tsi), "10.1.0.0/24");
    assert_eq!(describe_list(&tsr), "10.2.0.0/24");

    // an initiator that asks for everything gets our configuration
    let (tsi, tsr) = narrow_pair(&local, &remote, &list("0.0.0.0/0"), &list("0.0.0.0/0")).unwrap();
    assert_eq!(describe_list(&tsi), "10.1.0.0/24");
    assert_eq!(describe_list(&tsr), "10.2.0.0/24");

    // sides crossed: TS_UNACCEPTABLE
    assert_eq!(
        narrow_pair(&local, &remote, &list("10.2.0.0/24"), &list("10.1.0.0/24")),
        None
    );
    // one side empty is enough to refuse
    assert_eq!(
        narrow_pair(&local, &remote, &list("10.9.0.0/24"), &list("10.2.0.0/24")),
        None
    );
    assert_eq!(
        narrow_pair(&local, &remote, &list("10.1.0.0/24"), &list("10.9.0.0/24")),
        None
    );
}

#[test]
fn ts_unacceptable_diagnostic() {
    let local = list("10.1.0.0/24");
    let remote = list("10.2.0.0/24");
    let tsi = list("10.9.0.0/24");
    let tsr = list("10.2.0.0/24");
    assert!(narrow_pair(&local, &remote, &tsi, &tsr).is_none());
    let msg = format!(
        "TS_UNACCEPTABLE: we have local_ts {} remote_ts {}, peer proposed TSi {} TSr {}",
        describe_list(&local),
        describe_list(&remote),
        describe_list(&tsi),
        describe_list(&tsr)
    );
    assert_eq!(
        msg,
        "TS_UNACCEPTABLE: we have local_ts 10.1.0.0/24 remote_ts 10.2.0.0/24, peer proposed TSi 10.9.0.0/24 TSr 10.2.0.0/24"
    );
}
