//! Dataflow rules. **Reads before writes** is a forward "must" analysis (definite assignment):
//! at `START` the input keys and the keys with a default are set; a node adds the keys its
//! `output` writes; where paths join, only keys set on every incoming path count (a fixpoint
//! over cycles, starting from "all keys"); a `wait_for` join adds what its awaited nodes set.
//! A read of `state.KEY` that is not set where it is evaluated is an error that prints one
//! path on which it is unset. **Concurrent writes**: nodes that can run in the same step
//! (targets fired together by one node, every task of a map, the nodes a join waits for) must
//! not write a key whose reducer is `replace`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::Checker;
use crate::workflow::graph::{END, START, WorkflowFile};
use crate::workflow::sites::{SiteKind, When, sites};
use crate::workflow::topology::{Topology, Via};

type Keys = BTreeSet<String>;

pub(super) fn check(c: &mut Checker<'_>) {
    let file = c.file();
    let topology = Topology::of(file);
    let writes: BTreeMap<String, Keys> =
        file.nodes.iter().map(|(name, node)| (name.clone(), node.output.keys().cloned().collect())).collect();
    let defined = defined_before(file, &topology, &writes);
    reads(c, &topology, &writes, &defined);
    concurrent(c, &topology, &writes);
}

/// Keys set before anything runs.
fn initial(file: &WorkflowFile) -> Keys {
    let mut keys: Keys = file.input.iter().cloned().collect();
    keys.extend(file.state.iter().filter(|(_, k)| k.default.is_some()).map(|(name, _)| name.clone()));
    keys
}

/// Keys an `on_error` goto of `node` writes.
fn error_writes(file: &WorkflowFile, node: &str) -> Keys {
    file.nodes
        .get(node)
        .and_then(|n| n.on_error.as_ref())
        .and_then(|f| f.goto())
        .map(|g| g.output.keys().cloned().collect())
        .unwrap_or_default()
}

/// The keys certainly set when each node starts (and `START`'s, after it).
fn defined_before(file: &WorkflowFile, topology: &Topology, writes: &BTreeMap<String, Keys>) -> BTreeMap<String, Keys> {
    let universe: Keys = file.state.keys().cloned().collect();
    let start = initial(file);
    let mut before: BTreeMap<String, Keys> = file.nodes.keys().map(|n| (n.clone(), universe.clone())).collect();
    before.insert(START.to_owned(), start.clone());
    let empty = Keys::new();
    let mut changed = true;
    while changed {
        changed = false;
        for (name, node) in &file.nodes {
            let mut acc: Option<Keys> = None;
            for arc in topology.incoming(name) {
                let Some(from_before) = before.get(&arc.from) else { continue };
                let contribution: Keys = match arc.via {
                    _ if arc.from == START => start.clone(),
                    Via::OnError => from_before.union(&error_writes(file, &arc.from)).cloned().collect(),
                    Via::OnLimit => from_before.clone(),
                    _ => from_before.union(writes.get(&arc.from).unwrap_or(&empty)).cloned().collect(),
                };
                acc = Some(match acc {
                    None => contribution,
                    Some(prev) => prev.intersection(&contribution).cloned().collect(),
                });
            }
            let mut now = acc.unwrap_or_else(|| universe.clone());
            for member in &node.wait_for {
                now.extend(before.get(member).into_iter().flatten().cloned());
                now.extend(writes.get(member).into_iter().flatten().cloned());
            }
            if before.get(name) != Some(&now) {
                before.insert(name.clone(), now);
                changed = true;
            }
        }
    }
    before
}

fn reads(c: &mut Checker<'_>, topology: &Topology, writes: &BTreeMap<String, Keys>, defined: &BTreeMap<String, Keys>) {
    let file = c.file();
    let empty = Keys::new();
    let mut reported: BTreeSet<(String, String, bool)> = BTreeSet::new();
    for site in sites(file) {
        if site.kind == SiteKind::PromptTemplate {
            continue;
        }
        let after = site.when == When::After;
        let mut available = defined.get(&site.owner).cloned().unwrap_or_default();
        if after {
            available.extend(writes.get(&site.owner).unwrap_or(&empty).iter().cloned());
        }
        let read_keys = match site.kind {
            SiteKind::Expression => crate::workflow::expr::reads_of_expression(&site.source),
            _ => crate::workflow::expr::reads_of_template(&site.source),
        };
        for read in read_keys {
            let Some(key) = read.strip_prefix("state.").map(|k| k.split('.').next().unwrap_or(k)) else { continue };
            if available.contains(key) || !file.state.contains_key(key) {
                continue;
            }
            if !reported.insert((site.owner.clone(), key.to_owned(), after)) {
                continue;
            }
            let path = unset_path(file, topology, writes, key, &site.owner);
            let reader = match (after, site.path.first().map(String::as_str)) {
                (true, _) => format!("the edge after `{}`", site.owner),
                _ => format!("node `{}`", site.owner),
            };
            let on_path = if path.is_empty() { String::new() } else { format!(" on the path {}", path.join(" → ")) };
            c.error(
                &site.key_path(),
                format!("{reader} reads `state.{key}`, which is unset{on_path}"),
                vec![format!(
                    "give `{key}` a `default`, list it in `input`, or write it on every path before `{}`",
                    site.owner
                )],
            );
        }
    }
}

