//! `ikev2-loadgen`: many IKEv2 initiators in one process, for the handshake-rate and
//! memory benchmarks of `scripts/bench` (issue 8).
//!
//! One [`ikev2::Endpoint`] holds N connections `lg0` ... `lgN-1` to the same responder.
//! Each has its own identity (`lg<i>.bench`), its own inner selector (one /32 of
//! `--ts-base`, so the responder installs one route and one SA pair per tunnel) and
//! no INITIAL_CONTACT (all initiators share one source address; INITIAL_CONTACT would
//! make the responder drop the others). The endpoint is driven over two real UDP
//! sockets (500 and 4500 on `--local`) with `poll(2)`; timers run every 20 ms.
//!
//! A window of `--window` establishments is kept in flight. An establishment counts when
//! the first CHILD SA is installed (IKE_SA_INIT + IKE_AUTH complete). Without `--hold`
//! the IKE SA is deleted right after (one INFORMATIONAL exchange), so the responder's
//! SA count stays small during a rate run; with `--hold` SAs stay up and the process
//! keeps answering (DPD, retransmissions) until killed, after printing `READY`.
//!
//! Every establishment is checked against the suite asked for: the negotiated IKE suite
//! (encryption, integrity, PRF, key exchange and the RFC 9370 additional key exchanges,
//! e.g. ML-KEM-768 in IKE_INTERMEDIATE for `x25519-ke1_mlkem768`) must be the one of the
//! first `--ike` proposal, else the establishment counts as failed (`wrong_suite`).
//! `--any-suite` turns the check off (needed when that proposal offers several choices).
//!
//! Output: progress lines on stderr, one result line `key=value ...` on stdout.
//! This binary never reads the clock inside the endpoint: it passes `Instant::now()`.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use ikev2::config::{ChildConfig, ConnectionConfig, EndpointConfig, Identity, SharedSecret};
use ikev2::crypto::algorithms::IkeSuite;
use ikev2::crypto::proposal::Proposal;
use ikev2::event::{Event, IkeSaId};
use ikev2::ts::TsSpec;
use ikev2::wire::ProtocolId;
use ikev2::{Endpoint, Transmit, TransmitKind};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use rand_core::{OsRng, RngCore};

#[derive(Parser, Debug)]
#[command(
    version,
    about = "IKEv2 handshake load generator (many initiators, one process)"
)]
struct Args {
    /// Responder address (UDP 500).
    #[arg(long)]
    responder: IpAddr,
    /// Our address (UDP 500 and 4500 are bound on it).
    #[arg(long)]
    local: IpAddr,
    /// Pre-shared key (text).
    #[arg(long)]
    psk: String,
    /// IKE proposal (strongSwan syntax).
    #[arg(long, default_value = "aes128gcm16-prfsha256-x25519")]
    ike: String,
    /// ESP proposal of the first CHILD SA.
    #[arg(long, default_value = "aes128gcm16")]
    esp: String,
    /// Establishments in flight at once.
    #[arg(long, default_value_t = 64)]
    window: usize,
    /// Stop after this many establishments (0 = until --duration).
    #[arg(long, default_value_t = 0)]
    count: usize,
    /// Stop starting new establishments after this many seconds (0 = until --count).
    #[arg(long, default_value_t = 0.0)]
    duration: f64,
    /// Seconds of warm-up before the measured interval starts (establishments during
    /// it are not counted in the rate).
    #[arg(long, default_value_t = 0.0)]
    warmup: f64,
    /// Keep the SAs up: print READY when done and keep answering until killed.
    #[arg(long)]
    hold: bool,
    /// With --hold: exit (without deleting the SAs) right after printing READY, e.g.
    /// to write a heap profile of the held SAs under `valgrind --tool=dhat`.
    #[arg(long)]
    exit_when_ready: bool,
    /// Number of distinct connections (identities/selectors) to cycle through when
    /// not holding; with --hold it is --count.
    #[arg(long, default_value_t = 1024)]
    pool: usize,
    /// First inner address; connection i proposes TSi = ts_base + i (/32).
    #[arg(long, default_value = "10.128.0.0")]
    ts_base: Ipv4Addr,
    /// The responder's protected network (TSr).
    #[arg(long, default_value = "10.2.0.0/24")]
    remote_ts: String,
    /// Retransmission timeout of the first try (seconds).
    #[arg(long, default_value_t = 2.0)]
    retransmit_timeout: f64,
    /// Accept any negotiated IKE suite. Without it, an establishment counts only if
    /// the suite (including the additional key exchanges) is exactly the first
    /// `--ike` proposal, which must then offer one algorithm per transform type.
    #[arg(long)]
    any_suite: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.count == 0 && args.duration <= 0.0 {
        bail!("give --count or --duration");
    }
    if args.hold && args.count == 0 {
        bail!("--hold needs --count");
    }
    let conns = if args.hold {
        args.count
    } else {
        args.pool.max(args.window * 2)
    };
    let config = endpoint_config(&args, conns)?;
    let expect = expected_suite(&args)?;
    let mut seed = [0u8; 32];
    OsRng.fill_bytes(&mut seed);
    let mut ep = Endpoint::new(Arc::new(config), seed);
    // Our own resident memory before any SA exists (configuration built): with
    // --hold, the growth per SA is what one initiator-side IKE SA + CHILD SA costs in
    // the ikev2 crate alone (no data plane), printed with READY.
    let rss_start = rss_kib();

