//! `run`, `cost`, `provider list|test` and `auth`: the real binary in a temporary project,
//! offline providers and the LLM stub on 127.0.0.1. The real keyring is never touched
//! (`PROMPTOPS_KEYRING=none`), and no key variable is inherited from the developer's shell.

use promptops_test_support::stub::{Fault, Stub, StubConfig};

use crate::support::{Project, Run, command};

const KEY: &str = "sk-cli-test-0123456789";

/// The project's config: an offline mock, echo, and stub-backed OpenAI and Anthropic providers.
fn config(stub: &str) -> String {
    format!(
        r#"providers:
  - id: offline
    kind: mock
    rules:
      - match: {{ contains: refund }}
        reply: '{{"category": "billing"}}'
      - match: {{ prompt: vision/caption }}
        reply: "An orange square."
    default: 'other: {{{{ last_user }}}}'
  - id: echo
    kind: echo
  - id: fast
    kind: openai
    model: gpt-4o-mini
    base_url: {stub}/v1
    limits: {{ backoff_ms: 1, max_retries: 2 }}
  - id: claude
    kind: anthropic
    model: claude-haiku-4-5
    base_url: {stub}/v1
defaults:
  provider: offline
"#
    )
}

const TRIAGE: &str = r#"description: Classify a ticket.
response_schema: { type: object, required: [category] }
variables:
  ticket: { type: string }
messages:
  - role: user
    content: "Ticket: {{ ticket }}"
"#;

const CAPTION: &str = r#"description: Alt text for an image.
variables:
  photo: { type: string }
messages:
  - role: user
    content:
      - text: Describe this image.
      - image: "{{ photo }}"
"#;

fn project(stub: &str) -> Project {
    let project = Project::new();
    project.write("promptops.yaml", &config(stub));
    project.write("prompts/support/triage.yaml", TRIAGE);
    project.write("prompts/vision/caption.yaml", CAPTION);
    let png = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/orange.png")).expect("fixture");
    std::fs::create_dir_all(project.root.join("images")).expect("mkdir");
    std::fs::write(project.root.join("images/orange.png"), png).expect("write");
    project
}

/// Runs the binary with no keyring and only the given key variables.
fn run(project: &Project, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = command(&project.root);
    cmd.env("PROMPTOPS_KEYRING", "none").env_remove("OPENAI_API_KEY").env_remove("ANTHROPIC_API_KEY");
    for (name, value) in env {
        cmd.env(name, value);
    }
    Run::from(cmd.args(args).output().expect("run promptops"))
}

#[test]
fn run_answers_offline_and_reports_usage_on_stderr() {
    let project = project("http://127.0.0.1:9");
    let out = run(&project, &["run", "support/triage", "--var", "ticket=I want a refund"], &[]);
    assert_eq!(out.ok(), "{\"category\": \"billing\"}\n");
    assert!(out.stderr.starts_with("offline (mock) · "), "{}", out.snapshot());
    assert!(out.stderr.contains(" tokens · ") && out.stderr.contains("$0.00"), "{}", out.snapshot());
}

#[test]
fn run_json_has_output_usage_cost_and_the_second_run_is_cached() {
    let project = project("http://127.0.0.1:9");
    let args = ["run", "support/triage", "--var", "ticket=refund now", "--format", "json"];
    let first: serde_json::Value = serde_json::from_str(run(&project, &args, &[]).ok()).expect("json");
    assert_eq!(first["json"], serde_json::json!({ "category": "billing" }));
    assert_eq!((first["provider"].as_str(), first["cached"].as_bool()), (Some("offline"), Some(false)));
    assert!(first["usage"]["input_tokens"].as_u64().is_some_and(|n| n > 0));
    let second: serde_json::Value = serde_json::from_str(run(&project, &args, &[]).ok()).expect("json");
    assert_eq!((second["cached"].as_bool(), second["output"].clone()), (Some(true), first["output"].clone()));
    let no_cache: Vec<&str> = args.iter().copied().chain(["--no-cache"]).collect();
    let third: serde_json::Value = serde_json::from_str(run(&project, &no_cache, &[]).ok()).expect("json");
    assert_eq!(third["cached"].as_bool(), Some(false));
}

