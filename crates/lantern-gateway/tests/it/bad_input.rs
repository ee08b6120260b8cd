//! Bad input on every endpoint: malformed JSON, wrong types, unknown fields, empty and huge
//! bodies, unknown, malformed and absurd ids and quantities. Every answer is a 4xx in the one
//! error shape (`type`, `code`, `message`), never a 5xx and never a dropped connection. Then a
//! seeded fuzz throws mutated and random bodies at every POST endpoint.

use serde_json::{Map, Value, json};

use crate::idempotency::post_endpoints;
use crate::support::*;

/// POSTs whose body is ignored (any JSON, or nothing).
const IGNORED_BODY: [&str; 7] =
    ["/complete", "/cancel", "/pause", "/resume", "/accept", "/ord_1/cancel", "/v1/ops/backups"];

fn body_is_ignored(path: &str) -> bool {
    IGNORED_BODY.iter().any(|suffix| path.ends_with(suffix))
}

async fn post_raw(server: &Server, token: &str, path: &str, body: Vec<u8>) -> Reply {
    server.post_bytes(token, path, "application/json", body).await
}

#[track_caller]
fn assert_refused(reply: &Reply, statuses: &[u16], what: &str) {
    assert!(
        statuses.contains(&reply.status),
        "{what}: expected one of {statuses:?}, got {} {}",
        reply.status,
        reply.text
    );
    reply.assert_error_shape();
}

#[tokio::test]
async fn malformed_bodies_are_refused_on_every_post_endpoint() {
    let server = Server::start().await;
    for (token, path, good) in post_endpoints(&server) {
        let what = |case: &str| format!("POST {path} with {case}");
        // Broken JSON, bytes that are not UTF-8, nesting past any sane depth.
        for (case, body) in [
            ("truncated JSON", b"{\"a\":".to_vec()),
            ("not JSON", b"hello".to_vec()),
            ("not UTF-8", vec![0xff, 0xfe, 0x7b, 0x7d]),
            ("trailing garbage", b"{}}".to_vec()),
            ("deep nesting", "[".repeat(100_000).into_bytes().into_iter().take(60_000).collect()),
        ] {
            let reply = post_raw(&server, &token, &path, body).await;
            assert_refused(&reply, &[400], &what(case));
        }
        // A body over the limit (64 KiB here), sized or streamed.
        let huge = format!("{{\"pad\":\"{}\"}}", "x".repeat(100_000));
        let reply = post_raw(&server, &token, &path, huge.clone().into_bytes()).await;
        assert_refused(&reply, &[413], &what("a huge body"));
        assert_eq!(reply.code(), "body_too_large");
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
            (0..20).map(|_| Ok(vec![b' '; 8 * 1024])).collect();
        let streamed = server
            .send(
                server
                    .http
                    .post(server.url(&path))
                    .bearer_auth(&token)
                    .header("idempotency-key", server.key())
                    .header("content-type", "application/json")
                    .body(reqwest::Body::wrap_stream(futures_util_stream(chunks))),
            )
            .await;
        assert_refused(&streamed, &[413], &what("a huge chunked body"));
        if body_is_ignored(&path) {
            continue;
        }
        // Structured bodies: nothing, the wrong shape, an unknown field, each field mistyped.
        let mut cases: Vec<(String, Vec<u8>)> = vec![
            ("a string".into(), b"\"x\"".to_vec()),
            ("a number".into(), b"42".to_vec()),
            ("null".into(), b"null".to_vec()),
        ];
        if !path.ends_with("/claim") {
            cases.push(("no body".into(), Vec::new()));
            cases.push(("an empty object".into(), b"{}".to_vec()));
        }
        let object = good.as_object().unwrap().clone();
        if !path.ends_with("/catalog") {
            let mut unknown = object.clone();
            unknown.insert("surprise".into(), json!(1));
            cases.push(("an unknown field".into(), serde_json::to_vec(&unknown).unwrap()));
        }
        for (field, value) in &object {
            for wrong in wrong_types(value) {
                let mut body = object.clone();
                body.insert(field.clone(), wrong.clone());
                cases.push((format!("{field} = {wrong}"), serde_json::to_vec(&body).unwrap()));
            }
        }
        for (case, body) in cases {
            let reply = post_raw(&server, &token, &path, body).await;
            assert_refused(&reply, &[400, 404, 422], &what(&case));
        }
    }
}

