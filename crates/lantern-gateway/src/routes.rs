//! The handlers. Each one: who is calling, parse and check the input (every error names its
//! field), business checks that can answer at once (a paused campaign, a full shop), admission,
//! then the ledger, and the answer rendered from the ledger's outcome only, so a replay of an
//! idempotent request renders exactly the same body.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use lantern_admission::{Class, Ticket, TicketState};
use lantern_auth::{Claims, Role};
use lantern_core::{
    Address, CampaignId, CampaignSpec, Capacity, CatalogId, CouponTemplate, Eligibility, GeoPoint,
    IssuancePace, Merchant, MerchantError, MerchantId, MerchantStatus, Money, OrderChannel, OrderEvent,
    OrderId, QuoteId, ShopperId, Timestamp, Validity, Wait,
};
use lantern_ledger::{CampaignEdit, Command, Ledger, LedgerError, Outcome, QuoteStatus, QuoteView};
use serde::Deserialize;

use crate::app::{Answer, App, KeyedRequest, ReadIndex};
use crate::convert::*;
use crate::error::ApiError;
use crate::wire::*;

type AppState = State<Arc<App>>;
type Peer = ConnectInfo<SocketAddr>;
type Reply = Result<Response, ApiError>;

/// Most merchants or search hits in one answer.
const LIST_MAX: usize = 100;
/// Shops offered instead of a busy one.
const ALTERNATIVES_MAX: usize = 3;
/// Shops looked at, at most, for faster ones when one is busy (see `merchant_can_take`).
const ALTERNATIVES_SCANNED_MAX: usize = 64;
/// How far a faster shop offered instead of a busy one may be, for shops that said where they
/// are: a walk, or a short ride for a courier.
pub const NEARBY_RADIUS_M: u32 = 3_000;
/// On an answer that waited in line in the gateway: how long, in ms.
pub const WAITED_HEADER: &str = "lantern-waited-ms";
/// How often a waiting ticket's long poll or stream looks at its position; a promotion wakes
/// it at once.
const POSITION_REFRESH_MS: u64 = 1_000;

pub(crate) fn json(status: StatusCode, body: &impl serde::Serialize, replayed: bool) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    if replayed {
        response.headers_mut().insert(crate::error::REPLAYED_HEADER, HeaderValue::from_static("true"));
    }
    response
}

/// A keyed answer's outcome, or the refusal it was (marked replayed when it was).
fn settle(answer: Answer) -> Result<(Outcome, bool), ApiError> {
    match answer.result {
        Ok(outcome) => Ok((outcome, answer.replayed)),
        Err(error) => Err(ApiError { replayed: answer.replayed, ..ApiError::from(error) }),
    }
}

fn unexpected(outcome: &Outcome) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "unexpected_outcome",
        format!("the ledger answered {outcome:?}"),
    )
}

pub(crate) fn shopper_of(claims: &Claims) -> Result<ShopperId, ApiError> {
    match claims.role {
        Role::Shopper(shopper) => Ok(shopper),
        _ => Err(ApiError::forbidden("this endpoint is for shoppers; use a shopper token")),
    }
}

pub(crate) fn merchant_of(claims: &Claims) -> Result<MerchantId, ApiError> {
    match claims.role {
        Role::Merchant(merchant) => Ok(merchant),
        _ => Err(ApiError::forbidden("this endpoint is for merchants; use a merchant token for your shop")),
    }
}

pub(crate) fn operator_of(claims: &Claims) -> Result<(), ApiError> {
    match claims.role {
        Role::Operator => Ok(()),
        _ => Err(ApiError::forbidden("this endpoint is for operators; use an operator token")),
    }
}

// ---- system ---------------------------------------------------------------------------------

#[utoipa::path(get, path = "/healthz", tag = "system", responses((status = 200, body = HealthBody)))]
pub async fn healthz() -> Response {
    json(StatusCode::OK, &HealthBody::status("ok"), false)
}

#[utoipa::path(get, path = "/readyz", tag = "system",
    responses((status = 200, body = HealthBody), (status = 503, body = ErrorBody)))]
pub async fn readyz(State(app): AppState) -> Reply {
    if !app.ready.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(ApiError::unavailable("shutting_down", "this node is draining; use another", 5_000));
    }
    Ok(json(StatusCode::OK, &HealthBody::status("ready"), false))
}

