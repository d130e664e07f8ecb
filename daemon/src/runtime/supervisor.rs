//! The control task: the one owner of the [`ikev2::Endpoint`]. It feeds the endpoint
//! IKE datagrams, timer expiries, data-plane usage and operator commands, and carries
//! out what the endpoint asks: datagrams to send, SAs to install in the data plane,
//! routes, trap policies, log lines. No locks around protocol state: everything that
//! touches it runs on this task.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use esp::counters::{Direction, Lifetime, SaEvent};
use esp::io::{Datagram, DatagramKind, DatagramSink as _, UdpEncapSocket};
use esp::{InboundSa, OutboundSa, SaConfig, Spi};
use ikev2::config::DpdAction;
use ikev2::event::{ChildSaInstalled, Event, Failure};
use ikev2::wire::Header;
use ikev2::{Endpoint, TransmitKind, UsageReport};
use rand_core::OsRng;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use super::book::{Book, esp_proposal, ike_proposal};
use super::breakglass::{self, Alarm};
use super::dataplane::{
    DataCmd, DataPlane, Dest, IkeDatagram, InboundInstall, OutboundInstall, SaReport, TrapPolicy,
    WorkerMsg,
};
use super::ratelimit;
use super::routes::RouteTable;
use crate::config::{BreakGlass, DaemonConfig, StartAction};
use crate::control::access::{Access, request_name};
use crate::control::audit::AuditLog;
use crate::control::proto::{
    BreakGlassStatus, ConnState, KeyExportStatus, Request, Response, StatusReport,
};
use crate::control::server::Caller;
use crate::control::server::ControlCall;
use ikev2::crypto::secret::SecretBytes;

/// The IKE sockets of one local address.
#[derive(Debug)]
pub struct IkeSockets {
    pub addr: IpAddr,
    /// Port 500.
    pub udp500: Arc<UdpSocket>,
    /// Port 4500, shared with the inbound data worker (which receives on it); it
    /// frames what is sent (non-ESP marker, keepalive octet) by [`DatagramKind`].
    pub udp4500: UdpEncapSocket,
}

/// An outbound SA negotiated by a rekey, waiting for the switch.
#[derive(Debug)]
struct PendingOutbound {
    install: OutboundInstall,
}

/// An `ikev2d up CONN` waiting for its children.
#[derive(Debug)]
struct UpWaiter {
    conn: String,
    deadline: Instant,
    reply: oneshot::Sender<Response>,
}

/// A break-glass connection loaded after both custodians' halves verified.
#[derive(Debug)]
struct Activation {
    psk: SecretBytes,
    until: Instant,
    /// The settings it was activated with: a SIGHUP that changes them ends it.
    settings: BreakGlass,
    conn: ikev2::config::ConnectionConfig,
}

/// The outcome of verifying halves off the control task.
#[derive(Debug)]
pub struct Verified {
    conn: String,
    drill: bool,
    /// The PSK (half 1 || half 2) when both halves matched.
    psk: Option<SecretBytes>,
    caller: Caller,
    reply: oneshot::Sender<Response>,
}

