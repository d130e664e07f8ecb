//! Encrypted and Authenticated payload SK (RFC 7296 section 3.14) and Encrypted
//! Fragment payload SKF (RFC 7383 section 2.5).
//!
//! ```text
//! SK:   | Next Payload (first inner) |C| RESERVED | Payload Length |
//!       | IV | Encrypted IKE payloads, Padding, Pad Length | ICV    |
//! SKF:  | Next Payload (first inner, fragment 1 only) |C| RSV | Payload Length |
//!       | Fragment Number (2) | Total Fragments (2) |
//!       | IV | Encrypted content | ICV                                |
//! ```
//!
//! This layer cannot split IV, ciphertext and ICV (their sizes depend on the
//! negotiated algorithms), so both payloads carry the body as one slice. It does give
//! the byte ranges the crypto layer needs:
//!
//! - [`locate_encrypted`] finds the SK/SKF payload of a received datagram: the
//!   associated data of AEAD ciphers (RFC 5282 section 5.1: from the first octet of
//!   the IKE header to the last octet of the SK header, or of the Total Fragments
//!   field for SKF; RFC 7383 section 2.5.3) and the body. The ranges index the
//!   datagram itself, so the received octets are authenticated, not a re-encoding.
//! - [`emit_encrypted_header`] writes the IKE header and the SK/SKF header of a
//!   message whose encrypted body will have a given length, so the associated data
//!   is final before encryption starts.

use core::ops::Range;

use super::codec::{Reader, WriteExt, count_u16};
use super::enums::PayloadType;
use super::error::{Error, ErrorKind};
use super::header::{HEADER_LEN, Header, HeaderRepr};
use super::payload::{PAYLOAD_HEADER_LEN, PayloadIter};

/// Octets of the SKF payload between the generic header and the IV.
pub const SKF_FRAGMENT_FIELDS_LEN: usize = 4;

/// SK payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sk<'a> {
    /// Type of the first payload inside (the SK next-payload field).
    pub first_inner: PayloadType,
    /// IV, ciphertext (with padding and pad length) and ICV.
    pub body: &'a [u8],
}

impl<'a> Sk<'a> {
    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.put(self.body);
        Ok(())
    }
}

/// SKF payload: one fragment of an SK payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skf<'a> {
    /// Type of the first inner payload in fragment 1; `NO_NEXT_PAYLOAD` in the others.
    pub first_inner: PayloadType,
    /// From 1.
    pub fragment_number: u16,
    /// At least `fragment_number`.
    pub total_fragments: u16,
    /// IV, encrypted fragment content and ICV.
    pub body: &'a [u8],
}

impl<'a> Skf<'a> {
    /// Parses the body of an SKF payload whose next-payload field held `next`.
    ///
    /// Fragment number and total must be non-zero with number <= total (RFC 7383
    /// section 2.5). A non-zero next payload in a fragment other than the first is
    /// ignored (read as `NO_NEXT_PAYLOAD`), as strongSwan does: the sender "MUST set
    /// it to zero", but it carries no meaning there.
    pub fn parse(next: PayloadType, body: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body, 0, "SKF payload");
        let fragment_number = r.u16()?;
        let total_fragments = r.u16()?;
        if fragment_number == 0 || fragment_number > total_fragments {
            return Err(r.err_at(ErrorKind::InvalidValue, 0));
        }
        let first_inner = if fragment_number == 1 {
            next
        } else {
            PayloadType::NO_NEXT_PAYLOAD
        };
        Ok(Self {
            first_inner,
            fragment_number,
            total_fragments,
            body: r.rest(),
        })
    }

    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        check_fragment(
            self.first_inner,
            self.fragment_number,
            self.total_fragments,
            out.len(),
        )?;
        out.put_u16(self.fragment_number);
        out.put_u16(self.total_fragments);
        out.put(self.body);
        Ok(())
    }
}

fn check_fragment(
    first_inner: PayloadType,
    number: u16,
    total: u16,
    at: usize,
) -> Result<(), Error> {
    let ok = number != 0
        && number <= total
        && (number == 1 || first_inner == PayloadType::NO_NEXT_PAYLOAD);
    if ok {
        Ok(())
    } else {
        Err(Error::new(ErrorKind::InvalidValue, at, "SKF payload"))
    }
}

