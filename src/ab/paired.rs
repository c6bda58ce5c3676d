//! Paired comparisons of one metric, for arms run on the same cases: McNemar's asymptotic test
//! with Tango's score interval (which inverts it) for pass/fail with one sample per case, the
//! paired t test on case means otherwise (repeats averaged first, which
//! is the clustered-by-case correction), the Wilcoxon signed-rank test as a robustness check,
//! a paired t on log latency (ratio of geometric means) plus a paired bootstrap of the median
//! and mean ratio for latency and cost. Sequential mode swaps the fixed-horizon interval for
//! an always-valid confidence sequence.

use std::borrow::Cow;

use super::analysis::{Decision, Effect, MetricComparison, Ratio, Settings, Test};
use super::columns::Column;
use super::decide::{power_means, power_proportions};
use super::sample::{ArmSample, Metric, mean, median};
use crate::stats::bootstrap::{BootstrapConfig, PairedStatistic, paired_bootstrap};
use crate::stats::latency::geometric_mean_ratio;
use crate::stats::paired::{DiscordantPairs, mcnemar, one_sample_t, sign_test};
use crate::stats::sequential::confidence_sequence;
use crate::stats::signed_rank::signed_rank_differences;
use crate::stats::tango::tango_interval;
use crate::stats::{Interval, RankMethod, StatsError};

/// Cases below which a confidence sequence (an asymptotic method) is not trusted.
const MIN_SEQUENTIAL: usize = 10;

/// Case-level values of both arms on the cases where both have one.
#[derive(Debug, Clone, Default)]
pub(crate) struct Pairs<'a> {
    pub baseline: Cow<'a, [f64]>,
    pub challenger: Cow<'a, [f64]>,
    /// challenger − baseline, case by case (computed once: every test of the metric reads it).
    pub differences: Vec<f64>,
    /// Whether every case has exactly one sample in both arms.
    pub single: bool,
    /// Cases left out because one arm has no sample.
    pub dropped: usize,
}

impl<'a> Pairs<'a> {
    /// The arms of a paired analysis have the same case keys, so their columns line up index
    /// by index. When every case has a value in both arms (the usual case) the columns are
    /// borrowed as they are; otherwise the cases with a value in both are copied out.
    pub(crate) fn collect(baseline: &'a Column, challenger: &'a Column) -> Self {
        let counts = || baseline.samples.iter().zip(&challenger.samples);
        let dropped = counts().filter(|&(&b, &c)| b == 0 || c == 0).count();
        let single = counts().all(|(&b, &c)| (b == 0 || c == 0) || (b == 1 && c == 1));
        let (b, c): (Cow<'a, [f64]>, Cow<'a, [f64]>) = if dropped == 0 {
            (Cow::Borrowed(&baseline.means), Cow::Borrowed(&challenger.means))
        } else {
            let both =
                baseline.means.iter().zip(&challenger.means).zip(counts()).filter(|&(_, (&b, &c))| b > 0 && c > 0);
            let (b, c): (Vec<f64>, Vec<f64>) = both.map(|((&b, &c), _)| (b, c)).unzip();
            (Cow::Owned(b), Cow::Owned(c))
        };
        let differences = c.iter().zip(b.iter()).map(|(c, b)| c - b).collect();
        Self { baseline: b, challenger: c, differences, single, dropped }
    }
}

/// Compares `metric` between two paired arms at interval level 1 − `alpha`; `columns` holds
/// the metric's baseline and challenger columns.
pub(crate) fn compare(
    metric: &Metric,
    (baseline, challenger): (&ArmSample, &ArmSample),
    columns: (&Column, &Column),
    settings: &Settings,
    alpha: f64,
) -> MetricComparison {
    let pairs = Pairs::collect(columns.0, columns.1);
    if pairs.baseline.len() < 2 {
        return MetricComparison::not_tested(metric.clone(), true, missing_reason(metric, baseline, challenger));
    }
    let computed = match metric {
        Metric::PassRate if pairs.single => proportions(&pairs, settings, alpha),
        Metric::PassRate | Metric::Score | Metric::Named(_) => means(metric, &pairs, settings, alpha),
        Metric::Latency => latency(&pairs, settings, alpha),
        Metric::Cost => cost(&pairs, settings, alpha),
    };
    let mut result = match computed {
        Ok(Some(result)) => result,
        Ok(None) => return MetricComparison::not_tested(metric.clone(), true, "no cost was recorded in either arm"),
        Err(err) => return MetricComparison::not_tested(metric.clone(), true, err.to_string()),
    };
    result.metric = metric.clone();
    if pairs.dropped > 0 {
        let dropped = format!("{} case(s) without a valid result in both arms left out", pairs.dropped);
        result.note = Some(result.note.map_or(dropped.clone(), |n| format!("{n}; {dropped}")));
    }
    if pairs.differences.iter().all(|&d| d == 0.0) {
        result.decision = Decision::Identical;
    }
    if let Some(planned) = settings.sequential {
        sequential(&mut result, &pairs, planned, alpha);
    }
    result
}

