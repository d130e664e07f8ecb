//! External commands with a time limit: every command the harness runs goes through
//! [`run`], which kills the command's whole process group when the limit passes.
//! Output is captured in memory; long-running daemons use [`crate::proc::Proc`]
//! instead.

use std::fmt;
use std::io::Read;
use std::os::unix::process::CommandExt as _;
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// Default limit for short commands (`ip`, `swanctl`, `ikev2d status`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// What a finished (or killed) command left behind.
#[derive(Debug, Clone)]
pub struct Output {
    /// The command line, for messages.
    pub cmdline: String,
    /// `None` when the command was killed at its time limit.
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Output {
    /// Exited with status 0.
    pub fn ok(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    pub fn timed_out(&self) -> bool {
        self.status.is_none()
    }

    /// Panic with the command line, status and both outputs unless it exited 0.
    #[track_caller]
    pub fn expect_ok(self) -> Self {
        if !self.ok() {
            panic!("command failed: {self}");
        }
        self
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(s) => write!(f, "`{}` exited with {s}", self.cmdline)?,
            None => write!(
                f,
                "`{}` killed after its time limit ({:.1}s)",
                self.cmdline,
                self.elapsed.as_secs_f64()
            )?,
        }
        if !self.stdout.trim().is_empty() {
            write!(f, "\n--- stdout\n{}", self.stdout.trim_end())?;
        }
        if !self.stderr.trim().is_empty() {
            write!(f, "\n--- stderr\n{}", self.stderr.trim_end())?;
        }
        Ok(())
    }
}

/// The command line of `cmd` as a shell-like string.
pub fn cmdline(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Run `cmd` with stdin from /dev/null, capturing stdout and stderr, in a process
/// group of its own; after `timeout` the group gets SIGKILL. Panics only when the
/// program cannot be started at all.
#[track_caller]
pub fn run(cmd: &mut Command, timeout: Duration) -> Output {
    let line = cmdline(cmd);
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{line}`: {e}"));
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = reader(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = reader(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let pgid = Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if start.elapsed() >= timeout => {
                let _ = killpg(pgid, Signal::SIGKILL);
                let _ = child.wait();
                break None;
            }
            Ok(None) => thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("waiting for `{line}`: {e}"),
        }
    };
    // A grandchild that kept the pipes open would block the readers: the group kill
    // above covers the timeout case; on normal exit, kill any leftovers too.
    let _ = killpg(pgid, Signal::SIGKILL);
    Output {
        cmdline: line,
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        elapsed: start.elapsed(),
    }
}

/// `run` with [`DEFAULT_TIMEOUT`] for a program and its arguments.
#[track_caller]
pub fn run_args(program: &str, args: &[&str], timeout: Duration) -> Output {
    run(Command::new(program).args(args), timeout)
}

/// Poll `f` every `every` until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(
    timeout: Duration,
    every: Duration,
    mut f: impl FnMut() -> Option<T>,
) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if start.elapsed() >= timeout {
            return None;
        }
        thread::sleep(every);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_and_times_out() {
        let o = run_args(
            "sh",
            &["-c", "echo out; echo err >&2; exit 3"],
            DEFAULT_TIMEOUT,
        );
        assert_eq!(o.status.and_then(|s| s.code()), Some(3));
        assert_eq!(o.stdout, "out\n");
        assert_eq!(o.stderr, "err\n");
        let o = run_args(
            "sh",
            &["-c", "sleep 30 & sleep 30"],
            Duration::from_millis(300),
        );
        assert!(o.timed_out());
        assert!(o.elapsed < Duration::from_secs(5));
    }
}
