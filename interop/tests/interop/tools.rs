//! Running the external tools: one small command builder that finds the program (a tool
//! missing at run time is a failure with an install hint; a test whose tool was missing at
//! build time is ignored, see test-support's `judges`), keeps secrets out of messages,
//! feeds stdin, enforces a timeout and reports stderr when a command does not do what the
//! test expects.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind, Read, Seek, SeekFrom, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// An external program and how to install it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tool {
    pub(crate) program: &'static str,
    pub(crate) install: &'static str,
}

pub(crate) const OPENSSL: Tool = Tool {
    program: "openssl",
    install: "install the OpenSSL 3 CLI (apt-get install openssl)",
};
pub(crate) const PYTHON: Tool = Tool {
    program: "python3",
    install: "install Python 3 with the `cryptography` package \
              (apt-get install python3 python3-cryptography, or pip install cryptography)",
};
pub(crate) const KEYTOOL: Tool = Tool {
    program: "keytool",
    install: "install a Java 17 runtime (apt-get install openjdk-17-jre-headless)",
};
pub(crate) const JAVA: Tool = Tool {
    program: "java",
    install: "install a Java 17 JDK (apt-get install openjdk-17-jdk-headless)",
};
pub(crate) const JAVAC: Tool = Tool {
    program: "javac",
    install: "install a Java 17 JDK (apt-get install openjdk-17-jdk-headless)",
};
pub(crate) const CERTTOOL: Tool = Tool {
    program: "certtool",
    install: "install GnuTLS' certtool (apt-get install gnutls-bin)",
};
pub(crate) const PK12UTIL: Tool = Tool {
    program: "pk12util",
    install: "install the NSS tools (apt-get install libnss3-tools)",
};
pub(crate) const CERTUTIL: Tool = Tool {
    program: "certutil",
    install: "install the NSS tools (apt-get install libnss3-tools)",
};

/// The longest a single tool run may take before the test fails.
const TIMEOUT: Duration = Duration::from_secs(120);

impl Tool {
    pub(crate) fn cmd(self) -> Cmd {
        Cmd {
            tool: self,
            command: Command::new(self.program),
            shown: vec![self.program.to_owned()],
            stdin: None,
        }
    }
}

/// A command line being built. Arguments marked secret are shown as `***` in messages.
pub(crate) struct Cmd {
    tool: Tool,
    command: Command,
    shown: Vec<String>,
    stdin: Option<Vec<u8>>,
}

