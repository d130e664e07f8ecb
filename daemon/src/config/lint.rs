//! The lints of `ikev2d check`, run on a configuration that loaded. Each rule returns
//! [`Finding`]s naming the key path and line with an actionable sentence.
//!
//! Rules from the deployment guidance (issue 6):
//! - errors: `ts-overlap`, `unknown-algorithm` (transforms ikev2d does not implement;
//!   unknown keywords already fail loading), `missing-secret`;
//! - warnings: `weak-psk`, `strength-mismatch`, `weak-algorithm` (SHA-1, MODP < 2048),
//!   `mtu-mss`, `keep-alive`.
//!
//! Certificates (`pki`): `cert-expiry`, `cert-chain`, `crl-expired`.
//!
//! Extra checks a strongSwan user appreciates, labelled `extra/...`: `extra/pfs-group`
//! (warning), `extra/no-remote-addrs` (error), `extra/dpd-disabled` (warning),
//! `extra/reauth` (warning).

use std::net::IpAddr;
use std::time::Duration;

use esp::mtu::{EspOverhead, OuterPath};
use esp::natt::Encapsulation;
use esp::wire::IpVersion;
use ikev2::config::{EndpointConfig, IdMatch, Identity, SharedSecret};
use ikev2::crypto::algorithms::{EncrAlgorithm, IntegAlgorithm};
use ikev2::crypto::proposal::Proposal;
use ikev2::ts::TsSpec;
use ikev2::wire::{DhGroup, TransformType};

use super::{
    AuthMethod, DaemonConfig, Finding, KeepAlive, MssClamp, PeerAction, Severity, StartAction,
};

mod pki;
pub use pki::{EXPIRY_WARNING_DAYS, credential_findings};

/// Longest NAT-T keepalive interval that stays under typical NAT idle timeouts.
pub const MAX_KEEP_ALIVE: Duration = Duration::from_secs(30);
/// Minimum PSK length in characters and character classes (lower, upper, digit,
/// other).
pub const MIN_PSK_CHARS: usize = 32;
pub const MIN_PSK_CLASSES: usize = 3;

/// All lint findings, errors first, then by line.
pub fn lint(cfg: &DaemonConfig) -> Vec<Finding> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    lint_at(cfg, now)
}

