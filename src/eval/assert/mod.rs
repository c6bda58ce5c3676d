//! Assertions: what a case checks about an output. [`AssertionSpec`] is the form written in a
//! suite; [`Assertion`] is the form checked, prepared once per case before any model call
//! (templates rendered over the case's variables, regexes and schemas compiled, providers
//! resolved), so that a mistake is reported before anything is spent. Every kind can be negated
//! with `not-` and given a `weight` and a `metric` name. Scores are in [0, 1].
//!
//! One file per family: `text` (substrings, regex, lengths, Levenshtein), `json` (is-json,
//! json-schema, json-path), `overlap` (ROUGE-N, BLEU), `expr` (minijinja expressions),
//! `script` (external commands), `model` (llm-rubric, similar); `prepare` builds them.

pub mod expr;
pub mod json;
pub mod model;
pub mod overlap;
mod prepare;
pub mod script;
pub mod text;

use std::sync::Arc;

use regex::Regex;
use serde::{Deserialize, Serialize};

pub use prepare::{CompileCache, Invalid, Prepare};

use super::backend::Backend;
use crate::money::Micros;
use crate::prompt::Vars;

/// One assertion as written in a suite. Which fields apply depends on `type`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AssertionSpec {
    /// The kind of check, such as `contains` or `json-path`; `not-<type>` negates it.
    #[serde(rename = "type")]
    #[schemars(schema_with = "kind_schema")]
    pub kind: String,
    /// What to compare with (a template over the case's variables): text, a list of texts,
    /// a JSON Schema, an expression, a command or a rubric.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
    /// The bound: the least score (rouge-n, bleu, similar, llm-rubric, expr), the most edit
    /// distance (levenshtein), milliseconds (latency) or dollars (cost).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// The assertion's weight in the case's score (default 1; 0 reports without deciding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
    /// A metric name under which reports average this assertion's score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// The provider that grades (llm-rubric) or embeds (similar).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// json-path: the JSONPath to look at, such as `$.category`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// json-path: the value expected at the path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<serde_json::Value>,
    /// json-path: a substring (or array element) expected at the path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<serde_json::Value>,
    /// json-path: a regular expression the value at the path must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<String>,
    /// length, word-count: the least count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<u64>,
    /// length, word-count: the most count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u64>,
    /// rouge-n: the n-gram size (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// llm-rubric: a template replacing the grader prompt (`rubric`, `output` and the case's variables).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rubric_prompt: Option<String>,
    /// script: seconds before the command is killed and the case errors (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<f64>,
}

fn kind_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let names: Vec<String> =
        Kind::ALL.iter().flat_map(|k| [k.as_str().to_owned(), format!("not-{}", k.as_str())]).collect();
    schemars::json_schema!({ "type": "string", "enum": names })
}

/// The kinds of assertion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The output equals the value.
    Equals,
    /// The output contains the value.
    Contains,
    /// The output contains the value, ignoring case.
    IContains,
    /// The output contains at least one of the values.
    ContainsAny,
    /// The output contains every value.
    ContainsAll,
    /// `contains-any`, ignoring case.
    IContainsAny,
    /// `contains-all`, ignoring case.
    IContainsAll,
    /// The output starts with the value.
    StartsWith,
    /// The output matches a regular expression.
    Regex,
    /// The output is JSON (valid against `value` when it is a schema).
    IsJson,
    /// The output contains a JSON object or array (valid against `value` when it is a schema).
    ContainsJson,
    /// The output is JSON valid against the schema in `value`.
    JsonSchema,
    /// The JSON output has a value at `path` (that equals, contains or matches).
    JsonPath,
    /// The output's length in characters is within `min`/`max`.
    Length,
    /// The output's word count is within `min`/`max`.
    WordCount,
    /// The output is within `threshold` edits of the value.
    Levenshtein,
    /// ROUGE-N recall against the value reaches `threshold`.
    RougeN,
    /// BLEU against the value reaches `threshold`.
    Bleu,
    /// The call took at most `threshold` milliseconds.
    Latency,
    /// The call cost at most `threshold` dollars.
    Cost,
    /// A minijinja expression is true (or a score reaching `threshold`).
    Expr,
    /// An external command says pass.
    Script,
    /// A grader model says the output meets the rubric.
    LlmRubric,
    /// Embedding similarity to the value reaches `threshold`.
    Similar,
}

