//! The audit log (`[control] audit_log`): one JSON line per admin action on the
//! control socket: time, caller uid and pid, action, target, result. Appended, never
//! rotated or truncated by the daemon. If it cannot be written, the action is refused
//! (fail closed): an admin action nobody can account for does not happen.
//!
//! The file is written by a thread of its own, fed by a channel, so the control task
//! never waits on the disk: records are written in the order they were handed over;
//! [`AuditLog::record`] lets the caller await the outcome of its record (without
//! blocking the task), [`AuditLog::note`] does not, and a record that fails is then
//! logged as an error by the writer.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::oneshot;

/// One record for the writer, and where its outcome goes (if anyone waits).
#[derive(Debug)]
struct Job {
    line: serde_json::Value,
    done: Option<oneshot::Sender<Result<(), String>>>,
}

/// Where audit records go: a handle to the writer thread (cheap to clone).
#[derive(Debug, Clone)]
pub struct AuditLog {
    path: PathBuf,
    jobs: mpsc::Sender<Job>,
}

impl AuditLog {
    /// Starts the writer thread for the log at `path`. The thread ends when the last
    /// handle is dropped, after writing what was queued.
    pub fn new(path: PathBuf) -> Self {
        let (jobs, rx) = mpsc::channel::<Job>();
        let file = path.clone();
        let spawned = std::thread::Builder::new()
            .name("audit".to_owned())
            .spawn(move || {
                for job in rx {
                    let res = append(&file, &job.line);
                    match job.done {
                        Some(done) => {
                            let _ = done.send(res);
                        }
                        None => {
                            if let Err(e) = res {
                                tracing::error!(
                                    "audit record {} {} not written: {e}",
                                    job.line["action"],
                                    job.line["target"]
                                );
                            }
                        }
                    }
                }
            });
        if let Err(e) = spawned {
            // Without the thread every job's sender is dropped: `record` reports the
            // failure (actions are refused), `note` is lost with this line logged.
            tracing::error!("audit log {}: cannot start its writer: {e}", path.display());
        }
        Self { path, jobs }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record and waits (asynchronously) until it is written; the error
    /// says why it could not be.
    pub async fn record(
        &self,
        uid: u32,
        pid: Option<i32>,
        action: &str,
        target: &str,
        result: &str,
    ) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        let job = Job {
            line: line(uid, pid, action, target, result),
            done: Some(tx),
        };
        let gone = || format!("audit log {}: its writer is gone", self.path.display());
        self.jobs.send(job).map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    /// Queues one record without waiting for it; a failure is logged by the writer.
    pub fn note(&self, uid: u32, pid: Option<i32>, action: &str, target: &str, result: &str) {
        let job = Job {
            line: line(uid, pid, action, target, result),
            done: None,
        };
        if self.jobs.send(job).is_err() {
            tracing::error!(
                "audit record {action} {target} not written: the writer of {} is gone",
                self.path.display()
            );
        }
    }
}

/// One record as a JSON value.
fn line(uid: u32, pid: Option<i32>, action: &str, target: &str, result: &str) -> serde_json::Value {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    serde_json::json!({
        "time": now,
        "uid": uid,
        "pid": pid,
        "action": action,
        "target": target,
        "result": result,
    })
}

/// Appends one line to the file at `path` (creating it and its directory).
fn append(path: &Path, line: &serde_json::Value) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("audit log {}: {e}", path.display()))?;
    }
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
        .map_err(|e| format!("audit log {}: {e}", path.display()))?;
    writeln!(f, "{line}").map_err(|e| format!("audit log {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    #[test]
    fn records_are_appended_json_lines_in_order() {
        let dir = std::env::temp_dir().join(format!("ikev2d-audit-{}", std::process::id()));
        let log = AuditLog::new(dir.join("sub/audit.log"));
        block_on(log.record(0, Some(42), "up", "site-b", "accepted")).expect("write");
        // Queued without waiting, then one awaited: both are in, in order.
        log.note(7, None, "key-export", "off", "expired");
        block_on(log.record(1000, None, "down", "site-c", "error: no connection")).expect("write");
        let text = std::fs::read_to_string(log.path()).expect("read");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["action"], "up");
        assert_eq!(lines[0]["pid"], 42);
        assert_eq!(lines[1]["action"], "key-export");
        assert_eq!(lines[1]["uid"], 7);
        assert_eq!(lines[2]["uid"], 1000);
        assert_eq!(lines[2]["result"], "error: no connection");
        assert!(lines[0]["time"].as_f64().is_some_and(|t| t > 1.7e9));
        let _ = std::fs::remove_dir_all(&dir);
        // Unwritable: an error, not a panic; a note is logged, not fatal.
        let bad = AuditLog::new(PathBuf::from("/proc/ikev2d-no/audit.log"));
        bad.note(0, None, "up", "x", "ok");
        assert!(block_on(bad.record(0, None, "up", "x", "ok")).is_err());
    }
}
