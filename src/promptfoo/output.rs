//! A finished run in the shape of promptfoo's `-o results.json` (its version 3 results), so
//! that scripts and dashboards reading promptfoo's output keep working: `results.results[]`
//! with `success`, `score`, `vars`, `response.output`, `gradingResult.componentResults`,
//! `latencyMs`, `cost`, `error`; `results.prompts[]` with their metrics; and `results.stats`
//! (`successes`, `failures`, `errors`, `tokenUsage`). Fields promptops has no data for are left out.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::eval::report::RunReport;
use crate::store::{CaseStatus, ResultRecord};

/// A prompt as promptfoo names it: label and raw text, by promptops target reference.
pub type PromptLabels = BTreeMap<String, (String, String)>;

/// The promptfoo-shaped JSON of `runs` (each run's report and every result).
pub fn results_json(runs: &[(RunReport, Vec<ResultRecord>)], labels: &PromptLabels) -> Value {
    let mut results = Vec::new();
    let mut prompts = Vec::new();
    let (mut successes, mut failures, mut errors, mut input, mut output) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut eval_id = String::new();
    let mut timestamp = String::new();
    for (report, records) in runs {
        let run = &report.run;
        if eval_id.is_empty() {
            eval_id = format!("promptops-run-{}", run.id);
            timestamp = run.started_at.to_rfc3339();
        }
        let offset = prompts.len();
        for group in &report.groups {
            let (label, raw) = label_of(labels, &group.target);
            prompts.push(json!({
                "raw": raw,
                "label": label,
                "provider": group.provider,
                "metrics": {
                    "score": group.mean_score * group.total as f64,
                    "testPassCount": group.passed,
                    "testFailCount": group.failed,
                    "testErrorCount": group.errors,
                    "tokenUsage": { "prompt": group.input_tokens, "completion": group.output_tokens, "total": group.input_tokens + group.output_tokens },
                    "totalLatencyMs": group.latency_p50_ms * group.total,
                    "cost": group.cost.0 as f64 / 1e6,
                    "namedScores": group.metrics,
                },
            }));
        }
        for r in records {
            let target = run.draft.targets.get(r.unit.target as usize).map(|t| t.reference.clone()).unwrap_or_default();
            let provider = run.draft.providers.get(r.unit.provider as usize).cloned().unwrap_or_default();
            let prompt_idx =
                report.groups.iter().position(|g| g.target == target && g.provider == provider).map(|i| i + offset);
            match r.status {
                CaseStatus::Pass => successes += 1,
                CaseStatus::Fail => failures += 1,
                CaseStatus::Error => errors += 1,
            }
            input += r.input_tokens;
            output += r.output_tokens;
            results.push(result_json(r, &target, &provider, prompt_idx, labels));
        }
    }
    json!({
        "evalId": eval_id,
        "results": {
            "version": 3,
            "timestamp": timestamp,
            "prompts": prompts,
            "results": results,
            "stats": {
                "successes": successes,
                "failures": failures,
                "errors": errors,
                "tokenUsage": { "prompt": input, "completion": output, "total": input + output },
            },
        },
        "shareableUrl": null,
    })
}

fn label_of(labels: &PromptLabels, target: &str) -> (String, String) {
    labels.get(target).cloned().unwrap_or_else(|| (target.to_owned(), target.to_owned()))
}

fn result_json(
    r: &ResultRecord,
    target: &str,
    provider: &str,
    prompt_idx: Option<usize>,
    labels: &PromptLabels,
) -> Value {
    let (label, raw) = label_of(labels, target);
    let components: Vec<Value> = r
        .assertions
        .iter()
        .map(|a| json!({ "pass": a.pass, "score": a.score, "reason": a.reason, "assertion": { "type": a.kind, "weight": a.weight, "metric": a.metric } }))
        .collect();
    let named: BTreeMap<&str, f64> =
        r.assertions.iter().filter_map(|a| a.metric.as_deref().map(|m| (m, a.score))).collect();
    let failure =
        r.assertions.iter().filter(|a| !a.pass && a.weight > 0.0).map(|a| a.reason.clone()).collect::<Vec<_>>();
    let reason = match (&r.error, r.status) {
        (Some(error), _) => error.clone(),
        (None, CaseStatus::Pass) => "All assertions passed".to_owned(),
        (None, _) => failure.join("; "),
    };
    json!({
        "promptIdx": prompt_idx,
        "testIdx": r.unit.case,
        "repeat": r.unit.repeat,
        "description": r.case_name,
        "location": r.location,
        "prompt": { "raw": raw, "label": label },
        "provider": { "id": provider, "label": provider },
        "vars": r.vars,
        "response": r.output.as_ref().map(|o| json!({ "output": o, "cached": r.cached, "tokenUsage": { "prompt": r.input_tokens, "completion": r.output_tokens, "total": r.input_tokens + r.output_tokens } })),
        "success": r.status == CaseStatus::Pass,
        "score": r.score,
        "latencyMs": r.latency_ms,
        "cost": r.cost.0 as f64 / 1e6,
        "namedScores": named,
        "error": r.error,
        "failureReason": match r.status { CaseStatus::Pass => 0, CaseStatus::Fail => 1, CaseStatus::Error => 2 },
        "gradingResult": { "pass": r.status == CaseStatus::Pass, "score": r.score, "reason": reason, "componentResults": components },
    })
}
