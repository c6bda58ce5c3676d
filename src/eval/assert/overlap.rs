//! Reference-overlap metrics for summaries and translations: ROUGE-N (recall of the reference's
//! n-grams) and sentence BLEU (clipped n-gram precision up to 4-grams with a brevity penalty).
//! Text is lower-cased and split into alphanumeric words first.

use std::collections::HashMap;

use super::Grade;

/// The words of `text`, lower-cased.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

fn ngrams(words: &[String], n: usize) -> HashMap<&[String], usize> {
    let mut counts = HashMap::new();
    if n == 0 || words.len() < n {
        return counts;
    }
    for window in words.windows(n) {
        *counts.entry(window).or_insert(0) += 1;
    }
    counts
}

/// Clipped matches of candidate n-grams against reference n-grams, and the totals of each.
fn overlap(candidate: &[String], reference: &[String], n: usize) -> (usize, usize, usize) {
    let (cand, refs) = (ngrams(candidate, n), ngrams(reference, n));
    let matches = cand.iter().map(|(gram, count)| (*count).min(refs.get(gram).copied().unwrap_or(0))).sum();
    (matches, cand.values().sum(), refs.values().sum())
}

/// ROUGE-N recall of `output` against `reference`.
pub fn rouge_n(output: &str, reference: &str, n: usize) -> f64 {
    let (matches, _, total) = overlap(&words(output), &words(reference), n);
    if total == 0 { 0.0 } else { matches as f64 / total as f64 }
}

/// Sentence BLEU-4 of `output` against `reference`, with add-one smoothing for higher orders
/// so that one missing 4-gram does not zero a short sentence.
pub fn bleu(output: &str, reference: &str) -> f64 {
    let (cand, refs) = (words(output), words(reference));
    if cand.is_empty() || refs.is_empty() {
        return 0.0;
    }
    let mut log_sum = 0.0;
    for n in 1..=4 {
        let (matches, total, _) = overlap(&cand, &refs, n);
        let precision = if n == 1 {
            if matches == 0 {
                return 0.0;
            }
            matches as f64 / total as f64
        } else {
            (matches as f64 + 1.0) / (total as f64 + 1.0)
        };
        log_sum += precision.ln() / 4.0;
    }
    let (c, r) = (cand.len() as f64, refs.len() as f64);
    let brevity = if c >= r { 1.0 } else { (1.0 - r / c).exp() };
    brevity * log_sum.exp()
}

/// A score against a threshold, with the metric named in the reason.
pub fn graded(metric: &str, score: f64, threshold: f64) -> Grade {
    let pass = score >= threshold;
    let reason = if pass { String::new() } else { format!("{metric} {score:.2} is below {threshold}") };
    Grade::scored(pass, score, reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rouge_counts_reference_ngrams_recalled() {
        assert!((rouge_n("the cat sat", "the cat sat on the mat", 1) - 0.5).abs() < 1e-9);
        assert!((rouge_n("the cat sat", "the cat", 2) - 1.0).abs() < 1e-9);
        assert_eq!(rouge_n("", "x", 1), 0.0);
    }

    #[test]
    fn bleu_is_one_for_identical_text_and_lower_otherwise() {
        let same = bleu("the quick brown fox jumps", "the quick brown fox jumps");
        assert!((same - 1.0).abs() < 1e-9, "{same}");
        let close = bleu("the quick brown fox", "the quick brown fox jumps");
        assert!(close > 0.3 && close < 1.0, "{close}");
        assert_eq!(bleu("nothing shared", "entirely different"), 0.0);
    }

    #[test]
    fn graded_reports_the_shortfall() {
        assert_eq!(graded("ROUGE-1", 0.4, 0.5).reason, "ROUGE-1 0.40 is below 0.5");
    }
}
