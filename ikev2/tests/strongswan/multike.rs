//! Known-answer tests for RFC 9370 multiple key exchanges (X25519 + ML-KEM-768) from a
//! real strongSwan 6.1.0 capture: `tests/data/strongswan6/mlkem/` (see the README
//! there; recorded by `scripts/strongswan-lab capture --strongswan6`, extracted and
//! re-derived by `scripts/lab/ike_extract_multike.py`).
//!
//! Expected values are what strongSwan logged (keymat.json: shared secrets of every key
//! exchange, SKEYSEED and SK_* of every key set, CHILD SA keys) and the captured bytes.
//! Nonces, SPIs, proposals and KE payloads are taken from the captured messages, which
//! this crate parses and decrypts. Checked with the crate's public API only:
//!
//! - (a) the key set of IKE_SA_INIT from the X25519 secret;
//! - (b) the key update after IKE_INTERMEDIATE, SKEYSEED(1) = prf(SK_d(0), SK(1) | Ni |
//!   Nr) (RFC 9370 section 2.2.2), chained from our own round-0 keys;
//! - (c) the CHILD SA keys of the rekey with CREATE_CHILD_SA + IKE_FOLLOWUP_KE, and of
//!   the IKE_AUTH CHILD SA;
//! - (d) the keys of the rekeyed IKE SA (SK(0) | Ni | Nr | SK(1), section 2.2.4);
//! - (e) every encrypted datagram authenticates with the key set in force for it and
//!   with no other key set of its IKE SA, decrypts to the extracted plaintext, and the
//!   KE payloads (method 36) and ADDITIONAL_KEY_EXCHANGE notifies (16441) sit where
//!   RFC 9370 puts them.
//!
//! Each test counts what it checked against the README's counts, so a missing or
//! emptied data directory fails.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use ikev2::crypto::algorithms::{EspSuite, IkeSuite};
use ikev2::crypto::kem;
use ikev2::crypto::keymat::{self, ChildKeys, IkeKeys};
use ikev2::crypto::proposal::Proposal;
use ikev2::crypto::secret::SecretBytes;
use ikev2::crypto::sk::{
    FragmentAssembler, FragmentLimits, Opened, Reassembly, SkError, SkPlaintext, SkProtector,
};
use ikev2::wire::{
    self, DhGroup, ExchangeType, Message, NotifyType, Payload, ProtocolId, TransformType,
    parse_payload_chain,
};
use serde_json::Value;

const SCENARIO: &str = "mlkem";

// ------------------------------------------------------------------------------------
// The data directory

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/strongswan6")
}

fn unhex(s: &str, what: &str) -> Vec<u8> {
    hex::decode(s).unwrap_or_else(|e| panic!("{SCENARIO}: {what}: `{s}` is not hex: {e}"))
}

fn spi8(s: &str, what: &str) -> [u8; 8] {
    unhex(s, what)
        .try_into()
        .unwrap_or_else(|_| panic!("{SCENARIO}: {what}: `{s}` is not an 8-octet SPI"))
}

fn spi4(s: &str, what: &str) -> u32 {
    let b: [u8; 4] = unhex(s, what)
        .try_into()
        .unwrap_or_else(|_| panic!("{SCENARIO}: {what}: `{s}` is not a 4-octet SPI"));
    u32::from_be_bytes(b)
}

/// One MANIFEST.tsv row and its .bin.
#[derive(Debug)]
struct Datagram {
    file: String,
    exchange: String,
    /// 1-based index into keymat.json `ike_sas`; `None` for IKE_SA_INIT.
    ike_sa: Option<usize>,
    /// The key set (`sa1.k0`, ...) the extractor found protecting it.
    keys: Option<String>,
    inner: Vec<String>,
    inner_first: Option<u8>,
    plaintext_file: Option<String>,
    bytes: Vec<u8>,
}

#[derive(Debug)]
struct KeyExchange {
    method: DhGroup,
    exchange: String,
    files: Vec<String>,
    secret: SecretBytes,
}

/// One key set of an IKE SA, as strongSwan logged it.
#[derive(Debug)]
struct KeySet {
    name: String,
    after_key_exchanges: usize,
    skeyseed: Vec<u8>,
    /// SK_d, SK_ai, SK_ar, SK_ei, SK_er, SK_pi, SK_pr.
    sk: [Vec<u8>; 7],
    protects: Vec<String>,
}

#[derive(Debug)]
struct IkeSaData {
    spi_i: [u8; 8],
    spi_r: [u8; 8],
    created_by: Vec<String>,
    rekeyed_from: Option<([u8; 8], [u8; 8])>,
    ni: Vec<u8>,
    nr: Vec<u8>,
    key_exchanges: Vec<KeyExchange>,
    keys: Vec<KeySet>,
}

#[derive(Debug)]
struct ChildData {
    uid: u64,
    created_by: Vec<String>,
    /// 1-based.
    ike_sa: usize,
    sk_d_of: String,
    key_exchanges: Vec<KeyExchange>,
    ni: Vec<u8>,
    nr: Vec<u8>,
    seed: Vec<u8>,
    encr_i: Vec<u8>,
    integ_i: Vec<u8>,
    encr_r: Vec<u8>,
    integ_r: Vec<u8>,
    spi_of_encr_i: u32,
    spi_of_encr_r: u32,
}

struct Data {
    dir: PathBuf,
    datagrams: Vec<Datagram>,
    ike_sas: Vec<IkeSaData>,
    children: Vec<ChildData>,
    /// From the README: IKE messages, IKE SAs, key sets per IKE SA, CHILD SAs.
    readme: (usize, usize, Vec<usize>, usize),
}

const SK_NAMES: [&str; 7] = ["SK_d", "SK_ai", "SK_ar", "SK_ei", "SK_er", "SK_pi", "SK_pr"];

impl Data {
    fn load() -> Self {
        let dir = dir().join(SCENARIO);
        assert!(dir.is_dir(), "no directory {}", dir.display());
        let datagrams = read_manifest(&dir);
        let on_disk: BTreeSet<String> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| {
                e.expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|f| f.ends_with(".bin"))
            .collect();
        let listed: BTreeSet<String> = datagrams.iter().map(|d| d.file.clone()).collect();
        assert_eq!(on_disk, listed, "{SCENARIO}: .bin files vs MANIFEST.tsv");
        let (ike_sas, children) = read_keymat(&dir.join("keymat.json"));
        let data = Data {
            dir,
            datagrams,
            ike_sas,
            children,
            readme: readme_counts(),
        };
        let (messages, sas, ref key_sets, children) = data.readme;
        assert!(
            messages > 0 && sas > 0 && children > 0,
            "README counts {:?}",
            data.readme
        );
        assert_eq!(data.datagrams.len(), messages, "messages vs README");
        assert_eq!(data.ike_sas.len(), sas, "IKE SAs vs README");
        let ours: Vec<usize> = data.ike_sas.iter().map(|s| s.keys.len()).collect();
        assert_eq!(&ours, key_sets, "key sets per IKE SA vs README");
        assert_eq!(data.children.len(), children, "CHILD SAs vs README");
        data
    }

