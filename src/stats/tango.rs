//! Tango's score interval for the difference of two paired pass rates, and the non-inferiority
//! questions it answers. Owns the score statistic and its inversion; leaves the counting of the
//! table to [`super::paired`].
//!
//! Why this interval: it is the set of differences Δ₀ that the score test does not reject, and
//! at Δ₀ = 0 the score statistic is McNemar's z = (b − c)/√(b + c) (no continuity correction).
//! So the interval excludes 0 exactly when the asymptotic McNemar test rejects: the interval and
//! the test can never contradict each other, which a Wald interval next to an exact test can.
//! It also stays honest with few or no discordant pairs: three identical cases give a wide
//! interval, not [0, 0] (Tango 1998; Fagerland, Lydersen & Laake 2014 recommend it).

use super::common::check_probability;
use super::dist::z_quantile;
use super::paired::DiscordantPairs;
use super::{Interval, Result};

/// Bisection steps: each halves a bracket of width at most 2, so 100 reach f64 resolution.
const STEPS: usize = 100;

/// The score statistic for H₀: Δ = `delta` (Δ = (b − c)/n, b = cases only the first arm passed).
/// Counts may be fractional (a table scaled to another size). Decreases in `delta`; 0 at the
/// observed difference; ±∞ where the constrained variance vanishes.
pub fn score_statistic(b: f64, c: f64, n: f64, delta: f64) -> f64 {
    let excess = b - c - n * delta;
    // The constrained maximum-likelihood estimate of P(only the second arm passes) given Δ.
    let (qa, qb, qc) = (2.0 * n, -b - c + (2.0 * n - b + c) * delta, -c * delta * (1.0 - delta));
    let only_second = ((qb * qb - 4.0 * qa * qc).max(0.0).sqrt() - qb) / (2.0 * qa);
    let variance = n * (2.0 * only_second + delta * (1.0 - delta));
    if excess == 0.0 {
        0.0
    } else if variance > 0.0 {
        excess / variance.sqrt()
    } else {
        excess.signum() * f64::INFINITY
    }
}

/// Tango's interval of Δ = (b − c)/n at level 1 − `alpha`: every Δ₀ in [−1, 1] whose score
/// statistic lies within ±z_{1−α/2}.
pub fn tango_interval(counts: DiscordantPairs, alpha: f64) -> Result<Interval> {
    counts.check()?;
    let alpha = check_probability("alpha", alpha)?;
    let (b, c, n) = (counts.a_only as f64, counts.b_only as f64, counts.pairs as f64);
    Ok(interval(b, c, n, z_quantile(1.0 - alpha / 2.0)))
}

/// The interval for (possibly fractional) counts with critical value `z`.
fn interval(b: f64, c: f64, n: f64, z: f64) -> Interval {
    let estimate = (b - c) / n;
    // T falls from +∞ to −∞ as Δ₀ rises: the lower bound is where T = z below the estimate,
    // the upper where T = −z above it; the ends of [−1, 1] when T never gets there.
    let lower = crossing(-1.0, estimate, |d| score_statistic(b, c, n, d) > z);
    let upper = crossing(estimate, 1.0, |d| score_statistic(b, c, n, d) >= -z);
    Interval::new(lower, upper)
}

/// The boundary in [`low`, `high`] between where `outside` holds (below) and where it does not.
fn crossing(mut low: f64, mut high: f64, left_of: impl Fn(f64) -> bool) -> f64 {
    if !left_of(low) {
        return low;
    }
    if left_of(high) {
        return high;
    }
    for _ in 0..STEPS {
        let middle = (low + high) / 2.0;
        if left_of(middle) { low = middle } else { high = middle }
    }
    (low + high) / 2.0
}

