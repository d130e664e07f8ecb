//! Connections (with their children, authentication and break-glass settings) and
//! secrets, checked into the model.

use super::*;

impl Cx<'_> {
    pub(super) fn connection(&mut self, name: &Sp<String>, r: &RawConnection) -> Connection {
        let base = format!("connections.{}", name.get_ref());
        self.at(&base, name);
        let p = |k: &str| format!("{base}.{k}");
        let addrs = |s: &str| {
            s.split(',')
                .map(|a| {
                    let a = a.trim();
                    a.parse::<IpAddr>().map_err(|_| {
                        format!(
                            "invalid IP address {a:?} (local_addrs takes addresses only: the sockets are bound to them at start; DNS names and ranges only in remote_addrs)"
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
                    .map(|a| parse_remote(a.trim()))
                    .collect::<Result<Vec<_>, _>>()
            })
            .unwrap_or_default();
        let (mut remote_addrs, mut remote_ranges) = (Vec::new(), Vec::new());
        let mut remote_hosts = Vec::new();
        for entry in remote {
            match entry {
                RemoteEntry::Host(RemoteHost::Addr(ip)) => {
                    remote_addrs.push(ip);
                    remote_hosts.push(RemoteHost::Addr(ip));
                }
                RemoteEntry::Host(name) => remote_hosts.push(name),
                RemoteEntry::Range(ip, len) => remote_ranges.push((ip, len)),
            }
        }
        // The ordered list matters only when a DNS name is among the addresses.
        if !remote_hosts
            .iter()
            .any(|h| matches!(h, RemoteHost::Name(_)))
        {
            remote_hosts.clear();
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
        let dpd_timeout = self.duration(&p("dpd_timeout"), r.dpd_timeout.as_ref());
        let keep_alive = self.keep_alive(&p("keep_alive"), r.keep_alive.as_ref());
        let break_glass = self.break_glass(&base, r);
        let standby = self.standby(&base, r);
        let local = self.auth(&p("local"), r.local.as_ref());
        let remote = self.auth(&p("remote"), r.remote.as_ref());
        let send_cert = self
            .word(
                &p("send_cert"),
                r.send_cert.as_ref(),
                &[
                    ("ifasked", SendCert::IfAsked),
                    ("always", SendCert::Always),
                    ("never", SendCert::Never),
                ],
            )
            .unwrap_or_default();
        let send_certreq = self
            .yes_no(&p("send_certreq"), r.send_certreq.as_ref())
            .unwrap_or(true);
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
            remote_hosts,
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
            dpd_timeout,
            keep_alive,
            local,
            remote,
            send_cert,
            send_certreq,
            credentials: None,
            children,
            break_glass,
            standby,
        }
    }

    /// `failover_of`, `standby`, `preempt`.
    fn standby(&mut self, base: &str, r: &RawConnection) -> Option<Standby> {
        let p = |k: &str| format!("{base}.{k}");
        let mode = self.word(
            &p("standby"),
            r.standby.as_ref(),
            &[("hot", StandbyMode::Hot), ("cold", StandbyMode::Cold)],
        );
        let preempt = self.duration(&p("preempt"), r.preempt.as_ref());
        let Some(of) = &r.failover_of else {
            if let Some(v) = &r.standby {
                self.err(&p("standby"), v, "standby without failover_of: name the connection this one stands by for (failover_of = \"...\")");
            }
            if let Some(v) = &r.preempt {
                self.err(
                    &p("preempt"),
                    v,
                    "preempt without failover_of: it belongs on the standby connection",
                );
            }
            return None;
        };
        self.at(&p("failover_of"), of);
        Some(Standby {
            of: of.get_ref().clone(),
            mode: mode.unwrap_or_default(),
            preempt: preempt.unwrap_or(Duration::ZERO),
        })
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

    pub(super) fn secret(
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
                "only IKE pre-shared keys (ike-<something>) and private key files (private-<something>, also rsa-, ecdsa-, pkcs8-) are supported (swanctl's eap, xauth, ntlm and token secrets are not)",
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
        let bytes = read_owner_only(&path, "secret_file")?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| format!("secret_file {shown} is not UTF-8 text"))?;
        let text = text
            .strip_suffix("\r\n")
            .or_else(|| text.strip_suffix('\n'))
            .unwrap_or(text);
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

/// One entry of `remote_addrs`.
enum RemoteEntry {
    Host(RemoteHost),
    /// A CIDR range (responder only).
    Range(IpAddr, u8),
}

/// An address, a CIDR range or a DNS name.
fn parse_remote(a: &str) -> Result<RemoteEntry, String> {
    if a.contains('/') {
        let (ip, len) = parse_cidr(a)?;
        return Ok(if len == if ip.is_ipv4() { 32 } else { 128 } {
            RemoteEntry::Host(RemoteHost::Addr(ip))
        } else {
            RemoteEntry::Range(ip, len)
        });
    }
    if let Ok(ip) = a.parse::<IpAddr>() {
        return Ok(RemoteEntry::Host(RemoteHost::Addr(ip)));
    }
    if is_dns_name(a) {
        return Ok(RemoteEntry::Host(RemoteHost::Name(a.to_ascii_lowercase())));
    }
    Err(format!(
        "invalid IP address {a:?} (expected an IP address, a CIDR range or a DNS name)"
    ))
}

/// A host name as RFC 1123 and RFC 3696 allow it: labels of letters, digits and
/// hyphens (not at either end), at most 63 octets each and 253 in all, and a last
/// label that is not all digits (so `192.0.2` is a bad address, not a name).
pub(crate) fn is_dns_name(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    let labels: Vec<&str> = s.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    !s.is_empty()
        && s.len() <= 253
        && labels.iter().all(label_ok)
        && labels
            .last()
            .is_some_and(|l| !l.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::is_dns_name;

    #[test]
    fn dns_names() {
        for ok in [
            "gw.example",
            "gw-1.site-b.example.org",
            "localhost",
            "a.b.c.",
        ] {
            assert!(is_dns_name(ok), "{ok}");
        }
        for bad in [
            "",
            "192.0.2",
            "1.2.3.4",
            "-gw.example",
            "gw-.example",
            "gw..example",
            "gw_1.example",
            "gw.example/24",
        ] {
            assert!(!is_dns_name(bad), "{bad}");
        }
        assert!(!is_dns_name(&format!("{}.example", "a".repeat(64))));
    }
}
