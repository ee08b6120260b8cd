//! The sequencer's contract: durable before acknowledged, replay on restart, reads that never
//! wait for the writer, bounded intake, and time-driven expiry.

#![allow(clippy::unwrap_used)]

mod backup;
mod gather;
mod postgres_property;
/// The ledger property test's world (menus, shops, campaigns), shared rather than copied.
#[allow(dead_code)]
#[path = "../../../lantern-ledger/tests/it/world.rs"]
mod world;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use lantern_core::pricing::CartLine;
use lantern_core::{
    CampaignId, CampaignSpec, Capacity, Catalog, CatalogId, CouponStatus, CouponTemplate, Eligibility,
    IdempotencyKey, IssuancePace, Item, ItemId, Merchant, MerchantId, Money, OrderChannel, ShopperId,
    Timestamp, Validity,
};
use lantern_ledger::{Command, CouponChoice, LedgerConfig, Outcome};
use lantern_sequencer::{ManualClock, Sequencer, SequencerConfig, SequencerHandle, SubmitError};
use lantern_store::{BatchRecord, Durability, MemoryStore, OpenMode, SqliteStore, Store, StoreError};

const START: Timestamp = Timestamp::from_ms(1_000_000);
const HOLD_TTL_MS: u64 = 60_000;
const CAMPAIGN: CampaignId = CampaignId::new(1);
const SHOP: MerchantId = MerchantId::new(7);
const ALICE: ShopperId = ShopperId::new(1);

fn ledger_config() -> LedgerConfig {
    LedgerConfig {
        hold_ttl_ms: HOLD_TTL_MS,
        order_retention_ms: 24 * 60 * 60 * 1000,
        expected_shoppers: 0,
        expected_orders: 0,
        retired_kept_max: lantern_ledger::RETIRED_KEPT_MAX,
    }
}

fn config(intake_capacity: usize, idle_tick_ms: u64) -> SequencerConfig {
    SequencerConfig {
        shard: 0,
        intake_capacity,
        batch_commands_max: 256,
        apply_chunk_commands_max: 16,
        idle_tick_ms,
        gather_max_us: 0,
    }
}

fn world() -> Vec<Command> {
    let item = Item {
        id: ItemId::new(1),
        name: "珍珠奶茶".into(),
        category: "milk tea".into(),
        price: Money::from_yuan(15),
        option_groups: vec![],
    };
    let catalog = Catalog::new(CatalogId::new(1), vec![item]).unwrap();
    let merchant =
        Merchant::new(SHOP, "Tea", CatalogId::new(1), Capacity::new(1_000, 1_000).unwrap()).unwrap();
    let spec = CampaignSpec {
        name: "festival".into(),
        budget: Money::from_yuan(250),
        template: CouponTemplate::AmountOff { amount: Money::from_yuan(25) },
        min_spend: Money::ZERO,
        eligibility: Eligibility::default(),
        per_shopper_limit: 1,
        referral_bonus_cap: 0,
        validity: Validity::new(START, START.plus_ms(10 * 24 * 60 * 60 * 1000)).unwrap(),
        pace: IssuancePace::Unlimited,
    };
    vec![
        Command::PublishCatalog { catalog: Arc::new(catalog) },
        Command::RegisterMerchant { merchant },
        Command::CreateCampaign { spec },
    ]
}

fn seed(handle: &SequencerHandle) {
    for command in world() {
        handle.submit_blocking(command).unwrap();
    }
}

fn quote(shopper: ShopperId) -> Command {
    let lines = vec![CartLine { item: ItemId::new(1), quantity: 2, options: vec![] }];
    Command::Quote { shopper, merchant: SHOP, lines, coupon: CouponChoice::Best }
}

fn temp_dir(label: &str) -> std::path::PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    std::env::temp_dir().join(format!("lantern-seq-{label}-{}-{nanos}", std::process::id()))
}

