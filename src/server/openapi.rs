//! The OpenAPI 3.1 document of the server, generated: every path and method from the route table
//! ([`super::routes`]), with its path parameters, credentials, request body, success answer and
//! the shared error answer; the component schemas come from the same wire and store types the
//! handlers use (schemars, JSON Schema 2020-12, which is OpenAPI 3.1's dialect). Written to
//! `schemas/openapi.json` (drift-tested) and served at `/api/v1/openapi.json`.

use schemars::SchemaGenerator;
use serde_json::{Map, Value, json};

use super::routes::{Access, Body, Route, SchemaFn, error_schema, table};

fn generator() -> SchemaGenerator {
    let settings = schemars::generate::SchemaSettings::draft2020_12().with(|s| {
        s.definitions_path = "/components/schemas".into();
    });
    SchemaGenerator::new(settings)
}

fn path_parameters(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| {
            let description = if name == "name" { "prompt name; `/` percent-encoded (`support%2Ftriage`)" } else { "" };
            json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}, "description": description})
        })
        .collect()
}

/// One query parameter per field of the struct the handler reads its query into.
fn query_parameters(query: SchemaFn, generator: &mut SchemaGenerator) -> Vec<Value> {
    let reference = query(generator);
    let name = reference.get("$ref").and_then(Value::as_str).and_then(|r| r.rsplit('/').next()).unwrap_or_default();
    let Some(definition) = generator.definitions().get(name) else { return Vec::new() };
    let required = definition.get("required").and_then(Value::as_array).cloned().unwrap_or_default();
    let properties = definition.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
    properties
        .into_iter()
        .map(|(field, mut schema)| {
            let description = schema.as_object_mut().and_then(|s| s.remove("description")).unwrap_or_default();
            let required = required.contains(&Value::String(field.clone()));
            json!({"name": field, "in": "query", "required": required, "schema": schema, "description": description})
        })
        .collect()
}

fn success(body: Body, generator: &mut SchemaGenerator) -> Value {
    match body {
        Body::Json(schema) => json!({
            "description": "success",
            "content": {"application/json": {"schema": schema(generator)}},
        }),
        Body::Text => json!({"description": "success", "content": {"text/plain": {"schema": {"type": "string"}}}}),
        Body::Empty => json!({"description": "done; no body"}),
        Body::Events(schema) => json!({
            "description": "a stream of server-sent events; each event's `data` is one of these",
            "content": {"text/event-stream": {"schema": schema(generator)}},
        }),
    }
}

fn operation(route: &Route, generator: &mut SchemaGenerator) -> Value {
    let security = match route.access {
        Access::Public => json!([]),
        Access::Bearer => json!([{"bearer": []}]),
        Access::Basic => json!([{"langfuseKeyPair": []}]),
        Access::Metrics => json!([{"metricsToken": []}]),
        Access::Gateway => json!([{"gatewayKey": []}]),
    };
    let mut parameters = path_parameters(route.path);
    parameters.extend(route.query.map(|query| query_parameters(query, generator)).unwrap_or_default());
    let (statuses, body) = route.response;
    let mut responses: Map<String, Value> =
        statuses.iter().map(|status| (status.to_string(), success(body, generator))).collect();
    let error = match route.access {
        Access::Gateway => json!({
            "description": "an error in OpenAI's envelope",
            "content": {"application/json": {"schema": generator.subschema_for::<super::gateway::wire::OpenAiErrorBody>()}},
        }),
        Access::Basic => json!({
            "description": "an error in Langfuse's shape",
            "content": {"application/json": {"schema": generator.subschema_for::<super::handlers::langfuse::LangfuseErrorBody>()}},
        }),
        _ => json!({
            "description": "an error, in one shape",
            "content": {"application/json": {"schema": error_schema(generator)}},
        }),
    };
    responses.insert("default".to_owned(), error);
    let mut operation = json!({
        "summary": route.summary,
        "operationId": format!("{} {}", route.method.to_lowercase(), route.path),
        "parameters": parameters,
        "security": security,
        "responses": responses,
    });
    if let Some(request) = route.request {
        operation["requestBody"] =
            json!({"required": true, "content": {"application/json": {"schema": request(generator)}}});
    }
    operation
}

/// The OpenAPI document.
pub fn document() -> Value {
    let mut generator = generator();
    let mut paths = Map::new();
    for route in table() {
        let operation = operation(&route, &mut generator);
        let entry = paths.entry(route.path.to_owned()).or_insert_with(|| json!({}));
        if let Value::Object(methods) = entry {
            methods.insert(route.method.to_lowercase(), operation);
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "promptops server", "version": env!("CARGO_PKG_VERSION"), "description": "docs/server.md, docs/gateway.md and docs/langfuse.md describe the routes."},
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "paths": paths,
        "components": {
            "schemas": generator.take_definitions(true),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "an API token (pot_…) or a JWT from POST /api/v1/auth/token"},
                "langfuseKeyPair": {"type": "http", "scheme": "basic", "description": "public key as user, secret key as password"},
                "metricsToken": {"type": "http", "scheme": "bearer", "description": "the server's metrics token (PROMPTOPS_METRICS_TOKEN); /metrics on the API port needs it"},
                "gatewayKey": {"type": "http", "scheme": "bearer", "description": "a gateway key (pog_…) from POST /api/v1/projects/{project}/gateway/keys; errors in OpenAI's envelope"},
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
