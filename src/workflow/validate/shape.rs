//! Shape rules: the version, names, which fields each node type takes, state types and
//! reducers, tool specs, edges (one kind each, branches ending in `else`), references to nodes,
//! and every expression compiling and using only names that exist where it is evaluated.

use std::collections::BTreeSet;

use super::Checker;
use crate::error::{did_you_mean, list_names};
use crate::workflow::expr::{Exprs, reads_of_expression, reads_of_template};
use crate::workflow::graph::{END, FORMAT_VERSION, Node, NodeKind, START, ToolSpec};
use crate::workflow::sites::{SiteKind, sites};

pub(super) fn check(c: &mut Checker<'_>) {
    header(c);
    state(c);
    let names: Vec<String> = c.file().nodes.keys().cloned().collect();
    for name in &names {
        let node = &c.file().nodes[name];
        node_fields(c, name, node);
        node_values(c, name, node);
        node_refs(c, name, node);
    }
    edges(c);
    expressions(c);
}

fn header(c: &mut Checker<'_>) {
    let file = c.file();
    if file.version != FORMAT_VERSION {
        c.error(
            &["version"],
            format!("unsupported workflow version `{}`", file.version),
            vec![format!("this promptops reads `version: {FORMAT_VERSION}`")],
        );
    }
    if let Some(stem) = &c.workflow.stem
        && stem != &file.name
    {
        c.error(
            &["name"],
            format!("workflow name `{}` does not match its file name `{stem}`", file.name),
            vec![format!("set `name: {stem}`, or rename the file")],
        );
    }
    for (list, keys) in [("input", &file.input), ("output", &file.output)] {
        for (i, key) in keys.iter().enumerate() {
            if !file.state.contains_key(key) {
                let known: Vec<&str> = file.state.keys().map(String::as_str).collect();
                let mut hints: Vec<String> = did_you_mean(key, known.iter().copied()).into_iter().collect();
                hints.push(format!("declare it under `state:`; state keys: {}", list_names(&known)));
                c.error(&[list, &i.to_string()], format!("`{list}` lists `{key}`, which is not a state key"), hints);
            }
        }
    }
    if file.limits.max_steps == Some(0) {
        c.error(&["limits", "max_steps"], "`limits.max_steps` must be at least 1", Vec::new());
    }
}

/// Whether `name` can be read as `state.name` in an expression.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn state(c: &mut Checker<'_>) {
    let keys: Vec<(String, crate::workflow::graph::StateKey)> =
        c.file().state.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    for (name, key) in keys {
        if !is_identifier(&name) {
            c.error(
                &["state", &name],
                format!("state key `{name}` is not a valid name"),
                vec!["use letters, digits and `_`, starting with a letter, so that `state.NAME` works".to_owned()],
            );
        }
        if let Some(fits) = key.reducer.fits()
            && !fits.contains(&key.kind)
        {
            let wants = match key.reducer.as_str() {
                "append" | "messages" => "an array",
                "merge" => "an object",
                "add" => "a number",
                _ => "a number or string",
            };
            c.error(
                &["state", &name, "reducer"],
                format!(
                    "reducer `{}` needs {wants} key, but `{name}` is of type {}",
                    key.reducer.as_str(),
                    key.kind.as_str()
                ),
                vec!["change the key's `type` or pick another reducer".to_owned()],
            );
        }
        if let Some(default) = &key.default
            && !key.kind.accepts(default)
        {
            c.error(
                &["state", &name, "default"],
                format!("the default of `{name}` is not of type {}", key.kind.as_str()),
                Vec::new(),
            );
        }
        if let Some(items) = &key.items
            && let Err(why) = crate::json_schema::check_json_schema(items)
        {
            c.error(
                &["state", &name, "items"],
                format!("`items` of `{name}` is not a valid JSON Schema: {why}"),
                Vec::new(),
            );
        }
    }
}

/// The fields every node type takes.
const COMMON: &[&str] = &[
    "type",
    "description",
    "output",
    "retry",
    "timeout_s",
    "cache",
    "on_error",
    "max_visits",
    "on_limit",
    "wait_for",
    "defer",
];
const MODEL: &[&str] = &["prompt", "messages", "provider", "params", "vars", "parse", "schema", "cache"];

fn allowed(kind: NodeKind) -> Vec<&'static str> {
    let mut fields = COMMON.to_vec();
    match kind {
        NodeKind::Prompt => fields.extend_from_slice(MODEL),
        NodeKind::Router => {
            fields.extend_from_slice(MODEL);
            fields.extend_from_slice(&["label", "routes"]);
        }
        NodeKind::Tool => fields.push("tool"),
        NodeKind::Human => fields.extend_from_slice(&["message", "schema"]),
        NodeKind::Subgraph => fields.extend_from_slice(&["workflow", "input"]),
    }
    fields
}

