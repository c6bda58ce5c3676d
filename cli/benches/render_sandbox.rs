//! What the server's render sandbox adds to a managed prompt's render: the same prompt (a
//! system message, a partial, a user message with two variables) rendered in this process and
//! in a `promptops render-worker`, one at a time (the round trip) and 16 at a time on 2 workers
//! (the throughput a replica gets). Run: `cargo bench -p promptops-cli --bench render_sandbox`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use promptops::prompt::{
    LoadedPrompt, PartialSet, PromptName, RenderSandbox, SandboxLimits, Vars, WorkerCommand, render,
};
use promptops_test_support::bench::measure;
use serde_json::json;

const PROMPT: &str = "variables:\n  ticket: { type: string }\n  customer: { type: string }\nmessages:\n  - role: system\n    content: |\n      {% include \"style.j2\" %}\n      You answer {{ customer }}.\n  - role: user\n    content: \"Ticket: {{ ticket }}\"\n";
const RENDERS: usize = 2_000;

fn main() {
    let partials: PartialSet = [("style.j2".to_owned(), "Be warm, concrete and brief.".to_owned())].into();
    let name = PromptName::new("support/triage").expect("valid");
    let prompt =
        LoadedPrompt::parse(name, PathBuf::from("support/triage@1"), PROMPT.to_owned(), partials).expect("parses");
    let vars = Vars::from([
        ("ticket".to_owned(), json!("My card was charged twice for the same order.")),
        ("customer".to_owned(), json!("Ada")),
    ]);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let command = WorkerCommand { program: env!("CARGO_BIN_EXE_promptops").into(), args: vec!["render-worker".into()] };
    let sandbox = Arc::new(RenderSandbox::new(command, SandboxLimits::default()));

    let local = measure("render in this process", RENDERS, || render(&prompt, &vars).expect("renders"));
    let sandboxed = measure("render in the sandbox, one at a time", RENDERS, || {
        runtime.block_on(sandbox.render(&prompt, &vars)).expect("renders")
    });
    println!("  added per render: median {:?}", sandboxed.median().saturating_sub(local.median()));

    let started = Instant::now();
    runtime.block_on(async {
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (sandbox, prompt, vars) = (Arc::clone(&sandbox), prompt.clone(), vars.clone());
                tokio::spawn(async move {
                    for _ in 0..RENDERS / 16 {
                        sandbox.render(&prompt, &vars).await.expect("renders");
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("joins");
        }
    });
    let per_second = RENDERS as f64 / started.elapsed().max(Duration::from_micros(1)).as_secs_f64();
    println!("  16 at a time on {} workers: {per_second:.0} renders/s", sandbox.limits().workers);
}
