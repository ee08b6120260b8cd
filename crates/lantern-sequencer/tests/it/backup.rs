//! Backups taken by the committer between batches, while orders keep coming.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use lantern_core::ShopperId;
use lantern_ledger::Command;
use lantern_sequencer::{
    BACKUP_CHUNK_BATCHES, BackupError, BackupState, BackupStatus, ManualClock, Sequencer, SequencerHandle,
    SubmitError,
};
use lantern_store::{
    BatchRecord, Durability, MemoryStore, OpenMode, SqliteStore, Store, StoreError, partial_path,
};

use crate::{CAMPAIGN, START, config, ledger_config, seed, temp_dir};

fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(future)
}

fn claim(shopper: u64) -> Command {
    Command::ClaimCoupon { shopper: ShopperId::new(shopper), campaign: CAMPAIGN, referred_by: None }
}

fn wait_until_finished(handle: &SequencerHandle) -> BackupStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = handle.backup_status().unwrap();
        if status.state != BackupState::Running {
            return status;
        }
        assert!(Instant::now() < deadline, "the backup did not finish: {status:?}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn all_batches(store: &mut dyn Store) -> Vec<BatchRecord> {
    let mut batches = Vec::new();
    store
        .replay(0, &mut |batch| {
            batches.push(batch);
            Ok(())
        })
        .unwrap();
    batches
}

