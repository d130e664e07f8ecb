//! The Vagrant backend of the shared scenarios ([`crate::scenario`]): the two VMs of
//! `vagrant/Vagrantfile`, ikev2d on `ikev2d` (192.168.56.10, inner 10.1.0.1) and
//! strongSwan with the kernel's own ESP on `strongswan` (192.168.56.20, inner
//! 10.2.0.1). Commands reach them over ssh with the configuration `vagrant ssh-config`
//! prints (one `vagrant` call per run; each command is then a plain ssh, which is
//! much faster than `vagrant ssh -c`).
//!
//! For every scenario the runner writes `/etc/ikev2d/ikev2d.toml` (the same TOML the
//! namespace backend generates) and restarts the `ikev2d` unit, and writes
//! `/etc/swanctl/conf.d/interop.conf` (the same swanctl.conf) and restarts charon.
//!
//! Environment: `VAGRANT_CWD` (default: this checkout's `vagrant/`), `VAGRANT_BIN`
//! (default `vagrant`).

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::cmd::{self, Output};
use crate::conn::{ConnSpec, Sites};
use crate::ikev2d::Ikev2dConfig;
use crate::ping::parse_received;
use crate::scenario::{BackendKind, Release, Side, Testbed};
use crate::strongswan::{credential_files, swanctl_conf};

/// VM names in the Vagrantfile.
pub const IKEV2D_VM: &str = "ikev2d";
pub const STRONGSWAN_VM: &str = "strongswan";
const CONTROL_SOCKET: &str = "/run/ikev2d/ikev2d.sock";
const IKEV2D_CONFIG: &str = "/etc/ikev2d/ikev2d.toml";
const SWANCTL_CONFIG: &str = "/etc/swanctl/conf.d/interop.conf";

/// The VMs' addresses (keep in step with vagrant/Vagrantfile).
pub fn sites() -> Sites {
    Sites {
        outer_a: IpAddr::V4(Ipv4Addr::new(192, 168, 56, 10)),
        outer_b: IpAddr::V4(Ipv4Addr::new(192, 168, 56, 20)),
        inner_a: IpAddr::V4(Ipv4Addr::new(10, 1, 0, 1)),
        inner_b: IpAddr::V4(Ipv4Addr::new(10, 2, 0, 1)),
        net_a: "10.1.0.0/24".to_owned(),
        net_b: "10.2.0.0/24".to_owned(),
    }
}

#[derive(Debug)]
pub struct VagrantTestbed {
    ssh_config: tempfile::NamedTempFile,
    /// The strongSwan release of the strongSwan VM (Debian 12 box: 5.9.8, Debian 13
    /// box: 6.0.1).
    release: Release,
}

impl VagrantTestbed {
    /// Ask Vagrant how to reach both VMs; the error says what to run first.
    pub fn connect() -> Result<Self, String> {
        let dir = std::env::var_os("VAGRANT_CWD")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../vagrant"));
        let bin = std::env::var("VAGRANT_BIN").unwrap_or_else(|_| "vagrant".to_owned());
        let mut c = Command::new(&bin);
        c.args(["ssh-config", IKEV2D_VM, STRONGSWAN_VM])
            .env("VAGRANT_CWD", &dir);
        if Command::new(&bin).arg("--version").output().is_err() {
            return Err(format!(
                "cannot run `{bin}`: install Vagrant (`sudo scripts/vagrant-up` installs it and \
                 starts the VMs)"
            ));
        }
        let o = cmd::run(&mut c, Duration::from_secs(120));
        if !o.ok() || !o.stdout.contains("HostName") {
            return Err(format!(
                "the Vagrant VMs are not reachable ({}): start them with `sudo \
                 scripts/vagrant-up` (or `cd vagrant && vagrant up`)\n{o}",
                dir.display()
            ));
        }
        let ssh_config = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
        std::fs::write(ssh_config.path(), &o.stdout).map_err(|e| e.to_string())?;
        let mut tb = Self {
            ssh_config,
            release: Release::V5_9,
        };
        for vm in [IKEV2D_VM, STRONGSWAN_VM] {
            let o = tb.sh(vm, "true", Duration::from_secs(30));
            if !o.ok() {
                return Err(format!("ssh to VM {vm} fails: {o}"));
            }
        }
        // charon-systemd: the package of the daemon the VM runs (strongswan.service),
        // installed on both boxes. Not strongswan-charon: provision/strongswan.sh does
        // not install it, and dpkg-query then prints an empty version with exit 0.
        let v = tb.sh(
            STRONGSWAN_VM,
            "dpkg-query -W -f '${Version}' charon-systemd",
            Duration::from_secs(30),
        );
        tb.release = Release::parse(&v.stdout)
            .ok_or_else(|| format!("strongSwan version on {STRONGSWAN_VM}: {v}"))?;
        Ok(tb)
    }