/// The default of `ikev2d debug key-export on` without `--for`.
pub const KEY_EXPORT_DEFAULT: Duration = Duration::from_secs(3600);
/// The longest `--for`.
pub const KEY_EXPORT_MAX: Duration = Duration::from_secs(7 * 86_400);

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
    pending_out: HashMap<u32, PendingOutbound>,
    /// CHILD SA pairs by inbound SPI: (conn, child, spi_out), to pair usage reports.
    pairs: HashMap<u32, (String, String, u32)>,
    out_to_in: HashMap<u32, u32>,
    /// Inbound usage already seen, to report pairs to the endpoint.
    last_in: HashMap<u32, (u64, u64, Option<Instant>)>,
    waiters: Vec<UpWaiter>,
    traps: Vec<TrapPolicy>,
    /// `[daemon].key_export_dir` (debugging).
    key_export: Option<super::keyexport::KeyExport>,
    /// Set while an admin has turned key export on (`ikev2d debug key-export on`):
    /// until when. Configuration alone never exports.
    key_export_until: Option<Instant>,
    /// Activated break-glass connections by name.
    break_glass: BTreeMap<String, Activation>,
    /// Where the blocking verification of halves sends its result.
    verified_tx: mpsc::UnboundedSender<Verified>,
    verified_rx: Option<mpsc::UnboundedReceiver<Verified>>,
    /// Peers of break-glass connections that were just unloaded, until when: their
    /// answers to our DELETE still pass the peer filter.
    draining: HashMap<IpAddr, Instant>,
    /// `init_rate_per_source`.
    init_limit: ratelimit::InitRateLimit,
    /// Who may do what on the control socket.
    access: Access,
    audit: AuditLog,
    /// Rate limit of the "not allowed" warning: one line per 10 s.
    last_not_allowed_warning: Option<Instant>,
    not_allowed_since_warning: u64,
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
        Self {
            init_limit: ratelimit::InitRateLimit::new(config.daemon.init_rate_per_source),
            access,
            audit,
            key_export,
            key_export_until: None,
            break_glass: BTreeMap::new(),
            verified_tx,
            verified_rx: Some(verified_rx),
            draining: HashMap::new(),
            config,
            config_path,
            endpoint,
            sockets,
            data,
            routes,
            book: Book::default(),
            pending_out: HashMap::new(),
            pairs: HashMap::new(),
            out_to_in: HashMap::new(),
            last_in: HashMap::new(),
            waiters: Vec::new(),
            traps: Vec::new(),
            last_not_allowed_warning: None,
            not_allowed_since_warning: 0,
        }
    }

    /// Starts what the configuration says to start: `start_action = start`
    /// connections are initiated, `trap` ones get trap policies.
    pub async fn start_actions(&mut self) {
        let config = Arc::clone(&self.config);
        for conn in config
            .connections
            .iter()
            .filter(|c| c.break_glass.is_none())
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
    async fn start_action(&mut self, conn: &crate::config::Connection, why: &str) {
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
        let mut verified = self.verified_rx.take().unwrap_or_else(|| {
            // run() called twice: a channel nobody sends on
            mpsc::unbounded_channel().1
        });
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
                Some(()) = reload.recv() => self.reload().await,
                Some(v) = verified.recv() => self.halves_verified(v).await,
                _ = stop.recv() => return Exit::Signal,
                _ = tokio::time::sleep_until(deadline) => {
                    self.endpoint.handle_timeout(Instant::now());
                }
                _ = tick.tick() => {
                    self.expire_waiters();
                    self.expire_grants().await;
                }
            }
            self.flush().await;
        }
    }

    /// SIGHUP: reads the configuration again. Connections that are new or changed
    /// start per their `start_action`; removed and changed ones lose their SAs (DELETE
    /// sent); unchanged ones keep their SAs. A file that does not load leaves the
    /// running configuration in place.
    async fn reload(&mut self) {
        let new = match DaemonConfig::load(&self.config_path) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(
                    "SIGHUP: {} not reloaded, the running configuration stays: {}",
                    self.config_path.display(),
                    super::one_line(&e)
                );
                return;
            }
        };
        if new.control != self.config.control {
            tracing::warn!("SIGHUP: [control] changed; it takes effect at the next restart");
        }
        let old = &self.config.daemon;
        let d = &new.daemon;
        for (what, differs) in [
            ("tun_name", old.tun_name != d.tun_name),
            ("mtu", old.mtu != d.mtu),
            ("mss_clamp", old.mss_clamp != d.mss_clamp),
            ("control_socket", old.control_socket != d.control_socket),
        ] {
            if differs {
                tracing::warn!(
                    "SIGHUP: [daemon].{what} changed; it takes effect at the next restart"
                );
            }
        }
        for conn in &new.connections {
            for a in &conn.local_addrs {
                if !self
                    .sockets
                    .iter()
                    .any(|s| s.addr == *a || s.addr.is_unspecified())
                {
                    tracing::warn!(
                        "SIGHUP: {}: no socket on local address {a}; it is bound at the next restart",
                        conn.name
                    );
                }
            }
        }
        let now = Instant::now();
        // An activation survives a reload only if its connection is unchanged.
        let ended: Vec<String> = self
            .break_glass
            .iter()
            .filter(|(name, a)| {
                !new.connections.iter().any(|c| {
                    c.name == **name
                        && c.break_glass.as_ref() == Some(&a.settings)
                        && c.to_ikev2() == a.conn
                })
            })
            .map(|(name, _)| name.clone())
            .collect();
        for name in &ended {
            // Its peers pass the filter for a while like those of every removed or
            // changed connection (below, after the endpoint took the new config).
            self.break_glass.remove(name);
            breakglass::critical(&format!(
                "break-glass {name}: activation ended by SIGHUP (its configuration changed \
                 or was removed); the connection is unloaded"
            ));
            self.audit_daemon("break-glass-end", name, "configuration changed on SIGHUP");
        }
        if new.daemon.key_export_dir != self.config.daemon.key_export_dir {
            self.key_export = new
                .daemon
                .key_export_dir
                .clone()
                .map(super::keyexport::KeyExport::new);
            if self.key_export_until.take().is_some() {
                tracing::warn!("SIGHUP: key_export_dir changed: key export turned off");
                self.audit_daemon("key-export", "off", "key_export_dir changed on SIGHUP");
            }
        }
        self.config = Arc::new(new);
        let summary = self.apply_endpoint_config(now).await;
        // Their IKE SAs are being deleted: let the peers' answers to our DELETEs
        // through the peer filter, which no longer admits a removed connection's peers.
        for name in summary.removed.iter().chain(&summary.changed) {
            self.drain_peers_of(name);
        }
        tracing::info!(
            "SIGHUP: configuration reloaded: added {:?}, removed {:?}, changed {:?}, unchanged {:?}",
            summary.added,
            summary.removed,
            summary.changed,
            summary.unchanged
        );
        let config = Arc::clone(&self.config);
        for conn in config
            .connections
            .iter()
            .filter(|c| summary.added.contains(&c.name) || summary.changed.contains(&c.name))
        {
            self.start_action(conn, " (reload)").await;
        }
    }

    /// Lets the peers of `conn`'s IKE SAs through the peer filter for a while
    /// after the connection is unloaded, so the DELETE exchange can finish.
    fn drain_peers_of(&mut self, conn: &str) {
        let until = Instant::now() + Duration::from_secs(30);
        for sa in self.endpoint.ike_sas().iter().filter(|s| s.conn == conn) {
            self.draining.insert(sa.remote.ip(), until);
        }
    }

    /// Gives the endpoint the configuration with the active break-glass connections
    /// loaded; removed and changed connections lose their trap policies.
    async fn apply_endpoint_config(&mut self, now: Instant) -> ikev2::ReloadSummary {
        let psks: BTreeMap<String, SecretBytes> = self
            .break_glass
            .iter()
            .map(|(n, a)| (n.clone(), a.psk.clone()))
            .collect();
        let summary = self
            .endpoint
            .reload(now, Arc::new(self.config.to_endpoint_config_with(&psks)));
        for conn in summary.removed.iter().chain(&summary.changed) {
            let pairs = &self.pairs;
            self.routes
                .untrap(conn, |child| {
                    pairs.values().any(|(c, ch, _)| c == conn && ch == child)
                })
                .await;
            self.traps.retain(|t| t.conn != *conn);
        }
        self.data.outbound(DataCmd::SetTraps(self.traps.clone()));
        summary
    }

    /// An audit record of something the daemon did by itself (expiries).
    fn audit_daemon(&self, action: &str, target: &str, result: &str) {
        let uid = nix::unistd::getuid().as_raw();
        let pid = i32::try_from(std::process::id()).ok();
        if let Err(e) = self.audit.record(uid, pid, action, target, result) {
            tracing::error!("{action} {target}: {e}");
        }
    }

    /// Raises a break-glass alarm: the CRITICAL log line is the caller's; this adds
    /// the audit record and runs `[daemon] alert_command`.
    fn alarm(&self, alarm: Alarm, conn: &str, caller: Option<&Caller>, detail: &str) {
        let (uid, pid) = match caller {
            Some(c) => (c.uid, c.pid),
            None => (
                nix::unistd::getuid().as_raw(),
                i32::try_from(std::process::id()).ok(),
            ),
        };
        let action = format!("break-glass-{}", alarm.name().replace('_', "-"));
        if let Err(e) = self.audit.record(uid, pid, &action, conn, detail) {
            tracing::error!("{action} {conn}: {e}");
        }
        if let Some(cmd) = &self.config.daemon.alert_command {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            let ttl = self
                .config
                .connections
                .iter()
                .find(|c| c.name == conn)
                .and_then(|c| c.break_glass.as_ref())
                .map(|b| b.ttl.as_secs());
            let event = serde_json::json!({
                "event": alarm.name(),
                "conn": conn,
                "time": now,
                "uid": uid,
                "pid": pid,
                "ttl_secs": ttl,
                "detail": detail,
            });
            breakglass::run_alert(cmd, &event);
        }
    }

    /// `ikev2d break-glass [drill] CONN`: checks the request and verifies the halves
    /// on a blocking thread (argon2 takes tens of milliseconds by design); the answer
    /// comes from [`Self::halves_verified`].
    fn break_glass_request(
        &mut self,
        conn: String,
        halves: [crate::control::proto::HalfSecret; 2],
        drill: bool,
        caller: Caller,
        reply: oneshot::Sender<Response>,
    ) {
        let Some(settings) = self
            .config
            .connections
            .iter()
            .find(|c| c.name == conn)
            .map(|c| c.break_glass.clone())
        else {
            let _ = reply.send(Response::Error {
                message: format!("no connection named {conn:?}"),
            });
            return;
        };
        let Some(settings) = settings else {
            let _ = reply.send(Response::Error {
                message: format!("{conn} is not a break-glass connection (break_glass = true)"),
            });
            return;
        };
        if !drill && let Some(a) = self.break_glass.get(&conn) {
            let left = a.until.saturating_duration_since(Instant::now()).as_secs();
            let _ = reply.send(Response::Error {
                message: format!("{conn}: break-glass is already active ({left} s left)"),
            });
            return;
        }
        let tx = self.verified_tx.clone();
        tokio::task::spawn_blocking(move || {
            let ok = breakglass::verify_halves(
                &settings.hashes,
                [halves[0].expose(), halves[1].expose()],
            );
            let psk = ok.then(|| {
                let mut v = Vec::with_capacity(halves[0].expose().len() + halves[1].expose().len());
                v.extend_from_slice(halves[0].expose().as_bytes());
                v.extend_from_slice(halves[1].expose().as_bytes());
                SecretBytes::new(v)
            });
            let _ = tx.send(Verified {
                conn,
                drill,
                psk,
                caller,
                reply,
            });
        });
    }

    async fn halves_verified(&mut self, v: Verified) {
        let Verified {
            conn,
            drill,
            psk,
            caller,
            reply,
        } = v;
        let what = if drill { "drill" } else { "activation" };
        let Some(psk) = psk else {
            breakglass::critical(&format!(
                "break-glass {conn}: FAILED {what} attempt by {caller}: the halves do not \
                 match the configured hashes; nothing changed"
            ));
            self.alarm(
                Alarm::FailedAttempt,
                &conn,
                Some(&caller),
                &format!("wrong halves ({what})"),
            );
            let _ = reply.send(Response::Error {
                message: format!(
                    "{conn}: the halves do not match the configured hashes; nothing changed \
                     (the failed attempt is logged and alerted)"
                ),
            });
            return;
        };
        let Some(cfg) = self
            .config
            .connections
            .iter()
            .find(|c| c.name == conn)
            .cloned()
        else {
            let _ = reply.send(Response::Error {
                message: format!("{conn} was removed from the configuration meanwhile"),
            });
            return;
        };
        let Some(settings) = cfg.break_glass.clone() else {
            let _ = reply.send(Response::Error {
                message: format!("{conn} is no longer a break-glass connection"),
            });
            return;
        };
        if drill {
            breakglass::critical(&format!(
                "break-glass {conn}: drill by {caller}: both halves verified; the connection \
                 stays unloaded"
            ));
            self.alarm(Alarm::Drill, &conn, Some(&caller), "both halves verified");
            let _ = reply.send(Response::Ok {
                message: format!("{conn}: drill passed: both halves match; nothing was brought up"),
            });
            return;
        }
        if self.break_glass.contains_key(&conn) {
            let _ = reply.send(Response::Error {
                message: format!("{conn}: break-glass is already active"),
            });
            return;
        }
        let now = Instant::now();
        let ttl = settings.ttl;
        self.break_glass.insert(
            conn.clone(),
            Activation {
                psk,
                until: now + ttl,
                settings,
                conn: cfg.to_ikev2(),
            },
        );
        self.apply_endpoint_config(now).await;
        let ttl_text = crate::config::duration::format_duration(ttl);
        breakglass::critical(&format!(
            "break-glass {conn}: ACTIVATED by {caller} for {ttl_text}"
        ));
        self.alarm(
            Alarm::Activation,
            &conn,
            Some(&caller),
            &format!("activated for {ttl_text}"),
        );
        let has = |a: StartAction| cfg.children.iter().any(|c| c.start_action == a);
        let how = if has(StartAction::Start) || has(StartAction::Trap) {
            self.start_action(&cfg, " (break-glass)").await;
            "started per its start_action"
        } else if !cfg.remote_addrs.is_empty() {
            match self.initiate(&conn) {
                Ok(id) => {
                    tracing::info!("{conn}: initiating IKE SA {id} (break-glass)");
                    "initiating"
                }
                Err(e) => {
                    tracing::error!("{conn}: cannot initiate: {e}");
                    "loaded, but it could not be initiated (see the log); it answers the peer"
                }
            }
        } else {
            "loaded as responder: waiting for the peer"
        };
        let _ = reply.send(Response::Ok {
            message: format!("{conn}: break-glass activated for {ttl_text}, {how}"),
        });
    }

    /// Ends break-glass activations and key export whose time is up.
    async fn expire_grants(&mut self) {
        let now = Instant::now();
        let expired: Vec<String> = self
            .break_glass
            .iter()
            .filter(|(_, a)| a.until <= now)
            .map(|(n, _)| n.clone())
            .collect();
        if !expired.is_empty() {
            for name in &expired {
                self.break_glass.remove(name);
                self.drain_peers_of(name);
            }
            // Unloading a connection deletes its IKE SAs (DELETE sent).
            self.apply_endpoint_config(now).await;
            for name in &expired {
                breakglass::critical(&format!(
                    "break-glass {name}: TTL expired: IKE SAs deleted, connection unloaded"
                ));
                self.alarm(
                    Alarm::Expiry,
                    name,
                    None,
                    "TTL expired; torn down and unloaded",
                );
            }
        }
        self.draining.retain(|_, until| *until > now);
        if self.key_export_until.is_some_and(|u| u <= now) {
            self.key_export_until = None;
            tracing::warn!("key export turned off: its time is up");
            self.audit_daemon("key-export", "off", "expired");
        }
    }

    /// Whether keys of SAs established now are to be written.
    fn exporting(&self) -> Option<&super::keyexport::KeyExport> {
        let now = Instant::now();
        self.key_export
            .as_ref()
            .filter(|_| self.key_export_until.is_some_and(|u| now < u))
    }

    /// `ikev2d debug key-export on|off`.
    fn key_export_request(&mut self, enable: bool, for_secs: Option<u64>, uid: u32) -> Response {
        let Some(dir) = self.config.daemon.key_export_dir.clone() else {
            return Response::Error {
                message: "[daemon] key_export_dir is not configured: set it (and reload) to \
                          allow key export"
                    .to_owned(),
            };
        };
        if !enable {
            let was = self.key_export_until.take().is_some();
            tracing::warn!("key export turned off by uid {uid}");
            return Response::Ok {
                message: if was {
                    "key export off".to_owned()
                } else {
                    "key export was already off".to_owned()
                },
            };
        }
        let d = for_secs
            .map_or(KEY_EXPORT_DEFAULT, Duration::from_secs)
            .clamp(Duration::from_secs(1), KEY_EXPORT_MAX);
        self.key_export_until = Some(Instant::now() + d);
        let text = crate::config::duration::format_duration(d);
        tracing::warn!(
            "key export ON by uid {uid} for {text}: keys of new IKE and CHILD SAs go to {}",
            dir.display()
        );
        Response::Ok {
            message: format!(
                "key export on for {text}: keys of IKE and CHILD SAs established or rekeyed \
                 from now on are written to {} (SAs already up are not exported)",
                dir.display()
            ),
        }
    }

    /// Adds break-glass and key-export state to a status report.
    fn decorate(&self, report: &mut StatusReport, now: Instant) {
        for c in &mut report.connections {
            let Some(bg) = self
                .config
                .connections
                .iter()
                .find(|x| x.name == c.name)
                .and_then(|x| x.break_glass.as_ref())
            else {
                continue;
            };
            let active = self.break_glass.get(&c.name);
            c.break_glass = Some(BreakGlassStatus {
                active: active.is_some(),
                remaining_secs: active.map(|a| a.until.saturating_duration_since(now).as_secs()),
                ttl_secs: bg.ttl.as_secs(),
            });
        }
        report.key_export = self
            .config
            .daemon
            .key_export_dir
            .as_ref()
            .map(|d| KeyExportStatus {
                active: self.key_export_until.is_some_and(|u| now < u),
                dir: d.display().to_string(),
                remaining_secs: self
                    .key_export_until
                    .map(|u| u.saturating_duration_since(now).as_secs()),
            });
    }

    fn ike_datagram(&mut self, d: IkeDatagram) {
        let active = &self.break_glass;
        if !peer_allowed_with(&self.config, |c| active.contains_key(c), d.remote.ip())
            && !self.draining.contains_key(&d.remote.ip())
        {
            self.data
                .stats
                .ike_not_allowed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.not_allowed_since_warning += 1;
            let now = Instant::now();
            if self
                .last_not_allowed_warning
                .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(10))
            {
                tracing::warn!(
                    "IKE from {} dropped: not in allowed_peers or any connection's remote_addrs \
                     ({} such datagram(s) since the last warning)",
                    d.remote,
                    self.not_allowed_since_warning
                );
                self.last_not_allowed_warning = Some(now);
                self.not_allowed_since_warning = 0;
            }
            return;
        }
        // The one look at the header before the endpoint parses the message.
        let hdr = Header::new_checked(&d.msg);
        if hdr.as_ref().is_ok_and(ratelimit::is_new_ike_sa_request)
            && !self.init_limit.allow(d.remote.ip(), Instant::now())
        {
            self.data
                .stats
                .ike_init_rate_limited
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return;
        }
        trace_ike("received", d.local, d.remote, &hdr, d.msg.len());
        self.endpoint
            .handle_datagram(Instant::now(), d.local, d.remote, &d.msg);
    }

    /// Handles one message from a worker; false if a worker died.
    fn worker_msg(&mut self, msg: WorkerMsg) -> bool {
        match msg {
            WorkerMsg::Usage(reports) => self.usage(&reports),
            WorkerMsg::Trap { conn } => self.trap_fired(&conn),
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
    async fn flush(&mut self) {
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

    /// Acts on one endpoint event; true if the data plane was changed.
    async fn event(&mut self, ev: Event) -> bool {
        let now = Instant::now();
        match ev {
            Event::IkeSaUp(up) => {
                tracing::info!(
                    "{}: IKE SA {} established with {} [{}] ({}){}, SPIs {:016x}_i {:016x}_r",
                    up.conn,
                    up.ike_sa,
                    up.remote,
                    up.remote_id,
                    ike_proposal(&up.suite),
                    nat_note(up.nat.local_behind_nat, up.nat.remote_behind_nat),
                    up.spi_i.0,
                    up.spi_r.0,
                );
                self.book.ike_up(&up.conn, up.ike_sa, now);
                false
            }
            Event::IkeSaDown(down) => {
                tracing::info!(
                    "{}: IKE SA {} down: {}",
                    down.conn,
                    down.ike_sa,
                    down.reason
                );
                self.book.ike_down(&down.conn, down.ike_sa);
                false
            }
            Event::IkeSaRekeyed(r) => {
                tracing::info!(
                    "{}: IKE SA {} rekeyed, new SPIs {:016x}_i {:016x}_r",
                    r.conn,
                    r.ike_sa,
                    r.spi_i.0,
                    r.spi_r.0
                );
                self.book.ike_rekeyed(&r.conn, r.ike_sa);
                false
            }
            Event::IkeSaKeys(k) => {
                if let Some(x) = self.exporting()
                    && let Err(e) = x.ike(&k)
                {
                    tracing::warn!("{}: IKE keys not exported: {e}", k.conn);
                }
                false
            }
            Event::ChildSaInstalled(c) => {
                if let Some(x) = self.exporting()
                    && let Err(e) = x.esp(&c)
                {
                    tracing::warn!("{}/{}: ESP keys not exported: {e}", c.conn, c.child);
                }
                self.child_installed(*c).await;
                self.answer_waiters();
                true
            }
            Event::ChildSaOutboundSwitched(s) => {
                if let Some(p) = self.pending_out.remove(&s.spi_in) {
                    let mut install = p.install;
                    install.replaces = (s.old_spi_out != 0).then_some(s.old_spi_out);
                    self.data
                        .outbound(DataCmd::InstallOutbound(Box::new(install)));
                    tracing::info!(
                        "{}/{}: outbound traffic moved to SPI {:08x} (was {:08x})",
                        s.conn,
                        s.child,
                        s.spi_out,
                        s.old_spi_out
                    );
                }
                true
            }
            Event::ChildSaDeleted(d) => {
                tracing::info!(
                    "{}/{}: CHILD SA {:08x}_i {:08x}_o deleted",
                    d.conn,
                    d.child,
                    d.spi_in,
                    d.spi_out
                );
                self.data.inbound(DataCmd::RemoveInbound { spi: d.spi_in });
                if self.pending_out.remove(&d.spi_in).is_none() {
                    self.data
                        .outbound(DataCmd::RemoveOutbound { spi: d.spi_out });
                }
                self.pairs.remove(&d.spi_in);
                self.out_to_in.remove(&d.spi_out);
                self.last_in.remove(&d.spi_in);
                let still_up = self
                    .pairs
                    .values()
                    .any(|(conn, child, _)| *conn == d.conn && *child == d.child);
                if !still_up {
                    self.routes.child_down(&d.conn, &d.child).await;
                }
                true
            }
            Event::Trap { conn } => {
                tracing::info!(
                    "{conn}: peer is gone; trap installed, the next packet re-initiates"
                );
                self.install_trap(&conn).await;
                true
            }
            Event::Failed(f) => {
                self.failed(&f);
                false
            }
            other => {
                tracing::debug!("event {other:?}");
                false
            }
        }
    }

    fn failed(&mut self, f: &Failure) {
        if f.ike_sa_kept {
            tracing::warn!("{f}");
        } else {
            tracing::error!("{f}");
        }
        self.book.failed(f);
        if let Some(conn) = &f.conn {
            let (done, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiters)
                .into_iter()
                .partition(|w| w.conn == *conn);
            self.waiters = keep;
            for w in done {
                let _ = w.reply.send(Response::Error {
                    message: f.to_string(),
                });
            }
        }
    }

    async fn child_installed(&mut self, c: ChildSaInstalled) {
        let Some(child_cfg) = self
            .config
            .connections
            .iter()
            .find(|x| x.name == c.conn)
            .and_then(|x| x.children.iter().find(|ch| ch.name == c.child))
        else {
            return;
        };
        let lifetime = Lifetime {
            soft_bytes: nonzero(child_cfg.rekey_bytes),
            hard_bytes: nonzero(child_cfg.life_bytes),
            soft_packets: nonzero(child_cfg.rekey_packets),
            hard_packets: nonzero(child_cfg.life_packets),
        };
        let integ =
            |k: &ikev2::crypto::secret::SecretBytes| c.suite.integ.is_some().then(|| k.clone());
        let in_cfg = SaConfig::new(
            Spi(c.spi_in),
            c.suite,
            c.keys.encr_in.clone(),
            integ(&c.keys.integ_in),
        )
        .with_lifetime(lifetime)
        .with_replay_window(child_cfg.replay_window);
        let out_cfg = SaConfig::new(
            Spi(c.spi_out),
            c.suite,
            c.keys.encr_out.clone(),
            integ(&c.keys.integ_out),
        )
        .with_lifetime(lifetime);
        let inbound = match InboundSa::new(&in_cfg) {
            Ok(sa) => sa,
            Err(e) => {
                tracing::error!("{}/{}: cannot key inbound SA: {e}", c.conn, c.child);
                return;
            }
        };
        let outbound = match OutboundSa::new(&out_cfg, &mut OsRng) {
            Ok(sa) => sa,
            Err(e) => {
                tracing::error!("{}/{}: cannot key outbound SA: {e}", c.conn, c.child);
                return;
            }
        };
        let Some(dest) = self.dest(&c) else {
            // The SA cannot carry traffic here: say why and take it down again rather
            // than leave a tunnel that silently drops everything.
            let reason = format!(
                "CHILD SA {}: no socket to send ESP from {} (raw ESP needs CAP_NET_RAW; \
                 encap = true forces ESP in UDP)",
                c.child, c.local
            );
            tracing::error!("{}: {reason}", c.conn);
            self.book.error(&c.conn, "CREATE_CHILD_SA", reason);
            if let Err(e) = self.endpoint.delete_child(Instant::now(), c.spi_in) {
                tracing::warn!(
                    "{}/{}: cannot delete the unusable CHILD SA: {e}",
                    c.conn,
                    c.child
                );
            }
            return;
        };
        tracing::info!(
            "{}/{}: CHILD SA installed{}, SPIs {:08x}_i {:08x}_o, {} === {} ({}{})",
            c.conn,
            c.child,
            if c.rekey_of.is_some() { " (rekey)" } else { "" },
            c.spi_in,
            c.spi_out,
            ikev2::ts::describe_list(&c.local_ts),
            ikev2::ts::describe_list(&c.remote_ts),
            esp_proposal(&c.suite),
            if c.encap { ", ESP in UDP" } else { "" },
        );
        self.book
            .child_installed(&c.conn, &c.child, c.spi_in, c.spi_out, c.rekey_of.is_some());
        self.pairs
            .insert(c.spi_in, (c.conn.clone(), c.child.clone(), c.spi_out));
        self.out_to_in.insert(c.spi_out, c.spi_in);
        self.data
            .inbound(DataCmd::InstallInbound(Box::new(InboundInstall {
                spi: c.spi_in,
                sa: inbound,
                local_ts: c.local_ts.clone(),
                remote_ts: c.remote_ts.clone(),
            })));
        let install = OutboundInstall {
            spi: c.spi_out,
            sa: outbound,
            local_ts: c.local_ts.clone(),
            remote_ts: c.remote_ts.clone(),
            dest,
            replaces: None,
        };
        if c.outbound {
            self.data
                .outbound(DataCmd::InstallOutbound(Box::new(install)));
        } else {
            self.pending_out
                .insert(c.spi_in, PendingOutbound { install });
        }
        self.routes
            .child_up(&c.conn, &c.child, &c.local_ts, &c.remote_ts)
            .await;
    }

    fn dest(&self, c: &ChildSaInstalled) -> Option<Dest> {
        let sock = self
            .sockets
            .iter()
            .position(|s| s.addr == c.local.ip())
            .or(if self.sockets.len() == 1 {
                Some(0)
            } else {
                None
            })?;
        if c.encap {
            Some(Dest::Udp {
                sock,
                peer: c.remote,
            })
        } else {
            self.data.has_raw(sock).then_some(Dest::Raw {
                sock,
                peer: c.remote.ip(),
            })
        }
    }

    fn usage(&mut self, reports: &[SaReport]) {
        let now = Instant::now();
        for r in reports {
            self.book.usage(r);
            let spi = r.usage.spi.0;
            let spi_in = match r.usage.direction {
                Direction::Inbound => spi,
                Direction::Outbound => match self.out_to_in.get(&spi) {
                    Some(s) => *s,
                    None => continue,
                },
            };
            let Some((_, _, spi_out)) = self.pairs.get(&spi_in).cloned() else {
                continue;
            };
            if r.removed {
                continue;
            }
            let in_t = self.book.sa_traffic(Direction::Inbound, spi_in);
            let out_t = self.book.sa_traffic(Direction::Outbound, spi_out);
            let last_inbound = match r.usage.direction {
                Direction::Inbound => r.last_packet,
                Direction::Outbound => self.last_in.get(&spi_in).and_then(|x| x.2),
            };
            if r.usage.direction == Direction::Inbound {
                self.last_in
                    .insert(spi_in, (in_t.bytes, in_t.packets, r.last_packet));
            }
            let has = |e: SaEvent| r.events.contains(&e);
            self.endpoint.handle_usage(
                now,
                UsageReport {
                    spi_in,
                    spi_out,
                    bytes: in_t.bytes.max(out_t.bytes),
                    packets: in_t.packets.max(out_t.packets),
                    last_inbound,
                    soft_limit_reached: has(SaEvent::SoftLifetime),
                    hard_limit_reached: has(SaEvent::HardLifetime),
                    seq_exhausted: has(SaEvent::SeqNearExhaustion) || has(SaEvent::SeqExhausted),
                },
            );
        }
    }

    async fn install_trap(&mut self, conn: &str) {
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
        self.data.outbound(DataCmd::SetTraps(self.traps.clone()));
    }

    /// Starts an IKE SA for `conn`; its handshake time is measured.
    fn initiate(
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

    /// Checks the caller's role; an admin action is audited before it is carried out
    /// (and refused when the audit log cannot be written) and again with its result.
    fn control(&mut self, call: ControlCall) {
        let role = self.access.caller_role(&call.caller);
        if let Err(msg) = self.access.check(role, &call.request) {
            tracing::warn!(
                "control: {} refused for uid {} (pid {:?}): {msg}",
                request_name(&call.request),
                call.caller.uid,
                call.caller.pid
            );
            let _ = call.reply.send(Response::Error { message: msg });
            return;
        }
        let action = request_name(&call.request);
        let target = match &call.request {
            Request::Status => None,
            Request::Up { conn, .. }
            | Request::Down { conn }
            | Request::BreakGlass { conn, .. } => Some(conn.clone()),
            Request::KeyExport { enable: false, .. } => Some("off".to_owned()),
            Request::KeyExport {
                enable: true,
                for_secs,
            } => Some(match for_secs {
                Some(s) => format!("on for {s}s"),
                None => format!("on for {}s", KEY_EXPORT_DEFAULT.as_secs()),
            }),
            Request::Rekey { conn, child } => Some(match child {
                Some(c) => format!("{conn}/{c}"),
                None => conn.clone(),
            }),
        };
        let (uid, pid) = (call.caller.uid, call.caller.pid);
        if let Some(t) = &target
            && let Err(e) = self.audit.record(uid, pid, action, t, "requested")
        {
            tracing::error!("control: {action} {t} refused: {e}");
            let _ = call.reply.send(Response::Error {
                message: format!("refused: the audit log cannot be written ({e})"),
            });
            return;
        }
        let (reply_tx, reply_rx) = oneshot::channel();
        self.control_inner(ControlCall {
            request: call.request,
            caller: call.caller,
            reply: reply_tx,
        });
        // The answer (or, for `up`, the waiter's later answer) passes through here to
        // be audited.
        let audit = self.audit.clone();
        let reply = call.reply;
        tokio::spawn(async move {
            let resp = reply_rx.await.unwrap_or(Response::Error {
                message: "the daemon dropped the request".to_owned(),
            });
            if let Some(t) = &target {
                let result = match &resp {
                    Response::Ok { message } => format!("ok: {message}"),
                    Response::Error { message } => format!("error: {message}"),
                    Response::Status(_) => "ok".to_owned(),
                };
                if let Err(e) = audit.record(uid, pid, action, t, &result) {
                    tracing::error!("control: {action} {t}: {e}");
                }
            }
            let _ = reply.send(resp);
        });
    }

    fn control_inner(&mut self, call: ControlCall) {
        let now = Instant::now();
        let reply = match call.request {
            Request::Status => {
                let live = self.endpoint.ike_sas();
                let counters =
                    super::book::daemon_counters(self.endpoint.stats(), &self.data.stats);
                let mut report = self.book.report(&self.config, &live, now, counters);
                self.decorate(&mut report, now);
                Some(Response::Status(report))
            }
            Request::BreakGlass {
                conn,
                halves,
                drill,
            } => {
                tracing::warn!(
                    "control: break-glass {}{conn} by {}: verifying the halves",
                    if drill { "drill " } else { "" },
                    call.caller
                );
                self.break_glass_request(conn, halves, drill, call.caller, call.reply);
                return;
            }
            Request::KeyExport { enable, for_secs } => {
                Some(self.key_export_request(enable, for_secs, call.caller.uid))
            }
            Request::Up { conn, timeout_secs } => {
                tracing::info!("control: up {conn} (uid {})", call.caller.uid);
                if self.conn_state(&conn) == Some(ConnState::Established)
                    && self.all_children_up(&conn)
                {
                    Some(Response::Ok {
                        message: format!("{conn} is already established"),
                    })
                } else {
                    let busy = self.endpoint.ike_sas().iter().any(|s| s.conn == conn);
                    let started = if busy {
                        Ok(())
                    } else {
                        self.initiate(&conn).map(|_| ())
                    };
                    match started {
                        Ok(()) => {
                            self.waiters.push(UpWaiter {
                                conn,
                                deadline: now + Duration::from_secs(timeout_secs.clamp(1, 3600)),
                                reply: call.reply,
                            });
                            return;
                        }
                        Err(e) => Some(Response::Error {
                            message: e.to_string(),
                        }),
                    }
                }
            }
            Request::Down { conn } => {
                tracing::info!("control: down {conn} (uid {})", call.caller.uid);
                Some(match self.endpoint.terminate(now, &conn) {
                    Ok(0) => Response::Ok {
                        message: format!("{conn} has no IKE SA"),
                    },
                    Ok(n) => Response::Ok {
                        message: format!("{conn}: deleting {n} IKE SA(s)"),
                    },
                    Err(e) => Response::Error {
                        message: e.to_string(),
                    },
                })
            }
            Request::Rekey { conn, child } => {
                tracing::info!("control: rekey {conn} {child:?} (uid {})", call.caller.uid);
                Some(self.rekey(now, &conn, child.as_deref()))
            }
        };
        if let Some(r) = reply {
            let _ = call.reply.send(r);
        }
    }

    fn rekey(&mut self, now: Instant, conn: &str, child: Option<&str>) -> Response {
        let live = self.endpoint.ike_sas();
        let Some(sa) = live
            .iter()
            .find(|s| s.conn == conn && s.state == "ESTABLISHED")
        else {
            return Response::Error {
                message: format!("{conn} has no established IKE SA"),
            };
        };
        let res = match child {
            None => self.endpoint.rekey_ike_sa(now, sa.id),
            Some(name) => {
                let Some(c) = sa.children.iter().find(|c| c.name == name && c.outbound) else {
                    return Response::Error {
                        message: format!("{conn} has no installed CHILD SA {name}"),
                    };
                };
                self.endpoint.rekey_child(now, c.spi_in)
            }
        };
        match res {
            Ok(()) => Response::Ok {
                message: match child {
                    None => format!("{conn}: IKE SA rekey started"),
                    Some(name) => format!("{conn}/{name}: CHILD SA rekey started"),
                },
            },
            Err(e) => Response::Error {
                message: e.to_string(),
            },
        }
    }

    fn conn_state(&self, conn: &str) -> Option<ConnState> {
        let live = self.endpoint.ike_sas();
        let mine: Vec<_> = live.iter().filter(|s| s.conn == conn).collect();
        if mine.iter().any(|s| s.state == "ESTABLISHED") {
            Some(ConnState::Established)
        } else if mine.is_empty() {
            Some(ConnState::Down)
        } else {
            Some(ConnState::Connecting)
        }
    }

    fn all_children_up(&self, conn: &str) -> bool {
        let Some(cfg) = self.config.connections.iter().find(|c| c.name == conn) else {
            return false;
        };
        let live = self.endpoint.ike_sas();
        cfg.children.iter().all(|child| {
            live.iter().any(|s| {
                s.conn == conn
                    && s.state == "ESTABLISHED"
                    && s.children
                        .iter()
                        .any(|c| c.name == child.name && c.outbound)
            })
        })
    }

    fn answer_waiters(&mut self) {
        let waiters = std::mem::take(&mut self.waiters);
        for w in waiters {
            if self.all_children_up(&w.conn) {
                let _ = w.reply.send(Response::Ok {
                    message: format!("{} established", w.conn),
                });
            } else {
                self.waiters.push(w);
            }
        }
    }

    fn expire_waiters(&mut self) {
        let now = Instant::now();
        let waiters = std::mem::take(&mut self.waiters);
        for w in waiters {
            if now >= w.deadline {
                let state = self.conn_state(&w.conn);
                let hint = match state {
                    Some(ConnState::Connecting) => {
                        "no answer from the peer yet: check that UDP 500/4500 reach it"
                    }
                    _ => "not established",
                };
                let _ = w.reply.send(Response::Error {
                    message: format!("{}: timed out waiting for the tunnel: {hint}", w.conn),
                });
            } else {
                self.waiters.push(w);
            }
        }
    }
}

/// `-v`: one line per IKE message with its header (the payloads are encrypted).
fn trace_ike(
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

/// Whether IKE from `ip` may reach the state machine: inside `[daemon].allowed_peers`
/// (when set) and a possible peer of some connection (its `remote_addrs`, or any
/// address when a connection has none). Everything else is dropped before parsing,
/// so a stolen PSK is useless from elsewhere and floods cost no DH.
/// Break-glass connections count only while active (see [`peer_allowed_with`]).
pub fn peer_allowed(config: &DaemonConfig, ip: IpAddr) -> bool {
    peer_allowed_with(config, |_| false, ip)
}

/// [`peer_allowed`] with the break-glass connections for which `active` says yes
/// loaded. `remote_addrs` may hold addresses and CIDR ranges.
pub fn peer_allowed_with(config: &DaemonConfig, active: impl Fn(&str) -> bool, ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    let peers = &config.daemon.allowed_peers;
    let daemon_ok = peers.is_empty() || peers.iter().any(|&n| crate::config::in_prefix(ip, n));
    daemon_ok
        && config
            .connections
            .iter()
            .filter(|c| c.break_glass.is_none() || active(&c.name))
            .any(|c| {
                (c.remote_addrs.is_empty() && c.remote_ranges.is_empty())
                    || c.remote_addrs.iter().any(|a| a.to_canonical() == ip)
                    || c.remote_ranges
                        .iter()
                        .any(|&r| crate::config::in_prefix(ip, r))
            })
}

fn nonzero(v: u64) -> Option<u64> {
    (v != 0).then_some(v)
}

fn nat_note(here: bool, there: bool) -> &'static str {
    match (here, there) {
        (false, false) => "",
        (true, false) => ", we are behind a NAT",
        (false, true) => ", peer behind a NAT (or faking it to force UDP encapsulation)",
        (true, true) => ", NAT on both sides",
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
