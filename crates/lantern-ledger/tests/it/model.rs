//! A reference model of the ledger's rules, written from the doc comments of `lantern-ledger`
//! and `lantern-core` and from DESIGN.md, and sharing no code with the ledger. Where the docs
//! are silent (the order in which a claim's checks refuse, how a token bucket counts, which of
//! two coupons of one campaign a quote takes) it states the choice the ledger makes as a rule of
//! its own, so that a change to any of them is noticed; the module docs of `main.rs` list the
//! ones worth a decision.
//!
//! It is deliberately naive: plain `Vec`s scanned linearly, every coupon kept individually (the
//! ledger expires a campaign's coupons in aggregate; here each coupon is flipped one by one), and
//! balances derived from coupon states instead of kept as accounts. The only shared code is
//! lantern-core's pure pricing (`price_cart`, `discount`), `Capacity::eta_ms` and `Validity::new`,
//! which the ledger is documented to use.
//!
//! The model does not predict ids the ledger chooses (campaign, quote and order ids): the harness
//! binds the ledger's ids to the model's records after checking that they are fresh. Coupon ids
//! are predicted, because their numbering is documented (`CouponId`: the ordinal-th coupon a
//! shopper has in a campaign).

use std::collections::BTreeMap;
use std::sync::Arc;

use lantern_core::pricing::{self, PricedLine};
use lantern_core::{
    CampaignId, CampaignSpec, CampaignStatus, Capacity, Catalog, CatalogId, CouponId, CouponStatus,
    IssuancePace, MerchantId, MerchantStatus, Money, OrderEvent, OrderId, OrderStatus, QuoteId, ReasonCode,
    ShopperId, Timestamp,
};
use lantern_ledger::{CampaignEdit, Command, CouponChoice, OrderReceipt, WalletCoupon};

/// Which reading of a rule the model applies where the ledger is known to differ from its own
/// documentation. The harness first asks the model for the documented answer, and only when the
/// ledger's answer differs does it ask for the known deviation; an answer matching neither fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rules {
    /// D1. Documented: placing a quote after its TTL answers `QuoteExpired` (code `expired`).
    /// Deviation: the ledger drops an expired quote when it releases the hold, so it answers
    /// `UnknownQuote` (`not_found`).
    pub expired_quote_is_forgotten: bool,
    /// D2. Documented (`Command::ClaimCoupon`): `referred_by` earns the referrer a bonus "the
    /// first time this shopper claims". Deviation: the ledger grants one on every new base
    /// claim, so with `per_shopper_limit > 1` one referred shopper earns several bonuses.
    pub referral_on_every_new_claim: bool,
}

impl Rules {
    pub const DOCUMENTED: Rules =
        Rules { expired_quote_is_forgotten: false, referral_on_every_new_claim: false };
}

/// Where a coupon is. Finer than `CouponStatus`: the model tells an undelivered redemption
/// (its face value still reserved) from a delivered one (paid out and the rest returned).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CouponState {
    Claimed,
    /// Held by the quote with this index in `Model::quotes`.
    Held(usize),
    Redeemed,
    Delivered,
    Expired,
}

impl CouponState {
    fn as_status(self) -> CouponStatus {
        match self {
            CouponState::Claimed => CouponStatus::Claimed,
            CouponState::Held(_) => CouponStatus::Held,
            CouponState::Redeemed | CouponState::Delivered => CouponStatus::Redeemed,
            CouponState::Expired => CouponStatus::Expired,
        }
    }
}

#[derive(Clone, Debug)]
pub struct ModelCoupon {
    pub state: CouponState,
    pub referral: bool,
}

#[derive(Clone, Debug)]
pub struct ModelCampaign {
    /// Bound from the ledger's answer to CreateCampaign.
    pub id: CampaignId,
    pub spec: CampaignSpec,
    pub status: CampaignStatus,
    pub budget_total: Money,
    /// Discounts paid to shops for delivered orders.
    pub settled: Money,
    /// Each shopper's coupons; the position is the coupon's ordinal.
    pub wallets: BTreeMap<ShopperId, Vec<ModelCoupon>>,
    /// Token bucket for `IssuancePace::PerSecond`, in thousandths of a coupon.
    pub pace_milli_coupons: u64,
    pub pace_refilled_at: Timestamp,
    pub n_issued: u64,
    pub n_referral_issued: u64,
    /// `Some(pool_drained)` once the campaign draws its budget from leases.
    pub lease: Option<bool>,
}

impl ModelCampaign {
    pub fn face_value(&self) -> Money {
        self.spec.template.face_value()
    }

    fn count(&self, wanted: impl Fn(CouponState) -> bool) -> i64 {
        let n = self.wallets.values().flatten().filter(|coupon| wanted(coupon.state)).count();
        i64::try_from(n).expect("few coupons")
    }

    fn face_times(&self, n: i64) -> Money {
        self.face_value().checked_mul(n).expect("small amounts")
    }

