//! A temporary project and a way to run the binary in it.

use std::path::{Path, PathBuf};
use std::process::Output;

/// What a run of the binary produced.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The run as one text for snapshots, with volatile parts (dates, hashes, paths) masked.
    pub fn snapshot(&self) -> String {
        let text = format!("exit: {}\n--- stdout\n{}--- stderr\n{}", self.code, self.stdout, self.stderr);
        mask(&text)
    }

    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "expected success\n{}", self.snapshot());
        &self.stdout
    }

    /// Asserts the exit code and returns stderr.
    #[track_caller]
    pub fn fails_with(&self, code: i32) -> &str {
        assert_eq!(self.code, code, "unexpected exit code\n{}", self.snapshot());
        &self.stderr
    }
}

/// Masks volatile text with a placeholder padded to the same width, so tables stay aligned.
fn mask(text: &str) -> String {
    let rules = [
        (r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?Z?", "[DATE]", true),
        (r"\b[0-9a-f]{64}\b", "[HASH]", true),
        (r"\b[0-9a-f]{8}\b", "[HASH-8]", true),
        (r"/tmp/\S*?/project", "[PROJECT]", false),
    ];
    let mut out = text.to_owned();
    for (pattern, placeholder, pad) in rules {
        let regex = regex::Regex::new(pattern).expect("valid regex");
        let width = |c: &regex::Captures<'_>| if pad { c[0].len() } else { 0 };
        out =
            regex.replace_all(&out, |c: &regex::Captures<'_>| format!("{placeholder:<w$}", w = width(c))).into_owned();
    }
    out
}

/// A project created with `promptops init` in a temporary directory.
pub struct Project {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
}

impl Project {
    /// An empty directory, not yet a project.
    pub fn empty() -> Self {
        let dir = tempfile::Builder::new().prefix("promptops-test").tempdir().expect("tempdir");
        let root = dir.path().join("project");
        std::fs::create_dir_all(&root).expect("mkdir");
        Self { _dir: dir, root }
    }

    /// A freshly initialised project.
    pub fn new() -> Self {
        let project = Self::empty();
        project.run(&["init"]).ok();
        project
    }

    /// Runs `promptops ARGS` in the project root.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_in(&self.root, args)
    }

    /// Runs `promptops ARGS` in `dir`.
    pub fn run_in(&self, dir: &Path, args: &[&str]) -> Run {
        let output = command(dir).args(args).output().expect("run promptops");
        Run::from(output)
    }

    /// Writes a file relative to the root.
    pub fn write(&self, relative: &str, contents: &str) {
        let path = self.root.join(relative);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, contents).expect("write");
    }

    /// Reads a file relative to the root.
    pub fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.root.join(relative)).expect("read")
    }
}

/// The binary with a predictable environment: fixed author, no colour, no inherited project.
pub fn command(dir: &Path) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_promptops"));
    command
        .current_dir(dir)
        .env("PROMPTOPS_AUTHOR", "tester")
        .env("NO_COLOR", "1")
        .env_remove("PROMPTOPS_PROJECT")
        .env_remove("PROMPTOPS_FORMAT");
    command
}

impl From<Output> for Run {
    fn from(output: Output) -> Self {
        Self {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// A valid prompt file using the variable `ticket`.
pub const TRIAGE: &str = r#"description: Classify a support ticket.
variables:
  ticket: { type: string, description: The customer's message }
  language: { type: string, default: en, enum: [en, de] }
messages:
  - role: system
    content: |
      {% include "house-style.j2" %}
      Reply in {{ language }}.
  - role: user
    content: "Ticket: {{ ticket }}"
"#;

/// Runs `promptops ARGS` in `dir` on a pseudo-terminal (util-linux `script`), with colour
/// allowed, and returns everything the terminal showed (stdout and stderr, escapes included).
pub fn run_in_terminal(dir: &Path, args: &[&str]) -> String {
    let quote = |text: &str| format!("'{}'", text.replace('\'', "'\\''"));
    let mut line = quote(env!("CARGO_BIN_EXE_promptops"));
    for arg in args {
        line.push(' ');
        line.push_str(&quote(arg));
    }
    let output = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .current_dir(dir)
        .env("PROMPTOPS_AUTHOR", "tester")
        .env("TERM", "xterm-256color")
        .env_remove("NO_COLOR")
        .env_remove("PROMPTOPS_PROJECT")
        .env_remove("PROMPTOPS_FORMAT")
        .output()
        .expect("util-linux `script` runs the binary on a pseudo-terminal");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `text` without ANSI escape sequences (colours, cursor moves) and carriage returns.
pub fn strip_escapes(text: &str) -> String {
    let escapes = regex::Regex::new(r"\x1b\[[0-9;?]*[A-Za-z]").expect("valid regex");
    escapes.replace_all(text, "").replace('\r', "")
}
