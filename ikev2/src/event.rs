//! What an [`Endpoint`](crate::Endpoint) reports: SAs coming up and going down, and
//! failures with their phase and cause. CHILD SA events carry everything the ESP data
//! plane needs to install the SA pair.
//!
//! Key material is in [`SecretBytes`]: zeroized on drop, redacted by `Debug`.

use core::fmt;
use core::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::config::Identity;
use crate::crypto::algorithms::{EspSuite, IkeSuite};
use crate::crypto::secret::SecretBytes;
use crate::error::{Cause, Phase};
use crate::nat::NatStatus;
use crate::ts::TrafficSelector;
use crate::wire::IkeSpi;

/// Identifies one IKE SA of an endpoint for its whole life (SPIs change on rekey).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IkeSaId(pub u64);

impl fmt::Display for IkeSaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Something the daemon must act on or report.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    IkeSaUp(IkeSaUp),
    IkeSaDown(IkeSaDown),
    ChildSaInstalled(Box<ChildSaInstalled>),
    /// A rekeyed CHILD SA's replacement now carries our outbound traffic: send with
    /// `spi_out` instead of `old_spi_out` (make-before-break, RFC 7296 section 2.8).
    ChildSaOutboundSwitched(ChildSaOutboundSwitched),
    ChildSaDeleted(ChildSaDeleted),
    /// The IKE SA was rekeyed (RFC 7296 section 2.18): same [`IkeSaId`], new SPIs
    /// and keys; its CHILD SAs moved to it unchanged.
    IkeSaRekeyed(IkeSaRekeyed),
    /// `export_keys` (debugging): the keys of an IKE SA that came up or was rekeyed,
    /// for Wireshark's `ikev2_decryption_table`.
    IkeSaKeys(Box<IkeSaKeys>),
    /// `dpd_action = trap`: the IKE SA of `conn` died (the peer stopped answering, or
    /// its hard lifetime passed); install a trap policy and call `initiate` on the
    /// next outbound packet that matches it.
    Trap {
        conn: String,
    },
    /// An exchange failed. The IKE SA is gone unless the failure only concerned a
    /// CHILD SA (then `ike_sa_kept` is set).
    Failed(Failure),
    /// A path MTU probe ([`crate::Endpoint::probe_path_mtu`]) completed.
    PathProbed(PathProbed),
    /// An authenticated request of an established IKE SA came from a new address
    /// or port (the peer's NAT mapping changed, RFC 7296 section 2.23): the IKE SA
    /// answers there from now on; the CHILD SAs' outbound ESP (`spis_out`) must go
    /// there too.
    PeerAddressChanged(PeerAddressChanged),
    /// Resolve these DNS names of connection `conn` now (an initiation waits for
    /// them) and pass the answers to [`crate::Endpoint::resolved`].
    Resolve {
        conn: String,
        names: Vec<String>,
    },
    /// A connection whose peer stopped answering is up again: with another of its
    /// `remote_addrs` (a failover) or with the same one.
    Reconnected(crate::remotes::Reconnected),
}

/// What the resolver said about one DNS name (for
/// [`crate::Endpoint::resolved`]): its addresses, or why there are none.
pub type DnsAnswer = (String, Result<Vec<core::net::IpAddr>, String>);

/// See [`Event::PeerAddressChanged`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerAddressChanged {
    pub conn: String,
    pub ike_sa: IkeSaId,
    pub old: SocketAddr,
    pub new: SocketAddr,
    pub spis_out: Vec<u32>,
}

/// An IKE SA is established (IKE_AUTH completed and verified).
#[derive(Debug, Clone)]
pub struct IkeSaUp {
    pub conn: String,
    pub ike_sa: IkeSaId,
    pub spi_i: IkeSpi,
    pub spi_r: IkeSpi,
    /// Whether we are the original initiator.
    pub initiator: bool,
    pub suite: IkeSuite,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub local_id: Identity,
    pub remote_id: Identity,
    pub nat: NatStatus,
}

/// An established IKE SA is gone. Its CHILD SAs were reported deleted just before.
#[derive(Debug, Clone)]
pub struct IkeSaDown {
    pub conn: String,
    pub ike_sa: IkeSaId,
    pub spi_i: IkeSpi,
    pub spi_r: IkeSpi,
    pub reason: DownReason,
}

/// Why an established IKE SA went down.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DownReason {
    /// `terminate` was called.
    Terminated,
    /// The peer deleted it.
    DeletedByPeer,
    /// The peer started over with INITIAL_CONTACT, so this older SA is stale.
    Replaced,
    /// An exchange on it failed (see the [`Event::Failed`] just before).
    Failed(Cause),
    /// Its hard lifetime (`over_time` after the jittered rekey time) passed without a
    /// successful rekey.
    Expired,
}

impl fmt::Display for DownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DownReason::Terminated => f.write_str("terminated locally"),
            DownReason::DeletedByPeer => f.write_str("deleted by peer"),
            DownReason::Replaced => {
                f.write_str("replaced: peer sent INITIAL_CONTACT in a new IKE SA")
            }
            DownReason::Failed(c) => write!(f, "failed: {c}"),
            DownReason::Expired => {
                f.write_str("expired: not rekeyed within rekey_time + over_time")
            }
        }
    }
}

/// An IKE SA's encryption and integrity keys (only with `export_keys`).
#[derive(Debug, Clone)]
pub struct IkeSaKeys {
    pub conn: String,
    pub ike_sa: IkeSaId,
    pub spi_i: IkeSpi,
    pub spi_r: IkeSpi,
    pub suite: IkeSuite,
    pub sk_ei: SecretBytes,
    pub sk_er: SecretBytes,
    /// Empty for AEAD suites.
    pub sk_ai: SecretBytes,
    pub sk_ar: SecretBytes,
}

