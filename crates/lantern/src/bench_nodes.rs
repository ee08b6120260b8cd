//! `lantern bench nodes`: coupon orders per second of 1, 2 and 3 lantern nodes over one private
//! PostgreSQL on this machine, beside `../shared/peers/postgres.sh` (a plain transactional
//! claim-and-order on one hot budget row, driven by pgbench) measured in the same run.
//!
//! Each node is a real node minus HTTP: its own journal shard in PostgreSQL (one INSERT per
//! group commit, `synchronous_commit = on`), its own ledger, its own lease keeper leasing budget
//! chunks from the central row. The nodes run in this one process, so they share its two cores
//! with PostgreSQL and the load generator: the figures are pessimistic for separate machines.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use lantern_core::pricing::CartLine;
use lantern_core::sharding::node_of;
use lantern_core::{
    CampaignId, Capacity, IdempotencyKey, ItemId, MerchantId, Money, OptionId, OrderChannel, ShopperId,
    Validity,
};
use lantern_ledger::{Command, Outcome};
use lantern_sequencer::{Clock, Sequencer, SequencerHandle, SubmitError, SystemClock};
use lantern_store::{Durability, LocalPostgres, OpenMode};

use crate::cluster::{self, LeaseKeeper, StoreTarget};
use crate::world;

const CAMPAIGN: CampaignId = CampaignId::new(1);
const N_SHOPS: u64 = 50;
/// Most producers per node.
const PRODUCERS_MAX: usize = 4_096;

#[derive(Debug, clap::Args)]
pub struct NodesBenchArgs {
    /// Seconds each measurement runs (each node count, and the peer).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent orders in flight per node.
    #[arg(long, default_value_t = 512)]
    producers: usize,
    /// The plain-PostgreSQL peer script (a transactional claim-and-order on one hot row).
    #[arg(long, default_value = "../shared/peers/postgres.sh")]
    peer_script: std::path::PathBuf,
    /// pgbench clients of the peer.
    #[arg(long, default_value_t = 50)]
    peer_clients: u32,
    /// Print the figures as one JSON object on the last line.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy)]
struct Measured {
    n_nodes: u32,
    orders: u64,
    refused: u64,
    seconds: f64,
}

impl Measured {
    #[allow(clippy::float_arithmetic)]
    fn per_second(&self) -> f64 {
        self.orders as f64 / self.seconds.max(1e-9)
    }
}

pub fn run(args: &NodesBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!((1..=PRODUCERS_MAX).contains(&args.producers), "--producers must be 1..={PRODUCERS_MAX}");
    anyhow::ensure!(args.seconds >= 1, "--seconds must be at least 1");
    let server = LocalPostgres::start("bench-nodes", &["shared_buffers = 256MB", "max_wal_size = 4GB"])
        .context("cannot start a private PostgreSQL (scripts/postgres.sh installs it)")?;
    let mut results = Vec::new();
    for n_nodes in 1..=3u32 {
        let url = server.create_database(&format!("nodes_{n_nodes}"))?;
        let measured = measure(&url, n_nodes, args)?;
        println!(
            "{n_nodes} node(s): {:>9.0} coupon orders/s ({} orders, {} refused while a lease was in flight)",
            measured.per_second(),
            measured.orders,
            measured.refused
        );
        results.push(measured);
    }
    drop(server);
    println!(
        "peer: {} --variant hot --clients {} --seconds {}",
        args.peer_script.display(),
        args.peer_clients,
        args.seconds
    );
    let peer = run_peer(args)?;
    let peer_ops = peer["ops_per_s"].as_f64().context("the peer printed no ops_per_s")?;
    let best = results.iter().map(Measured::per_second).fold(0.0_f64, f64::max);
    #[allow(clippy::float_arithmetic)]
    let ratio = best / peer_ops.max(1e-9);
    println!("peer (plain PostgreSQL, one hot budget row): {peer_ops:>9.0} orders/s");
    println!(
        "best lantern cluster / peer: {ratio:.1}x (target 20x); 2 shared cores run PostgreSQL, every node and the \
         load, so these figures are pessimistic"
    );
    if args.json {
        let nodes: Vec<_> = results
            .iter()
            .map(|measured| {
                serde_json::json!({"nodes": measured.n_nodes, "orders_per_s": measured.per_second(),
                    "orders": measured.orders, "refused": measured.refused})
            })
            .collect();
        let report = serde_json::json!({"bench": "nodes", "seconds": args.seconds, "producers_per_node": args.producers,
            "nodes": nodes, "peer": peer, "ratio_best_to_peer": ratio});
        println!("{report}");
    }
    Ok(())
}

fn measure(url: &str, n_nodes: u32, args: &NodesBenchArgs) -> anyhow::Result<Measured> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut nodes: Vec<(Sequencer, LeaseKeeper)> = Vec::new();
    for shard in 0..n_nodes {
        let target = StoreTarget::Postgres { url: url.to_owned(), shard };
        let (sequencer, _) = cluster::start_node(
            &target,
            OpenMode::Create,
            Durability::Full,
            Arc::clone(&clock),
            1_000,
            1 << 20,
        )?;
        let handle = sequencer.handle();
        cluster::draw_all_from_leases(&handle)?;
        seed(&handle)?;
        let keeper = LeaseKeeper::start(
            url.to_owned(),
            shard,
            handle,
            Arc::clone(&clock),
            cluster::LEASE_TTL_MS_DEFAULT,
            cluster::JournalPlace::Postgres,
            None,
        );
        nodes.push((sequencer, keeper));
    }
    // Let the first leases arrive before the clock starts.
    std::thread::sleep(Duration::from_millis(300));
    let orders = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for (shard, (sequencer, _)) in nodes.iter().enumerate() {
            for producer in 0..args.producers {
                let handle = sequencer.handle();
                let (orders, refused) = (Arc::clone(&orders), Arc::clone(&refused));
                let stride = args.producers as u64;
                tasks.push(tokio::spawn(async move {
                    let mut seq = producer as u64;
                    while Instant::now() < deadline {
                        seq += stride;
                        let shopper = ShopperId::new(1 + seq);
                        if node_of(shopper, n_nodes) != shard as u32 {
                            continue;
                        }
                        match coupon_order(&handle, shopper, seq).await {
                            Ok(true) => orders.fetch_add(1, Ordering::Relaxed),
                            Ok(false) => refused.fetch_add(1, Ordering::Relaxed),
                            Err(error) => return Err(error),
                        };
                    }
                    anyhow::Ok(())
                }));
            }
        }
        for task in tasks {
            task.await.context("a producer panicked")??;
        }
        anyhow::Ok(())
    })?;
    let seconds = started.elapsed().as_secs_f64();
    for (sequencer, keeper) in nodes {
        keeper.stop();
        sequencer.stop();
    }
    Ok(Measured {
        n_nodes,
        orders: orders.load(Ordering::Relaxed),
        refused: refused.load(Ordering::Relaxed),
        seconds,
    })
}