impl Kind {
    /// Every kind, in documentation order.
    pub const ALL: [Self; 24] = [
        Self::Equals,
        Self::Contains,
        Self::IContains,
        Self::ContainsAny,
        Self::ContainsAll,
        Self::IContainsAny,
        Self::IContainsAll,
        Self::StartsWith,
        Self::Regex,
        Self::IsJson,
        Self::ContainsJson,
        Self::JsonSchema,
        Self::JsonPath,
        Self::Length,
        Self::WordCount,
        Self::Levenshtein,
        Self::RougeN,
        Self::Bleu,
        Self::Latency,
        Self::Cost,
        Self::Expr,
        Self::Script,
        Self::LlmRubric,
        Self::Similar,
    ];

    /// The name written in suites.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Equals => "equals",
            Self::Contains => "contains",
            Self::IContains => "icontains",
            Self::ContainsAny => "contains-any",
            Self::ContainsAll => "contains-all",
            Self::IContainsAny => "icontains-any",
            Self::IContainsAll => "icontains-all",
            Self::StartsWith => "starts-with",
            Self::Regex => "regex",
            Self::IsJson => "is-json",
            Self::ContainsJson => "contains-json",
            Self::JsonSchema => "json-schema",
            Self::JsonPath => "json-path",
            Self::Length => "length",
            Self::WordCount => "word-count",
            Self::Levenshtein => "levenshtein",
            Self::RougeN => "rouge-n",
            Self::Bleu => "bleu",
            Self::Latency => "latency",
            Self::Cost => "cost",
            Self::Expr => "expr",
            Self::Script => "script",
            Self::LlmRubric => "llm-rubric",
            Self::Similar => "similar",
        }
    }

    /// Parses `kind` or `not-kind`: the kind and whether it is negated.
    pub fn parse(text: &str) -> Option<(Self, bool)> {
        let (name, negate) = match text.strip_prefix("not-") {
            Some(rest) => (rest, true),
            None => (text, false),
        };
        Self::ALL.into_iter().find(|k| k.as_str() == name).map(|k| (k, negate))
    }
}

/// The verdict of one assertion on one output.
#[derive(Debug, Clone, PartialEq)]
pub struct Grade {
    /// Whether it passed.
    pub pass: bool,
    /// How well, from 0 to 1.
    pub score: f64,
    /// Why it failed (empty when it passed, unless a grader explained).
    pub reason: String,
    /// What grading cost (llm-rubric, similar).
    pub cost: Micros,
}

impl Grade {
    /// A pass with score 1.
    pub fn pass() -> Self {
        Self { pass: true, score: 1.0, reason: String::new(), cost: Micros::ZERO }
    }

    /// A failure with score 0.
    pub fn fail(reason: String) -> Self {
        Self { pass: false, score: 0.0, reason, cost: Micros::ZERO }
    }

    /// A verdict with a score (clamped to [0, 1]).
    pub fn scored(pass: bool, score: f64, reason: String) -> Self {
        Self { pass, score: score.clamp(0.0, 1.0), reason, cost: Micros::ZERO }
    }

    /// A pass or a failure; the reason is computed only for a failure.
    pub fn binary(pass: bool, reason: impl FnOnce() -> String) -> Self {
        if pass { Self::pass() } else { Self::fail(reason()) }
    }
}

/// What an assertion looks at: the output and what is known about producing it.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// The output text (after any `transform`).
    pub output: &'a str,
    /// The output parsed as JSON, when it is JSON.
    pub json: Option<&'a serde_json::Value>,
    /// The case's variables.
    pub vars: &'a Vars,
    /// The call's latency.
    pub latency_ms: u64,
    /// The call's cost.
    pub cost: Micros,
}

/// The check an assertion makes, with everything compiled.
#[derive(Debug, Clone)]
pub(crate) enum Check {
    Equals(String),
    Contains { needle: String, ignore_case: bool },
    ContainsAny { needles: Vec<String>, ignore_case: bool },
    ContainsAll { needles: Vec<String>, ignore_case: bool },
    StartsWith(String),
    Regex(Arc<Regex>),
    IsJson(Option<Arc<jsonschema::Validator>>),
    ContainsJson(Option<Arc<jsonschema::Validator>>),
    JsonPath { path: Arc<json::JsonPath>, expect: json::PathExpect },
    Length { min: Option<u64>, max: Option<u64> },
    WordCount { min: Option<u64>, max: Option<u64> },
    Levenshtein { expected: String, max_distance: u64 },
    RougeN { reference: String, n: usize, threshold: f64 },
    Bleu { reference: String, threshold: f64 },
    Latency { max_ms: f64 },
    Cost { max: Micros },
    Expr { expr: expr::Expr, threshold: Option<f64> },
    Script(Arc<script::Script>),
    LlmRubric(Box<model::Rubric>),
    Similar(Box<model::Similar>),
}

