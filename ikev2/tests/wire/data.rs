//! `serialize(parse(bytes)) == bytes` for every `tests/data/*.bin` message, plus the
//! generator of the hand-made samples checked in there.
//!
//! The samples are assembled here from raw octets with a few lines of independent
//! framing code (not the library's emitter), modelled on what strongSwan sends. The
//! checked-in files must equal what the generator builds; to rewrite them run
//! `cargo test -p ikev2 --test wire -- --ignored data::write_samples`.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};

use ikev2::wire::*;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("data")
}

fn bin_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(data_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .collect();
    files.sort();
    files
}

#[test]
fn data_files_round_trip() {
    let files = bin_files();
    assert!(
        !files.is_empty(),
        "no .bin files in {}",
        data_dir().display()
    );
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = fs::read(&path).unwrap();
        let msg = Message::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let out = msg.to_vec().unwrap_or_else(|e| panic!("{name}: emit: {e}"));
        assert_eq!(hex::encode(&out), hex::encode(&bytes), "{name}");
        assert_eq!(Message::parse(&out).unwrap(), msg, "{name}");

        // the located SK/SKF body is the parsed one, and the AAD ends right before it
        let loc = locate_encrypted(&bytes).unwrap();
        match (msg.payloads.last(), loc) {
            (Some(Payload::Sk(sk)), Some(loc)) => {
                assert_eq!(&bytes[loc.body.clone()], sk.body, "{name}");
                assert_eq!((loc.ty, loc.first_inner), (PayloadType::SK, sk.first_inner));
                assert_eq!(loc.aad.end, bytes.len() - sk.body.len());
            }
            (Some(Payload::Skf(skf)), Some(loc)) => {
                assert_eq!(&bytes[loc.body.clone()], skf.body, "{name}");
                assert_eq!(loc.ty, PayloadType::SKF);
            }
            (_, None) => assert!(msg.sk().is_none() && msg.skf().is_none(), "{name}"),
            (_, Some(_)) => panic!("{name}: located an encrypted payload that parse did not"),
        }
    }
}

#[test]
fn samples_match_checked_in_files() {
    for (name, bytes) in samples() {
        let path = data_dir().join(name);
        let on_disk = fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; run the ignored test write_samples",
                path.display()
            )
        });
        assert_eq!(hex::encode(on_disk), hex::encode(bytes), "{name}");
    }
}

#[test]
#[ignore = "rewrites tests/data/handmade_*.bin"]
fn write_samples() {
    for (name, bytes) in samples() {
        fs::write(data_dir().join(name), bytes).unwrap();
    }
}

#[test]
fn samples_have_the_expected_payloads() {
    use PayloadType as P;
    let want: &[(&str, ExchangeType, &[PayloadType])] = &[
        (
            "handmade_ike_sa_init_request.bin",
            ExchangeType::IKE_SA_INIT,
            &[
                P::SA,
                P::KE,
                P::NONCE,
                P::NOTIFY,
                P::NOTIFY,
                P::NOTIFY,
                P::NOTIFY,
                P::NOTIFY,
                P::VENDOR_ID,
            ],
        ),
        (
            "handmade_ike_sa_init_response.bin",
            ExchangeType::IKE_SA_INIT,
            &[
                P::SA,
                P::KE,
                P::NONCE,
                P::NOTIFY,
                P::NOTIFY,
                P::CERTREQ,
                P::NOTIFY,
                P::NOTIFY,
                P::NOTIFY,
            ],
        ),
        (
            "handmade_ike_sa_init_invalid_ke.bin",
            ExchangeType::IKE_SA_INIT,
            &[P::NOTIFY],
        ),
        (
            "handmade_ike_sa_init_cookie.bin",
            ExchangeType::IKE_SA_INIT,
            &[P::NOTIFY],
        ),
        (
            "handmade_ike_auth_request_sk.bin",
            ExchangeType::IKE_AUTH,
            &[P::SK],
        ),
        (
            "handmade_ike_auth_response_sk.bin",
            ExchangeType::IKE_AUTH,
            &[P::SK],
        ),
        (
            "handmade_ike_auth_request_skf_1of2.bin",
            ExchangeType::IKE_AUTH,
            &[P::SKF],
        ),
        (
            "handmade_ike_auth_request_skf_2of2.bin",
            ExchangeType::IKE_AUTH,
            &[P::SKF],
        ),
        (
            "handmade_informational_dpd_request.bin",
            ExchangeType::INFORMATIONAL,
            &[P::SK],
        ),
    ];
    let samples = samples();
    assert_eq!(samples.len(), want.len());
    for ((name, bytes), (want_name, exchange, types)) in samples.iter().zip(want) {
        assert_eq!(name, want_name);
        let msg = Message::parse(bytes).unwrap();
        assert_eq!(msg.header.exchange_type, *exchange, "{name}");
        let got: Vec<_> = msg.payloads.iter().map(Payload::payload_type).collect();
        assert_eq!(&got, types, "{name}");
    }
}

