//! Several lantern nodes over one PostgreSQL: where a node's journal lives, and the lease keeper
//! that moves campaign budget between the central pool and the node's ledger.
//!
//! The keeper is the I/O edge of `lantern_ledger::next_step` (the pure policy): it looks at each
//! leasing campaign of its ledger every `KEEPER_TICK_MS`, and at once when a claim leaves a
//! campaign's lease below its low-water mark (the sequencer's apply observer signals a
//! capacity-1 channel), asks the policy for the next step, and performs it: SQL on the central
//! row through `PostgresBudget`, and `LeaseIn` / `LeaseOut` through the node's own sequencer, so
//! every budget movement is journaled. Chunks and low-water marks grow with each campaign's
//! measured spend (`LeasePolicy::sized_for`), so a busy node tops up before it runs dry.
//!
//! When PostgreSQL is unreachable the keeper logs it and tries again; the ledger keeps serving
//! from what its lease holds. With the journal in the same PostgreSQL ([`JournalPlace::Postgres`])
//! commits stop too and the sequencer refuses writes with the store's reason; with the journal in
//! SQLite ([`JournalPlace::Local`]) orders go on until the lease is spent. With the journal in
//! PostgreSQL the keeper also settles the leases of nodes that stopped renewing them: it takes
//! over the dead node's shard (its lock proves the node is gone), replays its journal and gives
//! back what that ledger still holds.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use lantern_core::{CampaignId, CampaignStatus, Money};
use lantern_ledger::{
    Account, CampaignEdit, CentralLease, Command, LeasePolicy, LeaseStep, LeaseView, Ledger, Outcome,
    SpendMeter, expiry_ms, next_step,
};
use lantern_sequencer::{Clock, ReplayProgress, ReplaySummary, Sequencer, SequencerHandle};
use lantern_store::{
    Durability, LeaseTotals, OpenMode, PostgresBudget, PostgresStore, SqliteStore, Store, StoreError,
};

use crate::node;

/// How often the keeper looks at its leases when nothing wakes it sooner.
pub const KEEPER_TICK_MS: u64 = 20;
/// A chunk is never more than this share of the campaign's budget, however fast a node spends
/// (so one busy node cannot hold most of a small budget while the others starve).
const CHUNK_BUDGET_SHARE_MAX_DIVISOR: i64 = 16;
/// Most steps one campaign may take in one tick (finishing a move, then topping up).
const KEEPER_STEPS_PER_TICK_MAX: usize = 4;
/// How often the keeper looks for other nodes' lapsed leases.
const ADOPT_EVERY_MS: u64 = 1_000;
/// How long a restarting node waits for its shard's lock (held by an adopter settling it).
const SHARD_LOCK_WAIT_MS: u64 = 10_000;

/// Where a node's journal lives: a SQLite data directory or a shard in PostgreSQL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreTarget {
    Sqlite(PathBuf),
    Postgres { url: String, shard: u32 },
}

impl StoreTarget {
    /// `postgres://...` or `postgresql://...` is PostgreSQL (this node writes `shard`); anything
    /// else is a SQLite data directory.
    pub fn parse(store: &str, shard: u32) -> StoreTarget {
        if store.starts_with("postgres://") || store.starts_with("postgresql://") {
            StoreTarget::Postgres { url: store.to_owned(), shard }
        } else {
            StoreTarget::Sqlite(PathBuf::from(store))
        }
    }

    /// Whether the journal already exists (so a start opens it rather than creates it).
    pub fn exists(&self) -> anyhow::Result<bool> {
        match self {
            StoreTarget::Sqlite(dir) => Ok(SqliteStore::database_exists(dir)),
            StoreTarget::Postgres { url, shard } => Ok(PostgresStore::shard_exists(url, *shard)?),
        }
    }
}

/// How long a lease lasts without renewal unless configured: a dead node's unspent lease returns
/// to the pool about this long after it died.
pub const LEASE_TTL_MS_DEFAULT: u64 = 10_000;

