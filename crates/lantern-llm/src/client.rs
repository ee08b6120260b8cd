//! [`LlmClient`]: one call to the chat-completions endpoint, inside every bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use parking_lot::Mutex;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap};
use tokio::sync::Semaphore;

use crate::config::{ConfigError, LlmConfig};
use crate::error::{ErrorKind, LlmError};
use crate::limits::{Admission, Breaker, BreakerState, TokenBudget};
use crate::wire::{
    Accumulator, ChatAnswer, ChatRequest, RESPONSE_BYTES_MAX, SseDecoder, excerpt, parse_completion,
    request_body,
};

/// Bytes per token assumed when estimating a prompt before sending it (about right for English
/// with Qwen's tokenizer, a little generous for Chinese at three bytes a character).
pub const PROMPT_BYTES_PER_TOKEN: u64 = 4;

/// Most bytes of an error body read for an error message.
const ERROR_BODY_BYTES_MAX: usize = 4 * 1024;

/// Counters for metrics: what the planner did and why it fell back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlmStats {
    /// Calls asked for (each [`LlmClient::complete`]), refused ones included.
    pub calls: u64,
    /// Calls that sent a request to the server.
    pub sent: u64,
    /// Calls that returned an answer.
    pub succeeded: u64,
    /// Calls that failed after being sent (these are what the breaker counts).
    pub failures: u64,
    /// Errors by kind, in [`ErrorKind::ALL`] order; every one of them was a fallback.
    pub errors: [(ErrorKind, u64); ErrorKind::COUNT],
    /// Tokens charged to the budget (server-reported usage, or the estimate when it sent none).
    pub tokens_charged: u64,
    /// Tokens the budget holds now.
    pub tokens_available: u64,
    /// The circuit breaker, now.
    pub breaker: BreakerState,
}

impl LlmStats {
    /// How many errors of one kind there were.
    pub fn errors_of(&self, kind: ErrorKind) -> u64 {
        self.errors.iter().find(|(k, _)| *k == kind).map_or(0, |(_, count)| *count)
    }
}

#[derive(Debug, Default)]
struct Counters {
    calls: AtomicU64,
    sent: AtomicU64,
    succeeded: AtomicU64,
    failures: AtomicU64,
    errors: [AtomicU64; ErrorKind::COUNT],
    tokens_charged: AtomicU64,
}

struct Inner {
    config: LlmConfig,
    url: String,
    api_key: Option<String>,
    http: reqwest::Client,
    slots: Semaphore,
    breaker: Mutex<Breaker>,
    budget: Mutex<TokenBudget>,
    counters: Counters,
}

/// A client for one OpenAI-compatible chat-completions endpoint, with the planner's bounds
/// enforced on every call. Cheap to clone (clones share the slots, budget, breaker and counters),
/// so one client serves the whole process.
#[derive(Clone)]
pub struct LlmClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for LlmClient {
    /// The API key is never printed, only whether there is one.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmClient")
            .field("url", &self.inner.url)
            .field("model", &self.inner.config.model)
            .field("api_key", &self.inner.api_key.as_ref().map(|_| "<set>"))
            .finish_non_exhaustive()
    }
}

/// The breaker's view of one admitted call. If the call's future is dropped before an outcome
/// is recorded (the caller gave up), a probe is handed back so the breaker cannot stay half-open
/// with a probe nobody will finish.
struct BreakerTicket<'a> {
    inner: &'a Inner,
    admission: Admission,
    settled: bool,
}

impl BreakerTicket<'_> {
    fn succeed(mut self) {
        self.inner.breaker.lock().on_success(self.admission);
        self.settled = true;
    }

    fn fail(mut self) {
        self.inner.breaker.lock().on_failure(self.admission, Instant::now());
        self.settled = true;
    }
}

impl Drop for BreakerTicket<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.inner.breaker.lock().abandon(self.admission);
        }
    }
}