fn node_fields(c: &mut Checker<'_>, name: &str, node: &Node) {
    if name == START || name == END {
        c.error(
            &["nodes", name],
            format!("`{name}` is reserved and cannot be a node name"),
            vec!["rename the node".to_owned()],
        );
    } else if !name.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-') {
        c.error(
            &["nodes", name],
            format!("node name `{name}` may only use letters, digits, `_` and `-`"),
            vec!["node names become Python identifiers on export and keys of `visits`".to_owned()],
        );
    }
    let kind = node.kind.as_str();
    let allowed = allowed(node.kind);
    let set: Vec<String> = match serde_json::to_value(node) {
        Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    };
    for field in set.iter().filter(|f| !allowed.contains(&f.as_str())) {
        let own: Vec<&str> = allowed.iter().copied().filter(|f| !COMMON.contains(f)).collect();
        c.error(
            &["nodes", name, field],
            format!("`{field}` does not apply to a {kind} node"),
            vec![format!("a {kind} node takes {} besides the common fields", list_names(&own))],
        );
    }
    let model = matches!(node.kind, NodeKind::Prompt | NodeKind::Router);
    if model && node.prompt.is_some() && node.messages.is_some() {
        c.error(
            &["nodes", name, "messages"],
            format!("node `{name}` has both `prompt` and `messages`"),
            vec!["keep one: a registry ref or an inline prompt".to_owned()],
        );
    }
    let missing = match node.kind {
        NodeKind::Prompt if node.prompt.is_none() && node.messages.is_none() => {
            Some("`prompt` (a registry ref) or `messages` (an inline prompt)")
        }
        NodeKind::Router if node.routes.is_empty() => Some("`routes` (each label and its target)"),
        NodeKind::Router if node.label.is_none() && !node.calls_model() => {
            Some("`label` (an expression) or a prompt that picks the label")
        }
        NodeKind::Tool if node.tool.is_none() => Some("`tool` (`builtin`, `exec` or `http`)"),
        NodeKind::Subgraph if node.workflow.is_none() => Some("`workflow` (the workflow to run)"),
        _ => None,
    };
    if let Some(what) = missing {
        c.error(&["nodes", name], format!("{kind} node `{name}` needs {what}"), Vec::new());
    }
}

fn node_values(c: &mut Checker<'_>, name: &str, node: &Node) {
    let at = |field: &'static str| ["nodes", name, field];
    if node.max_visits == Some(0) {
        c.error(&at("max_visits"), "`max_visits` must be at least 1", Vec::new());
    }
    if node.retry.as_ref().is_some_and(|r| r.max_attempts == 0) {
        c.error(&at("retry"), "`retry.max_attempts` must be at least 1 (it counts the first attempt)", Vec::new());
    }
    if node.timeout_s.is_some_and(|t| !t.is_finite() || t <= 0.0) {
        c.error(&at("timeout_s"), "`timeout_s` must be a positive number of seconds", Vec::new());
    }
    if let Some(schema) = &node.schema
        && let Err(why) = crate::json_schema::check_json_schema(schema)
    {
        c.error(&at("schema"), format!("`schema` of node `{name}` is not a valid JSON Schema: {why}"), Vec::new());
    }
    if node.kind == NodeKind::Prompt
        && node.schema.is_some()
        && node.parse != Some(crate::workflow::graph::ParseMode::Json)
    {
        c.error(
            &at("schema"),
            format!("node `{name}` has a `schema` but does not `parse: json`"),
            vec!["add `parse: json`".to_owned()],
        );
    }
    for key in node
        .output
        .keys()
        .chain(node.on_error.iter().chain(&node.on_limit).filter_map(|f| f.goto()).flat_map(|g| g.output.keys()))
    {
        if !c.file().state.contains_key(key) {
            let known: Vec<&str> = c.file().state.keys().map(String::as_str).collect();
            let mut hints: Vec<String> = did_you_mean(key, known.iter().copied()).into_iter().collect();
            hints.push(format!("declare it under `state:`; state keys: {}", list_names(&known)));
            c.error(
                &["nodes", name, "output", key],
                format!("node `{name}` writes `{key}`, which is not a state key"),
                hints,
            );
        }
    }
    if let Some(tool) = &node.tool {
        tool_spec(c, name, tool);
    }
}

