//! Deciding: calling each difference better, worse or not significant, and saying what the
//! suite could have detected (the minimum detectable effect and the cases needed, shown with
//! every inconclusive verdict and in the underpowered warning).
//!
//! The rule, and why. One metric is **primary** (pass rate, or the one named with `--primary`):
//! its p-values are Holm-adjusted across the challengers, and a challenger differs when that
//! adjusted p is below α; nothing else is required of it (the intervals printed beside it are
//! simultaneous Bonferroni intervals, which Holm's test may beat). Every other metric is
//! **secondary**: their p-values, every metric of every challenger together, are
//! Benjamini–Hochberg-adjusted, and a secondary difference is claimed only when the primary of
//! the same challenger is too (a serial gatekeeping procedure), so its adjusted p is the larger
//! of the two. Under identical arms, then, any metric is flagged no more often than the primary
//! alone, at most α; without the gate, four or five metrics each tested at α flag something in
//! about 8.5% of null experiments. Sequential mode decides by confidence sequences (no p-values
//! to adjust) with the same gate.

use super::analysis::{Comparison, Decision, MetricComparison, PowerNote, Settings};
use super::error::AbError;
use super::sample::Metric;
use crate::stats::mcnemar_power::{mde_mcnemar, sample_size_mcnemar};
use crate::stats::multiple::{benjamini_hochberg, holm};
use crate::stats::power::{Design, independence_discordance, mde_paired_means, sample_size_paired_means};

/// Decides every metric of every comparison by the rule above; returns how many secondary
/// tests were adjusted together.
pub fn decide_all(comparisons: &mut [Comparison], primary: usize, settings: &Settings) -> Result<usize, AbError> {
    let p_of = |m: &MetricComparison| m.test.as_ref().map(|t| t.p_value);
    let primary_p: Vec<Option<f64>> = comparisons.iter().map(|c| p_of(&c.metrics[primary])).collect();
    let holm_p = adjust(&primary_p, holm, "Holm-adjusted p-values")?;
    let mut gates = Vec::with_capacity(comparisons.len());
    for (comparison, adjusted) in comparisons.iter_mut().zip(holm_p) {
        let m = &mut comparison.metrics[primary];
        m.adjusted_p = adjusted;
        let significant = match settings.sequential {
            Some(_) => m.interval.is_some_and(|i| i.excludes_zero()),
            None => adjusted.is_some_and(|p| p < settings.alpha),
        };
        decide(m, significant);
        let open = matches!(m.decision, Decision::Better | Decision::Worse);
        gates.push(Gate { open, p: adjusted.unwrap_or(1.0), label: m.metric.label() });
    }
    let secondary: Vec<(usize, usize)> = (0..comparisons.len())
        .flat_map(|c| (0..comparisons[c].metrics.len()).filter(move |&m| m != primary).map(move |m| (c, m)))
        .collect();
    let secondary_p: Vec<Option<f64>> = secondary.iter().map(|&(c, m)| p_of(&comparisons[c].metrics[m])).collect();
    let bh_p = adjust(&secondary_p, benjamini_hochberg, "Benjamini-Hochberg-adjusted p-values")?;
    for (&(c, index), bh) in secondary.iter().zip(bh_p) {
        let gate = &gates[c];
        let m = &mut comparisons[c].metrics[index];
        let (alone, significant) = match settings.sequential {
            Some(_) => {
                let excludes = m.interval.is_some_and(|i| i.excludes_zero());
                (excludes, excludes && gate.open)
            }
            None => {
                m.adjusted_p = bh.map(|p| p.max(gate.p));
                (bh.is_some_and(|p| p < settings.alpha), m.adjusted_p.is_some_and(|p| p < settings.alpha))
            }
        };
        decide(m, significant);
        if alone && !significant && m.decision == Decision::NotSignificant {
            m.gated = Some(format!(
                "not claimed: {}, the primary metric, shows no significant difference, and a secondary metric is \
                 claimed only after it",
                gate.label
            ));
        }
    }
    Ok(secondary_p.iter().flatten().count())
}

