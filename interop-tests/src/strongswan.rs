//! strongSwan's charon as a test peer, run the way `scripts/strongswan-lab` runs it
//! (see docs/strongswan-lab.md): inside a namespace, under `unshare -m` with a tmpfs
//! on `/run` (charon's compiled-in pid file), its own `STRONGSWAN_CONF`, the vici
//! socket in a temporary directory, and kernel-libipsec as the IPsec backend (the
//! kernel has no ESP: ESP is userspace and always UDP-encapsulated on port 4500, and
//! charon pretends a NAT is present).
//!
//! With [`CharonOptions::chroot`] the same configuration runs a newer strongSwan from
//! a Debian chroot (`scripts/strongswan6-chroot`, [`crate::prereq::require_strongswan6`]):
//! charon's files live in the chroot's `/tmp`, and each charon gets its own mount
//! namespace with a tmpfs on the chroot's `/run` and `/dev/net/tun`, `/proc` and the
//! namespace's `/sys` bound in; swanctl is the chroot's too.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::cmd::{self, Output};
use crate::conn::{ConnSpec, CredKind};
use crate::netns::Netns;
use crate::prereq::CHARON;
use crate::proc::{Proc, STOP_GRACE};

/// `load_modular = no` and this list, in this order: kernel-libipsec must come before
/// kernel-netlink to win the kernel-ipsec slot.
pub const PLUGINS: &str = "random nonce openssl kdf aes sha1 sha2 hmac gcm gmp curve25519 \
     pem pkcs1 pkcs8 x509 pubkey revocation constraints kernel-libipsec kernel-netlink \
     socket-default vici";

/// swanctl in a strongSwan 6 chroot (Debian moved it to /usr/sbin).
pub const SWANCTL_IN_CHROOT: &str = "/usr/sbin/swanctl";

/// `charon.*` settings the tests vary (strongswan.conf).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CharonOptions {
    /// `charon.fragment_size`: largest IKE datagram when fragmenting (default 1280).
    pub fragment_size: Option<u32>,
    /// Run charon and swanctl from this chroot (a Debian root with strongSwan 6, as
    /// `scripts/strongswan6-chroot` builds it) instead of the host's strongSwan.
    pub chroot: Option<PathBuf>,
}

/// A running charon; dropped = stopped (SIGTERM), its log printed if the test panics.
#[derive(Debug)]
pub struct Charon {
    ns: String,
    dir: Option<tempfile::TempDir>,
    /// The files' directory as the test sees it.
    path: PathBuf,
    /// The same directory as charon and swanctl see it (inside the chroot, if any).
    inner: PathBuf,
    chroot: Option<PathBuf>,
    proc: Proc,
}

impl Charon {
    /// Write strongswan.conf and swanctl.conf for `conns`, start charon in `ns`, wait
    /// for its vici socket and `swanctl --load-all`.
    #[track_caller]
    pub fn start(ns: &Netns, conns: &[ConnSpec]) -> Self {
        Self::start_with(ns, conns, &CharonOptions::default())
    }

