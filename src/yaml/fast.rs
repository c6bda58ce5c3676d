//! A scanner for the plain YAML that suites are written in, four times faster than
//! `saphyr-parser`'s general one on a generated suite: block mappings and lists, one-line flow
//! collections, one-line plain, single- and double-quoted scalars, comments. For such text it
//! gives the events saphyr gives, at the same start positions (the tests compare the two on
//! generated text). Anything else (anchors, aliases, tags, block scalars, multi-line scalars or
//! flows, tabs, document markers, mistakes) makes it give up, and the caller reads the whole
//! text with saphyr instead: what it accepts is never read differently, and what it does not
//! costs a second pass only up to where it gave up.

use std::borrow::Cow;
use std::collections::VecDeque;

use saphyr_parser::{Event, Marker, ScalarStyle, Span};

/// An event and where it starts (the span ends where it starts: the reader uses only starts).
pub(super) type Spanned<'t> = (Event<'t>, Span);

/// The text is outside the subset this scanner reads.
#[derive(Debug)]
struct GiveUp;

type Step<T = ()> = Result<T, GiveUp>;

/// Flows nested deeper than this are left to saphyr (and to the reader's depth limit).
const MAX_FLOW_DEPTH: usize = 32;
/// saphyr refuses implicit keys longer than 1024 characters; shorter ones are safe here.
const MAX_KEY_BYTES: usize = 1000;
/// Longest line with other than ASCII read here (see [`Line::column`]).
const MAX_COUNTED_LINE: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Map,
    Seq,
}

/// A block collection still open, and the column its keys or dashes are at.
#[derive(Debug, Clone, Copy)]
struct Open {
    indent: usize,
    kind: Kind,
}

/// A `key:` or `-` with nothing after it: its value is the block on the next lines, or null.
#[derive(Debug, Clone, Copy)]
struct Pending {
    /// The column of the key or dash.
    indent: usize,
    /// After a key, a list at the key's own column is its value.
    list_at_indent: bool,
    /// Where saphyr puts the null, when it is null (a key's colon, an item's line end).
    null_at: (usize, usize),
}

/// The scanner; [`Scanner::next`] gives the events one at a time.
#[derive(Debug)]
pub(super) struct Scanner<'t> {
    text: &'t str,
    /// Byte offset and number of the next line to read.
    offset: usize,
    line: usize,
    queue: VecDeque<Spanned<'t>>,
    stack: Vec<Open>,
    pending: Option<Pending>,
    started: bool,
    document: bool,
    rooted: bool,
    finished: bool,
    gave_up: bool,
}

/// One line being read: its text, number, and whether columns are byte offsets.
#[derive(Debug, Clone, Copy)]
struct Line<'t> {
    text: &'t str,
    number: usize,
    ascii: bool,
}

impl Line<'_> {
    fn byte(&self, at: usize) -> Option<u8> {
        self.text.as_bytes().get(at).copied()
    }

    /// The column (in characters, from 0) of byte offset `at`.
    fn column(&self, at: usize) -> usize {
        if self.ascii { at } else { self.text[..at].chars().count() }
    }

    fn skip_spaces(&self, mut at: usize) -> usize {
        while self.byte(at) == Some(b' ') {
            at += 1;
        }
        at
    }

    /// Whether `at` ends a plain scalar's line: the end, or a comment after a space.
    fn ends_at(&self, at: usize) -> bool {
        match self.byte(at) {
            None => true,
            Some(b'#') => at > 0 && self.byte(at - 1) == Some(b' '),
            _ => false,
        }
    }
}

impl<'t> Scanner<'t> {
    pub(super) fn new(text: &'t str) -> Self {
        Self {
            text,
            offset: 0,
            line: 1,
            queue: VecDeque::new(),
            stack: Vec::new(),
            pending: None,
            started: false,
            document: false,
            rooted: false,
            finished: false,
            gave_up: false,
        }
    }

    /// Whether the text turned out to be outside the subset (the events so far are void).
    pub(super) fn gave_up(&self) -> bool {
        self.gave_up
    }

