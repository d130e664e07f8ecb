//! ikev2d against strongSwan 6 (run from Debian chroots that
//! `scripts/strongswan6-chroot` builds and caches: `CharonOptions::chroot`) with
//! additional key exchanges (RFC 9370 over RFC 9242 IKE_INTERMEDIATE):
//!
//! - strongSwan 6.1.0 (Debian sid): the post-quantum hybrid, X25519 in IKE_SA_INIT and
//!   ML-KEM-768 as additional key exchange 1 (strongSwan does ML-KEM through its
//!   openssl plugin with OpenSSL 3.6);
//! - strongSwan 6.0.1 (Debian 13, the current stable): X25519 plus ECP-384 as
//!   additional key exchange 1 (its openssl plugin has no ML-KEM).
//!
//! Both roles: ikev2d initiates to a strongSwan responder, then strongSwan initiates
//! to an ikev2d responder. Each checks that both sides negotiated the same methods,
//! agree on the IKE and ESP SPIs, and pass pings both ways; then each side rekeys the
//! CHILD SA and the IKE SA, the first key exchange in CREATE_CHILD_SA and the
//! additional one in IKE_FOLLOWUP_KE (RFC 9370 section 2.2.4), with pings after each.

use std::path::Path;
use std::time::Duration;

use interop_tests::prereq::{
    STRONGSWAN61_SUITE, STRONGSWAN601_SUITE, ikev2d_binary, require_root, require_strongswan6,
    require_tun,
};
use interop_tests::strongswan::{Rekey, TunnelSpis, wait_agreed_on, wait_rekeyed};
use interop_tests::topology::{INNER_A, INNER_B};
use interop_tests::{
    Charon, CharonOptions, ConnSpec, Ikev2d, Ikev2dConfig, Pair, TimeBound, ping, ping_until,
    require,
};

/// One strongSwan 6 peer and what both sides should show for it.
struct Peer {
    /// IKE and ESP proposals, on both sides.
    ike: &'static str,
    esp: &'static str,
    /// ikev2d's status notation of the IKE SA and the rekeyed CHILD SA.
    ike_status: &'static str,
    child_status: &'static str,
    /// What `swanctl --list-sas` shows for them.
    sw_ike: &'static str,
    sw_child: &'static str,
}

const ML_KEM: Peer = Peer {
    ike: "aes256gcm16-prfsha384-x25519-ke1_mlkem768",
    esp: "aes256gcm16-x25519-ke1_mlkem768",
    ike_status: "aes256gcm16-prfsha384-curve25519-ke1_mlkem768",
    child_status: "aes256gcm16-curve25519-ke1_mlkem768",
    sw_ike: "AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519/KE1_ML_KEM_768",
    sw_child: "ESP:AES_GCM_16-256/CURVE_25519/KE1_ML_KEM_768",
};

const ECP384: Peer = Peer {
    ike: "aes256gcm16-prfsha384-x25519-ke1_ecp384",
    esp: "aes256gcm16-x25519-ke1_ecp384",
    ike_status: "aes256gcm16-prfsha384-curve25519-ke1_ecp384",
    child_status: "aes256gcm16-curve25519-ke1_ecp384",
    sw_ike: "AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519/KE1_ECP_384",
    sw_child: "ESP:AES_GCM_16-256/CURVE_25519/KE1_ECP_384",
};

/// Which side starts the IKE SA.
#[derive(Clone, Copy, Debug)]
enum Initiator {
    Ikev2d,
    StrongSwan,
}

