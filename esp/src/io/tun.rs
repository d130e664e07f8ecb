//! A Linux TUN device: `/dev/net/tun` with `ioctl(TUNSETIFF)`, `IFF_TUN |
//! IFF_NO_PI` (whole IP packets, no 4-octet packet-information prefix, so a packet
//! lands exactly at the buffer's headroom). MTU and link state are set with
//! `SIOCSIFMTU`/`SIOCSIFFLAGS` on an `AF_INET` datagram socket, no `ip` command.
//!
//! With [`Tun::create_with_offload`], `IFF_VNET_HDR` and TCP segmentation offload:
//! reads may be TCP super-packets ([`crate::offload`]) and [`Tun::send_vnet`] writes
//! coalesced ones ([`crate::coalesce`]). No `IFF_MULTI_QUEUE` yet (issue 8).
//! The fd is always `O_NONBLOCK`; "blocking" mode waits in `poll(2)`, so a batch
//! read takes the first packet (waiting for it) and then whatever else is queued.
#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io::{self, IoSlice, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

use super::udp::socket;
use super::{MAX_BATCH, PacketSink, PacketSource};
use crate::PacketBuf;
use crate::offload::{VNET_HDR_LEN, VnetHdr};

/// A TUN device (layer 3).
#[derive(Debug)]
pub struct Tun {
    file: File,
    name: String,
    blocking: bool,
    /// `IFF_VNET_HDR` with TCP segmentation offload: every read and write carries a
    /// [`VnetHdr`] in front ([`Tun::create_with_offload`]).
    vnet: bool,
}

impl Tun {
    /// Creates the TUN device `name` (at most 15 octets; a `%d` pattern such as
    /// `"tun%d"` lets the kernel pick a number), or attaches to it if it exists as
    /// a persistent TUN device. Needs `CAP_NET_ADMIN`. The device starts down and
    /// in blocking mode.
    pub fn create(name: &str) -> io::Result<Self> {
        Self::open(name, false)
    }

