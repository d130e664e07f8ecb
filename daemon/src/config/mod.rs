//! ikev2d's configuration file: a TOML document whose names mirror strongSwan's
//! swanctl.conf (connections, children, secrets) and strongswan.conf's `charon.*`
//! options (the `[daemon]` table), its checked model, the mapping onto
//! [`ikev2::config::EndpointConfig`], and the lints of `ikev2d check`.
//!
//! Loading never panics and never prints secrets: errors are [`Finding`]s that name
//! the key path (`connections.site-b.children.net.local_ts[0]`) and the line.
//! `docs/configuration.md` is the reference for every key.
//!
//! This module holds the checked model (the types the daemon uses) and the entry
//! points; `schema` is the file as written (serde), `parse` turns it into the model
//! (`parse/connection.rs`: connections, children, secrets), `convert` maps the model
//! onto the `ikev2` configuration, `lint` holds the checks of `ikev2d check`.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use ikev2::config::RemoteHost;
pub use ikev2::config::SendCert;
use ikev2::config::{
    ChildConfig, Childless, EndpointConfig, Fragmentation, Identity, LocalCredentials,
    RetransmitConfig,
};
use ikev2::crypto::proposal::Proposal;
use ikev2::crypto::secret::SecretBytes;
use ikev2::crypto::signature::PrivateKey;
use ikev2::pki::Certificate;
pub use ikev2::pki::Revocation;
use ikev2::ts::TsSpec;

mod convert;
pub mod duration;
pub mod lint;
mod parse;
mod schema;

pub use schema::UNSUPPORTED_KEYS;

/// How bad a finding is: errors make the configuration unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Warning,
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One problem found while loading or linting: the key path it is about, the line
/// (1-based) where that key is written, and an actionable sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    /// Dotted key path, e.g. `connections.site-b.children.net.local_ts[0]`; empty for
    /// the file as a whole.
    pub path: String,
    pub line: Option<usize>,
    pub message: String,
    /// Short rule name (`ts-overlap`, `weak-psk`, ...; `syntax` and `invalid` for load
    /// errors; extra checks beyond the list start with `extra/`).
    pub rule: &'static str,
}

impl fmt::Display for Finding {
    /// `error: <path> (line N): message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.severity)?;
        match (self.path.is_empty(), self.line) {
            (false, Some(l)) => write!(f, "{} (line {l}): ", self.path)?,
            (false, None) => write!(f, "{}: ", self.path)?,
            (true, Some(l)) => write!(f, "line {l}: ")?,
            (true, None) => {}
        }
        f.write_str(&self.message)?;
        if self.rule.starts_with("extra/") {
            write!(f, " [{}]", self.rule)?;
        }
        Ok(())
    }
}

/// Why a file could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    /// The file could not be read (`ikev2d check` exits 2).
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// Syntax or semantic errors; each names its key and line (exit 1).
    Invalid(Vec<Finding>),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Io { path, error } => write!(f, "cannot read {}: {error}", path.display()),
            LoadError::Invalid(findings) => {
                for (i, x) in findings.iter().enumerate() {
                    if i > 0 {
                        f.write_str("\n")?;
                    }
                    write!(f, "{x}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for LoadError {}

/// The whole configuration file.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    pub daemon: DaemonSettings,
    pub control: ControlSettings,
    pub metrics: MetricsSettings,
    /// In file order (the first matching connection wins, as in strongSwan).
    pub connections: Vec<Connection>,
    pub secrets: Vec<Secret>,
    /// Private key files (`[secrets.private-*]`).
    pub private_keys: Vec<PrivateKeyFile>,
    /// Line of every key and table that was written, by key path.
    locations: BTreeMap<String, usize>,
}

/// The `[metrics]` table: the read-only HTTP endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSettings {
    /// Where to listen; `None` = no endpoint.
    pub listen: Option<std::net::SocketAddr>,
    /// Who may connect (address, prefix length); loopback only by default.
    pub allowed_sources: Vec<(IpAddr, u8)>,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self {
            listen: None,
            allowed_sources: vec![
                (IpAddr::from([127, 0, 0, 0]), 8),
                (IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]), 128),
            ],
        }
    }
}

