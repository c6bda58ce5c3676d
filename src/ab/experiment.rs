//! An analysis as a stored experiment, its one-line outcome and headline, the CI gate
//! (`--require-better`, `--non-inferiority`), and the count of earlier looks at the same arms
//! (repeated fixed-horizon looks inflate false positives, so `ab` warns about them).

use serde::Serialize;

use super::analysis::{Analysis, Decision, MetricComparison};
use super::decide::points;
use super::sample::Metric;
use super::verdict::sentence;
use crate::store::{ExperimentArm, ExperimentDraft, ExperimentRecord};

/// What CI requires of every challenger's pass rate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Gate {
    /// Significantly better than the baseline.
    pub require_better: bool,
    /// No worse than the baseline by more than this margin (a rate, 0.02 = 2 pts): the lower
    /// bound of the 1 − 2α interval of challenger − baseline must lie above −margin.
    pub non_inferiority: Option<f64>,
}

/// The pass-rate comparison of every challenger.
fn primary(analysis: &Analysis) -> impl Iterator<Item = (usize, &MetricComparison)> {
    analysis
        .comparisons
        .iter()
        .filter_map(|c| c.metrics.iter().find(|m| m.metric == Metric::PassRate).map(|m| (c.challenger, m)))
}

/// Why the gate is not met, one line per failing challenger (empty: met).
pub fn gate_failures(analysis: &Analysis, gate: &Gate) -> Vec<String> {
    let mut failures = Vec::new();
    for (challenger, m) in primary(analysis) {
        let arm = super::analysis::letter(challenger);
        if gate.require_better && m.decision != Decision::Better {
            failures.push(format!("--require-better: {arm} is not significantly better than A on pass rate"));
        }
        if let Some(margin) = gate.non_inferiority {
            match m.one_sided_interval {
                Some(interval) if interval.lower > -margin => {}
                Some(interval) => failures.push(format!(
                    "--non-inferiority {}: {arm} may be worse than A by up to {} (lower bound of the {:.0}% interval)",
                    points(margin),
                    points(-interval.lower),
                    (1.0 - 2.0 * analysis.settings.alpha / analysis.comparisons.len() as f64) * 100.0
                )),
                None => failures.push(format!("--non-inferiority: {arm}'s pass rate has no interval to check")),
            }
        }
    }
    failures
}

/// The primary outcome in a word or two: `B better`, `B worse`, `no difference`.
pub fn outcome(analysis: &Analysis) -> String {
    let parts: Vec<String> = primary(analysis)
        .filter_map(|(challenger, m)| {
            let arm = super::analysis::letter(challenger);
            match m.decision {
                Decision::Better => Some(format!("{arm} better")),
                Decision::Worse => Some(format!("{arm} worse")),
                _ => None,
            }
        })
        .collect();
    if parts.is_empty() { "no difference".to_owned() } else { parts.join(", ") }
}

/// The pass-rate sentences, joined: the experiment's headline.
pub fn headline(analysis: &Analysis) -> String {
    primary(analysis)
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
    let mut labels: Vec<&str> = analysis.arms.iter().map(|a| a.label.as_str()).collect();
    labels.sort_unstable();
    earlier
        .iter()
        .filter(|e| !e.draft.sequential)
        .filter(|e| {
            let mut theirs: Vec<&str> = e.draft.arms.iter().map(|a| a.label.as_str()).collect();
            theirs.sort_unstable();
            theirs == labels
        })
        .count()
}
