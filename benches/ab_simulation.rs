//! Simulation harness for the decisions of `promptops ab` (issue 15): thousands of experiments
//! through the real code path — the arms resolved and planned as `ab` plans them, each run by
//! the eval `Runner` into a SQLite store, read back with `arms_of_run`, analysed by
//! `ab::analyse`, gated by `ab::experiment::gate_failures`, and for `--stop-early` looked at
//! batch by batch with `ab::looks` — on an in-process mock provider whose answers are drawn
//! from a seeded hash, so every figure is reproducible.
//!
//! The mock answers a case fully right (`Say wordN`: both assertions pass), partly (`wordN`:
//! only the `accuracy` assertion passes) or wrong, with per-arm probabilities, independently
//! per arm and case; it reports a log-normal latency and a random token cost, identical in
//! distribution across arms under the null, so every secondary metric (score, latency, cost,
//! `accuracy`, `politeness`) is a genuine null too.
//!
//! Run: `cargo bench --bench ab_simulation` (release build). `PROMPTOPS_SIM_EXPERIMENTS`
//! (default 1000) sets the experiments per scenario. Figures are quoted in docs/stats.md.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use promptops::ab::analysis::{Analysis, Decision};
use promptops::ab::arms_plan::arm_suite;
use promptops::ab::experiment::{Gate, gate_failures};
use promptops::ab::plan::{PlanRequest, plan as size_plan};
use promptops::ab::{ArmCatalog, ArmSample, Settings, analyse, arms_of_run, looks, resolve_arms};
use promptops::access::{Action, Principal};
use promptops::eval::backend::{Backend, CallError, Completion, ProviderProblem};
use promptops::eval::suite::LoadedSuite;
use promptops::eval::{Cancel, Overrides, PlanInput, ProjectPrompts, RunSettings, Runner, plan};
use promptops::money::Micros;
use promptops::prompt::RenderedPrompt;
use promptops::stats::paired::mcnemar;
use promptops::stats::proportion::{Counts, wilson};
use promptops::stats::tango::cases_for_non_inferiority;
use promptops::store::{Scope, SqliteStore, Store};

/// How an arm answers: P(fully right), P(partly right); the rest is wrong.
#[derive(Debug, Clone, Copy)]
struct Behaviour {
    full: f64,
    partial: f64,
}

/// The mock provider: answers drawn from a hash of (experiment, provider, case, repeat).
#[derive(Debug, Default)]
struct Simulated {
    experiment: AtomicU64,
    arms: Mutex<HashMap<String, Behaviour>>,
}

