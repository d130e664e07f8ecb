//! Routes through the TUN device, over rtnetlink (no `ip` commands).
//!
//! When a child SA is installed, the daemon routes its remote traffic selectors into
//! the TUN device, with a preferred source address taken from the child's local
//! selectors ([`pick_source`], like strongSwan's source address for its routes), so
//! that traffic the gateway itself originates matches the policy. [`Routes`] keeps
//! the list of routes this process installed, and [`Routes::remove_all_added`]
//! removes exactly those at shutdown.
//!
//! Routes go into the main table (protocol `static`, scope `link` for IPv4), and
//! replace an existing route for the same destination. Everything here needs
//! CAP_NET_ADMIN except the queries and the pure [`pick_source`].

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use futures_util::TryStreamExt as _;
use ikev2::ts::TrafficSelector;
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::packet_route::address::{AddressAttribute, AddressHeaderFlags};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope,
};
use rtnetlink::{Handle, LinkUnspec, RouteMessageBuilder};

/// `ESRCH`: the kernel's answer to deleting a route that does not exist.
const ESRCH: i32 = 3;

/// A failed netlink operation: what was tried and the kernel's (or the library's)
/// reason.
#[derive(Debug)]
pub struct NetlinkError {
    action: String,
    error: io::Error,
}

impl NetlinkError {
    fn new(action: impl Into<String>, error: io::Error) -> Self {
        Self {
            action: action.into(),
            error,
        }
    }

    fn from_rtnetlink(action: impl Into<String>, e: rtnetlink::Error) -> Self {
        let error = match e {
            rtnetlink::Error::NetlinkError(m) => m.to_io(),
            other => io::Error::other(other.to_string()),
        };
        Self::new(action, error)
    }

    /// The errno the kernel answered with, if it did.
    pub fn raw_os_error(&self) -> Option<i32> {
        self.error.raw_os_error()
    }

    /// The underlying error's kind (`PermissionDenied` without CAP_NET_ADMIN, ...).
    pub fn kind(&self) -> io::ErrorKind {
        self.error.kind()
    }
}

impl fmt::Display for NetlinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.action, self.error)
    }
}

impl std::error::Error for NetlinkError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// One route: `dst/prefix_len dev <ifindex> [src <src>]` in the main table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Route {
    /// The network address (host bits cleared).
    pub dst: IpAddr,
    pub prefix_len: u8,
    pub ifindex: u32,
    /// The preferred source address (`RTA_PREFSRC`).
    pub src: Option<IpAddr>,
}

impl Route {
    /// A route with the host bits of `dst` cleared; `None` if `prefix_len` is longer
    /// than the address or `src` is of the other family.
    pub fn new(dst: IpAddr, prefix_len: u8, ifindex: u32, src: Option<IpAddr>) -> Option<Self> {
        if src.is_some_and(|s| s.is_ipv4() != dst.is_ipv4()) {
            return None;
        }
        Some(Self {
            dst: network(dst, prefix_len)?,
            prefix_len,
            ifindex,
            src,
        })
    }

    /// Whether `other` is the same destination in the same table (what a replace
    /// overwrites).
    fn same_destination(&self, other: &Route) -> bool {
        self.dst == other.dst && self.prefix_len == other.prefix_len
    }
}

impl fmt::Display for Route {
    /// `10.2.0.0/24 dev #5 src 10.1.0.1`, like `ip route` with the ifindex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} dev #{}", self.dst, self.prefix_len, self.ifindex)?;
        if let Some(s) = self.src {
            write!(f, " src {s}")?;
        }
        Ok(())
    }
}

/// `addr` with the bits beyond `prefix_len` cleared; `None` if the prefix is longer
/// than the address.
pub fn network(addr: IpAddr, prefix_len: u8) -> Option<IpAddr> {
    match addr {
        IpAddr::V4(a) => {
            let host = u32::MAX.checked_shr(u32::from(prefix_len)).unwrap_or(0);
            (prefix_len <= 32).then(|| IpAddr::V4(Ipv4Addr::from(u32::from(a) & !host)))
        }
        IpAddr::V6(a) => {
            let host = u128::MAX.checked_shr(u32::from(prefix_len)).unwrap_or(0);
            (prefix_len <= 128).then(|| IpAddr::V6(Ipv6Addr::from(u128::from(a) & !host)))
        }
    }
}

