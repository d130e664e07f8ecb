//! Configuration of an [`Endpoint`](crate::Endpoint): endpoint-wide limits and timers,
//! connections (one IKE SA template each, like a swanctl.conf `connections.<name>`
//! section), their children, identities and pre-shared keys.
//!
//! These are plain values, independent of any file format: the daemon maps its TOML
//! onto them. Defaults follow strongSwan 5.9 (`charon.*` options and swanctl.conf
//! defaults); each field says which option it mirrors.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use core::str::FromStr;
use std::time::Duration;

use crate::crypto::proposal::Proposal;
use crate::crypto::secret::SecretBytes;
use crate::crypto::sk::FragmentLimits;
use crate::ts::TsSpec;
use crate::wire::{Id, IdType, IdValue, ProtocolId};

/// The IKE port (RFC 7296 section 2).
pub const IKE_PORT: u16 = 500;
/// The NAT traversal port (RFC 3948); messages on it carry the non-ESP marker.
pub const NAT_T_PORT: u16 = 4500;

/// Endpoint-wide settings.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    pub connections: Vec<ConnectionConfig>,
    /// Pre-shared keys, looked up by the local and remote identity (swanctl.conf
    /// `secrets.ike-*`).
    pub secrets: Vec<SharedSecret>,
    /// Half-open IKE SAs (responder, before IKE_AUTH completes) above which an
    /// IKE_SA_INIT request must carry a valid cookie (RFC 7296 section 2.6);
    /// `charon.cookie_threshold` = 10. `usize::MAX` disables cookies.
    pub cookie_threshold: usize,
    /// Half-open IKE SAs from one peer IP above which its IKE_SA_INIT requests are
    /// dropped (`charon.block_threshold` = 5). 0 disables the limit.
    pub block_threshold: usize,
    /// Half-open IKE SAs in total above which IKE_SA_INIT requests are dropped
    /// (`charon.init_limit_half_open`, 0 = unlimited in strongSwan; 1000 here).
    /// 0 disables the limit.
    pub half_open_limit: usize,
    /// A responder's half-open IKE SA is deleted if IKE_AUTH has not completed after
    /// this long (`charon.half_open_timeout` = 30 s).
    pub half_open_timeout: Duration,
    pub retransmit: RetransmitConfig,
    /// Largest IP datagram of an IKE message we send once fragmentation is
    /// negotiated (`charon.fragment_size` = 1280); longer SK messages are cut into
    /// SKF fragments (RFC 7383).
    pub fragment_size: usize,
    /// Limits on reassembling received fragments.
    pub fragment_limits: FragmentLimits,
    /// Fragments of an incomplete message are dropped after this long without a new
    /// fragment.
    pub reassembly_timeout: Duration,
    /// Largest datagram accepted (`charon.max_packet` = 10000).
    pub max_packet: usize,
    /// NAT-keepalive interval when we are behind a NAT (`charon.keep_alive` = 20 s,
    /// RFC 3948 section 4); zero disables keepalives.
    pub keep_alive: Duration,
    /// After a rekeyed CHILD SA is deleted, its inbound SA stays installed this long
    /// so packets still in flight are not lost (`charon.delete_rekeyed_delay` = 5 s).
    pub delete_rekeyed_delay: Duration,
    /// Debugging only: report every IKE SA's SK_e*/SK_a* keys in
    /// [`crate::event::Event::IkeSaKeys`] so the daemon can write Wireshark's
    /// decryption tables (strongSwan's `save-keys` plugin). Off by default: keys
    /// otherwise never leave the SA.
    pub export_keys: bool,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        Self {
            connections: Vec::new(),
            secrets: Vec::new(),
            cookie_threshold: 10,
            block_threshold: 5,
            half_open_limit: 1000,
            half_open_timeout: Duration::from_secs(30),
            retransmit: RetransmitConfig::default(),
            fragment_size: 1280,
            fragment_limits: FragmentLimits::default(),
            reassembly_timeout: Duration::from_secs(30),
            max_packet: 10_000,
            keep_alive: Duration::from_secs(20),
            delete_rekeyed_delay: Duration::from_secs(5),
            export_keys: false,
        }
    }
}

