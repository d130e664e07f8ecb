//! UDP port 4500 (RFC 3948): IKE with the non-ESP marker, ESP, NAT-keepalives, in
//! `recvmmsg`/`sendmmsg` batches. Also holds the `mmsghdr` plumbing and the
//! `sockaddr` conversions that [`super::RawEspSocket`] shares.
#![allow(unsafe_code)]

use std::io;
use std::mem::{size_of, size_of_val, zeroed};
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use super::{Datagram, DatagramKind, DatagramSink, DatagramSource, MAX_BATCH};

/// A UDP socket for port 4500 traffic (IPv4 or IPv6, by the bind address).
#[derive(Debug)]
pub struct UdpEncapSocket {
    sock: UdpSocket,
}

impl UdpEncapSocket {
    /// Binds to `addr` (port 4500 in production; any port in tests). With
    /// `reuse_addr`, sets `SO_REUSEADDR` before binding. IPv6 sockets are
    /// `IPV6_V6ONLY` so an IPv4 socket can share the port. Blocking; see
    /// [`Self::set_nonblocking`].
    pub fn bind(addr: SocketAddr, reuse_addr: bool) -> io::Result<Self> {
        Self::bind_with(addr, reuse_addr, false)
    }

    /// [`Self::bind`], and with `freebind` to an address this host does not have
    /// (yet): `IP_FREEBIND`, for a virtual address another program adds later (a
    /// VRRP address). Sending from it fails until it is there.
    pub fn bind_with(addr: SocketAddr, reuse_addr: bool, freebind: bool) -> io::Result<Self> {
        let domain = match addr {
            SocketAddr::V4(_) => libc::AF_INET,
            SocketAddr::V6(_) => libc::AF_INET6,
        };
        let fd = socket(domain, libc::SOCK_DGRAM, 0)?;
        if reuse_addr {
            setsockopt_int(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
        }
        if freebind {
            set_freebind(fd.as_raw_fd(), addr.is_ipv6())?;
        }
        if addr.is_ipv6() {
            setsockopt_int(fd.as_raw_fd(), libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)?;
        }
        let (sa, len) = to_sockaddr(&addr);
        // SAFETY: `sa` is a valid sockaddr of `len` octets for the socket's family;
        // the fd is open (owned by `fd`).
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
        Ok(Self {
            sock: UdpSocket::from(fd),
        })
    }

    /// Wraps an already bound socket (e.g. one handed over by the IKE side).
    pub fn from_std(sock: UdpSocket) -> Self {
        Self { sock }
    }

    /// The bound address (with the port the kernel chose for port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.local_addr()
    }

    /// Non-blocking mode: an empty receive gives [`io::ErrorKind::WouldBlock`].
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.sock.set_nonblocking(nonblocking)
    }

    /// The socket itself, e.g. for an async runtime.
    pub fn into_std(self) -> UdpSocket {
        self.sock
    }

    /// The underlying socket (for `SO_RCVBUF`, timeouts, ...).
    pub fn as_std(&self) -> &UdpSocket {
        &self.sock
    }
}

impl UdpEncapSocket {
    /// Turns UDP receive offload (`UDP_GRO`, Linux 5.0) on or off: the kernel may then
    /// hand over several datagrams of one peer, of equal length but the last, as one,
    /// and [`DatagramSource::recv_batch`] marks such a datagram with
    /// [`Datagram::gro_size`] and leaves it unclassified: cut it with
    /// [`Datagram::split_gro`]. Without it (or on older kernels) every datagram comes
    /// alone.
    pub fn set_gro(&self, on: bool) -> io::Result<()> {
        setsockopt_int(
            self.sock.as_raw_fd(),
            libc::SOL_UDP,
            libc::UDP_GRO,
            i32::from(on),
        )
    }
}

impl UdpEncapSocket {
    /// DF on every datagram and ICMP "too big" reports queued for
    /// [`Self::recv_error`] ([`super::errqueue`]).
    pub fn enable_path_mtu_reports(&self) -> io::Result<()> {
        let ipv6 = self.sock.local_addr()?.is_ipv6();
        super::errqueue::enable(self.sock.as_raw_fd(), ipv6)
    }

    /// One entry of the error queue, `Ok(None)` when empty. A socket whose error
    /// queue is not empty polls as `POLLERR`: drain it.
    pub fn recv_error(&self) -> io::Result<Option<super::errqueue::QueuedError>> {
        super::errqueue::recv_error(self.sock.as_raw_fd())
    }
}

