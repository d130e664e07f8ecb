//! Security Association payload (RFC 7296 section 3.3): proposals, transforms and
//! transform attributes.
//!
//! ```text
//! Proposal:   | 0 (last) or 2 | RESERVED | Proposal Length (2)        |
//!             | Proposal Num  | Protocol ID | SPI Size | # Transforms  |
//!             | SPI (SPI Size octets) | Transforms ...                |
//! Transform:  | 0 (last) or 3 | RESERVED | Transform Length (2)       |
//!             | Transform Type | RESERVED | Transform ID (2)          |
//!             | Transform Attributes ...                              |
//! Attribute:  |A| Attribute Type (15) | AF=1: Value (2)               |
//!                                     | AF=0: Length (2) | Value ...  |
//! ```
//!
//! Checked when parsing (and again when emitting, so emitted SA payloads parse):
//! - at least one proposal; each "last" flag is 0 exactly on the last proposal
//!   (2 otherwise) and on the last transform (3 otherwise);
//! - the transform count matches the transforms that fill the proposal exactly;
//! - proposal numbers start at 1 or more and never decrease (a response carries the
//!   single accepted proposal with its original number; like strongSwan we accept
//!   equal numbers and leave their meaning to the negotiation);
//! - SPI size 0 or 8 for IKE, 4 for ESP and AH; other protocols are carried as is
//!   (the negotiation skips proposals it does not understand);
//! - KEY_LENGTH only in the TV format (section 3.3.5).

use super::codec::{Reader, WriteExt, count_u8, count_u16};
use super::enums::{
    AttributeType, DhGroup, EncrId, EsnId, IntegId, PrfId, ProtocolId, TransformType,
};
use super::error::{Error, ErrorKind};
use super::header::IkeSpi;

const LAST: u8 = 0;
const MORE_PROPOSALS: u8 = 2;
const MORE_TRANSFORMS: u8 = 3;
const AF_TV: u16 = 0x8000;

/// SA payload: a list of proposals (in a response, the one accepted proposal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sa<'a> {
    pub proposals: Vec<Proposal<'a>>,
}

/// A proposal substructure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal<'a> {
    /// Proposal number, from 1.
    pub num: u8,
    pub protocol: ProtocolId,
    /// Empty for an initial IKE proposal, 8 octets for IKE SA rekeying, 4 for ESP/AH.
    pub spi: &'a [u8],
    pub transforms: Vec<Transform<'a>>,
}

/// A transform substructure. The meaning of `id` depends on `ty`; the typed accessors
/// ([`Transform::encr_id`] ...) read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transform<'a> {
    pub ty: TransformType,
    pub id: u16,
    pub attributes: Vec<Attribute<'a>>,
}

/// A transform attribute. The type has 15 bits; the format bit is implied by `value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute<'a> {
    pub ty: AttributeType,
    pub value: AttributeValue<'a>,
}

/// The two attribute formats of section 3.3.5.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeValue<'a> {
    /// Type/Value: a 2-octet value (AF bit set).
    Tv(u16),
    /// Type/Length/Value (AF bit clear).
    Tlv(&'a [u8]),
}

impl<'a> Sa<'a> {
    /// Parses the body of an SA payload.
    pub fn parse(body: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body, 0, "SA payload");
        let mut proposals = Vec::new();
        let mut prev_num = 0u8;
        while !r.is_empty() {
            let start = r.offset();
            let last = r.u8()?;
            let _reserved = r.u8()?;
            let len = usize::from(r.u16()?);
            let body_len = len
                .checked_sub(4)
                .ok_or_else(|| r.err_at(ErrorKind::BadLength, start))?;
            let mut pr = r.sub(body_len, start, "proposal")?;
            let proposal = Proposal::read(&mut pr)?;
            if proposal.num == 0 || proposal.num < prev_num {
                return Err(pr.err_at(ErrorKind::InvalidValue, start + 4));
            }
            prev_num = proposal.num;
            let flag_ok = match last {
                LAST => r.is_empty(),
                MORE_PROPOSALS => !r.is_empty(),
                _ => false,
            };
            if !flag_ok {
                return Err(pr.err_at(ErrorKind::BadSubstructure, start));
            }
            proposals.push(proposal);
        }
        if proposals.is_empty() {
            return Err(r.err(ErrorKind::BadSubstructure));
        }
        Ok(Self { proposals })
    }

    /// Appends the body of the SA payload.
    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        if self.proposals.is_empty() {
            return Err(Error::new(
                ErrorKind::BadSubstructure,
                out.len(),
                "SA payload",
            ));
        }
        let mut prev_num = 0u8;
        let n = self.proposals.len();
        for (i, p) in self.proposals.iter().enumerate() {
            let start = out.len();
            if p.num == 0 || p.num < prev_num {
                return Err(Error::new(ErrorKind::InvalidValue, start, "proposal"));
            }
            prev_num = p.num;
            out.put_u8(if i + 1 == n { LAST } else { MORE_PROPOSALS });
            out.put_u8(0);
            out.put_u16(0);
            p.emit_inner(out, start)?;
            out.patch_len16(start + 2, start, "proposal")?;
        }
        Ok(())
    }
}