/// The keys of a CHILD SA pair, already split by direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildSaKeys {
    /// Decrypts ESP we receive (SPI `spi_in`). AEAD keys include the 4-octet salt.
    pub encr_in: SecretBytes,
    /// Empty for AEAD suites.
    pub integ_in: SecretBytes,
    pub encr_out: SecretBytes,
    pub integ_out: SecretBytes,
}

/// Rekey and hard-expiry times of a CHILD SA, from its configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildLifetimes {
    pub rekey_time: Duration,
    pub life_time: Duration,
}

/// A CHILD SA pair was negotiated: install the inbound SA (`spi_in`) and the outbound
/// SA (`spi_out`).
#[derive(Debug, Clone)]
pub struct ChildSaInstalled {
    pub conn: String,
    pub child: String,
    pub ike_sa: IkeSaId,
    /// Our SPI: the peer sends ESP with it.
    pub spi_in: u32,
    /// The peer's SPI: we send ESP with it.
    pub spi_out: u32,
    pub suite: EspSuite,
    pub keys: ChildSaKeys,
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
    /// ESP in UDP (RFC 3948) on `local`/`remote` (port 4500): a NAT was detected or
    /// encapsulation forced.
    pub encap: bool,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub lifetimes: ChildLifetimes,
    /// Whether we initiated the exchange that created it.
    pub initiator: bool,
    /// A rekey: the inbound SPI of the CHILD SA this one replaces. Install the
    /// inbound SA at once (the peer may use it already) and keep the old one.
    pub rekey_of: Option<u32>,
    /// Send with `spi_out` at once. False for a rekey: outbound switches with
    /// [`Event::ChildSaOutboundSwitched`] once the peer has the new inbound SA.
    pub outbound: bool,
}

/// Outbound traffic of a rekeyed CHILD SA moves to its replacement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildSaOutboundSwitched {
    pub conn: String,
    pub child: String,
    pub ike_sa: IkeSaId,
    /// The outbound SPI no longer used (0 if that SA is already gone).
    pub old_spi_out: u32,
    pub spi_in: u32,
    pub spi_out: u32,
}

/// The outcome of a path MTU probe: whether a datagram of `size` octets (the outer
/// IP packet, headers included) reached the peer, as far as one probe can tell (an
/// answer lost on the way back reads as "did not fit": repeat before believing it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathProbed {
    pub conn: String,
    pub ike_sa: IkeSaId,
    /// The size sent (the largest the cipher's block size allows up to the size asked
    /// for).
    pub size: usize,
    pub fits: bool,
}

/// An IKE SA has new SPIs and keys (the old IKE SA is deleted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IkeSaRekeyed {
    pub conn: String,
    pub ike_sa: IkeSaId,
    pub old_spi_i: IkeSpi,
    pub old_spi_r: IkeSpi,
    pub spi_i: IkeSpi,
    pub spi_r: IkeSpi,
}

/// What the ESP data plane reports about one CHILD SA pair
/// ([`crate::Endpoint::handle_usage`]). Counts are totals since installation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageReport {
    /// Our inbound SPI of the pair (either SPI identifies it).
    pub spi_in: u32,
    pub spi_out: u32,
    /// Octets in either direction, whichever is larger.
    pub bytes: u64,
    /// Packets in either direction, whichever is larger.
    pub packets: u64,
    /// When the last ESP packet arrived on the inbound SA (postpones DPD).
    pub last_inbound: Option<std::time::Instant>,
    /// The data plane's own soft limit: rekey now.
    pub soft_limit_reached: bool,
    /// The data plane's hard limit: the SA must go now.
    pub hard_limit_reached: bool,
    /// The outbound sequence number is about to wrap (RFC 4303 section 3.3.3): rekey.
    pub seq_exhausted: bool,
}

/// A CHILD SA pair is gone (remove both SAs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildSaDeleted {
    pub conn: String,
    pub child: String,
    pub ike_sa: IkeSaId,
    pub spi_in: u32,
    pub spi_out: u32,
}

/// An exchange failed.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The connection, when known (a responder may fail before it picks one).
    pub conn: Option<String>,
    pub ike_sa: Option<IkeSaId>,
    /// The CHILD SA config concerned, if the failure is about a CHILD SA.
    pub child: Option<String>,
    pub phase: Phase,
    pub remote: SocketAddr,
    pub cause: Cause,
    /// Whether we initiated the failed exchange.
    pub initiator: bool,
    /// The IKE SA survived (only a CHILD SA failed, or a rekey was refused).
    pub ike_sa_kept: bool,
    /// The failed work is tried again this long after the failure: a rekey after
    /// strongSwan's `RETRY_INTERVAL` minus a random `RETRY_JITTER` (6 to 15 s), until
    /// the SA's hard lifetime; an unanswered IKE SA setup at once (zero) while
    /// `keyingtries` allows. `None` when nothing is retried.
    pub retry_in: Option<Duration>,
    /// The IKE SA setup moves on to this next address of the connection's
    /// `remote_addrs` (this one did not answer).
    pub next_remote: Option<IpAddr>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(c) = &self.conn {
            write!(f, "{c}: ")?;
        }
        if let Some(c) = &self.child {
            write!(f, "CHILD SA {c}: ")?;
        }
        write!(
            f,
            "{} with {} failed: {}",
            self.phase, self.remote, self.cause
        )?;
        if let Some(next) = self.next_remote {
            return write!(f, "; trying {next} next");
        }
        match self.retry_in {
            Some(t) if t.is_zero() => f.write_str("; trying again")?,
            Some(t) => write!(f, "; retrying in {} s", t.as_secs_f64().round())?,
            None => {}
        }
        Ok(())
    }
}
