//! The ESP data plane: two worker threads that move packets between the TUN device
//! and the sockets without going through the control task (the data path never
//! passes through the control loop).
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
//! task changes the tables with commands of each worker's own type ([`OutboundCmd`],
//! [`InboundCmd`]) on a channel and wakes the worker through an eventfd;
//! [`DataPlane::barrier`] waits until both workers applied everything sent so far (a
//! rekey's new inbound SA is in place before the IKE response leaves). Workers report
//! SA counters and lifetime events once a second ([`WorkerMsg`]).
//!
//! This module holds what the control task sees (the types it sends and receives,
//! [`DataPlane`], the counters) and the start-up; [`worker`] the plumbing both workers
//! share (commands, wake-ups, reports, the thread), [`outbound`] and [`inbound`] the
//! two workers. Socket IO (batches, UDP GSO and its fallback) is `esp::io`'s.

mod inbound;
pub mod mtu;
mod outbound;
mod worker;

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::channel;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use esp::coalesce::Coalescer;
use esp::counters::{SaEvent, SaUsage};
use esp::icmp::IcmpRateLimiter;
use esp::io::errqueue::TooBig;
use esp::io::{RawEspSocket, Tun, UdpEncapSocket};
use esp::spd::Spd;
use esp::{InboundSa, OutboundSa};
use ikev2::ts::TrafficSelector;
use nix::sys::eventfd::{EfdFlags, EventFd};
use tokio::sync::{mpsc, oneshot};

pub use inbound::InboundCmd;
use inbound::{InSocket, InboundWorker};
pub use mtu::MssPolicy;
pub use outbound::OutboundCmd;
use outbound::OutboundWorker;
use worker::{Cmd, Control, Link, spawn_worker};

/// Room in front of a packet for the outer headers (ESP header, IV, UDP), so
/// encapsulation never moves the packet.
pub(super) const HEADROOM: usize = 64;
/// Room for the largest packet plus ESP trailer and ICV.
pub(super) const BUF_CAPACITY: usize = 65_535 + 128;
/// With TUN offload: room for one segment of a super-packet (up to a 9000-octet MTU)
/// plus ESP overhead.
pub(super) const SEGMENT_CAPACITY: usize = HEADROOM + 9_216 + 256;
/// The inbound worker writes to the TUN device at least this often (in packets) while
/// a batch of coalesced UDP datagrams is cut apart, so its buffers stay few.
pub(super) const TUN_FLUSH: usize = 128;
/// Spare segment buffers the inbound worker keeps.
pub(super) const SEGMENT_POOL: usize = 256;
/// How often workers report SA counters.
pub(super) const REPORT_INTERVAL: Duration = Duration::from_secs(1);
/// Socket buffers of the data sockets: bursts of ESP must not overflow the kernel's
/// default (about 200 KiB, 150 full-size packets) while a worker is busy decrypting.
const SOCKET_BUFFER: usize = 8 << 20;
/// At most one trap trigger per connection in this interval.
pub(super) const TRAP_HOLDOFF: Duration = Duration::from_secs(2);

/// Where an outbound SA's packets go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dest {
    /// ESP in UDP (RFC 3948) from port-4500 socket number `sock` to `peer`.
    Udp { sock: usize, peer: SocketAddr },
    /// Raw ESP from raw socket number `sock` to `peer`.
    Raw { sock: usize, peer: IpAddr },
}

impl Dest {
    /// The same socket toward the peer's new address and port (a NAT mapping
    /// change); raw ESP has no port to follow.
    pub fn moved_to(self, new: SocketAddr) -> Self {
        match self {
            Dest::Udp { sock, .. } => Dest::Udp { sock, peer: new },
            Dest::Raw { sock, .. } => Dest::Raw {
                sock,
                peer: new.ip(),
            },
        }
    }
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
    /// The configured inner MTU (child `mtu`, else `[daemon] mtu`).
    pub mtu: u16,
    /// The outer path MTU to the peer as known now.
    pub path_mtu: u16,
    /// Whether it carries its selectors' traffic now (false: the idle member of a
    /// standby pair, switched on by [`OutboundCmd::Activate`]).
    pub active: bool,
}

