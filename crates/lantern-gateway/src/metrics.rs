//! Prometheus text exposition of the gateway's counters, without a metrics framework: a few
//! atomics per class and a fixed-bucket latency histogram are all `/metrics` needs.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use lantern_admission::{AdmissionStats, Class};
use lantern_core::OrderChannel;
use lantern_sequencer::SequencerCounters;

/// Upper bounds of the latency buckets, in microseconds.
const LATENCY_BUCKETS_US: [u64; 12] =
    [500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 5_000_000];

/// Response status families counted per class.
const STATUS_FAMILIES: [&str; 4] = ["2xx", "4xx", "429", "5xx"];

#[derive(Debug, Default)]
struct ClassCounters {
    by_status: [AtomicU64; 4],
    latency_buckets: [AtomicU64; LATENCY_BUCKETS_US.len()],
    latency_us_total: AtomicU64,
    latency_count: AtomicU64,
}

/// Live request counters, by admission class.
#[derive(Debug, Default)]
pub struct Metrics {
    classes: [ClassCounters; 5],
    /// Requests outside the classes (health, metrics, documents).
    pub n_other_requests: AtomicU64,
    /// Paces the log line for 503 answers.
    pub unavailable_log: LogSampler,
}

/// Lets one log line a second through and counts the rest, so an overload cannot flood the log.
#[derive(Debug, Default)]
pub struct LogSampler {
    last_second: AtomicU64,
    n_suppressed: AtomicU64,
}

impl LogSampler {
    /// `Some(events since the last line)` when a line may be written in this second (`second`
    /// counts from any fixed start), else `None` (the event is counted).
    pub fn sample(&self, second: u64) -> Option<u64> {
        let stamp = second + 1; // 0 means "never logged"
        let last = self.last_second.load(Ordering::Relaxed);
        if last != stamp
            && self.last_second.compare_exchange(last, stamp, Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            return Some(self.n_suppressed.swap(0, Ordering::Relaxed) + 1);
        }
        self.n_suppressed.fetch_add(1, Ordering::Relaxed);
        None
    }
}

impl Metrics {
    pub fn record(&self, class: Class, status: u16, latency_us: u64) {
        let counters = &self.classes[class.index()];
        let family = match status {
            200..=399 => 0,
            429 => 2,
            400..=499 => 1,
            _ => 3,
        };
        counters.by_status[family].fetch_add(1, Ordering::Relaxed);
        counters.latency_us_total.fetch_add(latency_us, Ordering::Relaxed);
        counters.latency_count.fetch_add(1, Ordering::Relaxed);
        for (bucket, bound) in LATENCY_BUCKETS_US.iter().enumerate() {
            if latency_us <= *bound {
                counters.latency_buckets[bucket].fetch_add(1, Ordering::Relaxed);
                break;
            }
        }
    }

    /// Requests per latency bucket so far, over every class (bounds: [`latency_bounds_us`]).
    pub fn latency_buckets(&self) -> Vec<u64> {
        (0..LATENCY_BUCKETS_US.len())
            .map(|bucket| {
                self.classes.iter().map(|class| class.latency_buckets[bucket].load(Ordering::Relaxed)).sum()
            })
            .collect()
    }

    /// 5xx answers so far, over every class.
    pub fn n_server_errors(&self) -> u64 {
        self.classes.iter().map(|class| class.by_status[3].load(Ordering::Relaxed)).sum()
    }

