//! Measuring the fast path against public, labelled utterances: pure functions over text the
//! caller read (the `lantern` binary reads `../shared/data/utterances`; tests use the few lines
//! in `tests/fixtures`).
//!
//! # Data and splits
//!
//! - **HWU64** (`hwu64`): crowd-sourced English commands with slot spans; the split is the
//!   data set's own `split_kfold1` (`train` / `test`).
//! - **CLINC150** (`clinc150`): English queries; `train` and `val` are for development,
//!   `test` is held out (`oos_train` / `oos_val` / `oos_test` likewise for out-of-scope lines).
//! - **CrossWOZ** (`crosswoz_zh`): Chinese user turns of the restaurant domain with dialogue
//!   acts; the extract has `val` (development) and `test` (held out).
//! - A line without a split goes to a deterministic hash split (one in five held out).
//!
//! [`Split::Train`] is what the rules may be developed against; [`Split::HeldOut`] is only
//! measured.
//!
//! # Intent mapping ([`map_source_intent`])
//!
//! | set | source intent | expected | class |
//! | --- | --- | --- | --- |
//! | hwu64 | takeaway_order | order (browse accepted: "show me chinese food near me") | commerce |
//! | hwu64 | takeaway_query | order_status or browse (it mixes "where is my order" and "does X deliver") | commerce |
//! | hwu64 | iot_coffee | order or out_of_scope ("make me a coffee" is an order here, "start the coffee machine at three" is device control) | mixed |
//! | hwu64 | general_affirm | yes (confirm accepted) | conversation |
//! | hwu64 | general_negate | no | conversation |
//! | hwu64 | general_commandstop | no or goodbye (never cancel_order) | conversation |
//! | hwu64 | general_confirm | not scored: it asks the assistant to repeat what it understood, which has no counterpart here | |
//! | hwu64 | lists_*, cooking_recipe | out_of_scope (a shopping list is not the cart) | out of scope |
//! | hwu64 | recommendation_locations | browse or out_of_scope (restaurants and shops alike) | mixed |
//! | clinc150 | order | order | commerce |
//! | clinc150 | order_status | order_status | commerce |
//! | clinc150 | restaurant_suggestion | browse | commerce |
//! | clinc150 | meal_suggestion | browse or out_of_scope ("suggest a thai meal", but also "what can i make for dinner") | mixed |
//! | clinc150 | yes / no / greeting / thank_you / goodbye | yes (confirm accepted) / no / greeting / thanks / goodbye | conversation |
//! | clinc150 | cancel | no or goodbye ("stop what you are doing", never cancel_order) | conversation |
//! | clinc150 | what_can_i_ask_you | help | conversation |
//! | clinc150 | oos, repeat, redeem_rewards (credit-card points), shopping_list(_update), calories, nutrition_info, ingredients_list | out_of_scope | out of scope |
//! | crosswoz_zh | restaurant_inform_dish | order or browse (a dish wanted, a restaurant asked for) | commerce |
//! | crosswoz_zh | restaurant_inform_other | browse or out_of_scope (a restaurant by name, price or rating, often with a question about hotels or sights near it) | mixed |
//! | crosswoz_zh | restaurant_request | browse or out_of_scope (a shop's phone and hours, but also nearby hotels) | mixed |
//! | crosswoz_zh | general_thank | thanks | conversation |
//! | crosswoz_zh | general_bye | goodbye (thanks accepted: most lines thank too) | conversation |
//!
//! # Scores ([`evaluate`])
//!
//! Per set and split: accuracy per source intent (the prediction is one of the accepted
//! intents), **commerce-intent accuracy** (lines of the commerce class), **out-of-scope
//! rejection** (lines of the out-of-scope class read as `OutOfScope`), overall accuracy, and
//! **item slot** precision, recall and F1 over the commerce-class lines. All are counts and
//! per-mille integers (no floats).
//!
//! Item slots are HWU64's `food_type`, `drink_type` and `coffee_type` and CrossWOZ's `推荐菜`
//! (dish) values; `meal_type` (breakfast, dinner) is a time of day and `business_name` a shop,
//! so neither counts. The prediction is [`Understanding::mentions`](crate::Understanding): menu
//! items the lexicon matched plus the generic recognizer's phrases (a built-in list of common
//! food and drink nouns, extended over the words before them, written for this crate and not
//! derived from any data set), and the words after "order" that name what is ordered. A predicted
//! and a gold value match when, after normalisation and dropping quantities and articles, they
//! are equal or one contains the other on word boundaries (HWU64 spans are loose: "pepperoni
//! large", "six chicken tacos", and "pizza and wings" is one span where the reader sees two
//! items). Precision counts the predictions that match some gold value, recall the gold values
//! some prediction matches; F1 is their harmonic mean. Exact matching (one to one, equal after
//! normalisation) is reported too. Only HWU64 and CrossWOZ carry slot labels
//! ([`SLOT_SETS`]); CLINC150 lines are not scored for slots.
//!
//! The lexicon is the caller's: the evaluation uses whatever menus it holds (the `lantern`
//! binary passes the demo menu and, for CrossWOZ, the restaurants' dish lists from
//! [`crosswoz_dish_menus`]: the data set's own catalog, never the utterances' labels).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use lantern_catalog_io::{ItemExtras, Menu};
use lantern_core::{Catalog, CatalogId, Item, ItemId, MerchantId, Money};
use serde::Serialize;

