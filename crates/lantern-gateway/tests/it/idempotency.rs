//! `Idempotency-Key` on every POST: a repeat replays the first answer (refusals included) and
//! does nothing twice, another request under the same key is a conflict, a repeat while the
//! first is running is told to wait, and the keys survive a restart.

use std::time::Duration;

use lantern_store::Durability;
use serde_json::{Value, json};

use crate::support::*;

/// Every POST endpoint, with a body that is acceptable for its role.
pub fn post_endpoints(server: &Server) -> Vec<(String, String, Value)> {
    let (shopper, merchant, operator) = (server.shopper(1), server.merchant(1), server.operator());
    let tea = json!([{"id": "itm_101", "quantity": 1}]);
    vec![
        (shopper.clone(), "/v1/campaigns/cmp_1/claim".into(), json!({})),
        (shopper.clone(), "/v1/checkout_sessions".into(), json!({"merchant_id": TEA_1, "line_items": tea})),
        (shopper.clone(), "/v1/checkout_sessions/cs_1".into(), json!({"line_items": tea})),
        (shopper.clone(), "/v1/checkout_sessions/cs_1/complete".into(), json!({})),
        (shopper.clone(), "/v1/checkout_sessions/cs_1/cancel".into(), json!({})),
        (
            shopper.clone(),
            "/v1/coupon_orders".into(),
            json!({"campaign_id": FESTIVAL, "merchant_id": TEA_1, "line_items": tea}),
        ),
        (shopper, "/v1/orders/ord_1/cancel".into(), json!({})),
        (
            merchant.clone(),
            "/v1/merchant/catalog".into(),
            json!({"items": [{"id": 1, "name": "x", "category": "y", "price_fen": 1}]}),
        ),
        (merchant.clone(), "/v1/merchant/status".into(), json!({"status": "open"})),
        (
            merchant.clone(),
            "/v1/merchant/capacity".into(),
            json!({"orders_per_minute": 30, "open_orders_max": 40}),
        ),
        (merchant, "/v1/merchant/orders/ord_1/accept".into(), json!({})),
        (
            operator.clone(),
            "/v1/catalogs/cat_8".into(),
            json!({"items": [{"id": 1, "name": "x", "category": "y", "price_fen": 1}]}),
        ),
        (
            operator.clone(),
            "/v1/merchants".into(),
            json!({"id": "mer_9", "name": "x", "catalog_id": "cat_1", "orders_per_minute": 1, "open_orders_max": 1}),
        ),
        (
            operator.clone(),
            "/v1/campaigns".into(),
            json!({"name": "x", "budget": 100, "template": "amount_off", "amount": 10, "per_shopper_limit": 1,
                "starts_at": "2027-01-01T00:00:00Z", "ends_at": "2099-01-01T00:00:00Z"}),
        ),
        (operator.clone(), "/v1/campaigns/cmp_1/edit".into(), json!({"top_up": 100})),
        (operator.clone(), "/v1/campaigns/cmp_1/pause".into(), json!({})),
        (operator.clone(), "/v1/campaigns/cmp_1/resume".into(), json!({})),
        (operator, "/v1/ops/backups".into(), json!({})),
    ]
}