    /// [`Charon::start`] with extra strongswan.conf settings.
    #[track_caller]
    pub fn start_with(ns: &Netns, conns: &[ConnSpec], opts: &CharonOptions) -> Self {
        let base = match &opts.chroot {
            Some(root) => root.join("tmp"),
            None => std::env::temp_dir(),
        };
        let dir = tempfile::Builder::new()
            .prefix("ikev2d-interop-charon-")
            .tempdir_in(&base)
            .unwrap_or_else(|e| panic!("temp dir in {}: {e}", base.display()));
        let path = dir.path().to_owned();
        let inner = match &opts.chroot {
            Some(root) => Path::new("/").join(
                path.strip_prefix(root)
                    .unwrap_or_else(|e| panic!("{} in {}: {e}", path.display(), root.display())),
            ),
            None => path.clone(),
        };
        let vici = path.join("charon.vici");
        for sub in [
            "swanctl",
            "swanctl/x509",
            "swanctl/x509ca",
            "swanctl/x509crl",
            "swanctl/private",
            "swanctl/pubkey",
        ] {
            std::fs::create_dir_all(path.join(sub)).unwrap_or_else(|e| panic!("mkdir {sub}: {e}"));
        }
        for (rel, contents, mode) in credential_files(conns) {
            let p = path.join("swanctl").join(&rel);
            write(&p, &contents);
            std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(mode))
                .unwrap_or_else(|e| panic!("chmod {}: {e}", p.display()));
        }
        write(
            &path.join("strongswan.conf"),
            &strongswan_conf(&inner, opts),
        );
        write(&path.join("swanctl/swanctl.conf"), &swanctl_conf(conns));
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns.name()])
            .args(["unshare", "--mount", "--propagation", "private"])
            .env("STRONGSWAN_CONF", inner.join("strongswan.conf"));
        match &opts.chroot {
            None => c.args([
                "sh",
                "-c",
                "mount -t tmpfs -o mode=0755 ikev2d-interop-run /run && exec \"$0\"",
                CHARON,
            ]),
            // `ip netns exec` has mounted the namespace's /sys in its mount namespace;
            // this one inherits it.
            Some(root) => c.args([
                "sh",
                "-c",
                "set -e; r=\"$1\"
                 mount -t tmpfs -o mode=0755 ikev2d-interop-run \"$r/run\"
                 mount -t proc proc \"$r/proc\"
                 mount --rbind /sys \"$r/sys\"
                 mount --bind /dev/net/tun \"$r/dev/net/tun\"
                 exec chroot \"$r\" \"$0\"",
                CHARON,
                &root.to_string_lossy(),
            ]),
        };
        let mut proc = Proc::spawn("charon", &mut c, &path.join("charon.stdout"));
        let up = cmd::wait_for(Duration::from_secs(10), Duration::from_millis(50), || {
            if vici.exists() {
                return Some(true);
            }
            (!proc.is_running()).then_some(false)
        });
        let mut charon = Self {
            ns: ns.name().to_owned(),
            dir: Some(dir),
            path,
            inner,
            chroot: opts.chroot.clone(),
            proc,
        };
        if up != Some(true) {
            panic!(
                "charon in {} did not open its vici socket within 10 s (running: {})\n{}",
                charon.ns,
                charon.proc.is_running(),
                charon.logs_tail(40)
            );
        }
        let conf = charon.inner.join("swanctl/swanctl.conf");
        let conf = conf.to_string_lossy().into_owned();
        let o = charon.swanctl(&["--load-all", "--file", &conf]);
        if !o.ok() {
            panic!("swanctl --load-all failed: {o}\n{}", charon.logs_tail(40));
        }
        charon
    }

    /// SIGKILL: charon dies without deleting its SAs (a crashed or rebooted peer).
    pub fn kill(&mut self) {
        self.proc.signal(nix::sys::signal::Signal::SIGKILL);
        let _ = self.proc.stop(STOP_GRACE);
    }

    /// The directory with strongswan.conf, swanctl/, charon.log, charon.stdout.
    pub fn dir(&self) -> &Path {
        &self.path
    }

    /// `swanctl ARGS --uri unix://<vici>` in the namespace (30 s limit).
    pub fn swanctl(&self, args: &[&str]) -> Output {
        let uri = format!("unix://{}", self.inner.join("charon.vici").display());
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns]);
        match &self.chroot {
            Some(root) => c.arg("chroot").arg(root).arg(SWANCTL_IN_CHROOT),
            None => c.arg("swanctl"),
        };
        c.args(args)
            .args(["--uri", &uri])
            .env("STRONGSWAN_CONF", self.inner.join("strongswan.conf"))
            // Where --load-all finds x509/, x509ca/, private/ ... (credential_files).
            .env("SWANCTL_DIR", self.inner.join("swanctl"));
        cmd::run(&mut c, Duration::from_secs(30))
    }

    /// `swanctl --initiate --child CHILD --timeout 20`.
    pub fn initiate(&self, child: &str) -> Output {
        self.swanctl(&["--initiate", "--child", child, "--timeout", "20"])
    }

    /// `swanctl --list-sas`, parsed.
    #[track_caller]
    pub fn list_sas(&self) -> Vec<IkeSa> {
        parse_list_sas(&self.swanctl(&["--list-sas"]).expect_ok().stdout)
    }

    /// `swanctl --list-sas` as printed (for reports).
    pub fn list_sas_text(&self) -> String {
        self.swanctl(&["--list-sas"]).stdout
    }

    /// Wait until IKE SA `conn` is ESTABLISHED with every child INSTALLED.
    pub fn wait_established(&self, conn: &str, timeout: Duration) -> Result<IkeSa, String> {
        let mut last = Vec::new();
        cmd::wait_for(timeout, Duration::from_millis(250), || {
            last = parse_list_sas(&self.swanctl(&["--list-sas"]).stdout);
            last.iter()
                .find(|s| {
                    s.name == conn
                        && s.state == "ESTABLISHED"
                        && !s.children.is_empty()
                        && s.children.iter().all(|c| c.state == "INSTALLED")
                })
                .cloned()
        })
        .ok_or_else(|| format!("strongSwan SA {conn} not established after {timeout:?}: {last:?}"))
    }

    /// charon's file log.
    pub fn log(&self) -> String {
        std::fs::read(self.path.join("charon.log"))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The last lines of charon's stdout and file log.
    pub fn logs_tail(&self, n: usize) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        format!(
            "--- charon stdout ({})\n{}\n--- charon.log, last {n} lines ({})\n{}",
            self.proc.log_path().display(),
            self.proc.log_tail(n),
            self.path.join("charon.log").display(),
            lines[lines.len().saturating_sub(n)..].join("\n")
        )
    }
}