    /// Face value of coupons sitting in wallets, unused.
    pub fn wallets_balance(&self) -> Money {
        self.face_times(self.count(|state| state == CouponState::Claimed))
    }

    pub fn held_balance(&self) -> Money {
        self.face_times(self.count(|state| matches!(state, CouponState::Held(_))))
    }

    /// Face value of coupons spent on orders not yet delivered.
    pub fn redeemed_balance(&self) -> Money {
        self.face_times(self.count(|state| state == CouponState::Redeemed))
    }

    /// The budget not given out: everything not reserved by a coupon nor paid to a shop.
    pub fn available_balance(&self) -> Money {
        let given_out = [self.wallets_balance(), self.held_balance(), self.redeemed_balance(), self.settled]
            .into_iter()
            .try_fold(Money::ZERO, |sum, part| sum.checked_add(part))
            .expect("small amounts");
        self.budget_total.checked_sub(given_out).expect("small amounts")
    }

    pub fn n_redeemed(&self) -> u64 {
        self.count(|state| matches!(state, CouponState::Redeemed | CouponState::Delivered)) as u64
    }

    fn pace_milli_max(&self) -> u64 {
        match self.spec.pace {
            IssuancePace::PerSecond { burst, .. } => u64::from(burst) * 1000,
            _ => 0,
        }
    }

    /// The bucket fills at `coupons_per_s` coupons a second, that is `coupons_per_s` thousandths
    /// of a coupon a millisecond, up to the burst.
    fn refill_pace(&mut self, now: Timestamp) {
        if let IssuancePace::PerSecond { coupons_per_s, .. } = self.spec.pace {
            let elapsed_ms = self.pace_refilled_at.ms_until(now);
            self.pace_milli_coupons =
                (self.pace_milli_coupons + elapsed_ms * u64::from(coupons_per_s)).min(self.pace_milli_max());
        }
        self.pace_refilled_at = now;
    }

    /// The wallet view the ledger's `wallet()` is documented to give for one shopper.
    fn wallet_view(&self, shopper: ShopperId) -> Vec<WalletCoupon> {
        let Some(coupons) = self.wallets.get(&shopper) else { return Vec::new() };
        coupons
            .iter()
            .enumerate()
            .map(|(ordinal, coupon)| WalletCoupon {
                coupon: CouponId { campaign: self.id, shopper, ordinal: u8::try_from(ordinal).expect("few") },
                status: coupon.state.as_status(),
                face_value: self.face_value(),
                referral: coupon.referral,
                expires_at: self.spec.validity.ends_at(),
            })
            .collect()
    }
}

#[derive(Clone, Debug)]
pub struct ModelMerchant {
    pub id: MerchantId,
    pub catalog: Arc<Catalog>,
    pub status: MerchantStatus,
    pub capacity: Capacity,
    /// Orders placed or accepted and not yet ready or closed.
    pub backlog: u32,
    /// Token bucket of the per-minute rate: an order costs 60,000 units, the bucket fills at
    /// `orders_per_minute` units a millisecond up to one minute's worth of orders.
    pub rate_units: u64,
    pub rate_refilled_at: Timestamp,
    pub settled: Money,
}

const UNITS_PER_ORDER: u64 = 60_000;

impl ModelMerchant {
    fn rate_units_max(&self) -> u64 {
        u64::from(self.capacity.orders_per_minute()) * UNITS_PER_ORDER
    }

