//! The trust decision on a peer's certificate (strongSwan's `verify_trust_chain` and
//! revocation checks), by rustls-webpki: a path from the end-entity certificate
//! through the intermediates the peer sent to one of the configured CAs, every
//! certificate within its validity at the given time, CA certificates with
//! basicConstraints cA, path length limits, every signature verified (aws-lc-rs),
//! and the revocation policy over CRLs loaded from files. Extended key usage is not
//! checked (strongSwan does not check it for IKE); a keyUsage without
//! digitalSignature and nonRepudiation makes the end-entity certificate unusable, as
//! in strongSwan.
//!
//! Failures name the certificate and the cause in the words an operator needs
//! ("peer certificate CN=gw.b expired on ...", "no trust anchor for issuer CN=...").

use std::time::Duration;

use rustls_pki_types::{CertificateDer, UnixTime};
use webpki::{
    BorrowedCertRevocationList, CertRevocationList, EndEntityCert, ExpirationPolicy,
    ExtendedKeyUsageValidator, KeyPurposeIdIter, RevocationCheckDepth, RevocationOptionsBuilder,
    UnknownStatusPolicy,
};

use super::cert::Certificate;

/// `revocation` as swanctl means it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Revocation {
    /// Every certificate of the chain needs a current CRL from its issuer.
    Strict,
    /// A certificate that names a CRL distribution point needs a CRL from its issuer.
    IfUri,
    /// Only a CRL that lists the certificate fails it.
    #[default]
    Relaxed,
}

/// Why a peer's certificate is not trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    #[error("peer certificate {subject} expired on {}", utc(*not_after))]
    Expired { subject: String, not_after: u64 },
    #[error("peer certificate {subject} is not valid before {}", utc(*not_before))]
    NotYetValid { subject: String, not_before: u64 },
    #[error("no trust anchor for issuer {issuer} (configure its CA in remote cacerts)")]
    NoTrustAnchor { issuer: String },
    #[error("peer certificate {subject} is revoked (CRL of {issuer})")]
    Revoked { subject: String, issuer: String },
    #[error(
        "no current CRL from {issuer} for {subject} (revocation = {policy}): load one or \
         relax the policy"
    )]
    NoCrl {
        subject: String,
        issuer: String,
        policy: &'static str,
    },
    #[error("the CRL of {issuer} expired on {}", utc(*next_update))]
    CrlExpired { issuer: String, next_update: u64 },
    #[error(
        "peer certificate {subject} may not sign: its keyUsage has neither digitalSignature \
         nor nonRepudiation"
    )]
    KeyUsage { subject: String },
    #[error("a signature in the chain of {subject} does not verify ({detail})")]
    BadSignature { subject: String, detail: String },
    #[error("peer certificate {subject} was not accepted: {detail}")]
    Other { subject: String, detail: String },
}

/// An instant as `2026-12-07 21:16:48 UTC`.
pub fn utc(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Any extended key usage, or none (strongSwan checks none for IKE).
struct AnyEku;

impl ExtendedKeyUsageValidator for AnyEku {
    fn validate(&self, _: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        Ok(())
    }
}

/// The configured CAs and CRLs, and the raw public keys trusted without a
/// certificate (`pubkeys`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustStore {
    pub anchors: Vec<Certificate>,
    /// CRLs as DER.
    pub crls: Vec<Vec<u8>>,
    /// SubjectPublicKeyInfos as DER (RFC 7670 raw public keys).
    pub raw_keys: Vec<Vec<u8>>,
}

/// A chain that was accepted: subjects from the end entity to the anchor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub path: Vec<String>,
}

impl TrustStore {
    /// Whether `ee` (with the peer's `intermediates`) chains to one of our anchors
    /// at `now` (seconds since the epoch) under `revocation`.
    pub fn verify(
        &self,
        ee: &Certificate,
        intermediates: &[Certificate],
        now: u64,
        revocation: Revocation,
    ) -> Result<Verified, TrustError> {
        if ee.key_usage_forbids_signing {
            return Err(TrustError::KeyUsage {
                subject: ee.subject.clone(),
            });
        }
        let other = |detail: String| TrustError::Other {
            subject: ee.subject.clone(),
            detail,
        };
        let anchors = self
            .anchors
            .iter()
            .filter_map(|a| {
                webpki::anchor_from_trusted_cert(&CertificateDer::from(a.der()))
                    .ok()
                    .map(|t| t.to_owned())
            })
            .collect::<Vec<_>>();
        let inter: Vec<CertificateDer<'_>> = intermediates
            .iter()
            .map(|c| CertificateDer::from(c.der()))
            .collect();
        let ee_der = CertificateDer::from(ee.der());
        let end = EndEntityCert::try_from(&ee_der).map_err(|e| other(e.to_string()))?;
        let parsed: Vec<CertRevocationList<'_>> = self
            .crls
            .iter()
            .filter_map(|d| BorrowedCertRevocationList::from_der(d).ok())
            .map(CertRevocationList::from)
            .collect();
        let refs: Vec<&CertRevocationList<'_>> = parsed.iter().collect();
        let options = RevocationOptionsBuilder::new(&refs).ok().map(|b| {
            let b = b.with_depth(RevocationCheckDepth::Chain);
            match revocation {
                Revocation::Strict => b
                    .with_status_policy(UnknownStatusPolicy::Deny)
                    .with_expiration_policy(ExpirationPolicy::Enforce),
                Revocation::IfUri | Revocation::Relaxed => b
                    .with_status_policy(UnknownStatusPolicy::Allow)
                    .with_expiration_policy(ExpirationPolicy::Ignore),
            }
            .build()
        });
        if revocation == Revocation::Strict && options.is_none() {
            return Err(TrustError::NoCrl {
                subject: ee.subject.clone(),
                issuer: ee.issuer.clone(),
                policy: "strict",
            });
        }
        let time = UnixTime::since_unix_epoch(Duration::from_secs(now));
        let path = end
            .verify_for_usage(
                webpki::ALL_VERIFICATION_ALGS,
                &anchors,
                &inter,
                time,
                AnyEku,
                options,
                None,
            )
            .map_err(|e| self.explain(e, ee, intermediates, revocation, now))?;
        let mut subjects = vec![ee.subject.clone()];
        let in_path: Vec<Vec<u8>> = path
            .intermediate_certificates()
            .map(|c| c.der().to_vec())
            .collect();
        let on_path = |c: &&Certificate| in_path.iter().any(|d| d.as_slice() == c.der());
        subjects.extend(
            intermediates
                .iter()
                .filter(on_path)
                .map(|c| c.subject.clone()),
        );
        if revocation == Revocation::IfUri {
            // A certificate that names where its CRL is needs one from its issuer.
            for c in std::iter::once(ee).chain(intermediates.iter().filter(on_path)) {
                if c.has_crl_uri && !self.has_crl_from(&c.issuer) {
                    return Err(TrustError::NoCrl {
                        subject: c.subject.clone(),
                        issuer: c.issuer.clone(),
                        policy: "ifuri",
                    });
                }
            }
        }
        let anchor = path.anchor();
        if let Some(a) = self
            .anchors
            .iter()
            .find(|a| a.spki_contents_match(anchor.subject_public_key_info.as_ref()))
        {
            subjects.push(a.subject.clone());
        }
        Ok(Verified { path: subjects })
    }

