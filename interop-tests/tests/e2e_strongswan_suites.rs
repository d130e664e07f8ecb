//! Crypto suites against strongSwan: for each IKE/ESP proposal pair, ikev2d initiates
//! to a strongSwan responder, both must agree on the negotiated suite, and pings pass.
//! Also the INVALID_KE_PAYLOAD retry (RFC 7296 §1.2): ikev2d guesses a DH group the
//! responder does not accept and must retry with the one it asks for.

use std::time::Duration;

use interop_tests::prereq::{ikev2d_binary, require_root, require_strongswan, require_tun};
use interop_tests::topology::{INNER_A, INNER_B};
use interop_tests::{
    Charon, ConnSpec, Ikev2d, Ikev2dConfig, Pair, TimeBound, ping, ping_until, require,
};

/// Bring `ours` (ikev2d, in A) up against `theirs` (strongSwan, in B) and ping; the
/// error says what went wrong, with both logs.
fn establish(net: &Pair, ours: &ConnSpec, theirs: &ConnSpec) -> Result<serde_json::Value, String> {
    let charon = Charon::start(&net.b, std::slice::from_ref(theirs));
    let ikev2d = Ikev2d::start(&net.a, &Ikev2dConfig::new(vec![ours.clone()]));
    let logs = || format!("{}\n{}", ikev2d.log_tail(30), charon.logs_tail(30));
    let up = ikev2d.up("lab", Duration::from_secs(20));
    if !up.ok() {
        return Err(format!("up failed: {up}\n{}", logs()));
    }
    let st = ikev2d.wait_established("lab", Duration::from_secs(10))?;
    charon.wait_established("lab", Duration::from_secs(10))?;
    if !ping_until(&net.a, INNER_A, INNER_B, Duration::from_secs(10))
        || ping(&net.a, INNER_A, INNER_B, 3) != 3
    {
        return Err(format!("pings lost through the tunnel\n{}", logs()));
    }
    Ok(st)
}

#[test]
fn suites_against_strongswan() {
    require!(
        require_root(),
        require_tun(),
        require_strongswan(),
        ikev2d_binary()
    );
    let _bound = TimeBound::new("suites_against_strongswan", Duration::from_secs(240));
    // (IKE proposal, ESP proposal, ESP suite ikev2d reports for the IKE_AUTH child)
    let suites = [
        ("aes128-sha256-modp2048", "aes128-sha256", "aes128-sha256"),
        ("aes256-sha384-ecp384", "aes256-sha384", "aes256-sha384"),
        ("aes256-sha512-modp3072", "aes256gcm16", "aes256gcm16"),
        ("aes128gcm16-prfsha256-ecp256", "aes128gcm16", "aes128gcm16"),
        (
            "aes256gcm16-prfsha384-ecp521",
            "aes256gcm16-ecp521",
            "aes256gcm16",
        ),
        (
            "chacha20poly1305-prfsha256-curve25519",
            "chacha20poly1305",
            "chacha20poly1305",
        ),
        (
            "aes256-sha256-modp4096",
            "aes256-sha256-modp4096",
            "aes256-sha256",
        ),
    ];
    let net = Pair::new();
    let mut failures = Vec::new();
    for (ike, esp, esp_negotiated) in suites {
        let ours = ConnSpec::site_a().with_proposals(ike, esp);
        match establish(&net, &ours, &ours.mirrored()) {
            Ok(st) => {
                let got_ike = st["ike_sa"]["proposal"].as_str().unwrap_or_default();
                let got_esp = st["children"][0]["proposal"].as_str().unwrap_or_default();
                if got_ike != ike || got_esp != esp_negotiated {
                    failures.push(format!(
                        "{ike} / {esp}: negotiated {got_ike} / {got_esp}, expected {ike} / {esp_negotiated}"
                    ));
                }
            }
            Err(e) => failures.push(format!("{ike} / {esp}: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} suite(s) failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn invalid_ke_retry_against_strongswan() {
    require!(
        require_root(),
        require_tun(),
        require_strongswan(),
        ikev2d_binary()
    );
    let _bound = TimeBound::new(
        "invalid_ke_retry_against_strongswan",
        Duration::from_secs(90),
    );
    let net = Pair::new();
    // ikev2d sends a KE for its first group (modp2048); strongSwan only takes ecp256
    // and answers INVALID_KE_PAYLOAD asking for it.
    let ours = ConnSpec::site_a().with_proposals("aes256-sha256-modp2048-ecp256", "aes256gcm16");
    let theirs = ConnSpec::site_b().with_proposals("aes256-sha256-ecp256", "aes256gcm16");
    let st = establish(&net, &ours, &theirs).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(st["ike_sa"]["proposal"], "aes256-sha256-ecp256", "{st}");
}
