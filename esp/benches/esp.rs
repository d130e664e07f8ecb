//! ESP data-plane throughput next to the raw primitives, in one run.
//!
//! For 64, 512 and 1400-octet inner packets:
//! - `raw-seal/<alg>/<crate>`: the crate's own AEAD API sealing a buffer of that size
//!   (ring, RustCrypto `aes-gcm`/`chacha20poly1305`, aws-lc-rs with `--features aws-lc`);
//! - `raw-hmac/<alg>/<crate>` and `raw-cbc/<alg>`: the CBC suite's parts;
//! - `encap/<suite>/<backend>`: [`esp::encapsulate`] of an inner packet of that size
//!   (including copying it into the buffer, which the IO read does in operation);
//! - `decap/<suite>/<backend>`: [`esp::decapsulate`] of packets encapsulated beforehand
//!   (outside the timing), in order, 64 at a time.
//!
//! `encap / raw-seal` of the same crate is our overhead. Run:
//! `cargo bench -p esp --features aws-lc --bench esp`, then
//! `python3 esp/benches/report.py` prints Gbit/s tables.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use esp::cipher::Backend;
use esp::{InboundSa, OutboundSa, PacketBuf, SaConfig, Spi, decapsulate, encapsulate};
use ikev2::crypto::algorithms::{EncrAlgorithm, EspSuite, IntegAlgorithm};
use ikev2::crypto::secret::SecretBytes;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

const SIZES: [usize; 3] = [64, 512, 1400];

fn ip_packet(len: usize) -> Vec<u8> {
    let mut p = vec![0x5a; len];
    p[0] = 0x45;
    p[1] = 0;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p
}

fn config(encr: EncrAlgorithm, integ: Option<IntegAlgorithm>, backend: Backend) -> SaConfig {
    let suite = EspSuite {
        encr,
        integ,
        dh: None,
        addke: EspSuite::NO_ADDKE,
        esn: false,
    };
    SaConfig::new(
        Spi(0x1234_5678),
        suite,
        SecretBytes::new(vec![0x11; encr.keymat_len()]),
        integ.map(|i| SecretBytes::new(vec![0x22; i.key_len()])),
    )
    .with_backend(backend)
}

fn suites() -> Vec<(&'static str, EncrAlgorithm, Option<IntegAlgorithm>, Backend)> {
    let gcm128 = EncrAlgorithm::AesGcm {
        key_bits: 128,
        icv_len: 16,
    };
    let gcm256 = EncrAlgorithm::AesGcm {
        key_bits: 256,
        icv_len: 16,
    };
    let chacha = EncrAlgorithm::ChaCha20Poly1305;
    let cbc128 = EncrAlgorithm::AesCbc { key_bits: 128 };
    let cbc256 = EncrAlgorithm::AesCbc { key_bits: 256 };
    let sha256 = Some(IntegAlgorithm::HmacSha256_128);
    let mut v = vec![
        ("aes128gcm16/ring", gcm128, None, Backend::Ring),
        ("aes256gcm16/ring", gcm256, None, Backend::Ring),
        ("chacha20poly1305/ring", chacha, None, Backend::Ring),
        ("aes128gcm16/rustcrypto", gcm128, None, Backend::RustCrypto),
        ("aes256gcm16/rustcrypto", gcm256, None, Backend::RustCrypto),
        (
            "chacha20poly1305/rustcrypto",
            chacha,
            None,
            Backend::RustCrypto,
        ),
        (
            "aes128-sha256/rustcrypto-hmac",
            cbc128,
            sha256,
            Backend::Ring,
        ),
        (
            "aes256-sha256/rustcrypto-hmac",
            cbc256,
            sha256,
            Backend::Ring,
        ),
        (
            "aes256-sha512/rustcrypto-hmac",
            cbc256,
            Some(IntegAlgorithm::HmacSha512_256),
            Backend::Ring,
        ),
    ];
    if cfg!(feature = "aws-lc") {
        v.push(("aes128gcm16/aws-lc", gcm128, None, Backend::AwsLc));
        v.push(("aes256gcm16/aws-lc", gcm256, None, Backend::AwsLc));
        v.push(("chacha20poly1305/aws-lc", chacha, None, Backend::AwsLc));
    }
    v
}

