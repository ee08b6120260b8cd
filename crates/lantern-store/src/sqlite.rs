//! The journal in an embedded SQLite database.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode, OpenFlags, Row, params};

use crate::{BatchRecord, Store, StoreError, body_checksum, check_next_batch_seq};

/// WAL pages (4 KiB each) between automatic checkpoints: 64 MiB.
pub const WAL_AUTOCHECKPOINT_PAGES: u32 = 16_384;

/// The database's file name inside a data directory.
pub const DATABASE_FILE_NAME: &str = "lantern.db";

/// The schema version kept in `lantern_meta.format_version`; a database with another value is
/// refused rather than guessed at.
pub const STORE_FORMAT_VERSION: &str = "1";

/// How long a statement waits for another connection's lock before giving up. Short, because
/// the only other holder can be a second lantern process, which keeps its exclusive lock for its
/// whole life: waiting longer would only hang the startup that should be refused.
const BUSY_TIMEOUT: Duration = Duration::from_millis(100);

/// The key of the schema version row in `lantern_meta`.
const FORMAT_VERSION_KEY: &str = "format_version";

// The schema sticks to SQL that PostgreSQL also runs, so a PostgreSQL store can share it; there
// the body column is BYTEA instead of BLOB. INTEGER is 32-bit signed in PostgreSQL, which is
// plenty for shard numbers and commands per batch.
const CREATE_SCHEMA_SQL: &str = "
    CREATE TABLE lantern_meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE journal (
        shard INTEGER NOT NULL,
        batch_seq BIGINT NOT NULL,
        committed_at_ms BIGINT NOT NULL,
        n_commands INTEGER NOT NULL,
        checksum BIGINT NOT NULL,
        body BLOB NOT NULL,
        PRIMARY KEY (shard, batch_seq)
    );
";

const INSERT_META_SQL: &str = "INSERT INTO lantern_meta (key, value) VALUES (?1, ?2)";
const SELECT_META_SQL: &str = "SELECT value FROM lantern_meta WHERE key = ?1";
const SELECT_LAST_BATCH_SEQS_SQL: &str = "SELECT shard, MAX(batch_seq) FROM journal GROUP BY shard";
const INSERT_BATCH_SQL: &str = "INSERT INTO journal (shard, batch_seq, committed_at_ms, n_commands, checksum, body) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
/// A shard's batches after `?2`, at most `?3` of them (-1: all).
const SELECT_BATCHES_SQL: &str = "SELECT batch_seq, committed_at_ms, n_commands, checksum, body \
     FROM journal WHERE shard = ?1 AND batch_seq > ?2 ORDER BY batch_seq LIMIT ?3";

/// Whether [`SqliteStore::open`] makes a new database or opens the one that is there. Never
/// both: a typo in `--data` must not silently start an empty journal next to the real one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// Make a new database; refuses when one already exists.
    Create,
    /// Open the existing database; refuses when there is none.
    Existing,
}

/// How hard an append works to survive a power cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=FULL`: every append is fsynced before it returns. The only mode in which an
    /// acknowledged order survives a crash.
    Full,
    /// `synchronous=OFF`: no fsync at all. For benchmarks that measure everything but the disk.
    Off,
}

impl Durability {
    const fn synchronous_pragma(self) -> &'static str {
        match self {
            Durability::Full => "FULL",
            Durability::Off => "OFF",
        }
    }
}

/// A [`Store`] in one SQLite file, `DIR/lantern.db`, written by exactly one process.
#[derive(Debug)]
pub struct SqliteStore {
    connection: Connection,
    database_path: PathBuf,
    durability: Durability,
    /// Each shard's last batch number, loaded at open and kept with every append, so append can
    /// check the numbering without a query.
    last_batch_seq_by_shard: HashMap<u32, u64>,
}

