//! Debugging aid (`[daemon].key_export_dir`): while an admin has turned export on
//! (`ikev2d debug key-export on`; the supervisor decides, configuration alone never
//! exports), the keys of every IKE SA and CHILD SA established or rekeyed are
//! appended to Wireshark's decryption tables, so a capture of our traffic can be
//! decrypted by an independent dissector (`tshark -o uat:ikev2_decryption_table:...`
//! or by copying the files into Wireshark's profile directory). strongSwan's
//! `save-keys` plugin writes the same two files.
//!
//! - `ikev2_decryption_table`: `SPIi,SPIr,SK_ei,SK_er,"encr",SK_ai,SK_ar,"integ"`.
//! - `esp_sa`: `"IPv4","src","dst","0xSPI","encr","0xkey","auth","0xkey"`, one line
//!   per direction; AEAD keys include their 4-octet salt.
//!
//! Files are created with mode 0600. Anyone who reads them can decrypt the tunnel.

use std::fs::OpenOptions;
use std::io::{self, Write as _};
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::PathBuf;

use ikev2::crypto::algorithms::{EncrAlgorithm, IntegAlgorithm};
use ikev2::crypto::secret::SecretBytes;
use ikev2::event::{ChildSaInstalled, IkeSaKeys};

/// Where the tables go.
#[derive(Debug, Clone)]
pub struct KeyExport {
    dir: PathBuf,
}

impl KeyExport {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// Appends an IKE SA's line.
    pub fn ike(&self, k: &IkeSaKeys) -> io::Result<()> {
        let line = ike_line(k).ok_or_else(|| unnamed("IKE", &k.suite))?;
        self.append("ikev2_decryption_table", &line)
    }

    /// Appends a CHILD SA's two lines (inbound and outbound).
    pub fn esp(&self, c: &ChildSaInstalled) -> io::Result<()> {
        let lines = esp_lines(c).ok_or_else(|| unnamed("ESP", &c.suite))?;
        self.append("esp_sa", &lines)
    }

    fn append(&self, name: &str, text: &str) -> io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(self.dir.join(name))?;
        f.write_all(text.as_bytes())
    }
}

fn unnamed(what: &str, suite: &dyn std::fmt::Debug) -> io::Error {
    io::Error::other(format!(
        "Wireshark has no name for the {what} suite {suite:?}"
    ))
}

fn hex(k: &SecretBytes) -> String {
    hex::encode(k.expose())
}

/// Wireshark's IKEv2 name of an encryption algorithm (`vs_ikev2_encr_algs`); its
/// IKEv2 dissector has no ChaCha20-Poly1305.
fn ike_encr_name(e: EncrAlgorithm) -> Option<String> {
    match e {
        EncrAlgorithm::AesCbc { key_bits } => Some(format!("AES-CBC-{key_bits} [RFC3602]")),
        EncrAlgorithm::AesGcm { key_bits, icv_len } => Some(format!(
            "AES-GCM-{key_bits} with {icv_len} octet ICV [RFC5282]"
        )),
        _ => None,
    }
}

fn ike_integ_name(i: Option<IntegAlgorithm>) -> Option<&'static str> {
    Some(match i {
        None => "NONE [RFC4306]",
        Some(IntegAlgorithm::HmacSha1_96) => "HMAC_SHA1_96 [RFC2404]",
        Some(IntegAlgorithm::HmacSha256_128) => "HMAC_SHA2_256_128 [RFC4868]",
        Some(IntegAlgorithm::HmacSha384_192) => "HMAC_SHA2_384_192 [RFC4868]",
        Some(IntegAlgorithm::HmacSha512_256) => "HMAC_SHA2_512_256 [RFC4868]",
        Some(_) => return None,
    })
}

/// Wireshark's ESP names (`esp_encryption_type_vals`, `esp_authentication_type_vals`).
fn esp_encr_name(e: EncrAlgorithm) -> Option<String> {
    Some(match e {
        EncrAlgorithm::AesCbc { .. } => "AES-CBC [RFC3602]".to_owned(),
        EncrAlgorithm::AesGcm { icv_len, .. } => {
            format!("AES-GCM with {icv_len} octet ICV [RFC4106]")
        }
        EncrAlgorithm::ChaCha20Poly1305 => "ChaCha20 with Poly1305 [RFC7634]".to_owned(),
        _ => return None,
    })
}

fn esp_auth_name(i: Option<IntegAlgorithm>) -> Option<&'static str> {
    Some(match i {
        None => "NULL",
        Some(IntegAlgorithm::HmacSha1_96) => "HMAC-SHA-1-96 [RFC2404]",
        Some(IntegAlgorithm::HmacSha256_128) => "HMAC-SHA-256-128 [RFC4868]",
        Some(IntegAlgorithm::HmacSha384_192) => "HMAC-SHA-384-192 [RFC4868]",
        Some(IntegAlgorithm::HmacSha512_256) => "HMAC-SHA-512-256 [RFC4868]",
        Some(_) => return None,
    })
}