fn raw(c: &mut Criterion) {
    for size in SIZES {
        let mut g = c.benchmark_group(format!("esp/{size}"));
        g.throughput(Throughput::Bytes(size as u64));
        let mut buf = vec![0x5au8; size];
        let aad = [0u8; 8];

        // ring
        for (name, alg) in [
            ("aes128gcm16", &ring::aead::AES_128_GCM),
            ("aes256gcm16", &ring::aead::AES_256_GCM),
            ("chacha20poly1305", &ring::aead::CHACHA20_POLY1305),
        ] {
            let key = ring::aead::LessSafeKey::new(
                ring::aead::UnboundKey::new(alg, &vec![7u8; alg.key_len()]).expect("key"),
            );
            let mut n = 0u64;
            g.bench_function(format!("raw-seal/{name}/ring"), |b| {
                b.iter(|| {
                    n += 1;
                    let mut nonce = [0u8; 12];
                    nonce[4..].copy_from_slice(&n.to_be_bytes());
                    let nonce = ring::aead::Nonce::assume_unique_for_key(nonce);
                    black_box(
                        key.seal_in_place_separate_tag(
                            nonce,
                            ring::aead::Aad::from(&aad),
                            &mut buf,
                        )
                        .expect("seal"),
                    )
                })
            });
        }

        // aws-lc-rs
        #[cfg(feature = "aws-lc")]
        for (name, alg) in [
            ("aes128gcm16", &aws_lc_rs::aead::AES_128_GCM),
            ("aes256gcm16", &aws_lc_rs::aead::AES_256_GCM),
            ("chacha20poly1305", &aws_lc_rs::aead::CHACHA20_POLY1305),
        ] {
            let key = aws_lc_rs::aead::LessSafeKey::new(
                aws_lc_rs::aead::UnboundKey::new(alg, &vec![7u8; alg.key_len()]).expect("key"),
            );
            let mut n = 0u64;
            g.bench_function(format!("raw-seal/{name}/aws-lc"), |b| {
                b.iter(|| {
                    n += 1;
                    let mut nonce = [0u8; 12];
                    nonce[4..].copy_from_slice(&n.to_be_bytes());
                    let nonce = aws_lc_rs::aead::Nonce::assume_unique_for_key(nonce);
                    black_box(
                        key.seal_in_place_separate_tag(
                            nonce,
                            aws_lc_rs::aead::Aad::from(&aad),
                            &mut buf,
                        )
                        .expect("seal"),
                    )
                })
            });
        }

        // RustCrypto
        {
            use aes_gcm::aead::{AeadInPlace, KeyInit};
            let nonce = aes_gcm::Nonce::from([1u8; 12]);
            let k128 = aes_gcm::Aes128Gcm::new_from_slice(&[7; 16]).expect("key");
            g.bench_function("raw-seal/aes128gcm16/rustcrypto", |b| {
                b.iter(|| black_box(k128.encrypt_in_place_detached(&nonce, &aad, &mut buf)))
            });
            let k256 = aes_gcm::Aes256Gcm::new_from_slice(&[7; 32]).expect("key");
            g.bench_function("raw-seal/aes256gcm16/rustcrypto", |b| {
                b.iter(|| black_box(k256.encrypt_in_place_detached(&nonce, &aad, &mut buf)))
            });
            let cc = chacha20poly1305::ChaCha20Poly1305::new_from_slice(&[7; 32]).expect("key");
            g.bench_function("raw-seal/chacha20poly1305/rustcrypto", |b| {
                b.iter(|| black_box(cc.encrypt_in_place_detached(&nonce, &aad, &mut buf)))
            });
        }

        // HMAC: ring (precomputed key) vs RustCrypto (keyed state cloned per message)
        {
            use hmac::{Hmac, Mac};
            for (name, alg) in [
                ("sha256", ring::hmac::HMAC_SHA256),
                ("sha512", ring::hmac::HMAC_SHA512),
            ] {
                let key = ring::hmac::Key::new(alg, &[9u8; 32]);
                g.bench_function(format!("raw-hmac/{name}/ring"), |b| {
                    b.iter(|| black_box(ring::hmac::sign(&key, &buf)))
                });
            }
            let m256 = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&[9u8; 32]).expect("key");
            g.bench_function("raw-hmac/sha256/rustcrypto", |b| {
                b.iter(|| {
                    let mut m = m256.clone();
                    m.update(&buf);
                    black_box(m.finalize().into_bytes())
                })
            });
            let m512 = <Hmac<sha2::Sha512> as Mac>::new_from_slice(&[9u8; 32]).expect("key");
            g.bench_function("raw-hmac/sha512/rustcrypto", |b| {
                b.iter(|| {
                    let mut m = m512.clone();
                    m.update(&buf);
                    black_box(m.finalize().into_bytes())
                })
            });
        }

        // AES-CBC encryption (RustCrypto aes + cbc), whole blocks of about `size`.
        {
            use cbc::cipher::block_padding::NoPadding;
            use cbc::cipher::{BlockEncryptMut, KeyIvInit};
            let len = size / 16 * 16;
            for (name, klen) in [("aes128cbc", 16usize), ("aes256cbc", 32)] {
                let key = vec![3u8; klen];
                g.bench_function(format!("raw-cbc/{name}/rustcrypto"), |b| {
                    b.iter(|| {
                        if klen == 16 {
                            cbc::Encryptor::<aes::Aes128>::new_from_slices(&key, &[1; 16])
                                .expect("key")
                                .encrypt_padded_mut::<NoPadding>(&mut buf[..len], len)
                                .map(|c| c.len())
                        } else {
                            cbc::Encryptor::<aes::Aes256>::new_from_slices(&key, &[1; 16])
                                .expect("key")
                                .encrypt_padded_mut::<NoPadding>(&mut buf[..len], len)
                                .map(|c| c.len())
                        }
                    })
                });
            }
        }
        g.finish();
    }
}

