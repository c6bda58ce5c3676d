//! [`EvalSession`]: `promptops eval`'s use case. Plans every suite (all problems at once, before
//! any model call), runs the plans in turn through the executor, checks each against its
//! baseline where runs are read, and judges the whole: the [`Verdict`] the exit code comes from.

use std::sync::Arc;

use serde::Serialize;

use super::{Executor, Job, SessionError, SessionEvents, concurrency};
use crate::eval::compare::BaselineCheck;
use crate::eval::report::RunReport;
use crate::eval::suite::LoadedSuite;
use crate::eval::{Cancel, Overrides, Plan, PlanInput};
use crate::store::{ResultRecord, RunRecord, RunStatus};
use crate::workflow::VersionLookup;
use crate::yaml::YamlError;

/// One suite's run, as reported.
#[derive(Debug, Clone, Serialize)]
pub struct SuiteOutcome {
    /// Summary, groups and problems.
    #[serde(flatten)]
    pub report: RunReport,
    /// Every result, in plan order (only when a format lists every case).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<ResultRecord>,
    /// The baseline check, with `--baseline`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineCheck>,
}

/// The command line's choices of a session.
#[derive(Debug, Clone, Default)]
pub struct EvalSettings {
    /// What runs (`--provider`, `--tag`, …).
    pub overrides: Overrides,
    /// `-j`.
    pub concurrency: Option<usize>,
    /// promptops.yaml's `defaults.concurrency`.
    pub project_concurrency: Option<u32>,
    /// Whether the report lists every result.
    pub keep_results: bool,
    /// `--baseline REFERENCE` with `--tolerance`.
    pub baseline: Option<(String, f64)>,
    /// `--fail-under`, replacing the suites' thresholds.
    pub fail_under: Option<f64>,
}

/// How a session ended, from which the exit code follows.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Every suite met its threshold and no baseline regressed.
    Passed,
    /// A run ended before its last case: interrupted here, or cancelled or left running on a server.
    Stopped {
        /// The run.
        run: u64,
        /// How it stands.
        status: RunStatus,
        /// Whether it ran on a server (watched again there, not resumed).
        on_server: bool,
    },
    /// Below a threshold, or regressed against a baseline.
    Failed {
        /// With `--fail-under`: the pass rate reached and the one required.
        below_rate: Option<(f64, f64)>,
        /// Whether a baseline regressed.
        regressed: bool,
        /// Whether what failed the suites were provider errors only (no case failed an assertion).
        provider_errors_only: bool,
    },
}

/// The suites' outcomes and the verdict on them.
#[derive(Debug, Clone)]
pub struct EvalOutcome {
    /// One per suite run, in order.
    pub suites: Vec<SuiteOutcome>,
    /// The verdict.
    pub verdict: Verdict,
}

impl EvalOutcome {
    /// Judges `suites` against their thresholds, or against `fail_under` when given.
    pub fn judge(suites: Vec<SuiteOutcome>, fail_under: Option<f64>, on_server: bool) -> Self {
        let verdict = verdict(&suites, fail_under, on_server);
        Self { suites, verdict }
    }

    /// Failed and errored results over every suite.
    pub fn failed_or_errored(&self) -> u64 {
        self.suites.iter().map(|o| o.report.run.totals.failed + o.report.run.totals.errors).sum()
    }
}

fn verdict(suites: &[SuiteOutcome], fail_under: Option<f64>, on_server: bool) -> Verdict {
    let stopped = [RunStatus::Interrupted, RunStatus::Cancelled];
    if let Some(run) = suites.iter().map(|o| &o.report.run).find(|r| stopped.contains(&r.status)) {
        return Verdict::Stopped { run: run.id, status: run.status, on_server };
    }
    let (done, passed, failed) = suites.iter().fold((0, 0, 0), |(d, p, f), o| {
        let t = &o.report.run.totals;
        (d + t.done, p + t.passed, f + t.failed)
    });
    let rate = passed as f64 / done.max(1) as f64;
    let below = match fail_under {
        Some(required) => done == 0 || rate + 1e-9 < required,
        None => suites.iter().any(|o| !o.report.passed()),
    };
    let regressed = suites.iter().any(|o| o.baseline.as_ref().is_some_and(|b| !b.passed()));
    if !below && !regressed {
        return Verdict::Passed;
    }
    Verdict::Failed {
        below_rate: fail_under.filter(|_| below).map(|required| (rate, required)),
        regressed,
        provider_errors_only: !regressed && failed == 0,
    }
}

/// `promptops eval`'s use case over one executor.
pub struct EvalSession<'a> {
    /// Where runs run.
    pub executor: &'a dyn Executor,
    /// Who watches.
    pub events: &'a dyn SessionEvents,
    /// The registry that resolves label baselines (`--baseline production`).
    pub versions: Option<Arc<dyn VersionLookup>>,
    /// The command line's choices.
    pub settings: EvalSettings,
}

