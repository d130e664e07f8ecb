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
//!   `recvmmsg` batches (port 4500 with UDP GRO: one datagram may carry many ESP
//!   packets of a peer, cut apart here), hands IKE messages to the control task,
//!   decrypts ESP in place, checks the inner packet against the SA's selectors and
//!   writes it to the TUN; with an offloading TUN, consecutive TCP segments of a flow
//!   in a batch go as one super-packet ([`esp::coalesce`]).
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

use esp::coalesce::{Coalescer, MAX_SEGMENTS};
use esp::counters::{DropReason, SaEvent, SaUsage};
use esp::io::{
    Datagram, DatagramKind, DatagramSource as _, GSO_MAX_BYTES, GSO_MAX_SEGMENTS, MAX_BATCH,
    PacketSink as _, PacketSource as _, RawEspSocket, Tun, UdpEncapSocket,
};
use esp::ip::PacketView;
use esp::mss::clamp_mss;
use esp::offload::{VnetHdr, complete_checksum, segment_tcp};
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
/// With TUN offload: room for one segment of a super-packet (up to a 9000-octet MTU)
/// plus ESP overhead.
const SEGMENT_CAPACITY: usize = HEADROOM + 9_216 + 256;
/// The inbound worker writes to the TUN device at least this often (in packets) while
/// a batch of coalesced UDP datagrams is cut apart, so its buffers stay few.
const TUN_FLUSH: usize = 128;
/// Spare segment buffers the inbound worker keeps.
const SEGMENT_POOL: usize = 256;
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

/// An IKE message for the control task, from a port-500 reader or from the inbound
/// worker (port 4500: the socket took off the non-ESP marker and kept ESP and
/// keepalives, which are counted there).
#[derive(Debug)]
pub struct IkeDatagram {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// The IKE message, from its header on.
    pub msg: Vec<u8>,
}

/// How many IKE datagrams may wait for the control task; beyond that they are
/// dropped and counted (`ike_queue_full`): a flood cannot grow memory.
pub const IKE_QUEUE: usize = 1024;

/// Queues an IKE datagram for the control task, or counts it dropped when the queue
/// is full.
pub fn queue_ike(tx: &mpsc::Sender<IkeDatagram>, stats: &DataStats, d: IkeDatagram) {
    if tx.try_send(d).is_err() {
        stats.ike_queue_full.fetch_add(1, Ordering::Relaxed);
    }
}

