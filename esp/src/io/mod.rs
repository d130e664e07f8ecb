//! The IO edge of the data plane (feature `io`): the only module of this crate that
//! makes system calls (like boringtun's `device` beside its `noise` core).
//!
//! - [`Tun`]: a Linux TUN device (`IFF_TUN | IFF_NO_PI`), whole IP packets; with
//!   `IFF_VNET_HDR` TCP super-packets both ways ([`crate::offload`], [`crate::coalesce`]).
//! - [`UdpEncapSocket`]: UDP port 4500 (RFC 3948), `recvmmsg`/`sendmmsg` batches,
//!   each datagram sorted into IKE (non-ESP marker stripped), ESP or keepalive; UDP
//!   GSO on send and GRO on receive ([`Datagram::split_gro`]).
//! - [`RawEspSocket`]: IP protocol 50 (raw ESP), IPv4 header stripped on receive.
//! - [`ChannelTun`] / [`ChannelSocket`]: in-memory doubles behind the same traits, so
//!   workers can be tested without privileges (wireguard-go's `ChannelTUN`).
//!
//! Every device reads into caller-owned [`PacketBuf`]s at a caller-chosen headroom,
//! so encapsulation can prepend headers in place, and writes what the buffers hold.
//!
//! Batch semantics, the same for all sources: a call waits (in blocking mode) for
//! the first packet, then takes whatever else is ready, up to the slice length, and
//! returns how many it filled. In non-blocking mode an empty device gives
//! [`io::ErrorKind::WouldBlock`]. Sinks return how many packets were sent; fewer
//! than asked means the device would block (non-blocking) after that many.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};

use crate::PacketBuf;
use crate::natt::{Classified4500, NON_ESP_MARKER, classify_4500};

pub mod echo;
pub mod errqueue;
mod raw;
mod tun;
mod udp;

pub use raw::RawEspSocket;
pub use tun::Tun;
pub use udp::{
    GSO_MAX_BYTES, GSO_MAX_SEGMENTS, SEND_STALL_MS, SEND_STALLS, SendReport, UdpEncapSocket,
    send_all,
};

/// Most packets one system call moves (`recvmmsg`/`sendmmsg` `vlen`; TUN reads and
/// writes loop up to this many per call). Larger slices are served in several calls.
pub const MAX_BATCH: usize = 32;

/// A source of whole packets (IP packets from a TUN device).
pub trait PacketSource {
    /// Receives up to `bufs.len()` packets, each into [`PacketBuf::recv_area`] at
    /// `headroom`; returns how many buffers were filled (from the start).
    /// `Ok(0)` means the device is gone (end of file).
    fn recv_batch(&mut self, bufs: &mut [PacketBuf], headroom: usize) -> io::Result<usize>;
}

/// A sink of whole packets (IP packets into a TUN device).
pub trait PacketSink {
    /// Sends the packets in order; returns how many were sent.
    fn send_batch(&mut self, pkts: &[PacketBuf]) -> io::Result<usize>;
}

/// What a datagram on port 4500 (or a raw ESP packet) carries, see
/// [`classify_4500`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatagramKind {
    /// An ESP packet, from its SPI on.
    Esp,
    /// An IKE message, from its header on: the non-ESP marker is stripped on
    /// receive and added on send.
    Ike,
    /// A NAT-keepalive (one octet 0xFF); sent as the buffer holds it.
    Keepalive,
    /// Received but none of the above (or truncated): drop and count.
    Invalid,
}

/// A datagram and its peer: the remote address on receive, the destination on send.
#[derive(Debug, Clone)]
pub struct Datagram {
    /// The payload (for IKE: without the non-ESP marker).
    pub buf: PacketBuf,
    /// Remote address and port (port 0 for raw ESP).
    pub peer: SocketAddr,
    /// What the payload is; decides the framing on send.
    pub kind: DatagramKind,
    /// On receive with UDP GRO ([`UdpEncapSocket::set_gro`]): non-zero when `buf`
    /// holds several datagrams of this length (the last may be shorter), not yet
    /// classified; see [`Datagram::split_gro`]. 0 otherwise.
    pub gro_size: u16,
}

impl Datagram {
    /// An empty datagram with a default [`PacketBuf`], to receive into.
    pub fn new() -> Self {
        Self::with_buf(PacketBuf::new())
    }

