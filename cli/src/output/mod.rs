//! Terminal output: the printer (stdout for data, stderr for progress and logs, colour rules),
//! output formats, grids rendered as tables / Markdown / CSV, and coloured diffs.

pub mod diff;
mod format;
mod grid;
mod printer;

pub use format::Format;
pub use grid::Grid;
pub use printer::{Printer, Tone};
