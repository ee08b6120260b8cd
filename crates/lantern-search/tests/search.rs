//! Search over a small bilingual world (a bubble-tea shop and a coffee shop): words in both
//! languages, aliases, typos, options, the merchant filter, incremental updates and odd input.

#![allow(clippy::unwrap_used)]

use lantern_catalog_io::{Menu, parse_csv, parse_json};
use lantern_core::{CatalogId, ItemId, MerchantId, Money};
use lantern_search::{QUERY_CHARS_MAX, SEARCH_HITS_MAX, SearchError, SearchHit, SearchIndex};

const TEA_SHOP: MerchantId = MerchantId::new(1);
const TEA_SHOP_NAME: &str = "茶颜悦色 Sexy Tea (五一广场店)";
const COFFEE_SHOP: MerchantId = MerchantId::new(2);
const COFFEE_SHOP_NAME: &str = "Manner Coffee 静安寺店";

const PEARL_MILK_TEA: ItemId = ItemId::new(1);
const MANGO_SAGO: ItemId = ItemId::new(2);
const OOLONG_MILK_TEA: ItemId = ItemId::new(3);
const LATTE: ItemId = ItemId::new(10);
const CAPPUCCINO: ItemId = ItemId::new(11);
const AMERICANO: ItemId = ItemId::new(12);

const SIZES: &str = r#"{"kind": "size", "name": "杯型 Size", "min_choices": 1, "max_choices": 1, "default_choice": 1,
    "choices": [{"id": 1, "name": "中杯 Medium", "price_delta_fen": 0},
                {"id": 2, "name": "大杯 Large", "price_delta_fen": 300}]}"#;

fn milks(oat_delta_fen: u32) -> String {
    format!(
        r#"{{"kind": "other", "name": "奶 Milk", "min_choices": 1, "max_choices": 1, "default_choice": 5,
            "choices": [{{"id": 5, "name": "全脂奶 Whole milk", "price_delta_fen": 0}},
                        {{"id": 6, "name": "燕麦奶 Oat milk", "price_delta_fen": {oat_delta_fen}}}]}}"#
    )
}

fn tea_menu() -> Menu {
    let json = format!(
        r#"{{"format": "lantern.menu/1", "items": [
        {{"id": 1, "name": "珍珠奶茶 Pearl Milk Tea", "category": "奶茶 Milk Tea", "price_fen": 1500,
          "aliases": ["波霸奶茶", "boba", "bubble tea"],
          "description": "Black tea with fresh milk and brown-sugar pearls, 红茶、鲜奶、黑糖珍珠",
          "option_groups": [{SIZES}, {milks}]}},
        {{"id": 2, "name": "杨枝甘露 Mango Pomelo Sago", "category": "果茶 Fruit Tea", "price_fen": 1800,
          "aliases": ["mango sago"], "description": "Mango, pomelo and sago in coconut milk",
          "option_groups": [{SIZES}]}},
        {{"id": 3, "name": "声声乌龙 Oolong Milk Tea", "category": "奶茶 Milk Tea", "price_fen": 1600,
          "description": "Roasted oolong with milk", "option_groups": [{SIZES}]}}
        ]}}"#,
        milks = milks(300)
    );
    parse_json(CatalogId::new(1), &json).unwrap()
}

fn coffee_menu() -> Menu {
    let json = format!(
        r#"{{"items": [
        {{"id": 10, "name": "拿铁 Latte", "category": "咖啡 Coffee", "price_fen": 2500,
          "aliases": ["caffe latte"], "description": "Espresso with steamed milk",
          "option_groups": [{SIZES}, {milks}]}},
        {{"id": 11, "name": "卡布奇诺 Cappuccino", "category": "咖啡 Coffee", "price_fen": 2500,
          "option_groups": [{SIZES}]}},
        {{"id": 12, "name": "美式咖啡 Americano", "category": "咖啡 Coffee", "price_fen": 2000,
          "aliases": ["black coffee"], "option_groups": [{SIZES}]}}
        ]}}"#,
        milks = milks(400)
    );
    parse_json(CatalogId::new(2), &json).unwrap()
}

