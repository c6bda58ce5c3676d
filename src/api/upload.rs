//! Checks of uploaded runs and experiments, made before anything is written, so that a bad body
//! is a 400 naming its JSON path instead of a half-written run: every string storable (no NUL,
//! which PostgreSQL refuses), every count within the store's integers, every result inside the
//! run's plan and each unit once, an experiment's arms lettered once. Whether referenced runs
//! exist is the service's check.

use std::collections::HashSet;

use serde::Serialize;
use serde_json::Value;

use super::RunUpload;
use crate::store::ExperimentDraft;

/// A field of an uploaded body that cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{path}`: {message}")]
pub struct BodyProblem {
    /// The JSON path of the field (`results[2].unit.target`).
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

impl BodyProblem {
    /// A problem at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into() }
    }
}

/// Checks a run and its results before they are stored.
pub fn check_run(upload: &RunUpload) -> Result<(), BodyProblem> {
    let RunUpload { run, results } = upload;
    let draft = &run.draft;
    if draft.suite.trim().is_empty() {
        return Err(BodyProblem::new("run.suite", "a run needs the name of its suite"));
    }
    check_rate("run.threshold", draft.threshold)?;
    check_count("run.total", draft.total)?;
    if results.len() as u64 > draft.total {
        return Err(BodyProblem::new(
            "results",
            format!("{} results, but the run plans only {} (`run.total`)", results.len(), draft.total),
        ));
    }
    let mut seen = HashSet::with_capacity(results.len());
    for (index, result) in results.iter().enumerate() {
        let unit = result.unit;
        if unit.target as usize >= draft.targets.len() {
            let message = format!("target {} of a run with {} target(s)", unit.target, draft.targets.len());
            return Err(BodyProblem::new(format!("results[{index}].unit.target"), message));
        }
        if unit.provider as usize >= draft.providers.len() {
            let message = format!("provider {} of a run with {} provider(s)", unit.provider, draft.providers.len());
            return Err(BodyProblem::new(format!("results[{index}].unit.provider"), message));
        }
        if !seen.insert(unit) {
            return Err(BodyProblem::new(format!("results[{index}].unit"), "this unit has a result already"));
        }
        check_rate(&format!("results[{index}].score"), result.score)?;
        for (field, value) in [
            ("latency_ms", result.latency_ms),
            ("duration_ms", result.duration_ms),
            ("input_tokens", result.input_tokens),
            ("output_tokens", result.output_tokens),
        ] {
            check_count(&format!("results[{index}].{field}"), value)?;
        }
        if !(0..=MAX_COST_MICROS).contains(&result.cost.0) {
            let message = format!("must be between 0 and {MAX_COST_MICROS} micro-dollars, got {}", result.cost.0);
            return Err(BodyProblem::new(format!("results[{index}].cost"), message));
        }
    }
    check_text(upload)
}

/// Checks an experiment before it is stored.
pub fn check_experiment(draft: &ExperimentDraft) -> Result<(), BodyProblem> {
    if draft.suite.trim().is_empty() {
        return Err(BodyProblem::new("suite", "an experiment needs the suite its arms ran"));
    }
    if draft.arms.len() < 2 {
        return Err(BodyProblem::new("arms", format!("an experiment has at least two arms, got {}", draft.arms.len())));
    }
    let mut letters = HashSet::new();
    for (index, arm) in draft.arms.iter().enumerate() {
        if arm.letter.trim().is_empty() || !letters.insert(arm.letter.as_str()) {
            return Err(BodyProblem::new(format!("arms[{index}].letter"), "each arm needs its own letter"));
        }
        if let Some(run) = arm.run {
            check_count(&format!("arms[{index}].run"), run)?;
        }
    }
    if !(draft.alpha > 0.0 && draft.alpha < 1.0) {
        return Err(BodyProblem::new("alpha", format!("α must be strictly between 0 and 1, got {}", draft.alpha)));
    }
    if !draft.analysis.is_object() {
        return Err(BodyProblem::new("analysis", "the analysis is a JSON object, as `ab` records it"));
    }
    check_text(draft)
}

/// The largest count (run size, tokens, milliseconds, run number) an upload may hold: far above
/// any real run, and small enough that sums over millions of results fit the store's BIGINTs.
pub const MAX_COUNT: u64 = u32::MAX as u64;

/// The largest cost of one result, in micro-dollars ($1,000,000).
const MAX_COST_MICROS: i64 = 1_000_000_000_000;

fn check_count(path: &str, value: u64) -> Result<(), BodyProblem> {
    if value <= MAX_COUNT {
        Ok(())
    } else {
        Err(BodyProblem::new(path, format!("must be at most {MAX_COUNT}, got {value}")))
    }
}

fn check_rate(path: &str, value: f64) -> Result<(), BodyProblem> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(BodyProblem::new(path, format!("must be between 0 and 1, got {value}")))
    }
}

/// Every string of `body` (keys included) is free of NUL characters.
fn check_text(body: &impl Serialize) -> Result<(), BodyProblem> {
    let value = serde_json::to_value(body).map_err(|err| BodyProblem::new("", err.to_string()))?;
    match find_nul(&value, String::new()) {
        Some(path) => Err(BodyProblem::new(path, "text may not contain NUL characters")),
        None => Ok(()),
    }
}

fn find_nul(value: &Value, path: String) -> Option<String> {
    match value {
        Value::String(text) => text.contains('\0').then_some(path),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| find_nul(item, format!("{path}[{i}]"))),
        Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            let inner = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
            if key.contains('\0') { Some(inner) } else { find_nul(item, inner) }
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn nul_characters_are_found_with_their_path() {
        let value = json!({"run": {"suite": "s"}, "results": [{"vars": {"a": "ok"}}, {"vars": {"b": "x\u{0}y"}}]});
        assert_eq!(find_nul(&value, String::new()).as_deref(), Some("results[1].vars.b"));
        assert_eq!(find_nul(&json!({"k\u{0}": 1}), String::new()).as_deref(), Some("k\u{0}"));
        assert_eq!(find_nul(&json!(["fine", {"a": [1, null]}]), String::new()), None);
    }

    #[test]
    fn rates_outside_zero_to_one_are_refused() {
        assert!(check_rate("t", 0.5).is_ok());
        assert_eq!(check_rate("t", 1.5).map_err(|p| p.path), Err("t".to_owned()));
    }
}
