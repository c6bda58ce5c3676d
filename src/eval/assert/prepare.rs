//! Turning an [`AssertionSpec`] into an [`Assertion`] for one case: the type is checked, the
//! fields it needs are present and the others absent, templates are rendered over the case's
//! variables, and regexes, schemas, paths and expressions are compiled — once per distinct text,
//! through a [`CompileCache`], since thousands of dataset rows usually share a few patterns.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use minijinja::Environment;
use regex::Regex;

use super::json::{JsonPath, PathExpect};
use super::{Assertion, AssertionSpec, Check, Kind, expr, model, script};
use crate::error::did_you_mean;
use crate::eval::backend::Backend;
use crate::eval::suite::CaseOptions;
use crate::money::Micros;
use crate::prompt::Vars;

/// Why an assertion cannot be used, with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// What is wrong.
    pub message: String,
    /// The spec field it is about, to point at its line.
    pub field: Option<&'static str>,
    /// What to do.
    pub hints: Vec<String>,
}

impl Invalid {
    fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), field: None, hints: Vec::new() }
    }
    fn at(mut self, field: &'static str) -> Self {
        self.field = Some(field);
        self
    }
    fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }
}

/// Compiled regexes, schemas, paths, expressions and provider checks, shared by every case of
/// a plan.
#[derive(Debug, Default)]
pub struct CompileCache {
    regexes: RefCell<HashMap<String, Result<Arc<Regex>, String>>>,
    schemas: RefCell<HashMap<String, Result<Arc<jsonschema::Validator>, String>>>,
    paths: RefCell<HashMap<String, Result<Arc<JsonPath>, String>>>,
    exprs: RefCell<HashMap<String, Result<expr::Expr, String>>>,
    providers: RefCell<HashMap<String, Option<Invalid>>>,
}

fn cached<T: Clone>(
    map: &RefCell<HashMap<String, Result<T, String>>>,
    key: &str,
    make: impl FnOnce() -> Result<T, String>,
) -> Result<T, String> {
    if let Some(found) = map.borrow().get(key) {
        return found.clone();
    }
    let made = make();
    map.borrow_mut().insert(key.to_owned(), made.clone());
    made
}

/// Everything preparing a case's assertions needs.
#[derive(Debug)]
pub struct Prepare<'a> {
    /// The case's variables (values are templates over them).
    pub vars: &'a Vars,
    /// The case's options (grader provider, rubric prompt).
    pub options: &'a CaseOptions,
    /// The project root (scripts run there).
    pub root: &'a Path,
    /// Checks provider references.
    pub backend: &'a dyn Backend,
    /// Shared compilations.
    pub cache: &'a CompileCache,
}

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(crate::template::environment);