/// Cases a comparison with the same proportions as `counts` would need before the lower bound
/// of its 1 − 2α Tango interval clears −`margin`, i.e. before it could show non-inferiority.
/// `None` when no size would do (the observed difference is at or below −margin).
/// With no discordant case the bound is −z²/(n + z²), so n must exceed z²(1 − margin)/margin.
pub fn cases_for_non_inferiority(counts: DiscordantPairs, margin: f64, alpha: f64) -> Result<Option<u64>> {
    counts.check()?;
    let z = z_quantile(1.0 - check_probability("alpha", alpha)?);
    let margin = check_probability("margin", margin)?;
    let n = counts.pairs as f64;
    let (b, c) = (counts.a_only as f64 / n, counts.b_only as f64 / n);
    if b - c <= -margin {
        return Ok(None);
    }
    let clears = |size: f64| interval(b * size, c * size, size, z).lower > -margin;
    let mut high = n.max(2.0);
    while !clears(high) {
        high *= 2.0;
        if high > 1e12 {
            return Ok(None);
        }
    }
    // Smallest whole size that clears, by bisection over sizes (the bound rises with the size).
    let mut low = 0.0;
    while high - low > 1.0 {
        let middle = ((low + high) / 2.0).floor();
        if clears(middle) { high = middle } else { low = middle }
    }
    Ok(Some(high as u64))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::stats::golden;
    use crate::stats::paired::mcnemar;

    #[test]
    fn the_bentur_example_matches_the_published_interval() {
        let g = golden::vector("tango_interval");
        let counts = DiscordantPairs::new(
            g.number("/inputs/n12") as u64,
            g.number("/inputs/n21") as u64,
            g.number("/inputs/n") as u64,
        );
        let found = tango_interval(counts, g.number("/inputs/alpha")).unwrap();
        g.assert_close("/expected/lower", found.lower);
        g.assert_close("/expected/upper", found.upper);
        // The published figures (Fagerland, Lydersen & Laake 2014, Table 6): [−0.517, −0.026].
        assert!((found.lower + 0.517).abs() < 5e-4 && (found.upper + 0.026).abs() < 5e-4, "{found:?}");
    }

    #[test]
    fn other_tables_match_an_independent_likelihood_fit() {
        let g = golden::vector("tango_interval");
        for (index, row) in g.rows("/expected/more").iter().enumerate() {
            let counts = DiscordantPairs::new(row[0] as u64, row[1] as u64, row[2] as u64);
            let found = tango_interval(counts, row[3]).unwrap();
            assert!((found.lower - row[4]).abs() < g.tolerance, "row {index}: {found:?} vs {row:?}");
            assert!((found.upper - row[5]).abs() < g.tolerance, "row {index}: {found:?} vs {row:?}");
        }
    }

    #[test]
    fn no_discordant_case_gives_a_wide_interval_not_a_point() {
        let found = tango_interval(DiscordantPairs::new(0, 0, 3), 0.1).unwrap();
        let z2 = z_quantile(0.95).powi(2);
        assert!((found.upper - z2 / (3.0 + z2)).abs() < 1e-9, "{found:?}");
        assert!((found.lower + z2 / (3.0 + z2)).abs() < 1e-9, "{found:?}");
    }

    #[test]
    fn every_case_one_way_reaches_the_end_of_the_range() {
        let found = tango_interval(DiscordantPairs::new(20, 0, 20), 0.05).unwrap();
        assert_eq!(found.upper, 1.0);
        assert!(found.lower > 0.0 && found.lower < 1.0);
    }

    #[test]
    fn a_suite_without_discordance_needs_z_squared_over_the_margin_cases() {
        let z2 = z_quantile(0.95).powi(2);
        let needed = cases_for_non_inferiority(DiscordantPairs::new(0, 0, 3), 0.02, 0.05).unwrap().unwrap();
        assert_eq!(needed, (z2 * 0.98 / 0.02).floor() as u64 + 1);
        assert_eq!(cases_for_non_inferiority(DiscordantPairs::new(0, 5, 50), 0.05, 0.05).unwrap(), None);
    }

    fn table() -> impl Strategy<Value = DiscordantPairs> {
        (1u64..400).prop_flat_map(|n| {
            (0..=n).prop_flat_map(move |b| (0..=n - b).prop_map(move |c| DiscordantPairs::new(b, c, n)))
        })
    }

    proptest! {
        #[test]
        fn the_interval_excludes_zero_exactly_when_the_asymptotic_test_rejects(counts in table()) {
            let found = tango_interval(counts, 0.05).unwrap();
            let test = mcnemar(counts, 0.05).unwrap();
            prop_assert!(found.contains((counts.a_only as f64 - counts.b_only as f64) / counts.pairs as f64));
            // Ties at the boundary are measure-zero; keep clear of them.
            if (test.chi_square.p_value - 0.05).abs() > 1e-9 {
                prop_assert_eq!(found.excludes_zero(), test.chi_square.p_value < 0.05, "{:?} {:?}", found, test);
            }
        }

        #[test]
        fn swapping_the_arms_mirrors_the_interval(counts in table()) {
            let swapped = DiscordantPairs::new(counts.b_only, counts.a_only, counts.pairs);
            let (forward, backward) = (tango_interval(counts, 0.05).unwrap(), tango_interval(swapped, 0.05).unwrap());
            prop_assert!((forward.lower + backward.upper).abs() < 1e-9 && (forward.upper + backward.lower).abs() < 1e-9);
        }
    }
}
