//! Flow rules: `START` has an edge; every node has an outgoing edge (a run never stops
//! silently); every node is reachable from `START` and can reach `END`; every cycle contains a
//! node with `max_visits` (printing one offending cycle and where a bound would go); and, when
//! the loops are bounded, an upper bound on the steps a run can take, against `limits.max_steps`.

use std::collections::{BTreeMap, BTreeSet};

use super::Checker;
use crate::workflow::graph::{END, START, WorkflowFile};
use crate::workflow::topology::{Topology, Via};

pub(super) fn check(c: &mut Checker<'_>) {
    let file = c.file();
    let topology = Topology::of(file);
    if topology.outgoing(START).next().is_none() {
        let first = file.nodes.keys().next().map_or("first-node", String::as_str);
        c.error(&["edges"], "no edge leaves `START`", vec![format!("add `- {{ from: START, to: {first} }}`")]);
        return;
    }
    for name in file.nodes.keys() {
        let continues = topology.outgoing(name).any(|a| !matches!(a.via, Via::OnError | Via::OnLimit));
        if !continues {
            c.error(
                &["nodes", name],
                format!("node `{name}` has no outgoing edge"),
                vec![format!("add `- {{ from: {name}, to: END }}` (or another target): runs never stop silently")],
            );
        }
    }
    let reachable = topology.reachable_from(START);
    let finishing = topology.reaching(END);
    for name in file.nodes.keys() {
        if !reachable.contains(name) {
            c.error(
                &["nodes", name],
                format!("node `{name}` is unreachable from `START`"),
                vec!["add an edge that leads to it, or remove it".to_owned()],
            );
        } else if !finishing.contains(name) {
            c.error(
                &["nodes", name],
                format!("node `{name}` cannot reach `END`"),
                vec!["every node needs a path to `END`: add an edge or a branch case that leads there".to_owned()],
            );
        }
    }
    let unbounded = unbounded_cycles(c, &topology);
    if !unbounded {
        step_bound(c, &topology, &reachable);
    }
}

/// Reports every cycle without a `max_visits` node; true if there was one.
fn unbounded_cycles(c: &mut Checker<'_>, topology: &Topology) -> bool {
    let file = c.file();
    let keep: BTreeSet<String> = Topology::vertices(file)
        .into_iter()
        .filter(|v| file.nodes.get(v).is_none_or(|n| n.max_visits.is_none()))
        .collect();
    let components = topology.cyclic_components(&keep);
    for component in &components {
        let cycle = topology.cycle_in(component);
        if cycle.len() < 2 {
            continue;
        }
        // The node just before the loop closes is where a bound reads most naturally
        // ("revise at most 3 times" in draft → critique → revise → critique).
        let suggest = &cycle[cycle.len() - 2];
        let members: Vec<String> = cycle[..cycle.len() - 1].iter().map(|n| format!("`{n}`")).collect();
        c.error(
            &["nodes", &cycle[0]],
            format!("cycle `{}` has no `max_visits` bound", cycle.join(" → ")),
            vec![
                format!("add `max_visits: N` to one of {}, e.g. under `nodes.{suggest}`", members.join(", ")),
                "a bound makes the loop provably finite; `on_limit: { goto: ... }` says where to go when it is reached"
                    .to_owned(),
            ],
        );
    }
    !components.is_empty()
}

/// Warns when the most steps a run can take exceed `limits.max_steps`. Each node runs at most
/// `max_visits` times, or as often as all its predecessors together; a step runs at least one
/// node, so the sum over nodes bounds the steps.
fn step_bound(c: &mut Checker<'_>, topology: &Topology, reachable: &BTreeSet<String>) {
    let file = c.file();
    let mut memo: BTreeMap<String, u64> = BTreeMap::new();
    let total: u64 = file
        .nodes
        .keys()
        .filter(|n| reachable.contains(*n))
        .map(|n| runs(file, topology, n, &mut memo, 0))
        .fold(0, u64::saturating_add);
    let max = u64::from(file.limits.max_steps());
    if total > max {
        c.warn(
            &["limits", "max_steps"],
            format!("a run may take up to {total} steps, more than `limits.max_steps` ({max})"),
            vec!["raise `limits.max_steps`, or lower the `max_visits` bounds".to_owned()],
        );
    }
}

fn runs(file: &WorkflowFile, topology: &Topology, vertex: &str, memo: &mut BTreeMap<String, u64>, depth: usize) -> u64 {
    if vertex == START {
        return 1;
    }
    if let Some(bound) = file.nodes.get(vertex).and_then(|n| n.max_visits) {
        return u64::from(bound);
    }
    if let Some(&known) = memo.get(vertex) {
        return known;
    }
    // Unbounded nodes are acyclic once bounded nodes are cut (checked before this runs); the
    // depth guard only protects against a file that slipped past that check.
    if depth > file.nodes.len() + 1 {
        return u64::MAX / 4;
    }
    let sources: Vec<String> = topology.incoming(vertex).map(|a| a.from.clone()).collect();
    let total = sources.iter().map(|s| runs(file, topology, s, memo, depth + 1)).fold(0, u64::saturating_add);
    memo.insert(vertex.to_owned(), total);
    total
}