use crate::orders::per_mille;
use crate::{Context, Intent, Lexicon, normalise, understand};

/// Most utterances one call to [`parse_jsonl`] accepts.
pub const UTTERANCES_MAX: usize = 200_000;
/// Most characters of one utterance kept by [`parse_jsonl`] (the reader reads fewer anyway).
pub const TEXT_CHARS_MAX: usize = 2_000;
/// Most dishes read per restaurant by [`crosswoz_dish_menus`].
pub const DISHES_PER_RESTAURANT_MAX: usize = 200;
/// Longest dish name kept (lantern-core's limit on item names).
const DISH_NAME_CHARS_MAX: usize = 200;
/// Entries of CrossWOZ's dish lists that are tags of the restaurant, not dishes (found by
/// reading the catalog, not the utterances).
const CROSSWOZ_TAGS: &[&str] = &[
    "老字号",
    "美食林风味",
    "老建筑餐厅",
    "当地口味",
    "深夜营业",
    "特色小吃",
    "其他",
    "24小时营业",
    "美食林臻选",
    "景观餐厅",
    "亲子餐厅",
    "景区内",
    "洗浴",
    "采摘",
    "没有",
    "主题餐厅",
    "不推荐",
    "早餐",
    "免费小菜",
    "儿童餐",
    "传统早餐",
    "自助早餐",
];
/// Merchant ids given to CrossWOZ restaurants start here (the demo shop is 1).
pub const CROSSWOZ_MERCHANT_BASE: u64 = 100_000;

/// Which part of a data set a line belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// For development: rules may be tuned on these lines.
    Train,
    /// Only measured.
    HeldOut,
}

impl Split {
    pub const fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::HeldOut => "held-out",
        }
    }
}

/// A labelled value in an utterance (HWU64 entity, CrossWOZ informed slot).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SlotSpan {
    pub entity: String,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LabelledUtterance {
    pub set: String,
    pub source_intent: String,
    pub text: String,
    pub split: Split,
    pub slots: Vec<SlotSpan>,
}

/// How a source intent counts in the summary scores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IntentClass {
    Commerce,
    Conversation,
    OutOfScope,
    /// Some lines are commerce and some are not: only per-intent accuracy.
    Mixed,
}

/// What a source intent should be read as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ExpectedIntent {
    /// The intent reported in tables.
    pub primary: Intent,
    /// Every intent that counts as right (the primary included).
    pub accepted: &'static [Intent],
    pub class: IntentClass,
}

impl ExpectedIntent {
    pub fn accepts(&self, intent: Intent) -> bool {
        self.accepted.contains(&intent)
    }
}

const fn expect(primary: Intent, accepted: &'static [Intent], class: IntentClass) -> ExpectedIntent {
    ExpectedIntent { primary, accepted, class }
}

