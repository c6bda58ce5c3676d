//! A serde deserializer fed by YAML events one at a time, so that reading a large file (a suite
//! of 100,000 inline cases) holds no list of events and no document tree: the typed value is
//! built while the text is parsed. serde_yaml loads every event of the document first, several
//! kB per case of a typical suite, freed only once the value is built. The events come from
//! [`super::fast`]'s scanner when the text is plain enough for it (a typical suite), else from
//! `saphyr-parser`, which gives the same events for such text four times slower.
//!
//! Scalars resolve exactly as serde_yaml resolves them (the YAML 1.2 core schema as serde_yaml
//! 0.9 reads it). What this reader does not handle itself (tags, numbers outside `u64`/`i64`,
//! several documents, syntax errors, a value of the wrong shape) fails as
//! [`Failure::Other`]: the caller then reads the text with serde_yaml, so every value and every
//! diagnostic is the one serde_yaml gives. Hostile input fails as [`Failure::Limit`], at its
//! line and column, before it can take the memory or time it asks for: nesting too deep, a
//! scalar too large, aliases that expand too far (an "alias bomb").

use std::collections::HashMap;
use std::rc::Rc;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, StrInput};
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};

use super::Location;

/// Bounds on what one file may make the reader do.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Mappings and lists nested in each other.
    pub depth: usize,
    /// Bytes of one scalar.
    pub scalar_bytes: usize,
    /// Events replayed by aliases, over the whole file.
    pub alias_events: usize,
    /// Events recorded for anchors; past this the file is read by serde_yaml instead.
    pub anchor_events: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { depth: 128, scalar_bytes: 16 << 20, alias_events: 1_000_000, anchor_events: 100_000 }
    }
}

/// Why the reader stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The input is hostile or too large: reported as it is.
    Limit {
        /// What is wrong.
        message: String,
        /// Where.
        location: Location,
        /// What to do about it.
        hint: String,
    },
    /// Anything else: read the text with serde_yaml for its value or its diagnostics.
    Other,
}

/// Reads `text` into `T`. With `items_of`, also returns where each item of the list under that
/// key of the root mapping is written (a block item at its `-`), in order.
pub(crate) fn read<T: DeserializeOwned>(
    text: &str,
    items_of: Option<&str>,
    limits: Limits,
) -> Result<(T, Vec<Location>), Failure> {
    // The fast scanner first; text outside its subset is read again by saphyr from the start.
    let mut reader = Reader::new(text, items_of, limits, Events::Fast(Scanner::new(text)));
    let result = reader.document::<T>();
    if matches!(&reader.events, Events::Fast(scanner) if scanner.gave_up()) {
        reader = Reader::new(text, items_of, limits, Events::Full(Box::new(Parser::new_from_str(text))));
        let result = reader.document::<T>();
        return reader.outcome(result);
    }
    reader.outcome(result)
}

/// Where events come from: the fast scanner for plain suites, else saphyr's parser.
enum Events<'t> {
    Fast(Scanner<'t>),
    Full(Box<Parser<'t, StrInput<'t>>>),
}

impl<'t> Events<'t> {
    fn next(&mut self) -> Option<Spanned<'t>> {
        match self {
            Self::Fast(scanner) => scanner.next(),
            Self::Full(parser) => parser.next().and_then(Result::ok),
        }
    }
}

/// The serde error: its text is never shown (serde_yaml reads the file again for that); a
/// limit's message travels in [`Reader::failure`].
#[derive(Debug)]
struct Error;

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not read by the streaming reader")
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        Self
    }
}

use super::fast::{Scanner, Spanned};

/// An anchor being recorded: its id, how deep the open collections inside it are, its events.
struct Recording<'t> {
    id: usize,
    depth: usize,
    events: Vec<Spanned<'t>>,
}

