//! SK payload encrypt and decrypt of a 1 KiB inner payload chain, per suite.
//!
//! `cargo bench -p ikev2 --bench sk`; numbers are recorded in docs/crypto-sk.md.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ikev2::crypto::algorithms::{EncrAlgorithm, IntegAlgorithm};
use ikev2::crypto::sk::SkProtector;
use ikev2::wire::PayloadType;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use std::hint::black_box;

const INNER_LEN: usize = 1024;

fn suites() -> [(&'static str, EncrAlgorithm, Option<IntegAlgorithm>); 5] {
    [
        (
            "aes128-sha256",
            EncrAlgorithm::AesCbc { key_bits: 128 },
            Some(IntegAlgorithm::HmacSha256_128),
        ),
        (
            "aes256-sha256",
            EncrAlgorithm::AesCbc { key_bits: 256 },
            Some(IntegAlgorithm::HmacSha256_128),
        ),
        (
            "aes128gcm16",
            EncrAlgorithm::AesGcm {
                key_bits: 128,
                icv_len: 16,
            },
            None,
        ),
        (
            "aes256gcm16",
            EncrAlgorithm::AesGcm {
                key_bits: 256,
                icv_len: 16,
            },
            None,
        ),
        ("chacha20poly1305", EncrAlgorithm::ChaCha20Poly1305, None),
    ]
}

fn protectors(encr: EncrAlgorithm, integ: Option<IntegAlgorithm>) -> (SkProtector, SkProtector) {
    let ek: Vec<u8> = (0..encr.keymat_len()).map(|i| i as u8).collect();
    let ak: Vec<u8> = (0..integ.map_or(0, |a| a.key_len()))
        .map(|i| (i as u8) ^ 0x5c)
        .collect();
    let i = SkProtector::initiator(encr, integ, &ek, &ak, &ek, &ak).expect("keys");
    let r = SkProtector::responder(encr, integ, &ek, &ak, &ek, &ak).expect("keys");
    (i, r)
}

fn bench_sk(c: &mut Criterion) {
    let header = [0x42u8; 28];
    let inner = vec![0xa5u8; INNER_LEN];
    let mut rng = ChaCha20Rng::seed_from_u64(0);

    let mut enc = c.benchmark_group("sk_encrypt_1k");
    enc.throughput(Throughput::Bytes(INNER_LEN as u64));
    for (name, encr, integ) in suites() {
        let (mut i, _) = protectors(encr, integ);
        enc.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                i.encrypt_message(&header, PayloadType::NOTIFY, black_box(&inner), &mut rng)
                    .expect("encrypt")
            })
        });
    }
    enc.finish();

    let mut dec = c.benchmark_group("sk_decrypt_1k");
    dec.throughput(Throughput::Bytes(INNER_LEN as u64));
    for (name, encr, integ) in suites() {
        let (mut i, r) = protectors(encr, integ);
        let msg = i
            .encrypt_message(&header, PayloadType::NOTIFY, &inner, &mut rng)
            .expect("encrypt");
        dec.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| r.decrypt_message(black_box(&msg), 28).expect("decrypt"))
        });
    }
    dec.finish();
}

criterion_group!(benches, bench_sk);
criterion_main!(benches);
