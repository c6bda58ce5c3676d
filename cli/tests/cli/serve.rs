//! The real `promptops serve` and `promptops migrate`, as the Helm chart runs them
//! (helm/contract.json): migrate exits 0; serve takes its settings from `PROMPTOPS_*`, prints the
//! first admin token once, answers, logs JSON lines with request ids and never a secret, and
//! exits cleanly on SIGTERM. The JWT secret: at least 32 bytes, from the environment or a file,
//! and a warning when it is given on the command line.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

const ADMIN_TOKEN: &str = "pot_bootstrap-secret-from-the-environment";
const JWT_SECRET: &str = "jwt-secret-never-logged-0123456789abcdef";

fn promptops() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_promptops"));
    command.env_remove("PROMPTOPS_DATABASE_URL").env("PROMPTOPS_KEYRING", "none");
    command
}

/// A minimal HTTP/1.1 GET; returns the status and the body.
fn get(addr: &str, path: &str, token: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status line");
    (status, response.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned())
}

#[test]
fn migrate_then_serve_until_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("server.db").display());
    let migrated = promptops().args(["migrate", "--database", &url]).output().expect("run migrate");
    assert!(migrated.status.success(), "{}", String::from_utf8_lossy(&migrated.stderr));

    let mut child = promptops()
        .args(["serve", "--addr", "127.0.0.1:0", "--init-admin"])
        .env("PROMPTOPS_DATABASE_URL", &url)
        .env("PROMPTOPS_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("PROMPTOPS_JWT_SECRET", JWT_SECRET)
        .env("PROMPTOPS_LOG", "debug")
        .env("PROMPTOPS_LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn serve");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut printed = String::new();
    stdout.read_line(&mut printed).expect("read token");
    let init_token = printed.trim().to_owned();
    assert!(init_token.starts_with("pot_"), "--init-admin prints a token: {printed:?}");

    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut logs = String::new();
    let addr = listening(&mut stderr, &mut logs);
    assert_eq!(get(&addr, "/healthz", "").0, 200);
    assert_eq!(get(&addr, "/readyz", "").0, 200);
    let (status, body) = get(&addr, "/api/v1/tenants", &init_token);
    assert_eq!(status, 200, "{body}");
    assert_eq!(get(&addr, "/api/v1/tenants", ADMIN_TOKEN).0, 200, "PROMPTOPS_ADMIN_TOKEN bootstraps the admin");
    assert_eq!(get(&addr, "/api/v1/tenants", "pot_wrong").0, 401);

    let status = terminate(&mut child);
    stderr.read_to_string(&mut logs).expect("rest of the logs");
    assert!(status.success(), "{status:?}: {logs}");
    assert!(logs.contains("shutting down"), "{logs}");
    let requests: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["fields"]["message"] == "request")
        .collect();
    assert_eq!(requests.len(), 5, "{logs}");
    assert!(
        requests.iter().all(|e| e["span"]["request_id"].as_str().is_some_and(|id| id.starts_with("req_"))),
        "{logs}"
    );
    for secret in [ADMIN_TOKEN, JWT_SECRET, init_token.as_str(), "pot_wrong"] {
        assert!(!logs.contains(secret), "a secret was logged: {secret}");
    }
}

/// Reads JSON log lines into `logs` until the server says where it listens; returns the address.
fn listening(stderr: &mut impl BufRead, logs: &mut String) -> String {
    loop {
        let mut line = String::new();
        assert!(stderr.read_line(&mut line).expect("read log") > 0, "serve exited early: {logs}");
        logs.push_str(&line);
        let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
        if event["fields"]["message"] == "listening" {
            return event["fields"]["addr"].as_str().expect("addr").to_owned();
        }
    }
}

