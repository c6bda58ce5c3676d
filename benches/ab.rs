//! Benchmarks of `promptops::ab` at report scale: the whole analysis of two arms over a very
//! large suite (every metric, every test), and a full-size analysis of a 1,000-case suite, whose
//! cost is the 10,000-resample paired bootstraps of latency and cost, and the largest suite the
//! bootstrap budget still bootstraps (50,000 cases, 1,000 resamples). Run with
//! `cargo bench --bench ab`; the medians go into `docs/ab.md`. Targets: 100,000 paired cases
//! under 100 ms; the 1,000-case bootstrap under 1 s.

use promptops::ab::{ArmSample, CaseSample, Settings, analyse};
use promptops_test_support::bench::measure;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Two correlated arms over `cases` cases: a shared case difficulty plus arm noise, B a little
/// better and faster; latency log-normal-ish, cost proportional to tokens.
fn arms(cases: usize, seed: u64) -> [ArmSample; 2] {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut a = ArmSample::new("triage@1", "mock", Some(1));
    let mut b = ArmSample::new("triage@2", "mock", Some(2));
    for i in 0..cases {
        let difficulty: f64 = rng.random();
        let key = format!("case-{i:06}");
        for (arm, skill, speed) in [(&mut a, 0.30, 1.0), (&mut b, 0.35, 0.9)] {
            let score = (difficulty + skill * rng.random::<f64>()).min(1.0);
            let pass = if score >= 0.7 { 1.0 } else { 0.0 };
            let latency = speed * (200.0 + 800.0 * rng.random::<f64>().powi(3));
            let case = CaseSample {
                name: key.clone(),
                passes: vec![pass],
                scores: vec![score],
                latencies: vec![latency],
                costs: vec![(latency * 3.0).round()],
                metrics: [("accuracy".to_owned(), vec![pass])].into_iter().collect(),
                ..CaseSample::default()
            };
            arm.results += 1;
            arm.cases.insert(key.clone(), case);
        }
    }
    [a, b]
}

fn main() {
    let large = arms(100_000, 1);
    let settings = Settings::default();
    measure("ab analysis of 100,000 paired cases (5 metrics, bootstrap skipped by budget)", 11, || {
        analyse(&large, &settings).expect("valid arms")
    });

    // The largest suite the bootstrap budget still bootstraps (1,000 resamples): where the
    // analysis is slowest, just before it switches to closed-form intervals only.
    let edge = arms(50_000, 3);
    measure("ab analysis of 50,000 paired cases, 1,000-resample bootstraps (percentile)", 5, || {
        analyse(&edge, &settings).expect("valid arms")
    });

    let suite = arms(1_000, 2);
    measure("ab analysis of 1,000 paired cases with 10,000-resample bootstraps (BCa)", 7, || {
        analyse(&suite, &settings).expect("valid arms")
    });
}