    fn datagram(&self, file: &str) -> &Datagram {
        self.datagrams
            .iter()
            .find(|d| d.file == file)
            .unwrap_or_else(|| panic!("{SCENARIO}: {file} not in MANIFEST.tsv"))
    }

    fn sa_index(&self, spi_i: [u8; 8], spi_r: [u8; 8]) -> usize {
        self.ike_sas
            .iter()
            .position(|s| s.spi_i == spi_i && s.spi_r == spi_r)
            .unwrap_or_else(|| {
                panic!("{SCENARIO}: SPIs {spi_i:02x?}/{spi_r:02x?} not in keymat.json")
            })
    }
}

fn read_manifest(dir: &Path) -> Vec<Datagram> {
    let path = dir.join("MANIFEST.tsv");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty());
    let header: Vec<&str> = lines
        .next()
        .expect("MANIFEST.tsv header")
        .split('\t')
        .collect();
    let col = |k: &str| {
        header
            .iter()
            .position(|h| *h == k)
            .unwrap_or_else(|| panic!("MANIFEST.tsv: no column {k}"))
    };
    let c = [
        col("file"),
        col("exchange"),
        col("ike_sa"),
        col("keys"),
        col("inner_payloads"),
        col("inner_first_payload"),
        col("plaintext_file"),
    ];
    let rows: Vec<Datagram> = lines
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(f.len(), header.len(), "MANIFEST row `{line}`");
            let opt = |k: usize| Some(f[c[k]]).filter(|s| !s.is_empty() && *s != "-");
            let file = f[c[0]].to_owned();
            let bytes = fs::read(dir.join(&file)).unwrap_or_else(|e| panic!("{file}: {e}"));
            Datagram {
                exchange: f[c[1]].to_owned(),
                ike_sa: opt(2).map(|s| s.parse().expect("ike_sa")),
                keys: opt(3).map(str::to_owned),
                inner: match f[c[4]] {
                    "(empty)" => Vec::new(),
                    s => s.split_whitespace().map(str::to_owned).collect(),
                },
                inner_first: opt(5).map(|s| s.parse().expect("inner_first_payload")),
                plaintext_file: opt(6).map(str::to_owned),
                file,
                bytes,
            }
        })
        .collect();
    assert!(!rows.is_empty(), "{SCENARIO}: MANIFEST.tsv has no rows");
    rows
}

fn str_of<'v>(o: &'v Value, k: &str) -> &'v str {
    o[k].as_str()
        .unwrap_or_else(|| panic!("{SCENARIO}: keymat.json: no string `{k}` in {o}"))
}

fn files_of(o: &Value, k: &str) -> Vec<String> {
    o[k].as_array()
        .unwrap_or_else(|| panic!("{SCENARIO}: keymat.json: no list `{k}`"))
        .iter()
        .map(|f| f.as_str().expect("file name").to_owned())
        .collect()
}

fn key_exchanges(o: &Value) -> Vec<KeyExchange> {
    o["key_exchanges"]
        .as_array()
        .expect("key_exchanges")
        .iter()
        .map(|k| KeyExchange {
            method: DhGroup(
                k["method"]
                    .as_u64()
                    .and_then(|m| u16::try_from(m).ok())
                    .expect("method"),
            ),
            exchange: str_of(k, "exchange").to_owned(),
            files: files_of(k, "files"),
            secret: SecretBytes::new(unhex(str_of(k, "shared_secret"), "shared_secret")),
        })
        .collect()
}

fn read_keymat(path: &Path) -> (Vec<IkeSaData>, Vec<ChildData>) {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("keymat.json: {e}"));
    assert_eq!(
        v["format"].as_str(),
        Some("multike-1"),
        "keymat.json format"
    );
    let h = |o: &Value, k: &str| unhex(str_of(o, k), k);
    let ike_sas = v["ike_sas"]
        .as_array()
        .expect("ike_sas")
        .iter()
        .map(|o| IkeSaData {
            spi_i: spi8(str_of(o, "spi_i"), "spi_i"),
            spi_r: spi8(str_of(o, "spi_r"), "spi_r"),
            created_by: files_of(o, "created_by"),
            rekeyed_from: o["rekeyed_from"].as_array().map(|a| {
                let s = |i: usize| spi8(a[i].as_str().expect("SPI"), "rekeyed_from");
                (s(0), s(1))
            }),
            ni: h(o, "ni"),
            nr: h(o, "nr"),
            key_exchanges: key_exchanges(o),
            keys: o["keys"]
                .as_array()
                .expect("keys")
                .iter()
                .map(|k| KeySet {
                    name: str_of(k, "name").to_owned(),
                    after_key_exchanges: k["after_key_exchanges"].as_u64().expect("after") as usize,
                    skeyseed: h(k, "skeyseed"),
                    sk: ["sk_d", "sk_ai", "sk_ar", "sk_ei", "sk_er", "sk_pi", "sk_pr"]
                        .map(|n| h(k, n)),
                    protects: files_of(k, "protects"),
                })
                .collect(),
        })
        .collect();
    let children = v["child_sas"]
        .as_array()
        .expect("child_sas")
        .iter()
        .map(|o| ChildData {
            uid: o["uid"].as_u64().expect("uid"),
            created_by: files_of(o, "created_by"),
            ike_sa: o["ike_sa"].as_u64().expect("ike_sa") as usize,
            sk_d_of: str_of(o, "sk_d_of").to_owned(),
            key_exchanges: key_exchanges(o),
            ni: h(o, "ni"),
            nr: h(o, "nr"),
            seed: h(o, "seed"),
            encr_i: h(o, "encr_i"),
            integ_i: h(o, "integ_i"),
            encr_r: h(o, "encr_r"),
            integ_r: h(o, "integ_r"),
            spi_of_encr_i: spi4(str_of(o, "spi_of_encr_i"), "spi_of_encr_i"),
            spi_of_encr_r: spi4(str_of(o, "spi_of_encr_r"), "spi_of_encr_r"),
        })
        .collect();
    (ike_sas, children)
}

