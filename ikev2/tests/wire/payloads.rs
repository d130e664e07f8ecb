//! Per-payload tests on hand-built byte strings: parse, emit, round trip, and the
//! error (kind and offset) at each truncation boundary.

#![allow(clippy::unwrap_used)]

use std::net::{Ipv4Addr, Ipv6Addr};

use ikev2::wire::*;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace([' ', '\n'], "")).unwrap()
}

fn kind_at(e: Error) -> (ErrorKind, usize) {
    (e.kind(), e.offset())
}

// ---------------------------------------------------------------- SA

/// Two IKE proposals: AES-CBC-256/SHA2-256/PRF-SHA2-256/ECP-256 and
/// AES-GCM-16-128/PRF-SHA2-256/CURVE25519.
const SA_BODY: &str = "
    02 00 002c  01 01 00 04
      03 00 000c 01 00 000c 800e 0100
      03 00 0008 03 00 000c
      03 00 0008 02 00 0005
      00 00 0008 04 00 0013
    00 00 0024  02 01 00 03
      03 00 000c 01 00 0014 800e 0080
      03 00 0008 02 00 0005
      00 00 0008 04 00 001f";

#[test]
fn sa_parse() {
    let b = h(SA_BODY);
    let sa = Sa::parse(&b).unwrap();
    assert_eq!(sa.proposals.len(), 2);
    let p = &sa.proposals[0];
    assert_eq!((p.num, p.protocol, p.spi), (1, ProtocolId::IKE, &[][..]));
    assert_eq!(p.transforms.len(), 4);
    assert_eq!(p.transforms[0].encr_id(), Some(EncrId::AES_CBC));
    assert_eq!(p.transforms[0].key_length(), Some(256));
    assert_eq!(p.transforms[1].integ_id(), Some(IntegId::HMAC_SHA2_256_128));
    assert_eq!(p.transforms[2].prf_id(), Some(PrfId::HMAC_SHA2_256));
    assert_eq!(p.transforms[3].dh_group(), Some(DhGroup::ECP_256));
    assert_eq!(p.transforms[3].encr_id(), None);
    let p = &sa.proposals[1];
    assert_eq!(p.num, 2);
    assert_eq!(p.transforms_of(TransformType::ENCR).count(), 1);
    assert_eq!(p.transforms[0].encr_id(), Some(EncrId::AES_GCM_16));
    assert_eq!(p.transforms[0].key_length(), Some(128));
    assert_eq!(p.transforms[2].dh_group(), Some(DhGroup::CURVE25519));
}

#[test]
fn sa_emit() {
    let sa = Sa {
        proposals: vec![
            Proposal {
                num: 1,
                protocol: ProtocolId::IKE,
                spi: &[],
                transforms: vec![
                    Transform::encr(EncrId::AES_CBC, Some(256)),
                    Transform::integ(IntegId::HMAC_SHA2_256_128),
                    Transform::prf(PrfId::HMAC_SHA2_256),
                    Transform::dh(DhGroup::ECP_256),
                ],
            },
            Proposal {
                num: 2,
                protocol: ProtocolId::IKE,
                spi: &[],
                transforms: vec![
                    Transform::encr(EncrId::AES_GCM_16, Some(128)),
                    Transform::prf(PrfId::HMAC_SHA2_256),
                    Transform::dh(DhGroup::CURVE25519),
                ],
            },
        ],
    };
    let mut out = vec![];
    sa.emit_body(&mut out).unwrap();
    assert_eq!(out, h(SA_BODY));
}

