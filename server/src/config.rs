//! `--config FILE`: the service's flags in a TOML file, and `--print-config`.
//!
//! The file's keys are not a second list: they are read off the `clap` definition of
//! [`Options`] at run time, each flag's long name a key (`max-connections = 2048`,
//! `insecure-http = true`, `trusted-proxy = ["10.0.0.0/8"]`). So a flag added to
//! `Options` is a key of the file with no code here, and its value is checked by the
//! flag's own parser. The file becomes arguments put before the command line's:
//!
//! - a flag given on the command line, or by its environment variable, wins over the file;
//! - an unknown key, a table, or a list for a flag that takes one value is refused with
//!   its name;
//! - `true` gives a switch, `false` leaves it off; a number or a string is the flag's value.
//!
//! `--print-config` prints the effective configuration as TOML (each value with where it
//! came from) and exits; a secret (see [`is_secret`]) is shown as `"(set)"` or not at all,
//! never its value.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::Path;

use clap::parser::ValueSource;
use clap::{ArgAction, CommandFactory};

use crate::options::Options;

/// Flags that are not keys of the file.
const NOT_KEYS: &[&str] = &["config", "print-config", "help", "version"];

/// The largest configuration file read.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// Whether a flag's value is a secret, shown only as set or unset: the database URL (it
/// may hold a password) and any flag whose name says it is a password, PIN or secret.
pub fn is_secret(long: &str) -> bool {
    long == "database"
        || ["password", "pin", "secret"]
            .iter()
            .any(|word| long.split('-').any(|part| part == *word))
}

/// The arguments to parse: the command line's, with those of `--config FILE` (if given)
/// put before them, minus the keys the command line or the environment sets; and the keys
/// the file set. An error is one line for the operator.
pub fn arguments_with_config(
    args: Vec<OsString>,
) -> Result<(Vec<OsString>, BTreeSet<String>), String> {
    let command = Options::command().ignore_errors(true);
    let Ok(matches) = command.try_get_matches_from(&args) else {
        return Ok((args, BTreeSet::new()));
    };
    let Some(file) = matches.get_one::<std::path::PathBuf>("config") else {
        return Ok((args, BTreeSet::new()));
    };
    let given: BTreeSet<String> = Options::command()
        .get_arguments()
        .filter(|arg| {
            matches!(
                matches.value_source(arg.get_id().as_str()),
                Some(ValueSource::CommandLine | ValueSource::EnvVariable)
            )
        })
        .filter_map(|arg| arg.get_long().map(str::to_owned))
        .collect();
    let table = read_table(file)?;
    let from_file =
        file_arguments(&table, &given).map_err(|why| format!("{}: {why}", file.display()))?;
    let file_keys = table
        .keys()
        .filter(|key| !given.contains(*key))
        .cloned()
        .collect();
    let mut out = Vec::with_capacity(args.len() + from_file.len());
    let mut args = args.into_iter();
    out.extend(args.next());
    out.extend(from_file.into_iter().map(OsString::from));
    out.extend(args);
    Ok((out, file_keys))
}

fn read_table(file: &Path) -> Result<toml::Table, String> {
    let shown = file.display();
    let meta = std::fs::metadata(file).map_err(|e| format!("--config {shown}: {e}"))?;
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(format!("--config {shown}: larger than 1 MiB"));
    }
    let text = std::fs::read_to_string(file).map_err(|e| format!("--config {shown}: {e}"))?;
    text.parse::<toml::Table>()
        .map_err(|e| format!("--config {shown}: {}", e.to_string().trim_end()))
}

/// The flags a table stands for, skipping the keys in `given`.
pub fn file_arguments(
    table: &toml::Table,
    given: &BTreeSet<String>,
) -> Result<Vec<String>, String> {
    let command = Options::command();
    let mut out = Vec::new();
    for (key, value) in table {
        let arg = command
            .get_arguments()
            .find(|arg| arg.get_long() == Some(key.as_str()) && !NOT_KEYS.contains(&key.as_str()))
            .ok_or_else(|| {
                format!(
                    "unknown key `{key}` (the keys are the long names of the flags, as \
                     `cert-download-server --help` lists them without the dashes)"
                )
            })?;
        if given.contains(key) {
            continue;
        }
        let flag = format!("--{key}");
        let switch = matches!(arg.get_action(), ArgAction::SetTrue);
        let many = matches!(arg.get_action(), ArgAction::Append);
        let one = |value: &toml::Value| -> Result<String, String> {
            match value {
                toml::Value::String(s) => Ok(s.clone()),
                toml::Value::Integer(n) => Ok(n.to_string()),
                toml::Value::Float(x) => Ok(x.to_string()),
                _ => Err(format!("`{key}` takes a string or a number")),
            }
        };
        match value {
            toml::Value::Boolean(on) if switch => {
                if *on {
                    out.push(flag);
                }
            }
            _ if switch => return Err(format!("`{key}` is a switch: true or false")),
            toml::Value::Array(values) if many => {
                for value in values {
                    out.push(format!("{flag}={}", one(value)?));
                }
            }
            toml::Value::Array(_) => return Err(format!("`{key}` takes one value, not a list")),
            value => out.push(format!("{flag}={}", one(value)?)),
        }
    }
    Ok(out)
}

