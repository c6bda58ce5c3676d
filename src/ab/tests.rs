//! Behaviour of the whole analysis on constructed arms: the right test for the design, the
//! verdict in words, the degenerate inputs, and the invariants every comparison must keep
//! (p-values in [0, 1], intervals around their estimate, swapping arms flips every sign).

use proptest::prelude::*;

use super::AbError;
use super::analysis::{Decision, Settings, analyse};
use super::experiment::{Gate, gate_failures};
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
    assert_eq!(pass.test.as_ref().unwrap().method, "McNemar");
    assert!(pass.interval_method.starts_with("Tango"));
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
fn intervals_beside_holm_verdicts_are_labelled_simultaneous_bonferroni() {
    // Issue 15, defect 3: the verdict follows Holm's adjusted p, so the wider intervals printed
    // beside it must say what they are.
    let base = single(&spread(80, 50, 37));
    let arms = [arm("a", &base, |_| 5.0), arm("b", &base, |_| 5.0), arm("c", &base, |_| 5.0)];
    let three = analyse(&arms, &Settings::default()).unwrap();
    let rule = super::verdict::rule(&three);
    assert!(rule.contains("Holm-adjusted across the challengers"), "{rule}");
    assert!(rule.contains("intervals are simultaneous (Bonferroni, 97.5% each)"), "{rule}");
    let two = analyse(&arms[..2], &Settings::default()).unwrap();
    assert!(!super::verdict::rule(&two).contains("simultaneous"), "two arms need no adjustment");
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

fn metric<'a>(analysis: &'a super::Analysis, comparison: usize, metric: &Metric) -> &'a super::MetricComparison {
    analysis.comparisons[comparison].metrics.iter().find(|m| m.metric == *metric).expect("metric")
}

#[test]
fn non_inferiority_is_refused_without_information_and_says_how_many_cases_it_needs() {
    // Issue 15, defect 1: three identical cases gave a [0, 0] interval and passed a 2% margin.
    let outcomes = single(&[true; 3]);
    let analysis =
        analyse(&[arm("a", &outcomes, |_| 5.0), arm("b", &outcomes, |_| 5.0)], &Settings::default()).unwrap();
    let gate = Gate { require_better: false, non_inferiority: Some(0.02) };
    let failures = gate_failures(&analysis, &gate);
    assert_eq!(failures.len(), 1, "{failures:?}");
    // z(0.95)² · 0.98 / 0.02 = 132.6: 133 cases without a discordant one would show it.
    assert!(failures[0].contains("about 133 cases would be needed"), "{failures:?}");
    let pass = pass_rate(&analysis, 0);
    assert!(pass.one_sided_interval.unwrap().lower < -0.4, "{pass:?}");
}

#[test]
fn non_inferiority_passes_once_the_suite_is_large_enough() {
    let outcomes = single(&[true; 140]);
    let analysis =
        analyse(&[arm("a", &outcomes, |_| 5.0), arm("b", &outcomes, |_| 5.0)], &Settings::default()).unwrap();
    assert!(gate_failures(&analysis, &Gate { require_better: false, non_inferiority: Some(0.02) }).is_empty());
}

#[test]
fn non_inferiority_with_repeats_and_no_variation_is_refused() {
    let outcomes: Vec<Vec<bool>> = (0..4).map(|_| vec![true, true]).collect();
    let analysis =
        analyse(&[arm("a", &outcomes, |_| 5.0), arm("b", &outcomes, |_| 5.0)], &Settings::default()).unwrap();
    let failures = gate_failures(&analysis, &Gate { require_better: false, non_inferiority: Some(0.02) });
    assert!(failures.iter().any(|f| f.contains("cannot be shown")), "{failures:?}");
}

#[test]
fn the_docs_example_no_longer_prints_an_interval_that_contradicts_its_test() {
    // Issue 15, defect 2: 9 cases, B failing 5 that A passed, printed [-88.0, -23.1] next to
    // "no significant difference" (exact p = 0.062).
    let a = single(&[true; 9]);
    let b = single(&[false, true, false, true, false, true, false, true, false]);
    let analysis = analyse(&[arm("a", &a, |_| 5.0), arm("b", &b, |_| 5.0)], &Settings::default()).unwrap();
    let pass = pass_rate(&analysis, 0);
    let p = pass.test.as_ref().unwrap().p_value;
    assert_eq!(pass.interval.unwrap().excludes_zero(), p < 0.05, "{pass:?}");
    assert_eq!(pass.decision, Decision::Worse);
    assert!(pass.checks.iter().any(|c| c.method == "McNemar exact" && (c.p_value - 0.0625).abs() < 1e-12));
}

#[test]
fn a_secondary_difference_is_not_claimed_while_the_primary_shows_none() {
    // Same pass/fail, but B's latency is far lower: the primary (pass rate) is identical, so
    // latency is reported with its p-values and not claimed.
    let outcomes = single(&spread(60, 50, 37));
    let analysis = analyse(
        &[arm("a", &outcomes, |i| 100.0 + i as f64), arm("b", &outcomes, |i| 50.0 + (i % 7) as f64)],
        &Settings::default(),
    )
    .unwrap();
    let latency = metric(&analysis, 0, &Metric::Latency);
    assert!(latency.test.as_ref().unwrap().p_value < 0.001);
    assert_eq!(latency.decision, Decision::NotSignificant);
    assert_eq!(latency.adjusted_p, Some(1.0), "gated by the primary's p = 1");
    assert!(latency.gated.as_deref().unwrap().contains("pass rate, the primary metric"), "{latency:?}");
    assert!(analysis.comparisons[0].verdicts[2].contains("not claimed"), "{:?}", analysis.comparisons[0].verdicts);
    assert_eq!(super::experiment::outcome(&analysis), "no difference");
    // Naming latency the primary makes it the question.
    let settings = Settings { primary: Metric::Latency, ..Settings::default() };
    let analysis = analyse(
        &[arm("a", &outcomes, |i| 100.0 + i as f64), arm("b", &outcomes, |i| 50.0 + (i % 7) as f64)],
        &settings,
    )
    .unwrap();
    assert_eq!(metric(&analysis, 0, &Metric::Latency).decision, Decision::Better);
    assert_eq!(super::experiment::outcome(&analysis), "B faster");
}

