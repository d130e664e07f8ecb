//! What both data-plane workers share: the command channel with its eventfd wake-up
//! ([`Control`] on the control task's side, [`Link`] on the worker's), the commands
//! every worker answers ([`Cmd`]: barrier, report, shutdown, around the worker's own
//! table changes), the wait for readable sockets, per-SA usage reports ([`Tracked`])
//! and the thread that reports a failed or panicking worker. Never touches a packet.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use esp::counters::{SaEvent, SaUsage};
use esp::{InboundSa, OutboundSa};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::eventfd::EventFd;
use tokio::sync::{mpsc, oneshot};

use super::{DataStats, MssPolicy, SaReport, WorkerMsg};

/// A command to one worker: a change `T` to its own tables, or one every worker
/// answers.
#[derive(Debug)]
pub(super) enum Cmd<T> {
    Table(T),
    /// Answered once every command before it is applied.
    Barrier(oneshot::Sender<()>),
    /// Send the SA counters now (before answering), so `status` is current.
    Report(oneshot::Sender<()>),
    Shutdown,
}

/// A worker's command channel and its eventfd, on the control task's side.
#[derive(Debug)]
pub(super) struct Control<T> {
    pub(super) tx: Sender<Cmd<T>>,
    pub(super) wake: Arc<EventFd>,
}

impl<T> Control<T> {
    pub(super) fn send(&self, cmd: Cmd<T>) {
        // A worker that is gone reported why through WorkerMsg::Failed already.
        let _ = self.tx.send(cmd);
        let _ = self.wake.write(1);
    }
}

/// Runs a worker on its own thread. An IO error or a panic (a bug) is reported to the
/// control task, which then stops the daemon (systemd restarts it) rather than run
/// on with half a data plane.
pub(super) fn spawn_worker(
    name: &'static str,
    tx: mpsc::UnboundedSender<WorkerMsg>,
    run: impl FnOnce() -> io::Result<()> + Send + 'static,
) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let error = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
                Ok(Ok(())) => return,
                Ok(Err(e)) => e.to_string(),
                Err(p) => {
                    let what = p
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| p.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    format!("panicked: {what}")
                }
            };
            let _ = tx.send(WorkerMsg::Failed {
                worker: name,
                error,
            });
        })
}

