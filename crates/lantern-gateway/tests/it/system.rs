//! Health, readiness, metrics, graceful shutdown and the OpenAPI document.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::{Value, json};

use crate::support::*;

/// Every route the router serves, with its methods (from `lantern_gateway::router`).
const ROUTES: [(&str, &[&str]); 27] = [
    ("/healthz", &["get"]),
    ("/readyz", &["get"]),
    ("/metrics", &["get"]),
    ("/v1/merchants", &["get", "post"]),
    ("/v1/merchants/{merchant_id}/menu", &["get"]),
    ("/v1/search", &["get"]),
    ("/v1/campaigns", &["get", "post"]),
    ("/v1/campaigns/{campaign_id}/claim", &["post"]),
    ("/v1/campaigns/{campaign_id}/edit", &["post"]),
    ("/v1/campaigns/{campaign_id}/pause", &["post"]),
    ("/v1/campaigns/{campaign_id}/resume", &["post"]),
    ("/v1/campaigns/{campaign_id}/stats", &["get"]),
    ("/v1/wallet", &["get"]),
    ("/v1/checkout_sessions", &["post"]),
    ("/v1/checkout_sessions/{checkout_session_id}", &["get", "post"]),
    ("/v1/checkout_sessions/{checkout_session_id}/complete", &["post"]),
    ("/v1/checkout_sessions/{checkout_session_id}/cancel", &["post"]),
    ("/v1/coupon_orders", &["post"]),
    ("/v1/orders", &["get"]),
    ("/v1/orders/{order_id}", &["get"]),
    ("/v1/orders/{order_id}/cancel", &["post"]),
    ("/v1/merchant/catalog", &["post"]),
    ("/v1/catalogs/{catalog_id}", &["post"]),
    ("/v1/merchant/status", &["post"]),
    ("/v1/merchant/capacity", &["post"]),
    ("/v1/merchant/orders", &["get"]),
    ("/v1/stats", &["get"]),
];
/// Served but described apart: the document itself, the order events and the waiting room.
const MORE_ROUTES: [(&str, &[&str]); 8] = [
    ("/v1/merchant/orders/{order_id}/{event}", &["post"]),
    ("/v1/waiting_room/{ticket}", &["get"]),
    ("/v1/chat", &["post"]),
    ("/v1/ops/live", &["get"]),
    ("/v1/ops/backups", &["get", "post"]),
    ("/v1/merchant/live", &["get"]),
    ("/v1/orders/live", &["get"]),
    ("/v1/guest_token", &["post"]),
];

/// `name{labels} value` lines of a Prometheus exposition.
fn samples(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| line.rsplit_once(' '))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

/// A whole-number sample.
#[track_caller]
fn count(samples: &BTreeMap<String, String>, name: &str) -> i64 {
    let value = samples.get(name).unwrap_or_else(|| panic!("{name} missing from /metrics"));
    value.parse().unwrap_or_else(|_| panic!("{name} = {value:?} is not a whole number"))
}

#[tokio::test]
async fn health_and_readiness() {
    let server = Server::start().await;
    let health = server.send(server.http.get(server.url("/healthz"))).await;
    assert_eq!(health.ok(200), &json!({"status": "ok"}));
    let ready = server.send(server.http.get(server.url("/readyz"))).await;
    assert_eq!(ready.ok(200), &json!({"status": "ready"}));
    assert!(ready.header("request-id").is_some_and(|id| id.starts_with("req_")));
    let echoed = server.send(server.http.get(server.url("/healthz")).header("request-id", "abc-123")).await;
    assert_eq!(echoed.header("request-id"), Some("abc-123"));

    server.app.ready.store(false, Ordering::Relaxed);
    let draining = server.send(server.http.get(server.url("/readyz"))).await;
    draining.refused(503, "shutting_down");
    assert_eq!(draining.retry_after_s(), 5);
    let health = server.send(server.http.get(server.url("/healthz"))).await;
    health.ok(200);
}

