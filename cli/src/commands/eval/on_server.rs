//! `eval --on-server`: the suites are planned here (every problem reported before anything is
//! sent), then each is queued on the remote's workers with the files it reads, and followed
//! over the run's event stream with the same progress bar; the report, the `-o` files and the
//! exit code are then made exactly as for a local run. No provider key is needed here: the
//! server's provider connections make the calls.

use std::time::Instant;

use async_trait::async_trait;
use promptops::config::Project;
use promptops::eval::backend::{Backend, CallError, Completion, ProviderProblem};
use promptops::eval::report::ReportBuilder;
use promptops::eval::suite::LoadedSuite;
use promptops::eval::{Cancel, Plan, Progress};
use promptops::prompt::RenderedPrompt;
use promptops::remote::{RemoteQueue, RunObserver};
use promptops::runs::{RunSpec, SpecOverrides};
use promptops::store::{ResultRecord, RunRecord, RunStatus};

use super::run::{Settings, baseline_check};
use crate::context::{Context, LocalStore};
use crate::diagnose::{DiagnoseExt, usage};
use crate::output::progress::EvalBar;
use crate::output::report::SuiteOutcome;

/// The backend of planning for the server: providers are the server's connections, so any name
/// is accepted here and the server checks it (reporting the suite's line, as here).
#[derive(Debug)]
pub(crate) struct ServerProviders;

#[async_trait]
impl Backend for ServerProviders {
    fn check_provider(&self, _reference: &str) -> Result<(), ProviderProblem> {
        Ok(())
    }

    async fn complete(&self, _: &str, _: &RenderedPrompt, _: u32) -> Result<Completion, CallError> {
        Err(CallError::case("with --on-server, models are called by the server"))
    }

    async fn embed(&self, _: &str, _: &[String]) -> Result<Vec<Vec<f32>>, CallError> {
        Err(CallError::case("with --on-server, models are called by the server"))
    }
}

/// Runs each plan on remote `remote` and returns the outcomes, as a local run's.
pub(crate) async fn outcomes(
    ctx: &Context,
    project: &Project,
    local: &LocalStore,
    settings: &Settings,
    plans: Vec<Plan>,
    cancel: &Cancel,
) -> anyhow::Result<Vec<SuiteOutcome>> {
    let remote = ctx.remote().ok_or_else(|| usage("--on-server needs a remote to run on", &[]))?;
    let queue = RemoteQueue::new(ctx.remote_client(project, remote)?);
    let keep_results = settings.needs_results();
    let mut outcomes = Vec::with_capacity(plans.len());
    for plan in plans {
        if cancel.is_cancelled() {
            break;
        }
        let spec = spec_of(project, &plan, settings)?;
        // One key per suite and invocation: a submission retried after a lost answer finds its run.
        let key = promptops::remote::queue::fresh_key();
        let run = queue.submit(&spec, &key).await.diag()?;
        ctx.printer.status(&format!(
            "queued {} as run {} on remote `{remote}` ({} result(s)); `promptops runs watch {} --remote {remote}` follows it",
            plan.suite,
            run.id,
            run.draft.total,
            run.id
        ));
        let (report, results) = follow(ctx, &queue, run, keep_results, cancel).await?;
        let baseline = match &settings.baseline {
            Some((reference, tolerance)) => {
                Some(baseline_check(ctx, project, local, report.run.clone(), reference, *tolerance).await?)
            }
            None => None,
        };
        outcomes.push(SuiteOutcome { report, results, baseline });
    }
    Ok(outcomes)
}

/// The spec of a planned suite: its files, the command line's choices and the plan's hash.
fn spec_of(project: &Project, plan: &Plan, settings: &Settings) -> anyhow::Result<RunSpec> {
    let suite = LoadedSuite::read(&project.root, &project.root.join(&plan.suite_path)).diag()?;
    let git = promptops::git::head(project.origin_root());
    Ok(RunSpec {
        suite: plan.suite_path.to_string_lossy().replace('\\', "/"),
        files: RunSpec::bundle(&project.root, &suite).diag()?,
        default_provider: project.config.defaults.provider.clone(),
        overrides: SpecOverrides::from(settings.overrides()),
        plan_hash: plan.hash.clone(),
        git_commit: git.as_ref().map(|(commit, _)| commit.clone()),
        git_dirty: git.is_some_and(|(_, dirty)| dirty),
    })
}

/// Re-attaches to run `run` of `queue` (`promptops runs watch`): its outcome once it has ended.
pub(crate) async fn attach(
    ctx: &Context,
    queue: &RemoteQueue,
    run: u64,
    keep: bool,
    cancel: &Cancel,
) -> anyhow::Result<SuiteOutcome> {
    let record = queue.run(run).await.diag()?;
    let (report, results) = follow(ctx, queue, record, keep, cancel).await?;
    Ok(SuiteOutcome { report, results, baseline: None })
}

/// Follows run `run` to its end with the progress bar: its report, and its results in plan
/// order when `keep` (a format lists every case). Ctrl-C stops following; the run goes on.
async fn follow(
    ctx: &Context,
    queue: &RemoteQueue,
    run: RunRecord,
    keep: bool,
    cancel: &Cancel,
) -> anyhow::Result<(promptops::eval::report::RunReport, Vec<ResultRecord>)> {
    let bar = EvalBar::new(&ctx.printer, &run.draft.suite, run.draft.total);
    let mut observer = Observer {
        bar: bar.clone(),
        report: ReportBuilder::new(run.clone()),
        results: Vec::new(),
        keep,
        progress: Progress {
            run: run.id,
            totals: Default::default(),
            total: run.draft.total,
            elapsed: Default::default(),
        },
        started: Instant::now(),
    };
    let followed = tokio::select! {
        followed = queue.follow(run.id, 0, &mut observer) => Some(followed),
        () = wait_for(cancel) => None,
    };
    bar.finish();
    let Some(followed) = followed else {
        ctx.printer.warn(&format!(
            "stopped following run {}: it goes on on the server (`promptops runs watch {}` or `promptops runs cancel {}`)",
            run.id, run.id, run.id
        ));
        let mut stopped = run;
        stopped.status = RunStatus::Interrupted;
        return Ok((observer.report.finish_with(stopped), Vec::new()));
    };
    let ended = followed.diag()?;
    let mut results = observer.results;
    results.sort_by_key(|r| r.unit);
    Ok((observer.report.finish_with(ended), results))
}

async fn wait_for(cancel: &Cancel) {
    while !cancel.is_cancelled() {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Feeds the bar and the report as results arrive.
struct Observer {
    bar: EvalBar,
    report: ReportBuilder,
    results: Vec<ResultRecord>,
    keep: bool,
    progress: Progress,
    started: Instant,
}

impl RunObserver for Observer {
    fn result(&mut self, _seq: u64, result: ResultRecord) {
        self.progress.totals.add(&result);
        self.progress.elapsed = self.started.elapsed();
        self.bar.update(&self.progress);
        self.report.add(&result);
        if self.keep {
            self.results.push(result);
        }
    }

    fn progress(&mut self, run: &RunRecord) {
        self.progress.totals = run.totals;
        self.bar.update(&self.progress);
    }
}
