//! Expressions and templates of a workflow, compiled once per workflow into one minijinja
//! environment with strict undefined (a missing key is an error that names it, as in prompts).
//!
//! minijinja's `Expression` borrows its environment, so it cannot live beside it in one struct
//! without unsafe code. Each expression is therefore registered as a template
//! `{{ (EXPR) | tojson }}` and read back as JSON: state values are JSON anyway, the template is
//! compiled once, and evaluation costs one render plus one small parse. The expression itself
//! is also compiled with `compile_expression` at load time, for exact error messages and for
//! `undeclared_variables`, which feeds the static read-before-write analysis.
//!
//! Context names: `state` (the state at the start of the step, or after it for branches),
//! `inputs` (the run's input), `visits` (completed runs per node), `result` (a node's raw
//! result, inside `output`), `item` (the map item, or the `as` name), `error` (inside `on_error`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use minijinja::value::{Enumerator, Object, Value};
use minijinja::{AutoEscape, Environment};

use super::shell::ShellCommand;

/// The name prefix of shell templates, which selects their auto-escape mode.
const SHELL_PREFIX: &str = "s";

/// A compiled expression's handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExprId(usize);

/// A compiled template's handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TemplateId(usize);

/// Every expression and template of one workflow.
#[derive(Debug)]
pub struct Exprs {
    env: Environment<'static>,
    sources: Vec<String>,
}

impl Default for Exprs {
    fn default() -> Self {
        Self::new()
    }
}

/// The names an expression may use.
pub const CONTEXT_NAMES: &[&str] = &["state", "inputs", "visits", "result", "item", "error"];

impl Exprs {
    /// An empty set with the workflow environment (strict undefined, no auto-escaping).
    pub fn new() -> Self {
        let mut env = crate::template::environment();
        env.set_auto_escape_callback(|name| {
            if name.starts_with(SHELL_PREFIX) { super::shell::AUTO_ESCAPE } else { AutoEscape::None }
        });
        env.set_formatter(super::shell::format);
        Self { env, sources: Vec::new() }
    }

    /// Compiles an expression; the error is minijinja's description of what is wrong.
    pub fn add_expression(&mut self, source: &str) -> Result<ExprId, String> {
        crate::template::compile_expression(&self.env, source).map_err(|err| describe(&err))?;
        let id = self.sources.len();
        let wrapped = format!("{{{{ ({source}) | tojson }}}}");
        self.env.add_template_owned(format!("e{id}"), wrapped).map_err(|err| describe(&err))?;
        self.sources.push(source.to_owned());
        Ok(ExprId(id))
    }

    /// Compiles a template (text with `{{ }}`).
    pub fn add_template(&mut self, source: &str) -> Result<TemplateId, String> {
        self.add_named("t", source)
    }

    /// Compiles a template that is part of a shell command line: what it prints becomes a
    /// positional parameter of `sh` (see [`super::shell`]).
    pub fn add_shell_template(&mut self, source: &str) -> Result<TemplateId, String> {
        self.add_named(SHELL_PREFIX, source)
    }

    fn add_named(&mut self, prefix: &str, source: &str) -> Result<TemplateId, String> {
        let id = self.sources.len();
        self.env.add_template_owned(format!("{prefix}{id}"), source.to_owned()).map_err(|err| describe(&err))?;
        self.sources.push(source.to_owned());
        Ok(TemplateId(id))
    }

    /// The source text of an expression.
    pub fn source(&self, id: ExprId) -> &str {
        &self.sources[id.0]
    }

    /// Evaluates an expression to JSON.
    pub fn eval(&self, id: ExprId, ctx: &Ctx<'_>) -> Result<serde_json::Value, String> {
        let name = format!("e{}", id.0);
        let text = self.render_named(&name, ctx.to_value())?;
        serde_json::from_str(&text).map_err(|err| format!("the value is not JSON: {err}"))
    }

    /// Renders a template.
    pub fn render(&self, id: TemplateId, ctx: &Ctx<'_>) -> Result<String, String> {
        let name = format!("t{}", id.0);
        self.render_named(&name, ctx.to_value())
    }

    fn render_named(&self, name: &str, context: Value) -> Result<String, String> {
        self.env.get_template(name).and_then(|t| crate::template::render(&t, context)).map_err(|err| describe(&err))
    }

    /// Renders the shell templates of one command line, joined by spaces, into the script `sh -c`
    /// runs and the values it refers to.
    pub fn render_shell(&self, ids: &[TemplateId], ctx: &Ctx<'_>) -> Result<ShellCommand, String> {
        let (positional, collector) = super::shell::collector();
        let mut map = ctx.to_map();
        map.insert(super::shell::COLLECTOR_KEY, collector);
        let context = Value::from(map);
        let mut rendered = Vec::with_capacity(ids.len());
        for id in ids {
            let name = format!("{SHELL_PREFIX}{}", id.0);
            rendered.push(self.render_named(&name, context.clone())?);
        }
        ShellCommand::assemble(&rendered.join(" "), positional.take())
    }
}