    fn refill_rate(&mut self, now: Timestamp) {
        let elapsed_ms = self.rate_refilled_at.ms_until(now);
        self.rate_units = (self.rate_units + elapsed_ms * u64::from(self.capacity.orders_per_minute()))
            .min(self.rate_units_max());
        self.rate_refilled_at = now;
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuoteState {
    Live,
    Placed,
    Expired,
}

#[derive(Clone, Debug)]
pub struct ModelQuote {
    /// Bound from the ledger's answer.
    pub id: Option<QuoteId>,
    pub shopper: ShopperId,
    pub merchant: MerchantId,
    pub lines: Vec<PricedLine>,
    pub subtotal: Money,
    pub discount: Money,
    /// The coupon this quote holds now (none once taken over, expired or placed).
    pub coupon: Option<CouponId>,
    pub expires_at: Timestamp,
    pub state: QuoteState,
    pub superseded: bool,
    pub coupon_expired: Option<CampaignId>,
}

#[derive(Clone, Debug)]
pub struct ModelOrder {
    /// Bound from the ledger's answer, with the whole receipt.
    pub receipt: Option<OrderReceipt>,
    pub quote: QuoteId,
    pub shopper: ShopperId,
    pub merchant: MerchantId,
    pub key: String,
    pub coupon: Option<CouponId>,
    pub discount: Money,
    pub lines: Vec<PricedLine>,
    pub status: OrderStatus,
    pub updated_at: Timestamp,
    pub closed_at: Option<Timestamp>,
    pub retired: bool,
}

impl ModelOrder {
    pub fn id(&self) -> Option<OrderId> {
        self.receipt.map(|receipt| receipt.order)
    }
}

/// What the model says a command answers. Refusals are compared by `code()` and, where the
/// error carries one, by its wait (`retry_after_ms` of a pace refusal, `eta_ms` of a busy shop).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    Refused {
        code: ReasonCode,
        wait_ms: Option<u64>,
    },
    /// The harness binds the ledger's id to `campaigns[index]`.
    CampaignCreated {
        index: usize,
    },
    Edited {
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
    Claimed {
        coupon: CouponId,
        face_value: Money,
        newly_claimed: bool,
        referral_bonus: Option<CouponId>,
    },
    /// A new quote, `quotes[index]`; the harness binds its id.
    Quoted {
        index: usize,
        merchant_eta_ms: u64,
        merchant_status: MerchantStatus,
    },
    /// A new order, `orders[index]`; the harness checks the receipt and binds its id.
    Placed {
        index: usize,
        eta_ms: u64,
    },
    /// The first answer of `orders[index]`, again.
    Replayed {
        index: usize,
    },
    Advanced {
        order: OrderId,
        status: OrderStatus,
    },
    Ticked {
        holds_released: u32,
    },
}

fn refused(code: ReasonCode) -> Expect {
    Expect::Refused { code, wait_ms: None }
}

#[derive(Clone, Debug)]
pub struct Model {
    pub hold_ttl_ms: u64,
    pub retention_ms: u64,
    pub now: Timestamp,
    pub catalogs: Vec<Arc<Catalog>>,
    pub campaigns: Vec<ModelCampaign>,
    pub merchants: Vec<ModelMerchant>,
    pub quotes: Vec<ModelQuote>,
    pub orders: Vec<ModelOrder>,
    /// How many times each known deviation was the ledger's answer; see [`Rules`].
    pub deviations_seen: BTreeMap<&'static str, u64>,
}

/// The order state machine as drawn in DESIGN.md and `OrderStatus`'s docs.
fn next_status(from: OrderStatus, event: OrderEvent) -> Option<OrderStatus> {
    use OrderEvent as E;
    use OrderStatus as S;
    match (from, event) {
        (S::Placed, E::Accept) => Some(S::Accepted),
        (S::Placed | S::Accepted, E::Reject) => Some(S::Rejected),
        (S::Placed, E::Cancel) => Some(S::Cancelled),
        (S::Accepted, E::Ready) => Some(S::Ready),
        (S::Ready, E::Dispatch) => Some(S::Delivering),
        (S::Ready | S::Delivering, E::Deliver) => Some(S::Delivered),
        _ => None,
    }
}

fn is_closed(status: OrderStatus) -> bool {
    matches!(status, OrderStatus::Delivered | OrderStatus::Rejected | OrderStatus::Cancelled)
}

/// Still in the kitchen: counts against the shop's open-order backlog.
fn in_kitchen(status: OrderStatus) -> bool {
    matches!(status, OrderStatus::Placed | OrderStatus::Accepted)
}

impl Model {
    pub fn new(hold_ttl_ms: u64, retention_ms: u64) -> Model {
        Model {
            hold_ttl_ms,
            retention_ms,
            now: Timestamp::EPOCH,
            catalogs: Vec::new(),
            campaigns: Vec::new(),
            merchants: Vec::new(),
            quotes: Vec::new(),
            orders: Vec::new(),
            deviations_seen: BTreeMap::new(),
        }
    }

    pub fn campaign_index(&self, id: CampaignId) -> Option<usize> {
        self.campaigns.iter().position(|campaign| campaign.id == id)
    }

    pub fn merchant_index(&self, id: MerchantId) -> Option<usize> {
        self.merchants.iter().position(|merchant| merchant.id == id)
    }

    fn coupon_mut(&mut self, coupon: CouponId) -> &mut ModelCoupon {
        let index = self.campaign_index(coupon.campaign).expect("coupon of a known campaign");
        let wallet = self.campaigns[index].wallets.get_mut(&coupon.shopper).expect("coupon in a wallet");
        &mut wallet[usize::from(coupon.ordinal)]
    }

    /// Every shopper's coupons in every campaign, in campaign order then ordinal order.
    pub fn wallet_view(&self, shopper: ShopperId) -> Vec<WalletCoupon> {
        self.campaigns.iter().flat_map(|campaign| campaign.wallet_view(shopper)).collect()
    }

    pub fn n_live_quotes(&self) -> usize {
        self.quotes.iter().filter(|quote| quote.state == QuoteState::Live).count()
    }

