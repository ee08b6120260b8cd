//! Seed data: the demo's bubble-tea and coffee shops, and the Spring Festival campaign.

use std::sync::Arc;

use lantern_core::{
    Address, CampaignSpec, Capacity, Catalog, CatalogId, CouponTemplate, Eligibility, GeoPoint, IssuancePace,
    Item, ItemId, ItemOption, Merchant, MerchantId, Money, OptionGroup, OptionId, OptionKind, Timestamp,
    Validity,
};
use lantern_ledger::Command;

/// 2027-02-06 00:00 (UTC+8): the demo campaign opens.
pub const FESTIVAL_STARTS_AT: Timestamp = Timestamp::from_ms(1_801_843_200_000);
/// 2027-02-23 00:00 (UTC+8): the demo campaign's first end of validity.
pub const FESTIVAL_ENDS_AT: Timestamp = Timestamp::from_ms(1_803_312_000_000);
/// 2027-02-28 00:00 (UTC+8): where the operator moves it mid-run, as in February 2026.
pub const FESTIVAL_EXTENDED_ENDS_AT: Timestamp = Timestamp::from_ms(1_803_744_000_000);

fn choice(id: u32, name: &str, delta_fen: i64) -> ItemOption {
    ItemOption { id: OptionId::new(id), name: name.into(), price_delta: Money::from_fen(delta_fen) }
}

fn group(
    kind: OptionKind,
    name: &str,
    min: u8,
    max: u8,
    default: Option<u32>,
    choices: Vec<ItemOption>,
) -> OptionGroup {
    OptionGroup {
        kind,
        name: name.into(),
        choices,
        min_choices: min,
        max_choices: max,
        default_choice: default.map(OptionId::new),
    }
}

/// Size, sugar and ice groups every tea has, and its toppings.
fn tea_options(large_delta_fen: i64) -> Vec<OptionGroup> {
    vec![
        group(
            OptionKind::Size,
            "size 杯型",
            1,
            1,
            Some(1),
            vec![choice(1, "medium 中杯", 0), choice(2, "large 大杯", large_delta_fen)],
        ),
        group(
            OptionKind::Sugar,
            "sugar 甜度",
            1,
            1,
            Some(10),
            vec![
                choice(10, "regular 标准糖", 0),
                choice(11, "less 少糖", 0),
                choice(12, "half 半糖", 0),
                choice(13, "none 无糖", 0),
            ],
        ),
        group(
            OptionKind::Ice,
            "ice 冰量",
            1,
            1,
            Some(20),
            vec![
                choice(20, "regular 正常冰", 0),
                choice(21, "less 少冰", 0),
                choice(22, "no ice 去冰", 0),
                choice(23, "hot 热", 0),
            ],
        ),
        group(
            OptionKind::Topping,
            "toppings 加料",
            0,
            3,
            None,
            vec![
                choice(30, "pearls 珍珠", 200),
                choice(31, "coconut jelly 椰果", 200),
                choice(32, "pudding 布丁", 300),
            ],
        ),
    ]
}

fn item(id: u64, name: &str, category: &str, price_fen: i64, option_groups: Vec<OptionGroup>) -> Item {
    Item {
        id: ItemId::new(id),
        name: name.into(),
        category: category.into(),
        price: Money::from_fen(price_fen),
        option_groups,
    }
}

/// The bubble-tea chain's menu.
pub fn tea_menu() -> Catalog {
    let items = vec![
        item(101, "珍珠奶茶 Pearl Milk Tea", "milk tea", 1500, tea_options(300)),
        item(102, "杨枝甘露 Mango Pomelo Sago", "fruit tea", 1900, tea_options(300)),
        item(103, "多肉葡萄 Cheezo Grape", "fruit tea", 2900, tea_options(400)),
        item(104, "茉莉绿茶 Jasmine Green Tea", "pure tea", 1000, tea_options(200)),
        item(105, "芝士奶盖红茶 Cheese Foam Black Tea", "milk tea", 2200, tea_options(300)),
        item(106, "蛋挞 Egg Tart", "snack", 800, vec![]),
    ];
    Catalog::new(CatalogId::new(1), items).unwrap_or_else(|error| panic!("demo tea menu is valid: {error}"))
}

