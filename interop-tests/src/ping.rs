//! `ping` from inside a namespace, parsed to the number of replies.

use std::net::IpAddr;
use std::time::Duration;

use crate::netns::Netns;

/// Send `count` echo requests from `src` (an address of the namespace, which selects
/// the tunnel's inner address) to `dst`, 0.2 s apart, and return how many replies came
/// back. Time limit: `count * 0.2 s + 5 s`.
pub fn ping(ns: &Netns, src: IpAddr, dst: IpAddr, count: u32) -> u32 {
    let (src, dst, c) = (src.to_string(), dst.to_string(), count.to_string());
    let limit = Duration::from_millis(200 * u64::from(count)) + Duration::from_secs(5);
    let o = ns.exec(
        &[
            "ping", "-n", "-q", "-c", &c, "-i", "0.2", "-W", "2", "-I", &src, &dst,
        ],
        limit,
    );
    let received = parse_received(&o.stdout);
    if received.is_none() {
        eprintln!("ping: cannot parse the summary of {o}");
    }
    received.unwrap_or(0)
}

/// Ping once per 0.5 s until a reply comes or `timeout` passes (the first packets
/// after a tunnel comes up may be lost while routes are installed).
pub fn ping_until(ns: &Netns, src: IpAddr, dst: IpAddr, timeout: Duration) -> bool {
    crate::cmd::wait_for(timeout, Duration::from_millis(300), || {
        (ping(ns, src, dst, 1) == 1).then_some(())
    })
    .is_some()
}

/// `3 packets transmitted, 2 received, 33% packet loss, time 402ms` → 2.
pub fn parse_received(out: &str) -> Option<u32> {
    let line = out.lines().find(|l| l.contains("packets transmitted"))?;
    let part = line.split(',').find(|p| p.contains("received"))?;
    part.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_summary() {
        let out = "PING 10.2.0.1 (10.2.0.1) from 10.1.0.1 : 56(84) bytes of data.\n\n\
                   --- 10.2.0.1 ping statistics ---\n\
                   3 packets transmitted, 2 received, 33.3333% packet loss, time 402ms\n";
        assert_eq!(parse_received(out), Some(2));
        let out = "5 packets transmitted, 0 received, +5 errors, 100% packet loss, time 4ms";
        assert_eq!(parse_received(out), Some(0));
        assert_eq!(parse_received("garbage"), None);
    }
}

/// A `ping -D` running in the background (every `interval`), whose replies are read
/// back with their times: the traffic gap of a failover is the longest time between
/// two replies.
#[derive(Debug)]
pub struct PingStream {
    proc: crate::proc::Proc,
}

impl PingStream {
    /// Starts pinging `dst` from `src` every `interval` (for at most 10 minutes).
    pub fn start(
        ns: &Netns,
        src: IpAddr,
        dst: IpAddr,
        interval: Duration,
        log: &std::path::Path,
    ) -> Self {
        let (src, dst) = (src.to_string(), dst.to_string());
        let i = format!("{:.3}", interval.as_secs_f64());
        let proc = ns.spawn(
            "ping",
            &[
                "ping", "-n", "-D", "-i", &i, "-W", "1", "-w", "600", "-I", &src, &dst,
            ],
            log,
        );
        Self { proc }
    }

    /// The Unix times of the replies so far.
    pub fn replies(&self) -> Vec<f64> {
        reply_times(&self.proc.log())
    }

    /// Stops the ping.
    pub fn stop(&mut self) {
        self.proc.stop(Duration::from_secs(2));
    }
}

/// `[1765120000.123456] 64 bytes from 10.2.0.1: icmp_seq=1 ttl=64 time=0.5 ms` → the
/// time, for every reply line.
pub fn reply_times(out: &str) -> Vec<f64> {
    out.lines()
        .filter(|l| l.contains(" bytes from "))
        .filter_map(|l| l.strip_prefix('[')?.split(']').next()?.parse().ok())
        .collect()
}

/// The longest time between two consecutive replies after `after` (Unix time), and
/// when it started: the traffic gap of whatever happened in between.
pub fn longest_gap(replies: &[f64], after: f64) -> Option<(f64, f64)> {
    replies
        .windows(2)
        .filter(|w| w[1] >= after)
        .map(|w| (w[1] - w[0], w[0]))
        .max_by(|x, y| x.0.total_cmp(&y.0))
}

#[cfg(test)]
mod stream_tests {
    use super::*;

    #[test]
    fn reply_times_and_gaps() {
        let out = "PING 10.2.0.1 (10.2.0.1) from 10.1.0.1 : 56(84) bytes of data.\n\
                   [100.000000] 64 bytes from 10.2.0.1: icmp_seq=1 ttl=64 time=0.5 ms\n\
                   [100.100000] 64 bytes from 10.2.0.1: icmp_seq=2 ttl=64 time=0.5 ms\n\
                   [100.200000] From 10.1.0.1 icmp_seq=3 Destination Host Unreachable\n\
                   [104.300000] 64 bytes from 10.2.0.1: icmp_seq=40 ttl=64 time=0.5 ms\n\
                   [104.400000] 64 bytes from 10.2.0.1: icmp_seq=41 ttl=64 time=0.5 ms\n";
        let t = reply_times(out);
        assert_eq!(t, vec![100.0, 100.1, 104.3, 104.4]);
        let (gap, from) = longest_gap(&t, 100.05).expect("gap");
        assert!((gap - 4.2).abs() < 1e-6 && (from - 100.1).abs() < 1e-6);
        assert_eq!(longest_gap(&t[..1], 0.0), None);
    }
}
