//! The store against real files: round trips, refusals, locking and tampering.

#![allow(clippy::unwrap_used)]

mod backup;
mod postgres;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use lantern_store::{
    BatchRecord, DATABASE_FILE_NAME, Durability, MemoryStore, OpenMode, SqliteStore, Store, StoreError,
};

/// A fresh directory under the system temp dir, removed when dropped.
struct TempDir {
    path: PathBuf,
}

impl TempDir {
    fn new(test_name: &str) -> TempDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir()
            .join(format!("lantern-store-{test_name}-{}-{unique}-{nanos}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        TempDir { path }
    }

    fn database(&self) -> PathBuf {
        self.path.join(DATABASE_FILE_NAME)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

pub(crate) fn batch(shard: u32, batch_seq: u64) -> BatchRecord {
    let n_commands = u32::try_from(batch_seq % 7 + 1).unwrap();
    BatchRecord {
        shard,
        batch_seq,
        committed_at_ms: 1_771_000_000_000 + batch_seq * 3,
        n_commands,
        body: format!("shard {shard} batch {batch_seq} 杨枝甘露")
            .into_bytes()
            .repeat(usize::from(batch_seq.is_multiple_of(4)) * 100 + 1),
    }
}

pub(crate) fn replay_all(store: &mut dyn Store, shard: u32) -> Result<Vec<BatchRecord>, StoreError> {
    let mut batches = Vec::new();
    let n_batches = store.replay(shard, &mut |batch| {
        batches.push(batch);
        Ok(())
    })?;
    assert_eq!(n_batches, u64::try_from(batches.len()).unwrap());
    Ok(batches)
}

fn create(dir: &Path) -> SqliteStore {
    SqliteStore::open(dir, OpenMode::Create, Durability::Full).unwrap_or_else(|e| panic!("{e}"))
}

fn reopen(dir: &Path) -> SqliteStore {
    SqliteStore::open(dir, OpenMode::Existing, Durability::Full).unwrap_or_else(|e| panic!("{e}"))
}

/// Writes batches 1..=n for shards 0 and 3, then closes the store.
fn write_journal(dir: &Path, n_batches: u64) {
    let mut store = create(dir);
    for batch_seq in 1..=n_batches {
        store.append(&batch(0, batch_seq)).unwrap_or_else(|e| panic!("{e}"));
        store.append(&batch(3, batch_seq)).unwrap_or_else(|e| panic!("{e}"));
    }
}

fn expect_corrupt(error: StoreError) -> String {
    match error {
        StoreError::Corrupt { .. } => error.to_string(),
        other => panic!("expected Corrupt, got {other:?}: {other}"),
    }
}

#[test]
fn batches_round_trip_across_close_and_reopen() {
    let dir = TempDir::new("round-trip");
    {
        let mut store = create(&dir.path);
        assert!(store.describe().contains("lantern.db (wal, synchronous=FULL)"), "{}", store.describe());
        assert_eq!(store.last_batch_seq(0).unwrap(), None);
        for batch_seq in 1..=20 {
            store.append(&batch(0, batch_seq)).unwrap();
        }
        store.append(&batch(7, 1)).unwrap();
        assert_eq!(store.last_batch_seq(0).unwrap(), Some(20));
        // Replay works on the store that is still writing, too.
        assert_eq!(replay_all(&mut store, 0).unwrap().len(), 20);
    }
    let mut store = reopen(&dir.path);
    assert_eq!(store.last_batch_seq(0).unwrap(), Some(20));
    assert_eq!(store.last_batch_seq(7).unwrap(), Some(1));
    assert_eq!(store.last_batch_seq(1).unwrap(), None);
    let replayed = replay_all(&mut store, 0).unwrap();
    assert_eq!(replayed, (1..=20).map(|batch_seq| batch(0, batch_seq)).collect::<Vec<_>>());
    assert_eq!(replay_all(&mut store, 7).unwrap(), vec![batch(7, 1)]);
    assert_eq!(replay_all(&mut store, 1).unwrap(), vec![]);
    // Appending continues where the journal ended.
    store.append(&batch(0, 21)).unwrap();
    drop(store);
    let mut store = SqliteStore::open(&dir.database(), OpenMode::Existing, Durability::Full).unwrap();
    assert_eq!(replay_all(&mut store, 0).unwrap().len(), 21);
}

#[test]
fn replay_stops_at_the_first_error_from_visit() {
    let dir = TempDir::new("visit-error");
    write_journal(&dir.path, 5);
    let mut store = reopen(&dir.path);
    let mut n_visited = 0;
    let result = store.replay(0, &mut |batch| {
        n_visited += 1;
        if batch.batch_seq == 3 {
            return Err(StoreError::Corrupt { path: PathBuf::from("visitor"), what: "stop here".into() });
        }
        Ok(())
    });
    assert!(expect_corrupt(result.unwrap_err()).contains("stop here"));
    assert_eq!(n_visited, 3);
}

#[test]
#[should_panic(expected = "next batch must be 3")]
fn appending_out_of_order_is_a_bug() {
    let dir = TempDir::new("out-of-order");
    let mut store = create(&dir.path);
    store.append(&batch(0, 1)).unwrap();
    store.append(&batch(0, 2)).unwrap();
    let _ = store.append(&batch(0, 4));
}

#[test]
fn create_refuses_an_existing_database() {
    let dir = TempDir::new("create-existing");
    write_journal(&dir.path, 1);
    let error = SqliteStore::open(&dir.path, OpenMode::Create, Durability::Full).unwrap_err();
    assert!(matches!(error, StoreError::AlreadyExists { .. }), "{error:?}");
    assert!(error.to_string().contains("already exists"), "{error}");
    // And it did not touch the journal.
    assert_eq!(replay_all(&mut reopen(&dir.path), 0).unwrap().len(), 1);
}

#[test]
fn existing_refuses_a_missing_database_and_creates_nothing() {
    let dir = TempDir::new("missing");
    let error = SqliteStore::open(&dir.path, OpenMode::Existing, Durability::Full).unwrap_err();
    assert!(matches!(error, StoreError::NotFound { .. }), "{error:?}");
    assert!(error.to_string().starts_with("no lantern database at "), "{error}");
    assert!(error.to_string().contains("--create"), "{error}");
    assert!(!dir.path.exists());
}

#[test]
fn garbage_is_corrupt_and_left_alone() {
    let dir = TempDir::new("garbage");
    std::fs::create_dir_all(&dir.path).unwrap();
    // Deterministic noise, longer than a SQLite header and page.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let garbage: Vec<u8> = (0..10_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect();
    std::fs::write(dir.database(), &garbage).unwrap();
    let error = SqliteStore::open(&dir.path, OpenMode::Existing, Durability::Full).unwrap_err();
    let message = expect_corrupt(error);
    assert!(message.contains("start from your latest backup"), "{message}");
    assert_eq!(std::fs::read(dir.database()).unwrap(), garbage);
}

#[test]
fn an_empty_or_foreign_database_is_corrupt_never_initialised() {
    let dir = TempDir::new("foreign");
    std::fs::create_dir_all(&dir.path).unwrap();
    std::fs::write(dir.database(), b"").unwrap();
    let message =
        expect_corrupt(SqliteStore::open(&dir.path, OpenMode::Existing, Durability::Full).unwrap_err());
    assert!(message.contains("no lantern_meta or journal table"), "{message}");
    assert_eq!(std::fs::read(dir.database()).unwrap(), b"");

    std::fs::remove_file(dir.database()).unwrap();
    let foreign = rusqlite::Connection::open(dir.database()).unwrap();
    foreign.execute_batch("CREATE TABLE journal (x INTEGER);").unwrap();
    drop(foreign);
    let message =
        expect_corrupt(SqliteStore::open(&dir.path, OpenMode::Existing, Durability::Full).unwrap_err());
    assert!(message.contains("no lantern_meta table"), "{message}");
}

#[test]
fn another_format_version_is_refused() {
    let dir = TempDir::new("format-version");
    write_journal(&dir.path, 1);
    let raw = rusqlite::Connection::open(dir.database()).unwrap();
    raw.execute("UPDATE lantern_meta SET value = '2' WHERE key = 'format_version'", []).unwrap();
    drop(raw);
    let error = SqliteStore::open(&dir.path, OpenMode::Existing, Durability::Full).unwrap_err();
    assert!(matches!(error, StoreError::UnsupportedFormat { .. }), "{error:?}");
    assert!(error.to_string().contains("format_version \"2\""), "{error}");
}

#[test]
fn a_second_open_is_locked_while_the_first_lives() {
    let dir = TempDir::new("locked");
    let mut first = create(&dir.path);
    first.append(&batch(0, 1)).unwrap();
    let started = std::time::Instant::now();
    let error = SqliteStore::open(&dir.path, OpenMode::Existing, Durability::Full).unwrap_err();
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "a locked open must not hang");
    assert!(matches!(error, StoreError::Locked { .. }), "{error:?}");
    assert!(error.to_string().contains("is in use by another lantern process"), "{error}");
    // A raw reader is locked out too, so nothing can change the journal behind the store.
    let raw = rusqlite::Connection::open(dir.database()).unwrap();
    raw.busy_timeout(std::time::Duration::ZERO).unwrap();
    assert!(raw.query_row("SELECT COUNT(*) FROM journal", [], |row| row.get::<_, i64>(0)).is_err());
    drop(raw);
    first.append(&batch(0, 2)).unwrap();
    drop(first);
    let mut second = reopen(&dir.path);
    assert_eq!(replay_all(&mut second, 0).unwrap().len(), 2);
}

/// Set in the child process of [`a_second_process_is_locked_out`] to the directory to open.
const LOCK_CHILD_ENV: &str = "LANTERN_STORE_TEST_LOCK_CHILD_DIR";

#[test]
fn a_second_process_is_locked_out() {
    if let Some(child_dir) = std::env::var_os(LOCK_CHILD_ENV) {
        // The child: report what opening the parent's database gives.
        match SqliteStore::open(Path::new(&child_dir), OpenMode::Existing, Durability::Full) {
            Ok(_) => println!("child-result: opened"),
            Err(error) => println!("child-result: {error:?}"),
        }
        return;
    }
    let dir = TempDir::new("locked-process");
    let mut store = create(&dir.path);
    store.append(&batch(0, 1)).unwrap();
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "a_second_process_is_locked_out", "--nocapture", "--test-threads=1"])
        .env(LOCK_CHILD_ENV, &dir.path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "child failed: {stdout}");
    assert!(stdout.contains("child-result: Locked"), "child output: {stdout}");
    drop(store);
    // Once the first process lets go, the database opens again.
    assert_eq!(replay_all(&mut reopen(&dir.path), 0).unwrap().len(), 1);
}