/// ikev2d in A, charon 6 from `chroot` in B; `who` initiates; then agreement on the
/// SPIs, the same methods on both sides, pings both ways, and the rekeys.
fn run(chroot: &Path, who: Initiator, peer: &Peer) {
    let net = Pair::new();
    let conn = ConnSpec::site_a().with_proposals(peer.ike, peer.esp);
    let opts = CharonOptions {
        chroot: Some(chroot.to_owned()),
        ..CharonOptions::default()
    };
    let charon = Charon::start_with(&net.b, &[conn.mirrored()], &opts);
    let mut ikev2d = Ikev2d::start(&net.a, &Ikev2dConfig::new(vec![conn]));
    let version = charon.swanctl(&["--version", "--daemon"]);
    eprintln!("{who:?} initiates; peer: {}", version.stdout.trim());
    match who {
        Initiator::Ikev2d => {
            let up = ikev2d.up("lab", Duration::from_secs(30));
            assert!(
                up.ok(),
                "ikev2d up lab: {up}\n{}\n{}",
                ikev2d.log_tail(80),
                charon.logs_tail(120)
            );
        }
        Initiator::StrongSwan => {
            let o = charon.initiate("net");
            assert!(
                o.ok(),
                "swanctl --initiate: {o}\n{}\n{}",
                charon.logs_tail(120),
                ikev2d.log_tail(80)
            );
        }
    }
    let (st, sw) = wait_agreed_on(&ikev2d, &charon, "lab", Duration::from_secs(15), &|_, _| {
        true
    })
    .unwrap_or_else(|e| panic!("{e}\n{}\n{}", ikev2d.log_tail(80), charon.logs_tail(120)));
    let spis = TunnelSpis::of(&st, &sw);
    eprintln!("{who:?} initiated, SPIs: {spis:?}");
    assert_eq!(
        st["ike_sa"]["proposal"], peer.ike_status,
        "ikev2d's IKE SA: {st}"
    );
    // ikev2d's status names the algorithms as swanctl does.
    assert_eq!(
        st["ike_sa"]["algorithms"], peer.sw_ike,
        "ikev2d's IKE SA: {st}"
    );
    let text = charon.list_sas_text();
    assert!(
        text.contains(peer.sw_ike),
        "strongSwan's IKE SA is not {}:\n{text}",
        peer.sw_ike
    );
    let log = charon.log();
    let exchanges: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("IKE_INTERMEDIATE") || l.contains("selected proposal"))
        .collect();
    assert!(
        !exchanges.is_empty() && exchanges.iter().any(|l| l.contains("IKE_INTERMEDIATE")),
        "strongSwan logged no IKE_INTERMEDIATE exchange:\n{}",
        charon.logs_tail(80)
    );
    eprintln!(
        "strongSwan's log:\n{}\nstrongSwan's SA:\n{text}",
        exchanges.join("\n")
    );
    assert_eq!(sw.children[0].mode, "TUNNEL-in-UDP", "{sw:?}");
    assert!(
        ping_until(&net.a, INNER_A, INNER_B, Duration::from_secs(10)),
        "no ping reply through the tunnel within 10 s\n{}\n{}",
        ikev2d.log_tail(40),
        charon.logs_tail(40)
    );
    assert_eq!(ping(&net.a, INNER_A, INNER_B, 5), 5, "lost pings A -> B");
    assert_eq!(ping(&net.b, INNER_B, INNER_A, 3), 3, "lost pings B -> A");
    // Still the same tunnel on both sides after the traffic.
    let (st, sw) = wait_agreed_on(&ikev2d, &charon, "lab", Duration::from_secs(5), &|_, _| {
        true
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        TunnelSpis::of(&st, &sw),
        spis,
        "SPIs changed during the pings"
    );
    let ch = &sw.children[0];
    assert!(
        ch.packets_in >= 8 && ch.packets_out >= 8,
        "strongSwan counters: {ch:?}"
    );
    rekeys(&net, &ikev2d, &charon, spis, peer);
    ikev2d.stop_clean();
}