#[test]
fn sa_esp_proposal_with_spi_and_tlv_attribute() {
    let b = h("00 00 0024 01 03 04 02 c0ffee01
               03 00 000c 01 00 0014 800e 0100
               00 00 000c 05 00 0000 0063 0000");
    let sa = Sa::parse(&b).unwrap();
    let p = &sa.proposals[0];
    assert_eq!(p.child_spi(), Some(0xc0ffee01));
    assert_eq!(p.ike_spi(), None);
    assert_eq!(p.transforms[1].esn_id(), Some(EsnId::NO_ESN));
    assert_eq!(
        p.transforms[1].attributes,
        vec![Attribute {
            ty: AttributeType(0x63),
            value: AttributeValue::Tlv(&[])
        }]
    );
    let mut out = vec![];
    sa.emit_body(&mut out).unwrap();
    assert_eq!(out, b);
}

#[test]
fn sa_check_len() {
    let b = h(SA_BODY);
    // every truncation is an error: a length runs past the end, a flag says "more",
    // or the SA is empty
    for n in 0..b.len() {
        assert!(Sa::parse(&b[..n]).is_err(), "truncated to {n}");
    }
    assert_eq!(
        kind_at(Sa::parse(&[]).unwrap_err()),
        (ErrorKind::BadSubstructure, 0)
    );
    assert_eq!(
        kind_at(Sa::parse(&b[..3]).unwrap_err()),
        (ErrorKind::Truncated, 2)
    );
    // proposal length 0x2c runs past the end
    assert_eq!(
        kind_at(Sa::parse(&b[..20]).unwrap_err()),
        (ErrorKind::BadLength, 0)
    );
    // cut after proposal 1, which says "more"
    assert_eq!(
        kind_at(Sa::parse(&b[..0x2c]).unwrap_err()),
        (ErrorKind::BadSubstructure, 0)
    );
}

#[test]
fn sa_substructure_flags() {
    let mut b = h(SA_BODY);
    b[0] = 0; // first proposal claims to be last
    let e = Sa::parse(&b).unwrap_err();
    assert_eq!(kind_at(e), (ErrorKind::BadSubstructure, 0));
    assert_eq!(e.structure(), "proposal");

    let mut b = h(SA_BODY);
    b[0x2c] = 2; // last proposal claims more
    assert_eq!(
        kind_at(Sa::parse(&b).unwrap_err()),
        (ErrorKind::BadSubstructure, 0x2c)
    );

    let mut b = h(SA_BODY);
    b[0] = 3; // the transform value in a proposal
    assert_eq!(
        kind_at(Sa::parse(&b).unwrap_err()),
        (ErrorKind::BadSubstructure, 0)
    );

    let mut b = h(SA_BODY);
    b[8] = 2; // the proposal value in a transform
    let e = Sa::parse(&b).unwrap_err();
    assert_eq!(
        (kind_at(e), e.structure()),
        ((ErrorKind::BadSubstructure, 8), "transform")
    );

    let mut b = h(SA_BODY);
    b[8 + 12 + 8 + 8] = 3; // last transform claims more
    assert_eq!(
        kind_at(Sa::parse(&b).unwrap_err()),
        (ErrorKind::BadSubstructure, 36)
    );

    // transform count one too low: the last announced transform says "more"
    let mut b = h(SA_BODY);
    b[7] = 3;
    assert_eq!(
        kind_at(Sa::parse(&b).unwrap_err()),
        (ErrorKind::BadSubstructure, 28)
    );
    // transform count one too high: runs into the end of the proposal
    let mut b = h(SA_BODY);
    b[7] = 5;
    assert_eq!(
        Sa::parse(&b).unwrap_err().kind(),
        ErrorKind::BadSubstructure
    );
}

#[test]
fn sa_lengths() {
    // proposal length below its header
    let mut b = h(SA_BODY);
    b[3] = 3;
    assert_eq!(
        kind_at(Sa::parse(&b).unwrap_err()),
        (ErrorKind::BadLength, 0)
    );
    // transform length below 8
    let mut b = h(SA_BODY);
    b[11] = 7;
    assert_eq!(
        kind_at(Sa::parse(&b).unwrap_err()),
        (ErrorKind::BadLength, 8)
    );
    // transform length past its proposal
    let mut b = h(SA_BODY);
    b[11] = 0x40;
    assert_eq!(
        kind_at(Sa::parse(&b).unwrap_err()),
        (ErrorKind::BadLength, 8)
    );
    // TLV attribute length past the transform
    let b = h("00 00 0014 01 01 00 01  00 00 000c 01 00 000c 0063 0001");
    let e = Sa::parse(&b).unwrap_err();
    assert_eq!(
        (kind_at(e), e.structure()),
        ((ErrorKind::Truncated, 20), "transform attribute")
    );
}

#[test]
fn sa_values() {
    // proposal number 0
    let mut b = h(SA_BODY);
    b[4] = 0;
    assert_eq!(
        kind_at(Sa::parse(&b).unwrap_err()),
        (ErrorKind::InvalidValue, 4)
    );
    // decreasing numbers
    let mut b = h(SA_BODY);
    b[4] = 3;
    assert_eq!(
        kind_at(Sa::parse(&b).unwrap_err()),
        (ErrorKind::InvalidValue, 0x2c + 4)
    );
    // equal numbers are accepted (strongSwan does the same)
    let mut b = h(SA_BODY);
    b[0x2c + 4] = 1;
    assert!(Sa::parse(&b).is_ok());
    // a response carries the accepted proposal with its number
    let b = h("00 00 0010 05 01 00 01 00 00 0008 04 00 0013");
    assert_eq!(Sa::parse(&b).unwrap().proposals[0].num, 5);
    // SPI size 4 in an IKE proposal
    let b = h("00 00 000c 01 01 04 00 11223344");
    assert_eq!(
        kind_at(Sa::parse(&b).unwrap_err()),
        (ErrorKind::InvalidValue, 6)
    );
    // SPI size 0 in an ESP proposal
    let b = h("00 00 0008 01 03 00 00");
    assert_eq!(
        kind_at(Sa::parse(&b).unwrap_err()),
        (ErrorKind::InvalidValue, 6)
    );
    // an unknown protocol keeps whatever SPI it has
    let b = h("00 00 000b 01 09 03 00 aabbcc");
    assert_eq!(Sa::parse(&b).unwrap().proposals[0].spi, &[0xaa, 0xbb, 0xcc]);
    // KEY_LENGTH in TLV format
    let b = h("00 00 0014 01 01 00 01  00 00 000c 01 00 000c 000e 0000");
    assert_eq!(
        kind_at(Sa::parse(&b).unwrap_err()),
        (ErrorKind::InvalidValue, 16)
    );
}

#[test]
fn sa_emit_refuses_what_parse_rejects() {
    let t = || vec![Transform::dh(DhGroup::ECP_256)];
    let p = |num, protocol, spi: &'static [u8]| Proposal {
        num,
        protocol,
        spi,
        transforms: t(),
    };
    let bad = [
        Sa { proposals: vec![] },
        Sa {
            proposals: vec![p(0, ProtocolId::IKE, &[])],
        },
        Sa {
            proposals: vec![p(2, ProtocolId::IKE, &[]), p(1, ProtocolId::IKE, &[])],
        },
        Sa {
            proposals: vec![p(1, ProtocolId::ESP, &[1, 2])],
        },
        Sa {
            proposals: vec![p(1, ProtocolId::IKE, &[1, 2, 3, 4])],
        },
        Sa {
            proposals: vec![Proposal {
                transforms: vec![Transform {
                    ty: TransformType::ENCR,
                    id: 12,
                    attributes: vec![Attribute {
                        ty: AttributeType::KEY_LENGTH,
                        value: AttributeValue::Tlv(&[1, 0]),
                    }],
                }],
                ..p(1, ProtocolId::IKE, &[])
            }],
        },
        Sa {
            proposals: vec![Proposal {
                transforms: vec![Transform {
                    ty: TransformType::ENCR,
                    id: 12,
                    attributes: vec![Attribute {
                        ty: AttributeType(0x8001),
                        value: AttributeValue::Tv(1),
                    }],
                }],
                ..p(1, ProtocolId::IKE, &[])
            }],
        },
    ];
    for sa in bad {
        assert!(sa.emit_body(&mut vec![]).is_err(), "{sa:?}");
    }
    let many = Sa {
        proposals: vec![Proposal {
            transforms: vec![Transform::dh(DhGroup::ECP_256); 256],
            ..p(1, ProtocolId::IKE, &[])
        }],
    };
    assert_eq!(
        many.emit_body(&mut vec![]).unwrap_err().kind(),
        ErrorKind::TooLarge
    );
}

