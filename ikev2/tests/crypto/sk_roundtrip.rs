//! SK payload (RFC 7296 section 3.14): round trips for every suite, tampering,
//! truncation, IV uniqueness, padding acceptance, sizes, unprotected payloads.

use crate::sk_util;

use std::collections::HashSet;

use ikev2::crypto::algorithms::{EncrAlgorithm, IntegAlgorithm};
use ikev2::crypto::cipher::IkeCipher;
use ikev2::crypto::sk::{
    Opened, SkError, SkProtector, Unprotected, find_encrypted_payload, ike_message_budget,
};
use ikev2::wire::PayloadType;
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use rand_chacha::rand_core::RngCore;
use sk_util::{FIRST_INNER, all_suites, header, pair, rng};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        rng_seed: RngSeed::Fixed(0x5eed_0001),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn suite_strategy() -> impl Strategy<Value = (EncrAlgorithm, Option<IntegAlgorithm>)> {
    proptest::sample::select(all_suites())
}

proptest! {
    #![proptest_config(config(256))]

    /// encrypt -> decrypt gives the inner payloads back, in both directions, and the
    /// message has exactly the advertised length and header.
    #[test]
    fn round_trip(
        suite in suite_strategy(),
        inner in proptest::collection::vec(any::<u8>(), 0..1500),
        seed in any::<u64>(),
    ) {
        let mut rng = rng(seed);
        let (mut i, mut r) = pair(suite.0, suite.1, &mut rng);
        let h = header();

        let msg = i.encrypt_message(&h, FIRST_INNER, &inner, &mut rng).expect("encrypt");
        prop_assert_eq!(msg.len(), i.message_len(0, inner.len()));
        prop_assert_eq!(msg.len() - inner.len(), i.overhead(inner.len()));
        prop_assert_eq!(&msg[..16], &h[..16]);
        prop_assert_eq!(msg[16], 46);
        prop_assert_eq!(&msg[17..24], &h[17..24]);
        prop_assert_eq!(&msg[24..28], &(msg.len() as u32).to_be_bytes()[..]);
        prop_assert_eq!(msg[28], FIRST_INNER.0);

        let got = r.decrypt_message(&msg, 28).expect("decrypt");
        prop_assert_eq!(got.next_payload, FIRST_INNER);
        prop_assert_eq!(&got.payloads, &inner);
        // The initiator cannot open its own message: the directions use different keys.
        prop_assert_eq!(i.decrypt_message(&msg, 28).err(), Some(SkError::IntegrityCheckFailed));

        let back = r.encrypt_message(&h, PayloadType::DELETE, &inner, &mut rng).expect("encrypt");
        match i.open(&back).expect("decrypt") {
            Opened::Message(p) => {
                prop_assert_eq!(p.next_payload, PayloadType::DELETE);
                prop_assert_eq!(&p.payloads, &inner);
            }
            other => prop_assert!(false, "expected a message, got {:?}", other),
        }
    }

    /// Arbitrary bytes never panic any receive path.
    #[test]
    fn garbage_never_panics(
        suite in suite_strategy(),
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        offset in 0usize..320,
        seed in any::<u64>(),
    ) {
        let mut rng = rng(seed);
        let (_, r) = pair(suite.0, suite.1, &mut rng);
        prop_assert!(r.decrypt_message(&bytes, offset).is_err());
        prop_assert!(r.decrypt_fragment(&bytes, offset).is_err());
        prop_assert!(r.open(&bytes).is_err());
        let _ = find_encrypted_payload(&bytes);
    }

    /// Garbage with consistent length fields reaches the integrity check and fails there
    /// (or earlier), never later.
    #[test]
    fn forged_messages_fail_integrity(
        suite in suite_strategy(),
        body in proptest::collection::vec(any::<u8>(), 0..300),
        seed in any::<u64>(),
    ) {
        let mut rng = rng(seed);
        let (_, r) = pair(suite.0, suite.1, &mut rng);
        let mut msg = header().to_vec();
        msg[16] = 46;
        msg.extend_from_slice(&[41, 0, 0, 0]);
        msg.extend_from_slice(&body);
        let len = msg.len();
        msg[24..28].copy_from_slice(&(len as u32).to_be_bytes());
        msg[30..32].copy_from_slice(&((len - 28) as u16).to_be_bytes());
        let err = r.decrypt_message(&msg, 28).expect_err("forged");
        prop_assert!(
            matches!(err, SkError::IntegrityCheckFailed | SkError::Truncated | SkError::BadLength),
            "{:?}", err
        );
    }
}

