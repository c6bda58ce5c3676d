//! Server-side runs against real `promptops serve` processes, the LLM stub and (for two
//! replicas) the PostgreSQL of `PROMPTOPS_TEST_POSTGRES_URL`: a replica killed with SIGKILL, one
//! frozen past its lease, one stopped with SIGTERM, and a SQLite server killed and restarted.
//! In each, `eval --on-server` ends with exactly one result per case, and the model is paid
//! again at most for the units that were in flight.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use promptops_test_support::stub::{BlockingStub, Stub, StubConfig};

use crate::support::{Project, Run, command};

const TOKEN: &str = "pot_server-runs-admin-token";
const MASTER: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
/// Units a replica works on at once.
const SLOTS: usize = 25;

/// A `promptops serve` process; killed on drop.
struct Replica {
    child: Child,
    addr: String,
}

impl Replica {
    fn start(database: &str, addr: &str, extra: &[&str]) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_promptops"))
            .args(["serve", "--addr", addr, "--database", database, "--unit-lease-secs", "3"])
            .args(["--workers", &SLOTS.to_string(), "--drain-timeout", "1"])
            .args(extra)
            .env_remove("PROMPTOPS_DATABASE_URL")
            .env("PROMPTOPS_ADMIN_TOKEN", TOKEN)
            .env("PROMPTOPS_MASTER_KEY", MASTER)
            .env("PROMPTOPS_ALLOW_PROVIDER_HOSTS", "127.0.0.1")
            .env("PROMPTOPS_RATE_LIMIT", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn serve");
        let replica = Self { child, addr: addr.to_owned() };
        let started = Instant::now();
        while request(addr, "GET", "/readyz", "") != 200 {
            assert!(started.elapsed() < Duration::from_secs(20), "serve did not become ready");
            std::thread::sleep(Duration::from_millis(50));
        }
        replica
    }

    fn signal(&self, signal: &str) {
        let sent = Command::new("kill").args([signal, &self.child.id().to_string()]).status().expect("kill");
        assert!(sent.success());
    }

