//! Tests of the client over real sockets, against the scripted OpenAI-compatible server
//! (`src/scripted.rs`, included here as a module so the tests need no cargo feature).
//!
//! - `wire`: streamed text in pieces, tool calls split mid-JSON and reassembled, the recorded
//!   Qwen transcript, non-streamed answers, what the client sends, malformed answers, oversized
//!   answers.
//! - `bounds`: 429, 5xx and refused connections, the deadline (hang and mid-stream stall), the
//!   circuit breaker (open, half-open probe, reopen), saturation, the token budget, stats.
//! - `tls`: an `https://` endpoint with a certificate from a private CA: trusted through
//!   `ca_cert_file`, refused without it.
//! - `tool_loop`: a planner loop as the agent writes it: tool results passed back with their
//!   `tool_call_id`, malformed arguments refused and explained to the model, injected
//!   instructions in catalog text, money figures checked against tool results, bounded steps.

#![allow(clippy::unwrap_used)]

// The server is the library's `scripted` module, compiled here directly; not every helper is
// used by these tests.
#[allow(dead_code)]
#[path = "../../src/scripted.rs"]
mod scripted;

mod bounds;
mod support;
mod tls;
mod tool_loop;
mod wire;
