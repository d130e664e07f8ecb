//! Proposal negotiation and NO_PROPOSAL_CHOSEN diagnostics.
#![allow(clippy::unwrap_used)]

use ikev2::crypto::algorithms::{EncrAlgorithm, EspSuite, IkeSuite, IntegAlgorithm, PrfAlgorithm};
use ikev2::crypto::proposal::{
    Mismatch, NoProposalChosen, Preference, Proposal, SelectOptions, Transform, contains_dh_group,
    first_dh_group, select, select_with,
};
use ikev2::wire::{DhGroup, NotifyType, ProtocolId, TransformType};

use Preference::{PreferOurs, PreferTheirs};

fn ike(list: &str) -> Vec<Proposal> {
    Proposal::parse_list(ProtocolId::IKE, list).unwrap_or_else(|e| panic!("{e}"))
}

fn esp(list: &str) -> Vec<Proposal> {
    Proposal::parse_list(ProtocolId::ESP, list).unwrap_or_else(|e| panic!("{e}"))
}

fn no_proposal(ours: &[Proposal], theirs: &[Proposal]) -> Box<NoProposalChosen> {
    match select(ours, theirs, PreferOurs) {
        Ok(p) => panic!("selected {p}"),
        Err(e) => e,
    }
}

/// The selected transforms equal those of `expected` parsed for the same protocol.
fn assert_selected(selected: &Proposal, expected: &str) {
    let expected = Proposal::parse(selected.protocol, expected).unwrap();
    assert_eq!(
        selected.transforms(),
        expected.transforms(),
        "selected {selected}, expected {expected}"
    );
}

/// Cases of strongSwan's test_proposal.c `select_data` (ours = "self", PreferOurs),
/// with an integrity algorithm added where strongSwan's used encryption-only ESP.
#[test]
fn strongswan_selection_cases() {
    let cases: &[(&str, &str, Option<&str>)] = &[
        ("aes128-sha256", "aes128-sha256", Some("aes128-sha256")),
        ("aes128-sha256", "aes256-sha256", None),
        (
            "aes128-aes256-sha256",
            "aes256-aes128-sha256",
            Some("aes128-sha256"),
        ),
        (
            "aes256-aes128-sha256",
            "aes128-aes256-sha256",
            Some("aes256-sha256"),
        ),
        (
            "aes128-aes256-sha1-sha256",
            "aes256-aes128-sha256-sha1",
            Some("aes128-sha1"),
        ),
        (
            "aes256-aes128-sha256-sha1",
            "aes128-aes256-sha1-sha256",
            Some("aes256-sha256"),
        ),
        ("aes128-sha256-modp3072", "aes128-sha256", None),
        ("aes128-sha256", "aes128-sha256-modp3072", None),
        ("aes128-sha256-modp3072", "aes128-sha256-none", None),
        ("aes128-sha256-none", "aes128-sha256-modp3072", None),
        (
            "aes128-sha256-modp3072-none",
            "aes128-sha256",
            Some("aes128-sha256"),
        ),
        (
            "aes128-sha256",
            "aes128-sha256-modp3072-none",
            Some("aes128-sha256"),
        ),
        (
            "aes128-sha256-modp3072-none",
            "aes128-sha256-none-modp3072",
            Some("aes128-sha256-modp3072"),
        ),
        (
            "aes128-sha256-none-modp3072",
            "aes128-sha256-modp3072-none",
            Some("aes128-sha256"),
        ),
        (
            "aes128-sha256-esn",
            "aes128-sha256-esn",
            Some("aes128-sha256-esn"),
        ),
        ("aes128-sha256-noesn", "aes128-sha256-esn", None),
        (
            "aes128-sha256-noesn-esn",
            "aes128-sha256-esn",
            Some("aes128-sha256-esn"),
        ),
        (
            "aes128-sha256-noesn-esn",
            "aes128-sha256",
            Some("aes128-sha256"),
        ),
        (
            "aes128-sha256-esn-noesn",
            "aes128-sha256-noesn-esn",
            Some("aes128-sha256-esn"),
        ),
    ];
    for &(ours, theirs, expected) in cases {
        let r = select(&esp(ours), &esp(theirs), PreferOurs);
        match (r, expected) {
            (Ok(p), Some(e)) => assert_selected(&p, e),
            (Err(_), None) => {}
            (r, e) => panic!("{ours} vs {theirs}: got {r:?}, expected {e:?}"),
        }
    }
    let ike_cases: &[(&str, &str, &str)] = &[
        (
            "aes128-sha256-modp3072",
            "aes128-sha256-modp3072",
            "aes128-sha256-modp3072",
        ),
        (
            "aes128-sha256-modp3072",
            "aes128-sha256-modp3072-none",
            "aes128-sha256-modp3072",
        ),
    ];
    for &(ours, theirs, expected) in ike_cases {
        assert_selected(
            &select(&ike(ours), &ike(theirs), PreferOurs).unwrap(),
            expected,
        );
    }
}

