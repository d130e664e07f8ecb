//! ikev2d: an IKEv2/IPsec VPN gateway. Subcommands: `run` (the daemon), the control
//! clients `status`, `up`, `down`, `rekey` (over the control socket), `check` (validate
//! and lint a configuration) and `decode` (show a captured IKE message).

use std::io::Read as _;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ikev2d::config::{DaemonConfig, Finding, LoadError, Severity};

mod decode;
mod hexinput;

#[derive(Parser, Debug)]
#[command(name = "ikev2d", version, about = "IKEv2/IPsec VPN gateway")]
struct Cli {
    /// The daemon's control socket (client commands; default: $IKEV2D_SOCKET, the
    /// configuration's [daemon] control_socket, /run/ikev2d/ikev2d.sock).
    #[arg(long, global = true, value_name = "PATH")]
    socket: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the daemon in the foreground (logs to stderr). SIGTERM/SIGINT delete every
    /// IKE SA and exit 0; SIGHUP reloads the configuration.
    Run {
        /// The configuration file.
        #[arg(long, short = 'c', value_name = "PATH")]
        config: std::path::PathBuf,
        /// More log detail: -v protocol detail (debug), -vv trace.
        #[arg(short, long, action = clap::ArgAction::Count)]
        verbose: u8,
        /// Control socket path (overrides [daemon].control_socket).
        #[arg(long, value_name = "PATH")]
        socket: Option<std::path::PathBuf>,
    },
    /// Decode one IKE message given as hex (whitespace allowed; "-" or nothing reads
    /// stdin). Exit 0 when it parses, 2 when it does not.
    Decode {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// The message as hex, or "-" for stdin.
        hex: Option<String>,
    },
    /// Validate and lint a configuration file. Exit 0 when usable (warnings are
    /// printed), 1 on errors, 2 when the file cannot be read.
    Check {
        /// The configuration file.
        #[arg(long, short = 'c', value_name = "PATH")]
        config: std::path::PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Break-glass connections: `break-glass CONN` activates one with both
    /// custodians' halves, `break-glass drill CONN` only verifies them,
    /// `break-glass rotate CONN --config PATH` makes a new key (offline).
    BreakGlass(ikev2d::control::breakglass::BreakGlassArgs),
    /// Debugging switches of the running daemon (admin only, audited).
    Debug {
        #[command(subcommand)]
        what: ikev2d::control::breakglass::DebugCommand,
    },
    #[command(flatten)]
    Client(ikev2d::control::client::ClientCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            config,
            verbose,
            socket,
        } => ikev2d::runtime::run(&ikev2d::runtime::RunOptions {
            config,
            verbose,
            socket,
        }),
        Command::Decode { json, hex } => run_decode(json, hex),
        Command::Check { config, json } => run_check(&config, json),
        Command::BreakGlass(args) => {
            ikev2d::control::breakglass::run_break_glass(&args, cli.socket.as_deref())
        }
        Command::Debug { what } => {
            ikev2d::control::breakglass::run_debug(&what, cli.socket.as_deref())
        }
        Command::Client(cmd) => ikev2d::control::client::run(&cmd, cli.socket.as_deref()),
    }
}

fn run_check(path: &std::path::Path, json: bool) -> ExitCode {
    let findings = match DaemonConfig::check(path) {
        Ok(f) => f,
        Err(e @ LoadError::Io { .. }) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"ok": false, "file": path.display().to_string(), "error": e.to_string()})
                );
            } else {
                eprintln!("ikev2d check: {e}");
            }
            return ExitCode::from(2);
        }
        Err(LoadError::Invalid(f)) => f,
    };
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let warnings = findings.len() - errors;
    if json {
        let list: Vec<_> = findings.iter().map(finding_json).collect();
        let out = serde_json::json!({
            "ok": errors == 0,
            "file": path.display().to_string(),
            "errors": errors,
            "warnings": warnings,
            "findings": list,
        });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        for f in &findings {
            println!("{f}");
        }
        let verdict = if errors == 0 { "usable" } else { "not usable" };
        println!(
            "{}: {errors} error(s), {warnings} warning(s): {verdict}",
            path.display()
        );
    }
    if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn finding_json(f: &Finding) -> serde_json::Value {
    serde_json::json!({
        "severity": f.severity.to_string(),
        "rule": f.rule,
        "path": f.path,
        "line": f.line,
        "message": f.message,
    })
}

fn run_decode(json: bool, hex: Option<String>) -> ExitCode {
    let text = match hex.as_deref() {
        Some("-") | None => {
            let mut s = String::new();
            if let Err(e) = std::io::stdin().read_to_string(&mut s) {
                eprintln!("ikev2d decode: cannot read stdin: {e}");
                return ExitCode::from(2);
            }
            s
        }
        Some(h) => h.to_owned(),
    };
    let bytes = match hexinput::parse_hex(&text) {
        Ok(b) => b,
        Err(e) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"ok": false, "error": {"message": format!("input is not hex: {e}"), "kind": "BadHex"}})
                );
            } else {
                eprintln!("ikev2d decode: input is not hex: {e}");
            }
            return ExitCode::from(2);
        }
    };
    let decoded = decode::decode(&bytes);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&decoded.to_json()).unwrap_or_default()
        );
    } else {
        print!("{}", decoded.to_text());
    }
    if decoded.result.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}
