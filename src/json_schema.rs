//! Checking that a JSON Schema written by a user (a prompt's `response_schema`, a `json-schema`
//! assertion) is itself valid, against its meta-schema. A leaf: it imports nothing of the crate.

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
