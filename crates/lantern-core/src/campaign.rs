//! Coupon campaigns: budget, template, eligibility, caps, validity and issuance pace.

use crate::ids::{CampaignId, MerchantId};
use crate::money::Money;
use crate::time::Timestamp;

/// Most base coupons one shopper may claim in one campaign.
pub const PER_SHOPPER_LIMIT_MAX: u8 = 8;
/// Most referral bonus coupons one shopper may earn in one campaign.
pub const REFERRAL_BONUS_CAP_MAX: u8 = 8;
/// Largest campaign budget: 100 billion yuan, far above any real campaign, far below overflow.
pub const CAMPAIGN_BUDGET_MAX: Money = Money::from_yuan(100_000_000_000);
/// Largest face value of one coupon: 10,000 yuan.
pub const COUPON_FACE_VALUE_MAX: Money = Money::from_yuan(10_000);
/// Most issuance waves in one campaign.
pub const WAVES_MAX: usize = 64;
/// Most eligible merchants or categories listed on one campaign.
pub const ELIGIBILITY_ENTRIES_MAX: usize = 10_000;

/// What a coupon takes off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CouponTemplate {
    /// A fixed amount off the eligible part of the cart (the festival's "25 yuan off, no threshold").
    AmountOff { amount: Money },
    /// A percentage (in basis points: 1500 = 15%) off the eligible part, at most `cap`.
    PercentOff { percent_bp: u32, cap: Money },
    /// One eligible item free, up to `up_to`.
    FreeItem { up_to: Money },
}

impl CouponTemplate {
    /// The most one coupon can ever be worth. Claiming a coupon reserves this much of the budget,
    /// so the budget cannot be overspent whatever the carts turn out to be.
    pub fn face_value(&self) -> Money {
        match self {
            CouponTemplate::AmountOff { amount } => *amount,
            CouponTemplate::PercentOff { cap, .. } => *cap,
            CouponTemplate::FreeItem { up_to } => *up_to,
        }
    }

    pub const fn kind(&self) -> &'static str {
        match self {
            CouponTemplate::AmountOff { .. } => "amount_off",
            CouponTemplate::PercentOff { .. } => "percent_off",
            CouponTemplate::FreeItem { .. } => "free_item",
        }
    }
}

/// Which merchants and categories a coupon applies to; an empty list means "any".
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Eligibility {
    pub merchants: Vec<MerchantId>,
    pub categories: Vec<String>,
}

impl Eligibility {
    pub fn merchant_eligible(&self, merchant: MerchantId) -> bool {
        self.merchants.is_empty() || self.merchants.contains(&merchant)
    }

    pub fn category_eligible(&self, category: &str) -> bool {
        self.categories.is_empty() || self.categories.iter().any(|eligible| eligible == category)
    }
}

/// When coupons can be claimed and used. `ends_at` is editable while the campaign runs
/// (the February campaign moved its expiry from the 23rd to the 28th mid-run).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    starts_at: Timestamp,
    ends_at: Timestamp,
}

impl Validity {
    pub fn new(starts_at: Timestamp, ends_at: Timestamp) -> Result<Validity, CampaignError> {
        if starts_at >= ends_at {
            return Err(CampaignError::Validity);
        }
        Ok(Validity { starts_at, ends_at })
    }

    pub const fn starts_at(self) -> Timestamp {
        self.starts_at
    }

    pub const fn ends_at(self) -> Timestamp {
        self.ends_at
    }

    pub fn contains(self, now: Timestamp) -> bool {
        self.starts_at <= now && now < self.ends_at
    }
}

/// A release of coupons at a moment: from `starts_at` on, `coupons` more may be claimed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wave {
    pub starts_at: Timestamp,
    pub coupons: u64,
}

/// How fast coupons may be handed out, so a campaign can be paced instead of drained at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IssuancePace {
    Unlimited,
    /// A token bucket: `coupons_per_s` sustained, `burst` at once.
    PerSecond {
        coupons_per_s: u32,
        burst: u32,
    },
    /// Cumulative releases at set times.
    Waves(Vec<Wave>),
}

/// Everything an operator states when creating a campaign.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CampaignSpec {
    pub name: String,
    pub budget: Money,
    pub template: CouponTemplate,
    pub min_spend: Money,
    pub eligibility: Eligibility,
    pub per_shopper_limit: u8,
    pub referral_bonus_cap: u8,
    pub validity: Validity,
    pub pace: IssuancePace,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CampaignStatus {
    Active,
    Paused,
    Ended,
}

