//! The chat-completions wire format: the request this crate sends, and the two answer shapes it
//! reads (an SSE stream of `chat.completion.chunk` objects, or one `chat.completion` JSON object
//! from a server that ignores `stream`). Parsing is lenient where servers differ (Qwen sends
//! `"id": ""` and no name in a tool call's later fragments, some servers send a whole call in one
//! chunk or omit its index, `usage` may be `null` on every chunk) and strict on bounds.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::LlmError;
use crate::quarantine::untrusted_json;

/// Largest answer read from the model server, in bytes, streamed or not: it bounds the memory
/// and time one answer can take, whatever the server sends.
pub const RESPONSE_BYTES_MAX: usize = 1024 * 1024;

/// Most tool calls accepted in one answer. A planner step needs one or two; a model emitting
/// dozens is looping.
pub const TOOL_CALLS_PER_ANSWER_MAX: usize = 8;

/// Largest arguments string of one tool call, in bytes. Commerce arguments are a few ids and
/// quantities.
pub const TOOL_ARGUMENTS_BYTES_MAX: usize = 16 * 1024;

/// Longest tool name or tool-call id accepted from the server, in bytes.
pub const TOOL_IDENTIFIER_BYTES_MAX: usize = 256;

/// Largest request body sent, in bytes: a prompt larger than this is a caller bug (history not
/// trimmed), refused before it costs tokens.
pub const REQUEST_BYTES_MAX: usize = 512 * 1024;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions from Lantern.
    System,
    /// The shopper.
    User,
    /// The model (text, tool calls or both).
    Assistant,
    /// A tool's result, answering one of the assistant's tool calls.
    Tool,
}

/// One message of the conversation sent to the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// Its text (for a tool message, the tool's result).
    pub content: String,
    /// The tool calls an assistant message made; empty otherwise.
    pub tool_calls: Vec<ToolCall>,
    /// For a tool message, the id of the call it answers.
    pub tool_call_id: Option<String>,
}

impl Message {
    /// Lantern's instructions.
    pub fn system(content: impl Into<String>) -> Self {
        Message { role: Role::System, content: content.into(), tool_calls: Vec::new(), tool_call_id: None }
    }

    /// What the shopper wrote.
    pub fn user(content: impl Into<String>) -> Self {
        Message { role: Role::User, content: content.into(), tool_calls: Vec::new(), tool_call_id: None }
    }

    /// The model's earlier answer, with the tool calls it made, to send back before their results.
    pub fn assistant(content: impl Into<String>, tool_calls: Vec<ToolCall>) -> Self {
        Message { role: Role::Assistant, content: content.into(), tool_calls, tool_call_id: None }
    }

    /// A tool's result as given, for text the caller has already framed; prefer
    /// [`Message::tool_result`] for anything holding catalog or shopper text.
    pub fn tool(tool_call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Message {
            role: Role::Tool,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: Some(tool_call_id.into()),
        }
    }

    /// A tool's result as JSON, every string in it passed through
    /// [`quarantine_untrusted`](crate::quarantine_untrusted) first, so catalog text reaches the
    /// model as a JSON string value, never as chat-template markup.
    pub fn tool_result(tool_call_id: impl Into<String>, result: &Value) -> Self {
        Message::tool(tool_call_id, untrusted_json(result).to_string())
    }
}

/// A tool the model may call: a name, what it does, and a JSON Schema for its arguments
/// (checked with [`validate_arguments`](crate::validate_arguments) before the call is run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolSpec {
    /// The function name the model writes (letters, digits, `_`, `-`; at most 64).
    pub name: String,
    /// What the tool does and when to use it, for the model.
    pub description: String,
    /// A JSON Schema (the subset [`validate_arguments`](crate::validate_arguments) knows) for the
    /// arguments object.
    pub parameters_schema: Value,
}

impl ToolSpec {
    /// A tool from its parts.
    pub fn new(name: impl Into<String>, description: impl Into<String>, parameters_schema: Value) -> Self {
        ToolSpec { name: name.into(), description: description.into(), parameters_schema }
    }
}

