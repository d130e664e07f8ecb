//! Parsing the TOML configuration: the example, defaults, the mapping to
//! `ikev2::config::EndpointConfig`, and errors that name the key path and line.
#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use ikev2::config::{Childless, Fragmentation, Identity};
use ikev2::crypto::proposal::Proposal;
use ikev2::ts::TsSpec;
use ikev2::wire::ProtocolId;
use ikev2d::config::{
    DaemonConfig, Finding, KeepAlive, LoadError, LogLevel, MssClamp, PeerAction, Severity,
    StartAction,
};

const EXAMPLE: &str = include_str!("../data/site-b.toml");

fn parse(text: &str) -> Result<DaemonConfig, Vec<Finding>> {
    match DaemonConfig::parse(text, Path::new(".")) {
        Ok(c) => Ok(c),
        Err(LoadError::Invalid(f)) => Err(f),
        Err(e) => panic!("{e}"),
    }
}

fn errors(text: &str) -> Vec<Finding> {
    let f = parse(text).expect_err("config should be rejected");
    assert!(f.iter().all(|f| f.severity == Severity::Error));
    f
}

/// The single error, checked for path and line; returns its message.
fn one_error(text: &str, path: &str, line: usize) -> String {
    let f = errors(text);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].path, path, "{f:#?}");
    assert_eq!(f[0].line, Some(line), "{f:#?}");
    let shown = f[0].to_string();
    assert!(
        shown.starts_with(&format!("error: {path} (line {line}): ")),
        "{shown}"
    );
    f[0].message.clone()
}

