//! One test per `ikev2d check` lint rule: the severity, the key path, the line and
//! the content of the message.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use ikev2d::config::{DaemonConfig, Finding, Severity, lint::lint};

const EXAMPLE: &str = include_str!("../data/site-b.toml");

fn findings(text: &str) -> Vec<Finding> {
    let cfg = DaemonConfig::parse(text, Path::new(".")).unwrap();
    lint(&cfg)
}

/// The findings of one rule; asserts there is exactly one and checks it.
fn only(text: &str, rule: &str, severity: Severity, path: &str, line: usize) -> String {
    let all = findings(text);
    let f: Vec<_> = all.iter().filter(|f| f.rule == rule).collect();
    assert_eq!(f.len(), 1, "{all:#?}");
    assert_eq!(f[0].severity, severity, "{f:#?}");
    assert_eq!(f[0].path, path, "{f:#?}");
    assert_eq!(f[0].line, Some(line), "{f:#?}");
    f[0].message.clone()
}

fn no_rule(text: &str, rule: &str) {
    let all = findings(text);
    assert!(all.iter().all(|f| f.rule != rule), "{all:#?}");
}

#[test]
fn example_is_clean() {
    assert_eq!(findings(EXAMPLE), vec![]);
}

#[test]
fn error_local_ts_overlapping_remote_ts() {
    let text = EXAMPLE.replace("[\"10.2.0.0/24\"]", "[\"10.1.0.128/25\"]");
    let m = only(
        &text,
        "ts-overlap",
        Severity::Error,
        "connections.site-b.children.net.local_ts[0]",
        23,
    );
    assert!(
        m.contains("10.1.0.0/24 overlaps remote_ts[0] 10.1.0.128/25"),
        "{m}"
    );
    assert!(m.contains("disjoint"), "{m}");
    // Different protocols do not overlap.
    let text = EXAMPLE
        .replace("[\"10.2.0.0/24\"]", "[\"10.1.0.0/24[tcp]\"]")
        .replace("[\"10.1.0.0/24\"]", "[\"10.1.0.0/24[udp]\"]");
    no_rule(&text, "ts-overlap");
}

#[test]
fn error_unknown_algorithm() {
    // A keyword strongSwan knows but ikev2d does not implement: a lint error.
    let text = EXAMPLE.replace("aes256-sha256-modp2048", "3des-sha256-modp2048");
    let m = only(
        &text,
        "unknown-algorithm",
        Severity::Error,
        "connections.site-b.proposals",
        12,
    );
    assert!(m.contains("does not implement 3des (3DES_CBC)"), "{m}");
    let text = EXAMPLE.replace("aes256gcm16-modp2048", "aes256ccm16-modp2048");
    let m = only(
        &text,
        "unknown-algorithm",
        Severity::Error,
        "connections.site-b.children.net.esp_proposals",
        25,
    );
    assert!(m.contains("aes256ccm16"), "{m}");
    // A keyword nobody knows: a load error with the same rule, ProposalError's text.
    let bad = EXAMPLE.replace("aes256gcm16-modp2048", "aes256gcm17-modp2048");
    let Err(ikev2d::config::LoadError::Invalid(f)) = DaemonConfig::parse(&bad, Path::new("."))
    else {
        panic!()
    };
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].rule, "unknown-algorithm");
    assert_eq!(
        f[0].path,
        "connections.site-b.children.net.esp_proposals[0]"
    );
    assert_eq!(f[0].line, Some(25));
    assert!(
        f[0].message
            .contains("unknown algorithm keyword 'aes256gcm17'"),
        "{}",
        f[0].message
    );
}

#[test]
fn error_connection_without_secret() {
    let text = EXAMPLE.replace("id     = \"198.51.100.2\"", "id     = \"192.0.2.99\"");
    let m = only(
        &text,
        "missing-secret",
        Severity::Error,
        "connections.site-b",
        9,
    );
    assert!(
        m.contains("no pre-shared key for local id 198.51.100.1 or remote id 198.51.100.2"),
        "{m}"
    );
    assert!(m.contains("[secrets.ike-site-b]"), "{m}");
    // A secret without owners applies to everyone.
    let text = EXAMPLE.replace("id     = \"198.51.100.2\"\n", "");
    no_rule(&text, "missing-secret");
    // Without any secrets section.
    let cut = EXAMPLE.find("[secrets").unwrap();
    only(
        &EXAMPLE[..cut],
        "missing-secret",
        Severity::Error,
        "connections.site-b",
        9,
    );
}

