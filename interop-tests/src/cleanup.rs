//! What this test process created (namespaces, process groups), so that a test that
//! overruns its [`TimeBound`] can still remove it all before the process exits.
//! Normal cleanup is the `Drop` of [`crate::netns::Netns`] and [`crate::proc::Proc`];
//! they deregister here.
//!
//! [`TimeBound`] also serialises the heavy tests: every interop test holds a shared
//! `flock(2)` on one lock file for its whole run, and a heavy one
//! ([`TimeBound::alone`]: floods, 100 pps under rekeys) an exclusive one, so it runs
//! while no other interop test does, whether they are threads of the same test binary
//! (libtest runs a binary's tests in parallel), other test binaries run at the same
//! time (cargo nextest, a second `cargo test`) or another checkout's tests on the same
//! machine. Its time limit starts once it has the lock.

use std::fs::File;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread;
use std::time::Duration;

use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

#[derive(Default)]
struct Registry {
    namespaces: Vec<String>,
    groups: Vec<i32>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    namespaces: Vec::new(),
    groups: Vec::new(),
});

fn with<T>(f: impl FnOnce(&mut Registry) -> T) -> T {
    let mut g = REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
    f(&mut g)
}

pub(crate) fn add_namespace(name: &str) {
    with(|r| r.namespaces.push(name.to_owned()));
}

pub(crate) fn remove_namespace(name: &str) {
    with(|r| r.namespaces.retain(|n| n != name));
}

pub(crate) fn add_group(pgid: i32) {
    with(|r| r.groups.push(pgid));
}

pub(crate) fn remove_group(pgid: i32) {
    with(|r| r.groups.retain(|g| *g != pgid));
}

/// Kill every registered process group and delete every registered namespace.
pub fn cleanup_all() {
    let (groups, namespaces) = with(|r| {
        (
            std::mem::take(&mut r.groups),
            std::mem::take(&mut r.namespaces),
        )
    });
    for g in groups {
        let _ = killpg(Pid::from_raw(g), Signal::SIGKILL);
    }
    thread::sleep(Duration::from_millis(200));
    for ns in namespaces {
        let _ = Command::new("ip").args(["netns", "del", &ns]).status();
    }
}

/// The lock file shared by every interop test on this machine.
fn lock_path() -> PathBuf {
    std::env::temp_dir().join("ikev2d-interop-tests.lock")
}

/// Take the interop lock, shared or exclusive; waits as long as it takes (every holder
/// is bounded by its own [`TimeBound`], and a process that exits drops its locks).
fn take_lock(test: &str, arg: FlockArg) -> Flock<File> {
    let path = lock_path();
    // flock needs no write access: a file another user created (mode 0644) is
    // opened read-only.
    let open = || {
        File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .or_else(|_| File::open(&path))
            .unwrap_or_else(|e| panic!("{test}: cannot open the lock file {}: {e}", path.display()))
    };
    let nonblocking = match arg {
        FlockArg::LockExclusive => FlockArg::LockExclusiveNonblock,
        _ => FlockArg::LockSharedNonblock,
    };
    match Flock::lock(open(), nonblocking) {
        Ok(lock) => lock,
        Err((file, _)) => {
            if matches!(arg, FlockArg::LockExclusive) {
                eprintln!(
                    "{test}: waiting until no other interop test runs ({})",
                    path.display()
                );
            }
            Flock::lock(file, arg)
                .unwrap_or_else(|(_, e)| panic!("{test}: cannot lock {}: {e}", path.display()))
        }
    }
}

/// An overall time limit for one test. Keep the guard alive for the whole test; if it
/// is still alive after `limit`, the watchdog prints a message, removes everything the
/// process created ([`cleanup_all`]) and exits the test process with status 1. It
/// holds the interop lock (see the module documentation) until it is dropped.
#[derive(Debug)]
pub struct TimeBound {
    done: Option<Sender<()>>,
    _lock: Flock<File>,
}

impl TimeBound {
    /// A time limit for an ordinary test: it may run beside other ordinary tests.
    pub fn new(test: &str, limit: Duration) -> Self {
        Self::start(test, limit, take_lock(test, FlockArg::LockShared))
    }

    /// A time limit for a heavy test, which runs alone: it waits until no other
    /// interop test runs, and none starts until it is done. For tests whose verdict
    /// depends on timing (no ping lost at 100 per second, answers within 2 s under a
    /// flood) on a machine with few cores.
    pub fn alone(test: &str, limit: Duration) -> Self {
        Self::start(test, limit, take_lock(test, FlockArg::LockExclusive))
    }

    fn start(test: &str, limit: Duration, lock: Flock<File>) -> Self {
        let (tx, rx) = mpsc::channel::<()>();
        let test = test.to_owned();
        thread::spawn(move || match rx.recv_timeout(limit) {
            Err(RecvTimeoutError::Timeout) => {
                eprintln!(
                    "interop test `{test}` exceeded its time bound of {}s: killing its \
                     processes, deleting its namespaces, exiting",
                    limit.as_secs()
                );
                cleanup_all();
                std::process::exit(1);
            }
            Ok(()) | Err(RecvTimeoutError::Disconnected) => {}
        });
        Self {
            done: Some(tx),
            _lock: lock,
        }
    }
}

impl Drop for TimeBound {
    fn drop(&mut self) {
        if let Some(tx) = self.done.take() {
            let _ = tx.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shared holders coexist; an exclusive one excludes them and is excluded by them.
    #[test]
    fn shared_and_exclusive_locks_exclude_each_other() {
        let a = take_lock("t", FlockArg::LockShared);
        let b = take_lock("t", FlockArg::LockShared);
        let try_alone = || {
            Flock::lock(
                File::open(lock_path()).expect("lock file"),
                FlockArg::LockExclusiveNonblock,
            )
            .is_ok()
        };
        assert!(!try_alone(), "exclusive lock taken beside shared ones");
        drop((a, b));
        let alone = take_lock("t", FlockArg::LockExclusive);
        let shared = Flock::lock(
            File::open(lock_path()).expect("lock file"),
            FlockArg::LockSharedNonblock,
        );
        assert!(shared.is_err(), "shared lock taken beside an exclusive one");
        drop(alone);
    }
}