impl DatagramSource for UdpEncapSocket {
    fn recv_batch(&mut self, dgrams: &mut [Datagram], headroom: usize) -> io::Result<usize> {
        let n = recv_mmsg(self.sock.as_raw_fd(), dgrams, headroom, 0)?;
        for d in &mut dgrams[..n] {
            if d.kind != DatagramKind::Invalid && d.gro_size == 0 {
                d.classify_received();
            }
        }
        Ok(n)
    }
}

/// Most datagrams one UDP GSO send may carry (the kernel's `UDP_MAX_SEGMENTS`).
pub const GSO_MAX_SEGMENTS: usize = 64;
/// Most octets one UDP GSO send may carry (an IP datagram's payload, with room for
/// the headers).
pub const GSO_MAX_BYTES: usize = 65_000;

impl UdpEncapSocket {
    /// Sends `segments` to `peer` with one `sendmsg(2)` and `UDP_SEGMENT` (UDP GSO,
    /// Linux 4.18): the kernel, or the device, cuts their concatenation into datagrams
    /// of `segments[0].len()` octets. Every segment but the last must have that
    /// length, the last may be shorter; at most [`GSO_MAX_SEGMENTS`] segments and
    /// [`GSO_MAX_BYTES`] octets. The segments go as they are (ESP: no non-ESP marker).
    /// A kernel without UDP GSO answers `EINVAL`, `EIO` or `ENOPROTOOPT`: send them
    /// one by one then.
    pub fn send_gso(&self, peer: SocketAddr, segments: &[&[u8]]) -> io::Result<()> {
        let Some(first) = segments.first() else {
            return Ok(());
        };
        let seg = first.len();
        let total: usize = segments.iter().map(|s| s.len()).sum();
        let last = segments.len() - 1;
        let shaped = segments
            .iter()
            .enumerate()
            .all(|(i, s)| s.len() == seg || (i == last && s.len() < seg));
        let gso_size = u16::try_from(seg).ok().filter(|&g| g > 0);
        let Some(gso_size) = gso_size
            .filter(|_| shaped && segments.len() <= GSO_MAX_SEGMENTS && total <= GSO_MAX_BYTES)
        else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "UDP GSO segments: equal lengths (the last may be shorter), at most 64 and 65,000 octets",
            ));
        };
        let mut iov = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; GSO_MAX_SEGMENTS];
        for (v, s) in iov.iter_mut().zip(segments) {
            v.iov_base = s.as_ptr().cast_mut().cast::<libc::c_void>();
            v.iov_len = s.len();
        }
        let (mut addr, addr_len) = to_sockaddr(&peer);
        // One cmsghdr with a u16; u64 elements give the buffer cmsghdr's alignment.
        let mut control = [0u64; 4];
        // SAFETY: CMSG_SPACE is a pure size computation.
        let space = unsafe { libc::CMSG_SPACE(size_of::<u16>() as u32) } as usize;
        debug_assert!(space <= size_of_val(&control));
        // SAFETY: msghdr is plain old data; all zeros is a valid value.
        let mut msg: libc::msghdr = unsafe { zeroed() };
        msg.msg_name = (&raw mut addr).cast::<libc::c_void>();
        msg.msg_namelen = addr_len;
        msg.msg_iov = iov.as_mut_ptr();
        msg.msg_iovlen = segments.len() as _;
        msg.msg_control = control.as_mut_ptr().cast::<libc::c_void>();
        msg.msg_controllen = space as _;
        // SAFETY: msg_control points to `space` zeroed, aligned octets, enough for one
        // cmsghdr with a u16 (CMSG_SPACE), so CMSG_FIRSTHDR is non-null and CMSG_DATA
        // has room for the u16; the iovecs point into `segments`, alive for the call;
        // the address is a valid sockaddr of `addr_len` octets.
        let rc = unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&raw const msg);
            (*cmsg).cmsg_level = libc::SOL_UDP;
            (*cmsg).cmsg_type = libc::UDP_SEGMENT;
            (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<u16>() as u32) as _;
            libc::CMSG_DATA(cmsg)
                .cast::<u16>()
                .write_unaligned(gso_size);
            libc::sendmsg(self.sock.as_raw_fd(), &raw const msg, 0)
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl DatagramSink for UdpEncapSocket {
    fn send_batch(&mut self, dgrams: &[Datagram]) -> io::Result<usize> {
        send_mmsg(self.sock.as_raw_fd(), dgrams, Datagram::udp_prefix)
    }
}

