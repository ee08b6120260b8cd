//! Configs and helpers shared by the tests.

use lantern_admission::{
    Admission, AdmissionConfig, BucketConfig, Class, Decision, LimiterConfig, Permit, Ticket, TicketState,
};

pub const UNLIMITED: BucketConfig = BucketConfig { burst: 1, per_second: 0 };
pub const TARGET_LATENCY_US: u64 = 50_000;
pub const IDLE_TTL_MS: u64 = 5_000;
pub const ADMITTED_TTL_MS: u64 = 2_000;
pub const RESERVATION_GRACE_MS: u64 = 500;

/// A fixed limit (min = max = initial), default shares, 100 waiting tickets per class, no rate
/// limits: the limiter and the buckets stay out of the way.
pub fn fixed_limit(limit: u32) -> AdmissionConfig {
    AdmissionConfig {
        limiter: LimiterConfig {
            initial_limit: limit,
            min_limit: limit,
            max_limit: limit,
            target_latency_us: TARGET_LATENCY_US,
            backoff_permille: 900,
            slot_time_target_us: 0,
        },
        class_share_permille: [1000, 950, 850, 700, 500],
        waiting_room_capacity: [100; 5],
        ticket_idle_ttl_ms: IDLE_TTL_MS,
        admitted_ttl_ms: ADMITTED_TTL_MS,
        reservation_grace_ms: RESERVATION_GRACE_MS,
        shopper_bucket: UNLIMITED,
        ip_bucket: UNLIMITED,
        bucket_keys_max: 1000,
    }
}

pub fn admit_permit(admission: &mut Admission, class: Class, now_ms: u64) -> Permit {
    match admission.admit(class, now_ms) {
        Decision::Admit(permit) => permit,
        other => panic!("expected {class} to be admitted at {now_ms}, got {other:?}"),
    }
}

pub fn admit_ticket(admission: &mut Admission, class: Class, now_ms: u64) -> (Ticket, u64) {
    match admission.admit(class, now_ms) {
        Decision::Wait { ticket, position, .. } => (ticket, position),
        other => panic!("expected {class} to wait at {now_ms}, got {other:?}"),
    }
}

pub fn position(admission: &mut Admission, ticket: Ticket, now_ms: u64) -> u64 {
    match admission.poll(ticket, now_ms) {
        TicketState::Waiting { position, .. } => position,
        other => panic!("expected {ticket:?} to wait at {now_ms}, got {other:?}"),
    }
}

pub fn busy(admission: &Admission) -> u32 {
    let stats = admission.stats();
    stats.in_flight + stats.reserved
}
