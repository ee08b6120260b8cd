//! A scripted OpenAI-compatible server for tests: a real HTTP server on loopback (axum) that
//! answers each `POST /v1/chat/completions` (or `/chat/completions`) with the next turn of a
//! script, in the real wire format, and records every request it received.
//!
//! Streamed turns are written the way Qwen's compatible mode writes them: every chunk carries
//! `id`, `object: "chat.completion.chunk"`, `created`, `model` and `choices[0]` with `index`,
//! `delta`, `logprobs: null`, `finish_reason`; the first delta has the role, a tool call's first
//! fragment has its id and name and later fragments `"id": ""` and only a piece of the arguments
//! (split mid-JSON), then a chunk with the finish reason, a usage chunk with `choices: []`, and
//! `data: [DONE]`. Scripts can also be recorded transcripts loaded from JSON
//! ([`ScriptedTurn::from_fixture`]), whose `sse` turns replay chunk objects exactly as captured.
//!
//! Compiled into the library only with the `scripted` feature, so the agent's tests can use it;
//! this crate's own integration tests include the file directly. It uses nothing else from this
//! crate, so the bytes it writes are an independent rendering of the format, not the client's
//! own types echoed back.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::{Value, json};

/// The `created` timestamp written in every answer, fixed so transcripts are reproducible.
const CREATED: u64 = 1_760_000_000;

/// How many characters of a tool call's arguments go in each streamed fragment by default:
/// small enough that every argument string is split mid-JSON.
pub const DEFAULT_FRAGMENT_CHARS: usize = 7;

/// One tool call in a scripted answer. `arguments` is sent as written, so a script can send
/// malformed JSON or arguments that break the tool's schema.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptedToolCall {
    /// The call's id (Qwen writes `call_` and 22 hex digits).
    pub id: String,
    /// The function name.
    pub name: String,
    /// The arguments text.
    pub arguments: String,
}

/// Token counts for a scripted answer's usage chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptedUsage {
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
}

/// A streamed answer, rendered as Qwen-style chunks.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamedAnswer {
    /// Text pieces, one content delta each.
    pub text: Vec<String>,
    /// Tool calls, each streamed as fragments after the text.
    pub tool_calls: Vec<ScriptedToolCall>,
    /// Characters of arguments per fragment; 0 sends each call whole in one chunk (as some
    /// servers do). `None`: [`DEFAULT_FRAGMENT_CHARS`].
    pub fragment_chars: Option<usize>,
    /// The finish reason; `None`: `tool_calls` when there are calls, else `stop`.
    pub finish_reason: Option<String>,
    /// The usage chunk's counts; `None`: request bytes / 4 and answer bytes / 4.
    pub usage: Option<ScriptedUsage>,
    /// Leave out the usage chunk (a server that ignores `stream_options`).
    pub omit_usage: bool,
    /// Leave out `data: [DONE]` (the stream just ends after the finish chunk).
    pub omit_done: bool,
    /// Pause before each event, in milliseconds.
    pub chunk_delay_ms: u64,
    /// After this many events, stall (send nothing more) for `stall_ms`, then end the stream
    /// without finishing: a model that hangs mid-answer.
    pub stall_after_events: Option<usize>,
    /// How long a stall lasts, in milliseconds (default: a minute).
    pub stall_ms: Option<u64>,
    /// Write each event in pieces of this many bytes (splitting lines and UTF-8 characters
    /// between network writes).
    pub split_bytes: Option<usize>,
}

/// What the server does with one request.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ScriptedTurn {
    /// A streamed answer in Qwen's style.
    Stream(StreamedAnswer),
    /// Recorded SSE events replayed as they are: each JSON value is sent as `data: <value>`; the
    /// string `"[DONE]"` is sent bare.
    Sse {
        /// The events' data.
        events: Vec<Value>,
        /// Pause before each event, in milliseconds.
        #[serde(default)]
        chunk_delay_ms: u64,
    },
    /// A whole `chat.completion` object as `application/json`, as from a server that ignores
    /// `stream: true`.
    Json {
        /// The body.
        body: Value,
    },
    /// An HTTP error status with a body (and a `Retry-After` header, for a 429).
    Status {
        /// The status code.
        status: u16,
        /// The body, sent as `application/json`.
        #[serde(default)]
        body: Value,
        /// The `Retry-After` header's value, if any.
        #[serde(default)]
        retry_after: Option<String>,
    },
    /// Accept the request and answer nothing for this long (then 504): a model that is down
    /// behind a proxy, or stuck.
    Hang {
        /// How long, in milliseconds.
        ms: u64,
    },
    /// A body written exactly as given, in pieces, with this content type: for malformed or
    /// oversized answers.
    Raw {
        /// The `Content-Type` header.
        content_type: String,
        /// The body, one network write per piece.
        pieces: Vec<String>,
    },
}

