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
