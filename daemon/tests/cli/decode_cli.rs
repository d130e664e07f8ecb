//! `ikev2d decode` as operators and scripts use it: exit codes, JSON, captured data.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn ikev2d(args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ikev2d"));
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .expect("the ikev2d binary was built by cargo for this test");
    if let Some(input) = stdin {
        use std::io::Write as _;
        child
            .stdin
            .take()
            .expect("stdin is piped")
            .write_all(input.as_bytes())
            .expect("writing to the child's stdin");
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().expect("waiting for ikev2d")
}

fn json_of(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Every captured or hand-built message in the ikev2 crate's test data.
fn data_files() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ikev2/tests/data");
    let mut files = Vec::new();
    let mut dirs = vec![root];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).expect("test data directory exists") {
            let p = e.expect("readable directory entry").path();
            if p.is_dir() {
                // decrypted/ holds inner payload chains, not whole messages
                if !p.ends_with("decrypted") {
                    dirs.push(p);
                }
            } else if p.extension().is_some_and(|x| x == "bin") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn decodes_every_message_of_the_test_data_and_round_trips_it() {
    let files = data_files();
    assert!(
        files.len() >= 9,
        "expected the test messages, found {}",
        files.len()
    );
    for f in files {
        let bytes = std::fs::read(&f).expect("readable test file");
        let hex = hex::encode(&bytes);
        let out = ikev2d(&["decode", "--json", &hex], None);
        assert!(out.status.success(), "{}: {:?}", f.display(), out);
        let j = json_of(&out);
        assert_eq!(j["ok"], true, "{}", f.display());
        assert_eq!(j["roundtrip"], true, "{}", f.display());
        assert_eq!(j["datagram_length"], bytes.len(), "{}", f.display());
        assert!(j["payloads"].as_array().is_some_and(|p| !p.is_empty()));
    }
}

#[test]
fn reads_stdin_with_whitespace_and_reports_the_exchange() {
    let f = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../ikev2/tests/data/handmade_ike_sa_init_request.bin");
    let bytes = std::fs::read(f).expect("test message exists");
    // xxd -p style: 30 octets per line
    let hex: Vec<String> = bytes.chunks(30).map(hex::encode).collect();
    let out = ikev2d(&["decode", "-"], Some(&hex.join("\n")));
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("IKE_SA_INIT request"), "{text}");
    assert!(text.contains("KE: CURVE25519"), "{text}");
    assert!(
        text.contains("AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256"),
        "{text}"
    );
    assert!(text.contains("roundtrip: identical bytes"), "{text}");
}

#[test]
fn recognises_the_non_esp_marker() {
    let f = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../ikev2/tests/data/handmade_ike_auth_request_sk.bin");
    let bytes = std::fs::read(f).expect("test message exists");
    let hex = format!("00000000{}", hex::encode(&bytes));
    let out = ikev2d(&["decode", "--json", &hex], None);
    assert!(out.status.success());
    let j = json_of(&out);
    assert_eq!(j["non_esp_marker"], true);
    assert_eq!(j["datagram_length"], bytes.len() + 4);
    assert_eq!(j["payloads"][0]["type"], "SK");
    assert_eq!(j["payloads"][0]["encrypted"], true);
}

#[test]
fn truncated_message_exits_2_with_error_and_offset() {
    let f = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../ikev2/tests/data/handmade_ike_sa_init_request.bin");
    let mut bytes = std::fs::read(f).expect("test message exists");
    bytes.truncate(100);
    let out = ikev2d(&["decode", "--json", &hex::encode(&bytes)], None);
    assert_eq!(out.status.code(), Some(2));
    let j = json_of(&out);
    assert_eq!(j["ok"], false);
    assert_eq!(j["error"]["notify"], "INVALID_SYNTAX");
    assert!(j["error"]["offset"].as_u64().is_some());

    // Plain text names the error and the offset.
    let out = ikev2d(&["decode", &hex::encode(&bytes)], None);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("error:") && text.contains("offset"), "{text}");
}

#[test]
fn unknown_critical_payload_maps_to_its_notify() {
    // header + one payload of unknown type 200 with the critical bit set
    let mut m = vec![
        1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0, 200, 0x20, 34, 0x08, 0, 0, 0, 0,
    ];
    m.extend(32u32.to_be_bytes());
    m.extend([0, 0x80, 0, 4]);
    let out = ikev2d(&["decode", "--json", &hex::encode(&m)], None);
    assert_eq!(out.status.code(), Some(2));
    let j = json_of(&out);
    assert_eq!(j["error"]["notify"], "UNSUPPORTED_CRITICAL_PAYLOAD");
    assert_eq!(j["error"]["offset"], 28);

    // The same payload without the critical bit is skipped: the message parses.
    m[29] = 0;
    let out = ikev2d(&["decode", "--json", &hex::encode(&m)], None);
    assert!(out.status.success());
    assert_eq!(json_of(&out)["payloads"][0]["unknown"], true);
}

#[test]
fn wrong_major_version_and_bad_hex() {
    let mut m = vec![1u8; 8];
    m.extend([0; 8]);
    m.extend([0, 0x30, 34, 0x08, 0, 0, 0, 0]);
    m.extend(28u32.to_be_bytes());
    let out = ikev2d(&["decode", "--json", &hex::encode(&m)], None);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(json_of(&out)["error"]["notify"], "INVALID_MAJOR_VERSION");

    let out = ikev2d(&["decode", "zz"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not hex"));
}
