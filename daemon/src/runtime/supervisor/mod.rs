//! The control task: the one owner of the [`ikev2::Endpoint`]. It feeds the endpoint
//! IKE messages, timer expiries, data-plane usage and operator commands, and carries
//! out what the endpoint asks: datagrams to send, SAs to install in the data plane,
//! routes, trap policies, log lines. No locks around protocol state: everything that
//! touches it runs on this task.
//!
//! This module holds the loop ([`Supervisor::run`]: what wakes the task, then
//! [`Supervisor::flush`] of the endpoint's output), sending, start actions, traps and
//! shutdown. The other jobs of the task have rooms of their own:
//! - [`admission`]: which IKE datagrams reach the endpoint (allowlist, draining peers,
//!   IKE_SA_INIT rate limit), with the one look at the IKE header before it;
//! - [`sa_sync`]: endpoint events into the data plane, routes and the book, and the
//!   workers' usage reports back ([`sa_sync::ChildPairs`]);
//! - [`commands`]: control-socket requests, audit, `up` waiters, key export;
//! - [`reload`]: what SIGHUP does;
//! - [`credentials`]: certificate expiry and chain warnings in the log;
//! - break-glass activations live in [`super::breakglass`].

mod admission;
mod black_hole;
mod commands;
mod credentials;
pub mod liveness;
pub mod nat_mapping;
pub mod one_way;
pub mod path_mtu;
mod path_search;
mod ping;
mod reload;
mod resolver;
mod sa_sync;
pub mod standby;
pub mod tcp_opens;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use esp::io::{Datagram, DatagramKind, DatagramSink as _, UdpEncapSocket};
use ikev2::config::DpdAction;
use ikev2::wire::Header;
use ikev2::{Endpoint, TransmitKind};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::book::Book;
use super::breakglass::{Activation, Verified};
use super::dataplane::{DataPlane, IkeDatagram, OutboundCmd, TrapPolicy, WorkerMsg};
use super::routes::RouteTable;
use crate::config::{DaemonConfig, StartAction};
use crate::control::access::Access;
use crate::control::audit::AuditLog;
use crate::control::proto::Request;
use crate::control::server::ControlCall;

pub use admission::{peer_allowed, peer_allowed_with};
pub use commands::{KEY_EXPORT_DEFAULT, KEY_EXPORT_MAX};

/// The IKE sockets of one local address.
#[derive(Debug)]
pub struct IkeSockets {
    pub addr: IpAddr,
    /// Port 500.
    pub udp500: Arc<UdpSocket>,
    /// Port 4500, shared with the inbound data worker (which receives on it); it
    /// puts the non-ESP marker in front of what is sent as [`DatagramKind::Ike`].
    pub udp4500: UdpEncapSocket,
}

/// At most this many IKE datagrams, and for at most this long, are handled before the
/// endpoint's output is carried out (when that many are queued): the bound on the delay
/// a batch adds to its first datagram's answer. By time as well as count because a
/// MODP IKE_SA_INIT costs about 1 ms and an X25519 one about 0.1 ms; a longer batch
/// leaves a peer with many exchanges in flight idle (measured: `scripts/bench
/// handshake`, docs/performance.md).
const IKE_BATCH: usize = 32;
const IKE_BATCH_TIME: Duration = Duration::from_millis(1);

/// Why the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Signal,
    WorkerFailed,
}