/// A JSON array where an object is expected is accepted: serde's derived `Deserialize` reads a
/// struct from a sequence, field by field in declaration order, so `[]` is a claim and
/// `["mer_1", [{"id": "itm_101", "quantity": 1}]]` opens a checkout session. The document (and
/// every client) says these bodies are objects.
#[tokio::test]
async fn arrays_are_not_objects() {
    let server = Server::start().await;
    let shopper = server.shopper(1);
    let cases = [
        ("/v1/campaigns/cmp_1/claim", json!([])),
        ("/v1/campaigns/cmp_1/claim", json!([null])),
        ("/v1/checkout_sessions", json!(["mer_1", [{"id": "itm_101", "quantity": 1}]])),
        ("/v1/checkout_sessions", json!(["mer_1", [["itm_101", 1, []]]])),
        ("/v1/coupon_orders", json!(["cmp_1", "mer_1", [["itm_101", 1]]])),
    ];
    for (path, body) in cases {
        let reply = server.post(&shopper, path, &body).await;
        assert_refused(&reply, &[400], &format!("POST {path} with {body}"));
    }
    let kitchen = server.merchant(1);
    let reply = server.post(&kitchen, "/v1/merchant/status", &json!(["paused"])).await;
    assert_refused(&reply, &[400], "POST /v1/merchant/status with [\"paused\"]");
    let reply = server.post(&kitchen, "/v1/merchant/capacity", &json!([1, 1])).await;
    assert_refused(&reply, &[400], "POST /v1/merchant/capacity with [1, 1]");
}

/// Values of another JSON type than `value` (for a catalog upload, the menu's own fields are
/// checked by its parser).
fn wrong_types(value: &Value) -> Vec<Value> {
    match value {
        Value::String(_) => vec![json!(7), json!(null), json!(["mer_1"]), json!({})],
        Value::Number(_) => vec![json!("30"), json!(1.5), json!(-1), json!(null), json!(true)],
        Value::Array(_) => vec![json!({}), json!("itm_101"), json!([1]), json!(null)],
        Value::Object(_) => vec![json!([]), json!("x")],
        Value::Bool(_) | Value::Null => vec![json!("x")],
    }
}

fn futures_util_stream(
    chunks: Vec<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    futures_util::stream::iter(chunks)
}