/// [`lint`] with the time of day given (seconds since the epoch): certificate
/// validity depends on it.
pub fn lint_at(cfg: &DaemonConfig, now: u64) -> Vec<Finding> {
    let mut l = Lints {
        cfg,
        out: Vec::new(),
    };
    l.keep_alive();
    l.secrets();
    if let Some(dir) = &cfg.daemon.key_export_dir {
        l.push(
            Severity::Warning,
            "extra/key-export",
            "daemon.key_export_dir".to_owned(),
            format!(
                "while an admin has turned it on (`ikev2d debug key-export on`), IKE and \
                 ESP keys are written to {} for Wireshark: anyone who reads it can decrypt \
                 the tunnel; use for debugging only",
                dir.display()
            ),
        );
    }
    for (ci, c) in cfg.connections.iter().enumerate() {
        let base = format!("connections.{}", c.name);
        if c.break_glass.is_some() {
            l.break_glass(ci, &base);
        } else if c.local.auth == AuthMethod::Psk || c.remote.auth == AuthMethod::Psk {
            l.missing_secret(ci, &base);
        }
        l.certificates(c, &base, now);
        l.algorithms(&format!("{base}.proposals"), &c.proposals);
        if !c.proposals.is_empty() && c.proposals.iter().all(Proposal::needs_additional_ke) {
            l.push(
                Severity::Warning,
                "extra/pq-no-classic-fallback",
                format!("{base}.proposals"),
                "every IKE proposal needs an additional key exchange (keN_...): peers \
                 without RFC 9370 (strongSwan 5.9, which cannot even parse keN_ in its own \
                 configuration, libreswan 4) answer NO_PROPOSAL_CHOSEN; add a classic \
                 proposal after the hybrid one (e.g. \"aes256gcm16-prfsha384-x25519\") or \
                 make it optional with keN_none"
                    .to_owned(),
            );
        }
        if !c.reauth_time.is_zero() {
            l.push(
                Severity::Warning,
                "extra/reauth",
                format!("{base}.reauth_time"),
                "reauthentication is not implemented yet: the IKE SA is rekeyed (rekey_time) \
                 but never reauthenticated; set reauth_time = 0 to silence this"
                    .to_owned(),
            );
        }
        for ch in &c.children {
            let cb = format!("{base}.children.{}", ch.name);
            l.ts_overlap(&cb, &ch.local_ts, &ch.remote_ts);
            l.algorithms(&format!("{cb}.esp_proposals"), &ch.esp_proposals);
            if let Some(p) = ch
                .esp_proposals
                .iter()
                .find(|p| p.has_additional_ke() && p.first_dh_group().is_none())
            {
                l.push(
                    Severity::Warning,
                    "extra/esp-additional-ke-without-pfs",
                    format!("{cb}.esp_proposals"),
                    format!(
                        "{p} has additional key exchanges (keN_) but no PFS group: they run \
                         only after a first key exchange in CREATE_CHILD_SA, so ikev2d (like \
                         strongSwan) ignores them; add a group before them (e.g. \
                         aes256gcm16-x25519-ke1_mlkem768)"
                    ),
                );
            }
            l.strength(&cb, &c.proposals, &ch.esp_proposals);
            l.pfs(&cb, &c.proposals, &ch.esp_proposals);
            l.mtu(&cb, ch, &c.remote_addrs);
            if matches!(ch.start_action, StartAction::Start | StartAction::Trap)
                && c.remote_addrs.is_empty()
                && c.remote_hosts.is_empty()
            {
                let why = if c.remote_ranges.is_empty() {
                    format!("{base}.remote_addrs is empty")
                } else {
                    format!(
                        "{base}.remote_addrs has only ranges, and a range cannot be initiated \
                         to (it only admits peers as responder)"
                    )
                };
                l.push(
                    Severity::Error,
                    "extra/no-remote-addrs",
                    format!("{cb}.start_action"),
                    format!(
                        "start_action = \"{}\" needs a peer to initiate to, but {why}: add \
                         a single address to remote_addrs or use start_action = \"none\" \
                         (respond only)",
                        if ch.start_action == StartAction::Start {
                            "start"
                        } else {
                            "trap"
                        }
                    ),
                );
            }
            if c.dpd_delay.is_zero() && ch.dpd_action != PeerAction::Clear {
                l.push(
                    Severity::Warning,
                    "extra/dpd-disabled",
                    format!("{cb}.dpd_action"),
                    format!(
                        "dpd_action is set but {base}.dpd_delay is 0, so dead peers are only \
                         noticed by failing retransmissions: set dpd_delay (e.g. \"30s\")"
                    ),
                );
            }
        }
    }
    for c in &cfg.connections {
        let base = format!("connections.{}", c.name);
        let named = !ikev2::config::dns_names(&c.remote_hosts).is_empty();
        if named && c.dpd_delay.is_zero() {
            l.push(
                Severity::Warning,
                "extra/dns-without-dpd",
                format!("{base}.remote_addrs"),
                format!(
                    "{base}.remote_addrs has a DNS name but dpd_delay is 0: when the name \
                     moves to another gateway, the tunnel stays with the old one until it \
                     fails by retransmissions; set dpd_delay (e.g. \"10s\") with \
                     dpd_action = \"restart\" so a dead gateway is noticed and the name \
                     resolved again"
                ),
            );
        }
    }
    for c in &cfg.connections {
        let (Some(sb), Some(primary)) = (
            &c.standby,
            c.standby
                .as_ref()
                .and_then(|sb| cfg.connections.iter().find(|p| p.name == sb.of)),
        ) else {
            continue;
        };
        l.standby_pair(c, primary, sb);
    }
    l.out
        .sort_by(|a, b| b.severity.cmp(&a.severity).then(a.line.cmp(&b.line)));
    l.out
}

struct Lints<'a> {
    cfg: &'a DaemonConfig,
    out: Vec<Finding>,
}