#[test]
fn a_tampered_body_is_corrupt_naming_the_batch() {
    let dir = TempDir::new("tampered");
    write_journal(&dir.path, 5);
    let raw = rusqlite::Connection::open(dir.database()).unwrap();
    let n_changed = raw
        .execute("UPDATE journal SET body = CAST('tampered' AS BLOB) WHERE shard = 0 AND batch_seq = 3", [])
        .unwrap();
    assert_eq!(n_changed, 1);
    drop(raw);
    let mut store = reopen(&dir.path);
    let mut n_visited = 0;
    let error = store
        .replay(0, &mut |_| {
            n_visited += 1;
            Ok(())
        })
        .unwrap_err();
    let message = expect_corrupt(error);
    assert!(message.contains("shard 0, batch 3"), "{message}");
    assert!(message.contains("checksum"), "{message}");
    assert!(message.contains("start from your latest backup"), "{message}");
    assert_eq!(n_visited, 2, "batches before the bad one are visited");
    // The other shard is intact.
    assert_eq!(replay_all(&mut store, 3).unwrap().len(), 5);
}

#[test]
fn a_body_of_the_wrong_type_is_corrupt() {
    let dir = TempDir::new("wrong-type");
    write_journal(&dir.path, 2);
    let raw = rusqlite::Connection::open(dir.database()).unwrap();
    raw.execute("UPDATE journal SET body = 'text' WHERE shard = 3 AND batch_seq = 2", []).unwrap();
    raw.execute("UPDATE journal SET committed_at_ms = -5 WHERE shard = 0 AND batch_seq = 1", []).unwrap();
    drop(raw);
    let mut store = reopen(&dir.path);
    let message = expect_corrupt(replay_all(&mut store, 3).unwrap_err());
    assert!(message.contains("shard 3, batch 2: body is Text, not a blob"), "{message}");
    let message = expect_corrupt(replay_all(&mut store, 0).unwrap_err());
    assert!(message.contains("shard 0, batch 1: committed_at_ms -5 is negative"), "{message}");
}

