//! Helpers shared by the `sk_*` tests: every suite we support, and protector pairs
//! keyed from a seeded RNG.

#![allow(dead_code)]

use ikev2::crypto::algorithms::{EncrAlgorithm, IntegAlgorithm};
use ikev2::crypto::sk::SkProtector;
use ikev2::wire::PayloadType;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

/// Every (encryption, integrity) pair `SkProtector` runs: 12 CBC + HMAC, 9 GCM, 1 ChaCha.
pub fn all_suites() -> Vec<(EncrAlgorithm, Option<IntegAlgorithm>)> {
    let mut suites = Vec::new();
    for key_bits in [128u16, 192, 256] {
        for integ in [
            IntegAlgorithm::HmacSha1_96,
            IntegAlgorithm::HmacSha256_128,
            IntegAlgorithm::HmacSha384_192,
            IntegAlgorithm::HmacSha512_256,
        ] {
            suites.push((EncrAlgorithm::AesCbc { key_bits }, Some(integ)));
        }
        for icv_len in [8u8, 12, 16] {
            suites.push((EncrAlgorithm::AesGcm { key_bits, icv_len }, None));
        }
    }
    suites.push((EncrAlgorithm::ChaCha20Poly1305, None));
    suites
}

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

fn random_bytes(rng: &mut ChaCha20Rng, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rng.fill_bytes(&mut v);
    v
}

/// An initiator and a responder protector sharing fresh random SK_e*/SK_a*.
pub fn pair(
    encr: EncrAlgorithm,
    integ: Option<IntegAlgorithm>,
    rng: &mut ChaCha20Rng,
) -> (SkProtector, SkProtector) {
    let ek = encr.keymat_len();
    let ak = integ.map_or(0, |i| i.key_len());
    let sk_ei = random_bytes(rng, ek);
    let sk_er = random_bytes(rng, ek);
    let sk_ai = random_bytes(rng, ak);
    let sk_ar = random_bytes(rng, ak);
    let i = SkProtector::initiator(encr, integ, &sk_ei, &sk_ai, &sk_er, &sk_ar)
        .expect("keys have the right lengths");
    let r = SkProtector::responder(encr, integ, &sk_ei, &sk_ai, &sk_er, &sk_ar)
        .expect("keys have the right lengths");
    (i, r)
}

/// An IKE header with recognisable SPIs, INFORMATIONAL, initiator flag, message ID 7.
/// Next payload and length are placeholders the protector overwrites.
pub fn header() -> [u8; 28] {
    let mut h = [0u8; 28];
    h[..8].copy_from_slice(&[0x11; 8]);
    h[8..16].copy_from_slice(&[0x22; 8]);
    h[16] = 0xee; // overwritten
    h[17] = 0x20;
    h[18] = 37;
    h[19] = 0x08;
    h[20..24].copy_from_slice(&7u32.to_be_bytes());
    h[24..28].copy_from_slice(&[0xff; 4]); // overwritten
    h
}

pub const FIRST_INNER: PayloadType = PayloadType::NOTIFY;
