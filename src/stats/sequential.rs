//! Looking at a comparison while it runs. Re-testing after every batch and stopping at the
//! first p < 0.05 inflates false positives (about 19% after ten looks); promptops' default is a
//! fixed horizon sized by [`super::power`]. For early stopping this file offers two always-valid
//! alternatives on the paired differences, both safe under any stopping rule:
//!
//! - an asymptotic confidence sequence (Waudby-Smith et al., in GrowthBook's form): an interval
//!   around the running mean that is tightest at the planned size N* and about 1.5–1.7× wider
//!   than the fixed-horizon interval there; stop when it excludes 0;
//! - the mixture sequential probability ratio test (mSPRT, Johari et al.) with a normal mixing
//!   distribution, giving an always-valid p-value that only ever decreases.

use serde::Serialize;

use super::common::{check_positive, check_probability, check_sample, mean, sample_variance};
use super::{Interval, Result, StatsError};

/// Half-width of the asymptotic confidence sequence after `n` observations with standard
/// deviation `sd`, tuned to be tightest at `planned_n` (N*), at level 1 − `alpha`:
/// s·√(2(nρ² + 1)/(n²ρ²) · ln(√(nρ² + 1)/α)), ρ² = (−2 ln α + ln(1 − 2 ln α))/N*.
pub fn confidence_sequence_half_width(sd: f64, n: f64, planned_n: f64, alpha: f64) -> Result<f64> {
    let alpha = check_probability("alpha", alpha)?;
    let n = check_positive("n", n)?;
    let planned_n = check_positive("planned_n", planned_n)?;
    if !(sd.is_finite() && sd >= 0.0) {
        return Err(StatsError::InvalidParameter { name: "sd", value: sd, expected: "a finite number at least 0" });
    }
    let log_alpha = alpha.ln();
    let rho_squared = (-2.0 * log_alpha + (1.0 - 2.0 * log_alpha).ln()) / planned_n;
    let spread = n * rho_squared + 1.0;
    Ok(sd * (2.0 * spread / (n * n * rho_squared) * (spread.sqrt() / alpha).ln()).sqrt())
}

/// The confidence sequence evaluated on the differences seen so far.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfidenceSequence {
    /// Observations so far.
    pub n: usize,
    /// Running mean difference.
    pub mean: f64,
    /// Half-width at this n.
    pub half_width: f64,
    /// `mean ± half_width`: valid at every n simultaneously.
    pub interval: Interval,
}

/// The confidence sequence for the mean of paired differences A − B observed so far (in the
/// random case order the run used). Needs two differences.
///
/// The scale is the sample sd, floored at max|d|/√n: the sd the differences would have if one
/// case in n had moved by the largest difference seen and the rest by nothing. Without the
/// floor, ten cases that all moved by the same amount (all fail → all pass) give sd = 0 and a
/// zero-width sequence that "decides" from ten cases; with it they give a sequence about as wide
/// as one honest disagreement allows. All-zero differences keep sd = 0 and the interval [0, 0].
pub fn confidence_sequence(differences: &[f64], planned_n: f64, alpha: f64) -> Result<ConfidenceSequence> {
    check_sample("differences", differences, 2)?;
    let center = mean(differences);
    let largest = differences.iter().fold(0.0f64, |m, d| m.max(d.abs()));
    let sd = sample_variance(differences, center).sqrt().max(largest / (differences.len() as f64).sqrt());
    let half_width = confidence_sequence_half_width(sd, differences.len() as f64, planned_n, alpha)?;
    Ok(ConfidenceSequence {
        n: differences.len(),
        mean: center,
        half_width,
        interval: Interval::around(center, half_width),
    })
}

/// The mSPRT's model: differences ~ N(θ, σ²), and under the alternative θ ~ N(θ₀, τ²).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MsprtModel {
    /// σ², variance of one difference (from a previous run or a pilot).
    pub variance: f64,
    /// τ², variance of the mixing distribution: roughly the squared effect size worth detecting.
    pub mixing_variance: f64,
    /// θ₀, the mean difference under the null hypothesis (usually 0).
    pub null_mean: f64,
}

impl MsprtModel {
    fn check(&self) -> Result<()> {
        check_positive("variance", self.variance)?;
        check_positive("mixing_variance", self.mixing_variance)?;
        if !self.null_mean.is_finite() {
            return Err(StatsError::InvalidParameter { name: "null_mean", value: self.null_mean, expected: "finite" });
        }
        Ok(())
    }

    /// ln Λₙ = ½ ln(σ²/(σ² + nτ²)) + n²τ²(x̄ − θ₀)²/(2σ²(σ² + nτ²)); kept in logs so a large
    /// effect cannot overflow.
    fn log_likelihood_ratio(&self, n: f64, mean_difference: f64) -> f64 {
        let (sigma2, tau2) = (self.variance, self.mixing_variance);
        let widened = sigma2 + n * tau2;
        0.5 * (sigma2 / widened).ln()
            + n * n * tau2 * (mean_difference - self.null_mean).powi(2) / (2.0 * sigma2 * widened)
    }
}

/// The mSPRT at one look.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Msprt {
    /// ln Λₙ, the log mixture likelihood ratio.
    pub log_likelihood_ratio: f64,
    /// min(1, 1/Λₙ): the always-valid p-value if this is the only look so far. Over a sequence
    /// of looks the always-valid p is the running minimum (see [`msprt_p_values`]).
    pub p_value: f64,
}

