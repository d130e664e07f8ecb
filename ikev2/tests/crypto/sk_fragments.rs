//! SKF fragments (RFC 7383): splitting, sizes, numbering, per-fragment verification,
//! tampering with the fragment fields, and reassembly limits.

use crate::sk_util;

use ikev2::crypto::algorithms::{EncrAlgorithm, IntegAlgorithm};
use ikev2::crypto::sk::{
    Fragment, FragmentAssembler, FragmentLimits, Opened, Reassembly, ReassemblyError, SkError,
    SkPlaintext,
};
use ikev2::wire::PayloadType;
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use rand_chacha::rand_core::RngCore;
use sk_util::{FIRST_INNER, all_suites, header, pair, rng};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        rng_seed: RngSeed::Fixed(0x5eed_0002),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(200))]

    /// Fragment, decrypt each, concatenate: the original inner payloads. Every
    /// fragment fits, is packed to within one cipher block of the limit (except the
    /// last), is numbered 1..=total, and only fragment 1 names the first inner payload.
    #[test]
    fn fragments_round_trip(
        suite in proptest::sample::select(all_suites()),
        inner in proptest::collection::vec(any::<u8>(), 0..4000),
        max in 60usize..1500,
        seed in any::<u64>(),
    ) {
        let mut rng = rng(seed);
        let (mut i, r) = pair(suite.0, suite.1, &mut rng);
        let block = suite.0.block_len();
        let frags = match i.encrypt_fragments(&header(), FIRST_INNER, &inner, max, &mut rng) {
            Ok(f) => f,
            Err(SkError::LimitTooSmall { min, max: m }) => {
                prop_assert_eq!(m, max);
                prop_assert!(max < min);
                // One octet more than the minimum always works.
                prop_assert!(i.fragment_capacity(min).is_ok());
                prop_assert_eq!(i.fragment_capacity(min - 1).err(), Some(SkError::LimitTooSmall { min, max: min - 1 }));
                return Ok(());
            }
            Err(e) => return Err(TestCaseError::fail(format!("{e:?}"))),
        };
        let total = frags.len();
        prop_assert_eq!(Ok(total), i.fragment_count(inner.len(), max));
        let mut joined = Vec::new();
        for (k, f) in frags.iter().enumerate() {
            prop_assert!(f.len() <= max, "fragment {} is {} > {}", k + 1, f.len(), max);
            if k + 1 < total {
                prop_assert!(max - f.len() < block, "fragment {} is {} of {}", k + 1, f.len(), max);
            }
            prop_assert_eq!(&f[..16], &header()[..16]);
            prop_assert_eq!(f[16], 53, "IKE header next payload = SKF");
            prop_assert_eq!(&f[24..28], &(f.len() as u32).to_be_bytes()[..]);
            let frag = r.decrypt_fragment(f, 28).expect("decrypt");
            prop_assert_eq!(usize::from(frag.number), k + 1);
            prop_assert_eq!(usize::from(frag.total), total);
            let expect_next = if k == 0 { FIRST_INNER } else { PayloadType::NO_NEXT_PAYLOAD };
            prop_assert_eq!(frag.next_payload, expect_next);
            prop_assert_eq!(r.open(f).expect("open"), Opened::Fragment(frag.clone()));
            joined.extend_from_slice(&frag.payloads);
        }
        prop_assert_eq!(joined, inner);
    }

    /// The assembler gives the message back whatever the arrival order, with duplicates.
    #[test]
    fn assembler_any_order(
        suite in proptest::sample::select(all_suites()),
        inner in proptest::collection::vec(any::<u8>(), 1..3000),
        seed in any::<u64>(),
    ) {
        let mut rng = rng(seed);
        let (mut i, r) = pair(suite.0, suite.1, &mut rng);
        let frags = i.encrypt_fragments(&header(), FIRST_INNER, &inner, 400, &mut rng).expect("fragment");
        let mut order: Vec<usize> = (0..frags.len()).collect();
        // Fisher-Yates with the seeded RNG, then a duplicate of the first one at the end.
        for k in (1..order.len()).rev() {
            let j = (rng.next_u64() % (k as u64 + 1)) as usize;
            order.swap(k, j);
        }
        let mut asm = FragmentAssembler::new(FragmentLimits::default());
        let mut done = None;
        for (n, &k) in order.iter().enumerate() {
            let frag = r.decrypt_fragment(&frags[k], 28).expect("decrypt");
            match asm.add(frag).expect("add") {
                Reassembly::Incomplete { received, total } => {
                    prop_assert_eq!(usize::from(received), n + 1);
                    prop_assert_eq!(usize::from(total), frags.len());
                    let again = r.decrypt_fragment(&frags[k], 28).expect("decrypt");
                    prop_assert_eq!(asm.add(again).expect("dup"), Reassembly::Duplicate);
                }
                Reassembly::Complete(p) => done = Some(p),
                other => return Err(TestCaseError::fail(format!("{other:?}"))),
            }
        }
        prop_assert_eq!(done, Some(SkPlaintext { next_payload: FIRST_INNER, payloads: inner }));
        prop_assert!(asm.is_empty());
    }
}

