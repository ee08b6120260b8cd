//! `lantern bench ledger`: coupon orders through the durable sequencer.
//!
//! A coupon order claims the coupon, quotes the cart (holding the coupon) and places the order,
//! acknowledged only after its batch is durable. By default it is one command
//! (`Command::CouponOrder`, one round trip and one journal entry, as the gateway's
//! `POST /v1/coupon_orders`); `--steps three` sends the three commands as an agent that shows the
//! quote first would (two round trips: the claim and the quote travel together). Producers are
//! tokio tasks, as the HTTP gateway's requests are.

// Throughput and latency figures are floats; money never is (it stays `Money` in fen).
#![allow(clippy::float_arithmetic)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::Context;
use hdrhistogram::Histogram;
use lantern_core::pricing::CartLine;
use lantern_core::{
    CampaignId, Capacity, IdempotencyKey, ItemId, MerchantId, Money, OptionId, OrderChannel, ShopperId,
};
use lantern_ledger::{Command, CouponChoice, Outcome};
use lantern_sequencer::{BackupState, ManualClock, SequencerHandle, SubmitError};
use lantern_store::{Durability, OpenMode};

use lantern_surge::{Zipf, mix};

use crate::{node, world};

/// Most concurrent producers a run may use.
const PRODUCERS_MAX: usize = 65_536;
/// Nine hours: the surge's simulated span.
const SURGE_SPAN_MS: u64 = 9 * 60 * 60 * 1000;
const CAMPAIGN: CampaignId = CampaignId::new(1);

#[derive(Debug, clap::Args)]
pub struct LedgerBenchArgs {
    /// Coupon orders per run (a run with few producers does at most 2,000 per producer, so a
    /// single sequential producer finishes in seconds).
    #[arg(long, default_value_t = 200_000)]
    orders: u64,
    /// Concurrent producers, one run each (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,64,1024")]
    producers: Vec<usize>,
    /// Merchant outlets in the runs (Zipf-distributed demand).
    #[arg(long, default_value_t = 1_000)]
    merchants: u64,
    /// Orders in the surge run (DESIGN.md: 10,000,000).
    #[arg(long, default_value_t = 10_000_000)]
    surge_orders: u64,
    /// Shoppers in the surge run (DESIGN.md: about 8,000,000).
    #[arg(long, default_value_t = 8_000_000)]
    surge_shoppers: u64,
    /// Outlets in the surge run (DESIGN.md: 300,000).
    #[arg(long, default_value_t = 300_000)]
    surge_merchants: u64,
    /// Skip the surge run.
    #[arg(long)]
    skip_surge: bool,
    /// Back the journal up when the surge run is half done, as `POST /v1/ops/backups` does,
    /// and print how long the backup took and the orders/s while it ran, as a ratio of the
    /// rest of the run.
    #[arg(long)]
    backup_mid_surge: bool,
    /// Also run ../shared/peers/redis.sh (Redis + Lua, appendfsync always) in the same session
    /// and print Lantern's durable throughput as a ratio of it.
    #[arg(long)]
    peer_redis: Option<PathBuf>,
    /// Where the runs' temporary data directories go (default: the system temp directory).
    #[arg(long)]
    data_root: Option<PathBuf>,
    /// How a coupon order travels: `one` command (claim, quote and place in one round trip, as
    /// `POST /v1/coupon_orders`) or `three` (claim and quote in one round trip, then the order:
    /// what a chat that shows the quote before the shopper says yes sends).
    #[arg(long, value_enum, default_value_t = Steps::One)]
    steps: Steps,
    /// Print every figure as one JSON object on the last line.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Steps {
    One,
    Three,
}

impl Steps {
    fn describe(self) -> &'static str {
        match self {
            Steps::One => "one command (claim + quote + place), one round trip",
            Steps::Three => "claim + quote, then place: two round trips",
        }
    }
}

/// One run's figures.
#[derive(Debug, Clone)]
struct RunFigures {
    label: String,
    producers: usize,
    durable: bool,
    n_orders: u64,
    n_refused: u64,
    elapsed_s: f64,
    orders_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    peak_rss_bytes: u64,
    n_batches: u64,
    commit_ms_mean: f64,
    wallet_bytes_per_shopper: f64,
    order_bytes_per_order: f64,
    idempotency_bytes_per_order: f64,
    n_shoppers: u64,
    backup: Option<BackupFigures>,
}

/// A backup taken in the middle of a run.
#[derive(Debug, Clone, Copy)]
struct BackupFigures {
    seconds: f64,
    batches: u64,
    bytes: u64,
    /// Orders started while it ran.
    orders_during: u64,
    done: bool,
}

