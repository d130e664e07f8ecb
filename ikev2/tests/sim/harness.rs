//! A deterministic network simulation for [`Endpoint`]s (quinn's `Pair`, smoltcp's
//! netsim loss table): a fake clock, latency, seeded loss, duplication and
//! reordering, an optional NAT in front of a node, and a packet filter.
//!
//! Nothing here reads the real clock except once, for the epoch: every run with the
//! same seeds produces the same datagrams, events and times.
//!
//! Declared once by the `sim` test binary (`tests/sim/main.rs`); ikev2's unit tests
//! include it by path (`src/tests/mod.rs`).
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ikev2::config::{ChildConfig, ConnectionConfig, EndpointConfig, Identity, SharedSecret};
use ikev2::crypto::proposal::Proposal;
use ikev2::event::{ChildSaInstalled, Event, Failure, IkeSaUp};
use ikev2::wire::ProtocolId;
use ikev2::{Endpoint, Transmit, TransmitKind};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

pub const IP_A: &str = "198.51.100.1";
pub const IP_B: &str = "198.51.100.2";
pub const PSK: &str = "sim-shared-secret-0123456789";

/// A model of one node's ESP data plane, driven by the endpoint's events in order:
/// which inbound SAs are installed, which outbound SA each child sends with.
#[derive(Debug, Default)]
pub struct DataPlane {
    /// Inbound SPIs installed.
    pub inbound: HashSet<u32>,
    /// Outbound SAs installed: SPI -> (installed at, hard lifetime).
    pub outbound_sas: HashMap<u32, (Instant, Duration)>,
    /// (conn, child) -> the outbound SPI in use.
    pub current: HashMap<(String, String), u32>,
    /// Packets sent, delivered to an installed inbound SA, lost for lack of one.
    pub sent: u64,
    pub delivered: u64,
    pub lost: u64,
    /// Packets sent on an outbound SA past its hard lifetime.
    pub past_lifetime: u64,
    /// Events out of order (outbound switch to an SA not installed ...).
    pub errors: Vec<String>,
}

impl DataPlane {
    fn apply(&mut self, now: Instant, e: &Event) {
        match e {
            Event::ChildSaInstalled(c) => {
                self.inbound.insert(c.spi_in);
                self.outbound_sas
                    .insert(c.spi_out, (now, c.lifetimes.life_time));
                if c.outbound {
                    self.current
                        .insert((c.conn.clone(), c.child.clone()), c.spi_out);
                }
            }
            Event::ChildSaOutboundSwitched(s) => {
                if !self.outbound_sas.contains_key(&s.spi_out) {
                    self.errors
                        .push(format!("switch to unknown outbound SA {:08x}", s.spi_out));
                }
                self.current
                    .insert((s.conn.clone(), s.child.clone()), s.spi_out);
            }
            Event::ChildSaDeleted(d) => {
                self.inbound.remove(&d.spi_in);
                self.outbound_sas.remove(&d.spi_out);
                let key = (d.conn.clone(), d.child.clone());
                if self.current.get(&key) == Some(&d.spi_out) {
                    self.current.remove(&key);
                }
            }
            _ => {}
        }
    }
}

/// One endpoint and what it reported.
pub struct Node {
    pub ep: Endpoint,
    /// Addresses datagrams to which are delivered here (after NAT translation).
    pub addrs: Vec<IpAddr>,
    pub events: Vec<Event>,
    pub dp: DataPlane,
    /// Every datagram this node sent, with the time.
    pub sent: Vec<(Duration, Transmit)>,
}

/// A NAT (port-restricted cone, like a home router) in front of one node.
pub struct Nat {
    pub node: usize,
    pub public: IpAddr,
    next_port: u16,
    /// (private source) -> public port.
    out: HashMap<SocketAddr, u16>,
    back: HashMap<u16, SocketAddr>,
}

impl Nat {
    pub fn new(node: usize, public: &str) -> Self {
        Self {
            node,
            public: public.parse().expect("NAT address"),
            next_port: 40000,
            out: HashMap::new(),
            back: HashMap::new(),
        }
    }