fn dataplane(c: &mut Criterion) {
    for size in SIZES {
        let mut g = c.benchmark_group(format!("esp/{size}"));
        g.throughput(Throughput::Bytes(size as u64));
        let inner = ip_packet(size);
        for (name, encr, integ, backend) in suites() {
            let cfg = config(encr, integ, backend);
            let mut out =
                OutboundSa::new(&cfg, &mut ChaCha20Rng::seed_from_u64(1)).expect("outbound");
            let mut pkt = PacketBuf::with_capacity(96, size + 256);
            g.bench_function(format!("encap/{name}"), |b| {
                b.iter(|| {
                    pkt.set_packet(96, &inner);
                    encapsulate(&mut out, &mut pkt).expect("encapsulate");
                    black_box(pkt.len())
                })
            });

            let mut out =
                OutboundSa::new(&cfg, &mut ChaCha20Rng::seed_from_u64(2)).expect("outbound");
            let mut inb = InboundSa::new(&cfg).expect("inbound");
            let mut chunk: Vec<PacketBuf> = (0..64)
                .map(|_| PacketBuf::with_capacity(96, size + 256))
                .collect();
            g.bench_function(format!("decap/{name}"), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    let mut left = iters;
                    while left > 0 {
                        let n = left.min(chunk.len() as u64) as usize;
                        for p in &mut chunk[..n] {
                            p.set_packet(96, &inner);
                            encapsulate(&mut out, p).expect("encapsulate");
                        }
                        let t = Instant::now();
                        for p in &mut chunk[..n] {
                            black_box(decapsulate(&mut inb, p).expect("decapsulate"));
                        }
                        total += t.elapsed();
                        left -= n as u64;
                    }
                    total
                })
            });
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = raw, dataplane
}
criterion_main!(benches);
