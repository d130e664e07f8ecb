//! The outbound worker: IP packets from the TUN device (TCP super-packets cut into
//! segments when the TUN offloads), each matched to its CHILD SA by the traffic
//! selectors ([`esp::spd::Spd`]) or to a trap policy, MSS-clamped, encrypted in place
//! and sent as ESP in UDP (UDP GSO runs through `esp::io`) or raw ESP, in batches.
//! Never decrypts, never talks IKE.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;
use std::sync::atomic::Ordering;
use std::time::Instant;

use esp::counters::DropReason;
use esp::frag::{FragError, fragment_ipv4};
use esp::icmp::{IcmpRateLimiter, too_big_reply};
use esp::io::{
    Datagram, DatagramKind, MAX_BATCH, PacketSink as _, PacketSource as _, RawEspSocket, Tun,
    UdpEncapSocket,
};
use esp::ip::PacketView;
use esp::mtu::IPV6_MIN_PATH_MTU;
use esp::offload::{VnetHdr, complete_checksum, segment_tcp};
use esp::spd::Spd;
use esp::{OutboundSa, PacketBuf, encapsulate};

use super::mtu::{TunnelMtu, outer_path};
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
    /// The peer of these outbound SAs moved (its NAT mapping changed): send to
    /// `peer` from now on.
    SetPeer {
        spis: Vec<u32>,
        peer: std::net::SocketAddr,
    },
    /// A standby pair switches: the outbound SAs `on` start carrying their
    /// selectors' traffic and `off` stop (they stay keyed, counted and ready), in
    /// one step, so no packet finds neither.
    Activate {
        on: Vec<u32>,
        off: Vec<u32>,
    },
    /// A new outer path MTU to `peer`: the inner MTU of every SA to it follows.
    SetPathMtu {
        peer: IpAddr,
        path_mtu: u16,
    },
    /// An ICMP too-big quoted ESP packet `spi`/`seq` to `peer`: if this worker sent
    /// it (recently), apply `path_mtu` to every SA to `peer` and say so
    /// ([`WorkerMsg::PathMtuVerified`]); otherwise count it ignored.
    VerifyTooBig {
        spi: u32,
        seq: u32,
        peer: IpAddr,
        path_mtu: u16,
    },
}

/// How far behind an SA's last sequence number a quoted one may be and still be
/// believed: ICMP comes back within a round trip, during which even 10 Gbit/s of
/// small packets sends far fewer.
const RECENT_SEQ: u32 = 1 << 22;

#[derive(Debug)]
pub(super) struct OutEntry {
    t: Tracked<OutboundSa>,
    /// Its selectors, to put it into the policy lookup when it becomes active.
    local_ts: Vec<ikev2::ts::TrafficSelector>,
    remote_ts: Vec<ikev2::ts::TrafficSelector>,
    dest: Dest,
    peer: IpAddr,
    mtu: TunnelMtu,
    /// One of the last large packets sent (every [`SAMPLE_EVERY`]th), whole: when the
    /// inner MTU goes down, its sender hears of it at once (see
    /// [`OutboundWorker::set_path_mtu`]). Empty until a large packet passed.
    sample: Vec<u8>,
    large: u32,
}

/// Packets this large are candidates for [`OutEntry::sample`].
const SAMPLE_MIN: usize = 576;
/// Every this many large packets one is kept: a copy of one packet in 64 costs
/// little, and a bulk flow (the one a smaller path hurts) is caught within a
/// fraction of a second.
const SAMPLE_EVERY: u32 = 64;

impl OutEntry {
    /// Keeps a copy of every [`SAMPLE_EVERY`]th large packet.
    #[inline]
    fn sample_large(&mut self, packet: &[u8]) {
        if packet.len() < SAMPLE_MIN {
            return;
        }
        self.large = self.large.wrapping_add(1);
        if self.large % SAMPLE_EVERY == 1 {
            self.sample.clear();
            self.sample.extend_from_slice(packet);
        }
    }

    /// Clamps the MSS of a packet that fits and encrypts it in place; false if the
    /// SA refused it (counted by the SA).
    #[inline]
    fn seal(&mut self, buf: &mut PacketBuf, now: Instant) -> bool {
        self.mtu.clamp(buf.as_mut_slice());
        self.t.note_handshake(buf.as_slice(), true);
        let ok = encapsulate(&mut self.t.sa, buf).is_ok();
        if ok {
            self.t.last_packet = Some(now);
        }
        ok
    }
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
    /// ICMP errors for packets too big for their tunnel (RFC 4443 section 2.4 (f)).
    pub(super) icmp_limit: IcmpRateLimiter,
}

/// What becomes of one TUN packet.
enum Verdict {
    /// Encrypted in place: send it.
    Send(Dest),
    /// Larger than the inner MTU of the SA with this outbound SPI.
    TooBig(u32),
    /// Dropped (counted).
    Drop,
}