    /// Port forwarding: datagrams to `public:port` go to `private:port`, and those
    /// from `private:port` leave from `public:port` (a responder behind a NAT).
    pub fn forward(mut self, private: &str, ports: &[u16]) -> Self {
        let ip: IpAddr = private.parse().expect("address");
        for &p in ports {
            let a = SocketAddr::new(ip, p);
            self.out.insert(a, p);
            self.back.insert(p, a);
        }
        self
    }

    /// The NAT forgets every mapping (an idle timeout): the next datagram out gets a
    /// new public port, and datagrams to the old ones are dropped.
    pub fn forget(&mut self) {
        self.out.clear();
        self.back.clear();
    }

    fn outbound(&mut self, src: SocketAddr) -> SocketAddr {
        let port = *self.out.entry(src).or_insert_with(|| {
            let p = self.next_port;
            self.next_port += 1;
            self.back.insert(p, src);
            p
        });
        SocketAddr::new(self.public, port)
    }

    fn inbound(&self, dst: SocketAddr) -> Option<SocketAddr> {
        (dst.ip() == self.public)
            .then(|| self.back.get(&dst.port()).copied())
            .flatten()
    }
}

#[derive(Debug, Clone)]
struct InFlight {
    at: Instant,
    seq: u64,
    to: usize,
    /// Destination as the receiver sees it.
    dst: SocketAddr,
    src: SocketAddr,
    kind: TransmitKind,
    data: Vec<u8>,
}

/// A packet filter: return false to drop. Arguments: sending node, the transmit.
pub type Filter = Box<dyn FnMut(usize, &Transmit) -> bool>;

pub struct Network {
    pub start: Instant,
    pub now: Instant,
    pub nodes: Vec<Node>,
    pub latency: Duration,
    /// Probability that a datagram is lost.
    pub loss: f64,
    /// Probability that a datagram is delivered twice.
    pub duplicate: f64,
    /// Probability that a datagram is delayed by up to `reorder_delay` more.
    pub reorder: f64,
    pub reorder_delay: Duration,
    pub nat: Option<Nat>,
    pub filter: Option<Filter>,
    rng: ChaCha20Rng,
    in_flight: Vec<InFlight>,
    seq: u64,
    pub delivered: u64,
    pub dropped: u64,
    /// NAT-keepalives delivered, by receiving node: a daemon's socket edge takes
    /// them off port 4500 before IKE, so they never reach the endpoint.
    pub keepalives_received: HashMap<usize, u64>,
    /// Send one ESP packet on every current outbound SA of every node this often
    /// (`None`: no data traffic).
    pub esp_interval: Option<Duration>,
    /// Whether ESP packets suffer `loss` too (off: only IKE is lost, so the data
    /// plane counts show SA gaps only).
    pub esp_loss: bool,
    next_esp: Option<Instant>,
    /// ESP in flight: (arrival, receiving node, SPI).
    esp_in_flight: Vec<(Instant, usize, u32)>,
    /// Print every IKE datagram (sent, lost) and event with its time to stderr: set
    /// by `SIM_TRACE=1`, for reading what a failing case did.
    pub trace: bool,
}

impl Network {
    /// A network of endpoints, each with its addresses, with `seed` for the network's
    /// own randomness (loss ...).
    pub fn new(nodes: Vec<(Endpoint, Vec<IpAddr>)>, seed: u64) -> Self {
        let start = Instant::now();
        Self {
            start,
            now: start,
            nodes: nodes
                .into_iter()
                .map(|(ep, addrs)| Node {
                    ep,
                    addrs,
                    events: Vec::new(),
                    sent: Vec::new(),
                    dp: DataPlane::default(),
                })
                .collect(),
            latency: Duration::from_millis(10),
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(50),
            nat: None,
            filter: None,
            rng: ChaCha20Rng::seed_from_u64(seed),
            in_flight: Vec::new(),
            seq: 0,
            delivered: 0,
            dropped: 0,
            keepalives_received: HashMap::new(),
            esp_interval: None,
            esp_loss: false,
            next_esp: None,
            esp_in_flight: Vec::new(),
            trace: std::env::var_os("SIM_TRACE").is_some_and(|v| v == "1"),
        }
    }