    /// The whole exposition. `budgets` is (campaign id, available fen).
    pub fn render(
        &self,
        admission: &AdmissionStats,
        ledger: &SequencerCounters,
        queue_depth: usize,
        budgets: &[(String, i64)],
        orders_by_channel: &[(OrderChannel, u64)],
    ) -> String {
        let mut out = String::with_capacity(8 * 1024);
        let mut family = |name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        family(
            "lantern_requests_total",
            "counter",
            "Requests answered, by admission class and status family.",
        );
        let _ = &mut family;
        for class in Class::ALL {
            let counters = &self.classes[class.index()];
            for (index, status) in STATUS_FAMILIES.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "lantern_requests_total{{class=\"{}\",status=\"{status}\"}} {}",
                    class.as_str(),
                    counters.by_status[index].load(Ordering::Relaxed)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP lantern_request_duration_seconds Time from arrival to answer, by class.\n# TYPE lantern_request_duration_seconds histogram"
        );
        for class in Class::ALL {
            let counters = &self.classes[class.index()];
            let mut cumulative = 0;
            for (bucket, bound) in LATENCY_BUCKETS_US.iter().enumerate() {
                cumulative += counters.latency_buckets[bucket].load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "lantern_request_duration_seconds_bucket{{class=\"{}\",le=\"{}\"}} {cumulative}",
                    class.as_str(),
                    seconds(*bound)
                );
            }
            let count = counters.latency_count.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "lantern_request_duration_seconds_bucket{{class=\"{0}\",le=\"+Inf\"}} {count}\nlantern_request_duration_seconds_sum{{class=\"{0}\"}} {1}\nlantern_request_duration_seconds_count{{class=\"{0}\"}} {count}",
                class.as_str(),
                seconds(counters.latency_us_total.load(Ordering::Relaxed))
            );
        }
        let _ = writeln!(
            out,
            "# HELP lantern_admission_total Admission decisions, by class.\n# TYPE lantern_admission_total counter"
        );
        for class in Class::ALL {
            let stats = &admission.per_class[class.index()];
            for (decision, value) in
                [("admitted", stats.admitted), ("queued", stats.queued), ("shed", stats.shed)]
            {
                let _ = writeln!(
                    out,
                    "lantern_admission_total{{class=\"{}\",decision=\"{decision}\"}} {value}",
                    class.as_str()
                );
            }
        }
        let by_class: [(&str, &str, ClassGauge); 2] = [
            ("lantern_waiting_room_tickets", "Tickets waiting now, by class.", |class| class.waiting),
            (
                "lantern_waiting_room_reserved_by_class",
                "Promoted tickets holding a slot until their holders come back, by class.",
                |class| class.reserved,
            ),
        ];
        for (name, help, value) in by_class {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            for class in Class::ALL {
                let _ = writeln!(
                    out,
                    "{name}{{class=\"{}\"}} {}",
                    class.as_str(),
                    value(&admission.per_class[class.index()])
                );
            }
        }
        let gauges: [(&str, &str, String); 17] = [
            (
                "lantern_concurrency_limit",
                "The adaptive concurrency limit on the ledger path.",
                admission.limit.to_string(),
            ),
            ("lantern_in_flight", "Admitted requests being processed.", admission.in_flight.to_string()),
            (
                "lantern_waiting_room_drain_per_second",
                "Measured rate at which waiting tickets are admitted.",
                admission.drain_per_s.to_string(),
            ),
            (
                "lantern_waiting_room_reserved",
                "Promoted tickets holding a slot until their holders come back.",
                admission.reserved.to_string(),
            ),
            (
                "lantern_waiting_room_reserved_stale",
                "Promoted tickets whose holders are not back after the grace: their slots no longer keep others out.",
                admission.stale_reserved.to_string(),
            ),
            (
                "lantern_waiting_room_promotion_lead",
                "Tickets promoted beyond the limit while their holders come back.",
                admission.promotion_lead.to_string(),
            ),
            (
                "lantern_ledger_queue_depth",
                "Commands waiting in the ledger's intake.",
                queue_depth.to_string(),
            ),
            (
                "lantern_ledger_batches_total",
                "Batches committed (one transaction and fsync each).",
                ledger.n_batches.load(Ordering::Relaxed).to_string(),
            ),
            (
                "lantern_ledger_commands_total",
                "Commands committed; divided by batches, the batch size.",
                ledger.n_commands.load(Ordering::Relaxed).to_string(),
            ),
            (
                "lantern_ledger_commit_seconds_total",
                "Time spent committing batches.",
                seconds(ledger.commit_ns_total.load(Ordering::Relaxed) / 1_000),
            ),
            (
                "lantern_ledger_pickup_lag_seconds",
                "How long answers wait for a free core before their requests run again (running mean over the latest answers; 0 after a second without any).",
                seconds(ledger.pickup_lag_now_us()),
            ),
            (
                "lantern_ledger_gathers_total",
                "Batches the committer waited to fill because answers were waiting for a core.",
                ledger.n_gathers.load(Ordering::Relaxed).to_string(),
            ),
            (
                "lantern_ledger_gather_seconds_total",
                "Time the committer spent waiting for batches to fill.",
                seconds(ledger.gather_us_total.load(Ordering::Relaxed)),
            ),
            (
                "lantern_backups_started_total",
                "Backups of the journal started since this process began (POST /v1/ops/backups).",
                ledger.n_backups_started.load(Ordering::Relaxed).to_string(),
            ),
            (
                "lantern_backups_done_total",
                "Backups finished whole since this process began.",
                ledger.n_backups_done.load(Ordering::Relaxed).to_string(),
            ),
            (
                "lantern_backups_failed_total",
                "Backups given up since this process began (see GET /v1/ops/backups for why).",
                ledger.n_backups_failed.load(Ordering::Relaxed).to_string(),
            ),
            (
                "lantern_backup_last_done_timestamp_seconds",
                "When the latest backup finished (Unix seconds): one done since this process began, else the newest backup folder on disk; 0 when there is none.",
                (ledger.last_backup_done_unix_ms.load(Ordering::Relaxed) / 1_000).to_string(),
            ),
        ];
        for (name, help, value) in gauges {
            write_one(&mut out, name, help, &value);
        }
        let _ = writeln!(
            out,
            "# HELP lantern_campaign_budget_available_fen Budget not yet given out, by campaign.\n# TYPE lantern_campaign_budget_available_fen gauge"
        );
        for (campaign, available) in budgets {
            let _ =
                writeln!(out, "lantern_campaign_budget_available_fen{{campaign=\"{campaign}\"}} {available}");
        }
        let _ = writeln!(
            out,
            "# HELP lantern_orders_placed_total Orders placed since the journal began, by channel (api, chat, acp).\n# TYPE lantern_orders_placed_total counter"
        );
        for (channel, n_orders) in orders_by_channel {
            let _ =
                writeln!(out, "lantern_orders_placed_total{{channel=\"{}\"}} {n_orders}", channel.as_str());
        }
        out
    }
}

