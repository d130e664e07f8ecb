//! What an IKE SA sees of the endpoint while it runs ([`Ctx`]): the time, the
//! configuration, and [`Shared`], the state every SA writes to (randomness, the
//! queues of datagrams and events, counters, the CHILD SA SPI index), plus the
//! [`Action`]s an SA leaves for the endpoint to carry out.
//!
//! The exchanges and the IKE SA import these from here, never from the endpoint, so
//! the endpoint sits on top and nothing below imports it back. Nothing here sends or
//! decides anything on its own: it only queues.

use core::net::{IpAddr, SocketAddr};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

use super::IkeSa;
use super::faults::Faults;
use crate::config::{ConnectionConfig, EndpointConfig, Identity};
use crate::event::{Event, IkeSaId};
use crate::status::Stats;
use crate::wire::IkeSpi;

/// A datagram to send. The sender frames it for the wire: the non-ESP marker in
/// front of an IKE message sent from a port other than 500, the single 0xff octet of
/// a NAT-keepalive (RFC 3948 sections 2.2 and 2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub kind: TransmitKind,
    /// The IKE message, from its header on (never a non-ESP marker); empty for a
    /// NAT-keepalive.
    pub payload: Vec<u8>,
}

/// What a [`Transmit`] carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransmitKind {
    /// An IKE message.
    Ike,
    /// A NAT-keepalive (RFC 3948 section 2.3): the sender writes its one octet.
    NatKeepalive,
}

/// Endpoint-level work an SA asks for while it handles a message.
#[derive(Debug)]
pub(crate) enum Action {
    /// The peer sent INITIAL_CONTACT: delete our other IKE SAs between these IDs.
    InitialContact {
        keep: IkeSaId,
        local_id: Identity,
        remote_id: Identity,
    },
    /// An IKE SA was rekeyed: route `new` (our new SPI) to it instead of `old`.
    Respi {
        id: IkeSaId,
        old: IkeSpi,
        new: IkeSpi,
    },
    /// A ghost SA (the old incarnation of a rekeyed IKE SA) to add.
    AddSa(Box<IkeSa>),
    /// An established IKE SA of `conn` ended without us deleting it: an exchange
    /// timed out (the peer is dead) or its hard lifetime passed (then the
    /// connection's `dpd_action` decides what follows), or the peer deleted it
    /// (`closed`: its `close_action` decides). strongSwan's `ike_sa.c`
    /// `reestablish()`.
    Reestablish {
        conn: Arc<ConnectionConfig>,
        closed: bool,
    },
    /// Our IKE_SA_INIT or IKE_AUTH of `conn` got no answer and `keyingtries` allows
    /// another try: initiate again, this being try number `keyingtry` + 1.
    Retry {
        conn: Arc<ConnectionConfig>,
        keyingtry: u32,
    },
    /// Setting up `conn` with its `remote_addrs[candidate - 1]` failed (no answer,
    /// ICMP unreachable, an error notify, authentication): try the next address at
    /// once, in the same try. `quick`: the address whose SA just died (see
    /// `IkeSa::short_budget`).
    NextCandidate {
        conn: Arc<ConnectionConfig>,
        remotes: Arc<[IpAddr]>,
        candidate: usize,
        keyingtry: u32,
        quick: Option<IpAddr>,
    },
}

/// State every SA writes to: randomness, output queues, counters.
#[derive(Debug)]
pub(crate) struct Shared {
    pub rng: ChaCha20Rng,
    pub transmits: VecDeque<Transmit>,
    pub events: VecDeque<Event>,
    pub stats: Stats,
    /// Our inbound ESP SPIs in use, with the IKE SA holding each once it is known
    /// (filled in after every operation on an SA), so that the data plane's usage
    /// reports find their SA without a visit to every SA.
    pub child_spis: HashMap<u32, Option<IkeSaId>>,
    pub actions: Vec<Action>,
    /// The last result of each configured peer address, and lost peers.
    pub remotes: crate::remotes::RemoteLog,
    /// Test-only fault injection; empty outside tests.
    pub faults: Faults,
    /// The wall clock: an instant and the Unix time then, given by the caller
    /// (certificate validity and CRLs are in wall-clock time, everything else in
    /// `Instant`s).
    pub wall_clock: Option<(std::time::Instant, u64)>,
}

impl Shared {
    /// Empty queues and counters, randomness seeded with `seed`.
    pub(crate) fn new(seed: [u8; 32]) -> Self {
        Self {
            rng: ChaCha20Rng::from_seed(seed),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            child_spis: HashMap::new(),
            actions: Vec::new(),
            remotes: crate::remotes::RemoteLog::default(),
            faults: Faults::default(),
            wall_clock: None,
        }
    }

    /// The Unix time (seconds) at `now`, if the caller gave the wall clock.
    pub(crate) fn unix_time(&self, now: std::time::Instant) -> Option<u64> {
        self.wall_clock.map(|(at, unix)| {
            if now >= at {
                unix + now.duration_since(at).as_secs()
            } else {
                unix.saturating_sub(at.duration_since(now).as_secs())
            }
        })
    }

    /// Queues an IKE message from `local` to `remote` (the sender adds the non-ESP
    /// marker where the port needs it).
    pub(crate) fn send(&mut self, local: SocketAddr, remote: SocketAddr, msg: &[u8]) {
        self.stats.sent += 1;
        self.transmits.push_back(Transmit {
            local,
            remote,
            kind: TransmitKind::Ike,
            payload: msg.to_vec(),
        });
    }

    /// Queues a NAT-keepalive from `local` to `remote`.
    pub(crate) fn send_keepalive(&mut self, local: SocketAddr, remote: SocketAddr) {
        self.stats.sent += 1;
        self.transmits.push_back(Transmit {
            local,
            remote,
            kind: TransmitKind::NatKeepalive,
            payload: Vec::new(),
        });
    }

    pub(crate) fn event(&mut self, e: Event) {
        self.events.push_back(e);
    }

    /// A fresh inbound ESP SPI: random, not in use, above the reserved 1-255.
    pub(crate) fn new_child_spi(&mut self) -> u32 {
        loop {
            let spi = self.rng.next_u32();
            if spi >= 0x100 && !self.child_spis.contains_key(&spi) {
                self.child_spis.insert(spi, None);
                return spi;
            }
        }
    }
}

/// What an SA sees of the endpoint while it runs.
#[derive(Debug)]
pub(crate) struct Ctx<'a> {
    pub now: Instant,
    pub config: &'a EndpointConfig,
    pub sh: &'a mut Shared,
}
