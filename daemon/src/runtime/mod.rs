//! `ikev2d run`: the daemon. Startup order: configuration, TUN device, sockets
//! (UDP 500 and 4500 and raw ESP per local address), data-plane workers, control
//! socket, then the control task ([`supervisor::Supervisor`]) until SIGTERM/SIGINT.
//! Shutdown deletes every IKE SA (DELETE sent, answers awaited briefly), removes the
//! routes, the TUN device and the control socket.

pub mod book;
pub mod breakglass;
pub mod dataplane;
pub mod flapping;
pub mod keyexport;
pub mod ratelimit;
pub mod routes;
pub mod rp_filter;
pub mod supervisor;

use std::collections::BTreeSet;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd as _;
use std::sync::Arc;
use std::time::Duration;

use esp::io::{RawEspSocket, Tun, UdpEncapSocket};
use ikev2::Endpoint;
use rand_core::{OsRng, RngCore as _};
use tokio::net::UdpSocket;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use crate::config::DaemonConfig;
use dataplane::{DataPlane, LocalSockets, MssPolicy};
use supervisor::{Exit, IkeSockets, Supervisor};

/// Packets the kernel may queue for the TUN device while the outbound worker is busy.
const TUN_TXQUEUELEN: u32 = 4096;

/// Options of `ikev2d run`.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub config: std::path::PathBuf,
    /// `-v` count: 0 = the config's log_level, 1 = debug, 2+ = trace.
    pub verbose: u8,
    /// Overrides `[daemon].control_socket`.
    pub socket: Option<std::path::PathBuf>,
}

/// Runs the daemon until a signal; the process exit status.
pub fn run(opts: &RunOptions) -> std::process::ExitCode {
    let config = match DaemonConfig::load(&opts.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ikev2d: {}: {}", opts.config.display(), one_line(&e));
            return std::process::ExitCode::from(1);
        }
    };
    init_logging(&config, opts.verbose);
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ikev2d: cannot start the runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    match rt.block_on(daemon(config, opts)) {
        Ok(Exit::Signal) => std::process::ExitCode::SUCCESS,
        Ok(Exit::WorkerFailed) => std::process::ExitCode::from(1),
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("ikev2d: {e}");
            std::process::ExitCode::from(1)
        }
    }
}

/// A load error in one line (the first error when there are several).
pub(crate) fn one_line(e: &crate::config::LoadError) -> String {
    match e {
        crate::config::LoadError::Invalid(findings) => {
            let errors: Vec<_> = findings
                .iter()
                .filter(|f| f.severity == crate::config::Severity::Error)
                .collect();
            match errors.first() {
                Some(f) => {
                    let line = f.line.map(|l| format!("line {l}: ")).unwrap_or_default();
                    let more = if errors.len() > 1 {
                        format!(" (and {} more; run `ikev2d check`)", errors.len() - 1)
                    } else {
                        String::new()
                    };
                    format!("{line}{}: {}{more}", f.path, f.message)
                }
                None => "invalid configuration".to_owned(),
            }
        }
        other => other.to_string(),
    }
}

