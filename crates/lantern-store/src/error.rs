//! What can go wrong with the journal, phrased for the operator who has to fix it.

use std::io;
use std::path::PathBuf;

/// A journal store failure. Every message names the file and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no lantern database at {}; check the --data path, or pass --create to start a new one there", path.display())]
    NotFound { path: PathBuf },

    #[error(
        "a lantern database already exists at {}; open it without --create, or choose another --data directory",
        path.display()
    )]
    AlreadyExists { path: PathBuf },

    #[error(
        "{} is in use by another lantern process (pid unknown); stop it or choose another --data directory",
        path.display()
    )]
    Locked { path: PathBuf },

    #[error(
        "the lantern database {} is corrupt: {what}; start from your latest backup instead (`lantern serve --data` on its folder, by default under the data directory's backups/)",
        path.display()
    )]
    Corrupt { path: PathBuf, what: String },

    #[error(
        "the lantern database {} has format_version {found:?} but this lantern reads only {expected:?}; \
         open it with the lantern version that wrote it",
        path.display()
    )]
    UnsupportedFormat { path: PathBuf, found: String, expected: &'static str },

    #[error("{action} {} failed: {source}; check the disk, its free space and the file permissions", path.display())]
    Io {
        path: PathBuf,
        /// What the store was doing, as a verb phrase ("appending to", "opening").
        action: &'static str,
        #[source]
        source: io::Error,
    },

    #[error(
        "{what} = {value} is too large to store (the database keeps signed 64-bit integers); this is a bug in the caller"
    )]
    Unstorable { what: &'static str, value: u64 },

    #[error(
        "cannot reach PostgreSQL at {target}: {reason}; check that the server runs and that the store URL \
         (host, port, user, database) is right"
    )]
    Unreachable { target: String, reason: String },

    #[error("{action} PostgreSQL at {target} failed: {reason}")]
    Database { target: String, action: &'static str, reason: String },

    #[error(
        "shard {shard} at {target} is being written by another lantern node (it holds the shard's lock); \
         stop that node, or start this one with another node index"
    )]
    ShardLocked { target: String, shard: u32 },

    #[error(
        "PostgreSQL at {target} has no lantern schema; start the first node with --create (it runs the migrations)"
    )]
    SchemaMissing { target: String },

    #[error(
        "shard {shard} at {target} already has {n_batches} journal batches; open it without --create, or use \
         another node index or database"
    )]
    ShardNotEmpty { target: String, shard: u32, n_batches: u64 },

    #[error(
        "{store} cannot be backed up by lantern (a backup copies the journal into a new SQLite data directory); \
         back PostgreSQL up with its own tools (pg_dump, pg_basebackup)"
    )]
    BackupUnsupported { store: String },

    #[error(
        "a backup cannot go to {}: it already exists; choose another folder (each backup gets a folder of its own)",
        path.display()
    )]
    BackupExists { path: PathBuf },

    #[error(
        "the connection to PostgreSQL at {target} broke while batch {batch_seq} of shard {shard} was committing, \
         and that batch did commit, so this node's memory is behind its journal; restart the node (it replays \
         the journal)"
    )]
    BehindJournal { target: String, shard: u32, batch_seq: u64 },
}
