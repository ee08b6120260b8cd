//! Lantern's HTTP gateway: the only crate that knows HTTP.
//!
//! A request passes, in order: the body and header limits; its bearer token (`lantern-auth`:
//! shopper, merchant scoped to its shop, or operator); checks of its input that name the field
//! at fault; business checks that can answer at once without queueing (a paused or exhausted
//! campaign, a full shop with faster shops of the same menu); admission (`lantern-admission`:
//! token buckets per shopper and per IP, a priority class's share of an adaptive concurrency
//! limit, or a signed ticket for the waiting room); its `Idempotency-Key`, which rides into the
//! ledger's journal with the write itself (`Command::Keyed`), so a replay gets the first answer
//! even after a restart; then the sequencer, with a deadline. Answers to placing an order are
//! rendered as the placement answered them, so a replay gets the same body; other replays
//! (order events, cancels, settings) show the object as it is now.
//!
//! [`router`] builds the axum application; [`serve`] runs it until shutdown, then drains.
//! `/openapi.json` is generated from the handlers' annotations ([`ApiDoc`]).

// A refusal is built once per refused request and turned straight into the HTTP answer; its
// size on the error path costs nothing worth boxing for.
#![allow(clippy::result_large_err)]

mod acp;
mod app;
pub mod backups;
pub mod catalogs;
mod chat;
mod convert;
mod error;
mod live;
pub mod mcp;
mod metrics;
mod routes;
pub mod sharding;
mod shop;
mod starting;
mod web;
pub mod webhooks;

pub use shop::GatewayShop;
pub mod wire;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use lantern_admission::Class;
use utoipa::OpenApi;

pub use acp::{
    ACP_API_VERSION, ACP_LINK_TYPES, AcpConfig, AcpLink, RequestSigning, SIGNING_SECRET_BYTES_MIN,
    canonical_json, request_signature,
};
pub use app::{App, GatewayConfig, IDEMPOTENCY_KEY_HEADER, KeyedRequest, ReadIndex, TICKET_HEADER};
pub use error::ApiError;
pub use starting::{MCP_STARTING_ERROR_CODE, Starting};

/// Most bytes of request headers (names and values) the gateway reads; more is answered 431 in
/// the usual error shape. hyper's own limits (100 headers, ~400 KB) stay as the outer bound.
pub const HEADER_BYTES_MAX: usize = 32 * 1024;
/// Longest request id echoed back; longer ones are replaced.
const REQUEST_ID_BYTES_MAX: usize = 128;
/// How often admission control expires departed shoppers' tickets on its own.
const ADMISSION_TICK_MS: u64 = 100;
/// The read index forgets retired orders every this many admission ticks (a second).
const INDEX_PRUNE_EVERY_TICKS: u64 = 10;

#[derive(OpenApi)]
#[openapi(
    info(title = "Lantern gateway", version = "0.1.0", description = "Agentic shopping gateway: browse, coupons, checkout sessions (Agentic Commerce Protocol shapes), orders, merchant and operator controls. Amounts are integer fen. Every POST but /v1/chat and /v1/guest_token needs an Idempotency-Key (a chat order is placed only on the shopper's confirmation of a shown quote, once per quote). A 429 with `code: queued` carries a waiting-room ticket."),
    paths(
        routes::healthz, routes::readyz, routes::metrics,
        routes::list_merchants, routes::get_menu, routes::search, routes::list_campaigns,
        routes::claim, routes::wallet,
        routes::create_checkout, routes::update_checkout, routes::get_checkout, routes::complete_checkout, routes::cancel_checkout,
        routes::coupon_order, routes::list_orders, routes::get_order, routes::cancel_order,
        routes::upload_catalog, routes::publish_catalog, routes::set_status, routes::set_capacity, routes::merchant_orders, routes::advance_order,
        routes::register_merchant, routes::create_campaign, routes::edit_campaign, routes::pause_campaign, routes::resume_campaign,
        routes::campaign_stats, routes::gateway_stats, routes::poll_ticket, chat::chat,
        live::ops_live, live::merchant_live, live::shopper_live, live::guest_token,
        backups::start_backup, backups::backup_status,
    ),
    modifiers(&BearerAuth, &BodyLimitAnswers),
    tags((name = "shopper"), (name = "merchant"), (name = "operator"), (name = "system"))
)]
#[derive(Debug)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Every POST can be answered 413 `body_too_large` (the body limit applies before any handler),
/// so each one documents it, in the same error shape as its other refusals.
struct BodyLimitAnswers;

impl utoipa::Modify for BodyLimitAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        for item in openapi.paths.paths.values_mut() {
            let Some(operation) = item.post.as_mut() else { continue };
            operation.responses.responses.entry("413".to_string()).or_insert_with(|| {
                ResponseBuilder::new()
                    .description("The body is over the gateway's limit; send less.")
                    .content(
                        "application/json",
                        ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build(),
                    )
                    .build()
                    .into()
            });
        }
    }
}

/// The OpenAPI 3.1 document, as served at `/openapi.json`.
pub fn openapi_json() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_else(|error| format!("{{\"error\":\"{error}\"}}"))
}

