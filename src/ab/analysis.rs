//! The analysis of an A/B comparison: the data it produces and the orchestration that fills it.
//! The first arm is the baseline; every other arm is compared with it on every metric, the
//! difference always being *challenger − baseline*. Arms measured on the same cases are paired;
//! arms whose case sets differ fall back to the unpaired tests, and the analysis says why. With
//! more than two arms the primary metric's p-values are Holm-adjusted across the comparisons and
//! the intervals widened to the Bonferroni level (simultaneous intervals); the secondary
//! metrics are adjusted together and gated by the primary (see [`super::decide`]).
//! Computations live in [`super::paired`] and [`super::unpaired`], decisions and power in
//! [`super::decide`], words in [`super::verdict`].

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::columns::{Columns, PASS_RATE, SCORE};
use super::decide::{decide_all, underpowered};
use super::error::{AbError, check_probability};
use super::judge::JudgeReport;
use super::looks::Looks;
use super::sample::{ArmSample, Metric};
use super::verdict::sentence;
use super::{paired, unpaired};
use crate::stats::Interval;
use crate::stats::paired::DiscordantPairs;
use crate::stats::proportion::{Counts, wilson};

/// How to analyse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Significance level, in (0, 1).
    pub alpha: f64,
    /// Power used for the minimum detectable effect and the cases needed, in (0, 1).
    pub power: f64,
    /// `Some(N*)`: decide by always-valid confidence sequences tuned to N* cases instead of
    /// fixed-horizon tests.
    pub sequential: Option<usize>,
    /// Bootstrap resamples for latency and cost (fewer for very large suites, see
    /// [`Settings::resamples_for`]).
    pub resamples: usize,
    /// Seed of the bootstrap.
    pub seed: u64,
    /// The effect size the "cases needed" sentence is about (0.05 = 5 pts).
    pub detect: f64,
    /// The metric that decides (pass rate unless `--primary` names another); every other metric
    /// is secondary: adjusted together and claimed only once the primary is.
    #[serde(default)]
    pub primary: Metric,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            alpha: 0.05,
            power: 0.8,
            sequential: None,
            resamples: 10_000,
            seed: 0,
            detect: 0.05,
            primary: Metric::PassRate,
        }
    }
}

/// Bootstrap work allowed per statistic: cases × resamples draws, and for the BCa interval the
/// jackknife's cases² steps (n leave-one-out evaluations of n − 1 cases). So: 10,000 resamples
/// up to 5,000 cases, ⌊budget / cases⌋ beyond; BCa up to 7,071 cases, the percentile interval
/// beyond; below 1,000 resamples (above 50,000 cases) no bootstrap at all (the closed-form
/// intervals are reliable at that size anyway).
const BOOTSTRAP_BUDGET: usize = 50_000_000;
const MIN_RESAMPLES: usize = 1_000;

impl Settings {
    /// Checks α and power before anything reaches statrs (its quantiles panic outside (0, 1)).
    pub fn validate(&self) -> Result<(), AbError> {
        check_probability("alpha", self.alpha)?;
        check_probability("power", self.power)?;
        if !(self.detect > 0.0 && self.detect < 1.0) {
            return Err(AbError::Setting { name: "detect", value: self.detect, expected: "between 0 and 1" });
        }
        if self.sequential == Some(0) {
            return Err(AbError::Setting { name: "planned", value: 0.0, expected: "at least 1 case" });
        }
        Ok(())
    }

    /// Resamples to use for `cases` cases, or none when the bootstrap is skipped.
    pub fn resamples_for(&self, cases: usize) -> Option<usize> {
        let resamples = self.resamples.min(BOOTSTRAP_BUDGET / cases.max(1));
        (resamples >= MIN_RESAMPLES.min(self.resamples)).then_some(resamples)
    }

    /// Whether the BCa interval fits the budget for `cases` cases: its jackknife costs cases²
    /// steps (26 s for three statistics at 50,000 cases), where the percentile interval costs
    /// nothing beyond the resamples.
    pub fn bca_for(&self, cases: usize) -> bool {
        cases.saturating_mul(cases) <= BOOTSTRAP_BUDGET
    }
}

/// The outcome for one metric of one comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// The challenger is significantly better.
    Better,
    /// The challenger is significantly worse.
    Worse,
    /// No significant difference.
    NotSignificant,
    /// Every case gave the same value in both arms.
    Identical,
    /// The metric could not be tested (see the note).
    NotTested,
}

