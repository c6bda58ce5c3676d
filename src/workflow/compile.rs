//! A validated workflow turned into what the executor runs: every expression and template
//! compiled once, prompt refs resolved to prompts (at run start, so a label moved during a run
//! does not change it), inline prompts built, JSON Schemas compiled, subgraphs compiled, and
//! the edges of each node in the order they are taken.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use futures::future::BoxFuture;

use super::error::{Finding, Severity, WorkflowError};
use super::expr::{ExprId, Exprs, TemplateId};
use super::graph::{END, Node, START, WorkflowFile};
use super::load::Workflow;
use super::source::{Catalog, PromptSource};
use super::topology::Topology;
use crate::prompt::{LoadedPrompt, PartialSet, PromptFile, PromptName, PromptRef, VarType, VariableSpec};

/// How control leaves a node.
#[derive(Debug)]
pub enum CompiledEdge {
    /// To these nodes (`END` left out).
    To(Vec<String>),
    /// The first case whose condition holds (`None` = `else`).
    Branch(Vec<(Option<ExprId>, Vec<String>)>),
    /// One task of `to` per item of `over`.
    Map {
        /// The list.
        over: ExprId,
        /// The item's name.
        alias: String,
        /// The node.
        to: String,
    },
}

/// A node ready to run.
#[derive(Debug)]
pub struct CompiledNode {
    /// Its name.
    pub name: String,
    /// Its definition.
    pub spec: Node,
    /// Template variables.
    pub vars: Vec<(String, ExprId)>,
    /// State writes.
    pub output: Vec<(String, ExprId)>,
    /// A router's label.
    pub label: Option<ExprId>,
    /// A human node's question.
    pub message: Option<TemplateId>,
    /// A subgraph's input.
    pub input: Vec<(String, ExprId)>,
    /// A built-in's arguments.
    pub args: Vec<(String, ExprId)>,
    /// An `exec` tool's argv.
    pub exec: Vec<TemplateId>,
    /// An `exec` tool's standard input.
    pub stdin: Option<ExprId>,
    /// An `http` tool's URL, headers and body.
    pub http: Option<CompiledHttp>,
    /// `on_error` writes.
    pub error_output: Vec<(String, ExprId)>,
    /// `on_limit` writes.
    pub limit_output: Vec<(String, ExprId)>,
    /// The prompt (resolved ref, or the inline one).
    pub prompt: Option<LoadedPrompt>,
    /// The parsed answer's (or a human answer's) schema.
    pub schema: Option<Arc<jsonschema::Validator>>,
    /// The child workflow.
    pub subgraph: Option<Arc<Compiled>>,
}

/// An `http` tool's URL, headers and body, compiled.
pub type CompiledHttp = (TemplateId, Vec<(String, TemplateId)>, Option<ExprId>);

/// A workflow ready to run.
#[derive(Debug)]
pub struct Compiled {
    /// The file.
    pub workflow: Workflow,
    /// Its expressions and templates.
    pub exprs: Exprs,
    /// Its nodes.
    pub nodes: BTreeMap<String, CompiledNode>,
    /// The edges leaving each node (and `START`).
    pub edges: BTreeMap<String, Vec<CompiledEdge>>,
    /// For each node, the nodes whose `wait_for` lists it.
    pub waiters: BTreeMap<String, Vec<String>>,
    /// The cycles of the graph (for naming the loop that hits a limit).
    pub loops: Vec<Vec<String>>,
    /// The file's hash.
    pub hash: String,
}

impl Compiled {
    /// The workflow's file.
    pub fn file(&self) -> &WorkflowFile {
        &self.workflow.file
    }

    /// The loop containing `node`, as `a → b → a`, if it is in one.
    pub fn loop_of(&self, node: &str) -> Option<String> {
        let component = self.loops.iter().find(|c| c.iter().any(|n| n == node))?;
        let cycle = Topology::of(self.file()).cycle_in(component);
        (!cycle.is_empty()).then(|| cycle.join(" → "))
    }
}