/// The lease policy for a campaign whose coupons are worth `face_value`, before it is sized for
/// the measured spend: chunks of 1/64 of the budget (at least 16 and at most 4,096 coupons, so a
/// small campaign still spreads over its nodes), topped up below a quarter chunk; idle nodes give
/// back after 2 s; leases lapse after `lease_ttl_ms`.
pub fn lease_policy(face_value: Money, budget: Money, lease_ttl_ms: u64) -> LeasePolicy {
    let face_fen = face_value.fen().max(1);
    let chunk_coupons = (budget.fen() / 64 / face_fen).clamp(16, 4_096);
    let coupons = |n: i64| face_value.checked_mul(n).unwrap_or(Money::from_fen(i64::MAX / 2));
    LeasePolicy {
        chunk: coupons(chunk_coupons),
        low_water: coupons(chunk_coupons / 4),
        idle_return_ms: 2_000,
        lease_ttl_ms,
        drained_retry_ms: 1_000,
    }
}

/// [`lease_policy`] sized for a spend of `coupons_per_s` (see `LeasePolicy::sized_for`): a chunk
/// covers a second of it, up to 1/16 of the budget; the low-water mark a quarter second.
pub fn sized_lease_policy(
    face_value: Money,
    budget: Money,
    lease_ttl_ms: u64,
    coupons_per_s: u64,
) -> LeasePolicy {
    let chunk_max = Money::from_fen(budget.fen() / CHUNK_BUDGET_SHARE_MAX_DIVISOR);
    lease_policy(face_value, budget, lease_ttl_ms).sized_for(face_value, coupons_per_s, chunk_max)
}

/// Opens the journal and starts the node's sequencer over it. A PostgreSQL shard whose lock is
/// held (an adopter is settling it) is waited for, up to `SHARD_LOCK_WAIT_MS`.
pub fn start_node(
    target: &StoreTarget,
    mode: OpenMode,
    durability: Durability,
    clock: Arc<dyn Clock>,
    idle_tick_ms: u64,
    expected_orders: usize,
) -> anyhow::Result<(Sequencer, ReplaySummary)> {
    start_node_watched(
        target,
        mode,
        durability,
        clock,
        idle_tick_ms,
        expected_orders,
        &mut |_| {},
        &mut |_| {},
    )
}

/// [`start_node`], telling `watch` how the replay goes and `observe` each answer the replay's
/// commands get.
#[allow(clippy::too_many_arguments)]
pub fn start_node_watched(
    target: &StoreTarget,
    mode: OpenMode,
    durability: Durability,
    clock: Arc<dyn Clock>,
    idle_tick_ms: u64,
    expected_orders: usize,
    watch: &mut dyn FnMut(&ReplayProgress),
    observe: &mut dyn FnMut(&lantern_ledger::Outcome),
) -> anyhow::Result<(Sequencer, ReplaySummary)> {
    match target {
        StoreTarget::Sqlite(dir) => {
            node::start_watched(dir, mode, durability, clock, idle_tick_ms, expected_orders, watch, observe)
        }
        StoreTarget::Postgres { url, shard } => {
            let store = open_shard(url, *shard, mode, durability)?;
            node::start_over(Box::new(store), *shard, clock, idle_tick_ms, expected_orders, watch, observe)
                .with_context(|| format!("cannot rebuild shard {shard}'s ledger from PostgreSQL"))
        }
    }
}

fn open_shard(
    url: &str,
    shard: u32,
    mode: OpenMode,
    durability: Durability,
) -> anyhow::Result<PostgresStore> {
    let mut waited_ms = 0;
    loop {
        match PostgresStore::open(url, mode, durability, Some(shard)) {
            Err(StoreError::ShardLocked { .. }) if waited_ms < SHARD_LOCK_WAIT_MS => {
                std::thread::sleep(Duration::from_millis(100));
                waited_ms += 100;
            }
            other => return other.with_context(|| format!("cannot open shard {shard}")),
        }
    }
}

