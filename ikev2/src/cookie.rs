//! Stateless cookies for IKE_SA_INIT (RFC 7296 section 2.6): a responder under load
//! answers a request with a COOKIE notify instead of creating state, and accepts the
//! retried request only if it carries a cookie it made for that initiator.
//!
//! A cookie is `VersionIDofSecret | HMAC-SHA256(<secret>, VersionIDofSecret | SPIi |
//! family | IPi | Ni)`, 4 + 32 = 36 octets. This is the construction RFC 7296
//! section 2.6 suggests, with an HMAC keyed by the secret instead of a plain hash,
//! and with the fixed-size fields first and a family octet (4 or 6) so that no two
//! (address, nonce) pairs of different lengths feed the same bytes to the MAC.
//! IPv4-mapped IPv6 addresses are taken as the IPv4 address.
//!
//! Secrets (32 random octets) rotate every [`ROTATE_INTERVAL`] (60 s) when the
//! caller calls [`CookieGenerator::maybe_rotate`]; the previous secret stays valid
//! until the next rotation, and no secret is kept once it is two intervals old. So a
//! cookie is accepted for one to two intervals when `maybe_rotate` is called on time
//! (at every datagram, or at [`CookieGenerator::next_rotation`]). strongSwan
//! (`receiver.c`) switches its secret every 120 s, keeps the old one, and also puts a
//! timestamp in the cookie to limit its lifetime to 10 s; this module has no clock,
//! so the interval alone bounds the lifetime: choose it with
//! [`CookieGenerator::with_interval`] if 60 to 120 s is too long.
//!
//! This module never decides when cookies are required (half-open SA thresholds are
//! the endpoint's business), never reads a clock and never asks the OS for
//! randomness: `now` and the RNG are passed in.

use core::fmt;
use core::net::IpAddr;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use rand_core::{CryptoRng, RngCore};
use sha2::Sha256;

use crate::crypto::secret::SecretBytes;
use crate::wire::IkeSpi;

/// How long a secret is the current one before [`CookieGenerator::maybe_rotate`]
/// replaces it.
pub const ROTATE_INTERVAL: Duration = Duration::from_secs(60);

/// Length of a secret in octets.
pub const SECRET_LEN: usize = 32;

/// Length of the cookies made here (RFC 7296 allows 1 to 64 octets).
pub const COOKIE_LEN: usize = 4 + 32;

type HmacSha256 = Hmac<Sha256>;

/// Makes and checks cookies with a current and a previous secret.
pub struct CookieGenerator {
    current: Secret,
    previous: Option<Secret>,
    interval: Duration,
}

struct Secret {
    version: u32,
    key: SecretBytes,
    created: Instant,
}

impl Secret {
    fn generate(version: u32, now: Instant, rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let mut key = vec![0u8; SECRET_LEN];
        rng.fill_bytes(&mut key);
        Self {
            version,
            key: SecretBytes::new(key),
            created: now,
        }
    }

    fn mac(&self, ni: &[u8], initiator: IpAddr, spi_i: IkeSpi) -> HmacSha256 {
        let mut mac =
            HmacSha256::new_from_slice(self.key.expose()).expect("HMAC takes keys of any length");
        mac.update(&self.version.to_be_bytes());
        mac.update(&spi_i.to_bytes());
        match initiator.to_canonical() {
            IpAddr::V4(a) => {
                mac.update(&[4]);
                mac.update(&a.octets());
            }
            IpAddr::V6(a) => {
                mac.update(&[6]);
                mac.update(&a.octets());
            }
        }
        mac.update(ni);
        mac
    }
}

impl CookieGenerator {
    /// A generator with a fresh secret, rotating every [`ROTATE_INTERVAL`].
    pub fn new(rng: &mut (impl RngCore + CryptoRng), now: Instant) -> Self {
        Self::with_interval(rng, now, ROTATE_INTERVAL)
    }

    /// A generator with a fresh secret, rotating every `interval`.
    pub fn with_interval(
        rng: &mut (impl RngCore + CryptoRng),
        now: Instant,
        interval: Duration,
    ) -> Self {
        let version = rng.next_u32();
        Self {
            current: Secret::generate(version, now, rng),
            previous: None,
            interval,
        }
    }

    /// Rotates if the current secret is at least one interval old: it becomes the
    /// previous one (still accepted) and a new one is drawn from `rng`. Secrets two
    /// intervals old or more are dropped, even without a rotation, so after a late
    /// call neither an old current nor an old previous secret survives. Call it
    /// whenever time passes, at the latest at [`Self::next_rotation`].
    pub fn maybe_rotate(&mut self, now: Instant, rng: &mut (impl RngCore + CryptoRng)) {
        let expired = |s: &Secret| {
            now.saturating_duration_since(s.created) >= self.interval.saturating_mul(2)
        };
        if self.previous.as_ref().is_some_and(expired) {
            self.previous = None;
        }
        if now.saturating_duration_since(self.current.created) < self.interval {
            return;
        }
        let version = self.current.version.wrapping_add(1);
        let old = core::mem::replace(&mut self.current, Secret::generate(version, now, rng));
        self.previous = (!expired(&old)).then_some(old);
    }

    /// When [`Self::maybe_rotate`] will next rotate.
    pub fn next_rotation(&self) -> Instant {
        self.current.created + self.interval
    }

    /// The cookie for an IKE_SA_INIT request with nonce `ni` and initiator SPI
    /// `spi_i`, received from `initiator` ([`COOKIE_LEN`] octets).
    pub fn cookie(&self, ni: &[u8], initiator: IpAddr, spi_i: IkeSpi) -> Vec<u8> {
        let tag = self
            .current
            .mac(ni, initiator, spi_i)
            .finalize()
            .into_bytes();
        let mut out = Vec::with_capacity(COOKIE_LEN);
        out.extend_from_slice(&self.current.version.to_be_bytes());
        out.extend_from_slice(&tag);
        out
    }

    /// Whether `cookie` was made by [`Self::cookie`] for these values with the
    /// current or the previous secret. The MAC is compared in constant time.
    pub fn verify(&self, cookie: &[u8], ni: &[u8], initiator: IpAddr, spi_i: IkeSpi) -> bool {
        if cookie.len() != COOKIE_LEN {
            return false;
        }
        let (version, tag) = cookie.split_at(4);
        let Ok(version) = <[u8; 4]>::try_from(version).map(u32::from_be_bytes) else {
            return false;
        };
        let secret = if version == self.current.version {
            &self.current
        } else {
            match &self.previous {
                Some(p) if p.version == version => p,
                _ => return false,
            }
        };
        secret.mac(ni, initiator, spi_i).verify_slice(tag).is_ok()
    }
}

/// Shows versions and times, never the secrets.
impl fmt::Debug for CookieGenerator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CookieGenerator")
            .field("current_version", &self.current.version)
            .field(
                "previous_version",
                &self.previous.as_ref().map(|p| p.version),
            )
            .field("current_created", &self.current.created)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}