/// Flipping any single bit of the message makes decryption fail; outside the two
/// length fields (checked before any crypto) it fails the integrity check.
#[test]
fn every_bit_flip_is_detected() {
    let inner: Vec<u8> = (0..45u8).collect();
    for (n, (encr, integ)) in all_suites().into_iter().enumerate() {
        let mut rng = rng(n as u64);
        let (mut i, r) = pair(encr, integ, &mut rng);
        let msg = i
            .encrypt_message(&header(), FIRST_INNER, &inner, &mut rng)
            .expect("encrypt");
        assert_eq!(r.decrypt_message(&msg, 28).expect("clean").payloads, inner);
        let mut flipped = msg.clone();
        for byte in 0..msg.len() {
            for bit in 0..8 {
                flipped[byte] ^= 1 << bit;
                let err = r
                    .decrypt_message(&flipped, 28)
                    .expect_err("tampered message accepted");
                let length_field = (24..28).contains(&byte) || (30..32).contains(&byte);
                if length_field {
                    assert_eq!(err, SkError::BadLength, "{encr:?} byte {byte} bit {bit}");
                } else {
                    assert_eq!(
                        err,
                        SkError::IntegrityCheckFailed,
                        "{encr:?}/{integ:?} byte {byte} bit {bit}"
                    );
                }
                flipped[byte] ^= 1 << bit;
            }
        }
    }
}

/// Every truncation fails cleanly: as received, and with both length fields rewritten
/// to match so that the check goes deeper.
#[test]
fn every_truncation_fails() {
    let inner = vec![0xabu8; 40];
    for (n, (encr, integ)) in all_suites().into_iter().enumerate() {
        let mut rng = rng(100 + n as u64);
        let (mut i, r) = pair(encr, integ, &mut rng);
        let msg = i
            .encrypt_message(&header(), FIRST_INNER, &inner, &mut rng)
            .expect("encrypt");
        for len in 0..msg.len() {
            let cut = &msg[..len];
            assert!(r.decrypt_message(cut, 28).is_err(), "{encr:?} len {len}");
            assert!(r.open(cut).is_err(), "{encr:?} len {len}");
            if len >= 32 {
                let mut fixed = cut.to_vec();
                fixed[24..28].copy_from_slice(&(len as u32).to_be_bytes());
                fixed[30..32].copy_from_slice(&((len - 28) as u16).to_be_bytes());
                let err = r
                    .decrypt_message(&fixed, 28)
                    .expect_err("truncated accepted");
                assert!(
                    matches!(
                        err,
                        SkError::IntegrityCheckFailed | SkError::Truncated | SkError::BadLength
                    ),
                    "{encr:?} len {len}: {err:?}"
                );
            }
        }
    }
}

/// One protector never repeats an IV; AEAD IVs count up by one per message.
#[test]
fn ivs_never_repeat() {
    for (n, (encr, integ)) in all_suites().into_iter().enumerate() {
        let mut rng = rng(200 + n as u64);
        let (mut i, _) = pair(encr, integ, &mut rng);
        let iv_len = encr.iv_len();
        let mut seen = HashSet::new();
        let mut prev: Option<u64> = None;
        for k in 0..1000usize {
            // Same plaintext every time: only the IV makes the messages differ.
            let msg = if k % 10 == 9 {
                // Fragments draw from the same IV sequence.
                let frags = i
                    .encrypt_fragments(&header(), FIRST_INNER, &[7u8; 300], 200, &mut rng)
                    .expect("fragments");
                assert!(frags.len() > 1);
                for f in &frags {
                    assert!(
                        seen.insert(f[36..36 + iv_len].to_vec()),
                        "{encr:?} IV reused"
                    );
                }
                prev = None;
                continue;
            } else {
                i.encrypt_message(&header(), FIRST_INNER, b"same", &mut rng)
                    .expect("encrypt")
            };
            let iv = msg[32..32 + iv_len].to_vec();
            if encr.is_aead() {
                let v = u64::from_be_bytes(iv.clone().try_into().expect("8 octets"));
                if let Some(p) = prev {
                    assert_eq!(v, p.wrapping_add(1), "{encr:?} counter");
                }
                prev = Some(v);
            }
            assert!(seen.insert(iv), "{encr:?} IV reused after {k} messages");
        }
    }
}

