//! Prints the ESP overhead table of docs/tuning.md, measured from packets that
//! `encapsulate` builds (not from the arithmetic in `esp::mtu`, which the tests check
//! against the same packets): for each suite, the octets a tunnel adds to a
//! 1400-octet and to a 1360-octet inner packet (CBC padding differs), and the
//! largest inner packet a 1500-octet path carries, for ESP in UDP and raw ESP over
//! IPv4 and IPv6.
//!
//! `cargo run -p esp --example overhead`

use esp::mtu::OuterPath;
use esp::natt::Encapsulation;
use esp::wire::IpVersion;
use esp::{OutboundSa, PacketBuf, SaConfig, Spi, encapsulate};
use ikev2::crypto::algorithms::{EncrAlgorithm, EspSuite, IntegAlgorithm};
use ikev2::crypto::secret::SecretBytes;
use rand_core::OsRng;

/// Length of the ESP packet built around an inner packet of `len` octets.
fn built(sa: &mut OutboundSa, len: usize) -> usize {
    let mut inner = vec![0u8; len];
    inner[0] = 0x45;
    inner[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    inner[8] = 64;
    inner[9] = 17;
    let mut p = PacketBuf::from_packet(&inner);
    encapsulate(sa, &mut p).expect("encapsulate");
    p.len()
}

/// The largest inner packet whose outer packet fits `path_mtu`, found by building.
fn largest(sa: &mut OutboundSa, outer: OuterPath, path_mtu: usize) -> usize {
    (28..path_mtu)
        .rev()
        .find(|&n| outer.header_len() + built(sa, n) <= path_mtu)
        .unwrap_or(0)
}

fn main() {
    use EncrAlgorithm::*;
    use IntegAlgorithm::*;
    let gcm = |key_bits, icv_len| AesGcm { key_bits, icv_len };
    let suites = [
        ("aes128gcm16 / aes256gcm16", gcm(128, 16), None),
        ("aes256gcm12", gcm(256, 12), None),
        ("aes256gcm8", gcm(256, 8), None),
        ("chacha20poly1305", ChaCha20Poly1305, None),
        (
            "aes128-sha1 (HMAC-SHA1-96)",
            AesCbc { key_bits: 128 },
            Some(HmacSha1_96),
        ),
        (
            "aes128-sha256 / aes256-sha256",
            AesCbc { key_bits: 256 },
            Some(HmacSha256_128),
        ),
        (
            "aes256-sha384",
            AesCbc { key_bits: 256 },
            Some(HmacSha384_192),
        ),
        (
            "aes256-sha512",
            AesCbc { key_bits: 256 },
            Some(HmacSha512_256),
        ),
    ];
    let paths = [
        ("UDP/IPv4", IpVersion::V4, Encapsulation::UdpEsp),
        ("raw/IPv4", IpVersion::V4, Encapsulation::RawEsp),
        ("UDP/IPv6", IpVersion::V6, Encapsulation::UdpEsp),
        ("raw/IPv6", IpVersion::V6, Encapsulation::RawEsp),
    ];
    print!("| suite | ESP on 1400 / 1360 |");
    for (name, _, _) in paths {
        print!(" {name}: added / inner MTU at 1500 |");
    }
    println!();
    println!("|---|---|{}", "---|".repeat(paths.len()));
    for (name, encr, integ) in suites {
        let suite = EspSuite {
            encr,
            integ,
            dh: None,
            addke: EspSuite::NO_ADDKE,
            esn: false,
        };
        let ek = SecretBytes::new(vec![7; encr.keymat_len()]);
        let ik = integ.map(|i| SecretBytes::new(vec![9; i.key_len()]));
        let cfg = SaConfig::new(Spi(0x100), suite, ek, ik);
        let mut sa = OutboundSa::new(&cfg, &mut OsRng).expect("SA");
        let esp1400 = built(&mut sa, 1400) - 1400;
        let esp1360 = built(&mut sa, 1360) - 1360;
        print!("| {name} | {esp1400} / {esp1360} |");
        for (_, ip, encap) in paths {
            let outer = OuterPath { ip, encap };
            let added = outer.header_len() + esp1400;
            print!(" {added} / {} |", largest(&mut sa, outer, 1500));
        }
        println!();
    }
}