    /// The next event; `None` at the end, or once the scanner gave up.
    pub(super) fn next(&mut self) -> Option<Spanned<'t>> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                return Some(event);
            }
            if self.finished || self.gave_up {
                return None;
            }
            if self.step().is_err() {
                self.gave_up = true;
                self.queue.clear();
            }
        }
    }

    fn emit(&mut self, event: Event<'t>, line: usize, column: usize) {
        let at = Marker::new(0, line, column);
        self.queue.push_back((event, Span::new(at, at)));
    }

    /// Reads one line (or starts or ends the stream).
    fn step(&mut self) -> Step {
        if !self.started {
            self.started = true;
            if self.text.starts_with('\u{feff}') {
                return Err(GiveUp);
            }
            self.emit(Event::StreamStart, 1, 0);
            return Ok(());
        }
        let rest = &self.text[self.offset..];
        if rest.is_empty() {
            return self.finish();
        }
        let (text, next) = match rest.find('\n') {
            Some(end) => (&rest[..end], self.offset + end + 1),
            None => (rest, self.text.len()),
        };
        let line = Line { text, number: self.line, ascii: text.is_ascii() };
        self.offset = next;
        self.line += 1;
        // Columns of a line with other than ASCII are counted from its start, per event: a long
        // one is saphyr's, so that the count stays bounded.
        if text.contains(['\t', '\r']) || (!line.ascii && text.len() > MAX_COUNTED_LINE) {
            return Err(GiveUp);
        }
        let indent = line.skip_spaces(0);
        match line.byte(indent) {
            None | Some(b'#') => Ok(()), // Blank or a comment.
            _ if indent == 0 && (text.starts_with("---") || text.starts_with("...") || text.starts_with('%')) => {
                Err(GiveUp)
            }
            _ => self.content(line, indent),
        }
    }

    fn finish(&mut self) -> Step {
        if !self.document {
            return Err(GiveUp); // No content: saphyr says what an empty document is.
        }
        let (line, column) = if self.text.ends_with('\n') {
            (self.line, 0)
        } else {
            (self.line - 1, self.text.rsplit('\n').next().map_or(0, |last| last.chars().count()))
        };
        if let Some(pending) = self.pending.take() {
            self.null(pending);
        }
        while let Some(open) = self.stack.pop() {
            self.end(open.kind, line, column);
        }
        self.emit(Event::DocumentEnd, line, column);
        self.emit(Event::StreamEnd, line, column);
        self.finished = true;
        Ok(())
    }

    fn null(&mut self, pending: Pending) {
        let (line, column) = pending.null_at;
        self.emit(Event::Scalar(Cow::Borrowed("~"), ScalarStyle::Plain, 0, None), line, column);
    }

    fn end(&mut self, kind: Kind, line: usize, column: usize) {
        let event = if kind == Kind::Map { Event::MappingEnd } else { Event::SequenceEnd };
        self.emit(event, line, column);
    }

    fn open(&mut self, kind: Kind, indent: usize, line: usize, column: usize) {
        self.stack.push(Open { indent, kind });
        let event = if kind == Kind::Map { Event::MappingStart(0, None) } else { Event::SequenceStart(0, None) };
        self.emit(event, line, column);
    }

    /// A line with content at byte `indent` (spaces before it, so also its column).
    fn content(&mut self, line: Line<'t>, indent: usize) -> Step {
        let item = is_item(line.text, indent);
        if !self.document {
            self.document = true;
            self.emit(Event::DocumentStart(false), line.number, indent);
        }
        if let Some(pending) = self.pending.take() {
            if indent > pending.indent || (item && pending.list_at_indent && indent == pending.indent) {
                return self.nested(line, indent, item, indent == pending.indent);
            }
            self.null(pending);
        }
        while let Some(&top) = self.stack.last() {
            if top.indent > indent || (top.indent == indent && top.kind == Kind::Seq && !item) {
                self.stack.pop();
                self.end(top.kind, line.number, indent);
            } else {
                break;
            }
        }
        match self.stack.last() {
            None if self.rooted => Err(GiveUp), // Content after the root ended.
            None => {
                self.rooted = true;
                self.nested(line, indent, item, false)
            }
            Some(top) if top.indent != indent => Err(GiveUp),
            Some(top) => match (top.kind, item) {
                (Kind::Seq, true) => self.item(line, indent),
                (Kind::Map, false) => self.entry(line, indent),
                _ => Err(GiveUp),
            },
        }
    }

    /// A block collection starting on this line, as the value of what is pending (or the root).
    fn nested(&mut self, line: Line<'t>, indent: usize, item: bool, indentless: bool) -> Step {
        if item {
            // saphyr puts a list at its key's own column where its first item's value starts.
            // (the line's end when it has none).
            let value = line.skip_spaces(indent + 1);
            let column = match (indentless, line.ends_at(value)) {
                (false, _) => indent,
                (true, false) => value,
                (true, true) => line.text.len(),
            };
            self.open(Kind::Seq, indent, line.number, line.column(column));
            self.item(line, indent)
        } else {
            self.open(Kind::Map, indent, line.number, indent);
            self.entry(line, indent)
        }
    }
}

