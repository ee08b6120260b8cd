//! A small, fixed world shared by the scenario tests and the property test: two menus, three
//! shops and three campaign specs, with prices chosen so that every template gives a discount
//! that is easy to check by hand.

use std::sync::Arc;

use lantern_core::pricing::CartLine;
use lantern_core::{
    CampaignId, CampaignSpec, Capacity, Catalog, CatalogId, CouponTemplate, Eligibility, IssuancePace, Item,
    ItemId, ItemOption, Merchant, MerchantId, Money, OptionGroup, OptionId, OptionKind, ShopperId, Timestamp,
    Validity, Wave,
};
use lantern_ledger::{Account, Command, Ledger, LedgerConfig, LedgerError, ORDER_RETENTION_MS_MIN, Outcome};

/// The start of every test's clock: far from zero so that "a moment before" is always a valid time.
pub const T0: Timestamp = Timestamp::from_ms(1_700_000_000_000);
/// A minute: short enough that a test can step past it, long enough that a shopper who quotes
/// twice in a random sequence often does so within one hold.
pub const HOLD_TTL_MS: u64 = 60_000;
/// The shortest retention the ledger accepts, so that retirement is reachable with one jump.
pub const RETENTION_MS: u64 = ORDER_RETENTION_MS_MIN;

pub const TEA_CATALOG: CatalogId = CatalogId::new(1);
pub const COFFEE_CATALOG: CatalogId = CatalogId::new(2);

/// 16 yuan, "milk tea", a size group with a default and optional toppings.
pub const TEA: ItemId = ItemId::new(1);
pub const MEDIUM: OptionId = OptionId::new(1);
pub const LARGE: OptionId = OptionId::new(2);
pub const PEARLS: OptionId = OptionId::new(3);
pub const PUDDING: OptionId = OptionId::new(4);
/// 28 yuan, "dessert".
pub const CAKE: ItemId = ItemId::new(2);
/// 3 yuan, "drinks": below every minimum spend.
pub const WATER: ItemId = ItemId::new(3);
/// 22 yuan, "coffee", a size group that must be picked (no default).
pub const COFFEE: ItemId = ItemId::new(11);
pub const SMALL: OptionId = OptionId::new(11);
pub const BIG: OptionId = OptionId::new(12);
/// 5 yuan, "dessert".
pub const COOKIE: ItemId = ItemId::new(12);

/// Sells from the tea menu, 2 orders a minute, 2 open orders.
pub const TEA_HOUSE: MerchantId = MerchantId::new(101);
/// Sells from the tea menu, 1 order a minute, 3 open orders.
pub const TEA_KIOSK: MerchantId = MerchantId::new(102);
/// Sells from the coffee menu, 3 orders a minute, 1 open order.
pub const COFFEE_BAR: MerchantId = MerchantId::new(103);

pub fn shopper(raw: u64) -> ShopperId {
    ShopperId::new(raw)
}

pub fn at(offset_ms: u64) -> Timestamp {
    T0.plus_ms(offset_ms)
}

pub fn config() -> LedgerConfig {
    LedgerConfig {
        hold_ttl_ms: HOLD_TTL_MS,
        order_retention_ms: RETENTION_MS,
        expected_shoppers: 0,
        expected_orders: 0,
        retired_kept_max: lantern_ledger::RETIRED_KEPT_MAX,
    }
}

pub fn line(item: ItemId, quantity: u16, options: &[OptionId]) -> CartLine {
    CartLine { item, quantity, options: options.to_vec() }
}

fn choice(id: OptionId, name: &str, delta_fen: i64) -> ItemOption {
    ItemOption { id, name: name.into(), price_delta: Money::from_fen(delta_fen) }
}

fn group(
    kind: OptionKind,
    name: &str,
    min_choices: u8,
    max_choices: u8,
    default_choice: Option<OptionId>,
    choices: Vec<ItemOption>,
) -> OptionGroup {
    OptionGroup { kind, name: name.into(), choices, min_choices, max_choices, default_choice }
}

fn item(id: ItemId, name: &str, category: &str, price_fen: i64, option_groups: Vec<OptionGroup>) -> Item {
    Item {
        id,
        name: name.into(),
        category: category.into(),
        price: Money::from_fen(price_fen),
        option_groups,
    }
}

pub fn tea_catalog() -> Arc<Catalog> {
    let tea = item(
        TEA,
        "珍珠奶茶 Pearl milk tea",
        "milk tea",
        1600,
        vec![
            group(
                OptionKind::Size,
                "size",
                1,
                1,
                Some(MEDIUM),
                vec![choice(MEDIUM, "medium", 0), choice(LARGE, "large", 300)],
            ),
            group(
                OptionKind::Topping,
                "toppings",
                0,
                2,
                None,
                vec![choice(PEARLS, "pearls", 200), choice(PUDDING, "pudding", 300)],
            ),
        ],
    );
    let cake = item(CAKE, "Cheesecake", "dessert", 2800, vec![]);
    let water = item(WATER, "Water", "drinks", 300, vec![]);
    Arc::new(Catalog::new(TEA_CATALOG, vec![tea, cake, water]).expect("the tea menu is valid"))
}

pub fn coffee_catalog() -> Arc<Catalog> {
    let coffee = item(
        COFFEE,
        "Latte",
        "coffee",
        2200,
        vec![group(
            OptionKind::Size,
            "size",
            1,
            1,
            None,
            vec![choice(SMALL, "small", 0), choice(BIG, "big", 400)],
        )],
    );
    let cookie = item(COOKIE, "Cookie", "dessert", 500, vec![]);
    Arc::new(Catalog::new(COFFEE_CATALOG, vec![coffee, cookie]).expect("the coffee menu is valid"))
}