/// A hypothesis test's name and p-value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Test {
    /// The method (`McNemar exact`, `paired t`, `Wilcoxon signed-rank`…).
    pub method: String,
    /// Its two-sided p-value.
    pub p_value: f64,
}

/// A named effect size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Effect {
    /// `Cohen's h`, `Cohen's d_z`, `Cliff's delta`.
    pub name: String,
    /// Its value (challenger relative to baseline).
    pub value: f64,
}

/// A ratio challenger / baseline with its interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ratio {
    /// What ratio it is (`geometric-mean ratio`, `mean ratio`).
    pub name: String,
    /// The estimate.
    pub estimate: f64,
    /// Its interval, when one could be computed.
    pub interval: Option<Interval>,
}

/// What the suite can detect, for inconclusive verdicts and the underpowered warning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PowerNote {
    /// Smallest difference detectable with these cases (same unit as the estimate); `None`
    /// when no difference is detectable.
    pub detectable: Option<f64>,
    /// The effect the next field is about.
    pub detect: f64,
    /// Cases needed to detect `detect`, when it can be computed.
    pub cases_needed: Option<u64>,
}

/// One metric compared between the baseline and a challenger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricComparison {
    /// The metric.
    pub metric: Metric,
    /// Paired (same cases) or unpaired.
    pub paired: bool,
    /// Cases used from the baseline.
    pub baseline_cases: usize,
    /// Cases used from the challenger.
    pub challenger_cases: usize,
    /// The baseline's value: rate, mean score, median latency, mean cost.
    pub baseline: f64,
    /// The challenger's value.
    pub challenger: f64,
    /// challenger − baseline (rates as fractions, latency in ms, cost in micro-dollars).
    pub estimate: f64,
    /// Interval of the estimate.
    pub interval: Option<Interval>,
    /// How the interval was computed.
    pub interval_method: String,
    /// The test that decides, when there is one (sequential mode decides by the interval).
    pub test: Option<Test>,
    /// The p-value the decision reads: for the primary metric Holm-adjusted across the
    /// challengers (equal to `test`'s with one challenger); for a secondary metric the larger of
    /// its Benjamini–Hochberg-adjusted p and its comparison's primary adjusted p.
    pub adjusted_p: Option<f64>,
    /// Why a secondary difference that would be significant on its own is not claimed (the
    /// primary metric did not show a difference).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gated: Option<String>,
    /// The paired pass/fail table, when McNemar's test was used (non-inferiority sizes use it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discordant: Option<DiscordantPairs>,
    /// Robustness checks.
    pub checks: Vec<Test>,
    /// Ratio views challenger / baseline (latency, cost); the first one decides the direction.
    pub ratios: Vec<Ratio>,
    /// The effect size.
    pub effect: Option<Effect>,
    /// Interval at level 1 − 2α, the one a non-inferiority margin is checked against.
    pub one_sided_interval: Option<Interval>,
    /// The decision.
    pub decision: Decision,
    /// What the suite can detect (fixed-horizon paired rates and scores).
    pub power: Option<PowerNote>,
    /// Anything the reader should know (fallbacks, skipped bootstrap).
    pub note: Option<String>,
}

impl MetricComparison {
    /// A metric that could not be tested, with the reason.
    pub fn not_tested(metric: Metric, paired: bool, note: impl Into<String>) -> Self {
        Self {
            metric,
            paired,
            baseline_cases: 0,
            challenger_cases: 0,
            baseline: 0.0,
            challenger: 0.0,
            estimate: 0.0,
            interval: None,
            interval_method: String::new(),
            test: None,
            adjusted_p: None,
            gated: None,
            discordant: None,
            checks: Vec::new(),
            ratios: Vec::new(),
            effect: None,
            one_sided_interval: None,
            decision: Decision::NotTested,
            power: None,
            note: Some(note.into()),
        }
    }

    /// Whether the challenger's change is an improvement in direction (ignoring significance).
    pub fn improves(&self) -> bool {
        let direction = match self.ratios.first() {
            Some(ratio) if !self.metric.higher_is_better() => ratio.estimate.ln(),
            _ => self.estimate,
        };
        if self.metric.higher_is_better() { direction > 0.0 } else { direction < 0.0 }
    }
}