#[derive(Debug)]
pub struct Supervisor {
    pub config: Arc<DaemonConfig>,
    /// Where SIGHUP reloads the configuration from.
    pub config_path: std::path::PathBuf,
    pub endpoint: Endpoint,
    pub sockets: Vec<IkeSockets>,
    pub data: DataPlane,
    pub routes: RouteTable,
    pub book: Book,
    /// The CHILD SA pairs in the data plane.
    pairs: sa_sync::ChildPairs,
    /// The outer path MTU to each peer.
    pub(super) path_mtus: path_mtu::PathMtus,
    /// Path MTU searches over probes.
    searches: path_search::PathSearches,
    /// The kernel's reverse-path filter drops, looked at every few seconds.
    pub(super) rp_watch: super::rp_filter::RpWatch,
    rp_checked: Option<Instant>,
    /// Standby pairs (`failover_of`): which member carries the traffic.
    pub(super) standbys: standby::StandbyGroups,
    /// Tunnels that send and hear nothing back (what a path MTU drop without ICMP
    /// looks like).
    black_holes: black_hole::BlackHoleWatch,
    /// Datagram times per peer, to tell when the NAT in front of us dropped our
    /// mapping.
    nat: nat_mapping::NatWatch,
    waiters: Vec<commands::UpWaiter>,
    traps: Vec<TrapPolicy>,
    /// `[daemon].key_export_dir` (debugging).
    key_export: Option<super::keyexport::KeyExport>,
    /// Set while an admin has turned key export on (`ikev2d debug key-export on`):
    /// until when. Configuration alone never exports.
    key_export_until: Option<Instant>,
    /// Activated break-glass connections by name.
    pub(super) break_glass: BTreeMap<String, Activation>,
    /// Where the blocking verification of halves sends its result.
    pub(super) verified_tx: mpsc::UnboundedSender<Verified>,
    verified_rx: Option<mpsc::UnboundedReceiver<Verified>>,
    /// DNS answers, back from the resolver tasks.
    resolved_tx: mpsc::UnboundedSender<resolver::Resolved>,
    resolved_rx: Option<mpsc::UnboundedReceiver<resolver::Resolved>>,
    /// When the names in `remote_addrs` were last resolved for the responder's view.
    names_refreshed: Option<Instant>,
    /// When the certificate warnings were last logged (`None`: at the next tick).
    credentials_checked: Option<Instant>,
    /// Admin requests whose audit record is written, back from the writer.
    audited_tx: mpsc::UnboundedSender<commands::Audited>,
    audited_rx: Option<mpsc::UnboundedReceiver<commands::Audited>>,
    /// Which IKE datagrams may reach the endpoint.
    admission: admission::Admission,
    /// Who may do what on the control socket.
    access: Access,
    pub(super) audit: AuditLog,
}

impl Supervisor {
    pub fn new(
        config: Arc<DaemonConfig>,
        (access, audit): (Access, AuditLog),
        config_path: std::path::PathBuf,
        endpoint: Endpoint,
        sockets: Vec<IkeSockets>,
        data: DataPlane,
        routes: RouteTable,
    ) -> Self {
        let key_export = config
            .daemon
            .key_export_dir
            .clone()
            .map(super::keyexport::KeyExport::new);
        let (verified_tx, verified_rx) = mpsc::unbounded_channel();
        let (audited_tx, audited_rx) = mpsc::unbounded_channel();
        let (resolved_tx, resolved_rx) = mpsc::unbounded_channel();
        Self {
            admission: admission::Admission::new(config.daemon.init_rate_per_source),
            path_mtus: path_mtu::PathMtus::new(config.daemon.path_mtu),
            searches: path_search::PathSearches::default(),
            black_holes: black_hole::BlackHoleWatch::default(),
            nat: nat_mapping::NatWatch::default(),
            rp_watch: super::rp_filter::RpWatch::default(),
            rp_checked: None,
            standbys: standby::StandbyGroups::from_config(
                &config,
                &standby::StandbyGroups::default(),
            ),
            access,
            audit,
            key_export,
            key_export_until: None,
            break_glass: BTreeMap::new(),
            verified_tx,
            verified_rx: Some(verified_rx),
            audited_tx,
            audited_rx: Some(audited_rx),
            resolved_tx,
            resolved_rx: Some(resolved_rx),
            names_refreshed: None,
            credentials_checked: None,
            config,
            config_path,
            endpoint,
            sockets,
            data,
            routes,
            book: Book::default(),
            pairs: sa_sync::ChildPairs::default(),
            waiters: Vec::new(),
            traps: Vec::new(),
        }
    }

