//! Two independent samples (different case sets per arm, or one arm's results against a
//! stored baseline): Welch's t test with its interval, and the Mann-Whitney U test as the
//! rank-based robustness check.
//!
//! The exact U distribution is computed here rather than taken from statrs: statrs'
//! `mannwhitneyu` in exact mode returns wrong p-values whenever the first sample is not the
//! longer one (p = 1 for clearly separated samples), see the method brief §5.

use serde::Serialize;

use super::common::{average_ranks, check_probability, check_sample, mean, sample_variance, tie_term};
use super::dist::{normal_two_sided_p, t_test};
use super::exact::{integer_weights, sized_subset_sum_counts, two_sided_p};
use super::{Interval, RankMethod, Result, StatsError, TTest};

/// Welch's t test of mean(x) − mean(y), interval at level 1 − `alpha`, with the
/// Welch-Satterthwaite degrees of freedom (fractional). Needs two values per sample.
///
/// When both samples are constant the standard error is zero: equal constants give t = 0,
/// p = 1 and the interval [0, 0]; different constants are [`StatsError::ZeroVariance`].
pub fn welch_t(x: &[f64], y: &[f64], alpha: f64) -> Result<TTest> {
    check_sample("x", x, 2)?;
    check_sample("y", y, 2)?;
    let alpha = check_probability("alpha", alpha)?;
    let (mean_x, mean_y) = (mean(x), mean(y));
    let share_x = sample_variance(x, mean_x) / x.len() as f64;
    let share_y = sample_variance(y, mean_y) / y.len() as f64;
    let difference = mean_x - mean_y;
    let variance = share_x + share_y;
    if variance == 0.0 {
        return constant_samples(difference, (x.len() + y.len() - 2) as f64);
    }
    let df = variance.powi(2) / (share_x.powi(2) / (x.len() - 1) as f64 + share_y.powi(2) / (y.len() - 1) as f64);
    t_test(difference, variance.sqrt(), df, alpha)
}

/// The documented answer for two samples without spread (see [`welch_t`]).
fn constant_samples(difference: f64, df: f64) -> Result<TTest> {
    if difference != 0.0 {
        return Err(StatsError::ZeroVariance { mean: difference });
    }
    Ok(TTest {
        estimate: 0.0,
        standard_error: 0.0,
        statistic: 0.0,
        df,
        p_value: 1.0,
        interval: Interval::new(0.0, 0.0),
    })
}

/// The product (smaller sample size × total size) above which no exact U distribution is
/// computed; the table costs about the square of it in steps (25 million here).
pub const EXACT_BUDGET: usize = 5_000;

/// Under [`RankMethod::Auto`], the exact distribution is used when no value ties and the
/// smaller sample has at most this many values (SciPy's rule), budget permitting.
pub const AUTO_EXACT_MAX: usize = 8;

/// The Mann-Whitney U test's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MannWhitney {
    /// U of x: pairs (xᵢ, yⱼ) with xᵢ > yⱼ, ties counting ½.
    pub u_x: f64,
    /// U of y; `u_x + u_y = nₓ·n_y`.
    pub u_y: f64,
    /// Probability of superiority P(X > Y) + ½P(X = Y), estimated by `u_x / (nₓ·n_y)`.
    pub superiority: f64,
    /// The normal statistic, positive when x tends to be larger; `None` for the exact method.
    pub z: Option<f64>,
    /// Two-sided p-value.
    pub p_value: f64,
    /// The method used (never `Auto`).
    pub method: RankMethod,
}

