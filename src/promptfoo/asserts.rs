//! promptfoo assertions mapped to promptops' ([`AssertionSpec`]): the types both have keep their
//! names and bounds (`contains*`, `icontains*`, `equals`, `starts-with`, `regex`, `is-json`,
//! `contains-json`, `levenshtein`, `rouge-n`, `bleu`, `latency`, `cost`, `similar`, `llm-rubric`, with `not-`,
//! `weight`, `metric`, `threshold`); `javascript` expressions become `expr` through [`super::js`];
//! `python` (inline or `file://`) becomes a `script` run by a small Python adapter;
//! `model-graded-closedqa` and `factuality` become `llm-rubric` with their criterion spelled
//! out; an `assert-set` without a threshold is flattened. Everything else is unsupported, at its
//! line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::providers::Registry;
use super::source::{Doc, Problems, child, file_ref, read_ref};
use super::{CopiedFile, Datasets, Treatment, js};
use crate::eval::assert::AssertionSpec;

/// Where the Python adapter is written in the project.
pub const PYTHON_ADAPTER: &str = "scripts/promptfoo_assert.py";

/// The Python adapter: runs a promptfoo `get_assert(output, context)` (or an inline
/// expression or body) and answers in promptops' `script` protocol.
pub const PYTHON_ADAPTER_SOURCE: &str = include_str!("promptfoo_assert.py");

/// Types with the same name and meaning in both tools.
pub const SAME: [&str; 18] = [
    "equals",
    "contains",
    "icontains",
    "contains-any",
    "contains-all",
    "icontains-any",
    "icontains-all",
    "starts-with",
    "regex",
    "is-json",
    "contains-json",
    "levenshtein",
    "rouge-n",
    "bleu",
    "latency",
    "cost",
    "similar",
    "llm-rubric",
];

/// What assertion translation needs besides the assertion.
#[derive(Debug)]
pub struct AssertContext<'a> {
    /// The config's directory.
    pub base: &'a Path,
    /// Where copied files are read from.
    pub datasets: Datasets,
    /// Providers (graders are added here).
    pub registry: &'a mut Registry,
    /// Files to copy into the project.
    pub copies: &'a mut Vec<CopiedFile>,
    /// Files to write into the project.
    pub extra_files: &'a mut Vec<(PathBuf, String)>,
    /// Converted assertions by type, for the report.
    pub converted: &'a mut BTreeMap<String, usize>,
}

/// Translates the assertion at `path` of `doc`; nothing when it cannot be used.
pub fn translate(
    doc: &Doc,
    path: &[String],
    value: &Value,
    cx: &mut AssertContext<'_>,
    problems: &mut Problems,
) -> Vec<AssertionSpec> {
    let Some(map) = value.as_object() else {
        problems.error(
            doc.error(path, "an assertion is a mapping with `type`")
                .with_hint("e.g. `{ type: contains, value: Paris }`"),
        );
        return Vec::new();
    };
    let Some(kind) = map.get("type").and_then(Value::as_str) else {
        problems.error(doc.error(path, "the assertion has no `type`"));
        return Vec::new();
    };
    let (negate, base_kind) = match kind.strip_prefix("not-") {
        Some(rest) => (true, rest),
        None => (false, kind),
    };
    if base_kind == "assert-set" {
        return assert_set(doc, path, map, cx, problems);
    }
    for key in map.keys().filter(|k| {
        !["type", "value", "threshold", "weight", "metric", "provider", "rubricPrompt"].contains(&k.as_str())
    }) {
        problems.unsupported(doc, &child(path, &[key]), format!("assertion key `{key}`"), "");
    }
    let mut spec = AssertionSpec {
        kind: kind.to_owned(),
        value: map.get("value").cloned(),
        threshold: map.get("threshold").and_then(Value::as_f64),
        weight: map.get("weight").and_then(Value::as_f64),
        metric: map.get("metric").and_then(Value::as_str).map(str::to_owned),
        rubric_prompt: map.get("rubricPrompt").and_then(Value::as_str).map(str::to_owned),
        ..AssertionSpec::default()
    };
    if let Some(provider) = map.get("provider") {
        spec.provider = cx.registry.add(doc, &child(path, &["provider"]), provider, problems);
    }
    let mapped = match base_kind {
        k if SAME.contains(&k) => same(doc, path, k, spec, cx, problems),
        "javascript" => javascript(doc, path, spec, problems),
        "python" => python(doc, path, spec, cx, problems),
        "model-graded-closedqa" | "factuality" => Some(graded(doc, path, base_kind, spec, problems)),
        _ => {
            problems.unsupported(
                doc,
                &child(path, &["type"]),
                format!("assertion type `{kind}`"),
                "see docs/promptfoo.md for the types promptops maps",
            );
            None
        }
    };
    let Some(mut spec) = mapped else { return Vec::new() };
    if negate && !spec.kind.starts_with("not-") {
        spec.kind = format!("not-{}", spec.kind);
    }
    *cx.converted.entry(kind.to_owned()).or_default() += 1;
    vec![spec]
}