fn init_logging(config: &DaemonConfig, verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let level = match verbose {
        0 => config.daemon.log_level.as_filter(),
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("IKEV2D_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
        .with_target(false)
        .try_init();
}

/// The TUN device's MTU: the largest configured inner MTU (`[daemon] mtu` or any
/// child's `mtu`).
fn tun_mtu(config: &DaemonConfig) -> u16 {
    config
        .connections
        .iter()
        .flat_map(|c| &c.children)
        .filter_map(|ch| ch.mtu)
        .fold(config.daemon.mtu, u16::max)
}

async fn daemon(config: DaemonConfig, opts: &RunOptions) -> Result<Exit, String> {
    let config = Arc::new(config);
    let d = &config.daemon;

    let tun = open_tun(&d.tun_name)?;
    // The TUN carries the largest inner packet any child may take; each CHILD SA's
    // own (smaller) MTU is the data plane's to enforce.
    let tun_mtu = tun_mtu(&config);
    tun.set_mtu(u32::from(tun_mtu))
        .and_then(|()| tun.set_txqueuelen(TUN_TXQUEUELEN))
        .and_then(|()| tun.set_up(true))
        .map_err(|e| format!("cannot configure TUN device {}: {e}", tun.name()))?;
    if let Some(w) =
        rp_filter::effective(std::path::Path::new("/proc/sys/net/ipv4/conf"), tun.name())
            .and_then(|v| rp_filter::warning(tun.name(), v))
    {
        tracing::warn!("{w}");
    }
    tracing::info!(
        "TUN device {} up, MTU {}{}",
        tun.name(),
        tun_mtu,
        if tun.has_offload() {
            ", TCP segmentation offload"
        } else {
            ""
        }
    );

    let (ike_sockets, local_sockets) = bind_sockets(&config).await?;
    let (to_control, from_workers) = mpsc::unbounded_channel();
    let (ike_tx, ike_rx) = mpsc::channel(dataplane::IKE_QUEUE);
    let stats = Arc::new(dataplane::DataStats::default());
    let mss = MssPolicy::from(d.mss_clamp);
    let data = DataPlane::start(
        &tun,
        &local_sockets,
        mss,
        to_control.clone(),
        ike_tx.clone(),
        Arc::clone(&stats),
    )
    .map_err(|e| format!("cannot start the data plane: {e}"))?;
    for s in &ike_sockets {
        spawn_ike_reader(
            Arc::clone(&s.udp500),
            ike_tx.clone(),
            to_control.clone(),
            Arc::clone(&stats),
        );
    }

    let netlink = crate::netlink::Routes::new()
        .await
        .map_err(|e| format!("cannot open netlink: {e}"))?;
    let ifindex = netlink
        .ifindex(tun.name())
        .await
        .map_err(|e| format!("cannot find TUN device {}: {e}", tun.name()))?;
    let routes = routes::RouteTable::new(Some(netlink), ifindex);

    let socket_path = opts
        .socket
        .clone()
        .unwrap_or_else(|| d.control_socket.clone());
    let access = crate::control::access::Access::from_config(&config.control)?;
    let listener = crate::control::server::bind(&socket_path)
        .await
        .map_err(|e| format!("control socket {}: {e}", socket_path.display()))?;
    let (mode, group) = access.socket_mode();
    std::fs::set_permissions(
        &socket_path,
        std::os::unix::fs::PermissionsExt::from_mode(mode),
    )
    .and_then(|()| std::os::unix::fs::chown(&socket_path, None, group))
    .map_err(|e| format!("control socket {}: permissions: {e}", socket_path.display()))?;
    let socket_cleanup = listener.cleanup();
    let (call_tx, calls) = mpsc::channel(64);
    let metrics_task = match config.metrics.listen {
        Some(addr) => {
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("[metrics] listen {addr}: {e}"))?;
            tracing::info!("metrics on http://{addr}/metrics (read-only)");
            Some(tokio::spawn(crate::metrics::serve(
                l,
                config.metrics.allowed_sources.clone(),
                call_tx.clone(),
            )))
        }
        None => None,
    };
    let control_task = tokio::spawn(listener.serve(call_tx));
    tracing::info!("control socket {}", socket_path.display());

    let (reload_tx, reload) = mpsc::channel(4);
    let (stop_tx, stop) = mpsc::channel(4);
    spawn_signals(reload_tx, stop_tx)
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;

    let mut seed = [0u8; 32];
    OsRng.fill_bytes(&mut seed);
    let mut endpoint = Endpoint::new(Arc::new(config.to_endpoint_config()), seed);
    supervisor::set_wall_clock(&mut endpoint, std::time::Instant::now());
    let audit = crate::control::audit::AuditLog::new(config.control.audit_log.clone());
    let mut sup = Supervisor::new(
        Arc::clone(&config),
        (access, audit),
        opts.config.clone(),
        endpoint,
        ike_sockets,
        data,
        routes,
    );
    tracing::info!(
        "ikev2d {} running with {} connection(s)",
        env!("CARGO_PKG_VERSION"),
        config.connections.len()
    );
    sup.start_actions().await;
    let mut from_workers = from_workers;
    let mut ike_rx = ike_rx;
    let exit = sup
        .run(&mut from_workers, &mut ike_rx, calls, reload, stop)
        .await;
    tracing::info!("shutting down: deleting IKE SAs");
    sup.shutdown(&mut ike_rx, Duration::from_secs(3)).await;
    sup.routes.remove_all().await;
    control_task.abort();
    if let Some(t) = metrics_task {
        t.abort();
    }
    socket_cleanup.remove();
    let Supervisor { data, .. } = sup;
    data.shutdown();
    drop(tun);
    tracing::info!("stopped");
    Ok(exit)
}

/// The TUN device, with TCP segmentation offload unless the kernel refuses it or
/// `IKEV2D_NO_TSO=1` (for comparisons).
fn open_tun(name: &str) -> Result<Tun, String> {
    let no_tso = std::env::var_os("IKEV2D_NO_TSO").is_some_and(|v| v == "1");
    if !no_tso {
        match Tun::create_with_offload(name) {
            Ok(t) => return Ok(t),
            Err(e) => tracing::info!("TUN offload not available ({e}): one packet per read"),
        }
    }
    Tun::create(name).map_err(|e| {
        format!("cannot create TUN device {name}: {e} (needs CAP_NET_ADMIN and /dev/net/tun)")
    })
}

/// Binds UDP 500 and 4500 (and raw ESP, if allowed) on every local address the
/// connections name; connections without local_addrs get the wildcard address.
async fn bind_sockets(
    config: &DaemonConfig,
) -> Result<(Vec<IkeSockets>, Vec<LocalSockets>), String> {
    let mut addrs: BTreeSet<IpAddr> = BTreeSet::new();
    for c in &config.connections {
        if c.local_addrs.is_empty() {
            addrs.insert(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        }
        addrs.extend(c.local_addrs.iter().copied());
    }
    if addrs.is_empty() {
        addrs.insert(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    }
    let mut ike = Vec::new();
    let mut local = Vec::new();
    for addr in addrs {
        // An address this host does not have yet (a VRRP address keepalived adds when
        // we become master): bound with IP_FREEBIND, and said so, since a mistyped
        // local_addrs looks the same.
        let freebind = !addr.is_unspecified()
            && matches!(
                std::net::UdpSocket::bind(SocketAddr::new(addr, 0)),
                Err(ref e) if e.kind() == std::io::ErrorKind::AddrNotAvailable
            );
        if freebind {
            tracing::warn!(
                "local address {addr} is not on this host (yet): listening on it anyway \
                 (IP_FREEBIND); IKE and ESP on it work once it is added, e.g. by keepalived"
            );
        }
        let udp500 = UdpEncapSocket::bind_with(SocketAddr::new(addr, 500), false, freebind)
            .and_then(|s| {
                s.set_nonblocking(true)?;
                UdpSocket::from_std(s.into_std())
            })
            .map_err(|e| format!("cannot bind UDP {}: {e}", SocketAddr::new(addr, 500)))?;
        // ICMP unreachable for our IKE_SA_INIT: the setup moves on to the next peer
        // address at once (supervisor/liveness.rs).
        if let Err(e) = esp::io::errqueue::enable_reports(udp500.as_raw_fd(), addr.is_ipv6()) {
            tracing::warn!("UDP {addr}:500: no ICMP error reports ({e})");
        }
        let udp4500 = UdpEncapSocket::bind_with(SocketAddr::new(addr, 4500), true, freebind)
            .map_err(|e| format!("cannot bind UDP {}: {e}", SocketAddr::new(addr, 4500)))?;
        let raw = match RawEspSocket::bind_with(addr, freebind) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!("no raw ESP socket on {addr} ({e}): only ESP in UDP is possible");
                None
            }
        };
        let send4500 = udp4500
            .as_std()
            .try_clone()
            .map_err(|e| format!("cannot share the UDP 4500 socket: {e}"))?;
        tracing::info!(
            "listening on {addr} UDP 500/4500{}",
            if raw.is_some() { " and ESP" } else { "" }
        );
        ike.push(IkeSockets {
            addr,
            udp500: Arc::new(udp500),
            udp4500: UdpEncapSocket::from_std(send4500),
        });
        local.push(LocalSockets {
            addr,
            udp: udp4500,
            raw,
        });
    }
    Ok((ike, local))
}

/// Forwards IKE datagrams from a port-500 socket to the control task, and the ICMP
/// destination-unreachable reports queued on it.
fn spawn_ike_reader(
    sock: Arc<UdpSocket>,
    tx: mpsc::Sender<dataplane::IkeDatagram>,
    to_control: mpsc::UnboundedSender<dataplane::WorkerMsg>,
    stats: Arc<dataplane::DataStats>,
) {
    tokio::spawn(async move {
        let Ok(local) = sock.local_addr() else {
            return;
        };
        let mut buf = vec![0u8; 65_536];
        loop {
            match sock.recv_from(&mut buf).await {
                Ok((n, remote)) => {
                    if tx.is_closed() {
                        return;
                    }
                    let d = dataplane::IkeDatagram {
                        local,
                        remote,
                        msg: buf[..n].to_vec(),
                    };
                    dataplane::queue_ike(&tx, &stats, d);
                }
                // An ICMP error is pending (IP_RECVERR): read the queue, keep listening.
                Err(e) => {
                    tracing::debug!("UDP {local}: {e}");
                    drain_ike_errors(&sock, &to_control);
                }
            }
        }
    });
}

/// Reads the error queue of a port-500 socket (bounded: forged ICMP must not keep
/// the reader from its datagrams) and passes unreachable reports on.
fn drain_ike_errors(sock: &UdpSocket, to_control: &mpsc::UnboundedSender<dataplane::WorkerMsg>) {
    use esp::io::errqueue::{QueuedError, recv_error};
    for _ in 0..64 {
        match recv_error(sock.as_raw_fd()) {
            Ok(Some(QueuedError::Unreachable(u))) => {
                let from = supervisor::liveness::QuoteFrom::Ike500;
                let _ = to_control.send(dataplane::WorkerMsg::Unreachable(u, from));
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return,
        }
    }
}

fn spawn_signals(reload: mpsc::Sender<()>, stop: mpsc::Sender<()>) -> io::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => { tracing::info!("SIGTERM received"); let _ = stop.send(()).await; }
                _ = int.recv() => { tracing::info!("SIGINT received"); let _ = stop.send(()).await; }
                _ = hup.recv() => { let _ = reload.send(()).await; }
            }
        }
    });
    Ok(())
}
