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
    let chipotle = evaluate_chipotle(&args.data)?;
    if let Some(chipotle) = &chipotle {
        println!(
            "order parsing (utterances written from Chipotle's real orders, {} carts): exact whole-cart match {} of {} ({}.{}%)",
            chipotle.total,
            chipotle.exact,
            chipotle.total,
            chipotle.exact_per_mille / 10,
            chipotle.exact_per_mille % 10
        );
        for miss in chipotle.misses.iter().take(CHIPOTLE_MISSES_SHOWN) {
            println!("  missed: {:?} read as {:?} with {} line(s)", miss.text, miss.intent, miss.got.len());
        }
    }
    println!("{} utterances read in {} ms", utterances.len(), elapsed.as_millis());
    if args.json {
        let out = serde_json::json!({
            "report": report,
            "orders_exact": orders.exact,
            "orders_total": orders.total,
            "chipotle_orders_exact": chipotle.as_ref().map(|report| report.exact),
            "chipotle_orders_total": chipotle.as_ref().map(|report| report.total),
        });
        println!("{}", serde_json::to_string(&out)?);
    }
    Ok(())
}

/// Chipotle orders turned into utterances for the evaluation (of the file's ~1,800).
const CHIPOTLE_ORDERS_EVALUATED: usize = 1_000;
/// Misses printed under the Chipotle figure, to show what fails.
const CHIPOTLE_MISSES_SHOWN: usize = 5;

