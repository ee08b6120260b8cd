//! The journal in PostgreSQL, shared by several lantern nodes.
//!
//! Every node writes its own shard of the one `journal` table (the same columns as SQLite's,
//! `body` as BYTEA). A node holds a session-level advisory lock on its shard for as long as its
//! connection lives, so two nodes can never write one shard; when a node dies, PostgreSQL drops
//! its session and the lock with it. A batch is one `INSERT` in autocommit mode: one
//! transaction and one round trip however many commands it holds (the group commit), durable on
//! return with `synchronous_commit = on`.
//!
//! The schema is versioned: `lantern_migrations` records each applied migration, and every open
//! applies the missing ones inside one transaction under an advisory lock, so nodes starting
//! together migrate once. A database migrated by a newer lantern is refused.

use std::str::FromStr;
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, Config, NoTls, Statement};

use crate::{BatchRecord, Durability, OpenMode, Store, StoreError, body_checksum, check_next_batch_seq};

/// The first key of lantern's advisory locks ("LANT"); the second is the shard, or
/// [`MIGRATION_LOCK_KEY`] while migrating.
const LOCK_NAMESPACE: i32 = 0x4C41_4E54;
/// The second advisory-lock key taken while migrating (shards are non-negative).
const MIGRATION_LOCK_KEY: i32 = -1;
/// How long a connection attempt may take before the store reports PostgreSQL unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A statement running longer than this is cancelled by the server, so a stuck database turns
/// into an error the committer reports instead of a committer that hangs forever.
const STATEMENT_TIMEOUT_MS: u64 = 30_000;

/// The schema, one migration per entry: `(version, name, SQL)`. Append only; never edit one that
/// has shipped.
pub const MIGRATIONS: &[(i32, &str, &str)] = &[
    (
        1,
        "journal",
        "CREATE TABLE journal (
            shard INTEGER NOT NULL,
            batch_seq BIGINT NOT NULL,
            committed_at_ms BIGINT NOT NULL,
            n_commands INTEGER NOT NULL,
            checksum BIGINT NOT NULL,
            body BYTEA NOT NULL,
            PRIMARY KEY (shard, batch_seq)
        )",
    ),
    (
        2,
        "budget leases",
        "CREATE TABLE campaign_budget (
            campaign_id BIGINT PRIMARY KEY,
            budget_fen BIGINT NOT NULL CHECK (budget_fen >= 0),
            pool_fen BIGINT NOT NULL,
            CHECK (pool_fen >= 0 AND pool_fen <= budget_fen)
        );
        CREATE TABLE budget_lease (
            campaign_id BIGINT NOT NULL REFERENCES campaign_budget (campaign_id),
            shard INTEGER NOT NULL CHECK (shard >= 0),
            granted_fen BIGINT NOT NULL CHECK (granted_fen >= 0),
            returned_fen BIGINT NOT NULL CHECK (returned_fen >= 0),
            expires_at_ms BIGINT NOT NULL,
            PRIMARY KEY (campaign_id, shard),
            CHECK (returned_fen <= granted_fen)
        )",
    ),
];

/// The schema version this lantern writes and reads.
pub const POSTGRES_SCHEMA_VERSION: i32 = 2;
const _: () = assert!(MIGRATIONS[MIGRATIONS.len() - 1].0 == POSTGRES_SCHEMA_VERSION);

const INSERT_BATCH_SQL: &str = "INSERT INTO journal (shard, batch_seq, committed_at_ms, n_commands, checksum, body) \
     VALUES ($1, $2, $3, $4, $5, $6)";
const SELECT_BATCHES_SQL: &str = "SELECT batch_seq, committed_at_ms, n_commands, checksum, body \
     FROM journal WHERE shard = $1 ORDER BY batch_seq";
const SELECT_LAST_BATCH_SEQ_SQL: &str = "SELECT MAX(batch_seq) FROM journal WHERE shard = $1";

