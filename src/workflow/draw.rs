//! Drawings of a workflow's graph: Mermaid (the format LangGraph's `draw_mermaid` uses, which
//! GitHub and most Markdown viewers render) and Graphviz DOT. Plain edges are solid, branch
//! cases and routes dashed with their condition or label, map fan-outs thick, `on_error` and
//! `on_limit` gotos dotted. Nodes are shaped by type and show their `max_visits` bound.

use std::fmt::Write as _;

use super::graph::{END, Node, NodeKind, START, WorkflowFile};
use super::topology::{Topology, Via};

/// Mermaid `flowchart` text.
pub fn mermaid(file: &WorkflowFile) -> String {
    let mut out = format!("---\ntitle: {}\n---\nflowchart TD\n", file.name);
    let _ = writeln!(out, "    {START}([{START}]):::first");
    for (name, node) in &file.nodes {
        let label = mermaid_text(&node_label(name, node));
        let shape = match node.kind {
            NodeKind::Prompt => format!("[\"{label}\"]"),
            NodeKind::Tool => format!("[[\"{label}\"]]"),
            NodeKind::Router => format!("{{\"{label}\"}}"),
            NodeKind::Human => format!("[/\"{label}\"/]"),
            NodeKind::Subgraph => format!("[[\"{label}\"]]"),
        };
        let _ = writeln!(out, "    {}{shape}", id(name));
    }
    let _ = writeln!(out, "    {END}([{END}]):::last");
    for arc in &Topology::of(file).arcs {
        let (from, to) = (id(&arc.from), id(&arc.to));
        let line = match edge_label(file, arc) {
            None if arc.via == Via::Map => format!("{from} ==> {to}"),
            None => format!("{from} --> {to}"),
            Some(text) => {
                let text = mermaid_text(&text);
                match arc.via {
                    Via::Map => format!("{from} == \"{text}\" ==> {to}"),
                    Via::Edge => format!("{from} -- \"{text}\" --> {to}"),
                    _ => format!("{from} -. \"{text}\" .-> {to}"),
                }
            }
        };
        let _ = writeln!(out, "    {line}");
    }
    out.push_str("    classDef default fill:#f2f0ff,line-height:1.2\n");
    out.push_str("    classDef first fill-opacity:0\n");
    out.push_str("    classDef last fill:#bfb6fc\n");
    out
}

/// Graphviz DOT text.
pub fn dot(file: &WorkflowFile) -> String {
    let mut out = format!("digraph {} {{\n", quote(&file.name));
    out.push_str("    rankdir=TB;\n    node [fontname=\"Helvetica\", style=filled, fillcolor=\"#f2f0ff\"];\n");
    let _ = writeln!(out, "    {START} [shape=circle, fillcolor=white];");
    let _ = writeln!(out, "    {END} [shape=doublecircle, fillcolor=\"#bfb6fc\"];");
    for (name, node) in &file.nodes {
        let shape = match node.kind {
            NodeKind::Prompt => "box",
            NodeKind::Tool => "component",
            NodeKind::Router => "diamond",
            NodeKind::Human => "parallelogram",
            NodeKind::Subgraph => "box3d",
        };
        let _ = writeln!(out, "    {} [shape={shape}, label={}];", quote(name), quote(&node_label(name, node)));
    }
    for arc in &Topology::of(file).arcs {
        let style = match arc.via {
            Via::Edge => "solid",
            Via::When(_) | Via::Else | Via::Route(_) => "dashed",
            Via::Map => "bold",
            Via::OnError | Via::OnLimit => "dotted",
        };
        let label = edge_label(file, arc).map(|l| format!(", label={}", quote(&l))).unwrap_or_default();
        let _ = writeln!(out, "    {} -> {} [style={style}{label}];", quote(&arc.from), quote(&arc.to));
    }
    out.push_str("}\n");
    out
}

fn node_label(name: &str, node: &Node) -> String {
    let mut label = format!("{name}\n{}", node.kind.as_str());
    if let Some(prompt) = &node.prompt {
        let _ = write!(label, ": {prompt}");
    } else if let Some(workflow) = &node.workflow {
        let _ = write!(label, ": {workflow}");
    }
    if let Some(max) = node.max_visits {
        let _ = write!(label, " ≤{max}");
    }
    label
}

fn edge_label(file: &WorkflowFile, arc: &super::topology::Arc) -> Option<String> {
    let edge = arc.edge.and_then(|i| file.edges.get(i));
    match &arc.via {
        Via::Edge => None,
        Via::When(case) => edge.and_then(|e| e.branch.as_ref()).and_then(|b| b.get(*case)).and_then(|c| c.when.clone()),
        Via::Else => Some("else".to_owned()),
        Via::Map => edge.and_then(|e| e.map.as_ref()).map(|m| format!("map {}", m.over)),
        Via::Route(label) => Some(label.clone()),
        Via::OnError => Some("on_error".to_owned()),
        Via::OnLimit => Some("on_limit".to_owned()),
    }
}

/// Mermaid ids may not contain `-`; names with other characters are rejected by validation.
fn id(name: &str) -> String {
    name.replace('-', "_")
}

/// Text inside a quoted Mermaid label: quotes as entities, newlines as `<br/>`.
fn mermaid_text(text: &str) -> String {
    text.replace('"', "#quot;").replace('\n', "<br/>")
}

fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n"))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const SMALL: &str = "version: 1\nname: small\nstate: { ok: { type: boolean, default: true } }\nnodes:\n  check: { type: tool, tool: { builtin: echo }, max_visits: 2 }\n  ask-human: { type: human }\nedges:\n  - { from: START, to: check }\n  - { from: check, branch: [ { when: \"state.ok\", to: END }, { else: ask-human } ] }\n  - { from: ask-human, to: check }\n";

    fn file() -> WorkflowFile {
        crate::yaml::from_str(Path::new("w.yaml"), SMALL).expect("parses")
    }

    #[test]
    fn mermaid_shows_shapes_conditions_and_bounds() {
        insta::assert_snapshot!(mermaid(&file()), @r#"
        ---
        title: small
        ---
        flowchart TD
            START([START]):::first
            ask_human[/"ask-human<br/>human"/]
            check[["check<br/>tool ≤2"]]
            END([END]):::last
            START --> check
            check -. "state.ok" .-> END
            check -. "else" .-> ask_human
            ask_human --> check
            classDef default fill:#f2f0ff,line-height:1.2
            classDef first fill-opacity:0
            classDef last fill:#bfb6fc
        "#);
    }

    #[test]
    fn dot_quotes_names_and_labels() {
        let text = dot(&file());
        assert!(text.contains("\"check\" -> \"END\" [style=dashed, label=\"state.ok\"];"), "{text}");
        assert!(text.contains("\"ask-human\" [shape=parallelogram, label=\"ask-human\\nhuman\"];"), "{text}");
    }
}
