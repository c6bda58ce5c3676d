//! The paired case bootstrap, for statistics without a closed-form interval: latency p50/p95
//! deltas, median judge scores, cost per passing case, ratings. Each round draws the cases
//! with replacement and keeps both arms of a drawn case together (and all its repeats, if the
//! caller's statistic uses them), so the pairing survives resampling.
//!
//! The generator is ChaCha8 seeded from a `u64` the caller stores with the run: the same data,
//! seed and settings give bit-identical intervals on every platform. Intervals are the
//! percentile interval and, on request, the bias-corrected and accelerated (BCa) interval,
//! which corrects for skewed statistics at the cost of a jackknife (n extra evaluations, O(n²)
//! for n cases).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::common::{check_probability, mean, paired_differences, quantile_sorted, quantile_unsorted, sample_variance};
use super::dist::{normal_cdf, z_quantile};
use super::{Interval, Result, StatsError};

/// How to bootstrap.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BootstrapConfig {
    /// Rounds of resampling: 10,000 for reports, 2,000 for a quick look.
    pub resamples: usize,
    /// Seed of the ChaCha8 generator; store it with the run to reproduce the interval.
    pub seed: u64,
    /// Intervals at level 1 − `alpha`.
    pub alpha: f64,
    /// Whether to compute the BCa interval too (costs a jackknife over the cases).
    pub bca: bool,
}

impl Default for BootstrapConfig {
    /// 10,000 resamples, seed 0, α = 0.05, BCa on.
    fn default() -> Self {
        Self { resamples: 10_000, seed: 0, alpha: 0.05, bca: true }
    }
}

/// A bootstrap distribution summarised.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bootstrap {
    /// The statistic on the original cases.
    pub estimate: f64,
    /// Standard deviation of the resampled statistics.
    pub standard_error: f64,
    /// Percentile interval: the α/2 and 1 − α/2 quantiles of the resampled statistics.
    pub percentile: Interval,
    /// BCa interval; `None` when not requested, or when the correction is undefined (the
    /// jackknife produced a non-finite value, or the acceleration is so large that the adjusted
    /// level leaves (0, 1)); fall back to `percentile` then.
    pub bca: Option<Interval>,
    /// Resamples whose statistic was finite, the ones summarised.
    pub resamples: usize,
    /// Resamples whose statistic was NaN or infinite (a ratio whose denominator drew only
    /// zeros); they are left out, so report the count when it is not zero.
    pub non_finite: usize,
    /// The seed used.
    pub seed: u64,
}

/// Ready-made statistics of two arms measured on the same cases.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PairedStatistic {
    /// mean(a) − mean(b).
    MeanDifference,
    /// median(a) − median(b): the p50 delta.
    MedianDifference,
    /// quantile(a, q) − quantile(b, q), e.g. q = 0.95 for the p95 latency delta.
    QuantileDifference(f64),
    /// Σa / Σb, e.g. total cost of A over total cost of B.
    RatioOfSums,
}

/// Bootstraps a [`PairedStatistic`] of two arms over their common cases (at least two).
pub fn paired_bootstrap(
    a: &[f64],
    b: &[f64],
    statistic: PairedStatistic,
    config: BootstrapConfig,
) -> Result<Bootstrap> {
    paired_differences(a, b, 2)?;
    if let PairedStatistic::QuantileDifference(q) = statistic {
        check_probability("quantile", q)?;
    }
    let (mut drawn_a, mut drawn_b) = (Vec::with_capacity(a.len()), Vec::with_capacity(b.len()));
    bootstrap_cases(a.len(), config, |cases| {
        drawn_a.clear();
        drawn_b.clear();
        drawn_a.extend(cases.iter().map(|&i| a[i]));
        drawn_b.extend(cases.iter().map(|&i| b[i]));
        match statistic {
            PairedStatistic::MeanDifference => mean(&drawn_a) - mean(&drawn_b),
            PairedStatistic::MedianDifference => {
                quantile_unsorted(&mut drawn_a, 0.5) - quantile_unsorted(&mut drawn_b, 0.5)
            }
            PairedStatistic::QuantileDifference(q) => {
                quantile_unsorted(&mut drawn_a, q) - quantile_unsorted(&mut drawn_b, q)
            }
            PairedStatistic::RatioOfSums => drawn_a.iter().sum::<f64>() / drawn_b.iter().sum::<f64>(),
        }
    })
}

