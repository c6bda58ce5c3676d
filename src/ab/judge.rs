//! Pairwise judging: a model reads two arms' outputs for the same case and says which is
//! better. Every pair is judged in both orders to control position bias; a case is a win only
//! when both orders prefer the same arm, otherwise a tie (the MT-Bench rule). Reported per pair
//! of arms: wins, ties, losses, the exact sign test on the decided cases (Holm-adjusted across
//! pairs), position consistency and the first-slot pick rate (the bias); with three or more
//! arms, Bradley-Terry ratings on the Elo scale.

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::analysis::letter;
use super::error::AbError;
use super::sample::ArmSample;
use crate::eval::backend::Backend;
use crate::prompt::RenderedPrompt;
use crate::stats::bradley_terry::bradley_terry;
use crate::stats::multiple::holm;
use crate::stats::paired::{SignCounts, sign_test_counts};

/// Judge calls in flight at once.
const CONCURRENCY: usize = 8;

/// One pair of arms as judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairJudgement {
    /// The first arm (index).
    pub first: usize,
    /// The second arm (index).
    pub second: usize,
    /// Cases both orders gave to the first arm.
    pub wins: u64,
    /// Cases the orders disagreed on, or both called a tie.
    pub ties: u64,
    /// Cases both orders gave to the second arm.
    pub losses: u64,
    /// Exact two-sided sign test of wins against losses.
    pub p_value: f64,
    /// Holm-adjusted across all judged pairs.
    pub adjusted_p: f64,
    /// (wins + ties / 2) / cases: the first arm's win share.
    pub win_share: f64,
    /// Share of cases where both orders gave the same answer.
    pub consistency: f64,
    /// Share of decisive answers that picked whichever output was shown first.
    pub first_slot_rate: f64,
    /// Cases whose answers could not be read as A, B or tie (left out).
    pub unreadable: u64,
}

/// One arm's Bradley-Terry rating.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rating {
    /// The arm's letter.
    pub arm: String,
    /// Elo-scale rating (1000 = average).
    pub elo: f64,
    /// Standard error relative to the baseline, in Elo points (none when not estimable).
    pub standard_error: Option<f64>,
}

/// Everything the judge said.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeReport {
    /// The judge provider.
    pub judge: String,
    /// Every pair of arms.
    pub pairs: Vec<PairJudgement>,
    /// Bradley-Terry ratings, with three or more arms.
    pub ratings: Option<Vec<Rating>>,
    /// Why ratings are missing or approximate.
    pub note: Option<String>,
    /// The verdict, one sentence per pair.
    pub verdicts: Vec<String>,
}

/// A judge's pick for one order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pick {
    First,
    Second,
    Tie,
}

/// Judges every pair of arms on their common cases with `provider`.
pub async fn judge(
    arms: &[ArmSample],
    provider: &str,
    backend: &dyn Backend,
    alpha: f64,
) -> Result<JudgeReport, AbError> {
    let mut pairs = Vec::new();
    for first in 0..arms.len() {
        for second in first + 1..arms.len() {
            pairs.push(judge_pair(arms, first, second, provider, backend).await?);
        }
    }
    let adjusted =
        holm(&pairs.iter().map(|p| p.p_value).collect::<Vec<_>>()).map_err(AbError::stats("judge p-values"))?;
    for (pair, p) in pairs.iter_mut().zip(adjusted) {
        pair.adjusted_p = p;
    }
    let (ratings, note) = if arms.len() >= 3 { ratings(arms.len(), &pairs) } else { (None, None) };
    let mut report = JudgeReport { judge: provider.to_owned(), pairs, ratings, note, verdicts: Vec::new() };
    report.verdicts = super::verdict::judge_sentences(&report, alpha);
    Ok(report)
}

async fn judge_pair(
    arms: &[ArmSample],
    first: usize,
    second: usize,
    provider: &str,
    backend: &dyn Backend,
) -> Result<PairJudgement, AbError> {
    let cases: Vec<(String, String, String)> = arms[first]
        .cases
        .iter()
        .filter_map(|(key, case)| {
            let other = arms[second].cases.get(key)?;
            let vars = serde_json::to_string_pretty(&case.vars).unwrap_or_default();
            Some((vars, case.output.clone()?, other.output.clone()?))
        })
        .collect();
    let answers: Vec<Result<OrderedPicks, AbError>> = futures::stream::iter(cases.iter())
        .map(|(vars, a, b)| async move {
            let forward = ask(provider, backend, vars, a, b).await?;
            let backward = ask(provider, backend, vars, b, a).await?;
            Ok((forward, backward))
        })
        .buffered(CONCURRENCY)
        .collect()
        .await;
    let mut tally = Tally::default();
    for answer in answers {
        let (forward, backward) = answer?;
        tally.add(forward, backward);
    }
    Ok(tally.finish(first, second))
}

/// The picks of one case: the first arm shown first, then the second arm shown first.
type OrderedPicks = (Option<Pick>, Option<Pick>);

#[derive(Debug, Default)]
struct Tally {
    wins: u64,
    ties: u64,
    losses: u64,
    consistent: u64,
    decisive: u64,
    first_slot: u64,
    unreadable: u64,
}