#[tokio::test]
async fn same_key_same_body_replays_the_first_answer_and_does_nothing_twice() {
    let server = Server::start().await;
    let shopper = server.shopper(1);
    let claim_key = server.key();
    let first = server.post_keyed(&shopper, "/v1/campaigns/cmp_1/claim", &claim_key, &json!({})).await;
    first.ok(201);
    assert!(!first.replayed());
    let again = server.post_keyed(&shopper, "/v1/campaigns/cmp_1/claim", &claim_key, &json!({})).await;
    assert_eq!((again.status, again.text.as_str()), (201, first.text.as_str()));
    assert!(again.replayed(), "{:?}", again.headers);
    assert_eq!(again.json["newly_claimed"], true, "the first answer, not a fresh one");

    let body = json!({"merchant_id": TEA_1, "line_items": [{"id": "itm_101", "quantity": 2}]});
    let create_key = server.key();
    let created = server.post_keyed(&shopper, "/v1/checkout_sessions", &create_key, &body).await;
    created.ok(201);
    let replayed = server.post_keyed(&shopper, "/v1/checkout_sessions", &create_key, &body).await;
    assert_eq!((replayed.status, replayed.replayed()), (201, true));
    assert_eq!(replayed.json["id"], created.json["id"], "one session, not two");

    let path = format!("/v1/checkout_sessions/{}/complete", created.json["id"].as_str().unwrap());
    let complete_key = server.key();
    let order = server.post_keyed(&shopper, &path, &complete_key, &json!({})).await;
    order.ok(200);
    for _ in 0..3 {
        let repeat = server.post_keyed(&shopper, &path, &complete_key, &json!({})).await;
        assert_eq!((repeat.status, repeat.replayed()), (200, true), "{}", repeat.text);
        assert_eq!(repeat.json["order"]["id"], order.json["order"]["id"]);
    }
    // A new key for the same completed session does not place a second order.
    let other_key = server.post(&shopper, &path, &json!({})).await;
    assert!(other_key.status == 200 || other_key.status >= 400, "{}", other_key.text);
    if other_key.status == 200 {
        assert_eq!(other_key.json["order"]["id"], order.json["order"]["id"]);
    } else {
        other_key.assert_error_shape();
    }
    assert_eq!(server.get(&shopper, "/v1/orders").await.ok(200)["orders"].as_array().unwrap().len(), 1);

    // The one-step coupon order: claim, quote and order replay together.
    let buyer = server.shopper(2);
    let body = json!({"campaign_id": FESTIVAL, "merchant_id": TEA_2, "line_items": [{"id": "itm_106", "quantity": 1}]});
    let key = server.key();
    let placed = server.post_keyed(&buyer, "/v1/coupon_orders", &key, &body).await;
    placed.ok(201);
    let repeat = server.post_keyed(&buyer, "/v1/coupon_orders", &key, &body).await;
    assert_eq!((repeat.status, repeat.replayed(), &repeat.json["id"]), (201, true, &placed.json["id"]));
    assert_eq!(server.get(&buyer, "/v1/orders").await.ok(200)["orders"].as_array().unwrap().len(), 1);

    // Operator and merchant writes replay too.
    let operator = server.operator();
    let top_up = server.key();
    let once =
        server.post_keyed(&operator, "/v1/campaigns/cmp_1/edit", &top_up, &json!({"top_up": 1000})).await;
    let twice =
        server.post_keyed(&operator, "/v1/campaigns/cmp_1/edit", &top_up, &json!({"top_up": 1000})).await;
    assert_eq!((once.status, twice.status, twice.replayed()), (200, 200, true));
    assert_eq!(once.json["budget_total"], twice.json["budget_total"]);
    let stats = server.get(&operator, "/v1/campaigns/cmp_1/stats").await;
    assert_eq!(stats.ok(200)["budget_total"], once.json["budget_total"], "topped up once");
}

