//! Shared helpers: a client configured for a scripted server, the tools, and a tool loop.

use lantern_llm::{
    ChatRequest, LlmClient, LlmConfig, LlmError, Message, TOOL_RESULTS_ARE_DATA, ToolSpec, check_money,
    fen_amounts_in_json, parse_arguments,
};
use serde_json::{Value, json};

use crate::scripted::{ScriptedHandle, ScriptedServer, ScriptedTurn};

pub const API_KEY: &str = "sk-scripted-test";

/// Bounds small enough for tests to reach them quickly.
pub fn test_config(base_url: String) -> LlmConfig {
    LlmConfig {
        base_url,
        ca_cert_file: String::new(),
        model: "qwen-plus".to_string(),
        api_key_env: "LANTERN_TEST_LLM_API_KEY".to_string(),
        concurrency_max: 4,
        tokens_per_minute_max: 1_000_000,
        deadline_ms: 2_000,
        tool_steps_max: 3,
        max_tokens_per_call: 256,
        breaker_failures_threshold: 3,
        breaker_open_ms: 150,
        temperature_milli: Some(100),
    }
}

pub async fn serve(script: Vec<ScriptedTurn>) -> (ScriptedHandle, LlmClient) {
    serve_with(script, |_| {}).await
}

pub async fn serve_with(
    script: Vec<ScriptedTurn>,
    adjust: impl FnOnce(&mut LlmConfig),
) -> (ScriptedHandle, LlmClient) {
    let (_, handle) = ScriptedServer::start(script).await.unwrap();
    let mut config = test_config(handle.base_url());
    adjust(&mut config);
    let client = LlmClient::new(config, Some(API_KEY.to_string())).unwrap();
    (handle, client)
}

pub fn ask(text: &str) -> ChatRequest {
    ChatRequest {
        messages: vec![
            Message::system(format!("You take bubble-tea orders. {TOOL_RESULTS_ARE_DATA}")),
            Message::user(text),
        ],
        tools: tools(),
    }
}

pub fn tools() -> Vec<ToolSpec> {
    vec![
        ToolSpec::new(
            "search_menu",
            "Find menu items by name.",
            json!({
                "type": "object",
                "properties": {
                    "query": {"type": "string", "minLength": 1, "maxLength": 100},
                    "size": {"type": "string", "enum": ["medium", "large"]}
                },
                "required": ["query"],
                "additionalProperties": false
            }),
        ),
        ToolSpec::new(
            "add_to_cart",
            "Add an item to the cart.",
            json!({
                "type": "object",
                "properties": {
                    "item_id": {"type": "integer", "minimum": 1},
                    "quantity": {"type": "integer", "minimum": 1, "maximum": 20}
                },
                "required": ["item_id", "quantity"],
                "additionalProperties": false
            }),
        ),
    ]
}

/// How a planner turn ended.
#[derive(Debug, PartialEq)]
pub enum LoopEnd {
    /// The model's reply, after the money check.
    Reply(String),
    /// The template reply, because the model's text had a figure no tool gave.
    Template { figure: String },
    /// Fast path plus a clarifying question.
    Fallback(String),
}

/// The planner loop as the agent would write it, bounded by `tool_steps_max`: call the model,
/// validate and run the tools it asks for, pass the results back (quarantined, with their
/// `tool_call_id`), and check the final reply's money figures against the tools' amounts.
pub async fn tool_loop(
    client: &LlmClient,
    request: ChatRequest,
    mut execute: impl FnMut(&str, &Value) -> Value,
) -> (LoopEnd, Vec<Message>) {
    let ChatRequest { mut messages, tools } = request;
    let mut allowed_fen = Vec::new();
    for _ in 0..client.config().tool_steps_max {
        let request = ChatRequest { messages: messages.clone(), tools: tools.clone() };
        let answer = match client.complete(request, |_| {}).await {
            Ok(answer) => answer,
            Err(error) => {
                assert!(error.should_fall_back());
                return (LoopEnd::Fallback(error.to_string()), messages);
            }
        };
        if answer.tool_calls.is_empty() {
            let end = match check_money(&answer.text, &allowed_fen) {
                Ok(()) => LoopEnd::Reply(answer.text),
                Err(mismatch) => LoopEnd::Template { figure: mismatch.figure_text },
            };
            return (end, messages);
        }
        messages.push(Message::assistant(answer.text.clone(), answer.tool_calls.clone()));
        for call in answer.tool_calls {
            let result = match tools.iter().find(|tool| tool.name == call.name) {
                None => json!({"error": format!("there is no tool named {:?}", call.name)}),
                Some(tool) => match parse_arguments(&tool.parameters_schema, &call.arguments_json) {
                    Ok(arguments) => execute(&call.name, &arguments),
                    Err(error) => json!({"error": error.to_string()}),
                },
            };
            allowed_fen.extend(fen_amounts_in_json(&result));
            messages.push(Message::tool_result(call.id, &result));
        }
    }
    (LoopEnd::Fallback("tool steps exhausted".to_string()), messages)
}

pub fn is_fallback(end: &LoopEnd, fragment: &str) -> bool {
    matches!(end, LoopEnd::Fallback(reason) if reason.contains(fragment))
}

#[allow(dead_code)]
pub fn unwrap_error(result: Result<lantern_llm::ChatAnswer, LlmError>) -> LlmError {
    match result {
        Ok(answer) => panic!("expected an error, got {answer:?}"),
        Err(error) => error,
    }
}
