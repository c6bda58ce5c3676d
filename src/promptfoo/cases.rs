//! promptfoo's tests as one promptops suite: `defaultTest` becomes the suite's `defaults`;
//! `tests` are inline, or `file://` CSV (`__expected…`, `__description`, `__metric`,
//! `__threshold` columns), JSONL, YAML or JSON files (globs too); `scenarios` multiply their
//! `config` entries by their tests; `vars` read `file://` values and expand lists into one case
//! per combination, as promptfoo does; `evaluateOptions` gives concurrency and repeat. A CSV file
//! that means the same to both tools stays a dataset; any other is inlined row by row.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value};

use super::asserts::{self, AssertContext};
use super::providers::Registry;
use super::source::{Doc, Problems, child, file_ref, glob, keys, read_ref};
use super::{CopiedFile, Datasets, Treatment, js};
use crate::eval::assert::AssertionSpec;
use crate::eval::dataset;
use crate::eval::suite::{CaseDefaults, CaseOptions, SuiteFile, TestEntry, VarMap};

/// The translated suite and the files it needs.
#[derive(Debug)]
pub struct SuiteOut {
    /// The suite (targets and providers are filled in by the caller).
    pub file: SuiteFile,
    /// Datasets and scripts to copy.
    pub copies: Vec<CopiedFile>,
    /// Files to write.
    pub extra_files: Vec<(PathBuf, String)>,
    /// The variables every case sets.
    pub in_every_case: BTreeSet<String>,
}

/// promptfoo's assertion types besides those both tools share, for reading `__expected` cells.
const OTHER_EXPECTED_TYPES: [&str; 6] =
    ["javascript", "python", "model-graded-closedqa", "factuality", "is-xml", "is-sql"];

/// `__expected` types whose cells our dataset reader reads the same way.
const DATASET_SAFE: [&str; 5] = ["equals", "contains", "icontains", "starts-with", "regex"];

struct Builder<'a> {
    base: &'a Path,
    datasets: Datasets,
    registry: &'a mut Registry,
    copies: Vec<CopiedFile>,
    extra_files: Vec<(PathBuf, String)>,
    converted: BTreeMap<String, usize>,
    tests: Vec<TestEntry>,
    var_sets: Vec<BTreeSet<String>>,
    default_threshold: Option<f64>,
}

/// Translates everything about cases in the config's top level `top`.
pub fn translate(
    doc: &Doc,
    base: &Path,
    top: &Map<String, Value>,
    datasets: Datasets,
    registry: &mut Registry,
    problems: &mut Problems,
) -> SuiteOut {
    let mut b = Builder {
        base,
        datasets,
        registry,
        copies: Vec::new(),
        extra_files: Vec::new(),
        converted: BTreeMap::new(),
        tests: Vec::new(),
        var_sets: Vec::new(),
        default_threshold: None,
    };
    let mut file = SuiteFile {
        description: None,
        targets: Vec::new(),
        providers: Vec::new(),
        concurrency: None,
        repeat: None,
        threshold: None,
        manual: false,
        defaults: CaseDefaults::default(),
        tests: Vec::new(),
    };
    evaluate_options(doc, top.get("evaluateOptions"), &mut file, problems);
    if let Some(default_test) = top.get("defaultTest") {
        file.defaults = b.default_test(doc, default_test, problems);
    }
    if let Some(tests) = top.get("tests") {
        b.tests_value(doc, &keys(&["tests"]), tests, problems);
    }
    if let Some(scenarios) = top.get("scenarios") {
        b.scenarios(doc, scenarios, problems);
    }
    if b.tests.is_empty() && !top.contains_key("tests") && !top.contains_key("scenarios") {
        // promptfoo runs each prompt once when there are no tests.
        b.tests.push(TestEntry { name: Some("prompt only".to_owned()), ..TestEntry::default() });
        b.var_sets.push(BTreeSet::new());
    }
    for (kind, count) in &b.converted {
        problems.note(Treatment::Converted, doc, &[], format!("{count} `{kind}` assertion(s)"));
    }
    let defaults: BTreeSet<String> = file.defaults.vars.keys().cloned().collect();
    let mut sets = b.var_sets.iter();
    let first = sets.next().cloned().unwrap_or_default();
    let common = sets.fold(first, |acc, set| acc.intersection(set).cloned().collect());
    file.tests = b.tests;
    SuiteOut {
        file,
        copies: b.copies,
        extra_files: b.extra_files,
        in_every_case: common.union(&defaults).cloned().collect(),
    }
}

