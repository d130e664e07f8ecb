//! The control protocol between `ikev2d` clients (`status`, `up`, `down`, `rekey`)
//! and the running daemon: one JSON [`Request`] per line on the Unix socket, answered
//! by one JSON [`Response`] line. The types are also what `status --json` prints, so
//! they are a stable interface: add fields, never rename them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a client asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    Status,
    /// Initiate every child of `conn`; the answer comes once all are established or
    /// one failed (or `timeout_secs` passed).
    Up {
        conn: String,
        timeout_secs: u64,
    },
    /// Delete the IKE SAs of `conn` (and so its children).
    Down {
        conn: String,
    },
    /// Rekey the IKE SA of `conn` (`child` = None) or the named child.
    Rekey {
        conn: String,
        child: Option<String>,
    },
    /// Activate the break-glass connection `conn` with the custodians' two PSK
    /// halves (`drill`: only verify them, record the drill, change nothing).
    BreakGlass {
        conn: String,
        halves: [HalfSecret; 2],
        #[serde(default)]
        drill: bool,
    },
    /// ICMP echo through a child (`ikev2d ping`).
    Ping(PingRequest),
    /// Turn writing keys to `[daemon] key_export_dir` on (for `for_secs`, default
    /// one hour) or off.
    KeyExport {
        enable: bool,
        #[serde(default)]
        for_secs: Option<u64>,
    },
}

/// One custodian's half of a break-glass PSK on its way to the daemon: zeroized on
/// drop, `<redacted>` in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct HalfSecret(zeroize::Zeroizing<String>);

impl Serialize for HalfSecret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for HalfSecret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::new)
    }
}

impl HalfSecret {
    pub fn new(s: String) -> Self {
        Self(zeroize::Zeroizing::new(s))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for HalfSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HalfSecret(<redacted>)")
    }
}

/// The daemon's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Response {
    Status(StatusReport),
    Ping(PingReport),
    /// The command was carried out; `message` says what happened in operator words.
    Ok {
        message: String,
    },
    /// The command failed; `message` says why (phase and cause when a tunnel failed).
    Error {
        message: String,
    },
}

/// ICMP echo through a child of `conn` from this host's address inside its
/// `local_ts` to `to` (default: the first host of its `remote_ts`); `sweep`: find
/// the largest packet that gets through with DF instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PingRequest {
    pub conn: String,
    #[serde(default)]
    pub child: Option<String>,
    #[serde(default)]
    pub to: Option<std::net::IpAddr>,
    pub count: u32,
    pub size: u16,
    #[serde(default)]
    pub sweep: bool,
}

/// `ikev2d ping`: what each echo request got, or the sweep's result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PingReport {
    pub conn: String,
    pub child: String,
    /// Our inner address the requests came from, and where they went.
    pub from: String,
    pub to: String,
    /// ICMP payload octets of each request (`ping -s`).
    pub size: u16,
    /// Per request: its sequence number and round-trip time (`None`: no reply).
    pub replies: Vec<(u16, Option<f64>)>,
    /// `--sweep`: the largest ICMP payload that got through with DF, the inner MTU
    /// that makes, and the TCP MSS that fits it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<Sweep>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sweep {
    pub largest_payload: u16,
    pub mtu: u16,
    pub mss: u16,
}

impl PingReport {
    pub fn received(&self) -> usize {
        self.replies.iter().filter(|(_, r)| r.is_some()).count()
    }
}

/// `ikev2d status --json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    pub connections: Vec<ConnStatus>,
    /// Daemon-wide counters by name (non-zero ones): IKE datagrams received, sent,
    /// retransmitted and dropped by reason (`ike_*`), and data-plane drops that
    /// belong to no SA (`esp_*`, e.g. `esp_in_no_sa`, `esp_out_no_policy`).
    #[serde(default)]
    pub counters: BTreeMap<String, u64>,
    /// Failed exchanges since start by `PHASE:cause` (`IKE_AUTH:auth_mismatch`).
    #[serde(default)]
    pub failures: BTreeMap<String, u64>,
    /// How long the IKE SAs we initiated took to establish.
    #[serde(default)]
    pub handshake_seconds: Histogram,
    /// Whether keys are being written to `[daemon] key_export_dir` (absent when no
    /// directory is configured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_export: Option<KeyExportStatus>,
}

/// `ikev2d debug key-export` state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyExportStatus {
    pub active: bool,
    pub dir: String,
    /// Seconds until export turns itself off (when active).
    pub remaining_secs: Option<u64>,
}

/// A break-glass connection's state in `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakGlassStatus {
    /// Activated by both custodians and not yet expired.
    pub active: bool,
    /// Seconds left of the activation (when active).
    pub remaining_secs: Option<u64>,
    /// `break_glass_ttl`.
    pub ttl_secs: u64,
}

