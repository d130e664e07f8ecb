//! IKEv2 key derivation known answers (shared/vectors/ikev2_kdf): SKEYSEED, prf+, the
//! SK_* split, CHILD SA KEYMAT with and without PFS, rekey SKEYSEED, and PSK AUTH.

use crate::vectors;

use hmac::Mac;
use ikev2::crypto::algorithms::{EncrAlgorithm, EspSuite, IkeSuite, IntegAlgorithm, PrfAlgorithm};
use ikev2::crypto::keymat::{self, ChildKeys, IkeKeys};
use ikev2::crypto::prf::{Prf, PrfPlusTooLong};
use ikev2::crypto::secret::SecretBytes;
use ikev2::wire::DhGroup;
use serde_json::Value;

/// HMAC-SHA2-224, only to run NIST's SHA2-224 chain through the real derivation code:
/// IKEv2 has no SHA-224 PRF transform, so `PrfAlgorithm` does not offer it.
#[derive(Clone, Copy)]
struct HmacSha224;

impl Prf for HmacSha224 {
    fn output_len(&self) -> usize {
        28
    }

    fn compute_into(&self, key: &[u8], data: &[&[u8]], out: &mut Vec<u8>) {
        let mut mac = <hmac::Hmac<sha2::Sha224> as hmac::digest::KeyInit>::new_from_slice(key)
            .expect("HMAC takes any key length");
        for part in data {
            mac.update(part);
        }
        out.extend_from_slice(&mac.finalize().into_bytes());
    }
}

fn prf_named(name: &str) -> PrfAlgorithm {
    match name {
        "PRF_HMAC_SHA1" => PrfAlgorithm::HmacSha1,
        "PRF_HMAC_SHA2_256" => PrfAlgorithm::HmacSha256,
        "PRF_HMAC_SHA2_384" => PrfAlgorithm::HmacSha384,
        "PRF_HMAC_SHA2_512" => PrfAlgorithm::HmacSha512,
        other => panic!("unknown PRF {other} in a vector file"),
    }
}

fn secret(v: &Value, key: &str) -> SecretBytes {
    SecretBytes::new(vectors::hex_field(v, key))
}

/// One NIST ACVP chain: g^ir -> SKEYSEED -> DKM -> DKM(Child) -> DKM(Child, PFS) and
/// the rekey SKEYSEED.
fn check_nist_chain(prf: impl Prf + Copy, v: &Value) {
    let id = vectors::id(v);
    let ni = vectors::hex_field(v, "ni");
    let nr = vectors::hex_field(v, "nr");
    let spi_i = vectors::hex_field(v, "spii");
    let spi_r = vectors::hex_field(v, "spir");
    let g_ir = secret(v, "gir");
    let g_ir_new = secret(v, "gir_new");
    let dkm_len = usize::try_from(vectors::u64_field(v, "dkm_bytes")).expect("small");
    assert_eq!(
        vectors::u64_field(v, "dkm_bits"),
        8 * dkm_len as u64,
        "{id}"
    );

    let seed = keymat::skeyseed(prf, &ni, &nr, &g_ir);
    assert_eq!(
        seed.expose(),
        vectors::hex_field(v, "skeyseed"),
        "{id}: SKEYSEED"
    );

    let dkm = prf
        .prf_plus(seed.expose(), &[&ni, &nr, &spi_i, &spi_r], dkm_len)
        .expect("within 255 blocks");
    assert_eq!(dkm.expose(), vectors::hex_field(v, "dkm"), "{id}: DKM");

    let sk_d = SecretBytes::from_slice(&dkm.expose()[..prf.output_len()]);
    let child = keymat::child_keymat(prf, &sk_d, None, &ni, &nr, &[], dkm_len).expect("short");
    assert_eq!(
        child.expose(),
        vectors::hex_field(v, "dkm_child"),
        "{id}: DKM(Child)"
    );

    let child_pfs =
        keymat::child_keymat(prf, &sk_d, Some(&g_ir_new), &ni, &nr, &[], dkm_len).expect("short");
    assert_eq!(
        child_pfs.expose(),
        vectors::hex_field(v, "dkm_child_dh"),
        "{id}: DKM(Child, PFS)"
    );

    let rekeyed = keymat::rekey_skeyseed(prf, &sk_d, &g_ir_new, &ni, &nr, &[]);
    assert_eq!(
        rekeyed.expose(),
        vectors::hex_field(v, "skeyseed_rekey"),
        "{id}: SKEYSEED(rekey)"
    );
}

