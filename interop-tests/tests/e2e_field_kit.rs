//! The operator's field kit (issue 17) against strongSwan in namespaces: tunnels that
//! are up and still do not work.

use std::time::Duration;

use interop_tests::cmd::wait_for;
use interop_tests::ping::PingStream;
use interop_tests::prereq::{
    ikev2d_binary, require_iptables, require_root, require_strongswan, require_tun,
};
use interop_tests::topology::{INNER_A, INNER_B};
use interop_tests::{Charon, ConnSpec, Ikev2d, Ikev2dConfig, Pair, TimeBound, ping, require};

/// TCP connection attempts from 10.1.0.1 to 10.2.0.1:443, two a second.
const TCP_TRIES: &str = r#"
import socket, time
while True:
    s = socket.socket()
    s.bind(("10.1.0.1", 0))
    s.settimeout(0.5)
    try:
        s.connect(("10.2.0.1", 443))
    except OSError:
        pass
    s.close()
    time.sleep(0.5)
"#;

/// The peer's firewall drops TCP to port 443 but lets ICMP through: pings work, TCP
/// does not, and status names it: with only the TCP tries the child sends and
/// nothing comes back (while the IKE SA answers its liveness checks); with pings
/// answered beside them the child is fine and the TCP service is named on its own.
/// The warnings go when the rule goes.
#[test]
fn one_way_traffic_is_named_and_clears() {
    require!(
        require_root(),
        require_tun(),
        require_iptables(),
        require_strongswan(),
        ikev2d_binary()
    );
    let _bound = TimeBound::new(
        "one_way_traffic_is_named_and_clears",
        Duration::from_secs(120),
    );
    let net = Pair::new();
    let mut conn = ConnSpec::site_a();
    conn.dpd_delay = Some("10s".to_owned());
    let _charon = Charon::start(&net.b, &[conn.mirrored()]);
    let mut cfg = Ikev2dConfig::new(vec![conn]);
    cfg.daemon_lines.push("one_way_warning = \"5s\"".to_owned());
    cfg.metrics = Some(("127.0.0.1:9469".into(), vec!["127.0.0.1".into()]));
    let ikev2d = Ikev2d::start(&net.a, &cfg);
    let up = ikev2d.up("lab", Duration::from_secs(20));
    assert!(up.ok(), "up: {up}");
    let rule = ["INPUT", "-p", "tcp", "--dport", "443", "-j", "DROP"];
    let mut add = vec!["iptables", "-I"];
    add.extend(rule);
    net.b.run_ok(&add);
    assert_eq!(ping(&net.a, INNER_A, INNER_B, 2), 2, "ICMP passes");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut tries = net.a.spawn(
        "tcp-tries",
        &["python3", "-c", TCP_TRIES],
        &dir.path().join("tcp.log"),
    );
    let warned = wait_for(Duration::from_secs(20), Duration::from_millis(250), || {
        let c = ikev2d.conn_status("lab")?;
        c["children"][0]["warning"].as_str().map(ToOwned::to_owned)
    });
    let w = warned.unwrap_or_else(|| {
        panic!(
            "no one-way warning after 20 s: {:?}\n{}",
            ikev2d.conn_status("lab"),
            ikev2d.log_tail(30)
        )
    });
    assert!(
        w.starts_with("sending to 10.2.0.0/24 but nothing comes back for ")
            && w.contains("the peer's firewall, its routes back to 10.1.0.0/24, or its selectors")
            && w.contains("the IKE SA is alive"),
        "{w}"
    );
    assert!(
        ikev2d
            .log()
            .contains("WARN lab/net: sending to 10.2.0.0/24"),
        "{}",
        ikev2d.log_tail(20)
    );
    let text = ikev2d.status_text();
    eprintln!("$ ikev2d status\n{text}");
    assert!(
        text.contains("  net WARNING: sending to 10.2.0.0/24"),
        "{text}"
    );

    // The TCP service is named on its own too.
    let tcp_warning = |c: &serde_json::Value| {
        c["children"][0]["unanswered_tcp"][0]
            .as_str()
            .map(ToOwned::to_owned)
    };
    let named = wait_for(Duration::from_secs(10), Duration::from_millis(250), || {
        tcp_warning(&ikev2d.conn_status("lab")?)
    });
    let t = named.unwrap_or_else(|| panic!("no TCP warning: {:?}", ikev2d.conn_status("lab")));
    assert!(
        t.starts_with(
            "TCP to 10.2.0.1 port 443 from 10.1.0.1: connection attempts without an answer"
        ),
        "{t}"
    );

    // Pings flow beside the TCP tries: the child is no longer one-way, but the TCP
    // service still gets no answer, and says that other traffic comes back.
    let mut pings = PingStream::start(
        &net.a,
        INNER_A,
        INNER_B,
        Duration::from_millis(200),
        &dir.path().join("ping.log"),
    );
    let split = wait_for(Duration::from_secs(10), Duration::from_millis(250), || {
        let c = ikev2d.conn_status("lab")?;
        let t = tcp_warning(&c)?;
        (c["children"][0]["warning"].is_null() && t.contains("other traffic comes back"))
            .then_some(t)
    });
    assert!(
        split.is_some(),
        "with pings answered the child warning should go and the TCP one stay: {:?}",
        ikev2d.conn_status("lab")
    );
    let text = ikev2d.status_text();
    eprintln!("$ ikev2d status (pings answered, TCP not)\n{text}");
    assert!(
        text.contains("  net WARNING: TCP to 10.2.0.1 port 443 from 10.1.0.1"),
        "{text}"
    );
    assert!(
        ikev2d
            .log()
            .contains("WARN lab/net: TCP to 10.2.0.1 port 443 from 10.1.0.1"),
        "{}",
        ikev2d.log_tail(20)
    );
    let metrics = net
        .a
        .exec(
            &[
                "bash",
                "-c",
                "exec 3<>/dev/tcp/127.0.0.1/9469 && printf 'GET /metrics HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3",
            ],
            Duration::from_secs(10),
        )
        .stdout;
    assert!(
        metrics.contains("ikev2d_child_unanswered_tcp_services{conn=\"lab\",child=\"net\"} 1"),
        "{metrics}"
    );

    // The rule goes: the peer answers (SYN-ACK or RST), both warnings clear.
    let mut del = vec!["iptables", "-D"];
    del.extend(rule);
    net.b.run_ok(&del);
    let cleared = wait_for(Duration::from_secs(10), Duration::from_millis(250), || {
        let c = ikev2d.conn_status("lab")?;
        (c["children"][0]["warning"].is_null() && tcp_warning(&c).is_none()).then_some(())
    });
    pings.stop();
    assert!(
        cleared.is_some(),
        "warning still there: {:?}",
        ikev2d.conn_status("lab")
    );
    // Logged on the next tick of the watch.
    let logged = wait_for(Duration::from_secs(3), Duration::from_millis(100), || {
        ikev2d
            .log()
            .contains("lab/net: TCP to 10.2.0.1 port 443 is answered again")
            .then_some(())
    });
    assert!(logged.is_some(), "{}", ikev2d.log_tail(20));
    assert!(
        ikev2d.log().contains("lab/net: traffic comes back again"),
        "{}",
        ikev2d.log_tail(20)
    );
    tries.stop(Duration::from_secs(2));
}

