//! The read-only HTTP endpoint (`[metrics] listen`): `GET /metrics` in Prometheus'
//! text format and `GET /status` with the `status --json` document. Nothing here can
//! change state: it only ever sends the control task a `Status` request. Clients
//! outside `allowed_sources` are refused before their request is read.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

use crate::config::in_prefix;
use crate::control::proto::{ConnState, Request, Response, StatusReport};
use crate::control::server::{Caller, ControlCall};

/// Serves until the control task is gone.
pub async fn serve(
    listener: TcpListener,
    allowed: Vec<(IpAddr, u8)>,
    calls: mpsc::Sender<ControlCall>,
) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        if !allowed.iter().any(|&n| in_prefix(peer.ip(), n)) {
            tracing::debug!("metrics: {peer} not in allowed_sources, closed");
            continue;
        }
        let calls = calls.clone();
        tokio::spawn(async move {
            let _ =
                tokio::time::timeout(Duration::from_secs(10), answer(stream, peer, calls)).await;
        });
    }
}

async fn answer(mut stream: TcpStream, peer: SocketAddr, calls: mpsc::Sender<ControlCall>) {
    // The request line is all we need; a GET has no body.
    let mut buf = [0u8; 2048];
    let mut n = 0;
    while n < buf.len() {
        match stream.read(&mut buf[n..]).await {
            Ok(0) | Err(_) => break,
            Ok(k) => {
                n += k;
                if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
        }
    }
    let head = String::from_utf8_lossy(&buf[..n]);
    let mut words = head.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let (status, ctype, body) = match (method, path) {
        ("GET", "/metrics" | "/status") => match status_report(&calls, peer).await {
            Some(r) if path == "/metrics" => ("200 OK", "text/plain; version=0.0.4", render(&r)),
            Some(r) => (
                "200 OK",
                "application/json",
                serde_json::to_string(&r).unwrap_or_default(),
            ),
            None => (
                "503 Service Unavailable",
                "text/plain",
                "daemon busy\n".into(),
            ),
        },
        ("GET", _) => (
            "404 Not Found",
            "text/plain",
            "try /metrics or /status\n".into(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "read-only: GET /metrics or /status\n".into(),
        ),
    };
    let reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(reply.as_bytes()).await;
}

async fn status_report(
    calls: &mpsc::Sender<ControlCall>,
    peer: SocketAddr,
) -> Option<StatusReport> {
    let (tx, rx) = oneshot::channel();
    let call = ControlCall {
        request: Request::Status,
        // The daemon itself asks; `Status` is all this endpoint ever sends.
        caller: Caller {
            uid: 0,
            gid: 0,
            pid: None,
        },
        reply: tx,
    };
    calls.send(call).await.ok()?;
    match rx.await.ok()? {
        Response::Status(r) => Some(r),
        _ => {
            tracing::debug!("metrics: no status for {peer}");
            None
        }
    }
}

/// Reads a child's (in, out) pair of one counter.
type ChildCounter = fn(&crate::control::proto::ChildStatus) -> (u64, u64);
type ConnCounter = fn(&crate::control::proto::ConnStatus) -> u64;
type ChildGauge = fn(&crate::control::proto::ChildStatus) -> Option<u64>;

/// A label value with `\`, `"` and newlines escaped.
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The Prometheus text exposition of a status report.
pub fn render(r: &StatusReport) -> String {
    let mut o = String::new();
    let family = |o: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    family(
        &mut o,
        "ikev2d_connections",
        "gauge",
        "Configured connections by state.",
    );
    let mut states: BTreeMap<&str, u64> =
        [("DOWN", 0), ("CONNECTING", 0), ("ESTABLISHED", 0)].into();
    for c in &r.connections {
        let s = match c.state {
            ConnState::Down => "DOWN",
            ConnState::Connecting => "CONNECTING",
            ConnState::Established => "ESTABLISHED",
        };
        *states.entry(s).or_default() += 1;
    }
    for (s, n) in states {
        let _ = writeln!(o, "ikev2d_connections{{state=\"{s}\"}} {n}");
    }
    family(
        &mut o,
        "ikev2d_ike_sa_rekeys_total",
        "counter",
        "IKE SA rekeys of the current IKE SA.",
    );
    for c in &r.connections {
        if let Some(ike) = &c.ike_sa {
            let _ = writeln!(
                o,
                "ikev2d_ike_sa_rekeys_total{{conn=\"{}\"}} {}",
                esc(&c.name),
                ike.rekeys
            );
        }
    }
    let child_metrics: [(&str, &str, ChildCounter); 2] = [
        (
            "ikev2d_child_bytes_total",
            "Inner octets through a child, all its SAs.",
            |c| (c.bytes_in, c.bytes_out),
        ),
        (
            "ikev2d_child_packets_total",
            "Inner packets through a child, all its SAs.",
            |c| (c.packets_in, c.packets_out),
        ),
    ];
    for (name, help, get) in child_metrics {
        family(&mut o, name, "counter", help);
        for c in &r.connections {
            for ch in &c.children {
                let (i, out) = get(ch);
                let l = format!("conn=\"{}\",child=\"{}\"", esc(&c.name), esc(&ch.name));
                let _ = writeln!(o, "{name}{{{l},direction=\"in\"}} {i}");
                let _ = writeln!(o, "{name}{{{l},direction=\"out\"}} {out}");
            }
        }
    }
    family(
        &mut o,
        "ikev2d_child_rekeys_total",
        "counter",
        "CHILD SA rekeys.",
    );
    family(
        &mut o,
        "ikev2d_child_drops_total",
        "counter",
        "Packets dropped on a child's SAs by reason.",
    );
    for c in &r.connections {
        for ch in &c.children {
            let l = format!("conn=\"{}\",child=\"{}\"", esc(&c.name), esc(&ch.name));
            let _ = writeln!(o, "ikev2d_child_rekeys_total{{{l}}} {}", ch.rekeys);
            for (reason, n) in &ch.drops {
                let _ = writeln!(
                    o,
                    "ikev2d_child_drops_total{{{l},reason=\"{}\"}} {n}",
                    esc(reason)
                );
            }
        }
    }
    let per_child: [(&str, &str, &str, ChildGauge); 4] = [
        (
            "ikev2d_child_up",
            "gauge",
            "1 while the child has an SA, 0 when down.",
            |c| Some(u64::from(c.state != "DOWN")),
        ),
        (
            "ikev2d_child_one_way",
            "gauge",
            "1 while the child keeps sending and nothing comes back (one_way_warning).",
            |c| Some(u64::from(c.warning.is_some())),
        ),
        (
            "ikev2d_child_unanswered_tcp_services",
            "gauge",
            "TCP services through the child whose connection attempts get no answer (no SYN-ACK, no RST) for one_way_warning while still tried.",
            |c| Some(c.unanswered_tcp.len() as u64),
        ),
        (
            "ikev2d_child_last_inbound_seconds",
            "gauge",
            "Seconds since a packet last came in through the child's SAs.",
            |c| c.last_inbound_secs,
        ),
    ];
    for (name, kind, help, get) in per_child {
        family(&mut o, name, kind, help);
        for c in &r.connections {
            for ch in &c.children {
                if let Some(v) = get(ch) {
                    let l = format!("conn=\"{}\",child=\"{}\"", esc(&c.name), esc(&ch.name));
                    let _ = writeln!(o, "{name}{{{l}}} {v}");
                }
            }
        }
    }
    family(
        &mut o,
        "ikev2d_child_mtu",
        "gauge",
        "Effective inner MTU of a child's current SA (configured MTU or what the outer path leaves).",
    );
    for c in &r.connections {
        for ch in &c.children {
            if let Some(m) = ch.mtu {
                let l = format!("conn=\"{}\",child=\"{}\"", esc(&c.name), esc(&ch.name));
                let _ = writeln!(o, "ikev2d_child_mtu{{{l}}} {m}");
            }
        }
    }
    family(
        &mut o,
        "ikev2d_child_path_mtu",
        "gauge",
        "Outer path MTU to a child's peer, by where it comes from (configured, icmp, probe).",
    );
    for c in &r.connections {
        for ch in &c.children {
            if let (Some(m), Some(src)) = (ch.path_mtu, &ch.path_mtu_source) {
                let l = format!("conn=\"{}\",child=\"{}\"", esc(&c.name), esc(&ch.name));
                let _ = writeln!(
                    o,
                    "ikev2d_child_path_mtu{{{l},source=\"{}\"}} {m}",
                    esc(src)
                );
            }
        }
    }
    family(
        &mut o,
        "ikev2d_keep_alive_seconds",
        "gauge",
        "NAT-keepalive interval in use by a connection behind a NAT (keep_alive = auto lowers it when the NAT drops the mapping).",
    );
    for c in &r.connections {
        if let Some(k) = &c.keep_alive {
            let _ = writeln!(
                o,
                "ikev2d_keep_alive_seconds{{conn=\"{}\"}} {}",
                esc(&c.name),
                k.secs
            );
        }
    }
    let per_conn: [(&str, &str, ConnCounter); 4] = [
        (
            "ikev2d_reestablishments_total",
            "IKE SAs that came up after the connection's previous one went down (not by our own terminate).",
            |c| c.reestablishments,
        ),
        (
            "ikev2d_failovers_total",
            "Times another of a connection's remote_addrs took over after the peer in use stopped answering.",
            |c| c.failovers,
        ),
        (
            "ikev2d_nat_mapping_losses_total",
            "Times the NAT in front of us dropped a connection's UDP mapping during a silence (the peer's packets lost until we sent again).",
            |c| c.keep_alive.as_ref().map_or(0, |k| k.mapping_losses),
        ),
        (
            "ikev2d_peer_mapping_changes_total",
            "Times a connection's peer came from a new address or port (its NAT's new mapping) and IKE and ESP followed.",
            |c| c.peer_mapping_changes,
        ),
    ];
    for (name, help, get) in per_conn {
        family(&mut o, name, "counter", help);
        for c in &r.connections {
            let _ = writeln!(o, "{name}{{conn=\"{}\"}} {}", esc(&c.name), get(c));
        }
    }
    family(
        &mut o,
        "ikev2d_failures_total",
        "counter",
        "Failed exchanges by phase and cause.",
    );
    for (k, n) in &r.failures {
        let (phase, cause) = k.split_once(':').unwrap_or((k, ""));
        let _ = writeln!(
            o,
            "ikev2d_failures_total{{phase=\"{}\",cause=\"{}\"}} {n}",
            esc(phase),
            esc(cause)
        );
    }
    family(
        &mut o,
        "ikev2d_events_total",
        "counter",
        "Daemon-wide IKE and data-plane counters (drops by reason among them).",
    );
    for (k, n) in &r.counters {
        let _ = writeln!(o, "ikev2d_events_total{{name=\"{}\"}} {n}", esc(k));
    }
    let h = &r.handshake_seconds;
    family(
        &mut o,
        "ikev2d_handshake_seconds",
        "histogram",
        "Time from initiating an IKE SA to its establishment (ours only).",
    );
    for (b, n) in h.bounds.iter().zip(&h.buckets) {
        let _ = writeln!(o, "ikev2d_handshake_seconds_bucket{{le=\"{b}\"}} {n}");
    }
    let _ = writeln!(
        o,
        "ikev2d_handshake_seconds_bucket{{le=\"+Inf\"}} {}",
        h.count
    );
    let _ = writeln!(o, "ikev2d_handshake_seconds_sum {}", h.sum);
    let _ = writeln!(o, "ikev2d_handshake_seconds_count {}", h.count);
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::proto::{ChildStatus, ConnStatus, Histogram};

    #[test]
    fn exposition_has_every_family_and_escapes_labels() {
        let mut h = Histogram::with_bounds(&[0.01, 0.1]);
        h.observe(0.05);
        let r = StatusReport {
            connections: vec![ConnStatus {
                name: "site\"b".into(),
                state: ConnState::Established,
                local: String::new(),
                remote: String::new(),
                nat_detected: false,
                ike_sa: None,
                children: vec![ChildStatus {
                    name: "net".into(),
                    state: "INSTALLED".into(),
                    spi_in: String::new(),
                    spi_out: String::new(),
                    proposal: String::new(),
                    algorithms: String::new(),
                    local_ts: vec![],
                    remote_ts: vec![],
                    bytes_in: 10,
                    bytes_out: 20,
                    packets_in: 1,
                    packets_out: 2,
                    drops: [("replay".to_owned(), 3)].into(),
                    sa_bytes_in: 0,
                    sa_bytes_out: 0,
                    sa_packets_in: 0,
                    sa_packets_out: 0,
                    rekeys: 4,
                    mtu: None,
                    path_mtu: None,
                    path_mtu_source: None,
                    last_inbound_secs: Some(45),
                    last_outbound_secs: Some(0),
                    warning: Some("one-way".into()),
                    unanswered_tcp: vec!["TCP to 10.2.0.1 port 443".into()],
                }],
                last_error: None,
                reestablishments: 3,
                failovers: 2,
                peer_mapping_changes: 4,
                keep_alive: Some(crate::control::proto::KeepAliveStatus {
                    secs: 10,
                    auto: true,
                    mapping_losses: 1,
                    last_loss: None,
                    last_loss_secs_ago: None,
                    last_loss_silence_secs: None,
                }),
                ..Default::default()
            }],
            counters: [("ike_received".to_owned(), 7)].into(),
            failures: [("IKE_AUTH:auth_mismatch".to_owned(), 2)].into(),
            handshake_seconds: h,
            key_export: None,
        };
        let m = render(&r);
        for want in [
            "ikev2d_connections{state=\"ESTABLISHED\"} 1",
            "ikev2d_connections{state=\"DOWN\"} 0",
            "ikev2d_child_bytes_total{conn=\"site\\\"b\",child=\"net\",direction=\"out\"} 20",
            "ikev2d_child_packets_total{conn=\"site\\\"b\",child=\"net\",direction=\"in\"} 1",
            "ikev2d_child_rekeys_total{conn=\"site\\\"b\",child=\"net\"} 4",
            "ikev2d_child_drops_total{conn=\"site\\\"b\",child=\"net\",reason=\"replay\"} 3",
            "ikev2d_failures_total{phase=\"IKE_AUTH\",cause=\"auth_mismatch\"} 2",
            "ikev2d_failovers_total{conn=\"site\\\"b\"} 2",
            "ikev2d_reestablishments_total{conn=\"site\\\"b\"} 3",
            "ikev2d_nat_mapping_losses_total{conn=\"site\\\"b\"} 1",
            "ikev2d_keep_alive_seconds{conn=\"site\\\"b\"} 10",
            "ikev2d_peer_mapping_changes_total{conn=\"site\\\"b\"} 4",
            "ikev2d_child_up{conn=\"site\\\"b\",child=\"net\"} 1",
            "ikev2d_child_one_way{conn=\"site\\\"b\",child=\"net\"} 1",
            "ikev2d_child_unanswered_tcp_services{conn=\"site\\\"b\",child=\"net\"} 1",
            "ikev2d_child_last_inbound_seconds{conn=\"site\\\"b\",child=\"net\"} 45",
            "ikev2d_events_total{name=\"ike_received\"} 7",
            "ikev2d_handshake_seconds_bucket{le=\"0.01\"} 0",
            "ikev2d_handshake_seconds_bucket{le=\"0.1\"} 1",
            "ikev2d_handshake_seconds_bucket{le=\"+Inf\"} 1",
            "ikev2d_handshake_seconds_count 1",
            "# TYPE ikev2d_handshake_seconds histogram",
        ] {
            assert!(m.contains(want), "{want:?} missing:\n{m}");
        }
        // Every sample line is `name{labels} value` or `name value`.
        for l in m.lines().filter(|l| !l.starts_with('#')) {
            let v = l.rsplit(' ').next().unwrap_or("");
            assert!(v.parse::<f64>().is_ok(), "{l}");
        }
    }
}