/// A [`Store`] in PostgreSQL: it writes one shard (locked) and reads any.
pub struct PostgresStore {
    client: Client,
    config: Config,
    target: String,
    /// The shard this store may append to, locked against other nodes; `None` opens read-only.
    writer_shard: Option<u32>,
    durability: Durability,
    last_batch_seq: Option<u64>,
    insert: Statement,
    /// Set when the journal was found ahead of this node's memory: every later append fails.
    behind_journal: Option<u64>,
    /// The last statement failed for want of a connection; the next append reconnects.
    connection_lost: bool,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("PostgresStore")
            .field("target", &self.target)
            .field("writer_shard", &self.writer_shard)
            .field("last_batch_seq", &self.last_batch_seq)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to `url`, migrates the schema ([`OpenMode::Create`]) or checks it
    /// ([`OpenMode::Existing`]), and, with a `writer_shard`, locks that shard for this store's
    /// life. `Create` refuses a shard that already has batches, as SQLite refuses an existing file.
    pub fn open(
        url: &str,
        mode: OpenMode,
        durability: Durability,
        writer_shard: Option<u32>,
    ) -> Result<PostgresStore, StoreError> {
        let config = parse_url(url)?;
        let target = describe_target(&config);
        let mut client = connect(&config, &target)?;
        match mode {
            OpenMode::Create => migrate(&mut client, &target)?,
            OpenMode::Existing => check_schema(&mut client, &target)?,
        }
        let mut store_client = SessionSetup { client: &mut client, target: &target, durability };
        store_client.configure()?;
        let last_batch_seq = match writer_shard {
            Some(shard) => {
                lock_shard(&mut client, &target, shard)?;
                query_last_batch_seq(&mut client, &target, shard)?
            }
            None => None,
        };
        if let (OpenMode::Create, Some(shard), Some(n_batches)) = (mode, writer_shard, last_batch_seq) {
            return Err(StoreError::ShardNotEmpty { target, shard, n_batches });
        }
        let insert =
            client.prepare(INSERT_BATCH_SQL).map_err(|error| database_error(&target, "preparing", &error))?;
        Ok(PostgresStore {
            client,
            config,
            target,
            writer_shard,
            durability,
            last_batch_seq,
            insert,
            behind_journal: None,
            connection_lost: false,
        })
    }

    /// Whether the database at `url` has lantern's schema and `shard` has batches, so a start
    /// should open it rather than create it.
    pub fn shard_exists(url: &str, shard: u32) -> Result<bool, StoreError> {
        let config = parse_url(url)?;
        let target = describe_target(&config);
        let mut client = connect(&config, &target)?;
        if schema_version(&mut client, &target)?.is_none() {
            return Ok(false);
        }
        Ok(query_last_batch_seq(&mut client, &target, shard)?.is_some())
    }

    /// Every shard that has journal batches.
    pub fn shards(&mut self) -> Result<Vec<u32>, StoreError> {
        let rows = self
            .client
            .query("SELECT DISTINCT shard FROM journal ORDER BY shard", &[])
            .map_err(|error| database_error(&self.target, "reading", &error))?;
        rows.iter()
            .map(|row| {
                let shard: i32 = row.get(0);
                u32::try_from(shard).map_err(|_| self.corrupt(format!("journal has shard {shard}")))
            })
            .collect()
    }

    /// The database, without its password, for messages.
    pub fn target(&self) -> &str {
        &self.target
    }

    fn corrupt(&self, what: String) -> StoreError {
        StoreError::Corrupt { path: self.target.clone().into(), what }
    }

    /// A fresh connection after the old one broke. The shard's lock went with the old session, so
    /// it is taken again; then the journal must end where this node's memory does: if it ends
    /// later, the batch whose commit was cut off did commit and the node must restart to replay it.
    fn reconnect(&mut self, shard: u32) -> Result<(), StoreError> {
        let mut client = connect(&self.config, &self.target)?;
        SessionSetup { client: &mut client, target: &self.target, durability: self.durability }
            .configure()?;
        lock_shard(&mut client, &self.target, shard)?;
        let last_in_journal = query_last_batch_seq(&mut client, &self.target, shard)?;
        if last_in_journal != self.last_batch_seq {
            let batch_seq = last_in_journal.unwrap_or(0);
            self.behind_journal = Some(batch_seq);
            return Err(StoreError::BehindJournal { target: self.target.clone(), shard, batch_seq });
        }
        self.insert = client
            .prepare(INSERT_BATCH_SQL)
            .map_err(|error| database_error(&self.target, "preparing", &error))?;
        self.client = client;
        Ok(())
    }
}

