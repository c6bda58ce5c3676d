//! Behaviour of the whole analysis on constructed arms: the right test for the design, the
//! verdict in words, the degenerate inputs, and the invariants every comparison must keep
//! (p-values in [0, 1], intervals around their estimate, swapping arms flips every sign).

use proptest::prelude::*;

use super::AbError;
use super::analysis::{Decision, Settings, analyse};
use super::sample::{ArmSample, CaseSample, Metric};

/// An arm whose case `i` has the given pass/fail samples, score = pass, latency and cost set.
fn arm(name: &str, passes: &[Vec<bool>], latency: impl Fn(usize) -> f64) -> ArmSample {
    let mut arm = ArmSample::new(name, "mock", Some(1));
    for (i, samples) in passes.iter().enumerate() {
        let values: Vec<f64> = samples.iter().map(|&p| if p { 1.0 } else { 0.0 }).collect();
        let case = CaseSample {
            name: format!("case {i}"),
            passes: values.clone(),
            scores: values.clone(),
            latencies: samples.iter().map(|_| latency(i)).collect(),
            costs: samples.iter().map(|_| 100.0 + i as f64).collect(),
            metrics: [("accuracy".to_owned(), values)].into_iter().collect(),
            output: Some(format!("output {i}")),
            ..CaseSample::default()
        };
        arm.results += samples.len() as u64;
        arm.cases.insert(format!("k{i:04}"), case);
    }
    arm
}

fn single(outcomes: &[bool]) -> Vec<Vec<bool>> {
    outcomes.iter().map(|&p| vec![p]).collect()
}

/// Case i passes when (i × step) mod 100 < rate: a deterministic spread of passes.
fn spread(cases: usize, rate: usize, step: usize) -> Vec<bool> {
    (0..cases).map(|i| (i * step) % 100 < rate).collect()
}

fn pass_rate(analysis: &super::Analysis, comparison: usize) -> &super::MetricComparison {
    analysis.comparisons[comparison].metrics.iter().find(|m| m.metric == Metric::PassRate).expect("pass rate")
}

#[test]
fn a_clearly_better_arm_is_called_better_with_mcnemar() {
    let a = arm("a", &single(&spread(100, 50, 37)), |_| 100.0);
    let b_outcomes: Vec<bool> = spread(100, 50, 37).iter().enumerate().map(|(i, &p)| p || i % 5 != 0).collect();
    let b = arm("b", &single(&b_outcomes), |_| 80.0);
    let analysis = analyse(&[a, b], &Settings::default()).unwrap();
    let pass = pass_rate(&analysis, 0);
    assert_eq!(pass.decision, Decision::Better);
    assert_eq!(pass.test.as_ref().unwrap().method, "McNemar exact");
    assert!(pass.estimate > 0.3 && pass.interval.unwrap().lower > 0.0);
    let sentence = &analysis.comparisons[0].verdicts[0];
    assert!(sentence.starts_with("B beats A on pass rate: +"), "{sentence}");
    assert!(sentence.ends_with("(significant at α = 0.05)"), "{sentence}");
    let latency = analysis.comparisons[0].metrics.iter().find(|m| m.metric == Metric::Latency).unwrap();
    // Every case 20% faster: no variance for a t test, so the exact sign test decides.
    assert_eq!(latency.decision, Decision::Better);
    assert_eq!(latency.test.as_ref().unwrap().method, "sign test");
    assert!((latency.ratios[0].estimate - 0.8).abs() < 1e-9);
}

#[test]
fn identical_arms_claim_no_difference_and_divide_by_nothing() {
    let outcomes = single(&spread(40, 60, 13));
    let a = arm("a", &outcomes, |i| 50.0 + i as f64);
    let b = arm("b", &outcomes, |i| 50.0 + i as f64);
    let analysis = analyse(&[a, b], &Settings::default()).unwrap();
    for m in &analysis.comparisons[0].metrics {
        assert!(matches!(m.decision, Decision::Identical), "{m:?}");
        assert!(m.estimate.is_finite());
    }
    assert!(analysis.comparisons[0].verdicts[0].starts_with("no difference between B and A on pass rate"));
}

#[test]
fn all_passing_arms_are_identical_and_flagged_underpowered() {
    let outcomes = single(&[true; 12]);
    let analysis =
        analyse(&[arm("a", &outcomes, |_| 5.0), arm("b", &outcomes, |_| 5.0)], &Settings::default()).unwrap();
    assert_eq!(pass_rate(&analysis, 0).decision, Decision::Identical);
    assert!(analysis.underpowered.as_deref().is_some_and(|u| u.contains("no pass-rate difference is detectable")));
}