/// The whole application: the API and `/mcp`, behind the same limits, request ids, logs and
/// sharding as every other request.
pub fn router(app: Arc<App>) -> Router {
    let routes = api_routes(Arc::clone(&app)).merge(mcp::http_router(&app));
    with_layers(routes, app)
}

/// The API (everything but `/mcp`, whose tools call it in-process).
pub(crate) fn api_router(app: Arc<App>) -> Router {
    with_layers(api_routes(Arc::clone(&app)), app)
}

fn api_routes(app: Arc<App>) -> Router {
    let document = Arc::new(openapi_json());
    Router::new()
        .route("/healthz", get(routes::healthz))
        .route("/readyz", get(routes::readyz))
        .route("/metrics", get(routes::metrics))
        .route(
            "/openapi.json",
            get(move || {
                let document = Arc::clone(&document);
                async move {
                    ([(axum::http::header::CONTENT_TYPE, "application/json")], document.as_str().to_owned())
                }
            }),
        )
        .route("/v1/merchants", get(routes::list_merchants).post(routes::register_merchant))
        .route("/v1/merchants/{merchant_id}/menu", get(routes::get_menu))
        .route("/v1/search", get(routes::search))
        .route("/v1/campaigns", get(routes::list_campaigns).post(routes::create_campaign))
        .route("/v1/campaigns/{campaign_id}/claim", post(routes::claim))
        .route("/v1/campaigns/{campaign_id}/edit", post(routes::edit_campaign))
        .route("/v1/campaigns/{campaign_id}/pause", post(routes::pause_campaign))
        .route("/v1/campaigns/{campaign_id}/resume", post(routes::resume_campaign))
        .route("/v1/campaigns/{campaign_id}/stats", get(routes::campaign_stats))
        .route("/v1/wallet", get(routes::wallet))
        .route("/v1/chat", post(chat::chat))
        .route("/v1/checkout_sessions", post(routes::create_checkout))
        .route(
            "/v1/checkout_sessions/{checkout_session_id}",
            get(routes::get_checkout).post(routes::update_checkout),
        )
        .route("/v1/checkout_sessions/{checkout_session_id}/complete", post(routes::complete_checkout))
        .route("/v1/checkout_sessions/{checkout_session_id}/cancel", post(routes::cancel_checkout))
        // The Agentic Commerce Protocol's checkout (API-Version 2026-04-17).
        .merge(acp::routes())
        .route("/v1/coupon_orders", post(routes::coupon_order))
        .route("/v1/orders", get(routes::list_orders))
        .route("/v1/orders/{order_id}", get(routes::get_order))
        .route("/v1/orders/{order_id}/cancel", post(routes::cancel_order))
        .route("/v1/merchant/catalog", post(routes::upload_catalog))
        .route("/v1/catalogs/{catalog_id}", post(routes::publish_catalog))
        .route("/v1/merchant/status", post(routes::set_status))
        .route("/v1/merchant/capacity", post(routes::set_capacity))
        .route("/v1/merchant/orders", get(routes::merchant_orders))
        .route("/v1/merchant/orders/{order_id}/{event}", post(routes::advance_order))
        .route("/v1/stats", get(routes::gateway_stats))
        .route("/v1/waiting_room/{ticket}", get(routes::poll_ticket))
        // Live views and the web pages.
        .route("/v1/ops/live", get(live::ops_live))
        .route("/v1/ops/backups", get(backups::backup_status).post(backups::start_backup))
        .route("/v1/merchant/live", get(live::merchant_live))
        .route("/v1/orders/live", get(live::shopper_live))
        .route("/v1/guest_token", post(live::guest_token))
        .route("/", get(web::chat_page))
        .route("/ops", get(web::ops_page))
        .route("/merchant", get(web::merchant_page))
        .route("/assets/{*path}", get(web::asset))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(app)
}

fn with_layers(routes: Router, app: Arc<App>) -> Router {
    routes
        // A shopper's request on another node's shard goes there (307), before any work here.
        .layer(axum::middleware::from_fn_with_state(Arc::clone(&app), sharding::redirect_to_owner))
        .layer(axum::middleware::from_fn_with_state(Arc::clone(&app), observe))
        .layer(axum::middleware::from_fn(limit_headers))
        // A bug in a handler answers 500 in the usual shape instead of dropping the connection.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panic_answer))
        .layer(DefaultBodyLimit::max(app.config.body_bytes_max))
}

fn panic_answer(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a handler panicked; answered 500");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "the gateway hit a bug; nothing was recorded for this request unless its key replays it",
    )
    .into_response()
}

async fn not_found() -> Response {
    ApiError::not_found("no such endpoint; see /openapi.json").into_response()
}

async fn method_not_allowed() -> Response {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method; see /openapi.json",
    )
    .into_response()
}

