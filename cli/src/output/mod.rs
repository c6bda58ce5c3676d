//! Terminal output: the printer (stdout for data, stderr for progress and logs, colour rules),
//! output formats, grids rendered as tables / Markdown / CSV, and coloured diffs.

pub mod diff;
mod format;
mod grid;
mod printer;
pub mod progress;
pub mod report;

pub use format::Format;
pub use grid::Grid;
pub use printer::{Printer, Tone};

/// `1 error`, `2 errors`: a count with its noun in the right number (English plural in `s`).
pub fn count(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

/// Prints `data` as JSON or YAML when `format` is one of those and returns true; returns false
/// for the human formats, which each command renders its own way.
pub fn emit_structured<T: serde::Serialize>(printer: &Printer, format: Format, data: &T) -> anyhow::Result<bool> {
    match format {
        Format::Json => printer.out(&serde_json::to_string_pretty(data)?),
        Format::Yaml => printer.out(&serde_yaml::to_string(data)?),
        _ => return Ok(false),
    }
    Ok(true)
}
