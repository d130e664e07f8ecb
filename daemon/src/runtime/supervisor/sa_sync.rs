//! SA synchronisation between the endpoint and the data plane: the endpoint's events
//! become SA installs and removals in the workers (keyed here), routes, log lines and
//! entries in the book; the workers' per-direction usage reports go back to the
//! endpoint as one report per CHILD SA pair. The endpoint keeps the protocol's view
//! of every CHILD SA; [`ChildPairs`] keeps only what pairing the two directions and
//! the routes need, and the outbound SAs waiting for a rekey's switch.

use std::collections::HashMap;
use std::time::Instant;

use esp::counters::{Direction, Lifetime, SaEvent};
use esp::{InboundSa, OutboundSa, SaConfig, Spi};
use ikev2::UsageReport;
use ikev2::event::{ChildSaInstalled, Event, Failure};
use rand_core::OsRng;

use super::super::book::{esp_proposal, ike_proposal};
use super::super::dataplane::mtu::{TunnelMtu, outer_path};
use super::super::dataplane::{
    Dest, InboundCmd, InboundInstall, MssPolicy, OutboundCmd, OutboundInstall, SaReport,
};
use super::Supervisor;

/// One CHILD SA pair in the data plane.
#[derive(Debug)]
struct Pair {
    conn: String,
    child: String,
    spi_out: u32,
    /// The outbound SA of a rekey, keyed but not installed until the endpoint says
    /// the switch is due.
    parked: Option<OutboundInstall>,
    /// When the inbound SA last passed a packet, as its worker last reported.
    last_inbound: Option<Instant>,
}

/// The CHILD SA pairs installed in the data plane, by inbound SPI, with the way from
/// an outbound SPI to its pair.
#[derive(Debug, Default)]
pub(super) struct ChildPairs {
    by_in: HashMap<u32, Pair>,
    out_to_in: HashMap<u32, u32>,
}

impl ChildPairs {
    /// A pair now in the data plane (its outbound SA `parked` until the switch, if
    /// given).
    fn insert(
        &mut self,
        spi_in: u32,
        spi_out: u32,
        conn: &str,
        child: &str,
        parked: Option<OutboundInstall>,
    ) {
        self.by_in.insert(
            spi_in,
            Pair {
                conn: conn.to_owned(),
                child: child.to_owned(),
                spi_out,
                parked,
                last_inbound: None,
            },
        );
        self.out_to_in.insert(spi_out, spi_in);
    }

    /// The parked outbound SA of the pair with `spi_in`, taken out to install.
    fn take_parked(&mut self, spi_in: u32) -> Option<OutboundInstall> {
        self.by_in.get_mut(&spi_in)?.parked.take()
    }

    /// Forgets a deleted pair; whether its outbound SA was still parked (so the
    /// outbound worker never had it).
    fn remove(&mut self, spi_in: u32, spi_out: u32) -> bool {
        self.out_to_in.remove(&spi_out);
        self.by_in
            .remove(&spi_in)
            .is_some_and(|p| p.parked.is_some())
    }

    /// Whether `conn`'s `child` has a pair whose outbound SA is in the data plane.
    pub(super) fn sends(&self, conn: &str, child: &str) -> bool {
        self.by_in
            .values()
            .any(|p| p.conn == conn && p.child == child && p.parked.is_none())
    }

    /// Outbound SAs `spis` (parked ones too) now go to `peer`.
    fn moved(&mut self, spis: &[u32], peer: std::net::SocketAddr) {
        for p in self.by_in.values_mut() {
            if let Some(install) = p.parked.as_mut().filter(|_| spis.contains(&p.spi_out)) {
                install.dest = install.dest.moved_to(peer);
            }
        }
    }

    /// The outbound SPIs of `conn` in the data plane (not parked).
    pub(super) fn outbound_spis(&self, conn: &str) -> Vec<u32> {
        self.by_in
            .values()
            .filter(|p| p.conn == conn && p.parked.is_none())
            .map(|p| p.spi_out)
            .collect()
    }

    /// Whether some pair of `conn`'s `child` is in the data plane.
    pub(super) fn carries(&self, conn: &str, child: &str) -> bool {
        self.by_in
            .values()
            .any(|p| p.conn == conn && p.child == child)
    }