#[test]
fn warning_short_psk() {
    let text = EXAMPLE.replace("Xq7#vR2m-Lp9$wT4zK8!nB3hJ6@cF5dS", "Xq7#vR2m-Lp9");
    let m = only(
        &text,
        "weak-psk",
        Severity::Warning,
        "secrets.ike-site-b.secret",
        32,
    );
    assert!(
        m.contains("12 characters") && m.contains("at least 32 characters"),
        "{m}"
    );
    // Short binary keys too.
    let text = EXAMPLE.replace("Xq7#vR2m-Lp9$wT4zK8!nB3hJ6@cF5dS", "0x0011223344");
    let m = only(
        &text,
        "weak-psk",
        Severity::Warning,
        "secrets.ike-site-b.secret",
        32,
    );
    assert!(m.contains("only 5 octets"), "{m}");
    let text = EXAMPLE.replace(
        "Xq7#vR2m-Lp9$wT4zK8!nB3hJ6@cF5dS",
        "0x00112233445566778899aabbccddeeff",
    );
    no_rule(&text, "weak-psk");
}

#[test]
fn warning_psk_with_few_character_classes() {
    let text = EXAMPLE.replace(
        "Xq7#vR2m-Lp9$wT4zK8!nB3hJ6@cF5dS",
        "abcdefghijklmnopqrstuvwxyzabcdefgh",
    );
    let m = only(
        &text,
        "weak-psk",
        Severity::Warning,
        "secrets.ike-site-b.secret",
        32,
    );
    assert!(m.contains("34 characters and 1 character class"), "{m}");
    let text = EXAMPLE.replace(
        "Xq7#vR2m-Lp9$wT4zK8!nB3hJ6@cF5dS",
        "abcdefghijklmnopqrstuvwxyzABCDEF12",
    );
    no_rule(&text, "weak-psk");
}

#[test]
fn warning_ike_and_esp_encryption_strength_differ() {
    let text = EXAMPLE.replace("aes256gcm16-modp2048", "aes128gcm16-modp2048");
    let m = only(
        &text,
        "strength-mismatch",
        Severity::Warning,
        "connections.site-b.children.net.esp_proposals",
        25,
    );
    assert_eq!(
        m,
        "IKE proposal aes256-sha256-modp2048 (AES-256) and ESP proposal aes128gcm16-modp2048 \
         (AES-128) differ in encryption strength: a common interop trap, peers often configure \
         both alike"
    );
}

#[test]
fn warning_ike_and_esp_integrity_strength_differ() {
    let text = EXAMPLE.replace("aes256gcm16-modp2048", "aes256-sha512-modp2048");
    let m = only(
        &text,
        "strength-mismatch",
        Severity::Warning,
        "connections.site-b.children.net.esp_proposals",
        25,
    );
    assert!(
        m.contains("HMAC-SHA-256-128, 128-bit ICV") && m.contains("HMAC-SHA-512-256, 256-bit ICV"),
        "{m}"
    );
    assert!(m.contains("differ in integrity strength"), "{m}");
}

#[test]
fn warning_sha1() {
    let text = EXAMPLE.replace("aes256-sha256-modp2048", "aes256-sha1-modp2048");
    let m = only(
        &text,
        "weak-algorithm",
        Severity::Warning,
        "connections.site-b.proposals",
        12,
    );
    assert!(
        m.contains("sha1 (HMAC_SHA1_96)") && m.contains("prfsha1"),
        "{m}"
    );
}

#[test]
fn warning_modp_below_2048() {
    let text = EXAMPLE.replace("aes256gcm16-modp2048", "aes256gcm16-modp1536");
    let m = only(
        &text,
        "weak-algorithm",
        Severity::Warning,
        "connections.site-b.children.net.esp_proposals",
        25,
    );
    assert!(
        m.contains("modp1536") && m.contains("below 2048 bits"),
        "{m}"
    );
    // 2048 itself is fine.
    no_rule(EXAMPLE, "weak-algorithm");
}

#[test]
fn warning_mss_clamp_larger_than_mtu_allows() {
    let text = EXAMPLE.replace("mss_clamp = \"auto\"", "mss_clamp = 1380");
    let m = only(&text, "mtu-mss", Severity::Warning, "daemon.mss_clamp", 7);
    assert!(
        m.contains("mss_clamp 1380 with mtu 1400") && m.contains("at most 1360"),
        "{m}"
    );
    // IPv6 selectors need 60 octets of headers.
    let text = EXAMPLE
        .replace("mss_clamp = \"auto\"", "mss_clamp = 1350")
        .replace("[\"10.1.0.0/24\"]", "[\"2001:db8:1::/64\"]")
        .replace("[\"10.2.0.0/24\"]", "[\"2001:db8:2::/64\"]");
    let m = only(&text, "mtu-mss", Severity::Warning, "daemon.mss_clamp", 7);
    assert!(m.contains("IPv6") && m.contains("at most 1340"), "{m}");
    let text = EXAMPLE.replace("mss_clamp = \"auto\"", "mss_clamp = 1360");
    no_rule(&text, "mtu-mss");
}

