//! The hot state and [`Ledger::apply`].

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use lantern_core::pricing::{self, CartLine, PricedLine};
use lantern_core::{
    Campaign, CampaignId, CampaignStatus, Capacity, Catalog, CatalogId, CouponId, CouponStatus,
    IdempotencyKey, IssuancePace, Merchant, MerchantId, MerchantStatus, Money, OrderChannel, OrderEvent,
    OrderId, OrderStatus, QuoteId, ReasonCode, ShopperId, Timestamp,
};
use rustc_hash::{FxBuildHasher, FxHashMap};

use crate::accounts::{Account, CampaignAccounts};
use crate::command::{CampaignEdit, Command, CouponChoice, OrderReceipt, Outcome, QuoteView, RejectedCoupon};
use crate::error::LedgerError;
use crate::feed::{Feed, FeedSince};
use crate::wallet::Wallet;

/// Most campaigns one ledger runs at once.
pub const CAMPAIGNS_MAX: usize = 1_024;
/// Most expired quotes, ended campaigns' holds or retired orders swept per command, so that a
/// jump in time never stalls the writer on one command.
pub const EXPIRY_SWEEP_MAX: usize = 4_096;
/// Shortest retention of closed orders and their idempotency keys: 24 hours.
pub const ORDER_RETENTION_MS_MIN: u64 = 24 * 60 * 60 * 1000;
/// Most retired orders a ledger may remember for readers that index orders
/// ([`Ledger::retired_since`]); a reader further behind is told to rebuild its index instead.
/// 32 bytes each.
pub const RETIRED_KEPT_MAX: usize = 1 << 20;
/// Changes to ACP orders a ledger remembers for the order webhooks ([`Ledger::acp_changes_since`]):
/// what a webhook receiver that is down may fall behind by before events are skipped. 24 bytes
/// each.
pub const ACP_CHANGES_KEPT_MAX: usize = 1 << 20;
/// Milli-tokens per order in a merchant's rate bucket: one order is one minute of one slot.
const RATE_UNITS_PER_ORDER: u64 = 60_000;
/// Units per coupon in a campaign's pace bucket.
const PACE_UNITS_PER_COUPON: u64 = 1_000;

/// Most entries a table may be sized for ahead of use (`LedgerConfig::expected_*`).
pub const EXPECTED_ENTRIES_MAX: usize = 100_000_000;

/// How the ledger behaves. There is no `Default`: the caller states each value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LedgerConfig {
    /// How long a quote holds its coupon and price.
    pub hold_ttl_ms: u64,
    /// How long closed orders, and the idempotency keys that placed them, stay answerable.
    pub order_retention_ms: u64,
    /// Shoppers each new campaign's wallet table is sized for up front, and orders the
    /// idempotency and kept-request tables are sized for. Tables still grow past these; sizing
    /// them for the expected reach only avoids regrowing (a pause of tens of milliseconds at
    /// millions of entries, with the write lock held) in the middle of a surge. The sized tables'
    /// memory is touched when they are made (see `presized`), which costs that memory from the
    /// start. Zero sizes nothing ahead.
    pub expected_shoppers: usize,
    pub expected_orders: usize,
    /// Retired orders remembered for readers' indexes ([`Ledger::retired_since`]), at most
    /// [`RETIRED_KEPT_MAX`].
    pub retired_kept_max: usize,
}

impl LedgerConfig {
    /// Asserts the configuration's own invariants; a bad configuration is a programmer error.
    fn checked(self) -> LedgerConfig {
        assert!(self.hold_ttl_ms > 0, "hold_ttl_ms must be positive");
        assert!(
            self.order_retention_ms >= ORDER_RETENTION_MS_MIN,
            "idempotency keys are kept at least 24 hours"
        );
        assert!(self.expected_shoppers <= EXPECTED_ENTRIES_MAX, "expected_shoppers out of range");
        assert!(self.expected_orders <= EXPECTED_ENTRIES_MAX, "expected_orders out of range");
        assert!((1..=RETIRED_KEPT_MAX).contains(&self.retired_kept_max), "retired_kept_max out of range");
        self
    }
}

/// A campaign, its accounts and its shoppers' wallets.
#[derive(Debug)]
struct CampaignState {
    campaign: Campaign,
    accounts: CampaignAccounts,
    wallets: FxHashMap<ShopperId, Wallet>,
    pace_units: u64,
    pace_refilled_at: Timestamp,
    n_issued: u64,
    n_referral_issued: u64,
    n_redeemed: u64,
    /// Set once the campaign draws its budget from leases (`CampaignEdit::DrawFromLeases`).
    lease: Option<LeaseState>,
}

/// A node's lease of a campaign's central budget, as running totals (see `CampaignEdit`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeaseState {
    /// Everything leased in from the central pool.
    pub granted: Money,
    /// Everything given back to it.
    pub returned: Money,
    /// The last lease asked for found the pool empty.
    pub pool_drained: bool,
}

/// How soon a claim refused for want of a lease should be retried: about one top-up.
pub const LEASE_RETRY_AFTER_MS: u64 = 200;

type CouponStep = fn(CouponStatus) -> Result<CouponStatus, lantern_core::CouponTransitionError>;

impl CampaignState {
    /// Moves one coupon through a lifecycle step and its face value between two accounts, together:
    /// a coupon's status and the money behind it never change apart.
    fn move_coupon(&mut self, coupon: CouponId, coupon_step: CouponStep, debit: Account, credit: Account) {
        let wallet = self.wallets.get_mut(&coupon.shopper).unwrap_or_else(|| panic!("ledger bug: no wallet"));
        let next = step(coupon_step(wallet.status(coupon.ordinal)));
        wallet.set_status(coupon.ordinal, next);
        let face_value = self.campaign.face_value();
        transfer(&mut self.accounts, debit, credit, face_value);
    }
}

#[derive(Debug)]
struct MerchantState {
    merchant: Merchant,
    /// Orders placed or accepted and not yet ready: what the kitchen still has to make.
    kitchen_backlog: u32,
    rate_units: u64,
    rate_refilled_at: Timestamp,
    settled: Money,
}

#[derive(Debug)]
struct QuoteState {
    shopper: ShopperId,
    merchant: MerchantId,
    lines: Arc<[PricedLine]>,
    subtotal: Money,
    discount: Money,
    coupon: Option<CouponId>,
    expires_at: Timestamp,
    superseded: bool,
    /// Past its expiry: its hold is released and it is kept only to answer "expired".
    expired: bool,
    /// Abandoned by the shopper: kept, like an expired quote, only to answer "canceled".
    canceled: bool,
    /// Set when the coupon's campaign ended while this quote held it.
    coupon_expired: Option<CampaignId>,
}

/// Where an unplaced quote stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuoteStatus {
    Open,
    Expired,
    /// A newer quote of the same shopper took its coupon.
    Superseded,
    Canceled,
}

/// A quote as readers see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuoteRecord {
    pub quote: QuoteId,
    pub shopper: ShopperId,
    pub merchant: MerchantId,
    pub lines: Arc<[PricedLine]>,
    pub subtotal: Money,
    pub discount: Money,
    pub coupon: Option<CouponId>,
    pub expires_at: Timestamp,
    pub status: QuoteStatus,
}

/// A keyed request's first answer, kept for its replays. The answer is boxed: replays are rare,
/// and a 32-byte entry instead of 136 makes the table's growth (a rehash of millions of entries,
/// on the writer, under the write lock that every read waits for) four times shorter.
#[derive(Debug)]
struct KeptRequest {
    fingerprint: u64,
    answer: Box<Result<Outcome, LedgerError>>,
}

/// Refuses a quote that can no longer be placed or changed.
fn check_open(quote_id: QuoteId, quote: &QuoteState, now: Timestamp) -> Result<(), LedgerError> {
    if quote.canceled {
        return Err(LedgerError::QuoteCanceled(quote_id));
    }
    if quote.expired || now >= quote.expires_at {
        return Err(LedgerError::QuoteExpired { quote: quote_id, expired_at: quote.expires_at });
    }
    if quote.superseded {
        return Err(LedgerError::QuoteSuperseded(quote_id));
    }
    Ok(())
}

/// An order as readers see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderView {
    pub receipt: OrderReceipt,
    pub lines: Arc<[PricedLine]>,
    pub status: OrderStatus,
    pub updated_at: Timestamp,
    pub channel: OrderChannel,
    idempotency_key_hash: u64,
}

/// One coupon in a shopper's wallet, as readers see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalletCoupon {
    pub coupon: CouponId,
    pub status: CouponStatus,
    pub face_value: Money,
    pub referral: bool,
    pub expires_at: Timestamp,
}

/// A campaign's live figures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CampaignStats {
    pub campaign: CampaignId,
    pub name: String,
    pub status: CampaignStatus,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub face_value: Money,
    pub budget_total: Money,
    pub available: Money,
    pub wallets: Money,
    pub held: Money,
    pub redeemed: Money,
    pub settled: Money,
    pub n_shoppers: u64,
    pub n_issued: u64,
    pub n_referral_issued: u64,
    pub n_redeemed: u64,
}

