//! CAs, certificates, private keys and CRLs for the certificate-authentication interop
//! tests, made with strongSwan's own `pki` tool (Debian `strongswan-pki`): what ikev2d
//! must accept is what strongSwan's users actually deploy, not what another library
//! happens to produce. Recipes and what pki writes into certificates:
//! docs/pubkey-auth-notes.md §8.
//!
//! A [`Pki`] lives in one directory; every item has a name unique in it, and files
//! `<name>.key.pem` (mode 0600, as ikev2d requires), `<name>.crt.pem` and
//! `<name>.crt.der`; CRLs are `<issuer>.crl.pem` and `.crl.der`. Each key is generated
//! once, by the call that makes its item (RSA 4096: 0.4 to 3 s here, RSA 3072
//! 0.3 to 0.8 s, ECDSA and Ed25519 about 10 ms).
//!
//! ```ignore
//! let pki = Pki::new(dir.path());
//! let root = pki.ca("root", "C=CH, O=ikev2d test, CN=Root", KeyType::RsaPss(4096));
//! let mut im = pki.intermediate(&root, "im", "C=CH, O=ikev2d test, CN=IM", KeyType::Ecdsa(384));
//! im.crl_uri = Some("http://192.0.2.2/im.crl".into());
//! let gw = pki.end_entity(&im, "gw-a", "CN=gw-a.example.org", &["gw-a.example.org"],
//!                         KeyType::Ed25519, Validity::Days(365));
//! let crl = pki.crl(&im, &[&gw]);
//! ```

use std::collections::HashSet;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::cmd::{self, Output};

/// RSA 4096 key generation usually takes well under a second, but prime search has
/// a long tail.
const PKI_TIMEOUT: Duration = Duration::from_secs(60);

/// Lifetimes of the CA certificates, in days.
const ROOT_DAYS: u32 = 3650;
const INTERMEDIATE_DAYS: u32 = 1825;

/// A key and, when it signs certificates or CRLs, how it signs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// RSA of this many bits; signs with PKCS#1 v1.5 and SHA-256.
    Rsa(u32),
    /// An ordinary RSA key of this many bits that signs with RSASSA-PSS and SHA-256
    /// (pki `--rsa-padding pss`; MGF1-SHA-256, salt of 32 octets).
    RsaPss(u32),
    /// ECDSA on P-256, P-384 or P-521 (256, 384, 521); signs with SHA-256, SHA-384
    /// or SHA-512 (the curve's own).
    Ecdsa(u32),
    /// Ed25519 (no separate digest).
    Ed25519,
}

impl KeyType {
    /// The `pki --gen` arguments for this key.
    fn gen_args(self) -> Vec<String> {
        let (t, size) = match self {
            Self::Rsa(b) | Self::RsaPss(b) => ("rsa", Some(b)),
            Self::Ecdsa(b) => {
                assert!(
                    matches!(b, 256 | 384 | 521),
                    "ECDSA keys are 256, 384 or 521 bits, not {b}"
                );
                ("ecdsa", Some(b))
            }
            Self::Ed25519 => ("ed25519", None),
        };
        let mut a = strs(&["--type", t]);
        if let Some(b) = size {
            a.extend(strs(&["--size", &b.to_string()]));
        }
        a
    }

    /// The `pki --self/--issue/--signcrl` arguments when a key of this type signs.
    /// Explicit even where they equal pki's defaults, so a test knows what it gets.
    fn sign_args(self) -> &'static [&'static str] {
        match self {
            Self::Rsa(_) => &["--digest", "sha256", "--rsa-padding", "pkcs1"],
            Self::RsaPss(_) => &["--digest", "sha256", "--rsa-padding", "pss"],
            Self::Ecdsa(256) => &["--digest", "sha256"],
            Self::Ecdsa(384) => &["--digest", "sha384"],
            Self::Ecdsa(_) => &["--digest", "sha512"],
            // pki refuses --digest for EdDSA
            Self::Ed25519 => &[],
        }
    }
}

/// When an end-entity certificate is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// From now for this many days (pki `--lifetime`): the normal case, or a
    /// certificate about to expire.
    Days(u32),
    /// Valid from 30 days ago until yesterday.
    Expired,
    /// Valid from tomorrow for 30 days.
    NotYetValid,
}