const MINIMAL: &str = "\
[connections.c]
remote_addrs = [\"192.0.2.2\"]
[connections.c.children.k]
local_ts = [\"10.1.0.0/24\"]
";

#[test]
fn example_parses_and_has_no_findings() {
    let cfg = parse(EXAMPLE).unwrap();
    assert_eq!(ikev2d::config::lint::lint(&cfg), vec![]);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/site-b.toml");
    assert_eq!(DaemonConfig::check(path).unwrap(), vec![]);
}

#[test]
fn example_maps_onto_endpoint_config_field_by_field() {
    let cfg = parse(EXAMPLE).unwrap();
    let d = &cfg.daemon;
    assert_eq!(d.control_socket, Path::new("/run/ikev2d/ikev2d.sock"));
    assert_eq!(d.tun_name, "ipsec0");
    assert_eq!(d.mtu, 1400);
    assert_eq!(d.mss_clamp, MssClamp::Auto);

    let ep = cfg.to_endpoint_config();
    assert_eq!(ep.keep_alive, Duration::from_secs(20));
    assert_eq!(ep.cookie_threshold, 10);
    assert_eq!(ep.block_threshold, 5);
    assert_eq!(ep.half_open_timeout, Duration::from_secs(30));
    assert_eq!(ep.fragment_size, 1280);
    assert_eq!(ep.max_packet, 10_000);
    assert_eq!(ep.retransmit, ikev2::config::RetransmitConfig::default());
    assert_eq!(ep.connections.len(), 1);
    let c = &ep.connections[0];
    assert_eq!(c.name, "site-b");
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert_eq!(c.local_addrs, vec![ip("198.51.100.1")]);
    assert_eq!(c.remote_addrs, vec![ip("198.51.100.2")]);
    assert_eq!((c.local_port, c.remote_port), (500, 500));
    assert_eq!(c.local_id, "198.51.100.1".parse::<Identity>().unwrap());
    assert_eq!(c.remote_id, "198.51.100.2".parse::<Identity>().unwrap());
    assert_eq!(
        c.proposals,
        Proposal::parse_list(ProtocolId::IKE, "aes256-sha256-modp2048").unwrap()
    );
    assert!(!c.encap);
    assert_eq!(c.fragmentation, Fragmentation::Yes);
    assert_eq!(c.childless, Childless::Allow);
    assert_eq!(c.rekey_time, Duration::from_secs(4 * 3600));
    assert_eq!(c.dpd_delay, Duration::from_secs(30));
    assert_eq!(c.children.len(), 1);
    let k = &c.children[0];
    assert_eq!(k.name, "net");
    assert_eq!(k.local_ts, vec!["10.1.0.0/24".parse::<TsSpec>().unwrap()]);
    assert_eq!(k.remote_ts, vec!["10.2.0.0/24".parse::<TsSpec>().unwrap()]);
    assert_eq!(
        k.esp_proposals,
        Proposal::parse_list(ProtocolId::ESP, "aes256gcm16-modp2048").unwrap()
    );
    assert_eq!(k.rekey_time, Duration::from_secs(3600));
    assert_eq!(k.life_time, Duration::from_secs(3960));
    assert_eq!(ep.secrets.len(), 1);
    assert_eq!(ep.secrets[0].ids, vec![ip("198.51.100.2").into()]);
    assert_eq!(
        ep.secrets[0].secret.expose(),
        b"Xq7#vR2m-Lp9$wT4zK8!nB3hJ6@cF5dS"
    );
    // The PSK is found for the connection's identities.
    assert!(ep.find_psk(&c.local_id, &c.remote_id).is_some());

    // Daemon-only child settings.
    let child = &cfg.connections[0].children[0];
    assert_eq!(child.start_action, StartAction::Start);
    assert_eq!(child.dpd_action, PeerAction::Restart);
    assert_eq!(child.close_action, PeerAction::None);
}

#[test]
fn defaults_follow_swanctl() {
    let cfg = parse(MINIMAL).unwrap();
    let d = &cfg.daemon;
    // strongSwan's 20 s to begin with, lowered when a NAT forgets us sooner.
    assert_eq!(d.keep_alive, KeepAlive::Auto);
    assert_eq!(d.keep_alive.start(), Duration::from_secs(20));
    assert_eq!(d.mtu, 1400);
    assert_eq!(d.log_level, LogLevel::Info);
    let c = &cfg.connections[0];
    assert_eq!(c.version, 2);
    assert_eq!(c.proposals, Proposal::defaults(ProtocolId::IKE));
    assert_eq!(c.keyingtries, 1);
    assert_eq!(c.rekey_time, Duration::from_secs(14400));
    assert_eq!(c.reauth_time, Duration::ZERO);
    assert_eq!(c.over_time, Duration::from_secs(1440));
    assert_eq!(c.rand_time, Duration::from_secs(1440));
    assert_eq!(c.dpd_delay, Duration::ZERO);
    assert_eq!(c.dpd_timeout, None);
    assert_eq!(c.local.id, Identity::Any);
    let k = &c.children[0];
    assert_eq!(k.remote_ts, ikev2::config::ChildConfig::new("x").remote_ts);
    assert_eq!(
        k.esp_proposals,
        Proposal::implicit_defaults(ProtocolId::ESP)
    );
    assert_eq!(k.life_time, Duration::from_secs(3960));
    assert_eq!(k.rand_time, Duration::from_secs(360));
    assert_eq!(k.replay_window, 32);
    assert_eq!((k.rekey_bytes, k.rekey_packets), (0, 0));
    assert_eq!(k.start_action, StartAction::None);
    assert_eq!(k.dpd_action, PeerAction::Clear);
}

#[test]
fn every_swanctl_key_is_accepted() {
    let text = "\
[daemon]
log_level = \"debug\"
retransmit_timeout = \"2s\"
retransmit_base = 1.5
retransmit_tries = 3
retransmit_limit = \"30s\"
fragment_size = 1400
max_packet = 20000
cookie_threshold = 0
block_threshold = 3
init_limit_half_open = 50
half_open_timeout = 20
mss_clamp = 1300
[connections.c]
version = 2
local_addrs = [\"192.0.2.1\"]
remote_addrs = [\"192.0.2.2, 192.0.2.3\"]
local_port = 4500
remote_port = 4501
encap = true
fragmentation = \"accept\"
childless = \"prefer\"
keyingtries = 0
rekey_time = 3600
reauth_time = 0
over_time = \"5m\"
rand_time = \"1m\"
[connections.c.children.k]
mode = \"tunnel\"
life_time = \"2h\"
rand_time = \"10m\"
rekey_bytes = 1000000
rekey_packets = 5000
replay_window = 64
close_action = \"start\"
mtu = 1300
";
    let cfg = parse(text).unwrap();
    let d = &cfg.daemon;
    assert_eq!(d.retransmit.timeout, Duration::from_secs(2));
    assert_eq!(d.retransmit.base, 1.5);
    assert_eq!(d.retransmit.tries, 3);
    assert_eq!(d.retransmit.limit, Some(Duration::from_secs(30)));
    assert_eq!(d.cookie_threshold, usize::MAX);
    assert_eq!(d.half_open_timeout, Duration::from_secs(20));
    assert_eq!(d.mss_clamp, MssClamp::Fixed(1300));
    let c = &cfg.connections[0];
    assert_eq!(c.remote_addrs.len(), 2);
    assert_eq!((c.local_port, c.remote_port), (4500, 4501));
    assert!(c.encap);
    assert_eq!(c.fragmentation, Fragmentation::Accept);
    assert_eq!(c.childless, Childless::Prefer);
    assert_eq!(c.keyingtries, 0);
    assert_eq!(c.over_time, Duration::from_secs(300));
    let k = &c.children[0];
    assert_eq!(k.life_time, Duration::from_secs(7200));
    assert_eq!(k.rekey_bytes, 1_000_000);
    assert_eq!(k.life_bytes, 1_100_000);
    assert_eq!(k.rekey_packets, 5000);
    assert_eq!(k.replay_window, 64);
    assert_eq!(k.close_action, PeerAction::Restart);
    assert_eq!(k.mtu, Some(1300));
    let ep = cfg.to_endpoint_config();
    assert_eq!(ep.half_open_limit, 50);
    assert_eq!(
        ep.connections[0].children[0].life_time,
        Duration::from_secs(7200)
    );
}

#[test]
fn connections_and_children_keep_file_order() {
    let text = "\
[connections.zeta]
[connections.zeta.children.b]
[connections.zeta.children.a]
[connections.alpha]
";
    let cfg = parse(text).unwrap();
    let names: Vec<_> = cfg.connections.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["zeta", "alpha"]);
    let kids: Vec<_> = cfg.connections[0]
        .children
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(kids, ["b", "a"]);
}

#[test]
fn unknown_key_error_names_the_key_and_its_line() {
    let text = EXAMPLE.replace(
        "encap        = false",
        "encap        = false\nremote_adrs = []",
    );
    let m = one_error(&text, "connections.site-b.remote_adrs", 16);
    assert!(m.contains("unknown key `remote_adrs`"), "{m}");
    assert!(
        m.contains("remote_addrs"),
        "the expected keys are listed: {m}"
    );

    let m = one_error("[daemon]\n\nmtu = 1400\ntun = \"x\"\n", "daemon.tun", 4);
    assert!(m.contains("unknown key `tun`"), "{m}");

    let text = EXAMPLE.replace(
        "start_action  = \"start\"",
        "start_action  = \"start\"\nauto = \"start\"",
    );
    let m = one_error(&text, "connections.site-b.children.net.auto", 28);
    assert!(m.contains("`auto`"), "{m}");

    let m = one_error("[bogus]\nx = 1\n", "bogus", 1);
    assert!(m.contains("unknown key `bogus`"), "{m}");

    let text = EXAMPLE.replace("secret = ", "pin = \"1\"\nsecret = ");
    let m = one_error(&text, "secrets.ike-site-b.pin", 32);
    assert!(m.contains("unknown key `pin`"), "{m}");
}

#[test]
fn unsupported_strongswan_keys_say_so() {
    let m = one_error(
        "[connections.c]\nmobike = true\n",
        "connections.c.mobike",
        2,
    );
    assert!(
        m.contains("strongSwan key that ikev2d does not support") && m.contains("MOBIKE"),
        "{m}"
    );
    let m = one_error(
        "[connections.c]\n[connections.c.children.k]\nupdown = \"/x\"\n",
        "connections.c.children.k.updown",
        3,
    );
    assert!(m.contains("updown"), "{m}");
    let m = one_error("[connections.c]\nversion = 1\n", "connections.c.version", 2);
    assert!(m.contains("IKEv2 only"), "{m}");
    let m = one_error(
        "[connections.c]\n[connections.c.children.k]\nmode = \"transport\"\n",
        "connections.c.children.k.mode",
        3,
    );
    assert!(m.contains("tunnel mode only"), "{m}");
    let m = one_error(
        "[connections.c]\nfragmentation = \"force\"\n",
        "connections.c.fragmentation",
        2,
    );
    assert!(m.contains("IKEv1-only"), "{m}");
    let m = one_error(
        "[connections.c.local]\nauth = \"eap-mschapv2\"\n",
        "connections.c.local.auth",
        2,
    );
    assert!(
        m.contains("not supported") && m.contains("auth = \"pubkey\""),
        "{m}"
    );
    let m = one_error("[secrets.eap-x]\nsecret = \"x\"\n", "secrets.eap-x", 1);
    assert!(m.contains("only IKE pre-shared keys"), "{m}");
}

#[test]
fn semantic_errors_name_the_key_path_and_line() {
    let m = one_error(
        &EXAMPLE.replace("[\"198.51.100.2\"]", "[\"198.51.100.300\"]"),
        "connections.site-b.remote_addrs[0]",
        11,
    );
    assert!(m.contains("invalid IP address \"198.51.100.300\""), "{m}");

    let m = one_error(
        &EXAMPLE.replace("aes256-sha256-modp2048", "aes256-sha265-modp2048"),
        "connections.site-b.proposals[0]",
        12,
    );
    assert!(m.contains("unknown algorithm keyword 'sha265'"), "{m}");
    assert!(
        m.contains("did you mean 'sha256'"),
        "ProposalError's hint is kept: {m}"
    );

    let m = one_error(
        &EXAMPLE.replace("[\"10.2.0.0/24\"]", "[\"10.2.0.0/24\", \"10.3.0.0/99\"]"),
        "connections.site-b.children.net.remote_ts[1]",
        24,
    );
    assert!(m.contains("/99"), "{m}");

    let m = one_error(
        &EXAMPLE.replace("\"1h\"", "\"1hour\""),
        "connections.site-b.children.net.rekey_time",
        26,
    );
    assert!(m.contains("invalid duration \"1hour\""), "{m}");

    let m = one_error(
        &EXAMPLE.replace("id   = \"198.51.100.2\"", "id   = \"@#xyz\""),
        "connections.site-b.remote.id",
        21,
    );
    assert!(m.contains("invalid hex in identity"), "{m}");

    let m = one_error(
        &EXAMPLE.replace("\"restart\"", "\"reboot\""),
        "connections.site-b.children.net.dpd_action",
        28,
    );
    assert!(
        m.contains("expected one of clear, none, trap, restart"),
        "{m}"
    );

    let m = one_error(&EXAMPLE.replace("mtu = 1400", "mtu = 100"), "daemon.mtu", 6);
    assert!(m.contains("out of range"), "{m}");

    let m = one_error(
        &EXAMPLE.replace("\"auto\"        #", "\"on\" #"),
        "daemon.mss_clamp",
        7,
    );
    assert!(m.contains("\"auto\""), "{m}");

    // A wrong type is a syntax error that still names key and line.
    let m = one_error(
        &EXAMPLE.replace("encap        = false", "encap        = \"no\""),
        "connections.site-b.encap",
        15,
    );
    assert!(m.contains("bool"), "{m}");
}

#[test]
fn several_errors_are_all_reported_in_line_order() {
    let text = EXAMPLE
        .replace("\"1h\"", "\"1x\"")
        .replace("[\"198.51.100.1\"]", "[\"nope\"]");
    let f = errors(&text);
    let lines: Vec<_> = f.iter().map(|f| f.line.unwrap()).collect();
    assert_eq!(lines, [10, 26]);
}

#[test]
fn durations_accept_integers_and_units() {
    for (v, secs) in [
        ("45", 45),
        ("\"45\"", 45),
        ("\"30s\"", 30),
        ("\"10m\"", 600),
        ("\"1h\"", 3600),
        ("\"1d\"", 86400),
    ] {
        let cfg = parse(&format!("[daemon]\nkeep_alive = {v}\n")).unwrap();
        assert_eq!(
            cfg.daemon.keep_alive,
            KeepAlive::Every(Duration::from_secs(secs)),
            "{v}"
        );
    }
    let m = one_error("[daemon]\nkeep_alive = -1\n", "daemon.keep_alive", 2);
    assert!(m.contains("negative"), "{m}");
    let m = one_error("[daemon]\nkeep_alive = \"often\"\n", "daemon.keep_alive", 2);
    assert!(m.contains("often"), "{m}");
    let cfg = parse(&format!(
        "[daemon]\nkeep_alive = \"45s\"\n{}",
        MINIMAL.replace(
            "[connections.c]\n",
            "[connections.c]\nkeep_alive = \"auto\"\n"
        )
    ))
    .unwrap();
    assert_eq!(
        cfg.daemon.keep_alive,
        KeepAlive::Every(Duration::from_secs(45))
    );
    assert_eq!(cfg.connections[0].keep_alive, Some(KeepAlive::Auto));
}

#[test]
fn mss_clamp_forms() {
    let m = |v: &str| {
        parse(&format!("[daemon]\nmss_clamp = {v}\n"))
            .unwrap()
            .daemon
            .mss_clamp
    };
    assert_eq!(m("\"auto\""), MssClamp::Auto);
    assert_eq!(m("\"off\""), MssClamp::Off);
    assert_eq!(m("1360"), MssClamp::Fixed(1360));
}

#[test]
fn secret_forms_and_identities() {
    let text = "\
[secrets.ike-a]
id-1 = \"a.example\"
id-peer = \"192.0.2.2\"
secret = \"0x0102030405\"
[secrets.ike-b]
ids = [\"b.example\", \"%any\"]
secret = \"0sAQIDBA==\"
[secrets.ike]
secret = \"plain\"
";
    let cfg = parse(text).unwrap();
    assert_eq!(cfg.secrets.len(), 3);
    assert_eq!(cfg.secrets[0].ids.len(), 2);
    assert_eq!(cfg.secrets[0].secret.expose(), [1, 2, 3, 4, 5]);
    assert_eq!(
        cfg.secrets[1].ids,
        vec![Identity::Fqdn("b.example".into()), Identity::Any]
    );
    assert_eq!(cfg.secrets[1].secret.expose(), [1, 2, 3, 4]);
    assert!(cfg.secrets[2].ids.is_empty());
    assert_eq!(cfg.secrets[2].secret.expose(), b"plain");

    let m = one_error("[secrets.ike-a]\nid = \"x\"\n", "secrets.ike-a", 1);
    assert!(m.contains("no secret"), "{m}");
    let m = one_error(
        "[secrets.ike-a]\nsecret = \"0xzz\"\n",
        "secrets.ike-a.secret",
        2,
    );
    assert!(m.contains("not valid hex"), "{m}");
}

#[test]
fn secrets_never_appear_in_errors_or_debug() {
    let secret = "Sup3r-Secret-Value-0123456789-abcdef";
    let cfg = parse(&EXAMPLE.replace("Xq7#vR2m-Lp9$wT4zK8!nB3hJ6@cF5dS", secret)).unwrap();
    assert!(!format!("{cfg:?}").contains(secret));
    assert!(!format!("{:?}", cfg.to_endpoint_config()).contains(secret));
    // A bad value next to a secret: the error does not quote the secret.
    let bad = format!("[secrets.ike-a]\nsecret = \"0x{secret}\"\n");
    let f = errors(&bad);
    assert!(f.iter().all(|f| !f.to_string().contains(secret)), "{f:#?}");
    let bad = format!("[secrets.ike-a]\nsecret = \"{secret}\"\nsecret_file = \"/nonexistent\"\n");
    let f = errors(&bad);
    assert!(f.iter().all(|f| !f.to_string().contains(secret)), "{f:#?}");
}

#[cfg(unix)]
#[test]
fn secret_file_is_read_trimmed_and_must_be_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("psk.txt");
    std::fs::write(&key, "Xq7#vR2m-Lp9$wT4zK8!nB3hJ6@cF5dS\n").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let conf = dir.path().join("ikev2d.toml");
    let text = EXAMPLE.replace(
        "secret = \"Xq7#vR2m-Lp9$wT4zK8!nB3hJ6@cF5dS\"",
        "secret_file = \"psk.txt\"",
    );
    std::fs::write(&conf, &text).unwrap();
    let cfg = DaemonConfig::load(&conf).unwrap();
    assert_eq!(
        cfg.secrets[0].secret.expose(),
        b"Xq7#vR2m-Lp9$wT4zK8!nB3hJ6@cF5dS"
    );
    assert_eq!(ikev2d::config::lint::lint(&cfg), vec![]);

    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let Err(LoadError::Invalid(f)) = DaemonConfig::load(&conf) else {
        panic!("a group/other-readable secret_file must be refused")
    };
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].path, "secrets.ike-site-b.secret_file");
    assert_eq!(f[0].line, Some(32));
    assert!(
        f[0].message.contains("mode 644") && f[0].message.contains("chmod 600"),
        "{}",
        f[0].message
    );
}

#[test]
fn unknown_key_named_like_its_table() {
    let m = one_error("[connections.a]\na = 1\n", "connections.a.a", 2);
    assert!(m.contains("unknown key `a`"), "{m}");
    let m = one_error(
        "[connections.a.locals]\nid = \"x\"\n",
        "connections.a.locals",
        1,
    );
    assert!(m.contains("unknown key `locals`"), "{m}");
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn arbitrary_text(s in "\\PC{0,200}") {
            let _ = DaemonConfig::parse(&s, Path::new("."));
        }

        #[test]
        fn example_with_a_line_replaced(line in 0usize..33, text in "[a-z_\\[\\]=\" 0-9.-]{0,40}") {
            let mut lines: Vec<&str> = EXAMPLE.lines().collect();
            if line < lines.len() {
                lines[line] = &text;
            }
            let joined = lines.join("\n");
            if let Ok(cfg) = DaemonConfig::parse(&joined, Path::new(".")) {
                let _ = ikev2d::config::lint::lint(&cfg);
                let _ = cfg.to_endpoint_config();
            }
        }
    }
}

