//! iperf3 TCP runs through a tunnel: a one-shot server in one namespace, a client
//! in another, the client's JSON report parsed.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::cmd::Output;
use crate::netns::Netns;
use crate::proc::Proc;

/// `iperf3 -s -1` bound to one address (it serves one test, then exits).
#[derive(Debug)]
pub struct IperfServer {
    proc: Proc,
}

impl IperfServer {
    /// Starts it in `ns` on `bind`, output to `log`, and gives it time to listen.
    pub fn start(ns: &Netns, bind: IpAddr, log: &Path) -> Self {
        let proc = ns.spawn(
            "iperf3",
            &["iperf3", "-s", "-1", "-B", &bind.to_string()],
            log,
        );
        std::thread::sleep(Duration::from_millis(500));
        Self { proc }
    }

    pub fn stop(mut self) {
        let _ = self.proc.stop(Duration::from_secs(2));
    }
}

/// The client's arguments: `secs` seconds of TCP from `src` to `dst` (`reverse`: the
/// server sends), JSON report.
pub fn client_args(src: IpAddr, dst: IpAddr, secs: u32, reverse: bool) -> Vec<String> {
    let mut args: Vec<String> = ["iperf3", "-c", &dst.to_string(), "-B", &src.to_string()]
        .iter()
        .map(|s| (*s).to_owned())
        .chain(["-t".to_owned(), secs.to_string(), "-J".to_owned()])
        .collect();
    if reverse {
        args.push("-R".to_owned());
    }
    args
}

/// What one run gave: the client's output and its JSON report (`Null` if none).
#[derive(Debug)]
pub struct IperfRun {
    pub out: Output,
    pub report: Value,
}

impl IperfRun {
    pub fn from_output(out: Output) -> Self {
        let report = serde_json::from_str(&out.stdout).unwrap_or(Value::Null);
        Self { out, report }
    }

    /// Received throughput (0 when the run failed).
    pub fn bits_per_second(&self) -> f64 {
        self.report["end"]["sum_received"]["bits_per_second"]
            .as_f64()
            .unwrap_or(0.0)
    }

    /// Octets the receiver got (0 when the run failed).
    pub fn received_bytes(&self) -> u64 {
        self.report["end"]["sum_received"]["bytes"]
            .as_u64()
            .unwrap_or(0)
    }
}

/// One TCP run of `secs` seconds from `src` in `client` to `dst` in `server`
/// (`reverse`: `dst` sends), the server's log in `dir`.
pub fn tcp(
    (client, src): (&Netns, IpAddr),
    (server, dst): (&Netns, IpAddr),
    secs: u32,
    reverse: bool,
    dir: &Path,
) -> IperfRun {
    let s = IperfServer::start(server, dst, &dir.join("iperf3.log"));
    let args = client_args(src, dst, secs, reverse);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = client.exec(&args, Duration::from_secs(u64::from(secs) + 27));
    s.stop();
    IperfRun::from_output(out)
}
