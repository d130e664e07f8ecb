//! Property tests: for arbitrary typed values of every payload type and of whole
//! messages, `parse(emit(x)) == x`, and emitting the parsed value gives the same
//! octets. Arbitrary octets never panic the parsers.
//!
//! The wire types borrow their variable-length data. proptest values must be
//! `'static`, so the strategies generate owned buffers and leak them
//! ([`leak`]): a few kilobytes per case, in a test process only.

#![allow(clippy::unwrap_used)]

use std::net::{Ipv4Addr, Ipv6Addr};

use ikev2::wire::*;
use proptest::collection::vec;
use proptest::prelude::*;

fn leak(v: Vec<u8>) -> &'static [u8] {
    Box::leak(v.into_boxed_slice())
}

fn bytes(len: impl Into<proptest::collection::SizeRange>) -> impl Strategy<Value = &'static [u8]> {
    vec(any::<u8>(), len).prop_map(leak)
}

// ------------------------------------------------------------------ SA

fn attribute() -> impl Strategy<Value = Attribute<'static>> {
    prop_oneof![
        any::<u16>().prop_map(|v| Attribute {
            ty: AttributeType::KEY_LENGTH,
            value: AttributeValue::Tv(v)
        }),
        (0u16..0x8000, any::<u16>()).prop_map(|(t, v)| Attribute {
            ty: AttributeType(t),
            value: AttributeValue::Tv(v)
        }),
        (
            (0u16..0x8000).prop_filter("KEY_LENGTH is TV only", |t| *t != 14),
            bytes(0..12)
        )
            .prop_map(|(t, d)| Attribute {
                ty: AttributeType(t),
                value: AttributeValue::Tlv(d)
            }),
    ]
}

fn transform() -> impl Strategy<Value = Transform<'static>> {
    (any::<u8>(), any::<u16>(), vec(attribute(), 0..3)).prop_map(|(t, id, attributes)| Transform {
        ty: TransformType(t),
        id,
        attributes,
    })
}

fn protocol_and_spi() -> impl Strategy<Value = (ProtocolId, &'static [u8])> {
    prop_oneof![
        bytes(0..=0).prop_map(|s| (ProtocolId::IKE, s)),
        bytes(8..=8).prop_map(|s| (ProtocolId::IKE, s)),
        bytes(4..=4).prop_map(|s| (ProtocolId::ESP, s)),
        bytes(4..=4).prop_map(|s| (ProtocolId::AH, s)),
        ((4u8..=255).prop_map(ProtocolId), bytes(0..12)),
        bytes(0..12).prop_map(|s| (ProtocolId::NONE, s)),
    ]
}

fn sa() -> impl Strategy<Value = Sa<'static>> {
    let proposal_parts = (protocol_and_spi(), vec(transform(), 0..5), 0u8..=1);
    (1u8..=200, vec(proposal_parts, 1..4)).prop_map(|(first, parts)| {
        let mut num = first;
        let proposals = parts
            .into_iter()
            .map(|((protocol, spi), transforms, step)| {
                num = num.saturating_add(step);
                Proposal {
                    num,
                    protocol,
                    spi,
                    transforms,
                }
            })
            .collect();
        Sa { proposals }
    })
}

// ------------------------------------------------------------------ simple payloads

fn ke() -> impl Strategy<Value = Ke<'static>> {
    (any::<u16>(), bytes(0..300)).prop_map(|(g, data)| Ke {
        group: DhGroup(g),
        data,
    })
}

fn id() -> impl Strategy<Value = Id<'static>> {
    let typed = prop_oneof![
        bytes(4..=4).prop_map(|d| (IdType::IPV4_ADDR, d)),
        bytes(16..=16).prop_map(|d| (IdType::IPV6_ADDR, d)),
        (
            any::<u8>().prop_filter("fixed-size types", |t| *t != 1 && *t != 5),
            bytes(0..64)
        )
            .prop_map(|(t, d)| (IdType(t), d)),
    ];
    (typed, any::<[u8; 3]>()).prop_map(|((id_type, data), reserved)| Id {
        id_type,
        reserved,
        data,
    })
}

