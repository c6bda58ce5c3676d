//! How the eval engine scales with the size of a suite (issue 14): the workload teams write,
//! inline YAML cases with five string assertions each (contains, icontains, regex, equals,
//! not-contains), generated here at 1,000, 10,000 and 100,000 cases, answered by the LLM stub
//! on 127.0.0.1 through the real provider layers (OpenAI wire protocol, cache on).
//!
//! Each size runs in a fresh child process (this binary again), so that its peak RSS is its own:
//! a cold run fills the response cache, then warm runs are measured. The child does what
//! `promptops eval` does in the library: read the suite, plan it, run it (results streamed into
//! SQLite) with its report built from the same stream. Printed per size: wall time, CPU time
//! and peak RSS, each also per case; flat per-case figures mean linear cost.
//!
//! Each child also prints on stderr its peak RSS after reading the suite, after planning and
//! after running, to show which phase sets the peak.
//!
//! Last, the same workload at 1,000 cases with no cache, concurrency 32, the stub answering in
//! 50 ms: its wall time against the floor N·L/C (1.56 s); then the same against a stub on
//! Python's `http.server` (`benches/openai_stub.py`), when `python3` runs.
//!
//! Run: `cargo bench --bench eval_scale` (`PROMPTOPS_BENCH_SIZES=1000,10000` to pick sizes).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use promptops::access::{Action, Principal};
use promptops::config::Project;
use promptops::eval::backend::Backend;
use promptops::eval::providers::ProvidersBackend;
use promptops::eval::suite::LoadedSuite;
use promptops::eval::{Cancel, Overrides, PlanInput, ProjectPrompts, RunSettings, Runner, plan};
use promptops::provider::{Providers, ProvidersOptions};
use promptops::secret::{MemoryKeyring, Secrets};
use promptops::store::{SqliteStore, Store};
use promptops_test_support::stub::{Stub, StubConfig};

/// Where a child finds its project; its presence makes this process a child.
const CHILD: &str = "PROMPTOPS_BENCH_CHILD";
const ANSWER: &str = "Your refund for the double charge of order 7 is on its way.";
const PROMPT: &str = "variables:\n  ticket: { type: string }\nmessages:\n  - role: system\n    content: Answer the customer in one sentence.\n  - role: user\n    content: \"Ticket: {{ ticket }}\"\n";
const CONCURRENCY: usize = 64;
/// Set in a child that calls the stub for every case (no cache) at this concurrency.
const NO_CACHE: &str = "PROMPTOPS_BENCH_NO_CACHE";
/// The no-cache run: cases, concurrency and the stub's latency, whose floor is N·L/C.
const SLOW: (usize, usize, u64) = (1000, 32, 50);

/// The generated suite: `cases` inline cases, five string assertions each.
fn suite(cases: usize) -> String {
    let mut yaml = String::with_capacity(cases * 420 + 100);
    yaml.push_str("description: generated scale workload\ntargets: [reply]\nproviders: [stub]\ntests:\n");
    for i in 0..cases {
        yaml.push_str(&format!(
            "  - name: ticket {i}\n    vars: {{ ticket: \"I was charged twice for order {i}, please refund me\" }}\n    assert:\n      - {{ type: contains, value: refund }}\n      - {{ type: icontains, value: DOUBLE CHARGE }}\n      - {{ type: regex, value: \"order \\\\d+ is on its way\" }}\n      - {{ type: equals, value: \"{ANSWER}\" }}\n      - {{ type: not-contains, value: sorry }}\n"
        ));
    }
    yaml
}

fn write(root: &Path, relative: &str, text: &str) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

/// A project of one prompt and the generated suite, on the stub at `base_url`.
fn project(root: &Path, cases: usize, base_url: &str, concurrency: usize) {
    write(
        root,
        "promptops.yaml",
        &format!(
            "providers:\n  - id: stub\n    kind: openai\n    model: gpt-4o-mini\n    base_url: {base_url}\n    api_key_env: BENCH_KEY\n    limits: {{ concurrency: {concurrency} }}\n"
        ),
    );
    write(root, "prompts/reply.yaml", PROMPT);
    write(root, "eval-suites/scale.yaml", &suite(cases));
}

