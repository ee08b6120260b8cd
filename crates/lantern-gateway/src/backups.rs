//! Backups on demand (`POST /v1/ops/backups`, `GET /v1/ops/backups`): the operator asks, the
//! sequencer's committer copies the journal between batches (`lantern_sequencer`), and the
//! finished folder is a data directory of its own. Orders keep flowing meanwhile.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use lantern_sequencer::{BackupError, BackupState, BackupStatus};

use crate::app::App;
use crate::error::ApiError;
use crate::routes::{ignore_body, json, operator_of};
use crate::wire::{BackupBody, BackupsBody, ErrorBody, FinishedBackupBody};

/// Where a gateway's backups go and what goes with the journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupPlace {
    /// Each backup is a folder in here, named by its start time.
    pub directory: PathBuf,
    /// Files copied beside the journal when they exist (the token secret), so a backup is a
    /// data directory a gateway can start on with the same tokens.
    pub carry: Vec<PathBuf>,
    /// Finished backups kept in `directory`: once a backup is done, the oldest beyond this are
    /// removed, so backups cannot fill the disk the journal is on. Zero keeps them all.
    pub kept: usize,
}

/// How often a started backup is looked at until it ends (to log it and prune old ones).
const BACKUP_POLL_MS: u64 = 100;

/// Starts a backup of the ledger's journal into a new folder under the configured backup
/// directory, and answers at once (202) while it copies.
#[utoipa::path(post, path = "/v1/ops/backups", tag = "operator", security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "unique per intended backup; the same key again answers the backup it started")),
    request_body(content = serde_json::Value, description = "ignored; may be {}"),
    responses((status = 202, body = BackupBody, description = "started: follow it with GET /v1/ops/backups"),
        (status = 200, body = BackupBody, description = "a repeat of the request that started this backup"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "a backup is running, or this gateway's store cannot be backed up here"),
        (status = 422, body = ErrorBody, description = "the Idempotency-Key started a backup with another body"),
        (status = 500, body = ErrorBody, description = "the backup folder cannot be written"), (status = 503, body = ErrorBody)))]
pub async fn start_backup(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let claims = app.caller(&headers)?;
    operator_of(&claims)?;
    let keyed = crate::app::KeyedRequest::from_request(&claims, &headers, "POST /v1/ops/backups", &body)?;
    ignore_body(&body)?;
    let Some(place) = app.config.backups.clone() else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "backup_unavailable",
            "this gateway runs without a data directory, so it has no journal file to back up",
        ));
    };
    if let Some(status) = replay_of(&app, &keyed)? {
        audit_backup(&app, &claims, peer, &status.directory, true);
        return Ok(json(StatusCode::OK, &backup_body(&status), true));
    }
    let directory = free_folder(&place.directory, &folder_name(&app.now().to_string()));
    let carry: Vec<PathBuf> = place.carry.iter().filter(|file| file.is_file()).cloned().collect();
    let status = app.sequencer.start_backup(directory.clone(), carry).await.map_err(refusal)?;
    *app.backup_key.lock() = Some(StartedBackup {
        key: keyed.key.as_str().to_owned(),
        fingerprint: keyed.fingerprint,
        directory: directory.clone(),
    });
    tracing::info!(directory = %directory.display(), from = %peer.ip(), batches = status.progress.n_batches_in_journal, "backup started");
    audit_backup(&app, &claims, peer, &directory, false);
    tokio::spawn(follow_backup(Arc::clone(&app), directory, place));
    Ok(json(StatusCode::ACCEPTED, &backup_body(&status), false))
}

/// A backup is an operator's action like a campaign change: it goes in the audit list.
fn audit_backup(
    app: &App,
    claims: &lantern_auth::Claims,
    peer: SocketAddr,
    directory: &Path,
    replayed: bool,
) {
    let detail = format!("backup into {}", directory.display());
    let change = crate::live::AuditChange { action: "backup", campaign: None, detail, replayed };
    app.live.audit(claims, peer, change, app.now());
}

