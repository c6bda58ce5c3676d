//! The stub's behaviour as data: [`StubConfig`], built with chained methods before start and
//! changed while running through [`StubHandle::reconfigure`](super::StubHandle::reconfigure).
//! Owns reply selection (fixed text, rules, echo, functions), latency, the fault queue, auth
//! settings and the knobs of usage and headers. It does not speak HTTP; `server` does.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use regex::Regex;

use super::request::ChatRequest;

/// The reply of a stub that was told nothing else.
pub const DEFAULT_REPLY: &str = "stub reply";

/// The default size of embedding vectors (a request's `dimensions` overrides it).
pub const DEFAULT_EMBEDDING_DIMENSIONS: usize = 64;

/// A scripted failure, consumed in order (one per model request) before normal replies.
///
/// Faults apply to any model endpoint (chat completions, messages, embeddings), after auth and
/// request validation succeed, so a rejected request never consumes one. Error bodies take the
/// shape of the request's provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 429 Too Many Requests, with `Retry-After: <seconds>` when given.
    RateLimited {
        /// The `Retry-After` header value in whole seconds; `None` sends no header.
        retry_after_secs: Option<u64>,
    },
    /// 500 Internal Server Error.
    ServerError,
    /// 503 Service Unavailable.
    Unavailable,
    /// Any status with the provider's error body (e.g. 403, 529); a code outside 100..=999
    /// gives 500.
    Status(u16),
    /// 200 with a body that is not valid JSON (for streaming requests: an SSE event whose data is
    /// not valid JSON, then the normal end of stream).
    MalformedJson,
    /// The connection is closed after this many SSE events, so no `[DONE]` / `message_stop`
    /// arrives (the count is capped to leave the end missing). A non-streaming request gets half
    /// of its JSON body before the close.
    TruncatedStream {
        /// How many whole events the client receives before the close.
        after_events: usize,
    },
    /// Waits this long before answering normally: longer than a client's timeout, it is a timeout.
    Slow(Duration),
}

impl Fault {
    /// A 429 with `Retry-After: secs`.
    pub fn rate_limited(secs: u64) -> Self {
        Self::RateLimited { retry_after_secs: Some(secs) }
    }

    /// A stream closed after `events` events.
    pub fn truncated_after(events: usize) -> Self {
        Self::TruncatedStream { after_events: events }
    }
}

/// A closure computing a reply from the request.
#[derive(Clone)]
pub(crate) struct ReplyFn(pub Arc<dyn Fn(&ChatRequest) -> String + Send + Sync>);

impl fmt::Debug for ReplyFn {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("ReplyFn(..)")
    }
}

/// A closure computing a latency from the request.
#[derive(Clone)]
pub(crate) struct LatencyFn(pub Arc<dyn Fn(&ChatRequest) -> Duration + Send + Sync>);

impl fmt::Debug for LatencyFn {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("LatencyFn(..)")
    }
}

/// Where a reply comes from when no rule matched.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    Fixed(Arc<str>),
    /// The last user message, verbatim.
    Echo,
    Function(ReplyFn),
}

#[derive(Debug, Clone)]
enum Matcher {
    Contains(String),
    Regex(Regex),
}

#[derive(Debug, Clone)]
struct Rule {
    matcher: Matcher,
    reply: Arc<str>,
}

/// Rules first (in the order added; the first match wins), then the default reply.
#[derive(Debug, Clone)]
pub(crate) struct Responder {
    rules: Vec<Rule>,
    default: Reply,
}

impl Responder {
    /// The reply text for `request`.
    pub(crate) fn reply(&self, request: &ChatRequest) -> String {
        let last = request.last_user_text();
        let matched = self.rules.iter().find(|rule| match &rule.matcher {
            Matcher::Contains(needle) => last.contains(needle.as_str()),
            Matcher::Regex(regex) => regex.is_match(last),
        });
        if let Some(rule) = matched {
            return rule.reply.to_string();
        }
        match &self.default {
            Reply::Fixed(text) => text.to_string(),
            Reply::Echo => last.to_owned(),
            Reply::Function(function) => (function.0)(request),
        }
    }
}

