//! The harness itself, with strongSwan on both sides (no ikev2d needed): namespaces,
//! veth, charon with kernel-libipsec, swanctl, `--list-sas` parsing, ping, cleanup;
//! and the certificates strongSwan's `pki` makes for the certificate tests.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

use interop_tests::cmd::{self, DEFAULT_TIMEOUT};
use interop_tests::pki::{KeyType, Pki, Validity};
use interop_tests::prereq::{require_pki, require_root, require_strongswan, require_tun};
use interop_tests::topology::{INNER_A, INNER_B};
use interop_tests::{Charon, ConnSpec, Netns, Pair, TimeBound, ping, ping_until, require};

#[test]
fn netns_is_removed_on_drop() {
    require!(require_root(), require_tun());
    let _bound = TimeBound::new("netns_is_removed_on_drop", Duration::from_secs(30));
    let ns = Netns::new("t");
    let name = ns.name().to_owned();
    let sleeper = ns.spawn(
        "sleep",
        &["sleep", "600"],
        &std::env::temp_dir().join(format!("{name}.log")),
    );
    // `ip netns exec` enters the namespace a moment after the spawn.
    let inside =
        interop_tests::cmd::wait_for(Duration::from_secs(5), Duration::from_millis(20), || {
            ns.pids().contains(&sleeper.pid()).then_some(())
        });
    assert!(inside.is_some(), "pid {} not in {name}", sleeper.pid());
    drop(sleeper);
    drop(ns);
    let list = interop_tests::cmd::run_args("ip", &["netns", "list"], Duration::from_secs(5));
    assert!(
        !list.stdout.contains(&name),
        "{name} still listed: {}",
        list.stdout
    );
    let _ = std::fs::remove_file(std::env::temp_dir().join(format!("{name}.log")));
}

#[test]
fn strongswan_pair_ping() {
    require!(require_root(), require_tun(), require_strongswan());
    let _bound = TimeBound::new("strongswan_pair_ping", Duration::from_secs(90));
    let net = Pair::new();
    let b = Charon::start(&net.b, &[ConnSpec::site_b()]);
    let a = Charon::start(&net.a, &[ConnSpec::site_a()]);
    let o = a.initiate("net");
    assert!(o.ok(), "initiate: {o}\n{}", a.logs_tail(40));
    let sa = a
        .wait_established("lab", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));
    let sb = b
        .wait_established("lab", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((&sa.spi_i, &sa.spi_r), (&sb.spi_i, &sb.spi_r));
    assert_eq!(sa.children[0].spi_out, sb.children[0].spi_in);
    assert_eq!(sa.children[0].mode, "TUNNEL-in-UDP");
    assert!(ping_until(
        &net.a,
        INNER_A,
        INNER_B,
        Duration::from_secs(10)
    ));
    assert_eq!(ping(&net.a, INNER_A, INNER_B, 3), 3);
    let sb = &b.list_sas()[0];
    assert!(sb.children[0].packets_in >= 3, "{sb:?}");
    assert!(sb.children[0].bytes_out > 0, "{sb:?}");
}

/// `openssl verify` of `ee` against `root` with `inter` as untrusted intermediate and,
/// if given, CRL checking: exit 0 and "OK".
fn openssl_verify(root: &Path, inter: &Path, ee: &Path, crl: Option<&Path>) -> cmd::Output {
    let mut args = vec!["verify".to_owned()];
    if let Some(crl) = crl {
        args.extend([
            "-crl_check".into(),
            "-CRLfile".into(),
            crl.display().to_string(),
        ]);
    }
    args.extend(["-CAfile".into(), root.display().to_string()]);
    args.extend(["-untrusted".into(), inter.display().to_string()]);
    args.push(ee.display().to_string());
    cmd::run(
        std::process::Command::new("openssl").args(&args),
        DEFAULT_TIMEOUT,
    )
}

/// `pki --verify` of `ee` with `root` and `inter` as CA certificates (pki trusts
/// both; the chain must still end at the self-signed root) and optionally a CRL.
fn pki_verify(root: &Path, inter: &Path, ee: &Path, crl: Option<&Path>) -> cmd::Output {
    let mut c = std::process::Command::new("pki");
    c.arg("--verify").arg("--in").arg(ee);
    c.arg("--cacert").arg(root).arg("--cacert").arg(inter);
    if let Some(crl) = crl {
        c.arg("--crl").arg(crl);
    }
    cmd::run(&mut c, DEFAULT_TIMEOUT)
}

