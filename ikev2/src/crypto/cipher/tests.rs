//! Unit tests of `crypto::cipher`, kept beside it so the module reads without them.

use super::*;

const GCM128_16: EncrAlgorithm = EncrAlgorithm::AesGcm {
    key_bits: 128,
    icv_len: 16,
};

#[test]
fn debug_shows_no_key() {
    let key = [0x5au8; 16];
    let c = IkeCipher::new(
        EncrAlgorithm::AesCbc { key_bits: 128 },
        Some(IntegAlgorithm::HmacSha256_128),
        &key,
        &[0xa5u8; 32],
    )
    .expect("valid keys");
    let shown = format!("{c:?}");
    assert!(!shown.to_lowercase().contains("5a5a"), "{shown}");
    assert!(!shown.to_lowercase().contains("a5a5"), "{shown}");
    assert!(!shown.contains("90, 90"), "{shown}");
    let a = AeadCipher::new(GCM128_16, &[0x5au8; 20]).expect("valid keys");
    assert!(!format!("{a:?}").contains("90"), "{a:?}");
}

/// An IKE SA holds two of these for its whole life; they keep keys, not expanded
/// key schedules (about 1 KiB each), which is most of the per-tunnel memory budget.
#[test]
fn ike_sa_ciphers_keep_only_keys() {
    assert!(size_of::<IkeCipher>() <= 96, "{}", size_of::<IkeCipher>());
    assert!(
        size_of::<crate::crypto::sk::SkProtector>() <= 256,
        "{}",
        size_of::<crate::crypto::sk::SkProtector>()
    );
}

#[test]
fn suite_mismatches_are_rejected() {
    assert_eq!(
        IkeCipher::new(EncrAlgorithm::AesCbc { key_bits: 128 }, None, &[0; 16], &[]).err(),
        Some(CryptoError::MissingIntegrity)
    );
    assert_eq!(
        IkeCipher::new(
            GCM128_16,
            Some(IntegAlgorithm::HmacSha256_128),
            &[0; 20],
            &[0; 32]
        )
        .err(),
        Some(CryptoError::UnexpectedIntegrity)
    );
    assert_eq!(
        IkeCipher::new(GCM128_16, None, &[0; 16], &[]).err(),
        Some(CryptoError::BadKeyLength {
            expected: 20,
            actual: 16
        })
    );
    assert_eq!(
        IkeCipher::new(
            EncrAlgorithm::AesCbc { key_bits: 256 },
            Some(IntegAlgorithm::HmacSha256_128),
            &[0; 32],
            &[0; 31]
        )
        .err(),
        Some(CryptoError::BadKeyLength {
            expected: 32,
            actual: 31
        })
    );
    assert_eq!(
        IkeCipher::new(
            EncrAlgorithm::AesGcm {
                key_bits: 128,
                icv_len: 10
            },
            None,
            &[0; 20],
            &[]
        )
        .err(),
        Some(CryptoError::Unsupported)
    );
}

#[test]
fn truncated_gcm_tags_are_prefixes_of_the_full_tag() {
    for key_bits in [128u16, 192, 256] {
        let keymat: Vec<u8> = (0..usize::from(key_bits / 8) + 4)
            .map(|i| i as u8)
            .collect();
        let mk = |icv_len| {
            AeadCipher::new(EncrAlgorithm::AesGcm { key_bits, icv_len }, &keymat)
                .expect("valid keys")
        };
        let iv = [7u8; 8];
        let aad = b"header";
        let pt = b"some inner payloads, not a block multiple";
        let mut tags = Vec::new();
        let mut cts = Vec::new();
        for icv in [16u8, 12, 8] {
            let c = mk(icv);
            let mut buf = pt.to_vec();
            let mut tag = vec![0u8; usize::from(icv)];
            c.seal_in_place(&iv, aad, &mut buf, &mut tag).expect("seal");
            cts.push(buf.clone());
            tags.push(tag.clone());
            // round trip, and a wrong tag is refused without touching the buffer
            let mut bad = tag.clone();
            bad[0] ^= 1;
            let before = buf.clone();
            assert_eq!(
                c.open_in_place(&iv, aad, &mut buf, &bad),
                Err(CryptoError::IntegrityCheckFailed)
            );
            assert_eq!(buf, before);
            c.open_in_place(&iv, aad, &mut buf, &tag).expect("open");
            assert_eq!(&buf[..], &pt[..]);
        }
        assert_eq!(cts[0], cts[1]);
        assert_eq!(cts[0], cts[2]);
        assert_eq!(tags[1][..], tags[0][..12]);
        assert_eq!(tags[2][..], tags[0][..8]);
    }
}

#[test]
fn integrity_rejects_wrong_icv_length() {
    let i = Integrity::new(IntegAlgorithm::HmacSha1_96, &[1; 20]).expect("key");
    let mut icv = [0u8; 12];
    i.compute(&[b"abc"], &mut icv).expect("compute");
    i.verify(&[b"a", b"bc"], &icv).expect("parts concatenate");
    assert_eq!(
        i.verify(&[b"abc"], &icv[..8]),
        Err(CryptoError::IntegrityCheckFailed)
    );
    assert_eq!(
        i.verify(&[b"abc"], &[]),
        Err(CryptoError::IntegrityCheckFailed)
    );
}