#[test]
fn ike_sa_init_request_details() {
    let s = samples();
    let msg = Message::parse(&s[0].1).unwrap();
    assert_eq!(msg.header.flags, Flags::INITIATOR);
    assert!(msg.header.spi_r.is_zero());
    let Payload::Sa(sa) = &msg.payloads[0] else {
        panic!("SA first")
    };
    assert_eq!(sa.proposals.len(), 2);
    assert_eq!(sa.proposals[0].transforms[0].key_length(), Some(256));
    let Payload::Ke(ke) = &msg.payloads[1] else {
        panic!("KE second")
    };
    assert_eq!((ke.group, ke.data.len()), (DhGroup::CURVE25519, 32));
    let notifies: Vec<NotifyType> = msg
        .payloads
        .iter()
        .filter_map(|p| match p {
            Payload::Notify(n) => Some(n.ty),
            _ => None,
        })
        .collect();
    assert_eq!(
        notifies,
        [
            NotifyType::NAT_DETECTION_SOURCE_IP,
            NotifyType::NAT_DETECTION_DESTINATION_IP,
            NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
            NotifyType::SIGNATURE_HASH_ALGORITHMS,
            NotifyType::REDIRECT_SUPPORTED,
        ]
    );
    let invalid_ke = Message::parse(&s[2].1).unwrap();
    let Payload::Notify(n) = &invalid_ke.payloads[0] else {
        panic!()
    };
    assert_eq!(n.invalid_ke_group(), Some(DhGroup::ECP_256));
}

#[test]
fn fragments_reassemble_to_the_same_inner_first_payload() {
    let s = samples();
    let f1 = Message::parse(&s[6].1).unwrap();
    let f2 = Message::parse(&s[7].1).unwrap();
    let (a, b) = (f1.skf().unwrap(), f2.skf().unwrap());
    assert_eq!(
        (a.fragment_number, a.total_fragments, a.first_inner),
        (1, 2, PayloadType::IDI)
    );
    assert_eq!(
        (b.fragment_number, b.total_fragments, b.first_inner),
        (2, 2, PayloadType::NO_NEXT_PAYLOAD)
    );
    assert_eq!(f1.header.message_id, f2.header.message_id);
}

// ------------------------------------------------------------------ the generator

/// Deterministic filler bytes (xorshift), standing in for nonces, keys and ciphertext.
struct Filler(u64);

impl Filler {
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                (self.0 >> 24) as u8
            })
            .collect()
    }
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace([' ', '\n'], "")).unwrap()
}

/// Frames a message by hand: header, then each (type, body) with a generic header.
/// An SK/SKF payload gets `inner` as its next payload.
fn frame(
    spi_i: u64,
    spi_r: u64,
    exchange: u8,
    flags: u8,
    mid: u32,
    payloads: &[(u8, Vec<u8>)],
    inner: u8,
) -> Vec<u8> {
    let mut body = Vec::new();
    for (i, (ty, b)) in payloads.iter().enumerate() {
        let next = if *ty == 46 || *ty == 53 {
            inner
        } else {
            payloads.get(i + 1).map_or(0, |p| p.0)
        };
        body.push(next);
        body.push(0);
        body.extend(((b.len() + 4) as u16).to_be_bytes());
        body.extend(b);
    }
    let mut m = Vec::new();
    m.extend(spi_i.to_be_bytes());
    m.extend(spi_r.to_be_bytes());
    m.push(payloads.first().map_or(0, |p| p.0));
    m.push(0x20);
    m.push(exchange);
    m.push(flags);
    m.extend(mid.to_be_bytes());
    m.extend(((body.len() + 28) as u32).to_be_bytes());
    m.extend(body);
    m
}

fn notify(ty: u16, data: &[u8]) -> (u8, Vec<u8>) {
    let mut b = vec![0, 0];
    b.extend(ty.to_be_bytes());
    b.extend(data);
    (41, b)
}

