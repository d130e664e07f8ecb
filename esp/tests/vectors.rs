//! Known-answer ESP vectors from `shared/vectors/esp/` (see its README):
//!
//! - draft-mcgrew-gcm-test-01 (14 AES-GCM packets, 9 with ESN): at the ESP-payload
//!   level, since most of their plaintexts are transport-mode; SPI, sequence number and
//!   IV as given. Sealing must give the on-wire packet, opening the plaintext with
//!   trailer; full decapsulation authenticates and then refuses Next Header 1.
//! - RFC 7634 appendix A (ChaCha20-Poly1305, a tunnel-mode IPv4 packet): both levels.
//! - DPDK tunnel-mode packets (AES-GCM-128/192/256 IPv4/IPv6, AES-CBC + HMAC-SHA2 IPv4/
//!   IPv6): full decapsulation gives the inner packet; sealing with the vector's IV gives
//!   the packet; our own encapsulation pads exactly as the vector does (1, 2, 3, ...).
//!
//! Each runs on every compiled-in backend.
//!
//! AES-CBC + HMAC has no published ESP vector with ESN, HMAC-SHA1-96 or AES-192/256,
//! so those get independent expectations: the AES-CBC vectors of
//! `primitives/aes_cbc.json` (RFC 3602, SP 800-38A, all three key sizes) for the
//! ciphertext, and aws-lc-rs (a second implementation; the SA code uses RustCrypto)
//! for every ICV and for decrypting and building whole packets. With ESN the high 32
//! bits of the sequence number are appended to the ICV input and never sent (RFC 4303
//! sections 2.2.1 and 3.3.2.2).

mod common;

use common::vectors::{hex_field, id, load, str_field, u64_field, vectors};
use common::{backends, ip_packet, rng};
use esp::cipher::{Backend, EspCipher, SaError};
use esp::wire::IpVersion;
use esp::{DecapError, InboundSa, OutboundSa, PacketBuf, SaConfig, Spi, decapsulate, encapsulate};
use hmac::{Hmac, Mac};
use ikev2::crypto::algorithms::{EncrAlgorithm, EspSuite, IntegAlgorithm};
use ikev2::crypto::secret::SecretBytes;
use serde_json::Value;
use sha2::Sha256;

fn key_bits(transform: &str) -> u16 {
    for b in [128, 192, 256] {
        if transform.contains(&format!("key {b} bits")) {
            return b;
        }
    }
    panic!("no key size in transform {transform:?}")
}

/// Algorithms and keys of a vector.
fn suite_of(v: &Value) -> (EspSuite, SecretBytes, Option<SecretBytes>) {
    let t = str_field(v, "transform");
    let esn = v["esn"].as_bool().expect("esn flag");
    let (encr, integ) = if t.starts_with("ENCR_AES_GCM_16") {
        (
            EncrAlgorithm::AesGcm {
                key_bits: key_bits(t),
                icv_len: 16,
            },
            None,
        )
    } else if t.starts_with("ENCR_CHACHA20_POLY1305") {
        (EncrAlgorithm::ChaCha20Poly1305, None)
    } else if t.starts_with("ENCR_AES_CBC") {
        let integ = if t.contains("SHA2_256_128") {
            Some(IntegAlgorithm::HmacSha256_128)
        } else if t.contains("SHA2_384_192") {
            Some(IntegAlgorithm::HmacSha384_192)
        } else if t.contains("SHA2_512_256") {
            Some(IntegAlgorithm::HmacSha512_256)
        } else {
            None
        };
        (
            EncrAlgorithm::AesCbc {
                key_bits: key_bits(t),
            },
            integ,
        )
    } else {
        panic!("vector {}: unknown transform {t:?}", id(v));
    };
    let mut ek = hex_field(v, "enc_key");
    if encr.is_aead() {
        ek.extend(hex_field(v, "salt"));
    }
    let ik = integ.map(|_| SecretBytes::new(hex_field(v, "integ_key")));
    (
        EspSuite {
            encr,
            integ,
            dh: None,
            addke: EspSuite::NO_ADDKE,
            esn,
        },
        SecretBytes::new(ek),
        ik,
    )
}