#[tokio::test]
async fn checkout_lines_quantities_options_and_ids_are_checked() {
    let server = Server::start().await;
    let shopper = server.shopper(1);
    server.claim(&shopper, FESTIVAL).await.ok(201);
    let create = |lines: Value| json!({"merchant_id": TEA_1, "line_items": lines});
    let line = |item: Value, quantity: Value, options: Value| json!({"id": item, "quantity": quantity, "options": options});
    let mut cases: Vec<(String, Value, &[u16])> = Vec::new();
    for quantity in
        [json!(0), json!(100), json!(-1), json!(65_536), json!(1_000_000_000_000_i64), json!(2.5), json!("2")]
    {
        cases.push((
            format!("quantity {quantity}"),
            create(json!([line(json!("itm_101"), quantity, json!([]))])),
            &[400],
        ));
    }
    let one = line(json!("itm_101"), json!(1), json!([]));
    cases.push(("no lines".into(), create(json!([])), &[400]));
    cases.push(("51 lines".into(), create(Value::Array(vec![one.clone(); 51])), &[400]));
    cases.push((
        "33 options".into(),
        create(json!([line(json!("itm_101"), json!(1), json!(vec![30; 33]))])),
        &[400],
    ));
    cases.push((
        "an unknown option".into(),
        create(json!([line(json!("itm_101"), json!(1), json!([999]))])),
        &[400, 404, 422],
    ));
    cases.push((
        "two sizes".into(),
        create(json!([line(json!("itm_101"), json!(1), json!([1, 2]))])),
        &[400, 422],
    ));
    cases.push((
        "a negative option".into(),
        create(json!([line(json!("itm_101"), json!(1), json!([-1]))])),
        &[400],
    ));
    cases.push((
        "an unknown item".into(),
        create(json!([line(json!("itm_999"), json!(1), json!([]))])),
        &[400, 404, 422],
    ));
    cases.push((
        "another shop's item".into(),
        create(json!([line(json!("itm_201"), json!(1), json!([]))])),
        &[400, 404, 422],
    ));
    cases.push(("a malformed item".into(), create(json!([line(json!("tea"), json!(1), json!([]))])), &[400]));
    cases.push((
        "an overflowing item".into(),
        create(json!([line(json!("itm_99999999999999999999999"), json!(1), json!([]))])),
        &[400],
    ));
    cases.push(("an empty item".into(), create(json!([line(json!(""), json!(1), json!([]))])), &[400]));
    cases.push((
        "a line field unknown".into(),
        create(json!([{"id": "itm_101", "quantity": 1, "note": "hot"}])),
        &[400],
    ));
    cases.push(("no quantity".into(), create(json!([{"id": "itm_101"}])), &[400]));
    for merchant in ["mer_999", "999"] {
        cases.push((
            format!("merchant {merchant}"),
            json!({"merchant_id": merchant, "line_items": [one]}),
            &[404],
        ));
    }
    for merchant in ["", "mer_", "shop", "mer_-1", "mer_1.5", "mer_18446744073709551616"] {
        cases.push((
            format!("merchant {merchant:?}"),
            json!({"merchant_id": merchant, "line_items": [one]}),
            &[400],
        ));
    }
    cases.push((
        "codes not a list".into(),
        json!({"merchant_id": TEA_1, "line_items": [one], "discounts": {"codes": "cmp_1"}}),
        &[400],
    ));
    cases.push((
        "discounts unknown field".into(),
        json!({"merchant_id": TEA_1, "line_items": [one], "discounts": {"code": "cmp_1"}}),
        &[400],
    ));
    for (case, body, statuses) in &cases {
        let reply = server.post(&shopper, "/v1/checkout_sessions", body).await;
        assert_refused(&reply, statuses, &format!("create with {case}"));
        let coupon_order = json!({"campaign_id": FESTIVAL, "merchant_id": body["merchant_id"], "line_items": body["line_items"]});
        let reply = server.post(&shopper, "/v1/coupon_orders", &coupon_order).await;
        if !case.starts_with("codes") && !case.starts_with("discounts") {
            assert_refused(&reply, statuses, &format!("coupon order with {case}"));
        }
    }
    // The same lines on an update of an open session.
    let session = server.checkout(&shopper, TEA_1, json!([one])).await;
    let path = format!("/v1/checkout_sessions/{}", session["id"].as_str().unwrap());
    for (case, body, statuses) in &cases {
        if case.starts_with("merchant") {
            continue;
        }
        let update = json!({"line_items": body["line_items"], "discounts": body.get("discounts")});
        let reply = server.post(&shopper, &path, &update).await;
        assert_refused(&reply, statuses, &format!("update with {case}"));
    }
    server.post(&shopper, &path, &json!({"merchant_id": TEA_2})).await.refused(400, "invalid");
    // Nothing of that changed the session.
    let unchanged = server.get(&shopper, &path).await;
    assert_eq!(unchanged.ok(200)["line_items"][0]["quantity"], 1);
    assert_eq!(unchanged.json["status"], "ready_for_payment");
    // The largest cart is fine.
    let biggest = Value::Array(vec![line(json!("itm_106"), json!(99), json!([])); 50]);
    server.post(&server.shopper(2), "/v1/checkout_sessions", &create(biggest)).await.ok(201);

    // Coupon orders name their campaign.
    for (campaign, status) in [("cmp_999", 404), ("", 400), ("festival", 400)] {
        let body = json!({"campaign_id": campaign, "merchant_id": TEA_1, "line_items": [one]});
        let reply = server.post(&server.shopper(3), "/v1/coupon_orders", &body).await;
        assert_refused(&reply, &[status], &format!("coupon order for campaign {campaign:?}"));
    }
}

