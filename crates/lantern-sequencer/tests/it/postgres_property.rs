//! The sequencer over the PostgreSQL journal, driven by random command sequences.
//!
//! For each sequence, on a real private PostgreSQL server (`LocalPostgres`, one shard per case):
//! - every answer of the sequencer equals the answer of the pure ledger applied directly to the
//!   same commands at the same times, and so do all reads afterwards;
//! - after stopping the sequencer and starting it again over the same shard (a replay of the
//!   journal from PostgreSQL), the rebuilt ledger gives the same reads (campaign stats and
//!   balances, claim counts, wallets, orders, quotes, shops, kept idempotency keys), and every
//!   order placement and keyed request sent again answers exactly as the pure ledger does (a
//!   replay of its idempotency key);
//! - the budget invariant holds on the rebuilt ledger's figures.
//!
//! The world (menus, shops, campaigns) is the ledger property test's own `world.rs`; the step
//! generator is a smaller one than the ledger's (which needs its reference model to aim its
//! picks), because here the pure ledger is the reference.

use std::cell::Cell;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lantern_core::pricing::CartLine;
use lantern_core::{
    CampaignId, IdempotencyKey, MerchantId, MerchantStatus, Money, OrderChannel, OrderEvent, OrderId,
    QuoteId, ShopperId, Timestamp,
};
use lantern_ledger::{Account, CampaignEdit, Command, CouponChoice, Ledger, Outcome};
use lantern_sequencer::{ManualClock, Sequencer, SequencerConfig, SubmitError};
use lantern_store::{Durability, LocalPostgres, OpenMode, PostgresStore, StoreError};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

use crate::world::*;

/// Few cases: each starts two sequencers over PostgreSQL and makes one fsync'd commit per command.
const CASES: u32 = 24;
const STEPS_MAX: usize = 50;
const N_SHOPPERS: u8 = 6;
/// 20 ms apart: five seconds for a stopped writer's PostgreSQL session to end.
const LOCK_RETRIES_MAX: u32 = 250;

#[derive(Clone, Copy, Debug)]
enum Step {
    Wait(u64),
    Claim {
        shopper: u8,
        campaign: u8,
        referrer: Option<u8>,
    },
    Quote {
        shopper: u8,
        merchant: u8,
        cart: u8,
        choice: u8,
    },
    /// Places the latest quote or the n-th (wrapping) one so far, by its owner, under a fresh
    /// key or the n-th (wrapping) key used before (a replay or a conflict).
    Place {
        quote: Option<usize>,
        reuse_key: Option<usize>,
    },
    CancelOrder {
        order: usize,
    },
    Advance {
        order: usize,
        event: u8,
    },
    Edit {
        campaign: u8,
        edit: u8,
    },
    /// A claim under an idempotency key of a small set, so keys are reused.
    KeyedClaim {
        shopper: u8,
        campaign: u8,
        key: u8,
    },
    SetStatus {
        merchant: u8,
        paused: bool,
    },
    Tick,
}

fn step() -> impl Strategy<Value = Step> {
    let shopper = 0..N_SHOPPERS;
    prop_oneof![
        4 => prop_oneof![6 => 0u64..3_000, 1 => Just(HOLD_TTL_MS), 1 => 60_000u64..4_000_000].prop_map(Step::Wait),
        8 => (shopper.clone(), 0u8..4, proptest::option::weighted(0.3, 0..N_SHOPPERS))
            .prop_map(|(shopper, campaign, referrer)| Step::Claim { shopper, campaign, referrer }),
        10 => (shopper.clone(), 0u8..3, 0u8..10, 0u8..7)
            .prop_map(|(shopper, merchant, cart, choice)| Step::Quote { shopper, merchant, cart, choice }),
        8 => (proptest::option::weighted(0.3, any::<usize>()), proptest::option::weighted(0.3, any::<usize>()))
            .prop_map(|(quote, reuse_key)| Step::Place { quote, reuse_key }),
        1 => any::<usize>().prop_map(|order| Step::CancelOrder { order }),
        6 => (any::<usize>(), 0u8..8).prop_map(|(order, event)| Step::Advance { order, event }),
        2 => (0u8..3, 0u8..5).prop_map(|(campaign, edit)| Step::Edit { campaign, edit }),
        3 => (shopper, 0u8..3, 0u8..3).prop_map(|(shopper, campaign, key)| Step::KeyedClaim { shopper, campaign, key }),
        1 => (0u8..3, proptest::bool::weighted(0.3)).prop_map(|(merchant, paused)| Step::SetStatus { merchant, paused }),
        1 => Just(Step::Tick),
    ]
}

