//! `promptops cost`: spend from the usage service (the local ledger, or the server's with
//! `--remote`, gateway spend included), grouped by day, provider or model, with the budget lines
//! the service answers for beside it.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use clap::{Args, ValueEnum};
use promptops::money::Micros;
use promptops::store::{UsageGroup, UsageRow};

use crate::context::Context;
use crate::diagnose::{DiagnoseExt, usage};
use crate::exit::ExitStatus;
use crate::output::{Format, Grid};

/// How to group spend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum By {
    /// By UTC day.
    Day,
    /// By provider id.
    Provider,
    /// By model.
    Model,
}

/// Flags of `cost`.
#[derive(Debug, Args)]
pub struct CostArgs {
    /// Only calls on or after this day (`2026-11-01`) or this many days back (`7d`).
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// How to group spend.
    #[arg(long, value_enum, default_value = "day")]
    pub by: By,
}

fn parse_since(text: &str) -> anyhow::Result<DateTime<Utc>> {
    if let Some(days) = text.strip_suffix('d').and_then(|d| d.parse::<i64>().ok()) {
        let today = Utc::now().date_naive();
        let start = today - chrono::Duration::days(days.max(0));
        return Ok(Utc.from_utc_datetime(&start.and_hms_opt(0, 0, 0).expect("invariant: midnight exists")));
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).expect("invariant: midnight exists")));
    }
    DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc)).map_err(|_| {
        usage(format!("`--since {text}` is not a date"), &["use `YYYY-MM-DD` or a number of days such as `7d`"])
    })
}

/// Runs `cost`.
pub async fn run(args: CostArgs, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let CostArgs { since, by } = args;
    let format = ctx.format(Format::LISTING, "cost")?;
    let since = since.as_deref().map(parse_since).transpose()?;
    let project = ctx.project()?;
    let group = match by {
        By::Day => UsageGroup::Day,
        By::Provider => UsageGroup::Provider,
        By::Model => UsageGroup::Model,
    };
    let usage = ctx.usage(&project).await?;
    let rows = usage.usage(since, group).await.diag()?;
    print(ctx, format, &rows, by)?;
    for line in usage.budget_lines(Utc::now()).await.diag()? {
        ctx.printer.status(&format!("{}: {} of {} budget", line.period, line.spent, line.limit));
    }
    Ok(ExitStatus::Success)
}

fn print(ctx: &Context, format: Format, rows: &[UsageRow], by: By) -> anyhow::Result<()> {
    let total: Micros = rows.iter().map(|r| r.cost).sum();
    match format {
        Format::Json => ctx.printer.out(&serde_json::to_string_pretty(&document(rows, total))?),
        Format::Yaml => ctx.printer.out(&serde_yaml::to_string(&document(rows, total))?),
        _ => ctx.printer.out(&grid(rows, total, by).render(format)),
    }
    Ok(())
}

fn document(rows: &[UsageRow], total: Micros) -> serde_json::Value {
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "key": r.key, "requests": r.requests, "cache_hits": r.cache_hits, "input_tokens": r.input_tokens,
                "output_tokens": r.output_tokens, "cached_input_tokens": r.cached_input_tokens,
                "cost_usd": r.cost.as_usd(), "cost_micros": r.cost.0,
            })
        })
        .collect();
    serde_json::json!({ "rows": rows, "total_usd": total.as_usd(), "total_micros": total.0 })
}

fn grid(rows: &[UsageRow], total: Micros, by: By) -> Grid {
    let key = match by {
        By::Day => "DAY",
        By::Provider => "PROVIDER",
        By::Model => "MODEL",
    };
    let mut grid = Grid::new(&[key, "REQUESTS", "CACHED", "INPUT", "OUTPUT", "COST"]);
    for r in rows {
        grid.row(vec![
            r.key.clone(),
            r.requests.to_string(),
            r.cache_hits.to_string(),
            r.input_tokens.to_string(),
            r.output_tokens.to_string(),
            r.cost.to_string(),
        ]);
    }
    let requests: u64 = rows.iter().map(|r| r.requests).sum();
    grid.row(vec![
        "total".into(),
        requests.to_string(),
        String::new(),
        String::new(),
        String::new(),
        total.to_string(),
    ]);
    grid
}
