//! Lantern's MCP server: the tools an AI assistant uses to shop at Lantern, for any transport
//! rmcp serves (stdio for `lantern mcp`, Streamable HTTP at the gateway's `/mcp`).
//!
//! Every tool is one call (two for `list_coupons`) of Lantern's own API through the [`Api`]
//! trait, which the gateway implements in-process. So an assistant is a caller like any other:
//! its bearer token says who it shops for, its writes pass admission control and the waiting
//! room, and its idempotency keys ride into the ledger's journal. The checkout tools follow the
//! Agentic Commerce Protocol's OpenRPC binding (`create_checkout_session {meta, payload}`, ...)
//! and answer ACP checkout sessions.
//!
//! Results are structured JSON. A refusal is a tool result with `isError: true`, never a
//! protocol error, and says what to do: a full gateway answers `status: "queued"` with the
//! caller's position, an ETA and the ticket to call again with.
//!
//! This crate knows no HTTP serving: it describes API calls ([`ApiRequest`]) and reads their
//! answers ([`ApiAnswer`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, Extensions};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, schemars, tool, tool_handler, tool_router};
use serde::Deserialize;
use serde_json::{Value, json};

/// The ACP version the checkout tools speak.
pub const ACP_API_VERSION: &str = "2026-04-17";
/// Most search hits one call returns.
pub const SEARCH_LIMIT_MAX: usize = 50;
/// Search hits when the caller does not say.
pub const SEARCH_LIMIT_DEFAULT: usize = 10;

/// A call of Lantern's API.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiRequest {
    pub post: bool,
    /// Path and query, e.g. `/v1/search?q=tea`.
    pub path: String,
    pub idempotency_key: Option<String>,
    /// `API-Version` (the checkout tools send it).
    pub api_version: Option<String>,
    /// A waiting-room ticket to redeem.
    pub ticket: Option<String>,
    pub body: Option<Value>,
}

/// Its answer: the HTTP status, the headers that matter to a caller, the JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiAnswer {
    pub status: u16,
    /// `lantern-ticket`, `lantern-queue-position`, `lantern-queue-eta-ms`, `retry-after` (s),
    /// `idempotent-replayed`, when present.
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl ApiAnswer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Lantern's API as the tools call it. `caller` holds what the transport knows of the caller
/// (over HTTP, the request's parts with its bearer token); the implementation decides who
/// that is.
pub trait Api: Send + Sync + 'static {
    fn call<'a>(&'a self, caller: &'a Extensions, request: ApiRequest) -> BoxFuture<'a, ApiAnswer>;
}

/// The MCP server: Lantern's shopping tools over an [`Api`].
#[derive(Clone)]
pub struct LanternMcp {
    api: Arc<dyn Api>,
    tool_router: rmcp::handler::server::tool::ToolRouter<LanternMcp>,
}

impl std::fmt::Debug for LanternMcp {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("LanternMcp").finish_non_exhaustive()
    }
}

