//! The Agentic Commerce Protocol's checkout (`/checkout_sessions`), walked by hand as an agent
//! platform would: create -> update with discount codes -> complete -> the signed order webhook
//! received by a real HTTP receiver on loopback, with replays and conflicting replays of
//! idempotency keys at every step, the version header, 405 on cancelling a completed session,
//! and the waiting room's answer in ACP's error shape.

use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use axum::response::IntoResponse;
use hmac::{Hmac, Mac};
use lantern_gateway::webhooks::WebhookConfig;
use lantern_store::Durability;
use parking_lot::Mutex;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::support::*;

const WEBHOOK_SECRET: &[u8] = b"an-acp-webhook-secret-for-tests";
const VERSION: &str = "2026-04-17";

/// One POST the receiver got: its signature header and raw body.
#[derive(Debug, Clone)]
struct Received {
    signature: String,
    body: Vec<u8>,
}

/// A webhook receiver on loopback that answers 503 to the first `fail_first` tries (so the
/// gateway must retry) and 200 after.
async fn receiver(fail_first: usize) -> (String, Arc<Mutex<Vec<Received>>>) {
    let received: Arc<Mutex<Vec<Received>>> = Arc::default();
    let log = Arc::clone(&received);
    let app = axum::Router::new().route(
        "/agentic_checkout/webhooks/order_events",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let log = Arc::clone(&log);
            async move {
                let signature =
                    headers.get("merchant-signature").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                let mut log = log.lock();
                log.push(Received { signature, body: body.to_vec() });
                if log.len() <= fail_first {
                    (axum::http::StatusCode::SERVICE_UNAVAILABLE, "{}").into_response()
                } else {
                    (axum::http::StatusCode::OK, r#"{"received":true}"#).into_response()
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}/agentic_checkout/webhooks/order_events"), received)
}

/// The tests' webhook settings for `url`: one try each, a small outbox in two lanes.
fn webhook_to(url: String) -> WebhookConfig {
    WebhookConfig {
        url,
        secret: WEBHOOK_SECRET.to_vec(),
        outbox_max: 16,
        concurrency: 2,
        attempts_max: 1,
        retry_base_ms: 10,
        retry_max_ms: 10,
        timeout_ms: 2_000,
    }
}

/// Checks `t=<unix_s>,v1=<hex>` as a receiver must: HMAC-SHA256 over `t + "." + body`, and a
/// timestamp within 300 s.
fn signature_ok(received: &Received) -> bool {
    let Some((t, v1)) = received.signature.strip_prefix("t=").and_then(|rest| rest.split_once(",v1=")) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET).unwrap();
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(&received.body);
    let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let now_s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    v1 == expected && t.parse::<u64>().is_ok_and(|t| t.abs_diff(now_s) <= 300)
}

/// The event, once its signature verifies.
fn verify(received: &Received) -> Value {
    assert!(signature_ok(received), "the signature {:?} does not verify", received.signature);
    serde_json::from_slice(&received.body).unwrap()
}

async fn acp(server: &Server, token: &str, path: &str, key: Option<&str>, body: &str) -> Reply {
    let mut request = server
        .http
        .post(server.url(path))
        .bearer_auth(token)
        .header("api-version", VERSION)
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    server.send(request).await
}

/// An ACP create as the MCP tools make it, in-process, as shopper `shopper`.
async fn mcp_create(server: &Server, shopper: u64, key: &str, body: &str) -> lantern_mcp::ApiAnswer {
    let api = lantern_gateway::mcp::InProcessApi::as_shopper(
        &server.app,
        lantern_core::ShopperId::new(shopper),
        60_000,
    );
    let request = lantern_mcp::ApiRequest {
        post: true,
        path: "/checkout_sessions".into(),
        idempotency_key: Some(key.into()),
        api_version: Some(VERSION.into()),
        ticket: None,
        body: Some(serde_json::from_str(body).unwrap()),
    };
    lantern_mcp::Api::call(&api, &rmcp::model::Extensions::new(), request).await
}

#[track_caller]
fn assert_acp_error(reply: &Reply, status: u16, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.text);
    assert_eq!(reply.json["code"], code, "{}", reply.text);
    let fields: Vec<&String> = reply.json.as_object().unwrap().keys().collect();
    for field in &fields {
        assert!(["type", "code", "message", "param"].contains(&field.as_str()), "ACP Error has no {field}");
    }
    assert!(
        ["invalid_request", "processing_error", "service_unavailable"]
            .contains(&reply.json["type"].as_str().unwrap())
    );
}

fn total(session: &Value) -> i64 {
    session["totals"].as_array().unwrap().iter().find(|t| t["type"] == "total").unwrap()["amount"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn create_update_complete_and_the_signed_webhook_with_replays_and_conflicts() {
    let (url, received) = receiver(1).await;
    let mut config = test_config();
    config.acp.public_url = "https://shop.example.com".into();
    config.acp.webhook =
        Some(WebhookConfig { attempts_max: 4, retry_base_ms: 50, retry_max_ms: 200, ..webhook_to(url) });
    config.acp.links = vec![
        lantern_gateway::AcpLink::new("terms_of_use", "https://shop.example.com/terms").unwrap(),
        lantern_gateway::AcpLink::new("return_policy", "https://shop.example.com/returns").unwrap(),
    ];
    let server = Server::with_config(config).await;
    let shopper = server.shopper(7);
    assert_eq!(server.claim(&shopper, FESTIVAL).await.status, 201);

    // The version header is required and checked.
    let no_version = server
        .send(
            server
                .http
                .post(server.url("/checkout_sessions"))
                .bearer_auth(&shopper)
                .header("idempotency-key", "k0")
                .body("{}"),
        )
        .await;
    assert_acp_error(&no_version, 400, "missing_api_version");
    let body = r#"{"currency":"cny","capabilities":{},"line_items":[{"id":"mer_1/itm_101"},{"id":"mer_1/itm_102"}],"discounts":{"codes":[]}}"#;
    assert_acp_error(
        &acp(&server, &shopper, "/checkout_sessions", None, body).await,
        400,
        "idempotency_key_required",
    );

    // Create, without a coupon (an empty code list).
    let created = acp(&server, &shopper, "/checkout_sessions", Some("create-1"), body).await;
    let session = created.ok(201).clone();
    assert_eq!(created.header("idempotency-key"), Some("create-1"));
    assert_eq!(session["status"], "ready_for_payment");
    assert_eq!(session["protocol"]["version"], VERSION);
    // The configured policy pages, in the configured order.
    assert_eq!(
        session["links"],
        json!([
            {"type": "terms_of_use", "url": "https://shop.example.com/terms"},
            {"type": "return_policy", "url": "https://shop.example.com/returns"}
        ])
    );
    // Defaults are filled in: medium, regular sugar.
    assert_eq!(session["line_items"][0]["item"]["id"], "mer_1/itm_101/1,10");
    assert_eq!(total(&session), 1500 + 1900);
    let id = session["id"].as_str().unwrap().to_owned();

    // The same request (keys in another order) replays; another body under the key conflicts.
    let reordered = r#"{"line_items":[{"id":"mer_1/itm_101"},{"id":"mer_1/itm_102"}],"discounts":{"codes":[]},"capabilities":{},"currency":"cny"}"#;
    let replay = acp(&server, &shopper, "/checkout_sessions", Some("create-1"), reordered).await;
    assert_eq!(replay.ok(201)["id"], id.as_str());
    assert!(replay.replayed());
    let other = r#"{"currency":"cny","capabilities":{},"line_items":[{"id":"mer_1/itm_106"}]}"#;
    assert_acp_error(
        &acp(&server, &shopper, "/checkout_sessions", Some("create-1"), other).await,
        422,
        "idempotency_conflict",
    );

    // Update with codes: the festival applies, a second code is refused (no stacking), and an
    // unknown code is invalid. The same key on another endpoint is another request.
    let update_path = format!("/checkout_sessions/{id}");
    let codes = r#"{"discounts":{"codes":["cmp_1","NO-SUCH-CODE"]}}"#;
    let updated = acp(&server, &shopper, &update_path, Some("create-1"), codes).await;
    let session = updated.ok(200).clone();
    assert!(!updated.replayed());
    assert_eq!(total(&session), 1500 + 1900 - 2500);
    assert_eq!(session["discounts"]["applied"][0]["code"], "cmp_1");
    assert_eq!(session["discounts"]["applied"][0]["amount"], 2500);
    assert_eq!(session["discounts"]["rejected"][0]["code"], "NO-SUCH-CODE");
    assert_eq!(session["discounts"]["rejected"][0]["reason"], "discount_code_combination_disallowed");
    let replay = acp(&server, &shopper, &update_path, Some("create-1"), codes).await;
    assert!(replay.replayed());
    assert_eq!(total(replay.ok(200)), 900);
    let invalid =
        acp(&server, &shopper, &update_path, Some("update-2"), r#"{"discounts":{"codes":["NO-SUCH-CODE"]}}"#)
            .await;
    assert_eq!(invalid.ok(200)["discounts"]["rejected"][0]["reason"], "discount_code_invalid");
    assert_eq!(invalid.json["messages"][0]["code"], "discount_code_invalid");
    let updated = acp(&server, &shopper, &update_path, Some("update-3"), r#"{"coupons":["cmp_1"]}"#).await;
    assert_eq!(total(updated.ok(200)), 900);

    // Complete: payment_data is required; then the order, replayed on repeat, refused on change.
    let complete_path = format!("/checkout_sessions/{id}/complete");
    let missing = acp(&server, &shopper, &complete_path, Some("pay-0"), "{}").await;
    assert_acp_error(&missing, 400, "missing");
    assert_eq!(missing.header("idempotency-key"), Some("pay-0"), "refusals echo the key too");
    assert_eq!(missing.json["param"], "$.payment_data");
    let pay = r#"{"payment_data":{"purchase_order_number":"pay_at_pickup"}}"#;
    let completed = acp(&server, &shopper, &complete_path, Some("pay-1"), pay).await;
    let session = completed.ok(200).clone();
    assert_eq!(session["status"], "completed");
    let order = session["order"].clone();
    let order_id = order["id"].as_str().unwrap().to_owned();
    assert_eq!(order["checkout_session_id"], id.as_str());
    assert_eq!(order["permalink_url"], format!("https://shop.example.com/v1/orders/{order_id}"));
    let replay = acp(&server, &shopper, &complete_path, Some("pay-1"), pay).await;
    assert!(replay.replayed());
    assert_eq!(replay.ok(200)["order"]["id"], order_id.as_str());
    let conflict = acp(
        &server,
        &shopper,
        &complete_path,
        Some("pay-1"),
        r#"{"payment_data":{"purchase_order_number":"other"}}"#,
    )
    .await;
    assert_acp_error(&conflict, 422, "idempotency_conflict");
    // One order, whatever was repeated.
    assert_eq!(server.get(&shopper, "/v1/orders").await.ok(200)["orders"].as_array().unwrap().len(), 1);

    // Read back, and a completed session cannot be cancelled (405).
    let read = server
        .send(server.http.get(server.url(&update_path)).bearer_auth(&shopper).header("api-version", VERSION))
        .await;
    assert_eq!(read.ok(200)["status"], "completed");
    assert_acp_error(
        &acp(&server, &shopper, &format!("/checkout_sessions/{id}/cancel"), Some("c-1"), "{}").await,
        405,
        "not_cancelable",
    );

    // The order_create webhook arrives, signed, after one refused try.
    eventually("order_create delivered", || received.lock().len() >= 2).await;
    let deliveries = received.lock().clone();
    assert_eq!(deliveries[0].body, deliveries[1].body, "a retry sends the same event");
    let event = verify(&deliveries[1]);
    assert_eq!(event["type"], "order_create");
    assert_eq!(event["data"]["type"], "order");
    assert_eq!(event["data"]["id"], order_id.as_str());
    assert_eq!(event["data"]["checkout_session_id"], id.as_str());
    assert_eq!(event["data"]["status"], "placed");

    // The shop accepts it: order_update follows.
    let accepted =
        server.post(&server.merchant(1), &format!("/v1/merchant/orders/{order_id}/accept"), &json!({})).await;
    accepted.ok(200);
    eventually("order_update delivered", || received.lock().len() >= 3).await;
    let event = verify(&received.lock()[2]);
    assert_eq!(event["type"], "order_update");
    assert_eq!(event["data"]["status"], "accepted");
    // A tampered body does not verify.
    let mut tampered = received.lock()[2].clone();
    tampered.body.push(b' ');
    assert!(!signature_ok(&tampered));
    let webhooks = &server.app.webhooks;
    eventually("both counted", || webhooks.n_delivered.load(std::sync::atomic::Ordering::Relaxed) == 2).await;
}

/// Completes a one-drink ACP checkout for `shopper` under `key`; the order's id.
async fn acp_order(server: &Server, shopper: &str, key: &str) -> String {
    let body = r#"{"currency":"cny","capabilities":{},"line_items":[{"id":"mer_1/itm_101"}]}"#;
    let created = acp(server, shopper, "/checkout_sessions", Some(&format!("{key}-create")), body).await;
    let id = created.ok(201)["id"].as_str().unwrap().to_owned();
    let pay = r#"{"payment_data":{"purchase_order_number":"pay_at_pickup"}}"#;
    let completed =
        acp(server, shopper, &format!("/checkout_sessions/{id}/complete"), Some(&format!("{key}-pay")), pay)
            .await;
    completed.ok(200)["order"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn acp_orders_are_followed_across_a_restart_and_what_was_not_delivered_is_sent_again() {
    // First the platform's receiver is down (nothing listens there), so every event fails.
    let down = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/agentic_checkout/webhooks/order_events", listener.local_addr().unwrap())
    };
    let mut config = test_config();
    config.acp.webhook = Some(webhook_to(down));
    let setup = Setup { config: config.clone(), durability: Durability::Full, ..Setup::default() };
    let server = Server::start_with(setup).await;
    let (ada, bo) = (server.shopper(21), server.shopper(22));
    let accepted = acp_order(&server, &ada, "ada").await;
    let placed = acp_order(&server, &bo, "bo").await;
    server
        .post(&server.merchant(1), &format!("/v1/merchant/orders/{accepted}/accept"), &json!({}))
        .await
        .ok(200);
    // An order through Lantern's own API is not the platform's business.
    let session = server
        .post_keyed(
            &ada,
            "/v1/checkout_sessions",
            "api-create",
            &json!({"merchant_id": "mer_1", "line_items": [{"id": "itm_101", "quantity": 1}]}),
        )
        .await;
    let path = format!("/v1/checkout_sessions/{}/complete", session.ok(201)["id"].as_str().unwrap());
    let api_order =
        server.post_keyed(&ada, &path, "api-pay", &json!({})).await.ok(200)["order"]["id"].clone();
    let mine = server.get(&ada, "/v1/orders").await;
    let channels: Vec<_> =
        mine.ok(200)["orders"].as_array().unwrap().iter().map(|o| o["channel"].clone()).collect();
    assert_eq!(channels, [json!("api"), json!("acp")], "newest first");
    let webhooks = &server.app.webhooks;
    eventually("three events given up", || {
        webhooks.n_given_up.load(std::sync::atomic::Ordering::Relaxed) >= 3
    })
    .await;
    // Set aside, they hold the settle mark back: nothing was settled.
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    assert_eq!(server.app.sequencer.read(lantern_ledger::Ledger::webhooks_settled_through), 0);

    // The gateway restarts with the receiver up: the orders are still followed, and what was
    // not delivered is sent again, one event per order in its current state.
    let (url, received) = receiver(0).await;
    config.acp.webhook = Some(webhook_to(url));
    let server =
        server.restart_with(Setup { config, durability: Durability::Full, ..Setup::default() }).await;
    eventually("both acp orders sent again", || received.lock().len() >= 2).await;
    let events: Vec<Value> = received.lock().iter().map(verify).collect();
    let mut summary: Vec<_> = events
        .iter()
        .map(|e| (e["type"].clone(), e["data"]["id"].clone(), e["data"]["status"].clone()))
        .collect();
    // Two orders, two lanes: the order between them is not fixed.
    summary.sort_by_key(|(_, id, _)| id.as_str().map(str::to_owned));
    assert_eq!(
        summary,
        [
            (json!("order_update"), json!(accepted), json!("accepted")),
            (json!("order_create"), json!(placed), json!("placed")),
        ]
    );
    assert!(events.iter().all(|e| e["data"]["id"] != api_order));
    assert_eq!(server.app.webhooks.n_resent.load(std::sync::atomic::Ordering::Relaxed), 2);
    // The counts by channel are rebuilt from the journal too.
    let metrics = server.send(server.http.get(server.url("/metrics"))).await;
    for line in
        ["lantern_orders_placed_total{channel=\"api\"} 1", "lantern_orders_placed_total{channel=\"acp\"} 2"]
    {
        assert!(metrics.text.lines().any(|l| l == line), "{line} missing from\n{}", metrics.text);
    }
    // And the next move of an order placed before the restart is sent as it happens.
    // (Explicit keys: the test server's key counter starts again at a restart.)
    let merchant = server.merchant(1);
    let path = format!("/v1/merchant/orders/{placed}/accept");
    server.post_keyed(&merchant, &path, "after-1", &json!({})).await.ok(200);
    eventually("order_update after the restart", || received.lock().len() >= 3).await;
    let event = verify(&received.lock()[2]);
    assert_eq!((event["type"].clone(), event["data"]["id"].clone()), (json!("order_update"), json!(placed)));
    assert_eq!(event["data"]["status"], "accepted");
    // The API order moves without an event.
    let api_order = api_order.as_str().unwrap();
    let path = format!("/v1/merchant/orders/{api_order}/accept");
    server.post_keyed(&merchant, &path, "after-2", &json!({})).await.ok(200);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(received.lock().len(), 3);
}

#[tokio::test]
async fn an_event_that_used_up_its_tries_gets_another_round_without_a_restart() {
    use std::sync::atomic::Ordering::Relaxed;
    // The receiver fails its first three POSTs: with one try a round, the event steps aside
    // three times and is delivered in the fourth round, 50 ms apart.
    let (url, received) = receiver(3).await;
    let mut config = test_config();
    config.acp.webhook = Some(WebhookConfig { retry_max_ms: 50, ..webhook_to(url) });
    let server = Server::with_config(config).await;
    let order = acp_order(&server, &server.shopper(61), "ev").await;
    let webhooks = &server.app.webhooks;
    eventually("delivered in a later round", || webhooks.n_delivered.load(Relaxed) == 1).await;
    assert_eq!(webhooks.n_given_up.load(Relaxed), 3);
    let events: Vec<Value> = received.lock().iter().map(verify).collect();
    assert_eq!(events.len(), 4);
    assert!(
        events.iter().all(|event| event["data"]["id"] == order.as_str() && event["type"] == "order_create")
    );
    // Once delivered it is settled: the mark moves past it.
    eventually("the settle mark journaled", || webhooks.settled_journaled.load(Relaxed) == 1).await;
}

/// An order's later change waits behind its earlier event that stepped aside: the receiver
/// never sees an order's `order_update` before its `order_create`, even across rounds.
#[tokio::test]
async fn a_change_waits_behind_its_orders_event_that_stepped_aside() {
    use std::sync::atomic::Ordering::Relaxed;
    // The first POST (the order's create) fails; with one try a round it steps aside for 300 ms.
    let (url, received) = receiver(1).await;
    let mut config = test_config();
    config.acp.webhook = Some(WebhookConfig { retry_max_ms: 300, ..webhook_to(url) });
    let server = Server::with_config(config).await;
    let order = acp_order(&server, &server.shopper(62), "held").await;
    let webhooks = &server.app.webhooks;
    eventually("the create stepped aside", || webhooks.n_given_up.load(Relaxed) == 1).await;
    // The shop accepts the order meanwhile.
    let path = format!("/v1/merchant/orders/{order}/accept");
    server.post(&server.merchant(1), &path, &json!({})).await.ok(200);
    eventually("both delivered", || webhooks.n_delivered.load(Relaxed) == 2).await;
    let events: Vec<(Value, Value)> = received
        .lock()
        .iter()
        .map(verify)
        .map(|event| (event["type"].clone(), event["data"]["status"].clone()))
        .collect();
    assert_eq!(
        events,
        [
            (json!("order_create"), json!("placed")),
            (json!("order_create"), json!("placed")),
            (json!("order_update"), json!("accepted")),
        ],
        "the failed try, then the create again, then the update"
    );
    eventually("the settle mark passes both", || webhooks.settled_journaled.load(Relaxed) == 2).await;
}

#[tokio::test]
async fn a_restart_sends_nothing_already_delivered_and_a_change_from_the_chat_is_sent_too() {
    use std::sync::atomic::Ordering::Relaxed;
    let (url, received) = receiver(0).await;
    let mut config = test_config();
    config.acp.webhook = Some(webhook_to(url));
    let setup = Setup { config: config.clone(), durability: Durability::Full, ..Setup::default() };
    let server = Server::start_with(setup.clone()).await;
    let order = acp_order(&server, &server.shopper(31), "cy").await;
    eventually("order_create", || !received.lock().is_empty()).await;
    // The shopper cancels in the chat, not through an HTTP route: the event still follows,
    // since the webhooks read the ledger's record of ACP orders' changes.
    let shop = lantern_gateway::GatewayShop::new(Arc::clone(&server.app), [127, 0, 0, 1].into());
    let order_id = lantern_core::OrderId::parse(&order).unwrap();
    lantern_agent::Shop::cancel_order(&shop, lantern_core::ShopperId::new(31), order_id).await.unwrap();
    eventually("order_update", || received.lock().len() >= 2).await;
    let event = verify(&received.lock()[1]);
    assert_eq!(
        (event["type"].clone(), event["data"]["status"].clone()),
        (json!("order_update"), json!("cancelled"))
    );
    // Both settled, and the mark journaled within about a second.
    eventually("the settle mark journaled", || server.app.webhooks.settled_journaled.load(Relaxed) == 2)
        .await;
    let metrics = server.send(server.http.get(server.url("/metrics"))).await;
    for line in ["lantern_webhook_events_total{outcome=\"delivered\"} 2", "lantern_webhook_backlog 0"] {
        assert!(metrics.text.lines().any(|l| l == line), "{line} missing from\n{}", metrics.text);
    }
    // The operator sees the same in the statistics the dashboard reads.
    let stats = server.get(&server.operator(), "/v1/stats").await;
    let hooks = &stats.ok(200)["webhooks"];
    assert_eq!(
        (hooks["delivered"].clone(), hooks["backlog"].clone(), hooks["resent"].clone()),
        (json!(2), json!(0), json!(0))
    );
    let live = server.get(&server.operator(), "/v1/ops/live").await;
    assert_eq!(live.ok(200)["webhooks"]["delivered"], 2, "{}", live.text);

    // After a restart nothing is sent twice, and new changes are sent as before.
    let server = server.restart_with(setup.clone()).await;
    assert_eq!(server.app.sequencer.read(lantern_ledger::Ledger::webhooks_settled_through), 2);
    let second = acp_order(&server, &server.shopper(32), "di").await;
    eventually("the new order's event", || received.lock().len() >= 3).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let events: Vec<Value> = received.lock().iter().map(verify).collect();
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(
        (events[2]["type"].clone(), events[2]["data"]["id"].clone()),
        (json!("order_create"), json!(second))
    );
    assert_eq!(server.app.webhooks.n_resent.load(Relaxed), 0);

    // A graceful stop right after a delivery journals the mark on its way out: the next start
    // sends nothing again either.
    eventually("delivered", || server.app.webhooks.n_delivered.load(Relaxed) == 1).await;
    let server = server.restart_with(setup).await;
    assert_eq!(server.app.sequencer.read(lantern_ledger::Ledger::webhooks_settled_through), 3);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(received.lock().len(), 3);
    assert_eq!(server.app.webhooks.n_resent.load(Relaxed), 0);
}

#[tokio::test]
async fn a_shop_with_an_address_offers_pickup_there_ready_by_its_estimate() {
    let server = Server::with_config(test_config()).await;
    let operator = server.operator();
    let address = json!({"line_one": "五一大道 389 号", "city": "长沙市", "state": "湖南省", "country": "CN", "postal_code": "410011"});
    let shop = json!({"id": "mer_9", "name": "茶颜 Wuyi Square", "catalog_id": "cat_1", "orders_per_minute": 2, "open_orders_max": 10, "address": address});
    // A bad address is refused naming its field, and registers nothing.
    let mut bad = shop.clone();
    bad["address"]["country"] = json!("China");
    let refused = server.post(&operator, "/v1/merchants", &bad).await;
    refused.refused(400, "invalid");
    assert_eq!(refused.json["param"], "$.address.country");
    assert!(refused.json["message"].as_str().unwrap().contains("ISO 3166-1 alpha-2"), "{}", refused.text);
    let mut unknown_field = shop.clone();
    unknown_field["address"]["planet"] = json!("Earth");
    server.post(&operator, "/v1/merchants", &unknown_field).await.refused(400, "invalid");
    let registered = server.post(&operator, "/v1/merchants", &shop).await;
    assert_eq!(registered.ok(201)["address"], address);
    // With no webhook receiver configured, the statistics say nothing of webhooks.
    let stats = server.get(&operator, "/v1/stats").await;
    assert!(stats.ok(200).get("webhooks").is_none(), "{}", stats.text);

    // A shop's one order ahead: a new order is ready in about a minute (two a minute).
    server.place_order(&server.shopper(50), "mer_9").await;
    let shopper = server.shopper(51);
    let body = r#"{"currency":"cny","line_items":[{"id":"mer_9/itm_101"},{"id":"mer_9/itm_106"}]}"#;
    let before = lantern_core::Timestamp::from_ms(server.app.now().unix_ms());
    let created = acp(&server, &shopper, "/checkout_sessions", Some("pick-1"), body).await;
    let session = created.ok(201).clone();
    let pickup = &session["fulfillment_options"][0];
    assert_eq!((pickup["type"].clone(), pickup["id"].clone()), (json!("pickup"), json!("pickup_mer_9")));
    assert_eq!(pickup["location"]["name"], "茶颜 Wuyi Square");
    assert_eq!(pickup["location"]["address"]["line_one"], "五一大道 389 号");
    assert_eq!(pickup["location"]["address"]["country"], "CN");
    assert_eq!(
        pickup["totals"],
        json!([{"type": "fulfillment", "display_text": "Pickup 自取", "amount": 0}])
    );
    let eta_ms = session["metadata"]["merchant_eta_ms"].as_u64().unwrap();
    assert_eq!(eta_ms, 60_000, "one order ahead and this one, at two a minute");
    // RFC 3339 in UTC with milliseconds, so the text orders as the time does.
    let ready_by = pickup["ready_by"].as_str().unwrap();
    let (earliest, latest) =
        (before.plus_ms(eta_ms).to_string(), server.app.now().plus_ms(eta_ms).to_string());
    assert!(
        earliest.as_str() <= ready_by && ready_by <= latest.as_str(),
        "{earliest} <= {ready_by} <= {latest}"
    );
    let line_ids: Vec<Value> =
        session["line_items"].as_array().unwrap().iter().map(|line| line["id"].clone()).collect();
    assert_eq!(
        session["selected_fulfillment_options"],
        json!([{"type": "pickup", "option_id": "pickup_mer_9", "item_ids": line_ids}])
    );

    // Selecting it is fine; selecting what is not offered is refused, at create and at update.
    let picked = r#"{"line_items":[{"id":"mer_9/itm_101"}],"selected_fulfillment_options":[{"type":"pickup","option_id":"pickup_mer_9","item_ids":[]}]}"#;
    acp(&server, &shopper, "/checkout_sessions", Some("pick-2"), picked).await.ok(201);
    let shipping = picked.replace("pickup_mer_9", "ship_01");
    let refused = acp(&server, &shopper, "/checkout_sessions", Some("pick-3"), &shipping).await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert_eq!(refused.json["param"], "$.selected_fulfillment_options[0].option_id");
    assert!(refused.json["message"].as_str().unwrap().contains("\"pickup_mer_9\""), "{}", refused.text);
    let id = session["id"].as_str().unwrap();
    let update =
        r#"{"selected_fulfillment_options":[{"type":"pickup","option_id":"pickup_mer_1","item_ids":[]}]}"#;
    let refused = acp(&server, &shopper, &format!("/checkout_sessions/{id}"), Some("pick-4"), update).await;
    assert_eq!(
        (refused.status, refused.json["param"].clone()),
        (400, json!("$.selected_fulfillment_options[0].option_id"))
    );

    // A shop without an address offers nothing, and selecting anything there is refused.
    let plain = acp(
        &server,
        &shopper,
        "/checkout_sessions",
        Some("pick-5"),
        r#"{"line_items":[{"id":"mer_1/itm_101"}]}"#,
    )
    .await;
    assert_eq!(plain.ok(201)["fulfillment_options"], json!([]));
    assert_eq!(plain.json["selected_fulfillment_options"], json!([]));
    let at_plain = picked.replace("mer_9", "mer_1");
    let refused = acp(&server, &shopper, "/checkout_sessions", Some("pick-6"), &at_plain).await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert!(
        refused.json["message"].as_str().unwrap().contains("offers no fulfillment options"),
        "{}",
        refused.text
    );
    // At a shop that does not exist, the shop is what is wrong, not the option.
    let at_unknown = picked.replace("mer_9", "mer_77");
    let refused = acp(&server, &shopper, "/checkout_sessions", Some("pick-7"), &at_unknown).await;
    assert_eq!((refused.status, refused.json["code"].clone()), (404, json!("not_found")), "{}", refused.text);
}

/// A receiver that takes `delay_ms` to answer each event (200), counting how many it holds at
/// once; each body as received.
async fn slow_receiver(
    delay_ms: u64,
) -> (String, Arc<Mutex<Vec<Value>>>, Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let (in_flight, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (log, most_seen) = (Arc::clone(&received), Arc::clone(&most));
    let app = axum::Router::new().route(
        "/order_events",
        axum::routing::post(move |body: axum::body::Bytes| {
            let (log, in_flight, most) = (Arc::clone(&log), Arc::clone(&in_flight), Arc::clone(&most_seen));
            async move {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                log.lock().push(serde_json::from_slice::<Value>(&body).unwrap());
                in_flight.fetch_sub(1, Ordering::SeqCst);
                (axum::http::StatusCode::OK, "{}").into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}/order_events"), received, most)
}

#[tokio::test]
async fn a_slow_receiver_gets_several_events_at_once_and_each_orders_events_in_order() {
    let (url, received, most_at_once) = slow_receiver(150).await;
    let mut config = test_config();
    config.acp.webhook = Some(WebhookConfig { outbox_max: 64, concurrency: 4, ..webhook_to(url) });
    let server = Server::with_config(config).await;
    let merchant = server.merchant(1);
    let mut orders = Vec::new();
    for n in 0..6 {
        let order = acp_order(&server, &server.shopper(40 + n), &format!("o{n}")).await;
        server.post(&merchant, &format!("/v1/merchant/orders/{order}/accept"), &json!({})).await.ok(200);
        server.post(&merchant, &format!("/v1/merchant/orders/{order}/reject"), &json!({})).await.ok(200);
        orders.push(order);
    }
    eventually("every event delivered", || received.lock().len() >= 18).await;
    let events = received.lock().clone();
    for order in &orders {
        let statuses: Vec<&str> = events
            .iter()
            .filter(|event| event["data"]["id"] == order.as_str())
            .map(|event| event["data"]["status"].as_str().unwrap())
            .collect();
        assert_eq!(statuses, ["placed", "accepted", "rejected"], "order {order}: {events:?}");
    }
    let most = most_at_once.load(std::sync::atomic::Ordering::SeqCst);
    assert!((2..=4).contains(&most), "{most} events at once; 4 lanes should send 2 to 4");
}

#[tokio::test]
async fn cancel_gives_the_coupon_back_and_a_full_gateway_answers_in_acp_shape() {
    let mut config = test_config();
    config.admission.limiter.initial_limit = 1;
    config.admission.limiter.min_limit = 1;
    config.admission.limiter.max_limit = 1;
    let server = Server::with_config(config).await;
    let shopper = server.shopper(8);
    assert_eq!(server.claim(&shopper, FESTIVAL).await.status, 201);
    let body =
        r#"{"currency":"cny","capabilities":{},"line_items":[{"id":"mer_1/itm_101/2,30","quantity":2}]}"#;
    let created = acp(&server, &shopper, "/checkout_sessions", Some("a"), body).await;
    let session = created.ok(201).clone();
    assert_eq!(session["line_items"][0]["quantity"], 2);
    assert_eq!(
        session["discounts"]["applied"][0]["automatic"], true,
        "the best coupon applies without a code"
    );
    let id = session["id"].as_str().unwrap().to_owned();
    let cancel_path = format!("/checkout_sessions/{id}/cancel");
    let canceled =
        acp(&server, &shopper, &cancel_path, Some("c"), r#"{"intent_trace":{"reason_code":"other"}}"#).await;
    assert_eq!(canceled.ok(200)["status"], "canceled");
    assert!(
        acp(&server, &shopper, &cancel_path, Some("c"), r#"{"intent_trace":{"reason_code":"other"}}"#)
            .await
            .replayed()
    );
    assert_acp_error(&acp(&server, &shopper, &cancel_path, Some("c2"), "{}").await, 405, "not_cancelable");
    assert_eq!(server.wallet(&shopper).await[0]["status"], "claimed", "the coupon is back in the wallet");

    // A read needs no version header; cancelling an unknown session is a bad request (the
    // file documents no 404 for cancel).
    assert_eq!(server.get(&shopper, &format!("/checkout_sessions/{id}")).await.ok(200)["status"], "canceled");
    assert_acp_error(
        &acp(&server, &shopper, "/checkout_sessions/cs_999/cancel", Some("c3"), "{}").await,
        400,
        "not_found",
    );

    // Bad input names the field.
    let mixed = r#"{"currency":"cny","line_items":[{"id":"mer_1/itm_101"},{"id":"mer_3/itm_201"}]}"#;
    let refused = acp(&server, &shopper, "/checkout_sessions", Some("m"), mixed).await;
    assert_acp_error(&refused, 400, "invalid");
    assert_eq!(refused.json["param"], "$.line_items[1].id");
    assert_acp_error(
        &acp(
            &server,
            &shopper,
            "/checkout_sessions",
            Some("u"),
            r#"{"currency":"usd","line_items":[{"id":"mer_1/itm_101"}]}"#,
        )
        .await,
        400,
        "invalid",
    );

    // The only slot is taken and the waiting room answers: ACP's Error, the ticket in headers.
    server.gate.close();
    let occupied = crate::admission::occupy(&server, 9).await;
    let queued = acp(&server, &shopper, "/checkout_sessions", Some("q"), body).await;
    assert_acp_error(&queued, 429, "queued");
    assert_eq!(queued.header("lantern-queue-position"), Some("1"));
    assert!(queued.header("lantern-ticket").is_some_and(|ticket| ticket.starts_with("lw1.")));
    assert!(queued.header("lantern-queue-eta-ms").is_some());
    // The same through the MCP tools: a tool result (not a protocol error) with the place in
    // line, the ETA and the ticket to call again with.
    let answer = mcp_create(&server, 8, "q-mcp", body).await;
    let tool = lantern_mcp::result(&answer);
    assert_eq!(tool.is_error, Some(true));
    let content = tool.structured_content.unwrap();
    assert_eq!(content["status"], "queued", "{content}");
    assert_eq!(content["position"], 2, "{content}");
    assert!(content["eta_ms"].as_u64().is_some_and(|eta| eta >= 1), "{content}");
    assert!(content["ticket"].as_str().is_some_and(|ticket| ticket.starts_with("lw1.")), "{content}");
    server.gate.open();
    assert_eq!(tokio::time::timeout(Duration::from_secs(10), occupied).await.unwrap().unwrap().status, 201);
}

const SIGNING_SECRET: &[u8] = b"an-acp-request-signing-secret";

/// An ACP request with whichever of `Timestamp` and `Signature` are given.
async fn signed_request(
    server: &Server,
    token: &str,
    post: Option<(&str, &str)>,
    path: &str,
    stamp: Option<(&str, &str)>,
) -> Reply {
    let mut request = match post {
        Some((key, body)) => server
            .http
            .post(server.url(path))
            .header("idempotency-key", key)
            .header("content-type", "application/json")
            .body(body.to_owned()),
        None => server.http.get(server.url(path)),
    };
    request = request.bearer_auth(token).header("api-version", VERSION);
    if let Some((timestamp, signature)) = stamp {
        request = request.header("timestamp", timestamp).header("signature", signature);
    }
    server.send(request).await
}

/// The documented scheme, computed here by hand rather than with the gateway's own function:
/// HMAC-SHA256 over the Timestamp, "." and the canonical JSON, base64url without padding.
fn sign(timestamp: &str, canonical: &str) -> String {
    use base64::Engine as _;
    let mut mac = Hmac::<Sha256>::new_from_slice(SIGNING_SECRET).unwrap();
    mac.update(format!("{timestamp}.{canonical}").as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

fn rfc3339_now_plus_ms(offset_ms: i64) -> String {
    let now_ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    lantern_core::Timestamp::from_ms((now_ms + offset_ms) as u64).to_string()
}

/// With a signing secret configured, every ACP request needs a `Signature` over its canonical
/// JSON and a `Timestamp` within the skew (RFC §7); a request that fails is refused 401 in
/// ACP's error shape before anything is done, and the MCP tools, served by the gateway itself,
/// sign their own calls.
#[tokio::test]
async fn with_a_signing_secret_only_signed_fresh_requests_are_served() {
    let mut config = test_config();
    config.acp.signing =
        Some(lantern_gateway::RequestSigning { secret: SIGNING_SECRET.to_vec(), skew_ms: 300_000 });
    let server = Server::with_config(config).await;
    let shopper = server.shopper(7);
    let n_commands = || server.app.sequencer.counters().n_commands.load(std::sync::atomic::Ordering::Relaxed);
    // Laid out as a client might; signed over its canonical form.
    let body = "{ \"line_items\": [ {\"id\": \"mer_1/itm_101\"} ],\n  \"currency\": \"cny\" }";
    let canonical = r#"{"currency":"cny","line_items":[{"id":"mer_1/itm_101"}]}"#;
    let now = rfc3339_now_plus_ms(0);

    let commands_before = n_commands();
    let unsigned = signed_request(&server, &shopper, Some(("s1", body)), "/checkout_sessions", None).await;
    assert_acp_error(&unsigned, 401, "signature_required");
    let tampered = body.replace("itm_101", "itm_102");
    let stamp = (now.as_str(), sign(&now, canonical));
    let altered = signed_request(
        &server,
        &shopper,
        Some(("s2", &tampered)),
        "/checkout_sessions",
        Some((stamp.0, &stamp.1)),
    )
    .await;
    assert_acp_error(&altered, 401, "invalid_signature");
    let old = rfc3339_now_plus_ms(-301_000);
    let stale = signed_request(
        &server,
        &shopper,
        Some(("s3", body)),
        "/checkout_sessions",
        Some((&old, &sign(&old, canonical))),
    )
    .await;
    assert_acp_error(&stale, 401, "timestamp_out_of_window");
    for (timestamp, signature) in
        [("yesterday".to_owned(), sign("yesterday", canonical)), (now.clone(), "!!!".to_owned())]
    {
        let garbled = signed_request(
            &server,
            &shopper,
            Some(("s4", body)),
            "/checkout_sessions",
            Some((&timestamp, &signature)),
        )
        .await;
        assert_acp_error(&garbled, 401, "invalid_signature");
    }
    assert_eq!(n_commands(), commands_before, "a refused request reached the ledger");

    let created = signed_request(
        &server,
        &shopper,
        Some(("s5", body)),
        "/checkout_sessions",
        Some((stamp.0, &stamp.1)),
    )
    .await;
    let id = created.ok(201)["id"].as_str().unwrap().to_owned();
    // A read signs the empty string; padded standard base64 is accepted too.
    let path = format!("/checkout_sessions/{id}");
    assert_acp_error(&signed_request(&server, &shopper, None, &path, None).await, 401, "signature_required");
    let padded = {
        use base64::Engine as _;
        let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(sign(&now, "")).unwrap();
        base64::engine::general_purpose::STANDARD.encode(tag)
    };
    assert!(padded.ends_with('='));
    let read = signed_request(&server, &shopper, None, &path, Some((&now, &padded))).await;
    assert_eq!(read.ok(200)["id"], id.as_str());

    // The MCP tools call the same API in-process, signed by the gateway.
    let answer = mcp_create(&server, 8, "s-mcp", body).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
}
