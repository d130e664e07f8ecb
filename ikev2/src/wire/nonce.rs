//! Nonce payload (RFC 7296 section 3.9): 16 to 256 octets of random data.

use super::codec::{Reader, WriteExt};
use super::error::{Error, ErrorKind};

/// Shortest nonce allowed (128 bits).
pub const NONCE_MIN: usize = 16;
/// Longest nonce allowed (2048 bits).
pub const NONCE_MAX: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nonce<'a> {
    pub data: &'a [u8],
}

impl<'a> Nonce<'a> {
    pub fn parse(body: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body, 0, "Nonce payload");
        let data = r.rest();
        if !(NONCE_MIN..=NONCE_MAX).contains(&data.len()) {
            return Err(r.err_at(ErrorKind::InvalidValue, 0));
        }
        Ok(Self { data })
    }

    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        if !(NONCE_MIN..=NONCE_MAX).contains(&self.data.len()) {
            return Err(Error::new(
                ErrorKind::InvalidValue,
                out.len(),
                "Nonce payload",
            ));
        }
        out.put(self.data);
        Ok(())
    }
}
