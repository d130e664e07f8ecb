//! What the daemon remembers about its connections beyond the IKE state machine:
//! when an IKE SA came up, how often it and its children were rekeyed, the last
//! failure, and traffic counters that survive rekeys (a CHILD SA's counters are
//! folded into its child's totals when the SA goes, so `status` never resets them).
//! Builds the [`StatusReport`] of `ikev2d status`.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use esp::counters::{Direction, DropCounters};
use ikev2::IkeSaStatus as LiveIkeSa;
use ikev2::crypto::algorithms::{EspSuite, IkeSuite};
use ikev2::crypto::proposal::{Proposal, Transform};
use ikev2::event::{Failure, IkeSaId};
use ikev2::wire::{EsnId, ProtocolId};

use super::dataplane::SaReport;
use super::dataplane::mtu::TunnelMtu;
use super::supervisor::path_mtu::PathMtus;
use crate::config::DaemonConfig;
use crate::control::proto::{
    ChildStatus, ConnState, ConnStatus, IkeSaStatus, LastError, StatusReport,
};

/// Octets and packets in one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    pub bytes: u64,
    pub packets: u64,
}

impl Traffic {
    fn add(&mut self, o: Traffic) {
        self.bytes += o.bytes;
        self.packets += o.packets;
    }
}

