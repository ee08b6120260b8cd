//! Merchants (outlets), their status and declared capacity.

use crate::ids::{CatalogId, MerchantId};

/// Whether a shop takes new orders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MerchantStatus {
    /// Taking orders, up to its capacity.
    Open,
    /// The kitchen is full: new orders are refused with an ETA until it is set open again.
    Busy,
    /// Closed to new orders (out of cups, end of day); open orders still proceed.
    Paused,
}

impl MerchantStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            MerchantStatus::Open => "open",
            MerchantStatus::Busy => "busy",
            MerchantStatus::Paused => "paused",
        }
    }
}

/// Upper bound of a shop's declared orders per minute.
pub const ORDERS_PER_MINUTE_MAX: u32 = 100_000;
/// Upper bound of a shop's declared open-order backlog.
pub const OPEN_ORDERS_MAX: u32 = 1_000_000;
/// Longest merchant name, in characters.
pub const MERCHANT_NAME_CHARS_MAX: usize = 200;

/// What a shop says it can make: a rate and a backlog. Orders past either are refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Capacity {
    orders_per_minute: u32,
    open_orders_max: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerchantError {
    #[error("capacity orders_per_minute must be 1..={ORDERS_PER_MINUTE_MAX}, got {0}")]
    OrdersPerMinute(u32),
    #[error("capacity open_orders_max must be 1..={OPEN_ORDERS_MAX}, got {0}")]
    OpenOrders(u32),
    #[error("merchant name must be 1..={MERCHANT_NAME_CHARS_MAX} characters")]
    Name,
}

impl Capacity {
    pub fn new(orders_per_minute: u32, open_orders_max: u32) -> Result<Capacity, MerchantError> {
        if !(1..=ORDERS_PER_MINUTE_MAX).contains(&orders_per_minute) {
            return Err(MerchantError::OrdersPerMinute(orders_per_minute));
        }
        if !(1..=OPEN_ORDERS_MAX).contains(&open_orders_max) {
            return Err(MerchantError::OpenOrders(open_orders_max));
        }
        Ok(Capacity { orders_per_minute, open_orders_max })
    }

    pub const fn orders_per_minute(self) -> u32 {
        self.orders_per_minute
    }

    pub const fn open_orders_max(self) -> u32 {
        self.open_orders_max
    }

    /// Honest wait for a new order given the current backlog: the backlog drains at the declared
    /// rate, so a new order waits for everything ahead of it plus its own minute slot.
    pub fn eta_ms(self, open_orders: u32) -> u64 {
        let minutes_x1000 = (u64::from(open_orders) + 1) * 60_000;
        minutes_x1000.div_ceil(u64::from(self.orders_per_minute))
    }
}

/// A shop: one outlet, with the catalog (menu) it sells from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Merchant {
    pub id: MerchantId,
    name: String,
    pub catalog: CatalogId,
    pub status: MerchantStatus,
    pub capacity: Capacity,
}

impl Merchant {
    pub fn new(
        id: MerchantId,
        name: impl Into<String>,
        catalog: CatalogId,
        capacity: Capacity,
    ) -> Result<Merchant, MerchantError> {
        let name = name.into();
        let n_chars = name.chars().count();
        if n_chars == 0 || n_chars > MERCHANT_NAME_CHARS_MAX {
            return Err(MerchantError::Name);
        }
        Ok(Merchant { id, name, catalog, status: MerchantStatus::Open, capacity })
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_is_checked() {
        assert!(Capacity::new(0, 10).is_err());
        assert!(Capacity::new(10, 0).is_err());
        assert!(Capacity::new(ORDERS_PER_MINUTE_MAX + 1, 10).is_err());
        assert!(Capacity::new(10, 10).is_ok());
    }

    #[test]
    fn eta_counts_the_backlog_at_the_declared_rate() {
        let capacity = Capacity::new(2, 50).unwrap_or_else(|error| panic!("{error}"));
        // 49 orders ahead plus this one at 2 per minute: 25 minutes.
        assert_eq!(capacity.eta_ms(49), 25 * 60_000);
        assert_eq!(capacity.eta_ms(0), 30_000);
    }
}
