//! ikev2d's configuration file: a TOML document whose names mirror strongSwan's
//! swanctl.conf (connections, children, secrets) and strongswan.conf's `charon.*`
//! options (the `[daemon]` table), its checked model, the mapping onto
//! [`ikev2::config::EndpointConfig`], and the lints of `ikev2d check`.
//!
//! Loading never panics and never prints secrets: errors are [`Finding`]s that name
//! the key path (`connections.site-b.children.net.local_ts[0]`) and the line.
//! `docs/configuration.md` is the reference for every key.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ikev2::config::{
    ChildConfig, Childless, ConnectionConfig, DpdAction, EndpointConfig, Fragmentation, IKE_PORT,
    Identity, RetransmitConfig, SharedSecret,
};
use ikev2::crypto::proposal::Proposal;
use ikev2::crypto::secret::SecretBytes;
use ikev2::ts::TsSpec;
use ikev2::wire::ProtocolId;

pub mod duration;
pub mod lint;
mod schema;

pub use schema::UNSUPPORTED_KEYS;

use schema::{
    BoolOrStr, IntOrStr, RawAuth, RawChild, RawConnection, RawControl, RawDaemon, RawFile,
    RawMetrics, Sp,
};

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

/// The `[daemon]` table: process-wide settings (strongswan.conf `charon.*`).
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonSettings {
    pub control_socket: PathBuf,
    pub tun_name: String,
    pub keep_alive: Duration,
    pub mtu: u16,
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
            keep_alive: e.keep_alive,
            mtu: 1400,
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

impl DaemonSettings {
    /// The MSS to clamp TCP SYNs to for inner packets of this family, `None` when
    /// clamping is off: `auto` is `mtu - 40` (IPv4) or `mtu - 60` (IPv6).
    pub fn effective_mss(&self, ipv6: bool) -> Option<u16> {
        match self.mss_clamp {
            MssClamp::Auto => Some(self.mtu.saturating_sub(if ipv6 { 60 } else { 40 })),
            MssClamp::Fixed(m) => Some(m),
            MssClamp::Off => None,
        }
    }
}

/// Authentication method of a `local`/`remote` section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMethod {
    #[default]
    Psk,
}

/// A `local` or `remote` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSection {
    pub auth: AuthMethod,
    /// `%any` when not set (the local side then uses its IP address).
    pub id: Identity,
}

impl Default for AuthSection {
    fn default() -> Self {
        Self {
            auth: AuthMethod::Psk,
            id: Identity::Any,
        }
    }
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
    pub local: AuthSection,
    pub remote: AuthSection,
    /// In file order.
    pub children: Vec<Child>,
    /// Set for `break_glass = true`: not loaded until activated with both halves.
    pub break_glass: Option<BreakGlass>,
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