/// A backup started while a writer keeps committing holds a byte-exact prefix of the journal
/// that includes every batch committed before it started, opens as a journal of its own, and
/// the writer was never refused meanwhile.
#[test]
fn a_backup_taken_under_load_is_an_exact_prefix_of_the_journal() {
    let dir = temp_dir("backup-source");
    let backups = temp_dir("backup-target");
    let target = backups.join("first");
    let clock = Arc::new(ManualClock::new(START));
    let store = SqliteStore::open(&dir, OpenMode::Create, Durability::Off).unwrap();
    let (sequencer, _) =
        Sequencer::start(Box::new(store), ledger_config(), config(256, 0), clock.clone()).unwrap();
    let handle = sequencer.handle();
    seed(&handle);
    // One command a batch, so the journal has many more batches than one piece.
    for n in 0..(BACKUP_CHUNK_BATCHES * 100) {
        handle.submit_blocking(Command::Tick).unwrap();
        clock.advance_ms(n % 3);
    }
    let batches_before = handle.counters().n_batches.load(Ordering::Relaxed);
    let stop_writing = Arc::new(AtomicBool::new(false));
    let n_written = Arc::new(AtomicU64::new(0));
    let writer = {
        let (handle, stop_writing, n_written) = (handle.clone(), stop_writing.clone(), n_written.clone());
        std::thread::spawn(move || {
            let mut shopper = 1_000;
            while !stop_writing.load(Ordering::Relaxed) {
                // The budget pays for ten coupons; later claims are refused, and journaled too.
                let answer = handle.submit_blocking(claim(shopper));
                assert!(!matches!(answer, Err(SubmitError::Store(_) | SubmitError::Stopped)), "{answer:?}");
                shopper += 1;
                n_written.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let started = block_on(handle.start_backup(target.clone(), vec![])).unwrap();
    assert_eq!(started.directory, target);
    let status = wait_until_finished(&handle);
    assert_eq!(status.state, BackupState::Done, "{status:?}");
    assert!(status.finished_at.is_some());
    let counters = handle.counters();
    assert_eq!(counters.n_backups_done.load(Ordering::Relaxed), 1);
    assert_eq!(
        counters.last_backup_done_unix_ms.load(Ordering::Relaxed),
        status.finished_at.unwrap().unix_ms()
    );
    stop_writing.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert!(n_written.load(Ordering::Relaxed) > 0, "the writer committed while the backup ran");
    let copied = status.progress.n_batches_copied;
    assert!(copied >= batches_before, "{copied} copied, {batches_before} committed before the start");
    assert!(!partial_path(&target).exists());
    sequencer.stop();

    let source = all_batches(&mut SqliteStore::open(&dir, OpenMode::Existing, Durability::Full).unwrap());
    let mut copy_store = SqliteStore::open(&target, OpenMode::Existing, Durability::Full).unwrap();
    let copy = all_batches(&mut copy_store);
    assert_eq!(copy.len() as u64, copied);
    assert!(source.len() > copy.len() || source.len() as u64 == copied);
    assert!(
        copy == source[..copy.len()],
        "the backup is the journal's first {copied} batches, byte for byte"
    );
    let bytes: u64 = copy.iter().map(|batch| batch.body.len() as u64).sum();
    assert_eq!(status.progress.n_bytes_copied, bytes);
    // It starts as a ledger of its own.
    let (from_backup, summary) =
        Sequencer::start(Box::new(copy_store), ledger_config(), config(16, 0), clock).unwrap();
    assert_eq!(summary.n_batches, copied);
    assert!(from_backup.handle().read(|ledger| ledger.campaign_stats(CAMPAIGN)).is_some());
    from_backup.stop();
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&backups);
}

/// A memory store that hands a backup one batch per read, and only as many reads as the test
/// grants, so a test sees a backup mid-copy.
#[derive(Clone, Debug)]
struct SlowReads {
    inner: MemoryStore,
    reads_granted: Arc<(Mutex<u64>, Condvar)>,
    reads_waiting: Arc<AtomicU64>,
}

impl SlowReads {
    fn grant(&self, n_reads: u64) {
        *self.reads_granted.0.lock().unwrap() += n_reads;
        self.reads_granted.1.notify_all();
    }

    /// Waits until the committer waits in a read.
    fn wait_for_reader(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.reads_waiting.load(Ordering::SeqCst) == 0 {
            assert!(Instant::now() < deadline, "no backup read came");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Store for SlowReads {
    fn append(&mut self, batch: &BatchRecord) -> Result<(), StoreError> {
        self.inner.append(batch)
    }
    fn replay(
        &mut self,
        shard: u32,
        visit: &mut dyn FnMut(BatchRecord) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        self.inner.replay(shard, visit)
    }
    fn read_batches(
        &mut self,
        shard: u32,
        after_batch_seq: u64,
        batches_max: u64,
        visit: &mut dyn FnMut(BatchRecord) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        let (granted, condvar) = &*self.reads_granted;
        let mut guard = granted.lock().unwrap();
        self.reads_waiting.fetch_add(1, Ordering::SeqCst);
        while *guard == 0 {
            guard = condvar.wait(guard).unwrap();
        }
        *guard -= 1;
        self.reads_waiting.fetch_sub(1, Ordering::SeqCst);
        self.inner.read_batches(shard, after_batch_seq, batches_max.min(1), visit)
    }
    fn last_batch_seq(&mut self, shard: u32) -> Result<Option<u64>, StoreError> {
        self.inner.last_batch_seq(shard)
    }
    fn describe(&self) -> String {
        "memory, slow reads".into()
    }
}

fn wait_for_queue(handle: &SequencerHandle, depth: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while handle.queue_depth() < depth {
        assert!(Instant::now() < deadline, "the intake never held {depth} requests");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// One backup at a time: a second is refused naming the running one, commands commit between
/// its pieces, and a stop gives it up without leaving anything behind.
#[test]
fn a_second_backup_is_refused_and_a_stop_gives_the_running_one_up() {
    let backups = temp_dir("backup-one-at-a-time");
    let store = SlowReads {
        inner: MemoryStore::new(),
        reads_granted: Arc::new((Mutex::new(0), Condvar::new())),
        reads_waiting: Arc::new(AtomicU64::new(0)),
    };
    let clock = Arc::new(ManualClock::new(START));
    let (sequencer, _) =
        Sequencer::start(Box::new(store.clone()), ledger_config(), config(64, 0), clock).unwrap();
    let handle = sequencer.handle();
    seed(&handle);
    for _ in 0..20 {
        handle.submit_blocking(Command::Tick).unwrap();
    }
    let first: PathBuf = backups.join("first");
    let second: PathBuf = backups.join("second");
    // The first backup's first read waits for a grant; a claim and a second backup queue behind.
    let first_start = {
        let (handle, first) = (handle.clone(), first.clone());
        std::thread::spawn(move || block_on(handle.start_backup(first, vec![])))
    };
    store.wait_for_reader();
    let pending_claim = handle.try_submit(claim(77)).unwrap();
    let second_start = {
        let (handle, second) = (handle.clone(), second.clone());
        std::thread::spawn(move || block_on(handle.start_backup(second, vec![])))
    };
    wait_for_queue(&handle, 2);
    // Two reads: the first piece, and the check whether it already holds everything.
    store.grant(2);
    let started = first_start.join().unwrap().unwrap();
    assert_eq!(started.state, BackupState::Running);
    assert_eq!(started.progress.n_batches_copied, 1, "one batch a read");
    match second_start.join().unwrap() {
        Err(BackupError::Running { directory }) => assert_eq!(directory, first),
        other => panic!("expected Running, got {other:?}"),
    }
    assert!(!second.exists() && !partial_path(&second).exists());
    // The claim commits while the backup waits for its next read.
    assert!(pending_claim.blocking_recv().unwrap().is_ok());
    assert_eq!(handle.backup_status().unwrap().state, BackupState::Running);
    // Stop mid-copy.
    store.wait_for_reader();
    let stopper = std::thread::spawn(move || sequencer.stop());
    wait_for_queue(&handle, 1);
    store.grant(1);
    stopper.join().unwrap();
    let status = handle.backup_status().unwrap();
    match &status.state {
        BackupState::Failed(reason) => assert!(reason.contains("stopped"), "{reason}"),
        other => panic!("expected Failed, got {other:?}"),
    }
    assert!(status.finished_at.is_some());
    assert!(!first.exists() && !partial_path(&first).exists(), "a given-up backup leaves nothing");
    let counters = handle.counters();
    let count = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    assert_eq!(
        (
            count(&counters.n_backups_started),
            count(&counters.n_backups_done),
            count(&counters.n_backups_failed)
        ),
        (1, 0, 1),
        "the refused second backup never started"
    );
    assert_eq!(count(&counters.last_backup_done_unix_ms), 0);
    assert!(matches!(block_on(handle.start_backup(first, vec![])), Err(BackupError::Stopped)));
    let _ = std::fs::remove_dir_all(&backups);
}
