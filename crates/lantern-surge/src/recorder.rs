//! What a run saw, minute by simulated minute: tries offered and how each was answered,
//! latency and waiting-room percentiles (HdrHistogram), and the gauges read at each minute's
//! end (budget given out, kitchen backlog, wall-clock time).

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency or wait a histogram records (10 minutes, in microseconds); longer ones are
/// recorded as this.
pub const LATENCY_US_MAX: u64 = 600_000_000;

/// How one try was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// The order was placed (durable, acknowledged).
    Admitted,
    /// Given a waiting-room ticket with a position and an ETA.
    Queued,
    /// Turned away by admission control or overload, with a reason and Retry-After.
    Shed,
    /// The shop was busy (its rate or its kitchen), with an honest ETA.
    Busy,
    /// The campaign's budget is gone.
    BudgetExhausted,
    /// No proper answer: an error, a refusal without a reason, a timeout.
    Failed,
    /// A chat conversation answered every message but placed no order (say its quote was
    /// overtaken by the same shopper's own order); the shopper goes on to order by the API.
    ChatUnfinished,
}

const ANSWERS: usize = 7;

impl Answer {
    fn slot(self) -> usize {
        match self {
            Answer::Admitted => 0,
            Answer::Queued => 1,
            Answer::Shed => 2,
            Answer::Busy => 3,
            Answer::BudgetExhausted => 4,
            Answer::Failed => 5,
            Answer::ChatUnfinished => 6,
        }
    }
}

/// Gauges read at the end of a simulated minute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Gauges {
    /// The campaign's money given out (claimed, held, redeemed, settled), in fen.
    pub given_out_fen: i64,
    /// Orders in kitchens (placed, not yet ready), over all outlets, and at the fullest one.
    pub backlog_total: u64,
    pub backlog_max: u64,
    /// Wall-clock milliseconds since the run started.
    pub wall_ms: u64,
}

/// One simulated minute, as recorded.
#[derive(Debug, Clone)]
pub struct Minute {
    /// Tries made in this minute: first tries and retries.
    pub offered: u64,
    pub first_tries: u64,
    pub answers: [u64; ANSWERS],
    /// Orders whose acknowledgement arrived in this minute (admitted tries are counted in the
    /// minute they were sent; goodput is counted when they finish).
    pub completed: u64,
    /// Orders placed through the chat agent.
    pub chat_orders: u64,
    /// Shoppers who stopped trying.
    pub gave_up: u64,
    /// Shoppers turned away from a busy shop who tried another, and how many of those took a
    /// nearby shop the gateway offered (the rest drew one at random).
    pub switched_shop: u64,
    pub switched_to_offered: u64,
    latency_us: Histogram<u64>,
    wait_us: Histogram<u64>,
    pub gauges: Gauges,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_US_MAX, 2)
        .unwrap_or_else(|error| panic!("histogram bounds are valid: {error}"))
}

impl Minute {
    fn new() -> Minute {
        Minute {
            offered: 0,
            first_tries: 0,
            answers: [0; ANSWERS],
            completed: 0,
            chat_orders: 0,
            gave_up: 0,
            switched_shop: 0,
            switched_to_offered: 0,
            latency_us: histogram(),
            wait_us: histogram(),
            gauges: Gauges::default(),
        }
    }

    pub fn count(&self, answer: Answer) -> u64 {
        self.answers[answer.slot()]
    }
}

/// The recorder of one run.
#[derive(Debug, Clone)]
pub struct Recorder {
    minutes: Vec<Minute>,
    latency_us: Histogram<u64>,
    wait_us: Histogram<u64>,
}

/// Percentiles of one histogram, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub count: u64,
}

// Percentiles are reported as fractional milliseconds.
#[allow(clippy::float_arithmetic)]
fn percentiles(histogram: &Histogram<u64>) -> Percentiles {
    if histogram.is_empty() {
        return Percentiles::default();
    }
    let ms = |value: u64| value as f64 / 1_000.0;
    Percentiles {
        p50_ms: ms(histogram.value_at_quantile(0.50)),
        p90_ms: ms(histogram.value_at_quantile(0.90)),
        p99_ms: ms(histogram.value_at_quantile(0.99)),
        max_ms: ms(histogram.max()),
        count: histogram.len(),
    }
}

/// One simulated minute in a report.
#[derive(Debug, Clone, Serialize)]
pub struct MinuteRow {
    pub minute: u32,
    pub offered: u64,
    pub first_tries: u64,
    pub admitted: u64,
    pub queued: u64,
    pub shed: u64,
    pub busy: u64,
    pub budget_exhausted: u64,
    pub failed: u64,
    pub chats_unfinished: u64,
    pub completed: u64,
    pub chat_orders: u64,
    pub gave_up: u64,
    pub latency: Percentiles,
    pub waiting_room: Percentiles,
    #[serde(flatten)]
    pub gauges: Gauges,
}

impl Recorder {
    pub fn new(minutes: u32) -> Recorder {
        Recorder {
            minutes: (0..minutes).map(|_| Minute::new()).collect(),
            latency_us: histogram(),
            wait_us: histogram(),
        }
    }

    fn minute_mut(&mut self, minute: u32) -> &mut Minute {
        let index = minute as usize;
        while self.minutes.len() <= index {
            self.minutes.push(Minute::new());
        }
        &mut self.minutes[index]
    }