impl Prepare<'_> {
    /// Prepares one assertion.
    pub fn assertion(&self, spec: &AssertionSpec) -> Result<Assertion, Invalid> {
        let Some((kind, negate)) = Kind::parse(&spec.kind) else {
            let names: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
            let wanted = spec.kind.strip_prefix("not-").unwrap_or(&spec.kind);
            let mut err = Invalid::new(format!("unknown assertion type `{}`", spec.kind)).at("type");
            err.hints.extend(did_you_mean(wanted, names.iter().copied()));
            // promptfoo's `javascript` and `python` checks, and anything else custom, have a home.
            err.hints.push(
                "for a custom check, use `type: expr` (a minijinja expression over `output`, `json` and the vars) \
                 or `type: script` (a command that gets the case as JSON on stdin; exit 0 passes)"
                    .to_owned(),
            );
            return Err(err.hint(format!("assertion types: {}", names.join(", "))));
        };
        check_fields(kind, spec)?;
        let weight = spec.weight.unwrap_or(1.0);
        if !weight.is_finite() || weight < 0.0 {
            return Err(Invalid::new("`weight` must be a number of 0 or more").at("weight"));
        }
        let check = self.check(kind, spec)?;
        Ok(Assertion { kind, negate, weight, metric: spec.metric.clone(), check })
    }

    fn check(&self, kind: Kind, spec: &AssertionSpec) -> Result<Check, Invalid> {
        let ignore_case = matches!(kind, Kind::IContains | Kind::IContainsAny | Kind::IContainsAll);
        Ok(match kind {
            Kind::Equals => Check::Equals(self.text(spec)?),
            Kind::Contains | Kind::IContains => Check::Contains { needle: self.text(spec)?, ignore_case },
            Kind::ContainsAny | Kind::IContainsAny => Check::ContainsAny { needles: self.texts(spec)?, ignore_case },
            Kind::ContainsAll | Kind::IContainsAll => Check::ContainsAll { needles: self.texts(spec)?, ignore_case },
            Kind::StartsWith => Check::StartsWith(self.text(spec)?),
            Kind::Regex => Check::Regex(self.regex(&self.text(spec)?, "value")?),
            Kind::IsJson => Check::IsJson(spec.value.as_ref().map(|v| self.schema(v)).transpose()?),
            Kind::ContainsJson => Check::ContainsJson(spec.value.as_ref().map(|v| self.schema(v)).transpose()?),
            Kind::JsonSchema => Check::IsJson(Some(self.schema(required(spec.value.as_ref(), kind)?)?)),
            Kind::JsonPath => self.json_path(spec)?,
            Kind::Length | Kind::WordCount => self.bounds(kind, spec)?,
            Kind::Levenshtein => Check::Levenshtein {
                expected: self.text(spec)?,
                max_distance: non_negative(spec.threshold.unwrap_or(5.0), "threshold")?.round() as u64,
            },
            Kind::RougeN => Check::RougeN {
                reference: self.text(spec)?,
                n: spec.n.unwrap_or(1).clamp(1, 8) as usize,
                threshold: unit(spec.threshold.unwrap_or(0.75))?,
            },
            Kind::Bleu => Check::Bleu { reference: self.text(spec)?, threshold: unit(spec.threshold.unwrap_or(0.5))? },
            Kind::Latency => {
                Check::Latency { max_ms: non_negative(required_threshold(spec, "milliseconds")?, "threshold")? }
            }
            Kind::Cost => {
                let dollars = non_negative(required_threshold(spec, "dollars")?, "threshold")?;
                Check::Cost { max: Micros::from_usd(dollars).unwrap_or(Micros(i64::MAX)) }
            }
            Kind::Expr => Check::Expr { expr: self.expr(&self.text(spec)?)?, threshold: spec.threshold },
            Kind::Script => Check::Script(Arc::new(self.script(spec)?)),
            Kind::LlmRubric => Check::LlmRubric(Box::new(self.rubric(spec)?)),
            Kind::Similar => Check::Similar(Box::new(model::Similar {
                expected: self.text(spec)?,
                provider: self.provider(spec, "embeds")?,
                threshold: unit(spec.threshold.unwrap_or(0.75))?,
            })),
        })
    }

    /// Renders a template over the case's variables (plain text is returned as it is).
    pub fn render(&self, template: &str) -> Result<String, Invalid> {
        if !template.contains("{{") && !template.contains("{%") {
            return Ok(template.to_owned());
        }
        crate::template::render_str(&TEMPLATES, template, self.vars).map_err(|err| {
            let mut invalid = Invalid::new(format!("cannot fill in `{template}`: {}", detail(&err))).at("value");
            if err.kind() == minijinja::ErrorKind::UndefinedError {
                let names: Vec<&String> = self.vars.keys().collect();
                invalid = invalid.hint(format!("the case's variables: {}", crate::error::list_names(&names)));
            }
            invalid
        })
    }

    fn text(&self, spec: &AssertionSpec) -> Result<String, Invalid> {
        match required(spec.value.as_ref(), Kind::parse(&spec.kind).map_or(Kind::Equals, |k| k.0))? {
            serde_json::Value::String(s) => self.render(s),
            serde_json::Value::Number(n) => Ok(n.to_string()),
            serde_json::Value::Bool(b) => Ok(b.to_string()),
            _ => Err(Invalid::new(format!("`{}` needs a text `value`", spec.kind)).at("value")),
        }
    }

    fn texts(&self, spec: &AssertionSpec) -> Result<Vec<String>, Invalid> {
        match spec.value.as_ref() {
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    serde_json::Value::String(s) => self.render(s),
                    other => Ok(other.to_string()),
                })
                .collect(),
            _ => Ok(vec![self.text(spec)?]),
        }
    }

    fn regex(&self, pattern: &str, field: &'static str) -> Result<Arc<Regex>, Invalid> {
        cached(&self.cache.regexes, pattern, || Regex::new(pattern).map(Arc::new).map_err(|e| e.to_string()))
            .map_err(|why| Invalid::new(format!("invalid regex `{pattern}`: {}", last_line(&why))).at(field))
    }

    fn schema(&self, schema: &serde_json::Value) -> Result<Arc<jsonschema::Validator>, Invalid> {
        cached(&self.cache.schemas, &schema.to_string(), || {
            crate::json_schema::check_json_schema(schema)?;
            jsonschema::validator_for(schema).map(Arc::new).map_err(|e| e.to_string())
        })
        .map_err(|why| Invalid::new(format!("invalid JSON Schema: {why}")).at("value"))
    }

    fn expr(&self, source: &str) -> Result<expr::Expr, Invalid> {
        cached(&self.cache.exprs, source, || expr::Expr::compile(source)).map_err(|why| Invalid::new(why).at("value"))
    }

    /// A `transform` option compiled.
    pub fn transform(&self, source: &str) -> Result<expr::Expr, Invalid> {
        self.expr(source).map_err(|err| Invalid { field: None, ..err })
    }

    fn json_path(&self, spec: &AssertionSpec) -> Result<Check, Invalid> {
        let text = spec.path.as_deref().ok_or_else(|| {
            Invalid::new("`json-path` needs a `path`")
                .hint("e.g. `{ type: json-path, path: $.category, equals: billing }`")
        })?;
        let path = cached(&self.cache.paths, text, || JsonPath::parse(text).map(Arc::new))
            .map_err(|why| Invalid::new(why).at("path"))?;
        let given = [spec.equals.is_some() || spec.value.is_some(), spec.contains.is_some(), spec.matches.is_some()];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err(Invalid::new("`json-path` takes one of `equals`, `contains` or `matches`").at("path"));
        }
        let expect = if let Some(pattern) = &spec.matches {
            PathExpect::Matches(self.regex(&self.render(pattern)?, "matches")?)
        } else if let Some(value) = spec.contains.as_ref() {
            PathExpect::Contains(self.render_json(value)?)
        } else if let Some(value) = spec.equals.as_ref().or(spec.value.as_ref()) {
            PathExpect::Equals(self.render_json(value)?)
        } else {
            PathExpect::Exists
        };
        Ok(Check::JsonPath { path, expect })
    }

    fn render_json(&self, value: &serde_json::Value) -> Result<serde_json::Value, Invalid> {
        match value {
            serde_json::Value::String(s) => self.render(s).map(serde_json::Value::String),
            other => Ok(other.clone()),
        }
    }

    fn bounds(&self, kind: Kind, spec: &AssertionSpec) -> Result<Check, Invalid> {
        let exact = spec.value.as_ref().and_then(serde_json::Value::as_u64);
        let (min, max) = (spec.min.or(exact), spec.max.or(exact));
        if min.is_none() && max.is_none() {
            return Err(Invalid::new(format!("`{}` needs `min`, `max` or both", kind.as_str())));
        }
        if let (Some(a), Some(b)) = (min, max)
            && a > b
        {
            return Err(Invalid::new(format!("`min` ({a}) is greater than `max` ({b})")).at("min"));
        }
        Ok(if kind == Kind::Length { Check::Length { min, max } } else { Check::WordCount { min, max } })
    }

    fn script(&self, spec: &AssertionSpec) -> Result<script::Script, Invalid> {
        let argv = match required(spec.value.as_ref(), Kind::Script)? {
            serde_json::Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().map(|s| self.render(s)).unwrap_or_else(|| Ok(i.to_string())))
                .collect::<Result<Vec<_>, _>>()?,
            serde_json::Value::String(line) => {
                script::split_command(&self.render(line)?).map_err(|why| Invalid::new(why).at("value"))?
            }
            _ => return Err(Invalid::new("`script` needs a command: a string or a list").at("value")),
        };
        let program = argv.first().ok_or_else(|| Invalid::new("the command is empty").at("value"))?;
        if !script::findable(program, self.root) {
            return Err(Invalid::new(format!("command `{program}` not found"))
                .at("value")
                .hint("a path is relative to the project root; a bare name is looked up on PATH"));
        }
        let timeout = match spec.timeout_s {
            Some(s) if s.is_finite() && s > 0.0 => Duration::from_secs_f64(s),
            Some(_) => return Err(Invalid::new("`timeout_s` must be a positive number of seconds").at("timeout_s")),
            None => script::DEFAULT_TIMEOUT,
        };
        Ok(script::Script { argv, dir: self.root.to_path_buf(), timeout })
    }

    fn rubric(&self, spec: &AssertionSpec) -> Result<model::Rubric, Invalid> {
        let prompt = spec.rubric_prompt.clone().or_else(|| self.options.rubric_prompt.clone());
        if let Some(template) = &prompt {
            model::check_rubric_prompt(template).map_err(|why| Invalid::new(why).at("rubric_prompt"))?;
        }
        Ok(model::Rubric {
            rubric: self.text(spec)?,
            grader: self.provider(spec, "grades")?,
            threshold: spec.threshold.map(unit).transpose()?,
            prompt,
        })
    }

    fn provider(&self, spec: &AssertionSpec, role: &str) -> Result<String, Invalid> {
        let Some(reference) = spec.provider.clone().or_else(|| self.options.provider.clone()) else {
            return Err(Invalid::new(format!("`{}` needs a provider that {role}", spec.kind))
                .hint("set `provider:` on the assertion, or `options: { provider: … }` on the case or in `defaults`"));
        };
        let found = self.cache.providers.borrow().get(&reference).cloned();
        let problem = found.unwrap_or_else(|| {
            let problem = self.backend.check_provider(&reference).err().map(|p| Invalid {
                message: p.message,
                field: Some("provider"),
                hints: p.hints,
            });
            self.cache.providers.borrow_mut().insert(reference.clone(), problem.clone());
            problem
        });
        match problem {
            Some(problem) => Err(problem),
            None => Ok(reference),
        }
    }
}