#[test]
fn run_streams_from_the_stub_and_prices_the_call() {
    let stub = Stub::start_blocking(StubConfig::new().reply("Hello from the streaming stub").require_api_key(KEY));
    let project = project(&stub.url());
    let out = run(
        &project,
        &["run", "vision/caption", "--var", "photo=images/orange.png", "--provider", "fast", "--stream"],
        &[("OPENAI_API_KEY", KEY)],
    );
    assert_eq!(out.ok(), "Hello from the streaming stub\n");
    assert!(out.stderr.starts_with("fast (gpt-4o-mini) · "), "{}", out.snapshot());
    assert!(out.stderr.contains("$0.0000"), "a priced call: {}", out.snapshot());
    let body = stub.requests_to("/v1/chat/completions")[0].json().clone();
    assert_eq!(body["stream"], true);
    let url = body["messages"][0]["content"][1]["image_url"]["url"].as_str().unwrap_or_default().to_owned();
    assert!(url.starts_with("data:image/png;base64,iVBORw0KGgo"), "{url}");
}

#[test]
fn the_image_prompt_runs_end_to_end_on_anthropic() {
    let stub = Stub::start_blocking(StubConfig::new().reply("An orange square."));
    let project = project(&stub.url());
    let out = run(
        &project,
        &["run", "vision/caption", "--var", "photo=images/orange.png", "--provider", "claude"],
        &[("ANTHROPIC_API_KEY", KEY)],
    );
    assert_eq!(out.ok(), "An orange square.\n");
    let body = stub.requests_to("/v1/messages")[0].json().clone();
    let image = &body["messages"][0]["content"][1];
    assert_eq!((image["type"].as_str(), image["source"]["type"].as_str()), (Some("image"), Some("base64")));
    assert_eq!(image["source"]["media_type"], "image/png");
}

#[test]
fn an_unreadable_image_is_a_usage_error() {
    let project = project("http://127.0.0.1:9");
    let out = run(&project, &["run", "vision/caption", "--var", "photo=images/missing.png"], &[]);
    let stderr = out.fails_with(2);
    assert!(stderr.contains("error: failed to read image"), "{}", out.snapshot());
    assert!(stderr.contains("hint: an image is a path inside the project"), "{}", out.snapshot());
}

#[test]
fn images_outside_the_project_fail_fast_and_say_why() {
    let project = project("http://127.0.0.1:9");
    let started = std::time::Instant::now();
    for photo in ["/dev/zero", "../../../etc/hostname"] {
        let out = run(&project, &["run", "vision/caption", "--var", &format!("photo={photo}")], &[]);
        let stderr = out.fails_with(2);
        assert!(stderr.contains(&format!("error: image `{photo}` cannot be used")), "{}", out.snapshot());
        assert!(stderr.contains("outside the project") || stderr.contains("must be inside the project"), "{stderr}");
        assert!(stderr.contains("hint: copy a file from elsewhere into the project"), "{stderr}");
    }
    // `/dev/zero` is refused by its path, not after reading it.
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "{:?}", started.elapsed());
}

#[test]
fn a_runaway_template_stops_with_its_file_and_line() {
    let project = project("http://127.0.0.1:9");
    let looping = "messages:\n  - role: user\n    content: |\n      Hello\n      {% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}\n";
    project.write("prompts/loop.yaml", looping);
    let out = run(&project, &["run", "loop"], &[]);
    let stderr = out.fails_with(2);
    assert!(
        stderr.contains("error: prompts/loop.yaml:5:1: template error: engine ran out of fuel"),
        "{}",
        out.snapshot()
    );
    assert!(stderr.contains("hint: rendering is bounded"), "{stderr}");
}

