//! Assertions on the output as JSON: `is-json` (optionally against a schema), `contains-json`
//! (JSON somewhere in the text), `json-schema`, and `json-path` (the value at a path equals,
//! contains or matches). Also the small JSONPath subset they use: `$`, `.key`, `['key']`, `[3]`,
//! `[-1]`, `[*]` and `.*`.

use std::sync::Arc;

use regex::Regex;

use super::Grade;
use super::text::excerpt;

/// The output parsed as JSON, leniently: surrounding white space and a Markdown code fence
/// (```` ```json … ``` ````) are ignored, since models often wrap JSON in one.
pub fn parse_output(output: &str) -> Option<serde_json::Value> {
    let trimmed = output.trim();
    if let Ok(value) = serde_json::from_str(trimmed) {
        return Some(value);
    }
    let inner = trimmed.strip_prefix("```")?.strip_suffix("```")?;
    let inner = inner.strip_prefix("json").unwrap_or(inner);
    serde_json::from_str(inner.trim()).ok()
}

/// `is-json` and `json-schema`: the output is JSON and, with a schema, valid against it.
pub fn is_json(output: &str, json: Option<&serde_json::Value>, schema: Option<&jsonschema::Validator>) -> Grade {
    let Some(value) = json else {
        return Grade::fail(format!("output is not JSON: `{}`", excerpt(output)));
    };
    let Some(schema) = schema else { return Grade::pass() };
    let errors: Vec<String> = schema
        .iter_errors(value)
        .take(3)
        .map(|e| format!("{e} at `{}`", pointer(&e.instance_path.to_string())))
        .collect();
    if errors.is_empty() { Grade::pass() } else { Grade::fail(format!("schema violations: {}", errors.join("; "))) }
}

/// Where `contains-json` stops looking: the output is scanned from each `{` or `[`, so a text
/// full of brackets must not cost the square of its length.
const MAX_JSON_STARTS: usize = 1000;

/// `contains-json`: some object or array inside the output (the first that parses, from the
/// left, and with a schema the first that is also valid against it).
pub fn contains_json(output: &str, schema: Option<&jsonschema::Validator>) -> Grade {
    let mut invalid = None;
    let starts = output.match_indices(['{', '[']).take(MAX_JSON_STARTS);
    for (start, _) in starts {
        let mut values = serde_json::Deserializer::from_str(&output[start..]).into_iter::<serde_json::Value>();
        let Some(Ok(value)) = values.next() else { continue };
        match schema {
            None => return Grade::pass(),
            Some(schema) if schema.is_valid(&value) => return Grade::pass(),
            Some(_) => invalid = invalid.or(Some(value)),
        }
    }
    match (invalid, schema) {
        (Some(value), Some(schema)) => is_json("", Some(&value), Some(schema)),
        _ => Grade::fail(format!("output contains no JSON object or array: `{}`", excerpt(output))),
    }
}

fn pointer(path: &str) -> String {
    if path.is_empty() { "/".to_owned() } else { path.to_owned() }
}

/// What a `json-path` assertion expects at its path.
#[derive(Debug, Clone)]
pub enum PathExpect {
    /// The path exists.
    Exists,
    /// A value at the path equals this (numbers and booleans also match their text form).
    Equals(serde_json::Value),
    /// A value at the path contains this: a substring of a string, an element of an array.
    Contains(serde_json::Value),
    /// A string value at the path matches this pattern.
    Matches(Arc<Regex>),
}

/// `json-path`: some value selected by `path` meets `expect`.
pub fn json_path(output: &str, json: Option<&serde_json::Value>, path: &JsonPath, expect: &PathExpect) -> Grade {
    let Some(value) = json else {
        return Grade::fail(format!("output is not JSON: `{}`", excerpt(output)));
    };
    let found = path.select(value);
    if found.is_empty() {
        return Grade::fail(format!("`{}` selects nothing in `{}`", path.text, excerpt(output)));
    }
    let ok = found.iter().any(|v| match expect {
        PathExpect::Exists => true,
        PathExpect::Equals(want) => loosely_equal(v, want),
        PathExpect::Contains(want) => contains(v, want),
        PathExpect::Matches(re) => v.as_str().is_some_and(|s| re.is_match(s)),
    });
    if ok {
        return Grade::pass();
    }
    let got = found.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", ");
    let wanted = match expect {
        PathExpect::Exists => String::new(),
        PathExpect::Equals(w) => format!("expected {}", text_of(w)),
        PathExpect::Contains(w) => format!("expected to contain {}", text_of(w)),
        PathExpect::Matches(re) => format!("expected to match /{}/", re.as_str()),
    };
    Grade::fail(format!("{}: {wanted}, got {}", path.text, excerpt(&got)))
}