#[test]
fn warning_mss_clamp_off_with_small_mtu() {
    let text = EXAMPLE.replace("mss_clamp = \"auto\"", "mss_clamp = \"off\"");
    let m = only(&text, "mtu-mss", Severity::Warning, "daemon.mss_clamp", 7);
    assert!(
        m.contains("MSS of 1460") && m.contains("mss_clamp = \"auto\""),
        "{m}"
    );
}

#[test]
fn warning_mtu_with_esp_overhead_exceeds_path() {
    let text = EXAMPLE.replace("mtu = 1400", "mtu = 1500");
    let m = only(&text, "mtu-mss", Severity::Warning, "daemon.mtu", 6);
    // 20 (IPv4) + 8 (UDP) + 8 (ESP) + 8 (IV) + 1500 + 2 (trailer) + 16 (ICV) = 1562
    // rounded to the 4-octet alignment: 1564; 1438 + 2 fits exactly.
    assert!(m.contains("becomes 1564 octets"), "{m}");
    assert!(m.contains("inner MTU to 1438"), "{m}");
    // CBC + HMAC has more overhead.
    let text = EXAMPLE
        .replace("mtu = 1400", "mtu = 1450")
        .replace("aes256gcm16-modp2048", "aes256-sha256-modp2048");
    let m = only(&text, "mtu-mss", Severity::Warning, "daemon.mtu", 6);
    assert!(m.contains("inner MTU to 1422"), "{m}");
    // The path is a setting: a 1300-octet path leaves 1238 under AES-GCM in UDP.
    let text = EXAMPLE.replace("mtu = 1400", "mtu = 1400\npath_mtu = 1300");
    let m = only(&text, "mtu-mss", Severity::Warning, "daemon.mtu", 6);
    assert!(
        m.contains("1300-octet path") && m.contains("inner MTU to 1238"),
        "{m}"
    );
}

#[test]
fn warning_keep_alive_longer_than_30s() {
    let text = EXAMPLE.replace("keep_alive = \"20s\"", "keep_alive = \"45s\"");
    let m = only(
        &text,
        "keep-alive",
        Severity::Warning,
        "daemon.keep_alive",
        5,
    );
    assert!(
        m.contains("keep_alive 45s is longer than 30s") && m.contains("NAT"),
        "{m}"
    );
    let text = EXAMPLE.replace("keep_alive = \"20s\"", "keep_alive = 30");
    no_rule(&text, "keep-alive");
    // A connection's own as well.
    let text = EXAMPLE.replace(
        "dpd_delay    = \"30s\"",
        "dpd_delay    = \"30s\"\nkeep_alive   = \"1m\"",
    );
    let m = only(
        &text,
        "keep-alive",
        Severity::Warning,
        "connections.site-b.keep_alive",
        15,
    );
    assert!(m.contains("keep_alive 1m is longer than 30s"), "{m}");
}

#[test]
fn extra_pfs_group_not_in_ike_proposals() {
    let text = EXAMPLE.replace("aes256gcm16-modp2048", "aes256gcm16-ecp384");
    let m = only(
        &text,
        "extra/pfs-group",
        Severity::Warning,
        "connections.site-b.children.net.esp_proposals",
        25,
    );
    assert!(m.contains("ECP_384") && m.contains("first rekey"), "{m}");
}

#[test]
fn extra_start_without_remote_addrs_is_an_error() {
    let text = EXAMPLE.replace("remote_addrs = [\"198.51.100.2\"]", "remote_addrs = []");
    let m = only(
        &text,
        "extra/no-remote-addrs",
        Severity::Error,
        "connections.site-b.children.net.start_action",
        27,
    );
    assert!(m.contains("remote_addrs is empty"), "{m}");
    let text = text.replace("start_action  = \"start\"", "start_action  = \"none\"");
    no_rule(&text, "extra/no-remote-addrs");
}

#[test]
fn extra_dpd_action_without_dpd_delay() {
    let text = EXAMPLE.replace("dpd_delay    = \"30s\"", "dpd_delay    = 0");
    let m = only(
        &text,
        "extra/dpd-disabled",
        Severity::Warning,
        "connections.site-b.children.net.dpd_action",
        28,
    );
    assert!(m.contains("dpd_delay is 0"), "{m}");
}

