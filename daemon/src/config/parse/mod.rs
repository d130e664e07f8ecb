//! From the file as written ([`super::schema`], serde with spans) to the checked model:
//! every value checked, every problem a [`Finding`] with its key path and line
//! (syntax errors too), key locations kept for the lints. The connections, children
//! and secrets are in [`connection`].

mod connection;
mod credentials;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ikev2::config::{Childless, Fragmentation, IKE_PORT, Identity};
use ikev2::crypto::proposal::Proposal;
use ikev2::crypto::secret::SecretBytes;
use ikev2::wire::ProtocolId;

use super::schema::{
    self, BoolOrStr, IntOrStr, RawAuth, RawChild, RawConnection, RawControl, RawDaemon, RawFile,
    RawMetrics, Sp,
};
use super::*;

impl DaemonConfig {
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
        let mut connections: Vec<Connection> = conns
            .into_iter()
            .map(|(name, c)| cx.connection(name, c))
            .collect();
        cx.standby_groups(&raw, &connections);
        let mut secrets: Vec<_> = raw.secrets.iter().collect();
        secrets.sort_by_key(|(k, _)| k.span().start);
        let (key_sections, psk_sections): (Vec<_>, Vec<_>) =
            secrets.into_iter().partition(|(name, _)| {
                credentials::PRIVATE_KEY_PREFIXES
                    .iter()
                    .any(|p| name.get_ref().starts_with(p))
            });
        let secrets = psk_sections
            .into_iter()
            .filter_map(|(name, s)| cx.secret(name, s))
            .collect();
        let key_sections_count = key_sections.len();
        let private_keys: Vec<PrivateKeyFile> = key_sections
            .into_iter()
            .filter_map(|(name, s)| cx.private_key(name, s))
            .collect();
        // A key file that failed is reported already: not again as a missing key.
        if private_keys.len() == key_sections_count {
            cx.local_credentials(&mut connections, &private_keys);
        }
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
            private_keys,
            locations: cx.locations,
        })
    }
}

/// The contents of a file with secrets (`secret_file`, a private key), refused when
/// group or others may access it; `what` names it in errors. The buffer is wiped
/// when dropped.
fn read_owner_only(path: &Path, what: &str) -> Result<zeroize::Zeroizing<Vec<u8>>, String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {what} {shown}: {e}"))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(format!(
                "{what} {shown} is accessible by group or others (mode {mode:03o}); run chmod 600 on it"
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    std::fs::read(path)
        .map(zeroize::Zeroizing::new)
        .map_err(|e| format!("cannot read {what} {shown}: {e}"))
}

fn line_of_offset(src: &str, offset: usize) -> usize {
    line_of(src, offset)
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
    /// `failover_of` names another loaded connection that is not a standby itself
    /// (no chains), and neither side is a break-glass connection.
    fn standby_groups(&mut self, raw: &RawFile, connections: &[Connection]) {
        for c in connections {
            let Some(sb) = &c.standby else {
                continue;
            };
            let Some(v) = raw
                .connections
                .iter()
                .find(|(k, _)| *k.get_ref() == c.name)
                .and_then(|(_, r)| r.failover_of.as_ref())
            else {
                continue;
            };
            let path = format!("connections.{}.failover_of", c.name);
            let target = connections.iter().find(|t| t.name == sb.of);
            let problem = match target {
                _ if sb.of == c.name => Some("a connection cannot stand by for itself".to_owned()),
                None => Some(format!("no connection named {:?}", sb.of)),
                Some(t) if t.standby.is_some() => Some(format!(
                    "{:?} is a standby itself: name its primary instead (no chains)",
                    sb.of
                )),
                Some(t) if t.break_glass.is_some() || c.break_glass.is_some() => {
                    Some("break-glass connections cannot be in a standby pair".to_owned())
                }
                Some(_) => None,
            };
            if let Some(m) = problem {
                self.err(&path, v, m);
            }
        }
    }

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

    /// `keep_alive`: a duration, or `"auto"`.
    fn keep_alive(&mut self, path: &str, v: Option<&Sp<IntOrStr>>) -> Option<KeepAlive> {
        match v?.get_ref() {
            IntOrStr::Str(s) if s == "auto" => {
                self.at(path, v?);
                Some(KeepAlive::Auto)
            }
            _ => self.duration(path, v).map(KeepAlive::Every),
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

    /// A TOML boolean or swanctl's `yes`/`no`.
    fn yes_no(&mut self, path: &str, v: Option<&Sp<BoolOrStr>>) -> Option<bool> {
        let v = v?;
        self.at(path, v);
        match v.get_ref() {
            BoolOrStr::Bool(b) => Some(*b),
            BoolOrStr::Str(s) if s.eq_ignore_ascii_case("yes") => Some(true),
            BoolOrStr::Str(s) if s.eq_ignore_ascii_case("no") => Some(false),
            BoolOrStr::Str(s) => {
                self.err(path, v, format!("invalid value {s:?}: expected yes or no"));
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
        if let Some(x) = self.keep_alive(&p("keep_alive"), r.keep_alive.as_ref()) {
            d.keep_alive = x;
        }
        if let Some(x) = self.int(&p("mtu"), r.mtu.as_ref(), 576, 65535) {
            d.mtu = x;
        }
        if let Some(x) = self.duration(&p("one_way_warning"), r.one_way_warning.as_ref()) {
            d.one_way_warning = x;
        }
        if let Some(x) = self.int(&p("flap_warning"), r.flap_warning.as_ref(), 0, 1000) {
            d.flap_warning = x;
        }
        if let Some(x) = self.int(&p("path_mtu"), r.path_mtu.as_ref(), 576, 65535) {
            d.path_mtu = x;
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
        let pss = r
            .auth
            .as_ref()
            .filter(|v| v.get_ref().trim().eq_ignore_ascii_case("rsa/pss"));
        if let Some(v) = pss {
            // swanctl: RSA keys sign with RSASSA-PSS.
            self.at(&format!("{path}.auth"), v);
            a.auth = AuthMethod::Pubkey;
            a.rsa_pss = true;
            if !path.ends_with(".local") {
                self.err(
                    &format!("{path}.auth"),
                    v,
                    "rsa/pss in remote would restrict the peer's signature scheme; ikev2d accepts every scheme RFC 7427 allows except SHA-1: use auth = \"pubkey\"",
                );
            }
        } else if let Some(m) = self.word(
            &format!("{path}.auth"),
            r.auth.as_ref(),
            &[("psk", AuthMethod::Psk), ("pubkey", AuthMethod::Pubkey)],
        ) {
            a.auth = m;
        } else if let Some(v) = &r.auth {
            // Replace the generic message for the strongSwan methods we lack.
            if let Some(last) = self.errors.last_mut() {
                last.message = format!(
                    "auth method {:?} is not supported: ikev2d authenticates with pre-shared keys (auth = \"psk\") or signatures (auth = \"pubkey\"; the key type comes from the certificate)",
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
        self.pubkey_auth(path, r, &mut a);
        a
    }

    /// An error about `path`, at the line where it (or its closest parent) is
    /// written.
    fn err_at(&mut self, path: &str, message: impl Into<String>) {
        let mut p = path;
        let line = loop {
            if let Some(&l) = self.locations.get(p) {
                break Some(l);
            }
            match p.rfind(['.', '[']) {
                Some(cut) => p = &p[..cut],
                None => break None,
            }
        };
        self.errors.push(Finding {
            severity: Severity::Error,
            path: path.to_owned(),
            line,
            message: message.into(),
            rule: "invalid",
        });
    }
}
