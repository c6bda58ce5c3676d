//! Paired comparisons, where every case ran under both arms: McNemar's test for pass/fail, the
//! paired t test for numbers, and the sign test for preferences and as a fallback. Pairing
//! removes the case-to-case variation, which is why promptops runs every case under every arm.
//! The Wilcoxon signed-rank test lives in [`super::signed_rank`].

use serde::{Deserialize, Serialize};

use super::common::{check_probability, check_sample, mean, paired_differences, sample_variance};
use super::dist::{chi2_1_sf, fair_coin_two_sided, t_test, z_quantile};
use super::{Estimate, Interval, Result, StatsError, TTest, TestResult};

/// The discordant cells of a paired pass/fail table: only they carry evidence about a difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscordantPairs {
    /// Cases A passed and B failed (the brief's `b`).
    pub a_only: u64,
    /// Cases B passed and A failed (the brief's `c`).
    pub b_only: u64,
    /// All paired cases, concordant ones included.
    pub pairs: u64,
}

impl DiscordantPairs {
    /// The table from its three counts.
    pub fn new(a_only: u64, b_only: u64, pairs: u64) -> Self {
        Self { a_only, b_only, pairs }
    }

    /// Counts the table from per-case outcomes of the two arms (index i = case i in both).
    pub fn from_outcomes(a: &[bool], b: &[bool]) -> Result<Self> {
        if a.len() != b.len() {
            return Err(StatsError::LengthMismatch { a: a.len(), b: b.len() });
        }
        let a_only = a.iter().zip(b).filter(|&(&x, &y)| x && !y).count() as u64;
        let b_only = a.iter().zip(b).filter(|&(&x, &y)| !x && y).count() as u64;
        Ok(Self { a_only, b_only, pairs: a.len() as u64 })
    }

    pub(crate) fn check(&self) -> Result<()> {
        if self.pairs == 0 {
            return Err(StatsError::TooFewObservations { name: "pairs", needed: 1, got: 0 });
        }
        let discordant = self.a_only.saturating_add(self.b_only);
        if discordant > self.pairs {
            return Err(StatsError::CountExceedsTotal { name: "pairs", successes: discordant, trials: self.pairs });
        }
        Ok(())
    }
}

/// McNemar's test of paired pass rates, in its variants, with the rate difference.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct McNemar {
    /// The table tested.
    pub counts: DiscordantPairs,
    /// Exact binomial test on the discordant pairs (the default); statistic = `a_only`.
    pub exact: TestResult,
    /// Mid-p variant of the exact test: less conservative, close to nominal size.
    pub mid_p: TestResult,
    /// χ² = (b − c)²/(b + c) without correction.
    pub chi_square: TestResult,
    /// χ² with the continuity correction, (|b − c| − 1)²/(b + c); for display when b + c ≥ 25.
    pub chi_square_corrected: TestResult,
    /// Difference of pass rates A − B = (b − c)/n with its Wald standard error and interval.
    /// The Wald interval is poor with few discordant pairs: prefer `score_interval`.
    pub difference: Estimate,
    /// Tango's score interval of the difference at level 1 − α: the inversion of the χ² test
    /// without correction (the asymptotic McNemar test), so it excludes 0 exactly when that test
    /// rejects; see [`super::tango`].
    pub score_interval: Interval,
}

/// McNemar's test for paired pass/fail outcomes, interval at level 1 − `alpha`. With no
/// discordant pairs there is no evidence of a difference: every p-value is 1.
pub fn mcnemar(counts: DiscordantPairs, alpha: f64) -> Result<McNemar> {
    counts.check()?;
    let alpha = check_probability("alpha", alpha)?;
    let (b, c, n) = (counts.a_only as f64, counts.b_only as f64, counts.pairs as f64);
    let discordant = counts.a_only + counts.b_only;
    let (exact_p, mid_p) = fair_coin_two_sided(counts.a_only, discordant);
    let exact = TestResult { statistic: b, p_value: exact_p };
    let mid_p = TestResult { statistic: b, p_value: mid_p };
    let chi_square = chi_square_test((b - c).powi(2), b + c);
    // The correction never pushes |b − c| past zero: b = c stays χ² = 0, p = 1.
    let chi_square_corrected = chi_square_test(((b - c).abs() - 1.0).max(0.0).powi(2), b + c);
    let estimate = (b - c) / n;
    // max(0) only absorbs rounding; b + c ≥ (b − c)²/n always holds for counts.
    let standard_error = (b + c - (b - c).powi(2) / n).max(0.0).sqrt() / n;
    let half_width = z_quantile(1.0 - alpha / 2.0) * standard_error;
    let difference = Estimate { estimate, standard_error, interval: Interval::around(estimate, half_width) };
    let score_interval = super::tango::tango_interval(counts, alpha)?;
    Ok(McNemar { counts, exact, mid_p, chi_square, chi_square_corrected, difference, score_interval })
}