    /// The (inbound, outbound) SPIs of the pair an SA of `direction` with `spi`
    /// belongs to.
    pub(super) fn pair_of(&self, direction: Direction, spi: u32) -> Option<(u32, u32)> {
        let spi_in = match direction {
            Direction::Inbound => spi,
            Direction::Outbound => *self.out_to_in.get(&spi)?,
        };
        self.by_in.get(&spi_in).map(|p| (spi_in, p.spi_out))
    }

    /// Records when the inbound SA `spi_in` last passed a packet.
    fn saw_inbound(&mut self, spi_in: u32, last_packet: Option<Instant>) {
        if let Some(p) = self.by_in.get_mut(&spi_in) {
            p.last_inbound = last_packet;
        }
    }

    /// When the inbound SA `spi_in` last passed a packet, as last reported.
    fn last_inbound(&self, spi_in: u32) -> Option<Instant> {
        self.by_in.get(&spi_in).and_then(|p| p.last_inbound)
    }
}

impl Supervisor {
    /// Acts on one endpoint event; true if the data plane was changed.
    pub(super) async fn event(&mut self, ev: Event) -> bool {
        let now = Instant::now();
        match ev {
            Event::IkeSaUp(up) => {
                tracing::info!(
                    "{}: IKE SA {} established with {} [{}] ({}){}, SPIs {:016x}_i {:016x}_r",
                    up.conn,
                    up.ike_sa,
                    up.remote,
                    up.remote_id,
                    ike_proposal(&up.suite),
                    nat_note(up.nat.local_behind_nat, up.nat.remote_behind_nat),
                    up.spi_i.0,
                    up.spi_r.0,
                );
                self.book.ike_up(&up.conn, up.ike_sa, now);
                false
            }
            Event::IkeSaDown(down) => {
                tracing::info!(
                    "{}: IKE SA {} down: {}",
                    down.conn,
                    down.ike_sa,
                    down.reason
                );
                self.book.ike_down(&down.conn, down.ike_sa, &down.reason);
                false
            }
            Event::IkeSaRekeyed(r) => {
                tracing::info!(
                    "{}: IKE SA {} rekeyed, new SPIs {:016x}_i {:016x}_r",
                    r.conn,
                    r.ike_sa,
                    r.spi_i.0,
                    r.spi_r.0
                );
                self.book.ike_rekeyed(&r.conn, r.ike_sa);
                false
            }
            Event::IkeSaKeys(k) => {
                if let Some(x) = self.exporting()
                    && let Err(e) = x.ike(&k)
                {
                    tracing::warn!("{}: IKE keys not exported: {e}", k.conn);
                }
                false
            }
            Event::ChildSaInstalled(c) => {
                if let Some(x) = self.exporting()
                    && let Err(e) = x.esp(&c)
                {
                    tracing::warn!("{}/{}: ESP keys not exported: {e}", c.conn, c.child);
                }
                self.child_installed(*c).await;
                self.answer_waiters();
                true
            }
            Event::ChildSaOutboundSwitched(s) => {
                if let Some(mut install) = self.pairs.take_parked(s.spi_in) {
                    install.replaces = (s.old_spi_out != 0).then_some(s.old_spi_out);
                    install.active = !self.standbys.idle(&s.conn);
                    self.data.outbound(OutboundCmd::Install(Box::new(install)));
                    tracing::info!(
                        "{}/{}: outbound traffic moved to SPI {:08x} (was {:08x})",
                        s.conn,
                        s.child,
                        s.spi_out,
                        s.old_spi_out
                    );
                }
                true
            }
            Event::ChildSaDeleted(d) => {
                tracing::info!(
                    "{}/{}: CHILD SA {:08x}_i {:08x}_o deleted",
                    d.conn,
                    d.child,
                    d.spi_in,
                    d.spi_out
                );
                self.data.inbound(InboundCmd::Remove { spi: d.spi_in });
                if !self.pairs.remove(d.spi_in, d.spi_out) {
                    self.data.outbound(OutboundCmd::Remove { spi: d.spi_out });
                }
                if !self.pairs.carries(&d.conn, &d.child) {
                    self.routes.child_down(&d.conn, &d.child).await;
                }
                true
            }
            Event::Trap { conn } => {
                tracing::info!(
                    "{conn}: peer is gone; trap installed, the next packet re-initiates"
                );
                self.install_trap(&conn).await;
                true
            }
            Event::Failed(f) => {
                self.failed(&f);
                false
            }
            Event::PathProbed(p) => {
                self.path_probed(&p);
                false
            }
            Event::PeerAddressChanged(p) => {
                tracing::info!(
                    "{}: the peer's address changed from {} to {} (its NAT gave it a new \
                     mapping, RFC 7296 section 2.23): IKE and ESP follow",
                    p.conn,
                    p.old,
                    p.new
                );
                self.book.peer_moved(&p.conn);
                self.pairs.moved(&p.spis_out, p.new);
                self.data.outbound(OutboundCmd::SetPeer {
                    spis: p.spis_out,
                    peer: p.new,
                });
                true
            }
            Event::Resolve { conn, names } => {
                self.resolve(conn, names);
                false
            }
            Event::Reconnected(r) => {
                if r.is_failover() {
                    tracing::warn!("{r}");
                } else {
                    tracing::info!("{r}");
                }
                self.book.reconnected(&r);
                false
            }
            other => {
                tracing::debug!("event {other:?}");
                false
            }
        }
    }

