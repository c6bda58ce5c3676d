//! `expr` assertions and `transform` options: minijinja expressions over the output. The
//! context has `output` (text), `json` (the output parsed as JSON, or none), `vars` (the case's
//! variables, also available by their own names), `latency_ms` and `cost` (dollars).

use std::sync::{Arc, LazyLock};

use minijinja::{Environment, Value};

use super::{Grade, Subject};

/// One environment for every expression: strict, so a typo is an error instead of `false`.
static ENV: LazyLock<Environment<'static>> = LazyLock::new(crate::template::environment);

/// A compiled expression.
#[derive(Debug, Clone)]
pub struct Expr {
    /// The source, for messages.
    pub source: String,
    compiled: Arc<minijinja::Expression<'static, 'static>>,
}

impl Expr {
    /// Compiles `source`; the error says why it does not parse.
    pub fn compile(source: &str) -> Result<Self, String> {
        let compiled = crate::template::compile_expression_owned(&ENV, source.to_owned())
            .map_err(|err| format!("invalid expression `{source}`: {}", err.detail().unwrap_or("syntax error")))?;
        Ok(Self { source: source.to_owned(), compiled: Arc::new(compiled) })
    }

    /// Evaluates against a subject.
    pub fn eval(&self, subject: &Subject<'_>) -> Result<Value, String> {
        self.compiled.eval(context(subject)).map_err(|err| {
            format!(
                "expression `{}` failed: {}",
                self.source,
                err.detail().map_or_else(|| err.to_string(), str::to_owned)
            )
        })
    }
}

fn context(subject: &Subject<'_>) -> Value {
    let mut map: std::collections::BTreeMap<String, Value> =
        subject.vars.iter().map(|(k, v)| (k.clone(), Value::from_serialize(v))).collect();
    map.insert("vars".to_owned(), Value::from_serialize(subject.vars));
    map.insert("output".to_owned(), Value::from(subject.output));
    map.insert("json".to_owned(), subject.json.map_or(Value::from(()), Value::from_serialize));
    map.insert("latency_ms".to_owned(), Value::from(subject.latency_ms));
    map.insert("cost".to_owned(), Value::from(subject.cost.as_usd()));
    Value::from_iter(map)
}

/// `expr`: a boolean passes or fails; a number is a score in [0, 1] that passes at `threshold`
/// (default 0.5).
pub fn check(expr: &Expr, subject: &Subject<'_>, threshold: Option<f64>) -> Result<Grade, String> {
    let value = expr.eval(subject)?;
    if value.kind() == minijinja::value::ValueKind::Bool {
        return Ok(Grade::binary(value.is_true(), || format!("`{}` is false", expr.source)));
    }
    if let Ok(score) = f64::try_from(value.clone()) {
        let threshold = threshold.unwrap_or(0.5);
        let pass = score >= threshold;
        let reason = if pass { String::new() } else { format!("`{}` = {score:.2}, below {threshold}", expr.source) };
        return Ok(Grade::scored(pass, score, reason));
    }
    Err(format!("expression `{}` gave {value}, not a boolean or a number", expr.source))
}

/// `transform`: the expression's value as the new output (strings as they are, anything else as JSON).
pub fn transform(expr: &Expr, subject: &Subject<'_>) -> Result<String, String> {
    let value = expr.eval(subject)?;
    if let Some(text) = value.as_str() {
        return Ok(text.to_owned());
    }
    serde_json::to_string(&value).map_err(|err| format!("transform `{}` gave an unprintable value: {err}", expr.source))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Micros;
    use crate::prompt::Vars;

    #[test]
    fn an_expression_closing_a_variable_block_is_a_clear_error() {
        let err = Expr::compile("output }} x").expect_err("refused");
        assert!(err.starts_with("invalid expression `output }} x`:") && err.contains("`}}`"), "{err}");
    }

    fn subject<'a>(output: &'a str, json: Option<&'a serde_json::Value>, vars: &'a Vars) -> Subject<'a> {
        Subject { output, json, vars, latency_ms: 12, cost: Micros(1500) }
    }

    #[test]
    fn booleans_and_scores() {
        let json = serde_json::json!({"category": "billing"});
        let vars = Vars::from([("expected".to_owned(), serde_json::json!("billing"))]);
        let s = subject("{}", Some(&json), &vars);
        assert!(check(&Expr::compile("json.category == expected").expect("ok"), &s, None).expect("ok").pass);
        assert!(!check(&Expr::compile("latency_ms > 100").expect("ok"), &s, None).expect("ok").pass);
        let grade = check(&Expr::compile("0.25").expect("ok"), &s, Some(0.2)).expect("ok");
        assert!(grade.pass && (grade.score - 0.25).abs() < 1e-9);
    }

    #[test]
    fn errors_name_the_expression() {
        assert!(Expr::compile("json.(").is_err());
        let vars = Vars::new();
        let s = subject("x", None, &vars);
        let err = check(&Expr::compile("nope == 1").expect("ok"), &s, None).expect_err("undefined");
        assert!(err.starts_with("expression `nope == 1` failed"), "{err}");
    }

    #[test]
    fn transforms_pick_a_field() {
        let json = serde_json::json!({"reply": "Hello"});
        let vars = Vars::new();
        let s = subject("{}", Some(&json), &vars);
        assert_eq!(transform(&Expr::compile("json.reply | lower").expect("ok"), &s).expect("ok"), "hello");
    }
}
