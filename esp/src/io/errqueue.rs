//! Outer path MTU from the kernel: outgoing datagrams with DF set and the ICMP
//! "fragmentation needed" (IPv4, RFC 1191) / "packet too big" (IPv6, RFC 8201)
//! that routers send back, read from the socket's error queue (`IP_RECVERR`,
//! `IPV6_RECVERR`; Linux `ip(7)`, `ipv6(7)`).
//!
//! `IP_PMTUDISC_PROBE` sets DF but does not apply the kernel's own path MTU cache to
//! our datagrams: a forged ICMP that lowered the kernel's cache must not make our
//! sends fail. What to believe is decided above this layer, from the quoted packet
//! ([`crate::mtu::QuotedEsp`]). The kernel still refuses a datagram larger than the
//! outgoing device's MTU (a local `EMSGSIZE` error, also queued here).
#![allow(unsafe_code)]

use std::io;
use std::mem::{size_of, zeroed};
use std::net::SocketAddr;
use std::os::fd::RawFd;

use super::udp::{from_sockaddr, setsockopt_int};

/// Octets of an errored datagram kept: the start of the ESP or IKE packet we sent
/// (SPI and sequence number, or the non-ESP marker and the IKE SPIs).
pub const QUOTE_LEN: usize = 32;

/// Who reported a datagram too big.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TooBigOrigin {
    /// A router, by ICMP / ICMPv6 (to be verified against the quoted packet).
    Icmp,
    /// Our own kernel: the datagram exceeded the outgoing device's MTU.
    Local,
}

/// One "datagram too big" report from the error queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooBig {
    /// Where the datagram was going.
    pub peer: SocketAddr,
    /// The MTU the reporter says fits (ICMP next-hop MTU, or the device MTU).
    pub mtu: u32,
    pub origin: TooBigOrigin,
    /// The start of the datagram's payload as the ICMP quoted it (routers may quote
    /// only 8 octets after the UDP header, RFC 792; Linux quotes up to 576 octets).
    pub quoted: [u8; QUOTE_LEN],
    pub quoted_len: usize,
}

impl TooBig {
    pub fn quoted(&self) -> &[u8] {
        &self.quoted[..self.quoted_len]
    }
}

/// What one read of the error queue gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueuedError {
    TooBig(TooBig),
    /// Another error (port unreachable, ...): nothing about the MTU.
    Other,
}

/// DF on every datagram (without the kernel's path MTU cache) and ICMP errors queued
/// for [`recv_error`], on an IPv4 or IPv6 UDP socket.
pub fn enable(fd: RawFd, ipv6: bool) -> io::Result<()> {
    if ipv6 {
        setsockopt_int(
            fd,
            libc::IPPROTO_IPV6,
            libc::IPV6_MTU_DISCOVER,
            libc::IPV6_PMTUDISC_PROBE,
        )?;
        setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVERR, 1)
    } else {
        setsockopt_int(
            fd,
            libc::IPPROTO_IP,
            libc::IP_MTU_DISCOVER,
            libc::IP_PMTUDISC_PROBE,
        )?;
        setsockopt_int(fd, libc::IPPROTO_IP, libc::IP_RECVERR, 1)
    }
}

/// Reads one entry of the error queue without blocking; `Ok(None)` when it is empty.
pub fn recv_error(fd: RawFd) -> io::Result<Option<QueuedError>> {
    let mut data = [0u8; QUOTE_LEN];
    // Room for one sock_extended_err cmsg with its offender address (and slack).
    let mut control = [0u64; 32];
    // SAFETY: sockaddr_storage and msghdr are plain old data; zeroed is valid.
    let mut name: libc::sockaddr_storage = unsafe { zeroed() };
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = (&raw mut name).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = size_of_val_u(&control);
    // SAFETY: every pointer in `msg` points at a live local buffer of the length
    // given; the kernel writes at most those lengths.
    let n = unsafe { libc::recvmsg(fd, &raw mut msg, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.kind() {
            io::ErrorKind::WouldBlock => Ok(None),
            _ => Err(e),
        };
    }
    let quoted_len = (n as usize).min(QUOTE_LEN);
    let Some(peer) = from_sockaddr(&name, msg.msg_namelen) else {
        return Ok(Some(QueuedError::Other));
    };
    // SAFETY: CMSG_FIRSTHDR/CMSG_NXTHDR walk the control buffer the kernel filled,
    // bounded by msg_controllen; CMSG_DATA points inside the same buffer.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&raw const msg) };
    while !cmsg.is_null() {
        // SAFETY: `cmsg` is non-null and inside the control buffer.
        let (level, ty, len) = unsafe { ((*cmsg).cmsg_level, (*cmsg).cmsg_type, (*cmsg).cmsg_len) };
        let is_err = (level == libc::SOL_IP && ty == libc::IP_RECVERR)
            || (level == libc::SOL_IPV6 && ty == libc::IPV6_RECVERR);
        // SAFETY: CMSG_LEN is a pure size computation.
        let needed = unsafe { libc::CMSG_LEN(size_of::<libc::sock_extended_err>() as u32) };
        if is_err && len >= needed as usize {
            // SAFETY: the cmsg holds at least a sock_extended_err (checked above);
            // read_unaligned because cmsg data has no alignment guarantee for it.
            let ee: libc::sock_extended_err = unsafe {
                std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::sock_extended_err>())
            };
            return Ok(Some(classify(&ee, peer, &data, quoted_len)));
        }
        // SAFETY: as for CMSG_FIRSTHDR.
        cmsg = unsafe { libc::CMSG_NXTHDR(&raw const msg, cmsg) };
    }
    Ok(Some(QueuedError::Other))
}

const SO_EE_ORIGIN_LOCAL: u8 = 1;
const SO_EE_ORIGIN_ICMP: u8 = 2;
const SO_EE_ORIGIN_ICMP6: u8 = 3;

fn classify(
    ee: &libc::sock_extended_err,
    peer: SocketAddr,
    data: &[u8; QUOTE_LEN],
    quoted_len: usize,
) -> QueuedError {
    let origin = match (ee.ee_origin, ee.ee_type, ee.ee_code) {
        // Destination unreachable, fragmentation needed and DF set.
        (SO_EE_ORIGIN_ICMP, 3, 4) | (SO_EE_ORIGIN_ICMP6, 2, 0) => TooBigOrigin::Icmp,
        (SO_EE_ORIGIN_LOCAL, ..) if ee.ee_errno == libc::EMSGSIZE as u32 => TooBigOrigin::Local,
        _ => return QueuedError::Other,
    };
    QueuedError::TooBig(TooBig {
        peer,
        mtu: ee.ee_info,
        origin,
        quoted: *data,
        quoted_len,
    })
}

fn size_of_val_u(control: &[u64; 32]) -> usize {
    std::mem::size_of_val(control)
}