#[test]
fn mss_clamp_and_path_mtu_are_parsed() {
    use ikev2d::config::MssClamp;
    use ikev2d::runtime::dataplane::MssPolicy;
    let d = parse(EXAMPLE).unwrap().daemon;
    assert_eq!(d.mss_clamp, MssClamp::Auto);
    assert_eq!(d.path_mtu, 1500);
    assert_eq!(MssPolicy::from(d.mss_clamp).mss(d.mtu, false), Some(1360));
    assert_eq!(MssPolicy::from(d.mss_clamp).mss(d.mtu, true), Some(1340));
    let d = parse("[daemon]\nmss_clamp = \"off\"\npath_mtu = 1300\n")
        .unwrap()
        .daemon;
    assert_eq!(MssPolicy::from(d.mss_clamp).mss(1400, false), None);
    assert_eq!(d.path_mtu, 1300);
    let d = parse("[daemon]\nmss_clamp = 1380\n").unwrap().daemon;
    // A fixed value is a ceiling: never above what the inner MTU allows.
    assert_eq!(MssPolicy::from(d.mss_clamp).mss(1400, false), Some(1360));
    assert_eq!(MssPolicy::from(d.mss_clamp).mss(1500, false), Some(1380));
    assert!(parse("[daemon]\npath_mtu = 500\n").is_err());
}

