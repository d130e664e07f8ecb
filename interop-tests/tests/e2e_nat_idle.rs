//! "The tunnel drops every few minutes": A behind a NAT that forgets idle UDP
//! mappings after 15 s (`nf_conntrack_udp_timeout` in the router namespace), the
//! far side B sending to A after idle periods. With NAT-keepalives every 20 s
//! (strongSwan's default) the mapping dies in every idle stretch and B's packets
//! are lost; worse, B's packets into the dead mapping make the router pick a new
//! port for A's next datagram, so B's side keeps sending into nothing until A's
//! next IKE message (here its DPD after 30 s) tells it the new port.
//!
//! ikev2d behind that NAT with `keep_alive = "20s"` loses the same packets, and its
//! status names the cause with the silence measured; with `keep_alive = "auto"` it
//! lowers the interval after the first loss and the mapping survives every idle
//! stretch after that. strongSwan behind the same NAT in the same run, for
//! comparison. The numbers go to docs/tuning.md.

use std::time::{Duration, Instant};

use interop_tests::prereq::{
    ikev2d_binary, require_iptables, require_root, require_strongswan, require_tun,
};
use interop_tests::strongswan::wait_agreed;
use interop_tests::topology::{INNER_A, INNER_B, NAT_PUBLIC, PRIVATE_A};
use interop_tests::{
    Charon, ConnSpec, Ikev2d, Ikev2dConfig, NatPair, TimeBound, ping, ping_until, require,
};
use serde_json::Value;

/// The NAT's idle timeout in this test.
const NAT_IDLE: u32 = 15;

/// A's side (behind the NAT, DPD every 30 s as many sites run it) and B's side.
fn conns() -> (ConnSpec, ConnSpec) {
    let mut a = ConnSpec::site_a();
    a.local_addr = PRIVATE_A;
    a.local_id = PRIVATE_A.to_string();
    a.dpd_delay = Some("30s".to_owned());
    let mut b = a.mirrored();
    b.remote_addr = NAT_PUBLIC;
    b.dpd_delay = None;
    (a, b)
}

/// The topology with the short NAT timeout.
fn short_nat() -> NatPair {
    let net = NatPair::new();
    net.forget_udp_after(NAT_IDLE);
    net
}

/// Waits until the NAT has dropped A's port-4500 mapping; how long that took.
fn mapping_dropped(net: &NatPair, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if !net.has_mapping(4500) {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    None
}

/// B pings A's inner address until a reply comes (each ping waits 2 s); how long
/// until the first reply, or `None` if none came within `window`.
fn far_side_gets_through(net: &NatPair, window: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < window {
        if ping(&net.b, INNER_B, INNER_A, 1) == 1 {
            return Some(start.elapsed());
        }
    }
    None
}

/// The tunnel up from A and used both ways, then left idle.
fn warm_up(net: &NatPair) {
    assert!(ping_until(
        &net.a,
        INNER_A,
        INNER_B,
        Duration::from_secs(10)
    ));
    assert_eq!(
        ping(&net.b, INNER_B, INNER_A, 2),
        2,
        "B -> A through the NAT"
    );
}

/// The `keep_alive` object of A's connection, once it shows a mapping loss.
fn loss_reported(a: &Ikev2d, within: Duration) -> Value {
    let start = Instant::now();
    loop {
        let st = a.conn_status("lab").expect("status");
        if st["keep_alive"]["mapping_losses"].as_u64().unwrap_or(0) >= 1 {
            return st["keep_alive"].clone();
        }
        assert!(
            start.elapsed() < within,
            "no NAT mapping loss in status after B's packets came back: {st}\n{}",
            a.log_tail(30)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// ikev2d behind the NAT with `keep_alive` = `setting`, ikev2d on the far side:
/// the first idle stretch. Returns both daemons (still running) and how long B's
/// traffic took to get through. (The far side is ikev2d because it moves the SA to
/// A's new port when A's next IKE message shows it, as strongSwan does with the
/// kernel's ESP; strongSwan with kernel-libipsec, the only strongSwan that runs
/// here, rekeys the CHILD SA instead, which hides the hole in the sequence numbers.)
fn ikev2d_first_idle(net: &NatPair, setting: &str) -> (Ikev2d, Ikev2d, Duration) {
    let (a, b) = conns();
    let far = Ikev2d::start(&net.b, &Ikev2dConfig::new(vec![b]));
    let mut cfg = Ikev2dConfig::new(vec![a]);
    cfg.keep_alive = Some(setting.to_owned());
    let ikev2d = Ikev2d::start(&net.a, &cfg);
    let up = ikev2d.up("lab", Duration::from_secs(20));
    assert!(up.ok(), "ikev2d up through the NAT: {up}");
    far.wait_established("lab", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));
    warm_up(net);
    let idle = mapping_dropped(net, Duration::from_secs(60));
    assert!(
        idle.is_some(),
        "keep_alive {setting}: the NAT never dropped the mapping"
    );
    let through = far_side_gets_through(net, Duration::from_secs(45))
        .unwrap_or_else(|| panic!("keep_alive {setting}: B never got through after idle"));
    (ikev2d, far, through)
}

#[test]
fn nat_idle_timeout_is_named_and_auto_keep_alive_outlasts_it() {
    require!(
        require_root(),
        require_tun(),
        require_strongswan(),
        ikev2d_binary(),
        require_iptables()
    );
    let _bound = TimeBound::new(
        "nat_idle_timeout_is_named_and_auto_keep_alive_outlasts_it",
        Duration::from_secs(420),
    );
    // The three sites run side by side: each in namespaces of its own.
    let (fixed, auto, strongswan) = std::thread::scope(|s| {
        let fixed = s.spawn(fixed_20s);
        let auto = s.spawn(auto_keep_alive);
        let strongswan = s.spawn(strongswan_behind_the_nat);
        (
            fixed
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e)),
            auto.join().unwrap_or_else(|e| std::panic::resume_unwind(e)),
            strongswan
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e)),
        )
    });
    eprintln!(
        "far-side traffic after idle behind a {NAT_IDLE} s NAT, first reply after: \
         ikev2d keep_alive=20s {:.1} s; ikev2d auto: first idle {:.1} s, then {:.1} s \
         (keep_alive {} s); strongSwan keep_alive=20s {:.1} s",
        fixed.as_secs_f64(),
        auto.0.as_secs_f64(),
        auto.1.as_secs_f64(),
        auto.2,
        strongswan.as_secs_f64()
    );
}