/// The optional fields each kind reads; any other one set is a mistake worth reporting.
fn check_fields(kind: Kind, spec: &AssertionSpec) -> Result<(), Invalid> {
    let set: [(&'static str, bool); 11] = [
        ("threshold", spec.threshold.is_some()),
        ("provider", spec.provider.is_some()),
        ("path", spec.path.is_some()),
        ("equals", spec.equals.is_some()),
        ("contains", spec.contains.is_some()),
        ("matches", spec.matches.is_some()),
        ("min", spec.min.is_some()),
        ("max", spec.max.is_some()),
        ("n", spec.n.is_some()),
        ("rubric_prompt", spec.rubric_prompt.is_some()),
        ("timeout_s", spec.timeout_s.is_some()),
    ];
    let allowed: &[&str] = match kind {
        Kind::JsonPath => &["path", "equals", "contains", "matches"],
        Kind::Length | Kind::WordCount => &["min", "max"],
        Kind::Levenshtein | Kind::Bleu | Kind::Latency | Kind::Cost | Kind::Expr => &["threshold"],
        Kind::RougeN => &["threshold", "n"],
        Kind::Script => &["timeout_s"],
        Kind::LlmRubric => &["threshold", "provider", "rubric_prompt"],
        Kind::Similar => &["threshold", "provider"],
        _ => &[],
    };
    match set.iter().find(|(name, is_set)| *is_set && !allowed.contains(name)) {
        Some((name, _)) => Err(Invalid::new(format!("`{name}` does not apply to `{}`", spec.kind)).at(name).hint(
            if allowed.is_empty() {
                format!("`{}` takes only `value`, `weight` and `metric`", kind.as_str())
            } else {
                format!("`{}` also takes: {}", kind.as_str(), allowed.join(", "))
            },
        )),
        None => Ok(()),
    }
}

fn required(value: Option<&serde_json::Value>, kind: Kind) -> Result<&serde_json::Value, Invalid> {
    value.ok_or_else(|| Invalid::new(format!("`{}` needs a `value`", kind.as_str())))
}

fn required_threshold(spec: &AssertionSpec, unit: &str) -> Result<f64, Invalid> {
    spec.threshold.ok_or_else(|| Invalid::new(format!("`{}` needs a `threshold` in {unit}", spec.kind)))
}

fn non_negative(value: f64, field: &'static str) -> Result<f64, Invalid> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(Invalid::new(format!("`{field}` must be a number of 0 or more")).at(field))
    }
}