pub fn capacity(orders_per_minute: u32, open_orders_max: u32) -> Capacity {
    Capacity::new(orders_per_minute, open_orders_max).expect("test capacities are in range")
}

pub fn merchant(id: MerchantId, catalog: CatalogId, capacity: Capacity) -> Merchant {
    Merchant::new(id, format!("shop {id}"), catalog, capacity).expect("test merchants are valid")
}

/// The three shops, in the order the property test numbers them.
pub fn merchants() -> Vec<Merchant> {
    vec![
        merchant(TEA_HOUSE, TEA_CATALOG, capacity(2, 2)),
        merchant(TEA_KIOSK, TEA_CATALOG, capacity(1, 3)),
        merchant(COFFEE_BAR, COFFEE_CATALOG, capacity(3, 1)),
    ]
}

pub fn validity(starts_at: Timestamp, ends_at: Timestamp) -> Validity {
    Validity::new(starts_at, ends_at).expect("test validity starts before it ends")
}

/// A campaign spec with no minimum, no eligibility limits, one coupon per shopper, no referrals,
/// unlimited pace and a one-hour validity; tests change the field they are about.
pub fn plain_spec(template: CouponTemplate, budget: Money) -> CampaignSpec {
    CampaignSpec {
        name: "test campaign".into(),
        budget,
        template,
        min_spend: Money::ZERO,
        eligibility: Eligibility::default(),
        per_shopper_limit: 1,
        referral_bonus_cap: 0,
        validity: validity(T0, at(60 * 60 * 1000)),
        pace: IssuancePace::Unlimited,
    }
}

/// Campaign "A" of the property test: 5 yuan off from 20 yuan, 5 coupons of budget, one per
/// shopper plus two referral bonuses, paced at one coupon a second with a burst of two.
pub fn amount_off_campaign() -> CampaignSpec {
    CampaignSpec {
        name: "A: 5 off 20".into(),
        budget: Money::from_fen(500 * 5),
        template: CouponTemplate::AmountOff { amount: Money::from_fen(500) },
        min_spend: Money::from_fen(2000),
        eligibility: Eligibility::default(),
        per_shopper_limit: 1,
        referral_bonus_cap: 2,
        validity: validity(T0, at(30 * 60 * 1000)),
        pace: IssuancePace::PerSecond { coupons_per_s: 1, burst: 2 },
    }
}

/// Campaign "B": 20% off capped at 8 yuan, only at the tea house and the coffee bar, 6 coupons
/// of budget, two per shopper plus one referral bonus, the shortest validity.
pub fn percent_off_campaign() -> CampaignSpec {
    CampaignSpec {
        name: "B: 20% off".into(),
        budget: Money::from_fen(800 * 6),
        template: CouponTemplate::PercentOff { percent_bp: 2000, cap: Money::from_fen(800) },
        min_spend: Money::ZERO,
        eligibility: Eligibility { merchants: vec![TEA_HOUSE, COFFEE_BAR], categories: vec![] },
        per_shopper_limit: 2,
        referral_bonus_cap: 1,
        validity: validity(T0, at(20 * 60 * 1000)),
        pace: IssuancePace::Unlimited,
    }
}

/// Campaign "C": one dessert free up to 6 yuan, 5 coupons of budget released in three waves
/// (7 coupons in all, so the budget runs out before the waves do), starting 5 s after T0.
pub fn free_dessert_campaign() -> CampaignSpec {
    CampaignSpec {
        name: "C: free dessert".into(),
        budget: Money::from_fen(600 * 5),
        template: CouponTemplate::FreeItem { up_to: Money::from_fen(600) },
        min_spend: Money::ZERO,
        eligibility: Eligibility { merchants: vec![], categories: vec!["dessert".into()] },
        per_shopper_limit: 1,
        referral_bonus_cap: 1,
        validity: validity(at(5_000), at(40 * 60 * 1000)),
        pace: IssuancePace::Waves(vec![
            Wave { starts_at: at(5_000), coupons: 2 },
            Wave { starts_at: at(60_000), coupons: 2 },
            Wave { starts_at: at(180_000), coupons: 3 },
        ]),
    }
}

/// The commands that set up the property test's world, in order.
pub fn setup_commands() -> Vec<Command> {
    let mut commands = vec![
        Command::PublishCatalog { catalog: tea_catalog() },
        Command::PublishCatalog { catalog: coffee_catalog() },
    ];
    commands.extend(merchants().into_iter().map(|merchant| Command::RegisterMerchant { merchant }));
    commands.extend(
        [amount_off_campaign(), percent_off_campaign(), free_dessert_campaign()]
            .into_iter()
            .map(|spec| Command::CreateCampaign { spec }),
    );
    commands
}

/// Applies a command that the test expects to succeed, naming the command if it does not.
pub fn apply_ok(ledger: &mut Ledger, command: &Command, now: Timestamp) -> Outcome {
    match ledger.apply(command, now) {
        Ok(outcome) => outcome,
        Err(error) => panic!("{} was refused: {error} ({})", command.kind(), error.code()),
    }
}

/// Applies a command that the test expects to be refused, and returns why.
pub fn apply_err(ledger: &mut Ledger, command: &Command, now: Timestamp) -> LedgerError {
    match ledger.apply(command, now) {
        Ok(outcome) => panic!("{} should have been refused, got {outcome:?}", command.kind()),
        Err(error) => error,
    }
}

/// All six balances of a campaign in fen, in flow order:
/// `[funding, available, wallets, held, redeemed, settled]`.
pub fn balances(ledger: &Ledger, campaign: CampaignId) -> [i64; 6] {
    let accounts = ledger.accounts(campaign).expect("the campaign exists");
    Account::ALL.map(|account| accounts.balance(account).fen())
}
