//! What `tool` nodes run: a command (`exec`: argv without a shell unless asked, a timeout, a cap
//! on output, refused in server mode unless allowed), an HTTP request, or a built-in (`echo`,
//! `join`, `json`). Arguments arrive already evaluated; this module only runs them.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::graph::{Builtin, ToolSpec};
use super::shell::ShellCommand;

/// The output cap of `exec` and `http` tools when the node does not set one (1 MiB).
pub const DEFAULT_MAX_OUTPUT: u64 = 1 << 20;
/// The time an `exec` or `http` tool may take when the node sets no `timeout_s`.
pub const DEFAULT_TOOL_TIMEOUT: Duration = Duration::from_secs(60);

/// Which commands `exec` tools may run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ExecPolicy {
    /// The local CLI: any command the workflow names (the user wrote the file).
    #[default]
    Local,
    /// A server: only these program names (argv[0], or `sh` for `shell: true`).
    Server {
        /// The allowed programs.
        allowed: Vec<String>,
    },
}

impl ExecPolicy {
    /// Server mode, allowing what `PROMPTOPS_ALLOW_EXEC` lists (nothing when unset).
    pub fn server_from_env() -> Self {
        let allowed = std::env::var(crate::env::ALLOW_EXEC).unwrap_or_default();
        Self::Server {
            allowed: allowed.split(',').map(str::trim).filter(|p| !p.is_empty()).map(ToOwned::to_owned).collect(),
        }
    }

    /// Whether `program` may run.
    pub fn allows(&self, program: &str) -> bool {
        match self {
            Self::Local => true,
            Self::Server { allowed } => allowed.iter().any(|a| a == program),
        }
    }
}

/// The program an `exec` tool starts, as written (`sh` for a shell command line).
pub fn program_of(tool: &ToolSpec) -> Option<String> {
    let argv = tool.exec.as_ref()?;
    if tool.shell { Some("sh".to_owned()) } else { argv.first().cloned() }
}

/// What an `exec` tool starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecCommand {
    /// A program and its arguments, with no shell.
    Argv(Vec<String>),
    /// `sh -c SCRIPT sh ARGS…`: the substituted values travel as positional parameters.
    Shell(ShellCommand),
}

impl ExecCommand {
    /// The program as users see it in messages.
    fn shown(&self) -> String {
        match self {
            Self::Argv(argv) => argv.first().cloned().unwrap_or_default(),
            Self::Shell(_) => "sh -c …".to_owned(),
        }
    }

    fn command(&self) -> Result<tokio::process::Command, String> {
        match self {
            Self::Argv(argv) => {
                let Some(program) = argv.first() else { return Err("`exec` has no command".to_owned()) };
                let mut c = tokio::process::Command::new(program);
                c.args(&argv[1..]);
                Ok(c)
            }
            Self::Shell(shell) => {
                let mut c = tokio::process::Command::new("sh");
                // `$0` is the name `sh` reports errors under; the values start at `$1`.
                c.arg("-c").arg(&shell.script).arg("sh").args(&shell.args);
                Ok(c)
            }
        }
    }
}

/// Runs a command and returns `{stdout, stderr, code}`; a non-zero exit, a timeout or too
/// much output is an error.
pub async fn run_exec(
    exec: &ExecCommand,
    stdin: Option<String>,
    timeout: Duration,
    max_output: u64,
) -> Result<serde_json::Value, String> {
    let mut command = exec.command()?;
    command
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let shown = exec.shown();
    let mut child = command.spawn().map_err(|err| format!("cannot start `{shown}`: {err}"))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // Written from its own task: a command that writes before it reads would otherwise
        // fill its output pipe while we are still blocked on its input.
        tokio::spawn(async move {
            let _ = pipe.write_all(text.as_bytes()).await;
        });
    }
    let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(format!("cannot read the output of `{shown}`"));
    };
    let work = async {
        let (stdout, stderr) = tokio::join!(read_limited(out, max_output), read_limited(err, max_output));
        let status = child.wait().await.map_err(|e| format!("`{shown}` failed: {e}"))?;
        Ok::<_, String>((stdout, stderr, status))
    };
    let (stdout, stderr, status) = tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| format!("`{shown}` did not finish within {:.1} s", timeout.as_secs_f64()))??;
    let (stdout, stderr) =
        (stdout.map_err(|e| format!("`{shown}`: {e}"))?, stderr.map_err(|e| format!("`{shown}`: {e}"))?);
    let code = status.code().unwrap_or(-1);
    if !status.success() {
        let tail: String = stderr.trim().chars().rev().take(300).collect::<Vec<_>>().into_iter().rev().collect();
        return Err(format!(
            "`{shown}` exited with code {code}{}",
            if tail.is_empty() { String::new() } else { format!(": {tail}") }
        ));
    }
    Ok(serde_json::json!({ "stdout": stdout, "stderr": stderr, "code": code }))
}

async fn read_limited(reader: impl AsyncRead + Unpin, max: u64) -> Result<String, String> {
    let mut buffer = Vec::new();
    reader.take(max + 1).read_to_end(&mut buffer).await.map_err(|e| e.to_string())?;
    if buffer.len() as u64 > max {
        return Err(format!("output exceeds {max} bytes (`max_output_bytes`)"));
    }
    Ok(String::from_utf8_lossy(&buffer).into_owned())
}