#[tokio::test]
async fn a_starting_gateway_answers_at_once_then_serves_the_same_connections() {
    let serving = Serving::start().await;
    let base = format!("http://{}", serving.address);
    let starting = Arc::clone(&serving.starting);
    lantern_llm::install_tls_provider();
    // One keep-alive connection: opened while starting, it must reach the gateway afterwards.
    let http = reqwest::Client::builder().pool_max_idle_per_host(1).build().unwrap();
    let get =
        |path: &str, accept: &str| http.get(format!("{base}{path}")).header("accept", accept.to_owned());

    let opening = read(get("/readyz", "*/*").send().await.unwrap()).await;
    opening.refused(503, "starting");
    assert!(opening.json["message"].as_str().unwrap().contains("opening the journal"), "{opening:?}");
    assert_eq!(opening.retry_after_s(), 2);

    // A quarter replayed in a second: three seconds left, and Retry-After says so.
    starting.replaying(50, 200, 1_000);
    let replaying = read(get("/readyz", "application/json").send().await.unwrap()).await;
    replaying.refused(503, "starting");
    let message = replaying.json["message"].as_str().unwrap();
    assert!(message.contains("50 of 200 batches (25 %), about 3 s left"), "{message}");
    assert_eq!(replaying.retry_after_s(), 3);
    let scraped = read(get("/metrics", "*/*").send().await.unwrap()).await;
    assert_eq!(scraped.status, 200, "{}", scraped.text);
    assert!(scraped.text.contains("\nlantern_starting 1\n"), "{}", scraped.text);
    assert!(scraped.text.contains("\nlantern_start_replay_percent 25\n"), "{}", scraped.text);
    let alive = read(get("/healthz", "*/*").send().await.unwrap()).await;
    assert_eq!(
        alive.ok(200),
        &json!({"status": "starting", "detail": "replaying the journal: 50 of 200 batches (25 %), about 3 s left", "percent": 25})
    );
    let order = read(
        http.post(format!("{base}/v1/coupon_orders"))
            .bearer_auth("whatever")
            .header("idempotency-key", "k1")
            .json(&json!({"campaign_id": "cmp_1"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    order.refused(503, "starting");
    assert!(order.json["message"].as_str().unwrap().contains("nothing was done"), "{order:?}");
    // Each protocol in its own error shape: an agent's ACP checkout gets ACP's `Error` (type,
    // code, message and nothing else), an MCP client a JSON-RPC error without an id.
    let checkout = read(
        http.post(format!("{base}/checkout_sessions"))
            .bearer_auth("whatever")
            .header("idempotency-key", "k2")
            .json(&json!({"items": [{"id": "item_1"}]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(checkout.status, 503);
    let mut keys: Vec<&str> = checkout.json.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["code", "message", "type"], "{:?}", checkout.json);
    assert_eq!(
        (checkout.json["type"].as_str(), checkout.json["code"].as_str()),
        (Some("service_unavailable"), Some("starting"))
    );
    assert_eq!(checkout.retry_after_s(), 3);
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let mcp = read(
        http.post(format!("{base}/mcp"))
            .bearer_auth("whatever")
            .header("accept", "application/json, text/event-stream")
            .json(&initialize)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(mcp.status, 503, "{}", mcp.text);
    assert_eq!(mcp.retry_after_s(), 3);
    assert_eq!((mcp.json["jsonrpc"].as_str(), mcp.json["id"].is_null()), (Some("2.0"), true), "{}", mcp.text);
    assert_eq!(mcp.json["error"]["code"], lantern_gateway::MCP_STARTING_ERROR_CODE);
    assert_eq!(mcp.json["error"]["data"], json!({"code": "starting", "retry_after_ms": 3_000}));
    assert!(mcp.json["error"]["message"].as_str().unwrap().contains("50 of 200 batches"), "{}", mcp.text);
    // A browser gets the page that waits for readiness, never cached as the real page.
    for path in ["/", "/ops", "/merchant"] {
        let page = read(get(path, "text/html,application/xhtml+xml").send().await.unwrap()).await;
        assert_eq!(page.status, 503, "{path}");
        assert!(page.text.contains("Lantern is starting"), "{path}: {}", page.text);
        assert_eq!(page.header("cache-control"), Some("no-store"), "{path}");
        assert_eq!(page.header("etag"), None, "{path}");
        assert_eq!(page.retry_after_s(), 3, "{path}");
    }
    let script = read(get("/assets/starting.js", "*/*").send().await.unwrap()).await;
    assert_eq!(script.status, 200);
    assert!(script.text.contains("/healthz"));

    starting.indexing();
    let indexing = read(get("/readyz", "*/*").send().await.unwrap()).await;
    indexing.refused(503, "starting");
    assert!(indexing.json["message"].as_str().unwrap().contains("rebuilding the order and search indexes"));
    let alive = read(get("/healthz", "*/*").send().await.unwrap()).await;
    assert_eq!(alive.ok(200)["percent"], 100);

    // The gateway opens on the same server: the same client, on the connection it opened while
    // starting, now reaches it.
    starting.replayed(200, 1_234, 1_500);
    let server = Server::open_into(serving).await;
    assert_eq!(server.base, base);
    let ready = read(get("/readyz", "*/*").send().await.unwrap()).await;
    assert_eq!(ready.ok(200), &json!({"status": "ready"}));
    let alive = read(get("/healthz", "*/*").send().await.unwrap()).await;
    assert_eq!(alive.ok(200), &json!({"status": "ok"}));
    let scraped = read(get("/metrics", "*/*").send().await.unwrap()).await;
    assert!(scraped.text.contains("\nlantern_starting 0\n"), "the gateway's own metrics now");
    assert!(scraped.text.contains("lantern_requests_total"), "{}", scraped.text);
    let page = read(get("/", "text/html").send().await.unwrap()).await;
    assert_eq!(page.status, 200);
    assert!(!page.text.contains("Lantern is starting"));
    let shopper = server.token_for(lantern_auth::Role::Shopper(lantern_core::ShopperId::new(7)));
    let wallet = server.get(&shopper, "/v1/wallet").await;
    wallet.ok(200);
    // What the start cost, for the operator: on /metrics and on the dashboard's live view.
    let metrics = server.send(server.http.get(server.url("/metrics"))).await;
    assert!(metrics.text.contains("lantern_start_replayed_commands 1234\n"), "{}", metrics.text);
    assert!(metrics.text.contains("lantern_start_replay_seconds 1.500000\n"), "{}", metrics.text);
    assert!(metrics.text.contains("# TYPE lantern_start_ready_seconds gauge"), "{}", metrics.text);
    let operator = server.token_for(lantern_auth::Role::Operator);
    let live = server.get(&operator, "/v1/ops/live").await;
    let start = &live.ok(200)["start"];
    assert_eq!(
        (start["replayed_batches"].clone(), start["replayed_commands"].clone()),
        (json!(200), json!(1_234))
    );
    assert_eq!(start["replay_ms"], 1_500);
    assert!(start["ready_ms"].as_u64().is_some(), "{start}");
}

#[tokio::test]
async fn metrics_count_what_happens() {
    let server = Server::start().await;
    let shopper = server.shopper(1);
    let scrape = || async {
        let reply = server.send(server.http.get(server.url("/metrics"))).await;
        assert_eq!(reply.status, 200);
        assert!(reply.header("content-type").unwrap().starts_with("text/plain"));
        samples(&reply.text)
    };
    let before = scrape().await;
    for name in [
        "lantern_in_flight",
        "lantern_concurrency_limit",
        "lantern_ledger_queue_depth",
        "lantern_waiting_room_drain_per_second",
        "lantern_ledger_commit_seconds_total",
        "lantern_waiting_room_tickets{class=\"claim\"}",
        "lantern_waiting_room_reserved_by_class{class=\"chat\"}",
        "lantern_request_duration_seconds_count{class=\"browse\"}",
        "lantern_admission_total{class=\"checkout\",decision=\"shed\"}",
    ] {
        assert!(before.contains_key(name), "{name} missing from /metrics");
    }
    let browse_ok = "lantern_requests_total{class=\"browse\",status=\"2xx\"}";
    let browse_4xx = "lantern_requests_total{class=\"browse\",status=\"4xx\"}";
    let claims = "lantern_admission_total{class=\"claim\",decision=\"admitted\"}";
    let budget = "lantern_campaign_budget_available_fen{campaign=\"cmp_1\"}";
    let batches = "lantern_ledger_batches_total";
    for _ in 0..3 {
        server.get(&shopper, "/v1/merchants").await.ok(200);
    }
    server.get(&shopper, "/v1/merchants/mer_404/menu").await.refused(404, "not_found");
    server.claim(&shopper, FESTIVAL).await.ok(201);
    let after = scrape().await;
    assert_eq!(count(&after, browse_ok) - count(&before, browse_ok), 3);
    assert_eq!(count(&after, browse_4xx) - count(&before, browse_4xx), 1);
    assert_eq!(count(&after, claims) - count(&before, claims), 1);
    assert_eq!(count(&before, budget) - count(&after, budget), 2500);
    assert!(count(&after, batches) > count(&before, batches));
    assert!(count(&after, "lantern_request_duration_seconds_count{class=\"claim\"}") >= 1);
    let seconds = &after["lantern_ledger_commit_seconds_total"];
    assert!(
        seconds
            .split_once('.')
            .is_some_and(|(whole, fraction)| whole.parse::<u64>().is_ok() && fraction.len() == 6),
        "{seconds}"
    );
}

#[tokio::test]
async fn shutdown_drains_requests_in_flight() {
    let mut server = Server::start().await;
    server.gate.close();
    let request = server
        .http
        .post(server.url("/v1/campaigns/cmp_1/claim"))
        .bearer_auth(server.shopper(1))
        .header("idempotency-key", server.key())
        .json(&json!({}));
    let in_flight = tokio::spawn(async move { read(request.send().await.unwrap()).await });
    let app = Arc::clone(&server.app);
    eventually("a request in flight", || app.admission.lock().stats().in_flight == 1).await;
    server.request_shutdown();
    eventually("readiness to drop", || !app.ready.load(Ordering::Relaxed)).await;
    server.gate.open();
    in_flight.await.unwrap().ok(201);
    let base = server.base.clone();
    server.stop().await;
    assert!(reqwest::get(format!("{base}/healthz")).await.is_err(), "still answering after shutdown");
    let wallet = app.sequencer.read(|ledger| ledger.wallet(lantern_core::ShopperId::new(1)).len());
    assert_eq!(wallet, 1, "the drained claim was committed");
}

#[tokio::test]
async fn oversized_headers_are_refused_not_failed() {
    let server = Server::start().await;
    let mut request = server.http.get(server.url("/v1/wallet")).bearer_auth(server.shopper(1));
    for index in 0..150 {
        request = request.header(format!("x-extra-{index}"), "1");
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status().as_u16(), 431);
    let huge = server
        .send(
            server
                .http
                .get(server.url("/v1/wallet"))
                .bearer_auth(server.shopper(1))
                .header("x-pad", "a".repeat(1 << 20)),
        )
        .await;
    assert_eq!(huge.status, 431, "{}", huge.text);
    server.get(&server.shopper(1), "/v1/wallet").await.ok(200);
}

/// The gateway's own header limit (`HEADER_BYTES_MAX`, well inside hyper's ~400 KB) answers
/// 431 in the usual JSON error shape.
#[tokio::test]
async fn oversized_headers_get_the_json_error_shape() {
    let server = Server::start().await;
    let big = server
        .send(
            server
                .http
                .get(server.url("/v1/wallet"))
                .bearer_auth(server.shopper(1))
                .header("x-pad", "a".repeat(200_000)),
        )
        .await;
    assert_eq!(big.status, 431, "a 200 KB header was accepted: {}", big.text);
    big.assert_error_shape();
}

async fn document(server: &Server) -> Value {
    let reply = server.send(server.http.get(server.url("/openapi.json"))).await;
    assert_eq!(reply.status, 200);
    assert!(reply.header("content-type").unwrap().starts_with("application/json"));
    assert_ne!(reply.json, Value::Null, "not JSON: {}", reply.text);
    reply.json
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let server = Server::start().await;
    let doc = document(&server).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1."), "{}", doc["openapi"]);
    assert!(doc["info"]["title"].is_string());
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    let paths = doc["paths"].as_object().unwrap();
    let documented: BTreeSet<(String, String)> = paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object().unwrap().keys().map(move |method| (path.clone(), method.clone()))
        })
        .filter(|(_, method)| ["get", "post", "put", "patch", "delete"].contains(&method.as_str()))
        .collect();
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .chain(MORE_ROUTES.iter())
        .flat_map(|(path, methods)| methods.iter().map(|method| (path.to_string(), method.to_string())))
        .collect();
    assert_eq!(documented, served, "documented routes differ from the router's");

    // Each documented operation is really served (no fallback 404 or 405), and every POST
    // documents its Idempotency-Key, every protected operation its bearer security.
    let fill = |path: &str| {
        path.replace("{merchant_id}", "mer_1")
            .replace("{campaign_id}", "cmp_1")
            .replace("{checkout_session_id}", "cs_1")
            .replace("{order_id}", "ord_1")
            .replace("{event}", "accept")
            .replace("{catalog_id}", "cat_1")
            .replace("{ticket}", "lw1.x.y")
    };
    let token = server.operator();
    for (path, method) in &documented {
        let url = server.url(&fill(path));
        let request = match method.as_str() {
            "get" => server.http.get(url),
            _ => server.http.post(url).header("idempotency-key", server.key()).json(&json!({})),
        };
        let reply = server.send(request.bearer_auth(&token)).await;
        assert_ne!(reply.status, 405, "{method} {path}: {}", reply.text);
        assert!(
            !(reply.status == 404 && reply.text.contains("no such endpoint")),
            "{method} {path} is documented but not served: {}",
            reply.text
        );
        assert!(reply.status < 500, "{method} {path}: {}", reply.text);
        let operation = &paths[path.as_str()][method.as_str()];
        assert!(operation["operationId"].is_string(), "{method} {path}");
        assert!(operation["responses"].as_object().is_some_and(|responses| !responses.is_empty()));
        let parameters = operation["parameters"].as_array().cloned().unwrap_or_default();
        // A chat message is not a request to repeat: its order is placed once per confirmed quote.
        // Nor is a guest token: it writes nothing.
        if method == "post" && path != "/v1/chat" && path != "/v1/guest_token" {
            assert!(
                parameters.iter().any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header"),
                "{method} {path} does not document Idempotency-Key"
            );
        }
        let public = ["/healthz", "/readyz", "/metrics", "/v1/waiting_room/{ticket}", "/v1/guest_token"]
            .contains(&path.as_str());
        assert_eq!(
            operation["security"].is_array(),
            !public,
            "{method} {path}: security {}",
            operation["security"]
        );
    }
}

/// The query parameters of `GET /v1/merchants`, `GET /v1/search` and the waiting room's poll
/// are documented as path parameters (`"in": "path"`, required), though the paths have no such
/// placeholders: generated clients and schemathesis send them in the path or not at all.
#[tokio::test]
async fn the_openapi_document_puts_parameters_where_the_router_reads_them() {
    let server = Server::start().await;
    let doc = document(&server).await;
    let mut problems = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            for parameter in operation["parameters"].as_array().cloned().unwrap_or_default() {
                let name = parameter["name"].as_str().unwrap();
                if parameter["in"] == "path" && !path.contains(&format!("{{{name}}}")) {
                    problems.push(format!("{method} {path}: `{name}` is documented in the path"));
                }
            }
        }
    }
    let query = |path: &str, name: &str| {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .is_some_and(|parameters| parameters.iter().any(|p| p["name"] == name && p["in"] == "query"))
    };
    for (path, name) in [
        ("/v1/merchants", "q"),
        ("/v1/merchants", "offset"),
        ("/v1/merchants", "limit"),
        ("/v1/search", "q"),
        ("/v1/waiting_room/{ticket}", "wait_ms"),
        ("/v1/waiting_room/{ticket}", "position"),
    ] {
        if !query(path, name) {
            problems.push(format!("GET {path}: `{name}` is not documented as a query parameter"));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The gateway answers 413 (with the JSON error body) to any POST over the body limit, and every
/// POST documents it.
#[tokio::test]
async fn the_openapi_document_lists_the_413_every_post_can_answer() {
    let server = Server::start().await;
    let doc = document(&server).await;
    let mut missing = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if let Some(operation) = item.get("post")
            && operation["responses"].get("413").is_none()
        {
            missing.push(path.clone());
        }
    }
    assert!(missing.is_empty(), "POST operations without a 413: {missing:#?}");
}

/// Phones reach the gateway through load balancers that speak HTTP/2 to their backends: many
/// requests share one connection as streams (a waiting shopper's long poll costs a stream, not
/// a socket). Cleartext HTTP/2 with prior knowledge is served beside HTTP/1.1 on the same port.
#[tokio::test]
async fn http2_streams_share_one_connection() {
    use http_body_util::BodyExt as _;
    let server = Server::start().await;
    let authority = server.base.trim_start_matches("http://").to_owned();
    let stream = tokio::net::TcpStream::connect(&authority).await.unwrap();
    let (sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    let token = server.shopper(1);
    let mut streams = tokio::task::JoinSet::new();
    for path in ["/healthz", "/v1/campaigns", "/v1/wallet", "/v1/nowhere"] {
        let mut sender = sender.clone();
        let request = hyper::Request::get(format!("{}{path}", server.base))
            .header("authorization", format!("Bearer {token}"))
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        streams.spawn(async move {
            sender.ready().await.unwrap();
            let response = sender.send_request(request).await.unwrap();
            assert_eq!(response.version(), hyper::Version::HTTP_2);
            let status = response.status().as_u16();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            (path, status, serde_json::from_slice::<Value>(&body).unwrap())
        });
    }
    let mut answers = Vec::new();
    while let Some(answer) = streams.join_next().await {
        answers.push(answer.unwrap());
    }
    answers.sort_by_key(|(path, ..)| *path);
    let statuses: Vec<(&str, u16)> = answers.iter().map(|(path, status, _)| (*path, *status)).collect();
    assert_eq!(
        statuses,
        [("/healthz", 200), ("/v1/campaigns", 200), ("/v1/nowhere", 404), ("/v1/wallet", 200)]
    );
    assert_eq!(answers[2].2["code"], "not_found", "{}", answers[2].2);
}