fn spi_of(v: &Value) -> Spi {
    let b = hex_field(v, "spi");
    Spi(u32::from_be_bytes(b.try_into().expect("4-octet SPI")))
}

fn config_of(v: &Value, backend: Backend) -> SaConfig {
    let (suite, ek, ik) = suite_of(v);
    SaConfig::new(spi_of(v), suite, ek, ik).with_backend(backend)
}

fn cipher_of(v: &Value, backend: Backend) -> EspCipher {
    let (suite, ek, ik) = suite_of(v);
    let integ = suite.integ.zip(ik.as_ref());
    EspCipher::new(suite.encr, &ek, integ, backend)
        .unwrap_or_else(|e| panic!("vector {}: {e}", id(v)))
}

fn seq_high(v: &Value) -> Option<u32> {
    let seq = u64_field(v, "seq");
    v["esn"]
        .as_bool()
        .expect("esn flag")
        .then_some((seq >> 32) as u32)
}

/// The plaintext with trailer: inner packet, padding, pad length, next header.
fn plaintext_with_trailer(v: &Value) -> Vec<u8> {
    let mut p = hex_field(v, "inner_packet");
    p.extend(hex_field(v, "padding"));
    p.push(u64_field(v, "pad_length") as u8);
    p.push(u64_field(v, "next_header") as u8);
    p
}

/// Seal the vector's plaintext with its SPI, sequence number and IV; must give the
/// vector's ESP packet. Open that packet; must give the plaintext back.
fn check_seal_open(v: &Value, backend: Backend) {
    let cipher = cipher_of(v, backend);
    let expected = hex_field(v, "esp_packet");
    let pt = plaintext_with_trailer(v);
    let mut esp = Vec::new();
    esp.extend(hex_field(v, "spi"));
    esp.extend((u64_field(v, "seq") as u32).to_be_bytes());
    esp.extend(hex_field(v, "iv"));
    esp.extend(&pt);
    esp.resize(esp.len() + cipher.icv_len(), 0);
    assert_eq!(esp.len(), expected.len(), "vector {}: length", id(v));
    cipher.seal(&mut esp, seq_high(v)).expect("seal");
    assert_eq!(
        hex::encode(&esp),
        hex::encode(&expected),
        "vector {} ({backend:?}): sealed packet",
        id(v)
    );

    let mut got = expected.clone();
    cipher.open(&mut got, seq_high(v)).expect("open");
    let body = 8 + cipher.iv_len();
    assert_eq!(
        &got[body..got.len() - cipher.icv_len()],
        &pt[..],
        "vector {} ({backend:?}): opened plaintext",
        id(v)
    );

    // Any flipped bit (header, IV, ciphertext or ICV) fails, as does the wrong ESN.
    for pos in [0, 5, body - 1, body, expected.len() - 1] {
        let mut bad = expected.clone();
        bad[pos] ^= 0x10;
        assert!(
            cipher.open(&mut bad, seq_high(v)).is_err(),
            "vector {}: bit flip at {pos} accepted",
            id(v)
        );
    }
    let mut bad = expected.clone();
    let wrong_hi = Some(seq_high(v).map_or(1, |h| h ^ 1));
    assert!(cipher.open(&mut bad, wrong_hi).is_err());
}