/// One tool call the model asked for. `arguments_json` is the model's text, unchecked: parse and
/// validate it with [`parse_arguments`](crate::parse_arguments) before acting on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    /// The call's id, to be echoed as the tool message's `tool_call_id` (`call_<index>` when the
    /// server gave none).
    pub id: String,
    /// The tool's name (not yet checked against the tools offered).
    pub name: String,
    /// The arguments as the model wrote them (`{}` when it wrote nothing).
    pub arguments_json: String,
}

/// What one call sends: the conversation and the tools on offer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChatRequest {
    /// The conversation so far, system message first.
    pub messages: Vec<Message>,
    /// The tools the model may call (`tool_choice: "auto"` when any are given).
    pub tools: Vec<ToolSpec>,
}

/// Why the model stopped writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// It finished its answer.
    Stop,
    /// It stopped to have tools called. Some servers (llama.cpp) say `stop` even then: look at
    /// [`ChatAnswer::tool_calls`], not at this.
    ToolCalls,
    /// It hit `max_tokens`: the text, or a tool call's arguments, may be cut off.
    Length,
    /// The server's content filter stopped it.
    ContentFilter,
    /// The server gave another reason, or none.
    Other,
}

impl FinishReason {
    fn from_wire(reason: &str) -> Self {
        match reason {
            "stop" | "eos" => FinishReason::Stop,
            "tool_calls" | "function_call" => FinishReason::ToolCalls,
            "length" => FinishReason::Length,
            "content_filter" => FinishReason::ContentFilter,
            _ => FinishReason::Other,
        }
    }
}

/// Tokens the server says the call used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Tokens of the prompt (messages and tools).
    pub prompt_tokens: u64,
    /// Tokens the model wrote.
    pub completion_tokens: u64,
    /// Their sum, as the server reports it.
    pub total_tokens: u64,
}

/// The model's answer to one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatAnswer {
    /// The text the model wrote (possibly empty when it only called tools). Unchecked: run
    /// [`check_money`](crate::check_money) on it before a shopper sees it.
    pub text: String,
    /// The tools it asked to have called, in order.
    pub tool_calls: Vec<ToolCall>,
    /// Why it stopped.
    pub finish_reason: FinishReason,
    /// What the server says the call used, when it said (`stream_options.include_usage`).
    pub usage: Option<Usage>,
}

// ---------------------------------------------------------------------------------------------
// The request.

#[derive(Serialize)]
struct WireRequest<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<&'static str>,
    stream: bool,
    stream_options: StreamOptions,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: Role,
    /// Always a string: an assistant message with only tool calls sends `""`, which every server
    /// we target accepts (some refuse `null`).
    content: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<WireToolCall<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<&'a str>,
}

#[derive(Serialize)]
struct WireToolCall<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: WireFunctionCall<'a>,
}

#[derive(Serialize)]
struct WireFunctionCall<'a> {
    name: &'a str,
    arguments: &'a str,
}

#[derive(Serialize)]
struct WireTool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: WireFunction<'a>,
}

#[derive(Serialize)]
struct WireFunction<'a> {
    name: &'a str,
    description: &'a str,
    parameters: &'a Value,
}

/// The temperature as the JSON number the wire wants.
#[allow(clippy::float_arithmetic, reason = "a sampling knob, not money; the wire format wants a decimal")]
fn temperature_from_milli(milli: u32) -> f64 {
    f64::from(milli) / 1000.0
}

/// The JSON body for POST `/chat/completions`.
pub(crate) fn request_body(
    model: &str,
    request: &ChatRequest,
    max_tokens: u32,
    temperature_milli: Option<u32>,
) -> Result<Vec<u8>, LlmError> {
    let messages = request
        .messages
        .iter()
        .map(|message| WireMessage {
            role: message.role,
            content: &message.content,
            tool_calls: message
                .tool_calls
                .iter()
                .map(|call| WireToolCall {
                    id: &call.id,
                    kind: "function",
                    function: WireFunctionCall { name: &call.name, arguments: &call.arguments_json },
                })
                .collect(),
            tool_call_id: message.tool_call_id.as_deref(),
        })
        .collect();
    let tools: Vec<WireTool<'_>> = request
        .tools
        .iter()
        .map(|tool| WireTool {
            kind: "function",
            function: WireFunction {
                name: &tool.name,
                description: &tool.description,
                parameters: &tool.parameters_schema,
            },
        })
        .collect();
    let body = WireRequest {
        model,
        messages,
        tool_choice: if tools.is_empty() { None } else { Some("auto") },
        tools,
        stream: true,
        stream_options: StreamOptions { include_usage: true },
        max_tokens,
        temperature: temperature_milli.map(temperature_from_milli),
    };
    let bytes = serde_json::to_vec(&body)
        .map_err(|error| LlmError::Protocol { detail: format!("could not encode the request: {error}") })?;
    if bytes.len() > REQUEST_BYTES_MAX {
        return Err(LlmError::TooLarge { what: "request bytes", limit: REQUEST_BYTES_MAX });
    }
    Ok(bytes)
}