/// Compiles `workflow`, resolving prompts through `prompts` and subgraphs through `catalog`.
/// The workflow must have passed validation; anything that still fails is reported as invalid.
pub fn compile<'a>(
    workflow: &'a Workflow,
    prompts: &'a dyn PromptSource,
    catalog: Option<&'a Catalog>,
) -> BoxFuture<'a, Result<Arc<Compiled>, WorkflowError>> {
    Box::pin(async move {
        let mut exprs = Exprs::new();
        let mut nodes = BTreeMap::new();
        for (name, spec) in &workflow.file.nodes {
            let mut node = compile_node(workflow, &mut exprs, name, spec)?;
            node.prompt = match (&spec.prompt, &spec.messages) {
                (Some(text), _) => Some(resolve_prompt(workflow, prompts, name, text).await?),
                (None, Some(_)) => Some(inline_prompt(workflow, name, spec)?),
                _ => None,
            };
            if let Some(reference) = &spec.workflow {
                let Some(catalog) = catalog else {
                    return Err(invalid(
                        workflow,
                        name,
                        format!("subgraph `{reference}` needs a project to load from"),
                    ));
                };
                let child = catalog.subgraph(workflow, reference)?;
                node.subgraph = Some(compile(&child, prompts, Some(catalog)).await?);
            }
            nodes.insert(name.clone(), node);
        }
        let edges = compile_edges(workflow, &mut exprs)?;
        let mut waiters: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, spec) in &workflow.file.nodes {
            for member in &spec.wait_for {
                waiters.entry(member.clone()).or_default().push(name.clone());
            }
        }
        let topology = Topology::of(&workflow.file);
        let all: BTreeSet<String> = Topology::vertices(&workflow.file);
        let loops = topology.cyclic_components(&all);
        Ok(Arc::new(Compiled {
            hash: workflow.hash(),
            workflow: workflow.clone(),
            exprs,
            nodes,
            edges,
            waiters,
            loops,
        }))
    })
}

fn invalid(workflow: &Workflow, node: &str, message: String) -> WorkflowError {
    let finding = Finding {
        severity: Severity::Error,
        path: workflow.origin.clone(),
        location: workflow.locate(&["nodes", node]),
        message,
        hints: Vec::new(),
    };
    WorkflowError::Invalid { name: workflow.name().to_owned(), findings: vec![finding] }
}

fn expressions(
    workflow: &Workflow,
    exprs: &mut Exprs,
    node: &str,
    map: &BTreeMap<String, String>,
) -> Result<Vec<(String, ExprId)>, WorkflowError> {
    map.iter()
        .map(|(k, source)| {
            exprs.add_expression(source).map(|id| (k.clone(), id)).map_err(|why| invalid(workflow, node, why))
        })
        .collect()
}

fn compile_node(
    workflow: &Workflow,
    exprs: &mut Exprs,
    name: &str,
    spec: &Node,
) -> Result<CompiledNode, WorkflowError> {
    let expr =
        |exprs: &mut Exprs, source: &str| exprs.add_expression(source).map_err(|why| invalid(workflow, name, why));
    let template =
        |exprs: &mut Exprs, source: &str| exprs.add_template(source).map_err(|why| invalid(workflow, name, why));
    let tool = spec.tool.clone().unwrap_or_default();
    let goto_output = |f: &Option<super::graph::Fallback>| {
        f.as_ref().and_then(|f| f.goto()).map(|g| g.output.clone()).unwrap_or_default()
    };
    let http = match &tool.http {
        Some(http) => {
            let url = template(exprs, &http.url)?;
            let headers = http
                .headers
                .iter()
                .map(|(k, v)| template(exprs, v).map(|t| (k.clone(), t)))
                .collect::<Result<_, _>>()?;
            let body = http.body.as_deref().map(|b| expr(exprs, b)).transpose()?;
            Some((url, headers, body))
        }
        None => None,
    };
    let schema = match &spec.schema {
        Some(schema) => Some(Arc::new(
            jsonschema::validator_for(schema)
                .map_err(|err| invalid(workflow, name, format!("invalid `schema`: {err}")))?,
        )),
        None => None,
    };
    Ok(CompiledNode {
        name: name.to_owned(),
        spec: spec.clone(),
        vars: expressions(workflow, exprs, name, &spec.vars)?,
        output: expressions(workflow, exprs, name, &spec.output)?,
        label: spec.label.as_deref().map(|l| expr(exprs, l)).transpose()?,
        message: spec.message.as_deref().map(|m| template(exprs, m)).transpose()?,
        input: expressions(workflow, exprs, name, &spec.input)?,
        args: expressions(workflow, exprs, name, &tool.args)?,
        exec: tool
            .exec
            .iter()
            .flatten()
            .map(|a| {
                let added = if tool.shell { exprs.add_shell_template(a) } else { exprs.add_template(a) };
                added.map_err(|why| invalid(workflow, name, why))
            })
            .collect::<Result<_, _>>()?,
        stdin: tool.stdin.as_deref().map(|s| expr(exprs, s)).transpose()?,
        http,
        error_output: expressions(workflow, exprs, name, &goto_output(&spec.on_error))?,
        limit_output: expressions(workflow, exprs, name, &goto_output(&spec.on_limit))?,
        prompt: None,
        schema,
        subgraph: None,
    })
}

