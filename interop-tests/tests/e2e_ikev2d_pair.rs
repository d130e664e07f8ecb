//! Two ikev2d gateways: A initiates (with `ikev2d up`, or by itself with
//! `start_action = "start"`), B responds; traffic from 10.1.0.1 to 10.2.0.1 goes
//! through the tunnel; both report ESTABLISHED with matching SPIs and counters.

use std::time::Duration;

use interop_tests::ikev2d::{child_counter, is_established};
use interop_tests::prereq::{ikev2d_binary, require_iperf3, require_root, require_tun};
use interop_tests::topology::{INNER_A, INNER_B};
use interop_tests::{
    ConnSpec, Ikev2d, Ikev2dConfig, Pair, StartAction, TimeBound, ping, ping_until, require,
};
use serde_json::Value;

fn s<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        cur = match p.parse::<usize>() {
            Ok(i) => &cur[i],
            Err(_) => &cur[*p],
        };
    }
    cur.as_str().unwrap_or_default()
}

/// Bring the tunnel up (or wait for it), ping through it and check both sides.
fn check_tunnel(net: &Pair, a: &Ikev2d, b: &Ikev2d) {
    let sa = a
        .wait_established("lab", Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("initiator: {e}"));
    let sb = b
        .wait_established("lab", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("responder: {e}"));
    assert_eq!(
        s(&sa, &["ike_sa", "spi_i"]),
        s(&sb, &["ike_sa", "spi_i"]),
        "{sa}\n{sb}"
    );
    assert_eq!(
        s(&sa, &["ike_sa", "spi_r"]),
        s(&sb, &["ike_sa", "spi_r"]),
        "{sa}\n{sb}"
    );
    assert_eq!(
        s(&sa, &["children", "0", "spi_out"]),
        s(&sb, &["children", "0", "spi_in"]),
        "{sa}\n{sb}"
    );
    assert_eq!(
        s(&sa, &["children", "0", "spi_in"]),
        s(&sb, &["children", "0", "spi_out"]),
        "{sa}\n{sb}"
    );

    // The IKE SA says which addresses it uses: each side's remote is the other's local.
    assert_eq!(
        s(&sa, &["ike_sa", "remote"]),
        s(&sb, &["ike_sa", "local"]),
        "{sa}\n{sb}"
    );
    assert!(
        s(&sa, &["ike_sa", "remote"]).starts_with("192.0.2.2:"),
        "{sa}"
    );
    assert!(
        ping_until(&net.a, INNER_A, INNER_B, Duration::from_secs(10)),
        "no ping reply through the tunnel within 10 s"
    );
    assert_eq!(
        ping(&net.a, INNER_A, INNER_B, 5),
        5,
        "lost pings through the tunnel"
    );
    assert_eq!(ping(&net.b, INNER_B, INNER_A, 3), 3, "lost pings B -> A");

    let fields = ["packets_in", "packets_out"];
    let (ca, ok_a) = a.wait_counters("lab", &fields, 8, Duration::from_secs(5));
    let (cb, ok_b) = b.wait_counters("lab", &fields, 8, Duration::from_secs(5));
    assert!(
        ok_a && ok_b,
        "packet counters < 8 after 8+ pings\nA: {ca}\nB: {cb}"
    );
    assert!(is_established(&ca) && is_established(&cb), "{ca}\n{cb}");
    for (who, c) in [("A", &ca), ("B", &cb)] {
        for f in ["bytes_out", "bytes_in"] {
            assert!(child_counter(c, f) > 0, "{who}: {f} is 0: {c}");
        }
    }
}

/// SIGTERM on A deletes its SAs: B notices the delete and reports the connection down.
fn check_delete_on_sigterm(mut a: Ikev2d, b: &Ikev2d) {
    a.stop_clean();
    let down =
        interop_tests::cmd::wait_for(Duration::from_secs(10), Duration::from_millis(250), || {
            b.conn_status("lab").filter(|c| c["state"] != "ESTABLISHED")
        });
    assert!(
        down.is_some(),
        "B still ESTABLISHED 10 s after A was stopped with SIGTERM (no delete sent?): {:?}",
        b.conn_status("lab")
    );
}

