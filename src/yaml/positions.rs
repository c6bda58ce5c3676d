//! Where every node of a YAML text is written, found in one pass over the events of a parser
//! that keeps spans (`saphyr-parser`), so that a check made after parsing can point at
//! `file:line:col` with a lookup that costs the depth of the key path, not the size of the file.
//! Typed values still come from `serde_yaml` in the parent module; this index only knows keys,
//! list items and their positions.

use std::borrow::Cow;

use saphyr_parser::{Event, Parser, Span};

use super::Location;

/// What a node's value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Scalar,
    Mapping,
    Sequence,
}

/// A mapping entry or a sequence item: where it is written and, when its value is a mapping or
/// a sequence, where its children are (contiguous in [`Positions::nodes`]).
#[derive(Debug, Clone, Copy)]
struct Node {
    line: u32,
    column: u32,
    /// The key's text in [`Positions::keys`] (empty for sequence items).
    key_start: u32,
    key_len: u32,
    first: u32,
    count: u32,
    kind: Kind,
}

impl Node {
    fn at(location: Location) -> Self {
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Self {
            line: clamp(location.line),
            column: clamp(location.column),
            key_start: 0,
            key_len: 0,
            first: 0,
            count: 0,
            kind: Kind::Scalar,
        }
    }

    fn location(&self) -> Location {
        Location { line: self.line as usize, column: self.column as usize }
    }
}

/// The position of every mapping key and sequence item of a YAML text's first document.
/// Building it is one pass; [`Positions::locate`] then walks a key path child by child.
#[derive(Debug, Clone, Default)]
pub struct Positions {
    nodes: Vec<Node>,
    keys: String,
    root: Option<Node>,
}

impl Positions {
    /// Indexes `text`. A text the event parser cannot read gets the positions found before the
    /// problem (serde's error reports the problem itself).
    pub fn new(text: &str) -> Self {
        let mut builder = Builder { lines: LineStarts::new(text), text, ..Builder::default() };
        for event in Parser::new_from_str(text) {
            let Ok((event, span)) = event else { break };
            if !builder.on_event(event, span) {
                break;
            }
        }
        // After a syntax error, close what is open so that the nodes before it can be found.
        while !builder.frames.is_empty() {
            builder.close();
        }
        Positions { nodes: builder.nodes, keys: builder.keys, root: builder.root }
    }

    /// Where a key path (`["tests", "3", "assert", "0", "value"]`; list items by index) is
    /// written: the key of a mapping entry, the `-` of a block list item, the start of a flow
    /// list item. `None` when the path does not exist.
    pub fn locate(&self, key_path: &[&str]) -> Option<Location> {
        let mut current = self.root.as_ref()?;
        let mut found = None;
        for segment in key_path {
            current = self.child(current, segment)?;
            found = Some(current.location());
        }
        found
    }

    /// How many children the node at `key_path` has (entries of a mapping, items of a list).
    pub fn len(&self, key_path: &[&str]) -> usize {
        let mut current = self.root.as_ref();
        for segment in key_path {
            current = current.and_then(|node| self.child(node, segment));
        }
        current.map_or(0, |node| node.count as usize)
    }

    /// Whether nothing was indexed.
    pub fn is_empty(&self) -> bool {
        self.root.is_none()
    }

    fn children(&self, node: &Node) -> &[Node] {
        let first = node.first as usize;
        self.nodes.get(first..first + node.count as usize).unwrap_or_default()
    }

    fn child(&self, node: &Node, segment: &str) -> Option<&Node> {
        let children = self.children(node);
        match node.kind {
            Kind::Scalar => None,
            Kind::Sequence => children.get(segment.parse::<usize>().ok()?),
            Kind::Mapping => children.iter().find(|child| self.key(child) == segment),
        }
    }

    fn key(&self, node: &Node) -> &str {
        let start = node.key_start as usize;
        self.keys.get(start..start + node.key_len as usize).unwrap_or_default()
    }
}

/// An open mapping or sequence while the events stream by.
#[derive(Debug)]
struct Frame {
    /// The node that holds this collection (its key or item position).
    owner: Node,
    kind: Kind,
    /// Where this collection's children start in [`Builder::pending`].
    pending_start: usize,
    /// For a mapping: the key waiting for its value.
    key: Option<Node>,
    /// A collection used as a mapping key: its contents are not indexed.
    ignored: bool,
}

