//! Why an exchange failed, as an operator reads it.
//!
//! [`Cause`] is typed (tests and the daemon match on it) and its `Display` is the
//! sentence `ikev2d status` and the logs show: what happened, and where that points
//! (a PSK, an ID, a proposal, a selector, a firewall). Failures are reported in
//! [`Event::Failed`](crate::event::Event::Failed) with the [`Phase`] they happened
//! in.
//!
//! [`CommandError`] is what a command ([`Endpoint::initiate`](crate::Endpoint)) returns
//! when it cannot even start.

use core::fmt;
use core::net::SocketAddr;

use crate::config::Identity;
use crate::crypto::dh::DhError;
use crate::crypto::prf::PrfPlusTooLong;
use crate::crypto::proposal::{NoProposalChosen, Proposal, UnsupportedAttribute};
use crate::crypto::sk::SkError;
pub use crate::exchange::rules::RuleViolation;
use crate::ts::{TrafficSelector, describe_list};
use crate::wire::{self, AuthMethod, DhGroup, ExchangeType, NotifyType, PayloadType};

/// The exchange a failure happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Phase {
    IkeSaInit,
    /// The IKE_INTERMEDIATE exchanges of additional key exchanges (RFC 9242, 9370).
    IkeIntermediate,
    IkeAuth,
    CreateChildSa,
    Informational,
}

impl Phase {
    pub(crate) fn of(exchange: ExchangeType) -> Phase {
        match exchange {
            ExchangeType::IKE_SA_INIT => Phase::IkeSaInit,
            ExchangeType::IKE_INTERMEDIATE => Phase::IkeIntermediate,
            ExchangeType::IKE_AUTH => Phase::IkeAuth,
            // The additional key exchanges belong to the CREATE_CHILD_SA they follow.
            ExchangeType::CREATE_CHILD_SA | ExchangeType::IKE_FOLLOWUP_KE => Phase::CreateChildSa,
            _ => Phase::Informational,
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::IkeSaInit => "IKE_SA_INIT",
            Phase::IkeIntermediate => "IKE_INTERMEDIATE",
            Phase::IkeAuth => "IKE_AUTH",
            Phase::CreateChildSa => "CREATE_CHILD_SA",
            Phase::Informational => "INFORMATIONAL",
        })
    }
}

