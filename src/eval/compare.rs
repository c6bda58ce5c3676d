//! Comparing two runs case by case — which cases regressed (passed, now fail), improved, or
//! changed their output — and the baseline check CI uses: fail when the pass rate drops by more
//! than a tolerance or any case that passed now fails. Cases are matched by target prompt,
//! provider, case identity and repeat, so a run of `support/triage` (working copy) compares with
//! one of `support/triage@production`.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::error::EvalError;
use super::report::for_each_result;
use crate::prompt::{PromptName, Selector};
use crate::store::{CaseStatus, ResultRecord, RunRecord, RunStatus, Scope, Store};
use crate::workflow::VersionLookup;

/// How one case differs between two runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CaseChange {
    /// The target (prompt name, or ref when a run has the same prompt twice).
    pub target: String,
    /// The provider.
    pub provider: String,
    /// The case's name (in the newer run).
    pub case_name: String,
    /// The repeat.
    pub repeat: u32,
    /// Its status before (none when it is new).
    pub before: Option<CaseStatus>,
    /// Its status after (none when it was removed).
    pub after: Option<CaseStatus>,
    /// Output before.
    pub before_output: Option<String>,
    /// Output after.
    pub after_output: Option<String>,
}

/// Two runs compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Comparison {
    /// The older run.
    pub before: RunRecord,
    /// The newer run.
    pub after: RunRecord,
    /// Passed before, fail or error now.
    pub regressed: Vec<CaseChange>,
    /// Failed or errored before, pass now.
    pub improved: Vec<CaseChange>,
    /// Same verdict, different output.
    pub changed_output: Vec<CaseChange>,
    /// Only in the newer run.
    pub added: Vec<CaseChange>,
    /// Only in the older run.
    pub removed: Vec<CaseChange>,
    /// Cases with the same verdict and output.
    pub unchanged: u64,
}

type Key = (String, String, String, u32);

#[derive(Debug, Clone)]
struct Seen {
    name: String,
    status: CaseStatus,
    output: Option<String>,
}

/// The target part of a case's key: the prompt's name, unless the run evaluates that prompt
/// more than once (then the ref as written).
fn target_keys(run: &RunRecord) -> Vec<String> {
    run.draft
        .targets
        .iter()
        .map(|t| {
            let twice = run.draft.targets.iter().filter(|o| o.name == t.name).count() > 1;
            if twice { t.reference.clone() } else { t.name.clone() }
        })
        .collect()
}

fn key(run: &RunRecord, targets: &[String], r: &ResultRecord) -> Key {
    let target = targets.get(r.unit.target as usize).cloned().unwrap_or_default();
    let provider = run.draft.providers.get(r.unit.provider as usize).cloned().unwrap_or_default();
    (target, provider, r.case_key.clone(), r.unit.repeat)
}

async fn collect(store: &Arc<dyn Store>, scope: &Scope, run: &RunRecord) -> Result<BTreeMap<Key, Seen>, EvalError> {
    let targets = target_keys(run);
    let mut seen = BTreeMap::new();
    for_each_result(store, scope, run.id, false, |r| {
        seen.insert(
            key(run, &targets, r),
            Seen { name: r.case_name.clone(), status: r.status, output: r.output.clone() },
        );
    })
    .await?;
    Ok(seen)
}

/// Compares `before` with `after`.
pub async fn compare(
    store: &Arc<dyn Store>,
    scope: &Scope,
    before: RunRecord,
    after: RunRecord,
) -> Result<Comparison, EvalError> {
    let old = collect(store, scope, &before).await?;
    let mut new = collect(store, scope, &after).await?;
    let mut out = Comparison {
        before,
        after,
        regressed: Vec::new(),
        improved: Vec::new(),
        changed_output: Vec::new(),
        added: Vec::new(),
        removed: Vec::new(),
        unchanged: 0,
    };
    for (key, was) in old {
        let now = new.remove(&key);
        let change = CaseChange {
            target: key.0.clone(),
            provider: key.1.clone(),
            case_name: now.as_ref().map_or_else(|| was.name.clone(), |n| n.name.clone()),
            repeat: key.3,
            before: Some(was.status),
            after: now.as_ref().map(|n| n.status),
            before_output: was.output.clone(),
            after_output: now.as_ref().and_then(|n| n.output.clone()),
        };
        match now.map(|n| n.status) {
            None => out.removed.push(change),
            Some(status) if was.status == CaseStatus::Pass && status != CaseStatus::Pass => out.regressed.push(change),
            Some(CaseStatus::Pass) if was.status != CaseStatus::Pass => out.improved.push(change),
            Some(_) if change.before_output != change.after_output => out.changed_output.push(change),
            Some(_) => out.unchanged += 1,
        }
    }
    for (key, now) in new {
        out.added.push(CaseChange {
            target: key.0,
            provider: key.1,
            case_name: now.name,
            repeat: key.3,
            before: None,
            after: Some(now.status),
            before_output: None,
            after_output: now.output,
        });
    }
    Ok(out)
}

