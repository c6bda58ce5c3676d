//! Bradley-Terry ratings of k arms from pairwise preference counts: P(i beats j) =
//! σ(βᵢ − βⱼ). Owns the fit (Hunter's MM algorithm), the identification (Σβ = 0, plus the
//! differences to an anchor arm), Elo-scaled display values and Fisher-information standard
//! errors. Use it to rank many arms, including from incomplete pairings; a decision between two
//! named arms still uses the sign test and Holm.
//!
//! The maximum-likelihood fit exists only when the win graph is strongly connected (every split
//! of the arms into two groups has a win each way across it); otherwise some rating runs off to
//! infinity. Then half a pseudo-win is added each way to every compared pair, a tiny prior that
//! keeps ratings finite, and the result says so.

use serde::Serialize;

use super::{Result, StatsError};

/// Convergence threshold on the largest change of any β in one MM step.
const TOLERANCE: f64 = 1e-12;
/// MM converges linearly; on well-connected data it needs tens of steps, so this is a safety cap.
const MAX_ITERATIONS: usize = 100_000;

/// Fitted ratings of k arms.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BradleyTerry {
    /// βᵢ on the log-odds scale, centred so Σβ = 0.
    pub strengths: Vec<f64>,
    /// 1000 + 400·β/ln 10: the Elo-like scale of Chatbot Arena (400 points = 10:1 odds).
    pub elo: Vec<f64>,
    /// The arm whose β is fixed at 0 for the standard errors.
    pub anchor: usize,
    /// βᵢ − β_anchor.
    pub relative_to_anchor: Vec<f64>,
    /// Standard errors of `relative_to_anchor` from the inverse Fisher information (0 for the
    /// anchor; infinite if the information matrix is singular).
    pub standard_errors: Vec<f64>,
    /// MM steps taken.
    pub iterations: usize,
    /// Whether the fit met its tolerance before the iteration cap.
    pub converged: bool,
    /// Whether the win graph was not strongly connected and the ½-win prior was added.
    pub prior_added: bool,
}

impl BradleyTerry {
    /// Fitted probability that arm `i` is preferred to arm `j`; `None` for an unknown arm.
    pub fn win_probability(&self, i: usize, j: usize) -> Option<f64> {
        let (beta_i, beta_j) = (self.strengths.get(i)?, self.strengths.get(j)?);
        Some(logistic(beta_i - beta_j))
    }
}

/// Fits Bradley-Terry ratings. `wins[i][j]` is how often arm i was preferred to arm j (a tie
/// adds ½ to both `wins[i][j]` and `wins[j][i]`); the diagonal is ignored. `anchor` picks the
/// arm the standard errors are relative to (usually the baseline).
///
/// Errors when the matrix is not square with k ≥ 2, holds a negative or non-finite count, the
/// anchor is out of range, or some arm is never compared even indirectly with arm 0.
pub fn bradley_terry<S: AsRef<[f64]>>(wins: &[S], anchor: usize) -> Result<BradleyTerry> {
    let mut wins = check_matrix(wins)?;
    let arms = wins.len();
    if anchor >= arms {
        return Err(StatsError::InvalidParameter { name: "anchor", value: anchor as f64, expected: "an arm index" });
    }
    if let Some(arm) = unreachable_arm(arms, |i, j| wins[i][j] + wins[j][i] > 0.0) {
        return Err(StatsError::Disconnected { arm });
    }
    let strongly_connected = unreachable_arm(arms, |i, j| wins[i][j] > 0.0).is_none()
        && unreachable_arm(arms, |i, j| wins[j][i] > 0.0).is_none();
    if !strongly_connected {
        add_half_win_prior(&mut wins);
    }
    let (strengths, iterations, converged) = fit(&wins);
    let relative_to_anchor: Vec<f64> = strengths.iter().map(|b| b - strengths[anchor]).collect();
    let standard_errors = standard_errors(&wins, &strengths, anchor);
    Ok(BradleyTerry {
        elo: strengths.iter().map(|b| 1000.0 + 400.0 * b / std::f64::consts::LN_10).collect(),
        strengths,
        anchor,
        relative_to_anchor,
        standard_errors,
        iterations,
        converged,
        prior_added: !strongly_connected,
    })
}

