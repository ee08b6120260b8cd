//! Admission configuration, its limits and its validation.
//!
//! The configuration comes from an operator's TOML file, so a bad value is an operating error:
//! [`AdmissionConfig::validate`] lists every problem, each naming its field.

use crate::class::{CLASS_COUNT, Class};

/// Largest concurrency limit (`limiter.max_limit`).
pub const LIMIT_MAX: u32 = 1_000_000;
/// Fastest and slowest latency target: below 100 µs nothing is measurable, above a minute the
/// limiter would never react.
pub const TARGET_LATENCY_US_MIN: u64 = 100;
pub const TARGET_LATENCY_US_MAX: u64 = 60_000_000;
/// Backoff range, per mille: at least to 10 %, and it must shrink the limit.
pub const BACKOFF_PERMILLE_MIN: u32 = 100;
pub const BACKOFF_PERMILLE_MAX: u32 = 999;
/// Most waiting tickets one class may hold. A waiting ticket costs about 60 bytes here (entry plus
/// index), so the whole room at [`WAITING_TICKETS_TOTAL_MAX`] is about 120 MiB.
pub const WAITING_ROOM_CAPACITY_MAX: u32 = 1_000_000;
/// Most waiting tickets over all classes together.
pub const WAITING_TICKETS_TOTAL_MAX: u64 = 2_000_000;
/// Shortest and longest ticket lifetimes: shorter than a second would drop shoppers between two
/// polls, longer than an hour keeps departed shoppers in line.
pub const TICKET_TTL_MS_MIN: u64 = 1_000;
pub const TICKET_TTL_MS_MAX: u64 = 3_600_000;
/// Largest bucket burst and refill rate.
pub const BUCKET_BURST_MAX: u32 = 1_000_000;
pub const BUCKET_PER_SECOND_MAX: u32 = 1_000_000;
/// Most keys one token-bucket table may track; a key costs about 100 bytes (slot plus hash index).
pub const BUCKET_KEYS_MAX: usize = 10_000_000;

/// A token bucket: up to `burst` requests at once, refilled at `per_second`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BucketConfig {
    pub burst: u32,
    /// Tokens added per second; 0 = unlimited (the bucket is not tracked at all).
    pub per_second: u32,
}

/// The adaptive concurrency limit (AIMD on measured latency).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimiterConfig {
    pub initial_limit: u32,
    pub min_limit: u32,
    pub max_limit: u32,
    /// Latency above which the limit backs off (multiplicative decrease), e.g. 50 ms. It is also
    /// the backoff window: at most one decrease per `target_latency_us`.
    pub target_latency_us: u64,
    /// Multiplicative decrease in per-mille, e.g. 900 = to 90 %.
    pub backoff_permille: u32,
    /// How long an admitted request may keep its slot, its slot time (grant to completion, time
    /// waiting for a busy core included), before the limit backs off; 0 = only the ledger's
    /// latency counts.
    /// The ledger's latency stays low while the gateway's own cores are the bottleneck, and
    /// without this the limit grows until admitted requests queue for the cores.
    pub slot_time_target_us: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdmissionConfig {
    pub limiter: LimiterConfig,
    /// Share of the concurrency limit each class may fill, per-mille, indexed by
    /// [`Class::index`]: e.g. `[1000, 950, 850, 700, 500]`: chat is admitted only while fewer
    /// than half the slots are busy, so it is shed first and complete_checkout last. Must not
    /// increase from a class to a lower one.
    pub class_share_permille: [u32; CLASS_COUNT],
    /// Waiting tickets each class may hold (0 = this class never waits, it is shed with a reason).
    pub waiting_room_capacity: [u32; CLASS_COUNT],
    /// A waiting ticket not polled for this long is dropped (the shopper left).
    pub ticket_idle_ttl_ms: u64,
    /// An admitted ticket keeps its reserved slot this long for the shopper to come back.
    pub admitted_ttl_ms: u64,
    /// An admitted ticket's reservation keeps others out only this long (at most
    /// `admitted_ttl_ms`); then it goes stale: still good for its holder, no longer counted
    /// against the limit.
    pub reservation_grace_ms: u64,
    pub shopper_bucket: BucketConfig,
    pub ip_bucket: BucketConfig,
    /// Most shoppers / IPs tracked by the token-bucket tables (least recently seen dropped beyond
    /// it; a dropped key starts full again).
    pub bucket_keys_max: usize,
}

