//! [`RemoteRuns`] and [`RemoteExperiments`]: the run and experiment services over a remote's
//! `/runs` and `/experiments` routes. The server answers with the local services' records and
//! reports, so `eval list|show|compare` and `ab list|show` print the same either way; runs and
//! experiments made locally are uploaded with [`RunService::upload`] and
//! [`ExperimentService::record`], and the server numbers them.

use async_trait::async_trait;
use reqwest::Method;

use super::{Client, RemoteError};
use crate::ab::AbError;
use crate::api::RunUpload;
use crate::error::ServiceError;
use crate::eval::EvalError;
use crate::eval::compare::{BASELINE_CANDIDATES, Comparison, pick_baseline};
use crate::eval::report::RunReport;
use crate::service::{ExperimentService, RecordRef, RunService};
use crate::store::{ExperimentDraft, ExperimentRecord, ResultRecord, RunRecord};
use crate::workflow::VersionLookup;

fn service(err: RemoteError) -> ServiceError {
    ServiceError(Box::new(err))
}

/// The path segment of a parsed reference (`latest` or the number).
fn segment(reference: RecordRef) -> String {
    match reference {
        RecordRef::Latest => "latest".to_owned(),
        RecordRef::Number(id) => id.to_string(),
    }
}

/// `?suite=` when one is given.
fn suite_filter(suite: Option<&str>) -> Vec<(&'static str, String)> {
    suite.map(|s| ("suite", s.to_owned())).into_iter().collect()
}

/// A remote's eval runs, read and uploaded as the token's principal.
#[derive(Debug, Clone)]
pub struct RemoteRuns {
    client: Client,
}

impl RemoteRuns {
    /// The runs of `client`'s project.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

#[async_trait]
impl RunService for RemoteRuns {
    async fn runs(&self, suite: Option<&str>, limit: u32) -> Result<Vec<RunRecord>, EvalError> {
        let url = self.client.project_url(&["runs"]);
        Ok(self.client.get_up_to(url, &suite_filter(suite), limit as usize).await.map_err(service)?)
    }

    async fn run(&self, reference: &str) -> Result<RunRecord, EvalError> {
        let parsed = RecordRef::parse(reference).ok_or_else(|| EvalError::BadRunRef { text: reference.to_owned() })?;
        let url = self.client.project_url(&["runs", &segment(parsed)]);
        let report: RunReport = self.client.get(url, &[]).await.map_err(service)?;
        Ok(report.run)
    }

    async fn report(&self, run: RunRecord) -> Result<RunReport, EvalError> {
        let url = self.client.project_url(&["runs", &run.id.to_string()]);
        Ok(self.client.get(url, &[]).await.map_err(service)?)
    }

    async fn results(&self, run: u64, problems_only: bool) -> Result<Vec<ResultRecord>, EvalError> {
        let url = self.client.project_url(&["runs", &run.to_string(), "results"]);
        Ok(self.client.get_all(url, &[("problems_only", problems_only.to_string())]).await.map_err(service)?)
    }

    async fn compare(&self, before: RunRecord, after: RunRecord) -> Result<Comparison, EvalError> {
        let url = self.client.project_url(&["runs", "compare"]);
        let query = [("before", before.id.to_string()), ("after", after.id.to_string())];
        Ok(self.client.get(url, &query).await.map_err(service)?)
    }

    async fn baseline(
        &self,
        suite: &str,
        reference: &str,
        current: u64,
        versions: Option<&dyn VersionLookup>,
    ) -> Result<RunRecord, EvalError> {
        if let Ok(id) = reference.parse::<u64>() {
            let url = self.client.project_url(&["runs", &id.to_string()]);
            return match self.client.get::<RunReport>(url, &[]).await {
                Ok(report) => Ok(report.run),
                Err(RemoteError::Api { status: 404, .. }) => {
                    Err(EvalError::NoBaseline { reference: reference.to_owned(), why: format!("there is no run {id}") })
                }
                Err(err) => Err(service(err).into()),
            };
        }
        let candidates = self.runs(Some(suite), BASELINE_CANDIDATES).await?;
        pick_baseline(candidates, versions, suite, reference, current).await
    }

    async fn upload(&self, upload: RunUpload) -> Result<RunRecord, EvalError> {
        let url = self.client.project_url(&["runs"]);
        Ok(self.client.send(Method::POST, url, Some(&upload)).await.map_err(service)?)
    }
}

/// A remote's A/B experiments, read and recorded as the token's principal.
#[derive(Debug, Clone)]
pub struct RemoteExperiments {
    client: Client,
}

impl RemoteExperiments {
    /// The experiments of `client`'s project.
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl ExperimentService for RemoteExperiments {
    async fn record(&self, draft: ExperimentDraft) -> Result<ExperimentRecord, AbError> {
        let url = self.client.project_url(&["experiments"]);
        Ok(self.client.send(Method::POST, url, Some(&draft)).await.map_err(service)?)
    }

    async fn experiments(&self, suite: Option<&str>, limit: u32) -> Result<Vec<ExperimentRecord>, AbError> {
        let url = self.client.project_url(&["experiments"]);
        Ok(self.client.get_up_to(url, &suite_filter(suite), limit as usize).await.map_err(service)?)
    }

    async fn experiment(&self, reference: &str) -> Result<ExperimentRecord, AbError> {
        let parsed =
            RecordRef::parse(reference).ok_or_else(|| AbError::BadExperimentRef { text: reference.to_owned() })?;
        let url = self.client.project_url(&["experiments", &segment(parsed)]);
        Ok(self.client.get(url, &[]).await.map_err(service)?)
    }
}