/// Strict reverse-path filtering on A, and a more specific route toward part of the
/// child's remote_ts that does not go through the tunnel: packets from there arrive
/// through the tunnel, ikev2d delivers them to its TUN, and the kernel drops them.
/// ikev2d warns at start (rp_filter strict on the TUN) and when the kernel's count
/// rises, and status counts the drops.
#[test]
fn reverse_path_filter_drops_are_named() {
    require!(
        require_root(),
        require_tun(),
        require_iptables(),
        require_strongswan(),
        ikev2d_binary()
    );
    let _bound = TimeBound::new(
        "reverse_path_filter_drops_are_named",
        Duration::from_secs(120),
    );
    let net = Pair::new();
    let mut conn = ConnSpec::site_a();
    conn.children[0].remote_ts = vec!["10.2.0.0/16".to_owned()];
    net.b.add_addr("lo", "10.2.5.1/24");
    net.a
        .run_ok(&["ip", "route", "add", "10.2.5.0/24", "via", "192.0.2.2"]);
    net.a
        .run_ok(&["sysctl", "-q", "-w", "net.ipv4.conf.all.rp_filter=1"]);
    let _charon = Charon::start(&net.b, &[conn.mirrored()]);
    let ikev2d = Ikev2d::start(&net.a, &Ikev2dConfig::new(vec![conn]));
    assert!(
        ikev2d.log().contains("rp_filter is strict (1) on ipsec0"),
        "{}",
        ikev2d.log_tail(20)
    );
    let up = ikev2d.up("lab", Duration::from_secs(20));
    assert!(up.ok(), "up: {up}");
    // From B's 10.2.0.1: fine. From 10.2.5.1: into the tunnel, dropped at A.
    assert_eq!(ping(&net.b, INNER_B, INNER_A, 2), 2);
    let from_far: std::net::IpAddr = "10.2.5.1".parse().expect("literal");
    assert_eq!(ping(&net.b, from_far, INNER_A, 5), 0);
    let warned = wait_for(Duration::from_secs(15), Duration::from_millis(250), || {
        ikev2d
            .log()
            .contains("packet(s) by reverse-path filtering (rp_filter on ipsec0)")
            .then_some(())
    });
    assert!(warned.is_some(), "{}", ikev2d.log_tail(20));
    for l in ikev2d.log().lines().filter(|l| l.contains("rp_filter")) {
        eprintln!("{l}");
    }
    let st = ikev2d.status_json();
    assert!(
        st["counters"]["kernel_rp_filter_drops"]
            .as_u64()
            .unwrap_or(0)
            >= 1,
        "{}",
        st["counters"]
    );
}

