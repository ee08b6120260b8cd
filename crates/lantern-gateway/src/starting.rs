//! What the gateway answers while it starts. After a surge a restart replays tens of millions
//! of journal commands (half a minute and more), then rebuilds the read and search indexes.
//! The port is open from the first moment: a probe, a load balancer or a shopper's phone gets
//! an answer that says what is going on and when to come back, not a refused connection (which
//! a balancer reads as a dead node and a liveness probe as a hung one).
//!
//! While starting, `/healthz` answers 200 `starting` (alive), `/metrics` says `lantern_starting 1`
//! and the replay's percent (a scrape finds the node up), `/readyz` and the API answer 503
//! `starting` with `Retry-After` from the replay's own pace (in each protocol's own error
//! shape: ACP's `Error` on `/checkout_sessions`, a JSON-RPC error on `/mcp`, as the MCP
//! transport allows for an HTTP error), the web pages answer a page that
//! shows the progress and opens the real page when the gateway is ready, and `/assets/` is
//! served as usual. One server runs throughout ([`serve_from_start`]): each request goes to the
//! starting answers or, once [`Starting::open`] has handed over the gateway, to the gateway, so
//! connections opened while starting (a balancer's keep-alive pool) are served by the gateway
//! afterwards and no connection is refused or dropped at the hand-over.
//!
//! [`serve_from_start`]: crate::serve_from_start

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use parking_lot::Mutex;
use tokio::sync::Notify;
use tower::ServiceExt as _;

use crate::App;
use crate::error::ApiError;
use crate::wire::{HealthBody, StartBody};

/// The answer's `Retry-After` while nothing says how long is left (opening the journal,
/// rebuilding the indexes).
const STARTING_RETRY_AFTER_MS: u64 = 2_000;
/// The JSON-RPC error code of `/mcp`'s answer while starting: in the range JSON-RPC leaves to
/// the server ("server error", -32000 to -32099); `data.code` says `starting`.
pub const MCP_STARTING_ERROR_CODE: i64 = -32_000;
/// Bounds of the `Retry-After` estimated from the replay's pace: not sooner than a second (HTTP
/// says whole seconds), not later than half a minute (an early estimate is rough).
const STARTING_RETRY_AFTER_MIN_MS: u64 = 1_000;
const STARTING_RETRY_AFTER_MAX_MS: u64 = 30_000;

/// How far the start has come (the binary moves it on, the starting answers read it), and the
/// gateway once it is open.
pub struct Starting {
    phase: Mutex<StartPhase>,
    gateway: OnceLock<(Arc<App>, Router)>,
    opened: Notify,
    /// When the port began answering: a restart's cost is measured from here.
    created: Instant,
    /// (batches, commands, milliseconds) of the finished replay.
    replayed: Mutex<Option<(u64, u64, u64)>>,
}

impl std::fmt::Debug for Starting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Starting").field("phase", &*self.phase.lock()).finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StartPhase {
    Opening,
    Replaying { n_batches_done: u64, n_batches_total: u64, elapsed_ms: u64 },
    Indexing,
}

impl Starting {
    pub fn new() -> Arc<Starting> {
        Arc::new(Starting {
            phase: Mutex::new(StartPhase::Opening),
            gateway: OnceLock::new(),
            opened: Notify::new(),
            created: Instant::now(),
            replayed: Mutex::new(None),
        })
    }

    /// The journal is replayed: `n_batches` batches of `n_commands` commands in `elapsed_ms`.
    pub fn replayed(&self, n_batches: u64, n_commands: u64, elapsed_ms: u64) {
        *self.replayed.lock() = Some((n_batches, n_commands, elapsed_ms));
    }

    /// From now on every request goes to `app`'s gateway, on new connections and on those
    /// opened while starting. Called once; a second call is a bug.
    pub fn open(&self, app: Arc<App>) {
        let (replayed_batches, replayed_commands, replay_ms) = self.replayed.lock().unwrap_or((0, 0, 0));
        let ready_ms = u64::try_from(self.created.elapsed().as_millis()).unwrap_or(u64::MAX);
        let _ = app.start.set(StartBody { replayed_batches, replayed_commands, replay_ms, ready_ms });
        let router = crate::router(Arc::clone(&app));
        assert!(self.gateway.set((app, router)).is_ok(), "the gateway is opened once");
        self.opened.notify_one();
    }

    /// The gateway, once open.
    pub(crate) fn app(&self) -> Option<&Arc<App>> {
        self.gateway.get().map(|(app, _)| app)
    }

    /// Waits for [`Starting::open`].
    pub(crate) async fn opened(&self) -> Arc<App> {
        loop {
            if let Some(app) = self.app() {
                return Arc::clone(app);
            }
            self.opened.notified().await;
        }
    }

    /// The journal's replay has done `n_batches_done` of `n_batches_total` in `elapsed_ms`.
    pub fn replaying(&self, n_batches_done: u64, n_batches_total: u64, elapsed_ms: u64) {
        *self.phase.lock() = StartPhase::Replaying { n_batches_done, n_batches_total, elapsed_ms };
    }

    /// The ledger is rebuilt; the read and search indexes are being built from it.
    pub fn indexing(&self) {
        *self.phase.lock() = StartPhase::Indexing;
    }

    /// What to tell a caller now, and in how many milliseconds to come back.
    fn describe(&self) -> (String, u64) {
        let (doing, _, retry_after_ms) = self.progress();
        (doing, retry_after_ms)
    }