#[derive(Debug, Default)]
struct Builder<'t> {
    text: &'t str,
    lines: LineStarts,
    frames: Vec<Frame>,
    /// Children of the open collections, innermost last; moved to `nodes` when one closes, so
    /// that every collection's children end up contiguous.
    pending: Vec<Node>,
    nodes: Vec<Node>,
    keys: String,
    root: Option<Node>,
}

impl Builder<'_> {
    /// Handles one event; false once the first document is complete.
    fn on_event(&mut self, event: Event<'_>, span: Span) -> bool {
        match event {
            Event::Scalar(value, ..) => self.leaf(Some(value), span),
            Event::Alias(_) => self.leaf(None, span),
            Event::MappingStart(..) => self.open(Kind::Mapping, span),
            Event::SequenceStart(..) => self.open(Kind::Sequence, span),
            Event::MappingEnd | Event::SequenceEnd => self.close(),
            Event::DocumentEnd => return self.root.is_none(),
            _ => {}
        }
        true
    }

    /// A scalar or alias: a list item, a mapping key, or a mapping value.
    fn leaf(&mut self, value: Option<Cow<'_, str>>, span: Span) {
        let position = self.position(span);
        let Some(frame) = self.frames.last_mut() else { return };
        if frame.ignored {
            return;
        }
        match frame.kind {
            Kind::Sequence => self.pending.push(Node::at(self.item_position(span))),
            Kind::Mapping => match frame.key.take() {
                None => {
                    let mut key = Node::at(position);
                    let text = value.as_deref().unwrap_or_default();
                    key.key_start = u32::try_from(self.keys.len()).unwrap_or(u32::MAX);
                    key.key_len = u32::try_from(text.len()).unwrap_or(0);
                    self.keys.push_str(text);
                    frame.key = Some(key);
                }
                Some(key) => self.pending.push(key),
            },
            Kind::Scalar => {}
        }
    }

    fn open(&mut self, kind: Kind, span: Span) {
        let (owner, ignored) = match self.frames.last_mut() {
            None => (Node::at(self.position(span)), false),
            Some(frame) if frame.ignored => (Node::at(Location { line: 0, column: 0 }), true),
            Some(frame) => match frame.kind {
                Kind::Mapping => match frame.key.take() {
                    Some(key) => (key, false),
                    // A collection as a key: keep it out, and give the entry an empty key.
                    None => {
                        frame.key = Some(Node::at(Location { line: 0, column: 0 }));
                        (Node::at(Location { line: 0, column: 0 }), true)
                    }
                },
                _ => (Node::at(self.item_position(span)), false),
            },
        };
        let pending_start = self.pending.len();
        self.frames.push(Frame { owner, kind, pending_start, key: None, ignored });
    }

    fn close(&mut self) {
        let Some(frame) = self.frames.pop() else { return };
        if frame.ignored {
            return;
        }
        let mut owner = frame.owner;
        owner.kind = frame.kind;
        owner.first = u32::try_from(self.nodes.len()).unwrap_or(u32::MAX);
        owner.count = u32::try_from(self.pending.len() - frame.pending_start).unwrap_or(0);
        self.nodes.extend(self.pending.drain(frame.pending_start..));
        match self.frames.last() {
            None => self.root = Some(owner),
            Some(parent) if parent.ignored => {}
            Some(_) => self.pending.push(owner),
        }
    }

    fn position(&self, span: Span) -> Location {
        Location { line: span.start.line(), column: span.start.col() + 1 }
    }

    /// A block list item is shown at its `-`, as editors and the old line scanner did; a flow
    /// item at its own start.
    fn item_position(&self, span: Span) -> Location {
        let at = self.position(span);
        match self.lines.line(self.text, at.line) {
            Some(line) => item_location(line, at),
            None => at,
        }
    }
}

/// Where a list item whose value starts at `at` on `line` (that line's text) is shown: at its
/// `-` when it is a block item, else at `at`.
pub(super) fn item_location(line: &str, at: Location) -> Location {
    let offset = line.char_indices().nth(at.column.saturating_sub(1)).map_or(line.len(), |(i, _)| i);
    let before = line[..offset].trim_end_matches([' ', '\t']);
    if before.ends_with('-') && before.len() < offset {
        let gap = line[before.len()..offset].chars().count() + 1;
        return Location { line: at.line, column: at.column.saturating_sub(gap).max(1) };
    }
    at
}

