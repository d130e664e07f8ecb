//! Control-socket requests on the control task: role check, audit (fail closed: an
//! admin request whose record cannot be written is refused; the writes themselves
//! happen on the audit log's own thread), `status`, `up` (and its waiters), `down`,
//! `rekey`, key export; `break-glass` is handed to [`super::super::breakglass`].

use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::Supervisor;
use crate::config::DaemonConfig;
use crate::control::access::request_name;
use crate::control::proto::{ConnState, KeyExportStatus, Request, Response, StatusReport};
use crate::control::server::ControlCall;

/// The default of `ikev2d debug key-export on` without `--for`.
pub const KEY_EXPORT_DEFAULT: Duration = Duration::from_secs(3600);
/// The longest `--for`.
pub const KEY_EXPORT_MAX: Duration = Duration::from_secs(7 * 86_400);

/// An `ikev2d up CONN` waiting for its children.
#[derive(Debug)]
pub(super) struct UpWaiter {
    conn: String,
    deadline: Instant,
    reply: oneshot::Sender<Response>,
}

/// An admin request whose "requested" audit record is written.
#[derive(Debug)]
pub(super) struct Audited {
    call: ControlCall,
    action: &'static str,
    target: String,
}

impl Supervisor {
    /// Checks the caller's role; an admin action is audited before it is carried out
    /// (and refused when the audit log cannot be written) and again with its result.
    /// The audit writer answers off this task: the action comes back through
    /// [`Self::audited`].
    pub(super) fn control(&mut self, call: ControlCall) {
        let role = self.access.caller_role(&call.caller);
        if let Err(msg) = self.access.check(role, &call.request) {
            tracing::warn!(
                "control: {} refused for uid {} (pid {:?}): {msg}",
                request_name(&call.request),
                call.caller.uid,
                call.caller.pid
            );
            let _ = call.reply.send(Response::Error { message: msg });
            return;
        }
        let action = request_name(&call.request);
        let target = match &call.request {
            Request::Status => None,
            Request::Up { conn, .. }
            | Request::Down { conn }
            | Request::BreakGlass { conn, .. } => Some(conn.clone()),
            Request::KeyExport { enable: false, .. } => Some("off".to_owned()),
            Request::KeyExport {
                enable: true,
                for_secs,
            } => Some(match for_secs {
                Some(s) => format!("on for {s}s"),
                None => format!("on for {}s", KEY_EXPORT_DEFAULT.as_secs()),
            }),
            Request::Rekey { conn, child } => Some(match child {
                Some(c) => format!("{conn}/{c}"),
                None => conn.clone(),
            }),
            Request::Ping(p) => Some(format!(
                "{}{}{}",
                p.conn,
                p.child
                    .as_ref()
                    .map(|c| format!("/{c}"))
                    .unwrap_or_default(),
                p.to.map(|t| format!(" to {t}")).unwrap_or_default()
            )),
        };
        let Some(target) = target else {
            self.control_inner(call);
            return;
        };
        let (uid, pid) = (call.caller.uid, call.caller.pid);
        let audit = self.audit.clone();
        let audited = self.audited_tx.clone();
        tokio::spawn(async move {
            match audit.record(uid, pid, action, &target, "requested").await {
                Ok(()) => {
                    let _ = audited.send(Audited {
                        call,
                        action,
                        target,
                    });
                }
                Err(e) => {
                    tracing::error!("control: {action} {target} refused: {e}");
                    let _ = call.reply.send(Response::Error {
                        message: format!("refused: the audit log cannot be written ({e})"),
                    });
                }
            }
        });
    }

