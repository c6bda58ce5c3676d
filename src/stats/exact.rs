//! Exact permutation distributions of rank sums, shared by the two rank tests. Private to
//! [`crate::stats`].
//!
//! Both tests reduce to "how many ways can a subset of the ranks add up to s": the signed-rank
//! statistic is the sum of ranks that happen to be positive (any subset, each equally likely
//! under H0), the Mann-Whitney statistic the sum of ranks that fall in the first sample (subsets
//! of a fixed size). Counting subsets by sum is a knapsack recurrence. Tied values share average
//! ranks, which are multiples of ½, so the ranks are doubled to integers when needed; the result
//! is the distribution conditional on the observed ties, which is what "exact" means with ties.

/// Ranks as integer weights, with the factor they were multiplied by (1, or 2 when some tie
/// produced a half rank).
pub(crate) fn integer_weights(ranks: &[f64]) -> (Vec<usize>, f64) {
    let scale = if ranks.iter().all(|r| r.fract() == 0.0) { 1.0 } else { 2.0 };
    (ranks.iter().map(|r| (r * scale).round() as usize).collect(), scale)
}

/// `counts[s]` = number of subsets of `weights` (of any size) whose sum is `s`.
pub(crate) fn subset_sum_counts(weights: &[usize]) -> Vec<f64> {
    let total: usize = weights.iter().sum();
    let mut counts = vec![0.0; total + 1];
    counts[0] = 1.0;
    let mut reachable = 0;
    for &weight in weights {
        reachable += weight;
        // Descending sums so each weight is used at most once (0/1 knapsack).
        for sum in (weight..=reachable).rev() {
            counts[sum] += counts[sum - weight];
        }
    }
    counts
}

/// `counts[s]` = number of subsets of exactly `size` weights whose sum is `s`.
pub(crate) fn sized_subset_sum_counts(weights: &[usize], size: usize) -> Vec<f64> {
    let mut sorted = weights.to_vec();
    sorted.sort_unstable();
    // No subset of `size` weights can exceed the sum of the largest ones, so partial sums above
    // it lead nowhere and the table stops there.
    let cap: usize = sorted.iter().rev().take(size).sum();
    let mut by_size = vec![vec![0.0; cap + 1]; size + 1];
    by_size[0][0] = 1.0;
    for (seen, &weight) in weights.iter().enumerate() {
        // Larger subset sizes first so each weight joins a subset at most once.
        for taken in (0..size.min(seen + 1)).rev() {
            let (smaller, larger) = by_size.split_at_mut(taken + 1);
            let (from, to) = (&smaller[taken], &mut larger[0]);
            for sum in 0..=cap.saturating_sub(weight) {
                to[sum + weight] += from[sum];
            }
        }
    }
    by_size.swap_remove(size)
}

/// Two-sided p-value of an observed sum under counted outcomes: twice the smaller tail, at most 1.
pub(crate) fn two_sided_p(counts: &[f64], observed: usize) -> f64 {
    let total: f64 = counts.iter().sum();
    let observed = observed.min(counts.len().saturating_sub(1));
    let lower: f64 = counts[..=observed].iter().sum();
    let upper: f64 = counts[observed..].iter().sum();
    (2.0 * lower.min(upper) / total).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsets_of_one_two_three_are_counted_by_sum() {
        // {}, {1}, {2}, {3} and {1,2}, {1,3}, {2,3}, {1,2,3}: sums 0 1 2 3 3 4 5 6.
        assert_eq!(subset_sum_counts(&[1, 2, 3]), vec![1.0, 1.0, 1.0, 2.0, 1.0, 1.0, 1.0]);
    }

    #[test]
    fn pairs_from_one_to_four_are_counted_by_sum() {
        // {1,2}=3 {1,3}=4 {1,4}=5 {2,3}=5 {2,4}=6 {3,4}=7.
        let counts = sized_subset_sum_counts(&[1, 2, 3, 4], 2);
        assert_eq!(counts, vec![0.0, 0.0, 0.0, 1.0, 1.0, 2.0, 1.0, 1.0]);
    }

    #[test]
    fn half_ranks_are_doubled() {
        assert_eq!(integer_weights(&[1.5, 1.5, 3.0]), (vec![3, 3, 6], 2.0));
        assert_eq!(integer_weights(&[2.0, 2.0, 2.0]), (vec![2, 2, 2], 1.0));
    }
}
