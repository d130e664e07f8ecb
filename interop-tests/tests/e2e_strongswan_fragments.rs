//! IKE fragmentation (RFC 7383) against strongSwan in both directions: strongSwan
//! splits its messages into 200-octet fragments, ikev2d (576 octets, its minimum)
//! splits an IKE_AUTH request that a long ESP proposal list makes bigger than that.

use std::time::Duration;

use interop_tests::prereq::{ikev2d_binary, require_root, require_strongswan, require_tun};
use interop_tests::topology::{INNER_A, INNER_B};
use interop_tests::{
    Charon, CharonOptions, ConnSpec, Ikev2d, Ikev2dConfig, Pair, TimeBound, ping, ping_until,
    require,
};

/// Enough ESP proposals to make the IKE_AUTH request larger than 576 octets.
const ESP_LIST: [&str; 16] = [
    "aes256gcm16",
    "aes192gcm16",
    "aes128gcm16",
    "aes256gcm12",
    "aes128gcm12",
    "aes256gcm8",
    "chacha20poly1305",
    "aes256-sha512",
    "aes256-sha384",
    "aes256-sha256",
    "aes192-sha512",
    "aes192-sha384",
    "aes192-sha256",
    "aes128-sha512",
    "aes128-sha384",
    "aes128-sha256",
];

#[test]
fn fragments_both_ways_with_strongswan() {
    require!(
        require_root(),
        require_tun(),
        require_strongswan(),
        ikev2d_binary()
    );
    let _bound = TimeBound::new(
        "fragments_both_ways_with_strongswan",
        Duration::from_secs(90),
    );
    let net = Pair::new();
    let mut conn = ConnSpec::site_a();
    conn.children[0].esp_proposals = ESP_LIST.iter().map(|p| (*p).to_owned()).collect();
    let charon = Charon::start_with(
        &net.b,
        &[conn.mirrored()],
        &CharonOptions {
            fragment_size: Some(200),
            ..CharonOptions::default()
        },
    );
    let mut cfg = Ikev2dConfig::new(vec![conn]);
    cfg.fragment_size = Some(576);
    let ikev2d = Ikev2d::start(&net.a, &cfg);
    let up = ikev2d.up("lab", Duration::from_secs(20));
    assert!(up.ok(), "ikev2d up with fragmentation: {up}");
    let st = ikev2d
        .wait_established("lab", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(st["children"][0]["proposal"], "aes256gcm16", "{st}");
    assert!(ping_until(
        &net.a,
        INNER_A,
        INNER_B,
        Duration::from_secs(10)
    ));
    assert_eq!(ping(&net.a, INNER_A, INNER_B, 3), 3);
    let log = charon.log();
    assert!(
        log.contains("reassembled fragmented IKE message"),
        "strongSwan reassembled no fragments from ikev2d:\n{}",
        charon.logs_tail(60)
    );
    assert!(
        log.contains("splitting IKE message"),
        "strongSwan sent no fragments:\n{}",
        charon.logs_tail(60)
    );
}