    fn has_crl_from(&self, issuer: &str) -> bool {
        use x509_cert::der::{Decode as _, Encode as _};
        self.crls.iter().any(|d| {
            x509_cert::crl::CertificateList::from_der(d)
                .ok()
                .and_then(|c| c.tbs_cert_list.issuer.to_der().ok())
                .is_some_and(|der| super::cert::dn_text(&der) == issuer)
        })
    }

    /// webpki's error in the operator's words, naming the certificate concerned.
    fn explain(
        &self,
        e: webpki::Error,
        ee: &Certificate,
        intermediates: &[Certificate],
        revocation: Revocation,
        now: u64,
    ) -> TrustError {
        let chain = || {
            std::iter::once(ee)
                .chain(intermediates)
                .chain(&self.anchors)
        };
        match e {
            webpki::Error::CertExpired { .. } => {
                let c = chain().find(|c| c.not_after < now).unwrap_or(ee);
                TrustError::Expired {
                    subject: c.subject.clone(),
                    not_after: c.not_after,
                }
            }
            webpki::Error::CertNotValidYet { .. } => {
                let c = chain().find(|c| c.not_before > now).unwrap_or(ee);
                TrustError::NotYetValid {
                    subject: c.subject.clone(),
                    not_before: c.not_before,
                }
            }
            webpki::Error::UnknownIssuer => TrustError::NoTrustAnchor {
                issuer: top_issuer(ee, intermediates),
            },
            webpki::Error::CertRevoked => TrustError::Revoked {
                subject: ee.subject.clone(),
                issuer: ee.issuer.clone(),
            },
            webpki::Error::UnknownRevocationStatus => {
                // The first link whose issuer has no CRL here.
                let c = std::iter::once(ee)
                    .chain(intermediates)
                    .find(|c| !self.has_crl_from(&c.issuer))
                    .unwrap_or(ee);
                TrustError::NoCrl {
                    subject: c.subject.clone(),
                    issuer: c.issuer.clone(),
                    policy: match revocation {
                        Revocation::Strict => "strict",
                        Revocation::IfUri => "ifuri",
                        Revocation::Relaxed => "relaxed",
                    },
                }
            }
            webpki::Error::CrlExpired { next_update, .. } => TrustError::CrlExpired {
                issuer: ee.issuer.clone(),
                next_update: next_update.as_secs(),
            },
            webpki::Error::InvalidSignatureForPublicKey
            | webpki::Error::UnsupportedSignatureAlgorithmContext(_)
            | webpki::Error::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => {
                TrustError::BadSignature {
                    subject: ee.subject.clone(),
                    detail: format!("{e:?}"),
                }
            }
            other => TrustError::Other {
                subject: ee.subject.clone(),
                detail: format!("{other:?}"),
            },
        }
    }
}

/// The issuer at the top of what the peer sent: the end entity's, or that of the
/// last intermediate reached by following issuer names.
fn top_issuer(ee: &Certificate, intermediates: &[Certificate]) -> String {
    let mut issuer = ee.issuer.clone();
    for _ in 0..=intermediates.len() {
        match intermediates
            .iter()
            .find(|c| c.subject == issuer && c.issuer != c.subject)
        {
            Some(c) => issuer = c.issuer.clone(),
            None => break,
        }
    }
    issuer
}

impl Certificate {
    /// Whether `spki_contents` (a SubjectPublicKeyInfo without its outer SEQUENCE
    /// header, as webpki keeps anchors) is this certificate's key.
    fn spki_contents_match(&self, spki_contents: &[u8]) -> bool {
        self.spki.ends_with(spki_contents) && self.spki.len() - spki_contents.len() <= 4
    }
}

/// A CRL's nextUpdate in seconds since the epoch (`None`: it has none or does not
/// parse), for `ikev2d check`.
pub fn crl_next_update(der: &[u8]) -> Option<u64> {
    use x509_cert::der::Decode as _;
    let crl = x509_cert::crl::CertificateList::from_der(der).ok()?;
    Some(crl.tbs_cert_list.next_update?.to_unix_duration().as_secs())
}
