//! What the web pages watch live: the operator's dashboard snapshot (`/v1/ops/live`), a shop's
//! incoming orders (`/v1/merchant/live`), a shopper's orders (`/v1/orders/live`), the audit
//! list of operator changes, and guest shopper tokens for the demo chat page.
//!
//! Each live endpoint answers one JSON object, or, with `Accept: text/event-stream`, a stream of
//! them that sends a new one only when something changed (or every snapshot interval for the
//! dashboard) and ends after `limits.sse_lifetime_ms` (the page reconnects). Streams are counted
//! and capped ([`LIVE_STREAMS_MAX`]); the dashboard snapshot is computed at most once per
//! [`SNAPSHOT_MIN_INTERVAL_MS`] however many dashboards watch, and its rates come from a bounded
//! ring of samples ([`RATE_SAMPLES_MAX`]). No floats: rates are integers per second or per-mille.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use lantern_admission::Class;
use lantern_agent::TurnOutcome;
use lantern_auth::{Claims, Role};
use lantern_core::{MerchantId, OrderId, ShopperId, Timestamp};
use parking_lot::Mutex;
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::App;
use crate::convert::{order_of, summary_of};
use crate::error::ApiError;
use crate::routes::{json, merchant_of, operator_of};
use crate::wire::{ErrorBody, MerchantSummary, OrderBody};

/// Live streams open at once, over every kind; past it a page is told to retry.
pub const LIVE_STREAMS_MAX: usize = 10_000;
/// The dashboard's snapshot is recomputed at most this often; watchers share it.
pub const SNAPSHOT_MIN_INTERVAL_MS: u64 = 500;
/// How often a dashboard stream sends a snapshot.
pub const SNAPSHOT_STREAM_INTERVAL_MS: u64 = 1_000;
/// How often a merchant's or shopper's stream looks for changed orders.
pub const ORDERS_POLL_MS: u64 = 500;
/// Samples kept for rates (one per snapshot): with the minimum interval, about 10 s of history.
pub const RATE_SAMPLES_MAX: usize = 20;
/// Rates are taken over at most this window.
pub const RATE_WINDOW_MS: u64 = 10_000;
/// Operator changes kept for the dashboard (each is also a structured log line).
pub const AUDIT_ENTRIES_MAX: usize = 200;
/// Audit entries sent in a snapshot.
pub const AUDIT_SHOWN_MAX: usize = 20;
/// Most backlogged shops shown.
pub const BACKLOGGED_SHOWN_MAX: usize = 5;
/// Shops looked at per hold of the ledger's read lock when finding the most backlogged.
pub const BACKLOG_SCAN_CHUNK: usize = 4_096;
/// Orders in a merchant's live list (newest first).
pub const MERCHANT_LIVE_ORDERS_MAX: usize = 50;
/// Orders in a shopper's live list (newest first).
pub const SHOPPER_LIVE_ORDERS_MAX: usize = 20;
/// How long a guest shopper token lives.
pub const GUEST_TOKEN_TTL_MS: u64 = 12 * 60 * 60 * 1000;
/// Guest shopper ids start here, far above the ids the demo and tests use.
const GUEST_SHOPPER_ID_BASE: u64 = 1 << 50;

/// Counters and lists the live views need that no other part keeps.
#[derive(Debug, Default)]
pub struct Live {
    /// Chat turns answered, turns the language model was asked, and turns it fell back from.
    pub n_chat_turns: AtomicU64,
    pub n_llm_calls: AtomicU64,
    pub n_llm_fallbacks: AtomicU64,
    n_streams: AtomicUsize,
    n_guest_tokens: AtomicU64,
    audit: Mutex<VecDeque<AuditEntry>>,
    samples: Mutex<Samples>,
}

#[derive(Debug, Default)]
struct Samples {
    ring: VecDeque<Sample>,
    last: Option<(u64, OpsSnapshot)>,
}

/// Cumulative figures at one moment; rates are differences between two.
#[derive(Clone, Debug, Default)]
struct Sample {
    at_ms: u64,
    n_orders: u64,
    per_class: [(u64, u64, u64); 5],
    latency_buckets: Vec<u64>,
    /// Per campaign: fen given out (budget total minus available), so a top-up is not a burn.
    given_out_fen: Vec<(String, i64)>,
}