    /// As [`Tun::create`], with `IFF_VNET_HDR` and checksum plus TCP segmentation
    /// offload (`TUNSETOFFLOAD`: `TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6`): reads may
    /// return TCP super-packets of up to 64 KiB; use [`Tun::recv_one`] to get each
    /// with its [`VnetHdr`]. Packets written get a plain header (no offload) in front.
    pub fn create_with_offload(name: &str) -> io::Result<Self> {
        let tun = Self::open(name, true)?;
        let features = libc::TUN_F_CSUM | libc::TUN_F_TSO4 | libc::TUN_F_TSO6;
        // SAFETY: TUNSETOFFLOAD takes its argument by value (an unsigned int).
        let rc = unsafe {
            libc::ioctl(
                tun.file.as_raw_fd(),
                libc::TUNSETOFFLOAD,
                libc::c_ulong::from(features),
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(tun)
    }

    /// Whether reads and writes carry a [`VnetHdr`].
    pub fn has_offload(&self) -> bool {
        self.vnet
    }

    fn open(name: &str, vnet: bool) -> io::Result<Self> {
        let mut req = ifreq(name)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open("/dev/net/tun")?;
        let vnet_flag = if vnet { libc::IFF_VNET_HDR } else { 0 };
        req.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI | vnet_flag) as libc::c_short;
        // SAFETY: TUNSETIFF reads and writes one `struct ifreq`, which `req` is.
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, &raw mut req) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        let name = req
            .ifr_name
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8 as char)
            .collect();
        Ok(Self {
            file,
            name,
            blocking: true,
            vnet,
        })
    }

    /// A second handle on the same device (a duplicated fd), so one worker can read
    /// while another writes. Starts in blocking mode.
    pub fn try_clone(&self) -> io::Result<Self> {
        Ok(Self {
            file: self.file.try_clone()?,
            name: self.name.clone(),
            blocking: true,
            vnet: self.vnet,
        })
    }

    /// The interface name the kernel gave the device.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sets the interface MTU (`SIOCSIFMTU`).
    pub fn set_mtu(&self, mtu: u32) -> io::Result<()> {
        let mut req = ifreq(&self.name)?;
        req.ifr_ifru.ifru_mtu =
            i32::try_from(mtu).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        if_ioctl(libc::SIOCSIFMTU, &mut req)
    }

    /// Sets the transmit queue length (`SIOCSIFTXQLEN`): how many packets the kernel
    /// queues for the device before it drops (the TUN default, 500, overflows when
    /// the reader is briefly busy at gigabit rates).
    pub fn set_txqueuelen(&self, len: u32) -> io::Result<()> {
        let mut req = ifreq(&self.name)?;
        // `ifr_qlen` shares the integer slot of the union with `ifr_mtu`.
        req.ifr_ifru.ifru_mtu =
            i32::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        if_ioctl(libc::SIOCSIFTXQLEN, &mut req)
    }

    /// The interface MTU (`SIOCGIFMTU`).
    pub fn mtu(&self) -> io::Result<u32> {
        let mut req = ifreq(&self.name)?;
        if_ioctl(libc::SIOCGIFMTU, &mut req)?;
        // SAFETY: SIOCGIFMTU filled the `ifru_mtu` member of the union.
        let mtu = unsafe { req.ifr_ifru.ifru_mtu };
        u32::try_from(mtu).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))
    }

    /// Brings the interface up or down (`SIOCGIFFLAGS`, then `SIOCSIFFLAGS` with
    /// `IFF_UP` set or cleared).
    pub fn set_up(&self, up: bool) -> io::Result<()> {
        let mut req = ifreq(&self.name)?;
        if_ioctl(libc::SIOCGIFFLAGS, &mut req)?;
        // SAFETY: SIOCGIFFLAGS filled the `ifru_flags` member of the union.
        let flags = unsafe { req.ifr_ifru.ifru_flags };
        let up_flag = libc::IFF_UP as libc::c_short;
        req.ifr_ifru.ifru_flags = if up {
            flags | up_flag
        } else {
            flags & !up_flag
        };
        if_ioctl(libc::SIOCSIFFLAGS, &mut req)
    }

    /// Non-blocking mode: an empty read gives [`io::ErrorKind::WouldBlock`]. In
    /// blocking mode (the default) reads wait for the first packet.
    pub fn set_nonblocking(&mut self, nonblocking: bool) {
        self.blocking = !nonblocking;
    }

    fn wait(&self, events: libc::c_short) -> io::Result<()> {
        let mut pfd = libc::pollfd {
            fd: self.file.as_raw_fd(),
            events,
            revents: 0,
        };
        loop {
            // SAFETY: one live pollfd, count 1, no timeout.
            let rc = unsafe { libc::poll(&raw mut pfd, 1, -1) };
            if rc >= 0 {
                return Ok(());
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }
}

impl Tun {
    /// Offload mode: reads one packet (perhaps a TCP super-packet) into `buf` at
    /// `headroom` and returns its header; `None` when nothing is queued (non-blocking
    /// mode). The buffer must hold 64 KiB after `headroom`.
    pub fn recv_one(
        &mut self,
        buf: &mut PacketBuf,
        headroom: usize,
    ) -> io::Result<Option<VnetHdr>> {
        let start = headroom.saturating_sub(VNET_HDR_LEN);
        loop {
            match self.file.read(buf.recv_area(start)) {
                Ok(len) => {
                    buf.set_len(len);
                    let hdr = VnetHdr::parse(buf.as_slice())
                        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidData))?;
                    buf.pull_front(VNET_HDR_LEN)
                        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidData))?;
                    return Ok(Some(hdr));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !self.blocking {
                        return Ok(None);
                    }
                    self.wait(libc::POLLIN)?;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Tun {
    /// Offload mode: writes one packet behind `hdr` with one `writev(2)`, the packet
    /// given as consecutive `parts` (a super-packet from [`crate::coalesce`]: the first
    /// segment whole, then the payloads of the others), so nothing is copied here.
    pub fn send_vnet(&mut self, hdr: &VnetHdr, parts: &[&[u8]]) -> io::Result<()> {
        if !self.vnet {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the TUN device was opened without IFF_VNET_HDR",
            ));
        }
        let h = hdr.encode();
        let mut iov: Vec<IoSlice<'_>> = Vec::with_capacity(parts.len() + 1);
        iov.push(IoSlice::new(&h));
        iov.extend(parts.iter().map(|p| IoSlice::new(p)));
        loop {
            match self.file.write_vectored(&iov) {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && self.blocking => {
                    self.wait(libc::POLLOUT)?;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl PacketSource for Tun {
    /// One `read(2)` per packet, up to [`MAX_BATCH`] per call. Buffers shorter than
    /// a packet get it truncated: size them for the MTU plus headroom.
    fn recv_batch(&mut self, bufs: &mut [PacketBuf], headroom: usize) -> io::Result<usize> {
        let want = bufs.len().min(MAX_BATCH);
        let mut n = 0;
        while n < want {
            match self.file.read(bufs[n].recv_area(headroom)) {
                Ok(len) => {
                    bufs[n].set_len(len);
                    n += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if n > 0 {
                        break;
                    }
                    if !self.blocking {
                        return Err(e);
                    }
                    self.wait(libc::POLLIN)?;
                }
                // Keep what was read; the next call reports the error.
                Err(_) if n > 0 => {
                    bufs[n].clear(headroom);
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }
}

impl PacketSink for Tun {
    /// One `write(2)` per packet.
    fn send_batch(&mut self, pkts: &[PacketBuf]) -> io::Result<usize> {
        // Offload mode: every packet behind a header that asks for nothing.
        let plain = VnetHdr::default().encode();
        let mut n = 0;
        while n < pkts.len() {
            let written = if self.vnet {
                let iov = [IoSlice::new(&plain), IoSlice::new(pkts[n].as_slice())];
                self.file.write_vectored(&iov)
            } else {
                self.file.write(pkts[n].as_slice())
            };
            match written {
                Ok(_) => n += 1,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && self.blocking => {
                    self.wait(libc::POLLOUT)?;
                }
                Err(_) if n > 0 => break,
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }
}

impl AsFd for Tun {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

impl AsRawFd for Tun {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

/// A zeroed `ifreq` carrying `name`.
fn ifreq(name: &str) -> io::Result<libc::ifreq> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "interface name must be 1 to 15 octets without NUL",
        ));
    }
    // SAFETY: ifreq is plain old data (a name and a union of integers/sockaddrs);
    // all zeros is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, &src) in req.ifr_name.iter_mut().zip(name.as_bytes()) {
        *dst = src as libc::c_char;
    }
    Ok(req)
}

/// An interface ioctl on a throwaway `AF_INET` datagram socket.
fn if_ioctl(request: libc::c_ulong, req: &mut libc::ifreq) -> io::Result<()> {
    let sock = socket(libc::AF_INET, libc::SOCK_DGRAM, 0)?;
    // SAFETY: the SIOC[GS]IF* requests used here read/write one `struct ifreq`.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), request, req as *mut libc::ifreq) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
