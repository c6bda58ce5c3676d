//! The rows the store keeps for eval runs, as plain data: a run (what was evaluated, with which
//! exact prompt versions, providers and settings, and how it ended) and one result per
//! case × target × provider × repeat.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::money::Micros;

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Cases are still being evaluated (or the process died; see `eval --resume`).
    Running,
    /// Finished at or above its threshold.
    Passed,
    /// Finished below its threshold.
    Failed,
    /// Stopped early (Ctrl-C); `eval --resume RUN` finishes it.
    Interrupted,
    /// A server-side run stopped by `promptops runs cancel`: what finished is kept.
    Cancelled,
}

impl RunStatus {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Passed => "passed",
            Self::Failed => "failed",
            Self::Interrupted => "interrupted",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Running, Self::Passed, Self::Failed, Self::Interrupted, Self::Cancelled]
            .into_iter()
            .find(|s| s.as_str() == text)
    }

    /// Whether the run finished every case.
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Passed | Self::Failed)
    }

    /// How a run with `totals` ends: interrupted while fewer than `total` results are in, else
    /// passed when its pass rate reaches `threshold`, failed when not.
    pub fn verdict(totals: &RunTotals, total: u64, threshold: f64) -> Self {
        if totals.done < total {
            Self::Interrupted
        } else if totals.pass_rate() + 1e-9 >= threshold {
            Self::Passed
        } else {
            Self::Failed
        }
    }
}

/// One evaluated target: the ref as written and the exact version it resolved to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RunTarget {
    /// The ref as written in the suite (`support/triage@production`).
    pub reference: String,
    /// The prompt's name.
    pub name: String,
    /// The stored version number, when it was not the working copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// The content hash of what was evaluated.
    pub hash: String,
}

/// What is known about a run before its first case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RunDraft {
    /// The suite's name.
    pub suite: String,
    /// The suite file, relative to the project root.
    pub suite_path: String,
    /// The suite's description.
    pub description: Option<String>,
    /// Hash of everything that decides the cases (suite, datasets, prompt versions, providers,
    /// repeat); `--resume` refuses to continue a run whose inputs changed.
    pub plan_hash: String,
    /// The targets, in suite order.
    pub targets: Vec<RunTarget>,
    /// The providers, in suite order.
    pub providers: Vec<String>,
    /// The pass rate needed.
    pub threshold: f64,
    /// How many results the run will have when complete.
    pub total: u64,
    /// The git commit the project was at, if it is a git repository.
    pub git_commit: Option<String>,
    /// Whether the working tree had uncommitted changes.
    pub git_dirty: bool,
    /// Who ran it.
    pub actor: String,
}

/// Counts and sums over a run's results.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RunTotals {
    /// Results recorded.
    pub done: u64,
    /// Cases that passed.
    pub passed: u64,
    /// Cases that failed an assertion.
    pub failed: u64,
    /// Cases that could not be evaluated (provider errors, broken graders, hung scripts).
    pub errors: u64,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Generated tokens.
    pub output_tokens: u64,
    /// What it cost, graders included.
    pub cost: Micros,
    /// Answers served from the response cache.
    pub cached: u64,
}

impl RunTotals {
    /// Counts one newly stored result (every backend sums a batch this way before adding it).
    pub fn add(&mut self, result: &ResultRecord) {
        self.done += 1;
        match result.status {
            CaseStatus::Pass => self.passed += 1,
            CaseStatus::Fail => self.failed += 1,
            CaseStatus::Error => self.errors += 1,
        }
        self.input_tokens += result.input_tokens;
        self.output_tokens += result.output_tokens;
        self.cost += result.cost;
        self.cached += u64::from(result.cached);
    }

    /// Passed results over all results (0 when there are none).
    pub fn pass_rate(&self) -> f64 {
        if self.done == 0 { 0.0 } else { self.passed as f64 / self.done as f64 }
    }
}