    /// An empty datagram around `buf`, to receive into.
    pub fn with_buf(buf: PacketBuf) -> Self {
        Self {
            buf,
            peer: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            kind: DatagramKind::Invalid,
            gro_size: 0,
        }
    }

    /// A datagram to send to `peer`.
    pub fn to(peer: SocketAddr, kind: DatagramKind, buf: PacketBuf) -> Self {
        Self {
            buf,
            peer,
            kind,
            gro_size: 0,
        }
    }

    /// Cuts a datagram received with UDP GRO ([`Self::gro_size`] non-zero) into the
    /// datagrams it was coalesced from, each copied into a buffer from `next_buf` at
    /// `headroom` and classified on its own (ESP, IKE, keepalive) as
    /// [`DatagramSource::recv_batch`] would have; appends them to `out`. Returns how
    /// many. A datagram without `gro_size` is copied whole as one.
    pub fn split_gro(
        &self,
        headroom: usize,
        mut next_buf: impl FnMut() -> PacketBuf,
        out: &mut Vec<Self>,
    ) -> usize {
        let data = self.buf.as_slice();
        let size = match usize::from(self.gro_size) {
            0 => data.len().max(1),
            n => n,
        };
        let mut n = 0;
        for chunk in data.chunks(size) {
            let mut buf = next_buf();
            buf.set_packet(headroom, chunk);
            let mut d = Self::to(self.peer, self.kind, buf);
            if d.kind != DatagramKind::Invalid {
                d.classify_received();
            }
            out.push(d);
            n += 1;
        }
        n
    }

    /// The octets that go in front of the payload on port 4500.
    pub(crate) fn udp_prefix(&self) -> &'static [u8] {
        match self.kind {
            DatagramKind::Ike => &NON_ESP_MARKER,
            _ => &[],
        }
    }

    /// Sorts a payload received on port 4500 and strips the non-ESP marker.
    pub(crate) fn classify_received(&mut self) {
        self.kind = match classify_4500(self.buf.as_slice()) {
            Classified4500::Keepalive => DatagramKind::Keepalive,
            Classified4500::Ike(_) => {
                // classify_4500 saw the 4-octet marker, so this cannot fail.
                let _ = self.buf.pull_front(NON_ESP_MARKER.len());
                DatagramKind::Ike
            }
            Classified4500::Esp(_) => DatagramKind::Esp,
            _ => DatagramKind::Invalid,
        };
    }
}

impl Default for Datagram {
    fn default() -> Self {
        Self::new()
    }
}

/// A source of datagrams with their peers (UDP 4500, raw ESP).
pub trait DatagramSource {
    /// Receives up to `dgrams.len()` datagrams, each into its buffer's
    /// [`PacketBuf::recv_area`] at `headroom`, setting `peer` and `kind`; returns how
    /// many were filled (from the start).
    fn recv_batch(&mut self, dgrams: &mut [Datagram], headroom: usize) -> io::Result<usize>;
}

/// A sink of datagrams, each to its own peer.
pub trait DatagramSink {
    /// Sends the datagrams in order; returns how many were sent.
    fn send_batch(&mut self, dgrams: &[Datagram]) -> io::Result<usize>;
}

/// Receives like the devices do: waits (unless `nonblocking`) for the first item,
/// then takes what is queued, up to `max`. `Ok(0)` once the other end is gone and
/// the queue is empty.
fn chan_recv_batch<T>(
    rx: &Receiver<T>,
    nonblocking: bool,
    max: usize,
    mut put: impl FnMut(usize, T),
) -> io::Result<usize> {
    let mut n = 0;
    while n < max {
        let item = if n == 0 && !nonblocking {
            match rx.recv() {
                Ok(item) => item,
                Err(_) => return Ok(0),
            }
        } else {
            match rx.try_recv() {
                Ok(item) => item,
                Err(TryRecvError::Empty) if n == 0 => {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                Err(TryRecvError::Disconnected) if n == 0 => return Ok(0),
                Err(_) => break,
            }
        };
        put(n, item);
        n += 1;
    }
    Ok(n)
}

fn chan_send<T>(tx: &Sender<T>, item: T) -> io::Result<()> {
    tx.send(item)
        .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "channel peer is gone"))
}

