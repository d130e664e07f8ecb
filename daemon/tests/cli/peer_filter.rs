//! `[daemon] allowed_peers` and `remote_addrs`: who may talk IKE to the gateway.

use std::net::IpAddr;
use std::path::Path;

use ikev2d::config::{DaemonConfig, in_prefix};
use ikev2d::runtime::supervisor::peer_allowed;

const CONN: &str = r#"
[connections.site]
local_addrs  = ["192.0.2.1"]
remote_addrs = ["198.51.100.2"]
[connections.site.local]
id = "192.0.2.1"
[connections.site.remote]
id = "198.51.100.2"
[connections.site.children.net]
local_ts  = ["10.1.0.0/24"]
remote_ts = ["10.2.0.0/24"]
[connections.road]
local_addrs = ["192.0.2.1"]
[connections.road.local]
id = "192.0.2.1"
[connections.road.remote]
id = "%any"
[connections.road.children.net]
local_ts  = ["10.1.0.0/24"]
remote_ts = ["10.3.0.0/24"]
[secrets.ike-a]
id = "198.51.100.2"
secret = "Xq7#vR2m-Lp9$wT4zK8!nB3hJ6@cF5dS"
"#;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}

fn load(daemon: &str, conns: &str) -> DaemonConfig {
    DaemonConfig::parse(&format!("[daemon]\n{daemon}\n{conns}"), Path::new("."))
        .unwrap_or_else(|e| panic!("{e:?}"))
}

#[test]
fn prefixes_match_their_family_and_bits() {
    assert!(in_prefix(ip("203.0.113.77"), (ip("203.0.113.0"), 24)));
    assert!(!in_prefix(ip("203.0.114.1"), (ip("203.0.113.0"), 24)));
    assert!(in_prefix(ip("10.9.8.7"), (ip("0.0.0.0"), 0)));
    assert!(in_prefix(ip("2001:db8::5"), (ip("2001:db8::"), 32)));
    assert!(!in_prefix(ip("2001:db9::5"), (ip("2001:db8::"), 32)));
    assert!(!in_prefix(
        ip("::ffff:203.0.113.1"),
        (ip("203.0.113.0"), 24)
    ));
    assert!(!in_prefix(ip("203.0.113.1"), (ip("::"), 0)));
}

#[test]
fn allowed_peers_limit_even_any_connections() {
    // Without allowed_peers the %any connection admits everyone.
    let open = load("", CONN);
    assert!(peer_allowed(&open, ip("198.51.100.2")));
    assert!(peer_allowed(&open, ip("203.0.113.9")));
    // With it, only listed ranges get through, whatever the connections say.
    let closed = load(
        r#"allowed_peers = ["198.51.100.0/24", "2001:db8::/32"]"#,
        CONN,
    );
    assert!(peer_allowed(&closed, ip("198.51.100.2")));
    assert!(
        peer_allowed(&closed, ip("198.51.100.77")),
        "road warriors in the range"
    );
    assert!(!peer_allowed(&closed, ip("203.0.113.9")));
    assert!(peer_allowed(&closed, ip("2001:db8::1")));
}

#[test]
fn without_an_any_connection_only_remote_addrs_get_through() {
    let site_only = CONN
        .split("[connections.road]")
        .next()
        .expect("site part")
        .to_owned()
        + "[secrets.ike-a]\nid = \"198.51.100.2\"\nsecret = \"Xq7#vR2m-Lp9$wT4zK8!nB3hJ6@cF5dS\"\n";
    let cfg = load("", &site_only);
    assert!(peer_allowed(&cfg, ip("198.51.100.2")));
    assert!(!peer_allowed(&cfg, ip("198.51.100.3")));
}

/// A DNS name in remote_addrs admits what it resolved to, and nobody before.
#[test]
fn a_dns_name_admits_what_it_resolved_to() {
    let named = CONN
        .split("[connections.road]")
        .next()
        .expect("site part")
        .replace("\"198.51.100.2\"]", "\"gw.site-b.example\"]")
        + "[secrets.ike-a]\nid = \"198.51.100.2\"\nsecret = \"Xq7#vR2m-Lp9$wT4zK8!nB3hJ6@cF5dS\"\n";
    let cfg = load("", &named);
    assert!(
        cfg.connections[0].remote_addrs.is_empty() && !cfg.connections[0].remote_hosts.is_empty(),
        "{named}"
    );
    assert!(!peer_allowed(&cfg, ip("198.51.100.2")));
    let allowed = |a: &str| {
        ikev2d::runtime::supervisor::peer_allowed_with(
            &cfg,
            |_| false,
            &|n| (n == "gw.site-b.example").then(|| vec![ip("198.51.100.9")]),
            ip(a),
        )
    };
    assert!(allowed("198.51.100.9"));
    assert!(!allowed("198.51.100.2"));
}

