//! `lantern bench search`: what indexing shops for search costs, one tantivy commit per shop
//! (how the gateway indexed a start, a menu upload and each registration until session 12)
//! against batches of `SEARCH_BATCH_SHOPS_MAX` (how it does now), in the same run; and the
//! gateway's own start-up indexing (`Catalogs::from_ledger`) over a ledger of that many shops.

#![allow(clippy::float_arithmetic)]

use std::time::Instant;

use anyhow::Context as _;
use lantern_catalog_io::Menu;
use lantern_core::{Capacity, MerchantId, Timestamp};
use lantern_gateway::catalogs::{Catalogs, SEARCH_BATCH_SHOPS_MAX};
use lantern_ledger::Ledger;
use lantern_search::SearchIndex;

use crate::{node, world};

#[derive(Debug, clap::Args)]
pub struct SearchBenchArgs {
    /// Shops to index (the gateway indexes at most 2,000 for search).
    #[arg(long, default_value_t = 2_000)]
    shops: u64,
    /// Print the figures as one JSON object on the last line.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &SearchBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!((1..=100_000).contains(&args.shops), "--shops must be 1..=100000, got {}", args.shops);
    let menu = Menu::new(world::tea_menu(), Vec::new()).context("the demo tea menu")?;
    let names: Vec<(MerchantId, String)> =
        (1..=args.shops).map(|id| (MerchantId::new(id), format!("茶颜 Tea House #{id}"))).collect();
    println!(
        "lantern bench search: {} shops of the {}-item tea menu",
        args.shops,
        menu.catalog().items().len()
    );

    let mut one_by_one = SearchIndex::new()?;
    let started = Instant::now();
    for (merchant, name) in &names {
        one_by_one.upsert_menu(*merchant, name, &menu)?;
    }
    let one_by_one_ms = started.elapsed().as_secs_f64() * 1000.0;

    let mut batched = SearchIndex::new()?;
    let started = Instant::now();
    for batch in names.chunks(SEARCH_BATCH_SHOPS_MAX) {
        batched.upsert_menus(batch.iter().map(|(merchant, name)| (*merchant, name.as_str(), &menu)))?;
    }
    let batched_ms = started.elapsed().as_secs_f64() * 1000.0;
    anyhow::ensure!(batched.item_count() == one_by_one.item_count(), "the two indexes differ");

    // The gateway's start: the same shops in a ledger, indexed for search and the agent's lexicon.
    let mut ledger = Ledger::new(node::ledger_config(0));
    let capacity = Capacity::new(30, 40)?;
    for command in world::shop_commands(args.shops, 0, capacity) {
        ledger.apply(&command, Timestamp::from_ms(0)).map_err(|error| anyhow::anyhow!("seeding: {error}"))?;
    }
    let started = Instant::now();
    let catalogs = Catalogs::from_ledger(&ledger);
    let start_ms = started.elapsed().as_secs_f64() * 1000.0;
    anyhow::ensure!(!catalogs.search("pearl milk tea", None, 1)?.is_empty(), "the start indexed nothing");

    let ratio = one_by_one_ms / batched_ms.max(1e-9);
    println!(
        "  one commit per shop:           {one_by_one_ms:>9.1} ms ({:.2} ms a shop)",
        one_by_one_ms / args.shops as f64
    );
    println!(
        "  batches of {SEARCH_BATCH_SHOPS_MAX:>4} shops a commit:  {batched_ms:>9.1} ms ({:.3} ms a shop)",
        batched_ms / args.shops as f64
    );
    println!("  one per shop ÷ batched:        {ratio:>9.1}x");
    println!("  gateway start (Catalogs::from_ledger, search and lexicon): {start_ms:.1} ms");
    if args.json {
        let summary = serde_json::json!({
            "shops": args.shops,
            "one_commit_per_shop_ms": one_by_one_ms,
            "batched_ms": batched_ms,
            "batch_shops": SEARCH_BATCH_SHOPS_MAX,
            "one_by_one_over_batched": ratio,
            "gateway_start_index_ms": start_ms,
        });
        println!("{summary}");
    }
    Ok(())
}