    fn trace_datagram(&self, from: usize, t: &Transmit, fate: &str) {
        if !self.trace || t.kind != TransmitKind::Ike {
            return;
        }
        let what = ikev2::wire::Header::new_checked(&t.payload)
            .and_then(|h| ikev2::wire::HeaderRepr::parse(&h))
            .map(|h| {
                format!(
                    "{:?} mid {} {} spi_i {:?}",
                    h.exchange_type,
                    h.message_id,
                    if h.flags.is_response() {
                        "response"
                    } else {
                        "request"
                    },
                    h.spi_i
                )
            })
            .unwrap_or_else(|e| format!("unparsable: {e}"));
        eprintln!(
            "{:>10.3?} {} -> {}: {what} {fate}",
            self.elapsed(),
            from,
            1 - from.min(1)
        );
    }

    /// Starts data traffic: one packet per `interval` on each current outbound SA.
    pub fn start_traffic(&mut self, interval: Duration) {
        self.esp_interval = Some(interval);
        self.next_esp = Some(self.now);
    }

    fn esp_tick(&mut self) {
        let now = self.now;
        while let (Some(interval), true) =
            (self.esp_interval, self.next_esp.is_some_and(|t| t <= now))
        {
            self.next_esp = self.next_esp.map(|t| t + interval);
            for i in 0..self.nodes.len() {
                let mut spis: Vec<u32> = self.nodes[i].dp.current.values().copied().collect();
                spis.sort_unstable();
                let peer = 1 - i.min(1);
                for spi in spis {
                    let dp = &mut self.nodes[i].dp;
                    dp.sent += 1;
                    if let Some((at, life)) = dp.outbound_sas.get(&spi) {
                        if now > *at + *life {
                            dp.past_lifetime += 1;
                        }
                    }
                    if self.esp_loss && self.chance(self.loss) {
                        continue;
                    }
                    self.esp_in_flight.push((now + self.latency, peer, spi));
                }
            }
        }
        let mut arrived = Vec::new();
        self.esp_in_flight.retain(|p| {
            if p.0 <= now {
                arrived.push(*p);
                false
            } else {
                true
            }
        });
        for (_, to, spi) in arrived {
            let sender = 1 - to.min(1);
            if self.nodes[to].dp.inbound.contains(&spi) {
                self.nodes[sender].dp.delivered += 1;
            } else {
                self.nodes[sender].dp.lost += 1;
            }
        }
    }

