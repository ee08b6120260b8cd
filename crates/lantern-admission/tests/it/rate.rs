//! Token buckets per shopper and per IP.

use lantern_admission::{Admission, BucketConfig, Decision, ShedReason};

use crate::support::{UNLIMITED, fixed_limit};

const IP: u128 = 0x0000_0000_0000_0000_0000_ffff_c000_0201; // 192.0.2.1, IPv4 mapped

fn shed(reason: ShedReason, retry_after_ms: u64) -> Result<(), Decision> {
    Err(Decision::Shed { reason, retry_after_ms })
}

fn with_buckets(shopper_bucket: BucketConfig, ip_bucket: BucketConfig, bucket_keys_max: usize) -> Admission {
    let mut config = fixed_limit(10);
    config.shopper_bucket = shopper_bucket;
    config.ip_bucket = ip_bucket;
    config.bucket_keys_max = bucket_keys_max;
    Admission::new(config)
}

#[test]
fn a_shopper_bursts_then_refills_with_an_exact_retry_time() {
    let mut admission = with_buckets(BucketConfig { burst: 3, per_second: 10 }, UNLIMITED, 100);
    for _ in 0..3 {
        assert_eq!(admission.check_rate(Some(7), IP, 1_000), Ok(()));
    }
    // 10 per second: one token every 100 ms.
    assert_eq!(admission.check_rate(Some(7), IP, 1_000), shed(ShedReason::ShopperRateLimited, 100));
    assert_eq!(admission.check_rate(Some(7), IP, 1_037), shed(ShedReason::ShopperRateLimited, 63));
    assert_eq!(admission.check_rate(Some(7), IP, 1_099), shed(ShedReason::ShopperRateLimited, 1));
    assert_eq!(admission.check_rate(Some(7), IP, 1_100), Ok(()));
    assert_eq!(admission.check_rate(Some(7), IP, 1_100), shed(ShedReason::ShopperRateLimited, 100));
    // Another shopper has a bucket of its own.
    assert_eq!(admission.check_rate(Some(8), IP, 1_100), Ok(()));
    // A long pause refills to the burst, not beyond it.
    for _ in 0..3 {
        assert_eq!(admission.check_rate(Some(7), IP, 60_000), Ok(()));
    }
    assert_eq!(admission.check_rate(Some(7), IP, 60_000), shed(ShedReason::ShopperRateLimited, 100));
    // Time going backwards refills nothing.
    assert_eq!(admission.check_rate(Some(7), IP, 1_000), shed(ShedReason::ShopperRateLimited, 100));
    assert_eq!(admission.stats().shed_shopper_rate_limited, 6);
}

#[test]
fn a_refused_request_takes_no_token_from_the_other_bucket() {
    let mut admission =
        with_buckets(BucketConfig { burst: 1, per_second: 1 }, BucketConfig { burst: 2, per_second: 1 }, 100);
    assert_eq!(admission.check_rate(Some(1), IP, 0), Ok(()));
    // Shopper 1 is over its rate: the IP keeps its second token for shopper 2.
    assert_eq!(admission.check_rate(Some(1), IP, 0), shed(ShedReason::ShopperRateLimited, 1000));
    assert_eq!(admission.check_rate(Some(2), IP, 0), Ok(()));
    // The IP is now empty; shopper 3's own token is not spent on the refusal.
    assert_eq!(admission.check_rate(Some(3), IP, 0), shed(ShedReason::IpRateLimited, 1000));
    assert_eq!(admission.check_rate(None, IP, 500), shed(ShedReason::IpRateLimited, 500));
    assert_eq!(admission.check_rate(Some(3), IP, 1000), Ok(()));
    let stats = admission.stats();
    assert_eq!((stats.shed_shopper_rate_limited, stats.shed_ip_rate_limited), (1, 2));
}

#[test]
fn the_key_tables_are_bounded_and_drop_the_least_recently_seen() {
    let keys_max = 1000;
    let mut admission = with_buckets(
        BucketConfig { burst: 1, per_second: 1 },
        BucketConfig { burst: 1, per_second: 1 },
        keys_max,
    );
    for key in 0..(keys_max as u64 + 1000) {
        assert_eq!(admission.check_rate(Some(key), u128::from(key), 0), Ok(()));
        let stats = admission.stats();
        assert!(stats.shopper_keys_tracked <= keys_max as u64);
        assert!(stats.ip_keys_tracked <= keys_max as u64);
    }
    let stats = admission.stats();
    assert_eq!((stats.shopper_keys_tracked, stats.ip_keys_tracked), (keys_max as u64, keys_max as u64));
    // The newest key is still tracked (and empty); the oldest was dropped and starts full again.
    let newest = keys_max as u64 + 999;
    assert_eq!(
        admission.check_rate(Some(newest), u128::from(newest), 0),
        shed(ShedReason::ShopperRateLimited, 1000)
    );
    assert_eq!(admission.check_rate(Some(0), 0, 0), Ok(()));
}

#[test]
fn a_rate_of_zero_is_unlimited_and_tracks_nothing() {
    let mut admission = with_buckets(UNLIMITED, UNLIMITED, 10);
    for key in 0..100u64 {
        assert_eq!(admission.check_rate(Some(key % 3), IP, 0), Ok(()));
    }
    let stats = admission.stats();
    assert_eq!((stats.shopper_keys_tracked, stats.ip_keys_tracked), (0, 0));
}
