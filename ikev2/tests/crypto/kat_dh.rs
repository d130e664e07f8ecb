//! Diffie-Hellman known answers (shared/vectors/dh), validation of peer public values,
//! agreement of both sides for every group, and redaction of private values.

use crate::vectors;

use ikev2::crypto::dh::{self, DhError, DhPrivate, InvalidPublicValue};
use ikev2::wire::DhGroup;
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::Value;

fn group_of(v: &Value) -> DhGroup {
    DhGroup(u16::try_from(vectors::u64_field(v, "group")).expect("group fits in u16"))
}

fn key(group: DhGroup, private: &[u8]) -> DhPrivate {
    DhPrivate::from_bytes(group, private).expect("vector private value is valid")
}

fn shared(key: &DhPrivate, peer: &[u8]) -> Vec<u8> {
    key.shared_secret(peer)
        .expect("vector public value is valid")
        .expose()
        .to_vec()
}

/// A constructed KE payload: generic header, DH group, reserved, key exchange data.
fn check_ke_payload(v: &Value, field: &str, group: DhGroup, public: &[u8]) {
    let ke = vectors::hex_field(v, field);
    let id = vectors::id(v);
    assert_eq!(ke.len(), 8 + public.len(), "{id}: {field} length");
    assert_eq!(
        usize::from(u16::from_be_bytes([ke[2], ke[3]])),
        ke.len(),
        "{id}: {field} payload length field"
    );
    assert_eq!(
        u16::from_be_bytes([ke[4], ke[5]]),
        group.0,
        "{id}: {field} group"
    );
    assert_eq!(&ke[6..8], &[0, 0], "{id}: {field} reserved");
    assert_eq!(&ke[8..], public, "{id}: {field} key exchange data");
}

/// The vector's key pair: both public values and g^ir computed from each side. Field
/// names differ per file: `(public_i, public_r, shared)`. Returns (g^i, g^r).
fn check_pair(v: &Value, group: DhGroup, fields: [&str; 3]) -> (Vec<u8>, Vec<u8>) {
    let id = vectors::id(v);
    let [gi_field, gr_field, shared_field] = fields;
    let i = key(group, &vectors::hex_field(v, "i"));
    let r = key(group, &vectors::hex_field(v, "r"));
    let gi = vectors::hex_field(v, gi_field);
    let gr = vectors::hex_field(v, gr_field);
    let expected = vectors::hex_field(v, shared_field);
    assert_eq!(i.public_value(), gi, "{id}: g^i");
    assert_eq!(r.public_value(), gr, "{id}: g^r");
    assert_eq!(shared(&i, &gr), expected, "{id}: (g^r)^i");
    assert_eq!(shared(&r, &gi), expected, "{id}: (g^i)^r");
    (gi, gr)
}

fn generated(group: DhGroup, seed: u64) -> DhPrivate {
    DhPrivate::generate(group, &mut ChaCha20Rng::seed_from_u64(seed)).expect("supported group")
}

#[test]
fn modp_known_answers() {
    let file = vectors::load("dh/modp_groups_14_15_16.json");
    let list = vectors::vectors(&file, "modp_groups_14_15_16", 3);
    let mut seen = Vec::new();
    for v in list {
        let id = vectors::id(v);
        let group = group_of(v);
        assert_eq!(vectors::u64_field(v, "generator"), 2, "{id}");
        let prime = dh::modp_prime(group).expect("a MODP group we implement");
        assert_eq!(
            prime.len() * 8,
            usize::try_from(vectors::u64_field(v, "prime_bits")).expect("small"),
            "{id}"
        );

        let (gi, _) = check_pair(v, group, ["gi", "gr", "shared"]);
        check_ke_payload(v, "ke_payload_i_constructed", group, &gi);
        seen.push(group);
    }
    assert_eq!(
        seen,
        [DhGroup::MODP_2048, DhGroup::MODP_3072, DhGroup::MODP_4096]
    );
}