/// What an operator changed, for [`Live::audit`].
#[derive(Debug)]
pub struct AuditChange<'a> {
    pub action: &'a str,
    /// The campaign changed; none for an action on the whole gateway (a backup).
    pub campaign: Option<&'a str>,
    pub detail: String,
    pub replayed: bool,
}

/// One operator change, as the dashboard lists it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    /// RFC 3339.
    pub at: String,
    /// Who: the role, when their token was issued (tokens carry no name), and their address.
    pub who: String,
    /// `pause`, `resume` or `edit` (a campaign), or `backup` (the journal).
    pub action: String,
    /// The campaign changed; null for a backup.
    pub campaign_id: Option<String>,
    /// What changed, e.g. `top_up 1000000 fen`.
    pub detail: String,
    /// A repeat of an earlier request (same idempotency key): recorded, changed nothing.
    pub replayed: bool,
}

impl Live {
    /// Feeds the dashboard's model figures from one chat turn.
    pub fn record_turn(&self, outcome: &TurnOutcome) {
        self.n_chat_turns.fetch_add(1, Ordering::Relaxed);
        // A turn asked the model when the model answered or when it fell back after being asked
        // (a saturated or open-circuit model is not asked, but counts as a fallback).
        if outcome.used_llm || outcome.llm_fallback.is_some() {
            self.n_llm_calls.fetch_add(1, Ordering::Relaxed);
        }
        if !outcome.used_llm && outcome.llm_fallback.is_some() {
            self.n_llm_fallbacks.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records an operator change (bounded: the oldest entry goes) and logs it.
    pub fn audit(&self, claims: &Claims, peer: SocketAddr, change: AuditChange<'_>, now: Timestamp) {
        let AuditChange { action, campaign, detail, replayed } = change;
        let role = match claims.role {
            Role::Operator => "operator".to_owned(),
            other => other.to_string(),
        };
        let who = format!("{role} (token issued {}) from {}", claims.issued_at, peer.ip());
        match campaign {
            Some(campaign) => {
                tracing::info!(who, action, campaign, detail, replayed, "audit: campaign changed")
            }
            None => tracing::info!(who, action, detail, replayed, "audit: gateway action"),
        }
        let mut audit = self.audit.lock();
        if audit.len() >= AUDIT_ENTRIES_MAX {
            audit.pop_front();
        }
        audit.push_back(AuditEntry {
            at: now.to_string(),
            who,
            action: action.to_owned(),
            campaign_id: campaign.map(str::to_owned),
            detail,
            replayed,
        });
    }

    fn open_stream(self: &Arc<Self>) -> Result<StreamSlot, ApiError> {
        let n_open = self.n_streams.fetch_add(1, Ordering::Relaxed);
        let slot = StreamSlot { live: Arc::clone(self) };
        if n_open >= LIVE_STREAMS_MAX {
            return Err(ApiError::unavailable(
                "live_streams_full",
                format!(
                    "{LIVE_STREAMS_MAX} live views are open; retry shortly or fetch once without streaming"
                ),
                5_000,
            ));
        }
        Ok(slot)
    }
}

/// One open live stream; closing it frees its place.
#[derive(Debug)]
struct StreamSlot {
    live: Arc<Live>,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.live.n_streams.fetch_sub(1, Ordering::Relaxed);
    }
}

// ---- wire shapes -----------------------------------------------------------------------------

/// Admission figures of one class: totals since start and rates over the last window.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ClassLive {
    pub class: String,
    pub admitted: u64,
    pub queued: u64,
    pub shed: u64,
    /// Tickets waiting now.
    pub waiting: u64,
    pub admitted_per_s: u64,
    pub queued_per_s: u64,
    pub shed_per_s: u64,
}

/// A campaign's budget and how fast it burns.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CampaignLive {
    pub id: String,
    pub name: String,
    /// `scheduled`, `active`, `paused` or `ended`.
    pub status: String,
    pub budget_total: i64,
    pub budget_available: i64,
    /// Fen given out per second over the last window (claims minus returns).
    pub burn_fen_per_s: i64,
    /// When the budget runs out at that rate (RFC 3339), or none when it is not burning.
    pub exhausts_at: Option<String>,
    pub ends_at: String,
    /// Coupon money sitting in wallets (claimed), held by quotes, and redeemed by orders (fen).
    pub claimed_fen: i64,
    pub held_fen: i64,
    pub redeemed_fen: i64,
    pub coupons_issued: u64,
    pub coupons_redeemed: u64,
    pub face_value: i64,
}