impl EndpointConfig {
    /// The pre-shared key for authenticating between `me` and `other`, chosen like
    /// strongSwan's credential manager: a secret qualifies if either identity is one
    /// of its owners (a secret without owners qualifies for everyone); the one whose
    /// owners match best wins, the first in configuration order on a tie.
    pub fn find_psk(&self, me: &Identity, other: &Identity) -> Option<&SecretBytes> {
        let mut best: Option<(u8, &SecretBytes)> = None;
        for s in &self.secrets {
            let m = s.owner_match(me);
            let o = s.owner_match(other);
            if m == IdMatch::None && o == IdMatch::None {
                continue;
            }
            let score = m as u8 + o as u8;
            if best.is_none_or(|(b, _)| score > b) {
                best = Some((score, &s.secret));
            }
        }
        best.map(|(_, s)| s)
    }
}

/// strongSwan's retransmission settings (`charon.retransmit_*`). Request `n` (0 for
/// the first transmission) waits `timeout * base^n`; after `tries` retransmissions
/// and their wait the exchange fails. The defaults send at 0, 4, 11.2, 24.2, 47.5 and
/// 89.5 s and give up at 165 s.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetransmitConfig {
    pub timeout: Duration,
    pub base: f64,
    pub tries: u32,
    /// Upper bound of a single wait (`charon.retransmit_limit`, none by default).
    pub limit: Option<Duration>,
}

impl Default for RetransmitConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(4),
            base: 1.8,
            tries: 5,
            limit: None,
        }
    }
}

impl RetransmitConfig {
    /// How long to wait after transmission `n` (0 = the first one).
    pub fn wait(&self, n: u32) -> Duration {
        let exp = i32::try_from(n).unwrap_or(i32::MAX);
        let secs = self.timeout.as_secs_f64() * self.base.max(1.0).powi(exp);
        // Far beyond any useful value; keeps from_secs_f64 from panicking.
        let d = Duration::from_secs_f64(secs.clamp(0.0, 1e9));
        match self.limit {
            Some(l) => d.min(l),
            None => d,
        }
    }

    /// Time from the first transmission until the exchange is given up.
    pub fn total(&self) -> Duration {
        (0..=self.tries).map(|n| self.wait(n)).sum()
    }
}

/// IKE fragmentation policy (swanctl.conf `fragmentation`, RFC 7383).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fragmentation {
    /// Neither announce support nor fragment; received fragments are still
    /// reassembled.
    No,
    /// Announce support and accept fragments, but never fragment our messages.
    Accept,
    /// Announce support and fragment if the peer supports it (strongSwan's default).
    #[default]
    Yes,
}

/// Childless IKE_AUTH (RFC 6023, swanctl.conf `childless`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Childless {
    /// Responder: accept an IKE_AUTH without a CHILD SA. Initiator: create the first
    /// CHILD SA in IKE_AUTH. strongSwan's default.
    #[default]
    Allow,
    /// Initiator: create CHILD SAs with CREATE_CHILD_SA after a childless IKE_AUTH if
    /// the responder announced support. Responder: as `Allow`.
    Prefer,
    /// Initiator: always childless (fail if the responder does not support it).
    /// Responder: reject IKE_AUTH requests that create a CHILD SA.
    Force,
    /// Responder: reject childless IKE_AUTH requests (INVALID_SYNTAX).
    /// Initiator: as `Allow`.
    Never,
}