fn missing_reason(metric: &Metric, baseline: &ArmSample, challenger: &ArmSample) -> String {
    let all_cached = |a: &ArmSample| a.cached > 0 && a.cached + a.errors == a.results;
    match metric {
        Metric::Latency | Metric::Cost if all_cached(baseline) || all_cached(challenger) => {
            "every answer of an arm came from the response cache; run with `--no-cache` to measure it".to_owned()
        }
        _ => format!("fewer than 2 cases have a {} in both arms", metric.label()),
    }
}

fn base(pairs: &Pairs, baseline: f64, challenger: f64) -> MetricComparison {
    MetricComparison {
        paired: true,
        baseline_cases: pairs.baseline.len() + pairs.dropped,
        challenger_cases: pairs.challenger.len(),
        baseline,
        challenger,
        decision: Decision::NotSignificant,
        note: None,
        ..MetricComparison::not_tested(Metric::PassRate, true, "")
    }
}

/// McNemar on paired pass/fail, challenger as the test's "A" so that the difference reads
/// challenger − baseline. The asymptotic test (z = (b − c)/√(b + c)) decides and Tango's score
/// interval, its inversion, is printed beside it, so the two always agree; the exact and mid-p
/// tests are listed as checks (Fagerland, Lydersen & Laake 2013: the exact conditional test is
/// needlessly conservative, about 4% under a 5% level).
fn proportions(pairs: &Pairs, settings: &Settings, alpha: f64) -> Result<Option<MetricComparison>, StatsError> {
    let outcomes = |values: &[f64]| values.iter().map(|&v| v > 0.5).collect::<Vec<bool>>();
    let table = DiscordantPairs::from_outcomes(&outcomes(&pairs.challenger), &outcomes(&pairs.baseline))?;
    let test = mcnemar(table, alpha)?;
    let (rate_b, rate_c) = (mean(&pairs.baseline), mean(&pairs.challenger));
    let mut result = base(pairs, rate_b, rate_c);
    result.estimate = test.difference.estimate;
    result.interval = Some(test.score_interval);
    result.interval_method = "Tango score (inverts the test)".to_owned();
    result.test = Some(Test { method: "McNemar".to_owned(), p_value: test.chi_square.p_value });
    result.checks = vec![
        Test { method: "McNemar exact".to_owned(), p_value: test.exact.p_value },
        Test { method: "McNemar mid-p".to_owned(), p_value: test.mid_p.p_value },
    ];
    result.effect = Some(Effect { name: "Cohen's h".to_owned(), value: cohen_h(rate_c, rate_b) });
    result.one_sided_interval = relaxed(alpha).and_then(|a| tango_interval(table, a).ok());
    result.discordant = Some(table);
    let discordant = table.a_only + table.b_only;
    let psi = discordant as f64 / table.pairs as f64;
    result.power = power_proportions(table.pairs as f64, psi, (rate_b + rate_c) / 2.0, settings);
    Ok(Some(result))
}

/// The level of the interval a non-inferiority margin is checked against: 1 − 2α.
fn relaxed(alpha: f64) -> Option<f64> {
    (2.0 * alpha < 1.0).then_some(2.0 * alpha)
}

/// Cohen's h between two rates: 2·asin√p₁ − 2·asin√p₂.
pub(crate) fn cohen_h(p1: f64, p2: f64) -> f64 {
    2.0 * p1.clamp(0.0, 1.0).sqrt().asin() - 2.0 * p2.clamp(0.0, 1.0).sqrt().asin()
}

