//! The closed set of things that change the ledger, and what each answers.

use std::sync::Arc;

use lantern_core::pricing::{CartLine, PricedLine};
use lantern_core::{
    CampaignId, CampaignSpec, CampaignStatus, Capacity, Catalog, CatalogId, CouponId, IdempotencyKey,
    IssuancePace, Merchant, MerchantId, MerchantStatus, Money, OrderChannel, OrderEvent, OrderId,
    OrderStatus, QuoteId, ShopperId, Timestamp,
};

/// A live change to a running campaign.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CampaignEdit {
    /// Move the end of validity (later, or earlier but not into the past).
    SetEndsAt(Timestamp),
    SetPace(IssuancePace),
    /// Add budget. The top-up is credited to the campaign's available account.
    TopUp(Money),
    Pause,
    Resume,
    /// This node's copy of the campaign draws its budget from leases of a central pool shared
    /// by several nodes: the budget it was created with goes back to the funding account, and
    /// from now on only `LeaseIn` brings budget. Only before the first coupon is claimed.
    DrawFromLeases,
    /// Budget leased from the central pool arrives (funding → available). Zero records that the
    /// pool had nothing left, so an empty lease reads "budget exhausted", not "try again".
    /// Allowed after the campaign ended, so a grant cut short by a crash can always finish.
    LeaseIn(Money),
    /// Unspent budget goes back to the central pool (available → funding); refused when less is
    /// available. Allowed after the campaign ended, so its leftovers return.
    LeaseOut(Money),
}

/// Which coupon a quote should use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CouponChoice {
    /// The best applicable coupon in the shopper's wallet (the default).
    Best,
    /// Only a coupon of this campaign (an agent passing a discount code).
    Campaign(CampaignId),
    /// No coupon.
    None,
}

/// Every write the ledger accepts. Closed: the sequencer's journal is a list of these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    CreateCampaign {
        spec: CampaignSpec,
    },
    EditCampaign {
        campaign: CampaignId,
        edit: CampaignEdit,
    },
    /// Publish (or replace) a menu. Outlets of a chain share one catalog.
    PublishCatalog {
        catalog: Arc<Catalog>,
    },
    /// Register (or re-register) a merchant outlet selling from a published catalog.
    RegisterMerchant {
        merchant: Merchant,
    },
    SetMerchantStatus {
        merchant: MerchantId,
        status: MerchantStatus,
    },
    SetMerchantCapacity {
        merchant: MerchantId,
        capacity: Capacity,
    },
    /// Claim a coupon. Idempotent per shopper: at the cap it answers with the coupon already
    /// claimed. `referred_by` earns the referrer a bonus coupon (within the referral cap) the
    /// first time this shopper claims.
    ClaimCoupon {
        shopper: ShopperId,
        campaign: CampaignId,
        referred_by: Option<ShopperId>,
    },
    /// Price a cart and hold the best coupon until the quote expires.
    Quote {
        shopper: ShopperId,
        merchant: MerchantId,
        lines: Vec<CartLine>,
        coupon: CouponChoice,
    },
    /// Re-price an open quote in place (same id, new lines, a fresh hold time): a checkout
    /// session's update. Its coupon hold is kept when the coupon still fits, else released.
    Requote {
        shopper: ShopperId,
        quote: QuoteId,
        lines: Vec<CartLine>,
        coupon: CouponChoice,
    },
    /// The shopper abandons an open quote; its coupon goes back to the wallet.
    CancelQuote {
        shopper: ShopperId,
        quote: QuoteId,
    },
    /// Place the order for exactly this quote. The same key answers with the same order.
    PlaceOrder {
        shopper: ShopperId,
        quote: QuoteId,
        idempotency_key: IdempotencyKey,
        /// Kept with the order; a repeat under the key answers the first order whatever it says.
        channel: OrderChannel,
    },
    /// Claim, quote and order in one step: what a shopper's agent does with a campaign's
    /// coupon, and one journal entry instead of three. The claim is idempotent (at the cap it
    /// reuses the coupon claimed before); a refused order cancels its quote, so the coupon goes
    /// back to the wallet instead of staying held.
    CouponOrder {
        shopper: ShopperId,
        campaign: CampaignId,
        merchant: MerchantId,
        lines: Vec<CartLine>,
        idempotency_key: IdempotencyKey,
        channel: OrderChannel,
    },
    /// The shopper cancels (only before the shop accepts); the coupon goes back to the wallet.
    CancelOrder {
        shopper: ShopperId,
        order: OrderId,
    },
    /// The merchant moves its order: accept, reject, ready, dispatch, deliver.
    AdvanceOrder {
        merchant: MerchantId,
        order: OrderId,
        event: OrderEvent,
    },
    /// Time passes: expire holds and campaigns. The sequencer sends one when idle.
    Tick,
    /// The order webhooks have settled (delivered, or had refused by the receiver) the first
    /// `through` changes of ACP orders ([`Ledger::acp_changes_since`](crate::Ledger::acp_changes_since)):
    /// after a restart they send only the changes after it. The mark only moves forward.
    SettleWebhooks {
        through: u64,
    },
    /// This ledger is one node of a cluster: from now on every campaign it creates draws its
    /// budget from leases of the central pool (see `CampaignEdit::DrawFromLeases`), and existing
    /// campaigns that have given nothing out switch now. Journaled once, when the node starts.
    DrawAllFromLeases,
    /// A request made under an idempotency key: the first answer is kept (in the same journal
    /// batch as the write it made) and every later request with the same `scope` and `key`
    /// gets it again, or a conflict when its `fingerprint` (a hash of the request) differs.
    /// Answers that say "try later" are not kept. `command` is never itself `Keyed`.
    Keyed {
        /// Whose key space this is (the gateway hashes the caller's identity).
        scope: u64,
        key: IdempotencyKey,
        fingerprint: u64,
        command: Box<Command>,
    },
}

