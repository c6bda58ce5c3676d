//! JSON Schemas of the file formats users type, generated from the Rust types (schemars), so
//! that editors can validate and complete them; and a check that a user-given schema is valid.

use schemars::JsonSchema;

use crate::config::ProjectConfig;
use crate::eval::suite::SuiteFile;
use crate::prompt::PromptFile;

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

/// Checks that `schema` is itself a valid JSON Schema (against its meta-schema).
pub fn check_json_schema(schema: &serde_json::Value) -> Result<(), String> {
    if !(schema.is_object() || schema.is_boolean()) {
        return Err("a schema must be an object or a boolean".to_owned());
    }
    jsonschema::meta::validate(schema).map_err(|err| err.to_string())?;
    jsonschema::validator_for(schema).map(|_| ()).map_err(|err| err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_invalid_schemas() {
        assert!(check_json_schema(&serde_json::json!({"type": "object"})).is_ok());
        assert!(check_json_schema(&serde_json::json!({"type": "objekt"})).is_err());
        assert!(check_json_schema(&serde_json::json!([1])).is_err());
    }
}