// ---------------------------------------------------------------- KE, Nonce, Auth

#[test]
fn ke() {
    let b = h("001f 0000 0102030405");
    let ke = Ke::parse(&b).unwrap();
    assert_eq!(
        ke,
        Ke {
            group: DhGroup::CURVE25519,
            data: &[1, 2, 3, 4, 5]
        }
    );
    let mut out = vec![];
    ke.emit_body(&mut out).unwrap();
    assert_eq!(out, b);
    for n in 0..4 {
        assert_eq!(Ke::parse(&b[..n]).unwrap_err().kind(), ErrorKind::Truncated);
    }
    // reserved octets are ignored and sent as zero
    let b2 = h("001f ffff 0102030405");
    let mut out = vec![];
    Ke::parse(&b2).unwrap().emit_body(&mut out).unwrap();
    assert_eq!(out, b);
}

#[test]
fn nonce_bounds() {
    let data = [7u8; 300];
    assert_eq!(
        kind_at(Nonce::parse(&data[..15]).unwrap_err()),
        (ErrorKind::InvalidValue, 0)
    );
    assert_eq!(Nonce::parse(&data[..16]).unwrap().data.len(), 16);
    assert_eq!(Nonce::parse(&data[..256]).unwrap().data.len(), 256);
    assert!(Nonce::parse(&data[..257]).is_err());
    assert!(Nonce { data: &data[..8] }.emit_body(&mut vec![]).is_err());
    let mut out = vec![];
    Nonce { data: &data[..32] }.emit_body(&mut out).unwrap();
    assert_eq!(out, &data[..32]);
}