fn shopper_id(number: u8) -> ShopperId {
    ShopperId::new(u64::from(number) + 1)
}

/// Carts 0..3 are for the tea shops, 3..5 for the coffee bar, 5.. wrong or invalid somewhere.
fn cart(number: u8) -> Vec<CartLine> {
    match number {
        0 => vec![line(TEA, 1, &[])],
        1 => vec![line(TEA, 2, &[LARGE, PEARLS])],
        2 => vec![line(TEA, 1, &[PUDDING]), line(CAKE, 1, &[])],
        3 => vec![line(COFFEE, 1, &[BIG])],
        4 => vec![line(COFFEE, 1, &[SMALL]), line(COOKIE, 3, &[])],
        5 => vec![line(WATER, 1, &[])],
        6 => vec![line(TEA, 0, &[])],
        _ => vec![],
    }
}

const MERCHANTS: [MerchantId; 3] = [TEA_HOUSE, TEA_KIOSK, COFFEE_BAR];

/// What the driver remembers to aim its picks: ids and keys from earlier answers.
#[derive(Default)]
struct Picks {
    campaigns: Vec<CampaignId>,
    quotes: Vec<(ShopperId, QuoteId)>,
    orders: Vec<(ShopperId, MerchantId, OrderId)>,
    keys: Vec<String>,
    n_keys: u64,
}

impl Picks {
    fn campaign(&self, number: u8) -> CampaignId {
        self.campaigns.get(usize::from(number)).copied().unwrap_or(CampaignId::new(999))
    }

    fn command(&mut self, step: Step, now: &mut Timestamp, ledger: &Ledger) -> Option<Command> {
        Some(match step {
            Step::Wait(ms) => {
                *now = now.plus_ms(ms);
                return None;
            }
            Step::Claim { shopper, campaign, referrer } => Command::ClaimCoupon {
                shopper: shopper_id(shopper),
                campaign: self.campaign(campaign),
                referred_by: referrer.map(shopper_id),
            },
            Step::Quote { shopper, merchant, cart: number, choice } => Command::Quote {
                shopper: shopper_id(shopper),
                merchant: MERCHANTS[usize::from(merchant)],
                // Mostly a cart of the shop's own menu, sometimes one wrong or invalid there.
                lines: match (merchant, number) {
                    (_, 7..) => cart(number - 2),
                    (2, _) => cart(3 + number % 2),
                    _ => cart(number % 3),
                },
                coupon: match choice {
                    0 => CouponChoice::None,
                    1..=4 => CouponChoice::Campaign(self.campaign(choice - 1)),
                    _ => CouponChoice::Best,
                },
            },
            Step::Place { quote, reuse_key } => {
                let index =
                    quote.map_or(self.quotes.len().saturating_sub(1), |n| n % self.quotes.len().max(1));
                let (shopper, quote) =
                    self.quotes.get(index).copied().unwrap_or((shopper_id(0), QuoteId::new(999_999)));
                let key = match reuse_key {
                    Some(index) if !self.keys.is_empty() => self.keys[index % self.keys.len()].clone(),
                    _ => {
                        self.n_keys += 1;
                        let key = format!("place-{}", self.n_keys);
                        self.keys.push(key.clone());
                        key
                    }
                };
                Command::PlaceOrder {
                    shopper,
                    quote,
                    idempotency_key: IdempotencyKey::new(&key).expect("a short ascii key"),
                    channel: OrderChannel::Acp,
                }
            }
            Step::CancelOrder { order } => {
                let (shopper, _, order) = self.order(order);
                Command::CancelOrder { shopper, order }
            }
            Step::Advance { order, event } => {
                let (_, merchant, order) = self.order(order);
                // Mostly the order's natural next event, so orders get through the kitchen.
                let natural = match ledger.order(order).map(|view| view.status) {
                    Some(lantern_core::OrderStatus::Placed) => OrderEvent::Accept,
                    Some(lantern_core::OrderStatus::Accepted) => OrderEvent::Ready,
                    Some(lantern_core::OrderStatus::Ready) => OrderEvent::Dispatch,
                    _ => OrderEvent::Deliver,
                };
                let event = match event {
                    0 => OrderEvent::Reject,
                    1 => OrderEvent::Deliver,
                    _ => natural,
                };
                Command::AdvanceOrder { merchant, order, event }
            }
            Step::Edit { campaign, edit } => Command::EditCampaign {
                campaign: self.campaign(campaign),
                edit: match edit {
                    0 => CampaignEdit::Pause,
                    1 => CampaignEdit::Resume,
                    2 => CampaignEdit::TopUp(Money::from_yuan(5)),
                    3 => CampaignEdit::SetEndsAt(now.plus_ms(600_000)),
                    _ => CampaignEdit::TopUp(Money::from_fen(77)),
                },
            },
            Step::KeyedClaim { shopper, campaign, key } => Command::Keyed {
                scope: 1,
                key: IdempotencyKey::new(format!("claim-{key}")).expect("a short ascii key"),
                // The same key for another shopper or campaign is another request: a conflict.
                fingerprint: u64::from(shopper) * 16 + u64::from(campaign),
                command: Box::new(Command::ClaimCoupon {
                    shopper: shopper_id(shopper),
                    campaign: self.campaign(campaign),
                    referred_by: None,
                }),
            },
            Step::SetStatus { merchant, paused } => Command::SetMerchantStatus {
                merchant: MERCHANTS[usize::from(merchant)],
                status: if paused { MerchantStatus::Paused } else { MerchantStatus::Open },
            },
            Step::Tick => Command::Tick,
        })
    }