struct Reader<'t> {
    text: &'t str,
    events: Events<'t>,
    peeked: Option<Spanned<'t>>,
    /// Aliases being replayed, innermost last: the anchor's events, the next one's index and
    /// where the alias is written.
    replays: Vec<(Rc<[Spanned<'t>]>, usize, Span)>,
    anchors: HashMap<usize, Rc<[Spanned<'t>]>>,
    recording: Vec<Recording<'t>>,
    recorded: usize,
    replayed: usize,
    depth: usize,
    limits: Limits,
    items_of: Option<&'t str>,
    /// The next list read is the one whose items' positions are wanted.
    collect_next: bool,
    items: Vec<Location>,
    cursor: LineCursor,
    failure: Option<Failure>,
}

impl<'t> Reader<'t> {
    fn new(text: &'t str, items_of: Option<&'t str>, limits: Limits, events: Events<'t>) -> Self {
        Self {
            text,
            events,
            peeked: None,
            replays: Vec::new(),
            anchors: HashMap::new(),
            recording: Vec::new(),
            recorded: 0,
            replayed: 0,
            depth: 0,
            limits,
            items_of,
            collect_next: false,
            items: Vec::new(),
            cursor: LineCursor::default(),
            failure: None,
        }
    }

    /// The value read, or why not.
    fn outcome<T>(mut self, result: Result<T, Error>) -> Result<(T, Vec<Location>), Failure> {
        match (result, self.failure.take()) {
            (_, Some(failure)) => Err(failure),
            (Ok(value), None) => Ok((value, self.items)),
            (Err(_), None) => Err(Failure::Other),
        }
    }

    fn document<T: DeserializeOwned>(&mut self) -> Result<T, Error> {
        if !matches!(self.next()?.0, Event::StreamStart) || !matches!(self.next()?.0, Event::DocumentStart(_)) {
            return Err(Error);
        }
        if matches!(self.peek()?.0, Event::DocumentEnd | Event::StreamEnd) {
            return Err(Error); // An empty document: serde_yaml says what it says of that.
        }
        let value = T::deserialize(&mut *self)?;
        if !matches!(self.next()?.0, Event::DocumentEnd) || !matches!(self.next()?.0, Event::StreamEnd) {
            return Err(Error); // More than one document.
        }
        Ok(value)
    }

    fn limit(&mut self, span: Span, message: String, hint: &str) -> Error {
        let location = Location { line: span.start.line(), column: span.start.col() + 1 };
        self.failure = Some(Failure::Limit { message, location, hint: hint.to_owned() });
        Error
    }

    fn peek(&mut self) -> Result<&Spanned<'t>, Error> {
        if self.peeked.is_none() {
            let next = self.pull()?;
            self.peeked = Some(next);
        }
        self.peeked.as_ref().ok_or(Error)
    }

    fn next(&mut self) -> Result<Spanned<'t>, Error> {
        match self.peeked.take() {
            Some(event) => Ok(event),
            None => self.pull(),
        }
    }

    /// The next event, from the alias being replayed or else from the parser, with aliases
    /// replaced by the events of their anchors.
    fn pull(&mut self) -> Result<Spanned<'t>, Error> {
        loop {
            let (event, span) = if let Some((events, at, _)) = self.replays.last_mut() {
                let Some(event) = events.get(*at).cloned() else {
                    self.replays.pop();
                    continue;
                };
                *at += 1;
                self.replayed += 1;
                if self.replayed > self.limits.alias_events {
                    // Shown at the alias written in the file, not inside the anchors it repeats.
                    let outermost = self.replays.first().map_or(event.1, |replay| replay.2);
                    let message = format!("aliases expand to more than {} nodes", self.limits.alias_events);
                    let hint = "an alias repeats its anchor's whole value: use fewer, or write the values out";
                    return Err(self.limit(outermost, message, hint));
                }
                event
            } else {
                let Some((event, span)) = self.events.next() else { return Err(Error) };
                self.record(&event, span)?;
                (event, span)
            };
            if let Event::Alias(id) = event {
                let Some(events) = self.anchors.get(&id).cloned() else { return Err(Error) };
                if self.replays.len() >= self.limits.depth {
                    return Err(self.limit(span, "aliases nested too deep".to_owned(), "use fewer aliases"));
                }
                self.replays.push((events, 0, span));
                continue;
            }
            return Ok((event, span));
        }
    }

    /// Keeps the events of anchored nodes, to replay at their aliases.
    fn record(&mut self, event: &Event<'t>, span: Span) -> Result<(), Error> {
        let (anchor, opens, closes) = match event {
            Event::Scalar(_, _, anchor, _) => (*anchor, false, false),
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => (*anchor, true, false),
            Event::SequenceEnd | Event::MappingEnd => (0, false, true),
            Event::Alias(_) => (0, false, false),
            _ => return Ok(()),
        };
        for recording in &mut self.recording {
            recording.events.push((event.clone(), span));
            if opens {
                recording.depth += 1;
            } else if closes {
                recording.depth -= 1;
            }
        }
        self.recorded += self.recording.len();
        if anchor != 0 {
            self.recording.push(Recording {
                id: anchor,
                depth: usize::from(opens),
                events: vec![(event.clone(), span)],
            });
            self.recorded += 1;
        }
        if self.recorded > self.limits.anchor_events {
            return Err(Error); // A large anchored value: serde_yaml reads it.
        }
        while self.recording.last().is_some_and(|r| r.depth == 0) {
            if let Some(done) = self.recording.pop() {
                self.anchors.insert(done.id, done.events.into());
            }
        }
        Ok(())
    }

    fn enter(&mut self, span: Span) -> Result<(), Error> {
        self.depth += 1;
        if self.depth > self.limits.depth {
            let message = format!("nested more than {} levels deep", self.limits.depth);
            return Err(self.limit(span, message, "flatten the structure"));
        }
        Ok(())
    }

    fn scalar_size(&mut self, value: &str, span: Span) -> Result<(), Error> {
        if value.len() > self.limits.scalar_bytes {
            let message = format!(
                "a value of {} MiB, larger than the {} MiB allowed",
                value.len() >> 20,
                self.limits.scalar_bytes >> 20
            );
            return Err(self.limit(span, message, "keep large texts in a file and refer to it (`file://`)"));
        }
        Ok(())
    }

    /// Skips one node (a value nothing reads).
    fn skip(&mut self) -> Result<(), Error> {
        let mut open = 0usize;
        loop {
            match self.next()?.0 {
                Event::SequenceStart(..) | Event::MappingStart(..) => open += 1,
                Event::SequenceEnd | Event::MappingEnd => open = open.checked_sub(1).ok_or(Error)?,
                Event::Scalar(..) => {}
                _ => return Err(Error),
            }
            if open == 0 {
                return Ok(());
            }
        }
    }
}