#[test]
fn an_unknown_provider_lists_the_configured_ones() {
    let project = project("http://127.0.0.1:9");
    let out = run(&project, &["run", "support/triage", "--var", "ticket=x", "--provider", "fsat"], &[]);
    insta::assert_snapshot!(out.snapshot(), @r"
    exit: 2
    --- stdout
    --- stderr
    error: unknown provider `fsat`
    hint: did you mean `fast`?
    hint: configured providers: `offline`, `echo`, `fast`, `claude`
    hint: or name one as `kind:model`, e.g. `openai:gpt-4o-mini`
    ");
}

#[test]
fn a_missing_key_names_the_variable_and_auth_set_key() {
    let project = project("http://127.0.0.1:9");
    let out = run(&project, &["run", "support/triage", "--var", "ticket=x", "--provider", "openai:gpt-4o-mini"], &[]);
    insta::assert_snapshot!(out.snapshot(), @r"
    exit: 2
    --- stdout
    --- stderr
    error: no API key for provider `openai:gpt-4o-mini`: `OPENAI_API_KEY` is not set and the keyring has none
    hint: set `OPENAI_API_KEY` in the environment
    hint: or store it in the OS keyring: `promptops auth set-key openai`
    hint: keyring: no OS keyring is available: turned off with PROMPTOPS_KEYRING=none
    ");
}

#[test]
fn a_refused_key_exits_3_without_showing_the_key() {
    let stub = Stub::start_blocking(StubConfig::new().require_api_key("sk-another-key"));
    let project = project(&stub.url());
    let out = run(
        &project,
        &["run", "support/triage", "--var", "ticket=x", "--provider", "fast"],
        &[("OPENAI_API_KEY", KEY)],
    );
    let stderr = out.fails_with(3);
    assert!(stderr.contains("error: provider `fast` refused the API key (HTTP 401)"), "{}", out.snapshot());
    assert!(!stderr.contains(KEY) && !out.stdout.contains(KEY), "{}", out.snapshot());
    assert_eq!(stub.request_count(), 1, "not retried");
}

#[test]
fn a_schema_violation_exits_3_and_max_cost_refuses_before_sending() {
    let stub = Stub::start_blocking(StubConfig::new().reply("not json at all").fault(Fault::ServerError));
    let project = project(&stub.url());
    let args = ["run", "support/triage", "--var", "ticket=x", "--provider", "fast"];
    let out = run(&project, &args, &[("OPENAI_API_KEY", KEY)]);
    assert!(out.fails_with(3).contains("answered with text that is not JSON"), "{}", out.snapshot());
    assert_eq!(stub.request_count(), 2, "the 500 was retried once");
    let capped: Vec<&str> = args.iter().copied().chain(["--max-cost", "0.00001"]).collect();
    let out = run(&project, &capped, &[("OPENAI_API_KEY", KEY)]);
    assert!(out.fails_with(2).contains("per-invocation (--max-cost) budget reached"), "{}", out.snapshot());
    assert_eq!(stub.request_count(), 2, "the refused request was not sent");
}

#[test]
fn cost_reports_spend_by_provider() {
    let stub = Stub::start_blocking(StubConfig::new().reply(r#"{"category": "other"}"#));
    let project = project(&stub.url());
    for ticket in ["a", "b"] {
        run(
            &project,
            &["run", "support/triage", "--var", &format!("ticket={ticket}"), "--provider", "fast"],
            &[("OPENAI_API_KEY", KEY)],
        )
        .ok();
    }
    run(&project, &["run", "support/triage", "--var", "ticket=refund"], &[]).ok();
    let out = run(&project, &["cost", "--by", "provider", "--format", "json"], &[]);
    let report: serde_json::Value = serde_json::from_str(out.ok()).expect("json");
    let rows = report["rows"].as_array().expect("rows");
    let keys: Vec<&str> = rows.iter().filter_map(|r| r["key"].as_str()).collect();
    assert_eq!(keys, vec!["fast", "offline"]);
    assert_eq!(rows[0]["requests"], 2);
    assert!(rows[0]["cost_micros"].as_i64().is_some_and(|c| c > 0));
    assert_eq!(report["total_micros"], rows[0]["cost_micros"]);
    let table = run(&project, &["cost"], &[]);
    assert!(table.ok().contains("total"), "{}", table.snapshot());
    let bad = run(&project, &["cost", "--since", "yesterday"], &[]);
    assert!(bad.fails_with(2).contains("is not a date"), "{}", bad.snapshot());
}

#[test]
fn provider_list_and_test() {
    let stub = Stub::start_blocking(StubConfig::new().reply("ok"));
    let project = project(&stub.url());
    let list = run(&project, &["provider", "list"], &[("OPENAI_API_KEY", KEY)]);
    let text = list.ok();
    assert!(text.contains("offline (default)"), "{text}");
    assert!(text.contains("environment (`OPENAI_API_KEY`)"), "{text}");
    assert!(text.contains("missing (`ANTHROPIC_API_KEY`)"), "{text}");
    assert!(!text.contains(KEY));
    let test = run(&project, &["provider", "test", "fast"], &[("OPENAI_API_KEY", KEY)]);
    assert!(test.ok().contains("`fast` (openai, model gpt-4o-mini) answered in"), "{}", test.snapshot());
    assert!(test.stdout.contains("authentication works"), "{}", test.snapshot());
    stub.reconfigure(|c| c.forbidden(true));
    let refused = run(&project, &["provider", "test", "fast"], &[("OPENAI_API_KEY", KEY)]);
    assert!(refused.fails_with(3).contains("HTTP 403"), "{}", refused.snapshot());
}

#[test]
fn auth_without_a_keyring_is_a_soft_error_with_a_hint() {
    let project = project("http://127.0.0.1:9");
    let mut cmd = command(&project.root);
    cmd.env("PROMPTOPS_KEYRING", "none").args(["auth", "set-key", "fast"]);
    cmd.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(KEY.as_bytes()).expect("write key");
    }
    let out = Run::from(child.wait_with_output().expect("wait"));
    let stderr = out.fails_with(2);
    assert!(stderr.contains("error: no OS keyring is available"), "{}", out.snapshot());
    assert!(
        stderr.contains("hint: machines without a keyring (CI, containers) pass keys in environment variables"),
        "{}",
        out.snapshot()
    );
    assert!(!stderr.contains(KEY));
    let unknown = run(&project, &["auth", "rm", "fsat"], &[]);
    assert!(unknown.fails_with(2).contains("did you mean `fast`?"), "{}", unknown.snapshot());
    let list = run(&project, &["auth", "list"], &[("ANTHROPIC_API_KEY", KEY)]);
    assert!(list.ok().contains("environment (ANTHROPIC_API_KEY)"), "{}", list.snapshot());
}

#[test]
fn a_placeholder_is_filled_with_the_messages_of_its_variable() {
    let project = project("http://127.0.0.1:9");
    let conversation = "variables:\n  history: { type: array, required: false }\n  q: { type: string }\nmessages:\n  - role: system\n    content: Be brief.\n  - role: placeholder\n    content: history\n  - role: user\n    content: '{{ q }}'\n";
    project.write("prompts/chat.yaml", conversation);
    let history = r#"history=[{"role":"user","content":"Hi there"},{"role":"assistant","content":"Hello!"}]"#;
    let out = run(&project, &["run", "chat", "--provider", "echo", "--var", "q=Refund?", "--var", history], &[]);
    let answer = out.ok();
    let order: Vec<usize> =
        ["Be brief.", "Hi there", "Hello!", "Refund?"].iter().map(|t| answer.find(t).unwrap_or(usize::MAX)).collect();
    assert!(order.windows(2).all(|w| w[0] < w[1] && w[1] != usize::MAX), "{}", out.snapshot());
    let bad = run(&project, &["run", "chat", "--provider", "echo", "--var", "q=x", "--var", "history=[1]"], &[]);
    assert!(bad.fails_with(2).contains("placeholder `history`"), "{}", bad.snapshot());
}

#[test]
fn a_composed_prompt_runs_with_its_references_resolved_through_the_registry() {
    let project = project("http://127.0.0.1:9");
    let text = |body: &str| format!("messages:\n  - role: user\n    content: '{body}'\n");
    project.write(
        "prompts/persona.yaml",
        &format!("variables:\n  tone: {{ type: string }}\n{}", text("You are a careful {{ tone }} assistant.")),
    );
    project.write(
        "prompts/greeting.yaml",
        "messages:\n  - role: system\n    content: Hi\n  - role: user\n    content: x\n",
    );
    run(&project, &["commit", "-m", "persona"], &[]).ok();
    run(&project, &["label", "set", "persona", "production", "1", "--yes"], &[]).ok();
    project.write(
        "prompts/support.yaml",
        "variables:\n  tone: { type: string }\n  q: { type: string }\nmessages:\n  - role: user\n    content: '@@@langfusePrompt:name=persona|label=production@@@ Answer: {{ q }}'\n",
    );
    let vars = ["--var", "tone=calm", "--var", "q=Refund?"];
    let out = run(&project, &[&["run", "support", "--provider", "echo"][..], &vars].concat(), &[]);
    assert!(out.ok().contains("You are a careful calm assistant. Answer: Refund?"), "{}", out.snapshot());
    let rendered = run(&project, &[&["prompt", "render", "support"][..], &vars].concat(), &[]);
    assert!(rendered.ok().contains("You are a careful calm assistant. Answer: Refund?"), "{}", rendered.snapshot());

    // A missing label, a chat target and a cycle are refused naming the file, line and column.
    let refuse = |body: &str, expected: &str| {
        project.write("prompts/support.yaml", &text(body));
        let out = run(&project, &["run", "support", "--provider", "echo"], &[]);
        let stderr = out.fails_with(2);
        assert!(stderr.contains("prompts/support.yaml:3:15: `@@@langfusePrompt:"), "{}", out.snapshot());
        assert!(stderr.contains(expected) && stderr.contains("hint:"), "{}", out.snapshot());
    };
    refuse("@@@langfusePrompt:name=persona|label=staging@@@", "does not resolve");
    refuse("@@@langfusePrompt:name=greeting|version=1@@@", "points at a chat prompt");
    refuse("@@@langfusePrompt:name=support|version=1@@@", "closes a cycle: support → support");
}