#[tokio::test]
async fn same_key_another_request_is_a_conflict() {
    let server = Server::start().await;
    let shopper = server.shopper(1);
    let key = server.key();
    let body = json!({"merchant_id": TEA_1, "line_items": [{"id": "itm_101", "quantity": 1}]});
    server.post_keyed(&shopper, "/v1/checkout_sessions", &key, &body).await.ok(201);
    let other_body = json!({"merchant_id": TEA_1, "line_items": [{"id": "itm_101", "quantity": 2}]});
    server
        .post_keyed(&shopper, "/v1/checkout_sessions", &key, &other_body)
        .await
        .refused(422, "idempotency_conflict");
    // Another endpoint under the key is another request too.
    let coupon_order = json!({"campaign_id": FESTIVAL, "merchant_id": TEA_1, "line_items": [{"id": "itm_101", "quantity": 1}]});
    server.post_keyed(&shopper, "/v1/claim_typo", &key, &body).await.refused(404, "not_found");
    let claim = server.post_keyed(&shopper, "/v1/campaigns/cmp_1/claim", &key, &json!({})).await;
    claim.refused(422, "idempotency_conflict");
    assert!(server.wallet(&shopper).await.is_empty(), "a conflicting claim claimed nothing");
    server
        .post_keyed(&shopper, "/v1/coupon_orders", &key, &coupon_order)
        .await
        .refused(422, "idempotency_conflict");
    // The fingerprint is of the bytes: the same request spelled differently is another one.
    let reply = server
        .send(
            server
                .http
                .post(server.url("/v1/checkout_sessions"))
                .bearer_auth(&shopper)
                .header("idempotency-key", &key)
                .header("content-type", "application/json")
                .body(r#"{ "line_items":[{"id":"itm_101","quantity":1}],"merchant_id":"mer_1"}"#),
        )
        .await;
    reply.refused(422, "idempotency_conflict");
    // Keys are per caller: another shopper may use the same key for their own request.
    server.post_keyed(&server.shopper(2), "/v1/checkout_sessions", &key, &other_body).await.ok(201);
    // The first answer still replays.
    let replay = server.post_keyed(&shopper, "/v1/checkout_sessions", &key, &body).await;
    assert_eq!((replay.status, replay.replayed()), (201, true));
}

/// `POST /v1/coupon_orders` runs its claim and quote under `KEY#claim` and `KEY#quote`, so a
/// request that reuses a key of another request is refused 422 only at the last step, after
/// it has claimed a coupon and left a quote holding it (until the hold expires, 15 minutes):
/// the conflicting request did something.
#[tokio::test]
async fn a_conflicting_coupon_order_changes_nothing() {
    let server = Server::start().await;
    let shopper = server.shopper(1);
    let key = server.key();
    let body = json!({"merchant_id": TEA_2, "line_items": [{"id": "itm_106", "quantity": 1}], "discounts": {"codes": []}});
    server.post_keyed(&shopper, "/v1/checkout_sessions", &key, &body).await.ok(201);
    let coupon_order = json!({"campaign_id": FESTIVAL, "merchant_id": TEA_1, "line_items": [{"id": "itm_101", "quantity": 1}]});
    server
        .post_keyed(&shopper, "/v1/coupon_orders", &key, &coupon_order)
        .await
        .refused(422, "idempotency_conflict");
    let wallet = server.wallet(&shopper).await;
    assert!(wallet.is_empty(), "the refused request claimed (and holds) a coupon: {wallet:?}");
}

#[tokio::test]
async fn every_post_needs_a_key_and_the_key_is_checked() {
    let server = Server::start().await;
    for (token, path, body) in post_endpoints(&server) {
        let no_key = server.send(server.http.post(server.url(&path)).bearer_auth(&token).json(&body)).await;
        let error = no_key.refused(400, "idempotency_key_required");
        assert_eq!(error["param"], "$header.Idempotency-Key", "{path}");
        for bad in ["", "has space", "x".repeat(256).as_str(), "tab\tkey"] {
            let reply = server
                .send(
                    server
                        .http
                        .post(server.url(&path))
                        .bearer_auth(&token)
                        .header("idempotency-key", bad)
                        .json(&body),
                )
                .await;
            let error = reply.refused(400, "invalid");
            assert_eq!(error["param"], "$header.Idempotency-Key", "{path} with {bad:?}");
        }
        let binary = reqwest::header::HeaderValue::from_bytes("键-1".as_bytes()).unwrap();
        let reply = server
            .send(
                server
                    .http
                    .post(server.url(&path))
                    .bearer_auth(&token)
                    .header("idempotency-key", binary)
                    .json(&body),
            )
            .await;
        reply.refused(400, "invalid");
    }
    // The longest key is fine; the one-step order needs room for its step suffixes.
    let longest = "k".repeat(255);
    let reply =
        server.post_keyed(&server.shopper(1), "/v1/campaigns/cmp_1/claim", &longest, &json!({})).await;
    reply.ok(201);
    let body = json!({"campaign_id": FESTIVAL, "merchant_id": TEA_1, "line_items": [{"id": "itm_101", "quantity": 1}]});
    let reply = server.post_keyed(&server.shopper(2), "/v1/coupon_orders", &longest, &body).await;
    assert!(reply.status == 201 || reply.status == 400, "{}", reply.text);
    if reply.status == 400 {
        reply.refused(400, "invalid");
    }
}

#[tokio::test]
async fn a_refusal_replays_as_it_was_first_answered() {
    let server = Server::start().await;
    let shopper = server.shopper(1);
    // An item the shop does not sell: the ledger refuses, and the refusal is kept under the key.
    let body = json!({"merchant_id": COFFEE, "line_items": [{"id": "itm_209", "quantity": 1}]});
    let key = server.key();
    let first = server.post_keyed(&shopper, "/v1/checkout_sessions", &key, &body).await;
    assert!((400..500).contains(&first.status), "{}", first.text);
    first.assert_error_shape();
    assert!(!first.replayed());
    // The shop adds the item; the same request under the same key still gets the first answer.
    let menu = json!({"items": [{"id": 209, "name": "Mocha", "category": "coffee", "price_fen": 3000}]});
    server.post(&server.merchant(3), "/v1/merchant/catalog", &menu).await.ok(201);
    let replay = server.post_keyed(&shopper, "/v1/checkout_sessions", &key, &body).await;
    assert_eq!((replay.status, replay.text.as_str()), (first.status, first.text.as_str()));
    assert!(replay.replayed(), "{:?}", replay.headers);
    server.post(&shopper, "/v1/checkout_sessions", &body).await.ok(201);

    // Unknown merchant: refused before the ledger, and refused the same way again.
    let body = json!({"merchant_id": "mer_999", "line_items": [{"id": "itm_101", "quantity": 1}]});
    let key = server.key();
    let first = server.post_keyed(&shopper, "/v1/checkout_sessions", &key, &body).await;
    first.refused(404, "not_found");
    let again = server.post_keyed(&shopper, "/v1/checkout_sessions", &key, &body).await;
    again.refused(404, "not_found");
    assert_eq!(again.json["message"], first.json["message"]);

    // A cancel of an order that does not exist: a ledger refusal, replayed.
    let key = server.key();
    let first = server.post_keyed(&shopper, "/v1/orders/ord_42/cancel", &key, &json!({})).await;
    first.refused(404, "not_found");
    let again = server.post_keyed(&shopper, "/v1/orders/ord_42/cancel", &key, &json!({})).await;
    again.refused(404, "not_found");
    assert!(again.replayed());
}

#[tokio::test]
async fn a_repeat_while_the_first_is_in_flight_is_told_to_wait() {
    let server = Server::start().await;
    let shopper = server.shopper(1);
    let key = server.key();
    server.gate.close();
    let first = {
        let request = server
            .http
            .post(server.url("/v1/campaigns/cmp_1/claim"))
            .bearer_auth(&shopper)
            .header("idempotency-key", &key)
            .json(&json!({}));
        tokio::spawn(async move { read(request.send().await.unwrap()).await })
    };
    let app = std::sync::Arc::clone(&server.app);
    eventually("the first claim to reach the ledger", || {
        app.sequencer.queue_depth() > 0 || app.admission.lock().stats().in_flight > 0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let second = server.post_keyed(&shopper, "/v1/campaigns/cmp_1/claim", &key, &json!({})).await;
    second.refused(409, "idempotency_in_flight");
    assert!(second.retry_after_s() >= 1);
    // A different key is not held up by the key check (it waits for the journal like anyone).
    server.gate.open();
    let first = first.await.unwrap();
    first.ok(201);
    let third = server.post_keyed(&shopper, "/v1/campaigns/cmp_1/claim", &key, &json!({})).await;
    assert_eq!((third.status, third.replayed(), third.text.as_str()), (201, true, first.text.as_str()));
}

#[tokio::test]
async fn concurrent_completes_place_one_order() {
    let server = Server::start().await;
    let shopper = server.shopper(1);
    let session = server.checkout(&shopper, TEA_1, json!([{"id": "itm_101", "quantity": 1}])).await;
    let path = format!("/v1/checkout_sessions/{}/complete", session["id"].as_str().unwrap());
    let send = |key: String| {
        let request = server
            .http
            .post(server.url(&path))
            .bearer_auth(&shopper)
            .header("idempotency-key", key)
            .json(&json!({}));
        tokio::spawn(async move { read(request.send().await.unwrap()).await })
    };
    // Five keys at once: one order, the others refused in shape.
    let tasks: Vec<_> = (0..5).map(|_| send(server.key())).collect();
    let mut orders = Vec::new();
    for task in tasks {
        let reply = task.await.unwrap();
        if reply.status == 200 {
            orders.push(reply.json["order"]["id"].clone());
        } else {
            reply.assert_error_shape();
            assert!(matches!(reply.status, 404 | 409), "{}", reply.text);
        }
    }
    assert_eq!(orders.len(), 1, "{orders:?}");
    // One key five times at once: the same order or "still in flight", never another order.
    let session = server.checkout(&shopper, TEA_2, json!([{"id": "itm_101", "quantity": 1}])).await;
    let path = format!("/v1/checkout_sessions/{}/complete", session["id"].as_str().unwrap());
    let key = server.key();
    let send = |key: String| {
        let request = server
            .http
            .post(server.url(&path))
            .bearer_auth(&shopper)
            .header("idempotency-key", key)
            .json(&json!({}));
        tokio::spawn(async move { read(request.send().await.unwrap()).await })
    };
    let tasks: Vec<_> = (0..5).map(|_| send(key.clone())).collect();
    let mut placed = Vec::new();
    for task in tasks {
        let reply = task.await.unwrap();
        match reply.status {
            200 => placed.push(reply.json["order"]["id"].clone()),
            _ => {
                reply.refused(409, "idempotency_in_flight");
            }
        }
    }
    assert!(!placed.is_empty());
    assert!(placed.iter().all(|order| *order == placed[0]), "{placed:?}");
    assert_eq!(server.get(&shopper, "/v1/orders").await.ok(200)["orders"].as_array().unwrap().len(), 2);
}

/// A replay is the first answer, not the order as it is now: complete a session, let the shop
/// accept the order and mark it ready, then repeat the complete and the accept with their keys:
/// each replayed body is the first one (`placed`, then `accepted`, with their `updated_at`).
#[tokio::test]
async fn a_replay_is_the_first_answer_even_after_the_order_moved() {
    let server = Server::start().await;
    let shopper = server.shopper(1);
    let kitchen = server.merchant(1);
    let session = server.checkout(&shopper, TEA_1, json!([{"id": "itm_101", "quantity": 1}])).await;
    let path = format!("/v1/checkout_sessions/{}/complete", session["id"].as_str().unwrap());
    let key = server.key();
    let first = server.post_keyed(&shopper, &path, &key, &json!({})).await;
    let order = first.ok(200)["order"]["id"].as_str().unwrap().to_owned();
    let accept_key = server.key();
    let accepted = server
        .post_keyed(&kitchen, &format!("/v1/merchant/orders/{order}/accept"), &accept_key, &json!({}))
        .await;
    accepted.ok(200);
    server.post(&kitchen, &format!("/v1/merchant/orders/{order}/ready"), &json!({})).await.ok(200);
    let replay = server.post_keyed(&shopper, &path, &key, &json!({})).await;
    assert!(replay.replayed());
    assert_eq!(replay.text, first.text, "the replay of the complete differs from its first answer");
    let replay = server
        .post_keyed(&kitchen, &format!("/v1/merchant/orders/{order}/accept"), &accept_key, &json!({}))
        .await;
    assert!(replay.replayed());
    assert_eq!(replay.text, accepted.text, "the replay of the accept differs from its first answer");
}

#[tokio::test]
async fn keys_survive_a_restart() {
    let server = Server::start_with(Setup { durability: Durability::Full, ..Setup::default() }).await;
    let shopper = server.shopper(1);
    let (claim_key, create_key, complete_key, refused_key) =
        (server.key(), server.key(), server.key(), server.key());
    let claimed = server.post_keyed(&shopper, "/v1/campaigns/cmp_1/claim", &claim_key, &json!({})).await;
    claimed.ok(201);
    let body =
        json!({"merchant_id": TEA_1, "line_items": [{"id": "itm_102", "quantity": 1, "options": [2, 32]}]});
    let created = server.post_keyed(&shopper, "/v1/checkout_sessions", &create_key, &body).await;
    created.ok(201);
    let path = format!("/v1/checkout_sessions/{}/complete", created.json["id"].as_str().unwrap());
    let completed = server.post_keyed(&shopper, &path, &complete_key, &json!({})).await;
    completed.ok(200);
    let refused = server.post_keyed(&shopper, "/v1/orders/ord_77/cancel", &refused_key, &json!({})).await;
    refused.refused(404, "not_found");

    let server = server.restart().await;
    let again = server.post_keyed(&shopper, &path, &complete_key, &json!({})).await;
    assert_eq!((again.status, again.replayed(), again.text.as_str()), (200, true, completed.text.as_str()));
    let again = server.post_keyed(&shopper, "/v1/checkout_sessions", &create_key, &body).await;
    assert_eq!((again.status, again.replayed()), (201, true));
    assert_eq!(again.json["id"], created.json["id"]);
    let again = server.post_keyed(&shopper, "/v1/campaigns/cmp_1/claim", &claim_key, &json!({})).await;
    assert_eq!((again.status, again.replayed(), again.text.as_str()), (201, true, claimed.text.as_str()));
    let again = server.post_keyed(&shopper, "/v1/orders/ord_77/cancel", &refused_key, &json!({})).await;
    assert!(again.replayed());
    again.refused(404, "not_found");
    let conflict = json!({"merchant_id": TEA_1, "line_items": [{"id": "itm_102", "quantity": 2}]});
    server
        .post_keyed(&shopper, "/v1/checkout_sessions", &create_key, &conflict)
        .await
        .refused(422, "idempotency_conflict");
    // The orders index is rebuilt from the journal.
    let orders = server.get(&shopper, "/v1/orders").await;
    assert_eq!(orders.ok(200)["orders"].as_array().unwrap().len(), 1);
    assert_eq!(orders.json["orders"][0]["id"], completed.json["order"]["id"]);
    let kitchen = server.get(&server.merchant(1), "/v1/merchant/orders").await;
    assert_eq!(kitchen.ok(200)["orders"].as_array().unwrap().len(), 1);
}