/// One thing wrong with a config, naming the field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigProblem {
    #[error("{field} must be {min}..={max}, got {got}")]
    OutOfRange { field: String, min: u64, max: u64, got: u64 },
    #[error("{field} must be {relation} {other} ({other_value}), got {got}")]
    Relation { field: String, relation: &'static str, other: String, other_value: u64, got: u64 },
}

impl ConfigProblem {
    /// The field at fault, e.g. `limiter.min_limit` or `waiting_room_capacity[chat]`.
    pub fn field(&self) -> &str {
        match self {
            ConfigProblem::OutOfRange { field, .. } | ConfigProblem::Relation { field, .. } => field,
        }
    }
}

/// Everything wrong with a config, in field order; never empty.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid admission config: {}", list_problems(.problems))]
pub struct ConfigError {
    pub problems: Vec<ConfigProblem>,
}

fn list_problems(problems: &[ConfigProblem]) -> String {
    let texts: Vec<String> = problems.iter().map(ToString::to_string).collect();
    texts.join("; ")
}

impl AdmissionConfig {
    /// Production defaults for the gateway, sized for the surge (50,000 waiters):
    /// - limit 128 to start, 16..=4096, backing off to 90 % when the ledger takes over 50 ms;
    ///   128 slots keep the ledger's batches full (it commits in about 2 ms), and they are the
    ///   floor of the slot-time signal below;
    /// - shares `[1000, 950, 850, 700, 500]`: chat only below half the limit, browse below 70 %;
    /// - waiting rooms of 5,000 / 10,000 / 20,000 / 10,000 / 5,000 tickets (50,000 in all);
    /// - a waiting ticket lives 10 s past its last poll (pages poll every few hundred ms, so
    ///   this forgives a stalled phone), an admitted one holds its slot 2 s;
    /// - an admitted request keeping its slot over 25 ms while the slots are mostly busy backs
    ///   the limit off too, but not below the starting 128;
    /// - a shopper may burst 20 requests, then 5 per second; an IP 200, then 50 per second
    ///   (carrier NAT puts many shoppers behind one address);
    /// - 200,000 keys per bucket table (about 20 MiB each). A key idle for burst/per_second
    ///   seconds (4 s) is full again anyway, so dropping the least recently seen costs nothing
    ///   unless 200,000 other keys arrive within those seconds.
    pub fn default_for_gateway() -> AdmissionConfig {
        AdmissionConfig {
            limiter: LimiterConfig {
                initial_limit: 128,
                min_limit: 16,
                max_limit: 4096,
                target_latency_us: 50_000,
                backoff_permille: 900,
                slot_time_target_us: 25_000,
            },
            class_share_permille: [1000, 950, 850, 700, 500],
            waiting_room_capacity: [5_000, 10_000, 20_000, 10_000, 5_000],
            ticket_idle_ttl_ms: 10_000,
            // Short: an admitted shopper is woken at once and is back within a round trip, and
            // a slot held for one who walked away is capacity lost.
            admitted_ttl_ms: 2_000,
            // A woken long poll or a parked command is back within milliseconds; a phone within
            // a few hundred.
            reservation_grace_ms: 500,
            shopper_bucket: BucketConfig { burst: 20, per_second: 5 },
            ip_bucket: BucketConfig { burst: 200, per_second: 50 },
            bucket_keys_max: 200_000,
        }
    }