impl SqliteStore {
    /// Opens the journal database.
    ///
    /// `dir_or_path` is the data directory (the database is `DIR/lantern.db`; [`OpenMode::Create`]
    /// makes the directory) or, when it is an existing file or ends in `.db`, the database file
    /// itself. The database is locked for as long as the store lives: a second open, from this
    /// or another process, gets [`StoreError::Locked`].
    pub fn open(
        dir_or_path: &Path,
        mode: OpenMode,
        durability: Durability,
    ) -> Result<SqliteStore, StoreError> {
        let database_path = database_path(dir_or_path);
        let exists = database_path.try_exists().map_err(|source| StoreError::Io {
            path: database_path.clone(),
            action: "checking for",
            source,
        })?;
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        match (mode, exists) {
            (OpenMode::Create, true) => return Err(StoreError::AlreadyExists { path: database_path }),
            (OpenMode::Existing, false) => return Err(StoreError::NotFound { path: database_path }),
            (OpenMode::Create, false) => {
                if let Some(directory) =
                    database_path.parent().filter(|parent| !parent.as_os_str().is_empty())
                {
                    std::fs::create_dir_all(directory).map_err(|source| StoreError::Io {
                        path: directory.to_path_buf(),
                        action: "creating the data directory",
                        source,
                    })?;
                }
                flags |= OpenFlags::SQLITE_OPEN_CREATE;
            }
            (OpenMode::Existing, true) => {}
        }

        let on_error = |action| {
            let path = database_path.clone();
            move |error| sqlite_error(&path, action, error)
        };
        // Without SQLITE_OPEN_CREATE an Existing open cannot create a file that vanished since the
        // check above; it fails instead.
        let connection = Connection::open_with_flags(&database_path, flags).map_err(on_error("opening"))?;
        connection.busy_timeout(BUSY_TIMEOUT).map_err(on_error("configuring"))?;
        // Exclusive before the first read: SQLite then keeps its file lock until the connection
        // closes, and in WAL mode it keeps the WAL index in private memory, so no other process
        // can read or write behind our in-memory state.
        connection
            .pragma_update_and_check(None, "locking_mode", "EXCLUSIVE", |row| row.get::<_, String>(0))
            .map_err(on_error("locking"))?;
        if mode == OpenMode::Existing {
            // Check before switching the journal mode, so a stray file is refused unchanged.
            check_schema(&connection, &database_path)?;
        }
        let journal_mode = connection
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))
            .map_err(on_error("switching to WAL"))?;
        if !journal_mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Io {
                path: database_path.clone(),
                action: "switching to WAL",
                source: io::Error::other(format!("SQLite kept journal_mode={journal_mode}")),
            });
        }
        connection
            .pragma_update(None, "synchronous", durability.synchronous_pragma())
            .map_err(on_error("configuring"))?;
        // Checkpoints run inline on the committer (exclusive mode allows no other connection).
        // Fewer, larger ones cost less per batch than SQLite's default of one per 4 MiB of WAL.
        connection
            .pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)
            .map_err(on_error("configuring"))?;
        // Take the write lock now rather than at the first append, so a second lantern is refused
        // at startup instead of after it has accepted orders.
        connection.execute_batch("BEGIN IMMEDIATE; COMMIT;").map_err(on_error("locking"))?;

        if mode == OpenMode::Create {
            create_schema(&connection).map_err(on_error("creating the schema in"))?;
        }
        check_format_version(&connection, &database_path)?;
        let last_batch_seq_by_shard = load_last_batch_seqs(&connection, &database_path)?;
        Ok(SqliteStore { connection, database_path, durability, last_batch_seq_by_shard })
    }

    /// Whether `dir_or_path` already holds a journal database (so a start should open it, not
    /// create one).
    pub fn database_exists(dir_or_path: &Path) -> bool {
        database_path(dir_or_path).is_file()
    }

    /// The database file.
    pub fn database_path(&self) -> &Path {
        &self.database_path
    }

    fn corrupt(&self, what: String) -> StoreError {
        StoreError::Corrupt { path: self.database_path.clone(), what }
    }
}

impl Store for SqliteStore {
    fn append(&mut self, batch: &BatchRecord) -> Result<(), StoreError> {
        let last = self.last_batch_seq_by_shard.get(&batch.shard).copied();
        check_next_batch_seq(batch.shard, last, batch.batch_seq);
        let batch_seq = i64::try_from(batch.batch_seq)
            .map_err(|_| StoreError::Unstorable { what: "batch_seq", value: batch.batch_seq })?;
        let committed_at_ms = i64::try_from(batch.committed_at_ms)
            .map_err(|_| StoreError::Unstorable { what: "committed_at_ms", value: batch.committed_at_ms })?;
        let checksum = i64::from(body_checksum(&batch.body));
        let path = &self.database_path;
        let mut statement = self
            .connection
            .prepare_cached(INSERT_BATCH_SQL)
            .map_err(|error| sqlite_error(path, "appending to", error))?;
        // One statement in autocommit mode is one transaction: with synchronous=FULL it returns
        // after the WAL is fsynced, without the round trips of an explicit BEGIN and COMMIT.
        statement
            .execute(params![batch.shard, batch_seq, committed_at_ms, batch.n_commands, checksum, batch.body])
            .map_err(|error| sqlite_error(path, "appending to", error))?;
        self.last_batch_seq_by_shard.insert(batch.shard, batch.batch_seq);
        Ok(())
    }