fn seed(handle: &SequencerHandle) -> anyhow::Result<()> {
    let capacity = Capacity::new(100_000, 1_000_000)?;
    for command in world::shop_commands(N_SHOPS, 0, capacity) {
        handle.submit_blocking(command).context("seeding shops")?;
    }
    // Valid from now (the festival's own dates may lie ahead of this machine's clock).
    let now = SystemClock.now();
    let validity = Validity::new(now, now.plus_ms(30 * 24 * 60 * 60 * 1000))?;
    let spec = world::festival_campaign(Money::from_yuan(3_000_000_000), validity);
    handle.submit_blocking(Command::CreateCampaign { spec }).context("creating the campaign")?;
    Ok(())
}

/// One coupon order (claim, quote and place as one command); false when the ledger refused it.
async fn coupon_order(handle: &SequencerHandle, shopper: ShopperId, seq: u64) -> anyhow::Result<bool> {
    let command = Command::CouponOrder {
        shopper,
        campaign: CAMPAIGN,
        merchant: MerchantId::new(1 + seq % N_SHOPS),
        lines: vec![CartLine {
            item: ItemId::new(101 + seq % 5),
            quantity: 1,
            options: vec![OptionId::new(1 + (seq % 2) as u32)],
        }],
        idempotency_key: IdempotencyKey::new(format!("bench-{}", shopper.get()))?,
        channel: OrderChannel::Api,
    };
    match handle.submit(command).await {
        Ok(Outcome::OrderPlaced { .. }) => Ok(true),
        Ok(other) => anyhow::bail!("a coupon order answered {other:?}"),
        Err(SubmitError::Ledger(_) | SubmitError::Overloaded { .. }) => Ok(false),
        Err(error) => Err(error.into()),
    }
}

fn run_peer(args: &NodesBenchArgs) -> anyhow::Result<serde_json::Value> {
    let output = std::process::Command::new("bash")
        .arg(&args.peer_script)
        .args([
            "--variant",
            "hot",
            "--clients",
            &args.peer_clients.to_string(),
            "--seconds",
            &args.seconds.to_string(),
        ])
        .output()
        .with_context(|| format!("cannot run {}", args.peer_script.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(
        output.status.success(),
        "{} failed: {}{}",
        args.peer_script.display(),
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .with_context(|| format!("the peer's last line is not JSON: {stdout}"))
}