/// Follows a started backup to its end, logs how it ended and, once it is done, removes the
/// oldest finished backups beyond `place.kept`.
async fn follow_backup(app: Arc<App>, directory: PathBuf, place: BackupPlace) {
    let status = loop {
        match app.sequencer.backup_status() {
            Some(status) if status.directory != directory => return,
            Some(status) if status.state != BackupState::Running => break status,
            Some(_) => tokio::time::sleep(std::time::Duration::from_millis(BACKUP_POLL_MS)).await,
            None => return,
        }
    };
    let progress = status.progress;
    match status.state {
        BackupState::Done => {
            tracing::info!(directory = %directory.display(), batches = progress.n_batches_copied, bytes = progress.n_bytes_copied, "backup done");
        }
        BackupState::Failed(reason) => {
            tracing::warn!(directory = %directory.display(), reason, "backup failed");
            return;
        }
        BackupState::Running => return,
    }
    if place.kept == 0 {
        return;
    }
    let pruned = tokio::task::spawn_blocking(move || prune(&place.directory, place.kept)).await;
    match pruned {
        Ok(Ok(removed)) => {
            for old in removed {
                tracing::info!(directory = %old.display(), "old backup removed");
            }
        }
        Ok(Err(error)) => tracing::warn!(%error, "old backups not removed"),
        Err(error) => tracing::warn!(%error, "old backups not removed"),
    }
}

/// The finished backups' folders in `directory`, oldest first: only folders named as this
/// module names backups.
fn backup_folders(directory: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut backups: Vec<PathBuf> = std::fs::read_dir(directory)?
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
        .filter(|entry| entry.file_name().to_str().is_some_and(is_backup_name))
        .map(|entry| entry.path())
        .collect();
    backups.sort();
    Ok(backups)
}

/// When the newest finished backup in `directory` was written (its folder's modification time,
/// Unix milliseconds): what a restarted gateway reports as its latest backup until it makes one,
/// so that an alert on the backup's age does not fire at every restart.
pub fn newest_finished_unix_ms(directory: &Path) -> Option<u64> {
    backup_folders(directory)
        .ok()?
        .iter()
        .filter_map(|folder| folder.metadata().ok()?.modified().ok())
        .filter_map(|modified| modified.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|since| u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
        .max()
}

/// Removes the oldest finished backups in `directory` beyond the newest `kept`. Returns the
/// ones removed.
fn prune(directory: &Path, kept: usize) -> std::io::Result<Vec<PathBuf>> {
    let backups = backup_folders(directory)?;
    let n_old = backups.len().saturating_sub(kept);
    let old: Vec<PathBuf> = backups.into_iter().take(n_old).collect();
    for folder in &old {
        std::fs::remove_dir_all(folder)?;
    }
    Ok(old)
}

/// `20261124T210501123Z`, maybe with `-2` .. after it: a finished backup's folder.
fn is_backup_name(name: &str) -> bool {
    let (stamp, suffix) = match name.split_once('-') {
        Some((stamp, suffix)) => (stamp, Some(suffix)),
        None => (name, None),
    };
    let bytes = stamp.as_bytes();
    bytes.len() == 19
        && bytes[..8].iter().all(u8::is_ascii_digit)
        && bytes[8] == b'T'
        && bytes[9..18].iter().all(u8::is_ascii_digit)
        && bytes[18] == b'Z'
        && suffix.is_none_or(|suffix| !suffix.is_empty() && suffix.bytes().all(|byte| byte.is_ascii_digit()))
}

/// Where backups go, and the running or latest backup.
#[utoipa::path(get, path = "/v1/ops/backups", tag = "operator", security(("bearer" = [])),
    responses((status = 200, body = BackupsBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn backup_status(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let claims = app.caller(&headers)?;
    operator_of(&claims)?;
    let finished = match app.config.backups.clone() {
        Some(place) => {
            tokio::task::spawn_blocking(move || finished_backups(&place.directory)).await.unwrap_or_default()
        }
        None => Vec::new(),
    };
    let body = BackupsBody {
        directory: app.config.backups.as_ref().map(|place| place.directory.display().to_string()),
        latest: app.sequencer.backup_status().as_ref().map(backup_body),
        finished,
    };
    Ok(json(StatusCode::OK, &body, false))
}

/// The finished backups in `directory`, newest first; none when it cannot be read (it does not
/// exist before the first backup).
fn finished_backups(directory: &Path) -> Vec<FinishedBackupBody> {
    let mut finished: Vec<FinishedBackupBody> = backup_folders(directory)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|folder| {
            let name = folder.file_name()?.to_str()?.to_owned();
            let bytes = std::fs::read_dir(&folder)
                .ok()?
                .filter_map(Result::ok)
                .filter_map(|entry| entry.metadata().ok())
                .map(|metadata| metadata.len())
                .sum();
            Some(FinishedBackupBody {
                started_at: started_at_of(&name),
                directory: folder.display().to_string(),
                name,
                bytes,
            })
        })
        .collect();
    finished.reverse();
    finished
}

/// `20261124T210501123Z` → `2026-11-24T21:05:01.123Z`.
fn started_at_of(name: &str) -> String {
    let digits: Vec<char> = name.chars().filter(char::is_ascii_digit).take(17).collect();
    let part = |range: std::ops::Range<usize>| {
        digits.get(range).map(|part| part.iter().collect::<String>()).unwrap_or_default()
    };
    format!(
        "{}-{}-{}T{}:{}:{}.{}Z",
        part(0..4),
        part(4..6),
        part(6..8),
        part(8..10),
        part(10..12),
        part(12..14),
        part(14..17)
    )
}

/// The Idempotency-Key of the latest backup started here (kept in memory: a restart forgets
/// it, and the same key then starts a new backup).
#[derive(Clone, Debug)]
pub(crate) struct StartedBackup {
    key: String,
    fingerprint: u64,
    directory: PathBuf,
}

/// The backup the same key started, if it is still the latest one; the same key with another
/// body is refused, as on every POST.
fn replay_of(app: &App, keyed: &crate::app::KeyedRequest) -> Result<Option<BackupStatus>, ApiError> {
    let Some(started) = app.backup_key.lock().clone() else { return Ok(None) };
    if started.key != keyed.key.as_str() {
        return Ok(None);
    }
    if started.fingerprint != keyed.fingerprint {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_conflict",
            "this Idempotency-Key started a backup with another body; use a new key for a new backup",
        ));
    }
    Ok(app.sequencer.backup_status().filter(|status| status.directory == started.directory))
}

