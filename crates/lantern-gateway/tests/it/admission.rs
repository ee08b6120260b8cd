//! Admission control over HTTP: with a concurrency limit of one and the journal held shut, a
//! request stays in flight as long as the test wants, so the next ones meet a full gateway
//! deterministically: a signed ticket with position and ETA, polled (at once, long poll, SSE)
//! until admitted, then redeemed with `Lantern-Ticket`. Also full waiting rooms, rate limits, and
//! refusals that must not wait in line.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lantern_auth::{SignedTicket, Signer};
use lantern_core::{ShopperId, Timestamp};
use lantern_gateway::GatewayConfig;
use lantern_sequencer::{Clock, SystemClock};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::support::*;

/// One request at a time; `waiting_room` tickets per class.
fn one_at_a_time(waiting_room: [u32; 5]) -> GatewayConfig {
    let mut config = test_config();
    config.admission.limiter.initial_limit = 1;
    config.admission.limiter.min_limit = 1;
    config.admission.limiter.max_limit = 1;
    config.admission.waiting_room_capacity = waiting_room;
    config
}

/// Sends a claim in the background (it will wait on the closed journal) and waits until it
/// holds the only slot.
pub(crate) async fn occupy(server: &Server, shopper: u64) -> JoinHandle<Reply> {
    let request = server
        .http
        .post(server.url("/v1/campaigns/cmp_1/claim"))
        .bearer_auth(server.shopper(shopper))
        .header("idempotency-key", server.key())
        .json(&json!({}));
    let task = tokio::spawn(async move { read(request.send().await.unwrap()).await });
    let app = Arc::clone(&server.app);
    eventually("a request in flight", || app.admission.lock().stats().in_flight == 1).await;
    task
}

fn claim_with_ticket(server: &Server, shopper: u64, ticket: &str) -> reqwest::RequestBuilder {
    server
        .http
        .post(server.url("/v1/campaigns/cmp_1/claim"))
        .bearer_auth(server.shopper(shopper))
        .header("idempotency-key", server.key())
        .header("lantern-ticket", ticket)
        .json(&json!({}))
}

#[track_caller]
fn assert_queued(reply: &Reply, position: u64) -> String {
    let body = reply.refused(429, "queued");
    assert_eq!(body["type"], "invalid_request");
    assert_eq!(body["position"], position, "{}", reply.text);
    assert!(body["eta_ms"].as_u64().is_some_and(|eta| eta >= 1), "{}", reply.text);
    assert!(reply.retry_after_s() >= 1);
    let ticket = body["ticket"].as_str().unwrap().to_owned();
    assert!(ticket.starts_with("lw1."), "{ticket}");
    assert_eq!(body["poll_url"], format!("/v1/waiting_room/{ticket}"));
    ticket
}

async fn poll(server: &Server, ticket: &str, query: &str) -> Reply {
    server.send(server.http.get(server.url(&format!("/v1/waiting_room/{ticket}{query}")))).await
}