impl LlmClient {
    /// A client for `config` (validated here) with the API key the caller read from the
    /// environment variable `config.api_key_env` (`None` or empty: no `Authorization` header).
    ///
    /// The HTTP client ignores proxy settings from the environment: prompts go straight to the
    /// configured endpoint, so a stray `HTTP_PROXY` cannot reroute them.
    pub fn new(config: LlmConfig, api_key: Option<String>) -> Result<Self, ConfigError> {
        config.validate()?;
        install_tls_provider();
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .user_agent(concat!("lantern-llm/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_millis(config.deadline_ms));
        if config.base_url.starts_with("https://") {
            builder = builder.tls_certs_merge(extra_root_certificates(&config.ca_cert_file)?);
        }
        let http = builder.build().map_err(|error| ConfigError::HttpClient { detail: error.to_string() })?;
        let now = Instant::now();
        let inner = Inner {
            url: config.chat_completions_url(),
            api_key: api_key.filter(|key| !key.is_empty()),
            http,
            slots: Semaphore::new(usize::try_from(config.concurrency_max).unwrap_or(1)),
            breaker: Mutex::new(Breaker::new(
                config.breaker_failures_threshold,
                Duration::from_millis(config.breaker_open_ms),
            )),
            budget: Mutex::new(TokenBudget::new(config.tokens_per_minute_max, now)),
            counters: Counters::default(),
            config,
        };
        Ok(LlmClient { inner: Arc::new(inner) })
    }

    /// The configuration in force.
    pub fn config(&self) -> &LlmConfig {
        &self.inner.config
    }

    /// Counters and the breaker's state, for metrics.
    pub fn stats(&self) -> LlmStats {
        let counters = &self.inner.counters;
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let now = Instant::now();
        LlmStats {
            calls: load(&counters.calls),
            sent: load(&counters.sent),
            succeeded: load(&counters.succeeded),
            failures: load(&counters.failures),
            errors: ErrorKind::ALL.map(|kind| (kind, load(&counters.errors[kind.index()]))),
            tokens_charged: load(&counters.tokens_charged),
            tokens_available: self.inner.budget.lock().available(now),
            breaker: self.inner.breaker.lock().state(now),
        }
    }

    /// Asks the model once: posts `request` (streamed, `tool_choice: "auto"` when tools are
    /// offered) and gathers the answer, giving each piece of text to `on_text` as it arrives.
    ///
    /// Before sending, in this order: a free call slot (else [`LlmError::Saturated`] at once:
    /// the planner never queues behind the model), the circuit breaker (else
    /// [`LlmError::CircuitOpen`]), and the token budget for the estimate, request bytes / 4 plus
    /// `max_tokens_per_call` (else [`LlmError::OverBudget`]). The deadline covers the whole call,
    /// from connecting to the last streamed byte ([`LlmError::Timeout`]). Afterwards the budget is
    /// charged the server's reported usage instead of the estimate (a 429 or other 4xx gives the
    /// estimate back; a failure after the model may have worked keeps it). Every failure of a sent
    /// call (429, 4xx, 5xx, refused connection, timeout, malformed or oversized answer) counts
    /// towards the breaker; a success closes it again.
    ///
    /// `on_text` sees the model's text unchecked. If it goes to a shopper as it streams, the
    /// shopper may see a figure that [`check_money`](crate::check_money) later refuses: hold it
    /// back (or be ready to replace it) until the whole text has passed the check.
    pub async fn complete(
        &self,
        request: ChatRequest,
        mut on_text: impl FnMut(&str),
    ) -> Result<ChatAnswer, LlmError> {
        let inner = &*self.inner;
        inner.counters.calls.fetch_add(1, Ordering::Relaxed);
        let result = self.complete_counted(&request, &mut on_text).await;
        match &result {
            Ok(_) => {
                inner.counters.succeeded.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => {
                inner.counters.errors[error.kind().index()].fetch_add(1, Ordering::Relaxed);
                // Local refusals are the bounds doing their job under load: counted, not shouted.
                if error.refused_locally() {
                    tracing::debug!(kind = error.kind().as_str(), %error, "model call refused");
                } else {
                    tracing::warn!(kind = error.kind().as_str(), %error, "model call failed");
                }
            }
        }
        result
    }

    async fn complete_counted(
        &self,
        request: &ChatRequest,
        on_text: &mut impl FnMut(&str),
    ) -> Result<ChatAnswer, LlmError> {
        let inner = &*self.inner;
        let config = &inner.config;
        let body =
            request_body(&config.model, request, config.max_tokens_per_call, config.temperature_milli)?;

        let Ok(_slot) = inner.slots.try_acquire() else {
            return Err(LlmError::Saturated { concurrency_max: config.concurrency_max });
        };
        let admission = inner
            .breaker
            .lock()
            .admit(Instant::now())
            .map_err(|retry_after_ms| LlmError::CircuitOpen { retry_after_ms })?;
        let ticket = BreakerTicket { inner, admission, settled: false };

        let body_bytes = u64::try_from(body.len()).unwrap_or(u64::MAX);
        let estimate =
            (body_bytes / PROMPT_BYTES_PER_TOKEN).saturating_add(u64::from(config.max_tokens_per_call));
        inner.budget.lock().reserve(estimate, Instant::now()).map_err(|available_tokens| {
            LlmError::OverBudget {
                needed_tokens: estimate,
                available_tokens,
                tokens_per_minute_max: config.tokens_per_minute_max,
            }
        })?;

        inner.counters.sent.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            request_bytes = body.len(),
            estimate,
            probe = admission == Admission::Probe,
            "calling the model"
        );
        let deadline = Duration::from_millis(config.deadline_ms);
        let outcome = match tokio::time::timeout(deadline, self.send_and_read(body, on_text)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(LlmError::Timeout { deadline_ms: config.deadline_ms }),
        };

        match &outcome {
            Ok(answer) => {
                let used = answer.usage.map_or(estimate, |usage| usage.total_tokens);
                inner.budget.lock().settle(estimate, used);
                inner.counters.tokens_charged.fetch_add(used, Ordering::Relaxed);
                ticket.succeed();
            }
            Err(error) => {
                // Refused before the model did any work (429, most 4xx, connection refused):
                // give the reservation back. Otherwise it was spent, as far as we know.
                let unspent = matches!(error, LlmError::RateLimited { .. } | LlmError::Rejected { .. });
                if unspent {
                    inner.budget.lock().settle(estimate, 0);
                } else {
                    inner.counters.tokens_charged.fetch_add(estimate, Ordering::Relaxed);
                }
                inner.counters.failures.fetch_add(1, Ordering::Relaxed);
                ticket.fail();
            }
        }
        outcome
    }

    async fn send_and_read(
        &self,
        body: Vec<u8>,
        on_text: &mut impl FnMut(&str),
    ) -> Result<ChatAnswer, LlmError> {
        let inner = &*self.inner;
        let mut post = inner
            .http
            .post(&inner.url)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "text/event-stream, application/json")
            .body(body);
        if let Some(key) = &inner.api_key {
            post = post.header(AUTHORIZATION, format!("Bearer {key}"));
        }
        let response =
            post.send().await.map_err(|error| LlmError::Unavailable { detail: describe(&error) })?;
        let status = response.status();
        if !status.is_success() {
            return Err(status_error(status, response).await);
        }
        if response.content_length().is_some_and(|length| length > RESPONSE_BYTES_MAX as u64) {
            return Err(LlmError::TooLarge { what: "response bytes", limit: RESPONSE_BYTES_MAX });
        }
        let is_json = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.trim_start().to_ascii_lowercase().starts_with("application/json"));
        if is_json {
            let body = read_bounded(response, RESPONSE_BYTES_MAX).await?;
            return parse_completion(&body, on_text);
        }
        read_stream(response, on_text).await
    }
}