fn cert() -> impl Strategy<Value = Cert<'static>> {
    (any::<u8>(), bytes(0..200)).prop_map(|(e, data)| Cert {
        encoding: CertEncoding(e),
        data,
    })
}

fn certreq() -> impl Strategy<Value = CertReq<'static>> {
    (any::<u8>(), bytes(0..100)).prop_map(|(e, data)| CertReq {
        encoding: CertEncoding(e),
        data,
    })
}

fn auth() -> impl Strategy<Value = Auth<'static>> {
    (any::<u8>(), bytes(0..100)).prop_map(|(m, data)| Auth {
        method: AuthMethod(m),
        data,
    })
}

fn nonce() -> impl Strategy<Value = Nonce<'static>> {
    bytes(NONCE_MIN..=NONCE_MAX).prop_map(|data| Nonce { data })
}

fn notify() -> impl Strategy<Value = Notify<'static>> {
    let ty_data = prop_oneof![
        bytes(2..=2).prop_map(|d| (NotifyType::INVALID_KE_PAYLOAD, d)),
        bytes(1..=1).prop_map(|d| (NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD, d)),
        bytes(20..=20).prop_map(|d| (NotifyType::NAT_DETECTION_SOURCE_IP, d)),
        bytes(20..=20).prop_map(|d| (NotifyType::NAT_DETECTION_DESTINATION_IP, d)),
        (
            any::<u16>().prop_filter("fixed-size data", |t| ![1, 17, 16388, 16389].contains(t)),
            bytes(0..64)
        )
            .prop_map(|(t, d)| (NotifyType(t), d)),
    ];
    ((0u8..=3).prop_map(ProtocolId), bytes(0..16), ty_data).prop_map(
        |(protocol, spi, (ty, data))| Notify {
            protocol,
            spi,
            ty,
            data,
        },
    )
}

fn delete() -> impl Strategy<Value = Delete> {
    prop_oneof![
        Just(Delete::ike()),
        (
            prop_oneof![Just(ProtocolId::ESP), Just(ProtocolId::AH)],
            vec(any::<u32>(), 0..10)
        )
            .prop_map(|(protocol, spis)| Delete { protocol, spis }),
    ]
}

fn vendor_id() -> impl Strategy<Value = VendorId<'static>> {
    bytes(0..64).prop_map(|data| VendorId { data })
}

fn eap() -> impl Strategy<Value = Eap<'static>> {
    bytes(0..100).prop_map(|message| Eap { message })
}

fn selector() -> impl Strategy<Value = TrafficSelector<'static>> {
    prop_oneof![
        (
            any::<u8>(),
            any::<u16>(),
            any::<u16>(),
            any::<[u8; 4]>(),
            any::<[u8; 4]>()
        )
            .prop_map(
                |(ip_proto, start_port, end_port, a, b)| TrafficSelector::Ipv4 {
                    ip_proto,
                    start_port,
                    end_port,
                    start: Ipv4Addr::from(a),
                    end: Ipv4Addr::from(b),
                }
            ),
        (
            any::<u8>(),
            any::<u16>(),
            any::<u16>(),
            any::<[u8; 16]>(),
            any::<[u8; 16]>()
        )
            .prop_map(
                |(ip_proto, start_port, end_port, a, b)| TrafficSelector::Ipv6 {
                    ip_proto,
                    start_port,
                    end_port,
                    start: Ipv6Addr::from(a),
                    end: Ipv6Addr::from(b),
                }
            ),
        (
            any::<u8>().prop_filter("address ranges are typed", |t| *t != 7 && *t != 8),
            any::<u8>(),
            bytes(0..32)
        )
            .prop_map(|(t, octet1, data)| TrafficSelector::Other {
                ty: TsType(t),
                octet1,
                data
            }),
    ]
}

fn ts() -> impl Strategy<Value = Ts<'static>> {
    vec(selector(), 0..5).prop_map(|selectors| Ts { selectors })
}

