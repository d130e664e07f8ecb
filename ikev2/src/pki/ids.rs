//! Whether a certificate stands for an IKE identity, as strongSwan's x509
//! `has_subject` decides it: an FQDN needs a dNSName, an e-mail ID an rfc822Name, an
//! IP address an iPAddress in the subjectAltName; a DN must be the subject (or a
//! directoryName). The subject's CN is never compared with an FQDN, and wildcards in
//! certificates match nothing.

use crate::config::Identity;

use super::cert::{AltName, Certificate};

/// An identity the certificate does not carry; `Display` says what it does carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{id} does not match the certificate's {carried}")]
pub struct IdMismatch {
    pub id: String,
    pub carried: String,
}

/// Whether `cert` carries `id`.
pub fn check(cert: &Certificate, id: &Identity) -> Result<(), IdMismatch> {
    let found = match id {
        Identity::Fqdn(name) => cert
            .alt_names
            .iter()
            .any(|n| matches!(n, AltName::Dns(d) if d.eq_ignore_ascii_case(name))),
        Identity::Rfc822(addr) => cert
            .alt_names
            .iter()
            .any(|n| matches!(n, AltName::Email(e) if e.eq_ignore_ascii_case(addr))),
        Identity::Ipv4(a) => cert
            .alt_names
            .iter()
            .any(|n| matches!(n, AltName::Ip(ip) if *ip == std::net::IpAddr::V4(*a))),
        Identity::Ipv6(a) => cert
            .alt_names
            .iter()
            .any(|n| matches!(n, AltName::Ip(ip) if *ip == std::net::IpAddr::V6(*a))),
        // strongSwan compares the DNs for equality here (no wildcards).
        Identity::DerAsn1Dn(der) => {
            let same = |d: &[u8]| super::dn::matches(d, der) == Some(0);
            same(&cert.subject_der)
                || cert
                    .alt_names
                    .iter()
                    .any(|n| matches!(n, AltName::Dn(d) if same(d)))
        }
        Identity::Any | Identity::KeyId(_) | Identity::Other { .. } => false,
    };
    if found {
        return Ok(());
    }
    let carried = match id {
        Identity::DerAsn1Dn(_) => format!("subject ({})", cert.subject),
        _ if cert.alt_names.is_empty() => format!(
            "subjectAltName: it has none (subject {}; a CN is not compared with IDs)",
            cert.subject
        ),
        _ => format!(
            "subjectAltName ({})",
            cert.alt_names
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Err(IdMismatch {
        id: id.to_string(),
        carried,
    })
}