/// The mSPRT after `n` differences with mean `mean_difference`.
pub fn msprt(mean_difference: f64, n: f64, model: MsprtModel) -> Result<Msprt> {
    model.check()?;
    let n = check_positive("n", n)?;
    if !mean_difference.is_finite() {
        return Err(StatsError::NotFinite { name: "mean_difference", index: 0 });
    }
    let log_likelihood_ratio = model.log_likelihood_ratio(n, mean_difference);
    Ok(Msprt { log_likelihood_ratio, p_value: (-log_likelihood_ratio).exp().min(1.0) })
}

/// Always-valid p-values after each difference in arrival order: pₙ = min(pₙ₋₁, 1/Λₙ).
pub fn msprt_p_values(differences: &[f64], model: MsprtModel) -> Result<Vec<f64>> {
    check_sample("differences", differences, 0)?;
    model.check()?;
    let mut running_sum = 0.0;
    let mut p_value: f64 = 1.0;
    let mut path = Vec::with_capacity(differences.len());
    for (index, difference) in differences.iter().enumerate() {
        running_sum += difference;
        let n = (index + 1) as f64;
        p_value = p_value.min((-model.log_likelihood_ratio(n, running_sum / n)).exp());
        path.push(p_value);
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::dist::normal_two_sided_p;
    use crate::stats::golden;

    #[test]
    fn half_widths_match_golden_g9() {
        let g = golden::vector("confidence_sequence_halfwidth");
        let (sd, alpha) = (g.number("/inputs/sd"), g.number("/inputs/alpha"));
        for planned in [200.0, 5000.0] {
            for n in [50.0, 200.0, 1000.0] {
                let width = confidence_sequence_half_width(sd, n, planned, alpha).unwrap();
                g.assert_close(&format!("/expected/N{planned}_n{n}"), width);
            }
        }
    }

    #[test]
    fn half_widths_match_growthbooks_engine() {
        let g = golden::vector("confidence_sequence_gbstats");
        for planned in [200.0, 5000.0] {
            for n in [50.0, 200.0, 1000.0] {
                let width = confidence_sequence_half_width(0.3, n, planned, 0.05).unwrap();
                g.assert_close(&format!("/expected/N{planned:.1}_n{n}"), width);
            }
        }
    }

    #[test]
    fn msprt_matches_golden_g10() {
        let g = golden::vector("msprt");
        let model = MsprtModel {
            variance: g.number("/inputs/sigma2"),
            mixing_variance: g.number("/inputs/tau2"),
            null_mean: g.number("/inputs/theta0"),
        };
        let (n, mean_difference) = (g.number("/inputs/n"), g.number("/inputs/mean_diff"));
        let result = msprt(mean_difference, n, model).unwrap();
        g.assert_close("/expected/lambda", result.log_likelihood_ratio.exp());
        g.assert_close("/expected/always_valid_p", result.p_value);
        let fixed_z = mean_difference / (model.variance / n).sqrt();
        g.assert_close("/expected/fixed_horizon_z_p", normal_two_sided_p(fixed_z));
    }

    #[test]
    fn the_sequence_is_wider_than_the_fixed_interval_at_the_planned_size() {
        let sequence = confidence_sequence_half_width(0.3, 200.0, 200.0, 0.05).unwrap();
        let fixed = 1.959963984540054 * 0.3 / 200f64.sqrt();
        assert!((1.5..1.7).contains(&(sequence / fixed)), "{}", sequence / fixed);
    }

    #[test]
    fn always_valid_p_values_never_increase() {
        let model = MsprtModel { variance: 1.0, mixing_variance: 0.1, null_mean: 0.0 };
        let path = msprt_p_values(&[0.5, -1.0, 2.0, 0.1, 0.4, -0.3, 1.2], model).unwrap();
        assert!(path.windows(2).all(|w| w[1] <= w[0]));
        assert!(path.iter().all(|p| (0.0..=1.0).contains(p)));
    }

    #[test]
    fn a_huge_effect_gives_p_zero_without_overflow() {
        let model = MsprtModel { variance: 0.01, mixing_variance: 1.0, null_mean: 0.0 };
        let result = msprt(100.0, 1e6, model).unwrap();
        assert!(result.log_likelihood_ratio.is_finite());
        assert_eq!(result.p_value, 0.0);
    }

    #[test]
    fn confidence_sequence_centres_on_the_running_mean() {
        let sequence = confidence_sequence(&[0.1, 0.3, 0.2, 0.4], 100.0, 0.05).unwrap();
        assert!((sequence.mean - 0.25).abs() < 1e-12);
        assert!(sequence.interval.contains(sequence.mean));
    }

    #[test]
    fn ten_identical_differences_do_not_give_a_zero_width_sequence() {
        let sequence = confidence_sequence(&[1.0; 10], 200.0, 0.05).unwrap();
        let floor = confidence_sequence_half_width(1.0 / 10f64.sqrt(), 10.0, 200.0, 0.05).unwrap();
        assert!((sequence.half_width - floor).abs() < 1e-12, "{sequence:?}");
        assert!(sequence.half_width > 0.4, "{sequence:?}");
        assert_eq!(confidence_sequence(&[0.0; 10], 200.0, 0.05).unwrap().interval, Interval::new(0.0, 0.0));
    }

    #[test]
    fn invalid_settings_are_errors() {
        assert!(confidence_sequence_half_width(0.3, 10.0, 100.0, 1.0).is_err());
        assert!(confidence_sequence_half_width(-0.3, 10.0, 100.0, 0.05).is_err());
        let model = MsprtModel { variance: 0.0, mixing_variance: 1.0, null_mean: 0.0 };
        assert!(msprt(0.1, 10.0, model).is_err());
    }
}
