//! Whole-message tests: building, emitting and parsing messages; inner (decrypted)
//! payload chains; the SK helpers; and malformed input of every kind.

#![allow(clippy::unwrap_used)]

use std::net::Ipv4Addr;

use ikev2::wire::*;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace([' ', '\n'], "")).unwrap()
}

fn kind_at(e: Error) -> (ErrorKind, usize) {
    (e.kind(), e.offset())
}

const SPI_I: IkeSpi = IkeSpi(0x0102030405060708);
const SPI_R: IkeSpi = IkeSpi(0x1112131415161718);

fn header(exchange: ExchangeType, flags: Flags, message_id: u32) -> HeaderRepr {
    HeaderRepr {
        spi_i: SPI_I,
        spi_r: SPI_R,
        minor_version: 0,
        exchange_type: exchange,
        flags,
        message_id,
    }
}

/// Frames raw payloads by hand: header fields then (next, flags, body) per payload.
fn raw_message(first: u8, version: u8, payloads: &[(u8, u8, &[u8])], extra: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend(SPI_I.to_bytes());
    m.extend(SPI_R.to_bytes());
    m.extend([first, version, 37, 0x08, 0, 0, 0, 1, 0, 0, 0, 0]);
    for (next, flags, body) in payloads {
        m.extend([*next, *flags]);
        m.extend(((body.len() + 4) as u16).to_be_bytes());
        m.extend(*body);
    }
    m.extend(extra);
    let len = (m.len() as u32).to_be_bytes();
    m[24..28].copy_from_slice(&len);
    m
}

/// An IKE_SA_INIT request built with the typed API.
fn ike_sa_init<'a>(ke: &'a [u8], nonce: &'a [u8], natd: &'a [u8]) -> Message<'a> {
    Message {
        header: HeaderRepr {
            spi_r: IkeSpi::ZERO,
            ..header(ExchangeType::IKE_SA_INIT, Flags::INITIATOR, 0)
        },
        payloads: vec![
            Payload::Sa(Sa {
                proposals: vec![Proposal {
                    num: 1,
                    protocol: ProtocolId::IKE,
                    spi: &[],
                    transforms: vec![
                        Transform::encr(EncrId::AES_GCM_16, Some(256)),
                        Transform::prf(PrfId::HMAC_SHA2_256),
                        Transform::dh(DhGroup::CURVE25519),
                    ],
                }],
            }),
            Payload::Ke(Ke {
                group: DhGroup::CURVE25519,
                data: ke,
            }),
            Payload::Nonce(Nonce { data: nonce }),
            Payload::Notify(Notify::new(NotifyType::NAT_DETECTION_SOURCE_IP, natd)),
            Payload::Notify(Notify::new(NotifyType::NAT_DETECTION_DESTINATION_IP, natd)),
            Payload::Notify(Notify::new(NotifyType::IKEV2_FRAGMENTATION_SUPPORTED, &[])),
        ],
    }
}

#[test]
fn emit_computes_lengths_and_next_payloads() {
    let (ke, nonce, natd) = ([0x11; 32], [0x22; 32], [0x33; 20]);
    let msg = ike_sa_init(&ke, &nonce, &natd);
    let bytes = msg.to_vec().unwrap();
    let hdr = Header::new_checked(&bytes).unwrap();
    assert_eq!(hdr.next_payload(), PayloadType::SA);
    assert_eq!(hdr.length() as usize, bytes.len());
    assert_eq!((hdr.major_version(), hdr.minor_version()), (2, 0));
    assert_eq!(hdr.exchange_type(), ExchangeType::IKE_SA_INIT);
    assert_eq!(bytes[19], 0x08);

    // walk the chain by hand: next-payload fields and lengths
    let mut at = 28;
    let mut types = vec![];
    let mut ty = bytes[16];
    while ty != 0 {
        types.push(ty);
        let len = u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]) as usize;
        assert_eq!(bytes[at + 1], 0, "critical bit and reserved are zero");
        ty = bytes[at];
        at += len;
    }
    assert_eq!(at, bytes.len());
    assert_eq!(types, [33, 34, 40, 41, 41, 41]);
    assert_eq!(Message::parse(&bytes).unwrap(), msg);
}

