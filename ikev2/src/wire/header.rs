//! The IKE header (RFC 7296 section 3.1): a checked view over the first 28 octets and
//! a [`HeaderRepr`] with the fields that are not derived from the payloads.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       IKE SA Initiator's SPI                  |
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       IKE SA Responder's SPI                  |
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Next Payload | MjVer | MnVer | Exchange Type |     Flags     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                          Message ID                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                            Length                             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The length field must equal the length of the datagram: like strongSwan we reject
//! a mismatch in either direction, since trailing bytes outside the authenticated
//! length could otherwise be smuggled along.

use core::fmt;

use super::enums::{ExchangeType, PayloadType};
use super::error::{Error, ErrorKind};

/// Length of the IKE header in octets.
pub const HEADER_LEN: usize = 28;

/// The only major version we speak.
pub const MAJOR_VERSION: u8 = 2;

/// Byte positions of the header fields.
pub mod field {
    use core::ops::Range;

    pub const SPI_I: Range<usize> = 0..8;
    pub const SPI_R: Range<usize> = 8..16;
    pub const NEXT_PAYLOAD: usize = 16;
    /// Major version in the high nibble, minor version in the low nibble.
    pub const VERSION: usize = 17;
    pub const EXCHANGE_TYPE: usize = 18;
    pub const FLAGS: usize = 19;
    pub const MESSAGE_ID: Range<usize> = 20..24;
    pub const LENGTH: Range<usize> = 24..28;
}

/// An IKE SA SPI (8 octets). Zero means "not known yet" (the responder SPI of an
/// IKE_SA_INIT request).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct IkeSpi(pub u64);

impl IkeSpi {
    pub const ZERO: IkeSpi = IkeSpi(0);

    pub fn from_bytes(b: [u8; 8]) -> Self {
        Self(u64::from_be_bytes(b))
    }

    pub fn to_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Debug for IkeSpi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Display for IkeSpi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The header flags. Only the three bits RFC 7296 defines are kept: the others "MUST
/// be cleared when sending and MUST be ignored on receipt".
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(u8);

impl Flags {
    /// Set in messages sent by the original initiator of the IKE SA.
    pub const INITIATOR: Flags = Flags(0x08);
    /// "The transmitter can speak a higher major version"; we never set it.
    pub const VERSION: Flags = Flags(0x10);
    /// Set in responses.
    pub const RESPONSE: Flags = Flags(0x20);

    const KNOWN: u8 = 0x08 | 0x10 | 0x20;

    pub const fn empty() -> Self {
        Flags(0)
    }

    /// The flags of `bits`, dropping undefined bits.
    pub const fn from_bits_truncate(bits: u8) -> Self {
        Flags(bits & Self::KNOWN)
    }

    pub const fn bits(self) -> u8 {
        self.0
    }

    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn union(self, other: Flags) -> Self {
        Flags(self.0 | other.0)
    }

    pub fn is_initiator(self) -> bool {
        self.contains(Self::INITIATOR)
    }

    pub fn is_response(self) -> bool {
        self.contains(Self::RESPONSE)
    }
}

impl core::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        self.union(rhs)
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (flag, name) in [
            (Self::INITIATOR, "I"),
            (Self::VERSION, "V"),
            (Self::RESPONSE, "R"),
        ] {
            if self.contains(flag) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("-")?;
        }
        Ok(())
    }
}

/// A read-only view of an IKE header at the start of a buffer (smoltcp style). Only
/// [`Header::new_checked`] builds one, so every accessor is infallible: they index a
/// `[u8; HEADER_LEN]` at constant positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    bytes: &'a [u8; HEADER_LEN],
}

impl<'a> Header<'a> {
    /// A view of the first 28 octets of `buf`; later octets (the payloads) are ignored.
    /// Fails with `Truncated` if `buf` is shorter than the header. Performs no other
    /// check: use it to peek at SPIs before deciding what to do with a datagram.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Error> {
        buf.first_chunk::<HEADER_LEN>()
            .map(|bytes| Header { bytes })
            .ok_or(Error::new(ErrorKind::Truncated, 0, "IKE header"))
    }

    pub fn spi_i(&self) -> IkeSpi {
        let [a, b, c, d, e, f, g, h, ..] = *self.bytes;
        IkeSpi::from_bytes([a, b, c, d, e, f, g, h])
    }

    pub fn spi_r(&self) -> IkeSpi {
        let [_, _, _, _, _, _, _, _, a, b, c, d, e, f, g, h, ..] = *self.bytes;
        IkeSpi::from_bytes([a, b, c, d, e, f, g, h])
    }

    pub fn next_payload(&self) -> PayloadType {
        PayloadType(self.bytes[field::NEXT_PAYLOAD])
    }

    pub fn major_version(&self) -> u8 {
        self.bytes[field::VERSION] >> 4
    }

    pub fn minor_version(&self) -> u8 {
        self.bytes[field::VERSION] & 0x0f
    }

    pub fn exchange_type(&self) -> ExchangeType {
        ExchangeType(self.bytes[field::EXCHANGE_TYPE])
    }

    /// The defined flag bits (undefined bits are dropped).
    pub fn flags(&self) -> Flags {
        Flags::from_bits_truncate(self.bytes[field::FLAGS])
    }

    pub fn message_id(&self) -> u32 {
        let b = self.bytes;
        u32::from_be_bytes([b[20], b[21], b[22], b[23]])
    }

    pub fn length(&self) -> u32 {
        let b = self.bytes;
        u32::from_be_bytes([b[24], b[25], b[26], b[27]])
    }

    /// The 28 header octets as received.
    pub fn as_bytes(&self) -> &'a [u8; HEADER_LEN] {
        self.bytes
    }
}

