//! The one place that touches `serde_yaml` (deprecated upstream, so it must stay swappable).
//! Parses YAML into typed values and turns every failure into a [`YamlError`] that names the
//! file, line and column, says what was expected and, where it can, suggests a fix. Checks made
//! after parsing find their `file:line:col` through a [`Source`]: the file's text with the
//! position of every key and list item, indexed once ([`positions`]).
//!
//! The one way to read a YAML file whose later checks point at lines:
//! `let source = Source::new(text); let file: T = source.parse(&path)?;` then
//! `source.locate(&["tests", "3", "assert"])`.

mod fast;
mod positions;
mod stream;

use std::fmt;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Diagnostic, ErrorClass, did_you_mean};
pub use positions::Positions;

/// A position in a file, 1-based like editors show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Location {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

/// A YAML file that could not be read or did not have the expected shape.
#[derive(Debug, thiserror::Error)]
pub struct YamlError {
    /// The file that was being read.
    pub path: PathBuf,
    /// Where the problem is, when known.
    pub location: Option<Location>,
    /// What is wrong, without the location.
    pub message: String,
    /// What the user can do about it.
    pub hints: Vec<String>,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(loc) = self.location {
            write!(f, ":{}:{}", loc.line, loc.column)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl Diagnostic for YamlError {
    fn class(&self) -> ErrorClass {
        ErrorClass::Config
    }
    fn hints(&self) -> Vec<String> {
        self.hints.clone()
    }
}

impl YamlError {
    /// An error at a known place in `path`, for checks made after parsing.
    pub fn at(path: &Path, location: Option<Location>, message: impl Into<String>) -> Self {
        Self { path: path.to_path_buf(), location, message: message.into(), hints: Vec::new() }
    }

    /// Adds a hint line.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }
}

/// Parses `text` (the contents of `path`) into `T`.
pub fn from_str<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, YamlError> {
    if text.trim().is_empty() {
        return Err(
            YamlError::at(path, None, "the file is empty").with_hint("see `promptops schema` for the expected shape")
        );
    }
    serde_yaml::from_str(text).map_err(|err| convert(path, &err))
}

/// Like [`from_str`], for files that may be large (suites): read by a streaming reader that
/// holds no tree of the document, with limits on nesting, scalar size and alias expansion.
/// Returns also where each item of the list under `items_of` (a key of the root mapping) is
/// written, when the streaming reader read the file; empty when serde_yaml did (the reader
/// leaves it what it does not handle itself, and every mistake, so that diagnostics stay
/// serde_yaml's).
pub fn from_str_streaming<T: DeserializeOwned>(
    path: &Path,
    text: &str,
    items_of: &str,
) -> Result<(T, Vec<Location>), YamlError> {
    match streamed(path, text, items_of) {
        Streamed::Read(value, items) => Ok((value, items)),
        Streamed::Refused(err) => Err(err),
        Streamed::Left => from_str(path, text).map(|value| (value, Vec::new())),
    }
}

/// What the streaming reader made of a text.
enum Streamed<T> {
    Read(T, Vec<Location>),
    /// Hostile input, not to be parsed again.
    Refused(YamlError),
    /// Left to serde_yaml.
    Left,
}

fn streamed<T: DeserializeOwned>(path: &Path, text: &str, items_of: &str) -> Streamed<T> {
    if text.trim().is_empty() {
        return Streamed::Left;
    }
    match stream::read(text, Some(items_of), stream::Limits::default()) {
        Ok((value, items)) => Streamed::Read(value, items),
        Err(stream::Failure::Limit { message, location, hint }) => {
            Streamed::Refused(YamlError::at(path, Some(location), message).with_hint(hint))
        }
        Err(stream::Failure::Other) => Streamed::Left,
    }
}

/// Parses a YAML value of any shape (used for `--vars-file` and datasets).
pub fn value_from_str(path: &Path, text: &str) -> Result<serde_json::Value, YamlError> {
    serde_yaml::from_str(text).map_err(|err| convert(path, &err))
}

/// Serialises `value` as YAML.
pub fn to_string<T: Serialize>(value: &T) -> String {
    // Serialising plain data types (no maps with non-string keys) cannot fail.
    serde_yaml::to_string(value).unwrap_or_else(|err| format!("# cannot serialise: {err}\n"))
}

fn convert(path: &Path, err: &serde_yaml::Error) -> YamlError {
    let location = err.location().map(|l| Location { line: l.line(), column: l.column() });
    let full = err.to_string();
    // serde_yaml repeats the location inside its message; the header already says it.
    let message = match &location {
        Some(l) => full.replacen(&format!(" at line {} column {}", l.line, l.column), "", 1),
        None => full,
    };
    let message = without_rust_names(&message);
    let hints = hints_for(&message);
    YamlError { path: path.to_path_buf(), location, message, hints }
}

/// serde names the Rust type it wanted ("expected struct PromptFile"); a user wrote a mapping
/// of keys, and is told so in those words.
fn without_rust_names(message: &str) -> String {
    match message.find("expected struct ") {
        Some(at) => {
            let rest = &message[at + "expected struct ".len()..];
            let end = rest.find(|c: char| !c.is_alphanumeric() && c != '_').unwrap_or(rest.len());
            format!("{}expected a mapping of `key: value` lines{}", &message[..at], &rest[end..])
        }
        None => message.to_owned(),
    }
}

/// Turns serde's messages ("unknown field `x`, expected one of `a`, `b`") into suggestions.
fn hints_for(message: &str) -> Vec<String> {
    let mut hints = Vec::new();
    for kind in ["unknown field `", "unknown variant `"] {
        let Some(start) = message.find(kind) else { continue };
        let rest = &message[start + kind.len()..];
        let Some(end) = rest.find('`') else { continue };
        let wanted = &rest[..end];
        let expected: Vec<&str> = rest[end + 1..].split('`').skip(1).step_by(2).collect();
        if let Some(hint) = did_you_mean(wanted, expected.iter().copied()) {
            hints.push(hint);
        } else if !expected.is_empty() {
            hints.push(format!("allowed here: {}", expected.join(", ")));
        }
    }
    if message.contains("invalid type") {
        hints.push("check the value's type against `promptops schema`".to_owned());
    }
    hints
}

/// A YAML file's text, with the position of every key and list item indexed on first use (one
/// pass over the text), so that any number of lookups costs the depth of their key paths.
/// Dereferences to the text.
#[derive(Clone, Default)]
pub struct Source {
    text: String,
    positions: OnceLock<Positions>,
}

impl Source {
    /// Wraps a file's text; nothing is parsed yet.
    pub fn new(text: impl Into<String>) -> Self {
        Self { text: text.into(), positions: OnceLock::new() }
    }

    /// The text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Parses the text (the contents of `path`) into `T`.
    pub fn parse<T: DeserializeOwned>(&self, path: &Path) -> Result<T, YamlError> {
        from_str(path, &self.text)
    }

    /// Where a key path (`["nodes", "critique", "output"]`, a list index as `"2"`) is written.
    pub fn locate(&self, key_path: &[&str]) -> Option<Location> {
        self.positions().locate(key_path)
    }

    /// Whether the index of positions has been built (a valid suite is planned without it).
    pub fn is_indexed(&self) -> bool {
        self.positions.get().is_some()
    }

    /// The index of positions, built on first use.
    pub fn positions(&self) -> &Positions {
        self.positions.get_or_init(|| Positions::new(&self.text))
    }
}

impl Deref for Source {
    type Target = str;
    fn deref(&self) -> &str {
        &self.text
    }
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.text, f)
    }
}

