//! `schemas/` must match what the Rust types generate, and this repository's own example files
//! must validate against those schemas (so editors agree with promptops).
//! Regenerate with `PROMPTOPS_UPDATE_SCHEMAS=1 cargo test --test integration schema`.

use std::path::{Path, PathBuf};

use promptops::schema::{SCHEMAS, render};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn schemas_match_the_types() {
    let update = std::env::var_os("PROMPTOPS_UPDATE_SCHEMAS").is_some();
    let mut stale = Vec::new();
    for doc in SCHEMAS {
        let path = repo().join("schemas").join(doc.file);
        let expected = render(doc);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(expected.as_str()) {
            if update {
                std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
                std::fs::write(&path, expected).expect("write");
            } else {
                stale.push(doc.file);
            }
        }
    }
    assert!(
        stale.is_empty(),
        "schemas out of date: {stale:?}; run `PROMPTOPS_UPDATE_SCHEMAS=1 cargo test --test integration schema`"
    );
}

fn validator(file: &str) -> jsonschema::Validator {
    let text = std::fs::read_to_string(repo().join("schemas").join(file)).expect("schema exists");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("schema is JSON");
    jsonschema::validator_for(&schema).expect("schema compiles")
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        // `_partials/`, `_data/`: not files of the format.
        if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('_')) {
            continue;
        }
        if path.is_dir() {
            files.extend(yaml_files(&path));
        } else if path.extension().is_some_and(|e| e == "yaml") {
            files.push(path);
        }
    }
    files
}

fn assert_valid(validator: &jsonschema::Validator, path: &Path) {
    let text = std::fs::read_to_string(path).expect("read");
    let value = promptops::yaml::value_from_str(path, &text).expect("yaml");
    let errors: Vec<String> = validator.iter_errors(&value).map(|e| format!("{} at {}", e, e.instance_path)).collect();
    assert!(errors.is_empty(), "{} does not match its schema: {errors:?}", path.display());
}

#[test]
fn example_prompts_validate_against_the_prompt_schema() {
    let validator = validator("prompt.schema.json");
    let files = yaml_files(&repo().join("prompts"));
    assert!(files.len() >= 5, "the examples should hold at least five prompts");
    for path in files {
        assert_valid(&validator, &path);
    }
}

#[test]
fn example_config_validates_against_the_config_schema() {
    assert_valid(&validator("promptops.schema.json"), &repo().join("promptops.yaml"));
}

#[test]
fn schemas_reject_what_promptops_rejects() {
    let validator = validator("prompt.schema.json");
    let bad = serde_json::json!({ "messages": [{ "role": "robot", "content": "hi" }], "extra": 1 });
    assert!(!validator.is_valid(&bad));
    let good =
        serde_json::json!({ "messages": [{ "role": "user", "content": [{ "text": "hi" }, { "image": "x.png" }] }] });
    assert!(validator.is_valid(&good), "{:?}", validator.iter_errors(&good).map(|e| e.to_string()).collect::<Vec<_>>());
}

#[test]
fn example_suites_validate_against_the_suite_schema() {
    let validator = validator("eval-suite.schema.json");
    let suites: Vec<PathBuf> = std::fs::read_dir(repo().join("eval-suites"))
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    assert!(suites.len() >= 5, "the examples should hold suites for the example prompts");
    for path in suites {
        assert_valid(&validator, &path);
    }
}

#[test]
fn example_workflows_validate_against_the_workflow_schema() {
    let validator = validator("workflow.schema.json");
    let files = yaml_files(&repo().join("workflows"));
    assert!(files.len() >= 3, "the examples should hold at least three workflows");
    for path in files {
        assert_valid(&validator, &path);
    }
}

#[test]
fn the_workflow_schema_rejects_unknown_keys_and_wrong_types() {
    let validator = validator("workflow.schema.json");
    let good = serde_json::json!({ "version": 1, "name": "w", "nodes": { "a": { "type": "tool", "tool": { "builtin": "echo" }, "on_error": "fail" } },
        "edges": [{ "from": "START", "to": ["a"] }, { "from": "a", "branch": [{ "when": "true", "to": "END" }, { "else": "END" }] }] });
    assert!(validator.is_valid(&good), "{:?}", validator.iter_errors(&good).map(|e| e.to_string()).collect::<Vec<_>>());
    let bad = serde_json::json!({ "version": 1, "name": "w", "nodes": { "a": { "type": "robot" } }, "edges": [], "extra": 1 });
    assert!(!validator.is_valid(&bad));
}