fn evaluate_options(doc: &Doc, value: Option<&Value>, file: &mut SuiteFile, problems: &mut Problems) {
    let Some(map) = value.and_then(Value::as_object) else { return };
    for (key, v) in map {
        let path = keys(&["evaluateOptions", key]);
        match key.as_str() {
            "maxConcurrency" => file.concurrency = v.as_u64().map(|n| n.max(1) as u32),
            "repeat" => file.repeat = v.as_u64().map(|n| n as u32),
            _ => problems.note(Treatment::LeftOut, doc, &path, format!("`evaluateOptions.{key}`")),
        }
    }
}

impl Builder<'_> {
    fn assert_context(&mut self) -> AssertContext<'_> {
        AssertContext {
            base: self.base,
            datasets: self.datasets,
            registry: self.registry,
            copies: &mut self.copies,
            extra_files: &mut self.extra_files,
            converted: &mut self.converted,
        }
    }

    fn default_test(&mut self, doc: &Doc, value: &Value, problems: &mut Problems) -> CaseDefaults {
        let path = keys(&["defaultTest"]);
        let Some(map) = value.as_object() else {
            problems.unsupported(doc, &path, "`defaultTest` that is not a mapping".to_owned(), "");
            return CaseDefaults::default();
        };
        let mut defaults = CaseDefaults::default();
        for (key, v) in map {
            let at = child(&path, &[key]);
            match key.as_str() {
                "vars" => {
                    let vars = self.vars(doc, &at, v, problems);
                    if vars.values().any(Value::is_array) {
                        problems.unsupported(
                            doc,
                            &at,
                            "list values in `defaultTest.vars`".to_owned(),
                            "move them to the tests",
                        );
                    }
                    defaults.vars = vars.into();
                }
                "assert" => defaults.assert = self.asserts(doc, &at, v, problems).into_iter().map(Arc::new).collect(),
                "options" => defaults.options = self.options(doc, &at, v, problems),
                "threshold" => self.default_threshold = v.as_f64(),
                "metadata" | "description" => {
                    problems.note(Treatment::LeftOut, doc, &at, format!("`defaultTest.{key}`"))
                }
                _ => problems.unsupported(doc, &at, format!("`defaultTest.{key}`"), ""),
            }
        }
        defaults
    }

    fn tests_value(&mut self, doc: &Doc, path: &[String], value: &Value, problems: &mut Problems) {
        match value {
            Value::String(text) => self.tests_file(doc, path, text, problems),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let at = child(path, &[&i.to_string()]);
                    match item {
                        Value::String(text) => self.tests_file(doc, &at, text, problems),
                        Value::Object(_) => self.inline(doc, &at, item, &Map::new(), problems),
                        _ => problems.error(doc.error(&at, "a test is a mapping, or a `file://` path")),
                    }
                }
            }
            _ => problems.error(doc.error(path, "`tests` is a list of tests, or a `file://` path")),
        }
    }

    fn tests_file(&mut self, doc: &Doc, path: &[String], text: &str, problems: &mut Problems) {
        let Some(pattern) = file_ref(text) else {
            problems.error(doc.error(path, format!("`{text}` is neither a test nor a `file://` path")));
            return;
        };
        let files = match glob(self.base, pattern) {
            Ok(files) => files,
            Err(message) => return problems.error(doc.error(path, message)),
        };
        for relative in files {
            let (real, content) = match read_ref(doc, self.base, path, &relative) {
                Ok(found) => found,
                Err(err) => return problems.error(err),
            };
            let shown = PathBuf::from(&relative);
            match shown.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase().as_str() {
                "csv" => self.csv(doc, path, &real, &relative, problems),
                "jsonl" => self.jsonl(&real, &content, problems),
                "json" | "yaml" | "yml" => match Doc::parse(&real, content) {
                    Ok(file) => match file.value.clone() {
                        Value::Array(_) => self.tests_value(&file, &[], &file.value.clone(), problems),
                        _ => problems.error(file.error(&[], "a tests file is a list of tests")),
                    },
                    Err(err) => problems.error(*err),
                },
                other => problems.unsupported(
                    doc,
                    path,
                    format!("tests file `{relative}` (`.{other}`)"),
                    "tests files are .csv, .jsonl, .json or .yaml",
                ),
            }
        }
    }

    fn jsonl(&mut self, real: &Path, content: &str, problems: &mut Problems) {
        for (i, line) in content.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            match serde_json::from_str::<Value>(line) {
                Ok(value) => {
                    let row = Doc::row(real, i + 1, value.clone());
                    self.inline(&row, &[], &value, &Map::new(), problems);
                }
                Err(err) => problems.error(crate::yaml::YamlError::at(
                    real,
                    Some(crate::yaml::Location { line: i + 1, column: err.column() }),
                    format!("not a JSON test: {err}"),
                )),
            }
        }
    }

    fn scenarios(&mut self, doc: &Doc, value: &Value, problems: &mut Problems) {
        let Some(items) = value.as_array() else {
            return problems.error(doc.error(&keys(&["scenarios"]), "`scenarios` is a list"));
        };
        for (s, scenario) in items.iter().enumerate() {
            let path = keys(&["scenarios", &s.to_string()]);
            let configs = scenario.get("config").and_then(Value::as_array).cloned().unwrap_or_default();
            let Some(tests) = scenario.get("tests").and_then(Value::as_array) else {
                problems.error(doc.error(&path, "a scenario needs `tests` (a list)"));
                continue;
            };
            let prefix = scenario.get("description").and_then(Value::as_str).unwrap_or_default();
            for (c, config) in configs.iter().enumerate() {
                let Some(config) = config.as_object() else { continue };
                let mut merged = config.clone();
                let label = config.get("description").and_then(Value::as_str).unwrap_or_default();
                merged.insert("description".to_owned(), Value::String(format!("{prefix} {label}").trim().to_owned()));
                for (t, test) in tests.iter().enumerate() {
                    let at = child(&path, &["tests", &t.to_string()]);
                    if test.is_string() {
                        problems.unsupported(
                            doc,
                            &at,
                            "a `file://` test inside a scenario".to_owned(),
                            "write the scenario's tests inline",
                        );
                        continue;
                    }
                    let _ = c;
                    self.inline(doc, &at, test, &merged, problems);
                }
            }
        }
    }

    /// One inline test; `outer` is a scenario's config entry merged under it.
    fn inline(
        &mut self,
        doc: &Doc,
        path: &[String],
        value: &Value,
        outer: &Map<String, Value>,
        problems: &mut Problems,
    ) {
        let Some(map) = value.as_object() else {
            return problems.error(doc.error(path, "a test is a mapping"));
        };
        let mut entry = TestEntry::default();
        let mut vars = VarMap::new();
        if let Some(v) = outer.get("vars") {
            vars.extend(self.vars(doc, path, v, problems));
        }
        if let Some(v) = outer.get("assert") {
            entry.assert.extend(self.asserts(doc, path, v, problems).into_iter().map(Arc::new));
        }
        if let Some(v) = outer.get("options") {
            entry.options = self.options(doc, path, v, problems);
        }
        let mut name = outer.get("description").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
        for (key, v) in map {
            let at = child(path, &[key]);
            match key.as_str() {
                "description" => {
                    let own = v.as_str().unwrap_or_default();
                    name = Some(match name.take() {
                        Some(prefix) => format!("{prefix}: {own}"),
                        None => own.to_owned(),
                    });
                }
                "vars" => vars.extend(self.vars(doc, &at, v, problems)),
                "assert" => entry.assert.extend(self.asserts(doc, &at, v, problems).into_iter().map(Arc::new)),
                "options" => entry.options = self.options(doc, &at, v, problems).or(&entry.options),
                "threshold" => entry.threshold = v.as_f64(),
                "metadata" => problems.note(Treatment::LeftOut, doc, &at, "test `metadata`".to_owned()),
                _ => problems.unsupported(
                    doc,
                    &at,
                    format!("test key `{key}`"),
                    "tests take description, vars, assert, options and threshold",
                ),
            }
        }
        entry.name = name;
        entry.threshold = entry.threshold.or(self.default_threshold);
        self.push_expanded(entry, vars);
    }

    /// Pushes one case per combination of the list values in `vars`, as promptfoo does.
    fn push_expanded(&mut self, entry: TestEntry, vars: VarMap) {
        let mut combinations: Vec<VarMap> = vec![VarMap::new()];
        for (key, value) in vars {
            let choices = match value {
                Value::Array(items) if !items.is_empty() => items,
                other => vec![other],
            };
            combinations = combinations
                .into_iter()
                .flat_map(|base| {
                    let key = &key;
                    choices.iter().map(move |choice| {
                        let mut next = base.clone();
                        next.insert(key.clone(), choice.clone());
                        next
                    })
                })
                .collect();
        }
        for vars in combinations {
            self.var_sets.push(vars.keys().cloned().collect());
            self.tests.push(TestEntry { vars: vars.into(), ..entry.clone() });
        }
    }

    /// `vars`: a mapping (values may be `file://` paths, read here), or a `file://` path to one.
    fn vars(&mut self, doc: &Doc, path: &[String], value: &Value, problems: &mut Problems) -> VarMap {
        let Some(map) = value.as_object() else {
            problems.unsupported(
                doc,
                path,
                "`vars` that is not a mapping".to_owned(),
                "write the variables as `name: value` lines",
            );
            return VarMap::new();
        };
        let mut out = VarMap::new();
        for (name, v) in map {
            let at = child(path, &[name]);
            let value = match v {
                Value::String(text) => match self.file_value(doc, &at, text, problems) {
                    Some(value) => value,
                    None => continue,
                },
                Value::Array(items) => {
                    let mut read = Vec::new();
                    for item in items {
                        match item {
                            Value::String(text) => read.extend(self.file_value(doc, &at, text, problems)),
                            other => read.push(other.clone()),
                        }
                    }
                    Value::Array(read)
                }
                other => other.clone(),
            };
            out.insert(name.clone(), value);
        }
        out
    }

    /// A variable's value: the text itself, or what its `file://` path holds.
    fn file_value(&mut self, doc: &Doc, path: &[String], text: &str, problems: &mut Problems) -> Option<Value> {
        let Some(relative) = file_ref(text) else { return Some(Value::String(text.to_owned())) };
        let extension = Path::new(relative).extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
        if matches!(extension.as_str(), "js" | "cjs" | "mjs" | "ts" | "py") {
            problems.unsupported(
                doc,
                path,
                format!("variable generator `{relative}`"),
                "promptops does not run JavaScript or Python to make variables",
            );
            return None;
        }
        let (real, content) = read_ref(doc, self.base, path, relative).map_err(|e| problems.error(e)).ok()?;
        match extension.as_str() {
            "json" | "yaml" | "yml" => Doc::parse(&real, content).map(|d| d.value).map_err(|e| problems.error(*e)).ok(),
            _ => Some(Value::String(content)),
        }
    }

    fn asserts(&mut self, doc: &Doc, path: &[String], value: &Value, problems: &mut Problems) -> Vec<AssertionSpec> {
        let Some(items) = value.as_array() else {
            problems.error(doc.error(path, "`assert` is a list of assertions"));
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let at = child(path, &[&i.to_string()]);
            out.extend(asserts::translate(doc, &at, item, &mut self.assert_context(), problems));
        }
        out
    }

    fn options(&mut self, doc: &Doc, path: &[String], value: &Value, problems: &mut Problems) -> CaseOptions {
        let mut options = CaseOptions::default();
        let Some(map) = value.as_object() else { return options };
        for (key, v) in map {
            let at = child(path, &[key]);
            match key.as_str() {
                "provider" => options.provider = self.registry.add(doc, &at, v, problems),
                "rubricPrompt" => options.rubric_prompt = v.as_str().map(str::to_owned),
                "transform" => {
                    let source = v.as_str().unwrap_or_default();
                    if file_ref(source).is_some() {
                        problems.unsupported(
                            doc,
                            &at,
                            format!("transform file `{source}`"),
                            "promptops does not run JavaScript",
                        );
                        continue;
                    }
                    match js::translate(source) {
                        Ok(expr) => options.transform = Some(expr),
                        Err(construct) => problems.unsupported(
                            doc,
                            &at,
                            format!("`transform`: {construct} has no minijinja equivalent"),
                            "simple expressions over `output` translate (`output.trim()`, `JSON.parse(output).answer`)",
                        ),
                    }
                }
                _ => problems.unsupported(doc, &at, format!("test option `{key}`"), ""),
            }
        }
        options
    }

    fn csv(&mut self, doc: &Doc, path: &[String], real: &Path, relative: &str, problems: &mut Problems) {
        let data = match dataset::read(real, Path::new(relative)) {
            Ok(data) => data,
            Err(err) => return problems.error(err),
        };
        let columns_ok =
            data.columns.iter().all(|c| !c.starts_with("__") || c.starts_with("__expected") || c == "__description");
        let cells_ok = data.rows.iter().all(|row| {
            row.values.iter().all(|(column, value)| {
                let text = value.as_str().unwrap_or_default();
                if column.starts_with("__expected") { dataset_safe(text) } else { file_ref(text).is_none() }
            })
        });
        if columns_ok && cells_ok {
            let dataset = match self.datasets {
                Datasets::InPlace => real.display().to_string(),
                Datasets::Copied => {
                    let to = PathBuf::from("eval-suites/data").join(relative);
                    self.copies.push(CopiedFile { from: real.to_path_buf(), to });
                    format!("data/{relative}")
                }
            };
            for row in &data.rows {
                self.var_sets.push(row.values.keys().filter(|c| !c.starts_with("__")).cloned().collect());
            }
            self.tests.push(TestEntry {
                dataset: Some(dataset),
                threshold: self.default_threshold,
                ..TestEntry::default()
            });
            return;
        }
        problems.note(
            Treatment::Approximated,
            doc,
            path,
            format!("`{relative}`: rows inlined into the suite (its columns or cells need translating)"),
        );
        for row in &data.rows {
            let mut test = Map::new();
            let mut vars = Map::new();
            let mut asserts = Vec::new();
            let mut metric = None;
            for (column, value) in &row.values {
                let text = value.as_str().unwrap_or_default().to_owned();
                match column.as_str() {
                    "__description" => drop(test.insert("description".to_owned(), Value::String(text))),
                    "__metric" => metric = Some(text),
                    "__threshold" => {
                        drop(test.insert("threshold".to_owned(), text.parse::<f64>().map_or(Value::Null, Value::from)))
                    }
                    c if c.starts_with("__expected") => {
                        if !text.trim().is_empty() {
                            asserts.push(expected_cell(&text));
                        }
                    }
                    c if c.starts_with("__") => drop(test.insert(c.to_owned(), Value::String(text))),
                    c => drop(vars.insert(c.to_owned(), Value::String(text))),
                }
            }
            if let Some(metric) = metric {
                for a in &mut asserts {
                    a["metric"] = Value::String(metric.clone());
                }
            }
            test.insert("vars".to_owned(), Value::Object(vars));
            test.insert("assert".to_owned(), Value::Array(asserts));
            let value = Value::Object(test);
            let row_doc = Doc::row(real, row.line, value.clone());
            self.inline(&row_doc, &[], &value, &Map::new(), problems);
        }
    }
}