/// Two protectors built from the same key (a bug, but a possible one) start their IV
/// counters at unrelated random points.
#[test]
fn duplicate_protectors_start_at_different_ivs() {
    let keymat = [9u8; 36];
    let mk = || {
        SkProtector::initiator(
            EncrAlgorithm::ChaCha20Poly1305,
            None,
            &keymat,
            &[],
            &keymat,
            &[],
        )
        .expect("keys")
    };
    let (mut a, mut b) = (mk(), mk());
    let ma = a
        .encrypt_message(&header(), FIRST_INNER, b"x", &mut rng(1))
        .expect("encrypt");
    let mb = b
        .encrypt_message(&header(), FIRST_INNER, b"x", &mut rng(2))
        .expect("encrypt");
    assert_ne!(ma[32..40], mb[32..40]);
}

/// Seal a hand-made plaintext (inner | padding | pad length) with a raw cipher, as a
/// peer with other padding habits would.
fn peer_message(
    c: &IkeCipher,
    inner: &[u8],
    padding: &[u8],
    pad_len_octet: u8,
    iv_byte: u8,
) -> Vec<u8> {
    let mut msg = header().to_vec();
    msg[16] = 46;
    msg.extend_from_slice(&[41, 0, 0, 0]);
    let iv_start = msg.len();
    msg.extend(std::iter::repeat_n(iv_byte, c.iv_len()));
    let ct_start = msg.len();
    msg.extend_from_slice(inner);
    msg.extend_from_slice(padding);
    msg.push(pad_len_octet);
    let icv_start = msg.len();
    msg.resize(icv_start + c.icv_len(), 0);
    let len = msg.len();
    msg[24..28].copy_from_slice(&(len as u32).to_be_bytes());
    msg[30..32].copy_from_slice(&((len - 28) as u16).to_be_bytes());
    let (aad_iv, rest) = msg.split_at_mut(ct_start);
    let (aad, iv) = aad_iv.split_at(iv_start);
    let (ct, icv) = rest.split_at_mut(icv_start - ct_start);
    c.seal_in_place(aad, iv, ct, icv).expect("seal");
    msg
}

#[test]
fn any_padding_that_fits_is_accepted() {
    let inner = b"0123456789abcdef0123"; // 20 octets
    let cbc = (
        EncrAlgorithm::AesCbc { key_bits: 128 },
        Some(IntegAlgorithm::HmacSha256_128),
    );
    let gcm = (
        EncrAlgorithm::AesGcm {
            key_bits: 256,
            icv_len: 16,
        },
        None,
    );
    for (encr, integ) in [cbc, gcm] {
        let ek = vec![3u8; encr.keymat_len()];
        let ak = vec![4u8; integ.map_or(0, |a| a.key_len())];
        let r = SkProtector::responder(
            encr,
            integ,
            &ek,
            &ak,
            &[5; 36][..encr.keymat_len()],
            &[6; 64][..ak.len()],
        )
        .expect("keys");
        let peer = IkeCipher::new(encr, integ, &ek, &ak).expect("keys");

        // 27 octets of non-zero padding: 20 + 27 + 1 = 48, a block multiple.
        let padding: Vec<u8> = (1..=27).collect();
        let msg = peer_message(&peer, inner, &padding, 27, 1);
        assert_eq!(
            r.decrypt_message(&msg, 28).expect("long padding").payloads,
            inner
        );

        // The pad length octet points before the plaintext: authentic but bad padding.
        let msg = peer_message(&peer, inner, &padding, 60, 2);
        assert_eq!(r.decrypt_message(&msg, 28), Err(SkError::BadPadding));

        // Pad length consuming everything: empty inner payloads.
        let msg = peer_message(&peer, &[], &padding[..15], 15, 3);
        let got = r.decrypt_message(&msg, 28).expect("empty");
        assert!(got.payloads.is_empty());

        if encr.is_aead() {
            // AEAD: pad length 0, no alignment at all.
            let msg = peer_message(&peer, &inner[..5], &[], 0, 4);
            assert_eq!(
                r.decrypt_message(&msg, 28).expect("unaligned").payloads,
                &inner[..5]
            );
        } else {
            // CBC: ciphertext that is not a block multiple is refused before crypto.
            let mut msg = peer_message(&peer, inner, &padding, 27, 5);
            msg.remove(40);
            let len = msg.len();
            msg[24..28].copy_from_slice(&(len as u32).to_be_bytes());
            msg[30..32].copy_from_slice(&((len - 28) as u16).to_be_bytes());
            assert_eq!(r.decrypt_message(&msg, 28), Err(SkError::BadLength));
        }
    }
}