impl ScriptedTurn {
    /// A streamed text answer, one content delta per piece.
    pub fn text(pieces: &[&str]) -> Self {
        ScriptedTurn::Stream(StreamedAnswer {
            text: pieces.iter().map(|piece| piece.to_string()).collect(),
            ..StreamedAnswer::default()
        })
    }

    /// A streamed answer with one tool call, its arguments split across chunks.
    pub fn tool_call(id: &str, name: &str, arguments: &str) -> Self {
        ScriptedTurn::tool_calls(vec![ScriptedToolCall {
            id: id.to_string(),
            name: name.to_string(),
            arguments: arguments.to_string(),
        }])
    }

    /// A streamed answer with these tool calls.
    pub fn tool_calls(calls: Vec<ScriptedToolCall>) -> Self {
        ScriptedTurn::Stream(StreamedAnswer { tool_calls: calls, ..StreamedAnswer::default() })
    }

    /// A non-streamed (`application/json`) text answer.
    pub fn json_text(text: &str) -> Self {
        ScriptedTurn::Json { body: completion_body(Some(text), &[], "stop") }
    }

    /// A non-streamed (`application/json`) answer with tool calls.
    pub fn json_tool_calls(calls: &[ScriptedToolCall]) -> Self {
        ScriptedTurn::Json { body: completion_body(None, calls, "tool_calls") }
    }

    /// HTTP 429 with `Retry-After: <seconds>` and DashScope's error body.
    pub fn rate_limited(retry_after_seconds: u64) -> Self {
        ScriptedTurn::Status {
            status: 429,
            body: json!({"error": {
                "message": "Requests rate limit exceeded, please try again later.",
                "type": "limit_requests",
                "code": "limit_requests"
            }}),
            retry_after: Some(retry_after_seconds.to_string()),
        }
    }

    /// An HTTP error status with an OpenAI-style error body.
    pub fn status(status: u16) -> Self {
        ScriptedTurn::Status {
            status,
            body: json!({"error": {"message": format!("scripted failure {status}"), "type": "server_error"}}),
            retry_after: None,
        }
    }

    /// No answer for `ms` milliseconds.
    pub fn hang(ms: u64) -> Self {
        ScriptedTurn::Hang { ms }
    }

    /// A script from a JSON fixture: a list of turns, each an object with `kind` (`stream`,
    /// `sse`, `json`, `status`, `hang`, `raw`) and that kind's fields.
    pub fn from_fixture(json: &str) -> Result<Vec<ScriptedTurn>, serde_json::Error> {
        serde_json::from_str(json)
    }
}

/// One request the server received.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// The path it was posted to.
    pub path: String,
    /// Its `Authorization` header, if any.
    pub authorization: Option<String>,
    /// Its body as JSON (`Value::String` with the raw text if it was not JSON).
    pub body: Value,
}

#[derive(Debug, Default)]
struct Shared {
    script: std::collections::VecDeque<ScriptedTurn>,
    requests: Vec<RecordedRequest>,
}

type SharedState = Arc<Mutex<Shared>>;

/// The running server; dropping it stops accepting connections.
#[derive(Debug)]
pub struct ScriptedHandle {
    address: SocketAddr,
    scheme: &'static str,
    shared: SharedState,
    task: tokio::task::JoinHandle<()>,
}