/// Starting from the same SQLite directory again rebuilds the same state, and a retried order
/// with the same idempotency key answers the first order, across the restart.
#[test]
fn restart_replays_the_journal_and_keeps_idempotency_keys() {
    let dir = temp_dir("restart");
    let clock = Arc::new(ManualClock::new(START));
    let open = |mode| Box::new(SqliteStore::open(&dir, mode, Durability::Full).unwrap());
    let (sequencer, summary) =
        Sequencer::start(open(OpenMode::Create), ledger_config(), config(64, 0), clock.clone()).unwrap();
    assert_eq!(summary.n_commands, 0);
    let handle = sequencer.handle();
    seed(&handle);
    handle
        .submit_blocking(Command::ClaimCoupon { shopper: ALICE, campaign: CAMPAIGN, referred_by: None })
        .unwrap();
    let Ok(Outcome::Quoted(view)) = handle.submit_blocking(quote(ALICE)) else { panic!("quote refused") };
    let place = Command::PlaceOrder {
        shopper: ALICE,
        quote: view.quote,
        idempotency_key: IdempotencyKey::new("k1").unwrap(),
        channel: OrderChannel::Api,
    };
    let Ok(Outcome::OrderPlaced { receipt, replayed: false }) = handle.submit_blocking(place.clone()) else {
        panic!("place refused")
    };
    assert_eq!(receipt.total, Money::from_yuan(5));
    let stats_before = handle.read(|ledger| ledger.campaign_stats(CAMPAIGN));
    sequencer.stop();

    let (sequencer, summary) =
        Sequencer::start(open(OpenMode::Existing), ledger_config(), config(64, 0), clock).unwrap();
    assert_eq!(summary.n_commands, 6, "every acknowledged command was journaled");
    let handle = sequencer.handle();
    assert_eq!(handle.read(|ledger| ledger.campaign_stats(CAMPAIGN)), stats_before);
    assert_eq!(handle.read(|ledger| ledger.order(receipt.order).map(|view| view.receipt)), Some(receipt));
    let replay = handle.submit_blocking(place).unwrap();
    assert_eq!(replay, Outcome::OrderPlaced { receipt, replayed: true });
    sequencer.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A start reports its replay as it goes, with the journal's size known from the start, and
/// once more at its end; a replay quicker than the interval reports nothing.
#[test]
fn a_start_reports_the_replay_as_it_goes() {
    let dir = temp_dir("progress");
    let clock = Arc::new(ManualClock::new(START));
    let open = |mode| Box::new(SqliteStore::open(&dir, mode, Durability::Off).unwrap());
    let (sequencer, _) =
        Sequencer::start(open(OpenMode::Create), ledger_config(), config(64, 0), clock.clone()).unwrap();
    let handle = sequencer.handle();
    seed(&handle);
    for shopper in 10..20 {
        let claim =
            Command::ClaimCoupon { shopper: ShopperId::new(shopper), campaign: CAMPAIGN, referred_by: None };
        handle.submit_blocking(claim).unwrap();
    }
    sequencer.stop();

    let mut reports = Vec::new();
    let (sequencer, summary) = Sequencer::start_reporting(
        open(OpenMode::Existing),
        ledger_config(),
        config(64, 0),
        clock.clone(),
        0,
        &mut |progress| reports.push(*progress),
    )
    .unwrap();
    sequencer.stop();
    assert!(summary.n_batches >= 11, "{summary:?}");
    // One report per batch at an interval of 0, then the end again.
    assert_eq!(reports.len() as u64, summary.n_batches + 1);
    assert!(reports.iter().all(|report| report.n_batches_total == summary.n_batches));
    assert!(reports.windows(2).all(|pair| pair[0].n_batches_done <= pair[1].n_batches_done));
    assert_eq!(reports[0].n_batches_done, 1);
    let last = reports.last().unwrap();
    assert_eq!(
        (last.n_batches_done, last.n_commands_done, last.percent()),
        (summary.n_batches, summary.n_commands, 100)
    );

    let mut quiet = 0;
    let (sequencer, _) = Sequencer::start_reporting(
        open(OpenMode::Existing),
        ledger_config(),
        config(64, 0),
        clock,
        60_000,
        &mut |_| quiet += 1,
    )
    .unwrap();
    sequencer.stop();
    assert_eq!(quiet, 0);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A batch the store could not make durable is answered with an error and never applied.
#[test]
fn a_failed_commit_is_refused_and_changes_nothing() {
    let clock = Arc::new(ManualClock::new(START));
    let store = Box::new(MemoryStore::failing_after(3));
    let (sequencer, _) = Sequencer::start(store, ledger_config(), config(64, 0), clock).unwrap();
    let handle = sequencer.handle();
    seed(&handle);
    let claim = handle.submit_blocking(Command::ClaimCoupon {
        shopper: ALICE,
        campaign: CAMPAIGN,
        referred_by: None,
    });
    assert!(matches!(claim, Err(SubmitError::Store(_))), "{claim:?}");
    assert!(handle.read(|ledger| ledger.wallet(ALICE)).is_empty(), "nothing of a failed batch is applied");
    assert_eq!(handle.counters().n_store_errors.load(Ordering::Relaxed), 1);
    sequencer.stop();
}

/// A store whose appends wait at a gate, to hold the committer inside a commit.
#[derive(Clone)]
struct GatedStore {
    inner: Arc<Mutex<MemoryStore>>,
    gate: Arc<(Mutex<bool>, Condvar)>,
    entered: Arc<AtomicBool>,
}

impl GatedStore {
    fn new() -> GatedStore {
        GatedStore {
            inner: Arc::new(Mutex::new(MemoryStore::new())),
            gate: Arc::new((Mutex::new(true), Condvar::new())),
            entered: Arc::new(AtomicBool::new(false)),
        }
    }

    fn set_open(&self, open: bool) {
        *self.gate.0.lock().unwrap() = open;
        self.gate.1.notify_all();
    }
}

impl Store for GatedStore {
    fn append(&mut self, batch: &BatchRecord) -> Result<(), StoreError> {
        self.entered.store(true, Ordering::SeqCst);
        let (open, condvar) = &*self.gate;
        let mut guard = open.lock().unwrap();
        while !*guard {
            guard = condvar.wait(guard).unwrap();
        }
        self.inner.lock().unwrap().append(batch)
    }

    fn replay(
        &mut self,
        shard: u32,
        visit: &mut dyn FnMut(BatchRecord) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        self.inner.lock().unwrap().replay(shard, visit)
    }

    fn last_batch_seq(&mut self, shard: u32) -> Result<Option<u64>, StoreError> {
        self.inner.lock().unwrap().last_batch_seq(shard)
    }

    fn describe(&self) -> String {
        "gated memory store".into()
    }
}

/// While the writer is stuck in a slow fsync, reads still answer, unacknowledged commands are
/// invisible, and a full intake refuses at once instead of queueing without bound.
#[test]
fn reads_and_refusals_do_not_wait_for_a_stuck_commit() {
    let store = GatedStore::new();
    let clock = Arc::new(ManualClock::new(START));
    let (sequencer, _) =
        Sequencer::start(Box::new(store.clone()), ledger_config(), config(4, 0), clock).unwrap();
    let handle = sequencer.handle();
    seed(&handle);
    store.set_open(false);
    store.entered.store(false, Ordering::SeqCst);
    let claimer = {
        let handle = handle.clone();
        std::thread::spawn(move || {
            handle.submit_blocking(Command::ClaimCoupon {
                shopper: ALICE,
                campaign: CAMPAIGN,
                referred_by: None,
            })
        })
    };
    while !store.entered.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(1));
    }
    // The commit is stuck at the gate: a read answers, and sees no trace of the pending claim.
    let (read_sender, read_receiver) = std::sync::mpsc::channel();
    let reader_handle = handle.clone();
    std::thread::spawn(move || read_sender.send(reader_handle.read(|ledger| ledger.wallet(ALICE).len())));
    assert_eq!(read_receiver.recv_timeout(Duration::from_secs(10)), Ok(0));
    // Fill the intake (capacity 4) behind the stuck commit: the next try is refused at once.
    let mut pending = Vec::new();
    let refused = loop {
        match handle.try_submit(Command::Tick) {
            Ok(answer) => pending.push(answer),
            Err(error) => break error,
        }
        assert!(pending.len() <= 4, "the intake must be bounded");
    };
    assert_eq!(refused, SubmitError::Overloaded { capacity: 4 });
    store.set_open(true);
    let claim = claimer.join().unwrap();
    assert!(matches!(claim, Ok(Outcome::CouponClaimed { newly_claimed: true, .. })), "{claim:?}");
    for answer in pending {
        assert!(answer.blocking_recv().unwrap().is_ok());
    }
    sequencer.stop();
}