#[test]
fn a_deleted_middle_batch_is_a_gap() {
    let dir = TempDir::new("gap");
    write_journal(&dir.path, 5);
    let raw = rusqlite::Connection::open(dir.database()).unwrap();
    raw.execute("DELETE FROM journal WHERE shard = 3 AND batch_seq = 2", []).unwrap();
    drop(raw);
    let mut store = reopen(&dir.path);
    let message = expect_corrupt(replay_all(&mut store, 3).unwrap_err());
    assert!(message.contains("shard 3, batch 2: it is missing (the next stored batch is 3)"), "{message}");
    assert_eq!(replay_all(&mut store, 0).unwrap().len(), 5);
}

#[test]
fn durability_off_still_round_trips() {
    let dir = TempDir::new("durability-off");
    {
        let mut store = SqliteStore::open(&dir.path, OpenMode::Create, Durability::Off).unwrap();
        assert!(store.describe().ends_with("(wal, synchronous=OFF)"), "{}", store.describe());
        for batch_seq in 1..=10 {
            store.append(&batch(2, batch_seq)).unwrap();
        }
    }
    let mut store = SqliteStore::open(&dir.path, OpenMode::Existing, Durability::Off).unwrap();
    assert_eq!(replay_all(&mut store, 2).unwrap(), (1..=10).map(|seq| batch(2, seq)).collect::<Vec<_>>());
}