/// The language model's share of chat turns.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LlmLive {
    pub chat_turns: u64,
    pub llm_calls: u64,
    pub fallbacks: u64,
    /// Fallbacks per thousand model calls.
    pub fallback_permille: u64,
    /// Whether a model is configured at all.
    pub configured: bool,
}

/// Everything the operator's dashboard shows at one moment.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct OpsSnapshot {
    /// RFC 3339.
    pub at: String,
    pub uptime_ms: u64,
    pub orders_total: u64,
    /// Orders placed since the journal began, by channel (the API, the chat, agents over ACP).
    pub orders_by_channel: Vec<crate::wire::ChannelOrdersBody>,
    /// ACP order webhooks, when they are on (null when off).
    pub webhooks: Option<crate::wire::WebhooksBody>,
    /// The running or latest backup of the journal since the start (null before the first).
    pub backup: Option<crate::wire::BackupBody>,
    /// How this process's start went (the journal's replay, and when it answered for real).
    pub start: Option<crate::wire::StartBody>,
    /// Whether this gateway can back its journal up (`POST /v1/ops/backups`).
    pub backups_on: bool,
    /// Orders placed per second over the last window (to the thousandth: `orders_per_ks`).
    pub orders_per_s: u64,
    pub orders_per_ks: u64,
    /// Request latency percentiles over the last window, as bucket upper bounds (µs).
    pub latency_p50_us: u64,
    pub latency_p99_us: u64,
    pub concurrency_limit: u32,
    pub in_flight: u32,
    pub ledger_queue_depth: u64,
    pub classes: Vec<ClassLive>,
    pub campaigns: Vec<CampaignLive>,
    pub llm: LlmLive,
    pub backlogged_merchants: Vec<MerchantSummary>,
    pub audit: Vec<AuditEntry>,
}

/// A shop's live view: itself and its newest orders.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MerchantLive {
    pub merchant: MerchantSummary,
    pub orders: Vec<OrderBody>,
}

/// A shopper's newest orders.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ShopperLive {
    pub shopper_id: String,
    pub orders: Vec<OrderBody>,
}

/// A guest shopper's token for the demo chat page.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct GuestToken {
    pub token: String,
    pub shopper_id: String,
    /// RFC 3339.
    pub expires_at: String,
}

// ---- the dashboard snapshot ------------------------------------------------------------------

fn sample_now(app: &App, now_ms: u64, campaigns: &[(String, i64)]) -> Sample {
    let admission = app.admission.lock().stats();
    let mut per_class = [(0, 0, 0); 5];
    for class in Class::ALL {
        let stats = &admission.per_class[class.index()];
        per_class[class.index()] = (stats.admitted, stats.queued, stats.shed);
    }
    Sample {
        at_ms: now_ms,
        n_orders: app.index.read().order_by_quote.len() as u64,
        per_class,
        latency_buckets: app.metrics.latency_buckets(),
        given_out_fen: campaigns.to_vec(),
    }
}

/// `delta` per second over `elapsed_ms`, rounded down; 0 without elapsed time.
fn per_s(delta: u64, elapsed_ms: u64) -> u64 {
    delta.saturating_mul(1_000).checked_div(elapsed_ms).unwrap_or(0)
}

/// The upper bound of the bucket holding the `permille`-th request of the window.
fn percentile_us(bounds: &[u64], counts: &[u64], permille: u64) -> u64 {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return 0;
    }
    let rank = (total * permille).div_ceil(1_000).max(1);
    let mut seen = 0;
    for (index, count) in counts.iter().enumerate() {
        seen += count;
        if seen >= rank {
            return bounds.get(index).or(bounds.last()).copied().unwrap_or_default();
        }
    }
    bounds.last().copied().unwrap_or_default()
}