    /// Starts what the configuration says to start: `start_action = start`
    /// connections are initiated, `trap` ones get trap policies.
    pub async fn start_actions(&mut self) {
        self.refresh_names(Instant::now());
        let config = Arc::clone(&self.config);
        // A standby's own start_action is not used: its pair brings it up
        // (supervisor/standby.rs).
        for conn in config
            .connections
            .iter()
            .filter(|c| c.break_glass.is_none() && c.standby.is_none())
        {
            self.start_action(conn, "").await;
        }
        let waiting: Vec<&str> = config
            .connections
            .iter()
            .filter(|c| c.break_glass.is_some())
            .map(|c| c.name.as_str())
            .collect();
        if !waiting.is_empty() {
            tracing::info!(
                "break-glass connection(s) {waiting:?} not loaded: they need both custodians \
                 (`ikev2d break-glass CONN`)"
            );
        }
        self.flush().await;
    }

    /// One connection's `start_action`: trap policies and routes for `trap`, an IKE
    /// SA for `start`. `why` goes into the log line.
    pub(in crate::runtime) async fn start_action(
        &mut self,
        conn: &crate::config::Connection,
        why: &str,
    ) {
        let has = |a: StartAction| conn.children.iter().any(|c| c.start_action == a);
        if has(StartAction::Trap) {
            self.install_trap(&conn.name).await;
        }
        if has(StartAction::Start) {
            match self.initiate(&conn.name) {
                Ok(id) => tracing::info!("{}: initiating IKE SA {id}{why}", conn.name),
                Err(e) => tracing::error!("{}: cannot initiate: {e}", conn.name),
            }
        }
    }