#[test]
fn nist_acvp_full_chains() {
    let file = vectors::load("ikev2_kdf/ikev2_kdf_nist_acvp.json");
    let list = vectors::vectors(&file, "ikev2_kdf_nist_acvp", 2);
    let mut hashes = Vec::new();
    for v in list {
        let hash = vectors::str_field(v, "hash");
        match hash {
            "SHA2-224" => check_nist_chain(HmacSha224, v),
            "SHA2-256" => check_nist_chain(PrfAlgorithm::HmacSha256, v),
            other => panic!("{}: unexpected hash {other}", vectors::id(v)),
        }
        hashes.push(hash);
    }
    assert_eq!(hashes, ["SHA2-224", "SHA2-256"]);
}

/// The NIST SHA2-256 DKM split into SK_* for two suites; checks `IkeKeys::derive` order
/// and sizes, AEAD without SK_a*, and AEAD salt in SK_e*.
#[test]
fn nist_sk_split_examples() {
    let file = vectors::load("ikev2_kdf/ikev2_kdf_nist_acvp.json");
    let examples = &file["derived_split_examples"];
    let from = vectors::str_field(examples, "from");
    let chain = vectors::vectors(&file, "ikev2_kdf_nist_acvp", 2)
        .iter()
        .find(|v| vectors::id(v) == from)
        .expect("the chain the splits come from");
    let splits = examples["splits"].as_array().expect("splits list");
    assert_eq!(splits.len(), 2);
    let ni = vectors::hex_field(chain, "ni");
    let nr = vectors::hex_field(chain, "nr");
    let spi_i: [u8; 8] = vectors::hex_field(chain, "spii")
        .try_into()
        .expect("8 octets");
    let spi_r: [u8; 8] = vectors::hex_field(chain, "spir")
        .try_into()
        .expect("8 octets");
    let g_ir = secret(chain, "gir");

    for split in splits {
        let transforms = vectors::str_field(split, "transforms");
        let (encr, integ) = match transforms {
            "PRF_HMAC_SHA2_256, ENCR_AES_CBC-256, AUTH_HMAC_SHA2_256_128" => (
                EncrAlgorithm::AesCbc { key_bits: 256 },
                Some(IntegAlgorithm::HmacSha256_128),
            ),
            "PRF_HMAC_SHA2_256, ENCR_AES_GCM_16-256 (no INTEG)" => (
                EncrAlgorithm::AesGcm {
                    key_bits: 256,
                    icv_len: 16,
                },
                None,
            ),
            other => panic!("unexpected transforms {other}"),
        };
        let suite = IkeSuite {
            encr,
            integ,
            prf: PrfAlgorithm::HmacSha256,
            dh: DhGroup::MODP_2048,
            addke: IkeSuite::NO_ADDKE,
        };
        let keys =
            IkeKeys::from_shared_secret(&suite, &g_ir, &ni, &nr, &spi_i, &spi_r).expect("short");
        let seed = keymat::skeyseed(suite.prf, &ni, &nr, &g_ir);
        let again = IkeKeys::derive(&suite, &seed, &ni, &nr, &spi_i, &spi_r).expect("short");
        assert_eq!(keys, again);

        let expected = &split["keys"];
        let lengths = &split["lengths"];
        for (name, got) in [
            ("SK_d", &keys.sk_d),
            ("SK_ai", &keys.sk_ai),
            ("SK_ar", &keys.sk_ar),
            ("SK_ei", &keys.sk_ei),
            ("SK_er", &keys.sk_er),
            ("SK_pi", &keys.sk_pi),
            ("SK_pr", &keys.sk_pr),
        ] {
            assert_eq!(
                got.expose(),
                vectors::hex_field(expected, name),
                "{transforms}: {name}"
            );
            assert_eq!(
                got.len() as u64,
                vectors::u64_field(lengths, name),
                "{transforms}: {name} length"
            );
        }
    }
}