impl Store for PostgresStore {
    fn append(&mut self, batch: &BatchRecord) -> Result<(), StoreError> {
        assert!(
            self.writer_shard == Some(batch.shard),
            "bug: a PostgreSQL store that writes shard {:?} was asked to append to shard {}",
            self.writer_shard,
            batch.shard
        );
        check_next_batch_seq(batch.shard, self.last_batch_seq, batch.batch_seq);
        if let Some(batch_seq) = self.behind_journal {
            return Err(StoreError::BehindJournal {
                target: self.target.clone(),
                shard: batch.shard,
                batch_seq,
            });
        }
        let shard = shard_column(batch.shard);
        let batch_seq = i64::try_from(batch.batch_seq)
            .map_err(|_| StoreError::Unstorable { what: "batch_seq", value: batch.batch_seq })?;
        let committed_at_ms = i64::try_from(batch.committed_at_ms)
            .map_err(|_| StoreError::Unstorable { what: "committed_at_ms", value: batch.committed_at_ms })?;
        let n_commands = i32::try_from(batch.n_commands)
            .map_err(|_| StoreError::Unstorable { what: "n_commands", value: u64::from(batch.n_commands) })?;
        let checksum = i64::from(body_checksum(&batch.body));
        if self.connection_lost || self.client.is_closed() {
            self.reconnect(batch.shard)?;
            self.connection_lost = false;
        }
        // One statement in autocommit mode is one transaction; with synchronous_commit=on the
        // server answers only after its WAL is flushed.
        let inserted = self.client.execute(
            &self.insert,
            &[&shard, &batch_seq, &committed_at_ms, &n_commands, &checksum, &batch.body],
        );
        if let Err(error) = inserted {
            let error = database_error(&self.target, "appending to", &error);
            self.connection_lost = matches!(error, StoreError::Unreachable { .. });
            return Err(error);
        }
        self.last_batch_seq = Some(batch.batch_seq);
        Ok(())
    }

    fn replay(
        &mut self,
        shard: u32,
        visit: &mut dyn FnMut(BatchRecord) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        let target = self.target.clone();
        let last = if self.writer_shard == Some(shard) {
            self.last_batch_seq
        } else {
            query_last_batch_seq(&mut self.client, &target, shard)?
        };
        let corrupt = |what: String| StoreError::Corrupt { path: target.clone().into(), what };
        let shard_value = shard_column(shard);
        // query_raw streams rows as they arrive instead of collecting the whole journal first.
        let mut rows = self
            .client
            .query_raw(SELECT_BATCHES_SQL, [&shard_value as &(dyn postgres::types::ToSql + Sync)])
            .map_err(|error| database_error(&target, "reading", &error))?;
        let mut n_batches = 0_u64;
        while let Some(row) = rows.next().map_err(|error| database_error(&target, "reading", &error))? {
            let expected_batch_seq = n_batches + 1;
            let batch = read_batch(&row, shard, expected_batch_seq).map_err(|what| {
                corrupt(format!("journal shard {shard}, batch {expected_batch_seq}: {what}"))
            })?;
            visit(batch)?;
            n_batches = expected_batch_seq;
        }
        let last = last.unwrap_or(0);
        if n_batches != last {
            return Err(corrupt(format!(
                "journal shard {shard} replayed {n_batches} batches but its last batch is {last}"
            )));
        }
        Ok(n_batches)
    }

    fn last_batch_seq(&mut self, shard: u32) -> Result<Option<u64>, StoreError> {
        if self.writer_shard == Some(shard) {
            return Ok(self.last_batch_seq);
        }
        let target = self.target.clone();
        query_last_batch_seq(&mut self.client, &target, shard)
    }

    fn describe(&self) -> String {
        let commit = match self.durability {
            Durability::Full => "on",
            Durability::Off => "off",
        };
        match self.writer_shard {
            Some(shard) => format!("{} shard {shard} (synchronous_commit={commit})", self.target),
            None => format!("{} (read only)", self.target),
        }
    }
}

