//! NAT traversal framing (RFC 3948, RFC 7296 section 2.23): IKE and ESP share UDP
//! port 4500 once a NAT is detected (or encapsulation is forced), told apart by the
//! first four octets; a one-octet 0xFF datagram keeps the NAT mapping alive.
//!
//! - [`classify_4500`] sorts a datagram received on port 4500 (RFC 3948 section
//!   2.2): [`Classified4500::Keepalive`], IKE after the non-ESP marker, or ESP.
//! - [`encap_udp_header`] and [`udp_checksum`] build the UDP header of
//!   UDP-encapsulated ESP (RFC 3948 section 2.1) for callers that write whole IP
//!   packets (raw sockets, tests); a normal UDP socket adds it itself.
//! - [`choose_encapsulation`] decides between raw ESP (IP protocol 50) and ESP in
//!   UDP.
//! - [`KeepaliveTimer`] says when the next NAT-keepalive is due (RFC 3948 section 4).
//!
//! Pure functions: no sockets, no clock (time is passed in), no allocation.

use core::net::IpAddr;
use core::time::Duration;
use std::time::Instant;

use crate::ip::{fold, ones_sum, pseudo_header_sum};

/// UDP port for IKE and UDP-encapsulated ESP after NAT detection (RFC 3948,
/// RFC 7296 section 2.23).
pub const NAT_T_PORT: u16 = 4500;
/// UDP port for IKE without NAT traversal (RFC 7296 section 2).
pub const IKE_PORT: u16 = 500;
/// The NAT-keepalive payload (RFC 3948 section 2.3).
pub const KEEPALIVE: [u8; 1] = [0xff];
/// The non-ESP marker that precedes IKE messages on port 4500 (RFC 3948 section 2.2):
/// it is where an ESP packet has its SPI, which is never zero.
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];
/// Length of the IKE header (RFC 7296 section 3.1).
pub const IKE_HEADER_LEN: usize = 28;
/// SPI and sequence number: the least an ESP packet has (RFC 4303 section 2).
pub const ESP_MIN_LEN: usize = 8;
/// UDP header length.
pub const UDP_HEADER_LEN: usize = 8;
/// strongSwan's, libreswan's and iked's keepalive interval (`keep_alive = 20s`).
pub const DEFAULT_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(20);

/// What a UDP datagram received on port 4500 carries.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Classified4500<'a> {
    /// A NAT-keepalive (the single octet 0xFF, RFC 3948 section 2.3): ignore it
    /// (it may count as liveness of the peer's mapping).
    Keepalive,
    /// An IKE message: the datagram without its 4-octet non-ESP marker, starting at
    /// the IKE header.
    Ike(&'a [u8]),
    /// An ESP packet, starting at its (non-zero) SPI.
    Esp(&'a [u8]),
    /// None of these: empty, a lone octet other than 0xFF, a marker followed by less
    /// than an IKE header, or fewer than 8 octets of ESP. Drop and count.
    Invalid,
}

/// Sorts a UDP payload received on port 4500 (RFC 3948 section 2.2, RFC 7296
/// section 2.23): one octet 0xFF is a keepalive; four zero octets are the non-ESP
/// marker and an IKE message follows (at least an IKE header); anything else of
/// at least 8 octets is ESP (its first four octets, the SPI, are then not zero).
///
/// SPIs 1-255 are reserved (RFC 4303 section 2.1) but still classified as ESP: the
/// SA lookup drops them like any unknown SPI.
pub fn classify_4500(datagram: &[u8]) -> Classified4500<'_> {
    match datagram {
        [0xff] => Classified4500::Keepalive,
        [0, 0, 0, 0, ike @ ..] if ike.len() >= IKE_HEADER_LEN => Classified4500::Ike(ike),
        [0, 0, 0, 0, ..] => Classified4500::Invalid,
        esp if esp.len() >= ESP_MIN_LEN => Classified4500::Esp(esp),
        _ => Classified4500::Invalid,
    }
}

/// Why a UDP header cannot be built.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UdpError {
    /// The payload does not fit a UDP datagram (65527 octets at most).
    #[error("UDP payload of {0} octets is too long")]
    TooLong(usize),
}