#[test]
fn auth() {
    let b = h("02 000000 00112233");
    let a = Auth::parse(&b).unwrap();
    assert_eq!(
        a,
        Auth {
            method: AuthMethod::SHARED_KEY_MIC,
            data: &[0, 0x11, 0x22, 0x33]
        }
    );
    let mut out = vec![];
    a.emit_body(&mut out).unwrap();
    assert_eq!(out, b);
    for n in 0..4 {
        assert_eq!(
            Auth::parse(&b[..n]).unwrap_err().kind(),
            ErrorKind::Truncated
        );
    }
}

// ---------------------------------------------------------------- ID

#[test]
fn id_types() {
    let cases: Vec<(Vec<u8>, IdValue<'static>)> = vec![
        (
            h("01000000 c0000201"),
            IdValue::Ipv4(Ipv4Addr::new(192, 0, 2, 1)),
        ),
        (
            h("05000000 20010db8000000000000000000000001"),
            IdValue::Ipv6("2001:db8::1".parse::<Ipv6Addr>().unwrap()),
        ),
        (h("02000000 6d6f6f6e"), IdValue::Fqdn(b"moon")),
        (h("03000000 6140622e63"), IdValue::Rfc822(b"a@b.c")),
        (h("0b000000 0102"), IdValue::KeyId(&[1, 2])),
        (h("09000000 3000"), IdValue::DerAsn1Dn(&[0x30, 0])),
        (h("0d000000"), IdValue::Other(IdType::NULL, &[])),
        (h("fe000000 99"), IdValue::Other(IdType(254), &[0x99])),
    ];
    for (b, want) in cases {
        let id = Id::parse(&b).unwrap();
        assert_eq!(id.value(), want);
        let mut out = vec![];
        id.emit_body(&mut out).unwrap();
        assert_eq!(out, b);
        assert_eq!(id.auth_octets(), b);
    }
}

