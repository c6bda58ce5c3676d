//! The data of a run's report: per target × provider, the pass rate, mean score, latency
//! percentiles, tokens and cost, named metrics; then every failure and error with its reasons.
//! Built one result at a time, either as the runner produces them ([`ReportBuilder`] fed by
//! [`crate::eval::Runner::run_with_report`]) or by streaming a run's results from the store
//! page by page ([`build`]), so a report of any size never needs every result in memory at once.
//! Rendering (table, Markdown, JUnit, HTML…) is the CLI's.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::money::Micros;
use crate::store::{CaseStatus, ResultQuery, ResultRecord, RunRecord, Scope, Store, StoreError, UnitKey};

/// Results read per page.
const PAGE: u32 = 1000;
/// Characters of output kept with a problem.
const OUTPUT_EXCERPT: usize = 400;

/// One target × provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GroupSummary {
    /// The target ref as written.
    pub target: String,
    /// The provider.
    pub provider: String,
    /// Results.
    pub total: u64,
    /// Passes.
    pub passed: u64,
    /// Failures.
    pub failed: u64,
    /// Errors.
    pub errors: u64,
    /// Passes over results.
    pub pass_rate: f64,
    /// Mean weighted score of the cases that were evaluated (errors left out).
    pub mean_score: f64,
    /// Median latency, in milliseconds.
    pub latency_p50_ms: u64,
    /// 95th-percentile latency, in milliseconds.
    pub latency_p95_ms: u64,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Generated tokens.
    pub output_tokens: u64,
    /// Cost, graders included.
    pub cost: Micros,
    /// Answers from the response cache.
    pub cached: u64,
    /// Mean score per named metric.
    pub metrics: BTreeMap<String, f64>,
}

/// A failed or errored case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ProblemCase {
    /// The target ref.
    pub target: String,
    /// The provider.
    pub provider: String,
    /// The case's name.
    pub case_name: String,
    /// Where it is written.
    pub location: Option<String>,
    /// The repeat (from 0).
    pub repeat: u32,
    /// Fail or error.
    pub status: CaseStatus,
    /// Why: the failed assertions' reasons, or the error.
    pub reasons: Vec<String>,
    /// The start of the output.
    pub output: Option<String>,
}

/// A run's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RunReport {
    /// The run.
    pub run: RunRecord,
    /// Per target × provider, in plan order.
    pub groups: Vec<GroupSummary>,
    /// Failures and errors, in plan order.
    pub problems: Vec<ProblemCase>,
}

impl RunReport {
    /// Whether the run reached its threshold.
    pub fn passed(&self) -> bool {
        self.run.totals.done > 0 && self.run.totals.pass_rate() + 1e-9 >= self.run.draft.threshold
    }
}

#[derive(Debug, Default)]
struct Accumulator {
    total: u64,
    passed: u64,
    failed: u64,
    errors: u64,
    score_sum: f64,
    latencies: Vec<u32>,
    input_tokens: u64,
    output_tokens: u64,
    cost: Micros,
    cached: u64,
    metrics: BTreeMap<String, (f64, u64)>,
}

/// Builds a [`RunReport`] one result at a time.
#[derive(Debug)]
pub struct ReportBuilder {
    run: RunRecord,
    groups: BTreeMap<(u32, u32), Accumulator>,
    /// With their units: results may arrive in any order, problems are listed in plan order.
    problems: Vec<(UnitKey, ProblemCase)>,
}

impl ReportBuilder {
    /// A builder for `run`.
    pub fn new(run: RunRecord) -> Self {
        Self { run, groups: BTreeMap::new(), problems: Vec::new() }
    }

    fn names(&self, result: &ResultRecord) -> (String, String) {
        let target = self.run.draft.targets.get(result.unit.target as usize).map(|t| t.reference.clone());
        let provider = self.run.draft.providers.get(result.unit.provider as usize).cloned();
        (
            target.unwrap_or_else(|| format!("#{}", result.unit.target)),
            provider.unwrap_or_else(|| format!("#{}", result.unit.provider)),
        )
    }