/// Mann-Whitney U test of x against y. `Auto` is exact for small untied samples (see
/// [`AUTO_EXACT_MAX`]) and otherwise the normal approximation with tie and continuity
/// correction (SciPy's default). `Exact` handles ties by conditioning on them; beyond
/// [`EXACT_BUDGET`] it is [`StatsError::ExactTooLarge`]. All values tied gives p = 1.
pub fn mann_whitney_u(x: &[f64], y: &[f64], method: RankMethod) -> Result<MannWhitney> {
    check_sample("x", x, 1)?;
    check_sample("y", y, 1)?;
    let pooled: Vec<f64> = x.iter().chain(y).copied().collect();
    let (ranks, ties) = average_ranks(&pooled);
    let (n_x, n_y) = (x.len() as f64, y.len() as f64);
    let rank_sum_x: f64 = ranks[..x.len()].iter().sum();
    let u_x = rank_sum_x - n_x * (n_x + 1.0) / 2.0;
    let u_y = n_x * n_y - u_x;
    let cost = x.len().min(y.len()) * pooled.len();
    let method = match method {
        RankMethod::Auto if ties.is_empty() && x.len().min(y.len()) <= AUTO_EXACT_MAX && cost <= EXACT_BUDGET => {
            RankMethod::Exact
        }
        RankMethod::Auto => RankMethod::NormalContinuity,
        chosen => chosen,
    };
    let (z, p_value) = if method == RankMethod::Exact {
        if cost > EXACT_BUDGET {
            return Err(StatsError::ExactTooLarge { name: "Mann-Whitney U", n: cost, limit: EXACT_BUDGET });
        }
        (None, exact_p(&ranks, x.len()))
    } else {
        let z = normal_z(u_x, n_x, n_y, &ties, method == RankMethod::NormalContinuity);
        (Some(z), normal_two_sided_p(z))
    };
    Ok(MannWhitney { u_x, u_y, superiority: u_x / (n_x * n_y), z, p_value, method })
}

/// Exact p: under H0 every split of the pooled ranks into the two samples is equally likely.
/// The smaller sample's rank sum is counted, which is cheaper and gives the same two-sided p.
fn exact_p(ranks: &[f64], n_x: usize) -> f64 {
    let (weights, _) = integer_weights(ranks);
    let (first, second) = weights.split_at(n_x);
    let smaller = if first.len() <= second.len() { first } else { second };
    let observed: usize = smaller.iter().sum();
    two_sided_p(&sized_subset_sum_counts(&weights, smaller.len()), observed)
}