/// An in-memory TUN device (wireguard-go's `tuntest.ChannelTUN`): the worker side,
/// with [`ChannelTunPeer`] standing in for the kernel.
#[derive(Debug)]
pub struct ChannelTun {
    from_kernel: Receiver<Vec<u8>>,
    to_kernel: Sender<Vec<u8>>,
    nonblocking: bool,
}

/// The "kernel" end of a [`ChannelTun`]: packets sent here are read by the device,
/// packets the device writes arrive here.
#[derive(Debug)]
pub struct ChannelTunPeer {
    /// Packets for the device to read (as if the kernel routed them into the TUN).
    pub inbound: Sender<Vec<u8>>,
    /// Packets the device wrote (as if delivered to the kernel).
    pub outbound: Receiver<Vec<u8>>,
}

impl ChannelTun {
    /// A device and its kernel end.
    pub fn new() -> (Self, ChannelTunPeer) {
        let (in_tx, in_rx) = mpsc::channel();
        let (out_tx, out_rx) = mpsc::channel();
        let tun = Self {
            from_kernel: in_rx,
            to_kernel: out_tx,
            nonblocking: false,
        };
        let peer = ChannelTunPeer {
            inbound: in_tx,
            outbound: out_rx,
        };
        (tun, peer)
    }

    /// As [`Tun::set_nonblocking`].
    pub fn set_nonblocking(&mut self, nonblocking: bool) {
        self.nonblocking = nonblocking;
    }
}

impl PacketSource for ChannelTun {
    fn recv_batch(&mut self, bufs: &mut [PacketBuf], headroom: usize) -> io::Result<usize> {
        let max = bufs.len().min(MAX_BATCH);
        chan_recv_batch(&self.from_kernel, self.nonblocking, max, |i, pkt| {
            bufs[i].set_packet(headroom, &pkt);
        })
    }
}

impl PacketSink for ChannelTun {
    fn send_batch(&mut self, pkts: &[PacketBuf]) -> io::Result<usize> {
        for p in pkts {
            chan_send(&self.to_kernel, p.as_slice().to_vec())?;
        }
        Ok(pkts.len())
    }
}

/// An in-memory port-4500 socket (wireguard-go's `bindtest.ChannelBind`), one end of
/// a point-to-point pair: everything sent arrives at the other end, whatever the
/// destination, with `peer` = the sender's address. Framing and classification are
/// those of [`UdpEncapSocket`] (IKE gets the non-ESP marker on the wire).
#[derive(Debug)]
pub struct ChannelSocket {
    local: SocketAddr,
    rx: Receiver<(Vec<u8>, SocketAddr)>,
    tx: Sender<(Vec<u8>, SocketAddr)>,
    nonblocking: bool,
}

impl ChannelSocket {
    /// Two connected ends with local addresses `a` and `b`.
    pub fn pair(a: SocketAddr, b: SocketAddr) -> (Self, Self) {
        let (a_tx, b_rx) = mpsc::channel();
        let (b_tx, a_rx) = mpsc::channel();
        let end = |local, rx, tx| Self {
            local,
            rx,
            tx,
            nonblocking: false,
        };
        (end(a, a_rx, a_tx), end(b, b_rx, b_tx))
    }

    /// This end's address (the `peer` the other end sees).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// As [`UdpEncapSocket::set_nonblocking`].
    pub fn set_nonblocking(&mut self, nonblocking: bool) {
        self.nonblocking = nonblocking;
    }
}

impl DatagramSource for ChannelSocket {
    fn recv_batch(&mut self, dgrams: &mut [Datagram], headroom: usize) -> io::Result<usize> {
        let max = dgrams.len().min(MAX_BATCH);
        chan_recv_batch(&self.rx, self.nonblocking, max, |i, (wire, from)| {
            let d = &mut dgrams[i];
            d.buf.set_packet(headroom, &wire);
            d.peer = from;
            d.classify_received();
        })
    }
}

impl DatagramSink for ChannelSocket {
    fn send_batch(&mut self, dgrams: &[Datagram]) -> io::Result<usize> {
        for d in dgrams {
            let mut wire = Vec::with_capacity(4 + d.buf.len());
            wire.extend_from_slice(d.udp_prefix());
            wire.extend_from_slice(d.buf.as_slice());
            chan_send(&self.tx, (wire, self.local))?;
        }
        Ok(dgrams.len())
    }
}
