//! Certificate and Certificate Request payloads (RFC 7296 sections 3.6 and 3.7).
//!
//! ```text
//! | Cert Encoding | Certificate Data / Certification Authority ... |
//! ```
//! The data is carried, not validated: X.509 parsing belongs to the authentication
//! layer.

use super::codec::{Reader, WriteExt};
use super::enums::CertEncoding;
use super::error::Error;

/// CERT payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cert<'a> {
    pub encoding: CertEncoding,
    pub data: &'a [u8],
}

/// CERTREQ payload. For X.509 encodings the data is a concatenation of 20-octet SHA-1
/// hashes of trusted CA public keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertReq<'a> {
    pub encoding: CertEncoding,
    pub data: &'a [u8],
}

fn parse_enc<'a>(body: &'a [u8], what: &'static str) -> Result<(CertEncoding, &'a [u8]), Error> {
    let mut r = Reader::new(body, 0, what);
    let encoding = CertEncoding(r.u8()?);
    Ok((encoding, r.rest()))
}

impl<'a> Cert<'a> {
    pub fn parse(body: &'a [u8]) -> Result<Self, Error> {
        let (encoding, data) = parse_enc(body, "CERT payload")?;
        Ok(Self { encoding, data })
    }

    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.put_u8(self.encoding.0);
        out.put(self.data);
        Ok(())
    }
}

impl<'a> CertReq<'a> {
    pub fn parse(body: &'a [u8]) -> Result<Self, Error> {
        let (encoding, data) = parse_enc(body, "CERTREQ payload")?;
        Ok(Self { encoding, data })
    }

    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.put_u8(self.encoding.0);
        out.put(self.data);
        Ok(())
    }

    /// The 20-octet CA key hashes of an X.509 request, or `None` if the data is not a
    /// whole number of hashes.
    pub fn ca_key_hashes(&self) -> Option<impl Iterator<Item = &'a [u8]>> {
        let chunks = self.data.chunks_exact(20);
        chunks.remainder().is_empty().then_some(chunks)
    }
}