/// "- 25 IKE messages, 2 IKE SAs (key sets: SA 1: 2, SA 2: 1), 2 CHILD_SAs" in the
/// README section of the scenario.
fn readme_counts() -> (usize, usize, Vec<usize>, usize) {
    let path = dir().join("README.md");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let heading = format!("## `{SCENARIO}/`");
    let section = text
        .split_once(&heading)
        .unwrap_or_else(|| panic!("README.md has no section {heading}"))
        .1;
    let line = section
        .lines()
        .find(|l| l.starts_with("- ") && l.contains(" IKE messages"))
        .unwrap_or_else(|| panic!("README.md {heading}: no `- N IKE messages` line"));
    let numbers: Vec<usize> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().expect("number"))
        .collect();
    // 25, 2, [1, 2, 2, 1], 2: messages, SAs, (SA number, key sets)*, children
    assert!(
        numbers.len() >= 5 && numbers.len() % 2 == 1,
        "README: `{line}`"
    );
    let sets = numbers[2..numbers.len() - 1]
        .chunks(2)
        .map(|p| p[1])
        .collect();
    (numbers[0], numbers[1], sets, numbers[numbers.len() - 1])
}

// ------------------------------------------------------------------------------------
// Helpers over messages

fn parse(d: &Datagram) -> Message<'_> {
    Message::parse(&d.bytes).unwrap_or_else(|e| panic!("{}: parse: {e}", d.file))
}

fn hexeq(ours: &[u8], theirs: &[u8], what: &str) {
    assert_eq!(hex::encode(ours), hex::encode(theirs), "{what}");
}

fn nonce<'a>(payloads: &[Payload<'a>], at: &str) -> &'a [u8] {
    let n: Vec<&[u8]> = payloads
        .iter()
        .filter_map(|p| match p {
            Payload::Nonce(n) => Some(n.data),
            _ => None,
        })
        .collect();
    assert_eq!(n.len(), 1, "{at}: Nonce payloads");
    n[0]
}

fn kes<'p, 'a>(payloads: &'p [Payload<'a>]) -> Vec<&'p wire::Ke<'a>> {
    payloads
        .iter()
        .filter_map(|p| match p {
            Payload::Ke(k) => Some(k),
            _ => None,
        })
        .collect()
}

fn sa<'p, 'a>(payloads: &'p [Payload<'a>], at: &str) -> &'p wire::Sa<'a> {
    payloads
        .iter()
        .find_map(|p| match p {
            Payload::Sa(s) => Some(s),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{at}: no SA payload"))
}

fn notifies<'p, 'a>(payloads: &'p [Payload<'a>], ty: NotifyType) -> Vec<&'p wire::Notify<'a>> {
    payloads
        .iter()
        .filter_map(|p| match p {
            Payload::Notify(n) if n.ty == ty => Some(n),
            _ => None,
        })
        .collect()
}

/// The single proposal of a response's SA payload.
fn chosen<'p, 'a>(payloads: &'p [Payload<'a>], at: &str) -> &'p wire::Proposal<'a> {
    let s = sa(payloads, at);
    assert_eq!(s.proposals.len(), 1, "{at}: proposals in the response");
    &s.proposals[0]
}

/// The KE methods a wire proposal names: (type 4 DH, ADDKE1..7).
fn ke_transforms(p: &wire::Proposal<'_>) -> (Vec<u16>, Vec<(u8, u16)>) {
    let dh = p
        .transforms
        .iter()
        .filter(|t| t.ty == TransformType::DH)
        .map(|t| t.id)
        .collect();
    let add = p
        .transforms
        .iter()
        .filter(|t| (TransformType::ADDKE1.0..TransformType::ADDKE1.0 + 7).contains(&t.ty.0))
        .map(|t| (t.ty.0 - TransformType::ADDKE1.0 + 1, t.id))
        .collect();
    (dh, add)
}

fn ike_suite_of(p: &wire::Proposal<'_>, at: &str) -> IkeSuite {
    let proposal = Proposal::from_wire(p).unwrap_or_else(|e| panic!("{at}: proposal: {e}"));
    proposal
        .ike_suite()
        .unwrap_or_else(|| panic!("{at}: no IKE suite in {}", proposal.describe()))
}

/// The ESP suite for the key lengths: the proposal without its key exchange
/// transforms (their secrets are passed to the derivation explicitly).
fn esp_cipher_suite(p: &wire::Proposal<'_>, at: &str) -> EspSuite {
    let mut p = p.clone();
    p.transforms.retain(|t| {
        t.ty != TransformType::DH
            && !(TransformType::ADDKE1.0..TransformType::ADDKE1.0 + 7).contains(&t.ty.0)
    });
    let proposal = Proposal::from_wire(&p).unwrap_or_else(|e| panic!("{at}: proposal: {e}"));
    let suite = proposal
        .esp_suite()
        .unwrap_or_else(|| panic!("{at}: no ESP suite in {}", proposal.describe()));
    assert_eq!(suite.dh, None, "{at}: KE transforms removed");
    suite
}

fn esp_spi(p: &wire::Proposal<'_>, at: &str) -> u32 {
    u32::from_be_bytes(
        p.spi
            .try_into()
            .unwrap_or_else(|_| panic!("{at}: ESP SPI of {} octets", p.spi.len())),
    )
}

fn ike_keys_eq(ours: &IkeKeys, theirs: &KeySet, at: &str) -> usize {
    let ours = [
        &ours.sk_d,
        &ours.sk_ai,
        &ours.sk_ar,
        &ours.sk_ei,
        &ours.sk_er,
        &ours.sk_pi,
        &ours.sk_pr,
    ];
    for ((name, o), t) in SK_NAMES.iter().zip(ours).zip(&theirs.sk) {
        hexeq(o.expose(), t, &format!("{at}: {name}"));
    }
    SK_NAMES.len()
}

fn secret(s: &[u8]) -> SecretBytes {
    SecretBytes::from_slice(s)
}

// ------------------------------------------------------------------------------------
// Replaying the capture: decryption with the key set in force

/// The receiver's protector for a datagram under key set `k` of its IKE SA.
fn receiver(d: &Datagram, suite: &IkeSuite, k: &KeySet) -> SkProtector {
    let from_initiator = parse(d).header.flags.is_initiator();
    let build = if from_initiator {
        SkProtector::responder
    } else {
        SkProtector::initiator
    };
    build(
        suite.encr,
        suite.integ,
        &k.sk[3],
        &k.sk[1],
        &k.sk[4],
        &k.sk[2],
    )
    .unwrap_or_else(|e| panic!("{}: SK protector: {e}", d.file))
}

