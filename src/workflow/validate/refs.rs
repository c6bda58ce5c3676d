//! Reference and capability rules: prompt refs resolve and receive every variable they need;
//! a router's prompt can only answer labels that have routes; subgraph files exist, do not
//! include themselves and map keys that exist on both sides; `exec` tools are allowed by the
//! server's policy; `human` nodes have checkpoints to pause into.

use std::collections::BTreeSet;
use std::path::PathBuf;

use futures::future::BoxFuture;

use super::{Checker, References, check_structure};
use crate::error::list_names;
use crate::prompt::{LoadedPrompt, PromptRef};
use crate::workflow::graph::{Durability, Node, NodeKind};
use crate::workflow::tool::program_of;

pub(super) fn check<'a>(
    c: &'a mut Checker<'_>,
    refs: References<'a>,
    stack: &'a mut Vec<PathBuf>,
) -> BoxFuture<'a, ()> {
    Box::pin(async move {
        stack.push(c.workflow.origin.clone());
        let nodes: Vec<(String, Node)> = c.file().nodes.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        for (name, node) in &nodes {
            capabilities(c, refs, name, node);
            if let (Some(text), Some(source)) = (&node.prompt, refs.prompts) {
                let Ok(reference) = text.parse::<PromptRef>() else {
                    c.error(
                        &["nodes", name, "prompt"],
                        format!("`{text}` is not a prompt ref"),
                        vec!["refs look like `name`, `name@3` or `name@production`".to_owned()],
                    );
                    continue;
                };
                match source.load(&reference).await {
                    Ok(prompt) => prompt_variables(c, name, node, &prompt, text),
                    Err(err) => {
                        let mut hints = err.hints.clone();
                        hints.push(format!("used by node `{name}`"));
                        c.error(&["nodes", name, "prompt"], err.message.clone(), hints);
                    }
                }
            }
            if let (Some(reference), Some(_)) = (&node.workflow, refs.catalog) {
                subgraph(c, refs, name, node, reference, stack).await;
            }
        }
        stack.pop();
    })
}

fn capabilities(c: &mut Checker<'_>, refs: References<'_>, name: &str, node: &Node) {
    if node.kind == NodeKind::Human && c.file().checkpoint.durability == Durability::None {
        c.error(
            &["nodes", name],
            format!("human node `{name}` needs checkpoints to pause into, but `checkpoint.durability` is `none`"),
            vec!["set `checkpoint: { durability: sync }` (the default)".to_owned()],
        );
    }
    let Some(policy) = refs.exec else { return };
    let Some(tool) = &node.tool else { return };
    let Some(program) = program_of(tool) else { return };
    if !policy.allows(&program) {
        c.error(
            &["nodes", name, "tool", "exec"],
            format!("node `{name}` runs `{program}`, which this server does not allow"),
            vec![format!(
                "the server runs only the commands listed in {} (comma-separated), e.g. `{}={program}`",
                crate::env::ALLOW_EXEC,
                crate::env::ALLOW_EXEC
            )],
        );
    }
}

fn prompt_variables(c: &mut Checker<'_>, name: &str, node: &Node, prompt: &LoadedPrompt, text: &str) {
    for (variable, spec) in &prompt.file.variables {
        if spec.is_required() && !node.vars.contains_key(variable) {
            c.error(
                &["nodes", name, "vars"],
                format!("prompt `{text}` needs variable `{variable}`, which node `{name}` does not supply"),
                vec![format!(
                    "add `{variable}: <expression>` under `nodes.{name}.vars`, e.g. `{variable}: state.{variable}`"
                )],
            );
        }
    }
    for passed in node.vars.keys().filter(|v| !prompt.file.variables.contains_key(*v)) {
        let declared: Vec<&String> = prompt.file.variables.keys().collect();
        c.warn(
            &["nodes", name, "vars", passed],
            format!("node `{name}` passes `{passed}`, which prompt `{text}` does not declare (it is ignored)"),
            vec![format!("the prompt declares {}", list_names(&declared))],
        );
    }
    if node.kind == NodeKind::Router {
        router_labels(c, name, node, prompt);
    }
}

