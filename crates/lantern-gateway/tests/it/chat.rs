//! The shopping agent over HTTP: a chat order with a coupon is placed only after the shopper
//! confirms the quote shown, once; sessions are per shopper; bad input is refused with a reason;
//! the reply streams as server-sent events. Also the search index behind `/v1/search`.

use serde_json::{Value, json};

use crate::support::*;

async fn say(server: &Server, token: &str, session: &str, message: &str) -> Value {
    let reply = server.post(token, "/v1/chat", &json!({"message": message, "session_id": session})).await;
    reply.ok(200).clone()
}

fn events_of<'a>(transcript: &'a Value, kind: &str) -> Vec<&'a Value> {
    transcript["events"].as_array().unwrap().iter().filter(|event| event["type"] == kind).collect()
}

fn text_of(transcript: &Value) -> String {
    events_of(transcript, "text")
        .iter()
        .map(|event| event["text"].as_str().unwrap())
        .collect::<Vec<_>>()
        .join(" ")
}

async fn n_orders(server: &Server, token: &str) -> usize {
    server.get(token, "/v1/orders").await.ok(200)["orders"].as_array().unwrap().len()
}

#[tokio::test]
async fn a_chat_order_is_placed_once_and_only_after_the_shopper_confirms_the_quote() {
    let server = Server::start().await;
    let ada = server.shopper(1);
    server.claim(&ada, FESTIVAL).await.ok(201);

    let added = say(&server, &ada, "s1", "two pearl milk teas, less sugar").await;
    assert_eq!(added["done"]["intent"], "order");
    assert_eq!(events_of(&added, "cart").len(), 1, "{added}");
    // "Yes" before any quote shows the quote; it does not order.
    let early = say(&server, &ada, "s1", "yes").await;
    assert_eq!(events_of(&early, "order_placed").len(), 0, "{early}");
    assert_eq!(n_orders(&server, &ada).await, 0);

    let quoted = say(&server, &ada, "s1", "checkout").await;
    let quote = &events_of(&quoted, "quote")[0]["quote"];
    assert_eq!(quote["subtotal_fen"], 3000, "{quoted}");
    assert_eq!(quote["discount_fen"], 2500, "the festival coupon is applied by itself: {quoted}");
    assert_eq!(quote["total_fen"], 500);
    assert!(text_of(&quoted).contains("¥5.00"), "{}", text_of(&quoted));
    assert_eq!(n_orders(&server, &ada).await, 0, "a quote is not an order");

    let placed = say(&server, &ada, "s1", "yes").await;
    let order = &events_of(&placed, "order_placed")[0]["order"];
    assert_eq!(order["total_fen"], 500, "{placed}");
    assert_eq!(placed["done"]["order_id"], order["order"]);
    let orders = server.get(&ada, "/v1/orders").await;
    assert_eq!(orders.ok(200)["orders"].as_array().unwrap().len(), 1);
    assert_eq!(orders.json["orders"][0]["total"], 500);
    assert_eq!(orders.json["orders"][0]["channel"], "chat", "the order remembers it came from the chat");

    // A repeated yes places nothing more.
    let again = say(&server, &ada, "s1", "yes").await;
    assert_eq!(events_of(&again, "order_placed").len(), 0, "{again}");
    assert_eq!(n_orders(&server, &ada).await, 1);
    // And the order can be followed in the chat.
    let status = say(&server, &ada, "s1", "where is my order").await;
    assert_eq!(events_of(&status, "order_status")[0]["order"]["order"], order["order"], "{status}");
}

#[tokio::test]
async fn chinese_messages_get_chinese_answers_and_sessions_belong_to_their_shopper() {
    let server = Server::start().await;
    let ada = server.shopper(1);
    let bob = server.shopper(2);
    let added = say(&server, &ada, "shared-name", "来两杯珍珠奶茶 少糖").await;
    assert!(text_of(&added).contains("珍珠奶茶"), "{added}");
    say(&server, &ada, "shared-name", "结账").await;
    // Bob's session of the same name is his own: his "yes" has no quote to confirm.
    let bobs = say(&server, &bob, "shared-name", "确认").await;
    assert_eq!(events_of(&bobs, "order_placed").len(), 0, "{bobs}");
    assert_eq!(n_orders(&server, &bob).await, 0);
    let placed = say(&server, &ada, "shared-name", "确认").await;
    assert_eq!(events_of(&placed, "order_placed").len(), 1, "{placed}");
    assert!(text_of(&placed).contains("元"), "{}", text_of(&placed));
}

