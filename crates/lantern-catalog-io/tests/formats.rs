//! The documented examples, round trips, every error with its location, and fuzzing.

use lantern_catalog_io::{
    ALIAS_CHARS_MAX, ALIASES_PER_ITEM_MAX, DESCRIPTION_CHARS_MAX, FORMAT_NAME, FormatError, INPUT_BYTES_MAX,
    ItemExtras, Menu, parse_csv, parse_json, to_json,
};
use lantern_core::{
    Catalog, CatalogError, CatalogId, ITEM_PRICE_MAX, Item, ItemId, ItemOption, Money, OptionGroup, OptionId,
    OptionKind,
};
use proptest::prelude::*;

const CATALOG: CatalogId = CatalogId::new(7);
const FORMAT_MD: &str = include_str!("../FORMAT.md");

/// The body of the first fenced block of `language` in FORMAT.md.
fn documented(language: &str) -> &'static str {
    let fence = format!("```{language}\n");
    let start = FORMAT_MD.find(&fence).map(|index| index + fence.len()).unwrap_or_default();
    let length = FORMAT_MD[start..].find("```").unwrap_or_default();
    &FORMAT_MD[start..start + length]
}

fn json_menu() -> Menu {
    parse_json(CATALOG, documented("json")).unwrap_or_else(|error| panic!("{error}"))
}

fn json_error(input: &str) -> FormatError {
    parse_json(CATALOG, input).err().unwrap_or_else(|| panic!("{input} was accepted"))
}

fn csv_error(input: &str) -> FormatError {
    parse_csv(CATALOG, input).err().unwrap_or_else(|| panic!("{input} was accepted"))
}

