//! Opening a data directory and starting its sequencer, with the binary's settings.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use lantern_ledger::LedgerConfig;
use lantern_sequencer::{Clock, ReplaySummary, Sequencer, SequencerConfig, StartError};
use lantern_store::{Durability, OpenMode, SqliteStore, Store};

/// A quote holds its coupon and price for 15 minutes.
pub const HOLD_TTL_MS: u64 = 15 * 60 * 1000;
/// Closed orders and their idempotency keys stay answerable for 48 hours.
pub const ORDER_RETENTION_MS: u64 = 48 * 60 * 60 * 1000;

/// The ledger's settings; `expected_orders` sizes its tables for a run's reach (shoppers are at
/// most one per order).
pub fn ledger_config(expected_orders: usize) -> LedgerConfig {
    LedgerConfig {
        hold_ttl_ms: HOLD_TTL_MS,
        order_retention_ms: ORDER_RETENTION_MS,
        expected_shoppers: expected_orders,
        expected_orders,
        retired_kept_max: lantern_ledger::RETIRED_KEPT_MAX,
    }
}

/// While answers wait for a core, the committer waits up to this long for a batch to fill
/// (`lantern_sequencer`'s overview). 1 to 4 ms measured alike at 4,096 connections; 2 ms keeps
/// the added latency well inside the slot-time target.
pub const GATHER_MAX_US: u64 = 2_000;

pub fn sequencer_config(idle_tick_ms: u64) -> SequencerConfig {
    SequencerConfig {
        shard: 0,
        intake_capacity: 65_536,
        batch_commands_max: 8_192,
        apply_chunk_commands_max: 512,
        idle_tick_ms,
        gather_max_us: GATHER_MAX_US,
    }
}

/// Opens (or creates) the store in `data` and starts the sequencer over it.
pub fn start(
    data: &Path,
    mode: OpenMode,
    durability: Durability,
    clock: Arc<dyn Clock>,
    idle_tick_ms: u64,
    expected_orders: usize,
) -> anyhow::Result<(Sequencer, ReplaySummary)> {
    start_watched(data, mode, durability, clock, idle_tick_ms, expected_orders, &mut |_| {}, &mut |_| {})
}

/// [`start`], telling `watch` how the replay goes (every [`REPLAY_REPORT_EVERY_MS`]) and
/// `observe` each answer the replay's commands get.
#[allow(clippy::too_many_arguments)]
pub fn start_watched(
    data: &Path,
    mode: OpenMode,
    durability: Durability,
    clock: Arc<dyn Clock>,
    idle_tick_ms: u64,
    expected_orders: usize,
    watch: &mut dyn FnMut(&lantern_sequencer::ReplayProgress),
    observe: &mut dyn FnMut(&lantern_ledger::Outcome),
) -> anyhow::Result<(Sequencer, ReplaySummary)> {
    let store = SqliteStore::open(data, mode, durability)
        .with_context(|| format!("cannot open the data directory {}", data.display()))?;
    start_over(Box::new(store), 0, clock, idle_tick_ms, expected_orders, watch, observe)
        .with_context(|| format!("cannot rebuild the ledger from {}", data.display()))
}

/// Starts the sequencer of `shard` over an opened store: the replay shown by a
/// [`ReplayReporter`], told to `watch`, its answers to `observe`.
pub fn start_over(
    store: Box<dyn Store>,
    shard: u32,
    clock: Arc<dyn Clock>,
    idle_tick_ms: u64,
    expected_orders: usize,
    watch: &mut dyn FnMut(&lantern_sequencer::ReplayProgress),
    observe: &mut dyn FnMut(&lantern_ledger::Outcome),
) -> Result<(Sequencer, ReplaySummary), StartError> {
    let mut config = sequencer_config(idle_tick_ms);
    config.shard = shard;
    let mut progress = ReplayReporter::default();
    let started = Sequencer::start_observing(
        store,
        ledger_config(expected_orders),
        config,
        clock,
        REPLAY_REPORT_EVERY_MS,
        &mut |replayed| {
            progress.report(replayed);
            watch(replayed);
        },
        observe,
    );
    progress.finish();
    started
}

/// How often a replay tells its watchers (the progress bar, the starting gateway's answers)
/// how far it has come.
pub const REPLAY_REPORT_EVERY_MS: u64 = 100;
/// How often a replay's progress is logged when no terminal shows the bar.
const REPLAY_LOG_EVERY_MS: u64 = 1_000;

/// Shows a long replay: a progress bar on a terminal, else a log line a second (a restart after
/// a surge replays tens of millions of commands; nothing moving for 30 s looks like a hang).
#[derive(Default)]
pub struct ReplayReporter {
    bar: Option<indicatif::ProgressBar>,
    logged_at_ms: Option<u64>,
}

impl ReplayReporter {
    pub fn report(&mut self, replayed: &lantern_sequencer::ReplayProgress) {
        use std::io::IsTerminal as _;
        if !std::io::stderr().is_terminal() {
            let due = self.logged_at_ms.is_none_or(|at| replayed.elapsed_ms >= at + REPLAY_LOG_EVERY_MS);
            let last = replayed.n_batches_done >= replayed.n_batches_total;
            if !due && !last {
                return;
            }
            self.logged_at_ms = Some(replayed.elapsed_ms);
            tracing::info!(
                batches = replayed.n_batches_done,
                of = replayed.n_batches_total,
                percent = replayed.percent(),
                commands = replayed.n_commands_done,
                elapsed_ms = replayed.elapsed_ms,
                "replaying the journal"
            );
            return;
        }
        let bar = self.bar.get_or_insert_with(|| {
            let bar = indicatif::ProgressBar::new(replayed.n_batches_total);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "  replaying the journal {bar:30} {pos}/{len} batches  {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        bar.set_position(replayed.n_batches_done);
        bar.set_message(format!("{} commands", replayed.n_commands_done));
    }

    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Submits `commands` in order from a plain thread, 4,096 at a time (the intake holds 65,536),
/// and waits for every answer; the first refusal is the error.
pub fn submit_all(
    handle: &lantern_sequencer::SequencerHandle,
    commands: &[lantern_ledger::Command],
) -> anyhow::Result<()> {
    for chunk in commands.chunks(4_096) {
        let answers: Vec<_> =
            chunk.iter().map(|command| handle.try_submit(command.clone())).collect::<Result<_, _>>()?;
        for answer in answers {
            answer.blocking_recv()??;
        }
    }
    Ok(())
}

/// Peak resident memory of this process in bytes (Linux `VmHWM`), if it can be read.
pub fn peak_rss_bytes() -> Option<u64> {
    read_status_kib("VmHWM:").map(|kib| kib * 1024)
}

/// Resets the peak so the next reading covers only what follows (Linux `clear_refs` 5).
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn read_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A new, unique directory path under the system's temporary directory (not created).
pub fn temp_data_dir(label: &str) -> std::path::PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|duration| duration.subsec_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!("lantern-{label}-{}-{nanos}", std::process::id()))
}