impl Cmd {
    pub(crate) fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.shown.push(arg.as_ref().to_string_lossy().into_owned());
        self.command.arg(arg);
        self
    }

    pub(crate) fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(mut self, args: I) -> Self {
        for a in args {
            self = self.arg(a);
        }
        self
    }

    /// An argument that holds a password: passed as is, shown as `***`.
    pub(crate) fn secret_arg(self, arg: impl AsRef<OsStr>) -> Self {
        self.arg_shown_as(arg, "***")
    }

    /// An argument shown in messages as `shown` (e.g. a whole script).
    pub(crate) fn arg_shown_as(mut self, arg: impl AsRef<OsStr>, shown: &str) -> Self {
        self.shown.push(shown.to_owned());
        self.command.arg(arg);
        self
    }

    pub(crate) fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Self {
        self.command.env(key, value);
        self
    }

    pub(crate) fn stdin(mut self, input: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(input.into());
        self
    }

    /// Starts the program: a missing one is a failure that says how to install it.
    fn spawn(&mut self) -> Child {
        match self.command.spawn() {
            Ok(child) => child,
            Err(e) if e.kind() == ErrorKind::NotFound => panic!(
                "{} not found on PATH: {} (this interoperability test needs it)",
                self.tool.program, self.tool.install
            ),
            Err(e) => panic!("cannot start `{}`: {e}", self.shown.join(" ")),
        }
    }

    /// Runs the command to its end (stdin is empty unless given, so that no tool can wait
    /// on a password prompt). Panics when the program is missing or hangs.
    pub(crate) fn run(mut self) -> Output {
        let shown = self.shown.join(" ");
        let mut out_file = tempfile::tempfile().expect("a temporary file for stdout");
        let mut err_file = tempfile::tempfile().expect("a temporary file for stderr");
        self.command
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::from(
                out_file.try_clone().expect("clone stdout file"),
            ))
            .stderr(Stdio::from(
                err_file.try_clone().expect("clone stderr file"),
            ));
        let mut child = self.spawn();
        if let Some(input) = self.stdin.take() {
            let mut pipe = child.stdin.take().expect("piped stdin");
            // A tool that exits without reading its stdin is not our concern here: its exit
            // status tells.
            let _ = pipe.write_all(&input);
        }
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for the tool") {
                break status;
            }
            if start.elapsed() > TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                panic!("`{shown}` did not finish within {TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        if std::env::var_os("INTEROP_TRACE").is_some() {
            eprintln!("{:>6} ms  {shown}", start.elapsed().as_millis());
        }
        Output {
            shown,
            status,
            stdout: read_all(&mut out_file),
            stderr: String::from_utf8_lossy(&read_all(&mut err_file)).into_owned(),
        }
    }

    /// Runs the command and asserts that it exits 0.
    pub(crate) fn ok(self) -> Output {
        let out = self.run();
        assert!(
            out.status.success(),
            "`{}` failed ({}):\n--- stderr ---\n{}\n--- stdout ---\n{}",
            out.shown,
            out.status,
            out.stderr,
            out.text()
        );
        out
    }

    /// Runs the command and asserts that it fails for the reason expected: exit status
    /// `code` and `message` in its output (e.g. openssl's "Mac verify error" for a wrong
    /// password), so that a usage error or a crash is not taken for the refusal.
    pub(crate) fn fails_with(self, code: i32, message: &str) -> Output {
        let out = self.run();
        assert!(
            out.status.code() == Some(code) && out.all_text().contains(message),
            "`{}` was expected to fail with exit status {code} and `{message}`, got {}:\n\
             --- stdout ---\n{}\n--- stderr ---\n{}",
            out.shown,
            out.status,
            out.text(),
            out.stderr
        );
        out
    }
}

impl Cmd {
    /// Starts the command as a line-oriented worker: one request line in, one answer line
    /// out (see [`Worker::ask`]).
    pub(crate) fn worker(mut self) -> Worker {
        let shown = self.shown.join(" ");
        let stderr = tempfile::tempfile().expect("a temporary file for stderr");
        self.command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr.try_clone().expect("clone stderr file")));
        let mut child = self.spawn();
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        Worker {
            shown,
            child,
            stdin,
            stdout,
            stderr,
        }
    }
}

/// A long-running tool answering one line per request line; it ends when its stdin closes
/// (when the test process exits).
pub(crate) struct Worker {
    shown: String,
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    stderr: File,
}

impl Worker {
    pub(crate) fn ask(&mut self, request: &str) -> String {
        assert!(!request.contains('\n'), "a worker request is one line");
        let start = Instant::now();
        let sent = writeln!(self.stdin, "{request}").and_then(|()| self.stdin.flush());
        let mut answer = String::new();
        let read = sent.and_then(|()| self.stdout.read_line(&mut answer));
        if !matches!(read, Ok(n) if n > 0) {
            let status = self.child.try_wait().ok().flatten();
            panic!(
                "`{}` stopped answering ({read:?}, exit status {status:?}):\n--- stderr ---\n{}",
                self.shown,
                String::from_utf8_lossy(&read_all(&mut self.stderr))
            );
        }
        if std::env::var_os("INTEROP_TRACE").is_some() {
            eprintln!(
                "{:>6} ms  {} (request)",
                start.elapsed().as_millis(),
                self.shown
            );
        }
        answer
    }
}

fn read_all(file: &mut File) -> Vec<u8> {
    let mut buf = Vec::new();
    file.seek(SeekFrom::Start(0)).expect("rewind output file");
    file.read_to_end(&mut buf).expect("read output file");
    buf
}

/// What a finished command wrote.
pub(crate) struct Output {
    pub(crate) shown: String,
    pub(crate) status: ExitStatus,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: String,
}

impl Output {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// stdout then stderr: some tools (openssl pkcs12 -info) split their report.
    pub(crate) fn all_text(&self) -> String {
        format!("{}\n{}", self.text(), self.stderr)
    }
}
