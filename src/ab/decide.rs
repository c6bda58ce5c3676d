//! Deciding: Holm-adjusting the p-values of one metric across every challenger, calling each
//! difference better, worse or not significant, and saying what the suite could have detected
//! (the minimum detectable effect and the cases needed, shown with every inconclusive verdict
//! and in the underpowered warning).

use super::analysis::{Decision, MetricComparison, PowerNote, Settings};
use super::error::AbError;
use super::sample::Metric;
use crate::stats::multiple::holm;
use crate::stats::power::{
    Design, independence_discordance, mde_paired_means, mde_paired_proportions, sample_size_paired_means,
    sample_size_paired_proportions,
};

/// Adjusts and decides one metric across the comparisons of every challenger with the baseline.
/// Fixed horizon: significant when the Holm-adjusted p is below α and the interval (at the
/// Bonferroni level) excludes no difference. Sequential: when the confidence sequence does.
pub fn decide_family(row: &mut [&mut MetricComparison], settings: &Settings) -> Result<(), AbError> {
    let tested: Vec<usize> = (0..row.len()).filter(|&i| row[i].test.is_some()).collect();
    let p_values: Vec<f64> = tested.iter().filter_map(|&i| row[i].test.as_ref().map(|t| t.p_value)).collect();
    let adjusted = holm(&p_values).map_err(AbError::stats("Holm-adjusted p-values"))?;
    for (&i, p) in tested.iter().zip(adjusted) {
        row[i].adjusted_p = Some(p);
    }
    for comparison in row.iter_mut() {
        if matches!(comparison.decision, Decision::NotTested | Decision::Identical) {
            continue;
        }
        let significant = match settings.sequential {
            Some(_) => comparison.interval.is_some_and(|i| i.excludes_zero()),
            None => comparison.adjusted_p.is_some_and(|p| p < settings.alpha) && interval_agrees(comparison),
        };
        comparison.decision = match (significant, comparison.improves()) {
            (false, _) => Decision::NotSignificant,
            (true, true) => Decision::Better,
            (true, false) => Decision::Worse,
        };
    }
    Ok(())
}

/// Whether the interval that goes with the test excludes "no difference": the ratio's interval
/// excludes 1 for latency, the difference's excludes 0 otherwise. No interval: the test alone.
fn interval_agrees(comparison: &MetricComparison) -> bool {
    if comparison.metric == Metric::Latency
        && let Some(ratio) = comparison.ratios.first()
    {
        return ratio.interval.is_none_or(|i| !i.contains(1.0));
    }
    comparison.interval.is_none_or(|i| i.excludes_zero())
}

/// What a paired pass-rate comparison of `pairs` cases with discordance `psi` can detect. When
/// no case disagreed, the discordance expected from independent arms at the pooled rate stands
/// in; when even that is zero (every case passed, or failed, everywhere) nothing is detectable.
pub fn power_proportions(pairs: f64, psi: f64, pooled: f64, settings: &Settings) -> Option<PowerNote> {
    let design = Design::new(settings.alpha, settings.power);
    let psi =
        if psi > 0.0 { psi } else { independence_discordance(pooled.clamp(0.0, 1.0), pooled.clamp(0.0, 1.0)).ok()? };
    if psi <= 0.0 {
        return Some(PowerNote { detectable: None, detect: settings.detect, cases_needed: None });
    }
    let detectable = mde_paired_proportions(pairs, psi, design).ok();
    // A real difference of δ makes at least δ of the pairs disagree.
    let cases_needed =
        sample_size_paired_proportions(settings.detect, psi.max(settings.detect), design).ok().map(|s| s.required);
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
pub fn underpowered(comparisons: &[super::analysis::Comparison], settings: &Settings) -> Option<String> {
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