/// Sends SIGTERM and waits (at most 10 s) for the server to exit.
fn terminate(child: &mut std::process::Child) -> std::process::ExitStatus {
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(killed.success());
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A `serve` command on the database at `url`, logging JSON lines.
fn serve_on(url: &str) -> Command {
    let mut command = promptops();
    command.args(["serve", "--addr", "127.0.0.1:0", "--database", url]).env("PROMPTOPS_LOG_FORMAT", "json");
    command
}

/// A `promptops serve` child that has said where it listens.
struct Serving {
    child: std::process::Child,
    stderr: BufReader<std::process::ChildStderr>,
    logs: String,
    addr: String,
}

impl Serving {
    /// Spawns `command` and reads its log until it says where it listens.
    fn start(mut command: Command) -> Self {
        let mut child = command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("spawn serve");
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
        let mut logs = String::new();
        let addr = listening(&mut stderr, &mut logs);
        Self { child, stderr, logs, addr }
    }

    /// Waits for an answer, which shows the server loop (and its SIGTERM handler) running.
    fn answering(self) -> Self {
        assert_eq!(get(&self.addr, "/healthz", "").0, 200);
        self
    }

    /// Stops it with SIGTERM; returns its exit status and every log line it wrote.
    fn stop(mut self) -> (std::process::ExitStatus, String) {
        let status = terminate(&mut self.child);
        self.stderr.read_to_string(&mut self.logs).expect("rest of the logs");
        (status, self.logs)
    }
}

/// Runs `promptops serve` on a fresh SQLite database with `args` and `envs` until it answers,
/// then stops it with SIGTERM; returns its exit status and every log line it wrote.
fn serve_with(dir: &tempfile::TempDir, args: &[&str], envs: &[(&str, &str)]) -> (std::process::ExitStatus, String) {
    let mut command = serve_on(&format!("sqlite://{}", dir.path().join("server.db").display()));
    command.args(args).env_remove("PROMPTOPS_JWT_SECRET").env_remove("PROMPTOPS_JWT_SECRET_FILE");
    for (name, value) in envs {
        command.env(name, value);
    }
    Serving::start(command).answering().stop()
}

#[test]
fn a_short_jwt_secret_is_refused_before_serving() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret_file = dir.path().join("jwt-secret");
    std::fs::write(&secret_file, "short-file-secret\n").expect("write");
    let url = format!("sqlite://{}", dir.path().join("server.db").display());
    let file = secret_file.to_str().expect("utf-8");
    for (name, value) in [("PROMPTOPS_JWT_SECRET", "short-env-secret"), ("PROMPTOPS_JWT_SECRET_FILE", file)] {
        let output = promptops()
            .args(["serve", "--addr", "127.0.0.1:0", "--database", &url])
            .env(name, value)
            .output()
            .expect("run serve");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains("but HS256 needs at least 32 bytes"), "{name}: {stderr}");
        assert!(stderr.contains("openssl rand -hex 32"), "{name}: a hint says how to make one: {stderr}");
        assert!(!stderr.contains("short-env-secret") && !stderr.contains("short-file-secret"), "{stderr}");
    }
}

#[test]
fn a_jwt_secret_on_the_command_line_is_warned_about() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (status, logs) = serve_with(&dir, &["--jwt-secret", JWT_SECRET], &[]);
    assert!(status.success(), "{logs}");
    assert!(logs.contains("--jwt-secret on the command line is visible to other users"), "{logs}");
    assert!(logs.contains("--jwt-secret-file"), "the warning names the alternatives: {logs}");
    assert!(!logs.contains(JWT_SECRET), "{logs}");
}

#[test]
fn the_jwt_secret_can_come_from_the_environment_or_a_file_without_a_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret_file = dir.path().join("jwt-secret");
    std::fs::write(&secret_file, format!("{JWT_SECRET}\n")).expect("write");
    let file = secret_file.to_str().expect("utf-8");
    for env in [("PROMPTOPS_JWT_SECRET", JWT_SECRET), ("PROMPTOPS_JWT_SECRET_FILE", file)] {
        let (status, logs) = serve_with(&dir, &[], &[env]);
        assert!(status.success(), "{logs}");
        // Other warnings (no master key, /metrics not served) are not about the secret.
        let secret_warning = logs.lines().any(|line| line.contains("\"level\":\"WARN\"") && line.contains("jwt"));
        assert!(!secret_warning, "{}: {logs}", env.0);
    }
}

#[test]
fn an_address_in_use_is_named_with_a_hint_and_no_database_is_created() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("server.db");
    let output = promptops()
        .args(["serve", "--addr", &addr, "--database", &format!("sqlite://{}", db.display())])
        .env("PROMPTOPS_LOG_FORMAT", "text")
        .output()
        .expect("run serve");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("error: cannot listen on {addr}: Address already in use")), "{stderr}");
    assert!(stderr.contains("hint: another process listens there") && stderr.contains("--addr"), "{stderr}");
    assert!(!db.exists(), "nothing was created");
}

