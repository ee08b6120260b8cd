//! The web's side of the gateway: embedded pages and assets (entity tags, security headers), guest
//! tokens, the live views (operator snapshot, merchant and shopper order streams), the audit list
//! of campaign changes, and a chat shopper who comes back with a waiting-room ticket.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::*;

#[tokio::test]
async fn pages_and_assets_are_served_from_the_binary_with_tags_and_a_strict_policy() {
    let server = Server::start().await;
    for (path, kind) in [
        ("/", "text/html"),
        ("/ops", "text/html"),
        ("/merchant", "text/html"),
        ("/assets/chat.js", "text/javascript"),
        ("/assets/lantern.css", "text/css"),
    ] {
        let reply = server.send(server.http.get(server.url(path))).await;
        assert_eq!(reply.status, 200, "{path}");
        assert!(reply.header("content-type").unwrap().starts_with(kind), "{path}");
        assert!(reply.header("content-security-policy").unwrap().contains("default-src 'self'"));
        assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
        let etag = reply.header("etag").unwrap().to_owned();
        let again =
            server.send(server.http.get(server.url(path)).header("if-none-match", etag.as_str())).await;
        assert_eq!(again.status, 304, "{path}: an unchanged file is not sent again");
        assert!(again.text.is_empty());
        let stale = server.send(server.http.get(server.url(path)).header("if-none-match", "\"other\"")).await;
        assert_eq!(stale.status, 200);
    }
    let page = server.send(server.http.get(server.url("/"))).await;
    assert!(page.text.contains("/assets/chat.js"), "{}", page.text);
    for missing in ["/assets/nope.js", "/assets/../Cargo.toml", "/assets/%2e%2e/secret"] {
        let reply = server.send(server.http.get(server.url(missing))).await;
        assert_eq!(reply.status, 404, "{missing}");
        reply.assert_error_shape();
    }
}

#[tokio::test]
async fn guest_tokens_are_given_only_when_turned_on_and_each_is_a_new_shopper() {
    let off = Server::start().await;
    off.send(off.http.post(off.url("/v1/guest_token")).json(&json!({}))).await.refused(404, "not_found");

    let mut config = test_config();
    config.guest_tokens = true;
    config.admission.ip_bucket.burst = 3;
    config.admission.ip_bucket.per_second = 1;
    let on = Server::with_config(config).await;
    let first = on.send(on.http.post(on.url("/v1/guest_token"))).await.ok(201).clone();
    let second = on.send(on.http.post(on.url("/v1/guest_token")).json(&json!({}))).await.ok(201).clone();
    assert_ne!(first["shopper_id"], second["shopper_id"]);
    let token = first["token"].as_str().unwrap();
    let live = on.get(token, "/v1/orders/live").await;
    assert_eq!(live.ok(200)["shopper_id"], first["shopper_id"], "the token is a working shopper token");
    on.send(on.http.post(on.url("/v1/guest_token")).body("not json")).await.refused(400, "invalid");
    // Rate limited per address like every request.
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(on.send(on.http.post(on.url("/v1/guest_token"))).await.status);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
}