/// CHILD SA keys are KEYMAT sliced encr_i | integ_i | encr_r | integ_r (RFC 7296
/// section 2.17), checked against the NIST SHA2-256 DKM(Child) with and without PFS.
#[test]
fn child_keys_split_nist_keymat() {
    let file = vectors::load("ikev2_kdf/ikev2_kdf_nist_acvp.json");
    let v = vectors::vectors(&file, "ikev2_kdf_nist_acvp", 2)
        .iter()
        .find(|v| vectors::str_field(v, "hash") == "SHA2-256")
        .expect("SHA2-256 chain");
    let ni = vectors::hex_field(v, "ni");
    let nr = vectors::hex_field(v, "nr");
    let sk_d = SecretBytes::from_slice(&vectors::hex_field(v, "dkm")[..32]);
    let g_ir_new = secret(v, "gir_new");
    let cbc = EspSuite {
        encr: EncrAlgorithm::AesCbc { key_bits: 256 },
        integ: Some(IntegAlgorithm::HmacSha512_256),
        dh: Some(DhGroup::MODP_2048),
        addke: EspSuite::NO_ADDKE,
        esn: true,
    };
    let gcm = EspSuite {
        encr: EncrAlgorithm::AesGcm {
            key_bits: 128,
            icv_len: 16,
        },
        integ: None,
        dh: None,
        addke: EspSuite::NO_ADDKE,
        esn: false,
    };
    for (pfs, field) in [(None, "dkm_child"), (Some(&g_ir_new), "dkm_child_dh")] {
        let keymat = vectors::hex_field(v, field);
        let keys = ChildKeys::derive(PrfAlgorithm::HmacSha256, &sk_d, &cbc, pfs, &ni, &nr, &[])
            .expect("short");
        assert_eq!(keys.encr_i.expose(), &keymat[0..32], "{field}: encr_i");
        assert_eq!(keys.integ_i.expose(), &keymat[32..96], "{field}: integ_i");
        assert_eq!(keys.encr_r.expose(), &keymat[96..128], "{field}: encr_r");
        assert_eq!(keys.integ_r.expose(), &keymat[128..192], "{field}: integ_r");

        let keys = ChildKeys::derive(PrfAlgorithm::HmacSha256, &sk_d, &gcm, pfs, &ni, &nr, &[])
            .expect("short");
        assert_eq!(
            keys.encr_i.expose(),
            &keymat[0..20],
            "{field}: GCM encr_i with salt"
        );
        assert_eq!(
            keys.encr_r.expose(),
            &keymat[20..40],
            "{field}: GCM encr_r with salt"
        );
        assert!(keys.integ_i.is_empty() && keys.integ_r.is_empty());
    }
}

#[test]
fn strongswan_skeyseed() {
    let file = vectors::load("ikev2_kdf/skeyseed_strongswan_cavp.json");
    let list = vectors::vectors(&file, "skeyseed_strongswan_cavp", 6);
    for v in list {
        let prf = prf_named(vectors::str_field(v, "prf"));
        // The file gives Ni | Nr as one field; the key is their concatenation either way.
        let ni_nr = vectors::hex_field(v, "ni_nr");
        let got = keymat::skeyseed(prf, &ni_nr, &[], &secret(v, "g_ir"));
        assert_eq!(
            got.expose(),
            vectors::hex_field(v, "skeyseed"),
            "{}",
            vectors::id(v)
        );
        let (ni, nr) = ni_nr.split_at(ni_nr.len() / 2);
        assert_eq!(keymat::skeyseed(prf, ni, nr, &secret(v, "g_ir")), got);
    }
}

#[test]
fn strongswan_prf_plus() {
    let file = vectors::load("ikev2_kdf/prf_plus_strongswan_cavp.json");
    let list = vectors::vectors(&file, "prf_plus_strongswan_cavp", 7);
    for v in list {
        let id = vectors::id(v);
        let prf = prf_named(vectors::str_field(v, "prf"));
        let len = usize::try_from(vectors::u64_field(v, "output_len")).expect("small");
        let expected = vectors::hex_field(v, "output");
        assert_eq!(expected.len(), len, "{id}");
        let got = prf
            .prf_plus(
                &vectors::hex_field(v, "key"),
                &[&vectors::hex_field(v, "seed")],
                len,
            )
            .expect("short");
        assert_eq!(got.expose(), expected, "{id}");
    }
}

