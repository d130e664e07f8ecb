//! Break-glass connections (`break_glass = true`): an emergency tunnel whose PSK no
//! single person holds. The configuration keeps only the argon2id hashes (PHC
//! strings) of two halves; two custodians each type one half, the daemon verifies
//! both against the hashes and only then loads the connection with PSK =
//! half 1 || half 2, for `break_glass_ttl`.
//!
//! This module holds hashing and verifying halves, generating a fresh secret
//! (`ikev2d break-glass rotate`), the CRITICAL log line and the `[daemon]
//! alert_command` hook, and the control task's ([`super::supervisor`]) break-glass
//! job: requests (halves verified off the task), activations and their expiry or end
//! on SIGHUP, alarms (audit record and alert), status.
//!
//! Never logs, prints (outside `rotate`) or formats a half: they live in
//! [`Zeroizing`] buffers and [`crate::control::proto::HalfSecret`].

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use ikev2::crypto::secret::SecretBytes;
use rand_core::{OsRng, RngCore as _};
use tokio::sync::oneshot;
use zeroize::Zeroizing;

use super::supervisor::Supervisor;
use crate::config::{BreakGlass, DaemonConfig, StartAction};
use crate::control::proto::{BreakGlassStatus, HalfSecret, Response, StatusReport};
use crate::control::server::Caller;

/// Characters of a generated secret: letters and digits without the ones that are
/// easy to misread (0/O, 1/l/I), so custodians can copy them by hand. Every half
/// has at least one lower case letter, one upper case letter and one digit, which
/// passes `ikev2d check`'s weak-psk lint (32+ characters, 3 classes) even alone.
pub const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

/// Length of a generated secret; each custodian gets half.
pub const SECRET_LEN: usize = 64;

/// How long the alert command may run before it is killed.
pub const ALERT_TIMEOUT: Duration = Duration::from_secs(30);

/// A fresh secret from the OS RNG: [`SECRET_LEN`] characters of [`ALPHABET`] (about
/// 370 bits), split into the two custodians' halves.
pub fn generate_halves() -> [Zeroizing<String>; 2] {
    loop {
        let mut s = Zeroizing::new(String::with_capacity(SECRET_LEN));
        let mut byte = [0u8; 1];
        // Rejection sampling keeps every character equally likely.
        let limit = 256 - (256 % ALPHABET.len());
        while s.len() < SECRET_LEN {
            OsRng.fill_bytes(&mut byte);
            if usize::from(byte[0]) < limit {
                s.push(char::from(ALPHABET[usize::from(byte[0]) % ALPHABET.len()]));
            }
        }
        let (a, b) = s.split_at(SECRET_LEN / 2);
        let classes_ok = |h: &str| {
            h.bytes().any(|c| c.is_ascii_lowercase())
                && h.bytes().any(|c| c.is_ascii_uppercase())
                && h.bytes().any(|c| c.is_ascii_digit())
        };
        if classes_ok(a) && classes_ok(b) {
            return [Zeroizing::new(a.to_owned()), Zeroizing::new(b.to_owned())];
        }
    }
}

/// The argon2id hash (PHC string, argon2's default cost) of one half, salted with
/// 16 random octets.
pub fn hash_half(half: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    OsRng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| format!("salt: {e}"))?;
    Argon2::default()
        .hash_password(half.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("argon2: {e}"))
}

/// Whether both halves match their hashes. Both are always checked (argon2's
/// verification compares in constant time), so the time taken does not tell
/// which half was wrong. A hash that does not parse fails.
pub fn verify_halves(hashes: &[String; 2], halves: [&str; 2]) -> bool {
    let one = |hash: &str, half: &str| {
        PasswordHash::new(hash)
            .and_then(|h| Argon2::default().verify_password(half.as_bytes(), &h))
            .is_ok()
    };
    let a = one(&hashes[0], halves[0]);
    let b = one(&hashes[1], halves[1]);
    a & b
}

/// A log line at CRITICAL level: `tracing` has none above ERROR, so these are
/// ERROR lines that start with `CRITICAL:` (journald, log filters and tests match
/// on the prefix).
pub fn critical(message: &str) {
    tracing::error!("CRITICAL: {message}");
}

/// A break-glass event for the audit log and the alert command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alarm {
    /// Both halves verified; the connection is loaded and brought up.
    Activation,
    /// Wrong halves (activation or drill).
    FailedAttempt,
    /// The TTL ran out; the connection was torn down and unloaded.
    Expiry,
    /// Both halves verified without bringing anything up.
    Drill,
}

