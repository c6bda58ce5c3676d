//! [`Client`]: authenticated JSON calls to one remote's `/api/v1`, with timeouts, paging
//! (`next_cursor`) and the server's error shape turned into [`RemoteError`]. Prompt names go in
//! one percent-encoded path segment (`support%2Ftriage`), as the server expects.

use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::RemoteError;
use super::settings::Remote;
use crate::secret::SecretString;

/// How long to wait for a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a whole request may take (a push of thousands of versions included).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Page size asked for when listing everything.
const PAGE_SIZE: u32 = 500;

/// A client of one remote, acting with one token.
#[derive(Clone)]
pub struct Client {
    remote: Remote,
    token: SecretString,
    http: reqwest::Client,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("remote", &self.remote).field("token", &self.token).finish_non_exhaustive()
    }
}

/// One page of a list, as every list route answers.
#[derive(Debug, serde::Deserialize)]
struct Page<T> {
    items: Vec<T>,
    #[serde(default)]
    next_cursor: Option<String>,
}

/// The error body every failure is answered with.
#[derive(Debug, serde::Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Debug, serde::Deserialize)]
struct ErrorDetail {
    code: String,
    message: String,
    #[serde(default)]
    hint: Option<String>,
}

impl Client {
    /// A client of `remote` using `token`.
    pub fn new(remote: Remote, token: SecretString) -> Result<Self, RemoteError> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("promptops/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|source| RemoteError::Unreachable {
                remote: remote.name.clone(),
                url: remote.url.to_string(),
                source,
            })?;
        Ok(Self { remote, token, http })
    }

    /// The remote this client talks to.
    pub fn remote(&self) -> &Remote {
        &self.remote
    }

    /// `{base}/api/v1/{segments…}`, each segment percent-encoded (a `/` inside one included).
    pub fn api_url(&self, segments: &[&str]) -> Url {
        let mut url = self.remote.url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(["api", "v1"]).extend(segments);
        }
        url
    }

    /// `{base}/api/v1/projects/{project}/{segments…}`.
    pub fn project_url(&self, segments: &[&str]) -> Url {
        let mut all = vec!["projects", self.remote.project.as_str()];
        all.extend_from_slice(segments);
        self.api_url(&all)
    }

    /// Checks that the token is accepted and reaches the project (`login`).
    pub async fn verify(&self) -> Result<(), RemoteError> {
        self.get::<serde_json::Value>(self.project_url(&[]), &[]).await.map(drop)
    }

    /// `GET url?query` as JSON.
    pub async fn get<T: DeserializeOwned>(&self, url: Url, query: &[(&str, String)]) -> Result<T, RemoteError> {
        let request = self.http.get(url.clone()).query(query);
        self.call(request, &url).await
    }

    /// Every item of a paged list, following `next_cursor`.
    pub async fn get_all<T: DeserializeOwned>(
        &self,
        url: Url,
        query: &[(&str, String)],
    ) -> Result<Vec<T>, RemoteError> {
        self.get_up_to(url, query, usize::MAX).await
    }

    /// The first `max` items of a paged list (all of them when there are fewer).
    pub async fn get_up_to<T: DeserializeOwned>(
        &self,
        url: Url,
        query: &[(&str, String)],
        max: usize,
    ) -> Result<Vec<T>, RemoteError> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        while items.len() < max {
            let size = (max - items.len()).min(PAGE_SIZE as usize);
            let mut params = query.to_vec();
            params.push(("limit", size.to_string()));
            params.extend(cursor.take().map(|c| ("cursor", c)));
            let page: Page<T> = self.get(url.clone(), &params).await?;
            items.extend(page.items);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        items.truncate(max);
        Ok(items)
    }

    /// A request with a JSON body (or none), answered with JSON.
    pub async fn send<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<&B>,
    ) -> Result<T, RemoteError> {
        let mut request = self.http.request(method, url.clone());
        if let Some(body) = body {
            request = request.json(body);
        }
        self.call(request, &url).await
    }

    /// `DELETE url`, answered with no content.
    pub async fn delete(&self, url: Url) -> Result<(), RemoteError> {
        let request = self.http.delete(url.clone()).bearer_auth(self.token.expose());
        let response = request.send().await.map_err(|source| RemoteError::Unreachable {
            remote: self.remote.name.clone(),
            url: url.to_string(),
            source,
        })?;
        self.check(response).await.map(drop)
    }

    /// A request carrying the token, for callers that read the answer themselves (a stream).
    pub(crate) fn authorized(&self, method: Method, url: Url) -> RequestBuilder {
        self.http.request(method, url).bearer_auth(self.token.expose())
    }

    /// Sends `request` (to `url`) and returns the answer when it is a success, else its error.
    pub(crate) async fn answer(&self, request: RequestBuilder, url: &Url) -> Result<Response, RemoteError> {
        let response = request.send().await.map_err(|source| RemoteError::Unreachable {
            remote: self.remote.name.clone(),
            url: url.to_string(),
            source,
        })?;
        self.check(response).await
    }

    async fn call<T: DeserializeOwned>(&self, request: RequestBuilder, url: &Url) -> Result<T, RemoteError> {
        let response = request.bearer_auth(self.token.expose()).send().await.map_err(|source| {
            RemoteError::Unreachable { remote: self.remote.name.clone(), url: url.to_string(), source }
        })?;
        let response = self.check(response).await?;
        response.json().await.map_err(|source| RemoteError::Decode {
            remote: self.remote.name.clone(),
            url: url.to_string(),
            source,
        })
    }

    async fn check(&self, response: Response) -> Result<Response, RemoteError> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let text = response.text().await.unwrap_or_default();
        let detail = serde_json::from_str::<ErrorBody>(&text).map(|b| b.error).unwrap_or_else(|_| ErrorDetail {
            code: format!("http_{}", status.as_u16()),
            message: status.canonical_reason().unwrap_or("error").to_lowercase(),
            hint: None,
        });
        let remote = self.remote.name.clone();
        Err(match status {
            StatusCode::UNAUTHORIZED => RemoteError::Unauthenticated { remote, message: detail.message },
            StatusCode::FORBIDDEN => RemoteError::Forbidden { remote, message: detail.message, hint: detail.hint },
            _ => RemoteError::Api {
                remote,
                status: status.as_u16(),
                code: detail.code,
                message: detail.message,
                hint: detail.hint,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_names_travel_as_one_encoded_segment() {
        let remote = Remote {
            name: "prod".to_owned(),
            url: Url::parse("http://127.0.0.1:9/base/").expect("url"),
            project: "support".to_owned(),
        };
        let client = Client::new(remote, SecretString::new("pot_x")).expect("client");
        assert_eq!(
            client.project_url(&["prompts", "support/triage", "log"]).as_str(),
            "http://127.0.0.1:9/base/api/v1/projects/support/prompts/support%2Ftriage/log"
        );
    }
}