/// The ESP datagrams of one round, per socket.
struct Outgoing {
    udp: Vec<Vec<Datagram>>,
    raw: Vec<Vec<Datagram>>,
}

impl Outgoing {
    fn push(&mut self, dest: Dest, buf: PacketBuf) {
        match dest {
            Dest::Udp { sock, peer } => {
                self.udp[sock].push(Datagram::to(peer, DatagramKind::Esp, buf));
            }
            Dest::Raw { sock, peer } => self.raw[sock].push(Datagram::to(
                SocketAddr::new(peer, 0),
                DatagramKind::Esp,
                buf,
            )),
        }
    }
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
        let mut out = Outgoing {
            udp: self.udp.iter().map(|_| Vec::new()).collect(),
            raw: self.raw.iter().map(|_| Vec::new()).collect(),
        };
        let mut icmp = Vec::new();
        let mut ready = Vec::new();
        // The TUN has no error queue.
        let mut no_errors = Vec::new();
        let mut next_report = Instant::now() + REPORT_INTERVAL;
        loop {
            let now = Instant::now();
            let timeout = next_report.saturating_duration_since(now);
            wait_readable(
                &[self.tun.as_fd()],
                &self.link.wake,
                timeout,
                &mut ready,
                &mut no_errors,
            )?;
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
                            Verdict::Send(dest) => out.push(dest, buf),
                            Verdict::TooBig(spi) => {
                                self.too_big(
                                    spi, buf, now, &mut pool, &new_buf, &mut out, &mut icmp,
                                );
                            }
                            Verdict::Drop => pool.push(buf),
                        }
                    }
                    let stats = &self.link.stats;
                    for ((sock, out), gso) in self
                        .udp
                        .iter_mut()
                        .zip(out.udp.iter_mut())
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
                    for (sock, out) in self.raw.iter_mut().zip(out.raw.iter_mut()) {
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

    /// Encrypts the packet in `buf` in place, unless it is too big for its tunnel or
    /// no SA covers it.
    fn encrypt(&mut self, buf: &mut PacketBuf, now: Instant) -> Verdict {
        let spi = {
            let Ok(view) = PacketView::parse(buf.as_slice()) else {
                self.link.stats.out_not_ip.fetch_add(1, Ordering::Relaxed);
                return Verdict::Drop;
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
                    return Verdict::Drop;
                }
            }
        };
        let Some(entry) = self.sas.get_mut(&spi) else {
            return Verdict::Drop;
        };
        if !entry.mtu.fits(buf.len()) {
            return Verdict::TooBig(spi);
        }
        entry.sample_large(buf.as_slice());
        if !entry.seal(buf, now) {
            return Verdict::Drop;
        }
        Verdict::Send(entry.dest)
    }

    /// A packet larger than the inner MTU of SA `spi` (RFC 4459 section 3): IPv4
    /// without DF is cut into fragments that fit, each encrypted on its own; IPv4
    /// with DF and IPv6 are dropped and answered with ICMP "fragmentation needed" /
    /// "packet too big" naming the inner MTU, so the sender's path MTU discovery
    /// adapts. An IPv6 packet is sent whole, whatever the path, if it is no larger
    /// than 1280 (IPv6 hosts cannot go below that; the outer packet may fragment).
    #[allow(clippy::too_many_arguments)]
    fn too_big(
        &mut self,
        spi: u32,
        buf: PacketBuf,
        now: Instant,
        pool: &mut Vec<PacketBuf>,
        new_buf: &impl Fn() -> PacketBuf,
        out: &mut Outgoing,
        icmp: &mut Vec<u8>,
    ) {
        let Some(entry) = self.sas.get_mut(&spi) else {
            pool.push(buf);
            return;
        };
        let mtu = entry.mtu.inner;
        let stats = &self.link.stats;
        let ipv6 = buf.as_slice().first().is_some_and(|b| b >> 4 == 6);
        if ipv6 && buf.len() <= usize::from(IPV6_MIN_PATH_MTU) {
            let mut buf = buf;
            if entry.seal(&mut buf, now) {
                out.push(entry.dest, buf);
            } else {
                pool.push(buf);
            }
            return;
        }
        if !ipv6 {
            let mut frags = Vec::new();
            let cut = fragment_ipv4(buf.as_slice(), mtu, |f| {
                let mut b = pool.pop().unwrap_or_else(new_buf);
                if let Some(n) = f.write_to(b.recv_area(HEADROOM)) {
                    b.set_len(n);
                    frags.push(b);
                }
            });
            match cut {
                Ok(_) => {
                    stats.out_fragmented_inner.fetch_add(1, Ordering::Relaxed);
                    for mut f in frags {
                        if entry.seal(&mut f, now) {
                            stats.out_inner_fragments.fetch_add(1, Ordering::Relaxed);
                            out.push(entry.dest, f);
                        } else {
                            pool.push(f);
                        }
                    }
                    pool.push(buf);
                    return;
                }
                Err(FragError::DontFragment) => {}
                Err(_) => {
                    entry.t.sa.record_drop(DropReason::Mtu);
                    stats.out_too_big_silent.fetch_add(1, Ordering::Relaxed);
                    pool.push(buf);
                    return;
                }
            }
        }
        entry.t.sa.record_drop(DropReason::Mtu);
        let sent = self.icmp_limit.allow(now)
            && too_big_reply(buf.as_slice(), mtu, None, icmp).is_ok()
            && {
                let mut reply = pool.pop().unwrap_or_else(new_buf);
                reply.set_packet(HEADROOM, icmp);
                let ok = self
                    .tun
                    .send_batch(std::slice::from_ref(&reply))
                    .is_ok_and(|n| n == 1);
                pool.push(reply);
                ok
            };
        let counter = if sent {
            &stats.out_too_big_sent
        } else {
            &stats.out_too_big_silent
        };
        counter.fetch_add(1, Ordering::Relaxed);
        pool.push(buf);
    }

    /// Every SA to `peer` gets `path_mtu`. Where its inner MTU went down below its
    /// sampled large packet, that packet's sender gets an ICMP too-big now: packets
    /// lost on the path (no ICMP came back, or it named the outer size) are not
    /// ours to answer, and without this the sender's TCP would wait for its
    /// retransmission timer to send one that we can answer.
    fn set_path_mtu(&mut self, peer: IpAddr, path_mtu: u16) {
        let now = Instant::now();
        let mut icmp = Vec::new();
        let mut replies = Vec::new();
        for e in self.sas.values_mut().filter(|e| e.peer == peer) {
            let before = e.mtu.inner;
            e.mtu.set_path(path_mtu);
            let sample = std::mem::take(&mut e.sample);
            if e.mtu.inner < before
                && !sample.is_empty()
                && !e.mtu.fits(sample.len())
                && self.icmp_limit.allow(now)
                && too_big_reply(&sample, e.mtu.inner, None, &mut icmp).is_ok()
            {
                replies.push(PacketBuf::from_packet(&icmp));
            }
        }
        if !replies.is_empty() {
            let sent = self.tun.send_batch(&replies).unwrap_or(0);
            self.link
                .stats
                .out_too_big_sent
                .fetch_add(sent as u64, Ordering::Relaxed);
        }
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
                if i.active {
                    self.spd.insert(&i.local_ts, &i.remote_ts, i.spi);
                }
                let (peer, outer) = outer_path(&i.dest);
                let esp = i.sa.cipher().overhead();
                let mtu = TunnelMtu::new(i.mtu, i.path_mtu, outer, esp, self.link.mss);
                self.sas.insert(
                    i.spi,
                    Box::new(OutEntry {
                        t: Tracked::new(i.sa),
                        local_ts: i.local_ts,
                        remote_ts: i.remote_ts,
                        dest: i.dest,
                        peer,
                        mtu,
                        sample: Vec::new(),
                        large: 0,
                    }),
                );
            }
            OutboundCmd::SetPathMtu { peer, path_mtu } => self.set_path_mtu(peer, path_mtu),
            OutboundCmd::VerifyTooBig {
                spi,
                seq,
                peer,
                path_mtu,
            } => {
                // The low 32 bits (all an ESN SA puts on the wire) of a number we
                // used lately.
                let sent = self.sas.get(&spi).is_some_and(|e| {
                    seq != 0
                        && e.peer == peer
                        && (e.t.sa.last_seq() as u32).wrapping_sub(seq) < RECENT_SEQ
                        && e.t.sa.last_seq() >= u64::from(seq)
                });
                if sent {
                    self.set_path_mtu(peer, path_mtu);
                    let _ = self
                        .link
                        .to_control
                        .send(WorkerMsg::PathMtuVerified { peer, path_mtu });
                } else {
                    self.link.stats.pmtu_ignored.fetch_add(1, Ordering::Relaxed);
                }
            }
            OutboundCmd::Remove { spi } => self.remove(spi),
            OutboundCmd::SetPeer { spis, peer } => {
                for spi in spis {
                    if let Some(e) = self.sas.get_mut(&spi) {
                        e.dest = e.dest.moved_to(peer);
                        e.peer = peer.ip();
                    }
                }
            }
            OutboundCmd::Activate { on, off } => {
                self.spd.retain(|s| !off.contains(s) && !on.contains(s));
                for spi in on {
                    if let Some(e) = self.sas.get(&spi) {
                        self.spd.insert(&e.local_ts, &e.remote_ts, spi);
                    }
                }
            }
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
