//! The client side of break-glass connections and of the debugging switches:
//!
//! - `ikev2d break-glass CONN`: asks the two custodians for their halves (echo off
//!   on a terminal; two lines from stdin otherwise) and sends them to the daemon,
//!   which verifies them and brings the connection up for its TTL.
//! - `ikev2d break-glass drill CONN`: the same verification, nothing brought up.
//! - `ikev2d break-glass rotate CONN --config PATH`: offline; a fresh secret whose
//!   halves are printed once and whose hashes replace `break_glass_hashes` in the
//!   file (edited in place, mode and owner kept, atomic rename).
//! - `ikev2d debug key-export on [--for DURATION] | off`.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use zeroize::Zeroizing;

use super::client::{ClientOpts, send};
use super::proto::{HalfSecret, Request};
use crate::config::{DaemonConfig, LoadError, Severity};
use crate::runtime::breakglass::{generate_halves, hash_half, verify_halves};

/// `ikev2d break-glass ...`.
#[derive(Debug, Clone, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct BreakGlassArgs {
    #[command(subcommand)]
    pub action: Option<BreakGlassAction>,
    /// Activate this break-glass connection (asks both custodians for their halves).
    #[arg(required = true, value_name = "CONN")]
    pub conn: Option<String>,
    #[command(flatten)]
    pub opts: ClientOpts,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum BreakGlassAction {
    /// Verify both custodians' halves with the daemon without bringing the tunnel
    /// up; the drill is audited and alerted.
    Drill {
        conn: String,
        #[command(flatten)]
        opts: ClientOpts,
    },
    /// Offline (no daemon needed): generate a fresh secret, print its two halves
    /// once (one per custodian) and write only their hashes into the file.
    Rotate {
        conn: String,
        /// The configuration file to update in place.
        #[arg(long, short = 'c', value_name = "PATH")]
        config: PathBuf,
    },
}

/// `ikev2d debug ...`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum DebugCommand {
    /// Write IKE and ESP keys of new SAs to [daemon] key_export_dir (Wireshark
    /// tables) for a while, or stop. Admin only, audited.
    KeyExport {
        #[arg(value_enum)]
        state: OnOff,
        /// How long export stays on (default 1h, at most 7d), e.g. 30m.
        #[arg(long = "for", value_name = "DURATION")]
        for_: Option<String>,
        #[command(flatten)]
        opts: ClientOpts,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

/// Runs `ikev2d break-glass ...`.
pub fn run_break_glass(args: &BreakGlassArgs, socket: Option<&Path>) -> ExitCode {
    match &args.action {
        Some(BreakGlassAction::Rotate { conn, config }) => rotate(conn, config),
        Some(BreakGlassAction::Drill { conn, opts }) => activate(conn, true, opts, socket),
        None => match &args.conn {
            Some(conn) => activate(conn, false, &args.opts, socket),
            None => {
                eprintln!("ikev2d break-glass: name the connection");
                ExitCode::from(2)
            }
        },
    }
}

/// Runs `ikev2d debug ...`.
pub fn run_debug(cmd: &DebugCommand, socket: Option<&Path>) -> ExitCode {
    match cmd {
        DebugCommand::KeyExport { state, for_, opts } => {
            let for_secs = match (state, for_) {
                (OnOff::On, Some(d)) => match crate::config::duration::parse_duration(d) {
                    Ok(d) if !d.is_zero() => Some(d.as_secs().max(1)),
                    Ok(_) => {
                        eprintln!("ikev2d debug key-export: --for must be longer than 0");
                        return ExitCode::from(2);
                    }
                    Err(e) => {
                        eprintln!("ikev2d debug key-export: --for {d:?}: {e}");
                        return ExitCode::from(2);
                    }
                },
                (OnOff::Off, Some(_)) => {
                    eprintln!("ikev2d debug key-export: --for goes with `on`");
                    return ExitCode::from(2);
                }
                (_, None) => None,
            };
            let request = Request::KeyExport {
                enable: *state == OnOff::On,
                for_secs,
            };
            send("debug key-export", socket, opts, &request)
        }
    }
}

fn activate(conn: &str, drill: bool, opts: &ClientOpts, socket: Option<&Path>) -> ExitCode {
    let name = if drill {
        "break-glass drill"
    } else {
        "break-glass"
    };
    // Fail before the custodians type anything when the daemon is not there.
    let reachable = super::client::resolve_socket(socket, opts.config.as_deref()).and_then(|p| {
        std::os::unix::net::UnixStream::connect(&p)
            .map(drop)
            .map_err(|error| super::client::ClientError::Connect { path: p, error })
    });
    if let Err(e) = reachable {
        eprintln!("ikev2d {name}: {e}");
        return ExitCode::from(2);
    }
    let halves = match read_halves(conn) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("ikev2d {name}: {e}");
            return ExitCode::from(2);
        }
    };
    let request = Request::BreakGlass {
        conn: conn.to_owned(),
        halves,
        drill,
    };
    send(name, socket, opts, &request)
}

