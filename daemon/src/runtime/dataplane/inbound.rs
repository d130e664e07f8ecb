//! The inbound worker: the port-4500 sockets and the raw ESP sockets read in
//! `recvmmsg` batches (UDP GRO runs cut apart), each datagram as `esp::io` sorted it:
//! IKE (the non-ESP marker already off) to the control task, NAT-keepalives and
//! invalid datagrams counted, ESP decrypted in place, its inner packet checked
//! against the SA's selectors, MSS-clamped and written to the TUN (coalesced into
//! TCP super-packets when the TUN offloads). Never encrypts.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::Ordering;
use std::time::Instant;

use esp::coalesce::{Coalescer, MAX_SEGMENTS};
use esp::counters::DropReason;
use esp::io::errqueue::QueuedError;
use esp::io::{
    Datagram, DatagramKind, DatagramSource as _, MAX_BATCH, PacketSink as _, RawEspSocket, Tun,
    UdpEncapSocket,
};
use esp::ip::PacketView;
use esp::spd::check_inbound;
use esp::{InboundSa, PacketBuf, decapsulate};
use ikev2::ts::TrafficSelector;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use tokio::sync::mpsc;

use super::mtu::{TunnelMtu, outer_path};
use super::worker::{Link, Tracked, Worker, apply_commands, wait_readable};
use super::{
    BUF_CAPACITY, GAP_QUIET, HEADROOM, IkeDatagram, InboundGap, InboundInstall, REPORT_INTERVAL,
    SEGMENT_CAPACITY, SEGMENT_POOL, TUN_FLUSH, WorkerMsg, queue_ike,
};

/// A change to the inbound worker's table.
#[derive(Debug)]
pub enum InboundCmd {
    Install(Box<InboundInstall>),
    Remove {
        spi: u32,
    },
    /// A new outer path MTU to `peer` (the MSS of SYNs coming in follows).
    SetPathMtu {
        peer: IpAddr,
        path_mtu: u16,
    },
}

#[derive(Debug)]
pub(super) enum InSocket {
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
pub(super) struct InEntry {
    t: Tracked<InboundSa>,
    local_ts: Vec<TrafficSelector>,
    remote_ts: Vec<TrafficSelector>,
    peer: IpAddr,
    /// The tunnel's inner MTU: SYNs coming in are clamped to it, so the inner hosts
    /// here send segments that fit the way out.
    mtu: TunnelMtu,
}

#[derive(Debug)]
pub(super) struct InboundWorker {
    pub(super) tun: Tun,
    pub(super) socks: Vec<InSocket>,
    pub(super) ike_tx: mpsc::Sender<IkeDatagram>,
    pub(super) link: Link<InboundCmd>,
    /// Boxed, as the outbound worker's entries.
    pub(super) sas: HashMap<u32, Box<InEntry>>,
    /// Receive coalescing into TUN super-packets: with an offloading TUN unless
    /// `IKEV2D_NO_COALESCE=1`.
    pub(super) coalescer: Option<Coalescer>,
}

impl InboundWorker {
    pub(super) fn run(mut self) -> io::Result<()> {
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
        let mut errors = Vec::new();
        let mut next_report = Instant::now() + REPORT_INTERVAL;
        loop {
            let timeout = next_report.saturating_duration_since(Instant::now());
            {
                let fds: Vec<BorrowedFd<'_>> = self.socks.iter().map(InSocket::fd).collect();
                wait_readable(&fds, &self.link.wake, timeout, &mut ready, &mut errors)?;
            }
            if !apply_commands(&mut self) {
                return Ok(());
            }
            for i in 0..self.socks.len() {
                if ready.get(i) != Some(&true) {
                    continue;
                }
                if errors.get(i) == Some(&true) {
                    self.drain_errors(i);
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

    /// Reads the error queue of socket `i` (ICMP errors about datagrams we sent;
    /// a socket with a non-empty queue polls as ready until it is drained) and passes
    /// the "too big" reports to the control task.
    fn drain_errors(&mut self, i: usize) {
        // Bounded: a flood of forged ICMP must not keep the worker from its packets.
        for _ in 0..MAX_BATCH {
            let next = match &self.socks[i] {
                InSocket::Udp(s, _) => s.recv_error(),
                InSocket::Raw(s) => s.recv_error(),
            };
            match next {
                Ok(Some(QueuedError::TooBig(r))) => {
                    self.link.stats.pmtu_reports.fetch_add(1, Ordering::Relaxed);
                    let _ = self.link.to_control.send(WorkerMsg::TooBig(r));
                }
                Ok(Some(QueuedError::Unreachable(u))) => {
                    // Raw ESP quotes only ESP: nothing the control task reads.
                    if let InSocket::Udp(..) = &self.socks[i] {
                        let from = crate::runtime::supervisor::liveness::QuoteFrom::Udp4500;
                        let _ = self.link.to_control.send(WorkerMsg::Unreachable(u, from));
                    }
                }
                Ok(Some(QueuedError::Other)) => {}
                Ok(None) | Err(_) => return,
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
        let top = entry.t.sa.replay_window().top();
        if decapsulate(&mut entry.t.sa, &mut d.buf).is_err() {
            return false;
        }
        let skipped = entry.t.sa.replay_window().top().saturating_sub(top + 1);
        if skipped > 0
            && let Some(q) = entry.t.last_packet
            && now.saturating_duration_since(q) >= GAP_QUIET
        {
            entry.t.gap.get_or_insert(InboundGap {
                at: now,
                missing: skipped,
                quiet_since: q,
            });
        }
        let allowed = PacketView::parse(d.buf.as_slice())
            .is_ok_and(|v| check_inbound(&entry.local_ts, &entry.remote_ts, &v));
        if !allowed {
            entry.t.sa.record_drop(DropReason::TsMismatch);
            return false;
        }
        entry.mtu.clamp(d.buf.as_mut_slice());
        entry.t.note_handshake(d.buf.as_slice(), false);
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
    type Cmd = InboundCmd;

    fn link(&self) -> &Link<InboundCmd> {
        &self.link
    }

    fn apply(&mut self, cmd: InboundCmd) {
        match cmd {
            InboundCmd::Install(i) => {
                let i = *i;
                let (peer, outer) = outer_path(&i.dest);
                let esp = i.sa.cipher().overhead();
                let mtu = TunnelMtu::new(i.mtu, i.path_mtu, outer, esp, self.link.mss);
                self.sas.insert(
                    i.spi,
                    Box::new(InEntry {
                        t: Tracked::new(i.sa),
                        local_ts: i.local_ts,
                        remote_ts: i.remote_ts,
                        peer,
                        mtu,
                    }),
                );
            }
            InboundCmd::SetPathMtu { peer, path_mtu } => {
                for e in self.sas.values_mut().filter(|e| e.peer == peer) {
                    e.mtu.set_path(path_mtu);
                }
            }
            InboundCmd::Remove { spi } => {
                if let Some(mut e) = self.sas.remove(&spi) {
                    self.link
                        .send_reports(e.t.report(true).into_iter().collect());
                }
            }
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