/// The `[control]` table: who may use the control socket, and the audit log.
#[derive(Debug, Clone, PartialEq)]
pub struct ControlSettings {
    /// Members may do everything (root always may).
    pub admin_group: Option<String>,
    /// Members may see `status`.
    pub viewer_group: Option<String>,
    /// JSON lines, one per admin action.
    pub audit_log: PathBuf,
}

impl Default for ControlSettings {
    fn default() -> Self {
        Self {
            admin_group: None,
            viewer_group: None,
            audit_log: PathBuf::from("/var/log/ikev2d/audit.log"),
        }
    }
}

/// TCP MSS clamping on the TUN device (`[daemon] mss_clamp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MssClamp {
    /// From the MTU: `mtu - 40` for IPv4, `mtu - 60` for IPv6.
    #[default]
    Auto,
    Fixed(u16),
    Off,
}

/// Log verbosity (`[daemon] log_level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogLevel {
    Error,
    Warn,
    #[default]
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    /// The `tracing` filter directive for this level.
    pub fn as_filter(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warn => "warn",
            Self::Info => "info",
            Self::Debug => "debug",
            Self::Trace => "trace",
        }
    }
}

/// How often NAT-keepalives go out while we are behind a NAT (`keep_alive`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepAlive {
    /// `"auto"`: start at [`KeepAlive::AUTO_START`] and halve (down to
    /// [`KeepAlive::AUTO_FLOOR`]) each time the NAT in front of us is seen to drop
    /// our mapping during a silence; what worked is kept for the connection.
    Auto,
    /// A fixed interval; zero: none.
    Every(Duration),
}

impl KeepAlive {
    /// strongSwan's `charon.keep_alive`.
    pub const AUTO_START: Duration = Duration::from_secs(20);
    /// No NAT seen in the field forgets a mapping faster; below this, keepalives
    /// would cost more than they save.
    pub const AUTO_FLOOR: Duration = Duration::from_secs(5);

    /// The interval to begin with.
    pub fn start(self) -> Duration {
        match self {
            KeepAlive::Auto => Self::AUTO_START,
            KeepAlive::Every(d) => d,
        }
    }
}

impl fmt::Display for KeepAlive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeepAlive::Auto => f.write_str("auto"),
            KeepAlive::Every(d) => f.write_str(&duration::format_duration(*d)),
        }
    }
}

/// The `[daemon]` table: process-wide settings (strongswan.conf `charon.*`).
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonSettings {
    pub control_socket: PathBuf,
    pub tun_name: String,
    pub keep_alive: KeepAlive,
    pub mtu: u16,
    /// The outer path MTU to assume toward every peer until ICMP or a probe says
    /// otherwise (`[daemon] path_mtu`).
    pub path_mtu: u16,
    /// A child that sends this long without anything coming back gets a warning
    /// (`one_way_warning`; zero: never).
    pub one_way_warning: Duration,
    /// More re-establishments than this in an hour make a connection flapping
    /// (`flap_warning`; zero: never).
    pub flap_warning: u32,
    pub mss_clamp: MssClamp,
    pub log_level: LogLevel,
    pub retransmit: RetransmitConfig,
    pub fragment_size: usize,
    pub max_packet: usize,
    pub cookie_threshold: usize,
    pub block_threshold: usize,
    pub init_limit_half_open: usize,
    pub half_open_timeout: Duration,
    /// Debugging: append every IKE and ESP SA's keys here in Wireshark's formats
    /// (`ikev2_decryption_table`, `esp_sa`); `None` = never.
    pub key_export_dir: Option<PathBuf>,
    /// Peers allowed to talk IKE to this gateway at all (address, prefix length);
    /// empty = no daemon-wide limit. Checked before any crypto work.
    pub allowed_peers: Vec<(IpAddr, u8)>,
    /// IKE_SA_INIT requests per second accepted from one source address (0: no
    /// limit).
    pub init_rate_per_source: u32,
    /// Run with `/bin/sh -c` for every break-glass event (activation, failed attempt,
    /// expiry, drill), the event as one JSON object on its stdin.
    pub alert_command: Option<String>,
}