    /// Carries out an admin request whose audit record is written, then audits its
    /// result before the caller gets the answer.
    pub(super) fn audited(&mut self, a: Audited) {
        let Audited {
            call,
            action,
            target,
        } = a;
        let (uid, pid) = (call.caller.uid, call.caller.pid);
        let (reply_tx, reply_rx) = oneshot::channel();
        self.control_inner(ControlCall {
            request: call.request,
            caller: call.caller,
            reply: reply_tx,
        });
        // The answer (or, for `up`, the waiter's later answer) passes through here to
        // be audited.
        let audit = self.audit.clone();
        let reply = call.reply;
        tokio::spawn(async move {
            let resp = reply_rx.await.unwrap_or(Response::Error {
                message: "the daemon dropped the request".to_owned(),
            });
            let result = match &resp {
                Response::Ok { message } => format!("ok: {message}"),
                Response::Error { message } => format!("error: {message}"),
                Response::Status(_) => "ok".to_owned(),
                Response::Ping(p) => format!(
                    "ok: {} of {} replies{}",
                    p.received(),
                    p.replies.len(),
                    p.sweep
                        .map(|s| format!(", mtu {}", s.mtu))
                        .unwrap_or_default()
                ),
            };
            if let Err(e) = audit.record(uid, pid, action, &target, &result).await {
                tracing::error!("control: {action} {target}: {e}");
            }
            let _ = reply.send(resp);
        });
    }

    fn control_inner(&mut self, call: ControlCall) {
        let now = Instant::now();
        let reply = match call.request {
            Request::Status => {
                let live = self.endpoint.ike_sas();
                let mut counters =
                    super::super::book::daemon_counters(self.endpoint.stats(), &self.data.stats);
                if self.rp_watch.total > 0 {
                    counters.insert("kernel_rp_filter_drops".to_owned(), self.rp_watch.total);
                }
                let mut report =
                    self.book
                        .report(&self.config, &live, &self.path_mtus, now, counters);
                self.decorate(&mut report, now);
                for c in &mut report.connections {
                    c.remotes = self.remote_rows(&c.name, c.ike_sa.as_ref(), now);
                    c.pair =
                        self.standbys
                            .role(&c.name)
                            .map(|r| crate::control::proto::PairStatus {
                                primary: r.primary,
                                role: match r.mode {
                                    None => "primary",
                                    Some(crate::config::StandbyMode::Hot) => "hot standby",
                                    Some(crate::config::StandbyMode::Cold) => "cold standby",
                                }
                                .to_owned(),
                                active: r.active,
                            });
                }
                Some(Response::Status(report))
            }
            Request::BreakGlass {
                conn,
                halves,
                drill,
            } => {
                tracing::warn!(
                    "control: break-glass {}{conn} by {}: verifying the halves",
                    if drill { "drill " } else { "" },
                    call.caller
                );
                self.break_glass_request(conn, halves, drill, call.caller, call.reply);
                return;
            }
            Request::KeyExport { enable, for_secs } => {
                Some(self.key_export_request(enable, for_secs, call.caller.uid))
            }
            Request::Up { conn, timeout_secs } => {
                tracing::info!("control: up {conn} (uid {})", call.caller.uid);
                if self.conn_state(&conn) == Some(ConnState::Established)
                    && self.all_children_up(&conn)
                {
                    Some(Response::Ok {
                        message: format!("{conn} is already established"),
                    })
                } else {
                    let busy = self.endpoint.ike_sas().iter().any(|s| s.conn == conn);
                    let started = if busy {
                        Ok(())
                    } else {
                        self.initiate(&conn).map(|_| ())
                    };
                    match started {
                        Ok(()) => {
                            self.waiters.push(UpWaiter {
                                conn,
                                deadline: now + Duration::from_secs(timeout_secs.clamp(1, 3600)),
                                reply: call.reply,
                            });
                            return;
                        }
                        Err(e) => Some(Response::Error {
                            message: e.to_string(),
                        }),
                    }
                }
            }
            Request::Down { conn } => {
                tracing::info!("control: down {conn} (uid {})", call.caller.uid);
                Some(match self.endpoint.terminate(now, &conn) {
                    Ok(0) => Response::Ok {
                        message: format!("{conn} has no IKE SA"),
                    },
                    Ok(n) => Response::Ok {
                        message: format!("{conn}: deleting {n} IKE SA(s)"),
                    },
                    Err(e) => Response::Error {
                        message: e.to_string(),
                    },
                })
            }
            Request::Rekey { conn, child } => {
                tracing::info!("control: rekey {conn} {child:?} (uid {})", call.caller.uid);
                Some(self.rekey(now, &conn, child.as_deref()))
            }
            Request::Ping(job) => {
                match self.ping(job) {
                    // Answered by the ping's own thread when it is done.
                    Ok(run) => {
                        super::ping::spawn(run, call.reply);
                        return;
                    }
                    Err(message) => Some(Response::Error { message }),
                }
            }
        };
        if let Some(r) = reply {
            let _ = call.reply.send(r);
        }
    }