/// The general case bootstrap: `statistic` receives the indices of the cases in one draw (with
/// repeats; the identity 0..n for the estimate, n − 1 indices for each jackknife step) and
/// computes anything from data it captures, such as cost per passing case in each arm.
pub fn bootstrap_cases<F>(cases: usize, config: BootstrapConfig, mut statistic: F) -> Result<Bootstrap>
where
    F: FnMut(&[usize]) -> f64,
{
    check_probability("alpha", config.alpha)?;
    if cases < 2 {
        return Err(StatsError::TooFewObservations { name: "cases", needed: 2, got: cases });
    }
    if config.resamples < 2 {
        return Err(StatsError::TooFewObservations { name: "resamples", needed: 2, got: config.resamples });
    }
    let all: Vec<usize> = (0..cases).collect();
    let estimate = statistic(&all);
    if !estimate.is_finite() {
        return Err(StatsError::InvalidParameter {
            name: "statistic",
            value: estimate,
            expected: "finite on all cases",
        });
    }
    let mut replicates = resample(cases, config, &mut statistic);
    let non_finite = config.resamples - replicates.len();
    if replicates.len() < 2 {
        return Err(StatsError::TooFewObservations { name: "finite resamples", needed: 2, got: replicates.len() });
    }
    replicates.sort_unstable_by(f64::total_cmp);
    let standard_error = sample_variance(&replicates, mean(&replicates)).sqrt();
    let percentile = Interval::new(
        quantile_sorted(&replicates, config.alpha / 2.0),
        quantile_sorted(&replicates, 1.0 - config.alpha / 2.0),
    );
    let bca = if config.bca {
        bca_interval(&replicates, estimate, &jackknife(cases, &mut statistic), config.alpha)
    } else {
        None
    };
    Ok(Bootstrap {
        estimate,
        standard_error,
        percentile,
        bca,
        resamples: replicates.len(),
        non_finite,
        seed: config.seed,
    })
}

/// The finite statistics of `config.resamples` draws of `cases` indices with replacement.
fn resample<F: FnMut(&[usize]) -> f64>(cases: usize, config: BootstrapConfig, statistic: &mut F) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut draw = vec![0; cases];
    let mut replicates = Vec::with_capacity(config.resamples);
    for _ in 0..config.resamples {
        for slot in &mut draw {
            *slot = rng.random_range(0..cases);
        }
        let value = statistic(&draw);
        if value.is_finite() {
            replicates.push(value);
        }
    }
    replicates
}

/// Leave-one-case-out values of the statistic over cases 0..`cases` (at least 2).
fn jackknife<F: FnMut(&[usize]) -> f64>(cases: usize, statistic: &mut F) -> Vec<f64> {
    let mut without: Vec<usize> = (1..cases).collect();
    let mut values = Vec::with_capacity(cases);
    for left_out in 0..cases {
        // `without` holds every case but `left_out`: swap the next case out and this one in.
        if left_out > 0 {
            without[left_out - 1] = left_out - 1;
        }
        values.push(statistic(&without));
    }
    values
}

