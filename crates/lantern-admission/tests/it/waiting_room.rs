//! The waiting room: FIFO per class, higher classes first, exact positions, honest ETAs, expiry.

use lantern_admission::{Admission, Class, Decision, ShedReason, Ticket, TicketState};

use crate::support::{
    ADMITTED_TTL_MS, IDLE_TTL_MS, RESERVATION_GRACE_MS, admit_permit, admit_ticket, busy, fixed_limit,
    position,
};

fn equal_shares(limit: u32) -> Admission {
    let mut config = fixed_limit(limit);
    config.class_share_permille = [1000; 5];
    Admission::new(config)
}

#[test]
fn tickets_are_promoted_in_seq_order_within_a_class_and_higher_classes_first() {
    let mut admission = equal_shares(2);
    let mut permits = vec![
        admit_permit(&mut admission, Class::Checkout, 0),
        admit_permit(&mut admission, Class::Checkout, 0),
    ];
    let arrivals =
        [Class::Browse, Class::Claim, Class::Browse, Class::CompleteCheckout, Class::Claim, Class::Browse];
    let tickets: Vec<Ticket> =
        arrivals.into_iter().map(|class| admit_ticket(&mut admission, class, 1).0).collect();
    for class in Class::ALL {
        let seqs: Vec<u64> =
            tickets.iter().filter(|ticket| ticket.class == class).map(|ticket| ticket.seq).collect();
        assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "{class} seqs count from 1");
    }
    // Positions: complete_checkout, then claims, then browse, each in arrival order.
    let expected_order = [3, 1, 4, 0, 2, 5];
    for (rank, &ticket_idx) in expected_order.iter().enumerate() {
        assert_eq!(position(&mut admission, tickets[ticket_idx], 2), rank as u64 + 1);
    }
    // Free one slot at a time: promotions follow that order exactly.
    let mut now_ms = 10;
    for &ticket_idx in &expected_order {
        let permit = permits.pop().expect("a permit runs");
        admission.complete(permit, 1_000, false, now_ms);
        for &other_idx in &expected_order {
            let state = admission.poll(tickets[other_idx], now_ms);
            if other_idx == ticket_idx {
                assert_eq!(state, TicketState::Admitted { until_ms: now_ms + ADMITTED_TTL_MS });
            }
        }
        permits.push(admission.redeem(tickets[ticket_idx], now_ms).expect("admitted"));
        now_ms += 10;
    }
    assert_eq!(admission.stats().per_class.iter().map(|class| class.promoted).sum::<u64>(), 6);
}

#[test]
fn positions_drop_by_one_as_tickets_ahead_are_promoted_or_expire() {
    let mut admission = Admission::new(fixed_limit(1));
    let permit = admit_permit(&mut admission, Class::Claim, 0);
    let tickets: Vec<Ticket> = (0..5).map(|_| admit_ticket(&mut admission, Class::Claim, 0).0).collect();
    let positions = |admission: &mut Admission, now_ms: u64, skip: &[usize]| -> Vec<u64> {
        (0..tickets.len())
            .filter(|ticket_idx| !skip.contains(ticket_idx))
            .map(|idx| position(admission, tickets[idx], now_ms))
            .collect()
    };
    assert_eq!(positions(&mut admission, 0, &[]), [1, 2, 3, 4, 5]);
    // Ticket 2 (the third) stops polling and expires; everyone behind it moves up by one.
    assert_eq!(positions(&mut admission, IDLE_TTL_MS - 1, &[2]), [1, 2, 4, 5]);
    assert_eq!(admission.poll(tickets[2], IDLE_TTL_MS), TicketState::Gone);
    assert_eq!(positions(&mut admission, IDLE_TTL_MS, &[2]), [1, 2, 3, 4]);
    // The permit completes: the first ticket is promoted, the rest move up by one.
    admission.complete(permit, 1_000, false, IDLE_TTL_MS + 1);
    assert!(matches!(admission.poll(tickets[0], IDLE_TTL_MS + 1), TicketState::Admitted { .. }));
    assert_eq!(positions(&mut admission, IDLE_TTL_MS + 1, &[0, 2]), [1, 2, 3]);
    let stats = admission.stats().per_class[Class::Claim.index()].clone();
    assert_eq!((stats.queued, stats.waiting, stats.reserved, stats.promoted, stats.expired), (5, 3, 1, 1, 1));
}

