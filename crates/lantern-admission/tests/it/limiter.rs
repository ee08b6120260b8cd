//! The AIMD concurrency limit.

use lantern_admission::{Admission, Class, LimiterConfig, Permit};

use crate::support::{TARGET_LATENCY_US, admit_permit, admit_ticket, fixed_limit};

const FAST_US: u64 = TARGET_LATENCY_US / 2;
const SLOW_US: u64 = TARGET_LATENCY_US + 1;
/// The backoff window: one target latency.
const WINDOW_MS: u64 = TARGET_LATENCY_US / 1000;

fn adaptive(initial_limit: u32, min_limit: u32, max_limit: u32) -> Admission {
    adaptive_with_slot_time_target(initial_limit, min_limit, max_limit, 0)
}

fn adaptive_with_slot_time_target(
    initial_limit: u32,
    min_limit: u32,
    max_limit: u32,
    slot_time_target_us: u64,
) -> Admission {
    let mut config = fixed_limit(initial_limit);
    config.limiter = LimiterConfig {
        initial_limit,
        min_limit,
        max_limit,
        target_latency_us: TARGET_LATENCY_US,
        backoff_permille: 900,
        slot_time_target_us,
    };
    Admission::new(config)
}

/// Completes one busy permit with the ledger's latency and the slot time given.
fn complete_one(
    admission: &mut Admission,
    permits: &mut Vec<Permit>,
    latency_us: u64,
    slot_time_us: Option<u64>,
    now_ms: u64,
) {
    admission.complete_timed(permits.pop().expect("busy"), latency_us, slot_time_us, false, now_ms);
}

/// Grows the limit to `limit` with fast completions under load (each keeping its slot
/// `slot_time_us`, below any backoff); returns the time reached.
fn grow_limit_to(
    admission: &mut Admission,
    permits: &mut Vec<Permit>,
    limit: u32,
    slot_time_us: Option<u64>,
) -> u64 {
    let mut now_ms = 0;
    while admission.stats().limit < limit {
        fill(admission, permits, now_ms);
        complete_one(admission, permits, FAST_US, slot_time_us, now_ms);
        now_ms += 1;
    }
    now_ms
}

/// Keeps every slot busy: admits complete_checkout requests until one has to wait.
fn fill(admission: &mut Admission, permits: &mut Vec<Permit>, now_ms: u64) {
    while admission.stats().in_flight < admission.stats().limit {
        permits.push(admit_permit(admission, Class::CompleteCheckout, now_ms));
    }
}

#[test]
fn the_limit_grows_by_one_per_limits_worth_of_fast_completions_under_load() {
    let mut admission = adaptive(10, 1, 100);
    let mut permits = Vec::new();
    fill(&mut admission, &mut permits, 0);
    let mut limits = Vec::new();
    for completion in 1..=21u64 {
        let permit = permits.pop().expect("busy");
        admission.complete(permit, FAST_US, false, completion);
        limits.push(admission.stats().limit);
        fill(&mut admission, &mut permits, completion);
    }
    // 10 completions at a limit of 10, then 11 at a limit of 11.
    assert_eq!(limits[8], 10);
    assert_eq!(limits[9], 11);
    assert_eq!(limits[19], 11);
    assert_eq!(limits[20], 12);
}

#[test]
fn a_mostly_idle_gateway_does_not_grow_its_limit() {
    let mut admission = adaptive(10, 1, 100);
    for now_ms in 0..1000 {
        let permit = admit_permit(&mut admission, Class::Browse, now_ms);
        admission.complete(permit, FAST_US, false, now_ms);
    }
    assert_eq!(admission.stats().limit, 10);
}

#[test]
fn slow_or_overloaded_completions_back_off_once_per_window() {
    let mut admission = adaptive(100, 1, 100);
    let mut permits = Vec::new();
    fill(&mut admission, &mut permits, 0);
    // A burst of slow completions in one window backs off once.
    for _ in 0..10 {
        admission.complete(permits.pop().expect("busy"), SLOW_US, false, 1_000);
    }
    assert_eq!(admission.stats().limit, 90);
    admission.complete(permits.pop().expect("busy"), SLOW_US, false, 1_000 + WINDOW_MS - 1);
    assert_eq!(admission.stats().limit, 90);
    admission.complete(permits.pop().expect("busy"), SLOW_US, false, 1_000 + WINDOW_MS);
    assert_eq!(admission.stats().limit, 81);
    // The ledger's overload signal backs off even when the latency was fine.
    admission.complete(permits.pop().expect("busy"), FAST_US, true, 1_000 + 2 * WINDOW_MS);
    assert_eq!(admission.stats().limit, 72);
}

#[test]
fn the_limit_stays_within_its_bounds() {
    let mut admission = adaptive(20, 5, 30);
    let mut permits = Vec::new();
    let mut now_ms = 0;
    for _ in 0..100 {
        fill(&mut admission, &mut permits, now_ms);
        admission.complete(permits.pop().expect("busy"), SLOW_US, false, now_ms);
        assert!((5..=30).contains(&admission.stats().limit));
        now_ms += WINDOW_MS;
    }
    assert_eq!(admission.stats().limit, 5);
    for _ in 0..10_000 {
        fill(&mut admission, &mut permits, now_ms);
        admission.complete(permits.pop().expect("busy"), FAST_US, false, now_ms);
        assert!((5..=30).contains(&admission.stats().limit));
        now_ms += 1;
    }
    assert_eq!(admission.stats().limit, 30);
}