impl ScriptedHandle {
    /// The base URL to configure a client with: `http://127.0.0.1:<port>/v1` (`https://` when
    /// served over TLS).
    pub fn base_url(&self) -> String {
        format!("{}://{}/v1", self.scheme, self.address)
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner).requests.clone()
    }

    /// Turns not yet used.
    pub fn remaining_turns(&self) -> usize {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner).script.len()
    }

    /// Appends turns to the script.
    pub fn push(&self, turns: impl IntoIterator<Item = ScriptedTurn>) {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner).script.extend(turns);
    }
}

impl Drop for ScriptedHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The scripted server.
#[derive(Debug)]
pub struct ScriptedServer;

impl ScriptedServer {
    /// Starts a server on `127.0.0.1:0` that answers requests with `script`, turn by turn (and
    /// with HTTP 500 once the script is used up). Call inside a Tokio runtime.
    pub async fn start(script: Vec<ScriptedTurn>) -> std::io::Result<(SocketAddr, ScriptedHandle)> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        Self::serve(listener, "http", script)
    }

    /// Serves `script` on any listener, for instance one that does a TLS handshake first
    /// (`scheme` is then `"https"`, for [`ScriptedHandle::base_url`]).
    pub fn serve<L>(
        listener: L,
        scheme: &'static str,
        script: Vec<ScriptedTurn>,
    ) -> std::io::Result<(SocketAddr, ScriptedHandle)>
    where
        L: axum::serve::Listener<Addr = SocketAddr>,
    {
        let address = listener.local_addr()?;
        let shared: SharedState =
            Arc::new(Mutex::new(Shared { script: script.into(), requests: Vec::new() }));
        let app = Router::new()
            .route("/v1/chat/completions", post(answer))
            .route("/chat/completions", post(answer))
            .with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::warn!(%error, "scripted server stopped");
            }
        });
        Ok((address, ScriptedHandle { address, scheme, shared, task }))
    }
}

async fn answer(State(shared): State<SharedState>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    let request_bytes = body.to_string().len();
    let model = body.get("model").and_then(Value::as_str).unwrap_or("qwen-plus").to_string();
    let turn = {
        let mut shared = shared.lock().unwrap_or_else(PoisonError::into_inner);
        shared.requests.push(RecordedRequest {
            path: uri.path().to_string(),
            authorization: headers
                .get(header::AUTHORIZATION)
                .and_then(|value| value.to_str().ok())
                .map(str::to_string),
            body,
        });
        shared.script.pop_front()
    };
    let Some(turn) = turn else {
        let error = json!({"error": {"message": "scripted server: the script has no turn left"}});
        return (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(error)).into_response();
    };
    match turn {
        ScriptedTurn::Stream(answer) => stream_response(&answer, &model, request_bytes),
        ScriptedTurn::Sse { events, chunk_delay_ms } => {
            let pieces = events
                .iter()
                .map(|event| match event {
                    Value::String(done) if done == "[DONE]" => sse_event("[DONE]"),
                    other => sse_event(&other.to_string()),
                })
                .map(|bytes| (chunk_delay_ms, bytes))
                .collect();
            body_response("text/event-stream; charset=utf-8", pieces)
        }
        ScriptedTurn::Json { body } => (StatusCode::OK, axum::Json(body)).into_response(),
        ScriptedTurn::Status { status, body, retry_after } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = (status, axum::Json(body)).into_response();
            if let Some(value) = retry_after.and_then(|value| HeaderValue::from_str(&value).ok()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        ScriptedTurn::Hang { ms } => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
        ScriptedTurn::Raw { content_type, pieces } => {
            body_response(&content_type, pieces.into_iter().map(|piece| (0, Bytes::from(piece))).collect())
        }
    }
}

fn sse_event(data: &str) -> Bytes {
    Bytes::from(format!("data: {data}\n\n"))
}

/// A body written piece by piece, each after its delay.
fn body_response(content_type: &str, pieces: Vec<(u64, Bytes)>) -> Response {
    let stream = futures_util::stream::unfold(pieces.into_iter(), |mut pieces| async move {
        let (delay_ms, bytes) = pieces.next()?;
        if delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        }
        Some((Ok::<Bytes, Infallible>(bytes), pieces))
    });
    let mut response = Response::new(Body::from_stream(stream));
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn chunk(model: &str, delta: Value, finish_reason: Option<&str>) -> Value {
    json!({
        "id": "chatcmpl-scripted-0001",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": model,
        "system_fingerprint": null,
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}],
        "usage": null
    })
}

