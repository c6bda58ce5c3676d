//! `workflow export --to langgraph`: a one-way "eject" to a runnable LangGraph (Python) app
//! (research brief §d). Writes `graph.py` (a typed state with reducers, explicit `add_node` /
//! `add_edge` / `add_conditional_edges` wiring, `Send` for maps, `add_edge([...])` for joins,
//! `defer=True`, `interrupt()` for human nodes), `requirements.txt`, `langgraph.json` and
//! `EXPORT_NOTES.md`. Node bodies are interpreted at run time from the frozen workflow spec (the
//! prompts' texts as resolved now, expressions and templates verbatim) by a small runtime that
//! is written into `graph.py` itself, so the export has no dependency on promptops.

mod python;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::compile::{Compiled, CompiledNode};
use super::graph::{END, NodeKind, Reducer, ValueType};
use super::topology::{Topology, Via};
use crate::config::{ProjectConfig, ProviderKind};
use crate::prompt::{Content, Part};

/// The runtime every export carries (reducers, expressions, tools, node interpreter).
const RUNTIME: &str = include_str!("runtime.py");

/// One file of an export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedFile {
    /// Its path inside the export directory.
    pub path: PathBuf,
    /// Its text.
    pub contents: String,
}

/// The files of a LangGraph export of `compiled`; `config` maps provider ids to LangChain
/// model names (`openai:gpt-4o-mini`).
pub fn langgraph(compiled: &Compiled, config: &ProjectConfig) -> Vec<ExportedFile> {
    let mut workflows = Vec::new();
    collect(compiled, &mut workflows);
    let mut graph = RUNTIME.replace("{{NAME}}", &compiled.file().name);
    for (i, workflow) in workflows.iter().enumerate() {
        graph.push_str("\n\n");
        graph.push_str(&python::workflow_code(workflow, &spec(workflow, config), i == workflows.len() - 1));
    }
    let name = &compiled.file().name;
    vec![
        file("graph.py", graph),
        file(
            "requirements.txt",
            "langgraph>=1.0\nlangchain>=1.0\nlangchain-core>=1.0\njinja2>=3.1\njsonschema>=4\n".to_owned(),
        ),
        file(
            "langgraph.json",
            format!(
                "{}\n",
                serde_json::to_string_pretty(&json!({
                    "dependencies": ["."],
                    "graphs": { name: "./graph.py:graph" },
                    "env": ".env"
                }))
                .unwrap_or_default()
            ),
        ),
        file("EXPORT_NOTES.md", notes(compiled, &workflows, config)),
    ]
}

fn file(path: &str, contents: String) -> ExportedFile {
    ExportedFile { path: PathBuf::from(path), contents }
}

/// The workflow and its subgraphs, children first, each once.
fn collect<'a>(compiled: &'a Compiled, out: &mut Vec<&'a Compiled>) {
    for node in compiled.nodes.values() {
        if let Some(child) = &node.subgraph {
            collect(child, out);
        }
    }
    if !out.iter().any(|c| c.file().name == compiled.file().name) {
        out.push(compiled);
    }
}

/// Writes the files under `dir` (each atomically).
pub fn write(dir: &Path, files: &[ExportedFile]) -> std::io::Result<()> {
    for f in files {
        crate::fsutil::write_atomic(&dir.join(&f.path), f.contents.as_bytes())?;
    }
    Ok(())
}

