//! [`ServerExecutor`]: each planned suite is queued on a remote's workers with the files it
//! reads, and followed over the run's event stream with the same progress; the report is built
//! from the results as they arrive. No provider key is needed here: the server's provider
//! connections make the calls.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;

use super::{Executed, Executor, Job, ProgressSink, SessionError, SessionEvents};
use crate::api::RunStop;
use crate::eval::backend::{Backend, CallError, Completion, ProviderProblem};
use crate::eval::report::ReportBuilder;
use crate::eval::suite::LoadedSuite;
use crate::eval::{Cancel, Plan, Progress};
use crate::prompt::RenderedPrompt;
use crate::remote::{Client, RemoteQueue, RemoteRuns, RunObserver};
use crate::runs::{RunSpec, SpecOverrides};
use crate::service::RunService;
use crate::store::{ResultRecord, RunRecord, RunStatus};

/// The backend of planning for a server: providers are its connections, so any name is accepted
/// here and the server checks it (reporting the suite's line, as here).
#[derive(Debug)]
pub struct ServerProviders;

#[async_trait]
impl Backend for ServerProviders {
    fn check_provider(&self, _reference: &str) -> Result<(), ProviderProblem> {
        Ok(())
    }

    async fn complete(&self, _: &str, _: &RenderedPrompt, _: u32) -> Result<Completion, CallError> {
        Err(CallError::case("runs on the server call models there"))
    }

    async fn embed(&self, _: &str, _: &[String]) -> Result<Vec<Vec<f32>>, CallError> {
        Err(CallError::case("runs on the server call models there"))
    }
}

/// Runs on a remote's workers.
#[derive(Debug)]
pub struct ServerExecutor {
    queue: RemoteQueue,
    runs: Arc<RemoteRuns>,
    root: PathBuf,
    default_provider: Option<String>,
    git: Option<(String, bool)>,
}

impl ServerExecutor {
    /// Runs the suites of the project at `root` on the remote `client` reaches, planned with
    /// `default_provider`, at git commit `git`.
    pub fn new(client: Client, root: PathBuf, default_provider: Option<String>, git: Option<(String, bool)>) -> Self {
        let runs = Arc::new(RemoteRuns::new(client.clone()));
        Self { queue: RemoteQueue::new(client), runs, root, default_provider, git }
    }

    /// The spec of a planned suite: its files, the command line's choices and the plan's hash.
    fn spec(&self, plan: &Plan, job: &Job<'_>) -> Result<RunSpec, SessionError> {
        let mut suite = LoadedSuite::read(&self.root, &self.root.join(&plan.suite_path))
            .map_err(|problem| SessionError::Problems { what: "the suite".to_owned(), problems: vec![problem] })?;
        if let Some(targets) = job.targets {
            suite.file.targets = targets.to_vec();
        }
        let mut overrides = SpecOverrides::from(job.overrides);
        overrides.targets = job.targets.map(<[String]>::to_vec);
        Ok(RunSpec {
            suite: plan.suite_path.to_string_lossy().replace('\\', "/"),
            files: RunSpec::bundle(&self.root, &suite)?,
            default_provider: self.default_provider.clone(),
            overrides,
            plan_hash: plan.hash.clone(),
            git_commit: self.git.as_ref().map(|(commit, _)| commit.clone()),
            git_dirty: self.git.as_ref().is_some_and(|(_, dirty)| *dirty),
        })
    }
}

#[async_trait]
impl Executor for ServerExecutor {
    fn planning_backend(&self) -> Arc<dyn Backend> {
        Arc::new(ServerProviders)
    }

    fn runs(&self) -> Arc<dyn RunService> {
        Arc::clone(&self.runs) as Arc<dyn RunService>
    }

    fn on_server(&self) -> bool {
        true
    }

    async fn execute(&self, plan: Plan, job: Job<'_>) -> Result<Executed, SessionError> {
        let spec = self.spec(&plan, &job)?;
        // One key per suite and invocation: a submission retried after a lost answer finds its run.
        let key = crate::remote::queue::fresh_key();
        let run = self.queue.submit(&spec, &key).await?;
        let remote = self.queue.remote();
        job.events.status(&format!(
            "queued {} as run {} on remote `{remote}` ({} result(s)); `promptops runs watch {} --remote {remote}` follows it",
            job.label, run.id, run.draft.total, run.id
        ));
        follow(&self.queue, run, job.label, job.keep_results, job.cancel, job.events).await
    }
}

/// Re-attaches to run `run` of `queue` (`promptops runs watch`): the run once it has ended.
pub async fn attach(
    queue: &RemoteQueue,
    run: u64,
    keep_results: bool,
    cancel: &Cancel,
    events: &dyn SessionEvents,
) -> Result<Executed, SessionError> {
    let record = queue.run(run).await?;
    let label = record.draft.suite.clone();
    follow(queue, record, &label, keep_results, cancel, events).await
}

/// Follows `run` to its end: its report, and its results in plan order when `keep`. Ctrl-C stops
/// following (the run goes on, and is reported as interrupted here).
async fn follow(
    queue: &RemoteQueue,
    run: RunRecord,
    label: &str,
    keep: bool,
    cancel: &Cancel,
    events: &dyn SessionEvents,
) -> Result<Executed, SessionError> {
    let sink = events.progress(label, run.draft.total);
    let mut observer = Observer {
        sink: Arc::clone(&sink),
        report: ReportBuilder::new(run.clone()),
        results: Vec::new(),
        keep,
        stop: None,
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
        () = cancelled(cancel) => None,
    };
    sink.finish();
    let Some(followed) = followed else {
        events.warn(&format!(
            "stopped following run {}: it goes on on the server (`promptops runs watch {}` or `promptops runs cancel {}`)",
            run.id, run.id, run.id
        ));
        let stopped = RunRecord { status: RunStatus::Interrupted, ..run };
        return Ok(Executed {
            report: observer.report.finish_with(stopped.clone()),
            results: Vec::new(),
            stored: stopped,
        });
    };
    let ended = followed?;
    if let Some(stop) = observer.stop {
        let remote = queue.remote().to_owned();
        return Err(SessionError::StoppedOnServer { run: ended.id, remote, message: stop.message, hints: stop.hints });
    }
    let mut results = observer.results;
    results.sort_by_key(|r| r.unit);
    Ok(Executed { report: observer.report.finish_with(ended.clone()), results, stored: ended })
}

async fn cancelled(cancel: &Cancel) {
    while !cancel.is_cancelled() {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Feeds the progress and the report as results arrive.
struct Observer {
    sink: Arc<dyn ProgressSink>,
    report: ReportBuilder,
    results: Vec<ResultRecord>,
    keep: bool,
    stop: Option<RunStop>,
    progress: Progress,
    started: Instant,
}

impl RunObserver for Observer {
    fn result(&mut self, _seq: u64, result: ResultRecord) {
        self.progress.totals.add(&result);
        self.progress.elapsed = self.started.elapsed();
        self.sink.update(&self.progress);
        self.report.add(&result);
        if self.keep {
            self.results.push(result);
        }
    }

    fn progress(&mut self, run: &RunRecord) {
        self.progress.totals = run.totals;
        self.sink.update(&self.progress);
    }

    fn stopped(&mut self, stop: RunStop) {
        self.stop = Some(stop);
    }
}
