//! The namespace backend of the shared scenarios ([`crate::scenario`]): ikev2d in
//! namespace A, strongSwan (kernel-libipsec) in namespace B of a [`Pair`], both
//! restarted with fresh configurations for every scenario. strongSwan is the host's
//! (5.9.8) or runs from a Debian chroot (6.0.1, 6.1.0: `scripts/strongswan6-chroot`).

use std::path::PathBuf;

use std::os::unix::process::ExitStatusExt as _;
use std::process::ExitStatus;
use std::time::Duration;

use crate::cmd::Output;
use crate::conn::{ConnSpec, Sites};
use crate::ping::ping;
use crate::scenario::{BackendKind, Release, Side, Testbed};
use crate::{Charon, CharonOptions, Ikev2d, Ikev2dConfig, Pair};

/// The daemons are stopped (explicitly, in [`Drop`]) before the namespaces go.
#[derive(Debug)]
pub struct NetnsTestbed {
    net: Pair,
    ikev2d: Option<Ikev2d>,
    charon: Option<Charon>,
    release: Release,
    /// charon's root when it is not the host's.
    chroot: Option<PathBuf>,
}

impl NetnsTestbed {
    /// With the host's strongSwan (Debian 12: 5.9.8).
    pub fn new() -> Self {
        Self {
            ikev2d: None,
            charon: None,
            net: Pair::new(),
            release: Release::V5_9,
            chroot: None,
        }
    }

    /// With strongSwan `release` from the Debian chroot `root`.
    pub fn with_chroot(root: PathBuf, release: Release) -> Self {
        Self {
            ikev2d: None,
            charon: None,
            net: Pair::new(),
            release,
            chroot: Some(root),
        }
    }
}

impl Default for NetnsTestbed {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for NetnsTestbed {
    fn drop(&mut self) {
        self.ikev2d.take();
        self.charon.take();
    }
}

impl Testbed for NetnsTestbed {
    fn kind(&self) -> BackendKind {
        BackendKind::Netns
    }

    fn strongswan(&self) -> Release {
        self.release
    }

    fn sites(&self) -> Sites {
        Sites::netns()
    }

    fn load(&mut self, ours: &ConnSpec, theirs: &ConnSpec) -> Result<(), String> {
        self.ikev2d.take();
        self.charon.take();
        let opts = CharonOptions {
            chroot: self.chroot.clone(),
            ..CharonOptions::default()
        };
        self.charon = Some(Charon::start_with(
            &self.net.b,
            std::slice::from_ref(theirs),
            &opts,
        ));
        self.ikev2d = Some(Ikev2d::start(
            &self.net.a,
            &Ikev2dConfig::new(vec![ours.clone()]),
        ));
        Ok(())
    }

    fn ikev2d(&self, args: &[&str]) -> Output {
        match &self.ikev2d {
            Some(d) => d.ctl(args),
            None => not_running("ikev2d"),
        }
    }

    fn swanctl(&self, args: &[&str]) -> Output {
        match &self.charon {
            Some(c) => c.swanctl(args),
            None => not_running("charon"),
        }
    }

    fn ping(&self, from: Side, count: u32) -> u32 {
        let s = self.sites();
        match from {
            Side::Ikev2d => ping(&self.net.a, s.inner_a, s.inner_b, count),
            Side::StrongSwan => ping(&self.net.b, s.inner_b, s.inner_a, count),
        }
    }

    fn expected_mode(&self, _ours: &ConnSpec) -> &'static str {
        // kernel-libipsec only does ESP in UDP.
        "TUNNEL-in-UDP"
    }

    fn logs(&self) -> String {
        let mut s = String::new();
        if let Some(d) = &self.ikev2d {
            s.push_str(&format!("--- ikev2d\n{}\n", d.log_tail(40)));
        }
        if let Some(c) = &self.charon {
            s.push_str(&c.logs_tail(40));
        }
        s
    }
}

/// The [`Output`] of a command that could not run because its daemon is not started
/// (exit status 1).
fn not_running(what: &str) -> Output {
    Output {
        cmdline: what.to_owned(),
        status: Some(ExitStatus::from_raw(1 << 8)),
        stdout: String::new(),
        stderr: format!("{what} is not running"),
        elapsed: Duration::ZERO,
    }
}