fn world() -> SearchIndex {
    let mut index = SearchIndex::new().unwrap();
    index.upsert_menu(TEA_SHOP, TEA_SHOP_NAME, &tea_menu()).unwrap();
    index.upsert_menu(COFFEE_SHOP, COFFEE_SHOP_NAME, &coffee_menu()).unwrap();
    index
}

fn search(index: &SearchIndex, query: &str) -> Vec<SearchHit> {
    index.search(query, None, 10).unwrap_or_else(|error| panic!("{query:?}: {error}"))
}

fn items(hits: &[SearchHit]) -> Vec<ItemId> {
    hits.iter().map(|hit| hit.item).collect()
}

/// The best hit's item, failing with the query and what was found when there is none.
fn best(index: &SearchIndex, query: &str) -> ItemId {
    let hits = search(index, query);
    hits.first().map(|hit| hit.item).unwrap_or_else(|| panic!("{query:?} found nothing"))
}

#[test]
fn english_name_finds_the_item_with_its_merchant_and_price() {
    let index = world();
    let hits = search(&index, "cappuccino");
    let hit = hits.first().unwrap();
    assert_eq!(hit.item, CAPPUCCINO);
    assert_eq!(hit.merchant, COFFEE_SHOP);
    assert_eq!(hit.name, "卡布奇诺 Cappuccino");
    assert_eq!(hit.merchant_name, COFFEE_SHOP_NAME);
    assert_eq!(hit.price, Money::from_fen(2500));
    assert!(hit.score_milli > 0);
    assert_eq!(best(&index, "Americano"), AMERICANO, "case does not matter");
    assert_eq!(best(&index, "mango pomelo"), MANGO_SAGO);
}

#[test]
fn chinese_words_find_items() {
    let index = world();
    assert_eq!(best(&index, "珍珠奶茶"), PEARL_MILK_TEA);
    assert_eq!(best(&index, "拿铁"), LATTE);
    assert_eq!(best(&index, "杨枝甘露"), MANGO_SAGO);

    let milk_teas = items(&search(&index, "奶茶"));
    assert!(milk_teas.contains(&PEARL_MILK_TEA), "{milk_teas:?}");
    assert!(milk_teas.contains(&OOLONG_MILK_TEA), "{milk_teas:?}");
    assert!(!milk_teas.contains(&MANGO_SAGO), "a fruit tea is not a milk tea: {milk_teas:?}");
    assert!(!milk_teas.contains(&LATTE), "{milk_teas:?}");
}

#[test]
fn partial_and_misspelt_chinese_still_finds_the_item() {
    let index = world();
    assert_eq!(best(&index, "珍珠"), PEARL_MILK_TEA);
    // 株 for 珠: a typo a pinyin keyboard makes (both zhū).
    assert_eq!(best(&index, "珍株奶茶"), PEARL_MILK_TEA);
    assert_eq!(best(&index, "乌龙"), OOLONG_MILK_TEA);
    // Mixed scripts in one query.
    assert_eq!(best(&index, "珍珠 milk tea"), PEARL_MILK_TEA);
}

#[test]
fn aliases_find_items() {
    let index = world();
    assert_eq!(best(&index, "boba"), PEARL_MILK_TEA);
    assert_eq!(best(&index, "波霸"), PEARL_MILK_TEA);
    assert_eq!(best(&index, "black coffee"), AMERICANO);
}

#[test]
fn typos_find_what_was_meant() {
    let index = world();
    assert_eq!(best(&index, "lattee"), LATTE);
    assert_eq!(best(&index, "capuccino"), CAPPUCCINO);
    assert_eq!(best(&index, "cappucino"), CAPPUCCINO);
    assert_eq!(best(&index, "americnao"), AMERICANO, "a transposition is one edit");
    assert_eq!(best(&index, "oolnog"), OOLONG_MILK_TEA);
}

#[test]
fn an_unrelated_word_finds_nothing() {
    let index = world();
    assert_eq!(search(&index, "pizza"), []);
    assert_eq!(search(&index, "汉堡"), []);
}

