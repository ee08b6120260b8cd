//! Why the ledger refused a command.

use lantern_core::pricing::PricingError;
use lantern_core::{
    CampaignError, CampaignId, CatalogError, CatalogId, MerchantId, Money, OrderId, OrderTransitionError,
    QuoteId, ReasonCode, Timestamp,
};

/// A refused command. Each variant says what was wrong and, where it helps, what to do; each has
/// a stable [`ReasonCode`]. A refused command changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("campaign {0} does not exist")]
    UnknownCampaign(CampaignId),
    #[error("merchant {0} does not exist")]
    UnknownMerchant(MerchantId),
    #[error("catalog {0} does not exist; publish it before registering merchants that sell from it")]
    UnknownCatalog(CatalogId),
    #[error("quote {0} does not exist or is not yours; ask for a new quote")]
    UnknownQuote(QuoteId),
    #[error("order {0} does not exist or is not yours")]
    UnknownOrder(OrderId),
    #[error(transparent)]
    Campaign(#[from] CampaignError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Pricing(#[from] PricingError),
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("campaign {0} is paused by its operator; try again later")]
    CampaignPaused(CampaignId),
    #[error("campaign {campaign} starts at {starts_at}")]
    CampaignNotStarted { campaign: CampaignId, starts_at: Timestamp },
    #[error("campaign {0} has ended")]
    CampaignEnded(CampaignId),
    #[error("campaign {campaign} has given out its budget ({available} left, a coupon needs {needed})")]
    BudgetExhausted { campaign: CampaignId, available: Money, needed: Money },
    #[error(
        "this node's lease of campaign {campaign}'s budget is spent and the next one has not arrived; \
         try again in {retry_after_ms} ms"
    )]
    LeaseExhausted { campaign: CampaignId, retry_after_ms: u64 },
    #[error("campaign {campaign} is handing out coupons at its set pace; try again in {retry_after_ms} ms")]
    PaceExceeded { campaign: CampaignId, retry_after_ms: u64 },
    #[error("campaign {campaign} has released all its coupons")]
    IssuanceComplete { campaign: CampaignId },
    #[error("the coupon of campaign {campaign} expired; ask for a new quote without it")]
    CouponExpired { campaign: CampaignId },
    #[error("quote {quote} expired at {expired_at}; ask for a new quote")]
    QuoteExpired { quote: QuoteId, expired_at: Timestamp },
    #[error("quote {0} was replaced by a newer quote that took its coupon; place the newer one")]
    QuoteSuperseded(QuoteId),
    #[error("this idempotency key was used for a different request (quote {first_quote}); use a new key")]
    IdempotencyConflict { first_quote: QuoteId },
    #[error("quote {0} was canceled; ask for a new quote")]
    QuoteCanceled(QuoteId),
    #[error("this idempotency key was already used for a different request; use a new key for a new request")]
    RequestConflict,
    #[error("merchant {merchant} is busy; a new order would take about {}", lantern_core::Wait::from_ms(*eta_ms))]
    MerchantBusy { merchant: MerchantId, eta_ms: u64 },
    #[error("merchant {0} is paused and takes no new orders")]
    MerchantPaused(MerchantId),
    #[error(transparent)]
    OrderTransition(#[from] OrderTransitionError),
    #[error("money arithmetic overflowed")]
    Overflow,
}

impl From<lantern_core::MoneyError> for LedgerError {
    fn from(_: lantern_core::MoneyError) -> LedgerError {
        LedgerError::Overflow
    }
}

impl LedgerError {
    pub fn code(&self) -> ReasonCode {
        match self {
            LedgerError::UnknownCampaign(_)
            | LedgerError::UnknownMerchant(_)
            | LedgerError::UnknownCatalog(_)
            | LedgerError::UnknownQuote(_)
            | LedgerError::UnknownOrder(_) => ReasonCode::NotFound,
            LedgerError::Campaign(CampaignError::Ended) => ReasonCode::CampaignEnded,
            LedgerError::Campaign(_)
            | LedgerError::Catalog(_)
            | LedgerError::Invalid { .. }
            | LedgerError::Overflow => ReasonCode::Invalid,
            LedgerError::Pricing(error) => error.code(),
            LedgerError::CampaignPaused(_) => ReasonCode::CampaignPaused,
            LedgerError::CampaignNotStarted { .. } => ReasonCode::CampaignNotStarted,
            LedgerError::CampaignEnded(_) => ReasonCode::CampaignEnded,
            LedgerError::BudgetExhausted { .. } => ReasonCode::BudgetExhausted,
            LedgerError::PaceExceeded { .. } | LedgerError::LeaseExhausted { .. } => ReasonCode::RateLimited,
            LedgerError::IssuanceComplete { .. } => ReasonCode::DiscountCodeUsageLimitReached,
            LedgerError::CouponExpired { .. } => ReasonCode::DiscountCodeExpired,
            LedgerError::QuoteExpired { .. } | LedgerError::QuoteSuperseded(_) => ReasonCode::Expired,
            LedgerError::IdempotencyConflict { .. } | LedgerError::RequestConflict => ReasonCode::Conflict,
            LedgerError::QuoteCanceled(_) => ReasonCode::InvalidTransition,
            LedgerError::MerchantBusy { .. } => ReasonCode::MerchantBusy,
            LedgerError::MerchantPaused(_) => ReasonCode::MerchantPaused,
            LedgerError::OrderTransition(_) => ReasonCode::InvalidTransition,
        }
    }

    /// When retrying later can succeed, how much later.
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            LedgerError::PaceExceeded { retry_after_ms, .. }
            | LedgerError::LeaseExhausted { retry_after_ms, .. } => Some(*retry_after_ms),
            LedgerError::MerchantBusy { eta_ms, .. } => Some((*eta_ms).min(60_000)),
            _ => None,
        }
    }
}