#[test]
fn ikev2d_pair_up_and_ping() {
    require!(require_root(), require_tun(), ikev2d_binary());
    let _bound = TimeBound::new("ikev2d_pair_up_and_ping", Duration::from_secs(120));
    let net = Pair::new();
    let mut b = Ikev2d::start(&net.b, &Ikev2dConfig::new(vec![ConnSpec::site_b()]));
    let a = Ikev2d::start(&net.a, &Ikev2dConfig::new(vec![ConnSpec::site_a()]));
    let up = a.up("lab", Duration::from_secs(30));
    assert!(
        up.ok(),
        "ikev2d up lab: {up}\n{}\n{}",
        a.log_tail(40),
        b.log_tail(40)
    );
    check_tunnel(&net, &a, &b);
    check_delete_on_sigterm(a, &b);
    b.stop_clean();
}

/// Post-quantum hybrid key exchange between two ikev2d: X25519 plus ML-KEM-1024 and
/// ML-KEM-768 as RFC 9370 additional key exchanges over IKE_INTERMEDIATE (the
/// ML-KEM-1024 key share goes in IKE fragments), ML-KEM-768 as the CHILD SA's PFS
/// group; traffic, then a CHILD rekey with ML-KEM PFS, and traffic again.
#[test]
fn ikev2d_pair_post_quantum_hybrid() {
    require!(require_root(), require_tun(), ikev2d_binary());
    let _bound = TimeBound::new("ikev2d_pair_post_quantum_hybrid", Duration::from_secs(120));
    let net = Pair::new();
    let conn = ConnSpec::site_a().with_proposals(
        "aes256gcm16-prfsha384-x25519-ke1_mlkem1024-ke2_mlkem768",
        "aes256gcm16-x25519-ke1_mlkem768",
    );
    let mut b = Ikev2d::start(&net.b, &Ikev2dConfig::new(vec![conn.mirrored()]));
    let a = Ikev2d::start(&net.a, &Ikev2dConfig::new(vec![conn]));
    let up = a.up("lab", Duration::from_secs(30));
    assert!(up.ok(), "up: {up}\n{}\n{}", a.log_tail(40), b.log_tail(40));
    check_tunnel(&net, &a, &b);
    let st = a.conn_status("lab").expect("status");
    assert_eq!(
        st["ike_sa"]["proposal"], "aes256gcm16-prfsha384-curve25519-ke1_mlkem1024-ke2_mlkem768",
        "{st}"
    );
    // The CHILD SA of IKE_AUTH has no KE of its own; its rekey uses the PFS group and
    // then ML-KEM-768 in IKE_FOLLOWUP_KE.
    assert_eq!(st["children"][0]["proposal"], "aes256gcm16", "{st}");
    let counters = a.status_json()["counters"].clone();
    assert!(
        counters["ike_fragmented_messages"].as_u64().unwrap_or(0) >= 1,
        "the ML-KEM-1024 key share should have gone in fragments: {counters}"
    );
    let r = a.rekey_child("lab", "net");
    assert!(r.ok(), "rekey: {r}");
    let rekeyed =
        interop_tests::cmd::wait_for(Duration::from_secs(20), Duration::from_millis(250), || {
            a.conn_status("lab")
                .filter(|c| is_established(c) && c["children"][0]["rekeys"].as_u64() >= Some(1))
        });
    assert!(rekeyed.is_some(), "not rekeyed: {:?}", a.conn_status("lab"));
    let st = a.conn_status("lab").expect("status");
    assert_eq!(
        st["children"][0]["proposal"], "aes256gcm16-curve25519-ke1_mlkem768",
        "{st}"
    );
    assert!(ping_until(&net.a, INNER_A, INNER_B, Duration::from_secs(5)));
    assert_eq!(
        ping(&net.a, INNER_A, INNER_B, 3),
        3,
        "lost pings after the rekey"
    );
    // The IKE SA rekey: X25519 in CREATE_CHILD_SA, then ML-KEM-1024 and ML-KEM-768 in
    // two IKE_FOLLOWUP_KE exchanges; the CHILD SA moves over untouched.
    let before = st["ike_sa"]["spi_i"].clone();
    let r = a.rekey_ike("lab");
    assert!(r.ok(), "rekey --ike: {r}");
    let rekeyed =
        interop_tests::cmd::wait_for(Duration::from_secs(20), Duration::from_millis(250), || {
            a.conn_status("lab")
                .filter(|c| is_established(c) && c["ike_sa"]["spi_i"] != before)
        });
    let st = rekeyed.unwrap_or_else(|| panic!("IKE SA not rekeyed: {:?}", a.conn_status("lab")));
    assert_eq!(
        st["ike_sa"]["proposal"], "aes256gcm16-prfsha384-curve25519-ke1_mlkem1024-ke2_mlkem768",
        "{st}"
    );
    let sb = b.conn_status("lab").expect("status of B");
    assert_eq!(sb["ike_sa"]["spi_i"], st["ike_sa"]["spi_i"], "{sb}");
    assert_eq!(
        ping(&net.a, INNER_A, INNER_B, 3),
        3,
        "lost pings after the IKE rekey"
    );
    check_delete_on_sigterm(a, &b);
    b.stop_clean();
}