#[test]
fn preference_decides_between_proposals() {
    let ours = ike("aes256-sha256-ecp256, aes128-sha256-modp2048");
    let theirs = ike("aes128-sha256-modp2048, aes256-sha256-ecp256");
    let p = select(&ours, &theirs, PreferOurs).unwrap();
    assert_selected(&p, "aes256-sha256-ecp256");
    assert_eq!(p.number, 2, "the peer's proposal number");
    let p = select(&ours, &theirs, PreferTheirs).unwrap();
    assert_selected(&p, "aes128-sha256-modp2048");
    assert_eq!(p.number, 1);
}

#[test]
fn preference_decides_within_a_type() {
    let ours = ike("aes128-aes256-sha256-sha512-ecp256-curve25519");
    let theirs = ike("aes256-aes128-sha512-sha256-curve25519-ecp256");
    let p = select(&ours, &theirs, PreferOurs).unwrap();
    assert_eq!(p.to_string(), "aes128-sha256-ecp256");
    let p = select(&ours, &theirs, PreferTheirs).unwrap();
    assert_eq!(p.to_string(), "aes256-sha512-curve25519");
}

#[test]
fn selection_has_one_transform_per_type_and_peer_number_and_spi() {
    let ours = ike("aes128-aes256-sha256-sha384-prfsha384-prfsha256-ecp256-modp2048");
    let theirs: Vec<Proposal> = ike(
        "aes256gcm16-prfsha256-ecp256, aes256-sha384-sha256-prfsha256-prfsha384-modp2048-ecp256",
    )
    .into_iter()
    .map(|p| p.with_spi([0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1]))
    .collect();
    let p = select(&ours, &theirs, PreferOurs).unwrap();
    assert_eq!(p.number, 2);
    assert_eq!(p.protocol, ProtocolId::IKE);
    assert_eq!(p.spi, [0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1]);
    assert_eq!(
        p.transforms(),
        [
            Transform::new(TransformType::ENCR, 12, Some(256)),
            Transform::new(TransformType::INTEG, 12, None),
            Transform::new(TransformType::PRF, 6, None),
            Transform::new(TransformType::DH, 19, None),
        ]
    );
    assert_eq!(
        p.ike_suite(),
        Some(IkeSuite {
            encr: EncrAlgorithm::AesCbc { key_bits: 256 },
            integ: Some(IntegAlgorithm::HmacSha256_128),
            prf: PrfAlgorithm::HmacSha384,
            dh: DhGroup::ECP_256,
            addke: IkeSuite::NO_ADDKE,
        })
    );
    assert_eq!(
        p.describe(),
        "AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_384/ECP_256"
    );
    // A configured proposal with several transforms per type is not a suite.
    assert_eq!(ours[0].ike_suite(), None);
    assert_eq!(p.esp_suite(), None);
}

