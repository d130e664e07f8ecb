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
    /// Public-key authentication on both sides (`auth = pubkey`); `None`: the PSK.
    pub pubkey: Option<Credentials>,
    /// IKE proposals, strongSwan syntax (`aes256-sha256-modp2048`).
    pub proposals: Vec<String>,
    pub rekey_time: Option<String>,
    pub dpd_delay: Option<String>,
    /// Force UDP encapsulation of ESP (swanctl `encap`).
    pub encap: bool,
    pub children: Vec<ChildSpec>,
}

/// One daemon's certificate credentials, as file contents (PEM), so that every
/// backend writes them where its daemon reads them ([`Credentials::files`]). With
/// `pubkey` instead of `certs` and `peer_pubkeys` instead of `cacerts`: raw public
/// keys (swanctl `pubkeys`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// Our end-entity certificate, then the intermediates we send.
    pub certs: Vec<String>,
    /// Our raw public key (SubjectPublicKeyInfo), when we have no certificate.
    pub pubkey: Option<String>,
    /// The raw public keys the peer may sign with.
    pub peer_pubkeys: Vec<String>,
    /// Our private key.
    pub key: String,
    /// The CAs we trust for the peer.
    pub cacerts: Vec<String>,
    /// CRLs (ikev2d `remote.crls`, strongSwan's `x509crl` directory).
    pub crls: Vec<String>,
    /// `revocation` (`strict`, `ifuri`, `relaxed`); `None`: the default.
    pub revocation: Option<String>,
    /// `send_cert` (`ifasked`, `always`, `never`); `None`: the default.
    pub send_cert: Option<String>,
    /// `send_certreq`; `None`: the default (yes).
    pub send_certreq: Option<bool>,
    /// Our RSA key signs AUTH with RSASSA-PSS (`local.auth = rsa/pss`).
    pub rsa_pss: bool,
}

/// What a credential file is, for where a daemon keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredKind {
    /// Our end-entity certificate (strongSwan: `x509/`).
    Cert,
    /// An intermediate we send (strongSwan: `x509ca/`, as it builds chains from its CAs).
    Intermediate,
    /// A CA we trust for the peer (strongSwan: `x509ca/`).
    Ca,
    /// A CRL (strongSwan: `x509crl/`).
    Crl,
    /// Our private key, mode 0600 (strongSwan: `private/`).
    Key,
    /// Our raw public key (strongSwan: `pubkey/`).
    Pubkey,
    /// A raw public key of the peer (strongSwan: `pubkey/`).
    PeerPubkey,
}

impl CredKind {
    /// strongSwan's directory under `/etc/swanctl` for this kind.
    pub fn swanctl_dir(self) -> &'static str {
        match self {
            Self::Cert => "x509",
            Self::Intermediate | Self::Ca => "x509ca",
            Self::Crl => "x509crl",
            Self::Key => "private",
            Self::Pubkey | Self::PeerPubkey => "pubkey",
        }
    }
}

/// One credential file: its kind, a name unique per connection, its contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredFile {
    pub kind: CredKind,
    pub name: String,
    pub contents: String,
}

impl Credentials {
    /// The files of connection `conn`, named `<conn>-cert0.pem`, `<conn>-cert1.pem`
    /// (intermediates), `<conn>-ca0.pem`, `<conn>-crl0.pem`, `<conn>-key.pem`.
    pub fn files(&self, conn: &str) -> Vec<CredFile> {
        let f = |kind, name: String, contents: &String| CredFile {
            kind,
            name,
            contents: contents.clone(),
        };
        let mut v = Vec::new();
        for (i, c) in self.certs.iter().enumerate() {
            let kind = if i == 0 {
                CredKind::Cert
            } else {
                CredKind::Intermediate
            };
            v.push(f(kind, format!("{conn}-cert{i}.pem"), c));
        }
        for (i, c) in self.cacerts.iter().enumerate() {
            v.push(f(CredKind::Ca, format!("{conn}-ca{i}.pem"), c));
        }
        for (i, c) in self.crls.iter().enumerate() {
            v.push(f(CredKind::Crl, format!("{conn}-crl{i}.pem"), c));
        }
        if let Some(p) = &self.pubkey {
            v.push(f(CredKind::Pubkey, format!("{conn}-pub.pem"), p));
        }
        for (i, p) in self.peer_pubkeys.iter().enumerate() {
            v.push(f(CredKind::PeerPubkey, format!("{conn}-peerpub{i}.pem"), p));
        }
        v.push(f(CredKind::Key, format!("{conn}-key.pem"), &self.key));
        v
    }

    /// The names of the files of `kind`.
    pub fn names(&self, conn: &str, kinds: &[CredKind]) -> Vec<String> {
        self.files(conn)
            .into_iter()
            .filter(|f| kinds.contains(&f.kind))
            .map(|f| f.name)
            .collect()
    }
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
            pubkey: None,
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

    /// The peer's view: addresses, IDs and selectors swapped, start actions `none`;
    /// no credentials (the peer's are its own: set [`ConnSpec::pubkey`]).
    pub fn mirrored(&self) -> Self {
        Self {
            pubkey: None,
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
