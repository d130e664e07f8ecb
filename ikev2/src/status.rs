//! What the endpoint reports about itself: counters ([`Stats`]) and snapshots of its
//! SAs for status displays. Plain data; nothing here changes an SA.

use core::fmt;
use core::net::SocketAddr;

use crate::config::Identity;
use crate::crypto::algorithms::{EspSuite, IkeSuite};
use crate::event::IkeSaId;
use crate::nat::NatStatus;
use crate::ts::TrafficSelector;
use crate::wire::IkeSpi;

/// Counters of what the endpoint did with its input. Every dropped datagram is
/// counted under exactly one `dropped_*` reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    pub received: u64,
    pub sent: u64,
    pub dropped_too_large: u64,
    /// Not a well-formed IKE message (header, lengths, payload syntax, decryption
    /// framing).
    pub dropped_parse_error: u64,
    /// No IKE SA with our SPI, or the peer's SPI does not match.
    pub dropped_unknown_spi: u64,
    /// ICV or AEAD tag did not verify.
    pub dropped_bad_icv: u64,
    /// A request whose message ID is neither the expected one nor the last answered.
    pub dropped_out_of_window: u64,
    /// A retransmitted request we answered already and do not answer again (later
    /// fragments of a retransmission, a retransmitted IKE_SA_INIT of an established SA).
    pub dropped_duplicate: u64,
    /// A response that answers nothing we sent, or a message in the wrong state.
    pub dropped_unexpected: u64,
    /// Well-formed but against the protocol (payload rules, flags, nonsense answers).
    pub dropped_invalid: u64,
    /// IKE_SA_INIT without a valid cookie while cookies are required.
    pub dropped_cookie_required: u64,
    pub dropped_half_open_limit: u64,
    pub dropped_block_threshold: u64,
    pub dropped_fragment_limit: u64,
    pub dropped_fragment_timeout: u64,
    pub retransmitted_requests: u64,
    pub retransmitted_responses: u64,
    pub fragmented_messages: u64,
    pub reassembled_messages: u64,
    /// Path MTU probes sent, and answered before they were replaced by an unpadded
    /// request (see `Endpoint::probe_path_mtu`).
    pub path_probes_sent: u64,
    pub path_probes_answered: u64,
    pub cookies_sent: u64,
    pub cookie_retries: u64,
    pub invalid_ke_sent: u64,
    pub invalid_ke_retries: u64,
    pub nat_detected: u64,
    pub half_open_timeouts: u64,
    pub child_sas_installed: u64,
    pub rekeys_refused: u64,
    /// Diffie-Hellman shared secrets computed (IKE_SA_INIT, IKE SA rekeys, CHILD SAs
    /// with PFS), as initiator or responder: the expensive work a flood aims at.
    pub dh_computations: u64,
    /// A connection whose peer stopped answering came up with another of its
    /// `remote_addrs`.
    pub failovers: u64,
    /// ICMP errors quoting one of our IKE_SA_INIT requests (port or host
    /// unreachable) that moved the setup on to the next address.
    pub unreachable_reports: u64,
    /// Established peers whose authenticated requests came from a new address or
    /// port (their NAT mapping changed), followed.
    pub peer_mapping_changes: u64,
}

/// One IKE SA as [`Endpoint::ike_sas`](crate::Endpoint::ike_sas) shows it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IkeSaStatus {
    pub id: IkeSaId,
    pub conn: String,
    pub state: IkeSaState,
    pub initiator: bool,
    pub spi_i: IkeSpi,
    pub spi_r: IkeSpi,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub local_id: Identity,
    pub remote_id: Identity,
    /// Once IKE_SA_INIT completed.
    pub suite: Option<IkeSuite>,
    /// How we and the peer authenticated, once IKE_AUTH completed (`pre-shared
    /// key`, `ECDSA with SHA-256, certificate CN=gw-b`).
    pub auth_local: Option<String>,
    pub auth_remote: Option<String>,
    pub nat: NatStatus,
    pub children: Vec<ChildSaStatus>,
}

/// One CHILD SA pair in [`IkeSaStatus`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ChildSaStatus {
    pub name: String,
    pub state: ChildSaState,
    /// Our outbound traffic uses this SA.
    pub outbound: bool,
    pub spi_in: u32,
    pub spi_out: u32,
    pub suite: EspSuite,
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
}

/// What [`Endpoint::reload`](crate::Endpoint::reload) did, connection by connection (names in the order of
/// the new configuration; removed ones in the order of the old).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadSummary {
    /// New connections: they can be initiated and answered now.
    pub added: Vec<String>,
    /// Connections no longer configured: their IKE SAs were terminated (Delete sent,
    /// events as for [`Endpoint::terminate`](crate::Endpoint::terminate)).
    pub removed: Vec<String>,
    /// Connections configured differently: their IKE SAs were terminated like the
    /// removed ones; nothing is initiated, the daemon decides (e.g. by `start_action`).
    pub changed: Vec<String>,
    /// Connections configured exactly as before: their SAs, timers and state are
    /// untouched.
    pub unchanged: Vec<String>,
    /// Connections whose certificates, keys, CAs or CRLs changed and nothing else:
    /// their SAs stay (as strongSwan keeps them when credentials are reloaded); new
    /// IKE SAs authenticate with the new credentials.
    pub credentials: Vec<String>,
}

/// Where an IKE SA is, as [`IkeSaStatus`] shows it. `Display` gives the upper-case
/// names status displays print (`ESTABLISHED` ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IkeSaState {
    /// Initiator: IKE_SA_INIT sent, no keys yet.
    Connecting,
    /// Keys derived, IKE_AUTH in progress (a responder SA is "half-open").
    Authenticating,
    /// IKE_AUTH verified.
    Established,
    /// Our Delete is in flight.
    Deleting,
    /// A ghost: the old incarnation of a rekeyed IKE SA, waiting for the peer's
    /// Delete and answering nothing else but retransmissions (never listed by
    /// `ike_sas`).
    Rekeyed,
    /// Gone (never listed: the endpoint removes it at once).
    Dead,
}

impl IkeSaState {
    /// The upper-case name, as `Display` writes it.
    pub fn name(self) -> &'static str {
        match self {
            IkeSaState::Connecting => "CONNECTING",
            IkeSaState::Authenticating => "AUTHENTICATING",
            IkeSaState::Established => "ESTABLISHED",
            IkeSaState::Deleting => "DELETING",
            IkeSaState::Rekeyed => "REKEYED",
            IkeSaState::Dead => "DEAD",
        }
    }
}

impl fmt::Display for IkeSaState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a CHILD SA pair is, as [`ChildSaStatus`] shows it. `Display` gives the
/// upper-case names status displays print (`INSTALLED` ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChildSaState {
    /// In use.
    Installed,
    /// Our rekey of it is in flight.
    Rekeying,
    /// Replaced by a rekey, waiting for the Delete.
    Rekeyed,
    /// Our Delete of it is in flight.
    Deleting,
    /// Deleted; its inbound SA is kept `delete_rekeyed_delay`.
    Lingering,
}

impl ChildSaState {
    /// The upper-case name, as `Display` writes it.
    pub fn name(self) -> &'static str {
        match self {
            ChildSaState::Installed => "INSTALLED",
            ChildSaState::Rekeying => "REKEYING",
            ChildSaState::Rekeyed => "REKEYED",
            ChildSaState::Deleting => "DELETING",
            ChildSaState::Lingering => "LINGERING",
        }
    }
}

impl fmt::Display for ChildSaState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