/// The UDP header for a datagram of `payload_len` octets (ESP packet, or non-ESP
/// marker + IKE message, or keepalive) from `src_port` to `dst_port`, with checksum
/// 0. RFC 3948 section 2.1: the IPv4 UDP checksum SHOULD be sent as zero (ESP
/// protects the contents). Over IPv6 a zero UDP checksum is not allowed (RFC 8200
/// section 8.1; the exceptions of RFC 6935/6936 do not cover ESP-in-UDP), so for
/// IPv6 fill it in with [`udp_checksum`] once the payload is final.
pub fn encap_udp_header(
    src_port: u16,
    dst_port: u16,
    payload_len: usize,
) -> Result<[u8; UDP_HEADER_LEN], UdpError> {
    let len =
        u16::try_from(payload_len + UDP_HEADER_LEN).map_err(|_| UdpError::TooLong(payload_len))?;
    let mut h = [0u8; UDP_HEADER_LEN];
    h[0..2].copy_from_slice(&src_port.to_be_bytes());
    h[2..4].copy_from_slice(&dst_port.to_be_bytes());
    h[4..6].copy_from_slice(&len.to_be_bytes());
    Ok(h)
}

/// The UDP checksum (RFC 768, RFC 8200 section 8.1) of `datagram` (UDP header with
/// its checksum field zero or ignored, plus payload) between `src` and `dst`. A
/// computed 0 is returned as 0xFFFF, since 0 means "no checksum". Store it at
/// octets 6..8 of the header.
pub fn udp_checksum(src: IpAddr, dst: IpAddr, datagram: &[u8]) -> u16 {
    let len = u32::try_from(datagram.len()).unwrap_or(u32::MAX);
    let mut sum = pseudo_header_sum(src, dst, 17, len);
    if datagram.len() >= UDP_HEADER_LEN {
        sum = ones_sum(sum, &datagram[..6]);
        sum = ones_sum(sum, &datagram[UDP_HEADER_LEN..]);
    } else {
        sum = ones_sum(sum, datagram);
    }
    match !fold(sum) {
        0 => 0xffff,
        c => c,
    }
}

/// How ESP packets of an SA travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encapsulation {
    /// Raw ESP, IP protocol 50 (RFC 4303).
    RawEsp,
    /// ESP in UDP on the IKE SA's port-4500 addresses (RFC 3948).
    UdpEsp,
}

impl Encapsulation {
    /// Octets this encapsulation adds to each ESP packet (the UDP header).
    pub const fn overhead(self) -> usize {
        match self {
            Self::RawEsp => 0,
            Self::UdpEsp => UDP_HEADER_LEN,
        }
    }
}

/// UDP encapsulation when a NAT was detected on either side (RFC 7296 section 2.23,
/// RFC 3948) or when it is forced (strongSwan `encap = yes`, which fakes a NAT);
/// raw ESP otherwise.
pub const fn choose_encapsulation(
    local_behind_nat: bool,
    remote_behind_nat: bool,
    forced: bool,
) -> Encapsulation {
    if local_behind_nat || remote_behind_nat || forced {
        Encapsulation::UdpEsp
    } else {
        Encapsulation::RawEsp
    }
}

/// When to send NAT-keepalives (RFC 3948 section 4): only when we are behind a NAT
/// (RFC 7296 section 2.23: the host behind the NAT keeps the mapping alive), and
/// only after `interval` without sending anything to the peer, since every packet
/// refreshes the mapping. Sans-IO: tell it about every datagram sent to the peer
/// ([`Self::handle_sent`]) and ask it when to wake up.
#[derive(Debug, Clone)]
pub struct KeepaliveTimer {
    interval: Duration,
    behind_nat: bool,
    last_sent: Option<Instant>,
}

impl KeepaliveTimer {
    /// A timer with this interval (zero turns keepalives off, like strongSwan's
    /// `keep_alive = 0`), for a local end that is or is not behind a NAT.
    pub fn new(interval: Duration, behind_nat: bool) -> Self {
        Self {
            interval,
            behind_nat,
            last_sent: None,
        }
    }

    /// Updates whether we are behind a NAT (after NAT detection, or a MOBIKE
    /// address change).
    pub fn set_behind_nat(&mut self, behind_nat: bool) {
        self.behind_nat = behind_nat;
    }

    /// Records that a datagram (IKE, ESP or keepalive) went to the peer at `now`.
    pub fn handle_sent(&mut self, now: Instant) {
        if self.last_sent.is_none_or(|t| now > t) {
            self.last_sent = Some(now);
        }
    }

    /// When the next keepalive is due: `interval` after the last datagram sent, or
    /// `now` if nothing was sent yet. `None` when keepalives are off or not needed.
    pub fn poll_timeout(&self, now: Instant) -> Option<Instant> {
        if !self.behind_nat || self.interval.is_zero() {
            return None;
        }
        Some(self.last_sent.map_or(now, |t| t + self.interval))
    }

    /// Whether a keepalive ([`KEEPALIVE`]) should be sent at `now`; if so, it is
    /// recorded as sent.
    pub fn poll_keepalive(&mut self, now: Instant) -> bool {
        match self.poll_timeout(now) {
            Some(due) if due <= now => {
                self.last_sent = Some(now);
                true
            }
            _ => false,
        }
    }
}
