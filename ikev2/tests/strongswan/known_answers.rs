//! Known-answer tests from real strongSwan 5.9.8 captures (`tests/data/strongswan/`,
//! see its README): every captured IKE message and the keys of every SA, run through
//! this crate's wire format, key derivation, SK/SKF decryption and PSK authentication.
//!
//! Nothing expected is written here: the expected values are the captured bytes, the
//! MANIFEST.tsv columns, keymat.json (keys strongSwan logged), the extracted plaintexts
//! and the PSK in config.txt. Every test counts what it checked against the README's
//! counts, so an emptied directory fails.
//!
//! The captures are replayed like a receiver would: [`Session`] finds the IKE_SA_INIT
//! exchange that was accepted, takes the IKE suite from the response's SA payload, and
//! decrypts every later message with the keys of the IKE SA its header SPIs name; the
//! suites of rekeyed IKE SAs and of CHILD SAs come from the SA payloads of the
//! decrypted CREATE_CHILD_SA / IKE_AUTH exchanges. Decryption uses the keys from
//! keymat.json, so a key-derivation bug shows up in the derivation tests only.

use crate::captures;

use std::collections::{BTreeSet, HashMap};

use captures::{Datagram, IkeSaKeymat, Row, Scenario};
use ikev2::crypto::algorithms::{EspSuite, IkeSuite};
use ikev2::crypto::dh;
use ikev2::crypto::keymat::{self, ChildKeys, IkeKeys};
use ikev2::crypto::proposal::Proposal;
use ikev2::crypto::secret::SecretBytes;
use ikev2::crypto::sk::{
    FragmentAssembler, FragmentLimits, Opened, Reassembly, SkError, SkPlaintext, SkProtector,
};
use ikev2::wire::{
    self, AuthMethod, DhGroup, ExchangeType, IdValue, Message, NotifyType, PAYLOAD_HEADER_LEN,
    Payload, PayloadType, ProtocolId, SKF_FRAGMENT_FIELDS_LEN, emit_payload_chain,
    locate_encrypted, parse_payload_chain,
};

// ------------------------------------------------------------------------------------
// Helpers over parsed payloads

fn parse<'d>(sc: &Scenario, d: &'d Datagram) -> Message<'d> {
    Message::parse(&d.bytes).unwrap_or_else(|e| panic!("{}: parse: {e}", sc.at(&d.row)))
}

fn is_encrypted(d: &Datagram) -> bool {
    matches!(locate_encrypted(&d.bytes), Ok(Some(_)))
}

/// The payload in MANIFEST notation: `SA`, `KE(14)`, `No`, `N(REKEY_SA)`,
/// `N(INVALID_KE_PAYLOAD:19)`, `D(ESP,1)`, `D(IKE)`, `SK`, `SKF(1/4)`, ...
fn manifest_name(p: &Payload<'_>) -> String {
    match p {
        Payload::Sa(_) => "SA".into(),
        Payload::Ke(ke) => format!("KE({})", ke.group.0),
        Payload::Nonce(_) => "No".into(),
        Payload::IdI(_) => "IDi".into(),
        Payload::IdR(_) => "IDr".into(),
        Payload::Auth(_) => "AUTH".into(),
        Payload::TsI(_) => "TSi".into(),
        Payload::TsR(_) => "TSr".into(),
        Payload::Notify(n) => match n.invalid_ke_group() {
            Some(g) => format!("N({}:{})", n.ty, g.0),
            None => format!("N({})", n.ty),
        },
        Payload::Delete(d) if d.protocol == ProtocolId::IKE => "D(IKE)".into(),
        Payload::Delete(d) => format!("D({},{})", d.protocol, d.spis.len()),
        Payload::Sk(_) => "SK".into(),
        Payload::Skf(f) => format!("SKF({}/{})", f.fragment_number, f.total_fragments),
        other => format!("{}", other.payload_type()),
    }
}

fn names(payloads: &[Payload<'_>]) -> Vec<String> {
    payloads.iter().map(manifest_name).collect()
}

/// The single nonce of an exchange message.
fn nonce<'a>(payloads: &[Payload<'a>], at: &str) -> &'a [u8] {
    let found: Vec<&'a [u8]> = payloads
        .iter()
        .filter_map(|p| match p {
            Payload::Nonce(n) => Some(n.data),
            _ => None,
        })
        .collect();
    assert_eq!(found.len(), 1, "{at}: number of Nonce payloads");
    found[0]
}

fn ke<'p, 'a>(payloads: &'p [Payload<'a>]) -> Option<&'p wire::Ke<'a>> {
    payloads.iter().find_map(|p| match p {
        Payload::Ke(k) => Some(k),
        _ => None,
    })
}

fn sa<'p, 'a>(payloads: &'p [Payload<'a>]) -> Option<&'p wire::Sa<'a>> {
    payloads.iter().find_map(|p| match p {
        Payload::Sa(s) => Some(s),
        _ => None,
    })
}

fn notifies<'p, 'a>(
    payloads: &'p [Payload<'a>],
) -> impl Iterator<Item = &'p wire::Notify<'a>> + 'p {
    payloads.iter().filter_map(|p| match p {
        Payload::Notify(n) => Some(n),
        _ => None,
    })
}

/// The proposal a responder chose (the single one in its SA payload) and the
/// request's proposal with the same number.
fn chosen<'p, 'a>(
    request: &'p wire::Sa<'a>,
    response: &'p wire::Sa<'a>,
    at: &str,
) -> (&'p wire::Proposal<'a>, &'p wire::Proposal<'a>) {
    assert_eq!(response.proposals.len(), 1, "{at}: response SA proposals");
    let resp = &response.proposals[0];
    let req = request
        .proposals
        .iter()
        .find(|p| p.num == resp.num)
        .unwrap_or_else(|| panic!("{at}: request has no proposal #{}", resp.num));
    assert_eq!(req.protocol, resp.protocol, "{at}: protocol of proposal");
    (req, resp)
}

fn esp_spi(p: &wire::Proposal<'_>, at: &str) -> u32 {
    let b: [u8; 4] = p
        .spi
        .try_into()
        .unwrap_or_else(|_| panic!("{at}: ESP SPI of {} octets", p.spi.len()));
    u32::from_be_bytes(b)
}

fn spi8(s: &[u8], at: &str) -> [u8; 8] {
    s.try_into()
        .unwrap_or_else(|_| panic!("{at}: IKE SPI of {} octets", s.len()))
}

