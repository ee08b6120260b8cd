//! Bearer tokens and scope: every protected endpoint refuses a missing or bad token with 401 and
//! a code, refuses the wrong role with 403, and nobody reads or changes another shopper's
//! checkout session or order, or another shop's order.

use lantern_auth::{Claims, Role, Signer};
use lantern_core::{MerchantId, ShopperId, Timestamp};
use lantern_sequencer::{Clock, SystemClock};
use reqwest::header::HeaderValue;
use serde_json::json;

use crate::support::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Anyone,
    Shopper,
    Merchant,
    Operator,
}

/// Every endpoint that needs a token, with who may call it.
const PROTECTED: [(&str, &str, Who); 30] = [
    ("GET", "/v1/merchants", Who::Anyone),
    ("GET", "/v1/merchants/mer_1/menu", Who::Anyone),
    ("GET", "/v1/search?q=tea", Who::Anyone),
    ("GET", "/v1/campaigns", Who::Anyone),
    ("GET", "/v1/orders/ord_1", Who::Anyone),
    ("POST", "/v1/campaigns/cmp_1/claim", Who::Shopper),
    ("GET", "/v1/wallet", Who::Shopper),
    ("POST", "/v1/checkout_sessions", Who::Shopper),
    ("POST", "/v1/checkout_sessions/cs_1", Who::Shopper),
    ("GET", "/v1/checkout_sessions/cs_1", Who::Shopper),
    ("POST", "/v1/checkout_sessions/cs_1/complete", Who::Shopper),
    ("POST", "/v1/checkout_sessions/cs_1/cancel", Who::Shopper),
    ("POST", "/v1/coupon_orders", Who::Shopper),
    ("GET", "/v1/orders", Who::Shopper),
    ("POST", "/v1/orders/ord_1/cancel", Who::Shopper),
    ("POST", "/v1/merchant/catalog", Who::Merchant),
    ("POST", "/v1/merchant/status", Who::Merchant),
    ("POST", "/v1/merchant/capacity", Who::Merchant),
    ("GET", "/v1/merchant/orders", Who::Merchant),
    ("POST", "/v1/merchant/orders/ord_1/accept", Who::Merchant),
    ("POST", "/v1/merchants", Who::Operator),
    ("POST", "/v1/catalogs/cat_9", Who::Operator),
    ("POST", "/v1/campaigns", Who::Operator),
    ("POST", "/v1/campaigns/cmp_1/edit", Who::Operator),
    ("POST", "/v1/campaigns/cmp_1/pause", Who::Operator),
    ("POST", "/v1/campaigns/cmp_1/resume", Who::Operator),
    ("GET", "/v1/campaigns/cmp_1/stats", Who::Operator),
    ("GET", "/v1/stats", Who::Operator),
    ("POST", "/v1/ops/backups", Who::Operator),
    ("GET", "/v1/ops/backups", Who::Operator),
];

fn request(server: &Server, method: &str, path: &str) -> reqwest::RequestBuilder {
    let url = server.url(path);
    match method {
        "GET" => server.http.get(url),
        _ => server.http.post(url).header("idempotency-key", server.key()).json(&json!({})),
    }
}

