//! What an arm measured, case by case: the per-repeat pass/fail, score, latency, cost and named
//! metrics of every case, read from a stored eval run. Repeats stay separate here; the
//! analysis averages them per case first (the case is the unit, brief §1). Errored results
//! carry no measurement and are only counted; cache hits carry no latency or cost (they would
//! measure the cache, not the arm).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::error::AbError;
use crate::eval::report::for_each_result;
use crate::store::{CaseStatus, ResultRecord, RunRecord, Scope, Store};

/// A measure compared between arms.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "name")]
pub enum Metric {
    /// Share of samples that passed.
    PassRate,
    /// Weighted assertion score, 0 to 1.
    Score,
    /// Latency of the call, milliseconds (cache hits left out). Lower is better.
    Latency,
    /// Cost of the call and its graders, micro-dollars (cache hits left out). Lower is better.
    Cost,
    /// A named metric of the suite (`metric:` on assertions): mean assertion score.
    Named(String),
}

impl Metric {
    /// Whether a larger value is better.
    pub fn higher_is_better(&self) -> bool {
        !matches!(self, Self::Latency | Self::Cost)
    }

    /// The metric as written after `--primary`: `pass-rate`, `score`, `latency`, `cost`, or
    /// the name of a suite metric.
    pub fn parse(text: &str) -> Self {
        match text.trim().to_ascii_lowercase().replace(['_', ' '], "-").as_str() {
            "pass-rate" | "pass" => Self::PassRate,
            "score" => Self::Score,
            "latency" => Self::Latency,
            "cost" => Self::Cost,
            _ => Self::Named(text.trim().to_owned()),
        }
    }

    /// How [`Metric::parse`] reads this metric back.
    pub fn flag(&self) -> String {
        match self {
            Self::PassRate => "pass-rate".to_owned(),
            Self::Named(name) => name.clone(),
            other => other.label(),
        }
    }

    /// The name shown to people.
    pub fn label(&self) -> String {
        match self {
            Self::PassRate => "pass rate".to_owned(),
            Self::Score => "score".to_owned(),
            Self::Latency => "latency".to_owned(),
            Self::Cost => "cost".to_owned(),
            Self::Named(name) => format!("metric `{name}`"),
        }
    }
}

impl Default for Metric {
    /// Pass rate: the primary metric unless `--primary` names another.
    fn default() -> Self {
        Self::PassRate
    }
}

/// One case's samples in one arm.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CaseSample {
    /// The case's name.
    pub name: String,
    /// 1 for a pass, 0 for a fail, per evaluated repeat.
    pub passes: Vec<f64>,
    /// Scores per evaluated repeat.
    pub scores: Vec<f64>,
    /// Latencies (ms) of repeats not served from the cache.
    pub latencies: Vec<f64>,
    /// Costs (micro-dollars) of repeats not served from the cache.
    pub costs: Vec<f64>,
    /// Named metrics: mean score of the case's assertions reporting under each, per repeat.
    pub metrics: BTreeMap<String, Vec<f64>>,
    /// Repeats that errored.
    pub errors: u32,
    /// The first evaluated output (what a judge compares).
    pub output: Option<String>,
    /// The case's variables.
    pub vars: serde_json::Value,
}

/// Everything one arm measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArmSample {
    /// How the arm is shown: `support/triage@2 · offline`.
    pub label: String,
    /// The eval run holding its results.
    pub run: Option<u64>,
    /// The target evaluated (the ref as written).
    pub target: String,
    /// The provider.
    pub provider: String,
    /// Cases by key (stable across runs), in key order.
    pub cases: BTreeMap<String, CaseSample>,
    /// Results read.
    pub results: u64,
    /// Results that errored.
    pub errors: u64,
    /// Results served from the response cache.
    pub cached: u64,
}

impl ArmSample {
    /// An empty arm.
    pub fn new(target: &str, provider: &str, run: Option<u64>) -> Self {
        Self {
            label: format!("{target} · {provider}"),
            run,
            target: target.to_owned(),
            provider: provider.to_owned(),
            ..Self::default()
        }
    }