fn uniform(parts: impl Hash) -> f64 {
    let mut hasher = DefaultHasher::new();
    parts.hash(&mut hasher);
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[async_trait]
impl Backend for Simulated {
    fn check_provider(&self, _: &str) -> Result<(), ProviderProblem> {
        Ok(())
    }

    async fn complete(&self, provider: &str, prompt: &RenderedPrompt, repeat: u32) -> Result<Completion, CallError> {
        let text = serde_json::to_string(&prompt.messages).unwrap_or_default();
        let word: String =
            text.split("Say ").nth(1).unwrap_or("").chars().take_while(|c| c.is_alphanumeric()).collect();
        let behaviour = self.arms.lock().expect("lock")[provider];
        let key = (self.experiment.load(Ordering::Relaxed), provider, &word, repeat);
        let draw = uniform((key, 0));
        let text = if draw < behaviour.full {
            format!("Say {word}")
        } else if draw < behaviour.full + behaviour.partial {
            word.clone()
        } else {
            "nope".to_owned()
        };
        // Log-normal latency around 665 ms (Box-Muller from two draws) and 20-120 output tokens.
        let normal =
            (-2.0 * uniform((key, 1)).max(1e-300).ln()).sqrt() * (std::f64::consts::TAU * uniform((key, 2))).cos();
        let latency = Duration::from_millis((6.5 + 0.4 * normal).exp() as u64);
        let output_tokens = 20 + (uniform((key, 3)) * 100.0) as u64;
        Ok(Completion {
            text,
            input_tokens: 12,
            output_tokens,
            cost: Micros((output_tokens * 2) as i64),
            latency,
            cached: false,
        })
    }

    async fn embed(&self, _: &str, texts: &[String]) -> Result<Vec<Vec<f32>>, CallError> {
        Ok(texts.iter().map(|_| vec![1.0]).collect())
    }
}

const PROMPT: &str =
    "variables:\n  word: { type: string }\nmessages:\n  - role: user\n    content: \"Say {{ word }}\"\n";

/// A project with one prompt, the store, the runner and one suite per size.
struct Lab {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    store: Arc<dyn Store>,
    scope: Scope,
    backend: Arc<Simulated>,
    runner: Runner,
    suites: Mutex<HashMap<usize, LoadedSuite>>,
    experiments: AtomicU64,
}

impl Lab {
    async fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_path_buf();
        write(&root, "promptops.yaml", "providers:\n  - { id: a, kind: echo }\n  - { id: b, kind: echo }\n");
        write(&root, "prompts/echo/word.yaml", PROMPT);
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(root.join(".promptops/promptops.db")).await.expect("store"));
        let scope = Principal::local("sim").authorize(Action::Run, "default").expect("scope");
        let backend = Arc::new(Simulated::default());
        let runner = Runner::new(Arc::clone(&store), scope.clone(), Arc::clone(&backend) as Arc<dyn Backend>);
        Self {
            _dir: dir,
            root,
            store,
            scope,
            backend,
            runner,
            suites: Mutex::new(HashMap::new()),
            experiments: AtomicU64::new(0),
        }
    }

    fn suite(&self, cases: usize) -> LoadedSuite {
        let mut suites = self.suites.lock().expect("lock");
        suites
            .entry(cases)
            .or_insert_with(|| {
                let rows: String = (1..=cases).map(|i| format!("word{i}\n")).collect();
                write(&self.root, &format!("eval-suites/data/words{cases}.csv"), &format!("word\n{rows}"));
                let path = format!("eval-suites/words{cases}.yaml");
                write(
                    &self.root,
                    &path,
                    &format!(
                        "targets: [echo/word]\ntests:\n  - dataset: data/words{cases}.csv\n    assert:\n      - {{ type: contains, value: \"{{{{ word }}}}\", metric: accuracy }}\n      - {{ type: icontains, value: say, metric: politeness }}\n"
                    ),
                );
                LoadedSuite::read(&self.root, &self.root.join(path)).expect("suite")
            })
            .clone()
    }

    /// Starts experiment `a` vs `b`: a fresh seed for the mock, and one eval plan per arm.
    async fn plans(&self, cases: usize, a: Behaviour, b: Behaviour) -> Vec<promptops::eval::Plan> {
        self.backend.experiment.store(self.experiments.fetch_add(1, Ordering::Relaxed), Ordering::Relaxed);
        *self.backend.arms.lock().expect("lock") = [("a".to_owned(), a), ("b".to_owned(), b)].into_iter().collect();
        let catalog = ArmCatalog { prompts: vec!["echo/word".to_owned()], providers: vec!["a".into(), "b".into()] };
        let arms = resolve_arms(&["+a".to_owned(), "+b".to_owned()], &catalog).expect("arms");
        let suite = self.suite(cases);
        let prompts = ProjectPrompts { prompts_dir: self.root.join("prompts"), registry: None };
        let mut plans = Vec::new();
        for arm in arms {
            let (arm_suite, overrides) = arm_suite(&suite, &arm, &Overrides::default()).expect("arm suite");
            let input = PlanInput {
                root: &self.root,
                default_provider: None,
                prompts: &prompts,
                backend: self.backend.as_ref(),
                workflows: None,
                overrides: &overrides,
            };
            plans.push(plan(&arm_suite, &input).await.expect("plan"));
        }
        plans
    }

    fn run_settings() -> RunSettings {
        RunSettings { concurrency: 16, actor: "sim".into(), git: None, on_progress: None, cancel: Cancel::default() }
    }

    /// Runs both arms on every case, as `ab` does without `--stop-early`.
    async fn arms(&self, cases: usize, a: Behaviour, b: Behaviour) -> Vec<ArmSample> {
        let mut samples = Vec::new();
        for plan in self.plans(cases, a, b).await {
            let record = self.runner.run(Arc::new(plan), &Self::run_settings()).await.expect("run");
            samples.extend(arms_of_run(&self.store, &self.scope, &record).await.expect("arms"));
        }
        samples
    }

    /// `ab --sequential --stop-early`: batches of a tenth of the suite in a seeded order, a look
    /// after each, stopping at the first decision; the last look's analysis.
    async fn stop_early(&self, cases: usize, a: Behaviour, b: Behaviour, seed: u64) -> Analysis {
        let settings = Settings { sequential: Some(cases), seed, ..settings() };
        let run_settings = Self::run_settings();
        let mut started = Vec::new();
        for plan in self.plans(cases, a, b).await {
            let record = self.runner.start(&plan, &run_settings).await.expect("start");
            started.push((Arc::new(plan), record));
        }
        let mut last = None;
        for batch in looks::batches(cases, seed) {
            let mut samples = Vec::new();
            for (plan, record) in &mut started {
                *record = self
                    .runner
                    .run_cases(Arc::clone(plan), record.clone(), &batch, &run_settings)
                    .await
                    .expect("batch");
                samples.extend(arms_of_run(&self.store, &self.scope, record).await.expect("arms"));
            }
            let Ok(analysis) = analyse(&samples, &settings) else { continue };
            let stop = looks::stop_reason(&analysis).is_some();
            last = Some(analysis);
            if stop {
                break;
            }
        }
        last.expect("at least one look")
    }
}