fn cfg_attribute() -> impl Strategy<Value = CfgAttribute<'static>> {
    let sized = |ty: CfgAttributeType, n: usize| {
        prop_oneof![bytes(0..=0), bytes(n..=n)].prop_map(move |v| CfgAttribute::new(ty, v))
    };
    prop_oneof![
        sized(CfgAttributeType::INTERNAL_IP4_ADDRESS, 4),
        sized(CfgAttributeType::INTERNAL_IP4_DNS, 4),
        sized(CfgAttributeType::INTERNAL_IP4_SUBNET, 8),
        sized(CfgAttributeType::INTERNAL_IP6_DNS, 16),
        sized(CfgAttributeType::INTERNAL_IP6_ADDRESS, 17),
        vec(any::<u16>(), 0..4).prop_map(|v| CfgAttribute::new(
            CfgAttributeType::SUPPORTED_ATTRIBUTES,
            leak(v.iter().flat_map(|x| x.to_be_bytes()).collect())
        )),
        // types without a size rule
        (
            prop_oneof![Just(7u16), Just(25), 27u16..0x8000],
            bytes(0..24)
        )
            .prop_map(|(t, v)| CfgAttribute::new(CfgAttributeType(t), v)),
    ]
}

fn cp() -> impl Strategy<Value = Cp<'static>> {
    (any::<u8>(), vec(cfg_attribute(), 0..6)).prop_map(|(t, attributes)| Cp {
        cfg_type: CfgType(t),
        attributes,
    })
}

fn unknown() -> impl Strategy<Value = Payload<'static>> {
    let ty = any::<u8>().prop_filter("unsupported, non-zero", |t| {
        *t != 0 && !Payload::is_supported(PayloadType(*t))
    });
    (ty, bytes(0..40)).prop_map(|(t, body)| Payload::Unknown {
        ty: PayloadType(t),
        critical: false,
        body,
    })
}

fn sk() -> impl Strategy<Value = Sk<'static>> {
    (any::<u8>(), bytes(0..200)).prop_map(|(t, body)| Sk {
        first_inner: PayloadType(t),
        body,
    })
}

fn skf() -> impl Strategy<Value = Skf<'static>> {
    (1u16.., any::<u16>(), any::<u8>(), bytes(0..200)).prop_map(|(total, n, first, body)| {
        let fragment_number = 1 + n % total;
        let first_inner = if fragment_number == 1 {
            PayloadType(first)
        } else {
            PayloadType::NO_NEXT_PAYLOAD
        };
        Skf {
            first_inner,
            fragment_number,
            total_fragments: total,
            body,
        }
    })
}

/// Any payload that may appear before the end of a chain.
fn plain_payload() -> impl Strategy<Value = Payload<'static>> {
    prop_oneof![
        sa().prop_map(Payload::Sa),
        ke().prop_map(Payload::Ke),
        id().prop_map(Payload::IdI),
        id().prop_map(Payload::IdR),
        cert().prop_map(Payload::Cert),
        certreq().prop_map(Payload::CertReq),
        auth().prop_map(Payload::Auth),
        nonce().prop_map(Payload::Nonce),
        notify().prop_map(Payload::Notify),
        delete().prop_map(Payload::Delete),
        vendor_id().prop_map(Payload::VendorId),
        ts().prop_map(Payload::TsI),
        ts().prop_map(Payload::TsR),
        cp().prop_map(Payload::Cp),
        eap().prop_map(Payload::Eap),
        unknown(),
    ]
}

fn header() -> impl Strategy<Value = HeaderRepr> {
    (
        any::<u64>(),
        any::<u64>(),
        0u8..16,
        any::<u8>(),
        any::<u8>(),
        any::<u32>(),
    )
        .prop_map(|(i, r, minor, ex, flags, message_id)| HeaderRepr {
            spi_i: IkeSpi(i),
            spi_r: IkeSpi(r),
            minor_version: minor,
            exchange_type: ExchangeType(ex),
            flags: Flags::from_bits_truncate(flags),
            message_id,
        })
}

fn message() -> impl Strategy<Value = Message<'static>> {
    let last = prop_oneof![
        2 => Just(None),
        1 => sk().prop_map(|s| Some(Payload::Sk(s))),
        1 => skf().prop_map(|s| Some(Payload::Skf(s))),
    ];
    (header(), vec(plain_payload(), 0..8), last).prop_map(|(header, mut payloads, last)| {
        payloads.extend(last);
        Message { header, payloads }
    })
}