impl Drop for Charon {
    fn drop(&mut self) {
        let (status, killed) = self.proc.stop(STOP_GRACE);
        if std::thread::panicking() {
            eprintln!(
                "=== charon in {} ({status}, SIGKILL: {killed})\n{}",
                self.ns,
                self.logs_tail(150)
            );
            if let Some(d) = self.dir.take() {
                eprintln!("charon files kept in {}", d.keep().display());
            }
        }
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// strongswan.conf for a charon whose files live in `dir`.
pub fn strongswan_conf(dir: &Path, opts: &CharonOptions) -> String {
    let d = dir.display();
    let extra = match opts.fragment_size {
        Some(n) => format!("\tfragment_size = {n}\n"),
        None => String::new(),
    };
    format!(
        "# generated by interop-tests
charon {{
	load_modular = no
	load = {PLUGINS}
	install_routes = yes
	routing_table = 220
	routing_table_prio = 220
	retransmit_tries = 3
	retransmit_timeout = 2.0
{extra}	plugins {{
		vici {{
			socket = unix://{d}/charon.vici
		}}
	}}
	syslog {{
		daemon {{
			default = -1
		}}
		auth {{
			default = -1
		}}
	}}
	filelog {{
		test {{
			path = {d}/charon.log
			time_format = %H:%M:%S
			ike_name = yes
			append = yes
			flush_line = yes
			default = 1
			ike = 2
			knl = 2
			cfg = 2
			net = 1
		}}
	}}
}}
"
    )
}

/// swanctl.conf with `conns` and one `ike-<name>` secret per connection (or, with
/// certificates, a `private-<name>` key file: [`credential_files`]).
pub fn swanctl_conf(conns: &[ConnSpec]) -> String {
    let mut s = String::from("# generated by interop-tests\nconnections {\n");
    for c in conns {
        let _ = writeln!(s, "\t{} {{", c.name);
        let _ = writeln!(s, "\t\tversion = 2");
        let _ = writeln!(s, "\t\tlocal_addrs = {}", c.local_addr);
        let _ = writeln!(s, "\t\tremote_addrs = {}", c.remote_addrs().join(", "));
        let _ = writeln!(s, "\t\tproposals = {}", c.proposals.join(","));
        if let Some(t) = &c.rekey_time {
            let _ = writeln!(s, "\t\trekey_time = {t}");
        }
        if let Some(t) = &c.dpd_delay {
            let _ = writeln!(s, "\t\tdpd_delay = {t}");
        }
        if c.encap {
            let _ = writeln!(s, "\t\tencap = yes");
        }
        match &c.pubkey {
            None => {
                let _ = writeln!(
                    s,
                    "\t\tlocal {{\n\t\t\tauth = psk\n\t\t\tid = {}\n\t\t}}",
                    c.local_id
                );
                let _ = writeln!(
                    s,
                    "\t\tremote {{\n\t\t\tauth = psk\n\t\t\tid = {}\n\t\t}}",
                    c.remote_id
                );
            }
            Some(cred) => {
                if let Some(v) = &cred.send_cert {
                    let _ = writeln!(s, "\t\tsend_cert = {v}");
                }
                if let Some(v) = cred.send_certreq {
                    let _ = writeln!(s, "\t\tsend_certreq = {}", if v { "yes" } else { "no" });
                }
                // Certificates, or raw public keys (`pubkeys`).
                let ours = match cred.names(&c.name, &[CredKind::Cert]).join(",") {
                    certs if !certs.is_empty() => format!("certs = {certs}"),
                    _ => format!(
                        "pubkeys = {}",
                        cred.names(&c.name, &[CredKind::Pubkey]).join(",")
                    ),
                };
                let _ = writeln!(
                    s,
                    "\t\tlocal {{\n\t\t\tauth = {}\n\t\t\tid = \"{}\"\n\t\t\t{ours}\n\t\t}}",
                    // strongSwan signs with the IKE schemes of its local round:
                    // RSASSA-PSS needs them named (hashes too).
                    if cred.rsa_pss {
                        "rsa/pss-sha256-sha384-sha512"
                    } else {
                        "pubkey"
                    },
                    c.local_id
                );
                let trusted = match cred.names(&c.name, &[CredKind::Ca]).join(",") {
                    cas if !cas.is_empty() => format!("cacerts = {cas}"),
                    _ => format!(
                        "pubkeys = {}",
                        cred.names(&c.name, &[CredKind::PeerPubkey]).join(",")
                    ),
                };
                let _ = writeln!(
                    s,
                    "\t\tremote {{\n\t\t\tauth = pubkey\n\t\t\tid = \"{}\"\n\t\t\t{trusted}\n\t\t\trevocation = {}\n\t\t}}",
                    c.remote_id,
                    cred.revocation.as_deref().unwrap_or("relaxed")
                );
            }
        }
        let _ = writeln!(s, "\t\tchildren {{");
        for ch in &c.children {
            let _ = writeln!(s, "\t\t\t{} {{", ch.name);
            let _ = writeln!(s, "\t\t\t\tlocal_ts = {}", ch.local_ts.join(","));
            let _ = writeln!(s, "\t\t\t\tremote_ts = {}", ch.remote_ts.join(","));
            let _ = writeln!(s, "\t\t\t\tesp_proposals = {}", ch.esp_proposals.join(","));
            let _ = writeln!(s, "\t\t\t\tstart_action = {}", ch.start_action.as_str());
            if let Some(a) = &ch.dpd_action {
                let _ = writeln!(s, "\t\t\t\tdpd_action = {a}");
            }
            if let Some(a) = &ch.close_action {
                let _ = writeln!(s, "\t\t\t\tclose_action = {a}");
            }
            if let Some(t) = &ch.rekey_time {
                let _ = writeln!(s, "\t\t\t\trekey_time = {t}");
            }
            if let Some(t) = &ch.life_time {
                let _ = writeln!(s, "\t\t\t\tlife_time = {t}");
            }
            let _ = writeln!(s, "\t\t\t}}");
        }
        let _ = writeln!(s, "\t\t}}\n\t}}");
    }
    s.push_str("}\nsecrets {\n");
    for c in conns {
        if let Some(cred) = &c.pubkey {
            for key in cred.names(&c.name, &[CredKind::Key]) {
                let _ = writeln!(s, "\tprivate-{} {{\n\t\tfile = {key}\n\t}}", c.name);
            }
            continue;
        }
        let _ = writeln!(
            s,
            "\tike-{} {{\n\t\tid-local = {}\n\t\tid-remote = {}\n\t\tsecret = \"{}\"\n\t}}",
            c.name,
            c.local_id,
            c.remote_id,
            c.psk.replace('\\', "\\\\").replace('"', "\\\"")
        );
    }
    s.push_str("}\n");
    s
}

/// The credential files of `conns`, as (path under the swanctl directory, contents,
/// mode): swanctl.conf names them relative to `x509/`, `x509ca/`, `x509crl/` and
/// `private/`.
pub fn credential_files(conns: &[ConnSpec]) -> Vec<(String, String, u32)> {
    let mut v = Vec::new();
    for c in conns {
        for f in c.pubkey.iter().flat_map(|cr| cr.files(&c.name)) {
            let mode = if f.kind == CredKind::Key {
                0o600
            } else {
                0o644
            };
            v.push((
                format!("{}/{}", f.kind.swanctl_dir(), f.name),
                f.contents,
                mode,
            ));
        }
    }
    v
}

/// The one tunnel ikev2d's connection status `st` and strongSwan's parsed
/// `--list-sas` agree on: ikev2d's connection ESTABLISHED with its children INSTALLED;
/// strongSwan with exactly one ESTABLISHED IKE SA, carrying ikev2d's SPIs, and exactly
/// one INSTALLED CHILD SA (over all its IKE SAs), mirroring ikev2d's ESP SPIs. After
/// rekeys and collisions the old SAs linger a few seconds, so callers poll. Returns
/// strongSwan's IKE SA with only that child.
pub fn agreement(st: &serde_json::Value, sas: &[IkeSa]) -> Option<IkeSa> {
    if !crate::ikev2d::is_established(st) {
        return None;
    }
    let ike: Vec<&IkeSa> = sas.iter().filter(|s| s.state == "ESTABLISHED").collect();
    let children: Vec<&ChildSa> = sas
        .iter()
        .flat_map(|s| s.children.iter())
        .filter(|c| c.state == "INSTALLED")
        .collect();
    let (&[sa], &[child]) = (ike.as_slice(), children.as_slice()) else {
        return None;
    };
    let ours = |path: [&str; 2]| st[path[0]][path[1]].as_str();
    let ch = &st["children"][0];
    (ours(["ike_sa", "spi_i"]) == Some(sa.spi_i.as_str())
        && ours(["ike_sa", "spi_r"]) == Some(sa.spi_r.as_str())
        && ch["spi_out"].as_str() == Some(child.spi_in.as_str())
        && ch["spi_in"].as_str() == Some(child.spi_out.as_str()))
    .then(|| IkeSa {
        children: vec![child.clone()],
        ..sa.clone()
    })
}

/// Wait until ikev2d (`status --json` of `conn`) and this charon agree on one
/// tunnel ([`agreement`]). The error shows both views.
pub fn wait_agreed(
    ikev2d: &crate::Ikev2d,
    charon: &Charon,
    conn: &str,
    timeout: Duration,
) -> Result<(), String> {
    wait_agreed_on(ikev2d, charon, conn, timeout, &|_, _| true).map(|_| ())
}

/// Wait until ikev2d and this charon agree on one tunnel ([`agreement`]) that
/// `accept` takes (given ikev2d's connection status and strongSwan's IKE SA with the
/// agreed child), e.g. one whose SPIs differ from those before a rekey: the rekey
/// commands return before the rekey is done, so the old, still agreed, tunnel must
/// not count. Returns both views; the error shows the last ones.
pub fn wait_agreed_on(
    ikev2d: &crate::Ikev2d,
    charon: &Charon,
    conn: &str,
    timeout: Duration,
    accept: &dyn Fn(&serde_json::Value, &IkeSa) -> bool,
) -> Result<(serde_json::Value, IkeSa), String> {
    let mut last = (serde_json::Value::Null, String::new());
    let agreed = cmd::wait_for(timeout, Duration::from_millis(250), || {
        let st = ikev2d.conn_status(conn)?;
        let text = charon.list_sas_text();
        let found = agreement(&st, &parse_list_sas(&text)).filter(|sw| accept(&st, sw));
        let found = found.map(|sw| (st.clone(), sw));
        last = (st, text);
        found
    });
    agreed.ok_or_else(|| {
        format!(
            "ikev2d and strongSwan do not agree on one IKE SA and one CHILD SA (of the \
             kind awaited) after {timeout:?}\nikev2d: {}\nstrongSwan:\n{}",
            last.0, last.1
        )
    })
}

/// Which SA a rekey replaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rekey {
    Child,
    Ike,
}

/// Waits (up to `timeout`) until ikev2d and charon agree on connection `lab` with all
/// SPIs of the rekeyed kind new on both sides (rekey commands return before the rekey
/// is done), and asserts that the SPIs of the other kind did not change: a CHILD rekey
/// keeps the IKE SA, and an IKE rekey moves the CHILD SAs to the new IKE SA as they are
/// (RFC 7296 sections 2.8, 2.18). Returns the new SPIs and ikev2d's status of the
/// connection.
#[track_caller]
pub fn wait_rekeyed(
    ikev2d: &crate::Ikev2d,
    charon: &Charon,
    before: &TunnelSpis,
    what: Rekey,
    timeout: Duration,
    context: &str,
) -> (TunnelSpis, serde_json::Value) {
    let renewed = |st: &serde_json::Value, sw: &IkeSa| {
        let now = TunnelSpis::of(st, sw);
        match what {
            Rekey::Child => now.esp_all_new(before),
            Rekey::Ike => now.ike_all_new(before),
        }
    };
    let (st, sw) = wait_agreed_on(ikev2d, charon, "lab", timeout, &renewed).unwrap_or_else(|e| {
        panic!(
            "{context}: no agreed tunnel with new {what:?} SPIs: {e}\nbefore: {before:?}\n{}\n{}",
            ikev2d.log_tail(60),
            charon.logs_tail(120)
        )
    });
    let now = TunnelSpis::of(&st, &sw);
    match what {
        Rekey::Child => assert_eq!(
            (&now.ikev2d_ike, &now.strongswan_ike),
            (&before.ikev2d_ike, &before.strongswan_ike),
            "{context}: a CHILD rekey changed the IKE SPIs\nbefore: {before:?}\nafter: {now:?}"
        ),
        Rekey::Ike => assert_eq!(
            (&now.ikev2d_esp, &now.strongswan_esp),
            (&before.ikev2d_esp, &before.strongswan_esp),
            "{context}: an IKE rekey changed the ESP SPIs\nbefore: {before:?}\nafter: {now:?}"
        ),
    }
    (now, st)
}

/// The SPIs of one agreed tunnel as each side reports them: IKE SPIs (i, r) and ESP
/// SPIs (in, out) from ikev2d's status and from strongSwan's `--list-sas`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelSpis {
    pub ikev2d_ike: (String, String),
    pub ikev2d_esp: (String, String),
    pub strongswan_ike: (String, String),
    pub strongswan_esp: (String, String),
}

