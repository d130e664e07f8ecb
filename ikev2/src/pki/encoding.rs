//! Credentials from the bytes of a file, PEM or DER, as strongSwan's `pki` and
//! OpenSSL write them: certificate bundles, private keys (PKCS#8, PKCS#1, SEC1),
//! CRLs and raw public keys (SubjectPublicKeyInfo). PEM sections are found by
//! `rustls-pki-types`; the caller reads the file (and checks its permissions).

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, SubjectPublicKeyInfoDer,
};
use x509_cert::der::Encode as _;

use super::cert::{CertError, Certificate};
use crate::crypto::signature::{PrivateKey, PublicKey};

/// Why a credential file cannot be used; never contains key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("no {0} in it (expected PEM or DER)")]
    Empty(&'static str),
    #[error("{0}")]
    Cert(#[from] CertError),
    #[error("not a usable private key: {0}")]
    Key(String),
    #[error(
        "the private key is encrypted; ikev2d reads unencrypted keys only (decrypt it with `openssl pkey -in KEY -out PLAIN`, mode 600)"
    )]
    Encrypted,
    #[error("not a CRL: {0}")]
    Crl(String),
    #[error("not a public key: {0}")]
    PublicKey(String),
}

fn is_pem(bytes: &[u8]) -> bool {
    bytes.windows(11).any(|w| w == b"-----BEGIN ")
}

/// The certificates of a file: every CERTIFICATE section of a PEM file in order, or
/// the one certificate of a DER file.
pub fn certificates(bytes: &[u8]) -> Result<Vec<Certificate>, FileError> {
    if !is_pem(bytes) {
        return Ok(vec![Certificate::from_der(bytes)?]);
    }
    let mut out = Vec::new();
    for c in CertificateDer::pem_slice_iter(bytes) {
        let c = c.map_err(|e| CertError::Malformed(format!("PEM: {e}")))?;
        out.push(Certificate::from_der(c.as_ref())?);
    }
    if out.is_empty() {
        return Err(FileError::Empty("CERTIFICATE section"));
    }
    Ok(out)
}

/// The private key of a file (the first key of a PEM file).
pub fn private_key(bytes: &[u8]) -> Result<PrivateKey, FileError> {
    if !is_pem(bytes) {
        return PrivateKey::from_der(bytes).map_err(|e| FileError::Key(e.to_string()));
    }
    if bytes.windows(9).any(|w| w == b"ENCRYPTED") {
        return Err(FileError::Encrypted);
    }
    let der = PrivateKeyDer::from_pem_slice(bytes).map_err(|e| FileError::Key(e.to_string()))?;
    PrivateKey::from_der(der.secret_der()).map_err(|e| FileError::Key(e.to_string()))
}

/// The CRLs of a file, as DER.
pub fn crls(bytes: &[u8]) -> Result<Vec<Vec<u8>>, FileError> {
    let out: Vec<Vec<u8>> = if is_pem(bytes) {
        CertificateRevocationListDer::pem_slice_iter(bytes)
            .map(|c| c.map(|c| c.as_ref().to_vec()))
            .collect::<Result<_, _>>()
            .map_err(|e| FileError::Crl(e.to_string()))?
    } else {
        vec![bytes.to_vec()]
    };
    if out.is_empty() {
        return Err(FileError::Empty("X509 CRL section"));
    }
    for crl in &out {
        webpki::OwnedCertRevocationList::from_der(crl)
            .map_err(|e| FileError::Crl(format!("{e:?}")))?;
    }
    Ok(out)
}

/// A raw public key (`pubkeys`): a SubjectPublicKeyInfo in PEM (`PUBLIC KEY`) or
/// DER, as `pki --pub` writes it. Returns the SPKI's DER with the parsed key.
pub fn public_key(bytes: &[u8]) -> Result<(Vec<u8>, PublicKey), FileError> {
    let der = if is_pem(bytes) {
        SubjectPublicKeyInfoDer::from_pem_slice(bytes)
            .map_err(|e| FileError::PublicKey(e.to_string()))?
            .as_ref()
            .to_vec()
    } else {
        bytes.to_vec()
    };
    // Re-encode through `spki` so that equal keys compare equal as octets.
    let info =
        <x509_cert::spki::SubjectPublicKeyInfoOwned as x509_cert::der::Decode>::from_der(&der)
            .map_err(|e| FileError::PublicKey(e.to_string()))?;
    let der = info
        .to_der()
        .map_err(|e| FileError::PublicKey(e.to_string()))?;
    let key = PublicKey::from_spki(&der).map_err(|e| FileError::PublicKey(e.to_string()))?;
    Ok((der, key))
}
