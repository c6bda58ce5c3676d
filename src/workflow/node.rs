//! Running one task: a node (or one map item of it) within a step. Each attempt evaluates the
//! node's inputs against the state at the start of the step, does the node's work (model call,
//! tool, label, human answer or child workflow), then evaluates its `output` writes; an attempt
//! that fails is retried as a whole (so a schema mismatch or a missing JSON field is retried like
//! a failed call), then `on_error` decides. Writes are returned, not applied: the executor
//! applies a step's writes together.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::compile::{Compiled, CompiledNode};
use super::expr::{Ctx, ExprId};
use super::graph::{END, NodeKind, ParseMode};
use super::model::{ModelCall, ModelCaller};
use super::state::{Values, short};
use super::tool::{self, DEFAULT_MAX_OUTPUT, DEFAULT_TOOL_TIMEOUT, ExecCommand, ExecPolicy};
use super::trace::{Event, EventSink, Interrupt, TaskStatus, TaskTrace};
use crate::error::ErrorClass;
use crate::money::Micros;
use crate::prompt::{RenderedPrompt, Vars, render};

/// One task to run in a step.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSpec {
    /// `node`, or `node#000003` for a map item (so that ids sort in merge order).
    pub id: String,
    /// The node.
    pub node: String,
    /// The map index.
    pub index: Option<u32>,
    /// The map item and its name.
    pub item: Option<(String, Value)>,
    /// Triggered past `max_visits` with an `on_limit` goto: do not run, go there.
    pub limited: bool,
}

impl TaskSpec {
    /// The id of a task of `node` (with a map index).
    pub fn id_of(node: &str, index: Option<u32>) -> String {
        match index {
            Some(i) => format!("{node}#{i:06}"),
            None => node.to_owned(),
        }
    }
}

/// A finished task: what the checkpoint stores and the executor applies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskResult {
    /// The task id.
    pub id: String,
    /// The node.
    pub node: String,
    /// The map index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// Its writes, in key order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub writes: Vec<(String, Value)>,
    /// Where to go instead of the node's edges (a router's route, an `on_error` or `on_limit` goto).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// Set when a human node waits for an answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupt: Option<Interrupt>,
    /// What happened.
    pub trace: TaskTrace,
}

/// A task that failed and had no `on_error` goto.
#[derive(Debug, Clone)]
pub struct TaskFailure {
    /// The node.
    pub node: String,
    /// What failed.
    pub message: String,
    /// Exit-code class.
    pub class: ErrorClass,
    /// What to do.
    pub hints: Vec<String>,
    /// What happened.
    pub trace: TaskTrace,
}

/// Settings of a run that nodes need.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Which commands `exec` tools may run.
    pub exec: ExecPolicy,
    /// Whether a human node may pause the run (false: a pause is an error).
    pub allow_pause: bool,
    /// Whether model answers may come from the response cache.
    pub cache: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self { exec: ExecPolicy::Local, allow_pause: true, cache: true }
    }
}

/// What a task sees.
pub(crate) struct NodeEnv<'a> {
    pub compiled: &'a Compiled,
    pub caller: &'a dyn ModelCaller,
    pub options: &'a RunOptions,
    pub http: &'a reqwest::Client,
    pub events: Option<&'a EventSink>,
    pub inputs: &'a Value,
    pub state: Arc<Values>,
    pub visits: &'a BTreeMap<String, u32>,
    pub step: u32,
}

/// Why an attempt failed.
struct Failure {
    message: String,
    class: ErrorClass,
    retryable: bool,
}

impl Failure {
    fn config(message: String) -> Self {
        Self { message, class: ErrorClass::Config, retryable: false }
    }
    fn upstream(message: String) -> Self {
        Self { message, class: ErrorClass::Upstream, retryable: true }
    }
}

/// What one successful attempt produced.
#[derive(Default)]
struct Done {
    writes: Vec<(String, Value)>,
    route: Option<String>,
    interrupt: Option<Interrupt>,
}

/// What a task's model calls used, over all its attempts (failed ones are paid for too).
#[derive(Default)]
struct Spent {
    input_tokens: u64,
    output_tokens: u64,
    cost: Micros,
    cached: bool,
    provider: Option<String>,
}