// ---- parameters -------------------------------------------------------------------------------

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct SearchParams {
    /// What to look for, in English or Chinese: a dish ("pearl milk tea", "珍珠奶茶"), an
    /// ingredient or option ("mango", "less sugar"), or a shop's name. Misspellings are tolerated.
    pub query: String,
    /// Most hits to return (1-50, default 10).
    #[serde(default)]
    pub limit: Option<usize>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ItemParams {
    /// The item id from `search_catalog`, e.g. `mer_1/itm_101`.
    pub item_id: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ClaimParams {
    /// The campaign to claim from, e.g. `cmp_1` (see `list_coupons`).
    pub campaign_id: String,
    /// A unique string for this claim (e.g. a UUID). Repeat it, unchanged, when you retry the
    /// same claim: you will get the first answer instead of a second coupon.
    pub idempotency_key: String,
    /// The `ticket` of an earlier `queued` answer, when calling again after waiting.
    #[serde(default)]
    pub ticket: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct OrderParams {
    /// The order id, e.g. `ord_9` (from a completed checkout session's `order.id`).
    pub order_id: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ListOrdersParams {
    /// Orders per page (1-100, default 100).
    #[serde(default)]
    pub limit: Option<usize>,
    /// For the next page: the `next_starting_after` of the page before (an order id, e.g.
    /// `ord_9`). Leave it out for the newest orders.
    #[serde(default)]
    pub starting_after: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct CancelOrderParams {
    /// The order id, e.g. `ord_9`.
    pub order_id: String,
    /// A unique string for this cancellation; repeat it unchanged when retrying.
    pub idempotency_key: String,
    #[serde(default)]
    pub ticket: Option<String>,
}

/// ACP request metadata (the HTTP headers of the REST binding).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct Meta {
    /// Always `2026-04-17`.
    pub api_version: String,
    /// Required for create, update, complete and cancel: a unique string per intended change
    /// (e.g. a UUID). Retrying with the same key and payload replays the first answer; the
    /// same key with a different payload is refused (`idempotency_conflict`).
    #[serde(default)]
    pub idempotency_key: Option<String>,
    #[serde(default)]
    pub request_id: Option<String>,
    /// Lantern extension: the `ticket` of an earlier `queued` answer, when calling again.
    #[serde(default)]
    pub lantern_ticket: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct CreateSessionParams {
    pub meta: Meta,
    /// ACP `CheckoutSessionCreateRequest`, e.g. `{"currency": "cny", "capabilities": {},
    /// "line_items": [{"id": "mer_1/itm_101", "quantity": 2}], "discounts": {"codes": ["cmp_1"]}}`.
    /// All lines must be from one shop. Without `discounts`, the best coupon in the shopper's
    /// wallet applies automatically; `{"codes": []}` applies none.
    pub payload: serde_json::Map<String, Value>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct SessionParams {
    pub meta: Meta,
    /// The checkout session id, e.g. `cs_12`.
    pub id: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct UpdateSessionParams {
    pub meta: Meta,
    /// The checkout session id, e.g. `cs_12`.
    pub id: String,
    /// ACP `CheckoutSessionUpdateRequest`: new `line_items` (they replace the old ones) and/or
    /// `discounts` (`{"codes": ["cmp_1"]}`).
    pub payload: serde_json::Map<String, Value>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct CompleteSessionParams {
    pub meta: Meta,
    pub id: String,
    /// ACP `CheckoutSessionCompleteRequest`. Lantern takes payment at pickup:
    /// `{"payment_data": {"purchase_order_number": "pay_at_pickup"}}`.
    pub payload: serde_json::Map<String, Value>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct CancelSessionParams {
    pub meta: Meta,
    pub id: String,
    /// Optional ACP `CancelSessionRequest`, e.g. `{"intent_trace": {"reason_code": "timing_deferred"}}`.
    #[serde(default)]
    pub payload: Option<serde_json::Map<String, Value>>,
}

// ---- tools ------------------------------------------------------------------------------------

#[tool_router]
impl LanternMcp {
    pub fn new(api: Arc<dyn Api>) -> LanternMcp {
        LanternMcp { api, tool_router: Self::tool_router() }
    }

    #[tool(
        description = "Search every shop's menu (bubble tea, coffee, snacks; English or Chinese). Returns hits with `item_id` (e.g. `mer_1/itm_101`: shop `mer_1`, item `itm_101`), name, shop, base price in fen (1 yuan = 100 fen) and option groups with choice ids. Use the `item_id` in a checkout's line_items; to pick options, append their choice ids: `mer_1/itm_101/2,30` (size large, pearls). Defaults fill unchosen required options.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn search_catalog(
        &self,
        Parameters(params): Parameters<SearchParams>,
        context: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let limit = params.limit.unwrap_or(SEARCH_LIMIT_DEFAULT).clamp(1, SEARCH_LIMIT_MAX);
        let answer =
            self.get(&context.extensions, format!("/v1/search?q={}", percent_encode(&params.query))).await;
        if !(200..300).contains(&answer.status) {
            return refusal(&answer);
        }
        let hits: Vec<Value> = answer.body["hits"]
            .as_array()
            .map(|hits| {
                hits.iter()
                    .take(limit)
                    .map(|hit| {
                        let merchant = hit["merchant_id"].as_str().unwrap_or_default();
                        let item = &hit["item"];
                        json!({
                            "item_id": format!("{merchant}/{}", item["id"].as_str().unwrap_or_default()),
                            "name": item["name"],
                            "merchant_id": merchant,
                            "merchant_name": hit["merchant_name"],
                            "category": item["category"],
                            "price_fen": item["price"],
                            "option_groups": item["option_groups"],
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        CallToolResult::structured(json!({ "hits": hits, "currency": "cny" }))
    }

    #[tool(
        description = "One menu item in full: price in fen, every option group (size, sugar, ice, toppings) with choice ids, price deltas, how many may be chosen and the default, and the shop's status and current wait (eta_ms). Use it before choosing options.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_item(
        &self,
        Parameters(params): Parameters<ItemParams>,
        context: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let mut parts = params.item_id.split('/');
        let (Some(merchant), Some(item)) = (parts.next(), parts.next()) else {
            return CallToolResult::structured_error(json!({
                "status": "invalid",
                "message": "item_id looks like mer_1/itm_101 (from search_catalog)",
            }));
        };
        let answer =
            self.get(&context.extensions, format!("/v1/merchants/{}/menu", percent_encode(merchant))).await;
        if !(200..300).contains(&answer.status) {
            return refusal(&answer);
        }
        let found =
            answer.body["items"].as_array().and_then(|items| items.iter().find(|entry| entry["id"] == item));
        match found {
            Some(entry) => CallToolResult::structured(json!({
                "item_id": format!("{merchant}/{item}"),
                "item": entry,
                "merchant": answer.body["merchant"],
            })),
            None => CallToolResult::structured_error(json!({
                "status": "not_found",
                "message": format!("{merchant} has no item {item}; search the catalog for ids"),
            })),
        }
    }

    #[tool(
        description = "Coupon campaigns open now (id, name, face value and minimum spend in fen, validity) and the coupons already in the shopper's wallet with their status (claimed, held by an open checkout, redeemed, expired). A campaign id is also its discount code at checkout.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn list_coupons(&self, context: RequestContext<RoleServer>) -> CallToolResult {
        let campaigns = self.get(&context.extensions, "/v1/campaigns".into()).await;
        if !(200..300).contains(&campaigns.status) {
            return refusal(&campaigns);
        }
        let wallet = self.get(&context.extensions, "/v1/wallet".into()).await;
        if !(200..300).contains(&wallet.status) {
            return refusal(&wallet);
        }
        CallToolResult::structured(json!({
            "campaigns": campaigns.body["campaigns"],
            "wallet": wallet.body["coupons"],
        }))
    }

    #[tool(
        description = "Claim a coupon from a campaign into the shopper's wallet. Budgets are limited and go fast in a sale; each shopper may hold a campaign's coupon up to its per-shopper limit (claiming again returns the coupon already held, `newly_claimed: false`). Needs an idempotency_key. When the gateway is full the answer is `queued` with your position and ETA: wait, then call again with the same idempotency_key and the ticket.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn claim_coupon(
        &self,
        Parameters(params): Parameters<ClaimParams>,
        context: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let request = ApiRequest {
            post: true,
            path: format!("/v1/campaigns/{}/claim", percent_encode(&params.campaign_id)),
            idempotency_key: Some(params.idempotency_key),
            api_version: None,
            ticket: params.ticket,
            body: Some(json!({})),
        };
        result(&self.api.call(&context.extensions, request).await)
    }

    #[tool(
        description = "Agentic Commerce Protocol: open a checkout session, a priced cart at one shop that holds its coupon until `expires_at`. Returns the session: `line_items`, `totals` (subtotal, discount, total in fen), `discounts` (applied and rejected codes with ACP reasons such as discount_code_minimum_not_met), `messages`, `status` (ready_for_payment). Show the buyer the total before completing.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn create_checkout_session(
        &self,
        Parameters(params): Parameters<CreateSessionParams>,
        context: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.acp(&context.extensions, params.meta, "/checkout_sessions".into(), Some(params.payload)).await
    }

    #[tool(
        description = "Agentic Commerce Protocol: the current state of a checkout session (ready_for_payment, completed with its `order`, canceled or expired).",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_checkout_session(
        &self,
        Parameters(params): Parameters<SessionParams>,
        context: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let request = ApiRequest {
            post: false,
            path: format!("/checkout_sessions/{}", percent_encode(&params.id)),
            idempotency_key: None,
            api_version: Some(params.meta.api_version),
            ticket: None,
            body: None,
        };
        result(&self.api.call(&context.extensions, request).await)
    }

    #[tool(
        description = "Agentic Commerce Protocol: change an open checkout session's line_items and/or discount codes; it is re-priced and returned. Coupons do not stack: only the first code applies.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn update_checkout_session(
        &self,
        Parameters(params): Parameters<UpdateSessionParams>,
        context: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let path = format!("/checkout_sessions/{}", percent_encode(&params.id));
        self.acp(&context.extensions, params.meta, path, Some(params.payload)).await
    }

    #[tool(
        description = "Agentic Commerce Protocol: place the order of a checkout session at the price shown (only after the buyer has agreed to the total). Returns the session with status `completed` and its `order` (id, status, permalink_url). Retrying with the same idempotency_key never orders twice.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn complete_checkout_session(
        &self,
        Parameters(params): Parameters<CompleteSessionParams>,
        context: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let path = format!("/checkout_sessions/{}/complete", percent_encode(&params.id));
        self.acp(&context.extensions, params.meta, path, Some(params.payload)).await
    }

    #[tool(
        description = "Agentic Commerce Protocol: abandon an open checkout session; its coupon goes back to the wallet. A completed session cannot be cancelled (cancel the order instead).",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn cancel_checkout_session(
        &self,
        Parameters(params): Parameters<CancelSessionParams>,
        context: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let path = format!("/checkout_sessions/{}/cancel", percent_encode(&params.id));
        self.acp(&context.extensions, params.meta, path, Some(params.payload.unwrap_or_default())).await
    }

    #[tool(
        description = "An order's status (placed, accepted, rejected, ready, delivering, delivered, cancelled), amounts in fen and the shop's estimate (eta_ms).",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_order(
        &self,
        Parameters(params): Parameters<OrderParams>,
        context: RequestContext<RoleServer>,
    ) -> CallToolResult {
        result(
            &self.get(&context.extensions, format!("/v1/orders/{}", percent_encode(&params.order_id))).await,
        )
    }

    #[tool(
        description = "The shopper's orders, newest first, a page at a time: when `has_more`, call again with `starting_after` set to the answer's `next_starting_after`.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn list_orders(
        &self,
        Parameters(params): Parameters<ListOrdersParams>,
        context: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let mut query = Vec::new();
        if let Some(limit) = params.limit {
            query.push(format!("limit={limit}"));
        }
        if let Some(after) = &params.starting_after {
            query.push(format!("starting_after={}", percent_encode(after)));
        }
        let path = if query.is_empty() {
            "/v1/orders".to_owned()
        } else {
            format!("/v1/orders?{}", query.join("&"))
        };
        result(&self.get(&context.extensions, path).await)
    }

    #[tool(
        description = "Cancel an order the shop has not started making yet; its coupon is returned. Needs an idempotency_key.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn cancel_order(
        &self,
        Parameters(params): Parameters<CancelOrderParams>,
        context: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let request = ApiRequest {
            post: true,
            path: format!("/v1/orders/{}/cancel", percent_encode(&params.order_id)),
            idempotency_key: Some(params.idempotency_key),
            api_version: None,
            ticket: params.ticket,
            body: Some(json!({})),
        };
        result(&self.api.call(&context.extensions, request).await)
    }
}

impl LanternMcp {
    async fn get(&self, caller: &Extensions, path: String) -> ApiAnswer {
        let request = ApiRequest {
            post: false,
            path,
            idempotency_key: None,
            api_version: None,
            ticket: None,
            body: None,
        };
        self.api.call(caller, request).await
    }

    async fn acp(
        &self,
        caller: &Extensions,
        meta: Meta,
        path: String,
        payload: Option<serde_json::Map<String, Value>>,
    ) -> CallToolResult {
        let request = ApiRequest {
            post: true,
            path,
            idempotency_key: meta.idempotency_key,
            api_version: Some(meta.api_version),
            ticket: meta.lantern_ticket,
            body: payload.map(Value::Object),
        };
        result(&self.api.call(caller, request).await)
    }
}

#[tool_handler(
    name = "lantern",
    router = self.tool_router,
    instructions = "Lantern sells bubble tea, coffee and snacks from many shops, with coupon campaigns. To buy: search_catalog for item ids, list_coupons (a campaign id is its discount code; claim_coupon puts its coupon in the wallet), create_checkout_session with the items and the code, show the buyer the total, then complete_checkout_session. Amounts are integer fen (100 fen = 1 yuan). Every state-changing tool needs an idempotency key: reuse it only to retry the same request. A `queued` answer means the shop is busy: wait `eta_ms`, then call again with the same key and the ticket."
)]
impl rmcp::ServerHandler for LanternMcp {}

/// A 2xx answer as the tool's structured result; anything else as a refusal the model can act
/// on (`isError: true`, never a protocol error).
pub fn result(answer: &ApiAnswer) -> CallToolResult {
    if (200..300).contains(&answer.status) {
        CallToolResult::structured(answer.body.clone())
    } else {
        refusal(answer)
    }
}

/// A refusal the model can act on: queued (position, ETA, the ticket to call again with),
/// or the API's error with what was wrong.
fn refusal(answer: &ApiAnswer) -> CallToolResult {
    let retry_after_ms = answer.header("retry-after").and_then(|s| s.parse::<u64>().ok()).map(|s| s * 1000);
    let body = &answer.body;
    let ticket = answer
        .header("lantern-ticket")
        .map(str::to_owned)
        .or_else(|| body["ticket"].as_str().map(str::to_owned));
    if let Some(ticket) = ticket.filter(|_| answer.status == 429) {
        let position = answer
            .header("lantern-queue-position")
            .and_then(|value| value.parse::<u64>().ok())
            .or_else(|| body["position"].as_u64());
        let eta_ms = answer
            .header("lantern-queue-eta-ms")
            .and_then(|value| value.parse::<u64>().ok())
            .or_else(|| body["eta_ms"].as_u64());
        return CallToolResult::structured_error(json!({
            "status": "queued",
            "position": position,
            "eta_ms": eta_ms,
            "retry_after_ms": retry_after_ms,
            "ticket": ticket,
            "message": format!(
                "Lantern is busy: you are number {} in line, about {} s. Nothing was done yet. Call the same tool again after that with the same idempotency key and this ticket (`ticket`, or `meta.lantern_ticket` for checkout tools).",
                position.unwrap_or(0),
                eta_ms.unwrap_or(0).div_ceil(1000)
            ),
        }));
    }
    CallToolResult::structured_error(json!({
        "status": "refused",
        "http_status": answer.status,
        "code": body["code"],
        "message": body["message"],
        "param": body["param"],
        "retry_after_ms": retry_after_ms,
        "alternatives": body.get("alternatives"),
    }))
}

/// Percent-encodes everything but unreserved characters (a path segment or query value).
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_keeps_unreserved_and_encodes_the_rest() {
        assert_eq!(percent_encode("mer_1"), "mer_1");
        assert_eq!(percent_encode("a b/c?"), "a%20b%2Fc%3F");
        assert_eq!(percent_encode("奶茶"), "%E5%A5%B6%E8%8C%B6");
    }

    #[test]
    fn a_queued_answer_is_a_tool_result_with_position_eta_and_ticket() {
        let answer = ApiAnswer {
            status: 429,
            headers: vec![
                ("lantern-ticket".into(), "lw1.abc".into()),
                ("lantern-queue-position".into(), "3".into()),
                ("lantern-queue-eta-ms".into(), "1500".into()),
                ("retry-after".into(), "2".into()),
            ],
            body: json!({"type": "invalid_request", "code": "queued", "message": "wait"}),
        };
        let result = refusal(&answer);
        assert_eq!(result.is_error, Some(true));
        let content = result.structured_content.expect("structured");
        assert_eq!(content["status"], "queued");
        assert_eq!(content["position"], 3);
        assert_eq!(content["eta_ms"], 1500);
        assert_eq!(content["retry_after_ms"], 2000);
        assert_eq!(content["ticket"], "lw1.abc");
    }

    #[test]
    fn other_refusals_carry_the_code_and_message() {
        let answer = ApiAnswer {
            status: 409,
            headers: Vec::new(),
            body: json!({"type": "invalid_request", "code": "budget_exhausted", "message": "gone"}),
        };
        let content = refusal(&answer).structured_content.expect("structured");
        assert_eq!(content["status"], "refused");
        assert_eq!(content["code"], "budget_exhausted");
        assert_eq!(content["http_status"], 409);
    }
}
