//! Certificates over time against strongSwan: a renewed certificate and key put in
//! place and loaded with SIGHUP keep the running SAs (as `swanctl --load-creds`
//! does), and the next IKE SA authenticates with the new certificate, which
//! strongSwan accepts. The key types, chains and failures are in the shared scenario
//! list (`scenarios.rs`, docs/pubkey-auth.md).

use std::process::Command;
use std::time::Duration;

use interop_tests::conn::Credentials;
use interop_tests::pki::{KeyType, Pki, Validity};
use interop_tests::prereq::{
    ikev2d_binary, require_pki, require_root, require_strongswan, require_tun,
};
use interop_tests::topology::{INNER_A, INNER_B};
use interop_tests::{Charon, ConnSpec, Ikev2d, Ikev2dConfig, Pair, TimeBound, ping_until, require};
use serde_json::Value;

const ID_A: &str = "gw-a.ikev2d.test";
const ID_B: &str = "gw-b.ikev2d.test";

fn read(p: &std::path::Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

fn spi_i(c: &Value) -> String {
    c["ike_sa"]["spi_i"].as_str().unwrap_or_default().to_owned()
}

fn local_auth(c: &Value) -> String {
    c["ike_sa"]["local_auth"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn a_renewed_certificate_loaded_with_sighup_keeps_the_sas_and_is_used_next() {
    require!(
        require_root(),
        require_tun(),
        require_strongswan(),
        require_pki(),
        ikev2d_binary()
    );
    let _bound = TimeBound::new("certificate_renewal", Duration::from_secs(120));
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = Pki::new(dir.path());
    let ecdsa = KeyType::Ecdsa(256);
    let root_a = pki.ca("A-root", "C=CH, O=ikev2d interop, CN=A Root CA", ecdsa);
    let im_a = pki.intermediate(
        &root_a,
        "A-im",
        "C=CH, O=ikev2d interop, CN=A Intermediate CA",
        ecdsa,
    );
    let root_b = pki.ca("B-root", "C=CH, O=ikev2d interop, CN=B Root CA", ecdsa);
    let issue = |name: &str, dn: &str, issuer, id: &str, days| {
        pki.end_entity(issuer, name, dn, &[id], ecdsa, Validity::Days(days))
    };
    // Ours expires in 20 days: the daemon warns (within 30).
    let gw_a = issue(
        "gw-a",
        "C=CH, O=ikev2d interop, CN=gw-a.ikev2d.test",
        &im_a,
        ID_A,
        20,
    );
    let gw_b = issue(
        "gw-b",
        "C=CH, O=ikev2d interop, CN=gw-b.ikev2d.test",
        &root_b,
        ID_B,
        365,
    );
    // The renewal: a new key, a new subject (so that status shows which one signed).
    let renewed = issue(
        "gw-a2",
        "C=CH, O=ikev2d renewed, CN=gw-a.ikev2d.test",
        &im_a,
        ID_A,
        365,
    );

    let mut ours = ConnSpec::site_a();
    ours.local_id = ID_A.to_owned();
    ours.remote_id = ID_B.to_owned();
    let mut theirs = ours.mirrored();
    ours.pubkey = Some(Credentials {
        certs: vec![read(&gw_a.pem), read(&im_a.cert.pem)],
        key: read(&gw_a.key),
        cacerts: vec![read(&root_b.cert.pem)],
        ..Credentials::default()
    });
    theirs.pubkey = Some(Credentials {
        certs: vec![read(&gw_b.pem)],
        key: read(&gw_b.key),
        cacerts: vec![read(&root_a.cert.pem)],
        ..Credentials::default()
    });

    let net = Pair::new();
    let _charon = Charon::start(&net.b, std::slice::from_ref(&theirs));
    let config = Ikev2dConfig::new(vec![ours.clone()]);
    let a = Ikev2d::start(&net.a, &config);
    let up = a.up("lab", Duration::from_secs(20));
    assert!(up.ok(), "{up}\n{}", a.log_tail(40));
    let first = a
        .wait_established("lab", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}", a.log_tail(40)));
    assert!(
        local_auth(&first).ends_with("certificate C=CH, O=ikev2d interop, CN=gw-a.ikev2d.test"),
        "{first}"
    );
    assert!(ping_until(&net.a, INNER_A, INNER_B, Duration::from_secs(5)));
    let expiry = |log: &str| {
        log.lines()
            .filter(|l| l.contains("[cert-expiry]"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let warned = expiry(&a.log());
    assert_eq!(warned.len(), 1, "{warned:?}\n{}", a.log_tail(20));
    assert!(
        warned[0].contains("WARN")
            && warned[0].contains("certificate C=CH, O=ikev2d interop, CN=gw-a.ikev2d.test")
            && (warned[0].contains("(in 19 days)") || warned[0].contains("(in 20 days)")),
        "{warned:?}"
    );

    // The files as the configuration names them, replaced in place, then SIGHUP.
    let files = config.credential_files();
    let name_of = |suffix: &str| {
        files
            .iter()
            .find(|(n, ..)| n.ends_with(suffix))
            .map(|(n, ..)| a.dir().join(n))
            .unwrap_or_else(|| panic!("no *{suffix} in {files:?}"))
    };
    std::fs::write(name_of("-cert0.pem"), read(&renewed.pem)).expect("write certificate");
    std::fs::write(name_of("-key.pem"), read(&renewed.key)).expect("write key");
    let conf = a.dir().join("ikev2d.toml");
    let hup = Command::new("pkill")
        .args(["-HUP", "-f", &format!("run --config {}", conf.display())])
        .output()
        .expect("pkill runs");
    assert!(hup.status.success(), "no ikev2d to send SIGHUP to: {hup:?}");
    let reloaded =
        interop_tests::cmd::wait_for(Duration::from_secs(5), Duration::from_millis(100), || {
            a.log()
                .lines()
                .any(|l| l.contains("new credentials (SAs kept) [\"lab\"]"))
                .then_some(())
        });
    assert!(reloaded.is_some(), "no reload logged\n{}", a.log_tail(20));

    // The renewal is not about to expire: no new warning after the reload's check.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(expiry(&a.log()), warned);

    // The same IKE SA, still carrying traffic.
    let kept = a.conn_status("lab").expect("status");
    assert_eq!(spi_i(&kept), spi_i(&first), "{kept}");
    assert!(ping_until(&net.a, INNER_A, INNER_B, Duration::from_secs(5)));

    // A new IKE SA signs with the renewed certificate, and strongSwan takes it.
    let down = a.down("lab");
    assert!(down.ok(), "{down}");
    let up = a.up("lab", Duration::from_secs(20));
    assert!(up.ok(), "{up}\n{}", a.log_tail(40));
    let second = a
        .wait_established("lab", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}", a.log_tail(40)));
    assert_ne!(spi_i(&second), spi_i(&first));
    assert!(
        local_auth(&second).ends_with("certificate C=CH, O=ikev2d renewed, CN=gw-a.ikev2d.test"),
        "{second}"
    );
    assert!(ping_until(&net.a, INNER_A, INNER_B, Duration::from_secs(5)));
}
