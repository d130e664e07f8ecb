//! Key exchange and prf+ costs.
//!
//! Per group: `generate` (a private value and its public value: one exponentiation or
//! scalar multiplication) and `shared_secret` (validation plus one more). For MODP-2048
//! also the same exponentiation with num-bigint-dig's variable-time `modpow`, and both
//! libraries with a full-length (2048-bit) exponent. ML-KEM per parameter set: the
//! three operations of the exchange (initiator's key pair, responder's encapsulation
//! with the key check, initiator's decapsulation) with RustCrypto `ml-kem` (what
//! ikev2 uses) and with aws-lc-rs. Run with `cargo bench -p ikev2 --bench dh`;
//! results are in docs/crypto-dh.md.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ikev2::crypto::algorithms::PrfAlgorithm;
use ikev2::crypto::dh::{self, DhPrivate};
use ikev2::crypto::prf::Prf;
use ikev2::wire::DhGroup;
use num_bigint_dig::BigUint;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

fn key_exchange(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(0x1ce);
    let mut g = c.benchmark_group("dh");
    for group in dh::SUPPORTED_GROUPS {
        let name = group.to_string();
        g.bench_function(BenchmarkId::new("generate", &name), |b| {
            b.iter(|| DhPrivate::generate(group, &mut rng).expect("supported"))
        });
        let ours = DhPrivate::generate(group, &mut rng).expect("supported");
        let peer = DhPrivate::generate(group, &mut rng).expect("supported");
        g.bench_function(BenchmarkId::new("shared_secret", &name), |b| {
            b.iter(|| ours.shared_secret(peer.public_value()).expect("valid"))
        });
    }
    g.finish();
}

/// The MODP-2048 exponentiation g^x (as in `generate`) and y^x (as in `shared_secret`):
/// crypto-bigint (constant time) against num-bigint-dig (variable time), with our
/// 256-bit exponents and with full-length ones.
fn modp2048_libraries(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(0x2048);
    let group = DhGroup::MODP_2048;
    let p_bytes = dh::modp_prime(group).expect("MODP");
    let p = BigUint::from_bytes_be(&p_bytes);
    let g2 = BigUint::from(2u32);
    let peer = DhPrivate::generate(group, &mut rng).expect("supported");
    let y = BigUint::from_bytes_be(peer.public_value());

    let mut g = c.benchmark_group("modp2048");
    for exp_bits in [256usize, 2048] {
        let mut x_bytes = vec![0u8; exp_bits / 8];
        rng.fill_bytes(&mut x_bytes);
        if exp_bits == 2048 {
            // Below p: clear the top bit.
            x_bytes[0] &= 0x7f;
        }
        let ours = DhPrivate::from_bytes(group, &x_bytes).expect("valid exponent");
        let x = BigUint::from_bytes_be(&x_bytes);
        // Same answers, or the comparison is meaningless.
        assert_eq!(g2.modpow(&x, &p).to_bytes_be(), ours.public_value());
        assert_eq!(
            y.modpow(&x, &p).to_bytes_be(),
            ours.shared_secret(peer.public_value())
                .expect("valid")
                .expose()
                .iter()
                .copied()
                .skip_while(|&b| b == 0)
                .collect::<Vec<u8>>()
        );

        let exp = format!("{exp_bits}-bit exponent");
        g.bench_function(BenchmarkId::new("crypto-bigint g^x", &exp), |b| {
            b.iter(|| DhPrivate::from_bytes(group, &x_bytes).expect("valid"))
        });
        g.bench_function(BenchmarkId::new("num-bigint-dig g^x", &exp), |b| {
            b.iter(|| g2.modpow(&x, &p))
        });
        g.bench_function(BenchmarkId::new("crypto-bigint y^x", &exp), |b| {
            b.iter(|| ours.shared_secret(peer.public_value()).expect("valid"))
        });
        g.bench_function(BenchmarkId::new("num-bigint-dig y^x", &exp), |b| {
            b.iter(|| y.modpow(&x, &p))
        });
    }
    g.finish();
}

/// ML-KEM: ours (RustCrypto `ml-kem` through `crypto::kem`) against aws-lc-rs,
/// each operation of the exchange.
fn ml_kem(c: &mut Criterion) {
    use aws_lc_rs::kem as lc;
    use ikev2::crypto::kem::{self, MlKemInitiator};
    let mut rng = ChaCha20Rng::seed_from_u64(0x203);
    let mut g = c.benchmark_group("ml_kem");
    for (m, alg) in [
        (DhGroup::ML_KEM_512, &lc::ML_KEM_512),
        (DhGroup::ML_KEM_768, &lc::ML_KEM_768),
        (DhGroup::ML_KEM_1024, &lc::ML_KEM_1024),
    ] {
        let name = m.to_string();
        g.bench_function(BenchmarkId::new("ml-kem keygen", &name), |b| {
            b.iter(|| MlKemInitiator::generate(m, &mut rng).expect("supported"))
        });
        g.bench_function(BenchmarkId::new("aws-lc keygen", &name), |b| {
            b.iter(|| {
                let dk = lc::DecapsulationKey::generate(alg).expect("keygen");
                // The encoded key, as it goes into the KE payload.
                dk.encapsulation_key()
                    .and_then(|ek| ek.key_bytes().map(|b| b.as_ref().len()))
                    .expect("ek")
            })
        });
        let ours = MlKemInitiator::generate(m, &mut rng).expect("supported");
        let ek = ours.public_value().to_vec();
        g.bench_function(BenchmarkId::new("ml-kem encapsulate", &name), |b| {
            b.iter(|| kem::encapsulate(m, &ek, &mut rng).expect("valid"))
        });
        g.bench_function(BenchmarkId::new("aws-lc encapsulate", &name), |b| {
            b.iter(|| {
                let key = lc::EncapsulationKey::new(alg, &ek).expect("valid");
                key.encapsulate().expect("encapsulate")
            })
        });
        let (ct, _) = kem::encapsulate(m, &ek, &mut rng).expect("valid");
        g.bench_function(BenchmarkId::new("ml-kem decapsulate", &name), |b| {
            b.iter(|| ours.shared_secret(&ct).expect("valid"))
        });
        let dk = lc::DecapsulationKey::generate(alg).expect("keygen");
        let lc_ek = dk.encapsulation_key().expect("ek");
        let (lc_ct, _) = lc_ek.encapsulate().expect("encapsulate");
        let lc_ct = lc_ct.as_ref().to_vec();
        g.bench_function(BenchmarkId::new("aws-lc decapsulate", &name), |b| {
            b.iter(|| {
                dk.decapsulate(lc::Ciphertext::from(lc_ct.as_slice()))
                    .expect("valid")
            })
        });
    }
    g.finish();
}

fn prf_plus(c: &mut Criterion) {
    let mut g = c.benchmark_group("prf_plus_1KiB");
    let key = [0x5a; 32];
    let (ni, nr) = ([1u8; 32], [2u8; 32]);
    for alg in [
        PrfAlgorithm::HmacSha1,
        PrfAlgorithm::HmacSha256,
        PrfAlgorithm::HmacSha384,
        PrfAlgorithm::HmacSha512,
    ] {
        g.bench_function(format!("{alg:?}"), |b| {
            b.iter(|| alg.prf_plus(&key, &[&ni, &nr], 1024).expect("short"))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = key_exchange, modp2048_libraries, ml_kem, prf_plus
}
criterion_main!(benches);