impl Default for DaemonSettings {
    fn default() -> Self {
        let e = EndpointConfig::default();
        Self {
            control_socket: PathBuf::from("/run/ikev2d/ikev2d.sock"),
            tun_name: "ipsec0".to_owned(),
            keep_alive: KeepAlive::Auto,
            mtu: 1400,
            path_mtu: 1500,
            one_way_warning: Duration::from_secs(30),
            flap_warning: 5,
            mss_clamp: MssClamp::Auto,
            log_level: LogLevel::Info,
            retransmit: e.retransmit,
            fragment_size: e.fragment_size,
            max_packet: e.max_packet,
            cookie_threshold: e.cookie_threshold,
            block_threshold: e.block_threshold,
            init_limit_half_open: e.half_open_limit,
            half_open_timeout: e.half_open_timeout,
            key_export_dir: None,
            allowed_peers: Vec::new(),
            init_rate_per_source: 20,
            alert_command: None,
        }
    }
}

/// Authentication method of a `local`/`remote` section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMethod {
    #[default]
    Psk,
    /// A signature: with a certificate (`certs`, `cacerts`) or a raw public key
    /// (`pubkeys`).
    Pubkey,
}

/// A `local` or `remote` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSection {
    pub auth: AuthMethod,
    /// `%any` when not set (the local side then uses its IP address, or the subject
    /// of its certificate).
    pub id: Identity,
    /// `local.certs`: our end-entity certificate first, then the intermediates to
    /// send (self-signed roots are not sent).
    pub certs: Vec<LoadedCert>,
    /// `remote.cacerts`: the trust anchors for the peer's certificate.
    pub cacerts: Vec<LoadedCert>,
    /// `pubkeys`: raw public keys (local: ours, remote: those the peer may sign
    /// with), each as a SubjectPublicKeyInfo.
    pub pubkeys: Vec<LoadedFile>,
    /// `remote.crls`: CRLs (DER) for `revocation`.
    pub crls: Vec<LoadedFile>,
    pub revocation: Revocation,
    /// `local.auth = "rsa/pss"`: an RSA key signs with RSASSA-PSS.
    pub rsa_pss: bool,
}

impl Default for AuthSection {
    fn default() -> Self {
        Self {
            auth: AuthMethod::Psk,
            id: Identity::Any,
            certs: Vec::new(),
            cacerts: Vec::new(),
            pubkeys: Vec::new(),
            crls: Vec::new(),
            revocation: Revocation::Relaxed,
            rsa_pss: false,
        }
    }
}

/// A certificate and the file it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedCert {
    pub path: PathBuf,
    pub cert: Certificate,
}

/// DER read from a file (a public key's SubjectPublicKeyInfo, a CRL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedFile {
    pub path: PathBuf,
    pub der: Vec<u8>,
}

/// `secrets.private-<name>` (or `rsa-`, `ecdsa-`, `pkcs8-`): a private key file.
/// Connections find their key by the public key of their certificate.
#[derive(Debug, Clone)]
pub struct PrivateKeyFile {
    pub name: String,
    pub path: PathBuf,
    pub key: Arc<PrivateKey>,
}

