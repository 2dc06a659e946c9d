//! The service's README (`server/README.md`): its limits table says what `--help` says:
//! every limit flag of the command line is in it, with the default the flag has.

use cert_download_server::Options;
use clap::CommandFactory;

use crate::harness::repo_dir;

/// `(flag, default)` of each row of the "## Limits" table of `server/README.md`, a row that
/// names several flags giving their defaults in the same order (`10, 10`).
fn readme_limits() -> Vec<(String, String)> {
    let readme =
        std::fs::read_to_string(repo_dir().join("server/README.md")).expect("server/README.md");
    let table = readme
        .split("\n## Limits\n")
        .nth(1)
        .expect("a ## Limits section in server/README.md");
    let mut rows = Vec::new();
    for line in table.lines().skip_while(|l| !l.starts_with('|')) {
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (flags, defaults) = (cells[1], cells[2]);
        let flags: Vec<&str> = flags
            .split('`')
            .filter(|f| {
                f.strip_prefix("--")
                    .is_some_and(|name| name.starts_with(|c: char| c.is_ascii_lowercase()))
            })
            .map(|f| f.split_whitespace().next().unwrap_or(f))
            .collect();
        let defaults: Vec<&str> = defaults.split(", ").collect();
        for (i, flag) in flags.iter().enumerate() {
            let default = defaults.get(i).or(defaults.last()).copied().unwrap_or("");
            rows.push(((*flag).to_owned(), default.to_owned()));
        }
    }
    rows
}

#[test]
fn the_readme_limits_table_matches_the_flags() {
    let readme = readme_limits();
    let command = Options::command();
    let limits: Vec<&clap::Arg> = command
        .get_arguments()
        .filter(|a| a.get_help_heading() == Some("Limits"))
        .collect();
    assert!(limits.len() >= 15, "the limit flags: {}", limits.len());
    for arg in limits {
        let flag = format!("--{}", arg.get_long().expect("a long flag"));
        let row = readme
            .iter()
            .find(|(f, _)| *f == flag)
            .unwrap_or_else(|| panic!("{flag} is not in server/README.md's limits table"));
        let defaults: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        match defaults.as_slice() {
            [default] => assert_eq!(
                &row.1, default,
                "{flag}: server/README.md says {}, the flag {default}",
                row.1
            ),
            _ => {
                // A default computed at start (from the cores), or none: the help says which.
                let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
                assert!(
                    help.contains(&format!("[default: {}]", row.1)),
                    "{flag}: server/README.md says {:?}, the help {help:?}",
                    row.1
                );
            }
        }
    }
    // And no row for a flag that does not exist.
    for (flag, _) in &readme {
        assert!(
            command
                .get_arguments()
                .any(|a| a.get_long().is_some_and(|l| format!("--{l}") == *flag)),
            "server/README.md's limits table names {flag}, which the command line does not have"
        );
    }
}
