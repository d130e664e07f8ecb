//! `ikev2d ping`: ICMP echo through one child of a connection, from this host's
//! address inside the child's `local_ts` (so the kernel routes it into the TUN like
//! the child's other traffic) to an address in its `remote_ts`. The echo runs on a
//! thread of its own; the control task only checks the request and picks the
//! addresses. `--sweep` looks for the largest request that gets through with DF.

use std::net::IpAddr;
use std::time::Duration;

use esp::io::echo::{EchoResult, EchoSocket};
use ikev2::ts::TrafficSelector;
use rand_core::{OsRng, RngCore as _};
use tokio::sync::oneshot;

use super::Supervisor;
use crate::control::proto::{PingReport, PingRequest, Response, Sweep};

/// How long a request waits for its reply.
const WAIT: Duration = Duration::from_secs(1);
/// Time between requests.
const INTERVAL: Duration = Duration::from_millis(500);
/// The sweep's largest ICMP payload tried (a jumbo inner packet).
const SWEEP_MAX: u16 = 9000 - 28;

/// A checked request, ready to run.
#[derive(Debug)]
pub(super) struct PingRun {
    report: PingReport,
    src: IpAddr,
    dst: IpAddr,
    count: u32,
    sweep: bool,
}

impl Supervisor {
    /// Checks `job` against the live SAs: the connection has an installed child
    /// (the one named), the destination is inside its `remote_ts`, and this host has
    /// an address inside its `local_ts`. Errors are the operator's sentence.
    pub(super) fn ping(&self, job: PingRequest) -> Result<PingRun, String> {
        let conn = &job.conn;
        if !self.config.connections.iter().any(|c| c.name == *conn) {
            return Err(format!("no connection named {conn:?}"));
        }
        let live = self.endpoint.ike_sas();
        let child = live
            .iter()
            .filter(|s| s.conn == *conn && s.state == ikev2::IkeSaState::Established)
            .flat_map(|s| s.children.iter())
            .find(|c| c.outbound && job.child.as_ref().is_none_or(|n| *n == c.name))
            .ok_or_else(|| match &job.child {
                Some(n) => format!(
                    "{conn} has no installed CHILD SA {n}: bring it up first (ikev2d up {conn})"
                ),
                None => format!(
                    "{conn} has no installed CHILD SA: bring it up first (ikev2d up {conn})"
                ),
            })?;
        let list = |ts: &[TrafficSelector]| {
            ts.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let dst = match job.to {
            Some(to) => to,
            None => child.remote_ts.iter().find_map(first_host).ok_or_else(|| {
                format!(
                    "{}/{}: no host in remote_ts {}: give one with --to",
                    conn,
                    child.name,
                    list(&child.remote_ts)
                )
            })?,
        };
        let proto = if dst.is_ipv4() { 1 } else { 58 };
        if !child
            .remote_ts
            .iter()
            .any(|ts| ts.contains_packet(dst, proto, None))
        {
            return Err(format!(
                "{dst} is not in {}/{}'s remote_ts ({}): the tunnel does not carry traffic to it",
                conn,
                child.name,
                list(&child.remote_ts)
            ));
        }
        let addresses: Vec<(IpAddr, u32)> = nix::ifaddrs::getifaddrs()
            .map(|it| {
                it.filter_map(|a| {
                    let s = a.address?;
                    let ip = s
                        .as_sockaddr_in()
                        .map(|v4| IpAddr::V4(v4.ip()))
                        .or_else(|| s.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip())))?;
                    Some((ip, 0))
                })
                .collect()
            })
            .unwrap_or_default();
        let src =
            crate::netlink::pick_source(&child.local_ts, &addresses, dst).ok_or_else(|| {
                format!(
                    "no address of this host is inside {}/{}'s local_ts ({}), so nothing from this \
                 host goes through the tunnel: add one (for example `ip addr add ADDR/32 dev lo` \
                 with ADDR in {}), or ping from a host of that network",
                    conn,
                    child.name,
                    list(&child.local_ts),
                    list(&child.local_ts)
                )
            })?;
        Ok(PingRun {
            report: PingReport {
                conn: conn.clone(),
                child: child.name.clone(),
                from: src.to_string(),
                to: dst.to_string(),
                size: job.size,
                replies: Vec::new(),
                sweep: None,
            },
            src,
            dst,
            count: job.count.clamp(1, 1000),
            sweep: job.sweep,
        })
    }
}

