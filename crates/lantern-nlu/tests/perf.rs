//! A rough timing of `understand` against a 10,000-item menu, for development only: ignored,
//! never asserted (speed is measured by the benchmark, not by tests).
//! Run: `cargo test --release -p lantern-nlu --test perf -- --ignored --nocapture`.

#![allow(clippy::unwrap_used)]

use std::time::Instant;

use lantern_catalog_io::Menu;
use lantern_core::{
    Catalog, CatalogId, Item, ItemId, ItemOption, MerchantId, Money, OptionGroup, OptionId, OptionKind,
};
use lantern_nlu::{Context, Lexicon, understand};

const FLAVOURS: [(&str, &str); 20] = [
    ("珍珠", "Pearl"),
    ("芒果", "Mango"),
    ("草莓", "Strawberry"),
    ("抹茶", "Matcha"),
    ("焦糖", "Caramel"),
    ("香草", "Vanilla"),
    ("榛果", "Hazelnut"),
    ("椰子", "Coconut"),
    ("荔枝", "Lychee"),
    ("桃子", "Peach"),
    ("葡萄", "Grape"),
    ("柠檬", "Lemon"),
    ("红豆", "Red Bean"),
    ("芋泥", "Taro"),
    ("黑糖", "Brown Sugar"),
    ("乌龙", "Oolong"),
    ("茉莉", "Jasmine"),
    ("蜂蜜", "Honey"),
    ("巧克力", "Chocolate"),
    ("杏仁", "Almond"),
];
const BASES: [(&str, &str); 25] = [
    ("奶茶", "Milk Tea"),
    ("拿铁", "Latte"),
    ("果茶", "Fruit Tea"),
    ("冰沙", "Smoothie"),
    ("奶昔", "Shake"),
    ("蛋糕", "Cake"),
    ("松饼", "Muffin"),
    ("布丁", "Pudding"),
    ("酸奶", "Yogurt"),
    ("气泡水", "Soda"),
    ("冷萃", "Cold Brew"),
    ("摩卡", "Mocha"),
    ("卡布奇诺", "Cappuccino"),
    ("美式", "Americano"),
    ("可可", "Cocoa"),
    ("吐司", "Toast"),
    ("华夫饼", "Waffle"),
    ("可颂", "Croissant"),
    ("贝果", "Bagel"),
    ("司康", "Scone"),
    ("雪糕", "Ice Cream"),
    ("慕斯", "Mousse"),
    ("芝士茶", "Cheese Tea"),
    ("绿茶", "Green Tea"),
    ("红茶", "Black Tea"),
];

fn choice(id: u32, name: &str) -> ItemOption {
    ItemOption { id: OptionId::new(id), name: name.into(), price_delta: Money::ZERO }
}

fn big_menu() -> Menu {
    let mut items = Vec::new();
    for n in 0..10_000u64 {
        let (zh_f, en_f) = FLAVOURS[(n % 20) as usize];
        let (zh_b, en_b) = BASES[((n / 20) % 25) as usize];
        let series = n / 500;
        let name = format!("{zh_f}{zh_b}{series}号 {en_f} {en_b} No{series}");
        items.push(Item {
            id: ItemId::new(n + 1),
            name,
            category: "drinks".into(),
            price: Money::from_fen(1500),
            option_groups: vec![
                OptionGroup {
                    kind: OptionKind::Size,
                    name: "size".into(),
                    choices: vec![choice(1, "中杯 Medium"), choice(2, "大杯 Large")],
                    min_choices: 1,
                    max_choices: 1,
                    default_choice: Some(OptionId::new(1)),
                },
                OptionGroup {
                    kind: OptionKind::Sugar,
                    name: "sugar".into(),
                    choices: vec![
                        choice(3, "全糖 Full sugar"),
                        choice(4, "半糖 Half sugar"),
                        choice(5, "少糖 Less sugar"),
                    ],
                    min_choices: 1,
                    max_choices: 1,
                    default_choice: Some(OptionId::new(3)),
                },
                OptionGroup {
                    kind: OptionKind::Ice,
                    name: "ice".into(),
                    choices: vec![
                        choice(6, "正常冰 Regular ice"),
                        choice(7, "少冰 Less ice"),
                        choice(8, "去冰 No ice"),
                    ],
                    min_choices: 1,
                    max_choices: 1,
                    default_choice: Some(OptionId::new(6)),
                },
                OptionGroup {
                    kind: OptionKind::Topping,
                    name: "toppings".into(),
                    choices: vec![
                        choice(9, "加珍珠 Pearls"),
                        choice(10, "椰果 Coconut jelly"),
                        choice(11, "燕麦奶 Oat milk"),
                    ],
                    min_choices: 0,
                    max_choices: 3,
                    default_choice: None,
                },
            ],
        });
    }
    Menu::new(Catalog::new(CatalogId::new(1), items).unwrap(), Vec::new()).unwrap()
}

#[test]
#[ignore]
fn time_understand_on_ten_thousand_items() {
    let menu = big_menu();
    let mut lexicon = Lexicon::new();
    let started = Instant::now();
    lexicon.upsert_merchant(MerchantId::new(1), "Big Tea", &menu);
    lexicon.prepare();
    println!("index 10,000 items: {} ms", started.elapsed().as_millis());
    let context = Context { merchant: Some(MerchantId::new(1)), ..Context::default() };
    let turns = [
        "two large mango milk tea no3 and a matcha latte no7, less sugar no ice",
        "来两杯大杯珍珠奶茶0号，少糖去冰，再来一个芒果松饼3号",
        "where is my order",
        "a latte",
        "can I get a honey croissant no 4 with oat milk",
        "谢谢，再见",
        "what's the weather like in beijing tomorrow",
        "一杯芋泥奶茶5号加珍珠，还有两杯乌龙绿茶2号，半糖",
    ];
    let mut nanos: Vec<u128> = Vec::new();
    let started = Instant::now();
    for round in 0..2_000 {
        for turn in &turns {
            let one = Instant::now();
            let understanding = understand(&lexicon, &context, turn);
            nanos.push(one.elapsed().as_nanos());
            if round == 0 {
                println!(
                    "{turn} -> {:?} {} lines, {} unsure",
                    understanding.intent,
                    understanding.lines.len(),
                    understanding.unsure.len()
                );
            }
        }
    }
    let total = started.elapsed();
    nanos.sort_unstable();
    let at = |per_mille: usize| nanos[(nanos.len() * per_mille / 1000).min(nanos.len() - 1)] / 1000;
    println!(
        "{} turns in {} ms: {} turns/s; p50 {} us, p99 {} us, max {} us",
        nanos.len(),
        total.as_millis(),
        (nanos.len() as u128) * 1_000_000 / total.as_micros().max(1),
        at(500),
        at(990),
        nanos[nanos.len() - 1] / 1000
    );
}