/// The source address for a route to `dst` into a child SA: an address of this host
/// (`addresses`, as from [`Routes::local_addresses`], in kernel order) of `dst`'s
/// family that lies inside one of the child's local traffic selectors.
///
/// Loopback (`127/8`, `::1`), unspecified, multicast and IPv6 link-local addresses
/// never qualify; of the rest the first in `addresses` wins, trying the selectors
/// in order. `None` when no address fits (the route is then installed without a
/// source and the kernel picks one).
pub fn pick_source(
    local_ts: &[TrafficSelector],
    addresses: &[(IpAddr, u32)],
    dst: IpAddr,
) -> Option<IpAddr> {
    local_ts
        .iter()
        .filter(|ts| ts.is_ipv4() == dst.is_ipv4() && !ts.is_empty())
        .find_map(|ts| {
            addresses
                .iter()
                .map(|&(a, _)| a)
                .filter(|a| a.is_ipv4() == dst.is_ipv4() && usable_source(*a))
                .find(|&a| in_range(ts, a))
        })
}

fn usable_source(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v4) => !(v4.is_loopback() || v4.is_unspecified() || v4.is_multicast()),
        IpAddr::V6(v6) => {
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || v6.is_unicast_link_local())
        }
    }
}

/// Whether `a` is within the selector's address range (ports and protocol aside).
fn in_range(ts: &TrafficSelector, a: IpAddr) -> bool {
    let key = |x: IpAddr| match x {
        IpAddr::V4(v) => u128::from(u32::from(v)),
        IpAddr::V6(v) => u128::from(v),
    };
    ts.start.is_ipv4() == a.is_ipv4() && key(ts.start) <= key(a) && key(a) <= key(ts.end)
}

/// An rtnetlink connection plus the list of routes this process added.
#[derive(Debug)]
pub struct Routes {
    handle: Handle,
    connection: tokio::task::JoinHandle<()>,
    added: Vec<Route>,
}

impl Routes {
    /// Opens an rtnetlink socket (in the calling thread's network namespace) and
    /// spawns its driver on the current tokio runtime.
    pub async fn new() -> Result<Self, NetlinkError> {
        let (connection, handle, _) = rtnetlink::new_connection()
            .map_err(|e| NetlinkError::new("cannot open a netlink socket", e))?;
        Ok(Self {
            handle,
            connection: tokio::spawn(connection),
            added: Vec::new(),
        })
    }

    /// The index of the interface called `name`.
    pub async fn ifindex(&self, name: &str) -> Result<u32, NetlinkError> {
        let action = || format!("cannot find interface {name}");
        let link = self
            .handle
            .link()
            .get()
            .match_name(name.to_owned())
            .execute()
            .try_next()
            .await
            .map_err(|e| NetlinkError::from_rtnetlink(action(), e))?;
        link.map(|l| l.header.index)
            .ok_or_else(|| NetlinkError::new(action(), io::Error::from(io::ErrorKind::NotFound)))
    }