#[test]
fn an_inconclusive_verdict_says_how_many_cases_would_be_needed() {
    let a = arm("a", &single(&spread(60, 60, 7)), |_| 5.0);
    let flipped: Vec<bool> =
        spread(60, 60, 7).iter().enumerate().map(|(i, &p)| if i % 20 == 3 { !p } else { p }).collect();
    let analysis = analyse(&[a, arm("b", &single(&flipped), |_| 5.0)], &Settings::default()).unwrap();
    let pass = pass_rate(&analysis, 0);
    assert_eq!(pass.decision, Decision::NotSignificant);
    let sentence = &analysis.comparisons[0].verdicts[0];
    assert!(sentence.contains("cases would be needed to detect 5.0 pts"), "{sentence}");
}

#[test]
fn repeats_are_averaged_per_case_and_tested_with_a_paired_t() {
    let repeated = |rate: usize| -> Vec<Vec<bool>> {
        (0..30).map(|i| (0..3).map(|r| (i * 7 + r * 31) % 100 < rate).collect()).collect()
    };
    let analysis =
        analyse(&[arm("a", &repeated(40), |_| 5.0), arm("b", &repeated(80), |_| 5.0)], &Settings::default()).unwrap();
    let pass = pass_rate(&analysis, 0);
    assert_eq!(pass.test.as_ref().unwrap().method, "paired t on case means");
    assert_eq!(pass.challenger_cases, 30, "the unit is the case, not the sample");
    assert_eq!(analysis.arms[0].repeats, 3);
}

#[test]
fn different_case_sets_fall_back_to_unpaired_tests_and_say_why() {
    let a = arm("a", &single(&spread(30, 30, 11)), |_| 5.0);
    let mut b = arm("b", &single(&spread(40, 90, 11)), |_| 5.0);
    b.cases.remove("k0000");
    let analysis = analyse(&[a, b], &Settings::default()).unwrap();
    assert!(!analysis.pairing.paired);
    assert!(analysis.pairing.explanation.as_deref().unwrap().contains("independent samples"));
    let pass = pass_rate(&analysis, 0);
    assert!(!pass.paired);
    assert!(["Fisher exact", "two-proportion z"].contains(&pass.test.as_ref().unwrap().method.as_str()));
    assert_eq!(pass.interval_method, "Newcombe");
}

#[test]
fn fewer_than_two_common_cases_is_an_error() {
    for cases in [0, 1] {
        let outcomes = single(&vec![true; cases]);
        let result = analyse(&[arm("a", &outcomes, |_| 5.0), arm("b", &outcomes, |_| 5.0)], &Settings::default());
        assert!(matches!(result, Err(AbError::TooFewCases { cases: c, .. }) if c == cases), "{result:?}");
    }
}

#[test]
fn alpha_and_power_out_of_range_are_refused_before_statrs() {
    let outcomes = single(&spread(10, 50, 3));
    let arms = [arm("a", &outcomes, |_| 5.0), arm("b", &outcomes, |_| 5.0)];
    for (alpha, power) in [(0.0, 0.8), (1.0, 0.8), (1.5, 0.8), (f64::NAN, 0.8), (0.05, 1.0), (0.05, -0.2)] {
        let settings = Settings { alpha, power, ..Settings::default() };
        assert!(matches!(analyse(&arms, &settings), Err(AbError::Setting { .. })), "{alpha} {power}");
    }
}

#[test]
fn three_arms_are_holm_adjusted_and_intervals_widened() {
    let base = spread(80, 50, 37);
    let better: Vec<bool> = base.iter().enumerate().map(|(i, &p)| p || i % 3 != 0).collect();
    let arms =
        [arm("a", &single(&base), |_| 5.0), arm("b", &single(&better), |_| 5.0), arm("c", &single(&base), |_| 5.0)];
    let analysis = analyse(&arms, &Settings::default()).unwrap();
    assert!((analysis.interval_level - 0.975).abs() < 1e-12);
    for comparison in 0..2 {
        let pass = pass_rate(&analysis, comparison);
        assert!(pass.adjusted_p.unwrap() >= pass.test.as_ref().unwrap().p_value);
    }
    assert_eq!(pass_rate(&analysis, 0).decision, Decision::Better);
    assert!(analysis.comparisons[0].verdicts[0].contains("Holm-adjusted"));
}