#[tokio::test]
async fn unknown_malformed_and_foreign_ids_in_paths() {
    let server = Server::start().await;
    let (shopper, merchant, operator) = (server.shopper(1), server.merchant(1), server.operator());
    let mut cases: Vec<(&str, String, &str, String, &[u16])> = Vec::new();
    for id in ["mer_999", "mer_abc", "abc", "mer_18446744073709551616", "%20", "mer_1%2F..", "%E5%A5%B6"] {
        cases.push(("GET", format!("/v1/merchants/{id}/menu"), "", shopper.clone(), &[400, 404]));
    }
    for id in ["cs_999", "cs_", "cs_abc", "abc", "1", "cs_-1", "cs_18446744073709551616"] {
        cases.push(("GET", format!("/v1/checkout_sessions/{id}"), "", shopper.clone(), &[404]));
        for suffix in ["", "/complete", "/cancel"] {
            let body =
                if suffix.is_empty() { r#"{"line_items":[{"id":"itm_101","quantity":1}]}"# } else { "{}" };
            cases.push((
                "POST",
                format!("/v1/checkout_sessions/{id}{suffix}"),
                body,
                shopper.clone(),
                &[404],
            ));
        }
    }
    for id in ["ord_999", "ord_x", "x", "ord_18446744073709551616"] {
        cases.push(("GET", format!("/v1/orders/{id}"), "", shopper.clone(), &[400, 404]));
        cases.push(("POST", format!("/v1/orders/{id}/cancel"), "{}", shopper.clone(), &[400, 404]));
        cases.push(("POST", format!("/v1/merchant/orders/{id}/accept"), "{}", merchant.clone(), &[400, 404]));
    }
    for event in ["explode", "cancel", "ACCEPT", "%20"] {
        cases.push((
            "POST",
            format!("/v1/merchant/orders/ord_1/{event}"),
            "{}",
            merchant.clone(),
            &[400, 404],
        ));
    }
    for id in ["cmp_999", "cmp_x", "x", "cmp_18446744073709551616"] {
        cases.push(("POST", format!("/v1/campaigns/{id}/claim"), "{}", shopper.clone(), &[400, 404]));
        cases.push(("POST", format!("/v1/campaigns/{id}/pause"), "{}", operator.clone(), &[400, 404]));
        cases.push(("POST", format!("/v1/campaigns/{id}/resume"), "{}", operator.clone(), &[400, 404]));
        cases.push((
            "POST",
            format!("/v1/campaigns/{id}/edit"),
            r#"{"top_up":1}"#,
            operator.clone(),
            &[400, 404],
        ));
        cases.push(("GET", format!("/v1/campaigns/{id}/stats"), "", operator.clone(), &[400, 404]));
    }
    for (method, path, body, token, statuses) in cases {
        let request = match method {
            "GET" => server.http.get(server.url(&path)),
            _ => server
                .http
                .post(server.url(&path))
                .header("idempotency-key", server.key())
                .header("content-type", "application/json")
                .body(body),
        };
        let reply = server.send(request.bearer_auth(&token)).await;
        assert_refused(&reply, statuses, &format!("{method} {path}"));
    }
    // Unknown endpoints and methods answer in the same shape.
    let nowhere = server.get(&shopper, "/v1/nowhere").await;
    nowhere.refused(404, "not_found");
    let root = server.send(server.http.get(server.url("/index.php"))).await;
    root.refused(404, "not_found");
    for (method, path) in [
        ("DELETE", "/v1/wallet"),
        ("PUT", "/v1/checkout_sessions"),
        ("GET", "/v1/coupon_orders"),
        ("PATCH", "/v1/orders/ord_1"),
    ] {
        let request = server.http.request(method.parse().unwrap(), server.url(path)).bearer_auth(&shopper);
        let reply = server.send(request).await;
        reply.refused(405, "method_not_allowed");
    }
}

#[tokio::test]
async fn query_strings_are_checked() {
    let server = Server::start().await;
    let shopper = server.shopper(1);
    for query in
        ["limit=-1", "limit=abc", "offset=-5", "offset=99999999999999999999999", "bogus=1", "limit=1&limit=2"]
    {
        let reply = server.get(&shopper, &format!("/v1/merchants?{query}")).await;
        assert_refused(&reply, &[400], &format!("/v1/merchants?{query}"));
    }
    for (query, count) in
        [("limit=0", 1), ("limit=1000000", 3), ("offset=1000000", 0), ("q=", 3), ("q=%E8%8C%B6", 2)]
    {
        let reply = server.get(&shopper, &format!("/v1/merchants?{query}")).await;
        assert_eq!(reply.ok(200)["merchants"].as_array().unwrap().len(), count, "/v1/merchants?{query}");
    }
    let long = "x".repeat(101);
    for query in ["", "q=", "q=%20%20", &format!("q={long}"), "q=tea&extra=1", "query=tea"] {
        let reply = server.get(&shopper, &format!("/v1/search?{query}")).await;
        assert_refused(&reply, &[400], &format!("/v1/search?{query}"));
    }
    let hundred = "茶".repeat(100);
    let reply = server.get(&shopper, &format!("/v1/search?q={}", percent_encode(&hundred))).await;
    assert!(reply.ok(200)["hits"].is_array());
    let odd = server.get(&shopper, &format!("/v1/search?q={}", percent_encode("\u{0}%'\";--<>"))).await;
    odd.ok(200);
}

#[tokio::test]
async fn operator_and_merchant_bodies_are_checked() {
    let server = Server::start().await;
    let (operator, merchant) = (server.operator(), server.merchant(1));
    let base = json!({"name": "x", "budget": 1000, "template": "amount_off", "amount": 100, "per_shopper_limit": 1,
        "starts_at": "2027-01-01T00:00:00Z", "ends_at": "2099-01-01T00:00:00Z"});
    let with = |changes: Value| {
        let mut body = base.as_object().unwrap().clone();
        for (key, value) in changes.as_object().unwrap() {
            if value.is_null() {
                body.remove(key);
            } else {
                body.insert(key.clone(), value.clone());
            }
        }
        Value::Object(body)
    };
    server.post(&operator, "/v1/campaigns", &base).await.ok(201);
    for changes in [
        json!({"budget": 0}),
        json!({"budget": -100}),
        json!({"budget": i64::MAX}),
        json!({"budget": u64::MAX}),
        json!({"amount": 0}),
        json!({"amount": -1}),
        json!({"amount": null}),
        json!({"amount": 100_000_000}),
        json!({"template": "bogo"}),
        json!({"template": "percent_off"}),
        json!({"template": "percent_off", "percent_bp": 0, "cap": 100}),
        json!({"template": "percent_off", "percent_bp": 10_001, "cap": 100}),
        json!({"template": "percent_off", "percent_bp": 1500}),
        json!({"template": "free_item"}),
        json!({"min_spend": -1}),
        json!({"per_shopper_limit": 0}),
        json!({"per_shopper_limit": 9}),
        json!({"per_shopper_limit": 300}),
        json!({"referral_bonus_cap": 9}),
        json!({"name": ""}),
        json!({"name": "n".repeat(201)}),
        json!({"starts_at": "yesterday"}),
        json!({"starts_at": "2027-02-30T00:00:00"}),
        json!({"starts_at": "1969-12-31T23:59:59Z"}),
        json!({"ends_at": "2026-01-01T00:00:00Z"}),
        json!({"ends_at": "2027-01-01T00:00:00Z"}),
        json!({"ends_at": "2027-01-01T00:00:00+25:00"}),
        json!({"ends_at": "99999-01-01T00:00:00Z"}),
        json!({"merchants": ["shop"]}),
        json!({"merchants": "mer_1"}),
        json!({"pace": {"coupons_per_s": 2_000_000}}),
        json!({"pace": {"coupons_per_s": -1}}),
        json!({"pace": {"rate": 1}}),
        json!({"currency": "usd"}),
    ] {
        let reply = server.post(&operator, "/v1/campaigns", &with(changes.clone())).await;
        assert_refused(&reply, &[400, 422], &format!("create a campaign with {changes}"));
    }
    for edit in [
        json!({}),
        json!({"top_up": 0}),
        json!({"top_up": -5}),
        json!({"top_up": i64::MAX}),
        json!({"top_up": 1, "ends_at": "2099-01-01T00:00:00Z"}),
        json!({"ends_at": "soon"}),
        json!({"ends_at": "2000-01-01T00:00:00Z"}),
        json!({"pace": {"coupons_per_s": 5_000_000}}),
        json!({"pace": "fast"}),
        json!({"ends_at": null, "top_up": null, "pace": null}),
    ] {
        let reply = server.post(&operator, "/v1/campaigns/cmp_1/edit", &edit).await;
        assert_refused(&reply, &[400, 409, 422], &format!("edit with {edit}"));
    }
    let stats = server.get(&operator, "/v1/campaigns/cmp_1/stats").await;
    assert_eq!(stats.ok(200)["budget_total"], 100_000_000, "no edit went through");
    // Resuming an active campaign, pausing a paused one: refused, in shape.
    let resume = server.post(&operator, "/v1/campaigns/cmp_1/resume", &json!({})).await;
    assert!(resume.status == 200 || (400..500).contains(&resume.status), "{}", resume.text);
    if resume.status != 200 {
        resume.assert_error_shape();
    }

    for body in [
        json!({"id": "shop", "name": "x", "catalog_id": "cat_1", "orders_per_minute": 1, "open_orders_max": 1}),
        json!({"id": "mer_9", "name": "", "catalog_id": "cat_1", "orders_per_minute": 1, "open_orders_max": 1}),
        json!({"id": "mer_9", "name": "n".repeat(201), "catalog_id": "cat_1", "orders_per_minute": 1, "open_orders_max": 1}),
        json!({"id": "mer_9", "name": "x", "catalog_id": "menu", "orders_per_minute": 1, "open_orders_max": 1}),
        json!({"id": "mer_9", "name": "x", "catalog_id": "cat_1", "orders_per_minute": 0, "open_orders_max": 1}),
        json!({"id": "mer_9", "name": "x", "catalog_id": "cat_1", "orders_per_minute": 1, "open_orders_max": 0}),
        json!({"id": "mer_9", "name": "x", "catalog_id": "cat_1", "orders_per_minute": 4_000_000_000_u32, "open_orders_max": 1}),
        json!({"id": "mer_9", "name": "x", "catalog_id": "cat_1", "orders_per_minute": 1}),
    ] {
        let reply = server.post(&operator, "/v1/merchants", &body).await;
        assert_refused(&reply, &[400, 404, 422], &format!("register {body}"));
    }
    for body in [
        json!({"status": "closed"}),
        json!({"status": "OPEN"}),
        json!({"status": ""}),
        json!({"status": 1}),
        json!({}),
    ] {
        let reply = server.post(&merchant, "/v1/merchant/status", &body).await;
        assert_refused(&reply, &[400], &format!("status {body}"));
    }
    for body in [
        json!({"orders_per_minute": 0, "open_orders_max": 10}),
        json!({"orders_per_minute": 10, "open_orders_max": 0}),
        json!({"orders_per_minute": -1, "open_orders_max": 10}),
        json!({"orders_per_minute": 10_000_000, "open_orders_max": 10}),
        json!({"orders_per_minute": 10, "open_orders_max": 10_000_000_000_u64}),
        json!({"orders_per_minute": 10}),
    ] {
        let reply = server.post(&merchant, "/v1/merchant/capacity", &body).await;
        assert_refused(&reply, &[400], &format!("capacity {body}"));
    }
    let menu = server.get(&server.shopper(1), "/v1/merchants/mer_1/menu").await;
    let shop = &menu.ok(200)["merchant"];
    assert_eq!(
        (shop["status"].as_str(), shop["orders_per_minute"].as_u64()),
        (Some("open"), Some(30)),
        "nothing changed"
    );
    for body in [
        json!({"items": []}),
        json!({"items": [{"id": 1, "name": "", "category": "y", "price_fen": 1}]}),
        json!({"items": [{"id": 1, "name": "x", "category": "y", "price_fen": -1}]}),
        json!({"items": [{"id": 1, "name": "x", "category": "y", "price_fen": 15.5}]}),
        json!({"items": [{"id": 1, "name": "x", "category": "y", "price_fen": 1}, {"id": 1, "name": "z", "category": "y", "price_fen": 1}]}),
        json!({"items": [{"id": "itm_1", "name": "x", "category": "y", "price_fen": 1}]}),
        json!({"format": "lantern.menu/2", "items": [{"id": 1, "name": "x", "category": "y", "price_fen": 1}]}),
    ] {
        let reply = server.post(&merchant, "/v1/merchant/catalog", &body).await;
        assert_refused(&reply, &[400], &format!("catalog {body}"));
    }
    let shopper = server.shopper(1);
    for body in [json!({"referred_by": "nobody"}), json!({"referred_by": 5}), json!({"referred_by": ""})] {
        let reply = server.post(&shopper, "/v1/campaigns/cmp_1/claim", &body).await;
        assert_refused(&reply, &[400], &format!("claim {body}"));
    }
    assert!(server.wallet(&shopper).await.is_empty());
}

/// A time with a multi-byte character where the offset is read (`2027-02-06T00:00:00é1:23`, or
/// `...00+1é34`) panics in `parse_rfc3339` (convert.rs: `&rest[0..1]` and `&rest[3..4]` slice
/// inside a character), so the connection is dropped with no answer instead of a 400.
#[tokio::test]
async fn times_with_multibyte_characters_are_refused_not_dropped() {
    let server = Server::start().await;
    let operator = server.operator();
    for time in ["2027-02-06T00:00:00é1:23", "2027-02-06T00:00:00+1é34", "2027-02-06T00:00:00.5é1:23"] {
        let request = server
            .http
            .post(server.url("/v1/campaigns/cmp_1/edit"))
            .bearer_auth(&operator)
            .header("idempotency-key", server.key())
            .json(&json!({"ends_at": time}));
        let reply = request.send().await;
        let reply = match reply {
            Ok(response) => read(response).await,
            Err(error) => panic!("POST /v1/campaigns/cmp_1/edit with ends_at {time:?}: no answer ({error})"),
        };
        assert_refused(&reply, &[400], time);
        let body = json!({"name": "x", "budget": 100, "template": "amount_off", "amount": 10, "per_shopper_limit": 1,
            "starts_at": time, "ends_at": "2099-01-01T00:00:00Z"});
        let reply = server
            .http
            .post(server.url("/v1/campaigns"))
            .bearer_auth(&operator)
            .header("idempotency-key", server.key())
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|error| {
                panic!("POST /v1/campaigns with starts_at {time:?}: no answer ({error})")
            });
        assert_refused(&read(reply).await, &[400], time);
    }
}