/// The dashboard's snapshot, shared by every watcher for [`SNAPSHOT_MIN_INTERVAL_MS`].
pub fn ops_snapshot(app: &App) -> OpsSnapshot {
    let now = app.now();
    let now_ms = now.unix_ms();
    {
        let samples = app.live.samples.lock();
        if let Some((at_ms, snapshot)) = &samples.last
            && now_ms.saturating_sub(*at_ms) < SNAPSHOT_MIN_INTERVAL_MS
        {
            return snapshot.clone();
        }
    }
    let (stats, orders_by_channel, webhooks) = app.sequencer.read(|ledger| {
        let stats = ledger
            .campaign_ids()
            .into_iter()
            .filter_map(|id| {
                Some((ledger.campaign_stats(id)?, crate::convert::campaign_body(ledger.campaign(id)?, now)))
            })
            .collect::<Vec<_>>();
        (stats, crate::convert::channel_orders_bodies(ledger), app.webhooks.body(ledger))
    });
    let given_out: Vec<(String, i64)> = stats
        .iter()
        .map(|(stats, _)| (stats.campaign.to_string(), stats.budget_total.fen() - stats.available.fen()))
        .collect();
    let current = sample_now(app, now_ms, &given_out);
    let mut samples = app.live.samples.lock();
    // The oldest sample within the window is the base of every rate.
    while samples.ring.len() > 1
        && samples.ring.front().is_some_and(|sample| now_ms.saturating_sub(sample.at_ms) > RATE_WINDOW_MS)
    {
        samples.ring.pop_front();
    }
    let base = samples.ring.front().cloned().unwrap_or_else(|| current.clone());
    let elapsed_ms = now_ms.saturating_sub(base.at_ms);
    let admission = app.admission.lock().stats();
    let classes = Class::ALL
        .iter()
        .map(|class| {
            let index = class.index();
            let (admitted, queued, shed) = current.per_class[index];
            let (admitted_before, queued_before, shed_before) = base.per_class[index];
            ClassLive {
                class: class.as_str().into(),
                admitted,
                queued,
                shed,
                waiting: admission.per_class[index].waiting,
                admitted_per_s: per_s(admitted.saturating_sub(admitted_before), elapsed_ms),
                queued_per_s: per_s(queued.saturating_sub(queued_before), elapsed_ms),
                shed_per_s: per_s(shed.saturating_sub(shed_before), elapsed_ms),
            }
        })
        .collect();
    let window_counts: Vec<u64> = current
        .latency_buckets
        .iter()
        .zip(base.latency_buckets.iter().chain(std::iter::repeat(&0)))
        .map(|(now, before)| now.saturating_sub(*before))
        .collect();
    let bounds = crate::metrics::latency_bounds_us();
    let campaigns = stats
        .iter()
        .map(|(stats, body)| {
            let id = stats.campaign.to_string();
            let before = base.given_out_fen.iter().find(|(other, _)| *other == id).map(|(_, fen)| *fen);
            let given_out_now = stats.budget_total.fen() - stats.available.fen();
            let burned = before.map_or(0, |before| given_out_now - before);
            let burn_fen_per_s = if elapsed_ms == 0 {
                0
            } else {
                burned.saturating_mul(1_000) / i64::try_from(elapsed_ms).unwrap_or(i64::MAX)
            };
            let exhausts_at = (burn_fen_per_s > 0 && stats.available.fen() > 0).then(|| {
                let seconds = stats.available.fen() / burn_fen_per_s;
                now.plus_ms(u64::try_from(seconds).unwrap_or(0).saturating_mul(1_000)).to_string()
            });
            CampaignLive {
                id,
                name: stats.name.clone(),
                status: body.status.clone(),
                budget_total: stats.budget_total.fen(),
                budget_available: stats.available.fen(),
                burn_fen_per_s,
                exhausts_at,
                ends_at: stats.ends_at.to_string(),
                claimed_fen: stats.wallets.fen(),
                held_fen: stats.held.fen(),
                redeemed_fen: stats.redeemed.fen() + stats.settled.fen(),
                coupons_issued: stats.n_issued,
                coupons_redeemed: stats.n_redeemed,
                face_value: stats.face_value.fen(),
            }
        })
        .collect();
    let llm_calls = app.live.n_llm_calls.load(Ordering::Relaxed);
    let fallbacks = app.live.n_llm_fallbacks.load(Ordering::Relaxed);
    let orders_delta = current.n_orders.saturating_sub(base.n_orders);
    let snapshot = OpsSnapshot {
        at: now.to_string(),
        uptime_ms: u64::try_from(app.started.elapsed().as_millis()).unwrap_or(u64::MAX),
        orders_total: current.n_orders,
        orders_by_channel,
        webhooks,
        backup: app.sequencer.backup_status().as_ref().map(crate::backups::backup_body),
        start: app.start.get().cloned(),
        backups_on: app.config.backups.is_some(),
        orders_per_s: per_s(orders_delta, elapsed_ms),
        orders_per_ks: per_s(orders_delta.saturating_mul(1_000), elapsed_ms),
        latency_p50_us: percentile_us(&bounds, &window_counts, 500),
        latency_p99_us: percentile_us(&bounds, &window_counts, 990),
        concurrency_limit: admission.limit,
        in_flight: admission.in_flight,
        ledger_queue_depth: app.sequencer.queue_depth() as u64,
        classes,
        campaigns,
        llm: LlmLive {
            chat_turns: app.live.n_chat_turns.load(Ordering::Relaxed),
            llm_calls,
            fallbacks,
            fallback_permille: (fallbacks * 1_000).checked_div(llm_calls).unwrap_or(0),
            configured: app.llm.is_some(),
        },
        backlogged_merchants: backlogged(app),
        audit: app.live.audit.lock().iter().rev().take(AUDIT_SHOWN_MAX).cloned().collect(),
    };
    if samples.ring.back().is_none_or(|last| now_ms.saturating_sub(last.at_ms) >= SNAPSHOT_MIN_INTERVAL_MS) {
        if samples.ring.len() >= RATE_SAMPLES_MAX {
            samples.ring.pop_front();
        }
        samples.ring.push_back(current);
    }
    samples.last = Some((now_ms, snapshot.clone()));
    snapshot
}