/// The header fields that are not derived from the payloads: next payload and length
/// are computed when emitting a message, and the major version is always 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct HeaderRepr {
    pub spi_i: IkeSpi,
    pub spi_r: IkeSpi,
    /// Sent as 0; kept on receipt so a parsed header round-trips.
    pub minor_version: u8,
    pub exchange_type: ExchangeType,
    pub flags: Flags,
    pub message_id: u32,
}

impl HeaderRepr {
    /// The header fields of a view. Fails with `InvalidMajorVersion` unless the major
    /// version is 2 (RFC 7296 section 2.5: drop, and answer INVALID_MAJOR_VERSION).
    pub fn parse(header: &Header<'_>) -> Result<Self, Error> {
        let major = header.major_version();
        if major != MAJOR_VERSION {
            return Err(Error::new(
                ErrorKind::InvalidMajorVersion(major),
                field::VERSION,
                "IKE header",
            ));
        }
        Ok(Self {
            spi_i: header.spi_i(),
            spi_r: header.spi_r(),
            minor_version: header.minor_version(),
            exchange_type: header.exchange_type(),
            flags: header.flags(),
            message_id: header.message_id(),
        })
    }

    /// Octets this header occupies.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// The 28 header octets with the given first payload type and total length.
    pub fn to_bytes(&self, next_payload: PayloadType, length: u32) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[field::SPI_I].copy_from_slice(&self.spi_i.to_bytes());
        b[field::SPI_R].copy_from_slice(&self.spi_r.to_bytes());
        b[field::NEXT_PAYLOAD] = next_payload.0;
        b[field::VERSION] = (MAJOR_VERSION << 4) | (self.minor_version & 0x0f);
        b[field::EXCHANGE_TYPE] = self.exchange_type.0;
        b[field::FLAGS] = self.flags.bits();
        b[field::MESSAGE_ID].copy_from_slice(&self.message_id.to_be_bytes());
        b[field::LENGTH].copy_from_slice(&length.to_be_bytes());
        b
    }

    /// Appends the header to `out`. Fails with `InvalidValue` if the minor version
    /// does not fit its nibble.
    pub fn emit(
        &self,
        next_payload: PayloadType,
        length: u32,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        if self.minor_version > 0x0f {
            return Err(Error::new(ErrorKind::InvalidValue, out.len(), "IKE header"));
        }
        out.extend_from_slice(&self.to_bytes(next_payload, length));
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const INIT: [u8; 28] = [
        0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, // SPIi
        0, 0, 0, 0, 0, 0, 0, 0, // SPIr
        0x21, 0x20, 0x22, 0x08, // SA, 2.0, IKE_SA_INIT, I
        0, 0, 0, 0, // message ID
        0, 0, 0x01, 0x2c, // length 300
    ];

    #[test]
    fn test_deconstruct() {
        let h = Header::new_checked(&INIT).unwrap();
        assert_eq!(h.spi_i(), IkeSpi(0x1122334455667788));
        assert!(h.spi_r().is_zero());
        assert_eq!(h.next_payload(), PayloadType::SA);
        assert_eq!((h.major_version(), h.minor_version()), (2, 0));
        assert_eq!(h.exchange_type(), ExchangeType::IKE_SA_INIT);
        assert_eq!(h.flags(), Flags::INITIATOR);
        assert_eq!(h.message_id(), 0);
        assert_eq!(h.length(), 300);
    }

    #[test]
    fn test_construct() {
        let repr = HeaderRepr::parse(&Header::new_checked(&INIT).unwrap()).unwrap();
        assert_eq!(repr.to_bytes(PayloadType::SA, 300), INIT);
        let mut out = vec![];
        repr.emit(PayloadType::SA, 300, &mut out).unwrap();
        assert_eq!(out, INIT);
    }

    #[test]
    fn test_check_len() {
        for n in 0..HEADER_LEN {
            let e = Header::new_checked(&INIT[..n]).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Truncated);
        }
    }

    #[test]
    fn undefined_flag_bits_are_ignored() {
        let mut b = INIT;
        b[field::FLAGS] = 0xff;
        let h = Header::new_checked(&b).unwrap();
        assert_eq!(
            h.flags(),
            Flags::INITIATOR | Flags::VERSION | Flags::RESPONSE
        );
        assert_eq!(format!("{:?}", h.flags()), "I|V|R");
    }

    #[test]
    fn major_version() {
        for (v, ok) in [
            (0x10, false),
            (0x20, true),
            (0x2f, true),
            (0x30, false),
            (0xf0, false),
        ] {
            let mut b = INIT;
            b[field::VERSION] = v;
            let r = HeaderRepr::parse(&Header::new_checked(&b).unwrap());
            assert_eq!(r.is_ok(), ok, "version byte {v:#x}");
            if let Err(e) = r {
                assert_eq!(e.kind(), ErrorKind::InvalidMajorVersion(v >> 4));
                assert_eq!(e.offset(), 17);
            }
        }
    }
}
