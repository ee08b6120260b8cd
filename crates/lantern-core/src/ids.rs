//! Typed identifiers.

use std::fmt;

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident, $prefix:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(u64);

        impl $name {
            pub const fn new(raw: u64) -> $name {
                $name(raw)
            }

            pub const fn get(self) -> u64 {
                self.0
            }

            /// Parses the display form (`shp_42`) or a bare number (`42`).
            pub fn parse(text: &str) -> Result<$name, IdError> {
                let digits = text.strip_prefix(concat!($prefix, "_")).unwrap_or(text);
                digits.parse::<u64>().map($name).map_err(|_| IdError::Malformed {
                    kind: stringify!($name),
                    text: text.chars().take(64).collect(),
                })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "_{}"), self.0)
            }
        }
    };
}

id_type!(
    /// A shopper: a person buying, through the chat or their own agent.
    ShopperId, "shp"
);
id_type!(
    /// A merchant outlet (one shop of a chain is one merchant).
    MerchantId, "mer"
);
id_type!(
    /// An item on a merchant's menu.
    ItemId, "itm"
);
id_type!(
    /// A menu; several outlets of one chain may share it.
    CatalogId, "cat"
);
id_type!(
    /// A coupon campaign.
    CampaignId, "cmp"
);
id_type!(
    /// A quote: a priced cart with a coupon held until it expires.
    QuoteId, "quo"
);
id_type!(
    /// A placed order.
    OrderId, "ord"
);

/// One choice inside an item's option group (for example "large" or "less sugar").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OptionId(u32);

impl OptionId {
    pub const fn new(raw: u32) -> OptionId {
        OptionId(raw)
    }

    pub const fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for OptionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "opt_{}", self.0)
    }
}

/// A coupon: the `ordinal`-th coupon that `shopper` claimed in `campaign`.
///
/// Coupons are numbered per shopper and campaign, so the ledger can keep a shopper's coupons in
/// a few bytes instead of a global table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CouponId {
    pub campaign: CampaignId,
    pub shopper: ShopperId,
    pub ordinal: u8,
}

impl fmt::Display for CouponId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cpn_{}_{}_{}", self.campaign.get(), self.shopper.get(), self.ordinal)
    }
}

/// Longest idempotency key accepted, in bytes.
pub const IDEMPOTENCY_KEY_BYTES_MAX: usize = 255;

/// A client-chosen key that makes a retried request safe: the same key returns the first answer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{kind} {text:?} is malformed: expected a number, optionally with its prefix")]
    Malformed { kind: &'static str, text: String },
    #[error(
        "idempotency key must be 1 to {IDEMPOTENCY_KEY_BYTES_MAX} printable ASCII characters, got {length_bytes} bytes"
    )]
    BadIdempotencyKey { length_bytes: usize },
}

impl IdempotencyKey {
    pub fn new(key: impl Into<String>) -> Result<IdempotencyKey, IdError> {
        let key = key.into();
        let printable = key.bytes().all(|byte| (0x21..=0x7e).contains(&byte));
        if key.is_empty() || key.len() > IDEMPOTENCY_KEY_BYTES_MAX || !printable {
            return Err(IdError::BadIdempotencyKey { length_bytes: key.len() });
        }
        Ok(IdempotencyKey(key))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_display() {
        let shopper = ShopperId::new(42);
        assert_eq!(shopper.to_string(), "shp_42");
        assert_eq!(ShopperId::parse("shp_42"), Ok(shopper));
        assert_eq!(ShopperId::parse("42"), Ok(shopper));
        assert!(ShopperId::parse("ord_42").is_err());
        assert!(OrderId::parse("").is_err());
    }

    #[test]
    fn idempotency_keys_are_checked() {
        assert!(IdempotencyKey::new("order-1").is_ok());
        assert!(IdempotencyKey::new("").is_err());
        assert!(IdempotencyKey::new("has space").is_err());
        assert!(IdempotencyKey::new("x".repeat(256)).is_err());
        assert!(IdempotencyKey::new("汉字").is_err());
    }
}