#[test]
fn sequential_mode_decides_by_the_confidence_sequence() {
    let base = spread(200, 50, 37);
    let better: Vec<bool> = base.iter().enumerate().map(|(i, &p)| p || i % 2 == 0).collect();
    let settings = Settings { sequential: Some(200), ..Settings::default() };
    let analysis =
        analyse(&[arm("a", &single(&base), |_| 5.0), arm("b", &single(&better), |_| 5.0)], &settings).unwrap();
    let pass = pass_rate(&analysis, 0);
    assert_eq!(pass.decision, Decision::Better);
    assert!(pass.test.is_none() && pass.interval_method.starts_with("confidence sequence"));
    let few = single(&spread(6, 50, 37));
    let small = analyse(&[arm("a", &few, |_| 5.0), arm("b", &single(&[true; 6]), |_| 5.0)], &settings).unwrap();
    assert_eq!(pass_rate(&small, 0).decision, Decision::NotTested);
}

#[test]
fn a_sequential_look_stops_only_when_every_challenger_is_decided() {
    let base = spread(200, 50, 37);
    let better: Vec<bool> = base.iter().enumerate().map(|(i, &p)| p || i % 2 == 0).collect();
    let settings = Settings { sequential: Some(200), ..Settings::default() };
    let arms = [arm("a", &single(&base), |_| 5.0), arm("b", &single(&better), |_| 5.0)];
    let decided = analyse(&arms, &settings).unwrap();
    assert!(super::looks::stop_reason(&decided).is_some_and(|why| why.contains("the challenger")));
    let three = [arms[0].clone(), arms[1].clone(), arm("c", &single(&base), |_| 5.0)];
    assert_eq!(super::looks::stop_reason(&analyse(&three, &settings).unwrap()), None, "C is undecided");
}

#[test]
fn the_bootstrap_budget_shrinks_resamples_then_drops_bca_then_the_bootstrap() {
    let settings = Settings::default();
    let sizes = [1_000, 5_000, 20_000, 50_000, 50_001];
    let resamples: Vec<Option<usize>> = sizes.iter().map(|&n| settings.resamples_for(n)).collect();
    assert_eq!(resamples, vec![Some(10_000), Some(10_000), Some(2_500), Some(1_000), None]);
    assert!(settings.bca_for(7_071) && !settings.bca_for(7_072), "the jackknife costs cases²");
}

fn outcomes_strategy() -> impl Strategy<Value = Vec<(bool, bool, u8, u8)>> {
    prop::collection::vec((any::<bool>(), any::<bool>(), 1u8..200, 1u8..200), 2..60)
}

fn arms_from(rows: &[(bool, bool, u8, u8)]) -> (ArmSample, ArmSample) {
    let a: Vec<bool> = rows.iter().map(|r| r.0).collect();
    let b: Vec<bool> = rows.iter().map(|r| r.1).collect();
    (arm("a", &single(&a), |i| f64::from(rows[i].2)), arm("b", &single(&b), |i| f64::from(rows[i].3)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn p_values_are_probabilities_and_intervals_hold_their_estimate(rows in outcomes_strategy()) {
        let (a, b) = arms_from(&rows);
        let settings = Settings { resamples: 200, ..Settings::default() };
        let analysis = analyse(&[a, b], &settings).unwrap();
        for m in &analysis.comparisons[0].metrics {
            for p in m.test.iter().chain(&m.checks).map(|t| t.p_value).chain(m.adjusted_p) {
                prop_assert!((0.0..=1.0).contains(&p), "{m:?}");
            }
            if matches!(m.metric, Metric::PassRate | Metric::Score | Metric::Named(_)) && let Some(i) = m.interval {
                prop_assert!(i.lower <= m.estimate + 1e-12 && m.estimate <= i.upper + 1e-12, "{m:?}");
            }
        }
    }

    #[test]
    fn swapping_the_arms_flips_every_sign(rows in outcomes_strategy()) {
        let (a, b) = arms_from(&rows);
        let settings = Settings { resamples: 200, ..Settings::default() };
        let forward = analyse(&[a.clone(), b.clone()], &settings).unwrap();
        let backward = analyse(&[b, a], &settings).unwrap();
        for (f, r) in forward.comparisons[0].metrics.iter().zip(&backward.comparisons[0].metrics) {
            if f.metric == Metric::Latency || f.decision == Decision::NotTested {
                continue;
            }
            prop_assert!((f.estimate + r.estimate).abs() < 1e-9, "{f:?} {r:?}");
            let (fp, rp) = (f.test.as_ref().map(|t| t.p_value), r.test.as_ref().map(|t| t.p_value));
            let same_p = match (fp, rp) {
                (Some(x), Some(y)) => (x - y).abs() < 1e-9,
                (None, None) => true,
                _ => false,
            };
            prop_assert!(same_p, "{:?} {:?}", fp, rp);
            let flipped = match f.decision { Decision::Better => Decision::Worse, Decision::Worse => Decision::Better, d => d };
            prop_assert_eq!(flipped, r.decision);
        }
    }
}