/// An assertion ready to check.
#[derive(Debug, Clone)]
pub struct Assertion {
    /// The kind.
    pub kind: Kind,
    /// Whether the verdict is inverted (`not-`).
    pub negate: bool,
    /// Weight in the case's score.
    pub weight: f64,
    /// The metric it reports under.
    pub metric: Option<String>,
    pub(crate) check: Check,
}

impl Assertion {
    /// The type as written (`not-contains`).
    pub fn name(&self) -> String {
        if self.negate { format!("not-{}", self.kind.as_str()) } else { self.kind.as_str().to_owned() }
    }

    /// Whether the check calls a model (and so may cost money and time).
    pub fn calls_a_model(&self) -> bool {
        matches!(self.kind, Kind::LlmRubric | Kind::Similar)
    }

    /// Checks `subject`. `Err` means the check could not be made (a grader answering garbage,
    /// a script that hung): the case is then an error, not a failure.
    pub async fn evaluate(&self, subject: &Subject<'_>, backend: &dyn Backend) -> Result<Grade, String> {
        let grade = match &self.check {
            Check::Script(s) => script::run(s, subject).await?,
            Check::LlmRubric(r) => model::llm_rubric(r, subject, backend).await?,
            Check::Similar(s) => model::similar(s, subject, backend).await?,
            Check::Expr { expr, threshold } => expr::check(expr, subject, *threshold)?,
            other => evaluate_local(other, subject),
        };
        if !self.negate {
            return Ok(grade);
        }
        let reason =
            if grade.pass { format!("expected `{}` to fail, but it passed", self.name()) } else { String::new() };
        Ok(Grade { pass: !grade.pass, score: 1.0 - grade.score, reason, cost: grade.cost })
    }
}

/// The checks that need nothing but the subject.
fn evaluate_local(check: &Check, s: &Subject<'_>) -> Grade {
    match check {
        Check::Equals(v) => text::equals(s.output, v),
        Check::Contains { needle, ignore_case } => text::contains(s.output, needle, *ignore_case),
        Check::ContainsAny { needles, ignore_case } => text::contains_any(s.output, needles, *ignore_case),
        Check::ContainsAll { needles, ignore_case } => text::contains_all(s.output, needles, *ignore_case),
        Check::StartsWith(v) => text::starts_with(s.output, v),
        Check::Regex(re) => text::regex(s.output, re),
        Check::IsJson(schema) => json::is_json(s.output, s.json, schema.as_deref()),
        Check::ContainsJson(schema) => json::contains_json(s.output, schema.as_deref()),
        Check::JsonPath { path, expect } => json::json_path(s.output, s.json, path, expect),
        Check::Length { min, max } => text::bounds("length", s.output.chars().count(), *min, *max),
        Check::WordCount { min, max } => text::bounds("word count", text::word_count(s.output), *min, *max),
        Check::Levenshtein { expected, max_distance } => text::levenshtein(s.output, expected, *max_distance),
        Check::RougeN { reference, n, threshold } => {
            overlap::graded(&format!("ROUGE-{n}"), overlap::rouge_n(s.output, reference, *n), *threshold)
        }
        Check::Bleu { reference, threshold } => overlap::graded("BLEU", overlap::bleu(s.output, reference), *threshold),
        Check::Latency { max_ms } => {
            Grade::binary(s.latency_ms as f64 <= *max_ms, || format!("latency {} ms exceeds {max_ms} ms", s.latency_ms))
        }
        Check::Cost { max } => Grade::binary(s.cost <= *max, || format!("cost {} exceeds {max}", s.cost)),
        Check::Expr { .. } | Check::Script(_) | Check::LlmRubric(_) | Check::Similar(_) => {
            Grade::fail("internal: not a local check".to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_with_negation() {
        assert_eq!(Kind::parse("contains"), Some((Kind::Contains, false)));
        assert_eq!(Kind::parse("not-json-path"), Some((Kind::JsonPath, true)));
        assert_eq!(Kind::parse("nope"), None);
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.as_str()), Some((kind, false)));
        }
    }
}
