//! Planning: how many cases a comparison needs to detect an effect (sample size), and the
//! smallest effect a suite of a given size can detect (minimum detectable effect, shown in every
//! inconclusive verdict). All tests are two-sided at level α with the given power.
//!
//! Paired designs are what promptops runs; their size depends on how often the arms disagree
//! (the discordance ψ for pass/fail, the sd of differences for scores), which is unknown before
//! a first run. Take it from the last comparison of the same arms, or use
//! [`independence_discordance`] as a pessimistic bound.

use serde::Serialize;

use super::common::{check_positive, check_probability};
use super::dist::{t_quantile, z_quantile};
use super::{Result, StatsError};

/// Significance level and power of a planned comparison.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Design {
    /// Two-sided significance level, in (0, 1).
    pub alpha: f64,
    /// Probability of detecting the effect if it is real, in (0, 1).
    pub power: f64,
}

impl Design {
    /// A design from its level and power.
    pub fn new(alpha: f64, power: f64) -> Self {
        Self { alpha, power }
    }

    /// (z_{1−α/2}, z_power) after validating both.
    fn z_values(&self) -> Result<(f64, f64)> {
        let alpha = check_probability("alpha", self.alpha)?;
        let power = check_probability("power", self.power)?;
        Ok((z_quantile(1.0 - alpha / 2.0), z_quantile(power)))
    }
}

impl Default for Design {
    /// α = 0.05, power = 0.8.
    fn default() -> Self {
        Self { alpha: 0.05, power: 0.8 }
    }
}

/// A required sample size.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SampleSize {
    /// The size the formula gives, before rounding.
    pub exact: f64,
    /// `exact` rounded up: the number of cases (or pairs, or cases per arm) to run.
    pub required: u64,
}

impl SampleSize {
    fn from_exact(exact: f64) -> Self {
        // Rounding dust (356.000000001) must not cost a whole extra case.
        Self { exact, required: (exact - 1e-9).ceil().max(1.0) as u64 }
    }
}

/// Cases per arm to tell rates `p1` and `p2` apart with two *independent* samples, optionally
/// with Fleiss' continuity correction (closer to what Fisher's test needs).
pub fn sample_size_unpaired_proportions(p1: f64, p2: f64, design: Design, continuity: bool) -> Result<SampleSize> {
    let (z_alpha, z_power) = design.z_values()?;
    let (p1, p2) = (check_rate("p1", p1)?, check_rate("p2", p2)?);
    let delta = (p1 - p2).abs();
    if delta == 0.0 {
        return Err(StatsError::InvalidParameter { name: "p2", value: p2, expected: "different from p1" });
    }
    let pooled = (p1 + p2) / 2.0;
    let spread =
        z_alpha * (2.0 * pooled * (1.0 - pooled)).sqrt() + z_power * (p1 * (1.0 - p1) + p2 * (1.0 - p2)).sqrt();
    let n = (spread / delta).powi(2);
    if !continuity {
        return Ok(SampleSize::from_exact(n));
    }
    Ok(SampleSize::from_exact(n / 4.0 * (1.0 + (1.0 + 4.0 / (n * delta)).sqrt()).powi(2)))
}

/// The discordance ψ = p1(1 − p2) + p2(1 − p1) expected if the arms were independent; real arms
/// share easy and hard cases, so their ψ is usually smaller and fewer pairs are needed.
pub fn independence_discordance(p1: f64, p2: f64) -> Result<f64> {
    let (p1, p2) = (check_rate("p1", p1)?, check_rate("p2", p2)?);
    Ok(p1 * (1.0 - p2) + p2 * (1.0 - p1))
}

/// Pairs needed for McNemar's test to detect a pass-rate difference `delta` when a share
/// `discordance` (ψ) of pairs disagree (Connor 1987): [z_α√ψ + z_β√(ψ − δ²)]²/δ².
pub fn sample_size_paired_proportions(delta: f64, discordance: f64, design: Design) -> Result<SampleSize> {
    let (z_alpha, z_power) = design.z_values()?;
    let (delta, psi) = check_discordance(delta, discordance)?;
    let n = ((z_alpha * psi.sqrt() + z_power * (psi - delta * delta).sqrt()) / delta).powi(2);
    Ok(SampleSize::from_exact(n))
}

/// Smallest pass-rate difference McNemar's test detects with `pairs` pairs at discordance ψ:
/// the δ solving δ√n = z_α√ψ + z_β√(ψ − δ²), found by bisection on (0, ψ] (the left side grows,
/// the right shrinks, so the root is unique). [`StatsError::NothingDetectable`] when even δ = ψ,
/// every discordant pair favouring one arm, is out of reach.
pub fn mde_paired_proportions(pairs: f64, discordance: f64, design: Design) -> Result<f64> {
    let (z_alpha, z_power) = design.z_values()?;
    let pairs = check_positive("pairs", pairs)?;
    let psi = check_rate("discordance", discordance)?;
    let gap =
        |delta: f64| delta * pairs.sqrt() - z_alpha * psi.sqrt() - z_power * (psi - delta * delta).max(0.0).sqrt();
    if psi == 0.0 || gap(psi) < 0.0 {
        return Err(StatsError::NothingDetectable { n: pairs });
    }
    let (mut low, mut high) = (0.0, psi);
    for _ in 0..200 {
        let middle = (low + high) / 2.0;
        if gap(middle) < 0.0 { low = middle } else { high = middle }
    }
    Ok(high)
}

