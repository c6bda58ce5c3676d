//! Thin, panic-free wrappers over the statrs distributions the tests use: the standard normal,
//! Student's t, χ² with one degree of freedom and the fair-coin binomial. Private to
//! [`crate::stats`].
//!
//! statrs' `inverse_cdf` asserts its argument lies in [0, 1]; callers validate α and power first,
//! and these wrappers still answer NaN rather than panic if a bug lets a bad level through.

use statrs::distribution::{Binomial, ChiSquared, ContinuousCDF, Discrete, DiscreteCDF, Normal, StudentsT};

use super::{Interval, Result, StatsError, TTest};

/// Φ⁻¹(p), the standard normal quantile.
pub(crate) fn z_quantile(p: f64) -> f64 {
    if (0.0..=1.0).contains(&p) { Normal::standard().inverse_cdf(p) } else { f64::NAN }
}

/// Φ(x).
pub(crate) fn normal_cdf(x: f64) -> f64 {
    Normal::standard().cdf(x)
}

/// Two-sided normal p-value of a z statistic, 2·(1 − Φ(|z|)).
pub(crate) fn normal_two_sided_p(z: f64) -> f64 {
    (2.0 * Normal::standard().sf(z.abs())).min(1.0)
}

/// Student's t with `df` degrees of freedom (fractional allowed, as Welch needs).
fn students_t(df: f64) -> Result<StudentsT> {
    StudentsT::new(0.0, 1.0, df).map_err(|_| StatsError::InvalidParameter {
        name: "degrees of freedom",
        value: df,
        expected: "a positive number",
    })
}

/// Two-sided p-value of a t statistic.
pub(crate) fn t_two_sided_p(t: f64, df: f64) -> Result<f64> {
    Ok((2.0 * students_t(df)?.sf(t.abs())).min(1.0))
}

/// The `p` quantile of Student's t.
pub(crate) fn t_quantile(p: f64, df: f64) -> Result<f64> {
    let dist = students_t(df)?;
    Ok(if (0.0..=1.0).contains(&p) { dist.inverse_cdf(p) } else { f64::NAN })
}

/// Upper tail of χ² with one degree of freedom.
pub(crate) fn chi2_1_sf(x: f64) -> f64 {
    // ChiSquared::new only fails for a non-positive degree of freedom; 1 is valid.
    ChiSquared::new(1.0).map_or(f64::NAN, |dist| dist.sf(x))
}

/// P(X ≤ k) and P(X = k) for X ~ Binomial(m, ½).
pub(crate) fn fair_coin_cdf_pmf(k: u64, m: u64) -> (f64, f64) {
    // Binomial::new only fails for p outside [0, 1]; ½ is valid.
    Binomial::new(0.5, m).map_or((f64::NAN, f64::NAN), |dist| (dist.cdf(k), dist.pmf(k)))
}

/// Exact two-sided binomial test of `k` against `m − k` under p = ½, and its mid-p version.
/// With no trials there is no evidence either way: both are 1.
pub(crate) fn fair_coin_two_sided(k: u64, m: u64) -> (f64, f64) {
    if m == 0 {
        return (1.0, 1.0);
    }
    let (cdf, pmf) = fair_coin_cdf_pmf(k.min(m - k), m);
    ((2.0 * cdf).min(1.0), (2.0 * (cdf - 0.5 * pmf)).min(1.0))
}

/// The t test and interval of `estimate` with standard error `se` (> 0) on `df` degrees of freedom.
pub(crate) fn t_test(estimate: f64, se: f64, df: f64, alpha: f64) -> Result<TTest> {
    let statistic = estimate / se;
    let critical = t_quantile(1.0 - alpha / 2.0, df)?;
    Ok(TTest {
        estimate,
        standard_error: se,
        statistic,
        df,
        p_value: t_two_sided_p(statistic, df)?,
        interval: Interval::around(estimate, critical * se),
    })
}