/// One connection: how to set up an IKE SA with one peer (or a class of peers).
///
/// Equality compares every field (children included); [`crate::Endpoint::reload`]
/// uses it to tell changed connections from unchanged ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionConfig {
    pub name: String,
    /// Our addresses; empty means any (as responder). The initiator sends from the
    /// first one (or from the unspecified address, which the daemon's socket fills in;
    /// NAT detection then reports us as behind a NAT).
    pub local_addrs: Vec<IpAddr>,
    /// The peer's addresses; empty (with `remote_ranges` empty too) means any
    /// (responder only). The initiator sends to the first one.
    pub remote_addrs: Vec<IpAddr>,
    /// Ranges the peer may come from (swanctl.conf `remote_addrs = 198.51.100.0/24`):
    /// as responder the connection matches a peer inside one of them; an initiator
    /// needs an address in `remote_addrs`, a range alone cannot be initiated to.
    pub remote_ranges: Vec<(IpAddr, u8)>,
    /// When a DNS name is among the peer's addresses: all of them in configured
    /// order (the initiator's candidate list, names resolved at each initiation:
    /// [`Event::Resolve`](crate::event::Event::Resolve)); `remote_addrs` then holds
    /// the literal addresses only. Empty otherwise.
    pub remote_hosts: Vec<RemoteHost>,
    pub local_port: u16,
    pub remote_port: u16,
    /// Our identity; [`Identity::Any`] means our IP address (strongSwan's default).
    pub local_id: Identity,
    /// The identity the peer must prove; [`Identity::Any`] accepts any.
    pub remote_id: Identity,
    /// IKE proposals, in preference order.
    pub proposals: Vec<Proposal>,
    /// Force UDP encapsulation by faking our NAT_DETECTION_SOURCE_IP (swanctl.conf
    /// `encap`), so both sides move to port 4500 and encapsulate ESP.
    pub encap: bool,
    pub fragmentation: Fragmentation,
    pub childless: Childless,
    /// Send INITIAL_CONTACT in IKE_AUTH when we have no other IKE SA with this peer
    /// (strongSwan does unless `unique = never`).
    pub initial_contact: bool,
    pub children: Vec<ChildConfig>,
    /// IKE SA rekey interval (`rekey_time`, 4 h; zero disables IKE rekeying).
    pub rekey_time: Duration,
    /// How long after the (jittered) rekey time the IKE SA is removed if rekeying
    /// failed (`over_time`; `None` = 10 % of `rekey_time`, as strongSwan).
    pub over_time: Option<Duration>,
    /// The IKE rekey happens up to this much before `rekey_time`, chosen at random
    /// (`rand_time`; `None` = `over_time`, as strongSwan).
    pub rand_time: Option<Duration>,
    /// Send an empty INFORMATIONAL when nothing was received from the peer (IKE or
    /// ESP, see [`crate::UsageReport`]) for this long (`dpd_delay`; zero disables).
    pub dpd_delay: Duration,
    /// How long an unanswered liveness check may take before the peer is declared
    /// dead (`dpd_timeout`, as libreswan's): its retransmissions are packed into this
    /// window. `None`: 5 × `dpd_delay`. Never longer than the retransmission budget.
    pub dpd_timeout: Option<Duration>,
    /// NAT-keepalive interval of this connection's IKE SAs when we are behind a NAT
    /// (`None`: the endpoint's `keep_alive`; zero: none).
    pub keep_alive: Option<Duration>,
    /// What to do when the peer is found dead (`dpd_action`).
    pub dpd_action: DpdAction,
    /// What to do when the peer deletes the established IKE SA (`close_action`;
    /// `Clear` is swanctl's `none`, `Restart` its `start`). As strongSwan warns, do
    /// not set `Restart` on both ends: each would re-initiate.
    pub close_action: DpdAction,
    /// How many times to try to set up the IKE SA when the peer does not answer
    /// IKE_SA_INIT or IKE_AUTH (`keyingtries`, 1; 0 = forever). Each try waits out
    /// the retransmission budget (165 s by default), then the next starts at once, as
    /// strongSwan's `ike_sa.c` `retransmit()` does. With `dpd_action = restart` and 0,
    /// a tunnel comes back whenever the peer does.
    pub keyingtries: u32,
    /// How we authenticate (`local.auth`): a PSK, or a signature with our key and
    /// certificate.
    pub local_auth: LocalAuth,
    /// How the peer must authenticate (`remote.auth`).
    pub remote_auth: RemoteAuth,
    /// When our certificates go out (`send_cert`).
    pub send_cert: SendCert,
    /// Whether we ask for the peer's certificate with a CERTREQ naming our CAs
    /// (`send_certreq`).
    pub send_certreq: bool,
}

/// swanctl.conf's `send_cert`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SendCert {
    /// Only when the peer sent a CERTREQ (strongSwan's default).
    #[default]
    IfAsked,
    Always,
    /// Never: the peer has our certificate already.
    Never,
}

/// Our side of IKE_AUTH.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum LocalAuth {
    /// `auth = "psk"`: the PSK found by both identities.
    #[default]
    Psk,
    /// `auth = "pubkey"`: we sign with this key and send this certificate chain.
    Pubkey(std::sync::Arc<LocalCredentials>),
}

/// Our certificate chain (end entity first, then intermediates; no root) and the
/// private key of the end entity. An empty chain: a raw public key (`pubkeys`), no
/// certificate sent.
#[derive(Debug)]
pub struct LocalCredentials {
    pub chain: Vec<crate::pki::Certificate>,
    /// Shared: several connections may sign with one key.
    pub key: std::sync::Arc<crate::crypto::signature::PrivateKey>,
    /// An RSA key signs with RSASSA-PSS (swanctl `auth = rsa/pss`), not PKCS#1 v1.5.
    pub rsa_pss: bool,
}