/// The documented mapping (see the module documentation); `None` for a label that is not
/// scored.
pub fn map_source_intent(set: &str, source_intent: &str) -> Option<ExpectedIntent> {
    use Intent::*;
    use IntentClass::{Commerce, Conversation, Mixed};
    let oos = expect(OutOfScope, &[OutOfScope], IntentClass::OutOfScope);
    Some(match (set, source_intent) {
        ("hwu64", "takeaway_order") => expect(Order, &[Order, Browse], Commerce),
        ("hwu64", "takeaway_query") => expect(OrderStatus, &[OrderStatus, Browse], Commerce),
        ("hwu64", "iot_coffee") => expect(Order, &[Order, OutOfScope], Mixed),
        ("hwu64", "general_affirm") => expect(Yes, &[Yes, Confirm], Conversation),
        ("hwu64", "general_negate") => expect(No, &[No], Conversation),
        ("hwu64", "general_commandstop") => expect(No, &[No, Goodbye], Conversation),
        ("hwu64", "general_confirm") => return None,
        ("hwu64", "lists_createoradd" | "lists_query" | "lists_remove" | "cooking_recipe") => oos,
        ("hwu64", "recommendation_locations") => expect(Browse, &[Browse, OutOfScope], Mixed),
        ("clinc150", "order") => expect(Order, &[Order], Commerce),
        ("clinc150", "order_status") => expect(OrderStatus, &[OrderStatus], Commerce),
        ("clinc150", "restaurant_suggestion") => expect(Browse, &[Browse], Commerce),
        ("clinc150", "meal_suggestion") => expect(Browse, &[Browse, OutOfScope], Mixed),
        ("clinc150", "yes") => expect(Yes, &[Yes, Confirm], Conversation),
        ("clinc150", "no") => expect(No, &[No], Conversation),
        ("clinc150", "greeting") => expect(Greeting, &[Greeting], Conversation),
        ("clinc150", "thank_you") => expect(Thanks, &[Thanks], Conversation),
        ("clinc150", "goodbye") => expect(Goodbye, &[Goodbye], Conversation),
        ("clinc150", "cancel") => expect(No, &[No, Goodbye], Conversation),
        ("clinc150", "what_can_i_ask_you") => expect(Help, &[Help], Conversation),
        (
            "clinc150",
            "oos"
            | "repeat"
            | "redeem_rewards"
            | "shopping_list"
            | "shopping_list_update"
            | "calories"
            | "nutrition_info"
            | "ingredients_list",
        ) => oos,
        ("crosswoz_zh", "restaurant_inform_dish") => expect(Order, &[Order, Browse], Commerce),
        ("crosswoz_zh", "restaurant_inform_other") => expect(Browse, &[Browse, OutOfScope], Mixed),
        ("crosswoz_zh", "restaurant_request") => expect(Browse, &[Browse, OutOfScope], Mixed),
        ("crosswoz_zh", "general_thank") => expect(Thanks, &[Thanks], Conversation),
        ("crosswoz_zh", "general_bye") => expect(Goodbye, &[Goodbye, Thanks], Conversation),
        _ => return None,
    })
}

/// The sets whose lines carry slot labels (CLINC150 has none, so its lines are not scored for
/// slots: no label is not the same as no slot).
pub const SLOT_SETS: &[&str] = &["hwu64", "crosswoz_zh"];