/// A peer that crashes again and again: each time DPD finds it dead and the restart
/// brings the tunnel back; after more than `flap_warning` of those in an hour the
/// connection is flagged as flapping, with the cause.
#[test]
fn a_flapping_peer_is_named() {
    require!(
        require_root(),
        require_tun(),
        require_strongswan(),
        ikev2d_binary()
    );
    let _bound = TimeBound::new("a_flapping_peer_is_named", Duration::from_secs(180));
    let net = Pair::new();
    let mut conn = ConnSpec::site_a();
    conn.dpd_delay = Some("2s".to_owned());
    conn.children[0].dpd_action = Some("restart".to_owned());
    let mut theirs = conn.mirrored();
    theirs.dpd_delay = None;
    let mut charon = Charon::start(&net.b, std::slice::from_ref(&theirs));
    let mut cfg = Ikev2dConfig::new(vec![conn]);
    cfg.retransmit_timeout = Some("1s".to_owned());
    cfg.daemon_lines.push("flap_warning = 2".to_owned());
    let ikev2d = Ikev2d::start(&net.a, &cfg);
    let up = ikev2d.up("lab", Duration::from_secs(20));
    assert!(up.ok(), "up: {up}");
    for round in 1..=3u64 {
        let before = ikev2d.conn_status("lab").expect("status")["ike_sa"]["spi_i"].clone();
        charon.kill();
        drop(charon);
        charon = Charon::start(&net.b, std::slice::from_ref(&theirs));
        let again = wait_for(Duration::from_secs(40), Duration::from_millis(250), || {
            let c = ikev2d.conn_status("lab")?;
            (interop_tests::ikev2d::is_established(&c)
                && c["ike_sa"]["spi_i"] != before
                && c["reestablishments"] == round)
                .then_some(c)
        });
        assert!(
            again.is_some(),
            "round {round}: not re-established: {:?}\n{}",
            ikev2d.conn_status("lab"),
            ikev2d.log_tail(30)
        );
    }
    let c = ikev2d.conn_status("lab").expect("status");
    let w = c["warning"].as_str().unwrap_or_default();
    assert!(
        w.starts_with(
            "flapping: re-established 3 times in the last hour (3 x no answer (dead peer))"
        ),
        "{c}"
    );
    let text = ikev2d.status_text();
    eprintln!("$ ikev2d status\n{text}");
    assert!(
        text.contains("  WARNING: flapping: re-established 3 times"),
        "{text}"
    );
}

