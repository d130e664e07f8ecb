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