    fn order(&self, index: usize) -> (ShopperId, MerchantId, OrderId) {
        self.orders.get(index % self.orders.len().max(1)).copied().unwrap_or((
            shopper_id(0),
            TEA_HOUSE,
            OrderId::new(999_999),
        ))
    }

    fn remember(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::CampaignCreated { campaign } => self.campaigns.push(*campaign),
            Outcome::Quoted(view) => self.quotes.push((view.shopper, view.quote)),
            Outcome::OrderPlaced { receipt, replayed: false } => {
                self.orders.push((receipt.shopper, receipt.merchant, receipt.order));
            }
            _ => {}
        }
    }
}

/// Everything a reader can ask the ledger about this world, as text, for comparing two ledgers.
fn reads(ledger: &Ledger, picks: &Picks) -> String {
    let mut text = String::new();
    for campaign in ledger.campaign_ids() {
        let mut counts = ledger.claim_counts(campaign);
        counts.sort();
        let balances = ledger.accounts(campaign).map(|accounts| Account::ALL.map(|a| accounts.balance(a)));
        let _ =
            writeln!(text, "{campaign}: {:?}\n  {balances:?}\n  {counts:?}", ledger.campaign_stats(campaign));
    }
    for number in 0..N_SHOPPERS + 2 {
        let _ = writeln!(text, "wallet {number}: {:?}", ledger.wallet(shopper_id(number)));
    }
    let mut orders: Vec<_> = ledger.orders().collect();
    orders.sort_by_key(|view| view.receipt.order);
    for view in orders {
        let _ = writeln!(text, "{view:?}");
    }
    for (_, quote) in &picks.quotes {
        let _ = writeln!(text, "{quote}: {:?}", ledger.quote_record(*quote));
    }
    for merchant in MERCHANTS {
        let shop = ledger
            .merchant(merchant)
            .map(|(shop, backlog, settled)| (shop.status, shop.capacity, backlog, settled));
        let _ = writeln!(text, "{merchant}: {shop:?}");
    }
    for key in 0..3 {
        let key = IdempotencyKey::new(format!("claim-{key}")).expect("a short ascii key");
        let _ = writeln!(text, "kept {key:?}: {:?}", ledger.kept_request_fingerprint(1, &key));
    }
    let _ = writeln!(text, "open quotes: {}", ledger.n_open_quotes());
    text
}

