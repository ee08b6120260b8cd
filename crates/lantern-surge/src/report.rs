//! A surge's report: a summary per run (in-process, over HTTP with and without admission
//! control), the audit's checks, the per-minute series; written as Markdown, as one
//! self-contained HTML page with SVG charts, and as JSON.

// Rates and ratios are floats; money stays integer fen until it is printed as yuan.
#![allow(clippy::float_arithmetic)]

use std::fmt::Write as _;

use serde::Serialize;

use crate::profile::Profile;
use crate::recorder::{Answer, MinuteRow, Percentiles, Recorder};
use crate::svg::{Series, escape, line_chart};

/// Seconds in a simulated minute.
const MINUTE_S: f64 = 60.0;

/// One invariant as the audit checked it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditCheck {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

/// A run's headline figures.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Orders the profile sets out to place.
    pub orders_planned: u64,
    pub first_tries: u64,
    /// Tries, first and repeated.
    pub offered: u64,
    pub admitted: u64,
    pub queued: u64,
    pub shed: u64,
    pub busy: u64,
    pub budget_exhausted: u64,
    pub failed: u64,
    /// Chat conversations that answered every message without placing an order; those shoppers
    /// went on to order by the API.
    pub chats_unfinished: u64,
    pub chat_orders: u64,
    pub gave_up: u64,
    /// Shoppers turned away from a busy shop who tried another, and of those, how many took a
    /// nearby shop the gateway offered (over HTTP; in-process the engine offers none).
    pub switched_shop: u64,
    pub switched_to_nearby: u64,
    pub simulated_s: f64,
    pub wall_s: f64,
    /// Simulated time over wall-clock time: how much faster than real life the run went.
    pub compression: f64,
    pub offered_per_s: f64,
    pub admitted_per_s: f64,
    pub latency: Percentiles,
    pub waiting_room: Percentiles,
    pub budget_fen: i64,
    pub given_out_fen: i64,
    /// Orders per second the target sustained in a closed loop before the run (HTTP runs).
    pub capacity_per_s: Option<f64>,
    /// Minutes whose tries came faster than the capacity, and the orders per second completed
    /// in them (acknowledged within those minutes, whenever sent).
    pub overload_minutes: u32,
    pub overload_goodput_per_s: Option<f64>,
    pub goodput_over_capacity: Option<f64>,
    /// Cores the target and the load generator used on average over the run (HTTP runs on
    /// one machine: they share its cores, so the generator's are the gateway's loss).
    pub gateway_cores: Option<f64>,
    pub generator_cores: Option<f64>,
}

impl Summary {
    /// Figures from a recorder; `capacity_per_s` marks the minutes offered faster than it as
    /// overload.
    pub fn from_recorder(
        recorder: &Recorder,
        profile: &Profile,
        budget_fen: i64,
        wall_s: f64,
        capacity_per_s: Option<f64>,
    ) -> Summary {
        let minutes = recorder.minutes();
        let orders_planned = profile.orders;
        // The profile's span, not the recorder's: retries after its end are part of the run.
        let simulated_s = f64::from(profile.duration_minutes) * MINUTE_S;
        let wall_s = wall_s.max(1e-9);
        let mut overload_minutes = 0;
        let mut overload_admitted = 0u64;
        let mut overload_wall_ms = 0u64;
        let mut previous_wall_ms = 0u64;
        for minute in minutes {
            let span_ms = minute.gauges.wall_ms.saturating_sub(previous_wall_ms);
            previous_wall_ms = minute.gauges.wall_ms.max(previous_wall_ms);
            if let Some(capacity) = capacity_per_s
                && span_ms > 0
                && minute.offered as f64 / (span_ms as f64 / 1_000.0) > capacity
            {
                overload_minutes += 1;
                overload_admitted += minute.completed;
                overload_wall_ms += span_ms;
            }
        }
        let overload_goodput_per_s =
            (overload_wall_ms > 0).then(|| overload_admitted as f64 / (overload_wall_ms as f64 / 1_000.0));
        Summary {
            orders_planned,
            first_tries: recorder.first_tries(),
            offered: recorder.offered(),
            admitted: recorder.total(Answer::Admitted),
            queued: recorder.total(Answer::Queued),
            shed: recorder.total(Answer::Shed),
            busy: recorder.total(Answer::Busy),
            budget_exhausted: recorder.total(Answer::BudgetExhausted),
            failed: recorder.total(Answer::Failed),
            chats_unfinished: recorder.total(Answer::ChatUnfinished),
            chat_orders: recorder.chat_orders(),
            gave_up: recorder.gave_up(),
            switched_shop: recorder.switched_shop(),
            switched_to_nearby: recorder.switched_to_offered(),
            simulated_s,
            wall_s,
            compression: simulated_s / wall_s,
            offered_per_s: recorder.offered() as f64 / wall_s,
            admitted_per_s: recorder.total(Answer::Admitted) as f64 / wall_s,
            latency: recorder.latency(),
            waiting_room: recorder.waiting_room(),
            budget_fen,
            given_out_fen: minutes.iter().map(|minute| minute.gauges.given_out_fen).max().unwrap_or(0),
            capacity_per_s,
            overload_minutes,
            overload_goodput_per_s,
            goodput_over_capacity: overload_goodput_per_s
                .zip(capacity_per_s)
                .map(|(goodput, capacity)| goodput / capacity),
            gateway_cores: None,
            generator_cores: None,
        }
    }
}

