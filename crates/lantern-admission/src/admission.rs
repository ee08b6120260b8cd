//! [`Admission`]: the decisions, tying the buckets, the limiter, the drain meter and the lines
//! together.

use crate::bucket::BucketTable;
use crate::class::{CLASS_COUNT, Class};
use crate::config::{AdmissionConfig, ConfigError};
use crate::drain::DrainMeter;
use crate::limiter::Limiter;
use crate::line::{EntryState, Line, TicketEntry};

/// Longest ETA ever quoted: past an hour the number means nothing to a shopper, and a stalled
/// drain (rate near 0) must not overflow into nonsense.
pub const ETA_MS_MAX: u64 = 3_600_000;
/// Shortest `retry_after_ms` for a full waiting room: retrying sooner only adds load.
pub const RETRY_AFTER_MS_MIN: u64 = 1000;
/// Most promotions younger than `reservation_grace_ms` remembered for aging; past it the
/// oldest are dropped unaged (their reservations keep blocking until redeemed or expired).
pub const RECENT_PROMOTIONS_MAX: usize = 65_536;
/// Most promotions remembered for [`Admission::take_promoted`] between two calls. Past it the
/// oldest are forgotten: their holders learn of it at their next poll instead of at once.
pub const PROMOTED_LOG_MAX: usize = 4096;
/// Most tickets promoted beyond the concurrency limit for holders still on their way back (see
/// [`Admission::stats`]' `promotion_lead`). Bounds how far in-flight requests can overshoot
/// the limit when every promoted holder returns at once.
pub const PROMOTION_LEAD_MAX: u32 = 2048;

/// Admission control for the gateway. Pure: no I/O, no clock; the gateway holds one behind a
/// mutex and passes the time in. Every method is O(log n) in the waiting tickets (amortized:
/// see [`crate`] for the few O(n) sweeps) and allocates nothing once its tables have grown.
#[derive(Debug)]
pub struct Admission {
    config: AdmissionConfig,
    limiter: Limiter,
    drain: DrainMeter,
    lines: [Line; CLASS_COUNT],
    shopper_buckets: BucketTable,
    ip_buckets: BucketTable,
    in_flight: u32,
    reserved: u32,
    /// The latest time seen: time going backwards counts as no time passed.
    clock_ms: u64,
    next_permit_id: u64,
    counters: [ClassCounters; CLASS_COUNT],
    shed_shopper_rate_limited: u64,
    shed_ip_rate_limited: u64,
    /// Tickets promoted since the last [`Admission::take_promoted`], oldest first, at most
    /// [`PROMOTED_LOG_MAX`]: the gateway wakes their long polls at once.
    promoted_log: std::collections::VecDeque<Ticket>,
    /// Promotions not yet older than the grace, oldest first, with when they happened.
    recent_promotions: std::collections::VecDeque<(u64, Ticket)>,
    /// Reservations older than the grace whose holders have not come back: they keep their
    /// slot but do not count against the limit (at most the limit of them).
    stale_reserved: u32,
    /// Promotions up to this time have been aged.
    aged_through_ms: u64,
    /// How long promoted holders take to come back and redeem (smoothed; `None` before the
    /// first): a round trip for a shopper's phone, next to nothing for a request held in line
    /// inside the gateway. An unredeemed ticket counts as the whole `admitted_ttl_ms`.
    redeem_ms_smoothed: Option<u64>,
    /// How long a permit is held, grant to completion (smoothed): limit ÷ this is the rate at
    /// which slots free up, which the lead must keep fed.
    hold_us_smoothed: u64,
    /// The promotion lead in force, computed once per call (in `settle`) so that every
    /// promotion of one call uses the same lead and [`Admission::stats`] shows it.
    lead: u32,
}

/// The right to run one request; hand it back to [`Admission::complete`] exactly once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Permit {
    pub class: Class,
    pub started_at_ms: u64,
    /// Tells permits apart (two granted in the same millisecond are still different permits).
    id: u64,
}