// ---------------------------------------------------------------------------------------------
// Server-sent events.

/// Splits a byte stream into SSE events' `data` payloads. Bytes arrive in arbitrary pieces (a
/// line, or a UTF-8 character, may be split between two reads), so whole lines are buffered.
#[derive(Debug, Default)]
pub(crate) struct SseDecoder {
    line: Vec<u8>,
    data: String,
    has_data: bool,
}

impl SseDecoder {
    /// Feeds bytes, appending every completed event's data to `events`.
    pub(crate) fn push(&mut self, bytes: &[u8], events: &mut Vec<String>) -> Result<(), LlmError> {
        for &byte in bytes {
            if byte == b'\n' {
                let line = std::mem::take(&mut self.line);
                self.line_done(&line, events)?;
            } else {
                self.line.push(byte);
            }
        }
        Ok(())
    }

    /// The stream ended: an event not followed by a blank line still counts.
    pub(crate) fn finish(&mut self, events: &mut Vec<String>) -> Result<(), LlmError> {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.line_done(&line, events)?;
        }
        self.dispatch(events);
        Ok(())
    }

    fn line_done(&mut self, line: &[u8], events: &mut Vec<String>) -> Result<(), LlmError> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            self.dispatch(events);
            return Ok(());
        }
        let line = std::str::from_utf8(line)
            .map_err(|_| LlmError::Protocol { detail: "an event line is not UTF-8".to_string() })?;
        // Comments (": keep-alive") and the other fields (event:, id:, retry:) carry nothing we use.
        if let Some(data) = line.strip_prefix("data:") {
            let data = data.strip_prefix(' ').unwrap_or(data);
            if self.has_data {
                self.data.push('\n');
            }
            self.data.push_str(data);
            self.has_data = true;
        }
        Ok(())
    }

    fn dispatch(&mut self, events: &mut Vec<String>) {
        if self.has_data {
            events.push(std::mem::take(&mut self.data));
            self.has_data = false;
        }
    }
}

