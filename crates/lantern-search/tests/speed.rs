//! How long a search takes over 10,000 items (100 shops of 100 items). Measured, never asserted:
//! run it in release, where the figure means something:
//!
//! ```text
//! cargo test --release -p lantern-search --test speed -- --ignored --nocapture
//! ```

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use lantern_catalog_io::parse_json;
use lantern_core::{CatalogId, MerchantId};
use lantern_search::SearchIndex;

const SHOPS: u64 = 100;
const ITEMS_PER_SHOP: u64 = 100;
const ROUNDS: u32 = 200;

const FLAVOURS: &[(&str, &str)] = &[
    ("珍珠", "Pearl"),
    ("芒果", "Mango"),
    ("草莓", "Strawberry"),
    ("抹茶", "Matcha"),
    ("芋泥", "Taro"),
    ("黑糖", "Brown Sugar"),
    ("椰子", "Coconut"),
    ("桂花", "Osmanthus"),
    ("柠檬", "Lemon"),
    ("焦糖", "Caramel"),
];
const BASES: &[(&str, &str)] = &[
    ("奶茶", "Milk Tea"),
    ("拿铁", "Latte"),
    ("果茶", "Fruit Tea"),
    ("乌龙", "Oolong"),
    ("冰沙", "Smoothie"),
    ("卡布奇诺", "Cappuccino"),
    ("美式", "Americano"),
    ("酸奶", "Yogurt"),
    ("绿茶", "Green Tea"),
    ("可可", "Cocoa"),
];

fn shop_menu(shop: u64) -> String {
    let items: Vec<String> = (0..ITEMS_PER_SHOP)
        .map(|n| {
            let (flavour_zh, flavour_en) = FLAVOURS[usize::try_from((n + shop) % 10).unwrap()];
            let (base_zh, base_en) = BASES[usize::try_from(n / 10).unwrap()];
            format!(
                r#"{{"id": {n}, "name": "{flavour_zh}{base_zh} {flavour_en} {base_en}", "category": "{base_zh} {base_en}",
                  "price_fen": {price}, "aliases": ["{flavour_en} {base_en} No. {n}"],
                  "description": "House {flavour_en} {base_en} made fresh, 店内现做",
                  "option_groups": [{{"kind": "other", "name": "奶 Milk", "min_choices": 1, "max_choices": 1,
                    "choices": [{{"id": 1, "name": "全脂奶 Whole milk", "price_delta_fen": 0}},
                                {{"id": 2, "name": "燕麦奶 Oat milk", "price_delta_fen": 300}}]}}]}}"#,
                price = 1000 + n * 10
            )
        })
        .collect();
    format!(r#"{{"items": [{}]}}"#, items.join(","))
}

#[test]
#[ignore = "a measurement; run in release with --ignored --nocapture"]
fn search_over_ten_thousand_items() {
    let mut index = SearchIndex::new().unwrap();
    let started = Instant::now();
    for shop in 0..SHOPS {
        let menu = parse_json(CatalogId::new(shop), &shop_menu(shop)).unwrap();
        index.upsert_menu(MerchantId::new(shop), &format!("Shop {shop} 第{shop}号店"), &menu).unwrap();
    }
    println!("indexed {} items in {:?} ({SHOPS} upserts): {index:?}", index.item_count(), started.elapsed());
    assert_eq!(index.item_count(), SHOPS * ITEMS_PER_SHOP);

    let started = Instant::now();
    let menu = parse_json(CatalogId::new(7), &shop_menu(8)).unwrap();
    index.upsert_menu(MerchantId::new(7), "Shop 7 changed", &menu).unwrap();
    println!("one 100-item menu change: {:?}: {index:?}", started.elapsed());

    let queries = [
        "珍珠奶茶",
        "lattee",
        "oat milk",
        "capuccino",
        "芒果冰沙",
        "strawbery smoothie large",
        "strawbery",
        "boba",
    ];
    for query in queries {
        for merchant in [None, Some(MerchantId::new(42))] {
            let mut slowest = Duration::ZERO;
            let mut hits = 0;
            let started = Instant::now();
            for _ in 0..ROUNDS {
                let one = Instant::now();
                hits = index.search(query, merchant, 10).unwrap().len();
                slowest = slowest.max(one.elapsed());
            }
            println!(
                "{query:>26} merchant {merchant:>20?}: {hits:>2} hits, mean {:>9?}, slowest {slowest:>9?}",
                started.elapsed() / ROUNDS
            );
        }
    }
}