fn text_of(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => format!("`{s}`"),
        other => format!("`{other}`"),
    }
}

/// Equal as JSON, or a scalar whose text equals the expected string (`119.0` and `"119.0"`),
/// since templated expectations are always strings.
fn loosely_equal(got: &serde_json::Value, want: &serde_json::Value) -> bool {
    if got == want {
        return true;
    }
    match (got, want) {
        (serde_json::Value::Number(n), serde_json::Value::String(s)) => {
            s.trim().parse::<f64>().ok().zip(n.as_f64()).is_some_and(|(a, b)| a == b)
        }
        (serde_json::Value::Bool(b), serde_json::Value::String(s)) => s.trim() == b.to_string(),
        (serde_json::Value::String(g), serde_json::Value::Number(n)) => g.trim() == n.to_string(),
        _ => false,
    }
}

fn contains(got: &serde_json::Value, want: &serde_json::Value) -> bool {
    match got {
        serde_json::Value::String(s) => match want {
            serde_json::Value::String(w) => s.contains(w.as_str()),
            other => s.contains(&other.to_string()),
        },
        serde_json::Value::Array(items) => items.iter().any(|item| loosely_equal(item, want)),
        serde_json::Value::Object(map) => want.as_str().is_some_and(|key| map.contains_key(key)),
        _ => false,
    }
}

/// A parsed JSONPath of the supported subset.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    /// The path as written.
    pub text: String,
    steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(i64),
    Wildcard,
}

impl JsonPath {
    /// Parses `$.a.b[0]['c d'][*]`. A leading `$` is optional.
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        // `category` alone is read as `$.category`.
        let dotted = if trimmed.starts_with(['$', '.', '[']) { trimmed.to_owned() } else { format!(".{trimmed}") };
        let mut rest = dotted.strip_prefix('$').unwrap_or(&dotted);
        let mut steps = Vec::new();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('.') {
                let end = after.find(['.', '[']).unwrap_or(after.len());
                match &after[..end] {
                    "" => return Err(format!("empty key in JSONPath `{text}`")),
                    "*" => steps.push(Step::Wildcard),
                    key => steps.push(Step::Key(key.to_owned())),
                }
                rest = &after[end..];
            } else if let Some(after) = rest.strip_prefix('[') {
                let end = after.find(']').ok_or_else(|| format!("unclosed `[` in JSONPath `{text}`"))?;
                steps.push(bracket(&after[..end]).ok_or_else(|| {
                    format!("cannot read `[{}]` in JSONPath `{text}`: use [0], [-1], [*] or ['key']", &after[..end])
                })?);
                rest = &after[end + 1..];
            } else {
                return Err(format!("unexpected `{rest}` in JSONPath `{text}`"));
            }
        }
        Ok(Self { text: text.trim().to_owned(), steps })
    }

    /// Every value the path selects in `root`.
    pub fn select<'a>(&self, root: &'a serde_json::Value) -> Vec<&'a serde_json::Value> {
        let mut current = vec![root];
        for step in &self.steps {
            let mut next = Vec::new();
            for value in current {
                match (step, value) {
                    (Step::Key(k), serde_json::Value::Object(map)) => next.extend(map.get(k)),
                    (Step::Index(i), serde_json::Value::Array(items)) => {
                        let index = if *i < 0 { items.len() as i64 + i } else { *i };
                        next.extend(usize::try_from(index).ok().and_then(|i| items.get(i)));
                    }
                    (Step::Wildcard, serde_json::Value::Array(items)) => next.extend(items.iter()),
                    (Step::Wildcard, serde_json::Value::Object(map)) => next.extend(map.values()),
                    _ => {}
                }
            }
            current = next;
        }
        current
    }
}

