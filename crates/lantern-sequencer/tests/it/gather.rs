//! The committer gathers a batch only while answers wait for a core.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use lantern_ledger::{Command, Outcome};
use lantern_sequencer::{
    GATHER_FROM_PICKUP_LAG_US, GATHER_MAX_US, ManualClock, Sequencer, SequencerConfig, gather_wait_us,
    pickup_lag_mean_us,
};
use lantern_store::MemoryStore;

use crate::{START, config, ledger_config};

fn gathering(gather_max_us: u64) -> SequencerConfig {
    SequencerConfig { gather_max_us, ..config(1_024, 0) }
}

#[test]
fn no_gather_while_answers_are_picked_up_promptly() {
    assert_eq!(gather_wait_us(0, 2_000), 0);
    assert_eq!(gather_wait_us(GATHER_FROM_PICKUP_LAG_US - 1, 2_000), 0);
    assert_eq!(gather_wait_us(50_000, 0), 0, "a gather of at most 0 is no gather");
}

#[test]
fn a_gather_lasts_as_long_as_answers_already_wait_up_to_the_limit() {
    assert_eq!(gather_wait_us(GATHER_FROM_PICKUP_LAG_US, 20_000), GATHER_FROM_PICKUP_LAG_US);
    assert_eq!(gather_wait_us(5_000, 20_000), 5_000);
    assert_eq!(gather_wait_us(50_000, 2_000), 2_000);
    assert_eq!(gather_wait_us(u64::MAX, GATHER_MAX_US), GATHER_MAX_US);
}

#[test]
fn one_late_answer_does_not_start_a_gather_but_a_run_of_them_does() {
    let one_late = pickup_lag_mean_us(40, 20_000);
    assert_eq!(gather_wait_us(one_late, 2_000), 0, "mean after one 20 ms lag: {one_late} µs");
    let mut mean_us = 40;
    for _ in 0..16 {
        mean_us = pickup_lag_mean_us(mean_us, 20_000);
    }
    assert!(gather_wait_us(mean_us, 2_000) == 2_000, "mean after sixteen 20 ms lags: {mean_us} µs");
    assert_eq!(pickup_lag_mean_us(u64::MAX, u64::MAX), u64::MAX / 16, "saturates, never wraps");
}

/// A caller whose core is busy when its answer comes measures the wait.
#[test]
fn an_async_caller_measures_how_long_its_answer_waited_for_a_core() {
    let clock = Arc::new(ManualClock::new(START));
    let (sequencer, _) =
        Sequencer::start(Box::new(MemoryStore::new()), ledger_config(), gathering(0), clock).unwrap();
    let handle = sequencer.handle();
    assert_eq!(handle.counters().pickup_lag_us.load(Ordering::Relaxed), 0);
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let answer = runtime.block_on(async {
        let submitter = tokio::spawn({
            let handle = handle.clone();
            async move { handle.submit(Command::Tick).await }
        });
        // Let the submitter send its command, then hold the only core while the answer comes.
        tokio::task::yield_now().await;
        std::thread::sleep(Duration::from_millis(50));
        submitter.await.unwrap()
    });
    assert!(matches!(answer, Ok(Outcome::Ticked { .. })));
    let mean_us = handle.counters().pickup_lag_us.load(Ordering::Relaxed);
    // One sample of about 50 ms folded into a mean of 0 over 16: about 3 ms.
    assert!(mean_us >= 1_000, "pickup lag mean {mean_us} µs after a 50 ms wait for the core");
    // Blocking callers are not measured: they pick up when they choose, not when a core frees.
    let before = handle.counters().pickup_lag_us.load(Ordering::Relaxed);
    let pending = handle.try_submit(Command::Tick).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    assert!(pending.blocking_recv().unwrap().is_ok());
    assert_eq!(handle.counters().pickup_lag_us.load(Ordering::Relaxed), before);
    sequencer.stop();
}

/// The lag a saturated burst left in the mean is not read as "saturated" once answers stop:
/// a second with none picked up reads zero (the gauge and the gather), and the next answer
/// counts again.
#[test]
fn a_quiet_spell_clears_the_pickup_lag_a_burst_left() {
    let counters = lantern_sequencer::SequencerCounters::default();
    assert_eq!(counters.pickup_lag_now_us(), 0);
    for _ in 0..64 {
        counters.fold_pickup_lag(20_000);
    }
    let saturated_us = counters.pickup_lag_now_us();
    assert!(saturated_us > 15_000, "after a burst of 20 ms lags: {saturated_us} µs");
    assert!(gather_wait_us(saturated_us, 2_000) == 2_000);
    std::thread::sleep(Duration::from_millis(lantern_sequencer::PICKUP_LAG_STALE_MS + 100));
    assert_eq!(counters.pickup_lag_now_us(), 0, "a quiet second reads as no lag");
    assert_eq!(gather_wait_us(counters.pickup_lag_now_us(), 2_000), 0);
    // The mean itself is kept: the next answer folds into it and it counts again.
    counters.fold_pickup_lag(20_000);
    assert!(counters.pickup_lag_now_us() > 15_000);
}

/// With answers waiting for a core, commands sent a little apart share one batch; without, the
/// first is committed alone at once.
#[test]
fn a_lagging_caller_makes_the_committer_gather() {
    for (gather_max_us, lagging) in [(20_000, true), (20_000, false), (0, true)] {
        let clock = Arc::new(ManualClock::new(START));
        let (sequencer, _) =
            Sequencer::start(Box::new(MemoryStore::new()), ledger_config(), gathering(gather_max_us), clock)
                .unwrap();
        let handle = sequencer.handle();
        if lagging {
            for _ in 0..64 {
                handle.counters().fold_pickup_lag(50_000);
            }
        }
        let batches_before = handle.counters().n_batches.load(Ordering::Relaxed);
        let started = Instant::now();
        let first = handle.try_submit(Command::Tick).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        let second = handle.try_submit(Command::Tick).unwrap();
        assert!(first.blocking_recv().unwrap().is_ok());
        assert!(second.blocking_recv().unwrap().is_ok());
        let n_batches = handle.counters().n_batches.load(Ordering::Relaxed) - batches_before;
        let n_gathers = handle.counters().n_gathers.load(Ordering::Relaxed);
        let case = format!("gather_max_us {gather_max_us}, lagging {lagging}");
        if gather_max_us > 0 && lagging {
            assert_eq!(n_batches, 1, "{case}: two commands 5 ms apart in a 20 ms gather");
            assert_eq!(n_gathers, 1, "{case}");
            assert!(
                started.elapsed() >= Duration::from_millis(20),
                "{case}: answered before the gather ended"
            );
        } else {
            assert_eq!(n_batches, 2, "{case}: the first command is committed at once");
            assert_eq!(n_gathers, 0, "{case}");
        }
        sequencer.stop();
    }
}
