//! The client side of the control socket, used by `ikev2d status`, `up`, `down` and
//! `rekey`: blocking, one request and one answer per connection.
//!
//! The socket is found as follows (first match wins): `--socket PATH`, the
//! environment variable `IKEV2D_SOCKET`, `[daemon] control_socket` of the file given
//! with `--config` (or of `/etc/ikev2d/ikev2d.toml` when that file exists), and
//! finally `/run/ikev2d/ikev2d.sock`.
//!
//! Exit codes of the commands: 0 when the daemon carried the command out, 1 when it
//! answered with an error, 2 when it could not be reached or did not answer.

use std::ffi::OsString;
use std::fmt;
use std::io::{self, BufRead as _, BufReader, Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use super::proto::{Request, Response};
use super::render;
use crate::config::{DaemonConfig, LoadError};

/// The socket path when nothing else names one.
pub const DEFAULT_SOCKET: &str = "/run/ikev2d/ikev2d.sock";

/// The configuration file read for the socket path when `--config` is not given.
pub const DEFAULT_CONFIG: &str = "/etc/ikev2d/ikev2d.toml";

/// The environment variable naming the socket.
pub const SOCKET_ENV: &str = "IKEV2D_SOCKET";

/// How long to wait for the answer to requests other than `up`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Extra time given to `up` beyond its own `timeout_secs`, so the daemon's own
/// timeout answer arrives before the client gives up.
pub const UP_MARGIN: Duration = Duration::from_secs(10);

/// The longest response line accepted (a status report of many connections).
pub const MAX_RESPONSE_LINE: u64 = 16 * 1024 * 1024;

/// Why a request got no answer from the daemon.
#[derive(Debug)]
pub enum ClientError {
    /// The configuration file that should name the socket could not be used.
    Config { path: PathBuf, message: String },
    /// Connecting to the socket failed.
    Connect { path: PathBuf, error: io::Error },
    /// Sending the request or reading the answer failed.
    Io { path: PathBuf, error: io::Error },
    /// No answer within the timeout.
    Timeout { path: PathBuf, after: Duration },
    /// The daemon closed the connection without answering.
    NoAnswer { path: PathBuf },
    /// The answer was not a valid response line.
    BadAnswer { path: PathBuf, detail: String },
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Config { path, message } => write!(
                f,
                "cannot find the control socket in {}: {message} (use --socket PATH)",
                path.display()
            ),
            ClientError::Connect { path, error } => {
                let p = path.display();
                match error.kind() {
                    io::ErrorKind::ConnectionRefused => write!(
                        f,
                        "cannot connect to ikev2d at {p}: is the daemon running? (connection refused)"
                    ),
                    io::ErrorKind::NotFound => write!(
                        f,
                        "cannot connect to ikev2d at {p}: is the daemon running? (no such socket)"
                    ),
                    io::ErrorKind::PermissionDenied => write!(
                        f,
                        "cannot connect to ikev2d at {p}: permission denied (run as root or as a member of the socket's group)"
                    ),
                    _ => write!(f, "cannot connect to ikev2d at {p}: {error}"),
                }
            }
            ClientError::Io { path, error } => {
                write!(
                    f,
                    "lost the connection to ikev2d at {}: {error}",
                    path.display()
                )
            }
            ClientError::Timeout { path, after } => {
                write!(f, "ikev2d at {} did not answer within ", path.display())?;
                if after.subsec_millis() == 0 {
                    write!(f, "{} s", after.as_secs())
                } else {
                    write!(f, "{:.1} s", after.as_secs_f64())
                }
            }
            ClientError::NoAnswer { path } => write!(
                f,
                "ikev2d at {} closed the connection without answering",
                path.display()
            ),
            ClientError::BadAnswer { path, detail } => write!(
                f,
                "ikev2d at {} sent an answer this client does not understand: {detail}",
                path.display()
            ),
        }
    }
}

impl std::error::Error for ClientError {}

/// Finds the control socket: `cli_socket`, else `$IKEV2D_SOCKET`, else the
/// `control_socket` of `config` (or of [`DEFAULT_CONFIG`] if it exists), else
/// [`DEFAULT_SOCKET`].
pub fn resolve_socket(
    cli_socket: Option<&Path>,
    config: Option<&Path>,
) -> Result<PathBuf, ClientError> {
    resolve_socket_from(
        cli_socket,
        std::env::var_os(SOCKET_ENV),
        config,
        Path::new(DEFAULT_CONFIG),
    )
}