#[test]
fn emit_appends_and_leaves_out_untouched_on_error() {
    let (ke, nonce, natd) = ([0x11; 32], [0x22; 32], [0x33; 20]);
    let msg = ike_sa_init(&ke, &nonce, &natd);
    let mut out = vec![0, 0, 0, 0]; // non-ESP marker
    msg.emit(&mut out).unwrap();
    assert_eq!(&out[..4], &[0, 0, 0, 0]);
    assert_eq!(Message::parse(&out[4..]).unwrap(), msg);

    let short_nonce = [0u8; 8];
    let bad = ike_sa_init(&ke, &short_nonce, &natd);
    let mut out = vec![9, 9];
    let e = bad.emit(&mut out).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidValue);
    assert_eq!(e.structure(), "Nonce payload");
    assert_eq!(out, [9, 9]);
}

#[test]
fn emit_refuses_unencodable_messages() {
    let body = [0u8; 32];
    let sk = Payload::Sk(Sk {
        first_inner: PayloadType::IDI,
        body: &body,
    });
    let n = Payload::Notify(Notify::new(NotifyType::COOKIE, &body));
    // SK not last
    let m = Message {
        header: header(ExchangeType::IKE_AUTH, Flags::INITIATOR, 1),
        payloads: vec![sk.clone(), n.clone()],
    };
    assert_eq!(m.to_vec().unwrap_err().kind(), ErrorKind::EncryptedNotLast);
    // SK last after a plain payload is fine
    let m = Message {
        payloads: vec![n.clone(), sk],
        ..m
    };
    let bytes = m.to_vec().unwrap();
    assert_eq!(Message::parse(&bytes).unwrap(), m);
    // a payload too large for its length field
    let big = vec![0u8; 70_000];
    let m = Message {
        payloads: vec![Payload::Ke(Ke {
            group: DhGroup::MODP_2048,
            data: &big,
        })],
        ..m
    };
    assert_eq!(m.to_vec().unwrap_err().kind(), ErrorKind::TooLarge);
    // too many payloads
    let m = Message {
        payloads: vec![n; MAX_PAYLOADS + 1],
        ..m
    };
    assert_eq!(m.to_vec().unwrap_err().kind(), ErrorKind::TooManyPayloads);
    // an "unknown" payload of a supported type, or of type 0
    for ty in [PayloadType::SA, PayloadType::NO_NEXT_PAYLOAD] {
        let m = Message {
            payloads: vec![Payload::Unknown {
                ty,
                critical: false,
                body: &[],
            }],
            ..m.clone()
        };
        assert_eq!(m.to_vec().unwrap_err().kind(), ErrorKind::InvalidValue);
    }
    // a failed chain emission leaves the buffer as it was
    let mut out = vec![1, 2, 3];
    let bad = [Payload::Nonce(Nonce { data: &[0; 4] })];
    assert!(emit_payload_chain(&bad, &mut out).is_err());
    assert_eq!(out, [1, 2, 3]);
    // minor version beyond its nibble
    let m = Message {
        header: HeaderRepr {
            minor_version: 16,
            ..m.header
        },
        payloads: vec![],
    };
    assert!(m.to_vec().is_err());
}

#[test]
fn empty_message_and_chain() {
    let m = Message {
        header: header(ExchangeType::INFORMATIONAL, Flags::RESPONSE, 3),
        payloads: vec![],
    };
    let bytes = m.to_vec().unwrap();
    assert_eq!(bytes.len(), 28);
    assert_eq!(bytes[16], 0);
    assert_eq!(Message::parse(&bytes).unwrap(), m);
    assert_eq!(
        emit_payload_chain(&[], &mut vec![]).unwrap(),
        PayloadType::NO_NEXT_PAYLOAD
    );
    assert_eq!(
        parse_payload_chain(PayloadType::NO_NEXT_PAYLOAD, &[]).unwrap(),
        vec![]
    );
}