#[test]
fn draft_mcgrew_gcm_payload_level() {
    let file = load("esp/esp_aes_gcm_draft_mcgrew.json");
    let list = vectors(&file, "esp_aes_gcm_draft_mcgrew", 14);
    assert_eq!(list.iter().filter(|v| v["esn"] == true).count(), 9);
    let mut checked = 0;
    for v in list {
        // The file's AAD must be what we build: SPI | seq (| with ESN: high | low).
        let mut aad = hex_field(v, "spi");
        let seq = u64_field(v, "seq");
        if let Some(hi) = seq_high(v) {
            aad.extend(hi.to_be_bytes());
        }
        aad.extend((seq as u32).to_be_bytes());
        assert_eq!(aad, hex_field(v, "aad"), "vector {}: AAD", id(v));
        assert_eq!(
            plaintext_with_trailer(v),
            hex_field(v, "plaintext_with_trailer"),
            "vector {}",
            id(v)
        );
        for backend in backends() {
            check_seal_open(v, backend);
            checked += 1;
        }
        if v["esn"] == false {
            // Full decapsulation: authenticates, then refuses the transport-mode payload.
            let mut sa = InboundSa::new(&config_of(v, Backend::default())).expect("SA");
            let mut pkt = PacketBuf::from_packet(&hex_field(v, "esp_packet"));
            assert_eq!(decapsulate(&mut sa, &mut pkt), Err(DecapError::NextHeader));
            assert_eq!(sa.replay_window().top(), seq, "vector {}", id(v));
            assert_eq!(sa.usage().drops.next_header, 1);
        }
    }
    assert_eq!(checked, 14 * backends().len());
}

fn check_tunnel_decap(v: &Value, backend: Backend) {
    let mut sa = InboundSa::new(&config_of(v, backend)).expect("SA");
    let mut pkt = PacketBuf::from_packet(&hex_field(v, "esp_packet"));
    let inner = decapsulate(&mut sa, &mut pkt)
        .unwrap_or_else(|e| panic!("vector {} ({backend:?}): {e}", id(v)));
    let expected = hex_field(v, "inner_packet");
    assert_eq!(
        pkt.as_slice(),
        &expected[..],
        "vector {}: inner packet",
        id(v)
    );
    assert_eq!(inner.seq, u64_field(v, "seq"));
    assert_eq!(inner.len, expected.len());
    let version = if u64_field(v, "next_header") == 41 {
        IpVersion::V6
    } else {
        IpVersion::V4
    };
    assert_eq!(inner.version, version);
    // The same packet again is a replay.
    let mut again = PacketBuf::from_packet(&hex_field(v, "esp_packet"));
    assert!(matches!(
        decapsulate(&mut sa, &mut again),
        Err(DecapError::Replay(_))
    ));
    let u = sa.usage();
    assert_eq!(
        (u.packets, u.bytes, u.drops.replay),
        (1, expected.len() as u64, 1)
    );
}

/// Our encapsulation of the vector's inner packet decrypts to exactly the vector's
/// plaintext + padding + trailer.
fn check_own_encap_pads_like_vector(v: &Value, backend: Backend) {
    let config = config_of(v, backend);
    let mut out = OutboundSa::new(&config, &mut rng(1)).expect("SA");
    out.advance_seq_for_test(u64_field(v, "seq"));
    let mut pkt = PacketBuf::from_packet(&hex_field(v, "inner_packet"));
    encapsulate(&mut out, &mut pkt).expect("encapsulate");
    let expected_len = hex_field(v, "esp_packet").len();
    assert_eq!(pkt.len(), expected_len, "vector {}: ESP length", id(v));
    assert_eq!(&pkt.as_slice()[..8], &hex_field(v, "esp_packet")[..8]);
    let cipher = cipher_of(v, backend);
    let mut esp = pkt.as_slice().to_vec();
    cipher
        .open(&mut esp, seq_high(v))
        .expect("our packet opens");
    let body = 8 + cipher.iv_len();
    assert_eq!(
        &esp[body..esp.len() - cipher.icv_len()],
        &plaintext_with_trailer(v)[..],
        "vector {}: our padding",
        id(v)
    );
}