impl PartialEq for Source {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl From<String> for Source {
    fn from(text: String) -> Self {
        Self::new(text)
    }
}

impl From<Source> for String {
    fn from(source: Source) -> Self {
        source.text
    }
}

/// Where a key path is written in `text`, for a single lookup: this indexes the whole text, so
/// code that looks up more than once holds a [`Source`] instead.
pub fn locate(text: &str, key_path: &[&str]) -> Option<Location> {
    Positions::new(text).locate(key_path)
}

/// Most problems reported for one file, so a file of garbage cannot flood the terminal.
const MAX_PROBLEMS: usize = 50;

/// Parses `text` into `T` and, when it does not fit, finds every problem instead of the first:
/// each misfit node (an unknown key, a value of the wrong type, an item missing a field) is
/// reported at its line and pruned, and parsing goes on with the rest. Returns what parsed
/// after pruning (so later checks can find their problems too) and the problems. A file that
/// fits is read as [`from_str_streaming`] reads it, with the positions of `items_of`'s items.
pub fn from_str_all<T: DeserializeOwned>(
    path: &Path,
    text: &str,
    items_of: &str,
) -> (Option<(T, Vec<Location>)>, Vec<YamlError>) {
    match streamed(path, text, items_of) {
        Streamed::Read(value, items) => return (Some((value, items)), Vec::new()),
        Streamed::Refused(err) => return (None, vec![err]),
        Streamed::Left => {}
    }
    let first = match from_str(path, text) {
        Ok(parsed) => return (Some((parsed, Vec::new())), Vec::new()),
        Err(first) => first,
    };
    // A syntax error leaves no tree to prune.
    let Ok(mut value) = value_from_str(path, text) else { return (None, vec![first]) };
    let mut problems = vec![first];
    let mut pruned: Vec<Vec<String>> = Vec::new();
    for round in 0..MAX_PROBLEMS {
        let err = match serde_path_to_error::deserialize::<_, T>(value.clone()) {
            Ok(parsed) => return (Some((parsed, Vec::new())), problems),
            Err(err) => err,
        };
        let mut key_path: Vec<String> = err.path().iter().map(segment_name).collect();
        let message = without_rust_names(&err.inner().to_string());
        // The path ends at an unknown key already; older serde_path_to_error stopped before it.
        if let Some(unknown) = unknown_field(&message)
            && key_path.last().is_none_or(|last| last != unknown)
        {
            key_path.push(unknown.to_owned());
        }
        let segments: Vec<&str> = key_path.iter().map(String::as_str).collect();
        let location = locate(text, &segments);
        // The first misfit is the one serde_yaml reported already, with its exact column; a
        // field missing only because a misfit was pruned from it was reported as that misfit.
        let same_as_first = round == 0 && location.map(|l| l.line) == problems[0].location.map(|l| l.line);
        let cascade = message.starts_with("missing field") && pruned.iter().any(|p| p.starts_with(&key_path));
        if !same_as_first && !cascade {
            let hints = hints_for(&message);
            problems.push(YamlError { path: path.to_path_buf(), location, message, hints });
        }
        if key_path.is_empty() || !prune(&mut value, &key_path) {
            return (None, problems);
        }
        pruned.push(key_path);
    }
    (None, problems)
}

fn segment_name(segment: &serde_path_to_error::Segment) -> String {
    match segment {
        serde_path_to_error::Segment::Seq { index } => index.to_string(),
        serde_path_to_error::Segment::Map { key } => key.clone(),
        serde_path_to_error::Segment::Enum { variant } => variant.clone(),
        serde_path_to_error::Segment::Unknown => "?".to_owned(),
    }
}

/// `x` of serde's "unknown field `x`, expected …".
fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split_once('`').map(|(name, _)| name)
}