/// Each side rekeys the CHILD SA, then the IKE SA, each with its IKE_FOLLOWUP_KE;
/// after each both agree on all-new SPIs of that kind and pings pass.
fn rekeys(net: &Pair, ikev2d: &Ikev2d, charon: &Charon, mut spis: TunnelSpis, peer: &Peer) {
    let steps = [
        ("ikev2d's CHILD SA rekey", true, false),
        ("ikev2d's IKE SA rekey", true, true),
        ("strongSwan's CHILD SA rekey", false, false),
        ("strongSwan's IKE SA rekey", false, true),
    ];
    let followups_before = followups(charon);
    for (what, ours, ike) in steps {
        let r = match (ours, ike) {
            (true, false) => ikev2d.rekey_child("lab", "net"),
            (true, true) => ikev2d.rekey_ike("lab"),
            (false, false) => charon.swanctl(&["--rekey", "--child", "net"]),
            (false, true) => charon.swanctl(&["--rekey", "--ike", "lab"]),
        };
        assert!(r.ok(), "{what}: {r}");
        let kind = if ike { Rekey::Ike } else { Rekey::Child };
        let (now, st) = wait_rekeyed(ikev2d, charon, &spis, kind, Duration::from_secs(20), what);
        spis = now;
        if ike {
            assert_eq!(st["ike_sa"]["proposal"], peer.ike_status, "{what}: {st}");
        } else {
            assert_eq!(
                st["children"][0]["proposal"], peer.child_status,
                "{what}: {st}"
            );
            let algorithms = st["children"][0]["algorithms"].as_str().unwrap_or_default();
            assert_eq!(format!("ESP:{algorithms}"), peer.sw_child, "{what}: {st}");
        }
        assert!(
            ping_until(&net.a, INNER_A, INNER_B, Duration::from_secs(10)),
            "no ping reply after {what}\n{}\n{}",
            ikev2d.log_tail(40),
            charon.logs_tail(60)
        );
        assert_eq!(
            ping(&net.a, INNER_A, INNER_B, 3),
            3,
            "lost pings after {what}"
        );
    }
    let text = charon.list_sas_text();
    assert!(
        text.contains(peer.sw_child) && text.contains(peer.sw_ike),
        "strongSwan's SAs are not {} and {}:\n{text}",
        peer.sw_ike,
        peer.sw_child
    );
    // Four rekeys, one IKE_FOLLOWUP_KE each (strongSwan logs each message once).
    let fu = followups(charon) - followups_before;
    assert!(fu >= 4, "strongSwan logged {fu} IKE_FOLLOWUP_KE requests");
    assert!(ikev2d.conn_status("lab").is_some());
}

/// How many IKE_FOLLOWUP_KE requests strongSwan logged (sent or received).
fn followups(charon: &Charon) -> usize {
    charon
        .log()
        .lines()
        .filter(|l| l.contains("IKE_FOLLOWUP_KE request"))
        .count()
}

#[test]
fn post_quantum_hybrid_with_strongswan6_both_roles() {
    require!(require_root(), require_tun(), ikev2d_binary());
    // The first run builds the chroot (debootstrap, about a minute).
    let name = "post_quantum_hybrid_with_strongswan6_both_roles";
    let _bound = TimeBound::new(name, Duration::from_secs(600));
    let Some(chroot) =
        interop_tests::prereq::require(name, require_strongswan6(STRONGSWAN61_SUITE))
    else {
        return;
    };
    run(&chroot, Initiator::Ikev2d, &ML_KEM);
    run(&chroot, Initiator::StrongSwan, &ML_KEM);
}

/// Debian 13's strongSwan 6.0.1, the version new sites get from the stable release.
#[test]
fn additional_ecp384_with_strongswan601_both_roles() {
    require!(require_root(), require_tun(), ikev2d_binary());
    let name = "additional_ecp384_with_strongswan601_both_roles";
    let _bound = TimeBound::new(name, Duration::from_secs(600));
    let Some(chroot) =
        interop_tests::prereq::require(name, require_strongswan6(STRONGSWAN601_SUITE))
    else {
        return;
    };
    run(&chroot, Initiator::Ikev2d, &ECP384);
    run(&chroot, Initiator::StrongSwan, &ECP384);
}