impl Alarm {
    /// The `event` value of the JSON (`activation`, `failed_attempt`, `expiry`,
    /// `drill`).
    pub fn name(self) -> &'static str {
        match self {
            Alarm::Activation => "activation",
            Alarm::FailedAttempt => "failed_attempt",
            Alarm::Expiry => "expiry",
            Alarm::Drill => "drill",
        }
    }
}

/// Runs `command` (with `/bin/sh -c`) with `event` as one JSON line on its stdin,
/// on a thread of its own: the control task never waits for it. A command that
/// cannot start, exits non-zero or runs longer than [`ALERT_TIMEOUT`] (it is then
/// killed) is logged as an error.
pub fn run_alert(command: &str, event: &serde_json::Value) {
    let command = command.to_owned();
    let mut line = event.to_string();
    line.push('\n');
    let spawned = std::thread::Builder::new()
        .name("alert".to_owned())
        .spawn(move || {
            let child = Command::new("/bin/sh")
                .arg("-c")
                .arg(&command)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            let mut child = match child {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!("alert_command {command:?} could not be started: {e}");
                    return;
                }
            };
            if let Some(mut stdin) = child.stdin.take() {
                // A command that does not read its input is not an error.
                let _ = stdin.write_all(line.as_bytes());
            }
            let end = Instant::now() + ALERT_TIMEOUT;
            loop {
                match child.try_wait() {
                    Ok(Some(status)) if status.success() => return,
                    Ok(Some(status)) => {
                        tracing::error!("alert_command {command:?} failed: {status}");
                        return;
                    }
                    Ok(None) if Instant::now() >= end => {
                        let _ = child.kill();
                        let _ = child.wait();
                        tracing::error!(
                            "alert_command {command:?} ran longer than {} s and was killed",
                            ALERT_TIMEOUT.as_secs()
                        );
                        return;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                    Err(e) => {
                        tracing::error!("alert_command {command:?}: {e}");
                        return;
                    }
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!("alert_command: cannot start a thread for it: {e}");
    }
}

/// A break-glass connection loaded after both custodians' halves verified.
#[derive(Debug)]
pub struct Activation {
    psk: SecretBytes,
    until: Instant,
    /// The settings it was activated with: a SIGHUP that changes them ends it.
    settings: BreakGlass,
    conn: ikev2::config::ConnectionConfig,
}

/// The outcome of verifying halves off the control task.
#[derive(Debug)]
pub struct Verified {
    conn: String,
    drill: bool,
    /// The PSK (half 1 || half 2) when both halves matched.
    psk: Option<SecretBytes>,
    caller: Caller,
    reply: oneshot::Sender<Response>,
}

impl Supervisor {
    /// Raises a break-glass alarm: the CRITICAL log line is the caller's; this adds
    /// the audit record and runs `[daemon] alert_command`.
    fn alarm(&self, alarm: Alarm, conn: &str, caller: Option<&Caller>, detail: &str) {
        let (uid, pid) = match caller {
            Some(c) => (c.uid, c.pid),
            None => (
                nix::unistd::getuid().as_raw(),
                i32::try_from(std::process::id()).ok(),
            ),
        };
        let action = format!("break-glass-{}", alarm.name().replace('_', "-"));
        self.audit.note(uid, pid, &action, conn, detail);
        if let Some(cmd) = &self.config.daemon.alert_command {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            let ttl = self
                .config
                .connections
                .iter()
                .find(|c| c.name == conn)
                .and_then(|c| c.break_glass.as_ref())
                .map(|b| b.ttl.as_secs());
            let event = serde_json::json!({
                "event": alarm.name(),
                "conn": conn,
                "time": now,
                "uid": uid,
                "pid": pid,
                "ttl_secs": ttl,
                "detail": detail,
            });
            run_alert(cmd, &event);
        }
    }

    /// `ikev2d break-glass [drill] CONN`: checks the request and verifies the halves
    /// on a blocking thread (argon2 takes tens of milliseconds by design); the answer
    /// comes from [`Self::halves_verified`].
    pub(super) fn break_glass_request(
        &mut self,
        conn: String,
        halves: [HalfSecret; 2],
        drill: bool,
        caller: Caller,
        reply: oneshot::Sender<Response>,
    ) {
        let Some(settings) = self
            .config
            .connections
            .iter()
            .find(|c| c.name == conn)
            .map(|c| c.break_glass.clone())
        else {
            let _ = reply.send(Response::Error {
                message: format!("no connection named {conn:?}"),
            });
            return;
        };
        let Some(settings) = settings else {
            let _ = reply.send(Response::Error {
                message: format!("{conn} is not a break-glass connection (break_glass = true)"),
            });
            return;
        };
        if !drill && let Some(a) = self.break_glass.get(&conn) {
            let left = a.until.saturating_duration_since(Instant::now()).as_secs();
            let _ = reply.send(Response::Error {
                message: format!("{conn}: break-glass is already active ({left} s left)"),
            });
            return;
        }
        let tx = self.verified_tx.clone();
        tokio::task::spawn_blocking(move || {
            let ok = verify_halves(&settings.hashes, [halves[0].expose(), halves[1].expose()]);
            let psk = ok.then(|| {
                let mut v = Vec::with_capacity(halves[0].expose().len() + halves[1].expose().len());
                v.extend_from_slice(halves[0].expose().as_bytes());
                v.extend_from_slice(halves[1].expose().as_bytes());
                SecretBytes::new(v)
            });
            let _ = tx.send(Verified {
                conn,
                drill,
                psk,
                caller,
                reply,
            });
        });
    }

    pub(super) async fn halves_verified(&mut self, v: Verified) {
        let Verified {
            conn,
            drill,
            psk,
            caller,
            reply,
        } = v;
        let what = if drill { "drill" } else { "activation" };
        let Some(psk) = psk else {
            critical(&format!(
                "break-glass {conn}: FAILED {what} attempt by {caller}: the halves do not \
                 match the configured hashes; nothing changed"
            ));
            self.alarm(
                Alarm::FailedAttempt,
                &conn,
                Some(&caller),
                &format!("wrong halves ({what})"),
            );
            let _ = reply.send(Response::Error {
                message: format!(
                    "{conn}: the halves do not match the configured hashes; nothing changed \
                     (the failed attempt is logged and alerted)"
                ),
            });
            return;
        };
        let Some(cfg) = self
            .config
            .connections
            .iter()
            .find(|c| c.name == conn)
            .cloned()
        else {
            let _ = reply.send(Response::Error {
                message: format!("{conn} was removed from the configuration meanwhile"),
            });
            return;
        };
        let Some(settings) = cfg.break_glass.clone() else {
            let _ = reply.send(Response::Error {
                message: format!("{conn} is no longer a break-glass connection"),
            });
            return;
        };
        if drill {
            critical(&format!(
                "break-glass {conn}: drill by {caller}: both halves verified; the connection \
                 stays unloaded"
            ));
            self.alarm(Alarm::Drill, &conn, Some(&caller), "both halves verified");
            let _ = reply.send(Response::Ok {
                message: format!("{conn}: drill passed: both halves match; nothing was brought up"),
            });
            return;
        }
        if self.break_glass.contains_key(&conn) {
            let _ = reply.send(Response::Error {
                message: format!("{conn}: break-glass is already active"),
            });
            return;
        }
        let now = Instant::now();
        let ttl = settings.ttl;
        self.break_glass.insert(
            conn.clone(),
            Activation {
                psk,
                until: now + ttl,
                settings,
                conn: cfg.to_ikev2(),
            },
        );
        self.apply_endpoint_config(now).await;
        let ttl_text = crate::config::duration::format_duration(ttl);
        critical(&format!(
            "break-glass {conn}: ACTIVATED by {caller} for {ttl_text}"
        ));
        self.alarm(
            Alarm::Activation,
            &conn,
            Some(&caller),
            &format!("activated for {ttl_text}"),
        );
        let has = |a: StartAction| cfg.children.iter().any(|c| c.start_action == a);
        let how = if has(StartAction::Start) || has(StartAction::Trap) {
            self.start_action(&cfg, " (break-glass)").await;
            "started per its start_action"
        } else if !cfg.remote_addrs.is_empty() {
            match self.initiate(&conn) {
                Ok(id) => {
                    tracing::info!("{conn}: initiating IKE SA {id} (break-glass)");
                    "initiating"
                }
                Err(e) => {
                    tracing::error!("{conn}: cannot initiate: {e}");
                    "loaded, but it could not be initiated (see the log); it answers the peer"
                }
            }
        } else {
            "loaded as responder: waiting for the peer"
        };
        let _ = reply.send(Response::Ok {
            message: format!("{conn}: break-glass activated for {ttl_text}, {how}"),
        });
    }

    /// Ends the activations whose time is up: their connections are unloaded (which
    /// deletes their IKE SAs) and their peers drain.
    pub(super) async fn expire_activations(&mut self, now: Instant) {
        let expired: Vec<String> = self
            .break_glass
            .iter()
            .filter(|(_, a)| a.until <= now)
            .map(|(n, _)| n.clone())
            .collect();
        if !expired.is_empty() {
            for name in &expired {
                self.break_glass.remove(name);
                self.drain_peers_of(name);
            }
            // Unloading a connection deletes its IKE SAs (DELETE sent).
            self.apply_endpoint_config(now).await;
            for name in &expired {
                critical(&format!(
                    "break-glass {name}: TTL expired: IKE SAs deleted, connection unloaded"
                ));
                self.alarm(
                    Alarm::Expiry,
                    name,
                    None,
                    "TTL expired; torn down and unloaded",
                );
            }
        }
    }

    /// SIGHUP with `new` about to replace the configuration: an activation survives
    /// only if its connection is unchanged; the others end (the connection is then
    /// unloaded with the other removed or changed ones).
    pub(super) fn end_changed_activations(&mut self, new: &DaemonConfig) {
        let ended: Vec<String> = self
            .break_glass
            .iter()
            .filter(|(name, a)| {
                !new.connections.iter().any(|c| {
                    c.name == **name
                        && c.break_glass.as_ref() == Some(&a.settings)
                        && c.to_ikev2() == a.conn
                })
            })
            .map(|(name, _)| name.clone())
            .collect();
        for name in &ended {
            // Its peers pass the filter for a while like those of every removed or
            // changed connection (below, after the endpoint took the new config).
            self.break_glass.remove(name);
            critical(&format!(
                "break-glass {name}: activation ended by SIGHUP (its configuration changed \
                 or was removed); the connection is unloaded"
            ));
            self.audit_daemon("break-glass-end", name, "configuration changed on SIGHUP");
        }
    }

    /// The PSKs of the active break-glass connections, to load them.
    pub(super) fn break_glass_psks(&self) -> BTreeMap<String, SecretBytes> {
        self.break_glass
            .iter()
            .map(|(n, a)| (n.clone(), a.psk.clone()))
            .collect()
    }

    /// Adds each break-glass connection's activation state to a status report.
    pub(super) fn decorate_break_glass(&self, report: &mut StatusReport, now: Instant) {
        for c in &mut report.connections {
            let Some(bg) = self
                .config
                .connections
                .iter()
                .find(|x| x.name == c.name)
                .and_then(|x| x.break_glass.as_ref())
            else {
                continue;
            };
            let active = self.break_glass.get(&c.name);
            c.break_glass = Some(BreakGlassStatus {
                active: active.is_some(),
                remaining_secs: active.map(|a| a.until.saturating_duration_since(now).as_secs()),
                ttl_secs: bg.ttl.as_secs(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_halves_are_long_mixed_and_differ() {
        let [a, b] = generate_halves();
        assert_eq!(a.len(), SECRET_LEN / 2);
        assert_eq!(b.len(), SECRET_LEN / 2);
        assert!(a.bytes().all(|c| ALPHABET.contains(&c)));
        assert_ne!(*a, *b);
        let [c, _] = generate_halves();
        assert_ne!(*a, *c);
    }

    #[test]
    fn halves_verify_only_in_their_places() {
        let h1 = hash_half("first-half").expect("hash");
        let h2 = hash_half("second-half").expect("hash");
        assert!(h1.starts_with("$argon2id$"), "{h1}");
        assert!(crate::config::check_argon2id_phc(&h1).is_ok());
        let hashes = [h1, h2];
        assert!(verify_halves(&hashes, ["first-half", "second-half"]));
        assert!(!verify_halves(&hashes, ["second-half", "first-half"]));
        assert!(!verify_halves(&hashes, ["first-half", "wrong"]));
        assert!(!verify_halves(&hashes, ["", ""]));
        let bad = ["not a hash".to_owned(), "$argon2id$".to_owned()];
        assert!(!verify_halves(&bad, ["first-half", "second-half"]));
    }
}
