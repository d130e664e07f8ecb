//! Raw ESP, IP protocol 50 (RFC 4303), for SAs without UDP encapsulation.
//!
//! IPv4 raw sockets deliver the IP header on receive: it is stripped here, so the
//! buffer starts at the SPI. On send the kernel builds the IP header (no
//! `IP_HDRINCL`). IPv6 raw sockets never deliver the IP header. Needs
//! `CAP_NET_RAW`. The kernel need not know ESP (no XFRM): raw delivery happens
//! before the protocol handlers.
#![allow(unsafe_code)]

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use super::udp::{recv_mmsg, send_mmsg, socket, to_sockaddr};
use super::{Datagram, DatagramKind, DatagramSink, DatagramSource};

/// A raw socket for IP protocol 50.
#[derive(Debug)]
pub struct RawEspSocket {
    fd: OwnedFd,
    v4: bool,
}

impl RawEspSocket {
    /// Opens a raw ESP socket for `local`'s family; binds to `local` unless it is the
    /// unspecified address. Blocking; see [`Self::set_nonblocking`].
    pub fn bind(local: IpAddr) -> io::Result<Self> {
        Self::bind_with(local, false)
    }

    /// [`Self::bind`], and with `freebind` to an address this host does not have
    /// (yet): `IP_FREEBIND` (see [`super::UdpEncapSocket::bind_with`]).
    pub fn bind_with(local: IpAddr, freebind: bool) -> io::Result<Self> {
        let v4 = local.is_ipv4();
        let domain = if v4 { libc::AF_INET } else { libc::AF_INET6 };
        let fd = socket(domain, libc::SOCK_RAW, libc::IPPROTO_ESP)?;
        if freebind {
            super::udp::set_freebind(fd.as_raw_fd(), !v4)?;
        }
        if !local.is_unspecified() {
            let (sa, len) = to_sockaddr(&SocketAddr::new(local, 0));
            // SAFETY: `sa` is a valid sockaddr of `len` octets for the family.
            let rc = unsafe {
                libc::bind(
                    fd.as_raw_fd(),
                    (&raw const sa).cast::<libc::sockaddr>(),
                    len,
                )
            };
            if rc < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(Self { fd, v4 })
    }

    /// A second handle on the same socket (a duplicated fd): one worker receives,
    /// another sends.
    pub fn try_clone(&self) -> io::Result<Self> {
        Ok(Self {
            fd: self.fd.try_clone()?,
            v4: self.v4,
        })
    }

    /// Non-blocking mode: an empty receive gives [`io::ErrorKind::WouldBlock`].
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        // SAFETY: fcntl on an fd we own, integer arguments.
        let flags = unsafe { libc::fcntl(self.fd.as_raw_fd(), libc::F_GETFL) };
        if flags < 0 {
            return Err(io::Error::last_os_error());
        }
        let flags = if nonblocking {
            flags | libc::O_NONBLOCK
        } else {
            flags & !libc::O_NONBLOCK
        };
        // SAFETY: as above.
        if unsafe { libc::fcntl(self.fd.as_raw_fd(), libc::F_SETFL, flags) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// Length of the IPv4 header at the start of `pkt`, if it is one that fits.
fn ipv4_header_len(pkt: &[u8]) -> Option<usize> {
    let first = *pkt.first()?;
    let ihl = usize::from(first & 0x0f) * 4;
    (first >> 4 == 4 && ihl >= 20 && ihl <= pkt.len()).then_some(ihl)
}

impl RawEspSocket {
    /// DF on every packet and ICMP "too big" reports queued for
    /// [`Self::recv_error`] ([`super::errqueue`]; the quote starts at the ESP header).
    pub fn enable_path_mtu_reports(&self) -> io::Result<()> {
        super::errqueue::enable(self.fd.as_raw_fd(), !self.v4)
    }

    /// One entry of the error queue, `Ok(None)` when empty.
    pub fn recv_error(&self) -> io::Result<Option<super::errqueue::QueuedError>> {
        super::errqueue::recv_error(self.fd.as_raw_fd())
    }
}

impl DatagramSource for RawEspSocket {
    /// Fills `peer` with the source address (port 0); `kind` is `Esp`, or
    /// `Invalid` for truncated packets and for ones shorter than an SPI and
    /// sequence number.
    fn recv_batch(&mut self, dgrams: &mut [Datagram], headroom: usize) -> io::Result<usize> {
        let n = recv_mmsg(self.fd.as_raw_fd(), dgrams, headroom, 0)?;
        for d in &mut dgrams[..n] {
            if self.v4 {
                match ipv4_header_len(d.buf.as_slice()) {
                    Some(ihl) => {
                        let _ = d.buf.pull_front(ihl);
                    }
                    None => d.kind = DatagramKind::Invalid,
                }
            }
            if d.buf.len() < crate::natt::ESP_MIN_LEN {
                d.kind = DatagramKind::Invalid;
            }
        }
        Ok(n)
    }
}

impl DatagramSink for RawEspSocket {
    /// Sends each buffer (an ESP packet from its SPI on) to `peer`'s address; the
    /// port and `kind` are ignored.
    fn send_batch(&mut self, dgrams: &[Datagram]) -> io::Result<usize> {
        send_mmsg(self.fd.as_raw_fd(), dgrams, |_| &[])
    }
}

impl AsFd for RawEspSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for RawEspSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::ipv4_header_len;

    #[test]
    fn ipv4_header_length() {
        let mut p = [0u8; 40];
        p[0] = 0x45;
        assert_eq!(ipv4_header_len(&p), Some(20));
        p[0] = 0x46;
        assert_eq!(ipv4_header_len(&p), Some(24));
        p[0] = 0x4f;
        assert_eq!(ipv4_header_len(&p), None, "60 > 40 octets");
        p[0] = 0x44;
        assert_eq!(ipv4_header_len(&p), None, "IHL below 5");
        p[0] = 0x65;
        assert_eq!(ipv4_header_len(&p), None, "not IPv4");
        assert_eq!(ipv4_header_len(&[]), None);
    }
}
