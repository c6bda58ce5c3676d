//! The remote CLI against a real `promptops serve`: push, push again, pull into a fresh project,
//! `--remote` reads, a conflict that writes nothing, eval runs uploaded and read back, and A/B
//! experiments kept on the server.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Project, Run, command};

pub(crate) const TOKEN: &str = "pot_remote-test-admin-token";
/// The server's master key (tests only; 32 bytes in hex).
const MASTER: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// A `promptops serve` on a free port of 127.0.0.1 with a fresh SQLite database; killed on drop.
pub(crate) struct Server {
    child: Child,
    pub(crate) url: String,
    _dir: tempfile::TempDir,
}

impl Server {
    pub(crate) fn start() -> Self {
        Self::start_with(&[])
    }

    /// A server with more `PROMPTOPS_*` settings.
    pub(crate) fn start_with(envs: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(env!("CARGO_BIN_EXE_promptops"))
            .args(["serve", "--addr", &addr])
            .envs(envs.iter().copied())
            .env("PROMPTOPS_DATABASE_URL", format!("sqlite://{}", dir.path().join("server.db").display()))
            .env("PROMPTOPS_ADMIN_TOKEN", TOKEN)
            .env("PROMPTOPS_MASTER_KEY", MASTER)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn serve");
        let server = Self { child, url: format!("http://{addr}"), _dir: dir };
        let started = Instant::now();
        while request(&addr, "GET", "/readyz", "") != 200 {
            assert!(started.elapsed() < Duration::from_secs(20), "serve did not become ready");
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(request(&addr, "POST", "/api/v1/projects", r#"{"id":"web"}"#), 201);
        server
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request with the admin token; the status, or 0 when nothing answers.
pub(crate) fn request(addr: &str, method: &str, path: &str, body: &str) -> u16 {
    request_as(TOKEN, addr, method, path, body)
}

/// One HTTP/1.1 request with `token`; the status, or 0 when nothing answers.
pub(crate) fn request_as(token: &str, addr: &str, method: &str, path: &str, body: &str) -> u16 {
    let Ok(mut stream) = TcpStream::connect(addr) else { return 0 };
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut response = String::new();
    if stream.write_all(head.as_bytes()).is_err() || stream.read_to_string(&mut response).is_err() {
        return 0;
    }
    response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// Runs `promptops ARGS` in `project` with the server's token.
pub(crate) fn remote(project: &Project, args: &[&str]) -> (i32, String, String) {
    let output = command(&project.root).env("PROMPTOPS_TOKEN", TOKEN).args(args).output().expect("run");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (output.status.code().unwrap_or(-1), text(&output.stdout), text(&output.stderr))
}

pub(crate) fn project_with_remote(server: &Server) -> Project {
    let project = Project::new();
    project.run(&["remote", "add", "prod", &server.url, "--project-id", "web"]).ok();
    project
}

#[test]
fn push_is_idempotent_and_pull_reproduces_history_and_labels() {
    let server = Server::start();
    let local = project_with_remote(&server);
    local.run(&["commit", "-m", "first"]).ok();
    local.run(&["label", "set", "hello", "production", "1", "--yes"]).ok();

    let (code, _, stderr) = remote(&local, &["push", "--remote", "prod"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("2 created, 0 already there, 0 in conflict"), "{stderr}");
    let (code, _, stderr) = remote(&local, &["push", "--remote", "prod"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("0 created, 2 already there, 0 in conflict"), "{stderr}");

    let fresh = project_with_remote(&server);
    let (code, _, stderr) = remote(&fresh, &["pull", "--remote", "prod"]);
    assert_eq!(code, 0, "{stderr}");
    let (_, remote_log, _) = remote(&fresh, &["log", "hello", "--remote", "prod", "--format", "json"]);
    let (_, pulled_log, _) = remote(&fresh, &["log", "hello", "--format", "json"]);
    // Numbers, hashes, authors and messages travel; the commit time is the pulling store's own.
    let versions = |log: &str| {
        let log: serde_json::Value = serde_json::from_str(log).expect("json");
        let fields =
            |v: &serde_json::Value| (v["number"].clone(), v["hash"].clone(), v["author"].clone(), v["message"].clone());
        log["versions"].as_array().expect("versions").iter().map(fields).collect::<Vec<_>>()
    };
    assert_eq!(versions(&pulled_log), versions(&remote_log), "pulled history equals the server's");
    assert!(pulled_log.contains("production"), "{pulled_log}");
}

#[test]
fn a_diverged_history_is_a_conflict_and_nothing_is_written() {
    let server = Server::start();
    let first = project_with_remote(&server);
    first.run(&["commit", "-m", "first"]).ok();
    assert_eq!(remote(&first, &["push", "--remote", "prod"]).0, 0);

    let other = project_with_remote(&server);
    other.write("prompts/hello.yaml", &first.read("prompts/hello.yaml").replace("Greet", "Welcome"));
    other.run(&["commit", "-m", "diverged"]).ok();
    let (code, _, stderr) = remote(&other, &["push", "--remote", "prod"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("1 in conflict"), "{stderr}");
    let (_, log, _) = remote(&other, &["log", "hello", "--remote", "prod", "--format", "json"]);
    assert!(log.contains("\"first\"") && !log.contains("diverged"), "{log}");
}

#[test]
fn a_wrong_token_is_refused_with_a_hint() {
    let server = Server::start();
    let project = project_with_remote(&server);
    let output = command(&project.root)
        .env("PROMPTOPS_TOKEN", "pot_wrong")
        .args(["prompt", "list", "--remote", "prod"])
        .output()
        .expect("run");
    assert_ne!(output.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&output.stderr).contains("login"), "{:?}", output);
}

/// `remote()`'s output as a [`Run`], to compare with local output with dates masked.
fn remote_run(project: &Project, args: &[&str]) -> Run {
    let (code, stdout, stderr) = remote(project, args);
    Run { code, stdout, stderr }
}

#[test]
fn eval_uploads_its_runs_and_the_remote_lists_shows_and_compares_them() {
    let server = Server::start();
    let project = project_with_remote(&server);
    for n in 1..=2 {
        let (code, stdout, stderr) = remote(&project, &["eval", "--remote", "prod"]);
        assert_eq!(code, 0, "{stderr}");
        assert!(stdout.contains("1/1 passed"), "the report prints as locally: {stdout}");
        let landed =
            format!("uploaded run {n} (hello) to remote `prod` as run {n}: `promptops eval show {n} --remote prod`");
        assert!(stderr.contains(&landed), "{stderr}");
    }

    let listed = remote_run(&project, &["eval", "list", "--remote", "prod"]);
    assert_eq!(listed.snapshot(), project.run(&["eval", "list"]).snapshot(), "same output as locally");
    let elsewhere = project_with_remote(&server);
    let listed = remote_run(&elsewhere, &["eval", "list", "--remote", "prod"]);
    assert_eq!(listed.ok().lines().count(), 3, "another checkout reads the server's two runs: {}", listed.stdout);
    for args in [["eval", "show", "2"], ["eval", "show", "latest"]] {
        let shown = remote_run(&project, &[&args[..], &["--remote", "prod"]].concat());
        let local = project.run(&["eval", "show", "2"]);
        assert_eq!(shown.snapshot(), local.snapshot(), "{args:?}: the run keeps its times, so even its duration");
    }
    let failures = remote_run(&project, &["eval", "show", "1", "--failures", "--remote", "prod"]);
    assert_eq!(failures.ok(), "no failures\n");
    let compared = remote_run(&project, &["eval", "compare", "1", "2", "--remote", "prod"]);
    assert_eq!(compared.snapshot(), project.run(&["eval", "compare", "1", "2"]).snapshot());

    let missing = remote_run(&project, &["eval", "show", "9", "--remote", "prod"]);
    assert!(missing.fails_with(2).contains("run 9 not found"), "{}", missing.stderr);
    let bad = remote_run(&project, &["eval", "show", "yesterday", "--remote", "prod"]);
    assert!(bad.fails_with(2).contains("is not a run"), "{}", bad.stderr);
}

#[test]
fn eval_with_remote_resolves_labels_on_the_server() {
    let server = Server::start();
    let first = project_with_remote(&server);
    first.run(&["commit", "-m", "first"]).ok();
    first.run(&["label", "set", "hello", "production", "1", "--yes"]).ok();
    assert_eq!(remote(&first, &["push", "--remote", "prod"]).0, 0);

    // A checkout with no stored versions of its own evaluates the server's `production`.
    let fresh = project_with_remote(&server);
    let suite = fresh.read("eval-suites/hello.yaml").replace("targets: [hello]", "targets: [hello@production]");
    fresh.write("eval-suites/hello.yaml", &suite);
    assert_eq!(fresh.run(&["eval"]).code, 2, "locally there is no `production`");
    let (code, _, stderr) = remote(&fresh, &["eval", "--remote", "prod"]);
    assert_eq!(code, 0, "{stderr}");
    let (_, shown, _) = remote(&fresh, &["eval", "show", "latest", "--remote", "prod", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&shown).expect("json");
    let target = &report[0]["run"]["targets"][0];
    assert_eq!(
        (target["reference"].as_str(), target["version"].as_u64()),
        (Some("hello@production"), Some(1)),
        "{shown}"
    );

    // Baselines are found among the server's runs: by label, and by the server's number.
    for baseline in ["production", "1"] {
        let (code, stdout, stderr) = remote(&fresh, &["eval", "--remote", "prod", "--baseline", baseline]);
        assert_eq!(code, 0, "{stderr}");
        assert!(stdout.contains("baseline ok against run 1: 100.0% → 100.0%"), "{baseline}: {stdout}");
    }
    let (code, _, stderr) = remote(&fresh, &["eval", "--remote", "prod", "--baseline", "41"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("baseline `41` not found: there is no run 41"), "{stderr}");
}

#[test]
fn a_wrong_token_stops_eval_before_the_first_model_call() {
    let server = Server::start();
    let project = project_with_remote(&server);
    let output = command(&project.root)
        .env("PROMPTOPS_TOKEN", "pot_wrong")
        .args(["eval", "--remote", "prod"])
        .output()
        .expect("run");
    let run = Run::from(output);
    let stderr = run.fails_with(2);
    assert!(stderr.contains("promptops login prod"), "{stderr}");
    assert!(run.stdout.is_empty(), "no suite ran: {}", run.stdout);
    assert_eq!(project.run(&["eval", "list", "--format", "json"]).ok().trim(), "[]", "no run was made");
    let (_, listed, _) = remote(&project, &["eval", "list", "--remote", "prod", "--format", "json"]);
    assert_eq!(listed.trim(), "[]", "nothing reached the server");
}

#[test]
fn ab_keeps_its_experiment_and_runs_on_the_remote() {
    let server = Server::start();
    let project = crate::ab::project(30);
    project.run(&["remote", "add", "prod", &server.url, "--project-id", "web"]).ok();
    let arms = ["ab", "echo/word+weak", "echo/word+strong", "--suite", "words", "--remote", "prod"];
    let (code, compared, stderr) = remote(&project, &arms);
    assert_eq!(code, 0, "{stderr}");
    assert!(compared.starts_with("experiment 1 · suite words"), "{compared}");
    for n in 1..=2 {
        assert!(stderr.contains(&format!("as run {n}: `promptops eval show {n} --remote prod`")), "{stderr}");
    }

    let listed = remote_run(&project, &["ab", "list", "--remote", "prod"]);
    assert!(listed.ok().contains("A=echo/word · weak; B=echo/word · strong"), "{}", listed.stdout);
    assert!(project.run(&["ab", "list"]).stderr.contains("no experiments yet"), "kept on the server only");
    let shown = remote_run(&project, &["ab", "show", "1", "--remote", "prod"]);
    assert_eq!(shown.ok(), compared, "`ab show` prints what `ab` printed");
    let (_, json, _) = remote(&project, &["ab", "show", "latest", "--remote", "prod", "--format", "json"]);
    let record: serde_json::Value = serde_json::from_str(&json).expect("json");
    let runs: Vec<_> = record["arms"].as_array().expect("arms").iter().map(|a| a["run"].clone()).collect();
    assert_eq!(runs, vec![serde_json::json!(1), serde_json::json!(2)], "arms name the server's runs");

    // Another checkout, with no runs of its own, analyses the server's.
    let elsewhere = project_with_remote(&server);
    let again = remote_run(&elsewhere, &["ab", "--runs", "1", "2", "--remote", "prod"]);
    assert!(again.ok().starts_with("experiment 2 · suite words"), "{}", again.stderr);
    assert_eq!(remote_run(&project, &["eval", "list", "--remote", "prod"]).ok().lines().count(), 3);
    let plan = remote_run(&project, &["ab", "plan", "--baseline", "0.5", "--target", "0.6", "--remote", "prod"]);
    assert!(plan.fails_with(2).contains("does not take `--remote prod`"), "{}", plan.stderr);
}

#[test]
fn an_ab_stopped_early_keeps_its_partial_runs_and_experiment_on_the_remote() {
    let server = Server::start();
    let project = crate::ab::project(200);
    project.run(&["remote", "add", "prod", &server.url, "--project-id", "web"]).ok();
    let args = ["ab", "+weak", "+strong", "--suite", "words", "--sequential", "--stop-early", "--remote", "prod"];
    let (code, compared, stderr) = remote(&project, &args);
    assert_eq!(code, 0, "{stderr}");
    assert!(compared.contains("stopped early after"), "{compared}");
    let (_, json, _) = remote(&project, &["ab", "show", "latest", "--remote", "prod", "--format", "json"]);
    let record: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(record["analysis"]["looks"]["stopped_early"], true, "{record}");
    let runs: Vec<_> = record["arms"].as_array().expect("arms").iter().map(|a| a["run"].clone()).collect();
    assert_eq!(runs, vec![serde_json::json!(1), serde_json::json!(2)], "arms name the server's runs");
    let listed = remote_run(&project, &["eval", "list", "--remote", "prod"]);
    assert_eq!(listed.ok().matches("interrupted").count(), 2, "the partial runs, as they are: {}", listed.stdout);
}

#[test]
fn provider_connections_are_managed_remotely_and_their_keys_rotate() {
    let server = Server::start();
    let project = project_with_remote(&server);
    let config = project.read("promptops.yaml");
    project.write(
        "promptops.yaml",
        &config.replacen(
            "providers:\n",
            "providers:\n  - { id: fast, kind: openai, model: gpt-4o-mini, base_url: \"https://203.0.113.10/v1\" }\n",
            1,
        ),
    );
    let key = "sk-cli-test-secret-9876";
    let output = command(&project.root)
        .env("PROMPTOPS_TOKEN", TOKEN)
        .env("OPENAI_API_KEY", key)
        .args(["provider", "add", "fast", "--remote", "prod"])
        .output()
        .expect("run");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let (code, out, err) = remote(&project, &["provider", "list", "--remote", "prod"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("fast") && out.contains("…9876") && !out.contains(key), "{out}");
    let (code, _, err) = remote(&project, &["traces", "--remote", "prod"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = remote(&project, &["cost", "--remote", "prod", "--by", "model"]);
    assert_eq!(code, 0, "{err}");
    let database = format!("sqlite://{}", server._dir.path().join("server.db").display());
    let rotated = command(&project.root)
        .env("PROMPTOPS_MASTER_KEY", MASTER)
        .env("PROMPTOPS_NEW_MASTER_KEY", "ff".repeat(32))
        .args(["rotate-master-key", "--database", &database])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&rotated.stderr);
    assert!(rotated.status.success() && stderr.contains("1 provider keys re-sealed"), "{stderr}");
    let (code, _, err) = remote(&project, &["provider", "rm", "fast", "--remote", "prod"]);
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = remote(&project, &["provider", "list", "--remote", "prod", "--format", "json"]);
    assert_eq!(out.trim(), "[]");
    let (code, _, err) = remote(&project, &["provider", "rm", "fast"]);
    assert_eq!(code, 2, "without --remote, rm is a usage error: {err}");
}