/// Waits until one of `fds` or the wake eventfd is readable (or `timeout`);
/// returns which of `fds` are readable, and in `errors` which have a pending error
/// (`POLLERR`: an ICMP error queued, see `esp::io::errqueue`).
pub(super) fn wait_readable(
    fds: &[BorrowedFd<'_>],
    wake: &EventFd,
    timeout: Duration,
    ready: &mut Vec<bool>,
    errors: &mut Vec<bool>,
) -> io::Result<()> {
    let mut pfds: Vec<PollFd<'_>> = fds
        .iter()
        .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
        .collect();
    pfds.push(PollFd::new(wake.as_fd(), PollFlags::POLLIN));
    let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
    match poll(&mut pfds, PollTimeout::from(ms)) {
        Ok(_) | Err(nix::errno::Errno::EINTR) => {}
        Err(e) => return Err(e.into()),
    }
    ready.clear();
    ready.extend(pfds.iter().map(|p| {
        p.revents()
            .is_some_and(|r| r.intersects(PollFlags::POLLIN | PollFlags::POLLERR))
    }));
    errors.clear();
    errors.extend(
        pfds.iter()
            .map(|p| p.revents().is_some_and(|r| r.contains(PollFlags::POLLERR))),
    );
    if ready.pop() == Some(true) {
        let _ = wake.read();
    }
    Ok(())
}

/// What both SA directions offer for reporting.
pub(super) trait CountedSa {
    fn usage(&self) -> SaUsage;
    fn poll_event(&mut self) -> Option<SaEvent>;
}

impl CountedSa for OutboundSa {
    fn usage(&self) -> SaUsage {
        OutboundSa::usage(self)
    }
    fn poll_event(&mut self) -> Option<SaEvent> {
        OutboundSa::poll_event(self)
    }
}

impl CountedSa for InboundSa {
    fn usage(&self) -> SaUsage {
        InboundSa::usage(self)
    }
    fn poll_event(&mut self) -> Option<SaEvent> {
        InboundSa::poll_event(self)
    }
}

/// An installed SA with what its worker last reported about it.
#[derive(Debug)]
pub(super) struct Tracked<S> {
    pub(super) sa: S,
    pub(super) last_packet: Option<Instant>,
    /// Inbound: the first hole after a silence since the last report.
    pub(super) gap: Option<super::InboundGap>,
    /// TCP services opened (outbound) or answered (inbound) since the last report.
    handshakes: Vec<super::TcpService>,
    /// Octets, packets and drops at the last report, to report only changes.
    reported: (u64, u64, u64),
}

impl<S: CountedSa> Tracked<S> {
    pub(super) fn new(sa: S) -> Self {
        Self {
            sa,
            last_packet: None,
            gap: None,
            handshakes: Vec::new(),
            reported: (0, 0, 0),
        }
    }

    /// Notes the TCP open or answer in `packet` (plaintext), if it is one of the
    /// kind that counts in this direction.
    #[inline]
    pub(super) fn note_handshake(&mut self, packet: &[u8], outbound: bool) {
        let Some((ends, kind)) = esp::mss::tcp_handshake(packet) else {
            return;
        };
        if (kind == esp::mss::Handshake::Open) != outbound {
            return;
        }
        let s = super::TcpService::of(&ends, outbound);
        if self.handshakes.len() < super::HANDSHAKES_PER_REPORT && !self.handshakes.contains(&s) {
            self.handshakes.push(s);
        }
    }

    /// A report if anything changed (always for a `removed` SA's final one).
    pub(super) fn report(&mut self, removed: bool) -> Option<SaReport> {
        let usage = self.sa.usage();
        let events: Vec<SaEvent> = std::iter::from_fn(|| self.sa.poll_event()).collect();
        let now = (usage.bytes, usage.packets, usage.drops.total());
        let changed = now != self.reported;
        self.reported = now;
        let gap = self.gap.take();
        let handshakes = std::mem::take(&mut self.handshakes);
        (changed || removed || !events.is_empty()).then_some(SaReport {
            usage,
            last_packet: self.last_packet,
            events,
            removed,
            gap,
            handshakes,
        })
    }
}

/// What each worker holds of the common plumbing: its command channel, the way back
/// to the control task, counters, and the MSS clamping policy.
#[derive(Debug)]
pub(super) struct Link<T> {
    pub(super) cmds: Receiver<Cmd<T>>,
    pub(super) wake: Arc<EventFd>,
    pub(super) to_control: mpsc::UnboundedSender<WorkerMsg>,
    pub(super) stats: Arc<DataStats>,
    /// How TCP SYNs are clamped to each SA's inner MTU.
    pub(super) mss: MssPolicy,
}

impl<T> Link<T> {
    pub(super) fn send_reports(&self, reports: Vec<SaReport>) {
        if !reports.is_empty() {
            let _ = self.to_control.send(WorkerMsg::Usage(reports));
        }
    }
}

/// A worker's own table changes; the common commands are handled by
/// [`apply_commands`].
pub(super) trait Worker {
    /// The changes to this worker's tables.
    type Cmd;
    fn link(&self) -> &Link<Self::Cmd>;
    fn apply(&mut self, cmd: Self::Cmd);
    /// Reports the counters of every SA that changed.
    fn report_usage(&mut self);
}

/// Applies queued commands; false on shutdown.
pub(super) fn apply_commands<W: Worker>(w: &mut W) -> bool {
    loop {
        match w.link().cmds.try_recv() {
            Ok(Cmd::Barrier(ack)) => {
                let _ = ack.send(());
            }
            Ok(Cmd::Report(ack)) => {
                w.report_usage();
                let _ = ack.send(());
            }
            Ok(Cmd::Shutdown) | Err(TryRecvError::Disconnected) => return false,
            Ok(Cmd::Table(cmd)) => w.apply(cmd),
            Err(TryRecvError::Empty) => return true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_that_panics_or_fails_is_reported() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let h = spawn_worker("t1", tx.clone(), || panic!("boom")).expect("spawn");
        let _ = h.join();
        let h = spawn_worker("t2", tx.clone(), || Err(io::Error::other("gone"))).expect("spawn");
        let _ = h.join();
        let h = spawn_worker("t3", tx, || Ok(())).expect("spawn");
        let _ = h.join();
        let mut got = Vec::new();
        while let Ok(WorkerMsg::Failed { worker, error }) = rx.try_recv() {
            got.push((worker, error));
        }
        assert_eq!(
            got,
            vec![
                ("t1", "panicked: boom".to_owned()),
                ("t2", "gone".to_owned())
            ]
        );
    }
}
