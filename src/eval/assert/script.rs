//! `script` assertions: an external command (no shell) gets the case as JSON on stdin —
//! `{"output", "json", "vars", "latency_ms", "cost"}` — and answers on stdout with
//! `{"pass": bool, "score": number, "reason": string}`. A command that prints no such object
//! passes when it exits 0 (its output is the reason). A command that outlives its timeout is
//! killed and the case is an error, not a failure: the check could not be made.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use super::text::excerpt;
use super::{Grade, Subject};

/// How long a script may run when the assertion sets no `timeout_s`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A prepared command.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    /// The program and its arguments.
    pub argv: Vec<String>,
    /// The working directory (the project root).
    pub dir: PathBuf,
    /// The time limit.
    pub timeout: Duration,
}

/// Splits a command line on white space, keeping "double" or 'single' quoted words together.
pub fn split_command(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut started = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => current.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                started = true;
            }
            (None, c) if c.is_whitespace() => {
                if started || !current.is_empty() {
                    words.push(std::mem::take(&mut current));
                    started = false;
                }
            }
            (None, c) => current.push(c),
        }
    }
    if quote.is_some() {
        return Err(format!("unclosed quote in command `{line}`"));
    }
    if started || !current.is_empty() {
        words.push(current);
    }
    if words.is_empty() {
        return Err("the command is empty".to_owned());
    }
    Ok(words)
}

/// Whether `program` can be run from `dir`: a path that exists, or a name found on `PATH`.
pub fn findable(program: &str, dir: &Path) -> bool {
    if program.contains('/') {
        return dir.join(program).is_file();
    }
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|p| p.join(program).is_file()))
}

/// Runs the script on a subject.
pub async fn run(script: &Script, subject: &Subject<'_>) -> Result<Grade, String> {
    let input = serde_json::json!({
        "output": subject.output,
        "json": subject.json,
        "vars": subject.vars,
        "latency_ms": subject.latency_ms,
        "cost": subject.cost.as_usd(),
    });
    let mut child = tokio::process::Command::new(&script.argv[0])
        .args(&script.argv[1..])
        .current_dir(&script.dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|err| format!("cannot run `{}`: {err}", script.argv[0]))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A script that does not read its input closes the pipe early; that is its business.
        let _ = stdin.write_all(input.to_string().as_bytes()).await;
    }
    let output = match tokio::time::timeout(script.timeout, child.wait_with_output()).await {
        Ok(result) => result.map_err(|err| format!("`{}` failed: {err}", script.argv[0]))?,
        // Dropping the future drops the child, which kills it (`kill_on_drop`).
        Err(_) => {
            return Err(format!(
                "script `{}` timed out after {}s",
                script.argv.join(" "),
                script.timeout.as_secs_f64()
            ));
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    if let Some(grade) = parse_answer(&stdout)? {
        return Ok(grade);
    }
    let said = if stdout.trim().is_empty() {
        String::from_utf8_lossy(&output.stderr).into_owned()
    } else {
        stdout.into_owned()
    };
    Ok(Grade::binary(output.status.success(), || {
        format!("script exited with {}: {}", output.status.code().unwrap_or(-1), excerpt(&said))
    }))
}

/// Reads `{pass, score, reason}` from the script's stdout; `None` when it printed no JSON object.
fn parse_answer(stdout: &str) -> Result<Option<Grade>, String> {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(stdout.trim()) else {
        return Ok(None);
    };
    let score = map.get("score").and_then(serde_json::Value::as_f64);
    let pass = match (map.get("pass").and_then(serde_json::Value::as_bool), score) {
        (Some(pass), _) => pass,
        (None, Some(score)) => score >= 0.5,
        (None, None) => return Err(format!("script answered without `pass` or `score`: `{}`", excerpt(stdout))),
    };
    let reason = map.get("reason").and_then(serde_json::Value::as_str).unwrap_or_default().to_owned();
    Ok(Some(Grade::scored(pass, score.unwrap_or(if pass { 1.0 } else { 0.0 }), reason)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Micros;
    use crate::prompt::Vars;

    fn subject(vars: &Vars) -> Subject<'_> {
        Subject { output: "hello", json: None, vars, latency_ms: 1, cost: Micros::ZERO }
    }

    fn script(argv: &[&str], timeout: Duration) -> Script {
        Script { argv: argv.iter().map(|s| (*s).to_owned()).collect(), dir: PathBuf::from("."), timeout }
    }

    #[test]
    fn splits_quoted_words() {
        assert_eq!(
            split_command("python3 -c 'print(1)' \"a b\"").expect("ok"),
            vec!["python3", "-c", "print(1)", "a b"]
        );
        assert!(split_command("a 'b").is_err());
        assert!(split_command("  ").is_err());
    }

    #[tokio::test]
    async fn json_answers_and_exit_codes() {
        let vars = Vars::new();
        let answer = script(
            &["sh", "-c", "cat >/dev/null; echo '{\"pass\": false, \"score\": 0.3, \"reason\": \"meh\"}'"],
            DEFAULT_TIMEOUT,
        );
        let grade = run(&answer, &subject(&vars)).await.expect("runs");
        assert_eq!((grade.pass, grade.reason.as_str()), (false, "meh"));
        let exit = script(&["sh", "-c", "grep -q hello"], DEFAULT_TIMEOUT);
        assert!(run(&exit, &subject(&vars)).await.expect("runs").pass);
    }

    #[tokio::test]
    async fn a_hanging_script_times_out() {
        let vars = Vars::new();
        let hang = script(&["sleep", "30"], Duration::from_millis(200));
        let started = std::time::Instant::now();
        let err = run(&hang, &subject(&vars)).await.expect_err("times out");
        assert!(err.contains("timed out after 0.2s"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
