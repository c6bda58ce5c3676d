//! The eval-suite file format (`eval-suites/<name>.yaml`) as plain data, and finding and reading
//! suite files. The shape follows FORMATS.md and should feel familiar to promptfoo users:
//! `targets`, `providers`, `defaults`, `tests` (inline cases or `dataset:` entries), `repeat`,
//! `threshold`, `concurrency`. Expanding tests into cases and checking them is `plan`'s job.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::assert::AssertionSpec;
use crate::yaml::{self, Source, YamlError};

/// Variable values by name, as written in a suite.
pub type VarMap = BTreeMap<String, serde_json::Value>;

/// Variables sorted by name, held as a plain list: a map of one variable takes a whole tree
/// node (about 1.2 kB), and a suite's entries and a plan's cases hold theirs for the whole run,
/// 100,000 of them in a large suite. Read and written as a mapping, like [`VarMap`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VarList(Box<[(String, serde_json::Value)]>);

impl VarList {
    /// The variables as the map that rendering and assertions take.
    pub fn to_vars(&self) -> VarMap {
        self.0.iter().cloned().collect()
    }

    /// The variables, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &serde_json::Value)> {
        self.0.iter().map(|(name, value)| (name, value))
    }

    /// The variables, by name, to change their values.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&String, &mut serde_json::Value)> {
        self.0.iter_mut().map(|(name, value)| (&*name, value))
    }

    /// The names.
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(name, _)| name)
    }

    /// The values.
    pub fn values(&self) -> impl Iterator<Item = &serde_json::Value> {
        self.0.iter().map(|(_, value)| value)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<VarMap> for VarList {
    fn from(vars: VarMap) -> Self {
        Self(vars.into_iter().collect())
    }
}

impl Serialize for VarList {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for VarList {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        VarMap::deserialize(deserializer).map(Self::from)
    }
}

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
    #[serde(default, skip_serializing_if = "VarList::is_empty")]
    #[schemars(with = "VarMap")]
    pub vars: VarList,
    /// Assertions checked on every case.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "shared::specs",
        serialize_with = "shared::write_specs"
    )]
    #[schemars(with = "Vec<AssertionSpec>")]
    pub assert: Vec<Arc<AssertionSpec>>,
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
    #[serde(default, skip_serializing_if = "VarList::is_empty")]
    #[schemars(with = "VarMap")]
    pub vars: VarList,
    /// Assertions on the output.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "shared::specs",
        serialize_with = "shared::write_specs"
    )]
    #[schemars(with = "Vec<AssertionSpec>")]
    pub assert: Vec<Arc<AssertionSpec>>,
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
    /// Where each entry of `tests` is written, as the streaming reader saw it (empty when the
    /// file was read otherwise: [`LoadedSuite::locate`] finds them then). A valid suite is thus
    /// planned without indexing every key of its text.
    pub test_locations: Vec<yaml::Location>,
}

impl LoadedSuite {
    /// Reads and parses the suite at `path` (absolute, or relative to the working directory);
    /// `root` is the project root that messages are relative to.
    pub fn read(root: &Path, path: &Path) -> Result<Self, YamlError> {
        let shown = path.strip_prefix(root).unwrap_or(path).to_path_buf();
        let text = std::fs::read_to_string(path)
            .map_err(|err| YamlError::at(&shown, None, format!("cannot read the suite: {err}")))?;
        Self::parse(path, shown, text)
    }

    /// Parses the text of the suite at `path`, shown in messages as `shown`.
    pub fn parse(path: &Path, shown: PathBuf, text: String) -> Result<Self, YamlError> {
        let _shared = shared::Scope::new();
        let (file, test_locations) = yaml::from_str_streaming::<SuiteFile>(&shown, &text, "tests")?;
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(Self { name, path: shown, dir, source: Source::new(text), file, test_locations })
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
        let _shared = shared::Scope::new();
        let (file, problems) = yaml::from_str_all::<SuiteFile>(&shown, &source, "tests");
        let suite = file.map(|(file, test_locations)| {
            let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            Self { name, path: shown, dir, source: Source::new(source), file, test_locations }
        });
        (suite, problems)
    }

    /// Where a key path is written in the file, for messages.
    pub fn locate(&self, key_path: &[&str]) -> Option<yaml::Location> {
        self.source.locate(key_path)
    }

