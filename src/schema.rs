//! JSON Schemas of the file formats users type, generated from the Rust types (schemars), so
//! that editors can validate and complete them. The catalog names format types of every layer
//! (prompts, suites, and later workflows), so it sits above them, beside `service`; checking a
//! user-given schema is [`crate::json_schema`]'s job, below every format.

pub use crate::json_schema::check_json_schema;

use schemars::JsonSchema;

use crate::config::ProjectConfig;
use crate::eval::suite::SuiteFile;
use crate::prompt::PromptFile;
use crate::workflow::graph::WorkflowFile;

/// A named, generated schema and the file it is written to under `schemas/`.
#[derive(Debug, Clone, Copy)]
pub struct SchemaDoc {
    /// The name `promptops schema NAME` takes.
    pub name: &'static str,
    /// The file under `schemas/`.
    pub file: &'static str,
    /// Generates the schema.
    pub generate: fn() -> serde_json::Value,
}

fn generate<T: JsonSchema>() -> serde_json::Value {
    let schema = schemars::generate::SchemaSettings::draft2020_12().into_generator().into_root_schema_for::<T>();
    serde_json::to_value(schema).unwrap_or(serde_json::Value::Null)
}

/// Every schema promptops publishes.
pub const SCHEMAS: &[SchemaDoc] = &[
    SchemaDoc { name: "promptops", file: "promptops.schema.json", generate: generate::<ProjectConfig> },
    SchemaDoc { name: "prompt", file: "prompt.schema.json", generate: generate::<PromptFile> },
    SchemaDoc { name: "eval-suite", file: "eval-suite.schema.json", generate: generate::<SuiteFile> },
    SchemaDoc { name: "workflow", file: "workflow.schema.json", generate: generate::<WorkflowFile> },
];

/// Looks up a schema by name.
pub fn find(name: &str) -> Option<&'static SchemaDoc> {
    SCHEMAS.iter().find(|s| s.name == name)
}

/// The schema's text as written to `schemas/` (pretty JSON with a final newline).
pub fn render(doc: &SchemaDoc) -> String {
    let mut text = serde_json::to_string_pretty(&(doc.generate)()).unwrap_or_default();
    text.push('\n');
    text
}