/// The verdict of `--baseline`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BaselineCheck {
    /// The baseline run.
    pub baseline: u64,
    /// Its pass rate.
    pub before: f64,
    /// This run's pass rate.
    pub after: f64,
    /// The largest drop allowed.
    pub tolerance: f64,
    /// Cases that passed in the baseline and do not now.
    pub regressed: Vec<CaseChange>,
}

impl BaselineCheck {
    /// Judges a comparison.
    pub fn judge(comparison: &Comparison, tolerance: f64) -> Self {
        Self {
            baseline: comparison.before.id,
            before: comparison.before.totals.pass_rate(),
            after: comparison.after.totals.pass_rate(),
            tolerance,
            regressed: comparison.regressed.clone(),
        }
    }

    /// Whether the run holds up against the baseline.
    pub fn passed(&self) -> bool {
        self.regressed.is_empty() && self.before - self.after <= self.tolerance + 1e-9
    }
}

/// Finds the baseline run for `suite`: a run number, `latest` (the newest finished run of the
/// suite before `current`), or a prompt label (the newest finished run of the suite whose
/// targets are exactly the versions that label points at now).
pub async fn find_baseline(
    store: &Arc<dyn Store>,
    scope: &Scope,
    versions: Option<&dyn VersionLookup>,
    suite: &str,
    reference: &str,
    current: u64,
) -> Result<RunRecord, EvalError> {
    if let Ok(id) = reference.parse::<u64>() {
        return store.run(scope, id).await?.ok_or_else(|| EvalError::NoBaseline {
            reference: reference.to_owned(),
            why: format!("there is no run {id}"),
        });
    }
    let candidates = store.runs(scope, Some(suite), None, BASELINE_CANDIDATES).await?;
    pick_baseline(candidates, versions, suite, reference, current).await
}

/// How many of a suite's newest runs are searched for a `latest` or label baseline.
pub const BASELINE_CANDIDATES: u32 = 500;

/// The baseline among `candidates` (a suite's runs, newest first, from wherever runs are kept)
/// for `latest` or a label, as [`find_baseline`] picks it; run numbers are the caller's.
pub async fn pick_baseline(
    candidates: Vec<RunRecord>,
    versions: Option<&dyn VersionLookup>,
    suite: &str,
    reference: &str,
    current: u64,
) -> Result<RunRecord, EvalError> {
    let missing = |why: String| EvalError::NoBaseline { reference: reference.to_owned(), why };
    let candidates: Vec<RunRecord> = candidates
        .into_iter()
        .filter(|r| r.id != current && matches!(r.status, RunStatus::Passed | RunStatus::Failed))
        .collect();
    if reference == "latest" {
        return candidates
            .into_iter()
            .next()
            .ok_or_else(|| missing(format!("suite `{suite}` has no earlier finished run")));
    }
    let versions = versions.ok_or_else(|| missing("labels need the registry".to_owned()))?;
    let Some(sample) = candidates.first() else {
        return Err(missing(format!("suite `{suite}` has no earlier finished run")));
    };
    let mut wanted = BTreeMap::new();
    for target in &sample.draft.targets {
        let Ok(name) = PromptName::new(&target.name) else { continue };
        if let Ok(record) = versions.resolve_version(&name, &Selector::Named(reference.to_owned())).await {
            wanted.insert(target.name.clone(), record.meta.hash);
        }
    }
    if wanted.is_empty() {
        return Err(missing(format!("no prompt of suite `{suite}` has a label `{reference}`")));
    }
    candidates
        .into_iter()
        .find(|run| run.draft.targets.iter().all(|t| wanted.get(&t.name).is_some_and(|h| *h == t.hash)))
        .ok_or_else(|| missing(format!("no finished run of suite `{suite}` evaluated the `{reference}` versions")))
}
