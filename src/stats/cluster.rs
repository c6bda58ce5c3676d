//! Repeated samples of the same case (`repeat: K`): the K answers to one case are correlated,
//! so treating them as K independent observations understates the standard error. This file
//! owns the fix the brief prescribes: average the repeats per case, then analyse the case means
//! (equivalent to clustering by case), plus the cluster-robust standard errors CR0 and CR1 for
//! reporting a single arm, and the within-case flip rate as a stability measure.
//!
//! Inputs are one slice of samples per case, in the same case order for both arms. A case with
//! no samples (every call errored) is left out, and the paired helpers say how many were.

use serde::Serialize;

use super::common::{check_sample, mean, sample_variance};
use super::paired::{PairedT, one_sample_t};
use super::{Result, StatsError};

/// Mean of one arm over all its samples, with naive and clustered standard errors.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusteredMean {
    /// Mean over every sample.
    pub mean: f64,
    /// Number of samples.
    pub observations: usize,
    /// Number of cases with at least one sample.
    pub clusters: usize,
    /// sd/√N treating samples as independent: too small when repeats agree within a case.
    pub naive_se: f64,
    /// Cluster-robust (Liang-Zeger) standard error, √(Σ_g (Σ_{i∈g}(sᵢ − s̄))²)/N.
    pub cr0_se: f64,
    /// CR0 with the small-sample factor √(G/(G−1)); use it with a t on G − 1 df.
    pub cr1_se: f64,
}

/// The mean of one arm's samples with clustered standard errors, clusters being cases.
/// Needs at least two non-empty cases.
pub fn clustered_mean<S: AsRef<[f64]>>(cases: &[S]) -> Result<ClusteredMean> {
    let filled: Vec<&[f64]> = cases.iter().map(AsRef::as_ref).filter(|c| !c.is_empty()).collect();
    if filled.len() < 2 {
        return Err(StatsError::TooFewObservations { name: "cases", needed: 2, got: filled.len() });
    }
    let samples: Vec<f64> = filled.concat();
    check_sample("samples", &samples, 2)?;
    let total = samples.len() as f64;
    let grand_mean = mean(&samples);
    let naive_se = (sample_variance(&samples, grand_mean) / total).sqrt();
    let squared_sums: f64 = filled.iter().map(|c| c.iter().map(|s| s - grand_mean).sum::<f64>().powi(2)).sum();
    let cr0_se = squared_sums.sqrt() / total;
    let clusters = filled.len() as f64;
    Ok(ClusteredMean {
        mean: grand_mean,
        observations: samples.len(),
        clusters: filled.len(),
        naive_se,
        cr0_se,
        cr1_se: cr0_se * (clusters / (clusters - 1.0)).sqrt(),
    })
}

/// Per-case means of two arms, aligned, keeping only cases with a sample in both arms.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairedCaseMeans {
    /// A's mean per kept case.
    pub a: Vec<f64>,
    /// B's mean per kept case, same order.
    pub b: Vec<f64>,
    /// Cases left out because A had no sample.
    pub missing_a: usize,
    /// Cases left out because B had no sample.
    pub missing_b: usize,
}

/// Averages the repeats of every case in both arms (the brief's "aggregate per case first").
/// Both arms must list the same cases.
pub fn paired_case_means<S: AsRef<[f64]>>(a: &[S], b: &[S]) -> Result<PairedCaseMeans> {
    if a.len() != b.len() {
        return Err(StatsError::LengthMismatch { a: a.len(), b: b.len() });
    }
    let mut means = PairedCaseMeans { a: Vec::new(), b: Vec::new(), missing_a: 0, missing_b: 0 };
    for (case_a, case_b) in a.iter().zip(b) {
        let (case_a, case_b) = (case_a.as_ref(), case_b.as_ref());
        check_sample("a", case_a, 0)?;
        check_sample("b", case_b, 0)?;
        means.missing_a += usize::from(case_a.is_empty());
        means.missing_b += usize::from(case_b.is_empty());
        if !case_a.is_empty() && !case_b.is_empty() {
            means.a.push(mean(case_a));
            means.b.push(mean(case_b));
        }
    }
    Ok(means)
}

