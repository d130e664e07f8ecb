//! Vendor ID payload (RFC 7296 section 3.12) and EAP payload (section 3.16), both
//! carried as opaque octets.

use super::codec::WriteExt;
use super::error::Error;

/// Vendor ID payload: an opaque identifier (usually a hash of a vendor string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorId<'a> {
    pub data: &'a [u8],
}

impl<'a> VendorId<'a> {
    pub fn parse(body: &'a [u8]) -> Result<Self, Error> {
        Ok(Self { data: body })
    }

    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.put(self.data);
        Ok(())
    }
}

/// EAP payload: one EAP message (RFC 3748), handed to the EAP method unparsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Eap<'a> {
    pub message: &'a [u8],
}

impl<'a> Eap<'a> {
    pub fn parse(body: &'a [u8]) -> Result<Self, Error> {
        Ok(Self { message: body })
    }

    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.put(self.message);
        Ok(())
    }
}