    let s500 = UdpSocket::bind(SocketAddr::new(args.local, 500)).context("bind UDP 500")?;
    let s4500 = UdpSocket::bind(SocketAddr::new(args.local, 4500)).context("bind UDP 4500")?;
    s500.set_nonblocking(true)?;
    s4500.set_nonblocking(true)?;
    let l500 = SocketAddr::new(args.local, 500);
    let l4500 = SocketAddr::new(args.local, 4500);

    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(args.warmup);
    let stop_starting =
        (args.duration > 0.0).then(|| measure_from + Duration::from_secs_f64(args.duration));
    let mut run = Run::default();
    let mut next_conn = 0usize;
    let mut next_timer = start;
    let mut next_report = start + Duration::from_secs(1);
    let mut ready_printed = false;
    let mut buf = vec![0u8; 65536];
    let mut measured: Option<(Instant, usize)> = None;

    loop {
        let now = Instant::now();
        if measured.is_none() && now >= measure_from {
            measured = Some((now, run.established));
        }
        let starting =
            stop_starting.is_none_or(|t| now < t) && (args.count == 0 || run.started < args.count);
        // Fill the window.
        while starting && run.in_flight.len() < args.window {
            if args.count != 0 && run.started >= args.count {
                break;
            }
            let name = format!("lg{}", next_conn % conns);
            next_conn += 1;
            match ep.initiate(now, &name) {
                Ok(id) => {
                    run.in_flight.insert(id, now);
                    run.started += 1;
                }
                Err(e) => bail!("initiate {name}: {e}"),
            }
        }
        flush(&mut ep, &s500, &s4500, &mut run);
        drain_events(&mut ep, now, &mut run, args.hold, expect.as_ref());
        flush(&mut ep, &s500, &s4500, &mut run);

        if !starting && run.in_flight.is_empty() {
            if !args.hold {
                break;
            }
            if !ready_printed {
                ready_printed = true;
                print_result(&args, &run, &ep, expect.as_ref(), start, measured, now);
                let rss = rss_kib();
                let per = match (rss_start, rss) {
                    (Some(a), Some(b)) if run.established > 0 => {
                        format!(
                            "{:.2}",
                            (b.saturating_sub(a)) as f64 / run.established as f64
                        )
                    }
                    _ => "?".to_owned(),
                };
                println!(
                    "READY established={} loadgen_rss_kib_before={} loadgen_rss_kib_after={} \
                     loadgen_kib_per_sa={per}",
                    run.established,
                    rss_start.unwrap_or(0),
                    rss.unwrap_or(0)
                );
                if args.exit_when_ready {
                    // exit() rather than returning: the SAs must still be allocated
                    // when a heap profiler takes its end-of-run snapshot.
                    use std::io::Write as _;
                    let _ = std::io::stdout().flush();
                    std::process::exit(0);
                }
            }
        }

        // Wait for datagrams (or the next timer tick).
        let wait_ms: u16 = 5;
        let mut fds = [
            PollFd::new(s500.as_fd(), PollFlags::POLLIN),
            PollFd::new(s4500.as_fd(), PollFlags::POLLIN),
        ];
        let n = poll(&mut fds, PollTimeout::from(wait_ms)).unwrap_or(0);
        let now = Instant::now();
        if n > 0 {
            for (sock, local) in [(&s500, l500), (&s4500, l4500)] {
                for _ in 0..256 {
                    match sock.recv_from(&mut buf) {
                        Ok((len, from)) => {
                            run.received += 1;
                            // Port 4500: IKE follows the non-ESP marker; keepalives
                            // and ESP are not for the endpoint.
                            let msg = match &buf[..len] {
                                [0, 0, 0, 0, msg @ ..] if local.port() != 500 => msg,
                                _ if local.port() != 500 => continue,
                                msg => msg,
                            };
                            ep.handle_datagram(now, local, from, msg);
                            // Answers leave at once: keeps the pipeline full.
                            flush(&mut ep, &s500, &s4500, &mut run);
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e).context("recv"),
                    }
                }
            }
        }
        // Endpoint::poll_timeout and handle_timeout visit every SA: a 20 ms tick keeps
        // that off the per-datagram path.
        if now >= next_timer {
            ep.handle_timeout(now);
            next_timer = now + Duration::from_millis(20);
        }
        if now >= next_report {
            next_report = now + Duration::from_secs(1);
            eprintln!(
                "[loadgen] t={:.1}s established={} failed={} in_flight={} sent={} received={}",
                now.duration_since(start).as_secs_f64(),
                run.established,
                run.failed,
                run.in_flight.len(),
                run.sent,
                run.received
            );
        }
    }
    let now = Instant::now();
    if !ready_printed {
        print_result(&args, &run, &ep, expect.as_ref(), start, measured, now);
    }
    Ok(())
}