/// Approximate heap bytes of the hot state, by part (from table capacities, not allocator data).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MemoryEstimate {
    pub wallet_bytes: u64,
    pub n_wallets: u64,
    pub order_bytes: u64,
    pub n_orders: u64,
    pub idempotency_bytes: u64,
    pub quote_bytes: u64,
}

/// The hot state of one shard. See the crate docs.
#[derive(Debug)]
pub struct Ledger {
    config: LedgerConfig,
    now: Timestamp,
    campaigns: Vec<CampaignState>,
    catalogs: FxHashMap<CatalogId, Arc<Catalog>>,
    merchants: FxHashMap<MerchantId, MerchantState>,
    quotes: FxHashMap<QuoteId, QuoteState>,
    /// Quotes in creation order; with one TTL for all, that is also expiry order.
    quote_expiry: VecDeque<(Timestamp, QuoteId)>,
    /// Expired quotes kept for one more TTL, so a late confirmation hears "expired", not
    /// "unknown"; in expiry order, with the time each is forgotten.
    expired_quotes: VecDeque<(Timestamp, QuoteId)>,
    /// Which quote holds each held coupon.
    holds: FxHashMap<CouponId, QuoteId>,
    orders: OrderBook,
    /// Closed orders in closing order, for retirement after the retention window.
    closed_orders: VecDeque<(Timestamp, OrderId)>,
    /// The latest retired orders (at most `retired_kept_max`): what readers' indexes of orders
    /// need to forget.
    retired: Feed<RetiredOrder>,
    /// The latest changes to orders placed through ACP: what the order webhooks send.
    acp_changes: Feed<AcpOrderChange>,
    /// How many of `acp_changes` the webhooks have settled (`Command::SettleWebhooks`).
    webhooks_settled_through: u64,
    idempotency: FxHashMap<(ShopperId, u64), OrderId>,
    /// Keyed requests' first answers by (scope, key hash), kept as long as orders' keys.
    requests: FxHashMap<(u64, u64), KeptRequest>,
    request_expiry: VecDeque<(Timestamp, (u64, u64))>,
    next_quote_seq: u64,
    next_order_seq: u64,
    /// Orders placed since the journal began, by `OrderChannel::index` (retired ones included).
    n_orders_by_channel: [u64; OrderChannel::ALL.len()],
    /// Set by `Command::DrawAllFromLeases`: new campaigns start with a lease and no budget.
    draw_from_leases: bool,
}

/// A stable hash of an idempotency key. Stable across runs (replay must find the same entries),
/// and scoped by shopper, so a collision could only ever confuse one shopper's own requests.
fn key_hash(key: &IdempotencyKey) -> u64 {
    let mut hasher = FxBuildHasher.build_hasher();
    hasher.write(key.as_str().as_bytes());
    hasher.finish()
}

/// A map sized for `capacity` entries whose memory is already in place. A table allocated
/// ahead is only address space until it is written: left so, its first writes in a surge's
/// opening seconds would fault in (and zero) every page of it, one by one, with the ledger's
/// write lock held. In the surge replay that stopped every order for 130 ms at the opening.
/// Filling it once with `entry(n)` for each `n` and clearing it keeps the pages it touched.
/// (The gateway sizes its read index with it too.)
pub fn presized<K: Eq + std::hash::Hash, V>(
    capacity: usize,
    entry: impl Fn(u64) -> (K, V),
) -> FxHashMap<K, V> {
    let mut map = FxHashMap::with_capacity_and_hasher(capacity, FxBuildHasher);
    map.extend((0..capacity as u64).map(entry));
    map.clear();
    map
}

fn step(result: Result<CouponStatus, lantern_core::CouponTransitionError>) -> CouponStatus {
    result.unwrap_or_else(|error| panic!("ledger bug: {error}"))
}

fn transfer(accounts: &mut CampaignAccounts, debit: Account, credit: Account, amount: Money) {
    // Used only where the debited account provably holds the amount (it was credited with it
    // when the coupon entered that state), so a refusal here is a ledger bug.
    accounts.transfer(debit, credit, amount).unwrap_or_else(|error| panic!("ledger bug: {error}"));
}

impl Ledger {
    pub fn new(config: LedgerConfig) -> Ledger {
        let config = config.checked();
        Ledger {
            config,
            now: Timestamp::EPOCH,
            campaigns: Vec::new(),
            catalogs: FxHashMap::default(),
            merchants: FxHashMap::default(),
            quotes: FxHashMap::default(),
            quote_expiry: VecDeque::new(),
            expired_quotes: VecDeque::new(),
            holds: FxHashMap::default(),
            orders: OrderBook::default(),
            closed_orders: VecDeque::new(),
            retired: Feed::default(),
            acp_changes: Feed::default(),
            webhooks_settled_through: 0,
            idempotency: presized(config.expected_orders, |n| ((ShopperId::new(n), 0), OrderId::new(n))),
            requests: presized(config.expected_orders, |n| {
                (
                    (n, 0),
                    KeptRequest {
                        fingerprint: 0,
                        answer: Box::new(Ok(Outcome::Ticked { holds_released: 0 })),
                    },
                )
            }),
            request_expiry: VecDeque::new(),
            next_quote_seq: 1,
            next_order_seq: 1,
            n_orders_by_channel: [0; OrderChannel::ALL.len()],
            draw_from_leases: false,
        }
    }

    pub fn config(&self) -> LedgerConfig {
        self.config
    }

    /// The latest time the ledger has seen. Time never goes backwards inside the ledger.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Applies one command at `now`. A refused command changes nothing but the passage of time
    /// (expiring holds and campaigns that were due anyway).
    pub fn apply(&mut self, command: &Command, now: Timestamp) -> Result<Outcome, LedgerError> {
        let now = now.max(self.now);
        self.now = now;
        let holds_released = self.advance_time(now);
        match command {
            Command::CreateCampaign { spec } => self.create_campaign(spec, now),
            Command::EditCampaign { campaign, edit } => self.edit_campaign(*campaign, edit, now),
            Command::PublishCatalog { catalog } => {
                let n_items = u32::try_from(catalog.items().len()).unwrap_or(u32::MAX);
                self.catalogs.insert(catalog.id(), Arc::clone(catalog));
                Ok(Outcome::CatalogPublished { catalog: catalog.id(), n_items })
            }
            Command::RegisterMerchant { merchant } => self.register_merchant(merchant, now),
            Command::SetMerchantStatus { merchant, status } => {
                let state =
                    self.merchants.get_mut(merchant).ok_or(LedgerError::UnknownMerchant(*merchant))?;
                state.merchant.status = *status;
                Ok(merchant_updated(state))
            }
            Command::SetMerchantCapacity { merchant, capacity } => {
                let state =
                    self.merchants.get_mut(merchant).ok_or(LedgerError::UnknownMerchant(*merchant))?;
                // Time before the change counts at the old rate.
                refill_rate(state, now);
                state.merchant.capacity = *capacity;
                state.rate_units = state.rate_units.min(rate_units_max(*capacity));
                Ok(merchant_updated(state))
            }
            Command::ClaimCoupon { shopper, campaign, referred_by } => {
                self.claim(*shopper, *campaign, *referred_by, now)
            }
            Command::Quote { shopper, merchant, lines, coupon } => {
                self.quote(*shopper, *merchant, lines, *coupon, now)
            }
            Command::Requote { shopper, quote, lines, coupon } => {
                self.requote(*shopper, *quote, lines, *coupon, now)
            }
            Command::CancelQuote { shopper, quote } => self.cancel_quote(*shopper, *quote, now),
            Command::PlaceOrder { shopper, quote, idempotency_key, channel } => {
                self.place(Placing { shopper: *shopper, idempotency_key, channel: *channel }, *quote, now)
            }
            Command::CouponOrder { shopper, campaign, merchant, lines, idempotency_key, channel } => {
                let placing = Placing { shopper: *shopper, idempotency_key, channel: *channel };
                self.coupon_order(placing, *campaign, *merchant, lines, now)
            }
            Command::Keyed { scope, key, fingerprint, command } => {
                Ok(self.keyed(*scope, key, *fingerprint, command, now))
            }
            Command::CancelOrder { shopper, order } => {
                let view = self.orders.get(*order).filter(|view| view.receipt.shopper == *shopper);
                view.ok_or(LedgerError::UnknownOrder(*order))?;
                self.advance_order(*order, OrderEvent::Cancel, now)
            }
            Command::AdvanceOrder { merchant, order, event } => {
                if *event == OrderEvent::Cancel {
                    return Err(LedgerError::Invalid {
                        field: "event",
                        reason: "a shop rejects an order; only the shopper cancels".into(),
                    });
                }
                let view = self.orders.get(*order).filter(|view| view.receipt.merchant == *merchant);
                view.ok_or(LedgerError::UnknownOrder(*order))?;
                self.advance_order(*order, *event, now)
            }
            Command::Tick => Ok(Outcome::Ticked { holds_released }),
            Command::SettleWebhooks { through } => self.settle_webhooks(*through),
            Command::DrawAllFromLeases => Ok(self.draw_all_from_leases()),
        }
    }