impl Tally {
    /// `forward` showed the first arm first; `backward` the second arm first.
    fn add(&mut self, forward: Option<Pick>, backward: Option<Pick>) {
        let (Some(forward), Some(backward)) = (forward, backward) else {
            self.unreadable += 1;
            return;
        };
        for pick in [forward, backward] {
            if pick != Pick::Tie {
                self.decisive += 1;
                self.first_slot += u64::from(pick == Pick::First);
            }
        }
        // In arm terms: the backward order's `Second` is the first arm.
        let backward_in_arms = match backward {
            Pick::First => Pick::Second,
            Pick::Second => Pick::First,
            Pick::Tie => Pick::Tie,
        };
        if forward == backward_in_arms {
            self.consistent += 1;
        }
        match (forward, backward_in_arms) {
            (Pick::First, Pick::First) => self.wins += 1,
            (Pick::Second, Pick::Second) => self.losses += 1,
            _ => self.ties += 1,
        }
    }

    fn finish(self, first: usize, second: usize) -> PairJudgement {
        let cases = self.wins + self.ties + self.losses;
        let share = |part: f64, whole: u64| if whole == 0 { 0.0 } else { part / whole as f64 };
        let sign = sign_test_counts(SignCounts { wins: self.wins, losses: self.losses, ties: self.ties });
        PairJudgement {
            first,
            second,
            wins: self.wins,
            ties: self.ties,
            losses: self.losses,
            p_value: sign.p_value,
            adjusted_p: sign.p_value,
            win_share: share(self.wins as f64 + self.ties as f64 / 2.0, cases),
            consistency: share(self.consistent as f64, cases),
            first_slot_rate: share(self.first_slot as f64, self.decisive),
            unreadable: self.unreadable,
        }
    }
}

async fn ask(provider: &str, backend: &dyn Backend, vars: &str, a: &str, b: &str) -> Result<Option<Pick>, AbError> {
    let text = format!(
        "You compare two answers to the same request and say which is better.\n\n\
         Request variables:\n{vars}\n\nAnswer A:\n{a}\n\nAnswer B:\n{b}\n\n\
         Which answer is better? Reply with exactly one word: A, B or tie."
    );
    let request = RenderedPrompt::internal("promptops/ab-judge", text);
    let answer = backend
        .complete(provider, &request, 0)
        .await
        .map_err(|err| AbError::Judge { provider: provider.to_owned(), message: err.message })?;
    Ok(parse_pick(&answer.text))
}

/// Reads `A`, `B` or `tie` from the first word of an answer (quotes, punctuation and a JSON
/// `{"winner": …}` wrapper tolerated).
fn parse_pick(text: &str) -> Option<Pick> {
    let text = serde_json::from_str::<serde_json::Value>(text.trim())
        .ok()
        .and_then(|v| v.get("winner").and_then(|w| w.as_str()).map(str::to_owned))
        .unwrap_or_else(|| text.to_owned());
    let word: String = text.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '"' || *c == '*').collect();
    match word.trim_matches(|c| c == '"' || c == '*').to_lowercase().as_str() {
        "a" => Some(Pick::First),
        "b" => Some(Pick::Second),
        "tie" | "equal" | "same" => Some(Pick::Tie),
        _ => None,
    }
}

fn ratings(arms: usize, pairs: &[PairJudgement]) -> (Option<Vec<Rating>>, Option<String>) {
    let mut wins = vec![vec![0.0; arms]; arms];
    for pair in pairs {
        let half = pair.ties as f64 / 2.0;
        wins[pair.first][pair.second] += pair.wins as f64 + half;
        wins[pair.second][pair.first] += pair.losses as f64 + half;
    }
    match bradley_terry(&wins, 0) {
        Ok(fit) => {
            let scale = 400.0 / std::f64::consts::LN_10;
            let ratings = (0..arms)
                .map(|i| Rating {
                    arm: letter(i),
                    elo: fit.elo[i],
                    standard_error: Some(fit.standard_errors[i] * scale).filter(|s| s.is_finite()),
                })
                .collect();
            let note = fit
                .prior_added
                .then(|| "some arm never won or never lost: a ½-win prior keeps ratings finite".to_owned());
            (Some(ratings), note)
        }
        Err(err) => (None, Some(format!("no ratings: {err}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_are_read_leniently() {
        assert_eq!(parse_pick("A"), Some(Pick::First));
        assert_eq!(parse_pick(" b. Because it is shorter"), Some(Pick::Second));
        assert_eq!(parse_pick("**Tie**"), Some(Pick::Tie));
        assert_eq!(parse_pick(r#"{"winner": "B"}"#), Some(Pick::Second));
        assert_eq!(parse_pick("Answer A is better"), None);
    }

    #[test]
    fn a_win_needs_both_orders() {
        let mut tally = Tally::default();
        tally.add(Some(Pick::First), Some(Pick::Second)); // first arm both times
        tally.add(Some(Pick::First), Some(Pick::First)); // whichever is shown first: position bias
        tally.add(Some(Pick::Second), Some(Pick::First)); // second arm both times
        tally.add(None, Some(Pick::First));
        let judged = tally.finish(0, 1);
        assert_eq!((judged.wins, judged.ties, judged.losses, judged.unreadable), (1, 1, 1, 1));
        assert!((judged.consistency - 2.0 / 3.0).abs() < 1e-12);
        assert!((judged.first_slot_rate - 4.0 / 6.0).abs() < 1e-12);
    }
}