/// The labels a router's prompt can answer, when its schema says so: `label: result.json.FIELD`
/// with an `enum` for `FIELD`.
fn router_labels(c: &mut Checker<'_>, name: &str, node: &Node, prompt: &LoadedPrompt) {
    let Some(field) = node.label.as_deref().map(str::trim).and_then(|l| l.strip_prefix("result.json.")) else { return };
    let schema = node.schema.as_ref().or(prompt.file.response_schema.as_ref());
    let Some(values) = schema.and_then(|s| s.pointer(&format!("/properties/{field}/enum"))).and_then(|e| e.as_array())
    else {
        return;
    };
    let answers: BTreeSet<String> =
        values.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), ToOwned::to_owned)).collect();
    for label in answers.iter().filter(|l| !node.routes.contains_key(*l)) {
        c.error(
            &["nodes", name, "routes"],
            format!("router `{name}` can answer `{label}`, which has no route"),
            vec![format!("add `{label}: <node or END>` under `nodes.{name}.routes`")],
        );
    }
    for label in node.routes.keys().filter(|l| !answers.contains(*l)) {
        c.warn(
            &["nodes", name, "routes", label],
            format!("route `{label}` of router `{name}` can never be taken: the prompt's schema does not allow it"),
            vec![format!("the schema allows {}", list_names(&answers.iter().collect::<Vec<_>>()))],
        );
    }
}

async fn subgraph(
    c: &mut Checker<'_>,
    refs: References<'_>,
    name: &str,
    node: &Node,
    reference: &str,
    stack: &mut Vec<PathBuf>,
) {
    let Some(catalog) = refs.catalog else { return };
    let child = match catalog.subgraph(c.workflow, reference) {
        Ok(child) => child,
        Err(err) => {
            use crate::error::Diagnostic;
            c.error(
                &["nodes", name, "workflow"],
                format!("subgraph `{reference}` of node `{name}` cannot be loaded: {err}"),
                err.hints(),
            );
            return;
        }
    };
    if stack.contains(&child.origin) {
        let mut chain: Vec<String> = stack.iter().map(|p| p.display().to_string()).collect();
        chain.push(child.origin.display().to_string());
        c.error(
            &["nodes", name, "workflow"],
            format!("subgraph `{reference}` includes itself: {}", chain.join(" → ")),
            vec!["a workflow cannot contain itself".to_owned()],
        );
        return;
    }
    for finding in check_structure(&child) {
        c.adopt(finding);
    }
    {
        let mut inner = Checker::new(&child);
        check(&mut inner, refs, stack).await;
        for finding in inner.finish() {
            c.adopt(finding);
        }
    }
    mapping(c, name, node, &child.file);
}

fn mapping(c: &mut Checker<'_>, name: &str, node: &Node, child: &crate::workflow::graph::WorkflowFile) {
    if let Some((human, _)) = child.nodes.iter().find(|(_, n)| n.kind == NodeKind::Human) {
        c.error(
            &["nodes", name, "workflow"],
            format!("subgraph `{}` has human node `{human}`, and a subgraph cannot pause", child.name),
            vec!["move the human step into this workflow, before or after the subgraph node".to_owned()],
        );
    }
    let inputs: Vec<&String> = child.input.iter().collect();
    for key in &child.input {
        let has_default = child.state.get(key).is_some_and(|k| k.default.is_some());
        if !has_default && !node.input.contains_key(key) {
            c.error(
                &["nodes", name, "input"],
                format!("subgraph node `{name}` does not supply `{key}`, an input of workflow `{}`", child.name),
                vec![format!("add `{key}: <expression>` under `nodes.{name}.input`")],
            );
        }
    }
    for key in node.input.keys().filter(|k| !child.input.contains(*k)) {
        c.error(
            &["nodes", name, "input", key],
            format!("subgraph node `{name}` passes `{key}`, which is not an input of workflow `{}`", child.name),
            vec![format!("its inputs: {}", list_names(&inputs))],
        );
    }
    let outputs: BTreeSet<&String> =
        if child.output.is_empty() { child.state.keys().collect() } else { child.output.iter().collect() };
    for (key, expression) in &node.output {
        for read in crate::workflow::expr::reads_of_expression(expression) {
            let Some(field) = read.strip_prefix("result.").map(|f| f.split('.').next().unwrap_or(f)) else { continue };
            if !outputs.contains(&field.to_owned()) {
                c.error(
                    &["nodes", name, "output", key],
                    format!("node `{name}` reads `result.{field}`, which workflow `{}` does not output", child.name),
                    vec![format!("its outputs: {}", list_names(&outputs.iter().collect::<Vec<_>>()))],
                );
            }
        }
    }
}