#[tokio::test]
async fn a_queued_request_waits_its_turn_and_is_admitted_with_its_ticket() {
    let server = Server::with_config(one_at_a_time([10, 10, 10, 10, 10])).await;
    server.gate.close();
    let alice = occupy(&server, 1).await;

    let bob = server.claim(&server.shopper(2), FESTIVAL).await;
    let bobs_ticket = assert_queued(&bob, 1);
    let carol = server.claim(&server.shopper(3), FESTIVAL).await;
    let carols_ticket = assert_queued(&carol, 2);

    // Where they stand, with no token needed: the ticket is the credential.
    let status = poll(&server, &bobs_ticket, "").await;
    assert_eq!(status.ok(200)["status"], "waiting");
    assert_eq!(status.json["position"], 1);
    assert_eq!(poll(&server, &carols_ticket, "").await.ok(200)["position"], 2);

    // A ticket is for its own shopper and kind of request.
    server.send(claim_with_ticket(&server, 3, &bobs_ticket)).await.refused(403, "forbidden");
    let checkout = server
        .http
        .post(server.url("/v1/checkout_sessions"))
        .bearer_auth(server.shopper(2))
        .header("idempotency-key", server.key())
        .header("lantern-ticket", &bobs_ticket)
        .json(&json!({"merchant_id": TEA_1, "line_items": [{"id": "itm_101", "quantity": 1}]}));
    server.send(checkout).await.refused(403, "forbidden");
    // Too early: still waiting, same ticket, same place.
    let early = server.send(claim_with_ticket(&server, 2, &bobs_ticket)).await;
    assert_eq!(assert_queued(&early, 1), bobs_ticket);

    // A long poll with nothing changing answers when its time is up.
    let started = Instant::now();
    let held = poll(&server, &bobs_ticket, "?wait_ms=400&position=1").await;
    assert_eq!(held.ok(200)["status"], "waiting");
    assert!(started.elapsed() >= Duration::from_millis(350), "{:?}", started.elapsed());
    // Without `position` it waits for a change from where the ticket stands, too.
    let started = Instant::now();
    let held = poll(&server, &bobs_ticket, "?wait_ms=400").await;
    assert_eq!(held.ok(200)["status"], "waiting");
    assert!(started.elapsed() >= Duration::from_millis(350), "{:?}", started.elapsed());

    // Bob waits on a long poll, Carol on a stream of server-sent events.
    let long_poll = {
        let request =
            server.http.get(server.url(&format!("/v1/waiting_room/{bobs_ticket}?wait_ms=4000&position=1")));
        tokio::spawn(async move {
            let started = Instant::now();
            (read(request.send().await.unwrap()).await, started.elapsed())
        })
    };
    let stream = {
        let request = server
            .http
            .get(server.url(&format!("/v1/waiting_room/{carols_ticket}")))
            .header("accept", "text/event-stream");
        tokio::spawn(async move {
            let mut response = request.send().await.unwrap();
            let content_type =
                response.headers().get("content-type").map(|value| value.to_str().unwrap().to_owned());
            let mut text = String::new();
            while let Ok(Some(chunk)) =
                tokio::time::timeout(Duration::from_secs(8), response.chunk()).await.unwrap()
            {
                text.push_str(&String::from_utf8_lossy(&chunk));
            }
            (content_type, text)
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Alice's request finishes: Bob is admitted, the long poll answers at once.
    server.gate.open();
    alice.await.unwrap().ok(201);
    let (admitted, waited) = long_poll.await.unwrap();
    assert_eq!(admitted.ok(200)["status"], "admitted", "{}", admitted.text);
    assert!(admitted.json["admitted_until"].as_str().is_some());
    assert!(waited < Duration::from_millis(3_500), "{waited:?}");
    assert_eq!(poll(&server, &carols_ticket, "").await.ok(200)["position"], 1, "carol moved up");

    // Bob comes back with his ticket and is served; then Carol's turn comes.
    let served = server.send(claim_with_ticket(&server, 2, &bobs_ticket)).await;
    served.ok(201);
    let (content_type, events) = stream.await.unwrap();
    assert_eq!(content_type.as_deref(), Some("text/event-stream"));
    let data: Vec<Value> = events
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(|data| serde_json::from_str(data.trim()).unwrap())
        .collect();
    assert!(events.contains("event: ticket"), "{events}");
    assert_eq!(data.first().map(|event| &event["status"]), Some(&json!("waiting")), "{events}");
    assert_eq!(data.first().map(|event| &event["position"]), Some(&json!(2)), "{events}");
    assert_eq!(
        data.last().map(|event| &event["status"]),
        Some(&json!("admitted")),
        "the stream ends when admitted: {events}"
    );
    server.send(claim_with_ticket(&server, 3, &carols_ticket)).await.ok(201);

    // Redeemed tickets are gone; the gateway is free again.
    assert_eq!(poll(&server, &bobs_ticket, "").await.ok(200)["status"], "gone");
    server.claim(&server.shopper(4), FESTIVAL).await.ok(201);
    let stats = server.get(&server.operator(), "/v1/stats").await;
    let claims = &stats.ok(200)["classes"][2];
    assert_eq!((claims["queued"].as_u64(), claims["waiting"].as_u64()), (Some(2), Some(0)), "{claims}");
}

/// Holders who walk away after their turn came do not stop the gateway, however many: past the
/// grace their reservations stop counting. Those who come back late take slots over the limit
/// up to twice it; beyond that they are handed their own ticket back, first in line.
#[tokio::test]
async fn late_holders_never_block_the_gateway_and_stop_at_twice_the_limit() {
    const GRACE_MS: u64 = 100;
    let mut config = one_at_a_time([10, 10, 10, 10, 10]);
    config.admission.reservation_grace_ms = GRACE_MS;
    config.admission.admitted_ttl_ms = 30_000;
    let server = Server::with_config(config).await;
    server.gate.close();
    let alice = occupy(&server, 1).await;
    let mut tickets = Vec::new();
    for shopper in 2..=4 {
        let reply = server.claim(&server.shopper(shopper), FESTIVAL).await;
        tickets.push(assert_queued(&reply, shopper - 1));
    }
    server.gate.open();
    alice.await.unwrap().ok(201);
    // Nobody comes back: each grace that ends promotes the next ticket (a poll settles the room;
    // the tickets are fresh, so their holders are not yet taken for away).
    for ticket in &tickets {
        let mut polls = 0;
        while poll(&server, ticket, "").await.ok(200)["status"] != "admitted" {
            polls += 1;
            assert!(polls < 500, "{ticket} never promoted");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(2 * GRACE_MS)).await;
    poll(&server, &tickets[0], "").await.ok(200);
    let stats = server.app.admission.lock().stats();
    assert_eq!((stats.in_flight, stats.reserved, stats.stale_reserved), (0, 3, 3));

    // Three reservations and a limit of one, yet a newcomer is admitted at once.
    server.gate.close();
    let erin = occupy(&server, 5).await;
    // The first holder back takes a second slot; the next finds two in flight.
    let bob = {
        let request = claim_with_ticket(&server, 2, &tickets[0]);
        tokio::spawn(async move { read(request.send().await.unwrap()).await })
    };
    let app = Arc::clone(&server.app);
    eventually("two in flight", || app.admission.lock().stats().in_flight == 2).await;
    let carol = server.send(claim_with_ticket(&server, 3, &tickets[1])).await;
    assert_eq!(assert_queued(&carol, 1), tickets[1], "her own ticket, first in line");
    server.gate.open();
    erin.await.unwrap().ok(201);
    bob.await.unwrap().ok(201);
    server.send(claim_with_ticket(&server, 3, &tickets[1])).await.ok(201);
    server.send(claim_with_ticket(&server, 4, &tickets[2])).await.ok(201);
    let stats = server.app.admission.lock().stats();
    assert_eq!((stats.in_flight, stats.reserved, stats.stale_reserved), (0, 0, 0));
}

/// A ticket promoted while nobody follows it (no long poll, no request held for it), issued a
/// while ago, is its holder's away: its slot is not kept from others for the grace, and the
/// ticket still gets its holder in when they come back.
#[tokio::test]
async fn a_promoted_ticket_nobody_follows_does_not_keep_the_slot() {
    let mut config = one_at_a_time([10, 10, 10, 10, 10]);
    config.admission.reservation_grace_ms = 30_000;
    config.admission.admitted_ttl_ms = 60_000;
    let server = Server::with_config(config).await;
    server.gate.close();
    let alice = occupy(&server, 1).await;
    let bob = server.claim(&server.shopper(2), FESTIVAL).await;
    let ticket = assert_queued(&bob, 1);
    // Past the freshness window: Bob has had time to follow his ticket, and did not.
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.gate.open();
    alice.await.unwrap().ok(201);
    assert_eq!(poll(&server, &ticket, "").await.ok(200)["status"], "admitted");
    let stats = server.app.admission.lock().stats();
    assert_eq!((stats.reserved, stats.stale_reserved), (1, 1), "promoted, away, well within the grace");
    server.claim(&server.shopper(3), FESTIVAL).await.ok(201);
    server.send(claim_with_ticket(&server, 2, &ticket)).await.ok(201);
    let stats = server.app.admission.lock().stats();
    assert_eq!((stats.in_flight, stats.reserved, stats.stale_reserved), (0, 0, 0));
}

#[tokio::test]
async fn a_full_waiting_room_answers_429_with_a_reason_and_retry_after() {
    let mut config = one_at_a_time([10, 10, 1, 10, 10]);
    config.sse_lifetime_ms = 1_000;
    config.sse_keepalive_ms = 100;
    let server = Server::with_config(config).await;
    server.gate.close();
    let alice = occupy(&server, 1).await;
    let bob = server.claim(&server.shopper(2), FESTIVAL).await;
    let ticket = assert_queued(&bob, 1);
    // A stream of a ticket that keeps waiting sends keep-alive comments and ends after its
    // lifetime (the client reconnects).
    let started = Instant::now();
    let mut stream = server
        .http
        .get(server.url(&format!("/v1/waiting_room/{ticket}")))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    let mut events = String::new();
    while let Some(chunk) =
        tokio::time::timeout(Duration::from_secs(5), stream.chunk()).await.unwrap().unwrap()
    {
        events.push_str(&String::from_utf8_lossy(&chunk));
    }
    let lasted = started.elapsed();
    assert!((Duration::from_millis(900)..Duration::from_secs(4)).contains(&lasted), "{lasted:?}");
    assert!(events.lines().any(|line| line.starts_with(':')), "no keep-alive comment: {events:?}");
    assert!(events.contains("\"status\":\"waiting\""), "{events}");
    assert!(!events.contains("admitted"), "{events}");
    let carol = server.claim(&server.shopper(3), FESTIVAL).await;
    let body = carol.refused(429, "waiting_room_full");
    assert_eq!(body["type"], "invalid_request");
    assert!(carol.retry_after_s() >= 1);
    assert!(body["retry_after_ms"].as_u64().is_some_and(|ms| ms >= 1000), "{}", carol.text);
    // Browsing has its own room, and waits there rather than being shed.
    let browse = server.get(&server.shopper(3), "/v1/wallet").await;
    assert_queued(&browse, 2);
    server.gate.open();
    alice.await.unwrap().ok(201);
}

#[tokio::test]
async fn a_slow_ledger_answers_503_and_the_key_gets_the_answer_later() {
    let mut config = test_config();
    config.request_deadline_ms = 1_000;
    config.keys_in_flight_max = 1;
    let server = Server::with_config(config).await;
    let shopper = server.shopper(1);
    server.gate.close();
    let key = server.key();
    let slow = {
        let request = server
            .http
            .post(server.url("/v1/campaigns/cmp_1/claim"))
            .bearer_auth(&shopper)
            .header("idempotency-key", &key)
            .json(&json!({}));
        tokio::spawn(async move { read(request.send().await.unwrap()).await })
    };
    let app = Arc::clone(&server.app);
    eventually("a request in flight", || app.admission.lock().stats().in_flight == 1).await;
    // Every key slot is taken: refused at once.
    let crowded = server.claim(&server.shopper(2), FESTIVAL).await;
    crowded.refused(503, "overloaded");
    assert!(crowded.retry_after_s() >= 1);
    // The deadline passes: 503 with a retry time, never a hang.
    let slow = slow.await.unwrap();
    slow.refused(503, "deadline_exceeded");
    assert_eq!(slow.json["type"], "service_unavailable");
    assert!(slow.retry_after_s() >= 1);
    // The claim was queued all along: once the journal moves, a retry with the key gets it.
    server.gate.open();
    let app = Arc::clone(&server.app);
    eventually("the claim to commit", || {
        app.sequencer.read(|ledger| !ledger.wallet(lantern_core::ShopperId::new(1)).is_empty())
    })
    .await;
    let retry = server.post_keyed(&shopper, "/v1/campaigns/cmp_1/claim", &key, &json!({})).await;
    assert_eq!((retry.status, retry.replayed()), (201, true), "{}", retry.text);
    assert_eq!(retry.json["newly_claimed"], true);
    assert_eq!(server.wallet(&shopper).await.len(), 1);
}

#[tokio::test]
async fn business_refusals_answer_at_once_instead_of_queueing() {
    let server = Server::with_config(one_at_a_time([10, 10, 10, 10, 10])).await;
    let operator = server.operator();
    server.post(&operator, "/v1/campaigns/cmp_2/pause", &json!({})).await.ok(200);
    let now = SystemClock.now();
    let spec = json!({"name": "one coupon", "budget": 500, "template": "amount_off", "amount": 500, "per_shopper_limit": 1,
        "starts_at": Timestamp::from_ms(now.unix_ms() - 60_000).to_string(), "ends_at": now.plus_ms(DAY_MS).to_string()});
    let single = server.post(&operator, "/v1/campaigns", &spec).await;
    let single = single.ok(201)["id"].as_str().unwrap().to_owned();
    server.claim(&server.shopper(9), &single).await.ok(201);
    server.post(&server.merchant(1), "/v1/merchant/status", &json!({"status": "paused"})).await.ok(200);

    server.gate.close();
    let alice = occupy(&server, 1).await;
    let bob = server.shopper(2);
    let started = Instant::now();
    server.claim(&bob, COFFEE_DEAL).await.refused(409, "campaign_paused");
    server.claim(&bob, &single).await.refused(409, "budget_exhausted");
    server.claim(&bob, "cmp_99").await.refused(404, "not_found");
    let closed_shop = json!({"merchant_id": TEA_1, "line_items": [{"id": "itm_101", "quantity": 1}]});
    server.post(&bob, "/v1/checkout_sessions", &closed_shop).await.refused(409, "merchant_paused");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    // Whereas a claim that could succeed takes its place in line.
    assert_queued(&server.claim(&bob, FESTIVAL).await, 1);
    server.gate.open();
    alice.await.unwrap().ok(201);
}

#[tokio::test]
async fn shoppers_and_addresses_that_send_too_fast_are_slowed_down() {
    let mut config = test_config();
    config.admission.shopper_bucket.burst = 3;
    config.admission.shopper_bucket.per_second = 1;
    let server = Server::with_config(config).await;
    let hasty = server.shopper(1);
    for _ in 0..3 {
        server.get(&hasty, "/v1/wallet").await.ok(200);
    }
    let limited = server.get(&hasty, "/v1/wallet").await;
    limited.refused(429, "shopper_rate_limited");
    assert!(limited.retry_after_s() >= 1);
    server.claim(&hasty, FESTIVAL).await.refused(429, "shopper_rate_limited");
    server.get(&server.shopper(2), "/v1/wallet").await.ok(200);

    let mut config = test_config();
    config.admission.ip_bucket.burst = 4;
    config.admission.ip_bucket.per_second = 1;
    let server = Server::with_config(config).await;
    for shopper in 1..=4 {
        server.get(&server.shopper(shopper), "/v1/campaigns").await.ok(200);
    }
    let limited = server.get(&server.shopper(5), "/v1/campaigns").await;
    limited.refused(429, "ip_rate_limited");
    assert!(limited.retry_after_s() >= 1);
    server.get(&server.operator(), "/v1/merchants").await.refused(429, "ip_rate_limited");
}

#[tokio::test]
async fn bad_tickets_are_refused_with_a_reason() {
    let server = Server::start().await;
    let now = SystemClock.now();
    let forged = Signer::new(&[9; 32]).unwrap().issue_ticket(&SignedTicket {
        shopper: Some(ShopperId::new(1)),
        class: 2,
        seq: 1,
        issued_at: now,
        expires_at: now.plus_ms(60_000),
    });
    let expired = server.signer.issue_ticket(&SignedTicket {
        shopper: Some(ShopperId::new(1)),
        class: 2,
        seq: 1,
        issued_at: Timestamp::from_ms(now.unix_ms() - 120_000),
        expires_at: Timestamp::from_ms(now.unix_ms() - 60_000),
    });
    let cases = [
        ("garbage", "token_malformed"),
        (forged.as_str(), "token_bad_signature"),
        (expired.as_str(), "token_expired"),
        (&server.shopper(1), "token_wrong_kind"),
    ];
    for (ticket, code) in cases {
        let reply = poll(&server, ticket, "").await;
        let body = reply.refused(400, code);
        assert_eq!(body["param"], "$path.ticket");
        let reply = server.send(claim_with_ticket(&server, 1, ticket)).await;
        let body = reply.refused(400, "invalid");
        assert_eq!(body["param"], "$header.Lantern-Ticket", "{ticket}");
    }
    // A well-signed ticket the waiting room never issued is gone; presenting it queues afresh
    // (here: admitted at once).
    let unknown = server.some_ticket();
    assert_eq!(poll(&server, &unknown, "").await.ok(200)["status"], "gone");
    let stream = server
        .send(
            server
                .http
                .get(server.url(&format!("/v1/waiting_room/{unknown}")))
                .header("accept", "text/event-stream"),
        )
        .await;
    assert_eq!(stream.status, 200);
    assert!(stream.text.contains("\"status\":\"gone\""), "{}", stream.text);
    server.send(claim_with_ticket(&server, 1, &unknown)).await.ok(201);
    for query in ["?wait_ms=soon", "?position=-1", "?bogus=1"] {
        let reply = poll(&server, &unknown, query).await;
        reply.refused(400, "invalid");
    }
}

/// One slot, the journal held shut, and requests whose turn is due within 10 s held in line.
async fn holding_in_line() -> Server {
    let mut config = one_at_a_time([10, 10, 10, 10, 10]);
    config.line_wait_ms = 10_000;
    let server = Server::with_config(config).await;
    server.gate.close();
    server
}

/// Sends a claim in the background and waits until it is held in line (the only claim there).
async fn held_in_line(server: &Server, shopper: u64) -> JoinHandle<Reply> {
    let request = server
        .http
        .post(server.url("/v1/campaigns/cmp_1/claim"))
        .bearer_auth(server.shopper(shopper))
        .header("idempotency-key", server.key())
        .json(&json!({}));
    let task = tokio::spawn(async move { read(request.send().await.unwrap()).await });
    let app = Arc::clone(&server.app);
    eventually("a claim in line", || app.admission.lock().stats().per_class[2].waiting == 1).await;
    task
}

#[tokio::test]
async fn a_request_whose_turn_is_near_waits_for_it_in_the_gateway() {
    let server = holding_in_line().await;
    let alice = occupy(&server, 1).await;
    // Bob's claim is queued behind Alice's; it waits in the gateway rather than getting a ticket.
    let bob = held_in_line(&server, 2).await;
    assert!(!bob.is_finished(), "bob is held, not answered");
    server.gate.open();
    alice.await.unwrap().ok(201);
    bob.await.unwrap().ok(201);
    let stats = server.app.admission.lock().stats();
    assert_eq!((stats.per_class[2].queued, stats.per_class[2].redeemed), (1, 1));
}

/// A request held in line is its ticket's only holder: when its client hangs up, the place is
/// given up at once (else it would wait out its idle expiry, and once promoted hold a slot
/// for nobody).
#[tokio::test]
async fn a_request_held_in_line_whose_client_hangs_up_gives_up_its_place() {
    let server = holding_in_line().await;
    let alice = occupy(&server, 1).await;
    let bob = held_in_line(&server, 2).await;
    let app = Arc::clone(&server.app);
    bob.abort();
    eventually("bob's place given up", || {
        let stats = app.admission.lock().stats();
        (stats.per_class[2].waiting, stats.per_class[2].expired) == (0, 1)
    })
    .await;
    server.gate.open();
    alice.await.unwrap().ok(201);
    let stats = server.app.admission.lock().stats();
    assert_eq!((stats.reserved, stats.per_class[2].promoted), (0, 0), "no slot promoted for nobody");
}

/// One pearl milk tea with the festival coupon, as `shopper`, under a fresh key.
fn coupon_order(server: &Server, shopper: u64) -> reqwest::RequestBuilder {
    let line = json!({"id": "itm_101", "quantity": 1, "options": []});
    server
        .http
        .post(server.url("/v1/coupon_orders"))
        .bearer_auth(server.shopper(shopper))
        .header("idempotency-key", server.key())
        .json(&json!({"campaign_id": FESTIVAL, "merchant_id": TEA_1, "line_items": [line]}))
}

/// Sends a coupon order in the background and waits until its command is parked in line.
async fn coupon_order_in_line(server: &Server, shopper: u64) -> JoinHandle<Reply> {
    let request = coupon_order(server, shopper);
    let task = tokio::spawn(async move { read(request.send().await.unwrap()).await });
    let app = Arc::clone(&server.app);
    eventually("a coupon order in line", || app.n_parked() == 1).await;
    task
}

/// A coupon order held in line has its command submitted for it at its turn, by the request
/// that frees the slot: it is answered with its order, and says how long it waited.
#[tokio::test]
async fn a_coupon_order_held_in_line_is_placed_at_its_turn() {
    let server = holding_in_line().await;
    let alice = occupy(&server, 1).await;
    let bob = coupon_order_in_line(&server, 2).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!bob.is_finished(), "bob is held, not answered");
    assert_eq!(server.app.admission.lock().stats().per_class[1].waiting, 1);
    server.gate.open();
    alice.await.unwrap().ok(201);
    let bob = bob.await.unwrap();
    assert_eq!(bob.ok(201)["status"], "placed", "{}", bob.text);
    let waited_ms: u64 = bob.header("lantern-waited-ms").expect("Lantern-Waited-Ms").parse().unwrap();
    assert!(waited_ms >= 50, "waited {waited_ms} ms");
    let stats = server.app.admission.lock().stats();
    assert_eq!((stats.per_class[1].queued, stats.per_class[1].redeemed), (1, 1));
    assert_eq!((server.app.n_parked(), stats.reserved, stats.in_flight), (0, 0, 0));
}

/// A parked coupon order whose client hangs up gives its place up at once, and its command is
/// never run.
#[tokio::test]
async fn a_parked_coupon_order_whose_client_hangs_up_is_never_placed() {
    let server = holding_in_line().await;
    let alice = occupy(&server, 1).await;
    let bob = coupon_order_in_line(&server, 2).await;
    bob.abort();
    let app = Arc::clone(&server.app);
    eventually("bob's place given up", || {
        let stats = app.admission.lock().stats();
        (app.n_parked(), stats.per_class[1].waiting, stats.per_class[1].expired) == (0, 0, 1)
    })
    .await;
    server.gate.open();
    alice.await.unwrap().ok(201);
    let stats = server.app.admission.lock().stats();
    assert_eq!((stats.reserved, stats.per_class[1].promoted), (0, 0), "no slot promoted for nobody");
    let orders = server.get(&server.shopper(2), "/v1/orders").await;
    assert_eq!(orders.ok(200)["orders"].as_array().map(Vec::len), Some(0), "{}", orders.text);
}

/// A parked coupon order still in line when the line wait ends is answered with its ticket, and
/// keeps its place: coming back with the ticket at its turn places the order.
#[tokio::test]
async fn a_parked_coupon_order_past_the_line_wait_keeps_its_place_with_a_ticket() {
    let mut config = one_at_a_time([10, 10, 10, 10, 10]);
    config.line_wait_ms = 300;
    let server = Server::with_config(config).await;
    server.gate.close();
    let alice = occupy(&server, 1).await;
    let bob = coupon_order_in_line(&server, 2).await;
    let refused = bob.await.unwrap();
    refused.refused(429, "queued");
    let ticket = refused.json["ticket"].as_str().expect("a ticket").to_owned();
    assert_eq!(server.app.n_parked(), 0);
    assert_eq!(server.app.admission.lock().stats().per_class[1].waiting, 1, "bob keeps his place");
    server.gate.open();
    alice.await.unwrap().ok(201);
    let placed = server.send(coupon_order(&server, 2).header("lantern-ticket", ticket)).await;
    assert_eq!(placed.ok(201)["status"], "placed", "{}", placed.text);
    assert_eq!(server.app.admission.lock().stats().per_class[1].redeemed, 1);
}