    /// Check a configuration given as text; `base_dir` resolves relative
    /// `secret_file` paths.
    pub fn parse(text: &str, base_dir: &Path) -> Result<Self, LoadError> {
        let raw: RawFile = match toml::from_str(text) {
            Ok(r) => r,
            Err(e) => return Err(LoadError::Invalid(vec![syntax_finding(text, &e)])),
        };
        let mut cx = Cx {
            src: text,
            base_dir,
            errors: Vec::new(),
            locations: BTreeMap::new(),
        };
        let daemon = cx.daemon(&raw.daemon);
        let control = cx.control(&raw.control);
        let metrics = cx.metrics(&raw.metrics);
        let mut conns: Vec<_> = raw.connections.iter().collect();
        conns.sort_by_key(|(k, _)| k.span().start);
        let connections = conns
            .into_iter()
            .map(|(name, c)| cx.connection(name, c))
            .collect();
        let mut secrets: Vec<_> = raw.secrets.iter().collect();
        secrets.sort_by_key(|(k, _)| k.span().start);
        let secrets = secrets
            .into_iter()
            .filter_map(|(name, s)| cx.secret(name, s))
            .collect();
        if !cx.errors.is_empty() {
            cx.errors.sort_by_key(|f| f.line);
            return Err(LoadError::Invalid(cx.errors));
        }
        Ok(Self {
            daemon,
            control,
            metrics,
            connections,
            secrets,
            locations: cx.locations,
        })
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

    /// The endpoint configuration the `ikev2` state machine runs with, without any
    /// break-glass connection (those are loaded only once activated).
    pub fn to_endpoint_config(&self) -> EndpointConfig {
        self.to_endpoint_config_with(&BTreeMap::new())
    }

    /// The endpoint configuration with the activated break-glass connections
    /// `active` (name to PSK) loaded. Their PSKs, owned by both identities of the
    /// connection, come after the `[secrets]` entries: they win every lookup for
    /// their own pair of identities (both owners match) except against a
    /// `[secrets]` entry owned by the same pair (which `check` warns about), and
    /// they lose every tie with other keys, so an activation never changes which
    /// key another tunnel uses.
    pub fn to_endpoint_config_with(
        &self,
        active: &BTreeMap<String, SecretBytes>,
    ) -> EndpointConfig {
        let d = &self.daemon;
        let mut secrets: Vec<SharedSecret> = self
            .secrets
            .iter()
            .map(|s| SharedSecret {
                ids: s.ids.clone(),
                secret: s.secret.clone(),
            })
            .collect();
        for c in &self.connections {
            if let Some(psk) = active.get(&c.name).filter(|_| c.break_glass.is_some()) {
                let local = match (&c.local.id, c.local_addrs.first()) {
                    (Identity::Any, Some(a)) => Identity::from(*a),
                    (id, _) => id.clone(),
                };
                let ids = [local, c.remote.id.clone()]
                    .into_iter()
                    .filter(|i| !i.is_any())
                    .collect();
                secrets.push(SharedSecret {
                    ids,
                    secret: psk.clone(),
                });
            }
        }
        EndpointConfig {
            connections: self
                .connections
                .iter()
                .filter(|c| c.break_glass.is_none() || active.contains_key(&c.name))
                .map(Connection::to_ikev2)
                .collect(),
            secrets,
            cookie_threshold: d.cookie_threshold,
            block_threshold: d.block_threshold,
            half_open_limit: d.init_limit_half_open,
            half_open_timeout: d.half_open_timeout,
            retransmit: d.retransmit,
            fragment_size: d.fragment_size,
            max_packet: d.max_packet,
            keep_alive: d.keep_alive,
            export_keys: d.key_export_dir.is_some(),
            ..EndpointConfig::default()
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

impl Connection {
    /// The `ikev2` connection (children included).
    pub fn to_ikev2(&self) -> ConnectionConfig {
        let mut c = ConnectionConfig::new(self.name.clone());
        c.local_addrs = self.local_addrs.clone();
        c.remote_addrs = self.remote_addrs.clone();
        c.remote_ranges = self.remote_ranges.clone();
        c.local_port = self.local_port;
        c.remote_port = self.remote_port;
        c.local_id = self.local.id.clone();
        c.remote_id = self.remote.id.clone();
        c.proposals = self.proposals.clone();
        c.encap = self.encap;
        c.fragmentation = self.fragmentation;
        c.childless = self.childless;
        c.rekey_time = self.rekey_time;
        c.over_time = Some(self.over_time);
        c.rand_time = Some(self.rand_time);
        c.dpd_delay = self.dpd_delay;
        // strongSwan sets dpd_action and close_action per child; ikev2 acts per IKE
        // SA: the most keeping action of the children wins (restart > trap > clear).
        c.dpd_action = strongest(self.children.iter().map(|ch| ch.dpd_action));
        c.close_action = strongest(self.children.iter().map(|ch| ch.close_action));
        c.keyingtries = self.keyingtries;
        c.children = self.children.iter().map(Child::to_ikev2).collect();
        c
    }
}

/// The action that keeps a tunnel up the most: restart, then trap, then clear.
fn strongest(actions: impl Iterator<Item = PeerAction>) -> DpdAction {
    actions
        .map(|a| match a {
            PeerAction::Restart => DpdAction::Restart,
            PeerAction::Trap => DpdAction::Trap,
            PeerAction::None | PeerAction::Clear => DpdAction::Clear,
        })
        .max_by_key(|a| match a {
            DpdAction::Restart => 2,
            DpdAction::Trap => 1,
            _ => 0,
        })
        .unwrap_or_default()
}

impl Child {
    pub fn to_ikev2(&self) -> ChildConfig {
        let mut c = ChildConfig::new(self.name.clone());
        c.local_ts = self.local_ts.clone();
        c.remote_ts = self.remote_ts.clone();
        c.esp_proposals = self.esp_proposals.clone();
        c.rekey_time = self.rekey_time;
        c.life_time = self.life_time;
        c.rand_time = Some(self.rand_time);
        c.rekey_bytes = self.rekey_bytes;
        c.rekey_packets = self.rekey_packets;
        c
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

fn line_of_offset(src: &str, offset: usize) -> usize {
    line_of(src, offset)
}

/// 1-based line of a byte offset.
pub(crate) fn line_of(src: &str, offset: usize) -> usize {
    src.get(..offset.min(src.len()))
        .map_or(1, |s| s.bytes().filter(|&b| b == b'\n').count() + 1)
}

/// A toml/serde error as a finding: the key path is the table header above the
/// error plus the key at the error's position.
fn syntax_finding(src: &str, e: &toml::de::Error) -> Finding {
    let msg = e
        .message()
        .trim()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(": ");
    let Some(span) = e.span() else {
        return Finding {
            severity: Severity::Error,
            path: String::new(),
            line: None,
            message: msg,
            rule: "syntax",
        };
    };
    let line = line_of(src, span.start);
    // The span covers the key for unknown keys and the value for type errors; in the
    // latter case the key is what precedes `=` on the line.
    let line_start = src
        .get(..span.start)
        .and_then(|s| s.rfind('\n'))
        .map_or(0, |i| i + 1);
    let before = src.get(line_start..span.start).unwrap_or("");
    let key = match before.split_once('=') {
        Some((k, _)) => k,
        None => src.get(span.clone()).unwrap_or(""),
    }
    .trim()
    .trim_matches('"')
    .to_owned();
    let on_header_line = src
        .lines()
        .nth(line - 1)
        .is_some_and(|l| l.trim_start().starts_with('['));
    let header = src
        .lines()
        .take(line)
        .filter_map(|l| {
            let l = l.trim();
            l.strip_prefix('[')
                .and_then(|r| r.split(']').next())
                .map(|h| h.trim_start_matches('[').trim().to_owned())
        })
        .last()
        .unwrap_or_default();
    let is_key = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
    let path = match (is_key, header.is_empty()) {
        (true, false) if !on_header_line => format!("{header}.{key}"),
        (true, true) => key.clone(),
        _ => header,
    };
    let message = if let Some(rest) = msg.strip_prefix("unknown field `") {
        let field = rest.split('`').next().unwrap_or("");
        match schema::UNSUPPORTED_KEYS.iter().find(|(k, _)| *k == field) {
            Some((k, why)) => {
                format!("`{k}` is a strongSwan key that ikev2d does not support: {why}")
            }
            None => format!("unknown key `{field}`{}", {
                let expected = rest.split_once(", expected ").map(|x| x.1);
                expected
                    .map(|x| format!(" (expected {x})"))
                    .unwrap_or_default()
            }),
        }
    } else {
        msg
    };
    Finding {
        severity: Severity::Error,
        path,
        line: Some(line),
        message,
        rule: "syntax",
    }
}

/// Conversion context: collects errors and key locations.
struct Cx<'a> {
    src: &'a str,
    base_dir: &'a Path,
    errors: Vec<Finding>,
    locations: BTreeMap<String, usize>,
}

impl Cx<'_> {
    fn at<T>(&mut self, path: &str, v: &Sp<T>) -> usize {
        let line = line_of(self.src, v.span().start);
        self.locations.entry(path.to_owned()).or_insert(line);
        line
    }

    fn err<T>(&mut self, path: &str, v: &Sp<T>, message: impl Into<String>) {
        let line = line_of(self.src, v.span().start);
        self.errors.push(Finding {
            severity: Severity::Error,
            path: path.to_owned(),
            line: Some(line),
            message: message.into(),
            rule: "invalid",
        });
    }

    fn duration(&mut self, path: &str, v: Option<&Sp<IntOrStr>>) -> Option<Duration> {
        let v = v?;
        self.at(path, v);
        let r = match v.get_ref() {
            IntOrStr::Int(i) if *i >= 0 => u64::try_from(*i)
                .map(Duration::from_secs)
                .map_err(|_| String::new()),
            IntOrStr::Int(i) => Err(format!("invalid duration {i}: must not be negative")),
            IntOrStr::Float(f) => duration::parse_duration(&f.to_string()),
            IntOrStr::Str(s) => duration::parse_duration(s),
        };
        match r {
            Ok(d) => Some(d),
            Err(m) => {
                self.err(path, v, m);
                None
            }
        }
    }

    fn int<T: TryFrom<i64>>(
        &mut self,
        path: &str,
        v: Option<&Sp<i64>>,
        min: i64,
        max: i64,
    ) -> Option<T> {
        let v = v?;
        self.at(path, v);
        let i = *v.get_ref();
        match T::try_from(i) {
            Ok(x) if (min..=max).contains(&i) => Some(x),
            _ => {
                self.err(path, v, format!("{i} is out of range ({min}..={max})"));
                None
            }
        }
    }

    /// One of a fixed set of words.
    fn word<T: Copy>(
        &mut self,
        path: &str,
        v: Option<&Sp<String>>,
        words: &[(&str, T)],
    ) -> Option<T> {
        let v = v?;
        self.at(path, v);
        let s = v.get_ref().trim();
        if let Some((_, t)) = words.iter().find(|(w, _)| w.eq_ignore_ascii_case(s)) {
            return Some(*t);
        }
        let list: Vec<&str> = words.iter().map(|(w, _)| *w).collect();
        self.err(
            path,
            v,
            format!("invalid value {s:?}: expected one of {}", list.join(", ")),
        );
        None
    }

    fn string_list<T>(
        &mut self,
        path: &str,
        list: Option<&Vec<Sp<String>>>,
        mut parse: impl FnMut(&str) -> Result<Vec<T>, String>,
    ) -> Option<Vec<T>> {
        let list = list?;
        let mut out = Vec::new();
        let mut ok = true;
        for (i, item) in list.iter().enumerate() {
            let p = format!("{path}[{i}]");
            self.at(path, item);
            self.at(&p, item);
            match parse(item.get_ref()) {
                Ok(v) => out.extend(v),
                Err(m) => {
                    self.err(&p, item, m);
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    fn metrics(&mut self, r: &RawMetrics) -> MetricsSettings {
        let mut m = MetricsSettings::default();
        if let Some(v) = &r.listen {
            self.at("metrics.listen", v);
            match v.get_ref().parse() {
                Ok(a) => m.listen = Some(a),
                Err(_) => self.err(
                    "metrics.listen",
                    v,
                    format!(
                        "invalid address {:?}: expected IP:port, e.g. \"127.0.0.1:9469\"",
                        v.get_ref()
                    ),
                ),
            }
        }
        if let Some(list) =
            self.string_list("metrics.allowed_sources", r.allowed_sources.as_ref(), |s| {
                parse_cidr(s).map(|c| vec![c])
            })
        {
            m.allowed_sources = list;
        }
        m
    }

    fn control(&mut self, r: &RawControl) -> ControlSettings {
        let mut c = ControlSettings::default();
        let p = |k: &str| format!("control.{k}");
        if let Some(v) = &r.admin_group {
            self.at(&p("admin_group"), v);
            c.admin_group = Some(v.get_ref().clone());
        }
        if let Some(v) = &r.viewer_group {
            self.at(&p("viewer_group"), v);
            c.viewer_group = Some(v.get_ref().clone());
        }
        if let Some(v) = &r.audit_log {
            self.at(&p("audit_log"), v);
            c.audit_log = PathBuf::from(v.get_ref());
        }
        c
    }

    fn daemon(&mut self, r: &RawDaemon) -> DaemonSettings {
        let mut d = DaemonSettings::default();
        let p = |k: &str| format!("daemon.{k}");
        if let Some(v) = &r.control_socket {
            self.at(&p("control_socket"), v);
            d.control_socket = PathBuf::from(v.get_ref());
        }
        if let Some(v) = &r.tun_name {
            self.at(&p("tun_name"), v);
            let n = v.get_ref();
            if n.is_empty() || n.len() > 15 || n.contains(['/', ' ']) {
                self.err(
                    &p("tun_name"),
                    v,
                    format!("invalid interface name {n:?}: 1 to 15 characters, no '/' or spaces"),
                );
            } else {
                d.tun_name = n.clone();
            }
        }
        if let Some(x) = self.duration(&p("keep_alive"), r.keep_alive.as_ref()) {
            d.keep_alive = x;
        }
        if let Some(x) = self.int(&p("mtu"), r.mtu.as_ref(), 576, 65535) {
            d.mtu = x;
        }
        if let Some(v) = &r.mss_clamp {
            self.at(&p("mss_clamp"), v);
            let m = match v.get_ref() {
                IntOrStr::Str(s) if s.eq_ignore_ascii_case("auto") => Some(MssClamp::Auto),
                IntOrStr::Str(s) if s.eq_ignore_ascii_case("off") => Some(MssClamp::Off),
                IntOrStr::Int(i) => u16::try_from(*i)
                    .ok()
                    .filter(|&m| m >= 88)
                    .map(MssClamp::Fixed),
                _ => None,
            };
            match m {
                Some(m) => d.mss_clamp = m,
                None => self.err(
                    &p("mss_clamp"),
                    v,
                    "invalid mss_clamp: use \"auto\" (from mtu), \"off\", or a number of octets (88..=65535)",
                ),
            }
        }
        if let Some(x) = self.word(
            &p("log_level"),
            r.log_level.as_ref(),
            &[
                ("error", LogLevel::Error),
                ("warn", LogLevel::Warn),
                ("info", LogLevel::Info),
                ("debug", LogLevel::Debug),
                ("trace", LogLevel::Trace),
            ],
        ) {
            d.log_level = x;
        }
        if let Some(x) = self.duration(&p("retransmit_timeout"), r.retransmit_timeout.as_ref()) {
            d.retransmit.timeout = x;
        }
        if let Some(v) = &r.retransmit_base {
            self.at(&p("retransmit_base"), v);
            let b = *v.get_ref();
            if (1.0..=10.0).contains(&b) {
                d.retransmit.base = b;
            } else {
                self.err(
                    &p("retransmit_base"),
                    v,
                    format!("{b} is out of range (1.0..=10.0)"),
                );
            }
        }
        if let Some(x) = self.int(&p("retransmit_tries"), r.retransmit_tries.as_ref(), 0, 100) {
            d.retransmit.tries = x;
        }
        if let Some(x) = self.duration(&p("retransmit_limit"), r.retransmit_limit.as_ref()) {
            d.retransmit.limit = (!x.is_zero()).then_some(x);
        }
        if let Some(x) = self.int(&p("fragment_size"), r.fragment_size.as_ref(), 576, 65535) {
            d.fragment_size = x;
        }
        if let Some(x) = self.int(&p("max_packet"), r.max_packet.as_ref(), 1280, 65535) {
            d.max_packet = x;
        }
        if let Some(x) = self.int::<usize>(
            &p("cookie_threshold"),
            r.cookie_threshold.as_ref(),
            0,
            i64::MAX,
        ) {
            d.cookie_threshold = if x == 0 { usize::MAX } else { x };
        }
        if let Some(x) = self.int(
            &p("block_threshold"),
            r.block_threshold.as_ref(),
            0,
            i64::MAX,
        ) {
            d.block_threshold = x;
        }
        if let Some(x) = self.int(
            &p("init_limit_half_open"),
            r.init_limit_half_open.as_ref(),
            0,
            i64::MAX,
        ) {
            d.init_limit_half_open = x;
        }
        if let Some(x) = self.duration(&p("half_open_timeout"), r.half_open_timeout.as_ref()) {
            d.half_open_timeout = x;
        }
        if let Some(v) = &r.key_export_dir {
            self.at(&p("key_export_dir"), v);
            d.key_export_dir = Some(PathBuf::from(v.get_ref()));
        }
        if let Some(list) = self.string_list(&p("allowed_peers"), r.allowed_peers.as_ref(), |s| {
            parse_cidr(s).map(|c| vec![c])
        }) {
            d.allowed_peers = list;
        }
        if let Some(x) = self.int(
            &p("init_rate_per_source"),
            r.init_rate_per_source.as_ref(),
            0,
            1_000_000,
        ) {
            d.init_rate_per_source = x;
        }
        if let Some(v) = &r.alert_command {
            self.at(&p("alert_command"), v);
            if v.get_ref().trim().is_empty() {
                self.err(
                    &p("alert_command"),
                    v,
                    "alert_command is empty: leave it out or name a command",
                );
            } else {
                d.alert_command = Some(v.get_ref().clone());
            }
        }
        d
    }

    fn proposals(
        &mut self,
        path: &str,
        list: Option<&Vec<Sp<String>>>,
        proto: ProtocolId,
    ) -> Option<Vec<Proposal>> {
        let before = self.errors.len();
        let all = self.string_list(path, list, |s| {
            Proposal::parse_list(proto, s).map_err(|e| e.to_string())
        });
        for f in &mut self.errors[before..] {
            f.rule = "unknown-algorithm";
        }
        let mut all = all?;
        for (i, p) in all.iter_mut().enumerate() {
            *p = p
                .clone()
                .with_number(u8::try_from(i + 1).unwrap_or(u8::MAX));
        }
        if all.is_empty() {
            if let Some(first) = list.and_then(|l| l.first()) {
                self.err(path, first, "empty proposal list");
            }
            return None;
        }
        Some(all)
    }

    fn auth(&mut self, path: &str, r: Option<&Sp<RawAuth>>) -> AuthSection {
        let mut a = AuthSection::default();
        let Some(r) = r else { return a };
        self.at(path, r);
        let r = r.get_ref();
        if let Some(m) = self.word(
            &format!("{path}.auth"),
            r.auth.as_ref(),
            &[("psk", AuthMethod::Psk)],
        ) {
            a.auth = m;
        } else if let Some(v) = &r.auth {
            // Replace the generic message for the strongSwan methods we lack.
            if let Some(last) = self.errors.last_mut() {
                last.message = format!(
                    "auth method {:?} is not supported: ikev2d authenticates with pre-shared keys only (auth = \"psk\")",
                    v.get_ref()
                );
            }
        }
        if let Some(v) = &r.id {
            let p = format!("{path}.id");
            self.at(&p, v);
            match v.get_ref().parse::<Identity>() {
                Ok(id) => a.id = id,
                Err(e) => self.err(&p, v, e.to_string()),
            }
        }
        a
    }

    fn connection(&mut self, name: &Sp<String>, r: &RawConnection) -> Connection {
        let base = format!("connections.{}", name.get_ref());
        self.at(&base, name);
        let p = |k: &str| format!("{base}.{k}");
        let addrs = |s: &str| {
            s.split(',')
                .map(|a| {
                    let a = a.trim();
                    a.parse::<IpAddr>().map_err(|_| {
                        format!(
                            "invalid IP address {a:?} (host names are not supported yet; ranges only in remote_addrs)"
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let version = match &r.version {
            Some(v) if *v.get_ref() != 2 => {
                self.at(&p("version"), v);
                self.err(
                    &p("version"),
                    v,
                    format!(
                        "version {} is not supported: ikev2d speaks IKEv2 only (version = 2)",
                        v.get_ref()
                    ),
                );
                2
            }
            Some(v) => {
                self.at(&p("version"), v);
                2
            }
            None => 2,
        };
        let local_addrs = self
            .string_list(&p("local_addrs"), r.local_addrs.as_ref(), addrs)
            .unwrap_or_default();
        let remote = self
            .string_list(&p("remote_addrs"), r.remote_addrs.as_ref(), |s| {
                s.split(',')
                    .map(|a| {
                        let a = a.trim();
                        if a.contains('/') {
                            parse_cidr(a)
                        } else {
                            a.parse::<IpAddr>()
                                .map(|ip| (ip, if ip.is_ipv4() { 32 } else { 128 }))
                                .map_err(|_| {
                                    format!(
                                        "invalid IP address {a:?}: expected an address or a CIDR range (host names are not supported yet)"
                                    )
                                })
                        }
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .unwrap_or_default();
        let (mut remote_addrs, mut remote_ranges) = (Vec::new(), Vec::new());
        for (ip, len) in remote {
            if len == if ip.is_ipv4() { 32 } else { 128 } {
                remote_addrs.push(ip);
            } else {
                remote_ranges.push((ip, len));
            }
        }
        let local_port = self
            .int(&p("local_port"), r.local_port.as_ref(), 1, 65535)
            .unwrap_or(IKE_PORT);
        let remote_port = self
            .int(&p("remote_port"), r.remote_port.as_ref(), 1, 65535)
            .unwrap_or(IKE_PORT);
        let proposals = self
            .proposals(&p("proposals"), r.proposals.as_ref(), ProtocolId::IKE)
            .unwrap_or_else(|| Proposal::defaults(ProtocolId::IKE));
        let encap = r.encap.as_ref().map(|v| {
            self.at(&p("encap"), v);
            *v.get_ref()
        });
        let fragmentation = match &r.fragmentation {
            None => Fragmentation::Yes,
            Some(v) => {
                self.at(&p("fragmentation"), v);
                match v.get_ref() {
                    BoolOrStr::Bool(true) => Fragmentation::Yes,
                    BoolOrStr::Bool(false) => Fragmentation::No,
                    BoolOrStr::Str(s) => match s.as_str() {
                        "yes" => Fragmentation::Yes,
                        "accept" => Fragmentation::Accept,
                        "no" => Fragmentation::No,
                        "force" => {
                            self.err(&p("fragmentation"), v, "fragmentation = \"force\" is IKEv1-only in strongSwan; with IKEv2 use \"yes\" (fragments once the peer announced support)");
                            Fragmentation::Yes
                        }
                        other => {
                            self.err(
                                &p("fragmentation"),
                                v,
                                format!("invalid value {other:?}: expected one of yes, accept, no"),
                            );
                            Fragmentation::Yes
                        }
                    },
                }
            }
        };
        let childless = self
            .word(
                &p("childless"),
                r.childless.as_ref(),
                &[
                    ("allow", Childless::Allow),
                    ("prefer", Childless::Prefer),
                    ("force", Childless::Force),
                    ("never", Childless::Never),
                ],
            )
            .unwrap_or_default();
        let keyingtries = self
            .int(
                &p("keyingtries"),
                r.keyingtries.as_ref(),
                0,
                i64::from(u32::MAX),
            )
            .unwrap_or(1);
        let rekey_time = self
            .duration(&p("rekey_time"), r.rekey_time.as_ref())
            .unwrap_or(Duration::from_secs(4 * 3600));
        let reauth_time = self
            .duration(&p("reauth_time"), r.reauth_time.as_ref())
            .unwrap_or(Duration::ZERO);
        let over_time = self
            .duration(&p("over_time"), r.over_time.as_ref())
            .unwrap_or_else(|| rekey_time.max(reauth_time) / 10);
        let rand_time = self
            .duration(&p("rand_time"), r.rand_time.as_ref())
            .unwrap_or(over_time);
        let dpd_delay = self
            .duration(&p("dpd_delay"), r.dpd_delay.as_ref())
            .unwrap_or(Duration::ZERO);
        let break_glass = self.break_glass(&base, r);
        let local = self.auth(&p("local"), r.local.as_ref());
        let remote = self.auth(&p("remote"), r.remote.as_ref());
        let mut kids: Vec<_> = r.children.iter().collect();
        kids.sort_by_key(|(k, _)| k.span().start);
        let children = kids
            .into_iter()
            .map(|(n, c)| self.child(&base, n, c))
            .collect();
        Connection {
            name: name.get_ref().clone(),
            version,
            local_addrs,
            remote_addrs,
            remote_ranges,
            local_port,
            remote_port,
            proposals,
            encap: encap.unwrap_or(false),
            fragmentation,
            childless,
            keyingtries,
            rekey_time,
            reauth_time,
            over_time,
            rand_time,
            dpd_delay,
            local,
            remote,
            children,
            break_glass,
        }
    }

    /// `break_glass`, `break_glass_hashes`, `break_glass_ttl` of a connection.
    fn break_glass(&mut self, base: &str, r: &RawConnection) -> Option<BreakGlass> {
        let p = |k: &str| format!("{base}.{k}");
        let on = r.break_glass.as_ref().map(|v| {
            self.at(&p("break_glass"), v);
            *v.get_ref()
        });
        let ttl = self.duration(&p("break_glass_ttl"), r.break_glass_ttl.as_ref());
        let mut hashes = Vec::new();
        let mut ok = true;
        if let Some(list) = &r.break_glass_hashes {
            for (i, h) in list.iter().enumerate() {
                let hp = format!("{}[{i}]", p("break_glass_hashes"));
                self.at(&p("break_glass_hashes"), h);
                self.at(&hp, h);
                match check_argon2id_phc(h.get_ref()) {
                    Ok(()) => hashes.push(h.get_ref().clone()),
                    Err(m) => {
                        self.err(&hp, h, m);
                        ok = false;
                    }
                }
            }
        }
        if on != Some(true) {
            if let Some(first) = r.break_glass_hashes.as_ref().and_then(|l| l.first()) {
                self.err(&p("break_glass_hashes"), first, "break_glass_hashes without break_glass = true: set break_glass = true or remove the hashes");
            }
            if let Some(v) = &r.break_glass_ttl {
                self.err(
                    &p("break_glass_ttl"),
                    v,
                    "break_glass_ttl without break_glass = true",
                );
            }
            return None;
        }
        let ttl = ttl.unwrap_or(DEFAULT_BREAK_GLASS_TTL);
        if ttl.is_zero() {
            if let Some(v) = &r.break_glass_ttl {
                self.err(
                    &p("break_glass_ttl"),
                    v,
                    "break_glass_ttl must be longer than 0",
                );
            }
        }
        let flag = r.break_glass.as_ref()?;
        match (<[String; 2]>::try_from(hashes), ok) {
            (Ok(hashes), true) => Some(BreakGlass { hashes, ttl }),
            (_, true) => {
                let (path, line_of) = match r.break_glass_hashes.as_ref().and_then(|l| l.first()) {
                    Some(first) => (p("break_glass_hashes"), first.span().start),
                    None => (p("break_glass"), flag.span().start),
                };
                let line = line_of_offset(self.src, line_of);
                self.errors.push(Finding {
                    severity: Severity::Error,
                    path,
                    line: Some(line),
                    message: "a break-glass connection needs break_glass_hashes = [HASH1, HASH2] \
                              (argon2id PHC strings of the two PSK halves): run \
                              `ikev2d break-glass rotate CONN --config FILE`"
                        .to_owned(),
                    rule: "invalid",
                });
                None
            }
            _ => None,
        }
    }

    fn child(&mut self, conn: &str, name: &Sp<String>, r: &RawChild) -> Child {
        let base = format!("{conn}.children.{}", name.get_ref());
        self.at(&base, name);
        let p = |k: &str| format!("{base}.{k}");
        let ts = |s: &str| {
            s.split(',')
                .map(|t| t.trim().parse::<TsSpec>().map_err(|e| e.to_string()))
                .collect::<Result<Vec<_>, _>>()
        };
        let dynamic = ChildConfig::new("").local_ts;
        let local_ts = self
            .string_list(&p("local_ts"), r.local_ts.as_ref(), ts)
            .unwrap_or_else(|| dynamic.clone());
        let remote_ts = self
            .string_list(&p("remote_ts"), r.remote_ts.as_ref(), ts)
            .unwrap_or(dynamic);
        let esp_proposals = self
            .proposals(
                &p("esp_proposals"),
                r.esp_proposals.as_ref(),
                ProtocolId::ESP,
            )
            .unwrap_or_else(|| Proposal::implicit_defaults(ProtocolId::ESP));
        if let Some(v) = &r.mode {
            self.at(&p("mode"), v);
            if !v.get_ref().eq_ignore_ascii_case("tunnel") {
                self.err(&p("mode"), v, format!("mode {:?} is not supported: ikev2d runs tunnel mode only (mode = \"tunnel\")", v.get_ref()));
            }
        }
        let rekey_time = self
            .duration(&p("rekey_time"), r.rekey_time.as_ref())
            .unwrap_or(Duration::from_secs(3600));
        let life_time = self
            .duration(&p("life_time"), r.life_time.as_ref())
            .unwrap_or(rekey_time + rekey_time / 10);
        let rand_time = self
            .duration(&p("rand_time"), r.rand_time.as_ref())
            .unwrap_or_else(|| life_time.saturating_sub(rekey_time));
        if let (Some(v), true) = (&r.life_time, life_time < rekey_time) {
            self.err(&p("life_time"), v, "life_time must not be shorter than rekey_time (the SA would expire before it is rekeyed)");
        }
        let max = i64::MAX;
        let rekey_bytes = self
            .int(&p("rekey_bytes"), r.rekey_bytes.as_ref(), 0, max)
            .unwrap_or(0u64);
        let life_bytes = self
            .int(&p("life_bytes"), r.life_bytes.as_ref(), 0, max)
            .unwrap_or(rekey_bytes + rekey_bytes / 10);
        let rand_bytes = self
            .int(&p("rand_bytes"), r.rand_bytes.as_ref(), 0, max)
            .unwrap_or(life_bytes - rekey_bytes.min(life_bytes));
        let rekey_packets = self
            .int(&p("rekey_packets"), r.rekey_packets.as_ref(), 0, max)
            .unwrap_or(0u64);
        let life_packets = self
            .int(&p("life_packets"), r.life_packets.as_ref(), 0, max)
            .unwrap_or(rekey_packets + rekey_packets / 10);
        let rand_packets = self
            .int(&p("rand_packets"), r.rand_packets.as_ref(), 0, max)
            .unwrap_or(life_packets - rekey_packets.min(life_packets));
        let replay_window = self
            .int(&p("replay_window"), r.replay_window.as_ref(), 0, 65536)
            .unwrap_or(32);
        let start_action = self
            .word(
                &p("start_action"),
                r.start_action.as_ref(),
                &[
                    ("none", StartAction::None),
                    ("trap", StartAction::Trap),
                    ("start", StartAction::Start),
                ],
            )
            .unwrap_or_default();
        let dpd_action = self
            .word(
                &p("dpd_action"),
                r.dpd_action.as_ref(),
                &[
                    ("clear", PeerAction::Clear),
                    ("none", PeerAction::Clear),
                    ("trap", PeerAction::Trap),
                    ("restart", PeerAction::Restart),
                ],
            )
            .unwrap_or(PeerAction::Clear);
        let close_action = self
            .word(
                &p("close_action"),
                r.close_action.as_ref(),
                &[
                    ("none", PeerAction::None),
                    ("clear", PeerAction::Clear),
                    ("trap", PeerAction::Trap),
                    ("start", PeerAction::Restart),
                    ("restart", PeerAction::Restart),
                ],
            )
            .unwrap_or(PeerAction::None);
        let mtu = self.int(&p("mtu"), r.mtu.as_ref(), 576, 65535);
        Child {
            name: name.get_ref().clone(),
            local_ts,
            remote_ts,
            esp_proposals,
            rekey_time,
            life_time,
            rand_time,
            rekey_bytes,
            life_bytes,
            rand_bytes,
            rekey_packets,
            life_packets,
            rand_packets,
            replay_window,
            start_action,
            dpd_action,
            close_action,
            mtu,
        }
    }

    fn secret(
        &mut self,
        name: &Sp<String>,
        r: &BTreeMap<Sp<String>, Sp<toml::Value>>,
    ) -> Option<Secret> {
        let base = format!("secrets.{}", name.get_ref());
        self.at(&base, name);
        if !name.get_ref().starts_with("ike") {
            self.err(
                &base,
                name,
                "only IKE pre-shared keys are supported: name the section ike-<something> (swanctl's eap, xauth, ntlm, private key and token secrets are not supported)",
            );
            return None;
        }
        let mut ids = Vec::new();
        let mut secret: Option<(SecretBytes, Option<(usize, usize)>)> = None;
        let mut entries: Vec<_> = r.iter().collect();
        entries.sort_by_key(|(k, _)| k.span().start);
        for (k, v) in entries {
            let key = k.get_ref().as_str();
            let path = format!("{base}.{key}");
            self.at(&path, k);
            let is_id = key == "id"
                || key
                    .strip_prefix("id")
                    .is_some_and(|s| s.starts_with(['-', '_']));
            match (key, v.get_ref()) {
                (_, toml::Value::String(s)) if is_id => match s.parse::<Identity>() {
                    Ok(id) => ids.push(id),
                    Err(e) => self.err(&path, v, e.to_string()),
                },
                ("ids", toml::Value::Array(a)) => {
                    for (i, x) in a.iter().enumerate() {
                        match x.as_str().map(str::parse::<Identity>) {
                            Some(Ok(id)) => ids.push(id),
                            Some(Err(e)) => self.err(&format!("{path}[{i}]"), v, e.to_string()),
                            None => {
                                self.err(&format!("{path}[{i}]"), v, "an identity must be a string")
                            }
                        }
                    }
                }
                ("secret", toml::Value::String(s)) => {
                    if secret.is_some() {
                        self.err(&path, v, "give either secret or secret_file, not both");
                    }
                    match decode_secret(s) {
                        Ok(x) => secret = Some(x),
                        Err(m) => self.err(&path, v, m),
                    }
                }
                ("secret_file", toml::Value::String(f)) => {
                    if secret.is_some() {
                        self.err(&path, v, "give either secret or secret_file, not both");
                    }
                    match self.read_secret_file(f) {
                        Ok(x) => secret = Some(x),
                        Err(m) => self.err(&path, v, m),
                    }
                }
                (_, _) if is_id || matches!(key, "ids" | "secret" | "secret_file") => {
                    self.err(
                        &path,
                        v,
                        format!(
                            "{key} must be a {}",
                            if key == "ids" {
                                "list of strings"
                            } else {
                                "string"
                            }
                        ),
                    );
                }
                _ => self.err(
                    &path,
                    k,
                    format!(
                        "unknown key `{key}` (expected id, id-<suffix>, ids, secret or secret_file)"
                    ),
                ),
            }
        }
        let tried = r
            .keys()
            .any(|k| matches!(k.get_ref().as_str(), "secret" | "secret_file"));
        match secret {
            Some((secret, text_strength)) => Some(Secret {
                name: name.get_ref().clone(),
                ids,
                secret,
                text_strength,
            }),
            None if tried => None,
            None => {
                self.err(
                    &base,
                    name,
                    "no secret: set secret = \"...\" or secret_file = \"path\"",
                );
                None
            }
        }
    }

    fn read_secret_file(
        &self,
        file: &str,
    ) -> Result<(SecretBytes, Option<(usize, usize)>), String> {
        let path = self.base_dir.join(file);
        let shown = path.display();
        let meta = std::fs::metadata(&path)
            .map_err(|e| format!("cannot read secret_file {shown}: {e}"))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(format!(
                    "secret_file {shown} is accessible by group or others (mode {mode:03o}); run chmod 600 on it"
                ));
            }
        }
        #[cfg(not(unix))]
        let _ = meta;
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read secret_file {shown}: {e}"))?;
        let text = text
            .strip_suffix("\r\n")
            .or_else(|| text.strip_suffix('\n'))
            .unwrap_or(&text);
        decode_secret(text).map_err(|m| format!("secret_file {shown}: {m}"))
    }
}

/// swanctl's secret syntax: `0x` hex, `0s` base64, otherwise the text itself. The
/// error never contains the secret.
fn decode_secret(s: &str) -> Result<(SecretBytes, Option<(usize, usize)>), String> {
    use base64::Engine as _;
    let bytes = if let Some(h) = s.strip_prefix("0x") {
        hex::decode(h).map_err(|_| "the secret starts with 0x but is not valid hex".to_owned())?
    } else if let Some(b) = s.strip_prefix("0s") {
        base64::engine::general_purpose::STANDARD
            .decode(b)
            .map_err(|_| "the secret starts with 0s but is not valid base64".to_owned())?
    } else {
        let classes = [
            s.chars().any(|c| c.is_ascii_lowercase()),
            s.chars().any(|c| c.is_ascii_uppercase()),
            s.chars().any(|c| c.is_ascii_digit()),
            s.chars().any(|c| !c.is_ascii_alphanumeric()),
        ]
        .iter()
        .filter(|&&b| b)
        .count();
        if s.is_empty() {
            return Err("the secret is empty".to_owned());
        }
        return Ok((
            SecretBytes::from_slice(s.as_bytes()),
            Some((s.chars().count(), classes)),
        ));
    };
    if bytes.is_empty() {
        return Err("the secret is empty".to_owned());
    }
    Ok((SecretBytes::new(bytes), None))
}
