//! Authentication payload (RFC 7296 section 3.8).
//!
//! ```text
//! | Auth Method | RESERVED (3) | Authentication Data ... |
//! ```

use super::codec::{Reader, WriteExt};
use super::enums::AuthMethod;
use super::error::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth<'a> {
    pub method: AuthMethod,
    pub data: &'a [u8],
}

impl<'a> Auth<'a> {
    pub fn parse(body: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body, 0, "AUTH payload");
        let method = AuthMethod(r.u8()?);
        let _reserved = r.array::<3>()?;
        Ok(Self {
            method,
            data: r.rest(),
        })
    }

    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.put_u8(self.method.0);
        out.put(&[0; 3]);
        out.put(self.data);
        Ok(())
    }
}