fn unit(value: f64) -> Result<f64, Invalid> {
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(Invalid::new(format!("`threshold` must be between 0 and 1, not {value}")).at("threshold"))
    }
}

fn detail(err: &minijinja::Error) -> String {
    err.detail().map_or_else(|| err.kind().to_string(), str::to_owned)
}

/// The regex crate's errors span several lines with a caret diagram; the last line says why.
fn last_line(text: &str) -> &str {
    text.lines().rev().find(|l| !l.trim().is_empty()).map_or(text, str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::backend::{CallError, Completion, ProviderProblem};
    use crate::prompt::RenderedPrompt;

    #[derive(Debug)]
    struct Known;

    #[async_trait::async_trait]
    impl Backend for Known {
        fn check_provider(&self, reference: &str) -> Result<(), ProviderProblem> {
            if reference == "grader" {
                Ok(())
            } else {
                Err(ProviderProblem { message: format!("unknown provider `{reference}`"), hints: vec![] })
            }
        }
        async fn complete(&self, _: &str, _: &RenderedPrompt, _: u32) -> Result<Completion, CallError> {
            Ok(Completion::default())
        }
        async fn embed(&self, _: &str, _: &[String]) -> Result<Vec<Vec<f32>>, CallError> {
            Ok(vec![])
        }
    }

    fn prepare(yaml: &str) -> Result<Assertion, Invalid> {
        let spec: AssertionSpec = crate::yaml::from_str(Path::new("a.yaml"), yaml).expect("spec parses");
        let vars = Vars::from([("expected".to_owned(), serde_json::json!("billing"))]);
        let options = CaseOptions::default();
        let cache = CompileCache::default();
        let p = Prepare { vars: &vars, options: &options, root: Path::new("."), backend: &Known, cache: &cache };
        p.assertion(&spec)
    }

    #[test]
    fn values_are_templates_over_vars() {
        let a = prepare("{ type: equals, value: '{{ expected }}' }").expect("ok");
        assert!(matches!(a.check, Check::Equals(ref v) if v == "billing"));
        let err = prepare("{ type: equals, value: '{{ expcted }}' }").expect_err("undefined");
        assert!(err.message.contains("cannot fill in"), "{}", err.message);
        assert_eq!(err.hints, vec!["the case's variables: `expected`".to_owned()]);
    }

    #[test]
    fn bad_input_is_named() {
        let err = prepare("{ type: containz, value: x }").expect_err("unknown");
        assert_eq!(err.hints[0], "did you mean `contains`?");
        let err = prepare("{ type: regex, value: '(unclosed' }").expect_err("bad regex");
        assert!(err.message.starts_with("invalid regex `(unclosed`"), "{}", err.message);
        let err = prepare("{ type: json-schema, value: { type: objekt } }").expect_err("bad schema");
        assert!(err.message.starts_with("invalid JSON Schema"), "{}", err.message);
        let err = prepare("{ type: contains, value: x, path: $.a }").expect_err("wrong field");
        assert_eq!(err.message, "`path` does not apply to `contains`");
        let err = prepare("{ type: llm-rubric, value: polite, provider: gradr }").expect_err("provider");
        assert_eq!(err.message, "unknown provider `gradr`");
        assert!(prepare("{ type: llm-rubric, value: polite, provider: grader }").is_ok());
        let err = prepare("{ type: script, value: ./no-such-script.sh }").expect_err("missing script");
        assert_eq!(err.message, "command `./no-such-script.sh` not found");
        assert!(prepare("{ type: rouge-n, value: x, threshold: 2 }").is_err());
    }
}
