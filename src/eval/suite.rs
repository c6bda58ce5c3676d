//! The eval-suite file format (`eval-suites/<name>.yaml`) as plain data, and finding and reading
//! suite files. The shape follows FORMATS.md and should feel familiar to promptfoo users:
//! `targets`, `providers`, `defaults`, `tests` (inline cases or `dataset:` entries), `repeat`,
//! `threshold`, `concurrency`. Expanding tests into cases and checking them is `plan`'s job.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::assert::AssertionSpec;
use crate::yaml::{self, Source, YamlError};

/// Variable values by name, as written in a suite.
pub type VarMap = BTreeMap<String, serde_json::Value>;

/// One eval-suite file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "promptops eval suite")]
pub struct SuiteFile {
    /// What the suite checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// What to evaluate: prompt refs (`support/triage`, `support/triage@3`,
    /// `support/triage@production`); later `workflow:<name>`.
    pub targets: Vec<String>,
    /// Providers to run every target on (a matrix): ids from `promptops.yaml` or `kind:model`.
    /// When empty, each target uses its prompt's `model`, else the project's default provider.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<String>,
    /// Cases evaluated at once (default: `defaults.concurrency` of `promptops.yaml`, else 8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// How many times every case runs (for stochastic outputs; default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<u32>,
    /// The lowest pass rate (0 to 1) at which the suite passes (default 1: every case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Run only when named on the command line, not by a bare `promptops eval` (demos, slow or
    /// expensive suites).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub manual: bool,
    /// Applied to every case: variables (a case's own win), assertions (added before the case's
    /// own), options and tags.
    #[serde(default, skip_serializing_if = "CaseDefaults::is_empty")]
    pub defaults: CaseDefaults,
    /// The cases: inline (`vars`, `assert`) or read from a `dataset` file.
    pub tests: Vec<TestEntry>,
}

/// What every case of a suite starts from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseDefaults {
    /// Variables for every case.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vars: VarMap,
    /// Assertions checked on every case.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assert: Vec<AssertionSpec>,
    /// Options for every case.
    #[serde(default, skip_serializing_if = "CaseOptions::is_empty")]
    pub options: CaseOptions,
    /// Tags for every case.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

impl CaseDefaults {
    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// One entry of `tests`: an inline case, or a dataset whose rows become cases.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestEntry {
    /// The case's name in reports (`description` also works, as in promptfoo). For a dataset,
    /// a template over each row's variables (default: the `__name` column, else `file:line`).
    #[serde(default, alias = "description", skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A CSV, JSONL or YAML file, relative to the suite file; each row's columns become variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    /// Dataset columns renamed to variables (`column: variable`); other columns keep their names.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub columns: BTreeMap<String, String>,
    /// Variables (for a dataset: added to every row; the row's own win).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vars: VarMap,
    /// Assertions on the output.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assert: Vec<AssertionSpec>,
    /// Tags, for `--tag` and reports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Grader, transform and rubric options.
    #[serde(default, skip_serializing_if = "CaseOptions::is_empty")]
    pub options: CaseOptions,
    /// Pass when the weighted score of the assertions reaches this (0 to 1), instead of
    /// requiring every assertion to pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
}

/// Per-case options, as promptfoo users know them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseOptions {
    /// The provider that grades `llm-rubric` and embeds for `similar`, unless the assertion names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// A template replacing the default grader prompt of `llm-rubric` (variables: `rubric`,
    /// `output` and the case's variables).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rubric_prompt: Option<String>,
    /// A minijinja expression applied to the output before the assertions see it (`output`,
    /// `json` and the case's variables are defined), e.g. `json.reply` or `output | trim | lower`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform: Option<String>,
}

impl CaseOptions {
    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }

    /// These options, with unset fields taken from `fallback` (case over defaults).
    #[must_use]
    pub fn or(&self, fallback: &Self) -> Self {
        let Self { provider, rubric_prompt, transform } = self;
        Self {
            provider: provider.clone().or_else(|| fallback.provider.clone()),
            rubric_prompt: rubric_prompt.clone().or_else(|| fallback.rubric_prompt.clone()),
            transform: transform.clone().or_else(|| fallback.transform.clone()),
        }
    }
}

