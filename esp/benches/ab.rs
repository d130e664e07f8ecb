//! Interleaved A/B timing of the AEAD backends through [`esp::cipher::EspAead`].
//!
//! Criterion's means moved by up to 20 % between runs on the (shared, virtualised)
//! benchmark machine, more than the backends differ. Here every round times each
//! backend back to back on the same buffer, and the report is the median and best of
//! the rounds. Run: `cargo bench -p esp --features aws-lc --bench ab`.

use std::hint::black_box;
use std::time::Instant;

use esp::cipher::{AEAD_IV_LEN, EspAead, RingAead, RustCryptoAead};
use ikev2::crypto::algorithms::EncrAlgorithm;

const ROUNDS: usize = 21;

fn gbps(size: usize, n: usize, secs: f64) -> f64 {
    (size * n * 8) as f64 / secs / 1e9
}

/// Gbit/s of sealing (`open == false`) or opening `size` octets `n` times.
fn run(aead: &dyn EspAead, size: usize, n: usize, open: bool) -> f64 {
    let aad = [0u8; 8];
    let tl = aead.tag_len();
    let mut buf = vec![0x5au8; size + tl];
    let iv = [1u8; AEAD_IV_LEN];
    let (pt, tag) = buf.split_at_mut(size);
    aead.seal(&iv, &aad, pt, tag).expect("seal");
    let sealed = buf.clone();
    let t = Instant::now();
    for i in 0..n {
        if open {
            buf.copy_from_slice(&sealed);
            aead.open(&iv, &aad, &mut buf).expect("open");
        } else {
            let mut iv = iv;
            iv[..8].copy_from_slice(&(i as u64).to_be_bytes());
            let (pt, tag) = buf.split_at_mut(size);
            aead.seal(&iv, &aad, pt, tag).expect("seal");
        }
        black_box(&buf);
    }
    gbps(size, n, t.elapsed().as_secs_f64())
}

/// Median and best Gbit/s of `f` run `n` times per round, for each of `fs`, interleaved.
fn ab_rounds(rounds: usize, size: usize, n: usize, fs: &mut [&mut dyn FnMut()]) -> Vec<(f64, f64)> {
    let mut results: Vec<Vec<f64>> = vec![Vec::new(); fs.len()];
    for _ in 0..rounds {
        for (i, f) in fs.iter_mut().enumerate() {
            let t = Instant::now();
            for _ in 0..n {
                f();
            }
            results[i].push(gbps(size, n, t.elapsed().as_secs_f64()));
        }
    }
    results
        .into_iter()
        .map(|mut r| {
            r.sort_by(f64::total_cmp);
            (r[r.len() / 2], r[r.len() - 1])
        })
        .collect()
}

/// A labelled closure to time.
type Named<'a> = (&'static str, Box<dyn FnMut() + 'a>);

/// HMAC over `size` octets: ring, RustCrypto (`hmac` + `sha2`), aws-lc-rs.
fn hmac_ab(rounds: usize, quick: bool) {
    use hmac::{Hmac, Mac};
    for size in [64usize, 512, 1400] {
        let n = if quick { 10 } else { 20_000_000 / (size + 100) };
        let data = vec![0x5au8; size];
        let key = [9u8; 32];
        let r256 = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key);
        let c256 = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&key).expect("key");
        let r512 = ring::hmac::Key::new(ring::hmac::HMAC_SHA512, &key);
        let c512 = <Hmac<sha2::Sha512> as Mac>::new_from_slice(&key).expect("key");
        let mut fs: Vec<Named<'_>> = vec![
            (
                "sha256/ring",
                Box::new(|| {
                    black_box(ring::hmac::sign(&r256, &data));
                }),
            ),
            (
                "sha256/rustcrypto",
                Box::new(|| {
                    let mut m = c256.clone();
                    m.update(&data);
                    black_box(m.finalize().into_bytes());
                }),
            ),
            (
                "sha512/ring",
                Box::new(|| {
                    black_box(ring::hmac::sign(&r512, &data));
                }),
            ),
            (
                "sha512/rustcrypto",
                Box::new(|| {
                    let mut m = c512.clone();
                    m.update(&data);
                    black_box(m.finalize().into_bytes());
                }),
            ),
        ];
        #[cfg(feature = "aws-lc")]
        {
            let a256 = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &key);
            let a512 = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA512, &key);
            let data1 = &data;
            fs.push((
                "sha256/aws-lc",
                Box::new(move || {
                    black_box(aws_lc_rs::hmac::sign(&a256, data1));
                }),
            ));
            let data2 = vec![0x5au8; size];
            fs.push((
                "sha512/aws-lc",
                Box::new(move || {
                    black_box(aws_lc_rs::hmac::sign(&a512, &data2));
                }),
            ));
        }
        let names: Vec<&str> = fs.iter().map(|(n, _)| *n).collect();
        let mut refs: Vec<&mut dyn FnMut()> = fs
            .iter_mut()
            .map(|(_, f)| f.as_mut() as &mut dyn FnMut())
            .collect();
        for (name, (med, best)) in names.iter().zip(ab_rounds(rounds, size, n, &mut refs)) {
            println!("| hmac-{name} | sign | {size} | | {med:.2} | {best:.2} |");
        }
    }
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs with no args: be quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let rounds = if quick { 1 } else { ROUNDS };
    println!("| algorithm | op | size | backend | median Gbit/s | best Gbit/s |");
    println!("|---|---|---|---|---|---|");
    for (name, alg) in [
        (
            "aes128gcm16",
            EncrAlgorithm::AesGcm {
                key_bits: 128,
                icv_len: 16,
            },
        ),
        (
            "aes256gcm16",
            EncrAlgorithm::AesGcm {
                key_bits: 256,
                icv_len: 16,
            },
        ),
        ("chacha20poly1305", EncrAlgorithm::ChaCha20Poly1305),
    ] {
        let keymat = vec![7u8; alg.keymat_len()];
        let mut backends: Vec<(&str, Box<dyn EspAead>)> = vec![
            ("ring", Box::new(RingAead::new(alg, &keymat).expect("key"))),
            (
                "rustcrypto",
                Box::new(RustCryptoAead::new(alg, &keymat).expect("key")),
            ),
        ];
        #[cfg(feature = "aws-lc")]
        backends.push((
            "aws-lc",
            Box::new(esp::cipher::AwsLcAead::new(alg, &keymat).expect("key")),
        ));
        for size in [64usize, 512, 1400] {
            for open in [false, true] {
                let n = if quick { 10 } else { 40_000_000 / (size + 100) };
                let mut results: Vec<Vec<f64>> = vec![Vec::new(); backends.len()];
                for _ in 0..rounds {
                    for (i, (_, a)) in backends.iter_mut().enumerate() {
                        results[i].push(run(a.as_ref(), size, n, open));
                    }
                }
                for (i, (bname, _)) in backends.iter().enumerate() {
                    let r = &mut results[i];
                    r.sort_by(f64::total_cmp);
                    println!(
                        "| {name} | {} | {size} | {bname} | {:.2} | {:.2} |",
                        if open { "open" } else { "seal" },
                        r[r.len() / 2],
                        r[r.len() - 1]
                    );
                }
            }
        }
    }
    hmac_ab(rounds, quick);
}
