//! The external judges the tests open our files with: which are on this machine, set as
//! `judge_*` cfgs by [`probe`] (the build scripts of `interop` and `server`), so a test that
//! needs a missing one is `#[ignore]`d with the reason (which starts with "needs ", as
//! scripts/test-all looks for) in cargo's summary. With `CERT_DOWNLOAD_JUDGES=required`
//! (scripts/test-all sets it) a missing judge fails the build instead: nothing is skipped
//! there.
//!
//! A build script prints nothing else: building or running a binary says nothing about
//! tests. The lines naming the tests not run and what to install ([`not_run`]) are printed
//! when the tests run, by this crate's test `tests_not_run_for_want_of_a_judge`. Both scan
//! a package's `tests/` for `cfg_attr(not(judge_x), ignore ...)` to name the tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

struct Judge {
    cfg: &'static str,
    what: &'static str,
    install: &'static str,
    present: fn() -> bool,
    /// Where the judge lives once installed: watched, so installing it re-runs the probe.
    watch: &'static [&'static str],
}

const JUDGES: &[Judge] = &[
    Judge {
        cfg: "judge_openssl",
        what: "the openssl CLI",
        install: "apt-get install openssl",
        present: || on_path("openssl"),
        watch: &["/usr/bin/openssl"],
    },
    Judge {
        cfg: "judge_cryptography",
        what: "Python cryptography 48 or later (bundles OpenSSL 4.0, reads PBMAC1)",
        install: "python3 -m pip install 'cryptography==48.*'",
        present: || {
            runs(
                "python3",
                &[
                    "-c",
                    "import sys, cryptography; \
                     sys.exit(int(cryptography.__version__.split('.')[0]) < 48)",
                ],
            )
        },
        watch: &[],
    },
    Judge {
        cfg: "judge_java",
        what: "Java 17 (keytool, javac, java)",
        install: "apt-get install openjdk-17-jdk-headless",
        present: || on_path("keytool") && on_path("javac") && on_path("java"),
        watch: &["/usr/bin/keytool", "/usr/bin/javac"],
    },
    Judge {
        cfg: "judge_gnutls",
        what: "GnuTLS certtool",
        install: "apt-get install gnutls-bin",
        present: || on_path("certtool"),
        watch: &["/usr/bin/certtool"],
    },
    Judge {
        cfg: "judge_nss",
        what: "NSS pk12util and certutil",
        install: "apt-get install libnss3-tools",
        present: || on_path("pk12util") && on_path("certutil"),
        watch: &["/usr/bin/pk12util"],
    },
    Judge {
        cfg: "judge_bouncycastle",
        what: "BouncyCastle (bcprov, bcpkix) with Java",
        install: "apt-get install libbcprov-java libbcpkix-java openjdk-17-jdk-headless",
        present: || {
            Path::new("/usr/share/java/bcprov.jar").is_file()
                && Path::new("/usr/share/java/bcpkix.jar").is_file()
                && on_path("javac")
        },
        watch: &["/usr/share/java/bcprov.jar", "/usr/share/java/bcpkix.jar"],
    },
    Judge {
        cfg: "judge_go",
        what: "Go with golang.org/x/crypto/pkcs12",
        install: "apt-get install golang-go golang-golang-x-crypto-dev",
        present: || {
            on_path("go") && Path::new("/usr/share/gocode/src/golang.org/x/crypto/pkcs12").is_dir()
        },
        watch: &["/usr/share/gocode/src/golang.org/x/crypto/pkcs12"],
    },
    Judge {
        cfg: "judge_curl",
        what: "the curl CLI",
        install: "apt-get install curl",
        present: || on_path("curl"),
        watch: &["/usr/bin/curl"],
    },
    Judge {
        cfg: "judge_softhsm",
        what: "SoftHSM2 (softhsm2-util and its PKCS#11 module)",
        install: "apt-get install softhsm2",
        present: || {
            on_path("softhsm2-util") && Path::new("/usr/lib/softhsm/libsofthsm2.so").is_file()
        },
        watch: &["/usr/lib/softhsm/libsofthsm2.so", "/usr/bin/softhsm2-util"],
    },
    // Not judges of files: a real Prometheus parser for the server's metrics, and systemd's
    // own check of the server's unit file.
    Judge {
        cfg: "judge_prometheus_client",
        what: "Python prometheus_client (its text parser judges the metrics)",
        install: "python3 -m pip install prometheus_client",
        present: || {
            runs(
                "python3",
                &["-c", "import prometheus_client.openmetrics.parser"],
            )
        },
        watch: &[],
    },
    Judge {
        cfg: "judge_systemd_analyze",
        what: "systemd-analyze (checks the server's unit file)",
        install: "apt-get install systemd",
        present: || on_path("systemd-analyze"),
        watch: &["/usr/bin/systemd-analyze"],
    },
    // Not a judge of files: the PostgreSQL cluster the vault's end-to-end tests run on
    // (only its URL is looked at; vault/build.rs does the same for the vault's own tests).
    Judge {
        cfg: "postgres_cluster",
        what: "PostgreSQL (CERT_DOWNLOAD_POSTGRES_URL)",
        install: "apt-get install postgresql, then run scripts/test-all (it starts a throwaway \
                  cluster), or point CERT_DOWNLOAD_POSTGRES_URL at a cluster",
        present: || std::env::var_os("CERT_DOWNLOAD_POSTGRES_URL").is_some_and(|v| !v.is_empty()),
        watch: &[],
    },
];

fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// The tests of this package that a judge's absence ignores: the `fn` after each
/// `#[cfg_attr(not(...judge_x...), ignore ...)]` in `tests/**.rs`; a test a macro stamps out
/// counts once per invocation line (`name: args;`) of that macro.
fn tests_needing(files: &[PathBuf], cfg: &str) -> Vec<String> {
    let mut names = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        let mut attr: Option<String> = None;
        let mut pending = false;
        let mut in_macro: Option<&str> = None;
        for line in text.lines() {
            let line = line.trim();
            if let Some(name) = line.strip_prefix("macro_rules! ") {
                in_macro = name.split_whitespace().next();
            }
            if let Some(text) = attr.as_mut() {
                text.push_str(line);
            } else if line.starts_with("#[cfg_attr(") {
                attr = Some(line.to_owned());
            }
            if let Some(text) = attr.take_if(|t| t.ends_with(")]")) {
                pending = text.contains("ignore") && attr_names(&text, cfg);
            } else if pending && let Some(name) = fn_name(line) {
                match (name.starts_with('$'), in_macro) {
                    (true, Some(mac)) => names.extend(invocations(&text, mac)),
                    _ => names.push(name.to_owned()),
                }
                pending = false;
            }
        }
    }
    names
}

/// The names given in `mac! { name: ...; ... }`.
fn invocations(text: &str, mac: &str) -> Vec<String> {
    let Some(start) = text.find(&format!("{mac}! {{")) else {
        return Vec::new();
    };
    text[start..]
        .lines()
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with('}'))
        .filter_map(|l| l.trim().split_once(':').map(|(n, _)| n.to_owned()))
        .filter(|n| n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .collect()
}

fn attr_names(attr: &str, cfg: &str) -> bool {
    attr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|word| word == cfg)
}

fn fn_name(line: &str) -> Option<&str> {
    let rest = line
        .strip_prefix("async fn ")
        .or_else(|| line.strip_prefix("fn "))?;
    rest.split(['(', '<']).next()
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Run from a build script: sets the `judge_*` (and `postgres_cluster`) cfgs of the judges
/// found; with `CERT_DOWNLOAD_JUDGES=required`, a judge missing for a test of the package
/// fails the build with the [`not_run`] lines. Nothing else is printed.
pub fn probe() {
    println!("cargo::rerun-if-env-changed=CERT_DOWNLOAD_JUDGES");
    println!("cargo::rerun-if-env-changed=PATH");
    println!("cargo::rerun-if-env-changed=CERT_DOWNLOAD_POSTGRES_URL");
    println!("cargo::rerun-if-changed=tests");
    let mut files = Vec::new();
    collect_rs(Path::new("tests"), &mut files);
    for file in &files {
        println!("cargo::rerun-if-changed={}", file.display());
    }
    for judge in JUDGES {
        println!("cargo::rustc-check-cfg=cfg({})", judge.cfg);
        for path in judge.watch {
            // A path that does not exist yet makes cargo re-run this probe on every
            // build, so a judge installed later is found.
            println!("cargo::rerun-if-changed={path}");
        }
        if (judge.present)() {
            println!("cargo::rustc-cfg={}", judge.cfg);
        }
    }
    let required = std::env::var("CERT_DOWNLOAD_JUDGES").is_ok_and(|v| v == "required");
    if required {
        let lines = missing(&files);
        if !lines.is_empty() {
            panic!(
                "CERT_DOWNLOAD_JUDGES=required, but judges are missing:\n{}",
                lines.join("\n")
            );
        }
    }
}

/// For each judge missing on this machine that tests of the package at `package_dir` need:
/// a line naming it, the tests not run, and what to install.
pub fn not_run(package_dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    collect_rs(&package_dir.join("tests"), &mut files);
    missing(&files)
}

fn missing(files: &[PathBuf]) -> Vec<String> {
    JUDGES
        .iter()
        .filter(|judge| !(judge.present)())
        .map(|judge| (judge, tests_needing(files, judge.cfg)))
        .filter(|(_, tests)| !tests.is_empty())
        .map(|(judge, tests)| {
            let shown: Vec<&str> = tests.iter().take(4).map(String::as_str).collect();
            let more = tests.len().saturating_sub(shown.len());
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            format!(
                "{} not found: {} tests not run ({}{more}); install: {}",
                judge.what,
                tests.len(),
                shown.join(", "),
                judge.install
            )
        })
        .collect()
}