#[tokio::test]
async fn every_protected_endpoint_refuses_missing_and_bad_tokens() {
    let server = Server::start().await;
    let now = SystemClock.now();
    let shopper = Role::Shopper(ShopperId::new(1));
    let sign = |signer: &Signer, role: Role, issued_at: Timestamp, expires_at: Timestamp| {
        signer.issue_token(&Claims { role, issued_at, expires_at })
    };
    let valid = server.shopper(1);
    let (payload, mac) = valid.rsplit_once('.').unwrap();
    let tampered_mac = format!("{payload}.{}{}", if mac.starts_with('A') { 'B' } else { 'A' }, &mac[1..]);
    let other_signer = Signer::new(&[7; 32]).unwrap();
    let day_ago = Timestamp::from_ms(now.unix_ms() - DAY_MS);
    let cases: Vec<(String, Option<HeaderValue>, &str)> = vec![
        ("no header".into(), None, "token_missing"),
        ("empty".into(), Some(HeaderValue::from_static("")), "token_malformed"),
        ("scheme only".into(), Some(HeaderValue::from_static("Bearer")), "token_malformed"),
        ("basic".into(), Some(HeaderValue::from_static("Basic dXNlcjpwYXNz")), "token_malformed"),
        ("garbage".into(), Some(HeaderValue::from_static("Bearer not-a-token")), "token_malformed"),
        (
            "two words".into(),
            Some(HeaderValue::from_str(&format!("Bearer {valid} extra")).unwrap()),
            "token_malformed",
        ),
        (
            "too long".into(),
            Some(HeaderValue::from_str(&format!("Bearer {valid}{}", "A".repeat(600))).unwrap()),
            "token_malformed",
        ),
        (
            "not ascii".into(),
            Some(HeaderValue::from_bytes("Bearer 令牌".as_bytes()).unwrap()),
            "token_malformed",
        ),
        (
            "tampered".into(),
            Some(HeaderValue::from_str(&format!("Bearer {tampered_mac}")).unwrap()),
            "token_bad_signature",
        ),
        (
            "other secret".into(),
            Some(
                HeaderValue::from_str(&format!(
                    "Bearer {}",
                    sign(&other_signer, shopper, now, now.plus_ms(DAY_MS))
                ))
                .unwrap(),
            ),
            "token_bad_signature",
        ),
        (
            "expired".into(),
            Some(
                HeaderValue::from_str(&format!("Bearer {}", sign(&server.signer, shopper, day_ago, now)))
                    .unwrap(),
            ),
            "token_expired",
        ),
        (
            "not yet valid".into(),
            Some(
                HeaderValue::from_str(&format!(
                    "Bearer {}",
                    sign(&server.signer, shopper, now.plus_ms(3_600_000), now.plus_ms(DAY_MS))
                ))
                .unwrap(),
            ),
            "token_not_yet_valid",
        ),
        (
            "a ticket".into(),
            Some(HeaderValue::from_str(&format!("Bearer {}", server.some_ticket())).unwrap()),
            "token_wrong_kind",
        ),
    ];
    for (method, path, _) in PROTECTED {
        for (name, header, code) in &cases {
            let mut builder = request(&server, method, path);
            if let Some(header) = header {
                builder = builder.header("authorization", header.clone());
            }
            let reply = server.send(builder).await;
            assert_eq!(reply.status, 401, "{method} {path} with {name}: {}", reply.text);
            reply.assert_error_shape();
            assert_eq!(reply.code(), *code, "{method} {path} with {name}: {}", reply.text);
        }
    }
    // Lower-case scheme and extra spaces are fine.
    let reply = server
        .send(server.http.get(server.url("/v1/wallet")).header("authorization", format!("bearer   {valid} ")))
        .await;
    reply.ok(200);
}

#[tokio::test]
async fn each_role_reaches_only_its_own_endpoints() {
    let server = Server::start().await;
    let tokens = [
        (Who::Shopper, server.shopper(1)),
        (Who::Merchant, server.merchant(1)),
        (Who::Operator, server.operator()),
    ];
    for (method, path, allowed) in PROTECTED {
        for (role, token) in &tokens {
            let reply = server.send(request(&server, method, path).bearer_auth(token)).await;
            if allowed == Who::Anyone || allowed == *role {
                assert_ne!(reply.status, 401, "{method} {path} as {role:?}: {}", reply.text);
                assert_ne!(reply.status, 403, "{method} {path} as {role:?}: {}", reply.text);
                assert!(reply.status < 500, "{method} {path} as {role:?}: {}", reply.text);
            } else {
                assert_eq!(reply.status, 403, "{method} {path} as {role:?}: {}", reply.text);
                reply.refused(403, "forbidden");
            }
        }
    }
}

