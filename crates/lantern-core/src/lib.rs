//! Lantern's commerce domain, as plain data and pure functions.
//!
//! This crate knows what a shop, a menu, a coupon campaign, a quote and an order *are*, and which
//! changes to them are allowed. It does no I/O, has no async and no clock: every function that
//! depends on time takes the time as an argument ([`Timestamp`]).
//!
//! The principal types:
//! - [`Money`]: integer fen with checked arithmetic; no floats touch money.
//! - ids ([`ShopperId`], [`MerchantId`], [`ItemId`], [`CampaignId`], [`CouponId`], [`QuoteId`],
//!   [`OrderId`], [`IdempotencyKey`]): newtypes, so a shopper id is never passed as an order id.
//! - [`Merchant`] with [`MerchantStatus`] and [`Capacity`]; [`Catalog`] of [`Item`]s with
//!   [`OptionGroup`]s (size, sugar, ice, toppings) and price deltas.
//! - [`Campaign`] with its [`CouponTemplate`], eligibility, caps, [`Validity`] and
//!   [`IssuancePace`]; [`CouponStatus`] is the coupon lifecycle.
//! - [`pricing`]: pricing a cart against a catalog and choosing the best applicable coupon.
//! - [`OrderStatus`]: the order state machine; invalid transitions are typed errors.
//! - [`ReasonCode`]: machine-readable reason codes, following the Agentic Commerce Protocol's
//!   names where one fits.

mod campaign;
mod catalog;
mod coupon;
mod ids;
mod merchant;
mod money;
mod order;
pub mod pricing;
mod reason;
pub mod sharding;
mod time;

pub use campaign::{
    CAMPAIGN_BUDGET_MAX, COUPON_FACE_VALUE_MAX, Campaign, CampaignError, CampaignSpec, CampaignStatus,
    CouponTemplate, Eligibility, IssuancePace, PER_SHOPPER_LIMIT_MAX, REFERRAL_BONUS_CAP_MAX, Validity, Wave,
};
pub use catalog::{
    CATALOG_ITEMS_MAX, Catalog, CatalogError, ITEM_PRICE_MAX, Item, ItemOption, OPTION_CHOICES_MAX,
    OPTION_GROUPS_MAX, OptionGroup, OptionKind,
};
pub use coupon::{CouponStatus, CouponTransitionError};
pub use ids::{
    CampaignId, CatalogId, CouponId, IDEMPOTENCY_KEY_BYTES_MAX, IdError, IdempotencyKey, ItemId, MerchantId,
    OptionId, OrderId, QuoteId, ShopperId,
};
pub use merchant::{
    ADDRESS_FIELD_CHARS_MAX, Address, Capacity, GeoPoint, MERCHANT_NAME_CHARS_MAX, Merchant, MerchantError,
    MerchantStatus, OPEN_ORDERS_MAX, ORDERS_PER_MINUTE_MAX,
};
pub use money::{Money, MoneyError};
pub use order::{OrderChannel, OrderEvent, OrderStatus, OrderTransitionError};
pub use reason::ReasonCode;
pub use time::{Timestamp, Wait};
