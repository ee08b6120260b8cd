//! The bounds: rate limits, failures, the deadline, the breaker, saturation, the token budget.

use std::time::{Duration, Instant};

use lantern_llm::{BreakerState, ErrorKind, LlmClient, LlmError};

use crate::scripted::{ScriptedTurn, StreamedAnswer};
use crate::support::{ask, serve, serve_with, test_config, unwrap_error};

/// Allowance for a loaded machine when checking that a deadline was kept.
const SLACK: Duration = Duration::from_millis(750);

#[tokio::test]
async fn http_429_is_rate_limited_with_retry_after() {
    let (server, client) = serve(vec![ScriptedTurn::rate_limited(2)]).await;
    let error = unwrap_error(client.complete(ask("hi"), |_| {}).await);
    assert_eq!(error, LlmError::RateLimited { retry_after_ms: Some(2_000) });
    assert!(error.should_fall_back() && !error.refused_locally());
    assert_eq!(error.retry_after_ms(), Some(2_000));
    assert_eq!(server.requests().len(), 1);
    let stats = client.stats();
    assert_eq!((stats.failures, stats.errors_of(ErrorKind::RateLimited)), (1, 1));
    assert_eq!(stats.breaker, BreakerState::Closed { consecutive_failures: 1 });
    // A refused request cost no tokens.
    assert_eq!(stats.tokens_charged, 0);
}

#[tokio::test]
async fn http_5xx_is_unavailable_and_4xx_rejected() {
    let (_server, client) =
        serve(vec![ScriptedTurn::status(500), ScriptedTurn::status(503), ScriptedTurn::status(404)]).await;
    for status in ["500", "503"] {
        let error = unwrap_error(client.complete(ask("hi"), |_| {}).await);
        assert_eq!(error.kind(), ErrorKind::Unavailable);
        assert!(error.to_string().contains(&format!("HTTP {status}: scripted failure {status}")), "{error}");
    }
    let error = unwrap_error(client.complete(ask("hi"), |_| {}).await);
    assert!(
        matches!(&error, LlmError::Rejected { status: 404, detail } if detail == "scripted failure 404"),
        "{error}"
    );
    assert!(error.to_string().contains("check llm.base_url, llm.model and the API key"));
}

#[tokio::test]
async fn a_refused_connection_is_unavailable() {
    // A port that was free a moment ago: nothing listens there now.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let client = LlmClient::new(test_config(format!("http://127.0.0.1:{port}/v1")), None).unwrap();
    let error = unwrap_error(client.complete(ask("hi"), |_| {}).await);
    assert_eq!(error.kind(), ErrorKind::Unavailable, "{error}");
    assert!(error.to_string().contains("could not connect"), "{error}");
}

#[tokio::test]
async fn a_hanging_model_times_out_within_the_deadline() {
    let (server, client) =
        serve_with(vec![ScriptedTurn::hang(10_000)], |config| config.deadline_ms = 300).await;
    let started = Instant::now();
    let error = unwrap_error(client.complete(ask("hi"), |_| {}).await);
    let took = started.elapsed();
    assert_eq!(error, LlmError::Timeout { deadline_ms: 300 });
    assert!(took >= Duration::from_millis(300) && took < Duration::from_millis(300) + SLACK, "{took:?}");
    assert_eq!(server.requests().len(), 1);
    assert_eq!(client.stats().errors_of(ErrorKind::Timeout), 1);
}

#[tokio::test]
async fn a_stream_that_stalls_midway_times_out() {
    let turn = ScriptedTurn::Stream(StreamedAnswer {
        text: vec!["Let me ".into(), "check".into()],
        stall_after_events: Some(2),
        ..StreamedAnswer::default()
    });
    let (_server, client) = serve_with(vec![turn], |config| config.deadline_ms = 300).await;
    let started = Instant::now();
    let mut seen = String::new();
    let error = unwrap_error(client.complete(ask("hi"), |piece| seen.push_str(piece)).await);
    assert_eq!(error, LlmError::Timeout { deadline_ms: 300 });
    assert!(started.elapsed() < Duration::from_millis(300) + SLACK);
    assert_eq!(seen, "Let me ", "the text before the stall was delivered as it came");
}

#[tokio::test]
async fn the_breaker_opens_then_lets_one_probe_through() {
    let script = vec![ScriptedTurn::status(500), ScriptedTurn::status(502), ScriptedTurn::text(&["back"])];
    let (server, client) = serve_with(script, |config| {
        config.breaker_failures_threshold = 2;
        config.breaker_open_ms = 150;
    })
    .await;
    for _ in 0..2 {
        assert_eq!(unwrap_error(client.complete(ask("hi"), |_| {}).await).kind(), ErrorKind::Unavailable);
    }
    let error = unwrap_error(client.complete(ask("hi"), |_| {}).await);
    assert!(matches!(error, LlmError::CircuitOpen { retry_after_ms } if retry_after_ms <= 150), "{error}");
    assert!(error.refused_locally());
    assert_eq!(server.requests().len(), 2, "an open breaker sends nothing");
    assert!(matches!(client.stats().breaker, BreakerState::Open { .. }));

    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(client.stats().breaker, BreakerState::HalfOpen { probe_in_flight: false });
    let answer = client.complete(ask("hi"), |_| {}).await.unwrap();
    assert_eq!(answer.text, "back");
    assert_eq!(client.stats().breaker, BreakerState::Closed { consecutive_failures: 0 });
    let stats = client.stats();
    assert_eq!((stats.calls, stats.sent, stats.succeeded, stats.failures), (4, 3, 1, 2));
    assert_eq!(stats.errors_of(ErrorKind::CircuitOpen), 1);
}