impl PartialEq for LocalCredentials {
    fn eq(&self, other: &Self) -> bool {
        self.chain == other.chain
            && self.key.spki() == other.key.spki()
            && self.rsa_pss == other.rsa_pss
    }
}

impl Eq for LocalCredentials {}

/// The peer's side of IKE_AUTH.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum RemoteAuth {
    #[default]
    Psk,
    /// A signature by the key of a certificate that chains to one of these CAs (and
    /// carries the peer's ID), under this revocation policy.
    Pubkey {
        trust: std::sync::Arc<crate::pki::TrustStore>,
        revocation: crate::pki::Revocation,
    },
}

/// What happens when a liveness check (or any exchange) times out, or the IKE SA
/// reaches its hard lifetime without a successful rekey (swanctl.conf `dpd_action`).
/// One entry of a connection's peer addresses as the initiator walks them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteHost {
    Addr(IpAddr),
    /// A DNS name: every address it resolves to is a candidate, in the resolver's
    /// order.
    Name(String),
}

/// The DNS names among `hosts`, in order.
pub fn dns_names(hosts: &[RemoteHost]) -> Vec<String> {
    hosts
        .iter()
        .filter_map(|h| match h {
            RemoteHost::Name(n) => Some(n.clone()),
            RemoteHost::Addr(_) => None,
        })
        .collect()
}

/// `Restart` and `Trap` also mean "keep this connection up": a CHILD SA that reaches
/// its hard lifetime is created again in the same IKE SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DpdAction {
    /// Remove the IKE SA and its CHILD SAs (strongSwan's default).
    #[default]
    Clear,
    /// Remove them and initiate the connection again at once (unless another IKE SA
    /// of the connection is up or being set up already).
    Restart,
    /// Remove them and report [`crate::event::Event::Trap`]: the daemon installs a
    /// trap policy and calls `initiate` on the next outbound packet.
    Trap,
}

impl ConnectionConfig {
    /// Whether `other` is this connection with other credentials only (certificates,
    /// keys, CAs, CRLs), the kinds of authentication unchanged.
    pub fn same_apart_from_credentials(&self, other: &ConnectionConfig) -> bool {
        let kinds = |c: &ConnectionConfig| {
            (
                matches!(c.local_auth, LocalAuth::Pubkey(_)),
                matches!(c.remote_auth, RemoteAuth::Pubkey { .. }),
            )
        };
        let mut o = other.clone();
        o.local_auth = self.local_auth.clone();
        o.remote_auth = self.remote_auth.clone();
        kinds(self) == kinds(other) && *self == o
    }

    /// Whether either side authenticates with a signature (then IKE_SA_INIT carries
    /// SIGNATURE_HASH_ALGORITHMS).
    pub fn uses_pubkey(&self) -> bool {
        matches!(self.local_auth, LocalAuth::Pubkey(_))
            || matches!(self.remote_auth, RemoteAuth::Pubkey { .. })
    }

    /// The longest an unanswered liveness check may take (`dpd_timeout`, else
    /// 5 × `dpd_delay`).
    pub fn dpd_bound(&self) -> Duration {
        self.dpd_timeout.unwrap_or(self.dpd_delay * 5)
    }

    /// `over_time`, default 10 % of `rekey_time`.
    pub(crate) fn effective_over_time(&self) -> Duration {
        self.over_time.unwrap_or(self.rekey_time / 10)
    }

    /// `rand_time`, default `over_time`.
    pub(crate) fn effective_rand_time(&self) -> Duration {
        self.rand_time
            .unwrap_or_else(|| self.effective_over_time())
            .min(self.rekey_time)
    }