/// The lines where two `reads` differ, expected first.
fn difference(expected: &str, actual: &str) -> String {
    let mut text = String::new();
    for (expected, actual) in expected.lines().zip(actual.lines()).filter(|(a, b)| a != b) {
        let _ = write!(text, "\n expected {expected}\n actual   {actual}");
    }
    if expected.lines().count() != actual.lines().count() {
        let _ = write!(text, "\n (and they have different numbers of lines: one lost or gained a record)");
    }
    text
}

/// The budget invariant on the ledger's own figures: the six accounts of each campaign sum to
/// zero, only funding is negative, and it is minus the budget.
fn budget_invariant(ledger: &Ledger) -> Result<(), String> {
    for campaign in ledger.campaign_ids() {
        let accounts = ledger.accounts(campaign).ok_or(format!("{campaign} has no accounts"))?;
        let stats = ledger.campaign_stats(campaign).ok_or(format!("{campaign} has no stats"))?;
        let balances = Account::ALL.map(|account| accounts.balance(account).fen());
        let funding = accounts.balance(Account::Funding).fen();
        if balances.iter().sum::<i64>() != 0
            || balances[1..].iter().any(|fen| *fen < 0)
            || funding != -stats.budget_total.fen()
        {
            return Err(format!(
                "{campaign} breaks the budget invariant: {balances:?}, budget {}",
                stats.budget_total
            ));
        }
    }
    Ok(())
}

fn sequencer_config(shard: u32) -> SequencerConfig {
    SequencerConfig {
        shard,
        intake_capacity: 64,
        batch_commands_max: 64,
        apply_chunk_commands_max: 16,
        idle_tick_ms: 0,
        gather_max_us: 0,
    }
}