    /// A try was made in `minute` and answered `answer` after `latency_us`.
    pub fn record(&mut self, minute: u32, first_try: bool, answer: Answer, latency_us: u64) {
        let latency_us = latency_us.clamp(1, LATENCY_US_MAX);
        let stats = self.minute_mut(minute);
        stats.offered += 1;
        stats.first_tries += u64::from(first_try);
        stats.answers[answer.slot()] += 1;
        stats.latency_us.saturating_record(latency_us);
        self.latency_us.saturating_record(latency_us);
    }

    /// A queued shopper waited `wait_us` in the waiting room before being admitted.
    pub fn record_wait(&mut self, minute: u32, wait_us: u64) {
        let wait_us = wait_us.clamp(1, LATENCY_US_MAX);
        self.minute_mut(minute).wait_us.saturating_record(wait_us);
        self.wait_us.saturating_record(wait_us);
    }

    /// An order's acknowledgement arrived in `minute`.
    pub fn record_completed(&mut self, minute: u32) {
        self.minute_mut(minute).completed += 1;
    }

    pub fn record_chat_order(&mut self, minute: u32) {
        self.minute_mut(minute).chat_orders += 1;
    }

    pub fn record_gave_up(&mut self, minute: u32) {
        self.minute_mut(minute).gave_up += 1;
    }

    /// A shopper turned away from a busy shop tries another: one the gateway offered
    /// (`to_offered`) or one drawn at random.
    pub fn record_switch(&mut self, minute: u32, to_offered: bool) {
        let stats = self.minute_mut(minute);
        stats.switched_shop += 1;
        stats.switched_to_offered += u64::from(to_offered);
    }

    pub fn set_gauges(&mut self, minute: u32, gauges: Gauges) {
        self.minute_mut(minute).gauges = gauges;
    }

    pub fn minutes(&self) -> &[Minute] {
        &self.minutes
    }

    /// Totals over the run.
    pub fn total(&self, answer: Answer) -> u64 {
        self.minutes.iter().map(|minute| minute.count(answer)).sum()
    }

    pub fn offered(&self) -> u64 {
        self.minutes.iter().map(|minute| minute.offered).sum()
    }

    pub fn first_tries(&self) -> u64 {
        self.minutes.iter().map(|minute| minute.first_tries).sum()
    }

    pub fn chat_orders(&self) -> u64 {
        self.minutes.iter().map(|minute| minute.chat_orders).sum()
    }

    pub fn gave_up(&self) -> u64 {
        self.minutes.iter().map(|minute| minute.gave_up).sum()
    }

    pub fn switched_shop(&self) -> u64 {
        self.minutes.iter().map(|minute| minute.switched_shop).sum()
    }

    pub fn switched_to_offered(&self) -> u64 {
        self.minutes.iter().map(|minute| minute.switched_to_offered).sum()
    }

    pub fn latency(&self) -> Percentiles {
        percentiles(&self.latency_us)
    }

    pub fn waiting_room(&self) -> Percentiles {
        percentiles(&self.wait_us)
    }

    /// The per-minute rows of a report.
    pub fn rows(&self) -> Vec<MinuteRow> {
        self.minutes
            .iter()
            .enumerate()
            .map(|(index, minute)| MinuteRow {
                minute: index as u32,
                offered: minute.offered,
                first_tries: minute.first_tries,
                admitted: minute.count(Answer::Admitted),
                queued: minute.count(Answer::Queued),
                shed: minute.count(Answer::Shed),
                busy: minute.count(Answer::Busy),
                budget_exhausted: minute.count(Answer::BudgetExhausted),
                failed: minute.count(Answer::Failed),
                chats_unfinished: minute.count(Answer::ChatUnfinished),
                completed: minute.completed,
                chat_orders: minute.chat_orders,
                gave_up: minute.gave_up,
                latency: percentiles(&minute.latency_us),
                waiting_room: percentiles(&minute.wait_us),
                gauges: minute.gauges,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_and_totals_add_up() {
        let mut recorder = Recorder::new(2);
        recorder.record(0, true, Answer::Admitted, 1_500);
        recorder.record(0, true, Answer::Busy, 800);
        recorder.record(1, false, Answer::Admitted, 2_000);
        recorder.record(4, false, Answer::Queued, 10);
        recorder.record_wait(4, 3_000_000);
        assert_eq!(recorder.minutes().len(), 5, "a retry past the end extends the run");
        assert_eq!(recorder.offered(), 4);
        assert_eq!(recorder.first_tries(), 2);
        assert_eq!(recorder.total(Answer::Admitted), 2);
        let rows = recorder.rows();
        assert_eq!(rows[0].admitted + rows[0].busy, 2);
        assert!(rows[0].latency.p99_ms >= 1.4 && rows[0].latency.p99_ms <= 1.6, "{:?}", rows[0].latency);
        assert!(rows[4].waiting_room.p50_ms >= 2_900.0);
        assert_eq!(recorder.waiting_room().count, 1);
    }

    #[test]
    fn a_chat_without_an_order_is_not_a_failure() {
        let mut recorder = Recorder::new(1);
        recorder.record(0, true, Answer::ChatUnfinished, 900);
        recorder.record(0, true, Answer::Failed, 900);
        recorder.record(0, true, Answer::ChatUnfinished, 900);
        let rows = recorder.rows();
        assert_eq!((rows[0].chats_unfinished, rows[0].failed), (2, 1));
        assert_eq!(recorder.total(Answer::ChatUnfinished), 2);
        assert_eq!(recorder.offered(), 3);
    }
}
