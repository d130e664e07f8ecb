//! Helpers shared by the esp integration tests.
#![allow(dead_code)]

/// The vector loader is the ikev2 crate's: one place decides where the shared vectors live.
#[path = "../../../ikev2/tests/common/vectors.rs"]
pub mod vectors;

use esp::cipher::Backend;
use esp::{SaConfig, Spi};
use ikev2::crypto::algorithms::{EncrAlgorithm, EspSuite, IntegAlgorithm};
use ikev2::crypto::secret::SecretBytes;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

/// The suites the data plane supports, with a name for messages.
pub fn suites() -> Vec<(&'static str, EncrAlgorithm, Option<IntegAlgorithm>)> {
    use EncrAlgorithm::*;
    use IntegAlgorithm::*;
    let gcm = |key_bits, icv_len| AesGcm { key_bits, icv_len };
    vec![
        ("aes128gcm16", gcm(128, 16), None),
        ("aes192gcm16", gcm(192, 16), None),
        ("aes256gcm16", gcm(256, 16), None),
        ("aes128gcm12", gcm(128, 12), None),
        ("aes256gcm8", gcm(256, 8), None),
        ("chacha20poly1305", ChaCha20Poly1305, None),
        (
            "aes128-sha256",
            AesCbc { key_bits: 128 },
            Some(HmacSha256_128),
        ),
        (
            "aes192-sha384",
            AesCbc { key_bits: 192 },
            Some(HmacSha384_192),
        ),
        (
            "aes256-sha512",
            AesCbc { key_bits: 256 },
            Some(HmacSha512_256),
        ),
        (
            "aes256-sha256",
            AesCbc { key_bits: 256 },
            Some(HmacSha256_128),
        ),
        ("aes128-sha1", AesCbc { key_bits: 128 }, Some(HmacSha1_96)),
    ]
}

/// Random keys for a suite from a seed; the same seed gives the same keys, so the
/// inbound and outbound configs built from one seed match.
pub fn config(
    encr: EncrAlgorithm,
    integ: Option<IntegAlgorithm>,
    esn: bool,
    spi: u32,
    seed: u64,
    backend: Backend,
) -> SaConfig {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut ek = vec![0u8; encr.keymat_len()];
    rng.fill_bytes(&mut ek);
    let ik = integ.map(|i| {
        let mut k = vec![0u8; i.key_len()];
        rng.fill_bytes(&mut k);
        SecretBytes::new(k)
    });
    let suite = EspSuite {
        encr,
        integ,
        dh: None,
        addke: EspSuite::NO_ADDKE,
        esn,
    };
    SaConfig::new(Spi(spi), suite, SecretBytes::new(ek), ik).with_backend(backend)
}

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// A well-formed IPv4 (or IPv6) packet with `payload` after the header.
pub fn ip_packet(v6: bool, payload: &[u8]) -> Vec<u8> {
    if v6 {
        let mut p = vec![0u8; 40];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&(payload.len() as u16).to_be_bytes());
        p[6] = 17;
        p[7] = 64;
        p[8..24].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        p[24..40].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        p.extend_from_slice(payload);
        p
    } else {
        let mut p = vec![0u8; 20];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
        p[8] = 64;
        p[9] = 17;
        p[12..16].copy_from_slice(&[10, 0, 0, 1]);
        p[16..20].copy_from_slice(&[10, 0, 0, 2]);
        p.extend_from_slice(payload);
        p
    }
}

/// All backends compiled in.
pub fn backends() -> Vec<Backend> {
    let mut b = vec![Backend::Ring, Backend::RustCrypto];
    if cfg!(feature = "aws-lc") {
        b.insert(0, Backend::AwsLc);
    }
    b
}
