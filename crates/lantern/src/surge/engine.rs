//! The in-process driver: the engine alone (sequencer + durable ledger), no HTTP.
//!
//! Simulated time advances in slices of [`SLICE_MS`]. In each slice the clock is set to the
//! slice's start, the kitchens make what their rate allows (accept + ready, which frees a
//! backlog slot), and every try due in the slice (first tries and retries) is submitted,
//! pipelined up to [`IN_FLIGHT_MAX`] outstanding; the slice ends when every answer is in. One
//! producer and a clock that only moves between slices make a run a pure function of the
//! profile and the seed: the same answers every time, but for the rare chat turn that needs
//! two ledger commands (see [`super::chat`]).

use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use lantern_core::{IdempotencyKey, MerchantId, OrderChannel, OrderEvent, OrderId, Validity};
use lantern_ledger::{Command, LedgerError, Outcome};
use lantern_sequencer::{ManualClock, PendingReply, Reply, SequencerHandle, SubmitError};
use lantern_store::{Durability, OpenMode};
use lantern_surge::recorder::{Answer, Gauges, Recorder};
use lantern_surge::{Arrival, Channel, MINUTE_MS, Refusal, RunReport, Summary, Workload};

use super::chat::{self, Chats};
use super::{CAMPAIGN, Seen, SurgeArgs};
use crate::{node, world};

/// Simulated milliseconds per slice: the clock's step, and how often kitchens work.
const SLICE_MS: u64 = 10_000;
/// Most commands outstanding at once (the intake holds 65,536).
const IN_FLIGHT_MAX: usize = 16_384;
/// Most retries waiting for their time at once; a shopper past it gives up.
const RETRIES_PENDING_MAX: usize = 20_000_000;
/// After the profile's last minute, the run goes on while retries are due, at most this long.
const TAIL_MINUTES_MAX: u32 = 60;

/// A try waiting for its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Pending {
    at_ms: u64,
    index: u64,
    arrived_at_ms: u64,
    merchant: u64,
    attempt: u32,
    busy_answers: u32,
}

/// What a command in flight was for.
#[derive(Debug)]
enum Purpose {
    Try {
        pending: Pending,
        first_try: bool,
    },
    /// A referred shopper's first claim (it earns the referrer a bonus), sent before the order.
    ReferralClaim,
    Kitchen,
}

#[derive(Debug)]
struct InFlight {
    purpose: Purpose,
    sent: Instant,
    answer: PendingReply,
}

/// An outlet's kitchen: orders waiting to be made, in order, and the rate it makes them at.
#[derive(Debug, Default)]
struct Kitchen {
    queue: VecDeque<OrderId>,
    /// Orders made but not yet told to the ledger: their accept + ready go in one go when the
    /// ledger's view of the backlog reaches half the shop's limit, so the backlog limit binds
    /// exactly as if each were told at once, and a quiet shop costs no ledger steps at all (two
    /// thirds of the commands of a surge would otherwise be kitchen steps).
    made: Vec<OrderId>,
    open_orders_max: u64,
    orders_per_minute: u64,
    /// Order-milliminutes of work banked toward the next order (one order is 60,000).
    credit: u64,
    active: bool,
}

struct Driver<'a> {
    workload: &'a Workload,
    handle: SequencerHandle,
    in_flight: VecDeque<InFlight>,
    retries: BinaryHeap<std::cmp::Reverse<Pending>>,
    kitchens: Vec<Kitchen>,
    active_kitchens: Vec<usize>,
    backlog_total: u64,
    recorder: Recorder,
    seen: Seen,
    /// The chat share's conversations with the agent.
    chats: Chats,
    /// `--chat-as-api`: the chat share is placed as coupon orders.
    chat_as_api: bool,
    /// Refusals the shopper cannot act on, by reason code (for the log).
    unexpected: std::collections::BTreeMap<String, u64>,
    n_kitchen_errors: u64,
}