/// Removes the node at `key_path` from its parent; false when there is no such node.
fn prune(value: &mut serde_json::Value, key_path: &[String]) -> bool {
    let Some((last, parents)) = key_path.split_last() else { return false };
    let mut node = value;
    for segment in parents {
        let next = match node {
            serde_json::Value::Object(map) => map.get_mut(segment),
            serde_json::Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
            _ => None,
        };
        let Some(next) = next else { return false };
        node = next;
    }
    match node {
        serde_json::Value::Object(map) => map.shift_remove(last).is_some(),
        serde_json::Value::Array(items) => match last.parse::<usize>() {
            Ok(index) if index < items.len() => {
                items.remove(index);
                true
            }
            _ => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only deserialised")]
    struct Sample {
        model: String,
        description: Option<String>,
    }

    #[test]
    fn unknown_key_names_line_column_and_suggests() {
        let err = from_str::<Sample>(Path::new("p.yaml"), "model: x\nmodle: y\n").unwrap_err();
        assert_eq!(err.location, Some(Location { line: 2, column: 1 }));
        assert!(err.message.contains("unknown field `modle`"), "{}", err.message);
        assert_eq!(err.hints, vec!["did you mean `model`?".to_owned()]);
        assert!(err.to_string().starts_with("p.yaml:2:1: unknown field"));
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only deserialised")]
    struct Suite {
        targets: Vec<String>,
        tests: Vec<Sample>,
    }

    #[test]
    fn every_misfit_of_a_file_is_reported_at_its_line_and_the_rest_still_parses() {
        let text = "targets: [a]\ntests:\n  - model: x\n    modle: y\n  - model: 3\n    description: [1]\n  - model: z\nthreshhold: 1\n";
        let (parsed, problems) = from_str_all::<Suite>(Path::new("s.yaml"), text, "tests");
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            vec![
                "s.yaml:4:5: tests[0]: unknown field `modle`, expected `model` or `description`",
                "s.yaml:5:5: invalid type: integer `3`, expected a string",
                "s.yaml:6:5: invalid type: sequence, expected a string",
                "s.yaml:8:1: unknown field `threshhold`, expected `targets` or `tests`",
            ],
            "the entry whose `model` was pruned is not reported again as missing it"
        );
        assert_eq!(problems[0].hints, vec!["did you mean `model`?".to_owned()]);
        assert!(parsed.is_some(), "what remains parses, for the checks that come after");
    }

    #[test]
    fn a_scalar_where_a_mapping_belongs_names_no_rust_type() {
        let err = from_str::<Sample>(Path::new("p.yaml"), "hello\n").unwrap_err();
        assert_eq!(err.message, "invalid type: string \"hello\", expected a mapping of `key: value` lines");
    }

    #[test]
    fn empty_file_is_an_error_with_a_hint() {
        let err = from_str::<Sample>(Path::new("p.yaml"), "  \n").unwrap_err();
        assert_eq!(err.message, "the file is empty");
    }

    #[test]
    fn wrong_type_is_reported_with_a_hint() {
        let err = from_str::<Sample>(Path::new("p.yaml"), "model: [1, 2]\n").unwrap_err();
        assert!(err.message.contains("invalid type"), "{}", err.message);
        assert!(!err.hints.is_empty());
    }

    #[test]
    fn a_source_locates_keys_of_its_text() {
        let source = Source::new("model: x\nvariables:\n  ticket: { type: string }\n");
        let parsed: serde_json::Value = source.parse(Path::new("p.yaml")).expect("parses");
        assert_eq!(parsed["model"], "x");
        assert_eq!(source.locate(&["variables", "ticket"]), Some(Location { line: 3, column: 3 }));
        assert_eq!(locate(&source, &["model"]), Some(Location { line: 1, column: 1 }));
        assert_eq!(&*source, source.text());
    }
}
