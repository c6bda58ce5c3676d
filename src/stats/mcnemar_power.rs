//! The exact power of the test promptops decides paired pass rates with (McNemar's asymptotic
//! test, z = (b − c)/√(b + c), no continuity correction), and the sample sizes and detectable
//! effects that follow from it. Owns the summation; [`super::power`] keeps the normal
//! approximations (Connor 1987) these start from.
//!
//! Why exact: the approximation sizes an idealised test, and a discrete test on few discordant
//! cases has a power that differs from it by a few points at the sizes people plan (0.50 → 0.65
//! planned by the approximation gets 77% power from the exact conditional test, not 80%). The
//! power of a test that depends only on the discordant counts is a finite sum: the number of
//! discordant cases m is Binomial(n, ψ), and given m the cases only the challenger passed are
//! Binomial(m, (ψ + δ)/2ψ); sum the rejection probability over both. Above [`EXACT_MAX`] pairs
//! the discreteness is negligible and the approximation is used.

use statrs::distribution::{Binomial, Discrete, DiscreteCDF};

use super::common::{check_positive, check_probability};
use super::dist::z_quantile;
use super::power::{Design, SampleSize, mde_paired_proportions, sample_size_paired_proportions};
use super::{Result, StatsError};

/// Largest number of pairs whose power is summed exactly; beyond, the normal approximation.
pub const EXACT_MAX: u64 = 10_000;

/// Standard deviations of the discordant count kept in the sum: the mass beyond is below 1e-30.
const SPREAD: f64 = 12.0;

/// Probability that the asymptotic McNemar test at two-sided level α rejects with `pairs` pairs
/// when a share ψ = `discordance` of pairs disagree and the rates differ by `delta` (|δ| ≤ ψ).
pub fn mcnemar_power(pairs: u64, delta: f64, discordance: f64, alpha: f64) -> Result<f64> {
    let z = z_quantile(1.0 - check_probability("alpha", alpha)? / 2.0);
    let (delta, psi) = check_effect(delta, discordance)?;
    if pairs == 0 || psi == 0.0 {
        return Ok(0.0);
    }
    let discordant = Binomial::new(psi, pairs).map_err(|_| invalid("discordance", psi))?;
    let (mean, sd) = (pairs as f64 * psi, (pairs as f64 * psi * (1.0 - psi)).sqrt());
    let first = (mean - SPREAD * sd).floor().max(1.0) as u64;
    let last = ((mean + SPREAD * sd).ceil() as u64).min(pairs);
    let one_way = ((psi + delta) / (2.0 * psi)).min(1.0);
    let mut power = 0.0;
    for m in first..=last {
        power += discordant.pmf(m) * rejection(m, one_way, z)?;
    }
    Ok(power.clamp(0.0, 1.0))
}

/// P(|2B − m| > z√m) for B ~ Binomial(m, `one_way`): the test's rejection given m discordant.
fn rejection(m: u64, one_way: f64, z: f64) -> Result<f64> {
    let spread = z * (m as f64).sqrt();
    let within = Binomial::new(one_way, m).map_err(|_| invalid("delta", one_way))?;
    // Rejects for b > (m + z√m)/2 or b < (m − z√m)/2 (z is irrational, so never equal).
    let high = ((m as f64 + spread) / 2.0).floor();
    let low = ((m as f64 - spread) / 2.0).ceil() - 1.0;
    let upper = if high >= m as f64 { 0.0 } else { within.sf(high as u64) };
    let lower = if low < 0.0 { 0.0 } else { within.cdf(low as u64) };
    Ok(upper + lower)
}

/// Pairs the asymptotic McNemar test needs to detect `delta` at discordance ψ with the design's
/// power: the smallest size near the normal approximation whose exact power reaches it (exact
/// power is a saw-tooth in n, so the search walks down from the approximation while the power
/// holds and up while it falls short).
pub fn sample_size_mcnemar(delta: f64, discordance: f64, design: Design) -> Result<SampleSize> {
    let approximate = sample_size_paired_proportions(delta, discordance, design)?;
    let start = approximate.required.max(2);
    if start > EXACT_MAX {
        return Ok(approximate);
    }
    let reaches = |n: u64| -> Result<bool> { Ok(mcnemar_power(n, delta, discordance, design.alpha)? >= design.power) };
    let mut n = start;
    if reaches(n)? {
        while n > 2 && reaches(n - 1)? {
            n -= 1;
        }
    } else {
        while !reaches(n)? {
            n += 1;
            if n > EXACT_MAX.max(4 * start) {
                return Ok(approximate);
            }
        }
    }
    Ok(SampleSize { exact: n as f64, required: n })
}