/// One decrypted IKE message (a single SK datagram or all SKF fragments).
struct Decrypted<'d> {
    parts: Vec<&'d Datagram>,
    /// 0-based index into `ike_sas`.
    ike_sa: usize,
    /// Index of the key set that opened it.
    key_set: usize,
    exchange: ExchangeType,
    message_id: u32,
    response: bool,
    plaintext: SkPlaintext,
}

impl Decrypted<'_> {
    fn last(&self) -> &Datagram {
        self.parts.last().expect("one datagram")
    }

    fn payloads(&self) -> Vec<Payload<'_>> {
        parse_payload_chain(self.plaintext.next_payload, &self.plaintext.payloads)
            .unwrap_or_else(|e| panic!("{}: inner payloads: {e}", self.last().file))
    }
}

struct Replay<'d> {
    /// Per IKE SA: the suite of the exchange that created it.
    suites: Vec<IkeSuite>,
    messages: Vec<Decrypted<'d>>,
    /// Datagrams that authenticated, and (datagram, other key set) pairs that did not.
    datagrams: usize,
    rejected: usize,
}

impl<'d> Replay<'d> {
    /// Decrypts every encrypted datagram in wire order. The key set in force is the
    /// one the exchanges make current, found here without the MANIFEST: the first set
    /// until the IKE_INTERMEDIATE response with a KE payload has been received, the
    /// last set afterwards (one IKE_INTERMEDIATE round in this capture). Every other
    /// key set of the SA must fail the integrity check.
    fn run(data: &'d Data) -> Self {
        let suites = suites(data);
        let mut r = Replay {
            suites,
            messages: Vec::new(),
            datagrams: 0,
            rejected: 0,
        };
        let mut current = vec![0usize; data.ike_sas.len()];
        let mut assemblers: HashMap<(usize, u32, bool), (FragmentAssembler, Vec<&Datagram>)> =
            HashMap::new();
        for d in &data.datagrams {
            let m = parse(d);
            let h = &m.header;
            if h.exchange_type == ExchangeType::IKE_SA_INIT {
                assert!(d.keys.is_none(), "{}: IKE_SA_INIT with keys", d.file);
                continue;
            }
            let index = data.sa_index(h.spi_i.to_bytes(), h.spi_r.to_bytes());
            let sa = &data.ike_sas[index];
            let k = current[index];
            assert_eq!(d.ike_sa, Some(index + 1), "{}: ike_sa column", d.file);
            assert_eq!(
                d.keys.as_deref(),
                Some(sa.keys[k].name.as_str()),
                "{}: keys column vs the key set in force",
                d.file
            );
            assert!(
                sa.keys[k].protects.contains(&d.file),
                "{}: not in {}.protects",
                d.file,
                sa.keys[k].name
            );
            let suite = &r.suites[index];
            for (other, ks) in sa.keys.iter().enumerate().filter(|(o, _)| *o != k) {
                assert_eq!(
                    receiver(d, suite, ks).open(&d.bytes),
                    Err(SkError::IntegrityCheckFailed),
                    "{}: must not authenticate with key set {other} ({})",
                    d.file,
                    ks.name
                );
                r.rejected += 1;
            }
            let opened = receiver(d, suite, &sa.keys[k])
                .open(&d.bytes)
                .unwrap_or_else(|e| panic!("{}: decrypt with {}: {e}", d.file, sa.keys[k].name));
            r.datagrams += 1;
            let key = (index, h.message_id, h.flags.is_response());
            let (parts, plaintext) = match opened {
                Opened::Message(pt) => (vec![d], pt),
                Opened::Fragment(f) => {
                    let (asm, parts) = assemblers.entry(key).or_insert_with(|| {
                        (
                            FragmentAssembler::new(FragmentLimits::default()),
                            Vec::new(),
                        )
                    });
                    parts.push(d);
                    match asm.add(f) {
                        Ok(Reassembly::Incomplete { .. }) => continue,
                        Ok(Reassembly::Complete(pt)) => {
                            let (_, parts) = assemblers.remove(&key).expect("present");
                            (parts, pt)
                        }
                        other => panic!("{}: reassembly: {other:?}", d.file),
                    }
                }
            };
            let dec = Decrypted {
                parts,
                ike_sa: index,
                key_set: k,
                exchange: h.exchange_type,
                message_id: h.message_id,
                response: h.flags.is_response(),
                plaintext,
            };
            // An IKE_INTERMEDIATE response with KE completes a key exchange: the next
            // key set protects everything after it (RFC 9370 section 2.2.2).
            if dec.exchange == ExchangeType::IKE_INTERMEDIATE
                && dec.response
                && !kes(&dec.payloads()).is_empty()
            {
                current[index] += 1;
                assert!(
                    current[index] < sa.keys.len(),
                    "{}: more IKE_INTERMEDIATE rounds than key sets",
                    d.file
                );
            }
            r.messages.push(dec);
        }
        let left: Vec<_> = assemblers
            .values()
            .flat_map(|(_, p)| p)
            .map(|d| &d.file)
            .collect();
        assert!(left.is_empty(), "incomplete fragmented messages: {left:?}");
        for (i, sa) in data.ike_sas.iter().enumerate() {
            assert_eq!(
                current[i],
                sa.keys.len() - 1,
                "SA {}: key sets never used",
                i + 1
            );
        }
        r
    }

    /// The decrypted message whose last datagram is `file`, or whose datagrams
    /// include it.
    fn message(&self, file: &str) -> &Decrypted<'d> {
        self.messages
            .iter()
            .find(|m| m.parts.iter().any(|d| d.file == file))
            .unwrap_or_else(|| panic!("{file}: not decrypted"))
    }

    /// The request and the response among `files` (the datagrams of one exchange).
    fn exchange(&self, files: &[String]) -> (&Decrypted<'d>, &Decrypted<'d>) {
        let mut req: Option<&Decrypted<'d>> = None;
        let mut resp: Option<&Decrypted<'d>> = None;
        for f in files {
            let m = self.message(f);
            let slot = if m.response { &mut resp } else { &mut req };
            if let Some(prev) = *slot {
                assert!(std::ptr::eq(prev, m), "{f}: two messages in one direction");
            }
            *slot = Some(m);
        }
        let (q, r) = (req.expect("request"), resp.expect("response"));
        assert_eq!(
            (q.ike_sa, q.message_id, q.exchange),
            (r.ike_sa, r.message_id, r.exchange),
            "{files:?}: not one exchange"
        );
        (q, r)
    }
}

