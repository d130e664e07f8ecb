//! The shared interop scenarios (`interop_tests::scenario::matrix`) against
//! strongSwan, on the backend `INTEROP_BACKEND` names: `netns` (default: namespaces
//! on this machine, strongSwan with kernel-libipsec) or `vagrant` (the two VMs of
//! vagrant/, strongSwan with the kernel's ESP). `INTEROP_SCENARIO=text` runs only the
//! scenarios whose name contains the text. The table printed at the end lists every
//! scenario as ok, FAILED or n/a (with the reason it cannot run on this backend or
//! against this strongSwan release).
//!
//! In namespaces the list runs three times: against the host's strongSwan 5.9.8 and
//! against 6.0.1 and 6.1.0 from Debian chroots (`scripts/strongswan6-chroot`).

use std::time::Duration;

use interop_tests::prereq::{
    STRONGSWAN61_SUITE, STRONGSWAN601_SUITE, ikev2d_binary, is_ci, require_root,
    require_strongswan, require_strongswan6, require_tun,
};
use interop_tests::scenario::{BackendKind, Release, Testbed, run_all};
use interop_tests::testbed::NetnsTestbed;
use interop_tests::vagrant::VagrantTestbed;
use interop_tests::{TimeBound, require};

#[test]
fn shared_scenarios_against_strongswan() {
    let kind = BackendKind::from_env().unwrap_or_else(|e| panic!("{e}"));
    let mut tb: Box<dyn Testbed> = match kind {
        BackendKind::Netns => {
            require!(
                require_root(),
                require_tun(),
                require_strongswan(),
                ikev2d_binary()
            );
            Box::new(NetnsTestbed::new())
        }
        BackendKind::Vagrant => match VagrantTestbed::connect() {
            Ok(tb) => Box::new(tb),
            Err(e) if is_ci() => panic!("INTEROP_BACKEND=vagrant: {e}"),
            Err(e) => {
                eprintln!("SKIP shared_scenarios_against_strongswan (vagrant): {e}");
                return;
            }
        },
    };
    let bound = match kind {
        BackendKind::Netns => 420,
        BackendKind::Vagrant => 2400,
    };
    run_list(tb.as_mut(), "shared_scenarios_against_strongswan", bound);
}

/// The list against a strongSwan 6 release from a chroot (namespaces only: the VMs
/// run their distribution's strongSwan, which the test above covers).
fn against_chroot(name: &str, suite: &str, release: Release) {
    if BackendKind::from_env().unwrap_or_else(|e| panic!("{e}")) != BackendKind::Netns {
        eprintln!("{name}: runs in namespaces only (INTEROP_BACKEND=netns)");
        return;
    }
    require!(require_root(), require_tun(), ikev2d_binary());
    let Some(root) = interop_tests::prereq::require(name, require_strongswan6(suite)) else {
        return;
    };
    let mut tb = NetnsTestbed::with_chroot(root, release);
    run_list(&mut tb, name, 600);
}

#[test]
fn shared_scenarios_against_strongswan601() {
    against_chroot(
        "shared_scenarios_against_strongswan601",
        STRONGSWAN601_SUITE,
        Release::V6_0,
    );
}

#[test]
fn shared_scenarios_against_strongswan610() {
    against_chroot(
        "shared_scenarios_against_strongswan610",
        STRONGSWAN61_SUITE,
        Release::V6_1,
    );
}

/// Runs the list (filtered by `INTEROP_SCENARIO`) on `tb` within `bound` seconds and
/// fails on any failed scenario or when none ran.
fn run_list(tb: &mut dyn Testbed, name: &str, bound: u64) {
    let kind = tb.kind();
    let release = tb.strongswan();
    let _bound = TimeBound::new(name, Duration::from_secs(bound));
    let filter = std::env::var("INTEROP_SCENARIO").ok();
    let (table, failures) = run_all(tb, filter.as_deref());
    eprintln!(
        "scenarios on {kind:?} against strongSwan {release}:\n{}",
        table.join("\n")
    );
    assert!(
        failures.is_empty(),
        "{} scenario(s) failed on {kind:?} against strongSwan {release}:\n\n{}\n\n{}",
        failures.len(),
        table.join("\n"),
        failures.join("\n\n")
    );
    assert!(
        table.iter().any(|l| l.starts_with("ok")),
        "no scenario ran (INTEROP_SCENARIO={filter:?})"
    );
}