#[test]
fn id_reserved_octets_are_kept_for_auth() {
    let b = h("02 010203 6d6f6f6e");
    let id = Id::parse(&b).unwrap();
    assert_eq!(id.reserved, [1, 2, 3]);
    assert_eq!(id.auth_octets(), b);
    assert_eq!(
        Id::new(IdType::FQDN, b"moon").auth_octets(),
        h("02000000 6d6f6f6e")
    );
}

#[test]
fn id_check_len() {
    for n in 0..4 {
        assert_eq!(
            Id::parse(&h("02000000")[..n]).unwrap_err().kind(),
            ErrorKind::Truncated
        );
    }
    assert_eq!(
        kind_at(Id::parse(&h("01000000 c00002")).unwrap_err()),
        (ErrorKind::InvalidValue, 4)
    );
    assert_eq!(
        kind_at(Id::parse(&h("05000000 c0000201")).unwrap_err()),
        (ErrorKind::InvalidValue, 4)
    );
    assert!(
        Id::new(IdType::IPV4_ADDR, &[1, 2, 3])
            .emit_body(&mut vec![])
            .is_err()
    );
    assert_eq!(
        Id::new(IdType::IPV4_ADDR, &[1, 2, 3]).value(),
        IdValue::Other(IdType::IPV4_ADDR, &[1, 2, 3])
    );
}

// ---------------------------------------------------------------- CERT, CERTREQ

#[test]
fn cert_and_certreq() {
    let b = h("04 308201");
    let c = Cert::parse(&b).unwrap();
    assert_eq!(
        c,
        Cert {
            encoding: CertEncoding::X509_SIGNATURE,
            data: &[0x30, 0x82, 0x01]
        }
    );
    let mut out = vec![];
    c.emit_body(&mut out).unwrap();
    assert_eq!(out, b);
    assert_eq!(Cert::parse(&[]).unwrap_err().kind(), ErrorKind::Truncated);

    let mut b = vec![4u8];
    b.extend([0xaa; 20]);
    b.extend([0xbb; 20]);
    let r = CertReq::parse(&b).unwrap();
    assert_eq!(
        r.ca_key_hashes().unwrap().collect::<Vec<_>>(),
        vec![&[0xaa; 20][..], &[0xbb; 20]]
    );
    let mut out = vec![];
    r.emit_body(&mut out).unwrap();
    assert_eq!(out, b);
    assert!(CertReq::parse(&b[..30]).unwrap().ca_key_hashes().is_none());
    assert_eq!(
        CertReq::parse(&[]).unwrap_err().kind(),
        ErrorKind::Truncated
    );
}

// ---------------------------------------------------------------- Notify

#[test]
fn notify_parse_and_accessors() {
    let n = h("00 00 0011 0013");
    let n = Notify::parse(&n).unwrap();
    assert_eq!(n.ty, NotifyType::INVALID_KE_PAYLOAD);
    assert_eq!(n.invalid_ke_group(), Some(DhGroup::ECP_256));
    assert_eq!(n.unsupported_critical_payload(), None);

    let b = h("00 00 0001 99");
    let n = Notify::parse(&b).unwrap();
    assert_eq!(n.unsupported_critical_payload(), Some(PayloadType(0x99)));

    let b = h("03 04 4009 c0ffee01");
    let n = Notify::parse(&b).unwrap();
    assert_eq!(
        (n.protocol, n.ty, n.child_spi()),
        (ProtocolId::ESP, NotifyType::REKEY_SA, Some(0xc0ffee01))
    );
    let mut out = vec![];
    n.emit_body(&mut out).unwrap();
    assert_eq!(out, b);

    let mut b = h("00 00 4004");
    b.extend([0x5a; 20]);
    let n = Notify::parse(&b).unwrap();
    assert_eq!(n.nat_detection_hash(), Some(&[0x5a; 20]));

    let b = h("00 00 402f 0002 0003 0004");
    let n = Notify::parse(&b).unwrap();
    assert_eq!(
        n.signature_hash_algorithms().unwrap().collect::<Vec<_>>(),
        vec![2, 3, 4]
    );
    let b = h("00 00 402f 000200");
    let n = Notify::parse(&b).unwrap();
    assert!(n.signature_hash_algorithms().is_none());

    let b = h("00 00 402e");
    let n = Notify::parse(&b).unwrap();
    assert_eq!(
        n,
        Notify::new(NotifyType::IKEV2_FRAGMENTATION_SUPPORTED, &[])
    );
}

