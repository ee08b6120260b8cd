//! `lantern loadgen`: steady coupon-order load that prints each durable acknowledgement.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use lantern_core::pricing::CartLine;
use lantern_core::sharding::{NODES_MAX, node_of};
use lantern_core::{
    CampaignId, Capacity, IdempotencyKey, ItemId, MerchantId, Money, OptionId, OrderChannel, OrderEvent,
    ShopperId, Validity,
};
use lantern_ledger::{Command, CouponChoice, Outcome};
use lantern_sequencer::{Clock, SequencerHandle, SubmitError, SystemClock};
use lantern_store::{Durability, OpenMode};

use crate::audit::{claim_line, order_line};
use crate::cluster::{self, LeaseKeeper, StoreTarget};
use crate::world;

/// Most worker threads `loadgen` starts.
const WORKERS_MAX: usize = 256;

#[derive(Debug, clap::Args)]
pub struct LoadgenArgs {
    /// The data directory (SQLite).
    #[arg(long, required_unless_present = "store")]
    data: Option<PathBuf>,
    /// The journal in PostgreSQL instead (`postgres://USER@HOST:PORT/DATABASE`): this process is
    /// node `--node-index` of `--nodes`, writes its own shard, serves only the shoppers it owns,
    /// and leases the campaign's budget from the central row. Schema and seed are made as needed.
    #[arg(long)]
    store: Option<String>,
    /// This node's index (0-based) among `--nodes`.
    #[arg(long, default_value_t = 0)]
    node_index: u32,
    /// How many nodes share the shoppers.
    #[arg(long, default_value_t = 1)]
    nodes: u32,
    /// How long a budget lease lasts unrenewed (a dead node's unspent lease returns this long
    /// after it died).
    #[arg(long, default_value_t = cluster::LEASE_TTL_MS_DEFAULT)]
    lease_ttl_ms: u64,
    /// Create the data directory and seed it (shops and a campaign); without it the directory
    /// must already exist.
    #[arg(long)]
    create: bool,
    /// Which run this is: shoppers of round R have ids R*1,000,000 + n, so rounds don't collide.
    #[arg(long, default_value_t = 0)]
    round: u64,
    /// Concurrent workers, each a shopper at a time.
    #[arg(long, default_value_t = 8)]
    workers: usize,
    /// Budget of the seeded campaign, in coupons of 25 yuan; small, so it runs out mid-test.
    #[arg(long, default_value_t = 600)]
    budget_coupons: i64,
    /// Stop after this many orders (default: run until killed).
    #[arg(long)]
    max_orders: Option<u64>,
}

const CAMPAIGN: CampaignId = CampaignId::new(1);
const N_SHOPS: u64 = 3;