/// Concurrent submissions share batches: one fsync for many commands.
#[test]
fn concurrent_commands_are_group_committed() {
    let clock = Arc::new(ManualClock::new(START));
    let (sequencer, _) =
        Sequencer::start(Box::new(MemoryStore::new()), ledger_config(), config(4_096, 0), clock).unwrap();
    let handle = sequencer.handle();
    seed(&handle);
    let batches_before = handle.counters().n_batches.load(Ordering::Relaxed);
    let answers: Vec<_> = (0..2_000u64)
        .map(|shopper| {
            let claim = Command::ClaimCoupon {
                shopper: ShopperId::new(100 + shopper),
                campaign: CAMPAIGN,
                referred_by: None,
            };
            handle.try_submit(claim).unwrap()
        })
        .collect();
    let outcomes: Vec<_> = answers.into_iter().map(|answer| answer.blocking_recv().unwrap()).collect();
    let n_claimed = outcomes.iter().filter(|outcome| outcome.is_ok()).count();
    assert_eq!(n_claimed, 10, "a 250-yuan budget pays for exactly ten 25-yuan coupons");
    let n_batches = handle.counters().n_batches.load(Ordering::Relaxed) - batches_before;
    assert!(n_batches < 2_000 / 4, "2000 queued commands went through {n_batches} batches");
    sequencer.stop();
}

