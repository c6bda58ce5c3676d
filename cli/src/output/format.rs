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
    /// promptfoo's results JSON (`eval`), for tools that read promptfoo's output.
    PromptfooJson,
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
            Self::PromptfooJson => "promptfoo-json",
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

    /// The format named `requested` (or `default`), if `command` supports it; else a usage
    /// error listing what `command` supports, with the closest of those (`xml` → `junit`).
    pub fn pick_named(
        requested: Option<&str>,
        default: Self,
        supported: &[Self],
        command: &str,
    ) -> anyhow::Result<Self> {
        let Some(name) = requested.map(str::trim) else { return Self::pick(Some(default), supported, command) };
        if let Ok(format) = <Self as ValueEnum>::from_str(name, true) {
            return Self::pick(Some(format), supported, command);
        }
        let names: Vec<&str> = supported.iter().map(|f| f.as_str()).collect();
        let mut hints = Vec::new();
        if name.eq_ignore_ascii_case("xml") && supported.contains(&Self::Junit) {
            hints.push("JUnit XML is `--format junit`".to_owned());
        } else if let Some(close) = promptops::error::did_you_mean(name, names.iter().copied()) {
            hints.push(close);
        }
        hints.push(format!("`{command}` supports: {}", names.join(", ")));
        let hints: Vec<&str> = hints.iter().map(String::as_str).collect();
        Err(usage(format!("unknown format `{name}`"), &hints))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_points_at_junit_where_junit_is_supported() {
        let supported = [Format::Table, Format::Junit, Format::Html];
        let err = Format::pick_named(Some("xml"), Format::Table, &supported, "eval").expect_err("unknown");
        let hints = &err.downcast_ref::<crate::diagnose::Diagnosed>().expect("diagnosed").hints;
        assert_eq!(hints[0], "JUnit XML is `--format junit`");
        assert_eq!(Format::pick_named(Some("JSON"), Format::Table, &[Format::Json], "x").ok(), Some(Format::Json));
    }
}