/// Both halves: two echo-off prompts on the terminal, or two lines of stdin when
/// it is not a terminal (scripts, tests). Surrounding whitespace is dropped.
fn read_halves(conn: &str) -> Result<[HalfSecret; 2], String> {
    let mut out = Vec::with_capacity(2);
    if std::io::stdin().is_terminal() {
        for i in 1..=2 {
            let prompt = format!("custodian {i}: your half of the break-glass key for {conn}: ");
            let h = Zeroizing::new(
                rpassword::prompt_password(prompt).map_err(|e| format!("cannot read: {e}"))?,
            );
            out.push(h);
        }
    } else {
        let stdin = std::io::stdin();
        let mut lock = stdin.lock();
        for i in 1..=2 {
            let mut line = Zeroizing::new(String::new());
            let n = lock
                .read_line(&mut line)
                .map_err(|e| format!("cannot read half {i} from stdin: {e}"))?;
            if n == 0 {
                return Err(format!(
                    "stdin ended before half {i}: give the two halves on two lines"
                ));
            }
            out.push(line);
        }
    }
    let mut halves = out
        .into_iter()
        .map(|h| HalfSecret::new(h.trim().to_owned()));
    let (Some(a), Some(b)) = (halves.next(), halves.next()) else {
        return Err("two halves are needed".to_owned());
    };
    if a.expose().is_empty() || b.expose().is_empty() {
        return Err("a half is empty".to_owned());
    }
    Ok([a, b])
}

/// `ikev2d break-glass rotate CONN --config PATH`.
fn rotate(conn: &str, path: &Path) -> ExitCode {
    match rotate_inner(conn, path) {
        Ok([a, b]) => {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "New break-glass key for {conn}; it is shown once and {} holds only its hashes.\n\
                 Give each custodian their half, and nothing else:\n\n  \
                 custodian 1: {}\n  custodian 2: {}\n\n\
                 The peer's PSK is custodian 1's half followed by custodian 2's ({} characters).\n\
                 Reload the daemon (SIGHUP) to use the new hashes.",
                path.display(),
                a.as_str(),
                b.as_str(),
                a.len() + b.len(),
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ikev2d break-glass rotate: {e}");
            ExitCode::from(1)
        }
    }
}

fn rotate_inner(conn: &str, path: &Path) -> Result<[Zeroizing<String>; 2], String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("run as root: the configuration and the key belong to root".to_owned());
    }
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("{shown}: {e}"))?;
    let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: {e}"))?;
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e| format!("{shown} is not valid TOML: {e}"))?;
    let table = doc
        .get_mut("connections")
        .and_then(|c| c.get_mut(conn))
        .and_then(toml_edit::Item::as_table_like_mut)
        .ok_or_else(|| format!("{shown} has no connection {conn:?}"))?;
    if table.get("break_glass").and_then(toml_edit::Item::as_bool) != Some(true) {
        return Err(format!(
            "connections.{conn} is not marked break_glass = true: add that line first \
             (the connection is then no longer started with the daemon)"
        ));
    }
    let halves = generate_halves();
    let hashes = [hash_half(&halves[0])?, hash_half(&halves[1])?];
    if !verify_halves(&hashes, [halves[0].as_str(), halves[1].as_str()]) {
        return Err("internal error: the new hashes do not verify; nothing written".to_owned());
    }
    let mut array = toml_edit::Array::new();
    for h in &hashes {
        array.push(h.as_str());
    }
    // Replacing the value in place keeps the key's position and comments.
    match table.get_mut("break_glass_hashes") {
        Some(item) => *item = toml_edit::value(array),
        None => {
            table.insert("break_glass_hashes", toml_edit::value(array));
        }
    }
    let new_text = doc.to_string();
    let base = path.parent().unwrap_or_else(|| Path::new("."));
    if let Err(LoadError::Invalid(findings)) = DaemonConfig::parse(&new_text, base) {
        let errors: Vec<String> = findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .map(ToString::to_string)
            .collect();
        return Err(format!(
            "the updated file would not load, nothing written:\n{}",
            errors.join("\n")
        ));
    }
    write_atomically(path, &meta, new_text.as_bytes())?;
    Ok(halves)
}

/// Writes `data` to a temporary file next to `path` with `path`'s mode and owner,
/// syncs it and renames it over `path`.
fn write_atomically(path: &Path, meta: &std::fs::Metadata, data: &[u8]) -> Result<(), String> {
    let shown = path.display();
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "config".to_owned());
    let tmp = dir.join(format!(".{file_name}.rotate-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(meta.mode() & 0o7777)
            .open(&tmp)?;
        std::os::unix::fs::fchown(&f, Some(meta.uid()), Some(meta.gid()))?;
        // the umask may have narrowed the mode given above
        f.set_permissions(meta.permissions())?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok::<(), std::io::Error>(())
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot write {shown}: {e}")
    })
}
