//! The adaptive concurrency limit: additive increase, multiplicative decrease (AIMD) on the
//! latency of completed requests, as TCP congestion control does on packet loss.

use crate::config::LimiterConfig;

#[derive(Debug)]
pub(crate) struct Limiter {
    config: LimiterConfig,
    limit: u32,
    /// Fast completions since the limit last changed: the limit grows by one after `limit` of
    /// them, i.e. by about one per round trip of the whole window, kept in integers.
    increase_credit: u32,
    /// When the limit last backed off; a burst of slow completions from one overload episode
    /// backs off once per `target_latency_us`, not once per completion.
    backed_off_at_ms: Option<u64>,
}

impl Limiter {
    pub(crate) fn new(config: LimiterConfig) -> Limiter {
        assert!(config.min_limit >= 1);
        assert!(config.min_limit <= config.max_limit);
        assert!((config.min_limit..=config.max_limit).contains(&config.initial_limit));
        assert!(config.backoff_permille < 1000);
        Limiter { limit: config.initial_limit, config, increase_credit: 0, backed_off_at_ms: None }
    }

    pub(crate) fn limit(&self) -> u32 {
        self.limit
    }

    pub(crate) fn target_latency_us(&self) -> u64 {
        self.config.target_latency_us
    }

    /// One request finished. `busy_before` is in-flight plus reserved slots before it finished;
    /// `slot_time_us`, when measured, is how long the request kept its slot.
    pub(crate) fn on_complete(
        &mut self,
        latency_us: u64,
        slot_time_us: Option<u64>,
        overloaded: bool,
        busy_before: u32,
        now_ms: u64,
    ) {
        // A long slot time says the limit is too high only while the slots are mostly in use:
        // one slow request on a quiet gateway (an operator's bulk write) is slow by itself, and
        // shrinking the limit for it would leave the next surge a limit at its minimum.
        // Nor does it take the limit below `initial_limit`: when the cores are busy with work
        // the limit does not govern (requests turned away, tickets polled, promotions beyond the
        // limit for holders on their way back), slot times stay long however small the limit, and
        // following them would starve the ledger (a 60 s overload run fell to a tenth of capacity).
        let slot_kept_too_long = self.config.slot_time_target_us != 0
            && self.limit > self.config.initial_limit
            && u64::from(busy_before) * 2 >= u64::from(self.limit)
            && slot_time_us.is_some_and(|slot_time_us| slot_time_us > self.config.slot_time_target_us);
        if overloaded || latency_us > self.config.target_latency_us {
            self.back_off(now_ms, self.config.min_limit);
        } else if slot_kept_too_long {
            self.back_off(now_ms, self.config.initial_limit);
        } else {
            self.increase(busy_before);
        }
        debug_assert!((self.config.min_limit..=self.config.max_limit).contains(&self.limit));
    }

    /// Multiplicative decrease, to no less than `floor`.
    fn back_off(&mut self, now_ms: u64, floor: u32) {
        let window_ms = self.config.target_latency_us.div_ceil(1000).max(1);
        let window_open = match self.backed_off_at_ms {
            None => true,
            Some(backed_off_at_ms) => now_ms.saturating_sub(backed_off_at_ms) >= window_ms,
        };
        if !window_open {
            return;
        }
        let shrunk = u64::from(self.limit) * u64::from(self.config.backoff_permille) / 1000;
        let shrunk = u32::try_from(shrunk).unwrap_or(self.config.max_limit);
        self.limit = shrunk.clamp(floor.max(self.config.min_limit), self.config.max_limit);
        self.increase_credit = 0;
        self.backed_off_at_ms = Some(now_ms);
    }

    fn increase(&mut self, busy_before: u32) {
        // Grow only when at least half the limit was in use: a quiet gateway proves nothing about
        // a bigger limit, and a limit that drifted to max_limit while idle would let the first
        // second of a surge in all at once (TCP's congestion window validation, RFC 7661).
        if u64::from(busy_before) * 2 < u64::from(self.limit) {
            return;
        }
        self.increase_credit += 1;
        if self.increase_credit >= self.limit {
            self.increase_credit = 0;
            self.limit = self.limit.saturating_add(1).min(self.config.max_limit);
        }
    }
}
