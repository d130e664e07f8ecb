//! NAT detection (RFC 7296 section 2.23): the NAT_DETECTION_SOURCE_IP and
//! NAT_DETECTION_DESTINATION_IP hashes we send, and what the peer's hashes tell us.
//!
//! Each hash is `SHA-1(SPIi | SPIr | IP address | port)`, the SPIs as on the wire,
//! the address in network byte order (4 or 16 octets), the port as 2 octets in
//! network byte order. In the IKE_SA_INIT request SPIr is zero; the response uses
//! both SPIs. A mismatch for the source hash means the sender is behind a NAT, for
//! the destination hash that we are (RFC 7296 section 2.23; strongSwan `ike_natd.c`).
//!
//! This module only hashes and compares. It never switches ports to 4500, never
//! decides on UDP encapsulation or keepalives, and never parses messages beyond
//! picking the two notifies out of a payload list ([`received_hashes`]).
//!
//! An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, as a dual-stack socket reports
//! IPv4 peers) is hashed as the IPv4 address the peer sees.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use rand_core::{CryptoRng, RngCore};
use sha1::{Digest, Sha1};

use crate::wire::{IkeSpi, NAT_DETECTION_HASH_LEN, NotifyType, Payload};

/// Length of a NAT detection hash (SHA-1).
pub const NAT_HASH_LEN: usize = 20;

const _: () = assert!(NAT_HASH_LEN == NAT_DETECTION_HASH_LEN);

/// `SHA-1(SPIi | SPIr | IP address | port)`, port in network byte order (RFC 7296
/// section 2.23). In the IKE_SA_INIT request SPIr is zero.
pub fn nat_detection_hash(spi_i: IkeSpi, spi_r: IkeSpi, addr: SocketAddr) -> [u8; NAT_HASH_LEN] {
    let mut h = Sha1::new();
    h.update(spi_i.to_bytes());
    h.update(spi_r.to_bytes());
    match addr.ip().to_canonical() {
        IpAddr::V4(a) => h.update(a.octets()),
        IpAddr::V6(a) => h.update(a.octets()),
    }
    h.update(addr.port().to_be_bytes());
    h.finalize().into()
}

/// What NAT detection found, from our point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NatStatus {
    /// Our address or port is translated (the peer's destination hash did not match
    /// `local`): we must send keepalives (strongSwan's `COND_NAT_HERE`).
    pub local_behind_nat: bool,
    /// The peer's address or port is translated (no source hash of the peer matched
    /// `remote`), or the peer pretends so to force UDP encapsulation (strongSwan's
    /// `COND_NAT_THERE`).
    pub remote_behind_nat: bool,
}

impl NatStatus {
    /// Whether there is a NAT on either side: ESP must then be UDP-encapsulated
    /// (RFC 3948) and IKE moves to port 4500.
    pub fn any(&self) -> bool {
        self.local_behind_nat || self.remote_behind_nat
    }
}

/// Evaluates the peer's notifies as received on (`local`, `remote`): the destination
/// address and port of the datagram, and its source.
///
/// `source_hashes` are the peer's NAT_DETECTION_SOURCE_IP hashes (RFC 7296 allows
/// several, one per address of a multihomed sender): if none equals the hash of
/// `remote` the peer is behind a NAT. `destination_hash` is its
/// NAT_DETECTION_DESTINATION_IP: if it differs from the hash of `local` we are.
///
/// `None` (no detection, the peer does not support NAT traversal) unless both kinds
/// of notify are present, as strongSwan requires (`src_seen && dst_seen`).
pub fn evaluate(
    spi_i: IkeSpi,
    spi_r: IkeSpi,
    local: SocketAddr,
    remote: SocketAddr,
    source_hashes: &[[u8; NAT_HASH_LEN]],
    destination_hash: Option<[u8; NAT_HASH_LEN]>,
) -> Option<NatStatus> {
    let destination_hash = destination_hash?;
    if source_hashes.is_empty() {
        return None;
    }
    let remote_hash = nat_detection_hash(spi_i, spi_r, remote);
    let local_hash = nat_detection_hash(spi_i, spi_r, local);
    Some(NatStatus {
        local_behind_nat: destination_hash != local_hash,
        remote_behind_nat: !source_hashes.contains(&remote_hash),
    })
}

/// The (NAT_DETECTION_SOURCE_IP, NAT_DETECTION_DESTINATION_IP) data we send from
/// `local` to `remote`.
///
/// With `fake_source` (strongSwan's `encap = yes`, or a data plane that can only do
/// UDP-encapsulated ESP such as kernel-libipsec) the source hash is deliberately
/// wrong, so the peer thinks we are behind a NAT and both sides encapsulate ESP in
/// UDP. strongSwan does this by hashing a random IPv4 address with port 0
/// (`ike_natd.c` `build_natd_payload`); so do we, with 4 octets from `rng`
/// (strongSwan keeps one random address per process, we draw one per call; the peer
/// cannot tell). An unspecified `local` address (`0.0.0.0`, `::`) is faked the same
/// way, as strongSwan does for `%any`.
pub fn our_hashes(
    spi_i: IkeSpi,
    spi_r: IkeSpi,
    local: SocketAddr,
    remote: SocketAddr,
    fake_source: bool,
    rng: &mut (impl RngCore + CryptoRng),
) -> ([u8; NAT_HASH_LEN], [u8; NAT_HASH_LEN]) {
    let source = if fake_source || local.ip().is_unspecified() {
        let mut octets = [0u8; 4];
        rng.fill_bytes(&mut octets);
        nat_detection_hash(
            spi_i,
            spi_r,
            SocketAddr::new(Ipv4Addr::from(octets).into(), 0),
        )
    } else {
        nat_detection_hash(spi_i, spi_r, local)
    };
    (source, nat_detection_hash(spi_i, spi_r, remote))
}

/// The NAT_DETECTION_SOURCE_IP hashes (all of them, in order) and the first
/// NAT_DETECTION_DESTINATION_IP hash among `payloads`, ready for [`evaluate`].
/// Notifies with data of the wrong length are ignored (the wire layer already
/// refuses them).
pub fn received_hashes(
    payloads: &[Payload<'_>],
) -> (Vec<[u8; NAT_HASH_LEN]>, Option<[u8; NAT_HASH_LEN]>) {
    let mut sources = Vec::new();
    let mut destination = None;
    for p in payloads {
        let Payload::Notify(n) = p else { continue };
        let Some(hash) = n.nat_detection_hash() else {
            continue;
        };
        if n.ty == NotifyType::NAT_DETECTION_SOURCE_IP {
            sources.push(*hash);
        } else if destination.is_none() {
            destination = Some(*hash);
        }
    }
    (sources, destination)
}