/// `ikev2d ping` through a live tunnel to strongSwan: the replies are counted; an
/// address the peer does not answer for fails plainly (exit 1), one outside the
/// selectors is refused with the reason, and it is an audited admin command.
#[test]
fn tunnel_ping_test() {
    require!(
        require_root(),
        require_tun(),
        require_strongswan(),
        ikev2d_binary()
    );
    let _bound = TimeBound::new("tunnel_ping_test", Duration::from_secs(120));
    let net = Pair::new();
    let mut conn = ConnSpec::site_a();
    conn.children[0].remote_ts = vec!["10.2.0.0/16".to_owned()];
    let _charon = Charon::start(&net.b, &[conn.mirrored()]);
    let ikev2d = Ikev2d::start(&net.a, &Ikev2dConfig::new(vec![conn]));
    assert!(ikev2d.up("lab", Duration::from_secs(20)).ok());
    let o = ikev2d.ctl(&["ping", "lab", "--count", "3"]);
    eprintln!("$ ikev2d ping lab --count 3\n{}", o.stdout);
    assert!(o.ok(), "{o}");
    assert!(
        o.stdout
            .starts_with("PING 10.2.0.1 from 10.1.0.1 through lab/net: 56 data bytes\n")
            && o.stdout
                .contains("64 bytes from 10.2.0.1: icmp_seq=3 time=")
            && o.stdout
                .contains("3 packets transmitted, 3 received, 0% packet loss"),
        "{o}"
    );
    let j = ikev2d.ctl(&["ping", "lab", "--count", "2", "--json"]);
    assert!(j.ok(), "{j}");
    let v: serde_json::Value = serde_json::from_str(&j.stdout).expect("JSON");
    assert_eq!(v["replies"].as_array().map(Vec::len), Some(2), "{v}");
    assert!(v["replies"][0][1].as_f64().is_some(), "{v}");
    // Inside the selectors, but nobody there: no reply, exit 1.
    let o = ikev2d.ctl(&["ping", "lab", "--to", "10.2.7.7", "--count", "2"]);
    eprintln!("$ ikev2d ping lab --to 10.2.7.7 --count 2\n{}", o.stdout);
    assert_eq!(o.status.and_then(|s| s.code()), Some(1), "{o}");
    assert!(
        o.stdout
            .contains("2 packets transmitted, 0 received, 100% packet loss"),
        "{o}"
    );
    // Outside: refused with the reason.
    let o = ikev2d.ctl(&["ping", "lab", "--to", "192.0.2.99"]);
    eprintln!("$ ikev2d ping lab --to 192.0.2.99\n{}", o.stderr);
    assert_eq!(o.status.and_then(|s| s.code()), Some(1), "{o}");
    assert!(
        o.stderr
            .contains("192.0.2.99 is not in lab/net's remote_ts (10.2.0.0/16)"),
        "{o}"
    );
    let audit = std::fs::read_to_string(ikev2d.dir().join("audit.log")).unwrap_or_default();
    assert!(
        audit.contains("\"ping\"") && audit.contains("lab to 10.2.7.7"),
        "{audit}"
    );
}