#[derive(Debug, Default)]
struct Run {
    in_flight: HashMap<IkeSaId, Instant>,
    started: usize,
    established: usize,
    established_at: Vec<Instant>,
    failed: usize,
    latencies_us: Vec<u64>,
    sent: u64,
    received: u64,
    first_failure: Option<String>,
    /// In flight, IKE SA up with the expected suite, first CHILD SA not yet reported.
    suite_ok: HashSet<IkeSaId>,
    /// Establishments whose IKE SA came up with another suite (counted in `failed`).
    wrong_suite: usize,
}

impl Run {
    /// An establishment in flight failed (counted once; the first reason is kept).
    fn fail(&mut self, id: IkeSaId, why: impl FnOnce() -> String) {
        if self.in_flight.remove(&id).is_some() {
            self.failed += 1;
            if self.first_failure.is_none() {
                self.first_failure = Some(why());
            }
        }
    }
}

fn print_result(
    args: &Args,
    run: &Run,
    ep: &Endpoint,
    expect: Option<&IkeSuite>,
    start: Instant,
    measured: Option<(Instant, usize)>,
    now: Instant,
) {
    // Rate over the measured interval: establishments completed after warm-up,
    // divided by the time from the end of warm-up to the last completion.
    let (t0, _) = measured.unwrap_or((start, 0));
    let done: Vec<&Instant> = run.established_at.iter().filter(|t| **t >= t0).collect();
    let span = done
        .last()
        .map(|t| t.duration_since(t0).as_secs_f64())
        .unwrap_or(0.0);
    let rate = if span > 0.0 {
        done.len() as f64 / span
    } else {
        0.0
    };
    let mut lat = run.latencies_us.clone();
    lat.sort_unstable();
    let pct = |p: f64| -> u64 {
        if lat.is_empty() {
            0
        } else {
            let i = ((lat.len() as f64 - 1.0) * p).round() as usize;
            lat[i.min(lat.len() - 1)]
        }
    };
    let st = ep.stats();
    println!(
        "RESULT ike={} window={} established={} failed={} measured={} seconds={:.3} rate={:.1} \
         setup_ms_p50={:.2} setup_ms_p99={:.2} total_seconds={:.3} suite={} wrong_suite={} \
         sent={} received={} fragmented={} reassembled={} retransmitted={} \
         first_failure={:?}",
        args.ike,
        args.window,
        run.established,
        run.failed,
        done.len(),
        span,
        rate,
        pct(0.5) as f64 / 1000.0,
        pct(0.99) as f64 / 1000.0,
        now.duration_since(start).as_secs_f64(),
        expect.map_or_else(|| "any".to_owned(), key_exchanges),
        run.wrong_suite,
        run.sent,
        run.received,
        st.fragmented_messages,
        st.reassembled_messages,
        st.retransmitted_requests,
        run.first_failure.as_deref().unwrap_or("")
    );
}

