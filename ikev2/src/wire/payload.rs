//! The generic payload header, the bounded payload chain iterator, and the [`Payload`]
//! enum over all typed payloads (RFC 7296 sections 3.2 and 2.5).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Next Payload  |C|  RESERVED   |         Payload Length        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Chain rules enforced here:
//! - at most [`MAX_PAYLOADS`] payloads per chain, each at least 4 octets long, so every
//!   chain terminates;
//! - a payload length must lie within the enclosing data;
//! - when the chain ends (next payload 0) no bytes may follow;
//! - SK and SKF end the chain: their next-payload field names the first *inner*
//!   payload, and nothing may follow them;
//! - a payload type we do not implement is kept as [`Payload::Unknown`] if its critical
//!   bit is clear, and rejects the message with `UnsupportedCritical(type)` if set.
//!
//! The critical bit of payloads we implement is ignored on receipt and sent as 0: it
//! only matters to a receiver that does not understand the payload (section 2.5).

use super::codec::{Reader, WriteExt};
use super::enums::PayloadType;
use super::error::{Error, ErrorKind};
use super::{
    Auth, Cert, CertReq, Cp, Delete, Eap, Id, Ke, Nonce, Notify, Sa, Sk, Skf, Ts, VendorId,
};

/// Maximum number of payloads in one chain (the outer message, or the content of one
/// SK payload). Real messages carry a few dozen at most.
pub const MAX_PAYLOADS: usize = 256;

/// Length of the generic payload header.
pub const PAYLOAD_HEADER_LEN: usize = 4;

const CRITICAL: u8 = 0x80;

/// One payload as found in a chain, before its body is interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawPayload<'a> {
    /// This payload's type (from the previous header's next-payload field).
    pub ty: PayloadType,
    /// The next-payload field of this payload's header. For SK and SKF this is the
    /// type of the first inner payload.
    pub next: PayloadType,
    pub critical: bool,
    /// The payload after the 4-octet generic header.
    pub body: &'a [u8],
    /// Offset of the generic header; the body starts 4 octets later.
    pub offset: usize,
}

/// Iterator over the payloads of a chain. Yields each payload or the first error,
/// then stops. It checks the framing only; [`Payload::from_raw`] interprets bodies.
#[derive(Debug, Clone)]
pub struct PayloadIter<'a> {
    r: Reader<'a>,
    next: PayloadType,
    count: usize,
    done: bool,
}

impl<'a> PayloadIter<'a> {
    /// Iterates the chain in `bytes` whose first payload has type `first`. `base` is
    /// the offset of `bytes` in the message, for error offsets (28 after the IKE
    /// header, 0 for decrypted SK content).
    pub fn new(first: PayloadType, bytes: &'a [u8], base: usize) -> Self {
        Self {
            r: Reader::new(bytes, base, "payload chain"),
            next: first,
            count: 0,
            done: false,
        }
    }

    fn step(&mut self) -> Result<Option<RawPayload<'a>>, Error> {
        if self.next == PayloadType::NO_NEXT_PAYLOAD {
            self.r.finish()?;
            return Ok(None);
        }
        if self.count >= MAX_PAYLOADS {
            return Err(self.r.err(ErrorKind::TooManyPayloads));
        }
        self.count += 1;
        let offset = self.r.offset();
        let next = PayloadType(self.r.u8()?);
        let critical = self.r.u8()? & CRITICAL != 0;
        let len = usize::from(self.r.u16()?);
        let body_len = len
            .checked_sub(PAYLOAD_HEADER_LEN)
            .ok_or_else(|| self.r.err_at(ErrorKind::BadLength, offset))?;
        let body = self.r.sub(body_len, offset, "payload chain")?.rest();
        let ty = self.next;
        if ty == PayloadType::SK || ty == PayloadType::SKF {
            if !self.r.is_empty() {
                return Err(self.r.err(ErrorKind::EncryptedNotLast));
            }
            self.next = PayloadType::NO_NEXT_PAYLOAD;
        } else {
            self.next = next;
        }
        Ok(Some(RawPayload {
            ty,
            next,
            critical,
            body,
            offset,
        }))
    }
}

