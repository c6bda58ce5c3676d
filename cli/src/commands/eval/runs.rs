//! `eval list`, `eval show RUN [--failures]`, `eval compare RUN_A RUN_B`: reading the runs kept
//! in the store.

use std::fmt::Write as _;

use clap::Args;
use promptops::eval::compare::{CaseChange, Comparison};
use promptops::store::{CaseStatus, RunRecord, RunStatus};

use crate::commands::workspace::{short_hash, when};
use crate::context::Context;
use crate::diagnose::DiagnoseExt;
use crate::exit::ExitStatus;
use crate::output::report::{self, SuiteOutcome, percent};
use crate::output::{Format, Grid, Tone, emit_structured};

/// Flags of `eval list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only runs of this suite.
    #[arg(long, value_name = "SUITE")]
    pub suite: Option<String>,
    /// At most this many runs.
    #[arg(short = 'n', long, default_value_t = 20)]
    pub limit: u32,
}

/// Flags of `eval show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The run: its number, or `latest`.
    #[arg(value_name = "RUN", add = clap_complete::ArgValueCandidates::new(crate::complete::runs))]
    pub run: String,
    /// Only the failures and errors, every one of them.
    #[arg(long)]
    pub failures: bool,
}

/// Flags of `eval compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The earlier run.
    #[arg(value_name = "RUN_A", add = clap_complete::ArgValueCandidates::new(crate::complete::runs))]
    pub before: String,
    /// The later run.
    #[arg(value_name = "RUN_B", add = clap_complete::ArgValueCandidates::new(crate::complete::runs))]
    pub after: String,
}

/// `eval list`.
pub async fn list(args: ListArgs, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let ListArgs { suite, limit } = args;
    let format = ctx.format(Format::LISTING, "eval list")?;
    let runs = ctx.runs(&ctx.project()?).await?.runs(suite.as_deref(), limit).await.diag()?;
    if emit_structured(&ctx.printer, format, &runs)? {
        return Ok(ExitStatus::Success);
    }
    if runs.is_empty() && format == Format::Table {
        ctx.printer.status("no runs yet: run `promptops eval`");
        return Ok(ExitStatus::Success);
    }
    let mut grid = Grid::new(&["RUN", "SUITE", "STATUS", "PASSED", "RATE", "ERRORS", "COST", "STARTED", "COMMIT"]);
    for run in &runs {
        let t = &run.totals;
        let commit = run
            .draft
            .git_commit
            .as_deref()
            .map(|c| format!("{}{}", short_hash(c), if run.draft.git_dirty { "+" } else { "" }));
        // Counted as the run's own report counts them: passed of done, and for a run that did
        // not finish, how far it got.
        let status = if run.status.is_finished() {
            run.status.as_str().to_owned()
        } else {
            format!("{} ({} of {})", run.status.as_str(), t.done, run.draft.total)
        };
        grid.row(vec![
            run.id.to_string(),
            run.draft.suite.clone(),
            status,
            format!("{}/{}", t.passed, t.done),
            percent(t.pass_rate()),
            t.errors.to_string(),
            t.cost.to_string(),
            when(&run.started_at),
            commit.unwrap_or_else(|| "-".to_owned()),
        ]);
    }
    ctx.printer.out(&grid.render(format));
    resume_hints(ctx, runs.iter());
    Ok(ExitStatus::Success)
}

/// On stderr, how to finish each run that stopped part-way (Ctrl-C, or a process that died).
fn resume_hints<'a>(ctx: &Context, runs: impl Iterator<Item = &'a RunRecord>) {
    for run in runs.filter(|r| r.status == RunStatus::Interrupted) {
        ctx.printer.error_line("hint", &format!("finish run {0} with `promptops eval --resume {0}`", run.id));
    }
}