#[test]
fn bad_entries_are_errors_naming_key_and_line() {
    let err = DaemonConfig::parse(
        &format!("[daemon]\nallowed_peers = [\"198.51.100.0/33\", \"nonsense\"]\n{CONN}"),
        Path::new("."),
    )
    .expect_err("invalid");
    let text = format!("{err:?}");
    assert!(text.contains("daemon.allowed_peers[0]"), "{text}");
    assert!(text.contains("daemon.allowed_peers[1]"), "{text}");
    assert!(text.contains("0 to 32"), "{text}");
}

#[test]
fn remote_addrs_ranges_admit_their_peers_only() {
    let cfg = load(
        "",
        r#"
[connections.branches]
local_addrs  = ["192.0.2.1"]
remote_addrs = ["198.51.100.0/24", "2001:db8:5::/48", "203.0.113.7"]
[connections.branches.local]
id = "192.0.2.1"
[connections.branches.children.net]
local_ts  = ["10.1.0.0/24"]
remote_ts = ["10.2.0.0/16"]
[secrets.ike-a]
id = "192.0.2.1"
secret = "Xq7#vR2m-Lp9$wT4zK8!nB3hJ6@cF5dS"
"#,
    );
    let c = &cfg.connections[0];
    assert_eq!(c.remote_addrs, vec![ip("203.0.113.7")]);
    assert_eq!(
        c.remote_ranges,
        vec![(ip("198.51.100.0"), 24), (ip("2001:db8:5::"), 48)]
    );
    assert!(peer_allowed(&cfg, ip("198.51.100.200")));
    assert!(peer_allowed(&cfg, ip("::ffff:198.51.100.200")));
    assert!(peer_allowed(&cfg, ip("2001:db8:5::9")));
    assert!(peer_allowed(&cfg, ip("203.0.113.7")));
    assert!(!peer_allowed(&cfg, ip("203.0.113.8")));
    assert!(!peer_allowed(&cfg, ip("198.51.101.1")));
    // the ikev2 side sees the ranges too (responder matching)
    assert_eq!(c.to_ikev2().remote_ranges, c.remote_ranges);
}

#[test]
fn inactive_break_glass_connections_admit_nobody() {
    let h = ikev2d::runtime::breakglass::hash_half("x").expect("hash");
    let cfg = load(
        "",
        &format!(
            r#"
[connections.bg]
local_addrs  = ["192.0.2.1"]
remote_addrs = ["198.51.100.2"]
break_glass = true
break_glass_hashes = ["{h}", "{h}"]
[connections.bg.local]
id = "192.0.2.1"
[connections.bg.remote]
id = "198.51.100.2"
[connections.bg.children.net]
local_ts  = ["10.1.0.0/24"]
remote_ts = ["10.2.0.0/16"]
"#
        ),
    );
    assert!(!peer_allowed(&cfg, ip("198.51.100.2")));
    assert!(ikev2d::runtime::supervisor::peer_allowed_with(
        &cfg,
        |c| c == "bg",
        &|_| None,
        ip("198.51.100.2")
    ));
    assert!(cfg.to_endpoint_config().connections.is_empty());
}

#[test]
fn an_activation_never_changes_another_tunnels_key() {
    use ikev2::config::Identity;
    use ikev2::crypto::secret::SecretBytes;
    let h = ikev2d::runtime::breakglass::hash_half("x").expect("hash");
    let cfg = load(
        "",
        &format!(
            r#"
[connections.bg]
local_addrs  = ["192.0.2.1"]
remote_addrs = ["198.51.100.2"]
break_glass = true
break_glass_hashes = ["{h}", "{h}"]
[connections.bg.local]
id = "192.0.2.1"
[connections.bg.remote]
id = "198.51.100.2"
[connections.bg.children.net]
local_ts  = ["10.1.0.0/24"]
remote_ts = ["10.2.0.0/16"]
[connections.road]
local_addrs = ["192.0.2.1"]
[connections.road.local]
id = "192.0.2.1"
[connections.road.children.net]
local_ts  = ["10.1.0.0/24"]
remote_ts = ["10.3.0.0/16"]
[secrets.ike-road]
id = "192.0.2.1"
secret = "Xq7#vR2m-Lp9$wT4zK8!nB3hJ6@cF5dS"
"#
        ),
    );
    let active = [("bg".to_owned(), SecretBytes::from_slice(b"half1half2"))].into();
    let ep = cfg.to_endpoint_config_with(&active);
    assert_eq!(ep.connections.len(), 2);
    let me = Identity::from(ip("192.0.2.1"));
    let psk = |other: &str| {
        ep.find_psk(&me, &Identity::from(ip(other)))
            .map(|s| s.expose().to_vec())
    };
    // the break-glass peer gets the joined halves
    assert_eq!(psk("198.51.100.2").as_deref(), Some(&b"half1half2"[..]));
    // a road warrior still gets the road key
    assert_eq!(
        psk("203.0.113.5").as_deref(),
        Some(&b"Xq7#vR2m-Lp9$wT4zK8!nB3hJ6@cF5dS"[..])
    );
}
