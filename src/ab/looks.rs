//! Looking at a `--sequential` comparison while it runs: the order and batches in which the
//! arms' cases are run, the rule that stops the run, and the record of how it went. Owns the
//! schedule and the stopping rule; leaves running cases to the caller (the CLI, through
//! [`crate::eval::Runner::run_cases`]) and the confidence sequences to [`super::paired`].
//!
//! Why stopping is safe here: the decision in sequential mode is an always-valid confidence
//! sequence, which holds at every look simultaneously, so stopping at the first look where it
//! excludes 0 keeps the error rate at α (a fixed-horizon test would not). Cases run in a seeded
//! random order, so that every prefix is a random sample of the suite (suites are often sorted
//! by topic or difficulty, and a sorted prefix says little about the whole).

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::analysis::{Analysis, Decision};
use super::sample::Metric;

/// Looks a sequential run takes at most: after every tenth of the suite.
pub const LOOKS: usize = 10;

/// Fewest cases between two looks (the confidence sequence decides nothing below 10 cases).
pub const MIN_BATCH: usize = 10;

/// How a `--sequential` run went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Looks {
    /// Cases every arm ran: the analysis is of these.
    pub cases: usize,
    /// Cases in the suite.
    pub suite_cases: usize,
    /// Looks taken, the last one included.
    pub looks: usize,
    /// Whether the run stopped before every case of the suite ran.
    pub stopped_early: bool,
    /// Why the run stopped, in words.
    pub reason: String,
}

/// The suite's case indices in a seeded random order, cut into the batches run between looks:
/// [`LOOKS`] batches of equal size, none smaller than [`MIN_BATCH`] cases.
pub fn batches(cases: usize, seed: u64) -> Vec<Vec<u32>> {
    let mut order: Vec<u32> = (0..u32::try_from(cases).unwrap_or(u32::MAX)).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let size = cases.div_ceil(LOOKS).max(MIN_BATCH);
    order.chunks(size).map(<[u32]>::to_vec).collect()
}

/// Why to stop after this look, if the pass-rate confidence sequence of every challenger
/// excludes "no difference"; `None` while any challenger is undecided.
pub fn stop_reason(analysis: &Analysis) -> Option<String> {
    let decided = |decision: Decision| matches!(decision, Decision::Better | Decision::Worse);
    let pass_rates: Vec<Decision> = analysis
        .comparisons
        .iter()
        .filter_map(|c| c.metrics.iter().find(|m| m.metric == Metric::PassRate))
        .map(|m| m.decision)
        .collect();
    (!pass_rates.is_empty() && pass_rates.iter().all(|&d| decided(d))).then(|| {
        let arms = if pass_rates.len() == 1 { "the challenger" } else { "every challenger" };
        format!("the pass-rate confidence sequence of {arms} excludes no difference")
    })
}

/// The record of a run that looked `looks` times at `cases` of `suite_cases` cases and
/// stopped for `reason` (or ran every case).
pub fn record(cases: usize, suite_cases: usize, looks: usize, reason: Option<String>) -> Looks {
    let stopped_early = reason.is_some() && cases < suite_cases;
    let reason = reason.unwrap_or_else(|| "every case ran without a decision on pass rate".to_owned());
    Looks { cases, suite_cases, looks, stopped_early, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_cover_every_case_once_in_a_seeded_order() {
        let cut = batches(95, 3);
        assert_eq!(cut.len(), LOOKS);
        assert!(cut.iter().take(LOOKS - 1).all(|b| b.len() == 10));
        let mut all: Vec<u32> = cut.concat();
        assert_ne!(all, (0..95).collect::<Vec<u32>>(), "shuffled");
        assert_eq!(batches(95, 3), cut, "seeded");
        all.sort_unstable();
        assert_eq!(all, (0..95).collect::<Vec<u32>>());
    }

    #[test]
    fn small_suites_are_looked_at_every_ten_cases() {
        let cut = batches(25, 0);
        assert_eq!(cut.iter().map(Vec::len).collect::<Vec<_>>(), vec![10, 10, 5]);
        assert!(batches(0, 0).is_empty());
    }

    #[test]
    fn a_decision_only_counts_as_stopping_when_cases_were_left() {
        assert!(record(40, 80, 4, Some("why".to_owned())).stopped_early);
        assert!(!record(80, 80, 8, Some("why".to_owned())).stopped_early);
        let ran_out = record(80, 80, 8, None);
        assert!(!ran_out.stopped_early && ran_out.reason.starts_with("every case ran"));
    }
}
