//! Who may do what on the control socket (`[control]`): the caller is identified by
//! `SO_PEERCRED` (uid, gid, pid; supplementary groups from `/proc/PID/status`).
//!
//! - **admin**: root, or a member of `admin_group`: every command.
//! - **viewer**: a member of `viewer_group`: `status` only.
//! - anyone else: refused with a message saying what is needed.
//!
//! The socket's own permissions match: `0660` owned by `admin_group` when only that
//! is set (viewers cannot even connect), `0666` when a viewer group exists (the
//! credential check then does the sorting), `0600` for root alone.

use std::path::Path;

use super::proto::Request;
use super::server::Caller;
use crate::config::ControlSettings;

/// What a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Viewer,
}

/// The resolved `[control]` groups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    admin: Option<(String, u32)>,
    viewer: Option<(String, u32)>,
}

impl Access {
    /// Resolves the group names; an unknown group is a startup error.
    pub fn from_config(c: &ControlSettings) -> Result<Self, String> {
        let gid = |name: &Option<String>, key: &str| -> Result<Option<(String, u32)>, String> {
            let Some(name) = name else {
                return Ok(None);
            };
            match nix::unistd::Group::from_name(name) {
                Ok(Some(g)) => Ok(Some((name.clone(), g.gid.as_raw()))),
                Ok(None) => Err(format!(
                    "[control].{key}: no group named {name:?} on this host"
                )),
                Err(e) => Err(format!(
                    "[control].{key}: cannot look up group {name:?}: {e}"
                )),
            }
        };
        Ok(Self {
            admin: gid(&c.admin_group, "admin_group")?,
            viewer: gid(&c.viewer_group, "viewer_group")?,
        })
    }

    /// For tests and callers that resolved the groups themselves.
    pub fn with_gids(admin: Option<u32>, viewer: Option<u32>) -> Self {
        let named = |g: Option<u32>, n: &str| g.map(|g| (n.to_owned(), g));
        Self {
            admin: named(admin, "admin"),
            viewer: named(viewer, "viewer"),
        }
    }

    /// The caller's role, given all its groups.
    pub fn role(&self, uid: u32, groups: &[u32]) -> Option<Role> {
        let member =
            |g: &Option<(String, u32)>| g.as_ref().is_some_and(|(_, gid)| groups.contains(gid));
        if uid == 0 || member(&self.admin) {
            Some(Role::Admin)
        } else if member(&self.viewer) {
            Some(Role::Viewer)
        } else {
            None
        }
    }

    /// The role of a socket caller (its supplementary groups read from /proc).
    pub fn caller_role(&self, caller: &Caller) -> Option<Role> {
        let mut groups = vec![caller.gid];
        if let Some(pid) = caller.pid {
            groups.extend(supplementary_groups(Path::new(&format!(
                "/proc/{pid}/status"
            ))));
        }
        self.role(caller.uid, &groups)
    }

    /// Whether `role` may make `request`; the refusal says what is needed.
    pub fn check(&self, role: Option<Role>, request: &Request) -> Result<(), String> {
        let admin_needed = !matches!(request, Request::Status);
        match (role, admin_needed) {
            (Some(Role::Admin), _) | (Some(Role::Viewer), false) => Ok(()),
            _ => {
                let who = if admin_needed {
                    match &self.admin {
                        Some((name, _)) => format!("root or a member of group {name:?}"),
                        None => "root".to_owned(),
                    }
                } else {
                    let mut w = vec!["root".to_owned()];
                    w.extend(self.admin.iter().map(|(n, _)| format!("group {n:?}")));
                    w.extend(self.viewer.iter().map(|(n, _)| format!("group {n:?}")));
                    w.join(" or ")
                };
                Err(format!(
                    "permission denied: {} needs {who} ([control] admin_group / viewer_group)",
                    request_name(request)
                ))
            }
        }
    }

    /// Mode and group of the socket file.
    pub fn socket_mode(&self) -> (u32, Option<u32>) {
        match (&self.admin, &self.viewer) {
            (_, Some(_)) => (0o666, self.admin.as_ref().map(|(_, g)| *g)),
            (Some((_, g)), None) => (0o660, Some(*g)),
            (None, None) => (0o600, None),
        }
    }
}

