//! Unpaired comparisons of one metric, the fallback when the arms were not run on the same
//! cases (runs of different suites or of a suite that changed): pass rates by Fisher's exact
//! test or the two-proportion z test with a Newcombe interval (one sample per case), everything
//! else by Welch's t test on case means with Mann-Whitney U as the robustness check. Latency is
//! compared on the log scale. These tests ignore which cases the arms share, so they need more
//! cases than the paired ones to see the same difference.

use super::analysis::{Decision, Effect, MetricComparison, Ratio, Test};
use super::columns::Column;
use super::paired::cohen_h;
use super::sample::{Metric, mean, median};
use crate::stats::proportion::{Counts, compare_proportions};
use crate::stats::unpaired::{mann_whitney_u, welch_t};
use crate::stats::{RankMethod, StatsError};

/// Compares `metric` between two independent arms at interval level 1 − `alpha`, from the
/// metric's baseline and challenger columns.
pub(crate) fn compare(metric: &Metric, (baseline, challenger): (&Column, &Column), alpha: f64) -> MetricComparison {
    let (b, c) = (baseline.measured(), challenger.measured());
    if b.len() < 2 || c.len() < 2 {
        let note = format!("fewer than 2 cases have a {} in an arm", metric.label());
        return MetricComparison::not_tested(metric.clone(), false, note);
    }
    let single = baseline.most_samples() <= 1 && challenger.most_samples() <= 1;
    let computed = match metric {
        Metric::PassRate if single => proportions(&b, &c, alpha),
        Metric::Cost if b.iter().chain(&c).all(|&v| v == 0.0) => {
            return MetricComparison::not_tested(metric.clone(), false, "no cost was recorded in either arm");
        }
        Metric::Latency if b.iter().chain(&c).all(|&v| v > 0.0) => log_means(&b, &c, alpha),
        _ => means(&b, &c, alpha),
    };
    match computed {
        Ok(mut result) => {
            result.metric = metric.clone();
            if metric == &Metric::Latency {
                result.baseline = median(&b);
                result.challenger = median(&c);
            }
            if b.iter().chain(&c).all(|&v| v == b[0]) {
                result.decision = Decision::Identical;
            }
            result
        }
        Err(err) => MetricComparison::not_tested(metric.clone(), false, err.to_string()),
    }
}

fn base(b: &[f64], c: &[f64]) -> MetricComparison {
    MetricComparison {
        paired: false,
        baseline_cases: b.len(),
        challenger_cases: c.len(),
        baseline: mean(b),
        challenger: mean(c),
        decision: Decision::NotSignificant,
        note: None,
        ..MetricComparison::not_tested(Metric::PassRate, false, "")
    }
}

fn counts(values: &[f64]) -> Counts {
    Counts::new(values.iter().filter(|&&v| v > 0.5).count() as u64, values.len() as u64)
}

/// Two independent pass rates: Fisher when an expected cell is small, else the z test; the
/// Newcombe interval either way.
fn proportions(b: &[f64], c: &[f64], alpha: f64) -> Result<MetricComparison, StatsError> {
    let test = compare_proportions(counts(c), counts(b), alpha)?;
    let mut result = base(b, c);
    result.estimate = test.difference;
    result.interval = Some(test.interval);
    result.interval_method = "Newcombe".to_owned();
    let (fisher, z) = (
        Test { method: "Fisher exact".to_owned(), p_value: test.fisher_p },
        Test { method: "two-proportion z".to_owned(), p_value: test.z_test.p_value },
    );
    let (primary, check) = if test.small_expected_count { (fisher, z) } else { (z, fisher) };
    result.test = Some(primary);
    result.checks.push(check);
    result.effect = Some(Effect { name: "Cohen's h".to_owned(), value: cohen_h(test.rate_a, test.rate_b) });
    if 2.0 * alpha < 1.0 {
        result.one_sided_interval = compare_proportions(counts(c), counts(b), 2.0 * alpha).ok().map(|t| t.interval);
    }
    Ok(result)
}

/// Welch's t on case means, Mann-Whitney as the check, Cliff's delta as the effect.
fn means(b: &[f64], c: &[f64], alpha: f64) -> Result<MetricComparison, StatsError> {
    let mut result = base(b, c);
    result.estimate = result.challenger - result.baseline;
    let ranks = mann_whitney_u(c, b, RankMethod::Auto)?;
    match welch_t(c, b, alpha) {
        Ok(t) => {
            result.interval = Some(t.interval);
            result.interval_method = "Welch t".to_owned();
            result.test = Some(Test { method: "Welch t".to_owned(), p_value: t.p_value });
            result.checks.push(Test { method: "Mann-Whitney U".to_owned(), p_value: ranks.p_value });
            if 2.0 * alpha < 1.0 {
                result.one_sided_interval = welch_t(c, b, 2.0 * alpha).ok().map(|t| t.interval);
            }
        }
        // Two constant samples: only the rank test has something to say.
        Err(StatsError::ZeroVariance { .. }) => {
            result.interval_method = "none (both arms constant)".to_owned();
            result.test = Some(Test { method: "Mann-Whitney U".to_owned(), p_value: ranks.p_value });
        }
        Err(err) => return Err(err),
    }
    result.effect = Some(Effect { name: "Cliff's delta".to_owned(), value: 2.0 * ranks.superiority - 1.0 });
    Ok(result)
}

/// Latency: Welch on log values, reported as a ratio of geometric means.
fn log_means(b: &[f64], c: &[f64], alpha: f64) -> Result<MetricComparison, StatsError> {
    let logs = |values: &[f64]| values.iter().map(|v| v.ln()).collect::<Vec<f64>>();
    let mut result = means(&logs(b), &logs(c), alpha)?;
    let ratio = result.estimate.exp();
    let interval = result.interval.map(|i| crate::stats::Interval::new(i.lower.exp(), i.upper.exp()));
    result.ratios.push(Ratio { name: "geometric-mean ratio".to_owned(), estimate: ratio, interval });
    result.estimate = median(c) - median(b);
    result.interval = None;
    result.one_sided_interval = None;
    result.interval_method = String::new();
    if let Some(test) = &mut result.test {
        test.method = format!("{} on log latency", test.method);
    }
    Ok(result)
}