#[test]
fn notify_check_len_and_values() {
    let b = h("03 04 4009 c0ffee01");
    for n in 0..8 {
        assert_eq!(
            Notify::parse(&b[..n]).unwrap_err().kind(),
            ErrorKind::Truncated,
            "{n}"
        );
    }
    assert_eq!(
        kind_at(Notify::parse(&b[..6]).unwrap_err()),
        (ErrorKind::Truncated, 4)
    );
    // unknown protocol
    assert_eq!(
        kind_at(Notify::parse(&h("07 00 4009")).unwrap_err()),
        (ErrorKind::InvalidValue, 0)
    );
    // fixed-size data of the wrong size
    assert_eq!(
        kind_at(Notify::parse(&h("00 00 0011 13")).unwrap_err()),
        (ErrorKind::InvalidValue, 4)
    );
    assert_eq!(
        kind_at(Notify::parse(&h("00 00 4005 1234")).unwrap_err()),
        (ErrorKind::InvalidValue, 4)
    );
    assert!(
        Notify::new(NotifyType::INVALID_KE_PAYLOAD, &[1])
            .emit_body(&mut vec![])
            .is_err()
    );
    assert!(
        Notify::with_spi(ProtocolId(9), &[], NotifyType::COOKIE, &[])
            .emit_body(&mut vec![])
            .is_err()
    );
}

// ---------------------------------------------------------------- Delete

#[test]
fn delete() {
    let b = h("01 00 0000");
    assert_eq!(Delete::parse(&b).unwrap(), Delete::ike());
    let mut out = vec![];
    Delete::ike().emit_body(&mut out).unwrap();
    assert_eq!(out, b);

    let b = h("03 04 0002 c0ffee01 c0ffee02");
    let d = Delete::parse(&b).unwrap();
    assert_eq!(d, Delete::esp(vec![0xc0ffee01, 0xc0ffee02]));
    let mut out = vec![];
    d.emit_body(&mut out).unwrap();
    assert_eq!(out, b);

    for n in 0..b.len() {
        assert!(Delete::parse(&b[..n]).is_err(), "{n}");
    }
    assert_eq!(
        kind_at(Delete::parse(&b[..11]).unwrap_err()),
        (ErrorKind::Truncated, 8)
    );
    // more SPIs than announced
    assert_eq!(
        kind_at(Delete::parse(&h("03 04 0001 c0ffee01 c0ffee02")).unwrap_err()),
        (ErrorKind::BadSubstructure, 2)
    );
    // the SPI count of an IKE delete describes no octets and is ignored
    assert_eq!(Delete::parse(&h("01 00 0003")).unwrap(), Delete::ike());
    // IKE with an SPI size, ESP with SPI size 8, unknown protocol, protocol NONE
    for bad in [
        "01 08 0000",
        "03 08 0001 0000000000000001",
        "09 04 0000",
        "00 00 0000",
    ] {
        assert_eq!(
            kind_at(Delete::parse(&h(bad)).unwrap_err()),
            (ErrorKind::InvalidValue, 0),
            "{bad}"
        );
    }
    let bad = Delete {
        protocol: ProtocolId::IKE,
        spis: vec![1],
    };
    assert!(bad.emit_body(&mut vec![]).is_err());
}

// ---------------------------------------------------------------- Vendor ID, EAP

#[test]
fn vendor_and_eap_are_opaque() {
    let vid = h("882fe56d6fd20dbc2251613b2ebe5beb");
    assert_eq!(VendorId::parse(&vid).unwrap().data, &vid[..]);
    assert_eq!(VendorId::parse(&[]).unwrap().data, &[] as &[u8]);
    let eap = h("02 01 0009 01 616c696365");
    let e = Eap::parse(&eap).unwrap();
    let mut out = vec![];
    e.emit_body(&mut out).unwrap();
    assert_eq!(out, eap);
}

