//! Configuration payload (RFC 7296 section 3.15).
//!
//! ```text
//! Payload:    | CFG Type | RESERVED (3) | Configuration Attributes ...  |
//! Attribute:  |R| Attribute Type (15) | Length (2) | Value ...          |
//! ```
//!
//! The R bit is reserved: ignored on receipt, sent as 0. Value lengths are checked
//! for the address attributes whose sizes RFC 7296 fixes (an empty value asks for an
//! address in a CFG_REQUEST), like strongSwan does; other attributes are carried.

use core::net::{Ipv4Addr, Ipv6Addr};

use super::codec::{Reader, WriteExt, count_u16};
use super::enums::{CfgAttributeType, CfgType};
use super::error::{Error, ErrorKind};

const R_BIT: u16 = 0x8000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cp<'a> {
    pub cfg_type: CfgType,
    pub attributes: Vec<CfgAttribute<'a>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CfgAttribute<'a> {
    /// The 15-bit attribute type.
    pub ty: CfgAttributeType,
    pub value: &'a [u8],
}

impl<'a> CfgAttribute<'a> {
    pub fn new(ty: CfgAttributeType, value: &'a [u8]) -> Self {
        Self { ty, value }
    }

    /// A 4-octet value as an IPv4 address (INTERNAL_IP4_ADDRESS, _DNS, _NETMASK ...).
    pub fn ipv4(&self) -> Option<Ipv4Addr> {
        <[u8; 4]>::try_from(self.value).ok().map(Ipv4Addr::from)
    }

    /// An 8-octet INTERNAL_IP4_SUBNET value: address and netmask.
    pub fn ipv4_subnet(&self) -> Option<(Ipv4Addr, Ipv4Addr)> {
        let b = <[u8; 8]>::try_from(self.value).ok()?;
        let [a0, a1, a2, a3, m0, m1, m2, m3] = b;
        Some((Ipv4Addr::new(a0, a1, a2, a3), Ipv4Addr::new(m0, m1, m2, m3)))
    }

    /// A 16-octet value as an IPv6 address (INTERNAL_IP6_DNS ...).
    pub fn ipv6(&self) -> Option<Ipv6Addr> {
        <[u8; 16]>::try_from(self.value).ok().map(Ipv6Addr::from)
    }

    /// A 17-octet value (INTERNAL_IP6_ADDRESS, INTERNAL_IP6_SUBNET): address and
    /// prefix length.
    pub fn ipv6_prefix(&self) -> Option<(Ipv6Addr, u8)> {
        let (addr, prefix) = self.value.split_first_chunk::<16>()?;
        match prefix {
            [p] => Some((Ipv6Addr::from(*addr), *p)),
            _ => None,
        }
    }

    fn read(r: &mut Reader<'a>) -> Result<Self, Error> {
        let at = r.offset();
        let ty = CfgAttributeType(r.u16()? & !R_BIT);
        let len = usize::from(r.u16()?);
        let value = r.take(len)?;
        if !value_len_ok(ty, len) {
            return Err(r.err_at(ErrorKind::InvalidValue, at));
        }
        Ok(Self { ty, value })
    }

    fn emit(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        let at = out.len();
        if self.ty.0 & R_BIT != 0 || !value_len_ok(self.ty, self.value.len()) {
            return Err(Error::new(
                ErrorKind::InvalidValue,
                at,
                "configuration attribute",
            ));
        }
        let len = count_u16(self.value.len(), at, "configuration attribute")?;
        out.put_u16(self.ty.0);
        out.put_u16(len);
        out.put(self.value);
        Ok(())
    }
}

fn value_len_ok(ty: CfgAttributeType, len: usize) -> bool {
    use CfgAttributeType as T;
    let fixed = match ty {
        T::INTERNAL_IP4_ADDRESS
        | T::INTERNAL_IP4_NETMASK
        | T::INTERNAL_IP4_DNS
        | T::INTERNAL_IP4_NBNS
        | T::INTERNAL_IP4_DHCP
        | T::P_CSCF_IP4_ADDRESS => 4,
        T::INTERNAL_IP4_SUBNET => 8,
        T::INTERNAL_IP6_DNS | T::INTERNAL_IP6_DHCP | T::P_CSCF_IP6_ADDRESS => 16,
        T::INTERNAL_IP6_ADDRESS | T::INTERNAL_IP6_SUBNET => 17,
        T::SUPPORTED_ATTRIBUTES => return len % 2 == 0,
        _ => return true,
    };
    len == 0 || len == fixed
}

impl<'a> Cp<'a> {
    pub fn parse(body: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body, 0, "CP payload");
        let cfg_type = CfgType(r.u8()?);
        let _reserved = r.array::<3>()?;
        let base = r.offset();
        let mut ar = Reader::new(r.rest(), base, "configuration attribute");
        let mut attributes = Vec::new();
        while !ar.is_empty() {
            attributes.push(CfgAttribute::read(&mut ar)?);
        }
        Ok(Self {
            cfg_type,
            attributes,
        })
    }

    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.put_u8(self.cfg_type.0);
        out.put(&[0; 3]);
        for a in &self.attributes {
            a.emit(out)?;
        }
        Ok(())
    }
}