/// `VmHWM` of this process, in MB.
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM");
    line.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()).expect("kB") / 1024.0
}

/// User + system CPU time of this process (every thread), in seconds (`/proc/self/stat`
/// fields 14 and 15, at the usual 100 ticks per second).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let after = stat.rsplit_once(')').expect("comm").1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().expect("utime") + fields[12].parse::<f64>().expect("stime");
    ticks / 100.0
}

/// The child: read, plan, run and report the suite once; print `wall cpu rss cases`.
async fn child(root: PathBuf) {
    let started = Instant::now();
    let project = Project::open(&root).expect("project");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(project.database_path()).await.expect("store"));
    let scope = Principal::local("bench").authorize(Action::Run, "default").expect("scope");
    let secrets = Secrets::new(Arc::new(|_: &str| Some("sk-bench".to_owned())), Arc::new(MemoryKeyring::default()));
    let no_cache: Option<usize> = std::env::var(NO_CACHE).ok().and_then(|c| c.parse().ok());
    let options = ProvidersOptions { no_cache: no_cache.is_some(), max_cost: None, secrets: Some(secrets) };
    let providers = Providers::new(&project, Arc::clone(&store), scope.clone(), options);
    let backend: Arc<dyn Backend> = Arc::new(ProvidersBackend::new(Arc::new(providers), project.root.clone()));
    let suite = LoadedSuite::read(&root, &root.join("eval-suites/scale.yaml")).expect("suite");
    let prompts = ProjectPrompts { prompts_dir: project.prompts_dir(), registry: None };
    let overrides = Overrides::default();
    let input = PlanInput {
        root: &project.root,
        default_provider: None,
        prompts: &prompts,
        backend: backend.as_ref(),
        workflows: None,
        overrides: &overrides,
    };
    let read_mb = peak_rss_mb(); // The phases' peaks, printed on stderr below.
    let plan = Arc::new(plan(&suite, &input).await.expect("plans"));
    let planned_mb = peak_rss_mb();
    drop(suite);
    let runner = Runner::new(Arc::clone(&store), scope.clone(), backend);
    let settings = RunSettings {
        concurrency: no_cache.unwrap_or(CONCURRENCY),
        actor: "bench".into(),
        git: None,
        on_progress: None,
        cancel: Cancel::default(),
    };
    // As `promptops eval` does: the report is built from the runner's stream of results.
    let report = runner.run_with_report(plan, &settings).await.expect("runs");
    eprintln!("peak after reading {read_mb:.1} MB, planning {planned_mb:.1} MB, running {:.1} MB", peak_rss_mb());
    let totals = &report.run.totals;
    assert_eq!(totals.passed, totals.done, "every case passes: {:?}", report.problems.first());
    println!("{} {} {} {}", started.elapsed().as_secs_f64(), cpu_seconds(), peak_rss_mb(), totals.cached);
}

/// One run of a child on `root`: (wall s, CPU s, peak RSS MB, cached answers).
fn run_child(root: &Path) -> (f64, f64, f64, u64) {
    run_child_with(root, None)
}