/// Makes an HTTP request and returns `{status, body}`; a non-2xx status is an error.
pub async fn run_http(
    client: &reqwest::Client,
    method: &str,
    url: &str,
    headers: &BTreeMap<String, String>,
    body: Option<&serde_json::Value>,
    max_output: u64,
) -> Result<serde_json::Value, String> {
    let method = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
        .map_err(|_| format!("`{method}` is not an HTTP method"))?;
    let mut request = client.request(method, url);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let mut response = request.send().await.map_err(|e| format!("request to `{url}` failed: {e}"))?;
    let status = response.status();
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| format!("reading `{url}` failed: {e}"))? {
        bytes.extend_from_slice(&chunk);
        if bytes.len() as u64 > max_output {
            return Err(format!("the answer of `{url}` exceeds {max_output} bytes (`max_output_bytes`)"));
        }
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    if !status.is_success() {
        return Err(format!("`{url}` answered {status}"));
    }
    Ok(serde_json::json!({ "status": status.as_u16(), "body": text }))
}

/// Runs a built-in on evaluated arguments.
pub fn run_builtin(builtin: Builtin, args: &BTreeMap<String, serde_json::Value>) -> Result<serde_json::Value, String> {
    match builtin {
        Builtin::Echo => Ok(serde_json::Value::Object(args.iter().map(|(k, v)| (k.clone(), v.clone())).collect())),
        Builtin::Join => {
            let Some(serde_json::Value::Array(parts)) = args.get("parts") else {
                return Err("`join` needs `parts` to be a list".to_owned());
            };
            let sep = match args.get("sep") {
                None => "\n\n".to_owned(),
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            };
            let texts: Vec<String> =
                parts.iter().map(|p| p.as_str().map_or_else(|| p.to_string(), ToOwned::to_owned)).collect();
            Ok(serde_json::Value::String(texts.join(&sep)))
        }
        Builtin::Json => {
            let Some(serde_json::Value::String(text)) = args.get("text") else {
                return Err("`json` needs `text` to be a string".to_owned());
            };
            parse_json_text(text)
        }
    }
}

/// Parses JSON from a model or a command, ignoring a Markdown code fence around it.
pub fn parse_json_text(text: &str) -> Result<serde_json::Value, String> {
    let trimmed = text.trim();
    let body = trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|rest| rest.trim_end().strip_suffix("```"))
        .unwrap_or(trimmed);
    serde_json::from_str(body.trim()).map_err(|e| format!("not valid JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn argv(items: &[&str]) -> ExecCommand {
        ExecCommand::Argv(items.iter().map(|s| (*s).to_owned()).collect())
    }

    fn shell(script: &str, args: &[&str]) -> ExecCommand {
        ExecCommand::Shell(ShellCommand {
            script: script.to_owned(),
            args: args.iter().map(|s| (*s).to_owned()).collect(),
        })
    }

    fn args(pairs: &[(&str, serde_json::Value)]) -> BTreeMap<String, serde_json::Value> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
    }

    #[test]
    fn builtins() {
        assert_eq!(run_builtin(Builtin::Echo, &args(&[("a", json!(1))])), Ok(json!({"a": 1})));
        assert_eq!(
            run_builtin(Builtin::Join, &args(&[("parts", json!(["a", "b"])), ("sep", json!("-"))])),
            Ok(json!("a-b"))
        );
        assert_eq!(run_builtin(Builtin::Join, &args(&[("parts", json!(["a", 2]))])), Ok(json!("a\n\n2")));
        assert_eq!(
            run_builtin(Builtin::Json, &args(&[("text", json!("```json\n{\"x\": 1}\n```"))])),
            Ok(json!({"x": 1}))
        );
        assert!(run_builtin(Builtin::Json, &args(&[("text", json!("nope"))])).is_err());
    }

    #[test]
    fn server_policy_allows_only_listed_programs() {
        let policy = ExecPolicy::Server { allowed: vec!["wc".into()] };
        assert!(policy.allows("wc") && !policy.allows("rm"));
        assert!(ExecPolicy::Local.allows("rm"));
    }

    #[tokio::test]
    async fn exec_runs_without_a_shell_and_feeds_stdin() {
        let out = run_exec(&argv(&["wc", "-c"]), Some("hello".into()), DEFAULT_TOOL_TIMEOUT, 1024).await.expect("runs");
        assert_eq!(out["stdout"].as_str().map(str::trim), Some("5"));
        // Without a shell, `$HOME` is not expanded.
        let out = run_exec(&argv(&["echo", "$HOME"]), None, DEFAULT_TOOL_TIMEOUT, 1024).await.expect("runs");
        assert_eq!(out["stdout"], "$HOME\n");
    }

    #[tokio::test]
    async fn exec_limits_time_output_and_reports_failures() {
        let slow = run_exec(&argv(&["sleep", "5"]), None, Duration::from_millis(100), 1024).await;
        assert!(slow.expect_err("times out").contains("did not finish within 0.1 s"));
        let big = run_exec(&argv(&["head", "-c", "5000", "/dev/zero"]), None, DEFAULT_TOOL_TIMEOUT, 100).await;
        assert!(big.expect_err("too big").contains("exceeds 100 bytes"));
        let failing = run_exec(&shell("ls /nonexistent-dir", &[]), None, DEFAULT_TOOL_TIMEOUT, 1024).await;
        assert!(failing.expect_err("fails").contains("exited with code"));
    }

    #[tokio::test]
    async fn shell_values_arrive_as_positional_parameters() {
        let out =
            run_exec(&shell("printf '%s|' \"${1}\" \"${2}\"", &["a b", "$(id)"]), None, DEFAULT_TOOL_TIMEOUT, 1024)
                .await
                .expect("runs");
        assert_eq!(out["stdout"], "a b|$(id)|");
    }
}