#[test]
fn a_second_server_on_the_same_sqlite_database_is_refused_with_a_hint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("server.db").display());
    let first = Serving::start(serve_on(&url)).answering();

    let second = serve_on(&url).env("PROMPTOPS_LOG_FORMAT", "text").output().expect("run the second serve");
    let said = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{said}");
    assert!(said.contains("is already served by another `promptops serve`"), "{said}");
    assert!(said.contains("hint: SQLite serves one replica") && said.contains("postgres://"), "{said}");

    let (status, logs) = first.stop();
    assert!(status.success(), "the first server stops cleanly ({status}): {logs}");
    let (after, logs) = Serving::start(serve_on(&url)).answering().stop();
    assert!(after.success(), "the database is free again once the first server has stopped: {logs}");
}

#[test]
fn sigterm_sent_as_soon_as_it_says_listening_stops_it_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("server.db").display());
    let (status, logs) = Serving::start(serve_on(&url)).stop();
    assert!(status.success(), "{status}: {logs}");
    assert!(logs.contains("\"stopped\""), "it shut down through its handler: {logs}");
}

/// A minimal HTTP/1.1 request with a JSON body; returns the status and the body as JSON.
fn send(addr: &str, method: &str, path: &str, token: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
    let body = body.to_string();
    let mut stream = TcpStream::connect(addr).expect("connect");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status line");
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or(serde_json::Value::Null))
}

#[test]
fn a_managed_prompt_that_builds_gigabytes_is_stopped_and_the_gateway_keeps_serving() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut command = serve_on(&format!("sqlite://{}", dir.path().join("server.db").display()));
    command.args(["--render-memory-mib", "128"]).env("PROMPTOPS_ADMIN_TOKEN", ADMIN_TOKEN);
    let serving = Serving::start(command).answering();
    let addr = serving.addr.clone();
    let (status, tenant) = send(&addr, "POST", "/api/v1/tenants", ADMIN_TOKEN, &json!({"id": "acme", "admin": "root"}));
    assert_eq!(status, 201, "{tenant}");
    let admin = tenant["admin_token"]["token"].as_str().expect("token");
    assert_eq!(send(&addr, "POST", "/api/v1/projects", admin, &json!({"id": "web"})).0, 201);
    let bomb = r#"{{ ("a" * 1000) | replace("a", "a" * 1000) | replace("a", "a" * 1000) | length }}"#;
    for (name, content) in [("bomb", bomb), ("fine", "{{ 6 * 7 }}")] {
        let source = format!("model: fast\nmessages:\n  - role: user\n    content: '{content}'\n");
        let path = format!("/api/v1/projects/web/prompts/{name}");
        let (status, body) = send(&addr, "POST", &path, admin, &json!({ "source": source }));
        assert_eq!(status, 201, "{body}");
    }
    let (status, created) = send(&addr, "POST", "/api/v1/projects/web/gateway/keys", admin, &json!({"limits": {}}));
    assert_eq!(status, 201, "{created}");
    let key = created["key"].as_str().expect("key");
    let chat =
        |prompt: &str| send(&addr, "POST", "/v1/chat/completions", key, &json!({"model": prompt, "messages": []}));

    let (status, body) = chat("prompt:bomb@latest");
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "prompt_render_limit", "{body}");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(message.starts_with("rendering prompt `bomb` needed more than 128 MiB and was stopped"), "{message}");
    // The next render gets past the sandbox: what stops it is the missing connection.
    let (status, body) = chat("prompt:fine@latest");
    assert_eq!((status, &body["error"]["code"]), (404, &json!("model_not_found")), "{body}");

    let (status, logs) = serving.stop();
    assert!(status.success(), "{logs}");
}

#[test]
fn render_sandbox_flags_out_of_range_are_refused_before_serving() {
    refused_before_serving(&[("--render-workers", "0"), ("--render-timeout-ms", "5"), ("--render-memory-mib", "lots")]);
}

#[test]
fn run_queue_flags_out_of_range_are_refused_before_serving() {
    refused_before_serving(&[
        ("--workers", "many"),
        ("--workers", "20000"),
        ("--tenant-unit-cap", "0"),
        ("--unit-lease-secs", "1"),
        ("--drain-timeout", "0"),
    ]);
}

/// Each `flag value` makes `serve` exit 2 naming it, before any database is created.
fn refused_before_serving(cases: &[(&str, &str)]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("server.db").display());
    for (flag, value) in cases {
        let output = promptops().args(["serve", "--addr", "127.0.0.1:0", "--database", &url, flag, value]).output();
        let output = output.expect("run serve");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert!(stderr.contains(&format!("invalid value '{value}' for '{flag}")), "{flag}: {stderr}");
    }
    assert!(!dir.path().join("server.db").exists(), "nothing was created");
}