impl BackupFigures {
    /// Orders/s while the backup ran, over orders/s in the rest of the run.
    fn throughput_ratio(&self, run: &RunFigures) -> f64 {
        let during = self.orders_during as f64 / self.seconds.max(1e-9);
        let rest_s = (run.elapsed_s - self.seconds).max(1e-9);
        let rest = run.n_orders.saturating_sub(self.orders_during) as f64 / rest_s;
        during / rest.max(1e-9)
    }
}

#[derive(Debug, Clone, Copy)]
struct Workload {
    n_orders: u64,
    n_shoppers: u64,
    n_merchants: u64,
    producers: usize,
    durable: bool,
    steps: Steps,
}

pub fn run(args: &LedgerBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.producers.iter().all(|producers| (1..=PRODUCERS_MAX).contains(producers)),
        "--producers must each be 1..={PRODUCERS_MAX}"
    );
    anyhow::ensure!(args.orders > 0 && args.merchants > 0, "--orders and --merchants must be positive");
    let mut runs = Vec::new();
    println!("lantern bench ledger: coupon orders as {}, acknowledged after fsync", args.steps.describe());
    for durable in [true, false] {
        for &producers in &args.producers {
            let n_orders = args.orders.min(2_000 * producers as u64);
            let workload = Workload {
                n_orders,
                n_shoppers: n_orders,
                n_merchants: args.merchants,
                producers,
                durable,
                steps: args.steps,
            };
            let figures = run_workload(args, workload, format!("{producers} producers"), false, false)?;
            print_run(&figures);
            runs.push(figures);
        }
    }
    let surge = if args.skip_surge {
        None
    } else {
        let workload = Workload {
            n_orders: args.surge_orders,
            n_shoppers: args.surge_shoppers.min(args.surge_orders),
            n_merchants: args.surge_merchants,
            producers: 1_024,
            durable: true,
            steps: args.steps,
        };
        println!(
            "surge: {} orders from {} shoppers at {} outlets, durable, 1024 producers",
            workload.n_orders, workload.n_shoppers, workload.n_merchants
        );
        let figures = run_workload(args, workload, "surge".into(), true, args.backup_mid_surge)?;
        print_run(&figures);
        if let Some(backup) = &figures.backup {
            println!(
                "  backup mid-surge: {} ({} batches, {:.0} MiB) in {:.2} s, orders meanwhile at {:.2} of the rest of the run's rate",
                if backup.done { "done" } else { "FAILED" },
                backup.batches,
                backup.bytes as f64 / (1024.0 * 1024.0),
                backup.seconds,
                backup.throughput_ratio(&figures)
            );
        }
        println!(
            "  {:.1} s for {} orders: {:.0}x faster than the 9 real hours; hot state {:.1} bytes per shopper (wallets), orders {:.0} bytes each, idempotency {:.0} bytes each",
            figures.elapsed_s,
            figures.n_orders,
            SURGE_SPAN_MS as f64 / 1000.0 / figures.elapsed_s,
            figures.wallet_bytes_per_shopper,
            figures.order_bytes_per_order,
            figures.idempotency_bytes_per_order
        );
        Some(figures)
    };
    let peer = match &args.peer_redis {
        Some(script) => Some(run_peer(script)?),
        None => None,
    };
    let best_durable = runs.iter().filter(|run| run.durable).max_by(|a, b| a.producers.cmp(&b.producers));
    let best_fsync_off = runs.iter().filter(|run| !run.durable).max_by(|a, b| a.producers.cmp(&b.producers));
    if let (Some(durable), Some(fsync_off)) = (best_durable, best_fsync_off) {
        println!(
            "durable / fsync-off throughput at {} producers: {:.2}",
            durable.producers,
            durable.orders_per_s / fsync_off.orders_per_s
        );
    }
    if let (Some(durable), Some(peer_ops)) = (best_durable, peer) {
        println!(
            "lantern durable coupon orders/s ÷ redis+lua (appendfsync always) claim+order ops/s, same machine, same session: {:.2}",
            durable.orders_per_s / peer_ops
        );
    }
    if args.json {
        print_json(args.steps, &runs, surge.as_ref(), peer);
    }
    Ok(())
}

fn print_run(figures: &RunFigures) {
    println!(
        "  {:<16} {:<9} {:>9} orders  {:>9.0} orders/s  p50 {:>7.2} ms  p99 {:>7.2} ms  peak {:>6} MiB  {} batches (commit {:.2} ms){}",
        figures.label,
        if figures.durable { "durable" } else { "fsync-off" },
        figures.n_orders,
        figures.orders_per_s,
        figures.p50_ms,
        figures.p99_ms,
        figures.peak_rss_bytes / (1024 * 1024),
        figures.n_batches,
        figures.commit_ms_mean,
        if figures.n_refused > 0 { format!("  {} refused", figures.n_refused) } else { String::new() }
    );
}