impl<'de> de::Deserializer<'de> for &mut Reader<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let collect = std::mem::take(&mut self.collect_next);
        let (event, span) = self.next()?;
        match event {
            Event::Scalar(value, style, _, None) => {
                self.scalar_size(&value, span)?;
                if style == ScalarStyle::Plain { plain(visitor, &value) } else { visitor.visit_str(&value) }
            }
            Event::SequenceStart(_, None) => {
                self.enter(span)?;
                let value = visitor.visit_seq(Items { reader: &mut *self, collect })?;
                if !matches!(self.next()?.0, Event::SequenceEnd) {
                    return Err(Error);
                }
                self.depth -= 1;
                Ok(value)
            }
            Event::MappingStart(_, None) => {
                self.enter(span)?;
                let value = visitor.visit_map(Entries { reader: &mut *self })?;
                if !matches!(self.next()?.0, Event::MappingEnd) {
                    return Err(Error);
                }
                self.depth -= 1;
                Ok(value)
            }
            _ => Err(Error), // Tagged nodes and anything unexpected: serde_yaml's call.
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.collect_next = false;
        // serde_yaml reads any scalar as text where text is wanted (`name: 3` is "3").
        match self.next()? {
            (Event::Scalar(value, _, _, None), span) => {
                self.scalar_size(&value, span)?;
                visitor.visit_str(&value)
            }
            _ => Err(Error),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if let (Event::Scalar(value, ScalarStyle::Plain, _, None), _) = self.peek()?
            && is_null(value)
        {
            self.next()?;
            return visitor.visit_none();
        }
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        // A unit variant written as a plain word; other forms are serde_yaml's.
        match self.next()? {
            (Event::Scalar(value, ScalarStyle::Plain, _, None), _) => {
                visitor.visit_enum(IntoDeserializer::<Error>::into_deserializer(value.as_ref()))
            }
            _ => Err(Error),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.collect_next = false;
        self.skip()?;
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf unit unit_struct
        seq tuple tuple_struct map struct
    }
}

/// A plain scalar as serde_yaml resolves it: null, bool, integer, float, else text.
fn plain<'de, V: Visitor<'de>>(visitor: V, v: &str) -> Result<V::Value, Error> {
    if is_null(v) {
        return visitor.visit_unit();
    }
    match v {
        "true" | "True" | "TRUE" => return visitor.visit_bool(true),
        "false" | "False" | "FALSE" => return visitor.visit_bool(false),
        _ => {}
    }
    if let Some(int) = unsigned(v) {
        return visitor.visit_u64(int);
    }
    if let Some(int) = negative(v) {
        return visitor.visit_i64(int);
    }
    if looks_numeric(v) && (unsigned_wide(v) || negative_wide(v)) {
        return Err(Error); // Beyond 64 bits: serde_yaml's 128-bit visits decide.
    }
    if !digits_but_not_number(v)
        && let Some(float) = float(v)
    {
        return visitor.visit_f64(float);
    }
    visitor.visit_str(v)
}

fn is_null(v: &str) -> bool {
    matches!(v, "" | "~" | "null" | "Null" | "NULL")
}

fn looks_numeric(v: &str) -> bool {
    v.bytes().next().is_some_and(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-'))
}

fn radix(text: &str) -> (&str, u32) {
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(rest) = text.strip_prefix(prefix) {
            return (rest, radix);
        }
    }
    (text, 10)
}

/// serde_yaml's unsigned integers: `+`, `0x`, `0o`, `0b`; leading zeros make text.
fn unsigned(v: &str) -> Option<u64> {
    let unpositive = v.strip_prefix('+').unwrap_or(v);
    let (digits, base) = radix(unpositive);
    if base != 10 {
        if digits.starts_with(['+', '-']) {
            return None;
        }
        if let Ok(int) = u64::from_str_radix(digits, base) {
            return Some(int);
        }
    }
    if unpositive.starts_with(['+', '-']) || digits_but_not_number(v) {
        return None;
    }
    unpositive.parse().ok()
}

/// serde_yaml's negative integers: `-0x…`, `-0o…`, `-0b…` and decimals.
fn negative(v: &str) -> Option<i64> {
    if let Some(rest) = v.strip_prefix('-') {
        let (digits, base) = radix(rest);
        if base != 10
            && let Ok(int) = i64::from_str_radix(&format!("-{digits}"), base)
        {
            return Some(int);
        }
    }
    if digits_but_not_number(v) {
        return None;
    }
    v.parse::<i64>().ok()
}

fn unsigned_wide(v: &str) -> bool {
    let unpositive = v.strip_prefix('+').unwrap_or(v);
    let (digits, base) = radix(unpositive);
    (base != 10 && u128::from_str_radix(digits, base).is_ok())
        || (!unpositive.starts_with(['+', '-']) && !digits_but_not_number(v) && unpositive.parse::<u128>().is_ok())
}

fn negative_wide(v: &str) -> bool {
    let Some(rest) = v.strip_prefix('-') else { return false };
    let (digits, base) = radix(rest);
    (base != 10 && i128::from_str_radix(&format!("-{digits}"), base).is_ok())
        || (!digits_but_not_number(v) && v.parse::<i128>().is_ok())
}

/// serde_yaml's floats: Rust's syntax, finite, and `.inf`, `-.inf`, `.nan` spelled YAML's ways.
fn float(v: &str) -> Option<f64> {
    let unpositive = match v.strip_prefix('+') {
        Some(rest) if rest.starts_with(['+', '-']) => return None,
        Some(rest) => rest,
        None => v,
    };
    if matches!(unpositive, ".inf" | ".Inf" | ".INF") {
        return Some(f64::INFINITY);
    }
    if matches!(v, "-.inf" | "-.Inf" | "-.INF") {
        return Some(f64::NEG_INFINITY);
    }
    if matches!(v, ".nan" | ".NaN" | ".NAN") {
        return Some(f64::NAN.copysign(1.0));
    }
    unpositive.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Leading zeros followed by digits are text in YAML 1.2 (`007`).
fn digits_but_not_number(v: &str) -> bool {
    let v = v.strip_prefix(['-', '+']).unwrap_or(v);
    v.len() > 1 && v.starts_with('0') && v[1..].bytes().all(|b| b.is_ascii_digit())
}

struct Items<'r, 't> {
    reader: &'r mut Reader<'t>,
    /// Whether the items' positions are wanted.
    collect: bool,
}

impl<'de> de::SeqAccess<'de> for Items<'_, '_> {
    type Error = Error;

    fn next_element_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>, Error> {
        let span = match self.reader.peek()? {
            (Event::SequenceEnd, _) => return Ok(None),
            (_, span) => *span,
        };
        if self.collect {
            let at = Location { line: span.start.line(), column: span.start.col() + 1 };
            let line = self.reader.cursor.line(self.reader.text, at.line);
            self.reader.items.push(super::positions::item_location(line, at));
        }
        self.reader.collect_next = false;
        seed.deserialize(&mut *self.reader).map(Some)
    }
}

struct Entries<'r, 't> {
    reader: &'r mut Reader<'t>,
}

impl<'de> de::MapAccess<'de> for Entries<'_, '_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        let (depth, items_of) = (self.reader.depth, self.reader.items_of);
        let wanted = match self.reader.peek()? {
            (Event::MappingEnd, _) => return Ok(None),
            (Event::Scalar(key, ..), _) => depth == 1 && items_of == Some(key.as_ref()),
            _ => false,
        };
        self.reader.collect_next = false;
        let key = seed.deserialize(&mut *self.reader)?;
        self.reader.collect_next = wanted;
        Ok(Some(key))
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, Error> {
        let value = seed.deserialize(&mut *self.reader);
        self.reader.collect_next = false;
        value
    }
}

/// The text of a line, found by moving forward from the last line asked for (items are read in
/// order, so finding every item's line costs one pass over the text).
#[derive(Debug, Default)]
struct LineCursor {
    line: usize,
    offset: usize,
}

impl LineCursor {
    fn line<'t>(&mut self, text: &'t str, line: usize) -> &'t str {
        if line == 0 || line < self.line.max(1) {
            *self = Self::default();
        }
        if self.line == 0 {
            self.line = 1;
        }
        while self.line < line {
            match text[self.offset..].find('\n') {
                Some(at) => {
                    self.offset += at + 1;
                    self.line += 1;
                }
                None => break,
            }
        }
        let rest = &text[self.offset..];
        &rest[..rest.find('\n').unwrap_or(rest.len())]
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn stream<T: DeserializeOwned>(text: &str) -> Result<T, Failure> {
        read(text, None, Limits::default()).map(|(value, _)| value)
    }

    /// What the streaming reader gives equals serde_yaml's value, or it leaves the text to
    /// serde_yaml.
    fn same_as_serde_yaml(text: &str) {
        let theirs: Result<serde_json::Value, _> = serde_yaml::from_str(text);
        match stream::<serde_json::Value>(text) {
            Ok(ours) => assert_eq!(Some(ours), theirs.ok(), "{text:?}"),
            Err(Failure::Other) => {}
            Err(limit) => panic!("{text:?}: {limit:?}"),
        }
    }

    #[test]
    fn values_resolve_as_serde_yaml_resolves_them() {
        for text in [
            "a: 1\nb: -2\nc: 0.5\nd: true\ne: ~\nf: null\ng: ''\nh: text\n",
            "x: [007, 0x1F, 0o17, 0b11, +5, -0x10, 1e3, .inf, -.INF, .nan, 1_000, 3 apples, -foo, .5]\n",
            "big: 18446744073709551616\nneg: -9223372036854775809\nyes: [yes, no, on, off, Y]\n",
            "q: '1'\nr: \"true\"\ns: |\n  block\n  text\nt: >\n  folded\n  text\n",
            "base: &b { x: 1, y: [1, 2] }\nuse: *b\nlist: [*b, *b]\nscalar: &s hi\nagain: *s\n",
            "? [a, b]\n: complex key\n",
            "!!str 5\n",
            "a: !custom 1\n",
            "a: 1\n---\nb: 2\n",
            "- 1\n- [2, [3, {x: y}]]\n",
            "é: ü\n\"quoted key\": 1\n'single': 2\n",
            "dup: 1\ndup: 2\n",
            "a: [1, 2\n",
            "",
            "# only a comment\n",
        ] {
            same_as_serde_yaml(text);
        }
    }

    #[derive(Debug, PartialEq, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Entry {
        name: Option<String>,
        #[serde(default)]
        vars: BTreeMap<String, serde_json::Value>,
        #[serde(default)]
        tags: Vec<String>,
    }

    #[derive(Debug, PartialEq, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        targets: Vec<String>,
        tests: Vec<Entry>,
    }

    #[test]
    fn typed_values_and_text_where_text_is_wanted() {
        let text = "targets: [a, 3]\ntests:\n  - name: 7\n    vars: { n: 1, s: \"x\" }\n  - name: ~\n    tags: [t]\n";
        let ours: File = stream(text).expect("reads");
        let theirs: File = serde_yaml::from_str(text).expect("parses");
        assert_eq!(ours, theirs);
        assert_eq!(ours.targets, vec!["a", "3"]);
    }

    #[test]
    fn a_misfit_is_left_to_serde_yaml() {
        for text in ["targets: [a]\ntests:\n  - nmae: x\n", "targets: a\ntests: []\n", "tests: []\n"] {
            assert_eq!(stream::<File>(text), Err(Failure::Other), "{text}");
        }
    }

    #[test]
    fn items_of_a_root_list_are_located_at_their_dash() {
        let text = "targets: [a]\ntests:\n  - name: one\n  -   name: two\n  - { name: three }\n";
        let (_, items) = read::<File>(text, Some("tests"), Limits::default()).expect("reads");
        let at = |line, column| Location { line, column };
        assert_eq!(items, vec![at(3, 3), at(4, 3), at(5, 3)]);
        let (_, none) = read::<File>(text, Some("targets"), Limits::default()).expect("reads");
        assert_eq!(none.len(), 1, "only the list asked for");
    }

    #[test]
    fn a_text_the_fast_scanner_gives_up_on_late_is_read_again_in_full() {
        let plain = "targets: [a]\ntests:\n  - name: one\n    vars: { n: 1 }\n  - name: two\n";
        let late = format!("{plain}  - name: |\n      three\n");
        assert!(super::super::fast::tests::reads(plain), "plain enough for the fast scanner");
        assert!(!super::super::fast::tests::reads(&late), "a block scalar is saphyr's");
        for text in [plain.to_owned(), late] {
            let (ours, items) = read::<File>(&text, Some("tests"), Limits::default()).expect("reads");
            assert_eq!(ours, serde_yaml::from_str::<File>(&text).expect("parses"));
            assert_eq!(items.first(), Some(&Location { line: 3, column: 3 }));
            same_as_serde_yaml(&text);
        }
    }

    fn limit(text: &str, limits: Limits) -> (String, Location) {
        match read::<serde_json::Value>(text, None, limits) {
            Err(Failure::Limit { message, location, .. }) => (message, location),
            other => panic!("expected a limit, got {other:?}"),
        }
    }

    #[test]
    fn deep_nesting_is_refused_where_it_goes_too_deep() {
        let text = format!("a:\n  b: {}{}\n", "[".repeat(200), "]".repeat(200));
        let (message, at) = limit(&text, Limits::default());
        assert_eq!(message, "nested more than 128 levels deep");
        assert_eq!(at, Location { line: 2, column: 6 + 126 });
    }

    #[test]
    fn an_alias_bomb_is_refused_before_it_expands() {
        let mut text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n".to_owned();
        for (name, previous) in
            ["b", "c", "d", "e", "f", "g", "h", "i", "j"].iter().zip(["a", "b", "c", "d", "e", "f", "g", "h", "i"])
        {
            text.push_str(&format!("{name}: &{name} [{}]\n", vec![format!("*{previous}"); 10].join(", ")));
        }
        let started = std::time::Instant::now();
        let (message, at) = limit(&text, Limits::default());
        assert_eq!(message, "aliases expand to more than 1000000 nodes");
        assert!(at.line >= 6, "at an alias that went over: {at:?}");
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "stopped early");
    }

    #[test]
    fn a_huge_scalar_is_refused_at_its_line() {
        let limits = Limits { scalar_bytes: 1 << 20, ..Limits::default() };
        let text = format!("a: 1\nb: \"{}\"\n", "x".repeat(3 << 20));
        let (message, at) = limit(&text, limits);
        assert_eq!(message, "a value of 3 MiB, larger than the 1 MiB allowed");
        assert_eq!(at, Location { line: 2, column: 4 });
    }

    #[test]
    fn a_large_anchor_is_left_to_serde_yaml() {
        let limits = Limits { anchor_events: 10, ..Limits::default() };
        let text = format!("a: &a [{}]\nb: *a\n", vec!["1"; 50].join(", "));
        assert_eq!(read::<serde_json::Value>(&text, None, limits).map(|_| ()), Err(Failure::Other));
    }
}
