//! The drain rate: slots granted per second (direct admissions plus promotions) while someone
//! waits, smoothed, for honest ETAs.
//!
//! Only windows with a waiting ticket are measured: when nobody waits, grants follow the arrival
//! rate, not the capacity, and would make the next queue's ETAs far too long. Between queues the
//! last measurement stands.
//!
//! What an unqueued window does show is a floor: the server granted that many a second, so it can.
//! The highest is kept as the *served rate* and is where the next queue's estimate starts when it
//! is higher than the last measurement (or there is none). A slower unqueued window is no
//! evidence of a slower server, only of fewer arrivals: keeping the last one instead let a quiet
//! spell (`lantern bench http` idles while its Redis peer runs) wipe out the rate served before
//! it, and the next queue started from the guess again. Should the server really have slowed,
//! the queue's own first windows bring the estimate down. Without it, a queue forming after a
//! quiet spell started from a guess (the admission's limit over its target latency), and when the
//! guess was low the first arrivals' ETAs passed the line wait: they were answered with tickets
//! instead of held, the tickets' round trips took the cores the line needed, the first window then
//! measured that slow drain, and the gateway stayed in that state for seconds (`lantern bench
//! http`'s opening fell to a tenth of capacity in about one run in six).

/// Length of one measurement window.
pub const DRAIN_WINDOW_MS: u64 = 1000;
/// Each new window moves the smoothed rate a quarter of the way to its sample
/// (an exponential moving average with alpha = 1/4, a time constant of about 4 s).
const DRAIN_SMOOTHING_SHIFT: u32 = 2;

#[derive(Debug)]
pub(crate) struct DrainMeter {
    window_started_ms: u64,
    grants_in_window: u64,
    waited_in_window: bool,
    /// Smoothed grants per 1000 s (milli-grants per second), once measured or seeded.
    rate_milli_per_s: Option<u64>,
    /// Grants per 1000 s of the busiest whole window in which nobody waited; zero before one.
    served_milli_per_s: u64,
}

impl DrainMeter {
    pub(crate) fn new(now_ms: u64) -> DrainMeter {
        DrainMeter {
            window_started_ms: now_ms,
            grants_in_window: 0,
            waited_in_window: false,
            rate_milli_per_s: None,
            served_milli_per_s: 0,
        }
    }

    /// The drain rate: measured (or seeded by the served rate), else `unmeasured_milli_per_s` or
    /// the served rate, whichever is higher.
    pub(crate) fn rate_milli_per_s(&self, unmeasured_milli_per_s: u64) -> u64 {
        self.rate_milli_per_s.unwrap_or(unmeasured_milli_per_s.max(self.served_milli_per_s))
    }

    pub(crate) fn on_grant(&mut self) {
        self.grants_in_window = self.grants_in_window.saturating_add(1);
    }

    /// Called before any work at `now_ms`; `waiting` says whether a ticket waits now.
    pub(crate) fn tick(&mut self, now_ms: u64, waiting: bool) {
        if waiting && !self.waited_in_window {
            // A queue forms: measure from here, dropping the unsaturated grants before it, and
            // start from the served rate if the server has shown it can do better than measured.
            if self.served_milli_per_s > self.rate_milli_per_s.unwrap_or(0) {
                self.rate_milli_per_s = Some(self.served_milli_per_s);
            }
            self.restart(now_ms, true);
            return;
        }
        let elapsed_ms = now_ms.saturating_sub(self.window_started_ms);
        if elapsed_ms < DRAIN_WINDOW_MS {
            return;
        }
        let sample_milli = self.grants_in_window.saturating_mul(1_000_000) / elapsed_ms;
        if self.waited_in_window {
            let smoothed = match self.rate_milli_per_s {
                None => sample_milli,
                Some(rate) if sample_milli >= rate => rate + ((sample_milli - rate) >> DRAIN_SMOOTHING_SHIFT),
                Some(rate) => rate - ((rate - sample_milli) >> DRAIN_SMOOTHING_SHIFT),
            };
            self.rate_milli_per_s = Some(smoothed);
        } else {
            self.served_milli_per_s = self.served_milli_per_s.max(sample_milli);
        }
        self.restart(now_ms, waiting);
    }

    fn restart(&mut self, now_ms: u64, waiting: bool) {
        self.window_started_ms = now_ms;
        self.grants_in_window = 0;
        self.waited_in_window = waiting;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUESS: u64 = 7_000;

    fn grant(meter: &mut DrainMeter, n: u64) {
        for _ in 0..n {
            meter.on_grant();
        }
    }

    #[test]
    fn measures_only_while_someone_waits_and_smooths() {
        let mut meter = DrainMeter::new(0);
        assert_eq!(meter.rate_milli_per_s(GUESS), GUESS, "nothing known: the caller's guess");
        meter.tick(1500, true);
        grant(&mut meter, 100);
        meter.tick(2500, true);
        assert_eq!(meter.rate_milli_per_s(GUESS), 100_000, "the first window replaces a guess");
        grant(&mut meter, 500);
        meter.tick(3500, true);
        assert_eq!(meter.rate_milli_per_s(GUESS), 200_000, "a quarter of the way from 100/s to 500/s");
        // The queue empties; an unqueued window slower than the measured rate changes nothing.
        grant(&mut meter, 200);
        meter.tick(4500, false);
        grant(&mut meter, 50);
        meter.tick(5500, false);
        meter.tick(5600, true);
        assert_eq!(meter.rate_milli_per_s(GUESS), 200_000);
    }

    #[test]
    fn a_queue_starts_from_the_rate_served_without_one() {
        let mut meter = DrainMeter::new(0);
        grant(&mut meter, 40_000);
        meter.tick(1000, false);
        assert_eq!(meter.rate_milli_per_s(GUESS), 40_000_000, "served 40,000 a second unqueued");
        assert_eq!(meter.rate_milli_per_s(90_000_000), 90_000_000, "a higher guess still wins");
        // A queue forms with a slow opening second: the estimate falls a quarter of the way
        // towards it instead of to it, so the next arrivals are still told short waits.
        meter.tick(1200, true);
        grant(&mut meter, 4_000);
        meter.tick(2200, true);
        assert_eq!(meter.rate_milli_per_s(GUESS), 31_000_000);
        // A later queue starts from a served rate above its last measurement, not below.
        grant(&mut meter, 31_000);
        meter.tick(3200, false);
        grant(&mut meter, 45_000);
        meter.tick(4200, false);
        meter.tick(4300, true);
        assert_eq!(meter.rate_milli_per_s(GUESS), 45_000_000);
        grant(&mut meter, 45_000);
        meter.tick(5300, false);
        grant(&mut meter, 1_000);
        meter.tick(6300, false);
        meter.tick(6400, true);
        assert_eq!(meter.rate_milli_per_s(GUESS), 45_000_000, "a slower served rate is no evidence");
    }

    #[test]
    fn a_quiet_spell_does_not_wipe_out_the_rate_served_before_it() {
        let mut meter = DrainMeter::new(0);
        grant(&mut meter, 40_000);
        meter.tick(1000, false);
        // Fifteen quiet seconds, then a trickle: windows of few grants, nobody waiting.
        grant(&mut meter, 10);
        meter.tick(16_000, false);
        grant(&mut meter, 3);
        meter.tick(17_000, false);
        assert_eq!(meter.rate_milli_per_s(GUESS), 40_000_000, "still the 40,000 a second served");
        meter.tick(17_100, true);
        assert_eq!(meter.rate_milli_per_s(GUESS), 40_000_000, "the queue starts from it");
    }
}