    /// A connection with strongSwan's defaults: ports 500, `%any` IDs, the
    /// `default` IKE proposals, no children.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            local_addrs: Vec::new(),
            remote_addrs: Vec::new(),
            remote_hosts: Vec::new(),
            remote_ranges: Vec::new(),
            local_port: IKE_PORT,
            remote_port: IKE_PORT,
            local_id: Identity::Any,
            remote_id: Identity::Any,
            proposals: Proposal::defaults(ProtocolId::IKE),
            local_auth: LocalAuth::Psk,
            remote_auth: RemoteAuth::Psk,
            send_cert: SendCert::IfAsked,
            send_certreq: true,
            encap: false,
            fragmentation: Fragmentation::Yes,
            childless: Childless::Allow,
            initial_contact: true,
            children: Vec::new(),
            rekey_time: Duration::from_secs(4 * 3600),
            over_time: None,
            rand_time: None,
            dpd_delay: Duration::ZERO,
            dpd_timeout: None,
            keep_alive: None,
            dpd_action: DpdAction::Clear,
            close_action: DpdAction::Clear,
            keyingtries: 1,
        }
    }

    /// How well this connection's addresses fit a datagram between `local` and
    /// `remote`: `None` if they exclude it, higher is better (an explicit address
    /// beats a range, which beats "any").
    pub(crate) fn address_match(
        &self,
        local: IpAddr,
        remote: IpAddr,
        resolved: &[IpAddr],
    ) -> Option<u8> {
        let local_score = if self.local_addrs.is_empty() {
            0
        } else if self.local_addrs.iter().any(|x| same_ip(*x, local)) {
            2
        } else {
            return None;
        };
        let anyone =
            self.remote_addrs.is_empty() && self.remote_ranges.is_empty() && !self.has_names();
        let remote_score = if anyone {
            0
        } else if self
            .remote_addrs
            .iter()
            .chain(resolved)
            .any(|x| same_ip(*x, remote))
        {
            2
        } else if self
            .remote_ranges
            .iter()
            .any(|&r| in_range(remote.to_canonical(), r))
        {
            1
        } else {
            return None;
        };
        Some(local_score + remote_score)
    }

    /// Whether DNS names are among the peer's addresses.
    pub fn has_names(&self) -> bool {
        !self.remote_names().is_empty()
    }

    /// The DNS names among the peer's addresses, in order.
    pub fn remote_names(&self) -> Vec<String> {
        dns_names(&self.remote_hosts)
    }

    /// The identity we present from `local`: the configured one, or the address.
    pub(crate) fn effective_local_id(&self, local: SocketAddr) -> Identity {
        match &self.local_id {
            Identity::Any => Identity::from(local.ip()),
            id => id.clone(),
        }
    }
}

/// Addresses compare equal across IPv4 and IPv4-mapped IPv6 forms.
fn same_ip(a: IpAddr, b: IpAddr) -> bool {
    a.to_canonical() == b.to_canonical()
}

/// Whether `addr` is inside `net/len` (same family only).
pub fn in_range(addr: IpAddr, (net, len): (IpAddr, u8)) -> bool {
    let bits = |a: IpAddr| match a {
        IpAddr::V4(v) => (u128::from(u32::from(v)) << 96, true),
        IpAddr::V6(v) => (u128::from(v), false),
    };
    let ((a, a4), (n, n4)) = (bits(addr), bits(net));
    if a4 != n4 {
        return false;
    }
    let len = u32::from(len).min(if a4 { 32 } else { 128 });
    let mask = if len == 0 {
        0
    } else {
        u128::MAX << (128 - len)
    };
    a & mask == n & mask
}

/// A CHILD SA template (swanctl.conf `connections.<conn>.children.<name>`); tunnel
/// mode ESP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildConfig {
    pub name: String,
    /// Our side's selectors; `dynamic` is our tunnel address.
    pub local_ts: Vec<TsSpec>,
    /// The peer's side; `dynamic` is the peer's tunnel address.
    pub remote_ts: Vec<TsSpec>,
    /// ESP proposals in preference order; a DH group is the PFS group used when the
    /// CHILD SA is created or rekeyed with CREATE_CHILD_SA.
    pub esp_proposals: Vec<Proposal>,
    /// `rekey_time` (1 h).
    pub rekey_time: Duration,
    /// `life_time` (rekey_time + 10 %): hard expiry, even if rekeying failed.
    pub life_time: Duration,
    /// The rekey happens up to this much before `rekey_time`, chosen at random
    /// (`rand_time`; `None` = `life_time - rekey_time`, as strongSwan).
    pub rand_time: Option<Duration>,
    /// Rekey after this many octets in either direction (`rekey_bytes`; 0 = off),
    /// as reported by the data plane with [`crate::UsageReport`].
    pub rekey_bytes: u64,
    /// Rekey after this many packets (`rekey_packets`; 0 = off).
    pub rekey_packets: u64,
}