    pub fn apply(&mut self, command: &Command, now: Timestamp, rules: Rules) -> Expect {
        let now = now.max(self.now);
        self.now = now;
        let holds_released = self.pass_time(now);
        match command {
            Command::CreateCampaign { spec } => self.create_campaign(spec, now),
            Command::EditCampaign { campaign, edit } => self.edit_campaign(*campaign, edit, now),
            Command::PublishCatalog { catalog } => {
                self.catalogs.retain(|known| known.id() != catalog.id());
                self.catalogs.push(Arc::clone(catalog));
                let n_items = u32::try_from(catalog.items().len()).expect("small menus");
                Expect::CatalogPublished { catalog: catalog.id(), n_items }
            }
            Command::RegisterMerchant { merchant } => {
                let Some(catalog) = self.catalogs.iter().find(|known| known.id() == merchant.catalog) else {
                    return refused(ReasonCode::NotFound);
                };
                assert!(self.merchant_index(merchant.id).is_none(), "the model registers each shop once");
                let capacity = merchant.capacity;
                self.merchants.push(ModelMerchant {
                    id: merchant.id,
                    catalog: Arc::clone(catalog),
                    status: merchant.status,
                    capacity,
                    backlog: 0,
                    rate_units: u64::from(capacity.orders_per_minute()) * UNITS_PER_ORDER,
                    rate_refilled_at: now,
                    settled: Money::ZERO,
                });
                Expect::MerchantRegistered { merchant: merchant.id }
            }
            Command::SetMerchantStatus { merchant, status } => {
                let Some(index) = self.merchant_index(*merchant) else {
                    return refused(ReasonCode::NotFound);
                };
                let shop = &mut self.merchants[index];
                shop.status = *status;
                Expect::MerchantUpdated { merchant: *merchant, status: shop.status, capacity: shop.capacity }
            }
            Command::SetMerchantCapacity { merchant, capacity } => {
                let Some(index) = self.merchant_index(*merchant) else {
                    return refused(ReasonCode::NotFound);
                };
                let shop = &mut self.merchants[index];
                // Time before the change counts at the old rate; the change clips the bucket.
                shop.refill_rate(now);
                shop.capacity = *capacity;
                shop.rate_units = shop.rate_units.min(shop.rate_units_max());
                Expect::MerchantUpdated { merchant: *merchant, status: shop.status, capacity: shop.capacity }
            }
            Command::ClaimCoupon { shopper, campaign, referred_by } => {
                self.claim(*shopper, *campaign, *referred_by, now, rules)
            }
            Command::Quote { shopper, merchant, lines, coupon } => {
                self.quote(*shopper, *merchant, lines, *coupon, now)
            }
            Command::PlaceOrder { shopper, quote, idempotency_key, .. } => {
                self.place(*shopper, *quote, idempotency_key.as_str(), now, rules)
            }
            // Checkout-session updates and keyed requests are covered by the scenario tests.
            Command::Requote { .. }
            | Command::CancelQuote { .. }
            | Command::CouponOrder { .. }
            | Command::Keyed { .. } => {
                panic!("the property test does not generate {}", command.kind())
            }
            Command::CancelOrder { shopper, order } => {
                let found = self.orders.iter().position(|known| {
                    !known.retired && known.id() == Some(*order) && known.shopper == *shopper
                });
                match found {
                    Some(index) => self.advance(index, OrderEvent::Cancel, now),
                    None => refused(ReasonCode::NotFound),
                }
            }
            Command::AdvanceOrder { .. }
                if matches!(command, Command::AdvanceOrder { event: OrderEvent::Cancel, .. }) =>
            {
                // Only the shopper cancels; a shop rejects.
                refused(ReasonCode::Invalid)
            }
            Command::AdvanceOrder { merchant, order, event } => {
                let found = self.orders.iter().position(|known| {
                    !known.retired && known.id() == Some(*order) && known.merchant == *merchant
                });
                match found {
                    Some(index) => self.advance(index, *event, now),
                    None => refused(ReasonCode::NotFound),
                }
            }
            Command::Tick => Expect::Ticked { holds_released },
            // Not generated by the property test; the lease test drives it with real ledgers.
            Command::DrawAllFromLeases => unimplemented!("the model has no cluster mode"),
            // Not generated either: the webhooks' feed and mark have their own scenario.
            Command::SettleWebhooks { .. } => unimplemented!("the model has no webhooks"),
        }
    }