#[test]
fn rfc7634_chacha20poly1305() {
    let file = load("esp/esp_chacha20poly1305_rfc7634.json");
    let list = vectors(&file, "esp_chacha20poly1305_rfc7634", 1);
    for v in list {
        assert_eq!(
            plaintext_with_trailer(v),
            hex_field(v, "plaintext_with_trailer")
        );
        for backend in backends() {
            check_seal_open(v, backend);
            check_tunnel_decap(v, backend);
            check_own_encap_pads_like_vector(v, backend);
        }
    }
}

#[test]
fn dpdk_tunnel_packets() {
    let file = load("esp/esp_tunnel_dpdk.json");
    let list = vectors(&file, "esp_tunnel_dpdk", 9);
    let mut full = 0;
    for v in list {
        let mut whole = hex_field(v, "outer_ip_header");
        whole.extend(hex_field(v, "esp_packet"));
        assert_eq!(whole, hex_field(v, "full_packet"), "vector {}", id(v));
        if v["integ_key"].is_null() && str_field(v, "transform").starts_with("ENCR_AES_CBC") {
            check_cbc_null(v);
            continue;
        }
        for backend in backends() {
            check_seal_open(v, backend);
            check_tunnel_decap(v, backend);
            check_own_encap_pads_like_vector(v, backend);
        }
        full += 1;
    }
    assert_eq!(full, 8);
}

/// AES-CBC without integrity is refused (RFC 8221 section 5: ENCR_AES_CBC needs an
/// integrity algorithm). The vector's ciphertext still checks our CBC decryption: add
/// an HMAC-SHA2-256-128 ICV under a test key (computed with RustCrypto `hmac`, an
/// independent implementation) and decapsulate.
fn check_cbc_null(v: &Value) {
    let (suite, ek, _) = suite_of(v);
    assert_eq!(suite.integ, None);
    let config = SaConfig::new(spi_of(v), suite, ek.clone(), None);
    assert_eq!(
        InboundSa::new(&config).err(),
        Some(SaError::MissingIntegrity)
    );

    let ikey = [0x5au8; 32];
    let mut esp = hex_field(v, "esp_packet");
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&ikey).expect("any key length");
    mac.update(&esp);
    esp.extend(&mac.finalize().into_bytes()[..16]);
    let suite = EspSuite {
        integ: Some(IntegAlgorithm::HmacSha256_128),
        ..suite
    };
    let config = SaConfig::new(spi_of(v), suite, ek, Some(SecretBytes::from_slice(&ikey)));
    let mut sa = InboundSa::new(&config).expect("SA");
    let mut pkt = PacketBuf::from_packet(&esp);
    let inner = decapsulate(&mut sa, &mut pkt).expect("decapsulates");
    assert_eq!(pkt.as_slice(), &hex_field(v, "inner_packet")[..]);
    assert_eq!(inner.seq, 2);
}

/// The helper that builds test packets makes valid ones (used by the other tests).
#[test]
fn ip_packet_helper_is_valid() {
    for v6 in [false, true] {
        let p = ip_packet(v6, &[1, 2, 3]);
        let (ver, len) = esp::wire::inner_ip(&p).expect("valid");
        assert_eq!(len, p.len());
        assert_eq!(ver == IpVersion::V6, v6);
    }
}

// -- AES-CBC + HMAC against a second implementation ----------------------------------

/// Every AES-CBC + HMAC combination the data plane accepts.
fn cbc_suites() -> Vec<(u16, IntegAlgorithm)> {
    let mut v = Vec::new();
    for key_bits in [128, 192, 256] {
        for integ in [
            IntegAlgorithm::HmacSha1_96,
            IntegAlgorithm::HmacSha256_128,
            IntegAlgorithm::HmacSha384_192,
            IntegAlgorithm::HmacSha512_256,
        ] {
            v.push((key_bits, integ));
        }
    }
    v
}

/// A fixed key of `len` octets (different per `tag`).
fn fixed_key(len: usize, tag: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(7) ^ tag).collect()
}