fn check_matrix<S: AsRef<[f64]>>(rows: &[S]) -> Result<Vec<Vec<f64>>> {
    if rows.len() < 2 {
        return Err(StatsError::TooFewObservations { name: "arms", needed: 2, got: rows.len() });
    }
    let mut matrix = Vec::with_capacity(rows.len());
    for row in rows.iter().map(AsRef::as_ref) {
        if row.len() != rows.len() {
            return Err(StatsError::LengthMismatch { a: rows.len(), b: row.len() });
        }
        if let Some(index) = row.iter().position(|v| !v.is_finite()) {
            return Err(StatsError::NotFinite { name: "wins", index });
        }
        if let Some(&value) = row.iter().find(|&&v| v < 0.0) {
            return Err(StatsError::NegativeCount { name: "wins", value });
        }
        matrix.push(row.to_vec());
    }
    Ok(matrix)
}

/// An arm that arm 0 cannot reach along `edge(i, j)` edges, if any.
fn unreachable_arm(arms: usize, edge: impl Fn(usize, usize) -> bool) -> Option<usize> {
    let mut seen = vec![false; arms];
    let mut stack = vec![0];
    seen[0] = true;
    while let Some(i) = stack.pop() {
        for (j, reached) in seen.iter_mut().enumerate() {
            if !*reached && i != j && edge(i, j) {
                *reached = true;
                stack.push(j);
            }
        }
    }
    seen.iter().position(|&reached| !reached)
}

#[expect(clippy::needless_range_loop, reason = "each pair updates both wins[i][j] and wins[j][i]")]
fn add_half_win_prior(wins: &mut [Vec<f64>]) {
    for i in 0..wins.len() {
        for j in (i + 1)..wins.len() {
            if wins[i][j] + wins[j][i] > 0.0 {
                wins[i][j] += 0.5;
                wins[j][i] += 0.5;
            }
        }
    }
}

/// Hunter's MM iteration πᵢ ← Wᵢ / Σⱼ nᵢⱼ/(πᵢ + πⱼ), renormalised to a geometric mean of 1 so
/// β = ln π sums to zero. Returns β, the steps taken and whether it converged.
fn fit(wins: &[Vec<f64>]) -> (Vec<f64>, usize, bool) {
    let arms = wins.len();
    let total_wins: Vec<f64> =
        wins.iter().enumerate().map(|(i, row)| (0..arms).filter(|&j| j != i).map(|j| row[j]).sum()).collect();
    let mut beta = vec![0.0; arms];
    for iteration in 1..=MAX_ITERATIONS {
        let strength: Vec<f64> = beta.iter().map(|b| f64::exp(*b)).collect();
        let mut next: Vec<f64> = (0..arms)
            .map(|i| {
                let exposure: f64 = (0..arms)
                    .filter(|&j| j != i)
                    .map(|j| (wins[i][j] + wins[j][i]) / (strength[i] + strength[j]))
                    .sum();
                (total_wins[i] / exposure).ln()
            })
            .collect();
        let center = next.iter().sum::<f64>() / arms as f64;
        next.iter_mut().for_each(|b| *b -= center);
        let change = next.iter().zip(&beta).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
        beta = next;
        if change < TOLERANCE {
            return (beta, iteration, true);
        }
    }
    (beta, MAX_ITERATIONS, false)
}