impl NodeEnv<'_> {
    fn ctx<'b>(&'b self, visits: &'b BTreeMap<String, u32>, item: Option<&'b (String, Value)>) -> Ctx<'b> {
        Ctx {
            state: Some(Arc::clone(&self.state)),
            inputs: Some(self.inputs),
            visits: Some(visits),
            item: item.map(|(name, value)| (name.as_str(), value)),
            ..Ctx::default()
        }
    }

    fn eval(&self, id: ExprId, ctx: &Ctx<'_>, what: &str) -> Result<Value, Failure> {
        self.compiled
            .exprs
            .eval(id, ctx)
            .map_err(|why| Failure::config(format!("{what} `{}` failed: {why}", self.compiled.exprs.source(id))))
    }
}

/// Runs one task (with retries), or reports why it failed.
pub(crate) async fn run_task(
    env: &NodeEnv<'_>,
    task: &TaskSpec,
    resume: Option<&Value>,
) -> Result<TaskResult, TaskFailure> {
    let node = &env.compiled.nodes[&task.node];
    let started = Instant::now();
    let mut trace = TaskTrace {
        step: env.step,
        node: task.node.clone(),
        index: task.index,
        status: TaskStatus::Ok,
        duration_ms: 0,
        input_tokens: 0,
        output_tokens: 0,
        cost: Micros::ZERO,
        retries: 0,
        cached: false,
        reused: false,
        provider: None,
        error: None,
    };
    let mut spent = Spent::default();
    if task.limited {
        let done = goto(env, node, task, &node.limit_output, None, node.spec.on_limit.as_ref())
            .map_err(|f| failure(node, f, trace.clone()))?;
        trace.status = TaskStatus::Limited;
        return Ok(finish(task, done, &spent, trace, started));
    }
    let attempts = node.spec.retry.as_ref().map_or(1, |r| r.max_attempts.max(1));
    let mut backoff = Duration::from_millis(node.spec.retry.as_ref().and_then(|r| r.backoff_ms).unwrap_or(0));
    let mut last = None;
    for attempt in 1..=attempts {
        trace.retries = attempt - 1;
        match attempt_once(env, node, task, resume, &mut spent).await {
            Ok(done) => {
                trace.status = if done.interrupt.is_some() { TaskStatus::Paused } else { TaskStatus::Ok };
                return Ok(finish(task, done, &spent, trace, started));
            }
            Err(failed) => {
                let retry = failed.retryable && attempt < attempts;
                last = Some(failed);
                if !retry {
                    break;
                }
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
    }
    let failed = last.unwrap_or_else(|| Failure::config("the node did not run".to_owned()));
    trace.error = Some(failed.message.clone());
    if let Some(fallback) = node.spec.on_error.as_ref().filter(|f| f.goto().is_some()) {
        let done = goto(env, node, task, &node.error_output, Some(&failed.message), Some(fallback))
            .map_err(|f| failure(node, f, trace.clone()))?;
        trace.status = TaskStatus::Rerouted;
        return Ok(finish(task, done, &spent, trace, started));
    }
    trace.status = TaskStatus::Failed;
    let mut trace = record_spent(trace, &spent);
    trace.duration_ms = elapsed_ms(started);
    Err(failure(node, failed, trace))
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn failure(node: &CompiledNode, failed: Failure, trace: TaskTrace) -> TaskFailure {
    TaskFailure { node: node.name.clone(), message: failed.message, class: failed.class, hints: Vec::new(), trace }
}

fn record_spent(mut trace: TaskTrace, spent: &Spent) -> TaskTrace {
    trace.input_tokens = spent.input_tokens;
    trace.output_tokens = spent.output_tokens;
    trace.cost = spent.cost;
    trace.cached = spent.cached;
    trace.provider = spent.provider.clone();
    trace
}

fn finish(task: &TaskSpec, done: Done, spent: &Spent, trace: TaskTrace, started: Instant) -> TaskResult {
    let mut trace = record_spent(trace, spent);
    trace.duration_ms = elapsed_ms(started);
    TaskResult {
        id: task.id.clone(),
        node: task.node.clone(),
        index: task.index,
        writes: done.writes,
        route: done.route,
        interrupt: done.interrupt,
        trace,
    }
}

/// The writes and route of an `on_error` or `on_limit` goto.
fn goto(
    env: &NodeEnv<'_>,
    node: &CompiledNode,
    task: &TaskSpec,
    output: &[(String, ExprId)],
    error: Option<&str>,
    fallback: Option<&super::graph::Fallback>,
) -> Result<Done, Failure> {
    let mut ctx = env.ctx(env.visits, task.item.as_ref());
    ctx.error = error;
    let mut done = Done::default();
    for (key, id) in output {
        done.writes.push((key.clone(), env.eval(*id, &ctx, &format!("`{key}` of node `{}`", node.name))?));
    }
    let target = fallback.and_then(|f| f.goto()).map(|g| g.goto.clone()).unwrap_or_else(|| END.to_owned());
    done.route = Some(target);
    Ok(done)
}

/// One attempt, within the node's timeout.
async fn attempt_once(
    env: &NodeEnv<'_>,
    node: &CompiledNode,
    task: &TaskSpec,
    resume: Option<&Value>,
    spent: &mut Spent,
) -> Result<Done, Failure> {
    let work = work(env, node, task, resume, spent);
    match node.spec.timeout_s {
        Some(seconds) => tokio::time::timeout(Duration::from_secs_f64(seconds), work).await.unwrap_or_else(|_| {
            Err(Failure::upstream(format!("node `{}` did not finish within {seconds} s (`timeout_s`)", node.name)))
        }),
        None => work.await,
    }
}

/// The node's work, then its writes (and a router's route).
async fn work(
    env: &NodeEnv<'_>,
    node: &CompiledNode,
    task: &TaskSpec,
    resume: Option<&Value>,
    spent: &mut Spent,
) -> Result<Done, Failure> {
    let mut done = Done::default();
    let result = match node.spec.kind {
        NodeKind::Prompt | NodeKind::Router if node.prompt.is_some() => call_model(env, node, task, spent).await?,
        NodeKind::Prompt | NodeKind::Router => Value::Null,
        NodeKind::Tool => run_tool(env, node, task).await?,
        NodeKind::Human => match resume {
            Some(answer) => check_answer(node, answer)?,
            None => {
                let ctx = env.ctx(env.visits, task.item.as_ref());
                let message = match node.message {
                    Some(id) => env
                        .compiled
                        .exprs
                        .render(id, &ctx)
                        .map_err(|why| Failure::config(format!("the message of `{}` failed: {why}", node.name)))?,
                    None => format!("{} is waiting for input", node.name),
                };
                done.interrupt = Some(Interrupt {
                    node: node.name.clone(),
                    step: env.step,
                    message,
                    schema: node.spec.schema.clone(),
                });
                return Ok(done);
            }
        },
        NodeKind::Subgraph => run_subgraph(env, node, task).await?,
    };
    let mut visits = env.visits.clone();
    *visits.entry(node.name.clone()).or_insert(0) += 1;
    let mut ctx = env.ctx(&visits, task.item.as_ref());
    ctx.result = Some(&result);
    let retryable = node.calls_model_or_tool();
    for (key, id) in &node.output {
        let value = env.eval(*id, &ctx, &format!("`{key}` of node `{}`", node.name)).map_err(|mut f| {
            f.retryable = retryable;
            f
        })?;
        done.writes.push((key.clone(), value));
    }
    if node.spec.kind == NodeKind::Router {
        done.route = Some(route(env, node, &ctx, retryable)?);
    }
    Ok(done)
}

impl CompiledNode {
    /// Whether a failed output expression may be the answer's fault (so worth a retry).
    fn calls_model_or_tool(&self) -> bool {
        self.prompt.is_some() || self.spec.kind == NodeKind::Tool
    }
}

fn route(env: &NodeEnv<'_>, node: &CompiledNode, ctx: &Ctx<'_>, retryable: bool) -> Result<String, Failure> {
    let label = match node.label {
        Some(id) => env.eval(id, ctx, &format!("the label of router `{}`", node.name))?,
        None => ctx.result.and_then(|r| r.pointer("/json/label")).cloned().unwrap_or(Value::Null),
    };
    let text = label.as_str().map_or_else(|| label.to_string(), ToOwned::to_owned);
    match node.spec.routes.get(&text) {
        Some(target) => Ok(target.clone()),
        None => {
            let labels: Vec<&str> = node.spec.routes.keys().map(String::as_str).collect();
            Err(Failure {
                message: format!(
                    "router `{}` chose `{text}`, which is not one of its labels ({})",
                    node.name,
                    labels.join(", ")
                ),
                class: if retryable { ErrorClass::Upstream } else { ErrorClass::Config },
                retryable,
            })
        }
    }
}

fn check_answer(node: &CompiledNode, answer: &Value) -> Result<Value, Failure> {
    if let Some(schema) = &node.schema
        && let Some(error) = schema.iter_errors(answer).next()
    {
        return Err(Failure {
            message: format!("the answer to `{}` does not match its schema: {error}", node.name),
            class: ErrorClass::Usage,
            retryable: false,
        });
    }
    Ok(answer.clone())
}

/// Renders the prompt, calls the model, and reads the answer (`{text}` or `{text, json}`).
async fn call_model(
    env: &NodeEnv<'_>,
    node: &CompiledNode,
    task: &TaskSpec,
    done: &mut Spent,
) -> Result<Value, Failure> {
    let Some(prompt) = &node.prompt else { return Ok(Value::Null) };
    let ctx = env.ctx(env.visits, task.item.as_ref());
    let mut vars = Vars::new();
    for (name, id) in &node.vars {
        vars.insert(name.clone(), env.eval(*id, &ctx, &format!("variable `{name}` of node `{}`", node.name))?);
    }
    let mut rendered: RenderedPrompt = render(prompt, &vars).map_err(|err| Failure::config(err.to_string()))?;
    if let Some(params) = &node.spec.params {
        rendered.params = params.or(&rendered.params);
    }
    // A router without a `label` expression asks for `{"label": …}` from its closed set.
    let constrained = node.spec.kind == NodeKind::Router && node.label.is_none();
    if constrained {
        let labels: Vec<&String> = node.spec.routes.keys().collect();
        rendered.response_schema = Some(serde_json::json!({
            "type": "object", "required": ["label"], "additionalProperties": false,
            "properties": { "label": { "type": "string", "enum": labels } }
        }));
    } else if let Some(schema) = &node.spec.schema {
        rendered.response_schema = Some(schema.clone());
    }
    let provider = node.spec.provider.clone().or_else(|| rendered.model.clone());
    let cache = env.options.cache && node.spec.cache.unwrap_or(true);
    let events = env.events.cloned();
    let name = node.name.clone();
    let on_token = move |text: &str| {
        if let Some(sink) = &events {
            sink(&Event::Token { node: name.clone(), text: text.to_owned() });
        }
    };
    let call = ModelCall {
        node: &node.name,
        provider: provider.as_deref(),
        prompt: &rendered,
        cache,
        on_token: Some(&on_token),
    };
    let reply = env.caller.call(call).await.map_err(|err| Failure {
        message: format!("node `{}`: {}", node.name, err.message),
        class: err.class,
        retryable: err.class == ErrorClass::Upstream,
    })?;
    done.input_tokens += reply.input_tokens;
    done.output_tokens += reply.output_tokens;
    done.cost += reply.cost;
    done.cached = reply.cached;
    done.provider = Some(reply.provider.clone());
    let mut result = serde_json::json!({ "text": reply.text });
    if node.spec.parse == Some(ParseMode::Json) || constrained {
        let json = tool::parse_json_text(&reply.text).map_err(|why| {
            Failure::upstream(format!(
                "the answer of node `{}` is {why}: {}",
                node.name,
                short(&Value::String(reply.text.clone()))
            ))
        })?;
        if let Some(schema) = &node.schema
            && let Some(error) = schema.iter_errors(&json).next()
        {
            return Err(Failure::upstream(format!(
                "the answer of node `{}` does not match its schema: {error}",
                node.name
            )));
        }
        result["json"] = json;
    }
    Ok(result)
}

async fn run_tool(env: &NodeEnv<'_>, node: &CompiledNode, task: &TaskSpec) -> Result<Value, Failure> {
    let Some(spec) = &node.spec.tool else { return Ok(Value::Null) };
    let ctx = env.ctx(env.visits, task.item.as_ref());
    let max_output = spec.max_output_bytes.unwrap_or(DEFAULT_MAX_OUTPUT);
    let timeout = node.spec.timeout_s.map_or(DEFAULT_TOOL_TIMEOUT, Duration::from_secs_f64);
    let render =
        |id| env.compiled.exprs.render(id, &ctx).map_err(|why| Failure::config(format!("node `{}`: {why}", node.name)));
    let result = if let Some(builtin) = spec.builtin {
        let mut args = BTreeMap::new();
        for (name, id) in &node.args {
            args.insert(name.clone(), env.eval(*id, &ctx, &format!("argument `{name}` of node `{}`", node.name))?);
        }
        tool::run_builtin(builtin, &args).map_err(|why| Failure::config(format!("node `{}`: {why}", node.name)))?
    } else if spec.exec.is_some() {
        let exec = if spec.shell {
            let shell = env.compiled.exprs.render_shell(&node.exec, &ctx);
            ExecCommand::Shell(shell.map_err(|why| Failure::config(format!("node `{}`: {why}", node.name)))?)
        } else {
            ExecCommand::Argv(node.exec.iter().map(|id| render(*id)).collect::<Result<_, _>>()?)
        };
        let program = match &exec {
            ExecCommand::Shell(_) => "sh".to_owned(),
            ExecCommand::Argv(argv) => argv.first().cloned().unwrap_or_default(),
        };
        if !env.options.exec.allows(&program) {
            return Err(Failure {
                message: format!("node `{}` runs `{program}`, which this server does not allow", node.name),
                class: ErrorClass::Usage,
                retryable: false,
            });
        }
        let stdin = match node.stdin {
            Some(id) => Some(match env.eval(id, &ctx, "`stdin`")? {
                Value::String(s) => s,
                other => other.to_string(),
            }),
            None => None,
        };
        tool::run_exec(&exec, stdin, timeout, max_output)
            .await
            .map_err(|why| Failure::upstream(format!("node `{}`: {why}", node.name)))?
    } else if let (Some(http), Some((url, headers, body))) = (&spec.http, &node.http) {
        let url = render(*url)?;
        let headers: BTreeMap<String, String> =
            headers.iter().map(|(k, id)| render(*id).map(|v| (k.clone(), v))).collect::<Result<_, _>>()?;
        let body = body.map(|id| env.eval(id, &ctx, "`body`")).transpose()?;
        let method = http.method.clone().unwrap_or_else(|| if body.is_some() { "POST".into() } else { "GET".into() });
        let request = tool::run_http(env.http, &method, &url, &headers, body.as_ref(), max_output);
        tokio::time::timeout(timeout, request)
            .await
            .map_err(|_| {
                Failure::upstream(format!(
                    "node `{}`: `{url}` did not answer within {:.1} s",
                    node.name,
                    timeout.as_secs_f64()
                ))
            })?
            .map_err(|why| Failure::upstream(format!("node `{}`: {why}", node.name)))?
    } else {
        Value::Null
    };
    Ok(match spec.parse {
        Some(ParseMode::Json) => {
            let text = result.get("stdout").or_else(|| result.get("body")).and_then(Value::as_str).unwrap_or_default();
            let json = tool::parse_json_text(text)
                .map_err(|why| Failure::upstream(format!("the output of node `{}` is {why}", node.name)))?;
            let mut with_json = result;
            with_json["json"] = json;
            with_json
        }
        _ => result,
    })
}

async fn run_subgraph(env: &NodeEnv<'_>, node: &CompiledNode, task: &TaskSpec) -> Result<Value, Failure> {
    let Some(child) = &node.subgraph else { return Ok(Value::Null) };
    let ctx = env.ctx(env.visits, task.item.as_ref());
    let mut input = serde_json::Map::new();
    for (key, id) in &node.input {
        input.insert(key.clone(), env.eval(*id, &ctx, &format!("input `{key}` of subgraph `{}`", node.name))?);
    }
    let nested = super::exec::run_nested(env, Arc::clone(child), Value::Object(input)).await;
    nested.map_err(|err| {
        use crate::error::Diagnostic;
        Failure { message: format!("subgraph `{}` failed: {err}", node.name), class: err.class(), retryable: false }
    })
}