impl Validity {
    fn args(self) -> Vec<String> {
        const DAY: i64 = 86_400;
        let window = |from: i64, to: i64| {
            let now = i64::try_from(
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs(),
            )
            .unwrap_or(i64::MAX);
            // strptime's %s: seconds since the epoch, no time zone to get wrong
            strs(&[
                "--not-before",
                &(now + from).to_string(),
                "--not-after",
                &(now + to).to_string(),
                "--dateform",
                "%s",
            ])
        };
        match self {
            Self::Days(d) => strs(&["--lifetime", &d.to_string()]),
            Self::Expired => window(-30 * DAY, -DAY),
            Self::NotYetValid => window(DAY, 31 * DAY),
        }
    }
}

/// A certificate, its private key, and what tests compare against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cert {
    pub name: String,
    pub key_type: KeyType,
    /// The private key as pki writes it with `--outform pem`: PKCS#1 for RSA, SEC1
    /// for ECDSA, PKCS#8 for Ed25519. Mode 0600.
    pub key: PathBuf,
    pub pem: PathBuf,
    pub der: PathBuf,
    /// The subject DN as strongSwan prints it (`pki --print`), e.g.
    /// `C=CH, O=ikev2d test, CN=gw-a.example.org`.
    pub subject: String,
    /// The serial as pki prints it, colon-separated hex (also so in CRL listings).
    pub serial: String,
    /// SHA-1 of the subjectPublicKeyInfo (`pki --keyid --id spki`): a CA's entry in
    /// CERTREQ (RFC 7296 §3.7), and strongSwan's key id.
    pub spki_sha1: [u8; 20],
}

impl Cert {
    /// `pki --print` of the certificate.
    #[track_caller]
    pub fn print(&self) -> String {
        print(&self.pem, "x509")
    }
}

/// A CA certificate that issues certificates and CRLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuer {
    pub cert: Cert,
    /// The CRL distribution point put into every certificate this CA issues from now
    /// on (pki `--crl`), for `revocation = ifuri`/`strict`; `None`: no CDP.
    pub crl_uri: Option<String>,
}

/// A CRL and its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crl {
    pub pem: PathBuf,
    pub der: PathBuf,
}

impl Crl {
    /// `pki --print --type crl`.
    #[track_caller]
    pub fn print(&self) -> String {
        print(&self.pem, "crl")
    }

    /// The revoked serials as [`Cert::serial`] writes them, read back from
    /// `pki --print`.
    #[track_caller]
    pub fn revoked_serials(&self) -> Vec<String> {
        self.print()
            .lines()
            .skip_while(|l| !l.contains("revoked certificate"))
            .skip(1)
            .filter_map(|l| Some(l.trim().split_once(": ")?.0.to_owned()))
            .collect()
    }
}

/// A directory of CAs, certificates, keys and CRLs.
#[derive(Debug)]
pub struct Pki {
    dir: PathBuf,
    /// Names given out, so a second item cannot silently overwrite a first one's key.
    names: Mutex<HashSet<String>>,
}