/// The decrypted content of an IKE_AUTH request, as strongSwan sends it.
#[test]
fn inner_chain_of_ike_auth() {
    let ts_any = Ts {
        selectors: vec![TrafficSelector::ipv4_range(
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::BROADCAST,
        )],
    };
    let spi = 0xc5a1_0b2eu32.to_be_bytes();
    let auth_data = [0xab; 32];
    let inner = vec![
        Payload::IdI(Id::new(IdType::FQDN, b"carol.strongswan.org")),
        Payload::Notify(Notify::new(NotifyType::INITIAL_CONTACT, &[])),
        Payload::IdR(Id::new(IdType::FQDN, b"moon.strongswan.org")),
        Payload::Auth(Auth {
            method: AuthMethod::SHARED_KEY_MIC,
            data: &auth_data,
        }),
        Payload::Cp(Cp {
            cfg_type: CfgType::REQUEST,
            attributes: vec![
                CfgAttribute::new(CfgAttributeType::INTERNAL_IP4_ADDRESS, &[]),
                CfgAttribute::new(CfgAttributeType::INTERNAL_IP4_DNS, &[]),
            ],
        }),
        Payload::Notify(Notify::new(NotifyType::ESP_TFC_PADDING_NOT_SUPPORTED, &[])),
        Payload::Sa(Sa {
            proposals: vec![Proposal {
                num: 1,
                protocol: ProtocolId::ESP,
                spi: &spi,
                transforms: vec![
                    Transform::encr(EncrId::AES_GCM_16, Some(256)),
                    Transform::esn(EsnId::NO_ESN),
                ],
            }],
        }),
        Payload::TsI(ts_any.clone()),
        Payload::TsR(ts_any),
        Payload::Notify(Notify::new(NotifyType::MOBIKE_SUPPORTED, &[])),
    ];
    let mut plain = vec![];
    let first = emit_payload_chain(&inner, &mut plain).unwrap();
    assert_eq!(first, PayloadType::IDI);
    let parsed = parse_payload_chain(first, &plain).unwrap();
    assert_eq!(parsed, inner);
    let Payload::Sa(sa) = &parsed[6] else {
        panic!()
    };
    assert_eq!(sa.proposals[0].child_spi(), Some(0xc5a1_0b2e));

    // errors inside an inner chain count from the start of the plaintext
    let mut broken = plain.clone();
    let idi_len = u16::from_be_bytes([plain[2], plain[3]]) as usize;
    broken[idi_len + 2] = 0xff; // the INITIAL_CONTACT notify's length runs past the end
    broken[idi_len + 3] = 0xff;
    assert_eq!(
        kind_at(parse_payload_chain(first, &broken).unwrap_err()),
        (ErrorKind::BadLength, idi_len)
    );
}

#[test]
fn encrypted_header_helper_matches_emit() {
    let hdr = header(ExchangeType::IKE_AUTH, Flags::INITIATOR, 1);
    let body = [0x5c; 64];
    for enc in [
        EncryptedHeader::Sk {
            first_inner: PayloadType::IDI,
        },
        EncryptedHeader::Skf {
            first_inner: PayloadType::IDI,
            fragment_number: 1,
            total_fragments: 3,
        },
        EncryptedHeader::Skf {
            first_inner: PayloadType::NO_NEXT_PAYLOAD,
            fragment_number: 3,
            total_fragments: 3,
        },
    ] {
        let mut out = vec![0, 0, 0, 0];
        let loc = emit_encrypted_header(&hdr, enc, body.len(), &mut out).unwrap();
        assert_eq!(loc.body.start, out.len());
        out.extend(body);
        assert_eq!(loc.body.end, out.len());
        let msg = &out[4..];

        let payload = match enc {
            EncryptedHeader::Sk { first_inner } => Payload::Sk(Sk {
                first_inner,
                body: &body,
            }),
            EncryptedHeader::Skf {
                first_inner,
                fragment_number,
                total_fragments,
            } => Payload::Skf(Skf {
                first_inner,
                fragment_number,
                total_fragments,
                body: &body,
            }),
        };
        let want = Message {
            header: hdr,
            payloads: vec![payload],
        };
        assert_eq!(want.to_vec().unwrap(), msg);
        assert_eq!(Message::parse(msg).unwrap(), want);

        // locate_encrypted on the datagram gives the same ranges, shifted by the marker
        let found = locate_encrypted(msg).unwrap().unwrap();
        assert_eq!(found.aad, 0..loc.aad.end - 4);
        assert_eq!(found.body, loc.body.start - 4..loc.body.end - 4);
        assert_eq!(found.ty, loc.ty);
        let extra = if loc.ty == PayloadType::SKF { 4 } else { 0 };
        assert_eq!(found.aad.end, 28 + 4 + extra);
    }
    let bad = EncryptedHeader::Skf {
        first_inner: PayloadType::IDI,
        fragment_number: 2,
        total_fragments: 1,
    };
    assert!(emit_encrypted_header(&hdr, bad, 0, &mut vec![]).is_err());
    let too_big = emit_encrypted_header(
        &hdr,
        EncryptedHeader::Sk {
            first_inner: PayloadType::IDI,
        },
        70_000,
        &mut vec![],
    );
    assert_eq!(too_big.unwrap_err().kind(), ErrorKind::TooLarge);
}

#[test]
fn locate_encrypted_without_sk() {
    let (ke, nonce, natd) = ([0x11; 32], [0x22; 32], [0x33; 20]);
    let bytes = ike_sa_init(&ke, &nonce, &natd).to_vec().unwrap();
    assert_eq!(locate_encrypted(&bytes).unwrap(), None);
    assert!(locate_encrypted(&bytes[..20]).is_err());
    // a truncated SKF (no fragment fields) is an error
    let m = raw_message(53, 0x20, &[(0, 0, &[0, 1])], &[]);
    assert_eq!(
        locate_encrypted(&m).unwrap_err().kind(),
        ErrorKind::Truncated
    );
}

