//! An LLM provider stub: a real HTTP server on `127.0.0.1:<free port>` that speaks the
//! OpenAI-compatible, Azure OpenAI and Anthropic Messages wire formats, so provider, eval,
//! workflow and CLI tests (and benchmarks) run against a socket and never the internet.
//!
//! It owns the wire formats, scripted behaviour (replies, latency, faults, auth) and the record
//! of what clients sent. It knows nothing of promptops: tests assert with what it records.
//!
//! | route | wire |
//! |---|---|
//! | `POST /v1/chat/completions` | OpenAI chat, JSON or SSE (`"stream": true`) |
//! | `POST /v1/embeddings` | OpenAI embeddings ([`embed`]: hashed bag of words) |
//! | `POST /openai/deployments/{deployment}/chat/completions?api-version=…` | Azure chat |
//! | `POST /openai/deployments/{deployment}/embeddings?api-version=…` | Azure embeddings |
//! | `POST /v1/messages` | Anthropic Messages, JSON or SSE |
//!
//! Anything else is recorded and answered 404.
//!
//! **Tokens** are counted by [`count_tokens`]: one per started group of four characters, summed
//! over the system prompt and each message, plus [`IMAGE_TOKENS`] per image part. The reply is
//! cut at `max_tokens` (four characters a token), with `finish_reason: length` /
//! `stop_reason: max_tokens`.
//!
//! **Order of checks** for a model request: record it; check the key (401, then the 403
//! switch); validate (400: bad JSON, missing `model`/`messages`, Anthropic's missing
//! `anthropic-version` or `max_tokens`, Azure's missing `api-version`); pop the next [`Fault`];
//! wait the latency (chat only); reply.
//!
//! ```no_run
//! # async fn example() {
//! use promptops_test_support::stub::{Fault, Stub, StubConfig};
//!
//! let stub = Stub::start(StubConfig::new().reply("hello").fault(Fault::rate_limited(1))).await;
//! let base = stub.openai_base(); // http://127.0.0.1:PORT/v1
//! // … run the client against `base`: the first call gets 429, the retry gets "hello" …
//! assert_eq!(stub.requests().len(), 2);
//! # }
//! ```

mod anthropic;
mod completion;
mod config;
mod embed;
mod openai;
mod record;
mod request;
mod server;

use std::future::IntoFuture as _;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

pub use config::{DEFAULT_EMBEDDING_DIMENSIONS, DEFAULT_REPLY, Fault, StubConfig};
pub use embed::{cosine, embed};
pub use record::RecordedRequest;
pub use request::{CHARS_PER_TOKEN, ChatMessage, ChatRequest, IMAGE_TOKENS, Wire, count_tokens};

use server::Shared;

/// How long shutdown waits for in-flight responses before dropping them (a pending
/// [`Fault::Slow`] would otherwise hold the stub open).
pub const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

/// The view of a running stub that tests use: its addresses, its record, and live changes to its
/// behaviour. Cheap to clone; [`Stub`] and [`BlockingStub`] dereference to it.
#[derive(Debug, Clone)]
pub struct StubHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl StubHandle {
    /// The socket address the stub listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL, `http://127.0.0.1:PORT` (also the Anthropic and Azure base URL).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The OpenAI-compatible base URL, `http://127.0.0.1:PORT/v1`.
    pub fn openai_base(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Every request recorded so far, oldest first (empty when recording is off).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.recorder.snapshot()
    }

    /// Recorded requests to `path` (e.g. `/v1/chat/completions`), oldest first.
    pub fn requests_to(&self, path: &str) -> Vec<RecordedRequest> {
        self.requests().into_iter().filter(|request| request.path == path).collect()
    }

    /// How many requests arrived, recorded or not.
    pub fn request_count(&self) -> u64 {
        self.shared.recorder.count()
    }

    /// Forgets the recorded requests (the counter keeps counting).
    pub fn clear_requests(&self) {
        self.shared.recorder.clear();
    }

    /// Requests being handled right now (a stream counts until its last event is sent).
    pub fn in_flight(&self) -> usize {
        self.shared.recorder.in_flight()
    }

    /// The most requests that were ever in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.shared.recorder.max_in_flight()
    }

    /// Restarts the high-water mark from the current in-flight count.
    pub fn reset_max_in_flight(&self) {
        self.shared.recorder.reset_max_in_flight();
    }

    /// Changes the behaviour while running, with the same builder methods as at start:
    /// `stub.reconfigure(|config| config.reply("now this").latency(Duration::ZERO))`.
    /// Requests already past their fault and reply choice are not affected. The closure runs
    /// under the configuration lock, so it must not call back into the stub.
    pub fn reconfigure(&self, change: impl FnOnce(StubConfig) -> StubConfig) {
        let mut config = self.shared.config();
        let changed = change(std::mem::take(&mut *config));
        self.shared.recorder.set_enabled(changed.record);
        *config = changed;
    }

    /// Queues a fault behind those already queued.
    pub fn push_fault(&self, fault: Fault) {
        self.shared.config().faults.push_back(fault);
    }

    /// How many queued faults are still to be served.
    pub fn pending_faults(&self) -> usize {
        self.shared.config().faults.len()
    }
}