    /// Checks every field and every relation between fields; the error lists all problems.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        self.validate_limiter(&mut problems);
        for class in Class::ALL {
            let class_idx = class.index();
            let share = self.class_share_permille[class_idx];
            check_range(&mut problems, format!("class_share_permille[{class}]"), share.into(), 1, 1000);
            if let Some(higher) = class_idx.checked_sub(1).map(|higher_idx| Class::ALL[higher_idx]) {
                let higher_share = self.class_share_permille[higher.index()];
                if share > higher_share {
                    problems.push(ConfigProblem::Relation {
                        field: format!("class_share_permille[{class}]"),
                        relation: "<=",
                        other: format!("class_share_permille[{higher}]"),
                        other_value: higher_share.into(),
                        got: share.into(),
                    });
                }
            }
        }
        for class in Class::ALL {
            let capacity = self.waiting_room_capacity[class.index()];
            let field = format!("waiting_room_capacity[{class}]");
            check_range(&mut problems, field, capacity.into(), 0, WAITING_ROOM_CAPACITY_MAX.into());
        }
        let waiting_total: u64 = self.waiting_room_capacity.iter().map(|&capacity| u64::from(capacity)).sum();
        let field = "waiting_room_capacity (sum over classes)".to_string();
        check_range(&mut problems, field, waiting_total, 0, WAITING_TICKETS_TOTAL_MAX);
        let (ttl_min, ttl_max) = (TICKET_TTL_MS_MIN, TICKET_TTL_MS_MAX);
        check_range(&mut problems, "ticket_idle_ttl_ms".into(), self.ticket_idle_ttl_ms, ttl_min, ttl_max);
        check_range(&mut problems, "admitted_ttl_ms".into(), self.admitted_ttl_ms, ttl_min, ttl_max);
        let grace_max = self.admitted_ttl_ms.clamp(ttl_min, ttl_max);
        check_range(&mut problems, "reservation_grace_ms".into(), self.reservation_grace_ms, 1, grace_max);
        validate_bucket(&mut problems, "shopper_bucket", self.shopper_bucket);
        validate_bucket(&mut problems, "ip_bucket", self.ip_bucket);
        let keys_max = u64::try_from(self.bucket_keys_max).unwrap_or(u64::MAX);
        check_range(&mut problems, "bucket_keys_max".into(), keys_max, 1, BUCKET_KEYS_MAX as u64);
        if problems.is_empty() { Ok(()) } else { Err(ConfigError { problems }) }
    }

    fn validate_limiter(&self, problems: &mut Vec<ConfigProblem>) {
        let limiter = &self.limiter;
        let limit_max = u64::from(LIMIT_MAX);
        check_range(problems, "limiter.min_limit".into(), limiter.min_limit.into(), 1, limit_max);
        check_range(problems, "limiter.max_limit".into(), limiter.max_limit.into(), 1, limit_max);
        if limiter.min_limit > limiter.max_limit {
            problems.push(ConfigProblem::Relation {
                field: "limiter.min_limit".into(),
                relation: "<=",
                other: "limiter.max_limit".into(),
                other_value: limiter.max_limit.into(),
                got: limiter.min_limit.into(),
            });
        }
        if !(limiter.min_limit..=limiter.max_limit).contains(&limiter.initial_limit) {
            problems.push(ConfigProblem::OutOfRange {
                field: "limiter.initial_limit (limiter.min_limit..=limiter.max_limit)".into(),
                min: limiter.min_limit.into(),
                max: limiter.max_limit.into(),
                got: limiter.initial_limit.into(),
            });
        }
        let (latency_min, latency_max) = (TARGET_LATENCY_US_MIN, TARGET_LATENCY_US_MAX);
        let latency = limiter.target_latency_us;
        check_range(problems, "limiter.target_latency_us".into(), latency, latency_min, latency_max);
        if limiter.slot_time_target_us != 0 {
            let slot_time = limiter.slot_time_target_us;
            check_range(
                problems,
                "limiter.slot_time_target_us (or 0)".into(),
                slot_time,
                latency_min,
                latency_max,
            );
        }
        let (backoff_min, backoff_max) = (BACKOFF_PERMILLE_MIN.into(), BACKOFF_PERMILLE_MAX.into());
        let backoff = limiter.backoff_permille.into();
        check_range(problems, "limiter.backoff_permille".into(), backoff, backoff_min, backoff_max);
    }
}

fn validate_bucket(problems: &mut Vec<ConfigProblem>, name: &str, bucket: BucketConfig) {
    let burst_max = BUCKET_BURST_MAX.into();
    check_range(problems, format!("{name}.burst"), bucket.burst.into(), 1, burst_max);
    let per_second_max = BUCKET_PER_SECOND_MAX.into();
    check_range(problems, format!("{name}.per_second"), bucket.per_second.into(), 0, per_second_max);
}

fn check_range(problems: &mut Vec<ConfigProblem>, field: String, got: u64, min: u64, max: u64) {
    debug_assert!(min <= max);
    if !(min..=max).contains(&got) {
        problems.push(ConfigProblem::OutOfRange { field, min, max, got });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(AdmissionConfig::default_for_gateway().validate(), Ok(()));
        let total: u32 = AdmissionConfig::default_for_gateway().waiting_room_capacity.iter().sum();
        assert_eq!(total, 50_000);
    }
}