/// The coffee chain's menu.
pub fn coffee_menu() -> Catalog {
    let coffee_options = || {
        vec![
            group(
                OptionKind::Size,
                "size 杯型",
                1,
                1,
                Some(2),
                vec![
                    choice(1, "small 小杯", -300),
                    choice(2, "medium 中杯", 0),
                    choice(3, "large 大杯", 400),
                ],
            ),
            group(
                OptionKind::Ice,
                "temperature 温度",
                1,
                1,
                Some(23),
                vec![choice(20, "iced 冰", 0), choice(23, "hot 热", 0)],
            ),
            group(
                OptionKind::Topping,
                "extras 加料",
                0,
                2,
                None,
                vec![choice(40, "extra shot 加浓缩", 500), choice(41, "oat milk 燕麦奶", 400)],
            ),
        ]
    };
    let items = vec![
        item(201, "拿铁 Caffè Latte", "coffee", 2800, coffee_options()),
        item(202, "美式 Americano", "coffee", 2200, coffee_options()),
        item(203, "生椰拿铁 Coconut Latte", "coffee", 3200, coffee_options()),
        item(204, "蓝莓松饼 Blueberry Muffin", "bakery", 1800, vec![]),
    ];
    Catalog::new(CatalogId::new(2), items)
        .unwrap_or_else(|error| panic!("demo coffee menu is valid: {error}"))
}

/// The Spring Festival campaign: 25 yuan off any drink, no threshold, 1 per shopper plus up to 3
/// referral bonuses.
pub fn festival_campaign(budget: Money, validity: Validity) -> CampaignSpec {
    CampaignSpec {
        name: "春节请你喝奶茶 Spring Festival treat".into(),
        budget,
        template: CouponTemplate::AmountOff { amount: Money::from_yuan(25) },
        min_spend: Money::ZERO,
        eligibility: Eligibility::default(),
        per_shopper_limit: 1,
        referral_bonus_cap: 3,
        validity,
        pace: IssuancePace::Unlimited,
    }
}

/// The festival's validity: Feb 6 to Feb 23, 2027 (China Standard Time).
pub fn festival_validity() -> Validity {
    Validity::new(FESTIVAL_STARTS_AT, FESTIVAL_ENDS_AT)
        .unwrap_or_else(|error| panic!("demo validity is valid: {error}"))
}

/// Commands that publish both menus (tea: catalog 1, coffee: catalog 2).
pub fn menu_commands() -> Vec<Command> {
    vec![
        Command::PublishCatalog { catalog: Arc::new(tea_menu()) },
        Command::PublishCatalog { catalog: Arc::new(coffee_menu()) },
    ]
}

/// Registers tea outlet `mer_<id>` (the tea menu), with its own capacity.
pub fn tea_outlet(id: u64, capacity: Capacity) -> Command {
    outlet(id, format!("茶颜 Tea House #{id}"), 1, capacity)
}

fn outlet(id: u64, name: String, catalog: u64, capacity: Capacity) -> Command {
    let merchant = Merchant::new(MerchantId::new(id), name, CatalogId::new(catalog), capacity)
        .unwrap_or_else(|error| panic!("demo merchant is valid: {error}"));
    Command::RegisterMerchant { merchant }
}

/// Gives each shop a `register_merchant` command registers a place around Wuyi Square,
/// Changsha: a grid of four a row, about 400 m apart, so that a busy demo shop offers the
/// faster ones near it, with how far they are; and a street address, so that agents are
/// offered pickup there.
pub fn located_around_wuyi_square(commands: Vec<Command>) -> Vec<Command> {
    let mut n_shops = 0_i32;
    commands
        .into_iter()
        .map(|command| match command {
            Command::RegisterMerchant { merchant } => {
                let (row, column) = (n_shops / 4, n_shops % 4);
                n_shops += 1;
                // 0.0036 degree of latitude is about 400 m; of longitude here, about 350 m.
                let location = GeoPoint::new(28_195_700 - row * 3_600, 112_972_000 + column * 4_000)
                    .unwrap_or_else(|error| panic!("demo location is valid: {error}"));
                let street_number = 100 + n_shops * 20;
                let address = Address::new(
                    format!("五一大道 {street_number} 号 (Wuyi Avenue {street_number})"),
                    "长沙市 Changsha",
                    "湖南省 Hunan",
                    "CN",
                    "410011",
                )
                .unwrap_or_else(|error| panic!("demo address is valid: {error}"));
                Command::RegisterMerchant { merchant: merchant.with_location(location).with_address(address) }
            }
            other => other,
        })
        .collect()
}

/// Commands that publish both menus and register `n_tea_shops` + `n_coffee_shops` outlets.
pub fn shop_commands(n_tea_shops: u64, n_coffee_shops: u64, capacity: Capacity) -> Vec<Command> {
    let mut commands = menu_commands();
    for index in 0..n_tea_shops {
        commands.push(tea_outlet(1 + index, capacity));
    }
    for index in 0..n_coffee_shops {
        commands.push(outlet(1_000_001 + index, format!("瑞咖 Coffee #{}", index + 1), 2, capacity));
    }
    commands
}

