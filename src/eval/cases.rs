//! Expanding a suite's `tests` into cases: inline entries become one case each, dataset entries
//! one case per row. Defaults are merged in (variables, assertions, options, tags), dataset
//! columns are renamed by `columns:`, and promptfoo's special columns are read: `__name` /
//! `__description` name the case, `__expected…` add an assertion (`contains: refund`, or plain
//! text for `equals`). Problems are collected, never thrown one at a time.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::assert::{AssertionSpec, Kind};
use super::dataset::{self, Dataset};
use super::suite::{CaseOptions, LoadedSuite, TestEntry, VarList};
use crate::error::did_you_mean;
use crate::prompt::{Vars, canonical_json};
use crate::yaml::{Location, YamlError};

/// A case before its assertions are prepared.
#[derive(Debug, Clone)]
pub struct RawCase {
    /// The index of its `tests` entry.
    pub entry: usize,
    /// Its name in reports.
    pub name: String,
    /// Whether the name was given (and so identifies the case across runs).
    pub named: bool,
    /// Where it is written: the suite file or a dataset row.
    pub location: (std::path::PathBuf, Option<Location>),
    /// Its variables (defaults, entry, row).
    pub vars: VarList,
    /// Assertion specs (shared with the suite) and where each is written (defaults first).
    pub asserts: Vec<(Arc<AssertionSpec>, Written)>,
    /// Tags.
    pub tags: Vec<String>,
    /// Options merged over the defaults.
    pub options: CaseOptions,
    /// The weighted-score threshold, if any.
    pub threshold: Option<f64>,
}

/// Where an assertion of a case is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Item `j` of `defaults.assert`.
    Defaults(u32),
    /// Item `j` of `tests[i].assert`.
    Entry(u32, u32),
    /// An `__expected` cell of the case's dataset row.
    Row,
}

impl Written {
    /// The key path in the suite file (empty for a dataset row).
    pub fn key_path(self) -> Vec<String> {
        match self {
            Self::Defaults(j) => vec!["defaults".into(), "assert".into(), j.to_string()],
            Self::Entry(i, j) => vec!["tests".into(), i.to_string(), "assert".into(), j.to_string()],
            Self::Row => Vec::new(),
        }
    }
}

impl RawCase {
    /// A stable identity across runs: the name if one was given, else a hash of the variables.
    pub fn key(&self) -> String {
        if self.named {
            return self.name.clone();
        }
        let vars = serde_json::to_value(&self.vars).unwrap_or_default();
        let digest = Sha256::digest(canonical_json(&vars).as_bytes());
        format!("vars:{}", &hex::encode(digest)[..12])
    }

    /// `file:line`, for reports and annotations.
    pub fn location_text(&self) -> String {
        match self.location.1 {
            Some(l) => format!("{}:{}", self.location.0.display(), l.line),
            None => self.location.0.display().to_string(),
        }
    }
}

/// Expands every entry; returns the cases, the dataset texts read (for the plan's hash) and
/// every problem found.
pub fn expand(suite: &LoadedSuite) -> (Vec<RawCase>, Vec<String>, Vec<YamlError>) {
    let mut cases = Vec::new();
    let mut datasets = Vec::new();
    let mut problems = Vec::new();
    for (index, entry) in suite.file.tests.iter().enumerate() {
        let base = base_case(suite, index, entry);
        match &entry.dataset {
            None => {
                let mut case = base;
                case.named = entry.name.is_some();
                case.name = entry.name.clone().unwrap_or_else(|| summary(index, &case.vars));
                cases.push(case);
            }
            Some(file) => match read_dataset(suite, index, file) {
                Ok((shown, data, text)) => {
                    datasets.push(text);
                    rows_to_cases(suite, entry, &base, &shown, &data, &mut cases, &mut problems);
                }
                Err(problem) => problems.push(*problem),
            },
        }
    }
    (cases, datasets, problems)
}

fn base_case(suite: &LoadedSuite, index: usize, entry: &TestEntry) -> RawCase {
    let defaults = &suite.file.defaults;
    let mut vars: Vars = defaults.vars.to_vars();
    vars.extend(entry.vars.iter().map(|(name, value)| (name.clone(), value.clone())));
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    let mut asserts: Vec<(Arc<AssertionSpec>, Written)> =
        Vec::with_capacity(defaults.assert.len() + entry.assert.len());
    asserts.extend(defaults.assert.iter().enumerate().map(|(j, a)| (Arc::clone(a), Written::Defaults(count(j)))));
    asserts
        .extend(entry.assert.iter().enumerate().map(|(j, a)| (Arc::clone(a), Written::Entry(count(index), count(j)))));
    let mut tags = defaults.tags.clone();
    tags.extend(entry.tags.iter().cloned());
    RawCase {
        entry: index,
        name: String::new(),
        named: false,
        location: (suite.path.clone(), suite.locate_test(index)),
        vars: vars.into(),
        asserts,
        tags,
        options: entry.options.or(&defaults.options),
        threshold: entry.threshold,
    }
}

/// A name for an unnamed case: its number and first variable, shortened.
fn summary(index: usize, vars: &VarList) -> String {
    let Some((name, value)) = vars.iter().next() else { return format!("case {}", index + 1) };
    let text = value.as_str().map_or_else(|| value.to_string(), str::to_owned);
    let short: String = text.chars().take(40).collect();
    let ellipsis = if text.chars().count() > 40 { "…" } else { "" };
    format!("#{} {name}={short}{ellipsis}", index + 1)
}