#[test]
fn extra_reauth_time_is_not_implemented() {
    let text = EXAMPLE.replace(
        "rekey_time   = \"4h\"",
        "rekey_time   = \"4h\"\nreauth_time = \"1d\"",
    );
    let m = only(
        &text,
        "extra/reauth",
        Severity::Warning,
        "connections.site-b.reauth_time",
        14,
    );
    assert!(m.contains("not implemented"), "{m}");
}

#[test]
fn errors_sort_before_warnings() {
    let text = EXAMPLE
        .replace("keep_alive = \"20s\"", "keep_alive = \"45s\"")
        .replace("[\"10.2.0.0/24\"]", "[\"10.1.0.0/24\"]");
    let f = findings(&text);
    assert_eq!(f.len(), 2);
    assert_eq!(f[0].severity, Severity::Error);
    assert_eq!(f[1].severity, Severity::Warning);
}

#[test]
fn responder_example_is_clean() {
    let text = include_str!("../data/responder.toml");
    assert_eq!(findings(text), vec![]);
    let cfg = DaemonConfig::parse(text, Path::new(".")).unwrap();
    let ep = cfg.to_endpoint_config();
    assert!(ep.connections[0].remote_addrs.is_empty());
    assert_eq!(ep.secrets[0].secret.len(), 32);
}

#[test]
fn missing_secret_with_remote_any() {
    // Remote %any: the key is picked by the peer's identity at run time, so a secret
    // owned by our identity (or by nobody) is enough.
    let base = "[connections.rw]\n[connections.rw.local]\nid = \"vpn.example.com\"\n";
    let ok = format!(
        "{base}[secrets.ike-a]\nid = \"vpn.example.com\"\nsecret = \"0x00112233445566778899aabbccddeeff\"\n"
    );
    no_rule(&ok, "missing-secret");
    let bad = format!(
        "{base}[secrets.ike-a]\nid = \"other.example.com\"\nsecret = \"0x00112233445566778899aabbccddeeff\"\n"
    );
    let m = only(&bad, "missing-secret", Severity::Error, "connections.rw", 1);
    assert!(m.contains("local id vpn.example.com"), "{m}");
}