/// The shops with the longest kitchen backlog relative to what they declared they can hold.
/// The scan takes the ledger's read lock for [`BACKLOG_SCAN_CHUNK`] shops at a time, so a
/// dashboard over 300,000 outlets never holds the writer up for the whole scan, and keeps only
/// the fullest few (no list of every shop is built).
fn backlogged(app: &App) -> Vec<MerchantSummary> {
    let merchants = app.index.read().merchants.clone();
    // (backlog, capacity, id), fullest first.
    let mut top: Vec<(u32, u32, MerchantId)> = Vec::with_capacity(BACKLOGGED_SHOWN_MAX + 1);
    let fuller = |a: &(u32, u32, MerchantId), b: &(u32, u32, MerchantId)| {
        // a.0 / a.1 against b.0 / b.1, without division; then the longer backlog.
        (u64::from(b.0) * u64::from(a.1.max(1)))
            .cmp(&(u64::from(a.0) * u64::from(b.1.max(1))))
            .then(b.0.cmp(&a.0))
    };
    for chunk in merchants.chunks(BACKLOG_SCAN_CHUNK) {
        app.sequencer.read(|ledger| {
            for merchant in chunk {
                let Some((shop, backlog, _)) = ledger.merchant(*merchant) else { continue };
                if backlog == 0 {
                    continue;
                }
                let entry = (backlog, shop.capacity.open_orders_max(), *merchant);
                if top.len() < BACKLOGGED_SHOWN_MAX
                    || top.last().is_some_and(|last| fuller(&entry, last).is_lt())
                {
                    let at = top.partition_point(|other| fuller(other, &entry).is_le());
                    top.insert(at, entry);
                    top.truncate(BACKLOGGED_SHOWN_MAX);
                }
            }
        });
    }
    app.sequencer
        .read(|ledger| top.iter().filter_map(|(_, _, merchant)| summary_of(ledger, *merchant)).collect())
}

// ---- handlers --------------------------------------------------------------------------------

fn wants_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains("text/event-stream"))
}

