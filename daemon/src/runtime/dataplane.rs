//! The ESP data plane: two worker threads that move packets between the TUN device
//! and the sockets without going through the control task (STYLE.md: the data path
//! never passes through the control loop).
//!
//! - The **outbound** worker reads IP packets from the TUN device in batches, finds
//!   the CHILD SA by its traffic selectors ([`esp::spd::Spd`]), clamps the TCP MSS,
//!   encrypts in place and sends ESP in UDP (port 4500) or raw ESP (protocol 50) in
//!   `sendmmsg` batches. A packet that matches only a trap policy asks the control
//!   task to initiate the connection.
//! - The **inbound** worker reads the port-4500 sockets and the raw ESP sockets in
//!   `recvmmsg` batches, hands IKE messages to the control task, decrypts ESP in place,
//!   checks the inner packet against the SA's selectors and writes it to the TUN.
//!
//! Each worker owns its SA table outright: no locks on the packet path. The control
//! task changes the tables with [`DataCmd`]s on a channel and wakes the worker through
//! an eventfd; [`DataPlane::barrier`] waits until both workers applied everything sent
//! so far (a rekey's new inbound SA is in place before the IKE response leaves).
//! Workers report SA counters and lifetime events once a second ([`WorkerMsg`]).

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use esp::counters::{DropReason, SaEvent, SaUsage};
use esp::io::{
    Datagram, DatagramKind, DatagramSource as _, MAX_BATCH, PacketSink as _, PacketSource as _,
    RawEspSocket, Tun, UdpEncapSocket,
};
use esp::ip::PacketView;
use esp::mss::clamp_mss;
use esp::spd::{Spd, check_inbound};
use esp::{InboundSa, OutboundSa, PacketBuf, decapsulate, encapsulate};
use ikev2::ts::TrafficSelector;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::eventfd::{EfdFlags, EventFd};
use tokio::sync::{mpsc, oneshot};

/// Room in front of a packet for the outer headers (ESP header, IV, UDP), so
/// encapsulation never moves the packet.
const HEADROOM: usize = 64;
/// Room for the largest packet plus ESP trailer and ICV.
const BUF_CAPACITY: usize = 65_535 + 128;
/// How often workers report SA counters.
const REPORT_INTERVAL: Duration = Duration::from_secs(1);
/// Socket buffers of the data sockets: bursts of ESP must not overflow the kernel's
/// default (about 200 KiB, 150 full-size packets) while a worker is busy decrypting.
const SOCKET_BUFFER: usize = 8 << 20;
/// At most one trap trigger per connection in this interval.
const TRAP_HOLDOFF: Duration = Duration::from_secs(2);

/// The TCP MSS that SYNs are clamped to, per inner address family (`None`: off).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mss {
    pub v4: Option<u16>,
    pub v6: Option<u16>,
}

impl Mss {
    fn clamp(&self, packet: &mut [u8]) {
        let max = match packet.first().map(|b| b >> 4) {
            Some(4) => self.v4,
            Some(6) => self.v6,
            _ => None,
        };
        if let Some(max) = max {
            clamp_mss(packet, max);
        }
    }
}

/// Where an outbound SA's packets go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dest {
    /// ESP in UDP (RFC 3948) from port-4500 socket number `sock` to `peer`.
    Udp { sock: usize, peer: SocketAddr },
    /// Raw ESP from raw socket number `sock` to `peer`.
    Raw { sock: usize, peer: IpAddr },
}

/// An outbound SA to install.
#[derive(Debug)]
pub struct OutboundInstall {
    pub spi: u32,
    pub sa: OutboundSa,
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
    pub dest: Dest,
    /// The outbound SA this one replaces (rekey): removed in the same step, so no
    /// packet finds neither.
    pub replaces: Option<u32>,
}

/// An inbound SA to install.
#[derive(Debug)]
pub struct InboundInstall {
    pub spi: u32,
    pub sa: InboundSa,
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
}