    /// What time does on its own: campaigns past their validity end, quotes past their TTL
    /// release their coupons, closed orders past retention are forgotten with their keys.
    /// Returns how many quote holds were released.
    fn pass_time(&mut self, now: Timestamp) -> u32 {
        for index in 0..self.campaigns.len() {
            let campaign = &mut self.campaigns[index];
            if campaign.status == CampaignStatus::Ended || now < campaign.spec.validity.ends_at() {
                continue;
            }
            campaign.status = CampaignStatus::Ended;
            let id = campaign.id;
            let mut expired_holds = Vec::new();
            for coupon in campaign.wallets.values_mut().flatten() {
                match coupon.state {
                    CouponState::Claimed => coupon.state = CouponState::Expired,
                    CouponState::Held(quote) => {
                        coupon.state = CouponState::Expired;
                        expired_holds.push(quote);
                    }
                    _ => {}
                }
            }
            for quote in expired_holds {
                self.quotes[quote].coupon = None;
                self.quotes[quote].coupon_expired = Some(id);
            }
        }
        let mut holds_released = 0;
        for index in 0..self.quotes.len() {
            let quote = &mut self.quotes[index];
            if quote.state != QuoteState::Live || now < quote.expires_at {
                continue;
            }
            quote.state = QuoteState::Expired;
            if let Some(coupon) = quote.coupon.take() {
                self.coupon_mut(coupon).state = CouponState::Claimed;
                holds_released += 1;
            }
        }
        let retention_ms = self.retention_ms;
        for order in &mut self.orders {
            if order.closed_at.is_some_and(|closed_at| closed_at.plus_ms(retention_ms) <= now) {
                order.retired = true;
            }
        }
        holds_released
    }

    fn create_campaign(&mut self, spec: &CampaignSpec, now: Timestamp) -> Expect {
        if spec.validity.ends_at() <= now {
            return refused(ReasonCode::Invalid);
        }
        // The property test creates only valid campaigns; spec validation has its own scenarios.
        let pace_milli_coupons = match spec.pace {
            IssuancePace::PerSecond { burst, .. } => u64::from(burst) * 1000,
            _ => 0,
        };
        self.campaigns.push(ModelCampaign {
            id: CampaignId::new(u64::MAX),
            spec: spec.clone(),
            status: CampaignStatus::Active,
            budget_total: spec.budget,
            settled: Money::ZERO,
            wallets: BTreeMap::new(),
            pace_milli_coupons,
            pace_refilled_at: now,
            n_issued: 0,
            n_referral_issued: 0,
            lease: None,
        });
        Expect::CampaignCreated { index: self.campaigns.len() - 1 }
    }

    fn edit_campaign(&mut self, id: CampaignId, edit: &CampaignEdit, now: Timestamp) -> Expect {
        let Some(index) = self.campaign_index(id) else { return refused(ReasonCode::NotFound) };
        let campaign = &mut self.campaigns[index];
        // Lease moves happen even after the end: leftovers go back, cut-short grants finish.
        if let CampaignEdit::LeaseOut(amount) | CampaignEdit::LeaseIn(amount) = edit {
            if let CampaignEdit::LeaseIn(_) = edit {
                let after = campaign.budget_total.checked_add(*amount);
                let within_limit =
                    after.as_ref().is_ok_and(|after| *after <= lantern_core::CAMPAIGN_BUDGET_MAX);
                if campaign.lease.is_none() || amount.is_negative() || !within_limit {
                    return refused(ReasonCode::Invalid);
                }
                campaign.budget_total = after.expect("checked");
                campaign.lease = Some(*amount == Money::ZERO);
            } else {
                if campaign.lease.is_none()
                    || *amount <= Money::ZERO
                    || *amount > campaign.available_balance()
                {
                    return refused(ReasonCode::Invalid);
                }
                campaign.budget_total = campaign.budget_total.checked_sub(*amount).expect("checked");
            }
            return Expect::Edited {
                campaign: id,
                status: campaign.status,
                ends_at: campaign.spec.validity.ends_at(),
                budget_total: campaign.budget_total,
            };
        }
        // An ended campaign cannot change otherwise.
        if campaign.status == CampaignStatus::Ended {
            return refused(ReasonCode::CampaignEnded);
        }
        match edit {
            CampaignEdit::SetEndsAt(ends_at) => {
                // "later, or earlier but not into the past"; and validity must start before it ends.
                if *ends_at <= now || *ends_at <= campaign.spec.validity.starts_at() {
                    return refused(ReasonCode::Invalid);
                }
                campaign.spec.validity =
                    lantern_core::Validity::new(campaign.spec.validity.starts_at(), *ends_at)
                        .expect("checked");
            }
            CampaignEdit::SetPace(pace) => {
                let rate_ok = |value: u32| (1..=1_000_000).contains(&value);
                let valid = match pace {
                    IssuancePace::Unlimited => true,
                    IssuancePace::PerSecond { coupons_per_s, burst } => {
                        rate_ok(*coupons_per_s) && rate_ok(*burst)
                    }
                    IssuancePace::Waves(waves) => {
                        !waves.is_empty()
                            && waves.windows(2).all(|pair| pair[0].starts_at < pair[1].starts_at)
                            && waves.iter().all(|wave| wave.coupons > 0)
                    }
                };
                if !valid {
                    return refused(ReasonCode::Invalid);
                }
                // Time before the change counts at the old pace; the change clips the bucket.
                campaign.refill_pace(now);
                campaign.spec.pace = pace.clone();
                campaign.pace_milli_coupons = campaign.pace_milli_coupons.min(campaign.pace_milli_max());
            }
            CampaignEdit::TopUp(amount) => {
                let after = campaign.budget_total.checked_add(*amount);
                let within_limit =
                    after.as_ref().is_ok_and(|after| *after <= lantern_core::CAMPAIGN_BUDGET_MAX);
                if *amount <= Money::ZERO || !within_limit {
                    return refused(ReasonCode::Invalid);
                }
                campaign.budget_total = after.expect("checked");
            }
            CampaignEdit::DrawFromLeases => {
                if campaign.lease.is_some() || campaign.available_balance() != campaign.budget_total {
                    return refused(ReasonCode::Invalid);
                }
                campaign.budget_total = Money::ZERO;
                campaign.lease = Some(false);
            }
            CampaignEdit::LeaseIn(_) | CampaignEdit::LeaseOut(_) => unreachable!("handled above"),
            CampaignEdit::Pause | CampaignEdit::Resume => {
                let (from, to) = if *edit == CampaignEdit::Pause {
                    (CampaignStatus::Active, CampaignStatus::Paused)
                } else {
                    (CampaignStatus::Paused, CampaignStatus::Active)
                };
                if campaign.status != from {
                    return refused(ReasonCode::Invalid);
                }
                campaign.status = to;
            }
        }
        Expect::Edited {
            campaign: id,
            status: campaign.status,
            ends_at: campaign.spec.validity.ends_at(),
            budget_total: campaign.budget_total,
        }
    }