/// The IKE suite of each IKE SA: from the IKE_SA_INIT response for the first, from the
/// rekeying CREATE_CHILD_SA response (decrypted with the old SA's keys) for the others.
fn suites(data: &Data) -> Vec<IkeSuite> {
    let mut out: Vec<Option<IkeSuite>> = data.ike_sas.iter().map(|_| None).collect();
    for (i, sa) in data.ike_sas.iter().enumerate() {
        if sa.rekeyed_from.is_some() {
            continue;
        }
        let resp = data.datagram(&sa.created_by[1]);
        let m = parse(resp);
        assert_eq!(
            m.header.exchange_type,
            ExchangeType::IKE_SA_INIT,
            "{}",
            resp.file
        );
        out[i] = Some(ike_suite_of(chosen(&m.payloads, &resp.file), &resp.file));
    }
    // rekeyed SAs: decrypt the creating response with the parent's last key set
    for (i, sa) in data.ike_sas.iter().enumerate() {
        let Some((pi, pr)) = sa.rekeyed_from else {
            continue;
        };
        let parent = data.sa_index(pi, pr);
        let psuite = out[parent].expect("parent created first");
        let pkeys = data.ike_sas[parent].keys.last().expect("key set");
        let resp = sa
            .created_by
            .iter()
            .map(|f| data.datagram(f))
            .find(|d| {
                let h = parse(d).header;
                h.exchange_type == ExchangeType::CREATE_CHILD_SA && h.flags.is_response()
            })
            .expect("CREATE_CHILD_SA response");
        let pt = match receiver(resp, &psuite, pkeys).open(&resp.bytes) {
            Ok(Opened::Message(pt)) => pt,
            other => panic!("{}: {other:?}", resp.file),
        };
        let payloads = parse_payload_chain(pt.next_payload, &pt.payloads).expect("payloads");
        out[i] = Some(ike_suite_of(chosen(&payloads, &resp.file), &resp.file));
    }
    out.into_iter().map(|s| s.expect("suite")).collect()
}

// ------------------------------------------------------------------------------------
// (a) + (b): the first IKE SA, round by round

#[test]
fn ike_sa_init_and_intermediate_key_sets_match_strongswan() {
    let data = Data::load();
    let suites = suites(&data);
    let (mut rounds, mut compared) = (0, 0);
    let initial: Vec<usize> = (0..data.ike_sas.len())
        .filter(|&i| data.ike_sas[i].rekeyed_from.is_none())
        .collect();
    assert_eq!(initial.len(), 1, "one IKE SA from IKE_SA_INIT");
    let sa = &data.ike_sas[initial[0]];
    let suite = suites[initial[0]];
    let at = format!("{SCENARIO}: IKE SA 1");

    // The IKE_SA_INIT exchange: nonces, SPIs, proposal and KE payloads from the wire.
    let (req, resp) = (
        data.datagram(&sa.created_by[0]),
        data.datagram(&sa.created_by[1]),
    );
    let (mq, mr) = (parse(req), parse(resp));
    let (ni, nr) = (
        nonce(&mq.payloads, &req.file),
        nonce(&mr.payloads, &resp.file),
    );
    hexeq(ni, &sa.ni, &format!("{at}: Ni"));
    hexeq(nr, &sa.nr, &format!("{at}: Nr"));
    assert_eq!(
        (mr.header.spi_i.to_bytes(), mr.header.spi_r.to_bytes()),
        (sa.spi_i, sa.spi_r),
        "{at}: SPIs"
    );
    assert_eq!(suite.dh, DhGroup::CURVE25519, "{at}: KE method");
    assert_eq!(
        suite.additional().collect::<Vec<_>>(),
        vec![(1, DhGroup::ML_KEM_768)],
        "{at}: ADDKE1 = ML-KEM-768"
    );
    for m in [&mq, &mr] {
        let k = kes(&m.payloads);
        assert_eq!(k.len(), 1, "{at}: KE payloads in IKE_SA_INIT");
        assert_eq!(
            (k[0].group, k[0].data.len()),
            (DhGroup::CURVE25519, 32),
            "{at}: KE"
        );
        assert_eq!(
            notifies(&m.payloads, NotifyType::INTERMEDIATE_EXCHANGE_SUPPORTED).len(),
            1,
            "{at}: INTERMEDIATE_EXCHANGE_SUPPORTED"
        );
    }

    // The key exchanges: X25519 in IKE_SA_INIT, then one per IKE_INTERMEDIATE.
    assert_eq!(
        sa.key_exchanges.len(),
        1 + suite.additional().count(),
        "{at}"
    );
    assert_eq!(
        sa.keys.len(),
        sa.key_exchanges.len(),
        "{at}: one key set per exchange"
    );
    let methods: Vec<DhGroup> = std::iter::once(suite.dh)
        .chain(suite.additional().map(|(_, m)| m))
        .collect();
    for (n, (ke, method)) in sa.key_exchanges.iter().zip(&methods).enumerate() {
        assert_eq!(ke.method, *method, "{at}: method of key exchange {n}");
        let want = if n == 0 {
            "IKE_SA_INIT"
        } else {
            "IKE_INTERMEDIATE"
        };
        assert_eq!(ke.exchange, want, "{at}: exchange of key exchange {n}");
        assert_eq!(ke.secret.len(), 32, "{at}: SK({n}) length");
    }

    // (a) round 0 from the X25519 secret.
    let k0 = &sa.keys[0];
    assert_eq!(k0.after_key_exchanges, 1, "{at}");
    let seed0 = keymat::skeyseed(suite.prf, ni, nr, &sa.key_exchanges[0].secret);
    hexeq(seed0.expose(), &k0.skeyseed, &format!("{at}: SKEYSEED(0)"));
    let mut keys = IkeKeys::derive(&suite, &seed0, ni, nr, &sa.spi_i, &sa.spi_r)
        .unwrap_or_else(|e| panic!("{at}: {e}"));
    compared += 1 + ike_keys_eq(&keys, k0, &format!("{at} round 0"));
    let direct = IkeKeys::from_shared_secret(
        &suite,
        &sa.key_exchanges[0].secret,
        ni,
        nr,
        &sa.spi_i,
        &sa.spi_r,
    )
    .unwrap_or_else(|e| panic!("{at}: {e}"));
    assert_eq!(direct, keys, "{at}: from_shared_secret");
    rounds += 1;

    // (b) each IKE_INTERMEDIATE round: SKEYSEED(n) = prf(SK_d(n-1), SK(n) | Ni | Nr)
    // with the IKE_SA_INIT nonces and the SA's own SPIs, chained from OUR keys.
    for n in 1..sa.keys.len() {
        let kn = &sa.keys[n];
        let at = format!("{at} round {n}");
        assert_eq!(kn.after_key_exchanges, n + 1, "{at}");
        let seed = keymat::rekey_skeyseed(
            suite.prf,
            &keys.sk_d,
            &sa.key_exchanges[n].secret,
            ni,
            nr,
            &[],
        );
        hexeq(seed.expose(), &kn.skeyseed, &format!("{at}: SKEYSEED"));
        let next = IkeKeys::derive(&suite, &seed, ni, nr, &sa.spi_i, &sa.spi_r)
            .unwrap_or_else(|e| panic!("{at}: {e}"));
        compared += 1 + ike_keys_eq(&next, kn, &at);
        assert_ne!(next.sk_ei, keys.sk_ei, "{at}: keys changed");
        keys = next;
        rounds += 1;
    }
    let want: usize = data.readme.2[initial[0]];
    assert_eq!(rounds, want, "{at}: key sets checked vs README");
    assert_eq!(compared, want * 8, "{at}: SKEYSEED + 7 keys per key set");
    assert!(rounds >= 2, "{at}: no IKE_INTERMEDIATE round");
}

