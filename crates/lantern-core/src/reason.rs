//! Machine-readable reason codes for refusals.

use std::fmt;

/// Why something was refused, as a stable code a client or agent can act on.
///
/// Names follow the Agentic Commerce Protocol (2026-04-17) where one fits: discount rejections use
/// its `discount_code_*` codes and other refusals its message error codes (`invalid`,
/// `not_found`, `minimum_not_met`, ...). Codes Lantern adds (`budget_exhausted`, `merchant_busy`,
/// ...) describe surge conditions the protocol has no word for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReasonCode {
    /// Malformed or out-of-range input.
    Invalid,
    /// Unknown id, or one the caller may not see.
    NotFound,
    /// Item or option not on the menu (ACP `out_of_stock`).
    OutOfStock,
    QuantityExceeded,
    MaximumExceeded,
    /// The cart is below the coupon's minimum spend.
    DiscountCodeMinimumNotMet,
    DiscountCodeExpired,
    DiscountCodeInvalid,
    DiscountCodeUserIneligible,
    DiscountCodeUsageLimitReached,
    /// A quote or hold has expired.
    Expired,
    /// Idempotency key reused with a different request, or a state conflict.
    Conflict,
    /// Issuance pace exceeded; retry later.
    RateLimited,
    /// Lantern: the campaign's budget has been given out.
    BudgetExhausted,
    /// Lantern: the campaign is paused by its operator.
    CampaignPaused,
    /// Lantern: the campaign has not started yet.
    CampaignNotStarted,
    /// Lantern: the campaign has ended.
    CampaignEnded,
    /// Lantern: the shop is at capacity; an ETA comes with it.
    MerchantBusy,
    /// Lantern: the shop is paused (closed to new orders).
    MerchantPaused,
    /// Lantern: an order cannot move from its current state to the requested one.
    InvalidTransition,
}

impl ReasonCode {
    pub const fn as_str(self) -> &'static str {
        match self {
            ReasonCode::Invalid => "invalid",
            ReasonCode::NotFound => "not_found",
            ReasonCode::OutOfStock => "out_of_stock",
            ReasonCode::QuantityExceeded => "quantity_exceeded",
            ReasonCode::MaximumExceeded => "maximum_exceeded",
            ReasonCode::DiscountCodeMinimumNotMet => "discount_code_minimum_not_met",
            ReasonCode::DiscountCodeExpired => "discount_code_expired",
            ReasonCode::DiscountCodeInvalid => "discount_code_invalid",
            ReasonCode::DiscountCodeUserIneligible => "discount_code_user_ineligible",
            ReasonCode::DiscountCodeUsageLimitReached => "discount_code_usage_limit_reached",
            ReasonCode::Expired => "expired",
            ReasonCode::Conflict => "conflict",
            ReasonCode::RateLimited => "rate_limited",
            ReasonCode::BudgetExhausted => "budget_exhausted",
            ReasonCode::CampaignPaused => "campaign_paused",
            ReasonCode::CampaignNotStarted => "campaign_not_started",
            ReasonCode::CampaignEnded => "campaign_ended",
            ReasonCode::MerchantBusy => "merchant_busy",
            ReasonCode::MerchantPaused => "merchant_paused",
            ReasonCode::InvalidTransition => "invalid_transition",
        }
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