/// Root → intermediate → end entity for each key type, with strongSwan's `pki`: the
/// chains verify (openssl, when installed, and pki itself), DER and PEM hold the
/// same certificate, keys are 0600, the signature algorithm is the key type's, the
/// SPKI SHA-1 is what openssl computes, an expired or not yet valid certificate
/// fails, and the CRL lists the revoked serial and makes verification fail.
#[test]
fn pki_chains_verify_and_crl_revokes() {
    require!(require_pki());
    let _bound = TimeBound::new(
        "pki_chains_verify_and_crl_revokes",
        Duration::from_secs(120),
    );
    let tmp = tempfile::tempdir().expect("temporary directory");
    let pki = Pki::new(tmp.path());
    let openssl = cmd::run_args("sh", &["-c", "command -v openssl"], DEFAULT_TIMEOUT).ok();
    if !openssl {
        eprintln!("no openssl: checking with `pki --verify` only");
    }
    let cases = [
        (KeyType::Rsa(3072), "sha256WithRSAEncryption"),
        (KeyType::RsaPss(4096), "rsassaPss"),
        (KeyType::Ecdsa(256), "ecdsa-with-SHA256"),
        (KeyType::Ecdsa(384), "ecdsa-with-SHA384"),
        (KeyType::Ecdsa(521), "ecdsa-with-SHA512"),
        (KeyType::Ed25519, "ED25519"),
    ];
    for (i, (kt, sig_alg)) in cases.into_iter().enumerate() {
        let start = Instant::now();
        let root = pki.ca(
            &format!("root{i}"),
            &format!("C=CH, O=ikev2d test, CN=Root {i}"),
            kt,
        );
        let t_root = start.elapsed();
        let mut inter = pki.intermediate(
            &root,
            &format!("inter{i}"),
            &format!("C=CH, O=ikev2d test, CN=Intermediate {i}"),
            kt,
        );
        let uri = format!("http://192.0.2.2/inter{i}.crl");
        inter.crl_uri = Some(uri.clone());
        let ee = pki.end_entity(
            &inter,
            &format!("ee{i}"),
            "C=CH, O=ikev2d test, CN=gw-a.example.org",
            &["gw-a.example.org", "10.0.0.1", "user@example.org"],
            kt,
            Validity::Days(365),
        );
        let expired = pki.end_entity(
            &inter,
            &format!("expired{i}"),
            "CN=expired",
            &[],
            kt,
            Validity::Expired,
        );
        let future = pki.end_entity(
            &inter,
            &format!("future{i}"),
            "CN=future",
            &[],
            kt,
            Validity::NotYetValid,
        );
        let crl = pki.crl(&inter, &[&ee]);
        eprintln!(
            "{kt:?}: root {:.2}s, the rest {:.2}s",
            t_root.as_secs_f64(),
            (start.elapsed() - t_root).as_secs_f64()
        );

        for c in [&root.cert, &inter.cert, &ee, &expired, &future] {
            let mode = std::fs::metadata(&c.key)
                .expect("key file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{}", c.key.display());
        }
        assert_eq!(ee.subject, "C=CH, O=ikev2d test, CN=gw-a.example.org");
        assert_eq!(
            root.cert.subject,
            format!("C=CH, O=ikev2d test, CN=Root {i}")
        );
        let printed = ee.print();
        assert!(
            printed.contains("altNames:  gw-a.example.org, 10.0.0.1, user@example.org"),
            "{printed}"
        );
        assert!(printed.contains(&format!("CRL URIs:  {uri}")), "{printed}");
        assert!(
            !inter.cert.print().contains("CRL URIs"),
            "the root has no CDP set"
        );

        let ok = pki_verify(&root.cert.pem, &inter.cert.pem, &ee.pem, None);
        assert!(
            ok.ok() && ok.stdout.contains("certificate trusted"),
            "{kt:?}: {ok}"
        );
        for bad in [&expired, &future] {
            let o = pki_verify(&root.cert.pem, &inter.cert.pem, &bad.pem, None);
            assert!(!o.ok(), "{kt:?} {}: pki --verify passed: {o}", bad.name);
        }
        let o = pki_verify(&root.cert.pem, &inter.cert.pem, &ee.pem, Some(&crl.pem));
        assert!(
            !o.ok() && o.stderr.contains("certificate was revoked"),
            "{kt:?}: {o}"
        );
        assert_eq!(
            crl.revoked_serials(),
            vec![ee.serial.clone()],
            "{}",
            crl.print()
        );

        if !openssl {
            continue;
        }
        let ok = openssl_verify(&root.cert.pem, &inter.cert.pem, &ee.pem, None);
        assert!(ok.ok() && ok.stdout.contains(": OK"), "{kt:?}: {ok}");
        let o = openssl_verify(&root.cert.pem, &inter.cert.pem, &expired.pem, None);
        assert!(
            !o.ok() && o.stderr.contains("certificate has expired"),
            "{kt:?}: {o}"
        );
        let o = openssl_verify(&root.cert.pem, &inter.cert.pem, &future.pem, None);
        assert!(!o.ok() && o.stderr.contains("not yet valid"), "{kt:?}: {o}");
        let o = openssl_verify(&root.cert.pem, &inter.cert.pem, &ee.pem, Some(&crl.pem));
        assert!(
            !o.ok() && o.stderr.contains("certificate revoked"),
            "{kt:?}: {o}"
        );
        for c in [&root.cert, &inter.cert, &ee] {
            let text = cmd::run_args(
                "openssl",
                &[
                    "x509",
                    "-in",
                    &c.pem.display().to_string(),
                    "-noout",
                    "-text",
                ],
                DEFAULT_TIMEOUT,
            )
            .expect_ok()
            .stdout;
            assert!(
                text.contains(&format!("Signature Algorithm: {sig_alg}")),
                "{kt:?} {}: not signed with {sig_alg}:\n{text}",
                c.name
            );
            // the DER file is the PEM's certificate, and spki_sha1 the SHA-1 of the SPKI
            let script = r#"openssl x509 -in "$1" -outform der | cmp - "$2" &&
                openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform der |
                openssl dgst -sha1 -r"#;
            let o = cmd::run_args(
                "sh",
                &[
                    "-c",
                    script,
                    "sh",
                    &c.pem.display().to_string(),
                    &c.der.display().to_string(),
                ],
                DEFAULT_TIMEOUT,
            )
            .expect_ok();
            let hex: String = c.spki_sha1.iter().map(|b| format!("{b:02x}")).collect();
            assert!(
                o.stdout.starts_with(&hex),
                "{}: SPKI SHA-1 {hex}, openssl: {o}",
                c.name
            );
        }
        let o = cmd::run_args(
            "sh",
            &[
                "-c",
                r#"openssl crl -in "$1" -outform der | cmp - "$2""#,
                "sh",
                &crl.pem.display().to_string(),
                &crl.der.display().to_string(),
            ],
            DEFAULT_TIMEOUT,
        );
        assert!(o.ok(), "CRL DER: {o}");
    }
}