// ---- fuzz -----------------------------------------------------------------------------------

const STRINGS: [&str; 24] = [
    "",
    " ",
    "mer_1",
    "mer_3",
    "itm_101",
    "itm_201",
    "cmp_1",
    "cmp_2",
    "cs_1",
    "ord_1",
    "cat_1",
    "shp_2",
    "mer_18446744073709551616",
    "-1",
    "open",
    "busy",
    "amount_off",
    "percent_off",
    "free_item",
    "2027-02-06T00:00:00Z",
    "2027-02-06T00:00:00.999+08:00",
    "汉字 ✓ \u{0} \u{202e}",
    "\"}{\\",
    "9999-12-31T23:59:59Z",
];

const KEYS: [&str; 18] = [
    "message",
    "session_id",
    "merchant_id",
    "line_items",
    "id",
    "quantity",
    "options",
    "discounts",
    "codes",
    "campaign_id",
    "status",
    "top_up",
    "ends_at",
    "pace",
    "coupons_per_s",
    "items",
    "price_fen",
    "referred_by",
];

fn random_number(rng: &mut Rng) -> Value {
    match rng.below(4) {
        0 => json!(*rng.pick(&[
            0_i64,
            1,
            -1,
            2,
            99,
            100,
            255,
            256,
            65_535,
            65_536,
            2_147_483_647,
            4_294_967_296,
            i64::MAX,
            i64::MIN
        ])),
        1 => json!(u64::MAX),
        2 => json!(*rng.pick(&[0.5, -0.0, 1e308, -1e-308, 3.0])),
        _ => json!(rng.below(1000)),
    }
}