/// Our primes (typed in from RFC 3526) against the vector file's (computed from the
/// RFC 3526 pi formula).
#[test]
fn modp_primes_match_rfc_3526() {
    let file = vectors::load("dh/modp_groups_14_15_16.json");
    let primes = file["primes_hex"].as_object().expect("primes_hex object");
    assert_eq!(primes.len(), 3);
    for (name, hex) in primes {
        let group = DhGroup(name.parse().expect("group number"));
        let expected = hex::decode(hex.as_str().expect("hex string")).expect("hex");
        assert_eq!(dh::modp_prime(group), Some(expected), "group {name}");
        assert_eq!(
            dh::public_value_len(group),
            Some(hex.as_str().map_or(0, str::len) / 2)
        );
    }
}

#[test]
fn ecp_known_answers() {
    let file = vectors::load("dh/ecp_groups_19_20_21.json");
    let list = vectors::vectors(&file, "ecp_groups_19_20_21", 6);
    let mut per_group = [0; 3];
    for v in list {
        let id = vectors::id(v);
        let group = group_of(v);
        per_group[usize::from(group.0 - 19)] += 1;
        let (gi, gr) = check_pair(v, group, ["gi_xy", "gr_xy", "shared_girx"]);
        check_ke_payload(v, "ke_payload_i_constructed", group, &gi);
        check_ke_payload(v, "ke_payload_r_constructed", group, &gr);

        // A scalar given without its leading zero octets is the same scalar.
        let i_bytes = vectors::hex_field(v, "i");
        let stripped: Vec<u8> = i_bytes.iter().copied().skip_while(|&b| b == 0).collect();
        assert_eq!(
            key(group, &stripped).public_value(),
            gi,
            "{id}: short scalar"
        );
    }
    assert_eq!(per_group, [2, 2, 2], "vectors for groups 19, 20, 21");
}

#[test]
fn x25519_known_answers() {
    let file = vectors::load("dh/curve25519_group31.json");
    let list = vectors::vectors(&file, "curve25519_group31", 2);
    for v in list {
        let id = vectors::id(v);
        let group = group_of(v);
        assert_eq!(group, DhGroup::CURVE25519, "{id}");
        let (gi, _) = check_pair(v, group, ["gi", "gr", "shared"]);
        check_ke_payload(v, "ke_payload_i_constructed", group, &gi);
    }
}

fn invalid(group: DhGroup, reason: InvalidPublicValue) -> Result<(), DhError> {
    Err(DhError::InvalidPublicValue { group, reason })
}

/// `value` as a big-endian number of `len` octets.
fn be(value: &[u8], len: usize) -> Vec<u8> {
    let mut out = vec![0; len - value.len()];
    out.extend_from_slice(value);
    out
}

/// Big-endian `a + delta` (delta may be negative), same length; no overflow in our uses.
fn add(a: &[u8], delta: i32) -> Vec<u8> {
    let mut out = a.to_vec();
    let mut carry = i64::from(delta);
    for byte in out.iter_mut().rev() {
        let sum = i64::from(*byte) + carry;
        *byte = sum.rem_euclid(256) as u8;
        carry = sum.div_euclid(256);
        if carry == 0 {
            break;
        }
    }
    out
}

#[test]
fn modp_rejects_out_of_range_and_wrong_length_values() {
    for group in [DhGroup::MODP_2048, DhGroup::MODP_3072, DhGroup::MODP_4096] {
        let key = generated(group, 7);
        let p = dh::modp_prime(group).expect("MODP");
        let len = p.len();
        let range = |y: Vec<u8>| key.shared_secret(&y).map(|_| ());
        assert_eq!(
            range(be(&[], len)),
            invalid(group, InvalidPublicValue::OutOfRange),
            "0"
        );
        assert_eq!(
            range(be(&[1], len)),
            invalid(group, InvalidPublicValue::OutOfRange),
            "1"
        );
        assert_eq!(
            range(add(&p, -1)),
            invalid(group, InvalidPublicValue::OutOfRange),
            "p-1"
        );
        assert_eq!(
            range(p.clone()),
            invalid(group, InvalidPublicValue::OutOfRange),
            "p"
        );
        assert_eq!(
            range(add(&p, 1)),
            invalid(group, InvalidPublicValue::OutOfRange),
            "p+1"
        );
        assert_eq!(
            range(vec![0xff; len]),
            invalid(group, InvalidPublicValue::OutOfRange)
        );
        // The boundaries themselves are fine.
        assert!(key.shared_secret(&be(&[2], len)).is_ok(), "2");
        assert!(key.shared_secret(&add(&p, -2)).is_ok(), "p-2");
        for bad_len in [0, 1, len - 1, len + 1] {
            assert_eq!(
                key.shared_secret(&vec![2; bad_len]).map(|_| ()),
                invalid(
                    group,
                    InvalidPublicValue::Length {
                        expected: len,
                        actual: bad_len
                    }
                ),
                "length {bad_len}"
            );
        }
    }
}

