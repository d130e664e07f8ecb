//! The inner MTU of each CHILD SA and what it means for packets: the largest inner
//! packet whose ESP packet, with this SA's transform and encapsulation, still fits
//! the outer path MTU to the peer, capped by the configured MTU (child `mtu`, else
//! `[daemon] mtu`). TCP SYNs through the SA are clamped to it; larger packets are
//! answered or fragmented by the outbound worker before encryption, so outer packets
//! never need fragmenting (RFC 4459 section 3).

use std::net::IpAddr;

use esp::mss::clamp_mss;
use esp::mtu::{EspOverhead, OuterPath};
use esp::natt::Encapsulation;
use esp::wire::IpVersion;

use super::Dest;
use crate::config::MssClamp;

/// How TCP SYNs are clamped (`[daemon] mss_clamp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MssPolicy {
    /// To the SA's inner MTU minus 40 (IPv4) or 60 (IPv6) octets of headers.
    #[default]
    Auto,
    /// To this value, and never above what `Auto` would give: a fixed value set
    /// for a larger path must not make segments that do not fit this one.
    AtMost(u16),
    Off,
}

impl From<MssClamp> for MssPolicy {
    fn from(c: MssClamp) -> Self {
        match c {
            MssClamp::Auto => Self::Auto,
            MssClamp::Fixed(m) => Self::AtMost(m),
            MssClamp::Off => Self::Off,
        }
    }
}

impl MssPolicy {
    /// The MSS for inner packets of one family through a tunnel of `inner_mtu`.
    pub fn mss(self, inner_mtu: u16, ipv6: bool) -> Option<u16> {
        let auto = inner_mtu.saturating_sub(if ipv6 { 60 } else { 40 });
        match self {
            Self::Auto => Some(auto),
            Self::AtMost(m) => Some(m.min(auto)),
            Self::Off => None,
        }
    }
}

/// The outer path of an SA that sends to `dest`.
pub fn outer_path(dest: &Dest) -> (IpAddr, OuterPath) {
    let (peer, encap) = match *dest {
        Dest::Udp { peer, .. } => (peer.ip(), Encapsulation::UdpEsp),
        Dest::Raw { peer, .. } => (peer, Encapsulation::RawEsp),
    };
    let ip = if peer.is_ipv4() {
        IpVersion::V4
    } else {
        IpVersion::V6
    };
    (peer, OuterPath { ip, encap })
}

/// The room of one CHILD SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunnelMtu {
    /// The configured inner MTU (child `mtu`, else `[daemon] mtu`).
    pub configured: u16,
    /// The outer path MTU to the peer as last set.
    pub path: u16,
    outer: OuterPath,
    esp: EspOverhead,
    policy: MssPolicy,
    /// The effective inner MTU: the configured one or what the path allows,
    /// whichever is smaller.
    pub inner: u16,
    mss_v4: Option<u16>,
    mss_v6: Option<u16>,
}

impl TunnelMtu {
    pub fn new(
        configured: u16,
        path: u16,
        outer: OuterPath,
        esp: EspOverhead,
        policy: MssPolicy,
    ) -> Self {
        let mut t = Self {
            configured,
            path,
            outer,
            esp,
            policy,
            inner: configured,
            mss_v4: None,
            mss_v6: None,
        };
        t.set_path(path);
        t
    }

    /// A new outer path MTU: the inner MTU and the MSS follow at once.
    pub fn set_path(&mut self, path: u16) {
        self.path = path;
        let allowed = self.outer.inner_mtu(self.esp, usize::from(path));
        self.inner = self
            .configured
            .min(u16::try_from(allowed).unwrap_or(u16::MAX));
        self.mss_v4 = self.policy.mss(self.inner, false);
        self.mss_v6 = self.policy.mss(self.inner, true);
    }

    /// The outer packet that carries this tunnel's largest configured inner packet:
    /// the path MTU it needs.
    pub fn needed_path(&self) -> u16 {
        let len = self.outer.outer_len(self.esp, usize::from(self.configured));
        u16::try_from(len).unwrap_or(u16::MAX)
    }