#[test]
fn an_idle_ticket_expires_and_a_polled_one_lives_on() {
    let mut admission = Admission::new(fixed_limit(1));
    admit_permit(&mut admission, Class::Browse, 0);
    let (idle, _) = admit_ticket(&mut admission, Class::Browse, 0);
    let (polled, _) = admit_ticket(&mut admission, Class::Browse, 0);
    let mut now_ms = 0;
    while now_ms < 3 * IDLE_TTL_MS {
        now_ms += 300;
        position(&mut admission, polled, now_ms);
        admission.expire(now_ms);
    }
    assert_eq!(admission.poll(idle, now_ms), TicketState::Gone);
    assert_eq!(position(&mut admission, polled, now_ms), 1);
    let stats = admission.stats().per_class[Class::Browse.index()].clone();
    assert_eq!((stats.waiting, stats.expired), (1, 1));
}

#[test]
fn an_unredeemed_admitted_ticket_expires_and_stops_keeping_the_next_out_after_the_grace() {
    let mut admission = Admission::new(fixed_limit(1));
    let permit = admit_permit(&mut admission, Class::Claim, 0);
    let (first, _) = admit_ticket(&mut admission, Class::Claim, 0);
    let (second, _) = admit_ticket(&mut admission, Class::Claim, 0);
    admission.complete(permit, 1_000, false, 100);
    let until_ms = 100 + ADMITTED_TTL_MS;
    assert_eq!(admission.poll(first, 100), TicketState::Admitted { until_ms });
    assert_eq!(position(&mut admission, second, 100), 1);
    // Within the grace the first ticket's reservation keeps the second out.
    let grace_ends_ms = 100 + RESERVATION_GRACE_MS;
    assert_eq!(position(&mut admission, second, grace_ends_ms - 1), 1);
    assert_eq!((admission.stats().in_flight, admission.stats().reserved), (0, 1));
    // Its holder is away past the grace: the second gets a slot; the first keeps its own.
    assert_eq!(
        admission.poll(second, grace_ends_ms),
        TicketState::Admitted { until_ms: grace_ends_ms + ADMITTED_TTL_MS }
    );
    // Polling an admitted ticket does not extend its hold.
    assert_eq!(admission.poll(first, until_ms - 1), TicketState::Admitted { until_ms });
    assert_eq!((admission.stats().reserved, admission.stats().stale_reserved), (2, 2));
    // The hold ends: the first ticket is gone.
    admission.expire(until_ms);
    assert_eq!(admission.poll(first, until_ms), TicketState::Gone);
    assert_eq!(admission.redeem(first, until_ms), Err(TicketState::Gone));
    assert_eq!((admission.stats().reserved, admission.stats().stale_reserved), (1, 1));
    let permit = admission.redeem(second, until_ms + 5).expect("admitted");
    assert_eq!((permit.class, permit.started_at_ms), (Class::Claim, until_ms + 5));
    let stats = admission.stats();
    assert_eq!((stats.in_flight, stats.reserved, stats.stale_reserved), (1, 0, 0));
    // A redeemed ticket is used up.
    assert_eq!(admission.redeem(second, until_ms + 6), Err(TicketState::Gone));
    assert_eq!(admission.poll(second, until_ms + 6), TicketState::Gone);
}

#[test]
fn redeeming_too_early_answers_the_position_and_unknown_tickets_are_gone() {
    let mut admission = Admission::new(fixed_limit(1));
    admit_permit(&mut admission, Class::Chat, 0);
    let (ticket, _) = admit_ticket(&mut admission, Class::Chat, 0);
    // A redeem attempt counts as a poll.
    let early = admission.redeem(ticket, IDLE_TTL_MS - 1);
    assert!(matches!(early, Err(TicketState::Waiting { position: 1, .. })), "{early:?}");
    assert_eq!(position(&mut admission, ticket, 2 * IDLE_TTL_MS - 2), 1);
    for forged in [
        Ticket { seq: 0, ..ticket },
        Ticket { seq: 2, ..ticket },
        Ticket { seq: u64::MAX, ..ticket },
        Ticket { issued_at_ms: 1, ..ticket },
        Ticket { class: Class::Browse, ..ticket },
    ] {
        assert_eq!(admission.poll(forged, 2 * IDLE_TTL_MS - 2), TicketState::Gone, "{forged:?}");
        assert_eq!(admission.redeem(forged, 2 * IDLE_TTL_MS - 2), Err(TicketState::Gone), "{forged:?}");
    }
}