/// One run of a child on `root`, calling the stub for every case at `no_cache` concurrency.
fn run_child_with(root: &Path, no_cache: Option<usize>) -> (f64, f64, f64, u64) {
    let mut command = Command::new(std::env::current_exe().expect("this bench"));
    command.env(CHILD, root);
    if let Some(concurrency) = no_cache {
        command.env(NO_CACHE, concurrency.to_string());
    }
    let output = command.output().expect("spawn the child");
    assert!(output.status.success(), "child failed: {}", String::from_utf8_lossy(&output.stderr));
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).expect("utf-8");
    let fields: Vec<f64> = text.split_whitespace().map(|f| f.parse().expect("a number")).collect();
    (fields[0], fields[1], fields[2], fields[3] as u64)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    if let Some(root) = std::env::var_os(CHILD) {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
        runtime.block_on(child(PathBuf::from(root)));
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let stub = runtime.block_on(Stub::start(StubConfig::new().reply(ANSWER).record_requests(false)));
    let sizes: Vec<usize> = std::env::var("PROMPTOPS_BENCH_SIZES")
        .unwrap_or_else(|_| "1000,10000,100000".to_owned())
        .split(',')
        .map(|s| s.trim().parse().expect("a size"))
        .collect();
    println!("inline cases × 5 string assertions, Rust stub, concurrency {CONCURRENCY}, warm cache; medians");
    println!(
        "{:>8} {:>6} {:>10} {:>12} {:>12} {:>10} {:>10}",
        "cases", "runs", "wall", "wall/case", "CPU/case", "peak RSS", "RSS/case"
    );
    for cases in sizes {
        let dir = tempfile::tempdir().expect("tempdir");
        project(dir.path(), cases, &stub.openai_base(), CONCURRENCY);
        run_child(dir.path()); // cold: fills the cache
        let runs = if cases >= 100_000 { 1 } else { 3 };
        let samples: Vec<_> = (0..runs).map(|_| run_child(dir.path())).collect();
        assert!(samples.iter().all(|s| s.3 == cases as u64), "warm runs are served from the cache");
        let wall = median(samples.iter().map(|s| s.0).collect());
        let cpu = median(samples.iter().map(|s| s.1).collect());
        let rss = median(samples.iter().map(|s| s.2).collect());
        let n = cases as f64;
        println!(
            "{cases:>8} {runs:>6} {:>9.3}s {:>10.1}µs {:>10.1}µs {:>8.1}MB {:>8.2}kB",
            wall,
            wall / n * 1e6,
            cpu / n * 1e6,
            rss,
            rss * 1024.0 / n
        );
    }
    no_cache_floor(&runtime);
}

/// The no-cache run against the stub answering in L ms: every case is a call, so the floor
/// is N·L/C; what is above it is the engine (reading, planning, rendering, HTTP, storing).
/// Then the same against a stub written on Python's `http.server` (`benches/openai_stub.py`),
/// when `python3` runs: the kind of stub a team writes in a few lines.
fn no_cache_floor(runtime: &tokio::runtime::Runtime) {
    let (_, _, latency_ms) = SLOW;
    let stub = runtime.block_on(Stub::start(
        StubConfig::new().reply(ANSWER).latency(std::time::Duration::from_millis(latency_ms)).record_requests(false),
    ));
    no_cache_run("Rust stub", &stub.openai_base());
    match PythonStub::start(latency_ms) {
        Some(python) => no_cache_run("Python stub", &python.base),
        None => println!("no cache, Python stub: skipped (`python3 benches/openai_stub.py` did not start)"),
    }
}

/// The no-cache run on the stub at `base_url`: median of 3, against the floor N·L/C.
fn no_cache_run(stub: &str, base_url: &str) {
    let (cases, concurrency, latency_ms) = SLOW;
    let dir = tempfile::tempdir().expect("tempdir");
    project(dir.path(), cases, base_url, concurrency);
    let samples: Vec<_> = (0..3).map(|_| run_child_with(dir.path(), Some(concurrency))).collect();
    assert!(samples.iter().all(|s| s.3 == 0), "no answer comes from the cache");
    let wall = median(samples.iter().map(|s| s.0).collect());
    let floor = cases as f64 * latency_ms as f64 / 1000.0 / concurrency as f64;
    println!(
        "no cache, {stub}: {cases} cases, concurrency {concurrency}, stub at {latency_ms} ms: {wall:.3}s, floor N·L/C {floor:.3}s, {:+.1}% (median of 3, process start to report)",
        (wall / floor - 1.0) * 100.0
    );
}

/// `benches/openai_stub.py`, running until dropped.
struct PythonStub {
    child: std::process::Child,
    base: String,
}

impl PythonStub {
    /// Starts the stub answering after `latency_ms`; `None` when it does not start.
    fn start(latency_ms: u64) -> Option<Self> {
        use std::io::BufRead;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/openai_stub.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--latency-ms", &latency_ms.to_string(), "--reply", ANSWER])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .ok()?;
        let mut line = String::new();
        let stdout = child.stdout.take()?;
        std::io::BufReader::new(stdout).read_line(&mut line).ok()?;
        let Some(port) = line.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            return None;
        };
        let base = format!("http://127.0.0.1:{port}/v1");
        Some(Self { child, base })
    }
}

impl Drop for PythonStub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