impl Lints<'_> {
    /// A standby protects the same traffic as its primary: the same children (by
    /// name) with the same selectors; and the pair, not the standby's own
    /// start_action, decides when it is up.
    fn standby_pair(
        &mut self,
        standby: &super::Connection,
        primary: &super::Connection,
        sb: &super::Standby,
    ) {
        let base = format!("connections.{}", standby.name);
        for ch in &standby.children {
            let path = format!("{base}.children.{}", ch.name);
            match primary.children.iter().find(|p| p.name == ch.name) {
                None => self.push(
                    Severity::Warning,
                    "extra/standby-selectors",
                    path.clone(),
                    format!(
                        "standby child {} has no child of that name in {}: a failover \
                         moves traffic child by child, by name, so this one never carries \
                         any",
                        ch.name, primary.name
                    ),
                ),
                Some(p) if p.local_ts != ch.local_ts || p.remote_ts != ch.remote_ts => self.push(
                    Severity::Warning,
                    "extra/standby-selectors",
                    path.clone(),
                    format!(
                        "standby child {} protects other traffic than {}'s: local_ts \
                             {:?} remote_ts {:?} here, local_ts {:?} remote_ts {:?} there; \
                             after a failover the difference is not protected",
                        ch.name,
                        primary.name,
                        ts_list(&ch.local_ts),
                        ts_list(&ch.remote_ts),
                        ts_list(&p.local_ts),
                        ts_list(&p.remote_ts)
                    ),
                ),
                Some(_) => {}
            }
            if ch.start_action != StartAction::None {
                self.push(
                    Severity::Warning,
                    "extra/standby-start-action",
                    format!("{path}.start_action"),
                    format!(
                        "a standby's start_action is not used: a {} standby is {} (set \
                         start_action = \"none\")",
                        match sb.mode {
                            super::StandbyMode::Hot => "hot",
                            super::StandbyMode::Cold => "cold",
                        },
                        match sb.mode {
                            super::StandbyMode::Hot => "brought up with its primary",
                            super::StandbyMode::Cold => "brought up when its primary fails",
                        }
                    ),
                );
            }
        }
        for p in &primary.children {
            if !standby.children.iter().any(|c| c.name == p.name) {
                self.push(
                    Severity::Warning,
                    "extra/standby-selectors",
                    format!("{base}.children"),
                    format!(
                        "{}'s child {} has no counterpart in standby {}: its traffic is not \
                         protected after a failover",
                        primary.name, p.name, standby.name
                    ),
                );
            }
        }
    }

    fn push(&mut self, severity: Severity, rule: &'static str, path: String, message: String) {
        let line = self.cfg.line(&path);
        self.out.push(Finding {
            severity,
            path,
            line,
            message,
            rule,
        });
    }

    /// `[daemon] keep_alive` and every connection's own.
    fn keep_alive(&mut self) {
        let mut all = vec![("daemon.keep_alive".to_owned(), self.cfg.daemon.keep_alive)];
        all.extend(self.cfg.connections.iter().filter_map(|c| {
            c.keep_alive
                .map(|k| (format!("connections.{}.keep_alive", c.name), k))
        }));
        for (path, k) in all {
            let KeepAlive::Every(k) = k else {
                continue;
            };
            if k > MAX_KEEP_ALIVE {
                self.push(
                    Severity::Warning,
                    "keep-alive",
                    path,
                    format!(
                        "keep_alive {} is longer than 30s: many NATs drop idle UDP mappings \
                         after 30 to 60 s, and the tunnel then breaks until the next rekey; \
                         use \"auto\" (the default: 20s, lowered when a NAT is seen \
                         to forget us sooner) or 20s (strongSwan's default)",
                        super::duration::format_duration(k)
                    ),
                );
            }
        }
    }

    fn secrets(&mut self) {
        for s in &self.cfg.secrets {
            let path = format!("secrets.{}.secret", s.name);
            let path = if self.cfg.locations.contains_key(&path) {
                path
            } else {
                format!("secrets.{}.secret_file", s.name)
            };
            match s.text_strength {
                Some((len, classes)) if len < MIN_PSK_CHARS || classes < MIN_PSK_CLASSES => {
                    self.push(
                        Severity::Warning,
                        "weak-psk",
                        path,
                        format!(
                            "pre-shared key has {len} characters and {classes} character \
                             class(es); use at least {MIN_PSK_CHARS} characters from at least \
                             {MIN_PSK_CLASSES} classes (lower, upper, digits, symbols), e.g. \
                             `openssl rand -base64 33`, since a PSK can be brute-forced offline \
                             from one captured IKE_AUTH exchange"
                        ),
                    );
                }
                None if s.secret.len() < 16 => self.push(
                    Severity::Warning,
                    "weak-psk",
                    path,
                    format!(
                        "pre-shared key is only {} octets; use at least 16 random octets \
                         (0x + 32 hex digits) or a text key of {MIN_PSK_CHARS}+ characters",
                        s.secret.len()
                    ),
                ),
                _ => {}
            }
        }
    }

    /// A break-glass connection needs no `[secrets]` entry (its PSK comes from the
    /// custodians); a whole PSK that would apply to it defeats the two-person rule.
    fn break_glass(&mut self, ci: usize, base: &str) {
        let c = &self.cfg.connections[ci];
        let me = match (&c.local.id, c.local_addrs.first()) {
            (Identity::Any, Some(a)) => Identity::from(*a),
            (id, _) => id.clone(),
        };
        let other = c.remote.id.clone();
        let whole = self.cfg.secrets.iter().find(|s| {
            !s.ids.is_empty()
                && s.ids.iter().any(|o| o.matches(&me) != IdMatch::None)
                && s.ids.iter().any(|o| o.matches(&other) != IdMatch::None)
        });
        if let Some(s) = whole {
            self.push(
                Severity::Warning,
                "break-glass-psk",
                format!("secrets.{}", s.name),
                format!(
                    "{base} is a break-glass connection, but [secrets.{}] holds a whole PSK \
                     for its identities ({me} and {other}): whoever reads this file can \
                     bring the tunnel's peer up without the two custodians; remove it",
                    s.name
                ),
            );
        }
        if other.is_any() {
            self.push(
                Severity::Warning,
                "break-glass-psk",
                format!("{base}.remote.id"),
                "a break-glass connection with remote id %any: its PSK applies to every \
                 peer identity while it is active; name the peer's id"
                    .to_owned(),
            );
        }
    }

    fn missing_secret(&mut self, ci: usize, base: &str) {
        let c = &self.cfg.connections[ci];
        let me = match (&c.local.id, c.local_addrs.first()) {
            (Identity::Any, Some(a)) => Identity::from(*a),
            (id, _) => id.clone(),
        };
        let other = c.remote.id.clone();
        let ep = EndpointConfig {
            secrets: self
                .cfg
                .secrets
                .iter()
                .map(|s| SharedSecret {
                    ids: s.ids.clone(),
                    secret: s.secret.clone(),
                })
                .collect(),
            ..EndpointConfig::default()
        };
        // With remote id %any the key is chosen at run time by the identity the peer
        // sends: any secret that could apply is enough.
        let found = if other.is_any() {
            self.cfg.secrets.iter().any(|s| {
                s.ids.is_empty()
                    || me.is_any()
                    || s.ids.iter().any(|o| o.matches(&me) != IdMatch::None)
            })
        } else {
            ep.find_psk(&me, &other).is_some()
        };
        if !found {
            let who = if other.is_any() {
                format!("local id {me}")
            } else {
                format!("local id {me} or remote id {other}")
            };
            let suggest = if other.is_any() {
                me.to_string()
            } else {
                other.to_string()
            };
            self.push(
                Severity::Error,
                "missing-secret",
                base.to_owned(),
                format!(
                    "no pre-shared key for {who}: add a [secrets.ike-{}] section with \
                     id = \"{suggest}\" and secret = \"...\"",
                    c.name
                ),
            );
        }
    }

    fn ts_overlap(&mut self, base: &str, local: &[TsSpec], remote: &[TsSpec]) {
        for (i, l) in local.iter().enumerate() {
            for (j, r) in remote.iter().enumerate() {
                if let (TsSpec::Fixed(a), TsSpec::Fixed(b)) = (l, r) {
                    if let Some(x) = a.intersect(b) {
                        self.push(
                            Severity::Error,
                            "ts-overlap",
                            format!("{base}.local_ts[{i}]"),
                            format!(
                                "local_ts {a} overlaps remote_ts[{j}] {b} (common part {x}): \
                                 traffic to those addresses would be routed into the tunnel \
                                 from both sides; the two sides' selectors must be disjoint"
                            ),
                        );
                    }
                }
            }
        }
    }

    fn algorithms(&mut self, path: &str, proposals: &[Proposal]) {
        for p in proposals {
            let unsupported = p.unsupported();
            if !unsupported.is_empty() {
                let names: Vec<String> = unsupported
                    .iter()
                    .map(|t| format!("{t} ({})", t.describe()))
                    .collect();
                self.push(
                    Severity::Error,
                    "unknown-algorithm",
                    path.to_owned(),
                    format!(
                        "proposal {p}: ikev2d does not implement {}; remove it (implemented: \
                         aes128/192/256 (CBC), aes*gcm16/12/8, chacha20poly1305, sha1, sha256, \
                         sha384, sha512, modp2048/3072/4096, ecp256/384/521, curve25519)",
                        names.join(", ")
                    ),
                );
            }
            let weak: Vec<String> = p
                .transforms()
                .iter()
                .filter(|t| {
                    (matches!(t.ty, TransformType::INTEG | TransformType::PRF)
                        && matches!(t.id, 2 | 7))
                        || (t.ty == TransformType::DH && is_small_modp(DhGroup(t.id)))
                })
                .map(|t| format!("{t} ({})", t.describe()))
                .collect();
            if !weak.is_empty() {
                self.push(
                    Severity::Warning,
                    "weak-algorithm",
                    path.to_owned(),
                    format!(
                        "proposal {p} uses {}: SHA-1 and MODP groups below 2048 bits are \
                         deprecated (RFC 8247); prefer sha256 and modp2048 or better \
                         (ecp256, curve25519, modp3072) unless a peer leaves no choice",
                        weak.join(", ")
                    ),
                );
            }
        }
    }

    fn strength(&mut self, child: &str, ike: &[Proposal], esp: &[Proposal]) {
        let (Some(i), Some(e)) = (ike.first(), esp.first()) else {
            return;
        };
        let (Some(ie), Some(ee)) = (i.encr().next(), e.encr().next()) else {
            return;
        };
        if ie.strength_bits() != ee.strength_bits() {
            self.push(
                Severity::Warning,
                "strength-mismatch",
                format!("{child}.esp_proposals"),
                format!(
                    "IKE proposal {i} ({}) and ESP proposal {e} ({}) differ in encryption \
                     strength: a common interop trap, peers often configure both alike",
                    encr_name(ie),
                    encr_name(ee)
                ),
            );
        }
        let ii = integ_strength(ie, i.integ().next());
        let ei = integ_strength(ee, e.integ().next());
        if let (Some((ib, iname)), Some((eb, ename))) = (ii, ei) {
            if ib != eb {
                self.push(
                    Severity::Warning,
                    "strength-mismatch",
                    format!("{child}.esp_proposals"),
                    format!(
                        "IKE proposal {i} ({iname}, {ib}-bit ICV) and ESP proposal {e} \
                         ({ename}, {eb}-bit ICV) differ in integrity strength: a common \
                         interop trap, peers often configure both alike"
                    ),
                );
            }
        }
    }

    fn pfs(&mut self, child: &str, ike: &[Proposal], esp: &[Proposal]) {
        for e in esp {
            for g in e.dh_groups().filter(|g| *g != DhGroup::NONE) {
                if !ike.iter().any(|i| i.dh_groups().any(|x| x == g)) {
                    self.push(
                        Severity::Warning,
                        "extra/pfs-group",
                        format!("{child}.esp_proposals"),
                        format!(
                            "ESP proposal {e} uses PFS group {g}, which no IKE proposal of \
                             the connection has: fine if intended, but a PFS mismatch with \
                             the peer only shows at the first rekey (the CHILD SA created in \
                             IKE_AUTH has no key exchange)"
                        ),
                    );
                }
            }
        }
    }

    fn mtu(&mut self, child: &str, ch: &super::Child, remote_addrs: &[IpAddr]) {
        let d = &self.cfg.daemon;
        let (mtu, mtu_path) = match ch.mtu {
            Some(m) => (m, format!("{child}.mtu")),
            None => (d.mtu, "daemon.mtu".to_owned()),
        };
        let inner_v6 = ch
            .local_ts
            .iter()
            .chain(&ch.remote_ts)
            .any(|t| matches!(t, TsSpec::Fixed(ts) if !ts.is_ipv4()));
        let tcp_ip = if inner_v6 { 60 } else { 40 };
        match d.mss_clamp {
            MssClamp::Fixed(m) if usize::from(m) + tcp_ip > usize::from(mtu) => self.push(
                Severity::Warning,
                "mtu-mss",
                "daemon.mss_clamp".to_owned(),
                format!(
                    "mss_clamp {m} with mtu {mtu}: a full-size TCP segment is {} octets \
                     (MSS + {tcp_ip} octets of {} and TCP headers), more than the TUN MTU, so \
                     it is fragmented or dropped; set mss_clamp to at most {} or \"auto\"",
                    usize::from(m) + tcp_ip,
                    if inner_v6 { "IPv6" } else { "IPv4" },
                    usize::from(mtu).saturating_sub(tcp_ip)
                ),
            ),
            MssClamp::Off if mtu < d.path_mtu => self.push(
                Severity::Warning,
                "mtu-mss",
                "daemon.mss_clamp".to_owned(),
                format!(
                    "mss_clamp = \"off\" with mtu {mtu}: hosts on Ethernet announce an MSS of \
                     {}, so full-size TCP segments ({} octets) exceed the TUN MTU and \
                     rely on path MTU discovery, which ICMP filtering often breaks; use \
                     mss_clamp = \"auto\"",
                    d.path_mtu.saturating_sub(tcp_ip as u16),
                    d.path_mtu
                ),
            ),
            _ => {}
        }
        let Some(e) = ch.esp_proposals.first() else {
            return;
        };
        let Some(encr) = e.encr().next() else { return };
        // An AEAD's tag is its ICV; CBC's ICV is the integrity algorithm's.
        let esp = EspOverhead::new(encr, e.integ().next().map_or(0, IntegAlgorithm::icv_len));
        let outer_v6 = remote_addrs.iter().any(IpAddr::is_ipv6);
        let outer = OuterPath {
            ip: if outer_v6 {
                IpVersion::V6
            } else {
                IpVersion::V4
            },
            encap: Encapsulation::UdpEsp,
        };
        let path_mtu = usize::from(d.path_mtu);
        let wire = outer.outer_len(esp, usize::from(mtu));
        if wire > path_mtu {
            let max_inner = outer.inner_mtu(esp, path_mtu);
            self.push(
                Severity::Warning,
                "mtu-mss",
                mtu_path,
                format!(
                    "mtu {mtu}: a full-size inner packet becomes {wire} octets on the wire \
                     with ESP {e} in UDP over {} ({} octets of overhead), more than the \
                     {path_mtu}-octet path (daemon.path_mtu); the daemon lowers this \
                     child's inner MTU to {max_inner} (docs/tuning.md); set mtu to at \
                     most {max_inner} to say so in the configuration",
                    if outer_v6 { "IPv6" } else { "IPv4" },
                    wire - usize::from(mtu),
                ),
            );
        }
    }
}