// ------------------------------------------------------------------ properties

/// Emits the body, parses it back, and checks both directions.
macro_rules! body_round_trip {
    ($name:ident, $strategy:expr, $ty:ty) => {
        proptest! {
            #[test]
            fn $name(x in $strategy) {
                let mut out = vec![];
                x.emit_body(&mut out).unwrap();
                let y = <$ty>::parse(&out).unwrap();
                prop_assert_eq!(&y, &x);
                let mut again = vec![];
                y.emit_body(&mut again).unwrap();
                prop_assert_eq!(again, out);
            }
        }
    };
}

body_round_trip!(sa_round_trip, sa(), Sa);
body_round_trip!(ke_round_trip, ke(), Ke);
body_round_trip!(id_round_trip, id(), Id);
body_round_trip!(cert_round_trip, cert(), Cert);
body_round_trip!(certreq_round_trip, certreq(), CertReq);
body_round_trip!(auth_round_trip, auth(), Auth);
body_round_trip!(nonce_round_trip, nonce(), Nonce);
body_round_trip!(notify_round_trip, notify(), Notify);
body_round_trip!(delete_round_trip, delete(), Delete);
body_round_trip!(vendor_id_round_trip, vendor_id(), VendorId);
body_round_trip!(ts_round_trip, ts(), Ts);
body_round_trip!(cp_round_trip, cp(), Cp);
body_round_trip!(eap_round_trip, eap(), Eap);

proptest! {
    #[test]
    fn skf_round_trip(x in skf()) {
        let mut out = vec![];
        x.emit_body(&mut out).unwrap();
        prop_assert_eq!(Skf::parse(x.first_inner, &out).unwrap(), x);
    }

    /// Each payload alone in a chain, SK/SKF included (the generic header path).
    #[test]
    fn single_payload_chain_round_trip(
        p in prop_oneof![plain_payload(), sk().prop_map(Payload::Sk), skf().prop_map(Payload::Skf)]
    ) {
        let mut out = vec![];
        let first = emit_payload_chain(std::slice::from_ref(&p), &mut out).unwrap();
        prop_assert_eq!(first, p.payload_type());
        prop_assert_eq!(parse_payload_chain(first, &out).unwrap(), vec![p]);
    }

    #[test]
    fn payload_chain_round_trip(payloads in vec(plain_payload(), 0..10)) {
        let mut out = vec![];
        let first = emit_payload_chain(&payloads, &mut out).unwrap();
        prop_assert_eq!(parse_payload_chain(first, &out).unwrap(), payloads);
    }

    #[test]
    fn message_round_trip(m in message()) {
        let bytes = m.to_vec().unwrap();
        let parsed = Message::parse(&bytes).unwrap();
        prop_assert_eq!(&parsed, &m);
        prop_assert_eq!(parsed.to_vec().unwrap(), bytes.clone());
        let loc = locate_encrypted(&bytes).unwrap();
        prop_assert_eq!(loc.is_some(), m.sk().is_some() || m.skf().is_some());
    }

    /// Mutating one octet of a valid message: parsing never panics, and whatever
    /// parses re-emits to something that parses to the same value.
    #[test]
    fn mutated_messages(m in message(), at in any::<prop::sample::Index>(), v in any::<u8>()) {
        let mut bytes = m.to_vec().unwrap();
        let i = at.index(bytes.len());
        bytes[i] = v;
        if let Ok(p) = Message::parse(&bytes) {
            let again = p.to_vec().unwrap();
            prop_assert_eq!(Message::parse(&again).unwrap(), p);
        }
    }

    #[test]
    fn arbitrary_octets_never_panic(first in any::<u8>(), data in vec(any::<u8>(), 0..512)) {
        let _ = Message::parse(&data);
        let _ = locate_encrypted(&data);
        if let Ok(chain) = parse_payload_chain(PayloadType(first), &data) {
            let mut out = vec![];
            let f = emit_payload_chain(&chain, &mut out).unwrap();
            prop_assert_eq!(parse_payload_chain(f, &out).unwrap(), chain);
        }
    }
}