impl<'a> Proposal<'a> {
    /// Reads a proposal after its 4-octet substructure header.
    fn read(r: &mut Reader<'a>) -> Result<Self, Error> {
        let num = r.u8()?;
        let protocol = ProtocolId(r.u8()?);
        let spi_size_at = r.offset();
        let spi_size = r.u8()?;
        if !spi_size_ok(protocol, usize::from(spi_size)) {
            return Err(r.err_at(ErrorKind::InvalidValue, spi_size_at));
        }
        let count = r.u8()?;
        let spi = r.take(usize::from(spi_size))?;
        let mut transforms = Vec::with_capacity(usize::from(count));
        for i in 0..count {
            let start = r.offset();
            let last = r.u8()?;
            let _reserved = r.u8()?;
            let len = usize::from(r.u16()?);
            let body_len = len
                .checked_sub(4)
                .filter(|&n| n >= 4)
                .ok_or_else(|| r.err_at(ErrorKind::BadLength, start))?;
            let mut tr = r.sub(body_len, start, "transform")?;
            let expected = if i + 1 == count {
                LAST
            } else {
                MORE_TRANSFORMS
            };
            if last != expected {
                return Err(tr.err_at(ErrorKind::BadSubstructure, start));
            }
            transforms.push(Transform::read(&mut tr)?);
        }
        if !r.is_empty() {
            // more data than the announced transforms
            return Err(r.err(ErrorKind::BadSubstructure));
        }
        Ok(Self {
            num,
            protocol,
            spi,
            transforms,
        })
    }

    fn emit_inner(&self, out: &mut Vec<u8>, start: usize) -> Result<(), Error> {
        let spi_size = count_u8(self.spi.len(), start, "proposal")?;
        if !spi_size_ok(self.protocol, self.spi.len()) {
            return Err(Error::new(ErrorKind::InvalidValue, start, "proposal"));
        }
        let count = count_u8(self.transforms.len(), start, "proposal")?;
        out.put_u8(self.num);
        out.put_u8(self.protocol.0);
        out.put_u8(spi_size);
        out.put_u8(count);
        out.put(self.spi);
        let n = self.transforms.len();
        for (i, t) in self.transforms.iter().enumerate() {
            let tstart = out.len();
            out.put_u8(if i + 1 == n { LAST } else { MORE_TRANSFORMS });
            out.put_u8(0);
            out.put_u16(0);
            t.emit_inner(out)?;
            out.patch_len16(tstart + 2, tstart, "transform")?;
        }
        Ok(())
    }

    /// A proposal with a 4-octet SPI (ESP or AH).
    pub fn child_spi(&self) -> Option<u32> {
        match self.protocol {
            ProtocolId::ESP | ProtocolId::AH => self.spi.try_into().ok().map(u32::from_be_bytes),
            _ => None,
        }
    }

    /// The SPI of an IKE proposal made to rekey an IKE SA.
    pub fn ike_spi(&self) -> Option<IkeSpi> {
        if self.protocol != ProtocolId::IKE {
            return None;
        }
        self.spi.try_into().ok().map(IkeSpi::from_bytes)
    }

    /// The transforms of type `ty`, in order.
    pub fn transforms_of(&self, ty: TransformType) -> impl Iterator<Item = &Transform<'a>> {
        self.transforms.iter().filter(move |t| t.ty == ty)
    }
}

fn spi_size_ok(protocol: ProtocolId, size: usize) -> bool {
    match protocol {
        ProtocolId::IKE => size == 0 || size == 8,
        ProtocolId::ESP | ProtocolId::AH => size == 4,
        _ => true,
    }
}

impl<'a> Transform<'a> {
    /// A transform without attributes.
    pub fn new(ty: TransformType, id: u16) -> Self {
        Self {
            ty,
            id,
            attributes: Vec::new(),
        }
    }