/// [`resolve_socket`] with the environment value and the default configuration
/// file given (for tests).
pub fn resolve_socket_from(
    cli_socket: Option<&Path>,
    env_socket: Option<OsString>,
    config: Option<&Path>,
    default_config: &Path,
) -> Result<PathBuf, ClientError> {
    if let Some(p) = cli_socket {
        return Ok(p.to_owned());
    }
    if let Some(p) = env_socket.filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let file = match config {
        Some(c) => Some(c),
        None => Some(default_config).filter(|p| p.exists()),
    };
    match file {
        Some(f) => socket_from_config(f),
        None => Ok(PathBuf::from(DEFAULT_SOCKET)),
    }
}

/// `[daemon] control_socket` of a configuration file (the default when not set).
///
/// The file is read with the full loader; if it has errors (the daemon may still be
/// running with an older, valid version), the socket path is taken from the TOML
/// alone so that `status` keeps working.
fn socket_from_config(path: &Path) -> Result<PathBuf, ClientError> {
    match DaemonConfig::load(path) {
        Ok(c) => Ok(c.daemon.control_socket),
        Err(LoadError::Io { error, .. }) => Err(ClientError::Config {
            path: path.to_owned(),
            message: error.to_string(),
        }),
        Err(LoadError::Invalid(findings)) => {
            let fallback = std::fs::read_to_string(path)
                .ok()
                .and_then(|t| t.parse::<toml::Table>().ok())
                .and_then(
                    |t| match t.get("daemon").and_then(|d| d.get("control_socket")) {
                        None => Some(PathBuf::from(DEFAULT_SOCKET)),
                        Some(v) => v.as_str().map(PathBuf::from),
                    },
                );
            fallback.ok_or_else(|| ClientError::Config {
                path: path.to_owned(),
                message: findings
                    .first()
                    .map_or_else(|| "invalid file".to_owned(), ToString::to_string),
            })
        }
    }
}

/// How long to wait for the answer to `request`: `up` waits its own
/// `timeout_secs` plus [`UP_MARGIN`], everything else [`DEFAULT_TIMEOUT`].
pub fn timeout_for(request: &Request) -> Duration {
    match request {
        Request::Up { timeout_secs, .. } => Duration::from_secs(*timeout_secs)
            .saturating_add(UP_MARGIN)
            .max(DEFAULT_TIMEOUT),
        // 1.5 s a request at most; a sweep is at most 15 sizes, two tries each.
        Request::Ping(p) if p.sweep => Duration::from_secs(60),
        Request::Ping(p) => {
            Duration::from_millis(1500 * u64::from(p.count)).saturating_add(DEFAULT_TIMEOUT)
        }
        _ => DEFAULT_TIMEOUT,
    }
}

