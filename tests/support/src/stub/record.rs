//! What the stub remembers about the traffic it saw: every request (when recording is on), a
//! request counter, and a gauge of requests in flight with its high-water mark. Cheap enough to
//! stay on in benchmarks: one mutex push per request, atomics for the counters.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::http::{HeaderMap, Method, Uri};
use bytes::Bytes;
use serde_json::Value;

/// One request as the stub received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// The HTTP method.
    pub method: Method,
    /// The path, e.g. `/v1/chat/completions`.
    pub path: String,
    /// The query string without `?`, if any.
    pub query: Option<String>,
    /// Every request header.
    pub headers: HeaderMap,
    /// The body parsed as JSON, or `None` when it is empty or not JSON.
    pub body: Option<Value>,
    /// The body as received.
    pub raw_body: Bytes,
    /// When the stub started handling it (for asserting on retry spacing).
    pub received_at: Instant,
}

impl RecordedRequest {
    /// The value of header `name` (case-insensitive), if present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// Whether header `name` is present.
    pub fn has_header(&self, name: &str) -> bool {
        self.headers.contains_key(name)
    }

    /// The value of query parameter `name`, if present (not percent-decoded).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query.as_deref()?.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (key == name).then_some(value)
        })
    }

    /// The JSON body, or `Value::Null` when there was none.
    pub fn json(&self) -> &Value {
        self.body.as_ref().unwrap_or(&Value::Null)
    }
}

/// The request log, the request counter and the in-flight gauge of one stub.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    enabled: AtomicBool,
    requests: Mutex<Vec<Entry>>,
    count: AtomicU64,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl Recorder {
    pub(crate) fn new(enabled: bool) -> Self {
        Self { enabled: AtomicBool::new(enabled), ..Self::default() }
    }

    pub(crate) fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Ordering::Relaxed);
    }

    /// Counts the request and marks it in flight until the returned guard is dropped.
    pub(crate) fn enter(self: &Arc<Self>) -> InFlight {
        self.count.fetch_add(1, Ordering::Relaxed);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight { recorder: Arc::clone(self) }
    }

    /// Whether [`Self::record`] would keep anything (so callers can skip building the record).
    pub(crate) fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Keeps the request. Everything here is reference-counted or small, so this is a few
    /// allocations at most; the body is parsed only when a test asks for [`Self::snapshot`].
    pub(crate) fn record(&self, method: Method, uri: Uri, headers: HeaderMap, body: Bytes, received_at: Instant) {
        self.lock().push(Entry { method, uri, headers, body, received_at });
    }

    /// Every recorded request, oldest first.
    pub(crate) fn snapshot(&self) -> Vec<RecordedRequest> {
        let entries = self.lock().clone();
        entries.into_iter().map(Entry::into_recorded).collect()
    }

    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    pub(crate) fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    pub(crate) fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    pub(crate) fn reset_max_in_flight(&self) {
        self.max_in_flight.store(self.in_flight(), Ordering::SeqCst);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Entry>> {
        // A panic while holding the lock cannot leave the Vec half-written, so poison is harmless.
        self.requests.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A request as stored: the body stays raw until a snapshot is taken.
#[derive(Debug, Clone)]
struct Entry {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
    received_at: Instant,
}

impl Entry {
    fn into_recorded(self) -> RecordedRequest {
        RecordedRequest {
            method: self.method,
            path: self.uri.path().to_owned(),
            query: self.uri.query().map(str::to_owned),
            headers: self.headers,
            body: serde_json::from_slice(&self.body).ok(),
            raw_body: self.body,
            received_at: self.received_at,
        }
    }
}

/// Marks one request in flight; dropping it (response finished, or connection dropped) ends it.
#[derive(Debug)]
pub(crate) struct InFlight {
    recorder: Arc<Recorder>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.recorder.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}
