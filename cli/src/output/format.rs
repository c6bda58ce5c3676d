//! `--format`: the output formats and which command supports which.

use clap::ValueEnum;

use crate::diagnose::usage;

/// An output format for listings and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// JSON (one document).
    Json,
    /// YAML.
    Yaml,
    /// A Markdown table or report (pull-request comments).
    Markdown,
    /// Comma-separated values.
    Csv,
    /// JUnit XML (CI test reports).
    Junit,
    /// A self-contained HTML report.
    Html,
    /// A Mermaid flowchart (graph drawings).
    Mermaid,
    /// A Graphviz DOT graph (graph drawings).
    Dot,
}

impl Format {
    /// The name users type.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Table => "table",
            Self::Json => "json",
            Self::Yaml => "yaml",
            Self::Markdown => "markdown",
            Self::Csv => "csv",
            Self::Junit => "junit",
            Self::Html => "html",
            Self::Mermaid => "mermaid",
            Self::Dot => "dot",
        }
    }

    /// The formats a plain listing supports.
    pub const LISTING: &'static [Self] = &[Self::Table, Self::Json, Self::Yaml, Self::Markdown, Self::Csv];
    /// The formats of structured, non-tabular output.
    pub const DOCUMENT: &'static [Self] = &[Self::Table, Self::Json, Self::Yaml];

    /// `requested` (or `table`) if `command` supports it, else a usage error naming the options.
    pub fn pick(requested: Option<Self>, supported: &[Self], command: &str) -> anyhow::Result<Self> {
        let format = requested.unwrap_or(Self::Table);
        if supported.contains(&format) {
            return Ok(format);
        }
        let names: Vec<&str> = supported.iter().map(|f| f.as_str()).collect();
        Err(usage(
            format!("`{command}` does not support --format {}", format.as_str()),
            &[&format!("supported formats: {}", names.join(", "))],
        ))
    }
}