/// Splits an `__expected` cell into promptfoo's `type(threshold): value`, if it has one.
fn expected_parts(text: &str) -> Option<(String, Option<f64>, String)> {
    let trimmed = text.trim();
    let aliases = [("grade", "llm-rubric"), ("fn", "javascript"), ("eval", "javascript")];
    let (head, rest) = match trimmed.split_once(':') {
        Some((head, rest)) => (head.trim(), rest.trim()),
        None => (trimmed, ""),
    };
    let (name, threshold) = match head.split_once('(') {
        Some((name, args)) => (name, args.trim_end_matches(')').trim().parse::<f64>().ok()),
        None => (head, None),
    };
    let bare = name.strip_prefix("not-").unwrap_or(name);
    let kind = aliases.iter().find(|(a, _)| *a == bare).map_or(bare, |(_, k)| k);
    if !(asserts::SAME.contains(&kind) || OTHER_EXPECTED_TYPES.contains(&kind))
        || (rest.is_empty() && !matches!(kind, "is-json" | "contains-json" | "is-xml" | "is-sql"))
    {
        return None;
    }
    let negate = if name.starts_with("not-") { "not-" } else { "" };
    Some((format!("{negate}{kind}"), threshold, rest.to_owned()))
}

/// An `__expected` cell as a promptfoo assertion.
fn expected_cell(text: &str) -> Value {
    match expected_parts(text) {
        Some((kind, threshold, value)) => {
            let mut out = serde_json::json!({ "type": kind });
            if !value.is_empty() {
                out["value"] = Value::String(value);
            }
            if let Some(t) = threshold {
                out["threshold"] = Value::from(t);
            }
            out
        }
        None => serde_json::json!({ "type": "equals", "value": text }),
    }
}