impl AsFd for UdpEncapSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

impl AsRawFd for UdpEncapSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

/// `socket(2)` with `SOCK_CLOEXEC`.
pub(crate) fn socket(domain: i32, ty: i32, proto: i32) -> io::Result<OwnedFd> {
    // SAFETY: plain system call with integer arguments.
    let fd = unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, proto) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket(2) and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `IP_FREEBIND` (`IPV6_FREEBIND` for IPv6): bind to an address that is not
/// (yet) configured on this host.
pub(crate) fn set_freebind(fd: RawFd, v6: bool) -> io::Result<()> {
    if v6 {
        setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_FREEBIND, 1)
    } else {
        setsockopt_int(fd, libc::IPPROTO_IP, libc::IP_FREEBIND, 1)
    }
}

pub(crate) fn setsockopt_int(fd: RawFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: the option value is a live c_int and its exact size is passed.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&raw const value).cast::<libc::c_void>(),
            size_of::<i32>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `SocketAddr` to a `sockaddr_storage` and its length.
pub(crate) fn to_sockaddr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain old data; all zeros is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe { (&raw mut storage).cast::<libc::sockaddr_in>().write(sin) };
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo().to_be(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            unsafe { (&raw mut storage).cast::<libc::sockaddr_in6>().write(sin6) };
            size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// A `sockaddr_storage` filled by the kernel back to a `SocketAddr`.
pub(crate) fn from_sockaddr(
    storage: &libc::sockaddr_storage,
    len: libc::socklen_t,
) -> Option<SocketAddr> {
    let len = len as usize;
    match i32::from(storage.ss_family) {
        libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says the storage holds a sockaddr_in, which it is
            // large enough and aligned for.
            let sin =
                unsafe { *(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                sin.sin_addr.s_addr.to_ne_bytes().into(),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 =
                unsafe { *(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                sin6.sin6_addr.s6_addr.into(),
                u16::from_be(sin6.sin6_port),
                u32::from_be(sin6.sin6_flowinfo),
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// `recvmmsg(MSG_WAITFORONE)` into up to [`MAX_BATCH`] datagrams: blocks (on a
/// blocking socket) for the first, then takes what is queued. Sets each `buf`'s
/// length, `peer`, and `kind` = `Invalid` for truncated datagrams and `Esp`
/// otherwise (the caller refines it).
pub(crate) fn recv_mmsg(
    fd: RawFd,
    dgrams: &mut [Datagram],
    headroom: usize,
    flags: i32,
) -> io::Result<usize> {
    let want = dgrams.len().min(MAX_BATCH);
    if want == 0 {
        return Ok(0);
    }
    // SAFETY: these libc structs are plain old data; zeroed is a valid value, and
    // every pointer in them is set below before use.
    let mut hdrs: [libc::mmsghdr; MAX_BATCH] = unsafe { zeroed() };
    // SAFETY: as above.
    let mut iovs: [libc::iovec; MAX_BATCH] = unsafe { zeroed() };
    // SAFETY: as above.
    let mut addrs: [libc::sockaddr_storage; MAX_BATCH] = unsafe { zeroed() };
    // Room for one `UDP_GRO` control message (an int) per datagram; u64 elements give
    // the buffers cmsghdr's alignment.
    let mut control = [[0u64; 4]; MAX_BATCH];
    for (i, d) in dgrams[..want].iter_mut().enumerate() {
        let area = d.buf.recv_area(headroom);
        iovs[i] = libc::iovec {
            iov_base: area.as_mut_ptr().cast(),
            iov_len: area.len(),
        };
        let h = &mut hdrs[i].msg_hdr;
        h.msg_name = (&raw mut addrs[i]).cast();
        h.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        h.msg_iov = &raw mut iovs[i];
        h.msg_iovlen = 1;
        h.msg_control = control[i].as_mut_ptr().cast();
        h.msg_controllen = size_of_val(&control[i]) as _;
    }
    // SAFETY: `hdrs[..want]` point at live iovecs over the datagrams' receive areas
    // (each exclusively borrowed through `dgrams` for this call), at live
    // sockaddr_storage slots and control buffers of the sizes given; the kernel writes
    // only within them.
    let n = unsafe {
        libc::recvmmsg(
            fd,
            hdrs.as_mut_ptr(),
            want as libc::c_uint,
            libc::MSG_WAITFORONE | flags,
            std::ptr::null_mut(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = n as usize;
    for (i, d) in dgrams[..n].iter_mut().enumerate() {
        let h = &hdrs[i];
        d.buf.set_len(h.msg_len as usize);
        d.peer = from_sockaddr(&addrs[i], h.msg_hdr.msg_namelen).unwrap_or(d.peer);
        d.kind = if h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
            DatagramKind::Invalid
        } else {
            DatagramKind::Esp
        };
        let gro = gro_size(&h.msg_hdr);
        // A "coalesced" datagram no longer than one segment is just a datagram.
        d.gro_size = if usize::from(gro) < d.buf.len() {
            gro
        } else {
            0
        };
    }
    Ok(n)
}

/// The segment size of a `UDP_GRO` control message in a received `msghdr`, or 0.
// `msg_controllen` is a usize with glibc, a socklen_t with musl.
#[allow(clippy::unnecessary_cast)]
fn gro_size(msg: &libc::msghdr) -> u16 {
    if msg.msg_control.is_null() || (msg.msg_controllen as usize) < size_of::<libc::cmsghdr>() {
        return 0;
    }
    // SAFETY: the kernel filled `msg_controllen` octets of the control buffer with
    // well-formed cmsghdrs; CMSG_FIRSTHDR/CMSG_NXTHDR stay within that length and
    // return null at its end; the data of a UDP_GRO message is one int, read
    // unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_UDP
                && (*c).cmsg_type == libc::UDP_GRO
                && (*c).cmsg_len as usize >= libc::CMSG_LEN(size_of::<i32>() as u32) as usize
            {
                let v = libc::CMSG_DATA(c).cast::<i32>().read_unaligned();
                return u16::try_from(v).unwrap_or(0);
            }
            c = libc::CMSG_NXTHDR(msg, c);
        }
    }
    0
}

/// `sendmmsg` of all `dgrams`, [`MAX_BATCH`] per call, each as `prefix(d)` followed
/// by its buffer (two iovecs: the buffer is not touched). Returns how many were
/// sent; an error only if none was.
pub(crate) fn send_mmsg(
    fd: RawFd,
    dgrams: &[Datagram],
    prefix: fn(&Datagram) -> &'static [u8],
) -> io::Result<usize> {
    let mut sent = 0;
    while sent < dgrams.len() {
        let chunk = &dgrams[sent..dgrams.len().min(sent + MAX_BATCH)];
        // SAFETY: plain old data, zeroed is valid; pointers are set below.
        let mut hdrs: [libc::mmsghdr; MAX_BATCH] = unsafe { zeroed() };
        // SAFETY: as above.
        let mut iovs: [[libc::iovec; 2]; MAX_BATCH] = unsafe { zeroed() };
        // SAFETY: as above.
        let mut addrs: [libc::sockaddr_storage; MAX_BATCH] = unsafe { zeroed() };
        for (i, d) in chunk.iter().enumerate() {
            let pre = prefix(d);
            let body = d.buf.as_slice();
            iovs[i] = [
                libc::iovec {
                    iov_base: pre.as_ptr().cast_mut().cast(),
                    iov_len: pre.len(),
                },
                libc::iovec {
                    iov_base: body.as_ptr().cast_mut().cast(),
                    iov_len: body.len(),
                },
            ];
            let (sa, len) = to_sockaddr(&d.peer);
            addrs[i] = sa;
            let h = &mut hdrs[i].msg_hdr;
            h.msg_name = (&raw mut addrs[i]).cast();
            h.msg_namelen = len;
            h.msg_iov = iovs[i].as_mut_ptr();
            h.msg_iovlen = 2;
        }
        // SAFETY: every header points at live iovecs over borrowed, initialised
        // buffers (the kernel only reads them for sendmmsg) and at a live sockaddr
        // of the length given.
        let n = unsafe { libc::sendmmsg(fd, hdrs.as_mut_ptr(), chunk.len() as libc::c_uint, 0) };
        if n < 0 {
            let err = io::Error::last_os_error();
            return if sent > 0 { Ok(sent) } else { Err(err) };
        }
        sent += n as usize;
        if (n as usize) < chunk.len() {
            break;
        }
    }
    Ok(sent)
}

/// How often [`send_all`] and [`UdpEncapSocket::send_all_gso`] wait for a full socket
/// buffer ([`SEND_STALL_MS`] each) before they drop what still does not fit.
pub const SEND_STALLS: u32 = 3;
/// How long one such wait lasts at most, in milliseconds.
pub const SEND_STALL_MS: i32 = 10;

/// What a send of many datagrams did.
#[derive(Debug, Default)]
pub struct SendReport {
    /// Datagrams the kernel did not take (unreachable peer, no buffer space after
    /// [`SEND_STALLS`] waits ...): dropped.
    pub dropped: usize,
    /// Set when the kernel refused UDP GSO on this call (`EINVAL`, `EIO`,
    /// `ENOPROTOOPT`): the socket's `gso` switch is then off and the run went one by
    /// one.
    pub gso_refused: Option<io::Error>,
}

/// Waits until `fd` can take more, for at most [`SEND_STALL_MS`].
fn wait_writable(fd: BorrowedFd<'_>) {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid pollfd, alive for the call; the kernel writes only `revents`.
    // Its outcome does not matter: the caller tries to send again either way.
    let _ = unsafe { libc::poll(&raw mut pfd, 1, SEND_STALL_MS) };
}

/// Sends all of `out` in `sendmmsg` batches (each datagram framed by its kind). A
/// full socket buffer is waited out briefly ([`SEND_STALLS`]); a datagram the kernel
/// refuses is dropped and the rest are tried. Returns how many were dropped.
pub fn send_all<S: DatagramSink + AsFd>(sock: &mut S, out: &[Datagram]) -> usize {
    let mut sent = 0;
    let mut dropped = 0;
    let mut stalls = 0;
    while sent < out.len() {
        match sock.send_batch(&out[sent..]) {
            Ok(0) => break,
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && stalls < SEND_STALLS => {
                stalls += 1;
                wait_writable(sock.as_fd());
            }
            Err(_) => {
                // Unreachable peer, ENOBUFS...: drop this datagram, try the rest.
                dropped += 1;
                sent += 1;
            }
        }
    }
    dropped + (out.len() - sent)
}

impl UdpEncapSocket {
    /// Sends all of `out` like [`send_all`], but runs of equal-size ESP datagrams to
    /// one peer with UDP GSO ([`Self::send_gso`]: one system call and one pass
    /// through the kernel's UDP stack per run) while `gso` is set. When the kernel
    /// refuses GSO, `gso` is cleared for good, the run goes one by one and the report
    /// says why.
    pub fn send_all_gso(&mut self, out: &[Datagram], gso: &mut bool) -> SendReport {
        let mut report = SendReport::default();
        if !*gso {
            report.dropped = send_all(self, out);
            return report;
        }
        let mut segs: Vec<&[u8]> = Vec::with_capacity(GSO_MAX_SEGMENTS);
        let mut i = 0;
        while i < out.len() {
            let j = gso_run(&out[i..]) + i;
            if j - i < 2 || !*gso {
                report.dropped += send_all(self, &out[i..j]);
                i = j;
                continue;
            }
            segs.clear();
            segs.extend(out[i..j].iter().map(|d| d.buf.as_slice()));
            let mut stalls = 0;
            loop {
                match self.send_gso(out[i].peer, &segs) {
                    Ok(()) => break,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock && stalls < SEND_STALLS => {
                        stalls += 1;
                        wait_writable(self.as_fd());
                    }
                    Err(e)
                        if matches!(
                            e.raw_os_error(),
                            Some(libc::EINVAL | libc::EIO | libc::ENOPROTOOPT)
                        ) =>
                    {
                        *gso = false;
                        report.dropped += send_all(self, &out[i..j]);
                        report.gso_refused = Some(e);
                        break;
                    }
                    Err(_) => {
                        report.dropped += j - i;
                        break;
                    }
                }
            }
            i = j;
        }
        report
    }
}

/// How many datagrams from the start of `out` one GSO send can carry: ESP to the same
/// peer, the first one's length (the last may be shorter), within the kernel's
/// limits. Anything but ESP (which needs its own framing) goes alone.
pub(crate) fn gso_run(out: &[Datagram]) -> usize {
    let Some(first) = out.first() else {
        return 0;
    };
    if first.kind != DatagramKind::Esp {
        return 1;
    }
    let seg = first.buf.len();
    let mut total = seg;
    let mut n = 1;
    for d in &out[1..] {
        let len = d.buf.len();
        if n == GSO_MAX_SEGMENTS
            || d.kind != DatagramKind::Esp
            || d.peer != first.peer
            || len > seg
            || total + len > GSO_MAX_BYTES
        {
            break;
        }
        total += len;
        n += 1;
        if len < seg {
            break;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockaddr_round_trip() {
        for addr in [
            "192.0.2.7:4500",
            "0.0.0.0:0",
            "[2001:db8::1]:4500",
            "[fe80::1%3]:500",
        ] {
            let addr: SocketAddr = addr.parse().expect("address");
            let (storage, len) = to_sockaddr(&addr);
            assert_eq!(from_sockaddr(&storage, len), Some(addr));
            assert_eq!(from_sockaddr(&storage, len - 1), None, "short length");
        }
    }

    fn esp(peer: &str, len: usize) -> Datagram {
        let mut b = crate::PacketBuf::new();
        b.set_packet(0, &vec![0x55; len]);
        Datagram::to(peer.parse().expect("addr"), DatagramKind::Esp, b)
    }

    #[test]
    fn gso_runs_group_equal_sizes_of_esp_to_one_peer() {
        let p = "192.0.2.2:4500";
        let q = "192.0.2.3:4500";
        // Three full, one shorter (ends the run), then one more full.
        let out = vec![
            esp(p, 100),
            esp(p, 100),
            esp(p, 100),
            esp(p, 60),
            esp(p, 100),
        ];
        assert_eq!(gso_run(&out), 4);
        assert_eq!(gso_run(&out[4..]), 1);
        // Another peer or a longer datagram ends a run.
        assert_eq!(gso_run(&[esp(p, 100), esp(q, 100)]), 1);
        assert_eq!(gso_run(&[esp(p, 100), esp(p, 120)]), 1);
        // At most 64 segments and 65,000 octets.
        let many: Vec<Datagram> = (0..100).map(|_| esp(p, 100)).collect();
        assert_eq!(gso_run(&many), GSO_MAX_SEGMENTS);
        let big: Vec<Datagram> = (0..60).map(|_| esp(p, 1500)).collect();
        assert_eq!(gso_run(&big), GSO_MAX_BYTES / 1500);
        assert_eq!(gso_run(&[]), 0);
        // IKE needs its marker: never inside a run.
        let mut ike = esp(p, 100);
        ike.kind = DatagramKind::Ike;
        assert_eq!(gso_run(&[esp(p, 100), ike.clone(), esp(p, 100)]), 1);
        assert_eq!(gso_run(&[ike, esp(p, 100)]), 1);
    }

    #[test]
    fn send_all_gso_delivers_every_datagram_with_or_without_gso() {
        let rx = UdpEncapSocket::bind("127.0.0.1:0".parse().expect("addr"), false)
            .expect("bind receiver");
        rx.as_std()
            .set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .expect("timeout");
        let to = rx.local_addr().expect("addr").to_string();
        let mut tx =
            UdpEncapSocket::bind("127.0.0.1:0".parse().expect("addr"), false).expect("bind");
        // A run of three ESP datagrams (GSO when the kernel has it), then IKE alone.
        let mut out = vec![esp(&to, 100), esp(&to, 100), esp(&to, 80)];
        let mut ike = crate::PacketBuf::new();
        ike.set_packet(0, &[7; 28]);
        out.push(Datagram::to(
            to.parse().expect("addr"),
            DatagramKind::Ike,
            ike,
        ));
        for was in [true, false] {
            let mut gso = was;
            let report = tx.send_all_gso(&out, &mut gso);
            assert_eq!(report.dropped, 0);
            // Cleared exactly when the kernel refused, which the report says.
            assert_eq!(was && !gso, report.gso_refused.is_some());
            let mut got = Vec::new();
            let mut buf = [0u8; 2048];
            while got.len() < out.len() {
                let (n, _) = rx.as_std().recv_from(&mut buf).expect("datagram");
                got.push(buf[..n].to_vec());
            }
            assert_eq!(got[0], vec![0x55; 100]);
            assert_eq!(got[1], vec![0x55; 100]);
            assert_eq!(got[2], vec![0x55; 80]);
            assert_eq!(got[3][..4], [0, 0, 0, 0], "IKE gets the non-ESP marker");
            assert_eq!(got[3][4..], [7; 28]);
        }
    }
}
