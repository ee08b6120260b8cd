//! A copy of a live journal into a new data directory, taken a bounded piece at a time so the
//! writer that owns the journal can go on committing between pieces.
//!
//! The journal is append-only: a batch, once stored, never changes. So a backup needs no
//! snapshot of the database. It copies batches 1, 2, 3… in order, and whatever it has copied
//! is already a valid journal: a prefix of the real one. It is complete once it holds the last
//! batch. Batches committed while it copies are copied too. The copy is written under
//! `NAME.partial` and renamed to `NAME` only when whole and synced to disk, so a folder without
//! the suffix is always a complete backup.

use std::io;
use std::path::{Path, PathBuf};

use crate::{BatchRecord, Durability, OpenMode, SqliteStore, Store, StoreError};

/// What a backup's folder is called while it is being written.
pub const BACKUP_PARTIAL_SUFFIX: &str = ".partial";

/// A backup being written (see the module's overview).
#[derive(Debug)]
pub struct Backup {
    directory: PathBuf,
    partial: PathBuf,
    /// Writes without fsync: nothing of a partial backup needs to survive a crash, and
    /// [`Backup::finish`] syncs the finished file once.
    destination: SqliteStore,
    shard: u32,
    progress: BackupProgress,
}

/// How far a backup has come.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackupProgress {
    pub n_batches_copied: u64,
    pub n_commands_copied: u64,
    pub n_bytes_copied: u64,
    /// The source journal's last batch when the latest piece was copied.
    pub n_batches_in_journal: u64,
}

impl BackupProgress {
    /// Whether the copy holds every batch the source held at the latest piece.
    pub fn caught_up(&self) -> bool {
        self.n_batches_copied >= self.n_batches_in_journal
    }
}

impl Backup {
    /// Starts a backup of `shard` into `directory`, which must not exist yet. The journal goes
    /// to `DIRECTORY.partial/lantern.db`, and each file of `carry` (what the data directory
    /// needs beside its journal, such as its token secret) is copied beside it, so the finished
    /// folder is a data directory a gateway can start on. A `.partial` folder left by an earlier
    /// backup that never finished (a crash mid-copy) is removed first.
    pub fn begin(directory: &Path, shard: u32, carry: &[PathBuf]) -> Result<Backup, StoreError> {
        if directory.try_exists().map_err(|source| io_error(directory, "checking for", source))? {
            return Err(StoreError::BackupExists { path: directory.to_path_buf() });
        }
        let partial = partial_path(directory);
        if partial.try_exists().map_err(|source| io_error(&partial, "checking for", source))? {
            std::fs::remove_dir_all(&partial)
                .map_err(|source| io_error(&partial, "removing an unfinished backup at", source))?;
        }
        std::fs::create_dir_all(&partial).map_err(|source| io_error(&partial, "creating", source))?;
        let started = carry_files(&partial, carry)
            .and_then(|()| SqliteStore::open(&partial, OpenMode::Create, Durability::Off));
        match started {
            Ok(destination) => Ok(Backup {
                directory: directory.to_path_buf(),
                partial,
                destination,
                shard,
                progress: BackupProgress::default(),
            }),
            Err(error) => {
                let _ = std::fs::remove_dir_all(&partial);
                Err(error)
            }
        }
    }

    /// The folder the backup will have once finished.
    pub fn directory(&self) -> &Path {
        &self.directory
    }

    pub fn progress(&self) -> BackupProgress {
        self.progress
    }

    /// Copies at most `batches_max` more batches of the shard from `source`, the store being
    /// backed up (it may have grown since the last piece).
    pub fn copy_from(
        &mut self,
        source: &mut dyn Store,
        batches_max: u64,
    ) -> Result<BackupProgress, StoreError> {
        let destination = &mut self.destination;
        let progress = &mut self.progress;
        source.read_batches(
            self.shard,
            progress.n_batches_copied,
            batches_max,
            &mut |batch: BatchRecord| {
                destination.append(&batch)?;
                progress.n_batches_copied = batch.batch_seq;
                progress.n_commands_copied += u64::from(batch.n_commands);
                progress.n_bytes_copied += batch.body.len() as u64;
                Ok(())
            },
        )?;
        progress.n_batches_in_journal = source.last_batch_seq(self.shard)?.unwrap_or(0);
        Ok(*progress)
    }

    /// Makes the copy durable and gives it its name: closes the journal (which folds SQLite's
    /// write-ahead log into the file), checks that it opens and holds every batch copied, syncs
    /// the files and the folder, then renames `NAME.partial` to `NAME`. Returns the folder.
    pub fn finish(self) -> Result<PathBuf, StoreError> {
        let Backup { directory, partial, destination, shard, progress } = self;
        drop(destination);
        let finished = check_copy(&partial, shard, progress.n_batches_copied)
            .and_then(|()| sync_tree(&partial))
            .and_then(|()| {
                std::fs::rename(&partial, &directory).map_err(|source| io_error(&directory, "naming", source))
            })
            .and_then(|()| sync_parent(&directory));
        match finished {
            Ok(()) => Ok(directory),
            Err(error) => {
                let _ = std::fs::remove_dir_all(&partial);
                Err(error)
            }
        }
    }

    /// Gives the backup up and removes what it wrote.
    pub fn abandon(self) {
        let Backup { partial, destination, .. } = self;
        drop(destination);
        let _ = std::fs::remove_dir_all(&partial);
    }
}

/// `DIRECTORY.partial`, beside `directory`.
pub fn partial_path(directory: &Path) -> PathBuf {
    let mut name = directory.file_name().map(|name| name.to_os_string()).unwrap_or_default();
    name.push(BACKUP_PARTIAL_SUFFIX);
    directory.with_file_name(name)
}

fn carry_files(partial: &Path, carry: &[PathBuf]) -> Result<(), StoreError> {
    for file in carry {
        let Some(name) = file.file_name() else {
            return Err(io_error(file, "copying", io::Error::other("it names no file")));
        };
        // std::fs::copy keeps the permission bits, so a secret stays readable by its owner only.
        std::fs::copy(file, partial.join(name)).map_err(|source| io_error(file, "copying", source))?;
    }
    Ok(())
}

fn check_copy(partial: &Path, shard: u32, n_batches_copied: u64) -> Result<(), StoreError> {
    let mut copy = SqliteStore::open(partial, OpenMode::Existing, Durability::Full)?;
    let last = copy.last_batch_seq(shard)?.unwrap_or(0);
    if last != n_batches_copied {
        return Err(StoreError::Corrupt {
            path: copy.database_path().to_path_buf(),
            what: format!(
                "the backup holds {last} batches of shard {shard} but {n_batches_copied} were copied"
            ),
        });
    }
    Ok(())
}

/// Syncs every file of a folder (not recursive: a backup folder has none inside) and the folder.
fn sync_tree(folder: &Path) -> Result<(), StoreError> {
    let entries = std::fs::read_dir(folder).map_err(|source| io_error(folder, "reading", source))?;
    for entry in entries {
        let path = entry.map_err(|source| io_error(folder, "reading", source))?.path();
        sync(&path)?;
    }
    sync(folder)
}

fn sync_parent(directory: &Path) -> Result<(), StoreError> {
    match directory.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        Some(parent) => sync(parent),
        None => Ok(()),
    }
}

fn sync(path: &Path) -> Result<(), StoreError> {
    std::fs::File::open(path)
        .and_then(|file| file.sync_all())
        .map_err(|source| io_error(path, "syncing", source))
}

fn io_error(path: &Path, action: &'static str, source: io::Error) -> StoreError {
    StoreError::Io { path: path.to_path_buf(), action, source }
}
