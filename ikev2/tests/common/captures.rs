//! Reading the strongSwan captures in `tests/data/strongswan/` (see the README there):
//! the MANIFEST.tsv rows with their `.bin` messages, `keymat.json`, the lab PSK from
//! `config.txt`, and the per-scenario counts the README states. Declared once by the
//! `strongswan` test binary's `main.rs` with
//!
//! ```ignore
//! #[path = "../common/captures.rs"]
//! mod captures;
//! ```
//!
//! Only reading and decoding happens here, no IKE logic. Anything missing or malformed
//! panics with the scenario and file: a capture that cannot be read must fail the test,
//! never skip it.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The scenario directories the lab produced (README, "## `<name>/`" sections).
pub const SCENARIOS: [&str; 6] = [
    "modp2048",
    "curve25519",
    "aead-pfs",
    "invalid-ke",
    "fragmentation",
    "responder-rekey",
];

/// `tests/data/strongswan`.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/strongswan")
}

/// One MANIFEST.tsv row: one IKE message as sent.
#[derive(Debug, Clone)]
pub struct Row {
    pub nn: u32,
    pub file: String,
    /// `ip:port`
    pub src: String,
    pub dst: String,
    /// e.g. `IKE_SA_INIT`
    pub exchange: String,
    pub msgid: u32,
    /// `I`, `R`, `IR` or `-`
    pub flags: String,
    pub spi_i: [u8; 8],
    pub spi_r: [u8; 8],
    pub len: usize,
    /// 1-based index into `keymat.json`'s `ike_sas`; `None` for IKE_SA_INIT (`-`).
    pub ike_sa: Option<usize>,
    /// e.g. `["SA", "KE(14)", "No", "N(NAT_DETECTION_SOURCE_IP)"]`, `["SK"]`,
    /// `["SKF(1/4)"]`.
    pub outer: Vec<String>,
    /// The SK (first SKF) next-payload field; `None` where nothing was decrypted
    /// (unencrypted messages, fragments before the last).
    pub inner_first: Option<u8>,
    /// The decrypted payloads; empty for `(empty)` and where nothing was decrypted.
    pub inner: Vec<String>,
    /// `decrypted/NN-<label>.inner.bin`, on SK messages and on the last fragment of a
    /// fragmented message.
    pub plaintext_file: Option<String>,
}

impl Row {
    pub fn flag_i(&self) -> bool {
        self.flags.contains('I')
    }

    pub fn flag_r(&self) -> bool {
        self.flags.contains('R')
    }

    /// The IP address of `src` (without the port).
    pub fn src_ip(&self) -> &str {
        ip_of(&self.src)
    }

    pub fn dst_ip(&self) -> &str {
        ip_of(&self.dst)
    }
}

fn ip_of(addr: &str) -> &str {
    addr.rsplit_once(':').map_or(addr, |(ip, _)| ip)
}

/// A captured datagram (port-4500 non-ESP marker already stripped) with its row.
#[derive(Debug, Clone)]
pub struct Datagram {
    pub row: Row,
    pub bytes: Vec<u8>,
}

/// Keys of one IKE SA from keymat.json.
#[derive(Debug, Clone)]
pub struct IkeSaKeymat {
    pub spi_i: [u8; 8],
    pub spi_r: [u8; 8],
    /// e.g. `AES_CBC_256/HMAC_SHA2_256_128`
    pub suite: String,
    /// e.g. `PRF_HMAC_SHA2_256`
    pub prf: String,
    pub created_by: Vec<String>,
    pub rekeyed_from: Option<([u8; 8], [u8; 8])>,
    pub ni: Vec<u8>,
    pub nr: Vec<u8>,
    pub g_ir: Vec<u8>,
    pub skeyseed: Vec<u8>,
    pub sk_d: Vec<u8>,
    pub sk_ai: Vec<u8>,
    pub sk_ar: Vec<u8>,
    pub sk_ei: Vec<u8>,
    pub sk_er: Vec<u8>,
    pub sk_pi: Vec<u8>,
    pub sk_pr: Vec<u8>,
}

