//! Lantern's client for the optional LLM planner: any OpenAI-compatible chat-completions
//! endpoint with tool calling and streaming (Qwen through its compatible mode, vLLM, llama.cpp
//! server, Ollama), with every bound named, plus the guards the agent puts around what the model
//! reads and writes.
//!
//! This is the only Lantern crate that speaks HTTP *outward*. It is generic: the commerce tools,
//! the dialog and the tool loop live in `lantern-agent`, which decides what to ask and what to do
//! with the answer. The planner is an improvement, never a dependency: every [`LlmError`] means
//! "answer with the fast path plus a clarifying question" ([`LlmError::should_fall_back`]).
//!
//! # One call
//!
//! [`LlmClient::complete`] posts a [`ChatRequest`] (messages, [`ToolSpec`]s) to
//! `{base_url}/chat/completions` with `stream: true`, gives streamed text to a callback as it
//! arrives and returns a [`ChatAnswer`] (text, reassembled [`ToolCall`]s, finish reason, usage).
//! A server that ignores `stream` and answers `application/json` is read too.
//!
//! # Bounds
//!
//! Configured in [`LlmConfig`] (validated, with defaults): calls in flight
//! (`concurrency_max`; a call that finds no free slot fails at once with
//! [`LlmError::Saturated`], it never waits), tokens per minute (a token bucket charged with an
//! estimate before the call and the reported usage after; [`LlmError::OverBudget`]), a deadline
//! over the whole call including the stream ([`LlmError::Timeout`]), a circuit breaker
//! (consecutive failures open it for `breaker_open_ms`, then one probe decides;
//! [`LlmError::CircuitOpen`]), `max_tokens` per call, and the tool rounds per utterance for the
//! caller's loop. Fixed in code: [`RESPONSE_BYTES_MAX`], [`TOOL_CALLS_PER_ANSWER_MAX`],
//! [`TOOL_ARGUMENTS_BYTES_MAX`], [`TOOL_IDENTIFIER_BYTES_MAX`], [`REQUEST_BYTES_MAX`],
//! [`ARGUMENTS_DEPTH_MAX`], [`UNTRUSTED_TEXT_CHARS_MAX`]. HTTP 429 is
//! [`LlmError::RateLimited`] and 5xx or a broken connection [`LlmError::Unavailable`]; both count
//! towards the breaker. [`LlmClient::stats`] gives the counters for metrics.
//!
//! # Guards
//!
//! - [`parse_arguments`] / [`validate_arguments`]: a tool call's arguments are parsed and
//!   checked against the tool's JSON Schema (a documented subset) before anything acts on them;
//!   the [`ArgumentError`] names the path and is worded for the model, to try again.
//! - [`check_money`]: every money figure in model-written text ([`money_figures`], English and
//!   Chinese, documented in [`money`]) must equal an amount a tool returned
//!   ([`fen_amounts_in_json`]), or the agent sends its template reply instead.
//! - [`quarantine_untrusted`] / [`Message::tool_result`]: catalog and tool text enters the prompt
//!   only as JSON string values inside tool messages, with chat-template markers defused; the
//!   system prompt says so ([`TOOL_RESULTS_ARE_DATA`]). Catalog text is data, never instructions;
//!   the real defence is that arguments are validated and orders need the shopper's confirmation.
//!
//! # Transport
//!
//! `http://` for a model on loopback or the local network (vLLM, Ollama, llama.cpp), `https://`
//! for a hosted one (Qwen's compatible mode on DashScope): TLS is rustls with the ring provider,
//! verified against the platform's roots plus [`LlmConfig::ca_cert_file`]. Proxy variables in the
//! environment are ignored. The API key is read by the caller from the variable named in
//! [`LlmConfig::api_key_env`] and never printed.
//!
//! # Testing
//!
//! The `scripted` feature exports `scripted`: a real HTTP server on loopback that replays
//! scripted or recorded Qwen-style transcripts (streams split mid-JSON, whole JSON answers, 429,
//! 500, hangs, oversized and malformed answers) and records the requests it received.

mod client;
mod config;
mod error;
mod limits;
pub mod money;
mod quarantine;
mod schema;
mod wire;

#[cfg(feature = "scripted")]
pub mod scripted;

pub use client::{LlmClient, LlmStats, PROMPT_BYTES_PER_TOKEN, install_tls_provider};
pub use config::{
    API_KEY_ENV_BYTES_MAX, BASE_URL_BYTES_MAX, BREAKER_FAILURES_LIMIT_MAX, BREAKER_OPEN_MS_MAX,
    CONCURRENCY_LIMIT_MAX, ConfigError, DEADLINE_MS_MAX, DEADLINE_MS_MIN, LlmConfig,
    MAX_TOKENS_PER_CALL_LIMIT, MODEL_NAME_BYTES_MAX, TEMPERATURE_MILLI_MAX, TOKENS_PER_MINUTE_LIMIT_MAX,
    TOOL_STEPS_LIMIT_MAX,
};
pub use error::{ErrorKind, LlmError};
pub use limits::BreakerState;
pub use money::{
    MoneyMention, MoneyMismatch, check_money, fen_amounts_in_json, money_figures, money_mentions,
};
pub use quarantine::{TOOL_RESULTS_ARE_DATA, UNTRUSTED_TEXT_CHARS_MAX, quarantine_untrusted, untrusted_json};
pub use schema::{ARGUMENTS_DEPTH_MAX, ArgumentError, parse_arguments, validate_arguments};
pub use wire::{
    ChatAnswer, ChatRequest, FinishReason, Message, REQUEST_BYTES_MAX, RESPONSE_BYTES_MAX, Role,
    TOOL_ARGUMENTS_BYTES_MAX, TOOL_CALLS_PER_ANSWER_MAX, TOOL_IDENTIFIER_BYTES_MAX, ToolCall, ToolSpec,
    Usage,
};