/// A minimal JSON menu with `items` spliced in.
fn json_items(items: &str) -> String {
    format!(r#"{{"items": [{items}]}}"#)
}

const TEA: &str = r#"{"id": 1, "name": "奶茶 Milk Tea", "category": "tea", "price_fen": 1200}"#;

#[test]
fn documented_examples_parse_to_the_same_menu() {
    let from_json = json_menu();
    let from_csv = parse_csv(CATALOG, documented("csv")).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(from_json, from_csv);

    let catalog = from_json.catalog();
    assert_eq!(catalog.id(), CATALOG);
    assert_eq!(catalog.items().len(), 3);
    let pearl = catalog.item(ItemId::new(1)).unwrap_or_else(|| panic!("item 1 missing"));
    assert_eq!(pearl.name, "珍珠奶茶 Pearl Milk Tea");
    assert_eq!(pearl.price, Money::from_fen(1500));
    let kinds: Vec<OptionKind> = pearl.option_groups.iter().map(|group| group.kind).collect();
    assert_eq!(kinds, [OptionKind::Size, OptionKind::Sugar, OptionKind::Ice, OptionKind::Topping]);
    let size = &pearl.option_groups[0];
    assert_eq!(size.default_choice, Some(OptionId::new(1)));
    assert_eq!(size.choices[1].name, "大杯 Large");
    assert_eq!(size.choices[1].price_delta, Money::from_fen(300));
    assert_eq!(pearl.option_groups[1].choices[2].name, "少糖 Less sugar");
    assert_eq!((pearl.option_groups[3].min_choices, pearl.option_groups[3].max_choices), (0, 3));
    assert_eq!(pearl.option_groups[3].default_choice, None);
    let mango = catalog.item(ItemId::new(2)).unwrap_or_else(|| panic!("item 2 missing"));
    assert_eq!(mango.option_groups[2].choices[0].price_delta, Money::from_fen(-100));

    let extras = from_json.extras_of(ItemId::new(1)).unwrap_or_else(|| panic!("extras of item 1 missing"));
    assert_eq!(extras.aliases, ["波霸奶茶", "boba milk tea", "bubble tea"]);
    assert!(extras.description.contains("红茶、鲜奶、黑糖珍珠"));
    let lemonade = from_json.extras_of(ItemId::new(3)).unwrap_or_else(|| panic!("extras of item 3 missing"));
    assert_eq!(lemonade.aliases, ["冰鲜柠檬水"]);
    assert_eq!(lemonade.description, "");
    let ids: Vec<ItemId> = from_json.extras().iter().map(|extras| extras.item).collect();
    assert_eq!(ids, [ItemId::new(1), ItemId::new(2), ItemId::new(3)]);
}

#[test]
fn json_round_trips() {
    let menu = json_menu();
    let printed = to_json(&menu);
    assert!(printed.contains(FORMAT_NAME));
    assert_eq!(parse_json(CATALOG, &printed), Ok(menu.clone()));
    // Printing is a function of the menu: what was read back prints the same.
    let again = parse_json(CATALOG, &printed).map(|menu| to_json(&menu));
    assert_eq!(again, Ok(printed));
}

#[test]
fn optional_fields_may_be_left_out() {
    let menu = parse_json(CATALOG, &json_items(TEA)).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(menu.extras(), [ItemExtras::empty(ItemId::new(1))]);
    assert!(menu.catalog().items()[0].option_groups.is_empty());
}

#[test]
fn too_large_input_is_refused_before_parsing() {
    let input = " ".repeat(INPUT_BYTES_MAX + 1);
    for error in [json_error(&input), csv_error(&input)] {
        assert_eq!(error, FormatError::TooLarge { length_bytes: INPUT_BYTES_MAX + 1 });
        assert_eq!(error.location(), None);
        assert_eq!(error.code(), "catalog_too_large");
    }
}

#[test]
fn json_syntax_errors_give_line_and_column() {
    let error = json_error("{\n  \"items\": [\n    {\"id\": 1 \"name\": \"x\"}\n  ]\n}");
    assert!(matches!(error, FormatError::Json { line: 3, .. }), "{error:?}");
    assert_eq!(error.code(), "catalog_json_invalid");
    assert!(error.location().is_some_and(|location| location.starts_with("line 3, column ")), "{error:?}");
    // The position is said once, not repeated by serde_json's own message.
    assert_eq!(error.to_string().matches("line 3").count(), 1, "{error}");
}

#[test]
fn unknown_json_fields_are_refused_by_name() {
    let input = "{\"items\": [\n{\"id\": 1, \"name\": \"tea\", \"category\": \"tea\", \"pirce_fen\": 1200}]}";
    let error = json_error(input);
    assert!(matches!(error, FormatError::Json { line: 2, .. }), "{error:?}");
    assert!(error.to_string().contains("unknown field `pirce_fen`"), "{error}");
    let error = json_error(r#"{"items": [], "merchant": 3}"#);
    assert!(error.to_string().contains("`merchant`"), "{error}");
}

#[test]
fn fractional_prices_say_to_use_fen() {
    let item = TEA.replace("1200", "15.5");
    let error = json_error(&json_items(&item));
    let message = error.to_string();
    assert!(message.contains("15.5") && message.contains("1550") && message.contains("fen"), "{message}");
    assert_eq!(error.code(), "catalog_json_invalid");

    let error = csv_error("item_id,name,category,price_fen\n1,tea,tea,15.5\n");
    assert_eq!(error.location().as_deref(), Some("line 2, column price_fen"));
    assert_eq!(error.code(), "catalog_bad_value");
    assert!(error.to_string().contains("1550"), "{error}");
}

#[test]
fn json_values_of_the_wrong_shape_say_what_is_expected() {
    let cases = [
        (TEA.replace("\"id\": 1", "\"id\": \"itm_1\""), "an item id"),
        (TEA.replace("\"id\": 1", "\"id\": -1"), "negative"),
        (TEA.replace("1200", "\"12 yuan\""), "whole number of fen"),
        (
            TEA.replace(
                "1200",
                r#"1200, "option_groups": [{"kind": "sizes", "name": "s", "min_choices": 1, "max_choices": 1, "choices": []}]"#,
            ),
            "size, sugar, ice, topping or other",
        ),
        (
            TEA.replace(
                "1200",
                r#"1200, "option_groups": [{"kind": "size", "name": "s", "min_choices": 1, "max_choices": 300, "choices": []}]"#,
            ),
            "0 to 255",
        ),
    ];
    for (item, expected) in cases {
        let error = json_error(&json_items(&item));
        assert!(error.to_string().contains(expected), "{expected:?} not in {error}");
    }
}

#[test]
fn wrong_format_version_is_refused() {
    let error = json_error(r#"{"format": "lantern.menu/2", "items": []}"#);
    assert_eq!(error.location().as_deref(), Some("format"));
    assert_eq!(error.code(), "catalog_bad_value");
}

#[test]
fn core_catalog_errors_are_wrapped_with_their_json_path() {
    let menu = documented("json");
    let cases = [
        (menu.replace("\"price_fen\": 1800", "\"price_fen\": -1"), Some("items[1].price_fen"), "Price"),
        (menu.replace("\"id\": 3,", "\"id\": 2,"), Some("items[2]"), "DuplicateItem"),
        (
            menu.replace("\"default_choice\": 4", "\"default_choice\": 99"),
            Some("items[1].option_groups[1]"),
            "GroupBounds",
        ),
        (
            menu.replace("\"price_delta_fen\": -100", "\"price_delta_fen\": -10000001"),
            Some("items[1].option_groups[2].choices[0].price_delta_fen"),
            "OptionDelta",
        ),
        (
            menu.replace("\"id\": 20", "\"id\": 4"),
            Some("items[1].option_groups[2].choices[0]"),
            "DuplicateOption",
        ),
        (
            menu.replace("\"category\": \"奶茶 Milk Tea\"", "\"category\": \"\""),
            Some("items[0].category"),
            "Name",
        ),
        (r#"{"items": []}"#.to_owned(), None, "ItemCount"),
    ];
    for (input, location, kind) in cases {
        let error = json_error(&input);
        let FormatError::Catalog { error: ref core, .. } = error else { panic!("{kind}: {error:?}") };
        assert!(format!("{core:?}").starts_with(kind), "{kind}: {core:?}");
        assert_eq!(error.location().as_deref(), location, "{kind}");
        assert_eq!(error.code(), "catalog_invalid");
        // Wrapped, not re-described: lantern-core's message appears as it is.
        assert!(error.to_string().contains(&core.to_string()), "{error}");
    }
}

#[test]
fn extras_are_bounded() {
    let with = |extras: &str| TEA.replace("1200", &format!("1200, {extras}"));
    let long_alias = "字".repeat(ALIAS_CHARS_MAX + 1);
    let many_aliases: Vec<String> = (0..=ALIASES_PER_ITEM_MAX).map(|index| format!("\"a{index}\"")).collect();
    let long_description = "字".repeat(DESCRIPTION_CHARS_MAX + 1);
    let cases = [
        (with(r#""aliases": ["boba", " "]"#), "items[0].aliases[1]", "empty"),
        (with(&format!(r#""aliases": ["{long_alias}"]"#)), "items[0].aliases[0]", "101 characters"),
        (with(r#""aliases": ["boba", "boba"]"#), "items[0].aliases[1]", "twice"),
        (with(&format!(r#""aliases": [{}]"#, many_aliases.join(","))), "items[0].aliases", "33 aliases"),
        (with(&format!(r#""description": "{long_description}""#)), "items[0].description", "2001 characters"),
    ];
    for (item, location, problem) in cases {
        let error = json_error(&json_items(&item));
        assert_eq!(error.location().as_deref(), Some(location), "{error}");
        assert_eq!(error.code(), "catalog_bad_extras");
        assert!(error.to_string().contains(problem), "{problem:?} not in {error}");
    }
}

const HEADER: &str = "item_id,name,category,price_fen,group_kind,group_name,min_choices,max_choices,choice_id,choice_name,price_delta_fen,default";

fn csv(rows: &[&str]) -> String {
    let mut text = HEADER.to_owned();
    for row in rows {
        text.push('\n');
        text.push_str(row);
    }
    text
}

#[test]
fn csv_header_errors_name_the_column() {
    let error = csv_error("item_id,name,category,pirce_fen\n1,tea,tea,1200");
    assert_eq!(error, FormatError::UnknownColumn { line: 1, column: "pirce_fen".into() });
    assert_eq!(error.location().as_deref(), Some("line 1, column pirce_fen"));
    assert_eq!(error.code(), "catalog_csv_unknown_column");

    let error = csv_error("item_id,name,category,price_fen,name\n1,tea,tea,1200,tea");
    assert_eq!(error, FormatError::DuplicateColumn { line: 1, column: "name".into() });
    assert_eq!(error.code(), "catalog_csv_duplicate_column");

    let error = csv_error("item_id,name,category\n1,tea,tea");
    assert_eq!(error, FormatError::MissingColumn { line: 1, column: "price_fen" });
    assert_eq!(error.code(), "catalog_csv_missing_column");

    let error = csv_error("item_id,name,category,price_fen,group_name\n1,tea,tea,1200,size");
    assert_eq!(error, FormatError::MissingColumn { line: 1, column: "group_kind" });

    assert_eq!(csv_error(""), FormatError::MissingColumn { line: 1, column: "item_id" });
}

#[test]
fn csv_cell_errors_give_line_and_column() {
    let cases: [(&[&str], &str, &str); 8] = [
        (&["1,,tea,1200,,,,,,,,"], "line 2, column name", "catalog_missing_value"),
        (&["x1,tea,tea,1200,,,,,,,,"], "line 2, column item_id", "catalog_bad_value"),
        (&["1,tea,tea,1200,sizes,杯型,1,1,1,中杯,0,yes"], "line 2, column group_kind", "catalog_bad_value"),
        (&["1,tea,tea,1200,size,杯型,one,1,1,中杯,0,yes"], "line 2, column min_choices", "catalog_bad_value"),
        (&["1,tea,tea,1200,size,杯型,1,1,1,中杯,0,maybe"], "line 2, column default", "catalog_bad_value"),
        (&["1,tea,tea,1200,size,杯型,1,1,,中杯,0,"], "line 2, column choice_id", "catalog_missing_value"),
        (&["1,tea,tea,1200,size,,1,1,1,中杯,0,"], "line 2, column group_name", "catalog_missing_value"),
        (
            &["1,tea,tea,1200,size,杯型,1,1,1,中杯,3元,"],
            "line 2, column price_delta_fen",
            "catalog_bad_value",
        ),
    ];
    for (rows, location, code) in cases {
        let error = csv_error(&csv(rows));
        assert_eq!(error.location().as_deref(), Some(location), "{error}");
        assert_eq!(error.code(), code, "{error}");
    }
}

#[test]
fn csv_rows_that_disagree_are_refused() {
    let first = "1,tea,tea,1200,size,杯型,1,1,1,中杯,0,yes";
    let cases: [(&[&str], &str, &str); 6] = [
        (
            &[first, "1,tea,tea,1300,,杯型,,,2,大杯,300,"],
            "line 3, column price_fen",
            "\"1300\" here but \"1200\" on line 2",
        ),
        (&[first, "1,,,,size,杯型,1,2,2,大杯,300,"], "line 3, column max_choices", "on line 2"),
        (
            &[first, "1,,,,,杯型,,,2,大杯,300,yes"],
            "line 3, column default",
            "already has its default on line 2",
        ),
        (
            &[first, "2,milk,tea,900,,,,,,,,", "1,,,,,杯型,,,2,大杯,300,"],
            "line 4, column item_id",
            "already appeared on line 2",
        ),
        (
            &[first, "1,,,,sugar,甜度,1,1,3,少糖,0,", "1,,,,,杯型,,,2,大杯,300,"],
            "line 4, column group_name",
            "already has rows from line 2",
        ),
        (
            &["1,tea,tea,1200,,,,,,,,", "1,,,,size,杯型,1,1,1,中杯,0,"],
            "line 3, column group_name",
            "single row",
        ),
    ];
    for (rows, location, problem) in cases {
        let error = csv_error(&csv(rows));
        assert_eq!(error.location().as_deref(), Some(location), "{error}");
        assert_eq!(error.code(), "catalog_csv_rows_disagree");
        assert!(error.to_string().contains(problem), "{problem:?} not in {error}");
    }
    let error = csv_error("item_id,name,category,price_fen,\n1,tea,tea,1200,surprise");
    assert_eq!(error.code(), "catalog_csv_rows_disagree");
    assert_eq!(error.location().as_deref(), Some("line 2"));
}

#[test]
fn core_catalog_errors_are_wrapped_with_their_csv_line() {
    let error = csv_error(&csv(&["1,tea,tea,1200,size,杯型,1,1,1,中杯,0,", "1,,,,,杯型,,,1,大杯,300,"]));
    assert_eq!(error.location().as_deref(), Some("line 3"), "{error}");
    assert!(matches!(error, FormatError::Catalog { error: CatalogError::DuplicateOption { .. }, .. }));

    let error = csv_error(&csv(&["1,tea,tea,1200,,,,,,,,", "2,milk,tea,-5,,,,,,,,"]));
    assert_eq!(error.location().as_deref(), Some("line 3, column price_fen"), "{error}");

    let error = csv_error(&csv(&["1,tea,tea,1200,size,杯型,1,2,1,中杯,0,"]));
    assert_eq!(error.location().as_deref(), Some("line 2"), "{error}");
    assert!(matches!(error, FormatError::Catalog { error: CatalogError::GroupBounds { .. }, .. }));

    let error = csv_error(HEADER);
    assert_eq!(error, FormatError::Catalog { location: None, error: CatalogError::ItemCount(0) });
}

#[test]
fn csv_is_forgiving_where_spreadsheets_differ() {
    let input = "\u{feff}Item_ID , NAME,category,price_fen,aliases,,\n\
                 itm_3 , 柠檬水 Lemonade ,果茶 Fruit Tea, 600 , 冰鲜柠檬水 | | lemon water ,,\n\
                 ,,,,,,\n";
    let menu = parse_csv(CATALOG, input).unwrap_or_else(|error| panic!("{error}"));
    let item = &menu.catalog().items()[0];
    assert_eq!(
        (item.id, item.name.as_str(), item.price),
        (ItemId::new(3), "柠檬水 Lemonade", Money::from_fen(600))
    );
    assert_eq!(menu.extras()[0].aliases, ["冰鲜柠檬水", "lemon water"]);
}

#[test]
fn every_error_has_a_distinct_code() {
    let errors = [
        FormatError::TooLarge { length_bytes: 0 },
        FormatError::Json { line: 1, column: 1, message: String::new() },
        FormatError::Csv { line: 1, message: String::new() },
        FormatError::UnknownColumn { line: 1, column: String::new() },
        FormatError::DuplicateColumn { line: 1, column: String::new() },
        FormatError::MissingColumn { line: 1, column: "x" },
        FormatError::MissingValue { location: String::new(), field: "x" },
        FormatError::BadValue { location: String::new(), value: String::new(), expected: "x" },
        FormatError::Rows { location: String::new(), problem: String::new() },
        FormatError::Extras { location: String::new(), problem: String::new() },
        FormatError::Catalog { location: None, error: CatalogError::ItemCount(0) },
    ];
    let mut codes: Vec<&str> = errors.iter().map(FormatError::code).collect();
    assert!(codes.iter().all(|code| code.starts_with("catalog_")));
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), errors.len());
}

#[test]
fn menu_new_pairs_extras_with_items() {
    let (catalog, _) = json_menu().into_parts();
    let boba = ItemExtras { item: ItemId::new(2), aliases: vec!["mango".into()], description: String::new() };
    let menu = Menu::new(catalog.clone(), vec![boba.clone()]).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(
        menu.extras(),
        [ItemExtras::empty(ItemId::new(1)), boba.clone(), ItemExtras::empty(ItemId::new(3))]
    );

    let stranger = ItemExtras::empty(ItemId::new(99));
    let error = Menu::new(catalog.clone(), vec![stranger]).err();
    assert_eq!(error.and_then(|error| error.location()).as_deref(), Some("itm_99"));
    let error = Menu::new(catalog.clone(), vec![boba.clone(), boba]).err();
    assert_eq!(error.map(|error| error.code()), Some("catalog_bad_extras"));
    let blank = ItemExtras { item: ItemId::new(1), aliases: vec![String::new()], description: String::new() };
    let error = Menu::new(catalog, vec![blank]).err();
    assert_eq!(error.and_then(|error| error.location()).as_deref(), Some("itm_1.aliases[0]"));
}

fn any_text(max_chars: usize) -> impl Strategy<Value = String> {
    // Printable text with the characters JSON must escape, Chinese and spaces.
    prop::collection::vec(
        prop_oneof![
            Just('"'),
            Just('\\'),
            Just('\t'),
            Just('\n'),
            Just('珍'),
            Just('珠'),
            Just(' '),
            Just('\u{1F9CB}'),
            prop::char::range('a', 'z')
        ],
        1..=max_chars,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

fn any_group(first_option_id: u32) -> impl Strategy<Value = OptionGroup> {
    let kind = prop::sample::select(vec![
        OptionKind::Size,
        OptionKind::Sugar,
        OptionKind::Ice,
        OptionKind::Topping,
        OptionKind::Other,
    ]);
    let delta_max = ITEM_PRICE_MAX.fen();
    let choices = prop::collection::vec((any_text(12), -delta_max..=delta_max), 1..5);
    (kind, any_text(12), choices, any::<prop::sample::Index>(), any::<prop::sample::Index>(), any::<bool>())
        .prop_map(move |(kind, name, choices, max_index, min_index, has_default)| {
            let max_choices = (max_index.index(choices.len()) + 1) as u8;
            let min_choices = min_index.index(usize::from(max_choices) + 1) as u8;
            let choices: Vec<ItemOption> = (first_option_id..)
                .zip(choices)
                .map(|(id, (name, delta_fen))| ItemOption {
                    id: OptionId::new(id),
                    name,
                    price_delta: Money::from_fen(delta_fen),
                })
                .collect();
            let default_choice = has_default.then(|| choices[choices.len() - 1].id);
            OptionGroup { kind, name, choices, min_choices, max_choices, default_choice }
        })
}

fn any_menu() -> impl Strategy<Value = Menu> {
    let item = (
        any_text(20),
        any_text(8),
        0..=ITEM_PRICE_MAX.fen(),
        prop::collection::vec(any_group(0), 0..3),
        prop::collection::btree_set("[a-z珍珠奶茶]{1,8}", 0..4),
        prop_oneof![Just(String::new()), any_text(60)],
    );
    prop::collection::btree_map(any::<u64>(), item, 1..6).prop_map(|items| {
        let mut extras = Vec::new();
        let items = items
            .into_iter()
            .map(|(raw_id, (name, category, price_fen, mut groups, aliases, description))| {
                let id = ItemId::new(raw_id);
                // Option ids are unique within the item: renumber the groups' choices.
                let mut next_option_id = 1;
                for group in &mut groups {
                    for choice in &mut group.choices {
                        let renumbered = OptionId::new(next_option_id);
                        if group.default_choice == Some(choice.id) {
                            group.default_choice = Some(renumbered);
                        }
                        choice.id = renumbered;
                        next_option_id += 1;
                    }
                }
                extras.push(ItemExtras { item: id, aliases: aliases.into_iter().collect(), description });
                Item { id, name, category, price: Money::from_fen(price_fen), option_groups: groups }
            })
            .collect();
        let catalog = Catalog::new(CATALOG, items).unwrap_or_else(|error| panic!("{error}"));
        Menu::new(catalog, extras).unwrap_or_else(|error| panic!("{error}"))
    })
}

/// A documented example with a few characters replaced, removed or inserted.
fn damaged(example: &'static str) -> impl Strategy<Value = String> {
    let edit = (any::<prop::sample::Index>(), 0..3u8, any::<char>());
    prop::collection::vec(edit, 1..6).prop_map(move |edits| {
        let mut chars: Vec<char> = example.chars().collect();
        for (at, action, replacement) in edits {
            let index = at.index(chars.len().max(1));
            match action {
                0 if index < chars.len() => chars[index] = replacement,
                1 if index < chars.len() => {
                    chars.remove(index);
                }
                _ => chars.insert(index.min(chars.len()), replacement),
            }
        }
        chars.into_iter().collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_text_never_panics(text in any::<String>()) {
        prop_assert!(parse_json(CATALOG, &text).is_err() || text.contains("items"));
        let _ = parse_csv(CATALOG, &text);
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse_json(CATALOG, &text);
        let _ = parse_csv(CATALOG, &text);
    }

    #[test]
    fn damaged_examples_never_panic(json in damaged(documented("json")), csv in damaged(documented("csv"))) {
        if let Err(error) = parse_json(CATALOG, &json) {
            let _ = (error.code(), error.location(), error.to_string());
        }
        if let Err(error) = parse_csv(CATALOG, &csv) {
            let _ = (error.code(), error.location(), error.to_string());
        }
    }

    #[test]
    fn random_menus_round_trip_through_json(menu in any_menu()) {
        let printed = to_json(&menu);
        prop_assert_eq!(parse_json(CATALOG, &printed), Ok(menu));
    }
}

#[test]
fn csv_stops_at_lantern_core_option_limits() {
    let mut rows = vec!["1,tea,tea,1200,other,g0,0,1,0,c,0,".to_owned()];
    rows.extend((1..100).map(|index| format!("1,,,,other,g{index},0,1,{index},c,0,")));
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    let error = csv_error(&csv(&rows));
    assert_eq!(error.location().as_deref(), Some("line 18, column group_name"), "{error}");
    assert!(matches!(error, FormatError::Catalog { error: CatalogError::OptionCount { .. }, .. }));

    let mut rows = vec!["1,tea,tea,1200,other,g,0,1,0,c,0,".to_owned()];
    rows.extend((1..100).map(|index| format!("1,,,,,g,,,{index},c,0,")));
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    let error = csv_error(&csv(&rows));
    assert_eq!(error.location().as_deref(), Some("line 66, column choice_id"), "{error}");
}