#[test]
fn ikev2d_pair_start_action_pfs() {
    require!(require_root(), require_tun(), ikev2d_binary());
    let _bound = TimeBound::new("ikev2d_pair_start_action_pfs", Duration::from_secs(120));
    let net = Pair::new();
    let conn = ConnSpec::site_a()
        .with_proposals("aes256gcm16-prfsha256-curve25519", "aes256gcm16-curve25519");
    let mut b = Ikev2d::start(&net.b, &Ikev2dConfig::new(vec![conn.mirrored()]));
    let a = Ikev2d::start(
        &net.a,
        &Ikev2dConfig::new(vec![conn.with_start_action(StartAction::Start)]),
    );
    check_tunnel(&net, &a, &b);
    // A CREATE_CHILD_SA rekey with PFS, then traffic still flows.
    let r = a.rekey_child("lab", "net");
    assert!(r.ok(), "rekey --child net: {r}");
    let rekeyed =
        interop_tests::cmd::wait_for(Duration::from_secs(15), Duration::from_millis(250), || {
            a.conn_status("lab")
                .filter(|c| is_established(c) && c["children"][0]["rekeys"].as_u64() >= Some(1))
        });
    assert!(
        rekeyed.is_some(),
        "child not rekeyed: {:?}",
        a.conn_status("lab")
    );
    assert!(ping_until(&net.a, INNER_A, INNER_B, Duration::from_secs(5)));
    assert_eq!(
        ping(&net.a, INNER_A, INNER_B, 3),
        3,
        "lost pings after the rekey"
    );
    check_delete_on_sigterm(a, &b);
    b.stop_clean();
}

/// `start_action = "trap"`: nothing happens until traffic matches the child's
/// selectors; the first packet starts the connection (and is dropped, as strongSwan
/// does), later ones pass.
#[test]
fn ikev2d_pair_trap() {
    require!(require_root(), require_tun(), ikev2d_binary());
    let _bound = TimeBound::new("ikev2d_pair_trap", Duration::from_secs(120));
    let net = Pair::new();
    let conn = ConnSpec::site_a();
    let mut b = Ikev2d::start(&net.b, &Ikev2dConfig::new(vec![conn.mirrored()]));
    let a = Ikev2d::start(
        &net.a,
        &Ikev2dConfig::new(vec![conn.with_start_action(StartAction::Trap)]),
    );
    std::thread::sleep(Duration::from_millis(500));
    let before = a.conn_status("lab").expect("status of lab");
    assert_ne!(
        before["state"], "ESTABLISHED",
        "trap connection up without traffic: {before}"
    );
    assert!(
        ping_until(&net.a, INNER_A, INNER_B, Duration::from_secs(15)),
        "traffic into the trap did not bring the tunnel up"
    );
    check_tunnel(&net, &a, &b);
    check_delete_on_sigterm(a, &b);
    b.stop_clean();
}