fn assert_hex_eq(ours: &[u8], theirs: &[u8], what: &str) {
    assert_eq!(hex::encode(ours), hex::encode(theirs), "{what}");
}

// ------------------------------------------------------------------------------------
// Replaying a scenario

/// An IKE SA as the captured exchanges establish it.
#[derive(Debug)]
struct IkeSa {
    /// Negotiated proposal (from the response's SA payload).
    proposal: Proposal,
    suite: IkeSuite,
    ni: Vec<u8>,
    nr: Vec<u8>,
    /// KE groups of the creating request and response.
    ke_groups: (DhGroup, DhGroup),
    /// The files of the creating exchange, request first.
    created_by: Vec<String>,
    /// Index (in keymat.json) of the IKE SA this one rekeyed.
    parent: Option<usize>,
}

/// An exchange that created a CHILD SA (IKE_AUTH or CREATE_CHILD_SA).
#[derive(Debug)]
struct ChildExchange {
    /// Index (in keymat.json) of the IKE SA the exchange ran in.
    ike_sa: usize,
    suite: EspSuite,
    ni: Vec<u8>,
    nr: Vec<u8>,
    /// The SPIs in the request's and the response's SA payloads.
    spi_req: u32,
    spi_resp: u32,
    /// KE groups of request and response, with PFS.
    ke_groups: Option<(DhGroup, DhGroup)>,
    at: String,
}

/// One decrypted message: a single SK datagram or all SKF fragments of one message.
#[derive(Debug)]
struct Decrypted<'s> {
    parts: Vec<&'s Datagram>,
    ike_sa: usize,
    plaintext: SkPlaintext,
}

impl Decrypted<'_> {
    /// The datagram that completed the message (the one the MANIFEST gives the
    /// plaintext file).
    fn row(&self) -> &Row {
        &self.parts.last().expect("at least one datagram").row
    }

    fn payloads(&self, sc: &Scenario) -> Vec<Payload<'_>> {
        parse_payload_chain(self.plaintext.next_payload, &self.plaintext.payloads)
            .unwrap_or_else(|e| panic!("{}: inner payloads: {e}", sc.at(self.row())))
    }
}

/// A scenario replayed from the receiver's side.
struct Session<'s> {
    sc: &'s Scenario,
    /// The IKE_SA_INIT request and response that created the first IKE SA.
    init: (&'s Datagram, &'s Datagram),
    /// Refused IKE_SA_INIT attempts (request, response).
    refused: Vec<(&'s Datagram, &'s Datagram)>,
    /// Indexed like keymat.json's `ike_sas`.
    ike_sas: Vec<Option<IkeSa>>,
    children: Vec<ChildExchange>,
    decrypted: Vec<Decrypted<'s>>,
    /// The IKE_AUTH request and response (indices into `decrypted`).
    ike_auth: Option<(usize, usize)>,
}

impl<'s> Session<'s> {
    fn replay(sc: &'s Scenario) -> Self {
        let (init, refused) = Self::ike_sa_init(sc);
        let mut s = Session {
            sc,
            init,
            refused,
            ike_sas: sc.keymat.ike_sas.iter().map(|_| None).collect(),
            children: Vec::new(),
            decrypted: Vec::new(),
            ike_auth: None,
        };
        s.learn_initial_sa();
        s.decrypt_all();
        s
    }

    /// Pairs IKE_SA_INIT requests with responses; exactly one response carries an SA
    /// payload (accepted), the others must be refusals.
    #[allow(clippy::type_complexity)]
    fn ike_sa_init(
        sc: &'s Scenario,
    ) -> (
        (&'s Datagram, &'s Datagram),
        Vec<(&'s Datagram, &'s Datagram)>,
    ) {
        let mut request = None;
        let mut accepted = Vec::new();
        let mut refused = Vec::new();
        for d in &sc.datagrams {
            let m = parse(sc, d);
            if m.header.exchange_type != ExchangeType::IKE_SA_INIT {
                continue;
            }
            if !m.header.flags.is_response() {
                request = Some(d);
                continue;
            }
            let req = request
                .take()
                .unwrap_or_else(|| panic!("{}: response without request", sc.at(&d.row)));
            if sa(&m.payloads).is_some() {
                accepted.push((req, d));
            } else {
                refused.push((req, d));
            }
        }
        assert_eq!(accepted.len(), 1, "{}: accepted IKE_SA_INIT", sc.name);
        (accepted[0], refused)
    }

    fn learn_initial_sa(&mut self) {
        let sc = self.sc;
        let (req, resp) = self.init;
        let at = sc.at(&resp.row);
        let (mreq, mresp) = (parse(sc, req), parse(sc, resp));
        let (index, _) = sc
            .keymat
            .ike_sa(mresp.header.spi_i.to_bytes(), mresp.header.spi_r.to_bytes())
            .unwrap_or_else(|| panic!("{at}: SPIs not in keymat.json"));
        let sa_req = sa(&mreq.payloads).expect("request SA");
        let sa_resp = sa(&mresp.payloads).expect("response SA");
        let (_, chosen) = chosen(sa_req, sa_resp, &at);
        let group = |m: &Message<'_>| ke(&m.payloads).map(|k| k.group);
        self.ike_sas[index] = Some(ike_sa(
            chosen,
            nonce(&mreq.payloads, &at),
            nonce(&mresp.payloads, &at),
            (
                group(&mreq).expect("request KE"),
                group(&mresp).expect("response KE"),
            ),
            vec![req.row.file.clone(), resp.row.file.clone()],
            None,
            &at,
        ));
    }

    /// The index (in keymat.json) and keys of the IKE SA a message belongs to.
    fn sa_of(&self, d: &Datagram) -> (usize, &'s IkeSaKeymat) {
        let sc = self.sc;
        let h = parse(sc, d).header;
        sc.keymat
            .ike_sa(h.spi_i.to_bytes(), h.spi_r.to_bytes())
            .unwrap_or_else(|| panic!("{}: SPIs not in keymat.json", sc.at(&d.row)))
    }

    fn suite_of(&self, index: usize, d: &Datagram) -> IkeSuite {
        self.ike_sas[index]
            .as_ref()
            .unwrap_or_else(|| {
                panic!(
                    "{}: IKE SA #{} used before an exchange created it",
                    self.sc.at(&d.row),
                    index + 1
                )
            })
            .suite
    }