    /// Where entry `index` of `tests` is written.
    pub fn locate_test(&self, index: usize) -> Option<yaml::Location> {
        match self.test_locations.get(index) {
            Some(location) => Some(*location),
            None => self.locate(&["tests", &index.to_string()]),
        }
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

/// Identical assertions written on many cases (the same checks on every case, or the same
/// template over each case's variables) share one value while a suite is read, so a suite of
/// 100,000 cases does not hold 500,000 copies of five assertions.
mod shared {
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::hash::{DefaultHasher, Hash, Hasher};
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer};

    use super::AssertionSpec;

    type Table = HashMap<u64, Vec<Arc<AssertionSpec>>>;

    thread_local! {
        /// The assertions of the suite being read on this thread; `None` outside a [`Scope`].
        static SPECS: RefCell<Option<Table>> = const { RefCell::new(None) };
    }

    /// While alive, identical assertions read on this thread are shared.
    pub(super) struct Scope(());

    impl Scope {
        pub(super) fn new() -> Self {
            SPECS.with(|specs| *specs.borrow_mut() = Some(HashMap::new()));
            Self(())
        }
    }

    impl Drop for Scope {
        fn drop(&mut self) {
            SPECS.with(|specs| *specs.borrow_mut() = None);
        }
    }

    /// Writes a list of shared assertions as a plain list.
    pub(super) fn write_specs<S: serde::Serializer>(specs: &[Arc<AssertionSpec>], out: S) -> Result<S::Ok, S::Error> {
        out.collect_seq(specs.iter().map(|spec| &**spec))
    }

    /// A list of assertions, each shared with its identical twins read before it.
    pub(super) fn specs<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Arc<AssertionSpec>>, D::Error> {
        let specs = Vec::<AssertionSpec>::deserialize(deserializer)?;
        // Not `collect()`: it would reuse the specs' allocation (room for 8 specs of ~470 B)
        // for the 8-byte `Arc`s, and keep it for the life of the suite.
        let mut shared = Vec::with_capacity(specs.len());
        shared.extend(specs.into_iter().map(share));
        Ok(shared)
    }

    fn share(spec: AssertionSpec) -> Arc<AssertionSpec> {
        SPECS.with(|specs| {
            let mut specs = specs.borrow_mut();
            let Some(table) = specs.as_mut() else { return Arc::new(spec) };
            let bucket = table.entry(fingerprint(&spec)).or_default();
            if let Some(twin) = bucket.iter().find(|twin| ***twin == spec) {
                return Arc::clone(twin);
            }
            let shared = Arc::new(spec);
            bucket.push(Arc::clone(&shared));
            shared
        })
    }

    /// A hash of the fields that usually differ; equal fingerprints are compared in full.
    fn fingerprint(spec: &AssertionSpec) -> u64 {
        let mut hasher = DefaultHasher::new();
        spec.kind.hash(&mut hasher);
        for value in [&spec.value, &spec.equals, &spec.contains].into_iter().flatten() {
            match value {
                serde_json::Value::String(text) => text.hash(&mut hasher),
                other => other.to_string().hash(&mut hasher),
            }
        }
        spec.path.hash(&mut hasher);
        hasher.finish()
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
    fn identical_assertions_of_a_suite_are_one_value() {
        let mut text = "targets: [a]\ntests:\n".to_owned();
        for i in 0..3 {
            text.push_str(&format!(
                "  - vars: {{ i: {i} }}\n    assert: [{{ type: contains, value: x }}, {{ type: equals, value: \"{i}\" }}]\n"
            ));
        }
        let suite = LoadedSuite::parse(Path::new("s.yaml"), PathBuf::from("s.yaml"), text).expect("parses");
        let tests = &suite.file.tests;
        assert!(Arc::ptr_eq(&tests[0].assert[0], &tests[2].assert[0]), "the same `contains` is shared");
        assert!(!Arc::ptr_eq(&tests[0].assert[1], &tests[1].assert[1]), "different values are not");
        assert_eq!(tests[1].assert[1].value, Some(serde_json::json!("1")));
        assert_eq!(suite.test_locations.len(), 3, "read by the streaming reader");
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