/// Byte offsets of line starts, to turn a (line, column in characters) into a byte offset.
#[derive(Debug, Default)]
struct LineStarts(Vec<usize>);

impl LineStarts {
    fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self(starts)
    }

    fn line<'t>(&self, text: &'t str, line: usize) -> Option<&'t str> {
        let start = *self.0.get(line.checked_sub(1)?)?;
        let rest = &text[start..];
        Some(&rest[..rest.find('\n').unwrap_or(rest.len())])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: usize, column: usize) -> Option<Location> {
        Some(Location { line, column })
    }

    const WORKFLOW: &str = "nodes:\n  draft:\n    type: prompt\n  critique:\n    type: prompt\n    output: { score: x }\nedges:\n  - { from: START, to: draft }\n  - from: draft\n    to: critique\n";

    #[test]
    fn nested_keys_are_found_block_and_flow() {
        let positions = Positions::new(WORKFLOW);
        assert_eq!(positions.locate(&["nodes", "critique"]), at(4, 3));
        assert_eq!(positions.locate(&["nodes", "critique", "output"]), at(6, 5));
        assert_eq!(positions.locate(&["nodes", "critique", "output", "score"]), at(6, 15));
        assert_eq!(positions.locate(&["nodes", "missing"]), None);
        assert_eq!(positions.locate(&["edges", "0", "to"]), at(8, 20));
    }

    #[test]
    fn block_list_items_are_shown_at_their_dash() {
        let positions = Positions::new(WORKFLOW);
        assert_eq!(positions.locate(&["edges", "1"]), at(9, 3));
        assert_eq!(positions.locate(&["edges", "1", "to"]), at(10, 5));
        assert_eq!(positions.locate(&["edges", "2"]), None);
        assert_eq!(Positions::new("- a\n-   b\n").locate(&["1"]), at(2, 1));
    }

    #[test]
    fn flow_list_items_are_shown_at_their_start() {
        let positions = Positions::new("targets: [a/b, \"c\", d]\n");
        assert_eq!(positions.locate(&["targets", "1"]), at(1, 16));
        assert_eq!(positions.locate(&["targets", "2"]), at(1, 21));
        assert_eq!(positions.len(&["targets"]), 3);
    }

    #[test]
    fn quoted_and_numeric_keys_are_keys() {
        let positions = Positions::new("\"a b\": 1\n'2': { x: 1 }\n");
        assert_eq!(positions.locate(&["a b"]), at(1, 1));
        assert_eq!(positions.locate(&["2", "x"]), at(2, 8));
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let positions = Positions::new("é: 1\nlist:\n  - ü: 2\n    ä: 3\n");
        assert_eq!(positions.locate(&["list", "0"]), at(3, 3));
        assert_eq!(positions.locate(&["list", "0", "ä"]), at(4, 5));
    }

    #[test]
    fn collections_as_keys_and_anchors_do_not_confuse_the_index() {
        let text = "base: &b { x: 1 }\n? [a, b]\n: skipped\nother: *b\nlast: { y: 2 }\n";
        let positions = Positions::new(text);
        assert_eq!(positions.locate(&["other"]), at(4, 1));
        assert_eq!(positions.locate(&["last", "y"]), at(5, 9));
    }

    #[test]
    fn only_the_first_document_is_indexed() {
        let positions = Positions::new("a: 1\n---\nb: 2\n");
        assert_eq!(positions.locate(&["a"]), at(1, 1));
        assert_eq!(positions.locate(&["b"]), None);
    }

    #[test]
    fn broken_text_keeps_what_came_before() {
        let positions = Positions::new("a:\n  b: 1\nc: [unclosed\n");
        assert_eq!(positions.locate(&["a", "b"]), at(2, 3));
        assert!(Positions::new("").is_empty());
        assert!(Positions::new(": : :\n\t- ]").locate(&["x"]).is_none());
    }

    #[test]
    fn a_long_list_is_indexed_in_one_pass() {
        let text: String = (0..20_000).map(|i| format!("- name: case {i}\n  vars: {{ x: {i} }}\n")).collect();
        let positions = Positions::new(&text);
        assert_eq!(positions.len(&[]), 20_000);
        assert_eq!(positions.locate(&["19999", "vars", "x"]), at(40_000, 11));
    }
}
