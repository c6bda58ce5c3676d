//! Input checks and the small descriptive helpers every test needs: means, variances, ranks,
//! quantiles. Private to [`crate::stats`].

use super::{Result, StatsError};

/// Accepts a probability strictly inside (0, 1); statrs' quantile functions panic outside [0, 1].
pub(crate) fn check_probability(name: &'static str, value: f64) -> Result<f64> {
    if value > 0.0 && value < 1.0 { Ok(value) } else { Err(StatsError::ProbabilityOutOfRange { name, value }) }
}

/// Accepts a finite number greater than zero.
pub(crate) fn check_positive(name: &'static str, value: f64) -> Result<f64> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(StatsError::InvalidParameter { name, value, expected: "a finite number greater than 0" })
    }
}

/// Accepts a slice of finite numbers with at least `needed` values.
pub(crate) fn check_sample(name: &'static str, values: &[f64], needed: usize) -> Result<()> {
    if values.len() < needed {
        return Err(StatsError::TooFewObservations { name, needed, got: values.len() });
    }
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(StatsError::NotFinite { name, index }),
        None => Ok(()),
    }
}

/// Checks two arms measured on the same cases and returns `a[i] - b[i]`.
pub(crate) fn paired_differences(a: &[f64], b: &[f64], needed: usize) -> Result<Vec<f64>> {
    if a.len() != b.len() {
        return Err(StatsError::LengthMismatch { a: a.len(), b: b.len() });
    }
    check_sample("a", a, needed)?;
    check_sample("b", b, needed)?;
    Ok(a.iter().zip(b).map(|(x, y)| x - y).collect())
}

/// The arithmetic mean; callers guarantee a non-empty slice.
pub(crate) fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// The sample variance (divisor n - 1) around a known mean; callers guarantee two values or more.
/// Two passes rather than a running sum of squares, which loses digits when the mean is large.
pub(crate) fn sample_variance(values: &[f64], mean: f64) -> f64 {
    let squares: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
    squares / (values.len() - 1) as f64
}

/// Ranks of `values` (1-based), ties getting the average of the ranks they span, plus the size
/// of every tie group larger than one (for the variance corrections of the rank tests).
pub(crate) fn average_ranks(values: &[f64]) -> (Vec<f64>, Vec<usize>) {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_unstable_by(|&i, &j| values[i].total_cmp(&values[j]));
    let mut ranks = vec![0.0; values.len()];
    let mut ties = Vec::new();
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        // Positions start..end hold equal values: each gets the mean of ranks start+1..=end.
        let rank = (start + end + 1) as f64 / 2.0;
        for &index in &order[start..end] {
            ranks[index] = rank;
        }
        if end - start > 1 {
            ties.push(end - start);
        }
        start = end;
    }
    (ranks, ties)
}

/// Σ(t³ - t) over tie groups, the term both rank tests subtract from their variance.
pub(crate) fn tie_term(ties: &[usize]) -> f64 {
    ties.iter().map(|&t| (t as f64).powi(3) - t as f64).sum()
}

/// The `q` quantile of ascending `sorted` values by linear interpolation between order
/// statistics (Hyndman-Fan type 7, NumPy's default); callers guarantee a non-empty slice.
pub(crate) fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let position = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let below = position.floor() as usize;
    let above = (below + 1).min(sorted.len() - 1);
    let fraction = position - below as f64;
    sorted[below] + fraction * (sorted[above] - sorted[below])
}

/// The `q` quantile (type 7, as [`quantile_sorted`]) of unsorted values in linear time;
/// reorders `values`. Callers guarantee a non-empty slice.
pub(crate) fn quantile_unsorted(values: &mut [f64], q: f64) -> f64 {
    let position = q.clamp(0.0, 1.0) * (values.len() - 1) as f64;
    let below = position.floor() as usize;
    let fraction = position - below as f64;
    let (_, &mut low, above) = values.select_nth_unstable_by(below, f64::total_cmp);
    if fraction == 0.0 {
        return low;
    }
    // After selection everything right of `below` is at least as large: its minimum is the
    // next order statistic.
    let high = above.iter().copied().min_by(f64::total_cmp).unwrap_or(low);
    low + fraction * (high - low)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_share_the_average_rank() {
        let (ranks, ties) = average_ranks(&[10.0, 20.0, 10.0, 30.0]);
        assert_eq!(ranks, vec![1.5, 3.0, 1.5, 4.0]);
        assert_eq!(ties, vec![2]);
    }

    #[test]
    fn quantile_interpolates_between_order_statistics() {
        assert_eq!(quantile_sorted(&[1.0, 2.0, 3.0, 4.0], 0.5), 2.5);
        assert_eq!(quantile_sorted(&[7.0], 0.9), 7.0);
    }

    #[test]
    fn unsorted_quantile_agrees_with_sorted() {
        let mut values = [5.0, 1.0, 4.0, 2.0, 3.0, 9.0];
        let mut sorted = values;
        sorted.sort_by(f64::total_cmp);
        for q in [0.0, 0.1, 0.5, 0.95, 1.0] {
            assert_eq!(quantile_unsorted(&mut values, q), quantile_sorted(&sorted, q));
        }
    }

    #[test]
    fn probabilities_at_the_bounds_are_rejected() {
        assert!(check_probability("alpha", 0.0).is_err());
        assert!(check_probability("alpha", 1.0).is_err());
        assert!(check_probability("alpha", f64::NAN).is_err());
        assert_eq!(check_probability("alpha", 0.05), Ok(0.05));
    }

    #[test]
    fn paired_differences_reject_unequal_lengths() {
        assert_eq!(paired_differences(&[1.0], &[1.0, 2.0], 1), Err(StatsError::LengthMismatch { a: 1, b: 2 }));
    }

    #[test]
    fn non_finite_values_are_named_by_index() {
        assert_eq!(check_sample("x", &[1.0, f64::NAN], 1), Err(StatsError::NotFinite { name: "x", index: 1 }));
    }
}