    fn claim(
        &mut self,
        shopper: ShopperId,
        id: CampaignId,
        referred_by: Option<ShopperId>,
        now: Timestamp,
        rules: Rules,
    ) -> Expect {
        let Some(index) = self.campaign_index(id) else { return refused(ReasonCode::NotFound) };
        let campaign = &mut self.campaigns[index];
        match campaign.status {
            CampaignStatus::Active => {}
            CampaignStatus::Paused => return refused(ReasonCode::CampaignPaused),
            CampaignStatus::Ended => return refused(ReasonCode::CampaignEnded),
        }
        if now < campaign.spec.validity.starts_at() {
            return refused(ReasonCode::CampaignNotStarted);
        }
        let face_value = campaign.face_value();
        let coupons = campaign.wallets.get(&shopper).cloned().unwrap_or_default();
        let n_base = coupons.iter().filter(|coupon| !coupon.referral).count();
        if n_base >= usize::from(campaign.spec.per_shopper_limit) {
            // At the cap a claim is a retry: it answers with the coupon already claimed.
            let ordinal =
                coupons.iter().rposition(|coupon| !coupon.referral).expect("at the cap, so one exists");
            let coupon = CouponId { campaign: id, shopper, ordinal: u8::try_from(ordinal).expect("few") };
            return Expect::Claimed { coupon, face_value, newly_claimed: false, referral_bonus: None };
        }
        // Budget before pace: when the money is gone, the answer is "budget exhausted" at once.
        if campaign.available_balance() < face_value {
            // A leasing node waiting for its next lease says "try again".
            if campaign.lease == Some(false) {
                return Expect::Refused {
                    code: ReasonCode::RateLimited,
                    wait_ms: Some(lantern_ledger::LEASE_RETRY_AFTER_MS),
                };
            }
            return refused(ReasonCode::BudgetExhausted);
        }
        campaign.refill_pace(now);
        match &campaign.spec.pace {
            IssuancePace::Unlimited => {}
            IssuancePace::PerSecond { coupons_per_s, .. } => {
                if campaign.pace_milli_coupons < 1000 {
                    let missing = 1000 - campaign.pace_milli_coupons;
                    let wait_ms = missing.div_ceil(u64::from(*coupons_per_s));
                    return Expect::Refused { code: ReasonCode::RateLimited, wait_ms: Some(wait_ms) };
                }
            }
            IssuancePace::Waves(waves) => {
                let released: u64 =
                    waves.iter().filter(|wave| wave.starts_at <= now).map(|wave| wave.coupons).sum();
                if campaign.n_issued >= released {
                    return match waves.iter().find(|wave| wave.starts_at > now) {
                        Some(next) => Expect::Refused {
                            code: ReasonCode::RateLimited,
                            wait_ms: Some(now.ms_until(next.starts_at)),
                        },
                        None => refused(ReasonCode::DiscountCodeUsageLimitReached),
                    };
                }
            }
        }
        if matches!(campaign.spec.pace, IssuancePace::PerSecond { .. }) {
            campaign.pace_milli_coupons -= 1000;
        }
        let wallet = campaign.wallets.entry(shopper).or_default();
        wallet.push(ModelCoupon { state: CouponState::Claimed, referral: false });
        let coupon =
            CouponId { campaign: id, shopper, ordinal: u8::try_from(wallet.len() - 1).expect("few") };
        campaign.n_issued += 1;

        let first_claim = n_base == 0;
        let mut referral_bonus = None;
        if let Some(referrer) = referred_by.filter(|referrer| *referrer != shopper)
            && (first_claim || rules.referral_on_every_new_claim)
        {
            let n_referral = campaign
                .wallets
                .get(&referrer)
                .map_or(0, |coupons| coupons.iter().filter(|coupon| coupon.referral).count());
            // Within the referral cap, and only if the budget has room for the bonus too.
            if n_referral < usize::from(campaign.spec.referral_bonus_cap)
                && campaign.available_balance() >= face_value
            {
                let wallet = campaign.wallets.entry(referrer).or_default();
                wallet.push(ModelCoupon { state: CouponState::Claimed, referral: true });
                let ordinal = u8::try_from(wallet.len() - 1).expect("few");
                referral_bonus = Some(CouponId { campaign: id, shopper: referrer, ordinal });
                if !first_claim {
                    *self.deviations_seen.entry("D2 bonus on a later base claim").or_default() += 1;
                }
                campaign.n_issued += 1;
                campaign.n_referral_issued += 1;
            }
        }
        Expect::Claimed { coupon, face_value, newly_claimed: true, referral_bonus }
    }