impl CampaignStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            CampaignStatus::Active => "active",
            CampaignStatus::Paused => "paused",
            CampaignStatus::Ended => "ended",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CampaignError {
    #[error("campaign name must be 1..=200 characters")]
    Name,
    #[error("budget must be 1 fen..={CAMPAIGN_BUDGET_MAX}, got {0}")]
    Budget(Money),
    #[error("coupon value must be 1 fen..={COUPON_FACE_VALUE_MAX}, got {0}")]
    FaceValue(Money),
    #[error("percent_bp must be 1..=10000 (basis points: 1500 = 15%), got {0}")]
    Percent(u32),
    #[error("min_spend must be 0..={COUPON_FACE_VALUE_MAX}, got {0}")]
    MinSpend(Money),
    #[error(
        "per_shopper_limit must be 1..={PER_SHOPPER_LIMIT_MAX} and referral_bonus_cap 0..={REFERRAL_BONUS_CAP_MAX}"
    )]
    Caps,
    #[error("validity must start before it ends")]
    Validity,
    #[error(
        "pace: coupons_per_s and burst must be 1..=1000000; waves 1..={WAVES_MAX} in time order with coupons > 0"
    )]
    Pace,
    #[error("eligibility lists hold at most {ELIGIBILITY_ENTRIES_MAX} entries")]
    Eligibility,
    #[error("the campaign has ended; it cannot be changed")]
    Ended,
    #[error("validity can only move later while the campaign runs: new end {new_end} is before {now}")]
    ValidityInPast { new_end: Timestamp, now: Timestamp },
    #[error("the campaign is already {0}")]
    AlreadyInStatus(&'static str),
}

impl CampaignSpec {
    pub fn validate(&self) -> Result<(), CampaignError> {
        let n_chars = self.name.chars().count();
        if n_chars == 0 || n_chars > 200 {
            return Err(CampaignError::Name);
        }
        if self.budget <= Money::ZERO || self.budget > CAMPAIGN_BUDGET_MAX {
            return Err(CampaignError::Budget(self.budget));
        }
        let face_value = self.template.face_value();
        if face_value <= Money::ZERO || face_value > COUPON_FACE_VALUE_MAX {
            return Err(CampaignError::FaceValue(face_value));
        }
        if let CouponTemplate::PercentOff { percent_bp, .. } = self.template
            && !(1..=10_000).contains(&percent_bp)
        {
            return Err(CampaignError::Percent(percent_bp));
        }
        if self.min_spend.is_negative() || self.min_spend > COUPON_FACE_VALUE_MAX {
            return Err(CampaignError::MinSpend(self.min_spend));
        }
        if !(1..=PER_SHOPPER_LIMIT_MAX).contains(&self.per_shopper_limit)
            || self.referral_bonus_cap > REFERRAL_BONUS_CAP_MAX
        {
            return Err(CampaignError::Caps);
        }
        if self.eligibility.merchants.len() > ELIGIBILITY_ENTRIES_MAX
            || self.eligibility.categories.len() > ELIGIBILITY_ENTRIES_MAX
        {
            return Err(CampaignError::Eligibility);
        }
        validate_pace(&self.pace)
    }
}

pub(crate) fn validate_pace(pace: &IssuancePace) -> Result<(), CampaignError> {
    let rate_ok = |value: u32| (1..=1_000_000).contains(&value);
    match pace {
        IssuancePace::Unlimited => Ok(()),
        IssuancePace::PerSecond { coupons_per_s, burst } => {
            if rate_ok(*coupons_per_s) && rate_ok(*burst) {
                Ok(())
            } else {
                Err(CampaignError::Pace)
            }
        }
        IssuancePace::Waves(waves) => {
            let ordered = waves.windows(2).all(|pair| pair[0].starts_at < pair[1].starts_at);
            let sized = waves.iter().all(|wave| wave.coupons > 0);
            if waves.is_empty() || waves.len() > WAVES_MAX || !ordered || !sized {
                Err(CampaignError::Pace)
            } else {
                Ok(())
            }
        }
    }
}

/// A campaign as it runs: its spec plus status. Budget balances live in the ledger's accounts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Campaign {
    id: CampaignId,
    spec: CampaignSpec,
    status: CampaignStatus,
}

impl Campaign {
    pub fn new(id: CampaignId, spec: CampaignSpec) -> Result<Campaign, CampaignError> {
        spec.validate()?;
        Ok(Campaign { id, spec, status: CampaignStatus::Active })
    }

    pub fn id(&self) -> CampaignId {
        self.id
    }

    pub fn spec(&self) -> &CampaignSpec {
        &self.spec
    }

