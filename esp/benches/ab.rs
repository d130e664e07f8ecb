//! Interleaved A/B timing of the AEAD backends through [`esp::cipher::EspAead`].
//!
//! Criterion's means moved by up to 20 % between runs on the (shared, virtualised)
//! benchmark machine, more than the backends differ. Here every round times each
//! backend back to back on the same buffer, and the report is the median and best of
//! the rounds. Also our encapsulation and decapsulation next to the raw seal of the
//! same backend, interleaved the same way. Run: `cargo bench -p esp --bench ab`.

use std::hint::black_box;
use std::time::Instant;

use esp::cipher::{AEAD_IV_LEN, Backend, EspAead, RingAead, RustCryptoAead};
use esp::{InboundSa, OutboundSa, PacketBuf, SaConfig, Spi, decapsulate, encapsulate};
use ikev2::crypto::algorithms::{EncrAlgorithm, EspSuite, IntegAlgorithm};
use ikev2::crypto::secret::SecretBytes;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

const ROUNDS: usize = 15;

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

/// Gbit/s of `n` encapsulations of a `size`-octet inner packet (the copy into the
/// buffer included, as the IO read would do it).
fn run_encap(out: &mut OutboundSa, inner: &[u8], n: usize) -> f64 {
    let mut pkt = PacketBuf::with_capacity(96, inner.len() + 256);
    let t = Instant::now();
    for _ in 0..n {
        pkt.set_packet(96, inner);
        encapsulate(out, &mut pkt).expect("encapsulate");
        black_box(pkt.len());
    }
    gbps(inner.len(), n, t.elapsed().as_secs_f64())
}

/// Gbit/s of `n` decapsulations; packets are made 64 at a time outside the timing.
fn run_decap(out: &mut OutboundSa, inb: &mut InboundSa, inner: &[u8], n: usize) -> f64 {
    let mut chunk: Vec<PacketBuf> = (0..64)
        .map(|_| PacketBuf::with_capacity(96, inner.len() + 256))
        .collect();
    let mut timed = 0f64;
    let mut left = n;
    while left > 0 {
        let k = left.min(chunk.len());
        for p in &mut chunk[..k] {
            p.set_packet(96, inner);
            encapsulate(out, p).expect("encapsulate");
        }
        let t = Instant::now();
        for p in &mut chunk[..k] {
            black_box(decapsulate(inb, p).expect("decapsulate"));
        }
        timed += t.elapsed().as_secs_f64();
        left -= k;
    }
    gbps(inner.len(), n, timed)
}

/// Our overhead: raw seal of the backend, encapsulation and decapsulation, interleaved
/// in every round.
fn dataplane_ab(rounds: usize, quick: bool) {
    let gcm = |key_bits| EncrAlgorithm::AesGcm {
        key_bits,
        icv_len: 16,
    };
    let mut cases: Vec<(&str, EncrAlgorithm, Option<IntegAlgorithm>, Backend)> = vec![
        ("aes128gcm16", gcm(128), None, Backend::Ring),
        ("aes256gcm16", gcm(256), None, Backend::Ring),
        (
            "chacha20poly1305",
            EncrAlgorithm::ChaCha20Poly1305,
            None,
            Backend::Ring,
        ),
        (
            "aes128-sha256",
            EncrAlgorithm::AesCbc { key_bits: 128 },
            Some(IntegAlgorithm::HmacSha256_128),
            Backend::Ring,
        ),
        (
            "aes256-sha512",
            EncrAlgorithm::AesCbc { key_bits: 256 },
            Some(IntegAlgorithm::HmacSha512_256),
            Backend::Ring,
        ),
    ];
    if cfg!(feature = "aws-lc") {
        cases.insert(
            0,
            (
                "chacha20poly1305",
                EncrAlgorithm::ChaCha20Poly1305,
                None,
                Backend::AwsLc,
            ),
        );
        cases.insert(0, ("aes256gcm16", gcm(256), None, Backend::AwsLc));
        cases.insert(0, ("aes128gcm16", gcm(128), None, Backend::AwsLc));
    }
    println!();
    println!("| suite | backend | size | raw seal | encap | decap | encap/raw |");
    println!("|---|---|---|---|---|---|---|");
    for (name, encr, integ, backend) in cases {
        let cfg = SaConfig::new(
            Spi(0x1234_5678),
            EspSuite {
                encr,
                integ,
                dh: None,
                addke: EspSuite::NO_ADDKE,
                esn: false,
            },
            SecretBytes::new(vec![0x11; encr.keymat_len()]),
            integ.map(|i| SecretBytes::new(vec![0x22; i.key_len()])),
        )
        .with_backend(backend);
        let raw: Option<Box<dyn EspAead>> = match (encr.is_aead(), backend) {
            (false, _) => None,
            #[cfg(feature = "aws-lc")]
            (true, Backend::AwsLc) => Some(Box::new(
                esp::cipher::AwsLcAead::new(encr, &vec![0x11; encr.keymat_len()]).expect("key"),
            )),
            _ => Some(Box::new(
                RingAead::new(encr, &vec![0x11; encr.keymat_len()]).expect("key"),
            )),
        };
        for size in [64usize, 512, 1400] {
            let n = if quick { 10 } else { 20_000_000 / (size + 100) };
            let mut inner = vec![0x5a; size];
            inner[0] = 0x45;
            inner[2..4].copy_from_slice(&(size as u16).to_be_bytes());
            let mut out = OutboundSa::new(&cfg, &mut ChaCha20Rng::seed_from_u64(1)).expect("SA");
            let mut out2 = OutboundSa::new(&cfg, &mut ChaCha20Rng::seed_from_u64(2)).expect("SA");
            let mut inb = InboundSa::new(&cfg).expect("SA");
            let (mut r, mut e, mut d) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..rounds {
                if let Some(a) = &raw {
                    r.push(run(a.as_ref(), size, n, false));
                }
                e.push(run_encap(&mut out, &inner, n));
                d.push(run_decap(&mut out2, &mut inb, &inner, n));
            }
            let med = |v: &mut Vec<f64>| {
                v.sort_by(f64::total_cmp);
                v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
            };
            let (rm, em, dm) = (med(&mut r), med(&mut e), med(&mut d));
            let bname = if encr.is_aead() {
                format!("{backend:?}")
            } else {
                "RustCrypto aes+cbc, hmac".to_string()
            };
            let ratio = if rm.is_nan() {
                "-".to_string()
            } else {
                format!("{:.2}", em / rm)
            };
            let rm = if rm.is_nan() {
                "-".to_string()
            } else {
                format!("{rm:.2}")
            };
            println!("| {name} | {bname} | {size} | {rm} | {em:.2} | {dm:.2} | {ratio} |");
        }
    }
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
    dataplane_ab(rounds, quick);
}
