//! An analysis as a stored experiment, its one-line outcome and headline, the CI gate
//! (`--require-better`, `--non-inferiority`), and the count of earlier looks at the same arms
//! (repeated fixed-horizon looks inflate false positives, so `ab` warns about them).

use serde::Serialize;

use super::analysis::{Analysis, Decision, MetricComparison};
use super::decide::points;
use super::sample::Metric;
use super::verdict::sentence;
use crate::stats::tango::cases_for_non_inferiority;
use crate::store::{ExperimentArm, ExperimentDraft, ExperimentRecord};

/// What CI requires of every challenger.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Gate {
    /// Significantly better than the baseline on the primary metric.
    pub require_better: bool,
    /// No worse than the baseline on pass rate by more than this margin (a rate, 0.02 = 2 pts):
    /// the lower bound of the 1 − 2α interval of challenger − baseline must lie above −margin.
    pub non_inferiority: Option<f64>,
}

/// The comparison of `metric` for every challenger.
fn of_metric<'a>(analysis: &'a Analysis, metric: &'a Metric) -> impl Iterator<Item = (usize, &'a MetricComparison)> {
    analysis
        .comparisons
        .iter()
        .filter_map(move |c| c.metrics.iter().find(|m| m.metric == *metric).map(|m| (c.challenger, m)))
}

/// Why the gate is not met, one line per failing challenger (empty: met).
pub fn gate_failures(analysis: &Analysis, gate: &Gate) -> Vec<String> {
    let mut failures = Vec::new();
    let primary = &analysis.settings.primary;
    if gate.require_better {
        for (challenger, m) in of_metric(analysis, primary) {
            if m.decision != Decision::Better {
                let arm = super::analysis::letter(challenger);
                failures
                    .push(format!("--require-better: {arm} is not significantly better than A on {}", primary.label()));
            }
        }
    }
    if let Some(margin) = gate.non_inferiority {
        for (challenger, m) in of_metric(analysis, &Metric::PassRate) {
            failures.extend(non_inferiority_failure(analysis, &super::analysis::letter(challenger), m, margin));
        }
    }
    failures
}

/// Why `m` does not show that the challenger's pass rate is within `margin` of the baseline's.
fn non_inferiority_failure(analysis: &Analysis, arm: &str, m: &MetricComparison, margin: f64) -> Option<String> {
    let flag = format!("--non-inferiority {}", points(margin));
    let one_sided = 2.0 * analysis.settings.alpha / analysis.comparisons.len() as f64;
    let Some(interval) = m.one_sided_interval else {
        return Some(format!(
            "{flag}: {arm}'s pass rate has no interval to check (every case moved by the same amount, or too few \
             cases), so non-inferiority cannot be shown; run more cases"
        ));
    };
    if interval.lower > -margin {
        return None;
    }
    let needed = m
        .discordant
        .and_then(|table| cases_for_non_inferiority(table, margin, one_sided / 2.0).ok().flatten())
        .map(|n| format!("; with the same results, about {n} cases would be needed to show it"))
        .unwrap_or_else(|| {
            if m.estimate <= -margin {
                "; the observed difference is already beyond the margin".to_owned()
            } else {
                String::new()
            }
        });
    Some(format!(
        "{flag}: {arm} may be worse than A by up to {} (lower bound of the {:.0}% interval){needed}",
        points(-interval.lower),
        (1.0 - one_sided) * 100.0
    ))
}

