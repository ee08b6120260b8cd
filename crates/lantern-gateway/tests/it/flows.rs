//! The journeys: a shopper from browsing to a cancelled order, a merchant moving its orders and
//! steering shoppers with its status and capacity, an operator running a campaign.

use std::sync::Arc;

use lantern_core::Timestamp;
use lantern_sequencer::{Clock, ManualClock, SystemClock};
use serde_json::{Value, json};

use crate::support::*;

fn total(session: &Value, kind: &str) -> Option<i64> {
    session["totals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|total| total["type"] == kind)
        .map(|total| total["amount"].as_i64().unwrap())
}

fn coupon_status(wallet: &[Value], campaign: &str) -> String {
    let coupon = wallet
        .iter()
        .find(|coupon| coupon["campaign_id"] == campaign)
        .unwrap_or_else(|| panic!("no {campaign} coupon in {wallet:?}"));
    coupon["status"].as_str().unwrap().to_owned()
}

fn ids(list: &Value, key: &str) -> Vec<String> {
    strings(list, key, "id")
}

/// `field` of each entry of `list[key]`.
fn strings(list: &Value, key: &str, field: &str) -> Vec<String> {
    list[key].as_array().unwrap().iter().map(|entry| entry[field].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn a_shopper_browses_claims_checks_out_and_cancels() {
    let server = Server::start().await;
    let shopper = server.shopper(1);

    // Browse.
    let merchants = server.get(&shopper, "/v1/merchants").await;
    assert_eq!(ids(merchants.ok(200), "merchants"), [TEA_1, TEA_2, COFFEE]);
    assert_eq!(merchants.json["has_more"], false);
    let page = server.get(&shopper, "/v1/merchants?limit=1&offset=1").await;
    assert_eq!(ids(page.ok(200), "merchants"), [TEA_2]);
    assert_eq!(page.json["has_more"], true);
    let coffee = server.get(&shopper, "/v1/merchants?q=COFFEE").await;
    assert_eq!(ids(coffee.ok(200), "merchants"), [COFFEE]);
    let menu = server.get(&shopper, "/v1/merchants/mer_1/menu").await;
    let menu = menu.ok(200);
    assert_eq!(menu["merchant"]["id"], TEA_1);
    let tea = menu["items"].as_array().unwrap().iter().find(|item| item["id"] == "itm_101").unwrap();
    assert_eq!((tea["price"].as_i64(), tea["currency"].as_str()), (Some(1500), Some("cny")));
    assert_eq!(tea["option_groups"][0]["kind"], "size");
    assert_eq!(tea["option_groups"][0]["choices"][1]["price_delta"], 300);
    let hits = server.get(&shopper, "/v1/search?q=%E5%A5%B6%E8%8C%B6").await; // 奶茶
    let hits = hits.ok(200)["hits"].as_array().unwrap().clone();
    assert_eq!(hits.len(), 2, "the milk tea of both tea shops: {hits:?}");
    assert!(hits.iter().all(|hit| hit["item"]["id"] == "itm_101"));
    let latte = server.get(&shopper, "/v1/search?q=latte").await;
    assert_eq!(latte.ok(200)["hits"][0]["merchant_id"], COFFEE);
    let campaigns = server.get(&shopper, "/v1/campaigns").await;
    let festival = campaigns.ok(200)["campaigns"][0].clone();
    assert_eq!((festival["id"].as_str(), festival["status"].as_str()), (Some(FESTIVAL), Some("active")));
    assert_eq!(
        (festival["template"].as_str(), festival["face_value"].as_i64()),
        (Some("amount_off"), Some(2500))
    );

    // Claim; a second claim answers the same coupon.
    let claimed = server.claim(&shopper, FESTIVAL).await;
    let coupon = claimed.ok(201)["coupon"].clone();
    assert_eq!(claimed.json["newly_claimed"], true);
    assert_eq!((coupon["status"].as_str(), coupon["face_value"].as_i64()), (Some("claimed"), Some(2500)));
    let again = server.claim(&shopper, FESTIVAL).await;
    assert_eq!(again.ok(201)["newly_claimed"], false);
    assert_eq!(again.json["coupon"]["id"], coupon["id"]);
    let wallet = server.wallet(&shopper).await;
    assert_eq!(wallet.len(), 1);
    assert_eq!(wallet[0]["id"], coupon["id"]);
    assert_eq!(coupon_status(&wallet, FESTIVAL), "claimed");

    // A session: two large pearl milk teas with pearls, 15 + 3 + 2 = 20 yuan each; the coupon
    // applies by itself.
    let session =
        server.checkout(&shopper, TEA_1, json!([{"id": "itm_101", "quantity": 2, "options": [2, 30]}])).await;
    let id = session["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("cs_"), "{id}");
    assert_eq!(session["status"], "ready_for_payment");
    assert_eq!(session["currency"], "cny");
    assert_eq!(session["line_items"][0]["unit_amount"], 2000);
    assert_eq!(session["line_items"][0]["total"], 4000);
    assert_eq!(
        (total(&session, "subtotal"), total(&session, "discount"), total(&session, "total")),
        (Some(4000), Some(2500), Some(1500))
    );
    assert_eq!(session["discounts"]["applied"][0]["automatic"], true);
    assert_eq!(session["discounts"]["applied"][0]["campaign_id"], FESTIVAL);
    assert_eq!(session["discounts"]["applied"][0]["amount"], 2500);
    assert_eq!(coupon_status(&server.wallet(&shopper).await, FESTIVAL), "held");

    // Update: three of them and an egg tart.
    let path = format!("/v1/checkout_sessions/{id}");
    let lines = json!([{"id": "itm_101", "quantity": 3, "options": [2, 30]}, {"id": "106", "quantity": 1}]);
    let updated = server.post(&shopper, &path, &json!({"line_items": lines})).await;
    let updated = updated.ok(200);
    assert_eq!(updated["id"], id.as_str());
    assert_eq!(updated["line_items"][1]["item_id"], "itm_106");
    assert_eq!(
        (total(updated, "subtotal"), total(updated, "discount"), total(updated, "total")),
        (Some(6800), Some(2500), Some(4300))
    );

    // A valid code, an unknown one, and two at once (coupons do not stack).
    let coded = server.post(&shopper, &path, &json!({"discounts": {"codes": ["cmp_1"]}})).await;
    let coded = coded.ok(200);
    assert_eq!(coded["discounts"]["applied"][0]["code"], "cmp_1");
    assert_eq!(coded["discounts"]["applied"][0]["automatic"], false);
    assert_eq!(coded["discounts"]["codes"], json!(["cmp_1"]));
    assert_eq!(total(coded, "total"), Some(4300), "the lines are kept when only codes change");
    let unknown = server.post(&shopper, &path, &json!({"discounts": {"codes": ["NOPE-2027"]}})).await;
    let unknown = unknown.ok(200);
    assert_eq!(unknown["discounts"]["rejected"][0]["code"], "NOPE-2027");
    assert_eq!(unknown["discounts"]["rejected"][0]["reason"], "discount_code_invalid");
    assert_eq!(unknown["discounts"]["applied"], json!([]));
    assert_eq!(unknown["messages"][0]["type"], "warning");
    assert_eq!(unknown["messages"][0]["code"], "discount_code_invalid");
    assert_eq!((total(unknown, "discount"), total(unknown, "total")), (None, Some(6800)));
    assert_eq!(coupon_status(&server.wallet(&shopper).await, FESTIVAL), "claimed", "the hold is released");
    let two = server.post(&shopper, &path, &json!({"discounts": {"codes": ["cmp_1", "coffee5"]}})).await;
    let two = two.ok(200);
    assert_eq!(two["discounts"]["applied"][0]["campaign_id"], FESTIVAL);
    assert_eq!(two["discounts"]["rejected"][0]["code"], "coffee5");
    assert_eq!(two["discounts"]["rejected"][0]["reason"], "discount_code_combination_disallowed");
    assert_eq!(total(two, "total"), Some(4300));

    // Get, then complete.
    let got = server.get(&shopper, &path).await;
    let got = got.ok(200);
    assert_eq!((got["status"].as_str(), total(got, "total")), (Some("ready_for_payment"), Some(4300)));
    let completed = server.post(&shopper, &format!("{path}/complete"), &json!({})).await;
    let completed = completed.ok(200).clone();
    assert_eq!(completed["status"], "completed");
    let order = completed["order"].clone();
    let order_id = order["id"].as_str().unwrap().to_owned();
    assert!(order_id.starts_with("ord_"), "{order_id}");
    assert_eq!((order["status"].as_str(), order["merchant_id"].as_str()), (Some("placed"), Some(TEA_1)));
    assert_eq!(
        (order["subtotal"].as_i64(), order["discount"].as_i64(), order["total"].as_i64()),
        (Some(6800), Some(2500), Some(4300))
    );
    assert_eq!(order["checkout_session_id"], id.as_str());
    assert_eq!(order["coupon_id"], coupon["id"]);
    assert_eq!(coupon_status(&server.wallet(&shopper).await, FESTIVAL), "redeemed");
    let session_now = server.get(&shopper, &path).await;
    assert_eq!(session_now.ok(200)["status"], "completed");
    assert_eq!(session_now.json["order"]["id"], order_id.as_str());

    // Orders.
    let orders = server.get(&shopper, "/v1/orders").await;
    assert_eq!(ids(orders.ok(200), "orders"), std::slice::from_ref(&order_id));
    let fetched = server.get(&shopper, &format!("/v1/orders/{order_id}")).await;
    assert_eq!(fetched.ok(200)["total"], 4300);
    assert_eq!(fetched.json["line_items"].as_array().unwrap().len(), 2);

    // Cancel the order: the coupon comes back.
    let cancelled = server.post(&shopper, &format!("/v1/orders/{order_id}/cancel"), &json!({})).await;
    assert_eq!(cancelled.ok(200)["status"], "cancelled");
    assert_eq!(coupon_status(&server.wallet(&shopper).await, FESTIVAL), "claimed");
    let orders = server.get(&shopper, "/v1/orders").await;
    assert_eq!(orders.ok(200)["orders"][0]["status"], "cancelled");
    let twice = server.post(&shopper, &format!("/v1/orders/{order_id}/cancel"), &json!({})).await;
    twice.refused(409, "invalid_transition");

    // A new session takes the coupon again; cancelling it gives it back.
    let second = server.checkout(&shopper, TEA_2, json!([{"id": "itm_102", "quantity": 1}])).await;
    assert_eq!(total(&second, "discount"), Some(1900), "the discount is capped at the subtotal");
    assert_eq!(total(&second, "total"), Some(0));
    let second_path = format!("/v1/checkout_sessions/{}", second["id"].as_str().unwrap());
    let canceled = server.post(&shopper, &format!("{second_path}/cancel"), &json!({})).await;
    assert_eq!(canceled.ok(200)["status"], "canceled");
    assert_eq!(coupon_status(&server.wallet(&shopper).await, FESTIVAL), "claimed");
    let after = server.get(&shopper, &second_path).await;
    assert_eq!(after.ok(200)["status"], "canceled");
    let complete_canceled = server.post(&shopper, &format!("{second_path}/complete"), &json!({})).await;
    assert!(matches!(complete_canceled.status, 404 | 409), "{}", complete_canceled.text);
    complete_canceled.assert_error_shape();
    let update_canceled = server.post(&shopper, &second_path, &json!({"discounts": {"codes": []}})).await;
    assert!(matches!(update_canceled.status, 404 | 409), "{}", update_canceled.text);
    update_canceled.assert_error_shape();
}

#[tokio::test]
async fn coupon_orders_claim_quote_and_order_in_one_request() {
    let server = Server::start().await;
    let shopper = server.shopper(5);
    let body = json!({"campaign_id": FESTIVAL, "merchant_id": TEA_1, "line_items": [{"id": "itm_103", "quantity": 1}]});
    // itm_103 is not on this menu: refused, and nothing is ordered.
    let refused = server.post(&shopper, "/v1/coupon_orders", &body).await;
    assert!(matches!(refused.status, 400 | 404 | 422), "{}", refused.text);
    refused.assert_error_shape();
    let body = json!({"campaign_id": FESTIVAL, "merchant_id": TEA_1, "line_items": [{"id": "itm_102", "quantity": 2, "options": [2]}]});
    let order = server.post(&shopper, "/v1/coupon_orders", &body).await;
    let order = order.ok(201);
    assert_eq!(
        (order["subtotal"].as_i64(), order["discount"].as_i64(), order["total"].as_i64()),
        (Some(4400), Some(2500), Some(1900))
    );
    assert_eq!(order["status"], "placed");
    assert_eq!(coupon_status(&server.wallet(&shopper).await, FESTIVAL), "redeemed");
    let orders = server.get(&shopper, "/v1/orders").await;
    assert_eq!(orders.ok(200)["orders"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn order_lists_page_newest_first_and_refuse_a_cursor_from_another_list() {
    let server = Server::start().await;
    let kitchen = server.merchant(1);
    let mut placed = Vec::new();
    for shopper in 20..25 {
        let order = server.place_order(&server.shopper(shopper), TEA_1).await;
        placed.push(order["id"].as_str().unwrap().to_owned());
    }
    placed.reverse();
    let mut listed = Vec::new();
    let mut path = "/v1/merchant/orders?limit=2".to_owned();
    for page in 0.. {
        assert!(page < 3, "five orders, two a page: three pages");
        let reply = server.get(&kitchen, &path).await;
        let body = reply.ok(200);
        let ids_here = ids(body, "orders");
        assert!(ids_here.len() <= 2, "{body}");
        listed.extend(ids_here);
        if body["has_more"] == false {
            assert!(body["next_starting_after"].is_null(), "{body}");
            break;
        }
        let next = body["next_starting_after"].as_str().unwrap();
        assert_eq!(Some(next), listed.last().map(String::as_str), "the cursor is the page's last order");
        path = format!("/v1/merchant/orders?limit=2&starting_after={next}");
    }
    assert_eq!(listed, placed, "every order once, newest first");
    // Without a limit, one page of all five.
    let all = server.get(&kitchen, "/v1/merchant/orders").await;
    assert_eq!((ids(all.ok(200), "orders").len(), &all.json["has_more"]), (5, &json!(false)));
    // A shopper's own list takes the same cursor; another list's order is refused with the way out.
    let shopper = server.shopper(20);
    let own = server.get(&shopper, "/v1/orders?limit=1").await;
    assert_eq!(ids(own.ok(200), "orders"), [placed[4].clone()]);
    let foreign = server.get(&shopper, &format!("/v1/orders?starting_after={}", placed[0])).await;
    assert!(foreign.refused(400, "invalid")["message"].as_str().unwrap().contains("next_starting_after"));
    for bad in ["starting_after=ord_x", "starting_after=", "limit=-1", "page=2"] {
        let reply = server.get(&kitchen, &format!("/v1/merchant/orders?{bad}")).await;
        assert_eq!(reply.status, 400, "{bad}: {}", reply.text);
        reply.assert_error_shape();
    }
}

#[tokio::test]
async fn a_gateway_sized_ahead_indexes_orders_as_one_sized_for_nothing() {
    // The read index's tables are filled and cleared when sized ahead: an entry left from the
    // filling (quote n -> order n) would hide the first orders from their lists.
    let mut config = test_config();
    config.expected_orders = 4_096;
    let server = Server::with_config(config).await;
    let shopper = server.shopper(7);
    let order = server.place_order(&shopper, TEA_1).await["id"].as_str().unwrap().to_owned();
    assert_eq!(ids(server.get(&shopper, "/v1/orders").await.ok(200), "orders"), std::slice::from_ref(&order));
    assert_eq!(ids(server.get(&server.merchant(1), "/v1/merchant/orders").await.ok(200), "orders"), [order]);
}

#[tokio::test]
async fn a_merchant_moves_its_orders() {
    let server = Server::start().await;
    let (alice, bob) = (server.shopper(2), server.shopper(3));
    let kitchen = server.merchant(1);
    let first = server.place_order(&alice, TEA_1).await;
    let second = server.place_order(&bob, TEA_1).await;
    let (first, second) =
        (first["id"].as_str().unwrap().to_owned(), second["id"].as_str().unwrap().to_owned());

    let listed = server.get(&kitchen, "/v1/merchant/orders").await;
    assert_eq!(ids(listed.ok(200), "orders"), [second.clone(), first.clone()], "newest first");
    let visible = server.get(&kitchen, &format!("/v1/orders/{first}")).await;
    assert_eq!(visible.ok(200)["id"], first.as_str());

    let step = |order: &str, event: &str| format!("/v1/merchant/orders/{order}/{event}");
    let menu = server.get(&alice, "/v1/merchants/mer_1/menu").await;
    assert_eq!(menu.ok(200)["merchant"]["open_orders"], 2);
    for (event, status) in
        [("accept", "accepted"), ("ready", "ready"), ("dispatch", "delivering"), ("deliver", "delivered")]
    {
        let moved = server.post(&kitchen, &step(&first, event), &json!({})).await;
        assert_eq!(moved.ok(200)["status"], status, "{event}");
    }
    let seen = server.get(&alice, &format!("/v1/orders/{first}")).await;
    assert_eq!(seen.ok(200)["status"], "delivered");
    server
        .post(&alice, &format!("/v1/orders/{first}/cancel"), &json!({}))
        .await
        .refused(409, "invalid_transition");
    server.post(&kitchen, &step(&first, "accept"), &json!({})).await.refused(409, "invalid_transition");

    // Accepted orders cannot be cancelled by the shopper; the shop may still reject them, and
    // the coupon goes back to the shopper's wallet.
    server.post(&kitchen, &step(&second, "accept"), &json!({})).await.ok(200);
    server
        .post(&bob, &format!("/v1/orders/{second}/cancel"), &json!({}))
        .await
        .refused(409, "invalid_transition");
    let rejected = server.post(&kitchen, &step(&second, "reject"), &json!({})).await;
    assert_eq!(rejected.ok(200)["status"], "rejected");
    assert_eq!(coupon_status(&server.wallet(&bob).await, FESTIVAL), "claimed");
    server.post(&kitchen, &step(&second, "deliver"), &json!({})).await.refused(409, "invalid_transition");
    let menu = server.get(&alice, "/v1/merchants/mer_1/menu").await;
    assert_eq!(menu.ok(200)["merchant"]["open_orders"], 0);

    // The delivered order settled its discount: 15 yuan of the 25-yuan coupon.
    let stats = server.get(&server.operator(), "/v1/campaigns/cmp_1/stats").await;
    let stats = stats.ok(200);
    assert_eq!((stats["settled"].as_i64(), stats["redeemed"].as_i64()), (Some(1500), Some(0)));
    assert_eq!(stats["in_wallets"], 2500, "bob's coupon is back in his wallet");
}

#[tokio::test]
async fn merchant_status_and_capacity_steer_shoppers() {
    let server = Server::start().await;
    let kitchen = server.merchant(1);
    let (alice, bob) = (server.shopper(20), server.shopper(21));
    let tea = || json!([{"id": "itm_101", "quantity": 1}]);
    let open_at = |merchant: &str| json!({"merchant_id": merchant, "line_items": tea()});

    // Two orders a minute, one at a time: a new order takes 30 s, a second one 60 s.
    let capacity = server
        .post(&kitchen, "/v1/merchant/capacity", &json!({"orders_per_minute": 2, "open_orders_max": 1}))
        .await;
    let capacity = capacity.ok(200);
    assert_eq!(
        (
            capacity["id"].as_str(),
            capacity["orders_per_minute"].as_u64(),
            capacity["open_orders_max"].as_u64()
        ),
        (Some(TEA_1), Some(2), Some(1))
    );
    assert_eq!(capacity["eta_ms"], 30_000);

    // Busy: refused at once, with the faster shop of the same menu.
    let busy = server.post(&kitchen, "/v1/merchant/status", &json!({"status": "busy"})).await;
    assert_eq!(busy.ok(200)["status"], "busy");
    let refused = server.post(&alice, "/v1/checkout_sessions", &open_at(TEA_1)).await;
    let body = refused.refused(429, "merchant_busy");
    assert_eq!(refused.retry_after_s(), 30);
    assert_eq!(body["retry_after_ms"], 30_000);
    assert_eq!(ids(body, "alternatives"), [TEA_2]);
    assert!(body["message"].as_str().unwrap().contains("Tea House #2"), "{}", refused.text);
    let listed = server.get(&alice, "/v1/merchants").await;
    assert_eq!(listed.ok(200)["merchants"][0]["status"], "busy");

    // Paused: refused outright.
    server.post(&kitchen, "/v1/merchant/status", &json!({"status": "paused"})).await.ok(200);
    server.post(&alice, "/v1/checkout_sessions", &open_at(TEA_1)).await.refused(409, "merchant_paused");
    let coupon_order = json!({"campaign_id": FESTIVAL, "merchant_id": TEA_1, "line_items": tea()});
    server.post(&alice, "/v1/coupon_orders", &coupon_order).await.refused(409, "merchant_paused");

    // Open again: one order fills the kitchen, and the next shopper is sent elsewhere.
    server.post(&kitchen, "/v1/merchant/status", &json!({"status": "open"})).await.ok(200);
    let order = server.place_order(&alice, TEA_1).await;
    let full = server.post(&bob, "/v1/checkout_sessions", &open_at(TEA_1)).await;
    let body = full.refused(429, "merchant_busy");
    assert_eq!(full.retry_after_s(), 60);
    assert_eq!(ids(body, "alternatives"), [TEA_2]);
    assert_eq!(body["alternatives"][0]["eta_ms"], 2_000);
    server.post(&bob, "/v1/checkout_sessions", &open_at(TEA_2)).await.ok(201);

    // The kitchen catches up.
    let order = order["id"].as_str().unwrap();
    server.post(&kitchen, &format!("/v1/merchant/orders/{order}/accept"), &json!({})).await.ok(200);
    server.post(&kitchen, &format!("/v1/merchant/orders/{order}/ready"), &json!({})).await.ok(200);
    server.post(&bob, "/v1/checkout_sessions", &open_at(TEA_1)).await.ok(201);
}

/// A coupon order at a shop whose rate has no slot now is turned away before admission and
/// the ledger (a refusal then costs no journal write), with the wait and a faster shop; and a
/// repeat of the order that took the slot still replays it, though the shop is now busy.
#[tokio::test]
async fn a_shop_out_of_order_slots_refuses_before_the_ledger_and_a_repeat_still_replays() {
    let server = Server::start().await;
    let (alice, bob) = (server.shopper(30), server.shopper(31));
    server.one_order_a_minute(1).await;
    let order = json!({"campaign_id": FESTIVAL, "merchant_id": TEA_1, "line_items": [{"id": "itm_101", "quantity": 1}]});
    let key = server.key();
    let placed = server.post_keyed(&alice, "/v1/coupon_orders", &key, &order).await;
    placed.ok(201);

    let n_commands = || server.app.sequencer.counters().n_commands.load(std::sync::atomic::Ordering::Relaxed);
    let commands_before = n_commands();
    let refused = server.post(&bob, "/v1/coupon_orders", &order).await;
    let body = refused.refused(429, "merchant_busy");
    let wait_ms = body["retry_after_ms"].as_u64().unwrap();
    assert!(
        (50_000..=60_000).contains(&wait_ms),
        "the next slot is a minute after the first order: {wait_ms} ms"
    );
    assert_eq!(ids(body, "alternatives"), [TEA_2]);
    // Waits under a minute are said in seconds, as the agent says them: the faster shop's
    // kitchen is empty, so "about 1 min" would be a minute too long.
    assert_eq!(
        body["message"],
        "茶颜 Tea House #1 is busy, about 2 min; 茶颜 Tea House #2 can make it in about 2 s"
    );
    assert_eq!(n_commands(), commands_before, "the refusal reached the ledger");

    let repeat = server.post_keyed(&alice, "/v1/coupon_orders", &key, &order).await;
    assert_eq!((repeat.status, repeat.replayed(), &repeat.json["id"]), (201, true, &placed.json["id"]));
    let orders = server.get(&alice, "/v1/orders").await;
    assert_eq!(orders.ok(200)["orders"].as_array().unwrap().len(), 1);
    // The same key with another body is still the ledger's to refuse, not the shop's.
    let elsewhere = json!({"campaign_id": FESTIVAL, "merchant_id": TEA_2, "line_items": [{"id": "itm_101", "quantity": 1}]});
    server
        .post_keyed(&alice, "/v1/coupon_orders", &key, &elsewhere)
        .await
        .refused(422, "idempotency_conflict");
}

/// Completing a session at a shop whose rate has no slot now is turned away before admission
/// and the ledger, as a coupon order is, and the session stays open to complete later; a repeat
/// of the completion that took the slot still replays it, and a session the ledger would
/// refuse for itself gets the ledger's answer, not the shop's.
#[tokio::test]
async fn completing_a_session_at_a_shop_out_of_order_slots_is_refused_before_the_ledger() {
    let server = Server::start().await;
    let (alice, bob, carol) = (server.shopper(40), server.shopper(41), server.shopper(42));
    server.one_order_a_minute(1).await;
    let open = json!({"merchant_id": TEA_1, "line_items": [{"id": "itm_101", "quantity": 1}]});
    let mut sessions = Vec::new();
    for shopper in [&alice, &bob, &carol, &alice] {
        // A quote takes no order slot: all four open.
        let created = server.post(shopper, "/v1/checkout_sessions", &open).await;
        sessions.push(created.ok(201)["id"].as_str().unwrap().to_owned());
    }
    let complete = |session: &str| format!("/v1/checkout_sessions/{session}/complete");
    let key = server.key();
    let placed = server.post_keyed(&alice, &complete(&sessions[0]), &key, &json!({})).await;
    assert_eq!(placed.ok(200)["status"], "completed");

    let n_commands = || server.app.sequencer.counters().n_commands.load(std::sync::atomic::Ordering::Relaxed);
    let commands_before = n_commands();
    let refused = server.post(&bob, &complete(&sessions[1]), &json!({})).await;
    let body = refused.refused(429, "merchant_busy");
    assert_eq!(body["retry_after_ms"], 60_000);
    assert_eq!(ids(body, "alternatives"), [TEA_2]);
    assert_eq!(n_commands(), commands_before, "the refusal reached the ledger");
    let still = server.get(&bob, &format!("/v1/checkout_sessions/{}", sessions[1])).await;
    assert_eq!(still.ok(200)["status"], "ready_for_payment");

    let repeat = server.post_keyed(&alice, &complete(&sessions[0]), &key, &json!({})).await;
    assert_eq!((repeat.status, repeat.replayed()), (200, true));
    assert_eq!(repeat.json["order"]["id"], placed.json["order"]["id"]);
    // The key again on another session is the ledger's to refuse, not the shop's.
    let reused = server.post_keyed(&alice, &complete(&sessions[3]), &key, &json!({})).await;
    reused.refused(422, "idempotency_conflict");
    // Canceled, carol's session is the ledger's to refuse, though its shop is busy too.
    server.post(&carol, &format!("/v1/checkout_sessions/{}/cancel", sessions[2]), &json!({})).await.ok(200);
    let canceled = server.post(&carol, &complete(&sessions[2]), &json!({})).await;
    assert_eq!(
        (canceled.status, canceled.json["code"].as_str()),
        (409, Some("invalid_transition")),
        "{}",
        canceled.text
    );
}

/// The faster shops offered instead of a busy one are found among those registered next to
/// it, so that a busy answer costs the same however many shops there are: with 100 idle shops
/// of the same menu, the ones offered for `mer_150` are its neighbours, not the first shops.
#[tokio::test]
async fn a_busy_shop_offers_faster_shops_from_among_its_neighbours() {
    let server = Server::start().await;
    let operator = server.operator();
    for id in 100..200 {
        let body = json!({"id": format!("mer_{id}"), "name": format!("Tea stall {id}"), "catalog_id": "cat_1", "orders_per_minute": 60, "open_orders_max": 5});
        server.post(&operator, "/v1/merchants", &body).await.ok(201);
    }
    let refused = one_order_a_minute_then_another(&server, 150).await;
    let offered = ids(refused.refused(429, "merchant_busy"), "alternatives");
    assert_eq!(offered.len(), 3, "{}", refused.text);
    for id in &offered {
        let number: u64 = id.trim_start_matches("mer_").parse().unwrap();
        assert!(number.abs_diff(150) <= 32, "{id} is not among mer_150's neighbours: {offered:?}");
    }
}

/// Shops that say where they are are offered by distance: a faster shop of the same menu within
/// 3 km of the busy one, nearest first among equally fast ones, with how far it is; one across
/// town or one that never said where it is is not "nearby", whatever its id.
#[tokio::test]
async fn a_busy_shop_that_says_where_it_is_offers_faster_shops_near_it() {
    let server = Server::start().await;
    let operator = server.operator();
    // Around Wuyi Square, Changsha: 0.001 degree of latitude is about 111 m.
    let shops = [
        (300, "Wuyi Square", Some((28.195_700, 112.977_300))),
        (301, "Huangxing Road", Some((28.190_700, 112.977_300))), // 556 m south
        (302, "Pozi Street", Some((28.187_700, 112.977_300))),    // 890 m south
        (303, "Meixi Lake", Some((28.195_700, 112.870_000))),     // 10.5 km west
        (304, "somewhere", None),
    ];
    for (id, name, location) in shops {
        let mut body = json!({"id": format!("mer_{id}"), "name": format!("Tea House {name}"), "catalog_id": "cat_1", "orders_per_minute": 60, "open_orders_max": 5});
        if let Some((lat, lon)) = location {
            body["location"] = json!({"lat": lat, "lon": lon});
        }
        let registered = server.post(&operator, "/v1/merchants", &body).await;
        assert_eq!(registered.ok(201)["location"].is_object(), location.is_some(), "{}", registered.text);
    }
    let refused = one_order_a_minute_then_another(&server, 300).await;
    let body = refused.refused(429, "merchant_busy").clone();
    assert_eq!(ids(&body, "alternatives"), ["mer_301", "mer_302"], "{body}");
    let metres = |index: usize| body["alternatives"][index]["distance_m"].as_u64().unwrap();
    assert!((550..=562).contains(&metres(0)), "{body}");
    assert!((885..=895).contains(&metres(1)), "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("Tea House Huangxing Road ({} m away) can make it in about", metres(0))),
        "{message}"
    );

    // A location out of range is refused, naming the field.
    let bad = json!({"id": "mer_305", "name": "Nowhere", "catalog_id": "cat_1", "orders_per_minute": 60, "open_orders_max": 5, "location": {"lat": 91.0, "lon": 0.0}});
    let refused = server.post(&operator, "/v1/merchants", &bad).await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert_eq!(refused.json["param"], "$.location", "{}", refused.text);
}

/// Sets `mer_<id>` to one order a minute, places one there and answers a second try.
async fn one_order_a_minute_then_another(server: &Server, id: u64) -> Reply {
    server.one_order_a_minute(id).await;
    let order = json!({"campaign_id": FESTIVAL, "merchant_id": format!("mer_{id}"), "line_items": [{"id": "itm_101", "quantity": 1}]});
    server.post(&server.shopper(40), "/v1/coupon_orders", &order).await.ok(201);
    server.post(&server.shopper(41), "/v1/coupon_orders", &order).await
}

async fn claim_as(server: &Server, campaign: &str, shopper: u64) -> Reply {
    server.claim(&server.shopper(shopper), campaign).await
}

#[tokio::test]
async fn an_operator_runs_a_campaign() {
    let server = Server::start().await;
    let operator = server.operator();
    let now = SystemClock.now();
    let at = |ms: u64| Timestamp::from_ms(ms).to_string();
    let spec = json!({
        "name": "Lantern night 元宵",
        "budget": 1000,
        "template": "amount_off",
        "amount": 500,
        "per_shopper_limit": 1,
        "starts_at": at(now.unix_ms() - 60_000),
        "ends_at": "2099-02-28T00:00:00+08:00",
    });
    let created = server.post(&operator, "/v1/campaigns", &spec).await;
    let created = created.ok(201).clone();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(id, "cmp_3");
    assert_eq!((created["status"].as_str(), created["face_value"].as_i64()), (Some("active"), Some(500)));
    assert_eq!(created["ends_at"], "2099-02-27T16:00:00.000Z");
    let listed = server.get(&server.shopper(1), "/v1/campaigns").await;
    assert!(ids(listed.ok(200), "campaigns").contains(&id));

    // Two coupons' worth of budget.
    let claim = |shopper: u64| claim_as(&server, &id, shopper);
    claim(10).await.ok(201);
    claim(11).await.ok(201);
    claim(12).await.refused(409, "budget_exhausted");
    let stats_path = format!("/v1/campaigns/{id}/stats");
    let stats = server.get(&operator, &stats_path).await;
    let stats = stats.ok(200);
    assert_eq!(
        (stats["budget_total"].as_i64(), stats["budget_available"].as_i64(), stats["in_wallets"].as_i64()),
        (Some(1000), Some(0), Some(1000))
    );
    assert_eq!(stats["coupons_issued"], 2);

    // Edits: top-up, end of validity, pace.
    let edit = format!("/v1/campaigns/{id}/edit");
    let topped = server.post(&operator, &edit, &json!({"top_up": 1500})).await;
    let topped = topped.ok(200);
    assert_eq!(
        (topped["budget_total"].as_i64(), topped["budget_available"].as_i64()),
        (Some(2500), Some(1500))
    );
    let moved = server.post(&operator, &edit, &json!({"ends_at": "2099-03-01T00:00:00Z"})).await;
    assert_eq!(moved.ok(200)["campaign"]["ends_at"], "2099-03-01T00:00:00.000Z");
    // One coupon a second, counted from the change: the next claim is told when to come back.
    server.post(&operator, &edit, &json!({"pace": {"coupons_per_s": 1, "burst": 1}})).await.ok(200);
    let paced = claim(12).await;
    paced.refused(429, "rate_limited");
    assert_eq!(paced.retry_after_s(), 1);
    assert!(
        paced.json["retry_after_ms"].as_u64().is_some_and(|ms| (1..=1000).contains(&ms)),
        "{}",
        paced.text
    );
    server.post(&operator, &edit, &json!({"pace": {}})).await.ok(200);
    claim(12).await.ok(201);
    claim(13).await.ok(201);

    // Pause: a claim is refused at once; resume: it works again.
    let paused = server.post(&operator, &format!("/v1/campaigns/{id}/pause"), &json!({})).await;
    assert_eq!(paused.ok(200)["campaign"]["status"], "paused");
    claim(14).await.refused(409, "campaign_paused");
    let resumed = server.post(&operator, &format!("/v1/campaigns/{id}/resume"), &json!({})).await;
    assert_eq!(resumed.ok(200)["campaign"]["status"], "active");
    claim(14).await.ok(201);
    let stats = server.get(&operator, &stats_path).await;
    assert_eq!(stats.ok(200)["coupons_issued"], 5);

    // The other templates.
    let percent = json!({"name": "15% off", "budget": 100000, "template": "percent_off", "percent_bp": 1500, "cap": 1000,
        "per_shopper_limit": 2, "starts_at": at(now.unix_ms()), "ends_at": at(now.unix_ms() + DAY_MS), "min_spend": 2000});
    let percent = server.post(&operator, "/v1/campaigns", &percent).await;
    assert_eq!(
        (percent.ok(201)["template"].as_str(), percent.json["face_value"].as_i64()),
        (Some("percent_off"), Some(1000))
    );
    let free = json!({"name": "free tart", "budget": 100000, "template": "free_item", "up_to": 800, "categories": ["snack"],
        "merchants": ["mer_1"], "per_shopper_limit": 1, "starts_at": at(now.unix_ms() + DAY_MS), "ends_at": at(now.unix_ms() + 2 * DAY_MS)});
    let free = server.post(&operator, "/v1/campaigns", &free).await;
    assert_eq!(
        (free.ok(201)["template"].as_str(), free.json["status"].as_str()),
        (Some("free_item"), Some("scheduled"))
    );
    let not_yet = server.claim(&server.shopper(1), free.json["id"].as_str().unwrap()).await;
    not_yet.refused(409, "campaign_not_started");

    // Live statistics of the whole gateway.
    let all = server.get(&operator, "/v1/stats").await;
    let all = all.ok(200);
    let classes: Vec<&str> =
        all["classes"].as_array().unwrap().iter().map(|class| class["class"].as_str().unwrap()).collect();
    assert_eq!(classes, ["complete_checkout", "checkout", "claim", "browse", "chat"]);
    assert_eq!(all["campaigns"].as_array().unwrap().len(), 5);
    assert!(all["ledger_commands"].as_u64().unwrap() > 10);
    assert!(all["classes"][2]["admitted"].as_u64().unwrap() >= 6, "{all}");
}

#[tokio::test]
async fn merchants_upload_menus_and_operators_register_shops() {
    let server = Server::start().await;
    let coffee = server.merchant(3);
    let menu = json!({"format": "lantern.menu/1", "items": [
        {"id": 201, "name": "拿铁 Caffè Latte", "category": "coffee", "price_fen": 3000},
        {"id": 203, "name": "生椰拿铁 Coconut Latte", "category": "coffee", "price_fen": 3200, "option_groups": [
            {"kind": "size", "name": "size", "min_choices": 1, "max_choices": 1, "default_choice": 1, "choices": [
                {"id": 1, "name": "medium", "price_delta_fen": 0}, {"id": 2, "name": "large", "price_delta_fen": 400}]}]}]});
    let uploaded = server.post(&coffee, "/v1/merchant/catalog", &menu).await;
    assert_eq!(uploaded.ok(201), &json!({"catalog_id": "cat_2", "items": 2}));
    let shown = server.get(&server.shopper(1), "/v1/merchants/mer_3/menu").await;
    let items = shown.ok(200)["items"].as_array().unwrap().clone();
    assert_eq!(items.iter().map(|item| item["price"].as_i64().unwrap()).collect::<Vec<_>>(), [3000, 3200]);

    let csv =
        "item_id,name,category,price_fen\n201,Latte,coffee,3100\n204,Muffin,bakery,1800\n205,Tea,tea,900\n";
    let uploaded =
        server.post_bytes(&coffee, "/v1/merchant/catalog", "text/csv; charset=utf-8", csv.into()).await;
    assert_eq!(uploaded.ok(201)["items"], 3);
    let shown = server.get(&server.shopper(1), "/v1/search?q=muffin").await;
    assert_eq!(shown.ok(200)["hits"][0]["item"]["price"], 1800);

    let wrong_type = server.post_bytes(&coffee, "/v1/merchant/catalog", "text/plain", csv.into()).await;
    wrong_type.refused(415, "unsupported_media_type");
    let broken = server
        .post_bytes(&coffee, "/v1/merchant/catalog", "text/csv", b"item_id,name\n1,\"unterminated\n".to_vec())
        .await;
    assert_eq!(broken.status, 400, "{}", broken.text);
    broken.assert_error_shape();
    let typo = json!({"items": [{"id": 1, "name": "x", "category": "y", "pirce_fen": 1}]});
    let typo = server.post(&coffee, "/v1/merchant/catalog", &typo).await;
    assert_eq!(typo.status, 400, "{}", typo.text);
    assert!(typo.text.contains("pirce_fen"), "{}", typo.text);

    // An operator opens a fourth shop on the tea menu; it sells at once.
    let operator = server.operator();
    let shop = json!({"id": "mer_4", "name": "茶颜 Tea House #3", "catalog_id": "cat_1", "orders_per_minute": 10, "open_orders_max": 5});
    let registered = server.post(&operator, "/v1/merchants", &shop).await;
    let registered = registered.ok(201);
    assert_eq!(
        (registered["id"].as_str(), registered["status"].as_str(), registered["eta_ms"].as_u64()),
        (Some("mer_4"), Some("open"), Some(6000))
    );
    let listed = server.get(&server.shopper(1), "/v1/merchants").await;
    assert_eq!(ids(listed.ok(200), "merchants"), [TEA_1, TEA_2, COFFEE, "mer_4"]);
    // Search finds it at once: a search commits the shops registered before it.
    let found = server.get(&server.shopper(1), "/v1/search?q=tea%20house%20%233").await;
    let shops = strings(found.ok(200), "hits", "merchant_id");
    assert!(shops.iter().any(|shop| shop == "mer_4"), "{}", found.text);
    let order = server.place_order(&server.shopper(30), "mer_4").await;
    assert_eq!(order["merchant_id"], "mer_4");
    let own = server.get(&server.merchant(4), "/v1/merchant/orders").await;
    assert_eq!(own.ok(200)["orders"].as_array().unwrap().len(), 1);
    let unknown_catalog = json!({"id": "mer_5", "name": "x", "catalog_id": "cat_99", "orders_per_minute": 10, "open_orders_max": 5});
    server.post(&operator, "/v1/merchants", &unknown_catalog).await.refused(404, "not_found");

    // A shop with a menu of its own, all over HTTP: the operator publishes the menu under a new
    // catalog id, registers the shop with it, and from then on its merchant keeps it up to date.
    let bakery_menu =
        "item_id,name,category,price_fen\n301,Egg Tart 蛋挞,bakery,900\n302,Pineapple Bun,bakery,700\n";
    let published = server.post_bytes(&operator, "/v1/catalogs/cat_99", "text/csv", bakery_menu.into()).await;
    assert_eq!(published.ok(201), &json!({"catalog_id": "cat_99", "items": 2}));
    server.post(&operator, "/v1/merchants", &unknown_catalog).await.ok(201);
    let shown = server.get(&server.shopper(1), "/v1/merchants/mer_5/menu").await;
    assert_eq!(strings(shown.ok(200), "items", "name"), ["Egg Tart 蛋挞", "Pineapple Bun"]);
    let found = server.get(&server.shopper(1), "/v1/search?q=pineapple").await;
    assert_eq!(found.ok(200)["hits"][0]["merchant_id"], "mer_5", "{}", found.text);
    let order = server
        .post(
            &server.shopper(31),
            "/v1/checkout_sessions",
            &json!({"merchant_id": "mer_5", "line_items": [{"id": "itm_301", "quantity": 2}]}),
        )
        .await;
    assert_eq!(total(order.ok(201), "subtotal"), Some(1800), "{}", order.text);
    let update = "item_id,name,category,price_fen\n301,Egg Tart 蛋挞,bakery,950\n";
    let updated =
        server.post_bytes(&server.merchant(5), "/v1/merchant/catalog", "text/csv", update.into()).await;
    assert_eq!(updated.ok(201)["catalog_id"], "cat_99");
    // The new menu replaces the old one in search too: the bun is gone.
    let found = server.get(&server.shopper(1), "/v1/search?q=pineapple").await;
    assert_eq!(found.ok(200)["hits"], json!([]), "{}", found.text);
    let found = server.get(&server.shopper(1), "/v1/search?q=egg%20tart").await;
    let bakery =
        found.ok(200)["hits"].as_array().unwrap().iter().find(|hit| hit["merchant_id"] == "mer_5").cloned();
    assert_eq!(bakery.map(|hit| hit["item"]["price"].clone()), Some(json!(950)), "{}", found.text);
    // Only operators publish by catalog id; a merchant uses its own shop's endpoint.
    let foreign =
        server.post_bytes(&server.merchant(5), "/v1/catalogs/cat_1", "text/csv", update.into()).await;
    foreign.refused(403, "forbidden");
    let bad_id = server.post_bytes(&operator, "/v1/catalogs/menu-1", "text/csv", update.into()).await;
    assert_eq!(bad_id.status, 400, "{}", bad_id.text);
    assert_eq!(bad_id.json["param"], "$path.catalog_id", "{}", bad_id.text);
}

/// The read index a restart records from the replay's answers (on another core, while the
/// journal replays) and then finishes is the index rebuilt from the ledger afterwards: the same
/// orders by shopper, shop and quote, in the same order, the retired ones gone; and when the
/// ledger no longer remembers every order it retired, finishing rebuilds it.
#[tokio::test]
async fn the_read_index_recorded_during_the_replay_is_the_rebuilt_one() {
    for retired_kept_max in [lantern_ledger::RETIRED_KEPT_MAX, 1] {
        let clock = Arc::new(ManualClock::new(SystemClock.now()));
        let ledger = lantern_ledger::LedgerConfig { retired_kept_max, ..ledger_config() };
        let mut server =
            Server::start_with(Setup { clock: Some(Arc::clone(&clock)), ledger, ..Setup::default() }).await;
        for shopper in [server.shopper(1), server.shopper(4)] {
            let closed = server.place_order(&shopper, TEA_1).await;
            let closed_id = closed["id"].as_str().unwrap().to_owned();
            server.post(&shopper, &format!("/v1/orders/{closed_id}/cancel"), &json!({})).await.ok(200);
        }
        // Past the retention (48 h in these tests) the next command retires the closed orders.
        clock.advance_ms(48 * 60 * 60 * 1000 + 1_000);
        server.claim(&server.shopper(3), FESTIVAL).await;
        // Tokens issued now: the first ones expired with the 48 hours.
        let (ada, bo) = (server.shopper(1), server.shopper(2));
        server.place_order(&bo, TEA_1).await;
        server.place_order(&ada, TEA_1).await;
        server.place_order(&bo, TEA_1).await;
        server.stop().await;

        let store = lantern_store::SqliteStore::open(
            &server.data.0,
            lantern_store::OpenMode::Existing,
            lantern_store::Durability::Off,
        )
        .unwrap();
        let mut recorded = lantern_gateway::ReadIndex::sized(0);
        let (sequencer, _) = lantern_sequencer::Sequencer::start_observing(
            Box::new(store),
            ledger,
            sequencer_config(),
            Arc::clone(&clock) as Arc<dyn Clock>,
            u64::MAX,
            &mut |_| {},
            &mut |outcome| {
                if let Some(receipt) = lantern_gateway::ReadIndex::placed(outcome) {
                    recorded.record_order(receipt);
                }
            },
        )
        .unwrap();
        // The answers carry every order placed, the two retired since included.
        assert_eq!(recorded.order_by_quote.len(), 5, "{retired_kept_max}");
        let (finished, rebuilt) = sequencer
            .handle()
            .read(|ledger| (recorded.finish(ledger, 0), lantern_gateway::ReadIndex::rebuild(ledger, 0)));
        assert_eq!(finished, rebuilt, "{retired_kept_max}");
        assert_eq!(finished.order_by_quote.len(), 3, "{retired_kept_max}");
        assert_eq!(finished.orders_by_shopper[&lantern_core::ShopperId::new(2)].len(), 2);
        assert!(!finished.merchants.is_empty());
        tokio::task::spawn_blocking(move || sequencer.stop()).await.unwrap();
    }
}

/// Orders the ledger retires (closed, past the retention) leave the gateway's lists too, so the
/// read index stays as large as the retention, not as every order since the start; a gateway
/// that fell further behind than the ledger remembers rebuilds its index instead.
#[tokio::test]
async fn retired_orders_leave_the_order_lists() {
    for retired_kept_max in [lantern_ledger::RETIRED_KEPT_MAX, 1] {
        let clock = Arc::new(ManualClock::new(SystemClock.now()));
        let ledger = lantern_ledger::LedgerConfig { retired_kept_max, ..ledger_config() };
        let server =
            Server::start_with(Setup { clock: Some(Arc::clone(&clock)), ledger, ..Setup::default() }).await;
        let (ada, bo, cy) = (server.shopper(1), server.shopper(2), server.shopper(4));
        for shopper in [&ada, &cy] {
            let closed = server.place_order(shopper, TEA_1).await;
            let closed_id = closed["id"].as_str().unwrap().to_owned();
            server.post(shopper, &format!("/v1/orders/{closed_id}/cancel"), &json!({})).await.ok(200);
        }
        let open = server.place_order(&bo, TEA_1).await;
        let open_id = open["id"].as_str().unwrap();
        let listed = |token: String, path: &'static str| {
            let server = &server;
            async move { ids(server.get(&token, path).await.ok(200), "orders") }
        };
        assert_eq!(listed(server.merchant(1), "/v1/merchant/orders").await.len(), 3);

        // Past the retention (48 h in these tests), any command sweeps the closed orders out.
        clock.advance_ms(48 * 60 * 60 * 1000 + 1_000);
        server.claim(&server.shopper(3), FESTIVAL).await;
        server.app.prune_index();
        assert_eq!(listed(server.shopper(1), "/v1/orders").await, Vec::<String>::new());
        assert_eq!(listed(server.merchant(1), "/v1/merchant/orders").await, [open_id]);
        assert_eq!(listed(server.shopper(2), "/v1/orders").await, [open_id]);
        let index = server.app.index.read();
        assert!(
            !index.orders_by_shopper.contains_key(&lantern_core::ShopperId::new(1)),
            "{retired_kept_max}"
        );
        assert!(
            !index.orders_by_shopper.contains_key(&lantern_core::ShopperId::new(4)),
            "{retired_kept_max}"
        );
        assert_eq!(index.order_by_quote.len(), 1, "{retired_kept_max}");
    }
}
