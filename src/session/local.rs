//! [`LocalExecutor`]: runs are made in this process through the project's provider layers and
//! recorded in the local store; with a remote, each is then uploaded with its results (the local
//! copy stays, so a failed upload loses nothing).

use std::sync::Arc;

use async_trait::async_trait;

use super::{Executed, Executor, Job, SessionError};
use crate::api::RunUpload;
use crate::eval::backend::Backend;
use crate::eval::report::{build, for_each_result};
use crate::eval::{OnProgress, Plan, RunSettings, Runner};
use crate::service::{LocalRuns, RunService};
use crate::store::{ResultRecord, RunRecord, Scope, Store};

/// Runs here.
pub struct LocalExecutor {
    runner: Runner,
    store: Arc<dyn Store>,
    scope: Scope,
    actor: String,
    git: Option<(String, bool)>,
    backend: Arc<dyn Backend>,
    runs: Arc<dyn RunService>,
    /// The remote runs are uploaded to, when they are.
    upload: Option<String>,
}

impl std::fmt::Debug for LocalExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalExecutor")
            .field("scope", &self.scope)
            .field("upload", &self.upload)
            .finish_non_exhaustive()
    }
}

impl LocalExecutor {
    /// Runs through `backend`, recorded in `store` under `scope` by `actor` at git commit `git`.
    pub fn new(
        store: Arc<dyn Store>,
        scope: Scope,
        actor: String,
        git: Option<(String, bool)>,
        backend: Arc<dyn Backend>,
    ) -> Self {
        let runner = Runner::new(Arc::clone(&store), scope.clone(), Arc::clone(&backend));
        let runs = Arc::new(LocalRuns::new(Arc::clone(&store), scope.clone()));
        Self { runner, store, scope, actor, git, backend, runs, upload: None }
    }

    /// Uploads every run to remote `remote`, whose runs `runs` reads.
    pub fn uploading_to(self, remote: String, runs: Arc<dyn RunService>) -> Self {
        Self { runs, upload: Some(remote), ..self }
    }

    async fn upload(&self, remote: &str, run: &RunRecord, results: &[ResultRecord]) -> Result<RunRecord, SessionError> {
        let upload = RunUpload { run: run.clone(), results: results.to_vec() };
        self.runs.upload(upload).await.map_err(|source| SessionError::Upload {
            run: run.id,
            suite: run.draft.suite.clone(),
            remote: remote.to_owned(),
            source: Box::new(source),
        })
    }
}

#[async_trait]
impl Executor for LocalExecutor {
    fn planning_backend(&self) -> Arc<dyn Backend> {
        Arc::clone(&self.backend)
    }

    fn runs(&self) -> Arc<dyn RunService> {
        Arc::clone(&self.runs)
    }

    fn on_server(&self) -> bool {
        false
    }

    async fn execute(&self, plan: Plan, job: Job<'_>) -> Result<Executed, SessionError> {
        let sink = job.events.progress(job.label, plan.total());
        let on_progress: OnProgress = {
            let sink = Arc::clone(&sink);
            Arc::new(move |p| sink.update(p))
        };
        let settings = RunSettings {
            concurrency: job.concurrency,
            actor: self.actor.clone(),
            git: self.git.clone(),
            on_progress: Some(on_progress),
            cancel: job.cancel.clone(),
        };
        job.events.detail(&format!("{}: {} result(s), concurrency {}", plan.suite, plan.total(), job.concurrency));
        let plan = Arc::new(plan);
        // A new run's report is built as its results stream by; a resumed one's holds earlier
        // results too, so it is read back from the store in one pass.
        let report = match job.resumed {
            Some(run) => match self.runner.resume(plan, run, &settings).await {
                Ok(run) => build(&self.store, &self.scope, run).await.map_err(crate::eval::EvalError::from),
                Err(err) => Err(err),
            },
            None => self.runner.run_with_report(plan, &settings).await,
        };
        sink.finish();
        let report = report?;
        let mut results = Vec::new();
        if job.keep_results || self.upload.is_some() {
            for_each_result(&self.store, &self.scope, report.run.id, false, |r| results.push(r.clone()))
                .await
                .map_err(crate::eval::EvalError::from)?;
        }
        let stored = match &self.upload {
            Some(remote) => {
                let stored = self.upload(remote, &report.run, &results).await?;
                job.events.status(&format!(
                    "uploaded run {} ({}) to remote `{remote}` as run {}: `promptops eval show {} --remote {remote}`",
                    report.run.id, report.run.draft.suite, stored.id, stored.id
                ));
                stored
            }
            None => report.run.clone(),
        };
        Ok(Executed { report, results, stored })
    }
}