/// Parses a `postgres://` URL (or a `key=value` connection string) and sets lantern's timeouts.
pub(crate) fn parse_url(url: &str) -> Result<Config, StoreError> {
    let mut config = Config::from_str(url).map_err(|error| StoreError::Unreachable {
        target: "<the store URL>".to_owned(),
        reason: format!(
            "it is not a PostgreSQL URL ({error}); write it as postgres://USER@HOST:PORT/DATABASE"
        ),
    })?;
    config.connect_timeout(CONNECT_TIMEOUT);
    config.keepalives(true);
    config.keepalives_idle(Duration::from_secs(10));
    config.application_name("lantern");
    Ok(config)
}

/// `postgres://USER@HOST:PORT/DATABASE`, never with the password.
pub(crate) fn describe_target(config: &Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|host| match host {
            postgres::config::Host::Tcp(name) => name.clone(),
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".to_owned());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("postgres");
    let database = config.get_dbname().unwrap_or(user);
    format!("postgres://{user}@{host}:{port}/{database}")
}

pub(crate) fn connect(config: &Config, target: &str) -> Result<Client, StoreError> {
    config
        .connect(NoTls)
        .map_err(|error| StoreError::Unreachable { target: target.to_owned(), reason: error_text(&error) })
}

pub(crate) fn database_error(target: &str, action: &'static str, error: &postgres::Error) -> StoreError {
    if error.is_closed() || error.as_db_error().is_none() && error.code().is_none() {
        return StoreError::Unreachable { target: target.to_owned(), reason: error_text(error) };
    }
    StoreError::Database { target: target.to_owned(), action, reason: error_text(error) }
}

/// The server's message when there is one (the Display of `postgres::Error` is only "db error").
fn error_text(error: &postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => {
            let source =
                std::error::Error::source(error).map(|source| format!(": {source}")).unwrap_or_default();
            format!("{error}{source}")
        }
    }
}

/// Shards are stored as INTEGER (signed 32 bits); lantern's shard numbers are small.
fn shard_column(shard: u32) -> i32 {
    i32::try_from(shard).unwrap_or_else(|_| panic!("bug: shard {shard} does not fit PostgreSQL's INTEGER"))
}

struct SessionSetup<'a> {
    client: &'a mut Client,
    target: &'a str,
    durability: Durability,
}

impl SessionSetup<'_> {
    fn configure(&mut self) -> Result<(), StoreError> {
        let synchronous_commit = match self.durability {
            Durability::Full => "on",
            Durability::Off => "off",
        };
        self.client
            .batch_execute(&format!(
                "SET synchronous_commit = {synchronous_commit}; SET statement_timeout = {STATEMENT_TIMEOUT_MS}"
            ))
            .map_err(|error| database_error(self.target, "configuring the session with", &error))
    }
}

pub(crate) fn lock_shard(client: &mut Client, target: &str, shard: u32) -> Result<(), StoreError> {
    let row = client
        .query_one("SELECT pg_try_advisory_lock($1, $2)", &[&LOCK_NAMESPACE, &shard_column(shard)])
        .map_err(|error| database_error(target, "locking the shard in", &error))?;
    if row.get::<_, bool>(0) {
        Ok(())
    } else {
        Err(StoreError::ShardLocked { target: target.to_owned(), shard })
    }
}

fn query_last_batch_seq(client: &mut Client, target: &str, shard: u32) -> Result<Option<u64>, StoreError> {
    let row = client
        .query_one(SELECT_LAST_BATCH_SEQ_SQL, &[&shard_column(shard)])
        .map_err(|error| database_error(target, "reading", &error))?;
    let last: Option<i64> = row.get(0);
    last.map(|last| {
        u64::try_from(last).map_err(|_| StoreError::Corrupt {
            path: target.into(),
            what: format!("journal shard {shard} has batch_seq {last}"),
        })
    })
    .transpose()
}

