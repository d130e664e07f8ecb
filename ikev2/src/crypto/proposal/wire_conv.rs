//! Conversions between [`Proposal`] and the SA payload's proposal substructure.

use super::{Proposal, Transform};
use crate::wire::{self, AttributeType, AttributeValue, TransformType};

/// A transform carries an attribute we do not understand (RFC 7296 section 3.3.6: such a
/// transform cannot be selected), so the proposal it is in is left out of negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnsupportedAttribute {
    pub transform_type: TransformType,
    pub transform_id: u16,
    pub attribute: AttributeType,
}

impl core::fmt::Display for UnsupportedAttribute {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "transform {} {} carries unsupported attribute {}",
            self.transform_type, self.transform_id, self.attribute
        )
    }
}

impl std::error::Error for UnsupportedAttribute {}

impl Proposal {
    /// The proposal a peer sent. Only KEY_LENGTH (in TV form, on an encryption
    /// transform) is understood; anything else makes the proposal unusable.
    pub fn from_wire(p: &wire::Proposal<'_>) -> Result<Self, UnsupportedAttribute> {
        let mut transforms = Vec::with_capacity(p.transforms.len());
        for t in &p.transforms {
            let mut key_length = None;
            for a in &t.attributes {
                match (a.ty, &a.value, t.ty) {
                    (AttributeType::KEY_LENGTH, AttributeValue::Tv(bits), TransformType::ENCR)
                        if key_length.is_none() =>
                    {
                        key_length = Some(*bits);
                    }
                    _ => {
                        return Err(UnsupportedAttribute {
                            transform_type: t.ty,
                            transform_id: t.id,
                            attribute: a.ty,
                        });
                    }
                }
            }
            transforms.push(Transform::new(t.ty, t.id, key_length));
        }
        Ok(Proposal::from_transforms(p.num, p.protocol, transforms).with_spi(p.spi.to_vec()))
    }

    /// The proposal substructure to send, borrowing the SPI.
    pub fn to_wire(&self) -> wire::Proposal<'_> {
        wire::Proposal {
            num: self.number,
            protocol: self.protocol,
            spi: &self.spi,
            transforms: self
                .transforms()
                .iter()
                .map(|t| {
                    let mut w = wire::Transform::new(t.ty, t.id);
                    if let Some(bits) = t.key_length {
                        w.attributes.push(wire::Attribute {
                            ty: AttributeType::KEY_LENGTH,
                            value: AttributeValue::Tv(bits),
                        });
                    }
                    w
                })
                .collect(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::wire::ProtocolId;

    #[test]
    fn round_trips_through_the_wire_form() {
        for s in [
            "aes256-sha256-modp2048",
            "aes128gcm16-prfsha256-curve25519",
            "aes128-aes256-sha256-sha1-modp2048-ecp256",
        ] {
            let p = Proposal::parse_ike(s)
                .unwrap()
                .with_spi(vec![1, 2, 3, 4, 5, 6, 7, 8]);
            let w = p.to_wire();
            assert_eq!(Proposal::from_wire(&w).unwrap(), p, "{s}");
            // and through bytes
            let sa = wire::Sa { proposals: vec![w] };
            let mut bytes = Vec::new();
            sa.emit_body(&mut bytes).unwrap();
            let parsed = wire::Sa::parse(&bytes).unwrap();
            assert_eq!(Proposal::from_wire(&parsed.proposals[0]).unwrap(), p, "{s}");
        }
        let esp = Proposal::parse_esp("aes256gcm16-modp2048-esn").unwrap();
        assert_eq!(
            Proposal::from_wire(&esp.to_wire()).unwrap().protocol,
            ProtocolId::ESP
        );
    }

    #[test]
    fn unknown_attributes_make_the_proposal_unusable() {
        let p = Proposal::parse_ike("aes256-sha256-modp2048").unwrap();
        let mut w = p.to_wire();
        w.transforms[1].attributes.push(wire::Attribute {
            ty: AttributeType(99),
            value: AttributeValue::Tv(1),
        });
        let err = Proposal::from_wire(&w).unwrap_err();
        assert_eq!(err.attribute, AttributeType(99));
        // KEY_LENGTH on a DH transform is not understood either.
        let mut w = p.to_wire();
        let dh = w
            .transforms
            .iter_mut()
            .find(|t| t.ty == TransformType::DH)
            .unwrap();
        dh.attributes.push(wire::Attribute {
            ty: AttributeType::KEY_LENGTH,
            value: AttributeValue::Tv(256),
        });
        assert!(Proposal::from_wire(&w).is_err());
    }
}