/// One arm at a glance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmSummary {
    /// `A`, `B`, `C`…
    pub letter: String,
    /// What the arm ran.
    pub label: String,
    /// Its eval run.
    pub run: Option<u64>,
    /// Cases with at least one evaluated sample.
    pub cases: usize,
    /// Results, errors and cache hits.
    pub results: u64,
    /// Results that errored.
    pub errors: u64,
    /// Results from the response cache.
    pub cached: u64,
    /// Samples per case.
    pub repeats: usize,
    /// Pass rate over case means.
    pub pass_rate: f64,
    /// Wilson interval of the pass rate (one sample per case), else a t interval of case means.
    pub pass_interval: Option<Interval>,
    /// Mean score.
    pub mean_score: f64,
}

/// A challenger against the baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// Index of the baseline arm (always 0).
    pub baseline: usize,
    /// Index of the challenger arm.
    pub challenger: usize,
    /// Every metric.
    pub metrics: Vec<MetricComparison>,
    /// The verdict, one sentence per metric.
    pub verdicts: Vec<String>,
}

/// Whether the arms share their cases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pairing {
    /// Whether every arm has exactly the same cases.
    pub paired: bool,
    /// Cases common to every arm.
    pub common: usize,
    /// Why the comparison is unpaired, when it is.
    pub explanation: Option<String>,
}

/// The whole analysis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// The settings used.
    pub settings: Settings,
    /// Confidence level of the intervals (1 − α, or 1 − α/m with m comparisons).
    pub interval_level: f64,
    /// The arms; the first is the baseline.
    pub arms: Vec<ArmSummary>,
    /// Whether the arms are paired.
    pub pairing: Pairing,
    /// Every challenger against the baseline.
    pub comparisons: Vec<Comparison>,
    /// The underpowered warning, when the suite is too small for its question.
    pub underpowered: Option<String>,
    /// Pairwise judging, when asked for.
    pub judge: Option<JudgeReport>,
    /// How a `--sequential` run that looked between batches went (absent in analyses of
    /// finished runs and in experiments stored before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub looks: Option<Looks>,
    /// Secondary comparisons (metric × challenger with a test) adjusted together.
    #[serde(default)]
    pub secondary_tests: usize,
}

/// Analyses arms measured on one suite; `arms[0]` is the baseline.
pub fn analyse(arms: &[ArmSample], settings: &Settings) -> Result<Analysis, AbError> {
    settings.validate()?;
    if arms.len() < 2 {
        return Err(AbError::TooFewArms { got: arms.len() });
    }
    // Flattened once: every metric of every comparison below reads these slices.
    let columns = Columns::new(arms);
    let pairing = pairing(arms, columns.aligned);
    check_enough_cases(arms, &columns, &pairing)?;
    let primary = primary_index(&columns.metrics, &settings.primary)?;
    let family = arms.len() - 1;
    let interval_alpha = settings.alpha / family as f64;
    let mut comparisons: Vec<Comparison> = (1..arms.len())
        .map(|challenger| Comparison {
            baseline: 0,
            challenger,
            metrics: (0..columns.metrics.len())
                .map(|metric| {
                    let sides = Sides { arms, columns: &columns, challenger, metric };
                    compare(&sides, &pairing, settings, interval_alpha)
                })
                .collect(),
            verdicts: Vec::new(),
        })
        .collect();
    let secondary_tests = decide_all(&mut comparisons, primary, settings)?;
    let mut analysis = Analysis {
        settings: settings.clone(),
        interval_level: 1.0 - interval_alpha,
        arms: arms.iter().enumerate().map(|(i, a)| summary(i, a, &columns, settings.alpha)).collect(),
        underpowered: underpowered(&comparisons, settings),
        pairing,
        comparisons,
        judge: None,
        looks: None,
        secondary_tests,
    };
    let verdicts: Vec<Vec<String>> = analysis
        .comparisons
        .iter()
        .map(|c| {
            let (baseline, challenger) = (letter(c.baseline), letter(c.challenger));
            c.metrics.iter().map(|m| sentence(m, &baseline, &challenger, &analysis)).collect()
        })
        .collect();
    for (comparison, verdicts) in analysis.comparisons.iter_mut().zip(verdicts) {
        comparison.verdicts = verdicts;
    }
    Ok(analysis)
}