impl TunnelSpis {
    /// From ikev2d's connection status and strongSwan's IKE SA with the agreed child
    /// (as [`wait_agreed_on`] returns them).
    pub fn of(st: &serde_json::Value, sw: &IkeSa) -> Self {
        let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
        let ch = sw.children.first().cloned().unwrap_or_default();
        Self {
            ikev2d_ike: (s(&st["ike_sa"]["spi_i"]), s(&st["ike_sa"]["spi_r"])),
            ikev2d_esp: (
                s(&st["children"][0]["spi_in"]),
                s(&st["children"][0]["spi_out"]),
            ),
            strongswan_ike: (sw.spi_i.clone(), sw.spi_r.clone()),
            strongswan_esp: (ch.spi_in, ch.spi_out),
        }
    }

    /// Both IKE SPIs are new on both sides.
    pub fn ike_all_new(&self, before: &Self) -> bool {
        all_differ(&self.ikev2d_ike, &before.ikev2d_ike)
            && all_differ(&self.strongswan_ike, &before.strongswan_ike)
    }

    /// Both ESP SPIs are new on both sides.
    pub fn esp_all_new(&self, before: &Self) -> bool {
        all_differ(&self.ikev2d_esp, &before.ikev2d_esp)
            && all_differ(&self.strongswan_esp, &before.strongswan_esp)
    }
}