/// Every decided metric of every challenger, in words: `B better on pass rate, score; B
/// faster`; `no difference` when nothing was decided. The primary metric comes first, and a
/// secondary metric is only ever decided after it (see [`super::decide`]).
pub fn outcome(analysis: &Analysis) -> String {
    let primary = &analysis.settings.primary;
    let mut parts: Vec<String> = Vec::new();
    for comparison in &analysis.comparisons {
        let arm = super::analysis::letter(comparison.challenger);
        let ordered = comparison.metrics.iter().filter(|m| m.metric == *primary);
        // (phrase, metric): metrics with the same phrase in a row are listed together.
        let mut phrases: Vec<(&str, Vec<String>)> = Vec::new();
        for m in ordered.chain(comparison.metrics.iter().filter(|m| m.metric != *primary)) {
            let phrase = match (&m.metric, m.decision) {
                (Metric::Latency, Decision::Better) => "faster",
                (Metric::Latency, Decision::Worse) => "slower",
                (Metric::Cost, Decision::Better) => "cheaper",
                (Metric::Cost, Decision::Worse) => "more expensive",
                (_, Decision::Better) => "better on",
                (_, Decision::Worse) => "worse on",
                _ => continue,
            };
            let named = if phrase.ends_with(" on") { vec![m.metric.label()] } else { Vec::new() };
            match phrases.last_mut() {
                Some((last, metrics)) if *last == phrase => metrics.extend(named),
                _ => phrases.push((phrase, named)),
            }
        }
        parts.extend(phrases.into_iter().map(|(phrase, metrics)| match metrics.is_empty() {
            true => format!("{arm} {phrase}"),
            false => format!("{arm} {phrase} {}", metrics.join(", ")),
        }));
    }
    if parts.is_empty() { "no difference".to_owned() } else { parts.join("; ") }
}

/// The primary metric's sentences, joined: the experiment's headline.
pub fn headline(analysis: &Analysis) -> String {
    of_metric(analysis, &analysis.settings.primary)
        .map(|(challenger, m)| sentence(m, "A", &super::analysis::letter(challenger), analysis))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The experiment to store for `analysis`.
pub fn draft(analysis: &Analysis, suite: &str, actor: &str) -> ExperimentDraft {
    ExperimentDraft {
        suite: suite.to_owned(),
        arms: analysis
            .arms
            .iter()
            .map(|a| ExperimentArm { letter: a.letter.clone(), label: a.label.clone(), run: a.run })
            .collect(),
        sequential: analysis.settings.sequential.is_some(),
        alpha: analysis.settings.alpha,
        outcome: outcome(analysis),
        summary: headline(analysis),
        analysis: serde_json::to_value(analysis).unwrap_or(serde_json::Value::Null),
        actor: actor.to_owned(),
    }
}

/// Earlier experiments that compared the same arms (by what they ran) with a fixed horizon.
pub fn earlier_looks(analysis: &Analysis, earlier: &[ExperimentRecord]) -> usize {
    let labels: Vec<&str> = analysis.arms.iter().map(|a| a.label.as_str()).collect();
    same_arms(&labels, earlier).filter(|e| !e.draft.sequential).count()
}

/// The tuning size (N*) of the first sequential experiment on the same arms, which every later
/// look must reuse: a sequence re-tuned to each look's size is a different sequence at every
/// look, and their union is no longer valid at α. `earlier` is newest first, as listed.
pub fn earlier_tuning(labels: &[&str], earlier: &[ExperimentRecord]) -> Option<(u64, usize)> {
    same_arms(labels, earlier).filter(|e| e.draft.sequential).last().and_then(|e| {
        let tuned = e.draft.analysis.pointer("/settings/sequential")?.as_u64()?;
        Some((e.id, usize::try_from(tuned).ok()?))
    })
}

/// The experiments among `earlier` whose arms ran what `labels` name, in any order.
fn same_arms<'a>(labels: &[&str], earlier: &'a [ExperimentRecord]) -> impl Iterator<Item = &'a ExperimentRecord> {
    let mut labels: Vec<String> = labels.iter().map(|l| (*l).to_owned()).collect();
    labels.sort_unstable();
    earlier.iter().filter(move |e| {
        let mut theirs: Vec<String> = e.draft.arms.iter().map(|a| a.label.clone()).collect();
        theirs.sort_unstable();
        theirs == labels
    })
}