/// The effective configuration of `args` (already merged with the file) as TOML: every key
/// with its value and, in a comment, where it came from; unset keys as comments; secrets
/// as `"(set)"`.
pub fn print_config(args: &[OsString], file_keys: &BTreeSet<String>) -> Result<String, String> {
    let matches = Options::command()
        .try_get_matches_from(args)
        .map_err(|e| e.to_string())?;
    let mut out = String::from("# cert-download-server: the effective configuration\n");
    for arg in Options::command().get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if NOT_KEYS.contains(&long) {
            continue;
        }
        let id = arg.get_id().as_str();
        let source = match matches.value_source(id) {
            Some(ValueSource::CommandLine) if file_keys.contains(long) => "the file",
            Some(ValueSource::CommandLine) => "the command line",
            Some(ValueSource::EnvVariable) => "the environment",
            Some(ValueSource::DefaultValue) => "default",
            _ => "",
        };
        let raw: Vec<String> = matches
            .get_raw(id)
            .map(|values| values.map(|v| v.to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        if raw.is_empty() {
            out.push_str(&format!("# {long}: unset\n"));
            continue;
        }
        let value = if is_secret(long) {
            toml::Value::String("(set)".into())
        } else if matches!(arg.get_action(), ArgAction::SetTrue) {
            toml::Value::Boolean(raw.iter().any(|v| v == "true"))
        } else if matches!(arg.get_action(), ArgAction::Append) {
            toml::Value::Array(raw.iter().map(|v| typed(v)).collect())
        } else {
            typed(&raw[0])
        };
        out.push_str(&format!("{long} = {value} # {source}\n"));
    }
    Ok(out)
}

/// A number as a number, anything else as a string.
fn typed(value: &str) -> toml::Value {
    value
        .parse::<i64>()
        .map(toml::Value::Integer)
        .unwrap_or_else(|_| toml::Value::String(value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        text.parse().unwrap()
    }

    #[test]
    fn every_flag_is_a_key() {
        // Each flag of Options, whoever adds it: its long name is accepted as a key and
        // becomes that flag.
        let mut count = 0;
        for arg in Options::command().get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if NOT_KEYS.contains(&long) {
                continue;
            }
            let value = match arg.get_action() {
                ArgAction::SetTrue => "true",
                ArgAction::Append => "[\"x\"]",
                _ => "\"x\"",
            };
            let args = file_arguments(&table(&format!("{long} = {value}")), &BTreeSet::new())
                .unwrap_or_else(|e| panic!("{long}: {e}"));
            assert!(
                args.iter()
                    .any(|a| a == &format!("--{long}") || a == &format!("--{long}=x")),
                "{long}: {args:?}"
            );
            count += 1;
        }
        assert!(count >= 30, "only {count} flags");
    }

    #[test]
    fn unknown_keys_and_wrong_shapes_are_refused_by_name() {
        let none = BTreeSet::new();
        let e = file_arguments(&table("max-conections = 5"), &none).unwrap_err();
        assert!(e.contains("unknown key `max-conections`"), "{e}");
        let e = file_arguments(&table("max_connections = 5"), &none).unwrap_err();
        assert!(e.contains("unknown key `max_connections`"), "{e}");
        let e = file_arguments(&table("config = \"x\""), &none).unwrap_err();
        assert!(e.contains("unknown key `config`"), "{e}");
        let e = file_arguments(&table("insecure-http = 1"), &none).unwrap_err();
        assert!(e.contains("`insecure-http` is a switch"), "{e}");
        let e = file_arguments(&table("listen = [\"a\", \"b\"]"), &none).unwrap_err();
        assert!(e.contains("`listen` takes one value"), "{e}");
        let e = file_arguments(&table("[limits]\nx = 1"), &none).unwrap_err();
        assert!(e.contains("unknown key `limits`"), "{e}");
    }

    #[test]
    fn flags_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("server.toml");
        std::fs::write(
            &file,
            "max-connections = 7\nmax-headers = 9\ninsecure-http = true\n\
             trusted-proxy = [\"10.0.0.0/8\", \"fd00::/8\"]\n",
        )
        .unwrap();
        let args: Vec<OsString> = ["cert-download-server", "--config"]
            .iter()
            .map(OsString::from)
            .chain([file.clone().into_os_string()])
            .chain(["--max-headers", "11"].iter().map(OsString::from))
            .collect();
        let (merged, file_keys) = arguments_with_config(args).unwrap();
        assert!(file_keys.contains("max-connections") && !file_keys.contains("max-headers"));
        let options = <Options as clap::Parser>::try_parse_from(&merged).unwrap();
        assert_eq!(options.limits.max_connections, 7);
        assert_eq!(options.limits.max_headers, 11);
        assert!(options.insecure_http);
        assert_eq!(options.limits.trusted_proxies.len(), 2);
    }

    #[test]
    fn secrets_are_shown_as_set_or_unset() {
        assert!(is_secret("database"));
        assert!(is_secret("pkcs11-pin"));
        assert!(!is_secret("tokens"));
        assert!(!is_secret("kek-file"));
        let args: Vec<OsString> = [
            "cert-download-server",
            "--database",
            "postgres://u:hunter2@127.0.0.1/db",
            "--kek-file",
            "k",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let text = print_config(&args, &BTreeSet::new()).unwrap();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("database = \"(set)\""), "{text}");
        assert!(
            text.contains("kek-file = \"k\" # the command line"),
            "{text}"
        );
        assert!(text.contains("max-connections = 1024 # default"), "{text}");
        assert!(text.contains("# tls-cert: unset"), "{text}");
        // What it prints is a configuration file again (secrets aside).
        let reread: toml::Table = text.parse().unwrap();
        assert_eq!(reread["max-headers"].as_integer(), Some(64));
    }
}