#[test]
fn dpd_timeout_bounds_liveness_checks() {
    let text = EXAMPLE.replace(
        "dpd_delay    = \"30s\"",
        "dpd_delay    = \"30s\"\ndpd_timeout  = \"15s\"",
    );
    let cfg = parse(&text).unwrap();
    assert_eq!(
        cfg.connections[0].dpd_timeout,
        Some(Duration::from_secs(15))
    );
    let e = cfg.to_endpoint_config();
    assert_eq!(e.connections[0].dpd_bound(), Duration::from_secs(15));
    // Without it: 5 x dpd_delay.
    let e = parse(EXAMPLE).unwrap().to_endpoint_config();
    assert_eq!(e.connections[0].dpd_bound(), Duration::from_secs(150));
}

#[test]
fn a_connection_keep_alive_overrides_the_daemons() {
    let text = EXAMPLE.replace(
        "dpd_delay    = \"30s\"",
        "dpd_delay    = \"30s\"\nkeep_alive   = \"10s\"",
    );
    let e = parse(&text).unwrap().to_endpoint_config();
    assert_eq!(e.connections[0].keep_alive, Some(Duration::from_secs(10)));
    assert_eq!(e.keep_alive, Duration::from_secs(20));
    let e = parse(EXAMPLE).unwrap().to_endpoint_config();
    assert_eq!(e.connections[0].keep_alive, None);
}