    fn campaign_mut(&mut self, campaign: CampaignId) -> Result<&mut CampaignState, LedgerError> {
        usize::try_from(campaign.get())
            .ok()
            .and_then(|id| id.checked_sub(1))
            .and_then(|index| self.campaigns.get_mut(index))
            .ok_or(LedgerError::UnknownCampaign(campaign))
    }

    fn campaign_ref(&self, campaign: CampaignId) -> Option<&CampaignState> {
        usize::try_from(campaign.get())
            .ok()
            .and_then(|id| id.checked_sub(1))
            .and_then(|index| self.campaigns.get(index))
    }

    fn create_campaign(
        &mut self,
        spec: &lantern_core::CampaignSpec,
        now: Timestamp,
    ) -> Result<Outcome, LedgerError> {
        if self.campaigns.len() >= CAMPAIGNS_MAX {
            return Err(LedgerError::Invalid {
                field: "campaign",
                reason: format!("at most {CAMPAIGNS_MAX} campaigns run at once; end one first"),
            });
        }
        if spec.validity.ends_at() <= now {
            return Err(LedgerError::Invalid { field: "validity", reason: "it ends in the past".into() });
        }
        let id = CampaignId::new(self.campaigns.len() as u64 + 1);
        let campaign = Campaign::new(id, spec.clone())?;
        let mut accounts = CampaignAccounts::default();
        transfer(&mut accounts, Account::Funding, Account::Available, spec.budget);
        let pace_units = pace_units_max(&spec.pace);
        self.campaigns.push(CampaignState {
            campaign,
            accounts,
            wallets: presized(self.config.expected_shoppers, |n| (ShopperId::new(n), Wallet::default())),
            pace_units,
            pace_refilled_at: now,
            n_issued: 0,
            n_referral_issued: 0,
            n_redeemed: 0,
            lease: None,
        });
        if self.draw_from_leases {
            let state = self.campaigns.last_mut().unwrap_or_else(|| panic!("ledger bug: just pushed"));
            switch_to_leases(state);
        }
        Ok(Outcome::CampaignCreated { campaign: id })
    }

    fn edit_campaign(
        &mut self,
        id: CampaignId,
        edit: &CampaignEdit,
        now: Timestamp,
    ) -> Result<Outcome, LedgerError> {
        let state = self.campaign_mut(id)?;
        match edit {
            CampaignEdit::DrawFromLeases => {
                if state.campaign.status() == CampaignStatus::Ended {
                    return Err(lantern_core::CampaignError::Ended.into());
                }
                let available = state.accounts.balance(Account::Available);
                if state.lease.is_some() || available != state.accounts.budget_total() {
                    return Err(LedgerError::Invalid {
                        field: "draw_from_leases",
                        reason: "only a campaign that has given nothing out and does not lease yet can \
                                 switch to leases"
                            .into(),
                    });
                }
                switch_to_leases(state);
            }
            // Allowed after the end: a grant the central row made must always reach the journal,
            // so that the same money can then be given back.
            CampaignEdit::LeaseIn(amount) => {
                let budget_after = state.accounts.budget_total().checked_add(*amount)?;
                let Some(lease) = state.lease.as_mut() else { return Err(not_leasing()) };
                if amount.is_negative() || budget_after > lantern_core::CAMPAIGN_BUDGET_MAX {
                    return Err(LedgerError::Invalid {
                        field: "lease_in",
                        reason: format!(
                            "must be zero or more and keep the budget within {}",
                            lantern_core::CAMPAIGN_BUDGET_MAX
                        ),
                    });
                }
                lease.granted = lease.granted.checked_add(*amount)?;
                lease.pool_drained = *amount == Money::ZERO;
                transfer(&mut state.accounts, Account::Funding, Account::Available, *amount);
            }
            CampaignEdit::LeaseOut(amount) => {
                let available = state.accounts.balance(Account::Available);
                let Some(lease) = state.lease.as_mut() else { return Err(not_leasing()) };
                if *amount <= Money::ZERO || *amount > available {
                    return Err(LedgerError::Invalid {
                        field: "lease_out",
                        reason: format!("must be positive and at most the {available} available"),
                    });
                }
                lease.returned = lease.returned.checked_add(*amount)?;
                transfer(&mut state.accounts, Account::Available, Account::Funding, *amount);
            }
            CampaignEdit::SetEndsAt(ends_at) => state.campaign.set_ends_at(*ends_at, now)?,
            CampaignEdit::SetPace(pace) => {
                // Time before the change counts at the old pace.
                refill_pace(state, now);
                state.campaign.set_pace(pace.clone())?;
                state.pace_units = state.pace_units.min(pace_units_max(pace));
            }
            CampaignEdit::TopUp(amount) => {
                if state.campaign.status() == CampaignStatus::Ended {
                    return Err(lantern_core::CampaignError::Ended.into());
                }
                let budget_after = state.accounts.budget_total().checked_add(*amount)?;
                if *amount <= Money::ZERO || budget_after > lantern_core::CAMPAIGN_BUDGET_MAX {
                    return Err(LedgerError::Invalid {
                        field: "top_up",
                        reason: format!(
                            "must be positive and keep the budget within {}",
                            lantern_core::CAMPAIGN_BUDGET_MAX
                        ),
                    });
                }
                transfer(&mut state.accounts, Account::Funding, Account::Available, *amount);
            }
            CampaignEdit::Pause => state.campaign.pause()?,
            CampaignEdit::Resume => state.campaign.resume()?,
        }
        Ok(Outcome::CampaignEdited {
            campaign: id,
            status: state.campaign.status(),
            ends_at: state.campaign.spec().validity.ends_at(),
            budget_total: state.accounts.budget_total(),
        })
    }

    fn register_merchant(&mut self, merchant: &Merchant, now: Timestamp) -> Result<Outcome, LedgerError> {
        if !self.catalogs.contains_key(&merchant.catalog) {
            return Err(LedgerError::UnknownCatalog(merchant.catalog));
        }
        let entry = self.merchants.entry(merchant.id).or_insert_with(|| MerchantState {
            merchant: merchant.clone(),
            kitchen_backlog: 0,
            rate_units: rate_units_max(merchant.capacity),
            rate_refilled_at: now,
            settled: Money::ZERO,
        });
        // Re-registering updates the shop's details but keeps its live backlog and takings.
        entry.merchant = merchant.clone();
        entry.rate_units = entry.rate_units.min(rate_units_max(merchant.capacity));
        Ok(Outcome::MerchantRegistered { merchant: merchant.id })
    }

    fn claim(
        &mut self,
        shopper: ShopperId,
        campaign: CampaignId,
        referred_by: Option<ShopperId>,
        now: Timestamp,
    ) -> Result<Outcome, LedgerError> {
        let state = self.campaign_mut(campaign)?;
        let spec = state.campaign.spec();
        match state.campaign.status() {
            CampaignStatus::Active => {}
            CampaignStatus::Paused => return Err(LedgerError::CampaignPaused(campaign)),
            CampaignStatus::Ended => return Err(LedgerError::CampaignEnded(campaign)),
        }
        if now < spec.validity.starts_at() {
            return Err(LedgerError::CampaignNotStarted { campaign, starts_at: spec.validity.starts_at() });
        }
        let referral_cap = spec.referral_bonus_cap;
        let mut wallet = state.wallets.get(&shopper).copied().unwrap_or_default();
        if wallet.n_base() >= spec.per_shopper_limit {
            let ordinal =
                wallet.last_base().unwrap_or_else(|| panic!("ledger bug: base count without base coupon"));
            return Ok(Outcome::CouponClaimed {
                coupon: CouponId { campaign, shopper, ordinal },
                face_value: state.campaign.face_value(),
                newly_claimed: false,
                referral_bonus: None,
            });
        }
        // Budget before pace: when the money is gone, say so at once rather than "try later".
        let face_value = state.campaign.face_value();
        let available = state.accounts.balance(Account::Available);
        if available < face_value {
            // A leasing node that is waiting for its next lease says "try again", not "gone".
            if state.lease.is_some_and(|lease| !lease.pool_drained) {
                return Err(LedgerError::LeaseExhausted { campaign, retry_after_ms: LEASE_RETRY_AFTER_MS });
            }
            return Err(LedgerError::BudgetExhausted { campaign, available, needed: face_value });
        }
        refill_pace(state, now);
        check_pace(state, now)?;
        let first_claim = wallet.n_base() == 0;
        state.accounts.transfer(Account::Available, Account::Wallets, face_value).map_err(|refused| {
            LedgerError::BudgetExhausted { campaign, available: refused.balance, needed: face_value }
        })?;
        if !matches!(state.campaign.spec().pace, IssuancePace::Unlimited | IssuancePace::Waves(_)) {
            state.pace_units -= PACE_UNITS_PER_COUPON;
        }
        let ordinal = wallet.add(false);
        state.wallets.insert(shopper, wallet);
        state.n_issued += 1;
        let coupon = CouponId { campaign, shopper, ordinal };
        // A referral counts once: when the referred shopper claims for the first time.
        let referral_bonus = referred_by
            .filter(|referrer| *referrer != shopper && first_claim)
            .and_then(|referrer| grant_referral(state, referrer, referral_cap));
        Ok(Outcome::CouponClaimed { coupon, face_value, newly_claimed: true, referral_bonus })
    }

