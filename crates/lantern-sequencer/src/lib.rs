//! The single writer of one ledger shard.
//!
//! A [`Sequencer`] owns a shard's [`Ledger`] and is the only thing that changes it. Requests
//! arrive through a bounded intake channel; a *committer* thread drains up to
//! [`SequencerConfig::batch_commands_max`] of them, encodes the batch (`lantern-journal`) and
//! appends it to the [`Store`] in one transaction with fsync; an *applier* thread then applies
//! the batch's commands to the ledger and only then replies. So:
//!
//! - an answer is sent only after the command that produced it is durable (write-ahead: the
//!   journal holds commands, and the ledger is a pure function of the journal);
//! - a restart replays the journal through the same [`Ledger::apply`] and gets the same state;
//! - committing batch N+1 overlaps applying batch N, so fsync and CPU work run side by side;
//! - reads ([`SequencerHandle::read`]) take a read lock on the ledger and never wait for the
//!   intake queue or a disk write: the applier holds the write lock only while applying a chunk
//!   of at most [`SequencerConfig::apply_chunk_commands_max`] commands, and the ledger only ever
//!   holds durable state.
//!
//! A *backup* ([`SequencerHandle::start_backup`]) is copied by the committer itself, between
//! batches, [`BACKUP_CHUNK_BATCHES`] at a time: it owns the journal, and the journal is
//! append-only, so the copy needs no lock and no pause longer than a chunk (see
//! `lantern_store::Backup`).
//!
//! Time comes from an injected [`Clock`]; each batch records the time it was committed at and all
//! its commands apply at that time.
//!
//! Batch size follows the callers' cores: a batch costs the machine a fixed amount (the fsync,
//! the thread wake-ups, one wake per answer's task) whatever its size. While callers pick their
//! answers up promptly the committer takes whatever is queued at once, because then latency is
//! what limits them. When answers wait for a free core (the *pickup lag*, measured by
//! [`SequencerHandle::submit`]) the cores are the bottleneck, and the committer *gathers*: it
//! waits up to [`SequencerConfig::gather_max_us`] before taking a batch, so that fewer, larger
//! batches leave the cores more time for the callers.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lantern_core::Timestamp;
use lantern_ledger::{Command, Ledger, LedgerConfig, LedgerError, Outcome};
use lantern_store::{Backup, BackupProgress, BatchRecord, Store, StoreError};
use parking_lot::RwLock;
use tokio::sync::{mpsc, oneshot};

/// Largest intake queue a sequencer may be configured with.
pub const INTAKE_CAPACITY_MAX: usize = 1 << 20;
/// Largest batch a sequencer may be configured with.
pub const BATCH_COMMANDS_MAX: usize = 1 << 16;
/// Pickup lag below which the committer never gathers: a core picks answers up this fast when
/// it is not the bottleneck (tens of microseconds on an idle machine, under a millisecond at
/// full speed with spare cores); a saturated one lags by several milliseconds.
pub const GATHER_FROM_PICKUP_LAG_US: u64 = 2_000;
/// Longest gather a sequencer may be configured with.
pub const GATHER_MAX_US: u64 = 20_000;
/// Committed batches waiting for the applier. Two keeps one batch committing while one applies;
/// more would only add latency.
pub const APPLY_QUEUE_BATCHES_MAX: usize = 2;

/// Batches a running backup copies between two of the ledger's batches, and at each look at an
/// empty intake: a surge's batches are about 10 KiB, copied in about 50 µs each, so a request
/// waits at most about 0.2 ms more for a running backup. (Copying 64 batches after each commit
/// cut a surge's orders/s to a quarter while the backup ran; see `lantern bench ledger
/// --backup-mid-surge`.)
pub const BACKUP_CHUNK_BATCHES: u64 = 4;

/// Where the sequencer reads the time. Tests and the surge simulator drive a [`ManualClock`].
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> Timestamp;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let since_epoch =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Timestamp::from_ms(u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX))
    }
}

/// A clock that moves only when told to.
#[derive(Debug, Default)]
pub struct ManualClock {
    unix_ms: AtomicU64,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> ManualClock {
        ManualClock { unix_ms: AtomicU64::new(start.unix_ms()) }
    }

    pub fn set(&self, now: Timestamp) {
        self.unix_ms.fetch_max(now.unix_ms(), Ordering::Relaxed);
    }

    pub fn advance_ms(&self, duration_ms: u64) {
        self.unix_ms.fetch_add(duration_ms, Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_ms(self.unix_ms.load(Ordering::Relaxed))
    }
}

/// How a sequencer runs. There is no `Default`: the caller states each value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SequencerConfig {
    pub shard: u32,
    /// Requests that may wait in the intake queue; beyond it `submit` waits and `try_submit`
    /// refuses with [`SubmitError::Overloaded`].
    pub intake_capacity: usize,
    /// Most commands in one batch (one transaction, one fsync).
    pub batch_commands_max: usize,
    /// Most commands applied under one hold of the write lock, bounding how long a read waits.
    pub apply_chunk_commands_max: usize,
    /// When nothing arrives for this long, a `Tick` is committed so holds and campaigns expire
    /// on time. Zero turns idle ticks off (tests that drive time themselves).
    pub idle_tick_ms: u64,
    /// Longest the committer waits for a batch to fill while callers' answers wait for a core
    /// (see the crate's overview and [`gather_wait_us`]); zero commits at once always.
    pub gather_max_us: u64,
}