impl Pki {
    /// Use `dir` (created if missing) for the files.
    #[track_caller]
    pub fn new(dir: &Path) -> Self {
        fs::create_dir_all(dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        Self {
            dir: dir.to_owned(),
            names: Mutex::new(HashSet::new()),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A self-signed root CA (`pki --self --ca`), valid for ten years.
    #[track_caller]
    pub fn ca(&self, name: &str, dn: &str, key: KeyType) -> Issuer {
        let key_path = self.gen_key(name, key);
        let mut args = strs(&["--self", "--ca", "--type", "priv", "--in"]);
        args.push(path_arg(&key_path));
        args.extend(strs(&["--dn", dn, "--lifetime", &ROOT_DAYS.to_string()]));
        args.extend(strs(key.sign_args()));
        Issuer {
            cert: self.finish(name, key, key_path, args),
            crl_uri: None,
        }
    }

    /// An intermediate CA issued by `issuer` (`--ca`, no path length limit), valid
    /// for five years.
    #[track_caller]
    pub fn intermediate(&self, issuer: &Issuer, name: &str, dn: &str, key: KeyType) -> Issuer {
        let days = INTERMEDIATE_DAYS.to_string();
        let args = strs(&["--dn", dn, "--ca", "--lifetime", &days]);
        Issuer {
            cert: self.issue(issuer, name, key, args),
            crl_uri: None,
        }
    }

    /// An end-entity certificate issued by `issuer`. `sans` go to `pki --san` as they
    /// are, which tells FQDNs, IP addresses and email addresses apart by their form
    /// (`gw-a.example.org`, `10.0.0.1`, `user@example.org`). No keyUsage and no
    /// extendedKeyUsage: pki writes none without `--flag`, and strongSwan accepts that.
    #[track_caller]
    pub fn end_entity(
        &self,
        issuer: &Issuer,
        name: &str,
        dn: &str,
        sans: &[&str],
        key: KeyType,
        validity: Validity,
    ) -> Cert {
        let mut args = strs(&["--dn", dn]);
        for s in sans {
            args.extend(strs(&["--san", s]));
        }
        args.extend(validity.args());
        self.issue(issuer, name, key, args)
    }

    /// A CRL of `issuer` revoking `revoked` (reason keyCompromise), valid for 15 days
    /// (pki's default). A second call for the same issuer replaces the files, with
    /// the same CRL number.
    #[track_caller]
    pub fn crl(&self, issuer: &Issuer, revoked: &[&Cert]) -> Crl {
        let c = &issuer.cert;
        let mut args = strs(&["--signcrl", "--cacert"]);
        args.push(path_arg(&c.pem));
        args.push("--cakey".to_owned());
        args.push(path_arg(&c.key));
        args.extend(strs(c.key_type.sign_args()));
        for r in revoked {
            // --reason applies to the --cert that follows it
            args.extend(strs(&["--reason", "key-compromise", "--cert"]));
            args.push(path_arg(&r.pem));
        }
        args.extend(strs(&["--outform", "pem"]));
        let pem = pki(&args).stdout;
        let crl = Crl {
            pem: self.dir.join(format!("{}.crl.pem", c.name)),
            der: self.dir.join(format!("{}.crl.der", c.name)),
        };
        write(&crl.pem, pem.as_bytes(), 0o644);
        write(&crl.der, &pem_to_der(&pem, "X509 CRL"), 0o644);
        crl
    }

    /// `pki --issue` of a new key for `name`, signed by `issuer`, with the
    /// subject's `args` (DN, SANs, validity, `--ca`).
    #[track_caller]
    fn issue(&self, issuer: &Issuer, name: &str, key: KeyType, args: Vec<String>) -> Cert {
        let key_path = self.gen_key(name, key);
        let c = &issuer.cert;
        let mut all = strs(&["--issue", "--cacert"]);
        all.push(path_arg(&c.pem));
        all.push("--cakey".to_owned());
        all.push(path_arg(&c.key));
        all.extend(strs(&["--type", "priv", "--in"]));
        all.push(path_arg(&key_path));
        all.extend(args);
        if let Some(uri) = &issuer.crl_uri {
            all.extend(strs(&["--crl", uri]));
        }
        all.extend(strs(c.key_type.sign_args()));
        self.finish(name, key, key_path, all)
    }

    /// Claim `name` and generate its key (`pki --gen`), written with mode 0600.
    #[track_caller]
    fn gen_key(&self, name: &str, key: KeyType) -> PathBuf {
        assert!(
            !name.is_empty() && !name.contains('/'),
            "pki item name {name:?}: a file name, not a path"
        );
        let fresh = self
            .names
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(name.to_owned());
        assert!(
            fresh,
            "pki item name {name:?} used twice in {}",
            self.dir.display()
        );
        let mut args = strs(&["--gen"]);
        args.extend(key.gen_args());
        args.extend(strs(&["--outform", "pem"]));
        let pem = pki(&args).stdout;
        let path = self.dir.join(format!("{name}.key.pem"));
        write(&path, pem.as_bytes(), 0o600);
        path
    }

    /// Run the `--self`/`--issue` command `args`, write the certificate's files and
    /// read back its subject, serial and key id.
    #[track_caller]
    fn finish(&self, name: &str, key: KeyType, key_path: PathBuf, mut args: Vec<String>) -> Cert {
        args.extend(strs(&["--outform", "pem"]));
        let pem = pki(&args).stdout;
        let pem_path = self.dir.join(format!("{name}.crt.pem"));
        let der_path = self.dir.join(format!("{name}.crt.der"));
        write(&pem_path, pem.as_bytes(), 0o644);
        write(&der_path, &pem_to_der(&pem, "CERTIFICATE"), 0o644);
        let printed = print(&pem_path, "x509");
        let field = |label: &str| {
            printed
                .lines()
                .find_map(|l| l.trim().strip_prefix(label))
                .map(|v| v.trim().to_owned())
                .unwrap_or_else(|| panic!("no {label:?} in `pki --print`:\n{printed}"))
        };
        let subject = field("subject:").trim_matches('"').to_owned();
        let serial = field("serial:");
        let keyid = pki(&[
            "--keyid",
            "--type",
            "x509",
            "--id",
            "spki",
            "--format",
            "hex",
            "--in",
            &path_arg(&pem_path),
        ])
        .stdout;
        let spki_sha1 = parse_hex20(keyid.trim())
            .unwrap_or_else(|| panic!("`pki --keyid --id spki` printed {keyid:?}"));
        Cert {
            name: name.to_owned(),
            key_type: key,
            key: key_path,
            pem: pem_path,
            der: der_path,
            subject,
            serial,
            spki_sha1,
        }
    }
}

/// The public key of a private key file as a SubjectPublicKeyInfo in PEM
/// (`pki --pub --outform pem`), as `pubkeys` in swanctl.conf and ikev2d take it.
#[track_caller]
pub fn public_key(key: &Path) -> String {
    pki(&["--pub", "--in", &path_arg(key), "--outform", "pem"]).stdout
}

/// `pki --print --type <ty> --in <path>`.
#[track_caller]
pub fn print(path: &Path, ty: &str) -> String {
    pki(&["--print", "--type", ty, "--in", &path_arg(path)]).stdout
}

/// Run `pki` and require exit 0 (its stderr always lists the plugins it could not
/// load; only the exit status counts).
#[track_caller]
fn pki<S: AsRef<str>>(args: &[S]) -> Output {
    let mut c = Command::new("pki");
    c.args(args.iter().map(AsRef::as_ref));
    cmd::run(&mut c, PKI_TIMEOUT).expect_ok()
}

fn strs(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| (*s).to_owned()).collect()
}

fn path_arg(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Write `data` to `path` with `mode`, also when the file was there before.
#[track_caller]
fn write(path: &Path, data: &[u8], mode: u32) {
    let r = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .and_then(|mut f| {
            f.set_permissions(fs::Permissions::from_mode(mode))?;
            f.write_all(data)
        });
    r.unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// The DER inside the one PEM block labelled `label` (pki can print a certificate
/// or CRL in only one form per run, and a second run would sign anew).
#[track_caller]
fn pem_to_der(pem: &str, label: &str) -> Vec<u8> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let body = pem
        .split_once(&begin)
        .and_then(|(_, rest)| rest.split_once(&end))
        .map(|(body, _)| body)
        .unwrap_or_else(|| panic!("no {label} PEM block in pki's output:\n{pem}"));
    base64_decode(body).unwrap_or_else(|| panic!("bad base64 in pki's {label}:\n{pem}"))
}

/// Standard base64 with padding; whitespace ignored.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let sextet = |c: u8| -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        }))
    };
    let chars: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    if chars.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(chars.len() / 4 * 3);
    for (i, quad) in chars.chunks(4).enumerate() {
        let last = i + 1 == chars.len() / 4;
        let pad = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut v = 0u32;
        for &c in &quad[..4 - pad] {
            v = (v << 6) | sextet(c)?;
        }
        v <<= 6 * pad;
        let bytes = v.to_be_bytes();
        out.extend_from_slice(&bytes[1..4 - pad]);
    }
    Some(out)
}

fn parse_hex20(s: &str) -> Option<[u8; 20]> {
    if s.len() != 40 {
        return None;
    }
    let mut out = [0u8; 20];
    for (o, pair) in out.iter_mut().zip(s.as_bytes().chunks(2)) {
        *o = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64() {
        assert_eq!(base64_decode("").as_deref(), Some(&b""[..]));
        assert_eq!(base64_decode("Zg==").as_deref(), Some(&b"f"[..]));
        assert_eq!(base64_decode("Zm8=").as_deref(), Some(&b"fo"[..]));
        assert_eq!(base64_decode("Zm9v\nYmFy").as_deref(), Some(&b"foobar"[..]));
        assert_eq!(base64_decode("Zg==Zm9v"), None);
        assert_eq!(base64_decode("Zm9"), None);
        assert_eq!(base64_decode("Zm9*"), None);
    }

    #[test]
    fn hex20() {
        let h = "0ce388f03ad94a0b1232bbdcbe4b6d4e0670ba7e";
        assert_eq!(parse_hex20(h).map(|k| k[0]), Some(0x0c));
        assert_eq!(parse_hex20(&h[2..]), None);
    }
}
