//! Wire check: an independent dissector (tshark) decrypts what ikev2d sends, with the
//! keys ikev2d exports in Wireshark's formats (`[daemon].key_export_dir`): every
//! encrypted IKE message's ICV checks out and every ESP packet decrypts to the inner
//! ping. Once with raw ESP between two ikev2d, once with ESP in UDP against
//! strongSwan.

use std::path::Path;
use std::time::Duration;

use interop_tests::Charon;
use interop_tests::prereq::{
    ikev2d_binary, require_root, require_strongswan, require_tshark, require_tun,
};
use interop_tests::topology::{INNER_A, INNER_B, VETH};
use interop_tests::{ConnSpec, Ikev2d, Ikev2dConfig, Netns, Pair, TimeBound, ping, require};

/// A running tcpdump on `VETH` of `ns` writing `pcap`.
struct Capture {
    proc: interop_tests::proc::Proc,
}

impl Capture {
    fn start(ns: &Netns, pcap: &Path, log: &Path) -> Self {
        let p = pcap.to_string_lossy().into_owned();
        let proc = ns.spawn(
            "tcpdump",
            &[
                "tcpdump",
                "-i",
                VETH,
                "--immediate-mode",
                "-U",
                "-n",
                "-w",
                &p,
            ],
            log,
        );
        // tcpdump needs a moment before it sees packets.
        std::thread::sleep(Duration::from_millis(700));
        Self { proc }
    }

    fn stop(mut self) {
        // Let the last packets reach the file before tcpdump goes.
        std::thread::sleep(Duration::from_millis(500));
        let _ = self.proc.stop(Duration::from_secs(2));
    }
}