/// `eval show`.
pub async fn show(args: ShowArgs, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let ShowArgs { run, failures } = args;
    let format = ctx.format(
        &[Format::Table, Format::Json, Format::Yaml, Format::Junit, Format::Markdown, Format::Csv, Format::Html],
        "eval show",
    )?;
    let service = ctx.runs(&ctx.project()?).await?;
    let record = service.run(&run).await.diag()?;
    let id = record.id;
    let mut outcome =
        SuiteOutcome { report: service.report(record).await.diag()?, results: Vec::new(), baseline: None };
    if report::needs_results(format) {
        outcome.results = service.results(id, failures).await.diag()?;
    }
    match format {
        Format::Table if failures => ctx.printer.out_raw(&failure_list(ctx, &outcome)),
        Format::Table => ctx.printer.out_raw(&report::terminal(&ctx.printer, std::slice::from_ref(&outcome))),
        other => ctx.printer.out_raw(&report::render(other, std::slice::from_ref(&outcome))?),
    }
    resume_hints(ctx, std::iter::once(&outcome.report.run));
    Ok(ExitStatus::Success)
}

fn failure_list(ctx: &Context, outcome: &SuiteOutcome) -> String {
    let mut out = String::new();
    for p in &outcome.report.problems {
        let tone = if p.status == CaseStatus::Error { Tone::Warn } else { Tone::Bad };
        let place = p.location.as_deref().map(|l| format!("  {l}")).unwrap_or_default();
        let _ = writeln!(
            out,
            "{} {} · {} · {}{}",
            ctx.printer.paint(tone, p.status.as_str()),
            p.case_name,
            p.target,
            p.provider,
            ctx.printer.paint(Tone::Dim, &place)
        );
        for reason in &p.reasons {
            let _ = writeln!(out, "    {reason}");
        }
        if let Some(output) = &p.output {
            let _ = writeln!(out, "    {}", ctx.printer.paint(Tone::Dim, &format!("output: {}", output.trim())));
        }
    }
    if out.is_empty() {
        out.push_str("no failures\n");
    }
    out
}

/// `eval compare`.
pub async fn compare(args: CompareArgs, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let CompareArgs { before, after } = args;
    let format = ctx.format(Format::DOCUMENT, "eval compare")?;
    let service = ctx.runs(&ctx.project()?).await?;
    let (a, b) = (service.run(&before).await.diag()?, service.run(&after).await.diag()?);
    let comparison = service.compare(a, b).await.diag()?;
    if !emit_structured(&ctx.printer, format, &comparison)? {
        ctx.printer.out_raw(&render_comparison(ctx, &comparison));
    }
    Ok(if comparison.regressed.is_empty() { ExitStatus::Success } else { ExitStatus::Failed })
}

fn render_comparison(ctx: &Context, c: &Comparison) -> String {
    let mut out = String::new();
    let rate = |r: &RunRecord| format!("{} ({}/{})", percent(r.totals.pass_rate()), r.totals.passed, r.totals.done);
    let _ = writeln!(
        out,
        "run {} ({}) → run {} ({}): {} → {}",
        c.before.id,
        c.before.draft.suite,
        c.after.id,
        c.after.draft.suite,
        rate(&c.before),
        rate(&c.after)
    );
    let sections: [(&str, Tone, &Vec<CaseChange>); 5] = [
        ("regressed", Tone::Bad, &c.regressed),
        ("improved", Tone::Good, &c.improved),
        ("changed output", Tone::Warn, &c.changed_output),
        ("new", Tone::Dim, &c.added),
        ("removed", Tone::Dim, &c.removed),
    ];
    for (title, tone, changes) in sections {
        if changes.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{}", ctx.printer.paint(tone, &format!("{title} ({})", changes.len())));
        for change in changes {
            let status = |s: Option<CaseStatus>| s.map_or("-", CaseStatus::as_str);
            let _ = writeln!(
                out,
                "  {} · {} · {}  {} → {}",
                change.case_name,
                change.target,
                change.provider,
                status(change.before),
                status(change.after)
            );
            if title == "changed output" || title == "regressed" {
                let show =
                    |o: &Option<String>| o.as_deref().unwrap_or("").split_whitespace().collect::<Vec<_>>().join(" ");
                let _ = writeln!(out, "    - {}", ctx.printer.paint(Tone::Bad, &show(&change.before_output)));
                let _ = writeln!(out, "    + {}", ctx.printer.paint(Tone::Good, &show(&change.after_output)));
            }
        }
    }
    let _ = writeln!(out, "\n{} unchanged", c.unchanged);
    if c.after.status == RunStatus::Interrupted || c.before.status == RunStatus::Interrupted {
        let _ =
            writeln!(out, "{}", ctx.printer.paint(Tone::Warn, "note: an interrupted run is compared as far as it got"));
    }
    out
}