fn chi_square_test(numerator: f64, discordant: f64) -> TestResult {
    if discordant == 0.0 {
        return TestResult { statistic: 0.0, p_value: 1.0 };
    }
    let statistic = numerator / discordant;
    TestResult { statistic, p_value: chi2_1_sf(statistic).min(1.0) }
}

/// The sign test: wins and losses of A over B, ties set aside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SignCounts {
    /// Cases where A is ahead.
    pub wins: u64,
    /// Cases where B is ahead.
    pub losses: u64,
    /// Cases with no difference (ignored by the test).
    pub ties: u64,
}

/// The sign test's result.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SignTest {
    /// The counts tested.
    pub counts: SignCounts,
    /// Exact two-sided binomial p-value of wins against losses under p = ½ (1 when all tie).
    pub p_value: f64,
}

/// Exact sign test on counts, e.g. judge preferences (a case counts as a win only when the
/// judge preferred A in both orders; see the brief §11).
pub fn sign_test_counts(counts: SignCounts) -> SignTest {
    let (p_value, _) = fair_coin_two_sided(counts.wins, counts.wins.saturating_add(counts.losses));
    SignTest { counts, p_value }
}

/// Exact sign test of paired numbers: distribution-free, uses only the direction of each case.
pub fn sign_test(a: &[f64], b: &[f64]) -> Result<SignTest> {
    let differences = paired_differences(a, b, 1)?;
    let wins = differences.iter().filter(|&&d| d > 0.0).count() as u64;
    let losses = differences.iter().filter(|&&d| d < 0.0).count() as u64;
    let ties = differences.len() as u64 - wins - losses;
    Ok(sign_test_counts(SignCounts { wins, losses, ties }))
}

/// The paired t test with the standardized effect size.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairedT {
    /// Number of pairs.
    pub n: usize,
    /// Standard deviation of the differences (divisor n − 1).
    pub sd_difference: f64,
    /// Cohen's d_z = mean difference / sd of differences (0 when every difference is 0).
    pub cohen_dz: f64,
    /// The test of the mean difference A − B, df = n − 1.
    pub test: TTest,
}

/// Paired t test of A − B over cases, interval at level 1 − `alpha`.
///
/// When every difference is identical the standard error is zero: identical zeros give
/// t = 0, p = 1 and the interval [0, 0]; an identical non-zero difference is
/// [`StatsError::ZeroVariance`], because an infinite t from a handful of cases overstates the
/// evidence. Fall back to [`sign_test`] then.
pub fn paired_t(a: &[f64], b: &[f64], alpha: f64) -> Result<PairedT> {
    one_sample_t(&paired_differences(a, b, 2)?, alpha)
}

/// The paired t test on precomputed differences (case-mean differences, log ratios).
/// Same conventions as [`paired_t`].
pub fn one_sample_t(differences: &[f64], alpha: f64) -> Result<PairedT> {
    check_sample("differences", differences, 2)?;
    let alpha = check_probability("alpha", alpha)?;
    let n = differences.len();
    let mean_difference = mean(differences);
    let df = (n - 1) as f64;
    if differences.iter().all(|&d| d == differences[0]) {
        return constant_differences(differences[0], n, df);
    }
    let sd_difference = sample_variance(differences, mean_difference).sqrt();
    let se = sd_difference / (n as f64).sqrt();
    let test = t_test(mean_difference, se, df, alpha)?;
    Ok(PairedT { n, sd_difference, cohen_dz: mean_difference / sd_difference, test })
}