/// A stream of `event_name` events: `next` is asked every `interval` for the current view, and a
/// view is sent when its serialized form differs from the last one sent (always, for the first).
/// Ends after the configured SSE lifetime.
fn change_stream<T, F>(
    app: Arc<App>,
    slot: StreamSlot,
    event_name: &'static str,
    interval: Duration,
    always: bool,
    next: F,
) -> Response
where
    T: Serialize + Send + 'static,
    F: Fn(&App) -> Result<T, ApiError> + Send + Sync + 'static,
{
    let lifetime = Duration::from_millis(app.config.sse_lifetime_ms);
    let keepalive = Duration::from_millis(app.config.sse_keepalive_ms);
    let ends_at = tokio::time::Instant::now() + lifetime;
    let next = Arc::new(next);
    let stream = futures_util::stream::unfold(
        (app, slot, None::<String>, false),
        move |(app, slot, last, started)| {
            let next = Arc::clone(&next);
            async move {
                loop {
                    if started {
                        if last.is_none() || tokio::time::Instant::now() >= ends_at {
                            // Ended by its lifetime, or by an error sent as the last event.
                            return None;
                        }
                        tokio::time::sleep_until((tokio::time::Instant::now() + interval).min(ends_at)).await;
                    }
                    let view = match next(&app) {
                        Ok(view) => serde_json::to_string(&view).unwrap_or_default(),
                        Err(error) => {
                            // The shop is gone: say so once and end.
                            let body = serde_json::to_string(&error.body()).unwrap_or_default();
                            let event = Event::default().event("error").data(body);
                            return Some((Ok::<_, std::convert::Infallible>(event), (app, slot, None, true)));
                        }
                    };
                    if always || last.as_deref() != Some(view.as_str()) {
                        let event = Event::default().event(event_name).data(view.clone());
                        return Some((Ok(event), (app, slot, Some(view), true)));
                    }
                }
            }
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::new().interval(keepalive)).into_response()
}

/// The operator's dashboard: admission by class, latency, orders per second, each campaign's
/// budget burn with its projected exhaustion, coupons, the language model's use and fallbacks,
/// the most backlogged shops and the audit list of campaign changes. One JSON snapshot, or with
/// `Accept: text/event-stream` a `snapshot` event every second until the stream's lifetime ends.
#[utoipa::path(get, path = "/v1/ops/live", tag = "operator", security(("bearer" = [])),
    responses((status = 200, body = OpsSnapshot, description = "JSON, or text/event-stream of the same objects"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn ops_live(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let claims = app.caller(&headers)?;
    operator_of(&claims)?;
    if !wants_stream(&headers) {
        return Ok(json(StatusCode::OK, &ops_snapshot(&app), false));
    }
    let slot = app.live_handle().open_stream()?;
    Ok(change_stream(
        Arc::clone(&app),
        slot,
        "snapshot",
        Duration::from_millis(SNAPSHOT_STREAM_INTERVAL_MS),
        true,
        |app| Ok(ops_snapshot(app)),
    ))
}

fn merchant_view(app: &App, merchant: MerchantId) -> Result<MerchantLive, ApiError> {
    let ids: Vec<OrderId> = app
        .index
        .read()
        .orders_by_merchant
        .get(&merchant)
        .map(|ids| ids.iter().rev().take(MERCHANT_LIVE_ORDERS_MAX).copied().collect())
        .unwrap_or_default();
    app.sequencer.read(|ledger| {
        let summary = summary_of(ledger, merchant)
            .ok_or_else(|| ApiError::not_found(format!("merchant {merchant} is not registered")))?;
        let orders = ids.iter().filter_map(|order| order_of(ledger, *order)).collect();
        Ok(MerchantLive { merchant: summary, orders })
    })
}

/// The calling shop and its newest orders; with `Accept: text/event-stream`, an `orders` event
/// each time any of them (or the shop's status or backlog) changes.
#[utoipa::path(get, path = "/v1/merchant/live", tag = "merchant", security(("bearer" = [])),
    responses((status = 200, body = MerchantLive, description = "JSON, or text/event-stream of the same objects"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn merchant_live(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let claims = app.caller(&headers)?;
    let merchant = merchant_of(&claims)?;
    let first = merchant_view(&app, merchant)?;
    if !wants_stream(&headers) {
        return Ok(json(StatusCode::OK, &first, false));
    }
    let slot = app.live_handle().open_stream()?;
    Ok(change_stream(
        Arc::clone(&app),
        slot,
        "orders",
        Duration::from_millis(ORDERS_POLL_MS),
        false,
        move |app| merchant_view(app, merchant),
    ))
}

fn shopper_view(app: &App, shopper: ShopperId) -> ShopperLive {
    let ids: Vec<OrderId> = app
        .index
        .read()
        .orders_by_shopper
        .get(&shopper)
        .map(|ids| ids.iter().rev().take(SHOPPER_LIVE_ORDERS_MAX).copied().collect())
        .unwrap_or_default();
    let orders =
        app.sequencer.read(|ledger| ids.iter().filter_map(|order| order_of(ledger, *order)).collect());
    ShopperLive { shopper_id: shopper.to_string(), orders }
}

/// The calling shopper's newest orders; with `Accept: text/event-stream`, an `orders` event each
/// time one is placed or changes state (accepted, ready, delivered, ...).
#[utoipa::path(get, path = "/v1/orders/live", tag = "shopper", security(("bearer" = [])),
    responses((status = 200, body = ShopperLive, description = "JSON, or text/event-stream of the same objects"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn shopper_live(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let claims = app.caller(&headers)?;
    let shopper = crate::routes::shopper_of(&claims)?;
    if !wants_stream(&headers) {
        return Ok(json(StatusCode::OK, &shopper_view(&app, shopper), false));
    }
    let slot = app.live_handle().open_stream()?;
    Ok(change_stream(
        Arc::clone(&app),
        slot,
        "orders",
        Duration::from_millis(ORDERS_POLL_MS),
        false,
        move |app| Ok(shopper_view(app, shopper)),
    ))
}

/// A shopper token for a new guest, for the demo chat page: only when the gateway runs with
/// guest tokens on (`lantern serve --demo`, or `web.guest_tokens = true`), and rate limited per
/// address like every request. No Idempotency-Key: it writes nothing.
#[utoipa::path(post, path = "/v1/guest_token", tag = "shopper",
    request_body(content = serde_json::Value, description = "ignored; may be {}"),
    responses((status = 201, body = GuestToken), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn guest_token(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    if !app.config.guest_tokens {
        return Err(ApiError::not_found(
            "guest tokens are off on this gateway; ask for a shopper token (`lantern token shopper shp_1`)",
        ));
    }
    if !body.is_empty() {
        let _: serde_json::Value = crate::convert::parse_json(&body)?;
    }
    app.check_ip_rate(peer.ip())?;
    let now = app.now();
    let n = app.live.n_guest_tokens.fetch_add(1, Ordering::Relaxed);
    // Unique across restarts: the start time in ms (41 bits) and a counter, above the base.
    let id = GUEST_SHOPPER_ID_BASE + ((now.unix_ms() % (1 << 40)) << 9 | (n % 512));
    let shopper = ShopperId::new(id);
    let expires_at = now.plus_ms(GUEST_TOKEN_TTL_MS);
    let token = app.signer.issue_token(&Claims { role: Role::Shopper(shopper), issued_at: now, expires_at });
    Ok(json(
        StatusCode::CREATED,
        &GuestToken { token, shopper_id: shopper.to_string(), expires_at: expires_at.to_string() },
        false,
    ))
}

impl App {
    fn live_handle(&self) -> Arc<Live> {
        Arc::clone(&self.live)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_the_bucket_bounds_holding_that_rank() {
        let bounds = [1, 10, 100, 1_000];
        assert_eq!(percentile_us(&bounds, &[0, 0, 0, 0], 500), 0, "no requests, no latency");
        assert_eq!(percentile_us(&bounds, &[98, 1, 1, 0], 500), 1);
        assert_eq!(percentile_us(&bounds, &[98, 1, 1, 0], 990), 10);
        assert_eq!(percentile_us(&bounds, &[98, 1, 1, 0], 1_000), 100);
        assert_eq!(percentile_us(&bounds, &[0, 0, 0, 1], 500), 1_000);
        // Counts longer than the bounds (a shorter base sample) fall back to the last bound.
        assert_eq!(percentile_us(&bounds[..2], &[0, 0, 5], 500), 10);
    }

    #[test]
    fn rates_are_per_second_without_floats_and_zero_without_time() {
        assert_eq!(per_s(10, 1_000), 10);
        assert_eq!(per_s(10, 4_000), 2);
        assert_eq!(per_s(10, 0), 0);
        assert_eq!(per_s(u64::MAX, 1), u64::MAX, "saturates instead of wrapping");
    }

    #[test]
    fn the_audit_list_keeps_the_newest_entries_only() {
        let live = Live::default();
        let claims = Claims {
            role: Role::Operator,
            issued_at: Timestamp::from_ms(0),
            expires_at: Timestamp::from_ms(1),
        };
        let peer = SocketAddr::from(([127, 0, 0, 1], 1));
        for n in 0..AUDIT_ENTRIES_MAX + 5 {
            let change = AuditChange {
                action: "edit",
                campaign: Some("cmp_1"),
                detail: format!("n {n}"),
                replayed: false,
            };
            live.audit(&claims, peer, change, Timestamp::from_ms(n as u64));
        }
        let audit = live.audit.lock();
        assert_eq!(audit.len(), AUDIT_ENTRIES_MAX);
        assert_eq!(audit.front().map(|entry| entry.detail.as_str()), Some("n 5"));
        assert!(audit.back().is_some_and(|entry| entry.who.starts_with("operator (token issued ")));
    }
}