/// A standby connection for site-b through a second gateway, with `extra` lines in
/// its table and its child's selectors.
fn with_standby(extra: &str, remote_ts: &str, start: &str) -> String {
    format!(
        "{EXAMPLE}
[connections.site-b-2]
local_addrs  = [\"198.51.100.1\"]
remote_addrs = [\"203.0.113.2\"]
dpd_delay    = \"30s\"
proposals    = [\"aes256-sha256-modp2048\"]
failover_of  = \"site-b\"
{extra}
[connections.site-b-2.remote]
id = \"203.0.113.2\"
[connections.site-b-2.children.net]
local_ts     = [\"10.1.0.0/24\"]
remote_ts    = [\"{remote_ts}\"]
esp_proposals = [\"aes256gcm16-modp2048\"]
start_action = \"{start}\"
dpd_action   = \"restart\"
[secrets.ike-site-b-2]
id     = \"203.0.113.2\"
secret = \"Yq7#vR2m-Lp9$wT4zK8!nB3hJ6@cF5dT\"
"
    )
}

#[test]
fn a_standby_pair_with_the_same_selectors_is_clean() {
    let text = with_standby(
        "standby = \"cold\"\npreempt = \"1m\"",
        "10.2.0.0/24",
        "none",
    );
    assert_eq!(findings(&text), vec![]);
    let cfg = DaemonConfig::parse(&text, Path::new(".")).unwrap();
    let sb = cfg.connections[1].standby.as_ref().expect("standby");
    assert_eq!(sb.of, "site-b");
    assert_eq!(sb.mode, ikev2d::config::StandbyMode::Cold);
    assert_eq!(sb.preempt, std::time::Duration::from_secs(60));
}

#[test]
fn extra_standby_selectors_and_start_action() {
    let text = with_standby("", "10.2.0.0/16", "none");
    let m = only(
        &text,
        "extra/standby-selectors",
        Severity::Warning,
        "connections.site-b-2.children.net",
        43,
    );
    assert!(m.contains("protects other traffic than site-b's"), "{m}");
    assert!(
        m.contains("10.2.0.0/16") && m.contains("10.2.0.0/24"),
        "{m}"
    );
    let text = with_standby("", "10.2.0.0/24", "start");
    let m = only(
        &text,
        "extra/standby-start-action",
        Severity::Warning,
        "connections.site-b-2.children.net.start_action",
        47,
    );
    assert!(
        m.contains("hot standby is brought up with its primary"),
        "{m}"
    );
}

#[test]
fn standby_settings_are_checked() {
    let err = |text: &str| match DaemonConfig::parse(text, Path::new(".")) {
        Err(ikev2d::config::LoadError::Invalid(f)) => f[0].message.clone(),
        other => panic!("expected an error: {other:?}"),
    };
    let m = err(&with_standby("", "10.2.0.0/24", "none")
        .replace("failover_of  = \"site-b\"", "failover_of  = \"site-x\""));
    assert!(m.contains("no connection named \"site-x\""), "{m}");
    let m = err(&with_standby("", "10.2.0.0/24", "none")
        .replace("failover_of  = \"site-b\"", "failover_of  = \"site-b-2\""));
    assert!(m.contains("cannot stand by for itself"), "{m}");
    let m = err(&with_standby("standby = \"warm\"", "10.2.0.0/24", "none"));
    assert!(m.contains("warm"), "{m}");
    let m = err(&EXAMPLE.replace(
        "encap        = false",
        "encap        = false\npreempt = \"1m\"",
    ));
    assert!(m.contains("preempt without failover_of"), "{m}");
}

#[test]
fn dns_names_in_remote_addrs() {
    let text = EXAMPLE.replace(
        "remote_addrs = [\"198.51.100.2\"]",
        "remote_addrs = [\"GW1.Site-B.example\", \"198.51.100.3\", \"198.51.100.0/28\"]",
    );
    assert_eq!(findings(&text), vec![]);
    let cfg = DaemonConfig::parse(&text, Path::new(".")).unwrap();
    let c = &cfg.connections[0];
    use ikev2d::config::RemoteHost;
    assert_eq!(
        c.remote_hosts,
        vec![
            RemoteHost::Name("gw1.site-b.example".into()),
            RemoteHost::Addr("198.51.100.3".parse().unwrap()),
        ]
    );
    assert_eq!(
        c.remote_addrs,
        vec!["198.51.100.3".parse::<std::net::IpAddr>().unwrap()]
    );
    assert_eq!(c.remote_ranges.len(), 1);
    let ep = c.to_ikev2();
    assert!(ep.has_names() && ep.remote_names() == ["gw1.site-b.example"]);
    // Without DPD a moved name goes unnoticed.
    let text = text.replace("dpd_delay    = \"30s\"", "dpd_delay    = 0");
    let m = only(
        &text,
        "extra/dns-without-dpd",
        Severity::Warning,
        "connections.site-b.remote_addrs",
        11,
    );
    assert!(m.contains("has a DNS name but dpd_delay is 0"), "{m}");
}

#[test]
fn warning_post_quantum_without_classic_fallback() {
    let hybrid = EXAMPLE.replace(
        "proposals    = [\"aes256-sha256-modp2048\"]",
        "proposals    = [\"aes256gcm16-prfsha384-x25519-ke1_mlkem768\"]",
    );
    let m = only(
        &hybrid,
        "extra/pq-no-classic-fallback",
        Severity::Warning,
        "connections.site-b.proposals",
        12,
    );
    assert!(
        m.contains("strongSwan 5.9") && m.contains("classic proposal"),
        "{m}"
    );
    // A classic fallback after it, or an optional additional exchange: fine.
    for ok in [
        "[\"aes256gcm16-prfsha384-x25519-ke1_mlkem768\", \"aes256gcm16-prfsha384-x25519\"]",
        "[\"aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke1_none\"]",
    ] {
        let text = EXAMPLE.replace(
            "proposals    = [\"aes256-sha256-modp2048\"]",
            &format!("proposals    = {ok}"),
        );
        no_rule(&text, "extra/pq-no-classic-fallback");
    }
}

#[test]
fn warning_additional_key_exchange_for_child_sas_without_pfs() {
    let text = EXAMPLE.replace(
        "esp_proposals = [\"aes256gcm16-modp2048\"]",
        "esp_proposals = [\"aes256gcm16-ke1_mlkem768\"]",
    );
    let m = only(
        &text,
        "extra/esp-additional-ke-without-pfs",
        Severity::Warning,
        "connections.site-b.children.net.esp_proposals",
        25,
    );
    assert!(
        m.contains("no PFS group") && m.contains("x25519-ke1_mlkem768"),
        "{m}"
    );
    // With a PFS group they run (IKE_FOLLOWUP_KE): nothing to say.
    let ok = EXAMPLE.replace(
        "esp_proposals = [\"aes256gcm16-modp2048\"]",
        "esp_proposals = [\"aes256gcm16-x25519-ke1_mlkem768\"]",
    );
    no_rule(&ok, "extra/esp-additional-ke-without-pfs");
}