fn same(
    doc: &Doc,
    path: &[String],
    kind: &str,
    mut spec: AssertionSpec,
    cx: &mut AssertContext<'_>,
    problems: &mut Problems,
) -> Option<AssertionSpec> {
    match (&spec.value, kind) {
        // promptfoo splits a text value of `contains-any`/`contains-all` on commas.
        (Some(Value::String(text)), k) if k.ends_with("-any") || k.ends_with("-all") => {
            spec.value = Some(Value::Array(text.split(',').map(|s| Value::String(s.trim().to_owned())).collect()));
        }
        (Some(Value::String(text)), "is-json" | "contains-json") if file_ref(text).is_some() => {
            let relative = file_ref(text).unwrap_or_default();
            let (_, content) =
                read_ref(doc, cx.base, &child(path, &["value"]), relative).map_err(|e| problems.error(e)).ok()?;
            let schema = Doc::parse(Path::new(relative), content).map_err(|e| problems.error(*e)).ok()?;
            spec.value = Some(schema.value);
        }
        (Some(Value::Object(_) | Value::Array(_)), "equals" | "similar" | "llm-rubric") => {
            problems.unsupported(
                doc,
                &child(path, &["value"]),
                format!("`{kind}` with a structured value"),
                "give the value as text",
            );
            return None;
        }
        (Some(Value::String(text)), _) if file_ref(text).is_some() => {
            problems.unsupported(
                doc,
                &child(path, &["value"]),
                format!("`{kind}` with a `file://` value"),
                "write the value inline",
            );
            return None;
        }
        _ => {}
    }
    Some(spec)
}

fn javascript(doc: &Doc, path: &[String], mut spec: AssertionSpec, problems: &mut Problems) -> Option<AssertionSpec> {
    let source = spec.value.as_ref().and_then(Value::as_str).unwrap_or_default().to_owned();
    if file_ref(&source).is_some() {
        problems.unsupported(
            doc,
            &child(path, &["value"]),
            format!("JavaScript file `{source}`"),
            "promptops does not run JavaScript: port it to `python` or a `script`",
        );
        return None;
    }
    match js::translate(&source) {
        Ok(expr) => {
            spec.kind = "expr".to_owned();
            spec.value = Some(Value::String(expr));
            Some(spec)
        }
        Err(construct) => {
            problems.unsupported(
                doc,
                &child(path, &["value"]),
                format!("`javascript` assertion: {construct} has no minijinja equivalent"),
                "simple expressions over `output` translate; otherwise use a `python` assertion",
            );
            None
        }
    }
}

fn python(
    doc: &Doc,
    path: &[String],
    mut spec: AssertionSpec,
    cx: &mut AssertContext<'_>,
    problems: &mut Problems,
) -> Option<AssertionSpec> {
    let source = spec.value.as_ref().and_then(Value::as_str).unwrap_or_default().to_owned();
    let (file, mode) = match file_ref(&source) {
        Some(reference) => {
            let (relative, function) = match reference.rsplit_once(':') {
                Some((file, function)) if file.ends_with(".py") => (file, function),
                _ => (reference, "get_assert"),
            };
            let (real, _) =
                read_ref(doc, cx.base, &child(path, &["value"]), relative).map_err(|e| problems.error(e)).ok()?;
            let file = match cx.datasets {
                Datasets::InPlace => real.display().to_string(),
                Datasets::Copied => {
                    let to = PathBuf::from("scripts/promptfoo").join(relative);
                    if !cx.copies.iter().any(|c| c.to == to) {
                        cx.copies.push(CopiedFile { from: real, to: to.clone() });
                    }
                    to.display().to_string()
                }
            };
            (file, format!("file:{function}"))
        }
        None => {
            let to = PathBuf::from(format!("scripts/promptfoo/inline-{}.py", cx.extra_files.len() + 1));
            cx.extra_files.push((to.clone(), source));
            (to.display().to_string(), "inline".to_owned())
        }
    };
    if !cx.extra_files.iter().any(|(p, _)| p == Path::new(PYTHON_ADAPTER)) {
        cx.extra_files.push((PathBuf::from(PYTHON_ADAPTER), PYTHON_ADAPTER_SOURCE.to_owned()));
    }
    let threshold = spec.threshold.map_or_else(|| "-".to_owned(), |t| t.to_string());
    spec.kind = "script".to_owned();
    spec.value = Some(Value::String(format!("python3 {PYTHON_ADAPTER} '{file}' {mode} {threshold}")));
    spec.threshold = None;
    Some(spec)
}

fn graded(doc: &Doc, path: &[String], kind: &str, mut spec: AssertionSpec, problems: &mut Problems) -> AssertionSpec {
    let value = spec.value.as_ref().and_then(Value::as_str).unwrap_or_default();
    let rubric = match kind {
        "factuality" => format!("The output is factually consistent with this reference answer: {value}"),
        _ => format!("The output meets this criterion: {value}"),
    };
    problems.note(
        Treatment::Approximated,
        doc,
        path,
        format!("`{kind}` → `llm-rubric` with the criterion spelled out (promptfoo's own grading prompt differs)"),
    );
    spec.kind = "llm-rubric".to_owned();
    spec.value = Some(Value::String(rubric));
    spec
}

fn assert_set(
    doc: &Doc,
    path: &[String],
    map: &serde_json::Map<String, Value>,
    cx: &mut AssertContext<'_>,
    problems: &mut Problems,
) -> Vec<AssertionSpec> {
    if map.contains_key("threshold") {
        problems.unsupported(
            doc,
            &child(path, &["threshold"]),
            "`assert-set` with a `threshold`".to_owned(),
            "list the assertions with weights and a test `threshold`",
        );
        return Vec::new();
    }
    let Some(items) = map.get("assert").and_then(Value::as_array) else {
        problems.error(doc.error(path, "`assert-set` needs an `assert` list"));
        return Vec::new();
    };
    if map.get("type").and_then(Value::as_str).is_some_and(|t| t.starts_with("not-")) {
        problems.unsupported(doc, path, "`not-assert-set`".to_owned(), "");
        return Vec::new();
    }
    problems.note(
        Treatment::Approximated,
        doc,
        path,
        "`assert-set`: its assertions are checked one by one, with their own weights".to_owned(),
    );
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        out.extend(translate(doc, &child(path, &["assert", &i.to_string()]), item, cx, problems));
    }
    out
}
