//! Adjusting p-values when one experiment asks several questions (k arms against a baseline,
//! several metrics). Holm controls the family-wise error rate and is the default for the
//! primary comparisons; Benjamini-Hochberg controls the false discovery rate and suits many
//! secondary metrics; Bonferroni is Holm's simple, more conservative ancestor and gives the
//! per-interval level α/m (Holm has no matching intervals). Every function returns adjusted
//! p-values in the input order; compare them with the unadjusted α.

use super::common::check_probability;
use super::{Result, StatsError};

/// Bonferroni: min(1, m·p).
pub fn bonferroni(p_values: &[f64]) -> Result<Vec<f64>> {
    check_p_values(p_values)?;
    let m = p_values.len() as f64;
    Ok(p_values.iter().map(|p| (m * p).min(1.0)).collect())
}

/// Holm's step-down: the j-th smallest p is multiplied by (m − j + 1), then adjusted values are
/// made non-decreasing in that order so a smaller p never gets a larger adjusted p.
pub fn holm(p_values: &[f64]) -> Result<Vec<f64>> {
    check_p_values(p_values)?;
    let m = p_values.len();
    let mut adjusted = vec![0.0; m];
    let mut running_max: f64 = 0.0;
    for (rank, &index) in ascending_order(p_values).iter().enumerate() {
        running_max = running_max.max(((m - rank) as f64 * p_values[index]).min(1.0));
        adjusted[index] = running_max;
    }
    Ok(adjusted)
}

/// Benjamini-Hochberg step-up: the j-th smallest p is multiplied by m/j, then adjusted values
/// are made non-increasing from the largest p down.
pub fn benjamini_hochberg(p_values: &[f64]) -> Result<Vec<f64>> {
    check_p_values(p_values)?;
    let m = p_values.len();
    let mut adjusted = vec![0.0; m];
    let mut running_min: f64 = 1.0;
    for (rank, &index) in ascending_order(p_values).iter().enumerate().rev() {
        running_min = running_min.min(m as f64 / (rank + 1) as f64 * p_values[index]);
        adjusted[index] = running_min;
    }
    Ok(adjusted)
}

/// The per-comparison level α/m for intervals that hold jointly over m comparisons.
pub fn bonferroni_alpha(alpha: f64, comparisons: usize) -> Result<f64> {
    let alpha = check_probability("alpha", alpha)?;
    if comparisons == 0 {
        return Err(StatsError::TooFewObservations { name: "comparisons", needed: 1, got: 0 });
    }
    Ok(alpha / comparisons as f64)
}

fn check_p_values(p_values: &[f64]) -> Result<()> {
    match p_values.iter().find(|p| !(0.0..=1.0).contains(*p)) {
        Some(&value) => Err(StatsError::InvalidParameter { name: "p_values", value, expected: "within [0, 1]" }),
        None => Ok(()),
    }
}

/// Indices of `p_values` sorted by value; ties keep input order so results are deterministic.
fn ascending_order(p_values: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..p_values.len()).collect();
    order.sort_by(|&i, &j| p_values[i].total_cmp(&p_values[j]));
    order
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::stats::golden;

    fn assert_all_close(g: &golden::Vector, key: &str, actual: &[f64]) {
        for (i, value) in actual.iter().enumerate() {
            g.assert_close(&format!("/expected/{key}/{i}"), *value);
        }
    }

    #[test]
    fn adjustments_match_golden_g7() {
        let g = golden::vector("multiple_comparisons");
        let p = g.numbers("/inputs/p");
        assert_all_close(&g, "holm", &holm(&p).unwrap());
        assert_all_close(&g, "bonferroni", &bonferroni(&p).unwrap());
        assert_all_close(&g, "fdr_bh", &benjamini_hochberg(&p).unwrap());
    }

    #[test]
    fn no_p_values_give_no_adjustments() {
        assert_eq!(holm(&[]).unwrap(), Vec::<f64>::new());
        assert_eq!(benjamini_hochberg(&[]).unwrap(), Vec::<f64>::new());
    }

    #[test]
    fn p_values_outside_zero_one_are_rejected() {
        assert!(holm(&[0.2, 1.5]).is_err());
        assert!(benjamini_hochberg(&[f64::NAN]).is_err());
    }

    #[test]
    fn bonferroni_alpha_splits_the_level() {
        assert_eq!(bonferroni_alpha(0.05, 5).unwrap(), 0.01);
        assert!(bonferroni_alpha(0.05, 0).is_err());
    }

    proptest! {
        #[test]
        fn adjusted_p_values_are_probabilities_no_smaller_than_raw(p in proptest::collection::vec(0.0f64..=1.0, 0..20)) {
            let (holm, bh, bonferroni) = (holm(&p).unwrap(), benjamini_hochberg(&p).unwrap(), bonferroni(&p).unwrap());
            for i in 0..p.len() {
                prop_assert!(p[i] <= holm[i] + 1e-15 && holm[i] <= 1.0);
                prop_assert!(p[i] <= bh[i] + 1e-15 && bh[i] <= 1.0);
                prop_assert!(holm[i] <= bonferroni[i] + 1e-15);
                prop_assert!(bh[i] <= holm[i] + 1e-15);
            }
        }
    }
}
