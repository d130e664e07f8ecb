//! The daemon side of the control socket: a Unix stream socket that takes one JSON
//! [`Request`] per line and answers each with one JSON [`Response`] line.
//!
//! The listener never acts on a request itself. Each parsed request goes, with the
//! caller's credentials (`SO_PEERCRED`) and a oneshot for the answer, to the task
//! that owns the daemon's state as a [`ControlCall`]; the connection waits for that
//! answer and writes it back. Bad input (invalid JSON, unknown commands, lines
//! longer than [`MAX_REQUEST_LINE`], invalid UTF-8) is answered with
//! [`Response::Error`] and never panics.
//!
//! Socket lifecycle: [`bind`] creates the parent directory (0755) when missing,
//! removes a stale socket nobody answers on, refuses to start when another daemon
//! answers, and sets mode 0660. The socket file is removed when the
//! [`ControlListener`] is dropped (or by [`SocketCleanup::remove`]), and only if it
//! is still the file this process created.

use std::fmt;
use std::io;
use std::os::unix::fs::{DirBuilderExt as _, FileTypeExt as _, MetadataExt as _, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::proto::{Request, Response};

/// The longest request line accepted (without its newline).
pub const MAX_REQUEST_LINE: usize = 64 * 1024;

/// Connections served at once; further ones wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 64;

/// How long a connection may stay silent before its next request line.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Mode of the socket file: owner and group may connect.
pub const SOCKET_MODE: u32 = 0o660;

/// Mode of a parent directory created by [`bind`].
pub const DIR_MODE: u32 = 0o755;

/// Who sent a request, from `SO_PEERCRED` (taken when the connection was accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub uid: u32,
    pub gid: u32,
    /// `None` when the kernel did not report it.
    pub pid: Option<i32>,
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "uid {} gid {}", self.uid, self.gid)?;
        if let Some(pid) = self.pid {
            write!(f, " pid {pid}")?;
        }
        Ok(())
    }
}

/// One request for the daemon's control task. Answer it by sending on `reply`;
/// dropping `reply` makes the client see "the daemon dropped the request".
#[derive(Debug)]
pub struct ControlCall {
    pub request: Request,
    pub caller: Caller,
    pub reply: oneshot::Sender<Response>,
}

/// A bound control socket, not yet serving. Dropping it removes the socket file.
#[derive(Debug)]
pub struct ControlListener {
    listener: UnixListener,
    cleanup: SocketCleanup,
}

/// Removes the socket file this process created, and nothing else: if the path
/// meanwhile names another file (a new daemon's socket), it is left alone.
/// Cloneable so a shutdown path can remove the socket before the process exits.
#[derive(Debug, Clone)]
pub struct SocketCleanup {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

/// Binds the control socket at `path`: creates the parent directory (mode 0755) if
/// missing, removes a stale socket file nobody answers on, fails with "another
/// ikev2d is running on PATH" (`AddrInUse`) when a daemon answers, and sets the
/// socket's mode to 0660. Must be called inside a tokio runtime.
pub async fn bind(path: &Path) -> io::Result<ControlListener> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(DIR_MODE)
                .create(dir)
                .map_err(|e| with_context(e, format!("cannot create {}", dir.display())))?;
            // the umask may have narrowed the mode given above
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(DIR_MODE))
                .map_err(|e| with_context(e, format!("cannot chmod {}", dir.display())))?;
        }
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => match UnixStream::connect(path).await {
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("another ikev2d is running on {}", path.display()),
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                // stale: left behind by a daemon that did not shut down cleanly
                std::fs::remove_file(path).map_err(|e| {
                    with_context(e, format!("cannot remove stale socket {}", path.display()))
                })?;
            }
            Err(e) => {
                return Err(with_context(
                    e,
                    format!("cannot check existing socket {}", path.display()),
                ));
            }
        },
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{} exists and is not a socket; refusing to replace it",
                    path.display()
                ),
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(with_context(e, format!("cannot stat {}", path.display()))),
    }
    let listener = UnixListener::bind(path)
        .map_err(|e| with_context(e, format!("cannot bind {}", path.display())))?;
    let meta = std::fs::symlink_metadata(path)
        .map_err(|e| with_context(e, format!("cannot stat {}", path.display())))?;
    let cleanup = SocketCleanup {
        path: path.to_owned(),
        dev: meta.dev(),
        ino: meta.ino(),
    };
    // from here on, dropping `ControlListener` removes the file
    let bound = ControlListener { listener, cleanup };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(SOCKET_MODE))
        .map_err(|e| with_context(e, format!("cannot chmod {}", path.display())))?;
    Ok(bound)
}

impl ControlListener {
    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.cleanup.path
    }

    /// A handle that removes the socket file (if it is still ours).
    pub fn cleanup(&self) -> SocketCleanup {
        self.cleanup.clone()
    }

    /// Accepts connections until `tx` is closed (the control task is gone), handing
    /// every request to `tx`. Connections run as their own tasks. When this returns
    /// (or its future is dropped) the socket file is removed.
    pub async fn serve(self, tx: mpsc::Sender<ControlCall>) {
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        loop {
            let permit = tokio::select! {
                p = Arc::clone(&slots).acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break, // never closed
                },
                () = tx.closed() => break,
            };
            let stream = tokio::select! {
                r = self.listener.accept() => match r {
                    Ok((stream, _)) => stream,
                    Err(_) => {
                        // EMFILE and the like: back off instead of spinning
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                () = tx.closed() => break,
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                serve_connection(stream, tx).await;
                drop(permit);
            });
        }
    }
}