    fn quote(
        &mut self,
        shopper: ShopperId,
        merchant: MerchantId,
        lines: &[pricing::CartLine],
        choice: CouponChoice,
        now: Timestamp,
    ) -> Expect {
        let Some(merchant_index) = self.merchant_index(merchant) else {
            return refused(ReasonCode::NotFound);
        };
        let shop = &self.merchants[merchant_index];
        if shop.status == MerchantStatus::Paused {
            return refused(ReasonCode::MerchantPaused);
        }
        let merchant_status = shop.status;
        let merchant_eta_ms = shop.capacity.eta_ms(shop.backlog);
        let catalog = Arc::clone(&shop.catalog);
        let cart = match pricing::price_cart(&catalog, lines) {
            Ok(cart) => cart,
            Err(error) => return refused(error.code()),
        };

        // Candidates: one per campaign the choice allows, the shopper's first unused coupon, or
        // failing that the first one an older quote of theirs holds (the newest quote wins).
        struct Candidate {
            coupon: CouponId,
            held_by: Option<usize>,
            discount: Money,
            ends_at: Timestamp,
        }
        let mut best: Option<Candidate> = None;
        for campaign in &self.campaigns {
            let allowed = match choice {
                CouponChoice::Best => true,
                CouponChoice::Campaign(wanted) => wanted == campaign.id,
                CouponChoice::None => false,
            };
            if !allowed || campaign.status == CampaignStatus::Ended {
                continue;
            }
            let Some(coupons) = campaign.wallets.get(&shopper) else { continue };
            let unused =
                coupons.iter().position(|coupon| coupon.state == CouponState::Claimed).map(|o| (o, None));
            let taken_over = || {
                coupons.iter().enumerate().find_map(|(ordinal, coupon)| match coupon.state {
                    CouponState::Held(quote) => Some((ordinal, Some(quote))),
                    _ => None,
                })
            };
            let Some((ordinal, held_by)) = unused.or_else(taken_over) else { continue };
            let Ok(discount) = pricing::discount(&campaign.spec, merchant, &catalog, &cart) else { continue };
            let candidate = Candidate {
                coupon: CouponId {
                    campaign: campaign.id,
                    shopper,
                    ordinal: u8::try_from(ordinal).expect("few"),
                },
                held_by,
                discount,
                ends_at: campaign.spec.validity.ends_at(),
            };
            // More off wins; on a tie the coupon that expires first; then the older campaign
            // (campaigns are scanned oldest first, so a full tie keeps the earlier one).
            let beats = |best: &Candidate| {
                (candidate.discount, std::cmp::Reverse(candidate.ends_at))
                    > (best.discount, std::cmp::Reverse(best.ends_at))
            };
            if best.as_ref().is_none_or(beats) {
                best = Some(candidate);
            }
        }

        let index = self.quotes.len();
        let (coupon, discount) = match best {
            Some(candidate) => {
                if let Some(older) = candidate.held_by {
                    self.quotes[older].coupon = None;
                    self.quotes[older].superseded = true;
                }
                self.coupon_mut(candidate.coupon).state = CouponState::Held(index);
                (Some(candidate.coupon), candidate.discount)
            }
            None => (None, Money::ZERO),
        };
        self.quotes.push(ModelQuote {
            id: None,
            shopper,
            merchant,
            lines: cart.lines,
            subtotal: cart.subtotal,
            discount,
            coupon,
            expires_at: now.plus_ms(self.hold_ttl_ms),
            state: QuoteState::Live,
            superseded: false,
            coupon_expired: None,
        });
        Expect::Quoted { index, merchant_eta_ms, merchant_status }
    }