fn start(url: &str, mode: OpenMode, shard: u32, clock: &Arc<ManualClock>) -> Result<Sequencer, String> {
    // The stopped sequencer's session lock goes when its server backend exits, which happens
    // just after the client closes the connection: a bounded wait covers that moment.
    let mut n_tries = 0;
    let store = loop {
        match PostgresStore::open(url, mode, Durability::Full, Some(shard)) {
            Err(StoreError::ShardLocked { .. }) if n_tries < LOCK_RETRIES_MAX => {
                n_tries += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            opened => break opened.map_err(|error| format!("opening shard {shard}: {error}"))?,
        }
    };
    let (sequencer, _) = Sequencer::start(Box::new(store), config(), sequencer_config(shard), clock.clone())
        .map_err(|error| format!("starting over shard {shard}: {error}"))?;
    Ok(sequencer)
}

/// What a case saw, for the coverage check at the end.
#[derive(Default)]
struct Seen {
    n_commands: u64,
    n_replayed_after_restart: u64,
    n_orders: u64,
}

fn run_case(url: &str, shard: u32, steps: &[Step]) -> Result<Seen, String> {
    let clock = Arc::new(ManualClock::new(T0));
    let sequencer = start(url, OpenMode::Create, shard, &clock)?;
    let handle = sequencer.handle();
    let mut pure = Ledger::new(config());
    let mut picks = Picks::default();
    let mut now = T0;
    let mut sent_again: Vec<(Timestamp, Command)> = Vec::new();
    let mut history = Vec::new();
    let mut seen = Seen::default();
    let mut steps = steps.iter();
    let mut setup = setup_commands().into_iter();
    loop {
        let command = match setup.next() {
            Some(command) => command,
            None => match steps.next() {
                None => break,
                Some(step) => match picks.command(*step, &mut now, &pure) {
                    Some(command) => command,
                    None => continue,
                },
            },
        };
        history.push(format!("  at +{} ms: {command:?}", now.unix_ms() - T0.unix_ms()));
        clock.set(now);
        let expected = pure.apply(&command, now);
        let answered = handle.submit_blocking(command.clone());
        if answered != expected.clone().map_err(SubmitError::Ledger) {
            return Err(format!(
                "answers differ:\n pure      {expected:?}\n sequencer {answered:?}\nafter:\n{}",
                history.join("\n")
            ));
        }
        seen.n_commands += 1;
        if let Ok(outcome) = &expected {
            picks.remember(outcome);
        }
        if matches!(command, Command::PlaceOrder { .. } | Command::Keyed { .. }) {
            sent_again.push((now, command));
        }
    }
    seen.n_orders = picks.orders.len() as u64;
    let before = handle.read(|ledger| reads(ledger, &picks));
    let expected = reads(&pure, &picks);
    if before != expected {
        return Err(format!("reads differ before restart: {}", difference(&expected, &before)));
    }
    sequencer.stop();

    // Restart over the same shard: the ledger is rebuilt from PostgreSQL alone.
    let sequencer = start(url, OpenMode::Existing, shard, &clock)?;
    let handle = sequencer.handle();
    let after = handle.read(|ledger| reads(ledger, &picks));
    if after != expected {
        return Err(format!(
            "reads differ after replay from PostgreSQL: {}\nsteps:\n{}",
            difference(&expected, &after),
            history.join("\n")
        ));
    }
    handle.read(budget_invariant)?;
    // Every placement and keyed request again, at the time it was first sent or later: the
    // restarted ledger must answer as the one that never restarted.
    for (sent_at, command) in sent_again {
        let at = now.max(sent_at);
        clock.set(at);
        let expected = pure.apply(&command, at);
        let answered = handle.submit_blocking(command.clone());
        if answered != expected.clone().map_err(SubmitError::Ledger) {
            return Err(format!(
                "a request sent again after the restart answers differently:\n {command:?}\n pure      {expected:?}\n restarted {answered:?}"
            ));
        }
        if matches!(expected, Ok(Outcome::OrderPlaced { replayed: true, .. })) {
            seen.n_replayed_after_restart += 1;
        }
    }
    let last = handle.read(|ledger| reads(ledger, &picks));
    let expected = reads(&pure, &picks);
    if last != expected {
        return Err(format!("reads differ after the requests sent again: {}", difference(&expected, &last)));
    }
    handle.read(budget_invariant)?;
    sequencer.stop();
    Ok(seen)
}

/// Random command sequences through the sequencer over PostgreSQL answer as the pure ledger does,
/// and a restart that replays the journal from PostgreSQL loses and changes nothing.
#[test]
fn the_sequencer_over_postgres_agrees_with_the_pure_ledger_and_replays_exactly() {
    let started = Instant::now();
    let server = LocalPostgres::start("sequencer-property", &[])
        .unwrap_or_else(|error| panic!("cannot start PostgreSQL: {error}"));
    let url = server.url("postgres");
    let next_shard = Cell::new(0u32);
    let totals = Cell::new((0u64, 0u64, 0u64));
    let mut runner = TestRunner::new(Config { cases: CASES, failure_persistence: None, ..Config::default() });
    let result = runner.run(&proptest::collection::vec(step(), 1..=STEPS_MAX), |steps| {
        // A fresh shard per case (and per shrinking attempt): the same database, separate journals.
        let shard = next_shard.get();
        next_shard.set(shard + 1);
        let seen = run_case(&url, shard, &steps).map_err(TestCaseError::fail)?;
        let (n_commands, n_orders, n_replayed) = totals.get();
        totals.set((
            n_commands + seen.n_commands,
            n_orders + seen.n_orders,
            n_replayed + seen.n_replayed_after_restart,
        ));
        Ok(())
    });
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, steps)) => panic!("minimal failing sequence {steps:?}\n{reason}"),
        Err(TestError::Abort(reason)) => panic!("property test aborted: {reason}"),
    }
    let (n_commands, n_orders, n_replayed) = totals.get();
    eprintln!(
        "{CASES} cases, {n_commands} commands, {n_orders} orders, {n_replayed} keys replayed after restart, in {:?}",
        started.elapsed()
    );
    assert!(n_orders > 0, "no case placed an order: the generator is broken");
    assert!(n_replayed > 0, "no idempotency key was replayed after a restart: the generator is broken");
}