/// A `start_action = trap` policy: outbound packets matching it start `conn`.
#[derive(Debug, Clone)]
pub struct TrapPolicy {
    pub conn: String,
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
}

/// A change to a worker's tables.
#[derive(Debug)]
pub enum DataCmd {
    InstallOutbound(Box<OutboundInstall>),
    RemoveOutbound {
        spi: u32,
    },
    InstallInbound(Box<InboundInstall>),
    RemoveInbound {
        spi: u32,
    },
    SetTraps(Vec<TrapPolicy>),
    /// Answered once every command before it is applied.
    Barrier(oneshot::Sender<()>),
    /// Send the SA counters now (before answering), so `status` is current.
    Report(oneshot::Sender<()>),
    Shutdown,
}

/// The counters of one SA, as a worker last saw them.
#[derive(Debug, Clone)]
pub struct SaReport {
    pub usage: SaUsage,
    /// When the SA last passed a packet.
    pub last_packet: Option<Instant>,
    /// Lifetime events raised since the last report.
    pub events: Vec<SaEvent>,
    /// The SA was removed: these are its final counters.
    pub removed: bool,
}

/// What workers tell the control task.
#[derive(Debug)]
pub enum WorkerMsg {
    /// An IKE message on port 4500, the non-ESP marker still in front (as
    /// [`ikev2::Endpoint::handle_datagram`] wants it for a port-4500 `local`).
    Ike {
        local: SocketAddr,
        remote: SocketAddr,
        payload: Vec<u8>,
    },
    Usage(Vec<SaReport>),
    /// An outbound packet matched the trap policy of `conn`.
    Trap {
        conn: String,
    },
    /// A worker stopped on an IO error it cannot recover from.
    Failed {
        worker: &'static str,
        error: String,
    },
}

/// Drops and events of the data plane that belong to no SA.
#[derive(Debug, Default)]
pub struct DataStats {
    /// TUN packets that are not IPv4/IPv6.
    pub out_not_ip: AtomicU64,
    /// TUN packets no CHILD SA (and no trap) covers.
    pub out_no_policy: AtomicU64,
    /// TUN packets that triggered a trap (dropped, as strongSwan does).
    pub out_trapped: AtomicU64,
    /// ESP with an SPI we do not have.
    pub in_no_sa: AtomicU64,
    /// Port-4500 datagrams that are neither IKE, ESP nor keepalive.
    pub in_invalid: AtomicU64,
    pub in_keepalives: AtomicU64,
    /// Datagrams or packets the kernel refused (buffers full, unreachable).
    pub send_errors: AtomicU64,
    pub tun_write_errors: AtomicU64,
}

/// A worker's command channel and its eventfd.
#[derive(Debug)]
struct Control {
    tx: Sender<DataCmd>,
    wake: Arc<EventFd>,
}

impl Control {
    fn send(&self, cmd: DataCmd) {
        // A worker that is gone reported why through WorkerMsg::Failed already.
        let _ = self.tx.send(cmd);
        let _ = self.wake.write(1);
    }
}

/// The two workers and their command channels.
#[derive(Debug)]
pub struct DataPlane {
    outbound: Control,
    inbound: Control,
    threads: Vec<JoinHandle<()>>,
    /// Per local socket: whether raw ESP can be sent from it.
    raw: Vec<bool>,
    pub stats: Arc<DataStats>,
}

/// The sockets of one local address.
#[derive(Debug)]
pub struct LocalSockets {
    pub addr: IpAddr,
    /// Port 4500 (ESP in UDP and IKE after the NAT-T switch).
    pub udp: UdpEncapSocket,
    /// Raw ESP, when we may open one (CAP_NET_RAW).
    pub raw: Option<RawEspSocket>,
}