/// A running stub on the caller's tokio runtime. Dropping it starts a graceful shutdown
/// (in-flight responses get [`SHUTDOWN_GRACE`] to finish); [`Stub::shutdown`] also waits for it.
#[derive(Debug)]
pub struct Stub {
    handle: StubHandle,
    stop: watch::Sender<()>,
    task: JoinHandle<()>,
}

impl Stub {
    /// Starts a stub on `127.0.0.1` at a free port.
    ///
    /// # Panics
    ///
    /// When no loopback port can be bound, which leaves the test nothing to run against.
    pub async fn start(config: StubConfig) -> Self {
        Self::try_start(config).await.unwrap_or_else(|error| panic!("stub: cannot listen on 127.0.0.1: {error}"))
    }

    /// Starts a stub, returning the bind error instead of panicking.
    pub async fn try_start(config: StubConfig) -> io::Result<Self> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(config));
        let (stop, stopped) = watch::channel(());
        let task = tokio::spawn(serve(listener, server::router(Arc::clone(&shared)), stopped));
        Ok(Self { handle: StubHandle { addr, shared }, stop, task })
    }

    /// Starts a stub on its own runtime thread, for tests that are not async (CLI tests that
    /// spawn the real binary and only need a URL).
    ///
    /// # Panics
    ///
    /// When the runtime or the listener cannot be created.
    pub fn start_blocking(config: StubConfig) -> BlockingStub {
        BlockingStub::start(config)
    }

    /// A handle that outlives borrows of the stub (for moving into tasks or reply functions).
    pub fn handle(&self) -> StubHandle {
        self.handle.clone()
    }

    /// Stops accepting connections and waits for in-flight responses (at most [`SHUTDOWN_GRACE`]).
    pub async fn shutdown(self) {
        let Self { handle: _, stop, task } = self;
        drop(stop);
        // A panicked or cancelled server task has nothing left to wait for.
        let _ = task.await;
    }
}

impl std::ops::Deref for Stub {
    type Target = StubHandle;

    fn deref(&self) -> &StubHandle {
        &self.handle
    }
}

/// Serves until every `stop` sender is gone, then shuts down gracefully within the grace period.
async fn serve(listener: tokio::net::TcpListener, router: axum::Router, stopped: watch::Receiver<()>) {
    let mut graceful = stopped.clone();
    let mut deadline = stopped;
    let server =
        axum::serve(listener, router).with_graceful_shutdown(async move { while graceful.changed().await.is_ok() {} });
    let grace_over = async move {
        while deadline.changed().await.is_ok() {}
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        // A serve error ends the stub the same way a shutdown does: tests see refused connections.
        _ = server.into_future() => {}
        () = grace_over => {}
    }
}

/// A stub running on a runtime thread of its own; usable from plain `#[test]`s. Dropping it
/// shuts the stub down and joins the thread.
#[derive(Debug)]
pub struct BlockingStub {
    handle: StubHandle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl BlockingStub {
    fn start(config: StubConfig) -> Self {
        let (ready, started) = std::sync::mpsc::channel();
        let (stop, stopped) = oneshot::channel();
        let thread = thread::Builder::new()
            .name("promptops-stub".to_owned())
            .spawn(move || run_blocking(config, &ready, stopped))
            .unwrap_or_else(|error| panic!("stub: cannot spawn its thread: {error}"));
        let handle = match started.recv() {
            Ok(Ok(handle)) => handle,
            Ok(Err(error)) => panic!("stub: cannot start: {error}"),
            Err(_) => panic!("stub: its thread ended before starting"),
        };
        Self { handle, stop: Some(stop), thread: Some(thread) }
    }
}

/// The body of a blocking stub's thread: a current-thread runtime serving until told to stop.
fn run_blocking(
    config: StubConfig,
    ready: &std::sync::mpsc::Sender<io::Result<StubHandle>>,
    stopped: oneshot::Receiver<()>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            let _ = ready.send(Err(error));
            return;
        }
    };
    runtime.block_on(async move {
        match Stub::try_start(config).await {
            Ok(stub) => {
                let _ = ready.send(Ok(stub.handle()));
                // Either a stop message or the sender's drop means stop.
                let _ = stopped.await;
                stub.shutdown().await;
            }
            Err(error) => {
                let _ = ready.send(Err(error));
            }
        }
    });
}

impl std::ops::Deref for BlockingStub {
    type Target = StubHandle;

    fn deref(&self) -> &StubHandle {
        &self.handle
    }
}

impl Drop for BlockingStub {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            // A panic on the stub thread was already printed; re-raising it in drop would abort.
            let _ = thread.join();
        }
    }
}