    fn place(
        &mut self,
        shopper: ShopperId,
        quote_id: QuoteId,
        key: &str,
        now: Timestamp,
        rules: Rules,
    ) -> Expect {
        // The key first: a retry answers the first answer whatever happened since.
        let earlier = self
            .orders
            .iter()
            .position(|order| !order.retired && order.shopper == shopper && order.key == key);
        if let Some(index) = earlier {
            if self.orders[index].quote != quote_id {
                return refused(ReasonCode::Conflict);
            }
            return Expect::Replayed { index };
        }
        let found =
            self.quotes.iter().position(|quote| quote.id == Some(quote_id) && quote.shopper == shopper);
        let Some(quote_index) = found else { return refused(ReasonCode::NotFound) };
        let quote = &self.quotes[quote_index];
        match quote.state {
            QuoteState::Placed => return refused(ReasonCode::NotFound),
            QuoteState::Expired if rules.expired_quote_is_forgotten => {
                *self.deviations_seen.entry("D1 expired quote answers not_found").or_default() += 1;
                return refused(ReasonCode::NotFound);
            }
            // Kept one more TTL to answer "expired", then forgotten.
            QuoteState::Expired if now >= quote.expires_at.plus_ms(self.hold_ttl_ms) => {
                return refused(ReasonCode::NotFound);
            }
            QuoteState::Expired => return refused(ReasonCode::Expired),
            QuoteState::Live => {}
        }
        if quote.superseded {
            return refused(ReasonCode::Expired);
        }
        if quote.coupon_expired.is_some() {
            return refused(ReasonCode::DiscountCodeExpired);
        }
        let merchant_index = self.merchant_index(quote.merchant).expect("quoted at a known shop");
        let shop = &mut self.merchants[merchant_index];
        let backlog_eta_ms = shop.capacity.eta_ms(shop.backlog);
        match shop.status {
            MerchantStatus::Open => {}
            MerchantStatus::Busy => {
                return Expect::Refused { code: ReasonCode::MerchantBusy, wait_ms: Some(backlog_eta_ms) };
            }
            MerchantStatus::Paused => return refused(ReasonCode::MerchantPaused),
        }
        if shop.backlog >= shop.capacity.open_orders_max() {
            return Expect::Refused { code: ReasonCode::MerchantBusy, wait_ms: Some(backlog_eta_ms) };
        }
        shop.refill_rate(now);
        if shop.rate_units < UNITS_PER_ORDER {
            let slot_wait_ms =
                (UNITS_PER_ORDER - shop.rate_units).div_ceil(u64::from(shop.capacity.orders_per_minute()));
            let wait_ms = backlog_eta_ms.max(slot_wait_ms);
            return Expect::Refused { code: ReasonCode::MerchantBusy, wait_ms: Some(wait_ms) };
        }
        shop.rate_units -= UNITS_PER_ORDER;
        shop.backlog += 1;

        let quote = &mut self.quotes[quote_index];
        quote.state = QuoteState::Placed;
        let coupon = quote.coupon.take();
        let order = ModelOrder {
            receipt: None,
            quote: quote_id,
            shopper,
            merchant: quote.merchant,
            key: key.to_owned(),
            coupon,
            discount: quote.discount,
            lines: quote.lines.clone(),
            status: OrderStatus::Placed,
            updated_at: now,
            closed_at: None,
            retired: false,
        };
        if let Some(coupon) = coupon {
            self.coupon_mut(coupon).state = CouponState::Redeemed;
        }
        self.orders.push(order);
        Expect::Placed { index: self.orders.len() - 1, eta_ms: backlog_eta_ms }
    }

    fn advance(&mut self, index: usize, event: OrderEvent, now: Timestamp) -> Expect {
        let order = &self.orders[index];
        let before = order.status;
        let Some(after) = next_status(before, event) else { return refused(ReasonCode::InvalidTransition) };
        let id = order.id().expect("bound");
        let merchant = order.merchant;
        let coupon = order.coupon;
        let discount = order.discount;
        let order = &mut self.orders[index];
        order.status = after;
        order.updated_at = now;
        if is_closed(after) {
            order.closed_at = Some(now);
        }
        let merchant_index = self.merchant_index(merchant).expect("known shop");
        if in_kitchen(before) && !in_kitchen(after) {
            self.merchants[merchant_index].backlog -= 1;
        }
        if let Some(coupon) = coupon {
            let campaign_index = self.campaign_index(coupon.campaign).expect("known campaign");
            let ended = self.campaigns[campaign_index].status == CampaignStatus::Ended;
            match after {
                // The shopper gets the coupon back, unless its campaign has ended meanwhile.
                OrderStatus::Cancelled | OrderStatus::Rejected => {
                    self.coupon_mut(coupon).state =
                        if ended { CouponState::Expired } else { CouponState::Claimed };
                }
                OrderStatus::Delivered => {
                    self.coupon_mut(coupon).state = CouponState::Delivered;
                    let campaign = &mut self.campaigns[campaign_index];
                    campaign.settled = campaign.settled.checked_add(discount).expect("small");
                    let shop = &mut self.merchants[merchant_index];
                    shop.settled = shop.settled.checked_add(discount).expect("small");
                }
                _ => {}
            }
        }
        Expect::Advanced { order: id, status: after }
    }
}
