//! The `exec` provider: runs a local command (argv, no shell), writes the request as JSON to its
//! stdin and reads the answer from its stdout: either `{"output": ..., "usage": {...}}` or plain
//! text. The output is capped in size; a non-zero exit is an error quoting the end of stderr.
//! The timeout layer bounds the run time, and the child is killed when the call is dropped.

use std::process::Stdio;

use async_trait::async_trait;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::error::ProviderError;
use super::mock::estimate_usage;
use super::types::{ChatRequest, ChatResponse, OnDelta, Usage};
use super::{Provider, ProviderInfo};

/// The most stdout read from the command.
pub(crate) const MAX_OUTPUT_BYTES: usize = 4 * 1024 * 1024;
/// The most stderr quoted in an error.
const STDERR_EXCERPT: usize = 2_000;

/// Runs a command per request.
#[derive(Debug)]
pub(crate) struct Exec {
    info: ProviderInfo,
    command: Vec<String>,
    root: std::path::PathBuf,
}

impl Exec {
    pub(crate) fn new(
        info: ProviderInfo,
        command: Vec<String>,
        root: std::path::PathBuf,
    ) -> Result<Self, ProviderError> {
        if command.is_empty() {
            return Err(ProviderError::Config {
                provider: info.id.clone(),
                message: "`command` is empty".to_owned(),
                hint: Some("e.g. `command: [python3, scripts/model.py]`".to_owned()),
            });
        }
        Ok(Self { info, command, root })
    }

    fn failed(&self, status: impl Into<String>, stderr: &[u8]) -> ProviderError {
        let text = String::from_utf8_lossy(stderr);
        let text = text.trim();
        let start = text.char_indices().rev().nth(STDERR_EXCERPT).map_or(0, |(i, _)| i);
        ProviderError::Exec { provider: self.info.id.clone(), status: status.into(), stderr: text[start..].to_owned() }
    }

    async fn run(&self, input: Vec<u8>) -> Result<Vec<u8>, ProviderError> {
        let mut child = tokio::process::Command::new(&self.command[0])
            .args(&self.command[1..])
            .current_dir(&self.root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|err| ProviderError::Config {
                provider: self.info.id.clone(),
                message: format!("cannot start `{}`: {err}", self.command[0]),
                hint: Some("`command` is run without a shell, from the project root".to_owned()),
            })?;
        let (mut stdin, mut stdout, mut stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
        // Write, read and wait together: a command that answers before reading all its input
        // must not deadlock on a full pipe.
        let write = async move {
            if let Some(stdin) = stdin.as_mut() {
                let _ = stdin.write_all(&input).await;
            }
            drop(stdin);
        };
        // Owning stdout here closes the pipe once the limit is read: a command still writing
        // then gets SIGPIPE and ends, instead of blocking forever with stderr still open.
        let read_out = async move {
            let mut buffer = Vec::new();
            if let Some(mut out) = stdout.take() {
                let _ = (&mut out).take(MAX_OUTPUT_BYTES as u64 + 1).read_to_end(&mut buffer).await;
            }
            buffer
        };
        let read_err = async {
            let mut buffer = Vec::new();
            if let Some(err) = stderr.as_mut() {
                let _ = err.take(1024 * 1024).read_to_end(&mut buffer).await;
            }
            buffer
        };
        let ((), out, err) = tokio::join!(write, read_out, read_err);
        if out.len() > MAX_OUTPUT_BYTES {
            let _ = child.kill().await;
            return Err(self.failed(format!("its output exceeded {MAX_OUTPUT_BYTES} bytes"), &err));
        }
        let status = child.wait().await.map_err(|e| self.failed(format!("waiting for it failed: {e}"), &err))?;
        if !status.success() {
            return Err(self.failed(status.to_string(), &err));
        }
        Ok(out)
    }
}

/// `{"output": ..., "usage": {...}}` when stdout is such an object, else stdout as text.
fn parse_output(request: &ChatRequest, stdout: &[u8]) -> (String, Usage) {
    let text = String::from_utf8_lossy(stdout).into_owned();
    if let Ok(Value::Object(object)) = serde_json::from_str::<Value>(&text)
        && let Some(output) = object.get("output")
    {
        let answer = match output {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let number = |key: &str| object.get("usage").and_then(|u| u.get(key)).and_then(Value::as_u64);
        let estimated = estimate_usage(request, &answer);
        let usage = Usage {
            input_tokens: number("input_tokens").unwrap_or(estimated.input_tokens),
            output_tokens: number("output_tokens").unwrap_or(estimated.output_tokens),
            cached_input_tokens: number("cached_input_tokens").unwrap_or(0),
        };
        return (answer, usage);
    }
    let answer = text.trim_end_matches(['\n', '\r']).to_owned();
    let usage = estimate_usage(request, &answer);
    (answer, usage)
}

#[async_trait]
impl Provider for Exec {
    fn info(&self) -> &ProviderInfo {
        &self.info
    }

    async fn chat(&self, request: &ChatRequest, on_delta: Option<OnDelta<'_>>) -> Result<ChatResponse, ProviderError> {
        let input = json!({
            "provider": self.info.id,
            "model": self.info.model,
            "prompt": request.prompt,
            "messages": request.messages,
            "params": request.params,
            "response_schema": request.response_schema,
        });
        let stdout = self.run(input.to_string().into_bytes()).await?;
        let (text, usage) = parse_output(request, &stdout);
        if let Some(on_delta) = on_delta {
            on_delta(&text);
        }
        Ok(ChatResponse::new(&self.info.id, &self.info.model, text, usage))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ProviderKind;

    fn exec(command: &[&str]) -> Exec {
        let info = ProviderInfo { id: "script".into(), kind: ProviderKind::Exec, model: "exec".into() };
        Exec::new(info, command.iter().map(|s| (*s).to_owned()).collect(), std::env::temp_dir()).expect("valid")
    }

    #[tokio::test]
    async fn json_answers_carry_usage_and_text_answers_work() {
        let json_answer = exec(&[
            "sh",
            "-c",
            "cat >/dev/null; echo '{\"output\": \"hi\", \"usage\": {\"input_tokens\": 3, \"output_tokens\": 1}}'",
        ]);
        let response = json_answer.chat(&ChatRequest::user("x"), None).await.expect("ok");
        assert_eq!((response.text.as_str(), response.usage.input_tokens, response.usage.output_tokens), ("hi", 3, 1));
        let text_answer = exec(&["sh", "-c", "tr a-z A-Z"]);
        let response = text_answer.chat(&ChatRequest::user("hello"), None).await.expect("ok");
        assert!(response.text.contains("\"HELLO\""), "{}", response.text);
    }

    #[tokio::test]
    async fn failures_quote_stderr_and_big_outputs_are_refused() {
        let failing = exec(&["sh", "-c", "echo 'model exploded' >&2; exit 3"]);
        let err = failing.chat(&ChatRequest::user("x"), None).await.expect_err("fails");
        assert!(err.to_string().contains("model exploded"), "{err}");
        let noisy = exec(&["sh", "-c", "head -c 5000000 /dev/zero"]);
        let err = noisy.chat(&ChatRequest::user("x"), None).await.expect_err("too big");
        assert!(err.to_string().contains("exceeded"), "{err}");
        let missing = exec(&["/nonexistent/model"]);
        assert!(matches!(missing.chat(&ChatRequest::user("x"), None).await, Err(ProviderError::Config { .. })));
    }
}