/// `tshark -V` of `pcap` with the Wireshark tables in `keys` (copied into a private
/// configuration directory) and ESP decryption on.
fn dissect(pcap: &Path, keys: &Path) -> String {
    let home = tempfile::tempdir().expect("temp dir");
    let conf = home.path().join("wireshark");
    std::fs::create_dir_all(&conf).expect("mkdir");
    for f in ["ikev2_decryption_table", "esp_sa"] {
        std::fs::copy(keys.join(f), conf.join(f))
            .unwrap_or_else(|e| panic!("{}: {e} (keys not exported?)", keys.join(f).display()));
    }
    let out = std::process::Command::new("tshark")
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path())
        .args(["-n", "-V", "-r"])
        .arg(pcap)
        .args([
            "-o",
            "esp.enable_encryption_decode:TRUE",
            "-o",
            "esp.enable_authentication_check:TRUE",
        ])
        .output()
        .expect("tshark runs");
    assert!(out.status.success(), "tshark failed: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What the dissection must show: `ike_min` encrypted IKE messages with a correct
/// ICV and none incorrect; ESP decrypted into at least `pings` ICMP echo requests and
/// as many replies, with no ESP packet left undecrypted.
fn assert_decrypted(text: &str, ike_min: usize, pings: usize) {
    let correct = text
        .lines()
        .filter(|l| l.contains("Integrity Checksum Data") && l.contains("[correct]"))
        .count();
    let bad = text
        .lines()
        .filter(|l| l.contains("Integrity Checksum Data") && l.contains("[incorrect"))
        .count();
    let aead_ike = text.matches("Decrypted Data").count();
    assert_eq!(bad, 0, "IKE ICVs tshark finds incorrect:\n{text}");
    assert!(
        correct + aead_ike >= ike_min,
        "only {correct} IKE ICVs checked and {aead_ike} AEAD messages decrypted (want {ike_min})"
    );
    let requests = text.matches("Echo (ping) request").count();
    let replies = text.matches("Echo (ping) reply").count();
    assert!(
        requests >= pings && replies >= pings,
        "tshark decrypted {requests} echo requests and {replies} replies out of ESP (want {pings} each)"
    );
    let esp = text.matches("Encapsulating Security Payload").count();
    assert!(
        esp >= 2 * pings,
        "only {esp} ESP packets in the capture (want {})",
        2 * pings
    );
}

#[test]
fn tshark_decrypts_ikev2d_pair_raw_esp() {
    require!(
        require_root(),
        require_tun(),
        require_tshark(),
        ikev2d_binary()
    );
    let _bound = TimeBound::new(
        "tshark_decrypts_ikev2d_pair_raw_esp",
        Duration::from_secs(90),
    );
    let net = Pair::new();
    let work = tempfile::tempdir().expect("temp dir");
    let keys = work.path().join("keys");
    // CBC+HMAC for IKE (tshark checks the ICV), GCM for ESP.
    let conn = ConnSpec::site_a().with_proposals("aes256-sha256-modp2048", "aes128gcm16");
    let mut b = Ikev2d::start(&net.b, &Ikev2dConfig::new(vec![conn.mirrored()]));
    let mut a_conf = Ikev2dConfig::new(vec![conn]);
    // Ikev2d::start turns export on with `ikev2d debug key-export on` (the
    // directory alone exports nothing).
    a_conf.key_export_dir = Some(keys.clone());
    let cap = Capture::start(
        &net.a,
        &work.path().join("c.pcap"),
        &work.path().join("tcpdump.log"),
    );
    let mut a = Ikev2d::start(&net.a, &a_conf);
    let up = a.up("lab", Duration::from_secs(20));
    assert!(up.ok(), "up: {up}\n{}", a.log_tail(30));
    assert_eq!(ping(&net.a, INNER_A, INNER_B, 4), 4);
    let r = a.rekey_child("lab", "net");
    assert!(r.ok(), "rekey: {r}");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(ping(&net.a, INNER_A, INNER_B, 3), 3);
    a.stop_clean();
    b.stop_clean();
    cap.stop();
    let text = dissect(&work.path().join("c.pcap"), &keys);
    // IKE_AUTH x2, CREATE_CHILD_SA x2, INFORMATIONAL (delete) x2 at least.
    assert_decrypted(&text, 6, 7);
    assert!(
        text.contains("Notify Message Type: REKEY_SA"),
        "no decrypted REKEY_SA"
    );
}

#[test]
fn tshark_decrypts_ikev2d_against_strongswan_esp_in_udp() {
    require!(
        require_root(),
        require_tun(),
        require_tshark(),
        require_strongswan(),
        ikev2d_binary()
    );
    let _bound = TimeBound::new(
        "tshark_decrypts_ikev2d_against_strongswan_esp_in_udp",
        Duration::from_secs(90),
    );
    let net = Pair::new();
    let work = tempfile::tempdir().expect("temp dir");
    let keys = work.path().join("keys");
    let conn = ConnSpec::site_a().with_proposals("aes128-sha256-ecp256", "aes256gcm16");
    let charon = Charon::start(&net.b, &[conn.mirrored()]);
    let mut a_conf = Ikev2dConfig::new(vec![conn]);
    // Ikev2d::start turns export on with `ikev2d debug key-export on` (the
    // directory alone exports nothing).
    a_conf.key_export_dir = Some(keys.clone());
    let cap = Capture::start(
        &net.a,
        &work.path().join("c.pcap"),
        &work.path().join("tcpdump.log"),
    );
    let mut a = Ikev2d::start(&net.a, &a_conf);
    let up = a.up("lab", Duration::from_secs(20));
    assert!(
        up.ok(),
        "up: {up}\n{}\n{}",
        a.log_tail(30),
        charon.logs_tail(30)
    );
    assert_eq!(ping(&net.a, INNER_A, INNER_B, 5), 5);
    a.stop_clean();
    drop(charon);
    cap.stop();
    let text = dissect(&work.path().join("c.pcap"), &keys);
    assert!(
        text.contains("UDP Encapsulation of IPsec Packets") || text.contains("udpencap"),
        "no ESP in UDP in the capture"
    );
    assert_decrypted(&text, 2, 5);
}