/// A cumulative histogram (Prometheus style): `buckets[i]` counts observations
/// `<= bounds[i]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    pub bounds: Vec<f64>,
    pub buckets: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    /// Empty, with these upper bounds (ascending).
    pub fn with_bounds(bounds: &[f64]) -> Self {
        Self {
            bounds: bounds.to_vec(),
            buckets: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    pub fn observe(&mut self, v: f64) {
        for (b, n) in self.bounds.iter().zip(self.buckets.iter_mut()) {
            if v <= *b {
                *n += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }
}

/// `DOWN`, `CONNECTING` or `ESTABLISHED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConnState {
    #[default]
    Down,
    Connecting,
    Established,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConnStatus {
    pub name: String,
    pub state: ConnState,
    /// Local and remote address:port of the IKE SA, else the configured addresses.
    pub local: String,
    pub remote: String,
    pub nat_detected: bool,
    pub ike_sa: Option<IkeSaStatus>,
    pub children: Vec<ChildStatus>,
    pub last_error: Option<LastError>,
    /// Something is wrong with the connection as a whole, in plain words (flapping).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// IKE SAs that came up after the connection's previous one went down (not by
    /// our own terminate), since the daemon started.
    #[serde(default)]
    pub reestablishments: u64,
    /// The configured `remote_addrs` in order, each with its last result (empty for
    /// a connection without explicit peer addresses).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remotes: Vec<RemoteAddrStatus>,
    /// How often another of `remote_addrs` took over after the peer in use stopped
    /// answering, and the last time in words.
    #[serde(default)]
    pub failovers: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failover: Option<LastError>,
    /// Times the peer's NAT gave it a new address or port and IKE and ESP followed.
    #[serde(default)]
    pub peer_mapping_changes: u64,
    /// Set for the members of a standby pair (`failover_of`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pair: Option<PairStatus>,
    /// Set while we are behind a NAT, or once the NAT was seen to drop our mapping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_alive: Option<KeepAliveStatus>,
    /// Set for break-glass connections only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub break_glass: Option<BreakGlassStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IkeSaStatus {
    /// SPIs as 16 hex digits.
    pub spi_i: String,
    pub spi_r: String,
    /// The negotiated suite in strongSwan's notation (`aes256-sha256-modp2048`).
    pub proposal: String,
    /// The same as `swanctl --list-sas` shows it
    /// (`AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519/KE1_ML_KEM_768`).
    #[serde(default)]
    pub algorithms: String,
    /// How we and the peer authenticated (`pre-shared key`, `RSASSA-PSS with
    /// SHA-384, certificate C=CH, O=Example, CN=gw-b`).
    #[serde(default)]
    pub local_auth: String,
    #[serde(default)]
    pub remote_auth: String,
    pub established_secs: u64,
    pub rekeys: u64,
    /// The addresses and ports the IKE SA uses now (`192.0.2.1:4500`): with several
    /// `remote_addrs`, which peer it reached.
    #[serde(default)]
    pub local: String,
    #[serde(default)]
    pub remote: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChildStatus {
    pub name: String,
    /// `INSTALLED`, `REKEYING`, `DELETING`, ... (the ikev2 crate's state names), or
    /// `DOWN` for a configured child without an SA.
    pub state: String,
    /// SPIs as 8 hex digits; empty when down.
    pub spi_in: String,
    pub spi_out: String,
    pub proposal: String,
    /// The suite as `swanctl --list-sas` shows it, without the `ESP:` prefix
    /// (`AES_GCM_16-256/CURVE_25519/KE1_ML_KEM_768`); empty when down.
    #[serde(default)]
    pub algorithms: String,
    pub local_ts: Vec<String>,
    pub remote_ts: Vec<String>,
    /// Cumulative over every SA this child has had (rekeys do not reset them).
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub packets_in: u64,
    pub packets_out: u64,
    /// Packets dropped on this child's SAs by reason (`replay`, `icv`,
    /// `ts_mismatch`, ...), cumulative, non-zero ones only.
    #[serde(default)]
    pub drops: BTreeMap<String, u64>,
    /// The current SA's own counters.
    pub sa_bytes_in: u64,
    pub sa_bytes_out: u64,
    pub sa_packets_in: u64,
    pub sa_packets_out: u64,
    pub rekeys: u64,
    /// The effective inner MTU of the current SA: the configured MTU or what the
    /// outer path leaves after this SA's ESP and outer headers, whichever is smaller.
    #[serde(default)]
    pub mtu: Option<u16>,
    /// The outer path MTU to the peer and where it comes from (`configured`,
    /// `icmp`, `probe`).
    #[serde(default)]
    pub path_mtu: Option<u16>,
    #[serde(default)]
    pub path_mtu_source: Option<String>,
    /// Seconds since a packet last came in and went out through the child's SAs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_inbound_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_outbound_secs: Option<u64>,
    /// Something is wrong although the SA is up, in plain words (one-way traffic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// TCP services through the child whose connection attempts get no answer while
    /// still being tried (one sentence each).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unanswered_tcp: Vec<String>,
}

/// NAT-keepalives of a connection behind a NAT, and what the NAT did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeepAliveStatus {
    /// The interval in use, in seconds (0: none).
    pub secs: u64,
    /// `keep_alive = "auto"`: lowered each time the NAT drops our mapping.
    pub auto: bool,
    /// Times the NAT in front of us was seen to drop our UDP mapping (the peer's
    /// packets after a silence lost until we sent again).
    pub mapping_losses: u64,
    /// The last of them, in words, with the silence it took (at most).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_loss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_loss_secs_ago: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_loss_silence_secs: Option<u64>,
}

/// A connection's place in a standby pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairStatus {
    /// The pair's primary connection.
    pub primary: String,
    /// `primary`, `hot standby` or `cold standby`.
    pub role: String,
    /// Whether this connection carries the pair's traffic now.
    pub active: bool,
}

/// One configured peer address of a connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteAddrStatus {
    pub addr: String,
    /// The DNS name in `remote_addrs` it was resolved from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The current IKE SA is with this address.
    pub in_use: bool,
    /// `established`, or `failed: <phase>: <cause>`; absent if never tried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_result: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_result_secs_ago: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastError {
    /// `IKE_SA_INIT`, `IKE_AUTH`, `CREATE_CHILD_SA`, `INFORMATIONAL`.
    pub phase: String,
    /// The cause in operator words (PSK mismatch, proposal mismatch with both lists...).
    pub reason: String,
    /// Seconds since the Unix epoch.
    pub at_unix: u64,
}