/// The admission class a route belongs to (for metrics; handlers admit with their own).
fn class_of(method: &Method, route: &str) -> Option<Class> {
    let class = match (method.as_str(), route) {
        (_, "/healthz" | "/readyz" | "/metrics" | "/openapi.json") => return None,
        (_, "/" | "/ops" | "/merchant" | "/assets/{*path}") => return None,
        // An MCP message is counted by the API calls its tool makes, each in its own class.
        (_, route) if route.starts_with("/mcp") => return None,
        ("POST", "/v1/checkout_sessions/{checkout_session_id}/complete") => Class::CompleteCheckout,
        ("POST", "/checkout_sessions/{checkout_session_id}/complete") => Class::CompleteCheckout,
        ("POST", "/v1/campaigns/{campaign_id}/claim") => Class::Claim,
        ("POST", "/v1/chat") => Class::Chat,
        ("POST", _) => Class::Checkout,
        _ => Class::Browse,
    };
    Some(class)
}

/// Request id, structured log line, metrics, and JSON bodies for the framework's own
/// refusals (an oversized body answers 413 in the same shape as every other error).
async fn observe(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().map(|path| path.as_str().to_owned());
    let request_id = request
        .headers()
        .get("request-id")
        .and_then(|value| value.to_str().ok())
        .filter(|value| !value.is_empty() && value.len() <= REQUEST_ID_BYTES_MAX)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("req_{}", app.next_request_id()));
    let mut response = next.run(request).await;
    let status = response.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE && !is_json(&response) {
        response = ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body is over {} bytes; send less", app.config.body_bytes_max),
        )
        .into_response();
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("request-id", value);
    }
    let latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    match route.as_deref().and_then(|route| class_of(&method, route)) {
        Some(class) => app.metrics.record(class, status.as_u16(), latency_us),
        None => {
            app.metrics.n_other_requests.fetch_add(1, Ordering::Relaxed);
        }
    }
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        tracing::warn!(request_id, method = %method, route = route.as_deref().unwrap_or("-"), status = status.as_u16(), latency_us, "request failed");
    } else if status.is_server_error() {
        // An overloaded gateway answers thousands of these a second: they are counted in the
        // metrics, and logged at most once a second with the count since the last line.
        if let Some(n_since_last) = app.metrics.unavailable_log.sample(app.started.elapsed().as_secs()) {
            tracing::warn!(
                request_id,
                route = route.as_deref().unwrap_or("-"),
                status = status.as_u16(),
                n_since_last,
                "requests refused as unavailable"
            );
        }
    } else {
        tracing::debug!(request_id, method = %method, route = route.as_deref().unwrap_or("-"), status = status.as_u16(), latency_us, "request");
    }
    response
}

/// Refuses requests whose headers are over [`HEADER_BYTES_MAX`] before anything reads them.
async fn limit_headers(request: Request, next: Next) -> Response {
    let header_bytes: usize =
        request.headers().iter().map(|(name, value)| name.as_str().len() + value.len()).sum();
    if header_bytes > HEADER_BYTES_MAX {
        return ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!("the request's headers are {header_bytes} bytes, over {HEADER_BYTES_MAX}; send fewer or shorter headers"),
        )
        .into_response();
    }
    next.run(request).await
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"))
}

/// Expires departed shoppers' tickets and wakes the long polls of promoted ones even when no
/// request comes to do it.
pub(crate) fn spawn_admission_ticker(app: &Arc<App>) -> tokio::task::JoinHandle<()> {
    let app = Arc::clone(app);
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(std::time::Duration::from_millis(ADMISSION_TICK_MS));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut n_ticks = 0_u64;
        loop {
            interval.tick().await;
            app.admission_tick();
            n_ticks += 1;
            if n_ticks.is_multiple_of(INDEX_PRUNE_EVERY_TICKS) {
                app.prune_index();
            }
        }
    })
}

/// Serves until `shutdown` resolves, then stops taking connections and waits for requests in
/// flight. The caller stops the sequencer afterwards, which commits what is queued.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let starting = Starting::new();
    starting.open(app);
    serve_from_start(listener, starting, shutdown).await
}

/// [`serve`] for a gateway that is still starting: the port answers at once, with what
/// [`Starting`] says, and hands every request to the gateway from [`Starting::open`] on.
/// `shutdown` may resolve before that (a failed start, Ctrl-C while replaying).
pub async fn serve_from_start(
    listener: tokio::net::TcpListener,
    starting: Arc<Starting>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The gateway's background work runs from its opening to the end of the serving.
    let opened = Arc::clone(&starting);
    let background = tokio::spawn(async move {
        let app = opened.opened().await;
        (spawn_admission_ticker(&app), webhooks::Webhooks::start(&app), app)
    });
    let draining = Arc::clone(&starting);
    let shutdown = async move {
        shutdown.await;
        if let Some(app) = draining.app() {
            app.ready.store(false, Ordering::Relaxed);
        }
        tracing::info!("shutdown requested; draining requests in flight");
    };
    let service = starting::dispatch(starting).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, service).with_graceful_shutdown(shutdown).await;
    background.abort();
    if let Ok((ticker, webhooks, app)) = background.await {
        ticker.abort();
        if let Some(webhooks) = webhooks {
            webhooks.abort();
            webhooks::journal_final_mark(&app).await;
        }
    }
    served
}