#[test]
fn ecp_rejects_points_not_on_the_curve_and_wrong_lengths() {
    for (group, field, p_hex) in [
        (
            DhGroup::ECP_256,
            32,
            "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff",
        ),
        (
            DhGroup::ECP_384,
            48,
            "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe\
             ffffffff0000000000000000ffffffff",
        ),
        (
            DhGroup::ECP_521,
            66,
            "01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\
             ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\
             ffff",
        ),
    ] {
        let key = generated(group, 8);
        let peer = generated(group, 9);
        let good = peer.public_value().to_vec();
        assert_eq!(good.len(), 2 * field);
        assert!(key.shared_secret(&good).is_ok());
        let not_on_curve = invalid(group, InvalidPublicValue::NotOnCurve);
        let check = |v: &[u8]| key.shared_secret(v).map(|_| ());

        let mut off_curve = good.clone();
        *off_curve.last_mut().expect("non-empty") ^= 1;
        assert_eq!(check(&off_curve), not_on_curve, "y changed");
        let mut off_curve = good.clone();
        off_curve[field - 1] ^= 1;
        assert_eq!(check(&off_curve), not_on_curve, "x changed");
        // The identity has no affine encoding; (0, 0) is not on these curves.
        assert_eq!(check(&vec![0; 2 * field]), not_on_curve, "(0, 0)");
        assert_eq!(check(&vec![0xff; 2 * field]), not_on_curve, "all ones");
        // x = p (a coordinate that is not a reduced field element).
        let p = hex::decode(p_hex).expect("hex");
        assert_eq!(p.len(), field);
        let mut unreduced = p.clone();
        unreduced.extend_from_slice(&good[field..]);
        assert_eq!(check(&unreduced), not_on_curve, "x = p");
        for bad_len in [0, field, 2 * field - 1, 2 * field + 1] {
            assert_eq!(
                check(&vec![4; bad_len]),
                invalid(
                    group,
                    InvalidPublicValue::Length {
                        expected: 2 * field,
                        actual: bad_len
                    }
                ),
                "length {bad_len}"
            );
        }
        // SEC1 encodings are not KE data: uncompressed with 0x04, compressed with 0x02/03.
        let mut sec1 = vec![0x04];
        sec1.extend_from_slice(&good);
        assert!(matches!(
            check(&sec1),
            Err(DhError::InvalidPublicValue {
                reason: InvalidPublicValue::Length { .. },
                ..
            })
        ));
        let mut compressed = vec![0x02];
        compressed.extend_from_slice(&good[..field]);
        assert!(check(&compressed).is_err());
    }
}

#[test]
fn x25519_rejects_low_order_points_and_wrong_lengths() {
    let key = generated(DhGroup::CURVE25519, 10);
    // Points of order 1, 2, 4 and 8 and their non-canonical encodings (u >= p, high bit
    // set); each makes X25519 output all zeros for every clamped scalar.
    let low_order = [
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "0000000000000000000000000000000000000000000000000000000000000080",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    ];
    for point in low_order {
        assert_eq!(
            key.shared_secret(&hex::decode(point).expect("hex"))
                .map(|_| ()),
            invalid(DhGroup::CURVE25519, InvalidPublicValue::LowOrder),
            "{point}"
        );
    }
    for bad_len in [0, 31, 33, 64] {
        assert_eq!(
            key.shared_secret(&vec![9; bad_len]).map(|_| ()),
            invalid(
                DhGroup::CURVE25519,
                InvalidPublicValue::Length {
                    expected: 32,
                    actual: bad_len
                }
            )
        );
    }
}