    fn failed(&mut self, f: &Failure) {
        if f.ike_sa_kept {
            tracing::warn!("{f}");
        } else {
            tracing::error!("{f}");
        }
        self.book.failed(f);
        // A setup moving on to the next address goes on: `up` waits for it.
        if let Some(conn) = f.conn.as_ref().filter(|_| f.next_remote.is_none()) {
            self.fail_waiters(conn, &f.to_string());
        }
    }

    async fn child_installed(&mut self, c: ChildSaInstalled) {
        let Some(child_cfg) = self
            .config
            .connections
            .iter()
            .find(|x| x.name == c.conn)
            .and_then(|x| x.children.iter().find(|ch| ch.name == c.child))
        else {
            return;
        };
        let lifetime = Lifetime {
            soft_bytes: nonzero(child_cfg.rekey_bytes),
            hard_bytes: nonzero(child_cfg.life_bytes),
            soft_packets: nonzero(child_cfg.rekey_packets),
            hard_packets: nonzero(child_cfg.life_packets),
        };
        let integ =
            |k: &ikev2::crypto::secret::SecretBytes| c.suite.integ.is_some().then(|| k.clone());
        let in_cfg = SaConfig::new(
            Spi(c.spi_in),
            c.suite,
            c.keys.encr_in.clone(),
            integ(&c.keys.integ_in),
        )
        .with_lifetime(lifetime)
        .with_replay_window(child_cfg.replay_window);
        let out_cfg = SaConfig::new(
            Spi(c.spi_out),
            c.suite,
            c.keys.encr_out.clone(),
            integ(&c.keys.integ_out),
        )
        .with_lifetime(lifetime);
        let inbound = match InboundSa::new(&in_cfg) {
            Ok(sa) => sa,
            Err(e) => {
                tracing::error!("{}/{}: cannot key inbound SA: {e}", c.conn, c.child);
                return;
            }
        };
        let outbound = match OutboundSa::new(&out_cfg, &mut OsRng) {
            Ok(sa) => sa,
            Err(e) => {
                tracing::error!("{}/{}: cannot key outbound SA: {e}", c.conn, c.child);
                return;
            }
        };
        let Some(dest) = self.dest(&c) else {
            // The SA cannot carry traffic here: say why and take it down again rather
            // than leave a tunnel that silently drops everything.
            let reason = format!(
                "CHILD SA {}: no socket to send ESP from {} (raw ESP needs CAP_NET_RAW; \
                 encap = true forces ESP in UDP)",
                c.child, c.local
            );
            tracing::error!("{}: {reason}", c.conn);
            self.book.error(&c.conn, "CREATE_CHILD_SA", reason);
            if let Err(e) = self.endpoint.delete_child(Instant::now(), c.spi_in) {
                tracing::warn!(
                    "{}/{}: cannot delete the unusable CHILD SA: {e}",
                    c.conn,
                    c.child
                );
            }
            return;
        };
        tracing::info!(
            "{}/{}: CHILD SA installed{}, SPIs {:08x}_i {:08x}_o, {} === {} ({}{})",
            c.conn,
            c.child,
            if c.rekey_of.is_some() { " (rekey)" } else { "" },
            c.spi_in,
            c.spi_out,
            ikev2::ts::describe_list(&c.local_ts),
            ikev2::ts::describe_list(&c.remote_ts),
            esp_proposal(&c.suite),
            if c.encap { ", ESP in UDP" } else { "" },
        );
        let mtu = child_cfg.mtu.unwrap_or(self.config.daemon.mtu);
        let (peer, outer) = outer_path(&dest);
        let path_mtu = self.path_mtus.get(peer).mtu;
        let tunnel = TunnelMtu::new(
            mtu,
            path_mtu,
            outer,
            outbound.cipher().overhead(),
            MssPolicy::from(self.config.daemon.mss_clamp),
        );
        self.book.child_installed(
            &c.conn,
            &c.child,
            c.spi_in,
            c.spi_out,
            c.rekey_of.is_some(),
            (peer, tunnel),
        );
        if c.encap {
            // Probes are IKE datagrams: they share the outer path of ESP only on
            // port 4500 (the port-500 socket sends without DF).
            self.maybe_search_path(c.ike_sa, peer, tunnel.needed_path(), Instant::now());
        }
        self.data
            .inbound(InboundCmd::Install(Box::new(InboundInstall {
                spi: c.spi_in,
                sa: inbound,
                local_ts: c.local_ts.clone(),
                remote_ts: c.remote_ts.clone(),
                dest,
                mtu,
                path_mtu,
            })));
        let install = OutboundInstall {
            spi: c.spi_out,
            sa: outbound,
            local_ts: c.local_ts.clone(),
            remote_ts: c.remote_ts.clone(),
            dest,
            replaces: None,
            mtu,
            path_mtu,
            active: !self.standbys.idle(&c.conn),
        };
        let parked = if c.outbound {
            self.data.outbound(OutboundCmd::Install(Box::new(install)));
            None
        } else {
            Some(install)
        };
        self.pairs
            .insert(c.spi_in, c.spi_out, &c.conn, &c.child, parked);
        self.routes
            .child_up(&c.conn, &c.child, &c.local_ts, &c.remote_ts)
            .await;
    }