/// A stored run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RunRecord {
    /// The run's number in the project: 1, 2, 3, …
    pub id: u64,
    /// What was planned.
    #[serde(flatten)]
    pub draft: RunDraft,
    /// Where it stands.
    pub status: RunStatus,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it last finished (or was interrupted).
    pub finished_at: Option<DateTime<Utc>>,
    /// Counts and sums over its results.
    pub totals: RunTotals,
    /// The process that runs it, as [`crate::eval::Owner`] writes it (none for an upload). Local
    /// bookkeeping: not part of the API.
    #[serde(skip)]
    #[schemars(skip)]
    pub owner: Option<String>,
}

/// Whether a case passed, failed or could not be evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CaseStatus {
    /// Every assertion passed (or the weighted score reached the case's threshold).
    Pass,
    /// An assertion failed.
    Fail,
    /// No verdict: the provider failed, a grader answered garbage, a script hung.
    Error,
}

impl CaseStatus {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::Error => "error",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pass, Self::Fail, Self::Error].into_iter().find(|s| s.as_str() == text)
    }
}

/// One assertion's verdict on one output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AssertionResult {
    /// The type as written (`not-contains`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Whether it passed.
    pub pass: bool,
    /// The score, 0 to 1.
    pub score: f64,
    /// Its weight in the case's score.
    pub weight: f64,
    /// The metric it reports under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// Why it failed, or what a grader said.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// Which unit of a plan a result is: indices into the run's targets and providers, the case's
/// index in the suite, and the repeat. Orders results the same way in every backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UnitKey {
    /// Index into the run's targets.
    pub target: u32,
    /// Index into the run's providers.
    pub provider: u32,
    /// The case's index in the expanded suite.
    pub case: u32,
    /// The repeat, from 0.
    pub repeat: u32,
}

/// One case's result on one target and provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ResultRecord {
    /// Which unit it is.
    pub unit: UnitKey,
    /// The case's name.
    pub case_name: String,
    /// A stable identity of the case across runs: its name if it has one, else a hash of its variables.
    pub case_key: String,
    /// Where the case is written (`eval-suites/x.yaml:12`, `eval-suites/data/t.csv:4`).
    pub location: Option<String>,
    /// The case's variables.
    pub vars: serde_json::Value,
    /// Its tags.
    pub tags: Vec<String>,
    /// The verdict.
    pub status: CaseStatus,
    /// The weighted score of its assertions, 0 to 1.
    pub score: f64,
    /// The output (absent when the provider failed).
    pub output: Option<String>,
    /// Why it could not be evaluated.
    pub error: Option<String>,
    /// Every assertion's verdict.
    pub assertions: Vec<AssertionResult>,
    /// Latency of the call, in milliseconds.
    pub latency_ms: u64,
    /// How long the whole result took, in milliseconds: the call, the transform and every
    /// assertion (a script that timed out included). 0 for results stored before it was kept.
    #[serde(default)]
    pub duration_ms: u64,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Generated tokens.
    pub output_tokens: u64,
    /// What the call and its graders cost.
    pub cost: Micros,
    /// Whether the answer came from the response cache.
    pub cached: bool,
}

/// Which results to read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResultQuery {
    /// Only failures and errors.
    pub problems_only: bool,
    /// Results after this unit (for paging).
    pub after: Option<UnitKey>,
    /// At most this many.
    pub limit: Option<u32>,
}

/// The columns of a [`RunRecord`], in the order both backends decode them.
pub(crate) const RUN_COLUMNS: &str = "id, suite, suite_path, description, plan_hash, targets, providers, threshold, total, \
     git_commit, git_dirty, actor, status, started_at, finished_at, done, passed, failed, errors, input_tokens, \
     output_tokens, cost_micros, cached, owner";

/// The columns of a [`ResultRecord`], in the order both backends decode and insert them.
pub(crate) const RESULT_COLUMNS: &str = "target_index, provider_index, case_index, repeat_index, case_name, case_key, location, \
     vars, tags, status, score, output, error, assertions, latency_ms, input_tokens, output_tokens, cost_micros, cached, duration_ms";
