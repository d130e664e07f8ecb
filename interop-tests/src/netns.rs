//! Network namespaces for one test: [`Netns`] creates a uniquely named namespace
//! (`ikt<pid>-<n>-<tag>`, so tests in parallel threads and processes never collide)
//! and deletes exactly it on drop, after killing whatever still runs inside, also when
//! the test panics. [`veth`] joins two namespaces.

use std::net::IpAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::cleanup;
use crate::cmd::{self, DEFAULT_TIMEOUT, Output};
use crate::proc::Proc;

static COUNTER: AtomicU32 = AtomicU32::new(0);
static SWEEP: Once = Once::new();

/// The pid in a harness namespace name `ikt<pid>-<n>-<tag>`.
fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("ikt")?;
    let (pid, tail) = rest.split_once('-')?;
    let (n, _) = tail.split_once('-')?;
    n.parse::<u32>().ok()?;
    pid.parse().ok()
}

/// Delete harness namespaces left behind by test processes that no longer exist
/// (killed by Ctrl-C before their `Drop` ran), with whatever still runs in them.
fn sweep_stale() {
    let list = cmd::run_args("ip", &["netns", "list"], DEFAULT_TIMEOUT);
    for line in list.stdout.lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        let Some(pid) = owner_pid(name) else { continue };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        eprintln!("removing stale namespace {name} (its test process {pid} is gone)");
        let stale = Netns {
            name: name.to_owned(),
        };
        drop(stale);
    }
}

#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Create a namespace with `lo` up. `tag` (a few letters) makes the name readable
    /// in `ip netns list`.
    #[track_caller]
    pub fn new(tag: &str) -> Self {
        SWEEP.call_once(sweep_stale);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("ikt{}-{n}-{tag}", std::process::id());
        cmd::run_args("ip", &["netns", "add", &name], DEFAULT_TIMEOUT).expect_ok();
        cleanup::add_namespace(&name);
        let ns = Self { name };
        ns.run_ok(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip netns exec <ns> program args...`, not yet run.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).args(args);
        c
    }

    /// Run `args` in the namespace with a time limit.
    pub fn exec(&self, args: &[&str], timeout: Duration) -> Output {
        cmd::run(&mut self.command(args), timeout)
    }

    /// Run `args` in the namespace ([`DEFAULT_TIMEOUT`]); panic unless it exits 0.
    #[track_caller]
    pub fn run_ok(&self, args: &[&str]) -> Output {
        self.exec(args, DEFAULT_TIMEOUT).expect_ok()
    }

    /// Start a long-running process in the namespace, output to `log`.
    #[track_caller]
    pub fn spawn(&self, name: &str, args: &[&str], log: &Path) -> Proc {
        Proc::spawn(name, &mut self.command(args), log)
    }

    /// Add `cidr` (`10.1.0.1/24`) to `dev` (inner test networks go on `lo`: the
    /// kernel has no `dummy` links here).
    #[track_caller]
    pub fn add_addr(&self, dev: &str, cidr: &str) {
        self.run_ok(&["ip", "addr", "add", cidr, "dev", dev]);
    }

    #[track_caller]
    pub fn link_up(&self, dev: &str) {
        self.run_ok(&["ip", "link", "set", dev, "up"]);
    }

    /// Pids of every process in the namespace.
    pub fn pids(&self) -> Vec<u32> {
        let o = cmd::run_args("ip", &["netns", "pids", &self.name], DEFAULT_TIMEOUT);
        o.stdout
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }

    /// Whether `addr` answers one ping from inside the namespace within `timeout`.
    pub fn reachable(&self, addr: IpAddr, timeout: Duration) -> bool {
        let a = addr.to_string();
        cmd::wait_for(timeout, Duration::from_millis(100), || {
            self.exec(
                &["ping", "-n", "-q", "-c", "1", "-W", "1", &a],
                Duration::from_secs(3),
            )
            .ok()
            .then_some(())
        })
        .is_some()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Processes still inside are ours (the namespace is): the harness' own Procs
        // are normally stopped before, this is the backstop.
        for pid in self.pids() {
            if let Ok(p) = i32::try_from(pid) {
                eprintln!("netns {}: killing leftover pid {pid}", self.name);
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(p),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        let o = cmd::run_args("ip", &["netns", "del", &self.name], DEFAULT_TIMEOUT);
        if !o.ok() {
            eprintln!("cannot delete namespace: {o}");
        }
        cleanup::remove_namespace(&self.name);
    }
}

/// A veth pair between `a` (interface `a_if`) and `b` (`b_if`), both up. The
/// interfaces are created directly inside the namespaces, so their names only need to
/// be unique there; they disappear with the namespaces.
#[track_caller]
pub fn veth(a: &Netns, a_if: &str, b: &Netns, b_if: &str) {
    cmd::run_args(
        "ip",
        &[
            "link", "add", a_if, "netns", &a.name, "type", "veth", "peer", "name", b_if, "netns",
            &b.name,
        ],
        DEFAULT_TIMEOUT,
    )
    .expect_ok();
    a.link_up(a_if);
    b.link_up(b_if);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_of_a_name() {
        assert_eq!(owner_pid("ikt1234-0-a"), Some(1234));
        assert_eq!(owner_pid("ikt1234-17-b"), Some(1234));
        assert_eq!(owner_pid("ikt-man-a"), None);
        assert_eq!(owner_pid("swlab-a"), None);
        assert_eq!(owner_pid("ikt12x-0-a"), None);
    }
}
