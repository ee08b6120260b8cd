//! A journal in memory, for tests of the layers above the store.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::{BatchRecord, Store, StoreError, body_checksum, check_next_batch_seq};

/// The path named in errors from a [`MemoryStore`], which has no file.
const MEMORY_PATH: &str = "<memory>";

/// A [`Store`] that keeps batches in a vector.
///
/// Clones share one journal, so a test can hand one clone to a sequencer and keep another to
/// inspect the batches or replay them after a simulated crash.
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    shared: Arc<Mutex<MemoryJournal>>,
}

#[derive(Debug, Default)]
struct MemoryJournal {
    /// Per shard, the batches in order; with the checksum taken at append, so replay checks the
    /// same thing the SQLite store checks.
    batches_by_shard: BTreeMap<u32, Vec<(BatchRecord, u32)>>,
    /// Appends that may still succeed; `None` means no limit.
    appends_left: Option<u64>,
    n_appends_failed: u64,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// A store whose first `n_appends` appends succeed and every later one fails with
    /// [`StoreError::Io`], as a disk that died would; nothing failed is stored.
    pub fn failing_after(n_appends: u64) -> MemoryStore {
        let store = MemoryStore::new();
        store.lock().appends_left = Some(n_appends);
        store
    }

    /// A copy of every stored batch of `shard`, in order.
    pub fn batches(&self, shard: u32) -> Vec<BatchRecord> {
        let journal = self.lock();
        journal
            .batches_by_shard
            .get(&shard)
            .map(|batches| batches.iter().map(|(batch, _)| batch.clone()).collect())
            .unwrap_or_default()
    }

    /// How many appends were refused by the injected failure.
    pub fn n_appends_failed(&self) -> u64 {
        self.lock().n_appends_failed
    }

    fn lock(&self) -> MutexGuard<'_, MemoryJournal> {
        // A panic in another holder (a failing test thread) leaves the data consistent: every
        // change below is a single push or counter update.
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Store for MemoryStore {
    fn append(&mut self, batch: &BatchRecord) -> Result<(), StoreError> {
        let mut journal = self.lock();
        let last = journal.batches_by_shard.get(&batch.shard).and_then(|batches| batches.last());
        check_next_batch_seq(batch.shard, last.map(|(last, _)| last.batch_seq), batch.batch_seq);
        if let Some(appends_left) = journal.appends_left.as_mut() {
            if *appends_left == 0 {
                journal.n_appends_failed += 1;
                return Err(StoreError::Io {
                    path: PathBuf::from(MEMORY_PATH),
                    action: "appending to",
                    source: io::Error::other(format!(
                        "injected failure: shard {} batch {} was not stored (MemoryStore::failing_after)",
                        batch.shard, batch.batch_seq
                    )),
                });
            }
            *appends_left -= 1;
        }
        let checksum = body_checksum(&batch.body);
        journal.batches_by_shard.entry(batch.shard).or_default().push((batch.clone(), checksum));
        Ok(())
    }

    fn replay(
        &mut self,
        shard: u32,
        visit: &mut dyn FnMut(BatchRecord) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        self.read_batches(shard, 0, u64::MAX, visit)
    }

    fn read_batches(
        &mut self,
        shard: u32,
        after_batch_seq: u64,
        batches_max: u64,
        visit: &mut dyn FnMut(BatchRecord) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        // Batch n sits at index n - 1: appends refuse gaps.
        let from = usize::try_from(after_batch_seq).unwrap_or(usize::MAX);
        let count = usize::try_from(batches_max).unwrap_or(usize::MAX);
        let batches: Vec<(BatchRecord, u32)> = self
            .lock()
            .batches_by_shard
            .get(&shard)
            .map(|batches| batches.iter().skip(from).take(count).cloned().collect())
            .unwrap_or_default();
        let mut n_batches = 0_u64;
        for (batch, checksum) in batches {
            if body_checksum(&batch.body) != checksum {
                return Err(StoreError::Corrupt {
                    path: PathBuf::from(MEMORY_PATH),
                    what: format!(
                        "shard {shard} batch {}: the body does not match its checksum",
                        batch.batch_seq
                    ),
                });
            }
            visit(batch)?;
            n_batches += 1;
        }
        Ok(n_batches)
    }

    fn last_batch_seq(&mut self, shard: u32) -> Result<Option<u64>, StoreError> {
        let journal = self.lock();
        Ok(journal.batches_by_shard.get(&shard).and_then(|batches| batches.last()).map(|(b, _)| b.batch_seq))
    }

    fn describe(&self) -> String {
        "memory (not durable; tests only)".to_owned()
    }
}