/// Pairs needed for a paired t test to detect a mean difference `delta` given the sd of
/// differences.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PairedMeansSize {
    /// ((z_α + z_β)·σ/δ)², the normal approximation (a slight underestimate).
    pub normal: f64,
    /// The central-t refinement iterated to its fixed point, within about 0.03 of the exact
    /// noncentral-t answer (which statrs cannot compute).
    pub central_t: SampleSize,
}

/// Pairs for a paired t test: normal start, then n ← ((t_{1−α/2,n−1} + t_{power,n−1})σ/δ)²
/// until it stops moving.
pub fn sample_size_paired_means(sd_difference: f64, delta: f64, design: Design) -> Result<PairedMeansSize> {
    let (z_alpha, z_power) = design.z_values()?;
    let ratio = check_positive("sd_difference", sd_difference)? / check_nonzero("delta", delta)?;
    let normal = ((z_alpha + z_power) * ratio).powi(2);
    let mut n = normal;
    for _ in 0..200 {
        // Below two pairs there is no t distribution; df = 1 keeps the iteration defined.
        let df = (n - 1.0).max(1.0);
        let next = ((t_quantile(1.0 - design.alpha / 2.0, df)? + t_quantile(design.power, df)?) * ratio).powi(2);
        let settled = (next - n).abs() < 1e-12 * n.max(1.0);
        n = next;
        if settled {
            break;
        }
    }
    Ok(PairedMeansSize { normal, central_t: SampleSize::from_exact(n) })
}

/// Smallest mean difference a paired t test detects with `pairs` pairs (at least 2):
/// (t_{1−α/2,n−1} + t_{power,n−1})·σ/√n.
pub fn mde_paired_means(pairs: f64, sd_difference: f64, design: Design) -> Result<f64> {
    design.z_values()?;
    let sd = check_positive("sd_difference", sd_difference)?;
    if !(pairs >= 2.0 && pairs.is_finite()) {
        return Err(StatsError::InvalidParameter { name: "pairs", value: pairs, expected: "at least 2" });
    }
    let df = pairs - 1.0;
    let quantiles = t_quantile(1.0 - design.alpha / 2.0, df)? + t_quantile(design.power, df)?;
    Ok(quantiles * sd / pairs.sqrt())
}

/// Variance of a case's A − B difference when arm A averages `repeats_a` samples and B
/// `repeats_b` (Miller): ω² + σ²_A/K_A + σ²_B/K_B. Repeats shrink only the within-case terms,
/// so past a few repeats more cases help more than more repeats. Feed √ of it to
/// [`sample_size_paired_means`].
pub fn paired_variance_with_repeats(
    between_case_variance: f64,
    within_variance_a: f64,
    repeats_a: u32,
    within_variance_b: f64,
    repeats_b: u32,
) -> Result<f64> {
    for (name, value) in [
        ("between_case_variance", between_case_variance),
        ("within_variance_a", within_variance_a),
        ("within_variance_b", within_variance_b),
    ] {
        if !(value.is_finite() && value >= 0.0) {
            return Err(StatsError::InvalidParameter { name, value, expected: "a finite number at least 0" });
        }
    }
    if repeats_a == 0 || repeats_b == 0 {
        return Err(StatsError::TooFewObservations { name: "repeats", needed: 1, got: 0 });
    }
    Ok(between_case_variance + within_variance_a / f64::from(repeats_a) + within_variance_b / f64::from(repeats_b))
}

fn check_rate(name: &'static str, value: f64) -> Result<f64> {
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(StatsError::InvalidParameter { name, value, expected: "a rate within [0, 1]" })
    }
}

fn check_nonzero(name: &'static str, value: f64) -> Result<f64> {
    if value.is_finite() && value != 0.0 {
        Ok(value.abs())
    } else {
        Err(StatsError::InvalidParameter { name, value, expected: "a finite non-zero difference" })
    }
}