/// The primary decision of one challenger, which opens or closes the gate for its secondaries.
struct Gate {
    open: bool,
    p: f64,
    label: String,
}

/// Adjusts the p-values present in `p_values` together, leaving the gaps as they are.
fn adjust(
    p_values: &[Option<f64>],
    method: fn(&[f64]) -> crate::stats::Result<Vec<f64>>,
    what: &str,
) -> Result<Vec<Option<f64>>, AbError> {
    let present: Vec<f64> = p_values.iter().flatten().copied().collect();
    let mut adjusted = method(&present).map_err(AbError::stats(what))?.into_iter();
    Ok(p_values.iter().map(|p| p.and_then(|_| adjusted.next())).collect())
}

/// Better or worse when `significant`, else not significant; untested and identical metrics
/// keep their decision.
fn decide(m: &mut MetricComparison, significant: bool) {
    if matches!(m.decision, Decision::NotTested | Decision::Identical) {
        return;
    }
    m.decision = match (significant, m.improves()) {
        (false, _) => Decision::NotSignificant,
        (true, true) => Decision::Better,
        (true, false) => Decision::Worse,
    };
}

/// What a paired pass-rate comparison of `pairs` cases with discordance `psi` can detect with
/// the test that decides it (the exact power of the asymptotic McNemar test). When no case
/// disagreed, the discordance expected from independent arms at the pooled rate stands in; when
/// even that is zero (every case passed, or failed, everywhere) nothing is detectable.
pub fn power_proportions(pairs: f64, psi: f64, pooled: f64, settings: &Settings) -> Option<PowerNote> {
    let design = Design::new(settings.alpha, settings.power);
    let psi =
        if psi > 0.0 { psi } else { independence_discordance(pooled.clamp(0.0, 1.0), pooled.clamp(0.0, 1.0)).ok()? };
    if psi <= 0.0 {
        return Some(PowerNote { detectable: None, detect: settings.detect, cases_needed: None });
    }
    let detectable = mde_mcnemar(pairs, psi, design).ok();
    // A real difference of δ makes at least δ of the pairs disagree.
    let cases_needed = sample_size_mcnemar(settings.detect, psi.max(settings.detect), design).ok().map(|s| s.required);
    Some(PowerNote { detectable, detect: settings.detect, cases_needed })
}

/// What a paired t test of `pairs` cases with this sd of differences can detect.
pub fn power_means(pairs: f64, sd_difference: f64, settings: &Settings) -> Option<PowerNote> {
    if sd_difference.is_nan() || sd_difference <= 0.0 {
        return None;
    }
    let design = Design::new(settings.alpha, settings.power);
    let detectable = mde_paired_means(pairs, sd_difference, design).ok();
    let cases_needed =
        sample_size_paired_means(sd_difference, settings.detect, design).ok().map(|s| s.central_t.required);
    Some(PowerNote { detectable, detect: settings.detect, cases_needed })
}

/// The warning for a suite too small for its question: the pass-rate comparison can detect
/// only differences more than twice the effect of interest (10 pts by default), or none.
pub fn underpowered(comparisons: &[Comparison], settings: &Settings) -> Option<String> {
    let pass = comparisons
        .iter()
        .filter_map(|c| c.metrics.iter().find(|m| m.metric == Metric::PassRate))
        .find(|m| m.power.as_ref().is_some_and(|p| p.detectable.is_none_or(|d| d > 2.0 * settings.detect)))?;
    let power = pass.power.as_ref()?;
    let cases = pass.baseline_cases;
    let needed = power
        .cases_needed
        .map(|n| format!("; about {n} cases would be needed to detect {}", points(power.detect)))
        .unwrap_or_default();
    Some(match power.detectable {
        Some(d) => format!(
            "underpowered: with {cases} cases this suite can only detect pass-rate differences of about {} \
             (at {:.0}% power){needed}",
            points(d),
            settings.power * 100.0
        ),
        None => format!("underpowered: no pass-rate difference is detectable with {cases} cases{needed}"),
    })
}

/// A rate difference as points: 0.084 → `8.4 pts`.
pub fn points(value: f64) -> String {
    format!("{:.1} pts", value * 100.0)
}