    fn rekey(&mut self, now: Instant, conn: &str, child: Option<&str>) -> Response {
        let live = self.endpoint.ike_sas();
        let Some(sa) = live
            .iter()
            .find(|s| s.conn == conn && s.state == ikev2::IkeSaState::Established)
        else {
            return Response::Error {
                message: format!("{conn} has no established IKE SA"),
            };
        };
        let res = match child {
            None => self.endpoint.rekey_ike_sa(now, sa.id),
            Some(name) => {
                let Some(c) = sa.children.iter().find(|c| c.name == name && c.outbound) else {
                    return Response::Error {
                        message: format!("{conn} has no installed CHILD SA {name}"),
                    };
                };
                self.endpoint.rekey_child(now, c.spi_in)
            }
        };
        match res {
            Ok(()) => Response::Ok {
                message: match child {
                    None => format!("{conn}: IKE SA rekey started"),
                    Some(name) => format!("{conn}/{name}: CHILD SA rekey started"),
                },
            },
            // What was asked for is under way (the peer's rekey, or ours): as swanctl
            // --rekey, which queues behind it, the answer is success.
            Err(ikev2::error::CommandError::ChildSaRekeying(_)) => Response::Ok {
                message: format!(
                    "{conn}/{}: a CHILD SA rekey is in progress already",
                    child.unwrap_or_default()
                ),
            },
            Err(e) => Response::Error {
                message: e.to_string(),
            },
        }
    }

    fn conn_state(&self, conn: &str) -> Option<ConnState> {
        let live = self.endpoint.ike_sas();
        let mine: Vec<_> = live.iter().filter(|s| s.conn == conn).collect();
        if mine
            .iter()
            .any(|s| s.state == ikev2::IkeSaState::Established)
        {
            Some(ConnState::Established)
        } else if mine.is_empty() {
            Some(ConnState::Down)
        } else {
            Some(ConnState::Connecting)
        }
    }

    fn all_children_up(&self, conn: &str) -> bool {
        let Some(cfg) = self.config.connections.iter().find(|c| c.name == conn) else {
            return false;
        };
        let live = self.endpoint.ike_sas();
        cfg.children.iter().all(|child| {
            live.iter().any(|s| {
                s.conn == conn
                    && s.state == ikev2::IkeSaState::Established
                    && s.children
                        .iter()
                        .any(|c| c.name == child.name && c.outbound)
            })
        })
    }

    pub(super) fn answer_waiters(&mut self) {
        let waiters = std::mem::take(&mut self.waiters);
        for w in waiters {
            if self.all_children_up(&w.conn) {
                let _ = w.reply.send(Response::Ok {
                    message: format!("{} established", w.conn),
                });
            } else {
                self.waiters.push(w);
            }
        }
    }

    /// Answers the `up` waiters of `conn` with an error.
    pub(super) fn fail_waiters(&mut self, conn: &str, message: &str) {
        let (done, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiters)
            .into_iter()
            .partition(|w| w.conn == *conn);
        self.waiters = keep;
        for w in done {
            let _ = w.reply.send(Response::Error {
                message: message.to_owned(),
            });
        }
    }

    pub(super) fn expire_waiters(&mut self) {
        let now = Instant::now();
        let waiters = std::mem::take(&mut self.waiters);
        for w in waiters {
            if now >= w.deadline {
                let state = self.conn_state(&w.conn);
                let hint = match state {
                    Some(ConnState::Connecting) => {
                        "no answer from the peer yet: check that UDP 500/4500 reach it"
                    }
                    _ => "not established",
                };
                let _ = w.reply.send(Response::Error {
                    message: format!("{}: timed out waiting for the tunnel: {hint}", w.conn),
                });
            } else {
                self.waiters.push(w);
            }
        }
    }

    /// An audit record of something the daemon did by itself (expiries).
    pub(in crate::runtime) fn audit_daemon(&self, action: &str, target: &str, result: &str) {
        let uid = nix::unistd::getuid().as_raw();
        let pid = i32::try_from(std::process::id()).ok();
        self.audit.note(uid, pid, action, target, result);
    }