/// Where the primary metric is among the measured ones.
fn primary_index(metrics: &[Metric], primary: &Metric) -> Result<usize, AbError> {
    metrics.iter().position(|m| m == primary).ok_or_else(|| AbError::UnknownPrimary {
        name: primary.flag(),
        available: metrics.iter().map(Metric::flag).collect(),
    })
}

/// One metric of the baseline and one challenger: their arms and their columns.
struct Sides<'a> {
    arms: &'a [ArmSample],
    columns: &'a Columns,
    challenger: usize,
    metric: usize,
}

fn compare(sides: &Sides<'_>, pairing: &Pairing, settings: &Settings, alpha: f64) -> MetricComparison {
    let metric = &sides.columns.metrics[sides.metric];
    let columns = (sides.columns.column(0, sides.metric), sides.columns.column(sides.challenger, sides.metric));
    if pairing.paired {
        paired::compare(metric, (&sides.arms[0], &sides.arms[sides.challenger]), columns, settings, alpha)
    } else {
        unpaired::compare(metric, columns, alpha)
    }
}

/// `aligned`: every arm has the same case keys (found while flattening).
fn pairing(arms: &[ArmSample], aligned: bool) -> Pairing {
    if aligned {
        return Pairing { paired: true, common: arms[0].cases.len(), explanation: None };
    }
    let keys = |a: &ArmSample| a.cases.keys().cloned().collect::<BTreeSet<String>>();
    let common = arms.iter().skip(1).fold(keys(&arms[0]), |acc, a| acc.intersection(&keys(a)).cloned().collect());
    let sizes: Vec<String> = arms.iter().map(|a| format!("{} has {}", a.label, a.cases.len())).collect();
    let explanation = format!(
        "the arms were not run on the same cases ({}; {} in common), so they are compared as independent \
         samples (Fisher / two-proportion z with a Newcombe interval for pass rates, Welch t and Mann-Whitney \
         for the rest); run every arm on the same suite for a paired, more sensitive comparison",
        sizes.join(", "),
        common.len()
    );
    Pairing { paired: false, common: common.len(), explanation: Some(explanation) }
}

fn check_enough_cases(arms: &[ArmSample], columns: &Columns, pairing: &Pairing) -> Result<(), AbError> {
    let passes = |arm: usize| &columns.column(arm, PASS_RATE).samples;
    let usable = if pairing.paired {
        // Paired arms share their keys, so their columns line up index by index.
        (0..passes(0).len()).filter(|&case| (0..arms.len()).all(|arm| passes(arm)[case] > 0)).count()
    } else {
        (0..arms.len()).map(|arm| columns.column(arm, PASS_RATE).measured_cases()).min().unwrap_or(0)
    };
    if usable < 2 {
        let runs: Vec<String> = arms.iter().filter_map(|a| a.run.map(|r| r.to_string())).collect();
        return Err(AbError::TooFewCases {
            what: format!("the comparison of runs {}", runs.join(", ")),
            cases: usable,
        });
    }
    Ok(())
}

fn summary(index: usize, arm: &ArmSample, columns: &Columns, alpha: f64) -> ArmSummary {
    let passes = columns.column(index, PASS_RATE);
    let means = passes.measured();
    let scores = columns.column(index, SCORE).measured();
    let mean = |v: &[f64]| if v.is_empty() { 0.0 } else { v.iter().sum::<f64>() / v.len() as f64 };
    let pass_rate = mean(&means);
    let repeats = passes.most_samples();
    let pass_interval = if repeats <= 1 {
        let passed = means.iter().filter(|&&m| m > 0.5).count() as u64;
        wilson(Counts::new(passed, means.len() as u64), alpha).ok()
    } else {
        crate::stats::paired::one_sample_t(&means, alpha).ok().map(|t| t.test.interval)
    };
    ArmSummary {
        letter: letter(index),
        label: arm.label.clone(),
        run: arm.run,
        cases: means.len(),
        results: arm.results,
        errors: arm.errors,
        cached: arm.cached,
        repeats,
        pass_rate,
        pass_interval,
        mean_score: mean(&scores),
    }
}

/// `A`, `B`, … `Z`, then `A2`, `B2`…
pub fn letter(index: usize) -> String {
    let base = char::from(b'A' + (index % 26) as u8);
    if index < 26 { base.to_string() } else { format!("{base}{}", index / 26 + 1) }
}