/// Sends `request` to the daemon at `path` and returns its answer, waiting at most
/// `timeout` in all.
pub fn call(path: &Path, request: &Request, timeout: Duration) -> Result<Response, ClientError> {
    // a year stands for "no limit" and keeps `now + timeout` from overflowing
    let timeout = timeout.min(Duration::from_secs(365 * 86_400));
    let deadline = std::time::Instant::now() + timeout;
    let io_err = |error: io::Error| match error.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ClientError::Timeout {
            path: path.to_owned(),
            after: timeout,
        },
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => ClientError::NoAnswer {
            path: path.to_owned(),
        },
        _ => ClientError::Io {
            path: path.to_owned(),
            error,
        },
    };
    let mut stream = UnixStream::connect(path).map_err(|error| ClientError::Connect {
        path: path.to_owned(),
        error,
    })?;
    let remaining = || {
        deadline
            .saturating_duration_since(std::time::Instant::now())
            .max(Duration::from_millis(1))
    };
    stream
        .set_write_timeout(Some(remaining()))
        .map_err(io_err)?;
    let mut line = serde_json::to_vec(request).map_err(|e| ClientError::BadAnswer {
        path: path.to_owned(),
        detail: e.to_string(),
    })?;
    // Written as two pieces so that the request (which may carry break-glass halves)
    // is never reallocated, and wiped once sent.
    let sent = stream
        .write_all(&line)
        .and_then(|()| stream.write_all(b"\n"));
    zeroize::Zeroize::zeroize(&mut line);
    sent.map_err(io_err)?;
    stream.flush().map_err(io_err)?;
    // one request per connection: tell the daemon nothing more is coming
    let _ = stream.shutdown(std::net::Shutdown::Write);

    let mut reader = BufReader::new(stream).take(MAX_RESPONSE_LINE + 1);
    let mut answer = Vec::new();
    loop {
        reader
            .get_ref()
            .get_ref()
            .set_read_timeout(Some(remaining()))
            .map_err(io_err)?;
        match reader.read_until(b'\n', &mut answer) {
            Ok(0) => break,
            Ok(_) if answer.last() == Some(&b'\n') => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_err(e)),
        }
        if std::time::Instant::now() >= deadline {
            return Err(io_err(io::ErrorKind::TimedOut.into()));
        }
    }
    if answer.is_empty() {
        return Err(ClientError::NoAnswer {
            path: path.to_owned(),
        });
    }
    if answer.len() as u64 > MAX_RESPONSE_LINE {
        return Err(ClientError::BadAnswer {
            path: path.to_owned(),
            detail: format!("answer longer than {MAX_RESPONSE_LINE} bytes"),
        });
    }
    serde_json::from_slice(answer.trim_ascii_end()).map_err(|e| ClientError::BadAnswer {
        path: path.to_owned(),
        detail: e.to_string(),
    })
}

/// The client subcommands of `ikev2d`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ClientCommand {
    /// Show connections, IKE SAs and child SAs of the running daemon. Exit 0 on
    /// success, 2 when the daemon cannot be reached.
    Status {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        opts: ClientOpts,
    },
    /// Bring a connection up and wait until its children are established. Exit 0
    /// when up, 1 when it failed (the reason is printed), 2 when the daemon cannot
    /// be reached.
    Up {
        /// The connection's name in the configuration.
        conn: String,
        /// Give up after this many seconds.
        #[arg(long, value_name = "SECS", default_value_t = 30)]
        timeout: u64,
        #[command(flatten)]
        opts: ClientOpts,
    },
    /// Delete the IKE SA of a connection and all its children.
    Down {
        /// The connection's name in the configuration.
        conn: String,
        #[command(flatten)]
        opts: ClientOpts,
    },
    /// Send ICMP echo through a child of a connection (a tunnel ping test): from
    /// this host's address inside the child's local_ts to --to (default: the first
    /// host of its remote_ts). Exit 0 when a reply came, 1 when none did or the
    /// test cannot run (the reason is printed), 2 when the daemon cannot be reached.
    /// Needs the admin role; audited.
    Ping {
        /// The connection's name in the configuration.
        conn: String,
        /// The child to test (default: the connection's first installed one).
        #[arg(long, value_name = "CHILD")]
        child: Option<String>,
        /// Where to send (an address inside the child's remote_ts).
        #[arg(long, value_name = "ADDR")]
        to: Option<std::net::IpAddr>,
        /// How many requests, 0.5 s apart.
        #[arg(long, default_value_t = 4)]
        count: u32,
        /// ICMP payload octets per request (as ping -s).
        #[arg(long, default_value_t = 56)]
        size: u16,
        /// Find the largest packet that gets through with DF instead: the tunnel's
        /// usable MTU and the TCP MSS that fits it.
        #[arg(long)]
        sweep: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        opts: ClientOpts,
    },
    /// Rekey the IKE SA (--ike) or one child SA (--child NAME) of a connection.
    #[command(group = clap::ArgGroup::new("what").required(true).multiple(false).args(["ike", "child"]))]
    Rekey {
        /// The connection's name in the configuration.
        conn: String,
        /// Rekey the IKE SA.
        #[arg(long)]
        ike: bool,
        /// Rekey this child SA.
        #[arg(long, value_name = "CHILD")]
        child: Option<String>,
        #[command(flatten)]
        opts: ClientOpts,
    },
}

/// Options every client subcommand takes besides the global `--socket`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ClientOpts {
    /// Read the socket path from this configuration file (default
    /// /etc/ikev2d/ikev2d.toml when it exists).
    #[arg(long, short = 'c', value_name = "PATH")]
    pub config: Option<PathBuf>,
}