fn print_json(steps: Steps, runs: &[RunFigures], surge: Option<&RunFigures>, peer_ops_per_s: Option<f64>) {
    let run_json = |figures: &RunFigures| {
        serde_json::json!({
            "producers": figures.producers,
            "durable": figures.durable,
            "orders": figures.n_orders,
            "refused": figures.n_refused,
            "orders_per_s": figures.orders_per_s.round(),
            "p50_ms": figures.p50_ms,
            "p99_ms": figures.p99_ms,
            "peak_rss_bytes": figures.peak_rss_bytes,
            "batches": figures.n_batches,
        })
    };
    let headline = runs.iter().filter(|run| run.durable).max_by(|a, b| a.producers.cmp(&b.producers));
    let fsync_off = runs.iter().filter(|run| !run.durable).max_by(|a, b| a.producers.cmp(&b.producers));
    let mut summary = serde_json::json!({
        "orders_per_s": headline.map(|run| run.orders_per_s.round()),
        "p99_ms": headline.map(|run| run.p99_ms),
        "p50_ms": headline.map(|run| run.p50_ms),
        "producers": headline.map(|run| run.producers),
        "steps": if steps == Steps::One { "one" } else { "three" },
        "durable_over_fsync_off": headline.zip(fsync_off).map(|(durable, off)| durable.orders_per_s / off.orders_per_s),
        "runs": runs.iter().map(run_json).collect::<Vec<_>>(),
    });
    if let Some(surge) = surge {
        summary["surge_seconds"] = serde_json::json!(surge.elapsed_s);
        summary["surge_orders"] = serde_json::json!(surge.n_orders);
        summary["surge_shoppers"] = serde_json::json!(surge.n_shoppers);
        summary["surge_orders_per_s"] = serde_json::json!(surge.orders_per_s.round());
        summary["surge_p99_ms"] = serde_json::json!(surge.p99_ms);
        summary["surge_compression"] = serde_json::json!(SURGE_SPAN_MS as f64 / 1000.0 / surge.elapsed_s);
        summary["bytes_per_shopper"] = serde_json::json!(surge.wallet_bytes_per_shopper);
        summary["order_bytes_per_order"] = serde_json::json!(surge.order_bytes_per_order);
        summary["idempotency_bytes_per_order"] = serde_json::json!(surge.idempotency_bytes_per_order);
        summary["surge_peak_rss_bytes"] = serde_json::json!(surge.peak_rss_bytes);
        summary["surge_rss_bytes_per_shopper"] =
            serde_json::json!(surge.peak_rss_bytes as f64 / surge.n_shoppers.max(1) as f64);
        if let Some(backup) = &surge.backup {
            summary["backup_done"] = serde_json::json!(backup.done);
            summary["backup_seconds"] = serde_json::json!(backup.seconds);
            summary["backup_batches"] = serde_json::json!(backup.batches);
            summary["backup_bytes"] = serde_json::json!(backup.bytes);
            summary["backup_throughput_ratio"] = serde_json::json!(backup.throughput_ratio(surge));
        }
    }
    if let (Some(peer), Some(headline)) = (peer_ops_per_s, headline) {
        summary["peer_redis_ops_per_s"] = serde_json::json!(peer);
        summary["ratio_vs_peer_redis"] = serde_json::json!(headline.orders_per_s / peer);
    }
    println!("{summary}");
}