/// Whether promptops' dataset reader gives `text` the meaning promptfoo gives it.
fn dataset_safe(text: &str) -> bool {
    if text.trim().is_empty() {
        return true;
    }
    let ours = text
        .split_once(':')
        .and_then(|(kind, _)| crate::eval::assert::Kind::parse(kind.trim()).map(|_| kind.trim().to_owned()));
    match (expected_parts(text), ours) {
        (None, None) => true,
        (Some((kind, None, _)), Some(our_kind)) => {
            kind == our_kind && DATASET_SAFE.contains(&kind.strip_prefix("not-").unwrap_or(&kind))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_cells_read_as_promptfoo_reads_them() {
        assert_eq!(expected_cell("Paris"), serde_json::json!({ "type": "equals", "value": "Paris" }));
        assert_eq!(expected_cell("contains: Paris"), serde_json::json!({ "type": "contains", "value": "Paris" }));
        assert_eq!(
            expected_cell("similar(0.8): capital"),
            serde_json::json!({ "type": "similar", "value": "capital", "threshold": 0.8 })
        );
        assert_eq!(
            expected_cell("grade: is polite"),
            serde_json::json!({ "type": "llm-rubric", "value": "is polite" })
        );
        assert_eq!(expected_cell("is-json"), serde_json::json!({ "type": "is-json" }));
    }

    #[test]
    fn only_cells_both_tools_read_alike_keep_a_dataset() {
        assert!(dataset_safe("Paris"));
        assert!(dataset_safe("contains: Paris"));
        assert!(dataset_safe("not-icontains: sorry"));
        assert!(!dataset_safe("is-json"), "promptops would compare with the text `is-json`");
        assert!(!dataset_safe("contains-any: a, b"), "promptfoo splits on commas");
        assert!(!dataset_safe("grade: polite"));
    }
}