// ------------------------------------------------------------------------------------
// (c): CHILD SA keys, with CREATE_CHILD_SA + IKE_FOLLOWUP_KE

#[test]
fn child_sa_keys_with_additional_key_exchange_match_strongswan() {
    let data = Data::load();
    let replay = Replay::run(&data);
    let (mut children, mut with_addke) = (0, 0);
    for child in &data.children {
        let at = format!("{SCENARIO}: CHILD SA uid {}", child.uid);
        let ike = child.ike_sa - 1;
        let sa = &data.ike_sas[ike];
        let suite = replay.suites[ike];
        // SK_d of the last key set of the SA the exchange ran in
        let ks = sa.keys.last().expect("key set");
        assert_eq!(child.sk_d_of, ks.name, "{at}: SK_d");
        let sk_d = secret(&ks.sk[0]);
        // the exchange that negotiated the SA (IKE_AUTH or CREATE_CHILD_SA)
        let first_exchange: Vec<String> = match child.key_exchanges.first() {
            Some(ke) => ke.files.clone(),
            None => child.created_by.clone(),
        };
        let (q, r) = replay.exchange(&first_exchange);
        assert_eq!(q.ike_sa, ike, "{at}: IKE SA of the exchange");
        let (pq, pr) = (q.payloads(), r.payloads());
        let proposal = chosen(&pr, &at);
        assert_eq!(proposal.protocol, ProtocolId::ESP, "{at}");
        let esp = esp_cipher_suite(proposal, &at);
        // traffic from the exchange's initiator carries the responder's SPI
        let spi_req = esp_spi(&sa_proposal_numbered(&pq, proposal.num, &at), &at);
        assert_eq!(
            (child.spi_of_encr_i, child.spi_of_encr_r),
            (esp_spi(proposal, &at), spi_req),
            "{at}: SPIs"
        );
        let (ni, nr): (&[u8], &[u8]) = if q.exchange == ExchangeType::IKE_AUTH {
            (&sa.ni, &sa.nr)
        } else {
            (nonce(&pq, &at), nonce(&pr, &at))
        };
        hexeq(ni, &child.ni, &format!("{at}: Ni"));
        hexeq(nr, &child.nr, &format!("{at}: Nr"));
        let (dh, add) = ke_transforms(proposal);
        let (g_ir, additional): (Option<SecretBytes>, Vec<SecretBytes>) =
            if q.exchange == ExchangeType::IKE_AUTH {
                assert!(child.key_exchanges.is_empty(), "{at}: KE in IKE_AUTH");
                (None, Vec::new())
            } else {
                // CREATE_CHILD_SA: KE X25519, then each IKE_FOLLOWUP_KE
                assert_eq!(dh, vec![DhGroup::CURVE25519.0], "{at}: DH transform");
                assert_eq!(
                    add,
                    vec![(1, DhGroup::ML_KEM_768.0)],
                    "{at}: ADDKE transforms"
                );
                assert_eq!(
                    child.key_exchanges.len(),
                    1 + add.len(),
                    "{at}: key exchanges"
                );
                let ke0 = &child.key_exchanges[0];
                assert_eq!(
                    (ke0.method, ke0.exchange.as_str()),
                    (DhGroup::CURVE25519, "CREATE_CHILD_SA"),
                    "{at}"
                );
                for (i, ke) in child.key_exchanges[1..].iter().enumerate() {
                    assert_eq!(
                        (ke.method.0, ke.exchange.as_str()),
                        (add[i].1, "IKE_FOLLOWUP_KE"),
                        "{at}: additional key exchange {}",
                        i + 1
                    );
                    let (fq, _) = replay.exchange(&ke.files);
                    assert_eq!(fq.ike_sa, ike, "{at}: IKE_FOLLOWUP_KE on another SA");
                }
                with_addke += 1;
                (
                    Some(secret(ke0.secret.expose())),
                    child.key_exchanges[1..]
                        .iter()
                        .map(|k| secret(k.secret.expose()))
                        .collect(),
                )
            };
        let mut seed = g_ir.as_ref().map_or(&[][..], |g| g.expose()).to_vec();
        seed.extend_from_slice(ni);
        seed.extend_from_slice(nr);
        for a in &additional {
            seed.extend_from_slice(a.expose());
        }
        hexeq(
            &seed,
            &child.seed,
            &format!("{at}: seed SK(0) | Ni | Nr | SK(1)"),
        );
        let keys = ChildKeys::derive(suite.prf, &sk_d, &esp, g_ir.as_ref(), ni, nr, &additional)
            .unwrap_or_else(|e| panic!("{at}: {e}"));
        hexeq(
            keys.encr_i.expose(),
            &child.encr_i,
            &format!("{at}: encr_i"),
        );
        hexeq(
            keys.integ_i.expose(),
            &child.integ_i,
            &format!("{at}: integ_i"),
        );
        hexeq(
            keys.encr_r.expose(),
            &child.encr_r,
            &format!("{at}: encr_r"),
        );
        hexeq(
            keys.integ_r.expose(),
            &child.integ_r,
            &format!("{at}: integ_r"),
        );
        let len =
            child.encr_i.len() + child.integ_i.len() + child.encr_r.len() + child.integ_r.len();
        let km = keymat::child_keymat(suite.prf, &sk_d, g_ir.as_ref(), ni, nr, &additional, len)
            .unwrap_or_else(|e| panic!("{at}: {e}"));
        let mut joined = child.encr_i.clone();
        joined.extend(
            [&child.integ_i, &child.encr_r, &child.integ_r]
                .into_iter()
                .flatten(),
        );
        hexeq(km.expose(), &joined, &format!("{at}: KEYMAT"));
        if !additional.is_empty() {
            // the ML-KEM secret is part of the keys: without it they differ
            let classic = ChildKeys::derive(suite.prf, &sk_d, &esp, g_ir.as_ref(), ni, nr, &[])
                .unwrap_or_else(|e| panic!("{at}: {e}"));
            assert_ne!(classic.encr_i, keys.encr_i, "{at}: ADDKE ignored");
        }
        children += 1;
    }
    assert_eq!(children, data.readme.3, "CHILD SAs checked vs README");
    assert!(
        with_addke >= 1,
        "no CHILD SA rekey with an additional key exchange"
    );
}