    /// Adds one stored result.
    pub fn add(&mut self, result: &ResultRecord) {
        self.results += 1;
        self.cached += u64::from(result.cached);
        let case = self.cases.entry(result.case_key.clone()).or_insert_with(|| CaseSample {
            name: result.case_name.clone(),
            vars: result.vars.clone(),
            ..CaseSample::default()
        });
        if result.status == CaseStatus::Error {
            self.errors += 1;
            case.errors += 1;
            return;
        }
        case.passes.push(if result.status == CaseStatus::Pass { 1.0 } else { 0.0 });
        case.scores.push(result.score);
        if !result.cached {
            case.latencies.push(result.latency_ms as f64);
            case.costs.push(result.cost.0 as f64);
        }
        if case.output.is_none() {
            case.output.clone_from(&result.output);
        }
        let mut by_metric: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
        for assertion in &result.assertions {
            if let Some(metric) = &assertion.metric {
                let entry = by_metric.entry(metric).or_insert((0.0, 0.0));
                *entry = (entry.0 + assertion.score, entry.1 + 1.0);
            }
        }
        for (metric, (sum, count)) in by_metric {
            case.metrics.entry(metric.to_owned()).or_default().push(sum / count);
        }
    }
}

/// The arithmetic mean; callers guarantee a non-empty slice.
pub(crate) fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// The median; callers guarantee a non-empty slice. Selection rather than a full sort: linear
/// time, and the same order statistics, so the same value.
pub(crate) fn median(values: &[f64]) -> f64 {
    let mut values = values.to_vec();
    let middle = values.len() / 2;
    let even = values.len().is_multiple_of(2);
    let (below, &mut upper, _) = values.select_nth_unstable_by(middle, f64::total_cmp);
    if !even {
        return upper;
    }
    // An even count: the lower middle is the largest value left of the selected one.
    let lower = below.iter().copied().max_by(f64::total_cmp).unwrap_or(upper);
    (lower + upper) / 2.0
}

/// The arms a stored run holds: one per target × provider group that has results, in plan order.
pub async fn arms_of_run(store: &Arc<dyn Store>, scope: &Scope, run: &RunRecord) -> Result<Vec<ArmSample>, AbError> {
    let mut arms = RunArms::new(run);
    for_each_result(store, scope, run.id, false, |result| arms.add(result)).await?;
    arms.finish()
}

/// The arms of `run` from results read elsewhere (a remote's `/runs/{run}/results`), grouped
/// as [`arms_of_run`] groups them.
pub fn arms_of_results<'a>(
    run: &RunRecord,
    results: impl IntoIterator<Item = &'a ResultRecord>,
) -> Result<Vec<ArmSample>, AbError> {
    let mut arms = RunArms::new(run);
    for result in results {
        arms.add(result);
    }
    arms.finish()
}

/// A run's results grouped by target × provider, one arm each.
struct RunArms<'a> {
    run: &'a RunRecord,
    groups: BTreeMap<(u32, u32), ArmSample>,
}

impl<'a> RunArms<'a> {
    fn new(run: &'a RunRecord) -> Self {
        Self { run, groups: BTreeMap::new() }
    }

    fn add(&mut self, result: &ResultRecord) {
        let key = (result.unit.target, result.unit.provider);
        let run = self.run;
        let arm = self.groups.entry(key).or_insert_with(|| {
            let target = run.draft.targets.get(key.0 as usize).map_or("?", |t| t.reference.as_str());
            let provider = run.draft.providers.get(key.1 as usize).map_or("?", String::as_str);
            ArmSample::new(target, provider, Some(run.id))
        });
        arm.add(result);
    }

    fn finish(self) -> Result<Vec<ArmSample>, AbError> {
        if self.groups.is_empty() {
            return Err(AbError::EmptyRun { run: self.run.id });
        }
        Ok(self.groups.into_values().collect())
    }
}