// ------------------------------------------------------------------ malformed input

fn sample() -> Vec<u8> {
    let (ke, nonce, natd) = ([0x11; 32], [0x22; 32], [0x33; 20]);
    ike_sa_init(&ke, &nonce, &natd).to_vec().unwrap()
}

#[test]
fn truncated_at_every_length() {
    let full = sample();
    for n in 0..full.len() {
        // as received: the header length no longer matches
        assert!(Message::parse(&full[..n]).is_err(), "{n}");
        // with the header length fixed up, the chain itself is truncated
        if n >= 28 {
            let mut t = full[..n].to_vec();
            t[24..28].copy_from_slice(&(n as u32).to_be_bytes());
            let e = Message::parse(&t).unwrap_err();
            assert!(
                matches!(e.kind(), ErrorKind::Truncated | ErrorKind::BadLength),
                "{n}: {e}"
            );
        }
    }
    assert_eq!(
        kind_at(Message::parse(&full[..27]).unwrap_err()),
        (ErrorKind::Truncated, 0)
    );
}

#[test]
fn header_length_must_equal_datagram() {
    let mut m = sample();
    let n = m.len();
    m.push(0);
    assert_eq!(
        kind_at(Message::parse(&m).unwrap_err()),
        (ErrorKind::BadLength, 24)
    );
    m.truncate(n);
    m[27] = m[27].wrapping_add(1);
    assert_eq!(
        kind_at(Message::parse(&m).unwrap_err()),
        (ErrorKind::BadLength, 24)
    );
}

#[test]
fn trailing_data_after_the_chain() {
    let m = raw_message(43, 0x20, &[(0, 0, b"vid")], &[0, 0, 0, 4]);
    assert_eq!(
        kind_at(Message::parse(&m).unwrap_err()),
        (ErrorKind::TrailingData, 35)
    );
}

#[test]
fn payload_length_past_the_end_and_zero_length() {
    let mut m = raw_message(43, 0x20, &[(43, 0, b"vid"), (0, 0, b"x")], &[]);
    m[28 + 7 + 3] = 9; // second payload says 9 octets, 5 remain
    assert_eq!(
        kind_at(Message::parse(&m).unwrap_err()),
        (ErrorKind::BadLength, 35)
    );
    for len in 0..4u8 {
        m[28 + 7 + 3] = len;
        assert_eq!(
            kind_at(Message::parse(&m).unwrap_err()),
            (ErrorKind::BadLength, 35),
            "{len}"
        );
    }
    // length 4 is an empty body: fine for a Vendor ID, not for a Nonce
    let m = raw_message(43, 0x20, &[(0, 0, b"")], &[]);
    assert_eq!(
        Message::parse(&m).unwrap().payloads,
        vec![Payload::VendorId(VendorId { data: &[] })]
    );
    let m = raw_message(40, 0x20, &[(0, 0, b"")], &[]);
    let e = Message::parse(&m).unwrap_err();
    assert_eq!(
        (kind_at(e), e.notify()),
        ((ErrorKind::InvalidValue, 32), NotifyType::INVALID_SYNTAX)
    );
}

#[test]
fn payload_count_cap() {
    let vids: Vec<(u8, u8, &[u8])> = (0..MAX_PAYLOADS)
        .map(|i| (if i + 1 == MAX_PAYLOADS { 0 } else { 43 }, 0, &b""[..]))
        .collect();
    let ok = raw_message(43, 0x20, &vids, &[]);
    assert_eq!(Message::parse(&ok).unwrap().payloads.len(), MAX_PAYLOADS);
    let mut vids = vids;
    vids.last_mut().unwrap().0 = 43;
    vids.push((0, 0, b""));
    let over = raw_message(43, 0x20, &vids, &[]);
    let e = Message::parse(&over).unwrap_err();
    assert_eq!(
        kind_at(e),
        (ErrorKind::TooManyPayloads, 28 + 4 * MAX_PAYLOADS)
    );
    // a chain that never ends: every payload names another, data runs out
    let endless = raw_message(43, 0x20, &[(43, 0, b""), (43, 0, b"")], &[]);
    assert_eq!(
        Message::parse(&endless).unwrap_err().kind(),
        ErrorKind::Truncated
    );
}