    /// The main loop, until a signal or a dead worker.
    pub async fn run(
        &mut self,
        from_workers: &mut mpsc::UnboundedReceiver<WorkerMsg>,
        ike: &mut mpsc::Receiver<IkeDatagram>,
        mut calls: mpsc::Receiver<ControlCall>,
        mut reload: mpsc::Receiver<()>,
        mut stop: mpsc::Receiver<()>,
    ) -> Exit {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        // run() called twice: channels nobody sends on.
        let mut verified = self
            .verified_rx
            .take()
            .unwrap_or_else(|| mpsc::unbounded_channel().1);
        let mut audited = self
            .audited_rx
            .take()
            .unwrap_or_else(|| mpsc::unbounded_channel().1);
        let mut resolved = self
            .resolved_rx
            .take()
            .unwrap_or_else(|| mpsc::unbounded_channel().1);
        loop {
            let deadline = self
                .endpoint
                .poll_timeout()
                .map(tokio::time::Instant::from_std)
                .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                Some(d) = ike.recv() => {
                    let started = Instant::now();
                    self.ike_datagram(d);
                    // Under load, take in what else is queued before the flush: one
                    // data-plane barrier and one round of sends for the batch instead of
                    // a pair of worker wake-ups per handshake.
                    for _ in 1..IKE_BATCH {
                        if started.elapsed() >= IKE_BATCH_TIME {
                            break;
                        }
                        match ike.try_recv() {
                            Ok(d) => self.ike_datagram(d),
                            Err(_) => break,
                        }
                    }
                }
                msg = from_workers.recv() => match msg {
                    Some(msg) => {
                        if !self.worker_msg(msg) {
                            return Exit::WorkerFailed;
                        }
                    }
                    None => return Exit::WorkerFailed,
                },
                Some(call) = calls.recv() => {
                    if call.request == Request::Status {
                        // Current counters: the workers report now, and what they
                        // queued is taken in before the answer.
                        self.data.report_now().await;
                        while let Ok(msg) = from_workers.try_recv() {
                            self.worker_msg(msg);
                        }
                    }
                    self.control(call);
                }
                Some(a) = audited.recv() => self.audited(a),
                Some(r) = resolved.recv() => self.resolved(r),
                Some(()) = reload.recv() => self.reload().await,
                Some(v) = verified.recv() => self.halves_verified(v).await,
                _ = stop.recv() => return Exit::Signal,
                _ = tokio::time::sleep_until(deadline) => {
                    self.endpoint.handle_timeout(Instant::now());
                }
                _ = tick.tick() => {
                    self.expire_waiters();
                    let now = Instant::now();
                    // Certificates are checked against this: follow clock steps.
                    set_wall_clock(&mut self.endpoint, now);
                    self.expire_activations(now).await;
                    self.admission.expire(now);
                    self.expire_key_export(now);
                    self.recheck_paths(now);
                    self.watch_black_holes(now);
                    self.watch_one_way(now);
                    self.watch_tcp_opens(now);
                    self.watch_rp_filter(now);
                    self.refresh_names(now);
                    self.watch_credentials(now);
                    self.nat.expire(now);
                }
            }
            self.flush().await;
            if self.steer_standbys(Instant::now()) {
                self.flush().await;
            }
        }
    }

    /// Handles one message from a worker; false if a worker died.
    fn worker_msg(&mut self, msg: WorkerMsg) -> bool {
        match msg {
            WorkerMsg::Usage(reports) => self.usage(&reports),
            WorkerMsg::Trap { conn } => self.trap_fired(&conn),
            WorkerMsg::TooBig(r) => self.too_big(&r),
            WorkerMsg::Unreachable(u, from) => self.unreachable(&u, from),
            WorkerMsg::PathMtuVerified { peer, path_mtu } => {
                self.path_mtu_learned(peer, path_mtu, path_mtu::PathMtuSource::Icmp);
            }
            WorkerMsg::Failed { worker, error } => {
                tracing::error!("data plane {worker} worker stopped: {error}");
                return false;
            }
        }
        true
    }

    /// Sends DELETE for every IKE SA and waits (at most `grace`) for them to go.
    pub async fn shutdown(&mut self, ike: &mut mpsc::Receiver<IkeDatagram>, grace: Duration) {
        let now = Instant::now();
        let config = Arc::clone(&self.config);
        for conn in &config.connections {
            if let Ok(n) = self.endpoint.terminate(now, &conn.name)
                && n > 0
            {
                tracing::info!("{}: deleting {n} IKE SA(s) on shutdown", conn.name);
            }
        }
        self.flush().await;
        let end = tokio::time::Instant::now() + grace;
        while self.endpoint.ike_sa_count() > 0 {
            let deadline = self
                .endpoint
                .poll_timeout()
                .map(tokio::time::Instant::from_std)
                .unwrap_or(end)
                .min(end);
            tokio::select! {
                Some(d) = ike.recv() => self.ike_datagram(d),
                _ = tokio::time::sleep_until(deadline) => {
                    if tokio::time::Instant::now() >= end {
                        break;
                    }
                    self.endpoint.handle_timeout(Instant::now());
                }
            }
            self.flush().await;
        }
    }

    /// Carries out everything the endpoint queued: events first (SAs into the data
    /// plane, confirmed by a barrier), then datagrams, so a rekey's new inbound SA is
    /// in place before the message that lets the peer use it leaves.
    pub(super) async fn flush(&mut self) {
        let mut touched_data = false;
        while let Some(ev) = self.endpoint.poll_event() {
            touched_data |= self.event(ev).await;
        }
        if touched_data {
            self.data.barrier().await;
        }
        while let Some(t) = self.endpoint.poll_transmit() {
            self.transmit(t).await;
        }
    }

    /// Sends one datagram of the endpoint, framed for its port: an IKE message as is
    /// on port 500; on port 4500 the socket adds the non-ESP marker; a NAT-keepalive
    /// is its one octet (RFC 3948 sections 2.2 and 2.3).
    async fn transmit(&mut self, t: ikev2::Transmit) {
        match t.kind {
            TransmitKind::Ike => trace_ike(
                "sending",
                t.local,
                t.remote,
                &Header::new_checked(&t.payload),
                t.payload.len(),
            ),
            TransmitKind::NatKeepalive => {
                tracing::debug!("sending NAT-keepalive {} <-> {}", t.local, t.remote);
            }
        }
        let i = self
            .sockets
            .iter()
            .position(|s| s.addr == t.local.ip())
            .or((!self.sockets.is_empty()).then_some(0));
        let Some(sock) = i.and_then(|i| self.sockets.get_mut(i)) else {
            tracing::warn!(
                "no socket for {}: datagram to {} dropped",
                t.local,
                t.remote
            );
            return;
        };
        if t.local.port() != 500 {
            self.nat.datagram(t.remote.ip(), Instant::now(), true);
        }
        let payload = match t.kind {
            TransmitKind::Ike => t.payload.as_slice(),
            TransmitKind::NatKeepalive => &esp::natt::KEEPALIVE,
        };
        let res = if t.local.port() == 500 {
            sock.udp500.send_to(payload, t.remote).await.map(drop)
        } else {
            let kind = match t.kind {
                TransmitKind::Ike => DatagramKind::Ike,
                TransmitKind::NatKeepalive => DatagramKind::Keepalive,
            };
            let d = Datagram::to(t.remote, kind, esp::PacketBuf::from_packet(payload));
            sock.udp4500.send_batch(std::slice::from_ref(&d)).map(drop)
        };
        if let Err(e) = res {
            tracing::debug!(
                "sending {} octets to {} failed: {e}",
                t.payload.len(),
                t.remote
            );
        }
    }

    pub(super) async fn install_trap(&mut self, conn: &str) {
        let Some(cfg) = self.config.connections.iter().find(|c| c.name == conn) else {
            return;
        };
        let local = cfg
            .local_addrs
            .first()
            .copied()
            .or_else(|| self.sockets.first().map(|s| s.addr));
        let remote = cfg.remote_addrs.first().copied();
        let (Some(local), Some(remote)) = (local, remote) else {
            tracing::warn!("{conn}: trap needs local and remote addresses");
            return;
        };
        self.traps.retain(|t| t.conn != conn);
        for child in &cfg.children {
            let local_ts: Vec<_> = child.local_ts.iter().map(|t| t.resolve(local)).collect();
            let remote_ts: Vec<_> = child.remote_ts.iter().map(|t| t.resolve(remote)).collect();
            self.routes
                .trap(conn, &child.name, &local_ts, &remote_ts)
                .await;
            self.traps.push(TrapPolicy {
                conn: conn.to_owned(),
                local_ts,
                remote_ts,
            });
        }
        self.data
            .outbound(OutboundCmd::SetTraps(self.traps.clone()));
    }

    /// Starts an IKE SA for `conn`; its handshake time is measured.
    pub(in crate::runtime) fn initiate(
        &mut self,
        conn: &str,
    ) -> Result<ikev2::event::IkeSaId, ikev2::error::CommandError> {
        let now = Instant::now();
        let id = self.endpoint.initiate(now, conn)?;
        self.book.initiated(id, now);
        Ok(id)
    }

    fn trap_fired(&mut self, conn: &str) {
        let busy = self.endpoint.ike_sas().iter().any(|s| s.conn == conn);
        if busy {
            return;
        }
        match self.initiate(conn) {
            Ok(id) => {
                tracing::info!("{conn}: trap triggered by outbound traffic, initiating IKE SA {id}")
            }
            Err(e) => tracing::error!("{conn}: trap triggered but cannot initiate: {e}"),
        }
    }
}