    /// Time since the start of the simulation.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    fn chance(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            return false;
        }
        let x = (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        x < p
    }

    /// Collects every node's output: transmits into the network, events into the log.
    fn collect(&mut self) {
        for i in 0..self.nodes.len() {
            while let Some(t) = self.nodes[i].ep.poll_transmit() {
                let elapsed = self.now - self.start;
                self.nodes[i].sent.push((elapsed, t.clone()));
                self.route(i, t);
            }
            while let Some(e) = self.nodes[i].ep.poll_event() {
                let now = self.now;
                if self.trace {
                    eprintln!("{:>10.3?} node {i}: {e:?}", self.elapsed());
                }
                self.nodes[i].dp.apply(now, &e);
                self.nodes[i].events.push(e);
            }
        }
    }

    fn route(&mut self, from: usize, t: Transmit) {
        if let Some(f) = self.filter.as_mut() {
            if !f(from, &t) {
                self.dropped += 1;
                return;
            }
        }
        if self.chance(self.loss) {
            self.dropped += 1;
            self.trace_datagram(from, &t, "LOST");
            return;
        }
        self.trace_datagram(from, &t, "");
        let mut src = t.local;
        if let Some(nat) = self.nat.as_mut() {
            if nat.node == from {
                src = nat.outbound(t.local);
            }
        }
        let mut dst = t.remote;
        let to = match self
            .nat
            .as_ref()
            .and_then(|n| n.inbound(dst).map(|d| (n.node, d)))
        {
            Some((node, private)) => {
                dst = private;
                Some(node)
            }
            None => self.nodes.iter().position(|n| n.addrs.contains(&dst.ip())),
        };
        let Some(to) = to else {
            self.dropped += 1;
            return;
        };
        let copies = if self.chance(self.duplicate) { 2 } else { 1 };
        for _ in 0..copies {
            let mut at = self.now + self.latency;
            if self.chance(self.reorder) {
                let extra = self.rng.next_u64() % (self.reorder_delay.as_micros() as u64 + 1);
                at += Duration::from_micros(extra);
            }
            self.seq += 1;
            self.in_flight.push(InFlight {
                at,
                seq: self.seq,
                to,
                dst,
                src,
                kind: t.kind,
                data: t.payload.clone(),
            });
        }
    }

    /// The next moment something happens: a delivery or a timer.
    pub fn next_time(&self) -> Option<Instant> {
        let packets = self.in_flight.iter().map(|p| p.at).min();
        let timers = self.nodes.iter().filter_map(|n| n.ep.poll_timeout()).min();
        let esp = self.esp_in_flight.iter().map(|p| p.0).min();
        [packets, timers, esp, self.next_esp]
            .into_iter()
            .flatten()
            .min()
    }

    /// Stops data traffic (lets `next_time` become `None` again).
    pub fn stop_traffic(&mut self) {
        self.esp_interval = None;
        self.next_esp = None;
    }

    /// Advances to the next moment and handles everything due then. False if nothing
    /// is pending.
    pub fn step(&mut self) -> bool {
        self.collect();
        let Some(t) = self.next_time() else {
            return false;
        };
        self.now = self.now.max(t);
        let now = self.now;
        let mut due: Vec<InFlight> = Vec::new();
        self.in_flight.retain(|p| {
            if p.at <= now {
                due.push(p.clone());
                false
            } else {
                true
            }
        });
        due.sort_by_key(|p| (p.at, p.seq));
        self.esp_tick();
        for p in due {
            self.delivered += 1;
            match p.kind {
                TransmitKind::Ike => self.nodes[p.to]
                    .ep
                    .handle_datagram(now, p.dst, p.src, &p.data),
                TransmitKind::NatKeepalive => {
                    *self.keepalives_received.entry(p.to).or_default() += 1;
                }
            }
            self.collect();
        }
        for i in 0..self.nodes.len() {
            if self.nodes[i].ep.poll_timeout().is_some_and(|d| d <= now) {
                self.nodes[i].ep.handle_timeout(now);
            }
        }
        self.collect();
        true
    }

    /// Steps until nothing is pending or `limit` of simulated time has passed.
    pub fn drive_for(&mut self, limit: Duration) {
        let end = self.now + limit;
        // Output of commands given since the last step.
        self.collect();
        while self.next_time().is_some_and(|t| t <= end) {
            self.step();
        }
        self.collect();
    }

    /// Steps until `done` holds (checked after every step) or `limit` passed.
    /// Returns whether `done` held.
    pub fn drive_until(&mut self, limit: Duration, mut done: impl FnMut(&Network) -> bool) -> bool {
        let end = self.now + limit;
        loop {
            self.collect();
            if done(self) {
                return true;
            }
            match self.next_time() {
                Some(t) if t <= end => {
                    self.step();
                }
                _ => return done(self),
            }
        }
    }

    pub fn initiate(&mut self, node: usize, conn: &str) {
        let now = self.now;
        self.nodes[node].ep.initiate(now, conn).expect("initiate");
        self.collect();
    }

    // -- looking at what happened ------------------------------------------------------

    pub fn ike_ups(&self, node: usize) -> Vec<&IkeSaUp> {
        self.nodes[node]
            .events
            .iter()
            .filter_map(|e| match e {
                Event::IkeSaUp(u) => Some(u),
                _ => None,
            })
            .collect()
    }

    pub fn children(&self, node: usize) -> Vec<&ChildSaInstalled> {
        self.nodes[node]
            .events
            .iter()
            .filter_map(|e| match e {
                Event::ChildSaInstalled(c) => Some(&**c),
                _ => None,
            })
            .collect()
    }

    pub fn failures(&self, node: usize) -> Vec<&Failure> {
        self.nodes[node]
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Failed(f) => Some(f),
                _ => None,
            })
            .collect()
    }

    /// Right now (whatever happened before): each side has exactly one IKE SA, it is
    /// established, and both have the same CHILD SA pairs in use.
    pub fn established_now(&self) -> bool {
        let sas = |node: usize| self.nodes[node].ep.ike_sas();
        let (a, b) = (sas(0), sas(1));
        let [a] = a.as_slice() else { return false };
        let [b] = b.as_slice() else { return false };
        let in_use = |s: &ikev2::IkeSaStatus, flip: bool| {
            let mut v: Vec<(u32, u32)> = s
                .children
                .iter()
                .filter(|c| {
                    c.state == ikev2::ChildSaState::Installed
                        || c.state == ikev2::ChildSaState::Rekeying
                })
                .map(|c| {
                    if flip {
                        (c.spi_out, c.spi_in)
                    } else {
                        (c.spi_in, c.spi_out)
                    }
                })
                .collect();
            v.sort_unstable();
            v
        };
        a.state == ikev2::IkeSaState::Established
            && b.state == ikev2::IkeSaState::Established
            && (a.spi_i, a.spi_r) == (b.spi_i, b.spi_r)
            && !in_use(a, false).is_empty()
            && in_use(a, false) == in_use(b, true)
    }

    /// Both sides have an IKE SA up and `children` CHILD SAs each.
    pub fn established(&self, children: usize) -> bool {
        self.ike_ups(0).len() == 1
            && self.ike_ups(1).len() == 1
            && self.children(0).len() == children
            && self.children(1).len() == children
    }
}