impl SequencerConfig {
    fn checked(self) -> SequencerConfig {
        assert!((1..=INTAKE_CAPACITY_MAX).contains(&self.intake_capacity), "intake_capacity out of range");
        assert!(
            (1..=BATCH_COMMANDS_MAX).contains(&self.batch_commands_max),
            "batch_commands_max out of range"
        );
        assert!(self.apply_chunk_commands_max >= 1, "apply_chunk_commands_max must be positive");
        assert!(self.gather_max_us <= GATHER_MAX_US, "gather_max_us out of range");
        self
    }
}

/// How long the committer gathers before taking a batch, given the callers' recent pickup lag:
/// nothing while answers are picked up promptly, else as long as answers already wait for a core
/// (a batch ready sooner would only wait as long), at most `gather_max_us`.
pub fn gather_wait_us(pickup_lag_us: u64, gather_max_us: u64) -> u64 {
    if pickup_lag_us < GATHER_FROM_PICKUP_LAG_US { 0 } else { pickup_lag_us.min(gather_max_us) }
}

/// Folds one pickup lag into the running mean: an exponentially weighted mean over about the
/// last 16 answers, in integers, so that one late task does not start a gather on its own.
pub fn pickup_lag_mean_us(mean_us: u64, sample_us: u64) -> u64 {
    (mean_us.saturating_mul(15).saturating_add(sample_us)) / 16
}

/// Why a submitted command has no ledger answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("the ledger's intake queue is full ({capacity} waiting); retry shortly")]
    Overloaded { capacity: usize },
    #[error("the ledger is shutting down; retry on another node or after restart")]
    Stopped,
    #[error("the journal could not be written, so nothing was done: {0}")]
    Store(String),
}

pub type Reply = Result<Outcome, SubmitError>;

/// A reply and when the applier sent it, for the pickup lag.
type Answered = (Reply, Instant);

#[derive(Debug)]
enum Request {
    Command {
        command: Command,
        reply: Option<oneshot::Sender<Answered>>,
    },
    Backup {
        directory: PathBuf,
        carry: Vec<PathBuf>,
        reply: oneshot::Sender<Result<BackupStatus, BackupError>>,
    },
    Stop,
}

/// Where a backup stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackupState {
    Running,
    /// Whole, synced and under its own name.
    Done,
    /// Given up; nothing of it is left. The reason, for the operator.
    Failed(String),
}

/// A backup of the journal: the one running, or the latest one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupStatus {
    /// The folder it goes to (while running it is written beside it, under `.partial`).
    pub directory: PathBuf,
    pub state: BackupState,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub progress: BackupProgress,
}

/// Why a backup did not start.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "a backup to {} is still running; wait until it is done before starting another",
        directory.display()
    )]
    Running { directory: PathBuf },
    /// The journal's store cannot be backed up this way (PostgreSQL); the message says how.
    #[error("{0}")]
    Unsupported(String),
    #[error(transparent)]
    Store(StoreError),
    #[error("the ledger is shutting down; back up after the restart")]
    Stopped,
}

impl From<StoreError> for BackupError {
    fn from(error: StoreError) -> BackupError {
        match error {
            StoreError::BackupUnsupported { .. } => BackupError::Unsupported(error.to_string()),
            error => BackupError::Store(error),
        }
    }
}

/// The answer to a command submitted with [`SequencerHandle::try_submit`], on its way.
#[derive(Debug)]
pub struct PendingReply(oneshot::Receiver<Answered>);

impl PendingReply {
    /// Blocks for the answer. Not for use inside an async task.
    pub fn blocking_recv(self) -> Result<Reply, oneshot::error::RecvError> {
        self.0.blocking_recv().map(|(reply, _)| reply)
    }
}

/// Where the answer to a command not yet submitted will go ([`SequencerHandle::reply_slot`]):
/// one task can wait for an answer while another submits the command for it. Dropped unused,
/// its waiter hears [`SubmitError::Stopped`].
#[derive(Debug)]
pub struct ReplySlot(oneshot::Sender<Answered>);

impl ReplySlot {
    /// Answers the waiter with `error` instead of submitting anything.
    pub fn refuse(self, error: SubmitError) {
        let _ = self.0.send((Err(error), Instant::now()));
    }
}