/// `connections.<name>`.
#[derive(Debug, Clone)]
pub struct Connection {
    pub name: String,
    pub version: u8,
    pub local_addrs: Vec<IpAddr>,
    /// The single addresses of `remote_addrs` (the first is initiated to).
    pub remote_addrs: Vec<IpAddr>,
    /// The ranges of `remote_addrs` (`198.51.100.0/24`): peers admitted as
    /// responder, never initiated to.
    pub remote_ranges: Vec<(IpAddr, u8)>,
    /// With a DNS name among `remote_addrs`: every entry but the ranges, in order
    /// (names are resolved at each initiation); empty otherwise.
    pub remote_hosts: Vec<RemoteHost>,
    pub local_port: u16,
    pub remote_port: u16,
    pub proposals: Vec<Proposal>,
    pub encap: bool,
    pub fragmentation: Fragmentation,
    pub childless: Childless,
    /// 0 = retry forever.
    pub keyingtries: u32,
    pub rekey_time: Duration,
    pub reauth_time: Duration,
    pub over_time: Duration,
    pub rand_time: Duration,
    pub dpd_delay: Duration,
    /// How long an unanswered liveness check may take (`None`: 5 × `dpd_delay`).
    pub dpd_timeout: Option<Duration>,
    /// NAT-keepalive interval of this connection (`None`: `[daemon] keep_alive`).
    pub keep_alive: Option<KeepAlive>,
    pub local: AuthSection,
    pub remote: AuthSection,
    /// `send_cert`: when our certificates go out.
    pub send_cert: SendCert,
    /// `send_certreq`: whether we ask for the peer's certificate.
    pub send_certreq: bool,
    /// With `local.auth = pubkey`: our chain and the private key that matches it,
    /// found among the `[secrets]` when the file was loaded.
    pub credentials: Option<Arc<LocalCredentials>>,
    /// In file order.
    pub children: Vec<Child>,
    /// Set for `break_glass = true`: not loaded until activated with both halves.
    pub break_glass: Option<BreakGlass>,
    /// Set for `failover_of = "..."`: this connection stands by for another one.
    pub standby: Option<Standby>,
}

/// A standby connection's settings (docs/failover.md, "Standby tunnels").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standby {
    /// The connection whose traffic it takes over (`failover_of`).
    pub of: String,
    pub mode: StandbyMode,
    /// `preempt`: back to the primary once it has been up this long; zero = never.
    pub preempt: Duration,
}

/// What a standby does while the primary carries the traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StandbyMode {
    /// Its IKE and CHILD SAs are up and installed; only the outbound policy points
    /// elsewhere, so a failover is one switch in the data plane.
    #[default]
    Hot,
    /// Not set up until the primary fails (one IKE SA less at the peer).
    Cold,
}

/// A break-glass connection's settings: the argon2id hashes (PHC strings) of the two
/// PSK halves and how long an activation lasts. The PSK itself is never stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakGlass {
    /// Hash of custodian 1's half, then custodian 2's.
    pub hashes: [String; 2],
    /// `break_glass_ttl` (4 h by default).
    pub ttl: Duration,
}

/// The default `break_glass_ttl`.
pub const DEFAULT_BREAK_GLASS_TTL: Duration = Duration::from_secs(4 * 3600);

/// Checks that `s` is an argon2id hash in PHC string format.
pub fn check_argon2id_phc(s: &str) -> Result<(), String> {
    let h = argon2::PasswordHash::new(s).map_err(|e| {
        format!(
            "not a PHC hash string ({e}); expected \"$argon2id$v=19$m=...,t=...,p=...$SALT$HASH\""
        )
    })?;
    if h.algorithm.as_str() != "argon2id" {
        return Err(format!(
            "hash algorithm {:?}: break-glass halves are hashed with argon2id",
            h.algorithm.as_str()
        ));
    }
    if h.hash.is_none() || h.salt.is_none() {
        return Err("the PHC string has no salt or no hash".to_owned());
    }
    argon2::Params::try_from(&h).map_err(|e| format!("invalid argon2 parameters: {e}"))?;
    Ok(())
}

/// What to do with a child when the daemon starts (swanctl.conf `start_action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartAction {
    #[default]
    None,
    /// Install a trap policy; traffic triggers the negotiation.
    Trap,
    /// Initiate at startup.
    Start,
}