/// The latency buckets' upper bounds, in microseconds.
pub fn latency_bounds_us() -> Vec<u64> {
    LATENCY_BUCKETS_US.to_vec()
}

/// Microseconds as decimal seconds, without floats.
/// Reads one per-class figure from the admission's statistics.
type ClassGauge = fn(&lantern_admission::ClassStats) -> u64;

fn seconds(us: u64) -> String {
    format!("{}.{:06}", us / 1_000_000, us % 1_000_000)
}

/// How this process's start went: a restart's cost, which grows with the journal (alert on it
/// before it outgrows what an outage may last).
pub fn write_start(out: &mut String, start: &crate::wire::StartBody) {
    let gauges = [
        ("lantern_starting", STARTING_HELP, "0".to_owned()),
        (
            "lantern_start_replayed_commands",
            "Journal commands this process's start replayed.",
            start.replayed_commands.to_string(),
        ),
        (
            "lantern_start_replay_seconds",
            "How long this process's start took to replay the journal.",
            seconds(start.replay_ms * 1_000),
        ),
        (
            "lantern_start_ready_seconds",
            "From the port opening (answering 503 starting) to the gateway answering for real.",
            seconds(start.ready_ms * 1_000),
        ),
    ];
    for (name, help, value) in gauges {
        write_one(out, name, help, &value);
    }
}

/// `lantern_starting`'s help, the same before the gateway serves (1) and after (0).
pub(crate) const STARTING_HELP: &str = "1 while the node starts (its journal replays), before it serves.";

/// One metric with its help and type (a counter when its name ends in `_total`).
pub(crate) fn write_one(out: &mut String, name: &str, help: &str, value: &str) {
    let kind = if name.ends_with("_total") { "counter" } else { "gauge" };
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
}