fn bracket(inner: &str) -> Option<Step> {
    let inner = inner.trim();
    if inner == "*" {
        return Some(Step::Wildcard);
    }
    if let Ok(index) = inner.parse::<i64>() {
        return Some(Step::Index(index));
    }
    let quoted = inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\''));
    let quoted = quoted.or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')));
    quoted.map(|key| Step::Key(key.to_owned()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_inside_text_is_found() {
        assert!(contains_json("Sure! Here it is: {\"a\": [1, 2]} Hope that helps.", None).pass);
        assert!(contains_json("the list [1, 2, 3] and more", None).pass);
        assert!(contains_json("{not json} but then {\"ok\": true}", None).pass);
    }

    #[test]
    fn text_without_a_json_object_or_array_fails() {
        for output in ["no json here", "{ broken [ also broken", "42", "\"a string\""] {
            let grade = contains_json(output, None);
            assert!(!grade.pass && grade.reason.contains("no JSON object or array"), "{output}: {}", grade.reason);
        }
    }

    #[test]
    fn with_a_schema_some_json_in_the_text_must_be_valid() {
        let schema = jsonschema::validator_for(&json!({"type": "object", "required": ["n"]})).expect("schema");
        assert!(contains_json("first {\"m\": 1} then {\"n\": 2}", Some(&schema)).pass);
        let grade = contains_json("only {\"m\": 1}", Some(&schema));
        assert!(!grade.pass && grade.reason.contains("schema violations"), "{}", grade.reason);
    }

    #[test]
    fn brackets_alone_are_no_json() {
        let output = "{".repeat(200_000);
        assert!(!contains_json(&output, None).pass);
    }

    #[test]
    fn paths_select_values() {
        let doc = json!({"a": {"b c": [1, {"d": "x"}]}, "items": [{"n": 1}, {"n": 2}]});
        let select =
            |p: &str| JsonPath::parse(p).expect("parses").select(&doc).into_iter().cloned().collect::<Vec<_>>();
        assert_eq!(select("$.a['b c'][0]"), vec![json!(1)]);
        assert_eq!(select("$.a['b c'][-1].d"), vec![json!("x")]);
        assert_eq!(select("$.items[*].n"), vec![json!(1), json!(2)]);
        assert_eq!(select("items[1].n"), vec![json!(2)]);
        assert!(select("$.missing").is_empty());
        assert!(JsonPath::parse("$.a[").is_err());
        assert!(JsonPath::parse("$.a[x]").is_err());
    }

    #[test]
    fn json_path_compares_loosely() {
        let doc = json!({"total": 119.0, "category": "billing", "tags": ["a", "b"]});
        let path = |p: &str| JsonPath::parse(p).expect("parses");
        let out = doc.to_string();
        assert!(json_path(&out, Some(&doc), &path("$.total"), &PathExpect::Equals(json!("119.0"))).pass);
        assert!(json_path(&out, Some(&doc), &path("$.tags"), &PathExpect::Contains(json!("b"))).pass);
        let re = Arc::new(Regex::new("^bill").expect("regex"));
        assert!(json_path(&out, Some(&doc), &path("$.category"), &PathExpect::Matches(re)).pass);
        let grade = json_path(&out, Some(&doc), &path("$.category"), &PathExpect::Equals(json!("account")));
        assert_eq!(grade.reason, "$.category: expected `account`, got \"billing\"");
    }

    #[test]
    fn fenced_json_is_accepted() {
        assert_eq!(parse_output("```json\n{\"a\": 1}\n```"), Some(json!({"a": 1})));
        assert_eq!(parse_output("not json"), None);
    }

    #[test]
    fn schema_violations_are_named() {
        let schema = jsonschema::validator_for(&json!({"type": "object", "required": ["a"]})).expect("schema");
        let grade = is_json("{}", Some(&json!({})), Some(&schema));
        assert!(!grade.pass);
        assert!(grade.reason.contains("\"a\" is a required property"), "{}", grade.reason);
    }
}