/// swanctl semantics: `rekey_time = 0` disables rekeying and `life_time = 0` means no
/// hard expiry (strongSwan's own lab config uses both). ikev2d used to delete such a
/// CHILD SA right after installing it.
#[test]
fn zero_lifetimes_mean_no_expiry() {
    require!(require_root(), require_tun(), ikev2d_binary());
    let _bound = TimeBound::new("zero_lifetimes_mean_no_expiry", Duration::from_secs(60));
    let net = Pair::new();
    let mut conn = ConnSpec::site_a();
    conn.rekey_time = Some("0".to_owned());
    conn.children[0].rekey_time = Some("0".to_owned());
    conn.children[0].life_time = Some("0".to_owned());
    let mut b = Ikev2d::start(&net.b, &Ikev2dConfig::new(vec![conn.mirrored()]));
    let mut a = Ikev2d::start(&net.a, &Ikev2dConfig::new(vec![conn]));
    let up = a.up("lab", Duration::from_secs(30));
    assert!(up.ok(), "ikev2d up lab: {up}");
    std::thread::sleep(Duration::from_secs(3));
    for (who, d) in [("A", &a), ("B", &b)] {
        let c = d.conn_status("lab").expect("status of lab");
        assert!(
            is_established(&c),
            "{who}: child gone with zero lifetimes: {c}"
        );
    }
    a.stop_clean();
    b.stop_clean();
}

/// Bulk TCP through the tunnel (iperf3, 3 s): with TCP segmentation offload on the
/// TUN device ikev2d cuts the kernel's 64 KiB super-packets into segments itself, so
/// a wrong header or checksum would stall the transfer. Raw ESP and ESP in UDP.
#[test]
fn tcp_bulk_transfer_through_offloaded_tun() {
    require!(
        require_root(),
        require_tun(),
        ikev2d_binary(),
        require_iperf3()
    );
    let _bound = TimeBound::new("tcp_bulk_transfer", Duration::from_secs(120));
    for (encap, label) in [(false, "raw ESP"), (true, "ESP in UDP")] {
        let net = Pair::new();
        let mut conn = ConnSpec::site_a();
        conn.encap = encap;
        let mut b = Ikev2d::start(&net.b, &Ikev2dConfig::new(vec![conn.mirrored()]));
        let mut a = Ikev2d::start(&net.a, &Ikev2dConfig::new(vec![conn]));
        assert!(a.up("lab", Duration::from_secs(20)).ok(), "{label}: up");
        assert!(
            a.log().contains("TCP segmentation offload"),
            "{label}: TUN offload not on:\n{}",
            a.log_tail(20)
        );
        let run =
            interop_tests::iperf::tcp((&net.a, INNER_A), (&net.b, INNER_B), 3, false, b.dir());
        assert!(run.out.ok(), "{label}: iperf3: {}", run.out);
        let received = run.received_bytes();
        assert!(
            received > 10_000_000,
            "{label}: only {received} octets through the tunnel in 3 s\n{}",
            a.log_tail(20)
        );
        let st = a.conn_status("lab").expect("lab");
        assert!(child_counter(&st, "bytes_out") >= received, "{label}: {st}");
        a.stop_clean();
        b.stop_clean();
    }
}