/// Paired t test of A − B on case means (df = cases − 1), interval at level 1 − `alpha`: the
/// default analysis of a suite run with repeats. Conventions as [`super::paired::paired_t`].
pub fn paired_repeats_t<S: AsRef<[f64]>>(a: &[S], b: &[S], alpha: f64) -> Result<PairedT> {
    let means = paired_case_means(a, b)?;
    let differences: Vec<f64> = means.a.iter().zip(&means.b).map(|(x, y)| x - y).collect();
    one_sample_t(&differences, alpha)
}

/// How often a case's repeats disagree.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlipRate {
    /// Cases whose samples are not all equal.
    pub flipping: usize,
    /// Cases with at least two samples (a single sample cannot flip).
    pub eligible: usize,
    /// `flipping / eligible`, 0 when no case is eligible.
    pub rate: f64,
}

/// The within-case flip rate: the share of cases whose repeated samples disagree (for pass/fail,
/// cases that both passed and failed). High values mean single runs are unreliable.
pub fn flip_rate<S: AsRef<[f64]>>(cases: &[S]) -> Result<FlipRate> {
    let mut rate = FlipRate { flipping: 0, eligible: 0, rate: 0.0 };
    for case in cases.iter().map(AsRef::as_ref) {
        check_sample("case", case, 0)?;
        if case.len() >= 2 {
            rate.eligible += 1;
            rate.flipping += usize::from(case.iter().any(|&s| s != case[0]));
        }
    }
    if rate.eligible > 0 {
        rate.rate = rate.flipping as f64 / rate.eligible as f64;
    }
    Ok(rate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::golden;

    #[test]
    fn clustered_standard_errors_match_golden_g6() {
        let g = golden::vector("clustered_repeats");
        for arm in ["a", "b"] {
            let result = clustered_mean(&g.rows(&format!("/inputs/{arm}"))).unwrap();
            g.assert_close(&format!("/expected/{arm}/mean"), result.mean);
            g.assert_close(&format!("/expected/{arm}/naive_se"), result.naive_se);
            g.assert_close(&format!("/expected/{arm}/cr0_se"), result.cr0_se);
            g.assert_close(&format!("/expected/{arm}/cr1_se"), result.cr1_se);
        }
    }

    #[test]
    fn paired_case_means_match_golden_g6() {
        let g = golden::vector("clustered_repeats");
        let result = paired_repeats_t(&g.rows("/inputs/a"), &g.rows("/inputs/b"), 0.05).unwrap();
        g.assert_close("/expected/paired_case_mean_diff", result.test.estimate);
        g.assert_close("/expected/paired_se", result.test.standard_error);
        g.assert_close("/expected/paired_t", result.test.statistic);
        g.assert_close("/expected/df", result.test.df);
        g.assert_close("/expected/paired_p", result.test.p_value);
    }

    #[test]
    fn cr1_equals_the_standard_error_of_case_means_for_equal_clusters() {
        let cases = [vec![1.0, 0.0, 1.0], vec![0.0, 0.0, 0.0], vec![1.0, 1.0, 1.0], vec![0.0, 1.0, 0.0]];
        let means: Vec<f64> = cases.iter().map(|c| mean(c)).collect();
        let se_of_means = (sample_variance(&means, mean(&means)) / means.len() as f64).sqrt();
        assert!((clustered_mean(&cases).unwrap().cr1_se - se_of_means).abs() < 1e-12);
    }

    #[test]
    fn cases_missing_in_either_arm_are_dropped_and_counted() {
        let a = [vec![1.0], vec![], vec![0.0, 1.0]];
        let b = [vec![0.0], vec![1.0], vec![]];
        let means = paired_case_means(&a, &b).unwrap();
        assert_eq!((means.a, means.b, means.missing_a, means.missing_b), (vec![1.0], vec![0.0], 1, 1));
    }

    #[test]
    fn flip_rate_counts_cases_whose_repeats_disagree() {
        let g = golden::vector("clustered_repeats");
        let rate = flip_rate(&g.rows("/inputs/a")).unwrap();
        assert_eq!((rate.flipping, rate.eligible, rate.rate), (2, 4, 0.5));
    }

    #[test]
    fn single_samples_cannot_flip() {
        assert_eq!(flip_rate(&[vec![1.0], vec![0.0]]).unwrap(), FlipRate { flipping: 0, eligible: 0, rate: 0.0 });
    }

    #[test]
    fn one_case_is_too_few_for_a_clustered_error() {
        let error = clustered_mean(&[vec![1.0, 0.0], vec![]]).unwrap_err();
        assert_eq!(error, StatsError::TooFewObservations { name: "cases", needed: 2, got: 1 });
    }
}