/// The proposal with number `num` in a request's SA payload.
fn sa_proposal_numbered<'a>(payloads: &[Payload<'a>], num: u8, at: &str) -> wire::Proposal<'a> {
    sa(payloads, at)
        .proposals
        .iter()
        .find(|p| p.num == num)
        .unwrap_or_else(|| panic!("{at}: request has no proposal #{num}"))
        .clone()
}

// ------------------------------------------------------------------------------------
// (d): the rekeyed IKE SA

#[test]
fn rekeyed_ike_sa_keys_with_additional_key_exchange_match_strongswan() {
    let data = Data::load();
    let replay = Replay::run(&data);
    let mut checked = 0;
    for (index, sa) in data.ike_sas.iter().enumerate() {
        let Some((pi, pr)) = sa.rekeyed_from else {
            continue;
        };
        let at = format!("{SCENARIO}: IKE SA {}", index + 1);
        let parent = data.sa_index(pi, pr);
        let old_suite = replay.suites[parent];
        let old = data.ike_sas[parent].keys.last().expect("key set");
        let suite = replay.suites[index];
        assert_eq!(sa.keys.len(), 1, "{at}: a rekeyed SA has one key set");
        assert_eq!(
            sa.key_exchanges.len(),
            1 + suite.additional().count(),
            "{at}: key exchanges"
        );
        assert_eq!(
            sa.keys[0].after_key_exchanges,
            sa.key_exchanges.len(),
            "{at}"
        );
        // CREATE_CHILD_SA in the old SA: nonces and new SPIs from the wire
        let ke0 = &sa.key_exchanges[0];
        assert_eq!(ke0.exchange, "CREATE_CHILD_SA", "{at}");
        let (q, r) = replay.exchange(&ke0.files);
        assert_eq!(q.ike_sa, parent, "{at}: rekeyed in the old SA");
        let (pq, pr_) = (q.payloads(), r.payloads());
        let (ni, nr) = (nonce(&pq, &at), nonce(&pr_, &at));
        hexeq(ni, &sa.ni, &format!("{at}: Ni"));
        hexeq(nr, &sa.nr, &format!("{at}: Nr"));
        let p = chosen(&pr_, &at);
        assert_eq!(p.protocol, ProtocolId::IKE, "{at}");
        let spi_i: [u8; 8] = sa_proposal_numbered(&pq, p.num, &at)
            .spi
            .try_into()
            .expect("8-octet SPI");
        let spi_r: [u8; 8] = p.spi.try_into().expect("8-octet SPI");
        assert_eq!((spi_i, spi_r), (sa.spi_i, sa.spi_r), "{at}: new SPIs");
        assert_eq!(suite.dh, DhGroup::CURVE25519, "{at}");
        assert_eq!(
            suite.additional().collect::<Vec<_>>(),
            vec![(1, DhGroup::ML_KEM_768)],
            "{at}: ADDKE1"
        );
        assert_eq!(ke0.method, suite.dh, "{at}: SK(0) method");
        for (ke, (_, m)) in sa.key_exchanges[1..].iter().zip(suite.additional()) {
            assert_eq!(
                (ke.method, ke.exchange.as_str()),
                (m, "IKE_FOLLOWUP_KE"),
                "{at}"
            );
            let (fq, _) = replay.exchange(&ke.files);
            assert_eq!(fq.ike_sa, parent, "{at}: IKE_FOLLOWUP_KE in the old SA");
        }
        // SKEYSEED = prf(SK_d (old), SK(0) | Ni | Nr | SK(1) | ... | SK(n)), old PRF
        let additional: Vec<SecretBytes> = sa.key_exchanges[1..]
            .iter()
            .map(|k| secret(k.secret.expose()))
            .collect();
        let seed = keymat::rekey_skeyseed(
            old_suite.prf,
            &secret(&old.sk[0]),
            &ke0.secret,
            ni,
            nr,
            &additional,
        );
        hexeq(
            seed.expose(),
            &sa.keys[0].skeyseed,
            &format!("{at}: SKEYSEED"),
        );
        let keys = IkeKeys::derive(&suite, &seed, ni, nr, &spi_i, &spi_r)
            .unwrap_or_else(|e| panic!("{at}: {e}"));
        ike_keys_eq(&keys, &sa.keys[0], &at);
        // without the ML-KEM secret SKEYSEED would differ
        let classic =
            keymat::rekey_skeyseed(old_suite.prf, &secret(&old.sk[0]), &ke0.secret, ni, nr, &[]);
        assert_ne!(classic.expose(), seed.expose(), "{at}: ADDKE ignored");
        checked += 1;
    }
    let rekeyed = data
        .ike_sas
        .iter()
        .filter(|s| s.rekeyed_from.is_some())
        .count();
    assert_eq!(checked, rekeyed);
    assert_eq!(checked + 1, data.readme.1, "IKE SAs vs README");
    assert!(checked >= 1, "no IKE SA rekey in the capture");
}

// ------------------------------------------------------------------------------------
// (e): decryption with the keys in force, KE payloads and ADDITIONAL_KEY_EXCHANGE

