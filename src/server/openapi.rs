//! The OpenAPI 3.1 document of the server, generated: every path and method from the route table
//! ([`super::routes`]), with its path parameters, credentials and the shared error answer; the
//! component schemas from the wire and store types (schemars, JSON Schema 2020-12, which is
//! OpenAPI 3.1's dialect). Written to `schemas/openapi.json` (drift-tested) and served at
//! `/api/v1/openapi.json`.

use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value, json};

use super::error::ErrorBody;
use super::routes::{Access, table};
use crate::api;
use crate::store;

fn components() -> Map<String, Value> {
    let settings = schemars::generate::SchemaSettings::draft2020_12().with(|s| {
        s.definitions_path = "/components/schemas".into();
    });
    let mut generator = SchemaGenerator::new(settings);
    fn add<T: JsonSchema>(generator: &mut SchemaGenerator) {
        let _ = generator.subschema_for::<T>();
    }
    add::<ErrorBody>(&mut generator);
    add::<api::NewVersion>(&mut generator);
    add::<api::CommitRequest>(&mut generator);
    add::<api::SetLabel>(&mut generator);
    add::<api::Rollback>(&mut generator);
    add::<api::AccessToken>(&mut generator);
    add::<api::CreateTenant>(&mut generator);
    add::<api::TenantCreated>(&mut generator);
    add::<api::CreateProject>(&mut generator);
    add::<api::CreatePrincipal>(&mut generator);
    add::<api::SetMember>(&mut generator);
    add::<api::CreateToken>(&mut generator);
    add::<api::CreatedToken>(&mut generator);
    add::<api::CreateKeyPair>(&mut generator);
    add::<api::CreatedKeyPair>(&mut generator);
    add::<api::Readiness>(&mut generator);
    add::<api::Page<store::PromptSummary>>(&mut generator);
    add::<api::Page<store::LabelRecord>>(&mut generator);
    add::<api::Page<store::ProjectRecord>>(&mut generator);
    add::<api::Page<store::TenantRecord>>(&mut generator);
    add::<api::Page<store::PrincipalRecord>>(&mut generator);
    add::<api::Page<store::MemberRecord>>(&mut generator);
    add::<api::Page<store::TokenRecord>>(&mut generator);
    add::<api::Page<store::KeyPairRecord>>(&mut generator);
    add::<api::Page<store::AuditRecord>>(&mut generator);
    add::<store::VersionRecord>(&mut generator);
    add::<store::LabelMove>(&mut generator);
    generator.take_definitions(true)
}

fn operation(method: &str, path: &str, summary: &str, access: Access) -> Value {
    let parameters: Vec<Value> = path
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| {
            let description = if name == "name" { "prompt name; `/` percent-encoded (`support%2Ftriage`)" } else { "" };
            json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}, "description": description})
        })
        .collect();
    let security = match access {
        Access::Public => json!([]),
        Access::Bearer => json!([{"bearer": []}]),
        Access::Basic => json!([{"langfuseKeyPair": []}]),
    };
    let operation_id = format!("{} {path}", method.to_lowercase());
    json!({
        "summary": summary,
        "operationId": operation_id,
        "parameters": parameters,
        "security": security,
        "responses": {
            "2XX": {"description": "success; see docs/server.md for the JSON shapes", "content": {"application/json": {}}},
            "default": {
                "description": "an error, in one shape",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
            },
        },
    })
}

/// The OpenAPI document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for route in table() {
        let entry = paths.entry(route.path.to_owned()).or_insert_with(|| json!({}));
        if let Value::Object(methods) = entry {
            methods
                .insert(route.method.to_lowercase(), operation(route.method, route.path, route.summary, route.access));
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "promptops server", "version": env!("CARGO_PKG_VERSION"), "description": "docs/server.md and docs/langfuse.md describe the routes."},
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "paths": paths,
        "components": {
            "schemas": components(),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "an API token (pot_…) or a JWT from POST /api/v1/auth/token"},
                "langfuseKeyPair": {"type": "http", "scheme": "basic", "description": "public key as user, secret key as password"},
            },
        },
    })
}

/// The document as written to `schemas/openapi.json` (pretty JSON with a final newline).
pub fn render() -> String {
    let mut text = serde_json::to_string_pretty(&document()).unwrap_or_default();
    text.push('\n');
    text
}
