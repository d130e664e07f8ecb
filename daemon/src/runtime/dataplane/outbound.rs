//! The outbound worker: IP packets from the TUN device (TCP super-packets cut into
//! segments when the TUN offloads), each matched to its CHILD SA by the traffic
//! selectors ([`esp::spd::Spd`]) or to a trap policy, MSS-clamped, encrypted in place
//! and sent as ESP in UDP (UDP GSO runs through `esp::io`) or raw ESP, in batches.
//! Never decrypts, never talks IKE.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::sync::atomic::Ordering;
use std::time::Instant;

use esp::io::{
    Datagram, DatagramKind, MAX_BATCH, PacketSource as _, RawEspSocket, Tun, UdpEncapSocket,
};
use esp::ip::PacketView;
use esp::offload::{VnetHdr, complete_checksum, segment_tcp};
use esp::spd::Spd;
use esp::{OutboundSa, PacketBuf, encapsulate};

use super::worker::{Link, Tracked, Worker, apply_commands, wait_readable};
use super::{
    BUF_CAPACITY, DataStats, Dest, HEADROOM, OutboundInstall, REPORT_INTERVAL, SEGMENT_CAPACITY,
    TRAP_HOLDOFF, TrapPolicy, WorkerMsg,
};

/// A change to the outbound worker's tables.
#[derive(Debug)]
pub enum OutboundCmd {
    Install(Box<OutboundInstall>),
    Remove {
        spi: u32,
    },
    /// Replaces every trap policy.
    SetTraps(Vec<TrapPolicy>),
}

#[derive(Debug)]
pub(super) struct OutEntry {
    t: Tracked<OutboundSa>,
    dest: Dest,
}

#[derive(Debug)]
pub(super) struct OutboundWorker {
    pub(super) tun: Tun,
    pub(super) udp: Vec<UdpEncapSocket>,
    /// Per UDP socket: UDP GSO still worth trying (off after the kernel refused it,
    /// or with `IKEV2D_NO_GSO=1` for comparisons).
    pub(super) udp_gso: Vec<bool>,
    pub(super) raw: Vec<Option<RawEspSocket>>,
    pub(super) link: Link<OutboundCmd>,
    /// Policies to the outbound SPI.
    pub(super) spd: Spd<u32>,
    /// Boxed: an entry holds the cipher context inline (about 2 KiB), and a hash
    /// table is between 44 % and 88 % full, and twice its size while it grows
    /// (docs/performance.md, `scripts/bench memprofile`).
    pub(super) sas: HashMap<u32, Box<OutEntry>>,
    /// Trap policies to the connection name.
    pub(super) traps: Spd<String>,
    pub(super) trap_fired: HashMap<String, Instant>,
}

impl OutboundWorker {
    pub(super) fn run(mut self) -> io::Result<()> {
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
                    let stats = &self.link.stats;
                    for ((sock, out), gso) in self
                        .udp
                        .iter_mut()
                        .zip(udp_out.iter_mut())
                        .zip(self.udp_gso.iter_mut())
                    {
                        if out.is_empty() {
                            continue;
                        }
                        let report = sock.send_all_gso(out, gso);
                        if let Some(e) = report.gso_refused {
                            tracing::info!(
                                "UDP GSO refused by the kernel ({e}): sending ESP datagrams one by one"
                            );
                        }
                        dropped(stats, report.dropped);
                        pool.extend(out.drain(..).map(|d| d.buf));
                    }
                    for (sock, out) in self.raw.iter_mut().zip(raw_out.iter_mut()) {
                        if let Some(sock) = sock {
                            dropped(stats, esp::io::send_all(sock, out));
                        }
                        pool.extend(out.drain(..).map(|d| d.buf));
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
    type Cmd = OutboundCmd;

    fn link(&self) -> &Link<OutboundCmd> {
        &self.link
    }

    fn apply(&mut self, cmd: OutboundCmd) {
        match cmd {
            OutboundCmd::Install(i) => {
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
            OutboundCmd::Remove { spi } => self.remove(spi),
            OutboundCmd::SetTraps(traps) => {
                self.traps = Spd::new();
                for t in traps {
                    self.traps.insert(&t.local_ts, &t.remote_ts, t.conn);
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

/// Counts datagrams the kernel did not take.
fn dropped(stats: &DataStats, n: usize) {
    if n > 0 {
        stats.send_errors.fetch_add(n as u64, Ordering::Relaxed);
    }
}