    /// `script` as root on `vm` (`sudo sh -c`).
    pub fn sh(&self, vm: &str, script: &str, timeout: Duration) -> Output {
        let cfg = self.ssh_config.path().to_string_lossy().into_owned();
        cmd::run(
            Command::new("ssh").args([
                "-F",
                &cfg,
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=10",
                "-o",
                "LogLevel=ERROR",
                vm,
                &format!("sudo sh -c {}", sh_quote(script)),
            ]),
            timeout,
        )
    }

    fn sh_args(&self, vm: &str, program: &str, args: &[&str], timeout: Duration) -> Output {
        let mut line = program.to_owned();
        for a in args {
            line.push(' ');
            line.push_str(&sh_quote(a));
        }
        self.sh(vm, &line, timeout)
    }

    fn write_file(&self, vm: &str, path: &str, text: &str) -> Result<(), String> {
        let mut script = String::new();
        let _ = write!(
            script,
            "umask 077; mkdir -p \"$(dirname {p})\" && cat > {p} <<'IKEV2D_INTEROP_EOF'\n{text}\nIKEV2D_INTEROP_EOF",
            p = sh_quote(path)
        );
        let o = self.sh(vm, &script, Duration::from_secs(30));
        o.ok()
            .then_some(())
            .ok_or_else(|| format!("writing {path} on {vm}: {o}"))
    }
}

impl Testbed for VagrantTestbed {
    fn kind(&self) -> BackendKind {
        BackendKind::Vagrant
    }

    fn strongswan(&self) -> Release {
        self.release
    }

    fn sites(&self) -> Sites {
        sites()
    }

    fn load(&mut self, ours: &ConnSpec, theirs: &ConnSpec) -> Result<(), String> {
        let long = Duration::from_secs(60);
        // Stop both first, so that no SA of the previous scenario survives on either.
        let _ = self.sh(IKEV2D_VM, "systemctl stop ikev2d", long);
        let _ = self.sh(STRONGSWAN_VM, "systemctl stop strongswan", long);

        self.write_file(
            STRONGSWAN_VM,
            SWANCTL_CONFIG,
            &swanctl_conf(std::slice::from_ref(theirs)),
        )?;
        // Certificates and keys (mode 600 from write_file's umask: fine for both);
        // none of an earlier scenario may stay a CA strongSwan builds chains with.
        let _ = self.sh(
            STRONGSWAN_VM,
            &format!(
                "rm -f /etc/swanctl/x509*/{n}-* /etc/swanctl/private/{n}-* /etc/swanctl/pubkey/{n}-*",
                n = theirs.name
            ),
            long,
        );
        for (rel, contents, _) in credential_files(std::slice::from_ref(theirs)) {
            self.write_file(STRONGSWAN_VM, &format!("/etc/swanctl/{rel}"), &contents)?;
        }
        let o = self.sh(
            STRONGSWAN_VM,
            "systemctl start strongswan && for i in $(seq 50); do swanctl --stats >/dev/null 2>&1 && break; sleep 0.2; done; swanctl --load-all --noprompt",
            long,
        );
        if !o.ok() {
            return Err(format!("starting strongSwan: {o}"));
        }

        let config = Ikev2dConfig::new(vec![ours.clone()]);
        let toml = config.to_toml(CONTROL_SOCKET.as_ref());
        self.write_file(IKEV2D_VM, IKEV2D_CONFIG, &toml)?;
        for (name, contents, _) in config.credential_files() {
            self.write_file(IKEV2D_VM, &format!("/etc/ikev2d/{name}"), &contents)?;
        }
        let o = self.sh(
            IKEV2D_VM,
            &format!(
                "ikev2d check --config {IKEV2D_CONFIG} && systemctl start ikev2d && for i in $(seq 50); do ikev2d --socket {CONTROL_SOCKET} status >/dev/null 2>&1 && exit 0; sleep 0.2; done; journalctl -u ikev2d -n 30 --no-pager; exit 1"
            ),
            long,
        );
        if !o.ok() {
            return Err(format!("starting ikev2d: {o}"));
        }
        Ok(())
    }

