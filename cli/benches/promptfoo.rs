//! A promptfoo config of N tests (CSV, one `__expected` assertion each) evaluated by
//! `promptops eval -c` against the LLM stub on 127.0.0.1, at several latencies: wall time,
//! cases per second, and the N·L/C floor a perfect scheduler would reach. When `npx` can run
//! an installed promptfoo (`npx --no-install promptfoo@0.121.20`, Node 20) it runs the same
//! config in the same run;
//! otherwise it says it skipped it. Neither is needed by the build or the tests.
//!
//! Run: `cargo bench -p promptops-cli --bench promptfoo` (release), or with `--profile dev`
//! to measure a debug build. `PROMPTFOO_BENCH_CASES` (default 1000) and `PROMPTFOO_BENCH_J`
//! (default 32) change the size and the concurrency.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use promptops_test_support::stub::{Stub, StubConfig};

fn write_config(dir: &Path, base: &str, cases: usize, concurrency: usize) {
    let config = format!(
        "prompts: [\"Answer: {{{{question}}}}\"]\nproviders:\n  - id: openai:chat:gpt-4o-mini\n    config: {{ apiBaseUrl: {base}/v1, apiKey: sk-bench }}\nevaluateOptions: {{ maxConcurrency: {concurrency} }}\ntests: file://tests.csv\n"
    );
    std::fs::write(dir.join("promptfooconfig.yaml"), config).expect("write config");
    let mut csv = String::from("question,__expected\n");
    for i in 0..cases {
        csv.push_str(&format!("question {i},contains: question {i}\n"));
    }
    std::fs::write(dir.join("tests.csv"), csv).expect("write tests");
}

fn timed(mut command: Command) -> Option<Duration> {
    let start = Instant::now();
    let status = command.stdout(Stdio::null()).stderr(Stdio::null()).status().ok()?;
    status.code().filter(|c| *c == 0 || *c == 100).map(|_| start.elapsed())
}

fn main() {
    let cases: usize = std::env::var("PROMPTFOO_BENCH_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let concurrency: usize = std::env::var("PROMPTFOO_BENCH_J").ok().and_then(|v| v.parse().ok()).unwrap_or(32);
    for latency_ms in [0u64, 20, 50] {
        let stub = Stub::start_blocking(StubConfig::new().echo().latency(Duration::from_millis(latency_ms)));
        let dir = tempfile::tempdir().expect("tempdir");
        write_config(dir.path(), &stub.url(), cases, concurrency);
        let floor = Duration::from_millis(latency_ms * cases as u64 / concurrency as u64);
        let mut ours = Command::new(env!("CARGO_BIN_EXE_promptops"));
        ours.args(["eval", "-c", "promptfooconfig.yaml", "--no-cache", "-q"])
            .current_dir(dir.path())
            .env("PROMPTOPS_KEYRING", "none");
        let wall = timed(ours).expect("promptops eval -c runs");
        println!(
            "promptops  {cases} cases  L={latency_ms} ms  C={concurrency}: {:.2} s, {:.0} cases/s, floor N·L/C = {:.2} s",
            wall.as_secs_f64(),
            cases as f64 / wall.as_secs_f64(),
            floor.as_secs_f64()
        );
        let mut theirs = Command::new("npx");
        theirs
            .args([
                "--no-install",
                "promptfoo@0.121.20",
                "eval",
                "-c",
                "promptfooconfig.yaml",
                "--no-cache",
                "-j",
                &concurrency.to_string(),
            ])
            .current_dir(dir.path())
            .env("PROMPTFOO_DISABLE_TELEMETRY", "1")
            .env("PROMPTFOO_DISABLE_UPDATE", "1");
        match timed(theirs) {
            Some(wall) => println!(
                "promptfoo  {cases} cases  L={latency_ms} ms  C={concurrency}: {:.2} s, {:.0} cases/s",
                wall.as_secs_f64(),
                cases as f64 / wall.as_secs_f64()
            ),
            None => println!("skipped: promptfoo (npx promptfoo@0.121.20 is not available here)"),
        }
    }
}