fn logistic(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// √ of the diagonal of the inverse Fisher information with the anchor's row and column removed.
fn standard_errors(wins: &[Vec<f64>], beta: &[f64], anchor: usize) -> Vec<f64> {
    let free: Vec<usize> = (0..beta.len()).filter(|&i| i != anchor).collect();
    let information = |i: usize, j: usize| {
        let weight = |a: usize, b: usize| {
            let p = logistic(beta[a] - beta[b]);
            (wins[a][b] + wins[b][a]) * p * (1.0 - p)
        };
        if i == j { (0..beta.len()).filter(|&k| k != i).map(|k| weight(i, k)).sum() } else { -weight(i, j) }
    };
    let matrix: Vec<Vec<f64>> = free.iter().map(|&i| free.iter().map(|&j| information(i, j)).collect()).collect();
    let inverse_diagonal = invert_diagonal(matrix);
    let mut errors = vec![0.0; beta.len()];
    for (slot, &arm) in free.iter().enumerate() {
        errors[arm] = inverse_diagonal.as_ref().map_or(f64::INFINITY, |d| d[slot].sqrt());
    }
    errors
}

/// Diagonal of the inverse of a small square matrix by Gauss-Jordan elimination with partial
/// pivoting; `None` if it is singular. k is a handful of arms, so O(k³) is nothing.
fn invert_diagonal(mut matrix: Vec<Vec<f64>>) -> Option<Vec<f64>> {
    let size = matrix.len();
    let mut inverse: Vec<Vec<f64>> =
        (0..size).map(|i| (0..size).map(|j| f64::from(u8::from(i == j))).collect()).collect();
    for column in 0..size {
        let pivot_row = (column..size).max_by(|&a, &b| matrix[a][column].abs().total_cmp(&matrix[b][column].abs()))?;
        let pivot = matrix[pivot_row][column];
        if pivot.abs() < f64::MIN_POSITIVE {
            return None;
        }
        matrix.swap(column, pivot_row);
        inverse.swap(column, pivot_row);
        for j in 0..size {
            matrix[column][j] /= pivot;
            inverse[column][j] /= pivot;
        }
        for row in (0..size).filter(|&r| r != column) {
            let factor = matrix[row][column];
            for j in 0..size {
                matrix[row][j] -= factor * matrix[column][j];
                inverse[row][j] -= factor * inverse[column][j];
            }
        }
    }
    Some((0..size).map(|i| inverse[i][i]).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::golden;

    #[test]
    fn ratings_match_golden_g8() {
        let g = golden::vector("bradley_terry");
        let result = bradley_terry(&g.rows("/inputs/wins"), 0).unwrap();
        assert!(result.converged && !result.prior_added);
        let elo_per_beta = 400.0 / std::f64::consts::LN_10;
        for arm in 0..3 {
            g.assert_close(&format!("/expected/beta_centered/{arm}"), result.strengths[arm]);
            g.assert_close(&format!("/expected/beta_anchor_A0/{arm}"), result.relative_to_anchor[arm]);
            // The golden β came from BFGS stopping with a gradient of ~7e-7 (ours: ~1e-14), an
            // error of ~2e-8 in β that the Elo scale multiplies by 174; the stated tolerance is
            // one on β, so it is scaled the same way.
            let expected_elo = g.number(&format!("/expected/elo_scale/{arm}"));
            assert!((result.elo[arm] - expected_elo).abs() <= g.tolerance * elo_per_beta);
        }
        g.assert_close("/expected/se_anchor_A0_B_C/0", result.standard_errors[1]);
        g.assert_close("/expected/se_anchor_A0_B_C/1", result.standard_errors[2]);
        assert_eq!(result.standard_errors[0], 0.0);
        g.assert_close("/expected/p_A_beats_B", result.win_probability(0, 1).unwrap());
    }

    #[test]
    fn strengths_sum_to_zero() {
        let result = bradley_terry(&[vec![0.0, 7.0, 2.0], vec![3.0, 0.0, 5.0], vec![1.0, 4.0, 0.0]], 2).unwrap();
        assert!(result.strengths.iter().sum::<f64>().abs() < 1e-12);
        assert_eq!(result.relative_to_anchor[2], 0.0);
    }

    #[test]
    fn an_unbeaten_arm_gets_the_prior_and_finite_ratings() {
        // A beat B every time: without the prior β_A − β_B would diverge.
        let result = bradley_terry(&[vec![0.0, 10.0], vec![0.0, 0.0]], 0).unwrap();
        assert!(result.prior_added && result.converged);
        assert!(result.strengths.iter().all(|b| b.is_finite()));
        // With ½ pseudo-win each way the fit is exact: P(A ≻ B) = 10.5 / 11.
        assert!((result.win_probability(0, 1).unwrap() - 10.5 / 11.0).abs() < 1e-9);
    }

    #[test]
    fn arms_never_compared_with_the_rest_are_an_error() {
        let wins = [vec![0.0, 3.0, 0.0], vec![2.0, 0.0, 0.0], vec![0.0, 0.0, 0.0]];
        assert_eq!(bradley_terry(&wins, 0).unwrap_err(), StatsError::Disconnected { arm: 2 });
    }

    #[test]
    fn invalid_matrices_are_errors() {
        assert!(matches!(bradley_terry(&[vec![0.0]], 0), Err(StatsError::TooFewObservations { .. })));
        assert!(matches!(bradley_terry(&[vec![0.0, 1.0], vec![1.0]], 0), Err(StatsError::LengthMismatch { .. })));
        assert!(matches!(bradley_terry(&[vec![0.0, -1.0], vec![1.0, 0.0]], 0), Err(StatsError::NegativeCount { .. })));
        assert!(matches!(
            bradley_terry(&[vec![0.0, 1.0], vec![1.0, 0.0]], 2),
            Err(StatsError::InvalidParameter { .. })
        ));
    }

    #[test]
    fn win_probability_of_an_unknown_arm_is_none() {
        let result = bradley_terry(&[vec![0.0, 1.0], vec![1.0, 0.0]], 0).unwrap();
        assert_eq!(result.win_probability(0, 5), None);
        assert_eq!(result.win_probability(0, 1), Some(0.5));
    }
}