// ---------------------------------------------------------------- TS

const TS_BODY: &str = "
    03 000000
    07 00 0010 0000 ffff 0a000000 0affffff
    08 06 0028 01bb 01bb 20010db8000000000000000000000000 20010db8ffffffffffffffffffffffff
    0a 00 0008 01020304";

#[test]
fn ts_parse_emit() {
    let b = h(TS_BODY);
    let ts = Ts::parse(&b).unwrap();
    assert_eq!(
        ts.selectors,
        vec![
            TrafficSelector::ipv4_range(
                Ipv4Addr::new(10, 0, 0, 0),
                Ipv4Addr::new(10, 255, 255, 255)
            ),
            TrafficSelector::Ipv6 {
                ip_proto: 6,
                start_port: 443,
                end_port: 443,
                start: "2001:db8::".parse().unwrap(),
                end: "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff".parse().unwrap(),
            },
            TrafficSelector::Other {
                ty: TsType::SECLABEL,
                octet1: 0,
                data: &[1, 2, 3, 4]
            },
        ]
    );
    assert_eq!(ts.selectors[2].ts_type(), TsType::SECLABEL);
    let mut out = vec![];
    ts.emit_body(&mut out).unwrap();
    assert_eq!(out, b);
}

#[test]
fn ts_check_len() {
    let b = h(TS_BODY);
    for n in 0..b.len() {
        assert!(Ts::parse(&b[..n]).is_err(), "{n}");
    }
    assert_eq!(
        kind_at(Ts::parse(&b[..4]).unwrap_err()),
        (ErrorKind::Truncated, 4)
    );
    assert_eq!(
        kind_at(Ts::parse(&b[..10]).unwrap_err()),
        (ErrorKind::BadLength, 4)
    );
    // IPv4 selector with length 40 (and enough data)
    let mut b2 = h(TS_BODY);
    b2[7] = 0x14;
    assert_eq!(
        kind_at(Ts::parse(&b2).unwrap_err()),
        (ErrorKind::BadLength, 4)
    );
    // selector length below its header
    let mut b2 = h(TS_BODY);
    b2[7] = 3;
    assert_eq!(
        kind_at(Ts::parse(&b2).unwrap_err()),
        (ErrorKind::BadLength, 4)
    );
    // fewer selectors announced than present
    let mut b2 = h(TS_BODY);
    b2[0] = 2;
    assert_eq!(
        kind_at(Ts::parse(&b2).unwrap_err()),
        (ErrorKind::BadSubstructure, 4 + 16 + 40)
    );
    // emitting an address-range type as raw would not round-trip
    let raw = Ts {
        selectors: vec![TrafficSelector::Other {
            ty: TsType::IPV4_ADDR_RANGE,
            octet1: 0,
            data: &[],
        }],
    };
    assert!(raw.emit_body(&mut vec![]).is_err());
}

// ---------------------------------------------------------------- CP

