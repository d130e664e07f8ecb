//! The control socket end to end: a fake daemon (the real listener, a handler task
//! answering from a constructed report) and the blocking client and the `ikev2d`
//! binary talking to it.

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ikev2d::control::client;
use ikev2d::control::proto::{
    ChildStatus, ConnState, ConnStatus, IkeSaStatus, LastError, Request, Response, StatusReport,
};
use ikev2d::control::server::{self, ControlCall};
use tokio::sync::{mpsc, oneshot};

fn report() -> StatusReport {
    StatusReport {
        connections: vec![
            ConnStatus {
                name: "site-b".into(),
                state: ConnState::Established,
                local: "192.0.2.1[4500]".into(),
                remote: "198.51.100.2[4500]".into(),
                nat_detected: true,
                ike_sa: Some(IkeSaStatus {
                    spi_i: "0123456789abcdef".into(),
                    spi_r: "fedcba9876543210".into(),
                    proposal: "aes256-sha256-modp2048".into(),
                    algorithms: "AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048".into(),
                    local_auth: "pre-shared key".into(),
                    remote_auth: "pre-shared key".into(),
                    established_secs: 42,
                    rekeys: 0,
                    local: "192.0.2.1:4500".into(),
                    remote: "198.51.100.2:4500".into(),
                }),
                children: vec![ChildStatus {
                    name: "net".into(),
                    state: "INSTALLED".into(),
                    spi_in: "c1a2b3c4".into(),
                    spi_out: "d4e5f6a7".into(),
                    proposal: "aes256gcm16".into(),
                    algorithms: "AES_GCM_16-256".into(),
                    local_ts: vec!["10.1.0.0/24".into()],
                    remote_ts: vec!["10.2.0.0/24".into()],
                    bytes_in: 2048,
                    bytes_out: 1024,
                    packets_in: 2,
                    packets_out: 1,
                    sa_bytes_in: 2048,
                    sa_bytes_out: 1024,
                    sa_packets_in: 2,
                    sa_packets_out: 1,
                    rekeys: 0,
                    mtu: Some(1400),
                    path_mtu: Some(1500),
                    path_mtu_source: Some("configured".into()),
                    last_inbound_secs: None,
                    last_outbound_secs: None,
                    warning: None,
                    unanswered_tcp: Vec::new(),
                    drops: Default::default(),
                }],
                last_error: None,
                ..Default::default()
            },
            ConnStatus {
                name: "site-c".into(),
                state: ConnState::Down,
                local: "192.0.2.1".into(),
                remote: "203.0.113.9".into(),
                nat_detected: false,
                ike_sa: None,
                children: vec![],
                last_error: Some(LastError {
                    phase: "IKE_AUTH".into(),
                    reason: "PSK mismatch".into(),
                    at_unix: 1_700_000_000,
                }),
                ..Default::default()
            },
        ],
        ..Default::default()
    }
}

/// What the fake daemon answers.
fn answer(call: &ControlCall) -> Response {
    match &call.request {
        Request::Status => Response::Status(report()),
        Request::Up { conn, .. } => Response::Error {
            message: format!("{conn}: IKE_AUTH failed: PSK mismatch"),
        },
        Request::Down { conn } => Response::Ok {
            message: format!(
                "{conn} down (caller uid {} pid {})",
                call.caller.uid,
                call.caller.pid.unwrap_or(-1)
            ),
        },
        Request::Rekey { conn, child } => Response::Ok {
            message: format!("rekeying {conn} {}", child.as_deref().unwrap_or("IKE SA")),
        },
        other => Response::Error {
            message: format!("not faked: {other:?}"),
        },
    }
}

/// A daemon stand-in on its own thread and runtime; stopping it ends `serve`.
struct Fake {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Fake {
    fn start(path: &Path) -> Result<Fake, String> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
        let p = path.to_owned();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = match server::bind(&p).await {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                assert_eq!(listener.path(), p);
                let (tx, mut rx) = mpsc::channel::<ControlCall>(8);
                let serving = tokio::spawn(listener.serve(tx));
                let _ = ready_tx.send(Ok(()));
                loop {
                    tokio::select! {
                        call = rx.recv() => match call {
                            Some(call) => {
                                let r = answer(&call);
                                let _ = call.reply.send(r);
                            }
                            None => break,
                        },
                        _ = &mut stop_rx => break,
                    }
                }
                drop(rx);
                serving.await.expect("serve task");
            });
        });
        match ready_rx.recv().expect("fake daemon thread") {
            Ok(()) => Ok(Fake {
                stop: Some(stop_tx),
                thread: Some(thread),
            }),
            Err(e) => {
                thread.join().expect("fake daemon thread");
                Err(e)
            }
        }
    }

    fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            t.join().expect("fake daemon thread");
        }
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn call(path: &Path, request: &Request) -> Response {
    client::call(path, request, Duration::from_secs(5)).expect("daemon answers")
}

