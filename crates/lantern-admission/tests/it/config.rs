//! Config validation: every problem is reported, each naming its field.

use lantern_admission::{Admission, AdmissionConfig, BucketConfig, ConfigProblem};

/// Sets one field of a valid config to a bad value.
type BreakIt = fn(&mut AdmissionConfig);

fn problem_fields(config: &AdmissionConfig) -> Vec<String> {
    match config.validate() {
        Ok(()) => Vec::new(),
        Err(error) => error.problems.iter().map(|problem| problem.field().to_string()).collect(),
    }
}

#[test]
fn the_gateway_defaults_are_valid() {
    let config = AdmissionConfig::default_for_gateway();
    assert_eq!(config.validate(), Ok(()));
    Admission::new(config);
}

#[test]
fn a_slot_time_target_of_zero_turns_the_hold_signal_off() {
    let mut config = AdmissionConfig::default_for_gateway();
    config.limiter.slot_time_target_us = 0;
    assert_eq!(config.validate(), Ok(()));
}

#[test]
fn each_bad_field_is_named() {
    let cases: Vec<(&str, BreakIt)> = vec![
        ("limiter.min_limit", |config| config.limiter.min_limit = 0),
        ("limiter.max_limit", |config| config.limiter.max_limit = 2_000_000),
        ("limiter.target_latency_us", |config| config.limiter.target_latency_us = 0),
        ("limiter.backoff_permille", |config| config.limiter.backoff_permille = 1000),
        ("limiter.slot_time_target_us (or 0)", |config| config.limiter.slot_time_target_us = 99),
        ("class_share_permille[browse]", |config| config.class_share_permille[3] = 0),
        ("waiting_room_capacity[chat]", |config| config.waiting_room_capacity[4] = 1_000_001),
        ("ticket_idle_ttl_ms", |config| config.ticket_idle_ttl_ms = 0),
        ("admitted_ttl_ms", |config| config.admitted_ttl_ms = u64::MAX),
        ("reservation_grace_ms", |config| config.reservation_grace_ms = 0),
        ("reservation_grace_ms", |config| config.reservation_grace_ms = config.admitted_ttl_ms + 1),
        ("shopper_bucket.burst", |config| config.shopper_bucket = BucketConfig { burst: 0, per_second: 1 }),
        ("ip_bucket.per_second", |config| config.ip_bucket.per_second = 2_000_000),
        ("bucket_keys_max", |config| config.bucket_keys_max = 0),
    ];
    for (field, break_it) in cases {
        let mut config = AdmissionConfig::default_for_gateway();
        break_it(&mut config);
        let fields = problem_fields(&config);
        assert!(fields.iter().any(|named| named == field), "{field} not named in {fields:?}");
        assert!(Admission::try_new(config).is_err());
    }
}

#[test]
fn the_message_says_what_was_expected_and_what_was_found() {
    let mut config = AdmissionConfig::default_for_gateway();
    config.waiting_room_capacity[4] = 2_000_000;
    config.limiter.min_limit = 5000;
    config.class_share_permille = [1000, 950, 960, 700, 500];
    let error = config.validate().expect_err("three problems");
    let message = error.to_string();
    for expected in [
        "limiter.min_limit must be <= limiter.max_limit (4096), got 5000",
        "limiter.initial_limit (limiter.min_limit..=limiter.max_limit) must be 5000..=4096, got 128",
        "class_share_permille[claim] must be <= class_share_permille[checkout] (950), got 960",
        "waiting_room_capacity[chat] must be 0..=1000000, got 2000000",
        "waiting_room_capacity (sum over classes) must be 0..=2000000, got 2045000",
    ] {
        assert!(message.contains(expected), "{expected:?} missing from {message:?}");
    }
    assert_eq!(error.problems.len(), 5);
    assert!(matches!(error.problems[0], ConfigProblem::Relation { .. }));
}