/// z of U with variance nₓn_y/12·[(N+1) − Σ(t³−t)/(N(N−1))].
fn normal_z(u_x: f64, n_x: f64, n_y: f64, ties: &[usize], continuity: bool) -> f64 {
    let total = n_x + n_y;
    let tie_share = if total > 1.0 { tie_term(ties) / (total * (total - 1.0)) } else { 0.0 };
    let variance = n_x * n_y / 12.0 * ((total + 1.0) - tie_share);
    let mut distance = u_x - n_x * n_y / 2.0;
    if continuity {
        distance = distance.signum() * (distance.abs() - 0.5).max(0.0);
    }
    // All values tied: no ordering information, no evidence.
    if variance > 0.0 { distance / variance.sqrt() } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::stats::golden;

    #[test]
    fn welch_matches_golden_g4() {
        let g = golden::vector("welch_t_and_mann_whitney");
        let result = welch_t(&g.numbers("/inputs/x"), &g.numbers("/inputs/y"), 0.05).unwrap();
        g.assert_close("/expected/diff", result.estimate);
        g.assert_close("/expected/se", result.standard_error);
        g.assert_close("/expected/t", result.statistic);
        g.assert_close("/expected/df", result.df);
        g.assert_close("/expected/p_two_sided", result.p_value);
        g.assert_close("/expected/ci95/0", result.interval.lower);
        g.assert_close("/expected/ci95/1", result.interval.upper);
    }

    #[test]
    fn exact_mann_whitney_matches_golden_g4_where_statrs_fails() {
        let g = golden::vector("welch_t_and_mann_whitney");
        let result = mann_whitney_u(&g.numbers("/inputs/x"), &g.numbers("/inputs/y"), RankMethod::Auto).unwrap();
        assert_eq!(result.method, RankMethod::Exact);
        g.assert_close("/expected/mwu_U_x", result.u_x);
        g.assert_close("/expected/mwu_exact_p", result.p_value);
    }

    #[test]
    fn normal_mann_whitney_matches_golden_g4() {
        let g = golden::vector("welch_t_and_mann_whitney");
        let (x, y) = (g.numbers("/inputs/x"), g.numbers("/inputs/y"));
        let result = mann_whitney_u(&x, &y, RankMethod::NormalContinuity).unwrap();
        g.assert_close("/expected/mwu_asymptotic_cc_p", result.p_value);
    }

    #[test]
    fn separated_equal_sized_samples_get_the_smallest_exact_p() {
        // statrs' exact mode answers 1.0 here; the truth is 2/C(10,5) = 2/252.
        let result = mann_whitney_u(&[1.0, 2.0, 3.0, 4.0, 5.0], &[6.0, 7.0, 8.0, 9.0, 10.0], RankMethod::Exact);
        assert!((result.unwrap().p_value - 2.0 / 252.0).abs() < 1e-12);
    }

    #[test]
    fn exact_p_does_not_depend_on_which_sample_comes_first() {
        let (x, y) = ([1.2, 3.4, 0.5], [2.2, 5.1, 4.4, 6.0, 7.5, 0.1]);
        let forward = mann_whitney_u(&x, &y, RankMethod::Exact).unwrap();
        let backward = mann_whitney_u(&y, &x, RankMethod::Exact).unwrap();
        assert!((forward.p_value - backward.p_value).abs() < 1e-12);
    }

    #[test]
    fn all_tied_values_give_p_one() {
        let result = mann_whitney_u(&[3.0, 3.0], &[3.0, 3.0, 3.0], RankMethod::Normal).unwrap();
        assert_eq!((result.p_value, result.superiority), (1.0, 0.5));
    }

    #[test]
    fn equal_constant_samples_give_p_one_and_different_ones_an_error() {
        assert_eq!(welch_t(&[2.0, 2.0], &[2.0, 2.0, 2.0], 0.05).unwrap().p_value, 1.0);
        assert_eq!(welch_t(&[2.0, 2.0], &[1.0, 1.0], 0.05), Err(StatsError::ZeroVariance { mean: 1.0 }));
    }

    #[test]
    fn welch_needs_two_values_per_sample() {
        assert!(matches!(welch_t(&[1.0], &[1.0, 2.0], 0.05), Err(StatsError::TooFewObservations { .. })));
        assert!(matches!(mann_whitney_u(&[], &[1.0], RankMethod::Auto), Err(StatsError::TooFewObservations { .. })));
    }

    #[test]
    fn oversized_exact_requests_are_refused() {
        let x: Vec<f64> = (0..60).map(f64::from).collect();
        let y: Vec<f64> = (60..120).map(f64::from).collect();
        assert!(matches!(mann_whitney_u(&x, &y, RankMethod::Exact), Err(StatsError::ExactTooLarge { .. })));
    }

    fn samples() -> impl Strategy<Value = (Vec<f64>, Vec<f64>)> {
        let sample = || proptest::collection::vec((0i32..20).prop_map(f64::from), 2..15);
        (sample(), sample())
    }

    proptest! {
        #[test]
        fn welch_interval_contains_the_difference_and_p_is_a_probability((x, y) in samples()) {
            if let Ok(result) = welch_t(&x, &y, 0.05) {
                prop_assert!((0.0..=1.0).contains(&result.p_value));
                prop_assert!(result.interval.contains(result.estimate));
            }
        }

        #[test]
        fn swapping_samples_flips_welch_and_keeps_p((x, y) in samples()) {
            if let (Ok(forward), Ok(backward)) = (welch_t(&x, &y, 0.05), welch_t(&y, &x, 0.05)) {
                prop_assert!((forward.estimate + backward.estimate).abs() < 1e-9);
                prop_assert!((forward.p_value - backward.p_value).abs() < 1e-12);
            }
        }

        #[test]
        fn swapping_samples_keeps_the_mann_whitney_p(
            (x, y) in samples(),
            method in prop_oneof![Just(RankMethod::Exact), Just(RankMethod::Normal), Just(RankMethod::NormalContinuity)],
        ) {
            let forward = mann_whitney_u(&x, &y, method).unwrap();
            let backward = mann_whitney_u(&y, &x, method).unwrap();
            prop_assert!((0.0..=1.0).contains(&forward.p_value));
            prop_assert!((forward.p_value - backward.p_value).abs() < 1e-12);
            prop_assert_eq!(forward.u_x, backward.u_y);
        }
    }
}