/// An inbound SA to install.
#[derive(Debug)]
pub struct InboundInstall {
    pub spi: u32,
    pub sa: InboundSa,
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
    /// Where the paired outbound SA sends: the peer and the encapsulation whose
    /// overhead sets the MSS that SYNs coming in are clamped to.
    pub dest: Dest,
    pub mtu: u16,
    pub path_mtu: u16,
}

/// A `start_action = trap` policy: outbound packets matching it start `conn`.
#[derive(Debug, Clone)]
pub struct TrapPolicy {
    pub conn: String,
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
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
    /// Inbound: the first hole in the sequence numbers after a silence since the
    /// last report.
    pub gap: Option<InboundGap>,
    /// TCP services the SA's packets opened (outbound: SYNs) or answered (inbound:
    /// SYN-ACKs and RSTs) since the last report, at most [`HANDSHAKES_PER_REPORT`].
    pub handshakes: Vec<TcpService>,
}

/// A TCP service a child's traffic tries to reach: our inner address, the far
/// inner address and its port (the client's port changes with every try).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TcpService {
    pub local: IpAddr,
    pub remote: IpAddr,
    pub port: u16,
}

impl TcpService {
    /// The service a segment belongs to: an outbound open is from us to them; an
    /// inbound answer comes from them to us.
    pub fn of(ends: &esp::mss::TcpEnds, outbound: bool) -> Self {
        if outbound {
            Self {
                local: ends.src,
                remote: ends.dst,
                port: ends.dport,
            }
        } else {
            Self {
                local: ends.dst,
                remote: ends.src,
                port: ends.sport,
            }
        }
    }
}

/// At most this many distinct TCP services per SA report.
pub(super) const HANDSHAKES_PER_REPORT: usize = 16;

/// Inbound ESP that came back after a silence with sequence numbers missing:
/// packets the peer sent that never arrived (what a NAT in front of us that forgot
/// our mapping causes; see `supervisor::nat_mapping`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboundGap {
    /// When the first packet after the hole arrived.
    pub at: Instant,
    /// How many sequence numbers were skipped.
    pub missing: u64,
    /// When the SA's packet before the hole arrived.
    pub quiet_since: Instant,
}

/// A hole in the inbound sequence numbers counts as a [`InboundGap`] only after
/// this much silence on the SA: holes within a flow are ordinary loss or
/// reordering.
pub(super) const GAP_QUIET: Duration = Duration::from_secs(2);

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
    /// The kernel reported a datagram to a peer too big for the path (ICMP, or the
    /// outgoing device): the control task decides whether to believe it.
    TooBig(TooBig),
    /// An ICMP destination unreachable about a datagram we sent, and the socket
    /// whose error queue held it.
    Unreachable(
        esp::io::errqueue::Unreachable,
        super::supervisor::liveness::QuoteFrom,
    ),
    /// The outbound worker found the SPI and sequence number an ICMP quoted among
    /// what it sent to `peer`, and applied `path_mtu` to every SA to that peer.
    PathMtuVerified {
        peer: IpAddr,
        path_mtu: u16,
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
    /// IPv4 packets without DF larger than their CHILD SA's inner MTU, fragmented
    /// before encryption (RFC 4459 section 3.3), and the fragments sent.
    pub out_fragmented_inner: AtomicU64,
    pub out_inner_fragments: AtomicU64,
    /// ICMP "fragmentation needed" / ICMPv6 "packet too big" sent back into the TUN
    /// for packets larger than their CHILD SA's inner MTU (the packets themselves
    /// are counted as `mtu` drops of the SA).
    pub out_too_big_sent: AtomicU64,
    /// Of those packets, the ones no ICMP error was sent for: the rules forbid one
    /// (an ICMP error, a non-first fragment, a non-unicast source) or the rate
    /// limit held it back.
    pub out_too_big_silent: AtomicU64,
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
    /// "Datagram too big" reports from the kernel (ICMP from the path, or the
    /// outgoing device's MTU), and what became of them: applied to the peer's
    /// tunnels; ignored (below the minimum path MTU, not lower than what is known,
    /// or quoting an SPI or sequence number we did not send to that peer); or
    /// unverifiable (the quote too short to hold an SPI and sequence number, or an
    /// IKE message).
    pub pmtu_reports: AtomicU64,
    pub pmtu_applied: AtomicU64,
    pub pmtu_ignored: AtomicU64,
    pub pmtu_unverifiable: AtomicU64,
    /// IKE datagrams dropped because the control task's queue was full.
    pub ike_queue_full: AtomicU64,
    /// IKE datagrams from an address no connection and no `allowed_peers` admits,
    /// dropped before any parsing or crypto.
    pub ike_not_allowed: AtomicU64,
    /// IKE_SA_INIT requests over a source's `init_rate_per_source`.
    pub ike_init_rate_limited: AtomicU64,
}