/// How long a successful reply waits before its first byte.
#[derive(Debug, Clone, Default)]
pub(crate) enum Latency {
    #[default]
    None,
    Fixed(Duration),
    Function(LatencyFn),
}

impl Latency {
    pub(crate) fn for_request(&self, request: &ChatRequest) -> Duration {
        match self {
            Self::None => Duration::ZERO,
            Self::Fixed(latency) => *latency,
            Self::Function(function) => (function.0)(request),
        }
    }
}

/// Values of the rate-limit headers sent with every successful reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RateLimitHeaders {
    pub requests: u64,
    pub tokens: u64,
}

/// The behaviour of a stub. Build it with chained methods:
///
/// ```
/// use std::time::Duration;
/// use promptops_test_support::stub::{Fault, StubConfig};
///
/// let config = StubConfig::new()
///     .reply("fallback answer")
///     .when_contains("capital of France", "Paris")
///     .latency(Duration::from_millis(20))
///     .fault(Fault::rate_limited(1))
///     .require_api_key("sk-test");
/// ```
#[derive(Debug, Clone)]
pub struct StubConfig {
    pub(crate) responder: Arc<Responder>,
    pub(crate) latency: Latency,
    pub(crate) chunk_delay: Duration,
    pub(crate) faults: VecDeque<Fault>,
    pub(crate) api_key: Option<String>,
    pub(crate) forbidden: bool,
    pub(crate) rate_limit: Option<RateLimitHeaders>,
    pub(crate) cached_tokens: u64,
    pub(crate) record: bool,
    pub(crate) embedding_dimensions: usize,
}

impl Default for StubConfig {
    fn default() -> Self {
        Self {
            responder: Arc::new(Responder { rules: Vec::new(), default: Reply::Fixed(Arc::from(DEFAULT_REPLY)) }),
            latency: Latency::None,
            chunk_delay: Duration::ZERO,
            faults: VecDeque::new(),
            api_key: None,
            forbidden: false,
            rate_limit: None,
            cached_tokens: 0,
            record: true,
            embedding_dimensions: DEFAULT_EMBEDDING_DIMENSIONS,
        }
    }
}

