//! The Agentic Commerce Protocol's checkout API (`API-Version: 2026-04-17`) at the paths and in
//! the shapes of `openapi.agentic_checkout.yaml`: `/checkout_sessions[...]`.
//!
//! Each handler checks what is ACP's own (the `API-Version` header, the `Idempotency-Key` rules
//! of the RFC: per identity *and endpoint*, equivalence by the JSON body's meaning), translates the
//! request into Lantern's terms and runs the same work as `/v1/checkout_sessions`
//! (`routes::create_session`, ...), so admission, the waiting room and the ledger's journaled
//! idempotency apply exactly as there. The answer is Lantern's session rendered in ACP's shape.
//!
//! Item ids name the shop, the item and its option choices: `mer_1/itm_101` or
//! `mer_1/itm_101/3,7`; a line may carry `quantity` (a Lantern extension; default 1). Discount
//! codes are campaign ids or names; coupons do not stack.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lantern_admission::Class;
use lantern_auth::Claims;
use lantern_core::{IdempotencyKey, OrderChannel, ShopperId};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::app::{App, IDEMPOTENCY_KEY_HEADER, KeyedRequest, TICKET_HEADER};
use crate::convert::{parse_json, parse_session_id};
use crate::error::{ApiError, REPLAYED_HEADER, retry_after_header};
use crate::routes::{self, SessionCall, shopper_of};
use crate::wire::{
    CheckoutCreateRequest, CheckoutSession, CheckoutUpdateRequest, DiscountsRequest, ErrorBody, ItemRequest,
    OrderBody, TotalBody,
};

/// The Agentic Commerce Protocol's settings.
#[derive(Clone, Debug)]
pub struct AcpConfig {
    /// Where this gateway is reached from outside: the base of order links (`permalink_url`).
    pub public_url: String,
    /// Order webhooks; none are sent without.
    pub webhook: Option<crate::webhooks::WebhookConfig>,
    /// Signed requests: with it, every ACP request must carry a valid `Signature` and a fresh
    /// `Timestamp`; without it, neither is looked at.
    pub signing: Option<RequestSigning>,
    /// The policy pages every checkout session links to (its `links`), in this order.
    pub links: Vec<AcpLink>,
}

/// The kinds of page an ACP `Link` may name (the protocol's `Link.type`).
pub const ACP_LINK_TYPES: [&str; 8] = [
    "terms_of_use",
    "privacy_policy",
    "return_policy",
    "shipping_policy",
    "contact_us",
    "about_us",
    "faq",
    "support",
];

/// Longest link URL accepted.
pub const ACP_LINK_URL_BYTES_MAX: usize = 2_048;

/// One of the seller's pages shown to the buyer with a checkout (ACP `Link`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AcpLink {
    #[serde(rename = "type")]
    kind: &'static str,
    url: String,
}

impl AcpLink {
    /// A link of kind `kind` (one of [`ACP_LINK_TYPES`]) to an absolute `http(s)` URL; the error
    /// says what is wrong with either.
    pub fn new(kind: &str, url: &str) -> Result<AcpLink, String> {
        let Some(kind) = ACP_LINK_TYPES.iter().copied().find(|known| *known == kind) else {
            return Err(format!("{kind:?} is not a kind of link; use one of {}", ACP_LINK_TYPES.join(", ")));
        };
        let has_host = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'));
        if !has_host
            || url.len() > ACP_LINK_URL_BYTES_MAX
            || url.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(format!(
                "{url:?} is not an absolute http(s) URL of at most {ACP_LINK_URL_BYTES_MAX} bytes without spaces, like https://shop.example/terms"
            ));
        }
        Ok(AcpLink { kind, url: url.to_owned() })
    }
}

/// How agent platforms sign their ACP requests (RFC §2.1 and §7: the client signs over
/// canonical JSON with an accompanying RFC 3339 `Timestamp`; the scheme is published out of
/// band, here and in the README):
///
/// `Signature: base64url(HMAC-SHA256(secret, Timestamp + "." + canonical JSON of the body))`
///
/// The canonical JSON is [`canonical_json`]'s (keys sorted, no whitespace, integral numbers as
/// integers), so how the client laid its JSON out does not matter; a request without a body
/// (a GET) signs the empty string. Padded and standard base64 are accepted too.
#[derive(Clone)]
pub struct RequestSigning {
    /// The secret shared with the agent platform, at least [`SIGNING_SECRET_BYTES_MIN`] bytes.
    pub secret: Vec<u8>,
    /// How far a request's `Timestamp` may be from this gateway's clock, either way.
    pub skew_ms: u64,
}

impl std::fmt::Debug for RequestSigning {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("RequestSigning")
            .field("secret", &"<redacted>")
            .field("skew_ms", &self.skew_ms)
            .finish()
    }
}