impl DataPlane {
    /// Starts the workers on `tun` and the sockets of each local address (index =
    /// the `sock` of [`Dest`]). `mss` clamps TCP SYNs in both directions.
    pub fn start(
        tun: &Tun,
        sockets: &[LocalSockets],
        mss: Mss,
        to_control: mpsc::UnboundedSender<WorkerMsg>,
    ) -> io::Result<Self> {
        let stats = Arc::new(DataStats::default());
        let mut out_udp = Vec::new();
        let mut out_raw = Vec::new();
        let mut in_socks = Vec::new();
        for s in sockets {
            enlarge_buffers(&s.udp);
            if let Some(raw) = &s.raw {
                enlarge_buffers(raw);
            }
            let local = s.udp.local_addr()?;
            let udp_rx = UdpEncapSocket::from_std(s.udp.as_std().try_clone()?);
            udp_rx.set_nonblocking(true)?;
            in_socks.push(InSocket::Udp(udp_rx, local));
            out_udp.push(UdpEncapSocket::from_std(s.udp.as_std().try_clone()?));
            match &s.raw {
                Some(raw) => {
                    let rx = raw.try_clone()?;
                    rx.set_nonblocking(true)?;
                    in_socks.push(InSocket::Raw(rx));
                    out_raw.push(Some(raw.try_clone()?));
                }
                None => out_raw.push(None),
            }
        }
        let flags = EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC;
        let out_wake = Arc::new(EventFd::from_flags(flags)?);
        let in_wake = Arc::new(EventFd::from_flags(flags)?);
        let (out_tx, out_rx) = channel();
        let (in_tx, in_rx) = channel();

        let mut out_tun = tun.try_clone()?;
        out_tun.set_nonblocking(true);
        let link = |cmds, wake: &Arc<EventFd>| Link {
            cmds,
            wake: Arc::clone(wake),
            to_control: to_control.clone(),
            stats: Arc::clone(&stats),
            mss,
        };
        let outbound = OutboundWorker {
            tun: out_tun,
            udp: out_udp,
            raw: out_raw,
            link: link(out_rx, &out_wake),
            spd: Spd::new(),
            sas: HashMap::new(),
            traps: Spd::new(),
            trap_fired: HashMap::new(),
        };
        let mut in_tun = tun.try_clone()?;
        in_tun.set_nonblocking(true);
        let inbound = InboundWorker {
            tun: in_tun,
            socks: in_socks,
            link: link(in_rx, &in_wake),
            sas: HashMap::new(),
        };
        let fail = |name: &'static str, tx: mpsc::UnboundedSender<WorkerMsg>| {
            move |e: io::Error| {
                let _ = tx.send(WorkerMsg::Failed {
                    worker: name,
                    error: e.to_string(),
                });
            }
        };
        let on_out_err = fail("outbound", to_control.clone());
        let on_in_err = fail("inbound", to_control);
        let threads = vec![
            std::thread::Builder::new()
                .name("esp-out".into())
                .spawn(move || outbound.run().unwrap_or_else(on_out_err))?,
            std::thread::Builder::new()
                .name("esp-in".into())
                .spawn(move || inbound.run().unwrap_or_else(on_in_err))?,
        ];
        Ok(Self {
            outbound: Control {
                tx: out_tx,
                wake: out_wake,
            },
            inbound: Control {
                tx: in_tx,
                wake: in_wake,
            },
            threads,
            raw: sockets.iter().map(|s| s.raw.is_some()).collect(),
            stats,
        })
    }

    /// Whether raw ESP can be sent from local socket `sock`.
    pub fn has_raw(&self, sock: usize) -> bool {
        self.raw.get(sock).copied().unwrap_or(false)
    }

    pub fn outbound(&self, cmd: DataCmd) {
        self.outbound.send(cmd);
    }

    pub fn inbound(&self, cmd: DataCmd) {
        self.inbound.send(cmd);
    }

    /// Waits (at most a second) until both workers applied every command sent so far.
    pub async fn barrier(&self) {
        self.both(DataCmd::Barrier).await;
    }

    /// Waits (at most a second) until both workers sent their current SA counters.
    pub async fn report_now(&self) {
        self.both(DataCmd::Report).await;
    }

    async fn both(&self, cmd: fn(oneshot::Sender<()>) -> DataCmd) {
        let (a_tx, a_rx) = oneshot::channel();
        let (b_tx, b_rx) = oneshot::channel();
        self.outbound.send(cmd(a_tx));
        self.inbound.send(cmd(b_tx));
        let both = async {
            let _ = a_rx.await;
            let _ = b_rx.await;
        };
        if tokio::time::timeout(Duration::from_secs(1), both)
            .await
            .is_err()
        {
            tracing::warn!("data plane workers did not confirm SA changes within 1 s");
        }
    }

    /// Stops both workers and waits for them.
    pub fn shutdown(mut self) {
        self.outbound.send(DataCmd::Shutdown);
        self.inbound.send(DataCmd::Shutdown);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Asks for [`SOCKET_BUFFER`] octets of receive and send buffer (beyond
/// `net.core.rmem_max` with CAP_NET_ADMIN); the kernel's limit applies otherwise.
fn enlarge_buffers(sock: &impl AsFd) {
    use nix::sys::socket::{setsockopt, sockopt};
    let fd = sock.as_fd();
    if setsockopt(&fd, sockopt::RcvBufForce, &SOCKET_BUFFER).is_err() {
        let _ = setsockopt(&fd, sockopt::RcvBuf, &SOCKET_BUFFER);
    }
    if setsockopt(&fd, sockopt::SndBufForce, &SOCKET_BUFFER).is_err() {
        let _ = setsockopt(&fd, sockopt::SndBuf, &SOCKET_BUFFER);
    }
}

/// Waits until one of `fds` or the wake eventfd is readable (or `timeout`);
/// returns which of `fds` are.
fn wait_readable(
    fds: &[BorrowedFd<'_>],
    wake: &EventFd,
    timeout: Duration,
    ready: &mut Vec<bool>,
) -> io::Result<()> {
    let mut pfds: Vec<PollFd<'_>> = fds
        .iter()
        .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
        .collect();
    pfds.push(PollFd::new(wake.as_fd(), PollFlags::POLLIN));
    let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
    match poll(&mut pfds, PollTimeout::from(ms)) {
        Ok(_) | Err(nix::errno::Errno::EINTR) => {}
        Err(e) => return Err(e.into()),
    }
    ready.clear();
    ready.extend(pfds.iter().map(|p| {
        p.revents()
            .is_some_and(|r| r.intersects(PollFlags::POLLIN | PollFlags::POLLERR))
    }));
    if ready.pop() == Some(true) {
        let _ = wake.read();
    }
    Ok(())
}

/// What both SA directions offer for reporting.
trait CountedSa {
    fn usage(&self) -> SaUsage;
    fn poll_event(&mut self) -> Option<SaEvent>;
}

impl CountedSa for OutboundSa {
    fn usage(&self) -> SaUsage {
        OutboundSa::usage(self)
    }
    fn poll_event(&mut self) -> Option<SaEvent> {
        OutboundSa::poll_event(self)
    }
}

impl CountedSa for InboundSa {
    fn usage(&self) -> SaUsage {
        InboundSa::usage(self)
    }
    fn poll_event(&mut self) -> Option<SaEvent> {
        InboundSa::poll_event(self)
    }
}

/// An installed SA with what its worker last reported about it.
#[derive(Debug)]
struct Tracked<S> {
    sa: S,
    last_packet: Option<Instant>,
    /// Octets, packets and drops at the last report, to report only changes.
    reported: (u64, u64, u64),
}

impl<S: CountedSa> Tracked<S> {
    fn new(sa: S) -> Self {
        Self {
            sa,
            last_packet: None,
            reported: (0, 0, 0),
        }
    }

    /// A report if anything changed (always for a `removed` SA's final one).
    fn report(&mut self, removed: bool) -> Option<SaReport> {
        let usage = self.sa.usage();
        let events: Vec<SaEvent> = std::iter::from_fn(|| self.sa.poll_event()).collect();
        let now = (usage.bytes, usage.packets, usage.drops.total());
        let changed = now != self.reported;
        self.reported = now;
        (changed || removed || !events.is_empty()).then_some(SaReport {
            usage,
            last_packet: self.last_packet,
            events,
            removed,
        })
    }
}

/// What the two workers share: their command channel, the way back to the control
/// task, counters, and the MSS clamp.
#[derive(Debug)]
struct Link {
    cmds: Receiver<DataCmd>,
    wake: Arc<EventFd>,
    to_control: mpsc::UnboundedSender<WorkerMsg>,
    stats: Arc<DataStats>,
    mss: Mss,
}

impl Link {
    fn send_reports(&self, reports: Vec<SaReport>) {
        if !reports.is_empty() {
            let _ = self.to_control.send(WorkerMsg::Usage(reports));
        }
    }
}

/// A worker's own table changes; the common commands are handled by
/// [`apply_commands`].
trait Worker {
    fn link(&self) -> &Link;
    /// A command for this worker's tables (others are ignored).
    fn apply(&mut self, cmd: DataCmd);
    /// Reports the counters of every SA that changed.
    fn report_usage(&mut self);
}

/// Applies queued commands; false on shutdown.
fn apply_commands(w: &mut impl Worker) -> bool {
    loop {
        match w.link().cmds.try_recv() {
            Ok(DataCmd::Barrier(ack)) => {
                let _ = ack.send(());
            }
            Ok(DataCmd::Report(ack)) => {
                w.report_usage();
                let _ = ack.send(());
            }
            Ok(DataCmd::Shutdown) | Err(TryRecvError::Disconnected) => return false,
            Ok(cmd) => w.apply(cmd),
            Err(TryRecvError::Empty) => return true,
        }
    }
}

#[derive(Debug)]
struct OutEntry {
    t: Tracked<OutboundSa>,
    dest: Dest,
}

#[derive(Debug)]
struct OutboundWorker {
    tun: Tun,
    udp: Vec<UdpEncapSocket>,
    raw: Vec<Option<RawEspSocket>>,
    link: Link,
    /// Policies to the outbound SPI.
    spd: Spd<u32>,
    /// Boxed: an entry holds the cipher context inline (about 2 KiB), and a hash
    /// table is between 44 % and 88 % full, and twice its size while it grows
    /// (docs/performance.md, `scripts/bench memprofile`).
    sas: HashMap<u32, Box<OutEntry>>,
    /// Trap policies to the connection name.
    traps: Spd<String>,
    trap_fired: HashMap<String, Instant>,
}

impl OutboundWorker {
    fn run(mut self) -> io::Result<()> {
        let mut rx: Vec<PacketBuf> = (0..MAX_BATCH)
            .map(|_| PacketBuf::with_capacity(HEADROOM, BUF_CAPACITY))
            .collect();
        let mut pool: Vec<PacketBuf> = Vec::new();
        // Per socket: ESP datagrams to send this round.
        let mut udp_out: Vec<Vec<Datagram>> = self.udp.iter().map(|_| Vec::new()).collect();
        let mut raw_out: Vec<Vec<Datagram>> = self.raw.iter().map(|_| Vec::new()).collect();
        let mut ready = Vec::new();
        let mut next_report = Instant::now() + REPORT_INTERVAL;
        loop {
            let now = Instant::now();
            let timeout = next_report.saturating_duration_since(now);
            wait_readable(&[self.tun.as_fd()], &self.link.wake, timeout, &mut ready)?;
            if !apply_commands(&mut self) {
                return Ok(());
            }
            if ready.first() == Some(&true) {
                loop {
                    let n = match self.tun.recv_batch(&mut rx, HEADROOM) {
                        Ok(0) => return Err(io::Error::other("TUN device closed")),
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e),
                    };
                    let now = Instant::now();
                    for slot in rx.iter_mut().take(n) {
                        let Some(dest) = self.encrypt(slot, now) else {
                            continue;
                        };
                        let fresh = pool
                            .pop()
                            .unwrap_or_else(|| PacketBuf::with_capacity(HEADROOM, BUF_CAPACITY));
                        let buf = std::mem::replace(slot, fresh);
                        match dest {
                            Dest::Udp { sock, peer } => {
                                udp_out[sock].push(Datagram::to(peer, DatagramKind::Esp, buf));
                            }
                            Dest::Raw { sock, peer } => raw_out[sock].push(Datagram::to(
                                SocketAddr::new(peer, 0),
                                DatagramKind::Esp,
                                buf,
                            )),
                        }
                    }
                    for (sock, out) in self.udp.iter_mut().zip(udp_out.iter_mut()) {
                        send_all(sock, out, &self.link.stats, &mut pool);
                    }
                    for (sock, out) in self.raw.iter_mut().zip(raw_out.iter_mut()) {
                        if let Some(sock) = sock {
                            send_all(sock, out, &self.link.stats, &mut pool);
                        }
                    }
                    if n < rx.len() {
                        break;
                    }
                }
            }
            if Instant::now() >= next_report {
                self.report_usage();
                next_report = Instant::now() + REPORT_INTERVAL;
            }
        }
    }

    /// Encrypts the packet in `buf` in place; where to send it, or `None` if it was
    /// dropped (counted).
    fn encrypt(&mut self, buf: &mut PacketBuf, now: Instant) -> Option<Dest> {
        let spi = {
            let Ok(view) = PacketView::parse(buf.as_slice()) else {
                self.link.stats.out_not_ip.fetch_add(1, Ordering::Relaxed);
                return None;
            };
            match self.spd.lookup_outbound(&view) {
                Some(&spi) => spi,
                None => {
                    match self.traps.lookup_outbound(&view) {
                        Some(conn) => {
                            self.link.stats.out_trapped.fetch_add(1, Ordering::Relaxed);
                            let fire = self
                                .trap_fired
                                .get(conn)
                                .is_none_or(|t| now.duration_since(*t) >= TRAP_HOLDOFF);
                            if fire {
                                self.trap_fired.insert(conn.clone(), now);
                                let _ = self
                                    .link
                                    .to_control
                                    .send(WorkerMsg::Trap { conn: conn.clone() });
                            }
                        }
                        None => {
                            self.link
                                .stats
                                .out_no_policy
                                .fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    return None;
                }
            }
        };
        self.link.mss.clamp(buf.as_mut_slice());
        let entry = self.sas.get_mut(&spi)?;
        encapsulate(&mut entry.t.sa, buf).ok()?;
        entry.t.last_packet = Some(now);
        Some(entry.dest)
    }

    fn remove(&mut self, spi: u32) {
        if let Some(mut e) = self.sas.remove(&spi) {
            self.spd.retain(|s| *s != spi);
            self.link
                .send_reports(e.t.report(true).into_iter().collect());
        }
    }
}

impl Worker for OutboundWorker {
    fn link(&self) -> &Link {
        &self.link
    }

    fn apply(&mut self, cmd: DataCmd) {
        match cmd {
            DataCmd::InstallOutbound(i) => {
                let i = *i;
                if let Some(old) = i.replaces {
                    self.remove(old);
                }
                self.remove(i.spi);
                self.spd.insert(&i.local_ts, &i.remote_ts, i.spi);
                self.sas.insert(
                    i.spi,
                    Box::new(OutEntry {
                        t: Tracked::new(i.sa),
                        dest: i.dest,
                    }),
                );
            }
            DataCmd::RemoveOutbound { spi } => self.remove(spi),
            DataCmd::SetTraps(traps) => {
                self.traps = Spd::new();
                for t in traps {
                    self.traps.insert(&t.local_ts, &t.remote_ts, t.conn);
                }
            }
            _ => {}
        }
    }

    fn report_usage(&mut self) {
        let reports = self
            .sas
            .values_mut()
            .filter_map(|e| e.t.report(false))
            .collect();
        self.link.send_reports(reports);
    }
}

/// Sends `out` (then empties it, returning the buffers to `pool`). A full socket
/// buffer is waited out briefly; what still does not go is counted and dropped.
fn send_all<S: esp::io::DatagramSink + AsFd>(
    sock: &mut S,
    out: &mut Vec<Datagram>,
    stats: &DataStats,
    pool: &mut Vec<PacketBuf>,
) {
    let mut sent = 0;
    let mut stalls = 0;
    while sent < out.len() {
        match sock.send_batch(&out[sent..]) {
            Ok(0) => break,
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && stalls < 3 => {
                stalls += 1;
                let mut pfd = [PollFd::new(sock.as_fd(), PollFlags::POLLOUT)];
                let _ = poll(&mut pfd, PollTimeout::from(10u16));
            }
            Err(_) => {
                // Unreachable peer, ENOBUFS...: drop this datagram, try the rest.
                stats.send_errors.fetch_add(1, Ordering::Relaxed);
                sent += 1;
            }
        }
    }
    if sent < out.len() {
        stats
            .send_errors
            .fetch_add((out.len() - sent) as u64, Ordering::Relaxed);
    }
    pool.extend(out.drain(..).map(|d| d.buf));
}

#[derive(Debug)]
enum InSocket {
    Udp(UdpEncapSocket, SocketAddr),
    Raw(RawEspSocket),
}

impl InSocket {
    fn fd(&self) -> BorrowedFd<'_> {
        match self {
            InSocket::Udp(s, _) => s.as_fd(),
            InSocket::Raw(s) => s.as_fd(),
        }
    }
}

#[derive(Debug)]
struct InEntry {
    t: Tracked<InboundSa>,
    local_ts: Vec<TrafficSelector>,
    remote_ts: Vec<TrafficSelector>,
}

#[derive(Debug)]
struct InboundWorker {
    tun: Tun,
    socks: Vec<InSocket>,
    link: Link,
    /// Boxed, as the outbound worker's entries.
    sas: HashMap<u32, Box<InEntry>>,
}

impl InboundWorker {
    fn run(mut self) -> io::Result<()> {
        let mut rx: Vec<Datagram> = (0..MAX_BATCH)
            .map(|_| Datagram::with_buf(PacketBuf::with_capacity(HEADROOM, BUF_CAPACITY)))
            .collect();
        let mut to_tun: Vec<PacketBuf> = Vec::with_capacity(MAX_BATCH);
        let mut pool: Vec<PacketBuf> = Vec::new();
        let mut ready = Vec::new();
        let mut next_report = Instant::now() + REPORT_INTERVAL;
        loop {
            let timeout = next_report.saturating_duration_since(Instant::now());
            {
                let fds: Vec<BorrowedFd<'_>> = self.socks.iter().map(InSocket::fd).collect();
                wait_readable(&fds, &self.link.wake, timeout, &mut ready)?;
            }
            if !apply_commands(&mut self) {
                return Ok(());
            }
            for i in 0..self.socks.len() {
                if ready.get(i) != Some(&true) {
                    continue;
                }
                loop {
                    let (n, local) = {
                        let res = match &mut self.socks[i] {
                            InSocket::Udp(s, local) => (s.recv_batch(&mut rx, 0), Some(*local)),
                            InSocket::Raw(s) => (s.recv_batch(&mut rx, 0), None),
                        };
                        match res {
                            (Ok(n), local) => (n, local),
                            (Err(e), _) if e.kind() == io::ErrorKind::WouldBlock => break,
                            (Err(e), _) if e.kind() == io::ErrorKind::Interrupted => continue,
                            // ICMP errors surface as receive errors on UDP: not fatal.
                            (Err(_), _) => break,
                        }
                    };
                    let now = Instant::now();
                    for d in rx.iter_mut().take(n) {
                        if self.handle(d, local, now) {
                            let fresh = pool.pop().unwrap_or_else(|| {
                                PacketBuf::with_capacity(HEADROOM, BUF_CAPACITY)
                            });
                            to_tun.push(std::mem::replace(&mut d.buf, fresh));
                        }
                    }
                    self.write_tun(&mut to_tun, &mut pool);
                    if n < rx.len() {
                        break;
                    }
                }
            }
            if Instant::now() >= next_report {
                self.report_usage();
                next_report = Instant::now() + REPORT_INTERVAL;
            }
        }
    }

    /// Handles one received datagram; true if `d.buf` now holds a packet for the TUN.
    fn handle(&mut self, d: &mut Datagram, local: Option<SocketAddr>, now: Instant) -> bool {
        match d.kind {
            DatagramKind::Esp => {}
            DatagramKind::Ike => {
                if let Some(local) = local {
                    let mut payload = Vec::with_capacity(d.buf.len() + 4);
                    payload.extend_from_slice(&esp::natt::NON_ESP_MARKER);
                    payload.extend_from_slice(d.buf.as_slice());
                    let _ = self.link.to_control.send(WorkerMsg::Ike {
                        local,
                        remote: d.peer,
                        payload,
                    });
                }
                return false;
            }
            DatagramKind::Keepalive => {
                self.link
                    .stats
                    .in_keepalives
                    .fetch_add(1, Ordering::Relaxed);
                return false;
            }
            DatagramKind::Invalid => {
                self.link.stats.in_invalid.fetch_add(1, Ordering::Relaxed);
                return false;
            }
        }
        let spi = match d.buf.as_slice() {
            [a, b, c, e, ..] => u32::from_be_bytes([*a, *b, *c, *e]),
            _ => {
                self.link.stats.in_invalid.fetch_add(1, Ordering::Relaxed);
                return false;
            }
        };
        let Some(entry) = self.sas.get_mut(&spi) else {
            self.link.stats.in_no_sa.fetch_add(1, Ordering::Relaxed);
            return false;
        };
        if decapsulate(&mut entry.t.sa, &mut d.buf).is_err() {
            return false;
        }
        let allowed = PacketView::parse(d.buf.as_slice())
            .is_ok_and(|v| check_inbound(&entry.local_ts, &entry.remote_ts, &v));
        if !allowed {
            entry.t.sa.record_drop(DropReason::TsMismatch);
            return false;
        }
        self.link.mss.clamp(d.buf.as_mut_slice());
        entry.t.last_packet = Some(now);
        true
    }

    fn write_tun(&mut self, pkts: &mut Vec<PacketBuf>, pool: &mut Vec<PacketBuf>) {
        let mut done = 0;
        let mut stalls = 0;
        while done < pkts.len() {
            match self.tun.send_batch(&pkts[done..]) {
                Ok(n) if n > 0 => done += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && stalls < 3 => {
                    stalls += 1;
                    let mut pfd = [PollFd::new(self.tun.as_fd(), PollFlags::POLLOUT)];
                    let _ = poll(&mut pfd, PollTimeout::from(10u16));
                }
                _ => {
                    self.link
                        .stats
                        .tun_write_errors
                        .fetch_add(1, Ordering::Relaxed);
                    done += 1;
                }
            }
        }
        pool.append(pkts);
    }
}

impl Worker for InboundWorker {
    fn link(&self) -> &Link {
        &self.link
    }

    fn apply(&mut self, cmd: DataCmd) {
        match cmd {
            DataCmd::InstallInbound(i) => {
                let i = *i;
                self.sas.insert(
                    i.spi,
                    Box::new(InEntry {
                        t: Tracked::new(i.sa),
                        local_ts: i.local_ts,
                        remote_ts: i.remote_ts,
                    }),
                );
            }
            DataCmd::RemoveInbound { spi } => {
                if let Some(mut e) = self.sas.remove(&spi) {
                    self.link
                        .send_reports(e.t.report(true).into_iter().collect());
                }
            }
            _ => {}
        }
    }

    fn report_usage(&mut self) {
        let reports = self
            .sas
            .values_mut()
            .filter_map(|e| e.t.report(false))
            .collect();
        self.link.send_reports(reports);
    }
}
