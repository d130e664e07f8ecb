//! A whole IKE message: header plus payload chain.

use super::enums::PayloadType;
use super::error::{Error, ErrorKind};
use super::header::{HEADER_LEN, Header, HeaderRepr, field};
use super::payload::{Payload, emit_payload_chain, parse_chain_at};
use super::sk::{Sk, Skf};

/// An IKE message. Parsing borrows variable-length data from the datagram; emitting
/// computes every length and next-payload field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    pub header: HeaderRepr,
    pub payloads: Vec<Payload<'a>>,
}

impl<'a> Message<'a> {
    /// Parses a datagram (without the non-ESP marker of port 4500).
    ///
    /// Checks, in this order: the 28-octet header is present; the major version is 2;
    /// the length field equals `datagram.len()`; the payload chain and every payload
    /// body are well-formed. An SK/SKF payload is returned undecrypted: decrypt its
    /// body, then parse the content with
    /// [`parse_payload_chain`](super::parse_payload_chain).
    pub fn parse(datagram: &'a [u8]) -> Result<Self, Error> {
        let view = Header::new_checked(datagram)?;
        let header = HeaderRepr::parse(&view)?;
        let bytes = checked_payload_bytes(&view, datagram)?;
        let payloads = parse_chain_at(view.next_payload(), bytes, HEADER_LEN)?;
        Ok(Self { header, payloads })
    }

    /// Appends the encoded message to `out` (which may already hold, e.g., a non-ESP
    /// marker). Fails, leaving `out` as it was, if a value does not fit its field, an
    /// SK/SKF payload is not last, or a payload violates a rule that parsing enforces.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        let start = out.len();
        let r = self.emit_inner(out, start);
        if r.is_err() {
            out.truncate(start);
        }
        r
    }

    fn emit_inner(&self, out: &mut Vec<u8>, start: usize) -> Result<(), Error> {
        self.header.emit(PayloadType::NO_NEXT_PAYLOAD, 0, out)?;
        let first = emit_payload_chain(&self.payloads, out)?;
        let len = out.len() - start;
        let len32 =
            u32::try_from(len).map_err(|_| Error::new(ErrorKind::TooLarge, start, "IKE header"))?;
        let hdr = self.header.to_bytes(first, len32);
        out.get_mut(start..start + HEADER_LEN)
            .expect("the header was written at `start` above")
            .copy_from_slice(&hdr);
        Ok(())
    }

    /// The encoded message in a new vector.
    pub fn to_vec(&self) -> Result<Vec<u8>, Error> {
        let mut v = Vec::new();
        self.emit(&mut v)?;
        Ok(v)
    }

    /// The SK payload, if the message has one (it is then the last payload).
    pub fn sk(&self) -> Option<&Sk<'a>> {
        match self.payloads.last() {
            Some(Payload::Sk(sk)) => Some(sk),
            _ => None,
        }
    }

    /// The SKF payload, if the message is a fragment.
    pub fn skf(&self) -> Option<&Skf<'a>> {
        match self.payloads.last() {
            Some(Payload::Skf(skf)) => Some(skf),
            _ => None,
        }
    }

    /// The payloads of type `ty`, in order.
    pub fn payloads_of(&self, ty: PayloadType) -> impl Iterator<Item = &Payload<'a>> {
        self.payloads.iter().filter(move |p| p.payload_type() == ty)
    }
}

/// The octets after the header, once the length field has been checked against the
/// datagram (both directions: strongSwan also rejects a mismatch).
pub(crate) fn checked_payload_bytes<'a>(
    header: &Header<'_>,
    datagram: &'a [u8],
) -> Result<&'a [u8], Error> {
    let len = usize::try_from(header.length()).ok();
    if len != Some(datagram.len()) {
        return Err(Error::new(
            ErrorKind::BadLength,
            field::LENGTH.start,
            "IKE header",
        ));
    }
    Ok(datagram.get(HEADER_LEN..).unwrap_or_default())
}