/// Reads an SSE answer until `[DONE]` (or the end of the body), within [`RESPONSE_BYTES_MAX`].
async fn read_stream(
    response: reqwest::Response,
    on_text: &mut impl FnMut(&str),
) -> Result<ChatAnswer, LlmError> {
    let mut decoder = SseDecoder::default();
    let mut accumulator = Accumulator::default();
    let mut events = Vec::new();
    let mut received = 0_usize;
    let mut bytes = response.bytes_stream();
    while let Some(piece) = bytes.next().await {
        let piece = piece.map_err(|error| LlmError::Unavailable {
            detail: format!("the stream broke: {}", describe(&error)),
        })?;
        received = received.saturating_add(piece.len());
        if received > RESPONSE_BYTES_MAX {
            return Err(LlmError::TooLarge { what: "response bytes", limit: RESPONSE_BYTES_MAX });
        }
        decoder.push(&piece, &mut events)?;
        for event in events.drain(..) {
            accumulator.apply_event(&event, on_text)?;
        }
        if accumulator.is_done() {
            // Everything after [DONE] is ignored; dropping the body closes the stream.
            return accumulator.into_answer();
        }
    }
    decoder.finish(&mut events)?;
    for event in events.drain(..) {
        accumulator.apply_event(&event, on_text)?;
    }
    accumulator.into_answer()
}

