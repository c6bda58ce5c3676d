//! The Python text of an export: the typed state class, the frozen spec as a Python literal,
//! the explicit graph wiring of each workflow, and EXPORT_NOTES.md.

use std::fmt::Write as _;

use serde_json::Value;

use super::{annotation, graph_names, ident, possible_targets};
use crate::workflow::compile::Compiled;
use crate::workflow::graph::START;

/// A JSON value as a Python literal (`None`, `True`, `False`, dicts, lists, strings).
pub fn literal(value: &Value, indent: usize) -> String {
    let pad = "    ".repeat(indent + 1);
    let close = "    ".repeat(indent);
    match value {
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::Number(n) => n.to_string(),
        // JSON string escapes are valid Python escapes.
        Value::String(s) => serde_json::to_string(s).unwrap_or_default(),
        Value::Array(items) if items.is_empty() => "[]".to_owned(),
        Value::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
            format!("[{}]", items.iter().map(|i| literal(i, indent)).collect::<Vec<_>>().join(", "))
        }
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(|i| format!("{pad}{}", literal(i, indent + 1))).collect();
            format!("[\n{},\n{close}]", inner.join(",\n"))
        }
        Value::Object(map) if map.is_empty() => "{}".to_owned(),
        Value::Object(map) => {
            let inner: Vec<String> = map
                .iter()
                .map(|(k, v)| {
                    format!("{pad}{}: {}", serde_json::to_string(k).unwrap_or_default(), literal(v, indent + 1))
                })
                .collect();
            format!("{{\n{},\n{close}}}", inner.join(",\n"))
        }
    }
}

fn quote(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

fn class_name(name: &str) -> String {
    let mut out = String::new();
    for part in name.split(|c: char| !c.is_ascii_alphanumeric()).filter(|p| !p.is_empty()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars);
        }
    }
    format!("{out}State")
}

/// The state class, spec and builder of one workflow; the main one also defines `graph` and
/// `make_input`.
pub fn workflow_code(compiled: &Compiled, spec: &Value, main: bool) -> String {
    let file = compiled.file();
    let id = ident(&file.name);
    let upper = id.to_ascii_uppercase();
    let class = class_name(&file.name);
    let names = graph_names(compiled);
    let mut out = format!("# -- workflow `{}` {}\n\n", file.name, "-".repeat(70usize.saturating_sub(file.name.len())));
    let _ = writeln!(out, "class {class}(TypedDict, total=False):");
    for (key, spec) in &file.state {
        let _ = writeln!(out, "    {key}: {}", annotation(spec.kind, spec.reducer));
    }
    out.push_str("    _promptops_visits: Annotated[dict, _counts]\n    _promptops_route: Annotated[dict, _merge]\n");
    out.push_str("    _promptops_inputs: Optional[dict]\n    _promptops_item: Optional[dict]\n\n\n");
    let _ = writeln!(out, "SPEC_{upper} = {}\n\n", literal(spec, 0));
    let subgraphs: Vec<String> = compiled
        .nodes
        .iter()
        .filter_map(|(n, node)| node.subgraph.as_ref().map(|c| (n, c)))
        .map(|(n, child)| {
            let child_id = ident(&child.file().name);
            format!("{}: (build_{child_id}(model_factory), SPEC_{})", quote(n), child_id.to_ascii_uppercase())
        })
        .collect();
    let _ = writeln!(out, "def build_{id}(model_factory: Optional[Callable] = None, checkpointer: Any = None):");
    let _ = writeln!(out, "    \"\"\"The LangGraph graph of workflow `{}`.\"\"\"", file.name);
    let _ = writeln!(out, "    rt = _Runtime(SPEC_{upper}, model_factory, {{{}}})", subgraphs.join(", "));
    let _ = writeln!(out, "    builder = StateGraph({class})");
    out.push_str("    builder.add_node(\"promptops_defaults\", rt.defaults)\n");
    for (name, node) in &file.nodes {
        let defer = if node.defer { ", defer=True" } else { "" };
        let _ = writeln!(out, "    builder.add_node({}, rt.node({}){defer})", quote(&names[name]), quote(name));
    }
    out.push_str("    builder.add_edge(START, \"promptops_defaults\")\n");
    let start_targets = possible_targets(compiled, START, &names);
    let _ = writeln!(
        out,
        "    builder.add_conditional_edges(\"promptops_defaults\", rt.route(START), {})",
        targets(&start_targets)
    );
    for (name, node) in &file.nodes {
        let _ = writeln!(
            out,
            "    builder.add_conditional_edges({}, rt.route({}), {})",
            quote(&names[name]),
            quote(name),
            targets(&possible_targets(compiled, name, &names))
        );
        if !node.wait_for.is_empty() {
            let waited: Vec<String> = node.wait_for.iter().map(|w| quote(&names[w])).collect();
            let _ = writeln!(out, "    builder.add_edge([{}], {})", waited.join(", "), quote(&names[name]));
        }
    }
    // promptops counts its own steps; LangGraph also counts the defaults step.
    let limit = file.limits.max_steps() + 2;
    let _ = writeln!(
        out,
        "    return builder.compile(checkpointer=checkpointer).with_config({{\"recursion_limit\": {limit}}})"
    );
    if main {
        let _ = write!(
            out,
            "\n\ndef make_input(values: dict) -> dict:\n    \"\"\"The graph input: the workflow's input keys.\"\"\"\n    return make_input_for(SPEC_{upper}, values)\n\n\nbuild = build_{id}\ngraph = build_{id}()\n"
        );
    }
    out
}