    /// Sets the interface up with the given MTU.
    pub async fn set_link_up_mtu(&self, ifindex: u32, mtu: u32) -> Result<(), NetlinkError> {
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(ifindex).up().mtu(mtu).build())
            .execute()
            .await
            .map_err(|e| {
                NetlinkError::from_rtnetlink(
                    format!("cannot set interface #{ifindex} up with MTU {mtu}"),
                    e,
                )
            })
    }

    /// Adds `addr/prefix_len` to the interface (replacing it if present; IPv6
    /// without duplicate address detection, so it is usable at once). Not tracked:
    /// addresses go away with the TUN device.
    pub async fn add_address(
        &self,
        ifindex: u32,
        addr: IpAddr,
        prefix_len: u8,
    ) -> Result<(), NetlinkError> {
        let mut req = self
            .handle
            .address()
            .add(ifindex, addr, prefix_len)
            .replace();
        if addr.is_ipv6() {
            req.message_mut().header.flags |= AddressHeaderFlags::Nodad;
        }
        req.execute().await.map_err(|e| {
            NetlinkError::from_rtnetlink(
                format!("cannot add address {addr}/{prefix_len} to interface #{ifindex}"),
                e,
            )
        })
    }

    /// Every address of this host with its interface index, in kernel order.
    pub async fn local_addresses(&self) -> Result<Vec<(IpAddr, u32)>, NetlinkError> {
        let msgs: Vec<_> = self
            .handle
            .address()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(|e| NetlinkError::from_rtnetlink("cannot list addresses", e))?;
        Ok(msgs
            .iter()
            .filter_map(|m| {
                // IFA_LOCAL is the local address on point-to-point links, where
                // IFA_ADDRESS is the peer; elsewhere only IFA_ADDRESS may be present
                let local = m.attributes.iter().find_map(|a| match a {
                    AddressAttribute::Local(ip) => Some(*ip),
                    _ => None,
                });
                let address = m.attributes.iter().find_map(|a| match a {
                    AddressAttribute::Address(ip) => Some(*ip),
                    _ => None,
                });
                local.or(address).map(|ip| (ip, m.header.index))
            })
            .collect())
    }

    /// Routes `dst/prefix_len` into interface `ifindex`, with `src` as the preferred
    /// source, replacing any route for the same destination in the main table. The
    /// route is remembered for [`Self::remove_all_added`].
    pub async fn add_route(
        &mut self,
        dst: IpAddr,
        prefix_len: u8,
        ifindex: u32,
        src: Option<IpAddr>,
    ) -> Result<Route, NetlinkError> {
        let route = checked_route(dst, prefix_len, ifindex, src)?;
        self.handle
            .route()
            .add(route_message(&route, false))
            .replace()
            .execute()
            .await
            .map_err(|e| NetlinkError::from_rtnetlink(format!("cannot add route {route}"), e))?;
        self.added.retain(|r| !r.same_destination(&route));
        self.added.push(route);
        Ok(route)
    }

    /// Deletes the route (matching destination, interface and, when given, source).
    /// Returns `false` if there was no such route.
    pub async fn del_route(
        &mut self,
        dst: IpAddr,
        prefix_len: u8,
        ifindex: u32,
        src: Option<IpAddr>,
    ) -> Result<bool, NetlinkError> {
        let route = checked_route(dst, prefix_len, ifindex, src)?;
        let found = self.delete(&route).await?;
        self.added.retain(|r| *r != route);
        Ok(found)
    }

    async fn delete(&self, route: &Route) -> Result<bool, NetlinkError> {
        match self
            .handle
            .route()
            .del(route_message(route, true))
            .execute()
            .await
        {
            Ok(()) => Ok(true),
            Err(rtnetlink::Error::NetlinkError(m)) if m.raw_code().abs() == ESRCH => Ok(false),
            Err(e) => Err(NetlinkError::from_rtnetlink(
                format!("cannot delete route {route}"),
                e,
            )),
        }
    }

    /// The routes this process added and has not deleted, oldest first.
    pub fn added(&self) -> &[Route] {
        &self.added
    }

    /// Deletes every route this process added (newest first). Routes already gone
    /// (their interface was removed, someone deleted them) are not an error. All
    /// are tried; the first failure is returned.
    pub async fn remove_all_added(&mut self) -> Result<(), NetlinkError> {
        let mut first_error = None;
        for route in std::mem::take(&mut self.added).into_iter().rev() {
            if let Err(e) = self.delete(&route).await {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The routes of the main table that leave through interface `ifindex`, IPv4
    /// then IPv6.
    pub async fn routes_via(&self, ifindex: u32) -> Result<Vec<Route>, NetlinkError> {
        let mut out = Vec::new();
        for msg in [
            RouteMessageBuilder::<Ipv4Addr>::new().build(),
            RouteMessageBuilder::<Ipv6Addr>::new().build(),
        ] {
            let msgs: Vec<RouteMessage> = self
                .handle
                .route()
                .get(msg)
                .execute()
                .try_collect()
                .await
                .map_err(|e| NetlinkError::from_rtnetlink("cannot list routes", e))?;
            out.extend(msgs.iter().filter_map(|m| parse_route(m, ifindex)));
        }
        Ok(out)
    }
}

impl Drop for Routes {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

fn checked_route(
    dst: IpAddr,
    prefix_len: u8,
    ifindex: u32,
    src: Option<IpAddr>,
) -> Result<Route, NetlinkError> {
    Route::new(dst, prefix_len, ifindex, src).ok_or_else(|| {
        let src = src.map(|s| format!(" src {s}")).unwrap_or_default();
        NetlinkError::new(
            format!("invalid route {dst}/{prefix_len} dev #{ifindex}{src}"),
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "prefix too long or source of the other address family",
            ),
        )
    })
}

/// The RTM_NEWROUTE / RTM_DELROUTE message for `route`. Deletion leaves protocol
/// and scope open (as `ip route del` does) so it matches what was added.
fn route_message(route: &Route, for_delete: bool) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = if route.dst.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    m.header.destination_prefix_length = route.prefix_len;
    m.header.table = RouteHeader::RT_TABLE_MAIN;
    m.header.kind = rtnetlink::packet_route::route::RouteType::Unicast;
    if for_delete {
        m.header.protocol = RouteProtocol::Unspec;
        m.header.scope = RouteScope::NoWhere;
    } else {
        m.header.protocol = RouteProtocol::Static;
        m.header.scope = if route.dst.is_ipv4() {
            RouteScope::Link
        } else {
            RouteScope::Universe
        };
    }
    m.attributes
        .push(RouteAttribute::Destination(RouteAddress::from(route.dst)));
    m.attributes.push(RouteAttribute::Oif(route.ifindex));
    if let Some(src) = route.src {
        m.attributes
            .push(RouteAttribute::PrefSource(RouteAddress::from(src)));
    }
    m
}

/// A main-table unicast route through `ifindex`, as a [`Route`].
fn parse_route(m: &RouteMessage, ifindex: u32) -> Option<Route> {
    let table = m
        .attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(m.header.table));
    if table != u32::from(RouteHeader::RT_TABLE_MAIN) {
        return None;
    }
    let oif = m.attributes.iter().find_map(|a| match a {
        RouteAttribute::Oif(i) => Some(*i),
        _ => None,
    })?;
    if oif != ifindex {
        return None;
    }
    let ip = |a: &RouteAddress| match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    };
    let dst = match m.attributes.iter().find_map(|a| match a {
        RouteAttribute::Destination(d) => Some(d),
        _ => None,
    }) {
        Some(d) => ip(d)?,
        None => match m.header.address_family {
            AddressFamily::Inet => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            AddressFamily::Inet6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            _ => return None,
        },
    };
    let src = m.attributes.iter().find_map(|a| match a {
        RouteAttribute::PrefSource(s) => ip(s),
        _ => None,
    });
    Some(Route {
        dst,
        prefix_len: m.header.destination_prefix_length,
        ifindex: oif,
        src,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    fn ts(s: &str) -> TrafficSelector {
        s.parse().expect("selector")
    }

    fn addrs() -> Vec<(IpAddr, u32)> {
        vec![
            (ip("127.0.0.1"), 1),
            (ip("::1"), 1),
            (ip("192.0.2.1"), 2),
            (ip("fe80::1"), 2),
            (ip("10.1.0.1"), 3),
            (ip("10.1.0.2"), 3),
            (ip("2001:db8:1::1"), 3),
            (ip("10.9.9.9"), 1), // a service address on lo
        ]
    }

    #[test]
    fn source_inside_local_ts() {
        let a = addrs();
        let dst4 = ip("10.2.0.0");
        let dst6 = ip("2001:db8:2::");
        assert_eq!(
            pick_source(&[ts("10.1.0.0/24")], &a, dst4),
            Some(ip("10.1.0.1"))
        );
        // a host selector (dynamic local_ts resolved to the IKE address)
        assert_eq!(
            pick_source(&[ts("192.0.2.1/32")], &a, dst4),
            Some(ip("192.0.2.1"))
        );
        // the first selector with a match wins, then kernel order
        assert_eq!(
            pick_source(&[ts("10.9.0.0/16"), ts("10.1.0.0/24")], &a, dst4),
            Some(ip("10.9.9.9"))
        );
        assert_eq!(
            pick_source(&[ts("2001:db8:1::/48"), ts("10.1.0.0/24")], &a, dst6),
            Some(ip("2001:db8:1::1"))
        );
        // family of the route decides
        assert_eq!(pick_source(&[ts("10.1.0.0/24")], &a, dst6), None);
        // nothing of ours inside
        assert_eq!(pick_source(&[ts("172.16.0.0/12")], &a, dst4), None);
        assert_eq!(pick_source(&[], &a, dst4), None);
        assert_eq!(pick_source(&[ts("10.1.0.0/24")], &[], dst4), None);
    }

    #[test]
    fn loopback_and_link_local_never_chosen() {
        let a = addrs();
        // 0.0.0.0/0 contains 127.0.0.1 first in kernel order, yet 192.0.2.1 is chosen
        assert_eq!(
            pick_source(&[ts("0.0.0.0/0")], &a, ip("10.2.0.0")),
            Some(ip("192.0.2.1"))
        );
        assert_eq!(
            pick_source(&[ts("::/0")], &a, ip("2001:db8:2::")),
            Some(ip("2001:db8:1::1"))
        );
        assert_eq!(pick_source(&[ts("127.0.0.0/8")], &a, ip("10.2.0.0")), None);
        assert_eq!(
            pick_source(&[ts("fe80::/10")], &a, ip("2001:db8:2::")),
            None
        );
    }

    #[test]
    fn ranges_not_only_cidrs() {
        let r = TrafficSelector::range(ip("10.1.0.2"), ip("10.1.0.5")).expect("range");
        assert_eq!(
            pick_source(&[r], &addrs(), ip("10.2.0.0")),
            Some(ip("10.1.0.2"))
        );
    }

    #[test]
    fn routes_are_normalized() {
        let r = Route::new(ip("10.2.3.4"), 16, 5, Some(ip("10.1.0.1"))).expect("route");
        assert_eq!(r.dst, ip("10.2.0.0"));
        assert_eq!(r.to_string(), "10.2.0.0/16 dev #5 src 10.1.0.1");
        assert_eq!(
            Route::new(ip("2001:db8::1"), 0, 5, None).map(|r| r.dst),
            Some(ip("::"))
        );
        assert_eq!(
            Route::new(ip("2001:db8::1"), 128, 5, None).map(|r| r.dst),
            Some(ip("2001:db8::1"))
        );
        assert!(Route::new(ip("10.0.0.0"), 33, 5, None).is_none());
        assert!(Route::new(ip("::"), 129, 5, None).is_none());
        assert!(Route::new(ip("10.0.0.0"), 8, 5, Some(ip("::1"))).is_none());
        assert_eq!(network(ip("10.255.255.255"), 0), Some(ip("0.0.0.0")));
        assert_eq!(
            network(ip("10.255.255.255"), 32),
            Some(ip("10.255.255.255"))
        );
    }

    #[test]
    fn messages_carry_the_route() {
        let r = Route::new(ip("10.2.0.0"), 24, 7, Some(ip("10.1.0.1"))).expect("route");
        let m = route_message(&r, false);
        assert_eq!(m.header.scope, RouteScope::Link);
        assert_eq!(m.header.protocol, RouteProtocol::Static);
        assert_eq!(parse_route(&m, 7), Some(r));
        assert_eq!(parse_route(&m, 8), None);
        let d = route_message(&r, true);
        assert_eq!(d.header.scope, RouteScope::NoWhere);
        let r6 = Route::new(ip("2001:db8:2::"), 64, 7, None).expect("route");
        let m6 = route_message(&r6, false);
        assert_eq!(m6.header.scope, RouteScope::Universe);
        assert_eq!(parse_route(&m6, 7), Some(r6));
    }
}