/// Splits text into pieces of `size` characters (never inside a character).
fn split_chars(text: &str, size: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    if size == 0 || chars.is_empty() {
        return vec![text.to_string()];
    }
    chars.chunks(size).map(|piece| piece.iter().collect()).collect()
}

fn stream_response(answer: &StreamedAnswer, model: &str, request_bytes: usize) -> Response {
    let mut events: Vec<String> = Vec::new();
    events.push(chunk(model, json!({"role": "assistant", "content": ""}), None).to_string());
    for piece in &answer.text {
        events.push(chunk(model, json!({"content": piece}), None).to_string());
    }
    let fragment_chars = answer.fragment_chars.unwrap_or(DEFAULT_FRAGMENT_CHARS);
    for (index, call) in answer.tool_calls.iter().enumerate() {
        for (n, fragment) in split_chars(&call.arguments, fragment_chars).into_iter().enumerate() {
            let tool_call = if n == 0 {
                json!({"index": index, "id": call.id, "type": "function",
                       "function": {"name": call.name, "arguments": fragment}})
            } else {
                json!({"index": index, "id": "", "type": "function", "function": {"arguments": fragment}})
            };
            events.push(chunk(model, json!({"content": null, "tool_calls": [tool_call]}), None).to_string());
        }
    }
    let default_finish = if answer.tool_calls.is_empty() { "stop" } else { "tool_calls" };
    let finish = answer.finish_reason.as_deref().unwrap_or(default_finish);
    events.push(chunk(model, json!({"content": null}), Some(finish)).to_string());
    if !answer.omit_usage {
        let answer_bytes: usize = answer.text.iter().map(String::len).sum::<usize>()
            + answer.tool_calls.iter().map(|call| call.arguments.len() + call.name.len()).sum::<usize>();
        let usage = answer.usage.unwrap_or(ScriptedUsage {
            prompt_tokens: (request_bytes / 4) as u64,
            completion_tokens: (answer_bytes / 4 + 1) as u64,
        });
        events.push(
            json!({
                "id": "chatcmpl-scripted-0001",
                "object": "chat.completion.chunk",
                "created": CREATED,
                "model": model,
                "choices": [],
                "usage": {
                    "prompt_tokens": usage.prompt_tokens,
                    "completion_tokens": usage.completion_tokens,
                    "total_tokens": usage.prompt_tokens + usage.completion_tokens
                }
            })
            .to_string(),
        );
    }
    if !answer.omit_done {
        events.push("[DONE]".to_string());
    }

    let mut pieces: Vec<(u64, Bytes)> = Vec::new();
    for (n, event) in events.iter().enumerate() {
        if answer.stall_after_events == Some(n) {
            let stall_ms = answer.stall_ms.unwrap_or(60_000);
            // An empty piece after the stall delay keeps the connection open meanwhile.
            pieces.push((stall_ms, Bytes::new()));
            break;
        }
        let bytes = sse_event(event);
        match answer.split_bytes.filter(|size| *size > 0) {
            Some(size) => {
                for (k, part) in bytes.chunks(size).enumerate() {
                    let delay = if k == 0 { answer.chunk_delay_ms } else { 0 };
                    pieces.push((delay, Bytes::copy_from_slice(part)));
                }
            }
            None => pieces.push((answer.chunk_delay_ms, bytes)),
        }
    }
    body_response("text/event-stream; charset=utf-8", pieces)
}

/// A whole `chat.completion` object.
fn completion_body(text: Option<&str>, calls: &[ScriptedToolCall], finish_reason: &str) -> Value {
    let tool_calls: Vec<Value> = calls
        .iter()
        .map(|call| json!({"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}))
        .collect();
    let mut message = json!({"role": "assistant", "content": text});
    if !tool_calls.is_empty() {
        message["tool_calls"] = Value::Array(tool_calls);
    }
    json!({
        "id": "chatcmpl-scripted-0002",
        "object": "chat.completion",
        "created": CREATED,
        "model": "qwen-plus",
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": 40, "completion_tokens": 12, "total_tokens": 52}
    })
}