/// The BCa interval from sorted replicates: bias correction z₀ from the share of replicates
/// below the estimate, acceleration from the jackknife's skewness.
fn bca_interval(sorted: &[f64], estimate: f64, jackknife: &[f64], alpha: f64) -> Option<Interval> {
    if jackknife.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let count = sorted.len() as f64;
    let below = sorted.iter().filter(|&&v| v < estimate).count() as f64;
    let equal = sorted.iter().filter(|&&v| v == estimate).count() as f64;
    // Ties count half (discrete statistics such as medians often equal the estimate), and the
    // share is kept off 0 and 1 where Φ⁻¹ is infinite.
    let share = ((below + equal / 2.0) / count).clamp(0.5 / count, 1.0 - 0.5 / count);
    let bias = z_quantile(share);
    let center = mean(jackknife);
    let squares: f64 = jackknife.iter().map(|v| (center - v).powi(2)).sum();
    let cubes: f64 = jackknife.iter().map(|v| (center - v).powi(3)).sum();
    let acceleration = if squares > 0.0 { cubes / (6.0 * squares.powf(1.5)) } else { 0.0 };
    let level = |tail: f64| {
        let shifted = bias + z_quantile(tail);
        let denominator = 1.0 - acceleration * shifted;
        (denominator > 0.0).then(|| normal_cdf(bias + shifted / denominator))
    };
    let (lower, upper) = (level(alpha / 2.0)?, level(1.0 - alpha / 2.0)?);
    Some(Interval::new(quantile_sorted(sorted, lower), quantile_sorted(sorted, upper)))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::stats::golden;

    fn config(resamples: usize, seed: u64) -> BootstrapConfig {
        BootstrapConfig { resamples, seed, ..BootstrapConfig::default() }
    }

    #[test]
    fn bootstrap_se_of_the_mean_difference_converges_to_the_plug_in_se_of_g2() {
        let g = golden::vector("paired_t_and_wilcoxon");
        let (a, b) = (g.numbers("/inputs/a"), g.numbers("/inputs/b"));
        let result = paired_bootstrap(&a, &b, PairedStatistic::MeanDifference, config(200_000, 7)).unwrap();
        // Monte Carlo error of an SE from B resamples is about SE/√(2B) ≈ 0.003 here.
        let limit = g.number("/expected/bootstrap_se_limit");
        assert!((result.standard_error - limit).abs() < 0.015, "{} vs {limit}", result.standard_error);
        g.assert_close("/expected/mean_diff", result.estimate);
    }

    #[test]
    fn bca_on_fixed_replicates_matches_scipys_code() {
        let g = golden::vector("bca_fixed_replicates");
        let differences = g.numbers("/inputs/differences");
        let mut replicates = g.numbers("/inputs/replicates");
        replicates.sort_unstable_by(f64::total_cmp);
        let values = jackknife(differences.len(), &mut |cases: &[usize]| {
            cases.iter().map(|&i| differences[i]).sum::<f64>() / cases.len() as f64
        });
        for (index, value) in values.iter().enumerate() {
            g.assert_close(&format!("/expected/jackknife/{index}"), *value);
        }
        let bca = bca_interval(&replicates, mean(&differences), &values, g.number("/inputs/alpha")).unwrap();
        g.assert_close("/expected/lower", bca.lower);
        g.assert_close("/expected/upper", bca.upper);
    }

    #[test]
    fn the_same_seed_gives_identical_results() {
        let (a, b) = ([3.0, 1.0, 4.0, 1.0, 5.0, 9.0], [2.0, 6.0, 5.0, 3.0, 5.0, 8.0]);
        let run = |seed| paired_bootstrap(&a, &b, PairedStatistic::MedianDifference, config(500, seed)).unwrap();
        assert_eq!(run(42), run(42));
        assert_ne!(run(42).standard_error, run(43).standard_error);
    }

    #[test]
    fn jackknife_leaves_out_each_case_once() {
        let values = jackknife(4, &mut |cases: &[usize]| cases.iter().map(|&i| 10f64.powi(i as i32)).sum());
        assert_eq!(values, vec![1110.0, 1101.0, 1011.0, 111.0]);
    }

    #[test]
    fn bca_equals_percentile_for_a_symmetric_unbiased_case() {
        // Symmetric replicates around the estimate and a symmetric jackknife: z₀ = 0, a = 0.
        let sorted: Vec<f64> = (-50..=50).map(f64::from).collect();
        let bca = bca_interval(&sorted, 0.0, &[-1.0, 0.0, 1.0], 0.1).unwrap();
        // Φ(Φ⁻¹(0.05)) comes back as 0.05 only to about 1e-12.
        assert!((bca.lower - quantile_sorted(&sorted, 0.05)).abs() < 1e-6);
        assert!((bca.upper - quantile_sorted(&sorted, 0.95)).abs() < 1e-6);
    }

    #[test]
    fn a_ratio_with_zero_denominator_draws_reports_them() {
        let (cost, passes) = ([1.0, 2.0, 3.0], [0.0, 0.0, 1.0]);
        let result = paired_bootstrap(&cost, &passes, PairedStatistic::RatioOfSums, config(1000, 1)).unwrap();
        assert!(result.non_finite > 0);
        assert_eq!(result.resamples + result.non_finite, 1000);
    }

    #[test]
    fn too_few_cases_or_resamples_are_errors() {
        assert!(paired_bootstrap(&[1.0], &[2.0], PairedStatistic::MeanDifference, config(100, 0)).is_err());
        assert!(paired_bootstrap(&[1.0, 2.0], &[2.0, 1.0], PairedStatistic::MeanDifference, config(1, 0)).is_err());
        let bad_quantile = PairedStatistic::QuantileDifference(1.5);
        assert!(paired_bootstrap(&[1.0, 2.0], &[2.0, 1.0], bad_quantile, config(10, 0)).is_err());
    }

    #[test]
    fn the_general_bootstrap_computes_cost_per_pass() {
        let cost = [4.0, 2.0, 6.0, 8.0];
        let pass = [1.0, 0.0, 1.0, 1.0];
        let result = bootstrap_cases(4, config(2000, 3), |cases| {
            cases.iter().map(|&i| cost[i]).sum::<f64>() / cases.iter().map(|&i| pass[i]).sum::<f64>()
        })
        .unwrap();
        assert!((result.estimate - 20.0 / 3.0).abs() < 1e-12);
        assert!(result.percentile.contains(result.estimate));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn reruns_with_a_seed_are_identical_and_intervals_ordered(
            pairs in proptest::collection::vec((0.0f64..10.0, 0.0f64..10.0), 2..25),
            seed in any::<u64>(),
        ) {
            let (a, b): (Vec<f64>, Vec<f64>) = pairs.into_iter().unzip();
            let first = paired_bootstrap(&a, &b, PairedStatistic::MeanDifference, config(200, seed)).unwrap();
            let second = paired_bootstrap(&a, &b, PairedStatistic::MeanDifference, config(200, seed)).unwrap();
            prop_assert_eq!(&first, &second);
            prop_assert!(first.percentile.lower <= first.percentile.upper);
            if let Some(bca) = first.bca {
                prop_assert!(bca.lower <= bca.upper);
            }
        }
    }
}
