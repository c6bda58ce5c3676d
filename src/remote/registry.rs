//! [`RemoteRegistry`]: [`RegistryService`] over a remote's prompt and label routes. The server
//! runs the local registry behind those routes, so records come back exactly as the local store
//! would give them, and a command prints the same thing either way. The protected-label
//! confirmation is the server's role check (an editor cannot move `production`), not `--yes`.

use async_trait::async_trait;
use reqwest::Method;
use serde::Serialize;
use serde_json::json;

use super::{Client, RemoteError};
use crate::error::ServiceError;
use crate::prompt::{Label, LoadedPrompt, PromptName, Selector};
use crate::registry::sync::{SyncBundle, SyncReport};
use crate::registry::{PromptLog, RegistryError};
use crate::service::RegistryService;
use crate::store::{CommitOutcome, LabelMove, LabelRecord, PromptSummary, VersionRecord};

/// A remote's registry, acting as the token's principal.
#[derive(Debug, Clone)]
pub struct RemoteRegistry {
    client: Client,
    actor: String,
}

fn service(err: RemoteError) -> RegistryError {
    RegistryError::Service(ServiceError(Box::new(err)))
}

impl RemoteRegistry {
    /// The registry of `client`'s project; `actor` is shown as the acting user.
    pub fn new(client: Client, actor: String) -> Self {
        Self { client, actor }
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    async fn post<B: Serialize + ?Sized, T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<&B>,
    ) -> Result<T, RegistryError> {
        self.client.send(method, self.client.project_url(segments), body).await.map_err(service)
    }

    /// Every version (with content) and label of the remote project, for `pull`.
    pub async fn export(&self) -> Result<SyncBundle, RegistryError> {
        let url = self.client.project_url(&["sync"]);
        self.client.get(url, &[]).await.map_err(service)
    }

    /// Sends versions and labels (`push`): the server plans and applies them with the same
    /// rules as a pull, and answers what it did per item.
    pub async fn import(&self, bundle: &SyncBundle) -> Result<SyncReport, RegistryError> {
        self.post(Method::POST, &["sync"], Some(bundle)).await
    }
}

#[async_trait]
impl RegistryService for RemoteRegistry {
    fn actor(&self) -> &str {
        &self.actor
    }

    async fn commit(&self, prompts: &[LoadedPrompt], message: &str) -> Result<Vec<CommitOutcome>, RegistryError> {
        let prompts: Vec<_> = prompts
            .iter()
            .map(|p| json!({"name": p.name, "source": p.source.text(), "partials": p.partials}))
            .collect();
        self.post(Method::POST, &["commits"], Some(&json!({"message": message, "prompts": prompts}))).await
    }

    async fn prompts(&self) -> Result<Vec<PromptSummary>, RegistryError> {
        self.client.get_all(self.client.project_url(&["prompts"]), &[]).await.map_err(service)
    }

    async fn resolve(&self, name: &PromptName, selector: &Selector) -> Result<VersionRecord, RegistryError> {
        let query = match selector {
            Selector::WorkingCopy | Selector::Latest => Vec::new(),
            Selector::Version(n) => vec![("version", n.to_string())],
            Selector::Named(text) => vec![("label", text.clone())],
        };
        self.client.get(self.client.project_url(&["prompts", name.as_str()]), &query).await.map_err(service)
    }

    async fn log(&self, name: &PromptName) -> Result<PromptLog, RegistryError> {
        self.client.get(self.client.project_url(&["prompts", name.as_str(), "log"]), &[]).await.map_err(service)
    }

    async fn labels(&self, name: Option<&PromptName>) -> Result<Vec<LabelRecord>, RegistryError> {
        let query: Vec<_> = name.map(|n| ("name", n.to_string())).into_iter().collect();
        self.client.get_all(self.client.project_url(&["labels"]), &query).await.map_err(service)
    }

    async fn set_label(
        &self,
        name: &PromptName,
        label: &Label,
        version: u32,
        _: bool,
    ) -> Result<LabelMove, RegistryError> {
        let path = ["prompts", name.as_str(), "labels", label.as_str()];
        self.post(Method::PUT, &path, Some(&json!({ "version": version }))).await
    }

    async fn remove_label(&self, name: &PromptName, label: &Label, _: bool) -> Result<LabelMove, RegistryError> {
        self.post::<(), _>(Method::DELETE, &["prompts", name.as_str(), "labels", label.as_str()], None).await
    }

    async fn rollback(
        &self,
        name: &PromptName,
        label: &Label,
        to: Option<u32>,
        _: bool,
    ) -> Result<LabelMove, RegistryError> {
        let path = ["prompts", name.as_str(), "labels", label.as_str(), "rollback"];
        self.post(Method::POST, &path, Some(&json!({ "to": to }))).await
    }
}