    /// An encryption transform, with a KEY_LENGTH attribute if `key_bits` is given.
    pub fn encr(id: EncrId, key_bits: Option<u16>) -> Self {
        let attributes = key_bits
            .map(|bits| Attribute {
                ty: AttributeType::KEY_LENGTH,
                value: AttributeValue::Tv(bits),
            })
            .into_iter()
            .collect();
        Self {
            ty: TransformType::ENCR,
            id: id.0,
            attributes,
        }
    }

    pub fn prf(id: PrfId) -> Self {
        Self::new(TransformType::PRF, id.0)
    }

    pub fn integ(id: IntegId) -> Self {
        Self::new(TransformType::INTEG, id.0)
    }

    pub fn dh(group: DhGroup) -> Self {
        Self::new(TransformType::DH, group.0)
    }

    pub fn esn(id: EsnId) -> Self {
        Self::new(TransformType::ESN, id.0)
    }

    pub fn encr_id(&self) -> Option<EncrId> {
        (self.ty == TransformType::ENCR).then_some(EncrId(self.id))
    }

    pub fn prf_id(&self) -> Option<PrfId> {
        (self.ty == TransformType::PRF).then_some(PrfId(self.id))
    }

    pub fn integ_id(&self) -> Option<IntegId> {
        (self.ty == TransformType::INTEG).then_some(IntegId(self.id))
    }

    /// The group of a DH transform or of an additional key exchange (RFC 9370).
    pub fn dh_group(&self) -> Option<DhGroup> {
        let is_ke = self.ty == TransformType::DH
            || (TransformType::ADDKE1.0..=TransformType::ADDKE7.0).contains(&self.ty.0);
        is_ke.then_some(DhGroup(self.id))
    }

    pub fn esn_id(&self) -> Option<EsnId> {
        (self.ty == TransformType::ESN).then_some(EsnId(self.id))
    }

    /// The KEY_LENGTH attribute in bits, if present.
    pub fn key_length(&self) -> Option<u16> {
        self.attributes.iter().find_map(|a| match a.value {
            AttributeValue::Tv(v) if a.ty == AttributeType::KEY_LENGTH => Some(v),
            _ => None,
        })
    }

    /// Reads a transform after its 4-octet substructure header.
    fn read(r: &mut Reader<'a>) -> Result<Self, Error> {
        let ty = TransformType(r.u8()?);
        let _reserved = r.u8()?;
        let id = r.u16()?;
        let mut attributes = Vec::new();
        let base = r.offset();
        let mut ar = Reader::new(r.rest(), base, "transform attribute");
        while !ar.is_empty() {
            attributes.push(Attribute::read(&mut ar)?);
        }
        Ok(Self { ty, id, attributes })
    }

    fn emit_inner(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.put_u8(self.ty.0);
        out.put_u8(0);
        out.put_u16(self.id);
        for a in &self.attributes {
            a.emit(out)?;
        }
        Ok(())
    }
}

impl<'a> Attribute<'a> {
    fn read(r: &mut Reader<'a>) -> Result<Self, Error> {
        let start = r.offset();
        let raw = r.u16()?;
        let ty = AttributeType(raw & !AF_TV);
        let value = if raw & AF_TV != 0 {
            AttributeValue::Tv(r.u16()?)
        } else {
            if ty == AttributeType::KEY_LENGTH {
                return Err(r.err_at(ErrorKind::InvalidValue, start));
            }
            let len = usize::from(r.u16()?);
            AttributeValue::Tlv(r.take(len)?)
        };
        Ok(Self { ty, value })
    }

    fn emit(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        let at = out.len();
        if self.ty.0 & AF_TV != 0 {
            return Err(Error::new(
                ErrorKind::InvalidValue,
                at,
                "transform attribute",
            ));
        }
        match self.value {
            AttributeValue::Tv(v) => {
                out.put_u16(self.ty.0 | AF_TV);
                out.put_u16(v);
            }
            AttributeValue::Tlv(data) => {
                if self.ty == AttributeType::KEY_LENGTH {
                    return Err(Error::new(
                        ErrorKind::InvalidValue,
                        at,
                        "transform attribute",
                    ));
                }
                let len = count_u16(data.len(), at, "transform attribute")?;
                out.put_u16(self.ty.0);
                out.put_u16(len);
                out.put(data);
            }
        }
        Ok(())
    }
}