/// Submissions queued before a stop are all answered; after it they are refused.
#[test]
fn stop_drains_then_refuses() {
    let clock = Arc::new(ManualClock::new(START));
    let (sequencer, _) =
        Sequencer::start(Box::new(MemoryStore::new()), ledger_config(), config(1_024, 0), clock).unwrap();
    let handle = sequencer.handle();
    let answers: Vec<_> = (0..500).map(|_| handle.try_submit(Command::Tick).unwrap()).collect();
    sequencer.stop();
    for answer in answers {
        assert!(matches!(answer.blocking_recv(), Ok(Ok(Outcome::Ticked { .. }))));
    }
    assert_eq!(handle.submit_blocking(Command::Tick), Err(SubmitError::Stopped));
}

/// With no traffic, idle ticks still expire a quote's hold, so the coupon returns to the wallet.
#[test]
fn idle_ticks_expire_holds() {
    let clock = Arc::new(ManualClock::new(START));
    let (sequencer, _) =
        Sequencer::start(Box::new(MemoryStore::new()), ledger_config(), config(64, 5), clock.clone())
            .unwrap();
    let handle = sequencer.handle();
    seed(&handle);
    handle
        .submit_blocking(Command::ClaimCoupon { shopper: ALICE, campaign: CAMPAIGN, referred_by: None })
        .unwrap();
    handle.submit_blocking(quote(ALICE)).unwrap();
    assert_eq!(handle.read(|ledger| ledger.wallet(ALICE)[0].status), CouponStatus::Held);
    clock.advance_ms(HOLD_TTL_MS + 1);
    let mut status = CouponStatus::Held;
    for _ in 0..1_000 {
        status = handle.read(|ledger| ledger.wallet(ALICE)[0].status);
        if status == CouponStatus::Claimed {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(status, CouponStatus::Claimed, "the idle tick released the expired hold");
    sequencer.stop();
}

/// The apply observer sees each batch's effect before the batch is answered, and stops when
/// removed.
#[test]
fn the_apply_observer_sees_each_batch_before_its_answer() {
    let clock = Arc::new(ManualClock::new(START));
    let store = Box::new(MemoryStore::new());
    let (sequencer, _) = Sequencer::start(store, ledger_config(), config(64, 0), clock).unwrap();
    let handle = sequencer.handle();
    let seen_campaigns = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = Arc::clone(&seen_campaigns);
    handle.set_apply_observer(Some(Arc::new(move |ledger: &lantern_ledger::Ledger| {
        seen.store(ledger.campaign_ids().len(), Ordering::SeqCst);
    })));
    seed(&handle);
    assert_eq!(seen_campaigns.load(Ordering::SeqCst), 1, "observed before the answer came");
    handle.set_apply_observer(None);
    let spec = world()
        .into_iter()
        .find_map(|command| match command {
            Command::CreateCampaign { spec } => Some(spec),
            _ => None,
        })
        .unwrap();
    handle.submit_blocking(Command::CreateCampaign { spec }).unwrap();
    assert_eq!(handle.read(|ledger| ledger.campaign_ids().len()), 2);
    assert_eq!(seen_campaigns.load(Ordering::SeqCst), 1, "removed: not called again");
    sequencer.stop();
}