fn read_dataset(
    suite: &LoadedSuite,
    index: usize,
    file: &str,
) -> Result<(std::path::PathBuf, Dataset, String), Box<YamlError>> {
    let path = suite.dir.join(file);
    let shown = suite.path.parent().unwrap_or(Path::new("")).join(file);
    let data = dataset::read(&path, &shown).map_err(|mut err| {
        // A missing file is the suite's mistake: point at the `dataset:` line.
        if err.location.is_none() {
            err = YamlError {
                message: format!("dataset `{}`: {}", shown.display(), err.message),
                path: suite.path.clone(),
                location: suite.locate(&["tests", &index.to_string(), "dataset"]),
                hints: err.hints,
            };
        }
        Box::new(err)
    })?;
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    Ok((shown, data, text))
}

fn rows_to_cases(
    suite: &LoadedSuite,
    entry: &TestEntry,
    base: &RawCase,
    shown: &Path,
    data: &Dataset,
    cases: &mut Vec<RawCase>,
    problems: &mut Vec<YamlError>,
) {
    for column in entry.columns.keys() {
        if !data.columns.contains(column) {
            let at = suite.locate(&["tests", &base.entry.to_string(), "columns", column]);
            let mut err =
                YamlError::at(&suite.path, at, format!("dataset `{}` has no column `{column}`", shown.display()));
            err.hints.extend(did_you_mean(column, data.columns.iter().map(String::as_str)));
            err.hints.push(format!("its columns: {}", crate::error::list_names(&data.columns)));
            problems.push(err);
        }
    }
    for row in &data.rows {
        let mut case = base.clone();
        let mut vars = base.vars.to_vars();
        case.location = (shown.to_path_buf(), Some(Location { line: row.line, column: 1 }));
        let mut expected = Vec::new();
        let mut row_name = None;
        for (column, value) in &row.values {
            match column.as_str() {
                "__name" | "__description" => row_name = value.as_str().map(str::to_owned),
                c if c.starts_with("__expected") => expected.push(value.as_str().unwrap_or_default().to_owned()),
                c => {
                    let var = entry.columns.get(c).cloned().unwrap_or_else(|| c.to_owned());
                    vars.insert(var, value.clone());
                }
            }
        }
        for text in expected.iter().filter(|t| !t.trim().is_empty()) {
            case.asserts.push((Arc::new(expected_assertion(text)), Written::Row));
        }
        case.named = entry.name.is_some() || row_name.is_some();
        case.name = match (&entry.name, row_name) {
            (_, Some(name)) => name,
            (Some(template), None) => render_name(template, &vars).unwrap_or_else(|| template.clone()),
            (None, None) => format!("{}:{}", shown.display(), row.line),
        };
        case.vars = vars.into();
        cases.push(case);
    }
}

/// `__expected` cells: `type: value` for a known type (`contains: refund`, `not-icontains: sorry`),
/// otherwise the whole cell is an `equals` value.
fn expected_assertion(text: &str) -> AssertionSpec {
    if let Some((kind, value)) = text.split_once(':')
        && Kind::parse(kind.trim()).is_some()
    {
        return AssertionSpec {
            kind: kind.trim().to_owned(),
            value: Some(serde_json::Value::String(value.trim().to_owned())),
            ..AssertionSpec::default()
        };
    }
    AssertionSpec {
        kind: "equals".to_owned(),
        value: Some(serde_json::Value::String(text.to_owned())),
        ..AssertionSpec::default()
    }
}

fn render_name(template: &str, vars: &Vars) -> Option<String> {
    crate::template::render_str(&crate::template::environment(), template, vars).ok()
}

/// Groups identical problems of many dataset rows into one line naming the first row and the count.
pub fn collapse(problems: Vec<YamlError>) -> Vec<YamlError> {
    let mut order: Vec<(String, String)> = Vec::new();
    let mut groups: BTreeMap<(String, String), (YamlError, usize)> = BTreeMap::new();
    for problem in problems {
        let key = (problem.path.display().to_string(), problem.message.clone());
        match groups.get_mut(&key) {
            Some((_, count)) => *count += 1,
            None => {
                order.push(key.clone());
                groups.insert(key, (problem, 1));
            }
        }
    }
    order
        .into_iter()
        .filter_map(|key| groups.remove(&key))
        .map(|(mut problem, count)| {
            if count > 1 {
                problem.message.push_str(&format!(" (and {} more like it)", count - 1));
            }
            problem
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_cells_become_assertions() {
        assert_eq!(expected_assertion("contains: refund").kind, "contains");
        assert_eq!(expected_assertion("not-icontains: Sorry").value, Some(serde_json::json!("Sorry")));
        let plain = expected_assertion("billing: yes");
        assert_eq!((plain.kind.as_str(), plain.value), ("equals", Some(serde_json::json!("billing: yes"))));
    }

    #[test]
    fn unnamed_cases_are_summarised() {
        let vars = Vars::from([("ticket".to_owned(), serde_json::json!("x".repeat(50)))]).into();
        assert_eq!(summary(2, &vars), format!("#3 ticket={}…", "x".repeat(40)));
        assert_eq!(summary(0, &VarList::default()), "case 1");
    }

    #[test]
    fn repeated_problems_collapse() {
        let p = |line| YamlError::at(Path::new("d.csv"), Some(Location { line, column: 1 }), "needs `x`");
        let out = collapse(vec![p(2), p(3), p(4)]);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].to_string(), "d.csv:2:1: needs `x` (and 2 more like it)");
    }
}