/// Live counters, readable at any time without locks.
#[derive(Debug, Default)]
pub struct SequencerCounters {
    pub n_batches: AtomicU64,
    pub n_commands: AtomicU64,
    pub n_store_errors: AtomicU64,
    pub commit_ns_total: AtomicU64,
    pub last_commit_unix_ms: AtomicU64,
    /// Microseconds from taking the latest batch off the intake to answering its last request
    /// (commit and apply): what the ledger itself adds to a request, free of the caller's own
    /// scheduling.
    pub last_batch_us: AtomicU64,
    /// Running mean of the time from an answer being sent to its async caller running again:
    /// how long answers wait for a free core. Read it with
    /// [`SequencerCounters::pickup_lag_now_us`], which knows when it is stale.
    pub pickup_lag_us: AtomicU64,
    /// When the latest pickup lag was folded in ([`monotonic_ms`]; 0 before the first).
    pub pickup_lag_sampled_at_ms: AtomicU64,
    /// Batches the committer gathered for, and the microseconds it spent gathering.
    pub n_gathers: AtomicU64,
    pub gather_us_total: AtomicU64,
    /// Backups started, done and failed since the start, and when the latest done one finished
    /// (Unix milliseconds; 0 before the first).
    pub n_backups_started: AtomicU64,
    pub n_backups_done: AtomicU64,
    pub n_backups_failed: AtomicU64,
    pub last_backup_done_unix_ms: AtomicU64,
}

impl SequencerCounters {
    /// Folds one async caller's pickup lag into the running mean ([`pickup_lag_mean_us`]).
    pub fn fold_pickup_lag(&self, lag_us: u64) {
        // Racing callers may each fold a sample into the same old mean and one wins: a lost
        // sample in a mean over many is harmless, and a lock here would cost every answer.
        let mean_us = self.pickup_lag_us.load(Ordering::Relaxed);
        self.pickup_lag_us.store(pickup_lag_mean_us(mean_us, lag_us), Ordering::Relaxed);
        self.pickup_lag_sampled_at_ms.store(monotonic_ms().max(1), Ordering::Relaxed);
    }

    /// How long answers wait for a core now: the running mean, or zero once no async caller
    /// has picked an answer up for [`PICKUP_LAG_STALE_MS`]. The mean moves only when answers
    /// come, so after a saturated burst it would go on saying "saturated" on a quiet gateway
    /// (its gauge, an alert on it, and a 2 ms gather for the next request after the lull).
    pub fn pickup_lag_now_us(&self) -> u64 {
        let sampled_at_ms = self.pickup_lag_sampled_at_ms.load(Ordering::Relaxed);
        if sampled_at_ms > 0 && monotonic_ms().saturating_sub(sampled_at_ms) > PICKUP_LAG_STALE_MS {
            return 0;
        }
        self.pickup_lag_us.load(Ordering::Relaxed)
    }
}

/// After this long with no answer picked up by an async caller, the pickup lag reads zero.
pub const PICKUP_LAG_STALE_MS: u64 = 1_000;

/// Milliseconds on a monotonic clock since this process first asked (not wall time: a clock
/// step must not make a fresh sample look stale).
pub fn monotonic_ms() -> u64 {
    static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    u64::try_from(BASE.get_or_init(Instant::now).elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Why a sequencer could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("journal batch {batch_seq} of shard {shard} cannot be decoded: {reason}")]
    Corrupt { shard: u32, batch_seq: u64, reason: String },
}

/// What a start found in the journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplaySummary {
    pub n_batches: u64,
    pub n_commands: u64,
    pub elapsed_ms: u64,
}

/// How far a start's replay has come (see [`Sequencer::start_reporting`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplayProgress {
    pub n_batches_done: u64,
    /// The journal's last batch when the replay began.
    pub n_batches_total: u64,
    pub n_commands_done: u64,
    pub elapsed_ms: u64,
}

impl ReplayProgress {
    /// Whole percent of the batches replayed (100 for an empty journal).
    pub fn percent(&self) -> u64 {
        (self.n_batches_done * 100).checked_div(self.n_batches_total).unwrap_or(100).min(100)
    }
}

/// Called by the applier right after each applied batch, with the ledger as it now is (under
/// the read lock), before the batch's answers go out: how a helper that watches the ledger (the
/// lease keeper) learns at once that something changed, instead of polling. It runs on the
/// writer's path, so it must be quick and must never block (signal a bounded channel with
/// `try_send`, nothing more).
pub type ApplyObserver = Arc<dyn Fn(&Ledger) + Send + Sync>;

/// The observer slot the handle and the applier share.
#[derive(Clone, Default)]
struct ObserverSlot(Arc<parking_lot::Mutex<Option<ApplyObserver>>>);

impl std::fmt::Debug for ObserverSlot {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(if self.0.lock().is_some() { "ObserverSlot(set)" } else { "ObserverSlot(empty)" })
    }
}