impl Drop for ControlListener {
    fn drop(&mut self) {
        self.cleanup.remove();
    }
}

impl SocketCleanup {
    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the socket file if the path still names the socket this process
    /// bound. Returns whether it removed it.
    pub fn remove(&self) -> bool {
        match std::fs::symlink_metadata(&self.path) {
            Ok(m) if m.dev() == self.dev && m.ino() == self.ino => {
                std::fs::remove_file(&self.path).is_ok()
            }
            _ => false,
        }
    }
}

/// Serves one connection: request lines until EOF, an idle timeout, an oversized
/// line or a write error.
async fn serve_connection(stream: UnixStream, tx: mpsc::Sender<ControlCall>) {
    let caller = match stream.peer_cred() {
        Ok(c) => Caller {
            uid: c.uid(),
            gid: c.gid(),
            pid: c.pid(),
        },
        Err(_) => return,
    };
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    // Requests may carry break-glass halves: the line buffer is allocated once at its
    // largest size (never reallocated, so no copy is left behind) and wiped after each
    // request. (The BufReader's own buffer is not wiped; see docs/security.md.)
    let mut line = zeroize::Zeroizing::new(Vec::with_capacity(MAX_REQUEST_LINE + 2));
    loop {
        zeroize::Zeroize::zeroize(&mut *line);
        let limit = u64::try_from(MAX_REQUEST_LINE + 1).unwrap_or(u64::MAX);
        let n = match tokio::time::timeout(
            IDLE_TIMEOUT,
            (&mut reader).take(limit).read_until(b'\n', &mut line),
        )
        .await
        {
            Ok(Ok(n)) => n,
            Ok(Err(_)) | Err(_) => return,
        };
        if n == 0 {
            return;
        }
        let complete = line.last() == Some(&b'\n');
        if complete {
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
        }
        if line.len() > MAX_REQUEST_LINE {
            let r = Response::Error {
                message: format!(
                    "request line longer than {MAX_REQUEST_LINE} bytes; closing the connection"
                ),
            };
            let _ = write_response(&mut write, &r).await;
            return;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            if complete {
                continue;
            }
            return;
        }
        let response = match parse_request(&line) {
            Ok(request) => dispatch(&tx, request, caller).await,
            Err(message) => Response::Error { message },
        };
        if write_response(&mut write, &response).await.is_err() || !complete {
            return;
        }
    }
}

/// Parses one request line; the error is the message for [`Response::Error`].
pub fn parse_request(line: &[u8]) -> Result<Request, String> {
    serde_json::from_slice::<Request>(line).map_err(|e| {
        format!(
            "malformed request: {e} (expected one JSON object per line, such as {{\"cmd\":\"status\"}})"
        )
    })
}

async fn dispatch(tx: &mpsc::Sender<ControlCall>, request: Request, caller: Caller) -> Response {
    let (reply, answer) = oneshot::channel();
    let call = ControlCall {
        request,
        caller,
        reply,
    };
    if tx.send(call).await.is_err() {
        return Response::Error {
            message: "the daemon is shutting down".to_owned(),
        };
    }
    answer.await.unwrap_or_else(|_| Response::Error {
        message: "the daemon dropped the request without answering".to_owned(),
    })
}

async fn write_response(
    write: &mut tokio::net::unix::OwnedWriteHalf,
    response: &Response,
) -> io::Result<()> {
    let mut out = serde_json::to_vec(response).map_err(io::Error::other)?;
    out.push(b'\n');
    write.write_all(&out).await?;
    write.flush().await
}

fn with_context(e: io::Error, what: String) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_request_accepts_every_command() {
        assert_eq!(parse_request(br#"{"cmd":"status"}"#), Ok(Request::Status));
        assert_eq!(
            parse_request(br#"{"cmd":"up","conn":"a","timeout_secs":5}"#),
            Ok(Request::Up {
                conn: "a".into(),
                timeout_secs: 5
            })
        );
        assert_eq!(
            parse_request(br#"{"cmd":"rekey","conn":"a","child":null}"#),
            Ok(Request::Rekey {
                conn: "a".into(),
                child: None
            })
        );
    }

    #[test]
    fn response_lines() {
        let j = |r: &Response| serde_json::to_string(r).expect("serializes");
        assert_eq!(
            j(&Response::Status(Default::default())),
            r#"{"result":"status","connections":[],"counters":{},"failures":{},"handshake_seconds":{"bounds":[],"buckets":[],"sum":0.0,"count":0}}"#
        );
        assert_eq!(
            j(&Response::Error {
                message: "x".into()
            }),
            r#"{"result":"error","message":"x"}"#
        );
    }

    #[test]
    fn parse_request_errors_are_messages() {
        for bad in [
            &b"not json"[..],
            b"{}",
            br#"{"cmd":"launch"}"#,
            br#"{"cmd":"up"}"#,
            b"\xff\xfe",
            b"[1,2,3]",
        ] {
            let e = parse_request(bad).expect_err("must not parse");
            assert!(e.starts_with("malformed request: "), "{e}");
        }
    }
}
