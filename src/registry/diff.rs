//! Differences between two versions of a prompt as data: unified hunks with word-level
//! emphasis (from `similar`) and insertion/deletion counts. Colour and layout are the CLI's.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::Serialize;
use similar::{ChangeTag, TextDiff};

use crate::prompt::PartialSet;

/// Lines of context around each change, as in `git diff`.
pub const CONTEXT_LINES: usize = 3;

/// One side of a comparison: a prompt's file text and the partials it uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffSide {
    /// How the side is named in headers: `support/triage@3`, `support/triage (working copy)`.
    pub label: String,
    /// The prompt file's text (empty when the prompt does not exist on this side).
    pub source: String,
    /// The partials it includes.
    pub partials: PartialSet,
}

/// The differences of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct FileDiff {
    /// The old side's name.
    pub old: String,
    /// The new side's name.
    pub new: String,
    /// Changed regions with context.
    pub hunks: Vec<Hunk>,
    /// Lines added.
    pub insertions: usize,
    /// Lines removed.
    pub deletions: usize,
}

/// A changed region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Hunk {
    /// The `@@ -a,b +c,d @@` header.
    pub header: String,
    /// Its lines.
    pub lines: Vec<DiffLine>,
}

/// One line of a hunk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct DiffLine {
    /// Context, insertion or deletion.
    pub kind: LineKind,
    /// The line's text in pieces; emphasised pieces are the words that changed.
    pub segments: Vec<Segment>,
}

/// What a diff line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LineKind {
    /// Unchanged context.
    Context,
    /// Added.
    Insert,
    /// Removed.
    Delete,
}

/// A piece of a line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Segment {
    /// The text.
    pub text: String,
    /// Whether this piece changed within the line.
    pub emphasized: bool,
}

impl FileDiff {
    /// Whether the two sides are equal.
    pub fn is_empty(&self) -> bool {
        self.hunks.is_empty()
    }

    /// Plain unified diff text (no colour), like `git diff`.
    pub fn unified(&self) -> String {
        let mut out = format!("--- {}\n+++ {}\n", self.old, self.new);
        for hunk in &self.hunks {
            out.push_str(&hunk.header);
            out.push('\n');
            for line in &hunk.lines {
                out.push(match line.kind {
                    LineKind::Context => ' ',
                    LineKind::Insert => '+',
                    LineKind::Delete => '-',
                });
                let text: String = line.segments.iter().map(|s| s.text.as_str()).collect();
                out.push_str(text.trim_end_matches('\n'));
                out.push('\n');
            }
        }
        out
    }
}

/// Compares two texts.
pub fn diff_texts(old_label: &str, old: &str, new_label: &str, new: &str) -> FileDiff {
    let diff = TextDiff::configure().timeout(Duration::from_secs(2)).diff_lines(old, new);
    let mut hunks = Vec::new();
    let (mut insertions, mut deletions) = (0, 0);
    for group in diff.grouped_ops(CONTEXT_LINES) {
        let (Some(first), Some(last)) = (group.first(), group.last()) else { continue };
        let old_range = first.old_range().start..last.old_range().end;
        let new_range = first.new_range().start..last.new_range().end;
        let header =
            format!("@@ -{},{} +{},{} @@", old_range.start + 1, old_range.len(), new_range.start + 1, new_range.len());
        let mut lines = Vec::new();
        for op in &group {
            for change in diff.iter_inline_changes(op) {
                let kind = match change.tag() {
                    ChangeTag::Equal => LineKind::Context,
                    ChangeTag::Insert => {
                        insertions += 1;
                        LineKind::Insert
                    }
                    ChangeTag::Delete => {
                        deletions += 1;
                        LineKind::Delete
                    }
                };
                let segments = change
                    .iter_strings_lossy()
                    .map(|(emphasized, text)| Segment { text: text.into_owned(), emphasized })
                    .collect();
                lines.push(DiffLine { kind, segments });
            }
        }
        hunks.push(Hunk { header, lines });
    }
    FileDiff { old: old_label.to_owned(), new: new_label.to_owned(), hunks, insertions, deletions }
}

/// Compares two sides of a prompt: its file, then every partial that differs.
pub fn diff_prompts(old: &DiffSide, new: &DiffSide) -> Vec<FileDiff> {
    let mut files = vec![diff_texts(&old.label, &old.source, &new.label, &new.source)];
    let names: BTreeSet<&String> = old.partials.keys().chain(new.partials.keys()).collect();
    for name in names {
        let (a, b) = (old.partials.get(name), new.partials.get(name));
        if a != b {
            let label = |side: &DiffSide| format!("{} partial {name}", side.label);
            files.push(diff_texts(
                &label(old),
                a.map_or("", String::as_str),
                &label(new),
                b.map_or("", String::as_str),
            ));
        }
    }
    files.retain(|f| !f.is_empty());
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unified_output_matches_git_shape() {
        let d = diff_texts("a@1", "one\ntwo\nthree\n", "a@2", "one\n2\nthree\n");
        assert_eq!(d.unified(), "--- a@1\n+++ a@2\n@@ -1,3 +1,3 @@\n one\n-two\n+2\n three\n");
        assert_eq!((d.insertions, d.deletions), (1, 1));
    }

    #[test]
    fn changed_words_are_emphasised() {
        let d = diff_texts("a", "reply in english please\n", "b", "reply in german please\n");
        let inserted = d.hunks[0].lines.iter().find(|l| l.kind == LineKind::Insert).expect("an insert");
        let emphasised: Vec<&str> =
            inserted.segments.iter().filter(|s| s.emphasized).map(|s| s.text.as_str()).collect();
        assert_eq!(emphasised, vec!["german"]);
    }

    #[test]
    fn equal_texts_have_no_hunks() {
        assert!(diff_texts("a", "x\n", "b", "x\n").is_empty());
    }

    #[test]
    fn partial_changes_appear_as_their_own_file() {
        let side = |label: &str, partial: &str| DiffSide {
            label: label.into(),
            source: "messages: []\n".into(),
            partials: PartialSet::from([("style.j2".to_owned(), partial.to_owned())]),
        };
        let files = diff_prompts(&side("p@1", "Be kind.\n"), &side("p", "Be brief.\n"));
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].old, "p@1 partial style.j2");
    }
}