#[utoipa::path(get, path = "/metrics", tag = "system",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain")))]
pub async fn metrics(State(app): AppState) -> Response {
    let admission = app.admission.lock().stats();
    let (budgets, orders_by_channel, webhook_backlog) = app.sequencer.read(|ledger| {
        let budgets = ledger
            .campaign_ids()
            .into_iter()
            .filter_map(|id| ledger.campaign_stats(id).map(|stats| (id.to_string(), stats.available.fen())))
            .collect::<Vec<_>>();
        (budgets, ledger.orders_by_channel(), app.webhooks.backlog(ledger))
    });
    let counters = app.sequencer.counters();
    let depth = app.sequencer.queue_depth();
    let mut text = app.metrics.render(&admission, counters, depth, &budgets, &orders_by_channel);
    app.webhooks.write_metrics(&mut text, webhook_backlog);
    if let Some(start) = app.start.get() {
        crate::metrics::write_start(&mut text, start);
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

// ---- browse ---------------------------------------------------------------------------------

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Case-insensitive part of the name.
    #[serde(default)]
    pub q: Option<String>,
    #[serde(default)]
    pub offset: Option<usize>,
    #[serde(default)]
    pub limit: Option<usize>,
}

#[utoipa::path(get, path = "/v1/merchants", tag = "shopper", params(ListQuery), security(("bearer" = [])),
    responses((status = 200, body = MerchantList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn list_merchants(
    State(app): AppState,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Reply {
    let claims = app.caller(&headers)?;
    let Query(query) = query.map_err(|error| ApiError::invalid("$query", error.body_text()))?;
    let _permit = app.admit(Class::Browse, shopper_id(&claims), peer.ip(), &headers)?;
    let needle = query.q.as_deref().map(str::to_lowercase);
    let limit = query.limit.unwrap_or(LIST_MAX).clamp(1, LIST_MAX);
    let ids = app.index.read().merchants.clone();
    let (merchants, has_more) = app.sequencer.read(|ledger| {
        let mut matching = ids.iter().filter_map(|id| {
            let (merchant, backlog, _) = ledger.merchant(*id)?;
            let wanted = needle.as_ref().is_none_or(|needle| merchant.name().to_lowercase().contains(needle));
            wanted.then(|| merchant_summary(merchant, backlog))
        });
        let page: Vec<_> = matching.by_ref().skip(query.offset.unwrap_or(0)).take(limit).collect();
        let has_more = matching.next().is_some();
        (page, has_more)
    });
    Ok(json(StatusCode::OK, &MerchantList { merchants, has_more }, false))
}

#[utoipa::path(get, path = "/v1/merchants/{merchant_id}/menu", tag = "shopper", security(("bearer" = [])),
    params(("merchant_id" = String, Path, description = "e.g. mer_1")),
    responses((status = 200, body = Menu), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn get_menu(
    State(app): AppState,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    Path(merchant_id): Path<String>,
) -> Reply {
    let claims = app.caller(&headers)?;
    let merchant = parse_id(MerchantId::parse, &merchant_id, "$path.merchant_id")?;
    let _permit = app.admit(Class::Browse, shopper_id(&claims), peer.ip(), &headers)?;
    let menu = app.sequencer.read(|ledger| {
        let summary = summary_of(ledger, merchant)?;
        let items = catalog_of(ledger, merchant)?.items().iter().map(menu_item).collect();
        Some(Menu { merchant: summary, items })
    });
    let menu = menu.ok_or_else(|| ApiError::not_found(format!("merchant {merchant} does not exist")))?;
    Ok(json(StatusCode::OK, &menu, false))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// What to look for, in English or Chinese: item names, aliases, options, shop names;
    /// misspellings are tolerated.
    pub q: String,
}

#[utoipa::path(get, path = "/v1/search", tag = "shopper", params(SearchQuery), security(("bearer" = [])),
    responses((status = 200, body = SearchResults), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn search(
    State(app): AppState,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    query: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> Reply {
    let claims = app.caller(&headers)?;
    let Query(query) = query.map_err(|error| ApiError::invalid("$query.q", error.body_text()))?;
    let needle = query.q.trim().to_lowercase();
    if needle.is_empty() || needle.chars().count() > 100 {
        return Err(ApiError::invalid("$query.q", "give 1..=100 characters to search for"));
    }
    let _permit = app.admit(Class::Browse, shopper_id(&claims), peer.ip(), &headers)?;
    // The search index (names, aliases, options, Chinese words, typos) finds the items; the
    // ledger gives their current menu entries.
    let found = app
        .catalogs
        .search(&needle, None, LIST_MAX)
        .map_err(|error| ApiError::invalid("$query.q", error.to_string()))?;
    let hits = app.sequencer.read(|ledger| {
        found
            .iter()
            .filter_map(|hit| {
                let item = catalog_of(ledger, hit.merchant)?.item(hit.item)?;
                Some(SearchHit {
                    merchant_id: hit.merchant.to_string(),
                    merchant_name: hit.merchant_name.clone(),
                    item: menu_item(item),
                })
            })
            .collect()
    });
    Ok(json(StatusCode::OK, &SearchResults { hits }, false))
}

fn shopper_id(claims: &Claims) -> Option<ShopperId> {
    match claims.role {
        Role::Shopper(shopper) => Some(shopper),
        _ => None,
    }
}

#[utoipa::path(get, path = "/v1/campaigns", tag = "shopper", security(("bearer" = [])),
    responses((status = 200, body = CampaignList), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn list_campaigns(State(app): AppState, ConnectInfo(peer): Peer, headers: HeaderMap) -> Reply {
    let claims = app.caller(&headers)?;
    let _permit = app.admit(Class::Browse, shopper_id(&claims), peer.ip(), &headers)?;
    let now = app.now();
    let campaigns = app.sequencer.read(|ledger| {
        ledger
            .campaign_ids()
            .into_iter()
            .filter_map(|id| ledger.campaign(id).map(|campaign| campaign_body(campaign, now)))
            .collect()
    });
    Ok(json(StatusCode::OK, &CampaignList { campaigns }, false))
}

// ---- coupons --------------------------------------------------------------------------------

/// Refuses at once, without queueing, what the ledger would refuse anyway.
fn campaign_open(
    ledger: &Ledger,
    campaign: CampaignId,
    now: lantern_core::Timestamp,
) -> Result<(), ApiError> {
    let stats = ledger
        .campaign_stats(campaign)
        .ok_or_else(|| ApiError::not_found(format!("campaign {campaign} does not exist")))?;
    let refusal = match stats.status {
        lantern_core::CampaignStatus::Paused => Some(LedgerError::CampaignPaused(campaign)),
        lantern_core::CampaignStatus::Ended => Some(LedgerError::CampaignEnded(campaign)),
        lantern_core::CampaignStatus::Active if now < stats.starts_at => {
            Some(LedgerError::CampaignNotStarted { campaign, starts_at: stats.starts_at })
        }
        lantern_core::CampaignStatus::Active if stats.available < stats.face_value => {
            // As the ledger answers: a node of a cluster whose lease is spent while the central
            // pool still has budget says "try again" (its next lease is on the way), not "gone".
            Some(match ledger.campaign_lease(campaign) {
                Some(lease) if !lease.pool_drained => LedgerError::LeaseExhausted {
                    campaign,
                    retry_after_ms: lantern_ledger::LEASE_RETRY_AFTER_MS,
                },
                _ => LedgerError::BudgetExhausted {
                    campaign,
                    available: stats.available,
                    needed: stats.face_value,
                },
            })
        }
        lantern_core::CampaignStatus::Active => None,
    };
    refusal.map_or(Ok(()), |error| Err(error.into()))
}

#[utoipa::path(post, path = "/v1/campaigns/{campaign_id}/claim", tag = "shopper", security(("bearer" = [])),
    params(("campaign_id" = String, Path, description = "e.g. cmp_1"), ("Idempotency-Key" = String, Header, description = "unique per intended request")),
    request_body(content = ClaimRequest, description = "may be empty: {}"),
    responses((status = 201, body = ClaimResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn claim(
    State(app): AppState,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    Path(campaign_id): Path<String>,
    body: Bytes,
) -> Reply {
    let claims = app.caller(&headers)?;
    let shopper = shopper_of(&claims)?;
    let keyed = KeyedRequest::from_request(
        &claims,
        &headers,
        &format!("POST /v1/campaigns/{campaign_id}/claim"),
        &body,
    )?;
    let campaign = parse_id(CampaignId::parse, &campaign_id, "$path.campaign_id")?;
    let request: ClaimRequest = if body.is_empty() { ClaimRequest::default() } else { parse_json(&body)? };
    let referred_by = match &request.referred_by {
        Some(text) => Some(parse_id(ShopperId::parse, text, "$.referred_by")?),
        None => None,
    };
    let now = app.now();
    app.sequencer.read(|ledger| campaign_open(ledger, campaign, now))?;
    let answer = app
        .run_keyed(
            Class::Claim,
            Some(shopper),
            peer.ip(),
            &headers,
            &keyed,
            Command::ClaimCoupon { shopper, campaign, referred_by },
        )
        .await?;
    let (outcome, replayed) = settle(answer)?;
    let Outcome::CouponClaimed { coupon, face_value, newly_claimed, referral_bonus } = outcome else {
        return Err(unexpected(&outcome));
    };
    // From the outcome, not the wallet now, so a replay shows what the claim answered.
    let expires_at = app
        .sequencer
        .read(|ledger| ledger.campaign(campaign).map(|campaign| campaign.spec().validity.ends_at()))
        .unwrap_or(lantern_core::Timestamp::EPOCH);
    let entry = CouponBody {
        id: coupon_id_text(coupon),
        campaign_id: campaign.to_string(),
        status: lantern_core::CouponStatus::Claimed.as_str().into(),
        face_value: face_value.fen(),
        currency: CURRENCY.into(),
        referral: false,
        expires_at: expires_at.to_string(),
    };
    let body =
        ClaimResponse { coupon: entry, newly_claimed, referral_bonus: referral_bonus.map(coupon_id_text) };
    Ok(json(StatusCode::CREATED, &body, replayed))
}

#[utoipa::path(get, path = "/v1/wallet", tag = "shopper", security(("bearer" = [])),
    responses((status = 200, body = WalletBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn wallet(State(app): AppState, ConnectInfo(peer): Peer, headers: HeaderMap) -> Reply {
    let claims = app.caller(&headers)?;
    let shopper = shopper_of(&claims)?;
    let _permit = app.admit(Class::Browse, Some(shopper), peer.ip(), &headers)?;
    let coupons = app.sequencer.read(|ledger| ledger.wallet(shopper)).iter().map(coupon_body).collect();
    Ok(json(StatusCode::OK, &WalletBody { coupons }, false))
}

// ---- checkout sessions ----------------------------------------------------------------------

/// A busy or paused shop answers at once, before anything is queued, with shops of the same
/// menu that can make it sooner.
pub(crate) fn merchant_can_take(
    ledger: &Ledger,
    index: &ReadIndex,
    merchant: MerchantId,
    placing_at: Option<Timestamp>,
) -> Result<(), ApiError> {
    let (shop, backlog, _) = ledger
        .merchant(merchant)
        .ok_or_else(|| ApiError::not_found(format!("merchant {merchant} does not exist")))?;
    let eta_ms = match placing_at {
        // An order placed now needs a slot of the shop's rate too; without this check the
        // refusal costs a journal write and a place in the ledger's batch.
        Some(now) => match ledger.order_slot_at(merchant, now) {
            Ok(_) => return Ok(()),
            Err(LedgerError::MerchantBusy { eta_ms, .. }) => eta_ms,
            Err(other) => return Err(other.into()),
        },
        // A quote takes no slot: the shop only has to be open with room in its kitchen.
        None => match shop.status {
            MerchantStatus::Paused => return Err(LedgerError::MerchantPaused(merchant).into()),
            MerchantStatus::Open if backlog < shop.capacity.open_orders_max() => return Ok(()),
            MerchantStatus::Open | MerchantStatus::Busy => shop.capacity.eta_ms(backlog),
        },
    };
    // Faster shops of the same menu: within NEARBY_RADIUS_M of a shop that said where it is,
    // else among those registered next to it (ids near its own); either way at most
    // ALTERNATIVES_SCANNED_MAX looked at, so a busy answer costs the same at 300,000 shops as
    // at 30, even when none is faster.
    let nearby: Cow<'_, [MerchantId]> = match shop.location {
        Some(at) => Cow::Owned(index.near(at, NEARBY_RADIUS_M, ALTERNATIVES_SCANNED_MAX)),
        None => {
            let ids = &index.merchants;
            let at = ids.partition_point(|id| *id < merchant);
            let first = at
                .saturating_sub(ALTERNATIVES_SCANNED_MAX / 2)
                .min(ids.len().saturating_sub(ALTERNATIVES_SCANNED_MAX));
            Cow::Borrowed(&ids[first..(first + ALTERNATIVES_SCANNED_MAX).min(ids.len())])
        }
    };
    // (ETA, distance, shop) of each faster one; from a shop that said where it is, only shops
    // that did too and lie within the radius, each measured once.
    let mut faster: Vec<(u64, Option<u32>, MerchantId)> = nearby
        .iter()
        .filter(|id| **id != merchant)
        .filter_map(|id| {
            let (other, other_backlog, _) = ledger.merchant(*id)?;
            let other_eta_ms = other.capacity.eta_ms(other_backlog);
            let can_take = other.catalog == shop.catalog
                && other.status == MerchantStatus::Open
                && other_backlog < other.capacity.open_orders_max()
                && other_eta_ms < eta_ms;
            if !can_take {
                return None;
            }
            let distance_m = match shop.location {
                Some(here) => {
                    let metres = here.distance_m(other.location?);
                    if metres > NEARBY_RADIUS_M {
                        return None;
                    }
                    Some(metres)
                }
                None => None,
            };
            Some((other_eta_ms, distance_m, other.id))
        })
        .collect();
    faster.sort_unstable();
    let alternatives: Vec<MerchantSummary> = faster
        .iter()
        .take(ALTERNATIVES_MAX)
        .filter_map(|(_, distance_m, id)| {
            let (other, other_backlog, _) = ledger.merchant(*id)?;
            Some(MerchantSummary { distance_m: *distance_m, ..merchant_summary(other, other_backlog) })
        })
        .collect();
    let mut error = ApiError::from(LedgerError::MerchantBusy { merchant, eta_ms });
    error.message = match alternatives.first() {
        Some(best) => format!(
            "{} is busy, about {}; {}{} can make it in about {}",
            shop.name(),
            Wait::from_ms(eta_ms),
            best.name,
            best.distance_m.map(|metres| format!(" ({metres} m away)")).unwrap_or_default(),
            Wait::from_ms(best.eta_ms)
        ),
        None => format!("{} is busy, about {}", shop.name(), Wait::from_ms(eta_ms)),
    };
    error.alternatives = alternatives;
    Err(error)
}

struct SessionParts<'a> {
    quote: QuoteId,
    status: &'static str,
    merchant: MerchantId,
    lines: &'a [lantern_core::pricing::PricedLine],
    subtotal: Money,
    discount: Money,
    coupon: Option<lantern_core::CouponId>,
    expires_at: lantern_core::Timestamp,
    merchant_eta_ms: Option<u64>,
    code: Option<String>,
    rejected: Vec<RejectedDiscountBody>,
    order: Option<OrderBody>,
}

fn session(ledger: &Ledger, parts: SessionParts<'_>) -> CheckoutSession {
    let total = parts.subtotal.fen() - parts.discount.fen();
    let mut totals = vec![TotalBody {
        kind: "subtotal".into(),
        display_text: "Subtotal 小计".into(),
        amount: parts.subtotal.fen(),
    }];
    if parts.discount.fen() > 0 {
        totals.push(TotalBody {
            kind: "discount".into(),
            display_text: "Coupon 优惠".into(),
            amount: parts.discount.fen(),
        });
    }
    totals.push(TotalBody { kind: "total".into(), display_text: "Total 合计".into(), amount: total });
    let applied = parts
        .coupon
        .map(|coupon| AppliedDiscountBody {
            id: coupon_id_text(coupon),
            code: parts.code.clone(),
            campaign_id: coupon.campaign.to_string(),
            amount: parts.discount.fen(),
            automatic: parts.code.is_none(),
        })
        .into_iter()
        .collect();
    let messages = parts
        .rejected
        .iter()
        .map(|rejected| MessageBody {
            kind: "warning".into(),
            code: rejected.reason.clone(),
            content: rejected.message.clone(),
        })
        .collect();
    CheckoutSession {
        id: session_id(parts.quote),
        status: parts.status.into(),
        currency: CURRENCY.into(),
        merchant_id: parts.merchant.to_string(),
        line_items: line_items(catalog_of(ledger, parts.merchant), parts.lines),
        totals,
        discounts: DiscountsBody {
            codes: parts
                .code
                .clone()
                .into_iter()
                .chain(parts.rejected.iter().map(|r| r.code.clone()))
                .collect(),
            applied,
            rejected: parts.rejected,
        },
        messages,
        expires_at: parts.expires_at.to_string(),
        merchant_eta_ms: parts.merchant_eta_ms,
        order: parts.order,
    }
}

fn session_from_view(
    ledger: &Ledger,
    view: &QuoteView,
    code: Option<String>,
    mut rejected: Vec<RejectedDiscountBody>,
) -> CheckoutSession {
    rejected.extend(view.rejected_coupons.iter().map(|coupon| RejectedDiscountBody {
        code: code.clone().unwrap_or_else(|| coupon.campaign.to_string()),
        reason: coupon.reason.as_str().into(),
        message: format!("the coupon of {} does not apply: {}", coupon.campaign, coupon.reason.as_str()),
    }));
    session(
        ledger,
        SessionParts {
            quote: view.quote,
            status: "ready_for_payment",
            merchant: view.merchant,
            lines: &view.lines,
            subtotal: view.subtotal,
            discount: view.discount,
            coupon: view.coupon,
            expires_at: view.expires_at,
            merchant_eta_ms: Some(view.merchant_eta_ms),
            code: if view.coupon.is_some() { code } else { None },
            rejected,
            order: None,
        },
    )
}

#[utoipa::path(post, path = "/v1/checkout_sessions", tag = "shopper", security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "unique per intended request")),
    request_body = CheckoutCreateRequest,
    responses((status = 201, body = CheckoutSession), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn create_checkout(
    State(app): AppState,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let claims = app.caller(&headers)?;
    let shopper = shopper_of(&claims)?;
    let keyed = KeyedRequest::from_request(&claims, &headers, "POST /v1/checkout_sessions", &body)?;
    let request: CheckoutCreateRequest = parse_json(&body)?;
    let call = SessionCall { app: &app, shopper, ip: peer.ip(), headers: &headers, keyed: &keyed };
    let (body, replayed) = create_session(&call, &request).await?;
    Ok(json(StatusCode::CREATED, &body, replayed))
}

/// Who asks for a checkout step, from where, with which key: what every step needs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SessionCall<'a> {
    pub app: &'a Arc<App>,
    pub shopper: ShopperId,
    pub ip: std::net::IpAddr,
    pub headers: &'a HeaderMap,
    pub keyed: &'a KeyedRequest,
}

/// Creates a checkout session (a quote holding its coupon): the work behind
/// `POST /v1/checkout_sessions` and the Agentic Commerce Protocol's create. Returns the session
/// and whether it was a replay.
pub(crate) async fn create_session(
    call: &SessionCall<'_>,
    request: &CheckoutCreateRequest,
) -> Result<(CheckoutSession, bool), ApiError> {
    let SessionCall { app, shopper, ip, headers, keyed } = *call;
    let merchant = parse_id(MerchantId::parse, &request.merchant_id, "$.merchant_id")?;
    let lines = cart_lines(&request.line_items, "$.line_items")?;
    // The index's lock before the ledger's, as everywhere: taken the other way round, two
    // readers and two waiting writers could wait on each other.
    let (choice, code, rejected) = {
        let index = app.index.read();
        app.sequencer.read(|ledger| {
            merchant_can_take(ledger, &index, merchant, None)?;
            Ok::<_, ApiError>(coupon_choice(ledger, request.discounts.as_ref()))
        })?
    };
    let answer = app
        .run_keyed(
            Class::Checkout,
            Some(shopper),
            ip,
            headers,
            keyed,
            Command::Quote { shopper, merchant, lines, coupon: choice },
        )
        .await?;
    quoted(app, answer, code, rejected)
}

/// A quote's answer as a checkout session.
fn quoted(
    app: &App,
    answer: Answer,
    code: Option<String>,
    rejected: Vec<RejectedDiscountBody>,
) -> Result<(CheckoutSession, bool), ApiError> {
    let (outcome, replayed) = settle(answer)?;
    let Outcome::Quoted(view) = outcome else { return Err(unexpected(&outcome)) };
    Ok((app.sequencer.read(|ledger| session_from_view(ledger, &view, code, rejected)), replayed))
}

#[utoipa::path(post, path = "/v1/checkout_sessions/{checkout_session_id}", tag = "shopper", security(("bearer" = [])),
    params(("checkout_session_id" = String, Path, description = "e.g. cs_12"), ("Idempotency-Key" = String, Header, description = "unique per intended request")),
    request_body = CheckoutUpdateRequest,
    responses((status = 200, body = CheckoutSession), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn update_checkout(
    State(app): AppState,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    Path(session): Path<String>,
    body: Bytes,
) -> Reply {
    let claims = app.caller(&headers)?;
    let shopper = shopper_of(&claims)?;
    let keyed = KeyedRequest::from_request(
        &claims,
        &headers,
        &format!("POST /v1/checkout_sessions/{session}"),
        &body,
    )?;
    let quote = parse_session_id(&session)?;
    let request: CheckoutUpdateRequest = parse_json(&body)?;
    let call = SessionCall { app: &app, shopper, ip: peer.ip(), headers: &headers, keyed: &keyed };
    let (body, replayed) = update_session(&call, quote, &request).await?;
    Ok(json(StatusCode::OK, &body, replayed))
}

/// Re-prices an open checkout session with new lines or codes (the work behind both APIs'
/// update).
pub(crate) async fn update_session(
    call: &SessionCall<'_>,
    quote: QuoteId,
    request: &CheckoutUpdateRequest,
) -> Result<(CheckoutSession, bool), ApiError> {
    let SessionCall { app, shopper, ip, headers, keyed } = *call;
    let session = session_id(quote);
    let new_lines = match &request.line_items {
        Some(items) => Some(cart_lines(items, "$.line_items")?),
        None => None,
    };
    let (lines, choice, code, rejected) = app.sequencer.read(|ledger| {
        let record =
            ledger.quote_record(quote).filter(|record| record.shopper == shopper).ok_or_else(|| {
                ApiError::not_found(format!("checkout session {session} does not exist or is not open"))
            })?;
        let lines = new_lines.unwrap_or_else(|| cart_of(&record.lines));
        let (choice, code, rejected) = match &request.discounts {
            Some(discounts) => coupon_choice(ledger, Some(discounts)),
            None => (lantern_ledger::CouponChoice::Best, None, Vec::new()),
        };
        Ok::<_, ApiError>((lines, choice, code, rejected))
    })?;
    let answer = app
        .run_keyed(
            Class::Checkout,
            Some(shopper),
            ip,
            headers,
            keyed,
            Command::Requote { shopper, quote, lines, coupon: choice },
        )
        .await?;
    quoted(app, answer, code, rejected)
}

#[utoipa::path(get, path = "/v1/checkout_sessions/{checkout_session_id}", tag = "shopper", security(("bearer" = [])),
    params(("checkout_session_id" = String, Path, description = "e.g. cs_12")),
    responses((status = 200, body = CheckoutSession), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn get_checkout(
    State(app): AppState,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    Path(session_text): Path<String>,
) -> Reply {
    let claims = app.caller(&headers)?;
    let shopper = shopper_of(&claims)?;
    let quote = parse_session_id(&session_text)?;
    let _permit = app.admit(Class::Browse, Some(shopper), peer.ip(), &headers)?;
    Ok(json(StatusCode::OK, &read_session(&app, shopper, quote)?, false))
}

/// A checkout session as it is now: open, completed (with its order), canceled or expired.
pub(crate) fn read_session(
    app: &App,
    shopper: ShopperId,
    quote: QuoteId,
) -> Result<CheckoutSession, ApiError> {
    let placed = app.index.read().order_by_quote.get(&quote).copied();
    let body = app.sequencer.read(|ledger| render_session(ledger, shopper, quote, placed, false));
    body.ok_or_else(|| ApiError::not_found(format!("checkout session {} does not exist", session_id(quote))))
}

/// An order as its placement answered it (status `placed`), whatever happened to it since:
/// what a replay of the placing request must show.
fn placed_order_body(catalog: Option<&lantern_core::Catalog>, view: &lantern_ledger::OrderView) -> OrderBody {
    let mut body = crate::convert::order_body_in(catalog, view);
    body.status = lantern_core::OrderStatus::Placed.as_str().into();
    body.updated_at.clone_from(&body.created_at);
    body
}

fn render_session(
    ledger: &Ledger,
    shopper: ShopperId,
    quote: QuoteId,
    placed: Option<OrderId>,
    as_placed: bool,
) -> Option<CheckoutSession> {
    if let Some(view) =
        placed.and_then(|order| ledger.order(order)).filter(|view| view.receipt.shopper == shopper)
    {
        let receipt = view.receipt;
        return Some(session(
            ledger,
            SessionParts {
                quote,
                status: "completed",
                merchant: receipt.merchant,
                lines: &view.lines,
                subtotal: receipt.subtotal,
                discount: receipt.discount,
                coupon: receipt.coupon,
                expires_at: receipt.placed_at,
                merchant_eta_ms: None,
                code: None,
                rejected: Vec::new(),
                order: Some(if as_placed {
                    placed_order_body(catalog_of(ledger, receipt.merchant), view)
                } else {
                    order_body(ledger, view)
                }),
            },
        ));
    }
    let record = ledger.quote_record(quote).filter(|record| record.shopper == shopper)?;
    let status = match record.status {
        QuoteStatus::Open => "ready_for_payment",
        QuoteStatus::Canceled => "canceled",
        QuoteStatus::Expired | QuoteStatus::Superseded => "expired",
    };
    Some(session(
        ledger,
        SessionParts {
            quote,
            status,
            merchant: record.merchant,
            lines: &record.lines,
            subtotal: record.subtotal,
            discount: record.discount,
            coupon: record.coupon,
            expires_at: record.expires_at,
            merchant_eta_ms: summary_of(ledger, record.merchant).map(|summary| summary.eta_ms),
            code: None,
            rejected: Vec::new(),
            order: None,
        },
    ))
}

#[utoipa::path(post, path = "/v1/checkout_sessions/{checkout_session_id}/complete", tag = "shopper", security(("bearer" = [])),
    params(("checkout_session_id" = String, Path, description = "e.g. cs_12"), ("Idempotency-Key" = String, Header, description = "unique per intended request")),
    request_body(content = serde_json::Value, description = "ignored; may be {}"),
    responses((status = 200, body = CheckoutSession), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn complete_checkout(
    State(app): AppState,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    Path(session_text): Path<String>,
    body: Bytes,
) -> Reply {
    session_step(&app, peer, &headers, &session_text, &body, Step::Complete).await
}

/// The last steps of a session, which take no input.
#[derive(Clone, Copy, Debug)]
enum Step {
    Complete,
    Cancel,
}

/// `POST /v1/checkout_sessions/{id}/complete` and `.../cancel`.
async fn session_step(
    app: &Arc<App>,
    peer: SocketAddr,
    headers: &HeaderMap,
    session_text: &str,
    body: &[u8],
    step: Step,
) -> Reply {
    let claims = app.caller(headers)?;
    let shopper = shopper_of(&claims)?;
    let verb = match step {
        Step::Complete => "complete",
        Step::Cancel => "cancel",
    };
    let path = format!("POST /v1/checkout_sessions/{session_text}/{verb}");
    let keyed = KeyedRequest::from_request(&claims, headers, &path, body)?;
    let quote = parse_session_id(session_text)?;
    ignore_body(body)?;
    let call = SessionCall { app, shopper, ip: peer.ip(), headers, keyed: &keyed };
    let (body, replayed) = match step {
        Step::Complete => complete_session(&call, quote, OrderChannel::Api).await?,
        Step::Cancel => cancel_session(&call, quote).await?,
    };
    Ok(json(StatusCode::OK, &body, replayed))
}

/// Places the order of an open checkout session (the work behind both APIs' complete); the
/// answer shows the order as placed, so a replay renders the same body.
pub(crate) async fn complete_session(
    call: &SessionCall<'_>,
    quote: QuoteId,
    channel: OrderChannel,
) -> Result<(CheckoutSession, bool), ApiError> {
    let SessionCall { app, shopper, ip, headers, keyed } = *call;
    shop_can_take_session(app, shopper, quote, keyed)?;
    let command = Command::PlaceOrder { shopper, quote, idempotency_key: keyed.key.clone(), channel };
    let answer = app.run_keyed(Class::CompleteCheckout, Some(shopper), ip, headers, keyed, command).await?;
    let (outcome, replayed) = settle(answer)?;
    let Outcome::OrderPlaced { receipt, .. } = outcome else { return Err(unexpected(&outcome)) };
    app.index.write().record_order(&receipt);
    let body = app.sequencer.read(|ledger| render_session(ledger, shopper, quote, Some(receipt.order), true));
    let body = body.ok_or_else(|| {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "order_missing", "the placed order is not readable")
    })?;
    Ok((body, replayed))
}

/// Turns a session's completion away at once, before admission and the ledger, when its shop
/// has no order slot now (with faster shops to try), as a coupon order is. A repeat of a
/// request the ledger keeps goes to the ledger, which replays it.
fn shop_can_take_session(
    app: &App,
    shopper: ShopperId,
    quote: QuoteId,
    keyed: &KeyedRequest,
) -> Result<(), ApiError> {
    shop_can_take_quote(app, shopper, quote, |ledger| {
        ledger.kept_request_fingerprint(keyed.scope, &keyed.key).is_some()
    })
}

/// Whether the shop of `shopper`'s quote has an order slot now, checked as placing the quote
/// would check it, before anything is queued; busy, the refusal names faster shops. Only the
/// shop is refused here: a quote the ledger would refuse for itself (unknown, expired, its
/// coupon expired) is left to the ledger, whose answer comes first, and so is a `repeat` (the
/// order it placed may be what fills the shop now).
pub(crate) fn shop_can_take_quote(
    app: &App,
    shopper: ShopperId,
    quote: QuoteId,
    repeat: impl FnOnce(&Ledger) -> bool,
) -> Result<(), ApiError> {
    let now = app.now();
    let index = app.index.read();
    app.sequencer.read(|ledger| {
        if repeat(ledger) {
            return Ok(());
        }
        match ledger.placeable_at(shopper, quote, now) {
            Ok(merchant) => merchant_can_take(ledger, &index, merchant, Some(now)),
            Err(_) => Ok(()),
        }
    })
}

#[utoipa::path(post, path = "/v1/checkout_sessions/{checkout_session_id}/cancel", tag = "shopper", security(("bearer" = [])),
    params(("checkout_session_id" = String, Path, description = "e.g. cs_12"), ("Idempotency-Key" = String, Header, description = "unique per intended request")),
    request_body(content = serde_json::Value, description = "ignored; may be {}"),
    responses((status = 200, body = CheckoutSession), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn cancel_checkout(
    State(app): AppState,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    Path(session_text): Path<String>,
    body: Bytes,
) -> Reply {
    session_step(&app, peer, &headers, &session_text, &body, Step::Cancel).await
}

/// Cancels an open checkout session, giving its coupon back to the wallet.
pub(crate) async fn cancel_session(
    call: &SessionCall<'_>,
    quote: QuoteId,
) -> Result<(CheckoutSession, bool), ApiError> {
    let SessionCall { app, shopper, ip, headers, keyed } = *call;
    let answer = app
        .run_keyed(
            Class::Checkout,
            Some(shopper),
            ip,
            headers,
            keyed,
            Command::CancelQuote { shopper, quote },
        )
        .await?;
    let (outcome, replayed) = settle(answer)?;
    let Outcome::QuoteCanceled { .. } = outcome else { return Err(unexpected(&outcome)) };
    let body = app.sequencer.read(|ledger| render_session(ledger, shopper, quote, None, false));
    let body = body.ok_or_else(|| {
        ApiError::not_found(format!("checkout session {} does not exist", session_id(quote)))
    })?;
    Ok((body, replayed))
}

/// One request that claims the coupon, quotes the cart with it and places the order: what a
/// shopper's agent does in one step, and what the HTTP benchmark measures.
#[utoipa::path(post, path = "/v1/coupon_orders", tag = "shopper", security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "unique per intended order")),
    request_body = CouponOrderRequest,
    responses((status = 201, body = OrderBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn coupon_order(
    State(app): AppState,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let claims = app.caller(&headers)?;
    let shopper = shopper_of(&claims)?;
    // The command is built before admission, so that a request held in line can have it
    // submitted for it at its turn (`App::admit_and_submit`); and a shopper who would be queued
    // for a closed campaign or a full shop is told that instead.
    let keyed = KeyedRequest::from_request(&claims, &headers, "POST /v1/coupon_orders", &body)?;
    let request: CouponOrderRequest = parse_json(&body)?;
    let (campaign, merchant) = coupon_order_target(&app, &request, &keyed)?;
    let lines = cart_lines(&request.line_items, "$.line_items")?;
    // Claim, quote and order are one ledger command: one journal entry, one durable round trip,
    // and a retry under the same key replays the whole answer.
    let command = Command::CouponOrder {
        shopper,
        campaign,
        merchant,
        lines,
        idempotency_key: keyed.key.clone(),
        channel: OrderChannel::Api,
    };
    let (answer, waited_ms) =
        app.admit_and_submit(Class::Checkout, Some(shopper), peer.ip(), &headers, &keyed, command).await?;
    let (outcome, replayed) = settle(answer)?;
    let Outcome::OrderPlaced { receipt, .. } = outcome else { return Err(unexpected(&outcome)) };
    app.index.write().record_order(&receipt);
    // Copied out under the ledger's read lock (the order's lines and catalog are shared), the
    // body built after it: formatting under the lock kept the applier's write waiting.
    let placed = app.sequencer.read(|ledger| {
        ledger
            .order(receipt.order)
            .map(|view| (view.clone(), shared_catalog_of(ledger, view.receipt.merchant)))
    });
    let body = placed.map(|(view, catalog)| placed_order_body(catalog.as_deref(), &view));
    let body = body.ok_or_else(|| {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "order_missing", "the placed order is not readable")
    })?;
    let mut response = json(StatusCode::CREATED, &body, replayed);
    if waited_ms > 0 {
        response.headers_mut().insert(WAITED_HEADER, axum::http::HeaderValue::from(waited_ms));
    }
    Ok(response)
}

/// The campaign and shop of a coupon order, refused at once when the campaign cannot give a
/// coupon or the shop has no order slot now (with faster shops to try). A repeat of a request
/// the ledger keeps is not checked: the ledger replays its first answer (or refuses another
/// body under the key), and the order it placed may be what fills the shop or spends the
/// budget now.
fn coupon_order_target(
    app: &App,
    request: &CouponOrderRequest,
    keyed: &KeyedRequest,
) -> Result<(CampaignId, MerchantId), ApiError> {
    let campaign = parse_id(CampaignId::parse, &request.campaign_id, "$.campaign_id")?;
    let merchant = parse_id(MerchantId::parse, &request.merchant_id, "$.merchant_id")?;
    let now = app.now();
    let index = app.index.read();
    app.sequencer.read(|ledger| {
        if ledger.kept_request_fingerprint(keyed.scope, &keyed.key).is_some() {
            return Ok(());
        }
        campaign_open(ledger, campaign, now)?;
        merchant_can_take(ledger, &index, merchant, Some(now))
    })?;
    Ok((campaign, merchant))
}

// ---- orders ---------------------------------------------------------------------------------

/// A page of a shopper's or a shop's orders, newest first (`GET /v1/orders`,
/// `GET /v1/merchant/orders`), as Stripe's lists page: `limit`, then `starting_after` the last
/// order of the page before.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OrderPageQuery {
    /// Orders per page, 1 to 100 (default 100; outside that range, the nearest end).
    #[serde(default)]
    pub limit: Option<usize>,
    /// The id of the last order of the previous page (its `next_starting_after`), e.g. `ord_9`:
    /// list the orders placed before it.
    #[serde(default)]
    pub starting_after: Option<String>,
}

/// One page of `ids` (oldest first, as recorded) for `query`. Slices the list in place under
/// the index's read lock: a busy shop's list is never copied whole.
fn order_page(
    app: &App,
    ids: impl FnOnce(&ReadIndex) -> Option<&Vec<OrderId>>,
    query: &OrderPageQuery,
) -> Result<OrderList, ApiError> {
    let limit = query.limit.unwrap_or(LIST_MAX).clamp(1, LIST_MAX);
    let after = query
        .starting_after
        .as_deref()
        .map(|text| parse_id(OrderId::parse, text, "$query.starting_after"))
        .transpose()?;
    let (page, has_more) = {
        let index = app.index.read();
        let ids = ids(&index).map_or(&[][..], Vec::as_slice);
        // Recorded in the order answers came back, which concurrent requests may swap: found by
        // position, not by a search on the id.
        let end = match after {
            None => ids.len(),
            Some(after) => ids.iter().rposition(|id| *id == after).ok_or_else(|| {
                ApiError::invalid(
                    "$query.starting_after",
                    "names no order in this list; pass the next_starting_after of the page before, or leave it out for the newest orders",
                )
            })?,
        };
        let page: Vec<OrderId> = ids[..end].iter().rev().take(limit).copied().collect();
        (page, end > limit)
    };
    let orders =
        app.sequencer.read(|ledger| page.iter().filter_map(|order| order_of(ledger, *order)).collect());
    let next_starting_after = page.last().filter(|_| has_more).map(ToString::to_string);
    Ok(OrderList { orders, has_more, next_starting_after })
}

#[utoipa::path(get, path = "/v1/orders", tag = "shopper", params(OrderPageQuery), security(("bearer" = [])),
    responses((status = 200, body = OrderList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn list_orders(
    State(app): AppState,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    query: Result<Query<OrderPageQuery>, axum::extract::rejection::QueryRejection>,
) -> Reply {
    let claims = app.caller(&headers)?;
    let shopper = shopper_of(&claims)?;
    let Query(query) = query.map_err(|error| ApiError::invalid("$query", error.body_text()))?;
    let _permit = app.admit(Class::Browse, Some(shopper), peer.ip(), &headers)?;
    let list = order_page(&app, |index| index.orders_by_shopper.get(&shopper), &query)?;
    Ok(json(StatusCode::OK, &list, false))
}

#[utoipa::path(get, path = "/v1/orders/{order_id}", tag = "shopper", security(("bearer" = [])),
    params(("order_id" = String, Path, description = "e.g. ord_9")),
    responses((status = 200, body = OrderBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn get_order(
    State(app): AppState,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    Path(order_text): Path<String>,
) -> Reply {
    let claims = app.caller(&headers)?;
    let order = parse_id(OrderId::parse, &order_text, "$path.order_id")?;
    let _permit = app.admit(Class::Browse, shopper_id(&claims), peer.ip(), &headers)?;
    // A shopper sees their own orders and a merchant its shop's; nobody else's, and a
    // foreign order reads as absent rather than forbidden, so ids cannot be probed.
    let body = app.sequencer.read(|ledger| {
        let view = ledger.order(order)?;
        let visible = match claims.role {
            Role::Shopper(shopper) => view.receipt.shopper == shopper,
            Role::Merchant(merchant) => view.receipt.merchant == merchant,
            Role::Operator => true,
        };
        visible.then(|| order_body(ledger, view))
    });
    let body = body
        .ok_or_else(|| ApiError::not_found(format!("order {order_text} does not exist or is not yours")))?;
    Ok(json(StatusCode::OK, &body, false))
}

#[utoipa::path(post, path = "/v1/orders/{order_id}/cancel", tag = "shopper", security(("bearer" = [])),
    params(("order_id" = String, Path, description = "e.g. ord_9"), ("Idempotency-Key" = String, Header, description = "unique per intended request")),
    request_body(content = serde_json::Value, description = "ignored; may be {}"),
    responses((status = 200, body = OrderBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn cancel_order(
    State(app): AppState,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    Path(order_text): Path<String>,
    body: Bytes,
) -> Reply {
    let claims = app.caller(&headers)?;
    let shopper = shopper_of(&claims)?;
    let keyed = KeyedRequest::from_request(
        &claims,
        &headers,
        &format!("POST /v1/orders/{order_text}/cancel"),
        &body,
    )?;
    let order = parse_id(OrderId::parse, &order_text, "$path.order_id")?;
    ignore_body(&body)?;
    let answer = app
        .run_keyed(
            Class::Checkout,
            Some(shopper),
            peer.ip(),
            &headers,
            &keyed,
            Command::CancelOrder { shopper, order },
        )
        .await?;
    advance_reply(&app, answer, order)
}

fn advance_reply(app: &Arc<App>, answer: Answer, order: OrderId) -> Reply {
    let (outcome, replayed) = settle(answer)?;
    let Outcome::OrderAdvanced { status, updated_at, .. } = outcome else { return Err(unexpected(&outcome)) };
    // The order as this answer saw it: a replay gets the first answer's body even after the shop
    // moved the order on.
    let body = app.sequencer.read(|ledger| crate::convert::order_as_of(ledger, order, status, updated_at));
    let body = body.ok_or_else(|| ApiError::not_found(format!("order {order} is no longer kept")))?;
    Ok(json(StatusCode::OK, &body, replayed))
}

// ---- merchant -------------------------------------------------------------------------------

#[utoipa::path(post, path = "/v1/merchant/catalog", tag = "merchant", security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "unique per intended request")),
    request_body(content = String, description = "the menu in Lantern's JSON format (application/json) or CSV (text/csv); see crates/lantern-catalog-io/FORMAT.md"),
    responses((status = 201, body = CatalogUploaded), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn upload_catalog(
    State(app): AppState,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let claims = app.caller(&headers)?;
    let merchant = merchant_of(&claims)?;
    let keyed = KeyedRequest::from_request(&claims, &headers, "POST /v1/merchant/catalog", &body)?;
    let catalog_id =
        app.sequencer.read(|ledger| ledger.merchant(merchant).map(|(shop, ..)| shop.catalog)).ok_or_else(
            || ApiError::not_found(format!("merchant {merchant} is not registered; ask an operator")),
        )?;
    publish_menu(&app, peer, &headers, &keyed, catalog_id, &body).await
}

#[utoipa::path(post, path = "/v1/catalogs/{catalog_id}", tag = "operator", security(("bearer" = [])),
    params(("catalog_id" = String, Path, description = "e.g. cat_7: a new menu, or a new version of one"), ("Idempotency-Key" = String, Header, description = "unique per intended request")),
    request_body(content = String, description = "the menu in Lantern's JSON format (application/json) or CSV (text/csv); see crates/lantern-catalog-io/FORMAT.md"),
    responses((status = 201, body = CatalogUploaded), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
/// An operator publishes a menu under a catalog id, so that a new shop can be registered with
/// it (`POST /v1/merchants` needs a published menu; afterwards the shop's merchant keeps it up
/// to date with `POST /v1/merchant/catalog`).
pub async fn publish_catalog(
    State(app): AppState,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    Path(catalog_id): Path<String>,
    body: Bytes,
) -> Reply {
    let claims = app.caller(&headers)?;
    operator_of(&claims)?;
    let catalog_id = parse_id(CatalogId::parse, &catalog_id, "$path.catalog_id")?;
    let keyed =
        KeyedRequest::from_request(&claims, &headers, &format!("POST /v1/catalogs/{catalog_id}"), &body)?;
    publish_menu(&app, peer, &headers, &keyed, catalog_id, &body).await
}

/// Parses a menu (JSON or CSV by `Content-Type`) as `catalog_id` and publishes it.
async fn publish_menu(
    app: &Arc<App>,
    peer: std::net::SocketAddr,
    headers: &HeaderMap,
    keyed: &KeyedRequest,
    catalog_id: CatalogId,
    body: &[u8],
) -> Reply {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or("");
    let text =
        std::str::from_utf8(body).map_err(|_| ApiError::invalid("$", "the menu must be UTF-8 text"))?;
    let menu = if content_type.starts_with("text/csv") {
        lantern_catalog_io::parse_csv(catalog_id, text)
    } else if content_type.starts_with("application/json") {
        lantern_catalog_io::parse_json(catalog_id, text)
    } else {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the menu as application/json or text/csv",
        ));
    };
    let menu = menu.map_err(|error| {
        ApiError::invalid(error.location().unwrap_or_else(|| "$".into()), error.to_string())
            .with_code(error.code())
    })?;
    let answer = app
        .run_keyed(
            Class::Checkout,
            None,
            peer.ip(),
            headers,
            keyed,
            Command::PublishCatalog { catalog: Arc::new(menu.catalog().clone()) },
        )
        .await?;
    let (outcome, replayed) = settle(answer)?;
    let Outcome::CatalogPublished { catalog, n_items } = outcome else { return Err(unexpected(&outcome)) };
    if !replayed {
        app.catalogs.menu_published(&app.sequencer, catalog, menu);
    }
    Ok(json(
        StatusCode::CREATED,
        &CatalogUploaded { catalog_id: catalog.to_string(), items: n_items },
        replayed,
    ))
}

fn merchant_update(app: &Arc<App>, answer: Answer, merchant: MerchantId) -> Reply {
    let (outcome, replayed) = settle(answer)?;
    let Outcome::MerchantUpdated { .. } = outcome else { return Err(unexpected(&outcome)) };
    let body = app.sequencer.read(|ledger| summary_of(ledger, merchant));
    let body = body.ok_or_else(|| ApiError::not_found(format!("merchant {merchant} does not exist")))?;
    Ok(json(StatusCode::OK, &body, replayed))
}

#[utoipa::path(post, path = "/v1/merchant/status", tag = "merchant", security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "unique per intended request")),
    request_body = MerchantStatusRequest,
    responses((status = 200, body = MerchantSummary), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn set_status(
    State(app): AppState,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let claims = app.caller(&headers)?;
    let merchant = merchant_of(&claims)?;
    let keyed = KeyedRequest::from_request(&claims, &headers, "POST /v1/merchant/status", &body)?;
    let request: MerchantStatusRequest = parse_json(&body)?;
    let status = match request.status.as_str() {
        "open" => MerchantStatus::Open,
        "busy" => MerchantStatus::Busy,
        "paused" => MerchantStatus::Paused,
        other => {
            return Err(ApiError::invalid(
                "$.status",
                format!("{other:?} is not a status; use open, busy or paused"),
            ));
        }
    };
    let answer = app
        .run_keyed(
            Class::Checkout,
            None,
            peer.ip(),
            &headers,
            &keyed,
            Command::SetMerchantStatus { merchant, status },
        )
        .await?;
    merchant_update(&app, answer, merchant)
}

#[utoipa::path(post, path = "/v1/merchant/capacity", tag = "merchant", security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "unique per intended request")),
    request_body = CapacityRequest,
    responses((status = 200, body = MerchantSummary), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn set_capacity(
    State(app): AppState,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let claims = app.caller(&headers)?;
    let merchant = merchant_of(&claims)?;
    let keyed = KeyedRequest::from_request(&claims, &headers, "POST /v1/merchant/capacity", &body)?;
    let request: CapacityRequest = parse_json(&body)?;
    let capacity = Capacity::new(request.orders_per_minute, request.open_orders_max)
        .map_err(|error| ApiError::invalid("$", error.to_string()))?;
    let answer = app
        .run_keyed(
            Class::Checkout,
            None,
            peer.ip(),
            &headers,
            &keyed,
            Command::SetMerchantCapacity { merchant, capacity },
        )
        .await?;
    merchant_update(&app, answer, merchant)
}

#[utoipa::path(get, path = "/v1/merchant/orders", tag = "merchant", params(OrderPageQuery), security(("bearer" = [])),
    responses((status = 200, body = OrderList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn merchant_orders(
    State(app): AppState,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    query: Result<Query<OrderPageQuery>, axum::extract::rejection::QueryRejection>,
) -> Reply {
    let claims = app.caller(&headers)?;
    let merchant = merchant_of(&claims)?;
    let Query(query) = query.map_err(|error| ApiError::invalid("$query", error.body_text()))?;
    let _permit = app.admit(Class::Browse, None, peer.ip(), &headers)?;
    let list = order_page(&app, |index| index.orders_by_merchant.get(&merchant), &query)?;
    Ok(json(StatusCode::OK, &list, false))
}

#[utoipa::path(post, path = "/v1/merchant/orders/{order_id}/{event}", tag = "merchant", security(("bearer" = [])),
    params(("order_id" = String, Path, description = "e.g. ord_9"), ("event" = String, Path, description = "accept, reject, ready, dispatch or deliver"),
        ("Idempotency-Key" = String, Header, description = "unique per intended request")),
    request_body(content = serde_json::Value, description = "ignored; may be {}"),
    responses((status = 200, body = OrderBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn advance_order(
    State(app): AppState,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    Path((order_text, event_text)): Path<(String, String)>,
    body: Bytes,
) -> Reply {
    let claims = app.caller(&headers)?;
    let merchant = merchant_of(&claims)?;
    let keyed = KeyedRequest::from_request(
        &claims,
        &headers,
        &format!("POST /v1/merchant/orders/{order_text}/{event_text}"),
        &body,
    )?;
    let order = parse_id(OrderId::parse, &order_text, "$path.order_id")?;
    let event = match event_text.as_str() {
        "accept" => OrderEvent::Accept,
        "reject" => OrderEvent::Reject,
        "ready" => OrderEvent::Ready,
        "dispatch" => OrderEvent::Dispatch,
        "deliver" => OrderEvent::Deliver,
        other => {
            return Err(ApiError::invalid(
                "$path.event",
                format!("{other:?} is not an order event; use accept, reject, ready, dispatch or deliver"),
            ));
        }
    };
    ignore_body(&body)?;
    let answer = app
        .run_keyed(
            Class::Checkout,
            None,
            peer.ip(),
            &headers,
            &keyed,
            Command::AdvanceOrder { merchant, order, event },
        )
        .await?;
    advance_reply(&app, answer, order)
}

// ---- operator -------------------------------------------------------------------------------

#[utoipa::path(post, path = "/v1/merchants", tag = "operator", security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "unique per intended request")),
    request_body = RegisterMerchantRequest,
    responses((status = 201, body = MerchantSummary), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn register_merchant(
    State(app): AppState,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let claims = app.caller(&headers)?;
    operator_of(&claims)?;
    let keyed = KeyedRequest::from_request(&claims, &headers, "POST /v1/merchants", &body)?;
    let request: RegisterMerchantRequest = parse_json(&body)?;
    let id = parse_id(MerchantId::parse, &request.id, "$.id")?;
    let catalog = parse_id(CatalogId::parse, &request.catalog_id, "$.catalog_id")?;
    let capacity = Capacity::new(request.orders_per_minute, request.open_orders_max)
        .map_err(|error| ApiError::invalid("$", error.to_string()))?;
    let mut merchant = Merchant::new(id, request.name, catalog, capacity)
        .map_err(|error| ApiError::invalid("$.name", error.to_string()))?;
    if let Some(location) = request.location {
        let point = GeoPoint::from_degrees(location.lat, location.lon)
            .map_err(|error| ApiError::invalid("$.location", error.to_string()))?;
        merchant = merchant.with_location(point);
    }
    if let Some(address) = request.address {
        let address =
            Address::new(address.line_one, address.city, address.state, address.country, address.postal_code)
                .map_err(|error| {
                    let param = match &error {
                        MerchantError::Address { field, .. } => format!("$.address.{field}"),
                        _ => "$.address".to_owned(),
                    };
                    ApiError::invalid(param, error.to_string())
                })?;
        merchant = merchant.with_address(address);
    }
    let answer = app
        .run_keyed(Class::Checkout, None, peer.ip(), &headers, &keyed, Command::RegisterMerchant { merchant })
        .await?;
    let (outcome, replayed) = settle(answer)?;
    let Outcome::MerchantRegistered { merchant } = outcome else { return Err(unexpected(&outcome)) };
    let (location, body) = app.sequencer.read(|ledger| {
        let location = ledger.merchant(merchant).and_then(|(shop, ..)| shop.location);
        (location, summary_of(ledger, merchant))
    });
    app.index.write().record_merchant(merchant, location);
    if !replayed {
        app.catalogs.merchant_registered(&app.sequencer, merchant);
    }
    let body = body.ok_or_else(|| ApiError::not_found(format!("merchant {merchant} does not exist")))?;
    Ok(json(StatusCode::CREATED, &body, replayed))
}

fn pace_of(pace: Option<&PaceRequest>) -> IssuancePace {
    match pace {
        Some(pace) if pace.coupons_per_s > 0 => IssuancePace::PerSecond {
            coupons_per_s: pace.coupons_per_s,
            burst: if pace.burst == 0 { pace.coupons_per_s } else { pace.burst },
        },
        _ => IssuancePace::Unlimited,
    }
}

fn money(fen: Option<i64>, param: &str) -> Result<Money, ApiError> {
    fen.map(Money::from_fen)
        .ok_or_else(|| ApiError::invalid(param, format!("this template needs {param} (in fen)")))
}

#[utoipa::path(post, path = "/v1/campaigns", tag = "operator", security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "unique per intended request")),
    request_body = CampaignCreateRequest,
    responses((status = 201, body = CampaignBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn create_campaign(
    State(app): AppState,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let claims = app.caller(&headers)?;
    operator_of(&claims)?;
    let keyed = KeyedRequest::from_request(&claims, &headers, "POST /v1/campaigns", &body)?;
    let request: CampaignCreateRequest = parse_json(&body)?;
    let template = match request.template.as_str() {
        "amount_off" => CouponTemplate::AmountOff { amount: money(request.amount, "$.amount")? },
        "percent_off" => CouponTemplate::PercentOff {
            percent_bp: request.percent_bp.ok_or_else(|| {
                ApiError::invalid("$.percent_bp", "percent_off needs percent_bp (1500 = 15 %)")
            })?,
            cap: money(request.cap, "$.cap")?,
        },
        "free_item" => CouponTemplate::FreeItem { up_to: money(request.up_to, "$.up_to")? },
        other => {
            return Err(ApiError::invalid(
                "$.template",
                format!("{other:?} is not a template; use amount_off, percent_off or free_item"),
            ));
        }
    };
    let merchants = request
        .merchants
        .iter()
        .enumerate()
        .map(|(index, text)| parse_id(MerchantId::parse, text, &format!("$.merchants[{index}]")))
        .collect::<Result<Vec<_>, _>>()?;
    let starts_at = parse_time(&request.starts_at, "$.starts_at")?;
    let ends_at = parse_time(&request.ends_at, "$.ends_at")?;
    let validity = Validity::new(starts_at, ends_at)
        .map_err(|error| ApiError::invalid("$.ends_at", error.to_string()))?;
    let spec = CampaignSpec {
        name: request.name,
        budget: Money::from_fen(request.budget),
        template,
        min_spend: Money::from_fen(request.min_spend),
        eligibility: Eligibility { merchants, categories: request.categories },
        per_shopper_limit: request.per_shopper_limit,
        referral_bonus_cap: request.referral_bonus_cap,
        validity,
        pace: pace_of(request.pace.as_ref()),
    };
    spec.validate().map_err(|error| ApiError::invalid("$", error.to_string()))?;
    let answer = app
        .run_keyed(Class::Checkout, None, peer.ip(), &headers, &keyed, Command::CreateCampaign { spec })
        .await?;
    let (outcome, replayed) = settle(answer)?;
    let Outcome::CampaignCreated { campaign } = outcome else { return Err(unexpected(&outcome)) };
    let now = app.now();
    let body =
        app.sequencer.read(|ledger| ledger.campaign(campaign).map(|campaign| campaign_body(campaign, now)));
    let body = body.ok_or_else(|| ApiError::not_found(format!("campaign {campaign} does not exist")))?;
    tracing::info!(campaign = %campaign, "campaign created");
    Ok(json(StatusCode::CREATED, &body, replayed))
}

async fn campaign_change(
    app: &Arc<App>,
    headers: &HeaderMap,
    peer: SocketAddr,
    campaign_text: &str,
    action: &str,
    body: &[u8],
    edit: impl FnOnce(&[u8]) -> Result<CampaignEdit, ApiError>,
) -> Reply {
    let claims = app.caller(headers)?;
    operator_of(&claims)?;
    let keyed = KeyedRequest::from_request(
        &claims,
        headers,
        &format!("POST /v1/campaigns/{campaign_text}/{action}"),
        body,
    )?;
    let campaign = parse_id(CampaignId::parse, campaign_text, "$path.campaign_id")?;
    let edit = edit(body)?;
    let answer = app
        .run_keyed(
            Class::Checkout,
            None,
            peer.ip(),
            headers,
            &keyed,
            Command::EditCampaign { campaign, edit: edit.clone() },
        )
        .await?;
    let (outcome, replayed) = settle(answer)?;
    let Outcome::CampaignEdited { .. } = outcome else { return Err(unexpected(&outcome)) };
    // Every operator change is audited: the dashboard's list and a log line (and durably, the
    // command itself in the journal).
    let detail = match &edit {
        CampaignEdit::SetEndsAt(ends_at) => format!("ends_at {ends_at}"),
        CampaignEdit::SetPace(IssuancePace::PerSecond { coupons_per_s, burst }) => {
            format!("pace {coupons_per_s} coupons/s, burst {burst}")
        }
        CampaignEdit::SetPace(pace) => format!("pace {pace:?}"),
        CampaignEdit::TopUp(amount) => format!("top_up {} fen", amount.fen()),
        CampaignEdit::Pause => "paused".to_owned(),
        CampaignEdit::Resume => "resumed".to_owned(),
        // Lease moves are the lease keeper's, never an operator's request (the API has no
        // field for them); named here so the audit line is still true if one is ever made.
        CampaignEdit::DrawFromLeases => "draws from leases".to_owned(),
        CampaignEdit::LeaseIn(amount) => format!("lease_in {} fen", amount.fen()),
        CampaignEdit::LeaseOut(amount) => format!("lease_out {} fen", amount.fen()),
    };
    let change = crate::live::AuditChange { action, campaign: Some(campaign_text), detail, replayed };
    app.live.audit(&claims, peer, change, app.now());
    let body = app.sequencer.read(|ledger| stats_body(ledger, campaign, app.now()));
    let body = body.ok_or_else(|| ApiError::not_found(format!("campaign {campaign} does not exist")))?;
    Ok(json(StatusCode::OK, &body, replayed))
}

#[utoipa::path(post, path = "/v1/campaigns/{campaign_id}/edit", tag = "operator", security(("bearer" = [])),
    params(("campaign_id" = String, Path, description = "e.g. cmp_1"), ("Idempotency-Key" = String, Header, description = "unique per intended request")),
    request_body = CampaignEditRequest,
    responses((status = 200, body = CampaignStatsBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn edit_campaign(
    State(app): AppState,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    Path(campaign): Path<String>,
    body: Bytes,
) -> Reply {
    campaign_change(&app, &headers, peer, &campaign, "edit", &body, |body| {
        let request: CampaignEditRequest = parse_json(body)?;
        match (request.ends_at, request.pace, request.top_up) {
            (Some(ends_at), None, None) => Ok(CampaignEdit::SetEndsAt(parse_time(&ends_at, "$.ends_at")?)),
            (None, Some(pace), None) => Ok(CampaignEdit::SetPace(pace_of(Some(&pace)))),
            (None, None, Some(top_up)) if top_up > 0 => Ok(CampaignEdit::TopUp(Money::from_fen(top_up))),
            (None, None, Some(_)) => {
                Err(ApiError::invalid("$.top_up", "a top-up must be a positive amount in fen"))
            }
            _ => Err(ApiError::invalid("$", "give exactly one of ends_at, pace or top_up")),
        }
    })
    .await
}

#[utoipa::path(post, path = "/v1/campaigns/{campaign_id}/pause", tag = "operator", security(("bearer" = [])),
    params(("campaign_id" = String, Path, description = "e.g. cmp_1"), ("Idempotency-Key" = String, Header, description = "unique per intended request")),
    request_body(content = serde_json::Value, description = "ignored; may be {}"),
    responses((status = 200, body = CampaignStatsBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn pause_campaign(
    State(app): AppState,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    Path(campaign): Path<String>,
    body: Bytes,
) -> Reply {
    campaign_change(&app, &headers, peer, &campaign, "pause", &body, |body| {
        ignore_body(body)?;
        Ok(CampaignEdit::Pause)
    })
    .await
}

#[utoipa::path(post, path = "/v1/campaigns/{campaign_id}/resume", tag = "operator", security(("bearer" = [])),
    params(("campaign_id" = String, Path, description = "e.g. cmp_1"), ("Idempotency-Key" = String, Header, description = "unique per intended request")),
    request_body(content = serde_json::Value, description = "ignored; may be {}"),
    responses((status = 200, body = CampaignStatsBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn resume_campaign(
    State(app): AppState,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    Path(campaign): Path<String>,
    body: Bytes,
) -> Reply {
    campaign_change(&app, &headers, peer, &campaign, "resume", &body, |body| {
        ignore_body(body)?;
        Ok(CampaignEdit::Resume)
    })
    .await
}

pub(crate) fn ignore_body(body: &[u8]) -> Result<(), ApiError> {
    if !body.is_empty() {
        let _: serde_json::Value = parse_json(body)?;
    }
    Ok(())
}

fn stats_body(
    ledger: &Ledger,
    campaign: CampaignId,
    now: lantern_core::Timestamp,
) -> Option<CampaignStatsBody> {
    let stats = ledger.campaign_stats(campaign)?;
    Some(CampaignStatsBody {
        campaign: campaign_body(ledger.campaign(campaign)?, now),
        budget_total: stats.budget_total.fen(),
        budget_available: stats.available.fen(),
        in_wallets: stats.wallets.fen(),
        held: stats.held.fen(),
        redeemed: stats.redeemed.fen(),
        settled: stats.settled.fen(),
        coupons_issued: stats.n_issued,
        coupons_redeemed: stats.n_redeemed,
    })
}

#[utoipa::path(get, path = "/v1/campaigns/{campaign_id}/stats", tag = "operator", security(("bearer" = [])),
    params(("campaign_id" = String, Path, description = "e.g. cmp_1")),
    responses((status = 200, body = CampaignStatsBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn campaign_stats(
    State(app): AppState,
    headers: HeaderMap,
    Path(campaign_text): Path<String>,
) -> Reply {
    let claims = app.caller(&headers)?;
    operator_of(&claims)?;
    let campaign = parse_id(CampaignId::parse, &campaign_text, "$path.campaign_id")?;
    let now = app.now();
    let body = app.sequencer.read(|ledger| stats_body(ledger, campaign, now));
    let body = body.ok_or_else(|| ApiError::not_found(format!("campaign {campaign_text} does not exist")))?;
    Ok(json(StatusCode::OK, &body, false))
}

#[utoipa::path(get, path = "/v1/stats", tag = "operator", security(("bearer" = [])),
    responses((status = 200, body = GatewayStatsBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn gateway_stats(State(app): AppState, headers: HeaderMap) -> Reply {
    let claims = app.caller(&headers)?;
    operator_of(&claims)?;
    let admission = app.admission.lock().stats();
    let now = app.now();
    let (campaigns, orders_by_channel, webhooks) = app.sequencer.read(|ledger| {
        let campaigns =
            ledger.campaign_ids().into_iter().filter_map(|id| stats_body(ledger, id, now)).collect();
        (campaigns, channel_orders_bodies(ledger), app.webhooks.body(ledger))
    });
    let counters = app.sequencer.counters();
    let body = GatewayStatsBody {
        concurrency_limit: admission.limit,
        in_flight: admission.in_flight,
        drain_per_s: admission.drain_per_s,
        promotion_lead: admission.promotion_lead,
        classes: Class::ALL
            .iter()
            .map(|class| {
                let stats = &admission.per_class[class.index()];
                ClassStatsBody {
                    class: class.as_str().into(),
                    admitted: stats.admitted,
                    queued: stats.queued,
                    shed: stats.shed,
                    waiting: stats.waiting,
                }
            })
            .collect(),
        ledger_queue_depth: app.sequencer.queue_depth() as u64,
        ledger_batches: counters.n_batches.load(std::sync::atomic::Ordering::Relaxed),
        ledger_commands: counters.n_commands.load(std::sync::atomic::Ordering::Relaxed),
        orders_by_channel,
        campaigns,
        webhooks,
    };
    Ok(json(StatusCode::OK, &body, false))
}

// ---- waiting room ---------------------------------------------------------------------------

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PollQuery {
    /// Hold the answer up to this long (long poll) until the position changes; 0 answers at once.
    #[serde(default)]
    pub wait_ms: Option<u64>,
    /// The position the caller last saw; the long poll answers as soon as it differs.
    #[serde(default)]
    pub position: Option<u64>,
}

fn ticket_state(app: &App, ticket: &str) -> Result<(Ticket, TicketState), ApiError> {
    let now = app.now();
    let signed = app
        .signer
        .verify_ticket(ticket, now)
        .map_err(|error| ApiError::invalid("$path.ticket", error.to_string()).with_code(error.code()))?;
    let class = Class::ALL
        .get(usize::from(signed.class))
        .copied()
        .ok_or_else(|| ApiError::invalid("$path.ticket", "the ticket names no known class"))?;
    let ticket = Ticket { class, seq: signed.seq, issued_at_ms: signed.issued_at.unix_ms() };
    let state = app.admission.lock().poll(ticket, now.unix_ms());
    Ok((ticket, state))
}

fn ticket_body(state: TicketState) -> TicketStatusBody {
    match state {
        TicketState::Waiting { position, eta_ms } => {
            TicketStatusBody { status: "waiting".into(), position, eta_ms, admitted_until: None }
        }
        TicketState::Admitted { until_ms } => TicketStatusBody {
            status: "admitted".into(),
            position: 0,
            eta_ms: 0,
            admitted_until: Some(lantern_core::Timestamp::from_ms(until_ms).to_string()),
        },
        TicketState::Gone => {
            TicketStatusBody { status: "gone".into(), position: 0, eta_ms: 0, admitted_until: None }
        }
    }
}

/// Where a ticket stands: at once, as a long poll (`wait_ms`), or as a stream of server-sent
/// events (`Accept: text/event-stream`) that ends when the ticket is admitted or gone.
#[utoipa::path(get, path = "/v1/waiting_room/{ticket}", tag = "shopper", params(("ticket" = String, Path, description = "the signed ticket from a 429 answer"), PollQuery),
    responses((status = 200, body = TicketStatusBody, description = "JSON, or text/event-stream of the same objects"), (status = 400, body = ErrorBody)))]
pub async fn poll_ticket(
    State(app): AppState,
    headers: HeaderMap,
    Path(ticket_text): Path<String>,
    query: Result<Query<PollQuery>, axum::extract::rejection::QueryRejection>,
) -> Reply {
    let Query(query) = query.map_err(|error| ApiError::invalid("$query", error.body_text()))?;
    let (ticket, state) = ticket_state(&app, &ticket_text)?;
    let wants_stream = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains("text/event-stream"));
    if wants_stream {
        return Ok(ticket_stream(app, ticket, state).into_response());
    }
    let wait_ms = query.wait_ms.unwrap_or(0).min(app.config.long_poll_ms);
    if wait_ms == 0 {
        return Ok(json(StatusCode::OK, &ticket_body(state), false));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_millis(wait_ms);
    // Without `position` the poll waits for a change from where the ticket stands now.
    let seen = query.position.or(match state {
        TicketState::Waiting { position, .. } => Some(position),
        _ => None,
    });
    let waiter = app.wait_on(ticket);
    // Registered: a promotion from here on wakes this poll. One that came just before is seen here.
    let mut state = app.admission.lock().peek(ticket);
    loop {
        let settled = match state {
            TicketState::Waiting { position, .. } => seen.is_none_or(|seen| moved_enough(seen, position)),
            TicketState::Admitted { .. } | TicketState::Gone => true,
        };
        let now = tokio::time::Instant::now();
        if settled || now >= deadline {
            return Ok(json(StatusCode::OK, &ticket_body(state), false));
        }
        crate::app::next_ticket_change(
            waiter.as_ref(),
            deadline.min(now + Duration::from_millis(POSITION_REFRESH_MS)),
        )
        .await;
        state = app.admission.lock().poll(ticket, app.now().unix_ms());
    }
}

/// Whether a waiting ticket's position moved enough to be worth an answer: by a tenth, or by
/// any amount near the front. Under a fast drain positions change every millisecond, and an
/// answer per change would make the waiting room a load of its own.
fn moved_enough(seen: u64, position: u64) -> bool {
    seen.abs_diff(position) >= (seen / 10).max(1)
}

fn ticket_stream(
    app: Arc<App>,
    ticket: Ticket,
    first: TicketState,
) -> Sse<impl futures_util::Stream<Item = Result<Event, std::convert::Infallible>>> {
    let lifetime = Duration::from_millis(app.config.sse_lifetime_ms);
    let keepalive = Duration::from_millis(app.config.sse_keepalive_ms);
    let ends_at = tokio::time::Instant::now() + lifetime;
    let waiter = app.wait_on(ticket);
    let stream = futures_util::stream::unfold(
        (app, waiter, Some(first), None::<TicketState>, false),
        move |(app, waiter, next, last, done)| async move {
            if done {
                return None;
            }
            let mut state = match next {
                Some(state) => state,
                None => app.admission.lock().poll(ticket, app.now().unix_ms()),
            };
            // Send only changes worth sending; between them, wait for a promotion or the next
            // refresh (keep-alive comments keep the line up).
            while !worth_an_event(last, state) && tokio::time::Instant::now() < ends_at {
                let refresh = tokio::time::Instant::now() + Duration::from_millis(POSITION_REFRESH_MS);
                crate::app::next_ticket_change(waiter.as_ref(), refresh.min(ends_at)).await;
                state = app.admission.lock().poll(ticket, app.now().unix_ms());
            }
            let finished =
                !matches!(state, TicketState::Waiting { .. }) || tokio::time::Instant::now() >= ends_at;
            let event = Event::default().event("ticket").json_data(ticket_body(state)).unwrap_or_default();
            Some((Ok(event), (app, waiter, None, Some(state), finished)))
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::new().interval(keepalive))
}

fn worth_an_event(last: Option<TicketState>, state: TicketState) -> bool {
    match (last, state) {
        (None, _) => true,
        (Some(TicketState::Waiting { position: seen, .. }), TicketState::Waiting { position, .. }) => {
            moved_enough(seen, position)
        }
        (Some(last), state) => last != state,
    }
}
