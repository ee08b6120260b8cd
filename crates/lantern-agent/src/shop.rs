//! [`Shop`]: the commerce operations the agent uses, and the plain data they answer with.
//! The gateway implements it over the ledger with admission control in front (so a chat
//! shopper queues like everyone else); tests implement it over a ledger in memory.

use std::future::Future;

use lantern_core::{CampaignId, CouponId, MerchantId, Money, OptionId, OrderId, QuoteId, ShopperId};
use lantern_ledger::CouponChoice;
use lantern_nlu::ItemRef;
use serde::Serialize;

/// One item found by a search, for a result card.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Found {
    pub item: ItemRef,
    pub name: String,
    pub merchant_name: String,
    #[serde(rename = "price_fen", serialize_with = "crate::ser::fen")]
    pub price: Money,
}

/// What the agent shows and tells about an item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ItemInfo {
    pub item: ItemRef,
    pub name: String,
    pub merchant_name: String,
    #[serde(rename = "price_fen", serialize_with = "crate::ser::fen")]
    pub price: Money,
    /// Option groups as (group name, choice names): for questions like "which size?".
    pub options: Vec<(String, Vec<String>)>,
}

/// A cart to price: one shop, lines as the ledger takes them, and which coupon to use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuoteRequest {
    pub merchant: MerchantId,
    pub lines: Vec<lantern_core::pricing::CartLine>,
    pub coupon: CouponChoice,
}

/// A priced line of a quote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct QuotedLine {
    pub name: String,
    pub quantity: u16,
    /// Names of the chosen options, defaults included.
    pub options: Vec<String>,
    #[serde(rename = "line_total_fen", serialize_with = "crate::ser::fen")]
    pub line_total: Money,
}

/// A coupon the quote looked at and did not use, and why (the engine's reason code).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CouponNote {
    pub campaign_name: String,
    pub reason_code: String,
}

/// A priced cart holding its coupon until `expires_at`: what the shopper confirms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct QuoteInfo {
    #[serde(serialize_with = "crate::ser::display")]
    pub quote: QuoteId,
    #[serde(serialize_with = "crate::ser::display")]
    pub merchant: MerchantId,
    pub merchant_name: String,
    pub lines: Vec<QuotedLine>,
    #[serde(rename = "subtotal_fen", serialize_with = "crate::ser::fen")]
    pub subtotal: Money,
    #[serde(rename = "discount_fen", serialize_with = "crate::ser::fen")]
    pub discount: Money,
    #[serde(rename = "total_fen", serialize_with = "crate::ser::fen")]
    pub total: Money,
    /// The campaign whose coupon is applied, if any.
    pub coupon_campaign: Option<String>,
    pub coupon_notes: Vec<CouponNote>,
    /// RFC 3339.
    pub expires_at: String,
    /// How long the shop says a new order takes now.
    pub merchant_eta_ms: u64,
    pub merchant_busy: bool,
}

/// A placed order as the shopper sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OrderInfo {
    #[serde(serialize_with = "crate::ser::display")]
    pub order: OrderId,
    #[serde(serialize_with = "crate::ser::display")]
    pub merchant: MerchantId,
    pub merchant_name: String,
    /// `placed`, `accepted`, `ready`, `dispatched`, `delivered`, `rejected`, `canceled`.
    pub status: String,
    #[serde(rename = "total_fen", serialize_with = "crate::ser::fen")]
    pub total: Money,
    #[serde(rename = "discount_fen", serialize_with = "crate::ser::fen")]
    pub discount: Money,
    pub eta_ms: u64,
}

/// A coupon in the shopper's wallet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CouponInfo {
    #[serde(serialize_with = "crate::ser::display")]
    pub coupon: CouponId,
    #[serde(serialize_with = "crate::ser::display")]
    pub campaign: CampaignId,
    pub campaign_name: String,
    /// What it takes off, in words ("25.00 off orders of 30.00 or more").
    pub describe: String,
    /// `claimed`, `held`, `redeemed`, `expired`.
    pub status: String,
    /// RFC 3339.
    pub expires_at: String,
}

/// A campaign a shopper can claim from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CampaignInfo {
    #[serde(serialize_with = "crate::ser::display")]
    pub campaign: CampaignId,
    pub name: String,
    pub describe: String,
    pub open: bool,
}

/// Where a queued shopper stands (admission control's waiting room).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Waiting {
    pub position: u64,
    pub eta_ms: u64,
    /// The signed ticket to come back with.
    pub ticket: String,
}