/// A paired pass-rate difference can be no larger than the share of pairs that disagree.
fn check_discordance(delta: f64, discordance: f64) -> Result<(f64, f64)> {
    let delta = check_nonzero("delta", delta)?;
    let psi = check_rate("discordance", discordance)?;
    if delta > psi {
        return Err(StatsError::InvalidParameter { name: "delta", value: delta, expected: "at most the discordance" });
    }
    Ok((delta, psi))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::stats::golden;

    #[test]
    fn unpaired_sizes_match_golden_g5() {
        let g = golden::vector("sample_size_two_proportions");
        let design = Design::new(g.number("/inputs/alpha"), g.number("/inputs/power"));
        let (p1, p2) = (g.number("/inputs/p1"), g.number("/inputs/p2"));
        let plain = sample_size_unpaired_proportions(p1, p2, design, false).unwrap();
        g.assert_close("/expected/n_per_arm_unpaired", plain.exact);
        g.assert_close("/expected/n_per_arm_unpaired_ceil", plain.required as f64);
        let corrected = sample_size_unpaired_proportions(p1, p2, design, true).unwrap();
        g.assert_close("/expected/n_per_arm_unpaired_cc", corrected.exact);
        let (z_alpha, z_power) = design.z_values().unwrap();
        g.assert_close("/expected/z_alpha2", z_alpha);
        g.assert_close("/expected/z_beta", z_power);
    }

    #[test]
    fn paired_sizes_match_golden_g5_for_each_discordance() {
        let g = golden::vector("sample_size_two_proportions");
        for psi in ["0.46", "0.3", "0.2"] {
            let size = sample_size_paired_proportions(0.1, psi.parse().unwrap(), Design::default()).unwrap();
            g.assert_close(&format!("/expected/n_pairs_mcnemar_by_discordance/{psi}"), size.exact);
        }
    }

    #[test]
    fn independent_arms_have_the_golden_discordance() {
        assert!((independence_discordance(0.6, 0.7).unwrap() - 0.46).abs() < 1e-12);
    }

    #[test]
    fn paired_mean_sizes_match_golden_g5b() {
        let g = golden::vector("sample_size_paired_mean");
        let design = Design::new(g.number("/inputs/alpha"), g.number("/inputs/power"));
        let size = sample_size_paired_means(g.number("/inputs/sd_diff"), g.number("/inputs/delta"), design).unwrap();
        g.assert_close("/expected/n_normal", size.normal);
        g.assert_close("/expected/n_central_t_iterated", size.central_t.exact);
        // The central-t answer stays within 0.03 of the noncentral-t one.
        assert!((size.central_t.exact - g.number("/expected/n_noncentral_t_statsmodels")).abs() < 0.03);
    }

    #[test]
    fn two_hundred_pairs_at_discordance_0_3_detect_about_0_108() {
        let mde = mde_paired_proportions(200.0, 0.3, Design::default()).unwrap();
        assert!((mde - 0.1079).abs() < 1e-4, "{mde}");
    }

    #[test]
    fn mde_inverts_the_paired_sample_size() {
        let size = sample_size_paired_proportions(0.1, 0.3, Design::default()).unwrap();
        let mde = mde_paired_proportions(size.exact, 0.3, Design::default()).unwrap();
        assert!((mde - 0.1).abs() < 1e-9);
        let n = sample_size_paired_means(1.5, 0.5, Design::default()).unwrap().central_t.exact;
        let mde = mde_paired_means(n, 1.5, Design::default()).unwrap();
        assert!((mde - 0.5).abs() < 1e-9);
    }

    #[test]
    fn a_tiny_suite_detects_nothing() {
        let error = mde_paired_proportions(3.0, 0.2, Design::default()).unwrap_err();
        assert_eq!(error, StatsError::NothingDetectable { n: 3.0 });
    }

    #[test]
    fn alpha_and_power_outside_zero_one_are_errors_not_panics() {
        for design in [Design::new(0.0, 0.8), Design::new(0.05, 1.0), Design::new(f64::NAN, 0.8)] {
            assert!(matches!(
                sample_size_paired_means(1.0, 0.5, design),
                Err(StatsError::ProbabilityOutOfRange { .. })
            ));
        }
    }

    #[test]
    fn an_effect_larger_than_the_discordance_is_impossible() {
        assert!(sample_size_paired_proportions(0.3, 0.2, Design::default()).is_err());
        assert!(sample_size_unpaired_proportions(0.5, 0.5, Design::default(), false).is_err());
    }

    #[test]
    fn repeats_shrink_only_the_within_case_variance() {
        assert_eq!(paired_variance_with_repeats(0.04, 0.2, 4, 0.2, 4).unwrap(), 0.04 + 0.05 + 0.05);
        assert!(paired_variance_with_repeats(0.04, 0.2, 0, 0.2, 4).is_err());
    }

    proptest! {
        #[test]
        fn more_discordance_needs_more_pairs(delta in 0.01f64..0.2, psi in 0.2f64..0.9) {
            let fewer = sample_size_paired_proportions(delta, psi, Design::default()).unwrap();
            let more = sample_size_paired_proportions(delta, (psi + 0.05).min(1.0), Design::default()).unwrap();
            prop_assert!(more.exact >= fewer.exact);
        }
    }
}
