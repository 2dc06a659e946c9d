//! `cert-download-vault`: the vault's admin command. Every step is idempotent and prints one
//! JSON object on standard output (`audit`: one JSON object per line); on failure a JSON
//! object `{"error": CODE, "message": TEXT}` and a non-zero exit. The arguments and what
//! each subcommand runs are in `cli/`.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used)]

mod cli;

use std::process::ExitCode;

use clap::Parser;
use serde_json::{Value, json};

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help, --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let message = e.to_string();
            // The first line, and the arguments it lists (indented lines after it).
            let mut lines = message.lines();
            let mut shown = lines
                .next()
                .unwrap_or("bad arguments")
                .trim_start_matches("error: ")
                .to_owned();
            for listed in lines.take_while(|l| l.starts_with("  ")) {
                shown.push(' ');
                shown.push_str(listed.trim());
            }
            println!("{}", json!({"error": "usage", "message": shown}));
            eprint!("{message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            println!("{}", json!({"error": "runtime", "message": e.to_string()}));
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(Value::Null) => ExitCode::SUCCESS,
        Ok(value) => {
            println!("{value}");
            if value.get("error").is_some() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(f) => {
            println!("{}", json!({"error": f.code, "message": f.message}));
            ExitCode::FAILURE
        }
    }
}