/// Receiver for [`tcp_bulk_data_arrives_intact_with_gro_and_coalescing`]: one
/// connection, prints the octet count and SHA-256 of everything received.
const BULK_SERVER: &str = r#"
import hashlib, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 5001))
s.listen(1)
c, _ = s.accept()
h = hashlib.sha256(); n = 0
while True:
    b = c.recv(1 << 20)
    if not b:
        break
    h.update(b); n += len(b)
print(n, h.hexdigest(), flush=True)
"#;

/// Sender: 48 MiB of seeded random octets in writes from 1 octet to 256 KiB (small
/// writes make short segments and PSH in the middle of the stream); prints the octet
/// count and SHA-256 of what it sent.
const BULK_CLIENT: &str = r#"
import hashlib, random, socket, sys
r = random.Random(7)
blk = r.randbytes(1 << 20)
c = socket.create_connection((sys.argv[2], 5001), source_address=(sys.argv[1], 0))
h = hashlib.sha256(); n = 0; i = 0
sizes = [262144, 1, 65536, 1447, 200000, 3, 9000, 131072]
while n < 48 << 20:
    off = (i * 7919) % (len(blk) // 2)
    chunk = blk[off:off + sizes[i % len(sizes)]]
    c.sendall(chunk); h.update(chunk); n += len(chunk); i += 1
c.shutdown(socket.SHUT_WR)
c.recv(1)
c.close()
print(n, h.hexdigest(), flush=True)
"#;

/// TCP bulk data through an ikev2d pair arrives intact, octet for octet, with the
/// receive-side techniques on (UDP GRO on port 4500, TCP segments coalesced into TUN
/// super-packets), over raw ESP and ESP in UDP; the receiver's counters show that the
/// super-packets were made.
#[test]
fn tcp_bulk_data_arrives_intact_with_gro_and_coalescing() {
    require!(require_root(), require_tun(), ikev2d_binary());
    let _bound = TimeBound::new("tcp_bulk_intact", Duration::from_secs(180));
    for (encap, label) in [(false, "raw ESP"), (true, "ESP in UDP")] {
        let net = Pair::new();
        let mut conn = ConnSpec::site_a();
        conn.encap = encap;
        let mut b = Ikev2d::start(&net.b, &Ikev2dConfig::new(vec![conn.mirrored()]));
        let mut a = Ikev2d::start(&net.a, &Ikev2dConfig::new(vec![conn]));
        assert!(a.up("lab", Duration::from_secs(20)).ok(), "{label}: up");
        let log = b.dir().join("bulk-server.log");
        let (ia, ib) = (INNER_A.to_string(), INNER_B.to_string());
        let mut server = net
            .b
            .spawn("bulk-server", &["python3", "-c", BULK_SERVER, &ib], &log);
        std::thread::sleep(Duration::from_millis(500));
        let sent = net.a.exec(
            &["python3", "-c", BULK_CLIENT, &ia, &ib],
            Duration::from_secs(90),
        );
        assert!(sent.ok(), "{label}: sender: {sent}");
        let mut got = String::new();
        for _ in 0..50 {
            got = std::fs::read_to_string(&log).unwrap_or_default();
            if got.trim().split(' ').count() == 2 {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = server.stop(Duration::from_secs(2));
        assert_eq!(
            got.trim(),
            sent.stdout.trim(),
            "{label}: received (count, SHA-256) differs from sent\n{}",
            b.log_tail(20)
        );
        let counters = b.status_json()["counters"].clone();
        let n = |k: &str| counters[k].as_u64().unwrap_or(0);
        let st = b.conn_status("lab").expect("lab");
        eprintln!(
            "{label}: receiver: {} ESP packets in, {} of them coalesced into another's TUN write, {} UDP GRO datagrams",
            child_counter(&st, "packets_in"),
            n("esp_in_coalesced"),
            n("esp_in_gro_datagrams")
        );
        assert!(
            n("esp_in_coalesced") > 0,
            "{label}: no segment was coalesced: {counters}"
        );
        if encap {
            assert!(
                n("esp_in_gro_datagrams") > 0,
                "{label}: no UDP GRO datagram: {counters}"
            );
        }
        assert_eq!(n("esp_tun_write_errors"), 0, "{label}: {counters}");
        a.stop_clean();
        b.stop_clean();
    }
}

/// `allowed_peers` on the responder: a peer outside the list is dropped before any
/// crypto (its `up` times out, the responder counts `ike_not_allowed`), one inside
/// gets its tunnel.
#[test]
fn allowed_peers_keep_out_everyone_else() {
    require!(require_root(), require_tun(), ikev2d_binary());
    let _bound = TimeBound::new("allowed_peers", Duration::from_secs(90));
    for (allowed, should_work) in [("198.51.100.0/24", false), ("192.0.2.0/24", true)] {
        let net = Pair::new();
        let conn = ConnSpec::site_a();
        let mut b_conf = Ikev2dConfig::new(vec![conn.mirrored()]);
        b_conf.allowed_peers = vec![allowed.to_owned()];
        let mut b = Ikev2d::start(&net.b, &b_conf);
        let mut a_conf = Ikev2dConfig::new(vec![conn]);
        a_conf.retransmit_timeout = Some("1s".to_owned());
        a_conf.retransmit_tries = Some(1);
        let mut a = Ikev2d::start(&net.a, &a_conf);
        let up = a.up("lab", Duration::from_secs(15));
        let dropped = b.status_json()["counters"]["ike_not_allowed"]
            .as_u64()
            .unwrap_or(0);
        if should_work {
            assert!(up.ok(), "allowed {allowed}: {up}");
            assert_eq!(dropped, 0);
        } else {
            assert!(!up.ok(), "established from outside allowed_peers {allowed}");
            assert!(
                dropped >= 2,
                "responder counted {dropped} dropped datagrams"
            );
            assert!(
                b.log().contains("not in allowed_peers"),
                "{}",
                b.log_tail(10)
            );
            assert!(
                !b.log().contains("IKE SA #"),
                "responder did work for a disallowed peer:\n{}",
                b.log_tail(10)
            );
        }
        a.stop_clean();
        b.stop_clean();
    }
}

/// The control socket's roles: root does everything and every admin action lands in
/// the audit log; a viewer (`viewer_group`) sees `status` but is refused `up`; without
/// a viewer group an unprivileged user cannot even connect.
#[test]
fn control_roles_and_audit_log() {
    require!(require_root(), require_tun(), ikev2d_binary());
    let _bound = TimeBound::new("control_roles", Duration::from_secs(60));
    let bin = ikev2d_binary().unwrap_or_else(|m| panic!("{m}"));
    let as_nobody = |sock: &std::path::Path, args: &[&str]| {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&bin)
            .arg("--socket")
            .arg(sock)
            .args(args);
        interop_tests::cmd::run(&mut c, Duration::from_secs(10))
    };
    let net = Pair::new();
    let conn = ConnSpec::site_a();
    let mut b = Ikev2d::start(&net.b, &Ikev2dConfig::new(vec![conn.mirrored()]));
    let mut a_conf = Ikev2dConfig::new(vec![conn.clone()]);
    a_conf.viewer_group = Some("nogroup".to_owned());
    let mut a = Ikev2d::start(&net.a, &a_conf);
    // The test's directory must be reachable for the unprivileged user.
    let _ = std::process::Command::new("chmod")
        .args(["o+x"])
        .arg(a.dir())
        .status();
    assert!(a.up("lab", Duration::from_secs(20)).ok());
    let st = as_nobody(a.socket(), &["status", "--json"]);
    assert!(st.ok(), "viewer status: {st}");
    assert!(st.stdout.contains("\"ESTABLISHED\""), "{st}");
    let up = as_nobody(a.socket(), &["down", "lab"]);
    assert_eq!(
        up.status.and_then(|s| s.code()),
        Some(1),
        "viewer down: {up}"
    );
    assert!(
        up.stderr.contains("permission denied: down needs root"),
        "{up}"
    );
    assert!(a.rekey_child("lab", "net").ok());
    let audit = std::fs::read_to_string(a.dir().join("audit.log")).expect("audit log");
    let records: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let actions: Vec<(String, String)> = records
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap_or_default().to_owned(),
                r["result"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert!(
        actions.contains(&("up".into(), "requested".into())),
        "{audit}"
    );
    assert!(
        actions
            .iter()
            .any(|(a, r)| a == "up" && r.starts_with("ok")),
        "{audit}"
    );
    assert!(
        actions
            .iter()
            .any(|(a, r)| a == "rekey" && r.starts_with("ok")),
        "{audit}"
    );
    assert!(
        !audit.contains("\"down\""),
        "refused actions are not carried out: {audit}"
    );
    a.stop_clean();

    // No viewer group: the socket is root's alone.
    let mut a = Ikev2d::start(&net.a, &Ikev2dConfig::new(vec![conn]));
    let _ = std::process::Command::new("chmod")
        .args(["o+x"])
        .arg(a.dir())
        .status();
    let st = as_nobody(a.socket(), &["status"]);
    assert_eq!(
        st.status.and_then(|s| s.code()),
        Some(2),
        "nobody reached a root-only socket: {st}"
    );
    a.stop_clean();
    b.stop_clean();
}

/// `[metrics]`: Prometheus text and the status document over read-only HTTP; other
/// methods refused; sources outside `allowed_sources` get nothing.
#[test]
fn metrics_endpoint_is_read_only_and_source_limited() {
    require!(require_root(), require_tun(), ikev2d_binary());
    let _bound = TimeBound::new("metrics_endpoint", Duration::from_secs(60));
    let http = |ns: &interop_tests::Netns, req: &str| {
        let script = format!(
            "exec 3<>/dev/tcp/127.0.0.1/9469 && printf '{req} HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3"
        );
        ns.exec(&["bash", "-c", &script], Duration::from_secs(10))
            .stdout
    };
    let net = Pair::new();
    let conn = ConnSpec::site_a();
    let mut b = Ikev2d::start(&net.b, &Ikev2dConfig::new(vec![conn.mirrored()]));
    let mut a_conf = Ikev2dConfig::new(vec![conn.clone()]);
    a_conf.metrics = Some(("127.0.0.1:9469".into(), vec!["127.0.0.1".into()]));
    let mut a = Ikev2d::start(&net.a, &a_conf);
    assert!(a.up("lab", Duration::from_secs(20)).ok());
    assert_eq!(ping(&net.a, INNER_A, INNER_B, 3), 3);
    let m = http(&net.a, "GET /metrics");
    assert!(m.starts_with("HTTP/1.1 200 OK"), "{m}");
    for want in [
        "ikev2d_connections{state=\"ESTABLISHED\"} 1",
        "ikev2d_child_packets_total{conn=\"lab\",child=\"net\",direction=\"out\"} 3",
        "ikev2d_handshake_seconds_count 1",
    ] {
        assert!(m.contains(want), "{want:?} missing:\n{m}");
    }
    let s = http(&net.a, "GET /status");
    let body = s.split("\r\n\r\n").nth(1).unwrap_or_default();
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {s}"));
    assert_eq!(v["connections"][0]["state"], "ESTABLISHED");
    let post = http(&net.a, "POST /status");
    assert!(post.starts_with("HTTP/1.1 405"), "{post}");
    a.stop_clean();

    // Only 10.9.9.9 may ask: loopback gets the connection closed, no answer.
    a_conf.metrics = Some(("127.0.0.1:9469".into(), vec!["10.9.9.9/32".into()]));
    let mut a = Ikev2d::start(&net.a, &a_conf);
    let m = http(&net.a, "GET /metrics");
    assert!(
        m.is_empty(),
        "answered a source outside allowed_sources: {m}"
    );
    a.stop_clean();
    b.stop_clean();
}
