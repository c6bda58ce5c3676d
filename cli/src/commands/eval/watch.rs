//! `eval --watch`: run the chosen suites once, then poll the project and re-run only the suites
//! that each change touches (a prompt, a partial, a suite, a dataset, a `file://` variable, or
//! `promptops.yaml` for all of them), until Ctrl-C. A round that fails, even on a suite that no
//! longer parses, is reported and the watch goes on: fixing the file starts the next round.

use std::time::Duration;

use promptops::eval::Cancel;
use promptops::eval::changed::affected_suites;
use promptops::eval::watch::Snapshot;

use super::RunArgs;
use super::run::{Settings, run_once};
use super::select::suites;
use crate::context::Context;
use crate::exit::ExitStatus;

/// How often the project is looked at.
const POLL: Duration = Duration::from_millis(250);

/// How long a change is left to settle: an editor or `git checkout` writes several files.
const SETTLE: Duration = Duration::from_millis(150);

/// Runs `eval --watch`; the status is that of the last round.
pub async fn watch(args: &RunArgs, settings: &Settings, ctx: &Context, cancel: &Cancel) -> anyhow::Result<ExitStatus> {
    let root = ctx.project()?.root;
    let mut seen = Snapshot::take(&root);
    let mut status = round(args, settings, ctx, None, cancel).await;
    loop {
        ctx.printer.status(&format!("watching {} file(s) for changes (Ctrl-C to stop)", seen.len()));
        let changed = loop {
            tokio::time::sleep(POLL).await;
            if cancel.is_cancelled() {
                return Ok(status);
            }
            if !Snapshot::take(&root).changed_since(&seen).is_empty() {
                tokio::time::sleep(SETTLE).await;
                let now = Snapshot::take(&root);
                let changed = now.changed_since(&seen);
                seen = now;
                break changed;
            }
        };
        // The configuration may have changed too: the project is opened anew for every round,
        // and a promptops.yaml or suite that no longer reads is reported like a failed round.
        let opened = ctx.project().and_then(|project| {
            let chosen: Vec<_> = suites(ctx, &project, &args.suites, None)?.into_iter().map(|c| c.path).collect();
            Ok((project, chosen))
        });
        let (project, chosen) = match opened {
            Ok(opened) => opened,
            Err(err) => {
                status = crate::diagnose::report(&ctx.printer, &err);
                continue;
            }
        };
        let affected = affected_suites(&project, &chosen, &changed);
        if affected.is_empty() {
            let names: Vec<String> = changed.iter().map(|p| project.relative(p).display().to_string()).collect();
            ctx.printer.status(&format!("{} changed: no suite is affected", names.join(", ")));
            continue;
        }
        for a in &affected {
            ctx.printer.status(&format!("re-running {}: {}", project.relative(&a.path).display(), a.because));
        }
        let paths = affected.into_iter().map(|a| a.path).collect();
        status = round(args, settings, ctx, Some(paths), cancel).await;
    }
}

/// One round; its failure is printed, not returned, so that the watch goes on.
async fn round(
    args: &RunArgs,
    settings: &Settings,
    ctx: &Context,
    only: Option<Vec<std::path::PathBuf>>,
    cancel: &Cancel,
) -> ExitStatus {
    match run_once(args, settings, ctx, only, cancel).await {
        Ok(status) => status,
        Err(err) => crate::diagnose::report(&ctx.printer, &err),
    }
}
