//! Random sequences of admit / poll / redeem / complete / expire with advancing (and now and then
//! backwards) time, with the invariants checked after every step.

use lantern_admission::{
    Admission, AdmissionConfig, Class, Decision, ETA_MS_MAX, LimiterConfig, PROMOTION_LEAD_MAX, Permit,
    RETRY_AFTER_MS_MIN, ShedReason, Ticket, TicketState,
};
use proptest::prelude::*;

use crate::support::{TARGET_LATENCY_US, UNLIMITED};

const LIMIT_MIN: u32 = 1;
const LIMIT_MAX: u32 = 8;
const TTL_MS: u64 = 1_000;

#[derive(Clone, Debug)]
enum Op {
    /// A fresh request, `late_ms` behind the clock (time going backwards).
    Admit {
        class_idx: usize,
        late_ms: u64,
    },
    Poll {
        pick: usize,
    },
    Redeem {
        pick: usize,
    },
    /// The gateway found nobody waiting on a promoted ticket.
    MarkAway {
        pick: usize,
    },
    Complete {
        pick: usize,
        slow: bool,
        overloaded: bool,
    },
    Expire,
    Advance {
        ms: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0..5usize, prop_oneof![3 => Just(0u64), 1 => 0..300u64])
            .prop_map(|(class_idx, late_ms)| Op::Admit { class_idx, late_ms }),
        3 => any::<usize>().prop_map(|pick| Op::Poll { pick }),
        2 => any::<usize>().prop_map(|pick| Op::Redeem { pick }),
        1 => any::<usize>().prop_map(|pick| Op::MarkAway { pick }),
        4 => (any::<usize>(), any::<bool>(), prop::bool::weighted(0.1))
            .prop_map(|(pick, slow, overloaded)| Op::Complete { pick, slow, overloaded }),
        1 => Just(Op::Expire),
        2 => (0..1_500u64).prop_map(|ms| Op::Advance { ms }),
    ]
}

fn config() -> AdmissionConfig {
    AdmissionConfig {
        limiter: LimiterConfig {
            initial_limit: 4,
            min_limit: LIMIT_MIN,
            max_limit: LIMIT_MAX,
            target_latency_us: TARGET_LATENCY_US,
            backoff_permille: 700,
            slot_time_target_us: 0,
        },
        class_share_permille: [1000, 950, 850, 700, 500],
        // Small rooms, so they fill up; chat has none.
        waiting_room_capacity: [3, 3, 3, 2, 0],
        ticket_idle_ttl_ms: TTL_MS,
        admitted_ttl_ms: TTL_MS,
        reservation_grace_ms: TTL_MS / 4,
        shopper_bucket: UNLIMITED,
        ip_bucket: UNLIMITED,
        bucket_keys_max: 10,
    }
}

struct World {
    admission: Admission,
    now_ms: u64,
    tickets: Vec<Ticket>,
    /// The latest time passed to the admission: its clock.
    seen_ms: u64,
    /// The last state seen of each ticket, as a rank: waiting 0, admitted 1, gone 2.
    ranks: Vec<u8>,
    permits: Vec<Permit>,
    requests: [u64; 5],
}

fn rank(state: TicketState) -> u8 {
    match state {
        TicketState::Waiting { .. } => 0,
        TicketState::Admitted { .. } => 1,
        TicketState::Gone => 2,
    }
}

impl World {
    fn new() -> World {
        World {
            admission: Admission::new(config()),
            now_ms: 1_000,
            seen_ms: 0,
            tickets: Vec::new(),
            ranks: Vec::new(),
            permits: Vec::new(),
            requests: [0; 5],
        }
    }

    /// Notes that the admission is called at `now_ms`.
    fn call_at(&mut self, now_ms: u64) -> u64 {
        self.seen_ms = self.seen_ms.max(now_ms);
        now_ms
    }

    fn busy(&self) -> u32 {
        let stats = self.admission.stats();
        stats.in_flight + stats.reserved
    }

    /// The busy slots that count against the limit: stale reservations (holders not back
    /// within the grace) keep their slots outside it.
    fn counted_busy(&self) -> u32 {
        let stats = self.admission.stats();
        self.busy() - stats.stale_reserved
    }

