//! The JSON shapes of the API. Amounts are integer fen (`"currency": "cny"`), times RFC 3339,
//! ids the printed forms of `lantern-core` (`mer_12`, `itm_101`, `cmp_1`, `ord_9`); checkout
//! sessions follow the Agentic Commerce Protocol (2026-04-17) where it fits.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The currency of every amount.
pub const CURRENCY: &str = "cny";

/// A protocol-level error (ACP `Error`), with Lantern's reason code and, when waiting helps,
/// how long to wait.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// `invalid_request`, `processing_error` or `service_unavailable`; `redirect` on a `307`
    /// to the node that serves the shopper.
    #[serde(rename = "type")]
    pub kind: String,
    /// Stable machine code: an ACP reason (`discount_code_expired`, `idempotency_conflict`, ...)
    /// or Lantern's own (`budget_exhausted`, `merchant_busy`, `waiting_room_full`, ...).
    pub code: String,
    /// What was wrong and what to do, for people.
    pub message: String,
    /// JSONPath of the offending field, when one field is at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
    /// Milliseconds after which a retry can succeed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// For `merchant_busy`: shops of the same menu that can make it sooner.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub alternatives: Vec<MerchantSummary>,
}

/// The waiting room's answer when a request is queued (HTTP 429).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WaitingBody {
    #[serde(rename = "type")]
    pub kind: String,
    /// Always `queued`.
    pub code: String,
    pub message: String,
    /// Signed ticket: poll it at `poll_url`, then repeat the request with the header
    /// `Lantern-Ticket: <ticket>` once admitted.
    pub ticket: String,
    /// 1 = next in line.
    pub position: u64,
    pub eta_ms: u64,
    pub poll_url: String,
}

/// Where a waiting-room ticket stands.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TicketStatusBody {
    /// `waiting`, `admitted` (repeat the request with the ticket now) or `gone` (take a new one).
    pub status: String,
    pub position: u64,
    pub eta_ms: u64,
    /// While admitted: the ticket holds a place until this time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admitted_until: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MerchantSummary {
    pub id: String,
    pub name: String,
    /// `open`, `busy` or `paused`.
    pub status: String,
    pub catalog_id: String,
    /// How long a new order would take now (kitchen backlog at the shop's rate).
    pub eta_ms: u64,
    pub orders_per_minute: u32,
    pub open_orders_max: u32,
    pub open_orders: u32,
    /// Where the shop is, when it said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<LocationBody>,
    /// Its street address, when it gave one (agents are offered pickup there).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<AddressBody>,
    /// How far it is from the busy shop it is offered instead of (only in `alternatives`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance_m: Option<u32>,
}

/// A shop's street address, in the fields of the Agentic Commerce Protocol's `Address`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressBody {
    /// The street and number, e.g. "五一大道 389 号".
    pub line_one: String,
    pub city: String,
    /// The state or province.
    pub state: String,
    /// ISO 3166-1 alpha-2, in capitals: "CN".
    pub country: String,
    pub postal_code: String,
}