#[tokio::test]
async fn shoppers_cannot_reach_each_others_sessions_or_orders() {
    let server = Server::start().await;
    let (alice, bob) = (server.shopper(1), server.shopper(2));
    server.claim(&alice, FESTIVAL).await.ok(201);
    server.claim(&bob, FESTIVAL).await.ok(201);
    let session = server.checkout(&alice, TEA_1, json!([{"id": "itm_101", "quantity": 3}])).await;
    let id = session["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/checkout_sessions/{id}");
    let alices_coupon = session["discounts"]["applied"][0]["id"].as_str().unwrap().to_owned();

    let assert_hidden = |reply: &Reply, what: &str| {
        reply.refused(404, "not_found");
        for secret in ["line_items", "itm_101", "totals", alices_coupon.as_str()] {
            assert!(!reply.text.contains(secret), "{what} leaks {secret}: {}", reply.text);
        }
    };
    assert_hidden(&server.get(&bob, &path).await, "get");
    assert_hidden(
        &server.post(&bob, &path, &json!({"line_items": [{"id": "itm_106", "quantity": 1}]})).await,
        "update",
    );
    assert_hidden(&server.post(&bob, &path, &json!({"discounts": {"codes": []}})).await, "update codes");
    assert_hidden(&server.post(&bob, &format!("{path}/cancel"), &json!({})).await, "cancel");
    assert_hidden(&server.post(&bob, &format!("{path}/complete"), &json!({})).await, "complete");
    assert!(server.get(&bob, "/v1/orders").await.ok(200)["orders"].as_array().unwrap().is_empty());
    assert_eq!(server.wallet(&bob).await[0]["status"], "claimed", "bob's own coupon was not touched");

    // Alice's session is as she left it.
    let mine = server.get(&alice, &path).await;
    let mine = mine.ok(200);
    assert_eq!(mine["status"], "ready_for_payment");
    assert_eq!(mine["line_items"][0]["quantity"], 3);
    assert_eq!(mine["discounts"]["applied"][0]["id"], alices_coupon.as_str());
    assert_eq!(server.wallet(&alice).await[0]["status"], "held");

    let completed = server.post(&alice, &format!("{path}/complete"), &json!({})).await;
    let order = completed.ok(200)["order"]["id"].as_str().unwrap().to_owned();
    assert_hidden(&server.get(&bob, &path).await, "get completed");
    assert_hidden(&server.get(&bob, &format!("/v1/orders/{order}")).await, "get order");
    assert_hidden(
        &server.post(&bob, &format!("/v1/orders/{order}/cancel"), &json!({})).await,
        "cancel order",
    );
    assert!(server.get(&bob, "/v1/orders").await.ok(200)["orders"].as_array().unwrap().is_empty());
    let still = server.get(&alice, &format!("/v1/orders/{order}")).await;
    assert_eq!(still.ok(200)["status"], "placed");

    // Shops: another shop neither sees nor moves it; its own shop and operators do.
    let other_shop = server.merchant(2);
    assert_hidden(&server.get(&other_shop, &format!("/v1/orders/{order}")).await, "other shop get");
    for event in ["accept", "reject", "ready", "dispatch", "deliver"] {
        let reply =
            server.post(&other_shop, &format!("/v1/merchant/orders/{order}/{event}"), &json!({})).await;
        assert_hidden(&reply, event);
    }
    assert!(
        server.get(&other_shop, "/v1/merchant/orders").await.ok(200)["orders"].as_array().unwrap().is_empty()
    );
    assert_eq!(server.get(&alice, &format!("/v1/orders/{order}")).await.ok(200)["status"], "placed");
    assert_eq!(
        server.get(&server.operator(), &format!("/v1/orders/{order}")).await.ok(200)["id"],
        order.as_str()
    );
    let own_shop = server.merchant(1);
    server.post(&own_shop, &format!("/v1/merchant/orders/{order}/accept"), &json!({})).await.ok(200);

    // A shop that is not registered has no orders and cannot change anything.
    let stranger = server.token_for(Role::Merchant(MerchantId::new(77)));
    assert!(
        server.get(&stranger, "/v1/merchant/orders").await.ok(200)["orders"].as_array().unwrap().is_empty()
    );
    let status = server.post(&stranger, "/v1/merchant/status", &json!({"status": "paused"})).await;
    assert_eq!(status.status, 404, "{}", status.text);
    status.assert_error_shape();
    let upload = server
        .post(
            &stranger,
            "/v1/merchant/catalog",
            &json!({"items": [{"id": 1, "name": "x", "category": "y", "price_fen": 1}]}),
        )
        .await;
    upload.refused(404, "not_found");
}