fn write(root: &Path, relative: &str, text: &str) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

/// The analysis settings of every scenario: `ab`'s defaults with 1,000 bootstrap resamples
/// (the bootstrap only draws latency and cost intervals, never a decision).
fn settings() -> Settings {
    Settings { resamples: 1_000, ..Settings::default() }
}

fn decided(decision: Decision) -> bool {
    matches!(decision, Decision::Better | Decision::Worse)
}

fn primary_decision(analysis: &Analysis) -> Decision {
    let primary = &analysis.settings.primary;
    analysis.comparisons[0].metrics.iter().find(|m| m.metric == *primary).map_or(Decision::NotTested, |m| m.decision)
}

/// A count out of `n` as a rate with its 95% Wilson interval.
fn rate(hits: usize, n: usize) -> String {
    let interval = wilson(Counts::new(hits as u64, n as u64), 0.05).expect("counts");
    format!(
        "{:.1}% [{:.1}, {:.1}] ({hits}/{n})",
        100.0 * hits as f64 / n as f64,
        100.0 * interval.lower,
        100.0 * interval.upper
    )
}

/// A mock arm whose pass rate is `pass` (partial answers take half of the rest).
fn behaviour(pass: f64) -> Behaviour {
    Behaviour { full: pass, partial: (1.0 - pass) / 2.0 }
}

/// The cases of the first `count` keys of a seeded order, as a sequential look would see them.
fn prefix(arms: &[ArmSample], keys: &[String], count: usize) -> Vec<ArmSample> {
    let kept: BTreeSet<&String> = keys.iter().take(count).collect();
    arms.iter()
        .map(|arm| {
            let mut arm = arm.clone();
            arm.cases.retain(|key, _| kept.contains(key));
            arm
        })
        .collect()
}

async fn null(lab: &Lab, experiments: usize) {
    let cases = 200;
    let (mut primary, mut any, mut raw_any, mut exact, mut kept, mut retuned) = (0, 0, 0, 0, 0, 0);
    for index in 0..experiments {
        let arms = lab.arms(cases, behaviour(0.6), behaviour(0.6)).await;
        let analysis = analyse(&arms, &settings()).expect("analysis");
        let metrics = &analysis.comparisons[0].metrics;
        primary += usize::from(decided(primary_decision(&analysis)));
        any += usize::from(metrics.iter().any(|m| decided(m.decision)));
        raw_any += usize::from(metrics.iter().any(|m| m.test.as_ref().is_some_and(|t| t.p_value < 0.05)));
        let exact_p = metrics[0].checks.iter().find(|c| c.method == "McNemar exact").map_or(1.0, |c| c.p_value);
        exact += usize::from(exact_p < 0.05);
        // Ten sequential looks at a growing suite (20, 40, … 200 cases in a seeded order): with
        // the tuning kept from the first look, as `ab --sequential` now does, and re-tuned to
        // each look's size, as it did.
        let mut keys: Vec<String> = arms[0].cases.keys().cloned().collect();
        rand_order(&mut keys, index as u64);
        let look = |tuning: Option<usize>, count: usize| {
            let settings = Settings { sequential: Some(tuning.unwrap_or(count)), ..settings() };
            let analysis = analyse(&prefix(&arms, &keys, count), &settings).expect("look");
            decided(primary_decision(&analysis))
        };
        kept += usize::from((1..=10).any(|l| look(Some(20), l * 20)));
        retuned += usize::from((1..=10).any(|l| look(None, l * 20)));
    }
    println!("null, {cases} paired cases, both arms pass 60%, {experiments} experiments:");
    println!("  false positives on pass rate (primary):        {}", rate(primary, experiments));
    println!("  … with the exact conditional test instead:      {}", rate(exact, experiments));
    println!("  false positives on any metric, as decided:      {}", rate(any, experiments));
    println!("  … any metric's raw p < α (no adjustment, no gate): {}", rate(raw_any, experiments));
    println!("  10 sequential looks, tuning kept from look 1:   {}", rate(kept, experiments));
    println!("  10 sequential looks, re-tuned at every look:    {}", rate(retuned, experiments));
}

fn rand_order(keys: &mut [String], seed: u64) {
    keys.sort_by_cached_key(|key| (uniform((seed, key.as_str())) * 1e15) as u64);
}