#[test]
fn esp_suites() {
    let p = select(
        &esp("aes256gcm16-modp3072-esn"),
        &esp("aes256gcm16-modp3072-esn"),
        PreferOurs,
    )
    .unwrap();
    assert_eq!(
        p.esp_suite(),
        Some(EspSuite {
            encr: EncrAlgorithm::AesGcm {
                key_bits: 256,
                icv_len: 16
            },
            integ: None,
            dh: Some(DhGroup::MODP_3072),
            addke: EspSuite::NO_ADDKE,
            esn: true,
        })
    );
    assert_eq!(p.describe(), "AES_GCM_16-256/MODP_3072/ESN");
    let p = select(&esp("aes128-sha1-none"), &esp("aes128-sha1"), PreferOurs).unwrap();
    assert_eq!(
        p.esp_suite(),
        Some(EspSuite {
            encr: EncrAlgorithm::AesCbc { key_bits: 128 },
            integ: Some(IntegAlgorithm::HmacSha1_96),
            dh: None,
            addke: EspSuite::NO_ADDKE,
            esn: false,
        })
    );
    assert_eq!(p.ike_suite(), None);
    assert_eq!(esp("aes128-sha256-esn-noesn")[0].esp_suite(), None);
}

#[test]
fn unsupported_transforms_offered_by_both_are_skipped() {
    let ours = ike("3des-aes128-md5-sha256-modp1024-modp2048");
    let theirs = ike("3des-aes128-md5-sha256-modp1024-modp2048");
    let p = select(&ours, &theirs, PreferOurs).unwrap();
    assert_eq!(p.to_string(), "aes128-sha256-modp2048");
    assert!(p.ike_suite().is_some());

    // Only unimplemented algorithms in common: say so.
    let e = no_proposal(
        &ike("3des-sha256-modp2048"),
        &ike("3des-aes256-sha256-modp2048"),
    );
    assert_eq!(
        e.to_string(),
        "NO_PROPOSAL_CHOSEN: no common encryption algorithm (3DES_CBC offered by both but \
         not implemented by ikev2d): we offered [3des-sha256-modp2048], peer offered \
         [3des-aes256-sha256-modp2048]"
    );
}

#[test]
fn peer_transforms_we_do_not_know_are_skipped() {
    // A peer may offer private-use or future IDs, and key lengths we do not run.
    let theirs = vec![Proposal::from_transforms(
        1,
        ProtocolId::IKE,
        [
            Transform::new(TransformType::ENCR, 1031, Some(256)),
            Transform::new(TransformType::ENCR, 12, Some(160)),
            Transform::new(TransformType::ENCR, 12, Some(128)),
            Transform::new(TransformType::INTEG, 12, None),
            Transform::new(TransformType::PRF, 5, None),
            Transform::new(TransformType::DH, 4242, None),
            Transform::new(TransformType::DH, 19, None),
        ],
    )];
    let p = select(&ike("aes128-sha256-ecp256"), &theirs, PreferTheirs).unwrap();
    assert_eq!(p.to_string(), "aes128-sha256-ecp256");
}

#[test]
fn aead_peer_with_integrity_none_is_accepted() {
    let theirs = vec![Proposal::from_transforms(
        1,
        ProtocolId::ESP,
        [
            Transform::new(TransformType::ENCR, 20, Some(128)),
            Transform::new(TransformType::INTEG, 0, None),
            Transform::new(TransformType::ESN, 0, None),
        ],
    )];
    let p = select(&esp("aes128gcm16"), &theirs, PreferOurs).unwrap();
    assert_eq!(p.to_string(), "aes128gcm16");
    assert!(p.esp_suite().is_some());
}

#[test]
fn chacha20poly1305_with_a_key_length_does_not_match() {
    // Some peers encode ChaCha20-Poly1305 with KEY_LENGTH 256, which RFC 7296 section
    // 3.3.5 forbids (strongSwan issue #2506); strongSwan rejects it too.
    let theirs = vec![Proposal::from_transforms(
        1,
        ProtocolId::IKE,
        [
            Transform::new(TransformType::ENCR, 28, Some(256)),
            Transform::new(TransformType::PRF, 5, None),
            Transform::new(TransformType::DH, 31, None),
        ],
    )];
    let e = no_proposal(&ike("chacha20poly1305-prfsha256-curve25519"), &theirs);
    assert_eq!(
        e.to_string(),
        "NO_PROPOSAL_CHOSEN: no common encryption algorithm: we offered \
         [chacha20poly1305-prfsha256-curve25519], peer offered \
         [chacha20poly1305compat-prfsha256-curve25519]"
    );
}