#[test]
fn cp_parse_emit() {
    let b = h("01 000000  0001 0000  0003 0000  0008 0000  000e 0004 00010003  8019 0000");
    let cp = Cp::parse(&b).unwrap();
    assert_eq!(cp.cfg_type, CfgType::REQUEST);
    let types: Vec<_> = cp.attributes.iter().map(|a| a.ty).collect();
    assert_eq!(
        types,
        [
            CfgAttributeType::INTERNAL_IP4_ADDRESS,
            CfgAttributeType::INTERNAL_IP4_DNS,
            CfgAttributeType::INTERNAL_IP6_ADDRESS,
            CfgAttributeType::SUPPORTED_ATTRIBUTES,
            // the R bit is masked off
            CfgAttributeType::INTERNAL_DNS_DOMAIN,
        ]
    );
    let mut out = vec![];
    cp.emit_body(&mut out).unwrap();
    let mut want = b.clone();
    want[b.len() - 4] = 0; // R bit sent as 0
    assert_eq!(out, want);

    let reply = h(
        "02 000000  0001 0004 0a000001  0008 0011 20010db8000000000000000000000001 40  000d 0008 0a000000 ff000000",
    );
    let cp = Cp::parse(&reply).unwrap();
    assert_eq!(cp.attributes[0].ipv4(), Some(Ipv4Addr::new(10, 0, 0, 1)));
    assert_eq!(
        cp.attributes[1].ipv6_prefix(),
        Some(("2001:db8::1".parse().unwrap(), 64))
    );
    assert_eq!(
        cp.attributes[2].ipv4_subnet(),
        Some((Ipv4Addr::new(10, 0, 0, 0), Ipv4Addr::new(255, 0, 0, 0)))
    );
    assert_eq!(cp.attributes[0].ipv6(), None);
    let mut out = vec![];
    cp.emit_body(&mut out).unwrap();
    assert_eq!(out, reply);
}

#[test]
fn cp_check_len() {
    let b = h("02 000000 0001 0004 0a000001");
    for n in 0..4 {
        assert_eq!(Cp::parse(&b[..n]).unwrap_err().kind(), ErrorKind::Truncated);
    }
    assert!(Cp::parse(&b[..4]).unwrap().attributes.is_empty());
    for n in 5..b.len() {
        let e = Cp::parse(&b[..n]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Truncated, "{n}");
        assert_eq!(e.structure(), "configuration attribute");
    }
    // an IPv4 address of 3 octets
    let e = Cp::parse(&h("02 000000 0001 0003 0a0000")).unwrap_err();
    assert_eq!(kind_at(e), (ErrorKind::InvalidValue, 4));
    assert!(Cp::parse(&h("02 000000 000e 0003 000100")).is_err());
    let bad = Cp {
        cfg_type: CfgType::REPLY,
        attributes: vec![CfgAttribute::new(
            CfgAttributeType::INTERNAL_IP6_ADDRESS,
            &[0; 16],
        )],
    };
    assert!(bad.emit_body(&mut vec![]).is_err());
}

// ---------------------------------------------------------------- SK, SKF

#[test]
fn skf_fields() {
    let b = h("0001 0002 00112233");
    let f = Skf::parse(PayloadType::IDI, &b).unwrap();
    assert_eq!(
        (f.first_inner, f.fragment_number, f.total_fragments),
        (PayloadType::IDI, 1, 2)
    );
    assert_eq!(f.body, &[0, 0x11, 0x22, 0x33]);
    let mut out = vec![];
    f.emit_body(&mut out).unwrap();
    assert_eq!(out, b);

    // a next payload in a later fragment is ignored
    let b = h("0002 0002 00");
    let f = Skf::parse(PayloadType::IDI, &b).unwrap();
    assert_eq!(f.first_inner, PayloadType::NO_NEXT_PAYLOAD);
    for bad in ["0000 0002", "0003 0002", "0001 0000"] {
        assert_eq!(
            kind_at(Skf::parse(PayloadType::IDI, &h(bad)).unwrap_err()),
            (ErrorKind::InvalidValue, 0)
        );
    }
    for n in 0..4 {
        assert_eq!(
            Skf::parse(PayloadType::IDI, &b[..n]).unwrap_err().kind(),
            ErrorKind::Truncated
        );
    }
    let bad = Skf {
        first_inner: PayloadType::IDI,
        fragment_number: 2,
        total_fragments: 2,
        body: &[],
    };
    assert!(bad.emit_body(&mut vec![]).is_err());
}

// ---------------------------------------------------------------- errors

#[test]
fn error_display_and_notify() {
    let e = Nonce::parse(&[0; 4]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Nonce payload: field holds a value the protocol forbids (at byte offset 0)"
    );
    assert_eq!(e.notify(), NotifyType::INVALID_SYNTAX);
    fn is_error<E: std::error::Error + Copy + Send + Sync + 'static>(_: E) {}
    is_error(e);
}