fn run_peer(script: &PathBuf) -> anyhow::Result<f64> {
    println!("peer: {} --fsync always", script.display());
    let output = std::process::Command::new("bash")
        .arg(script)
        .args(["--fsync", "always", "--requests", "200000"])
        .output()
        .with_context(|| format!("cannot run {}", script.display()))?;
    anyhow::ensure!(
        output.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().context("the peer printed nothing")?;
    let report: serde_json::Value = serde_json::from_str(last).context("the peer's last line is not JSON")?;
    println!("  {last}");
    report["ops_per_s"].as_f64().context("the peer's report has no ops_per_s")
}

fn run_workload(
    args: &LedgerBenchArgs,
    workload: Workload,
    label: String,
    progress: bool,
    backup_mid_run: bool,
) -> anyhow::Result<RunFigures> {
    let data = match &args.data_root {
        Some(root) => root.join(format!(
            "lantern-bench-{}-{}",
            std::process::id(),
            mix(workload.n_orders ^ workload.producers as u64)
        )),
        None => node::temp_data_dir("bench"),
    };
    let start_at = world::FESTIVAL_STARTS_AT.plus_ms(60_000);
    let clock = Arc::new(ManualClock::new(start_at));
    let durability = if workload.durable { Durability::Full } else { Durability::Off };
    // Sized for the run's reach, as an operator sizes a node for a campaign's expected orders.
    let expected_orders = usize::try_from(workload.n_orders)?;
    let (sequencer, _) = node::start(&data, OpenMode::Create, durability, clock.clone(), 0, expected_orders)?;
    let handle = sequencer.handle();
    seed(&handle, workload.n_merchants)?;
    let zipf = Arc::new(Zipf::new(workload.n_merchants));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(bench_worker_threads())
        .enable_all()
        .build()?;
    node::reset_peak_rss();
    let next_index = Arc::new(AtomicU64::new(0));
    let n_refused = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let bar = progress.then(|| {
        let bar = indicatif::ProgressBar::new(workload.n_orders);
        bar.set_style(
            indicatif::ProgressStyle::with_template("  {bar:40} {pos}/{len} orders  {per_sec}  eta {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let (histogram, backup): (Histogram<u32>, Option<BackupFigures>) = runtime.block_on(async {
        let tasks: Vec<_> = (0..workload.producers)
            .map(|_| {
                let handle = handle.clone();
                let clock = Arc::clone(&clock);
                let next_index = Arc::clone(&next_index);
                let n_refused = Arc::clone(&n_refused);
                let zipf = Arc::clone(&zipf);
                let bar = bar.clone();
                tokio::spawn(async move {
                    let mut histogram = Histogram::<u32>::new_with_bounds(1, 60_000_000, 2)?;
                    loop {
                        let index = next_index.fetch_add(1, Ordering::Relaxed);
                        if index >= workload.n_orders {
                            break;
                        }
                        // Simulated time runs through the 9 hours as the orders go through.
                        clock.set(start_at.plus_ms(index * SURGE_SPAN_MS / workload.n_orders));
                        let began = Instant::now();
                        if !coupon_order(&handle, workload, &zipf, index).await? {
                            n_refused.fetch_add(1, Ordering::Relaxed);
                        }
                        histogram.saturating_record(
                            u64::try_from(began.elapsed().as_micros()).unwrap_or(u64::MAX),
                        );
                        if let Some(bar) = &bar
                            && index.is_multiple_of(10_000)
                        {
                            bar.set_position(index);
                        }
                    }
                    anyhow::Ok(histogram)
                })
            })
            .collect();
        let backup = backup_mid_run.then(|| {
            let (handle, next_index) = (handle.clone(), Arc::clone(&next_index));
            tokio::spawn(backup_mid_run_of(
                handle,
                next_index,
                workload.n_orders,
                data.join("backups").join("mid-run"),
            ))
        });
        let mut merged = Histogram::<u32>::new_with_bounds(1, 60_000_000, 2)?;
        for task in tasks {
            merged.add(task.await??)?;
        }
        let backup = match backup {
            Some(task) => Some(task.await??),
            None => None,
        };
        anyhow::Ok((merged, backup))
    })?;
    let elapsed = started.elapsed();
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let peak_rss_bytes = node::peak_rss_bytes().unwrap_or(0);
    let estimate = handle.read(|ledger| ledger.memory_estimate());
    let counters = handle.counters();
    let n_batches = counters.n_batches.load(Ordering::Relaxed);
    let commit_ms_mean =
        counters.commit_ns_total.load(Ordering::Relaxed) as f64 / n_batches.max(1) as f64 / 1e6;
    sequencer.stop();
    drop(runtime);
    let _ = std::fs::remove_dir_all(&data);
    let elapsed_s = elapsed.as_secs_f64();
    Ok(RunFigures {
        label,
        producers: workload.producers,
        durable: workload.durable,
        n_orders: workload.n_orders,
        n_refused: n_refused.load(Ordering::Relaxed),
        elapsed_s,
        orders_per_s: workload.n_orders as f64 / elapsed_s.max(1e-9),
        p50_ms: histogram.value_at_quantile(0.50) as f64 / 1000.0,
        p99_ms: histogram.value_at_quantile(0.99) as f64 / 1000.0,
        peak_rss_bytes,
        n_batches,
        commit_ms_mean,
        wallet_bytes_per_shopper: estimate.wallet_bytes as f64 / estimate.n_wallets.max(1) as f64,
        order_bytes_per_order: estimate.order_bytes as f64 / estimate.n_orders.max(1) as f64,
        idempotency_bytes_per_order: estimate.idempotency_bytes as f64 / estimate.n_orders.max(1) as f64,
        n_shoppers: workload.n_shoppers,
        backup,
    })
}

/// Waits until half the run's orders are under way, backs the journal up to `directory` and
/// follows the backup to its end.
async fn backup_mid_run_of(
    handle: SequencerHandle,
    next_index: Arc<AtomicU64>,
    n_orders: u64,
    directory: PathBuf,
) -> anyhow::Result<BackupFigures> {
    while next_index.load(Ordering::Relaxed) < n_orders / 2 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let started_index = next_index.load(Ordering::Relaxed);
    let started = Instant::now();
    handle.start_backup(directory, Vec::new()).await?;
    let status = loop {
        let status = handle.backup_status().context("no backup status")?;
        if status.state != BackupState::Running {
            break status;
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    };
    Ok(BackupFigures {
        seconds: started.elapsed().as_secs_f64(),
        batches: status.progress.n_batches_copied,
        bytes: status.progress.n_bytes_copied,
        orders_during: next_index.load(Ordering::Relaxed).min(n_orders) - started_index,
        done: status.state == BackupState::Done,
    })
}

fn seed(handle: &SequencerHandle, n_merchants: u64) -> anyhow::Result<()> {
    // Capacity high enough that the ledger, not the shops, is what is measured here; shop
    // capacity under surge is the surge simulator's subject.
    let capacity = Capacity::new(100_000, 1_000_000)?;
    let commands = world::shop_commands(n_merchants, 0, capacity);
    node::submit_all(handle, &commands).context("seeding merchants")?;
    let budget = Money::from_yuan(3_000_000_000);
    let spec = world::festival_campaign(budget, world::festival_validity());
    handle.submit_blocking(Command::CreateCampaign { spec }).context("creating the campaign")?;
    Ok(())
}

/// One coupon order; false when the ledger refused a step (reported, not an error).
async fn coupon_order(
    handle: &SequencerHandle,
    workload: Workload,
    zipf: &Zipf,
    index: u64,
) -> anyhow::Result<bool> {
    // The first n_shoppers orders come from distinct shoppers; the rest are repeat customers.
    let shopper_seq = if index < workload.n_shoppers { index } else { mix(index) % workload.n_shoppers };
    let shopper = ShopperId::new(1 + shopper_seq);
    let random = mix(index);
    let merchant_idx = zipf.sample(random);
    let merchant = MerchantId::new(1 + merchant_idx.min(workload.n_merchants - 1));
    let lines = vec![CartLine {
        item: ItemId::new(101 + random % 5),
        quantity: 1 + (random >> 8) as u16 % 2,
        options: vec![OptionId::new(1 + (random >> 16) as u32 % 2), OptionId::new(11)],
    }];
    let idempotency_key = IdempotencyKey::new(format!("bench-{index}"))?;
    if workload.steps == Steps::One {
        let order = Command::CouponOrder {
            shopper,
            campaign: CAMPAIGN,
            merchant,
            lines,
            idempotency_key,
            channel: OrderChannel::Api,
        };
        return accepted(handle.submit(order).await);
    }
    // The claim and the quote travel together: the intake is first in, first out, so the quote
    // sees the coupon just claimed.
    let referred_by = (index < workload.n_shoppers && index % 10 == 9).then(|| ShopperId::new(shopper_seq));
    let claim = Command::ClaimCoupon { shopper, campaign: CAMPAIGN, referred_by };
    let (claim, quote) = handle
        .submit_pair(claim, Command::Quote { shopper, merchant, lines, coupon: CouponChoice::Best })
        .await;
    if !accepted(claim)? {
        return Ok(false);
    }
    let quote = match quote {
        Ok(Outcome::Quoted(view)) => view.quote,
        other => return accepted(other),
    };
    accepted(
        handle
            .submit(Command::PlaceOrder { shopper, quote, idempotency_key, channel: OrderChannel::Api })
            .await,
    )
}

fn accepted(reply: Result<Outcome, SubmitError>) -> anyhow::Result<bool> {
    match reply {
        Ok(_) => Ok(true),
        Err(SubmitError::Ledger(_)) => Ok(false),
        Err(error) => Err(error.into()),
    }
}

/// Tokio workers for the producers: one by default, leaving the other core to the sequencer's
/// committer and applier (`LANTERN_BENCH_WORKERS` overrides, for experiments).
fn bench_worker_threads() -> usize {
    std::env::var("LANTERN_BENCH_WORKERS").ok().and_then(|workers| workers.parse().ok()).unwrap_or(1)
}
