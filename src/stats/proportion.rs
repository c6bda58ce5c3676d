//! Rates: the interval of one pass rate (Wilson by default, Clopper-Pearson on request) and the
//! comparison of two rates measured on *different* cases (pooled z, Fisher's exact test, the
//! Newcombe interval of the difference). Paired rates (same cases, two arms) belong to
//! [`super::paired`], which is what promptops usually runs.

use serde::Serialize;
use statrs::function::beta::inv_beta_reg;
use statrs::stats_tests::{Alternative, fishers_exact};

use super::common::check_probability;
use super::dist::{normal_two_sided_p, z_quantile};
use super::{Interval, Result, StatsError, TestResult};

/// Successes out of trials for one arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Passing cases.
    pub successes: u64,
    /// All cases.
    pub trials: u64,
}

impl Counts {
    /// `successes` out of `trials`.
    pub fn new(successes: u64, trials: u64) -> Self {
        Self { successes, trials }
    }

    /// Checks there is at least one trial and no more successes than trials; returns the rate.
    fn rate(&self, name: &'static str) -> Result<f64> {
        if self.trials == 0 {
            return Err(StatsError::TooFewObservations { name, needed: 1, got: 0 });
        }
        if self.successes > self.trials {
            return Err(StatsError::CountExceedsTotal { name, successes: self.successes, trials: self.trials });
        }
        Ok(self.successes as f64 / self.trials as f64)
    }
}

/// Wilson score interval for a rate at level 1 − `alpha`. The default for one arm: it stays
/// inside [0, 1] and keeps close to nominal coverage even at 0 or n successes, where the
/// textbook Wald interval collapses to a point.
pub fn wilson(counts: Counts, alpha: f64) -> Result<Interval> {
    let rate = counts.rate("counts")?;
    let z = z_quantile(1.0 - check_probability("alpha", alpha)? / 2.0);
    let n = counts.trials as f64;
    let shrink = 1.0 + z * z / n;
    let center = (rate + z * z / (2.0 * n)) / shrink;
    let half = z / shrink * (rate * (1.0 - rate) / n + z * z / (4.0 * n * n)).sqrt();
    // At 0 (or n) successes the bound is exactly 0 (or 1); the formula leaves rounding dust there.
    let lower = if counts.successes == 0 { 0.0 } else { (center - half).max(0.0) };
    let upper = if counts.successes == counts.trials { 1.0 } else { (center + half).min(1.0) };
    Ok(Interval::new(lower, upper))
}

/// Clopper-Pearson ("exact") interval from beta quantiles: conservative, wider than Wilson;
/// use it when a guaranteed coverage of at least 1 − `alpha` matters more than width.
pub fn clopper_pearson(counts: Counts, alpha: f64) -> Result<Interval> {
    counts.rate("counts")?;
    let alpha = check_probability("alpha", alpha)?;
    let (x, n) = (counts.successes as f64, counts.trials as f64);
    // At 0 (or n) successes the beta parameter would be zero; the bound is 0 (or 1) by definition.
    let lower = if counts.successes == 0 { 0.0 } else { inv_beta_reg(x, n - x + 1.0, alpha / 2.0) };
    let upper = if counts.successes == counts.trials { 1.0 } else { inv_beta_reg(x + 1.0, n - x, 1.0 - alpha / 2.0) };
    Ok(Interval::new(lower, upper))
}

/// One-sided upper bound at level 1 − `alpha` on a failure rate after `trials` runs with no
/// failure: 1 − α^(1/n), which the "rule of three" (3/n at 95%) approximates.
pub fn zero_failure_upper_bound(trials: u64, alpha: f64) -> Result<f64> {
    let alpha = check_probability("alpha", alpha)?;
    if trials == 0 {
        return Err(StatsError::TooFewObservations { name: "trials", needed: 1, got: 0 });
    }
    Ok(1.0 - alpha.powf(1.0 / trials as f64))
}

/// Pooled two-proportion z test of A against B; the statistic is positive when A's rate is higher.
/// When both arms are all passes (or all failures) the pooled variance is zero: z = 0, p = 1.
pub fn two_proportion_z(a: Counts, b: Counts) -> Result<TestResult> {
    let (rate_a, rate_b) = (a.rate("a")?, b.rate("b")?);
    let (n_a, n_b) = (a.trials as f64, b.trials as f64);
    let pooled = (a.successes + b.successes) as f64 / (n_a + n_b);
    let se = (pooled * (1.0 - pooled) * (1.0 / n_a + 1.0 / n_b)).sqrt();
    if se == 0.0 {
        return Ok(TestResult { statistic: 0.0, p_value: 1.0 });
    }
    let z = (rate_a - rate_b) / se;
    Ok(TestResult { statistic: z, p_value: normal_two_sided_p(z) })
}