    fn quote(
        &mut self,
        shopper: ShopperId,
        merchant_id: MerchantId,
        lines: &[CartLine],
        choice: CouponChoice,
        now: Timestamp,
    ) -> Result<Outcome, LedgerError> {
        let merchant = self.merchants.get(&merchant_id).ok_or(LedgerError::UnknownMerchant(merchant_id))?;
        if merchant.merchant.status == MerchantStatus::Paused {
            return Err(LedgerError::MerchantPaused(merchant_id));
        }
        let merchant_status = merchant.merchant.status;
        let merchant_eta_ms = merchant.merchant.capacity.eta_ms(merchant.kitchen_backlog);
        let catalog = self
            .catalogs
            .get(&merchant.merchant.catalog)
            .unwrap_or_else(|| panic!("ledger bug: merchant registered without its catalog"));
        let cart = pricing::price_cart(catalog, lines)?;
        let (best, rejected_coupons) = self.best_coupon(shopper, merchant_id, catalog, &cart, choice);
        let quote = QuoteId::new(self.next_quote_seq);
        self.next_quote_seq += 1;
        let (coupon, discount) = match best {
            Some(candidate) => {
                self.take_hold(&candidate, quote);
                (Some(candidate.coupon), candidate.discount)
            }
            None => (None, Money::ZERO),
        };
        let expires_at = now.plus_ms(self.config.hold_ttl_ms);
        let lines: Arc<[PricedLine]> = cart.lines.into();
        let view = QuoteView {
            quote,
            shopper,
            merchant: merchant_id,
            lines: Arc::clone(&lines),
            subtotal: cart.subtotal,
            discount,
            total: cart.subtotal.checked_sub(discount)?,
            coupon,
            rejected_coupons,
            expires_at,
            merchant_eta_ms,
            merchant_status,
        };
        self.quotes.insert(
            quote,
            QuoteState {
                shopper,
                merchant: merchant_id,
                lines,
                subtotal: cart.subtotal,
                discount,
                coupon,
                expires_at,
                superseded: false,
                expired: false,
                canceled: false,
                coupon_expired: None,
            },
        );
        self.quote_expiry.push_back((expires_at, quote));
        Ok(Outcome::Quoted(Box::new(view)))
    }

    /// The coupon that takes the most off, and why the others were not used.
    fn best_coupon(
        &self,
        shopper: ShopperId,
        merchant: MerchantId,
        catalog: &Catalog,
        cart: &pricing::PricedCart,
        choice: CouponChoice,
    ) -> (Option<Candidate>, Vec<RejectedCoupon>) {
        let mut rejected = Vec::new();
        let mut best: Option<Candidate> = None;
        let wanted = match choice {
            CouponChoice::None => return (None, rejected),
            CouponChoice::Best => None,
            CouponChoice::Campaign(id) => {
                if self.campaign_ref(id).is_none() {
                    rejected.push(RejectedCoupon { campaign: id, reason: ReasonCode::DiscountCodeInvalid });
                    return (None, rejected);
                }
                Some(id)
            }
        };
        for state in &self.campaigns {
            let campaign = state.campaign.id();
            if wanted.is_some_and(|wanted| wanted != campaign) {
                continue;
            }
            let Some(wallet) = state.wallets.get(&shopper).copied() else {
                if wanted.is_some() {
                    rejected.push(RejectedCoupon { campaign, reason: ReasonCode::DiscountCodeInvalid });
                }
                continue;
            };
            if state.campaign.status() == CampaignStatus::Ended {
                if wallet.first_with(CouponStatus::Claimed).is_some() || wanted.is_some() {
                    rejected.push(RejectedCoupon { campaign, reason: ReasonCode::DiscountCodeExpired });
                }
                continue;
            }
            let usable =
                wallet.first_with(CouponStatus::Claimed).map(|ordinal| (ordinal, None)).or_else(|| {
                    wallet.first_with(CouponStatus::Held).map(|ordinal| {
                        let coupon = CouponId { campaign, shopper, ordinal };
                        (ordinal, self.holds.get(&coupon).copied())
                    })
                });
            let Some((ordinal, held_by)) = usable else {
                if wanted.is_some() {
                    rejected
                        .push(RejectedCoupon { campaign, reason: ReasonCode::DiscountCodeUsageLimitReached });
                }
                continue;
            };
            match pricing::discount(state.campaign.spec(), merchant, catalog, cart) {
                Ok(discount) => {
                    let candidate = Candidate {
                        coupon: CouponId { campaign, shopper, ordinal },
                        discount,
                        ends_at: state.campaign.spec().validity.ends_at(),
                        held_by,
                    };
                    if best.as_ref().is_none_or(|best| candidate.beats(best)) {
                        best = Some(candidate);
                    }
                }
                Err(reason) => rejected.push(RejectedCoupon { campaign, reason }),
            }
        }
        (best, rejected)
    }

    /// Holds `candidate` for `quote`: from the wallet, or taken over from an older quote of the
    /// same shopper (the newest quote is the one the shopper is looking at).
    fn take_hold(&mut self, candidate: &Candidate, quote: QuoteId) {
        let coupon = candidate.coupon;
        match candidate.held_by {
            Some(older) => {
                let older_quote =
                    self.quotes.get_mut(&older).unwrap_or_else(|| panic!("ledger bug: hold without quote"));
                older_quote.coupon = None;
                older_quote.superseded = true;
            }
            None => {
                let state = &mut self.campaigns[campaign_index(coupon.campaign)];
                state.move_coupon(coupon, CouponStatus::hold, Account::Wallets, Account::Held);
            }
        }
        self.holds.insert(coupon, quote);
    }

    fn requote(
        &mut self,
        shopper: ShopperId,
        quote_id: QuoteId,
        lines: &[CartLine],
        choice: CouponChoice,
        now: Timestamp,
    ) -> Result<Outcome, LedgerError> {
        let quote = self.shoppers_quote(shopper, quote_id)?;
        check_open(quote_id, quote, now)?;
        let (merchant_id, old_coupon) = (quote.merchant, quote.coupon);
        let merchant = self.merchants.get(&merchant_id).ok_or(LedgerError::UnknownMerchant(merchant_id))?;
        if merchant.merchant.status == MerchantStatus::Paused {
            return Err(LedgerError::MerchantPaused(merchant_id));
        }
        let (merchant_status, merchant_eta_ms) =
            (merchant.merchant.status, merchant.merchant.capacity.eta_ms(merchant.kitchen_backlog));
        let catalog = Arc::clone(
            self.catalogs
                .get(&merchant.merchant.catalog)
                .unwrap_or_else(|| panic!("ledger bug: merchant registered without its catalog")),
        );
        // Everything that can refuse runs before anything changes.
        let cart = pricing::price_cart(&catalog, lines)?;
        let (best, rejected_coupons) = self.best_coupon(shopper, merchant_id, &catalog, &cart, choice);
        let (coupon, discount) = match best {
            Some(candidate) if Some(candidate.coupon) == old_coupon => (old_coupon, candidate.discount),
            Some(candidate) => {
                self.release_quote_hold(quote_id);
                self.take_hold(&candidate, quote_id);
                (Some(candidate.coupon), candidate.discount)
            }
            None => {
                self.release_quote_hold(quote_id);
                (None, Money::ZERO)
            }
        };
        let total = cart.subtotal.checked_sub(discount)?;
        let expires_at = now.plus_ms(self.config.hold_ttl_ms);
        let lines: Arc<[PricedLine]> = cart.lines.into();
        let quote = self.quotes.get_mut(&quote_id).unwrap_or_else(|| panic!("ledger bug: quote vanished"));
        quote.lines = Arc::clone(&lines);
        quote.subtotal = cart.subtotal;
        quote.discount = discount;
        quote.coupon = coupon;
        quote.expires_at = expires_at;
        self.quote_expiry.push_back((expires_at, quote_id));
        Ok(Outcome::Quoted(Box::new(QuoteView {
            quote: quote_id,
            shopper,
            merchant: merchant_id,
            lines,
            subtotal: cart.subtotal,
            discount,
            total,
            coupon,
            rejected_coupons,
            expires_at,
            merchant_eta_ms,
            merchant_status,
        })))
    }

