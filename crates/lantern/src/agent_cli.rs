//! The agent's commands: `parse` (what the fast path reads from one message, against any menu
//! file), `eval` (accuracy on the shared utterance sets, held-out split apart), `chat` (the agent
//! in the terminal over an in-process gateway) and `bench agent` (fast-path turn latency).

// Benchmark figures (rates, microseconds) are printed as decimals; no money is computed here.
#![allow(clippy::float_arithmetic)]

use std::io::{BufRead, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, bail};
use lantern_agent::{Agent, AgentEvent, Session};
use lantern_catalog_io::Menu;
use lantern_core::{CatalogId, MerchantId, ShopperId};
use lantern_gateway::{App, GatewayConfig, GatewayShop};
use lantern_nlu::eval::{LabelledUtterance, crosswoz_dish_menus, evaluate, parse_jsonl, render_table};
use lantern_nlu::{Context, Lexicon, understand};
use lantern_sequencer::{Clock, SystemClock};
use lantern_store::{Durability, OpenMode};

#[derive(Debug, clap::Args)]
pub struct ParseArgs {
    /// A menu file: JSON (`lantern.menu/1`) or CSV (by its extension), as documented in
    /// crates/lantern-catalog-io/FORMAT.md.
    #[arg(long)]
    catalog: PathBuf,
    /// The shop's name, as shoppers would say it.
    #[arg(long, default_value = "the shop")]
    merchant_name: String,
    /// The shopper's message, English or Chinese.
    utterance: String,
}

fn read_menu(path: &Path) -> anyhow::Result<Menu> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let csv = path.extension().is_some_and(|extension| extension.eq_ignore_ascii_case("csv"));
    let menu = if csv {
        lantern_catalog_io::parse_csv(CatalogId::new(1), &text)
    } else {
        lantern_catalog_io::parse_json(CatalogId::new(1), &text)
    };
    menu.with_context(|| format!("{} is not a valid menu", path.display()))
}