#[tokio::test]
async fn the_operator_snapshot_shows_orders_budget_burn_backlog_and_audited_changes() {
    let server = Server::start().await;
    let ada = server.shopper(1);
    let order = server.place_order(&ada, TEA_1).await;
    assert_eq!(order["status"], "placed");
    let operator = server.operator();
    server.get(&ada, "/v1/ops/live").await.refused(403, "forbidden");

    let snapshot = server.get(&operator, "/v1/ops/live").await.ok(200).clone();
    assert_eq!(snapshot["orders_total"], 1, "{snapshot}");
    assert_eq!(
        snapshot["orders_by_channel"],
        json!([{"channel": "api", "orders": 1}, {"channel": "chat", "orders": 0}, {"channel": "acp", "orders": 0}])
    );
    let festival = snapshot["campaigns"].as_array().unwrap().iter().find(|c| c["id"] == FESTIVAL).unwrap();
    assert_eq!(festival["coupons_issued"], 1);
    assert_eq!(festival["coupons_redeemed"], 1);
    assert_eq!(
        festival["redeemed_fen"], 2500,
        "a redeemed coupon keeps its face value until the order settles: {festival}"
    );
    assert_eq!(
        festival["budget_available"].as_i64().unwrap(),
        festival["budget_total"].as_i64().unwrap() - 2500,
        "{festival}"
    );
    let backlog = snapshot["backlogged_merchants"].as_array().unwrap();
    assert_eq!(backlog.len(), 1, "only shops with a backlog: {snapshot}");
    assert_eq!(backlog[0]["id"], TEA_1, "{snapshot}");
    assert_eq!(backlog[0]["open_orders"], 1);
    let classes = snapshot["classes"].as_array().unwrap();
    assert!(classes.iter().any(|c| c["admitted"].as_u64().unwrap() >= 1), "{snapshot}");
    assert!(snapshot["latency_p99_us"].as_u64().unwrap() >= snapshot["latency_p50_us"].as_u64().unwrap());

    // A fuller shop goes first.
    server.place_order(&server.shopper(2), TEA_2).await;
    server.place_order(&server.shopper(3), TEA_2).await;
    server.post(&operator, "/v1/campaigns/cmp_1/pause", &json!({})).await.ok(200);
    server.post(&operator, "/v1/campaigns/cmp_1/edit", &json!({"top_up": 100000})).await.ok(200);
    // Snapshots are shared for a moment; the next one shows the changes.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let snapshot = server.get(&operator, "/v1/ops/live").await.ok(200).clone();
    let audit = snapshot["audit"].as_array().unwrap();
    assert_eq!(audit.len(), 2, "{snapshot}");
    assert_eq!(audit[0]["action"], "edit", "newest first");
    assert_eq!(audit[0]["detail"], "top_up 100000 fen");
    assert_eq!(audit[1]["action"], "pause");
    assert_eq!(audit[1]["campaign_id"], FESTIVAL);
    assert!(audit[1]["who"].as_str().unwrap().starts_with("operator (token issued "), "{audit:?}");
    assert!(audit[1]["who"].as_str().unwrap().ends_with("from 127.0.0.1"), "{audit:?}");
    let festival = snapshot["campaigns"].as_array().unwrap().iter().find(|c| c["id"] == FESTIVAL).unwrap();
    assert_eq!(festival["status"], "paused");
    let backlog: Vec<(&str, u64)> = snapshot["backlogged_merchants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|shop| (shop["id"].as_str().unwrap(), shop["open_orders"].as_u64().unwrap()))
        .collect();
    assert_eq!(backlog, [(TEA_2, 2), (TEA_1, 1)], "{snapshot}");
    assert_eq!(snapshot["orders_total"], 3);
    assert!(festival["burn_fen_per_s"].as_i64().unwrap() > 0, "coupons went out in the window: {festival}");
    assert!(festival["exhausts_at"].is_string(), "{festival}");
}

/// Reads an SSE response until `until` matches the text so far or `limit` passes.
async fn read_events(
    response: &mut reqwest::Response,
    limit: Duration,
    until: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + limit;
    let mut text = String::new();
    while !until(&text) {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, response.chunk()).await {
            Ok(Ok(Some(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
            _ => break,
        }
    }
    text
}

fn data_of(events: &str, name: &str) -> Vec<Value> {
    events
        .split("\n\n")
        .filter(|block| block.lines().any(|line| line == format!("event: {name}")))
        .filter_map(|block| block.lines().find_map(|line| line.strip_prefix("data:")))
        .map(|data| serde_json::from_str(data.trim()).unwrap())
        .collect()
}

#[tokio::test]
async fn merchant_and_shopper_streams_push_each_state_change_and_end_with_their_lifetime() {
    let mut config = test_config();
    config.sse_lifetime_ms = 3_000;
    let server = Server::with_config(config).await;
    let ada = server.shopper(1);
    let order = server.place_order(&ada, TEA_1).await;
    let id = order["id"].as_str().unwrap().to_owned();
    let shop = server.merchant(1);
    server.get(&ada, "/v1/merchant/live").await.refused(403, "forbidden");
    let once = server.get(&shop, "/v1/merchant/live").await.ok(200).clone();
    assert_eq!(once["merchant"]["id"], TEA_1);
    assert_eq!(once["orders"][0]["id"], id.as_str());

    let stream = |token: &str, path: &str| {
        server.http.get(server.url(path)).bearer_auth(token).header("accept", "text/event-stream").send()
    };
    let mut shopper_stream = stream(&ada, "/v1/orders/live").await.unwrap();
    let mut shop_stream = stream(&shop, "/v1/merchant/live").await.unwrap();
    assert_eq!(shopper_stream.headers()["content-type"], "text/event-stream");
    let started = Instant::now();
    let first = read_events(&mut shopper_stream, Duration::from_secs(2), |text| text.contains("\n\n")).await;
    assert_eq!(data_of(&first, "orders")[0]["orders"][0]["status"], "placed", "{first}");

    server.post(&shop, &format!("/v1/merchant/orders/{id}/accept"), &json!({})).await.ok(200);
    let pushed =
        read_events(&mut shopper_stream, Duration::from_secs(2), |text| text.contains("accepted")).await;
    assert_eq!(data_of(&pushed, "orders")[0]["orders"][0]["status"], "accepted", "{pushed}");
    assert!(
        started.elapsed() < Duration::from_millis(2_500),
        "pushed within a poll, not at the next reconnect"
    );
    let shop_events =
        read_events(&mut shop_stream, Duration::from_secs(2), |text| text.contains("accepted")).await;
    let views = data_of(&shop_events, "orders");
    assert_eq!(views.first().unwrap()["orders"][0]["status"], "placed", "{shop_events}");
    assert_eq!(views.last().unwrap()["orders"][0]["status"], "accepted", "{shop_events}");
    assert_eq!(views.len(), 2, "nothing is sent while nothing changes: {shop_events}");

    // Both streams end by their lifetime (the pages reconnect).
    let rest = read_events(&mut shopper_stream, Duration::from_secs(5), |_| false).await;
    assert!(data_of(&rest, "orders").is_empty(), "{rest}");
    assert!(started.elapsed() < Duration::from_secs(5), "the stream ended after its 3 s lifetime");
}

#[tokio::test]
async fn a_chat_shopper_queued_for_a_write_comes_back_with_the_ticket_and_keeps_the_place() {
    // One slot: a chat turn holds it, so the turn's own quote waits in line; when the turn ends
    // the ticket is promoted and holds the slot for the shopper's return.
    let mut config = test_config();
    config.admission.limiter.initial_limit = 1;
    config.admission.limiter.min_limit = 1;
    config.admission.limiter.max_limit = 1;
    let server = Server::with_config(config).await;
    let ada = server.shopper(1);
    let say = |message: &'static str, ticket: Option<String>| {
        let mut request = server
            .http
            .post(server.url("/v1/chat"))
            .bearer_auth(&ada)
            .json(&json!({"message": message, "session_id": "s"}));
        if let Some(ticket) = ticket {
            request = request.header("lantern-ticket", ticket);
        }
        server.send(request)
    };
    say("two pearl milk teas", None).await.ok(200);
    let queued = say("checkout", None).await.ok(200).clone();
    let waiting = queued["events"].as_array().unwrap().iter().find(|event| event["type"] == "queued");
    let ticket = waiting.unwrap_or_else(|| panic!("queued: {queued}"))["waiting"]["ticket"]
        .as_str()
        .unwrap()
        .to_owned();
    let state = server.send(server.http.get(server.url(&format!("/v1/waiting_room/{ticket}")))).await;
    assert_eq!(state.ok(200)["status"], "admitted");

    // Another shopper cannot use it; a fresh chat without it finds the slot reserved.
    let bob = server.shopper(2);
    let stolen = server
        .send(
            server
                .http
                .post(server.url("/v1/chat"))
                .bearer_auth(&bob)
                .header("lantern-ticket", ticket.as_str())
                .json(&json!({"message": "checkout"})),
        )
        .await;
    stolen.refused(403, "forbidden");
    let fresh = server
        .send(server.http.post(server.url("/v1/chat")).bearer_auth(&bob).json(&json!({"message": "hi"})))
        .await;
    fresh.refused(429, "queued");

    let quoted = say("checkout", Some(ticket.clone())).await.ok(200).clone();
    let quote = quoted["events"].as_array().unwrap().iter().find(|event| event["type"] == "quote");
    assert!(quote.is_some(), "the returning shopper is served in the reserved slot: {quoted}");
    let again = server.send(server.http.get(server.url(&format!("/v1/waiting_room/{ticket}")))).await;
    assert_eq!(again.ok(200)["status"], "gone", "the ticket was used");
    let snapshot = server.get(&server.operator(), "/v1/ops/live").await.ok(200).clone();
    assert!(snapshot["llm"]["chat_turns"].as_u64().unwrap() >= 3, "{snapshot}");
    assert_eq!(snapshot["llm"]["configured"], false);
}
