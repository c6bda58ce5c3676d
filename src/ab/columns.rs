//! The arms' measurements flattened once per analysis: for every arm and every metric, one
//! contiguous column of case-level values (the mean over repeats, the case being the unit) in
//! case-key order, with the number of samples behind each value. Every test then works on
//! slices. Owns the flattening and the per-column helpers; leaves choosing tests to
//! [`super::paired`] and [`super::unpaired`].
//!
//! Why: an [`ArmSample`] keeps each case in a map of structs holding one small vector per
//! metric, which is right for reading a run but slow to scan: every case costs several cache
//! misses. Walking those maps once per metric (plus once per summary, check and key
//! comparison) cost several times what the statistics cost on a 100,000-case suite; one walk
//! over all arms in step, which also checks that their keys agree, pays those misses once.

use std::collections::{BTreeMap, BTreeSet};

use super::sample::{ArmSample, CaseSample, Metric, mean};

/// One metric of one arm, case by case in key order.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Column {
    /// The case's value: the mean of its samples; 0 where it has none (see `samples`).
    pub means: Vec<f64>,
    /// How many samples the case has: 0 when the metric was not measured on it.
    pub samples: Vec<u32>,
}

impl Column {
    fn with_capacity(cases: usize) -> Self {
        Self { means: Vec::with_capacity(cases), samples: Vec::with_capacity(cases) }
    }

    /// A column of `cases` cases none of which measured the metric.
    fn missing(cases: usize) -> Self {
        Self { means: vec![0.0; cases], samples: vec![0; cases] }
    }

    /// Appends one case's samples, averaged over its repeats.
    fn push(&mut self, values: &[f64]) {
        self.means.push(if values.is_empty() { 0.0 } else { mean(values) });
        self.samples.push(u32::try_from(values.len()).unwrap_or(u32::MAX));
    }

    /// Pads with unmeasured cases up to `cases` (a named metric first seen on a later case).
    fn pad(&mut self, cases: usize) {
        self.means.resize(cases, 0.0);
        self.samples.resize(cases, 0);
    }

    /// The values of the cases that have one.
    pub fn measured(&self) -> Vec<f64> {
        self.means.iter().zip(&self.samples).filter(|&(_, &n)| n > 0).map(|(&m, _)| m).collect()
    }

    /// How many cases have a value.
    pub fn measured_cases(&self) -> usize {
        self.samples.iter().filter(|&&n| n > 0).count()
    }

    /// The most samples any case has.
    pub fn most_samples(&self) -> usize {
        self.samples.iter().max().map_or(0, |&n| n as usize)
    }
}

/// Every metric's column for every arm: `column(arm, metric)`, metrics indexed as in
/// [`Columns::metrics`].
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Columns {
    /// Pass rate, score, latency, cost, then every named metric any arm reports, by name.
    pub metrics: Vec<Metric>,
    /// Whether every arm has exactly the same case keys, so that case i is the same case in
    /// every column (the paired design).
    pub aligned: bool,
    /// `arms[arm][metric]`.
    arms: Vec<Vec<Column>>,
}

/// The four metrics every case has, in the order the analysis reports them.
const FIXED: [Metric; 4] = [Metric::PassRate, Metric::Score, Metric::Latency, Metric::Cost];
/// Index of the pass rate in [`Columns::metrics`].
pub(crate) const PASS_RATE: usize = 0;
/// Index of the score in [`Columns::metrics`].
pub(crate) const SCORE: usize = 1;

impl Columns {
    /// Flattens every arm in one walk over all the arms' cases in step, comparing their keys
    /// on the way (the alignment check costs no second walk).
    pub fn new(arms: &[ArmSample]) -> Self {
        let mut flat: Vec<Flat> = arms.iter().map(|arm| Flat::new(arm.cases.len())).collect();
        let mut walks: Vec<_> = arms.iter().map(|arm| arm.cases.iter()).collect();
        let mut aligned = arms.iter().all(|arm| arm.cases.len() == arms[0].cases.len());
        loop {
            let mut first: Option<&String> = None;
            for (walk, flat) in walks.iter_mut().zip(&mut flat) {
                let Some((key, case)) = walk.next() else { continue };
                aligned &= first.is_none_or(|first| first == key);
                first = first.or(Some(key));
                flat.push(case);
            }
            if first.is_none() {
                break;
            }
        }
        let names: BTreeSet<String> = flat.iter().flat_map(|f| f.named.keys().cloned()).collect();
        let arms = flat
            .into_iter()
            .map(|Flat { fixed, mut named, cases }| {
                let named = names.iter().map(|n| named.remove(n).unwrap_or_else(|| Column::missing(cases)));
                let mut columns: Vec<Column> = fixed.into();
                columns.extend(named.map(|mut column| {
                    column.pad(cases);
                    column
                }));
                columns
            })
            .collect();
        Self { metrics: FIXED.into_iter().chain(names.into_iter().map(Metric::Named)).collect(), aligned, arms }
    }