/// A suite file read from disk.
#[derive(Debug, Clone)]
pub struct LoadedSuite {
    /// The suite's name: its file name without `.yaml`.
    pub name: String,
    /// The file, relative to the project root (for messages).
    pub path: PathBuf,
    /// The file's directory on disk (datasets are relative to it).
    pub dir: PathBuf,
    /// The file's text, with the positions of its keys.
    pub source: Source,
    /// The parsed file.
    pub file: SuiteFile,
}

impl LoadedSuite {
    /// Reads and parses the suite at `path` (absolute, or relative to the working directory);
    /// `root` is the project root that messages are relative to.
    pub fn read(root: &Path, path: &Path) -> Result<Self, YamlError> {
        let shown = path.strip_prefix(root).unwrap_or(path).to_path_buf();
        let text = std::fs::read_to_string(path)
            .map_err(|err| YamlError::at(&shown, None, format!("cannot read the suite: {err}")))?;
        let source = Source::new(text);
        let file: SuiteFile = source.parse(&shown)?;
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(Self { name, path: shown, dir, source, file })
    }

    /// Reads a suite file and reports every problem of its shape, not only the first. Returns
    /// the suite without its misfit parts (when what remains parses) so that planning can find
    /// the problems that come after, and the problems.
    pub fn read_all(root: &Path, path: &Path) -> (Option<Self>, Vec<YamlError>) {
        let shown = path.strip_prefix(root).unwrap_or(path).to_path_buf();
        let source = match std::fs::read_to_string(path) {
            Ok(source) => source,
            Err(err) => return (None, vec![YamlError::at(&shown, None, format!("cannot read the suite: {err}"))]),
        };
        let (file, problems) = yaml::from_str_all::<SuiteFile>(&shown, &source);
        let suite = file.map(|file| {
            let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            Self { name, path: shown, dir, source: Source::new(source), file }
        });
        (suite, problems)
    }

    /// Where a key path is written in the file, for messages.
    pub fn locate(&self, key_path: &[&str]) -> Option<yaml::Location> {
        self.source.locate(key_path)
    }

    /// Where item `index` of the list under `key` is written (block or flow style), else the key.
    pub fn locate_item(&self, key: &str, index: usize) -> Option<yaml::Location> {
        self.locate(&[key, &index.to_string()]).or_else(|| self.locate(&[key]))
    }

    /// An error at a key path of this file.
    pub fn problem(&self, key_path: &[&str], message: impl Into<String>) -> YamlError {
        YamlError::at(&self.path, self.locate(key_path), message)
    }
}

/// Every suite file directly under `dir` (`*.yaml`, `*.yml`), sorted by name. Datasets live in
/// subdirectories, so they are never mistaken for suites.
pub fn suite_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err),
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if path.is_file() && !name.starts_with('.') && (name.ends_with(".yaml") || name.ends_with(".yml")) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_formats_example() {
        let text = r#"
description: Triage accuracy
targets: [support/triage, support/triage@production]
providers: [offline]
concurrency: 8
repeat: 1
threshold: 0.9
defaults:
  vars: { language: en }
  assert: [{ type: is-json }]
tests:
  - name: double charge
    vars: { ticket: "I was charged twice and want a refund" }
    assert:
      - { type: json-path, path: $.category, equals: billing }
      - { type: llm-rubric, value: "Acknowledges the problem", provider: fast, threshold: 0.7 }
  - dataset: data/tickets.csv
    assert:
      - { type: json-path, path: $.category, equals: "{{ expected_category }}" }
"#;
        let suite: SuiteFile = yaml::from_str(Path::new("s.yaml"), text).expect("parses");
        assert_eq!(suite.targets.len(), 2);
        assert_eq!(suite.tests.len(), 2);
        assert_eq!(suite.tests[1].dataset.as_deref(), Some("data/tickets.csv"));
        assert_eq!(suite.defaults.assert[0].kind, "is-json");
    }

    #[test]
    fn unknown_keys_get_a_suggestion() {
        let err = yaml::from_str::<SuiteFile>(Path::new("s.yaml"), "targets: [a]\ntests: []\nthreshhold: 1\n")
            .expect_err("unknown key");
        assert_eq!(err.location.map(|l| l.line), Some(3));
        assert_eq!(err.hints, vec!["did you mean `threshold`?".to_owned()]);
    }

    #[test]
    fn description_is_an_alias_of_name() {
        let suite: SuiteFile =
            yaml::from_str(Path::new("s.yaml"), "targets: [a]\ntests:\n  - description: hi\n").expect("parses");
        assert_eq!(suite.tests[0].name.as_deref(), Some("hi"));
    }
}