/// A seed for an endpoint's RNG.
pub fn seed(n: u8) -> [u8; 32] {
    [n; 32]
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}

pub fn id(s: &str) -> Identity {
    s.parse().expect("identity")
}

/// A site-to-site connection from `local` to `remote` with one child
/// `net`: 10.1.0.0/24 (A) <-> 10.2.0.0/24 (B).
pub fn site(name: &str, local: &str, remote: &str, a_side: bool) -> ConnectionConfig {
    let mut c = ConnectionConfig::new(name);
    c.local_addrs = vec![ip(local)];
    c.remote_addrs = vec![ip(remote)];
    c.local_id = id(local);
    c.remote_id = id(remote);
    c.proposals =
        Proposal::parse_list(ProtocolId::IKE, "aes256-sha256-modp2048").expect("proposal");
    let mut child = ChildConfig::new("net");
    let (l, r) = if a_side {
        ("10.1.0.0/24", "10.2.0.0/24")
    } else {
        ("10.2.0.0/24", "10.1.0.0/24")
    };
    child.local_ts = vec![l.parse().expect("ts")];
    child.remote_ts = vec![r.parse().expect("ts")];
    child.esp_proposals =
        Proposal::parse_list(ProtocolId::ESP, "aes256gcm16").expect("esp proposal");
    c.children = vec![child];
    c
}

pub fn endpoint_config(conn: ConnectionConfig, psk: &str) -> EndpointConfig {
    EndpointConfig {
        connections: vec![conn],
        secrets: vec![SharedSecret::new(vec![id(IP_A), id(IP_B)], psk)],
        ..EndpointConfig::default()
    }
}

/// Initiator A (node 0) and responder B (node 1), configured by the callbacks.
pub fn pair_with(
    seed_net: u64,
    tweak_a: impl FnOnce(&mut EndpointConfig),
    tweak_b: impl FnOnce(&mut EndpointConfig),
) -> Network {
    let mut a = endpoint_config(site("ab", IP_A, IP_B, true), PSK);
    let mut b = endpoint_config(site("ab", IP_B, IP_A, false), PSK);
    tweak_a(&mut a);
    tweak_b(&mut b);
    let a = Endpoint::new(Arc::new(a), seed(1));
    let b = Endpoint::new(Arc::new(b), seed(2));
    Network::new(vec![(a, vec![ip(IP_A)]), (b, vec![ip(IP_B)])], seed_net)
}

