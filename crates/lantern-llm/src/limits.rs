//! The two stateful bounds on calling the model, as plain data with time passed in (so they are
//! tested without sleeping): the circuit breaker and the tokens-per-minute budget.

use std::time::{Duration, Instant};

/// The breaker's state, as shown in [`LlmStats`](crate::LlmStats).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through; this many have failed in a row.
    Closed {
        /// Consecutive failures so far.
        consecutive_failures: u32,
    },
    /// Calls are refused until the open period ends.
    Open {
        /// Time until a probe is let through, in milliseconds.
        remaining_ms: u64,
    },
    /// The open period ended: one probe call decides whether to close or reopen.
    HalfOpen {
        /// Whether the probe is in flight now (then every other call is refused).
        probe_in_flight: bool,
    },
}

#[derive(Debug, Clone, Copy)]
enum State {
    Closed { consecutive_failures: u32 },
    Open { until: Instant },
    HalfOpen { probe_in_flight: bool },
}

/// What [`Breaker::admit`] allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// An ordinary call while closed.
    Normal,
    /// The one probe of the half-open state: its outcome closes or reopens the breaker.
    Probe,
}

/// Closed → (threshold consecutive failures) → open for `open_for` → half-open: one probe →
/// success closes, failure reopens. Outcomes of calls admitted before the breaker opened are
/// counted but cannot close it: only a probe can.
#[derive(Debug)]
pub(crate) struct Breaker {
    state: State,
    threshold: u32,
    open_for: Duration,
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl Breaker {
    pub(crate) fn new(threshold: u32, open_for: Duration) -> Self {
        Breaker { state: State::Closed { consecutive_failures: 0 }, threshold, open_for }
    }

    /// Whether a call may go ahead now; `Err` carries the milliseconds until a probe may.
    pub(crate) fn admit(&mut self, now: Instant) -> Result<Admission, u64> {
        match self.state {
            State::Closed { .. } => Ok(Admission::Normal),
            State::Open { until } if now < until => Err(millis(until.saturating_duration_since(now))),
            State::Open { .. } | State::HalfOpen { probe_in_flight: false } => {
                self.state = State::HalfOpen { probe_in_flight: true };
                Ok(Admission::Probe)
            }
            State::HalfOpen { probe_in_flight: true } => Err(0),
        }
    }

    pub(crate) fn on_success(&mut self, admission: Admission) {
        match (self.state, admission) {
            (State::Closed { .. }, _) | (State::HalfOpen { .. }, Admission::Probe) => {
                self.state = State::Closed { consecutive_failures: 0 };
            }
            _ => {}
        }
    }

    pub(crate) fn on_failure(&mut self, admission: Admission, now: Instant) {
        match (self.state, admission) {
            (State::Closed { consecutive_failures }, _) => {
                let failures = consecutive_failures.saturating_add(1);
                self.state = if failures >= self.threshold {
                    State::Open { until: now + self.open_for }
                } else {
                    State::Closed { consecutive_failures: failures }
                };
            }
            (State::HalfOpen { .. }, Admission::Probe) => {
                self.state = State::Open { until: now + self.open_for }
            }
            _ => {}
        }
    }

    /// A probe ended without an outcome (its caller gave up on it, or a local bound refused it
    /// after admission): the next call may probe instead, so the breaker cannot stick half-open.
    pub(crate) fn abandon(&mut self, admission: Admission) {
        if admission == Admission::Probe && matches!(self.state, State::HalfOpen { probe_in_flight: true }) {
            self.state = State::HalfOpen { probe_in_flight: false };
        }
    }

    pub(crate) fn state(&self, now: Instant) -> BreakerState {
        match self.state {
            State::Closed { consecutive_failures } => BreakerState::Closed { consecutive_failures },
            State::Open { until } if now < until => {
                BreakerState::Open { remaining_ms: millis(until.saturating_duration_since(now)) }
            }
            State::Open { .. } => BreakerState::HalfOpen { probe_in_flight: false },
            State::HalfOpen { probe_in_flight } => BreakerState::HalfOpen { probe_in_flight },
        }
    }
}

/// Milliseconds in a minute: the budget refills `tokens_per_minute` over this many.
const MS_PER_MINUTE: i128 = 60_000;

/// A token bucket holding up to `tokens_per_minute` tokens, refilled continuously. Amounts are
/// kept in token-milliseconds (a token is [`MS_PER_MINUTE`] units) so that refilling by
/// `tokens_per_minute` units per millisecond is exact integer arithmetic. The level may go below
/// zero when a call used more than was reserved for it; later calls then wait for the refill.
#[derive(Debug)]
pub(crate) struct TokenBudget {
    tokens_per_minute: u64,
    level_units: i128,
    refilled_at: Instant,
}

impl TokenBudget {
    pub(crate) fn new(tokens_per_minute: u64, now: Instant) -> Self {
        TokenBudget {
            tokens_per_minute,
            level_units: i128::from(tokens_per_minute) * MS_PER_MINUTE,
            refilled_at: now,
        }
    }

    fn capacity_units(&self) -> i128 {
        i128::from(self.tokens_per_minute) * MS_PER_MINUTE
    }