#[test]
fn messages_decrypt_with_the_key_set_in_force_only() {
    let data = Data::load();
    let replay = Replay::run(&data);
    let encrypted = data.datagrams.iter().filter(|d| d.keys.is_some()).count();
    assert_eq!(replay.datagrams, encrypted, "authenticated datagrams");
    let others: usize = data
        .datagrams
        .iter()
        .filter_map(|d| d.ike_sa)
        .map(|i| data.ike_sas[i - 1].keys.len() - 1)
        .sum();
    assert_eq!(replay.rejected, others, "rejections by the other key sets");
    assert!(replay.rejected > 0, "no message to tell the key sets apart");
    let (mut messages, mut intermediate, mut after) = (0, 0, 0);
    for m in &replay.messages {
        let last = m.last();
        let sa = &data.ike_sas[m.ike_sa];
        // IKE_INTERMEDIATE uses the keys before its round's update, everything
        // else the SA's final keys
        if m.exchange == ExchangeType::IKE_INTERMEDIATE {
            assert!(m.key_set + 1 < sa.keys.len(), "{}: key set", last.file);
            intermediate += 1;
        } else {
            assert_eq!(m.key_set, sa.keys.len() - 1, "{}: key set", last.file);
            if m.exchange == ExchangeType::IKE_AUTH {
                after += 1;
            }
        }
        assert_eq!(
            last.exchange,
            m.exchange.to_string(),
            "{}: exchange",
            last.file
        );
        let file = last
            .plaintext_file
            .as_deref()
            .unwrap_or_else(|| panic!("{}: no plaintext file", last.file));
        let extracted = fs::read(data.dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        hexeq(
            &m.plaintext.payloads,
            &extracted,
            &format!("{}: plaintext", last.file),
        );
        assert_eq!(
            Some(m.plaintext.next_payload.0),
            last.inner_first,
            "{}",
            last.file
        );
        for d in &m.parts[..m.parts.len() - 1] {
            assert_eq!(d.plaintext_file, None, "{}: not the last fragment", d.file);
        }
        messages += 1;
    }
    let with_file = data
        .datagrams
        .iter()
        .filter(|d| d.plaintext_file.is_some())
        .count();
    assert_eq!(messages, with_file, "decrypted messages vs plaintext files");
    assert!(intermediate >= 2, "IKE_INTERMEDIATE request and response");
    assert_eq!(after, 2, "IKE_AUTH request and response");
}

#[test]
fn ke_payloads_and_additional_key_exchange_notifies() {
    let data = Data::load();
    let replay = Replay::run(&data);
    let (ek_len, ct_len) = kem::ke_data_len(DhGroup::ML_KEM_768).expect("ML-KEM-768");
    let (mut mlkem_kes, mut links, mut checked) = (0, 0, 0);
    // ADDITIONAL_KEY_EXCHANGE data of the last response announcing one, per IKE SA
    let mut pending: HashMap<usize, Vec<u8>> = HashMap::new();
    for m in &replay.messages {
        let at = m.last().file.clone();
        let payloads = m.payloads();
        let k = kes(&payloads);
        let addke = notifies(&payloads, NotifyType::ADDITIONAL_KEY_EXCHANGE);
        let names: Vec<String> = m.last().inner.clone();
        assert_eq!(
            names.iter().filter(|n| n.starts_with("KE(")).count(),
            k.len(),
            "{at}: KE payloads vs MANIFEST"
        );
        match m.exchange {
            ExchangeType::IKE_INTERMEDIATE | ExchangeType::IKE_FOLLOWUP_KE => {
                // one ML-KEM-768 KE: the encapsulation key out, the ciphertext back
                assert_eq!(k.len(), 1, "{at}: KE payloads");
                assert_eq!(k[0].group, DhGroup::ML_KEM_768, "{at}: KE method 36");
                let want = if m.response { ct_len } else { ek_len };
                assert_eq!(k[0].data.len(), want, "{at}: KE data length");
                if !m.response {
                    kem::check_encapsulation_key(DhGroup::ML_KEM_768, k[0].data)
                        .unwrap_or_else(|e| panic!("{at}: strongSwan's encapsulation key: {e}"));
                }
                mlkem_kes += 1;
                if m.exchange == ExchangeType::IKE_INTERMEDIATE {
                    assert!(
                        addke.is_empty(),
                        "{at}: ADDITIONAL_KEY_EXCHANGE in IKE_INTERMEDIATE"
                    );
                } else if m.response {
                    // the last (only) additional exchange: nothing more announced
                    assert!(addke.is_empty(), "{at}: a further key exchange announced");
                } else {
                    // the request names the exchange it continues (RFC 9370 2.2.4)
                    assert_eq!(addke.len(), 1, "{at}: ADDITIONAL_KEY_EXCHANGE");
                    let want = pending
                        .remove(&m.ike_sa)
                        .unwrap_or_else(|| panic!("{at}: no exchange announced this one"));
                    hexeq(addke[0].data, &want, &format!("{at}: link data"));
                    links += 1;
                }
            }
            ExchangeType::CREATE_CHILD_SA => {
                // SA with ADDKE1 = ML-KEM-768; KE(X25519) in both; the response
                // announces the IKE_FOLLOWUP_KE
                assert_eq!(k.len(), 1, "{at}: KE payloads");
                assert_eq!(k[0].group, DhGroup::CURVE25519, "{at}: KE method 31");
                assert_eq!(k[0].data.len(), 32, "{at}: X25519 public value");
                let p = &sa(&payloads, &at).proposals;
                assert!(
                    p.iter()
                        .all(|p| ke_transforms(p).1 == vec![(1, DhGroup::ML_KEM_768.0)]),
                    "{at}: ADDKE1 transforms"
                );
                if m.response {
                    assert_eq!(addke.len(), 1, "{at}: ADDITIONAL_KEY_EXCHANGE");
                    assert!(!addke[0].data.is_empty(), "{at}: empty link data");
                    assert!(
                        pending.insert(m.ike_sa, addke[0].data.to_vec()).is_none(),
                        "{at}: two announced exchanges at once"
                    );
                } else {
                    assert!(
                        addke.is_empty(),
                        "{at}: ADDITIONAL_KEY_EXCHANGE in a request"
                    );
                }
            }
            _ => {
                assert!(k.is_empty(), "{at}: KE payload");
                assert!(addke.is_empty(), "{at}: ADDITIONAL_KEY_EXCHANGE");
            }
        }
        checked += 1;
    }
    assert!(
        pending.is_empty(),
        "announced exchanges that never ran: {pending:?}"
    );
    assert_eq!(checked, replay.messages.len());
    // one IKE_INTERMEDIATE and two IKE_FOLLOWUP_KE exchanges (CHILD and IKE rekey)
    let followups: usize = data
        .children
        .iter()
        .map(|c| c.key_exchanges.len().saturating_sub(1))
        .chain(
            data.ike_sas
                .iter()
                .filter(|s| s.rekeyed_from.is_some())
                .map(|s| s.key_exchanges.len() - 1),
        )
        .sum();
    let intermediates: usize = data
        .ike_sas
        .iter()
        .filter(|s| s.rekeyed_from.is_none())
        .map(|s| s.key_exchanges.len() - 1)
        .sum();
    assert_eq!(
        mlkem_kes,
        2 * (followups + intermediates),
        "ML-KEM KE payloads"
    );
    assert_eq!(links, followups, "IKE_FOLLOWUP_KE requests linked");
    assert!(
        followups >= 2 && intermediates >= 1,
        "{followups} / {intermediates}"
    );
}
