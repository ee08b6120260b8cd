//! Lantern's durable journal: where committed command batches live, and the only crate that
//! knows the database.
//!
//! The sequencer encodes each batch of ledger commands into an opaque byte body (see
//! `lantern-journal`) and hands it here as a [`BatchRecord`]; [`Store::append`] returns only once
//! the batch is durable, and only then are the batch's commands acknowledged. On restart
//! [`Store::replay`] streams every batch of a shard back in order, so the ledger can be rebuilt by
//! applying them again. The store never looks inside a body: it checks what it can check on its
//! own, a CRC-32 of each body and that batch numbers run 1, 2, 3… without a gap.
//!
//! Two implementations:
//! - [`SqliteStore`]: an embedded SQLite database `DIR/lantern.db` in WAL mode, with
//!   `synchronous=FULL` (one fsync per batch) and an exclusive lock, so that exactly one lantern
//!   process writes a data directory.
//! - [`MemoryStore`]: a vector in memory for tests of the layers above, with a switch to make
//!   appends fail as a broken disk would.
//!
//! - [`PostgresStore`]: the journal in PostgreSQL, for several lantern nodes over one database:
//!   each node writes its own shard (locked with an advisory lock), one `INSERT` per batch.
//!   Versioned migrations (`lantern_migrations`) create the schema.
//!
//! [`Backup`] copies a live journal into a new data directory a bounded piece at a time (SQLite
//! and memory stores; PostgreSQL has its own tools).
//!
//! [`PostgresBudget`] is the central campaign budget those nodes lease chunks from
//! (`campaign_budget`, `budget_lease`), and [`LocalPostgres`] starts a private PostgreSQL
//! server on loopback for tests and benchmarks.
//!
//! The journal's schema is the same SQL in SQLite and PostgreSQL (BLOB there, BYTEA here).

mod backup;
mod budget;
mod error;
mod local_postgres;
mod memory;
mod postgres;
mod sqlite;

pub use backup::{BACKUP_PARTIAL_SUFFIX, Backup, BackupProgress, partial_path};
pub use budget::{CampaignBudget, LeaseTotals, PostgresBudget};
pub use local_postgres::{LocalPostgres, LocalPostgresError};
pub use postgres::{MIGRATIONS, POSTGRES_SCHEMA_VERSION, PostgresStore};

pub use error::StoreError;
pub use memory::MemoryStore;
pub use sqlite::{DATABASE_FILE_NAME, Durability, OpenMode, STORE_FORMAT_VERSION, SqliteStore};

/// One committed batch of commands, as the store keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchRecord {
    /// The ledger shard whose sequencer wrote the batch.
    pub shard: u32,
    /// The batch's number within its shard: 1 for the first, then each one more than the last.
    pub batch_seq: u64,
    /// When the sequencer committed the batch (Unix milliseconds); replay applies the commands
    /// at this time so the rebuilt state is the same.
    pub committed_at_ms: u64,
    /// How many commands the body holds, so tools can count without decoding.
    pub n_commands: u32,
    /// The encoded commands; opaque to the store.
    pub body: Vec<u8>,
}

/// A durable, append-only journal of batches, one sequence per shard.
pub trait Store: Send {
    /// Appends one batch in one transaction; returns only after it is durable (fsync) when
    /// durability is [`Durability::Full`].
    ///
    /// # Panics
    /// When `batch.batch_seq` is not exactly one more than the shard's last batch (1 for a new
    /// shard): that is a bug in the caller, and writing it would leave a journal that cannot be
    /// replayed.
    fn append(&mut self, batch: &BatchRecord) -> Result<(), StoreError>;

    /// Calls `visit` with every stored batch of `shard` in `batch_seq` order, streaming (not all
    /// in memory at once), and returns how many batches it visited. A batch whose checksum does
    /// not match, or a gap in the numbering, stops the replay with [`StoreError::Corrupt`]; an
    /// error from `visit` stops it and is returned as is.
    fn replay(
        &mut self,
        shard: u32,
        visit: &mut dyn FnMut(BatchRecord) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError>;

    /// Calls `visit` with the batches of `shard` numbered after `after_batch_seq`, in order, at
    /// most `batches_max` of them, with the same checks as [`Store::replay`]; returns how many
    /// it visited. What a backup copies the journal with, a bounded piece at a time. A store
    /// that cannot (PostgreSQL, which has its own backup tools) answers
    /// [`StoreError::BackupUnsupported`].
    fn read_batches(
        &mut self,
        _shard: u32,
        _after_batch_seq: u64,
        _batches_max: u64,
        _visit: &mut dyn FnMut(BatchRecord) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        Err(StoreError::BackupUnsupported { store: self.describe() })
    }

    /// The number of the shard's last stored batch, or `None` when it has none.
    fn last_batch_seq(&mut self, shard: u32) -> Result<Option<u64>, StoreError>;

    /// Where the journal lives and how durable it is, for logs and `--help` style output
    /// (for example `sqlite:/srv/lantern/lantern.db (wal, synchronous=FULL)`).
    fn describe(&self) -> String;
}

/// The CRC-32 stored next to each body, so a flipped bit on disk is found on replay.
fn body_checksum(body: &[u8]) -> u32 {
    crc32fast::hash(body)
}

/// The batch number `append` requires next for a shard whose last batch is `last`.
///
/// Panics on the programmer errors described at [`Store::append`].
fn check_next_batch_seq(shard: u32, last: Option<u64>, batch_seq: u64) {
    let expected = last.map_or(1, |last| last.saturating_add(1));
    assert!(
        batch_seq == expected,
        "bug: shard {shard} appended batch {batch_seq} but its next batch must be {expected}; \
         the sequencer must number batches 1, 2, 3… without gaps"
    );
}