/// Whether the content at `at` is a block list item (`-` then a space or the end).
fn is_item(text: &str, at: usize) -> bool {
    let bytes = text.as_bytes();
    bytes.get(at) == Some(&b'-') && matches!(bytes.get(at + 1), None | Some(b' '))
}

/// Keys, items and values.
impl<'t> Scanner<'t> {
    /// `key: value` of the block mapping whose keys are at byte `at`.
    fn entry(&mut self, line: Line<'t>, at: usize) -> Step {
        let (key, colon) = block_key(line, at)?;
        self.emit(key, line.number, line.column(at));
        let value = line.skip_spaces(colon + 1);
        if line.ends_at(value) {
            let pending = Pending { indent: at, list_at_indent: true, null_at: (line.number, line.column(colon)) };
            self.pending = Some(pending);
            return Ok(());
        }
        if value == colon + 1 {
            return Err(GiveUp); // `key:x` is not an entry.
        }
        let end = self.node(line, value, false)?;
        trailing(line, end)
    }

    /// `- value` of the block list whose dashes are at byte `dash`.
    fn item(&mut self, line: Line<'t>, dash: usize) -> Step {
        let at = line.skip_spaces(dash + 1);
        if line.ends_at(at) {
            let pending =
                Pending { indent: dash, list_at_indent: false, null_at: (line.number, line.column(line.text.len())) };
            self.pending = Some(pending);
            return Ok(());
        }
        if is_item(line.text, at) {
            return Err(GiveUp); // `- - x`: a list in a list on one line.
        }
        if block_key(line, at).is_ok() {
            // `- key: value` starts a mapping whose keys are at this column.
            self.open(Kind::Map, at, line.number, line.column(at));
            return self.entry(line, at);
        }
        let end = self.node(line, at, false)?;
        trailing(line, end)
    }

    /// A scalar or flow collection starting at byte `at`; returns where it ends.
    fn node(&mut self, line: Line<'t>, at: usize, flow: bool) -> Step<usize> {
        let column = line.column(at);
        match line.byte(at) {
            Some(b'[') => self.flow(line, at, 0, Kind::Seq),
            Some(b'{') => self.flow(line, at, 0, Kind::Map),
            _ => {
                let (value, style, end) = scalar(line, at, flow)?;
                if !flow && style == ScalarStyle::Plain && (value.contains(": ") || value.ends_with(':')) {
                    return Err(GiveUp); // saphyr refuses a mapping value here.
                }
                self.emit(Event::Scalar(value, style, 0, None), line.number, column);
                Ok(end)
            }
        }
    }

    fn flow_node(&mut self, line: Line<'t>, at: usize, depth: usize) -> Step<usize> {
        match line.byte(at) {
            Some(b'[') => self.flow(line, at, depth + 1, Kind::Seq),
            Some(b'{') => self.flow(line, at, depth + 1, Kind::Map),
            _ => self.node(line, at, true),
        }
    }

