//! What the HTTP providers share: one connection-pooling client, base URL checks, turning
//! statuses and transport failures into [`ProviderError`]s (with `Retry-After` and rate-limit
//! headers read), API keys redacted from any text that could reach a message, and an SSE
//! parser. Nothing here knows a wire format.

use std::sync::OnceLock;
use std::time::Duration;

use reqwest::header::HeaderMap;

use super::error::ProviderError;
use super::types::RateLimitInfo;
use crate::secret::SecretString;

/// How long establishing a connection may take (the request timeout is the timeout layer's).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The process-wide client: one connection pool for every provider, so that keep-alive
/// connections are reused across calls. Timeouts are the timeout layer's job.
pub(crate) fn client() -> reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .pool_idle_timeout(Duration::from_secs(60))
                .user_agent(concat!("promptops/", env!("CARGO_PKG_VERSION")))
                .build()
                .unwrap_or_default()
        })
        .clone()
}

/// A client for the server, whose callers are tenants: names resolve through `resolver` (which
/// refuses internal addresses) and redirects are never followed, since a redirect to an IP
/// literal would skip the resolver.
pub(crate) fn guarded_client<R: reqwest::dns::Resolve + 'static>(resolver: std::sync::Arc<R>) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .pool_idle_timeout(Duration::from_secs(60))
        .user_agent(concat!("promptops/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(resolver)
        .build()
        .unwrap_or_default()
}

/// Checks a configured base URL: absolute, http or https, no query. Trailing `/` removed.
pub(crate) fn base_url(provider: &str, url: &str) -> Result<String, ProviderError> {
    let invalid = |reason: &str| ProviderError::InvalidBaseUrl {
        provider: provider.to_owned(),
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let parsed = reqwest::Url::parse(url).map_err(|err| invalid(&err.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid("it has no host"));
    }
    if parsed.query().is_some() {
        return Err(invalid("it must not have a query string"));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// Replaces every occurrence of the key in `text` (APIs sometimes echo part of it back).
pub(crate) fn redact(text: &str, key: Option<&SecretString>) -> String {
    match key.map(SecretString::expose).filter(|k| k.len() >= 4) {
        Some(key) => text.replace(key, "****"),
        None => text.to_owned(),
    }
}

/// A transport failure: timeouts and connection problems are retryable.
pub(crate) fn transport_error(provider: &str, url: &str, err: reqwest::Error) -> ProviderError {
    if err.is_timeout() {
        return ProviderError::Timeout { provider: provider.to_owned(), after: CONNECT_TIMEOUT };
    }
    // `without_url`: the URL is named once, in our own message.
    ProviderError::Connect { provider: provider.to_owned(), url: url.to_owned(), source: Box::new(err.without_url()) }
}

/// Sends a request and returns the response if its status is a success, else the error it means.
pub(crate) async fn send(
    provider: &str,
    url: &str,
    request: reqwest::RequestBuilder,
    key: Option<&SecretString>,
    env_var: Option<&str>,
) -> Result<reqwest::Response, ProviderError> {
    let response = request.send().await.map_err(|err| transport_error(provider, url, err))?;
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let headers = response.headers().clone();
    let body = response.text().await.unwrap_or_default();
    Err(status_error(provider, status.as_u16(), &headers, &redact(&body, key), env_var))
}

/// The error a non-success status means.
pub(crate) fn status_error(
    provider: &str,
    status: u16,
    headers: &HeaderMap,
    body: &str,
    env_var: Option<&str>,
) -> ProviderError {
    let message = api_message(body);
    let provider = provider.to_owned();
    match status {
        401 | 403 => ProviderError::Auth { provider, status, message, env_var: env_var.map(ToOwned::to_owned) },
        429 => ProviderError::RateLimited { provider, message, retry_after: retry_after(headers) },
        _ => ProviderError::Status { provider, status, message, retry_after: retry_after(headers) },
    }
}

/// The `error.message` of an OpenAI- or Anthropic-style error body, else the body's start.
pub(crate) fn api_message(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let message = parsed.as_ref().and_then(|v| {
        v.pointer("/error/message").or_else(|| v.get("message")).or_else(|| v.get("error")).and_then(|m| m.as_str())
    });
    let text = message.unwrap_or(body).trim();
    if text.is_empty() {
        return "(no message)".to_owned();
    }
    excerpt(text, 300)
}

/// The first `max` characters of `text`, with `…` when cut.
pub(crate) fn excerpt(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// `Retry-After` (seconds, possibly fractional, or an HTTP date) or OpenAI's `retry-after-ms`.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(ms) = header("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return (ms.is_finite() && ms >= 0.0).then(|| Duration::from_secs_f64(ms / 1000.0));
    }
    let value = header("retry-after")?;
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// Remaining-requests and remaining-tokens headers (OpenAI's and Anthropic's spellings).
pub(crate) fn rate_limit_info(headers: &HeaderMap) -> RateLimitInfo {
    let number = |names: &[&str]| {
        names
            .iter()
            .find_map(|name| headers.get(*name).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok()))
    };
    RateLimitInfo {
        remaining_requests: number(&["x-ratelimit-remaining-requests", "anthropic-ratelimit-requests-remaining"]),
        remaining_tokens: number(&["x-ratelimit-remaining-tokens", "anthropic-ratelimit-tokens-remaining"]),
    }
}

/// Parses a JSON body, mapping failure to [`ProviderError::BadResponse`].
pub(crate) async fn json_body(provider: &str, response: reqwest::Response) -> Result<serde_json::Value, ProviderError> {
    // A connection that closes mid-body is a transport failure, worth a retry.
    let bytes = response.bytes().await.map_err(|err| ProviderError::StreamEnded {
        provider: provider.to_owned(),
        detail: format!("the connection closed before the whole answer arrived ({})", err.without_url()),
    })?;
    serde_json::from_slice(&bytes).map_err(|err| ProviderError::BadResponse {
        provider: provider.to_owned(),
        detail: format!("the body is not valid JSON ({err}): {}", excerpt(&String::from_utf8_lossy(&bytes), 120)),
    })
}

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SseEvent {
    /// The `event:` field, when given.
    pub event: Option<String>,
    /// The `data:` lines joined by newlines.
    pub data: String,
    /// The `id:` field, when given (what `Last-Event-ID` resumes after).
    pub id: Option<String>,
}

/// An incremental SSE parser: feed it chunks as they arrive, take whole events out.
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    buffer: Vec<u8>,
}

impl SseParser {
    /// Adds a chunk and returns the events it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        self.buffer.extend_from_slice(chunk);
        let mut events = Vec::new();
        while let Some((end, skip)) = find_event_end(&self.buffer) {
            let block: Vec<u8> = self.buffer.drain(..end + skip).take(end).collect();
            if let Some(event) = parse_event(&String::from_utf8_lossy(&block)) {
                events.push(event);
            }
        }
        events
    }
}

/// Where the first blank line is: (index of its start, length of the separator).
fn find_event_end(buffer: &[u8]) -> Option<(usize, usize)> {
    (0..buffer.len()).find_map(|i| {
        if buffer[i..].starts_with(b"\r\n\r\n") {
            Some((i, 4))
        } else if buffer[i..].starts_with(b"\n\n") {
            Some((i, 2))
        } else {
            None
        }
    })
}

fn parse_event(block: &str) -> Option<SseEvent> {
    let (mut event, mut id) = (None, None);
    let mut data: Vec<&str> = Vec::new();
    for line in block.lines() {
        if let Some(value) = line.strip_prefix("data:") {
            data.push(value.strip_prefix(' ').unwrap_or(value));
        } else if let Some(value) = line.strip_prefix("event:") {
            event = Some(value.trim().to_owned());
        } else if let Some(value) = line.strip_prefix("id:") {
            id = Some(value.trim().to_owned());
        }
    }
    (event.is_some() || !data.is_empty()).then(|| SseEvent { event, data: data.join("\n"), id })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_split_across_chunks() {
        let mut parser = SseParser::default();
        assert!(parser.push(b"event: ping\nda").is_empty());
        let events = parser.push(b"ta: {\"a\":1}\n\ndata: [DONE]\r\n\r\n: comment\n\n");
        assert_eq!(
            events,
            vec![
                SseEvent { event: Some("ping".into()), data: "{\"a\":1}".into(), id: None },
                SseEvent { event: None, data: "[DONE]".into(), id: None },
            ]
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_milliseconds() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "2".parse().expect("header"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert("retry-after-ms", "250".parse().expect("header"));
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(250)));
    }

    #[test]
    fn base_urls_are_checked() {
        assert_eq!(base_url("p", "http://127.0.0.1:8080/v1/").expect("valid"), "http://127.0.0.1:8080/v1");
        assert!(base_url("p", "not a url").is_err());
        assert!(base_url("p", "ftp://example.com").is_err());
    }

    #[test]
    fn keys_are_redacted_from_messages() {
        let key = SecretString::new("sk-secret-123");
        assert_eq!(
            redact("Incorrect API key provided: sk-secret-123.", Some(&key)),
            "Incorrect API key provided: ****."
        );
        assert_eq!(api_message(r#"{"error": {"message": "bad key"}}"#), "bad key");
    }
}
