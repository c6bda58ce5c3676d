//! Every place in a workflow file that holds an expression or a template, with the names it
//! may use there. The validator compiles and checks them; the dataflow analysis reads their
//! `state.*` names; the executor compiles them for running.

use std::collections::{BTreeMap, BTreeSet};

use super::graph::{Node, WorkflowFile};
use crate::prompt::{Content, Part};

/// Whether a site is an expression or a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiteKind {
    /// An expression (`state.score >= 8`).
    Expression,
    /// A template (`Draft: {{ state.draft }}`).
    Template,
    /// A template of an inline prompt message: it sees the node's `vars`, not the state.
    PromptTemplate,
}

/// When a site is evaluated, relative to its node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Before or while the node runs: it sees the state at the start of the step.
    Before,
    /// After the step (branch conditions, map lists): it sees the merged state.
    After,
}

/// One expression or template in the file.
#[derive(Debug, Clone)]
pub struct Site {
    /// Its key path in the file (`nodes`, `critique`, `output`, `score`).
    pub path: Vec<String>,
    /// The text.
    pub source: String,
    /// Expression or template.
    pub kind: SiteKind,
    /// The node it belongs to (for edges: the node the edge leaves; `START` included).
    pub owner: String,
    /// Before or after its owner runs.
    pub when: When,
    /// The top-level names it may use.
    pub names: BTreeSet<String>,
}

impl Site {
    /// The path as `&str`s for `yaml::locate`.
    pub fn key_path(&self) -> Vec<&str> {
        self.path.iter().map(String::as_str).collect()
    }
}

/// The `as` names under which map items reach each node.
pub fn map_aliases(file: &WorkflowFile) -> BTreeMap<String, BTreeSet<String>> {
    let mut aliases: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for edge in &file.edges {
        if let Some(map) = &edge.map {
            aliases.entry(map.to.clone()).or_default().insert(map.alias().to_owned());
        }
    }
    aliases
}

/// Every site of `file`, in file order (nodes by name, then edges).
pub fn sites(file: &WorkflowFile) -> Vec<Site> {
    let aliases = map_aliases(file);
    let mut out = Vec::new();
    for (name, node) in &file.nodes {
        let items = aliases.get(name).cloned().unwrap_or_default();
        node_sites(name, node, &items, &mut out);
    }
    let base: BTreeSet<String> = ["state", "inputs", "visits"].into_iter().map(ToOwned::to_owned).collect();
    for (i, edge) in file.edges.iter().enumerate() {
        let index = i.to_string();
        for (j, case) in edge.branch.iter().flatten().enumerate() {
            if let Some(when) = &case.when {
                out.push(Site {
                    path: strings(&["edges", &index, "branch", &j.to_string(), "when"]),
                    source: when.clone(),
                    kind: SiteKind::Expression,
                    owner: edge.from.clone(),
                    when: When::After,
                    names: base.clone(),
                });
            }
        }
        if let Some(map) = &edge.map {
            out.push(Site {
                path: strings(&["edges", &index, "map", "over"]),
                source: map.over.clone(),
                kind: SiteKind::Expression,
                owner: edge.from.clone(),
                when: When::After,
                names: base.clone(),
            });
        }
    }
    out
}

fn strings(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|p| (*p).to_owned()).collect()
}

fn node_sites(name: &str, node: &Node, items: &BTreeSet<String>, out: &mut Vec<Site>) {
    let mut names: BTreeSet<String> = ["state", "inputs", "visits"].into_iter().map(ToOwned::to_owned).collect();
    names.extend(items.iter().cloned());
    let with = |extra: &str| {
        let mut n = names.clone();
        n.insert(extra.to_owned());
        n
    };
    let mut push = |path: Vec<String>, source: &str, kind: SiteKind, names: BTreeSet<String>| {
        let mut full = strings(&["nodes", name]);
        full.extend(path);
        out.push(Site {
            path: full,
            source: source.to_owned(),
            kind,
            owner: name.to_owned(),
            when: When::Before,
            names,
        });
    };
    for (key, source) in &node.vars {
        push(strings(&["vars", key]), source, SiteKind::Expression, names.clone());
    }
    let result_names = with("result");
    for (key, source) in &node.output {
        push(strings(&["output", key]), source, SiteKind::Expression, result_names.clone());
    }
    if let Some(label) = &node.label {
        let names = if node.calls_model() { result_names.clone() } else { names.clone() };
        push(strings(&["label"]), label, SiteKind::Expression, names);
    }
    if let Some(message) = &node.message {
        push(strings(&["message"]), message, SiteKind::Template, names.clone());
    }
    for (key, source) in &node.input {
        push(strings(&["input", key]), source, SiteKind::Expression, names.clone());
    }
    if let Some(goto) = node.on_error.as_ref().and_then(|f| f.goto()) {
        for (key, source) in &goto.output {
            push(strings(&["on_error", "output", key]), source, SiteKind::Expression, with("error"));
        }
    }
    if let Some(goto) = node.on_limit.as_ref().and_then(|f| f.goto()) {
        for (key, source) in &goto.output {
            push(strings(&["on_limit", "output", key]), source, SiteKind::Expression, names.clone());
        }
    }
    let vars: BTreeSet<String> = node.vars.keys().cloned().collect();
    for (i, message) in node.messages.iter().flatten().enumerate() {
        let base = strings(&["messages", &i.to_string(), "content"]);
        match &message.content {
            Content::Text(text) => push(base, text, SiteKind::PromptTemplate, vars.clone()),
            Content::Parts(parts) => {
                for (j, part) in parts.iter().enumerate() {
                    let (Part::Text(text) | Part::Image(text)) = part;
                    let mut path = base.clone();
                    path.push(j.to_string());
                    push(path, text, SiteKind::PromptTemplate, vars.clone());
                }
            }
        }
    }
    if let Some(tool) = &node.tool {
        for (key, source) in &tool.args {
            push(strings(&["tool", "args", key]), source, SiteKind::Expression, names.clone());
        }
        for (i, arg) in tool.exec.iter().flatten().enumerate() {
            push(strings(&["tool", "exec", &i.to_string()]), arg, SiteKind::Template, names.clone());
        }
        if let Some(stdin) = &tool.stdin {
            push(strings(&["tool", "stdin"]), stdin, SiteKind::Expression, names.clone());
        }
        if let Some(http) = &tool.http {
            push(strings(&["tool", "http", "url"]), &http.url, SiteKind::Template, names.clone());
            for (key, value) in &http.headers {
                push(strings(&["tool", "http", "headers", key]), value, SiteKind::Template, names.clone());
            }
            if let Some(body) = &http.body {
                push(strings(&["tool", "http", "body"]), body, SiteKind::Expression, names.clone());
            }
        }
    }
}