impl ChildConfig {
    /// The jitter range of the rekey time.
    pub(crate) fn effective_rand_time(&self) -> Duration {
        self.rand_time
            .unwrap_or_else(|| self.life_time.saturating_sub(self.rekey_time))
            .min(self.rekey_time)
    }

    /// A child with strongSwan's defaults: `dynamic` selectors on both sides, ESP
    /// proposals as when none are configured, 1 h rekey, 1.1 h life.
    pub fn new(name: impl Into<String>) -> Self {
        let dynamic = TsSpec::Dynamic {
            ip_proto: 0,
            start_port: 0,
            end_port: 0xffff,
        };
        Self {
            name: name.into(),
            local_ts: vec![dynamic],
            remote_ts: vec![dynamic],
            esp_proposals: Proposal::implicit_defaults(ProtocolId::ESP),
            rekey_time: Duration::from_secs(3600),
            life_time: Duration::from_secs(3960),
            rand_time: None,
            rekey_bytes: 0,
            rekey_packets: 0,
        }
    }
}

/// A pre-shared key and the identities it belongs to (swanctl.conf
/// `secrets.ike-<name> { id-* = ..., secret = ... }`).
#[derive(Debug, Clone)]
pub struct SharedSecret {
    /// Owners; empty means the key applies to everyone.
    pub ids: Vec<Identity>,
    pub secret: SecretBytes,
}

impl SharedSecret {
    pub fn new(ids: Vec<Identity>, secret: impl AsRef<[u8]>) -> Self {
        Self {
            ids,
            secret: SecretBytes::from_slice(secret.as_ref()),
        }
    }

    fn owner_match(&self, id: &Identity) -> IdMatch {
        if self.ids.is_empty() {
            return IdMatch::Any;
        }
        self.ids
            .iter()
            .map(|owner| owner.matches(id))
            .max()
            .unwrap_or(IdMatch::None)
    }
}

/// How well an identity matches a configured one, worst to best.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum IdMatch {
    None = 0,
    /// The configured identity is `%any`.
    Any = 1,
    /// A leading `*` wildcard matched (`*.example.com`, `*@example.com`).
    Wildcard = 2,
    Perfect = 3,
}

/// An IKE identity (RFC 7296 section 3.5), in the forms swanctl.conf accepts.
#[derive(Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Identity {
    /// `%any`: matches every identity; never sent.
    Any,
    Ipv4(Ipv4Addr),
    Ipv6(Ipv6Addr),
    /// A host name, e.g. `vpn.example.com` (written `vpn.example.com` or
    /// `@vpn.example.com`). A leading `*` matches any prefix.
    Fqdn(String),
    /// An e-mail style identity, e.g. `alice@example.com` (or `@@alice`).
    Rfc822(String),
    /// Opaque octets (`@#0123ab`).
    KeyId(Vec<u8>),
    /// A DER-encoded distinguished name, written `C=CH, O=Example, CN=gw` (encoded
    /// as strongSwan encodes it) or `asn1dn:#3012...`.
    DerAsn1Dn(Vec<u8>),
    /// Any other ID type, as octets (`<type number>:#hex` is not accepted in
    /// configuration; this variant describes received identities).
    Other {
        id_type: IdType,
        data: Vec<u8>,
    },
}

/// Why an identity string is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    #[error("invalid hex in identity {0:?}")]
    Hex(String),
    #[error("invalid IP address in identity {0:?}")]
    Address(String),
    #[error("identity {0:?} is not a distinguished name ikev2d can encode: {1}")]
    Dn(String, String),
    #[error("unknown identity type prefix in {0:?}")]
    Prefix(String),
    #[error("empty identity")]
    Empty,
}

impl Identity {
    /// The ID type and identification data to send. `None` for [`Identity::Any`].
    pub fn to_wire(&self) -> Option<(IdType, Vec<u8>)> {
        Some(match self {
            Identity::Any => return None,
            Identity::Ipv4(a) => (IdType::IPV4_ADDR, a.octets().to_vec()),
            Identity::Ipv6(a) => (IdType::IPV6_ADDR, a.octets().to_vec()),
            Identity::Fqdn(s) => (IdType::FQDN, s.as_bytes().to_vec()),
            Identity::Rfc822(s) => (IdType::RFC822_ADDR, s.as_bytes().to_vec()),
            Identity::KeyId(k) => (IdType::KEY_ID, k.clone()),
            Identity::DerAsn1Dn(d) => (IdType::DER_ASN1_DN, d.clone()),
            Identity::Other { id_type, data } => (*id_type, data.clone()),
        })
    }