/// HMAC over the concatenation of `parts`, truncated to the ICV length, by aws-lc-rs.
fn aws_icv(integ: IntegAlgorithm, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    use aws_lc_rs::hmac;
    let alg = match integ {
        IntegAlgorithm::HmacSha1_96 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        IntegAlgorithm::HmacSha256_128 => hmac::HMAC_SHA256,
        IntegAlgorithm::HmacSha384_192 => hmac::HMAC_SHA384,
        IntegAlgorithm::HmacSha512_256 => hmac::HMAC_SHA512,
        other => panic!("no HMAC for {other:?}"),
    };
    let mut ctx = hmac::Context::with_key(&hmac::Key::new(alg, key));
    for p in parts {
        ctx.update(p);
    }
    let full = ctx.sign();
    let want = match integ {
        IntegAlgorithm::HmacSha1_96 => 12,
        IntegAlgorithm::HmacSha256_128 => 16,
        IntegAlgorithm::HmacSha384_192 => 24,
        IntegAlgorithm::HmacSha512_256 => 32,
        other => panic!("no ICV length for {other:?}"),
    };
    full.as_ref()[..want].to_vec()
}

fn aws_aes(key: &[u8]) -> &'static aws_lc_rs::cipher::Algorithm {
    match key.len() {
        16 => &aws_lc_rs::cipher::AES_128,
        24 => &aws_lc_rs::cipher::AES_192,
        32 => &aws_lc_rs::cipher::AES_256,
        n => panic!("no AES key of {n} octets"),
    }
}

/// AES-CBC without padding by aws-lc-rs.
fn aws_cbc(encrypt: bool, key: &[u8], iv: &[u8], data: &[u8]) -> Vec<u8> {
    use aws_lc_rs::cipher::{
        DecryptingKey, DecryptionContext, EncryptingKey, EncryptionContext, UnboundCipherKey,
    };
    let iv: [u8; 16] = iv.try_into().expect("16-octet IV");
    let unbound = || UnboundCipherKey::new(aws_aes(key), key).expect("AES key");
    let mut buf = data.to_vec();
    if encrypt {
        EncryptingKey::cbc(unbound())
            .expect("CBC key")
            .less_safe_encrypt(&mut buf, EncryptionContext::Iv128(iv.into()))
            .expect("whole blocks");
    } else {
        DecryptingKey::cbc(unbound())
            .expect("CBC key")
            .decrypt(&mut buf, DecryptionContext::Iv128(iv.into()))
            .expect("whole blocks");
    }
    buf
}

fn cbc_cipher(key_bits: u16, integ: IntegAlgorithm, ek: &[u8], ik: &[u8]) -> EspCipher {
    EspCipher::new(
        EncrAlgorithm::AesCbc { key_bits },
        &SecretBytes::from_slice(ek),
        Some((integ, &SecretBytes::from_slice(ik))),
        Backend::default(),
    )
    .expect("CBC + HMAC cipher")
}

