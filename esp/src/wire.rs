//! The ESP header (RFC 4303 section 2) as a checked view, and the inner-packet facts
//! tunnel mode needs.
//!
//! ```text
//!  0                   1                   2                   3
//! +---------------------------------------------------------------+
//! |               Security Parameters Index (SPI)                 |
//! +---------------------------------------------------------------+
//! |                    Sequence Number (low 32 bits)              |
//! +---------------------------------------------------------------+
//! |  IV (8 octets for GCM/ChaCha20, 16 for CBC) | payload ...     |
//! |  ... | Padding (0-255) | Pad Length | Next Header | ICV ...   |
//! +---------------------------------------------------------------+
//! ```
//!
//! After [`EspPacket::new_checked`] no accessor panics (smoltcp's rule).

/// Length of SPI + sequence number.
pub const ESP_HEADER_LEN: usize = 8;

/// Next Header value of a tunnelled IPv4 packet (IP-in-IP).
pub const NEXT_HEADER_IPV4: u8 = 4;
/// Next Header value of a tunnelled IPv6 packet.
pub const NEXT_HEADER_IPV6: u8 = 41;
/// Next Header value of a dummy packet (RFC 4303 section 2.6): discard silently.
pub const NEXT_HEADER_NONE: u8 = 59;

/// A Security Parameters Index. 0 is reserved (RFC 4303 section 2.1) and 1-255 are
/// reserved by IANA; the IKE side never allocates them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Spi(pub u32);

impl Spi {
    pub fn to_be_bytes(self) -> [u8; 4] {
        self.0.to_be_bytes()
    }
}

impl std::fmt::Debug for Spi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Spi({:#010x})", self.0)
    }
}

impl std::fmt::Display for Spi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

/// Errors of the header view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    #[error("ESP packet shorter than its header")]
    Truncated,
}

/// A view of an ESP packet that starts at the SPI.
#[derive(Debug, Clone, Copy)]
pub struct EspPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EspPacket<T> {
    /// Wrap without checking; accessors may panic on a short buffer.
    pub fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wrap, checking that the SPI and sequence number are present.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        if buffer.as_ref().len() < ESP_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(Self { buffer })
    }

    #[inline]
    pub fn spi(&self) -> Spi {
        let b = self.buffer.as_ref();
        Spi(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// The sequence number as carried: its low-order 32 bits.
    #[inline]
    pub fn seq_low(&self) -> u32 {
        let b = self.buffer.as_ref();
        u32::from_be_bytes([b[4], b[5], b[6], b[7]])
    }

    /// Everything after the header: IV, ciphertext, ICV.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[ESP_HEADER_LEN..]
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }
}

/// Only the SPI of an ESP packet, for the IO layer to find the SA.
#[inline]
pub fn peek_spi(esp: &[u8]) -> Option<Spi> {
    EspPacket::new_checked(esp).ok().map(|p| p.spi())
}

/// IP version of a tunnelled packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpVersion {
    V4,
    V6,
}

impl IpVersion {
    /// The ESP Next Header value for this version.
    pub fn next_header(self) -> u8 {
        match self {
            Self::V4 => NEXT_HEADER_IPV4,
            Self::V6 => NEXT_HEADER_IPV6,
        }
    }
}

/// Minimum IPv4 header.
pub const IPV4_MIN_HEADER: usize = 20;
/// IPv6 fixed header.
pub const IPV6_HEADER: usize = 40;

/// The version and the length the IP header claims for `packet`, or `None` if it is
/// not a well-formed start of an IPv4 or IPv6 packet that fits in `packet`. A claimed
/// length shorter than the buffer is fine (the rest is TFC padding, RFC 4303 section
/// 2.4); a longer one is not. IPv6 jumbograms (payload length 0) are not supported.
#[inline]
pub fn inner_ip(packet: &[u8]) -> Option<(IpVersion, usize)> {
    match packet.first()? >> 4 {
        4 => {
            if packet.len() < IPV4_MIN_HEADER {
                return None;
            }
            let ihl = usize::from(packet[0] & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
            (ihl >= IPV4_MIN_HEADER && total >= ihl && total <= packet.len())
                .then_some((IpVersion::V4, total))
        }
        6 => {
            if packet.len() < IPV6_HEADER {
                return None;
            }
            let total = IPV6_HEADER + usize::from(u16::from_be_bytes([packet[4], packet[5]]));
            (total <= packet.len()).then_some((IpVersion::V6, total))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_view() {
        let bytes = [0, 0, 0x43, 0x21, 0x87, 0x65, 0x43, 0x21, 0xAA];
        let p = EspPacket::new_checked(&bytes[..]).expect("long enough");
        assert_eq!(p.spi(), Spi(0x4321));
        assert_eq!(p.seq_low(), 0x8765_4321);
        assert_eq!(p.payload(), &[0xAA]);
        assert_eq!(format!("{:?}", p.spi()), "Spi(0x00004321)");
        assert!(EspPacket::new_checked(&bytes[..7]).is_err());
        assert_eq!(peek_spi(&bytes[..3]), None);
    }

    #[test]
    fn inner_ip_lengths() {
        let mut v4 = [0u8; 28];
        v4[0] = 0x45;
        v4[3] = 24;
        assert_eq!(inner_ip(&v4), Some((IpVersion::V4, 24)));
        v4[3] = 29;
        assert_eq!(inner_ip(&v4), None);
        v4[3] = 24;
        v4[0] = 0x44; // IHL 16 octets
        assert_eq!(inner_ip(&v4), None);
        let mut v6 = [0u8; 48];
        v6[0] = 0x60;
        v6[5] = 8;
        assert_eq!(inner_ip(&v6), Some((IpVersion::V6, 48)));
        v6[5] = 9;
        assert_eq!(inner_ip(&v6), None);
        assert_eq!(inner_ip(&[]), None);
        assert_eq!(inner_ip(&[0x50; 40]), None);
    }
}
