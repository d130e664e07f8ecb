//! What the control task knows of the outer path MTU to each peer and where it came
//! from: `[daemon] path_mtu` until something better is known. The data plane gets
//! every change at once ([`DataPlane::set_path_mtu`]), so the inner MTU and the MSS
//! of every CHILD SA to that peer follow.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::time::Instant;

use crate::runtime::dataplane::DataPlane;

/// Where a peer's path MTU comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathMtuSource {
    /// `[daemon] path_mtu`: nothing learned (yet).
    Configured,
    /// An ICMP "fragmentation needed" / "packet too big" quoting one of our ESP
    /// packets.
    Icmp,
    /// The probe search over padded IKE requests.
    Probe,
}

impl fmt::Display for PathMtuSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Configured => "configured",
            Self::Icmp => "icmp",
            Self::Probe => "probe",
        })
    }
}

/// One peer's path MTU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathMtu {
    pub mtu: u16,
    pub source: PathMtuSource,
    /// When it was learned (`None` for the configured value).
    pub learned: Option<Instant>,
}

/// The path MTU of every peer we know something about.
#[derive(Debug)]
pub struct PathMtus {
    configured: u16,
    peers: HashMap<IpAddr, PathMtu>,
}

impl PathMtus {
    pub fn new(configured: u16) -> Self {
        Self {
            configured,
            peers: HashMap::new(),
        }
    }

    /// The path MTU to `peer`: learned, else configured.
    pub fn get(&self, peer: IpAddr) -> PathMtu {
        self.peers.get(&peer).copied().unwrap_or(PathMtu {
            mtu: self.configured,
            source: PathMtuSource::Configured,
            learned: None,
        })
    }

    /// Records what was learned about `peer` and tells the data plane if the value
    /// changed; whether it did.
    pub fn learn(
        &mut self,
        data: &DataPlane,
        peer: IpAddr,
        mtu: u16,
        source: PathMtuSource,
        now: Instant,
    ) -> bool {
        let old = self.get(peer).mtu;
        self.peers.insert(
            peer,
            PathMtu {
                mtu,
                source,
                learned: Some(now),
            },
        );
        if old != mtu {
            data.set_path_mtu(peer, mtu);
        }
        old != mtu
    }
}