/// Sealing the published AES-CBC plaintexts (whole blocks, as a padded ESP payload)
/// gives the published ciphertexts, for 128-, 192- and 256-bit keys, and an ICV equal
/// to aws-lc-rs's HMAC over SPI | seq | IV | ciphertext, followed by the high 32
/// sequence bits when ESN is on (also when they are 0). Opening checks the same.
#[test]
fn cbc_hmac_seal_matches_published_aes_and_independent_icv() {
    let file = load("primitives/aes_cbc.json");
    let list = vectors(&file, "aes_cbc", 6);
    let mut sizes = std::collections::BTreeSet::new();
    let mut checked = 0;
    for v in list {
        let key = hex_field(v, "key");
        let key_bits = (key.len() * 8) as u16;
        sizes.insert(key_bits);
        let (iv, pt, ct) = (
            hex_field(v, "iv"),
            hex_field(v, "plaintext"),
            hex_field(v, "ciphertext"),
        );
        for (_, integ) in cbc_suites().into_iter().filter(|(b, _)| *b == key_bits) {
            let ik = fixed_key(integ.key_len(), 0x3c);
            let cipher = cbc_cipher(key_bits, integ, &key, &ik);
            let icv_len = cipher.icv_len();
            for seq_high in [None, Some(0), Some(1), Some(0xdead_beef)] {
                let mut esp = vec![0x01, 0x02, 0x03, 0x04, 0x0a, 0x0b, 0x0c, 0x0d];
                esp.extend(&iv);
                esp.extend(&pt);
                esp.resize(esp.len() + icv_len, 0);
                cipher.seal(&mut esp, seq_high).expect("seal");
                let icv_at = esp.len() - icv_len;
                let what = format!("{} {integ:?} ESN high {seq_high:?}", id(v));
                assert_eq!(
                    hex::encode(&esp[24..icv_at]),
                    hex::encode(&ct),
                    "{what}: ciphertext"
                );
                let hi = seq_high.map(u32::to_be_bytes);
                let mut parts: Vec<&[u8]> = vec![&esp[..icv_at]];
                parts.extend(hi.as_ref().map(|h| &h[..]));
                assert_eq!(
                    hex::encode(&esp[icv_at..]),
                    hex::encode(aws_icv(integ, &ik, &parts)),
                    "{what}: ICV"
                );
                let mut opened = esp.clone();
                cipher.open(&mut opened, seq_high).expect("open");
                assert_eq!(&opened[24..icv_at], &pt[..], "{what}: opened");
                // The high bits are part of the ICV input: another value, or none
                // (ESN off), fails, and so does ESN on where it was off.
                let wrong = match seq_high {
                    None => Some(0),
                    Some(0) => None,
                    Some(h) => Some(h ^ 1),
                };
                assert!(
                    cipher.open(&mut esp.clone(), wrong).is_err(),
                    "{what}: opened with high bits {wrong:?}"
                );
                checked += 1;
            }
        }
    }
    assert_eq!(sizes.into_iter().collect::<Vec<_>>(), vec![128, 192, 256]);
    assert_eq!(checked, 6 * 4 * 4);
}

/// The padded plaintext of an ESP tunnel packet: inner packet, padding 1, 2, 3, ...
/// up to a whole AES block, pad length, Next Header (4 IPv4 / 41 IPv6).
fn padded(inner: &[u8], next_header: u8) -> Vec<u8> {
    let pad = (16 - (inner.len() + 2) % 16) % 16;
    let mut p = inner.to_vec();
    p.extend(1..=pad as u8);
    p.push(pad as u8);
    p.push(next_header);
    p
}