#[test]
fn bad_private_values_are_refused() {
    let refused = |group: DhGroup, private: &[u8]| {
        matches!(
            DhPrivate::from_bytes(group, private),
            Err(DhError::InvalidPrivateValue { group: g, .. }) if g == group
        )
    };
    for group in [DhGroup::MODP_2048, DhGroup::MODP_3072, DhGroup::MODP_4096] {
        let len = dh::public_value_len(group).expect("MODP");
        assert!(refused(group, &[]), "{group}: empty");
        assert!(refused(group, &[0; 32]), "{group}: zero");
        assert!(refused(group, &vec![1; len + 1]), "{group}: too long");
        assert!(
            DhPrivate::from_bytes(group, &vec![1; len]).is_ok(),
            "{group}: full length"
        );
    }
    for (group, order_hex) in [
        (
            DhGroup::ECP_256,
            "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551",
        ),
        (
            DhGroup::ECP_384,
            "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf\
             581a0db248b0a77aecec196accc52973",
        ),
        (
            DhGroup::ECP_521,
            "01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\
             fffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e9138\
             6409",
        ),
    ] {
        let n = hex::decode(order_hex).expect("hex");
        assert!(refused(group, &[]), "{group}: empty");
        assert!(refused(group, &vec![0; n.len()]), "{group}: zero");
        assert!(refused(group, &n), "{group}: n");
        assert!(refused(group, &vec![0xff; n.len()]), "{group}: above n");
        assert!(refused(group, &vec![1; n.len() + 1]), "{group}: too long");
        assert!(
            DhPrivate::from_bytes(group, &add(&n, -1)).is_ok(),
            "{group}: n-1"
        );
    }
    assert!(refused(DhGroup::CURVE25519, &[1; 31]));
    assert!(refused(DhGroup::CURVE25519, &[1; 33]));
}

#[test]
fn errors_name_the_group_and_reason() {
    let key = generated(DhGroup::ECP_384, 11);
    let err = key.shared_secret(&[0; 3]).expect_err("too short");
    let text = err.to_string();
    assert!(text.contains("ECP_384") && text.contains("96"), "{text}");
}

#[test]
fn debug_never_shows_private_values() {
    let privates: [(DhGroup, Vec<u8>); 7] = [
        (DhGroup::MODP_2048, vec![0xa5; 48]),
        (DhGroup::MODP_3072, vec![0xa5; 48]),
        (DhGroup::MODP_4096, vec![0xa5; 64]),
        (DhGroup::ECP_256, vec![0x5a; 32]),
        (DhGroup::ECP_384, vec![0x5a; 48]),
        (DhGroup::ECP_521, [&[0x01][..], &[0x5a; 65]].concat()),
        (DhGroup::CURVE25519, vec![0xa5; 32]),
    ];
    for (group, private) in privates {
        let key = key(group, &private);
        let peer = generated(group, 12);
        let secret = key.shared_secret(peer.public_value()).expect("valid peer");
        for shown in [
            format!("{key:?}"),
            format!("{key:#?}"),
            format!("{secret:?}"),
        ] {
            for needle in [
                hex::encode(&private[..8]),
                hex::encode_upper(&private[..8]),
                format!("{:?}", &private[..4])
                    .trim_end_matches(']')
                    .to_string(),
                hex::encode(&secret.expose()[..8]),
                format!("{:?}", &secret.expose()[..4])
                    .trim_end_matches(']')
                    .to_string(),
            ] {
                assert!(!shown.contains(&needle), "{group}: {shown} shows {needle}");
            }
        }
        assert!(format!("{key:?}").contains(&group.to_string()));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    /// Both sides compute the same g^ir, of the group's length, for every group.
    #[test]
    fn both_sides_agree(seed in any::<u64>()) {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        for group in dh::SUPPORTED_GROUPS {
            let a = DhPrivate::generate(group, &mut rng).expect("supported");
            let b = DhPrivate::generate(group, &mut rng).expect("supported");
            prop_assert_ne!(a.public_value(), b.public_value());
            let ab = a.shared_secret(b.public_value()).expect("valid");
            let ba = b.shared_secret(a.public_value()).expect("valid");
            prop_assert_eq!(&ab, &ba, "{}", group);
            let len = match group {
                DhGroup::ECP_256 | DhGroup::ECP_384 | DhGroup::ECP_521 => {
                    a.public_value().len() / 2
                }
                _ => a.public_value().len(),
            };
            prop_assert_eq!(ab.len(), len);
        }
    }
}