    fn cancel_quote(
        &mut self,
        shopper: ShopperId,
        quote_id: QuoteId,
        now: Timestamp,
    ) -> Result<Outcome, LedgerError> {
        let quote = self.shoppers_quote(shopper, quote_id)?;
        if quote.canceled {
            return Ok(Outcome::QuoteCanceled { quote: quote_id });
        }
        check_open(quote_id, quote, now)?;
        self.release_quote_hold(quote_id);
        let quote = self.quotes.get_mut(&quote_id).unwrap_or_else(|| panic!("ledger bug: quote vanished"));
        quote.canceled = true;
        self.expired_quotes.push_back((now.plus_ms(self.config.hold_ttl_ms), quote_id));
        Ok(Outcome::QuoteCanceled { quote: quote_id })
    }

    fn coupon_order(
        &mut self,
        placing: Placing<'_>,
        campaign: CampaignId,
        merchant: MerchantId,
        lines: &[CartLine],
        now: Timestamp,
    ) -> Result<Outcome, LedgerError> {
        let shopper = placing.shopper;
        // A repeat of an order already placed answers with it before claiming anything.
        if let Some(order) = self.idempotency.get(&(shopper, key_hash(placing.idempotency_key))) {
            let view = self.orders.get(*order).unwrap_or_else(|| panic!("ledger bug: key without order"));
            return Ok(Outcome::OrderPlaced { receipt: view.receipt, replayed: true });
        }
        self.claim(shopper, campaign, None, now)?;
        let quote = match self.quote(shopper, merchant, lines, CouponChoice::Campaign(campaign), now)? {
            Outcome::Quoted(view) => view.quote,
            other => panic!("ledger bug: a quote answered {other:?}"),
        };
        let placed = self.place(placing, quote, now);
        if placed.is_err() {
            self.cancel_quote(shopper, quote, now)?;
        }
        placed
    }

    /// Gives a quote's held coupon back to the wallet.
    fn release_quote_hold(&mut self, quote_id: QuoteId) {
        let Some(quote) = self.quotes.get_mut(&quote_id) else { return };
        if let Some(coupon) = quote.coupon.take() {
            self.holds.remove(&coupon);
            let state = &mut self.campaigns[campaign_index(coupon.campaign)];
            state.move_coupon(coupon, CouponStatus::release, Account::Held, Account::Wallets);
        }
    }

    fn keyed(
        &mut self,
        scope: u64,
        key: &IdempotencyKey,
        fingerprint: u64,
        command: &Command,
        now: Timestamp,
    ) -> Outcome {
        let request = (scope, key_hash(key));
        if let Some(kept) = self.requests.get(&request) {
            let answer = if kept.fingerprint == fingerprint {
                (*kept.answer).clone()
            } else {
                Err(LedgerError::RequestConflict)
            };
            return Outcome::Keyed { replayed: true, answer: Box::new(answer) };
        }
        let answer = if matches!(command, Command::Keyed { .. }) {
            Err(LedgerError::Invalid {
                field: "command",
                reason: "a keyed request cannot wrap another".into(),
            })
        } else {
            self.apply(command, now)
        };
        // "Try later" answers are not kept: the same key must be able to succeed later.
        let keep = match &answer {
            Ok(_) => true,
            Err(error) => error.retry_after_ms().is_none(),
        };
        if keep {
            self.requests.insert(request, KeptRequest { fingerprint, answer: Box::new(answer.clone()) });
            self.request_expiry.push_back((now.plus_ms(self.config.order_retention_ms), request));
        }
        Outcome::Keyed { replayed: false, answer: Box::new(answer) }
    }

    fn place(
        &mut self,
        placing: Placing<'_>,
        quote_id: QuoteId,
        now: Timestamp,
    ) -> Result<Outcome, LedgerError> {
        let Placing { shopper, idempotency_key, channel } = placing;
        let idempotency_key_hash = key_hash(idempotency_key);
        if let Some(order) = self.idempotency.get(&(shopper, idempotency_key_hash)) {
            let view = self.orders.get(*order).unwrap_or_else(|| panic!("ledger bug: key without order"));
            if view.receipt.quote != quote_id {
                return Err(LedgerError::IdempotencyConflict { first_quote: view.receipt.quote });
            }
            return Ok(Outcome::OrderPlaced { receipt: view.receipt, replayed: true });
        }
        let merchant_id = self.placeable_at(shopper, quote_id, now)?;
        let merchant =
            self.merchants.get_mut(&merchant_id).ok_or(LedgerError::UnknownMerchant(merchant_id))?;
        let eta_ms = admit_order(merchant, now)?;
        let quote = self.quotes.remove(&quote_id).unwrap_or_else(|| panic!("ledger bug: quote vanished"));
        if let Some(coupon) = quote.coupon {
            self.holds.remove(&coupon);
            let state = &mut self.campaigns[campaign_index(coupon.campaign)];
            state.move_coupon(coupon, CouponStatus::redeem, Account::Held, Account::Redeemed);
            state.n_redeemed += 1;
        }
        let order = OrderId::new(self.next_order_seq);
        self.next_order_seq += 1;
        let receipt = OrderReceipt {
            order,
            quote: quote_id,
            shopper,
            merchant: merchant_id,
            subtotal: quote.subtotal,
            discount: quote.discount,
            total: quote.subtotal.checked_sub(quote.discount)?,
            coupon: quote.coupon,
            placed_at: now,
            eta_ms,
        };
        self.orders.push(
            order,
            OrderView {
                receipt,
                lines: quote.lines,
                status: OrderStatus::Placed,
                updated_at: now,
                channel,
                idempotency_key_hash,
            },
        );
        self.idempotency.insert((shopper, idempotency_key_hash), order);
        self.n_orders_by_channel[channel.index()] += 1;
        if channel == OrderChannel::Acp {
            let change = AcpOrderChange { order, status: OrderStatus::Placed, at: now };
            self.acp_changes.push(change, ACP_CHANGES_KEPT_MAX);
        }
        Ok(Outcome::OrderPlaced { receipt, replayed: false })
    }

    fn advance_order(
        &mut self,
        order: OrderId,
        event: OrderEvent,
        now: Timestamp,
    ) -> Result<Outcome, LedgerError> {
        let view = self.orders.get_mut(order).unwrap_or_else(|| panic!("ledger bug: checked order vanished"));
        let before = view.status;
        let after = before.apply(event)?;
        view.status = after;
        view.updated_at = now;
        let receipt = view.receipt;
        if view.channel == OrderChannel::Acp {
            self.acp_changes.push(AcpOrderChange { order, status: after, at: now }, ACP_CHANGES_KEPT_MAX);
        }
        let in_kitchen = |status: OrderStatus| matches!(status, OrderStatus::Placed | OrderStatus::Accepted);
        if in_kitchen(before)
            && !in_kitchen(after)
            && let Some(merchant) = self.merchants.get_mut(&receipt.merchant)
        {
            merchant.kitchen_backlog -= 1;
        }
        if let Some(coupon) = receipt.coupon {
            let state = &mut self.campaigns[campaign_index(coupon.campaign)];
            let face_value = state.campaign.face_value();
            match after {
                OrderStatus::Cancelled | OrderStatus::Rejected => {
                    let ended = state.campaign.status() == CampaignStatus::Ended;
                    state.n_redeemed -= 1;
                    if ended {
                        // The campaign is over: the coupon comes back only to expire at once.
                        let restore_then_expire: CouponStep = |status| status.restore()?.expire();
                        state.move_coupon(coupon, restore_then_expire, Account::Redeemed, Account::Available);
                    } else {
                        state.move_coupon(coupon, CouponStatus::restore, Account::Redeemed, Account::Wallets);
                    }
                }
                OrderStatus::Delivered => {
                    let unused = face_value.checked_sub(receipt.discount)?;
                    transfer(&mut state.accounts, Account::Redeemed, Account::Settled, receipt.discount);
                    transfer(&mut state.accounts, Account::Redeemed, Account::Available, unused);
                    if let Some(merchant) = self.merchants.get_mut(&receipt.merchant) {
                        merchant.settled = merchant.settled.checked_add(receipt.discount)?;
                    }
                }
                _ => {}
            }
        }
        if !after.is_open() {
            self.closed_orders.push_back((now, order));
        }
        Ok(Outcome::OrderAdvanced { order, status: after, updated_at: now })
    }

