//! Diffs for the terminal: unified hunks with changed words emphasised, and `--stat` lines.

use promptops::registry::diff::{FileDiff, LineKind};

use super::printer::{Printer, Tone};

/// A unified diff, coloured when the printer allows.
pub fn unified(printer: &Printer, file: &FileDiff) -> String {
    let mut out = String::new();
    out.push_str(&printer.paint(Tone::Strong, &format!("--- {}\n+++ {}", file.old, file.new)));
    out.push('\n');
    for hunk in &file.hunks {
        out.push_str(&printer.paint(Tone::Dim, &hunk.header));
        out.push('\n');
        for line in &hunk.lines {
            let (sign, tone) = match line.kind {
                LineKind::Context => (' ', None),
                LineKind::Insert => ('+', Some(Tone::Good)),
                LineKind::Delete => ('-', Some(Tone::Bad)),
            };
            let mut text = String::new();
            for segment in &line.segments {
                let piece = segment.text.trim_end_matches('\n');
                text.push_str(&match (tone, segment.emphasized) {
                    (Some(_), true) => {
                        printer.paint(Tone::Emphasis, &printer.paint(tone.unwrap_or(Tone::Strong), piece))
                    }
                    (Some(tone), false) => printer.paint(tone, piece),
                    (None, _) => piece.to_owned(),
                });
            }
            let sign = tone.map_or_else(|| sign.to_string(), |t| printer.paint(t, &sign.to_string()));
            out.push_str(&sign);
            out.push_str(&text);
            out.push('\n');
        }
    }
    out
}

/// `name | 5 +++--` lines and a summary, like `git diff --stat`.
pub fn stat(printer: &Printer, files: &[FileDiff]) -> String {
    let width = files.iter().map(|f| f.new.len()).max().unwrap_or(0);
    let mut out = String::new();
    for file in files {
        let changes = file.insertions + file.deletions;
        let plus = printer.paint(Tone::Good, &"+".repeat(file.insertions.min(40)));
        let minus = printer.paint(Tone::Bad, &"-".repeat(file.deletions.min(40)));
        out.push_str(&format!(" {:<width$} | {changes:>4} {plus}{minus}\n", file.new));
    }
    let insertions: usize = files.iter().map(|f| f.insertions).sum();
    let deletions: usize = files.iter().map(|f| f.deletions).sum();
    out.push_str(&format!(
        " {} file(s) changed, {insertions} insertion(s)(+), {deletions} deletion(s)(-)\n",
        files.len()
    ));
    out
}