    fn step(&mut self, op: &Op) {
        let busy_before = self.busy();
        let counted_before = self.counted_busy();
        let limit_before = self.admission.stats().limit;
        match *op {
            Op::Admit { class_idx, late_ms } => {
                let class = Class::ALL[class_idx];
                self.requests[class_idx] += 1;
                let now_ms = self.call_at(self.now_ms.saturating_sub(late_ms));
                let decision = self.admission.admit(class, now_ms);
                self.check_decision(class, decision);
            }
            Op::Poll { pick } => {
                if let Some(&ticket) = self.tickets.get(pick % self.tickets.len().max(1)) {
                    let now_ms = self.call_at(self.now_ms);
                    self.admission.poll(ticket, now_ms);
                }
            }
            Op::MarkAway { pick } => {
                if let Some(&ticket) = self.tickets.get(pick % self.tickets.len().max(1)) {
                    let now_ms = self.call_at(self.now_ms);
                    self.admission.mark_away(ticket, now_ms);
                }
            }
            Op::Redeem { pick } => {
                if let Some(&ticket) = self.tickets.get(pick % self.tickets.len().max(1)) {
                    let now_ms = self.call_at(self.now_ms);
                    if let Ok(permit) = self.admission.redeem(ticket, now_ms) {
                        assert_eq!(permit.class, ticket.class);
                        self.permits.push(permit);
                    }
                }
            }
            Op::Complete { pick, slow, overloaded } => {
                if !self.permits.is_empty() {
                    let permit = self.permits.swap_remove(pick % self.permits.len());
                    let latency_us = if slow { 2 * TARGET_LATENCY_US } else { TARGET_LATENCY_US / 2 };
                    let now_ms = self.call_at(self.now_ms);
                    self.admission.complete(permit, latency_us, overloaded, now_ms);
                }
            }
            Op::Expire => {
                let now_ms = self.call_at(self.now_ms);
                self.admission.expire(now_ms);
            }
            Op::Advance { ms } => self.now_ms += ms,
        }
        // Admissions and promotions never push the busy slots past the limit plus the lead
        // allowed to promoted tickets. The lead is fixed for a whole call (and shown after it);
        // the limit may change within a call (a completion moves it after the call's first
        // promotions), so the larger of the two limits bounds the step.
        let stats = self.admission.stats();
        let busy_after = self.busy();
        let lead = stats.promotion_lead;
        let limit = limit_before.max(stats.limit);
        // Counted against the limit, that is: stale reservations sit outside it, and a holder
        // back after the grace (a redeem) may add one over it, but never past the ceiling of
        // twice the limit plus the lead.
        let counted_after = self.counted_busy();
        let returning = u32::from(matches!(op, Op::Redeem { .. }));
        assert!(
            counted_after <= counted_before.max(limit + lead) + returning,
            "counted busy {counted_before} -> {counted_after}, limit {limit} + lead {lead}"
        );
        assert!(
            counted_after <= counted_before.max(2 * limit + lead),
            "counted busy {counted_before} -> {counted_after}, twice the limit {limit} + lead {lead}"
        );
        assert!(busy_after <= busy_before.max(counted_after + stats.stale_reserved));
        assert!(
            stats.stale_reserved <= stats.reserved,
            "stale {} of {} reserved",
            stats.stale_reserved,
            stats.reserved
        );
        assert!(stats.promotion_lead <= PROMOTION_LEAD_MAX);
        self.check_invariants();
    }

    fn check_decision(&mut self, class: Class, decision: Decision) {
        let stats = self.admission.stats();
        match decision {
            Decision::Admit(permit) => {
                assert_eq!(permit.class, class);
                // The slot was free for this class when it was granted.
                let stale = u64::from(stats.stale_reserved);
                let busy_at_admission = u64::from(self.busy() - 1).saturating_sub(stale);
                let share = u64::from(config().class_share_permille[class.index()]);
                assert!(busy_at_admission * 1000 < u64::from(stats.limit) * share);
                self.permits.push(permit);
            }
            Decision::Wait { ticket, position, eta_ms } => {
                assert_eq!(ticket.class, class);
                assert!(position >= 1);
                assert!((1..=ETA_MS_MAX).contains(&eta_ms));
                self.tickets.push(ticket);
                self.ranks.push(0);
            }
            Decision::Shed { reason, retry_after_ms } => {
                assert_eq!(reason, ShedReason::WaitingRoomFull);
                assert!(retry_after_ms >= RETRY_AFTER_MS_MIN);
                assert!(
                    stats.per_class[class.index()].waiting
                        >= u64::from(config().waiting_room_capacity[class.index()])
                );
            }
        }
    }