async fn power(lab: &Lab, experiments: usize, baseline: f64, target: f64) {
    let request = PlanRequest { baseline, target, alpha: 0.05, power: 0.8, paired: true, discordance: None };
    let planned = size_plan(request).expect("plan").paired.expect("paired");
    let cases = planned.cases.required as usize;
    let mut better = 0;
    for _ in 0..experiments {
        let arms = lab.arms(cases, behaviour(baseline), behaviour(target)).await;
        let analysis = analyse(&arms, &settings()).expect("analysis");
        better += usize::from(primary_decision(&analysis) == Decision::Better);
    }
    println!(
        "power, {baseline:.2} -> {target:.2}, independent arms, `ab plan --paired` size {cases} (normal approximation {}), \
         {experiments} experiments:",
        planned.approximate.required
    );
    println!("  B found better on pass rate:                    {}", rate(better, experiments));
}

async fn sequential_null(lab: &Lab, experiments: usize) {
    let cases = 200;
    let (mut flagged, mut stopped, mut looked) = (0, 0, 0);
    for index in 0..experiments {
        let analysis = lab.stop_early(cases, behaviour(0.6), behaviour(0.6), index as u64).await;
        flagged += usize::from(decided(primary_decision(&analysis)));
        let seen = analysis.arms[0].cases;
        stopped += usize::from(seen < cases);
        looked += seen;
    }
    println!("--sequential --stop-early, null, {cases}-case suite, looks every 20 cases, {experiments} experiments:");
    println!("  false positives on pass rate:                   {}", rate(flagged, experiments));
    println!("  stopped before the end:                         {}", rate(stopped, experiments));
    println!("  mean cases run per arm:                         {:.1}", looked as f64 / experiments as f64);
}

async fn non_inferiority(lab: &Lab, experiments: usize) {
    let (cases, margin) = (200, 0.05);
    let gate = Gate { require_better: false, non_inferiority: Some(margin) };
    let (mut passed, mut wald, mut short) = (0, 0, 0);
    for _ in 0..experiments {
        // B is worse by exactly the margin: a pass would be a false claim of non-inferiority.
        let arms = lab.arms(cases, behaviour(0.70), behaviour(0.65)).await;
        let analysis = analyse(&arms, &settings()).expect("analysis");
        let pass = &analysis.comparisons[0].metrics[0];
        let table = pass.discordant.expect("McNemar table");
        let ok = gate_failures(&analysis, &gate).is_empty();
        passed += usize::from(ok);
        let needed = cases_for_non_inferiority(table, margin, 0.05).expect("size").unwrap_or(u64::MAX);
        short += usize::from(ok && needed > cases as u64);
        let old = mcnemar(table, 0.10).expect("wald").difference.interval.lower > -margin;
        wald += usize::from(old);
    }
    println!("--non-inferiority 5%, B truly worse by 5 pts (70% vs 65%), {cases} cases, {experiments} experiments:");
    println!("  non-inferiority passed (false claims, at most 5%): {}", rate(passed, experiments));
    println!("  … with the old Wald lower bound:                {}", rate(wald, experiments));
    println!("  passed with fewer cases than its own table needs: {short}");
    let (mut tiny, tiny_runs) = (0, experiments.min(200));
    for index in 0..tiny_runs {
        // Both arms pass every case: no discordant case, no information about a 2-point margin.
        let cases = 3 + index % 8;
        let arms = lab.arms(cases, behaviour(1.0), behaviour(1.0)).await;
        let analysis = analyse(&arms, &settings()).expect("analysis");
        tiny += usize::from(
            gate_failures(&analysis, &Gate { require_better: false, non_inferiority: Some(0.02) }).is_empty(),
        );
    }
    println!("  3-10 identical all-pass cases, 2% margin, passed: {tiny}/{tiny_runs} (the old rule passed every one)");
}

fn main() {
    let experiments: usize =
        std::env::var("PROMPTOPS_SIM_EXPERIMENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let lab = runtime.block_on(Lab::new());
    let started = Instant::now();
    section("null", || runtime.block_on(null(&lab, experiments)));
    section("power 0.50 -> 0.65", || runtime.block_on(power(&lab, experiments, 0.50, 0.65)));
    section("power 0.60 -> 0.70", || runtime.block_on(power(&lab, experiments, 0.60, 0.70)));
    section("sequential null", || runtime.block_on(sequential_null(&lab, experiments)));
    section("non-inferiority", || runtime.block_on(non_inferiority(&lab, experiments)));
    println!("total {:.1?}", started.elapsed());
}

/// Runs one scenario and prints its wall time.
fn section(name: &str, work: impl FnOnce()) {
    let at = Instant::now();
    work();
    println!("  ({name}: {:.1?})\n", at.elapsed());
}
