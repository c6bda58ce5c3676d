//! The Langfuse-compatible prompt API with the official `langfuse` Python SDK (pinned in
//! `tests/python/requirements.lock`): a real server on loopback and
//! `tests/python/langfuse_sdk.py` calling it the way an application would. Without the venv the
//! test says it is skipped, except in CI, where the venv is created and a failure fails the test.

use std::process::Command;

use super::TestServer;
use super::langfuse::keys;
use super::python_sdk::{passes, python_with, repository};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_langfuse_sdk_works_unchanged() {
    let Some(python) = python_with("langfuse", "the Langfuse SDK test") else { return };
    let server = TestServer::on(crate::store_conformance::sqlite().await).await;
    let acme = server.tenant("acme", "web").await;
    let admin = keys(&server, acme.token("admin"), "admin").await;
    let editor = keys(&server, acme.token("admin"), "editor").await;
    let script = repository().join("tests/python/langfuse_sdk.py");
    let mut command = Command::new(python);
    command
        .arg(script)
        .env("LANGFUSE_HOST", &server.base)
        .env("LANGFUSE_TRACING_ENABLED", "false")
        .env("ADMIN_PK", &admin.public)
        .env("ADMIN_SK", &admin.secret)
        .env("EDITOR_PK", &editor.public)
        .env("EDITOR_SK", &editor.secret);
    passes(command).await;
}