pub fn run(args: &SurgeArgs, workload: &Workload) -> anyhow::Result<RunReport> {
    let profile = workload.profile();
    let (data, temporary) = match &args.data {
        Some(data) => (data.clone(), false),
        None => (node::temp_data_dir("surge"), true),
    };
    anyhow::ensure!(!data.exists(), "the data directory {} already exists; give a new one", data.display());
    let start_at = world::FESTIVAL_STARTS_AT.plus_ms(MINUTE_MS);
    let clock = Arc::new(ManualClock::new(start_at));
    let expected = usize::try_from(profile.orders)?;
    let (sequencer, _) = node::start(&data, OpenMode::Create, Durability::Full, clock.clone(), 0, expected)?;
    let handle = sequencer.handle();
    seed_chat_shop(&handle, workload)?;
    // The agent's catalogs are read now: the chat shop's, not the surge outlets'.
    let chats = Chats::new(handle.clone(), clock.clone())?;
    seed_outlets(&handle, workload)?;
    println!(
        "  in-process: sequencer + durable ledger in {}, {} outlets seeded; chat through the agent at {}",
        data.display(),
        profile.merchants.outlets,
        chat::chat_shop(profile.merchants.outlets)
    );

    let mut driver = Driver {
        workload,
        handle: handle.clone(),
        in_flight: VecDeque::with_capacity(IN_FLIGHT_MAX),
        retries: BinaryHeap::new(),
        kitchens: (0..=profile.merchants.outlets).map(|_| Kitchen::default()).collect(),
        active_kitchens: Vec::new(),
        backlog_total: 0,
        recorder: Recorder::new(profile.duration_minutes),
        seen: Seen::new(0, profile.shoppers, profile.orders),
        chats,
        chat_as_api: args.chat_as_api,
        unexpected: Default::default(),
        n_kitchen_errors: 0,
    };
    for (merchant, kitchen) in driver.kitchens.iter_mut().enumerate().skip(1) {
        let capacity = workload.capacity(MerchantId::new(merchant as u64));
        kitchen.orders_per_minute = u64::from(capacity.orders_per_minute());
        kitchen.open_orders_max = u64::from(capacity.open_orders_max());
    }
    let bar = super::progress_bar(profile.orders);
    let started = Instant::now();
    let mut minute = 0u32;
    loop {
        if minute >= profile.duration_minutes
            && ((driver.retries.is_empty() && driver.chats.n_open() == 0)
                || minute >= profile.duration_minutes + TAIL_MINUTES_MAX)
        {
            break;
        }
        let mut arrivals = workload.arrivals_in_minute(minute).peekable();
        for slice in 0..MINUTE_MS / SLICE_MS {
            let slice_start = u64::from(minute) * MINUTE_MS + slice * SLICE_MS;
            let slice_end = slice_start + SLICE_MS;
            clock.set(start_at.plus_ms(slice_start));
            driver.kitchens_work()?;
            let mut due = Vec::new();
            while let Some(std::cmp::Reverse(pending)) = driver.retries.peek().copied() {
                if pending.at_ms >= slice_end {
                    break;
                }
                driver.retries.pop();
                due.push((pending, false));
            }
            while let Some(arrival) = arrivals.next_if(|arrival| arrival.at_ms < slice_end) {
                let pending = Pending {
                    at_ms: arrival.at_ms,
                    index: arrival.index,
                    arrived_at_ms: arrival.at_ms,
                    merchant: arrival.merchant.get(),
                    attempt: 0,
                    busy_answers: 0,
                };
                due.push((pending, true));
            }
            due.sort_unstable_by_key(|(pending, _)| (pending.at_ms, pending.index));
            // The open conversations' next messages first (their commands are with the
            // sequencer once this returns), then the slice's API tries, in the same batches.
            let chats_started = driver.chats.start_step()?;
            for (pending, first_try) in due {
                driver.submit_try(pending, first_try)?;
            }
            // The API answers first: the driver works through them while the chat thread
            // finishes its turns (both orders give the same run; this one overlaps them).
            driver.drain(0)?;
            let ended = driver.chats.finish_step(chats_started)?;
            driver.chats_ended(ended, slice_start)?;
        }
        let gauges = Gauges {
            given_out_fen: handle.read(|ledger| {
                ledger
                    .accounts(CAMPAIGN)
                    .and_then(|accounts| accounts.given_out().ok())
                    .map_or(0, |money| money.fen())
            }),
            backlog_total: driver.backlog_total,
            backlog_max: driver
                .active_kitchens
                .iter()
                .map(|merchant| driver.kitchens[*merchant].queue.len() as u64)
                .max()
                .unwrap_or(0),
            wall_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        };
        driver.recorder.set_gauges(minute, gauges);
        if let Some(bar) = &bar {
            bar.set_position(driver.seen.n_orders_tried);
            bar.set_message(super::progress_message(
                &driver.recorder,
                minute,
                started.elapsed().as_secs_f64(),
            ));
        }
        minute += 1;
    }
    let wall_s = started.elapsed().as_secs_f64();
    let n_left = driver.retries.len() + driver.chats.n_open();
    for _ in 0..n_left {
        driver.recorder.record_gave_up(minute.saturating_sub(1));
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if !driver.unexpected.is_empty() {
        tracing::warn!(refusals = ?driver.unexpected, "surge tries refused for reasons a shopper cannot act on");
    }
    anyhow::ensure!(
        driver.n_kitchen_errors == 0,
        "{} kitchen steps were refused by the ledger",
        driver.n_kitchen_errors
    );
    let Driver { recorder, seen, chats, .. } = driver;
    println!("  {} chat turns through the agent", chats.n_turns());
    // The agent's shop holds a handle of the sequencer too.
    drop(chats);
    drop(handle);
    sequencer.stop();
    let budget_fen = lantern_core::Money::from_yuan(profile.campaign.budget_yuan).fen();
    let summary = Summary::from_recorder(&recorder, profile, budget_fen, wall_s, None);
    println!("  played in {wall_s:.1} s; auditing the store");
    let audit = super::audit_store(&data, &seen)?;
    if temporary && !args.keep_data {
        let _ = std::fs::remove_dir_all(&data);
    }
    Ok(RunReport { label: "in-process".into(), summary, audit, minutes: recorder.rows() })
}

/// Menus, the chat shop and the campaign.
fn seed_chat_shop(handle: &SequencerHandle, workload: &Workload) -> anyhow::Result<()> {
    let profile = workload.profile();
    let chat_shop =
        world::tea_outlet(chat::chat_shop(profile.merchants.outlets).get(), chat::chat_shop_capacity());
    let commands: Vec<Command> = world::menu_commands().into_iter().chain([chat_shop]).collect();
    node::submit_all(handle, &commands).context("seeding the menus")?;
    let validity = Validity::new(world::FESTIVAL_STARTS_AT, world::FESTIVAL_ENDS_AT)?;
    let spec = super::campaign_spec(profile, validity);
    handle.submit_blocking(Command::CreateCampaign { spec }).context("creating the campaign")?;
    Ok(())
}

/// Every outlet with its own capacity.
fn seed_outlets(handle: &SequencerHandle, workload: &Workload) -> anyhow::Result<()> {
    let outlets = (1..=workload.profile().merchants.outlets)
        .map(|id| world::tea_outlet(id, workload.capacity(MerchantId::new(id))))
        .collect::<Vec<Command>>();
    node::submit_all(handle, &outlets).context("seeding outlets")?;
    Ok(())
}

impl Driver<'_> {
    fn send(&mut self, command: Command, purpose: Purpose) -> anyhow::Result<()> {
        if self.in_flight.len() >= IN_FLIGHT_MAX {
            self.drain(IN_FLIGHT_MAX / 2)?;
        }
        let answer = self.handle.try_submit(command).context("the ledger's intake refused a command")?;
        self.in_flight.push_back(InFlight { purpose, sent: Instant::now(), answer });
        Ok(())
    }

    fn submit_try(&mut self, pending: Pending, first_try: bool) -> anyhow::Result<()> {
        let merchant = MerchantId::new(pending.merchant);
        let arrival = self.workload.arrival_at_outlet(pending.index, pending.arrived_at_ms, merchant);
        if first_try {
            self.seen.n_orders_tried += 1;
            if let Some(referrer) = arrival.referred_by {
                let claim = Command::ClaimCoupon {
                    shopper: arrival.shopper,
                    campaign: CAMPAIGN,
                    referred_by: Some(referrer),
                };
                self.send(claim, Purpose::ReferralClaim)?;
            }
            // A chat arrival talks to the agent first (its referral claim is in line before it).
            if arrival.channel == Channel::Chat && !self.chat_as_api && self.chats.open(arrival.clone()) {
                return Ok(());
            }
        }
        let command = coupon_order(&arrival, merchant)?;
        self.send(command, Purpose::Try { pending, first_try })
    }

    /// Waits for answers until at most `keep` are outstanding.
    fn drain(&mut self, keep: usize) -> anyhow::Result<()> {
        while self.in_flight.len() > keep {
            let Some(in_flight) = self.in_flight.pop_front() else { break };
            let reply = in_flight.answer.blocking_recv().unwrap_or(Err(SubmitError::Stopped));
            let latency_us = u64::try_from(in_flight.sent.elapsed().as_micros()).unwrap_or(u64::MAX);
            match in_flight.purpose {
                Purpose::Try { pending, first_try } => {
                    self.answered(pending, first_try, reply, latency_us)?
                }
                Purpose::ReferralClaim => match reply {
                    Ok(_) | Err(SubmitError::Ledger(LedgerError::BudgetExhausted { .. })) => {}
                    Err(SubmitError::Ledger(error)) => {
                        *self.unexpected.entry(format!("referral claim: {error}")).or_default() += 1
                    }
                    Err(error) => return Err(error).context("a referral claim failed"),
                },
                Purpose::Kitchen => match reply {
                    Ok(_) => {}
                    Err(SubmitError::Ledger(error)) => {
                        self.n_kitchen_errors += 1;
                        tracing::error!(%error, "a kitchen step was refused");
                    }
                    Err(error) => return Err(error).context("a kitchen step failed"),
                },
            }
        }
        Ok(())
    }

    fn answered(
        &mut self,
        pending: Pending,
        first_try: bool,
        reply: Reply,
        latency_us: u64,
    ) -> anyhow::Result<()> {
        let minute = u32::try_from(pending.at_ms / MINUTE_MS).unwrap_or(u32::MAX);
        let (answer, refusal) = match reply {
            Ok(Outcome::OrderPlaced { receipt, .. }) => {
                self.seen.acks.push_order(&receipt);
                self.recorder.record_completed(minute);
                self.send_to_kitchen(receipt.merchant, receipt.order);
                (Answer::Admitted, None)
            }
            Ok(other) => anyhow::bail!("a coupon order answered {other:?}"),
            Err(SubmitError::Ledger(LedgerError::MerchantBusy { .. } | LedgerError::MerchantPaused(_))) => {
                (Answer::Busy, Some(Refusal::ShopBusy))
            }
            Err(SubmitError::Ledger(LedgerError::BudgetExhausted { .. })) => {
                (Answer::BudgetExhausted, Some(Refusal::BudgetExhausted))
            }
            Err(SubmitError::Ledger(error)) => {
                *self.unexpected.entry(error.code().as_str().to_owned()).or_default() += 1;
                (Answer::Failed, Some(Refusal::Final))
            }
            Err(SubmitError::Overloaded { .. }) => {
                (Answer::Shed, Some(Refusal::TryLater { retry_after_ms: 1_000 }))
            }
            Err(error) => return Err(error).context("the ledger failed during the surge"),
        };
        self.recorder.record(minute, first_try, answer, latency_us);
        let Some(refusal) = refusal else { return Ok(()) };
        let arrival = self.workload.arrival_at_outlet(
            pending.index,
            pending.arrived_at_ms,
            MerchantId::new(pending.merchant),
        );
        let attempt = pending.attempt + 1;
        let busy_answers = pending.busy_answers + u32::from(refusal == Refusal::ShopBusy);
        match self.workload.next_try(&arrival, attempt, busy_answers, refusal) {
            Some(next) if self.retries.len() < RETRIES_PENDING_MAX => {
                let merchant = if next.switch_shop {
                    // The engine alone offers no alternatives: a shop drawn at random.
                    self.recorder.record_switch(minute, false);
                    self.workload.other_outlet(&arrival, attempt).get()
                } else {
                    pending.merchant
                };
                let busy_answers = if next.switch_shop { 0 } else { busy_answers };
                self.retries.push(std::cmp::Reverse(Pending {
                    at_ms: pending.at_ms + next.delay_ms,
                    merchant,
                    attempt,
                    busy_answers,
                    ..pending
                }));
            }
            _ => self.recorder.record_gave_up(minute),
        }
        Ok(())
    }

    /// Conversations that ended in the slice starting at `slice_start_ms`: an order placed is
    /// acknowledged; one that ended without an order sends its shopper to the API, as a retry
    /// in the next slice.
    fn chats_ended(&mut self, ended: Vec<chat::Ended>, slice_start_ms: u64) -> anyhow::Result<()> {
        let now_minute = u32::try_from(slice_start_ms / MINUTE_MS).unwrap_or(u32::MAX);
        for ended in ended {
            let arrival = ended.arrival;
            let minute = u32::try_from(arrival.at_ms / MINUTE_MS).unwrap_or(u32::MAX);
            if let Some(order) = ended.placed {
                let receipt = self
                    .handle
                    .read(|ledger| ledger.order(order).map(|view| view.receipt))
                    .with_context(|| format!("the agent placed {order}, which the ledger does not hold"))?;
                self.seen.acks.push_order(&receipt);
                self.recorder.record(minute, true, Answer::Admitted, ended.latency_us);
                self.recorder.record_completed(now_minute);
                self.recorder.record_chat_order(now_minute);
                continue;
            }
            let answer = if ended.busy { Answer::Busy } else { Answer::ChatUnfinished };
            self.recorder.record(minute, true, answer, ended.latency_us);
            self.retries.push(std::cmp::Reverse(Pending {
                at_ms: slice_start_ms + SLICE_MS,
                index: arrival.index,
                arrived_at_ms: arrival.at_ms,
                merchant: arrival.merchant.get(),
                attempt: 1,
                busy_answers: 0,
            }));
        }
        Ok(())
    }

    fn send_to_kitchen(&mut self, merchant: MerchantId, order: OrderId) {
        let Some(kitchen) =
            usize::try_from(merchant.get()).ok().and_then(|index| self.kitchens.get_mut(index))
        else {
            return;
        };
        kitchen.queue.push_back(order);
        self.backlog_total += 1;
        if !kitchen.active {
            kitchen.active = true;
            self.active_kitchens.push(merchant.get() as usize);
        }
    }

    /// Each busy kitchen makes what its rate allows in one slice: accept, then ready (which
    /// frees its backlog slot), told to the ledger when its backlog matters (see
    /// [`Kitchen::made`]). An idle kitchen banks nothing.
    fn kitchens_work(&mut self) -> anyhow::Result<()> {
        let mut commands = Vec::new();
        let mut still_active = Vec::with_capacity(self.active_kitchens.len());
        for merchant in std::mem::take(&mut self.active_kitchens) {
            let kitchen = &mut self.kitchens[merchant];
            kitchen.credit += kitchen.orders_per_minute * SLICE_MS;
            while kitchen.credit >= MINUTE_MS {
                let Some(order) = kitchen.queue.pop_front() else { break };
                kitchen.credit -= MINUTE_MS;
                self.backlog_total -= 1;
                kitchen.made.push(order);
            }
            let ledger_backlog = (kitchen.queue.len() + kitchen.made.len()) as u64;
            if ledger_backlog * 2 >= kitchen.open_orders_max {
                commands
                    .extend(kitchen.made.drain(..).map(|order| (MerchantId::new(merchant as u64), order)));
            }
            if kitchen.queue.is_empty() {
                kitchen.credit = 0;
                kitchen.active = false;
            } else {
                still_active.push(merchant);
            }
        }
        self.active_kitchens = still_active;
        for (merchant, order) in commands {
            for event in [OrderEvent::Accept, OrderEvent::Ready] {
                self.send(Command::AdvanceOrder { merchant, order, event }, Purpose::Kitchen)?;
            }
        }
        Ok(())
    }
}

/// One try as a single ledger command: claim (idempotent), quote and place, under the logical
/// order's idempotency key (the same for every try of it).
fn coupon_order(arrival: &Arrival, merchant: MerchantId) -> anyhow::Result<Command> {
    Ok(Command::CouponOrder {
        shopper: arrival.shopper,
        campaign: CAMPAIGN,
        merchant,
        lines: vec![arrival.line.clone()],
        idempotency_key: IdempotencyKey::new(format!("surge-{}", arrival.index))?,
        channel: OrderChannel::Api,
    })
}