/// What to do when the peer is found dead (`dpd_action`) or closes the child
/// (`close_action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PeerAction {
    /// Do nothing (`close_action` default).
    None,
    /// Remove the SA (`dpd_action` default).
    #[default]
    Clear,
    Trap,
    /// Re-initiate (swanctl: `restart` for dpd_action, `start` for close_action).
    Restart,
}

/// `connections.<name>.children.<child>`; the daemon-only settings are kept here,
/// the rest goes to [`ikev2::config::ChildConfig`].
#[derive(Debug, Clone)]
pub struct Child {
    pub name: String,
    pub local_ts: Vec<TsSpec>,
    pub remote_ts: Vec<TsSpec>,
    pub esp_proposals: Vec<Proposal>,
    pub rekey_time: Duration,
    pub life_time: Duration,
    pub rand_time: Duration,
    /// 0 = no volume-based rekeying.
    pub rekey_bytes: u64,
    pub life_bytes: u64,
    pub rand_bytes: u64,
    pub rekey_packets: u64,
    pub life_packets: u64,
    pub rand_packets: u64,
    pub replay_window: u32,
    pub start_action: StartAction,
    pub dpd_action: PeerAction,
    pub close_action: PeerAction,
    /// Per-child TUN MTU override (daemon only); `None` uses `[daemon] mtu`.
    pub mtu: Option<u16>,
}

/// `secrets.ike-<name>`: a pre-shared key and its owners.
#[derive(Debug, Clone)]
pub struct Secret {
    pub name: String,
    pub ids: Vec<Identity>,
    pub secret: SecretBytes,
    /// Set when the key was given as text (not `0x`/`0s`): its length in characters
    /// and how many character classes (lower, upper, digit, other) it uses.
    pub text_strength: Option<(usize, usize)>,
}

impl DaemonConfig {
    /// Read and check a configuration file. Relative `secret_file` paths are relative
    /// to the file's directory.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, LoadError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|error| LoadError::Io {
            path: path.to_owned(),
            error,
        })?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        Self::parse(&text, base)
    }

    /// The line where `path` (or, failing that, its closest written parent) is.
    pub fn line(&self, path: &str) -> Option<usize> {
        let mut p = path;
        loop {
            if let Some(&l) = self.locations.get(p) {
                return Some(l);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }

    /// Load errors, or the lint findings of a loadable file: what `ikev2d check`
    /// reports.
    pub fn check(path: impl AsRef<Path>) -> Result<Vec<Finding>, LoadError> {
        match Self::load(path) {
            Ok(cfg) => Ok(lint::lint(&cfg)),
            Err(LoadError::Invalid(f)) => Ok(f),
            Err(e) => Err(e),
        }
    }
}

/// `192.0.2.0/24`, `2001:db8::/32` or a single address (a host prefix).
fn parse_cidr(s: &str) -> Result<(IpAddr, u8), String> {
    let s = s.trim();
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| format!("invalid address {addr:?} in {s:?}: expected an address or CIDR"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len {
        Some(l) => l
            .parse::<u8>()
            .ok()
            .filter(|&l| l <= max)
            .ok_or_else(|| format!("invalid prefix length in {s:?}: 0 to {max}"))?,
        None => max,
    };
    Ok((addr, len))
}

/// Whether `addr` is inside the prefix `net/len`.
pub fn in_prefix(addr: IpAddr, (net, len): (IpAddr, u8)) -> bool {
    let bits = |a: IpAddr| match a {
        IpAddr::V4(v) => (u128::from(u32::from(v)) << 96, true),
        IpAddr::V6(v) => (u128::from(v), false),
    };
    let ((a, a4), (n, n4)) = (bits(addr), bits(net));
    if a4 != n4 {
        return false;
    }
    let len = u32::from(len);
    let mask = if len == 0 {
        0
    } else {
        u128::MAX << (128 - len)
    };
    a & mask == n & mask
}

/// 1-based line of a byte offset.
pub(crate) fn line_of(src: &str, offset: usize) -> usize {
    src.get(..offset.min(src.len()))
        .map_or(1, |s| s.bytes().filter(|&b| b == b'\n').count() + 1)
}