    /// The receiver's SK protector for a message: a message with the I flag comes
    /// from the original initiator of its IKE SA, so the receiver decrypts it with
    /// SK_ei/SK_ai (it is that SA's responder); without the flag with SK_er/SK_ar.
    fn receiver(&self, d: &Datagram) -> SkProtector {
        let (index, km) = self.sa_of(d);
        let suite = self.suite_of(index, d);
        let from_initiator = parse(self.sc, d).header.flags.is_initiator();
        let build = if from_initiator {
            SkProtector::responder
        } else {
            SkProtector::initiator
        };
        build(
            suite.encr,
            suite.integ,
            &km.sk_ei,
            &km.sk_ai,
            &km.sk_er,
            &km.sk_ar,
        )
        .unwrap_or_else(|e| panic!("{}: SK protector: {e}", self.sc.at(&d.row)))
    }

    fn decrypt_all(&mut self) {
        let sc = self.sc;
        // (IKE SA, message ID, I flag, R flag) -> fragments collected so far
        let mut assemblers: HashMap<(usize, u32, bool, bool), (FragmentAssembler, Vec<_>)> =
            HashMap::new();
        for d in sc.datagrams.iter().filter(|d| is_encrypted(d)) {
            let at = sc.at(&d.row);
            let (index, _) = self.sa_of(d);
            let protector = self.receiver(d);
            let loc = locate_encrypted(&d.bytes)
                .unwrap_or_else(|e| panic!("{at}: locate: {e}"))
                .expect("encrypted");
            let plaintext = if loc.ty == PayloadType::SK {
                let offset = loc.body.start - PAYLOAD_HEADER_LEN;
                protector
                    .decrypt_message(&d.bytes, offset)
                    .unwrap_or_else(|e| panic!("{at}: decrypt: {e}"))
            } else {
                let offset = loc.body.start - PAYLOAD_HEADER_LEN - SKF_FRAGMENT_FIELDS_LEN;
                let fragment = protector
                    .decrypt_fragment(&d.bytes, offset)
                    .unwrap_or_else(|e| panic!("{at}: decrypt fragment: {e}"));
                let h = parse(sc, d).header;
                let key = (
                    index,
                    h.message_id,
                    h.flags.is_initiator(),
                    h.flags.is_response(),
                );
                let (assembler, parts) = assemblers
                    .entry(key)
                    .or_insert_with(|| (FragmentAssembler::new(FragmentLimits::default()), vec![]));
                parts.push(d);
                match assembler.add(fragment) {
                    Ok(Reassembly::Incomplete { .. }) => continue,
                    Ok(Reassembly::Complete(plaintext)) => {
                        let (_, parts) = assemblers.remove(&key).expect("present");
                        self.decrypted.push(Decrypted {
                            parts,
                            ike_sa: index,
                            plaintext,
                        });
                        self.learn(self.decrypted.len() - 1);
                        continue;
                    }
                    other => panic!("{at}: reassembly: {other:?}"),
                }
            };
            self.decrypted.push(Decrypted {
                parts: vec![d],
                ike_sa: index,
                plaintext,
            });
            self.learn(self.decrypted.len() - 1);
        }
        let left: Vec<_> = assemblers.values().flat_map(|(_, p)| p).collect();
        assert!(
            left.is_empty(),
            "{}: incomplete fragmented messages: {:?}",
            sc.name,
            left.iter().map(|d| &d.row.file).collect::<Vec<_>>()
        );
    }

    /// The request a decrypted response answers.
    fn request_of(&self, response: usize) -> &Decrypted<'s> {
        let r = &self.decrypted[response];
        let h = parse(self.sc, r.parts[0]).header;
        self.decrypted[..response]
            .iter()
            .rev()
            .find(|q| {
                let qh = parse(self.sc, q.parts[0]).header;
                q.ike_sa == r.ike_sa
                    && !qh.flags.is_response()
                    && qh.message_id == h.message_id
                    && qh.flags.is_initiator() != h.flags.is_initiator()
            })
            .unwrap_or_else(|| panic!("{}: no request", self.sc.at(r.row())))
    }

    /// What a decrypted response establishes: a CHILD SA (IKE_AUTH, CREATE_CHILD_SA
    /// with an ESP proposal) or a rekeyed IKE SA (CREATE_CHILD_SA with an IKE one).
    fn learn(&mut self, index: usize) {
        let sc = self.sc;
        let resp = &self.decrypted[index];
        let h = parse(sc, resp.parts[0]).header;
        let is_auth = h.exchange_type == ExchangeType::IKE_AUTH;
        if !h.flags.is_response() || !(is_auth || h.exchange_type == ExchangeType::CREATE_CHILD_SA)
        {
            return;
        }
        let req = self.request_of(index);
        let at = sc.at(resp.row());
        let (preq, presp) = (req.payloads(sc), resp.payloads(sc));
        let (Some(sa_req), Some(sa_resp)) = (sa(&preq), sa(&presp)) else {
            return;
        };
        let (p_req, p_resp) = chosen(sa_req, sa_resp, &at);
        let parent = resp.ike_sa;
        let parent_sa = self.ike_sas[parent]
            .as_ref()
            .expect("SA of a decrypted message");
        let (ni, nr) = if is_auth {
            (parent_sa.ni.clone(), parent_sa.nr.clone())
        } else {
            (nonce(&preq, &at).to_vec(), nonce(&presp, &at).to_vec())
        };
        let ke_groups = match (ke(&preq), ke(&presp)) {
            (Some(a), Some(b)) => Some((a.group, b.group)),
            (None, None) => None,
            _ => panic!("{at}: KE payload in only one of request and response"),
        };
        let files = || {
            let req = req.parts.iter().map(|d| d.row.file.clone());
            req.chain(resp.parts.iter().map(|d| d.row.file.clone()))
                .collect::<Vec<_>>()
        };
        let auth_pair = is_auth.then(|| {
            let req_index = self.decrypted[..index]
                .iter()
                .rposition(|q| std::ptr::eq(q, req))
                .expect("request is decrypted");
            (req_index, index)
        });
        match p_resp.protocol {
            ProtocolId::IKE => {
                let (spi_i, spi_r) = (spi8(p_req.spi, &at), spi8(p_resp.spi, &at));
                let (new, _) = sc.keymat.ike_sa(spi_i, spi_r).unwrap_or_else(|| {
                    panic!("{at}: rekeyed IKE SA {spi_i:02x?}/{spi_r:02x?} not in keymat.json")
                });
                let groups = ke_groups.unwrap_or_else(|| panic!("{at}: IKE rekey without KE"));
                let new_sa = ike_sa(p_resp, &ni, &nr, groups, files(), Some(parent), &at);
                assert!(self.ike_sas[new].is_none(), "{at}: IKE SA created twice");
                self.ike_sas[new] = Some(new_sa);
            }
            ProtocolId::ESP => {
                let proposal = Proposal::from_wire(p_resp)
                    .unwrap_or_else(|e| panic!("{at}: ESP proposal: {e}"));
                let suite = proposal
                    .esp_suite()
                    .unwrap_or_else(|| panic!("{at}: no ESP suite in {}", proposal.describe()));
                let child = ChildExchange {
                    ike_sa: parent,
                    suite,
                    ni,
                    nr,
                    spi_req: esp_spi(p_req, &at),
                    spi_resp: esp_spi(p_resp, &at),
                    ke_groups,
                    at,
                };
                self.children.push(child);
            }
            other => panic!("{at}: SA payload for protocol {other}"),
        }
        if auth_pair.is_some() {
            assert!(
                self.ike_auth.is_none(),
                "{}: two IKE_AUTH exchanges",
                sc.name
            );
            self.ike_auth = auth_pair;
        }
    }

    fn ike_sa(&self, index: usize) -> &IkeSa {
        self.ike_sas[index].as_ref().unwrap_or_else(|| {
            panic!(
                "{}: no exchange in the captures created IKE SA #{}",
                self.sc.name,
                index + 1
            )
        })
    }
}