    /// `[a, b]` or `{a: b}` on one line, from its bracket at `at`; returns the byte after its
    /// closing one.
    fn flow(&mut self, line: Line<'t>, at: usize, depth: usize, kind: Kind) -> Step<usize> {
        if depth > MAX_FLOW_DEPTH {
            return Err(GiveUp);
        }
        let (start, end, close) = match kind {
            Kind::Seq => (Event::SequenceStart(0, None), Event::SequenceEnd, b']'),
            Kind::Map => (Event::MappingStart(0, None), Event::MappingEnd, b'}'),
        };
        self.emit(start, line.number, line.column(at));
        let mut at = line.skip_spaces(at + 1);
        let mut closed = line.byte(at) == Some(close);
        while !closed {
            at = match kind {
                Kind::Seq => self.flow_node(line, at, depth)?,
                Kind::Map => self.flow_pair(line, at, depth)?,
            };
            (at, closed) = next_flow_item(line, at, close)?;
        }
        self.emit(end, line.number, line.column(at));
        Ok(at + 1)
    }

    /// `key: value` in a flow mapping, from byte `at`; returns where the value ends.
    fn flow_pair(&mut self, line: Line<'t>, at: usize, depth: usize) -> Step<usize> {
        if matches!(line.byte(at), Some(b'[' | b'{' | b'?')) {
            return Err(GiveUp); // Complex and explicit keys.
        }
        let column = line.column(at);
        let (key, style, end) = scalar(line, at, true)?;
        // A key needs `: ` after it; JSON's `"a":1` and keys without values are saphyr's.
        if line.byte(end) != Some(b':') || line.byte(end + 1) != Some(b' ') {
            return Err(GiveUp);
        }
        self.emit(Event::Scalar(key, style, 0, None), line.number, column);
        let value = line.skip_spaces(end + 1);
        if matches!(line.byte(value), None | Some(b',' | b'}' | b'#')) {
            return Err(GiveUp); // An empty value.
        }
        self.flow_node(line, value, depth)
    }
}

/// After an item of a flow closed by `close`, ending at `at`: the next item's start, or the
/// close's byte and `true`.
fn next_flow_item(line: Line<'_>, at: usize, close: u8) -> Step<(usize, bool)> {
    let at = line.skip_spaces(at);
    match line.byte(at) {
        Some(b',') => {
            let next = line.skip_spaces(at + 1);
            match line.byte(next) {
                Some(b',') => Err(GiveUp),
                Some(byte) if byte == close => Err(GiveUp), // A trailing comma.
                _ => Ok((next, false)),
            }
        }
        Some(byte) if byte == close => Ok((at, true)),
        _ => Err(GiveUp), // `[a: b]`, a comment, the line's end.
    }
}

/// After a value: spaces, then the line's end or a comment.
fn trailing(line: Line<'_>, end: usize) -> Step {
    let at = line.skip_spaces(end);
    if line.ends_at(at) && (at > end || line.byte(at).is_none()) { Ok(()) } else { Err(GiveUp) }
}

/// A block mapping's key at byte `at`, and the byte of its `:`.
fn block_key<'t>(line: Line<'t>, at: usize) -> Step<(Event<'t>, usize)> {
    let text = line.text;
    let (key, style, end) = match line.byte(at) {
        Some(b'"' | b'\'') => scalar(line, at, false)?,
        _ => {
            check_plain_start(line, at, false)?;
            let bytes = text.as_bytes();
            let mut end = at;
            loop {
                match bytes.get(end) {
                    None => return Err(GiveUp), // No `: ` on the line: not a key.
                    Some(b':') if matches!(bytes.get(end + 1), None | Some(b' ')) => break,
                    Some(b'#') if bytes[end - 1] == b' ' => return Err(GiveUp),
                    Some(_) => end += 1,
                }
            }
            (Cow::Borrowed(text[at..end].trim_end_matches(' ')), ScalarStyle::Plain, end)
        }
    };
    if line.byte(end) != Some(b':') || !matches!(line.byte(end + 1), None | Some(b' ')) || end - at > MAX_KEY_BYTES {
        return Err(GiveUp);
    }
    Ok((Event::Scalar(key, style, 0, None), end))
}

/// A plain or quoted scalar on one line at byte `at`: its value, style and end.
fn scalar<'t>(line: Line<'t>, at: usize, flow: bool) -> Step<(Cow<'t, str>, ScalarStyle, usize)> {
    match line.byte(at) {
        Some(b'"') => double_quoted(line.text, at),
        Some(b'\'') => single_quoted(line.text, at),
        _ => plain(line, at, flow),
    }
}