    /// Adds one result.
    pub fn add(&mut self, result: &ResultRecord) {
        let acc = self.groups.entry((result.unit.target, result.unit.provider)).or_default();
        acc.total += 1;
        match result.status {
            CaseStatus::Pass => acc.passed += 1,
            CaseStatus::Fail => acc.failed += 1,
            CaseStatus::Error => acc.errors += 1,
        }
        if result.status != CaseStatus::Error {
            acc.score_sum += result.score;
            acc.latencies.push(u32::try_from(result.latency_ms).unwrap_or(u32::MAX));
        }
        acc.input_tokens += result.input_tokens;
        acc.output_tokens += result.output_tokens;
        acc.cost += result.cost;
        acc.cached += u64::from(result.cached);
        let evaluated = if result.status == CaseStatus::Error { &[][..] } else { &result.assertions[..] };
        for assertion in evaluated {
            if let Some(metric) = &assertion.metric {
                let entry = acc.metrics.entry(metric.clone()).or_insert((0.0, 0));
                *entry = (entry.0 + assertion.score, entry.1 + 1);
            }
        }
        if result.status != CaseStatus::Pass {
            let (target, provider) = self.names(result);
            self.problems.push((result.unit, problem(target, provider, result)));
        }
    }

    /// The report of `run` as it stands now (its status and totals once the results are in).
    pub fn finish_with(mut self, run: RunRecord) -> RunReport {
        self.run = run;
        self.finish()
    }

    /// The report.
    pub fn finish(mut self) -> RunReport {
        self.problems.sort_by_key(|(unit, _)| *unit);
        let problems = self.problems.into_iter().map(|(_, problem)| problem).collect();
        let mut groups = Vec::with_capacity(self.groups.len());
        for ((t, p), mut acc) in self.groups {
            acc.latencies.sort_unstable();
            let evaluated = acc.passed + acc.failed;
            let target =
                self.run.draft.targets.get(t as usize).map_or_else(|| format!("#{t}"), |x| x.reference.clone());
            let provider = self.run.draft.providers.get(p as usize).cloned().unwrap_or_else(|| format!("#{p}"));
            groups.push(GroupSummary {
                target,
                provider,
                total: acc.total,
                passed: acc.passed,
                failed: acc.failed,
                errors: acc.errors,
                pass_rate: ratio(acc.passed, acc.total),
                mean_score: if evaluated == 0 { 0.0 } else { acc.score_sum / evaluated as f64 },
                latency_p50_ms: percentile(&acc.latencies, 0.50),
                latency_p95_ms: percentile(&acc.latencies, 0.95),
                input_tokens: acc.input_tokens,
                output_tokens: acc.output_tokens,
                cost: acc.cost,
                cached: acc.cached,
                metrics: acc.metrics.into_iter().map(|(k, (sum, n))| (k, sum / n.max(1) as f64)).collect(),
            });
        }
        RunReport { run: self.run, groups, problems }
    }
}

fn problem(target: String, provider: String, result: &ResultRecord) -> ProblemCase {
    let mut reasons: Vec<String> = result.error.iter().cloned().collect();
    reasons.extend(
        result.assertions.iter().filter(|a| !a.pass && a.weight > 0.0).map(|a| {
            if a.reason.is_empty() { format!("{} failed", a.kind) } else { format!("{}: {}", a.kind, a.reason) }
        }),
    );
    if reasons.is_empty() {
        reasons.push(format!("weighted score {:.2} is below the case's threshold", result.score));
    }
    ProblemCase {
        target,
        provider,
        case_name: result.case_name.clone(),
        location: result.location.clone(),
        repeat: result.unit.repeat,
        status: result.status,
        reasons,
        output: result.output.as_deref().map(|o| o.chars().take(OUTPUT_EXCERPT).collect()),
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// The nearest-rank percentile of sorted values (0 when empty).
pub fn percentile(sorted: &[u32], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    u64::from(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Streams `run`'s results from the store into its report.
pub async fn build(store: &Arc<dyn Store>, scope: &Scope, run: RunRecord) -> Result<RunReport, StoreError> {
    let id = run.id;
    let mut builder = ReportBuilder::new(run);
    for_each_result(store, scope, id, false, |r| builder.add(r)).await?;
    Ok(builder.finish())
}

/// Calls `f` with every result of a run, in plan order, reading a page at a time.
pub async fn for_each_result(
    store: &Arc<dyn Store>,
    scope: &Scope,
    run: u64,
    problems_only: bool,
    mut f: impl FnMut(&ResultRecord),
) -> Result<(), StoreError> {
    let mut after = None;
    loop {
        let page = store.results(scope, run, ResultQuery { problems_only, after, limit: Some(PAGE) }).await?;
        for result in &page {
            f(result);
        }
        match page.last() {
            Some(last) if page.len() == PAGE as usize => after = Some(last.unit),
            _ => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let values: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&values, 0.5), 50);
        assert_eq!(percentile(&values, 0.95), 95);
        assert_eq!(percentile(&[7], 0.95), 7);
        assert_eq!(percentile(&[], 0.5), 0);
    }
}