    fn replay(
        &mut self,
        shard: u32,
        visit: &mut dyn FnMut(BatchRecord) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        let n_batches = self.read_batches(shard, 0, u64::MAX, visit)?;
        let last = self.last_batch_seq_by_shard.get(&shard).copied().unwrap_or(0);
        if n_batches != last {
            return Err(self.corrupt(format!(
                "journal shard {shard} replayed {n_batches} batches but its last batch is {last}"
            )));
        }
        Ok(n_batches)
    }

    fn read_batches(
        &mut self,
        shard: u32,
        after_batch_seq: u64,
        batches_max: u64,
        visit: &mut dyn FnMut(BatchRecord) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        let path = self.database_path.clone();
        let after = i64::try_from(after_batch_seq)
            .map_err(|_| StoreError::Unstorable { what: "after_batch_seq", value: after_batch_seq })?;
        // SQLite reads a negative LIMIT as none.
        let limit = i64::try_from(batches_max).unwrap_or(-1);
        let mut statement = self
            .connection
            .prepare_cached(SELECT_BATCHES_SQL)
            .map_err(|error| sqlite_error(&path, "reading", error))?;
        let mut rows = statement
            .query(params![shard, after, limit])
            .map_err(|error| sqlite_error(&path, "reading", error))?;
        let mut n_batches = 0_u64;
        while let Some(row) = rows.next().map_err(|error| sqlite_error(&path, "reading", error))? {
            let expected_batch_seq = after_batch_seq + n_batches + 1;
            let batch = read_batch(row, shard, expected_batch_seq).map_err(|what| StoreError::Corrupt {
                path: path.clone(),
                what: format!("journal shard {shard}, batch {expected_batch_seq}: {what}"),
            })?;
            visit(batch)?;
            n_batches += 1;
        }
        Ok(n_batches)
    }

    fn last_batch_seq(&mut self, shard: u32) -> Result<Option<u64>, StoreError> {
        Ok(self.last_batch_seq_by_shard.get(&shard).copied())
    }

    fn describe(&self) -> String {
        format!(
            "sqlite:{} (wal, synchronous={})",
            self.database_path.display(),
            self.durability.synchronous_pragma()
        )
    }
}

/// `DIR/lantern.db`, unless `dir_or_path` already names the file.
fn database_path(dir_or_path: &Path) -> PathBuf {
    let names_a_file =
        dir_or_path.is_file() || dir_or_path.extension().is_some_and(|extension| extension == "db");
    if names_a_file { dir_or_path.to_path_buf() } else { dir_or_path.join(DATABASE_FILE_NAME) }
}

/// Sorts a SQLite failure into what the operator can act on.
fn sqlite_error(path: &Path, action: &'static str, error: rusqlite::Error) -> StoreError {
    match error.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            StoreError::Locked { path: path.to_path_buf() }
        }
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
            StoreError::Corrupt { path: path.to_path_buf(), what: format!("SQLite reports \"{error}\"") }
        }
        _ => StoreError::Io { path: path.to_path_buf(), action, source: io::Error::other(error) },
    }
}

fn create_schema(connection: &Connection) -> Result<(), rusqlite::Error> {
    // One transaction: a crash leaves either no tables or all of them with the version row.
    connection.execute_batch("BEGIN IMMEDIATE;")?;
    let created = connection
        .execute_batch(CREATE_SCHEMA_SQL)
        .and_then(|()| connection.execute(INSERT_META_SQL, [FORMAT_VERSION_KEY, STORE_FORMAT_VERSION]));
    match created {
        Ok(_) => connection.execute_batch("COMMIT;"),
        Err(error) => {
            // The original error is the one worth reporting; a failed rollback adds nothing.
            let _ = connection.execute_batch("ROLLBACK;");
            Err(error)
        }
    }
}

/// Refuses a database without lantern's tables instead of initialising it: an Existing open of
/// the wrong file must never turn it into an empty journal.
fn check_schema(connection: &Connection, database_path: &Path) -> Result<(), StoreError> {
    let on_error = |error| sqlite_error(database_path, "reading", error);
    let mut statement = connection
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('lantern_meta', 'journal')",
        )
        .map_err(on_error)?;
    let names = statement
        .query_map([], |row| row.get::<_, String>(0))
        .and_then(|rows| rows.collect::<Result<Vec<String>, _>>())
        .map_err(on_error)?;
    let missing: Vec<&str> = ["lantern_meta", "journal"]
        .into_iter()
        .filter(|table| !names.iter().any(|name| name == table))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(StoreError::Corrupt {
        path: database_path.to_path_buf(),
        what: format!(
            "it has no {} table: it is not a lantern database, or its creation was interrupted \
             (then delete it and create it again)",
            missing.join(" or ")
        ),
    })
}