/// A Python identifier for a name (`essay-refine` → `essay_refine`).
pub(crate) fn ident(name: &str) -> String {
    let mut out: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// The LangGraph node name of each node: its own, unless a state key has that name (LangGraph
/// refuses node names that are also channels).
pub(crate) fn graph_names(compiled: &Compiled) -> BTreeMap<String, String> {
    let file = compiled.file();
    file.nodes
        .keys()
        .map(|n| (n.clone(), if file.state.contains_key(n) { format!("{n}_node") } else { n.clone() }))
        .collect()
}

/// The LangChain model name for a provider reference, when it is a real model.
fn model_name(reference: Option<&str>, config: &ProjectConfig) -> Option<String> {
    let reference = reference.or(config.defaults.provider.as_deref())?;
    if let Some(provider) = config.providers.iter().find(|p| p.id == reference) {
        return match provider.kind {
            ProviderKind::Openai | ProviderKind::Anthropic => {
                provider.model.as_ref().map(|m| format!("{}:{m}", provider.kind.as_str()))
            }
            _ => None,
        };
    }
    let (kind, _) = reference.split_once(':')?;
    matches!(kind, "openai" | "anthropic").then(|| reference.to_owned())
}

fn node_spec(node: &CompiledNode, config: &ProjectConfig) -> Value {
    let mut spec = match serde_json::to_value(&node.spec) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    for key in ["prompt", "provider", "params", "description", "cache"] {
        spec.remove(key);
    }
    if let Some(prompt) = &node.prompt {
        let messages: Vec<Value> = prompt
            .file
            .messages
            .iter()
            .map(|m| {
                let text = match &m.content {
                    Content::Text(t) => t.clone(),
                    Content::Parts(parts) => parts
                        .iter()
                        .filter_map(|p| if let Part::Text(t) = p { Some(t.clone()) } else { None })
                        .collect::<Vec<_>>()
                        .join("\n"),
                };
                json!([m.role.as_str(), text])
            })
            .collect();
        spec.insert("messages".into(), Value::Array(messages));
        spec.insert("partials".into(), json!(prompt.partials));
        // promptops fills in declared defaults; jinja2 would see them as undefined.
        let vars = spec.entry("vars").or_insert_with(|| json!({}));
        for (name, variable) in &prompt.file.variables {
            if let (Some(default), Some(map)) = (&variable.default, vars.as_object_mut())
                && !map.contains_key(name)
            {
                let literal = if default.is_null() { "none".to_owned() } else { default.to_string() };
                map.insert(name.clone(), Value::String(literal));
            }
        }
        let reference = node.spec.provider.as_deref().or(prompt.file.model.as_deref());
        spec.insert("model".into(), model_name(reference, config).map_or(Value::Null, Value::String));
    }
    if node.spec.kind == NodeKind::Router && node.spec.label.is_none() && node.prompt.is_none() {
        spec.insert("label".into(), Value::Null);
    }
    Value::Object(spec)
}

fn edges_spec(compiled: &Compiled) -> Value {
    let mut edges: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for edge in &compiled.file().edges {
        let entry = if let Some(to) = &edge.to {
            json!({ "to": to.names() })
        } else if let Some(cases) = &edge.branch {
            let cases: Vec<Value> = cases
                .iter()
                .map(|c| json!({ "when": c.when, "to": c.to.as_ref().or(c.otherwise.as_ref()).map(|t| t.names()).unwrap_or_default() }))
                .collect();
            json!({ "branch": cases })
        } else if let Some(map) = &edge.map {
            json!({ "map": { "over": map.over, "as": map.alias(), "to": map.to } })
        } else {
            continue;
        };
        edges.entry(edge.from.clone()).or_default().push(entry);
    }
    json!(edges)
}

/// The frozen spec the runtime interprets.
pub(crate) fn spec(compiled: &Compiled, config: &ProjectConfig) -> Value {
    let file = compiled.file();
    let defaults: Map<String, Value> =
        file.state.iter().filter_map(|(k, s)| s.default.clone().map(|d| (k.clone(), d))).collect();
    let nodes: Map<String, Value> =
        compiled.nodes.iter().map(|(n, node)| (n.clone(), node_spec(node, config))).collect();
    json!({
        "name": file.name,
        "input": file.input,
        "output": file.output,
        "state": file.state.keys().collect::<Vec<_>>(),
        "defaults": defaults,
        "nodes": nodes,
        "edges": edges_spec(compiled),
        "graph_names": graph_names(compiled),
    })
}

/// The Python type annotation of a state key.
pub(crate) fn annotation(kind: ValueType, reducer: Reducer) -> String {
    let base = match kind {
        ValueType::String => "str",
        ValueType::Number => "float",
        ValueType::Integer => "int",
        ValueType::Boolean => "bool",
        ValueType::Array => "list",
        ValueType::Object => "dict",
        ValueType::Any => "Any",
    };
    match reducer {
        Reducer::Replace => format!("Optional[{base}]"),
        Reducer::Append => "Annotated[list, _append]".to_owned(),
        Reducer::Messages => "Annotated[list, _messages]".to_owned(),
        Reducer::Merge => "Annotated[dict, _merge]".to_owned(),
        // An instantiable type starts the channel at 0; `Any` leaves it empty until the first write.
        Reducer::Add if matches!(kind, ValueType::Integer | ValueType::Number) => format!("Annotated[{base}, _add]"),
        Reducer::Add => "Annotated[Optional[Any], _add]".to_owned(),
        Reducer::Max => format!("Annotated[Optional[{base}], _max]"),
        Reducer::Min => format!("Annotated[Optional[{base}], _min]"),
    }
}

/// Every node a node's routing function can return (for LangGraph's path map).
pub(crate) fn possible_targets(compiled: &Compiled, source: &str, names: &BTreeMap<String, String>) -> Vec<String> {
    let file = compiled.file();
    let topology = Topology::of(file);
    let mut out: Vec<String> = Vec::new();
    let mut push = |name: &str| {
        let shown = names.get(name).cloned().unwrap_or_else(|| name.to_owned());
        if !out.contains(&shown) {
            out.push(shown);
        }
    };
    for arc in topology.outgoing(source).filter(|a| !matches!(a.via, Via::OnLimit)) {
        let waits = file.nodes.get(&arc.to).is_some_and(|n| n.wait_for.iter().any(|w| w == source));
        if waits {
            continue;
        }
        push(&arc.to);
        if let Some(goto) = file.nodes.get(&arc.to).and_then(|n| n.on_limit.as_ref()).and_then(|f| f.goto()) {
            push(&goto.goto);
        }
    }
    push(END);
    out
}

fn notes(compiled: &Compiled, workflows: &[&Compiled], config: &ProjectConfig) -> String {
    let mut offline: Vec<String> = Vec::new();
    for w in workflows {
        for (name, node) in &w.nodes {
            let Some(prompt) = &node.prompt else { continue };
            if model_name(node.spec.provider.as_deref().or(prompt.file.model.as_deref()), config).is_none() {
                offline.push(format!("`{}.{name}`", w.file().name));
            }
        }
    }
    python::notes(&compiled.file().name, &offline)
}

#[cfg(test)]
mod tests;