/// Keys of one CHILD SA from keymat.json.
#[derive(Debug, Clone)]
pub struct ChildSaKeymat {
    pub uid: u64,
    /// Node a's view.
    pub spi_in: u32,
    pub spi_out: u32,
    /// Empty without PFS.
    pub pfs_g_ir: Vec<u8>,
    /// `[g^ir |] Ni | Nr`
    pub seed: Vec<u8>,
    pub encr_i: Vec<u8>,
    pub integ_i: Vec<u8>,
    pub encr_r: Vec<u8>,
    pub integ_r: Vec<u8>,
    pub keymat_from_ike_sa: ([u8; 8], [u8; 8]),
    /// The SPI that traffic protected with `encr_i` carries (the responder's inbound
    /// SPI of the creating exchange).
    pub spi_of_encr_i: u32,
    pub spi_of_encr_r: u32,
}

#[derive(Debug, Clone)]
pub struct Keymat {
    pub ike_sas: Vec<IkeSaKeymat>,
    pub child_sas: Vec<ChildSaKeymat>,
}

impl Keymat {
    /// The index and keys of the IKE SA with these SPIs.
    pub fn ike_sa(&self, spi_i: [u8; 8], spi_r: [u8; 8]) -> Option<(usize, &IkeSaKeymat)> {
        self.ike_sas
            .iter()
            .enumerate()
            .find(|(_, sa)| sa.spi_i == spi_i && sa.spi_r == spi_r)
    }
}

/// What the README says a scenario holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub messages: usize,
    pub ike_sas: usize,
    pub child_sas: usize,
}

/// One scenario directory, fully loaded.
#[derive(Debug)]
pub struct Scenario {
    pub name: &'static str,
    pub dir: PathBuf,
    /// In MANIFEST (wire) order.
    pub datagrams: Vec<Datagram>,
    pub keymat: Keymat,
    /// The PSK both charons were configured with.
    pub psk: Vec<u8>,
    /// From the README.
    pub expected: Counts,
}

impl Scenario {
    pub fn load(name: &'static str) -> Self {
        let dir = root().join(name);
        assert!(dir.is_dir(), "{name}: no directory {}", dir.display());
        let rows = read_manifest(name, &dir.join("MANIFEST.tsv"));
        let datagrams: Vec<Datagram> = rows
            .into_iter()
            .map(|row| {
                let path = dir.join(&row.file);
                let bytes = fs::read(&path)
                    .unwrap_or_else(|e| panic!("{name}: cannot read {}: {e}", path.display()));
                Datagram { row, bytes }
            })
            .collect();
        // Every .bin beside the MANIFEST is listed in it, and the other way round.
        let on_disk: BTreeSet<String> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .map(|e| e.unwrap_or_else(|e| panic!("{name}: {e}")).file_name())
            .map(|f| f.to_string_lossy().into_owned())
            .filter(|f| f.ends_with(".bin"))
            .collect();
        let listed: BTreeSet<String> = datagrams.iter().map(|d| d.row.file.clone()).collect();
        assert_eq!(on_disk, listed, "{name}: .bin files vs MANIFEST.tsv");
        Scenario {
            name,
            keymat: read_keymat(name, &dir.join("keymat.json")),
            psk: read_psk(name, &dir.join("config.txt")),
            expected: readme_counts(name),
            dir,
            datagrams,
        }
    }

    /// The content of a `decrypted/...inner.bin` file named in the MANIFEST.
    pub fn plaintext(&self, row: &Row) -> Vec<u8> {
        let file = row
            .plaintext_file
            .as_deref()
            .unwrap_or_else(|| panic!("{}: {} has no plaintext file", self.name, row.file));
        let path = self.dir.join(file);
        fs::read(&path).unwrap_or_else(|e| panic!("{}: cannot read {}: {e}", self.name, file))
    }

    /// `scenario/file`, for messages.
    pub fn at(&self, row: &Row) -> String {
        format!("{}/{}", self.name, row.file)
    }
}

/// All scenarios of [`SCENARIOS`].
pub fn all() -> Vec<Scenario> {
    SCENARIOS.iter().map(|name| Scenario::load(name)).collect()
}