    /// The identity a peer sent.
    pub fn from_wire(id: &Id<'_>) -> Identity {
        let text = |d: &[u8]| core::str::from_utf8(d).ok().map(str::to_owned);
        match id.value() {
            IdValue::Ipv4(a) => Identity::Ipv4(a),
            IdValue::Ipv6(a) => Identity::Ipv6(a),
            IdValue::Fqdn(d) => text(d).map_or_else(|| other(id), Identity::Fqdn),
            IdValue::Rfc822(d) => text(d).map_or_else(|| other(id), Identity::Rfc822),
            IdValue::KeyId(d) => Identity::KeyId(d.to_vec()),
            IdValue::DerAsn1Dn(d) => Identity::DerAsn1Dn(d.to_vec()),
            _ => other(id),
        }
    }

    /// How well `peer` (a concrete identity) matches this configured identity.
    /// FQDN and RFC 822 names compare case-insensitively, as strongSwan does.
    pub fn matches(&self, peer: &Identity) -> IdMatch {
        let names = |pattern: &str, name: &str| -> IdMatch {
            if pattern.eq_ignore_ascii_case(name) {
                IdMatch::Perfect
            } else if let Some(suffix) = pattern.strip_prefix('*') {
                let tail_ok = name.len() >= suffix.len()
                    && name
                        .get(name.len() - suffix.len()..)
                        .is_some_and(|t| t.eq_ignore_ascii_case(suffix));
                if tail_ok {
                    IdMatch::Wildcard
                } else {
                    IdMatch::None
                }
            } else {
                IdMatch::None
            }
        };
        let exact = |eq: bool| if eq { IdMatch::Perfect } else { IdMatch::None };
        match (self, peer) {
            (Identity::Any, _) => IdMatch::Any,
            (Identity::Fqdn(p), Identity::Fqdn(n)) | (Identity::Rfc822(p), Identity::Rfc822(n)) => {
                names(p, n)
            }
            (Identity::DerAsn1Dn(p), Identity::DerAsn1Dn(n)) => {
                match crate::pki::dn::matches(n, p) {
                    Some(0) => IdMatch::Perfect,
                    Some(_) => IdMatch::Wildcard,
                    None => IdMatch::None,
                }
            }
            (Identity::Ipv4(a), Identity::Ipv4(b)) => exact(a == b),
            (Identity::Ipv6(a), Identity::Ipv6(b)) => exact(a == b),
            (a, b) => exact(a == b),
        }
    }

    pub fn is_any(&self) -> bool {
        matches!(self, Identity::Any)
    }
}

fn other(id: &Id<'_>) -> Identity {
    Identity::Other {
        id_type: id.id_type,
        data: id.data.to_vec(),
    }
}

impl From<IpAddr> for Identity {
    fn from(a: IpAddr) -> Self {
        match a.to_canonical() {
            IpAddr::V4(v4) => Identity::Ipv4(v4),
            IpAddr::V6(v6) => Identity::Ipv6(v6),
        }
    }
}

fn parse_hex(s: &str, whole: &str) -> Result<Vec<u8>, IdentityError> {
    let err = || IdentityError::Hex(whole.to_owned());
    let s: String = s.chars().filter(|c| !matches!(c, ':' | ' ')).collect();
    if s.is_empty() || s.len() % 2 != 0 {
        return Err(err());
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(err)
        })
        .collect()
}

/// swanctl.conf syntax (strongSwan's `identification_create_from_string`):
///
/// | input | identity |
/// |---|---|
/// | `%any`, `*` | [`Identity::Any`] |
/// | `192.0.2.1`, `2001:db8::1` | IPv4 / IPv6 address |
/// | `vpn.example.com`, `@vpn.example.com` | FQDN |
/// | `alice@example.com`, `@@alice` | RFC 822 |
/// | `@#0a0b0c` | KEY_ID |
/// | `C=CH, O=Example, CN=gw` (any text with `=`) | DER_ASN1_DN, encoded as strongSwan does |
/// | `ipv4:`, `ipv6:`, `fqdn:`, `rfc822:`/`email:`, `keyid:`, `asn1dn:` prefix | that type; a value `#hex` gives raw octets |
impl FromStr for Identity {
    type Err = IdentityError;