#[tokio::test]
async fn the_reply_streams_as_server_sent_events() {
    let server = Server::start().await;
    let response = server
        .http
        .post(server.url("/v1/chat"))
        .bearer_auth(server.shopper(1))
        .header("accept", "text/event-stream")
        .json(&json!({"message": "a latte please"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let body = response.text().await.unwrap();
    assert!(body.contains("event: cart"), "{body}");
    assert!(body.contains("event: text"), "{body}");
    assert!(body.trim_end().ends_with('}') && body.contains("event: done"), "{body}");
}

#[tokio::test]
async fn bad_chat_input_is_refused_with_a_reason() {
    let server = Server::start().await;
    let ada = server.shopper(1);
    let long = "茶".repeat(2_001);
    for (body, param) in [
        (json!({"message": ""}), "$.message"),
        (json!({"message": "   "}), "$.message"),
        (json!({"message": long}), "$.message"),
        (json!({"message": "hi", "session_id": "has space"}), "$.session_id"),
        (json!({"message": "hi", "session_id": "x".repeat(65)}), "$.session_id"),
    ] {
        let reply = server.post(&ada, "/v1/chat", &body).await;
        let error = reply.refused(400, "invalid");
        assert_eq!(error["param"], param, "{}", reply.text);
    }
    server.post(&ada, "/v1/chat", &json!({"message": "hi", "extra": 1})).await.refused(400, "invalid");
    server.post(&ada, "/v1/chat", &json!({"message": 7})).await.refused(400, "invalid");
    server.post(&server.merchant(1), "/v1/chat", &json!({"message": "hi"})).await.refused(403, "forbidden");
    let anonymous =
        server.send(server.http.post(server.url("/v1/chat")).json(&json!({"message": "hi"}))).await;
    assert_eq!(anonymous.status, 401);
}

#[tokio::test]
async fn search_tolerates_typos_and_reads_chinese() {
    let server = Server::start().await;
    let ada = server.shopper(1);
    let ids = |reply: &Reply| -> Vec<String> {
        reply.json["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|hit| hit["item"]["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let typo = server.get(&ada, "/v1/search?q=lattee").await;
    typo.ok(200);
    assert_eq!(ids(&typo).first().map(String::as_str), Some("itm_201"), "{}", typo.text);
    let chinese = server.get(&ada, &format!("/v1/search?q={}", percent_encode("奶茶"))).await;
    chinese.ok(200);
    assert!(ids(&chinese).iter().all(|id| id == "itm_101"), "{}", chinese.text);
    assert!(!ids(&chinese).is_empty());
    let nothing = server.get(&ada, "/v1/search?q=pizza").await;
    assert_eq!(nothing.ok(200)["hits"], json!([]));
}

/// A chat order at a shop whose rate has no slot now is turned away before the ledger, as an
/// API order is, and the agent offers the faster shop of the same menu; nothing is placed.
#[tokio::test]
async fn a_chat_order_at_a_shop_with_no_order_slot_is_offered_a_faster_shop() {
    let server = Server::start().await;
    let (ada, bo) = (server.shopper(1), server.shopper(2));
    server.one_order_a_minute(1).await;
    say(&server, &ada, "s1", "two pearl milk teas, less sugar").await;
    let quoted = say(&server, &ada, "s1", "checkout").await;
    assert_eq!(events_of(&quoted, "quote")[0]["quote"]["merchant"], TEA_1, "{quoted}");
    // Bo's order takes the shop's slot for the minute.
    let order = json!({"campaign_id": FESTIVAL, "merchant_id": TEA_1, "line_items": [{"id": "itm_101", "quantity": 1}]});
    server.post(&bo, "/v1/coupon_orders", &order).await.ok(201);

    let n_commands = || server.app.sequencer.counters().n_commands.load(std::sync::atomic::Ordering::Relaxed);
    let commands_before = n_commands();
    let refused = say(&server, &ada, "s1", "yes").await;
    assert_eq!(events_of(&refused, "order_placed").len(), 0, "{refused}");
    let text = text_of(&refused);
    assert!(text.contains("#1 is busy, about 1 min") && text.contains("Tea House #2 (2 s)"), "{text}");
    assert_eq!(n_commands(), commands_before, "the refusal reached the ledger");
    assert_eq!(n_orders(&server, &ada).await, 0);
}

/// The agent's shop answers the same key with the same order, as `Shop::place` promises, even
/// when that order is what left the shop with no slot; and another quote under a key already
/// used gets the ledger's conflict, not the busy shop's refusal.
#[tokio::test]
async fn placing_again_under_a_used_key_gets_the_ledgers_answer_not_the_busy_shops() {
    let server = Server::start().await;
    let ada = server.shopper(1);
    server.one_order_a_minute(1).await;
    let open = json!({"merchant_id": TEA_1, "line_items": [{"id": "itm_101", "quantity": 1}]});
    let shop = lantern_gateway::GatewayShop::new(std::sync::Arc::clone(&server.app), [127, 0, 0, 1].into());
    let shopper = lantern_core::ShopperId::new(1);
    let mut quotes = Vec::new();
    for _ in 0..2 {
        let created = server.post(&ada, "/v1/checkout_sessions", &open).await;
        let session = created.ok(201)["id"].as_str().unwrap().to_owned();
        quotes.push(lantern_core::QuoteId::new(session.trim_start_matches("cs_").parse().unwrap()));
    }

    let placed = lantern_agent::Shop::place(&shop, shopper, quotes[0], "chat-order-1").await;
    let placed = placed.unwrap_or_else(|refusal| panic!("first placement refused: {refusal:?}"));
    let again = lantern_agent::Shop::place(&shop, shopper, quotes[0], "chat-order-1").await;
    let again = again.unwrap_or_else(|refusal| panic!("the repeat was refused: {refusal:?}"));
    assert_eq!(again.order, placed.order);
    let other = lantern_agent::Shop::place(&shop, shopper, quotes[1], "chat-order-1").await;
    assert_eq!(
        other.map(|order| order.order).map_err(|refusal| refusal.code),
        Err("idempotency_conflict".to_owned())
    );
    let busy = lantern_agent::Shop::place(&shop, shopper, quotes[1], "chat-order-2").await;
    assert_eq!(
        busy.map(|order| order.order).map_err(|refusal| refusal.code),
        Err("merchant_busy".to_owned())
    );
    assert_eq!(n_orders(&server, &ada).await, 1);
}
