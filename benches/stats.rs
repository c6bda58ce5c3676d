//! Benchmarks of `promptops::stats` at report scale: the whole paired analysis of a very large
//! suite, and a full-size bootstrap. Run with `cargo bench --bench stats`; the medians go into
//! `docs/stats.md`. Targets: analysis of 100,000 paired cases under 100 ms, a 10,000-resample
//! bootstrap of 1,000 cases under 1 s.

use promptops::stats::RankMethod;
use promptops::stats::bootstrap::{BootstrapConfig, PairedStatistic, paired_bootstrap};
use promptops::stats::paired::{DiscordantPairs, mcnemar, paired_t};
use promptops::stats::proportion::{Counts, wilson};
use promptops::stats::signed_rank::wilcoxon_signed_rank;
use promptops_test_support::bench::measure;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Scores of two correlated arms on `cases` cases: a shared case difficulty plus arm noise, B a
/// little better, so both pass rates and score differences look like a real comparison.
fn suite(cases: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..cases)
        .map(|_| {
            let difficulty: f64 = rng.random();
            let a = (difficulty + 0.3 * rng.random::<f64>()).min(1.0);
            let b = (difficulty + 0.35 * rng.random::<f64>()).min(1.0);
            (a, b)
        })
        .unzip()
}

fn analyse(a: &[f64], b: &[f64]) -> f64 {
    let pass_a: Vec<bool> = a.iter().map(|&s| s >= 0.7).collect();
    let pass_b: Vec<bool> = b.iter().map(|&s| s >= 0.7).collect();
    let table = DiscordantPairs::from_outcomes(&pass_a, &pass_b).expect("equal lengths");
    let mcnemar = mcnemar(table, 0.05).expect("valid table");
    let t = paired_t(a, b, 0.05).expect("valid scores");
    let wilcoxon = wilcoxon_signed_rank(a, b, RankMethod::Normal).expect("valid scores");
    let n = a.len() as u64;
    let passes = |p: &[bool]| p.iter().filter(|&&x| x).count() as u64;
    let rate_a = wilson(Counts::new(passes(&pass_a), n), 0.05).expect("valid counts");
    let rate_b = wilson(Counts::new(passes(&pass_b), n), 0.05).expect("valid counts");
    mcnemar.exact.p_value + t.test.p_value + wilcoxon.p_value + rate_a.lower + rate_b.upper
}

fn main() {
    let (a, b) = suite(100_000, 1);
    measure("analysis of 100,000 paired cases (McNemar, paired t, Wilcoxon normal, Wilson x2)", 21, || analyse(&a, &b));

    let (a, b) = suite(1_000, 2);
    let config = BootstrapConfig { resamples: 10_000, seed: 7, alpha: 0.05, bca: true };
    for (name, statistic) in [
        ("mean difference", PairedStatistic::MeanDifference),
        ("median difference", PairedStatistic::MedianDifference),
        ("p95 difference", PairedStatistic::QuantileDifference(0.95)),
    ] {
        measure(&format!("bootstrap of 1,000 cases, 10,000 resamples, {name}, percentile + BCa"), 7, || {
            paired_bootstrap(&a, &b, statistic, config).expect("valid bootstrap")
        });
    }
}
