//! Key Exchange payload (RFC 7296 section 3.4).
//!
//! ```text
//! | Diffie-Hellman Group Num (2) | RESERVED (2) | Key Exchange Data ... |
//! ```
//! The length of the key exchange data is checked against the group by the layer
//! that knows the groups, not here.

use super::codec::{Reader, WriteExt};
use super::enums::DhGroup;
use super::error::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ke<'a> {
    pub group: DhGroup,
    pub data: &'a [u8],
}

impl<'a> Ke<'a> {
    pub fn parse(body: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body, 0, "KE payload");
        let group = DhGroup(r.u16()?);
        let _reserved = r.u16()?;
        Ok(Self {
            group,
            data: r.rest(),
        })
    }

    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.put_u16(self.group.0);
        out.put_u16(0);
        out.put(self.data);
        Ok(())
    }
}
