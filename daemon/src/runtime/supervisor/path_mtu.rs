//! What the control task knows of the outer path MTU to each peer and where it came
//! from: `[daemon] path_mtu` until something better is known. The data plane gets
//! every change at once ([`DataPlane::set_path_mtu`]), so the inner MTU and the MSS
//! of every CHILD SA to that peer follow.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use esp::io::errqueue::{TooBig, TooBigOrigin};
use esp::mtu::{IPV4_MIN_PATH_MTU, IPV6_MIN_PATH_MTU, quoted_esp};

use super::Supervisor;
use crate::runtime::dataplane::{DataPlane, OutboundCmd};

/// How long a lowered path MTU holds before it is checked again with a probe at the
/// size the tunnels need (RFC 1191 section 6.3 suggests 10 minutes): answered, the
/// configured value comes back.
pub const PATH_MTU_HOLD: Duration = Duration::from_secs(600);

/// Where a peer's path MTU comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathMtuSource {
    /// `[daemon] path_mtu`: nothing learned (yet).
    Configured,
    /// An ICMP "fragmentation needed" / "packet too big" quoting one of our ESP
    /// packets.
    Icmp,
    /// Our own kernel: the datagram exceeded the outgoing device's MTU.
    Local,
    /// The probe search over padded IKE requests.
    Probe,
}

impl fmt::Display for PathMtuSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Configured => "configured",
            Self::Icmp => "icmp",
            Self::Local => "local",
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

    /// Peers whose learned path MTU is older than [`PATH_MTU_HOLD`].
    pub fn due(&self, now: Instant) -> Vec<IpAddr> {
        self.peers
            .iter()
            .filter(|(_, p)| {
                p.learned
                    .is_some_and(|t| now.saturating_duration_since(t) >= PATH_MTU_HOLD)
            })
            .map(|(a, _)| *a)
            .collect()
    }

    /// The learned value of `peer` still holds (a check found it): another period.
    pub fn renew(&mut self, peer: IpAddr, now: Instant) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.learned = Some(now);
        }
    }

    /// Forgets what was learned about `peer`: the configured value again (the data
    /// plane told); whether it changed.
    pub fn forget(&mut self, data: &DataPlane, peer: IpAddr) -> bool {
        match self.peers.remove(&peer) {
            Some(p) if p.mtu != self.configured => {
                data.set_path_mtu(peer, self.configured);
                true
            }
            _ => false,
        }
    }
}

impl Supervisor {
    /// A "too big" report from the kernel. Believed only if it lowers the path MTU
    /// to no less than the protocol minimum and, for ICMP from the path, quotes an
    /// ESP packet that we sent to that peer (the outbound worker checks the sequence
    /// number): a forged ICMP cannot shrink a tunnel.
    pub(super) fn too_big(&mut self, r: &TooBig) {
        let stats = &self.data.stats;
        let peer = r.peer.ip();
        let floor = if peer.is_ipv4() {
            IPV4_MIN_PATH_MTU
        } else {
            IPV6_MIN_PATH_MTU
        };
        let known = self.path_mtus.get(peer).mtu;
        let Some(mtu) = u16::try_from(r.mtu)
            .ok()
            .filter(|&m| m >= floor && m < known)
        else {
            tracing::debug!(
                "path MTU report for {peer} ignored: {} (known {known}, minimum {floor})",
                r.mtu
            );
            stats.pmtu_ignored.fetch_add(1, Relaxed);
            return;
        };
        if r.origin == TooBigOrigin::Local {
            self.path_mtu_learned(peer, mtu, PathMtuSource::Local);
            return;
        }
        let Some((spi, seq)) = quoted_esp(r.quoted()) else {
            if self.probe_quoted(peer, r.quoted()) {
                // An ICMP about our own path MTU probe, quoting the IKE SPIs of the
                // searching IKE SA: the search's answer, at once.
                self.path_searched(peer);
                self.path_mtu_learned(peer, mtu, PathMtuSource::Icmp);
            } else {
                stats.pmtu_unverifiable.fetch_add(1, Relaxed);
            }
            return;
        };
        if self.book.tunnel(spi).is_none_or(|(p, _)| p != peer) {
            tracing::debug!("ICMP too-big for {peer} quotes SPI {spi:08x}: not ours, ignored");
            stats.pmtu_ignored.fetch_add(1, Relaxed);
            return;
        }
        self.data.outbound(OutboundCmd::VerifyTooBig {
            spi,
            seq,
            peer,
            path_mtu: mtu,
        });
    }

    /// The outbound worker verified an ICMP too-big (or the kernel reported its own
    /// device MTU): record it, tell the inbound worker and status.
    pub(super) fn path_mtu_learned(&mut self, peer: IpAddr, mtu: u16, source: PathMtuSource) {
        let now = Instant::now();
        if self.path_mtus.learn(&self.data, peer, mtu, source, now) {
            self.data.stats.pmtu_applied.fetch_add(1, Relaxed);
            self.book.path_mtu_changed(peer, mtu);
            tracing::info!(
                "path MTU to {peer} is {mtu} ({source}): tunnels to it carry inner packets \
                 of at most {} octets now",
                self.book
                    .inner_mtu_to(peer)
                    .map_or_else(|| "?".to_owned(), |m| m.to_string())
            );
        }
    }

    /// The configured path MTU to `peer` again (a check found the path large
    /// enough, or no tunnel to it is left).
    pub(super) fn path_mtu_restored(&mut self, peer: IpAddr) {
        let configured = self.config.daemon.path_mtu;
        if self.path_mtus.forget(&self.data, peer) {
            self.book.path_mtu_changed(peer, configured);
            tracing::info!("path MTU to {peer}: the configured {configured} again");
        }
    }
}
