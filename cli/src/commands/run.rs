//! `promptops run`: render one prompt and run it against a provider (flag > the prompt's
//! `model:` > `defaults.provider`). The answer goes to stdout (streamed with `--stream`);
//! provider, usage, latency and cost go to stderr, or everything into one JSON document.

use std::path::PathBuf;

use clap::Args;
use promptops::money::Micros;
use promptops::prompt::render as render_prompt;
use promptops::provider::{ChatResponse, ProvidersOptions, request_from_rendered};

use super::prompt::collect_vars;
use super::workspace::{load_ref, parse_ref};
use crate::context::Context;
use crate::diagnose::{DiagnoseExt, usage};
use crate::exit::ExitStatus;
use crate::output::{Format, Tone};

/// Flags of `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The prompt: `name` (working copy), `name@3`, `name@production`, …
    #[arg(value_name = "REF", add = clap_complete::ArgValueCandidates::new(crate::complete::prompts))]
    pub reference: String,
    /// A variable, `name=value` (converted to the declared type; repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// A YAML or JSON file of variables (`--var` wins over it).
    #[arg(long, value_name = "FILE")]
    pub vars_file: Option<PathBuf>,
    /// The provider: an id from promptops.yaml or `kind:model` (default: the prompt's `model:`, then `defaults.provider`).
    #[arg(long, value_name = "ID")]
    pub provider: Option<String>,
    /// Print the answer as it is generated.
    #[arg(long)]
    pub stream: bool,
    /// Neither read nor write the response cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Refuse to spend more than this many US dollars in this invocation.
    #[arg(long, value_name = "USD")]
    pub max_cost: Option<f64>,
}

/// Runs `run`.
pub async fn run(args: RunArgs, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let RunArgs { reference, vars, vars_file, provider, stream, no_cache, max_cost } = args;
    let format = ctx.format(&[Format::Table, Format::Json], "run")?;
    let max_cost = match max_cost {
        Some(usd) => Some(Micros::from_usd(usd).filter(|m| m.0 >= 0).ok_or_else(|| {
            usage(format!("`--max-cost {usd}` is not a non-negative amount of dollars"), &["e.g. `--max-cost 0.50`"])
        })?),
        None => None,
    };
    let project = ctx.project()?;
    let registry = ctx.registry(&project).await?;
    let prompt = load_ref(&project, registry.as_ref(), &parse_ref(&reference)?).await?;
    let values = collect_vars(ctx, &prompt, &vars, vars_file.as_deref())?;
    let rendered = render_prompt(&prompt, &values).diag()?;
    let Some(chosen) = provider.or_else(|| rendered.model.clone()).or_else(|| project.config.defaults.provider.clone())
    else {
        return Err(usage(
            format!("no provider for prompt `{}`", rendered.name),
            &["pass `--provider ID`, set `model:` in the prompt, or `defaults.provider` in promptops.yaml"],
        ));
    };
    let providers = ctx.providers(&project, ProvidersOptions { no_cache, max_cost, secrets: None }).await?;
    let provider = providers.get(&chosen).diag()?;
    let request = request_from_rendered(&rendered, &project.root).diag()?;
    ctx.printer.detail(&format!("running `{}` on `{chosen}`", rendered.name));
    let streaming = stream && format != Format::Json;
    let result = if streaming {
        let printer = ctx.printer.clone();
        let mut sink = move |delta: &str| printer.out_raw(delta);
        provider.chat(&request, Some(&mut sink)).await
    } else {
        provider.chat(&request, None).await
    };
    // Whatever happened, the usage rows of the attempt must reach the ledger, or the command
    // fails saying which did not (after showing the answer that was paid for).
    let flushed = providers.flush().await;
    let response = result.diag()?;
    print(ctx, format, streaming, &rendered.name.to_string(), &response)?;
    flushed.diag()?;
    Ok(ExitStatus::Success)
}

/// The answer on stdout (unless it was streamed there already), warnings and the summary on stderr.
fn print(ctx: &Context, format: Format, streamed: bool, prompt: &str, response: &ChatResponse) -> anyhow::Result<()> {
    for warning in &response.warnings {
        ctx.printer.warn(warning);
    }
    if format == Format::Json {
        ctx.printer.out(&serde_json::to_string_pretty(&json(prompt, response))?);
        return Ok(());
    }
    if !streamed {
        ctx.printer.out(&response.text);
    } else if !response.text.ends_with('\n') {
        ctx.printer.out_raw("\n");
    }
    ctx.printer.status(&ctx.printer.paint_stderr(Tone::Dim, &summary(response)));
    Ok(())
}

/// `fast (gpt-4o-mini) · 120 in / 14 out tokens · 812 ms · $0.000027`.
pub fn summary(response: &ChatResponse) -> String {
    let mut parts = vec![
        format!("{} ({})", response.provider, response.model),
        format!("{} in / {} out tokens", response.usage.input_tokens, response.usage.output_tokens),
        format!("{} ms", response.latency.as_millis()),
        response.cost.to_string(),
    ];
    if response.cached {
        parts.push("cached".to_owned());
    } else if response.attempts > 1 {
        parts.push(format!("{} attempts", response.attempts));
    }
    parts.join(" · ")
}

fn json(prompt: &str, response: &ChatResponse) -> serde_json::Value {
    serde_json::json!({
        "prompt": prompt,
        "provider": response.provider,
        "model": response.model,
        "output": response.text,
        "json": response.json,
        "usage": response.usage,
        "cost_usd": response.cost.as_usd(),
        "cost_micros": response.cost.0,
        "latency_ms": response.latency.as_millis() as u64,
        "cached": response.cached,
        "attempts": response.attempts,
        "finish_reason": response.finish_reason,
        "warnings": response.warnings,
    })
}