fn read_manifest(name: &str, path: &Path) -> Vec<Row> {
    let text = fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{name}: cannot read {}: {e}", path.display()));
    let mut lines = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty());
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_else(|| panic!("{name}: MANIFEST.tsv has no header row"))
        .split('\t')
        .collect();
    let col = |key: &str| {
        header
            .iter()
            .position(|h| *h == key)
            .unwrap_or_else(|| panic!("{name}: MANIFEST.tsv has no column `{key}`"))
    };
    let c = [
        col("nn"),
        col("file"),
        col("src"),
        col("dst"),
        col("exchange"),
        col("msgid"),
        col("flags"),
        col("spi_i"),
        col("spi_r"),
        col("len"),
        col("ike_sa"),
        col("outer_payloads"),
        col("inner_first_payload"),
        col("inner_payloads"),
        col("plaintext_file"),
    ];
    let rows: Vec<Row> = lines
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(f.len(), header.len(), "{name}: MANIFEST row `{line}`");
            let at = |k: usize| f[c[k]];
            let num = |k: usize| -> u64 {
                at(k)
                    .parse()
                    .unwrap_or_else(|e| panic!("{name}: `{}` in `{line}`: {e}", at(k)))
            };
            let opt = |k: usize| Some(at(k)).filter(|s| !s.is_empty() && *s != "-");
            Row {
                nn: num(0) as u32,
                file: at(1).to_owned(),
                src: at(2).to_owned(),
                dst: at(3).to_owned(),
                exchange: at(4).to_owned(),
                msgid: num(5) as u32,
                flags: at(6).to_owned(),
                spi_i: spi8(name, at(7)),
                spi_r: spi8(name, at(8)),
                len: num(9) as usize,
                ike_sa: opt(10).map(|s| s.parse().expect("ike_sa is a number")),
                outer: tokens(at(11)),
                inner_first: opt(12).map(|s| s.parse().expect("inner_first_payload is a number")),
                inner: tokens(at(13)),
                plaintext_file: opt(14).map(str::to_owned),
            }
        })
        .collect();
    assert!(!rows.is_empty(), "{name}: MANIFEST.tsv has no rows");
    rows
}

/// Payload names separated by spaces; `(empty)` is the empty list.
fn tokens(s: &str) -> Vec<String> {
    if s == "(empty)" {
        return Vec::new();
    }
    s.split_whitespace().map(str::to_owned).collect()
}

fn spi8(name: &str, s: &str) -> [u8; 8] {
    decode(name, s)
        .try_into()
        .unwrap_or_else(|_| panic!("{name}: `{s}` is not an 8-octet SPI"))
}

fn spi4(name: &str, s: &str) -> u32 {
    let b: [u8; 4] = decode(name, s)
        .try_into()
        .unwrap_or_else(|_| panic!("{name}: `{s}` is not a 4-octet SPI"));
    u32::from_be_bytes(b)
}

fn decode(name: &str, s: &str) -> Vec<u8> {
    hex::decode(s).unwrap_or_else(|e| panic!("{name}: `{s}` is not hex: {e}"))
}

