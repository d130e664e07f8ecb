//! Unit tests of `crypto::sk`, kept beside it so the module reads without them.

use super::*;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

fn chacha_pair() -> SkProtector {
    SkProtector::initiator(
        EncrAlgorithm::ChaCha20Poly1305,
        None,
        &[1; 36],
        &[],
        &[2; 36],
        &[],
    )
    .expect("keys")
}

#[test]
fn iv_counter_wraps_but_never_repeats() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let mut p = chacha_pair();
    let h = [0u8; IKE_HEADER_LEN];
    p.iv = Some(IvCounter {
        next: u64::MAX,
        used: u64::MAX - 2,
    });
    let a = p
        .encrypt_message(&h, PayloadType::NOTIFY, b"a", &mut rng)
        .expect("IV 2^64-1");
    assert_eq!(a[32..40], u64::MAX.to_be_bytes());
    let b = p
        .encrypt_message(&h, PayloadType::NOTIFY, b"b", &mut rng)
        .expect("IV 0 after wrapping");
    assert_eq!(b[32..40], 0u64.to_be_bytes());
    assert_eq!(
        p.encrypt_message(&h, PayloadType::NOTIFY, b"c", &mut rng),
        Err(SkError::IvExhausted)
    );
    assert_eq!(
        p.encrypt_fragments(&h, PayloadType::NOTIFY, b"c", 200, &mut rng),
        Err(SkError::IvExhausted)
    );
}

#[test]
fn cbc_does_not_touch_the_counter() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let mut p = SkProtector::initiator(
        EncrAlgorithm::AesCbc { key_bits: 128 },
        Some(IntegAlgorithm::HmacSha256_128),
        &[1; 16],
        &[2; 32],
        &[3; 16],
        &[4; 32],
    )
    .expect("keys");
    p.encrypt_message(&[0; IKE_HEADER_LEN], PayloadType::NOTIFY, b"x", &mut rng)
        .expect("encrypt");
    assert!(p.iv.is_none());
}