/// The applied schema version, or `None` when the database has no lantern schema.
fn schema_version(client: &mut Client, target: &str) -> Result<Option<i32>, StoreError> {
    let row = client
        .query_one("SELECT to_regclass('lantern_migrations') IS NOT NULL", &[])
        .map_err(|error| database_error(target, "reading", &error))?;
    if !row.get::<_, bool>(0) {
        return Ok(None);
    }
    let row = client
        .query_one("SELECT MAX(version) FROM lantern_migrations", &[])
        .map_err(|error| database_error(target, "reading", &error))?;
    Ok(row.get::<_, Option<i32>>(0))
}

fn check_version(target: &str, version: i32) -> Result<(), StoreError> {
    if version > POSTGRES_SCHEMA_VERSION {
        return Err(StoreError::UnsupportedFormat {
            path: target.into(),
            found: version.to_string(),
            expected: "2",
        });
    }
    Ok(())
}

fn check_schema(client: &mut Client, target: &str) -> Result<(), StoreError> {
    match schema_version(client, target)? {
        None => Err(StoreError::SchemaMissing { target: target.to_owned() }),
        Some(version) if version < POSTGRES_SCHEMA_VERSION => {
            // An older schema is brought up to date: migrations only ever add.
            migrate(client, target)
        }
        Some(version) => check_version(target, version),
    }
}

/// Applies every missing migration in one transaction, under an advisory lock so nodes that
/// start together do it once.
pub(crate) fn migrate(client: &mut Client, target: &str) -> Result<(), StoreError> {
    if let Some(version) = schema_version(client, target)? {
        check_version(target, version)?;
        if version == POSTGRES_SCHEMA_VERSION {
            return Ok(());
        }
    }
    let on_error = |error: postgres::Error| database_error(target, "migrating the schema in", &error);
    let mut transaction = client.transaction().map_err(on_error)?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1, $2)", &[&LOCK_NAMESPACE, &MIGRATION_LOCK_KEY])
        .map_err(on_error)?;
    transaction
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS lantern_migrations (
                version INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
            )",
        )
        .map_err(on_error)?;
    let applied: Option<i32> =
        transaction.query_one("SELECT MAX(version) FROM lantern_migrations", &[]).map_err(on_error)?.get(0);
    let applied = applied.unwrap_or(0);
    check_version(target, applied)?;
    for (version, name, sql) in MIGRATIONS.iter().filter(|(version, _, _)| *version > applied) {
        transaction.batch_execute(sql).map_err(on_error)?;
        transaction
            .execute("INSERT INTO lantern_migrations (version, name) VALUES ($1, $2)", &[version, name])
            .map_err(on_error)?;
    }
    transaction.commit().map_err(on_error)
}

/// Reads one journal row, checking what the store can check without decoding the body.
fn read_batch(row: &postgres::Row, shard: u32, expected_batch_seq: u64) -> Result<BatchRecord, String> {
    let batch_seq: i64 = row.try_get(0).map_err(|error| format!("batch_seq is unreadable ({error})"))?;
    if u64::try_from(batch_seq).ok() != Some(expected_batch_seq) {
        return Err(format!("it is missing (the next stored batch is {batch_seq}); the journal has a gap"));
    }
    let committed_at_ms: i64 =
        row.try_get(1).map_err(|error| format!("committed_at_ms is unreadable ({error})"))?;
    let committed_at_ms = u64::try_from(committed_at_ms)
        .map_err(|_| format!("committed_at_ms {committed_at_ms} is negative"))?;
    let n_commands: i32 = row.try_get(2).map_err(|error| format!("n_commands is unreadable ({error})"))?;
    let n_commands =
        u32::try_from(n_commands).map_err(|_| format!("n_commands {n_commands} is out of range"))?;
    let checksum: i64 = row.try_get(3).map_err(|error| format!("checksum is unreadable ({error})"))?;
    let body: Vec<u8> = row.try_get(4).map_err(|error| format!("body is unreadable ({error})"))?;
    let actual_checksum = body_checksum(&body);
    if i64::from(actual_checksum) != checksum {
        return Err(format!(
            "the body ({} bytes) has checksum {actual_checksum:#010x} but {checksum:#010x} was stored with it",
            body.len()
        ));
    }
    Ok(BatchRecord { shard, batch_seq: expected_batch_seq, committed_at_ms, n_commands, body })
}