/// Whole-packet checks of AES-CBC + HMAC with and without ESN, every key size and
/// HMAC: (1) our encapsulation, at a sequence number whose high half is not 0 when ESN
/// is on, carries the low half only, an ICV aws-lc-rs computes over the packet and
/// the high half, and a ciphertext aws-lc-rs decrypts to the inner packet with RFC
/// 4303 padding; (2) a packet aws-lc-rs builds is decapsulated to the inner packet
/// (ESN: with the high half, here 0, in the ICV input; without it the ICV fails) and
/// opened with a non-zero high half.
#[test]
fn cbc_hmac_packets_against_an_independent_implementation() {
    let spi = 0x4a3b_2c1d_u32;
    for (n, (key_bits, integ)) in cbc_suites().into_iter().enumerate() {
        for esn in [false, true] {
            let what = format!("AES-CBC-{key_bits} {integ:?} ESN {esn}");
            let ek = fixed_key(usize::from(key_bits / 8), n as u8);
            let ik = fixed_key(integ.key_len(), 0x80 | n as u8);
            let suite = EspSuite {
                encr: EncrAlgorithm::AesCbc { key_bits },
                integ: Some(integ),
                dh: None,
                addke: EspSuite::NO_ADDKE,
                esn,
            };
            let config = SaConfig::new(
                Spi(spi),
                suite,
                SecretBytes::from_slice(&ek),
                Some(SecretBytes::from_slice(&ik)),
            );
            let icv_len = integ.icv_len();
            let inner = ip_packet(n % 2 == 1, &(0..45 + n as u8).collect::<Vec<u8>>());
            let next_header = if n % 2 == 1 { 41 } else { 4 };

            // (1) Ours, checked by aws-lc-rs.
            let (hi, lo) = if esn {
                (0x0000_0005_u32, 0x0000_0007_u32)
            } else {
                (0, 0x0000_0007)
            };
            let mut out = OutboundSa::new(&config, &mut rng(n as u64)).expect("SA");
            out.advance_seq_for_test((u64::from(hi) << 32) | u64::from(lo));
            let mut pkt = PacketBuf::from_packet(&inner);
            encapsulate(&mut out, &mut pkt).expect("encapsulate");
            let esp = pkt.as_slice();
            let icv_at = esp.len() - icv_len;
            assert_eq!(&esp[..4], &spi.to_be_bytes(), "{what}: SPI");
            assert_eq!(
                &esp[4..8],
                &lo.to_be_bytes(),
                "{what}: low sequence bits only"
            );
            let hi_octets = hi.to_be_bytes();
            let mut parts: Vec<&[u8]> = vec![&esp[..icv_at]];
            if esn {
                parts.push(&hi_octets);
            }
            assert_eq!(
                hex::encode(&esp[icv_at..]),
                hex::encode(aws_icv(integ, &ik, &parts)),
                "{what}: ICV of our packet"
            );
            assert_eq!(
                aws_cbc(false, &ek, &esp[8..24], &esp[24..icv_at]),
                padded(&inner, next_header),
                "{what}: our packet decrypted by aws-lc-rs"
            );

            // (2) Theirs, opened by us.
            let iv = fixed_key(16, 0xa5 ^ n as u8);
            let seq = 3u32;
            let mut theirs = spi.to_be_bytes().to_vec();
            theirs.extend(seq.to_be_bytes());
            theirs.extend(&iv);
            theirs.extend(aws_cbc(true, &ek, &iv, &padded(&inner, next_header)));
            let with_high = |high: Option<u32>| {
                let mut p = theirs.clone();
                let h = high.map(u32::to_be_bytes);
                let mut parts: Vec<&[u8]> = vec![&theirs];
                parts.extend(h.as_ref().map(|h| &h[..]));
                p.extend(aws_icv(integ, &ik, &parts));
                p
            };
            // A fresh SA's window puts sequence number 3 in the first 2^32 (high 0).
            let good = with_high(esn.then_some(0));
            let mut sa = InboundSa::new(&config).expect("SA");
            let mut buf = PacketBuf::from_packet(&good);
            let got = decapsulate(&mut sa, &mut buf)
                .unwrap_or_else(|e| panic!("{what}: aws-lc-rs packet refused: {e}"));
            assert_eq!(buf.as_slice(), &inner[..], "{what}: inner packet");
            assert_eq!(got.seq, u64::from(seq));
            // ESN on: the ICV without the high half (as ESN off computes it) fails;
            // ESN off: one with 4 more octets fails.
            let wrong = with_high(if esn { None } else { Some(0) });
            let mut sa = InboundSa::new(&config).expect("SA");
            let mut buf = PacketBuf::from_packet(&wrong);
            assert_eq!(
                decapsulate(&mut sa, &mut buf).err(),
                Some(DecapError::Icv),
                "{what}: wrong ICV input accepted"
            );
            if esn {
                let mut p = with_high(Some(0x1234_5678));
                let cipher = cbc_cipher(key_bits, integ, &ek, &ik);
                cipher
                    .open(&mut p, Some(0x1234_5678))
                    .unwrap_or_else(|e| panic!("{what}: high half 0x12345678: {e}"));
                assert_eq!(&p[24..p.len() - icv_len], &padded(&inner, next_header)[..]);
            }
        }
    }
}