/// Words the benchmark's generated menus are made of: (English, Chinese) flavours and bases.
const BENCH_FLAVOURS: [(&str, &str); 20] = [
    ("Mango", "芒果"),
    ("Peach", "蜜桃"),
    ("Lychee", "荔枝"),
    ("Taro", "芋泥"),
    ("Matcha", "抹茶"),
    ("Brown Sugar", "黑糖"),
    ("Osmanthus", "桂花"),
    ("Grapefruit", "西柚"),
    ("Passion Fruit", "百香果"),
    ("Strawberry", "草莓"),
    ("Coconut", "椰子"),
    ("Red Bean", "红豆"),
    ("Jasmine", "茉莉"),
    ("Oolong", "乌龙"),
    ("Lemon", "柠檬"),
    ("Honey", "蜂蜜"),
    ("Caramel", "焦糖"),
    ("Hazelnut", "榛果"),
    ("Vanilla", "香草"),
    ("Almond", "杏仁"),
];
const BENCH_BASES: [(&str, &str); 10] = [
    ("Milk Tea", "奶茶"),
    ("Green Tea", "绿茶"),
    ("Black Tea", "红茶"),
    ("Smoothie", "冰沙"),
    ("Yogurt", "酸奶"),
    ("Cheese Foam Tea", "芝士奶盖"),
    ("Cold Brew", "冷萃"),
    ("Mocha", "摩卡"),
    ("Cake", "蛋糕"),
    ("Toast", "吐司"),
];
/// Items on each generated shop's menu.
const BENCH_ITEMS_PER_SHOP: usize = 100;

/// The benchmark's catalogs: the demo tea shop (`mer_1`) and coffee shop (`mer_2`), then
/// generated shops of [`BENCH_ITEMS_PER_SHOP`] bilingual items each, until `n_items` items.
/// Each shop sells from its own catalog (catalog id = merchant id).
pub fn bench_catalogs(n_items: usize) -> anyhow::Result<Vec<(MerchantId, String, Catalog)>> {
    let mut shops = vec![
        (MerchantId::new(1), "Lantern Tea 灯笼茶饮".to_string(), tea_menu()),
        (MerchantId::new(2), "Lantern Coffee 灯笼咖啡".to_string(), coffee_menu()),
    ];
    let mut n_items_so_far: usize = shops.iter().map(|(_, _, catalog)| catalog.items().len()).sum();
    let mut shop = 3u64;
    while n_items_so_far < n_items {
        let n_here = BENCH_ITEMS_PER_SHOP.min(n_items - n_items_so_far);
        let items = (0..n_here)
            .map(|index| {
                let (flavour_en, flavour_zh) = BENCH_FLAVOURS[(index + shop as usize) % BENCH_FLAVOURS.len()];
                let (base_en, base_zh) =
                    BENCH_BASES[(index / BENCH_FLAVOURS.len() + shop as usize) % BENCH_BASES.len()];
                let name = format!("{flavour_zh}{base_zh} {flavour_en} {base_en} No.{index}");
                item(index as u64 + 1, &name, base_en, 1000 + (index as i64 % 20) * 100, tea_options(300))
            })
            .collect();
        shops.push((
            MerchantId::new(shop),
            format!("Bench Shop {shop}"),
            Catalog::new(CatalogId::new(shop), items)?,
        ));
        n_items_so_far += n_here;
        shop += 1;
    }
    Ok(shops)
}

/// A lexicon over [`bench_catalogs`]`(n_items)`, the item names (lowercase) for the benchmark's
/// baseline, and how long the lexicon took (ms).
pub fn bench_lexicon(n_items: usize) -> anyhow::Result<(lantern_nlu::Lexicon, Vec<String>, u128)> {
    let started = std::time::Instant::now();
    let mut lexicon = lantern_nlu::Lexicon::new();
    let mut names = Vec::with_capacity(n_items);
    for (merchant, name, catalog) in bench_catalogs(n_items)? {
        names.extend(catalog.items().iter().map(|item| item.name.to_lowercase()));
        let menu = lantern_catalog_io::Menu::new(catalog, Vec::new())?;
        lexicon.upsert_merchant(merchant, &name, &menu);
    }
    lexicon.prepare();
    Ok((lexicon, names, started.elapsed().as_millis()))
}