/// Paired t on case means, Wilcoxon as the check; a constant non-zero difference falls back to
/// the exact sign test.
fn means(
    metric: &Metric,
    pairs: &Pairs,
    settings: &Settings,
    alpha: f64,
) -> Result<Option<MetricComparison>, StatsError> {
    let differences = &pairs.differences;
    let mut result = base(pairs, mean(&pairs.baseline), mean(&pairs.challenger));
    let method = if *metric == Metric::PassRate { "paired t on case means" } else { "paired t" };
    t_or_sign(&mut result, differences, pairs, method, alpha)?;
    if let Ok(t) = one_sample_t(differences, alpha) {
        result.effect = Some(Effect { name: "Cohen's d_z".to_owned(), value: t.cohen_dz });
        result.power = power_means(differences.len() as f64, t.sd_difference, settings);
    }
    Ok(Some(result))
}

/// Fills estimate, interval, test and checks from the paired t test of `differences`, or from
/// the sign test when every case moved by the same non-zero amount.
fn t_or_sign(
    result: &mut MetricComparison,
    differences: &[f64],
    pairs: &Pairs,
    method: &str,
    alpha: f64,
) -> Result<(), StatsError> {
    result.estimate = mean(differences);
    match one_sample_t(differences, alpha) {
        Ok(t) => {
            result.interval = Some(t.test.interval);
            result.interval_method = "t".to_owned();
            result.test = Some(Test { method: method.to_owned(), p_value: t.test.p_value });
            // Every difference zero gives the point [0, 0]: no information about a margin.
            result.one_sided_interval = relaxed(alpha)
                .and_then(|a| one_sample_t(differences, a).ok())
                .map(|t| t.test.interval)
                .filter(|i| i.width() > 0.0);
        }
        Err(StatsError::ZeroVariance { mean }) => {
            let sign = sign_test(&pairs.challenger, &pairs.baseline)?;
            result.interval = Some(Interval::new(mean, mean));
            result.interval_method = "none (every case moved by the same amount)".to_owned();
            result.test = Some(Test { method: "sign test".to_owned(), p_value: sign.p_value });
            // A point says nothing about how far the difference could be: no margin can be
            // checked against it.
            result.one_sided_interval = None;
        }
        Err(err) => return Err(err),
    }
    let wilcoxon = signed_rank_differences(differences, RankMethod::Auto)?;
    result.checks.push(Test { method: "Wilcoxon signed-rank".to_owned(), p_value: wilcoxon.p_value });
    Ok(())
}

fn bootstrap(
    pairs: &Pairs,
    statistic: PairedStatistic,
    settings: &Settings,
    alpha: f64,
) -> Option<crate::stats::bootstrap::Bootstrap> {
    let resamples = settings.resamples_for(pairs.baseline.len())?;
    let bca = settings.bca_for(pairs.baseline.len());
    let config = BootstrapConfig { resamples, seed: settings.seed, alpha, bca };
    paired_bootstrap(&pairs.challenger, &pairs.baseline, statistic, config).ok()
}

fn bootstrap_interval(found: &crate::stats::bootstrap::Bootstrap) -> Interval {
    found.bca.unwrap_or(found.percentile)
}

/// Latency: the median difference (bootstrap interval), decided by a paired t on log latency
/// (ratio of geometric means); the bootstrap mean ratio as a second view.
fn latency(pairs: &Pairs, settings: &Settings, alpha: f64) -> Result<Option<MetricComparison>, StatsError> {
    let mut result = base(pairs, median(&pairs.baseline), median(&pairs.challenger));
    result.estimate = result.challenger - result.baseline;
    let positive = pairs.baseline.iter().chain(pairs.challenger.iter()).all(|&v| v > 0.0);
    if positive {
        match geometric_mean_ratio(&pairs.challenger, &pairs.baseline, alpha) {
            Ok(ratio) => {
                result.test =
                    Some(Test { method: "paired t on log latency".to_owned(), p_value: ratio.log_test.test.p_value });
                result.ratios.push(Ratio {
                    name: "geometric-mean ratio".to_owned(),
                    estimate: ratio.ratio,
                    interval: Some(ratio.interval),
                });
            }
            Err(StatsError::ZeroVariance { mean }) => {
                let sign = sign_test(&pairs.challenger, &pairs.baseline)?;
                result.test = Some(Test { method: "sign test".to_owned(), p_value: sign.p_value });
                result.ratios.push(Ratio {
                    name: "geometric-mean ratio".to_owned(),
                    estimate: mean.exp(),
                    interval: None,
                });
            }
            Err(err) => return Err(err),
        }
    } else {
        let mut scratch = result.clone();
        t_or_sign(&mut scratch, &pairs.differences, pairs, "paired t", alpha)?;
        result.test = scratch.test;
    }
    result.checks.push(Test {
        method: "Wilcoxon signed-rank".to_owned(),
        p_value: signed_rank_differences(&pairs.differences, RankMethod::Auto)?.p_value,
    });
    bootstrap_views(&mut result, pairs, settings, alpha);
    Ok(Some(result))
}