/// For a node whose journal is local and whose leases are in PostgreSQL: connects and takes the
/// lease shard's lock before the node serves, so a second node started with the same node index
/// is refused at once. An unreachable database is not fatal (the keeper keeps trying; until then
/// claims wait for a lease); `None` then.
pub fn lock_lease_shard(url: &str, shard: u32) -> anyhow::Result<Option<PostgresBudget>> {
    let mut budget = match PostgresBudget::connect(url) {
        Ok(budget) => budget,
        Err(error @ StoreError::Unreachable { .. }) => {
            tracing::warn!(shard, error = %error, "the central budget is unreachable; no leases until it is back");
            return Ok(None);
        }
        Err(error) => return Err(error).context("cannot open the central budget (cluster.budget_store)"),
    };
    budget.lock_shard(shard).with_context(|| {
        format!("the leases of node {shard} are kept by another running node; give this one another cluster.node_index")
    })?;
    Ok(Some(budget))
}

/// Makes the node's ledger draw every campaign's budget from leases (journaled once, before the
/// node serves anything, so no campaign of a node ever spends a budget it did not lease).
pub fn draw_all_from_leases(handle: &SequencerHandle) -> anyhow::Result<()> {
    if handle.read(|ledger| ledger.draws_from_leases()) {
        return Ok(());
    }
    match handle.submit_blocking(Command::DrawAllFromLeases) {
        Ok(Outcome::LeasesOn { n_switched }) => {
            tracing::info!(n_switched, "campaigns draw their budget from leases");
            Ok(())
        }
        other => anyhow::bail!("switching the ledger to leases answered {other:?}"),
    }
}

/// Where the journal of a node whose leases are in PostgreSQL lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JournalPlace {
    /// In the same PostgreSQL: the journal store holds the shard's lock, and the keeper settles
    /// other nodes' lapsed leases from their journals.
    Postgres,
    /// In the node's own SQLite: the keeper holds the shard's lock on its budget connection
    /// (so two nodes cannot share a lease row), and no other node can settle this node's lease
    /// (its journal is on this node's disk): a dead node's lease waits for it to restart.
    Local,
}

/// The keeper's wake-up: the low-water mark of each leasing campaign, and a capacity-1 channel
/// the sequencer's apply observer signals when a campaign's available budget is below its mark.
struct LowWaterWatch {
    /// At most one mark per campaign of the ledger (bounded by its campaign limit).
    marks: Mutex<HashMap<CampaignId, Money>>,
    wake: mpsc::SyncSender<()>,
}

impl LowWaterWatch {
    fn set_mark(&self, campaign: CampaignId, mark: Money) {
        self.marks.lock().unwrap_or_else(PoisonError::into_inner).insert(campaign, mark);
    }

    /// Runs on the sequencer's applier after each batch: a few map reads, then `try_send` (a
    /// wake-up already pending is enough).
    fn observe(&self, ledger: &Ledger) {
        let marks = self.marks.lock().unwrap_or_else(PoisonError::into_inner);
        let low = marks.iter().any(|(campaign, mark)| {
            ledger.accounts(*campaign).is_some_and(|accounts| accounts.balance(Account::Available) < *mark)
        });
        if low {
            let _ = self.wake.try_send(());
        }
    }
}