/// Sends raw bytes and reads one answer line.
fn raw(stream: &mut BufReader<UnixStream>, bytes: &[u8]) -> Response {
    stream.get_mut().write_all(bytes).expect("write");
    let mut line = String::new();
    stream.read_line(&mut line).expect("read");
    serde_json::from_str(&line).expect("a JSON response line")
}

#[test]
fn client_gets_status_and_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ikev2d.sock");
    let fake = Fake::start(&path).expect("bind");

    assert_eq!(call(&path, &Request::Status), Response::Status(report()));
    assert_eq!(
        call(
            &path,
            &Request::Up {
                conn: "site-b".into(),
                timeout_secs: 1
            }
        ),
        Response::Error {
            message: "site-b: IKE_AUTH failed: PSK mismatch".into()
        }
    );
    // the caller's credentials come from SO_PEERCRED
    let Response::Ok { message } = call(
        &path,
        &Request::Down {
            conn: "site-b".into(),
        },
    ) else {
        panic!("down answered with an error");
    };
    assert!(
        message.ends_with(&format!("pid {})", std::process::id())),
        "{message}"
    );
    fake.stop();
    assert!(!path.exists(), "socket removed on shutdown");
}

#[test]
fn directory_and_socket_modes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sub = dir.path().join("run").join("ikev2d");
    let path = sub.join("ikev2d.sock");
    let fake = Fake::start(&path).expect("bind");
    let dmode = std::fs::metadata(&sub).expect("dir").permissions().mode() & 0o7777;
    assert_eq!(dmode, 0o755);
    let meta = std::fs::symlink_metadata(&path).expect("socket");
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o7777, 0o660);
    fake.stop();
}

#[test]
fn stale_socket_is_replaced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ikev2d.sock");
    // a socket file nobody listens on, as a crashed daemon leaves it
    drop(std::os::unix::net::UnixListener::bind(&path).expect("bind"));
    assert!(path.exists());
    let fake = Fake::start(&path).expect("stale socket replaced");
    assert_eq!(call(&path, &Request::Status), Response::Status(report()));
    fake.stop();
}

#[test]
fn second_daemon_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ikev2d.sock");
    let fake = Fake::start(&path).expect("bind");
    let err = match Fake::start(&path) {
        Ok(_) => panic!("second bind succeeded"),
        Err(e) => e,
    };
    assert_eq!(
        err,
        format!("another ikev2d is running on {}", path.display())
    );
    // the first daemon's socket is untouched and still answers
    assert_eq!(call(&path, &Request::Status), Response::Status(report()));
    fake.stop();
}

#[test]
fn regular_file_is_not_replaced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ikev2d.sock");
    std::fs::write(&path, "important").expect("write");
    let err = match Fake::start(&path) {
        Ok(_) => panic!("bound over a regular file"),
        Err(e) => e,
    };
    assert!(err.contains("is not a socket"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).expect("read"), "important");
}

#[test]
fn malformed_requests_get_error_responses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ikev2d.sock");
    let fake = Fake::start(&path).expect("bind");
    let mut s = BufReader::new(UnixStream::connect(&path).expect("connect"));
    for bad in [
        &b"garbage\n"[..],
        b"{\"cmd\":\"explode\"}\n",
        b"{\"cmd\":\"up\"}\n",
        b"\xff\xfe\n",
    ] {
        match raw(&mut s, bad) {
            Response::Error { message } => {
                assert!(message.starts_with("malformed request"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }
    // the same connection still serves valid requests, with blank lines ignored
    assert_eq!(
        raw(&mut s, b"\n{\"cmd\":\"status\"}\r\n"),
        Response::Status(report())
    );

    // an endless line is cut off at the limit with an error, then closed
    let mut s = BufReader::new(UnixStream::connect(&path).expect("connect"));
    let long = vec![b'x'; server::MAX_REQUEST_LINE + 10];
    match raw(&mut s, &long) {
        Response::Error { message } => assert!(message.contains("longer than"), "{message}"),
        other => panic!("{other:?}"),
    }
    let mut rest = String::new();
    assert_eq!(s.read_line(&mut rest).expect("read"), 0, "closed");
    fake.stop();
}

#[test]
fn cleanup_leaves_other_files_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ikev2d.sock");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let listener = server::bind(&path).await.expect("bind");
        let cleanup = listener.cleanup();
        assert_eq!(cleanup.path(), path);
        // someone replaced the socket file: neither cleanup nor drop may remove it
        std::fs::remove_file(&path).expect("rm");
        std::fs::write(&path, "new").expect("write");
        assert!(!cleanup.remove());
        drop(listener);
        assert!(path.exists());
        std::fs::remove_file(&path).expect("rm");
        // and the normal case: cleanup removes our own socket
        let listener = server::bind(&path).await.expect("bind");
        assert!(listener.cleanup().remove());
        assert!(!path.exists());
    });
}

