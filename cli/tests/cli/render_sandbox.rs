//! The render sandbox `promptops serve` renders managed prompts in, with this binary's
//! `render-worker` as its workers: a render there reads exactly as one in-process, and a
//! template that builds too much text or runs too long is stopped without harming the next.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use promptops::prompt::{
    LoadedPrompt, PartialSet, PromptName, RenderSandbox, SandboxError, SandboxLimits, Vars, WorkerCommand, render,
};
use serde_json::json;

fn sandbox(limits: SandboxLimits) -> RenderSandbox {
    let command = WorkerCommand { program: env!("CARGO_BIN_EXE_promptops").into(), args: vec!["render-worker".into()] };
    RenderSandbox::new(command, limits)
}

fn limits() -> SandboxLimits {
    SandboxLimits { workers: 1, timeout: Duration::from_secs(20), memory: 256 << 20 }
}

fn prompt(source: &str, partials: &[(&str, &str)]) -> LoadedPrompt {
    let partials: PartialSet = partials.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    let name = PromptName::new("t/p").expect("valid");
    LoadedPrompt::parse(name, PathBuf::from("prompts/t/p.yaml"), source.to_owned(), partials).expect("parses")
}

fn single(template: &str) -> LoadedPrompt {
    prompt(&format!("messages:\n  - role: user\n    content: '{template}'\n"), &[])
}

const TRIAGE: &str = "variables:\n  ticket: { type: string }\n  history: { type: array, default: [] }\nmessages:\n  - role: system\n    content: |\n      {% include \"style.j2\" %}\n      Mind the {{ ticket | length }} characters.\n  - role: placeholder\n    content: history\n  - role: user\n    content:\n      - text: \"Ticket: {{ ticket }}\"\n      - image: \"  https://example.com/{{ ticket | length }}.png  \"\n";

fn triage_vars() -> Vars {
    Vars::from([
        ("ticket".to_owned(), json!("refund please")),
        ("history".to_owned(), json!([{"role": "assistant", "content": "How can I help?"}])),
    ])
}

const GROWN_BY_REPLACE: &str = r#"{{ ("a" * 1000) | replace("a", "a" * 1000) | replace("a", "a" * 1000) | length }}"#;
const DOUBLED_IN_A_LOOP: &str = r#"{% set ns = namespace(s="x") %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}"#;
/// A megabyte built ten bytes at a time, each step copying what came before: small in memory
/// and in fuel, minutes of copying.
const QUADRATIC: &str = r#"{% set ns = namespace(s="") %}{% for i in range(100000) %}{% set ns.s = ns.s ~ "0123456789" %}{% endfor %}{{ ns.s | length }}"#;

#[tokio::test]
async fn a_sandboxed_render_equals_the_one_in_this_process() {
    let triage = prompt(TRIAGE, &[("style.j2", "Be kind.")]);
    let rendered = sandbox(limits()).render(&triage, &triage_vars()).await.expect("renders");
    assert_eq!(rendered, render(&triage, &triage_vars()).expect("renders in-process"));
    assert_eq!(rendered.messages.len(), 3, "system, the placeholder's message, user: {rendered:?}");
}

#[tokio::test]
async fn a_template_error_in_a_worker_reads_as_in_this_process() {
    let sandbox = sandbox(limits());
    let cases = [
        prompt("messages:\n  - role: user\n    content: |\n      Hello.\n      {{ tciket }}\n", &[]),
        prompt("messages:\n  - role: user\n    content: '{{ 1 | no_such_filter }}'\n", &[]),
        prompt("messages:\n  - role: user\n    content: '{% include \"styel.j2\" %}'\n", &[("style.j2", "Be kind.")]),
    ];
    for prompt in cases {
        let local = render(&prompt, &Vars::new()).expect_err("fails in-process");
        let SandboxError::Render(remote) = sandbox.render(&prompt, &Vars::new()).await.expect_err("fails") else {
            panic!("a template error stays a render error");
        };
        assert_eq!(remote.to_string(), local.to_string());
        assert_eq!(promptops::error::Diagnostic::hints(&remote), promptops::error::Diagnostic::hints(&local));
    }
}

#[tokio::test]
async fn a_missing_variable_is_refused_before_any_worker_runs() {
    let sandbox = sandbox(limits());
    let needs =
        prompt("variables:\n  ticket: { type: string }\nmessages:\n  - role: user\n    content: '{{ ticket }}'\n", &[]);
    let err = sandbox.render(&needs, &Vars::new()).await.expect_err("missing");
    assert_eq!(err.to_string(), "prompt `t/p` needs variable `ticket`");
}

#[tokio::test]
async fn a_string_multiplied_by_replace_stops_at_the_memory_limit() {
    let sandbox = sandbox(limits());
    let err = sandbox.render(&single(GROWN_BY_REPLACE), &Vars::new()).await.expect_err("a gigabyte");
    assert!(matches!(err, SandboxError::OutOfMemory { limit_mib: 256, .. }), "{err:?}");
    assert_eq!(err.to_string(), "rendering prompt `t/p` needed more than 256 MiB and was stopped");
    assert!(promptops::error::Diagnostic::hints(&err)[0].contains("publish a new version"), "{err:?}");
}

#[tokio::test]
async fn a_string_doubled_in_a_loop_stops_at_the_memory_limit() {
    let err = sandbox(limits()).render(&single(DOUBLED_IN_A_LOOP), &Vars::new()).await.expect_err("a terabyte");
    assert!(matches!(err, SandboxError::OutOfMemory { .. }), "{err:?}");
}

#[tokio::test]
async fn a_render_past_its_deadline_is_killed_at_the_deadline() {
    let sandbox = sandbox(SandboxLimits { timeout: Duration::from_millis(500), ..limits() });
    let started = Instant::now();
    let err = sandbox.render(&single(QUADRATIC), &Vars::new()).await.expect_err("minutes of copying");
    assert!(matches!(err, SandboxError::TimedOut { .. }), "{err:?}");
    assert_eq!(err.to_string(), "rendering prompt `t/p` took longer than 500ms and was stopped");
    assert!(started.elapsed() < Duration::from_secs(10), "stopped near its deadline: {:?}", started.elapsed());
}

#[tokio::test]
async fn a_stopped_render_leaves_the_sandbox_rendering() {
    let sandbox = sandbox(SandboxLimits { timeout: Duration::from_millis(500), ..limits() });
    let triage = prompt(TRIAGE, &[("style.j2", "Be kind.")]);
    for bomb in [GROWN_BY_REPLACE, QUADRATIC] {
        sandbox.render(&single(bomb), &Vars::new()).await.expect_err("stopped");
        let rendered = sandbox.render(&triage, &triage_vars()).await.expect("the next render works");
        assert_eq!(rendered, render(&triage, &triage_vars()).expect("renders in-process"));
    }
}

#[tokio::test]
async fn renders_share_the_workers_and_wait_their_turn() {
    let sandbox = std::sync::Arc::new(sandbox(SandboxLimits { workers: 2, ..limits() }));
    let triage = prompt(TRIAGE, &[("style.j2", "Be kind.")]);
    let expected = render(&triage, &triage_vars()).expect("renders in-process");
    let renders = (0..16).map(|_| {
        let (sandbox, triage) = (std::sync::Arc::clone(&sandbox), triage.clone());
        tokio::spawn(async move { sandbox.render(&triage, &triage_vars()).await })
    });
    for render in renders {
        assert_eq!(render.await.expect("joins").expect("renders"), expected);
    }
}
