//! Routes through the TUN device: for every installed (or trapped) child, its
//! remote_ts ranges are routed into the TUN with a source address of this host inside
//! its local_ts (so locally generated traffic matches the policy, as strongSwan's
//! table 220 routes do). Routes are reference-counted per (connection, child) and
//! removed when the last SA of the child goes (trap routes stay).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ikev2::ts::TrafficSelector;

/// One route: destination prefix and preferred source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Route {
    pub dst: IpAddr,
    pub prefix_len: u8,
    pub src: Option<IpAddr>,
}

/// The routes each child needs.
#[derive(Debug)]
pub struct RouteTable {
    backend: Option<crate::netlink::Routes>,
    ifindex: u32,
    /// Routes by owner (conn, child).
    owners: BTreeMap<(String, String), BTreeSet<Route>>,
    /// Children whose routes stay while trapped.
    trapped: BTreeSet<(String, String)>,
}

impl RouteTable {
    /// Routes via interface `ifindex`, installed with `backend` (none: routes are
    /// only computed and logged, for tests without privileges).
    pub fn new(backend: Option<crate::netlink::Routes>, ifindex: u32) -> Self {
        Self {
            backend,
            ifindex,
            owners: BTreeMap::new(),
            trapped: BTreeSet::new(),
        }
    }

    /// Routes for a child whose SA is installed.
    pub async fn child_up(
        &mut self,
        conn: &str,
        child: &str,
        local_ts: &[TrafficSelector],
        remote_ts: &[TrafficSelector],
    ) {
        let key = (conn.to_owned(), child.to_owned());
        let wanted = self.routes_for(local_ts, remote_ts).await;
        let old = self.owners.remove(&key).unwrap_or_default();
        for r in wanted.difference(&old) {
            self.add(*r).await;
        }
        for r in old.difference(&wanted) {
            self.del_if_unused(*r, &key).await;
        }
        self.owners.insert(key, wanted);
    }

    /// A trap policy's routes (they stay until shutdown).
    pub async fn trap(
        &mut self,
        conn: &str,
        child: &str,
        local_ts: &[TrafficSelector],
        remote_ts: &[TrafficSelector],
    ) {
        self.trapped.insert((conn.to_owned(), child.to_owned()));
        self.child_up(conn, child, local_ts, remote_ts).await;
    }

    /// The connection's trap policies are gone (reload): its children's routes stay
    /// only while they have SAs (`has_sa`).
    pub async fn untrap(&mut self, conn: &str, has_sa: impl Fn(&str) -> bool) {
        let children: Vec<String> = self
            .trapped
            .iter()
            .filter(|(c, _)| c == conn)
            .map(|(_, ch)| ch.clone())
            .collect();
        self.trapped.retain(|(c, _)| c != conn);
        for child in children {
            if !has_sa(&child) {
                self.child_down(conn, &child).await;
            }
        }
    }

    /// The child's last SA is gone.
    pub async fn child_down(&mut self, conn: &str, child: &str) {
        let key = (conn.to_owned(), child.to_owned());
        if self.trapped.contains(&key) {
            return;
        }
        if let Some(old) = self.owners.remove(&key) {
            for r in old {
                self.del_if_unused(r, &key).await;
            }
        }
    }

    /// Removes every route this table installed.
    pub async fn remove_all(&mut self) {
        let all: BTreeSet<Route> = self.owners.values().flatten().copied().collect();
        self.owners.clear();
        for r in all {
            self.del(r).await;
        }
    }

    async fn routes_for(
        &mut self,
        local_ts: &[TrafficSelector],
        remote_ts: &[TrafficSelector],
    ) -> BTreeSet<Route> {
        let addrs = match &self.backend {
            Some(b) => b.local_addresses().await.unwrap_or_default(),
            None => Vec::new(),
        };
        remote_ts
            .iter()
            .flat_map(|ts| ts.to_cidrs())
            .map(|(dst, prefix_len)| Route {
                dst,
                prefix_len,
                src: crate::netlink::pick_source(local_ts, &addrs, dst),
            })
            .collect()
    }

    async fn del_if_unused(&mut self, r: Route, except: &(String, String)) {
        let used = self
            .owners
            .iter()
            .any(|(k, set)| k != except && set.contains(&r));
        if !used {
            self.del(r).await;
        }
    }

    async fn add(&mut self, r: Route) {
        let shown = show(&r);
        match &mut self.backend {
            Some(b) => match b.add_route(r.dst, r.prefix_len, self.ifindex, r.src).await {
                Ok(_) => tracing::info!("route {shown} via TUN installed"),
                Err(e) => tracing::error!("cannot install route {shown}: {e}"),
            },
            None => tracing::info!("route {shown} (not installed: no netlink)"),
        }
    }

    async fn del(&mut self, r: Route) {
        let shown = show(&r);
        if let Some(b) = &mut self.backend {
            match b.del_route(r.dst, r.prefix_len, self.ifindex, r.src).await {
                Ok(_) => tracing::info!("route {shown} removed"),
                Err(e) => tracing::warn!("cannot remove route {shown}: {e}"),
            }
        }
    }
}

fn show(r: &Route) -> String {
    match r.src {
        Some(src) => format!("{}/{} src {src}", r.dst, r.prefix_len),
        None => format!("{}/{}", r.dst, r.prefix_len),
    }
}