fn tool_spec(c: &mut Checker<'_>, name: &str, tool: &ToolSpec) {
    let at = ["nodes", name, "tool"];
    let kinds = [tool.builtin.is_some(), tool.exec.is_some(), tool.http.is_some()].into_iter().filter(|k| *k).count();
    if kinds != 1 {
        c.error(&at, format!("tool of node `{name}` needs exactly one of `builtin`, `exec` or `http`"), Vec::new());
        return;
    }
    if tool.exec.as_ref().is_some_and(Vec::is_empty) {
        c.error(
            &["nodes", name, "tool", "exec"],
            "`exec` needs at least the command",
            vec!["e.g. `exec: [wc, -w]`".to_owned()],
        );
    }
    let exec_only = [("shell", tool.shell), ("stdin", tool.stdin.is_some())];
    for (field, set) in exec_only {
        if set && tool.exec.is_none() {
            c.error(&["nodes", name, "tool", field], format!("`{field}` only applies to `exec` tools"), Vec::new());
        }
    }
    if !tool.args.is_empty() && tool.builtin.is_none() {
        c.error(&["nodes", name, "tool", "args"], "`args` only applies to `builtin` tools", Vec::new());
    }
    use crate::workflow::graph::Builtin;
    let needs = match tool.builtin {
        Some(Builtin::Join) => Some("parts"),
        Some(Builtin::Json) => Some("text"),
        _ => None,
    };
    if let (Some(arg), Some(builtin)) = (needs, tool.builtin)
        && !tool.args.contains_key(arg)
    {
        c.error(
            &["nodes", name, "tool", "args"],
            format!("built-in `{}` needs the argument `{arg}`", builtin.as_str()),
            Vec::new(),
        );
    }
}

/// A target name must be a node or `END` (`allow_end`).
fn target(c: &mut Checker<'_>, path: &[&str], target: &str, allow_end: bool, role: &str) {
    let exists = c.file().nodes.contains_key(target) || (allow_end && target == END);
    if exists {
        return;
    }
    let mut known: Vec<&str> = c.file().nodes.keys().map(String::as_str).collect();
    if allow_end {
        known.push(END);
    }
    let mut hints: Vec<String> = did_you_mean(target, known.iter().copied()).into_iter().collect();
    hints.push(format!("nodes: {}", list_names(&known)));
    c.error(path, format!("{role} `{target}`, which is not a node"), hints);
}

fn node_refs(c: &mut Checker<'_>, name: &str, node: &Node) {
    for (label, to) in &node.routes {
        target(c, &["nodes", name, "routes", label], to, true, &format!("route `{label}` of router `{name}` goes to"));
    }
    for (i, member) in node.wait_for.iter().enumerate() {
        if member == name {
            c.error(
                &["nodes", name, "wait_for", &i.to_string()],
                format!("node `{name}` waits for itself"),
                Vec::new(),
            );
        } else {
            target(c, &["nodes", name, "wait_for", &i.to_string()], member, false, &format!("node `{name}` waits for"));
        }
    }
    for (field, fallback) in [("on_error", &node.on_error), ("on_limit", &node.on_limit)] {
        if let Some(goto) = fallback.as_ref().and_then(|f| f.goto()) {
            target(
                c,
                &["nodes", name, field, "goto"],
                &goto.goto,
                true,
                &format!("`{field}` of node `{name}` goes to"),
            );
        }
    }
    if node.on_limit.is_some() && node.max_visits.is_none() {
        c.error(
            &["nodes", name, "on_limit"],
            format!("node `{name}` has `on_limit` but no `max_visits`"),
            vec!["add `max_visits: N`".to_owned()],
        );
    }
}

fn edges(c: &mut Checker<'_>) {
    let edges = c.file().edges.clone();
    let routers: BTreeSet<&str> =
        c.file().nodes.iter().filter(|(_, n)| n.kind == NodeKind::Router).map(|(k, _)| k.as_str()).collect();
    let routers: BTreeSet<String> = routers.into_iter().map(ToOwned::to_owned).collect();
    for (i, edge) in edges.iter().enumerate() {
        let index = i.to_string();
        if edge.from != START {
            target(c, &["edges", &index, "from"], &edge.from, false, "an edge leaves");
        }
        if routers.contains(&edge.from) {
            c.error(
                &["edges", &index],
                format!("router `{}` has an edge; its targets come from its `routes`", edge.from),
                vec!["remove this edge and list the target under the router's `routes`".to_owned()],
            );
        }
        let kinds = [edge.to.is_some(), edge.branch.is_some(), edge.map.is_some()].into_iter().filter(|k| *k).count();
        if kinds != 1 {
            c.error(
                &["edges", &index],
                format!("edge from `{}` needs exactly one of `to`, `branch` or `map`", edge.from),
                Vec::new(),
            );
        }
        for to in edge.to.iter().flat_map(|t| t.names()) {
            target(c, &["edges", &index, "to"], to, true, "an edge goes to");
        }
        if let Some(map) = &edge.map {
            target(c, &["edges", &index, "map", "to"], &map.to, false, "a map goes to");
        }
        if let Some(cases) = &edge.branch {
            branch(c, &index, &edge.from, cases);
        }
    }
}

