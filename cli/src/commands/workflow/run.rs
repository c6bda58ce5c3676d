//! `workflow run` and `workflow resume`: input parsing, streaming events as JSON lines, and the
//! outcome: the output on stdout, the per-node trace on stderr (or everything as one JSON or
//! YAML document), and for a pause its status and the resume command.

use std::sync::Arc;

use promptops::workflow::{Event, EventSink, ProviderCaller, RunOptions, RunOutcome, RunStatus, Runner, TaskTrace};
use serde_json::Value;

use super::caller::caller;
use super::{ExecArgs, ResumeArgs, RunArgs, StreamMode, load_compiled, report_invalid};
use crate::context::Context;
use crate::diagnose::{DiagnoseExt, usage};
use crate::exit::ExitStatus;
use crate::output::{Format, Grid, Printer, emit_structured};

/// `workflow run`.
pub async fn run(args: RunArgs, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let RunArgs { target, input, input_file, thread, exec } = args;
    let format = ctx.format(Format::DOCUMENT, "workflow run")?;
    let project = ctx.project()?;
    let input = read_input(input.as_deref(), input_file.as_deref())?;
    let (_, compiled) = load_compiled(ctx, &project, &target).await?;
    let (runner, caller) = runner(ctx, &project, &exec).await?;
    let outcome = runner.run(&compiled, input, thread).await;
    finish(ctx, format, exec.stream, outcome, &caller).await
}

/// `workflow resume`.
pub async fn resume(args: ResumeArgs, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let ResumeArgs { thread, input, exec } = args;
    let format = ctx.format(Format::DOCUMENT, "workflow resume")?;
    let project = ctx.project()?;
    let answer = input.as_deref().map(|text| parse_json(text, "--input")).transpose()?;
    let (store, scope) = ctx.store(&project).await?;
    let record = store
        .thread(&scope, &thread)
        .await
        .diag()?
        .ok_or_else(|| promptops::workflow::WorkflowError::ThreadNotFound { thread: thread.clone() })
        .diag()?;
    let (_, compiled) = load_compiled(ctx, &project, &record.workflow).await?;
    let (runner, caller) = runner(ctx, &project, &exec).await?;
    let outcome = runner.resume(&compiled, &thread, answer).await;
    finish(ctx, format, exec.stream, outcome, &caller).await
}

/// Waits for the usage rows and cache entries of the run, renders its outcome, then fails if
/// some of them were lost: the answer is shown, and the exit status says the ledger is short.
async fn finish(
    ctx: &Context,
    format: Format,
    stream: Option<StreamMode>,
    outcome: Result<RunOutcome, promptops::workflow::WorkflowError>,
    caller: &ProviderCaller,
) -> anyhow::Result<ExitStatus> {
    let flushed = caller.flush().await;
    let status = render(ctx, format, stream, &outcome.map_err(|err| report_invalid(ctx, err))?)?;
    flushed.diag()?;
    Ok(status)
}

/// A runner checkpointing into the project store and calling models through its providers
/// (returned too, to flush their cache and usage writes when the run stops).
async fn runner(
    ctx: &Context,
    project: &promptops::config::Project,
    exec: &ExecArgs,
) -> anyhow::Result<(Runner, Arc<ProviderCaller>)> {
    let ExecArgs { stream, non_interactive, no_cache } = exec;
    let (store, scope) = ctx.store(project).await?;
    let options = RunOptions { allow_pause: !non_interactive, cache: !no_cache, ..RunOptions::default() };
    let caller = Arc::new(caller(ctx, project, *no_cache).await?);
    let mut runner = Runner::new(caller.clone()).with_store(store, scope).with_options(options);
    if let Some(mode) = *stream {
        runner = runner.with_events(sink(ctx.printer.clone(), mode));
    }
    Ok((runner, caller))
}