pub fn samples() -> Vec<(&'static str, Vec<u8>)> {
    let mut f = Filler(0x9e37_79b9_7f4a_7c15);
    let spi_i = 0x5fd3_1a02_7c44_e9b1;
    let spi_r = 0xa1b2_c3d4_0e0f_1011;

    // IKE_SA_INIT request: aes256-sha256-prfsha256-{ecp256,x25519} and
    // aes128gcm16-prfsha256-x25519, KE x25519, nonce, NAT-D, fragmentation,
    // signature hash algorithms, redirect, strongSwan vendor ID.
    let sa_init = h("
        02 00 0034  01 01 00 05
          03 00 000c 01 00 000c 800e 0100
          03 00 0008 03 00 000c
          03 00 0008 02 00 0005
          03 00 0008 04 00 0013
          00 00 0008 04 00 001f
        00 00 0024  02 01 00 03
          03 00 000c 01 00 0014 800e 0080
          03 00 0008 02 00 0005
          00 00 0008 04 00 001f");
    let mut ke = h("001f 0000");
    ke.extend(f.bytes(32));
    let init_req = frame(
        spi_i,
        0,
        34,
        0x08,
        0,
        &[
            (33, sa_init),
            (34, ke),
            (40, f.bytes(32)),
            notify(16388, &f.bytes(20)),
            notify(16389, &f.bytes(20)),
            notify(16430, &[]),
            notify(16431, &h("0002 0003 0004 0005")),
            notify(16406, &[]),
            (43, h("882fe56d6fd20dbc2251613b2ebe5beb")),
        ],
        0,
    );

    // IKE_SA_INIT response: the chosen proposal (number 1), KE, nonce, NAT-D, CERTREQ
    // with two CA key hashes, fragmentation, signature hashes, multiple auth.
    let sa_resp = h("
        00 00 002c  01 01 00 04
          03 00 000c 01 00 000c 800e 0100
          03 00 0008 03 00 000c
          03 00 0008 02 00 0005
          00 00 0008 04 00 001f");
    let mut ke = h("001f 0000");
    ke.extend(f.bytes(32));
    let mut certreq = vec![4];
    certreq.extend(f.bytes(40));
    let init_resp = frame(
        spi_i,
        spi_r,
        34,
        0x20,
        0,
        &[
            (33, sa_resp),
            (34, ke),
            (40, f.bytes(48)),
            notify(16388, &f.bytes(20)),
            notify(16389, &f.bytes(20)),
            (38, certreq),
            notify(16430, &[]),
            notify(16431, &h("0002 0003 0004")),
            notify(16404, &[]),
        ],
        0,
    );

    // The responder wants ECP-256 instead.
    let invalid_ke = frame(spi_i, 0, 34, 0x20, 0, &[notify(17, &h("0013"))], 0);
    // The responder is under load and asks for a cookie.
    let cookie = frame(spi_i, 0, 34, 0x20, 0, &[notify(16390, &f.bytes(32))], 0);

    // IKE_AUTH with AES-CBC + HMAC-SHA2-256-128: IV (16) | ciphertext | ICV (16).
    let sk = |f: &mut Filler, blocks: usize| f.bytes(16 + 16 * blocks + 16);
    let auth_req = frame(spi_i, spi_r, 35, 0x08, 1, &[(46, sk(&mut f, 21))], 35);
    let auth_resp = frame(spi_i, spi_r, 35, 0x20, 1, &[(46, sk(&mut f, 17))], 36);

    // The same request split into two fragments (RFC 7383).
    let mut frag1 = h("0001 0002");
    frag1.extend(sk(&mut f, 12));
    let mut frag2 = h("0002 0002");
    frag2.extend(sk(&mut f, 9));
    let skf1 = frame(spi_i, spi_r, 35, 0x08, 1, &[(53, frag1)], 35);
    let skf2 = frame(spi_i, spi_r, 35, 0x08, 1, &[(53, frag2)], 0);

    // DPD: an empty INFORMATIONAL request (SK with no inner payload, one padding block).
    let dpd = frame(spi_i, spi_r, 37, 0x00, 7, &[(46, sk(&mut f, 1))], 0);

    vec![
        ("handmade_ike_sa_init_request.bin", init_req),
        ("handmade_ike_sa_init_response.bin", init_resp),
        ("handmade_ike_sa_init_invalid_ke.bin", invalid_ke),
        ("handmade_ike_sa_init_cookie.bin", cookie),
        ("handmade_ike_auth_request_sk.bin", auth_req),
        ("handmade_ike_auth_response_sk.bin", auth_resp),
        ("handmade_ike_auth_request_skf_1of2.bin", skf1),
        ("handmade_ike_auth_request_skf_2of2.bin", skf2),
        ("handmade_informational_dpd_request.bin", dpd),
    ]
}

// ------------------------------------------------------------------ fuzz seeds

/// Decrypted SK contents, as seeds for the `ike_message` fuzz target (whose chain
/// parsing starts with IDi, SA, Notify or Delete). The messages above reach the
/// fuzzer through `scripts/fuzz-smoke`, which copies `tests/data/*.bin`.
fn inner_chain_seeds() -> Vec<(&'static str, Vec<u8>)> {
    use std::net::Ipv4Addr;
    let spi = 0xc5a1_0b2eu32.to_be_bytes();
    let esp = |spi: &'static [u8]| Sa {
        proposals: vec![Proposal {
            num: 1,
            protocol: ProtocolId::ESP,
            spi,
            transforms: vec![
                Transform::encr(EncrId::AES_CBC, Some(128)),
                Transform::integ(IntegId::HMAC_SHA2_256_128),
                Transform::esn(EsnId::NO_ESN),
            ],
        }],
    };
    let spi: &'static [u8] = Box::leak(Box::new(spi));
    let ts = Ts {
        selectors: vec![
            TrafficSelector::ipv4_range(Ipv4Addr::new(10, 1, 0, 0), Ipv4Addr::new(10, 1, 255, 255)),
            TrafficSelector::ipv6_range("fec1::".parse().unwrap(), "fec1::ffff".parse().unwrap()),
        ],
    };
    let chains = vec![
        (
            "inner_ike_auth_request.bin",
            vec![
                Payload::IdI(Id::new(IdType::RFC822_ADDR, b"carol@strongswan.org")),
                Payload::CertReq(CertReq {
                    encoding: CertEncoding::X509_SIGNATURE,
                    data: &[0x44; 20],
                }),
                Payload::Notify(Notify::new(NotifyType::INITIAL_CONTACT, &[])),
                Payload::IdR(Id::new(IdType::IPV4_ADDR, &[192, 168, 0, 1])),
                Payload::Auth(Auth {
                    method: AuthMethod::DIGITAL_SIGNATURE,
                    data: &[0x55; 72],
                }),
                Payload::Cp(Cp {
                    cfg_type: CfgType::REQUEST,
                    attributes: vec![
                        CfgAttribute::new(CfgAttributeType::INTERNAL_IP4_ADDRESS, &[]),
                        CfgAttribute::new(CfgAttributeType::INTERNAL_IP6_ADDRESS, &[]),
                    ],
                }),
                Payload::Sa(esp(spi)),
                Payload::TsI(ts.clone()),
                Payload::TsR(ts.clone()),
            ],
        ),
        (
            "inner_create_child_sa_request.bin",
            vec![
                Payload::Notify(Notify::with_spi(
                    ProtocolId::ESP,
                    spi,
                    NotifyType::REKEY_SA,
                    &[],
                )),
                Payload::Sa(esp(spi)),
                Payload::Nonce(Nonce { data: &[0x66; 32] }),
                Payload::Ke(Ke {
                    group: DhGroup::ECP_256,
                    data: &[0x77; 64],
                }),
                Payload::TsI(ts.clone()),
                Payload::TsR(ts),
            ],
        ),
        (
            "inner_informational_delete.bin",
            vec![
                Payload::Delete(Delete::esp(vec![0xc5a1_0b2e, 0xc5a1_0b2f])),
                Payload::Delete(Delete::ike()),
            ],
        ),
    ];
    chains
        .into_iter()
        .map(|(name, payloads)| {
            let mut out = vec![];
            emit_payload_chain(&payloads, &mut out).unwrap();
            (name, out)
        })
        .collect()
}

#[test]
fn fuzz_seeds_parse() {
    let firsts = [PayloadType::IDI, PayloadType::NOTIFY, PayloadType::DELETE];
    for ((name, bytes), first) in inner_chain_seeds().into_iter().zip(firsts) {
        let chain = parse_payload_chain(first, &bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!chain.is_empty());
    }
}

#[test]
#[ignore = "rewrites fuzz/seeds/ike_message/inner_*.bin"]
fn write_fuzz_seeds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/ike_message");
    fs::create_dir_all(&dir).unwrap();
    for (name, bytes) in inner_chain_seeds() {
        fs::write(dir.join(name), bytes).unwrap();
    }
}