#[test]
fn a_shrinking_limit_revokes_nothing_and_new_requests_wait() {
    let mut admission = adaptive(10, 1, 10);
    let mut permits = Vec::new();
    fill(&mut admission, &mut permits, 0);
    admission.complete(permits.pop().expect("busy"), SLOW_US, false, 0);
    assert_eq!(admission.stats().limit, 9);
    admission.complete(permits.pop().expect("busy"), SLOW_US, false, WINDOW_MS);
    assert_eq!(admission.stats().limit, 8);
    assert_eq!(admission.stats().in_flight, 8);
    let (ticket, _) = admit_ticket(&mut admission, Class::CompleteCheckout, WINDOW_MS);
    // Slow completions while the limit shrinks further free no slot for the ticket.
    admission.complete(permits.pop().expect("busy"), SLOW_US, false, 2 * WINDOW_MS);
    assert_eq!(admission.stats().limit, 7);
    assert!(matches!(admission.poll(ticket, 2 * WINDOW_MS), lantern_admission::TicketState::Waiting { .. }));
    // The permits still running complete normally.
    while let Some(permit) = permits.pop() {
        admission.complete(permit, FAST_US, false, 3 * WINDOW_MS);
    }
    assert!(matches!(admission.poll(ticket, 3 * WINDOW_MS), lantern_admission::TicketState::Admitted { .. }));
}

#[test]
fn unmeasured_completions_free_the_slot_without_moving_the_limit() {
    let mut admission = adaptive(32, 16, 64);
    let mut permits = Vec::new();
    fill(&mut admission, &mut permits, 0);
    let (ticket, _) = admit_ticket(&mut admission, Class::CompleteCheckout, 0);
    for permit in permits {
        admission.complete_unmeasured(permit, 1_000);
    }
    let stats = admission.stats();
    assert_eq!((stats.limit, stats.in_flight, stats.reserved), (32, 0, 1), "the waiting ticket took a slot");
    let mut promoted = Vec::new();
    admission.take_promoted(&mut promoted);
    assert_eq!(promoted, vec![ticket], "and is reported once, to be woken");
    admission.take_promoted(&mut promoted);
    assert_eq!(promoted.len(), 1);
}

/// The gateway's own cores can be the bottleneck while the ledger stays fast: admitted requests
/// then keep their slots waiting for a core, and only the slot time shows it. That signal trims
/// the limit back toward `initial_limit`, never below it.
#[test]
fn slots_kept_past_the_slot_time_target_back_off_to_the_initial_limit_while_the_ledger_is_fast() {
    const SLOT_TIME_TARGET_US: u64 = 20_000;
    let mut admission = adaptive_with_slot_time_target(10, 1, 100, SLOT_TIME_TARGET_US);
    let mut permits = Vec::new();
    // Fast completions under load grow the limit past its initial 10.
    let mut now_ms = grow_limit_to(&mut admission, &mut permits, 40, Some(SLOT_TIME_TARGET_US));
    // Kept past the target while the ledger is fast: one backoff per window.
    now_ms += WINDOW_MS;
    fill(&mut admission, &mut permits, now_ms);
    for _ in 0..5 {
        complete_one(&mut admission, &mut permits, FAST_US, Some(SLOT_TIME_TARGET_US + 1), now_ms);
    }
    assert_eq!(admission.stats().limit, 36);
    // Window after window, down to the initial limit and no further.
    for _ in 0..40 {
        now_ms += WINDOW_MS;
        fill(&mut admission, &mut permits, now_ms);
        complete_one(&mut admission, &mut permits, FAST_US, Some(SLOT_TIME_TARGET_US + 1), now_ms);
    }
    assert_eq!(admission.stats().limit, 10);
    // The ledger's own signal still goes below it.
    now_ms += WINDOW_MS;
    complete_one(&mut admission, &mut permits, SLOW_US, Some(0), now_ms);
    assert_eq!(admission.stats().limit, 9);
    // Without a measured slot time (a read, or a caller that does not time it) only the ledger
    // counts.
    now_ms += WINDOW_MS;
    complete_one(&mut admission, &mut permits, FAST_US, None, now_ms);
    assert_eq!(admission.stats().limit, 9);
}

#[test]
fn a_slot_time_target_of_zero_ignores_the_slot_time() {
    let mut admission = adaptive(100, 1, 100);
    let mut permits = Vec::new();
    fill(&mut admission, &mut permits, 0);
    let mut now_ms = 1_000;
    for _ in 0..10 {
        admission.complete_timed(permits.pop().expect("busy"), FAST_US, Some(u64::MAX), false, now_ms);
        now_ms += WINDOW_MS;
    }
    assert_eq!(admission.stats().limit, 100);
}

#[test]
fn a_long_slot_time_on_a_mostly_idle_gateway_does_not_shrink_the_limit() {
    const SLOT_TIME_TARGET_US: u64 = 20_000;
    let mut admission = adaptive_with_slot_time_target(10, 1, 100, SLOT_TIME_TARGET_US);
    let mut permits = Vec::new();
    let mut now_ms = grow_limit_to(&mut admission, &mut permits, 40, None);
    for permit in permits.drain(..) {
        admission.complete_timed(permit, FAST_US, None, false, now_ms);
    }
    let grown = admission.stats().limit;
    // One slow request at a time (an operator's bulk write), far below the limit.
    for _ in 0..20 {
        now_ms += 100;
        let permit = admit_permit(&mut admission, Class::Claim, now_ms);
        admission.complete_timed(permit, FAST_US, Some(10 * SLOT_TIME_TARGET_US), false, now_ms + 50);
    }
    assert_eq!(admission.stats().limit, grown);
}