/// A shop that can take the order sooner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Alternative {
    #[serde(serialize_with = "crate::ser::display")]
    pub merchant: MerchantId,
    pub name: String,
    pub eta_ms: u64,
    /// How far it is from the busy shop, when both said where they are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance_m: Option<u32>,
}

/// Why an operation was not done, as the gateway would answer it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// The engine's or the gateway's code (`merchant_busy`, `budget_exhausted`, `queued`, ...).
    pub code: String,
    pub message: String,
    pub retry_after_ms: Option<u64>,
    /// Set when the shopper was put in the waiting room.
    pub waiting: Option<Waiting>,
    /// Faster shops, when the chosen one is busy.
    pub alternatives: Vec<Alternative>,
}

/// One choice of an item's option group, with its id: what the agent needs to show a cart line's
/// options by name and to turn a model's option names into ids.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChoiceInfo {
    #[serde(serialize_with = "crate::ser::display")]
    pub option: OptionId,
    /// The group's name ("杯型 Size").
    pub group: String,
    /// `size`, `sugar`, `ice`, `topping` or `other`.
    pub kind: String,
    pub name: String,
    #[serde(rename = "price_delta_fen", serialize_with = "crate::ser::fen")]
    pub price_delta: Money,
}

/// What [`ItemInfo`] leaves out of a menu entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ItemDetails {
    /// Every choice of every option group, in menu order.
    pub choices: Vec<ChoiceInfo>,
    /// The merchant's free text. Untrusted: it reaches a language model only inside a
    /// quarantined tool result, never in a prompt.
    pub description: String,
}

/// A campaign's terms as numbers, to explain a coupon that does not fit ("add ¥4.00 more").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct CampaignTerms {
    /// The most one coupon takes off.
    #[serde(rename = "face_value_fen", serialize_with = "crate::ser::fen")]
    pub face_value: Money,
    /// The smallest cart subtotal the coupon applies to.
    #[serde(rename = "min_spend_fen", serialize_with = "crate::ser::fen")]
    pub min_spend: Money,
}

/// The commerce operations behind the agent. Reads are plain calls; writes go through the
/// ledger (and, in the gateway, through admission control) and may be refused.
pub trait Shop: Send + Sync {
    /// Items matching `text` (names, aliases, options; typos tolerated), best first.
    fn search(&self, text: &str, merchant: Option<MerchantId>, limit: usize) -> Vec<Found>;
    fn item(&self, item: ItemRef) -> Option<ItemInfo>;
    /// Option ids with their names, and the item's description. Optional: without it the agent
    /// shows cart lines without option names, cannot take options by name from the model, and
    /// the model sees no descriptions.
    fn item_details(&self, _item: ItemRef) -> Option<ItemDetails> {
        None
    }
    fn merchant_name(&self, merchant: MerchantId) -> Option<String>;
    fn campaigns(&self) -> Vec<CampaignInfo>;
    /// Optional: without it a coupon below its minimum spend is explained by its reason code
    /// alone, without the amount still missing.
    fn campaign_terms(&self, _campaign: CampaignId) -> Option<CampaignTerms> {
        None
    }
    fn wallet(&self, shopper: ShopperId) -> Vec<CouponInfo>;
    /// The shopper's orders, most recent first.
    fn orders(&self, shopper: ShopperId) -> Vec<OrderInfo>;
    fn claim(
        &self,
        shopper: ShopperId,
        campaign: CampaignId,
    ) -> impl Future<Output = Result<CouponInfo, Refusal>> + Send;
    fn quote(
        &self,
        shopper: ShopperId,
        request: QuoteRequest,
    ) -> impl Future<Output = Result<QuoteInfo, Refusal>> + Send;
    /// Gives an unconfirmed quote's coupon back (the shopper changed the cart or said no).
    fn cancel_quote(&self, shopper: ShopperId, quote: QuoteId) -> impl Future<Output = ()> + Send;
    /// Places the order for exactly this quote; the same key answers with the same order.
    fn place(
        &self,
        shopper: ShopperId,
        quote: QuoteId,
        idempotency_key: &str,
    ) -> impl Future<Output = Result<OrderInfo, Refusal>> + Send;
    fn cancel_order(
        &self,
        shopper: ShopperId,
        order: OrderId,
    ) -> impl Future<Output = Result<OrderInfo, Refusal>> + Send;
}