fn check_format_version(connection: &Connection, database_path: &Path) -> Result<(), StoreError> {
    let version: Option<String> = connection
        .query_row(SELECT_META_SQL, [FORMAT_VERSION_KEY], |row| row.get(0))
        .map(Some)
        .or_else(|error| match error {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            error => Err(error),
        })
        .map_err(|error| match error {
            rusqlite::Error::FromSqlConversionFailure(..) | rusqlite::Error::InvalidColumnType(..) => {
                StoreError::Corrupt {
                    path: database_path.to_path_buf(),
                    what: format!("lantern_meta.format_version is not text ({error})"),
                }
            }
            error => sqlite_error(database_path, "reading", error),
        })?;
    match version {
        Some(version) if version == STORE_FORMAT_VERSION => Ok(()),
        Some(found) => Err(StoreError::UnsupportedFormat {
            path: database_path.to_path_buf(),
            found,
            expected: STORE_FORMAT_VERSION,
        }),
        None => Err(StoreError::Corrupt {
            path: database_path.to_path_buf(),
            what: "lantern_meta has no format_version row".to_owned(),
        }),
    }
}

fn load_last_batch_seqs(
    connection: &Connection,
    database_path: &Path,
) -> Result<HashMap<u32, u64>, StoreError> {
    let corrupt = |what: String| StoreError::Corrupt { path: database_path.to_path_buf(), what };
    let mut statement = connection
        .prepare(SELECT_LAST_BATCH_SEQS_SQL)
        .map_err(|error| sqlite_error(database_path, "reading", error))?;
    let mut rows = statement.query([]).map_err(|error| sqlite_error(database_path, "reading", error))?;
    let mut last_batch_seq_by_shard = HashMap::new();
    while let Some(row) = rows.next().map_err(|error| sqlite_error(database_path, "reading", error))? {
        let shard = column_integer(row, 0, "shard")
            .and_then(|shard| u32::try_from(shard).map_err(|_| format!("shard {shard} is out of range")))
            .map_err(|what| corrupt(format!("journal: {what}")))?;
        let last = column_integer(row, 1, "batch_seq")
            .and_then(|seq| u64::try_from(seq).map_err(|_| format!("batch_seq {seq} is negative")))
            .map_err(|what| corrupt(format!("journal shard {shard}: {what}")))?;
        last_batch_seq_by_shard.insert(shard, last);
    }
    Ok(last_batch_seq_by_shard)
}

/// Reads one journal row, checking what the store can check without decoding the body.
/// Errors are the `what` of a [`StoreError::Corrupt`].
fn read_batch(row: &Row<'_>, shard: u32, expected_batch_seq: u64) -> Result<BatchRecord, String> {
    let batch_seq = column_integer(row, 0, "batch_seq")?;
    if u64::try_from(batch_seq).ok() != Some(expected_batch_seq) {
        return Err(format!("it is missing (the next stored batch is {batch_seq}); the journal has a gap"));
    }
    let committed_at_ms = column_integer(row, 1, "committed_at_ms")?;
    let committed_at_ms = u64::try_from(committed_at_ms)
        .map_err(|_| format!("committed_at_ms {committed_at_ms} is negative"))?;
    let n_commands = column_integer(row, 2, "n_commands")?;
    let n_commands =
        u32::try_from(n_commands).map_err(|_| format!("n_commands {n_commands} is out of range"))?;
    let checksum = column_integer(row, 3, "checksum")?;
    let body = match row.get_ref(4) {
        Ok(ValueRef::Blob(body)) => body.to_vec(),
        Ok(other) => return Err(format!("body is {:?}, not a blob", other.data_type())),
        Err(error) => return Err(format!("body is unreadable ({error})")),
    };
    let actual_checksum = body_checksum(&body);
    if i64::from(actual_checksum) != checksum {
        return Err(format!(
            "the body ({} bytes) has checksum {actual_checksum:#010x} but {checksum:#010x} \
             was stored with it",
            body.len()
        ));
    }
    Ok(BatchRecord { shard, batch_seq: expected_batch_seq, committed_at_ms, n_commands, body })
}

/// An INTEGER column, refusing NULL, text and anything else a tampered file might hold.
fn column_integer(row: &Row<'_>, index: usize, name: &str) -> Result<i64, String> {
    match row.get_ref(index) {
        Ok(ValueRef::Integer(value)) => Ok(value),
        Ok(other) => Err(format!("{name} is {:?}, not an integer", other.data_type())),
        Err(error) => Err(format!("{name} is unreadable ({error})")),
    }
}