/// One path from `START` to `target` on which no node writes `key` (empty if none is found).
fn unset_path(
    file: &WorkflowFile,
    topology: &Topology,
    writes: &BTreeMap<String, Keys>,
    key: &str,
    target: &str,
) -> Vec<String> {
    if target == START {
        return vec![START.to_owned()];
    }
    let mut parent: BTreeMap<String, String> = BTreeMap::new();
    let mut queue = VecDeque::from([START.to_owned()]);
    let mut seen = BTreeSet::from([START.to_owned()]);
    while let Some(vertex) = queue.pop_front() {
        for arc in topology.outgoing(&vertex) {
            let writes_key = match arc.via {
                Via::OnError => error_writes(file, &vertex).contains(key),
                Via::OnLimit => false,
                _ => writes.get(&vertex).is_some_and(|w| w.contains(key)),
            };
            if writes_key || arc.to == END || !seen.insert(arc.to.clone()) {
                continue;
            }
            parent.insert(arc.to.clone(), vertex.clone());
            if arc.to == target {
                let mut path = vec![target.to_owned()];
                let mut at = target.to_owned();
                while let Some(p) = parent.get(&at) {
                    path.push(p.clone());
                    at = p.clone();
                }
                path.reverse();
                return path;
            }
            queue.push_back(arc.to.clone());
        }
    }
    Vec::new()
}

/// Groups of nodes that can run in the same step, and the node whose edges fire them.
pub(crate) fn same_step_groups(file: &WorkflowFile, topology: &Topology) -> Vec<(String, Vec<String>)> {
    let mut groups = Vec::new();
    for source in Topology::vertices(file) {
        let fixed: BTreeSet<String> = topology
            .outgoing(&source)
            .filter(|a| matches!(a.via, Via::Edge | Via::Map))
            .map(|a| a.to.clone())
            .filter(|t| t != END)
            .collect();
        let mut cases: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for arc in topology.outgoing(&source) {
            let case = match &arc.via {
                Via::When(i) => format!("{:?}/{i}", arc.edge),
                Via::Else => format!("{:?}/else", arc.edge),
                _ => continue,
            };
            if arc.to != END {
                cases.entry(case).or_default().insert(arc.to.clone());
            }
        }
        let mut sets: Vec<BTreeSet<String>> =
            cases.into_values().map(|case| case.union(&fixed).cloned().collect()).collect();
        sets.push(fixed);
        for set in sets.into_iter().filter(|s| s.len() > 1) {
            groups.push((source.clone(), set.into_iter().collect()));
        }
    }
    for (name, node) in &file.nodes {
        if node.wait_for.len() > 1 {
            groups.push((name.clone(), node.wait_for.clone()));
        }
    }
    groups
}

fn concurrent(c: &mut Checker<'_>, topology: &Topology, writes: &BTreeMap<String, Keys>) {
    let file = c.file();
    let replace = |key: &str| file.state.get(key).is_some_and(|k| !k.reducer.merges());
    let hint = |key: &str| {
        vec![format!(
            "give `{key}` a merging reducer (`append`, `merge`, `add`, `max`, `min` or `messages`), or write it from one node only"
        )]
    };
    let mut reported: BTreeSet<(String, String, String)> = BTreeSet::new();
    for edge in &file.edges {
        let Some(map) = &edge.map else { continue };
        for key in writes.get(&map.to).into_iter().flatten().filter(|k| replace(k)) {
            if reported.insert((map.to.clone(), map.to.clone(), key.clone())) {
                c.error(
                    &["nodes", &map.to, "output", key],
                    format!("`{key}` is written by every task of the map to `{}`, but its reducer `replace` keeps only one value", map.to),
                    hint(key),
                );
            }
        }
    }
    let groups = same_step_groups(file, topology);
    let mut warned: BTreeSet<(String, String)> = BTreeSet::new();
    for (_, members) in &groups {
        for (i, a) in members.iter().enumerate() {
            for b in &members[i + 1..] {
                let (Some(wa), Some(wb)) = (writes.get(a), writes.get(b)) else { continue };
                for key in wa.intersection(wb).filter(|k| replace(k)) {
                    if reported.insert((a.clone(), b.clone(), key.clone())) {
                        c.error(
                            &["nodes", b, "output", key],
                            format!("`{key}` may be written by `{a}` and `{b}` in the same step, but its reducer `replace` keeps only one value"),
                            hint(key),
                        );
                    }
                }
                sibling_reads(c, a, wb, &mut warned);
                sibling_reads(c, b, wa, &mut warned);
            }
        }
    }
}

/// Warns when the branch after `node` reads a key that a sibling in the same step writes: the
/// branch sees the merged state (LangGraph's would not see the sibling's write).
fn sibling_reads(c: &mut Checker<'_>, node: &str, sibling_writes: &Keys, warned: &mut BTreeSet<(String, String)>) {
    let file = c.file();
    for site in sites(file).into_iter().filter(|s| s.owner == node && s.when == When::After) {
        for read in crate::workflow::expr::reads_of_expression(&site.source) {
            let Some(key) = read.strip_prefix("state.") else { continue };
            if sibling_writes.contains(key) && warned.insert((node.to_owned(), key.to_owned())) {
                c.warn(
                    &site.key_path(),
                    format!("the edge after `{node}` reads `state.{key}`, which another node of the same step writes"),
                    vec!["promptops evaluates branches on the state after the whole step; LangGraph evaluates them before sibling writes, so an export may behave differently".to_owned()],
                );
            }
        }
    }
}