#[test]
fn no_common_dh_group_names_the_closest_pair() {
    let ours = ike("aes256-sha256-modp2048");
    let theirs = ike("aes256-sha256-ecp256, aes128gcm16-prfsha256-curve25519");
    let e = no_proposal(&ours, &theirs);
    assert_eq!(
        e.to_string(),
        "NO_PROPOSAL_CHOSEN: no common DH group: we offered [aes256-sha256-modp2048], peer \
         offered [aes256-sha256-ecp256, aes128gcm16-prfsha256-curve25519]"
    );
    assert_eq!(e.closest, Some((0, 0)));
    assert_eq!(e.ours, ours);
    assert_eq!(e.theirs, theirs);
    assert_eq!(e.notify_type(), NotifyType::NO_PROPOSAL_CHOSEN);
    assert_eq!(
        e.mismatch,
        Mismatch::Transform {
            protocol: ProtocolId::IKE,
            ty: TransformType::DH,
            ours: vec![Transform::dh(DhGroup::MODP_2048)],
            theirs: vec![Transform::dh(DhGroup::ECP_256)],
            unimplemented: vec![],
        }
    );
    // The closest pair is found wherever it is: here the peer's second proposal.
    let theirs = ike("aes128gcm16-prfsha256-curve25519, aes256-sha256-ecp256");
    assert_eq!(no_proposal(&ours, &theirs).closest, Some((0, 1)));
}

#[test]
fn mismatch_on_each_transform_type() {
    let cases: &[(Vec<Proposal>, Vec<Proposal>, &str)] = &[
        (
            ike("aes256-sha256-modp2048"),
            ike("aes128-sha256-modp2048"),
            "NO_PROPOSAL_CHOSEN: no common encryption algorithm: we offered \
             [aes256-sha256-modp2048], peer offered [aes128-sha256-modp2048]",
        ),
        (
            ike("aes256-sha256-prfsha256-modp2048"),
            ike("aes256-sha1-prfsha256-modp2048"),
            "NO_PROPOSAL_CHOSEN: no common integrity algorithm: we offered \
             [aes256-sha256-modp2048], peer offered [aes256-sha1-prfsha256-modp2048]",
        ),
        (
            ike("aes256gcm16-prfsha384-ecp384"),
            ike("aes256gcm16-prfsha256-ecp384"),
            "NO_PROPOSAL_CHOSEN: no common PRF: we offered [aes256gcm16-prfsha384-ecp384], \
             peer offered [aes256gcm16-prfsha256-ecp384]",
        ),
        (
            ike("aes256gcm16-prfsha384-ecp384"),
            ike("aes256gcm16-prfsha384-ecp256-modp3072"),
            "NO_PROPOSAL_CHOSEN: no common DH group: we offered [aes256gcm16-prfsha384-ecp384], \
             peer offered [aes256gcm16-prfsha384-ecp256-modp3072]",
        ),
        (
            esp("aes128-sha256-esn"),
            esp("aes128-sha256"),
            "NO_PROPOSAL_CHOSEN: ESN mismatch: we offered ESN, peer offered no ESN: we offered \
             [aes128-sha256-esn], peer offered [aes128-sha256]",
        ),
        (
            esp("aes128-sha256-esn-noesn"),
            vec![Proposal::from_transforms(
                1,
                ProtocolId::ESP,
                [
                    Transform::new(TransformType::ENCR, 12, Some(128)),
                    Transform::new(TransformType::INTEG, 12, None),
                ],
            )],
            "NO_PROPOSAL_CHOSEN: ESN mismatch: we offered ESN or no ESN, peer offered no ESN \
             transform: we offered [aes128-sha256-esn-noesn], peer offered [aes128-sha256]",
        ),
    ];
    for (ours, theirs, expected) in cases {
        assert_eq!(&no_proposal(ours, theirs).to_string(), expected);
    }
}

#[test]
fn first_mismatching_type_is_reported() {
    // Encryption and DH both differ: encryption comes first.
    let e = no_proposal(&ike("aes256-sha256-modp2048"), &ike("aes128-sha256-ecp256"));
    assert!(matches!(
        e.mismatch,
        Mismatch::Transform {
            ty: TransformType::ENCR,
            ..
        }
    ));
}

