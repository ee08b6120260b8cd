//! The drain rate: slots granted per second (direct admissions plus promotions) while someone
//! waits, smoothed, for honest ETAs.
//!
//! Only windows with a waiting ticket are measured: when nobody waits, grants follow the arrival
//! rate, not the capacity, and would make the next queue's ETAs far too long. Between queues the
//! last measurement stands.

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
    /// Smoothed grants per 1000 s (milli-grants per second), once measured.
    rate_milli_per_s: Option<u64>,
}

impl DrainMeter {
    pub(crate) fn new(now_ms: u64) -> DrainMeter {
        DrainMeter {
            window_started_ms: now_ms,
            grants_in_window: 0,
            waited_in_window: false,
            rate_milli_per_s: None,
        }
    }

    pub(crate) fn rate_milli_per_s(&self) -> Option<u64> {
        self.rate_milli_per_s
    }

    pub(crate) fn on_grant(&mut self) {
        self.grants_in_window = self.grants_in_window.saturating_add(1);
    }

    /// Called before any work at `now_ms`; `waiting` says whether a ticket waits now.
    pub(crate) fn tick(&mut self, now_ms: u64, waiting: bool) {
        if waiting && !self.waited_in_window {
            // A queue forms: measure from here, dropping the unsaturated grants before it.
            self.restart(now_ms, true);
            return;
        }
        let elapsed_ms = now_ms.saturating_sub(self.window_started_ms);
        if elapsed_ms < DRAIN_WINDOW_MS {
            return;
        }
        if self.waited_in_window {
            let sample_milli = self.grants_in_window.saturating_mul(1_000_000) / elapsed_ms;
            let smoothed = match self.rate_milli_per_s {
                None => sample_milli,
                Some(rate) if sample_milli >= rate => rate + ((sample_milli - rate) >> DRAIN_SMOOTHING_SHIFT),
                Some(rate) => rate - ((rate - sample_milli) >> DRAIN_SMOOTHING_SHIFT),
            };
            self.rate_milli_per_s = Some(smoothed);
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

    #[test]
    fn measures_only_while_someone_waits_and_smooths() {
        let mut meter = DrainMeter::new(0);
        for _ in 0..500 {
            meter.on_grant();
        }
        meter.tick(1000, false);
        assert_eq!(meter.rate_milli_per_s(), None, "no queue, no measurement");
        meter.tick(1500, true);
        for _ in 0..100 {
            meter.on_grant();
        }
        meter.tick(2500, true);
        assert_eq!(meter.rate_milli_per_s(), Some(100_000));
        for _ in 0..500 {
            meter.on_grant();
        }
        meter.tick(3500, true);
        assert_eq!(meter.rate_milli_per_s(), Some(200_000), "a quarter of the way from 100/s to 500/s");
    }
}
