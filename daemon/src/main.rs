//! ikev2d: an IKEv2/IPsec VPN gateway. For now the binary has one subcommand,
//! `decode`, which shows a captured IKE message.

use std::io::Read as _;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod decode;
mod hexinput;

#[derive(Parser, Debug)]
#[command(name = "ikev2d", version, about = "IKEv2/IPsec VPN gateway")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Decode one IKE message given as hex (whitespace allowed; "-" or nothing reads
    /// stdin). Exit 0 when it parses, 2 when it does not.
    Decode {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// The message as hex, or "-" for stdin.
        hex: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Decode { json, hex } => run_decode(json, hex),
    }
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