#[tokio::test]
async fn a_failed_probe_reopens_the_breaker() {
    let script = vec![ScriptedTurn::rate_limited(1), ScriptedTurn::status(500)];
    let (server, client) = serve_with(script, |config| {
        config.breaker_failures_threshold = 1;
        config.breaker_open_ms = 100;
    })
    .await;
    assert_eq!(unwrap_error(client.complete(ask("hi"), |_| {}).await).kind(), ErrorKind::RateLimited);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(unwrap_error(client.complete(ask("hi"), |_| {}).await).kind(), ErrorKind::Unavailable);
    assert_eq!(unwrap_error(client.complete(ask("hi"), |_| {}).await).kind(), ErrorKind::CircuitOpen);
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn a_probe_abandoned_by_its_caller_does_not_wedge_the_breaker() {
    let script = vec![ScriptedTurn::status(500), ScriptedTurn::hang(10_000), ScriptedTurn::text(&["ok"])];
    let (_server, client) = serve_with(script, |config| {
        config.breaker_failures_threshold = 1;
        config.breaker_open_ms = 50;
    })
    .await;
    unwrap_error(client.complete(ask("hi"), |_| {}).await);
    tokio::time::sleep(Duration::from_millis(80)).await;
    // The probe hangs and its caller gives up on it (drops the future).
    let gave_up = tokio::time::timeout(Duration::from_millis(100), client.complete(ask("hi"), |_| {})).await;
    assert!(gave_up.is_err());
    assert_eq!(client.stats().breaker, BreakerState::HalfOpen { probe_in_flight: false });
    assert_eq!(client.complete(ask("hi"), |_| {}).await.unwrap().text, "ok");
}

#[tokio::test]
async fn a_saturated_client_refuses_at_once_without_calling() {
    let slow = ScriptedTurn::Stream(StreamedAnswer {
        text: vec!["slow".into(), " answer".into()],
        chunk_delay_ms: 150,
        ..StreamedAnswer::default()
    });
    let (server, client) =
        serve_with(vec![slow, ScriptedTurn::text(&["later"])], |config| config.concurrency_max = 1).await;
    let (first, second) = tokio::join!(client.complete(ask("one"), |_| {}), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = Instant::now();
        let result = client.complete(ask("two"), |_| {}).await;
        (result, started.elapsed())
    });
    assert_eq!(first.unwrap().text, "slow answer");
    let (second, took) = second;
    assert_eq!(unwrap_error(second), LlmError::Saturated { concurrency_max: 1 });
    assert!(took < Duration::from_millis(50), "refused at once, not queued: {took:?}");
    assert_eq!(server.requests().len(), 1, "a saturated client never calls the model");
    // Saturation is not the model's fault: the breaker did not count it.
    assert_eq!(client.stats().breaker, BreakerState::Closed { consecutive_failures: 0 });
    // The slot is free again.
    assert_eq!(client.complete(ask("three"), |_| {}).await.unwrap().text, "later");
}

#[tokio::test]
async fn the_token_budget_refuses_calls_it_cannot_cover() {
    let expensive = ScriptedTurn::Stream(StreamedAnswer {
        text: vec!["ok".into()],
        usage: Some(crate::scripted::ScriptedUsage { prompt_tokens: 700, completion_tokens: 100 }),
        ..StreamedAnswer::default()
    });
    let (server, client) = serve_with(vec![expensive, ScriptedTurn::text(&["never"])], |config| {
        config.tokens_per_minute_max = 1_200;
        config.max_tokens_per_call = 400;
    })
    .await;
    client.complete(ask("hi"), |_| {}).await.unwrap();
    let stats = client.stats();
    assert_eq!(stats.tokens_charged, 800, "charged the reported usage, not the estimate");
    let error = unwrap_error(client.complete(ask("hi"), |_| {}).await);
    let LlmError::OverBudget { needed_tokens, available_tokens, tokens_per_minute_max } = error else {
        panic!("expected OverBudget, got {error:?}");
    };
    assert_eq!(tokens_per_minute_max, 1_200);
    assert!(needed_tokens > 400 && available_tokens < needed_tokens, "{needed_tokens} {available_tokens}");
    assert_eq!(server.requests().len(), 1, "an over-budget call is never sent");
    assert_eq!(client.stats().errors_of(ErrorKind::OverBudget), 1);
}

#[tokio::test]
async fn a_request_larger_than_the_budget_ever_holds_is_refused() {
    let (server, client) = serve_with(vec![ScriptedTurn::text(&["x"])], |config| {
        config.tokens_per_minute_max = 300;
        config.max_tokens_per_call = 300;
    })
    .await;
    let error = unwrap_error(client.complete(ask("hi"), |_| {}).await);
    assert_eq!(error.kind(), ErrorKind::OverBudget);
    assert!(server.requests().is_empty());
}