/// One `ikev2_decryption_table` line.
pub fn ike_line(k: &IkeSaKeys) -> Option<String> {
    let encr = ike_encr_name(k.suite.encr)?;
    let integ = ike_integ_name(k.suite.integ)?;
    Some(format!(
        "{:016x},{:016x},{},{},\"{encr}\",{},{},\"{integ}\"\n",
        k.spi_i.0,
        k.spi_r.0,
        hex(&k.sk_ei),
        hex(&k.sk_er),
        hex(&k.sk_ai),
        hex(&k.sk_ar),
    ))
}

fn family(a: IpAddr) -> &'static str {
    if a.is_ipv4() { "IPv4" } else { "IPv6" }
}

/// The two `esp_sa` lines of a CHILD SA: what the peer sends us, what we send.
pub fn esp_lines(c: &ChildSaInstalled) -> Option<String> {
    let encr = esp_encr_name(c.suite.encr)?;
    let auth = esp_auth_name(c.suite.integ)?;
    let line = |src: IpAddr, dst: IpAddr, spi: u32, ek: &SecretBytes, ak: &SecretBytes| {
        let ak = if ak.is_empty() {
            String::new()
        } else {
            format!("0x{}", hex(ak))
        };
        format!(
            "\"{}\",\"{src}\",\"{dst}\",\"0x{spi:08x}\",\"{encr}\",\"0x{}\",\"{auth}\",\"{ak}\"\n",
            family(src),
            hex(ek),
        )
    };
    let (l, r) = (c.local.ip(), c.remote.ip());
    Some(
        line(r, l, c.spi_in, &c.keys.encr_in, &c.keys.integ_in)
            + &line(l, r, c.spi_out, &c.keys.encr_out, &c.keys.integ_out),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ikev2::crypto::proposal::Proposal;
    use ikev2::event::{ChildLifetimes, ChildSaKeys, IkeSaId};
    use ikev2::wire::IkeSpi;
    use std::time::Duration;

    fn key(b: u8, n: usize) -> SecretBytes {
        SecretBytes::from(vec![b; n])
    }

    #[test]
    fn ike_line_has_wiresharks_names_and_hex_keys() {
        let suite = Proposal::parse_ike("aes256-sha384-modp2048")
            .expect("parses")
            .ike_suite()
            .expect("complete");
        let k = IkeSaKeys {
            conn: "c".into(),
            ike_sa: IkeSaId(1),
            spi_i: IkeSpi(0x0102_0304_0506_0708),
            spi_r: IkeSpi(0xa0),
            suite,
            sk_ei: key(0x11, 32),
            sk_er: key(0x22, 32),
            sk_ai: key(0x33, 48),
            sk_ar: key(0x44, 48),
        };
        let line = ike_line(&k).expect("named");
        let fields: Vec<&str> = line.trim_end().split(',').collect();
        assert_eq!(fields.len(), 8);
        assert_eq!(fields[0], "0102030405060708");
        assert_eq!(fields[1], "00000000000000a0");
        assert_eq!(fields[2], "11".repeat(32));
        assert_eq!(fields[4], "\"AES-CBC-256 [RFC3602]\"");
        assert_eq!(fields[6], "44".repeat(48));
        assert_eq!(fields[7], "\"HMAC_SHA2_384_192 [RFC4868]\"");
    }

    #[test]
    fn ike_chacha_has_no_wireshark_name() {
        let suite = Proposal::parse_ike("chacha20poly1305-prfsha256-x25519")
            .expect("parses")
            .ike_suite()
            .expect("complete");
        let k = IkeSaKeys {
            conn: "c".into(),
            ike_sa: IkeSaId(1),
            spi_i: IkeSpi(1),
            spi_r: IkeSpi(2),
            suite,
            sk_ei: key(1, 36),
            sk_er: key(2, 36),
            sk_ai: key(0, 0),
            sk_ar: key(0, 0),
        };
        assert!(ike_line(&k).is_none());
    }

    #[test]
    fn esp_lines_give_both_directions_with_salted_aead_keys() {
        let suite = Proposal::parse_esp("aes128gcm16")
            .expect("parses")
            .esp_suite()
            .expect("complete");
        let c = ChildSaInstalled {
            conn: "c".into(),
            child: "net".into(),
            ike_sa: IkeSaId(1),
            spi_in: 0xc000_0001,
            spi_out: 0x0000_00ff,
            suite,
            keys: ChildSaKeys {
                encr_in: key(0xaa, 20),
                integ_in: key(0, 0),
                encr_out: key(0xbb, 20),
                integ_out: key(0, 0),
            },
            local_ts: Vec::new(),
            remote_ts: Vec::new(),
            encap: true,
            local: "192.0.2.1:4500".parse().expect("addr"),
            remote: "192.0.2.2:4500".parse().expect("addr"),
            lifetimes: ChildLifetimes {
                rekey_time: Duration::ZERO,
                life_time: Duration::ZERO,
            },
            initiator: true,
            rekey_of: None,
            outbound: true,
        };
        let text = esp_lines(&c).expect("named");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            format!(
                "\"IPv4\",\"192.0.2.2\",\"192.0.2.1\",\"0xc0000001\",\"AES-GCM with 16 octet ICV [RFC4106]\",\"0x{}\",\"NULL\",\"\"",
                "aa".repeat(20)
            )
        );
        assert!(lines[1].starts_with("\"IPv4\",\"192.0.2.1\",\"192.0.2.2\",\"0x000000ff\""));
        assert!(lines[1].contains(&"bb".repeat(20)));
    }
}
