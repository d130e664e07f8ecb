//! The real `ikev2d run` for integration tests: started in a network namespace of
//! its own (`unshare -n`, loopback up) with a temporary configuration, control
//! socket, audit log and alert file. Needs root (TUN device, namespace), `unshare`
//! and `ip`; tests call [`Daemon::start`], which fails the test under CI when one is
//! missing and returns `None` (skip) elsewhere (`test_support::require`).
#![allow(dead_code, clippy::unwrap_used)]

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use test_support::{Missing, require};

pub const BIN: &str = env!("CARGO_BIN_EXE_ikev2d");

/// A running daemon; dropping it sends SIGTERM and waits.
pub struct Daemon {
    child: Child,
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub config: PathBuf,
    pub audit: PathBuf,
    pub alerts: PathBuf,
    pub log: PathBuf,
}

/// What running the daemon in a namespace needs: root, a TUN device, `unshare`, `ip`.
pub fn prerequisites() -> Result<(), Missing> {
    test_support::root()?;
    test_support::tun()?;
    test_support::command("unshare", "util-linux")?;
    test_support::command("ip", "iproute2")
}

impl Daemon {
    /// `daemon_extra` goes into `[daemon]`, `control_extra` into `[control]`, `rest`
    /// after them (connections, secrets). `{dir}` in any of them is replaced by the
    /// temporary directory. `lo_addrs` are added to `lo` in the namespace.
    #[track_caller]
    pub fn start(
        daemon_extra: &str,
        control_extra: &str,
        rest: &str,
        lo_addrs: &[&str],
    ) -> Option<Daemon> {
        let test = std::thread::current()
            .name()
            .unwrap_or("ikev2d test")
            .to_owned();
        require(&test, prerequisites())?;
        let dir = tempfile::tempdir().unwrap();
        // viewers (uid 65534) must reach the socket inside
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let d = dir.path().display().to_string();
        let socket = dir.path().join("ikev2d.sock");
        let audit = dir.path().join("audit.log");
        let alerts = dir.path().join("alerts.jsonl");
        let log = dir.path().join("ikev2d.log");
        let config = dir.path().join("ikev2d.toml");
        let text = format!(
            "[daemon]\ncontrol_socket = \"{}\"\ntun_name = \"ipsec0\"\n{}\n\n[control]\naudit_log = \"{}\"\n{}\n\n{}",
            socket.display(),
            daemon_extra.replace("{dir}", &d),
            audit.display(),
            control_extra.replace("{dir}", &d),
            rest.replace("{dir}", &d),
        );
        std::fs::write(&config, text).unwrap();
        let mut script = String::from("ip link set lo up");
        for a in lo_addrs {
            script.push_str(&format!(" && ip addr add {a} dev lo"));
        }
        script.push_str(&format!(" && exec {BIN} run --config {}", config.display()));
        let logf = std::fs::File::create(&log).unwrap();
        let child = Command::new("unshare")
            .args(["-n", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(logf.try_clone().unwrap())
            .stderr(logf)
            .spawn()
            .unwrap();
        let daemon = Daemon {
            child,
            dir,
            socket,
            config,
            audit,
            alerts,
            log,
        };
        let end = Instant::now() + Duration::from_secs(15);
        loop {
            if daemon.socket.exists() && daemon.ctl(&["status", "--json"], None).status.success() {
                return Some(daemon);
            }
            assert!(
                Instant::now() < end,
                "daemon did not answer within 15 s:\n{}",
                daemon.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `ikev2d --socket S ARGS` as root, `stdin` written to its stdin.
    pub fn ctl(&self, args: &[&str], stdin: Option<&str>) -> Output {
        self.ctl_as(None, args, stdin)
    }

    /// The same as user `uid` with primary group `gid` and no supplementary groups.
    pub fn ctl_as(&self, who: Option<(u32, u32)>, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new(BIN);
        cmd.arg("--socket")
            .arg(&self.socket)
            .args(args)
            .env_remove("IKEV2D_SOCKET")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some((uid, gid)) = who {
            cmd.uid(uid).gid(gid);
        }
        let mut child = cmd.spawn().unwrap();
        if let Some(mut i) = child.stdin.take() {
            let _ = i.write_all(stdin.unwrap_or("").as_bytes());
        }
        child.wait_with_output().unwrap()
    }

    pub fn status(&self) -> Value {
        let o = self.ctl(&["status", "--json"], None);
        assert!(o.status.success(), "{o:?}");
        serde_json::from_slice(&o.stdout).unwrap()
    }

    pub fn conn(&self, name: &str) -> Value {
        self.status()["connections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
            .unwrap_or(Value::Null)
    }

    pub fn counter(&self, name: &str) -> u64 {
        self.status()["counters"][name].as_u64().unwrap_or(0)
    }

    /// The audit log's records.
    pub fn audit_records(&self) -> Vec<Value> {
        json_lines(&self.audit)
    }

    /// What the alert command wrote (one JSON line per event).
    pub fn alert_events(&self) -> Vec<Value> {
        json_lines(&self.alerts)
    }

    /// Waits up to `t` for `f` to hold.
    pub fn wait(&self, t: Duration, mut f: impl FnMut(&Daemon) -> bool) -> bool {
        let end = Instant::now() + t;
        while Instant::now() < end {
            if f(self) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        f(self)
    }

    /// Runs `f` in the daemon's network namespace, on a thread of its own.
    pub fn in_netns<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let ns = std::fs::File::open(format!("/proc/{}/ns/net", self.pid())).unwrap();
        std::thread::spawn(move || {
            nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            f()
        })
        .join()
        .unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let end = Instant::now() + Duration::from_secs(8);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!("=== ikev2d log\n{}", self.log_text());
            eprintln!(
                "=== audit\n{}",
                std::fs::read_to_string(&self.audit).unwrap_or_default()
            );
        }
    }
}

pub fn json_lines(p: &Path) -> Vec<Value> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The two halves printed by `ikev2d break-glass rotate`.
pub fn halves_from(rotate_stdout: &str) -> (String, String) {
    let get = |label: &str| {
        rotate_stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|| panic!("no {label} in {rotate_stdout}"))
    };
    (get("custodian 1:"), get("custodian 2:"))
}

/// `ikev2d break-glass rotate CONN --config PATH`; the halves.
pub fn rotate(config: &Path, conn: &str) -> (String, String) {
    let o = Command::new(BIN)
        .args(["break-glass", "rotate", conn, "--config"])
        .arg(config)
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    halves_from(&String::from_utf8_lossy(&o.stdout))
}