/// Why an IKE or CHILD SA could not be set up, or went down.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cause {
    /// No request got an answer (RFC 7296 section 2.4).
    Timeout {
        retransmits: u32,
        remote: SocketAddr,
    },
    /// We found no acceptable proposal among the peer's (as responder), or the peer
    /// chose one we did not offer (as initiator).
    NoProposalChosen(Box<NoProposalChosen>),
    /// The peer answered NO_PROPOSAL_CHOSEN to what we offered.
    PeerRejectedProposals { ours: Vec<Proposal> },
    /// The peer asked for a DH group (INVALID_KE_PAYLOAD) that none of our proposals
    /// has.
    InvalidKeGroup {
        requested: DhGroup,
        ours: Vec<Proposal>,
    },
    /// The peer kept asking for another DH group or cookie.
    TooManyRetries { what: &'static str },
    /// The peer answered AUTHENTICATION_FAILED: our AUTH did not verify with its key,
    /// or it has no connection or key for our ID.
    PeerAuthenticationFailed {
        /// We signed (certificate or raw key) rather than using a PSK.
        signed: bool,
    },
    /// The peer's AUTH did not verify with the key we have for its ID.
    AuthMismatch { peer_id: Identity },
    /// No pre-shared key is configured for this pair of identities.
    NoPsk {
        local_id: Identity,
        peer_id: Identity,
    },
    /// No connection accepts this peer identity (responder).
    NoConnectionForId {
        peer_id: Identity,
        remote: SocketAddr,
    },
    /// No connection is configured for these addresses (responder, IKE_SA_INIT).
    NoConnectionForAddress {
        local: SocketAddr,
        remote: SocketAddr,
    },
    /// The responder identified with an ID other than the one configured.
    PeerIdMismatch {
        expected: Identity,
        received: Identity,
    },
    /// No configured selectors intersect the peer's (as responder).
    TsUnacceptable {
        local_ts: Vec<TrafficSelector>,
        remote_ts: Vec<TrafficSelector>,
        peer_tsi: Vec<TrafficSelector>,
        peer_tsr: Vec<TrafficSelector>,
    },
    /// The peer answered TS_UNACCEPTABLE to our selectors.
    PeerTsUnacceptable {
        local_ts: Vec<TrafficSelector>,
        remote_ts: Vec<TrafficSelector>,
    },
    /// The responder narrowed to selectors outside what we proposed.
    TsNotSubset {
        proposed_local: Vec<TrafficSelector>,
        proposed_remote: Vec<TrafficSelector>,
        tsi: Vec<TrafficSelector>,
        tsr: Vec<TrafficSelector>,
    },
    /// The peer answered with another error notify.
    PeerNotify(NotifyType),
    /// A childless IKE_AUTH against our `childless` policy (either direction).
    Childless(&'static str),
    /// The responder half-open SA got no IKE_AUTH in time.
    HalfOpenTimeout { remote: SocketAddr },
    /// A DNS name among the peer's addresses gave no address.
    Unresolved { name: String, error: String },
    /// An ICMP error quoting our request came back: `what` (port or host
    /// unreachable, administratively prohibited) from `reporter`.
    Unreachable {
        remote: SocketAddr,
        what: &'static str,
        reporter: core::net::IpAddr,
    },
    /// The peer sent a message that does not parse: in which exchange, whether it was
    /// a request or a response, and what was wrong where.
    Malformed {
        exchange: ExchangeType,
        response: bool,
        error: wire::Error,
    },
    /// The peer's message parses but breaks its exchange's payload rules (a payload
    /// missing, not allowed, or too many of a kind).
    PayloadRules {
        exchange: ExchangeType,
        response: bool,
        violation: RuleViolation,
    },
    /// The peer authenticates with a method ikev2d does not implement.
    UnsupportedAuthMethod(AuthMethod),
    /// The peer's public-key authentication failed: its certificate (trust, ID,
    /// validity, revocation) or its signature; the text says which, in full.
    PeerPubkey(String),
    /// We cannot authenticate with our key and certificate (no scheme the peer can
    /// verify, signing failed).
    OurPubkey(String),
    /// The peer used another kind of authentication than `remote.auth` asks for.
    AuthKindMismatch {
        expected: &'static str,
        got: AuthMethod,
    },
    /// The peer's KE payload does not hold a valid public value of its group.
    InvalidKe(DhError),
    /// The responder's KE payload is of another group than the one we sent or the
    /// proposal it chose.
    KeGroupMismatch {
        received: DhGroup,
        sent: DhGroup,
        chosen: DhGroup,
    },
    /// Additional key exchange `n` (RFC 9370, in IKE_INTERMEDIATE) with `method`
    /// failed.
    AdditionalKe {
        n: u8,
        method: DhGroup,
        problem: crate::exchange::ike_intermediate::AddKeProblem,
    },
    /// The peer chose a proposal with additional key exchanges but did not say it
    /// supports IKE_INTERMEDIATE (no IKE_INT_SUP).
    IntermediateNotSupported,
    /// The peer chose a proposal with a transform attribute we do not understand.
    UnsupportedAttribute(UnsupportedAttribute),
    /// The chosen ESP proposal has a PFS group, but the response carries no KE.
    PfsKeMissing(DhGroup),
    /// The peer sent a message that breaks the protocol in another way (a payload
    /// the exchange needs is missing, nonsense answers ...).
    Protocol(String),
    /// Making our own Diffie-Hellman value failed (should not happen: we only
    /// propose groups we implement).
    LocalDh(DhError),
    /// Deriving keys failed (should not happen: prf+ output limits).
    KeyDerivation(PrfPlusTooLong),
    /// Encoding one of our payloads failed (should not happen: a value too large for
    /// its field).
    Encoding {
        payload: PayloadType,
        error: wire::Error,
    },
    /// Setting up or applying SK protection failed on our side (should not happen).
    Protection(SkError),
    /// Another internal limit or error on our side (should not happen).
    Internal(String),
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Timeout {
                retransmits,
                remote,
            } => write!(
                f,
                "no response after {retransmits} retransmissions to {remote}: UDP 500/4500 \
                 blocked or peer down"
            ),
            Cause::NoProposalChosen(n) => write!(f, "{n}"),
            Cause::PeerRejectedProposals { ours } => {
                write!(
                    f,
                    "peer answered NO_PROPOSAL_CHOSEN: we offered [{}]; compare with the \
                     peer's proposals",
                    list(ours)
                )?;
                if !ours.is_empty() && ours.iter().all(Proposal::needs_additional_ke) {
                    f.write_str(
                        " (each of ours needs an additional key exchange, keN_: a peer \
                         without RFC 9370, such as strongSwan 5.9, refuses them; add a \
                         classic proposal after the hybrid one)",
                    )?;
                }
                Ok(())
            }
            Cause::InvalidKeGroup { requested, ours } => write!(
                f,
                "peer answered INVALID_KE_PAYLOAD asking for DH group {requested}, which none \
                 of our proposals has: we offered [{}]",
                list(ours)
            ),
            Cause::TooManyRetries { what } => {
                write!(f, "giving up after 5 retries: peer kept asking for {what}")
            }
            Cause::PeerAuthenticationFailed { signed: false } => {
                f.write_str("peer answered AUTHENTICATION_FAILED: pre-shared key or ID mismatch")
            }
            Cause::PeerAuthenticationFailed { signed: true } => f.write_str(
                "peer answered AUTHENTICATION_FAILED: it did not accept our certificate, \
                 signature or ID (check the CA it trusts for us, its revocation settings, \
                 and the ID it expects; its log says which)",
            ),
            Cause::AuthMismatch { peer_id } => write!(
                f,
                "peer sent AUTH that does not verify: pre-shared key mismatch (peer ID {peer_id})"
            ),
            Cause::NoPsk { local_id, peer_id } => write!(
                f,
                "no PSK for peer ID {peer_id} (local ID {local_id}): add a secret with these IDs"
            ),
            Cause::NoConnectionForId { peer_id, remote } => write!(
                f,
                "no connection accepts peer ID {peer_id} from {remote}: check remote id"
            ),
            Cause::NoConnectionForAddress { local, remote } => write!(
                f,
                "no connection configured for {remote} -> {local}: check local_addrs/remote_addrs"
            ),
            Cause::PeerIdMismatch { expected, received } => write!(
                f,
                "peer identified as {received}, but remote id is {expected}"
            ),
            Cause::TsUnacceptable {
                local_ts,
                remote_ts,
                peer_tsi,
                peer_tsr,
            } => write!(
                f,
                "TS_UNACCEPTABLE: local_ts/remote_ts do not match: we have local_ts [{}] \
                 remote_ts [{}], peer proposed TSi [{}] TSr [{}]",
                describe_list(local_ts),
                describe_list(remote_ts),
                describe_list(peer_tsi),
                describe_list(peer_tsr)
            ),
            Cause::PeerTsUnacceptable {
                local_ts,
                remote_ts,
            } => write!(
                f,
                "peer answered TS_UNACCEPTABLE: local_ts/remote_ts do not match: we proposed \
                 TSi [{}] TSr [{}]",
                describe_list(local_ts),
                describe_list(remote_ts)
            ),
            Cause::TsNotSubset {
                proposed_local,
                proposed_remote,
                tsi,
                tsr,
            } => write!(
                f,
                "peer narrowed to selectors outside our proposal: we proposed TSi [{}] TSr [{}], \
                 peer answered TSi [{}] TSr [{}]",
                describe_list(proposed_local),
                describe_list(proposed_remote),
                describe_list(tsi),
                describe_list(tsr)
            ),
            Cause::PeerNotify(n) => write!(f, "peer answered {n}"),
            Cause::Childless(why) => f.write_str(why),
            Cause::HalfOpenTimeout { remote } => write!(
                f,
                "no IKE_AUTH from {remote} after IKE_SA_INIT: UDP 4500 blocked, fragments \
                 dropped, or peer gave up"
            ),
            Cause::Unresolved { name, error } => write!(
                f,
                "cannot resolve {name}: {error} (check the name and the resolver in \
                 /etc/resolv.conf)"
            ),
            Cause::Unreachable {
                remote,
                what,
                reporter,
            } => write!(
                f,
                "ICMP {what} from {reporter} for {remote}: nothing listens on the IKE port \
                 there, or the host or route is down"
            ),
            Cause::Malformed {
                exchange,
                response,
                error,
            } => write!(
                f,
                "peer sent a malformed {exchange} {}: {error}",
                message_kind(*response)
            ),
            Cause::PayloadRules {
                exchange,
                response,
                violation,
            } => write!(
                f,
                "peer violated the protocol in its {exchange} {}: {violation}",
                message_kind(*response)
            ),
            Cause::UnsupportedAuthMethod(m) => write!(
                f,
                "peer authenticates with {m}, which ikev2d does not implement"
            ),
            Cause::PeerPubkey(why) => f.write_str(why),
            Cause::OurPubkey(why) => write!(f, "cannot authenticate with our key: {why}"),
            Cause::AuthKindMismatch { expected, got } => write!(
                f,
                "peer authenticated with {got}, but remote auth is {expected} for this connection"
            ),
            Cause::InvalidKe(e) => write!(f, "peer sent an invalid KE payload: {e}"),
            Cause::AdditionalKe { n, method, problem } => write!(
                f,
                "additional key exchange KE{n} ({method}) failed: {problem}"
            ),
            Cause::IntermediateNotSupported => f.write_str(
                "peer chose additional key exchanges but did not send IKE_INT_SUP \
                 (IKE_INTERMEDIATE support)",
            ),
            Cause::KeGroupMismatch {
                received,
                sent,
                chosen,
            } => write!(
                f,
                "peer sent a KE payload of group {received}, but we sent {sent} and the \
                 chosen proposal has {chosen}"
            ),
            Cause::UnsupportedAttribute(a) => {
                write!(f, "peer chose a proposal we cannot use: {a}")
            }
            Cause::PfsKeMissing(g) => write!(
                f,
                "the chosen ESP proposal has PFS group {g} but the peer's response has no \
                 matching KE"
            ),
            Cause::Protocol(s) => write!(f, "peer violated the protocol: {s}"),
            Cause::LocalDh(e) => write!(f, "internal error: our key exchange: {e}"),
            Cause::KeyDerivation(e) => write!(f, "internal error: deriving keys: {e}"),
            Cause::Encoding { payload, error } => {
                write!(f, "internal error: encoding {payload}: {error}")
            }
            Cause::Protection(e) => write!(f, "internal error: SK protection: {e}"),
            Cause::Internal(s) => write!(f, "internal error: {s}"),
        }
    }
}

