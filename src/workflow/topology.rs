//! The control-flow graph of a workflow as arcs between vertices (the nodes plus `START` and
//! `END`): plain edges, branch cases, map fan-outs, router routes and the `goto`s of
//! `on_error`/`on_limit`. The validator, the drawing and the exporter all read it, so that they
//! agree on what leads where.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::graph::{END, START, WorkflowFile};

/// How control gets from one vertex to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// A plain edge (`to:`).
    Edge,
    /// A branch case (`when:`), by its position.
    When(usize),
    /// The branch's `else`.
    Else,
    /// A map fan-out (one task per item).
    Map,
    /// A router's route for this label.
    Route(String),
    /// The node's `on_error` goto.
    OnError,
    /// The node's `on_limit` goto.
    OnLimit,
}

/// One arc of the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arc {
    /// The vertex it leaves.
    pub from: String,
    /// The vertex it enters.
    pub to: String,
    /// How.
    pub via: Via,
    /// The index of the `edges` entry it comes from, if any.
    pub edge: Option<usize>,
}

/// All arcs of a workflow, indexed by source and target.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    /// Every arc, in file order.
    pub arcs: Vec<Arc>,
    out: BTreeMap<String, Vec<usize>>,
    into: BTreeMap<String, Vec<usize>>,
}

impl Topology {
    /// The graph of `file`. Names that do not exist are kept: the validator reports them.
    pub fn of(file: &WorkflowFile) -> Self {
        let mut arcs = Vec::new();
        for (index, edge) in file.edges.iter().enumerate() {
            let mut push = |to: &str, via: Via| {
                arcs.push(Arc { from: edge.from.clone(), to: to.to_owned(), via, edge: Some(index) });
            };
            if let Some(to) = &edge.to {
                to.names().into_iter().for_each(|t| push(t, Via::Edge));
            }
            for (case_index, case) in edge.branch.iter().flatten().enumerate() {
                if let Some(to) = &case.to {
                    to.names().into_iter().for_each(|t| push(t, Via::When(case_index)));
                }
                if let Some(to) = &case.otherwise {
                    to.names().into_iter().for_each(|t| push(t, Via::Else));
                }
            }
            if let Some(map) = &edge.map {
                push(&map.to, Via::Map);
            }
        }
        for (name, node) in &file.nodes {
            for (label, target) in &node.routes {
                arcs.push(Arc { from: name.clone(), to: target.clone(), via: Via::Route(label.clone()), edge: None });
            }
            if let Some(goto) = node.on_error.as_ref().and_then(|f| f.goto()) {
                arcs.push(Arc { from: name.clone(), to: goto.goto.clone(), via: Via::OnError, edge: None });
            }
            if let Some(goto) = node.on_limit.as_ref().and_then(|f| f.goto()) {
                arcs.push(Arc { from: name.clone(), to: goto.goto.clone(), via: Via::OnLimit, edge: None });
            }
        }
        let mut out: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        let mut into: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, arc) in arcs.iter().enumerate() {
            out.entry(arc.from.clone()).or_default().push(i);
            into.entry(arc.to.clone()).or_default().push(i);
        }
        Self { arcs, out, into }
    }

    /// The arcs leaving `vertex`.
    pub fn outgoing(&self, vertex: &str) -> impl Iterator<Item = &Arc> {
        self.out.get(vertex).into_iter().flatten().map(|&i| &self.arcs[i])
    }

    /// The arcs entering `vertex`.
    pub fn incoming(&self, vertex: &str) -> impl Iterator<Item = &Arc> {
        self.into.get(vertex).into_iter().flatten().map(|&i| &self.arcs[i])
    }

    /// The distinct successors of `vertex`, sorted.
    pub fn successors(&self, vertex: &str) -> BTreeSet<&str> {
        self.outgoing(vertex).map(|a| a.to.as_str()).collect()
    }

    /// Every vertex reachable from `from` (itself included), following arcs forwards.
    pub fn reachable_from(&self, from: &str) -> BTreeSet<String> {
        self.search(from, |t, v| t.outgoing(v).map(|a| a.to.clone()).collect())
    }

    /// Every vertex from which `to` can be reached (itself included).
    pub fn reaching(&self, to: &str) -> BTreeSet<String> {
        self.search(to, |t, v| t.incoming(v).map(|a| a.from.clone()).collect())
    }

    fn search(&self, start: &str, next: impl Fn(&Self, &str) -> Vec<String>) -> BTreeSet<String> {
        let mut seen = BTreeSet::from([start.to_owned()]);
        let mut queue = VecDeque::from([start.to_owned()]);
        while let Some(vertex) = queue.pop_front() {
            for n in next(self, &vertex) {
                if seen.insert(n.clone()) {
                    queue.push_back(n);
                }
            }
        }
        seen
    }

    /// Strongly connected components (Tarjan) that contain a cycle: more than one vertex, or a
    /// vertex with an arc to itself. Only vertices in `keep` are considered.
    pub fn cyclic_components(&self, keep: &BTreeSet<String>) -> Vec<Vec<String>> {
        let mut tarjan =
            Tarjan { topology: self, keep, index: 0, stack: Vec::new(), state: BTreeMap::new(), out: Vec::new() };
        for vertex in keep {
            if !tarjan.state.contains_key(vertex.as_str()) {
                tarjan.visit(vertex);
            }
        }
        tarjan.out.into_iter().filter(|c| c.len() > 1 || self.outgoing(&c[0]).any(|a| a.to == c[0])).collect()
    }

    /// One cycle inside `component`, as a path that returns to its first vertex, starting at
    /// the alphabetically first vertex so that messages are stable.
    pub fn cycle_in(&self, component: &[String]) -> Vec<String> {
        let members: BTreeSet<&str> = component.iter().map(String::as_str).collect();
        let Some(start) = members.iter().next().copied() else { return Vec::new() };
        // Breadth-first from `start` back to `start`, inside the component: the shortest cycle.
        let mut parent: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = VecDeque::from([start]);
        while let Some(vertex) = queue.pop_front() {
            for arc in self.outgoing(vertex) {
                let to = arc.to.as_str();
                if to == start {
                    let mut back = vec![vertex];
                    let mut at = vertex;
                    while at != start {
                        let Some(&previous) = parent.get(at) else { break };
                        at = previous;
                        back.push(at);
                    }
                    back.reverse();
                    let mut path: Vec<String> = back.into_iter().map(ToOwned::to_owned).collect();
                    path.push(start.to_owned());
                    return path;
                }
                if members.contains(to) && !parent.contains_key(to) && to != start {
                    parent.insert(to, vertex);
                    queue.push_back(to);
                }
            }
        }
        Vec::new()
    }

    /// The vertices of the graph: `START`, every node, `END`.
    pub fn vertices(file: &WorkflowFile) -> BTreeSet<String> {
        let mut all: BTreeSet<String> = file.nodes.keys().cloned().collect();
        all.insert(START.to_owned());
        all.insert(END.to_owned());
        all
    }
}