/// Where the encrypted payload sits in a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedLocation {
    /// SK or SKF.
    pub ty: PayloadType,
    /// The next-payload field of the SK/SKF header.
    pub first_inner: PayloadType,
    /// Associated data for AEAD ciphers: IKE header through the end of the SK header
    /// (SKF: through Total Fragments). For integrity algorithms the ICV covers
    /// `aad.start..body.end - icv_len`.
    pub aad: Range<usize>,
    /// IV, ciphertext and ICV.
    pub body: Range<usize>,
}

/// The SK/SKF fields of a message to be encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncryptedHeader {
    Sk {
        first_inner: PayloadType,
    },
    Skf {
        first_inner: PayloadType,
        fragment_number: u16,
        total_fragments: u16,
    },
}

/// Finds the SK or SKF payload of a received message, checking the IKE header and
/// the framing of the outer chain (not the bodies of other payloads: use
/// [`Message::parse`](super::Message::parse) for that). `None` if the message has
/// neither.
pub fn locate_encrypted(message: &[u8]) -> Result<Option<EncryptedLocation>, Error> {
    let header = Header::new_checked(message)?;
    HeaderRepr::parse(&header)?;
    let payloads = super::message::checked_payload_bytes(&header, message)?;
    for raw in PayloadIter::new(header.next_payload(), payloads, HEADER_LEN) {
        let raw = raw?;
        let fields = match raw.ty {
            PayloadType::SK => 0,
            PayloadType::SKF => SKF_FRAGMENT_FIELDS_LEN,
            _ => continue,
        };
        if raw.body.len() < fields {
            return Err(Error::new(ErrorKind::Truncated, raw.offset, "SKF payload"));
        }
        let body_start = raw.offset + PAYLOAD_HEADER_LEN + fields;
        let body_end = raw.offset + PAYLOAD_HEADER_LEN + raw.body.len();
        return Ok(Some(EncryptedLocation {
            ty: raw.ty,
            first_inner: raw.next,
            aad: 0..body_start,
            body: body_start..body_end,
        }));
    }
    Ok(None)
}

/// Appends the IKE header and the SK or SKF payload header of a message whose only
/// payload is an encrypted payload with a body (IV, ciphertext, ICV) of `body_len`
/// octets; all length fields account for it. The caller then appends exactly
/// `body_len` octets. The returned ranges index `out` (the message may follow other
/// data already in `out`, such as a non-ESP marker).
pub fn emit_encrypted_header(
    header: &HeaderRepr,
    encrypted: EncryptedHeader,
    body_len: usize,
    out: &mut Vec<u8>,
) -> Result<EncryptedLocation, Error> {
    let start = out.len();
    let (ty, first_inner, fields) = match encrypted {
        EncryptedHeader::Sk { first_inner } => (PayloadType::SK, first_inner, 0),
        EncryptedHeader::Skf {
            first_inner,
            fragment_number,
            total_fragments,
        } => {
            check_fragment(first_inner, fragment_number, total_fragments, start)?;
            (PayloadType::SKF, first_inner, SKF_FRAGMENT_FIELDS_LEN)
        }
    };
    let payload_len = body_len
        .checked_add(PAYLOAD_HEADER_LEN + fields)
        .ok_or(Error::new(ErrorKind::TooLarge, start, "SK payload"))?;
    let payload_len16 = count_u16(payload_len, start, "SK payload")?;
    let total = u32::try_from(HEADER_LEN + payload_len)
        .map_err(|_| Error::new(ErrorKind::TooLarge, start, "IKE header"))?;
    header.emit(ty, total, out)?;
    out.put_u8(first_inner.0);
    out.put_u8(0);
    out.put_u16(payload_len16);
    if let EncryptedHeader::Skf {
        fragment_number,
        total_fragments,
        ..
    } = encrypted
    {
        out.put_u16(fragment_number);
        out.put_u16(total_fragments);
    }
    let body_start = out.len();
    Ok(EncryptedLocation {
        ty,
        first_inner,
        aad: start..body_start,
        body: body_start..body_start + body_len,
    })
}