/// The IKE SA a chosen proposal and the exchange's nonces describe.
fn ike_sa(
    chosen: &wire::Proposal<'_>,
    ni: &[u8],
    nr: &[u8],
    ke_groups: (DhGroup, DhGroup),
    created_by: Vec<String>,
    parent: Option<usize>,
    at: &str,
) -> IkeSa {
    let proposal =
        Proposal::from_wire(chosen).unwrap_or_else(|e| panic!("{at}: IKE proposal: {e}"));
    let suite = proposal
        .ike_suite()
        .unwrap_or_else(|| panic!("{at}: no IKE suite in {}", proposal.describe()));
    IkeSa {
        proposal,
        suite,
        ni: ni.to_vec(),
        nr: nr.to_vec(),
        ke_groups,
        created_by,
        parent,
    }
}

fn sessions(scenarios: &[Scenario]) -> Vec<Session<'_>> {
    scenarios.iter().map(Session::replay).collect()
}

fn total(scenarios: &[Scenario], f: impl Fn(&Scenario) -> usize) -> usize {
    let n: usize = scenarios.iter().map(f).sum();
    assert!(n > 0, "nothing to check");
    n
}

/// MANIFEST rows that carry a decrypted message (SK, or the last SKF fragment).
fn decrypted_rows(scenarios: &[Scenario]) -> usize {
    total(scenarios, |s| {
        s.datagrams
            .iter()
            .filter(|d| d.row.inner_first.is_some())
            .count()
    })
}

// ------------------------------------------------------------------------------------
// 1. Wire format

#[test]
fn messages_parse_and_round_trip() {
    let scenarios = captures::all();
    let mut checked = 0;
    for sc in &scenarios {
        assert_eq!(
            sc.datagrams.len(),
            sc.expected.messages,
            "{}: messages vs README",
            sc.name
        );
        for d in &sc.datagrams {
            let at = sc.at(&d.row);
            let m = parse(sc, d);
            let out = m.to_vec().unwrap_or_else(|e| panic!("{at}: emit: {e}"));
            assert_eq!(hex::encode(&out), hex::encode(&d.bytes), "{at}: round trip");
            checked += 1;
        }
    }
    assert_eq!(checked, total(&scenarios, |s| s.expected.messages));
}

