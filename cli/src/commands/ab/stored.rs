//! `ab plan` (cases needed before running), `ab list` and `ab show` (experiments kept in the
//! store).

use clap::Args;
use promptops::ab::Analysis;
use promptops::ab::plan::{PlanRequest, plan as size};

use super::compare::FORMATS;
use super::render;
use crate::commands::workspace::when;
use crate::context::Context;
use crate::diagnose::DiagnoseExt;
use crate::exit::ExitStatus;
use crate::output::{Format, Grid, emit_structured};

/// Flags of `ab plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The baseline's expected pass rate (0.60).
    #[arg(long, value_name = "RATE")]
    pub baseline: f64,
    /// The pass rate worth detecting (0.70).
    #[arg(long, value_name = "RATE")]
    pub target: f64,
    /// Also size the paired design (every case under both arms), which promptops runs.
    #[arg(long)]
    pub paired: bool,
    /// Share of cases where the arms disagree (from an earlier comparison); implies --paired.
    #[arg(long, value_name = "SHARE")]
    pub discordance: Option<f64>,
    /// Significance level.
    #[arg(long, default_value_t = 0.05)]
    pub alpha: f64,
    /// Power.
    #[arg(long, default_value_t = 0.8)]
    pub power: f64,
}

/// Flags of `ab list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only experiments of this suite.
    #[arg(long, value_name = "SUITE")]
    pub suite: Option<String>,
    /// At most this many.
    #[arg(short = 'n', long, default_value_t = 20)]
    pub limit: u32,
}

/// Flags of `ab show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The experiment: its number, or `latest`.
    #[arg(value_name = "ID")]
    pub id: String,
}

/// `ab plan`.
pub fn plan(args: PlanArgs, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let PlanArgs { baseline, target, paired, discordance, alpha, power } = args;
    let format = ctx.format(FORMATS, "ab plan")?;
    let planned = size(PlanRequest { baseline, target, alpha, power, paired, discordance }).diag()?;
    if !emit_structured(&ctx.printer, format, &planned)? {
        let mut grid = Grid::new(&["DESIGN", "CASES", "NOTE"]);
        grid.row(vec![
            "unpaired, per arm".into(),
            planned.unpaired.required.to_string(),
            "two independent samples".into(),
        ]);
        grid.row(vec![
            "unpaired, per arm (continuity-corrected)".into(),
            planned.unpaired_continuity.required.to_string(),
            "closer to Fisher's exact test".into(),
        ]);
        if let Some(p) = &planned.paired {
            let source =
                if p.assumed { "discordance assumed: independent arms (pessimistic)" } else { "discordance as given" };
            let note =
                format!("{source}; exact power of McNemar's test (normal approximation: {})", p.approximate.required);
            grid.row(vec![
                format!("paired, {:.0}% discordant", p.discordance * 100.0),
                p.cases.required.to_string(),
                note,
            ]);
        }
        ctx.printer.out(&grid.render(format));
        ctx.printer.out(&planned.summary);
    }
    Ok(ExitStatus::Success)
}

/// `ab list`.
pub async fn list(args: ListArgs, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let ListArgs { suite, limit } = args;
    let format = ctx.format(Format::LISTING, "ab list")?;
    let experiments = ctx.experiments(&ctx.project()?).await?.experiments(suite.as_deref(), limit).await.diag()?;
    if emit_structured(&ctx.printer, format, &experiments)? {
        return Ok(ExitStatus::Success);
    }
    if experiments.is_empty() && format == Format::Table {
        ctx.printer.status("no experiments yet: run `promptops ab ARM ARM --suite SUITE`");
        return Ok(ExitStatus::Success);
    }
    let mut grid = Grid::new(&["ID", "SUITE", "ARMS", "DESIGN", "OUTCOME", "WHEN"]);
    for e in &experiments {
        let arms: Vec<String> = e.draft.arms.iter().map(|a| format!("{}={}", a.letter, a.label)).collect();
        grid.row(vec![
            e.id.to_string(),
            e.draft.suite.clone(),
            arms.join("; "),
            if e.draft.sequential { "sequential" } else { "fixed" }.to_owned(),
            e.draft.outcome.clone(),
            when(&e.created_at),
        ]);
    }
    ctx.printer.out(&grid.render(format));
    Ok(ExitStatus::Success)
}

/// `ab show`.
pub async fn show(args: ShowArgs, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let format = ctx.format(FORMATS, "ab show")?;
    let record = ctx.experiments(&ctx.project()?).await?.experiment(&args.id).await.diag()?;
    let analysis: Analysis = serde_json::from_value(record.draft.analysis.clone())
        .map_err(|err| anyhow::anyhow!("experiment {} was stored by another promptops version: {err}", record.id))?;
    render::emit(ctx, format, &record, &analysis)?;
    Ok(ExitStatus::Success)
}