#[test]
fn options_find_the_items_that_offer_them() {
    let index = world();
    let oat = items(&search(&index, "oat milk"));
    assert!(oat.contains(&PEARL_MILK_TEA), "{oat:?}");
    assert!(oat.contains(&LATTE), "{oat:?}");
    assert!(!oat.contains(&CAPPUCCINO), "no oat milk on a cappuccino: {oat:?}");
    assert!(!oat.contains(&AMERICANO), "{oat:?}");

    let mut oat = items(&search(&index, "oat"));
    oat.sort();
    assert_eq!(oat, [PEARL_MILK_TEA, LATTE], "only the options say oat");

    let oat = items(&search(&index, "燕麦奶"));
    assert!(oat.contains(&LATTE), "{oat:?}");
    assert!(!oat.contains(&CAPPUCCINO), "{oat:?}");
}

#[test]
fn the_merchant_filter_keeps_one_shop_and_its_scores() {
    let index = world();
    let everywhere = search(&index, "milk");
    assert!(everywhere.iter().any(|hit| hit.merchant == TEA_SHOP), "{everywhere:?}");
    assert!(everywhere.iter().any(|hit| hit.merchant == COFFEE_SHOP), "{everywhere:?}");

    let coffee = index.search("milk", Some(COFFEE_SHOP), 10).unwrap();
    assert!(!coffee.is_empty());
    assert!(coffee.iter().all(|hit| hit.merchant == COFFEE_SHOP), "{coffee:?}");
    assert!(items(&coffee).contains(&LATTE));
    // Filtering changes which hits come back, not how each one scores.
    let latte_everywhere = everywhere.iter().find(|hit| hit.item == LATTE).unwrap();
    let latte_here = coffee.iter().find(|hit| hit.item == LATTE).unwrap();
    assert_eq!(latte_here.score_milli, latte_everywhere.score_milli);

    let tea = index.search("cappuccino", Some(TEA_SHOP), 10).unwrap();
    assert!(tea.iter().all(|hit| hit.merchant == TEA_SHOP), "{tea:?}");
    assert!(!items(&tea).contains(&CAPPUCCINO));
    assert_eq!(index.search("latte", Some(MerchantId::new(99)), 10).unwrap(), []);
}

#[test]
fn the_merchant_name_is_searchable() {
    let index = world();
    let hits = search(&index, "Manner");
    // The shop's three items first; others may follow on shared letters ("man" in "mango").
    assert!(hits.len() >= 3, "{hits:?}");
    assert!(hits[..3].iter().all(|hit| hit.merchant == COFFEE_SHOP), "{hits:?}");
}

#[test]
fn hits_are_best_first_and_limited() {
    let index = world();
    let hits = search(&index, "milk tea latte coffee");
    assert!(hits.len() > 2, "{hits:?}");
    assert!(hits.windows(2).all(|pair| pair[0].score_milli >= pair[1].score_milli), "{hits:?}");
    let two: Vec<u32> =
        index.search("milk tea latte coffee", None, 2).unwrap().iter().map(|hit| hit.score_milli).collect();
    assert_eq!(two, [hits[0].score_milli, hits[1].score_milli]);
    assert_eq!(index.search("latte", None, 0).unwrap(), []);
    assert!(index.search("milk tea latte coffee", None, usize::MAX).unwrap().len() <= SEARCH_HITS_MAX);
}

#[test]
fn upsert_replaces_one_merchants_items_only() {
    let mut index = world();
    assert_eq!(index.item_count(), 6);
    // The tea shop drops the mango drink, renames the oolong and adds a new drink.
    let changed = parse_json(
        CatalogId::new(1),
        r#"{"items": [
        {"id": 1, "name": "珍珠奶茶 Pearl Milk Tea", "category": "奶茶 Milk Tea", "price_fen": 1700},
        {"id": 3, "name": "桂花乌龙 Osmanthus Oolong", "category": "奶茶 Milk Tea", "price_fen": 1600},
        {"id": 4, "name": "黑糖波波 Brown Sugar Boba", "category": "奶茶 Milk Tea", "price_fen": 1900},
        {"id": 5, "name": "柠檬茶 Lemon Tea", "category": "果茶 Fruit Tea", "price_fen": 1200}
        ]}"#,
    )
    .unwrap();
    index.upsert_menu(TEA_SHOP, TEA_SHOP_NAME, &changed).unwrap();
    assert_eq!(index.item_count(), 7);

    assert_eq!(search(&index, "mango"), [], "the removed item is gone");
    assert_eq!(best(&index, "osmanthus"), OOLONG_MILK_TEA, "the renamed item is found by its new name");
    assert!(!items(&search(&index, "声声")).contains(&OOLONG_MILK_TEA), "and not by its old one");
    assert_eq!(best(&index, "brown sugar"), ItemId::new(4));
    let pearl = search(&index, "珍珠奶茶");
    assert_eq!(pearl.first().map(|hit| hit.price), Some(Money::from_fen(1700)), "the new price");
    assert_eq!(pearl.iter().filter(|hit| hit.item == PEARL_MILK_TEA).count(), 1, "no stale copy");

    // The coffee shop is untouched.
    assert_eq!(best(&index, "cappuccino"), CAPPUCCINO);
    assert_eq!(index.search("coffee", Some(COFFEE_SHOP), 10).unwrap().len(), 3);

    // The same menu again changes nothing.
    index.upsert_menu(TEA_SHOP, TEA_SHOP_NAME, &changed).unwrap();
    assert_eq!(index.item_count(), 7);
}

