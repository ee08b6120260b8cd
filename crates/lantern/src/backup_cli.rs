//! `lantern backup`: a backup of a stopped gateway's data directory, the same copy that
//! `POST /v1/ops/backups` makes of a running one (`lantern_store::Backup`).

use std::path::PathBuf;

use anyhow::Context;
use lantern_sequencer::{Clock, SystemClock};
use lantern_store::{Backup, Durability, OpenMode, SqliteStore, Store, StoreError};

/// Batches copied between two updates of the progress bar.
const BATCHES_PER_STEP: u64 = 1_024;

#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// The data directory to back up. Its gateway must be stopped (it holds the journal's lock);
    /// a running gateway is backed up with `POST /v1/ops/backups` or the dashboard's button.
    #[arg(long)]
    data: PathBuf,
    /// The backup's folder, which must not exist (default: `DATA/backups/<now>`, as the API names
    /// them).
    #[arg(long)]
    to: Option<PathBuf>,
    /// The journal shard to copy (a cluster node's is its `cluster.node_index`).
    #[arg(long, default_value_t = 0)]
    shard: u32,
    /// Print the result as one JSON object on the last line.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &BackupArgs) -> anyhow::Result<()> {
    let mut store = SqliteStore::open(&args.data, OpenMode::Existing, Durability::Full).map_err(|error| match error {
        StoreError::Locked { .. } => anyhow::anyhow!(
            "{error}. To back up a running gateway, ask it: POST /v1/ops/backups with an operator token, or the Back up now button on /ops"
        ),
        error => anyhow::Error::new(error),
    })?;
    let to = match &args.to {
        Some(to) => to.clone(),
        None => lantern_gateway::backups::free_folder(
            &args.data.join(crate::config::BACKUPS_DIR_NAME),
            &lantern_gateway::backups::folder_name(&SystemClock.now().to_string()),
        ),
    };
    let secret = args.data.join(crate::serve::SECRET_FILE_NAME);
    let carry: Vec<PathBuf> = std::iter::once(secret).filter(|file| file.is_file()).collect();
    // A shard with nothing in it is almost always a wrong --shard, not a journal to keep.
    let Some(n_batches) = store.last_batch_seq(args.shard)? else {
        anyhow::bail!(
            "shard {} of {} has no journal batches, so there is nothing to back up; a single gateway's shard is 0, a cluster node's is its cluster.node_index",
            args.shard,
            args.data.display()
        );
    };
    let bar = indicatif::ProgressBar::new(n_batches);
    bar.set_style(
        indicatif::ProgressStyle::with_template("  {bar:30} {pos}/{len} batches")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut backup = Backup::begin(&to, args.shard, &carry)?;
    let progress = loop {
        let progress = match backup.copy_from(&mut store, BATCHES_PER_STEP) {
            Ok(progress) => progress,
            Err(error) => {
                backup.abandon();
                return Err(error).context("the backup was given up and its folder removed");
            }
        };
        bar.set_position(progress.n_batches_copied);
        if progress.caught_up() {
            break progress;
        }
    };
    bar.finish_and_clear();
    let directory = backup.finish()?;
    println!(
        "backed up {} batches ({} commands, {} KiB) of {} to {}",
        progress.n_batches_copied,
        progress.n_commands_copied,
        progress.n_bytes_copied.div_ceil(1024),
        args.data.display(),
        directory.display()
    );
    if args.json {
        let summary = serde_json::json!({
            "directory": directory.display().to_string(),
            "batches": progress.n_batches_copied,
            "commands": progress.n_commands_copied,
            "bytes": progress.n_bytes_copied,
        });
        println!("{summary}");
    }
    Ok(())
}