/// Folders tried for a backup's name before giving up on a free one (backups started within the
/// same millisecond get `-2`, `-3`, ...).
const FOLDER_NAME_TRIES: u32 = 100;

/// `parent/name`, or `parent/name-2`, ... when an earlier backup has that name.
pub fn free_folder(parent: &Path, name: &str) -> PathBuf {
    (1..=FOLDER_NAME_TRIES)
        .map(|n| if n == 1 { parent.join(name) } else { parent.join(format!("{name}-{n}")) })
        .find(|candidate| !candidate.exists())
        // All taken: the backup itself refuses to write over one, naming it.
        .unwrap_or_else(|| parent.join(name))
}

/// `2026-11-24T21:05:01.123Z` → `20261124T210501123Z`: sortable, and safe in any file system.
pub fn folder_name(time: &str) -> String {
    time.chars().filter(char::is_ascii_alphanumeric).collect()
}

fn refusal(error: BackupError) -> ApiError {
    let message = error.to_string();
    match error {
        BackupError::Running { .. } => ApiError::new(StatusCode::CONFLICT, "backup_running", message),
        BackupError::Unsupported(_) => ApiError::new(StatusCode::CONFLICT, "backup_unsupported", message),
        BackupError::Store(_) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "backup_failed", message),
        BackupError::Stopped => ApiError::unavailable("stopping", message, 5_000),
    }
}

pub(crate) fn backup_body(status: &BackupStatus) -> BackupBody {
    let (state, error) = match &status.state {
        BackupState::Running => ("running", None),
        BackupState::Done => ("done", None),
        BackupState::Failed(reason) => ("failed", Some(reason.clone())),
    };
    BackupBody {
        directory: status.directory.display().to_string(),
        state: state.to_owned(),
        started_at: status.started_at.to_string(),
        finished_at: status.finished_at.map(|at| at.to_string()),
        batches_copied: status.progress.n_batches_copied,
        batches_in_journal: status.progress.n_batches_in_journal,
        commands_copied: status.progress.n_commands_copied,
        bytes_copied: status.progress.n_bytes_copied,
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::{folder_name, free_folder, is_backup_name, started_at_of};

    #[test]
    fn a_backup_name_says_when_it_started() {
        assert_eq!(started_at_of("20261124T210501123Z-2"), "2026-11-24T21:05:01.123Z");
    }

    #[test]
    fn only_folders_named_as_backups_are_backups() {
        assert!(is_backup_name("20261124T210501123Z"));
        assert!(is_backup_name("20261124T210501123Z-2"));
        for other in [
            "20261124T210501123Z.partial",
            "20261124T210501123Z-",
            "2026-11-24",
            "mine",
            "20261124X210501123Z",
        ] {
            assert!(!is_backup_name(other), "{other}");
        }
    }

    #[test]
    fn a_backup_folder_is_named_by_its_start_time_and_never_reused() {
        assert_eq!(folder_name("2026-11-24T21:05:01.123Z"), "20261124T210501123Z");
        let parent = std::env::temp_dir().join(format!("lantern-backup-names-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&parent);
        let first = free_folder(&parent, "20261124T210501123Z");
        assert_eq!(first, parent.join("20261124T210501123Z"));
        std::fs::create_dir_all(&first).unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(free_folder(&parent, "20261124T210501123Z"), parent.join("20261124T210501123Z-2"));
        let _ = std::fs::remove_dir_all(&parent);
    }
}