/// What an expression reads: its dotted names (`state.score`, `visits.revise`, `item`).
pub fn reads_of_expression(source: &str) -> BTreeSet<String> {
    let env = Environment::new();
    crate::template::compile_expression(&env, source)
        .map(|e| e.undeclared_variables(true).into_iter().collect())
        .unwrap_or_default()
}

/// What a template reads.
pub fn reads_of_template(source: &str) -> BTreeSet<String> {
    let env = Environment::new();
    env.template_from_str(source).map(|t| t.undeclared_variables(true).into_iter().collect()).unwrap_or_default()
}

/// minijinja's error without its "(in template eN)" suffix, which means nothing to users.
fn describe(err: &minijinja::Error) -> String {
    let detail = err.detail().map_or_else(|| err.kind().to_string(), ToOwned::to_owned);
    match err.kind() {
        minijinja::ErrorKind::UndefinedError => format!("undefined value: {detail}"),
        _ => detail,
    }
}

/// The state as the expressions see it: read lazily, one key at a time, so that evaluating a
/// condition does not convert the whole state.
#[derive(Debug)]
struct JsonMap(Arc<BTreeMap<String, serde_json::Value>>);

impl Object for JsonMap {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        key.as_str().and_then(|k| self.0.get(k)).map(Value::from_serialize)
    }
    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.0.keys().map(|k| Value::from(k.as_str())).collect())
    }
}

/// The evaluation context of one expression.
#[derive(Debug, Clone, Default)]
pub struct Ctx<'a> {
    /// The state.
    pub state: Option<Arc<BTreeMap<String, serde_json::Value>>>,
    /// The run's input.
    pub inputs: Option<&'a serde_json::Value>,
    /// Completed runs per node.
    pub visits: Option<&'a BTreeMap<String, u32>>,
    /// The node's result.
    pub result: Option<&'a serde_json::Value>,
    /// The map item, with its name.
    pub item: Option<(&'a str, &'a serde_json::Value)>,
    /// The failure's message.
    pub error: Option<&'a str>,
}

impl Ctx<'_> {
    fn to_value(&self) -> Value {
        Value::from(self.to_map())
    }

    fn to_map(&self) -> BTreeMap<&str, Value> {
        let mut map: BTreeMap<&str, Value> = BTreeMap::new();
        if let Some(state) = &self.state {
            map.insert("state", Value::from_object(JsonMap(Arc::clone(state))));
        }
        if let Some(inputs) = self.inputs {
            map.insert("inputs", Value::from_serialize(inputs));
        }
        if let Some(visits) = self.visits {
            map.insert("visits", Value::from_serialize(visits));
        }
        if let Some(result) = self.result {
            map.insert("result", Value::from_serialize(result));
        }
        if let Some((name, item)) = self.item {
            map.insert(name, Value::from_serialize(item));
        }
        if let Some(error) = self.error {
            map.insert("error", Value::from(error));
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn state(value: serde_json::Value) -> Arc<BTreeMap<String, serde_json::Value>> {
        Arc::new(serde_json::from_value(value).expect("map"))
    }

    #[test]
    fn expressions_evaluate_to_json() {
        let mut exprs = Exprs::new();
        let cond = exprs.add_expression("state.score >= 8").expect("compiles");
        let list = exprs.add_expression("[{'round': visits.critique, 'score': result.json.score}]").expect("compiles");
        let visits = BTreeMap::from([("critique".to_owned(), 2)]);
        let result = json!({"json": {"score": 9}});
        let ctx = Ctx {
            state: Some(state(json!({"score": 9}))),
            visits: Some(&visits),
            result: Some(&result),
            ..Ctx::default()
        };
        assert_eq!(exprs.eval(cond, &ctx), Ok(json!(true)));
        assert_eq!(exprs.eval(list, &ctx), Ok(json!([{"round": 2, "score": 9}])));
    }

    #[test]
    fn a_missing_key_is_an_error_naming_it() {
        let mut exprs = Exprs::new();
        let id = exprs.add_expression("state.scroe + 1").expect("compiles");
        let err =
            exprs.eval(id, &Ctx { state: Some(state(json!({"score": 1}))), ..Ctx::default() }).expect_err("strict");
        assert!(err.contains("undefined"), "{err}");
    }

    #[test]
    fn syntax_errors_are_reported_at_compile_time() {
        let err = Exprs::new().add_expression("state.score >=").expect_err("bad syntax");
        assert!(err.contains("unexpected end of input"), "{err}");
    }

    #[test]
    fn strings_with_html_characters_survive() {
        let mut exprs = Exprs::new();
        let id = exprs.add_expression("'a < b & \"c\"'").expect("compiles");
        assert_eq!(exprs.eval(id, &Ctx::default()), Ok(json!("a < b & \"c\"")));
    }

    #[test]
    fn reads_are_dotted_names() {
        let reads = reads_of_expression("state.score >= 8 and visits.revise < 3");
        assert_eq!(reads.into_iter().collect::<Vec<_>>(), vec!["state.score", "visits.revise"]);
        let reads = reads_of_template("Draft: {{ state.draft }} {% for x in item %}{{ x }}{% endfor %}");
        assert!(reads.contains("state.draft") && reads.contains("item"), "{reads:?}");
    }
}