impl RequestSigning {
    /// Checks the secret's length and the skew (1 s to 1 h).
    pub fn validate(&self) -> Result<(), String> {
        if self.secret.len() < SIGNING_SECRET_BYTES_MIN {
            return Err(format!(
                "the ACP request-signing secret must be at least {SIGNING_SECRET_BYTES_MIN} bytes, got {}",
                self.secret.len()
            ));
        }
        if !(1_000..=3_600_000).contains(&self.skew_ms) {
            return Err(format!("acp.request_skew_ms must be 1000..=3600000, got {}", self.skew_ms));
        }
        Ok(())
    }
}

/// The shortest shared secret accepted for request signatures (128 bits).
pub const SIGNING_SECRET_BYTES_MIN: usize = 16;
/// The request headers of a signed request.
pub const SIGNATURE_HEADER: &str = "signature";
pub const TIMESTAMP_HEADER: &str = "timestamp";
/// The longest `Signature` header read: a SHA-256 tag is 43 characters of base64url.
const SIGNATURE_TEXT_MAX: usize = 128;

/// The `Signature` of a request with this `Timestamp` text and body, as a client computes it.
pub fn request_signature(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    use base64::Engine as _;
    use hmac::Mac as _;
    let tag = signature_mac(secret, timestamp, body).finalize().into_bytes();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag)
}

/// The HMAC over what a request signs, not yet finalized: a check verifies a presented tag
/// against it in constant time (`Mac::verify_slice`).
fn signature_mac(secret: &[u8], timestamp: &str, body: &[u8]) -> hmac::Hmac<sha2::Sha256> {
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(&signed_body(body));
    mac
}

/// What is signed of a body: its canonical JSON; bytes that are not JSON as they are (the
/// handler refuses them after, with the parse error).
fn signed_body(body: &[u8]) -> Vec<u8> {
    if body.is_empty() {
        return Vec::new();
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(value) => canonical_json(&value),
        Err(_) => body.to_vec(),
    }
}

/// The protocol version this gateway speaks.
pub const ACP_API_VERSION: &str = "2026-04-17";
/// The request header that names the version.
pub const API_VERSION_HEADER: &str = "api-version";
/// On a queued answer: the caller's place in line and its estimate.
pub const QUEUE_POSITION_HEADER: &str = "lantern-queue-position";
pub const QUEUE_ETA_HEADER: &str = "lantern-queue-eta-ms";

/// A refusal in ACP's shape. What does not fit `Error` (retry time, waiting-room ticket,
/// position, ETA) travels in headers.
#[derive(Debug)]
pub struct AcpError(pub ApiError);

impl From<ApiError> for AcpError {
    fn from(error: ApiError) -> AcpError {
        AcpError(error)
    }
}

impl IntoResponse for AcpError {
    fn into_response(self) -> Response {
        let error = self.0;
        // ACP's `Error` allows exactly type, code, message and param: the rest goes in headers.
        let mut body = ErrorBody { retry_after_ms: None, alternatives: Vec::new(), ..error.body() };
        let mut response_headers = Vec::new();
        if let Some(waiting) = &error.waiting {
            body.message = waiting.message.clone();
            response_headers.push((TICKET_HEADER, waiting.ticket.clone()));
            response_headers.push((QUEUE_POSITION_HEADER, waiting.position.to_string()));
            response_headers.push((QUEUE_ETA_HEADER, waiting.eta_ms.to_string()));
        }
        let mut response = (error.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        for (name, value) in response_headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        }
        if let Some(retry_after_ms) = error.retry_after_ms {
            headers.insert(header::RETRY_AFTER, retry_after_header(retry_after_ms));
        }
        if error.replayed {
            headers.insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
        }
        response
    }
}

type AcpReply = Result<Response, AcpError>;
type Peer = ConnectInfo<SocketAddr>;

// ---- ACP shapes -------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct AcpItem {
    id: String,
    /// Lantern extension; ACP's `Item` has none, so one line is one of the item by default.
    #[serde(default)]
    quantity: Option<u16>,
}

/// A fulfillment option the agent picked; only its id is checked (the type and items follow
/// from it).
#[derive(Debug, Deserialize)]
struct AcpSelectedOption {
    option_id: String,
}