/// As [`pair_with`], with the endpoints' RNG seeds (nonces, SPIs, jitter) chosen.
pub fn pair_seeded(
    seed_net: u64,
    seed_a: u8,
    seed_b: u8,
    tweak_a: impl FnOnce(&mut EndpointConfig),
    tweak_b: impl FnOnce(&mut EndpointConfig),
) -> Network {
    let mut a = endpoint_config(site("ab", IP_A, IP_B, true), PSK);
    let mut b = endpoint_config(site("ab", IP_B, IP_A, false), PSK);
    tweak_a(&mut a);
    tweak_b(&mut b);
    let a = Endpoint::new(Arc::new(a), seed(seed_a));
    let b = Endpoint::new(Arc::new(b), seed(seed_b));
    Network::new(vec![(a, vec![ip(IP_A)]), (b, vec![ip(IP_B)])], seed_net)
}

pub fn pair() -> Network {
    pair_with(7, |_| {}, |_| {})
}

/// The connection of an endpoint config (the only one).
pub fn conn(c: &mut EndpointConfig) -> &mut ConnectionConfig {
    &mut c.connections[0]
}

/// Checks that two CHILD SA events describe the same pair from both ends.
pub fn assert_child_pair(a: &ChildSaInstalled, b: &ChildSaInstalled) {
    assert_eq!(a.spi_in, b.spi_out, "A's inbound SPI is B's outbound");
    assert_eq!(a.spi_out, b.spi_in, "A's outbound SPI is B's inbound");
    assert_eq!(a.keys.encr_in, b.keys.encr_out);
    assert_eq!(a.keys.encr_out, b.keys.encr_in);
    assert_eq!(a.keys.integ_in, b.keys.integ_out);
    assert_eq!(a.keys.integ_out, b.keys.integ_in);
    assert_ne!(a.keys.encr_in, a.keys.encr_out);
    assert_eq!(a.suite, b.suite);
    assert_eq!(a.local_ts, b.remote_ts);
    assert_eq!(a.remote_ts, b.local_ts);
    assert_eq!(a.encap, b.encap);
    assert_eq!(a.child, b.child);
    assert!(a.initiator != b.initiator);
}

/// How many CHILD SAs node `node` installed as rekeys.
pub fn child_rekeys(net: &Network, node: usize) -> usize {
    net.children(node)
        .iter()
        .filter(|c| c.rekey_of.is_some())
        .count()
}

/// How many times node `node`'s IKE SA was rekeyed.
pub fn ike_rekeys(net: &Network, node: usize) -> usize {
    net.nodes[node]
        .events
        .iter()
        .filter(|e| matches!(e, ikev2::event::Event::IkeSaRekeyed(_)))
        .count()
}

/// The CHILD SAs in use (not replaced) on a node: (inbound, outbound) SPIs.
pub fn current_children(net: &Network, node: usize) -> Vec<(u32, u32)> {
    let mut v: Vec<(u32, u32)> = net.nodes[node]
        .ep
        .ike_sas()
        .iter()
        .flat_map(|s| s.children.iter())
        .filter(|c| {
            c.state == ikev2::ChildSaState::Installed || c.state == ikev2::ChildSaState::Rekeying
        })
        .map(|c| (c.spi_in, c.spi_out))
        .collect();
    v.sort_unstable();
    v
}

/// Both nodes agree on the CHILD SAs: each of A's pairs is one of B's, mirrored.
pub fn assert_same_children(net: &Network) {
    let a = current_children(net, 0);
    let mut b: Vec<(u32, u32)> = current_children(net, 1)
        .into_iter()
        .map(|(i, o)| (o, i))
        .collect();
    b.sort_unstable();
    assert_eq!(a, b, "A and B disagree on the CHILD SAs");
}