/// Smallest rate difference the asymptotic McNemar test detects with `pairs` pairs at
/// discordance ψ and the design's power, by bisection on δ ∈ (0, ψ] (power rises with δ).
/// [`StatsError::NothingDetectable`] when even δ = ψ (every discordant pair one way) falls short.
pub fn mde_mcnemar(pairs: f64, discordance: f64, design: Design) -> Result<f64> {
    let whole = check_positive("pairs", pairs)?.floor() as u64;
    check_probability("power", design.power)?;
    if whole > EXACT_MAX {
        return mde_paired_proportions(pairs, discordance, design);
    }
    let psi = check_effect(0.0, discordance)?.1;
    let reaches = |delta: f64| -> Result<bool> { Ok(mcnemar_power(whole, delta, psi, design.alpha)? >= design.power) };
    if psi == 0.0 || !reaches(psi)? {
        return Err(StatsError::NothingDetectable { n: pairs });
    }
    let (mut low, mut high) = (0.0, psi);
    for _ in 0..60 {
        let middle = (low + high) / 2.0;
        if reaches(middle)? { high = middle } else { low = middle }
    }
    Ok(high)
}

fn check_effect(delta: f64, discordance: f64) -> Result<(f64, f64)> {
    if !(0.0..=1.0).contains(&discordance) {
        return Err(invalid("discordance", discordance));
    }
    let delta = delta.abs();
    if !delta.is_finite() || delta > discordance {
        return Err(StatsError::InvalidParameter { name: "delta", value: delta, expected: "at most the discordance" });
    }
    Ok((delta, discordance))
}

fn invalid(name: &'static str, value: f64) -> StatsError {
    StatsError::InvalidParameter { name, value, expected: "a rate within [0, 1]" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::golden;

    #[test]
    fn exact_power_matches_the_golden_double_sum() {
        let g = golden::vector("mcnemar_power");
        let alpha = g.number("/inputs/alpha");
        for row in g.rows("/expected/rows") {
            let (pairs, delta, psi, expected) = (row[0] as u64, row[1], row[2], row[3]);
            let found = mcnemar_power(pairs, delta, psi, alpha).unwrap();
            assert!((found - expected).abs() < g.tolerance, "n {pairs} δ {delta} ψ {psi}: {found} vs {expected}");
        }
    }

    #[test]
    fn planned_sizes_are_the_smallest_reaching_the_power_near_the_approximation() {
        let g = golden::vector("mcnemar_power");
        for row in g.rows("/expected/sizes") {
            let size = sample_size_mcnemar(row[0], row[1], Design::default()).unwrap();
            assert_eq!(size.required, row[2] as u64, "δ {} ψ {}", row[0], row[1]);
            let power = mcnemar_power(size.required, row[0], row[1], 0.05).unwrap();
            assert!(power >= 0.8 && mcnemar_power(size.required - 1, row[0], row[1], 0.05).unwrap() < 0.8);
        }
    }

    #[test]
    fn no_effect_has_the_test_size_as_power() {
        let size = mcnemar_power(400, 0.0, 0.4, 0.05).unwrap();
        assert!((size - 0.05).abs() < 0.01, "{size}");
    }

    #[test]
    fn the_detectable_effect_inverts_the_power() {
        let mde = mde_mcnemar(200.0, 0.3, Design::default()).unwrap();
        assert!(mcnemar_power(200, mde, 0.3, 0.05).unwrap() >= 0.8);
        assert!(mcnemar_power(200, mde - 1e-3, 0.3, 0.05).unwrap() < 0.8);
        assert!((mde - 0.1079).abs() < 0.01, "close to the normal approximation: {mde}");
        assert_eq!(mde_mcnemar(3.0, 0.2, Design::default()), Err(StatsError::NothingDetectable { n: 3.0 }));
    }

    #[test]
    fn impossible_effects_are_errors() {
        assert!(mcnemar_power(10, 0.5, 0.2, 0.05).is_err());
        assert!(mcnemar_power(10, 0.1, 0.2, 1.5).is_err());
    }
}
