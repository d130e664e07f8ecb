//! Traffic selectors: swanctl.conf syntax (every form strongSwan's vici `parse_ts`
//! takes), canonical printing, errors, constructors and the wire conversion.
#![allow(clippy::unwrap_used)]

use std::net::IpAddr;

use ikev2::ts::{TrafficSelector, TsError, TsSpec, describe_list, icmp_port, ip_proto};
use ikev2::wire;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn ts(s: &str) -> TrafficSelector {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn sel(start: &str, end: &str, proto: u8, sp: u16, ep: u16) -> TrafficSelector {
    TrafficSelector {
        ip_proto: proto,
        start_port: sp,
        end_port: ep,
        start: ip(start),
        end: ip(end),
    }
}

/// (input, parsed value, canonical Display)
fn examples() -> Vec<(&'static str, TrafficSelector, &'static str)> {
    vec![
        (
            "10.1.0.0/24",
            sel("10.1.0.0", "10.1.0.255", 0, 0, 0xffff),
            "10.1.0.0/24",
        ),
        (
            "10.1.0.5",
            sel("10.1.0.5", "10.1.0.5", 0, 0, 0xffff),
            "10.1.0.5/32",
        ),
        (
            "10.1.0.5/32",
            sel("10.1.0.5", "10.1.0.5", 0, 0, 0xffff),
            "10.1.0.5/32",
        ),
        // host bits are cleared, as strongSwan does
        (
            "10.1.0.77/24",
            sel("10.1.0.0", "10.1.0.255", 0, 0, 0xffff),
            "10.1.0.0/24",
        ),
        (
            "0.0.0.0/0",
            sel("0.0.0.0", "255.255.255.255", 0, 0, 0xffff),
            "0.0.0.0/0",
        ),
        (
            "2001:db8::/64",
            sel("2001:db8::", "2001:db8::ffff:ffff:ffff:ffff", 0, 0, 0xffff),
            "2001:db8::/64",
        ),
        (
            "::/0",
            sel(
                "::",
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                0,
                0,
                0xffff,
            ),
            "::/0",
        ),
        (
            "2001:db8::1",
            sel("2001:db8::1", "2001:db8::1", 0, 0, 0xffff),
            "2001:db8::1/128",
        ),
        (
            "10.0.0.1-10.0.0.9",
            sel("10.0.0.1", "10.0.0.9", 0, 0, 0xffff),
            "10.0.0.1-10.0.0.9",
        ),
        (
            "10.0.0.1 - 10.0.0.9",
            sel("10.0.0.1", "10.0.0.9", 0, 0, 0xffff),
            "10.0.0.1-10.0.0.9",
        ),
        // a range that is a CIDR prints as one
        (
            "10.0.0.0-10.0.0.255",
            sel("10.0.0.0", "10.0.0.255", 0, 0, 0xffff),
            "10.0.0.0/24",
        ),
        (
            "2001:db8::1-2001:db8::5",
            sel("2001:db8::1", "2001:db8::5", 0, 0, 0xffff),
            "2001:db8::1-2001:db8::5",
        ),
        (
            "10.1.0.0/24[tcp/80]",
            sel("10.1.0.0", "10.1.0.255", 6, 80, 80),
            "10.1.0.0/24[tcp/80]",
        ),
        (
            "10.1.0.0/24[udp]",
            sel("10.1.0.0", "10.1.0.255", 17, 0, 0xffff),
            "10.1.0.0/24[udp]",
        ),
        (
            "10.1.0.0/24[tcp/1024-65535]",
            sel("10.1.0.0", "10.1.0.255", 6, 1024, 65535),
            "10.1.0.0/24[tcp/1024-65535]",
        ),
        (
            "10.1.0.0/24[udp/any]",
            sel("10.1.0.0", "10.1.0.255", 17, 0, 0xffff),
            "10.1.0.0/24[udp]",
        ),
        (
            "10.1.0.0/24[any]",
            sel("10.1.0.0", "10.1.0.255", 0, 0, 0xffff),
            "10.1.0.0/24",
        ),
        (
            "10.1.0.0/24[]",
            sel("10.1.0.0", "10.1.0.255", 0, 0, 0xffff),
            "10.1.0.0/24",
        ),
        (
            "10.1.0.0/24[any/80]",
            sel("10.1.0.0", "10.1.0.255", 0, 80, 80),
            "10.1.0.0/24[0/80]",
        ),
        (
            "10.1.0.0/24[/80]",
            sel("10.1.0.0", "10.1.0.255", 0, 80, 80),
            "10.1.0.0/24[0/80]",
        ),
        (
            "10.1.0.0/24[0/80]",
            sel("10.1.0.0", "10.1.0.255", 0, 80, 80),
            "10.1.0.0/24[0/80]",
        ),
        (
            "10.1.0.0/24[6/80]",
            sel("10.1.0.0", "10.1.0.255", 6, 80, 80),
            "10.1.0.0/24[tcp/80]",
        ),
        (
            "10.1.0.0/24[TCP/80]",
            sel("10.1.0.0", "10.1.0.255", 6, 80, 80),
            "10.1.0.0/24[tcp/80]",
        ),
        (
            "10.1.0.0/24[0x11/0x35]",
            sel("10.1.0.0", "10.1.0.255", 17, 53, 53),
            "10.1.0.0/24[udp/53]",
        ),
        (
            "10.1.0.0/24[tcp/http]",
            sel("10.1.0.0", "10.1.0.255", 6, 80, 80),
            "10.1.0.0/24[tcp/80]",
        ),
        (
            "10.1.0.0/24[udp/ipsec-nat-t]",
            sel("10.1.0.0", "10.1.0.255", 17, 4500, 4500),
            "10.1.0.0/24[udp/4500]",
        ),
        (
            "10.1.0.0/24[udp/domain]",
            sel("10.1.0.0", "10.1.0.255", 17, 53, 53),
            "10.1.0.0/24[udp/53]",
        ),
        (
            "10.1.0.0/24[sctp]",
            sel("10.1.0.0", "10.1.0.255", 132, 0, 0xffff),
            "10.1.0.0/24[sctp]",
        ),
        (
            "10.1.0.0/24[gre]",
            sel("10.1.0.0", "10.1.0.255", 47, 0, 0xffff),
            "10.1.0.0/24[gre]",
        ),
        (
            "10.1.0.0/24[200]",
            sel("10.1.0.0", "10.1.0.255", 200, 0, 0xffff),
            "10.1.0.0/24[200]",
        ),
        (
            "10.1.0.0/24[ip]",
            sel("10.1.0.0", "10.1.0.255", 0, 0, 0xffff),
            "10.1.0.0/24",
        ),
        (
            "10.1.0.0/24[udp/opaque]",
            sel("10.1.0.0", "10.1.0.255", 17, 0xffff, 0),
            "10.1.0.0/24[udp/opaque]",
        ),
        (
            "10.1.0.0/24[udp/OPAQUE]",
            sel("10.1.0.0", "10.1.0.255", 17, 0xffff, 0),
            "10.1.0.0/24[udp/opaque]",
        ),
        // ICMP: a port below 256 is the type (shifted into the high octet)
        (
            "10.1.0.0/24[icmp/8]",
            sel("10.1.0.0", "10.1.0.255", 1, 0x0800, 0x0800),
            "10.1.0.0/24[icmp/8]",
        ),
        (
            "10.1.0.0/24[icmp/771]",
            sel("10.1.0.0", "10.1.0.255", 1, 0x0303, 0x0303),
            "10.1.0.0/24[icmp/3(3)]",
        ),
        (
            "10.1.0.0/24[icmp/3(3)]",
            sel("10.1.0.0", "10.1.0.255", 1, 0x0303, 0x0303),
            "10.1.0.0/24[icmp/3(3)]",
        ),
        (
            "10.1.0.0/24[icmp/3-8]",
            sel("10.1.0.0", "10.1.0.255", 1, 0x0300, 0x0800),
            "10.1.0.0/24[icmp/3-8]",
        ),
        (
            "10.1.0.0/24[icmp/2048-2303]",
            sel("10.1.0.0", "10.1.0.255", 1, 0x0800, 0x08ff),
            "10.1.0.0/24[icmp/8-8(255)]",
        ),
        (
            "2001:db8::/64[ipv6-icmp/128]",
            sel(
                "2001:db8::",
                "2001:db8::ffff:ffff:ffff:ffff",
                58,
                0x8000,
                0x8000,
            ),
            "2001:db8::/64[ipv6-icmp/128]",
        ),
        (
            "2001:db8::/64[icmpv6/135]",
            sel(
                "2001:db8::",
                "2001:db8::ffff:ffff:ffff:ffff",
                58,
                0x8700,
                0x8700,
            ),
            "2001:db8::/64[ipv6-icmp/135]",
        ),
        (
            "2001:db8::/64[58]",
            sel("2001:db8::", "2001:db8::ffff:ffff:ffff:ffff", 58, 0, 0xffff),
            "2001:db8::/64[ipv6-icmp]",
        ),
        (
            "10.0.0.1-10.0.0.9[tcp/22]",
            sel("10.0.0.1", "10.0.0.9", 6, 22, 22),
            "10.0.0.1-10.0.0.9[tcp/22]",
        ),
        (
            "  10.1.0.0/24[ tcp / 80 ]  ",
            sel("10.1.0.0", "10.1.0.255", 6, 80, 80),
            "10.1.0.0/24[tcp/80]",
        ),
    ]
}

#[test]
fn parses_every_syntax_form() {
    for (input, want, shown) in examples() {
        let got = ts(input);
        assert_eq!(got, want, "{input}");
        assert_eq!(got.to_string(), shown, "{input}");
        // the canonical form parses back to the same selector
        assert_eq!(ts(shown), want, "{shown}");
    }
}

#[test]
fn errors_name_the_offending_text() {
    let cases: &[(&str, TsError)] = &[
        ("10.1.0.300/24", TsError::Address("10.1.0.300".into())),
        ("hello", TsError::Address("hello".into())),
        (
            "10.1.0.0/33",
            TsError::PrefixTooLong {
                addr: "10.1.0.0".parse().unwrap(),
                prefix_len: 33,
            },
        ),
        (
            "2001:db8::/129",
            TsError::PrefixTooLong {
                addr: "2001:db8::".parse().unwrap(),
                prefix_len: 129,
            },
        ),
        ("10.1.0.0/", TsError::Prefix("".into())),
        ("10.1.0.0/abc", TsError::Prefix("abc".into())),
        ("10.1.0.0/024", TsError::Prefix("024".into())),
        ("10.1.0.0/0x18", TsError::Prefix("0x18".into())),
        ("10.1.0.0/300", TsError::Prefix("300".into())),
        (
            "10.0.0.9-10.0.0.1",
            TsError::AddressOrder {
                start: "10.0.0.9".parse().unwrap(),
                end: "10.0.0.1".parse().unwrap(),
            },
        ),
        (
            "10.0.0.1-2001:db8::1",
            TsError::FamilyMismatch {
                start: "10.0.0.1".parse().unwrap(),
                end: "2001:db8::1".parse().unwrap(),
            },
        ),
        ("10.0.0.1-", TsError::Address("".into())),
        (
            "10.1.0.0/24[tcp",
            TsError::Syntax {
                text: "10.1.0.0/24[tcp".into(),
                reason: "missing ']' at the end",
            },
        ),
        (
            "10.1.0.0/24[tcp]x",
            TsError::Syntax {
                text: "10.1.0.0/24[tcp]x".into(),
                reason: "missing ']' at the end",
            },
        ),
        (
            "10.1.0.0/24[tcp][udp]",
            TsError::Syntax {
                text: "10.1.0.0/24[tcp][udp]".into(),
                reason: "more than one '[...]'",
            },
        ),
        (
            "[tcp]",
            TsError::Syntax {
                text: "".into(),
                reason: "no address",
            },
        ),
        (
            "",
            TsError::Syntax {
                text: "".into(),
                reason: "no address",
            },
        ),
        ("10.1.0.0/24[tpc]", TsError::Protocol("tpc".into())),
        ("10.1.0.0/24[256]", TsError::Protocol("256".into())),
        ("10.1.0.0/24[-1]", TsError::Protocol("-1".into())),
        ("10.1.0.0/24[tcp/80-]", TsError::Port("80-".into())),
        ("10.1.0.0/24[tcp/65536]", TsError::Port("65536".into())),
        ("10.1.0.0/24[tcp/080]", TsError::Port("080".into())),
        (
            "10.1.0.0/24[tcp/gopher-ish]",
            TsError::Port("gopher-ish".into()),
        ),
        (
            "10.1.0.0/24[tcp/90-80]",
            TsError::PortOrder { start: 90, end: 80 },
        ),
        ("10.1.0.0/24[icmp/3(256)]", TsError::Port("3(256)".into())),
        ("10.1.0.0/24[icmp/http]", TsError::Port("http".into())),
        ("dynamic", TsError::Dynamic),
        ("dynamic[tcp/22]", TsError::Dynamic),
    ];
    for (input, want) in cases {
        let got = input.parse::<TrafficSelector>();
        assert_eq!(got.as_ref(), Err(want), "{input}");
        // the message carries the text
        let msg = want.to_string();
        assert!(!msg.is_empty());
    }
    let msg = "10.1.0.0/24[tpc]"
        .parse::<TrafficSelector>()
        .unwrap_err()
        .to_string();
    assert!(msg.contains("\"tpc\""), "{msg}");
    let msg = "10.0.0.9-10.0.0.1"
        .parse::<TrafficSelector>()
        .unwrap_err()
        .to_string();
    assert!(msg.contains("10.0.0.9-10.0.0.1"), "{msg}");
}

#[test]
fn dynamic_is_a_spec() {
    let spec: TsSpec = "dynamic".parse().unwrap();
    assert_eq!(
        spec,
        TsSpec::Dynamic {
            ip_proto: 0,
            start_port: 0,
            end_port: 0xffff
        }
    );
    assert_eq!(spec.to_string(), "dynamic");
    assert_eq!(
        spec.resolve(ip("192.0.2.1")),
        TrafficSelector::host(ip("192.0.2.1"))
    );

    let spec: TsSpec = "dynamic[tcp/22]".parse().unwrap();
    assert_eq!(spec.to_string(), "dynamic[tcp/22]");
    assert_eq!(spec.resolve(ip("2001:db8::7")), ts("2001:db8::7[tcp/22]"));

    let spec: TsSpec = "10.1.0.0/24[udp]".parse().unwrap();
    assert_eq!(spec, TsSpec::Fixed(ts("10.1.0.0/24[udp]")));
    assert_eq!(spec.resolve(ip("192.0.2.1")), ts("10.1.0.0/24[udp]"));
    assert_eq!(spec.to_string(), "10.1.0.0/24[udp]");
}

#[test]
fn constructors() {
    assert_eq!(
        TrafficSelector::from_cidr(ip("10.1.2.3"), 16).unwrap(),
        ts("10.1.0.0/16")
    );
    assert_eq!(
        TrafficSelector::from_cidr(ip("10.1.2.3"), 0).unwrap(),
        TrafficSelector::any_ipv4()
    );
    assert_eq!(
        TrafficSelector::from_cidr(ip("2001:db8::1"), 0).unwrap(),
        TrafficSelector::any_ipv6()
    );
    assert_eq!(
        TrafficSelector::from_cidr(ip("2001:db8::1"), 128).unwrap(),
        TrafficSelector::host(ip("2001:db8::1"))
    );
    assert!(TrafficSelector::from_cidr(ip("10.0.0.0"), 33).is_err());
    assert!(TrafficSelector::range(ip("10.0.0.2"), ip("10.0.0.1")).is_err());
    assert!(TrafficSelector::range(ip("10.0.0.1"), ip("::1")).is_err());
    assert_eq!(
        TrafficSelector::range(ip("10.0.0.1"), ip("10.0.0.1")).unwrap(),
        TrafficSelector::host(ip("10.0.0.1"))
    );

    let t = TrafficSelector::host(ip("10.0.0.1"));
    assert_eq!(t.with_protocol(6, 80, 80).unwrap(), ts("10.0.0.1[tcp/80]"));
    assert_eq!(
        t.with_protocol(17, 0xffff, 0).unwrap(),
        ts("10.0.0.1[udp/opaque]")
    );
    assert_eq!(
        t.with_protocol(6, 81, 80),
        Err(TsError::PortOrder { start: 81, end: 80 })
    );
    assert_eq!(
        t.with_protocol(ip_proto::ICMP, icmp_port(8, 0), icmp_port(8, 0))
            .unwrap(),
        ts("10.0.0.1[icmp/8]")
    );

    assert!(ts("10.0.0.0/8").is_ipv4());
    assert!(!ts("::/0").is_ipv4());
    assert_eq!(ts("10.0.0.0/8").prefix_len(), Some(8));
    assert_eq!(ts("10.0.0.1-10.0.0.2").prefix_len(), None);
    assert_eq!(ts("10.0.0.0-10.0.0.1").prefix_len(), Some(31));
    assert_eq!(ts("::/0").prefix_len(), Some(0));
    assert!(ts("10.0.0.0/8[udp/opaque]").is_opaque());
    assert!(ts("10.0.0.0/8[udp]").has_any_port());
}

#[test]
fn hand_built_empty_selectors() {
    let inverted = sel("10.0.0.9", "10.0.0.1", 0, 0, 0xffff);
    let mixed = sel("10.0.0.1", "::1", 0, 0, 0xffff);
    let bad_ports = sel("10.0.0.1", "10.0.0.9", 6, 90, 80);
    for e in [inverted, mixed, bad_ports] {
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(e.intersect(&TrafficSelector::any_ipv4()), None, "{e:?}");
        assert_eq!(TrafficSelector::any_ipv4().intersect(&e), None, "{e:?}");
        assert!(!TrafficSelector::any_ipv4().contains(&e), "{e:?}");
        assert!(!e.contains_packet(ip("10.0.0.5"), 6, Some(85)), "{e:?}");
        assert!(e.to_cidrs().is_empty(), "{e:?}");
    }
    // a mixed selector goes on the wire as an empty range
    let w = mixed.to_wire();
    let back = TrafficSelector::from_wire(&w).unwrap();
    assert!(back.is_empty());
    assert!(back.is_ipv4());
    assert!(!ts("10.0.0.0/8[udp/opaque]").is_empty());
}

#[test]
fn wire_conversion() {
    for (input, _, _) in examples() {
        let t = ts(input);
        let w = t.to_wire();
        assert_eq!(TrafficSelector::from_wire(&w), Some(t), "{input}");
        // and through the encoder
        let payload = wire::Ts {
            selectors: vec![w.clone()],
        };
        let mut body = Vec::new();
        payload.emit_body(&mut body).unwrap();
        let parsed = wire::Ts::parse(&body).unwrap();
        assert_eq!(
            TrafficSelector::from_wire(&parsed.selectors[0]),
            Some(t),
            "{input}"
        );
    }
    let w = ts("10.1.0.0/24[tcp/80]").to_wire();
    assert_eq!(
        w,
        wire::TrafficSelector::Ipv4 {
            ip_proto: 6,
            start_port: 80,
            end_port: 80,
            start: "10.1.0.0".parse().unwrap(),
            end: "10.1.0.255".parse().unwrap(),
        }
    );
    let w = ts("2001:db8::/127").to_wire();
    assert_eq!(
        w,
        wire::TrafficSelector::ipv6_range(
            "2001:db8::".parse().unwrap(),
            "2001:db8::1".parse().unwrap()
        )
    );
    let other = wire::TrafficSelector::Other {
        ty: wire::TsType(10),
        octet1: 0,
        data: &[1, 2, 3],
    };
    assert_eq!(TrafficSelector::from_wire(&other), None);
}

#[test]
fn strongswan_capture_selectors() {
    // IKE_AUTH request of the modp2048 capture, decrypted: TSi 10.1.0.0/24, TSr 10.2.0.0/24
    let inner = include_bytes!("../data/strongswan/modp2048/decrypted/03-ike_auth-req.inner.bin");
    let payloads = wire::parse_payload_chain(wire::PayloadType::IDI, inner).unwrap();
    let mut tsi = Vec::new();
    let mut tsr = Vec::new();
    for p in &payloads {
        match p {
            wire::Payload::TsI(t) => {
                tsi.extend(t.selectors.iter().filter_map(TrafficSelector::from_wire))
            }
            wire::Payload::TsR(t) => {
                tsr.extend(t.selectors.iter().filter_map(TrafficSelector::from_wire))
            }
            _ => {}
        }
    }
    assert_eq!(describe_list(&tsi), "10.1.0.0/24");
    assert_eq!(describe_list(&tsr), "10.2.0.0/24");
}

#[test]
fn describe() {
    assert_eq!(describe_list(&[]), "(none)");
    assert_eq!(
        describe_list(&[
            ts("10.1.0.0/24"),
            ts("10.3.0.0/16[tcp/443]"),
            ts("2001:db8::1")
        ]),
        "10.1.0.0/24, 10.3.0.0/16[tcp/443], 2001:db8::1/128"
    );
}

#[test]
fn contains_packet() {
    let web = ts("10.1.0.0/24[tcp/80-443]");
    assert!(web.contains_packet(ip("10.1.0.7"), 6, Some(80)));
    assert!(web.contains_packet(ip("10.1.0.255"), 6, Some(443)));
    assert!(!web.contains_packet(ip("10.1.1.0"), 6, Some(80)));
    assert!(!web.contains_packet(ip("10.1.0.7"), 17, Some(80)));
    assert!(!web.contains_packet(ip("10.1.0.7"), 6, Some(444)));
    assert!(!web.contains_packet(ip("10.1.0.7"), 6, None));
    assert!(!web.contains_packet(ip("::ffff:10.1.0.7"), 6, Some(80)));

    let all = ts("10.1.0.0/24");
    assert!(all.contains_packet(ip("10.1.0.7"), 50, None));
    assert!(all.contains_packet(ip("10.1.0.7"), 6, Some(1)));

    let udp_opaque = ts("10.1.0.0/24[udp/opaque]");
    assert!(udp_opaque.contains_packet(ip("10.1.0.7"), 17, None));
    assert!(!udp_opaque.contains_packet(ip("10.1.0.7"), 17, Some(0)));
    assert!(!udp_opaque.contains_packet(ip("10.1.0.7"), 17, Some(0xffff)));

    let ping = ts("2001:db8::/64[ipv6-icmp/128]");
    assert!(ping.contains_packet(ip("2001:db8::1"), 58, Some(icmp_port(128, 0))));
    assert!(!ping.contains_packet(ip("2001:db8::1"), 58, Some(icmp_port(129, 0))));
    assert!(!ping.contains_packet(ip("2001:db8:1::1"), 58, Some(icmp_port(128, 0))));
}

#[test]
fn cidr_cover_examples() {
    let c = |s: &str| -> Vec<String> {
        ts(s)
            .to_cidrs()
            .iter()
            .map(|(a, l)| format!("{a}/{l}"))
            .collect()
    };
    assert_eq!(
        c("10.0.0.1-10.0.0.9"),
        ["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/30", "10.0.0.8/31"]
    );
    assert_eq!(c("10.1.0.0/24"), ["10.1.0.0/24"]);
    assert_eq!(c("0.0.0.0/0"), ["0.0.0.0/0"]);
    assert_eq!(c("::/0"), ["::/0"]);
    assert_eq!(c("0.0.0.1-255.255.255.255").len(), 32);
    assert_eq!(c("::1-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff").len(), 128);
    assert_eq!(c("0.0.0.0-255.255.255.254").len(), 32);
    assert_eq!(
        c("2001:db8::ffff-2001:db8::1:0"),
        ["2001:db8::ffff/128", "2001:db8::1:0/128"]
    );
    assert_eq!(c("192.0.2.7"), ["192.0.2.7/32"]);
}
