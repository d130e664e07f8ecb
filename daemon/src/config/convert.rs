//! The checked configuration mapped onto the `ikev2` state machine's configuration
//! ([`EndpointConfig`], [`ConnectionConfig`], [`ChildConfig`]). Never fails: every
//! value was checked when the file was loaded.

use std::collections::BTreeMap;
use std::sync::Arc;

use ikev2::config::{
    ChildConfig, ConnectionConfig, DpdAction, EndpointConfig, Identity, LocalAuth, RemoteAuth,
    SharedSecret,
};
use ikev2::crypto::secret::SecretBytes;
use ikev2::pki::TrustStore;

use super::{AuthMethod, Child, Connection, DaemonConfig, PeerAction};

impl DaemonConfig {
    /// The endpoint configuration the `ikev2` state machine runs with, without any
    /// break-glass connection (those are loaded only once activated).
    pub fn to_endpoint_config(&self) -> EndpointConfig {
        self.to_endpoint_config_with(&BTreeMap::new())
    }

    /// The endpoint configuration with the activated break-glass connections
    /// `active` (name to PSK) loaded. Their PSKs, owned by both identities of the
    /// connection, come after the `[secrets]` entries: they win every lookup for
    /// their own pair of identities (both owners match) except against a
    /// `[secrets]` entry owned by the same pair (which `check` warns about), and
    /// they lose every tie with other keys, so an activation never changes which
    /// key another tunnel uses.
    pub fn to_endpoint_config_with(
        &self,
        active: &BTreeMap<String, SecretBytes>,
    ) -> EndpointConfig {
        let d = &self.daemon;
        let mut secrets: Vec<SharedSecret> = self
            .secrets
            .iter()
            .map(|s| SharedSecret {
                ids: s.ids.clone(),
                secret: s.secret.clone(),
            })
            .collect();
        for c in &self.connections {
            if let Some(psk) = active.get(&c.name).filter(|_| c.break_glass.is_some()) {
                let local = match (&c.local.id, c.local_addrs.first()) {
                    (Identity::Any, Some(a)) => Identity::from(*a),
                    (id, _) => id.clone(),
                };
                let ids = [local, c.remote.id.clone()]
                    .into_iter()
                    .filter(|i| !i.is_any())
                    .collect();
                secrets.push(SharedSecret {
                    ids,
                    secret: psk.clone(),
                });
            }
        }
        EndpointConfig {
            connections: self
                .connections
                .iter()
                .filter(|c| c.break_glass.is_none() || active.contains_key(&c.name))
                .map(Connection::to_ikev2)
                .collect(),
            secrets,
            cookie_threshold: d.cookie_threshold,
            block_threshold: d.block_threshold,
            half_open_limit: d.init_limit_half_open,
            half_open_timeout: d.half_open_timeout,
            retransmit: d.retransmit,
            fragment_size: d.fragment_size,
            max_packet: d.max_packet,
            keep_alive: d.keep_alive.start(),
            export_keys: d.key_export_dir.is_some(),
            ..EndpointConfig::default()
        }
    }
}

impl Connection {
    /// The `ikev2` connection (children included).
    pub fn to_ikev2(&self) -> ConnectionConfig {
        let mut c = ConnectionConfig::new(self.name.clone());
        c.local_addrs = self.local_addrs.clone();
        c.remote_addrs = self.remote_addrs.clone();
        c.remote_ranges = self.remote_ranges.clone();
        c.remote_hosts = self.remote_hosts.clone();
        c.local_port = self.local_port;
        c.remote_port = self.remote_port;
        c.local_id = self.local.id.clone();
        c.remote_id = self.remote.id.clone();
        if let Some(cred) = &self.credentials {
            c.local_auth = LocalAuth::Pubkey(Arc::clone(cred));
        }
        if self.remote.auth == AuthMethod::Pubkey {
            c.remote_auth = RemoteAuth::Pubkey {
                trust: Arc::new(TrustStore {
                    anchors: self.remote.cacerts.iter().map(|l| l.cert.clone()).collect(),
                    crls: self.remote.crls.iter().map(|l| l.der.clone()).collect(),
                    raw_keys: self.remote.pubkeys.iter().map(|l| l.der.clone()).collect(),
                }),
                revocation: self.remote.revocation,
            };
        }
        c.send_cert = self.send_cert;
        c.send_certreq = self.send_certreq;
        c.proposals = self.proposals.clone();
        c.encap = self.encap;
        c.fragmentation = self.fragmentation;
        c.childless = self.childless;
        c.rekey_time = self.rekey_time;
        c.over_time = Some(self.over_time);
        c.rand_time = Some(self.rand_time);
        c.dpd_delay = self.dpd_delay;
        c.dpd_timeout = self.dpd_timeout;
        c.keep_alive = self.keep_alive.map(super::KeepAlive::start);
        // strongSwan sets dpd_action and close_action per child; ikev2 acts per IKE
        // SA: the most keeping action of the children wins (restart > trap > clear).
        c.dpd_action = strongest(self.children.iter().map(|ch| ch.dpd_action));
        c.close_action = strongest(self.children.iter().map(|ch| ch.close_action));
        c.keyingtries = self.keyingtries;
        c.children = self.children.iter().map(Child::to_ikev2).collect();
        c
    }
}

/// The action that keeps a tunnel up the most: restart, then trap, then clear.
fn strongest(actions: impl Iterator<Item = PeerAction>) -> DpdAction {
    actions
        .map(|a| match a {
            PeerAction::Restart => DpdAction::Restart,
            PeerAction::Trap => DpdAction::Trap,
            PeerAction::None | PeerAction::Clear => DpdAction::Clear,
        })
        .max_by_key(|a| match a {
            DpdAction::Restart => 2,
            DpdAction::Trap => 1,
            _ => 0,
        })
        .unwrap_or_default()
}

impl Child {
    pub fn to_ikev2(&self) -> ChildConfig {
        let mut c = ChildConfig::new(self.name.clone());
        c.local_ts = self.local_ts.clone();
        c.remote_ts = self.remote_ts.clone();
        c.esp_proposals = self.esp_proposals.clone();
        c.rekey_time = self.rekey_time;
        c.life_time = self.life_time;
        c.rand_time = Some(self.rand_time);
        c.rekey_bytes = self.rekey_bytes;
        c.rekey_packets = self.rekey_packets;
        c
    }
}