impl ClientCommand {
    /// The request this command sends.
    pub fn request(&self) -> Request {
        match self {
            ClientCommand::Status { .. } => Request::Status,
            ClientCommand::Up { conn, timeout, .. } => Request::Up {
                conn: conn.clone(),
                timeout_secs: *timeout,
            },
            ClientCommand::Down { conn, .. } => Request::Down { conn: conn.clone() },
            ClientCommand::Rekey { conn, child, .. } => Request::Rekey {
                conn: conn.clone(),
                child: child.clone(),
            },
            ClientCommand::Ping {
                conn,
                child,
                to,
                count,
                size,
                sweep,
                ..
            } => Request::Ping(crate::control::proto::PingRequest {
                conn: conn.clone(),
                child: child.clone(),
                to: *to,
                count: *count,
                size: *size,
                sweep: *sweep,
            }),
        }
    }

    fn opts(&self) -> &ClientOpts {
        match self {
            ClientCommand::Status { opts, .. }
            | ClientCommand::Up { opts, .. }
            | ClientCommand::Down { opts, .. }
            | ClientCommand::Rekey { opts, .. }
            | ClientCommand::Ping { opts, .. } => opts,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            ClientCommand::Status { .. } => "status",
            ClientCommand::Up { .. } => "up",
            ClientCommand::Down { .. } => "down",
            ClientCommand::Rekey { .. } => "rekey",
            ClientCommand::Ping { .. } => "ping",
        }
    }
}

/// Runs a client subcommand: prints the answer (stdout) or the error (stderr) and
/// returns the exit code (0 done, 1 the daemon answered with an error, 2 the daemon
/// could not be reached).
pub fn run(cmd: &ClientCommand, socket: Option<&Path>) -> ExitCode {
    let name = cmd.name();
    let path = match resolve_socket(socket, cmd.opts().config.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ikev2d {name}: {e}");
            return ExitCode::from(2);
        }
    };
    let request = cmd.request();
    let response = match call(&path, &request, timeout_for(&request)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ikev2d {name}: {e}");
            return ExitCode::from(2);
        }
    };
    match (cmd, response) {
        (ClientCommand::Status { json, .. }, Response::Status(report)) => {
            if *json {
                match serde_json::to_string_pretty(&report) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        eprintln!("ikev2d status: cannot print the report: {e}");
                        return ExitCode::from(1);
                    }
                }
            } else {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                print!("{}", render::render_status(&report, now));
            }
            ExitCode::SUCCESS
        }
        (ClientCommand::Ping { json, .. }, Response::Ping(report)) => {
            if *json {
                match serde_json::to_string_pretty(&report) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        eprintln!("ikev2d ping: cannot print the report: {e}");
                        return ExitCode::from(1);
                    }
                }
            } else {
                print!("{}", render::render_ping(&report));
            }
            let ok = match report.sweep {
                Some(_) => true,
                None => report.received() > 0,
            };
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        (_, Response::Ok { message }) => {
            if !message.is_empty() {
                println!("{message}");
            }
            ExitCode::SUCCESS
        }
        (_, Response::Error { message }) => {
            eprintln!("ikev2d {name}: {message}");
            ExitCode::from(1)
        }
        (_, other) => {
            eprintln!(
                "ikev2d {name}: unexpected answer from ikev2d at {}: {}",
                path.display(),
                serde_json::to_string(&other).unwrap_or_default()
            );
            ExitCode::from(2)
        }
    }
}

