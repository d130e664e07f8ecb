//! Finding a dead peer faster than `dpd_delay` (the first step of a failover to the
//! next of `remote_addrs`): a liveness check when a tunnel sends and hears nothing
//! back (from the black-hole watch), and ICMP destination-unreachable reports from
//! the IKE and ESP-in-UDP sockets: one quoting our IKE_SA_INIT moves that setup on
//! to the next address (the endpoint checks both SPIs); one quoting our ESP asks for
//! a liveness check, since ICMP alone proves nothing.

use std::net::IpAddr;
use std::time::Instant;

use esp::io::errqueue::Unreachable;

use super::Supervisor;
use super::black_hole::LIVENESS_QUIET;

/// Where an ICMP error's quote came from, which says how to read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuoteFrom {
    /// The port-500 socket: an IKE message from its header on.
    Ike500,
    /// The port-4500 socket: an IKE message behind the non-ESP marker, or ESP.
    Udp4500,
}

impl Supervisor {
    /// A tunnel to `peer` sends and hears nothing back: check that the peer lives.
    pub(super) fn check_liveness(&mut self, peer: IpAddr, now: Instant) {
        let Some(id) = self.ike_sa_to(peer) else {
            return;
        };
        if let Ok(true) = self.endpoint.check_liveness(now, id, LIVENESS_QUIET) {
            tracing::info!(
                "IKE SA {id}: traffic to {peer} gets no answer for {} s: checking that the \
                 peer is alive",
                LIVENESS_QUIET.as_secs()
            );
            self.prewarm_standbys(id, now);
        }
    }

    /// A liveness check of IKE SA `id` is out: if its connection carries a standby
    /// pair's traffic, its cold standbys start now, in parallel with the check (the
    /// check's bound is the connection's `dpd_timeout`).
    fn prewarm_standbys(&mut self, id: ikev2::event::IkeSaId, now: Instant) {
        let live = self.endpoint.ike_sas();
        let Some(conn) = live.iter().find(|s| s.id == id).map(|s| s.conn.clone()) else {
            return;
        };
        let Some(cfg) = self.config.connections.iter().find(|c| c.name == conn) else {
            return;
        };
        let bound = cfg.dpd_timeout.unwrap_or(cfg.dpd_delay * 5);
        for standby in self.standbys.suspect(&conn, now + bound, now) {
            if live.iter().any(|s| s.conn == standby) {
                continue;
            }
            match self.initiate(&standby) {
                Ok(sa) => tracing::info!(
                    "{standby}: initiating IKE SA {sa} (cold standby of {conn}, whose peer \
                     may be dead)"
                ),
                Err(e) => tracing::error!("{standby}: cannot initiate the standby: {e}"),
            }
        }
    }

    /// An ICMP destination unreachable about a datagram we sent.
    pub(super) fn unreachable(&mut self, u: &Unreachable, from: QuoteFrom) {
        let now = Instant::now();
        let quoted = u.quoted();
        let ike = match from {
            QuoteFrom::Ike500 => Some(quoted),
            QuoteFrom::Udp4500 => quoted.strip_prefix(&[0u8; 4][..]),
        };
        let reporter = u.reporter.unwrap_or(u.peer.ip());
        match ike {
            Some(ike) => {
                if self
                    .endpoint
                    .peer_unreachable(now, u.peer, reporter, u.what, ike)
                {
                    tracing::debug!(
                        "ICMP {} from {reporter} for {} quotes our IKE_SA_INIT",
                        u.what,
                        u.peer
                    );
                }
            }
            // ESP to the peer: its IKE daemon may be gone.
            None => self.check_liveness(u.peer.ip(), now),
        }
    }
}