/// What workers tell the control task (besides IKE datagrams).
#[derive(Debug)]
pub enum WorkerMsg {
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
    /// Offloaded TUN packets that could not be cut into segments or checksummed.
    pub out_offload_errors: AtomicU64,
    /// TUN packets no CHILD SA (and no trap) covers.
    pub out_no_policy: AtomicU64,
    /// TUN packets that triggered a trap (dropped, as strongSwan does).
    pub out_trapped: AtomicU64,
    /// ESP with an SPI we do not have.
    pub in_no_sa: AtomicU64,
    /// Port-4500 datagrams that are neither IKE, ESP nor keepalive (the IKE
    /// endpoint never sees them).
    pub in_invalid: AtomicU64,
    /// NAT-keepalives received on port 4500 (the IKE endpoint never sees them).
    pub in_keepalives: AtomicU64,
    /// Datagrams or packets the kernel refused (buffers full, unreachable).
    pub send_errors: AtomicU64,
    pub tun_write_errors: AtomicU64,
    /// Received TCP segments written to the TUN inside another one's super-packet
    /// (receive coalescing), i.e. TUN writes saved.
    pub in_coalesced: AtomicU64,
    /// Port-4500 datagrams that the kernel's UDP GRO had coalesced (each held several
    /// ESP packets).
    pub in_gro_datagrams: AtomicU64,
    /// IKE datagrams dropped because the control task's queue was full.
    pub ike_queue_full: AtomicU64,
    /// IKE datagrams from an address no connection and no `allowed_peers` admits,
    /// dropped before any parsing or crypto.
    pub ike_not_allowed: AtomicU64,
    /// IKE_SA_INIT requests over a source's `init_rate_per_source`.
    pub ike_init_rate_limited: AtomicU64,
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
        ike_tx: mpsc::Sender<IkeDatagram>,
        stats: Arc<DataStats>,
    ) -> io::Result<Self> {
        let mut out_udp = Vec::new();
        let mut out_raw = Vec::new();
        let mut in_socks = Vec::new();
        let gro = env_switch("IKEV2D_NO_GRO");
        for s in sockets {
            enlarge_buffers(&s.udp);
            if let Some(raw) = &s.raw {
                enlarge_buffers(raw);
            }
            let local = s.udp.local_addr()?;
            let udp_rx = UdpEncapSocket::from_std(s.udp.as_std().try_clone()?);
            udp_rx.set_nonblocking(true)?;
            if gro {
                if let Err(e) = udp_rx.set_gro(true) {
                    tracing::info!("no UDP GRO on {local} ({e}): ESP datagrams come one by one");
                }
            }
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
        let gso = env_switch("IKEV2D_NO_GSO");
        let outbound = OutboundWorker {
            tun: out_tun,
            udp_gso: vec![gso; out_udp.len()],
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
        let coalesce = in_tun.has_offload() && env_switch("IKEV2D_NO_COALESCE");
        let inbound = InboundWorker {
            coalescer: coalesce.then(Coalescer::new),
            tun: in_tun,
            socks: in_socks,
            ike_tx,
            link: link(in_rx, &in_wake),
            sas: HashMap::new(),
        };
        let threads = vec![
            spawn_worker("esp-out", to_control.clone(), move || outbound.run())?,
            spawn_worker("esp-in", to_control, move || inbound.run())?,
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

/// Whether a data-path technique is on: yes unless the environment variable `off`
/// (`IKEV2D_NO_GSO`, ...) is "1", which lets a benchmark compare with and without.
fn env_switch(off: &str) -> bool {
    std::env::var_os(off).is_none_or(|v| v != "1")
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

/// Runs a worker on its own thread. An IO error or a panic (a bug) is reported to the
/// control task, which then stops the daemon (systemd restarts it) rather than run
/// on with half a data plane.
fn spawn_worker(
    name: &'static str,
    tx: mpsc::UnboundedSender<WorkerMsg>,
    run: impl FnOnce() -> io::Result<()> + Send + 'static,
) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let error = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
                Ok(Ok(())) => return,
                Ok(Err(e)) => e.to_string(),
                Err(p) => {
                    let what = p
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| p.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    format!("panicked: {what}")
                }
            };
            let _ = tx.send(WorkerMsg::Failed {
                worker: name,
                error,
            });
        })
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
    /// Per UDP socket: UDP GSO still worth trying (off after the kernel refused it,
    /// or with `IKEV2D_NO_GSO=1` for comparisons).
    udp_gso: Vec<bool>,
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
        let offload = self.tun.has_offload();
        // Without offload every buffer may receive a whole TUN packet; with it only
        // the scratch buffer does (super-packets), segments are at most a jumbo frame.
        let capacity = if offload {
            SEGMENT_CAPACITY
        } else {
            BUF_CAPACITY
        };
        let new_buf = move || PacketBuf::with_capacity(HEADROOM, capacity);
        let mut rx: Vec<PacketBuf> = if offload {
            Vec::new()
        } else {
            (0..MAX_BATCH).map(|_| new_buf()).collect()
        };
        let mut scratch = PacketBuf::with_capacity(HEADROOM, BUF_CAPACITY);
        let mut pkts: Vec<PacketBuf> = Vec::with_capacity(2 * MAX_BATCH);
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
                    let more = if offload {
                        self.read_offloaded(&mut scratch, &mut pkts, &mut pool, &new_buf)?
                    } else {
                        self.read_plain(&mut rx, &mut pkts, &mut pool, &new_buf)?
                    };
                    if pkts.is_empty() {
                        break;
                    }
                    let now = Instant::now();
                    for mut buf in pkts.drain(..) {
                        match self.encrypt(&mut buf, now) {
                            Some(Dest::Udp { sock, peer }) => {
                                udp_out[sock].push(Datagram::to(peer, DatagramKind::Esp, buf));
                            }
                            Some(Dest::Raw { sock, peer }) => raw_out[sock].push(Datagram::to(
                                SocketAddr::new(peer, 0),
                                DatagramKind::Esp,
                                buf,
                            )),
                            None => pool.push(buf),
                        }
                    }
                    for ((sock, out), gso) in self
                        .udp
                        .iter_mut()
                        .zip(udp_out.iter_mut())
                        .zip(self.udp_gso.iter_mut())
                    {
                        send_udp(sock, gso, out, &self.link.stats, &mut pool);
                    }
                    for (sock, out) in self.raw.iter_mut().zip(raw_out.iter_mut()) {
                        if let Some(sock) = sock {
                            send_all(sock, out, &self.link.stats, &mut pool);
                        }
                    }
                    if !more {
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

    /// One TUN batch into `pkts` (buffers swapped out of `rx`); whether the device may
    /// have more.
    fn read_plain(
        &mut self,
        rx: &mut [PacketBuf],
        pkts: &mut Vec<PacketBuf>,
        pool: &mut Vec<PacketBuf>,
        new_buf: &impl Fn() -> PacketBuf,
    ) -> io::Result<bool> {
        let n = match self.tun.recv_batch(rx, HEADROOM) {
            Ok(0) => return Err(io::Error::other("TUN device closed")),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) => return Err(e),
        };
        for slot in rx.iter_mut().take(n) {
            let fresh = pool.pop().unwrap_or_else(new_buf);
            pkts.push(std::mem::replace(slot, fresh));
        }
        Ok(n == rx.len())
    }

    /// Offload mode: reads packets (TCP super-packets cut into segments, partial
    /// checksums finished) until about a batch is in `pkts` or the device is empty;
    /// whether it may have more.
    fn read_offloaded(
        &mut self,
        scratch: &mut PacketBuf,
        pkts: &mut Vec<PacketBuf>,
        pool: &mut Vec<PacketBuf>,
        new_buf: &impl Fn() -> PacketBuf,
    ) -> io::Result<bool> {
        while pkts.len() < MAX_BATCH {
            let Some(hdr) = self.tun.recv_one(scratch, HEADROOM)? else {
                return Ok(false);
            };
            let done = match hdr.gso() {
                VnetHdr::GSO_NONE => {
                    let ok = hdr.flags & VnetHdr::F_NEEDS_CSUM == 0
                        || complete_checksum(scratch.as_mut_slice(), &hdr).is_ok();
                    if ok {
                        let mut b = pool.pop().unwrap_or_else(new_buf);
                        b.set_packet(HEADROOM, scratch.as_slice());
                        pkts.push(b);
                    }
                    ok
                }
                VnetHdr::GSO_TCPV4 | VnetHdr::GSO_TCPV6 => segment_tcp(
                    scratch.as_slice(),
                    usize::from(hdr.gso_size),
                    HEADROOM,
                    || pool.pop().unwrap_or_else(new_buf),
                    pkts,
                )
                .is_ok(),
                _ => false,
            };
            if !done {
                self.link
                    .stats
                    .out_offload_errors
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(true)
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

/// Sends `out` (then empties it, returning the buffers to `pool`).
fn send_all<S: esp::io::DatagramSink + AsFd>(
    sock: &mut S,
    out: &mut Vec<Datagram>,
    stats: &DataStats,
    pool: &mut Vec<PacketBuf>,
) {
    send_slice(sock, out, stats);
    pool.extend(out.drain(..).map(|d| d.buf));
}

/// Sends ESP in UDP, runs of equal-size datagrams to one peer with UDP GSO (one
/// system call and one pass through the kernel's UDP stack per run) while `gso` is
/// set; `gso` is cleared, for good, when the kernel refuses it.
fn send_udp(
    sock: &mut UdpEncapSocket,
    gso: &mut bool,
    out: &mut Vec<Datagram>,
    stats: &DataStats,
    pool: &mut Vec<PacketBuf>,
) {
    if !*gso {
        return send_all(sock, out, stats, pool);
    }
    let mut segs: Vec<&[u8]> = Vec::with_capacity(GSO_MAX_SEGMENTS);
    let mut i = 0;
    while i < out.len() {
        let j = gso_run(&out[i..]) + i;
        if j - i < 2 || !*gso {
            send_slice(sock, &out[i..j], stats);
        } else {
            segs.clear();
            segs.extend(out[i..j].iter().map(|d| d.buf.as_slice()));
            let mut stalls = 0;
            loop {
                match sock.send_gso(out[i].peer, &segs) {
                    Ok(()) => break,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock && stalls < 3 => {
                        stalls += 1;
                        let mut pfd = [PollFd::new(sock.as_fd(), PollFlags::POLLOUT)];
                        let _ = poll(&mut pfd, PollTimeout::from(10u16));
                    }
                    Err(e)
                        if matches!(
                            e.raw_os_error(),
                            Some(libc_errno::EINVAL | libc_errno::EIO | libc_errno::ENOPROTOOPT)
                        ) =>
                    {
                        tracing::info!(
                            "UDP GSO refused by the kernel ({e}): sending ESP datagrams one by one"
                        );
                        *gso = false;
                        send_slice(sock, &out[i..j], stats);
                        break;
                    }
                    Err(_) => {
                        stats
                            .send_errors
                            .fetch_add((j - i) as u64, Ordering::Relaxed);
                        break;
                    }
                }
            }
        }
        i = j;
    }
    pool.extend(out.drain(..).map(|d| d.buf));
}

/// How many datagrams from the start of `out` one GSO send can carry: same peer,
/// the first one's length (the last may be shorter), within the kernel's limits.
fn gso_run(out: &[Datagram]) -> usize {
    let Some(first) = out.first() else {
        return 0;
    };
    let seg = first.buf.len();
    let mut total = seg;
    let mut n = 1;
    for d in &out[1..] {
        let len = d.buf.len();
        if n == GSO_MAX_SEGMENTS || d.peer != first.peer || len > seg || total + len > GSO_MAX_BYTES
        {
            break;
        }
        total += len;
        n += 1;
        if len < seg {
            break;
        }
    }
    n
}

/// Sends `out` in `sendmmsg` batches. A full socket buffer is waited out briefly;
/// what still does not go is counted and dropped.
fn send_slice<S: esp::io::DatagramSink + AsFd>(sock: &mut S, out: &[Datagram], stats: &DataStats) {
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
}

/// errno values the GSO fallback looks for.
mod libc_errno {
    pub const EIO: i32 = 5;
    pub const EINVAL: i32 = 22;
    pub const ENOPROTOOPT: i32 = 92;
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
    ike_tx: mpsc::Sender<IkeDatagram>,
    link: Link,
    /// Boxed, as the outbound worker's entries.
    sas: HashMap<u32, Box<InEntry>>,
    /// Receive coalescing into TUN super-packets: with an offloading TUN unless
    /// `IKEV2D_NO_COALESCE=1`.
    coalescer: Option<Coalescer>,
}

impl InboundWorker {
    fn run(mut self) -> io::Result<()> {
        let mut rx: Vec<Datagram> = (0..MAX_BATCH)
            .map(|_| Datagram::with_buf(PacketBuf::with_capacity(HEADROOM, BUF_CAPACITY)))
            .collect();
        let mut to_tun: Vec<PacketBuf> = Vec::with_capacity(MAX_BATCH);
        let mut pool: Vec<PacketBuf> = Vec::new();
        // UDP GRO: the ESP packets of a coalesced datagram, each in a buffer of its own
        // (from `small`, decrypted in place like any other).
        let mut segs: Vec<Datagram> = Vec::new();
        let mut small: Vec<PacketBuf> = Vec::new();
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
                        if d.gro_size != 0 {
                            self.link
                                .stats
                                .in_gro_datagrams
                                .fetch_add(1, Ordering::Relaxed);
                            d.split_gro(
                                0,
                                || {
                                    small.pop().unwrap_or_else(|| {
                                        PacketBuf::with_capacity(0, SEGMENT_CAPACITY)
                                    })
                                },
                                &mut segs,
                            );
                            for mut s in segs.drain(..) {
                                if self.handle(&mut s, local, now) {
                                    to_tun.push(s.buf);
                                } else {
                                    small.push(s.buf);
                                }
                            }
                            if to_tun.len() >= TUN_FLUSH {
                                self.write_tun(&mut to_tun, &mut pool, &mut small);
                            }
                        } else if self.handle(d, local, now) {
                            let fresh = pool.pop().unwrap_or_else(|| {
                                PacketBuf::with_capacity(HEADROOM, BUF_CAPACITY)
                            });
                            to_tun.push(std::mem::replace(&mut d.buf, fresh));
                        }
                    }
                    self.write_tun(&mut to_tun, &mut pool, &mut small);
                    small.truncate(SEGMENT_POOL);
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
                    let d = IkeDatagram {
                        local,
                        remote: d.peer,
                        msg: d.buf.as_slice().to_vec(),
                    };
                    queue_ike(&self.ike_tx, &self.link.stats, d);
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

    /// Writes `pkts` to the TUN device (coalesced, if on), then returns the buffers:
    /// receive-sized ones to `pool`, segment-sized ones to `small`.
    fn write_tun(
        &mut self,
        pkts: &mut Vec<PacketBuf>,
        pool: &mut Vec<PacketBuf>,
        small: &mut Vec<PacketBuf>,
    ) {
        if self.coalescer.is_some() {
            self.write_coalesced(pkts);
        } else {
            self.write_plain(pkts);
        }
        for b in pkts.drain(..) {
            if b.capacity() >= BUF_CAPACITY {
                pool.push(b);
            } else {
                small.push(b);
            }
        }
    }

    /// One `writev(2)` per super-packet or lone packet ([`Coalescer`]).
    fn write_coalesced(&mut self, pkts: &mut [PacketBuf]) {
        let Some(c) = self.coalescer.as_mut() else {
            return;
        };
        c.coalesce(pkts);
        let stats = &self.link.stats;
        stats
            .in_coalesced
            .fetch_add(c.merged() as u64, Ordering::Relaxed);
        let mut parts: Vec<&[u8]> = Vec::with_capacity(MAX_SEGMENTS);
        for w in c.writes() {
            parts.clear();
            parts.extend(w.parts(pkts));
            let mut stalls = 0;
            loop {
                match self.tun.send_vnet(&w.hdr, &parts) {
                    Ok(()) => break,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock && stalls < 3 => {
                        stalls += 1;
                        let mut pfd = [PollFd::new(self.tun.as_fd(), PollFlags::POLLOUT)];
                        let _ = poll(&mut pfd, PollTimeout::from(10u16));
                    }
                    Err(_) => {
                        stats
                            .tun_write_errors
                            .fetch_add(w.segments as u64, Ordering::Relaxed);
                        break;
                    }
                }
            }
        }
    }

    fn write_plain(&mut self, pkts: &[PacketBuf]) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn dgram(n: u8) -> IkeDatagram {
        let a: SocketAddr = "192.0.2.1:500".parse().expect("addr");
        IkeDatagram {
            local: a,
            remote: a,
            msg: vec![n],
        }
    }

    #[test]
    fn a_full_ike_queue_drops_and_counts_instead_of_growing() {
        let (tx, mut rx) = mpsc::channel(2);
        let stats = DataStats::default();
        for n in 0..5 {
            queue_ike(&tx, &stats, dgram(n));
        }
        assert_eq!(stats.ike_queue_full.load(Ordering::Relaxed), 3);
        assert_eq!(rx.try_recv().map(|d| d.msg).ok(), Some(vec![0]));
        assert_eq!(rx.try_recv().map(|d| d.msg).ok(), Some(vec![1]));
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn a_worker_that_panics_or_fails_is_reported() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let h = spawn_worker("t1", tx.clone(), || panic!("boom")).expect("spawn");
        let _ = h.join();
        let h = spawn_worker("t2", tx.clone(), || Err(io::Error::other("gone"))).expect("spawn");
        let _ = h.join();
        let h = spawn_worker("t3", tx, || Ok(())).expect("spawn");
        let _ = h.join();
        let mut got = Vec::new();
        while let Ok(WorkerMsg::Failed { worker, error }) = rx.try_recv() {
            got.push((worker, error));
        }
        assert_eq!(
            got,
            vec![
                ("t1", "panicked: boom".to_owned()),
                ("t2", "gone".to_owned())
            ]
        );
    }

    fn esp(peer: &str, len: usize) -> Datagram {
        let mut b = PacketBuf::new();
        b.set_packet(0, &vec![0x55; len]);
        Datagram::to(peer.parse().expect("addr"), DatagramKind::Esp, b)
    }

    #[test]
    fn gso_runs_group_equal_sizes_to_one_peer() {
        let p = "192.0.2.2:4500";
        let q = "192.0.2.3:4500";
        // Three full, one shorter (ends the run), then one more full.
        let out = vec![
            esp(p, 100),
            esp(p, 100),
            esp(p, 100),
            esp(p, 60),
            esp(p, 100),
        ];
        assert_eq!(gso_run(&out), 4);
        assert_eq!(gso_run(&out[4..]), 1);
        // Another peer or a longer datagram ends a run.
        assert_eq!(gso_run(&[esp(p, 100), esp(q, 100)]), 1);
        assert_eq!(gso_run(&[esp(p, 100), esp(p, 120)]), 1);
        // At most 64 segments and 65,000 octets.
        let many: Vec<Datagram> = (0..100).map(|_| esp(p, 100)).collect();
        assert_eq!(gso_run(&many), GSO_MAX_SEGMENTS);
        let big: Vec<Datagram> = (0..60).map(|_| esp(p, 1500)).collect();
        assert_eq!(gso_run(&big), GSO_MAX_BYTES / 1500);
        assert_eq!(gso_run(&[]), 0);
    }

    #[test]
    fn mss_is_clamped_per_family() {
        // A TCP SYN with MSS 1460 over IPv4 (20-octet IP header, 24-octet TCP header).
        let mut syn = vec![0u8; 44];
        syn[0] = 0x45;
        syn[2..4].copy_from_slice(&44u16.to_be_bytes());
        syn[8] = 64;
        syn[9] = 6;
        syn[12..16].copy_from_slice(&[10, 1, 0, 1]);
        syn[16..20].copy_from_slice(&[10, 2, 0, 1]);
        syn[32] = 6 << 4; // data offset 6 words
        syn[33] = 0x02; // SYN
        syn[40..44].copy_from_slice(&[2, 4, 0x05, 0xb4]); // MSS 1460
        let mss = Mss {
            v4: Some(1360),
            v6: Some(1340),
        };
        mss.clamp(&mut syn);
        assert_eq!(u16::from_be_bytes([syn[42], syn[43]]), 1360);
        let off = Mss { v4: None, v6: None };
        let mut again = syn.clone();
        again[42..44].copy_from_slice(&1460u16.to_be_bytes());
        off.clamp(&mut again);
        assert_eq!(u16::from_be_bytes([again[42], again[43]]), 1460);
    }
}