/// One run in a report.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// "in-process", "http (admission on)", "http (admission off)".
    pub label: String,
    pub summary: Summary,
    pub audit: Vec<AuditCheck>,
    pub minutes: Vec<MinuteRow>,
}

impl RunReport {
    pub fn audit_passed(&self) -> bool {
        self.audit.iter().all(|check| check.passed)
    }
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub profile: Profile,
    pub seed: u64,
    pub scale: f64,
    pub runs: Vec<RunReport>,
}

fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    format!("{sign}{} yuan", thousands(fen.unsigned_abs() / 100))
}

fn optional(value: Option<f64>, digits: usize) -> String {
    value.map_or_else(|| "n/a".to_owned(), |value| format!("{value:.digits$}"))
}

/// The summary rows shown side by side: (label, one cell per run).
fn summary_rows(runs: &[RunReport]) -> Vec<(&'static str, Vec<String>)> {
    let cell =
        |value: &dyn Fn(&Summary) -> String| runs.iter().map(|run| value(&run.summary)).collect::<Vec<_>>();
    vec![
        ("orders planned", cell(&|s| thousands(s.orders_planned))),
        ("tries offered (with retries)", cell(&|s| thousands(s.offered))),
        ("orders placed (admitted)", cell(&|s| thousands(s.admitted))),
        ("queued (waiting-room tickets)", cell(&|s| thousands(s.queued))),
        ("shed (try later, with a reason)", cell(&|s| thousands(s.shed))),
        ("shop busy (honest ETA)", cell(&|s| thousands(s.busy))),
        ("budget exhausted", cell(&|s| thousands(s.budget_exhausted))),
        ("failed (no proper answer)", cell(&|s| thousands(s.failed))),
        ("chats ended without an order (then ordered by the API)", cell(&|s| thousands(s.chats_unfinished))),
        ("orders placed by chat", cell(&|s| thousands(s.chat_orders))),
        ("shoppers who gave up", cell(&|s| thousands(s.gave_up))),
        (
            "turned to another shop (a nearby one offered)",
            cell(&|s| format!("{} ({})", thousands(s.switched_shop), thousands(s.switched_to_nearby))),
        ),
        ("wall-clock time", cell(&|s| format!("{:.1} s", s.wall_s))),
        ("compression (simulated / wall)", cell(&|s| format!("{:.0}x", s.compression))),
        ("tries per second", cell(&|s| format!("{:.0}", s.offered_per_s))),
        ("orders per second", cell(&|s| format!("{:.0}", s.admitted_per_s))),
        (
            "latency p50 / p99 / max",
            cell(&|s| {
                format!("{:.2} / {:.2} / {:.0} ms", s.latency.p50_ms, s.latency.p99_ms, s.latency.max_ms)
            }),
        ),
        (
            "waiting room p50 / p99",
            cell(&|s| format!("{:.0} / {:.0} ms", s.waiting_room.p50_ms, s.waiting_room.p99_ms)),
        ),
        ("budget given out", cell(&|s| format!("{} of {}", yuan(s.given_out_fen), yuan(s.budget_fen)))),
        ("capacity (closed loop)", cell(&|s| optional(s.capacity_per_s, 0) + " orders/s")),
        ("overload minutes", cell(&|s| s.overload_minutes.to_string())),
        ("goodput in overload", cell(&|s| optional(s.overload_goodput_per_s, 0) + " orders/s")),
        ("goodput / capacity in overload", cell(&|s| optional(s.goodput_over_capacity, 2))),
        (
            "CPU cores: gateway / load generator",
            cell(&|s| format!("{} / {}", optional(s.gateway_cores, 2), optional(s.generator_cores, 2))),
        ),
    ]
}