fn random_string(rng: &mut Rng) -> String {
    let base = (*rng.pick(&STRINGS)).to_owned();
    match rng.below(5) {
        0 => base.repeat(1 + rng.below(50) as usize),
        1 if !base.is_empty() => {
            let mut chars: Vec<char> = base.chars().collect();
            let at = rng.below(chars.len() as u64) as usize;
            chars[at] = *rng.pick(&['x', '9', 'é', '汉', '\u{7f}', '-', '.', ':']);
            chars.into_iter().collect()
        }
        _ => base,
    }
}

fn random_value(rng: &mut Rng, depth: u32) -> Value {
    let leaf = depth >= 3 || rng.chance(60);
    if leaf {
        return match rng.below(5) {
            0 => Value::Null,
            1 => Value::Bool(rng.chance(50)),
            2 => random_number(rng),
            _ => Value::String(random_string(rng)),
        };
    }
    if rng.chance(50) {
        Value::Array((0..rng.below(4)).map(|_| random_value(rng, depth + 1)).collect())
    } else {
        let mut object = Map::new();
        for _ in 0..rng.below(4) {
            object.insert((*rng.pick(&KEYS)).to_owned(), random_value(rng, depth + 1));
        }
        Value::Object(object)
    }
}

/// One random change somewhere in `value`.
fn mutate(value: &mut Value, rng: &mut Rng) {
    match value {
        Value::Object(object) if !object.is_empty() && rng.chance(75) => {
            let keys: Vec<String> = object.keys().cloned().collect();
            let key = rng.pick(&keys).clone();
            match rng.below(4) {
                0 => {
                    object.remove(&key);
                }
                1 => {
                    object.insert((*rng.pick(&KEYS)).to_owned(), random_value(rng, 1));
                }
                _ => mutate(object.get_mut(&key).unwrap(), rng),
            }
        }
        Value::Array(items) if !items.is_empty() && rng.chance(75) => match rng.below(4) {
            0 => {
                let copies = rng.below(60) as usize;
                let first = items[0].clone();
                items.extend(std::iter::repeat_n(first, copies));
            }
            1 => items.truncate(rng.below(items.len() as u64) as usize),
            _ => {
                let at = rng.below(items.len() as u64) as usize;
                mutate(&mut items[at], rng);
            }
        },
        _ => *value = random_value(rng, 1),
    }
}

