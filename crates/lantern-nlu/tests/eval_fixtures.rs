//! The evaluation end to end on the few utterances copied into `tests/fixtures` (see its
//! README for the sources and licences), so it runs without `../shared/data`.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use lantern_nlu::eval::{
    IntentClass, LabelledUtterance, Split, crosswoz_dish_menus, evaluate, map_source_intent, parse_jsonl,
    render_table,
};
use lantern_nlu::orders::demo_lexicon;

const SETS: [(&str, &str); 3] = [
    ("hwu64", include_str!("fixtures/hwu64.jsonl")),
    ("clinc150", include_str!("fixtures/clinc150.jsonl")),
    ("crosswoz_zh", include_str!("fixtures/crosswoz_zh.jsonl")),
];

/// The fixture files hold several intents each (in an `intent` field); the real data has one
/// file per intent, which is what `parse_jsonl` reads, so group the lines first.
fn load() -> Vec<LabelledUtterance> {
    let mut out = Vec::new();
    for (set, text) in SETS {
        let mut by_intent: BTreeMap<String, String> = BTreeMap::new();
        for line in text.lines().filter(|line| !line.trim().is_empty()) {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            let intent = value["intent"].as_str().unwrap().to_owned();
            let file = by_intent.entry(intent).or_default();
            file.push_str(line);
            file.push('\n');
        }
        for (intent, jsonl) in by_intent {
            out.extend(parse_jsonl(set, &intent, &jsonl).unwrap());
        }
    }
    out
}

#[test]
fn fixtures_are_development_lines_with_mapped_intents() {
    let utterances = load();
    assert_eq!(utterances.len(), 58);
    assert!(utterances.iter().all(|utterance| utterance.split == Split::Train));
    assert!(
        utterances
            .iter()
            .all(|utterance| map_source_intent(&utterance.set, &utterance.source_intent).is_some())
    );
}

#[test]
fn the_evaluation_runs_on_the_fixtures() {
    let mut lexicon = demo_lexicon().unwrap();
    for (merchant, name, menu) in crosswoz_dish_menus(include_str!("fixtures/crosswoz_dishes.csv")).unwrap() {
        lexicon.upsert_merchant(merchant, &name, &menu);
    }
    let utterances = load();
    let report = evaluate(&lexicon, &utterances);
    let table = render_table(&report);
    println!("{table}");
    let all = report.groups.iter().find(|group| group.set == "all" && group.split == Split::Train).unwrap();
    assert_eq!(all.overall.total, utterances.len());
    // Development lines the rules were written against: most must be right; a regression in
    // the rules shows here before it shows on the full data.
    assert!(all.commerce.per_mille >= 850, "{table}");
    assert!(all.out_of_scope_rejection.per_mille >= 850, "{table}");
    assert!(all.overall.per_mille >= 850, "{table}");
    // Item slots are scored on HWU64 and CrossWOZ lines only.
    let clinc = report.groups.iter().find(|group| group.set == "clinc150").unwrap();
    assert_eq!(
        clinc.item_slots.true_positives + clinc.item_slots.false_positives + clinc.item_slots.false_negatives,
        0
    );
    let woz = report.groups.iter().find(|group| group.set == "crosswoz_zh").unwrap();
    assert!(woz.item_slots.f1_per_mille >= 800, "{table}");
    assert!(
        report.groups.iter().flat_map(|group| &group.intents).any(|row| row.class == IntentClass::OutOfScope)
    );
    assert!(table.contains("commerce-intent accuracy"));
}