    fn from_str(s: &str) -> Result<Self, IdentityError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(IdentityError::Empty);
        }
        if s == "%any" || s == "%any6" || s == "*" {
            return Ok(Identity::Any);
        }
        if let Some((prefix, value)) = s.split_once(':') {
            let bytes = |v: &str| -> Result<Vec<u8>, IdentityError> {
                match v.strip_prefix('#') {
                    Some(h) => parse_hex(h, s),
                    None => Ok(v.as_bytes().to_vec()),
                }
            };
            let text = |v: &str| -> Result<String, IdentityError> {
                String::from_utf8(bytes(v)?).map_err(|_| IdentityError::Hex(s.to_owned()))
            };
            let typed = match prefix.to_ascii_lowercase().as_str() {
                "ipv4" => Some(
                    value
                        .parse::<Ipv4Addr>()
                        .map(Identity::Ipv4)
                        .map_err(|_| IdentityError::Address(s.to_owned()))?,
                ),
                "ipv6" => Some(
                    value
                        .parse::<Ipv6Addr>()
                        .map(Identity::Ipv6)
                        .map_err(|_| IdentityError::Address(s.to_owned()))?,
                ),
                "fqdn" => Some(Identity::Fqdn(text(value)?)),
                "rfc822" | "email" | "userfqdn" => Some(Identity::Rfc822(text(value)?)),
                "keyid" => Some(Identity::KeyId(bytes(value)?)),
                "asn1dn" => Some(Identity::DerAsn1Dn(bytes(value)?)),
                _ => None,
            };
            if let Some(id) = typed {
                return Ok(id);
            }
            // Not a type prefix: an IPv6 address, or an error below.
            if let Ok(a) = s.parse::<IpAddr>() {
                return Ok(Identity::from(a));
            }
            if !s.contains('@') && !s.contains('=') {
                return Err(IdentityError::Prefix(s.to_owned()));
            }
        }
        // As strongSwan: an `=` makes a DN before anything else (`E=a@b, CN=x`).
        if s.contains('=') && !s.starts_with('@') {
            return crate::pki::dn::from_text(s)
                .map(Identity::DerAsn1Dn)
                .map_err(|e| IdentityError::Dn(s.to_owned(), e.to_string()));
        }
        if let Some(rest) = s.strip_prefix("@#") {
            return Ok(Identity::KeyId(parse_hex(rest, s)?));
        }
        if let Some(rest) = s.strip_prefix("@@") {
            return Ok(Identity::Rfc822(rest.to_owned()));
        }
        if let Some(rest) = s.strip_prefix('@') {
            return Ok(Identity::Fqdn(rest.to_owned()));
        }
        if s.contains('@') {
            return Ok(Identity::Rfc822(s.to_owned()));
        }
        if let Ok(a) = s.parse::<IpAddr>() {
            return Ok(Identity::from(a));
        }
        Ok(Identity::Fqdn(s.to_owned()))
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = |f: &mut fmt::Formatter<'_>, d: &[u8]| -> fmt::Result {
            for b in d {
                write!(f, "{b:02x}")?;
            }
            Ok(())
        };
        match self {
            Identity::Any => f.write_str("%any"),
            Identity::Ipv4(a) => write!(f, "{a}"),
            Identity::Ipv6(a) => write!(f, "{a}"),
            Identity::Fqdn(s) => f.write_str(s),
            Identity::Rfc822(s) => f.write_str(s),
            Identity::KeyId(k) => {
                f.write_str("@#")?;
                hex(f, k)
            }
            Identity::DerAsn1Dn(d) => {
                // As strongSwan shows it when that text parses back to a DN matching
                // this one (the string types may differ); hex otherwise (not a DN, or
                // values with commas or control characters).
                let text = crate::pki::dn::to_text(d);
                let back = crate::pki::dn::from_text(&text);
                if back.is_ok_and(|b| crate::pki::dn::matches(&b, d) == Some(0)) {
                    f.write_str(&text)
                } else {
                    f.write_str("asn1dn:#")?;
                    hex(f, d)
                }
            }
            Identity::Other { id_type, data } => {
                write!(f, "{id_type}:#")?;
                hex(f, data)
            }
        }
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({self})")
    }
}

#[cfg(test)]
mod tests;