fn message_kind(response: bool) -> &'static str {
    if response { "response" } else { "request" }
}

fn list(p: &[Proposal]) -> String {
    p.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why a command could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    #[error("no connection named {0:?}")]
    UnknownConnection(String),
    #[error("connection {0:?} has no remote address to initiate to")]
    NoRemoteAddress(String),
    #[error("connection {0:?} has no IKE proposal with a DH group ikev2d implements")]
    NoDhGroup(String),
    #[error(
        "connection {0:?} has neither a local address nor a local id: set local_addrs or \
         local_id"
    )]
    NoLocalIdentity(String),
    #[error("no IKE SA {0}")]
    UnknownIkeSa(u64),
    #[error("no CHILD SA with inbound SPI {0:08x}")]
    UnknownChildSa(u32),
    #[error("CHILD SA {0:08x} is being deleted")]
    ChildSaBusy(u32),
    /// A rekey of it (ours or the peer's) is under way: its replacement is coming.
    #[error("CHILD SA {0:08x} is being rekeyed already")]
    ChildSaRekeying(u32),
    #[error("IKE SA {0} has a path MTU probe in progress already")]
    ProbeBusy(u64),
    #[error(
        "a path MTU probe of {size} octets is smaller than the smallest this IKE SA can send ({smallest})"
    )]
    ProbeTooSmall { size: usize, smallest: usize },
}
