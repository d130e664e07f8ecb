//! A long-running process (a daemon) with its output in a log file. It runs in a
//! process group of its own; [`Proc::stop`] sends SIGTERM and, after a grace period,
//! SIGKILL to the group. Dropping a `Proc` that still runs stops it.

use std::fs::File;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

use crate::cleanup;
use crate::cmd::cmdline;

/// How long [`Proc::stop`] waits after SIGTERM before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
    status: Option<ExitStatus>,
}

impl Proc {
    /// Start `cmd` with stdin from /dev/null and stdout and stderr appended to `log`.
    #[track_caller]
    pub fn spawn(name: &str, cmd: &mut Command, log: &Path) -> Self {
        let line = cmdline(cmd);
        let f = File::options()
            .create(true)
            .append(true)
            .open(log)
            .unwrap_or_else(|e| panic!("cannot open log {}: {e}", log.display()));
        let f2 = f
            .try_clone()
            .unwrap_or_else(|e| panic!("cannot dup log {}: {e}", log.display()));
        let child = cmd
            .stdin(Stdio::null())
            .stdout(f)
            .stderr(f2)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} (`{line}`): {e}"));
        cleanup::add_group(pid_i32(child.id()));
        Self {
            name: name.to_owned(),
            child,
            log: log.to_owned(),
            status: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The whole log file (lossy UTF-8).
    pub fn log(&self) -> String {
        std::fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The last `n` lines of the log.
    pub fn log_tail(&self, n: usize) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// `Some(status)` once the process has exited.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            if let Ok(Some(s)) = self.child.try_wait() {
                self.status = Some(s);
                cleanup::remove_group(pid_i32(self.child.id()));
            }
        }
        self.status
    }

    pub fn is_running(&mut self) -> bool {
        self.try_status().is_none()
    }

    /// Send `sig` to the process itself (not its group).
    pub fn signal(&mut self, sig: Signal) {
        if self.is_running() {
            let _ = kill(Pid::from_raw(pid_i32(self.child.id())), sig);
        }
    }

    /// SIGTERM, wait up to `grace`, then SIGKILL to the group. Returns the exit status
    /// and whether SIGKILL was needed.
    pub fn stop(&mut self, grace: Duration) -> (ExitStatus, bool) {
        let pgid = Pid::from_raw(pid_i32(self.child.id()));
        let mut killed = false;
        if self.is_running() {
            self.signal(Signal::SIGTERM);
            let start = Instant::now();
            while self.is_running() && start.elapsed() < grace {
                thread::sleep(Duration::from_millis(20));
            }
            if self.is_running() {
                eprintln!(
                    "{} (pid {}) ignored SIGTERM for {grace:?}: SIGKILL",
                    self.name,
                    self.pid()
                );
                let _ = killpg(pgid, Signal::SIGKILL);
                killed = true;
            }
        }
        let status = match self.status {
            Some(s) => s,
            None => {
                let s = self
                    .child
                    .wait()
                    .unwrap_or_else(|e| panic!("waiting for {}: {e}", self.name));
                self.status = Some(s);
                s
            }
        };
        // Leftover children in the group (none expected) go too.
        let _ = killpg(pgid, Signal::SIGKILL);
        cleanup::remove_group(pgid.as_raw());
        (status, killed)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = self.stop(STOP_GRACE);
        }
    }
}

fn pid_i32(pid: u32) -> i32 {
    i32::try_from(pid).unwrap_or(i32::MAX)
}