    fn dest(&self, c: &ChildSaInstalled) -> Option<Dest> {
        let sock = self
            .sockets
            .iter()
            .position(|s| s.addr == c.local.ip())
            .or(if self.sockets.len() == 1 {
                Some(0)
            } else {
                None
            })?;
        if c.encap {
            Some(Dest::Udp {
                sock,
                peer: c.remote,
            })
        } else {
            self.data.has_raw(sock).then_some(Dest::Raw {
                sock,
                peer: c.remote.ip(),
            })
        }
    }

    pub(super) fn usage(&mut self, reports: &[SaReport]) {
        let now = Instant::now();
        for r in reports {
            self.book.usage(r, now);
            let spi = r.usage.spi.0;
            if let Some(gap) = &r.gap {
                self.inbound_gap(spi, gap);
            }
            let Some((spi_in, spi_out)) = self.pairs.pair_of(r.usage.direction, spi) else {
                continue;
            };
            if r.removed {
                continue;
            }
            let in_t = self.book.sa_traffic(Direction::Inbound, spi_in);
            let out_t = self.book.sa_traffic(Direction::Outbound, spi_out);
            let last_inbound = match r.usage.direction {
                Direction::Inbound => {
                    self.pairs.saw_inbound(spi_in, r.last_packet);
                    r.last_packet
                }
                Direction::Outbound => self.pairs.last_inbound(spi_in),
            };
            let has = |e: SaEvent| r.events.contains(&e);
            self.endpoint.handle_usage(
                now,
                UsageReport {
                    spi_in,
                    spi_out,
                    bytes: in_t.bytes.max(out_t.bytes),
                    packets: in_t.packets.max(out_t.packets),
                    last_inbound,
                    soft_limit_reached: has(SaEvent::SoftLifetime),
                    hard_limit_reached: has(SaEvent::HardLifetime),
                    seq_exhausted: has(SaEvent::SeqNearExhaustion) || has(SaEvent::SeqExhausted),
                },
            );
        }
    }
}

fn nonzero(v: u64) -> Option<u64> {
    (v != 0).then_some(v)
}

fn nat_note(here: bool, there: bool) -> &'static str {
    match (here, there) {
        (false, false) => "",
        (true, false) => ", we are behind a NAT",
        (false, true) => ", peer behind a NAT (or faking it to force UDP encapsulation)",
        (true, true) => ", NAT on both sides",
    }
}
