//! Every answer the API tests receive is checked against `schemas/openapi.json`: a success
//! against the schema its route declares, anything else against the one error shape. The
//! document is generated from the route table, so this is what keeps the declared request and
//! response types honest about what the handlers really send.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use reqwest::Method;
use serde_json::Value;

static DOCUMENT: LazyLock<Value> = LazyLock::new(promptops::server::openapi::document);
static VALIDATORS: LazyLock<Mutex<HashMap<String, Arc<jsonschema::Validator>>>> = LazyLock::new(Default::default);

/// The route template that axum would pick for `path`: static segments beat parameters.
fn template(method: &Method, path: &str) -> Option<String> {
    let path = path.split('?').next().unwrap_or(path);
    let segments: Vec<&str> = path.split('/').collect();
    let method = method.as_str().to_lowercase();
    let paths = DOCUMENT["paths"].as_object()?;
    paths
        .iter()
        .filter(|(_, operations)| operations.get(&method).is_some())
        .filter_map(|(template, _)| {
            let parts: Vec<&str> = template.split('/').collect();
            let matches = parts.len() == segments.len()
                && parts.iter().zip(&segments).all(|(part, segment)| part.starts_with('{') || part == segment);
            matches.then(|| (parts.iter().filter(|p| !p.starts_with('{')).count(), template.clone()))
        })
        .max()
        .map(|(_, template)| template)
}

fn pointer_segment(text: &str) -> String {
    text.replace('~', "~0").replace('/', "~1")
}

/// A validator of the schema at `pointer` inside the document (so that its `$ref`s resolve).
fn validator(pointer: &str) -> Arc<jsonschema::Validator> {
    if let Some(known) = VALIDATORS.lock().expect("validators").get(pointer) {
        return Arc::clone(known);
    }
    let mut root = DOCUMENT.clone();
    // A `$ref` is a URI: the pointer's braces must be percent-encoded in its fragment.
    root["$ref"] = Value::String(format!("#{}", pointer.replace('{', "%7B").replace('}', "%7D")));
    let compiled =
        Arc::new(jsonschema::validator_for(&root).unwrap_or_else(|err| panic!("schema at {pointer}: {err}")));
    VALIDATORS.lock().expect("validators").insert(pointer.to_owned(), Arc::clone(&compiled));
    compiled
}

fn check(pointer: &str, body: &Value, what: &str) {
    let errors: Vec<String> =
        validator(pointer).iter_errors(body).map(|err| format!("{} at {}", err, err.instance_path)).collect();
    assert!(
        errors.is_empty(),
        "{what} does not match schemas/openapi.json ({pointer}):\n{}\n{body:#}",
        errors.join("\n")
    );
}

/// Checks one exchange; panics with the mismatch. A request body the server accepted must match
/// the declared request schema too.
pub fn check_exchange(method: &Method, path: &str, request: Option<&Value>, status: u16, body: &Value) {
    let what = format!("{method} {path} → {status}");
    let operation = template(method, path)
        .map(|template| format!("/paths/{}/{}", pointer_segment(&template), method.as_str().to_lowercase()));
    if !(200..300).contains(&status) {
        // An error has the shape its route declares (Langfuse's on `/api/public`), else the one shape.
        let declared = operation.as_ref().map(|op| format!("{op}/responses/default/content/application~1json/schema"));
        let pointer = declared
            .filter(|pointer| DOCUMENT.pointer(pointer).is_some())
            .unwrap_or_else(|| "/components/schemas/ErrorBody".to_owned());
        return check(&pointer, body, &what);
    }
    let operation = operation.unwrap_or_else(|| panic!("{what}: success from a path the document lacks"));
    if let Some(request) = request.filter(|_| DOCUMENT.pointer(&format!("{operation}/requestBody")).is_some()) {
        check(
            &format!("{operation}/requestBody/content/application~1json/schema"),
            request,
            &format!("{what} request"),
        );
    }
    let declared = DOCUMENT.pointer(&format!("{operation}/responses/{status}"));
    let declared = declared.unwrap_or_else(|| panic!("{what}: the document does not declare status {status}"));
    if declared.get("content").is_none() {
        assert_eq!(body, &Value::String(String::new()), "{what}: declared without a body");
        return;
    }
    if declared.pointer("/content/application~1json").is_some() {
        check(&format!("{operation}/responses/{status}/content/application~1json/schema"), body, &what);
    }
}
