//! The room a tunnel leaves for inner packets: what ESP and the outer headers add to
//! an inner packet, computed per transform and per encapsulation (never a guessed
//! constant), and the largest inner packet whose outer packet fits a path MTU.
//!
//! An ESP packet (RFC 4303 section 2) is the 8-octet header (SPI, sequence number),
//! the explicit IV (16 for AES-CBC, 8 for AES-GCM and ChaCha20-Poly1305), the inner
//! packet, 0-255 octets of padding, Pad Length and Next Header (2), and the ICV (the
//! AEAD tag or the truncated HMAC). Plaintext, padding and the 2 trailer octets are a
//! multiple of the cipher block (16 for CBC) and of 4 (section 2.4). Around it: the
//! outer IP header (20 for IPv4 without options, 40 for IPv6 without extension
//! headers) and, for ESP in UDP (RFC 3948), the 8-octet UDP header. Both the
//! daemon's data plane and its configuration check use these numbers, so what the
//! check warns about is what the data plane does.

use ikev2::crypto::algorithms::{EncrAlgorithm, EspSuite};

use crate::natt::Encapsulation;
use crate::wire::{ESP_HEADER_LEN, IpVersion};

/// Smallest outer path MTU believed for IPv4 unless configured lower: the datagram
/// size every IPv4 host must accept (RFC 791, RFC 1122 section 3.3.3). A report of
/// less (a forged or broken ICMP) is not applied.
pub const IPV4_MIN_PATH_MTU: u16 = 576;
/// Smallest outer path MTU for IPv6: the link MTU IPv6 requires (RFC 8200 section 5).
pub const IPV6_MIN_PATH_MTU: u16 = 1280;

/// Pad Length and Next Header.
const TRAILER_LEN: usize = 2;

/// What ESP adds to an inner packet under one transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EspOverhead {
    iv: usize,
    icv: usize,
    /// Plaintext + padding + trailer is a multiple of this (4, or 16 for CBC).
    align: usize,
}

impl EspOverhead {
    /// The overhead of `suite` (the ICV is the AEAD tag, or the integrity
    /// algorithm's truncated output for CBC).
    pub fn of(suite: &EspSuite) -> Self {
        Self::new(suite.encr, suite.integ.map_or(0, |i| i.icv_len()))
    }

    /// From the cipher and the ICV length.
    pub fn new(encr: EncrAlgorithm, icv_len: usize) -> Self {
        Self {
            iv: encr.iv_len(),
            icv: icv_len.max(encr.icv_len()),
            align: encr.block_len().max(4),
        }
    }

    pub(crate) fn from_parts(iv: usize, icv: usize, align: usize) -> Self {
        Self { iv, icv, align }
    }

    /// Octets of padding after an inner packet of `inner_len` octets.
    pub fn padding(&self, inner_len: usize) -> usize {
        self.align.wrapping_sub(inner_len + TRAILER_LEN) & (self.align - 1)
    }

    /// Length of the ESP packet (SPI to ICV) that carries `inner_len` octets.
    pub fn esp_len(&self, inner_len: usize) -> usize {
        ESP_HEADER_LEN + self.iv + inner_len + self.padding(inner_len) + TRAILER_LEN + self.icv
    }

    /// The largest inner packet whose ESP packet is at most `esp_room` octets; 0 if
    /// none fits.
    pub fn max_inner_len(&self, esp_room: usize) -> usize {
        let Some(room) = esp_room.checked_sub(ESP_HEADER_LEN + self.iv + self.icv) else {
            return 0;
        };
        (room / self.align * self.align).saturating_sub(TRAILER_LEN)
    }
}

/// How the ESP packets of an SA travel between the gateways.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OuterPath {
    pub ip: IpVersion,
    pub encap: Encapsulation,
}

impl OuterPath {
    /// Octets in front of the ESP packet: outer IP header (no options or extension
    /// headers: the kernel adds none to our datagrams) and the UDP header for ESP in
    /// UDP.
    pub const fn header_len(self) -> usize {
        let ip = match self.ip {
            IpVersion::V4 => 20,
            IpVersion::V6 => 40,
        };
        ip + self.encap.overhead()
    }

    /// The smallest path MTU believed on this path (see [`IPV4_MIN_PATH_MTU`]).
    pub const fn min_path_mtu(self) -> u16 {
        match self.ip {
            IpVersion::V4 => IPV4_MIN_PATH_MTU,
            IpVersion::V6 => IPV6_MIN_PATH_MTU,
        }
    }

    /// The outer IP packet that carries an inner packet of `inner_len` octets.
    pub fn outer_len(self, esp: EspOverhead, inner_len: usize) -> usize {
        self.header_len() + esp.esp_len(inner_len)
    }

    /// The largest inner packet whose outer IP packet is at most `path_mtu` octets.
    pub fn inner_mtu(self, esp: EspOverhead, path_mtu: usize) -> usize {
        esp.max_inner_len(path_mtu.saturating_sub(self.header_len()))
    }
}

/// The SPI and sequence number at the start of an ESP packet an ICMP error quoted
/// (after the UDP header for ESP in UDP); `None` for an IKE message (the non-ESP
/// marker: SPI 0) or a quote too short to tell. A report is believed only if the
/// caller finds both among what it sent.
pub fn quoted_esp(quoted: &[u8]) -> Option<(u32, u32)> {
    let spi = u32::from_be_bytes(quoted.get(..4)?.try_into().ok()?);
    let seq = u32::from_be_bytes(quoted.get(4..8)?.try_into().ok()?);
    (spi != 0).then_some((spi, seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcm_over_udp_ipv4() {
        let o = EspOverhead::new(
            EncrAlgorithm::AesGcm {
                key_bits: 128,
                icv_len: 16,
            },
            0,
        );
        let p = OuterPath {
            ip: IpVersion::V4,
            encap: Encapsulation::UdpEsp,
        };
        // 20 IP + 8 UDP + 8 ESP + 8 IV + 16 ICV + 2 trailer = 62, plus padding to 4.
        assert_eq!(p.outer_len(o, 1400), 1400 + 62 + 2);
        assert_eq!(p.inner_mtu(o, 1500), 1438);
        assert_eq!(p.outer_len(o, 1438), 1500);
    }

    #[test]
    fn quoted_esp_needs_spi_and_sequence_number() {
        assert_eq!(
            quoted_esp(&[0, 0, 0x10, 1, 0, 0, 0, 7, 0xaa]),
            Some((0x1001, 7))
        );
        assert_eq!(quoted_esp(&[0, 0, 0x10, 1, 0, 0, 0]), None);
        assert_eq!(quoted_esp(&[0, 0, 0, 0, 1, 2, 3, 4]), None);
        assert_eq!(quoted_esp(&[]), None);
    }

    #[test]
    fn cbc_pads_to_the_block() {
        let o = EspOverhead::new(EncrAlgorithm::AesCbc { key_bits: 128 }, 16);
        let p = OuterPath {
            ip: IpVersion::V6,
            encap: Encapsulation::RawEsp,
        };
        for mtu in 1280..1300 {
            let inner = p.inner_mtu(o, mtu);
            assert!(p.outer_len(o, inner) <= mtu);
            assert!(p.outer_len(o, inner + 1) > mtu);
            assert_eq!((inner + 2) % 16, 0);
        }
    }
}
