//! Unit tests of `config`, kept beside it so the module reads without them.
#![allow(clippy::unwrap_used)]

use super::*;

#[test]
fn parses_swanctl_identities() {
    let p = |s: &str| s.parse::<Identity>().unwrap();
    assert_eq!(p("%any"), Identity::Any);
    assert_eq!(p("192.0.2.1"), Identity::Ipv4(Ipv4Addr::new(192, 0, 2, 1)));
    assert_eq!(
        p("2001:db8::1"),
        Identity::Ipv6("2001:db8::1".parse().unwrap())
    );
    assert_eq!(
        p("vpn.example.com"),
        Identity::Fqdn("vpn.example.com".into())
    );
    assert_eq!(
        p("@vpn.example.com"),
        Identity::Fqdn("vpn.example.com".into())
    );
    assert_eq!(
        p("alice@example.com"),
        Identity::Rfc822("alice@example.com".into())
    );
    assert_eq!(p("@@alice"), Identity::Rfc822("alice".into()));
    assert_eq!(p("@#0a0B"), Identity::KeyId(vec![0x0a, 0x0b]));
    assert_eq!(p("keyid:#0102"), Identity::KeyId(vec![1, 2]));
    assert_eq!(p("keyid:abc"), Identity::KeyId(b"abc".to_vec()));
    assert_eq!(p("fqdn:192.0.2.1"), Identity::Fqdn("192.0.2.1".into()));
    assert_eq!(p("asn1dn:#3000"), Identity::DerAsn1Dn(vec![0x30, 0]));
    assert_eq!(
        p("ipv4:10.0.0.1"),
        Identity::Ipv4(Ipv4Addr::new(10, 0, 0, 1))
    );
    // Text DNs, encoded as strongSwan's atodn does (PrintableString values).
    let c_ch_cn_x = vec![
        0x30, 0x19, 0x31, 0x0b, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x06, 0x13, 0x02, b'C', b'H',
        0x31, 0x0a, 0x30, 0x08, 0x06, 0x03, 0x55, 0x04, 0x03, 0x13, 0x01, b'x',
    ];
    assert_eq!(p("C=CH, CN=x"), Identity::DerAsn1Dn(c_ch_cn_x.clone()));
    assert_eq!(p("/C=CH/CN=x"), Identity::DerAsn1Dn(c_ch_cn_x.clone()));
    assert_eq!(p(" c = CH ,cn=x "), Identity::DerAsn1Dn(c_ch_cn_x));
    assert!(matches!(
        p("E=alice@example.com, CN=x"),
        Identity::DerAsn1Dn(_)
    ));
    assert!(matches!(
        "Foo=bar".parse::<Identity>(),
        Err(IdentityError::Dn(..))
    ));
    assert!(matches!(
        "C=CH, CN".parse::<Identity>(),
        Err(IdentityError::Dn(..))
    ));
    assert!("@#0g".parse::<Identity>().is_err());
    assert!("".parse::<Identity>().is_err());
}

#[test]
fn display_round_trips() {
    for s in [
        "%any",
        "192.0.2.1",
        "2001:db8::1",
        "vpn.example.com",
        "alice@example.com",
        "@#0a0b",
        "asn1dn:#3000",
        "C=CH, O=Example Ltd, CN=gw.example.org",
        "CN=Zürich, E=a@b.example",
    ] {
        let id: Identity = s.parse().unwrap();
        assert_eq!(id.to_string().parse::<Identity>().unwrap(), id, "{s}");
    }
    // A DN with other string types than strongSwan writes (here UTF8String) shows as
    // text that reads back as a DN matching it.
    let utf8: Identity = "asn1dn:#300f310d300b06035504030c0461616161"
        .parse()
        .unwrap();
    assert_eq!(utf8.to_string(), "CN=aaaa");
    assert_eq!(
        utf8.matches(&utf8.to_string().parse().unwrap()),
        IdMatch::Perfect
    );
    // A value with a comma (escaped when written) would read back as two RDNs:
    // shown as hex, which reads back the same.
    let comma: Identity = r"O=Example\, Inc, CN=gw".parse().unwrap();
    assert!(comma.to_string().starts_with("asn1dn:#"), "{comma}");
    assert_eq!(comma.to_string().parse::<Identity>().unwrap(), comma);
    // What is no DN shows as hex and reads back the same.
    for s in ["asn1dn:#3000", "asn1dn:#0102"] {
        let id: Identity = s.parse().unwrap();
        assert_eq!(id.to_string(), s);
    }
}

#[test]
fn wire_round_trip_for_every_type() {
    for s in [
        "192.0.2.1",
        "2001:db8::1",
        "vpn.example.com",
        "alice@example.com",
        "@#0a0b",
        "asn1dn:#3000",
    ] {
        let id: Identity = s.parse().unwrap();
        let (ty, data) = id.to_wire().unwrap();
        assert_eq!(Identity::from_wire(&Id::new(ty, &data)), id, "{s}");
    }
    assert!(Identity::Any.to_wire().is_none());
}