/// A cheap, cloneable way to talk to a running sequencer.
#[derive(Clone, Debug)]
pub struct SequencerHandle {
    intake: mpsc::Sender<Request>,
    ledger: Arc<RwLock<Ledger>>,
    counters: Arc<SequencerCounters>,
    intake_capacity: usize,
    observer: ObserverSlot,
    backup: Arc<parking_lot::Mutex<Option<BackupStatus>>>,
}

impl SequencerHandle {
    /// Submits a command and waits (asynchronously) for its durable answer. Waits for room when
    /// the intake is full.
    pub async fn submit(&self, command: Command) -> Reply {
        let (reply, answer) = oneshot::channel();
        let request = Request::Command { command, reply: Some(reply) };
        self.intake.send(request).await.map_err(|_| SubmitError::Stopped)?;
        self.picked_up(answer.await)
    }

    /// Unwraps an answer an async caller received, folding its pickup lag into the mean.
    fn picked_up(&self, answered: Result<Answered, oneshot::error::RecvError>) -> Reply {
        let Ok((reply, sent_at)) = answered else { return Err(SubmitError::Stopped) };
        let lag_us = u64::try_from(sent_at.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.counters.fold_pickup_lag(lag_us);
        reply
    }

    /// Submits two commands back to back and waits for both answers. The intake is first in,
    /// first out and the second is queued right behind the first, so the second sees the
    /// first's effect (a quote right after the claim it uses) at the cost of one round trip.
    pub async fn submit_pair(&self, first: Command, second: Command) -> (Reply, Reply) {
        let (first_reply, first_answer) = oneshot::channel();
        let (second_reply, second_answer) = oneshot::channel();
        let Ok(permits) = self.intake.reserve_many(2).await else {
            return (Err(SubmitError::Stopped), Err(SubmitError::Stopped));
        };
        let mut permits = permits.into_iter();
        for (command, reply) in [(first, first_reply), (second, second_reply)] {
            if let Some(permit) = permits.next() {
                permit.send(Request::Command { command, reply: Some(reply) });
            }
        }
        let first = self.picked_up(first_answer.await);
        let second = self.picked_up(second_answer.await);
        (first, second)
    }

    /// A slot for an answer and its waiting end: submit into the slot later with
    /// [`SequencerHandle::try_submit_into`], wait with [`SequencerHandle::answer`].
    pub fn reply_slot() -> (ReplySlot, PendingReply) {
        let (reply, answer) = oneshot::channel();
        (ReplySlot(reply), PendingReply(answer))
    }

    /// [`SequencerHandle::try_submit`] with the answer going to `slot`; a refusal goes there too.
    pub fn try_submit_into(&self, command: Command, slot: ReplySlot) {
        let request = Request::Command { command, reply: Some(slot.0) };
        if let Err(error) = self.intake.try_send(request) {
            let (refusal, request) = match error {
                mpsc::error::TrySendError::Full(request) => {
                    (SubmitError::Overloaded { capacity: self.intake_capacity }, request)
                }
                mpsc::error::TrySendError::Closed(request) => (SubmitError::Stopped, request),
            };
            if let Request::Command { reply: Some(reply), .. } = request {
                ReplySlot(reply).refuse(refusal);
            }
        }
    }

    /// Waits for an answer on its way, as [`SequencerHandle::submit`] does (pickup lag
    /// included).
    pub async fn answer(&self, pending: PendingReply) -> Reply {
        self.picked_up(pending.0.await)
    }

    /// Submits without waiting for room: a full intake is refused at once, so admission control
    /// can answer honestly instead of queueing without bound.
    pub fn try_submit(&self, command: Command) -> Result<PendingReply, SubmitError> {
        let (reply, answer) = oneshot::channel();
        let request = Request::Command { command, reply: Some(reply) };
        self.intake.try_send(request).map_err(|error| match error {
            mpsc::error::TrySendError::Full(_) => SubmitError::Overloaded { capacity: self.intake_capacity },
            mpsc::error::TrySendError::Closed(_) => SubmitError::Stopped,
        })?;
        Ok(PendingReply(answer))
    }

    /// Submits from a plain thread and blocks for the answer. Not for use inside an async task.
    pub fn submit_blocking(&self, command: Command) -> Reply {
        let (reply, answer) = oneshot::channel();
        let request = Request::Command { command, reply: Some(reply) };
        self.intake.blocking_send(request).map_err(|_| SubmitError::Stopped)?;
        answer.blocking_recv().map_or(Err(SubmitError::Stopped), |(reply, _)| reply)
    }

    /// What the ledger adds to a request now, in microseconds: waiting for the batch in progress,
    /// then its own batch (twice the latest batch's time). Free of the caller's own scheduling,
    /// so an admission limit that adapts to it tracks the ledger, not a busy CPU.
    pub fn ledger_latency_us(&self) -> u64 {
        self.counters.last_batch_us.load(Ordering::Relaxed).saturating_mul(2)
    }

    /// Reads the ledger's durable state. Never waits for the intake or the disk.
    pub fn read<R>(&self, read: impl FnOnce(&Ledger) -> R) -> R {
        read(&self.ledger.read())
    }

    pub fn counters(&self) -> &SequencerCounters {
        &self.counters
    }

    /// Installs (or, with `None`, removes) the one [`ApplyObserver`]; it replaces any earlier one.
    pub fn set_apply_observer(&self, observer: Option<ApplyObserver>) {
        *self.observer.0.lock() = observer;
    }

    /// Starts a backup of the journal into `directory` (which must not exist), with each file of
    /// `carry` copied beside it; answers once the first piece is copied, so a store that cannot
    /// be backed up is refused here. Follow it with [`SequencerHandle::backup_status`]. Every
    /// batch committed before the backup finishes is in it.
    pub async fn start_backup(
        &self,
        directory: PathBuf,
        carry: Vec<PathBuf>,
    ) -> Result<BackupStatus, BackupError> {
        let (reply, answer) = oneshot::channel();
        self.intake
            .send(Request::Backup { directory, carry, reply })
            .await
            .map_err(|_| BackupError::Stopped)?;
        answer.await.map_err(|_| BackupError::Stopped)?
    }

    /// The running backup, or else the latest one since the start.
    pub fn backup_status(&self) -> Option<BackupStatus> {
        self.backup.lock().clone()
    }

    /// Requests waiting in the intake queue now.
    pub fn queue_depth(&self) -> usize {
        self.intake_capacity - self.intake.capacity()
    }
}

/// A running sequencer: its threads and a handle. Stop it with [`Sequencer::stop`] to drain.
#[derive(Debug)]
pub struct Sequencer {
    handle: SequencerHandle,
    committer: Option<JoinHandle<()>>,
    applier: Option<JoinHandle<()>>,
    ticker: Option<JoinHandle<()>>,
    ticker_stop: Arc<AtomicBool>,
}

impl Sequencer {
    /// Rebuilds the shard's ledger from the journal in `store`, then starts the writer threads.
    pub fn start(
        store: Box<dyn Store>,
        ledger_config: LedgerConfig,
        config: SequencerConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<(Sequencer, ReplaySummary), StartError> {
        Sequencer::start_reporting(store, ledger_config, config, clock, u64::MAX, &mut |_| {})
    }

    /// [`Sequencer::start`], telling `report` how the replay goes at most every `report_every_ms`
    /// (a journal of millions of commands takes tens of seconds to replay, and an operator
    /// waiting for a restart should see it move), and once at its end if it reported before.
    pub fn start_reporting(
        store: Box<dyn Store>,
        ledger_config: LedgerConfig,
        config: SequencerConfig,
        clock: Arc<dyn Clock>,
        report_every_ms: u64,
        report: &mut dyn FnMut(&ReplayProgress),
    ) -> Result<(Sequencer, ReplaySummary), StartError> {
        Sequencer::start_observing(store, ledger_config, config, clock, report_every_ms, report, &mut |_| {})
    }

    /// [`Sequencer::start_reporting`], handing `observe` every answer the replay's commands
    /// get, in journal order (what a reader of the ledger can build its own index from while
    /// the journal replays, instead of walking the ledger afterwards). It runs on the replay's
    /// path: keep it quick.
    pub fn start_observing(
        mut store: Box<dyn Store>,
        ledger_config: LedgerConfig,
        config: SequencerConfig,
        clock: Arc<dyn Clock>,
        report_every_ms: u64,
        report: &mut dyn FnMut(&ReplayProgress),
        observe: &mut dyn FnMut(&Outcome),
    ) -> Result<(Sequencer, ReplaySummary), StartError> {
        let config = config.checked();
        let started = Instant::now();
        let mut ledger = Ledger::new(ledger_config);
        let reporting = Reporting { every_ms: report_every_ms, report };
        let (n_batches, n_commands) = replay(store.as_mut(), config.shard, &mut ledger, reporting, observe)?;
        let summary = ReplaySummary {
            n_batches,
            n_commands,
            elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        };
        let next_batch_seq = store.last_batch_seq(config.shard)?.unwrap_or(0) + 1;
        let (intake, intake_receiver) = mpsc::channel(config.intake_capacity);
        let (apply_sender, apply_receiver) = std_mpsc::sync_channel(APPLY_QUEUE_BATCHES_MAX);
        let ledger = Arc::new(RwLock::new(ledger));
        let counters = Arc::new(SequencerCounters::default());
        let backup_status = Arc::new(parking_lot::Mutex::new(None));
        let committer = Committer {
            store,
            intake: intake_receiver,
            applier: apply_sender,
            config,
            clock: Arc::clone(&clock),
            next_batch_seq,
            last_now: Timestamp::EPOCH,
            counters: Arc::clone(&counters),
            body: Vec::new(),
            backup: None,
            backup_status: Arc::clone(&backup_status),
        };
        let observer = ObserverSlot::default();
        let applier = Applier {
            batches: apply_receiver,
            ledger: Arc::clone(&ledger),
            config,
            counters: Arc::clone(&counters),
            observer: observer.clone(),
        };
        let committer = spawn_named("lantern-committer", move || committer.run());
        let applier = spawn_named("lantern-applier", move || applier.run());
        let handle = SequencerHandle {
            intake,
            ledger,
            counters,
            intake_capacity: config.intake_capacity,
            observer,
            backup: backup_status,
        };
        let ticker_stop = Arc::new(AtomicBool::new(false));
        let ticker = (config.idle_tick_ms > 0).then(|| {
            let handle = handle.clone();
            let stop = Arc::clone(&ticker_stop);
            spawn_named("lantern-ticker", move || {
                run_ticker(&handle, &stop, config.idle_tick_ms, clock.as_ref())
            })
        });
        let sequencer =
            Sequencer { handle, committer: Some(committer), applier: Some(applier), ticker, ticker_stop };
        Ok((sequencer, summary))
    }

    pub fn handle(&self) -> SequencerHandle {
        self.handle.clone()
    }

    /// Stops taking requests, commits and applies everything already queued, answers it, and
    /// joins the threads. Requests submitted after this answer [`SubmitError::Stopped`].
    pub fn stop(mut self) {
        self.stop_threads();
    }

    fn stop_threads(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
        if let Some(ticker) = self.ticker.take() {
            let _ = ticker.join();
        }
        if let Some(committer) = self.committer.take() {
            let _ = self.handle.intake.blocking_send(Request::Stop);
            let _ = committer.join();
        }
        if let Some(applier) = self.applier.take() {
            let _ = applier.join();
        }
    }
}

impl Drop for Sequencer {
    fn drop(&mut self) {
        self.stop_threads();
    }
}

fn spawn_named(name: &str, run: impl FnOnce() + Send + 'static) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(run)
        .unwrap_or_else(|error| panic!("cannot start thread {name}: {error}"))
}

/// Where and how often a replay reports.
struct Reporting<'a> {
    every_ms: u64,
    report: &'a mut dyn FnMut(&ReplayProgress),
}

fn replay(
    store: &mut dyn Store,
    shard: u32,
    ledger: &mut Ledger,
    reporting: Reporting<'_>,
    observe: &mut dyn FnMut(&Outcome),
) -> Result<(u64, u64), StartError> {
    let mut n_commands = 0u64;
    let mut decode_failure: Option<StartError> = None;
    let n_batches_total = store.last_batch_seq(shard)?.unwrap_or(0);
    let started = Instant::now();
    let mut last_report_ms = 0_u64;
    let mut reported = false;
    let Reporting { every_ms, report } = reporting;
    let mut progress = |n_batches_done: u64, n_commands_done: u64, last: bool| {
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if (last && reported) || (!last && elapsed_ms.saturating_sub(last_report_ms) >= every_ms) {
            last_report_ms = elapsed_ms;
            reported = true;
            report(&ReplayProgress { n_batches_done, n_batches_total, n_commands_done, elapsed_ms });
        }
    };
    let result = store.replay(shard, &mut |record: BatchRecord| {
        let commands = match lantern_journal::decode_batch(&record.body) {
            Ok(commands) if commands.len() == record.n_commands as usize => commands,
            Ok(commands) => {
                let reason = format!(
                    "it holds {} commands, its header says {}; {}",
                    commands.len(),
                    record.n_commands,
                    lantern_journal::BACKUP_ADVICE
                );
                decode_failure = Some(StartError::Corrupt { shard, batch_seq: record.batch_seq, reason });
                return Err(StoreError::Corrupt { path: "journal".into(), what: "undecodable batch".into() });
            }
            Err(error) => {
                let reason = error.to_string();
                decode_failure = Some(StartError::Corrupt { shard, batch_seq: record.batch_seq, reason });
                return Err(StoreError::Corrupt { path: "journal".into(), what: "undecodable batch".into() });
            }
        };
        let now = Timestamp::from_ms(record.committed_at_ms);
        for command in &commands {
            // The answers were sent (or lost with the crash) the first time; replay needs the
            // state they left, and an observer may want to see them.
            if let Ok(outcome) = ledger.apply(command, now) {
                observe(&outcome);
            }
        }
        n_commands += commands.len() as u64;
        progress(record.batch_seq, n_commands, false);
        Ok(())
    });
    match (result, decode_failure) {
        (_, Some(failure)) => Err(failure),
        (Ok(n_batches), None) => {
            progress(n_batches, n_commands, true);
            Ok((n_batches, n_commands))
        }
        (Err(error), None) => Err(error.into()),
    }
}

/// Drains the intake into batches and makes each durable.
struct Committer {
    store: Box<dyn Store>,
    intake: mpsc::Receiver<Request>,
    applier: std_mpsc::SyncSender<CommittedBatch>,
    config: SequencerConfig,
    clock: Arc<dyn Clock>,
    next_batch_seq: u64,
    last_now: Timestamp,
    counters: Arc<SequencerCounters>,
    body: Vec<u8>,
    /// The backup being copied, between batches.
    backup: Option<Backup>,
    backup_status: Arc<parking_lot::Mutex<Option<BackupStatus>>>,
}

/// A durable batch on its way to the applier.
struct CommittedBatch {
    now: Timestamp,
    drained_at: Instant,
    requests: Vec<(Command, Option<oneshot::Sender<Answered>>)>,
}

impl Committer {
    fn run(mut self) {
        let mut stopping = false;
        // The writer's event loop: it ends only when asked to stop or when every handle is gone.
        while !stopping {
            let Some(first) = self.next_request() else { break };
            self.gather();
            let mut requests = Vec::with_capacity(self.config.batch_commands_max.min(1024));
            let mut next = Some(first);
            while let Some(request) = next.take() {
                match request {
                    Request::Command { command, reply } => requests.push((command, reply)),
                    Request::Backup { directory, carry, reply } => {
                        let _ = reply.send(self.begin_backup(directory, carry));
                    }
                    Request::Stop => {
                        stopping = true;
                        break;
                    }
                }
                if requests.len() < self.config.batch_commands_max {
                    next = self.intake.try_recv().ok();
                }
            }
            if !requests.is_empty() {
                self.commit(requests);
            }
            if !stopping {
                self.copy_backup_piece(BACKUP_CHUNK_BATCHES);
            }
        }
        if let Some(backup) = self.backup.take() {
            backup.abandon();
            self.end_backup(BackupState::Failed("the ledger stopped before the backup was done".to_owned()));
        }
        // Everything still queued after a stop is refused rather than dropped silently.
        self.intake.close();
        while let Ok(request) = self.intake.try_recv() {
            match request {
                Request::Command { reply: Some(reply), .. } => {
                    let _ = reply.send((Err(SubmitError::Stopped), Instant::now()));
                }
                Request::Backup { reply, .. } => {
                    let _ = reply.send(Err(BackupError::Stopped));
                }
                Request::Command { reply: None, .. } | Request::Stop => {}
            }
        }
    }