/// Whole-cart exact match on utterances written from Chipotle's real orders (item, quantity and
/// chosen options per line) against the menu derived from them; `None` when the data folder has
/// no Chipotle files.
fn evaluate_chipotle(data: &Path) -> anyhow::Result<Option<lantern_nlu::orders::OrderReport>> {
    let menu_file = data.join("catalogs/chipotle_menu_derived.csv");
    let orders_file = data.join("catalogs/chipotle_orders.tsv");
    let (Ok(menu_csv), Ok(orders_tsv)) =
        (std::fs::read_to_string(&menu_file), std::fs::read_to_string(&orders_file))
    else {
        return Ok(None);
    };
    let menu = lantern_nlu::orders::chipotle_menu(&menu_csv)
        .with_context(|| format!("in {}", menu_file.display()))?;
    let merchant = MerchantId::new(2);
    let mut lexicon = Lexicon::new();
    lexicon.upsert_merchant(merchant, "Chipotle", &menu);
    lexicon.prepare();
    let orders =
        lantern_nlu::orders::chipotle_orders(&menu, merchant, &orders_tsv, CHIPOTLE_ORDERS_EVALUATED);
    Ok(Some(lantern_nlu::orders::evaluate_generated(&lexicon, merchant, &orders)))
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
    /// Whole conversations run through the agent, the in-process gateway and the durable ledger
    /// (each a new shopper: coupons, an order, checkout, yes, tracking); 0 skips this part.
    #[arg(long, default_value_t = 4_000)]
    conversations: usize,
    /// Conversations in progress at once.
    #[arg(long, default_value_t = 32)]
    concurrent: usize,
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
    let dialog = if args.conversations > 0 { Some(bench_dialog(args, p99_us)?) } else { None };
    if args.json {
        let out = serde_json::json!({
            "dialog": dialog,
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

/// Two conversations, alternated: Chinese at the tea shop, English at the coffee shop. Each
/// ends with an order placed on "yes" to the quote just shown.
const DIALOG_SCRIPTS: [&[&str]; 2] = [
    &["来两杯珍珠奶茶 少糖去冰", "用券", "show my cart", "checkout", "yes", "where is my order"],
    &[
        "two large americanos and a blueberry muffin",
        "remove the muffin",
        "use coupon",
        "checkout",
        "yes",
        "thanks",
    ],
];

/// Figures of whole dialog turns.
#[derive(Debug, serde::Serialize)]
struct DialogFigures {
    conversations: usize,
    turns: usize,
    orders_placed: usize,
    turns_per_s: f64,
    cpu_us_per_turn: f64,
    turns_per_cpu_s: f64,
    p50_us: f64,
    p99_us: f64,
    p99_without_writes_us: f64,
    p99_with_writes_us: f64,
    would_ask_model_per_order: f64,
    p99_ratio_to_understanding: f64,
}

/// Whole turns: the agent, the gateway's `Shop` (admission, reads, quotes, placements) and the
/// durable ledger (fsync per batch) in this process, over the same 10,000-item catalogs. The
/// agent and gateway run on one thread; the ledger on its own two.
fn bench_dialog(args: &AgentBenchArgs, understanding_p99_us: f64) -> anyhow::Result<DialogFigures> {
    use lantern_core::{Capacity, Merchant, Money, Validity};
    use lantern_ledger::Command;

    let data = std::env::temp_dir().join(format!("lantern-bench-agent-{}", std::process::id()));
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let (sequencer, _) = crate::node::start(
        &data,
        OpenMode::Create,
        Durability::Full,
        Arc::clone(&clock),
        crate::serve::IDLE_TICK_MS,
        args.conversations,
    )?;
    let handle = sequencer.handle();
    // Shops that are never full: the benchmark times turns, not a busy shop's refusal.
    let capacity = Capacity::new(lantern_core::ORDERS_PER_MINUTE_MAX, lantern_core::OPEN_ORDERS_MAX)?;
    for (merchant, name, catalog) in crate::world::bench_catalogs(args.items)? {
        let catalog_id = catalog.id();
        handle.submit_blocking(Command::PublishCatalog { catalog: Arc::new(catalog) })?;
        let merchant = Merchant::new(merchant, name, catalog_id, capacity)?;
        handle.submit_blocking(Command::RegisterMerchant { merchant })?;
    }
    let now = clock.now();
    let validity = Validity::new(now, now.plus_ms(30 * 24 * 60 * 60 * 1000))?;
    let spec = crate::world::festival_campaign(Money::from_yuan(3_000_000_000), validity);
    handle.submit_blocking(Command::CreateCampaign { spec })?;

    let mut config = GatewayConfig::default_for_serve();
    // Every conversation comes from this one process: no per-IP or per-shopper rate limit.
    config.admission.ip_bucket.per_second = 0;
    config.admission.shopper_bucket.per_second = 0;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let signer = lantern_auth::Signer::new(&[7; 32])?;
    let (app, agent) = runtime.block_on(async {
        let app = App::new(config, handle, signer, Arc::clone(&clock));
        let shop = Arc::new(GatewayShop::new(Arc::clone(&app), std::net::Ipv4Addr::LOCALHOST.into()));
        let agent = Agent::new(shop, Arc::clone(&app.catalogs.lexicon), None, app.config.agent.clone());
        (app, Arc::new(agent))
    });

    let progress = indicatif::ProgressBar::new(args.conversations as u64)
        .with_style(indicatif::ProgressStyle::with_template("{msg} {wide_bar} {pos}/{len} conversations")?)
        .with_message("whole dialog turns");
    let cpu_before = process_cpu_us();
    let started = Instant::now();
    let (all, without_writes, with_writes, orders_placed, wanted_model) = runtime.block_on(async {
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..args.concurrent.max(1) {
            let agent = Arc::clone(&agent);
            let next = Arc::clone(&next);
            let progress = progress.clone();
            let conversations = args.conversations;
            tasks.spawn(async move {
                let histogram = || hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 2);
                let (mut all, mut reads, mut writes) = (histogram()?, histogram()?, histogram()?);
                let (mut placed, mut wanted_model) = (0usize, 0usize);
                loop {
                    let conversation = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if conversation >= conversations {
                        break;
                    }
                    let shopper = ShopperId::new(conversation as u64 + 1);
                    let mut session = Session::new(&format!("bench-{conversation}"));
                    for message in DIALOG_SCRIPTS[conversation % DIALOG_SCRIPTS.len()] {
                        let began = Instant::now();
                        let outcome = agent.turn(&mut session, shopper, message, &mut |_| {}).await;
                        let us = u64::try_from(began.elapsed().as_micros()).unwrap_or(u64::MAX).max(1);
                        all.saturating_record(us);
                        // Claiming, quoting (which holds the coupon) and placing wait for fsync.
                        let writes_ledger = matches!(*message, "用券" | "use coupon" | "checkout" | "yes");
                        if writes_ledger {
                            writes.saturating_record(us)
                        } else {
                            reads.saturating_record(us)
                        }
                        placed += usize::from(outcome.placed.is_some());
                        wanted_model += usize::from(outcome.wanted_planner);
                    }
                    progress.inc(1);
                }
                anyhow::Ok((all, reads, writes, placed, wanted_model))
            });
        }
        let histogram = || hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 2);
        let (mut all, mut reads, mut writes) = (histogram()?, histogram()?, histogram()?);
        let (mut placed, mut wanted_model) = (0usize, 0usize);
        while let Some(joined) = tasks.join_next().await {
            let (a, r, w, p, m) = joined??;
            all.add(a)?;
            reads.add(r)?;
            writes.add(w)?;
            placed += p;
            wanted_model += m;
        }
        anyhow::Ok((all, reads, writes, placed, wanted_model))
    })?;
    let elapsed = started.elapsed();
    let cpu_us = process_cpu_us().saturating_sub(cpu_before);
    progress.finish_and_clear();
    drop(app);
    drop(agent);
    drop(runtime);
    sequencer.stop();
    std::fs::remove_dir_all(&data).ok();

    let turns = all.len() as usize;
    let us =
        |histogram: &hdrhistogram::Histogram<u64>, quantile| histogram.value_at_quantile(quantile) as f64;
    let figures = DialogFigures {
        conversations: args.conversations,
        turns,
        orders_placed,
        turns_per_s: turns as f64 / elapsed.as_secs_f64(),
        cpu_us_per_turn: cpu_us as f64 / turns.max(1) as f64,
        turns_per_cpu_s: turns as f64 / (cpu_us.max(1) as f64 / 1e6),
        p50_us: us(&all, 0.50),
        p99_us: us(&all, 0.99),
        p99_without_writes_us: us(&without_writes, 0.99),
        p99_with_writes_us: us(&with_writes, 0.99),
        would_ask_model_per_order: wanted_model as f64 / orders_placed.max(1) as f64,
        p99_ratio_to_understanding: us(&all, 0.99) / understanding_p99_us.max(0.001),
    };
    println!();
    println!(
        "whole dialog turns: agent + gateway shop + durable ledger in this process, {} conversations, {} at once",
        figures.conversations, args.concurrent
    );
    println!("| figure | measured | target |");
    println!("|---|---|---|");
    println!(
        "| turns, orders placed | {} turns, {} orders | every conversation orders |",
        figures.turns, figures.orders_placed
    );
    println!("| turns per second (wall) | {:.0} | |", figures.turns_per_s);
    println!(
        "| CPU per turn, every thread (agent, gateway, ledger, fsync) | {:.0} µs = {:.0} turns per CPU-second | ≥ 5,000 |",
        figures.cpu_us_per_turn, figures.turns_per_cpu_s
    );
    println!("| turn latency p50 / p99 (all) | {:.0} / {:.0} µs | |", figures.p50_us, figures.p99_us);
    println!(
        "| p99 of turns that only read (add to cart, cart, status) | {:.0} µs | < 2,000 µs |",
        figures.p99_without_writes_us
    );
    println!(
        "| p99 of turns that wait for a durable write (claim, checkout, yes) | {:.0} µs | |",
        figures.p99_with_writes_us
    );
    println!(
        "| messages a model would be asked, per completed order | {:.2} | |",
        figures.would_ask_model_per_order
    );
    println!(
        "| whole-turn p99 ÷ understanding p99 (same run) | {:.0} | |",
        figures.p99_ratio_to_understanding
    );
    anyhow::ensure!(
        figures.orders_placed == args.conversations,
        "only {} of {} conversations placed their order; the dialog did not go as scripted",
        figures.orders_placed,
        args.conversations
    );
    Ok(figures)
}

/// CPU time this process has used so far (user + system, every thread), in microseconds, from
/// /proc/self/stat (clock ticks of 1/100 s, Linux's USER_HZ); 0 where there is no /proc.
fn process_cpu_us() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0 };
    // Fields after the command name (which may hold spaces) start at its closing parenthesis.
    let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else { return 0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |index: usize| fields.get(index).and_then(|field| field.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) * 10_000
}
