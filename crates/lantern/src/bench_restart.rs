//! `lantern bench restart`: what a restart of `lantern serve` over a data directory costs, the
//! two ways in the same run: the journal replayed and then the gateway's read index rebuilt by
//! walking every order (how a start did it until session 15), against the index recorded from
//! the replay's answers on a second thread and finished after it (how it does now). Nothing is
//! written: the directory is opened, replayed and closed twice.

#![allow(clippy::float_arithmetic)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use lantern_gateway::ReadIndex;
use lantern_sequencer::{Clock, SystemClock};
use lantern_store::{Durability, OpenMode};

use crate::node;

#[derive(Debug, clap::Args)]
pub struct RestartBenchArgs {
    /// The data directory to restart over (a surge's: `lantern surge --in-process --data DIR`).
    #[arg(long)]
    data: PathBuf,
    /// Print the figures as one JSON object on the last line.
    #[arg(long)]
    json: bool,
}

/// One way's figures, in milliseconds.
#[derive(Debug, serde::Serialize)]
struct Restart {
    /// Orders in the read index: the same both ways.
    orders: u64,
    replay_ms: u64,
    index_ms: u64,
    ready_ms: u64,
}

pub fn run(args: &RestartBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.data.join(lantern_store::DATABASE_FILE_NAME).is_file(),
        "{} holds no journal: give the data directory of a gateway or a surge (`lantern surge --in-process --data DIR`)",
        args.data.display()
    );
    println!("lantern bench restart: {}", args.data.display());
    let rebuilt = restart(args, false)?;
    println!(
        "  index rebuilt after the replay:   {} orders; replay {} ms, index {} ms, ready {} ms",
        rebuilt.orders, rebuilt.replay_ms, rebuilt.index_ms, rebuilt.ready_ms
    );
    let recorded = restart(args, true)?;
    println!(
        "  index recorded during the replay: {} orders; replay {} ms, index {} ms, ready {} ms",
        recorded.orders, recorded.replay_ms, recorded.index_ms, recorded.ready_ms
    );
    anyhow::ensure!(
        recorded.orders == rebuilt.orders,
        "the two ways indexed {} and {} orders: a bug, please report it",
        rebuilt.orders,
        recorded.orders
    );
    let ratio = recorded.ready_ms as f64 / rebuilt.ready_ms.max(1) as f64;
    println!("  ready, recorded ÷ rebuilt: {ratio:.2}");
    if args.json {
        let summary = serde_json::json!({
            "rebuilt": rebuilt,
            "recorded": recorded,
            "ready_ratio_recorded_vs_rebuilt": ratio,
        });
        println!("{summary}");
    }
    Ok(())
}

/// Opens `args.data`, replays it and builds the read index, one way or the other; then stops.
fn restart(args: &RestartBenchArgs, record: bool) -> anyhow::Result<Restart> {
    let started = Instant::now();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let open = |observe: &mut dyn FnMut(&lantern_ledger::Outcome)| {
        node::start_watched(
            &args.data,
            OpenMode::Existing,
            Durability::Full,
            clock,
            0,
            0,
            &mut |_| {},
            observe,
        )
    };
    let (opened, recorded) =
        if record { crate::serve::index_while_replaying(0, open) } else { (open(&mut |_| {}), None) };
    let (sequencer, replay) = opened?;
    let indexing = Instant::now();
    let index = sequencer.handle().read(|ledger| match recorded {
        Some(recorded) => recorded.finish(ledger, 0),
        None => ReadIndex::rebuild(ledger, 0),
    });
    let index_ms = indexing.elapsed().as_millis() as u64;
    let ready_ms = started.elapsed().as_millis() as u64;
    // Dropped only now: a gateway keeps its index, so freeing it is no part of a start.
    let n_orders = index.order_by_quote.len() as u64;
    drop(index);
    sequencer.stop();
    Ok(Restart { orders: n_orders, replay_ms: replay.elapsed_ms, index_ms, ready_ms })
}