    /// Expires what is due at `now`, at most [`EXPIRY_SWEEP_MAX`] items of each kind. Returns how
    /// many holds were released.
    fn advance_time(&mut self, now: Timestamp) -> u32 {
        for index in 0..self.campaigns.len() {
            let state = &self.campaigns[index];
            if state.campaign.status() != CampaignStatus::Ended
                && now >= state.campaign.spec().validity.ends_at()
            {
                self.end_campaign(index);
            }
        }
        let mut holds_released = 0;
        for _ in 0..EXPIRY_SWEEP_MAX {
            match self.quote_expiry.front() {
                Some((expires_at, _)) if *expires_at <= now => {}
                _ => break,
            }
            let Some((_, quote_id)) = self.quote_expiry.pop_front() else { break };
            let Some(quote) = self.quotes.get_mut(&quote_id) else { continue };
            // A requoted quote has a later entry of its own; a canceled one is already released.
            if quote.expires_at > now || quote.expired || quote.canceled {
                continue;
            }
            quote.expired = true;
            self.expired_quotes.push_back((quote.expires_at.plus_ms(self.config.hold_ttl_ms), quote_id));
            if let Some(coupon) = quote.coupon.take() {
                self.holds.remove(&coupon);
                let state = &mut self.campaigns[campaign_index(coupon.campaign)];
                state.move_coupon(coupon, CouponStatus::release, Account::Held, Account::Wallets);
                holds_released += 1;
            }
        }
        for _ in 0..EXPIRY_SWEEP_MAX {
            match self.expired_quotes.front() {
                Some((forget_at, _)) if *forget_at <= now => {}
                _ => break,
            }
            let Some((_, quote_id)) = self.expired_quotes.pop_front() else { break };
            self.quotes.remove(&quote_id);
        }
        for _ in 0..EXPIRY_SWEEP_MAX {
            match self.closed_orders.front() {
                Some((closed_at, _)) if closed_at.plus_ms(self.config.order_retention_ms) <= now => {}
                _ => break,
            }
            let Some((_, order)) = self.closed_orders.pop_front() else { break };
            if let Some(view) = self.orders.remove(order) {
                self.idempotency.remove(&(view.receipt.shopper, view.idempotency_key_hash));
                let receipt = view.receipt;
                let retired = RetiredOrder {
                    order,
                    shopper: receipt.shopper,
                    merchant: receipt.merchant,
                    quote: receipt.quote,
                };
                self.retired.push(retired, self.config.retired_kept_max);
            }
        }
        for _ in 0..EXPIRY_SWEEP_MAX {
            match self.request_expiry.front() {
                Some((forget_at, _)) if *forget_at <= now => {}
                _ => break,
            }
            let Some((_, request)) = self.request_expiry.pop_front() else { break };
            self.requests.remove(&request);
        }
        holds_released
    }

    /// Ends a campaign whose validity passed: unused coupons expire and their value returns to
    /// the budget. Claimed coupons are expired in aggregate (their wallets are read as expired
    /// from now on) so that ending a campaign of millions of shoppers is one step, not millions.
    fn end_campaign(&mut self, index: usize) {
        let state = &mut self.campaigns[index];
        let campaign = state.campaign.id();
        state.campaign.end();
        let held: Vec<(CouponId, QuoteId)> = self
            .holds
            .iter()
            .filter(|(coupon, _)| coupon.campaign == campaign)
            .map(|(c, q)| (*c, *q))
            .collect();
        for (coupon, quote) in held {
            self.holds.remove(&coupon);
            if let Some(quote) = self.quotes.get_mut(&quote) {
                quote.coupon = None;
                quote.coupon_expired = Some(campaign);
            }
            state.move_coupon(coupon, CouponStatus::expire, Account::Held, Account::Available);
        }
        let unused = state.accounts.balance(Account::Wallets);
        transfer(&mut state.accounts, Account::Wallets, Account::Available, unused);
    }

    // ---- reads -------------------------------------------------------------------------------

    pub fn order(&self, order: OrderId) -> Option<&OrderView> {
        self.orders.get(order)
    }

    /// Orders retired after `cursor` (a count of retirements; start from [`Ledger::n_retired`]),
    /// at most `max` of them, oldest first. `missed` when some after `cursor` are no longer
    /// remembered ([`RETIRED_KEPT_MAX`]): the reader should rebuild its index from the orders.
    pub fn retired_since(&self, cursor: u64, max: usize) -> RetiredSince {
        let since = self.retired.since(cursor, max);
        if since.n_missed > 0 {
            return RetiredSince { orders: Vec::new(), next: self.retired.n_pushed(), missed: true };
        }
        RetiredSince {
            orders: since.items.into_iter().map(|(_, order)| order).collect(),
            next: since.next,
            missed: false,
        }
    }

    /// How many orders were ever retired.
    pub fn n_retired(&self) -> u64 {
        self.retired.n_pushed()
    }

    /// Changes to ACP orders after `cursor` (a count of changes; the webhooks start from
    /// [`Ledger::webhooks_settled_through`]), at most `max`, oldest first, with how many after
    /// `cursor` are no longer remembered ([`ACP_CHANGES_KEPT_MAX`]).
    pub fn acp_changes_since(&self, cursor: u64, max: usize) -> FeedSince<AcpOrderChange> {
        self.acp_changes.since(cursor, max)
    }

    /// How many changes ACP orders ever had.
    pub fn n_acp_changes(&self) -> u64 {
        self.acp_changes.n_pushed()
    }

    /// How many of the ACP orders' changes the webhooks settled (delivered or refused by the
    /// receiver), as last journaled: a restart sends the ones after it again.
    pub fn webhooks_settled_through(&self) -> u64 {
        self.webhooks_settled_through
    }

    /// Orders placed since the journal began through each channel, retired ones included.
    pub fn orders_by_channel(&self) -> [(OrderChannel, u64); OrderChannel::ALL.len()] {
        OrderChannel::ALL.map(|channel| (channel, self.n_orders_by_channel[channel.index()]))
    }

    pub fn orders(&self) -> impl Iterator<Item = &OrderView> {
        self.orders.iter()
    }

    /// A quote not yet placed (placed quotes are found through their order's receipt), while
    /// the ledger still remembers it.
    pub fn quote_record(&self, quote: QuoteId) -> Option<QuoteRecord> {
        let state = self.quotes.get(&quote)?;
        let status = if state.canceled {
            QuoteStatus::Canceled
        } else if state.expired || self.now >= state.expires_at {
            QuoteStatus::Expired
        } else if state.superseded {
            QuoteStatus::Superseded
        } else {
            QuoteStatus::Open
        };
        Some(QuoteRecord {
            quote,
            shopper: state.shopper,
            merchant: state.merchant,
            lines: Arc::clone(&state.lines),
            subtotal: state.subtotal,
            discount: state.discount,
            coupon: state.coupon,
            expires_at: state.expires_at,
            status,
        })
    }

    /// Quotes still open (not placed, not expired).
    pub fn n_open_quotes(&self) -> usize {
        self.quotes.values().filter(|quote| !quote.expired).count()
    }

    /// A shopper's coupons in every campaign, with their effective status (claimed coupons of an
    /// ended campaign read as expired).
    pub fn wallet(&self, shopper: ShopperId) -> Vec<WalletCoupon> {
        let mut coupons = Vec::new();
        for state in &self.campaigns {
            let Some(wallet) = state.wallets.get(&shopper).copied() else { continue };
            let ended = state.campaign.status() == CampaignStatus::Ended;
            for ordinal in 0..wallet.n_coupons() {
                let status = match wallet.status(ordinal) {
                    CouponStatus::Claimed if ended => CouponStatus::Expired,
                    status => status,
                };
                coupons.push(WalletCoupon {
                    coupon: CouponId { campaign: state.campaign.id(), shopper, ordinal },
                    status,
                    face_value: state.campaign.face_value(),
                    referral: wallet.is_referral(ordinal),
                    expires_at: state.campaign.spec().validity.ends_at(),
                });
            }
        }
        coupons
    }