    /// Whether the SA sends ESP in UDP.
    pub fn udp(&self) -> bool {
        self.outer.encap == Encapsulation::UdpEsp
    }

    /// Whether an inner packet of `len` octets fits.
    pub fn fits(&self, len: usize) -> bool {
        len <= usize::from(self.inner)
    }

    /// Clamps the MSS of a TCP SYN in `packet` (IPv4 or IPv6) to this tunnel's.
    pub fn clamp(&self, packet: &mut [u8]) {
        let max = match packet.first().map(|b| b >> 4) {
            Some(4) => self.mss_v4,
            Some(6) => self.mss_v6,
            _ => None,
        };
        if let Some(max) = max {
            clamp_mss(packet, max);
        }
    }
}

#[cfg(test)]
mod tests {
    use ikev2::crypto::algorithms::EncrAlgorithm;

    use super::*;

    fn gcm() -> EspOverhead {
        EspOverhead::new(
            EncrAlgorithm::AesGcm {
                key_bits: 256,
                icv_len: 16,
            },
            0,
        )
    }

    fn udp4() -> OuterPath {
        OuterPath {
            ip: IpVersion::V4,
            encap: Encapsulation::UdpEsp,
        }
    }

    /// A TCP SYN over IPv4 announcing MSS 1460.
    fn syn() -> Vec<u8> {
        let mut syn = vec![0u8; 44];
        syn[0] = 0x45;
        syn[2..4].copy_from_slice(&44u16.to_be_bytes());
        syn[8] = 64;
        syn[9] = 6;
        syn[12..16].copy_from_slice(&[10, 1, 0, 1]);
        syn[16..20].copy_from_slice(&[10, 2, 0, 1]);
        syn[32] = 6 << 4;
        syn[33] = 0x02;
        syn[40..44].copy_from_slice(&[2, 4, 0x05, 0xb4]);
        syn
    }

    fn mss_of(p: &[u8]) -> u16 {
        u16::from_be_bytes([p[42], p[43]])
    }

    #[test]
    fn the_configured_mtu_rules_while_the_path_is_large() {
        let t = TunnelMtu::new(1400, 1500, udp4(), gcm(), MssPolicy::Auto);
        assert_eq!(t.inner, 1400);
        let mut p = syn();
        t.clamp(&mut p);
        assert_eq!(mss_of(&p), 1360);
    }

    #[test]
    fn a_smaller_path_lowers_the_inner_mtu_and_the_mss() {
        let mut t = TunnelMtu::new(1400, 1500, udp4(), gcm(), MssPolicy::Auto);
        t.set_path(1300);
        // 1300 - 20 IP - 8 UDP - 8 ESP - 8 IV - 16 ICV = 1240, minus 2 trailer,
        // rounded down to a multiple of 4 with the trailer: 1238.
        assert_eq!(t.inner, 1238);
        assert!(t.fits(1238) && !t.fits(1239));
        let mut p = syn();
        t.clamp(&mut p);
        assert_eq!(mss_of(&p), 1198);
        t.set_path(1500);
        assert_eq!(t.inner, 1400);
    }

    #[test]
    fn a_fixed_mss_never_exceeds_what_fits_and_off_leaves_syns_alone() {
        let mut t = TunnelMtu::new(1400, 1300, udp4(), gcm(), MssPolicy::AtMost(1300));
        let mut p = syn();
        t.clamp(&mut p);
        assert_eq!(mss_of(&p), 1198);
        t.set_path(1500);
        let mut p = syn();
        t.clamp(&mut p);
        assert_eq!(mss_of(&p), 1300);
        let t = TunnelMtu::new(1400, 1300, udp4(), gcm(), MssPolicy::Off);
        let mut p = syn();
        t.clamp(&mut p);
        assert_eq!(mss_of(&p), 1460);
    }
}
