//! [`RemoteQueue`]: runs on a remote's workers. A submission carries an `Idempotency-Key` and is
//! retried with it when the connection fails, so a retry never queues (or pays for) a second
//! run; a run's events are followed over SSE and the stream is resumed after the last event seen
//! whenever it breaks, so every result arrives exactly once.

use std::time::Duration;

use futures::StreamExt;
use reqwest::Method;

use super::{Client, RemoteError};
use crate::api::{RunEvent, RunStop};
use crate::provider::SseParser;
use crate::runs::RunSpec;
use crate::store::{ResultRecord, RunRecord};

/// Attempts at a submission or a stream before its error is the answer.
const ATTEMPTS: u32 = 5;
/// A stream that says nothing for this long (the server sends a keep-alive every 15 s) is dead.
const SILENCE: Duration = Duration::from_secs(45);
/// How long a stream may stay open before it is resumed on a fresh connection.
const STREAM_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// What a followed run reports as it goes.
pub trait RunObserver: Send {
    /// A result, in the order the server wrote them.
    fn result(&mut self, seq: u64, result: ResultRecord);
    /// The run's totals after a batch of results.
    fn progress(&mut self, run: &RunRecord);
    /// A worker stopped the run: every later call would have failed the same way.
    fn stopped(&mut self, stop: RunStop);
}

/// A fresh idempotency key: one per submission the user makes (its retries reuse it).
pub fn fresh_key() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A remote's run queue.
#[derive(Debug, Clone)]
pub struct RemoteQueue {
    client: Client,
}

impl RemoteQueue {
    /// The queue of `client`'s project.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// The remote's name.
    pub fn remote(&self) -> &str {
        &self.client.remote().name
    }

    /// Queues `spec` under `key`: the run, and whether this call made it (a retry of an earlier
    /// submission with the same key gets that run back instead).
    pub async fn submit(&self, spec: &RunSpec, key: &str) -> Result<RunRecord, RemoteError> {
        let url = self.client.project_url(&["runs", "queue"]);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let request = self.client.authorized(Method::POST, url.clone()).header("Idempotency-Key", key).json(spec);
            match self.client.answer(request, &url).await {
                Ok(response) => return decode(response, &url, &self.client).await,
                Err(RemoteError::Unreachable { .. }) if attempt < ATTEMPTS => backoff(attempt).await,
                Err(err) => return Err(err),
            }
        }
    }

    /// Run `run` as it stands.
    pub async fn run(&self, run: u64) -> Result<RunRecord, RemoteError> {
        let url = self.client.project_url(&["runs", &run.to_string()]);
        let report: crate::eval::report::RunReport = self.client.get(url, &[]).await?;
        Ok(report.run)
    }

    /// Cancels run `run`.
    pub async fn cancel(&self, run: u64) -> Result<RunRecord, RemoteError> {
        let url = self.client.project_url(&["runs", &run.to_string(), "cancel"]);
        self.client.send::<(), RunRecord>(Method::POST, url, None).await
    }

    /// Follows run `run` from after result `after` until it ends; returns it as it ended. A
    /// broken stream is resumed where it stopped.
    pub async fn follow(
        &self,
        run: u64,
        mut after: u64,
        observer: &mut dyn RunObserver,
    ) -> Result<RunRecord, RemoteError> {
        let url = self.client.project_url(&["runs", &run.to_string(), "events"]);
        let mut failures = 0;
        loop {
            let request = self
                .client
                .authorized(Method::GET, url.clone())
                .header("Accept", "text/event-stream")
                .header("Last-Event-ID", after.to_string())
                .timeout(STREAM_LIFETIME);
            let outcome = match self.client.answer(request, &url).await {
                Ok(response) => read_stream(response, &mut after, observer).await,
                Err(err @ RemoteError::Unreachable { .. }) => Err(Some(err)),
                Err(err) => return Err(err),
            };
            match outcome {
                Ok(done) => return Ok(done),
                // Progress was made: the connection broke, not the server; start counting again.
                Err(None) => failures = 0,
                Err(Some(err)) if failures + 1 >= ATTEMPTS => return Err(err),
                Err(Some(_)) => {
                    failures += 1;
                    backoff(failures).await;
                }
            }
        }
    }
}

/// Reads one connection's events: the run when `done` arrives, else `Err(None)` when the stream
/// ended or broke after some progress, `Err(Some(..))` when it broke before any.
async fn read_stream(
    response: reqwest::Response,
    after: &mut u64,
    observer: &mut dyn RunObserver,
) -> Result<RunRecord, Option<RemoteError>> {
    let start = *after;
    let mut parser = SseParser::default();
    let mut body = response.bytes_stream();
    loop {
        let chunk = match tokio::time::timeout(SILENCE, body.next()).await {
            Ok(Some(Ok(chunk))) => chunk,
            _ => return Err((*after == start).then(silent)),
        };
        for event in parser.push(&chunk) {
            let data: RunEvent = match serde_json::from_str(&event.data) {
                Ok(data) => data,
                Err(_) => continue,
            };
            match (event.event.as_deref(), data) {
                (Some("result"), RunEvent::Result(result)) => {
                    let seq = event.id.as_deref().and_then(|id| id.parse().ok()).unwrap_or(*after + 1);
                    if seq > *after {
                        *after = seq;
                        observer.result(seq, *result);
                    }
                }
                (Some("progress"), RunEvent::Run(run)) => observer.progress(&run),
                (Some("stopped"), RunEvent::Stopped(stop)) => observer.stopped(stop),
                (Some("done"), RunEvent::Run(run)) => return Ok(*run),
                _ => {}
            }
        }
    }
}

/// The error of a stream that broke before it carried anything.
fn silent() -> RemoteError {
    RemoteError::Stream { message: format!("the run's event stream stopped (nothing for {}s)", SILENCE.as_secs()) }
}

async fn decode(response: reqwest::Response, url: &reqwest::Url, client: &Client) -> Result<RunRecord, RemoteError> {
    response.json().await.map_err(|source| RemoteError::Decode {
        remote: client.remote().name.clone(),
        url: url.to_string(),
        source,
    })
}

/// 0.5 s, 1 s, 2 s, … between attempts.
async fn backoff(attempt: u32) {
    tokio::time::sleep(Duration::from_millis(250 << attempt.min(6))).await;
}
