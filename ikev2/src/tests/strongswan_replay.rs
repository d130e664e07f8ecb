//! Replays strongSwan 5.9.8's real IKE_AUTH request to our responder.
//!
//! We cannot redo strongSwan's Diffie-Hellman (its private value is gone), so the
//! responder IKE SA is set up from the keys the capture recorded (keymat.json); then
//! the captured IKE_AUTH request goes in through `handle_datagram` on port 4500. This
//! checks, on real bytes: SK decryption, the initiator's PSK AUTH, ID matching, ESP
//! proposal selection, TS narrowing, CHILD SA key derivation (against strongSwan's
//! ESP keys) and our own AUTH, which must equal strongSwan's byte for byte (same
//! IKE_SA_INIT response, nonce, SK_pr and ID).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;

use crate::ChildSaState;
use crate::config::{ChildConfig, ConnectionConfig, EndpointConfig, SharedSecret};
use crate::crypto::algorithms::{EncrAlgorithm, IkeSuite, IntegAlgorithm, PrfAlgorithm};
use crate::crypto::keymat::IkeKeys;
use crate::crypto::proposal::Proposal;
use crate::crypto::secret::SecretBytes;
use crate::crypto::sk::{FragmentAssembler, FragmentLimits, Opened, Reassembly, SkProtector};
use crate::event::Event;
use crate::ike_sa::{IkeSa, SaCrypto, State};
use crate::nat::NatStatus;
use crate::wire::{DhGroup, IkeSpi, Payload, ProtocolId, parse_payload_chain};
use crate::{Endpoint, wire};

