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

    #[error("the lantern database {} is corrupt: {what}; restore it from a backup", path.display())]
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
}
