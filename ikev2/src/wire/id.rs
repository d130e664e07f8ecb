//! Identification payloads IDi and IDr (RFC 7296 section 3.5).
//!
//! ```text
//! | ID Type | RESERVED (3) | Identification Data ... |
//! ```
//!
//! The AUTH payload signs the ID payload body exactly as sent ("RestOfInitIDPayload" /
//! "RestOfRespIDPayload", section 2.15), reserved octets included. So unlike other
//! payloads the reserved octets are kept: [`Id::emit_body`] reproduces the received
//! body byte for byte, and [`Id::auth_octets`] returns it.

use core::net::{Ipv4Addr, Ipv6Addr};

use super::codec::{Reader, WriteExt};
use super::enums::IdType;
use super::error::{Error, ErrorKind};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Id<'a> {
    pub id_type: IdType,
    /// Sent as zero; kept as received because AUTH covers them.
    pub reserved: [u8; 3],
    pub data: &'a [u8],
}

/// The identification data interpreted according to its type.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdValue<'a> {
    Ipv4(Ipv4Addr),
    Ipv6(Ipv6Addr),
    /// A fully-qualified domain name, e.g. "vpn.example.com" (no terminator).
    Fqdn(&'a [u8]),
    /// An RFC 822 e-mail address, e.g. "alice@example.com".
    Rfc822(&'a [u8]),
    /// Opaque octets, for vendor-specific identities.
    KeyId(&'a [u8]),
    /// A DER-encoded ASN.1 X.500 Distinguished Name.
    DerAsn1Dn(&'a [u8]),
    /// Any other type, uninterpreted (also IPv4/IPv6 types with a wrong length, which
    /// only a hand-built `Id` can have).
    Other(IdType, &'a [u8]),
}

impl<'a> Id<'a> {
    /// An identity of `id_type` with zero reserved octets.
    pub fn new(id_type: IdType, data: &'a [u8]) -> Self {
        Self {
            id_type,
            reserved: [0; 3],
            data,
        }
    }

    /// Parses the body of an IDi/IDr payload. IPv4 and IPv6 identities must have 4 and
    /// 16 octets of data.
    pub fn parse(body: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body, 0, "ID payload");
        let id_type = IdType(r.u8()?);
        let reserved = r.array::<3>()?;
        let at = r.offset();
        let data = r.rest();
        if !data_len_ok(id_type, data.len()) {
            return Err(r.err_at(ErrorKind::InvalidValue, at));
        }
        Ok(Self {
            id_type,
            reserved,
            data,
        })
    }

    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        if !data_len_ok(self.id_type, self.data.len()) {
            return Err(Error::new(ErrorKind::InvalidValue, out.len(), "ID payload"));
        }
        out.put_u8(self.id_type.0);
        out.put(&self.reserved);
        out.put(self.data);
        Ok(())
    }

    /// The payload body as the AUTH computation needs it: ID type, the three reserved
    /// octets and the data, exactly as on the wire.
    pub fn auth_octets(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(4 + self.data.len());
        v.put_u8(self.id_type.0);
        v.put(&self.reserved);
        v.put(self.data);
        v
    }

    /// The identification data interpreted by type.
    pub fn value(&self) -> IdValue<'a> {
        match self.id_type {
            IdType::IPV4_ADDR => match <[u8; 4]>::try_from(self.data) {
                Ok(a) => IdValue::Ipv4(Ipv4Addr::from(a)),
                Err(_) => IdValue::Other(self.id_type, self.data),
            },
            IdType::IPV6_ADDR => match <[u8; 16]>::try_from(self.data) {
                Ok(a) => IdValue::Ipv6(Ipv6Addr::from(a)),
                Err(_) => IdValue::Other(self.id_type, self.data),
            },
            IdType::FQDN => IdValue::Fqdn(self.data),
            IdType::RFC822_ADDR => IdValue::Rfc822(self.data),
            IdType::KEY_ID => IdValue::KeyId(self.data),
            IdType::DER_ASN1_DN => IdValue::DerAsn1Dn(self.data),
            other => IdValue::Other(other, self.data),
        }
    }
}

fn data_len_ok(id_type: IdType, len: usize) -> bool {
    match id_type {
        IdType::IPV4_ADDR => len == 4,
        IdType::IPV6_ADDR => len == 16,
        _ => true,
    }
}
