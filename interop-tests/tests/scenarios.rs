//! The shared interop scenarios (`interop_tests::scenario::matrix`) against
//! strongSwan, on the backend `INTEROP_BACKEND` names: `netns` (default: namespaces
//! on this machine, strongSwan with kernel-libipsec) or `vagrant` (the two VMs of
//! vagrant/, strongSwan with the kernel's ESP). `INTEROP_SCENARIO=text` runs only the
//! scenarios whose name contains the text. The table printed at the end lists every
//! scenario as ok, FAILED or n/a (with the reason it cannot run on this backend).

use std::time::Duration;

use interop_tests::prereq::{ikev2d_binary, is_ci, require_root, require_strongswan, require_tun};
use interop_tests::scenario::{BackendKind, Testbed, run_all};
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
    let _bound = TimeBound::new(
        "shared_scenarios_against_strongswan",
        Duration::from_secs(bound),
    );
    let filter = std::env::var("INTEROP_SCENARIO").ok();
    let (table, failures) = run_all(tb.as_mut(), filter.as_deref());
    eprintln!("scenarios on {kind:?}:\n{}", table.join("\n"));
    assert!(
        failures.is_empty(),
        "{} scenario(s) failed on {kind:?}:\n\n{}\n\n{}",
        failures.len(),
        table.join("\n"),
        failures.join("\n\n")
    );
    assert!(
        table.iter().any(|l| l.starts_with("ok")),
        "no scenario ran (INTEROP_SCENARIO={filter:?})"
    );
}
