//! The evaluation on the real data sets, when they are present (`../shared/data` from the
//! workspace, or `LANTERN_DATA`). Ignored by default: it reads files and takes seconds.
//! Run: `cargo test -p lantern-nlu --test eval_data -- --ignored --nocapture`.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use lantern_nlu::eval::{LabelledUtterance, Split, crosswoz_dish_menus, evaluate, parse_jsonl, render_table};
use lantern_nlu::orders::{chipotle_menu, chipotle_orders, demo_lexicon, evaluate_generated};
use lantern_nlu::{Context, understand};

fn data_dir() -> Option<PathBuf> {
    let candidates = [
        std::env::var("LANTERN_DATA").ok().map(PathBuf::from),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")),
    ];
    candidates.into_iter().flatten().find(|dir| dir.join("utterances").is_dir())
}

fn load(dir: &Path) -> Vec<LabelledUtterance> {
    let mut all = Vec::new();
    for set in ["hwu64", "clinc150", "crosswoz_zh"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("utterances").join(set))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "jsonl"))
            .collect();
        files.sort();
        for file in files {
            let intent = file.file_stem().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&file).unwrap();
            all.extend(parse_jsonl(set, &intent, &text).unwrap());
        }
    }
    all
}

#[test]
#[ignore]
fn evaluate_on_shared_data() {
    let Some(dir) = data_dir() else {
        eprintln!("no data directory; skipped");
        return;
    };
    let mut lexicon = demo_lexicon().unwrap();
    let dishes =
        std::fs::read_to_string(dir.join("catalogs/crosswoz_beijing_restaurant_dishes.csv")).unwrap();
    for (merchant, name, menu) in crosswoz_dish_menus(&dishes).unwrap() {
        lexicon.upsert_merchant(merchant, &name, &menu);
    }
    lexicon.prepare();
    let utterances = load(&dir);
    let report = evaluate(&lexicon, &utterances);
    println!("{}", render_table(&report));
    // Real Chipotle orders, read here only (licence unclear: never copied into the project).
    let menu =
        chipotle_menu(&std::fs::read_to_string(dir.join("catalogs/chipotle_menu_derived.csv")).unwrap())
            .unwrap();
    let chipotle = lantern_core::MerchantId::new(900);
    let mut chipotle_lexicon = lantern_nlu::Lexicon::new();
    chipotle_lexicon.upsert_merchant(chipotle, "Chipotle", &menu);
    let orders = chipotle_orders(
        &menu,
        chipotle,
        &std::fs::read_to_string(dir.join("catalogs/chipotle_orders.tsv")).unwrap(),
        5_000,
    );
    let chipotle_report = evaluate_generated(&chipotle_lexicon, chipotle, &orders);
    println!(
        "chipotle orders: exact carts {}/{} ({} per mille)",
        chipotle_report.exact, chipotle_report.total, chipotle_report.exact_per_mille
    );
    if std::env::var("CHIPOTLE_MISSES").is_ok() {
        for miss in chipotle_report.misses.iter().take(15) {
            println!(
                "MISS {} ({:?})\n  expected {:?}\n  got      {:?}",
                miss.text, miss.intent, miss.expected, miss.got
            );
        }
    }
    // Development aid: MISSES=set/intent prints the train lines read wrongly (train only).
    if let Ok(wanted) = std::env::var("MISSES") {
        let context = Context::default();
        for utterance in &utterances {
            let key = format!("{}/{}", utterance.set, utterance.source_intent);
            if utterance.split != Split::Train || !(key.starts_with(&wanted) || wanted == "all") {
                continue;
            }
            let expected = lantern_nlu::eval::map_source_intent(&utterance.set, &utterance.source_intent);
            let understanding = understand(&lexicon, &context, &utterance.text);
            let gold: Vec<&str> = utterance
                .slots
                .iter()
                .filter(|slot| lantern_nlu::eval::ITEM_ENTITIES.contains(&slot.entity.as_str()))
                .map(|slot| slot.value.as_str())
                .collect();
            let mentions: Vec<&str> =
                understanding.mentions.iter().map(|mention| mention.text.as_str()).collect();
            let intent_ok = expected.is_some_and(|expected| expected.accepts(understanding.intent));
            let slots_shown = std::env::var("SLOTS").is_ok() && (gold != mentions);
            if !intent_ok || slots_shown {
                println!(
                    "{key}\t{:?}\t{}\tgold={gold:?} got={mentions:?}",
                    understanding.intent, utterance.text
                );
            }
        }
    }
}