fn data(scenario: &str, file: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/strongswan")
        .join(scenario)
        .join(file);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn hex_field(v: &Value, k: &str) -> Vec<u8> {
    hex::decode(v[k].as_str().unwrap_or_else(|| panic!("{k}"))).unwrap()
}

fn node_b(ike: &str, esp: &str, fragment_size: usize) -> Endpoint {
    let mut c = ConnectionConfig::new("lab");
    c.local_addrs = vec!["192.0.2.2".parse().unwrap()];
    c.remote_addrs = vec!["192.0.2.1".parse().unwrap()];
    c.local_id = "192.0.2.2".parse().unwrap();
    c.remote_id = "192.0.2.1".parse().unwrap();
    c.proposals = Proposal::parse_list(ProtocolId::IKE, ike).unwrap();
    let mut child = ChildConfig::new("net");
    // Wider than strongSwan's proposal on our remote side: narrowed to 10.1.0.0/24.
    child.local_ts = vec!["10.2.0.0/24".parse().unwrap()];
    child.remote_ts = vec!["10.0.0.0/8".parse().unwrap()];
    child.esp_proposals = Proposal::parse_list(ProtocolId::ESP, esp).unwrap();
    c.children = vec![child];
    let cfg = EndpointConfig {
        connections: vec![c],
        secrets: vec![SharedSecret::new(
            vec!["192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap()],
            "ikev2d-strongswan-lab-psk",
        )],
        fragment_size,
        ..EndpointConfig::default()
    };
    Endpoint::new(Arc::new(cfg), [3; 32])
}

/// One captured scenario to replay.
struct Scenario {
    name: &'static str,
    suite: IkeSuite,
    ike: &'static str,
    esp: &'static str,
    fragment_size: usize,
    /// The IKE_AUTH request as sent (one message or every fragment).
    request: &'static [&'static str],
    /// strongSwan's decrypted IKE_AUTH response.
    response_inner: &'static str,
    /// Also replay the INFORMATIONAL and CREATE_CHILD_SA requests that followed
    /// (the modp2048 capture's sequence).
    followups: bool,
}

const CBC: IkeSuite = IkeSuite {
    encr: EncrAlgorithm::AesCbc { key_bits: 256 },
    integ: Some(IntegAlgorithm::HmacSha256_128),
    prf: PrfAlgorithm::HmacSha256,
    dh: DhGroup::MODP_2048,
    addke: IkeSuite::NO_ADDKE,
};

#[test]
fn verifies_and_answers_strongswans_ike_auth() {
    replay(&Scenario {
        name: "modp2048",
        suite: CBC,
        ike: "aes256-sha256-modp2048",
        esp: "aes256gcm16",
        fragment_size: 1280,
        request: &["03-ike_auth-req-4500.bin"],
        response_inner: "decrypted/04-ike_auth-resp.inner.bin",
        followups: true,
    });
}

#[test]
fn reassembles_strongswans_fragments_and_fragments_the_answer() {
    replay(&Scenario {
        name: "fragmentation",
        suite: CBC,
        ike: "aes256-sha256-modp2048",
        esp: "aes256gcm16-aes128gcm16,aes256-aes128-sha256-sha384-sha512,chacha20poly1305",
        fragment_size: 200,
        request: &[
            "03-ike_auth-req-4500-frag1of4.bin",
            "04-ike_auth-req-4500-frag2of4.bin",
            "05-ike_auth-req-4500-frag3of4.bin",
            "06-ike_auth-req-4500-frag4of4.bin",
        ],
        response_inner: "decrypted/08-ike_auth-resp.inner.bin",
        followups: false,
    });
}

#[test]
fn aead_ike_sa_and_pfs_group_in_ike_auth() {
    replay(&Scenario {
        name: "aead-pfs",
        suite: IkeSuite {
            encr: EncrAlgorithm::AesGcm {
                key_bits: 256,
                icv_len: 16,
            },
            integ: None,
            prf: PrfAlgorithm::HmacSha256,
            dh: DhGroup::CURVE25519,
            addke: IkeSuite::NO_ADDKE,
        },
        ike: "aes256gcm16-prfsha256-curve25519",
        esp: "aes256gcm16-curve25519",
        fragment_size: 1280,
        request: &["03-ike_auth-req-4500.bin"],
        response_inner: "decrypted/04-ike_auth-resp.inner.bin",
        followups: false,
    });
}

fn replay(sc: &Scenario) {
    let name = sc.name;
    let keymat: Value = serde_json::from_slice(&data(name, "keymat.json")).expect("keymat.json");
    let ike = &keymat["ike_sas"][0];
    let child = &keymat["child_sas"][0];
    let suite = sc.suite;
    let key = |k: &str| SecretBytes::new(hex_field(ike, k));
    let keys = IkeKeys {
        sk_d: key("sk_d"),
        sk_ai: key("sk_ai"),
        sk_ar: key("sk_ar"),
        sk_ei: key("sk_ei"),
        sk_er: key("sk_er"),
        sk_pi: key("sk_pi"),
        sk_pr: key("sk_pr"),
    };
    let spi = |k: &str| IkeSpi::from_bytes(hex_field(ike, k).try_into().unwrap());
    let now = Instant::now();
    let mut ep = node_b(sc.ike, sc.esp, sc.fragment_size);
    let conn = ep.connection(0);
    let a500: SocketAddr = "192.0.2.1:500".parse().unwrap();
    let b500: SocketAddr = "192.0.2.2:500".parse().unwrap();
    let mut sa = IkeSa::new(
        crate::event::IkeSaId(1),
        conn.clone(),
        false,
        spi("spi_i"),
        spi("spi_r"),
        b500,
        a500,
        now,
    );
    sa.candidates = vec![conn];
    sa.crypto = Some(SaCrypto::new(suite, keys, false, false).unwrap());
    sa.ni = hex_field(ike, "ni");
    sa.nr = hex_field(ike, "nr");
    sa.init_request = data(name, "01-ike_sa_init-req-500.bin");
    sa.init_response = data(name, "02-ike_sa_init-resp-500.bin");
    sa.state = State::Authenticating;
    sa.nat = NatStatus {
        local_behind_nat: false,
        remote_behind_nat: true,
    };
    sa.nat_t = true;
    sa.peer_fragmentation = true;
    sa.responses.answered(0, vec![sa.init_response.clone()]);
    ep.insert_sa(sa);

    // strongSwan's IKE_AUTH request, on port 4500 (the captures hold the messages
    // without the non-ESP marker, as a daemon's socket edge hands them over).
    let a4500: SocketAddr = "192.0.2.1:4500".parse().unwrap();
    let b4500: SocketAddr = "192.0.2.2:4500".parse().unwrap();
    let datagrams: Vec<Vec<u8>> = sc.request.iter().map(|f| data(name, f)).collect();
    for d in &datagrams {
        ep.handle_datagram(now, b4500, a4500, d);
    }

    let mut up = None;
    let mut installed = None;
    while let Some(e) = ep.poll_event() {
        match e {
            Event::IkeSaUp(u) => up = Some(u),
            Event::ChildSaInstalled(c) => installed = Some(c),
            other => panic!("{name}: unexpected event {other:?}"),
        }
    }
    let up = up.expect("IKE SA up: strongSwan's AUTH verified");
    assert_eq!(up.remote_id.to_string(), "192.0.2.1");
    assert_eq!((up.local, up.remote), (b4500, a4500), "floated to 4500");
    let c = installed.expect("CHILD SA installed");
    assert_eq!(
        c.keys.encr_in.expose(),
        hex_field(child, "encr_i"),
        "{name}"
    );
    assert_eq!(
        c.keys.encr_out.expose(),
        hex_field(child, "encr_r"),
        "{name}"
    );
    assert_eq!(
        c.keys.integ_in.expose(),
        hex_field(child, "integ_i"),
        "{name}"
    );
    assert_eq!(
        c.keys.integ_out.expose(),
        hex_field(child, "integ_r"),
        "{name}"
    );
    let a_spi_in = u32::from_str_radix(child["spi_in"].as_str().unwrap(), 16).unwrap();
    assert_eq!(c.spi_out, a_spi_in, "we send with strongSwan's inbound SPI");
    assert!(c.encap);
    assert_eq!(c.suite.dh, None, "no PFS in IKE_AUTH");
    assert_eq!(c.local_ts[0].to_string(), "10.2.0.0/24");
    assert_eq!(c.remote_ts[0].to_string(), "10.1.0.0/24");

    // Our response, decrypted (and reassembled) the way strongSwan would.
    let mut sent = Vec::new();
    while let Some(t) = ep.poll_transmit() {
        assert_eq!((t.local, t.remote), (b4500, a4500));
        assert_eq!(t.kind, crate::TransmitKind::Ike);
        // IP, UDP and the non-ESP marker the sender adds on port 4500.
        assert!(
            t.payload.len() + 28 + 4 <= sc.fragment_size,
            "{name}: too big"
        );
        sent.push(t.payload);
    }
    assert_eq!(
        sent.len() > 1,
        sc.fragment_size < 1280,
        "{name}: fragmented iff small"
    );
    let initiator = SkProtector::initiator(
        suite.encr,
        suite.integ,
        &hex_field(ike, "sk_ei"),
        &hex_field(ike, "sk_ai"),
        &hex_field(ike, "sk_er"),
        &hex_field(ike, "sk_ar"),
    )
    .unwrap();
    let mut asm = FragmentAssembler::new(FragmentLimits::default());
    let mut plain = None;
    for m in &sent {
        match initiator.open(m).expect("our response verifies") {
            Opened::Message(p) => plain = Some(p),
            Opened::Fragment(f) => {
                if let Reassembly::Complete(p) = asm.add(f).unwrap() {
                    plain = Some(p);
                }
            }
        }
    }
    let plain = plain.expect("complete response");
    let ours = parse_payload_chain(plain.next_payload, &plain.payloads).unwrap();
    let theirs_bytes = data(name, sc.response_inner);
    let theirs = parse_payload_chain(wire::PayloadType::IDR, &theirs_bytes).unwrap();
    let auth = |p: &[Payload<'_>]| {
        p.iter()
            .find_map(|x| match x {
                Payload::Auth(a) => Some(a.data.to_vec()),
                _ => None,
            })
            .unwrap()
    };
    assert_eq!(
        auth(&ours),
        auth(&theirs),
        "{name}: our AUTH is strongSwan's AUTH"
    );
    let idr = |p: &[Payload<'_>]| {
        p.iter()
            .find_map(|x| match x {
                Payload::IdR(i) => Some(i.auth_octets()),
                _ => None,
            })
            .unwrap()
    };
    assert_eq!(idr(&ours), idr(&theirs));
    let sa_of = |p: &[Payload<'_>]| {
        p.iter()
            .find_map(|x| match x {
                Payload::Sa(s) => Some(Proposal::from_wire(&s.proposals[0]).unwrap()),
                _ => None,
            })
            .unwrap()
    };
    assert_eq!(
        sa_of(&ours).transforms(),
        sa_of(&theirs).transforms(),
        "{name}"
    );

    // A retransmitted request gets the cached response again (for fragments: on
    // fragment 1, once).
    for d in &datagrams {
        ep.handle_datagram(now, b4500, a4500, d);
    }
    let mut again = Vec::new();
    while let Some(t) = ep.poll_transmit() {
        again.push(t.payload);
    }
    assert_eq!(again, sent, "{name}");

    if !sc.followups {
        return;
    }
    // What strongSwan (node a) sent next, each answered as strongSwan's node b did,
    // except that IKE SA rekeying is refused for now.
    let exchange = |ep: &mut Endpoint, file: &str, msgid: u32| -> (Vec<u8>, Vec<Event>) {
        ep.handle_datagram(now, b4500, a4500, &data(name, file));
        let t = ep
            .poll_transmit()
            .unwrap_or_else(|| panic!("{file}: no answer"));
        let hdr = wire::Header::new_checked(&t.payload).unwrap();
        assert_eq!(hdr.message_id(), msgid, "{file}");
        assert!(hdr.flags().is_response() && !hdr.flags().is_initiator());
        let Opened::Message(p) = initiator.open(&t.payload).unwrap() else {
            panic!("{file}: fragment")
        };
        let mut events = Vec::new();
        while let Some(e) = ep.poll_event() {
            events.push(e);
        }
        let mut inner = vec![p.next_payload.0];
        inner.extend(p.payloads);
        (inner, events)
    };
    let parse = |inner: &[u8]| -> Vec<String> {
        parse_payload_chain(wire::PayloadType(inner[0]), &inner[1..])
            .unwrap()
            .iter()
            .map(|p| match p {
                Payload::Notify(n) => format!("N({})", n.ty),
                Payload::Delete(d) => format!("D({},{:08x?})", d.protocol, d.spis),
                other => format!("{}", other.payload_type()),
            })
            .collect()
    };
    // MOBIKE address update: acknowledged, ignored.
    let (inner, events) = exchange(&mut ep, "05-informational_mobike_addresses-req-4500.bin", 2);
    assert!(parse(&inner).is_empty() && events.is_empty());
    // CHILD SA rekey: answered, the new SA installed (outbound not yet used) with
    // strongSwan's keys when we use its responder nonce.
    let rekeyed = &keymat["child_sas"][1];
    let seed = hex_field(rekeyed, "seed");
    ep.push_nonce(seed[32..].to_vec());
    let (inner, events) = exchange(&mut ep, "11-create_child_sa_rekey_child-req-4500.bin", 3);
    assert_eq!(parse(&inner), ["SA", "NONCE", "TSI", "TSR"]);
    let [Event::ChildSaInstalled(n)] = &events[..] else {
        panic!("{events:?}")
    };
    assert_eq!(n.rekey_of, Some(c.spi_in));
    assert!(!n.outbound);
    assert_eq!(
        n.spi_out,
        u32::from_str_radix(rekeyed["spi_in"].as_str().unwrap(), 16).unwrap()
    );
    assert_eq!(n.keys.encr_in.expose(), hex_field(rekeyed, "encr_i"));
    assert_eq!(n.keys.encr_out.expose(), hex_field(rekeyed, "encr_r"));
    // Delete of the old CHILD SA: answered with our SPI of the pair; our outbound
    // moves to the new SA, the old inbound SA lingers (delete_rekeyed_delay).
    let (inner, events) = exchange(&mut ep, "13-informational_delete_child-req-4500.bin", 4);
    assert_eq!(parse(&inner), [format!("D(ESP,[{:08x}])", c.spi_in)]);
    assert!(
        matches!(&events[..], [Event::ChildSaOutboundSwitched(s)]
            if s.old_spi_out == c.spi_out && s.spi_out == n.spi_out),
        "{events:?}"
    );
    let status = ep.ike_sas();
    let states: Vec<ChildSaState> = status[0].children.iter().map(|c| c.state).collect();
    assert_eq!(states, [ChildSaState::Lingering, ChildSaState::Installed]);
    // IKE SA rekey: answered SA Nr KE; the IKE SA takes the new SPIs (strongSwan's
    // SPIi, our new SPIr) and keeps its CHILD SAs.
    let new_ike = &keymat["ike_sas"][1];
    let (inner, events) = exchange(&mut ep, "15-create_child_sa_rekey_ike-req-4500.bin", 5);
    assert_eq!(parse(&inner), ["SA", "NONCE", "KE"]);
    let [Event::IkeSaRekeyed(r)] = &events[..] else {
        panic!("{events:?}")
    };
    assert_eq!(
        r.spi_i.to_bytes().to_vec(),
        hex_field(new_ike, "spi_i"),
        "strongSwan's new SPIi"
    );
    assert_eq!(ep.ike_sa_count(), 1);
    assert_eq!(ep.ike_sas()[0].children.len(), 2);
    // strongSwan deletes the old IKE SA: the old incarnation goes, silently; the
    // rekeyed IKE SA and its CHILD SAs stay.
    let (inner, events) = exchange(&mut ep, "17-informational_delete_ike-req-4500.bin", 6);
    assert!(parse(&inner).is_empty());
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(ep.ike_sa_count(), 1);
    assert_eq!(ep.stats().rekeys_refused, 0);
}