/// A point on the map, in decimal degrees (WGS 84), kept to the micro-degree.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationBody {
    /// -90..=90.
    pub lat: f64,
    /// -180..=180.
    pub lon: f64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MerchantList {
    pub merchants: Vec<MerchantSummary>,
    /// More shops match than are listed: narrow the search or page with `offset`.
    pub has_more: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OptionChoiceBody {
    pub id: u32,
    pub name: String,
    pub price_delta: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OptionGroupBody {
    /// `size`, `sugar`, `ice`, `topping` or `other`.
    pub kind: String,
    pub name: String,
    pub min_choices: u8,
    pub max_choices: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_choice: Option<u32>,
    pub choices: Vec<OptionChoiceBody>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MenuItem {
    pub id: String,
    pub name: String,
    pub category: String,
    /// Base price in fen.
    pub price: i64,
    pub currency: String,
    pub option_groups: Vec<OptionGroupBody>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Menu {
    pub merchant: MerchantSummary,
    pub items: Vec<MenuItem>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SearchHit {
    pub merchant_id: String,
    pub merchant_name: String,
    pub item: MenuItem,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SearchResults {
    pub hits: Vec<SearchHit>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CampaignBody {
    pub id: String,
    pub name: String,
    /// `scheduled`, `active`, `paused` or `ended`.
    pub status: String,
    /// `amount_off`, `percent_off` or `free_item`.
    pub template: String,
    /// The most one coupon is worth, in fen.
    pub face_value: i64,
    pub min_spend: i64,
    pub per_shopper_limit: u8,
    pub starts_at: String,
    pub ends_at: String,
    pub currency: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CampaignList {
    pub campaigns: Vec<CampaignBody>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CampaignStatsBody {
    pub campaign: CampaignBody,
    pub budget_total: i64,
    /// Not yet given out as coupons.
    pub budget_available: i64,
    pub in_wallets: i64,
    pub held: i64,
    pub redeemed: i64,
    pub settled: i64,
    pub coupons_issued: u64,
    pub coupons_redeemed: u64,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimRequest {
    /// The shopper who referred this one (earns a bonus coupon within the campaign's cap).
    #[serde(default)]
    pub referred_by: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CouponBody {
    pub id: String,
    pub campaign_id: String,
    /// `claimed`, `held`, `redeemed` or `expired`.
    pub status: String,
    pub face_value: i64,
    pub currency: String,
    pub referral: bool,
    pub expires_at: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClaimResponse {
    pub coupon: CouponBody,
    /// False when the shopper was already at the campaign's cap: this is their coupon.
    pub newly_claimed: bool,
    /// The referrer's bonus coupon id, if this claim earned one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referral_bonus: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WalletBody {
    pub coupons: Vec<CouponBody>,
}

/// One line of a cart: an item, how many, and its option choices.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemRequest {
    /// Item id (`itm_101` or `101`).
    pub id: String,
    #[schema(minimum = 1, maximum = 99)]
    pub quantity: u16,
    /// Option choice ids (size, sugar, ice, toppings); defaults fill the rest.
    #[serde(default)]
    pub options: Vec<u32>,
}

/// ACP discount extension: codes to apply. A code is a campaign id (`cmp_1`) or its name.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscountsRequest {
    #[serde(default)]
    pub codes: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutCreateRequest {
    pub merchant_id: String,
    #[schema(min_items = 1)]
    pub line_items: Vec<ItemRequest>,
    /// Without `discounts`, the best coupon in the wallet is applied; with an empty `codes`, none.
    #[serde(default)]
    pub discounts: Option<DiscountsRequest>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutUpdateRequest {
    #[serde(default)]
    pub line_items: Option<Vec<ItemRequest>>,
    #[serde(default)]
    pub discounts: Option<DiscountsRequest>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LineItemBody {
    pub id: String,
    pub item_id: String,
    pub name: String,
    pub quantity: u16,
    pub options: Vec<u32>,
    /// Price of one, options included, in fen.
    pub unit_amount: i64,
    pub total: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TotalBody {
    /// `subtotal`, `discount` or `total`.
    #[serde(rename = "type")]
    pub kind: String,
    pub display_text: String,
    pub amount: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AppliedDiscountBody {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub campaign_id: String,
    pub amount: i64,
    /// True when the best coupon was chosen without a code.
    pub automatic: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RejectedDiscountBody {
    pub code: String,
    /// ACP discount error code, e.g. `discount_code_minimum_not_met`.
    pub reason: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DiscountsBody {
    pub codes: Vec<String>,
    pub applied: Vec<AppliedDiscountBody>,
    pub rejected: Vec<RejectedDiscountBody>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessageBody {
    /// `info`, `warning` or `error`.
    #[serde(rename = "type")]
    pub kind: String,
    pub code: String,
    pub content: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrderBody {
    pub id: String,
    pub checkout_session_id: String,
    pub merchant_id: String,
    /// `placed`, `accepted`, `rejected`, `ready`, `delivering`, `delivered` or `cancelled`.
    pub status: String,
    pub currency: String,
    pub subtotal: i64,
    pub discount: i64,
    pub total: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coupon_id: Option<String>,
    pub line_items: Vec<LineItemBody>,
    pub created_at: String,
    pub updated_at: String,
    /// The shop's estimate when the order was placed.
    pub eta_ms: u64,
    /// Where it was placed: `api` (this API and the web pages), `chat` (the shopping agent) or
    /// `acp` (an Agentic Commerce Protocol checkout, the MCP tools included).
    pub channel: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrderList {
    /// Newest first.
    pub orders: Vec<OrderBody>,
    /// Older orders follow: ask again with `starting_after` set to `next_starting_after`.
    pub has_more: bool,
    /// The last listed order's id when `has_more`, else null.
    pub next_starting_after: Option<String>,
}

/// A checkout session: a priced cart holding its coupon until `expires_at`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CheckoutSession {
    pub id: String,
    /// `ready_for_payment`, `completed`, `canceled` or `expired`.
    pub status: String,
    pub currency: String,
    pub merchant_id: String,
    pub line_items: Vec<LineItemBody>,
    pub totals: Vec<TotalBody>,
    pub discounts: DiscountsBody,
    pub messages: Vec<MessageBody>,
    pub expires_at: String,
    /// The shop's current estimate for a new order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_eta_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<OrderBody>,
}

/// One request that claims a coupon, quotes the cart with it and places the order.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CouponOrderRequest {
    pub campaign_id: String,
    pub merchant_id: String,
    #[schema(min_items = 1)]
    pub line_items: Vec<ItemRequest>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MerchantStatusRequest {
    /// `open`, `busy` or `paused`.
    pub status: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CapacityRequest {
    #[schema(minimum = 1)]
    pub orders_per_minute: u32,
    #[schema(minimum = 1)]
    pub open_orders_max: u32,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CatalogUploaded {
    pub catalog_id: String,
    pub items: u32,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterMerchantRequest {
    pub id: String,
    pub name: String,
    pub catalog_id: String,
    pub orders_per_minute: u32,
    pub open_orders_max: u32,
    /// Where the shop is: a busy answer then offers faster shops of the same menu within
    /// 3 km of it, nearest first among equals, instead of shops registered next to it.
    #[serde(default)]
    pub location: Option<LocationBody>,
    /// Where shoppers pick orders up: with it, ACP checkouts at this shop offer pickup there,
    /// ready by the shop's current estimate. Each field 1..=128 characters.
    #[serde(default)]
    pub address: Option<AddressBody>,
}

/// Issuance pace of a campaign.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaceRequest {
    /// Coupons per second; absent or 0 = unlimited.
    #[serde(default)]
    pub coupons_per_s: u32,
    /// Coupons that may go at once after a quiet spell (defaults to one second's worth).
    #[serde(default)]
    pub burst: u32,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignCreateRequest {
    pub name: String,
    pub budget: i64,
    /// `amount_off` (needs `amount`), `percent_off` (needs `percent_bp` and `cap`) or
    /// `free_item` (needs `up_to`).
    pub template: String,
    #[serde(default)]
    pub amount: Option<i64>,
    #[serde(default)]
    pub percent_bp: Option<u32>,
    #[serde(default)]
    pub cap: Option<i64>,
    #[serde(default)]
    pub up_to: Option<i64>,
    #[serde(default)]
    pub min_spend: i64,
    #[serde(default)]
    pub merchants: Vec<String>,
    #[serde(default)]
    pub categories: Vec<String>,
    #[schema(minimum = 1, maximum = 8)]
    pub per_shopper_limit: u8,
    #[serde(default)]
    pub referral_bonus_cap: u8,
    /// RFC 3339.
    pub starts_at: String,
    pub ends_at: String,
    #[serde(default)]
    pub pace: Option<PaceRequest>,
}

/// One change to a running campaign; give exactly one field.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignEditRequest {
    /// New end of validity, RFC 3339.
    #[serde(default)]
    pub ends_at: Option<String>,
    #[serde(default)]
    pub pace: Option<PaceRequest>,
    /// Budget to add, in fen.
    #[serde(default)]
    pub top_up: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClassStatsBody {
    pub class: String,
    pub admitted: u64,
    pub queued: u64,
    pub shed: u64,
    pub waiting: u64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GatewayStatsBody {
    pub concurrency_limit: u32,
    pub in_flight: u32,
    pub drain_per_s: u64,
    /// Tickets promoted beyond the limit while their holders come back (see `lantern-admission`).
    pub promotion_lead: u32,
    pub classes: Vec<ClassStatsBody>,
    pub ledger_queue_depth: u64,
    pub ledger_batches: u64,
    pub ledger_commands: u64,
    /// Orders placed since the journal began, by channel.
    pub orders_by_channel: Vec<ChannelOrdersBody>,
    pub campaigns: Vec<CampaignStatsBody>,
    /// ACP order webhooks, when they are on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhooks: Option<WebhooksBody>,
}

/// What became of the ACP order webhooks since the start (events), and what is still to go.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct WebhooksBody {
    pub delivered: u64,
    /// Refused by the receiver (a final 4xx).
    pub refused: u64,
    /// Rounds of tries that ended without an answer; the event waits for another round.
    pub given_up: u64,
    pub retries: u64,
    /// Changes forgotten before they were sent (the receiver was too far behind).
    pub skipped: u64,
    /// Sent again at start: not settled before it.
    pub resent: u64,
    /// Changes of ACP orders not yet delivered or refused, as journaled.
    pub backlog: u64,
}

/// Orders placed through one channel.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChannelOrdersBody {
    /// `api`, `chat` or `acp` (see an order's `channel`).
    pub channel: String,
    pub orders: u64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HealthBody {
    /// `ok` (alive), `ready`, or `starting` while the journal replays after a (re)start.
    pub status: String,
    /// While `starting`: what it is doing, for people ("replaying the journal: 8,593 of 27,203
    /// batches (31 %), about 25 s left").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// While `starting` and replaying: how much of the journal is replayed, 0 to 100.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percent: Option<u64>,
}

impl HealthBody {
    pub fn status(status: &str) -> HealthBody {
        HealthBody { status: status.to_owned(), detail: None, percent: None }
    }
}

/// How this process's start went: the journal's replay, and when the gateway answered for real.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StartBody {
    /// Batches and commands of the journal replayed (0 for a new data directory).
    pub replayed_batches: u64,
    pub replayed_commands: u64,
    /// How long the replay took.
    pub replay_ms: u64,
    /// From the port opening (answering `starting`) to the gateway answering for real: what a
    /// restart costs. It grows with the journal.
    pub ready_ms: u64,
}

/// A backup of the journal (`/v1/ops/backups`): the one running, or the latest one.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BackupBody {
    /// The backup's folder on the gateway's machine: a data directory of its own once `done`
    /// (`lantern serve --data` it, or `lantern audit --data` it). While `running` it is written
    /// beside it under `.partial`.
    pub directory: String,
    /// `running`, `done` or `failed`.
    pub state: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// Journal batches copied so far, and in the journal at the latest step (they grow while
    /// orders come in; the backup is done once it holds the last one).
    pub batches_copied: u64,
    pub batches_in_journal: u64,
    pub commands_copied: u64,
    pub bytes_copied: u64,
    /// Why it failed, for a `failed` backup.
    pub error: Option<String>,
}

/// Where backups go, and the latest one since the gateway started.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BackupsBody {
    /// The folder backups are written to; null when this gateway has no data directory.
    pub directory: Option<String>,
    pub latest: Option<BackupBody>,
    /// The finished backups in that folder now, newest first (what `backups_kept` keeps).
    pub finished: Vec<FinishedBackupBody>,
}

/// A finished backup on disk.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FinishedBackupBody {
    /// Its folder's name (its start time, `20261124T210501123Z`) and full path.
    pub name: String,
    pub directory: String,
    /// When it started, read from its name (RFC 3339).
    pub started_at: String,
    /// The size of its files.
    pub bytes: u64,
}