#[derive(Debug, Deserialize)]
struct AcpCreateRequest {
    line_items: Vec<AcpItem>,
    #[serde(default)]
    selected_fulfillment_options: Option<Vec<AcpSelectedOption>>,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    discounts: Option<DiscountsRequest>,
    /// Deprecated in ACP in favour of `discounts.codes`; still honoured.
    #[serde(default)]
    coupons: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
struct AcpUpdateRequest {
    #[serde(default)]
    line_items: Option<Vec<AcpItem>>,
    #[serde(default)]
    selected_fulfillment_options: Option<Vec<AcpSelectedOption>>,
    #[serde(default)]
    discounts: Option<DiscountsRequest>,
    #[serde(default)]
    coupons: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
struct AcpCompleteRequest {
    /// Lantern takes payment at pickup; the instrument is accepted as ACP requires and not used.
    #[serde(default)]
    payment_data: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AcpSession {
    pub id: String,
    pub protocol: AcpProtocol,
    pub capabilities: serde_json::Value,
    pub status: String,
    pub currency: String,
    pub line_items: Vec<AcpLineItem>,
    pub totals: Vec<TotalBody>,
    pub fulfillment_options: Vec<serde_json::Value>,
    /// The pickup, when the shop offers one: the only option there is, so it is selected.
    pub selected_fulfillment_options: Vec<serde_json::Value>,
    pub messages: Vec<AcpMessage>,
    pub links: Vec<serde_json::Value>,
    pub expires_at: String,
    pub discounts: AcpDiscounts,
    /// Lantern's extras: the shop and its current estimate.
    pub metadata: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<AcpOrder>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AcpProtocol {
    pub version: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AcpItemRef {
    pub id: String,
    pub name: String,
    pub unit_amount: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct AcpLineItem {
    pub id: String,
    pub item: AcpItemRef,
    pub quantity: u16,
    pub name: String,
    pub unit_amount: i64,
    pub totals: Vec<TotalBody>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AcpMessage {
    #[serde(rename = "type")]
    pub kind: String,
    pub code: String,
    pub content_type: String,
    pub content: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AcpDiscounts {
    pub codes: Vec<String>,
    pub applied: Vec<AcpAppliedDiscount>,
    pub rejected: Vec<AcpRejectedDiscount>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AcpAppliedDiscount {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub coupon: AcpCoupon,
    pub amount: i64,
    pub automatic: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct AcpCoupon {
    pub id: String,
    pub name: String,
    pub amount_off: i64,
    pub currency: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AcpRejectedDiscount {
    pub code: String,
    pub reason: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AcpOrder {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    pub checkout_session_id: String,
    pub permalink_url: String,
    pub status: String,
    pub totals: Vec<TotalBody>,
}

/// ACP's discount rejection codes, from Lantern's reasons (a closed campaign's code has
/// expired, a spent budget is a usage limit, an ineligible shop or cart is ineligible).
pub fn discount_reason(lantern: &str) -> &'static str {
    match lantern {
        "discount_code_expired" | "campaign_ended" | "expired" => "discount_code_expired",
        "discount_code_minimum_not_met" => "discount_code_minimum_not_met",
        "discount_code_combination_disallowed" => "discount_code_combination_disallowed",
        "discount_code_already_applied" => "discount_code_already_applied",
        "discount_code_user_ineligible" => "discount_code_user_ineligible",
        "discount_code_usage_limit_reached" | "budget_exhausted" => "discount_code_usage_limit_reached",
        _ => "discount_code_invalid",
    }
}

fn totals_of(subtotal: i64, discount: i64, total: i64) -> Vec<TotalBody> {
    let mut totals =
        vec![TotalBody { kind: "subtotal".into(), display_text: "Subtotal 小计".into(), amount: subtotal }];
    if discount > 0 {
        totals.push(TotalBody {
            kind: "discount".into(),
            display_text: "Coupon 优惠".into(),
            amount: discount,
        });
    }
    totals.push(TotalBody { kind: "total".into(), display_text: "Total 合计".into(), amount: total });
    totals
}

/// An order in ACP's shape (also the `data` of an order webhook).
pub fn acp_order(order: &OrderBody, public_url: &str) -> AcpOrder {
    AcpOrder {
        kind: "order".into(),
        id: order.id.clone(),
        checkout_session_id: order.checkout_session_id.clone(),
        permalink_url: format!("{}/v1/orders/{}", public_url.trim_end_matches('/'), order.id),
        status: order.status.clone(),
        totals: totals_of(order.subtotal, order.discount, order.total),
    }
}

/// The id of the pickup option at `merchant` (`mer_1`).
fn pickup_option_id(merchant: &str) -> String {
    format!("pickup_{merchant}")
}

/// Pickup at the session's shop, when the shop gave its address: ready by its current estimate
/// (the kitchen's backlog at its rate), free.
fn pickup_option(app: &App, session: &CheckoutSession) -> Option<serde_json::Value> {
    let merchant = lantern_core::MerchantId::parse(&session.merchant_id).ok()?;
    let (name, address) = app.sequencer.read(|ledger| {
        let (shop, ..) = ledger.merchant(merchant)?;
        Some((shop.name().to_owned(), shop.address.as_deref()?.clone()))
    })?;
    let ready_by = app.now().plus_ms(session.merchant_eta_ms.unwrap_or(0));
    Some(serde_json::json!({
        "type": "pickup",
        "id": pickup_option_id(&session.merchant_id),
        "title": format!("Pickup at {name} 到店自取"),
        "description": "Pay at the counter when you pick it up 到店付款",
        "location": {
            "name": name,
            "address": {
                "name": name,
                "line_one": address.line_one(),
                "city": address.city(),
                "state": address.state(),
                "country": address.country(),
                "postal_code": address.postal_code(),
            },
        },
        "pickup_type": "in_store",
        "ready_by": ready_by.to_string(),
        "totals": [{ "type": "fulfillment", "display_text": "Pickup 自取", "amount": 0 }],
    }))
}

/// Refuses a selected fulfillment option this checkout does not offer (ACP: an `option_id`
/// must name one of `fulfillment_options`).
fn check_selected(app: &App, merchant: &str, selected: Option<&[AcpSelectedOption]>) -> Result<(), ApiError> {
    let Some(selected) = selected else { return Ok(()) };
    // An unknown shop is no question of options: the checkout refuses it as unknown.
    let Some(has_address) = lantern_core::MerchantId::parse(merchant).ok().and_then(|id| {
        app.sequencer.read(|ledger| ledger.merchant(id).map(|(shop, ..)| shop.address.is_some()))
    }) else {
        return Ok(());
    };
    let offered = pickup_option_id(merchant);
    for (index, option) in selected.iter().enumerate() {
        if !has_address {
            return Err(ApiError::invalid(
                format!("$.selected_fulfillment_options[{index}].option_id"),
                format!(
                    "{merchant} offers no fulfillment options (it gave no address); leave selected_fulfillment_options out"
                ),
            ));
        }
        if option.option_id != offered {
            return Err(ApiError::invalid(
                format!("$.selected_fulfillment_options[{index}].option_id"),
                format!(
                    "this checkout offers one fulfillment option, {offered:?} (pickup); {:?} is not one",
                    option.option_id
                ),
            ));
        }
    }
    Ok(())
}

/// Lantern's session in ACP's shape.
pub fn acp_session(app: &App, session: &CheckoutSession) -> AcpSession {
    let merchant = session.merchant_id.as_str();
    let line_items = session
        .line_items
        .iter()
        .map(|line| {
            let options: Vec<String> = line.options.iter().map(u32::to_string).collect();
            let id = if options.is_empty() {
                format!("{merchant}/{}", line.item_id)
            } else {
                format!("{merchant}/{}/{}", line.item_id, options.join(","))
            };
            AcpLineItem {
                id: line.id.clone(),
                item: AcpItemRef { id, name: line.name.clone(), unit_amount: line.unit_amount },
                quantity: line.quantity,
                name: line.name.clone(),
                unit_amount: line.unit_amount,
                totals: totals_of(line.total, 0, line.total),
            }
        })
        .collect();
    let campaign_name = |id: &str| {
        lantern_core::CampaignId::parse(id)
            .ok()
            .and_then(|campaign| {
                app.sequencer.read(|ledger| ledger.campaign(campaign).map(|c| c.spec().name.clone()))
            })
            .unwrap_or_else(|| id.to_owned())
    };
    let discounts = AcpDiscounts {
        codes: session.discounts.codes.clone(),
        applied: session
            .discounts
            .applied
            .iter()
            .map(|applied| AcpAppliedDiscount {
                id: applied.id.clone(),
                code: applied.code.clone(),
                coupon: AcpCoupon {
                    id: applied.campaign_id.clone(),
                    name: campaign_name(&applied.campaign_id),
                    amount_off: applied.amount,
                    currency: session.currency.clone(),
                },
                amount: applied.amount,
                automatic: applied.automatic,
            })
            .collect(),
        rejected: session
            .discounts
            .rejected
            .iter()
            .map(|rejected| AcpRejectedDiscount {
                code: rejected.code.clone(),
                reason: discount_reason(&rejected.reason).into(),
                message: rejected.message.clone(),
            })
            .collect(),
    };
    let messages = session
        .messages
        .iter()
        .map(|message| AcpMessage {
            kind: "warning".into(),
            code: discount_reason(&message.code).into(),
            content_type: "plain".into(),
            content: message.content.clone(),
        })
        .collect();
    let pickup = pickup_option(app, session);
    let selected_fulfillment_options = pickup
        .as_ref()
        .map(|option| {
            let item_ids: Vec<&str> = session.line_items.iter().map(|line| line.id.as_str()).collect();
            vec![serde_json::json!({ "type": "pickup", "option_id": option["id"], "item_ids": item_ids })]
        })
        .unwrap_or_default();
    let mut metadata = serde_json::json!({ "merchant_id": session.merchant_id });
    if let Some(eta_ms) = session.merchant_eta_ms {
        metadata["merchant_eta_ms"] = eta_ms.into();
    }
    AcpSession {
        id: session.id.clone(),
        protocol: AcpProtocol { version: ACP_API_VERSION.into() },
        capabilities: serde_json::json!({
            "extensions": [{ "name": "discount", "extends": ["$.CheckoutSession.discounts", "$.CheckoutSessionCreateRequest.discounts", "$.CheckoutSessionUpdateRequest.discounts"] }]
        }),
        status: session.status.clone(),
        currency: session.currency.clone(),
        line_items,
        totals: session.totals.clone(),
        fulfillment_options: pickup.into_iter().collect(),
        selected_fulfillment_options,
        messages,
        links: app.config.acp.links.iter().filter_map(|link| serde_json::to_value(link).ok()).collect(),
        expires_at: session.expires_at.clone(),
        discounts,
        metadata,
        order: session.order.as_ref().map(|order| acp_order(order, &app.config.acp.public_url)),
    }
}

// ---- request checks ---------------------------------------------------------------------------

/// `API-Version` must name the version this gateway speaks. A read without one is answered in
/// this version (the file documents no 400 for it); a write without one is refused, as the RFC
/// says.
fn check_version(headers: &HeaderMap, write: bool) -> Result<(), ApiError> {
    match headers.get(API_VERSION_HEADER).map(HeaderValue::to_str) {
        Some(Ok(ACP_API_VERSION)) => Ok(()),
        None if !write => Ok(()),
        Some(_) => Err(ApiError::invalid(
            "$header.API-Version",
            format!("this API-Version is not supported; supported_versions: [\"{ACP_API_VERSION}\"]"),
        )
        .with_code("unsupported_api_version")),
        None => Err(ApiError::invalid(
            "$header.API-Version",
            format!(
                "send the header API-Version: {ACP_API_VERSION} (supported_versions: [\"{ACP_API_VERSION}\"])"
            ),
        )
        .with_code("missing_api_version")),
    }
}

/// With signing on, the request's `Signature` must be the body's under the shared secret and
/// its `Timestamp` within the allowed skew of this gateway's clock.
fn check_signature(app: &App, headers: &HeaderMap, body: &[u8]) -> Result<(), ApiError> {
    let Some(signing) = &app.config.acp.signing else { return Ok(()) };
    let header_text = |name: &str| headers.get(name).map(|value| value.to_str().unwrap_or_default());
    let (Some(signature), Some(timestamp)) = (header_text(SIGNATURE_HEADER), header_text(TIMESTAMP_HEADER))
    else {
        return Err(ApiError::unauthorized(
            "signature_required",
            "this gateway takes signed requests only: send Timestamp (RFC 3339, now) and Signature (base64url HMAC-SHA256 of the Timestamp, \".\" and the body's canonical JSON, under the secret you were given)",
        ));
    };
    let now_ms = app.now().unix_ms();
    let signed_at = crate::convert::parse_time(timestamp, "$header.Timestamp").map_err(|_| {
        ApiError::unauthorized(
            "invalid_signature",
            format!("the Timestamp {timestamp:?} is not an RFC 3339 time like 2027-02-06T10:30:00Z"),
        )
    })?;
    let skew_ms = signed_at.unix_ms().abs_diff(now_ms);
    if skew_ms > signing.skew_ms {
        return Err(ApiError::unauthorized(
            "timestamp_out_of_window",
            format!(
                "the Timestamp is {} s from this gateway's clock, more than the {} s allowed; sign the request again with the current time",
                skew_ms / 1_000,
                signing.skew_ms / 1_000
            ),
        ));
    }
    use hmac::Mac as _;
    let mac = signature_mac(&signing.secret, timestamp, body);
    let matches = decode_signature(signature).is_some_and(|presented| mac.verify_slice(&presented).is_ok());
    if !matches {
        return Err(ApiError::unauthorized(
            "invalid_signature",
            "the Signature does not match this request: sign the Timestamp, \".\" and the body's canonical JSON (keys sorted, no whitespace) with HMAC-SHA256 and send it base64url",
        ));
    }
    Ok(())
}

/// The tag of a `Signature` header, in base64url or standard base64, padded or not.
fn decode_signature(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    if text.len() > SIGNATURE_TEXT_MAX {
        return None;
    }
    let unpadded = text.trim_end_matches('=');
    URL_SAFE_NO_PAD.decode(unpadded).or_else(|_| STANDARD_NO_PAD.decode(unpadded)).ok()
}

/// The caller, a shopper, with the request's signature (when signing is on) and the version
/// checked.
fn shopper_caller(
    app: &App,
    headers: &HeaderMap,
    write: bool,
    body: &[u8],
) -> Result<(Claims, ShopperId), ApiError> {
    let claims = app.caller(headers)?;
    let shopper = shopper_of(&claims)?;
    check_signature(app, headers, body)?;
    check_version(headers, write)?;
    Ok((claims, shopper))
}

/// An ACP keyed request: the key is scoped to the caller and the endpoint (the same key on
/// another endpoint is another request), and two bodies are the same request when they mean
/// the same JSON (key order and `1.0` vs `1` do not matter).
pub fn acp_keyed(
    claims: &Claims,
    headers: &HeaderMap,
    path: &str,
    body: &[u8],
) -> Result<KeyedRequest, ApiError> {
    let text = headers
        .get(IDEMPOTENCY_KEY_HEADER)
        .ok_or_else(|| {
            ApiError::invalid(
                "$header.Idempotency-Key",
                "Idempotency-Key header is required on all POST requests",
            )
            .with_code("idempotency_key_required")
        })?
        .to_str()
        .map_err(|_| {
            ApiError::invalid("$header.Idempotency-Key", "the Idempotency-Key must be printable ASCII")
        })?;
    IdempotencyKey::new(text)
        .map_err(|error| ApiError::invalid("$header.Idempotency-Key", error.to_string()))?;
    let canonical = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(value) => canonical_json(&value),
        Err(_) => body.to_vec(),
    };
    let scoped =
        sha2::Sha256::new().chain_update(path.as_bytes()).chain_update([0]).chain_update(text).finalize();
    let hex: String = scoped.iter().take(16).map(|byte| format!("{byte:02x}")).collect();
    let key = IdempotencyKey::new(format!("acp-{hex}"))
        .map_err(|error| ApiError::invalid("$header.Idempotency-Key", error.to_string()))?;
    let mut keyed = KeyedRequest::from_request(claims, &idempotency_only(&key), path, &canonical)?;
    keyed.key = key;
    Ok(keyed)
}

fn idempotency_only(key: &IdempotencyKey) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(key.as_str()) {
        headers.insert(IDEMPOTENCY_KEY_HEADER, value);
    }
    headers
}

/// JSON with object keys sorted and integral numbers written as integers: equal for requests
/// that mean the same (RFC §6.2; arrays keep their order, `null` differs from absent).
pub fn canonical_json(value: &serde_json::Value) -> Vec<u8> {
    fn write(value: &serde_json::Value, out: &mut Vec<u8>) {
        match value {
            serde_json::Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push(b'{');
                for (index, key) in keys.into_iter().enumerate() {
                    if index > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(serde_json::Value::String(key.clone()).to_string().as_bytes());
                    out.push(b':');
                    write(&map[key], out);
                }
                out.push(b'}');
            }
            serde_json::Value::Array(items) => {
                out.push(b'[');
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        out.push(b',');
                    }
                    write(item, out);
                }
                out.push(b']');
            }
            serde_json::Value::Number(number) => {
                let integral = number.as_f64().filter(|float| float.fract() == 0.0 && float.abs() < 9.0e15);
                match (number.is_f64(), integral) {
                    #[allow(clippy::cast_possible_truncation)]
                    (true, Some(float)) => out.extend_from_slice((float as i64).to_string().as_bytes()),
                    _ => out.extend_from_slice(number.to_string().as_bytes()),
                }
            }
            other => out.extend_from_slice(other.to_string().as_bytes()),
        }
    }
    let mut out = Vec::new();
    write(value, &mut out);
    out
}

/// `mer_1/itm_101[/3,7]` and a quantity, as a Lantern cart line of that shop.
fn cart_item(item: &AcpItem, index: usize) -> Result<(String, ItemRequest), ApiError> {
    let param = format!("$.line_items[{index}].id");
    let mut parts = item.id.splitn(3, '/');
    let (Some(merchant), Some(item_id)) = (parts.next(), parts.next()) else {
        return Err(ApiError::invalid(
            param,
            "item ids look like mer_1/itm_101 or, with options, mer_1/itm_101/3,7 (search the catalog for them)",
        ));
    };
    let options = match parts.next() {
        None | Some("") => Vec::new(),
        Some(list) => list
            .split(',')
            .map(|option| option.trim().parse::<u32>())
            .collect::<Result<Vec<u32>, _>>()
            .map_err(|_| {
                ApiError::invalid(
                    param.clone(),
                    "options after the second / are choice ids separated by commas, e.g. 3,7",
                )
            })?,
    };
    Ok((
        merchant.to_owned(),
        ItemRequest { id: item_id.to_owned(), quantity: item.quantity.unwrap_or(1), options },
    ))
}

/// ACP lines to one shop's cart: every line must be of the same shop.
fn cart(items: &[AcpItem]) -> Result<(String, Vec<ItemRequest>), ApiError> {
    let mut merchant: Option<String> = None;
    let mut lines = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let (shop, line) = cart_item(item, index)?;
        match &merchant {
            Some(first) if *first != shop => {
                return Err(ApiError::invalid(
                    format!("$.line_items[{index}].id"),
                    format!("a checkout is at one shop; this line is from {shop}, the first from {first}"),
                ));
            }
            _ => merchant = Some(shop),
        }
        lines.push(line);
    }
    let merchant =
        merchant.ok_or_else(|| ApiError::invalid("$.line_items", "give at least one line item"))?;
    Ok((merchant, lines))
}

fn codes(discounts: Option<DiscountsRequest>, coupons: Option<Vec<String>>) -> Option<DiscountsRequest> {
    discounts.or_else(|| coupons.map(|codes| DiscountsRequest { codes }))
}

/// The shop of `shopper`'s session `quote`; none for a session that is not theirs.
fn session_merchant(
    app: &App,
    shopper: ShopperId,
    quote: lantern_core::QuoteId,
) -> Option<lantern_core::MerchantId> {
    app.sequencer.read(|ledger| {
        ledger.quote_record(quote).filter(|record| record.shopper == shopper).map(|record| record.merchant)
    })
}

/// The caller, the key and the session of a POST on `/checkout_sessions/{id}{verb}`.
fn session_post(
    app: &App,
    headers: &HeaderMap,
    session_text: &str,
    verb: &str,
    body: &[u8],
) -> Result<(ShopperId, KeyedRequest, lantern_core::QuoteId), ApiError> {
    let (claims, shopper) = shopper_caller(app, headers, true, body)?;
    let keyed = acp_keyed(&claims, headers, &format!("POST /checkout_sessions/{session_text}{verb}"), body)?;
    Ok((shopper, keyed, parse_session_id(session_text)?))
}

// ---- handlers ---------------------------------------------------------------------------------

/// The ACP routes; every answer to a POST echoes its `Idempotency-Key`, refusals included.
pub fn routes() -> axum::Router<Arc<App>> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/checkout_sessions", post(create))
        .route("/checkout_sessions/{checkout_session_id}", get(get_session).post(update))
        .route("/checkout_sessions/{checkout_session_id}/complete", post(complete))
        .route("/checkout_sessions/{checkout_session_id}/cancel", post(cancel))
        .layer(axum::middleware::from_fn(echo_key))
}

async fn echo_key(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let key = request.headers().get(IDEMPOTENCY_KEY_HEADER).cloned();
    let mut response = next.run(request).await;
    if let Some(key) = key {
        response.headers_mut().insert(IDEMPOTENCY_KEY_HEADER, key);
    }
    response
}

/// The answer to an ACP POST: the session, replays marked.
fn answer(app: &App, status: StatusCode, session: &CheckoutSession, replayed: bool) -> Response {
    routes::json(status, &acp_session(app, session), replayed)
}

pub async fn create(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    body: Bytes,
) -> AcpReply {
    let (claims, shopper) = shopper_caller(&app, &headers, true, &body)?;
    let keyed = acp_keyed(&claims, &headers, "POST /checkout_sessions", &body)?;
    let request: AcpCreateRequest = parse_json(&body)?;
    if let Some(currency) = &request.currency
        && !currency.eq_ignore_ascii_case(crate::wire::CURRENCY)
    {
        return Err(
            ApiError::invalid("$.currency", "Lantern prices in cny; send \"currency\": \"cny\"").into()
        );
    }
    let (merchant_id, line_items) = cart(&request.line_items)?;
    check_selected(&app, &merchant_id, request.selected_fulfillment_options.as_deref())?;
    let lantern = CheckoutCreateRequest {
        merchant_id,
        line_items,
        discounts: codes(request.discounts, request.coupons),
    };
    let call = SessionCall { app: &app, shopper, ip: peer.ip(), headers: &headers, keyed: &keyed };
    let created = routes::create_session(&call, &lantern).await;
    let (session, replayed) = created.map_err(|error| merchant_param(error, "$.line_items[0].id"))?;
    Ok(answer(&app, StatusCode::CREATED, &session, replayed))
}

/// Lantern names the shop in its own field; in ACP it is part of the item id.
fn merchant_param(mut error: ApiError, param: &str) -> ApiError {
    if error.param.as_deref() == Some("$.merchant_id") {
        error.param = Some(param.into());
    }
    error
}

pub async fn update(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    Path(session_text): Path<String>,
    body: Bytes,
) -> AcpReply {
    let (shopper, keyed, quote) = session_post(&app, &headers, &session_text, "", &body)?;
    let request: AcpUpdateRequest = parse_json(&body)?;
    // An unknown (or another shopper's) session has none, and is refused as such by the update.
    let current = (request.line_items.is_some() || request.selected_fulfillment_options.is_some())
        .then(|| session_merchant(&app, shopper, quote))
        .flatten();
    let line_items = match &request.line_items {
        Some(items) => {
            let (merchant, lines) = cart(items)?;
            if let Some(current) = current
                && current.to_string() != merchant
            {
                return Err(ApiError::invalid(
                    "$.line_items[0].id",
                    format!("this checkout is at {current}; start a new checkout for another shop"),
                )
                .into());
            }
            Some(lines)
        }
        None => None,
    };
    if let Some(merchant) = current {
        check_selected(&app, &merchant.to_string(), request.selected_fulfillment_options.as_deref())?;
    }
    let lantern = CheckoutUpdateRequest { line_items, discounts: codes(request.discounts, request.coupons) };
    let call = SessionCall { app: &app, shopper, ip: peer.ip(), headers: &headers, keyed: &keyed };
    let (session, replayed) = routes::update_session(&call, quote, &lantern).await?;
    Ok(answer(&app, StatusCode::OK, &session, replayed))
}

pub async fn get_session(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    Path(session_text): Path<String>,
) -> AcpReply {
    let (_, shopper) = shopper_caller(&app, &headers, false, b"")?;
    let quote = parse_session_id(&session_text)?;
    let _permit = app.admit(Class::Browse, Some(shopper), peer.ip(), &headers)?;
    let session = routes::read_session(&app, shopper, quote)?;
    Ok(routes::json(StatusCode::OK, &acp_session(&app, &session), false))
}

pub async fn complete(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    Path(session_text): Path<String>,
    body: Bytes,
) -> AcpReply {
    let (shopper, keyed, quote) = session_post(&app, &headers, &session_text, "/complete", &body)?;
    let request: AcpCompleteRequest = parse_json(&body)?;
    if request.payment_data.is_none() {
        return Err(ApiError::invalid(
            "$.payment_data",
            "complete needs payment_data; Lantern takes payment at pickup, so {\"purchase_order_number\": \"pay_at_pickup\"} will do",
        )
        .with_code("missing")
        .into());
    }
    let call = SessionCall { app: &app, shopper, ip: peer.ip(), headers: &headers, keyed: &keyed };
    // Its order_create webhook follows from the ledger's record of ACP orders' changes.
    let (session, replayed) = routes::complete_session(&call, quote, OrderChannel::Acp).await?;
    Ok(answer(&app, StatusCode::OK, &session, replayed))
}

pub async fn cancel(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    Path(session_text): Path<String>,
    body: Bytes,
) -> AcpReply {
    // The file documents no 404 for cancel: an unknown session is a bad request there.
    let (shopper, keyed, quote) =
        session_post(&app, &headers, &session_text, "/cancel", &body).map_err(|error| {
            if error.status == StatusCode::NOT_FOUND {
                ApiError { status: StatusCode::BAD_REQUEST, ..error }
            } else {
                error
            }
        })?;
    if !body.is_empty() {
        let _: serde_json::Map<String, serde_json::Value> = parse_json(&body)?;
    }
    // ACP answers 405 when the session is already completed or canceled (Lantern's cancel of a
    // cancelled session is a quiet success; a replay of the cancel that did it stays a 200).
    let before = routes::read_session(&app, shopper, quote).map(|session| session.status);
    let final_before = matches!(before.as_deref(), Ok("completed" | "canceled"));
    let not_cancelable = |status: &str| {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "not_cancelable",
            format!("checkout session {session_text} is already {status}"),
        )
    };
    let call = SessionCall { app: &app, shopper, ip: peer.ip(), headers: &headers, keyed: &keyed };
    match routes::cancel_session(&call, quote).await {
        Ok((session, false)) if final_before => Err(not_cancelable(&session.status).into()),
        Ok((session, replayed)) => Ok(answer(&app, StatusCode::OK, &session, replayed)),
        Err(error) if final_before && !error.replayed => {
            Err(not_cancelable(before.as_deref().unwrap_or("closed")).into())
        }
        Err(error) if error.status == StatusCode::NOT_FOUND => {
            Err(ApiError { status: StatusCode::BAD_REQUEST, ..error }.into())
        }
        Err(error) => Err(error.into()),
    }
}