/// Prints, as JSON, the intent and the cart lines the message would build (nothing is placed).
pub fn parse(args: &ParseArgs) -> anyhow::Result<()> {
    let menu = read_menu(&args.catalog)?;
    let merchant = MerchantId::new(1);
    let mut lexicon = Lexicon::new();
    lexicon.upsert_merchant(merchant, &args.merchant_name, &menu);
    let context = Context { merchant: Some(merchant), ..Context::default() };
    let understanding = understand(&lexicon, &context, &args.utterance);
    let catalog = menu.catalog();
    let option_name = |item: &lantern_core::Item, option: lantern_core::OptionId| {
        item.option_groups
            .iter()
            .flat_map(|group| &group.choices)
            .find(|choice| choice.id == option)
            .map(|choice| choice.name.clone())
    };
    let lines: Vec<serde_json::Value> = understanding
        .lines
        .iter()
        .map(|line| {
            let item = catalog.item(line.item);
            let named = |option| item.and_then(|item| option_name(item, option));
            serde_json::json!({
                "item_id": line.item.get(),
                "item_name": item.map(|item| item.name.clone()),
                "quantity": line.quantity,
                "size": line.size.and_then(named),
                "options_added": line.options_added.iter().map(|option| named(*option)).collect::<Vec<_>>(),
                "options_removed": line.options_removed,
                "options_unknown": line.options_unknown,
            })
        })
        .collect();
    let out = serde_json::json!({
        "intent": understanding.intent.as_str(),
        "language": understanding.language,
        "confidence_pct": understanding.confidence_pct,
        "lines": lines,
        "unsure": understanding.unsure,
        "mentions": understanding.mentions,
        "coupon_code": understanding.coupon_code,
        "order_ref": understanding.order_ref,
        "address": understanding.address,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// The shared data folder (with `utterances/` and `catalogs/`).
    #[arg(long, default_value = "../shared/data")]
    data: PathBuf,
    /// Print the report as one JSON object on the last line.
    #[arg(long)]
    json: bool,
}

/// The utterance sets the evaluation reads, each `utterances/<set>/<intent>.jsonl`.
const EVAL_SETS: [&str; 3] = ["hwu64", "clinc150", "crosswoz_zh"];

fn load_utterances(data: &Path) -> anyhow::Result<Vec<LabelledUtterance>> {
    let mut all = Vec::new();
    for set in EVAL_SETS {
        let folder = data.join("utterances").join(set);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
            .with_context(|| format!("cannot read {}", folder.display()))?
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.extension().is_some_and(|extension| extension == "jsonl"))
            .collect();
        files.sort();
        for file in files {
            let intent = file.file_stem().map(|stem| stem.to_string_lossy().into_owned()).unwrap_or_default();
            let text =
                std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            all.extend(parse_jsonl(set, &intent, &text).with_context(|| format!("in {}", file.display()))?);
        }
    }
    Ok(all)
}

/// Intent accuracy per set and intent, out-of-scope rejection and slot F1, train and held-out
/// apart; then whole-cart exact match on our own order set.
pub fn eval(args: &EvalArgs) -> anyhow::Result<()> {
    if !args.data.join("utterances").is_dir() {
        bail!("{} has no utterances/ folder; pass --data with the shared data folder", args.data.display());
    }
    let mut lexicon = lantern_nlu::orders::demo_lexicon()?;
    let dishes = args.data.join("catalogs/crosswoz_beijing_restaurant_dishes.csv");
    if let Ok(text) = std::fs::read_to_string(&dishes) {
        for (merchant, name, menu) in crosswoz_dish_menus(&text)? {
            lexicon.upsert_merchant(merchant, &name, &menu);
        }
    }
    lexicon.prepare();
    let utterances = load_utterances(&args.data)?;
    let started = Instant::now();
    let report = evaluate(&lexicon, &utterances);
    let elapsed = started.elapsed();
    println!("{}", render_table(&report));
    let demo = lantern_nlu::orders::demo_menu()?;
    let orders = lantern_nlu::orders::evaluate_orders(
        &lantern_nlu::orders::demo_lexicon()?,
        lantern_nlu::orders::DEMO_MERCHANT,
        &demo,
        lantern_nlu::orders::ORDER_CASES,
    )?;
    println!(
        "order parsing (our own set, {} carts): exact whole-cart match {} of {} ({}.{}%)",
        orders.total,
        orders.exact,
        orders.total,
        orders.exact_per_mille / 10,
        orders.exact_per_mille % 10
    );
    println!("{} utterances read in {} ms", utterances.len(), elapsed.as_millis());
    if args.json {
        let out = serde_json::json!({
            "report": report,
            "orders_exact": orders.exact,
            "orders_total": orders.total,
        });
        println!("{}", serde_json::to_string(&out)?);
    }
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct ChatArgs {
    /// Data directory (created with the demo shops when new). Default: a fresh temporary one.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Who is chatting.
    #[arg(long, default_value = "shp_1")]
    shopper: String,
}

/// The agent in the terminal, over the demo gateway in this process (no server needed).
pub fn chat(args: &ChatArgs) -> anyhow::Result<()> {
    let shopper = ShopperId::parse(&args.shopper).map_err(|error| anyhow::anyhow!("--shopper: {error}"))?;
    let data = match &args.data {
        Some(data) => data.clone(),
        None => std::env::temp_dir().join(format!("lantern-chat-{}", std::process::id())),
    };
    let fresh = !lantern_store::SqliteStore::database_exists(&data);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mode = if fresh { OpenMode::Create } else { OpenMode::Existing };
    let (sequencer, _) =
        crate::node::start(&data, mode, Durability::Full, Arc::clone(&clock), crate::serve::IDLE_TICK_MS, 0)?;
    let handle = sequencer.handle();
    if fresh {
        crate::serve::seed_demo(&handle, clock.now())?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let signer = lantern_auth::Signer::new(&[7; 32])?;
    let app = App::new(GatewayConfig::default_for_serve(), handle, signer, clock);
    let shop = Arc::new(GatewayShop::new(Arc::clone(&app), std::net::Ipv4Addr::LOCALHOST.into()));
    let agent = Agent::new(shop, Arc::clone(&app.catalogs.lexicon), None, app.config.agent.clone());
    let mut session = Session::new("terminal");
    println!(
        "Lantern chat (demo shops, {}). Try: 两杯珍珠奶茶 少糖 | a large latte with oat milk | checkout | yes. Ctrl-D ends.",
        data.display()
    );
    let stdin = std::io::stdin();
    let mut line = String::new();
    loop {
        print!("> ");
        std::io::stdout().flush()?;
        line.clear();
        if stdin.lock().read_line(&mut line)? == 0 {
            break;
        }
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        runtime
            .block_on(agent.turn(&mut session, shopper, text, &mut |event: AgentEvent| print_event(&event)));
    }
    drop(runtime);
    sequencer.stop();
    Ok(())
}

fn print_event(event: &AgentEvent) {
    match event {
        AgentEvent::Text { text } => println!("{text}"),
        other => {
            if let Ok(value) = serde_json::to_value(other) {
                println!("  [{}] {}", value["type"].as_str().unwrap_or("event"), value);
            }
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct AgentBenchArgs {
    /// Items on the generated catalog (spread over shops of 100 items).
    #[arg(long, default_value_t = 10_000)]
    items: usize,
    /// Messages understood per round.
    #[arg(long, default_value_t = 200_000)]
    turns: usize,
    /// Print the figures as one JSON object on the last line.
    #[arg(long)]
    json: bool,
}

/// The baseline scans the whole catalog per message, so it reads this many times fewer.
const BASELINE_TURNS_DIVISOR: usize = 100;

/// Ordinary shopping messages, English and Chinese: the mix the benchmark reads.
const BENCH_MESSAGES: [&str; 12] = [
    "two large lattes and a blueberry muffin",
    "来两杯珍珠奶茶 少糖去冰",
    "can I get an americano with oat milk",
    "remove the muffin",
    "show my cart",
    "what coupons do I have",
    "checkout",
    "yes",
    "the same again",
    "cancel it",
    "where is my order",
    "我要一杯大杯拿铁 加浓缩",
];

/// Fast-path understanding against a large catalog: turns per second on one core and the
/// latency of each message, and how many would go to a model.
pub fn bench(args: &AgentBenchArgs) -> anyhow::Result<()> {
    let (lexicon, names, build_ms) = crate::world::bench_lexicon(args.items)?;
    let context = Context { merchant: Some(MerchantId::new(1)), ..Context::default() };
    let mut latencies = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 10_000_000, 2)?;
    let threshold = lantern_agent::AgentConfig::default().llm_below_confidence_pct;
    let mut unsure = 0usize;
    let started = Instant::now();
    for turn in 0..args.turns {
        let message = BENCH_MESSAGES[turn % BENCH_MESSAGES.len()];
        let began = Instant::now();
        let understanding = understand(&lexicon, &context, message);
        latencies.saturating_record(u64::try_from(began.elapsed().as_nanos()).unwrap_or(u64::MAX).max(1));
        if understanding.confidence_pct < threshold {
            unsure += 1;
        }
    }
    let elapsed = started.elapsed();
    let turns_per_s = args.turns as f64 / elapsed.as_secs_f64();
    // Baseline, same run: what a fast path without the lexicon's automaton would do, look for
    // every item's name (or one of its words) in the message, item by item.
    let baseline_turns = (args.turns / BASELINE_TURNS_DIVISOR).max(BENCH_MESSAGES.len());
    let baseline_started = Instant::now();
    let mut baseline_hits = 0usize;
    for turn in 0..baseline_turns {
        let message = BENCH_MESSAGES[turn % BENCH_MESSAGES.len()].to_lowercase();
        baseline_hits += names
            .iter()
            .filter(|name| name.split(' ').any(|word| word.len() > 2 && message.contains(word)))
            .count();
    }
    let baseline_turns_per_s = baseline_turns as f64 / baseline_started.elapsed().as_secs_f64();
    std::hint::black_box(baseline_hits);
    let p50_us = latencies.value_at_quantile(0.50) as f64 / 1000.0;
    let p99_us = latencies.value_at_quantile(0.99) as f64 / 1000.0;
    let max_us = latencies.max() as f64 / 1000.0;
    // A completed order in the mix takes an order message, a checkout and a yes.
    let orders = args.turns / BENCH_MESSAGES.len();
    let llm_calls_per_order = if orders > 0 { unsure as f64 / orders as f64 } else { 0.0 };
    println!(
        "lantern bench agent: fast-path understanding, one thread, {} items ({} ms to build the lexicon)",
        args.items, build_ms
    );
    println!("| figure | measured | target |");
    println!("|---|---|---|");
    println!("| turns per second (one core) | {turns_per_s:.0} | ≥ 5,000 |");
    println!("| baseline: every item name scanned per message, turns/s | {baseline_turns_per_s:.0} | |");
    println!("| fast path ÷ baseline | {:.1} | |", turns_per_s / baseline_turns_per_s);
    println!(
        "| turn latency p50 / p99 / max | {p50_us:.1} / {p99_us:.1} / {max_us:.1} µs | p99 < 2,000 µs |"
    );
    println!(
        "| messages a model would be asked (confidence < {threshold} %) | {unsure} of {} | |",
        args.turns
    );
    println!("| model calls per completed order (this mix) | {llm_calls_per_order:.2} | |");
    if args.json {
        let out = serde_json::json!({
            "items": args.items,
            "turns": args.turns,
            "turns_per_s": turns_per_s,
            "baseline_turns_per_s": baseline_turns_per_s,
            "ratio_vs_baseline": turns_per_s / baseline_turns_per_s,
            "p50_us": p50_us,
            "p99_us": p99_us,
            "max_us": max_us,
            "llm_calls_per_order": llm_calls_per_order,
        });
        println!("{out}");
    }
    Ok(())
}
