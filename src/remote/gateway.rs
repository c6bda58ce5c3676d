//! [`RemoteGateway`]: a project's provider connections on `promptops serve`, for
//! `provider add|list|rm|set-key --remote`, and its traces and usage as a [`UsageService`], for
//! `traces` and `cost` with `--remote`. Keys go to
//! the server once, over the request, and never come back: listings show their last characters.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::json;

use super::{Client, RemoteError};
use crate::error::ServiceError;
use crate::gateway::{ConnectionSpec, ConnectionView};
use crate::secret::SecretString;
use crate::service::{BudgetLine, UsageService};
use crate::store::{TraceRecord, UsageGroup, UsageRow};

/// The gateway routes of one remote's project.
#[derive(Debug, Clone)]
pub struct RemoteGateway {
    client: Client,
}

impl RemoteGateway {
    /// The gateway of `client`'s project.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// The project's connections.
    pub async fn connections(&self) -> Result<Vec<ConnectionView>, RemoteError> {
        self.client.get(self.client.project_url(&["providers"]), &[]).await
    }

    /// Adds a connection (or, with `replace`, replaces one), with its key if given.
    pub async fn put(
        &self,
        spec: &ConnectionSpec,
        key: Option<&SecretString>,
        replace: bool,
    ) -> Result<ConnectionView, RemoteError> {
        let body = json!({"connection": spec, "api_key": key.map(SecretString::expose)});
        let (method, url) = if replace {
            (Method::PUT, self.client.project_url(&["providers", &spec.id]))
        } else {
            (Method::POST, self.client.project_url(&["providers"]))
        };
        self.client.send(method, url, Some(&body)).await
    }

    /// Removes a connection.
    pub async fn remove(&self, id: &str) -> Result<(), RemoteError> {
        self.client.delete(self.client.project_url(&["providers", id])).await
    }

    /// Sets a connection's key; answers its hint.
    pub async fn set_key(&self, id: &str, key: &SecretString) -> Result<Option<String>, RemoteError> {
        let body = json!({"api_key": key.expose()});
        let answer: serde_json::Value =
            self.client.send(Method::PUT, self.client.project_url(&["providers", id, "key"]), Some(&body)).await?;
        Ok(answer["key"].as_str().map(ToOwned::to_owned))
    }
}

fn service(err: RemoteError) -> ServiceError {
    ServiceError(Box::new(err))
}

#[async_trait]
impl UsageService for RemoteGateway {
    async fn traces(&self, limit: u32) -> Result<Vec<TraceRecord>, ServiceError> {
        self.client.get_up_to(self.client.project_url(&["traces"]), &[], limit as usize).await.map_err(service)
    }

    async fn usage(&self, since: Option<DateTime<Utc>>, by: UsageGroup) -> Result<Vec<UsageRow>, ServiceError> {
        let by = serde_json::to_value(by).ok().and_then(|v| v.as_str().map(ToOwned::to_owned)).unwrap_or_default();
        let mut query = vec![("by", by)];
        query.extend(since.map(|s| ("since", s.to_rfc3339())));
        self.client.get(self.client.project_url(&["usage"]), &query).await.map_err(service)
    }

    /// None: a server's budgets are its gateway settings, enforced there; `promptops.yaml`'s
    /// budgets are the local runs'.
    async fn budget_lines(&self, _now: DateTime<Utc>) -> Result<Vec<BudgetLine>, ServiceError> {
        Ok(Vec::new())
    }
}
