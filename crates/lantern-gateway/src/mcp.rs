//! MCP for AI assistants: `lantern-mcp`'s tools over this gateway's own API, in-process, and
//! the Streamable HTTP endpoint `/mcp` with bearer authentication.
//!
//! A tool's API call goes through the same router as a request from the network (limits,
//! token, admission and the waiting room, idempotency, metrics), only without a socket: over
//! `/mcp` it carries the MCP request's own `Authorization` header and peer address, so an
//! assistant is exactly the shopper its token names; over stdio (`lantern mcp`) a token minted
//! at start for the configured shopper.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use lantern_auth::{Claims, Role};
use lantern_core::ShopperId;
use lantern_mcp::{Api, ApiAnswer, ApiRequest, BoxFuture, LanternMcp};
use rmcp::model::Extensions;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tower::ServiceExt;

use crate::app::{App, IDEMPOTENCY_KEY_HEADER, TICKET_HEADER};
use crate::error::ApiError;

/// Largest API answer a tool reads (a menu is the largest).
const TOOL_ANSWER_BYTES_MAX: usize = 4 << 20;
/// MCP sessions over HTTP kept at once; past it a new session is refused (503) until one ends.
pub const MCP_SESSIONS_MAX: usize = 10_000;
/// An MCP session unused this long is closed.
pub const MCP_SESSION_IDLE_MS: u64 = 5 * 60 * 1000;

/// Headers of an API answer that a tool passes on to the model.
const ANSWER_HEADERS: [&str; 5] = [
    TICKET_HEADER,
    crate::acp::QUEUE_POSITION_HEADER,
    crate::acp::QUEUE_ETA_HEADER,
    "retry-after",
    "idempotent-replayed",
];

/// The gateway's API called in-process.
#[derive(Debug, Clone)]
pub struct InProcessApi {
    api: Router,
    /// `Bearer <token>` for every call (stdio); without it, each call's MCP request carries its own.
    authorization: Option<String>,
    /// Where the time and, when ACP requests must be signed, the secret come from: the MCP
    /// server is this gateway, so it signs its own calls (the MCP client proved who it is with
    /// its token; the signature is the agent platforms' over HTTP).
    app: Arc<App>,
}

impl InProcessApi {
    /// For `/mcp`: each call is made with the MCP request's own token.
    pub fn per_request(app: &Arc<App>) -> InProcessApi {
        InProcessApi { api: crate::api_router(Arc::clone(app)), authorization: None, app: Arc::clone(app) }
    }

    /// For stdio: every call is made as `shopper`, with a token valid for `ttl_ms`.
    pub fn as_shopper(app: &Arc<App>, shopper: ShopperId, ttl_ms: u64) -> InProcessApi {
        let now = app.now();
        let token = app.signer.issue_token(&Claims {
            role: Role::Shopper(shopper),
            issued_at: now,
            expires_at: now.plus_ms(ttl_ms),
        });
        InProcessApi {
            api: crate::api_router(Arc::clone(app)),
            authorization: Some(format!("Bearer {token}")),
            app: Arc::clone(app),
        }
    }

    async fn answer(&self, caller: &Extensions, request: ApiRequest) -> Result<ApiAnswer, String> {
        let parts = caller.get::<axum::http::request::Parts>();
        let authorization = match &self.authorization {
            Some(value) => HeaderValue::from_str(value).ok(),
            None => parts.and_then(|parts| parts.headers.get(header::AUTHORIZATION).cloned()),
        };
        let peer = parts
            .and_then(|parts| parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0))
            .unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0));
        let body = match &request.body {
            Some(value) => serde_json::to_vec(value).map_err(|error| error.to_string())?,
            None => Vec::new(),
        };
        let signed = self.app.config.acp.signing.as_ref().map(|signing| {
            let timestamp = self.app.now().to_string();
            let signature = crate::acp::request_signature(&signing.secret, &timestamp, &body);
            (timestamp, signature)
        });
        let (timestamp, signature) = signed.unzip();
        let mut http = Request::builder()
            .method(if request.post { Method::POST } else { Method::GET })
            .uri(&request.path)
            .header(header::CONTENT_TYPE, "application/json");
        let optional = [
            (
                header::AUTHORIZATION.as_str(),
                authorization.and_then(|value| value.to_str().ok().map(str::to_owned)),
            ),
            (IDEMPOTENCY_KEY_HEADER, request.idempotency_key),
            (crate::acp::API_VERSION_HEADER, request.api_version),
            (TICKET_HEADER, request.ticket),
            (crate::acp::TIMESTAMP_HEADER, timestamp),
            (crate::acp::SIGNATURE_HEADER, signature),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                http = http.header(name, value);
            }
        }
        let mut http = http.body(Body::from(body)).map_err(|error| format!("bad request: {error}"))?;
        http.extensions_mut().insert(ConnectInfo(peer));
        let response = match self.api.clone().oneshot(http).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let status = response.status().as_u16();
        let headers = ANSWER_HEADERS
            .iter()
            .filter_map(|name| {
                let value = response.headers().get(*name)?.to_str().ok()?;
                Some(((*name).to_owned(), value.to_owned()))
            })
            .collect();
        let bytes = axum::body::to_bytes(response.into_body(), TOOL_ANSWER_BYTES_MAX)
            .await
            .map_err(|error| format!("the answer could not be read: {error}"))?;
        let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        Ok(ApiAnswer { status, headers, body })
    }
}

