//! The entry points other modules use. [`prepare`] is what every run does first: validate
//! (so a cycle without a bound is rejected before any model call), then compile.
//! [`WorkflowTarget`] is the hook for the eval engine and A/B comparisons: an eval suite whose
//! target is `workflow:<name>` runs the workflow once per case, with the case's variables as
//! input, and asserts on the final state.
//!
//! ```no_run
//! # async fn demo(root: &std::path::Path, prompts: std::sync::Arc<dyn promptops::workflow::PromptSource>,
//! #               caller: std::sync::Arc<dyn promptops::workflow::ModelCaller>) -> Result<(), promptops::workflow::WorkflowError> {
//! use promptops::workflow::WorkflowTarget;
//!
//! let target = WorkflowTarget::load(root, "essay-refine", prompts, caller).await?;
//! let run = target.run(serde_json::json!({ "topic": "tides" })).await?;
//! assert!(run.output["score"].as_f64().unwrap_or(0.0) >= 8.0); // assertions see the final state
//! println!("{} tokens, {}", run.input_tokens + run.output_tokens, run.cost);
//! # Ok(()) }
//! ```

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::compile::{Compiled, compile};
use super::error::{Finding, WorkflowError};
use super::exec::Runner;
use super::load::Workflow;
use super::model::ModelCaller;
use super::node::RunOptions;
use super::source::{Catalog, PromptSource};
use super::tool::ExecPolicy;
use super::trace::{RunStatus, TaskTrace};
use super::validate::{self, References};
use crate::error::ErrorClass;
use crate::money::Micros;

/// Validates `workflow` (structure, prompts, subgraphs, `exec` policy) and compiles it.
/// Returns the compiled workflow and the warnings; any error is [`WorkflowError::Invalid`].
pub async fn prepare(
    workflow: &Workflow,
    prompts: &dyn PromptSource,
    catalog: Option<&Catalog>,
    exec: &ExecPolicy,
) -> Result<(Arc<Compiled>, Vec<Finding>), WorkflowError> {
    let references = References { prompts: Some(prompts), catalog, exec: Some(exec) };
    let findings = validate::validate(workflow, references).await;
    let warnings = validate::ensure_valid(workflow, findings)?;
    let compiled = compile(workflow, prompts, catalog).await?;
    Ok((compiled, warnings))
}

/// A workflow as an evaluation target (`workflow:<name>` in an eval suite).
#[derive(Debug, Clone)]
pub struct WorkflowTarget {
    compiled: Arc<Compiled>,
    runner: Runner,
    warnings: Vec<Finding>,
}

/// One evaluated run: the final state for assertions, and what it cost.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EvalRun {
    /// The workflow's `output` keys (the whole state when it lists none): what assertions see.
    pub output: Value,
    /// The whole final state.
    pub state: Value,
    /// Every task.
    pub trace: Vec<TaskTrace>,
    /// The total cost.
    pub cost: Micros,
    /// Prompt tokens of every model call.
    pub input_tokens: u64,
    /// Generated tokens of every model call.
    pub output_tokens: u64,
    /// Wall time of the run.
    #[serde(serialize_with = "millis")]
    pub latency: Duration,
    /// Steps taken.
    pub steps: u32,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl WorkflowTarget {
    /// Loads, validates and compiles the workflow `name_or_path` of the project at `root`.
    /// Prompts resolve through `prompts`; model calls go through `caller` (the provider layer,
    /// with its limits, cache, cost accounting and budgets).
    pub async fn load(
        root: &Path,
        name_or_path: &str,
        prompts: Arc<dyn PromptSource>,
        caller: Arc<dyn ModelCaller>,
    ) -> Result<Self, WorkflowError> {
        let catalog = Catalog::new(root);
        let workflow = catalog.load(name_or_path)?;
        let (compiled, warnings) = prepare(&workflow, prompts.as_ref(), Some(&catalog), &ExecPolicy::Local).await?;
        let options = RunOptions { allow_pause: false, ..RunOptions::default() };
        Ok(Self { compiled, runner: Runner::new(caller).with_options(options), warnings })
    }

    /// A target from an already compiled workflow and a configured runner (its store is not
    /// used for evaluation runs unless the caller set one).
    pub fn new(compiled: Arc<Compiled>, runner: Runner) -> Self {
        Self { compiled, runner, warnings: Vec::new() }
    }

    /// The workflow's name.
    pub fn name(&self) -> &str {
        &self.compiled.file().name
    }

    /// The workflow's input keys (the case variables a run takes).
    pub fn inputs(&self) -> &[String] {
        &self.compiled.file().input
    }

    /// The input keys a run needs that `vars` does not give and the state has no default for.
    pub fn missing_inputs(&self, vars: &std::collections::BTreeMap<String, Value>) -> Vec<String> {
        let file = self.compiled.file();
        let has_default = |key: &String| file.state.get(key).is_some_and(|k| k.default.is_some());
        file.input.iter().filter(|key| !vars.contains_key(*key) && !has_default(key)).cloned().collect()
    }

    /// Validation warnings.
    pub fn warnings(&self) -> &[Finding] {
        &self.warnings
    }

    /// The workflow's content hash (two versions of a workflow differ in it; A/B reports it).
    pub fn hash(&self) -> &str {
        &self.compiled.hash
    }

    /// Runs the workflow once on `input` (an object of the input keys; others are ignored so
    /// that one case's variables can serve several targets). A `human` node is an error here.
    pub async fn run(&self, input: Value) -> Result<EvalRun, WorkflowError> {
        let input = match input {
            Value::Object(map) => Value::Object(map.into_iter().filter(|(k, _)| self.inputs().contains(k)).collect()),
            other => other,
        };
        let started = Instant::now();
        let outcome = self.runner.run(&self.compiled, input, None).await?;
        if outcome.status == RunStatus::Interrupted {
            return Err(WorkflowError::run(
                ErrorClass::Config,
                format!("workflow `{}` paused for human input, which an evaluation cannot give", self.name()),
                vec!["evaluate a workflow without `human` nodes, or a variant that skips them".to_owned()],
            ));
        }
        Ok(EvalRun {
            input_tokens: outcome.trace.iter().map(|t| t.input_tokens).sum(),
            output_tokens: outcome.trace.iter().map(|t| t.output_tokens).sum(),
            output: outcome.output,
            state: outcome.state,
            trace: outcome.trace,
            cost: outcome.cost,
            latency: started.elapsed(),
            steps: outcome.steps,
        })
    }
}