impl Command {
    /// A short stable name, for logs and metrics.
    pub const fn kind(&self) -> &'static str {
        match self {
            Command::CreateCampaign { .. } => "create_campaign",
            Command::EditCampaign { .. } => "edit_campaign",
            Command::PublishCatalog { .. } => "publish_catalog",
            Command::RegisterMerchant { .. } => "register_merchant",
            Command::SetMerchantStatus { .. } => "set_merchant_status",
            Command::SetMerchantCapacity { .. } => "set_merchant_capacity",
            Command::ClaimCoupon { .. } => "claim_coupon",
            Command::Quote { .. } => "quote",
            Command::Requote { .. } => "requote",
            Command::CancelQuote { .. } => "cancel_quote",
            Command::PlaceOrder { .. } => "place_order",
            Command::CouponOrder { .. } => "coupon_order",
            Command::CancelOrder { .. } => "cancel_order",
            Command::AdvanceOrder { .. } => "advance_order",
            Command::Tick => "tick",
            Command::SettleWebhooks { .. } => "settle_webhooks",
            Command::DrawAllFromLeases => "draw_all_from_leases",
            Command::Keyed { command, .. } => command.kind(),
        }
    }
}

/// A coupon that was looked at for a quote and not used, with why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RejectedCoupon {
    pub campaign: CampaignId,
    pub reason: lantern_core::ReasonCode,
}

/// A priced cart with the coupon it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuoteView {
    pub quote: QuoteId,
    pub shopper: ShopperId,
    pub merchant: MerchantId,
    /// Shared with the quote and then the order: priced once, never copied.
    pub lines: Arc<[PricedLine]>,
    pub subtotal: Money,
    pub discount: Money,
    pub total: Money,
    pub coupon: Option<CouponId>,
    pub rejected_coupons: Vec<RejectedCoupon>,
    pub expires_at: Timestamp,
    /// How long the shop says a new order would take now (its kitchen backlog at its rate).
    pub merchant_eta_ms: u64,
    pub merchant_status: MerchantStatus,
}

/// What a placed order answers; the same for every replay of its idempotency key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderReceipt {
    pub order: OrderId,
    pub quote: QuoteId,
    pub shopper: ShopperId,
    pub merchant: MerchantId,
    pub subtotal: Money,
    pub discount: Money,
    pub total: Money,
    pub coupon: Option<CouponId>,
    pub placed_at: Timestamp,
    pub eta_ms: u64,
}

/// What a successful command answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    CampaignCreated {
        campaign: CampaignId,
    },
    CampaignEdited {
        campaign: CampaignId,
        status: CampaignStatus,
        ends_at: Timestamp,
        budget_total: Money,
    },
    CatalogPublished {
        catalog: CatalogId,
        n_items: u32,
    },
    MerchantRegistered {
        merchant: MerchantId,
    },
    MerchantUpdated {
        merchant: MerchantId,
        status: MerchantStatus,
        capacity: Capacity,
    },
    CouponClaimed {
        coupon: CouponId,
        face_value: Money,
        /// False when the shopper was already at the cap and this is their existing coupon.
        newly_claimed: bool,
        /// The bonus coupon the referrer earned, if any.
        referral_bonus: Option<CouponId>,
    },
    Quoted(Box<QuoteView>),
    OrderPlaced {
        receipt: OrderReceipt,
        replayed: bool,
    },
    OrderAdvanced {
        order: OrderId,
        status: OrderStatus,
        /// When this change happened (the order's `updated_at` as of this answer), so a replay
        /// can show the order as this answer saw it.
        updated_at: Timestamp,
    },
    Ticked {
        holds_released: u32,
    },
    /// The webhooks' settle mark now.
    WebhooksSettled {
        through: u64,
    },
    /// Campaigns draw from leases from now on; `n_switched` existing ones switched.
    LeasesOn {
        n_switched: u32,
    },
    QuoteCanceled {
        quote: QuoteId,
    },
    /// The answer to a [`Command::Keyed`]: the inner command's answer, first time or replayed.
    Keyed {
        replayed: bool,
        answer: Box<Result<Outcome, crate::LedgerError>>,
    },
}
