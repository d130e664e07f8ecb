//! Our certificates, CAs and CRLs over time: what `ikev2d check` says about their
//! validity (`cert-expiry`, `cert-chain`, `crl-expired`) is logged at start, after
//! SIGHUP and once a day, so that a certificate about to expire is seen in the log
//! before a tunnel fails on it.

use std::time::{Duration, Instant};

use super::Supervisor;
use crate::config::Severity;
use crate::config::lint::credential_findings;

/// How often the findings are logged again while nothing changes.
const EVERY: Duration = Duration::from_secs(24 * 3600);

impl Supervisor {
    pub(super) fn watch_credentials(&mut self, now: Instant) {
        if self
            .credentials_checked
            .is_some_and(|t| now.duration_since(t) < EVERY)
        {
            return;
        }
        self.credentials_checked = Some(now);
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        for f in credential_findings(&self.config, unix) {
            match f.severity {
                Severity::Error => tracing::error!("{}: {} [{}]", f.path, f.message, f.rule),
                Severity::Warning => tracing::warn!("{}: {} [{}]", f.path, f.message, f.rule),
            }
        }
    }
}