    /// Waits for the process to exit (after a signal).
    fn wait(&mut self) {
        let started = Instant::now();
        while self.child.try_wait().expect("wait").is_none() {
            assert!(started.elapsed() < Duration::from_secs(15), "serve did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_addr() -> String {
    let port = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    format!("127.0.0.1:{port}")
}

/// One HTTP/1.1 request with the admin token; the status, or 0 when nothing answers.
fn request(addr: &str, method: &str, path: &str, body: &str) -> u16 {
    crate::remote::request_as(TOKEN, addr, method, path, body)
}

/// Project `web` on the server, with connection `stubbed` to `stub`.
fn provision(addr: &str, stub: &BlockingStub) {
    assert_eq!(request(addr, "POST", "/api/v1/projects", r#"{"id":"web"}"#), 201);
    let connection = format!(
        r#"{{"connection": {{"id": "stubbed", "kind": "openai", "model": "gpt-4o-mini", "base_url": "{}/v1"}}, "api_key": "sk-server"}}"#,
        stub.url()
    );
    assert_eq!(request(addr, "POST", "/api/v1/projects/web/providers", &connection), 201);
}

/// A project with a suite of `cases` cases on `stubbed`, and remote `prod` at `addr`.
fn project(cases: usize, addr: &str) -> Project {
    let project = Project::empty();
    project.write("promptops.yaml", "name: runs\nproviders:\n  - { id: stubbed, kind: echo }\n");
    project.write(
        "prompts/t.yaml",
        "messages:\n  - role: user\n    content: 'Case {{ n }}'\nvariables:\n  n: { type: number }\n",
    );
    let tests: String = (0..cases).map(|n| format!("  - {{ name: case {n}, vars: {{ n: {n} }} }}\n")).collect();
    let suite = format!(
        "targets: [t]\nproviders: [stubbed]\nthreshold: 1.0\ndefaults:\n  assert:\n    - {{ type: contains, value: ok }}\ntests:\n{tests}"
    );
    project.write("eval-suites/big.yaml", &suite);
    let url = format!("http://{addr}");
    assert_eq!(
        command(&project.root)
            .args(["remote", "add", "prod", &url, "--project-id", "web"])
            .status()
            .expect("run")
            .code(),
        Some(0)
    );
    project
}

/// `eval big --on-server` in the background, writing JUnit to `run.xml`.
fn eval_on_server(project: &Project) -> Child {
    command(&project.root)
        .env("PROMPTOPS_KEYRING", "none")
        .env("PROMPTOPS_TOKEN", TOKEN)
        .args(["eval", "big", "--remote", "prod", "--on-server", "-o", "run.xml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn eval")
}

fn finish(child: Child) -> Run {
    Run::from(child.wait_with_output().expect("eval"))
}

/// Waits until the stub has been called `calls` times.
fn wait_for_calls(stub: &BlockingStub, calls: u64) {
    let started = Instant::now();
    while stub.request_count() < calls {
        assert!(started.elapsed() < Duration::from_secs(60), "only {} calls", stub.request_count());
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The cases of the JUnit report, each once: its `testcase` names.
fn cases_reported(project: &Project) -> Vec<String> {
    let junit = project.read("run.xml");
    let names = regex::Regex::new(r#"<testcase classname="[^"]*" name="([^"]*)""#).expect("regex");
    let mut found: Vec<String> = names.captures_iter(&junit).map(|c| c[1].to_owned()).collect();
    found.sort();
    found
}

fn expected_cases(cases: usize) -> Vec<String> {
    let mut names: Vec<String> = (0..cases).map(|n| format!("case {n}")).collect();
    names.sort();
    names
}

fn stub(latency: Duration) -> BlockingStub {
    Stub::start_blocking(StubConfig::new().reply("ok").latency(latency))
}

/// A fresh schema of the test database, dropped with the value; `None` (said on stderr) when no
/// PostgreSQL is configured.
struct Schema {
    base: String,
    name: String,
    url: String,
}

impl Schema {
    fn create(test: &str) -> Option<Self> {
        let Ok(base) = std::env::var("PROMPTOPS_TEST_POSTGRES_URL") else {
            eprintln!("skipped: {test} (PROMPTOPS_TEST_POSTGRES_URL is not set)");
            return None;
        };
        let name = format!("promptops_cli_{}_{}", std::process::id(), rand_suffix());
        execute(&base, &format!("CREATE SCHEMA {name}"));
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options=-c%20search_path%3D{name}");
        Some(Self { base, name, url })
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        execute(&self.base, &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
    }
}

fn execute(url: &str, sql: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect");
        tokio::spawn(connection);
        client.batch_execute(sql).await.expect("sql");
    });
}

/// Two replicas on `database` (the first provisioned, with the project's remote on it) and a
/// project of `cases` cases.
fn two_replicas(database: &str, stub: &BlockingStub, cases: usize) -> (Replica, Replica, Project) {
    let first = Replica::start(database, &free_addr(), &[]);
    provision(&first.addr, stub);
    let second = Replica::start(database, &free_addr(), &[]);
    let project = project(cases, &first.addr);
    (first, second, project)
}

fn rand_suffix() -> u32 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time").subsec_nanos();
    nanos.wrapping_mul(2_654_435_761)
}

#[test]
fn a_replica_killed_mid_run_loses_no_result_and_records_none_twice() {
    let Some(schema) = Schema::create("a_replica_killed_mid_run") else { return };
    let stub = stub(Duration::from_millis(200));
    let (_survivor, mut doomed, project) = two_replicas(&schema.url, &stub, 500);
    let started = Instant::now();
    let eval = eval_on_server(&project);
    wait_for_calls(&stub, 250);
    doomed.signal("-KILL");
    doomed.wait();
    let run = finish(eval);
    assert_eq!(run.code, 0, "{}", run.snapshot());
    assert_eq!(cases_reported(&project), expected_cases(500), "every case exactly once");
    let calls = stub.request_count();
    assert!(calls <= 500 + SLOTS as u64, "{calls} calls: only the killed replica's units in flight are paid again");
    assert!(calls > 500, "the killed replica's units in flight were run again");
    // A clean run takes 500 / 50 × 0.2 s = 2 s; the rescue waits for the 3 s lease and a backoff.
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
}

#[test]
fn a_replica_frozen_past_its_lease_cannot_write_its_late_results() {
    let Some(schema) = Schema::create("a_replica_frozen_past_its_lease") else { return };
    let stub = stub(Duration::from_millis(300));
    let (_live, frozen, project) = two_replicas(&schema.url, &stub, 200);
    let eval = eval_on_server(&project);
    wait_for_calls(&stub, 60);
    frozen.signal("-STOP");
    // Past its 3 s lease: the live replica rescues the frozen one's units and finishes the run.
    let run = finish(eval);
    frozen.signal("-CONT");
    assert_eq!(run.code, 0, "{}", run.snapshot());
    assert_eq!(cases_reported(&project), expected_cases(200));
    // The thawed replica finishes its calls and tries to write: every write is refused.
    std::thread::sleep(Duration::from_secs(2));
    let watched = command(&project.root)
        .env("PROMPTOPS_KEYRING", "none")
        .env("PROMPTOPS_TOKEN", TOKEN)
        .args(["runs", "watch", "1", "--remote", "prod", "--format", "json"])
        .output()
        .expect("watch");
    let report: serde_json::Value = serde_json::from_slice(&watched.stdout).expect("json");
    assert_eq!(report[0]["run"]["totals"]["done"].as_u64(), Some(200), "no late result was added: {report}");
    let calls = stub.request_count();
    assert!(calls > 200 && calls <= 200 + SLOTS as u64, "{calls} calls: the frozen units ran again, once");
}

#[test]
fn a_replica_stopped_with_sigterm_releases_its_units_to_the_others() {
    let Some(schema) = Schema::create("a_replica_stopped_with_sigterm") else { return };
    // Calls outlive the 1 s drain: the stopping replica gives its units back instead of waiting.
    let stub = stub(Duration::from_millis(1500));
    let (_staying, mut leaving, project) = two_replicas(&schema.url, &stub, 100);
    let started = Instant::now();
    let eval = eval_on_server(&project);
    wait_for_calls(&stub, 2 * SLOTS as u64);
    leaving.signal("-TERM");
    leaving.wait();
    let run = finish(eval);
    assert_eq!(run.code, 0, "{}", run.snapshot());
    assert_eq!(cases_reported(&project), expected_cases(100));
    let calls = stub.request_count();
    assert!(calls > 100 && calls <= 100 + SLOTS as u64, "{calls} calls: only released units ran again");
    // Released units are taken at once, not after a lease: well under the 3 s lease plus backoff.
    assert!(started.elapsed() < Duration::from_secs(15), "took {:?}", started.elapsed());
}

#[test]
fn a_sqlite_server_killed_and_restarted_finishes_the_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let database = format!("sqlite://{}", dir.path().join("server.db").display());
    let stub = stub(Duration::from_millis(100));
    let addr = free_addr();
    let mut first = Replica::start(&database, &addr, &[]);
    provision(&addr, &stub);
    let project = project(150, &addr);
    let eval = eval_on_server(&project);
    wait_for_calls(&stub, 60);
    first.signal("-KILL");
    first.wait();
    let restarted = Instant::now();
    let _second = Replica::start(&database, &addr, &[]);
    let run = finish(eval);
    assert_eq!(run.code, 0, "the client followed the run across the restart\n{}", run.snapshot());
    assert_eq!(cases_reported(&project), expected_cases(150));
    let calls = stub.request_count();
    assert!(calls > 150 && calls <= 150 + SLOTS as u64, "{calls} calls: the units in flight ran again, once");
    assert!(restarted.elapsed() < Duration::from_secs(15), "units left running were requeued at start");
}