/// The slot entities that name an item or food.
pub const ITEM_ENTITIES: &[&str] = &["food_type", "drink_type", "coffee_type", "推荐菜"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    #[error("line {line}: not a JSON object ({message}); each line must be one JSON object")]
    Json { line: usize, message: String },
    #[error("line {line}: no {field:?} string; each utterance needs its text")]
    MissingField { line: usize, field: &'static str },
    #[error("more than {UTTERANCES_MAX} utterances in one file; split it")]
    TooMany,
    #[error("line {line} of the dish list: {problem}")]
    Dishes { line: usize, problem: String },
}

/// Reads one `<intent>.jsonl` file of a set: `text`, a split field (`split` or
/// `split_kfold1`), and slots from `entities` (HWU64) or `Inform` dialogue acts (CrossWOZ).
/// Blank lines are skipped.
pub fn parse_jsonl(set: &str, source_intent: &str, jsonl: &str) -> Result<Vec<LabelledUtterance>, EvalError> {
    let mut out = Vec::new();
    for (index, raw) in jsonl.lines().enumerate() {
        let line = index + 1;
        if raw.trim().is_empty() {
            continue;
        }
        if out.len() >= UTTERANCES_MAX {
            return Err(EvalError::TooMany);
        }
        let value: serde_json::Value = serde_json::from_str(raw)
            .map_err(|error| EvalError::Json { line, message: error.to_string() })?;
        let object = value.as_object().ok_or(EvalError::Json { line, message: "not an object".into() })?;
        let text = object
            .get("text")
            .and_then(serde_json::Value::as_str)
            .ok_or(EvalError::MissingField { line, field: "text" })?;
        let text: String = text.chars().take(TEXT_CHARS_MAX).collect();
        let split_label = object
            .iter()
            .find(|(key, _)| key.as_str() == "split" || key.starts_with("split_"))
            .and_then(|(_, value)| value.as_str());
        let split = match split_label {
            Some("test" | "oos_test") => Split::HeldOut,
            Some("train" | "val" | "oos_train" | "oos_val" | "dev") => Split::Train,
            _ => hash_split(&text),
        };
        let mut slots = Vec::new();
        if let Some(entities) = object.get("entities").and_then(serde_json::Value::as_array) {
            for entity in entities {
                let name = entity.get("entity").and_then(serde_json::Value::as_str);
                let value = entity.get("value").and_then(serde_json::Value::as_str);
                if let (Some(entity), Some(value)) = (name, value) {
                    slots.push(SlotSpan { entity: entity.to_owned(), value: value.to_owned() });
                }
            }
        }
        if let Some(acts) = object.get("dialog_act").and_then(serde_json::Value::as_array) {
            for act in acts {
                let parts: Vec<&str> = act
                    .as_array()
                    .map(|parts| parts.iter().filter_map(|part| part.as_str()).collect())
                    .unwrap_or_default();
                if let ["Inform", _domain, slot, value] = parts.as_slice() {
                    slots.push(SlotSpan { entity: (*slot).to_owned(), value: (*value).to_owned() });
                }
            }
        }
        out.push(LabelledUtterance {
            set: set.to_owned(),
            source_intent: source_intent.to_owned(),
            text,
            split,
            slots,
        });
    }
    Ok(out)
}

/// One in five lines held out, by an FNV-1a hash of the text (stable across runs and machines).
fn hash_split(text: &str) -> Split {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    if hash.is_multiple_of(5) { Split::HeldOut } else { Split::Train }
}

/// A count out of a total.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Ratio {
    pub correct: usize,
    pub total: usize,
    pub per_mille: u32,
}

impl Ratio {
    fn add(&mut self, correct: bool) {
        self.total += 1;
        self.correct += usize::from(correct);
        self.per_mille = per_mille(self.correct, self.total);
    }
}

/// Slot counts. `true_positives` are gold values found; `predicted_right` are predictions
/// that match a gold value (the same as `true_positives` for exact matching, where matching is
/// one to one). Precision is `predicted_right / (predicted_right + false_positives)`, recall
/// `true_positives / (true_positives + false_negatives)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SlotScore {
    pub true_positives: usize,
    pub predicted_right: usize,
    pub false_positives: usize,
    pub false_negatives: usize,
    pub precision_per_mille: u32,
    pub recall_per_mille: u32,
    pub f1_per_mille: u32,
}