/// A place in a class's waiting room. `seq` is per class, from 1, in arrival order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ticket {
    pub class: Class,
    pub seq: u64,
    pub issued_at_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShedReason {
    ShopperRateLimited,
    IpRateLimited,
    /// The class's waiting room is full (or the class has none).
    WaitingRoomFull,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Admit(Permit),
    /// Queued: position (1 = next), ETA from the measured drain rate.
    Wait {
        ticket: Ticket,
        position: u64,
        eta_ms: u64,
    },
    Shed {
        reason: ShedReason,
        retry_after_ms: u64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TicketState {
    Waiting {
        position: u64,
        eta_ms: u64,
    },
    /// Its turn: come back (redeem) before `until_ms`.
    Admitted {
        until_ms: u64,
    },
    /// Dropped: not polled in time, admitted but not redeemed in time, or unknown/never issued.
    /// Take a new ticket.
    Gone,
}

/// Per-class counters. `admitted + queued + shed` is the number of [`Admission::admit`] calls;
/// `queued == waiting + reserved + redeemed + expired` (every ticket is in exactly one of these).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ClassStats {
    /// Fresh requests admitted at once.
    pub admitted: u64,
    /// Fresh requests given a ticket.
    pub queued: u64,
    /// Fresh requests shed because the waiting room was full (rate limits are counted apart).
    pub shed: u64,
    /// Tickets waiting now.
    pub waiting: u64,
    /// Tickets promoted into a reserved slot.
    pub promoted: u64,
    /// Tickets dropped: idle waiting ones and unredeemed admitted ones.
    pub expired: u64,
    /// Promoted tickets redeemed for a permit.
    pub redeemed: u64,
    /// Promoted tickets holding a reserved slot now.
    pub reserved: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AdmissionStats {
    pub limit: u32,
    pub in_flight: u32,
    pub reserved: u32,
    /// Slots granted per second (admissions plus promotions) measured while tickets wait,
    /// smoothed; before the first queue, the limit divided by the target latency.
    pub drain_per_s: u64,
    /// Tickets promoted beyond the limit so that slots do not stand empty while promoted holders
    /// are on their way: limit ÷ hold time times the measured redeem time, at most
    /// [`PROMOTION_LEAD_MAX`].
    pub promotion_lead: u32,
    /// Reservations past `reservation_grace_ms` whose holders are not back; they keep their
    /// slots but no longer count against the limit (at most the limit of them).
    pub stale_reserved: u32,
    pub per_class: [ClassStats; CLASS_COUNT],
    /// Requests refused by [`Admission::check_rate`], by bucket.
    pub shed_shopper_rate_limited: u64,
    pub shed_ip_rate_limited: u64,
    /// Keys the token-bucket tables track now (at most `bucket_keys_max` each).
    pub shopper_keys_tracked: u64,
    pub ip_keys_tracked: u64,
}

#[derive(Clone, Copy, Debug, Default)]
struct ClassCounters {
    admitted: u64,
    queued: u64,
    shed: u64,
    promoted: u64,
    expired: u64,
    redeemed: u64,
}

impl Admission {
    /// Panics if `config` is invalid: validate the operator's config when loading it (or use
    /// [`Admission::try_new`]); an invalid one here is a programmer error.
    pub fn new(config: AdmissionConfig) -> Admission {
        match Admission::try_new(config) {
            Ok(admission) => admission,
            Err(error) => panic!("{error}"),
        }
    }

    pub fn try_new(config: AdmissionConfig) -> Result<Admission, ConfigError> {
        config.validate()?;
        let target_latency_us = config.limiter.target_latency_us;
        Ok(Admission {
            limiter: Limiter::new(config.limiter.clone()),
            drain: DrainMeter::new(0),
            lines: std::array::from_fn(|_| Line::new()),
            shopper_buckets: BucketTable::new(config.shopper_bucket, config.bucket_keys_max),
            ip_buckets: BucketTable::new(config.ip_bucket, config.bucket_keys_max),
            config,
            in_flight: 0,
            reserved: 0,
            clock_ms: 0,
            next_permit_id: 1,
            counters: [ClassCounters::default(); CLASS_COUNT],
            shed_shopper_rate_limited: 0,
            shed_ip_rate_limited: 0,
            promoted_log: std::collections::VecDeque::new(),
            recent_promotions: std::collections::VecDeque::new(),
            stale_reserved: 0,
            aged_through_ms: 0,
            redeem_ms_smoothed: None,
            hold_us_smoothed: target_latency_us,
            lead: 0,
        })
    }

    pub fn config(&self) -> &AdmissionConfig {
        &self.config
    }

    /// Token buckets: shopper (if known) then IP (as u128: IPv4 mapped). Ok(()) or
    /// Shed{ShopperRateLimited|IpRateLimited, retry_after_ms = time until a token}. A token is
    /// taken from both buckets only when both have one, so a refused request costs nothing.
    pub fn check_rate(&mut self, shopper: Option<u64>, ip: u128, now_ms: u64) -> Result<(), Decision> {
        let now_ms = self.advance_clock(now_ms);
        let mut shopper_slot = None;
        if let Some(shopper) = shopper.filter(|_| !self.shopper_buckets.is_unlimited()) {
            let slot_idx = self.shopper_buckets.touch(u128::from(shopper), now_ms);
            if let Err(retry_after_ms) = self.shopper_buckets.available(slot_idx) {
                self.shed_shopper_rate_limited += 1;
                return Err(Decision::Shed { reason: ShedReason::ShopperRateLimited, retry_after_ms });
            }
            shopper_slot = Some(slot_idx);
        }
        if !self.ip_buckets.is_unlimited() {
            let slot_idx = self.ip_buckets.touch(ip, now_ms);
            if let Err(retry_after_ms) = self.ip_buckets.available(slot_idx) {
                self.shed_ip_rate_limited += 1;
                return Err(Decision::Shed { reason: ShedReason::IpRateLimited, retry_after_ms });
            }
            self.ip_buckets.take(slot_idx);
        }
        if let Some(slot_idx) = shopper_slot {
            self.shopper_buckets.take(slot_idx);
        }
        Ok(())
    }

    /// A fresh request of `class`. Admit when in_flight + reserved < limit * share(class) AND
    /// nobody of this class or a higher one is waiting (no queue jumping); else queue it (Wait)
    /// if the class's waiting room has room; else Shed{WaitingRoomFull, retry_after_ms from ETA}.
    pub fn admit(&mut self, class: Class, now_ms: u64) -> Decision {
        let now_ms = self.settle(now_ms);
        let class_idx = class.index();
        // No queue jumping. `settle` has just promoted into every free slot, so a waiting ticket
        // of this class or above already means no room; checked anyway so that fairness never
        // rests on that alone.
        let waiting_at_or_above = self.waiting_above(class) + u64::from(self.lines[class_idx].n_waiting());
        if waiting_at_or_above == 0 && self.has_room(class) {
            self.counters[class_idx].admitted += 1;
            return Decision::Admit(self.grant_permit(class, now_ms));
        }
        let waiting_above = self.waiting_above(class);
        let line = &mut self.lines[class_idx];
        if line.n_waiting() < self.config.waiting_room_capacity[class_idx] {
            let seq = line.push(now_ms);
            self.counters[class_idx].queued += 1;
            // The new ticket is last in its class.
            let position = waiting_above + u64::from(line.n_waiting());
            let ticket = Ticket { class, seq, issued_at_ms: now_ms };
            return Decision::Wait { ticket, position, eta_ms: self.eta_ms(position) };
        }
        self.counters[class_idx].shed += 1;
        // The ETA of the last ticket in the class, or of the ticket it would have been given.
        let last_position = waiting_above + u64::from(line.n_waiting()).max(1);
        let retry_after_ms = self.eta_ms(last_position).max(RETRY_AFTER_MS_MIN);
        Decision::Shed { reason: ShedReason::WaitingRoomFull, retry_after_ms }
    }

    /// Poll a ticket (the waiting-room endpoint calls this every few hundred ms); touching a
    /// waiting ticket keeps it alive. Polling an admitted one does not extend its hold.
    pub fn poll(&mut self, ticket: Ticket, now_ms: u64) -> TicketState {
        let now_ms = self.settle(now_ms);
        let Some(entry_idx) = self.locate(ticket) else {
            return TicketState::Gone;
        };
        if self.lines[ticket.class.index()].entry(entry_idx).state == EntryState::Waiting {
            self.lines[ticket.class.index()].touch(entry_idx, now_ms);
        }
        self.state_of(ticket.class, entry_idx)
    }

    /// The state of a ticket as of the last call, without keeping it alive.
    pub fn peek(&self, ticket: Ticket) -> TicketState {
        match self.locate(ticket) {
            Some(entry_idx) => self.state_of(ticket.class, entry_idx),
            None => TicketState::Gone,
        }
    }

    /// The shopper comes back with an admitted ticket: consume its reserved slot. Err(state) if it
    /// is not (yet) admitted; a waiting ticket counts as polled. A holder back after the grace,
    /// whose reservation went stale, takes a slot over the limit; while the slots taken are at
    /// [`Admission::redeem_ceiling`] such a holder gets `Err(Admitted)` instead: the ticket stays
    /// admitted until its TTL, to come back with shortly.
    pub fn redeem(&mut self, ticket: Ticket, now_ms: u64) -> Result<Permit, TicketState> {
        let now_ms = self.settle(now_ms);
        let class_idx = ticket.class.index();
        let Some(entry_idx) = self.locate(ticket) else {
            return Err(TicketState::Gone);
        };
        if self.lines[class_idx].entry(entry_idx).state == EntryState::Waiting {
            self.lines[class_idx].touch(entry_idx, now_ms);
            return Err(self.state_of(ticket.class, entry_idx));
        }
        let entry = *self.lines[class_idx].entry(entry_idx);
        let promoted_at_ms = entry.clock_ms.saturating_sub(self.config.admitted_ttl_ms);
        let stale = self.is_stale(&entry);
        if stale && self.busy() >= self.redeem_ceiling() {
            return Err(self.state_of(ticket.class, entry_idx));
        }
        // Only holders back within the grace size the lead: it exists to keep slots busy while
        // such holders come back. Late ones (a client that walked away and returned, a
        // `Retry-After` long past) would grow it towards its maximum, and a lead of promoted
        // tickets whose holders are that slow is a limit's worth of slots reserved for nobody.
        if !stale {
            self.note_redeem_ms(now_ms.saturating_sub(promoted_at_ms));
        }
        self.forget_reservation(stale);
        let state = self.lines[class_idx].remove(entry_idx);
        debug_assert!(state == EntryState::Admitted);
        debug_assert!(self.reserved > 0);
        // The reserved slot becomes an in-flight one: busy slots do not change.
        self.reserved = self.reserved.saturating_sub(1);
        self.in_flight += 1;
        self.counters[class_idx].redeemed += 1;
        Ok(self.new_permit(ticket.class, now_ms))
    }

    /// Release a permit when the request finished; feeds the limiter (latency; `overloaded` =
    /// the ledger said it was overloaded / timed out, a backoff signal) and promotes waiting
    /// tickets into freed slots (highest class first, FIFO within a class), counting each
    /// promotion toward the drain rate.
    pub fn complete(&mut self, permit: Permit, latency_us: u64, overloaded: bool, now_ms: u64) {
        self.complete_timed(permit, latency_us, None, overloaded, now_ms);
    }

    /// [`Admission::complete`] with the request's slot time (grant to completion, in
    /// microseconds) for the limit's second signal (`limiter.slot_time_target_us`).
    pub fn complete_timed(
        &mut self,
        permit: Permit,
        latency_us: u64,
        slot_time_us: Option<u64>,
        overloaded: bool,
        now_ms: u64,
    ) {
        let now_ms = self.settle(now_ms);
        debug_assert!(self.in_flight > 0, "completed {permit:?} but nothing is in flight (double complete?)");
        debug_assert!(permit.started_at_ms <= now_ms);
        let busy_before = self.in_flight + self.reserved;
        self.in_flight = self.in_flight.saturating_sub(1);
        self.limiter.on_complete(latency_us, slot_time_us, overloaded, busy_before, now_ms);
        self.note_hold(permit, now_ms);
        self.promote(now_ms);
    }

    /// Releases a permit whose request never reached the measured path (a read, a refusal by
    /// the business rules): frees and refills its slot without feeding the limiter, which
    /// adapts to the ledger's latency only.
    pub fn complete_unmeasured(&mut self, permit: Permit, now_ms: u64) {
        let now_ms = self.settle(now_ms);
        debug_assert!(self.in_flight > 0, "completed {permit:?} but nothing is in flight (double complete?)");
        self.in_flight = self.in_flight.saturating_sub(1);
        self.note_hold(permit, now_ms);
        self.promote(now_ms);
    }

    /// The holder of a ticket is gone for good (a request held in line whose client hung up):
    /// its place is given up now instead of at its idle expiry, and a slot promoted for it is
    /// freed for the next in line. Unknown or already gone tickets are ignored.
    pub fn abandon(&mut self, ticket: Ticket, now_ms: u64) {
        let Some(entry_idx) = self.locate(ticket) else { return };
        let class_idx = ticket.class.index();
        let stale = self.is_stale(self.lines[class_idx].entry(entry_idx));
        match self.lines[class_idx].remove(entry_idx) {
            EntryState::Waiting => {}
            EntryState::Admitted => {
                debug_assert!(self.reserved > 0);
                self.reserved = self.reserved.saturating_sub(1);
                self.forget_reservation(stale);
            }
            EntryState::Gone => return,
        }
        self.counters[class_idx].expired += 1;
        self.settle(now_ms);
    }

    /// Moves the tickets promoted since the last call into `out` (oldest first), so their
    /// holders can be told at once instead of at their next poll.
    pub fn take_promoted(&mut self, out: &mut Vec<Ticket>) {
        out.extend(self.promoted_log.drain(..));
    }

    /// Drop idle tickets and unredeemed admitted tickets (freeing their slots, promoting the
    /// next). Call about every 100 ms; the other methods also do it first, lazily.
    pub fn expire(&mut self, now_ms: u64) {
        self.settle(now_ms);
    }

    pub fn stats(&self) -> AdmissionStats {
        let per_class = std::array::from_fn(|class_idx| {
            let counters = self.counters[class_idx];
            let line = &self.lines[class_idx];
            ClassStats {
                admitted: counters.admitted,
                queued: counters.queued,
                shed: counters.shed,
                waiting: line.n_waiting().into(),
                promoted: counters.promoted,
                expired: counters.expired,
                redeemed: counters.redeemed,
                reserved: line.n_admitted().into(),
            }
        });
        AdmissionStats {
            limit: self.limiter.limit(),
            in_flight: self.in_flight,
            reserved: self.reserved,
            drain_per_s: self.drain_rate_milli_per_s() / 1000,
            promotion_lead: self.lead,
            stale_reserved: self.stale_reserved,
            per_class,
            shed_shopper_rate_limited: self.shed_shopper_rate_limited,
            shed_ip_rate_limited: self.shed_ip_rate_limited,
            shopper_keys_tracked: self.shopper_buckets.keys_tracked() as u64,
            ip_keys_tracked: self.ip_buckets.keys_tracked() as u64,
        }
    }

    fn advance_clock(&mut self, now_ms: u64) -> u64 {
        self.clock_ms = self.clock_ms.max(now_ms);
        self.clock_ms
    }

    /// Brings everything up to `now_ms`: closes a drain window if one ended, expires what is
    /// due and promotes into the freed slots.
    fn settle(&mut self, now_ms: u64) -> u64 {
        let now_ms = self.advance_clock(now_ms);
        let anyone_waiting = self.lines.iter().any(|line| line.n_waiting() > 0);
        self.drain.tick(now_ms, anyone_waiting);
        self.expire_due(now_ms);
        self.age_reservations(now_ms);
        self.lead = self.promotion_lead();
        self.promote(now_ms);
        now_ms
    }

    fn expire_due(&mut self, now_ms: u64) {
        let idle_ttl_ms = self.config.ticket_idle_ttl_ms;
        let mut n_unredeemed = 0u32;
        for class_idx in 0..CLASS_COUNT {
            // Each pass removes one ticket, so these loops end within the line's length.
            let line = &mut self.lines[class_idx];
            while let Some((entry_idx, polled_at_ms)) = line.idle_head() {
                if polled_at_ms.saturating_add(idle_ttl_ms) > now_ms {
                    break;
                }
                line.remove(entry_idx);
                self.counters[class_idx].expired += 1;
            }
            while let Some((entry_idx, until_ms)) = line.admitted_head() {
                if until_ms > now_ms {
                    break;
                }
                let away = line.entry(entry_idx).away;
                line.remove(entry_idx);
                debug_assert!(self.reserved > 0);
                self.reserved = self.reserved.saturating_sub(1);
                if away || until_ms.saturating_sub(self.config.admitted_ttl_ms) <= self.aged_through_ms {
                    self.stale_reserved = self.stale_reserved.saturating_sub(1);
                }
                self.counters[class_idx].expired += 1;
                n_unredeemed += 1;
            }
        }
        // A holder who never came back took the whole TTL. The average has forgotten an old
        // sample after a few dozen new ones, so more than that need not be fed.
        for _ in 0..n_unredeemed.min(64) {
            self.note_redeem_ms(self.config.admitted_ttl_ms);
        }
    }

    /// Fills free slots from the waiting room: the highest class with a waiting ticket, FIFO.
    /// Shares never grow toward lower classes (validated), so when the highest waiting class has
    /// no room, no lower one has either. Promotes up to the limit plus the promotion lead: a
    /// promoted ticket's slot is not used until its holder comes back, and if each slot waited
    /// for that round trip the line would drain at limit ÷ round trip (a few hundred a second
    /// for phones) instead of at the ledger's capacity.
    fn promote(&mut self, now_ms: u64) {
        let until_ms = now_ms.saturating_add(self.config.admitted_ttl_ms);
        // Each pass fills one slot, so this ends within `limit` passes.
        while let Some(class) = Class::ALL.into_iter().find(|class| self.lines[class.index()].n_waiting() > 0)
        {
            if !self.has_room_to_promote(class) {
                break;
            }
            let Some((seq, issued_at_ms)) = self.lines[class.index()].promote_first(until_ms) else {
                debug_assert!(false, "{class} has waiting tickets but none to promote");
                break;
            };
            if self.promoted_log.len() == PROMOTED_LOG_MAX {
                self.promoted_log.pop_front();
            }
            self.promoted_log.push_back(Ticket { class, seq, issued_at_ms });
            if self.recent_promotions.len() == RECENT_PROMOTIONS_MAX {
                self.recent_promotions.pop_front();
            }
            self.recent_promotions.push_back((now_ms, Ticket { class, seq, issued_at_ms }));
            self.reserved += 1;
            self.counters[class.index()].promoted += 1;
            self.drain.on_grant();
        }
    }

    /// Reservations past the grace whose holders are not back: each ages once, as the grace
    /// ends, and counts as stale until redeemed, given up or expired. A holder comes back within
    /// the grace (a woken long poll, a parked command) or is taken to be away; tickets whose
    /// holders never poll (a client that walked away, or one that will come back at its
    /// `Retry-After`) otherwise filled the limit with reservations nobody used, and a surge
    /// stalled for the 2 s of their hold.
    fn age_reservations(&mut self, now_ms: u64) {
        let aged_through_ms = now_ms.saturating_sub(self.config.reservation_grace_ms);
        while let Some(&(promoted_at_ms, ticket)) = self.recent_promotions.front() {
            if promoted_at_ms > aged_through_ms {
                break;
            }
            self.recent_promotions.pop_front();
            // An away entry counted as stale when it was marked.
            let reserved_here = self.locate(ticket).is_some_and(|entry_idx| {
                let entry = self.lines[ticket.class.index()].entry(entry_idx);
                entry.state == EntryState::Admitted && !entry.away
            });
            if reserved_here {
                self.stale_reserved += 1;
            }
        }
        self.aged_through_ms = self.aged_through_ms.max(aged_through_ms);
    }

    /// A reservation ends (redeemed or given up): one stale fewer if it was.
    fn forget_reservation(&mut self, stale: bool) {
        if stale {
            self.stale_reserved = self.stale_reserved.saturating_sub(1);
        }
    }

    /// Whether an admitted entry's reservation is stale: its holder was away when it was
    /// promoted, or is not back within the grace.
    fn is_stale(&self, entry: &TicketEntry) -> bool {
        entry.away || entry.clock_ms.saturating_sub(self.config.admitted_ttl_ms) <= self.aged_through_ms
    }

    /// Nobody was there to take a promoted ticket's slot (no request held for it, no long poll
    /// waiting on it): its holder will come back, if ever, at its own pace. Its reservation goes
    /// stale at once instead of keeping others out for the grace, and the next in line may be
    /// promoted. The ticket stays admitted until its TTL; a holder who comes back takes a slot
    /// over the limit, up to the ceiling. Without this, a crowd of tickets whose holders had
    /// left (chat shoppers answered with a ticket after their line wait, who went elsewhere)
    /// was promoted at once and held the gateway still for the grace, a few times a surge.
    /// Anything but an admitted, not yet stale ticket is ignored.
    pub fn mark_away(&mut self, ticket: Ticket, now_ms: u64) {
        let now_ms = self.settle(now_ms);
        let Some(entry_idx) = self.locate(ticket) else { return };
        let class_idx = ticket.class.index();
        let entry = *self.lines[class_idx].entry(entry_idx);
        if entry.state != EntryState::Admitted || self.is_stale(&entry) {
            return;
        }
        self.lines[class_idx].set_away(entry_idx);
        self.stale_reserved += 1;
        self.promote(now_ms);
    }

    /// Slots taken: requests in flight, and reservations still within their grace. Stale ones
    /// do not count, however many: when they did beyond the limit's worth, a crowd of tickets
    /// whose holders had walked away (the surge's chat shoppers) stopped the gateway for the
    /// rest of their TTL, with nothing in flight.
    fn busy(&self) -> u64 {
        u64::from(self.in_flight) + u64::from(self.reserved.saturating_sub(self.stale_reserved))
    }

    /// The slots taken at which a holder back after the grace waits a moment rather than take
    /// one: twice the limit. Bounds how far returning holders push the requests in flight over
    /// the limit.
    pub fn redeem_ceiling(&self) -> u64 {
        2 * u64::from(self.limiter.limit())
    }

    /// Whether a slot is free for `class`: busy < limit * share / 1000, compared exactly
    /// (so with a limit of 1 every class can run one request on an idle gateway).
    fn has_room(&self, class: Class) -> bool {
        let busy = self.busy();
        let share_permille = u64::from(self.config.class_share_permille[class.index()]);
        busy * 1000 < u64::from(self.limiter.limit()) * share_permille
    }

    /// [`Admission::has_room`] with the promotion lead added to the limit.
    fn has_room_to_promote(&self, class: Class) -> bool {
        let busy = self.busy();
        let share_permille = u64::from(self.config.class_share_permille[class.index()]);
        let limit = u64::from(self.limiter.limit()) + u64::from(self.lead);
        busy * 1000 < limit * share_permille
    }

    /// The rate at which slots free up (limit ÷ hold time) times the redeem time: the promoted
    /// tickets it takes to keep the limit's slots busy while their holders come back (Little's
    /// law). Near 0 for requests held in line inside the gateway, which redeem at once.
    fn promotion_lead(&self) -> u32 {
        let Some(redeem_ms) = self.redeem_ms_smoothed else { return 0 };
        let lead = u64::from(self.limiter.limit()) * redeem_ms * 1000 / self.hold_us_smoothed.max(1);
        u32::try_from(lead).unwrap_or(u32::MAX).min(PROMOTION_LEAD_MAX)
    }

    fn note_hold(&mut self, permit: Permit, now_ms: u64) {
        // Milliseconds are this module's clock: a hold under one counts as half of one.
        let hold_us = now_ms.saturating_sub(permit.started_at_ms).saturating_mul(1000).max(500);
        self.hold_us_smoothed = smooth(self.hold_us_smoothed, hold_us);
    }

    fn note_redeem_ms(&mut self, redeem_ms: u64) {
        self.redeem_ms_smoothed = Some(match self.redeem_ms_smoothed {
            Some(smoothed) => smooth(smoothed, redeem_ms),
            None => redeem_ms,
        });
    }

    /// Waiting tickets of classes higher than `class`: all of them go first.
    fn waiting_above(&self, class: Class) -> u64 {
        self.lines[..class.index()].iter().map(|line| u64::from(line.n_waiting())).sum()
    }

    fn grant_permit(&mut self, class: Class, now_ms: u64) -> Permit {
        debug_assert!(self.has_room(class));
        self.in_flight += 1;
        self.drain.on_grant();
        self.new_permit(class, now_ms)
    }

    fn new_permit(&mut self, class: Class, now_ms: u64) -> Permit {
        let id = self.next_permit_id;
        self.next_permit_id += 1;
        Permit { class, started_at_ms: now_ms, id }
    }

    fn locate(&self, ticket: Ticket) -> Option<usize> {
        self.lines[ticket.class.index()].locate(ticket.seq, ticket.issued_at_ms)
    }

    fn state_of(&self, class: Class, entry_idx: usize) -> TicketState {
        let line = &self.lines[class.index()];
        let entry = line.entry(entry_idx);
        match entry.state {
            EntryState::Waiting => {
                let position = self.waiting_above(class) + line.waiting_ahead(entry_idx) + 1;
                TicketState::Waiting { position, eta_ms: self.eta_ms(position) }
            }
            EntryState::Admitted => TicketState::Admitted { until_ms: entry.clock_ms },
            EntryState::Gone => TicketState::Gone,
        }
    }

    /// The measured drain rate; before any measurement the rate served without a queue or the
    /// limit over the target latency (Little's law: a full limit of requests each taking the
    /// target latency), whichever is higher.
    fn drain_rate_milli_per_s(&self) -> u64 {
        let limit = u64::from(self.limiter.limit());
        self.drain.rate_milli_per_s(limit * 1_000_000_000 / self.limiter.target_latency_us().max(1))
    }

    /// ETA = position * 1000 / drain_per_s, in 1..=ETA_MS_MAX.
    fn eta_ms(&self, position: u64) -> u64 {
        let rate_milli_per_s = self.drain_rate_milli_per_s().max(1);
        position.saturating_mul(1_000_000).div_ceil(rate_milli_per_s).clamp(1, ETA_MS_MAX)
    }
}

/// An exponentially weighted moving average with weight 1/8 for the new sample, in integers.
fn smooth(smoothed: u64, sample: u64) -> u64 {
    smoothed - smoothed / 8 + sample / 8
}