/// VmRSS of this process in KiB (Linux).
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn endpoint_config(args: &Args, conns: usize) -> Result<EndpointConfig> {
    let ike = Proposal::parse_list(ProtocolId::IKE, &args.ike)
        .map_err(|e| anyhow::anyhow!("--ike {}: {e}", args.ike))?;
    let esp = Proposal::parse_list(ProtocolId::ESP, &args.esp)
        .map_err(|e| anyhow::anyhow!("--esp {}: {e}", args.esp))?;
    let remote_ts: TsSpec = args
        .remote_ts
        .parse()
        .map_err(|e| anyhow::anyhow!("--remote-ts {}: {e:?}", args.remote_ts))?;
    let base = u32::from(args.ts_base);
    let mut cfg = EndpointConfig {
        // We are only an initiator; the responder's limits are what is measured.
        cookie_threshold: usize::MAX,
        block_threshold: 0,
        half_open_limit: 0,
        ..EndpointConfig::default()
    };
    cfg.retransmit.timeout = Duration::from_secs_f64(args.retransmit_timeout);
    cfg.retransmit.tries = 3;
    cfg.secrets
        .push(SharedSecret::new(Vec::new(), args.psk.as_bytes()));
    for i in 0..conns {
        let offset = u32::try_from(i).context("too many connections")?;
        let inner = Ipv4Addr::from(base.checked_add(offset).context("--ts-base overflow")?);
        let local_ts: TsSpec = format!("{inner}/32")
            .parse()
            .map_err(|e| anyhow::anyhow!("local_ts {inner}: {e:?}"))?;
        let mut child = ChildConfig::new("net");
        child.local_ts = vec![local_ts];
        child.remote_ts = vec![remote_ts];
        child.esp_proposals = esp.clone();
        child.rekey_time = Duration::ZERO;
        child.life_time = Duration::ZERO;
        let mut c = ConnectionConfig::new(format!("lg{i}"));
        c.local_addrs = vec![args.local];
        c.remote_addrs = vec![args.responder];
        c.local_id = Identity::Fqdn(format!("lg{i}.bench"));
        c.proposals = ike.clone();
        c.initial_contact = false;
        c.rekey_time = Duration::ZERO;
        c.children = vec![child];
        cfg.connections.push(c);
    }
    Ok(cfg)
}