/// The lease keeper's thread; stopping it gives every lease back first.
#[derive(Debug)]
pub struct LeaseKeeper {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl LeaseKeeper {
    /// Starts the keeper of `shard`'s leases, against the central budget at `url`, and installs
    /// the apply observer that wakes it when a lease runs low. `budget` is a connection already
    /// made (and, for [`JournalPlace::Local`], holding the shard's lock), if any.
    pub fn start(
        url: String,
        shard: u32,
        handle: SequencerHandle,
        clock: Arc<dyn Clock>,
        lease_ttl_ms: u64,
        journal: JournalPlace,
        budget: Option<PostgresBudget>,
    ) -> LeaseKeeper {
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        let (wake, woken) = mpsc::sync_channel(1);
        let watch = Arc::new(LowWaterWatch { marks: Mutex::new(HashMap::new()), wake });
        let observed = Arc::clone(&watch);
        handle.set_apply_observer(Some(Arc::new(move |ledger: &Ledger| observed.observe(ledger))));
        let thread = std::thread::Builder::new()
            .name("lantern-leases".into())
            .spawn(move || {
                let mut keeper = Keeper::new(url, shard, handle, clock, lease_ttl_ms, journal);
                keeper.budget = budget;
                keeper.watch = Some(watch);
                keeper.run(&thread_stop, &woken);
                keeper.handle.set_apply_observer(None);
            })
            .unwrap_or_else(|error| panic!("cannot start the lease keeper thread: {error}"));
        LeaseKeeper { stop, thread: Some(thread) }
    }

    /// Gives every lease back (as far as PostgreSQL can be reached) and joins the thread. Call
    /// before stopping the sequencer: giving back goes through it.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What the keeper remembers about one campaign between ticks.
#[derive(Clone, Copy, Debug, Default)]
struct Tracked {
    central: Option<CentralLease>,
    n_issued: u64,
    last_issue_ms: u64,
    last_grant_ms: u64,
    meter: SpendMeter,
}

struct Keeper {
    url: String,
    shard: u32,
    handle: SequencerHandle,
    clock: Arc<dyn Clock>,
    budget: Option<PostgresBudget>,
    tracked: HashMap<CampaignId, Tracked>,
    last_adopt_ms: u64,
    lease_ttl_ms: u64,
    journal: JournalPlace,
    /// Absent for a keeper that only settles a dead node's shard.
    watch: Option<Arc<LowWaterWatch>>,
}

impl Keeper {
    fn new(
        url: String,
        shard: u32,
        handle: SequencerHandle,
        clock: Arc<dyn Clock>,
        lease_ttl_ms: u64,
        journal: JournalPlace,
    ) -> Keeper {
        Keeper {
            url,
            shard,
            handle,
            clock,
            budget: None,
            tracked: HashMap::new(),
            last_adopt_ms: 0,
            lease_ttl_ms,
            journal,
            watch: None,
        }
    }

    fn connect(&self) -> anyhow::Result<PostgresBudget> {
        let mut budget = PostgresBudget::connect(&self.url)?;
        if self.journal == JournalPlace::Local {
            budget.lock_shard(self.shard)?;
        }
        Ok(budget)
    }

