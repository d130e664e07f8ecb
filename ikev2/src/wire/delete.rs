//! Delete payload (RFC 7296 section 3.11).
//!
//! ```text
//! | Protocol ID | SPI Size | Num of SPIs (2) | SPIs ... |
//! ```
//!
//! Deleting the IKE SA uses protocol IKE, SPI size 0 and no SPIs (the SA is the one
//! the message belongs to); Child SAs are deleted by their 4-octet inbound SPIs.
//! Other protocols and sizes are rejected (as strongSwan does). The SPI count of an
//! IKE delete is ignored on receipt and sent as 0: with SPI size 0 it describes no
//! octets, and strongSwan accepts any value there too.

use super::codec::{Reader, WriteExt, count_u16};
use super::enums::ProtocolId;
use super::error::{Error, ErrorKind};

/// Delete payload. Owns its SPIs: they are small and fixed-size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delete {
    /// IKE, ESP or AH.
    pub protocol: ProtocolId,
    /// The SPIs of the Child SAs to delete; empty for IKE.
    pub spis: Vec<u32>,
}

impl Delete {
    /// Deletes the IKE SA the message belongs to.
    pub fn ike() -> Self {
        Self {
            protocol: ProtocolId::IKE,
            spis: Vec::new(),
        }
    }

    /// Deletes the ESP SAs with these (our inbound) SPIs.
    pub fn esp(spis: Vec<u32>) -> Self {
        Self {
            protocol: ProtocolId::ESP,
            spis,
        }
    }

    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body, 0, "Delete payload");
        let protocol = ProtocolId(r.u8()?);
        let spi_size = r.u8()?;
        let count_at = r.offset();
        let count = r.u16()?;
        let count = match protocol {
            ProtocolId::IKE if spi_size == 0 => 0,
            ProtocolId::ESP | ProtocolId::AH if spi_size == 4 => count,
            _ => return Err(r.err_at(ErrorKind::InvalidValue, 0)),
        };
        let mut spis = Vec::with_capacity(usize::from(count).min(r.remaining() / 4));
        for _ in 0..count {
            spis.push(r.u32()?);
        }
        if !r.is_empty() {
            return Err(r.err_at(ErrorKind::BadSubstructure, count_at));
        }
        Ok(Self { protocol, spis })
    }

    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        let at = out.len();
        let spi_size = match self.protocol {
            ProtocolId::IKE if self.spis.is_empty() => 0,
            ProtocolId::ESP | ProtocolId::AH => 4,
            _ => return Err(Error::new(ErrorKind::InvalidValue, at, "Delete payload")),
        };
        let count = count_u16(self.spis.len(), at, "Delete payload")?;
        out.put_u8(self.protocol.0);
        out.put_u8(spi_size);
        out.put_u16(count);
        for spi in &self.spis {
            out.put_u32(*spi);
        }
        Ok(())
    }
}