    /// The next request; while a backup runs, an empty intake copies a chunk of it instead of
    /// waiting.
    fn next_request(&mut self) -> Option<Request> {
        while self.backup.is_some() {
            match self.intake.try_recv() {
                Ok(request) => return Some(request),
                Err(mpsc::error::TryRecvError::Empty) => self.copy_backup_piece(BACKUP_CHUNK_BATCHES),
                Err(mpsc::error::TryRecvError::Disconnected) => return None,
            }
        }
        self.intake.blocking_recv()
    }

    fn begin_backup(&mut self, directory: PathBuf, carry: Vec<PathBuf>) -> Result<BackupStatus, BackupError> {
        if let Some(running) = &self.backup {
            return Err(BackupError::Running { directory: running.directory().to_path_buf() });
        }
        let mut backup = Backup::begin(&directory, self.config.shard, &carry)?;
        // The first piece now, so a store that cannot be backed up is refused to the caller.
        if let Err(error) = backup.copy_from(self.store.as_mut(), BACKUP_CHUNK_BATCHES) {
            backup.abandon();
            return Err(error.into());
        }
        let status = BackupStatus {
            directory,
            state: BackupState::Running,
            started_at: self.clock.now(),
            finished_at: None,
            progress: backup.progress(),
        };
        *self.backup_status.lock() = Some(status.clone());
        self.backup = Some(backup);
        self.counters.n_backups_started.fetch_add(1, Ordering::Relaxed);
        // A journal small enough for one piece is finished at once.
        self.copy_backup_piece(0);
        Ok(self.backup_status.lock().clone().unwrap_or(status))
    }