#[test]
fn a_path_ending_in_db_names_the_file() {
    let dir = TempDir::new("named-file");
    let file = dir.path.join("nested").join("journal.db");
    {
        let mut store = SqliteStore::open(&file, OpenMode::Create, Durability::Full).unwrap();
        assert_eq!(store.database_path(), file);
        store.append(&batch(0, 1)).unwrap();
    }
    assert!(file.is_file());
    let mut store = SqliteStore::open(&file, OpenMode::Existing, Durability::Full).unwrap();
    assert_eq!(replay_all(&mut store, 0).unwrap().len(), 1);
}

#[test]
fn memory_store_round_trips_and_shares_between_clones() {
    let mut store = MemoryStore::new();
    let observer = store.clone();
    for batch_seq in 1..=3 {
        store.append(&batch(1, batch_seq)).unwrap();
    }
    assert_eq!(store.last_batch_seq(1).unwrap(), Some(3));
    assert_eq!(store.last_batch_seq(0).unwrap(), None);
    assert_eq!(observer.batches(1).len(), 3);
    let mut replayed_from_clone = observer.clone();
    assert_eq!(
        replay_all(&mut replayed_from_clone, 1).unwrap(),
        (1..=3).map(|seq| batch(1, seq)).collect::<Vec<_>>()
    );
    assert!(store.describe().starts_with("memory"));
}

#[test]
fn memory_store_fails_after_n_appends() {
    let mut store = MemoryStore::failing_after(2);
    store.append(&batch(0, 1)).unwrap();
    store.append(&batch(5, 1)).unwrap();
    let error = store.append(&batch(0, 2)).unwrap_err();
    assert!(matches!(error, StoreError::Io { .. }), "{error:?}");
    assert!(error.to_string().contains("injected failure"), "{error}");
    // A dead disk stays dead, and nothing failed was stored.
    assert!(store.append(&batch(0, 2)).is_err());
    assert_eq!(store.n_appends_failed(), 2);
    assert_eq!(store.last_batch_seq(0).unwrap(), Some(1));
    assert_eq!(replay_all(&mut store, 0).unwrap().len(), 1);

    let mut never = MemoryStore::failing_after(0);
    assert!(never.append(&batch(0, 1)).is_err());
}