impl std::fmt::Debug for EvalSession<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvalSession").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl EvalSession<'_> {
    /// Plans every suite as it is read (each is dropped once planned); all problems of all
    /// suites come back together.
    pub async fn plan<I>(&self, suites: I, input: &PlanInput<'_>) -> Result<Vec<Plan>, SessionError>
    where
        I: IntoIterator<Item = (Option<LoadedSuite>, Vec<YamlError>)>,
        I::IntoIter: Send,
    {
        let mut plans = Vec::new();
        let mut problems = Vec::new();
        for (suite, found) in suites {
            // Every problem of the file's shape, and then those planning finds in what remains.
            problems.extend(found);
            let Some(suite) = suite else { continue };
            match crate::eval::plan(&suite, input).await {
                Ok(plan) => plans.push(plan),
                Err(found) => problems.extend(found),
            }
        }
        if !problems.is_empty() {
            return Err(SessionError::Problems { what: "eval suites".to_owned(), problems });
        }
        Ok(plans)
    }

    /// Runs `plans` in turn (the first finishing `resumed` when given), then judges them.
    pub async fn run(
        &self,
        plans: Vec<Plan>,
        mut resumed: Option<RunRecord>,
        cancel: &Cancel,
    ) -> Result<EvalOutcome, SessionError> {
        let mut suites = Vec::with_capacity(plans.len());
        for plan in plans {
            if cancel.is_cancelled() {
                break;
            }
            let label = plan.suite.clone();
            let job = Job {
                label: &label,
                concurrency: concurrency(self.settings.concurrency, &plan, self.settings.project_concurrency),
                keep_results: self.settings.keep_results,
                resumed: resumed.take(),
                overrides: &self.settings.overrides,
                targets: None,
                cancel,
                events: self.events,
            };
            let executed = self.executor.execute(plan, job).await?;
            let baseline = match &self.settings.baseline {
                Some((reference, tolerance)) => Some(self.baseline(executed.stored, reference, *tolerance).await?),
                None => None,
            };
            suites.push(SuiteOutcome { report: executed.report, results: executed.results, baseline });
        }
        Ok(EvalOutcome::judge(suites, self.settings.fail_under, self.executor.on_server()))
    }

    /// `current` against its baseline, both where the executor's runs are read.
    async fn baseline(
        &self,
        current: RunRecord,
        reference: &str,
        tolerance: f64,
    ) -> Result<BaselineCheck, SessionError> {
        let runs = self.executor.runs();
        let suite = current.draft.suite.clone();
        let before = runs.baseline(&suite, reference, current.id, self.versions.as_deref()).await?;
        let comparison = runs.compare(before, current).await?;
        Ok(BaselineCheck::judge(&comparison, tolerance))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::report::ReportBuilder;

    /// A suite's outcome: `passed`, `failed` and `errors` results of a run with `status`, threshold 0.8.
    fn outcome(status: &str, passed: u64, failed: u64, errors: u64) -> SuiteOutcome {
        let done = passed + failed + errors;
        let run: RunRecord = serde_json::from_value(serde_json::json!({
            "id": 7, "status": status, "started_at": "2026-12-07T00:00:00Z",
            "totals": {"done": done, "passed": passed, "failed": failed, "errors": errors,
                       "input_tokens": 0, "output_tokens": 0, "cost": 0, "cached": 0},
            "suite": "s", "suite_path": "eval-suites/s.yaml", "plan_hash": "h", "targets": [],
            "providers": [], "threshold": 0.8, "total": done, "git_dirty": false, "actor": "me",
        }))
        .expect("a run record");
        SuiteOutcome { report: ReportBuilder::new(run).finish(), results: Vec::new(), baseline: None }
    }

    #[test]
    fn suites_at_their_thresholds_pass() {
        let judged = EvalOutcome::judge(vec![outcome("passed", 9, 1, 0)], None, false);
        assert_eq!(judged.verdict, Verdict::Passed);
    }

    #[test]
    fn a_stopped_run_decides_before_any_threshold() {
        let judged = EvalOutcome::judge(vec![outcome("cancelled", 1, 5, 0)], Some(0.5), true);
        assert_eq!(judged.verdict, Verdict::Stopped { run: 7, status: RunStatus::Cancelled, on_server: true });
    }

    #[test]
    fn a_suite_failed_by_provider_errors_alone_says_so() {
        let judged = EvalOutcome::judge(vec![outcome("failed", 5, 0, 5)], None, false);
        let expected = Verdict::Failed { below_rate: None, regressed: false, provider_errors_only: true };
        assert_eq!(judged.verdict, expected);
        assert_eq!(judged.failed_or_errored(), 5);
    }

    #[test]
    fn fail_under_replaces_the_thresholds_and_reports_the_rates() {
        let judged = EvalOutcome::judge(vec![outcome("passed", 9, 1, 0)], Some(0.95), false);
        let expected = Verdict::Failed { below_rate: Some((0.9, 0.95)), regressed: false, provider_errors_only: false };
        assert_eq!(judged.verdict, expected);
    }
}