/// Prints the events of one stream mode as JSON lines on stdout.
fn sink(printer: Printer, mode: StreamMode) -> EventSink {
    Arc::new(move |event: &Event| {
        let wanted = matches!(
            (mode, event),
            (StreamMode::Values, Event::Values { .. })
                | (StreamMode::Updates, Event::Updates { .. })
                | (StreamMode::Tokens, Event::Token { .. })
        );
        if wanted && let Ok(line) = serde_json::to_string(event) {
            printer.out(&line);
        }
    })
}

fn parse_json(text: &str, flag: &str) -> anyhow::Result<Value> {
    serde_json::from_str(text).map_err(|err| {
        usage(
            format!("`{flag}` is not valid JSON: {err}"),
            &["e.g. `--input '{\"topic\": \"tides\"}'` (quote it for the shell)"],
        )
    })
}

fn read_input(input: Option<&str>, file: Option<&std::path::Path>) -> anyhow::Result<Value> {
    let mut value = serde_json::Map::new();
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|err| usage(format!("cannot read `{}`: {err}", path.display()), &[]))?;
        match promptops::yaml::value_from_str(path, &text).diag()? {
            Value::Object(map) => value.extend(map),
            _ => return Err(usage(format!("`{}` must hold a mapping of input keys", path.display()), &[])),
        }
    }
    if let Some(text) = input {
        match parse_json(text, "--input")? {
            Value::Object(map) => value.extend(map),
            _ => return Err(usage("`--input` must be a JSON object of the workflow's input keys", &[])),
        }
    }
    Ok(Value::Object(value))
}

fn render(
    ctx: &Context,
    format: Format,
    stream: Option<StreamMode>,
    outcome: &RunOutcome,
) -> anyhow::Result<ExitStatus> {
    for warning in &outcome.warnings {
        ctx.printer.warn(warning);
    }
    if stream.is_none() && emit_structured(&ctx.printer, format, outcome)? {
        return Ok(ExitStatus::Success);
    }
    let resume = format!("promptops workflow resume {} --input JSON", outcome.thread);
    match (outcome.status, &outcome.interrupt) {
        (RunStatus::Interrupted, Some(question)) => {
            let mut lines = vec![
                "status: interrupted".to_owned(),
                format!("thread: {}", outcome.thread),
                format!("node: {}", question.node),
                format!("question: {}", question.message),
            ];
            if let Some(schema) = &question.schema {
                lines.push(format!("answer schema: {schema}"));
            }
            lines.push(format!("resume: {resume}"));
            let text = lines.join("\n");
            if stream.is_some() { ctx.printer.status(&text) } else { ctx.printer.out(&text) }
        }
        _ => {
            if stream.is_none() {
                ctx.printer.out(&serde_json::to_string_pretty(&outcome.output)?);
            }
            ctx.printer.status(&format!("thread {}: completed in {} step(s)", outcome.thread, outcome.steps));
        }
    }
    ctx.printer.status(&trace_table(&outcome.trace));
    Ok(ExitStatus::Success)
}

/// The per-node trace as a table, with totals.
pub fn trace_table(trace: &[TaskTrace]) -> String {
    let mut grid = Grid::new(&["STEP", "NODE", "STATUS", "TIME", "TOKENS IN/OUT", "COST", "RETRIES"]);
    for task in trace {
        let node = task.index.map_or_else(|| task.node.clone(), |i| format!("{}[{i}]", task.node));
        let status =
            serde_json::to_value(task.status).ok().and_then(|v| v.as_str().map(ToOwned::to_owned)).unwrap_or_default();
        let status = if task.reused {
            format!("{status} (stored)")
        } else if task.cached {
            format!("{status} (cached)")
        } else {
            status
        };
        grid.row(vec![
            task.step.to_string(),
            node,
            status,
            format!("{} ms", task.duration_ms),
            format!("{}/{}", task.input_tokens, task.output_tokens),
            task.cost.to_string(),
            task.retries.to_string(),
        ]);
    }
    let tokens: u64 = trace.iter().map(|t| t.input_tokens + t.output_tokens).sum();
    let cost = trace.iter().fold(promptops::money::Micros::ZERO, |a, t| a + t.cost);
    format!("{}total: {} task(s), {tokens} tokens, {cost}", grid.render(Format::Table), trace.len())
}
