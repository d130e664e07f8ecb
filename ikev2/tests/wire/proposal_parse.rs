//! strongSwan proposal strings: parsing, printing, aliases, errors, defaults, lints.
#![allow(clippy::unwrap_used)]

use ikev2::crypto::proposal::{Proposal, ProposalError, Severity, Transform, keywords};
use ikev2::wire::{ProtocolId, TransformType};
use proptest::prelude::*;

const ENCR: TransformType = TransformType::ENCR;
const INTEG: TransformType = TransformType::INTEG;
const PRF: TransformType = TransformType::PRF;
const DH: TransformType = TransformType::DH;
const ESN: TransformType = TransformType::ESN;

fn t(ty: TransformType, id: u16, key_length: Option<u16>) -> Transform {
    Transform::new(ty, id, key_length)
}

fn ike(s: &str) -> Proposal {
    Proposal::parse_ike(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn esp(s: &str) -> Proposal {
    Proposal::parse_esp(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn parse(protocol: ProtocolId, s: &str) -> Proposal {
    Proposal::parse(protocol, s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// (protocol, input, canonical keyword string, swanctl long form)
const EXAMPLES: &[(ProtocolId, &str, &str, &str)] = &[
    (
        ProtocolId::IKE,
        "aes256-sha256-modp2048",
        "aes256-sha256-modp2048",
        "AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048",
    ),
    (
        ProtocolId::IKE,
        "aes256gcm16-prfsha384-ecp384",
        "aes256gcm16-prfsha384-ecp384",
        "AES_GCM_16-256/PRF_HMAC_SHA2_384/ECP_384",
    ),
    (
        ProtocolId::IKE,
        "aes128gcm16-prfsha256-curve25519",
        "aes128gcm16-prfsha256-curve25519",
        "AES_GCM_16-128/PRF_HMAC_SHA2_256/CURVE_25519",
    ),
    (
        ProtocolId::IKE,
        "chacha20poly1305-prfsha256-x25519",
        "chacha20poly1305-prfsha256-curve25519",
        "CHACHA20_POLY1305/PRF_HMAC_SHA2_256/CURVE_25519",
    ),
    (
        ProtocolId::IKE,
        "aes256-sha512-modp4096",
        "aes256-sha512-modp4096",
        "AES_CBC-256/HMAC_SHA2_512_256/PRF_HMAC_SHA2_512/MODP_4096",
    ),
    (
        ProtocolId::IKE,
        "aes256-sha256-prfsha256-modp2048",
        "aes256-sha256-modp2048",
        "AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048",
    ),
    (
        ProtocolId::IKE,
        "aes128-sha256-prfsha384-modp3072",
        "aes128-sha256-prfsha384-modp3072",
        "AES_CBC-128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_384/MODP_3072",
    ),
    (
        ProtocolId::ESP,
        "aes256gcm16-modp2048",
        "aes256gcm16-modp2048",
        "AES_GCM_16-256/MODP_2048",
    ),
    (
        ProtocolId::ESP,
        "aes128-sha256-esn",
        "aes128-sha256-esn",
        "AES_CBC-128/HMAC_SHA2_256_128/ESN",
    ),
    (
        ProtocolId::ESP,
        "aes128-sha256-noesn",
        "aes128-sha256",
        "AES_CBC-128/HMAC_SHA2_256_128",
    ),
    (
        ProtocolId::ESP,
        "aes128-sha256-esn-noesn",
        "aes128-sha256-esn-noesn",
        "AES_CBC-128/HMAC_SHA2_256_128/ESN/NO_ESN",
    ),
    (
        ProtocolId::ESP,
        "aes256gcm16",
        "aes256gcm16",
        "AES_GCM_16-256",
    ),
    (
        ProtocolId::ESP,
        "aes128-aes256-sha256-sha1-modp2048-ecp256",
        "aes128-aes256-sha256-sha1-modp2048-ecp256",
        "AES_CBC-128/AES_CBC-256/HMAC_SHA2_256_128/HMAC_SHA1_96/MODP_2048/ECP_256",
    ),
    (
        ProtocolId::ESP,
        "aes128-sha256-modp3072-none",
        "aes128-sha256-modp3072-none",
        "AES_CBC-128/HMAC_SHA2_256_128/MODP_3072/KE_NONE",
    ),
];

#[test]
fn examples_print_canonically_and_round_trip() {
    for &(protocol, input, canonical, long) in EXAMPLES {
        let p = parse(protocol, input);
        assert_eq!(p.to_string(), canonical, "{input}");
        assert_eq!(p.describe(), long, "{input}");
        assert_eq!(parse(protocol, &p.to_string()), p, "{input}");
        assert_eq!(p.protocol, protocol);
        assert_eq!(p.number, 1);
        assert!(p.spi.is_empty());
    }
}

#[test]
fn example_transforms() {
    assert_eq!(
        ike("aes256-sha256-modp2048").transforms(),
        [
            t(ENCR, 12, Some(256)),
            t(INTEG, 12, None),
            t(PRF, 5, None),
            t(DH, 14, None)
        ]
    );
    assert_eq!(
        ike("aes256gcm16-prfsha384-ecp384").transforms(),
        [t(ENCR, 20, Some(256)), t(PRF, 6, None), t(DH, 20, None)]
    );
    assert_eq!(
        ike("chacha20poly1305-prfsha256-x25519").transforms(),
        [t(ENCR, 28, None), t(PRF, 5, None), t(DH, 31, None)]
    );
    // ESP: the DH group is the PFS group, ESN defaults to NO_ESN.
    assert_eq!(
        esp("aes256gcm16-modp2048").transforms(),
        [t(ENCR, 20, Some(256)), t(DH, 14, None), t(ESN, 0, None)]
    );
    assert_eq!(
        esp("aes256gcm16").transforms(),
        [t(ENCR, 20, Some(256)), t(ESN, 0, None)]
    );
    assert_eq!(
        esp("aes128-sha256-esn").transforms(),
        [t(ENCR, 12, Some(128)), t(INTEG, 12, None), t(ESN, 1, None)]
    );
    assert_eq!(
        esp("aes128-sha256-noesn").transforms(),
        [t(ENCR, 12, Some(128)), t(INTEG, 12, None), t(ESN, 0, None)]
    );
}

#[test]
fn several_transforms_per_type_keep_their_order() {
    let p = esp("aes128-aes256-sha256-sha1-modp2048-ecp256");
    assert_eq!(
        p.transforms(),
        [
            t(ENCR, 12, Some(128)),
            t(ENCR, 12, Some(256)),
            t(INTEG, 12, None),
            t(INTEG, 2, None),
            t(DH, 14, None),
            t(DH, 19, None),
            t(ESN, 0, None),
        ]
    );
    let p = esp("aes256-aes128-sha1-sha256-ecp256-modp2048");
    assert_eq!(p.to_string(), "aes256-aes128-sha1-sha256-ecp256-modp2048");
}

#[test]
fn order_between_types_does_not_matter() {
    // Example from strongSwan's proposal documentation.
    assert_eq!(
        ike("aes256gcm16-prfsha384-ecp384-aes192gcm16-prfsha256-modp3072"),
        ike("aes256gcm16-aes192gcm16-prfsha384-prfsha256-ecp384-modp3072")
    );
    assert_eq!(ike("modp2048-sha256-aes256"), ike("aes256-sha256-modp2048"));
}

#[test]
fn repeated_keywords_and_aliases_collapse() {
    assert_eq!(
        ike("aes128-aes-sha1-sha-modp2048"),
        ike("aes128-sha1-modp2048")
    );
    assert_eq!(
        ike("aes128-sha1-modp2048").to_string(),
        "aes128-sha1-modp2048"
    );
}

#[test]
fn every_alias() {
    let aliases: &[(&str, Transform)] = &[
        ("aes", t(ENCR, 12, Some(128))),
        ("aes128", t(ENCR, 12, Some(128))),
        ("aes192", t(ENCR, 12, Some(192))),
        ("aes256", t(ENCR, 12, Some(256))),
        ("aes128gcm8", t(ENCR, 18, Some(128))),
        ("aes128gcm64", t(ENCR, 18, Some(128))),
        ("aes128gcm12", t(ENCR, 19, Some(128))),
        ("aes128gcm96", t(ENCR, 19, Some(128))),
        ("aes128gcm16", t(ENCR, 20, Some(128))),
        ("aes128gcm128", t(ENCR, 20, Some(128))),
        ("aes128gcm", t(ENCR, 20, Some(128))),
        ("aes192gcm8", t(ENCR, 18, Some(192))),
        ("aes192gcm64", t(ENCR, 18, Some(192))),
        ("aes192gcm12", t(ENCR, 19, Some(192))),
        ("aes192gcm96", t(ENCR, 19, Some(192))),
        ("aes192gcm16", t(ENCR, 20, Some(192))),
        ("aes192gcm128", t(ENCR, 20, Some(192))),
        ("aes192gcm", t(ENCR, 20, Some(192))),
        ("aes256gcm8", t(ENCR, 18, Some(256))),
        ("aes256gcm64", t(ENCR, 18, Some(256))),
        ("aes256gcm12", t(ENCR, 19, Some(256))),
        ("aes256gcm96", t(ENCR, 19, Some(256))),
        ("aes256gcm16", t(ENCR, 20, Some(256))),
        ("aes256gcm128", t(ENCR, 20, Some(256))),
        ("aes256gcm", t(ENCR, 20, Some(256))),
        ("chacha20poly1305", t(ENCR, 28, None)),
        ("sha", t(INTEG, 2, None)),
        ("sha1", t(INTEG, 2, None)),
        ("sha256", t(INTEG, 12, None)),
        ("sha2_256", t(INTEG, 12, None)),
        ("sha384", t(INTEG, 13, None)),
        ("sha2_384", t(INTEG, 13, None)),
        ("sha512", t(INTEG, 14, None)),
        ("sha2_512", t(INTEG, 14, None)),
        ("prfsha1", t(PRF, 2, None)),
        ("prfsha256", t(PRF, 5, None)),
        ("prfsha384", t(PRF, 6, None)),
        ("prfsha512", t(PRF, 7, None)),
        ("modp2048", t(DH, 14, None)),
        ("modp3072", t(DH, 15, None)),
        ("modp4096", t(DH, 16, None)),
        ("ecp256", t(DH, 19, None)),
        ("ecp384", t(DH, 20, None)),
        ("ecp521", t(DH, 21, None)),
        ("curve25519", t(DH, 31, None)),
        ("x25519", t(DH, 31, None)),
        ("none", t(DH, 0, None)),
        ("modpnone", t(DH, 0, None)),
        ("esn", t(ESN, 1, None)),
        ("noesn", t(ESN, 0, None)),
        // known to strongSwan, not implemented by ikev2d
        ("3des", t(ENCR, 3, None)),
        ("des", t(ENCR, 2, None)),
        ("aes128ctr", t(ENCR, 13, Some(128))),
        ("aes256ccm16", t(ENCR, 16, Some(256))),
        ("camellia", t(ENCR, 23, Some(128))),
        ("md5", t(INTEG, 1, None)),
        ("aesxcbc", t(INTEG, 5, None)),
        ("prfmd5", t(PRF, 1, None)),
        ("modp1024", t(DH, 2, None)),
        ("modp1536", t(DH, 5, None)),
        ("ecp256bp", t(DH, 28, None)),
        ("curve448", t(DH, 32, None)),
        ("x448", t(DH, 32, None)),
        ("chacha20poly1305compat", t(ENCR, 28, Some(256))),
        ("ke1_mlkem768", t(TransformType::ADDKE1, 36, None)),
    ];
    for &(word, expected) in aliases {
        assert_eq!(Transform::from_keyword(word), Some(expected), "{word}");
    }
    // Whole proposals built from aliases equal their canonical spelling.
    assert_eq!(ike("aes-sha-modp2048"), ike("aes128-sha1-modp2048"));
    assert_eq!(
        ike("aes256-sha2_512-x25519"),
        ike("aes256-sha512-curve25519")
    );
    assert_eq!(
        ike("aes192gcm128-prfsha384-ecp521"),
        ike("aes192gcm16-prfsha384-ecp521")
    );
    assert_eq!(esp("aes256gcm96-modpnone"), esp("aes256gcm12-none"));
}

#[test]
fn every_strongswan_keyword_prints_a_keyword_for_the_same_transform() {
    let mut n = 0;
    for word in keywords() {
        let tr = Transform::from_keyword(word).unwrap();
        assert!(tr.has_keyword(), "{word}");
        let canonical = tr.to_string();
        assert_eq!(Transform::from_keyword(&canonical), Some(tr), "{word}");
        assert!(!tr.describe().starts_with("UNKNOWN"), "{word}");
        n += 1;
    }
    // strongSwan 6.0's proposal_keywords_static.txt has 153 entries.
    assert_eq!(n, 153);
}

#[test]
fn not_strongswan_keywords() {
    // strongSwan has no AES-GCM keyword without key size, and keywords are lowercase.
    for word in [
        "aesgcm16",
        "aesgcm",
        "AES256",
        "sha2",
        "dh14",
        "modp2048!",
        "ke0_modp2048",
    ] {
        assert_eq!(Transform::from_keyword(word), None, "{word}");
    }
}

#[test]
fn ike_prf_is_derived_from_each_integrity_algorithm() {
    let p = ike("aes128-sha256-sha1-sha384-modp2048");
    assert_eq!(
        p.transforms_of(PRF).copied().collect::<Vec<_>>(),
        [t(PRF, 5, None), t(PRF, 2, None), t(PRF, 6, None)]
    );
    assert_eq!(p.to_string(), "aes128-sha256-sha1-sha384-modp2048");
    // An explicit PRF replaces derivation.
    let p = ike("aes128-sha256-prfsha384-modp3072");
    assert_eq!(
        p.transforms_of(PRF).copied().collect::<Vec<_>>(),
        [t(PRF, 6, None)]
    );
}

#[test]
fn ike_aead_with_integrity_but_no_prf_derives_the_prf() {
    // strongSwan's test_create_from_string: "aes128gcm16-sha256-modp3072" gives
    // IKE:AES_GCM_16_128/PRF_HMAC_SHA2_256/MODP_3072.
    let p = ike("aes128gcm16-sha256-modp3072");
    assert_eq!(p, ike("aes128gcm16-prfsha256-modp3072"));
    assert_eq!(p.describe(), "AES_GCM_16-128/PRF_HMAC_SHA2_256/MODP_3072");
}

#[test]
fn ike_drops_none_but_keeps_other_groups() {
    assert_eq!(
        ike("aes128-sha256-modp3072-none"),
        ike("aes128-sha256-modp3072")
    );
}

fn err(protocol: ProtocolId, s: &str) -> ProposalError {
    match Proposal::parse(protocol, s) {
        Ok(p) => panic!("{s} parsed as {p}"),
        Err(e) => e,
    }
}

#[test]
fn unknown_keyword_names_keyword_and_position() {
    let e = err(ProtocolId::IKE, "aes128-aes257-sha256-modp2048");
    assert_eq!(
        e,
        ProposalError::UnknownKeyword {
            keyword: "aes257".into(),
            index: 2,
            input: "aes128-aes257-sha256-modp2048".into(),
            hint: Some("did you mean 'aes256'?".into()),
        }
    );
    assert_eq!(
        e.to_string(),
        "unknown algorithm keyword 'aes257' at position 2 in 'aes128-aes257-sha256-modp2048' \
         (did you mean 'aes256'?)"
    );
    assert_eq!(
        err(ProtocolId::ESP, "AES256GCM16").to_string(),
        "unknown algorithm keyword 'AES256GCM16' at position 1 in 'AES256GCM16' \
         (keywords are lowercase: did you mean 'aes256gcm16'?)"
    );
    assert_eq!(
        err(ProtocolId::ESP, "aes256-sha256-frobnicate").to_string(),
        "unknown algorithm keyword 'frobnicate' at position 3 in 'aes256-sha256-frobnicate'"
    );
    assert!(matches!(
        err(ProtocolId::IKE, "aesgcm16-prfsha256-ecp256"),
        ProposalError::UnknownKeyword { index: 1, hint: Some(h), .. } if h.contains("key size")
    ));
    assert!(matches!(
        err(ProtocolId::IKE, "aes256-sha256-modp4096!"),
        ProposalError::UnknownKeyword { index: 3, hint: Some(h), .. } if h.contains("strict")
    ));
}

#[test]
fn aead_with_integrity_is_an_error_in_esp() {
    let e = err(ProtocolId::ESP, "aes256gcm16-sha256-modp2048");
    assert_eq!(
        e,
        ProposalError::AeadWithIntegrity {
            protocol: ProtocolId::ESP,
            aead: "aes256gcm16".into(),
            integ: "sha256".into(),
        }
    );
    assert_eq!(
        e.to_string(),
        "integrity algorithm sha256 can't be combined with AEAD aes256gcm16 in an ESP \
         proposal: the AEAD protects integrity itself (strongSwan silently ignores sha256); \
         remove it"
    );
    // In IKE the integrity keyword is only meaningless when a PRF is given too.
    assert!(matches!(
        err(ProtocolId::IKE, "aes256gcm16-sha256-prfsha256-ecp256"),
        ProposalError::AeadWithIntegrity { .. }
    ));
}

#[test]
fn classic_cipher_without_integrity_is_an_error() {
    assert_eq!(
        err(ProtocolId::ESP, "aes128-modp2048"),
        ProposalError::MissingIntegrity {
            protocol: ProtocolId::ESP,
            encr: "aes128".into()
        }
    );
    assert_eq!(
        err(ProtocolId::ESP, "aes128").to_string(),
        "aes128 needs an integrity algorithm (e.g. sha256) in ESP proposals"
    );
    assert!(matches!(
        err(ProtocolId::IKE, "aes128-prfsha256-modp2048"),
        ProposalError::MissingIntegrity { .. }
    ));
}

#[test]
fn ike_needs_prf_and_dh() {
    // strongSwan: "aes128gcm16-modp3072" fails, "a PRF algorithm is mandatory".
    assert_eq!(
        err(ProtocolId::IKE, "aes128gcm16-modp3072"),
        ProposalError::MissingPrf { aead: true }
    );
    assert_eq!(
        err(ProtocolId::IKE, "aes128gcm16-modp3072").to_string(),
        "a PRF is mandatory in IKE proposals: with an AEAD add a PRF keyword, e.g. prfsha256"
    );
    // HMAC_SHA2_256_96 has no PRF to derive.
    assert_eq!(
        err(ProtocolId::IKE, "aes128-sha256_96-modp3072"),
        ProposalError::MissingPrf { aead: false }
    );
    assert_eq!(
        err(ProtocolId::IKE, "aes128-sha256"),
        ProposalError::MissingDh
    );
    assert_eq!(
        err(ProtocolId::IKE, "aes128-sha256-none"),
        ProposalError::MissingDh
    );
}

#[test]
fn other_errors() {
    assert!(matches!(
        err(ProtocolId::IKE, "aes128gcm16-aes128-sha256-modp3072"),
        ProposalError::MixedAead { .. }
    ));
    assert!(matches!(
        err(ProtocolId::ESP, "aes128-aes128gcm16-sha256"),
        ProposalError::MixedAead { aead, classic, .. } if aead == "aes128gcm16" && classic == "aes128"
    ));
    assert_eq!(
        err(ProtocolId::ESP, "sha256-modp2048"),
        ProposalError::MissingEncryption {
            protocol: ProtocolId::ESP
        }
    );
    assert_eq!(
        err(ProtocolId::ESP, "aes128-sha256-prfsha256"),
        ProposalError::PrfInEsp {
            prf: "prfsha256".into()
        }
    );
    assert_eq!(
        err(ProtocolId::IKE, "aes128-sha256-modp2048-esn"),
        ProposalError::EsnInIke { esn: "esn".into() }
    );
    assert_eq!(err(ProtocolId::IKE, "  "), ProposalError::Empty);
    assert_eq!(
        err(ProtocolId::IKE, "aes128--sha256-modp2048"),
        ProposalError::EmptyKeyword {
            index: 2,
            input: "aes128--sha256-modp2048".into()
        }
    );
    assert_eq!(
        err(ProtocolId::ESP, "default"),
        ProposalError::DefaultNotSingle
    );
    assert_eq!(
        err(ProtocolId::AH, "sha256"),
        ProposalError::UnsupportedProtocol(ProtocolId::AH)
    );
}

#[test]
fn from_str_needs_a_protocol_prefix() {
    let p: Proposal = "ike:aes256-sha256-modp2048".parse().unwrap();
    assert_eq!(p, ike("aes256-sha256-modp2048"));
    let p: Proposal = "ESP: aes256gcm16".parse().unwrap();
    assert_eq!(p, esp("aes256gcm16"));
    assert_eq!(format!("{p:#}"), "esp:aes256gcm16");
    assert_eq!(
        "aes256gcm16".parse::<Proposal>(),
        Err(ProposalError::MissingProtocol)
    );
    assert_eq!(
        "ah:sha256".parse::<Proposal>(),
        Err(ProposalError::MissingProtocol)
    );
}

#[test]
fn lists_are_numbered_and_expand_default() {
    let list = Proposal::parse_list(
        ProtocolId::IKE,
        "aes256gcm16-prfsha384-ecp384, default ,aes256-sha256-modp2048",
    )
    .unwrap();
    assert_eq!(list.len(), 4);
    assert_eq!(
        list.iter().map(|p| p.number).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(list[0].to_string(), "aes256gcm16-prfsha384-ecp384");
    assert_eq!(
        list[1],
        Proposal::defaults(ProtocolId::IKE)[0]
            .clone()
            .with_number(2)
    );
    assert_eq!(
        list[2],
        Proposal::defaults(ProtocolId::IKE)[1]
            .clone()
            .with_number(3)
    );

    let e = Proposal::parse_list(ProtocolId::ESP, "aes256gcm16, aes128-sha256-modp1024-foo")
        .unwrap_err();
    assert_eq!(e.index, 2);
    assert_eq!(e.proposal, "aes128-sha256-modp1024-foo");
    assert_eq!(
        e.to_string(),
        "proposal 2 'aes128-sha256-modp1024-foo': unknown algorithm keyword 'foo' at \
         position 4 in 'aes128-sha256-modp1024-foo'"
    );
    assert!(Proposal::parse_list(ProtocolId::ESP, "aes256gcm16,").is_err());
}

#[test]
fn default_expansions() {
    let groups = "ecp256-ecp384-ecp521-curve25519-modp3072-modp4096-modp2048";
    let ike: Vec<String> = Proposal::defaults(ProtocolId::IKE)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        ike,
        [
            format!("aes128-aes192-aes256-sha256-sha384-sha512-sha1-{groups}"),
            format!(
                "aes128gcm16-aes192gcm16-aes256gcm16-chacha20poly1305-aes128gcm12-\
                 aes192gcm12-aes256gcm12-aes128gcm8-aes192gcm8-aes256gcm8-prfsha256-\
                 prfsha384-prfsha512-prfsha1-{groups}"
            ),
        ]
    );
    let esp: Vec<String> = Proposal::defaults(ProtocolId::ESP)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        esp,
        [
            "aes128-aes192-aes256-sha256-sha384-sha512-sha1",
            "aes128gcm16-aes192gcm16-aes256gcm16"
        ]
    );
    let implicit: Vec<String> = Proposal::implicit_defaults(ProtocolId::ESP)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        implicit,
        [
            "aes128gcm16-aes192gcm16-aes256gcm16",
            "aes128-aes192-aes256-sha256-sha384-sha512-sha1"
        ]
    );
    for p in Proposal::defaults(ProtocolId::IKE)
        .iter()
        .chain(&Proposal::defaults(ProtocolId::ESP))
    {
        assert!(p.unsupported().is_empty(), "{p}");
        assert!(
            p.weaknesses()
                .iter()
                .all(|w| w.severity == Severity::Legacy),
            "{p}"
        );
    }
}

#[test]
fn unsupported_and_weak_transforms_are_reported() {
    let p = ike("3des-aes128-md5-sha256-modp1024-modp2048");
    assert_eq!(
        p.unsupported(),
        [
            t(ENCR, 3, None),
            t(INTEG, 1, None),
            t(PRF, 1, None),
            t(DH, 2, None)
        ]
    );
    let weak: Vec<(String, Severity)> = p
        .weaknesses()
        .iter()
        .map(|w| (w.transform.to_string(), w.severity))
        .collect();
    assert_eq!(
        weak,
        [
            ("3des".to_string(), Severity::Weak),
            ("md5".to_string(), Severity::Insecure),
            ("prfmd5".to_string(), Severity::Insecure),
            ("modp1024".to_string(), Severity::Insecure),
            ("modp2048".to_string(), Severity::Legacy),
        ]
    );
    assert_eq!(
        p.weaknesses()[1].to_string(),
        "md5 (HMAC_MD5_96): MD5 is broken"
    );
    assert!(ike("aes256gcm16-prfsha384-ecp384").weaknesses().is_empty());
    assert!(esp("aes256gcm16-modp3072-none").unsupported().is_empty());
    assert_eq!(
        esp("aes256gcm16-modp3072-none")
            .dh_groups()
            .collect::<Vec<_>>(),
        [ikev2::wire::DhGroup::MODP_3072, ikev2::wire::DhGroup::NONE]
    );
}

#[test]
fn transforms_without_keyword_print_their_numbers() {
    let p = Proposal::from_transforms(
        3,
        ProtocolId::IKE,
        [
            t(DH, 1234, None),
            t(ENCR, 12, Some(160)),
            t(TransformType(200), 7, None),
            t(PRF, 5, None),
            t(INTEG, 12, None),
        ],
    );
    // sorted by type: ENCR, INTEG, PRF, DH, unknown
    assert_eq!(p.to_string(), "encr#12_160-sha256-ke#1234-type200#7");
    assert_eq!(
        p.describe(),
        "AES_CBC-160/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/UNKNOWN_4_1234/UNKNOWN_200_7"
    );
    assert_eq!(p.number, 3);
}

/// Keyword pools for generated proposals: (keyword, is AEAD) for encryption.
const CLASSIC: &[&str] = &[
    "aes",
    "aes128",
    "aes192",
    "aes256",
    "3des",
    "aes256ctr",
    "camellia192",
    "blowfish",
];
const AEAD: &[&str] = &[
    "aes128gcm16",
    "aes256gcm8",
    "aes192gcm12",
    "aes256gcm",
    "aes128gcm64",
    "chacha20poly1305",
    "aes256ccm16",
    "camellia128ccm12",
];
const INTEGS: &[&str] = &[
    "sha", "sha1", "sha256", "sha2_256", "sha384", "sha512", "sha2_512", "md5", "aesxcbc",
];
const PRFS: &[&str] = &[
    "prfsha1",
    "prfsha256",
    "prfsha384",
    "prfsha512",
    "prfmd5",
    "prfaescmac",
];
const GROUPS: &[&str] = &[
    "modp2048",
    "modp3072",
    "modp4096",
    "ecp256",
    "ecp384",
    "ecp521",
    "curve25519",
    "x25519",
    "modp1024",
    "modp1536",
    "ecp256bp",
    "curve448",
];

fn pick(pool: &'static [&'static str], min: usize, max: usize) -> BoxedStrategy<Vec<&'static str>> {
    prop::collection::vec(prop::sample::select(pool), min..=max).boxed()
}

/// Random valid proposal strings, keywords shuffled across types.
fn proposal_string() -> impl Strategy<Value = (ProtocolId, String)> {
    let ike_classic = (
        pick(CLASSIC, 1, 3),
        pick(INTEGS, 1, 3),
        pick(PRFS, 0, 2),
        pick(GROUPS, 1, 3),
    )
        .prop_map(|(a, b, c, d)| (ProtocolId::IKE, [a, b, c, d].concat()));
    let ike_aead = (pick(AEAD, 1, 3), pick(PRFS, 1, 2), pick(GROUPS, 1, 3))
        .prop_map(|(a, c, d)| (ProtocolId::IKE, [a, c, d].concat()));
    let esn = prop::sample::select(vec![
        vec![],
        vec!["esn"],
        vec!["noesn"],
        vec!["esn", "noesn"],
        vec!["noesn", "esn"],
    ]);
    let esp_classic = (
        pick(CLASSIC, 1, 3),
        pick(INTEGS, 1, 3),
        pick(GROUPS, 0, 2),
        any::<bool>(),
        esn.clone(),
    )
        .prop_map(|(a, b, d, none, e)| {
            let none = if none { vec!["none"] } else { vec![] };
            (ProtocolId::ESP, [a, b, d, none, e].concat())
        });
    let esp_aead = (pick(AEAD, 1, 3), pick(GROUPS, 0, 2), esn)
        .prop_map(|(a, d, e)| (ProtocolId::ESP, [a, d, e].concat()));
    prop_oneof![ike_classic, ike_aead, esp_classic, esp_aead]
        .prop_flat_map(|(proto, words)| (Just(proto), Just(words).prop_shuffle()))
        .prop_map(|(proto, words)| (proto, words.join("-")))
}

proptest! {
    #[test]
    fn generated_proposals_round_trip((protocol, s) in proposal_string()) {
        let p = Proposal::parse(protocol, &s).map_err(|e| TestCaseError::fail(format!("{s}: {e}")))?;
        let printed = p.to_string();
        let again = Proposal::parse(protocol, &printed)
            .map_err(|e| TestCaseError::fail(format!("{s} -> {printed}: {e}")))?;
        prop_assert_eq!(&again, &p, "{} -> {}", s, printed);
        prop_assert_eq!(again.to_string(), printed);
        let prefixed: Proposal = format!("{p:#}").parse()
            .map_err(|e: ProposalError| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(prefixed, p);
    }

    #[test]
    fn garbage_never_panics(s in "[a-z0-9_!-]{0,40}") {
        let _ = Proposal::parse_ike(&s);
        let _ = Proposal::parse_esp(&s);
    }
}