struct Tarjan<'a> {
    topology: &'a Topology,
    keep: &'a BTreeSet<String>,
    index: usize,
    stack: Vec<&'a str>,
    /// (index, lowlink, on stack) per visited vertex.
    state: BTreeMap<&'a str, (usize, usize, bool)>,
    out: Vec<Vec<String>>,
}

impl<'a> Tarjan<'a> {
    fn visit(&mut self, vertex: &'a str) {
        self.state.insert(vertex, (self.index, self.index, true));
        self.index += 1;
        self.stack.push(vertex);
        let topology = self.topology;
        for arc in topology.outgoing(vertex) {
            let to = arc.to.as_str();
            if !self.keep.contains(to) {
                continue;
            }
            match self.state.get(to).copied() {
                None => {
                    self.visit(to);
                    let low = self.state[to].1;
                    if let Some(entry) = self.state.get_mut(vertex) {
                        entry.1 = entry.1.min(low);
                    }
                }
                Some((index, _, true)) => {
                    if let Some(entry) = self.state.get_mut(vertex) {
                        entry.1 = entry.1.min(index);
                    }
                }
                Some(_) => {}
            }
        }
        let (index, low, _) = self.state[vertex];
        if index == low {
            let mut component = Vec::new();
            while let Some(top) = self.stack.pop() {
                if let Some(entry) = self.state.get_mut(top) {
                    entry.2 = false;
                }
                component.push(top.to_owned());
                if top == vertex {
                    break;
                }
            }
            component.sort();
            self.out.push(component);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn file(edges: &str) -> WorkflowFile {
        let text = format!(
            "version: 1\nname: t\nnodes:\n  a: {{ type: tool }}\n  b: {{ type: tool }}\n  c: {{ type: tool }}\nedges:\n{edges}"
        );
        crate::yaml::from_str(Path::new("t.yaml"), &text).expect("parses")
    }

    #[test]
    fn finds_the_shortest_cycle_from_the_first_member() {
        let f = file(
            "  - { from: START, to: a }\n  - { from: a, to: b }\n  - { from: b, branch: [ { when: 'true', to: c }, { else: END } ] }\n  - { from: c, to: a }\n",
        );
        let t = Topology::of(&f);
        let keep = Topology::vertices(&f);
        let components = t.cyclic_components(&keep);
        assert_eq!(components, vec![vec!["a".to_owned(), "b".to_owned(), "c".to_owned()]]);
        assert_eq!(t.cycle_in(&components[0]), vec!["a", "b", "c", "a"]);
    }

    #[test]
    fn self_loops_are_cycles() {
        let f = file("  - { from: START, to: a }\n  - { from: a, branch: [ { when: 'x', to: a }, { else: END } ] }\n");
        let t = Topology::of(&f);
        let components = t.cyclic_components(&Topology::vertices(&f));
        assert_eq!(components, vec![vec!["a".to_owned()]]);
        assert_eq!(t.cycle_in(&components[0]), vec!["a", "a"]);
    }

    #[test]
    fn reachability_both_ways() {
        let f = file("  - { from: START, to: a }\n  - { from: a, to: END }\n  - { from: b, to: c }\n");
        let t = Topology::of(&f);
        assert!(t.reachable_from(START).contains("END"));
        assert!(!t.reachable_from(START).contains("b"));
        assert!(!t.reaching(END).contains("c"));
    }
}
