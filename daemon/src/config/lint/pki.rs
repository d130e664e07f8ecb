//! Lints of public-key authentication, what `ikev2d check` says about certificates:
//! `cert-expiry` (ours or a CA's expired, not yet valid, or expiring within 30
//! days), `cert-chain` (our chain does not verify to a CA of this configuration),
//! `crl-expired` (a CRL past its next update, which `strict`/`ifuri` refuse).

use ikev2::pki::trust::{crl_next_update, utc};
use ikev2::pki::{Certificate, Revocation, TrustError, TrustStore};

use super::super::{AuthMethod, Connection, LoadedCert, Severity};
use super::Lints;

/// How long before expiry `check` warns.
pub const EXPIRY_WARNING_DAYS: u64 = 30;

/// The certificate lints alone (expiry, chains, CRLs), for the daemon's own
/// warnings at start, on SIGHUP and once a day.
pub fn credential_findings(cfg: &super::super::DaemonConfig, now: u64) -> Vec<super::Finding> {
    let mut l = Lints {
        cfg,
        out: Vec::new(),
    };
    for c in &cfg.connections {
        l.certificates(c, &format!("connections.{}", c.name), now);
    }
    l.out
}

impl Lints<'_> {
    pub(super) fn certificates(&mut self, c: &Connection, base: &str, now: u64) {
        for (side, certs) in [
            ("local.certs", &c.local.certs),
            ("remote.cacerts", &c.remote.cacerts),
        ] {
            for l in certs {
                self.validity(&format!("{base}.{side}"), l, now);
            }
        }
        if c.local.auth == AuthMethod::Pubkey {
            self.our_chain(c, base, now);
        }
        if c.remote.auth == AuthMethod::Pubkey {
            for crl in &c.remote.crls {
                let next = crl_next_update(&crl.der);
                if let Some(next) = next.filter(|&n| n < now) {
                    let sev = if c.remote.revocation == Revocation::Relaxed {
                        Severity::Warning
                    } else {
                        Severity::Error
                    };
                    self.push(
                        sev,
                        "crl-expired",
                        format!("{base}.remote.crls"),
                        format!(
                            "CRL {} was due for renewal on {}: with revocation = strict or ifuri \
                             the certificates it covers are refused; replace the file and send SIGHUP",
                            crl.path.display(),
                            utc(next)
                        ),
                    );
                }
            }
        }
    }

    fn validity(&mut self, path: &str, l: &LoadedCert, now: u64) {
        let cert = &l.cert;
        let (sev, what) = if cert.not_after < now {
            (
                Severity::Error,
                format!("expired on {}", utc(cert.not_after)),
            )
        } else if cert.not_before > now {
            (
                Severity::Error,
                format!("is not valid before {}", utc(cert.not_before)),
            )
        } else if cert.not_after - now < EXPIRY_WARNING_DAYS * 86_400 {
            (
                Severity::Warning,
                format!(
                    "expires on {} (in {} days)",
                    utc(cert.not_after),
                    (cert.not_after - now) / 86_400
                ),
            )
        } else {
            return;
        };
        self.push(
            sev,
            "cert-expiry",
            path.to_owned(),
            format!("certificate {} ({}) {what}", cert.subject, l.path.display()),
        );
    }

    /// Our chain against every CA this configuration names (the peer usually has the
    /// same ones), plus a self-signed root among our own certificates.
    fn our_chain(&mut self, c: &Connection, base: &str, now: u64) {
        let Some(ee) = c.local.certs.first() else {
            return;
        };
        let anchors: Vec<Certificate> = self
            .cfg
            .connections
            .iter()
            .flat_map(|c| c.remote.cacerts.iter())
            .chain(c.local.certs.iter().filter(|l| l.cert.is_self_signed_ca()))
            .map(|l| l.cert.clone())
            .collect();
        let path = format!("{base}.local.certs");
        if anchors.is_empty() {
            self.push(
                Severity::Warning,
                "cert-chain",
                path,
                format!(
                    "cannot check our chain: no CA in this configuration (remote.cacerts); the \
                     peer must trust the issuer of {} ({})",
                    ee.cert.subject, ee.cert.issuer
                ),
            );
            return;
        }
        let intermediates: Vec<Certificate> = c
            .local
            .certs
            .iter()
            .skip(1)
            .map(|l| l.cert.clone())
            .collect();
        let store = TrustStore {
            anchors,
            ..TrustStore::default()
        };
        match store.verify(&ee.cert, &intermediates, now, Revocation::Relaxed) {
            Ok(_) => {}
            // Reported by cert-expiry already.
            Err(TrustError::Expired { .. } | TrustError::NotYetValid { .. }) => {}
            Err(e @ TrustError::NoTrustAnchor { .. }) => self.push(
                Severity::Warning,
                "cert-chain",
                path,
                format!(
                    "our certificate does not chain to a CA of this configuration ({e}); \
                     the peer needs that CA, and we send {} intermediate(s)",
                    intermediates.len()
                ),
            ),
            Err(e) => self.push(
                Severity::Error,
                "cert-chain",
                path,
                format!("our certificate chain does not verify: {e}"),
            ),
        }
    }
}