/// The fragment number and total are covered by the ICV/tag; so is every other bit.
#[test]
fn fragment_fields_are_authenticated() {
    let inner: Vec<u8> = (0..=255u8).cycle().take(900).collect();
    for (n, (encr, integ)) in all_suites().into_iter().enumerate() {
        let mut rng = rng(n as u64);
        let (mut i, r) = pair(encr, integ, &mut rng);
        let frags = i
            .encrypt_fragments(&header(), FIRST_INNER, &inner, 300, &mut rng)
            .expect("fragment");
        assert!(frags.len() >= 3, "{encr:?}");
        let total = frags.len() as u16;

        // Fragment 1 relabelled as fragment 2.
        let mut f = frags[0].clone();
        f[32..34].copy_from_slice(&2u16.to_be_bytes());
        assert_eq!(
            r.decrypt_fragment(&f, 28),
            Err(SkError::IntegrityCheckFailed)
        );
        // Total raised by one.
        let mut f = frags[1].clone();
        f[34..36].copy_from_slice(&(total + 1).to_be_bytes());
        assert_eq!(
            r.decrypt_fragment(&f, 28),
            Err(SkError::IntegrityCheckFailed)
        );
        // Invalid numbers are refused before any crypto.
        for (num, tot) in [(0u16, total), (total + 1, total), (1, 0)] {
            let mut f = frags[0].clone();
            f[32..34].copy_from_slice(&num.to_be_bytes());
            f[34..36].copy_from_slice(&tot.to_be_bytes());
            assert_eq!(r.decrypt_fragment(&f, 28), Err(SkError::BadFragmentNumber));
        }
        // Every single bit of the last fragment.
        let last = frags.last().expect("fragments");
        let mut f = last.clone();
        for byte in 0..f.len() {
            for bit in 0..8 {
                f[byte] ^= 1 << bit;
                assert!(
                    r.decrypt_fragment(&f, 28).is_err(),
                    "{encr:?}/{integ:?} byte {byte} bit {bit}"
                );
                f[byte] ^= 1 << bit;
            }
        }
        // A fragment is not an SK message and vice versa.
        assert!(r.decrypt_message(&frags[0], 28).is_err());
        // Truncations never panic.
        for len in 0..last.len() {
            assert!(r.decrypt_fragment(&last[..len], 28).is_err());
        }
    }
}