impl Api for InProcessApi {
    fn call<'a>(&'a self, caller: &'a Extensions, request: ApiRequest) -> BoxFuture<'a, ApiAnswer> {
        Box::pin(async move {
            self.answer(caller, request).await.unwrap_or_else(|message| ApiAnswer {
                status: 500,
                headers: Vec::new(),
                body: serde_json::json!({"type": "processing_error", "code": "internal_error", "message": message}),
            })
        })
    }
}

/// Serves MCP over this process's stdin and stdout as `shopper` until the client closes stdin.
pub async fn serve_stdio(app: &Arc<App>, shopper: ShopperId, token_ttl_ms: u64) -> Result<(), String> {
    let api: Arc<dyn Api> = Arc::new(InProcessApi::as_shopper(app, shopper, token_ttl_ms));
    let ticker = crate::spawn_admission_ticker(app);
    let webhooks = crate::webhooks::Webhooks::start(app);
    let served = match rmcp::ServiceExt::serve(LanternMcp::new(api), rmcp::transport::io::stdio()).await {
        Ok(running) => running.waiting().await.map(|_| ()).map_err(|error| error.to_string()),
        Err(error) => Err(error.to_string()),
    };
    ticker.abort();
    if let Some(webhooks) = webhooks {
        webhooks.abort();
        crate::webhooks::journal_final_mark(app).await;
    }
    served
}

/// `/mcp`: MCP over Streamable HTTP, for shoppers' bearer tokens only.
pub fn http_router(app: &Arc<App>) -> Router {
    let api: Arc<dyn Api> = Arc::new(InProcessApi::per_request(app));
    let mut hosts = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
    if let Some(host) = host_of(&app.config.acp.public_url) {
        hosts.push(host);
    }
    let config = StreamableHttpServerConfig::default().with_allowed_hosts(hosts);
    let mut sessions = LocalSessionManager::default();
    sessions.session_config.keep_alive = Some(std::time::Duration::from_millis(MCP_SESSION_IDLE_MS));
    let sessions = Arc::new(sessions);
    let service = StreamableHttpService::new(
        move || Ok(LanternMcp::new(Arc::clone(&api))),
        Arc::clone(&sessions),
        config,
    );
    let body_bytes_max = app.config.body_bytes_max;
    let app = Arc::clone(app);
    Router::new()
        .nest_service("/mcp", service)
        .layer(axum::middleware::from_fn(move |request: Request, next: Next| {
            let (app, sessions) = (Arc::clone(&app), Arc::clone(&sessions));
            async move { authenticate(&app, &sessions, request, next).await }
        }))
        // The MCP service reads its body itself, past axum's `DefaultBodyLimit`: this limit is the
        // one the API's extractors honour, answered 413 in the usual shape by `observe`.
        .layer(tower_http::limit::RequestBodyLimitLayer::new(body_bytes_max))
}

/// The host of a URL like `https://shop.example.com:8443/base`.
fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    let host = authority.rsplit_once(':').map_or(authority, |(host, _)| host);
    (!host.is_empty()).then(|| host.to_owned())
}

/// Only a shopper's valid token reaches the MCP server; anything else is answered 401 with
/// `WWW-Authenticate`, as MCP's authorization asks.
/// A request that would open a new session is refused while [`MCP_SESSIONS_MAX`] are open.
async fn authenticate(app: &App, sessions: &LocalSessionManager, request: Request, next: Next) -> Response {
    let refused = match app.caller(request.headers()) {
        Ok(Claims { role: Role::Shopper(_), .. }) => {
            let opens_session =
                request.method() == Method::POST && !request.headers().contains_key("mcp-session-id");
            if opens_session && sessions.sessions.read().await.len() >= MCP_SESSIONS_MAX {
                let busy = ApiError::unavailable(
                    "mcp_sessions_full",
                    format!("{MCP_SESSIONS_MAX} MCP sessions are open; retry shortly"),
                    5_000,
                );
                return busy.into_response();
            }
            let terminating = request.method() == Method::DELETE;
            let mut response = next.run(request).await;
            // rmcp answers a session's termination 202. MCP names no success code for it, and
            // the official Python client takes only 200 and 204 as success (it logs a failed
            // termination on 202): answer 204, as most servers do.
            if terminating && response.status() == StatusCode::ACCEPTED {
                *response.status_mut() = StatusCode::NO_CONTENT;
                *response.body_mut() = axum::body::Body::empty();
            }
            return response;
        }
        Ok(_) => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "not_a_shopper",
            "MCP is for shoppers' assistants; use a shopper token",
        ),
        Err(error) => error,
    };
    let mut response = refused.into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"lantern\""));
    response
}