#[test]
fn remove_merchant_removes_its_items_only() {
    let mut index = world();
    index.remove_merchant(TEA_SHOP).unwrap();
    assert_eq!(index.item_count(), 3);
    assert_eq!(search(&index, "珍珠奶茶"), []);
    assert_eq!(best(&index, "latte"), LATTE);
    index.remove_merchant(TEA_SHOP).unwrap();
    index.remove_merchant(MerchantId::new(404)).unwrap();
    assert_eq!(index.item_count(), 3);
    // A removed merchant can come back.
    index.upsert_menu(TEA_SHOP, TEA_SHOP_NAME, &tea_menu()).unwrap();
    assert_eq!(best(&index, "boba"), PEARL_MILK_TEA);
    assert_eq!(index.item_count(), 6);
}

#[test]
fn two_outlets_may_share_a_menu() {
    let mut index = world();
    let outlet = MerchantId::new(3);
    index.upsert_menu(outlet, "Manner Coffee 徐家汇店", &coffee_menu()).unwrap();
    let lattes: Vec<MerchantId> =
        search(&index, "latte").iter().filter(|hit| hit.item == LATTE).map(|hit| hit.merchant).collect();
    assert_eq!(lattes.len(), 2, "{lattes:?}");
    assert!(lattes.contains(&COFFEE_SHOP) && lattes.contains(&outlet));
    let here = index.search("latte", Some(outlet), 10).unwrap();
    assert_eq!(here.first().map(|hit| hit.merchant_name.as_str()), Some("Manner Coffee 徐家汇店"));
}

#[test]
fn a_csv_menu_is_indexed_like_a_json_one() {
    let mut index = SearchIndex::new().unwrap();
    let csv = "item_id,name,category,price_fen,aliases,description\n\
               20,生椰拿铁 Coconut Latte,咖啡 Coffee,2800,coconut latte|椰子拿铁,Fresh coconut milk latte\n\
               21,冰美式 Iced Americano,咖啡 Coffee,2200,,\n";
    index
        .upsert_menu(MerchantId::new(5), "瑞幸咖啡 Luckin", &parse_csv(CatalogId::new(5), csv).unwrap())
        .unwrap();
    assert_eq!(index.item_count(), 2);
    assert_eq!(best(&index, "椰子"), ItemId::new(20));
    assert_eq!(best(&index, "iced americano"), ItemId::new(21));
}

#[test]
fn a_bad_merchant_name_is_refused_and_changes_nothing() {
    let mut index = world();
    for name in [String::new(), "店".repeat(lantern_search::MERCHANT_NAME_CHARS_MAX + 1)] {
        let error = index.upsert_menu(TEA_SHOP, &name, &coffee_menu()).unwrap_err();
        assert!(matches!(error, SearchError::MerchantName { .. }), "{error}");
    }
    assert_eq!(index.item_count(), 6);
    assert_eq!(best(&index, "boba"), PEARL_MILK_TEA);
}