    /// Every shopper with a wallet in `campaign`, with the number of base and referral coupons.
    pub fn claim_counts(&self, campaign: CampaignId) -> Vec<(ShopperId, u8, u8)> {
        self.campaign_ref(campaign)
            .map(|state| {
                state
                    .wallets
                    .iter()
                    .map(|(shopper, wallet)| (*shopper, wallet.n_base(), wallet.n_referral()))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn campaign_ids(&self) -> Vec<CampaignId> {
        self.campaigns.iter().map(|state| state.campaign.id()).collect()
    }

    pub fn campaign(&self, campaign: CampaignId) -> Option<&Campaign> {
        self.campaign_ref(campaign).map(|state| &state.campaign)
    }

    pub fn accounts(&self, campaign: CampaignId) -> Option<&CampaignAccounts> {
        self.campaign_ref(campaign).map(|state| &state.accounts)
    }

    /// Moves the webhooks' settle mark forward (never back: marks journaled out of order by a
    /// slow commit must not make a restart send more than needed).
    fn settle_webhooks(&mut self, through: u64) -> Result<Outcome, LedgerError> {
        let n_changes = self.acp_changes.n_pushed();
        if through > n_changes {
            return Err(LedgerError::Invalid {
                field: "through",
                reason: format!("{through} is past the {n_changes} changes ACP orders have had"),
            });
        }
        self.webhooks_settled_through = self.webhooks_settled_through.max(through);
        Ok(Outcome::WebhooksSettled { through: self.webhooks_settled_through })
    }

    fn draw_all_from_leases(&mut self) -> Outcome {
        self.draw_from_leases = true;
        let mut n_switched = 0;
        for state in &mut self.campaigns {
            let untouched = state.accounts.balance(Account::Available) == state.accounts.budget_total();
            if state.lease.is_none() && untouched && state.campaign.status() != CampaignStatus::Ended {
                switch_to_leases(state);
                n_switched += 1;
            }
        }
        Outcome::LeasesOn { n_switched }
    }

    /// Whether campaigns created from now on draw from leases.
    pub fn draws_from_leases(&self) -> bool {
        self.draw_from_leases
    }

    /// The campaign's lease of a central budget, when it draws from one.
    pub fn campaign_lease(&self, campaign: CampaignId) -> Option<LeaseState> {
        self.campaign_ref(campaign)?.lease
    }

    pub fn campaign_stats(&self, campaign: CampaignId) -> Option<CampaignStats> {
        let state = self.campaign_ref(campaign)?;
        let spec = state.campaign.spec();
        let accounts = &state.accounts;
        Some(CampaignStats {
            campaign,
            name: spec.name.clone(),
            status: state.campaign.status(),
            starts_at: spec.validity.starts_at(),
            ends_at: spec.validity.ends_at(),
            face_value: state.campaign.face_value(),
            budget_total: accounts.budget_total(),
            available: accounts.balance(Account::Available),
            wallets: accounts.balance(Account::Wallets),
            held: accounts.balance(Account::Held),
            redeemed: accounts.balance(Account::Redeemed),
            settled: accounts.balance(Account::Settled),
            n_shoppers: state.wallets.len() as u64,
            n_issued: state.n_issued,
            n_referral_issued: state.n_referral_issued,
            n_redeemed: state.n_redeemed,
        })
    }

    /// The fingerprint of the request kept under `scope` and `key`, if one is kept: lets a
    /// caller of several keyed steps refuse a conflicting reuse before its first step.
    pub fn kept_request_fingerprint(&self, scope: u64, key: &IdempotencyKey) -> Option<u64> {
        self.requests.get(&(scope, key_hash(key))).map(|kept| kept.fingerprint)
    }

    /// Every registered merchant, in id order.
    pub fn merchant_ids(&self) -> Vec<MerchantId> {
        let mut ids: Vec<MerchantId> = self.merchants.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Whether `merchant` could take an order placed at `now` (its kitchen's ETA), or why not
    /// ([`LedgerError::MerchantBusy`] with how long until a slot frees up, `MerchantPaused`,
    /// `UnknownMerchant`): the check placing an order makes, without taking the slot. For
    /// callers that turn a busy shop away before submitting anything; the order's own command
    /// still decides.
    pub fn order_slot_at(&self, merchant: MerchantId, now: Timestamp) -> Result<u64, LedgerError> {
        let state = self.merchants.get(&merchant).ok_or(LedgerError::UnknownMerchant(merchant))?;
        order_slot(state, now)
    }

    /// `shopper`'s quote; another shopper's is as unknown as one that never was.
    fn shoppers_quote(&self, shopper: ShopperId, quote_id: QuoteId) -> Result<&QuoteState, LedgerError> {
        self.quotes
            .get(&quote_id)
            .filter(|quote| quote.shopper == shopper)
            .ok_or(LedgerError::UnknownQuote(quote_id))
    }

    /// The order `shopper` placed under `idempotency_key`, while the ledger keeps it: placing
    /// again under that key replays it instead of placing anything.
    pub fn placed_under_key(&self, shopper: ShopperId, idempotency_key: &IdempotencyKey) -> Option<OrderId> {
        self.idempotency.get(&(shopper, key_hash(idempotency_key))).copied()
    }

    /// The shop of `shopper`'s quote if the quote itself could be placed at `now`, or why not
    /// (`UnknownQuote`, a canceled, expired or superseded quote, `CouponExpired`): the checks
    /// placing it makes before the shop's ([`Ledger::order_slot_at`]), in the same order,
    /// changing nothing.
    pub fn placeable_at(
        &self,
        shopper: ShopperId,
        quote_id: QuoteId,
        now: Timestamp,
    ) -> Result<MerchantId, LedgerError> {
        let quote = self.shoppers_quote(shopper, quote_id)?;
        check_open(quote_id, quote, now)?;
        if let Some(campaign) = quote.coupon_expired {
            return Err(LedgerError::CouponExpired { campaign });
        }
        Ok(quote.merchant)
    }

    pub fn merchant(&self, merchant: MerchantId) -> Option<(&Merchant, u32, Money)> {
        self.merchants.get(&merchant).map(|state| (&state.merchant, state.kitchen_backlog, state.settled))
    }

    pub fn catalog(&self, catalog: CatalogId) -> Option<&Arc<Catalog>> {
        self.catalogs.get(&catalog)
    }

    /// Heap bytes of the main tables, estimated from their capacities.
    pub fn memory_estimate(&self) -> MemoryEstimate {
        fn table_bytes<K, V>(map: &FxHashMap<K, V>) -> u64 {
            // hashbrown: one control byte plus one slot per bucket; buckets are a power of two
            // at least capacity * 8 / 7.
            let buckets = (map.capacity() * 8 / 7).next_power_of_two() as u64;
            buckets * (std::mem::size_of::<(K, V)>() as u64 + 1)
        }
        let wallet_bytes = self.campaigns.iter().map(|state| table_bytes(&state.wallets)).sum();
        let n_wallets = self.campaigns.iter().map(|state| state.wallets.len() as u64).sum();
        let line_bytes: u64 = self
            .orders
            .iter()
            .map(|view| {
                (view.lines.len() * std::mem::size_of::<PricedLine>()) as u64
                    + view.lines.iter().map(|line| (line.options.capacity() * 4) as u64).sum::<u64>()
            })
            .sum();
        MemoryEstimate {
            wallet_bytes,
            n_wallets,
            order_bytes: self.orders.slot_bytes() + line_bytes,
            n_orders: self.orders.len(),
            idempotency_bytes: table_bytes(&self.idempotency),
            quote_bytes: table_bytes(&self.quotes) + table_bytes(&self.holds),
        }
    }
}

/// A coupon that could go on a quote.
#[derive(Debug)]
struct Candidate {
    coupon: CouponId,
    discount: Money,
    ends_at: Timestamp,
    held_by: Option<QuoteId>,
}

impl Candidate {
    /// More off wins; on a tie, the coupon that expires first (use it before it is lost); then
    /// the older campaign, so the choice is deterministic.
    fn beats(&self, other: &Candidate) -> bool {
        (std::cmp::Reverse(self.discount), self.ends_at, self.coupon.campaign)
            < (std::cmp::Reverse(other.discount), other.ends_at, other.coupon.campaign)
    }
}

fn campaign_index(campaign: CampaignId) -> usize {
    let index = usize::try_from(campaign.get()).unwrap_or(usize::MAX);
    assert!(index >= 1, "campaign ids start at 1");
    index - 1
}

fn merchant_updated(state: &MerchantState) -> Outcome {
    Outcome::MerchantUpdated {
        merchant: state.merchant.id,
        status: state.merchant.status,
        capacity: state.merchant.capacity,
    }
}

fn rate_units_max(capacity: Capacity) -> u64 {
    u64::from(capacity.orders_per_minute()) * RATE_UNITS_PER_ORDER
}

/// Takes one order slot from the merchant, or says how long until one frees up.
fn admit_order(merchant: &mut MerchantState, now: Timestamp) -> Result<u64, LedgerError> {
    let backlog_eta_ms = order_slot(merchant, now)?;
    merchant.rate_units = rate_units_at(merchant, now) - RATE_UNITS_PER_ORDER;
    merchant.rate_refilled_at = now;
    merchant.kitchen_backlog += 1;
    Ok(backlog_eta_ms)
}

/// Whether the merchant has an order slot at `now` (its kitchen's ETA), or how long until one
/// frees up; changes nothing. A refusal need not refill the bucket: refilling later from the
/// older time gives the same units, since the refill is capped.
fn order_slot(merchant: &MerchantState, now: Timestamp) -> Result<u64, LedgerError> {
    let capacity = merchant.merchant.capacity;
    let id = merchant.merchant.id;
    let backlog_eta_ms = capacity.eta_ms(merchant.kitchen_backlog);
    match merchant.merchant.status {
        MerchantStatus::Open => {}
        MerchantStatus::Busy => {
            return Err(LedgerError::MerchantBusy { merchant: id, eta_ms: backlog_eta_ms });
        }
        MerchantStatus::Paused => return Err(LedgerError::MerchantPaused(id)),
    }
    if merchant.kitchen_backlog >= capacity.open_orders_max() {
        return Err(LedgerError::MerchantBusy { merchant: id, eta_ms: backlog_eta_ms });
    }
    let rate_units = rate_units_at(merchant, now);
    if rate_units < RATE_UNITS_PER_ORDER {
        let wait_ms = (RATE_UNITS_PER_ORDER - rate_units).div_ceil(u64::from(capacity.orders_per_minute()));
        return Err(LedgerError::MerchantBusy { merchant: id, eta_ms: backlog_eta_ms.max(wait_ms) });
    }
    Ok(backlog_eta_ms)
}

/// The merchant's rate units at `now`: what it had, refilled for the time since, capped.
fn rate_units_at(merchant: &MerchantState, now: Timestamp) -> u64 {
    let capacity = merchant.merchant.capacity;
    let elapsed_ms = merchant.rate_refilled_at.ms_until(now);
    let refill = elapsed_ms.saturating_mul(u64::from(capacity.orders_per_minute()));
    merchant.rate_units.saturating_add(refill).min(rate_units_max(capacity))
}

fn refill_rate(merchant: &mut MerchantState, now: Timestamp) {
    merchant.rate_units = rate_units_at(merchant, now);
    merchant.rate_refilled_at = now;
}

fn pace_units_max(pace: &IssuancePace) -> u64 {
    match pace {
        IssuancePace::PerSecond { burst, .. } => u64::from(*burst) * PACE_UNITS_PER_COUPON,
        IssuancePace::Unlimited | IssuancePace::Waves(_) => 0,
    }
}

fn refill_pace(state: &mut CampaignState, now: Timestamp) {
    if let IssuancePace::PerSecond { coupons_per_s, .. } = state.campaign.spec().pace {
        let elapsed_ms = state.pace_refilled_at.ms_until(now);
        // coupons_per_s coupons a second is coupons_per_s units a millisecond.
        let refill = elapsed_ms.saturating_mul(u64::from(coupons_per_s));
        state.pace_units =
            state.pace_units.saturating_add(refill).min(pace_units_max(&state.campaign.spec().pace));
    }
    state.pace_refilled_at = now;
}

fn check_pace(state: &CampaignState, now: Timestamp) -> Result<(), LedgerError> {
    let campaign = state.campaign.id();
    match &state.campaign.spec().pace {
        IssuancePace::Unlimited => Ok(()),
        IssuancePace::PerSecond { coupons_per_s, .. } => {
            if state.pace_units >= PACE_UNITS_PER_COUPON {
                Ok(())
            } else {
                let missing = PACE_UNITS_PER_COUPON - state.pace_units;
                Err(LedgerError::PaceExceeded {
                    campaign,
                    retry_after_ms: missing.div_ceil(u64::from(*coupons_per_s)),
                })
            }
        }
        IssuancePace::Waves(waves) => {
            let released: u64 =
                waves.iter().filter(|wave| wave.starts_at <= now).map(|wave| wave.coupons).sum();
            if state.n_issued < released {
                return Ok(());
            }
            match waves.iter().find(|wave| wave.starts_at > now) {
                Some(next) => {
                    Err(LedgerError::PaceExceeded { campaign, retry_after_ms: now.ms_until(next.starts_at) })
                }
                None => Err(LedgerError::IssuanceComplete { campaign }),
            }
        }
    }
}

/// Gives `referrer` a bonus coupon if they are under the referral cap and the budget allows.
fn grant_referral(state: &mut CampaignState, referrer: ShopperId, referral_cap: u8) -> Option<CouponId> {
    let mut wallet = state.wallets.get(&referrer).copied().unwrap_or_default();
    if wallet.n_referral() >= referral_cap {
        return None;
    }
    let face_value = state.campaign.face_value();
    state.accounts.transfer(Account::Available, Account::Wallets, face_value).ok()?;
    let ordinal = wallet.add(true);
    state.wallets.insert(referrer, wallet);
    state.n_issued += 1;
    state.n_referral_issued += 1;
    Some(CouponId { campaign: state.campaign.id(), shopper: referrer, ordinal })
}

/// A change to an order placed through ACP ([`OrderChannel::Acp`]): what an order webhook
/// reports, the order as this change left it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AcpOrderChange {
    pub order: OrderId,
    pub status: OrderStatus,
    /// When it changed: the order's `updated_at` as of this change.
    pub at: Timestamp,
}

impl AcpOrderChange {
    /// The order was placed (`order_create`); else it moved (`order_update`). No order moves
    /// back to placed.
    pub fn placed(&self) -> bool {
        self.status == OrderStatus::Placed
    }
}

/// An order the ledger no longer keeps (past its retention), for readers' indexes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetiredOrder {
    pub order: OrderId,
    pub shopper: ShopperId,
    pub merchant: MerchantId,
    pub quote: QuoteId,
}

/// What [`Ledger::retired_since`] answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetiredSince {
    pub orders: Vec<RetiredOrder>,
    /// The cursor to ask from next time.
    pub next: u64,
    /// Retirements after the cursor were forgotten: rebuild from [`Ledger::orders`].
    pub missed: bool,
}

/// Who places an order, under which idempotency key, through which channel.
#[derive(Clone, Copy)]
struct Placing<'a> {
    shopper: ShopperId,
    idempotency_key: &'a IdempotencyKey,
    channel: OrderChannel,
}

/// Orders in a chunked vector indexed by id. Order ids are dense and only grow, so this replaces a
/// hash map: no hashing, no half-empty table, and growth never copies existing orders (a hash map
/// of ten million orders would move gigabytes on each resize, stalling the writer).
#[derive(Debug, Default)]
struct OrderBook {
    chunks: Vec<Vec<Option<OrderView>>>,
    live_per_chunk: Vec<u32>,
    n_live: u64,
}

/// Orders per chunk of the order book.
const ORDER_CHUNK_LEN: usize = 1 << 16;

impl OrderBook {
    fn slot(order: OrderId) -> (usize, usize) {
        let index = usize::try_from(order.get()).unwrap_or(usize::MAX).wrapping_sub(1);
        (index / ORDER_CHUNK_LEN, index % ORDER_CHUNK_LEN)
    }

