//! `promptops traces [--remote R] [--limit N]`: the gateway's requests, newest first: who
//! (the key), which prompt and model, tokens, cost, latency, cache and outcome, from the usage
//! service the context picks (locally, the traces of a `promptops serve` that ran on this
//! project's store).

use clap::Args;
use promptops::store::TraceRecord;

use crate::context::Context;
use crate::diagnose::DiagnoseExt;
use crate::exit::ExitStatus;
use crate::output::{Format, Grid};

/// Flags of `traces`.
#[derive(Debug, Args)]
pub struct TracesArgs {
    /// Most traces shown.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
}

/// Runs `traces`.
pub async fn run(args: TracesArgs, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let TracesArgs { limit } = args;
    let format = ctx.format(Format::LISTING, "traces")?;
    let project = ctx.project()?;
    let traces = ctx.usage(&project).await?.traces(limit).await.diag()?;
    match format {
        Format::Json => ctx.printer.out(&serde_json::to_string_pretty(&traces)?),
        Format::Yaml => ctx.printer.out(&serde_yaml::to_string(&traces)?),
        _ => ctx.printer.out(&grid(&traces).render(format)),
    }
    Ok(ExitStatus::Success)
}

fn grid(traces: &[TraceRecord]) -> Grid {
    let mut grid = Grid::new(&["AT", "KEY", "PROMPT", "MODEL", "TOKENS", "COST", "LATENCY", "CACHE", "STATUS"]);
    for t in traces {
        let prompt = match (&t.prompt, &t.prompt_label, t.prompt_version) {
            (Some(p), Some(l), _) => format!("{p}@{l}"),
            (Some(p), None, Some(v)) => format!("{p}@{v}"),
            _ => "-".to_owned(),
        };
        let model = t.fallback.as_ref().map_or_else(|| t.model.clone(), |f| format!("{} → {f}", t.model));
        grid.row(vec![
            t.at.format("%Y-%m-%d %H:%M:%S").to_string(),
            t.key_id.clone(),
            prompt,
            model,
            (t.input_tokens + t.output_tokens).to_string(),
            t.cost.to_string(),
            format!("{} ms", t.latency_ms),
            t.cache.clone(),
            format!("{} {}", t.status, t.http_status),
        ]);
    }
    grid
}