fn branch(c: &mut Checker<'_>, index: &str, from: &str, cases: &[crate::workflow::graph::BranchCase]) {
    let at = ["edges", index, "branch"];
    for (j, case) in cases.iter().enumerate() {
        let j_text = j.to_string();
        let path = ["edges", index, "branch", j_text.as_str()];
        let is_else = case.otherwise.is_some();
        let is_when = case.when.is_some() || case.to.is_some();
        if is_else && is_when {
            c.error(&path, "a branch case is either `{ when, to }` or `{ else }`, not both", Vec::new());
        } else if case.when.is_some() != case.to.is_some() && !is_else {
            c.error(&path, "a branch case needs both `when` and `to`", Vec::new());
        }
        if is_else && j + 1 != cases.len() {
            c.error(&path, format!("the `else` of the branch from `{from}` must be its last case"), Vec::new());
        }
        for to in case.to.iter().chain(&case.otherwise).flat_map(|t| t.names()) {
            target(c, &path, to, true, "a branch goes to");
        }
    }
    if cases.last().is_none_or(|case| case.otherwise.is_none()) {
        c.error(
            &at,
            format!("branch from `{from}` has no `else`"),
            vec!["end the list with `- { else: END }` (or another target): every branch must say where to go when no case holds".to_owned()],
        );
    }
}

fn expressions(c: &mut Checker<'_>) {
    let file = c.file();
    let state_keys: BTreeSet<&str> = file.state.keys().map(String::as_str).collect();
    let inputs: BTreeSet<&str> = file.input.iter().map(String::as_str).collect();
    let mut exprs = Exprs::new();
    for site in sites(file) {
        let compiled = match site.kind {
            SiteKind::Expression => exprs.add_expression(&site.source).map(|_| ()),
            SiteKind::Template | SiteKind::PromptTemplate => exprs.add_template(&site.source).map(|_| ()),
        };
        let path = site.key_path();
        if let Err(why) = compiled {
            let what = if site.kind == SiteKind::Expression { "expression" } else { "template" };
            c.error(&path, format!("{what} `{}` does not compile: {why}", site.source), Vec::new());
            continue;
        }
        let reads = match site.kind {
            SiteKind::Expression => reads_of_expression(&site.source),
            _ => reads_of_template(&site.source),
        };
        for read in reads {
            let mut parts = read.split('.');
            let root = parts.next().unwrap_or_default();
            let key = parts.next();
            if site.kind == SiteKind::PromptTemplate {
                if !site.names.contains(root) {
                    c.error(
                        &path,
                        format!("the inline prompt uses variable `{root}`, which `vars` does not supply"),
                        vec![format!("add `{root}: <expression>` under the node's `vars`")],
                    );
                }
                continue;
            }
            if !site.names.contains(root) {
                let names: Vec<&String> = site.names.iter().collect();
                let mut hints: Vec<String> =
                    did_you_mean(root, site.names.iter().map(String::as_str)).into_iter().collect();
                hints.push(format!("names available here: {}", list_names(&names)));
                c.error(&path, format!("`{}` uses unknown name `{root}`", site.source), hints);
                continue;
            }
            let (known, what): (BTreeSet<&str>, &str) = match root {
                "state" => (state_keys.clone(), "a state key"),
                "inputs" => (inputs.clone(), "an input"),
                "visits" => (file.nodes.keys().map(String::as_str).collect(), "a node"),
                _ => continue,
            };
            if let Some(key) = key
                && !known.contains(key)
            {
                let mut hints: Vec<String> = did_you_mean(key, known.iter().copied()).into_iter().collect();
                hints.push(format!("known: {}", list_names(&known.iter().collect::<Vec<_>>())));
                c.error(&path, format!("`{}` reads `{root}.{key}`, which is not {what}", site.source), hints);
            }
        }
    }
}