pub fn run(args: &LoadgenArgs) -> anyhow::Result<()> {
    anyhow::ensure!((1..=WORKERS_MAX).contains(&args.workers), "--workers must be 1..={WORKERS_MAX}");
    anyhow::ensure!(
        (1..=NODES_MAX).contains(&args.nodes) && args.node_index < args.nodes,
        "--nodes must be 1..={NODES_MAX} and --node-index below it"
    );
    let target = match (&args.store, &args.data) {
        (Some(store), _) => StoreTarget::parse(store, args.node_index),
        (None, Some(data)) => StoreTarget::Sqlite(data.clone()),
        (None, None) => anyhow::bail!("give --data or --store"),
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mode = match &target {
        StoreTarget::Sqlite(_) if args.create => OpenMode::Create,
        StoreTarget::Sqlite(_) => OpenMode::Existing,
        StoreTarget::Postgres { .. } if target.exists()? => OpenMode::Existing,
        StoreTarget::Postgres { .. } => OpenMode::Create,
    };
    let (sequencer, _) = cluster::start_node(&target, mode, Durability::Full, Arc::clone(&clock), 1_000, 0)?;
    let handle = sequencer.handle();
    let keeper = match &target {
        StoreTarget::Sqlite(_) => {
            if args.create {
                seed(&handle, args.budget_coupons)?;
            }
            None
        }
        StoreTarget::Postgres { url, shard } => {
            seed_leasing_node(&handle, url, args.budget_coupons)?;
            anyhow::ensure!(args.lease_ttl_ms >= 1_000, "--lease-ttl-ms must be at least 1000");
            Some(LeaseKeeper::start(
                url.clone(),
                *shard,
                handle.clone(),
                Arc::clone(&clock),
                args.lease_ttl_ms,
                crate::cluster::JournalPlace::Postgres,
                None,
            ))
        }
    };
    println!("ready round {}", args.round);
    let n_orders = Arc::new(AtomicU64::new(0));
    let stdout = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let workers: Vec<_> = (0..args.workers as u64)
        .map(|worker| {
            let handle = handle.clone();
            let n_orders = Arc::clone(&n_orders);
            let stdout = Arc::clone(&stdout);
            let (round, n_workers, max_orders) = (args.round, args.workers as u64, args.max_orders);
            let (n_nodes_total, node_index) = (args.nodes, args.node_index);
            std::thread::spawn(move || {
                let mut shopper_seq = worker;
                while max_orders.is_none_or(|max| n_orders.load(Ordering::Relaxed) < max) {
                    let shopper = ShopperId::new(round * 1_000_000 + shopper_seq);
                    if node_of(shopper, n_nodes_total) != node_index {
                        // Another node's shopper: the gateway would send them there.
                        shopper_seq += n_workers;
                        continue;
                    }
                    // A referrer owned by another node would get its bonus coupon on this one, and
                    // a shopper's coupons must live on one node: refer only within the node.
                    let refer =
                        node_of(ShopperId::new(shopper.get().saturating_sub(1)), n_nodes_total) == node_index;
                    let lines = shop_as(&handle, shopper, shopper_seq, refer)?;
                    let mut out = stdout.lock().map_err(|_| anyhow::anyhow!("stdout lock poisoned"))?;
                    for line in lines {
                        writeln!(out, "{line}")?;
                        if line.starts_with("order") {
                            n_orders.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    out.flush()?;
                    shopper_seq += n_workers;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for worker in workers {
        worker.join().map_err(|_| anyhow::anyhow!("a loadgen worker panicked"))??;
    }
    if let Some(keeper) = keeper {
        // Unspent budget goes back to the pool before the ledger stops.
        keeper.stop();
    }
    sequencer.stop();
    Ok(())
}

fn seed(handle: &SequencerHandle, budget_coupons: i64) -> anyhow::Result<()> {
    let capacity = Capacity::new(100_000, 1_000_000)?;
    for command in world::shop_commands(N_SHOPS, 0, capacity) {
        handle.submit_blocking(command).context("seeding shops")?;
    }
    let now = SystemClock.now();
    let validity = Validity::new(now, now.plus_ms(30 * 24 * 60 * 60 * 1000))?;
    let spec = world::festival_campaign(Money::from_yuan(25 * budget_coupons), validity);
    handle.submit_blocking(Command::CreateCampaign { spec }).context("seeding the campaign")?;
    Ok(())
}

/// Seeds a node of a cluster as needed (a restart finds it seeded): the shops, the campaign
/// drawing from leases, and the campaign's central budget row.
fn seed_leasing_node(handle: &SequencerHandle, url: &str, budget_coupons: i64) -> anyhow::Result<()> {
    let budget = Money::from_yuan(25 * budget_coupons);
    cluster::draw_all_from_leases(handle)?;
    if handle.read(|ledger| ledger.campaign_ids().is_empty()) {
        seed(handle, budget_coupons)?;
    }
    let mut central = lantern_store::PostgresBudget::connect(url)?;
    central.ensure_campaign(CAMPAIGN.get(), budget.fen())?;
    Ok(())
}

/// One shopper's visit: claim (some referred by the previous shopper), quote, place; then some
/// cancel, some get delivered. Returns the acknowledgement lines, all already durable.
fn shop_as(
    handle: &SequencerHandle,
    shopper: ShopperId,
    shopper_seq: u64,
    refer: bool,
) -> anyhow::Result<Vec<String>> {
    let mut lines = Vec::new();
    let referred_by = (refer && shopper_seq % 3 == 1).then(|| ShopperId::new(shopper.get() - 1));
    match handle.submit_blocking(Command::ClaimCoupon { shopper, campaign: CAMPAIGN, referred_by }) {
        Ok(Outcome::CouponClaimed { coupon, referral_bonus, .. }) => {
            lines.push(claim_line(coupon));
            lines.extend(referral_bonus.map(claim_line));
        }
        Ok(other) => anyhow::bail!("claim answered {other:?}"),
        Err(SubmitError::Ledger(_)) => {}
        Err(error) => return Err(error.into()),
    }
    let merchant = MerchantId::new(1 + shopper_seq % N_SHOPS);
    let lines_wanted = vec![CartLine {
        item: ItemId::new(101 + shopper_seq % 5),
        quantity: 1 + (shopper_seq % 2) as u16,
        options: vec![OptionId::new(1 + (shopper_seq % 2) as u32)],
    }];
    let quote = Command::Quote { shopper, merchant, lines: lines_wanted, coupon: CouponChoice::Best };
    let quote = match handle.submit_blocking(quote) {
        Ok(Outcome::Quoted(view)) => view,
        Ok(other) => anyhow::bail!("quote answered {other:?}"),
        Err(SubmitError::Ledger(_)) => return Ok(lines),
        Err(error) => return Err(error.into()),
    };
    let idempotency_key = IdempotencyKey::new(format!("loadgen-{}", shopper.get()))?;
    let place = Command::PlaceOrder {
        shopper,
        quote: quote.quote,
        idempotency_key: idempotency_key.clone(),
        channel: OrderChannel::Api,
    };
    let receipt = match handle.submit_blocking(place.clone()) {
        Ok(Outcome::OrderPlaced { receipt, .. }) => receipt,
        Ok(other) => anyhow::bail!("place answered {other:?}"),
        Err(SubmitError::Ledger(_)) => return Ok(lines),
        Err(error) => return Err(error.into()),
    };
    lines.push(order_line(receipt.order, shopper, receipt.coupon, receipt.total));
    // A client that lost the answer retries with the same key: it must get the same order.
    match handle.submit_blocking(place) {
        Ok(Outcome::OrderPlaced { receipt: replayed, replayed: true }) if replayed == receipt => {}
        other => anyhow::bail!("a retried order answered {other:?} instead of replaying {}", receipt.order),
    }
    match shopper_seq % 4 {
        0 => {
            let _ = handle.submit_blocking(Command::CancelOrder { shopper, order: receipt.order });
        }
        1 => {
            for event in [OrderEvent::Accept, OrderEvent::Ready, OrderEvent::Deliver] {
                let _ =
                    handle.submit_blocking(Command::AdvanceOrder { merchant, order: receipt.order, event });
            }
        }
        _ => {}
    }
    Ok(lines)
}