    fn check_invariants(&mut self) {
        let stats = self.admission.stats();
        assert!((LIMIT_MIN..=LIMIT_MAX).contains(&stats.limit));
        assert_eq!(stats.in_flight as usize, self.permits.len());
        assert_eq!(
            stats.per_class.iter().map(|class| class.reserved).sum::<u64>(),
            u64::from(stats.reserved)
        );
        for class in Class::ALL {
            let counts = &stats.per_class[class.index()];
            assert_eq!(
                counts.admitted + counts.queued + counts.shed,
                self.requests[class.index()],
                "{class}"
            );
            assert_eq!(
                counts.queued,
                counts.waiting + counts.reserved + counts.redeemed + counts.expired,
                "{class}"
            );
            assert!(counts.promoted <= counts.queued);
            assert!(counts.waiting <= u64::from(config().waiting_room_capacity[class.index()]));
        }
        // Every ticket moves only forward (waiting, admitted, gone), and the waiting ones hold
        // exactly the places 1..=n overall: each class after the classes above it, in seq order.
        let mut waiting_by_class: [Vec<(u64, u64)>; 5] = Default::default();
        let mut admitted_by_class = [0u64; 5];
        for (ticket, last_rank) in self.tickets.iter().zip(self.ranks.iter_mut()) {
            let state = self.admission.peek(*ticket);
            assert!(rank(state) >= *last_rank, "{ticket:?} went back to {state:?}");
            *last_rank = rank(state);
            match state {
                TicketState::Waiting { position, eta_ms } => {
                    assert!(position >= 1);
                    assert!((1..=ETA_MS_MAX).contains(&eta_ms));
                    waiting_by_class[ticket.class.index()].push((ticket.seq, position));
                }
                TicketState::Admitted { until_ms } => {
                    // Expired holds are gone by the end of each call.
                    assert!(until_ms > self.seen_ms);
                    admitted_by_class[ticket.class.index()] += 1;
                }
                TicketState::Gone => {}
            }
        }
        let mut waiting_above = 0;
        for class in Class::ALL {
            let waiting = &mut waiting_by_class[class.index()];
            waiting.sort_unstable();
            let positions: Vec<u64> = waiting.iter().map(|&(_, position)| position).collect();
            let expected: Vec<u64> = (waiting_above + 1..=waiting_above + waiting.len() as u64).collect();
            assert_eq!(
                positions, expected,
                "{class}: positions unique, in seq order, after the classes above"
            );
            assert_eq!(waiting.len() as u64, stats.per_class[class.index()].waiting);
            assert_eq!(admitted_by_class[class.index()], stats.per_class[class.index()].reserved);
            waiting_above += waiting.len() as u64;
        }
    }

    /// Load stops; shoppers keep polling and come back when admitted, requests complete.
    fn drain_by_polling(&mut self) {
        for _round in 0..100 {
            self.now_ms += 100;
            self.seen_ms = self.now_ms;
            for permit in std::mem::take(&mut self.permits) {
                self.admission.complete(permit, TARGET_LATENCY_US / 2, false, self.now_ms);
            }
            for ticket_idx in 0..self.tickets.len() {
                let ticket = self.tickets[ticket_idx];
                if let TicketState::Admitted { .. } = self.admission.poll(ticket, self.now_ms) {
                    // Err(Admitted): back late while the slots are at the ceiling; next round.
                    match self.admission.redeem(ticket, self.now_ms) {
                        Ok(permit) => self.permits.push(permit),
                        Err(state) => assert!(matches!(state, TicketState::Admitted { .. }), "{state:?}"),
                    }
                }
            }
            self.check_invariants();
            let stats = self.admission.stats();
            if self.permits.is_empty()
                && stats.reserved == 0
                && stats.per_class.iter().all(|class| class.waiting == 0)
            {
                break;
            }
        }
        self.assert_all_resolved();
    }

    /// Load stops and every shopper walks away: everything expires.
    fn drain_by_leaving(&mut self) {
        self.now_ms += 2 * TTL_MS;
        self.seen_ms = self.now_ms;
        self.admission.expire(self.now_ms);
        self.check_invariants();
        self.assert_all_resolved();
        assert_eq!(self.admission.stats().reserved, 0);
    }

    fn assert_all_resolved(&self) {
        for ticket in &self.tickets {
            assert_eq!(self.admission.peek(*ticket), TicketState::Gone, "{ticket:?} never resolved");
        }
        assert!(self.admission.stats().per_class.iter().all(|class| class.waiting == 0));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn invariants_hold_after_every_step(ops in prop::collection::vec(op(), 1..300), polling in any::<bool>()) {
        let mut world = World::new();
        for op in &ops {
            world.step(op);
        }
        if polling {
            world.drain_by_polling();
        } else {
            world.drain_by_leaving();
        }
    }
}

#[test]
fn time_at_the_end_of_the_clock_or_going_backwards_panics_nowhere() {
    let mut admission = Admission::new(config());
    let mut permits = Vec::new();
    let mut tickets = Vec::new();
    for (step, now_ms) in [u64::MAX - 5, 0, u64::MAX - 1, 17, u64::MAX, u64::MAX, 3].into_iter().enumerate() {
        let class = Class::ALL[step % 5];
        match admission.admit(class, now_ms) {
            Decision::Admit(permit) => permits.push(permit),
            Decision::Wait { ticket, .. } => tickets.push(ticket),
            Decision::Shed { .. } => {}
        }
        for ticket in &tickets {
            admission.poll(*ticket, now_ms);
            if let Ok(permit) = admission.redeem(*ticket, now_ms) {
                permits.push(permit);
            }
        }
        if let Some(permit) = permits.pop() {
            admission.complete(permit, u64::MAX, step % 2 == 0, now_ms);
        }
        admission.expire(now_ms);
        assert!(admission.check_rate(Some(u64::MAX), u128::MAX, now_ms).is_ok());
    }
    let stats = admission.stats();
    assert!(stats.limit >= LIMIT_MIN);
    assert_eq!(stats.in_flight as usize, permits.len());
}
