//! `cert-download-server`: the command line of the service; everything else is the
//! library (`lib.rs`).

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let (args, file_keys) =
        match cert_download_server::config::arguments_with_config(std::env::args_os().collect()) {
            Ok(merged) => merged,
            Err(why) => {
                eprintln!("cert-download-server: {why}");
                return ExitCode::FAILURE;
            }
        };
    let options = match cert_download_server::Options::try_parse_from(&args) {
        Ok(options) => options,
        Err(e) if !e.use_stderr() => {
            // --help, --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let text = e.render().to_string();
            let why = text.lines().next().unwrap_or_default();
            eprintln!(
                "cert-download-server: {}",
                why.strip_prefix("error: ").unwrap_or(why)
            );
            eprint!("{}", text.split_once('\n').map_or("", |(_, rest)| rest));
            return ExitCode::FAILURE;
        }
    };
    if options.print_config {
        return match cert_download_server::config::print_config(&args, &file_keys) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(why) => {
                eprintln!("cert-download-server: {why}");
                ExitCode::FAILURE
            }
        };
    }
    cert_download_server::init_logs(options.operations.log_format);
    match cert_download_server::run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("cert-download-server: {why}");
            ExitCode::FAILURE
        }
    }
}