fn random_bytes(rng: &mut Rng) -> Vec<u8> {
    let length = rng.below(200) as usize;
    (0..length).map(|_| rng.below(256) as u8).collect()
}

/// Mutated valid bodies, random JSON and random bytes at every POST endpoint (and random path
/// ids at every path), as every role: never a 5xx, never a dropped connection, and every
/// refusal in the error shape. `LANTERN_FUZZ_SEED` picks another sequence.
#[tokio::test]
async fn fuzzed_bodies_never_cause_a_server_error() {
    let server = Server::start().await;
    let mut rng = Rng::from_env_or(0x1a77_e2e5_2027);
    let shopper = server.shopper(1);
    // Some real state, so that mutations of real ids reach deep.
    server.place_order(&shopper, TEA_1).await;
    server.checkout(&server.shopper(2), COFFEE, json!([{"id": "itm_201", "quantity": 1}])).await;
    let mut endpoints = post_endpoints(&server);
    endpoints.push((
        shopper.clone(),
        "/v1/chat".into(),
        json!({"message": "two pearl milk teas, less sugar", "session_id": "fuzz"}),
    ));
    let tokens = [shopper.clone(), server.merchant(1), server.operator()];
    let rounds: u64 =
        std::env::var("LANTERN_FUZZ_ROUNDS").ok().and_then(|rounds| rounds.parse().ok()).unwrap_or(100);
    let mut n_requests = 0_u64;
    let mut n_ok = 0_u64;
    for round in 0..rounds {
        for (token, path, good) in &endpoints {
            let token = if rng.chance(10) { rng.pick(&tokens) } else { token };
            let body = match rng.below(10) {
                0 => random_bytes(&mut rng),
                1 => serde_json::to_vec(&random_value(&mut rng, 0)).unwrap(),
                _ => {
                    let mut body = good.clone();
                    for _ in 0..=rng.below(3) {
                        mutate(&mut body, &mut rng);
                    }
                    serde_json::to_vec(&body).unwrap()
                }
            };
            let response = server
                .http
                .post(server.url(path))
                .bearer_auth(token)
                .header("idempotency-key", format!("fuzz-{round}-{}", rng.below(4)))
                .header("content-type", if rng.chance(5) { "text/csv" } else { "application/json" })
                .body(body.clone())
                .send()
                .await
                .unwrap_or_else(|error| {
                    panic!("POST {path} with {:?}: no answer ({error})", String::from_utf8_lossy(&body))
                });
            let reply = read(response).await;
            n_requests += 1;
            let what = || format!("POST {path} with {:?}", String::from_utf8_lossy(&body));
            assert!(reply.status < 500, "{}: {} {}", what(), reply.status, reply.text);
            if reply.status >= 400 {
                assert!(
                    reply.json["code"].is_string() && reply.json["message"].is_string(),
                    "{}: {}",
                    what(),
                    reply.text
                );
                assert!(reply.json["type"].is_string(), "{}: {}", what(), reply.text);
            } else {
                n_ok += 1;
                assert_ne!(reply.json, Value::Null, "{}: {}", what(), reply.text);
            }
        }
        // Random ids in every path.
        let id = percent_encode(&random_string(&mut rng));
        for path in [
            format!("/v1/merchants/{id}/menu"),
            format!("/v1/checkout_sessions/{id}"),
            format!("/v1/orders/{id}"),
            format!("/v1/campaigns/{id}/stats"),
            format!("/v1/waiting_room/{id}"),
            format!("/v1/search?q={id}"),
        ] {
            let token = rng.pick(&tokens);
            let reply = server.send(server.http.get(server.url(&path)).bearer_auth(token)).await;
            n_requests += 1;
            assert!(reply.status < 500, "GET {path}: {} {}", reply.status, reply.text);
        }
    }
    eprintln!("{n_requests} fuzzed requests, {n_ok} accepted");
    assert!(n_ok > 0, "the fuzz never got past validation");
    assert_eq!(server.app.metrics.n_server_errors(), 0);
    server.get(&shopper, "/v1/wallet").await.ok(200);
}