#[test]
fn we_pad_minimally_with_zeros() {
    let (encr, integ) = (
        EncrAlgorithm::AesCbc { key_bits: 256 },
        Some(IntegAlgorithm::HmacSha512_256),
    );
    let mut rng = rng(7);
    let (mut i, _) = pair(encr, integ, &mut rng);
    for len in 0..64usize {
        let expect_ct = (len + 1).div_ceil(16) * 16;
        assert_eq!(i.sk_payload_len(len), 4 + 16 + expect_ct + 32);
        let msg = i
            .encrypt_message(&header(), FIRST_INNER, &vec![1; len], &mut rng)
            .expect("encrypt");
        assert_eq!(msg.len(), 28 + 4 + 16 + expect_ct + 32);
    }
    let (mut g, _) = pair(EncrAlgorithm::ChaCha20Poly1305, None, &mut rng);
    for len in 0..40usize {
        assert_eq!(g.sk_payload_len(len), 4 + 8 + len + 1 + 16);
        assert_eq!(g.overhead(len), 28 + 4 + 8 + 1 + 16);
        let msg = g
            .encrypt_message(&header(), FIRST_INNER, &vec![1; len], &mut rng)
            .expect("encrypt");
        assert_eq!(msg.len(), g.message_len(0, len));
    }
}

#[test]
fn length_fields_are_checked_before_crypto() {
    let mut rng = rng(8);
    let (mut i, r) = pair(EncrAlgorithm::ChaCha20Poly1305, None, &mut rng);
    let msg = i
        .encrypt_message(&header(), FIRST_INNER, b"hello", &mut rng)
        .expect("encrypt");
    // Trailing octet after the SK payload.
    let mut longer = msg.clone();
    longer.push(0);
    assert_eq!(r.decrypt_message(&longer, 28), Err(SkError::BadLength));
    // Offset inside the IKE header or past the end.
    assert_eq!(r.decrypt_message(&msg, 27), Err(SkError::BadLength));
    assert_eq!(r.decrypt_message(&msg, msg.len()), Err(SkError::Truncated));
    assert_eq!(r.decrypt_message(&msg, usize::MAX), Err(SkError::Truncated));
    for off in [usize::MAX, usize::MAX - 3, usize::MAX - 5, usize::MAX - 8] {
        assert!(r.decrypt_message(&msg, off).is_err());
        assert!(r.decrypt_fragment(&msg, off).is_err());
    }
    assert_eq!(r.decrypt_message(&msg[..20], 28), Err(SkError::Truncated));
}

#[test]
fn too_large_is_refused() {
    let mut rng = rng(9);
    let (mut i, _) = pair(EncrAlgorithm::ChaCha20Poly1305, None, &mut rng);
    let big = vec![0u8; 70_000];
    assert_eq!(
        i.encrypt_message(&header(), FIRST_INNER, &big, &mut rng),
        Err(SkError::TooLarge)
    );
    // The largest SK payload that fits the 16-bit length field works.
    let max_inner = 0xffff - (4 + 8 + 1 + 16);
    let msg = i
        .encrypt_message(&header(), FIRST_INNER, &vec![0u8; max_inner], &mut rng)
        .expect("largest");
    assert_eq!(msg.len(), 28 + 0xffff);
    assert_eq!(
        i.encrypt_message(&header(), FIRST_INNER, &vec![0u8; max_inner + 1], &mut rng),
        Err(SkError::TooLarge)
    );
}