/// strongSwan's SKEYSEED and prf+ vectors pair up into g^ir -> SKEYSEED -> SK_* chains.
#[test]
fn strongswan_skeyseed_feeds_prf_plus() {
    let skeyseeds = vectors::load("ikev2_kdf/skeyseed_strongswan_cavp.json");
    let prf_plus = vectors::load("ikev2_kdf/prf_plus_strongswan_cavp.json");
    let prf_plus = vectors::vectors(&prf_plus, "prf_plus_strongswan_cavp", 7);
    let mut pairs = 0;
    for s in vectors::vectors(&skeyseeds, "skeyseed_strongswan_cavp", 6) {
        let id = vectors::id(s).replace("strongswan/prf_", "strongswan/prf_plus_");
        let p = prf_plus
            .iter()
            .find(|p| vectors::id(p) == id)
            .unwrap_or_else(|| panic!("no prf+ vector {id}"));
        let prf = prf_named(vectors::str_field(s, "prf"));
        let ni_nr = vectors::hex_field(s, "ni_nr");
        let seed = vectors::hex_field(p, "seed");
        assert!(
            seed.starts_with(&ni_nr),
            "{id}: seed is Ni | Nr | SPIi | SPIr"
        );
        assert_eq!(seed.len(), ni_nr.len() + 16, "{id}: two 8-octet SPIs");
        let skeyseed = keymat::skeyseed(prf, &ni_nr, &[], &secret(s, "g_ir"));
        let len = usize::try_from(vectors::u64_field(p, "output_len")).expect("small");
        let out = prf
            .prf_plus(skeyseed.expose(), &[&ni_nr, &seed[ni_nr.len()..]], len)
            .expect("short");
        assert_eq!(out.expose(), vectors::hex_field(p, "output"), "{id}");
        pairs += 1;
    }
    assert_eq!(pairs, 6);
}

/// AUTH for PSK (RFC 7296 section 2.15). No published IKEv2 PSK vector exists; the
/// expected values were computed independently with Python 3 `hmac`/`hashlib`:
/// `H(H(psk, b"Key Pad for IKEv2"), msg + nonce + H(sk_p, id_body))`.
#[test]
fn psk_auth_known_answers() {
    let psk = SecretBytes::from_slice(b"correct horse battery staple");
    let message1: Vec<u8> = (0..200).collect();
    let message2: Vec<u8> = (200..=255).chain(0..100).collect();
    let ni = [0x11; 32];
    let nr = [0x22; 32];
    let sk_pi = SecretBytes::from_slice(&[0x33; 32]);
    let sk_pr = SecretBytes::from_slice(&[0x44; 32]);
    // ID_FQDN "initiator.example" and ID_IPV4_ADDR 192.0.2.1, after the generic header.
    let idi_body = [&[2, 0, 0, 0][..], b"initiator.example"].concat();
    let idr_body = [1, 0, 0, 0, 192, 0, 2, 1];
    let sha256 = PrfAlgorithm::HmacSha256;

    let octets_i = keymat::signed_octets(sha256, &message1, &nr, &sk_pi, &idi_body);
    assert_eq!(&octets_i[..200], &message1[..]);
    assert_eq!(&octets_i[200..232], &nr);
    assert_eq!(
        hex::encode(&octets_i[232..]),
        "c9da7ba0d068c78bdcaefb95eb88a64bdb2bc854e1c1a7a6ab90e331ce8eb79f"
    );
    let auth_i = keymat::psk_auth(sha256, &psk, &octets_i);
    assert_eq!(
        hex::encode(&auth_i),
        "81d70dfacbcf058f44fb772777912b0688e291d0c9d06d42d4162f3ac48c3622"
    );

    let octets_r = keymat::signed_octets(sha256, &message2, &ni, &sk_pr, &idr_body);
    assert_eq!(
        hex::encode(&octets_r[message2.len() + 32..]),
        "109e1fcfb5976bafcb6e1f9ebd86f649226f6232b349fedd0a3142793015f984"
    );
    let auth_r = keymat::psk_auth(sha256, &psk, &octets_r);
    assert_eq!(
        hex::encode(&auth_r),
        "6e5264194e0e1e62eca3b363abe4050bcf3b4f2138011084b506ac7ce0bfaf9f"
    );

    let sha512 = PrfAlgorithm::HmacSha512;
    let octets_i512 = keymat::signed_octets(sha512, &message1, &nr, &sk_pi, &idi_body);
    assert_eq!(
        hex::encode(keymat::psk_auth(sha512, &psk, &octets_i512)),
        "1664b90c6b23c17eba09fff062ad50f43f4d75a83de58539b3947764d0382c0c\
         a378da0f68c7caafc5377e486fe013be6ba13fc5007316ce0863cf155f4d802c"
    );

    assert!(keymat::verify_psk_auth(sha256, &psk, &octets_i, &auth_i));
    assert!(keymat::verify_psk_auth(sha256, &psk, &octets_r, &auth_r));
    assert!(
        !keymat::verify_psk_auth(sha256, &psk, &octets_r, &auth_i),
        "other side"
    );
    let mut flipped = auth_i.clone();
    flipped[31] ^= 0x80;
    assert!(
        !keymat::verify_psk_auth(sha256, &psk, &octets_i, &flipped),
        "bit flip"
    );
    assert!(
        !keymat::verify_psk_auth(sha256, &psk, &octets_i, &auth_i[..16]),
        "truncated"
    );
    let wrong_psk = SecretBytes::from_slice(b"correct horse battery stapler");
    assert!(
        !keymat::verify_psk_auth(sha256, &wrong_psk, &octets_i, &auth_i),
        "wrong PSK"
    );
}