#[test]
fn fragment_size_limits() {
    let mut rng = rng(1);
    let (mut g, _) = pair(EncrAlgorithm::ChaCha20Poly1305, None, &mut rng);
    // 28 + 8 + 8 (IV) + 16 (tag) = 60 fixed, plus one payload octet and the pad length.
    assert_eq!(
        g.fragment_capacity(61),
        Err(SkError::LimitTooSmall { min: 62, max: 61 })
    );
    assert_eq!(g.fragment_capacity(62), Ok(1));
    assert_eq!(g.fragment_capacity(1000), Ok(1000 - 61));
    // The 16-bit SKF length caps a fragment however large the limit.
    assert_eq!(g.fragment_capacity(1 << 20), Ok(0xffff - 8 - 8 - 16 - 1));
    // 65535 one-octet fragments are the most there can be.
    assert_eq!(g.fragment_count(65_535, 62), Ok(65_535));
    assert_eq!(g.fragment_count(65_536, 62), Err(SkError::TooManyFragments));
    assert_eq!(
        g.encrypt_fragments(&header(), FIRST_INNER, &vec![0; 65_536], 62, &mut rng),
        Err(SkError::TooManyFragments)
    );
    // An empty message still makes one fragment.
    let frags = g
        .encrypt_fragments(&header(), FIRST_INNER, &[], 1000, &mut rng)
        .expect("empty");
    assert_eq!(frags.len(), 1);

    let (mut c, _) = pair(
        EncrAlgorithm::AesCbc { key_bits: 128 },
        Some(IntegAlgorithm::HmacSha256_128),
        &mut rng,
    );
    // 28 + 8 + 16 (IV) + 16 (ICV) = 68 fixed, plus one block.
    assert_eq!(
        c.fragment_capacity(83),
        Err(SkError::LimitTooSmall { min: 84, max: 83 })
    );
    assert_eq!(c.fragment_capacity(84), Ok(15));
    assert_eq!(c.fragment_capacity(99), Ok(15));
    assert_eq!(c.fragment_capacity(100), Ok(31));
    // IPv6 minimum MTU with NAT-T: 1228 octets of IKE message.
    let budget = ikev2::crypto::sk::ike_message_budget(1280, true, true);
    let frags = c
        .encrypt_fragments(&header(), FIRST_INNER, &[7u8; 5000], budget, &mut rng)
        .expect("fragment");
    assert!(frags.iter().all(|f| f.len() <= budget));
    assert_eq!(
        frags.len(),
        5000usize.div_ceil(c.fragment_capacity(budget).expect("fits"))
    );
}

fn frag(number: u16, total: u16, payloads: &[u8]) -> Fragment {
    Fragment {
        number,
        total,
        next_payload: if number == 1 {
            PayloadType::IDI
        } else {
            PayloadType::NO_NEXT_PAYLOAD
        },
        payloads: payloads.to_vec(),
    }
}

#[test]
fn assembler_rules() {
    let limits = FragmentLimits {
        max_fragments: 4,
        max_bytes: 10,
    };
    let mut a = FragmentAssembler::new(limits);
    assert!(a.is_empty());
    assert_eq!(
        a.add(frag(2, 3, b"bb")),
        Ok(Reassembly::Incomplete {
            received: 1,
            total: 3
        })
    );
    assert_eq!(a.add(frag(2, 3, b"bb")), Ok(Reassembly::Duplicate));
    // A smaller total is stale and ignored.
    assert_eq!(a.add(frag(1, 2, b"a")), Ok(Reassembly::Stale));
    // A larger total restarts the collection.
    assert_eq!(
        a.add(frag(4, 4, b"d")),
        Ok(Reassembly::Incomplete {
            received: 1,
            total: 4
        })
    );
    assert_eq!(
        a.add(frag(2, 4, b"b")),
        Ok(Reassembly::Incomplete {
            received: 2,
            total: 4
        })
    );
    assert_eq!(
        a.add(frag(1, 4, b"a")),
        Ok(Reassembly::Incomplete {
            received: 3,
            total: 4
        })
    );
    assert_eq!(
        a.add(frag(3, 4, b"c")),
        Ok(Reassembly::Complete(SkPlaintext {
            next_payload: PayloadType::IDI,
            payloads: b"abcd".to_vec()
        }))
    );
    assert!(a.is_empty());

    // Limits: too many fragments, too many bytes; both drop what was held.
    assert_eq!(
        a.add(frag(1, 5, b"a")),
        Err(ReassemblyError::TooManyFragments { total: 5, limit: 4 })
    );
    a.add(frag(1, 2, b"123456")).expect("fits");
    assert_eq!(
        a.add(frag(2, 2, b"78901")),
        Err(ReassemblyError::TooLarge { limit: 10 })
    );
    assert!(a.is_empty());
    assert_eq!(
        a.add(frag(0, 2, b"")),
        Err(ReassemblyError::BadFragmentNumber)
    );
    assert_eq!(
        a.add(frag(3, 2, b"")),
        Err(ReassemblyError::BadFragmentNumber)
    );
    // Reset drops everything.
    a.add(frag(1, 2, b"x")).expect("fits");
    a.reset();
    assert!(a.is_empty());
    // A single-fragment message completes at once.
    assert_eq!(
        a.add(frag(1, 1, b"only")),
        Ok(Reassembly::Complete(SkPlaintext {
            next_payload: PayloadType::IDI,
            payloads: b"only".to_vec()
        }))
    );
}