/// Drop counters by name, non-zero ones only.
pub fn drop_map(d: &DropCounters) -> BTreeMap<String, u64> {
    [
        ("replay", d.replay),
        ("icv", d.icv),
        ("ts_mismatch", d.ts_mismatch),
        ("mtu", d.mtu),
        ("no_sa", d.no_sa),
        ("malformed", d.malformed),
        ("padding", d.padding),
        ("next_header", d.next_header),
        ("expired", d.expired),
        ("seq_exhausted", d.seq_exhausted),
    ]
    .into_iter()
    .filter(|(_, v)| *v > 0)
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn add_drops(into: &mut BTreeMap<String, u64>, d: &DropCounters) {
    for (k, v) in drop_map(d) {
        *into.entry(k).or_default() += v;
    }
}

/// One live SA (one direction) the data plane reports on.
#[derive(Debug, Clone)]
struct LiveSa {
    conn: String,
    child: String,
    traffic: Traffic,
    drops: DropCounters,
}

#[derive(Debug, Default)]
struct ChildBook {
    /// When its SAs last passed packets each way, and whether it is one-way.
    traffic: super::supervisor::one_way::ChildTraffic,
    /// TCP services its traffic opens and whether they are answered.
    tcp: super::supervisor::tcp_opens::TcpOpens,
    /// Traffic of the child's SAs that are gone.
    closed_in: Traffic,
    closed_out: Traffic,
    closed_drops: BTreeMap<String, u64>,
    rekeys: u64,
}

#[derive(Debug, Default)]
struct ConnBook {
    /// Per IKE SA: when it was established and how often rekeyed.
    ike: HashMap<IkeSaId, (Instant, u64)>,
    children: BTreeMap<String, ChildBook>,
    last_error: Option<LastError>,
    /// Re-establishments in the last hour and why (flapping).
    flaps: super::flapping::Flaps,
    /// Failovers to another of `remote_addrs`, and the last one in words.
    failovers: u64,
    last_failover: Option<LastError>,
    /// Times the NAT in front of us dropped our mapping, and what `keep_alive =
    /// "auto"` learned.
    nat: super::supervisor::nat_mapping::NatMapping,
    /// Times the peer's NAT gave it a new mapping (IKE and ESP followed).
    peer_mapping_changes: u64,
}

/// What [`Book::child_totals`] sums up.
#[derive(Debug, Default)]
struct ChildTotals {
    inbound: Traffic,
    outbound: Traffic,
    drops: BTreeMap<String, u64>,
    rekeys: u64,
}

/// Upper bounds of the handshake-time histogram, in seconds.
const HANDSHAKE_BOUNDS: [f64; 9] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

/// Daemon-side memory of every connection.
#[derive(Debug, Default)]
pub struct Book {
    conns: BTreeMap<String, ConnBook>,
    /// Failures by `PHASE:cause`.
    failures: BTreeMap<String, u64>,
    /// IKE SAs we initiated, by id: when.
    initiated: HashMap<IkeSaId, Instant>,
    handshakes: Option<crate::control::proto::Histogram>,
    /// Live SAs by (direction, SPI).
    live: HashMap<(Direction, u32), LiveSa>,
    /// Per live outbound SA: its peer and its room, as the data plane computes it
    /// (the same [`TunnelMtu`], kept in step by [`Book::path_mtu_changed`]).
    tunnels: HashMap<u32, (IpAddr, TunnelMtu)>,
}

impl Book {
    fn conn(&mut self, conn: &str) -> &mut ConnBook {
        self.conns.entry(conn.to_owned()).or_default()
    }

    pub fn ike_up(&mut self, conn: &str, id: IkeSaId, now: Instant) {
        self.conn(conn).ike.insert(id, (now, 0));
        self.conn(conn).flaps.up(now);
        if let Some(t) = self.initiated.remove(&id) {
            self.handshakes
                .get_or_insert_with(|| {
                    crate::control::proto::Histogram::with_bounds(&HANDSHAKE_BOUNDS)
                })
                .observe(now.saturating_duration_since(t).as_secs_f64());
        }
    }

    /// We started IKE SA `id` (its handshake time is measured until it is up).
    pub fn initiated(&mut self, id: IkeSaId, now: Instant) {
        self.initiated.insert(id, now);
    }

    pub fn ike_rekeyed(&mut self, conn: &str, id: IkeSaId) {
        if let Some(e) = self.conn(conn).ike.get_mut(&id) {
            e.1 += 1;
        }
    }

    pub fn ike_down(&mut self, conn: &str, id: IkeSaId, reason: &ikev2::event::DownReason) {
        self.conn(conn).ike.remove(&id);
        self.conn(conn).flaps.down(reason);
        self.initiated.remove(&id);
    }

    /// A CHILD SA pair is installed (`rekey`: it replaces another).
    pub fn child_installed(
        &mut self,
        conn: &str,
        child: &str,
        spi_in: u32,
        spi_out: u32,
        rekey: bool,
        tunnel: (IpAddr, TunnelMtu),
    ) {
        self.tunnels.insert(spi_out, tunnel);
        let back = !self
            .live
            .values()
            .any(|s| s.conn == conn && s.child == child);
        let c = self
            .conn(conn)
            .children
            .entry(child.to_owned())
            .or_default();
        if rekey {
            c.rekeys += 1;
        }
        if back {
            // Up again after a time without SAs: what was unanswered before is moot.
            c.traffic = super::supervisor::one_way::ChildTraffic::default();
            c.tcp = super::supervisor::tcp_opens::TcpOpens::default();
        }
        for key in [(Direction::Inbound, spi_in), (Direction::Outbound, spi_out)] {
            self.live.entry(key).or_insert_with(|| LiveSa {
                conn: conn.to_owned(),
                child: child.to_owned(),
                traffic: Traffic::default(),
                drops: DropCounters::default(),
            });
        }
    }

    /// The path MTU to `peer` changed: the rooms of its tunnels follow.
    pub fn path_mtu_changed(&mut self, peer: IpAddr, path_mtu: u16) {
        for (p, t) in self.tunnels.values_mut() {
            if *p == peer {
                t.set_path(path_mtu);
            }
        }
    }

    /// The smallest inner MTU of the tunnels to `peer`.
    pub fn inner_mtu_to(&self, peer: IpAddr) -> Option<u16> {
        self.tunnels
            .values()
            .filter(|(p, _)| *p == peer)
            .map(|(_, t)| t.inner)
            .min()
    }

    /// The largest path MTU the tunnels to `peer` need ([`TunnelMtu::needed_path`]).
    pub fn needed_path_to(&self, peer: IpAddr) -> Option<u16> {
        self.tunnels
            .values()
            .filter(|(p, _)| *p == peer)
            .map(|(_, t)| t.needed_path())
            .max()
    }

    /// Every live tunnel: outbound SPI, peer, room.
    pub fn tunnels(&self) -> Vec<(u32, IpAddr, TunnelMtu)> {
        self.tunnels
            .iter()
            .map(|(s, (p, t))| (*s, *p, *t))
            .collect()
    }

    /// The peer and room of the tunnel whose outbound SA is `spi_out`.
    pub fn tunnel(&self, spi_out: u32) -> Option<(IpAddr, TunnelMtu)> {
        self.tunnels.get(&spi_out).copied()
    }

    /// Counters from a worker. A final report folds the SA into its child's totals.
    pub fn usage(&mut self, r: &SaReport, now: Instant) {
        let key = (r.usage.direction, r.usage.spi.0);
        if !r.handshakes.is_empty()
            && let Some(sa) = self.live.get(&key)
        {
            let (conn, child) = (sa.conn.clone(), sa.child.clone());
            let tcp = &mut self.conn(&conn).children.entry(child).or_default().tcp;
            for s in &r.handshakes {
                match key.0 {
                    Direction::Outbound => tcp.opened(*s, now),
                    Direction::Inbound => tcp.answered(*s, now),
                }
            }
        }
        if let (Some(t), Some(sa)) = (r.last_packet, self.live.get(&key)) {
            let (conn, child) = (sa.conn.clone(), sa.child.clone());
            self.conn(&conn)
                .children
                .entry(child)
                .or_default()
                .traffic
                .packet(key.0 == Direction::Inbound, t);
        }
        let traffic = Traffic {
            bytes: r.usage.bytes,
            packets: r.usage.packets,
        };
        if r.removed {
            if key.0 == Direction::Outbound {
                self.tunnels.remove(&key.1);
            }
            if let Some(sa) = self.live.remove(&key) {
                let c = self
                    .conns
                    .entry(sa.conn)
                    .or_default()
                    .children
                    .entry(sa.child)
                    .or_default();
                match key.0 {
                    Direction::Inbound => c.closed_in.add(traffic),
                    Direction::Outbound => c.closed_out.add(traffic),
                }
                add_drops(&mut c.closed_drops, &r.usage.drops);
            }
        } else if let Some(sa) = self.live.get_mut(&key) {
            sa.traffic = traffic;
            sa.drops = r.usage.drops;
        }
    }

    /// `conn`'s `child`'s TCP services and their answers.
    pub fn tcp_opens(
        &mut self,
        conn: &str,
        child: &str,
    ) -> &mut super::supervisor::tcp_opens::TcpOpens {
        &mut self
            .conn(conn)
            .children
            .entry(child.to_owned())
            .or_default()
            .tcp
    }

    /// The peer of `conn` came from a new address or port (its NAT's mapping).
    pub fn peer_moved(&mut self, conn: &str) {
        self.conn(conn).peer_mapping_changes += 1;
    }

    /// The connection and child of a live SA.
    pub fn owner(&self, dir: Direction, spi: u32) -> Option<(String, String)> {
        self.live
            .get(&(dir, spi))
            .map(|s| (s.conn.clone(), s.child.clone()))
    }

    /// `conn`'s NAT mapping losses and learned keep-alive interval.
    pub fn nat_mapping(&mut self, conn: &str) -> &mut super::supervisor::nat_mapping::NatMapping {
        &mut self.conn(conn).nat
    }

    /// The children with a live SA, as (connection, child).
    pub fn live_children(&self) -> std::collections::BTreeSet<(String, String)> {
        self.live
            .values()
            .map(|s| (s.conn.clone(), s.child.clone()))
            .collect()
    }

    /// When `conn`'s `child` last passed packets each way, and whether it is one-way.
    pub fn child_traffic(
        &mut self,
        conn: &str,
        child: &str,
    ) -> &mut super::supervisor::one_way::ChildTraffic {
        &mut self
            .conn(conn)
            .children
            .entry(child.to_owned())
            .or_default()
            .traffic
    }

    /// The current counters of one live SA.
    pub fn sa_traffic(&self, dir: Direction, spi: u32) -> Traffic {
        self.live
            .get(&(dir, spi))
            .map(|s| s.traffic)
            .unwrap_or_default()
    }

    pub fn failed(&mut self, f: &Failure) {
        *self
            .failures
            .entry(format!("{}:{}", f.phase, cause_label(&f.cause)))
            .or_default() += 1;
        if let Some(id) = f.ike_sa.filter(|_| !f.ike_sa_kept) {
            self.initiated.remove(&id);
        }
        if let Some(conn) = &f.conn {
            self.error(conn, &f.phase.to_string(), f.cause.to_string());
        }
    }

    /// `conn` is up again after its peer stopped answering (with another address:
    /// a failover, counted).
    pub fn reconnected(&mut self, r: &ikev2::remotes::Reconnected) {
        if !r.is_failover() {
            return;
        }
        let c = self.conn(&r.conn);
        c.failovers += 1;
        c.last_failover = Some(LastError {
            phase: "failover".to_owned(),
            reason: format!(
                "{} stopped answering ({}), now using {} after {:.1} s",
                r.from,
                r.why,
                r.to,
                r.gap.as_secs_f64()
            ),
            at_unix: unix_now(),
        });
    }

    /// The traffic of standby pair `primary` moved from `from` to `to` (counted as a
    /// failover of the pair's primary).
    pub fn switched(&mut self, primary: &str, from: &str, to: &str, why: &str) {
        let c = self.conn(primary);
        c.failovers += 1;
        c.last_failover = Some(LastError {
            phase: "failover".to_owned(),
            reason: format!("traffic moved from {from} to {to}: {why}"),
            at_unix: unix_now(),
        });
    }

    /// Records `conn`'s last error (`phase` in IKE terms, `reason` for the operator).
    pub fn error(&mut self, conn: &str, phase: &str, reason: String) {
        self.conn(conn).last_error = Some(LastError {
            phase: phase.to_owned(),
            reason,
            at_unix: unix_now(),
        });
    }

    /// Cumulative traffic and drops of a child: closed SAs plus live ones.
    fn child_totals(&self, conn: &str, child: &str) -> ChildTotals {
        let mut t = self
            .conns
            .get(conn)
            .and_then(|c| c.children.get(child))
            .map_or_else(ChildTotals::default, |c| ChildTotals {
                inbound: c.closed_in,
                outbound: c.closed_out,
                drops: c.closed_drops.clone(),
                rekeys: c.rekeys,
            });
        for ((dir, _), sa) in &self.live {
            if sa.conn == conn && sa.child == child {
                match dir {
                    Direction::Inbound => t.inbound.add(sa.traffic),
                    Direction::Outbound => t.outbound.add(sa.traffic),
                }
                add_drops(&mut t.drops, &sa.drops);
            }
        }
        t
    }

    /// `ikev2d status`: every configured connection, with the live IKE SAs, and the
    /// daemon-wide `counters`.
    pub fn report(
        &self,
        config: &DaemonConfig,
        live: &[LiveIkeSa],
        path_mtus: &PathMtus,
        now: Instant,
        counters: BTreeMap<String, u64>,
    ) -> StatusReport {
        let connections = config
            .connections
            .iter()
            .map(|conn| {
                let sas: Vec<&LiveIkeSa> = live.iter().filter(|s| s.conn == conn.name).collect();
                let ike = sas
                    .iter()
                    .find(|s| s.state == ikev2::IkeSaState::Established)
                    .or_else(|| sas.first())
                    .copied();
                let book = self.conns.get(&conn.name);
                let state = match ike {
                    Some(s) if s.state == ikev2::IkeSaState::Established => ConnState::Established,
                    Some(_) => ConnState::Connecting,
                    None => ConnState::Down,
                };
                let (local, remote) = match ike {
                    // An initiation waiting for its DNS names has no peer yet.
                    Some(s) if !s.remote.ip().is_unspecified() => {
                        (s.local.to_string(), s.remote.to_string())
                    }
                    _ => (join(&conn.local_addrs), remote_text(conn)),
                };
                let ike_sa = ike.and_then(|s| {
                    let suite = s.suite?;
                    let (since, rekeys) = book
                        .and_then(|b| b.ike.get(&s.id))
                        .copied()
                        .unwrap_or((now, 0));
                    Some(IkeSaStatus {
                        spi_i: format!("{:016x}", s.spi_i.0),
                        spi_r: format!("{:016x}", s.spi_r.0),
                        proposal: ike_proposal(&suite),
                        algorithms: swanctl_ike(&suite),
                        local_auth: s.auth_local.clone().unwrap_or_default(),
                        remote_auth: s.auth_remote.clone().unwrap_or_default(),
                        established_secs: now.saturating_duration_since(since).as_secs(),
                        rekeys,
                        local: s.local.to_string(),
                        remote: s.remote.to_string(),
                    })
                });
                let children = conn
                    .children
                    .iter()
                    .map(|child| {
                        let live_child = ike.and_then(|s| {
                            let mine = s.children.iter().filter(|c| c.name == child.name);
                            let all: Vec<_> = mine.collect();
                            all.iter()
                                .find(|c| c.outbound)
                                .or_else(|| all.first())
                                .copied()
                        });
                        let t = self.child_totals(&conn.name, &child.name);
                        let mut st = ChildStatus {
                            name: child.name.clone(),
                            state: "DOWN".to_owned(),
                            spi_in: String::new(),
                            spi_out: String::new(),
                            proposal: String::new(),
                            algorithms: String::new(),
                            local_ts: child.local_ts.iter().map(ToString::to_string).collect(),
                            remote_ts: child.remote_ts.iter().map(ToString::to_string).collect(),
                            bytes_in: t.inbound.bytes,
                            bytes_out: t.outbound.bytes,
                            packets_in: t.inbound.packets,
                            packets_out: t.outbound.packets,
                            drops: t.drops,
                            sa_bytes_in: 0,
                            sa_bytes_out: 0,
                            sa_packets_in: 0,
                            sa_packets_out: 0,
                            rekeys: t.rekeys,
                            mtu: None,
                            path_mtu: None,
                            path_mtu_source: None,
                            last_inbound_secs: None,
                            last_outbound_secs: None,
                            warning: None,
                            unanswered_tcp: Vec::new(),
                        };
                        let traffic = self
                            .conns
                            .get(&conn.name)
                            .and_then(|b| b.children.get(&child.name))
                            .map(|c| c.traffic)
                            .unwrap_or_default();
                        let age = |t: Option<Instant>| {
                            t.map(|t| now.saturating_duration_since(t).as_secs())
                        };
                        st.last_inbound_secs = age(traffic.last_in);
                        st.last_outbound_secs = age(traffic.last_out);
                        if let Some(c) = live_child {
                            let sa_in = self.sa_traffic(Direction::Inbound, c.spi_in);
                            let sa_out = self.sa_traffic(Direction::Outbound, c.spi_out);
                            st.state = c.state.to_string();
                            st.spi_in = format!("{:08x}", c.spi_in);
                            st.spi_out = format!("{:08x}", c.spi_out);
                            st.proposal = esp_proposal(&c.suite);
                            st.algorithms = swanctl_esp(&c.suite);
                            st.local_ts = c.local_ts.iter().map(ToString::to_string).collect();
                            st.remote_ts = c.remote_ts.iter().map(ToString::to_string).collect();
                            st.sa_bytes_in = sa_in.bytes;
                            st.sa_packets_in = sa_in.packets;
                            st.sa_bytes_out = sa_out.bytes;
                            st.sa_packets_out = sa_out.packets;
                            if let Some((peer, t)) = self.tunnel(c.spi_out) {
                                let p = path_mtus.get(peer);
                                st.mtu = Some(t.inner);
                                st.path_mtu = Some(t.path);
                                st.path_mtu_source = Some(p.source.to_string());
                            }
                            st.warning = traffic
                                .one_way_for(now)
                                .map(|d| super::supervisor::one_way::warning(conn, child, d));
                            if let Some(b) = book.and_then(|b| b.children.get(&child.name)) {
                                st.unanswered_tcp = b
                                    .tcp
                                    .unanswered(now)
                                    .iter()
                                    .map(|(svc, d)| {
                                        let others = traffic.last_in.is_some_and(|t| t + *d >= now);
                                        super::supervisor::tcp_opens::sentence(svc, *d, others)
                                    })
                                    .collect();
                            }
                        }
                        st
                    })
                    .collect();
                ConnStatus {
                    name: conn.name.clone(),
                    state,
                    local,
                    remote,
                    nat_detected: ike
                        .is_some_and(|s| s.nat.local_behind_nat || s.nat.remote_behind_nat),
                    ike_sa,
                    children,
                    last_error: book.and_then(|b| b.last_error.clone()),
                    remotes: Vec::new(),
                    warning: book.and_then(|b| b.flaps.warning(config.daemon.flap_warning, now)),
                    reestablishments: book.map_or(0, |b| b.flaps.total),
                    failovers: book.map_or(0, |b| b.failovers),
                    peer_mapping_changes: book.map_or(0, |b| b.peer_mapping_changes),
                    last_failover: book.and_then(|b| b.last_failover.clone()),
                    pair: None,
                    keep_alive: keep_alive_status(conn, config, ike, book, now),
                    break_glass: None,
                }
            })
            .collect();
        StatusReport {
            connections,
            counters,
            failures: self.failures.clone(),
            handshake_seconds: self.handshakes.clone().unwrap_or_else(|| {
                crate::control::proto::Histogram::with_bounds(&HANDSHAKE_BOUNDS)
            }),
            key_export: None,
        }
    }
}

/// The keep-alive line of a connection: while its IKE SA is behind a NAT, or once
/// the NAT dropped its mapping.
fn keep_alive_status(
    conn: &crate::config::Connection,
    config: &DaemonConfig,
    ike: Option<&LiveIkeSa>,
    book: Option<&ConnBook>,
    now: Instant,
) -> Option<crate::control::proto::KeepAliveStatus> {
    let setting = conn.keep_alive.unwrap_or(config.daemon.keep_alive);
    let m = book.map(|b| b.nat.clone()).unwrap_or_default();
    let behind = ike.is_some_and(|s| s.nat.local_behind_nat);
    if !behind && m.losses == 0 {
        return None;
    }
    Some(crate::control::proto::KeepAliveStatus {
        secs: m.effective(setting).as_secs(),
        auto: setting == crate::config::KeepAlive::Auto,
        mapping_losses: m.losses,
        last_loss: m.text(setting),
        last_loss_secs_ago: m
            .last
            .map(|l| now.saturating_duration_since(l.at).as_secs()),
        last_loss_silence_secs: m.last.map(|l| l.silence.as_secs()),
    })
}

fn join(addrs: &[std::net::IpAddr]) -> String {
    if addrs.is_empty() {
        return "%any".to_owned();
    }
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// `remote_addrs` as configured: addresses, then ranges (`%any` when none).
fn remote_text(conn: &crate::config::Connection) -> String {
    let hosts: Vec<String> = if conn.remote_hosts.is_empty() {
        conn.remote_addrs.iter().map(ToString::to_string).collect()
    } else {
        conn.remote_hosts
            .iter()
            .map(|h| match h {
                crate::config::RemoteHost::Addr(a) => a.to_string(),
                crate::config::RemoteHost::Name(n) => n.clone(),
            })
            .collect()
    };
    if hosts.is_empty() && conn.remote_ranges.is_empty() {
        return "%any".to_owned();
    }
    hosts
        .into_iter()
        .chain(conn.remote_ranges.iter().map(|(a, l)| format!("{a}/{l}")))
        .collect::<Vec<_>>()
        .join(",")
}

/// The IKE endpoint's and the data plane's daemon-wide counters, non-zero ones.
pub fn daemon_counters(
    ike: &ikev2::Stats,
    data: &super::dataplane::DataStats,
) -> BTreeMap<String, u64> {
    use std::sync::atomic::Ordering::Relaxed;
    let ike_fields = [
        ("received", ike.received),
        ("sent", ike.sent),
        ("retransmitted_requests", ike.retransmitted_requests),
        ("retransmitted_responses", ike.retransmitted_responses),
        ("dropped_too_large", ike.dropped_too_large),
        ("dropped_parse_error", ike.dropped_parse_error),
        ("dropped_unknown_spi", ike.dropped_unknown_spi),
        ("dropped_bad_icv", ike.dropped_bad_icv),
        ("dropped_out_of_window", ike.dropped_out_of_window),
        ("dropped_duplicate", ike.dropped_duplicate),
        ("dropped_unexpected", ike.dropped_unexpected),
        ("dropped_invalid", ike.dropped_invalid),
        ("dropped_cookie_required", ike.dropped_cookie_required),
        ("dropped_half_open_limit", ike.dropped_half_open_limit),
        ("dropped_block_threshold", ike.dropped_block_threshold),
        ("dropped_fragment_limit", ike.dropped_fragment_limit),
        ("dropped_fragment_timeout", ike.dropped_fragment_timeout),
        ("fragmented_messages", ike.fragmented_messages),
        ("reassembled_messages", ike.reassembled_messages),
        ("path_probes_sent", ike.path_probes_sent),
        ("path_probes_answered", ike.path_probes_answered),
        ("cookies_sent", ike.cookies_sent),
        ("invalid_ke_sent", ike.invalid_ke_sent),
        ("half_open_timeouts", ike.half_open_timeouts),
        ("rekeys_refused", ike.rekeys_refused),
        ("dh_computations", ike.dh_computations),
        ("failovers", ike.failovers),
        ("unreachable_reports", ike.unreachable_reports),
        ("peer_mapping_changes", ike.peer_mapping_changes),
        // Counted by the daemon before the state machine sees the datagram.
        ("queue_full", data.ike_queue_full.load(Relaxed)),
        ("not_allowed", data.ike_not_allowed.load(Relaxed)),
        (
            "init_rate_limited",
            data.ike_init_rate_limited.load(Relaxed),
        ),
    ];
    let esp_fields = [
        ("out_not_ip", data.out_not_ip.load(Relaxed)),
        ("out_offload_errors", data.out_offload_errors.load(Relaxed)),
        ("out_no_policy", data.out_no_policy.load(Relaxed)),
        ("out_trapped", data.out_trapped.load(Relaxed)),
        (
            "out_fragmented_inner",
            data.out_fragmented_inner.load(Relaxed),
        ),
        (
            "out_inner_fragments",
            data.out_inner_fragments.load(Relaxed),
        ),
        ("out_too_big_sent", data.out_too_big_sent.load(Relaxed)),
        ("out_too_big_silent", data.out_too_big_silent.load(Relaxed)),
        ("pmtu_reports", data.pmtu_reports.load(Relaxed)),
        ("pmtu_applied", data.pmtu_applied.load(Relaxed)),
        ("pmtu_ignored", data.pmtu_ignored.load(Relaxed)),
        ("pmtu_unverifiable", data.pmtu_unverifiable.load(Relaxed)),
        ("in_no_sa", data.in_no_sa.load(Relaxed)),
        ("in_invalid", data.in_invalid.load(Relaxed)),
        ("in_keepalives", data.in_keepalives.load(Relaxed)),
        ("send_errors", data.send_errors.load(Relaxed)),
        ("tun_write_errors", data.tun_write_errors.load(Relaxed)),
        ("in_coalesced", data.in_coalesced.load(Relaxed)),
        ("in_gro_datagrams", data.in_gro_datagrams.load(Relaxed)),
    ];
    let ike = ike_fields.into_iter().map(|(k, v)| (format!("ike_{k}"), v));
    let esp = esp_fields.into_iter().map(|(k, v)| (format!("esp_{k}"), v));
    ike.chain(esp).filter(|(_, v)| *v > 0).collect()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A short label of a failure cause for metrics: its variant name in snake case
/// (`NoProposalChosen` -> `no_proposal_chosen`).
pub fn cause_label(c: &ikev2::error::Cause) -> String {
    let debug = format!("{c:?}");
    let name: String = debug
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    let mut out = String::new();
    for (i, ch) in name.chars().enumerate() {
        if ch.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

/// A negotiated IKE suite in strongSwan's keyword notation.
pub fn ike_proposal(s: &IkeSuite) -> String {
    let mut t = vec![Transform::encr(s.encr)];
    t.extend(s.integ.map(Transform::integ));
    t.push(Transform::prf(s.prf));
    t.push(Transform::dh(s.dh));
    t.extend(s.additional().map(additional_ke));
    Proposal::from_transforms(1, ProtocolId::IKE, t).to_string()
}

/// RFC 9370 additional key exchange `n` with `method`, which strongSwan 6 writes
/// `keN_<method>` (`ke1_mlkem768`).
fn additional_ke((n, method): (u8, ikev2::wire::DhGroup)) -> Transform {
    Transform::new(
        ikev2::wire::TransformType(ikev2::wire::TransformType::ADDKE1.0 + n - 1),
        method.0,
        None,
    )
}

/// A negotiated ESP suite in strongSwan's keyword notation.
pub fn esp_proposal(s: &EspSuite) -> String {
    let mut t = vec![Transform::encr(s.encr)];
    t.extend(s.integ.map(Transform::integ));
    t.extend(s.dh.map(Transform::dh));
    t.extend(s.additional().map(additional_ke));
    t.push(Transform::esn(if s.esn {
        EsnId::ESN
    } else {
        EsnId::NO_ESN
    }));
    Proposal::from_transforms(1, ProtocolId::ESP, t).to_string()
}

/// A key exchange method as strongSwan names it (`CURVE_25519`, `ML_KEM_768`).
fn swanctl_ke(method: ikev2::wire::DhGroup) -> String {
    use ikev2::wire::DhGroup;
    match method {
        DhGroup::CURVE25519 => "CURVE_25519".to_owned(),
        DhGroup::CURVE448 => "CURVE_448".to_owned(),
        m => m.to_string(),
    }
}

/// An encryption algorithm as `swanctl --list-sas` shows it (`AES_GCM_16-256`).
fn swanctl_encr(e: ikev2::crypto::algorithms::EncrAlgorithm) -> String {
    use ikev2::crypto::algorithms::EncrAlgorithm;
    match e {
        EncrAlgorithm::AesCbc { key_bits } => format!("AES_CBC-{key_bits}"),
        EncrAlgorithm::AesGcm { key_bits, icv_len } => format!("AES_GCM_{icv_len}-{key_bits}"),
        EncrAlgorithm::ChaCha20Poly1305 => "CHACHA20_POLY1305-256".to_owned(),
        other => match other.to_transform() {
            (id, Some(bits)) => format!("{id}-{bits}"),
            (id, None) => id.to_string(),
        },
    }
}

/// The key exchanges of a suite, `/`-joined as swanctl shows them: the first one, then
/// `KE1_ML_KEM_768` and so on for RFC 9370 additional ones.
fn swanctl_kes(
    first: Option<ikev2::wire::DhGroup>,
    additional: impl Iterator<Item = (u8, ikev2::wire::DhGroup)>,
) -> Vec<String> {
    first
        .map(swanctl_ke)
        .into_iter()
        .chain(additional.map(|(n, m)| format!("KE{n}_{}", swanctl_ke(m))))
        .collect()
}

/// A negotiated IKE suite as `swanctl --list-sas` shows it
/// (`AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519/KE1_ML_KEM_768`).
pub fn swanctl_ike(s: &IkeSuite) -> String {
    let mut parts = vec![swanctl_encr(s.encr)];
    parts.extend(s.integ.map(|i| i.id().to_string()));
    parts.push(format!("PRF_{}", s.prf.id()));
    parts.extend(swanctl_kes(Some(s.dh), s.additional()));
    parts.join("/")
}

/// A negotiated ESP suite as `swanctl --list-sas` shows it after `ESP:`
/// (`AES_GCM_16-256/CURVE_25519/KE1_ML_KEM_768`, `/ESN` last when ESN is on).
pub fn swanctl_esp(s: &EspSuite) -> String {
    let mut parts = vec![swanctl_encr(s.encr)];
    parts.extend(s.integ.map(|i| i.id().to_string()));
    parts.extend(swanctl_kes(s.dh, s.additional()));
    if s.esn {
        parts.push("ESN".to_owned());
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suites_print_as_swanctl_lists_them() {
        let ike = |s: &str| {
            Proposal::parse_ike(s)
                .expect("parses")
                .ike_suite()
                .expect("complete")
        };
        let esp = |s: &str| {
            Proposal::parse_esp(s)
                .expect("parses")
                .esp_suite()
                .expect("complete")
        };
        // As strongSwan 5.9.8 and 6.1.0 list them in the captures and interop tests.
        assert_eq!(
            swanctl_ike(&ike("aes256gcm16-prfsha384-x25519-ke1_mlkem768")),
            "AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519/KE1_ML_KEM_768"
        );
        assert_eq!(
            swanctl_ike(&ike("aes256-sha256-modp2048")),
            "AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048"
        );
        assert_eq!(
            swanctl_esp(&esp("aes256gcm16-x25519-ke1_mlkem768")),
            "AES_GCM_16-256/CURVE_25519/KE1_ML_KEM_768"
        );
        assert_eq!(swanctl_esp(&esp("aes256gcm16")), "AES_GCM_16-256");
        assert_eq!(
            swanctl_esp(&esp("aes128-sha256-ecp384-esn")),
            "AES_CBC-128/HMAC_SHA2_256_128/ECP_384/ESN"
        );
    }

    #[test]
    fn suites_print_as_strongswan_keywords() {
        let ike = Proposal::parse_ike("aes256-sha256-modp2048")
            .expect("parses")
            .ike_suite()
            .expect("complete");
        assert_eq!(ike_proposal(&ike), "aes256-sha256-modp2048");
        let esp = Proposal::parse_esp("aes128gcm16-curve25519")
            .expect("parses")
            .esp_suite()
            .expect("complete");
        assert_eq!(esp_proposal(&esp), "aes128gcm16-curve25519");
        let esp = Proposal::parse_esp("aes256gcm16-x25519-ke1_mlkem768")
            .expect("parses")
            .esp_suite()
            .expect("complete");
        assert_eq!(esp_proposal(&esp), "aes256gcm16-curve25519-ke1_mlkem768");
        let hybrid = Proposal::parse_ike("aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke2_ecp384")
            .expect("parses")
            .ike_suite()
            .expect("complete");
        assert_eq!(
            ike_proposal(&hybrid),
            "aes256gcm16-prfsha384-curve25519-ke1_mlkem768-ke2_ecp384"
        );
    }
}