#[test]
fn pfs_mismatch_both_directions() {
    let e = no_proposal(&esp("aes256gcm16-modp2048"), &esp("aes256gcm16"));
    assert_eq!(
        e.to_string(),
        "NO_PROPOSAL_CHOSEN: PFS group mismatch: we require MODP_2048, peer offered none: we \
         offered [aes256gcm16-modp2048], peer offered [aes256gcm16]"
    );
    let e = no_proposal(&esp("aes256gcm16"), &esp("aes256gcm16-ecp256"));
    assert_eq!(
        e.to_string(),
        "NO_PROPOSAL_CHOSEN: PFS group mismatch: we offered none, peer requires ECP_256: we \
         offered [aes256gcm16], peer offered [aes256gcm16-ecp256]"
    );
    let e = no_proposal(
        &esp("aes256gcm16-modp2048-none"),
        &esp("aes256gcm16-ecp256"),
    );
    assert_eq!(
        e.to_string(),
        "NO_PROPOSAL_CHOSEN: PFS group mismatch: we offered MODP_2048 or none, peer requires \
         ECP_256: we offered [aes256gcm16-modp2048-none], peer offered [aes256gcm16-ecp256]"
    );
    let e = no_proposal(
        &esp("aes256gcm16-modp2048-ecp384"),
        &esp("aes256gcm16-ecp256"),
    );
    assert_eq!(
        e.to_string(),
        "NO_PROPOSAL_CHOSEN: PFS group mismatch: we require MODP_2048, ECP_384, peer requires \
         ECP_256: we offered [aes256gcm16-modp2048-ecp384], peer offered [aes256gcm16-ecp256]"
    );
}

#[test]
fn skip_dh_ignores_pfs_for_the_ike_auth_child() {
    let ours = esp("aes256gcm16-modp2048");
    let theirs = esp("aes256gcm16");
    let options = SelectOptions {
        preference: PreferOurs,
        skip_dh: true,
        ..SelectOptions::default()
    };
    let p = select_with(&ours, &theirs, options).unwrap();
    assert_eq!(p.to_string(), "aes256gcm16");
    assert_eq!(p.esp_suite().map(|s| s.dh), Some(None));
    // Without the flag the latent mismatch shows: the first rekey would fail.
    assert!(select(&ours, &theirs, PreferOurs).is_err());
}

#[test]
fn protocol_and_empty_lists() {
    let e = no_proposal(&ike("aes128-sha256-modp2048"), &esp("aes128-sha256"));
    assert_eq!(
        e.to_string(),
        "NO_PROPOSAL_CHOSEN: protocol mismatch: we offered IKE, peer offered ESP: we offered \
         [aes128-sha256-modp2048], peer offered [aes128-sha256]"
    );
    let e = no_proposal(&esp("aes128-sha256"), &[]);
    assert_eq!(e.mismatch, Mismatch::NoPeerProposals);
    assert_eq!(e.closest, None);
    assert_eq!(
        e.to_string(),
        "NO_PROPOSAL_CHOSEN: peer offered no proposals: we offered [aes128-sha256], peer offered []"
    );
    assert_eq!(
        no_proposal(&[], &esp("aes128-sha256")).mismatch,
        Mismatch::NoLocalProposals
    );
}

#[test]
fn classic_cipher_without_integrity_is_never_selected() {
    // A peer offering INTEG NONE with AES-CBC (encryption-only ESP): strongSwan would
    // accept it if configured; we cannot run it.
    let theirs = vec![Proposal::from_transforms(
        1,
        ProtocolId::ESP,
        [
            Transform::new(TransformType::ENCR, 12, Some(128)),
            Transform::new(TransformType::INTEG, 0, None),
            Transform::new(TransformType::INTEG, 12, None),
            Transform::new(TransformType::ESN, 0, None),
        ],
    )];
    let ours = vec![Proposal::from_transforms(
        1,
        ProtocolId::ESP,
        [
            Transform::new(TransformType::ENCR, 12, Some(128)),
            Transform::new(TransformType::INTEG, 0, None),
            Transform::new(TransformType::INTEG, 12, None),
            Transform::new(TransformType::ESN, 0, None),
        ],
    )];
    let p = select(&ours, &theirs, PreferOurs).unwrap();
    assert_eq!(p.to_string(), "aes128-sha256");
}

