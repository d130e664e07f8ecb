//! Break-glass connections (`break_glass = true`): an emergency tunnel whose PSK no
//! single person holds. The configuration keeps only the argon2id hashes (PHC
//! strings) of two halves; two custodians each type one half, the daemon verifies
//! both against the hashes and only then loads the connection with PSK =
//! half 1 || half 2, for `break_glass_ttl`.
//!
//! This module holds what does not touch the control task's state: hashing and
//! verifying halves, generating a fresh secret (`ikev2d break-glass rotate`), the
//! CRITICAL log line and the `[daemon] alert_command` hook. The control task
//! ([`super::supervisor`]) keeps the activations.
//!
//! Never logs, prints (outside `rotate`) or formats a half: they live in
//! [`Zeroizing`] buffers and [`crate::control::proto::HalfSecret`].

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use rand_core::{OsRng, RngCore as _};
use zeroize::Zeroizing;

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