#[test]
fn matching() {
    let p = |s: &str| s.parse::<Identity>().unwrap();
    assert_eq!(p("%any").matches(&p("x.example")), IdMatch::Any);
    assert_eq!(
        p("VPN.example.com").matches(&p("vpn.EXAMPLE.com")),
        IdMatch::Perfect
    );
    assert_eq!(
        p("*.example.com").matches(&p("a.example.com")),
        IdMatch::Wildcard
    );
    assert_eq!(
        p("*@example.com").matches(&p("bob@example.com")),
        IdMatch::Wildcard
    );
    assert_eq!(
        p("*.example.com").matches(&p("a.example.org")),
        IdMatch::None
    );
    assert_eq!(p("192.0.2.1").matches(&p("192.0.2.2")), IdMatch::None);
    assert_eq!(p("192.0.2.1").matches(&p("fqdn:192.0.2.1")), IdMatch::None);
}

#[test]
fn dn_matching_as_strongswan() {
    let p = |s: &str| s.parse::<Identity>().unwrap();
    let gw = p("C=CH, O=Example, CN=gw.example.org");
    assert_eq!(
        p("C=CH, O=Example, CN=gw.example.org").matches(&gw),
        IdMatch::Perfect
    );
    // PrintableString values compare without case.
    assert_eq!(
        p("c=ch, o=EXAMPLE, cn=GW.example.org").matches(&gw),
        IdMatch::Perfect
    );
    assert_eq!(p("C=CH, O=Example, CN=*").matches(&gw), IdMatch::Wildcard);
    assert_eq!(p("C=CH, O=*, CN=*").matches(&gw), IdMatch::Wildcard);
    // Order, count and attribute types must agree.
    assert_eq!(
        p("CN=gw.example.org, O=Example, C=CH").matches(&gw),
        IdMatch::None
    );
    assert_eq!(p("C=CH, CN=gw.example.org").matches(&gw), IdMatch::None);
    assert_eq!(
        p("C=CH, OU=Example, CN=gw.example.org").matches(&gw),
        IdMatch::None
    );
    assert_eq!(
        p("C=CH, O=Example, CN=gw2.example.org").matches(&gw),
        IdMatch::None
    );
    // A UTF8String value (here from a DER ID) keeps its case; the type may differ.
    let utf8 = p("asn1dn:#300f310d300b06035504030c0461616161"); // CN=aaaa, UTF8String
    assert_eq!(p("CN=aaaa").matches(&utf8), IdMatch::Perfect);
    assert_eq!(p("CN=AAAA").matches(&utf8), IdMatch::None);
    // A DN never matches another ID type.
    assert_eq!(
        p("CN=gw.example.org").matches(&p("gw.example.org")),
        IdMatch::None
    );
}

#[test]
fn psk_lookup_prefers_the_best_owner_match() {
    let p = |s: &str| s.parse::<Identity>().unwrap();
    let cfg = EndpointConfig {
        secrets: vec![
            SharedSecret::new(vec![], "everyone"),
            SharedSecret::new(vec![p("a.example")], "a-any"),
            SharedSecret::new(vec![p("a.example"), p("b.example")], "a-b"),
        ],
        ..EndpointConfig::default()
    };
    let got = |me: &str, other: &str| {
        cfg.find_psk(&p(me), &p(other))
            .map(|s| String::from_utf8(s.expose().to_vec()).unwrap())
    };
    assert_eq!(got("a.example", "b.example").as_deref(), Some("a-b"));
    assert_eq!(got("c.example", "a.example").as_deref(), Some("a-any"));
    assert_eq!(got("c.example", "d.example").as_deref(), Some("everyone"));
    let none = EndpointConfig {
        secrets: vec![SharedSecret::new(vec![p("x")], "x")],
        ..EndpointConfig::default()
    };
    assert!(none.find_psk(&p("a"), &p("b")).is_none());
}

#[test]
fn remote_ranges_match_as_responder_below_exact_addresses() {
    let ip = |s: &str| s.parse::<IpAddr>().expect("address");
    let mut range = ConnectionConfig::new("range");
    range.remote_ranges = vec![(ip("198.51.100.0"), 24)];
    let local = ip("192.0.2.1");
    assert_eq!(
        range.address_match(local, ip("198.51.100.77"), &[]),
        Some(1)
    );
    assert_eq!(
        range.address_match(local, ip("::ffff:198.51.100.77"), &[]),
        Some(1)
    );
    assert_eq!(range.address_match(local, ip("198.51.101.1"), &[]), None);
    assert_eq!(range.address_match(local, ip("2001:db8::1"), &[]), None);
    let mut exact = ConnectionConfig::new("exact");
    exact.remote_addrs = vec![ip("198.51.100.77")];
    assert_eq!(
        exact.address_match(local, ip("198.51.100.77"), &[]),
        Some(2)
    );
    let any = ConnectionConfig::new("any");
    assert_eq!(any.address_match(local, ip("203.0.113.1"), &[]), Some(0));
    // A DNS name matches what it resolved to, and nobody before it resolved.
    let mut named = ConnectionConfig::new("named");
    named.remote_hosts = vec![super::RemoteHost::Name("gw.example".into())];
    assert_eq!(named.address_match(local, ip("203.0.113.1"), &[]), None);
    let resolved = [ip("203.0.113.1")];
    assert_eq!(
        named.address_match(local, ip("203.0.113.1"), &resolved),
        Some(2)
    );
    assert_eq!(
        named.address_match(local, ip("203.0.113.2"), &resolved),
        None
    );
}

#[test]
fn retransmission_schedule_matches_strongswan() {
    let r = RetransmitConfig::default();
    let total = r.total().as_secs_f64();
    assert!((total - 165.06).abs() < 0.1, "{total}");
    assert_eq!(r.wait(0), Duration::from_secs(4));
}