fn is_small_modp(g: DhGroup) -> bool {
    // MODP 768, 1024, 1536, and RFC 5114's 1024-bit group.
    matches!(g.0, 1 | 2 | 5 | 22)
}

fn encr_name(e: EncrAlgorithm) -> String {
    match e {
        EncrAlgorithm::ChaCha20Poly1305 => "ChaCha20-Poly1305, 256-bit".to_owned(),
        e => format!("AES-{}", e.strength_bits()),
    }
}

/// Integrity strength as ICV bits, with a name.
fn integ_strength(
    encr: EncrAlgorithm,
    integ: Option<IntegAlgorithm>,
) -> Option<(usize, &'static str)> {
    if encr.is_aead() {
        return Some((encr.icv_len() * 8, "AEAD"));
    }
    let i = integ?;
    let name = match i {
        IntegAlgorithm::HmacSha1_96 => "HMAC-SHA-1-96",
        IntegAlgorithm::HmacSha256_128 => "HMAC-SHA-256-128",
        IntegAlgorithm::HmacSha384_192 => "HMAC-SHA-384-192",
        IntegAlgorithm::HmacSha512_256 => "HMAC-SHA-512-256",
        _ => "HMAC",
    };
    Some((i.icv_len() * 8, name))
}

fn ts_list(ts: &[ikev2::ts::TsSpec]) -> Vec<String> {
    ts.iter().map(ToString::to_string).collect()
}
