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
use std::net::{IpAddr, SocketAddr};
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

/// One "destination unreachable" report from the error queue: nothing listens on
/// the port there, or the host or network cannot be reached, or a filter said no.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unreachable {
    /// Where the datagram was going.
    pub peer: SocketAddr,
    /// Who sent the ICMP (the peer itself for a port unreachable; a router else).
    pub reporter: Option<IpAddr>,
    /// In words: "port unreachable", "host unreachable", ...
    pub what: &'static str,
    /// The start of the datagram's payload as the ICMP quoted it.
    pub quoted: [u8; QUOTE_LEN],
    pub quoted_len: usize,
}

impl Unreachable {
    pub fn quoted(&self) -> &[u8] {
        &self.quoted[..self.quoted_len]
    }
}

/// What one read of the error queue gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueuedError {
    TooBig(TooBig),
    Unreachable(Unreachable),
    /// Another error: nothing we act on.
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

/// ICMP errors queued for [`recv_error`] only (no DF): for the IKE socket on port
/// 500, whose large IKE_AUTH messages may need IP fragmentation.
pub fn enable_reports(fd: RawFd, ipv6: bool) -> io::Result<()> {
    if ipv6 {
        setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVERR, 1)
    } else {
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
            // The offender (SO_EE_OFFENDER) follows the extended error in the cmsg.
            let ee_len = size_of::<libc::sock_extended_err>();
            let data_len = len.saturating_sub(needed as usize);
            let mut offender: libc::sockaddr_storage = unsafe { zeroed() };
            let off_len = data_len.min(size_of::<libc::sockaddr_storage>());
            // SAFETY: `data_len` octets after the extended error are inside the cmsg
            // (its length says so); `offender` has room for `off_len` of them.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    libc::CMSG_DATA(cmsg).add(ee_len),
                    (&raw mut offender).cast::<u8>(),
                    off_len,
                );
            }
            let reporter = from_sockaddr(&offender, off_len as libc::socklen_t).map(|a| a.ip());
            return Ok(Some(classify(&ee, peer, reporter, &data, quoted_len)));
        }
        // SAFETY: as for CMSG_FIRSTHDR.
        cmsg = unsafe { libc::CMSG_NXTHDR(&raw const msg, cmsg) };
    }
    Ok(Some(QueuedError::Other))
}

const SO_EE_ORIGIN_LOCAL: u8 = 1;
const SO_EE_ORIGIN_ICMP: u8 = 2;
const SO_EE_ORIGIN_ICMP6: u8 = 3;

/// What an ICMP destination unreachable (IPv4 type 3, RFC 792 and RFC 1812; IPv6
/// type 1, RFC 4443) says, other than "fragmentation needed".
fn unreachable(origin: u8, ty: u8, code: u8) -> Option<&'static str> {
    match (origin, ty, code) {
        (SO_EE_ORIGIN_ICMP, 3, 0) | (SO_EE_ORIGIN_ICMP6, 1, 0) => Some("network unreachable"),
        (SO_EE_ORIGIN_ICMP, 3, 1) | (SO_EE_ORIGIN_ICMP6, 1, 3) => Some("host unreachable"),
        (SO_EE_ORIGIN_ICMP, 3, 3) | (SO_EE_ORIGIN_ICMP6, 1, 4) => Some("port unreachable"),
        (SO_EE_ORIGIN_ICMP, 3, 9 | 10 | 13) | (SO_EE_ORIGIN_ICMP6, 1, 1) => {
            Some("administratively prohibited")
        }
        _ => None,
    }
}

fn classify(
    ee: &libc::sock_extended_err,
    peer: SocketAddr,
    reporter: Option<IpAddr>,
    data: &[u8; QUOTE_LEN],
    quoted_len: usize,
) -> QueuedError {
    if let Some(what) = unreachable(ee.ee_origin, ee.ee_type, ee.ee_code) {
        return QueuedError::Unreachable(Unreachable {
            peer,
            reporter,
            what,
            quoted: *data,
            quoted_len,
        });
    }
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
