//! The wire format over a real socket.

use lantern_llm::{
    ErrorKind, FinishReason, LlmError, Message, RESPONSE_BYTES_MAX, TOOL_CALLS_PER_ANSWER_MAX,
    parse_arguments,
};
use serde_json::json;

use crate::scripted::{ScriptedToolCall, ScriptedTurn, StreamedAnswer};
use crate::support::{API_KEY, ask, serve, tools, unwrap_error};

#[tokio::test]
async fn streamed_text_arrives_in_pieces() {
    let pieces = ["珍珠奶茶", "有中杯和", "大杯。"];
    let turn = ScriptedTurn::Stream(StreamedAnswer {
        text: pieces.iter().map(|piece| piece.to_string()).collect(),
        chunk_delay_ms: 5,
        ..StreamedAnswer::default()
    });
    let (_server, client) = serve(vec![turn]).await;
    let mut seen = Vec::new();
    let answer = client.complete(ask("有什么奶茶"), |piece| seen.push(piece.to_string())).await.unwrap();
    assert_eq!(seen, pieces);
    assert_eq!(answer.text, pieces.concat());
    assert_eq!(answer.finish_reason, FinishReason::Stop);
    assert!(answer.tool_calls.is_empty());
    assert!(answer.usage.is_some_and(|usage| usage.total_tokens > 0));
}

#[tokio::test]
async fn the_request_is_what_an_openai_server_expects() {
    let (server, client) = serve(vec![ScriptedTurn::text(&["ok"])]).await;
    client.complete(ask("hi"), |_| {}).await.unwrap();
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.path, "/v1/chat/completions");
    assert_eq!(request.authorization.as_deref(), Some(format!("Bearer {API_KEY}").as_str()));
    let body = &request.body;
    assert_eq!(body["model"], "qwen-plus");
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    assert_eq!(body["tool_choice"], "auto");
    assert_eq!(body["max_tokens"], 256);
    assert_eq!(body["temperature"], 0.1);
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["messages"][1], json!({"role": "user", "content": "hi"}));
    assert_eq!(body["tools"].as_array().map(Vec::len), Some(tools().len()));
    assert_eq!(body["tools"][0]["type"], "function");
    assert_eq!(body["tools"][0]["function"]["name"], "search_menu");
    assert_eq!(body["tools"][0]["function"]["parameters"]["required"], json!(["query"]));
}