/// The command word of a request (`status`, `up`, ...).
pub fn request_name(r: &Request) -> &'static str {
    match r {
        Request::Status => "status",
        Request::Up { .. } => "up",
        Request::Down { .. } => "down",
        Request::Rekey { .. } => "rekey",
        Request::Ping(_) => "ping",
        Request::BreakGlass { drill: false, .. } => "break-glass",
        Request::BreakGlass { drill: true, .. } => "break-glass-drill",
        Request::KeyExport { .. } => "key-export",
    }
}

/// The `Groups:` line of a `/proc/PID/status` file.
fn supplementary_groups(status: &Path) -> Vec<u32> {
    std::fs::read_to_string(status)
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("Groups:")).map(|g| {
                g.split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect()
            })
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up() -> Request {
        Request::Up {
            conn: "c".into(),
            timeout_secs: 5,
        }
    }

    #[test]
    fn roles_follow_uid_and_groups() {
        let a = Access::with_gids(Some(100), Some(200));
        assert_eq!(a.role(0, &[0]), Some(Role::Admin));
        assert_eq!(a.role(1000, &[1000, 100]), Some(Role::Admin));
        assert_eq!(a.role(1000, &[200]), Some(Role::Viewer));
        assert_eq!(a.role(1000, &[1000]), None);
        let none = Access::default();
        assert_eq!(none.role(1000, &[100, 200]), None);
    }

    #[test]
    fn viewers_see_admins_act_others_are_refused() {
        let a = Access::with_gids(Some(100), Some(200));
        assert!(a.check(Some(Role::Viewer), &Request::Status).is_ok());
        let e = a
            .check(Some(Role::Viewer), &up())
            .expect_err("viewer cannot up");
        assert!(
            e.contains("permission denied: up needs root or a member of group \"admin\""),
            "{e}"
        );
        assert!(a.check(Some(Role::Admin), &up()).is_ok());
        let e = a.check(None, &Request::Status).expect_err("nobody");
        assert!(
            e.contains("status needs root or group \"admin\" or group \"viewer\""),
            "{e}"
        );
    }

    #[test]
    fn break_glass_and_key_export_are_admin_only() {
        let a = Access::with_gids(Some(100), Some(200));
        let halves = || {
            [
                crate::control::proto::HalfSecret::new("a".into()),
                crate::control::proto::HalfSecret::new("b".into()),
            ]
        };
        for r in [
            Request::BreakGlass {
                conn: "c".into(),
                halves: halves(),
                drill: false,
            },
            Request::BreakGlass {
                conn: "c".into(),
                halves: halves(),
                drill: true,
            },
            Request::KeyExport {
                enable: true,
                for_secs: None,
            },
            Request::KeyExport {
                enable: false,
                for_secs: None,
            },
        ] {
            assert!(a.check(Some(Role::Admin), &r).is_ok(), "{r:?}");
            let e = a.check(Some(Role::Viewer), &r).expect_err("viewer");
            assert!(e.contains("permission denied"), "{e}");
            assert!(a.check(None, &r).is_err(), "{r:?}");
        }
    }

    #[test]
    fn socket_mode_matches_the_roles() {
        assert_eq!(Access::default().socket_mode(), (0o600, None));
        assert_eq!(
            Access::with_gids(Some(100), None).socket_mode(),
            (0o660, Some(100))
        );
        assert_eq!(
            Access::with_gids(Some(100), Some(200)).socket_mode(),
            (0o666, Some(100))
        );
    }

    #[test]
    fn supplementary_groups_come_from_proc() {
        let dir = std::env::temp_dir().join(format!("ikev2d-groups-{}", std::process::id()));
        std::fs::write(&dir, "Name:\tx\nGroups:\t4 24 27 \nUid:\t1\n").expect("write");
        assert_eq!(supplementary_groups(&dir), vec![4, 24, 27]);
        let _ = std::fs::remove_file(&dir);
        assert!(supplementary_groups(Path::new("/nonexistent/status")).is_empty());
        // This process's own groups are readable.
        let me = Path::new("/proc/self/status");
        assert!(std::fs::read_to_string(me).is_ok());
    }
}