/// The two workers and their command channels.
#[derive(Debug)]
pub struct DataPlane {
    outbound: Control<OutboundCmd>,
    inbound: Control<InboundCmd>,
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
    /// the `sock` of [`Dest`]). TCP SYNs are clamped in both directions to each CHILD
    /// SA's inner MTU as `mss` says.
    pub fn start(
        tun: &Tun,
        sockets: &[LocalSockets],
        mss: MssPolicy,
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
            if let Err(e) = s.udp.enable_path_mtu_reports() {
                tracing::warn!(
                    "no path MTU reports on {:?} ({e}): outer packets may be fragmented",
                    s.udp.local_addr()
                );
            }
            if let Some(raw) = &s.raw {
                enlarge_buffers(raw);
                if let Err(e) = raw.enable_path_mtu_reports() {
                    tracing::warn!("no path MTU reports for raw ESP on {} ({e})", s.addr);
                }
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
        fn link<T>(
            cmds: std::sync::mpsc::Receiver<Cmd<T>>,
            wake: &Arc<EventFd>,
            to_control: &mpsc::UnboundedSender<WorkerMsg>,
            stats: &Arc<DataStats>,
            mss: MssPolicy,
        ) -> Link<T> {
            Link {
                cmds,
                wake: Arc::clone(wake),
                to_control: to_control.clone(),
                stats: Arc::clone(stats),
                mss,
            }
        }
        let gso = env_switch("IKEV2D_NO_GSO");
        let outbound = OutboundWorker {
            tun: out_tun,
            udp_gso: vec![gso; out_udp.len()],
            udp: out_udp,
            raw: out_raw,
            link: link(out_rx, &out_wake, &to_control, &stats, mss),
            spd: Spd::new(),
            sas: HashMap::new(),
            traps: Spd::new(),
            trap_fired: HashMap::new(),
            icmp_limit: IcmpRateLimiter::default(),
        };
        let mut in_tun = tun.try_clone()?;
        in_tun.set_nonblocking(true);
        let coalesce = in_tun.has_offload() && env_switch("IKEV2D_NO_COALESCE");
        let inbound = InboundWorker {
            coalescer: coalesce.then(Coalescer::new),
            tun: in_tun,
            socks: in_socks,
            ike_tx,
            link: link(in_rx, &in_wake, &to_control, &stats, mss),
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

    pub fn outbound(&self, cmd: OutboundCmd) {
        self.outbound.send(Cmd::Table(cmd));
    }

    pub fn inbound(&self, cmd: InboundCmd) {
        self.inbound.send(Cmd::Table(cmd));
    }

    /// A new outer path MTU to `peer`: both workers recompute the inner MTU and the
    /// MSS of every SA with that peer.
    pub fn set_path_mtu(&self, peer: IpAddr, path_mtu: u16) {
        self.outbound(OutboundCmd::SetPathMtu { peer, path_mtu });
        self.inbound(InboundCmd::SetPathMtu { peer, path_mtu });
    }

    /// Waits (at most a second) until both workers applied every command sent so far.
    pub async fn barrier(&self) {
        self.both(false).await;
    }

    /// Waits (at most a second) until both workers sent their current SA counters.
    pub async fn report_now(&self) {
        self.both(true).await;
    }

    /// A barrier (or, with `report`, a report) through both workers, awaited.
    async fn both(&self, report: bool) {
        fn cmd<T>(report: bool, ack: oneshot::Sender<()>) -> Cmd<T> {
            if report {
                Cmd::Report(ack)
            } else {
                Cmd::Barrier(ack)
            }
        }
        let (a_tx, a_rx) = oneshot::channel();
        let (b_tx, b_rx) = oneshot::channel();
        self.outbound.send(cmd(report, a_tx));
        self.inbound.send(cmd(report, b_tx));
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
        self.outbound.send(Cmd::Shutdown);
        self.inbound.send(Cmd::Shutdown);
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
}