/// Fisher's exact two-sided test of the 2×2 table (A pass, A fail / B pass, B fail); returns the
/// p-value. Preferred over the z test when an expected cell count is below 5.
pub fn fisher_exact(a: Counts, b: Counts) -> Result<f64> {
    a.rate("a")?;
    b.rate("b")?;
    let table = [a.successes, a.trials - a.successes, b.successes, b.trials - b.successes];
    let p = fishers_exact(&table, Alternative::TwoSided).map_err(|_| StatsError::InvalidParameter {
        name: "table",
        value: (a.trials + b.trials) as f64,
        expected: "a 2x2 table statrs accepts",
    })?;
    Ok(p.clamp(0.0, 1.0))
}

/// Newcombe's hybrid score interval for the difference of rates A − B, built from the two Wilson
/// intervals; unlike the Wald interval it behaves near 0 and 1.
pub fn newcombe(a: Counts, b: Counts, alpha: f64) -> Result<Interval> {
    let (rate_a, rate_b) = (a.rate("a")?, b.rate("b")?);
    let (wilson_a, wilson_b) = (wilson(a, alpha)?, wilson(b, alpha)?);
    let difference = rate_a - rate_b;
    let below = ((rate_a - wilson_a.lower).powi(2) + (wilson_b.upper - rate_b).powi(2)).sqrt();
    let above = ((wilson_a.upper - rate_a).powi(2) + (rate_b - wilson_b.lower).powi(2)).sqrt();
    Ok(Interval::new(difference - below, difference + above))
}

/// Everything about two independent rates that a report shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TwoProportions {
    /// A's pass rate.
    pub rate_a: f64,
    /// B's pass rate.
    pub rate_b: f64,
    /// `rate_a − rate_b`.
    pub difference: f64,
    /// Newcombe interval of the difference.
    pub interval: Interval,
    /// Pooled z test.
    pub z_test: TestResult,
    /// Fisher's exact two-sided p-value.
    pub fisher_p: f64,
    /// Whether some expected cell count is below 5, where the z test is unreliable.
    pub small_expected_count: bool,
    /// The p-value to report: Fisher's when `small_expected_count`, else the z test's.
    pub p_value: f64,
}

/// Compares two independent rates at level 1 − `alpha`, picking the test the brief's decision
/// table prescribes (Fisher when an expected count is small, else pooled z).
pub fn compare_proportions(a: Counts, b: Counts, alpha: f64) -> Result<TwoProportions> {
    let (rate_a, rate_b) = (a.rate("a")?, b.rate("b")?);
    let interval = newcombe(a, b, alpha)?;
    let z_test = two_proportion_z(a, b)?;
    let fisher_p = fisher_exact(a, b)?;
    let small_expected_count = smallest_expected_count(a, b) < 5.0;
    let p_value = if small_expected_count { fisher_p } else { z_test.p_value };
    Ok(TwoProportions {
        rate_a,
        rate_b,
        difference: rate_a - rate_b,
        interval,
        z_test,
        fisher_p,
        small_expected_count,
        p_value,
    })
}