/// Clear payloads before SK: covered by the AAD/ICV, chained by their next-payload
/// fields, and the output can start after caller headroom.
#[test]
fn unprotected_payloads_before_sk() {
    // Two vendor ID payloads: (next = VID, len 8) and (next = patched, len 6).
    let clear = [43, 0, 0, 8, 1, 2, 3, 4, 0, 0, 0, 6, 5, 6];
    for (n, (encr, integ)) in all_suites().into_iter().enumerate() {
        let mut rng = rng(300 + n as u64);
        let (mut i, r) = pair(encr, integ, &mut rng);
        let mut out = vec![0u8; 4]; // e.g. the non-ESP marker
        let range = i
            .encrypt_message_into(
                &mut out,
                &header(),
                Some(Unprotected {
                    first: PayloadType::VENDOR_ID,
                    payloads: &clear,
                }),
                FIRST_INNER,
                b"inner payloads",
                &mut rng,
            )
            .expect("encrypt");
        assert_eq!(range, 4..out.len());
        assert_eq!(&out[..4], &[0; 4]);
        let msg = &out[range];
        assert_eq!(msg.len(), i.message_len(clear.len(), 14));
        assert_eq!(msg[16], 43);
        assert_eq!(msg[28 + 8], 46, "last clear payload chains to SK");
        assert_eq!(find_encrypted_payload(msg), Ok((PayloadType::SK, 28 + 14)));
        match r.open(msg).expect("open") {
            Opened::Message(p) => assert_eq!(p.payloads, b"inner payloads"),
            other => panic!("{other:?}"),
        }
        let mut tampered = msg.to_vec();
        tampered[28 + 5] ^= 0x10;
        assert_eq!(
            r.decrypt_message(&tampered, 28 + 14),
            Err(SkError::IntegrityCheckFailed)
        );
    }

    let mut rng = rng(1);
    let (mut i, _) = pair(EncrAlgorithm::ChaCha20Poly1305, None, &mut rng);
    let mut out = vec![9u8; 3];
    for bad in [&[0u8, 0, 0, 3][..], &[0, 0, 0, 8, 1], &[0, 0], &[]] {
        let err = i
            .encrypt_message_into(
                &mut out,
                &header(),
                Some(Unprotected {
                    first: PayloadType::VENDOR_ID,
                    payloads: bad,
                }),
                FIRST_INNER,
                b"x",
                &mut rng,
            )
            .expect_err("bad chain");
        assert_eq!(err, SkError::BadUnprotectedPayloads);
        assert_eq!(out, [9, 9, 9], "output untouched on error");
    }
}

#[test]
fn find_encrypted_payload_walks_the_chain() {
    let mut msg = header().to_vec();
    msg[16] = 0;
    assert_eq!(
        find_encrypted_payload(&msg),
        Err(SkError::NoEncryptedPayload)
    );
    msg[16] = 40; // Nonce, then nothing
    msg.extend_from_slice(&[0, 0, 0, 4]);
    assert_eq!(
        find_encrypted_payload(&msg),
        Err(SkError::NoEncryptedPayload)
    );
    msg[28] = 53;
    assert_eq!(find_encrypted_payload(&msg), Err(SkError::Truncated));
    msg.extend_from_slice(&[0, 0, 0, 8]);
    assert_eq!(find_encrypted_payload(&msg), Ok((PayloadType::SKF, 32)));
    msg[31] = 2; // length below the generic header
    assert_eq!(find_encrypted_payload(&msg), Err(SkError::BadLength));
    msg[31] = 40; // runs past the end
    assert_eq!(find_encrypted_payload(&msg), Err(SkError::Truncated));
    assert_eq!(find_encrypted_payload(&msg[..10]), Err(SkError::Truncated));
}

#[test]
fn keys_are_checked_and_debug_is_redacted() {
    let err = SkProtector::initiator(
        EncrAlgorithm::AesGcm {
            key_bits: 128,
            icv_len: 16,
        },
        None,
        &[1; 16],
        &[],
        &[1; 20],
        &[],
    )
    .expect_err("salt missing");
    assert_eq!(
        err,
        ikev2::crypto::cipher::CryptoError::BadKeyLength {
            expected: 20,
            actual: 16
        }
    );
    let mut rng = rng(10);
    let key: Vec<u8> = (0..36).map(|_| (rng.next_u32() as u8) | 0x80).collect();
    let p = SkProtector::initiator(EncrAlgorithm::ChaCha20Poly1305, None, &key, &[], &key, &[])
        .expect("keys");
    let shown = format!("{p:?}");
    assert!(shown.contains("ChaCha20Poly1305"), "{shown}");
    assert!(
        !shown.contains(&format!("{}, {}", key[0], key[1])),
        "{shown}"
    );
    assert!(!shown.contains(&hex::encode(&key[..4])), "{shown}");
}

#[test]
fn message_budget() {
    assert_eq!(ike_message_budget(1500, false, false), 1472);
    assert_eq!(ike_message_budget(1280, true, true), 1228);
    assert_eq!(ike_message_budget(576, false, true), 544);
    assert_eq!(ike_message_budget(10, true, true), 0);
}