fn targets(names: &[String]) -> String {
    let items: Vec<String> = names.iter().map(|n| if n == "END" { "END".to_owned() } else { quote(n) }).collect();
    format!("[{}]", items.join(", "))
}

/// EXPORT_NOTES.md: what the export keeps, and what does not survive it.
pub fn notes(name: &str, offline: &[String]) -> String {
    let mut text = format!(
        "# Export notes: `{name}` as a LangGraph app\n\n\
        Generated by `promptops workflow export {name} --to langgraph`. This is a one-way export: edits here do\n\
        not flow back into the promptops workflow.\n\n\
        ## Kept\n\n\
        - The state, with a reducer per key (replace, append, merge, add, max, min, messages), and the `input` keys.\n\
        - Every node, its `vars`, `output` writes, `retry` (all failures are retried, inside the node), `on_error`\n  \
        gotos, `timeout_s` of tools, JSON parsing and the JSON Schema check.\n\
        - Prompt texts, frozen as they resolved at export time (labels such as `@production` are not looked up again),\n  \
        with their partials.\n\
        - Edges, branches (conditions kept as text, evaluated with jinja2's `compile_expression`), router routes,\n  \
        map fan-outs (`Send`), `wait_for` joins (`add_edge([...], node)`), `defer`, `max_visits` and `on_limit`\n  \
        gotos (checked in the routing functions), `limits.max_steps` (as `recursion_limit`, plus two steps for the\n  \
        defaults step), human nodes (`interrupt()`; resume with `Command(resume=value)`), and subgraphs (invoked\n  \
        inside a wrapper node with the same explicit mapping).\n\n\
        ## Does not survive\n\n\
        - promptops' inference layer: rate limits, concurrency limits, provider retries with backoff, the response\n  \
        cache, token and cost accounting, and budgets. Models come from `model_factory(node, model)`, by default\n  \
        `init_chat_model(\"provider:model\")`; model parameters (temperature, max tokens) are not passed on.\n\
        - Offline providers (`mock`, `echo`, `exec`) have no LangGraph equivalent: give those nodes a model through\n  \
        `build_*(model_factory=...)`.\n\
        - Checkpoints: promptops stores per-step deltas with periodic snapshots in its own store; here, compile with\n  \
        a LangGraph checkpointer (`build_*(checkpointer=SqliteSaver(...))`) and pass a `thread_id`.\n\
        - Branch timing: promptops evaluates branch conditions on the state after the whole step; LangGraph's\n  \
        routing functions see the node's own writes but not those of other nodes of the same step. The two differ\n  \
        only when a condition reads a key that a sibling writes in the same step (`promptops workflow validate`\n  \
        warns about that).\n\
        - `on_limit` writes (`on_limit.output`) are dropped: a routing function cannot write state.\n\
        - A `wait_for` node that is also reached by an edge from a node it does not wait for runs when that edge\n  \
        fires (LangGraph joins only count the listed nodes).\n\
        - minijinja and jinja2 differ in corner cases (filters that only one of them has, integer division,\n  \
        string formatting of floats). Expressions are evaluated on attribute-style views of dicts, so `state.items`\n  \
        reads the key `items` as in promptops.\n\
        - Image parts of prompt messages are dropped (text parts are kept).\n\
        - `exec` tools run through `subprocess` and `http` tools through `urllib`, with no server-side allow-list.\n"
    );
    if !offline.is_empty() {
        let _ = write!(
            text,
            "\n## Nodes that need a `model_factory`\n\nThese used an offline provider: {}.\n",
            offline.join(", ")
        );
    }
    text
}
