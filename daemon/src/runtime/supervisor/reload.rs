//! SIGHUP: the configuration read again and applied to the running daemon (what
//! needs a restart is only warned about), and the endpoint given the configuration
//! with the active break-glass connections loaded.

use std::sync::Arc;
use std::time::Instant;

use super::super::dataplane::OutboundCmd;
use super::Supervisor;
use super::admission::DRAIN_TIME;
use crate::config::DaemonConfig;

impl Supervisor {
    /// SIGHUP: reads the configuration again. Connections that are new or changed
    /// start per their `start_action`; removed and changed ones lose their SAs (DELETE
    /// sent); unchanged ones keep their SAs, and so do those with new certificates,
    /// keys, CAs or CRLs only (new IKE SAs use them). A file that does not load leaves the
    /// running configuration in place.
    pub(super) async fn reload(&mut self) {
        let new = match DaemonConfig::load(&self.config_path) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(
                    "SIGHUP: {} not reloaded, the running configuration stays: {}",
                    self.config_path.display(),
                    super::super::one_line(&e)
                );
                return;
            }
        };
        if new.control != self.config.control {
            tracing::warn!("SIGHUP: [control] changed; it takes effect at the next restart");
        }
        let old = &self.config.daemon;
        let d = &new.daemon;
        for (what, differs) in [
            ("tun_name", old.tun_name != d.tun_name),
            ("mtu", old.mtu != d.mtu),
            ("path_mtu", old.path_mtu != d.path_mtu),
            ("mss_clamp", old.mss_clamp != d.mss_clamp),
            ("control_socket", old.control_socket != d.control_socket),
        ] {
            if differs {
                tracing::warn!(
                    "SIGHUP: [daemon].{what} changed; it takes effect at the next restart"
                );
            }
        }
        for conn in &new.connections {
            for a in &conn.local_addrs {
                if !self
                    .sockets
                    .iter()
                    .any(|s| s.addr == *a || s.addr.is_unspecified())
                {
                    tracing::warn!(
                        "SIGHUP: {}: no socket on local address {a}; it is bound at the next restart",
                        conn.name
                    );
                }
            }
        }
        let now = Instant::now();
        self.end_changed_activations(&new);
        self.reload_key_export(&new);
        self.config = Arc::new(new);
        self.standbys = super::standby::StandbyGroups::from_config(&self.config, &self.standbys);
        // Names may have been added: resolve them now, not in up to a minute.
        self.names_refreshed = None;
        self.credentials_checked = None;
        self.refresh_names(now);
        let summary = self.apply_endpoint_config(now).await;
        self.reapply_keep_alives();
        // Their IKE SAs are being deleted: let the peers' answers to our DELETEs
        // through the peer filter, which no longer admits a removed connection's peers.
        for name in summary.removed.iter().chain(&summary.changed) {
            self.drain_peers_of(name);
        }
        tracing::info!(
            "SIGHUP: configuration reloaded: added {:?}, removed {:?}, changed {:?}, new credentials (SAs kept) {:?}, unchanged {:?}",
            summary.added,
            summary.removed,
            summary.changed,
            summary.credentials,
            summary.unchanged
        );
        let config = Arc::clone(&self.config);
        for conn in config
            .connections
            .iter()
            .filter(|c| summary.added.contains(&c.name) || summary.changed.contains(&c.name))
            .filter(|c| c.standby.is_none())
        {
            self.start_action(conn, " (reload)").await;
        }
    }

    /// Lets the peers of `conn`'s IKE SAs through the peer filter for a while
    /// after the connection is unloaded, so the DELETE exchange can finish.
    pub(in crate::runtime) fn drain_peers_of(&mut self, conn: &str) {
        let until = Instant::now() + DRAIN_TIME;
        for sa in self.endpoint.ike_sas().iter().filter(|s| s.conn == conn) {
            self.admission.drain(sa.remote.ip(), until);
        }
    }

    /// Gives the endpoint the configuration with the active break-glass connections
    /// loaded; removed and changed connections lose their trap policies.
    pub(in crate::runtime) async fn apply_endpoint_config(
        &mut self,
        now: Instant,
    ) -> ikev2::ReloadSummary {
        let psks = self.break_glass_psks();
        let summary = self
            .endpoint
            .reload(now, Arc::new(self.config.to_endpoint_config_with(&psks)));
        for conn in summary.removed.iter().chain(&summary.changed) {
            let pairs = &self.pairs;
            self.routes
                .untrap(conn, |child| pairs.carries(conn, child))
                .await;
            self.traps.retain(|t| t.conn != *conn);
        }
        self.data
            .outbound(OutboundCmd::SetTraps(self.traps.clone()));
        summary
    }
}