    fn run(&mut self, stop: &AtomicBool, woken: &mpsc::Receiver<()>) {
        while !stop.load(Ordering::Relaxed) {
            if let Err(error) = self.tick(false) {
                // The ledger keeps serving from its leases meanwhile; the next tick reconnects.
                tracing::warn!(shard = self.shard, error = %format!("{error:#}"), "lease keeper cannot reach the central budget");
                self.budget = None;
                std::thread::sleep(Duration::from_millis(500));
            }
            let now_ms = self.clock.now().unix_ms();
            if self.journal == JournalPlace::Postgres
                && now_ms.saturating_sub(self.last_adopt_ms) >= ADOPT_EVERY_MS
            {
                self.last_adopt_ms = now_ms;
                if let Err(error) = settle_lapsed_leases(&self.url, self.shard, self.clock.as_ref()) {
                    tracing::warn!(shard = self.shard, error = %format!("{error:#}"), "cannot settle lapsed leases");
                }
            }
            // The next tick, or sooner when a claim leaves a lease below its low-water mark.
            if let Err(mpsc::RecvTimeoutError::Disconnected) =
                woken.recv_timeout(Duration::from_millis(KEEPER_TICK_MS))
            {
                std::thread::sleep(Duration::from_millis(KEEPER_TICK_MS));
            }
        }
        // Shutting down: everything unspent goes back to the pool.
        for _ in 0..3 {
            match self.tick(true) {
                Ok(()) => break,
                Err(error) => {
                    tracing::warn!(shard = self.shard, error = %format!("{error:#}"), "cannot give leases back at shutdown; they return when they lapse");
                    self.budget = None;
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
    }

    fn tick(&mut self, closing: bool) -> anyhow::Result<()> {
        if self.budget.is_none() {
            self.budget = Some(self.connect()?);
        }
        let campaigns = self.handle.read(|ledger| ledger.campaign_ids());
        for campaign in campaigns {
            let Some(_) = self.handle.read(|ledger| ledger.campaign_lease(campaign)) else { continue };
            let mut n_steps = 0;
            loop {
                let step = self.step(campaign, closing)?;
                n_steps += 1;
                // Closing settles fully; otherwise a few steps per tick keep the keeper fair.
                let limit = if closing { 16 } else { KEEPER_STEPS_PER_TICK_MAX };
                if step == LeaseStep::Nothing || n_steps >= limit {
                    break;
                }
            }
        }
        Ok(())
    }

    fn step(&mut self, campaign: CampaignId, closing: bool) -> anyhow::Result<LeaseStep> {
        let budget = self.budget.as_mut().context("no budget connection")?;
        let now_ms = self.clock.now().unix_ms();
        let tracked = self.tracked.entry(campaign).or_default();
        let central = match tracked.central {
            Some(central) => central,
            None => {
                // First sight: the campaign's central row is made from its spec, as every node
                // (given the same spec) would make it.
                let spec_budget =
                    self.handle.read(|ledger| ledger.campaign(campaign).map(|state| state.spec().budget));
                if let Some(spec_budget) = spec_budget {
                    budget.ensure_campaign(campaign.get(), spec_budget.fen())?;
                }
                central_of(budget.lease(campaign.get(), self.shard)?)
            }
        };
        tracked.central = Some(central);
        let Some((journal, stats)) = self
            .handle
            .read(|ledger| Some((ledger.campaign_lease(campaign)?, ledger.campaign_stats(campaign)?)))
        else {
            return Ok(LeaseStep::Nothing);
        };
        if stats.n_issued != tracked.n_issued {
            tracked.n_issued = stats.n_issued;
            tracked.last_issue_ms = now_ms;
        }
        tracked.meter.observe(now_ms, stats.n_issued);
        let spec_budget =
            self.handle.read(|ledger| ledger.campaign(campaign).map(|state| state.spec().budget));
        let policy = sized_lease_policy(
            stats.face_value,
            spec_budget.unwrap_or(stats.face_value),
            self.lease_ttl_ms,
            tracked.meter.coupons_per_s(),
        );
        if let Some(watch) = &self.watch {
            // A drained pool is asked again on its own schedule; waking for it would not help.
            let mark = if journal.pool_drained { Money::ZERO } else { policy.low_water };
            watch.set_mark(campaign, mark);
        }
        let view = LeaseView {
            journal,
            central,
            available: stats.available,
            idle_ms: now_ms.saturating_sub(tracked.last_issue_ms),
            since_grant_ms: now_ms.saturating_sub(tracked.last_grant_ms),
            closing: closing || stats.status == CampaignStatus::Ended,
            now_ms,
        };
        let step = next_step(&policy, &view);
        let shard = self.shard;
        let expires_at_ms = i64::try_from(expiry_ms(&policy, now_ms)).unwrap_or(i64::MAX);
        match step {
            LeaseStep::JournalGrant(amount) => {
                journal_edit(&self.handle, campaign, CampaignEdit::LeaseIn(amount))?
            }
            LeaseStep::RecordReturn { returned_total } => {
                tracked.central =
                    Some(central_of(budget.record_returned(campaign.get(), shard, returned_total.fen())?));
            }
            LeaseStep::Grant(chunk) => {
                let totals = budget.grant(campaign.get(), shard, chunk.fen(), expires_at_ms)?;
                tracked.central = Some(central_of(totals));
                tracked.last_grant_ms = now_ms;
                let arrived = Money::from_fen(totals.granted_fen).checked_sub(journal.granted)?;
                // A zero arrival is journaled once, to say the pool is drained.
                if arrived > Money::ZERO || !journal.pool_drained {
                    journal_edit(&self.handle, campaign, CampaignEdit::LeaseIn(arrived))?;
                }
                if arrived > Money::ZERO {
                    tracing::debug!(shard, campaign = campaign.get(), fen = arrived.fen(), "budget leased");
                }
            }
            LeaseStep::GiveBack(amount) => {
                journal_edit(&self.handle, campaign, CampaignEdit::LeaseOut(amount))?;
                let returned_total = self
                    .handle
                    .read(|ledger| ledger.campaign_lease(campaign))
                    .map_or(journal.returned, |lease| lease.returned);
                tracked.central =
                    Some(central_of(budget.record_returned(campaign.get(), shard, returned_total.fen())?));
                tracing::debug!(shard, campaign = campaign.get(), fen = amount.fen(), "budget given back");
            }
            LeaseStep::Renew => {
                budget.renew(campaign.get(), shard, expires_at_ms)?;
                tracked.central = Some(CentralLease { expires_at_ms: expiry_ms(&policy, now_ms), ..central });
            }
            LeaseStep::Nothing => {}
        }
        Ok(step)
    }
}

fn central_of(totals: LeaseTotals) -> CentralLease {
    CentralLease {
        granted: Money::from_fen(totals.granted_fen),
        returned: Money::from_fen(totals.returned_fen),
        expires_at_ms: u64::try_from(totals.expires_at_ms).unwrap_or(0),
    }
}

fn journal_edit(handle: &SequencerHandle, campaign: CampaignId, edit: CampaignEdit) -> anyhow::Result<()> {
    match handle.submit_blocking(Command::EditCampaign { campaign, edit: edit.clone() }) {
        Ok(Outcome::CampaignEdited { .. }) => Ok(()),
        other => anyhow::bail!("journaling {edit:?} for {campaign} answered {other:?}"),
    }
}

/// Settles every lease of another shard that lapsed: takes over that shard (its lock fails while
/// its node lives), replays its journal and gives back what its ledger still holds. Returns how
/// many shards it settled.
pub fn settle_lapsed_leases(url: &str, own_shard: u32, clock: &dyn Clock) -> anyhow::Result<usize> {
    let mut budget = PostgresBudget::connect(url)?;
    let now_ms = i64::try_from(clock.now().unix_ms()).unwrap_or(i64::MAX);
    let mut shards: Vec<u32> = budget
        .expired_leases(now_ms)?
        .into_iter()
        .map(|(_, shard, _)| shard)
        .filter(|shard| *shard != own_shard)
        .collect();
    shards.dedup();
    let mut n_settled = 0;
    for shard in shards {
        let store = match PostgresStore::open(url, OpenMode::Existing, Durability::Full, Some(shard)) {
            Ok(store) => store,
            Err(StoreError::ShardLocked { .. }) => continue,
            Err(error) => return Err(error.into()),
        };
        settle_shard(url, shard, Box::new(store))?;
        n_settled += 1;
    }
    Ok(n_settled)
}

/// Replays `shard` from `store` and gives back every lease it holds.
fn settle_shard(url: &str, shard: u32, store: Box<dyn Store>) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(lantern_sequencer::SystemClock);
    let mut config = node::sequencer_config(0);
    config.shard = shard;
    let (sequencer, _) = Sequencer::start(store, node::ledger_config(0), config, Arc::clone(&clock))
        .with_context(|| format!("cannot replay lapsed shard {shard}"))?;
    let mut keeper = Keeper::new(
        url.to_owned(),
        shard,
        sequencer.handle(),
        clock,
        LEASE_TTL_MS_DEFAULT,
        JournalPlace::Postgres,
    );
    let result = keeper.tick(true);
    sequencer.stop();
    result?;
    tracing::info!(shard, "settled the lapsed leases of a stopped node");
    Ok(())
}