fn flush(ep: &mut Endpoint, s500: &UdpSocket, s4500: &UdpSocket, run: &mut Run) {
    let mut wire = Vec::new();
    while let Some(Transmit {
        local,
        remote,
        kind,
        payload,
    }) = ep.poll_transmit()
    {
        let sock = if local.port() == 4500 { s4500 } else { s500 };
        // The endpoint's messages are marker-free: frame them for the port.
        wire.clear();
        match kind {
            TransmitKind::NatKeepalive => wire.push(0xff),
            TransmitKind::Ike if local.port() != 500 => wire.extend_from_slice(&[0; 4]),
            TransmitKind::Ike => {}
        }
        wire.extend_from_slice(&payload);
        // A full socket buffer loses the datagram: the retransmission timer covers it,
        // as it would on a real network.
        if sock.send_to(&wire, remote).is_ok() {
            run.sent += 1;
        }
    }
}

fn drain_events(
    ep: &mut Endpoint,
    now: Instant,
    run: &mut Run,
    hold: bool,
    expect: Option<&IkeSuite>,
) {
    let mut to_delete = Vec::new();
    while let Some(e) = ep.poll_event() {
        match e {
            // IKE_AUTH reports the IKE SA up before the CHILD SA it carried.
            Event::IkeSaUp(up) if up.initiator && run.in_flight.contains_key(&up.ike_sa) => {
                match expect {
                    Some(want) if up.suite != *want => {
                        run.wrong_suite += 1;
                        run.fail(up.ike_sa, || {
                            format!(
                                "wrong suite: {} ({:?}), expected {}",
                                key_exchanges(&up.suite),
                                up.suite,
                                key_exchanges(want)
                            )
                        });
                        to_delete.push(up.ike_sa);
                    }
                    _ => {
                        run.suite_ok.insert(up.ike_sa);
                    }
                }
            }
            Event::ChildSaInstalled(c) if c.initiator && c.rekey_of.is_none() => {
                if !run.suite_ok.remove(&c.ike_sa) {
                    run.fail(c.ike_sa, || "CHILD SA without IkeSaUp".to_owned());
                    continue;
                }
                if let Some(t0) = run.in_flight.remove(&c.ike_sa) {
                    run.established += 1;
                    run.established_at.push(now);
                    let us = u64::try_from(now.duration_since(t0).as_micros()).unwrap_or(u64::MAX);
                    run.latencies_us.push(us);
                    if !hold {
                        to_delete.push(c.ike_sa);
                    }
                }
            }
            Event::Failed(f) => {
                if let Some(id) = f.ike_sa {
                    run.suite_ok.remove(&id);
                    run.fail(id, || format!("{:?}: {}", f.phase, f.cause));
                }
            }
            Event::IkeSaDown(d) => {
                run.suite_ok.remove(&d.ike_sa);
                run.fail(d.ike_sa, || format!("down: {}", d.reason));
            }
            _ => {}
        }
    }
    for id in to_delete {
        // Already gone is fine: the count is what matters.
        let _ = ep.terminate_ike_sa(now, id);
    }
}

/// The suite every establishment must negotiate: the first `--ike` proposal's, unless
/// `--any-suite`.
fn expected_suite(args: &Args) -> Result<Option<IkeSuite>> {
    if args.any_suite {
        return Ok(None);
    }
    let ike = Proposal::parse_list(ProtocolId::IKE, &args.ike)
        .map_err(|e| anyhow::anyhow!("--ike {}: {e}", args.ike))?;
    let first = ike.first().context("--ike: no proposal")?;
    match first.ike_suite() {
        Some(s) => Ok(Some(s)),
        None => bail!(
            "--ike {}: the first proposal offers several algorithms of one kind, so the \
             expected suite is not known; give one of each or --any-suite",
            args.ike
        ),
    }
}

/// The key exchanges of a suite: `CURVE_25519`, `CURVE_25519+ke1=ML_KEM_768`.
fn key_exchanges(s: &IkeSuite) -> String {
    let mut out = s.dh.to_string();
    for (n, m) in s.additional() {
        let _ = write!(out, "+ke{n}={m}");
    }
    out
}