/// The bootstrap interval of the median difference and the bootstrap mean ratio, or a note
/// when the suite is too large for the bootstrap budget.
fn bootstrap_views(result: &mut MetricComparison, pairs: &Pairs, settings: &Settings, alpha: f64) {
    if settings.resamples_for(pairs.baseline.len()).is_none() {
        result.note = Some("bootstrap skipped for a suite this large: closed-form tests only".to_owned());
        return;
    }
    if let Some(found) = bootstrap(pairs, PairedStatistic::MedianDifference, settings, alpha) {
        result.interval = Some(bootstrap_interval(&found));
        result.interval_method = format!("paired bootstrap, {} resamples", found.resamples);
        if !settings.bca_for(pairs.baseline.len()) {
            result.interval_method.push_str(", percentile (no BCa for a suite this large)");
        }
    }
    if pairs.baseline.iter().sum::<f64>() > 0.0
        && let Some(found) = bootstrap(pairs, PairedStatistic::RatioOfSums, settings, alpha)
    {
        let interval = Some(bootstrap_interval(&found));
        result.ratios.push(Ratio { name: "mean ratio".to_owned(), estimate: found.estimate, interval });
    }
}

/// Cost: the mean difference by paired t (sign test if constant), the bootstrap mean ratio.
fn cost(pairs: &Pairs, settings: &Settings, alpha: f64) -> Result<Option<MetricComparison>, StatsError> {
    if pairs.baseline.iter().chain(pairs.challenger.iter()).all(|&v| v == 0.0) {
        return Ok(None);
    }
    let mut result = base(pairs, mean(&pairs.baseline), mean(&pairs.challenger));
    t_or_sign(&mut result, &pairs.differences, pairs, "paired t", alpha)?;
    if pairs.baseline.iter().sum::<f64>() > 0.0
        && let Some(found) = bootstrap(pairs, PairedStatistic::RatioOfSums, settings, alpha)
    {
        let interval = Some(bootstrap_interval(&found));
        result.ratios.push(Ratio { name: "mean ratio".to_owned(), estimate: found.estimate, interval });
    }
    Ok(Some(result))
}

/// Replaces the fixed-horizon decision by the always-valid confidence sequence on the case
/// differences; the fixed-horizon test stays as a check, for reference only.
fn sequential(result: &mut MetricComparison, pairs: &Pairs, planned: usize, alpha: f64) {
    if let Some(test) = result.test.take() {
        result
            .checks
            .insert(0, Test { method: format!("{} (fixed horizon, not valid under peeking)", test.method), ..test });
    }
    result.ratios.clear();
    result.power = None;
    result.one_sided_interval = None;
    let differences = &pairs.differences;
    if differences.len() < MIN_SEQUENTIAL {
        result.interval = None;
        result.decision = Decision::NotTested;
        result.note = Some(format!("a confidence sequence needs at least {MIN_SEQUENTIAL} paired cases"));
        return;
    }
    match confidence_sequence(differences, planned as f64, alpha) {
        Ok(sequence) => {
            result.estimate = sequence.mean;
            result.interval = Some(sequence.interval);
            result.one_sided_interval = Some(sequence.interval);
            result.interval_method = format!("confidence sequence (always valid), tuned to {planned} cases");
        }
        Err(err) => {
            result.interval = None;
            result.decision = Decision::NotTested;
            result.note = Some(err.to_string());
        }
    }
}