#[tokio::test]
async fn a_tool_call_split_mid_json_is_reassembled() {
    let arguments = r#"{"item_id": 7, "quantity": 2}"#;
    let turn = ScriptedTurn::Stream(StreamedAnswer {
        text: vec!["好的，".to_string()],
        tool_calls: vec![
            ScriptedToolCall {
                id: "call_a1".into(),
                name: "add_to_cart".into(),
                arguments: arguments.into(),
            },
            ScriptedToolCall {
                id: "call_b2".into(),
                name: "search_menu".into(),
                arguments: r#"{"query": "芋泥波波"}"#.into(),
            },
        ],
        fragment_chars: Some(4),
        // Every event is also split across network writes, mid-line and mid-character.
        split_bytes: Some(5),
        ..StreamedAnswer::default()
    });
    let (_server, client) = serve(vec![turn]).await;
    let mut text = String::new();
    let answer = client.complete(ask("两杯7号"), |piece| text.push_str(piece)).await.unwrap();
    assert_eq!(text, "好的，");
    assert_eq!(answer.finish_reason, FinishReason::ToolCalls);
    assert_eq!(answer.tool_calls.len(), 2);
    assert_eq!(answer.tool_calls[0].id, "call_a1");
    assert_eq!(answer.tool_calls[0].name, "add_to_cart");
    assert_eq!(answer.tool_calls[0].arguments_json, arguments);
    assert_eq!(answer.tool_calls[1].arguments_json, r#"{"query": "芋泥波波"}"#);
    let schema = &tools()[1].parameters_schema;
    assert_eq!(parse_arguments(schema, &answer.tool_calls[0].arguments_json).unwrap()["quantity"], 2);
}

#[tokio::test]
async fn a_whole_call_in_one_chunk_is_accepted() {
    let turn = ScriptedTurn::Stream(StreamedAnswer {
        tool_calls: vec![ScriptedToolCall {
            id: "c".into(),
            name: "search_menu".into(),
            arguments: "{\"query\":\"tea\"}".into(),
        }],
        fragment_chars: Some(0),
        // llama.cpp says "stop" even when it calls a tool.
        finish_reason: Some("stop".into()),
        ..StreamedAnswer::default()
    });
    let (_server, client) = serve(vec![turn]).await;
    let answer = client.complete(ask("tea"), |_| {}).await.unwrap();
    assert_eq!(answer.tool_calls[0].arguments_json, "{\"query\":\"tea\"}");
    assert_eq!(answer.finish_reason, FinishReason::Stop);
}

#[tokio::test]
async fn the_recorded_qwen_transcript_replays() {
    let script =
        ScriptedTurn::from_fixture(include_str!("../fixtures/qwen_tool_call_transcript.json")).unwrap();
    let (_server, client) = serve(script).await;
    let answer = client.complete(ask("我要一杯大杯珍珠奶茶"), |_| {}).await.unwrap();
    assert_eq!(answer.tool_calls.len(), 1);
    let call = &answer.tool_calls[0];
    assert_eq!(call.id, "call_4f0e6a3b9c2d4e1fa8b7c6d5");
    assert_eq!(call.name, "search_menu");
    assert_eq!(call.arguments_json, r#"{"query": "珍珠奶茶", "size": "large"}"#);
    assert_eq!(answer.finish_reason, FinishReason::ToolCalls);
    assert_eq!(answer.usage.map(|usage| usage.total_tokens), Some(436));
    let answer = client.complete(ask("我要一杯大杯珍珠奶茶"), |_| {}).await.unwrap();
    assert_eq!(answer.text, "找到了：珍珠奶茶（大杯），￥16.00。要加入购物车吗？");
    assert_eq!(answer.finish_reason, FinishReason::Stop);
}

#[tokio::test]
async fn a_non_streamed_json_answer_is_accepted() {
    let calls = [ScriptedToolCall {
        id: "call_j".into(),
        name: "add_to_cart".into(),
        arguments: "{\"item_id\":1,\"quantity\":1}".into(),
    }];
    let (_server, client) =
        serve(vec![ScriptedTurn::json_text("Which size?"), ScriptedTurn::json_tool_calls(&calls)]).await;
    let mut seen = Vec::new();
    let answer = client.complete(ask("tea"), |piece| seen.push(piece.to_string())).await.unwrap();
    assert_eq!(answer.text, "Which size?");
    assert_eq!(seen, ["Which size?"]);
    assert_eq!(answer.usage.map(|usage| usage.total_tokens), Some(52));
    let answer = client.complete(ask("tea"), |_| {}).await.unwrap();
    assert_eq!(answer.tool_calls[0].id, "call_j");
    assert_eq!(answer.finish_reason, FinishReason::ToolCalls);
}

#[tokio::test]
async fn a_stream_without_usage_or_done_still_answers() {
    let turn = ScriptedTurn::Stream(StreamedAnswer {
        text: vec!["hi".into()],
        omit_usage: true,
        omit_done: true,
        ..StreamedAnswer::default()
    });
    let (_server, client) = serve(vec![turn]).await;
    let answer = client.complete(ask("hi"), |_| {}).await.unwrap();
    assert_eq!((answer.text.as_str(), answer.usage), ("hi", None));
}

#[tokio::test]
async fn tool_results_go_back_with_their_call_id() {
    let (server, client) = serve(vec![ScriptedTurn::text(&["ok"])]).await;
    let mut request = ask("tea");
    let call = lantern_llm::ToolCall {
        id: "call_x".into(),
        name: "search_menu".into(),
        arguments_json: "{\"query\":\"tea\"}".into(),
    };
    request.messages.push(Message::assistant("", vec![call]));
    request.messages.push(Message::tool_result("call_x", &json!({"items": []})));
    client.complete(request, |_| {}).await.unwrap();
    let body = &server.requests()[0].body;
    assert_eq!(body["messages"][2]["role"], "assistant");
    assert_eq!(body["messages"][2]["tool_calls"][0]["id"], "call_x");
    assert_eq!(body["messages"][2]["tool_calls"][0]["function"]["arguments"], "{\"query\":\"tea\"}");
    assert_eq!(
        body["messages"][3],
        json!({"role": "tool", "tool_call_id": "call_x", "content": "{\"items\":[]}"})
    );
}

#[tokio::test]
async fn an_oversized_stream_is_refused() {
    let huge = "奶".repeat(RESPONSE_BYTES_MAX / 3 + 10);
    let event = json!({"choices": [{"index": 0, "delta": {"content": huge}, "finish_reason": null}]});
    let raw = ScriptedTurn::Raw {
        content_type: "text/event-stream".into(),
        pieces: vec![format!("data: {event}\n\n"), "data: [DONE]\n\n".into()],
    };
    let (_server, client) = serve(vec![raw]).await;
    let error = unwrap_error(client.complete(ask("hi"), |_| {}).await);
    assert_eq!(error, LlmError::TooLarge { what: "response bytes", limit: RESPONSE_BYTES_MAX });
}

#[tokio::test]
async fn an_oversized_json_answer_is_refused() {
    let (_server, client) = serve(vec![ScriptedTurn::json_text(&"x".repeat(RESPONSE_BYTES_MAX))]).await;
    let error = unwrap_error(client.complete(ask("hi"), |_| {}).await);
    assert_eq!(error.kind(), ErrorKind::TooLarge);
}

#[tokio::test]
async fn too_many_tool_calls_are_refused() {
    let calls = (0..=TOOL_CALLS_PER_ANSWER_MAX)
        .map(|n| ScriptedToolCall { id: format!("c{n}"), name: "search_menu".into(), arguments: "{}".into() })
        .collect();
    let (_server, client) = serve(vec![ScriptedTurn::tool_calls(calls)]).await;
    let error = unwrap_error(client.complete(ask("hi"), |_| {}).await);
    assert_eq!(error, LlmError::TooLarge { what: "tool calls per answer", limit: TOOL_CALLS_PER_ANSWER_MAX });
}

#[tokio::test]
async fn malformed_answers_are_protocol_errors() {
    let raw = |body: &str| ScriptedTurn::Raw {
        content_type: "text/event-stream".into(),
        pieces: vec![body.to_string()],
    };
    let script = vec![
        raw("data: {not json}\n\n"),
        // The stream ends before any finish_reason or [DONE].
        raw("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hal\"}}]}\n\n"),
        ScriptedTurn::Json { body: json!({"object": "chat.completion", "choices": []}) },
    ];
    let (_server, client) = serve(script).await;
    for expected in ["not a chat.completion.chunk", "ended before the answer finished", "no choices"] {
        let error = unwrap_error(client.complete(ask("hi"), |_| {}).await);
        assert_eq!(error.kind(), ErrorKind::Protocol, "{error}");
        assert!(error.to_string().contains(expected), "{error}");
    }
}

#[tokio::test]
async fn an_error_event_in_the_stream_is_unavailable() {
    let event = json!({"error": {"message": "CUDA out of memory", "type": "internal_error"}});
    let raw = ScriptedTurn::Raw {
        content_type: "text/event-stream".into(),
        pieces: vec![format!("data: {event}\n\n")],
    };
    let (_server, client) = serve(vec![raw]).await;
    let error = unwrap_error(client.complete(ask("hi"), |_| {}).await);
    assert_eq!(error.kind(), ErrorKind::Unavailable);
    assert!(error.to_string().contains("CUDA out of memory"), "{error}");
}