/// Makes ring the process's TLS provider unless one was chosen already. The workspace builds
/// reqwest with rustls but without a provider of its own (aws-lc builds slowly here), and
/// reqwest panics when a client is built before this: every crate or test that builds a reqwest
/// client calls it first.
pub fn install_tls_provider() {
    // Err only means a provider is installed already, which serves as well.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The certificates of `ca_cert_file` (PEM; empty name: none).
fn extra_root_certificates(ca_cert_file: &str) -> Result<Vec<reqwest::Certificate>, ConfigError> {
    if ca_cert_file.is_empty() {
        return Ok(Vec::new());
    }
    let invalid = |problem: String| ConfigError::Invalid { field: "ca_cert_file", problem };
    let pem = std::fs::read(ca_cert_file).map_err(|error| {
        invalid(format!("cannot read {ca_cert_file:?}: {error}; give a PEM file of CA certificates"))
    })?;
    let certificates = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|error| invalid(format!("{ca_cert_file:?} is not a PEM certificate bundle: {error}")))?;
    if certificates.is_empty() {
        return Err(invalid(format!(
            "{ca_cert_file:?} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        )));
    }
    Ok(certificates)
}

async fn read_bounded(response: reqwest::Response, limit: usize) -> Result<Vec<u8>, LlmError> {
    let mut body = Vec::new();
    let mut bytes = response.bytes_stream();
    while let Some(piece) = bytes.next().await {
        let piece = piece.map_err(|error| LlmError::Unavailable {
            detail: format!("the answer broke off: {}", describe(&error)),
        })?;
        if body.len().saturating_add(piece.len()) > limit {
            return Err(LlmError::TooLarge { what: "response bytes", limit });
        }
        body.extend_from_slice(&piece);
    }
    Ok(body)
}

/// The start of an error body, read within [`ERROR_BODY_BYTES_MAX`] (a failing server's body is
/// no more trustworthy than a working one's).
async fn error_excerpt(response: reqwest::Response) -> String {
    let mut body = Vec::new();
    let mut bytes = response.bytes_stream();
    while let Some(Ok(piece)) = bytes.next().await {
        let room = ERROR_BODY_BYTES_MAX.saturating_sub(body.len());
        body.extend_from_slice(piece.get(..room.min(piece.len())).unwrap_or_default());
        if body.len() >= ERROR_BODY_BYTES_MAX {
            break;
        }
    }
    let text = String::from_utf8_lossy(&body);
    // An OpenAI-style error body: {"error": {"message": ...}}.
    let message = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|value| value.pointer("/error/message").and_then(|m| m.as_str()).map(str::to_string));
    excerpt(message.as_deref().unwrap_or(&text).trim())
}

async fn status_error(status: StatusCode, response: reqwest::Response) -> LlmError {
    if status == StatusCode::TOO_MANY_REQUESTS {
        return LlmError::RateLimited { retry_after_ms: retry_after_ms(response.headers()) };
    }
    let detail = error_excerpt(response).await;
    if status.is_server_error() {
        return LlmError::Unavailable { detail: format!("HTTP {}: {detail}", status.as_u16()) };
    }
    LlmError::Rejected { status: status.as_u16(), detail }
}

/// `retry-after-ms` (OpenAI's) if present, else `Retry-After` in whole or decimal seconds; an
/// HTTP-date is not worth a clock here and is ignored.
fn retry_after_ms(headers: &HeaderMap) -> Option<u64> {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok()).map(str::trim);
    if let Some(ms) = header("retry-after-ms").and_then(|value| value.parse::<u64>().ok()) {
        return Some(ms);
    }
    let seconds = header("retry-after")?;
    let (whole, fraction) = seconds.split_once('.').unwrap_or((seconds, ""));
    let whole: u64 = whole.parse().ok()?;
    let fraction_ms = if fraction.is_empty() {
        0
    } else {
        let digits: String = fraction.chars().chain("000".chars()).take(3).collect();
        digits.parse::<u64>().ok()?
    };
    Some(whole.saturating_mul(1000).saturating_add(fraction_ms))
}

/// A transport error in words, without the request body.
fn describe(error: &reqwest::Error) -> String {
    let what = if error.is_connect() {
        "could not connect"
    } else if error.is_timeout() {
        "timed out"
    } else if error.is_body() || error.is_decode() {
        "the body broke off"
    } else {
        "transport error"
    };
    let mut detail = format!("{what}: {error}");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        detail.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    excerpt(&detail)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn retry_after_is_read_in_every_form() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after_ms(&headers), None);
        headers.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after_ms(&headers), Some(2_000));
        headers.insert("retry-after", HeaderValue::from_static("0.25"));
        assert_eq!(retry_after_ms(&headers), Some(250));
        headers.insert("retry-after", HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after_ms(&headers), None);
        headers.insert("retry-after-ms", HeaderValue::from_static("1500"));
        assert_eq!(retry_after_ms(&headers), Some(1_500));
    }

    #[test]
    fn the_key_is_never_printed() {
        let client = LlmClient::new(LlmConfig::default(), Some("sk-secret".to_string()));
        let printed = format!("{client:?}");
        assert!(!printed.contains("sk-secret") && printed.contains("<set>"), "{printed}");
    }
}