fn compile_edges(workflow: &Workflow, exprs: &mut Exprs) -> Result<BTreeMap<String, Vec<CompiledEdge>>, WorkflowError> {
    let mut edges: BTreeMap<String, Vec<CompiledEdge>> = BTreeMap::new();
    let keep = |names: Vec<&str>| names.into_iter().filter(|n| *n != END).map(ToOwned::to_owned).collect::<Vec<_>>();
    for edge in &workflow.file.edges {
        let from = if edge.from == START { START } else { edge.from.as_str() };
        let fail = |why: String| invalid(workflow, from, why);
        let compiled = if let Some(to) = &edge.to {
            CompiledEdge::To(keep(to.names()))
        } else if let Some(cases) = &edge.branch {
            let mut out = Vec::new();
            for case in cases {
                let condition = case.when.as_deref().map(|w| exprs.add_expression(w)).transpose().map_err(fail)?;
                let targets = case.to.as_ref().or(case.otherwise.as_ref()).map(|t| keep(t.names())).unwrap_or_default();
                out.push((condition, targets));
            }
            CompiledEdge::Branch(out)
        } else if let Some(map) = &edge.map {
            CompiledEdge::Map {
                over: exprs.add_expression(&map.over).map_err(fail)?,
                alias: map.alias().to_owned(),
                to: map.to.clone(),
            }
        } else {
            continue;
        };
        edges.entry(edge.from.clone()).or_default().push(compiled);
    }
    Ok(edges)
}

async fn resolve_prompt(
    workflow: &Workflow,
    prompts: &dyn PromptSource,
    node: &str,
    text: &str,
) -> Result<LoadedPrompt, WorkflowError> {
    let reference: PromptRef =
        text.parse().map_err(|_| invalid(workflow, node, format!("`{text}` is not a prompt ref")))?;
    prompts.load(&reference).await.map_err(|err| {
        let finding = Finding {
            severity: Severity::Error,
            path: workflow.origin.clone(),
            location: workflow.locate(&["nodes", node, "prompt"]),
            message: err.message,
            hints: err.hints,
        };
        WorkflowError::Invalid { name: workflow.name().to_owned(), findings: vec![finding] }
    })
}

/// An inline prompt as a prompt file: its variables are the node's `vars` (any type), its
/// name `workflow/<workflow>/<node>` so that mock rules and usage records can tell it apart.
fn inline_prompt(workflow: &Workflow, node: &str, spec: &Node) -> Result<LoadedPrompt, WorkflowError> {
    let file = PromptFile {
        description: None,
        model: spec.provider.clone(),
        params: spec.params.clone().unwrap_or_default(),
        variables: spec
            .vars
            .keys()
            .map(|k| (k.clone(), VariableSpec { kind: VarType::Any, required: Some(false), ..VariableSpec::default() }))
            .collect(),
        messages: spec.messages.clone().unwrap_or_default(),
        response_schema: None,
        tags: Vec::new(),
        kind: None,
        config: serde_json::Map::new(),
    };
    let raw = format!("workflow/{}/{node}", workflow.name()).to_ascii_lowercase().replace(' ', "-");
    let name = PromptName::new(&raw)
        .or_else(|_| PromptName::new("workflow/inline"))
        .map_err(|err| invalid(workflow, node, err.to_string()))?;
    let origin = PathBuf::from(format!("{}#{node}", workflow.origin.display()));
    Ok(LoadedPrompt { name, origin, source: crate::yaml::to_string(&file).into(), file, partials: PartialSet::new() })
}
