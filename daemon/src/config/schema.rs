//! The raw TOML schema, deserialized with serde (`deny_unknown_fields` everywhere).
//! Every leaf keeps its [`Spanned`] position so that semantic errors can name the
//! line. Conversion into the checked model lives in `mod.rs`.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

pub(crate) type Sp<T> = Spanned<T>;

/// A duration: integer seconds or a string with a unit.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub(crate) enum IntOrStr {
    Int(i64),
    Float(f64),
    Str(String),
}

/// `yes`/`no` style values: a TOML boolean or a string.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub(crate) enum BoolOrStr {
    Bool(bool),
    Str(String),
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFile {
    #[serde(default)]
    pub daemon: RawDaemon,
    #[serde(default)]
    pub control: RawControl,
    #[serde(default)]
    pub metrics: RawMetrics,
    #[serde(default)]
    pub connections: BTreeMap<Sp<String>, RawConnection>,
    #[serde(default)]
    pub secrets: BTreeMap<Sp<String>, BTreeMap<Sp<String>, Sp<toml::Value>>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMetrics {
    pub listen: Option<Sp<String>>,
    pub allowed_sources: Option<Vec<Sp<String>>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawControl {
    pub admin_group: Option<Sp<String>>,
    pub viewer_group: Option<Sp<String>>,
    pub audit_log: Option<Sp<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDaemon {
    pub control_socket: Option<Sp<String>>,
    pub tun_name: Option<Sp<String>>,
    pub keep_alive: Option<Sp<IntOrStr>>,
    pub mtu: Option<Sp<i64>>,
    pub path_mtu: Option<Sp<i64>>,
    pub one_way_warning: Option<Sp<IntOrStr>>,
    pub flap_warning: Option<Sp<i64>>,
    pub mss_clamp: Option<Sp<IntOrStr>>,
    pub log_level: Option<Sp<String>>,
    pub retransmit_timeout: Option<Sp<IntOrStr>>,
    pub retransmit_base: Option<Sp<f64>>,
    pub retransmit_tries: Option<Sp<i64>>,
    pub retransmit_limit: Option<Sp<IntOrStr>>,
    pub fragment_size: Option<Sp<i64>>,
    pub max_packet: Option<Sp<i64>>,
    pub cookie_threshold: Option<Sp<i64>>,
    pub block_threshold: Option<Sp<i64>>,
    pub init_limit_half_open: Option<Sp<i64>>,
    pub half_open_timeout: Option<Sp<IntOrStr>>,
    pub key_export_dir: Option<Sp<String>>,
    pub allowed_peers: Option<Vec<Sp<String>>>,
    pub init_rate_per_source: Option<Sp<i64>>,
    pub alert_command: Option<Sp<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConnection {
    pub version: Option<Sp<i64>>,
    pub local_addrs: Option<Vec<Sp<String>>>,
    pub remote_addrs: Option<Vec<Sp<String>>>,
    pub local_port: Option<Sp<i64>>,
    pub remote_port: Option<Sp<i64>>,
    pub proposals: Option<Vec<Sp<String>>>,
    pub encap: Option<Sp<bool>>,
    pub fragmentation: Option<Sp<BoolOrStr>>,
    pub childless: Option<Sp<String>>,
    pub keyingtries: Option<Sp<i64>>,
    pub rekey_time: Option<Sp<IntOrStr>>,
    pub reauth_time: Option<Sp<IntOrStr>>,
    pub over_time: Option<Sp<IntOrStr>>,
    pub rand_time: Option<Sp<IntOrStr>>,
    pub dpd_delay: Option<Sp<IntOrStr>>,
    pub dpd_timeout: Option<Sp<IntOrStr>>,
    pub keep_alive: Option<Sp<IntOrStr>>,
    pub failover_of: Option<Sp<String>>,
    pub standby: Option<Sp<String>>,
    pub preempt: Option<Sp<IntOrStr>>,
    pub break_glass: Option<Sp<bool>>,
    pub break_glass_hashes: Option<Vec<Sp<String>>>,
    pub break_glass_ttl: Option<Sp<IntOrStr>>,
    pub send_cert: Option<Sp<String>>,
    pub send_certreq: Option<Sp<BoolOrStr>>,
    pub local: Option<Sp<RawAuth>>,
    pub remote: Option<Sp<RawAuth>>,
    #[serde(default)]
    pub children: BTreeMap<Sp<String>, RawChild>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAuth {
    pub auth: Option<Sp<String>>,
    pub id: Option<Sp<String>>,
    pub certs: Option<Vec<Sp<String>>>,
    pub cacerts: Option<Vec<Sp<String>>>,
    pub pubkeys: Option<Vec<Sp<String>>>,
    pub revocation: Option<Sp<String>>,
    pub crls: Option<Vec<Sp<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawChild {
    pub local_ts: Option<Vec<Sp<String>>>,
    pub remote_ts: Option<Vec<Sp<String>>>,
    pub esp_proposals: Option<Vec<Sp<String>>>,
    pub mode: Option<Sp<String>>,
    pub rekey_time: Option<Sp<IntOrStr>>,
    pub life_time: Option<Sp<IntOrStr>>,
    pub rand_time: Option<Sp<IntOrStr>>,
    pub rekey_bytes: Option<Sp<i64>>,
    pub life_bytes: Option<Sp<i64>>,
    pub rand_bytes: Option<Sp<i64>>,
    pub rekey_packets: Option<Sp<i64>>,
    pub life_packets: Option<Sp<i64>>,
    pub rand_packets: Option<Sp<i64>>,
    pub replay_window: Option<Sp<i64>>,
    pub start_action: Option<Sp<String>>,
    pub dpd_action: Option<Sp<String>>,
    pub close_action: Option<Sp<String>>,
    pub mtu: Option<Sp<i64>>,
}

/// swanctl.conf / strongswan.conf keys that have a meaning for strongSwan but that
/// ikev2d does not implement: an unknown-key error for them says so instead of
/// "unknown field".
pub const UNSUPPORTED_KEYS: &[(&str, &str)] = &[
    ("pools", "virtual IP pools are not supported"),
    ("vips", "virtual IPs are not supported"),
    (
        "aggressive",
        "IKEv1 aggressive mode is not supported (IKEv2 only)",
    ),
    ("pull", "IKEv1 mode config is not supported"),
    ("dscp", "DSCP marking of IKE packets is not supported"),
    ("mobike", "MOBIKE is not supported"),
    ("ppk_id", "post-quantum preshared keys are not supported"),
    (
        "ppk_required",
        "post-quantum preshared keys are not supported",
    ),
    ("unique", "only the default uniqueness policy is supported"),
    ("mediation", "IKE mediation is not supported"),
    ("mediated_by", "IKE mediation is not supported"),
    ("mediation_peer", "IKE mediation is not supported"),
    (
        "if_id_in",
        "XFRM interface IDs do not apply to a userspace data plane",
    ),
    (
        "if_id_out",
        "XFRM interface IDs do not apply to a userspace data plane",
    ),
    ("eap_id", "EAP is not supported (PSK and public keys only)"),
    ("xauth_id", "XAuth is not supported (IKEv2 PSK only)"),
    ("aaa_id", "EAP/AAA is not supported"),
    ("groups", "group membership constraints are not supported"),
    (
        "cert_policy",
        "certificate policy constraints are not supported",
    ),
    ("round", "multiple authentication rounds are not supported"),
    ("ah_proposals", "AH is not supported (ESP only)"),
    ("sha256_96", "truncated HMAC-SHA-256 is not supported"),
    ("updown", "updown scripts are not supported yet"),
    ("hostaccess", "updown scripts are not supported yet"),
    (
        "policies",
        "policies are always installed in the userspace data plane",
    ),
    (
        "policies_fwd_out",
        "policies are always installed in the userspace data plane",
    ),
    ("ipcomp", "IPComp is not supported"),
    ("inactivity", "inactivity timeouts are not supported yet"),
    ("reqid", "reqids are internal to ikev2d"),
    ("priority", "policy priorities are not supported"),
    ("interface", "interface-bound policies are not supported"),
    ("mark_in", "marks do not apply to a userspace data plane"),
    ("mark_out", "marks do not apply to a userspace data plane"),
    (
        "set_mark_in",
        "marks do not apply to a userspace data plane",
    ),
    (
        "set_mark_out",
        "marks do not apply to a userspace data plane",
    ),
    ("label", "security labels are not supported"),
    ("label_mode", "security labels are not supported"),
    ("tfc_padding", "TFC padding is not supported"),
    (
        "hw_offload",
        "hardware offload does not apply to a userspace data plane",
    ),
    (
        "copy_df",
        "DF/ECN/DSCP copy options are not configurable yet",
    ),
    (
        "copy_ecn",
        "DF/ECN/DSCP copy options are not configurable yet",
    ),
    (
        "copy_dscp",
        "DF/ECN/DSCP copy options are not configurable yet",
    ),
    ("per_cpu_sas", "per-CPU SAs are not supported"),
];