/// `keep_alive = "20s"`: B's packets are lost, and status says why, with the
/// silence measured; the interval stays.
fn fixed_20s() -> Duration {
    let net = short_nat();
    let (a, far, through) = ikev2d_first_idle(&net, "20s");
    assert!(
        through >= Duration::from_secs(2),
        "keep_alive 20s: B got through at once ({through:?}): no mapping was lost"
    );
    let k = loss_reported(&a, Duration::from_secs(10));
    // The NAT gave A a new port (B's packets into the dead mapping held the old
    // one) and the far side followed it.
    let b = far.conn_status("lab").expect("far side's status");
    assert!(
        b["peer_mapping_changes"].as_u64().unwrap_or(0) >= 1,
        "the far side did not see A's new port: {b}"
    );
    assert_eq!(k["secs"], 20, "{k}");
    assert_eq!(k["auto"], false, "{k}");
    let silence = k["last_loss_silence_secs"].as_u64().unwrap_or(0);
    assert!(
        (u64::from(NAT_IDLE)..=31).contains(&silence),
        "measured silence {silence} s: the mapping died in a silence of at least the \
         NAT's {NAT_IDLE} s and at most the DPD interval: {k}"
    );
    let text = k["last_loss"].as_str().unwrap_or_default();
    assert!(
        text.contains("dropped our UDP mapping after at most")
            && text.contains("lower keep_alive (now 20 s)"),
        "{k}"
    );
    let log = a.log();
    let line = log
        .lines()
        .find(|l| l.contains("dropped our UDP mapping"))
        .unwrap_or_else(|| panic!("no log line names the NAT:\n{}", a.log_tail(20)));
    eprintln!("keep_alive 20s, the log:\n{line}");
    let shown = a.status_text();
    assert!(
        shown.contains("keep_alive: 20 s, NAT mapping losses: 1"),
        "{shown}"
    );
    eprintln!("keep_alive 20s, status:\n{shown}");
    through
}

/// `keep_alive = "auto"`: after the first loss the interval drops below the NAT's
/// timeout; the next idle stretch keeps the mapping and B gets through at once.
fn auto_keep_alive() -> (Duration, Duration, u64) {
    let net = short_nat();
    let (a, _b, first) = ikev2d_first_idle(&net, "auto");
    let k = loss_reported(&a, Duration::from_secs(10));
    assert_eq!(k["auto"], true, "{k}");
    let secs = k["secs"].as_u64().unwrap_or(99);
    assert!(
        secs < u64::from(NAT_IDLE),
        "auto keep_alive {secs} s after the loss, the NAT forgets after {NAT_IDLE} s: {k}"
    );
    // A second idle stretch, longer than the NAT's timeout: the mapping stays.
    assert_eq!(
        mapping_dropped(&net, Duration::from_secs(40)),
        None,
        "auto keep_alive {secs} s: the NAT still dropped the mapping"
    );
    let second = far_side_gets_through(&net, Duration::from_secs(10))
        .unwrap_or_else(|| panic!("auto: B did not get through after the second idle stretch"));
    assert!(
        second < Duration::from_secs(2),
        "auto: B's first ping after idle was lost ({second:?})"
    );
    let after = a.conn_status("lab").expect("status");
    assert_eq!(after["keep_alive"]["mapping_losses"], 1, "{after}");
    eprintln!(
        "auto keep_alive, after two idle stretches:\n{}",
        a.status_text()
    );
    (first, second, secs)
}

/// strongSwan behind the same NAT with its default keep_alive (20 s) and DPD every
/// 30 s, ikev2d on the far side.
fn strongswan_behind_the_nat() -> Duration {
    let net = short_nat();
    let (a, b) = conns();
    let ikev2d = Ikev2d::start(&net.b, &Ikev2dConfig::new(vec![b]));
    let charon = Charon::start(&net.a, &[a]);
    let o = charon.initiate("net");
    assert!(o.ok(), "swanctl --initiate through the NAT: {o}");
    wait_agreed(&ikev2d, &charon, "lab", Duration::from_secs(10)).unwrap_or_else(|e| panic!("{e}"));
    warm_up(&net);
    assert!(
        mapping_dropped(&net, Duration::from_secs(60)).is_some(),
        "strongSwan: the NAT never dropped the mapping"
    );
    far_side_gets_through(&net, Duration::from_secs(45))
        .unwrap_or_else(|| panic!("strongSwan: B never got through after idle"))
}