/// Sends one request other than `status` and prints the answer: `ikev2d NAME:
/// message` on stderr for errors. Exit codes as [`run`].
pub fn send(name: &str, socket: Option<&Path>, opts: &ClientOpts, request: &Request) -> ExitCode {
    let path = match resolve_socket(socket, opts.config.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ikev2d {name}: {e}");
            return ExitCode::from(2);
        }
    };
    match call(&path, request, timeout_for(request)) {
        Ok(Response::Ok { message }) => {
            if !message.is_empty() {
                println!("{message}");
            }
            ExitCode::SUCCESS
        }
        Ok(Response::Error { message }) => {
            eprintln!("ikev2d {name}: {message}");
            ExitCode::from(1)
        }
        Ok(other) => {
            eprintln!(
                "ikev2d {name}: unexpected answer from ikev2d at {}: {}",
                path.display(),
                serde_json::to_string(&other).unwrap_or_default()
            );
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("ikev2d {name}: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = dir.path().join("a.toml");
        std::fs::write(
            &cfg,
            "[daemon]\ncontrol_socket = \"/tmp/from-config.sock\"\n",
        )
        .expect("write");
        let missing = dir.path().join("missing.toml");
        let cli = Path::new("/tmp/cli.sock");
        let env = || Some(OsString::from("/tmp/env.sock"));

        let r = |c, e, f, d| resolve_socket_from(c, e, f, d).expect("resolves");
        assert_eq!(r(Some(cli), env(), Some(&*cfg), &*cfg), cli);
        assert_eq!(
            r(None, env(), Some(&*cfg), &*cfg),
            Path::new("/tmp/env.sock")
        );
        assert_eq!(
            r(None, None, Some(&*cfg), &*missing),
            Path::new("/tmp/from-config.sock")
        );
        // the default file is read only when it exists
        assert_eq!(
            r(None, None, None, &*cfg),
            Path::new("/tmp/from-config.sock")
        );
        assert_eq!(r(None, None, None, &*missing), Path::new(DEFAULT_SOCKET));
        // an empty variable counts as unset
        assert_eq!(
            r(None, Some(OsString::new()), None, &*missing),
            Path::new(DEFAULT_SOCKET)
        );
        // an explicit --config that cannot be read is an error
        let e =
            resolve_socket_from(None, None, Some(&missing), &missing).expect_err("missing config");
        assert!(e.to_string().contains("missing.toml"), "{e}");
    }

    #[test]
    fn config_without_daemon_table_gives_default() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = dir.path().join("a.toml");
        std::fs::write(&cfg, "").expect("write");
        assert_eq!(
            resolve_socket_from(None, None, Some(&cfg), &cfg).expect("resolves"),
            Path::new(DEFAULT_SOCKET)
        );
    }

    #[test]
    fn invalid_config_still_names_the_socket() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = dir.path().join("a.toml");
        std::fs::write(
            &cfg,
            "[daemon]\ncontrol_socket = \"/tmp/x.sock\"\nmtu = \"big\"\n",
        )
        .expect("write");
        assert_eq!(
            resolve_socket_from(None, None, Some(&cfg), &cfg).expect("resolves"),
            Path::new("/tmp/x.sock")
        );
        std::fs::write(&cfg, "this is not toml [").expect("write");
        let e = resolve_socket_from(None, None, Some(&cfg), &cfg).expect_err("broken");
        assert!(e.to_string().contains("--socket"), "{e}");
    }

    #[test]
    fn up_waits_longer() {
        let up = Request::Up {
            conn: "a".into(),
            timeout_secs: 60,
        };
        assert_eq!(timeout_for(&up), Duration::from_secs(70));
        assert_eq!(timeout_for(&Request::Status), DEFAULT_TIMEOUT);
        let forever = Request::Up {
            conn: "a".into(),
            timeout_secs: u64::MAX,
        };
        assert!(timeout_for(&forever) >= Duration::from_secs(u64::MAX));
        // and `call` does not overflow with it
        let e = call(
            Path::new("/nonexistent/x.sock"),
            &forever,
            timeout_for(&forever),
        )
        .expect_err("no socket");
        assert!(matches!(e, ClientError::Connect { .. }));
    }

    #[test]
    fn connect_errors_speak_operator() {
        let e = call(
            Path::new("/nonexistent/dir/ikev2d.sock"),
            &Request::Status,
            Duration::from_secs(1),
        )
        .expect_err("no socket");
        assert_eq!(
            e.to_string(),
            "cannot connect to ikev2d at /nonexistent/dir/ikev2d.sock: is the daemon running? (no such socket)"
        );
        let refused = ClientError::Connect {
            path: "/run/x.sock".into(),
            error: io::ErrorKind::ConnectionRefused.into(),
        };
        assert_eq!(
            refused.to_string(),
            "cannot connect to ikev2d at /run/x.sock: is the daemon running? (connection refused)"
        );
        let denied = ClientError::Connect {
            path: "/run/x.sock".into(),
            error: io::ErrorKind::PermissionDenied.into(),
        };
        assert!(denied.to_string().contains("permission denied"));
    }
}