    /// Metric `metric` (an index into [`Columns::metrics`]) of arm `arm`.
    pub fn column(&self, arm: usize, metric: usize) -> &Column {
        &self.arms[arm][metric]
    }
}

/// One arm's columns while its cases are walked.
struct Flat {
    /// Pass rate, score, latency, cost.
    fixed: [Column; 4],
    /// Named metrics, opened when a case first reports one.
    named: BTreeMap<String, Column>,
    /// Cases pushed so far.
    cases: usize,
}

impl Flat {
    fn new(cases: usize) -> Self {
        Self { fixed: std::array::from_fn(|_| Column::with_capacity(cases)), named: BTreeMap::new(), cases: 0 }
    }

    /// Appends one case to every column; a named metric first seen here gets a column whose
    /// earlier cases are unmeasured.
    fn push(&mut self, case: &CaseSample) {
        let [passes, scores, latencies, costs] = &mut self.fixed;
        passes.push(&case.passes);
        scores.push(&case.scores);
        latencies.push(&case.latencies);
        costs.push(&case.costs);
        for (name, values) in &case.metrics {
            let column = match self.named.get_mut(name) {
                Some(column) => column,
                None => self.named.entry(name.clone()).or_insert_with(|| Column::missing(self.cases)),
            };
            column.pad(self.cases);
            column.push(values);
        }
        self.cases += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(passes: &[f64], named: &[(&str, &[f64])]) -> CaseSample {
        CaseSample {
            passes: passes.to_vec(),
            metrics: named.iter().map(|(n, v)| ((*n).to_owned(), v.to_vec())).collect(),
            ..CaseSample::default()
        }
    }

    #[test]
    fn repeats_are_averaged_and_missing_cases_counted_as_unmeasured() {
        let mut arm = ArmSample::default();
        arm.cases.insert("a".to_owned(), case(&[1.0, 0.0], &[]));
        arm.cases.insert("b".to_owned(), case(&[], &[]));
        arm.cases.insert("c".to_owned(), case(&[1.0], &[("late", &[0.25, 0.75])]));
        let columns = Columns::new(std::slice::from_ref(&arm));
        let pass = columns.column(0, 0);
        assert_eq!(pass.means, vec![0.5, 0.0, 1.0]);
        assert_eq!(pass.samples, vec![2, 0, 1]);
        assert_eq!(pass.measured(), vec![0.5, 1.0]);
        assert_eq!((pass.measured_cases(), pass.most_samples()), (2, 2));
        assert_eq!(columns.metrics[4], Metric::Named("late".to_owned()));
        assert_eq!(columns.column(0, 4).samples, vec![0, 0, 2]);
        assert_eq!(columns.column(0, 4).means[2], 0.5);
    }

    #[test]
    fn arms_are_aligned_only_when_their_keys_agree() {
        let mut a = ArmSample::default();
        for key in ["x", "y"] {
            a.cases.insert(key.to_owned(), case(&[1.0], &[]));
        }
        let mut b = a.clone();
        assert!(Columns::new(&[a.clone(), b.clone()]).aligned);
        b.cases.remove("y");
        b.cases.insert("z".to_owned(), case(&[0.0], &[]));
        assert!(!Columns::new(&[a.clone(), b.clone()]).aligned);
        b.cases.remove("z");
        let uneven = Columns::new(&[a, b]);
        assert!(!uneven.aligned);
        assert_eq!((uneven.column(0, 0).means.len(), uneven.column(1, 0).means.len()), (2, 1));
    }

    #[test]
    fn a_name_only_one_arm_reports_is_unmeasured_in_the_others() {
        let mut a = ArmSample::default();
        let mut b = ArmSample::default();
        for key in ["x", "y"] {
            a.cases.insert(key.to_owned(), case(&[1.0], &[("only_a", &[1.0])]));
            b.cases.insert(key.to_owned(), case(&[0.0], &[]));
        }
        let columns = Columns::new(&[a, b]);
        assert_eq!(columns.metrics.len(), 5);
        assert_eq!(columns.column(0, 4).samples, vec![1, 1]);
        assert_eq!(columns.column(1, 4), &Column::missing(2));
    }
}