#[test]
fn prf_plus_refuses_more_than_255_blocks() {
    let sk_d = SecretBytes::from_slice(&[1; 20]);
    let sha1 = PrfAlgorithm::HmacSha1;
    assert_eq!(
        keymat::child_keymat(sha1, &sk_d, None, b"ni", b"nr", &[], 255 * 20 + 1).map(|k| k.len()),
        Err(PrfPlusTooLong {
            requested: 255 * 20 + 1,
            max: 255 * 20
        })
    );
    assert_eq!(
        keymat::child_keymat(sha1, &sk_d, None, b"ni", b"nr", &[], 255 * 20).map(|k| k.len()),
        Ok(255 * 20)
    );
}

#[test]
fn debug_of_key_sets_shows_no_key_bytes() {
    let suite = IkeSuite {
        encr: EncrAlgorithm::AesCbc { key_bits: 128 },
        integ: Some(IntegAlgorithm::HmacSha256_128),
        prf: PrfAlgorithm::HmacSha256,
        dh: DhGroup::ECP_256,
        addke: IkeSuite::NO_ADDKE,
    };
    let g_ir = SecretBytes::from_slice(&[9; 32]);
    let ike =
        IkeKeys::from_shared_secret(&suite, &g_ir, b"ni", b"nr", &[1; 8], &[2; 8]).expect("short");
    let esp = EspSuite {
        encr: suite.encr,
        integ: suite.integ,
        dh: None,
        addke: EspSuite::NO_ADDKE,
        esn: false,
    };
    let child =
        ChildKeys::derive(suite.prf, &ike.sk_d, &esp, None, b"ni", b"nr", &[]).expect("short");
    let shown = format!("{ike:?} {ike:#?} {child:?} {child:#?}");
    let keys = [
        &ike.sk_d,
        &ike.sk_ai,
        &ike.sk_ar,
        &ike.sk_ei,
        &ike.sk_er,
        &ike.sk_pi,
        &ike.sk_pr,
        &child.encr_i,
        &child.integ_i,
        &child.encr_r,
        &child.integ_r,
    ];
    for key in keys {
        let bytes = &key.expose()[..6];
        for needle in [
            hex::encode(bytes),
            hex::encode_upper(bytes),
            format!("{bytes:?}").trim_end_matches(']').to_string(),
        ] {
            assert!(!shown.contains(&needle), "{shown} shows {needle}");
        }
    }
    assert!(
        shown.contains("sk_d") && shown.contains("redacted"),
        "{shown}"
    );
}