    /// Appends the next order; ids must come in sequence from 1.
    fn push(&mut self, order: OrderId, view: OrderView) {
        let (chunk, offset) = OrderBook::slot(order);
        if offset == 0 {
            assert_eq!(chunk, self.chunks.len(), "order ids are assigned in sequence");
            self.chunks.push(Vec::with_capacity(ORDER_CHUNK_LEN));
            self.live_per_chunk.push(0);
        }
        let slots = &mut self.chunks[chunk];
        assert_eq!(offset, slots.len(), "order ids are assigned in sequence");
        slots.push(Some(view));
        self.live_per_chunk[chunk] += 1;
        self.n_live += 1;
    }

    fn get(&self, order: OrderId) -> Option<&OrderView> {
        let (chunk, offset) = OrderBook::slot(order);
        self.chunks.get(chunk)?.get(offset)?.as_ref()
    }

    fn get_mut(&mut self, order: OrderId) -> Option<&mut OrderView> {
        let (chunk, offset) = OrderBook::slot(order);
        self.chunks.get_mut(chunk)?.get_mut(offset)?.as_mut()
    }

    /// Retires an order; a chunk whose orders are all retired gives its memory back.
    fn remove(&mut self, order: OrderId) -> Option<OrderView> {
        let (chunk, offset) = OrderBook::slot(order);
        let view = self.chunks.get_mut(chunk)?.get_mut(offset)?.take()?;
        self.live_per_chunk[chunk] -= 1;
        self.n_live -= 1;
        if self.live_per_chunk[chunk] == 0 && self.chunks[chunk].len() == ORDER_CHUNK_LEN {
            self.chunks[chunk] = Vec::new();
        }
        Some(view)
    }

    fn iter(&self) -> impl Iterator<Item = &OrderView> {
        self.chunks.iter().flatten().flatten()
    }

    fn len(&self) -> u64 {
        self.n_live
    }

    fn slot_bytes(&self) -> u64 {
        let n_slots: usize = self.chunks.iter().map(Vec::capacity).sum();
        (n_slots * std::mem::size_of::<Option<OrderView>>()) as u64
    }
}

fn not_leasing() -> LedgerError {
    LedgerError::Invalid {
        field: "lease",
        reason: "the campaign does not draw from leases; send draw_from_leases first".into(),
    }
}

/// Sends the campaign's whole budget back to funding: from now on only leases bring budget.
fn switch_to_leases(state: &mut CampaignState) {
    let available = state.accounts.balance(Account::Available);
    transfer(&mut state.accounts, Account::Available, Account::Funding, available);
    state.lease = Some(LeaseState::default());
}

#[cfg(test)]
mod tests {
    use super::presized;

    #[test]
    fn a_presized_map_is_empty_and_takes_its_size_without_regrowing() {
        let mut map = presized(10_000, |n| (n, n));
        assert!(map.is_empty());
        let capacity = map.capacity();
        assert!(capacity >= 10_000);
        map.extend((0..10_000u64).map(|n| (n + 1_000_000, 0)));
        assert_eq!(map.capacity(), capacity, "the map regrew within its size");
        assert!(!map.contains_key(&0), "an entry of the filling stayed");
    }
}