/// `/mcp` sits behind the same outer layers as the API: its body limit answers 413 in the
/// usual shape (the MCP service reads its body itself, so axum's limit alone would not), its
/// headers are limited, and its answers carry a request id.
#[tokio::test]
async fn the_mcp_endpoint_has_the_api_s_body_and_header_limits() {
    let server = Server::start().await;
    let shopper = server.shopper(1);
    let huge =
        format!("{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"pad\":\"{}\"}}", "x".repeat(100_000));
    let reply = server
        .send(
            server
                .http
                .post(server.url("/mcp"))
                .bearer_auth(&shopper)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .body(huge),
        )
        .await;
    assert_refused(&reply, &[413], "POST /mcp with a huge body");
    assert_eq!(reply.code(), "body_too_large");
    assert!(reply.header("request-id").is_some(), "an /mcp answer has a request id: {:?}", reply.headers);
    let reply = server
        .send(
            server.http.post(server.url("/mcp")).bearer_auth(&shopper).header("x-pad", "y".repeat(40 * 1024)),
        )
        .await;
    assert_refused(&reply, &[431], "POST /mcp with huge headers");
    // Without a token it is still MCP's own 401, now with a request id too.
    let reply = server.send(server.http.post(server.url("/mcp")).body("{}")).await;
    assert_eq!(reply.status, 401, "{}", reply.text);
    assert!(reply.header("request-id").is_some());
}
