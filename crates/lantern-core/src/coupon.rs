//! The coupon lifecycle: claimed -> held -> redeemed, with releases and expiry.

/// Where a coupon is in its life.
///
/// ```text
///            hold                redeem
/// Claimed ─────────► Held ─────────────► Redeemed
///    ▲   ◄─────────   │                     │
///    │    release     │ expire              │ order cancelled or rejected
///    │                ▼                     │
///    │             Expired ◄── expire ── Claimed
///    └──────────────────────────────────────┘
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CouponStatus {
    /// In the shopper's wallet, ready to use.
    Claimed,
    /// Held by a quote until the quote is placed or expires.
    Held,
    /// Spent on an order.
    Redeemed,
    /// The campaign's validity ended before it was used; its value went back to the budget.
    Expired,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("coupon cannot go from {from:?} by {event}")]
pub struct CouponTransitionError {
    pub from: CouponStatus,
    pub event: &'static str,
}

impl CouponStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            CouponStatus::Claimed => "claimed",
            CouponStatus::Held => "held",
            CouponStatus::Redeemed => "redeemed",
            CouponStatus::Expired => "expired",
        }
    }

    fn step(
        self,
        event: &'static str,
        from: CouponStatus,
        to: CouponStatus,
    ) -> Result<CouponStatus, CouponTransitionError> {
        if self == from { Ok(to) } else { Err(CouponTransitionError { from: self, event }) }
    }

    pub fn hold(self) -> Result<CouponStatus, CouponTransitionError> {
        self.step("hold", CouponStatus::Claimed, CouponStatus::Held)
    }

    pub fn release(self) -> Result<CouponStatus, CouponTransitionError> {
        self.step("release", CouponStatus::Held, CouponStatus::Claimed)
    }

    pub fn redeem(self) -> Result<CouponStatus, CouponTransitionError> {
        self.step("redeem", CouponStatus::Held, CouponStatus::Redeemed)
    }

    /// An order that used the coupon was cancelled or rejected: the shopper gets it back.
    pub fn restore(self) -> Result<CouponStatus, CouponTransitionError> {
        self.step("restore", CouponStatus::Redeemed, CouponStatus::Claimed)
    }

    pub fn expire(self) -> Result<CouponStatus, CouponTransitionError> {
        match self {
            CouponStatus::Claimed | CouponStatus::Held => Ok(CouponStatus::Expired),
            _ => Err(CouponTransitionError { from: self, event: "expire" }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CouponStatus::*;

    #[test]
    fn lifecycle_allows_only_its_arrows() {
        assert_eq!(Claimed.hold(), Ok(Held));
        assert_eq!(Held.release(), Ok(Claimed));
        assert_eq!(Held.redeem(), Ok(Redeemed));
        assert_eq!(Redeemed.restore(), Ok(Claimed));
        assert_eq!(Claimed.expire(), Ok(Expired));
        assert!(Claimed.redeem().is_err());
        assert!(Redeemed.hold().is_err());
        assert!(Redeemed.expire().is_err());
        assert!(Expired.hold().is_err());
        assert!(Expired.restore().is_err());
    }
}