/// The smallest expected count of the 2×2 table under equal rates: row total × column total / N.
fn smallest_expected_count(a: Counts, b: Counts) -> f64 {
    let total = (a.trials + b.trials) as f64;
    let passes = (a.successes + b.successes) as f64;
    let smallest_row = a.trials.min(b.trials) as f64;
    smallest_row * passes.min(total - passes) / total
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::stats::golden;

    #[test]
    fn wilson_matches_golden_g3() {
        let g = golden::vector("wilson_ci");
        let counts = Counts::new(g.number("/inputs/x") as u64, g.number("/inputs/n") as u64);
        let alpha = 1.0 - g.number("/inputs/conf");
        let interval = wilson(counts, alpha).unwrap();
        g.assert_close("/expected/wilson/0", interval.lower);
        g.assert_close("/expected/wilson/1", interval.upper);
        g.assert_close("/expected/z", z_quantile(1.0 - alpha / 2.0));
        g.assert_close("/expected/p_hat", counts.rate("x").unwrap());
    }

    #[test]
    fn clopper_pearson_matches_golden_g3() {
        let g = golden::vector("wilson_ci");
        let interval = clopper_pearson(Counts::new(37, 50), 0.05).unwrap();
        g.assert_close("/expected/clopper_pearson/0", interval.lower);
        g.assert_close("/expected/clopper_pearson/1", interval.upper);
    }

    #[test]
    fn two_independent_rates_match_golden_g11() {
        let g = golden::vector("two_proportions");
        let a = Counts::new(g.number("/inputs/x1") as u64, g.number("/inputs/n1") as u64);
        let b = Counts::new(g.number("/inputs/x2") as u64, g.number("/inputs/n2") as u64);
        let result = compare_proportions(a, b, 0.05).unwrap();
        g.assert_close("/expected/pooled_z", result.z_test.statistic);
        g.assert_close("/expected/pooled_z_p", result.z_test.p_value);
        g.assert_close("/expected/fisher_exact_p", result.fisher_p);
        g.assert_close("/expected/newcombe_diff_ci95/0", result.interval.lower);
        g.assert_close("/expected/newcombe_diff_ci95/1", result.interval.upper);
        assert!(!result.small_expected_count);
        assert_eq!(result.p_value, result.z_test.p_value);
    }

    #[test]
    fn small_expected_counts_report_fishers_p() {
        let result = compare_proportions(Counts::new(3, 10), Counts::new(9, 10), 0.05).unwrap();
        assert!(result.small_expected_count);
        assert_eq!(result.p_value, result.fisher_p);
    }

    #[test]
    fn zero_failures_in_thirty_runs_bound_the_rate_at_9_5_percent() {
        assert!((zero_failure_upper_bound(30, 0.05).unwrap() - 0.0950).abs() < 1e-4);
    }

    #[test]
    fn all_passes_in_both_arms_give_p_one() {
        let result = two_proportion_z(Counts::new(20, 20), Counts::new(30, 30)).unwrap();
        assert_eq!(result, TestResult { statistic: 0.0, p_value: 1.0 });
    }

    #[test]
    fn extreme_counts_give_intervals_touching_the_bounds() {
        assert_eq!(wilson(Counts::new(0, 10), 0.05).unwrap().lower, 0.0);
        assert_eq!(wilson(Counts::new(10, 10), 0.05).unwrap().upper, 1.0);
        assert_eq!(clopper_pearson(Counts::new(0, 10), 0.05).unwrap().lower, 0.0);
        assert_eq!(clopper_pearson(Counts::new(10, 10), 0.05).unwrap().upper, 1.0);
    }

    #[test]
    fn invalid_counts_and_levels_are_errors() {
        assert!(matches!(wilson(Counts::new(0, 0), 0.05), Err(StatsError::TooFewObservations { .. })));
        assert!(matches!(wilson(Counts::new(5, 4), 0.05), Err(StatsError::CountExceedsTotal { .. })));
        assert!(matches!(wilson(Counts::new(1, 4), 1.5), Err(StatsError::ProbabilityOutOfRange { .. })));
        assert!(matches!(clopper_pearson(Counts::new(1, 4), 0.0), Err(StatsError::ProbabilityOutOfRange { .. })));
    }

    fn counts() -> impl Strategy<Value = Counts> {
        (1u64..500).prop_flat_map(|n| (0..=n).prop_map(move |x| Counts::new(x, n)))
    }

    proptest! {
        #[test]
        fn intervals_contain_the_observed_rate(c in counts(), alpha in 0.001f64..0.5) {
            let rate = c.successes as f64 / c.trials as f64;
            prop_assert!(wilson(c, alpha).unwrap().contains(rate));
            prop_assert!(clopper_pearson(c, alpha).unwrap().contains(rate));
        }

        #[test]
        fn newcombe_contains_the_difference(a in counts(), b in counts()) {
            let difference = a.successes as f64 / a.trials as f64 - b.successes as f64 / b.trials as f64;
            prop_assert!(newcombe(a, b, 0.05).unwrap().contains(difference));
        }

        #[test]
        fn swapping_arms_flips_the_difference_and_keeps_p(a in counts(), b in counts()) {
            let forward = compare_proportions(a, b, 0.05).unwrap();
            let backward = compare_proportions(b, a, 0.05).unwrap();
            prop_assert_eq!(forward.difference, -backward.difference);
            prop_assert!((forward.z_test.p_value - backward.z_test.p_value).abs() < 1e-12);
            prop_assert!((forward.fisher_p - backward.fisher_p).abs() < 1e-9);
            prop_assert!((forward.interval.lower + backward.interval.upper).abs() < 1e-12);
        }

        #[test]
        fn p_values_are_probabilities(a in counts(), b in counts()) {
            let result = compare_proportions(a, b, 0.05).unwrap();
            prop_assert!((0.0..=1.0).contains(&result.z_test.p_value));
            prop_assert!((0.0..=1.0).contains(&result.fisher_p));
        }
    }
}