fn ikev2d(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ikev2d"))
        .args(args)
        .env_remove("IKEV2D_SOCKET")
        .output()
        .expect("run ikev2d")
}

#[test]
fn status_json_from_the_binary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ikev2d.sock");
    let p = path.to_str().expect("utf-8 path");
    let fake = Fake::start(&path).expect("bind");

    let out = ikev2d(&["--socket", p, "status", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let conns = v["connections"].as_array().expect("connections array");
    assert_eq!(conns.len(), 2);
    let c = &conns[0];
    let mut keys: Vec<&str> = c
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "children",
            "failovers",
            "ike_sa",
            "last_error",
            "local",
            "name",
            "nat_detected",
            "peer_mapping_changes",
            "reestablishments",
            "remote",
            "state"
        ]
    );
    assert_eq!(c["name"], "site-b");
    assert_eq!(c["state"], "ESTABLISHED");
    assert_eq!(c["nat_detected"], true);
    assert!(c["last_error"].is_null());
    assert_eq!(c["ike_sa"]["spi_i"], "0123456789abcdef");
    assert_eq!(c["children"][0]["name"], "net");
    assert_eq!(c["children"][0]["local_ts"][0], "10.1.0.0/24");
    assert_eq!(conns[1]["state"], "DOWN");
    assert!(conns[1]["ike_sa"].is_null());
    assert_eq!(conns[1]["last_error"]["phase"], "IKE_AUTH");
    assert_eq!(conns[1]["last_error"]["reason"], "PSK mismatch");

    // the --socket option also works after the subcommand, and the plain form
    let out = ikev2d(&["status", "--socket", p]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(text.contains("site-b: ESTABLISHED"), "{text}");
    assert!(
        text.contains("last error: IKE_AUTH: PSK mismatch"),
        "{text}"
    );

    // IKEV2D_SOCKET names the socket when --socket is absent
    let out = Command::new(env!("CARGO_BIN_EXE_ikev2d"))
        .args(["status", "--json"])
        .env("IKEV2D_SOCKET", p)
        .output()
        .expect("run ikev2d");
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    // the daemon's error: exit 1 and the message on stderr
    let out = ikev2d(&["--socket", p, "up", "site-b", "--timeout", "5"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8(out.stderr).expect("utf-8");
    assert!(
        err.contains("site-b: IKE_AUTH failed: PSK mismatch"),
        "{err}"
    );

    let out = ikev2d(&["--socket", p, "rekey", "site-b", "--child", "net"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "rekeying site-b net\n"
    );

    fake.stop();

    // nobody there any more: exit 2 with an operator message
    let out = ikev2d(&["--socket", p, "status", "--json"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).expect("utf-8");
    assert!(
        err.contains(&format!(
            "cannot connect to ikev2d at {p}: is the daemon running?"
        )),
        "{err}"
    );
}

#[test]
fn refused_connection_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ikev2d.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).expect("bind"));
    let out = ikev2d(&["--socket", path.to_str().expect("utf-8"), "down", "x"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8(out.stderr).expect("utf-8");
    assert!(
        err.contains("is the daemon running? (connection refused)"),
        "{err}"
    );
}

#[test]
fn socket_path_from_config_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("from-config.sock");
    let cfg = dir.path().join("ikev2d.toml");
    std::fs::write(
        &cfg,
        format!("[daemon]\ncontrol_socket = \"{}\"\n", path.display()),
    )
    .expect("write");
    let fake = Fake::start(&path).expect("bind");
    let out = ikev2d(&["status", "--json", "-c", cfg.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    fake.stop();
}

#[test]
fn silent_or_closing_daemon_is_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ikev2d.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
    // accepts and never answers
    let silent = std::thread::spawn(move || {
        let (conn, _) = listener.accept().expect("accept");
        std::thread::sleep(Duration::from_millis(800));
        drop(conn);
        // then accepts and closes at once
        let (conn, _) = listener.accept().expect("accept");
        drop(conn);
    });
    let t = Duration::from_millis(300);
    match client::call(&path, &Request::Status, t) {
        Err(e @ client::ClientError::Timeout { .. }) => {
            assert_eq!(
                e.to_string(),
                format!("ikev2d at {} did not answer within 0.3 s", path.display())
            );
        }
        other => panic!("{other:?}"),
    }
    match client::call(&path, &Request::Status, Duration::from_secs(5)) {
        Err(e @ client::ClientError::NoAnswer { .. }) => {
            assert!(
                e.to_string()
                    .contains("closed the connection without answering")
            );
        }
        other => panic!("{other:?}"),
    }
    silent.join().expect("thread");
}
