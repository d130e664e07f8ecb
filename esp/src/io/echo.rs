//! ICMP / ICMPv6 echo through a tunnel (`ikev2d ping`): a raw socket bound to an
//! inner address of this host, so the kernel routes the request into the TUN device
//! like any other packet of the child, optionally with DF (for the size sweep).
//! Needs `CAP_NET_RAW`.
#![allow(unsafe_code)]

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use super::udp::{from_sockaddr, setsockopt_int, socket, to_sockaddr};

const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REPLY_V4: u8 = 0;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;

/// What came back for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EchoResult {
    Reply(Duration),
    /// Nothing within the time limit.
    Lost,
    /// The local stack refused to send it (`EMSGSIZE`: larger than the route's MTU
    /// with DF set).
    TooBig,
}

/// A raw echo socket bound to one source address.
#[derive(Debug)]
pub struct EchoSocket {
    fd: OwnedFd,
    v4: bool,
    id: u16,
}

impl EchoSocket {
    /// Opens it on `src` (an address of this host); `df`: never fragment, so a
    /// request larger than the path fails instead of being split. `id` tells our
    /// replies from other pings'.
    pub fn bind(src: IpAddr, df: bool, id: u16) -> io::Result<Self> {
        let v4 = src.is_ipv4();
        let (domain, proto) = if v4 {
            (libc::AF_INET, libc::IPPROTO_ICMP)
        } else {
            (libc::AF_INET6, libc::IPPROTO_ICMPV6)
        };
        let fd = socket(domain, libc::SOCK_RAW, proto)?;
        let (sa, len) = to_sockaddr(&SocketAddr::new(src, 0));
        // SAFETY: `sa` is a valid sockaddr of `len` octets for the family.
        let rc = unsafe { libc::bind(fd.as_raw_fd(), (&raw const sa).cast(), len) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        if df {
            if v4 {
                setsockopt_int(
                    fd.as_raw_fd(),
                    libc::IPPROTO_IP,
                    libc::IP_MTU_DISCOVER,
                    libc::IP_PMTUDISC_DO,
                )?;
            } else {
                setsockopt_int(
                    fd.as_raw_fd(),
                    libc::IPPROTO_IPV6,
                    libc::IPV6_MTU_DISCOVER,
                    libc::IPV6_PMTUDISC_DO,
                )?;
                setsockopt_int(fd.as_raw_fd(), libc::IPPROTO_IPV6, libc::IPV6_DONTFRAG, 1)?;
            }
        }
        Ok(Self { fd, v4, id })
    }

    /// Sends echo request `seq` with `payload` octets of data to `dst` and waits up
    /// to `wait` for its reply.
    pub fn ping(
        &self,
        dst: IpAddr,
        seq: u16,
        payload: usize,
        wait: Duration,
    ) -> io::Result<EchoResult> {
        let mut msg = vec![0u8; 8 + payload];
        msg[0] = if self.v4 {
            ECHO_REQUEST_V4
        } else {
            ECHO_REQUEST_V6
        };
        msg[4..6].copy_from_slice(&self.id.to_be_bytes());
        msg[6..8].copy_from_slice(&seq.to_be_bytes());
        for (i, b) in msg[8..].iter_mut().enumerate() {
            *b = i as u8;
        }
        if self.v4 {
            // ICMPv6's checksum covers a pseudo-header: the kernel fills it in.
            let sum = crate::ip::checksum(&msg);
            msg[2..4].copy_from_slice(&sum.to_be_bytes());
        }
        let (sa, len) = to_sockaddr(&SocketAddr::new(dst, 0));
        let started = Instant::now();
        // SAFETY: `msg` and `sa` are live buffers of the lengths given.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                msg.as_ptr().cast(),
                msg.len(),
                0,
                (&raw const sa).cast(),
                len,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.raw_os_error() == Some(libc::EMSGSIZE) {
                Ok(EchoResult::TooBig)
            } else {
                Err(e)
            };
        }
        let mut buf = vec![0u8; 65_536];
        loop {
            let left = wait.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Ok(EchoResult::Lost);
            }
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = i32::try_from(left.as_millis().max(1)).unwrap_or(i32::MAX);
            // SAFETY: one pollfd of ours.
            if unsafe { libc::poll(&raw mut pfd, 1, ms) } <= 0 {
                continue;
            }
            // SAFETY: sockaddr_storage is plain old data.
            let mut from: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
            let mut from_len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            // SAFETY: `buf` and `from` are live buffers of the lengths given.
            let n = unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                    (&raw mut from).cast(),
                    &raw mut from_len,
                )
            };
            let Ok(n) = usize::try_from(n) else {
                continue;
            };
            let Some(src) = from_sockaddr(&from, from_len) else {
                continue;
            };
            if src.ip() == dst && self.is_our_reply(&buf[..n], seq) {
                return Ok(EchoResult::Reply(started.elapsed()));
            }
        }
    }

    /// Whether `pkt` (IPv4: with its IP header) is the echo reply to `seq`.
    fn is_our_reply(&self, pkt: &[u8], seq: u16) -> bool {
        let icmp = if self.v4 {
            let ihl = pkt.first().map_or(0, |b| usize::from(b & 0x0f) * 4);
            pkt.get(ihl..).unwrap_or_default()
        } else {
            pkt
        };
        let want = if self.v4 {
            ECHO_REPLY_V4
        } else {
            ECHO_REPLY_V6
        };
        icmp.len() >= 8
            && icmp[0] == want
            && icmp[4..6] == self.id.to_be_bytes()
            && icmp[6..8] == seq.to_be_bytes()
    }
}