impl StubConfig {
    /// A stub that answers [`DEFAULT_REPLY`] at once, records requests and requires no key.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replies `text` when no rule matches.
    pub fn reply(mut self, text: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.responder).default = Reply::Fixed(Arc::from(text.into()));
        self
    }

    /// Replies with the text of the last user message when no rule matches.
    pub fn echo(mut self) -> Self {
        Arc::make_mut(&mut self.responder).default = Reply::Echo;
        self
    }

    /// Replies with `function(request)` when no rule matches. It runs on the server's task, so it
    /// must not block for long.
    pub fn reply_fn(mut self, function: impl Fn(&ChatRequest) -> String + Send + Sync + 'static) -> Self {
        Arc::make_mut(&mut self.responder).default = Reply::Function(ReplyFn(Arc::new(function)));
        self
    }

    /// Replies `reply` when the last user message contains `needle`. Rules are tried in the order
    /// they were added, before the default reply.
    pub fn when_contains(self, needle: impl Into<String>, reply: impl Into<String>) -> Self {
        self.rule(Matcher::Contains(needle.into()), reply.into())
    }

    /// Replies `reply` when the last user message matches the regular expression `pattern`.
    ///
    /// # Panics
    ///
    /// When `pattern` is not a valid regular expression: a mistake in the test itself.
    pub fn when_matches(self, pattern: &str, reply: impl Into<String>) -> Self {
        let regex = Regex::new(pattern).unwrap_or_else(|error| panic!("stub rule `{pattern}`: {error}"));
        self.rule(Matcher::Regex(regex), reply.into())
    }

    fn rule(mut self, matcher: Matcher, reply: String) -> Self {
        Arc::make_mut(&mut self.responder).rules.push(Rule { matcher, reply: Arc::from(reply) });
        self
    }

    /// Removes every reply rule (the default reply stays).
    pub fn clear_rules(mut self) -> Self {
        Arc::make_mut(&mut self.responder).rules.clear();
        self
    }

    /// Waits `latency` before each successful reply (before its first byte when streaming).
    /// Faults answer at once.
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = if latency.is_zero() { Latency::None } else { Latency::Fixed(latency) };
        self
    }

    /// Waits `function(request)` before each successful reply.
    pub fn latency_fn(mut self, function: impl Fn(&ChatRequest) -> Duration + Send + Sync + 'static) -> Self {
        self.latency = Latency::Function(LatencyFn(Arc::new(function)));
        self
    }

    /// Waits `delay` between streamed events.
    pub fn chunk_delay(mut self, delay: Duration) -> Self {
        self.chunk_delay = delay;
        self
    }

    /// Queues a fault behind those already queued.
    pub fn fault(mut self, fault: Fault) -> Self {
        self.faults.push_back(fault);
        self
    }

    /// Queues several faults, in order.
    pub fn faults(mut self, faults: impl IntoIterator<Item = Fault>) -> Self {
        self.faults.extend(faults);
        self
    }

    /// Drops every queued fault.
    pub fn clear_faults(mut self) -> Self {
        self.faults.clear();
        self
    }

    /// Requires this API key: `Authorization: Bearer KEY` (OpenAI), `api-key: KEY` (Azure),
    /// `x-api-key: KEY` (Anthropic). Missing or wrong gives 401. Without it any key is accepted,
    /// and OpenAI requests may carry none (Anthropic's `x-api-key` is always required).
    pub fn require_api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// Accepts any key again.
    pub fn accept_any_key(mut self) -> Self {
        self.api_key = None;
        self
    }

    /// When `true`, every authenticated model request gets 403 (a key without access).
    pub fn forbidden(mut self, forbidden: bool) -> Self {
        self.forbidden = forbidden;
        self
    }

    /// Sends `x-ratelimit-remaining-requests` / `x-ratelimit-remaining-tokens` (OpenAI, Azure)
    /// and `anthropic-ratelimit-requests-remaining` / `anthropic-ratelimit-tokens-remaining`
    /// (Anthropic) with these values on every successful reply.
    pub fn rate_limit_remaining(mut self, requests: u64, tokens: u64) -> Self {
        self.rate_limit = Some(RateLimitHeaders { requests, tokens });
        self
    }

    /// Reports this many prompt tokens as read from the provider's cache (capped at the prompt's
    /// tokens): OpenAI `prompt_tokens_details.cached_tokens`, Anthropic `cache_read_input_tokens`.
    pub fn cached_tokens(mut self, tokens: u64) -> Self {
        self.cached_tokens = tokens;
        self
    }

    /// Whether requests are recorded (default `true`). Benchmarks turn it off; the request
    /// counter and the in-flight gauge keep working.
    pub fn record_requests(mut self, record: bool) -> Self {
        self.record = record;
        self
    }

    /// The size of embedding vectors when the request gives no `dimensions`.
    pub fn embedding_dimensions(mut self, dimensions: usize) -> Self {
        self.embedding_dimensions = dimensions.max(1);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stub::request::{ChatMessage, Wire};

    fn asking(text: &str) -> ChatRequest {
        ChatRequest {
            wire: Wire::OpenAi,
            model: "m".to_owned(),
            system: None,
            messages: vec![ChatMessage { role: "user".to_owned(), text: text.to_owned(), images: 0 }],
            stream: false,
            include_usage: false,
            max_tokens: None,
        }
    }

    #[test]
    fn first_matching_rule_wins_then_default() {
        let config = StubConfig::new()
            .reply("default")
            .when_contains("apple", "fruit")
            .when_matches(r"^\d+$", "number")
            .when_contains("apple pie", "never: the first rule wins");
        assert_eq!(config.responder.reply(&asking("an apple pie")), "fruit");
        assert_eq!(config.responder.reply(&asking("42")), "number");
        assert_eq!(config.responder.reply(&asking("other")), "default");
        assert_eq!(config.clear_rules().responder.reply(&asking("apple")), "default");
    }

    #[test]
    fn echo_and_function_replies() {
        assert_eq!(StubConfig::new().echo().responder.reply(&asking("hello")), "hello");
        let config = StubConfig::new().reply_fn(|request| request.model.to_uppercase());
        assert_eq!(config.responder.reply(&asking("x")), "M");
    }
}