impl SlotScore {
    pub(crate) fn finish(&mut self) {
        self.precision_per_mille =
            per_mille(self.predicted_right, self.predicted_right + self.false_positives);
        self.recall_per_mille = per_mille(self.true_positives, self.true_positives + self.false_negatives);
        // F1 = 2PR / (P + R), in integers: from the two ratios' numerators and denominators.
        let (p_num, p_den) = (self.predicted_right, self.predicted_right + self.false_positives);
        let (r_num, r_den) = (self.true_positives, self.true_positives + self.false_negatives);
        let numerator = 2 * p_num * r_num;
        let denominator = p_num * r_den + r_num * p_den;
        self.f1_per_mille = per_mille(numerator, denominator);
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IntentRow {
    pub source_intent: String,
    pub expected: Intent,
    pub class: IntentClass,
    pub accuracy: Ratio,
    /// What the lines were read as, most frequent first.
    pub predicted: Vec<(Intent, usize)>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GroupReport {
    /// A set name, or "all" for every set together.
    pub set: String,
    pub split: Split,
    pub intents: Vec<IntentRow>,
    pub overall: Ratio,
    pub commerce: Ratio,
    pub out_of_scope_rejection: Ratio,
    /// Item slots, lenient match (see the module documentation).
    pub item_slots: SlotScore,
    /// Item slots, exact match after normalisation.
    pub item_slots_exact: SlotScore,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EvalReport {
    /// One group per set and split, then "all" per split.
    pub groups: Vec<GroupReport>,
    /// Lines whose source intent is not scored (see [`map_source_intent`]).
    pub excluded: usize,
}

/// Per source intent: what it maps to, how often it was right, and what it was read as.
type IntentTally = (Option<ExpectedIntent>, Ratio, BTreeMap<Intent, usize>);

#[derive(Default)]
struct Accumulator {
    intents: BTreeMap<String, IntentTally>,
    overall: Ratio,
    commerce: Ratio,
    oos: Ratio,
    slots: SlotScore,
    slots_exact: SlotScore,
}

/// Reads every utterance with an empty context and scores it (see the module documentation).
pub fn evaluate(lexicon: &Lexicon, utterances: &[LabelledUtterance]) -> EvalReport {
    let mut groups: BTreeMap<(String, Split), Accumulator> = BTreeMap::new();
    let mut excluded = 0;
    let context = Context::default();
    for utterance in utterances {
        let Some(expected) = map_source_intent(&utterance.set, &utterance.source_intent) else {
            excluded += 1;
            continue;
        };
        let understanding = understand(lexicon, &context, &utterance.text);
        let correct = expected.accepts(understanding.intent);
        let predicted: Vec<String> =
            understanding.mentions.iter().map(|mention| mention.text.clone()).collect();
        let gold: Vec<String> = utterance
            .slots
            .iter()
            .filter(|slot| ITEM_ENTITIES.contains(&slot.entity.as_str()))
            .map(|slot| slot.value.clone())
            .collect();
        for key in [(utterance.set.clone(), utterance.split), ("all".to_owned(), utterance.split)] {
            let group = groups.entry(key).or_default();
            let row = group
                .intents
                .entry(utterance.source_intent.clone())
                .or_insert_with(|| (Some(expected), Ratio::default(), BTreeMap::new()));
            row.1.add(correct);
            *row.2.entry(understanding.intent).or_default() += 1;
            group.overall.add(correct);
            match expected.class {
                IntentClass::Commerce => {
                    group.commerce.add(correct);
                    if SLOT_SETS.contains(&utterance.set.as_str()) {
                        score_slots(&gold, &predicted, &mut group.slots, &mut group.slots_exact);
                    }
                }
                IntentClass::OutOfScope => group.oos.add(understanding.intent == Intent::OutOfScope),
                IntentClass::Conversation | IntentClass::Mixed => {}
            }
        }
    }
    let mut out: Vec<GroupReport> = groups
        .into_iter()
        .map(|((set, split), mut group)| {
            group.slots.finish();
            group.slots_exact.finish();
            let intents = group
                .intents
                .into_iter()
                .filter_map(|(source_intent, (expected, accuracy, predicted))| {
                    let expected = expected?;
                    let mut predicted: Vec<(Intent, usize)> = predicted.into_iter().collect();
                    predicted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                    Some(IntentRow {
                        source_intent,
                        expected: expected.primary,
                        class: expected.class,
                        accuracy,
                        predicted,
                    })
                })
                .collect();
            GroupReport {
                set,
                split,
                intents,
                overall: group.overall,
                commerce: group.commerce,
                out_of_scope_rejection: group.oos,
                item_slots: group.slots,
                item_slots_exact: group.slots_exact,
            }
        })
        .collect();
    // Sets in name order with "all" last, train before held-out.
    out.sort_by(|a, b| (a.set == "all", &a.set, a.split).cmp(&(b.set == "all", &b.set, b.split)));
    EvalReport { groups: out, excluded }
}

/// Words dropped before comparing slot values: quantities and articles.
const SLOT_FILLER: &[&str] = &[
    "a", "an", "the", "some", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "dozen", "of", "cup", "cups",
];

fn slot_words(value: &str) -> String {
    normalise(value)
        .split([' ', ',', '.'])
        .filter(|word| {
            !word.is_empty() && !SLOT_FILLER.contains(word) && !word.bytes().all(|byte| byte.is_ascii_digit())
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn lenient_match(gold: &str, predicted: &str) -> bool {
    if gold.is_empty() || predicted.is_empty() {
        return false;
    }
    if gold == predicted {
        return true;
    }
    let contains = |long: &str, short: &str| {
        if short.chars().any(crate::lexicon::is_han) {
            return long.contains(short);
        }
        let padded_long = format!(" {long} ");
        let padded_short = format!(" {short} ");
        padded_long.contains(&padded_short)
    };
    contains(gold, predicted) || contains(predicted, gold)
}

fn score_slots(gold: &[String], predicted: &[String], lenient: &mut SlotScore, exact: &mut SlotScore) {
    // Exact: one-to-one matching of equal values.
    let gold_exact: Vec<String> = gold.iter().map(|value| normalise(value)).collect();
    let mut unused: Vec<String> = predicted.iter().map(|value| normalise(value)).collect();
    for value in &gold_exact {
        match unused.iter().position(|candidate| candidate == value) {
            Some(at) => {
                unused.swap_remove(at);
                exact.true_positives += 1;
            }
            None => exact.false_negatives += 1,
        }
    }
    exact.false_positives += unused.len();
    exact.predicted_right = exact.true_positives;
    // Lenient: a prediction is right when it matches some gold value, a gold value is found
    // when some prediction matches it. HWU64 annotates "pizza and wings" as one span where the
    // reader sees two items; both parts are right and the span is found.
    let gold_words: Vec<String> = gold.iter().map(|value| slot_words(value)).collect();
    let predicted_words: Vec<String> = predicted.iter().map(|value| slot_words(value)).collect();
    let found = gold_words
        .iter()
        .filter(|value| predicted_words.iter().any(|candidate| lenient_match(value, candidate)))
        .count();
    let right = predicted_words
        .iter()
        .filter(|candidate| gold_words.iter().any(|value| lenient_match(value, candidate)))
        .count();
    lenient.true_positives += found;
    lenient.false_negatives += gold_words.len() - found;
    lenient.predicted_right += right;
    lenient.false_positives += predicted_words.len() - right;
}

/// The report as a plain-text table: one block per set and split, then the summaries.
pub fn render_table(report: &EvalReport) -> String {
    let mut out = String::new();
    for group in &report.groups {
        let _ = writeln!(out, "== {} ({})", group.set, group.split.as_str());
        let _ = writeln!(
            out,
            "{:<28} {:<13} {:>13} {:>7}  read as",
            "source intent", "expected", "correct", "acc"
        );
        for row in &group.intents {
            let predicted: Vec<String> = row
                .predicted
                .iter()
                .take(3)
                .map(|(intent, count)| format!("{} {count}", intent.as_str()))
                .collect();
            let _ = writeln!(
                out,
                "{:<28} {:<13} {:>13} {:>7}  {}",
                row.source_intent,
                row.expected.as_str(),
                format!("{}/{}", row.accuracy.correct, row.accuracy.total),
                ratio_percent(&row.accuracy),
                predicted.join(", ")
            );
        }
        let _ = writeln!(
            out,
            "{:<42} {:>13} {:>7}",
            "overall intent accuracy",
            ratio(&group.overall),
            ratio_percent(&group.overall)
        );
        let _ = writeln!(
            out,
            "{:<42} {:>13} {:>7}",
            "commerce-intent accuracy",
            ratio(&group.commerce),
            ratio_percent(&group.commerce)
        );
        let _ = writeln!(
            out,
            "{:<42} {:>13} {:>7}",
            "out-of-scope rejection",
            ratio(&group.out_of_scope_rejection),
            ratio_percent(&group.out_of_scope_rejection)
        );
        for (name, slots) in
            [("item slots (lenient)", &group.item_slots), ("item slots (exact)", &group.item_slots_exact)]
        {
            if slots.true_positives + slots.false_negatives + slots.false_positives == 0 {
                let _ = writeln!(out, "{name:<26} - (no slot labels)");
                continue;
            }
            let _ = writeln!(
                out,
                "{:<26} found {} right {} fp {} fn {}  P {} R {} F1 {}",
                name,
                slots.true_positives,
                slots.predicted_right,
                slots.false_positives,
                slots.false_negatives,
                percent(slots.precision_per_mille),
                percent(slots.recall_per_mille),
                percent(slots.f1_per_mille)
            );
        }
        out.push('\n');
    }
    let _ = writeln!(out, "lines not scored (source intent unmapped): {}", report.excluded);
    out
}

fn ratio(ratio: &Ratio) -> String {
    format!("{}/{}", ratio.correct, ratio.total)
}

fn ratio_percent(ratio: &Ratio) -> String {
    if ratio.total == 0 { "-".to_owned() } else { percent(ratio.per_mille) }
}

/// "93.4%" from 934 per mille; "-" for an empty ratio.
fn percent(per_mille: u32) -> String {
    format!("{}.{}%", per_mille / 10, per_mille % 10)
}

/// Menus from CrossWOZ's restaurant-dish list (`restaurant,dish,restaurant_avg_price_per_person_cny`):
/// one merchant per restaurant (ids from [`CROSSWOZ_MERCHANT_BASE`], in order of first
/// appearance), one item per distinct dish, priced at the restaurant's average spend per person
/// (the list has no dish prices; the evaluation does not price anything). Entries that are
/// tags of the restaurant ("老字号", "深夜营业") are skipped, and so are the few dishes whose
/// names carry Latin letters ("招牌pizza", "cheese"), so that these Chinese menus do not answer
/// the English test lines.
pub fn crosswoz_dish_menus(csv: &str) -> Result<Vec<(MerchantId, String, Menu)>, EvalError> {
    let mut restaurants: Vec<(String, Vec<String>, i64)> = Vec::new();
    let mut at: BTreeMap<String, usize> = BTreeMap::new();
    for (index, raw) in csv.lines().enumerate().skip(1) {
        let line = index + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let cells = split_csv(raw);
        let [restaurant, dish, price] = cells.as_slice() else {
            return Err(EvalError::Dishes {
                line,
                problem: format!("expected 3 cells, got {}", cells.len()),
            });
        };
        let (restaurant, dish) = (restaurant.trim(), dish.trim());
        if restaurant.is_empty()
            || dish.is_empty()
            || dish.chars().count() > DISH_NAME_CHARS_MAX
            || CROSSWOZ_TAGS.contains(&dish)
            || dish.chars().count() < 2
            || dish.chars().any(|c| c.is_ascii_alphabetic())
        {
            continue;
        }
        let price_fen = price.trim().parse::<i64>().unwrap_or(0).clamp(0, 100_000) * 100;
        let slot = *at.entry(restaurant.to_owned()).or_insert_with(|| {
            restaurants.push((restaurant.to_owned(), Vec::new(), price_fen));
            restaurants.len() - 1
        });
        if let Some((_, dishes, _)) = restaurants.get_mut(slot)
            && dishes.len() < DISHES_PER_RESTAURANT_MAX
            && !dishes.iter().any(|held| held == dish)
        {
            dishes.push(dish.to_owned());
        }
    }
    let mut out = Vec::with_capacity(restaurants.len());
    for (index, (name, dishes, price_fen)) in restaurants.into_iter().enumerate() {
        let number = CROSSWOZ_MERCHANT_BASE + index as u64;
        let items: Vec<Item> = dishes
            .iter()
            .enumerate()
            .map(|(dish_index, dish)| Item {
                id: ItemId::new(dish_index as u64 + 1),
                name: dish.clone(),
                category: "菜品".to_owned(),
                price: Money::from_fen(price_fen),
                option_groups: Vec::new(),
            })
            .collect();
        let problem = |problem: String| EvalError::Dishes {
            line: 0,
            problem: format!("restaurant {name:?}: {problem}"),
        };
        let catalog =
            Catalog::new(CatalogId::new(number), items).map_err(|error| problem(error.to_string()))?;
        let extras: Vec<ItemExtras> = Vec::new();
        let menu = Menu::new(catalog, extras).map_err(|error| problem(error.to_string()))?;
        out.push((MerchantId::new(number), name, menu));
    }
    Ok(out)
}

/// Cells of one CSV line, with double-quoted cells ("a, b") and doubled quotes inside them.
pub(crate) fn split_csv_line(line: &str) -> Vec<String> {
    split_csv(line)
}

fn split_csv(line: &str) -> Vec<String> {
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cell.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => cells.push(std::mem::take(&mut cell)),
            (c, _) => cell.push(c),
        }
    }
    cells.push(cell);
    cells
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traps_map_away_from_commerce() {
        let cancel = map_source_intent("clinc150", "cancel").unwrap_or_else(|| panic!("mapped"));
        assert!(!cancel.accepts(Intent::CancelOrder));
        let points = map_source_intent("clinc150", "redeem_rewards").unwrap_or_else(|| panic!("mapped"));
        assert!(!points.accepts(Intent::UseCoupon) && points.accepts(Intent::OutOfScope));
        let query = map_source_intent("hwu64", "takeaway_query").unwrap_or_else(|| panic!("mapped"));
        assert!(
            query.accepts(Intent::OrderStatus)
                && query.accepts(Intent::Browse)
                && !query.accepts(Intent::Order)
        );
        assert_eq!(map_source_intent("hwu64", "general_confirm"), None);
        assert_eq!(map_source_intent("nope", "order"), None);
    }

    #[test]
    fn jsonl_splits_and_slots_are_read() {
        let hwu = r#"{"split_kfold1": "test", "text": "order a pizza", "entities": [{"entity": "food_type", "value": "pizza"}]}

{"split_kfold1": "train", "text": "coffee", "entities": []}"#;
        let lines = parse_jsonl("hwu64", "takeaway_order", hwu).unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].split, Split::HeldOut);
        assert_eq!(lines[1].split, Split::Train);
        assert_eq!(lines[0].slots, vec![SlotSpan { entity: "food_type".into(), value: "pizza".into() }]);
        let woz = r#"{"split": "val", "text": "我想吃烤鸭", "dialog_act": [["Inform", "餐馆", "推荐菜", "烤鸭"], ["Request", "餐馆", "名称", ""]]}"#;
        let lines = parse_jsonl("crosswoz_zh", "restaurant_inform_dish", woz)
            .unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(lines[0].slots, vec![SlotSpan { entity: "推荐菜".into(), value: "烤鸭".into() }]);
        assert_eq!(
            parse_jsonl("x", "y", "{\"split\": 1}"),
            Err(EvalError::MissingField { line: 1, field: "text" })
        );
        assert!(matches!(parse_jsonl("x", "y", "not json"), Err(EvalError::Json { line: 1, .. })));
    }

    #[test]
    fn lines_without_a_split_are_split_by_hash_stably() {
        let texts: Vec<String> = (0..500).map(|n| format!("line {n}")).collect();
        let held = texts.iter().filter(|text| hash_split(text) == Split::HeldOut).count();
        assert!((60..140).contains(&held), "{held} of 500 held out");
        assert_eq!(hash_split("line 7"), hash_split("line 7"));
    }

    #[test]
    fn slot_matching_is_lenient_but_not_blind() {
        assert!(lenient_match(&slot_words("six chicken tacos"), &slot_words("chicken tacos")));
        assert!(lenient_match(&slot_words("chinese"), &slot_words("chinese food")));
        assert!(lenient_match("麻辣香锅", "香锅"));
        assert!(!lenient_match(&slot_words("pizza"), &slot_words("pizzeria")));
        assert!(!lenient_match(&slot_words("sushi"), &slot_words("pizza")));
        let mut lenient = SlotScore::default();
        let mut exact = SlotScore::default();
        score_slots(
            &["pizza".into(), "sushi".into()],
            &["pizza".into(), "cola".into()],
            &mut lenient,
            &mut exact,
        );
        lenient.finish();
        assert_eq!((lenient.true_positives, lenient.false_positives, lenient.false_negatives), (1, 1, 1));
        assert_eq!(lenient.f1_per_mille, 500);
        // Two predicted parts of one gold span are both right, and the span is found once.
        let mut lenient = SlotScore::default();
        let mut exact = SlotScore::default();
        score_slots(&["pizza and wings".into()], &["pizza".into(), "wings".into()], &mut lenient, &mut exact);
        lenient.finish();
        exact.finish();
        assert_eq!((lenient.true_positives, lenient.predicted_right, lenient.false_positives), (1, 2, 0));
        assert_eq!(lenient.f1_per_mille, 1000);
        assert_eq!((exact.true_positives, exact.false_positives, exact.false_negatives), (0, 2, 1));
    }

    #[test]
    fn csv_cells_keep_quoted_commas() {
        assert_eq!(split_csv(r#"a,"b, c",d"#), vec!["a", "b, c", "d"]);
        assert_eq!(split_csv(r#""say ""hi""",x"#), vec![r#"say "hi""#, "x"]);
    }

    #[test]
    fn crosswoz_dishes_become_one_menu_per_restaurant() {
        let csv = "restaurant,dish,restaurant_avg_price_per_person_cny\n店A,烤鸭,100\n店A,烤鸭,100\n店A,鸭汤,100\n店B,炸酱面,30\n";
        let menus = crosswoz_dish_menus(csv).unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(menus.len(), 2);
        assert_eq!(menus[0].2.catalog().items().len(), 2);
        assert_eq!(menus[1].0, MerchantId::new(CROSSWOZ_MERCHANT_BASE + 1));
        assert!(matches!(crosswoz_dish_menus("h\nonly,two\n"), Err(EvalError::Dishes { line: 2, .. })));
    }
}