#[test]
fn defaults_negotiate_with_common_strongswan_proposals() {
    let ours = Proposal::defaults(ProtocolId::IKE);
    for (peer, expected) in [
        ("aes256-sha256-modp2048", "aes256-sha256-modp2048"),
        (
            "aes256gcm16-prfsha384-ecp384",
            "aes256gcm16-prfsha384-ecp384",
        ),
        (
            "chacha20poly1305-prfsha256-x25519",
            "chacha20poly1305-prfsha256-curve25519",
        ),
    ] {
        let p = select(&ours, &ike(peer), PreferOurs).unwrap();
        assert_eq!(p.to_string(), expected);
    }
    let p = select(
        &Proposal::defaults(ProtocolId::ESP),
        &esp("aes256gcm16-modp2048"),
        PreferOurs,
    );
    // strongSwan 5.9's ESP defaults have no PFS group.
    assert!(p.is_err());
    let p = select(
        &Proposal::defaults(ProtocolId::ESP),
        &esp("aes256gcm16, aes256-sha512"),
        PreferOurs,
    )
    .unwrap();
    // PreferOurs: our classic proposal comes first in the `default` expansion.
    assert_eq!(p.to_string(), "aes256-sha512");
    assert_eq!(p.number, 2);
}

#[test]
fn dh_helpers_for_the_state_machine() {
    let ours = ike("aes256gcm16-prfsha384-modp1024-ecp384-modp2048, aes128-sha256-curve25519");
    assert_eq!(first_dh_group(&ours), Some(DhGroup::ECP_384));
    assert_eq!(ours[1].first_dh_group(), Some(DhGroup::CURVE25519));
    assert!(contains_dh_group(&ours, DhGroup::CURVE25519));
    assert!(contains_dh_group(&ours, DhGroup::MODP_2048));
    // Offered but not implemented: an INVALID_KE_PAYLOAD asking for it can't be met.
    assert!(!contains_dh_group(&ours, DhGroup::MODP_1024));
    assert!(!contains_dh_group(&ours, DhGroup::ECP_256));
    assert_eq!(first_dh_group(&esp("aes128gcm16")), None);
    assert_eq!(first_dh_group(&[]), None);
}

/// RFC 9370 additional key exchanges: selected only where allowed (IKE_SA_INIT with
/// IKE_INTERMEDIATE on both sides); otherwise an optional one settles on NONE and a
/// mandatory one makes the pair fail. The suite lists them in order.
#[test]
fn additional_key_exchanges_are_selected_only_where_allowed() {
    let ours = ike("aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke2_ecp384");
    let hybrid = SelectOptions {
        preference: PreferOurs,
        additional_ke: true,
        ..SelectOptions::default()
    };
    let p = select_with(&ours, &ours, hybrid).unwrap();
    let s = p.ike_suite().expect("suite");
    assert_eq!(s.dh, DhGroup::CURVE25519);
    assert_eq!(
        s.additional().collect::<Vec<_>>(),
        [(1, DhGroup::ML_KEM_768), (2, DhGroup::ECP_384)]
    );
    // Not allowed: a mandatory additional exchange cannot be agreed.
    assert!(select(&ours, &ours, PreferOurs).is_err());
    // Optional (ke1_none): without IKE_INTERMEDIATE it settles on none.
    let optional = ike("aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke1_none");
    let p = select(&optional, &optional, PreferOurs).unwrap();
    let s = p.ike_suite().expect("suite");
    assert_eq!(s.additional().count(), 0, "{p}");
    let p = select_with(&optional, &optional, hybrid).unwrap();
    assert_eq!(
        p.ike_suite()
            .expect("suite")
            .additional()
            .collect::<Vec<_>>(),
        [(1, DhGroup::ML_KEM_768)]
    );
    // A classic peer: the hybrid-first list falls back to its classic proposal.
    let list = Proposal::parse_list(
        ProtocolId::IKE,
        "aes256gcm16-prfsha384-x25519-ke1_mlkem768,aes256gcm16-prfsha384-x25519",
    )
    .unwrap();
    let classic = ike("aes256gcm16-prfsha384-x25519");
    let p = select_with(&list, &classic, hybrid).unwrap();
    assert_eq!(p.ike_suite().expect("suite").additional().count(), 0);
}