fn all_differ(now: &(String, String), before: &(String, String)) -> bool {
    now.0 != before.0 && now.1 != before.1
}

/// One IKE SA of `swanctl --list-sas`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IkeSa {
    pub name: String,
    /// `ESTABLISHED`, `CONNECTING`, `DELETING`, ...
    pub state: String,
    pub spi_i: String,
    pub spi_r: String,
    pub children: Vec<ChildSa>,
}

/// One CHILD SA of `swanctl --list-sas`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChildSa {
    pub name: String,
    /// `INSTALLED`, `REKEYED`, ...
    pub state: String,
    /// `TUNNEL-in-UDP` with kernel-libipsec.
    pub mode: String,
    pub spi_in: String,
    pub spi_out: String,
    pub bytes_in: u64,
    pub packets_in: u64,
    pub bytes_out: u64,
    pub packets_out: u64,
}

/// Parse the default (text) output of `swanctl --list-sas`; lines it does not know
/// are ignored.
pub fn parse_list_sas(text: &str) -> Vec<IkeSa> {
    let mut out: Vec<IkeSa> = Vec::new();
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let t = line.trim();
        if indent == 0 && t.contains(": #") {
            // lab: #1, ESTABLISHED, IKEv2, 0123456789abcdef_i* fedcba9876543210_r
            let (name, rest) = t.split_once(": #").unwrap_or((t, ""));
            let f: Vec<&str> = rest.split(", ").collect();
            let spis: Vec<&str> = f
                .get(3)
                .map_or(Vec::new(), |s| s.split_whitespace().collect());
            let spi = |suffix: &str| {
                spis.iter()
                    .find_map(|s| s.trim_end_matches('*').strip_suffix(suffix))
                    .unwrap_or_default()
                    .to_owned()
            };
            out.push(IkeSa {
                name: name.to_owned(),
                state: f.get(1).copied().unwrap_or_default().to_owned(),
                spi_i: spi("_i"),
                spi_r: spi("_r"),
                children: Vec::new(),
            });
        } else if indent == 2 && t.contains(", reqid ") {
            // net: #1, reqid 1, INSTALLED, TUNNEL-in-UDP, ESP:AES_GCM_16-256
            let (name, rest) = t.split_once(": #").unwrap_or((t, ""));
            let f: Vec<&str> = rest.split(", ").collect();
            if let Some(ike) = out.last_mut() {
                ike.children.push(ChildSa {
                    name: name.to_owned(),
                    state: f.get(2).copied().unwrap_or_default().to_owned(),
                    mode: f.get(3).copied().unwrap_or_default().to_owned(),
                    ..ChildSa::default()
                });
            }
        } else if indent == 4 && (t.starts_with("in ") || t.starts_with("out ")) {
            // in  c1a2b3c4,    252 bytes,     3 packets,     0s ago
            let Some(child) = out.last_mut().and_then(|i| i.children.last_mut()) else {
                continue;
            };
            let mut parts = t.split(',').map(str::trim);
            let head = parts.next().unwrap_or_default();
            let spi = head
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_owned();
            let (mut bytes, mut packets) = (0, 0);
            for p in parts {
                if let Some(n) = p.strip_suffix(" bytes") {
                    bytes = n.trim().parse().unwrap_or(0);
                } else if let Some(n) = p.strip_suffix(" packets") {
                    packets = n.trim().parse().unwrap_or(0);
                }
            }
            if t.starts_with("in ") {
                (child.spi_in, child.bytes_in, child.packets_in) = (spi, bytes, packets);
            } else {
                (child.spi_out, child.bytes_out, child.packets_out) = (spi, bytes, packets);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_list_sas() {
        let text = "\
lab: #1, ESTABLISHED, IKEv2, 9c1b8a1e5c2d4f60_i* 1d0f2e3a4b5c6d7e_r
  local  '192.0.2.1' @ 192.0.2.1[4500]
  remote '192.0.2.2' @ 192.0.2.2[4500]
  AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048
  established 2s ago
  net: #1, reqid 1, INSTALLED, TUNNEL-in-UDP, ESP:AES_GCM_16-256
    installed 2s ago
    in  c4d3b2a1,    252 bytes,     3 packets,     0s ago
    out c1d2e3f4,    336 bytes,     4 packets,     0s ago
    local  10.1.0.0/24
    remote 10.2.0.0/24
";
        let sas = parse_list_sas(text);
        assert_eq!(sas.len(), 1);
        let s = &sas[0];
        assert_eq!((s.name.as_str(), s.state.as_str()), ("lab", "ESTABLISHED"));
        assert_eq!(
            (s.spi_i.as_str(), s.spi_r.as_str()),
            ("9c1b8a1e5c2d4f60", "1d0f2e3a4b5c6d7e")
        );
        let c = &s.children[0];
        assert_eq!(
            (c.name.as_str(), c.state.as_str(), c.mode.as_str()),
            ("net", "INSTALLED", "TUNNEL-in-UDP")
        );
        assert_eq!(
            (c.spi_in.as_str(), c.bytes_in, c.packets_in),
            ("c4d3b2a1", 252, 3)
        );
        assert_eq!(
            (c.spi_out.as_str(), c.bytes_out, c.packets_out),
            ("c1d2e3f4", 336, 4)
        );
    }

    #[test]
    fn tunnel_spis_are_new_only_when_both_changed_on_both_sides() {
        let sw = |i: &str, r: &str, c_in: &str, c_out: &str| IkeSa {
            spi_i: i.to_owned(),
            spi_r: r.to_owned(),
            children: vec![ChildSa {
                spi_in: c_in.to_owned(),
                spi_out: c_out.to_owned(),
                ..ChildSa::default()
            }],
            ..IkeSa::default()
        };
        let st = |i: &str, r: &str, c_in: &str, c_out: &str| {
            serde_json::json!({"ike_sa": {"spi_i": i, "spi_r": r},
                "children": [{"spi_in": c_in, "spi_out": c_out}]})
        };
        let spis =
            |i, r, c_in, c_out| TunnelSpis::of(&st(i, r, c_in, c_out), &sw(i, r, c_out, c_in));
        let before = spis("a1", "b1", "c1", "d1");
        let child = spis("a1", "b1", "c2", "d2");
        assert!(child.esp_all_new(&before) && !child.ike_all_new(&before));
        let ike = spis("a2", "b2", "c1", "d1");
        assert!(ike.ike_all_new(&before) && !ike.esp_all_new(&before));
        // One SPI new is not a rekey; neither is one side new.
        assert!(!spis("a1", "b1", "c2", "d1").esp_all_new(&before));
        let mut one_side = child.clone();
        one_side.strongswan_esp = before.strongswan_esp.clone();
        assert!(!one_side.esp_all_new(&before));
    }

    #[test]
    fn swanctl_conf_has_both_sides() {
        let text = swanctl_conf(&[ConnSpec::site_a()]);
        assert!(text.contains("local_addrs = 192.0.2.1"));
        assert!(text.contains("remote_ts = 10.2.0.0/24"));
        assert!(text.contains("esp_proposals = aes256gcm16"));
        assert!(text.contains("id-remote = 192.0.2.2"));
    }
}