    /// Whether keys of SAs established now are to be written.
    pub(super) fn exporting(&self) -> Option<&super::super::keyexport::KeyExport> {
        let now = Instant::now();
        self.key_export
            .as_ref()
            .filter(|_| self.key_export_until.is_some_and(|u| now < u))
    }

    /// `ikev2d debug key-export on|off`.
    fn key_export_request(&mut self, enable: bool, for_secs: Option<u64>, uid: u32) -> Response {
        let Some(dir) = self.config.daemon.key_export_dir.clone() else {
            return Response::Error {
                message: "[daemon] key_export_dir is not configured: set it (and reload) to \
                          allow key export"
                    .to_owned(),
            };
        };
        if !enable {
            let was = self.key_export_until.take().is_some();
            tracing::warn!("key export turned off by uid {uid}");
            return Response::Ok {
                message: if was {
                    "key export off".to_owned()
                } else {
                    "key export was already off".to_owned()
                },
            };
        }
        let d = for_secs
            .map_or(KEY_EXPORT_DEFAULT, Duration::from_secs)
            .clamp(Duration::from_secs(1), KEY_EXPORT_MAX);
        self.key_export_until = Some(Instant::now() + d);
        let text = crate::config::duration::format_duration(d);
        tracing::warn!(
            "key export ON by uid {uid} for {text}: keys of new IKE and CHILD SAs go to {}",
            dir.display()
        );
        Response::Ok {
            message: format!(
                "key export on for {text}: keys of IKE and CHILD SAs established or rekeyed \
                 from now on are written to {} (SAs already up are not exported)",
                dir.display()
            ),
        }
    }

    /// Ends key export when its time is up.
    pub(super) fn expire_key_export(&mut self, now: Instant) {
        if self.key_export_until.is_some_and(|u| u <= now) {
            self.key_export_until = None;
            tracing::warn!("key export turned off: its time is up");
            self.audit_daemon("key-export", "off", "expired");
        }
    }

    /// SIGHUP with `new` about to replace the configuration: a changed
    /// `key_export_dir` turns key export off.
    pub(super) fn reload_key_export(&mut self, new: &DaemonConfig) {
        if new.daemon.key_export_dir != self.config.daemon.key_export_dir {
            self.key_export = new
                .daemon
                .key_export_dir
                .clone()
                .map(super::super::keyexport::KeyExport::new);
            if self.key_export_until.take().is_some() {
                tracing::warn!("SIGHUP: key_export_dir changed: key export turned off");
                self.audit_daemon("key-export", "off", "key_export_dir changed on SIGHUP");
            }
        }
    }

    /// `conn`'s configured peer addresses with their last results, for `status`.
    fn remote_rows(
        &self,
        conn: &str,
        ike: Option<&crate::control::proto::IkeSaStatus>,
        now: Instant,
    ) -> Vec<crate::control::proto::RemoteAddrStatus> {
        let in_use = ike.and_then(|s| s.remote.parse::<std::net::SocketAddr>().ok());
        self.endpoint
            .remotes(conn)
            .into_iter()
            .map(|r| crate::control::proto::RemoteAddrStatus {
                addr: r.addr.to_string(),
                name: r.name.clone(),
                in_use: in_use.is_some_and(|a| a.ip() == r.addr),
                last_result: r.last.as_ref().map(|(_, o)| o.to_string()),
                last_result_secs_ago: r
                    .last
                    .as_ref()
                    .map(|(t, _)| now.saturating_duration_since(*t).as_secs()),
            })
            .collect()
    }

    /// Adds break-glass and key-export state to a status report.
    fn decorate(&self, report: &mut StatusReport, now: Instant) {
        self.decorate_break_glass(report, now);
        report.key_export = self
            .config
            .daemon
            .key_export_dir
            .as_ref()
            .map(|d| KeyExportStatus {
                active: self.key_export_until.is_some_and(|u| now < u),
                dir: d.display().to_string(),
                remaining_secs: self
                    .key_export_until
                    .map(|u| u.saturating_duration_since(now).as_secs()),
            });
    }
}