/// The documented answer for differences that never vary (see [`paired_t`]).
fn constant_differences(value: f64, n: usize, df: f64) -> Result<PairedT> {
    if value != 0.0 {
        return Err(StatsError::ZeroVariance { mean: value });
    }
    let test = TTest {
        estimate: 0.0,
        standard_error: 0.0,
        statistic: 0.0,
        df,
        p_value: 1.0,
        interval: Interval::new(0.0, 0.0),
    };
    Ok(PairedT { n, sd_difference: 0.0, cohen_dz: 0.0, test })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::stats::golden;

    #[test]
    fn mcnemar_matches_golden_g1() {
        let g = golden::vector("mcnemar");
        let counts = DiscordantPairs::new(
            g.number("/inputs/b") as u64,
            g.number("/inputs/c") as u64,
            g.number("/inputs/n_pairs") as u64,
        );
        let result = mcnemar(counts, 0.05).unwrap();
        g.assert_close("/expected/exact_p_two_sided", result.exact.p_value);
        g.assert_close("/expected/mid_p_two_sided", result.mid_p.p_value);
        g.assert_close("/expected/chi2_cc", result.chi_square_corrected.statistic);
        g.assert_close("/expected/chi2_cc_p", result.chi_square_corrected.p_value);
        g.assert_close("/expected/chi2", result.chi_square.statistic);
        g.assert_close("/expected/chi2_p", result.chi_square.p_value);
        g.assert_close("/expected/diff", result.difference.estimate);
        g.assert_close("/expected/diff_se_wald", result.difference.standard_error);
        g.assert_close("/expected/diff_ci95_wald/0", result.difference.interval.lower);
        g.assert_close("/expected/diff_ci95_wald/1", result.difference.interval.upper);
    }

    #[test]
    fn mcnemar_matches_statsmodels() {
        let g = golden::vector("mcnemar_statsmodels");
        for row in g.rows("/expected/rows") {
            let counts = DiscordantPairs::new(row[0] as u64, row[1] as u64, row[2] as u64);
            let result = mcnemar(counts, 0.05).unwrap();
            assert!((result.exact.p_value - row[3]).abs() < g.tolerance, "{row:?}: {result:?}");
            assert!((result.chi_square.p_value - row[4]).abs() < g.tolerance, "{row:?}: {result:?}");
        }
    }

    #[test]
    fn paired_t_matches_golden_g2() {
        let g = golden::vector("paired_t_and_wilcoxon");
        let result = paired_t(&g.numbers("/inputs/a"), &g.numbers("/inputs/b"), 0.05).unwrap();
        g.assert_close("/expected/mean_diff", result.test.estimate);
        g.assert_close("/expected/sd_diff", result.sd_difference);
        g.assert_close("/expected/se", result.test.standard_error);
        g.assert_close("/expected/t", result.test.statistic);
        g.assert_close("/expected/df", result.test.df);
        g.assert_close("/expected/p_two_sided", result.test.p_value);
        g.assert_close("/expected/ci95/0", result.test.interval.lower);
        g.assert_close("/expected/ci95/1", result.test.interval.upper);
        g.assert_close("/expected/cohen_dz", result.cohen_dz);
        let critical = (result.test.interval.upper - result.test.estimate) / result.test.standard_error;
        g.assert_close("/expected/t_crit_975", critical);
    }

    #[test]
    fn sign_test_matches_golden_g2() {
        let g = golden::vector("paired_t_and_wilcoxon");
        let result = sign_test(&g.numbers("/inputs/a"), &g.numbers("/inputs/b")).unwrap();
        assert_eq!(result.counts, SignCounts { wins: 8, losses: 2, ties: 0 });
        g.assert_close("/expected/sign_test_p", result.p_value);
    }

    #[test]
    fn mcnemar_without_discordant_pairs_gives_p_one() {
        let result = mcnemar(DiscordantPairs::new(0, 0, 40), 0.05).unwrap();
        assert_eq!(result.exact.p_value, 1.0);
        assert_eq!(result.mid_p.p_value, 1.0);
        assert_eq!(result.chi_square.p_value, 1.0);
        assert_eq!(result.chi_square_corrected.p_value, 1.0);
        assert_eq!(result.difference.interval, Interval::new(0.0, 0.0));
    }

    #[test]
    fn mcnemar_counts_outcomes_per_case() {
        let a = [true, true, false, false, true];
        let b = [false, true, true, false, false];
        assert_eq!(DiscordantPairs::from_outcomes(&a, &b).unwrap(), DiscordantPairs::new(2, 1, 5));
    }

    #[test]
    fn mcnemar_rejects_more_discordant_pairs_than_pairs() {
        let error = mcnemar(DiscordantPairs::new(3, 3, 5), 0.05).unwrap_err();
        assert!(matches!(error, StatsError::CountExceedsTotal { .. }));
        assert!(matches!(mcnemar(DiscordantPairs::new(0, 0, 0), 0.05), Err(StatsError::TooFewObservations { .. })));
    }

    #[test]
    fn identical_arms_give_p_one_and_a_zero_interval() {
        let scores = [0.5, 0.7, 0.9];
        let result = paired_t(&scores, &scores, 0.05).unwrap();
        assert_eq!(result.test.p_value, 1.0);
        assert_eq!(result.test.interval, Interval::new(0.0, 0.0));
    }

    #[test]
    fn a_constant_non_zero_difference_is_a_zero_variance_error() {
        let error = paired_t(&[2.0, 3.0, 4.0], &[1.0, 2.0, 3.0], 0.05).unwrap_err();
        assert_eq!(error, StatsError::ZeroVariance { mean: 1.0 });
    }

    #[test]
    fn paired_t_needs_two_pairs_and_equal_lengths() {
        assert!(matches!(paired_t(&[1.0], &[2.0], 0.05), Err(StatsError::TooFewObservations { .. })));
        assert!(matches!(paired_t(&[1.0, 2.0], &[2.0], 0.05), Err(StatsError::LengthMismatch { .. })));
        assert!(matches!(paired_t(&[1.0, f64::INFINITY], &[2.0, 1.0], 0.05), Err(StatsError::NotFinite { .. })));
    }

    #[test]
    fn all_ties_give_a_sign_test_p_of_one() {
        assert_eq!(sign_test(&[1.0, 2.0], &[1.0, 2.0]).unwrap().p_value, 1.0);
    }

    fn pairs() -> impl Strategy<Value = (Vec<f64>, Vec<f64>)> {
        (2usize..40).prop_flat_map(|n| {
            (proptest::collection::vec(0.0f64..100.0, n), proptest::collection::vec(0.0f64..100.0, n))
        })
    }

    fn table() -> impl Strategy<Value = DiscordantPairs> {
        (1u64..300).prop_flat_map(|n| {
            (0..=n).prop_flat_map(move |b| (0..=n - b).prop_map(move |c| DiscordantPairs::new(b, c, n)))
        })
    }

    proptest! {
        #[test]
        fn mcnemar_p_values_are_probabilities(counts in table()) {
            let result = mcnemar(counts, 0.05).unwrap();
            for test in [result.exact, result.mid_p, result.chi_square, result.chi_square_corrected] {
                prop_assert!((0.0..=1.0).contains(&test.p_value));
            }
            prop_assert!(result.difference.interval.contains(result.difference.estimate));
        }

        #[test]
        fn swapping_arms_in_mcnemar_flips_the_difference(counts in table()) {
            let swapped = DiscordantPairs::new(counts.b_only, counts.a_only, counts.pairs);
            let (forward, backward) = (mcnemar(counts, 0.05).unwrap(), mcnemar(swapped, 0.05).unwrap());
            prop_assert_eq!(forward.difference.estimate, -backward.difference.estimate);
            prop_assert_eq!(forward.exact.p_value, backward.exact.p_value);
            prop_assert_eq!(forward.mid_p.p_value, backward.mid_p.p_value);
        }

        #[test]
        fn paired_t_interval_contains_the_mean_and_p_is_a_probability((a, b) in pairs()) {
            if let Ok(result) = paired_t(&a, &b, 0.05) {
                prop_assert!((0.0..=1.0).contains(&result.test.p_value));
                prop_assert!(result.test.interval.contains(result.test.estimate));
            }
        }

        #[test]
        fn swapping_arms_in_paired_t_flips_the_sign_and_keeps_p((a, b) in pairs()) {
            if let (Ok(forward), Ok(backward)) = (paired_t(&a, &b, 0.05), paired_t(&b, &a, 0.05)) {
                prop_assert!((forward.test.estimate + backward.test.estimate).abs() < 1e-9);
                prop_assert!((forward.test.p_value - backward.test.p_value).abs() < 1e-12);
                prop_assert!((forward.test.interval.lower + backward.test.interval.upper).abs() < 1e-9);
            }
        }
    }
}