    /// What it is doing, the share of the journal replayed (while replaying), and in how many
    /// milliseconds to come back.
    fn progress(&self) -> (String, Option<u64>, u64) {
        match *self.phase.lock() {
            StartPhase::Opening => ("opening the journal".to_owned(), None, STARTING_RETRY_AFTER_MS),
            StartPhase::Replaying { n_batches_done, n_batches_total, elapsed_ms } => {
                let percent = (n_batches_done * 100).checked_div(n_batches_total).unwrap_or(0).min(100);
                let left_ms = match n_batches_done {
                    0 => STARTING_RETRY_AFTER_MS,
                    done => elapsed_ms.saturating_mul(n_batches_total.saturating_sub(done)) / done,
                };
                let retry_after_ms = left_ms.clamp(STARTING_RETRY_AFTER_MIN_MS, STARTING_RETRY_AFTER_MAX_MS);
                let text = format!(
                    "replaying the journal: {n_batches_done} of {n_batches_total} batches ({percent} %), about {} s left",
                    left_ms.div_ceil(1_000).max(1)
                );
                (text, Some(percent), retry_after_ms)
            }
            StartPhase::Indexing => {
                ("rebuilding the order and search indexes".to_owned(), Some(100), STARTING_RETRY_AFTER_MS)
            }
        }
    }

    fn refusal(&self) -> ApiError {
        let (doing, retry_after_ms) = self.describe();
        ApiError::unavailable(
            "starting",
            format!(
                "Lantern is starting ({doing}); nothing was done for this request: send it again after Retry-After"
            ),
            retry_after_ms,
        )
    }
}

/// Every request, to the gateway once it is open, else to the starting answers.
pub(crate) fn dispatch(starting: Arc<Starting>) -> Router {
    let answers = starting_router(Arc::clone(&starting));
    Router::new().fallback_service(tower::service_fn(move |request: Request| {
        let next = match starting.gateway.get() {
            Some((_, gateway)) => gateway.clone(),
            None => answers.clone(),
        };
        next.oneshot(request)
    }))
}

/// The starting answers.
fn starting_router(starting: Arc<Starting>) -> Router {
    Router::new()
        .route("/healthz", get(health))
        .route("/metrics", get(metrics))
        .route("/", get(page))
        .route("/ops", get(page))
        .route("/merchant", get(page))
        .route("/assets/{*path}", get(asset))
        .route("/mcp", any(refuse_mcp))
        .route("/mcp/{*rest}", any(refuse_mcp))
        .route("/checkout_sessions", any(refuse_acp))
        .route("/checkout_sessions/{*rest}", any(refuse_acp))
        .fallback(refuse)
        .with_state(starting)
}

/// Alive, and what the start is doing: `{"status": "starting", "detail": ..., "percent": ...}`.
async fn health(State(starting): State<Arc<Starting>>) -> Response {
    let (detail, percent, _) = starting.progress();
    axum::Json(HealthBody { status: "starting".into(), detail: Some(detail), percent }).into_response()
}

/// A scrape during the start finds the node up, and how far its replay has come.
async fn metrics(State(starting): State<Arc<Starting>>) -> Response {
    let (_, percent, _) = starting.progress();
    let mut text = String::new();
    crate::metrics::write_one(&mut text, "lantern_starting", crate::metrics::STARTING_HELP, "1");
    crate::metrics::write_one(
        &mut text,
        "lantern_start_replay_percent",
        "How much of the journal the start has replayed.",
        &percent.unwrap_or(0).to_string(),
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

async fn refuse(State(starting): State<Arc<Starting>>) -> Response {
    starting.refusal().into_response()
}

/// An agent's checkout call gets ACP's `Error` (type, code, message), `Retry-After` beside it.
async fn refuse_acp(State(starting): State<Arc<Starting>>) -> Response {
    crate::acp::AcpError(starting.refusal()).into_response()
}

/// An MCP client gets what the Streamable HTTP transport allows for a message the server cannot
/// take: an HTTP error status whose body is a JSON-RPC error without an id, so the client shows
/// the message, not a bare "HTTP 503".
async fn refuse_mcp(State(starting): State<Arc<Starting>>) -> Response {
    let refusal = starting.refusal();
    let retry_after_ms = refusal.retry_after_ms.unwrap_or(STARTING_RETRY_AFTER_MS);
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {
            "code": MCP_STARTING_ERROR_CODE,
            "message": refusal.message,
            "data": {"code": refusal.code, "retry_after_ms": retry_after_ms},
        },
    });
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    response.headers_mut().insert(header::RETRY_AFTER, crate::error::retry_after_header(retry_after_ms));
    response
}

/// A web page's path answers the starting page (503, never cached), which polls `/healthz` and
/// reloads into the real page once the gateway answers as itself.
async fn page(State(starting): State<Arc<Starting>>, headers: HeaderMap) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_none_or(|accept| accept.contains("text/html") || accept.contains("*/*"));
    if !wants_html {
        return starting.refusal().into_response();
    }
    let (_, retry_after_ms) = starting.describe();
    let mut response = crate::web::serve(lantern_web::page(lantern_web::Page::Starting), &HeaderMap::new());
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let answer = response.headers_mut();
    answer.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    answer.remove(header::ETAG);
    answer.insert(header::RETRY_AFTER, crate::error::retry_after_header(retry_after_ms));
    response
}

async fn asset(path: Path<String>, headers: HeaderMap) -> Response {
    crate::web::asset(path, headers).await.unwrap_or_else(IntoResponse::into_response)
}