    fn ikev2d(&self, args: &[&str]) -> Output {
        let mut all = vec!["--socket", CONTROL_SOCKET];
        all.extend_from_slice(args);
        self.sh_args(IKEV2D_VM, "ikev2d", &all, Duration::from_secs(60))
    }

    fn swanctl(&self, args: &[&str]) -> Output {
        self.sh_args(STRONGSWAN_VM, "swanctl", args, Duration::from_secs(60))
    }

    fn ping(&self, from: Side, count: u32) -> u32 {
        let s = self.sites();
        let (vm, src, dst) = match from {
            Side::Ikev2d => (IKEV2D_VM, s.inner_a, s.inner_b),
            Side::StrongSwan => (STRONGSWAN_VM, s.inner_b, s.inner_a),
        };
        let (src, dst, c) = (src.to_string(), dst.to_string(), count.to_string());
        let limit = Duration::from_millis(200 * u64::from(count)) + Duration::from_secs(15);
        let o = self.sh_args(
            vm,
            "ping",
            &[
                "-n", "-q", "-c", &c, "-i", "0.2", "-W", "2", "-I", &src, &dst,
            ],
            limit,
        );
        parse_received(&o.stdout).unwrap_or(0)
    }

    fn expected_mode(&self, ours: &ConnSpec) -> &'static str {
        // The kernel's ESP goes raw (protocol 50) unless encapsulation is forced
        // (no NAT between the VMs).
        if ours.encap {
            "TUNNEL-in-UDP"
        } else {
            "TUNNEL"
        }
    }

    fn logs(&self) -> String {
        let t = Duration::from_secs(30);
        let a = self.sh(IKEV2D_VM, "journalctl -u ikev2d -n 40 --no-pager -o cat", t);
        let b = self.sh(
            STRONGSWAN_VM,
            "journalctl -u strongswan -n 40 --no-pager -o cat",
            t,
        );
        format!(
            "--- ikev2d (VM {IKEV2D_VM})\n{}\n--- charon (VM {STRONGSWAN_VM})\n{}",
            a.stdout, b.stdout
        )
    }
}

/// One word for `sh`, whatever it contains.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_the_remote_shell() {
        let tricky = "a 'b' \"c\" $HOME `x`";
        let o = cmd::run(
            Command::new("sh").args(["-c", &format!("printf %s {}", sh_quote(tricky))]),
            Duration::from_secs(5),
        );
        assert_eq!(o.stdout, tricky);
    }

    #[test]
    fn vm_sites_match_the_vagrantfile() {
        let vf = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../vagrant/Vagrantfile"
        ))
        .expect("vagrant/Vagrantfile");
        let s = sites();
        for needle in [
            s.outer_a.to_string(),
            s.outer_b.to_string(),
            format!("{}/24", s.inner_a),
            format!("{}/24", s.inner_b),
        ] {
            assert!(vf.contains(&needle), "Vagrantfile lacks {needle}");
        }
    }
}