/// The first host of a selector: its first address, or the one after it when it
/// is a network address of a larger range.
fn first_host(ts: &TrafficSelector) -> Option<IpAddr> {
    let next = |a: IpAddr| match a {
        IpAddr::V4(v) => u32::from(v).checked_add(1).map(|n| IpAddr::V4(n.into())),
        IpAddr::V6(v) => u128::from(v).checked_add(1).map(|n| IpAddr::V6(n.into())),
    };
    if ts.start == ts.end {
        return Some(ts.start);
    }
    next(ts.start).filter(|n| *n <= ts.end)
}

/// Runs `run` on a thread of its own and answers `reply` when it is done.
pub(super) fn spawn(run: PingRun, reply: oneshot::Sender<Response>) {
    tokio::task::spawn_blocking(move || {
        let resp = match echo(run) {
            Ok(r) => Response::Ping(r),
            Err(e) => Response::Error { message: e },
        };
        let _ = reply.send(resp);
    });
}

fn echo(mut run: PingRun) -> Result<PingReport, String> {
    let id = (OsRng.next_u32() & 0xffff) as u16;
    let sock = EchoSocket::bind(run.src, run.sweep, id)
        .map_err(|e| format!("cannot open an ICMP socket on {}: {e}", run.src))?;
    let fail = |e: std::io::Error| format!("sending to {}: {e}", run.dst);
    if run.sweep {
        run.report.sweep = sweep(&sock, run.dst).map_err(fail)?;
        return Ok(run.report);
    }
    for i in 0..run.count {
        if i > 0 {
            std::thread::sleep(INTERVAL);
        }
        let seq = (i + 1) as u16;
        let rtt = match sock
            .ping(run.dst, seq, usize::from(run.report.size), WAIT)
            .map_err(fail)?
        {
            EchoResult::Reply(t) => Some(t.as_secs_f64() * 1000.0),
            EchoResult::Lost | EchoResult::TooBig => None,
        };
        run.report.replies.push((seq, rtt));
    }
    Ok(run.report)
}

/// The largest ICMP payload that gets an answer with DF (binary search, two tries
/// per size so one lost packet does not count as "too big"); `None` when not even
/// a small one does.
fn sweep(sock: &EchoSocket, dst: IpAddr) -> std::io::Result<Option<Sweep>> {
    let mut seq = 0u16;
    let mut answered = |size: u16| -> std::io::Result<bool> {
        for _ in 0..2 {
            seq = seq.wrapping_add(1);
            match sock.ping(dst, seq, usize::from(size), WAIT)? {
                EchoResult::Reply(_) => return Ok(true),
                EchoResult::TooBig => return Ok(false),
                EchoResult::Lost => {}
            }
        }
        Ok(false)
    };
    if !answered(0)? {
        return Ok(None);
    }
    let (mut lo, mut hi) = (0u16, SWEEP_MAX);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if answered(mid)? {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let ip = if dst.is_ipv4() { 20 } else { 40 };
    let mtu = lo + 8 + ip;
    Ok(Some(Sweep {
        largest_payload: lo,
        mtu,
        mss: mtu - ip - 20,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_host_of_a_selector() {
        let ts = |s: &str| s.parse::<TrafficSelector>().expect("selector");
        assert_eq!(
            first_host(&ts("10.2.0.0/24")),
            Some("10.2.0.1".parse().expect("ip"))
        );
        assert_eq!(
            first_host(&ts("10.2.0.7/32")),
            Some("10.2.0.7".parse().expect("ip"))
        );
        assert_eq!(
            first_host(&ts("fd01:2::/64")),
            Some("fd01:2::1".parse().expect("ip"))
        );
    }
}