#[test]
fn unknown_payloads() {
    // non-critical: kept raw, skipped, round-trips
    let m = raw_message(200, 0x20, &[(43, 0, b"opaque"), (0, 0, b"vid")], &[]);
    let msg = Message::parse(&m).unwrap();
    assert_eq!(
        msg.payloads,
        vec![
            Payload::Unknown {
                ty: PayloadType(200),
                critical: false,
                body: b"opaque"
            },
            Payload::VendorId(VendorId { data: b"vid" }),
        ]
    );
    assert_eq!(msg.to_vec().unwrap(), m);
    // critical: the message is rejected and the error names the type
    let m = raw_message(43, 0x20, &[(200, 0, b"vid"), (0, 0x80, b"opaque")], &[]);
    let e = Message::parse(&m).unwrap_err();
    assert_eq!(
        kind_at(e),
        (ErrorKind::UnsupportedCritical(PayloadType(200)), 35)
    );
    assert_eq!(e.notify(), NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD);
    assert!(e.to_string().contains("PayloadType(200)"), "{e}");
    // registered but unimplemented types (GSPM, PS, ...) are unknown too
    let m = raw_message(54, 0x20, &[(0, 0x80, b"")], &[]);
    assert_eq!(
        Message::parse(&m).unwrap_err().kind(),
        ErrorKind::UnsupportedCritical(PayloadType::PS)
    );
    // the critical bit of a known payload is ignored
    let m = raw_message(43, 0x20, &[(0, 0x80, b"vid")], &[]);
    assert_eq!(
        Message::parse(&m).unwrap().payloads,
        vec![Payload::VendorId(VendorId { data: b"vid" })]
    );
}

#[test]
fn wrong_major_version() {
    for (v, major) in [(0x10, 1), (0x30, 3), (0xf2, 15)] {
        let m = raw_message(0, v, &[], &[]);
        let e = Message::parse(&m).unwrap_err();
        assert_eq!(kind_at(e), (ErrorKind::InvalidMajorVersion(major), 17));
        assert_eq!(e.notify(), NotifyType::INVALID_MAJOR_VERSION);
        // the SPIs can still be read to answer
        assert_eq!(Header::new_checked(&m).unwrap().spi_i(), SPI_I);
    }
    // minor versions are accepted and kept
    let m = raw_message(0, 0x27, &[], &[]);
    let msg = Message::parse(&m).unwrap();
    assert_eq!(msg.header.minor_version, 7);
    assert_eq!(msg.to_vec().unwrap(), m);
}

#[test]
fn bad_substructure_in_a_message() {
    // one proposal whose flag says more proposals follow
    let sa = h("02 00 0010 01 01 00 01 00 00 0008 04 00 0013");
    let m = raw_message(33, 0x20, &[(0, 0, &sa)], &[]);
    let e = Message::parse(&m).unwrap_err();
    assert_eq!(
        (kind_at(e), e.structure()),
        ((ErrorKind::BadSubstructure, 32), "proposal")
    );
    assert_eq!(e.notify(), NotifyType::INVALID_SYNTAX);
}

#[test]
fn sk_must_be_last() {
    let m = raw_message(46, 0x20, &[(35, 0, &[0; 32]), (0, 0, b"vid")], &[]);
    let e = Message::parse(&m).unwrap_err();
    assert_eq!(kind_at(e), (ErrorKind::EncryptedNotLast, 28 + 36));
    assert!(locate_encrypted(&m).is_err());
    let m = raw_message(53, 0x20, &[(35, 0, &h("0001 0001 00")), (0, 0, b"")], &[]);
    assert_eq!(
        Message::parse(&m).unwrap_err().kind(),
        ErrorKind::EncryptedNotLast
    );
    // SK last, after a plain payload: its next payload is the first inner payload
    let m = raw_message(43, 0x20, &[(46, 0, b"vid"), (35, 0, &[7; 32])], &[]);
    let msg = Message::parse(&m).unwrap();
    assert_eq!(
        msg.sk(),
        Some(&Sk {
            first_inner: PayloadType::IDI,
            body: &[7; 32]
        })
    );
    assert_eq!(msg.to_vec().unwrap(), m);
    let loc = locate_encrypted(&m).unwrap().unwrap();
    assert_eq!(loc.aad, 0..28 + 7 + 4);
}

#[test]
fn regression_inputs() {
    // inputs that once failed (or are tricky) in fuzzing; must error or round-trip
    let cases: &[&[u8]] = &[&[], &[0; 28], &[0xff; 64]];
    for c in cases {
        if let Ok(m) = Message::parse(c) {
            assert_eq!(Message::parse(&m.to_vec().unwrap()).unwrap(), m);
        }
    }
}
