//! One X.509 certificate as ikev2 uses it: its DER, and the fields that identify it
//! and say what it may be used for, read once by RustCrypto's `x509-cert`. The trust
//! decision is not made here ([`super::trust`]).

use std::net::IpAddr;

use x509_cert::der::{Decode as _, Encode as _};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, CrlDistributionPoints, KeyUsage, SubjectAltName};

use crate::crypto::signature::{PublicKey, SignatureError};

/// A name a certificate carries in its subjectAltName.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AltName {
    Dns(String),
    Email(String),
    Ip(IpAddr),
    /// A directoryName, as its DER.
    Dn(Vec<u8>),
}

impl core::fmt::Display for AltName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Dns(d) => write!(f, "DNS:{d}"),
            Self::Email(e) => write!(f, "email:{e}"),
            Self::Ip(a) => write!(f, "IP:{a}"),
            Self::Dn(der) => write!(f, "DirName:{}", dn_text(der)),
        }
    }
}

/// Why a certificate cannot be used at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    #[error("not a DER X.509 certificate: {0}")]
    Malformed(String),
    #[error("certificate {subject}: {error}")]
    Key {
        subject: String,
        error: SignatureError,
    },
}

/// A parsed certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    der: Vec<u8>,
    /// The subject DN as DER (compared as octets) and as strongSwan writes it
    /// (`C=CH, O=strongSwan, CN=moon.strongswan.org`).
    pub subject_der: Vec<u8>,
    pub subject: String,
    pub issuer: String,
    pub alt_names: Vec<AltName>,
    /// Seconds since the Unix epoch.
    pub not_before: u64,
    pub not_after: u64,
    pub is_ca: bool,
    /// A keyUsage extension without digitalSignature and nonRepudiation (strongSwan
    /// refuses such an end-entity certificate for IKE).
    pub key_usage_forbids_signing: bool,
    /// It names CRL distribution points (`revocation = ifuri` needs a CRL then).
    pub has_crl_uri: bool,
    /// The subject's public key, as a SubjectPublicKeyInfo.
    pub spki: Vec<u8>,
}

impl Certificate {
    pub fn from_der(der: &[u8]) -> Result<Self, CertError> {
        let bad = |e: x509_cert::der::Error| CertError::Malformed(e.to_string());
        let c = x509_cert::Certificate::from_der(der).map_err(bad)?;
        let tbs = &c.tbs_certificate;
        let subject_der = tbs.subject.to_der().map_err(bad)?;
        let issuer_der = tbs.issuer.to_der().map_err(bad)?;
        let mut alt_names = Vec::new();
        if let Some((_, san)) = tbs.get::<SubjectAltName>().map_err(bad)? {
            for n in san.0 {
                alt_names.push(match n {
                    GeneralName::DnsName(d) => AltName::Dns(d.to_string()),
                    GeneralName::Rfc822Name(e) => AltName::Email(e.to_string()),
                    GeneralName::IpAddress(o) => match o.as_bytes().len() {
                        4 => {
                            let b: [u8; 4] = o.as_bytes().try_into().unwrap_or_default();
                            AltName::Ip(IpAddr::from(b))
                        }
                        16 => {
                            let b: [u8; 16] = o.as_bytes().try_into().unwrap_or_default();
                            AltName::Ip(IpAddr::from(b))
                        }
                        _ => continue,
                    },
                    GeneralName::DirectoryName(n) => AltName::Dn(n.to_der().map_err(bad)?),
                    _ => continue,
                });
            }
        }
        let is_ca = tbs
            .get::<BasicConstraints>()
            .map_err(bad)?
            .is_some_and(|(_, b)| b.ca);
        let key_usage_forbids_signing = tbs
            .get::<KeyUsage>()
            .map_err(bad)?
            .is_some_and(|(_, k)| !k.digital_signature() && !k.non_repudiation());
        let has_crl_uri = tbs
            .get::<CrlDistributionPoints>()
            .map_err(bad)?
            .is_some_and(|(_, p)| !p.0.is_empty());
        let spki = tbs.subject_public_key_info.to_der().map_err(bad)?;
        let secs = |t: &x509_cert::time::Time| t.to_unix_duration().as_secs();
        Ok(Self {
            der: der.to_vec(),
            subject: dn_text(&subject_der),
            issuer: dn_text(&issuer_der),
            subject_der,
            alt_names,
            not_before: secs(&tbs.validity.not_before),
            not_after: secs(&tbs.validity.not_after),
            is_ca,
            key_usage_forbids_signing,
            has_crl_uri,
            spki,
        })
    }

    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The subject's public key, to verify AUTH with.
    pub fn public_key(&self) -> Result<PublicKey, CertError> {
        PublicKey::from_spki(&self.spki).map_err(|error| CertError::Key {
            subject: self.subject.clone(),
            error,
        })
    }

    /// A root: a CA certificate issued by itself (it is never sent; the peer has it
    /// or not).
    pub fn is_self_signed_ca(&self) -> bool {
        self.is_ca && self.subject == self.issuer
    }

    /// The value this CA contributes to a CERTREQ (RFC 7296 section 3.7): the SHA-1
    /// of its SubjectPublicKeyInfo.
    pub fn certreq_hash(&self) -> [u8; 20] {
        use sha1::Digest as _;
        sha1::Sha1::digest(&self.spki).into()
    }
}

/// A DN (DER of a Name) as strongSwan prints it: RDNs in their order in the
/// certificate, `, ` between them (`C=CH, O=strongSwan, CN=moon`); the DER in hex if
/// it does not parse.
pub fn dn_text(der: &[u8]) -> String {
    super::dn::to_text(der)
}