/// The first queue after a busy spell is told the waits the server has just shown it can keep,
/// not the limit-over-target-latency guess (here 10 / 50 ms = 200 a second). With the guess, the
/// hundredth place was quoted 500 ms, twenty times too long; in the gateway such quotes passed
/// the line wait, and arrivals were answered with tickets instead of being held.
#[test]
fn a_queue_after_a_busy_second_starts_from_the_rate_served() {
    let mut admission = Admission::new(fixed_limit(10));
    // 4,000 requests in the first second, never more than the limit at once, so nobody waits.
    for request_idx in 0..4_000u64 {
        let now_ms = request_idx / 4;
        let permit = admit_permit(&mut admission, Class::CompleteCheckout, now_ms);
        admission.complete(permit, 200, false, now_ms);
    }
    let _permits: Vec<_> =
        (0..10).map(|_| admit_permit(&mut admission, Class::CompleteCheckout, 1_000)).collect();
    assert_eq!(admission.stats().drain_per_s, 4_000, "served 4,000 a second unqueued");
    let mut last_eta_ms = 0;
    for expected_position in 1..=100 {
        match admission.admit(Class::CompleteCheckout, 1_000) {
            Decision::Wait { position, eta_ms, .. } => {
                assert_eq!(position, expected_position);
                last_eta_ms = eta_ms;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(last_eta_ms, 25, "100 places at 4,000 a second");
}

#[test]
fn etas_follow_the_measured_drain_rate() {
    let mut admission = Admission::new(fixed_limit(10));
    let mut permits: Vec<_> =
        (0..10).map(|_| admit_permit(&mut admission, Class::CompleteCheckout, 0)).collect();
    // Before any queue: limit / target latency = 10 / 50 ms = 200 per second, 5 ms a place.
    assert_eq!(admission.stats().drain_per_s, 200);
    let tickets: Vec<Ticket> =
        (0..60).map(|_| admit_ticket(&mut admission, Class::CompleteCheckout, 0).0).collect();
    let chat = match admission.admit(Class::Chat, 0) {
        Decision::Wait { ticket, position, eta_ms } => {
            assert_eq!((position, eta_ms), (61, 305));
            ticket
        }
        other => panic!("{other:?}"),
    };
    // Serve 10 a second for 6 seconds: every 100 ms one request completes and the promoted
    // ticket comes back for its slot.
    for (ticket_idx, ticket) in tickets.iter().enumerate() {
        let now_ms = (ticket_idx as u64 + 1) * 100;
        admission.complete(permits.remove(0), 1_000, false, now_ms);
        permits.push(admission.redeem(*ticket, now_ms).expect("promoted in order"));
        assert_eq!(position(&mut admission, chat, now_ms), 60 - ticket_idx as u64);
        for later in &tickets[ticket_idx + 1..] {
            position(&mut admission, *later, now_ms);
        }
    }
    // The first window caught 9 of the 10 grants a second (it opened with the queue, just after
    // a grant), so the smoothed rate approaches 10 from just below.
    let drain_per_s = admission.stats().drain_per_s;
    assert!((9..=10).contains(&drain_per_s), "{drain_per_s}");
    // About 100 ms a place. The chat ticket is now first, behind a fresh complete_checkout
    // request.
    let eta_is_about_100_ms_a_place =
        |position: u64, eta_ms: u64| (position * 100..=position * 112).contains(&eta_ms);
    match admission.admit(Class::CompleteCheckout, 6_000) {
        Decision::Wait { position, eta_ms, .. } => {
            assert_eq!(position, 1);
            assert!(eta_is_about_100_ms_a_place(position, eta_ms), "{eta_ms}");
        }
        other => panic!("{other:?}"),
    }
    match admission.admit(Class::Chat, 6_000) {
        Decision::Wait { position, eta_ms, .. } => {
            assert_eq!(position, 3);
            assert!(eta_is_about_100_ms_a_place(position, eta_ms), "{eta_ms}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_full_waiting_room_sheds_with_the_last_tickets_eta() {
    let mut config = fixed_limit(10);
    config.waiting_room_capacity[Class::Browse.index()] = 3;
    let mut admission = Admission::new(config);
    for _ in 0..10 {
        admit_permit(&mut admission, Class::CompleteCheckout, 0);
    }
    let etas: Vec<u64> = (0..3)
        .map(|_| match admission.admit(Class::Browse, 0) {
            Decision::Wait { eta_ms, .. } => eta_ms,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(etas, [5, 10, 15]);
    assert_eq!(
        admission.admit(Class::Browse, 0),
        Decision::Shed { reason: ShedReason::WaitingRoomFull, retry_after_ms: 1000 }
    );
    let stats = admission.stats().per_class[Class::Browse.index()].clone();
    assert_eq!((stats.queued, stats.shed, stats.waiting), (3, 1, 3));
    assert_eq!(busy(&admission), 10);
}

/// Shoppers whose phones take 200 ms to come back after their ticket is promoted still keep
/// every slot of the limit busy: the line drains at the ledger's capacity (limit ÷ latency), not
/// at limit ÷ round trip. Before the promotion lead, a promoted ticket held its slot empty for
/// the whole round trip, and this line drained at about 50 a second instead of 2,000.
#[test]
fn promoted_holders_on_their_way_back_do_not_leave_slots_empty() {
    const LIMIT: u32 = 10;
    const SERVICE_MS: u64 = 5;
    const ROUND_TRIP_MS: u64 = 200;
    const ARRIVALS_PER_MS: u64 = 3; // 3,000 a second against a capacity of 2,000
    const RUN_MS: u64 = 3_000;
    let mut config = fixed_limit(LIMIT);
    config.class_share_permille = [1000; 5];
    config.waiting_room_capacity = [100_000; 5];
    config.ticket_idle_ttl_ms = 60_000;
    let mut admission = Admission::new(config);
    let mut running: Vec<(u64, lantern_admission::Permit)> = Vec::new();
    let mut coming_back: std::collections::VecDeque<(u64, Ticket)> = std::collections::VecDeque::new();
    let mut promoted = Vec::new();
    let mut completed_after_warm_up = 0u64;
    let mut in_flight_max = 0;
    for now_ms in 0..RUN_MS {
        running.retain(|&(done_ms, permit)| {
            if done_ms > now_ms {
                return true;
            }
            admission.complete(permit, SERVICE_MS * 1000, false, now_ms);
            if now_ms >= 1_000 {
                completed_after_warm_up += 1;
            }
            false
        });
        for _ in 0..ARRIVALS_PER_MS {
            match admission.admit(Class::Checkout, now_ms) {
                Decision::Admit(permit) => running.push((now_ms + SERVICE_MS, permit)),
                Decision::Wait { .. } => {}
                Decision::Shed { .. } => panic!("the waiting room is large enough for this run"),
            }
        }
        admission.take_promoted(&mut promoted);
        coming_back.extend(promoted.drain(..).map(|ticket| (now_ms + ROUND_TRIP_MS, ticket)));
        while coming_back.front().is_some_and(|&(back_ms, _)| back_ms <= now_ms) {
            let (_, ticket) = coming_back.pop_front().expect("checked");
            let permit = admission.redeem(ticket, now_ms).expect("back well within the admitted TTL");
            running.push((now_ms + SERVICE_MS, permit));
        }
        in_flight_max = in_flight_max.max(admission.stats().in_flight);
    }
    let capacity_per_s = u64::from(LIMIT) * 1000 / SERVICE_MS;
    let drained_per_s = completed_after_warm_up * 1000 / (RUN_MS - 1_000);
    assert!(
        drained_per_s * 10 >= capacity_per_s * 9,
        "the line drained {drained_per_s}/s against a capacity of {capacity_per_s}/s (lead {})",
        admission.stats().promotion_lead
    );
    // The lead covers the round trip (capacity × 200 ms = 400 tickets), and in-flight requests
    // overshoot the limit by at most the lead.
    let lead = admission.stats().promotion_lead;
    assert!((300..=600).contains(&lead), "lead {lead}");
    assert!(in_flight_max <= LIMIT + lantern_admission::PROMOTION_LEAD_MAX, "in flight {in_flight_max}");
}

#[test]
fn an_abandoned_ticket_gives_up_its_place_and_its_promoted_slot_at_once() {
    let mut admission = Admission::new(fixed_limit(1));
    let permit = admit_permit(&mut admission, Class::Claim, 0);
    let (first, _) = admit_ticket(&mut admission, Class::Claim, 0);
    let (second, _) = admit_ticket(&mut admission, Class::Claim, 0);
    let (third, _) = admit_ticket(&mut admission, Class::Claim, 0);
    // A waiting ticket abandoned: the ones behind it move up.
    admission.abandon(second, 10);
    assert_eq!(admission.poll(second, 10), TicketState::Gone);
    assert_eq!(position(&mut admission, third, 10), 2);
    // A promoted one abandoned: its reserved slot goes to the next at once, not after the TTL.
    admission.complete(permit, 1_000, false, 20);
    assert_eq!(admission.poll(first, 20), TicketState::Admitted { until_ms: 20 + ADMITTED_TTL_MS });
    admission.abandon(first, 30);
    assert_eq!(admission.poll(third, 30), TicketState::Admitted { until_ms: 30 + ADMITTED_TTL_MS });
    assert_eq!(busy(&admission), 1);
    let stats = admission.stats().per_class[Class::Claim.index()].clone();
    assert_eq!((stats.queued, stats.waiting, stats.reserved, stats.redeemed, stats.expired), (3, 0, 1, 0, 2));
    // Abandoning twice, or an unknown ticket, changes nothing.
    admission.abandon(first, 40);
    assert_eq!(busy(&admission), 1);
}

/// A promoted ticket whose holder does not come back within the grace keeps its reservation
/// (it can still redeem it) but stops keeping others out: the next in line is promoted.
#[test]
fn a_reservation_whose_holder_is_away_past_the_grace_stops_keeping_others_out() {
    let mut admission = Admission::new(fixed_limit(1));
    let alice = admit_permit(&mut admission, Class::Checkout, 0);
    let (bob, _) = admit_ticket(&mut admission, Class::Checkout, 10);
    let (carol, _) = admit_ticket(&mut admission, Class::Checkout, 20);
    admission.complete(alice, 1_000, false, 100);
    // Bob is promoted into the freed slot; Carol waits behind his reservation.
    assert!(matches!(admission.peek(bob), TicketState::Admitted { .. }));
    assert!(matches!(admission.poll(carol, 100 + RESERVATION_GRACE_MS - 1), TicketState::Waiting { .. }));
    assert_eq!(admission.stats().stale_reserved, 0);
    // Bob is away past the grace: Carol gets a slot, and Bob's stays good.
    admission.expire(100 + RESERVATION_GRACE_MS);
    let stats = admission.stats();
    assert_eq!((stats.reserved, stats.stale_reserved), (2, 1));
    assert!(matches!(admission.peek(carol), TicketState::Admitted { .. }));
    let carol_permit = admission.redeem(carol, 700).expect("carol's slot");
    let bob_permit = admission.redeem(bob, 800).expect("bob's reservation is still good");
    // Two in flight over a limit of one: the overshoot is bounded (see the next test).
    let stats = admission.stats();
    assert_eq!((stats.in_flight, stats.reserved, stats.stale_reserved), (2, 0, 0));
    admission.complete(carol_permit, 1_000, false, 950);
    admission.complete(bob_permit, 1_000, false, 960);
    let stats = admission.stats();
    assert_eq!((stats.in_flight, stats.reserved, stats.stale_reserved), (0, 0, 0));
}

/// However many reservations go stale, none keeps the gateway from admitting; holders coming
/// back late take slots over the limit up to twice the limit, and beyond that are asked to come
/// back a moment later with their still-admitted ticket.
#[test]
fn stale_reservations_never_keep_others_out_and_late_holders_stop_at_the_ceiling() {
    let mut admission = Admission::new(fixed_limit(1));
    let alice = admit_permit(&mut admission, Class::Checkout, 0);
    let late: Vec<Ticket> = (0..3).map(|_| admit_ticket(&mut admission, Class::Checkout, 10).0).collect();
    admission.complete(alice, 1_000, false, 100);
    // Each holder stays away: every grace that ends promotes the next in line.
    for (late_idx, &ticket) in late.iter().enumerate() {
        let promoted_at_ms = 100 + late_idx as u64 * RESERVATION_GRACE_MS;
        assert!(matches!(admission.peek(ticket), TicketState::Admitted { .. }), "{late_idx}");
        admission.expire(promoted_at_ms + RESERVATION_GRACE_MS);
    }
    let now_ms = 100 + 3 * RESERVATION_GRACE_MS;
    let stats = admission.stats();
    assert_eq!((stats.in_flight, stats.reserved, stats.stale_reserved), (0, 3, 3));
    // Three stale reservations and a limit of one: a newcomer still gets in at once.
    let newcomer = admit_permit(&mut admission, Class::Checkout, now_ms);
    assert_eq!(admission.redeem_ceiling(), 2);
    let first_back = admission.redeem(late[0], now_ms).expect("under the ceiling");
    assert_eq!(admission.stats().promotion_lead, 0, "holders this late do not size the lead");
    match admission.redeem(late[1], now_ms) {
        Err(TicketState::Admitted { until_ms }) => {
            assert_eq!(until_ms, 100 + RESERVATION_GRACE_MS + ADMITTED_TTL_MS)
        }
        other => panic!("at the ceiling: {other:?}"),
    }
    assert_eq!(admission.stats().in_flight, 2);
    // A slot frees: the holder asked to wait gets in with the same ticket.
    admission.complete(newcomer, 1_000, false, now_ms + 10);
    let second_back = admission.redeem(late[1], now_ms + 20).expect("under the ceiling again");
    for permit in [first_back, second_back] {
        admission.complete(permit, 1_000, false, now_ms + 30);
    }
    let last_back = admission.redeem(late[2], now_ms + 40).expect("the last holder");
    admission.complete(last_back, 1_000, false, now_ms + 50);
    let stats = admission.stats();
    assert_eq!((stats.in_flight, stats.reserved, stats.stale_reserved), (0, 0, 0));
}

/// A promoted ticket nobody is waiting on (the gateway has no request held for it and no long
/// poll) stops keeping others out at once, not after the grace; its holder can still redeem it,
/// and its staleness is counted once, whatever happens next.
#[test]
fn a_promoted_ticket_whose_holder_is_away_stops_keeping_others_out_at_once() {
    let mut admission = Admission::new(fixed_limit(1));
    let alice = admit_permit(&mut admission, Class::Checkout, 0);
    let (bob, _) = admit_ticket(&mut admission, Class::Checkout, 10);
    let (carol, _) = admit_ticket(&mut admission, Class::Checkout, 10);
    let (dave, _) = admit_ticket(&mut admission, Class::Checkout, 10);
    admission.complete(alice, 1_000, false, 100);
    assert!(matches!(admission.peek(bob), TicketState::Admitted { .. }));
    assert!(matches!(admission.peek(carol), TicketState::Waiting { .. }));
    admission.mark_away(bob, 100);
    assert!(matches!(admission.peek(carol), TicketState::Admitted { .. }), "carol promoted at once");
    admission.mark_away(bob, 100);
    admission.mark_away(dave, 100);
    let stats = admission.stats();
    assert_eq!(
        (stats.reserved, stats.stale_reserved),
        (2, 1),
        "marking twice, or a waiting ticket, counts nothing"
    );
    // Past the grace Carol's reservation ages (Bob's was counted already), and Dave is promoted.
    admission.expire(100 + RESERVATION_GRACE_MS);
    let stats = admission.stats();
    assert_eq!((stats.reserved, stats.stale_reserved), (3, 2), "bob and carol stale, dave just promoted");
    let bob_permit = admission.redeem(bob, 700).expect("bob's ticket still good");
    let stats = admission.stats();
    assert_eq!((stats.in_flight, stats.reserved, stats.stale_reserved), (1, 2, 1));
    admission.complete(bob_permit, 1_000, false, 800);
    admission.expire(100 + ADMITTED_TTL_MS + RESERVATION_GRACE_MS);
    let stats = admission.stats();
    assert_eq!((stats.in_flight, stats.reserved, stats.stale_reserved), (0, 0, 0));
}

/// Reservations that age past the grace and then expire unredeemed are counted out again.
#[test]
fn stale_reservations_that_expire_are_counted_out() {
    let mut admission = Admission::new(fixed_limit(2));
    let first = admit_permit(&mut admission, Class::Checkout, 0);
    let second = admit_permit(&mut admission, Class::Checkout, 0);
    let (bob, _) = admit_ticket(&mut admission, Class::Checkout, 10);
    let (carol, _) = admit_ticket(&mut admission, Class::Checkout, 10);
    admission.complete(first, 1_000, false, 100);
    admission.complete(second, 1_000, false, 100);
    admission.expire(100 + RESERVATION_GRACE_MS);
    assert_eq!(admission.stats().stale_reserved, 2);
    // Carol gives up; Bob never comes back.
    admission.abandon(carol, 700);
    assert_eq!(admission.stats().stale_reserved, 1);
    admission.expire(100 + ADMITTED_TTL_MS);
    let stats = admission.stats();
    assert_eq!((stats.reserved, stats.stale_reserved, stats.in_flight), (0, 0, 0));
    assert_eq!(admission.peek(bob), TicketState::Gone);
}
