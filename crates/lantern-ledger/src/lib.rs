//! Lantern's hot state and the pure function that changes it.
//!
//! The [`Ledger`] owns what every order touches: campaign budgets as double-entry accounts,
//! shoppers' coupons, holds made by quotes, open orders, merchants' capacity and idempotency keys.
//! [`Ledger::apply`] takes one [`Command`] and the time, and answers an [`Outcome`] or a
//! [`LedgerError`]. It does no I/O, reads no clock and draws no random numbers, so replaying the
//! journal of commands with their recorded times rebuilds exactly the same state: that is how a
//! restart recovers.
//!
//! Subsidy money moves only by transfers between a campaign's accounts
//! (`funding -> available -> wallets -> held -> redeemed -> settled`), and no account but
//! `funding` may go below zero, so a campaign can never give out more than its budget.
//!
//! When several nodes share a campaign, each node's copy draws its budget from leases of a
//! central pool (`CampaignEdit::DrawFromLeases`, `LeaseIn`, `LeaseOut`, journaled like any
//! command); [`next_step`] (module `lease`) is the pure policy that decides when to top up,
//! give back, or finish a move a crash cut in half.

mod accounts;
mod command;
mod error;
mod feed;
mod lease;
mod ledger;
mod wallet;

pub use accounts::{Account, CampaignAccounts};
pub use command::{CampaignEdit, Command, CouponChoice, OrderReceipt, Outcome, QuoteView, RejectedCoupon};
pub use error::LedgerError;
pub use feed::FeedSince;
pub use lease::{
    CHUNK_COVERS_MS, CentralLease, LOW_WATER_COVERS_MS, LeasePolicy, LeaseStep, LeaseView, SpendMeter,
    expiry_ms, next_step,
};
pub use ledger::{
    ACP_CHANGES_KEPT_MAX, AcpOrderChange, CAMPAIGNS_MAX, CampaignStats, EXPECTED_ENTRIES_MAX,
    EXPIRY_SWEEP_MAX, LEASE_RETRY_AFTER_MS, LeaseState, Ledger, LedgerConfig, MemoryEstimate,
    ORDER_RETENTION_MS_MIN, OrderView, QuoteRecord, QuoteStatus, RETIRED_KEPT_MAX, RetiredOrder,
    RetiredSince, WalletCoupon, presized,
};
pub use wallet::WALLET_COUPONS_MAX;