/// Per-hour totals of a run's minutes, for the Markdown table.
fn hour_rows(minutes: &[MinuteRow]) -> Vec<[u64; 7]> {
    minutes
        .chunks(60)
        .enumerate()
        .map(|(hour, chunk)| {
            let sum = |value: &dyn Fn(&MinuteRow) -> u64| chunk.iter().map(value).sum::<u64>();
            [
                hour as u64,
                sum(&|m| m.offered),
                sum(&|m| m.admitted),
                sum(&|m| m.queued),
                sum(&|m| m.shed),
                sum(&|m| m.busy),
                chunk.iter().map(|m| m.backlog_max_of()).max().unwrap_or(0),
            ]
        })
        .collect()
}

impl MinuteRow {
    fn backlog_max_of(&self) -> u64 {
        self.gauges.backlog_max
    }
}

impl Report {
    pub fn audit_passed(&self) -> bool {
        self.runs.iter().all(RunReport::audit_passed)
    }

    fn heading(&self) -> String {
        format!(
            "{} (seed {}, scale {}): {} orders from {} shoppers at {} outlets over {} simulated minutes",
            self.profile.name,
            self.seed,
            self.scale,
            thousands(self.profile.orders),
            thousands(self.profile.shoppers),
            thousands(self.profile.merchants.outlets),
            self.profile.duration_minutes
        )
    }

    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# Lantern surge report\n\n{}\n", self.heading());
        if !self.profile.description.is_empty() {
            let _ = writeln!(out, "> {}\n", self.profile.description);
        }
        let _ = writeln!(out, "## Summary\n");
        let _ = write!(out, "| |");
        for run in &self.runs {
            let _ = write!(out, " {} |", run.label);
        }
        let _ = write!(out, "\n|---|");
        for _ in &self.runs {
            let _ = write!(out, "---:|");
        }
        out.push('\n');
        for (label, cells) in summary_rows(&self.runs) {
            let _ = writeln!(out, "| {label} | {} |", cells.join(" | "));
        }
        let _ = writeln!(out, "\n## Audit\n");
        for run in &self.runs {
            let _ = writeln!(
                out,
                "{}: **{}**\n",
                run.label,
                if run.audit_passed() { "all invariants hold" } else { "INVARIANTS BROKEN" }
            );
            for check in &run.audit {
                let _ = writeln!(
                    out,
                    "- {} {}: {}",
                    if check.passed { "PASS" } else { "FAIL" },
                    check.name,
                    check.detail
                );
            }
            out.push('\n');
        }
        for run in &self.runs {
            let _ = writeln!(out, "## By simulated hour: {}\n", run.label);
            let _ = writeln!(
                out,
                "| hour | tries | placed | queued | shed | shop busy | fullest kitchen |\n|---:|---:|---:|---:|---:|---:|---:|"
            );
            for row in hour_rows(&run.minutes) {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {} |",
                    row[0],
                    thousands(row[1]),
                    thousands(row[2]),
                    thousands(row[3]),
                    thousands(row[4]),
                    thousands(row[5]),
                    thousands(row[6])
                );
            }
            out.push('\n');
        }
        let _ =
            writeln!(out, "Charts: the HTML report beside this file. Per-minute series: the JSON report.");
        out
    }

    /// One self-contained page: no scripts, no external files.
    pub fn to_html(&self) -> String {
        let mut out = String::new();
        let _ = write!(
            out,
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Lantern surge: {}</title><style>body{{font-family:sans-serif;max-width:1600px;margin:2em auto;padding:0 1em;color:#222}}table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}td:first-child,th:first-child{{text-align:left}}.pass{{color:#076}}.fail{{color:#b00;font-weight:bold}}.runs{{display:flex;flex-wrap:wrap;gap:1em}}.run{{flex:1 1 780px}}</style></head><body>",
            escape(&self.profile.name)
        );
        let _ = write!(out, "<h1>Lantern surge report</h1><p>{}</p>", escape(&self.heading()));
        if !self.profile.description.is_empty() {
            let _ = write!(out, "<p><em>{}</em></p>", escape(&self.profile.description));
        }
        let _ = write!(out, "<h2>Summary</h2><table><tr><th></th>");
        for run in &self.runs {
            let _ = write!(out, "<th>{}</th>", escape(&run.label));
        }
        out.push_str("</tr>");
        for (label, cells) in summary_rows(&self.runs) {
            let _ = write!(out, "<tr><td>{}</td>", escape(label));
            for cell in cells {
                let _ = write!(out, "<td>{}</td>", escape(&cell));
            }
            out.push_str("</tr>");
        }
        out.push_str("</table><h2>Audit</h2>");
        for run in &self.runs {
            let _ = write!(out, "<h3>{}</h3><ul>", escape(&run.label));
            for check in &run.audit {
                let (class, word) = if check.passed { ("pass", "PASS") } else { ("fail", "FAIL") };
                let _ = write!(
                    out,
                    "<li><span class=\"{class}\">{word}</span> {}: {}</li>",
                    escape(&check.name),
                    escape(&check.detail)
                );
            }
            out.push_str("</ul>");
        }
        out.push_str("<h2>Over simulated time</h2><div class=\"runs\">");
        for run in &self.runs {
            let _ = write!(out, "<div class=\"run\"><h3>{}</h3>", escape(&run.label));
            for chart in charts(&run.minutes, run.summary.budget_fen) {
                out.push_str(&chart);
                out.push_str("<br>");
            }
            out.push_str("</div>");
        }
        out.push_str("</div></body></html>\n");
        out
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_else(|error| serde_json::json!({ "error": error.to_string() }))
    }

    /// The summary and the audit of every run, without the per-minute series.
    pub fn summary_json(&self) -> serde_json::Value {
        let runs: Vec<_> = self
            .runs
            .iter()
            .map(|run| serde_json::json!({ "label": run.label, "summary": run.summary, "audit_passed": run.audit_passed(), "audit": run.audit }))
            .collect();
        serde_json::json!({
            "profile": self.profile.name,
            "seed": self.seed,
            "scale": self.scale,
            "orders": self.profile.orders,
            "audit_passed": self.audit_passed(),
            "runs": runs,
        })
    }
}

/// The charts of one run.
fn charts(minutes: &[MinuteRow], budget_fen: i64) -> Vec<String> {
    let series = |name: &str, value: &dyn Fn(&MinuteRow) -> f64| {
        Series::new(name, minutes.iter().map(value).collect())
    };
    let mut previous_wall_ms = 0u64;
    let wall_s: Vec<f64> = minutes
        .iter()
        .map(|minute| {
            let span = minute.gauges.wall_ms.saturating_sub(previous_wall_ms);
            previous_wall_ms = minute.gauges.wall_ms.max(previous_wall_ms);
            (span as f64 / 1_000.0).max(1e-3)
        })
        .collect();
    let per_wall_s = |name: &str, value: &dyn Fn(&MinuteRow) -> u64| {
        Series::new(
            name,
            minutes.iter().zip(&wall_s).map(|(minute, seconds)| value(minute) as f64 / seconds).collect(),
        )
    };
    vec![
        line_chart(
            "Throughput: tries and orders per simulated minute",
            "per minute",
            &[
                series("tries offered", &|m| m.offered as f64),
                series("first tries", &|m| m.first_tries as f64),
                series("orders placed", &|m| m.admitted as f64),
            ],
        ),
        line_chart(
            "Throughput in wall-clock time",
            "per second",
            &[per_wall_s("tries/s", &|m| m.offered), per_wall_s("orders/s", &|m| m.admitted)],
        ),
        line_chart(
            "Answers: admitted, queued, shed",
            "tries per minute",
            &[
                series("admitted", &|m| m.admitted as f64),
                series("queued", &|m| m.queued as f64),
                series("shed", &|m| m.shed as f64),
                series("shop busy", &|m| m.busy as f64),
                series("budget exhausted", &|m| m.budget_exhausted as f64),
                series("failed", &|m| m.failed as f64),
            ],
        ),
        line_chart(
            "Latency of answers",
            "ms",
            &[
                series("p50", &|m| m.latency.p50_ms),
                series("p90", &|m| m.latency.p90_ms),
                series("p99", &|m| m.latency.p99_ms),
            ],
        ),
        line_chart(
            "Time in the waiting room",
            "ms",
            &[series("p50", &|m| m.waiting_room.p50_ms), series("p99", &|m| m.waiting_room.p99_ms)],
        ),
        line_chart(
            "Budget burn",
            "yuan",
            &[
                series("given out", &|m| m.gauges.given_out_fen as f64 / 100.0),
                series("budget", &|_| budget_fen as f64 / 100.0),
            ],
        ),
        line_chart(
            "Merchant backlog (orders in kitchens)",
            "orders",
            &[
                series("all outlets", &|m| m.gauges.backlog_total as f64),
                series("fullest outlet x 100", &|m| m.gauges.backlog_max as f64 * 100.0),
            ],
        ),
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::recorder::Gauges;

    fn report() -> Report {
        let profile = Profile::builtin("spring-festival").unwrap().scaled(100).unwrap();
        let mut recorder = Recorder::new(3);
        for minute in 0..3 {
            for _ in 0..100 {
                recorder.record(minute, true, Answer::Admitted, 900);
                recorder.record_completed(minute);
            }
            recorder.record(minute, false, Answer::Queued, 300);
            recorder.set_gauges(
                minute,
                Gauges {
                    given_out_fen: 2_500 * 100 * i64::from(minute + 1),
                    backlog_total: 7,
                    backlog_max: 2,
                    wall_ms: 1_000 * u64::from(minute + 1),
                },
            );
        }
        let mut short = profile.clone();
        short.duration_minutes = 3;
        let summary = Summary::from_recorder(&recorder, &short, 3_000_000_000, 3.0, Some(50.0));
        let run = RunReport {
            label: "http (admission on)".into(),
            summary,
            audit: vec![AuditCheck {
                name: "budget never exceeded".into(),
                passed: true,
                detail: "1 campaign".into(),
            }],
            minutes: recorder.rows(),
        };
        Report { profile, seed: 1, scale: 0.0001, runs: vec![run] }
    }

    #[test]
    fn summary_finds_overload_minutes_and_goodput() {
        let report = report();
        let summary = &report.runs[0].summary;
        assert_eq!(summary.admitted, 300);
        assert_eq!(summary.overload_minutes, 3, "101 tries a second against a capacity of 50");
        assert!((summary.overload_goodput_per_s.unwrap() - 100.0).abs() < 1e-9);
        assert!((summary.goodput_over_capacity.unwrap() - 2.0).abs() < 1e-9);
        assert!((summary.compression - 60.0).abs() < 1e-9);
    }

    #[test]
    fn every_format_carries_the_figures() {
        let report = report();
        let markdown = report.to_markdown();
        assert!(markdown.contains("| orders placed (admitted) | 300 |"), "{markdown}");
        assert!(markdown.contains("PASS budget never exceeded"));
        let html = report.to_html();
        assert_eq!(html.matches("<svg").count(), 7);
        assert!(!html.contains("<script") && !html.contains("src="), "self-contained");
        let json = report.summary_json();
        assert_eq!(json["audit_passed"], true);
        assert_eq!(json["runs"][0]["summary"]["admitted"], 300);
        assert_eq!(report.to_json()["runs"][0]["minutes"].as_array().unwrap().len(), 3);
    }
}