#[test]
fn secondary_p_values_are_benjamini_hochberg_adjusted_and_gated() {
    let a = spread(120, 40, 37);
    let b: Vec<bool> = a.iter().enumerate().map(|(i, &p)| p || i % 3 == 0).collect();
    let analysis =
        analyse(&[arm("a", &single(&a), |_| 5.0), arm("b", &single(&b), |_| 5.0)], &Settings::default()).unwrap();
    let primary = pass_rate(&analysis, 0).adjusted_p.unwrap();
    let secondary: Vec<&super::MetricComparison> =
        analysis.comparisons[0].metrics.iter().filter(|m| m.metric != Metric::PassRate && m.test.is_some()).collect();
    let raw: Vec<f64> = secondary.iter().map(|m| m.test.as_ref().unwrap().p_value).collect();
    let bh = crate::stats::multiple::benjamini_hochberg(&raw).unwrap();
    for (m, bh) in secondary.iter().zip(bh) {
        assert_eq!(m.adjusted_p, Some(bh.max(primary)), "{m:?}");
    }
    assert_eq!(analysis.secondary_tests, secondary.len());
    // Item 15 of issue 18: the outcome names every metric's verdict, primary first.
    assert_eq!(super::experiment::outcome(&analysis), "B better on pass rate, score, metric `accuracy`");
}

#[test]
fn an_unknown_primary_metric_is_refused_with_the_metrics_there_are() {
    let outcomes = single(&spread(10, 50, 3));
    let settings = Settings { primary: Metric::parse("acuracy"), ..Settings::default() };
    let error = analyse(&[arm("a", &outcomes, |_| 5.0), arm("b", &outcomes, |_| 5.0)], &settings).unwrap_err();
    assert!(matches!(&error, AbError::UnknownPrimary { name, .. } if name == "acuracy"), "{error:?}");
    let hints = crate::error::Diagnostic::hints(&error);
    assert!(hints[0].contains("accuracy") && hints[0].contains("pass-rate"), "{hints:?}");
}

#[test]
fn the_cases_needed_note_sizes_the_test_that_decides() {
    let a = arm("a", &single(&spread(60, 60, 7)), |_| 5.0);
    let flipped: Vec<bool> =
        spread(60, 60, 7).iter().enumerate().map(|(i, &p)| if i % 20 == 3 { !p } else { p }).collect();
    let analysis = analyse(&[a, arm("b", &single(&flipped), |_| 5.0)], &Settings::default()).unwrap();
    let pass = pass_rate(&analysis, 0);
    let table = pass.discordant.unwrap();
    let psi = (table.a_only + table.b_only) as f64 / table.pairs as f64;
    let exact = crate::stats::mcnemar_power::sample_size_mcnemar(0.05, psi.max(0.05), Default::default()).unwrap();
    assert_eq!(pass.power.as_ref().unwrap().cases_needed, Some(exact.required));
}

fn three_arms_strategy() -> impl Strategy<Value = Vec<(bool, bool, bool)>> {
    prop::collection::vec((any::<bool>(), any::<bool>(), any::<bool>()), 10..80)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn every_verdict_follows_the_adjusted_p_printed_beside_it(rows in three_arms_strategy()) {
        // Issue 15, defect 3: Holm-significant comparisons were printed as "no significant
        // difference" because a Bonferroni interval also had to exclude 0.
        let column = |pick: fn(&(bool, bool, bool)) -> bool| single(&rows.iter().map(pick).collect::<Vec<_>>());
        let arms = [
            arm("a", &column(|r| r.0), |i| 5.0 + (i % 3) as f64),
            arm("b", &column(|r| r.1), |i| 5.0 + (i % 4) as f64),
            arm("c", &column(|r| r.2), |i| 6.0 + (i % 5) as f64),
        ];
        let analysis = analyse(&arms, &Settings { resamples: 100, ..Settings::default() }).unwrap();
        for comparison in &analysis.comparisons {
            for m in &comparison.metrics {
                if let Some(p) = m.adjusted_p && !matches!(m.decision, Decision::Identical | Decision::NotTested) {
                    prop_assert_eq!(matches!(m.decision, Decision::Better | Decision::Worse), p < 0.05, "{:?}", m);
                }
            }
        }
    }

    #[test]
    fn the_pass_rate_interval_excludes_zero_exactly_when_its_test_rejects(rows in outcomes_strategy()) {
        let (a, b) = arms_from(&rows);
        let analysis = analyse(&[a, b], &Settings { resamples: 100, ..Settings::default() }).unwrap();
        let pass = pass_rate(&analysis, 0);
        if let (Some(interval), Some(test)) = (pass.interval, &pass.test) && (test.p_value - 0.05).abs() > 1e-9 {
            prop_assert_eq!(interval.excludes_zero(), test.p_value < 0.05, "{:?}", pass);
        }
    }
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

#[test]
fn a_p_value_is_never_rounded_onto_the_level_it_is_compared_with() {
    use super::verdict::p_number;
    assert_eq!(p_number(0.0496), "0.0496");
    assert_eq!(p_number(0.012), "0.012");
    assert_eq!(p_number(1.0), "1.000");
    assert_eq!(p_number(0.05), "0.050");
}
