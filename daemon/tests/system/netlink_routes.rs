//! Routes through a TUN device over rtnetlink, in a private network namespace: add
//! with a preferred source, read back, replace, delete, and remove what was added.
//!
//! Needs CAP_NET_ADMIN and /dev/net/tun (IPv6 for one test): in CI anything missing
//! fails the test, elsewhere it is skipped with a message (`test_support::require`).
//!
//! The namespace belongs to one test thread (`unshare(CLONE_NEWNET)` affects the
//! calling thread only), and the netlink socket and the TUN device are created on
//! that thread, so they live in it. When the thread ends, the namespace and
//! everything in it go away.

use std::net::IpAddr;

use esp::io::Tun;
use ikev2::ts::TrafficSelector;
use ikev2d::netlink::{Route, Routes, pick_source};
use nix::sched::{CloneFlags, unshare};

use test_support::{Missing, require, tun};

/// Runs the async `f` on a fresh thread, in a fresh network namespace, on a
/// current-thread runtime; re-raises its panic.
fn in_fresh_netns<F, Fut>(f: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let handle = std::thread::spawn(move || {
        unshare(CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(f());
    });
    if let Err(panic) = handle.join() {
        std::panic::resume_unwind(panic);
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}

/// The IPv4 routes through `ifindex` (the kernel adds an IPv6 `fe80::/64` route of
/// its own to a TUN device that is up).
async fn v4_routes(routes: &Routes, ifindex: u32) -> Vec<Route> {
    let mut all = routes.routes_via(ifindex).await.expect("list routes");
    all.retain(|r| r.dst.is_ipv4());
    all
}

/// IPv6 is enabled in this kernel.
fn ipv6_available() -> Result<(), Missing> {
    if std::path::Path::new("/proc/net/if_inet6").exists() {
        Ok(())
    } else {
        Err(Missing::new(
            "IPv6 (no /proc/net/if_inet6)",
            "a kernel with IPv6 enabled (ipv6.disable=0)",
        ))
    }
}

#[test]
fn add_read_back_delete() {
    if require("add_read_back_delete", tun()).is_none() {
        return;
    }
    in_fresh_netns(|| async {
        let mut routes = Routes::new().await.expect("netlink socket");
        let tun = Tun::create("ikt%d").expect("create TUN");
        let tun_idx = routes.ifindex(tun.name()).await.expect("TUN ifindex");
        let lo = routes.ifindex("lo").await.expect("lo ifindex");
        assert!(routes.ifindex("no-such-if0").await.is_err());
        routes.set_link_up_mtu(lo, 65536).await.expect("lo up");
        routes.set_link_up_mtu(tun_idx, 1400).await.expect("TUN up");
        assert_eq!(tun.mtu().expect("mtu"), 1400);

        // the gateway's inside address (a service address on lo)
        routes
            .add_address(lo, ip("10.1.0.1"), 32)
            .await
            .expect("address on lo");
        let addrs = routes.local_addresses().await.expect("addresses");
        assert!(addrs.contains(&(ip("10.1.0.1"), lo)), "{addrs:?}");
        let local_ts: Vec<TrafficSelector> = vec!["10.1.0.0/24".parse().expect("ts")];
        let src = pick_source(&local_ts, &addrs, ip("10.2.0.0"));
        assert_eq!(src, Some(ip("10.1.0.1")));

        // add (host bits cleared), read back
        let r = routes
            .add_route(ip("10.2.0.7"), 24, tun_idx, src)
            .await
            .expect("add route");
        let want = Route {
            dst: ip("10.2.0.0"),
            prefix_len: 24,
            ifindex: tun_idx,
            src: Some(ip("10.1.0.1")),
        };
        assert_eq!(r, want);
        assert_eq!(v4_routes(&routes, tun_idx).await, [want]);
        assert_eq!(routes.added(), [want]);

        // adding again replaces (no EEXIST), here without a source
        routes
            .add_route(ip("10.2.0.0"), 24, tun_idx, None)
            .await
            .expect("replace route");
        let no_src = Route { src: None, ..want };
        assert_eq!(v4_routes(&routes, tun_idx).await, [no_src]);
        assert_eq!(routes.added(), [no_src]);

        // delete, and a second delete finds nothing
        assert!(
            routes
                .del_route(ip("10.2.0.0"), 24, tun_idx, None)
                .await
                .expect("delete")
        );
        assert!(v4_routes(&routes, tun_idx).await.is_empty());
        assert!(routes.added().is_empty());
        assert!(
            !routes
                .del_route(ip("10.2.0.0"), 24, tun_idx, None)
                .await
                .expect("delete again")
        );

        // invalid input is an error, not a panic
        assert!(
            routes
                .add_route(ip("10.2.0.0"), 33, tun_idx, None)
                .await
                .is_err()
        );
        assert!(
            routes
                .add_route(ip("10.2.0.0"), 24, tun_idx, Some(ip("fd00::1")))
                .await
                .is_err()
        );
        drop(tun);
    });
}

#[test]
fn ipv6_route_with_virtual_ip_on_the_tun() {
    if require("ipv6_route_with_virtual_ip_on_the_tun", tun()).is_none() {
        return;
    }
    if require("ipv6_route_with_virtual_ip_on_the_tun", ipv6_available()).is_none() {
        return;
    }
    in_fresh_netns(|| async {
        let mut routes = Routes::new().await.expect("netlink socket");
        let tun = Tun::create("ikt%d").expect("create TUN");
        let tun_idx = routes.ifindex(tun.name()).await.expect("TUN ifindex");
        routes.set_link_up_mtu(tun_idx, 1400).await.expect("TUN up");
        routes
            .add_address(tun_idx, ip("fd00:1::5"), 128)
            .await
            .expect("address on the TUN");
        let addrs = routes.local_addresses().await.expect("addresses");
        let local_ts: Vec<TrafficSelector> = vec!["fd00:1::/64".parse().expect("ts")];
        let src = pick_source(&local_ts, &addrs, ip("fd00:2::"));
        assert_eq!(src, Some(ip("fd00:1::5")));

        routes
            .add_route(ip("fd00:2::"), 64, tun_idx, src)
            .await
            .expect("add route");
        let want = Route {
            dst: ip("fd00:2::"),
            prefix_len: 64,
            ifindex: tun_idx,
            src,
        };
        let listed = routes.routes_via(tun_idx).await.expect("list");
        assert!(listed.contains(&want), "{listed:?}");
        assert!(
            routes
                .del_route(ip("fd00:2::"), 64, tun_idx, src)
                .await
                .expect("delete")
        );
        let listed = routes.routes_via(tun_idx).await.expect("list");
        assert!(!listed.contains(&want), "{listed:?}");
        drop(tun);
    });
}

#[test]
fn remove_all_added_removes_only_ours() {
    if require("remove_all_added_removes_only_ours", tun()).is_none() {
        return;
    }
    in_fresh_netns(|| async {
        let mut routes = Routes::new().await.expect("netlink socket");
        let tun = Tun::create("ikt%d").expect("create TUN");
        let tun_idx = routes.ifindex(tun.name()).await.expect("TUN ifindex");
        routes.set_link_up_mtu(tun_idx, 1400).await.expect("TUN up");

        // a route someone else installed, through another handle
        let mut other = Routes::new().await.expect("netlink socket");
        other
            .add_route(ip("172.16.0.0"), 12, tun_idx, None)
            .await
            .expect("foreign route");

        for (dst, len) in [("10.2.0.0", 24), ("10.3.0.0", 16), ("192.0.2.128", 25)] {
            routes
                .add_route(ip(dst), len, tun_idx, None)
                .await
                .expect("add route");
        }
        assert_eq!(v4_routes(&routes, tun_idx).await.len(), 4);
        // one of ours disappears behind our back: not an error at cleanup
        other
            .del_route(ip("10.3.0.0"), 16, tun_idx, None)
            .await
            .expect("delete");

        routes.remove_all_added().await.expect("cleanup");
        assert!(routes.added().is_empty());
        assert_eq!(
            v4_routes(&routes, tun_idx).await,
            [Route {
                dst: ip("172.16.0.0"),
                prefix_len: 12,
                ifindex: tun_idx,
                src: None,
            }]
        );
        drop(tun);
    });
}