fn read_keymat(name: &str, path: &Path) -> Keymat {
    let text = fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{name}: cannot read {}: {e}", path.display()));
    let v: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: keymat.json: {e}"));
    let s = |o: &Value, k: &str| -> String {
        o[k].as_str()
            .unwrap_or_else(|| panic!("{name}: keymat.json: no string `{k}`"))
            .to_owned()
    };
    let h = |o: &Value, k: &str| decode(name, &s(o, k));
    let pair = |o: &Value, k: &str| -> Option<([u8; 8], [u8; 8])> {
        let a = o.get(k)?.as_array()?;
        let spi = |i: usize| spi8(name, a.get(i).and_then(Value::as_str).unwrap_or(""));
        Some((spi(0), spi(1)))
    };
    let list = |k: &str| -> &Vec<Value> {
        v[k].as_array()
            .unwrap_or_else(|| panic!("{name}: keymat.json: no list `{k}`"))
    };
    let ike_sas = list("ike_sas")
        .iter()
        .map(|o| IkeSaKeymat {
            spi_i: spi8(name, &s(o, "spi_i")),
            spi_r: spi8(name, &s(o, "spi_r")),
            suite: s(o, "suite"),
            prf: s(o, "prf"),
            created_by: o["created_by"]
                .as_array()
                .unwrap_or_else(|| panic!("{name}: keymat.json: no `created_by`"))
                .iter()
                .map(|f| f.as_str().expect("file name").to_owned())
                .collect(),
            rekeyed_from: pair(o, "rekeyed_from"),
            ni: h(o, "ni"),
            nr: h(o, "nr"),
            g_ir: h(o, "g_ir"),
            skeyseed: h(o, "skeyseed"),
            sk_d: h(o, "sk_d"),
            sk_ai: h(o, "sk_ai"),
            sk_ar: h(o, "sk_ar"),
            sk_ei: h(o, "sk_ei"),
            sk_er: h(o, "sk_er"),
            sk_pi: h(o, "sk_pi"),
            sk_pr: h(o, "sk_pr"),
        })
        .collect();
    let child_sas = list("child_sas")
        .iter()
        .map(|o| ChildSaKeymat {
            uid: o["uid"]
                .as_u64()
                .unwrap_or_else(|| panic!("{name}: keymat.json: child without `uid`")),
            spi_in: spi4(name, &s(o, "spi_in")),
            spi_out: spi4(name, &s(o, "spi_out")),
            pfs_g_ir: h(o, "pfs_g_ir"),
            seed: h(o, "seed"),
            encr_i: h(o, "encr_i"),
            integ_i: h(o, "integ_i"),
            encr_r: h(o, "encr_r"),
            integ_r: h(o, "integ_r"),
            keymat_from_ike_sa: pair(o, "keymat_from_ike_sa")
                .unwrap_or_else(|| panic!("{name}: keymat.json: no `keymat_from_ike_sa`")),
            spi_of_encr_i: spi4(name, &s(o, "spi_of_encr_i")),
            spi_of_encr_r: spi4(name, &s(o, "spi_of_encr_r")),
        })
        .collect();
    Keymat { ike_sas, child_sas }
}

/// The `secret = "..."` of the swanctl.conf `secrets` sections in config.txt; all of
/// them (one per node) must agree.
fn read_psk(name: &str, path: &Path) -> Vec<u8> {
    let text = fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{name}: cannot read {}: {e}", path.display()));
    let secrets: BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("secret"))
        .filter_map(|rest| rest.trim_start().strip_prefix('='))
        .map(|v| v.trim().trim_matches('"'))
        .collect();
    assert_eq!(
        secrets.len(),
        1,
        "{name}: config.txt should hold exactly one PSK, found {secrets:?}"
    );
    secrets
        .into_iter()
        .next()
        .expect("one secret")
        .as_bytes()
        .to_vec()
}

/// "- 22 IKE messages, 2 IKE SAs, 2 CHILD_SAs" in the README section of `name`.
fn readme_counts(name: &str) -> Counts {
    let path = root().join("README.md");
    let text =
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let heading = format!("## `{name}/`");
    let section = text
        .split_once(&heading)
        .unwrap_or_else(|| panic!("README.md has no section {heading}"))
        .1;
    let section = section.split("\n## ").next().unwrap_or(section);
    let line = section
        .lines()
        .find(|l| l.starts_with("- ") && l.contains(" IKE messages"))
        .unwrap_or_else(|| panic!("README.md {heading}: no `- N IKE messages` line"));
    let number_before = |what: &str| -> usize {
        let before = line
            .split_once(what)
            .unwrap_or_else(|| panic!("README.md {heading}: `{line}` lacks `{what}`"))
            .0;
        before
            .rsplit(|c: char| !c.is_ascii_digit())
            .find(|s| !s.is_empty())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("README.md {heading}: no number before `{what}`"))
    };
    Counts {
        messages: number_before(" IKE messages"),
        ike_sas: number_before(" IKE SAs"),
        child_sas: number_before(" CHILD_SAs"),
    }
}
