//! `cert-download-server`: the command line of the service; everything else is the
//! library (`lib.rs`).

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let options = match cert_download_server::Options::try_parse() {
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
    cert_download_server::init_logs(options.operations.log_format);
    match cert_download_server::run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("cert-download-server: {why}");
            ExitCode::FAILURE
        }
    }
}