/// Refuses what cannot start a plain scalar: indicators, and `-`, `?`, `:` before a space.
fn check_plain_start(line: Line<'_>, at: usize, flow: bool) -> Step {
    match line.byte(at) {
        None => Err(GiveUp),
        Some(b'-' | b'?' | b':') => match line.byte(at + 1) {
            None | Some(b' ') => Err(GiveUp),
            Some(b',' | b'[' | b']' | b'{' | b'}') if flow => Err(GiveUp),
            _ => Ok(()),
        },
        Some(
            b',' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|' | b'>' | b'\'' | b'"' | b'%' | b'@'
            | b'`',
        ) => Err(GiveUp),
        Some(_) => Ok(()),
    }
}

/// A plain scalar: to the line's end or a comment; in a flow, also to `,`, a bracket, or a
/// `:` before a space or flow indicator (a key's end).
fn plain<'t>(line: Line<'t>, at: usize, flow: bool) -> Step<(Cow<'t, str>, ScalarStyle, usize)> {
    check_plain_start(line, at, flow)?;
    let bytes = line.text.as_bytes();
    let mut end = at;
    loop {
        match bytes.get(end) {
            None => break,
            Some(b'#') if bytes[end - 1] == b' ' => break,
            Some(b',' | b'[' | b']' | b'{' | b'}') if flow => break,
            Some(b':')
                if flow && matches!(bytes.get(end + 1), None | Some(b' ' | b',' | b'[' | b']' | b'{' | b'}')) =>
            {
                break;
            }
            Some(_) => end += 1,
        }
    }
    if flow && matches!(bytes.get(end), None | Some(b'#')) {
        return Err(GiveUp); // A flow going on to the next line, or a comment inside one.
    }
    if flow && line.text[at..end].contains(" -") {
        return Err(GiveUp); // saphyr refuses some (`[a -]`); all are left to it.
    }
    let value = line.text[at..end].trim_end_matches(' ');
    Ok((Cow::Borrowed(value), ScalarStyle::Plain, at + value.len()))
}

/// A quoted scalar's value, its closing quote at `end` of `body`: the text itself when it had
/// no escapes, else what was unescaped (`owned`, up to `from`) and the rest.
fn unescaped(body: &str, owned: Option<String>, from: usize, end: usize) -> Cow<'_, str> {
    match owned {
        Some(mut out) => {
            out.push_str(&body[from..end]);
            Cow::Owned(out)
        }
        None => Cow::Borrowed(&body[..end]),
    }
}

/// `'text'` on one line (`''` is a quote).
fn single_quoted(text: &str, at: usize) -> Step<(Cow<'_, str>, ScalarStyle, usize)> {
    let body = &text[at + 1..];
    let mut owned: Option<String> = None;
    let mut from = 0;
    let bytes = body.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\'' {
            if bytes.get(i + 1) == Some(&b'\'') {
                let out = owned.get_or_insert_with(String::new);
                out.push_str(&body[from..=i]);
                i += 2;
                from = i;
                continue;
            }
            return Ok((unescaped(body, owned, from, i), ScalarStyle::SingleQuoted, at + 1 + i + 1));
        }
        i += 1;
    }
    Err(GiveUp) // Goes on to the next line.
}

/// `"text"` on one line, with the common escapes; others are saphyr's.
fn double_quoted(text: &str, at: usize) -> Step<(Cow<'_, str>, ScalarStyle, usize)> {
    let body = &text[at + 1..];
    let bytes = body.as_bytes();
    let mut owned: Option<String> = None;
    let mut from = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                return Ok((unescaped(body, owned, from, i), ScalarStyle::DoubleQuoted, at + 1 + i + 1));
            }
            b'\\' => {
                let escaped = match bytes.get(i + 1) {
                    Some(b'\\') => '\\',
                    Some(b'"') => '"',
                    Some(b'/') => '/',
                    Some(b'n') => '\n',
                    Some(b't') => '\t',
                    Some(b'r') => '\r',
                    Some(b'0') => '\0',
                    _ => return Err(GiveUp),
                };
                let out = owned.get_or_insert_with(String::new);
                out.push_str(&body[from..i]);
                out.push(escaped);
                i += 2;
                from = i;
            }
            _ => i += 1,
        }
    }
    Err(GiveUp)
}

#[cfg(test)]
pub(super) mod tests;