    /// Copies up to `batches_max` batches of the running backup, and finishes it once it holds
    /// the journal's last batch.
    fn copy_backup_piece(&mut self, batches_max: u64) {
        let Some(backup) = self.backup.as_mut() else { return };
        let copied = backup.copy_from(self.store.as_mut(), batches_max);
        if let (Ok(progress), Some(status)) = (&copied, self.backup_status.lock().as_mut()) {
            status.progress = *progress;
        }
        match copied {
            Ok(progress) if progress.caught_up() => {
                let Some(backup) = self.backup.take() else { return };
                match backup.finish() {
                    Ok(_) => self.end_backup(BackupState::Done),
                    Err(error) => self.end_backup(BackupState::Failed(error.to_string())),
                }
            }
            Ok(_) => {}
            Err(error) => {
                if let Some(backup) = self.backup.take() {
                    backup.abandon();
                }
                self.end_backup(BackupState::Failed(error.to_string()));
            }
        }
    }

    fn end_backup(&mut self, state: BackupState) {
        let finished_at = self.clock.now();
        if state == BackupState::Done {
            self.counters.n_backups_done.fetch_add(1, Ordering::Relaxed);
            self.counters.last_backup_done_unix_ms.store(finished_at.unix_ms(), Ordering::Relaxed);
        } else {
            self.counters.n_backups_failed.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(status) = self.backup_status.lock().as_mut() {
            status.state = state;
            status.finished_at = Some(finished_at);
        }
    }

    /// Waits for the batch to fill while callers' answers wait for a core (see the overview).
    fn gather(&self) {
        let wait_us = gather_wait_us(self.counters.pickup_lag_now_us(), self.config.gather_max_us);
        if wait_us == 0 || self.intake.len() + 1 >= self.config.batch_commands_max {
            return;
        }
        let started = Instant::now();
        std::thread::sleep(Duration::from_micros(wait_us));
        let gathered_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.counters.n_gathers.fetch_add(1, Ordering::Relaxed);
        self.counters.gather_us_total.fetch_add(gathered_us, Ordering::Relaxed);
    }

    fn commit(&mut self, requests: Vec<(Command, Option<oneshot::Sender<Answered>>)>) {
        let drained_at = Instant::now();
        let now = self.clock.now().max(self.last_now);
        self.body.clear();
        lantern_journal::encode_batch(requests.iter().map(|(command, _)| command), &mut self.body);
        let record = BatchRecord {
            shard: self.config.shard,
            batch_seq: self.next_batch_seq,
            committed_at_ms: now.unix_ms(),
            n_commands: u32::try_from(requests.len()).unwrap_or_else(|_| panic!("batch larger than u32")),
            body: std::mem::take(&mut self.body),
        };
        let started = Instant::now();
        let appended = self.store.append(&record);
        self.body = record.body;
        let commit_ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        match appended {
            Ok(()) => {
                self.next_batch_seq += 1;
                self.last_now = now;
                self.counters.n_batches.fetch_add(1, Ordering::Relaxed);
                self.counters.n_commands.fetch_add(requests.len() as u64, Ordering::Relaxed);
                self.counters.commit_ns_total.fetch_add(commit_ns, Ordering::Relaxed);
                self.counters.last_commit_unix_ms.store(now.unix_ms(), Ordering::Relaxed);
                // The applier only stops after the committer, so a failed send means it died.
                if self.applier.send(CommittedBatch { now, drained_at, requests }).is_err() {
                    panic!("applier thread stopped while the committer runs");
                }
            }
            Err(error) => {
                // Nothing of this batch is durable, so nothing of it is applied: each request
                // hears that it was not done and may be retried with the same idempotency key.
                self.counters.n_store_errors.fetch_add(1, Ordering::Relaxed);
                let message = error.to_string();
                let sent_at = Instant::now();
                for (_, reply) in requests {
                    if let Some(reply) = reply {
                        let _ = reply.send((Err(SubmitError::Store(message.clone())), sent_at));
                    }
                }
            }
        }
    }
}

/// Applies durable batches to the ledger and answers their requests.
struct Applier {
    batches: std_mpsc::Receiver<CommittedBatch>,
    ledger: Arc<RwLock<Ledger>>,
    config: SequencerConfig,
    counters: Arc<SequencerCounters>,
    observer: ObserverSlot,
}

impl Applier {
    fn run(self) {
        let mut answers = Vec::new();
        while let Ok(batch) = self.batches.recv() {
            for chunk in batch.requests.chunks(self.config.apply_chunk_commands_max) {
                let mut ledger = self.ledger.write();
                answers.extend(chunk.iter().map(|(command, _)| ledger.apply(command, batch.now)));
            }
            let observer = self.observer.0.lock().clone();
            if let Some(observer) = observer {
                observer(&self.ledger.read());
            }
            let sent_at = Instant::now();
            for ((_, reply), answer) in batch.requests.into_iter().zip(answers.drain(..)) {
                if let Some(reply) = reply {
                    let _ = reply.send((answer.map_err(SubmitError::Ledger), sent_at));
                }
            }
            let batch_us = u64::try_from(batch.drained_at.elapsed().as_micros()).unwrap_or(u64::MAX);
            self.counters.last_batch_us.store(batch_us, Ordering::Relaxed);
        }
    }
}

fn run_ticker(handle: &SequencerHandle, stop: &AtomicBool, idle_tick_ms: u64, clock: &dyn Clock) {
    let period = Duration::from_millis(idle_tick_ms);
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(period.min(Duration::from_millis(50)));
        let last_commit_ms = handle.counters.last_commit_unix_ms.load(Ordering::Relaxed);
        if clock.now().unix_ms().saturating_sub(last_commit_ms) < idle_tick_ms {
            continue;
        }
        // A full intake means the writer is busy, not idle: no tick needed then.
        let request = Request::Command { command: Command::Tick, reply: None };
        let _ = handle.intake.try_send(request);
    }
}