#[test]
fn odd_queries_find_nothing_or_are_refused_never_panic() {
    let index = world();
    for query in ["", "   ", "!!!", "🧋🧋🧋", "\0", "\u{200b}", "。，、", "()[]{}*:~^\"+-", "a"] {
        assert_eq!(index.search(query, None, 10).unwrap(), [], "{query:?}");
    }
    // Query-language syntax is plain text here: it neither errors nor means anything.
    for query in ["name:latte", "latte~2", "\"latte", "latte AND", "(latte", "latte^10", "*latte*"] {
        assert_eq!(best(&index, query), LATTE, "{query:?}");
    }
    let at_limit = "茶".repeat(QUERY_CHARS_MAX);
    assert!(index.search(&at_limit, None, 10).is_ok());
    let error = index.search(&format!("{at_limit}x"), None, 10).unwrap_err();
    assert!(matches!(error, SearchError::QueryTooLong), "{error}");
    assert!(error.to_string().contains(&QUERY_CHARS_MAX.to_string()), "{error}");
    assert!(index.search(&"x".repeat(10_000_000), None, 10).is_err());
}

/// Pseudo-random strings from a palette of awkward characters: Latin, CJK, digits, combining
/// marks, emoji (also with joiners), right-to-left text, controls and query-language syntax.
#[test]
fn fuzzed_queries_never_panic() {
    const PALETTE: &[&str] = &[
        "a",
        "Z",
        "é",
        "e\u{301}",
        "ß",
        "İ",
        "茶",
        "奶",
        "珍",
        "拿铁",
        "7",
        "٣",
        "🧋",
        "👩\u{200d}🍳",
        "\u{fe0f}",
        "ש",
        "\u{202e}",
        "\0",
        "\t",
        "\n",
        " ",
        "\u{3000}",
        "-",
        "*",
        ":",
        "\"",
        "\\",
        "(",
        ")",
        "~",
        "^",
        "〜",
        "ｌａｔｔｅ",
        "latte",
        "milk",
        "'; DROP TABLE items; --",
    ];
    let index = world();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        usize::try_from(state % 1_000_000).unwrap()
    };
    for _ in 0..400 {
        let pieces = next() % 40;
        let query: String = (0..pieces).map(|_| PALETTE[next() % PALETTE.len()]).collect();
        let merchant = [None, Some(TEA_SHOP), Some(MerchantId::new(u64::MAX))][next() % 3];
        match index.search(&query, merchant, next() % 60) {
            Ok(hits) => assert!(hits.len() <= SEARCH_HITS_MAX),
            Err(error) => assert!(matches!(error, SearchError::QueryTooLong), "{query:?}: {error}"),
        }
    }
}

#[test]
fn the_index_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<SearchIndex>();
    let index = world();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| assert_eq!(best(&index, "boba"), PEARL_MILK_TEA));
        }
    });
}

#[test]
fn many_shops_go_in_one_update_or_none_do() {
    let mut index = world();
    let (tea, coffee) = (tea_menu(), coffee_menu());
    let outlets: Vec<(MerchantId, String)> =
        (10..40).map(|n| (MerchantId::new(n), format!("Manner Coffee #{n}"))).collect();
    let shops = outlets.iter().map(|(merchant, name)| (*merchant, name.as_str(), &coffee));
    index.upsert_menus(shops.chain([(TEA_SHOP, TEA_SHOP_NAME, &tea)])).unwrap();
    assert_eq!(index.item_count(), 6 + 30 * 3, "the tea shop replaced, not doubled");
    assert_eq!(index.search("latte", Some(MerchantId::new(39)), 10).unwrap().len(), 1);

    // A bad name anywhere in the batch leaves the index as it was, the good shops before it
    // included.
    let too_long = "店".repeat(lantern_search::MERCHANT_NAME_CHARS_MAX + 1);
    let refused = index
        .upsert_menus([(MerchantId::new(50), "Fine", &tea), (MerchantId::new(51), too_long.as_str(), &tea)]);
    assert!(matches!(refused, Err(SearchError::MerchantName { .. })), "{refused:?}");
    assert_eq!(index.item_count(), 6 + 30 * 3);
    assert_eq!(index.search("boba", Some(MerchantId::new(50)), 10).unwrap(), []);
    // And the next update does not carry the dropped shop along.
    index.upsert_menu(MerchantId::new(52), "Next", &coffee).unwrap();
    assert_eq!(index.search("boba", Some(MerchantId::new(50)), 10).unwrap(), []);
    assert_eq!(index.item_count(), 6 + 31 * 3);
}
