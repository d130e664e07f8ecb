//! What this test process created (namespaces, process groups), so that a test that
//! overruns its [`TimeBound`] can still remove it all before the process exits.
//! Normal cleanup is the `Drop` of [`crate::netns::Netns`] and [`crate::proc::Proc`];
//! they deregister here.

use std::process::Command;
use std::sync::Mutex;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread;
use std::time::Duration;

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

/// An overall time limit for one test. Keep the guard alive for the whole test; if it
/// is still alive after `limit`, the watchdog prints a message, removes everything the
/// process created ([`cleanup_all`]) and exits the test process with status 1.
#[derive(Debug)]
pub struct TimeBound {
    done: Option<Sender<()>>,
}

impl TimeBound {
    pub fn new(test: &str, limit: Duration) -> Self {
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
        Self { done: Some(tx) }
    }
}

impl Drop for TimeBound {
    fn drop(&mut self) {
        if let Some(tx) = self.done.take() {
            let _ = tx.send(());
        }
    }
}
