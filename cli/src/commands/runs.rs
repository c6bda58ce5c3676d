//! `promptops runs watch|cancel RUN --remote NAME`: server-side runs after their submission.
//! `watch` re-attaches to a run (from its first result, so the report is whole) with the same
//! progress bar, report and exit code as `eval --on-server`; `cancel` stops it, keeping what
//! finished.

use clap::Subcommand;
use promptops::remote::RemoteQueue;
use promptops::session::{EvalOutcome, SuiteOutcome, attach};

use crate::commands::eval::run::{Settings, emit, exit_status};
use crate::context::Context;
use crate::diagnose::{DiagnoseExt, usage};
use crate::exit::ExitStatus;
use crate::output::progress::TerminalEvents;

/// Subcommands of `runs`.
#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// Follow a run on the server to its end, then print its report (exit codes as `eval`).
    Watch {
        /// The run's number.
        run: u64,
    },
    /// Cancel a run on the server: queued cases are dropped, running ones stop; results are kept.
    Cancel {
        /// The run's number.
        run: u64,
    },
}

/// Runs `runs`.
pub async fn run(command: RunsCommand, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let project = ctx.project()?;
    let remote = ctx.remote().ok_or_else(|| {
        usage("`runs` acts on a server's runs", &["name the server with `--remote NAME` (see `promptops remote list`)"])
    })?;
    let queue = RemoteQueue::new(ctx.remote_client(&project, remote)?);
    match command {
        RunsCommand::Watch { run } => {
            let settings = Settings::following(ctx)?;
            let cancel = promptops::eval::Cancel::default();
            crate::commands::eval::run::watch_ctrl_c(ctx, cancel.clone());
            let events = TerminalEvents(ctx.printer.clone());
            let followed = attach(&queue, run, settings.needs_results(), &cancel, &events).await.diag()?;
            let suite = SuiteOutcome { report: followed.report, results: followed.results, baseline: None };
            let outcome = EvalOutcome::judge(vec![suite], None, true);
            emit(ctx, &settings, &outcome.suites)?;
            Ok(exit_status(ctx, &settings, &outcome))
        }
        RunsCommand::Cancel { run } => {
            let record = queue.cancel(run).await.diag()?;
            ctx.printer.status(&format!(
                "run {} ({}) is {}: {} of {} result(s) kept",
                record.id,
                record.draft.suite,
                record.status.as_str(),
                record.totals.done,
                record.draft.total
            ));
            Ok(ExitStatus::Success)
        }
    }
}