#[test]
fn headers_match_manifest() {
    let scenarios = captures::all();
    let mut checked = 0;
    for sc in &scenarios {
        for d in &sc.datagrams {
            let (row, at) = (&d.row, sc.at(&d.row));
            let h = parse(sc, d).header;
            assert_eq!(h.exchange_type.to_string(), row.exchange, "{at}: exchange");
            assert_eq!(h.message_id, row.msgid, "{at}: message ID");
            assert_eq!(h.flags.is_initiator(), row.flag_i(), "{at}: I flag");
            assert_eq!(h.flags.is_response(), row.flag_r(), "{at}: R flag");
            assert!(!h.flags.contains(wire::Flags::VERSION), "{at}: V flag");
            assert_eq!(h.spi_i.to_bytes(), row.spi_i, "{at}: SPIi");
            assert_eq!(h.spi_r.to_bytes(), row.spi_r, "{at}: SPIr");
            let len = wire::Header::new_checked(&d.bytes)
                .expect("parsed")
                .length();
            assert_eq!(
                (len as usize, d.bytes.len()),
                (row.len, row.len),
                "{at}: length"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, total(&scenarios, |s| s.expected.messages));
}

#[test]
fn outer_payloads_match_manifest() {
    let scenarios = captures::all();
    let (mut checked, mut encrypted) = (0, 0);
    for sc in &scenarios {
        for d in &sc.datagrams {
            let at = sc.at(&d.row);
            let m = parse(sc, d);
            assert_eq!(names(&m.payloads), d.row.outer, "{at}: outer payloads");
            // locate_encrypted finds the body the parser returned
            let loc = locate_encrypted(&d.bytes).unwrap_or_else(|e| panic!("{at}: {e}"));
            match (m.payloads.last(), loc) {
                (Some(Payload::Sk(sk)), Some(loc)) => {
                    assert_eq!(&d.bytes[loc.body.clone()], sk.body, "{at}: SK body");
                    assert_eq!(loc.first_inner, sk.first_inner, "{at}");
                    assert_eq!(
                        Some(sk.first_inner.0),
                        d.row.inner_first,
                        "{at}: first inner"
                    );
                    encrypted += 1;
                }
                (Some(Payload::Skf(skf)), Some(loc)) => {
                    assert_eq!(&d.bytes[loc.body.clone()], skf.body, "{at}: SKF body");
                    encrypted += 1;
                }
                (_, None) => assert!(m.sk().is_none() && m.skf().is_none(), "{at}"),
                (last, Some(_)) => panic!("{at}: located SK/SKF but parsed {last:?} last"),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, total(&scenarios, |s| s.expected.messages));
    let listed = total(&scenarios, |s| {
        s.datagrams
            .iter()
            .filter(|d| {
                d.row
                    .outer
                    .iter()
                    .any(|p| p == "SK" || p.starts_with("SKF("))
            })
            .count()
    });
    assert_eq!(encrypted, listed, "encrypted messages");
}

// ------------------------------------------------------------------------------------
// 2. Key derivation

/// keymat.json's loose suite text (`AES_CBC_256/HMAC_SHA2_256_128`, prf
/// `PRF_HMAC_SHA2_256`) names transforms of our `describe()` of the proposal
/// (`AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048`).
fn assert_suite_text(proposal: &Proposal, km: &IkeSaKeymat, at: &str) {
    let ours: BTreeSet<String> = proposal
        .describe()
        .split('/')
        .map(|t| t.replace('-', "_"))
        .collect();
    for t in km.suite.split('/').chain([km.prf.as_str()]) {
        assert!(
            ours.contains(&t.replace('-', "_")),
            "{at}: keymat.json names {t}, our proposal is {}",
            proposal.describe()
        );
    }
}

#[test]
fn ike_sa_keys_derive_from_captured_exchanges() {
    let scenarios = captures::all();
    let mut derived = 0;
    for session in sessions(&scenarios) {
        let sc = session.sc;
        assert_eq!(
            sc.keymat.ike_sas.len(),
            sc.expected.ike_sas,
            "{}: IKE SAs in keymat.json vs README",
            sc.name
        );
        for (index, km) in sc.keymat.ike_sas.iter().enumerate() {
            let at = format!("{}: IKE SA #{}", sc.name, index + 1);
            let sa = session.ike_sa(index);
            assert_eq!(sa.created_by, km.created_by, "{at}: creating exchange");
            assert_hex_eq(&sa.ni, &km.ni, &format!("{at}: Ni"));
            assert_hex_eq(&sa.nr, &km.nr, &format!("{at}: Nr"));
            assert_suite_text(&sa.proposal, km, &at);
            let g_ir = SecretBytes::from_slice(&km.g_ir);
            let skeyseed = match sa.parent {
                None => {
                    assert!(km.rekeyed_from.is_none(), "{at}: rekeyed_from");
                    keymat::skeyseed(sa.suite.prf, &sa.ni, &sa.nr, &g_ir)
                }
                Some(p) => {
                    let old = &sc.keymat.ike_sas[p];
                    assert_eq!(
                        km.rekeyed_from,
                        Some((old.spi_i, old.spi_r)),
                        "{at}: rekeyed_from"
                    );
                    // the *old* SA's PRF and SK_d
                    let old_prf = session.ike_sa(p).suite.prf;
                    let sk_d = SecretBytes::from_slice(&old.sk_d);
                    keymat::rekey_skeyseed(old_prf, &sk_d, &g_ir, &sa.ni, &sa.nr, &[])
                }
            };
            assert_hex_eq(skeyseed.expose(), &km.skeyseed, &format!("{at}: SKEYSEED"));
            let keys = IkeKeys::derive(&sa.suite, &skeyseed, &sa.ni, &sa.nr, &km.spi_i, &km.spi_r)
                .unwrap_or_else(|e| panic!("{at}: {e}"));
            for (name, ours, theirs) in [
                ("SK_d", &keys.sk_d, &km.sk_d),
                ("SK_ai", &keys.sk_ai, &km.sk_ai),
                ("SK_ar", &keys.sk_ar, &km.sk_ar),
                ("SK_ei", &keys.sk_ei, &km.sk_ei),
                ("SK_er", &keys.sk_er, &km.sk_er),
                ("SK_pi", &keys.sk_pi, &km.sk_pi),
                ("SK_pr", &keys.sk_pr, &km.sk_pr),
            ] {
                assert_hex_eq(ours.expose(), theirs, &format!("{at}: {name}"));
            }
            if sa.parent.is_none() {
                let direct = IkeKeys::from_shared_secret(
                    &sa.suite, &g_ir, &sa.ni, &sa.nr, &km.spi_i, &km.spi_r,
                )
                .unwrap_or_else(|e| panic!("{at}: {e}"));
                assert_eq!(direct, keys, "{at}: from_shared_secret");
            }
            derived += 1;
        }
    }
    assert_eq!(derived, total(&scenarios, |s| s.expected.ike_sas));
}

#[test]
fn child_sa_keys_derive_from_captured_exchanges() {
    let scenarios = captures::all();
    let mut derived = 0;
    for session in sessions(&scenarios) {
        let sc = session.sc;
        assert_eq!(
            (sc.keymat.child_sas.len(), session.children.len()),
            (sc.expected.child_sas, sc.expected.child_sas),
            "{}: CHILD SAs in keymat.json and created in the captures vs README",
            sc.name
        );
        for child in &session.children {
            let at = &child.at;
            // traffic from the exchange's initiator carries the responder's SPI
            let km = sc
                .keymat
                .child_sas
                .iter()
                .find(|c| c.spi_of_encr_i == child.spi_resp && c.spi_of_encr_r == child.spi_req)
                .unwrap_or_else(|| {
                    panic!(
                        "{at}: no CHILD SA with SPIs {:08x}/{:08x} in keymat.json",
                        child.spi_resp, child.spi_req
                    )
                });
            let at = format!("{at} (CHILD SA uid {})", km.uid);
            let ike = &sc.keymat.ike_sas[child.ike_sa];
            assert_eq!(
                km.keymat_from_ike_sa,
                (ike.spi_i, ike.spi_r),
                "{at}: IKE SA"
            );
            let pfs = match (child.suite.dh, child.ke_groups) {
                (None, None) => {
                    assert!(km.pfs_g_ir.is_empty(), "{at}: g^ir without PFS");
                    None
                }
                (Some(group), Some(groups)) => {
                    assert_eq!(groups, (group, group), "{at}: KE groups vs proposal");
                    assert!(!km.pfs_g_ir.is_empty(), "{at}: PFS without g^ir");
                    Some(SecretBytes::from_slice(&km.pfs_g_ir))
                }
                other => panic!("{at}: proposal DH vs KE payloads: {other:?}"),
            };
            let seed = [km.pfs_g_ir.as_slice(), &child.ni, &child.nr].concat();
            assert_hex_eq(&seed, &km.seed, &format!("{at}: seed"));
            let prf = session.ike_sa(child.ike_sa).suite.prf;
            let sk_d = SecretBytes::from_slice(&ike.sk_d);
            let keys = ChildKeys::derive(
                prf,
                &sk_d,
                &child.suite,
                pfs.as_ref(),
                &child.ni,
                &child.nr,
                &[],
            )
            .unwrap_or_else(|e| panic!("{at}: {e}"));
            for (name, ours, theirs) in [
                ("encr_i", &keys.encr_i, &km.encr_i),
                ("integ_i", &keys.integ_i, &km.integ_i),
                ("encr_r", &keys.encr_r, &km.encr_r),
                ("integ_r", &keys.integ_r, &km.integ_r),
            ] {
                assert_hex_eq(ours.expose(), theirs, &format!("{at}: {name}"));
            }
            derived += 1;
        }
    }
    assert_eq!(derived, total(&scenarios, |s| s.expected.child_sas));
}

// ------------------------------------------------------------------------------------
// 3. Decryption

#[test]
fn encrypted_payloads_decrypt_to_extracted_plaintext() {
    let scenarios = captures::all();
    let (mut messages, mut datagrams, mut without_file) = (0, 0, 0);
    for session in sessions(&scenarios) {
        let sc = session.sc;
        for (i, dec) in session.decrypted.iter().enumerate() {
            let row = dec.row();
            let at = sc.at(row);
            assert_eq!(row.ike_sa, Some(dec.ike_sa + 1), "{at}: IKE SA column");
            // The extractor writes a plaintext once per (SPIs, message ID, R flag,
            // content), taking repeats for retransmissions; a message without a file
            // must equal the earlier one that has it.
            let file_row = if row.plaintext_file.is_some() {
                row
            } else {
                without_file += 1;
                session.decrypted[..i]
                    .iter()
                    .map(Decrypted::row)
                    .find(|r| {
                        r.plaintext_file.is_some()
                            && (r.spi_i, r.spi_r, r.msgid, r.flag_r())
                                == (row.spi_i, row.spi_r, row.msgid, row.flag_r())
                    })
                    .unwrap_or_else(|| panic!("{at}: no plaintext file"))
            };
            assert_hex_eq(
                &dec.plaintext.payloads,
                &sc.plaintext(file_row),
                &format!("{at}: plaintext vs {:?}", file_row.plaintext_file),
            );
            assert_eq!(
                Some(dec.plaintext.next_payload.0),
                row.inner_first,
                "{at}: first inner payload"
            );
            // earlier fragments carry no plaintext file; open() agrees with the
            // explicit decrypt_message/decrypt_fragment calls
            let mut joined = Vec::new();
            for (k, d) in dec.parts.iter().enumerate() {
                if k + 1 < dec.parts.len() {
                    assert_eq!(d.row.plaintext_file, None, "{}", sc.at(&d.row));
                }
                match session.receiver(d).open(&d.bytes) {
                    Ok(Opened::Message(pt)) => {
                        assert_eq!(dec.parts.len(), 1, "{at}");
                        assert_eq!(pt, dec.plaintext, "{at}: open()");
                    }
                    Ok(Opened::Fragment(f)) => {
                        assert_eq!(usize::from(f.total), dec.parts.len(), "{at}");
                        assert_eq!(usize::from(f.number), k + 1, "{}", sc.at(&d.row));
                        joined.extend_from_slice(&f.payloads);
                    }
                    Err(e) => panic!("{}: open: {e}", sc.at(&d.row)),
                }
                datagrams += 1;
            }
            if dec.parts.len() > 1 {
                assert_eq!(joined, dec.plaintext.payloads, "{at}: fragments joined");
            }
            messages += 1;
        }
    }
    let with_file = total(&scenarios, |s| {
        s.datagrams
            .iter()
            .filter(|d| d.row.plaintext_file.is_some())
            .count()
    });
    assert_eq!(messages, decrypted_rows(&scenarios), "decrypted messages");
    assert_eq!(messages - without_file, with_file, "plaintext files");
    let encrypted = total(&scenarios, |s| {
        s.datagrams.iter().filter(|d| is_encrypted(d)).count()
    });
    assert_eq!(datagrams, encrypted, "decrypted datagrams");
}

#[test]
fn inner_payloads_match_manifest_and_round_trip() {
    let scenarios = captures::all();
    let mut checked = 0;
    for session in sessions(&scenarios) {
        let sc = session.sc;
        for dec in &session.decrypted {
            let at = sc.at(dec.row());
            let payloads = dec.payloads(sc);
            assert_eq!(names(&payloads), dec.row().inner, "{at}: inner payloads");
            let mut out = Vec::new();
            let first = emit_payload_chain(&payloads, &mut out)
                .unwrap_or_else(|e| panic!("{at}: emit inner payloads: {e}"));
            assert_eq!(
                first, dec.plaintext.next_payload,
                "{at}: first inner payload"
            );
            assert_hex_eq(&out, &dec.plaintext.payloads, &format!("{at}: round trip"));
            checked += 1;
        }
    }
    assert_eq!(checked, decrypted_rows(&scenarios));
}

// ------------------------------------------------------------------------------------
// 4. Tampering

#[test]
fn tampered_messages_fail_integrity_check() {
    let scenarios = captures::all();
    let mut checked = 0;
    for session in sessions(&scenarios) {
        let sc = session.sc;
        for d in sc.datagrams.iter().filter(|d| is_encrypted(d)) {
            let at = sc.at(&d.row);
            let protector = session.receiver(d);
            let (index, _) = session.sa_of(d);
            let iv_len = session.ike_sa(index).suite.encr.iv_len();
            let loc = locate_encrypted(&d.bytes)
                .unwrap_or_else(|e| panic!("{at}: {e}"))
                .expect("encrypted");
            let decrypt = |bytes: &[u8]| -> Result<(), SkError> {
                if loc.ty == PayloadType::SK {
                    let offset = loc.body.start - PAYLOAD_HEADER_LEN;
                    protector.decrypt_message(bytes, offset).map(drop)
                } else {
                    let offset = loc.body.start - PAYLOAD_HEADER_LEN - SKF_FRAGMENT_FIELDS_LEN;
                    protector.decrypt_fragment(bytes, offset).map(drop)
                }
            };
            assert_eq!(decrypt(&d.bytes), Ok(()), "{at}: untouched");
            for (what, pos) in [
                ("ciphertext", loc.body.start + iv_len),
                ("IV", loc.body.start),
                ("ICV", d.bytes.len() - 1),
                ("message ID (associated data)", 23),
            ] {
                let mut bad = d.bytes.clone();
                bad[pos] ^= 0x01;
                assert_eq!(
                    decrypt(&bad),
                    Err(SkError::IntegrityCheckFailed),
                    "{at}: bit flipped in the {what} at {pos}"
                );
            }
            checked += 1;
        }
    }
    let encrypted = total(&scenarios, |s| {
        s.datagrams.iter().filter(|d| is_encrypted(d)).count()
    });
    assert_eq!(checked, encrypted);
}

// ------------------------------------------------------------------------------------
// 5. Cross-checks on the exchanges

fn assert_ke_length(ke: &wire::Ke<'_>, at: &str) {
    assert_eq!(
        Some(ke.data.len()),
        dh::public_value_len(ke.group),
        "{at}: KE data length for group {}",
        ke.group
    );
}

#[test]
fn ike_sa_init_ke_group_is_the_negotiated_one() {
    let scenarios = captures::all();
    let mut checked = 0;
    for session in sessions(&scenarios) {
        let sc = session.sc;
        let (req, resp) = session.init;
        let (index, _) = session.sa_of(resp);
        let negotiated = session.ike_sa(index).suite.dh;
        for d in [req, resp] {
            let m = parse(sc, d);
            let k = ke(&m.payloads).unwrap_or_else(|| panic!("{}: no KE", sc.at(&d.row)));
            assert_eq!(k.group, negotiated, "{}: KE group", sc.at(&d.row));
            assert_ke_length(k, &sc.at(&d.row));
        }
        // Each refusal asks for a group the initiator proposed but did not send, and
        // the next request (the retry) sends it.
        for (refused_req, refusal) in &session.refused {
            let at = sc.at(&refusal.row);
            let (mreq, mresp) = (parse(sc, refused_req), parse(sc, refusal));
            let wanted = notifies(&mresp.payloads)
                .find_map(|n| n.invalid_ke_group())
                .unwrap_or_else(|| panic!("{at}: refusal without INVALID_KE_PAYLOAD"));
            let sent = ke(&mreq.payloads).expect("refused request KE").group;
            assert_ne!(wanted, sent, "{at}: asked for the group it got");
            let proposed = sa(&mreq.payloads)
                .expect("refused request SA")
                .proposals
                .iter()
                .filter_map(|p| Proposal::from_wire(p).ok())
                .any(|p| p.dh_groups().any(|g| g == wanted));
            assert!(proposed, "{at}: {wanted} was not proposed");
            let retry = sc
                .datagrams
                .iter()
                .skip_while(|d| !std::ptr::eq(*d, *refusal))
                .map(|d| parse(sc, d))
                .find(|m| {
                    m.header.exchange_type == ExchangeType::IKE_SA_INIT
                        && !m.header.flags.is_response()
                })
                .unwrap_or_else(|| panic!("{at}: no retry"));
            let retried = ke(&retry.payloads).expect("retry KE").group;
            assert_eq!(
                retried, wanted,
                "{at}: retry KE group vs INVALID_KE_PAYLOAD"
            );
            assert_eq!(
                retry.header.spi_i, mreq.header.spi_i,
                "{at}: retry keeps SPIi"
            );
            checked += 1;
        }
        checked += 1;
    }
    // one accepted IKE_SA_INIT per scenario plus each refusal the MANIFEST lists
    let refusals = scenarios
        .iter()
        .flat_map(|s| &s.datagrams)
        .flat_map(|d| &d.row.outer)
        .filter(|p| p.starts_with("N(INVALID_KE_PAYLOAD:"))
        .count();
    assert!(refusals > 0, "no INVALID_KE_PAYLOAD in the captures");
    assert_eq!(checked, scenarios.len() + refusals);
}

#[test]
fn rekey_ke_groups_are_the_negotiated_ones() {
    let scenarios = captures::all();
    let (mut ike, mut pfs) = (0, 0);
    for session in sessions(&scenarios) {
        let sc = session.sc;
        for (index, sa) in session.ike_sas.iter().enumerate() {
            let sa = sa.as_ref().expect("every IKE SA was created");
            let at = format!("{}: IKE SA #{}", sc.name, index + 1);
            assert_eq!(sa.ke_groups, (sa.suite.dh, sa.suite.dh), "{at}: KE groups");
            if sa.parent.is_some() {
                ike += 1;
            }
        }
        for child in &session.children {
            if let Some(groups) = child.ke_groups {
                assert_eq!(Some(groups.0), child.suite.dh, "{}", child.at);
                assert_eq!(groups.0, groups.1, "{}", child.at);
                pfs += 1;
            }
        }
        // KE payloads inside decrypted messages have the size their group demands
        for dec in &session.decrypted {
            for p in dec.payloads(sc) {
                if let Payload::Ke(k) = &p {
                    assert_ke_length(k, &sc.at(dec.row()));
                }
            }
        }
    }
    let rekeyed = total(&scenarios, |s| {
        s.keymat
            .ike_sas
            .iter()
            .filter(|sa| sa.rekeyed_from.is_some())
            .count()
    });
    assert_eq!(ike, rekeyed, "IKE rekeys");
    let with_pfs = total(&scenarios, |s| {
        s.keymat
            .child_sas
            .iter()
            .filter(|c| !c.pfs_g_ir.is_empty())
            .count()
    });
    assert_eq!(pfs, with_pfs, "CHILD SAs created with PFS");
}

#[test]
fn nat_detection_notifies_are_sha1_sized() {
    let scenarios = captures::all();
    let mut checked = 0;
    for sc in &scenarios {
        for d in &sc.datagrams {
            let m = parse(sc, d);
            for n in notifies(&m.payloads) {
                if matches!(
                    n.ty,
                    NotifyType::NAT_DETECTION_SOURCE_IP | NotifyType::NAT_DETECTION_DESTINATION_IP
                ) {
                    let hash = n.nat_detection_hash();
                    assert!(
                        hash.is_some(),
                        "{}: {} of {} octets",
                        sc.at(&d.row),
                        n.ty,
                        n.data.len()
                    );
                    assert_eq!(n.data.len(), wire::NAT_DETECTION_HASH_LEN);
                    checked += 1;
                }
            }
        }
    }
    let listed = total(&scenarios, |s| {
        s.datagrams
            .iter()
            .flat_map(|d| &d.row.outer)
            .filter(|p| p.starts_with("N(NAT_DETECTION_"))
            .count()
    });
    assert_eq!(checked, listed);
}

/// The IKE_AUTH request and response of a session, with their inner payloads.
fn ike_auth<'a>(session: &'a Session<'_>) -> (&'a Decrypted<'a>, &'a Decrypted<'a>) {
    let (req, resp) = session
        .ike_auth
        .unwrap_or_else(|| panic!("{}: no IKE_AUTH exchange", session.sc.name));
    (&session.decrypted[req], &session.decrypted[resp])
}

fn id_and_auth<'p, 'a>(
    payloads: &'p [Payload<'a>],
    initiator: bool,
    at: &str,
) -> (&'p wire::Id<'a>, &'p wire::Auth<'a>) {
    let id = payloads.iter().find_map(|p| match (p, initiator) {
        (Payload::IdI(id), true) | (Payload::IdR(id), false) => Some(id),
        _ => None,
    });
    let auth = payloads.iter().find_map(|p| match p {
        Payload::Auth(a) => Some(a),
        _ => None,
    });
    match (id, auth) {
        (Some(id), Some(auth)) => (id, auth),
        _ => panic!(
            "{at}: no ID{} or AUTH payload",
            if initiator { "i" } else { "r" }
        ),
    }
}

#[test]
fn ike_auth_carries_ip_identities_and_shared_key_auth() {
    let scenarios = captures::all();
    let mut checked = 0;
    for session in sessions(&scenarios) {
        let sc = session.sc;
        let (req, resp) = ike_auth(&session);
        let ip = |s: &str| IdValue::Ipv4(s.parse().expect("IPv4 address in MANIFEST"));
        let (initiator_ip, responder_ip) = (req.row().src_ip(), req.row().dst_ip());
        for (dec, initiator, own_ip) in [(req, true, initiator_ip), (resp, false, responder_ip)] {
            let at = sc.at(dec.row());
            let payloads = dec.payloads(sc);
            let (id, auth) = id_and_auth(&payloads, initiator, &at);
            assert_eq!(id.value(), ip(own_ip), "{at}: own identity");
            assert_eq!(auth.method, AuthMethod::SHARED_KEY_MIC, "{at}: AUTH method");
            checked += 1;
        }
        // the initiator names the responder it wants (IDr in the request)
        let payloads = req.payloads(sc);
        let idr = payloads.iter().find_map(|p| match p {
            Payload::IdR(id) => Some(id.value()),
            _ => None,
        });
        assert_eq!(idr, Some(ip(responder_ip)), "{}: IDr", sc.at(req.row()));
    }
    assert_eq!(checked, 2 * scenarios.len());
}

/// RFC 7296 section 2.15: AUTH = prf(prf(PSK, "Key Pad for IKEv2"), RealMessage |
/// Nonce of the peer | prf(SK_p, ID body)), for both sides, computed with our code
/// and compared with what strongSwan sent.
#[test]
fn psk_auth_matches_strongswan() {
    let scenarios = captures::all();
    let mut verified = 0;
    for session in sessions(&scenarios) {
        let sc = session.sc;
        let (init_req, init_resp) = session.init;
        let (index, km) = session.sa_of(init_resp);
        let sa = session.ike_sa(index);
        let psk = SecretBytes::from_slice(&sc.psk);
        let (auth_req, auth_resp) = ike_auth(&session);
        for (dec, initiator, real_message, peer_nonce, sk_p) in [
            (auth_req, true, init_req, &sa.nr, &km.sk_pi),
            (auth_resp, false, init_resp, &sa.ni, &km.sk_pr),
        ] {
            let at = sc.at(dec.row());
            let payloads = dec.payloads(sc);
            let (id, auth) = id_and_auth(&payloads, initiator, &at);
            let octets = keymat::signed_octets(
                sa.suite.prf,
                &real_message.bytes,
                peer_nonce,
                &SecretBytes::from_slice(sk_p),
                &id.auth_octets(),
            );
            let ours = keymat::psk_auth(sa.suite.prf, &psk, &octets);
            assert_hex_eq(&ours, auth.data, &format!("{at}: AUTH data"));
            assert!(
                keymat::verify_psk_auth(sa.suite.prf, &psk, &octets, auth.data),
                "{at}: verify_psk_auth"
            );
            // and the check is not vacuous: another message or PSK fails
            let mut other = octets.clone();
            other[0] ^= 1;
            assert!(!keymat::verify_psk_auth(
                sa.suite.prf,
                &psk,
                &other,
                auth.data
            ));
            let wrong = SecretBytes::from_slice(b"not the lab psk");
            assert!(!keymat::verify_psk_auth(
                sa.suite.prf,
                &wrong,
                &octets,
                auth.data
            ));
            verified += 1;
        }
    }
    assert_eq!(verified, 2 * scenarios.len());
}

#[test]
fn rekey_and_delete_name_captured_child_spis() {
    let scenarios = captures::all();
    let mut checked = 0;
    for session in sessions(&scenarios) {
        let sc = session.sc;
        let known: BTreeSet<u32> = session
            .children
            .iter()
            .flat_map(|c| [c.spi_req, c.spi_resp])
            .collect();
        for dec in &session.decrypted {
            let at = sc.at(dec.row());
            for p in dec.payloads(sc) {
                let spis = match &p {
                    Payload::Notify(n) if n.ty == NotifyType::REKEY_SA => {
                        vec![
                            n.child_spi()
                                .unwrap_or_else(|| panic!("{at}: REKEY_SA SPI")),
                        ]
                    }
                    Payload::Delete(d) if d.protocol == ProtocolId::ESP => d.spis.clone(),
                    _ => continue,
                };
                for spi in spis {
                    assert!(known.contains(&spi), "{at}: SPI {spi:08x} of no CHILD SA");
                    checked += 1;
                }
            }
        }
    }
    let listed = total(&scenarios, |s| {
        s.datagrams
            .iter()
            .flat_map(|d| &d.row.inner)
            .map(|p| match p.as_str() {
                "N(REKEY_SA)" => 1,
                p => p
                    .strip_prefix("D(ESP,")
                    .and_then(|n| n.strip_suffix(')'))
                    .map_or(0, |n| n.parse().expect("SPI count")),
            })
            .sum()
    });
    assert_eq!(checked, listed);
}