/// `-v`: one line per IKE message with its header (the payloads are encrypted).
pub(super) fn trace_ike(
    dir: &str,
    local: std::net::SocketAddr,
    remote: std::net::SocketAddr,
    hdr: &Result<Header<'_>, ikev2::wire::Error>,
    len: usize,
) {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    match hdr {
        Ok(h) => {
            let f = h.flags();
            tracing::debug!(
                "{dir} {} {} #{} {local} <-> {remote}, {} octets, SPIs {:016x}_i {:016x}_r, first payload {:?}",
                h.exchange_type(),
                if f.is_response() {
                    "response"
                } else {
                    "request"
                },
                h.message_id(),
                len,
                h.spi_i().0,
                h.spi_r().0,
                h.next_payload(),
            );
        }
        Err(e) => tracing::debug!("{dir} {len} octets {local} <-> {remote}: not IKE ({e})"),
    }
}

/// The dpd_action the daemon maps a child's setting to (ikev2 has one per connection).
pub fn dpd_action(a: crate::config::PeerAction) -> DpdAction {
    match a {
        crate::config::PeerAction::Restart => DpdAction::Restart,
        crate::config::PeerAction::Trap => DpdAction::Trap,
        _ => DpdAction::Clear,
    }
}

/// Gives the endpoint the time of day (certificate validity, CRLs): at start and on
/// every tick, so a clock step is followed within half a second.
pub(crate) fn set_wall_clock(endpoint: &mut ikev2::Endpoint, now: Instant) {
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    endpoint.set_wall_clock(now, unix);
}
