//! One tunnel described once and rendered for both daemons: [`ConnSpec`] becomes a
//! swanctl.conf connection ([`crate::strongswan`]) or an ikev2d TOML connection
//! ([`crate::ikev2d`]); [`ConnSpec::mirrored`] is the peer's side.

use std::net::IpAddr;

use crate::topology::{INNER_A, INNER_B, NET_A, NET_B, OUTER_A, OUTER_B};

/// A pre-shared key that passes ikev2d's `weak-psk` lint.
pub const TEST_PSK: &str = "ikev2d-Interop-Test-PSK-7fQ2#xLm9vR4";

/// `start_action` of a child (swanctl names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAction {
    None,
    Start,
    Trap,
}

impl StartAction {
    pub fn as_str(self) -> &'static str {
        match self {
            StartAction::None => "none",
            StartAction::Start => "start",
            StartAction::Trap => "trap",
        }
    }
}

/// A connection as swanctl.conf has it, restricted to what the tests vary. Durations
/// are swanctl strings (`"30s"`, `"0"`); `None` leaves the daemon's default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnSpec {
    pub name: String,
    pub local_addr: IpAddr,
    pub remote_addr: IpAddr,
    /// The peer's addresses as `remote_addrs` lists them (addresses or DNS names,
    /// tried in order); `None`: `remote_addr` alone.
    pub remote_hosts: Option<Vec<String>>,
    pub local_id: String,
    pub remote_id: String,
    pub psk: String,
    /// IKE proposals, strongSwan syntax (`aes256-sha256-modp2048`).
    pub proposals: Vec<String>,
    pub rekey_time: Option<String>,
    pub dpd_delay: Option<String>,
    /// Force UDP encapsulation of ESP (swanctl `encap`).
    pub encap: bool,
    pub children: Vec<ChildSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildSpec {
    pub name: String,
    pub local_ts: Vec<String>,
    pub remote_ts: Vec<String>,
    /// ESP proposals; a DH group is the PFS group (`aes256gcm16-curve25519`).
    pub esp_proposals: Vec<String>,
    pub start_action: StartAction,
    /// `clear`, `trap` or `restart`; `None` = the default (`clear`).
    pub dpd_action: Option<String>,
    /// What to do when the peer deletes the CHILD SA: `none`, `trap` or `start`.
    pub close_action: Option<String>,
    pub rekey_time: Option<String>,
    pub life_time: Option<String>,
}

/// Where the two sites of a testbed live: outer (IKE/ESP) addresses, one inner
/// address each and the inner networks the tunnel joins. Scenarios are written
/// against this, so the same scenario runs in namespaces and in VMs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sites {
    pub outer_a: IpAddr,
    pub outer_b: IpAddr,
    pub inner_a: IpAddr,
    pub inner_b: IpAddr,
    pub net_a: String,
    pub net_b: String,
}

impl Sites {
    /// The namespace topology ([`crate::topology::Pair`]).
    pub fn netns() -> Self {
        Self {
            outer_a: OUTER_A,
            outer_b: OUTER_B,
            inner_a: INNER_A,
            inner_b: INNER_B,
            net_a: NET_A.to_owned(),
            net_b: NET_B.to_owned(),
        }
    }
}

impl ConnSpec {
    /// Connection `lab` with child `net` from A's point of view (192.0.2.1 →
    /// 192.0.2.2, 10.1.0.0/24 ↔ 10.2.0.0/24), IDs = outer addresses, PSK
    /// [`TEST_PSK`], `aes256-sha256-modp2048` / `aes256gcm16`, nothing started by
    /// itself, default lifetimes (4 h IKE, 1 h CHILD: nothing rekeys during a test).
    pub fn site_a() -> Self {
        Self::site_a_at(&Sites::netns())
    }

    /// [`ConnSpec::site_a`] between the sites of any testbed.
    pub fn site_a_at(sites: &Sites) -> Self {
        Self {
            name: "lab".to_owned(),
            local_addr: sites.outer_a,
            remote_addr: sites.outer_b,
            remote_hosts: None,
            local_id: sites.outer_a.to_string(),
            remote_id: sites.outer_b.to_string(),
            psk: TEST_PSK.to_owned(),
            proposals: vec!["aes256-sha256-modp2048".to_owned()],
            rekey_time: None,
            dpd_delay: None,
            encap: false,
            children: vec![ChildSpec {
                name: "net".to_owned(),
                local_ts: vec![sites.net_a.clone()],
                remote_ts: vec![sites.net_b.clone()],
                esp_proposals: vec!["aes256gcm16".to_owned()],
                start_action: StartAction::None,
                dpd_action: None,
                close_action: None,
                rekey_time: None,
                life_time: None,
            }],
        }
    }

    /// The same tunnel from B's side (`site_a().mirrored()`).
    pub fn site_b() -> Self {
        Self::site_a().mirrored()
    }

    /// The peer's view: addresses, IDs and selectors swapped, start actions `none`.
    pub fn mirrored(&self) -> Self {
        Self {
            local_addr: self.remote_addr,
            remote_addr: self.local_addr,
            remote_hosts: None,
            local_id: self.remote_id.clone(),
            remote_id: self.local_id.clone(),
            children: self
                .children
                .iter()
                .map(|c| ChildSpec {
                    local_ts: c.remote_ts.clone(),
                    remote_ts: c.local_ts.clone(),
                    start_action: StartAction::None,
                    ..c.clone()
                })
                .collect(),
            ..self.clone()
        }
    }

    /// Set the IKE and ESP proposals (builder style).
    pub fn with_proposals(mut self, ike: &str, esp: &str) -> Self {
        self.proposals = vec![ike.to_owned()];
        for c in &mut self.children {
            c.esp_proposals = vec![esp.to_owned()];
        }
        self
    }

    /// Set every child's start action (builder style).
    pub fn with_start_action(mut self, a: StartAction) -> Self {
        for c in &mut self.children {
            c.start_action = a;
        }
        self
    }

    /// `remote_addrs` as written: [`ConnSpec::remote_hosts`] or `remote_addr`.
    pub fn remote_addrs(&self) -> Vec<String> {
        self.remote_hosts
            .clone()
            .unwrap_or_else(|| vec![self.remote_addr.to_string()])
    }

    pub fn child(&self) -> &ChildSpec {
        self.children
            .first()
            .unwrap_or_else(|| panic!("connection {} has no child", self.name))
    }
}
