//! The audit log (`[control] audit_log`): one JSON line per admin action on the
//! control socket: time, caller uid and pid, action, target, result. Appended, never
//! rotated or truncated by the daemon. If it cannot be written, the action is refused
//! (fail closed): an admin action nobody can account for does not happen.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Where audit records go.
#[derive(Debug, Clone)]
pub struct AuditLog {
    path: PathBuf,
}

impl AuditLog {
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record; the error says why it could not.
    pub fn record(
        &self,
        uid: u32,
        pid: Option<i32>,
        action: &str,
        target: &str,
        result: &str,
    ) -> Result<(), String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let line = serde_json::json!({
            "time": now,
            "uid": uid,
            "pid": pid,
            "action": action,
            "target": target,
            "result": result,
        });
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("audit log {}: {e}", self.path.display()))?;
        }
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o640)
            .open(&self.path)
            .map_err(|e| format!("audit log {}: {e}", self.path.display()))?;
        writeln!(f, "{line}").map_err(|e| format!("audit log {}: {e}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_appended_json_lines() {
        let dir = std::env::temp_dir().join(format!("ikev2d-audit-{}", std::process::id()));
        let log = AuditLog::new(dir.join("sub/audit.log"));
        log.record(0, Some(42), "up", "site-b", "accepted")
            .expect("write");
        log.record(1000, None, "down", "site-c", "error: no connection")
            .expect("write");
        let text = std::fs::read_to_string(log.path()).expect("read");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["action"], "up");
        assert_eq!(lines[0]["pid"], 42);
        assert_eq!(lines[1]["uid"], 1000);
        assert_eq!(lines[1]["result"], "error: no connection");
        assert!(lines[0]["time"].as_f64().is_some_and(|t| t > 1.7e9));
        let _ = std::fs::remove_dir_all(&dir);
        // Unwritable: an error, not a panic.
        let bad = AuditLog::new(PathBuf::from("/proc/ikev2d-no/audit.log"));
        assert!(bad.record(0, None, "up", "x", "ok").is_err());
    }
}