    pub fn status(&self) -> CampaignStatus {
        self.status
    }

    pub fn face_value(&self) -> Money {
        self.spec.template.face_value()
    }

    pub fn pause(&mut self) -> Result<(), CampaignError> {
        match self.status {
            CampaignStatus::Active => {
                self.status = CampaignStatus::Paused;
                Ok(())
            }
            CampaignStatus::Paused => Err(CampaignError::AlreadyInStatus("paused")),
            CampaignStatus::Ended => Err(CampaignError::Ended),
        }
    }

    pub fn resume(&mut self) -> Result<(), CampaignError> {
        match self.status {
            CampaignStatus::Paused => {
                self.status = CampaignStatus::Active;
                Ok(())
            }
            CampaignStatus::Active => Err(CampaignError::AlreadyInStatus("active")),
            CampaignStatus::Ended => Err(CampaignError::Ended),
        }
    }

    /// Marks the campaign ended (its validity passed); from then on it cannot change.
    pub fn end(&mut self) {
        self.status = CampaignStatus::Ended;
    }

    /// Moves the end of validity. Only while the campaign runs, and never into the past: coupons
    /// that already expired gave their value back to the budget and stay expired.
    pub fn set_ends_at(&mut self, ends_at: Timestamp, now: Timestamp) -> Result<(), CampaignError> {
        if self.status == CampaignStatus::Ended {
            return Err(CampaignError::Ended);
        }
        if ends_at <= now {
            return Err(CampaignError::ValidityInPast { new_end: ends_at, now });
        }
        self.spec.validity = Validity::new(self.spec.validity.starts_at, ends_at)?;
        Ok(())
    }

    pub fn set_pace(&mut self, pace: IssuancePace) -> Result<(), CampaignError> {
        if self.status == CampaignStatus::Ended {
            return Err(CampaignError::Ended);
        }
        validate_pace(&pace)?;
        self.spec.pace = pace;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn festival() -> CampaignSpec {
        CampaignSpec {
            name: "Spring Festival 春节".into(),
            budget: Money::from_yuan(3_000_000_000),
            template: CouponTemplate::AmountOff { amount: Money::from_yuan(25) },
            min_spend: Money::ZERO,
            eligibility: Eligibility::default(),
            per_shopper_limit: 1,
            referral_bonus_cap: 3,
            validity: Validity::new(Timestamp::from_ms(1_000), Timestamp::from_ms(10_000))
                .unwrap_or_else(|error| panic!("{error}")),
            pace: IssuancePace::Unlimited,
        }
    }

    #[test]
    fn spec_validation_names_the_field() {
        assert_eq!(festival().validate(), Ok(()));
        let mut spec = festival();
        spec.budget = Money::ZERO;
        assert_eq!(spec.validate(), Err(CampaignError::Budget(Money::ZERO)));
        let mut spec = festival();
        spec.template = CouponTemplate::PercentOff { percent_bp: 20_000, cap: Money::from_yuan(5) };
        assert_eq!(spec.validate(), Err(CampaignError::Percent(20_000)));
        let mut spec = festival();
        spec.per_shopper_limit = 0;
        assert_eq!(spec.validate(), Err(CampaignError::Caps));
        let mut spec = festival();
        spec.pace = IssuancePace::Waves(vec![
            Wave { starts_at: Timestamp::from_ms(5), coupons: 1 },
            Wave { starts_at: Timestamp::from_ms(5), coupons: 1 },
        ]);
        assert_eq!(spec.validate(), Err(CampaignError::Pace));
        assert_eq!(Validity::new(Timestamp::from_ms(5), Timestamp::from_ms(5)), Err(CampaignError::Validity));
    }

    #[test]
    fn status_and_validity_edits() {
        let mut campaign =
            Campaign::new(CampaignId::new(1), festival()).unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(campaign.resume(), Err(CampaignError::AlreadyInStatus("active")));
        assert_eq!(campaign.pause(), Ok(()));
        assert_eq!(campaign.resume(), Ok(()));
        assert_eq!(campaign.set_ends_at(Timestamp::from_ms(20_000), Timestamp::from_ms(5_000)), Ok(()));
        assert_eq!(campaign.spec().validity.ends_at(), Timestamp::from_ms(20_000));
        assert!(campaign.set_ends_at(Timestamp::from_ms(4_000), Timestamp::from_ms(5_000)).is_err());
        campaign.end();
        assert_eq!(campaign.pause(), Err(CampaignError::Ended));
        assert_eq!(campaign.set_pace(IssuancePace::Unlimited), Err(CampaignError::Ended));
    }
}
