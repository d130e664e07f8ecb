//! Notify payload (RFC 7296 section 3.10).
//!
//! ```text
//! | Protocol ID | SPI Size | Notify Message Type (2) |
//! | SPI (SPI Size octets) | Notification Data ...    |
//! ```
//!
//! Checked when parsing: the protocol is NONE, IKE, AH or ESP (as strongSwan), and the
//! data of a few notifies whose size is fixed by the RFCs has that size
//! (INVALID_KE_PAYLOAD: 2, NAT_DETECTION_*: 20 (SHA-1), UNSUPPORTED_CRITICAL_PAYLOAD:
//! 1). Everything else is left to the exchange that consumes the notify.

use super::codec::{Reader, WriteExt, count_u8};
use super::enums::{DhGroup, NotifyType, PayloadType, ProtocolId};
use super::error::{Error, ErrorKind};

/// Length of a NAT_DETECTION_*_IP hash (SHA-1, RFC 7296 section 2.23).
pub const NAT_DETECTION_HASH_LEN: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notify<'a> {
    /// NONE (0) for notifies about the IKE SA or none; ESP/AH with a 4-octet SPI for
    /// notifies about a Child SA.
    pub protocol: ProtocolId,
    pub spi: &'a [u8],
    pub ty: NotifyType,
    pub data: &'a [u8],
}

impl<'a> Notify<'a> {
    /// A notify without protocol and SPI.
    pub fn new(ty: NotifyType, data: &'a [u8]) -> Self {
        Self {
            protocol: ProtocolId::NONE,
            spi: &[],
            ty,
            data,
        }
    }

    /// A notify about the Child SA with `spi` (4 octets for ESP/AH).
    pub fn with_spi(protocol: ProtocolId, spi: &'a [u8], ty: NotifyType, data: &'a [u8]) -> Self {
        Self {
            protocol,
            spi,
            ty,
            data,
        }
    }

    pub fn parse(body: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body, 0, "Notify payload");
        let protocol = ProtocolId(r.u8()?);
        if !protocol_ok(protocol) {
            return Err(r.err_at(ErrorKind::InvalidValue, 0));
        }
        let spi_size = r.u8()?;
        let ty = NotifyType(r.u16()?);
        let spi = r.take(usize::from(spi_size))?;
        let at = r.offset();
        let data = r.rest();
        if !data_len_ok(ty, data.len()) {
            return Err(r.err_at(ErrorKind::InvalidValue, at));
        }
        Ok(Self {
            protocol,
            spi,
            ty,
            data,
        })
    }

    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        let at = out.len();
        let spi_size = count_u8(self.spi.len(), at, "Notify payload")?;
        if !protocol_ok(self.protocol) || !data_len_ok(self.ty, self.data.len()) {
            return Err(Error::new(ErrorKind::InvalidValue, at, "Notify payload"));
        }
        out.put_u8(self.protocol.0);
        out.put_u8(spi_size);
        out.put_u16(self.ty.0);
        out.put(self.spi);
        out.put(self.data);
        Ok(())
    }

    /// The group the responder wants, from INVALID_KE_PAYLOAD (section 1.3).
    pub fn invalid_ke_group(&self) -> Option<DhGroup> {
        if self.ty != NotifyType::INVALID_KE_PAYLOAD {
            return None;
        }
        <[u8; 2]>::try_from(self.data)
            .ok()
            .map(|b| DhGroup(u16::from_be_bytes(b)))
    }

    /// The payload type that was not understood, from UNSUPPORTED_CRITICAL_PAYLOAD.
    pub fn unsupported_critical_payload(&self) -> Option<PayloadType> {
        if self.ty != NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD {
            return None;
        }
        match self.data {
            [t] => Some(PayloadType(*t)),
            _ => None,
        }
    }

    /// The SHA-1 hash of a NAT_DETECTION_SOURCE_IP or NAT_DETECTION_DESTINATION_IP.
    pub fn nat_detection_hash(&self) -> Option<&'a [u8; NAT_DETECTION_HASH_LEN]> {
        match self.ty {
            NotifyType::NAT_DETECTION_SOURCE_IP | NotifyType::NAT_DETECTION_DESTINATION_IP => {
                self.data.try_into().ok()
            }
            _ => None,
        }
    }

    /// The 4-octet SPI of an ESP/AH notify (REKEY_SA, ...).
    pub fn child_spi(&self) -> Option<u32> {
        match self.protocol {
            ProtocolId::ESP | ProtocolId::AH => self.spi.try_into().ok().map(u32::from_be_bytes),
            _ => None,
        }
    }

    /// The hash algorithm identifiers of SIGNATURE_HASH_ALGORITHMS (RFC 7427), or
    /// `None` if this is another notify or the data has an odd length.
    pub fn signature_hash_algorithms(&self) -> Option<impl Iterator<Item = u16> + 'a> {
        if self.ty != NotifyType::SIGNATURE_HASH_ALGORITHMS {
            return None;
        }
        let chunks = self.data.chunks_exact(2);
        chunks
            .remainder()
            .is_empty()
            .then(|| chunks.map(|c| c.iter().fold(0u16, |acc, b| (acc << 8) | u16::from(*b))))
    }
}

fn protocol_ok(p: ProtocolId) -> bool {
    matches!(
        p,
        ProtocolId::NONE | ProtocolId::IKE | ProtocolId::AH | ProtocolId::ESP
    )
}

fn data_len_ok(ty: NotifyType, len: usize) -> bool {
    match ty {
        NotifyType::INVALID_KE_PAYLOAD => len == 2,
        NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD => len == 1,
        NotifyType::NAT_DETECTION_SOURCE_IP | NotifyType::NAT_DETECTION_DESTINATION_IP => {
            len == NAT_DETECTION_HASH_LEN
        }
        _ => true,
    }
}