    fn refill(&mut self, now: Instant) {
        let elapsed_ms = now.saturating_duration_since(self.refilled_at).as_millis();
        if elapsed_ms == 0 {
            return;
        }
        let elapsed_ms = i128::try_from(elapsed_ms).unwrap_or(i128::MAX / 2);
        let added = elapsed_ms.saturating_mul(i128::from(self.tokens_per_minute));
        self.level_units = self.level_units.saturating_add(added).min(self.capacity_units());
        self.refilled_at += Duration::from_millis(u64::try_from(elapsed_ms).unwrap_or(u64::MAX));
    }

    /// Whole tokens available now (0 when in debt).
    pub(crate) fn available(&mut self, now: Instant) -> u64 {
        self.refill(now);
        u64::try_from(self.level_units / MS_PER_MINUTE).unwrap_or(0)
    }

    /// Takes `tokens` if the budget holds them; otherwise `Err` with what it holds.
    pub(crate) fn reserve(&mut self, tokens: u64, now: Instant) -> Result<(), u64> {
        self.refill(now);
        let needed = i128::from(tokens) * MS_PER_MINUTE;
        if self.level_units < needed {
            return Err(u64::try_from(self.level_units / MS_PER_MINUTE).unwrap_or(0));
        }
        self.level_units -= needed;
        Ok(())
    }

    /// Replaces a reservation by what the call actually used: gives back the difference, or
    /// takes the excess (possibly into debt).
    pub(crate) fn settle(&mut self, reserved: u64, used: u64) {
        let difference = (i128::from(reserved) - i128::from(used)) * MS_PER_MINUTE;
        self.level_units = self.level_units.saturating_add(difference).min(self.capacity_units());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn the_breaker_opens_after_the_threshold_and_probes_once() {
        let start = Instant::now();
        let mut breaker = Breaker::new(3, 100 * MS);
        for _ in 0..2 {
            let admission = breaker.admit(start).unwrap();
            breaker.on_failure(admission, start);
        }
        // A success resets the count.
        let admission = breaker.admit(start).unwrap();
        breaker.on_success(admission);
        assert_eq!(breaker.state(start), BreakerState::Closed { consecutive_failures: 0 });
        for _ in 0..3 {
            let admission = breaker.admit(start).unwrap();
            breaker.on_failure(admission, start);
        }
        assert_eq!(breaker.admit(start + 40 * MS), Err(60));
        assert_eq!(breaker.state(start + 40 * MS), BreakerState::Open { remaining_ms: 60 });
        let later = start + 100 * MS;
        assert_eq!(breaker.admit(later), Ok(Admission::Probe));
        assert_eq!(breaker.admit(later), Err(0), "only one probe at a time");
        breaker.on_failure(Admission::Probe, later);
        assert_eq!(breaker.admit(later + 99 * MS), Err(1), "a failed probe reopens");
        let again = later + 100 * MS;
        assert_eq!(breaker.admit(again), Ok(Admission::Probe));
        breaker.on_success(Admission::Probe);
        assert_eq!(breaker.admit(again), Ok(Admission::Normal));
    }

    #[test]
    fn an_abandoned_probe_lets_the_next_call_probe() {
        let start = Instant::now();
        let mut breaker = Breaker::new(1, MS);
        let admission = breaker.admit(start).unwrap();
        breaker.on_failure(admission, start);
        assert_eq!(breaker.admit(start + MS), Ok(Admission::Probe));
        breaker.abandon(Admission::Probe);
        assert_eq!(breaker.admit(start + MS), Ok(Admission::Probe));
    }

    #[test]
    fn late_outcomes_of_ordinary_calls_do_not_close_an_open_breaker() {
        let start = Instant::now();
        let mut breaker = Breaker::new(1, 100 * MS);
        let early = breaker.admit(start).unwrap();
        let admission = breaker.admit(start).unwrap();
        breaker.on_failure(admission, start);
        breaker.on_success(early);
        assert!(matches!(breaker.state(start), BreakerState::Open { .. }));
    }

    #[test]
    fn the_budget_refills_per_millisecond_and_settles_usage() {
        let start = Instant::now();
        let mut budget = TokenBudget::new(60_000, start); // 1 token per ms
        assert_eq!(budget.reserve(50_000, start), Ok(()));
        assert_eq!(budget.reserve(20_000, start), Err(10_000));
        assert_eq!(budget.available(start + 5_000 * MS), 15_000);
        // The call used only 1,000 of its 50,000: 49,000 come back.
        budget.settle(50_000, 1_000);
        assert_eq!(budget.available(start + 5_000 * MS), 60_000, "capped at a minute's worth");
        // A call that used more than reserved leaves a debt.
        assert_eq!(budget.reserve(60_000, start + 5_000 * MS), Ok(()));
        budget.settle(60_000, 70_000);
        assert_eq!(budget.available(start + 5_000 * MS), 0);
        assert_eq!(budget.available(start + 15_000 * MS), 0);
        assert_eq!(budget.available(start + 16_000 * MS), 1_000);
    }
}