impl<'a> Iterator for PayloadIter<'a> {
    type Item = Result<RawPayload<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(p)) => Some(Ok(p)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// A typed payload.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload<'a> {
    Sa(Sa<'a>),
    Ke(Ke<'a>),
    IdI(Id<'a>),
    IdR(Id<'a>),
    Cert(Cert<'a>),
    CertReq(CertReq<'a>),
    Auth(Auth<'a>),
    Nonce(Nonce<'a>),
    Notify(Notify<'a>),
    Delete(Delete),
    VendorId(VendorId<'a>),
    TsI(Ts<'a>),
    TsR(Ts<'a>),
    Sk(Sk<'a>),
    Cp(Cp<'a>),
    Eap(Eap<'a>),
    Skf(Skf<'a>),
    /// A payload type we do not implement, skipped (not interpreted) and kept so the
    /// message round-trips. Parsing never yields `critical: true`: such a payload
    /// fails the message with `UnsupportedCritical`.
    Unknown {
        ty: PayloadType,
        critical: bool,
        body: &'a [u8],
    },
}

impl<'a> Payload<'a> {
    /// Whether this layer parses payloads of type `ty` (otherwise they are `Unknown`).
    pub fn is_supported(ty: PayloadType) -> bool {
        matches!(
            ty,
            PayloadType::SA
                | PayloadType::KE
                | PayloadType::IDI
                | PayloadType::IDR
                | PayloadType::CERT
                | PayloadType::CERTREQ
                | PayloadType::AUTH
                | PayloadType::NONCE
                | PayloadType::NOTIFY
                | PayloadType::DELETE
                | PayloadType::VENDOR_ID
                | PayloadType::TSI
                | PayloadType::TSR
                | PayloadType::SK
                | PayloadType::CP
                | PayloadType::EAP
                | PayloadType::SKF
        )
    }

    /// Interprets the body of a raw payload. Error offsets are those of `raw`.
    pub fn from_raw(raw: &RawPayload<'a>) -> Result<Self, Error> {
        let body = raw.body;
        let parsed = match raw.ty {
            PayloadType::SA => Sa::parse(body).map(Payload::Sa),
            PayloadType::KE => Ke::parse(body).map(Payload::Ke),
            PayloadType::IDI => Id::parse(body).map(Payload::IdI),
            PayloadType::IDR => Id::parse(body).map(Payload::IdR),
            PayloadType::CERT => Cert::parse(body).map(Payload::Cert),
            PayloadType::CERTREQ => CertReq::parse(body).map(Payload::CertReq),
            PayloadType::AUTH => Auth::parse(body).map(Payload::Auth),
            PayloadType::NONCE => Nonce::parse(body).map(Payload::Nonce),
            PayloadType::NOTIFY => Notify::parse(body).map(Payload::Notify),
            PayloadType::DELETE => Delete::parse(body).map(Payload::Delete),
            PayloadType::VENDOR_ID => VendorId::parse(body).map(Payload::VendorId),
            PayloadType::TSI => Ts::parse(body).map(Payload::TsI),
            PayloadType::TSR => Ts::parse(body).map(Payload::TsR),
            PayloadType::SK => Ok(Payload::Sk(Sk {
                first_inner: raw.next,
                body,
            })),
            PayloadType::CP => Cp::parse(body).map(Payload::Cp),
            PayloadType::EAP => Eap::parse(body).map(Payload::Eap),
            PayloadType::SKF => Skf::parse(raw.next, body).map(Payload::Skf),
            ty if raw.critical => {
                return Err(Error::new(
                    ErrorKind::UnsupportedCritical(ty),
                    raw.offset,
                    "payload chain",
                ));
            }
            ty => Ok(Payload::Unknown {
                ty,
                critical: false,
                body,
            }),
        };
        // body parsers count from the first octet after the generic header
        parsed.map_err(|e| e.shifted(raw.offset.saturating_add(PAYLOAD_HEADER_LEN)))
    }

    /// The payload type that announces this payload in the chain.
    pub fn payload_type(&self) -> PayloadType {
        match self {
            Payload::Sa(_) => PayloadType::SA,
            Payload::Ke(_) => PayloadType::KE,
            Payload::IdI(_) => PayloadType::IDI,
            Payload::IdR(_) => PayloadType::IDR,
            Payload::Cert(_) => PayloadType::CERT,
            Payload::CertReq(_) => PayloadType::CERTREQ,
            Payload::Auth(_) => PayloadType::AUTH,
            Payload::Nonce(_) => PayloadType::NONCE,
            Payload::Notify(_) => PayloadType::NOTIFY,
            Payload::Delete(_) => PayloadType::DELETE,
            Payload::VendorId(_) => PayloadType::VENDOR_ID,
            Payload::TsI(_) => PayloadType::TSI,
            Payload::TsR(_) => PayloadType::TSR,
            Payload::Sk(_) => PayloadType::SK,
            Payload::Cp(_) => PayloadType::CP,
            Payload::Eap(_) => PayloadType::EAP,
            Payload::Skf(_) => PayloadType::SKF,
            Payload::Unknown { ty, .. } => *ty,
        }
    }

    /// Whether this is an SK or SKF payload, which must end the chain.
    pub fn is_encrypted(&self) -> bool {
        matches!(self, Payload::Sk(_) | Payload::Skf(_))
    }

    /// Appends the payload body (everything after the generic header).
    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        match self {
            Payload::Sa(p) => p.emit_body(out),
            Payload::Ke(p) => p.emit_body(out),
            Payload::IdI(p) | Payload::IdR(p) => p.emit_body(out),
            Payload::Cert(p) => p.emit_body(out),
            Payload::CertReq(p) => p.emit_body(out),
            Payload::Auth(p) => p.emit_body(out),
            Payload::Nonce(p) => p.emit_body(out),
            Payload::Notify(p) => p.emit_body(out),
            Payload::Delete(p) => p.emit_body(out),
            Payload::VendorId(p) => p.emit_body(out),
            Payload::TsI(p) | Payload::TsR(p) => p.emit_body(out),
            Payload::Sk(p) => p.emit_body(out),
            Payload::Cp(p) => p.emit_body(out),
            Payload::Eap(p) => p.emit_body(out),
            Payload::Skf(p) => p.emit_body(out),
            Payload::Unknown { ty, body, .. } => {
                if *ty == PayloadType::NO_NEXT_PAYLOAD || Self::is_supported(*ty) {
                    // Type 0 would end the chain, and a supported type would be
                    // parsed back as a typed payload: neither round-trips.
                    return Err(Error::new(
                        ErrorKind::InvalidValue,
                        out.len(),
                        "payload chain",
                    ));
                }
                out.put(body);
                Ok(())
            }
        }
    }

    /// The value of this payload's own next-payload field when `following` comes next:
    /// SK and SKF name their first inner payload instead.
    fn next_field(&self, following: PayloadType) -> PayloadType {
        match self {
            Payload::Sk(sk) => sk.first_inner,
            Payload::Skf(skf) => skf.first_inner,
            _ => following,
        }
    }

    fn critical_bit(&self) -> u8 {
        match self {
            Payload::Unknown { critical: true, .. } => CRITICAL,
            _ => 0,
        }
    }

    /// Appends generic header and body, with `next` in the next-payload field.
    pub(crate) fn emit_with_next(&self, next: PayloadType, out: &mut Vec<u8>) -> Result<(), Error> {
        let start = out.len();
        out.put_u8(next.0);
        out.put_u8(self.critical_bit());
        out.put_u16(0);
        self.emit_body(out)?;
        out.patch_len16(start + 2, start, "payload chain")
    }
}

/// Parses a whole payload chain whose first payload has type `first` (the decrypted
/// content of an SK payload, with padding already removed). Error offsets count from
/// the start of `bytes`.
pub fn parse_payload_chain(first: PayloadType, bytes: &[u8]) -> Result<Vec<Payload<'_>>, Error> {
    parse_chain_at(first, bytes, 0)
}

pub(crate) fn parse_chain_at(
    first: PayloadType,
    bytes: &[u8],
    base: usize,
) -> Result<Vec<Payload<'_>>, Error> {
    let mut out = Vec::new();
    for raw in PayloadIter::new(first, bytes, base) {
        out.push(Payload::from_raw(&raw?)?);
    }
    Ok(out)
}

/// Appends `payloads` as a chain, computing every length and next-payload field, and
/// returns the type of the first payload (to put in the IKE header or the SK payload;
/// `NO_NEXT_PAYLOAD` for an empty chain). An SK or SKF payload may only come last.
/// On error `out` is left as it was.
pub fn emit_payload_chain(
    payloads: &[Payload<'_>],
    out: &mut Vec<u8>,
) -> Result<PayloadType, Error> {
    let start = out.len();
    let r = emit_chain(payloads, out);
    if r.is_err() {
        out.truncate(start);
    }
    r
}

fn emit_chain(payloads: &[Payload<'_>], out: &mut Vec<u8>) -> Result<PayloadType, Error> {
    if payloads.len() > MAX_PAYLOADS {
        return Err(Error::new(
            ErrorKind::TooManyPayloads,
            out.len(),
            "payload chain",
        ));
    }
    let mut iter = payloads.iter().peekable();
    while let Some(p) = iter.next() {
        let following = match iter.peek() {
            Some(_) if p.is_encrypted() => {
                return Err(Error::new(
                    ErrorKind::EncryptedNotLast,
                    out.len(),
                    "payload chain",
                ));
            }
            Some(n) => n.payload_type(),
            None => PayloadType::NO_NEXT_PAYLOAD,
        };
        p.emit_with_next(p.next_field(following), out)?;
    }
    Ok(payloads
        .first()
        .map_or(PayloadType::NO_NEXT_PAYLOAD, Payload::payload_type))
}
