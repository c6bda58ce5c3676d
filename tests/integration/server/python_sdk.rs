//! The gateway with the official `openai` Python SDK (pinned in `tests/python/requirements.lock`):
//! a real server and the stub model on loopback, and `tests/python/gateway_sdk.py` calling them
//! the way an application would. The SDK lives in the venv `tests/python/venv.sh` makes; without
//! it the test says it is skipped, except in CI (`CI` or `PROMPTOPS_TEST_PYTHON=1`), where it is
//! created and a failure to create it fails the test.

use std::path::{Path, PathBuf};
use std::process::Command;

use promptops_test_support::stub::{Stub, StubConfig};
use serde_json::json;

use super::{TestServer, config};

pub fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// The venv's python (`PROMPTOPS_PY_VENV`, else the default place) if it can import `module`,
/// the venv created when CI asks for it; `None` (said aloud, naming `what` is skipped) otherwise.
pub fn python_with(module: &str, what: &str) -> Option<PathBuf> {
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    let venv = std::env::var_os("PROMPTOPS_PY_VENV")
        .map_or_else(|| home.join(".cache/promptops-tools/py-venv"), PathBuf::from);
    let import = format!("import {module}");
    let ready = |venv: &Path| {
        let python = venv.join("bin/python");
        Command::new(&python).args(["-c", &import]).output().is_ok_and(|o| o.status.success()).then_some(python)
    };
    let required = std::env::var_os("CI").is_some() || std::env::var(promptops::env::TEST_PYTHON).as_deref() == Ok("1");
    if let Some(python) = ready(&venv) {
        return Some(python);
    }
    if !required {
        let notice = format!(
            "skipped: {what} (no venv with {module} at {}; run tests/python/venv.sh or set {}=1)\n",
            venv.display(),
            promptops::env::TEST_PYTHON
        );
        let _ = std::io::Write::write_all(&mut std::io::stderr(), notice.as_bytes());
        return None;
    }
    let output = Command::new("bash").arg(repository().join("tests/python/venv.sh")).output().expect("run venv.sh");
    assert!(output.status.success(), "venv.sh failed: {}", String::from_utf8_lossy(&output.stderr));
    let made = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    Some(ready(&made).unwrap_or_else(|| panic!("the venv at {} has no {module}", made.display())))
}

fn greeting(text: &str) -> String {
    format!(
        "model: fast\nvariables:\n  name: {{ type: string }}\nmessages:\n  - role: system\n    content: Greet people.\n  - role: user\n    content: \"{text} {{{{ name }}}}\"\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_openai_sdk_works_unchanged() {
    let Some(python) = python_with("openai", "the OpenAI SDK test") else { return };
    let stub = Stub::start(StubConfig::new().echo()).await;
    let server = TestServer::on_with(crate::store_conformance::sqlite().await, config()).await;
    let acme = server.tenant("acme", "web").await;
    let admin = acme.token("admin");
    let connection = json!({"id": "fast", "kind": "openai", "model": "gpt-test", "base_url": stub.openai_base(),
        "pricing": {"input": 1.0, "output": 2.0}, "limits": {"max_retries": 0}});
    let (status, body) = server
        .post("/api/v1/projects/web/providers", admin, json!({"connection": connection, "api_key": "sk-x-1234"}))
        .await;
    assert_eq!(status, 201, "{body}");
    for text in ["Hello", "Hi"] {
        let (status, body) =
            server.post("/api/v1/projects/web/prompts/greet", admin, json!({"source": greeting(text)})).await;
        assert!(status == 201, "{body}");
    }
    for (label, version) in [("production", 1), ("staging", 2)] {
        let path = format!("/api/v1/projects/web/prompts/greet/labels/{label}");
        assert_eq!(server.put(&path, admin, json!({"version": version})).await.0, 200);
    }
    let mut keys = Vec::new();
    let per_user = json!({"user_budget": {"daily_usd": 0.000066}});
    for limits in [json!({}), json!({"budget": {"daily_usd": 0.000066}}), json!({"rpm": 2}), per_user] {
        let (status, body) = server.post("/api/v1/projects/web/gateway/keys", admin, json!({"limits": limits})).await;
        assert_eq!(status, 201, "{body}");
        keys.push(body["key"].as_str().expect("key").to_owned());
    }
    let script = repository().join("tests/python/gateway_sdk.py");
    let (base, admin) = (server.base.clone(), admin.to_owned());
    let mut command = Command::new(python);
    command
        .arg(script)
        .env("GATEWAY_BASE", format!("{base}/v1"))
        .env("SERVER_BASE", &base)
        .env("GATEWAY_KEY", &keys[0])
        .env("BUDGET_KEY", &keys[1])
        .env("RPM_KEY", &keys[2])
        .env("USER_BUDGET_KEY", &keys[3])
        .env("ADMIN_TOKEN", &admin);
    passes(command).await;
}

/// Runs an SDK script off the test's runtime and asserts it exits 0 with `all checks passed`.
pub async fn passes(mut command: Command) {
    let output = tokio::task::spawn_blocking(move || command.output().expect("run the SDK script"));
    let output = output.await.expect("script task");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("all checks passed"), "{stdout}");
}