#[derive(Deserialize)]
struct WireChunk {
    #[serde(default)]
    choices: Vec<WireChunkChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct WireChunkChoice {
    #[serde(default)]
    index: u32,
    #[serde(default)]
    delta: Option<WireDelta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireDelta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<WireDeltaToolCall>>,
}

#[derive(Deserialize)]
struct WireDeltaToolCall {
    #[serde(default)]
    index: Option<u32>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<WireDeltaFunction>,
}

#[derive(Deserialize)]
struct WireDeltaFunction {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    #[serde(default)]
    total_tokens: u64,
}

impl WireUsage {
    fn into_usage(self) -> Usage {
        let total = if self.total_tokens == 0 {
            self.prompt_tokens.saturating_add(self.completion_tokens)
        } else {
            self.total_tokens
        };
        Usage {
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            total_tokens: total,
        }
    }
}

#[derive(Debug, Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

/// Builds a [`ChatAnswer`] from streamed chunks, enforcing the per-answer limits as it goes.
#[derive(Debug, Default)]
pub(crate) struct Accumulator {
    text: String,
    calls: Vec<PartialCall>,
    finish_reason: Option<FinishReason>,
    usage: Option<Usage>,
    done: bool,
}

fn check_identifier(what: &'static str, value: &str) -> Result<(), LlmError> {
    if value.len() > TOOL_IDENTIFIER_BYTES_MAX {
        return Err(LlmError::TooLarge { what, limit: TOOL_IDENTIFIER_BYTES_MAX });
    }
    Ok(())
}

fn server_error(error: &Value) -> LlmError {
    let message =
        error.get("message").and_then(Value::as_str).map_or_else(|| error.to_string(), str::to_string);
    LlmError::Unavailable { detail: format!("the server reported an error: {}", excerpt(&message)) }
}

/// The start of a server's text, for an error message: bounded, on a character boundary.
pub(crate) fn excerpt(text: &str) -> String {
    const EXCERPT_CHARS_MAX: usize = 200;
    let mut out: String = text.chars().take(EXCERPT_CHARS_MAX).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

impl Accumulator {
    /// Whether `data: [DONE]` was seen.
    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    /// Applies one event's data, giving new text to `on_text` at once.
    pub(crate) fn apply_event(&mut self, data: &str, on_text: &mut impl FnMut(&str)) -> Result<(), LlmError> {
        if data.trim() == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        let chunk: WireChunk = serde_json::from_str(data).map_err(|error| LlmError::Protocol {
            detail: format!("a streamed chunk is not a chat.completion.chunk: {error}"),
        })?;
        if let Some(error) = chunk.error.filter(|error| !error.is_null()) {
            return Err(server_error(&error));
        }
        if let Some(usage) = chunk.usage {
            self.usage = Some(usage.into_usage());
        }
        // One answer is asked for (no `n`), so choices other than 0 are not ours to read.
        for choice in chunk.choices.into_iter().filter(|choice| choice.index == 0) {
            if let Some(delta) = choice.delta {
                if let Some(content) = delta.content.filter(|content| !content.is_empty()) {
                    self.text.push_str(&content);
                    on_text(&content);
                }
                for fragment in delta.tool_calls.unwrap_or_default() {
                    self.apply_tool_fragment(fragment)?;
                }
            }
            if let Some(reason) = choice.finish_reason {
                self.finish_reason = Some(FinishReason::from_wire(&reason));
            }
        }
        Ok(())
    }

    fn apply_tool_fragment(&mut self, fragment: WireDeltaToolCall) -> Result<(), LlmError> {
        let id = fragment.id.unwrap_or_default();
        let index = match fragment.index {
            Some(index) => usize::try_from(index).unwrap_or(usize::MAX),
            // No index (some servers send whole calls): a new id starts a new call, anything else
            // continues the last one.
            None => {
                let continues_last = self.calls.last().is_some_and(|last| id.is_empty() || last.id == id);
                if continues_last { self.calls.len().saturating_sub(1) } else { self.calls.len() }
            }
        };
        if index >= TOOL_CALLS_PER_ANSWER_MAX {
            return Err(LlmError::TooLarge {
                what: "tool calls per answer",
                limit: TOOL_CALLS_PER_ANSWER_MAX,
            });
        }
        while self.calls.len() <= index {
            self.calls.push(PartialCall::default());
        }
        let Some(call) = self.calls.get_mut(index) else {
            return Err(LlmError::Protocol { detail: "a tool call index could not be placed".to_string() });
        };
        // Qwen repeats `"id": ""` on later fragments: the first non-empty id wins.
        if call.id.is_empty() && !id.is_empty() {
            check_identifier("tool call id bytes", &id)?;
            call.id = id;
        }
        if let Some(function) = fragment.function {
            if let Some(name) = function.name.filter(|name| !name.is_empty())
                && call.name.is_empty()
            {
                check_identifier("tool name bytes", &name)?;
                call.name = name;
            }
            if let Some(arguments) = function.arguments {
                if call.arguments.len().saturating_add(arguments.len()) > TOOL_ARGUMENTS_BYTES_MAX {
                    return Err(LlmError::TooLarge {
                        what: "tool call arguments bytes",
                        limit: TOOL_ARGUMENTS_BYTES_MAX,
                    });
                }
                call.arguments.push_str(&arguments);
            }
        }
        Ok(())
    }

    /// The answer, once the stream has ended.
    pub(crate) fn into_answer(self) -> Result<ChatAnswer, LlmError> {
        if !self.done && self.finish_reason.is_none() {
            return Err(LlmError::Protocol {
                detail: "the stream ended before the answer finished (no finish_reason, no [DONE])"
                    .to_string(),
            });
        }
        let tool_calls = finish_calls(self.calls)?;
        let finish_reason = self.finish_reason.unwrap_or(FinishReason::Other);
        Ok(ChatAnswer { text: self.text, tool_calls, finish_reason, usage: self.usage })
    }
}

fn finish_calls(calls: Vec<PartialCall>) -> Result<Vec<ToolCall>, LlmError> {
    calls
        .into_iter()
        .enumerate()
        .map(|(index, call)| {
            if call.name.is_empty() {
                return Err(LlmError::Protocol { detail: format!("tool call {index} has no function name") });
            }
            let id = if call.id.is_empty() { format!("call_{index}") } else { call.id };
            let arguments_json =
                if call.arguments.trim().is_empty() { "{}".to_string() } else { call.arguments };
            Ok(ToolCall { id, name: call.name, arguments_json })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// A whole (non-streamed) answer.

#[derive(Deserialize)]
struct WireCompletion {
    #[serde(default)]
    choices: Vec<WireCompletionChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct WireCompletionChoice {
    #[serde(default)]
    index: u32,
    message: WireCompletionMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireCompletionMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<WireCompletionToolCall>>,
}

#[derive(Deserialize)]
struct WireCompletionToolCall {
    #[serde(default)]
    id: Option<String>,
    function: WireCompletionFunction,
}

#[derive(Deserialize)]
struct WireCompletionFunction {
    name: String,
    /// A string in the OpenAI format; some servers write the object itself.
    #[serde(default)]
    arguments: Value,
}

/// Parses a `chat.completion` object, giving its text to `on_text` in one piece.
pub(crate) fn parse_completion(body: &[u8], on_text: &mut impl FnMut(&str)) -> Result<ChatAnswer, LlmError> {
    let completion: WireCompletion = serde_json::from_slice(body).map_err(|error| LlmError::Protocol {
        detail: format!("the JSON answer is not a chat.completion: {error}"),
    })?;
    if let Some(error) = completion.error.filter(|error| !error.is_null()) {
        return Err(server_error(&error));
    }
    let Some(choice) = completion.choices.into_iter().find(|choice| choice.index == 0) else {
        return Err(LlmError::Protocol { detail: "the JSON answer has no choices".to_string() });
    };
    let wire_calls = choice.message.tool_calls.unwrap_or_default();
    if wire_calls.len() > TOOL_CALLS_PER_ANSWER_MAX {
        return Err(LlmError::TooLarge { what: "tool calls per answer", limit: TOOL_CALLS_PER_ANSWER_MAX });
    }
    let mut calls = Vec::with_capacity(wire_calls.len());
    for call in wire_calls {
        let id = call.id.unwrap_or_default();
        check_identifier("tool call id bytes", &id)?;
        check_identifier("tool name bytes", &call.function.name)?;
        let arguments = match call.function.arguments {
            Value::String(text) => text,
            Value::Null => String::new(),
            other => other.to_string(),
        };
        if arguments.len() > TOOL_ARGUMENTS_BYTES_MAX {
            return Err(LlmError::TooLarge {
                what: "tool call arguments bytes",
                limit: TOOL_ARGUMENTS_BYTES_MAX,
            });
        }
        calls.push(PartialCall { id, name: call.function.name, arguments });
    }
    let text = choice.message.content.unwrap_or_default();
    if !text.is_empty() {
        on_text(&text);
    }
    Ok(ChatAnswer {
        text,
        tool_calls: finish_calls(calls)?,
        finish_reason: choice.finish_reason.as_deref().map_or(FinishReason::Other, FinishReason::from_wire),
        usage: completion.usage.map(WireUsage::into_usage),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn decode_all(pieces: &[&[u8]]) -> Vec<String> {
        let mut decoder = SseDecoder::default();
        let mut events = Vec::new();
        for piece in pieces {
            decoder.push(piece, &mut events).unwrap();
        }
        decoder.finish(&mut events).unwrap();
        events
    }

    #[test]
    fn events_survive_any_split_of_the_bytes() {
        let stream = "data: {\"a\":\"珍珠\"}\r\n\r\n: keep-alive\n\nevent: x\ndata: [DONE]\n\n".as_bytes();
        for cut in 0..stream.len() {
            let (left, right) = stream.split_at(cut);
            assert_eq!(
                decode_all(&[left, right]),
                vec!["{\"a\":\"珍珠\"}".to_string(), "[DONE]".to_string()]
            );
        }
    }

    #[test]
    fn a_last_event_without_blank_line_counts() {
        assert_eq!(decode_all(&[b"data: [DONE]"]), vec!["[DONE]".to_string()]);
    }

    #[test]
    fn fragments_without_index_are_placed_by_id() {
        let mut accumulator = Accumulator::default();
        let mut ignore = |_: &str| {};
        for data in [
            r#"{"choices":[{"delta":{"tool_calls":[{"id":"a","function":{"name":"f","arguments":"{\"x\":"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"1}"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"id":"b","function":{"name":"g","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}"#,
        ] {
            accumulator.apply_event(data, &mut ignore).unwrap();
        }
        let answer = accumulator.into_answer().unwrap();
        assert_eq!(answer.tool_calls.len(), 2);
        assert_eq!(answer.tool_calls[0].arguments_json, "{\"x\":1}");
        assert_eq!(answer.tool_calls[1].name, "g");
    }

    #[test]
    fn a_huge_index_is_refused_without_allocating() {
        let mut accumulator = Accumulator::default();
        let error = accumulator
            .apply_event(
                r#"{"choices":[{"delta":{"tool_calls":[{"index":4000000000,"function":{"name":"f"}}]}}]}"#,
                &mut |_| {},
            )
            .unwrap_err();
        assert_eq!(error.kind(), crate::ErrorKind::TooLarge);
    }

    #[test]
    fn a_call_without_a_name_is_a_protocol_error() {
        let mut accumulator = Accumulator::default();
        accumulator
            .apply_event(r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"x"}]},"finish_reason":"tool_calls"}]}"#, &mut |_| {})
            .unwrap();
        assert_eq!(accumulator.into_answer().unwrap_err().kind(), crate::ErrorKind::Protocol);
    }

    #[test]
    fn object_arguments_in_a_whole_answer_are_accepted() {
        let body = br#"{"choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"function":{"name":"f","arguments":{"x":1}}}]},"finish_reason":"tool_calls"}]}"#;
        let answer = parse_completion(body, &mut |_| {}).unwrap();
        assert_eq!(answer.tool_calls[0].id, "call_0");
        assert_eq!(answer.tool_calls[0].arguments_json, "{\"x\":1}");
        assert_eq!(answer.finish_reason, FinishReason::ToolCalls);
    }

    #[test]
    fn the_request_has_the_openai_shape() {
        let request = ChatRequest {
            messages: vec![
                Message::system("s"),
                Message::user("u"),
                Message::assistant(
                    "",
                    vec![ToolCall { id: "c1".into(), name: "f".into(), arguments_json: "{}".into() }],
                ),
                Message::tool("c1", "{\"ok\":true}"),
            ],
            tools: vec![ToolSpec::new("f", "does f", serde_json::json!({"type":"object"}))],
        };
        let body: Value =
            serde_json::from_slice(&request_body("m", &request, 64, Some(200)).unwrap()).unwrap();
        assert_eq!(body["model"], "m");
        assert_eq!(body["stream"], true);
        assert_eq!(body["stream_options"]["include_usage"], true);
        assert_eq!(body["tool_choice"], "auto");
        assert_eq!(body["max_tokens"], 64);
        assert_eq!(body["temperature"], 0.2);
        assert_eq!(body["tools"][0]["type"], "function");
        assert_eq!(body["tools"][0]["function"]["parameters"]["type"], "object");
        assert_eq!(body["messages"][2]["tool_calls"][0]["function"]["name"], "f");
        assert_eq!(body["messages"][2]["tool_calls"][0]["type"], "function");
        assert_eq!(body["messages"][3]["role"], "tool");
        assert_eq!(body["messages"][3]["tool_call_id"], "c1");
        assert!(body["messages"][1].get("tool_calls").is_none());
    }

    #[test]
    fn without_tools_no_tool_choice_is_sent() {
        let request = ChatRequest { messages: vec![Message::user("hi")], tools: vec![] };
        let body: Value = serde_json::from_slice(&request_body("m", &request, 64, None).unwrap()).unwrap();
        assert!(
            body.get("tools").is_none()
                && body.get("tool_choice").is_none()
                && body.get("temperature").is_none()
        );
    }
}
