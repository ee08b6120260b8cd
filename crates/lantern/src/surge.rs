//! `lantern surge`: replay a campaign's rush against Lantern and report what held.
//!
//! The workload (`lantern-surge`) is generated from a profile; a driver plays it against the
//! engine in this process ([`engine`]) or against a gateway over HTTP ([`http`]); the recorder
//! keeps the per-minute series; at the end the store is re-read and every invariant of
//! DESIGN.md checked ([`audit_store`]), and the report is written as Markdown, HTML (SVG
//! charts) and JSON.

// Rates, ratios and --scale are floats; money never is.
#![allow(clippy::float_arithmetic)]

mod chat;
mod engine;
mod http;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use lantern_core::{CampaignId, Money, Timestamp};
use lantern_store::{Durability, OpenMode};
use lantern_surge::{AuditCheck, Profile, Report, RunReport, Workload, profile::SCALE_PPM_ONE};

use crate::audit::{self, Acks};
use crate::node;

/// The surge's campaign: the first one created in a fresh data directory.
pub const CAMPAIGN: CampaignId = CampaignId::new(1);

#[derive(Debug, clap::Args)]
pub struct SurgeArgs {
    /// A built-in profile (`spring-festival`, `budget-exhaustion`) or the path of a profile
    /// file (TOML; see crates/lantern-surge/PROFILE.md, or `--print-profile NAME` for a start).
    #[arg(long, default_value = "spring-festival")]
    profile: String,
    /// Shrink (or grow) the profile: orders, shoppers, outlets and budget scale together.
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Seed of the workload: the same seed and profile give the same orders.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Drive the engine in this process (sequencer + durable ledger, no HTTP): its capacity.
    /// The default when no --target or --http is given.
    #[arg(long, conflicts_with_all = ["target", "http"])]
    in_process: bool,
    /// Drive a running gateway over HTTP (e.g. http://127.0.0.1:8080). It must have been
    /// started with the data directory given in --data (for tokens and the audit), which the
    /// surge seeds through the operator API; see README "The surge".
    #[arg(long)]
    target: Option<String>,
    /// Start `lantern serve` here as a child process on loopback, drive it over HTTP, stop it
    /// and audit its data directory.
    #[arg(long, conflicts_with = "target")]
    http: bool,
    /// With --http: start the gateway without admission control (`serve --no-admission`).
    #[arg(long)]
    no_admission: bool,
    /// With --http: run twice, with and without admission control, and report side by side
    /// (the second run uses the first run's measured capacity, so both are offered the same load).
    #[arg(long, conflicts_with = "no_admission")]
    compare_admission: bool,
    /// With --http: an environment override for the gateway (KEY=VALUE, repeatable), e.g.
    /// `LANTERN_ADMISSION__TARGET_LATENCY_MS=500` for a debug build.
    #[arg(long, value_name = "KEY=VALUE")]
    server_env: Vec<String>,
    /// In-process: place the chat share as plain coupon orders instead of talking to the agent
    /// (what the engine alone sustains, to compare with the default).
    #[arg(long)]
    chat_as_api: bool,
    /// Over HTTP: wall-clock seconds the 9 simulated hours are compressed into (default: what
    /// the measured capacity needs to play the profile at about half of it on average).
    #[arg(long)]
    wall_s: Option<f64>,
    /// Over HTTP: most requests outstanding at once, on as many keep-alive connections opened
    /// before the run (the generator is the shoppers and a load balancer in front of the
    /// gateway: a request beyond it waits in the balancer's line, and that wait is part of its
    /// latency). Waiting-room long polls have 8,192 slots of their own.
    #[arg(long, default_value_t = 256)]
    in_flight_max: usize,
    /// Over HTTP: threads of the load generator (a multi-thread tokio runtime). The generator
    /// shares the machine with the gateway it drives; each thread it keeps busy is a core the
    /// gateway does not have.
    #[arg(long, default_value_t = 2)]
    generator_threads: usize,
    /// The data directory: created for --in-process and --http (default: a temporary one,
    /// removed afterwards); the gateway's own for --target.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Keep the temporary data directories.
    #[arg(long)]
    keep_data: bool,
    /// Where the reports go (surge.md, surge.html, surge.json).
    #[arg(long, default_value = "surge-report")]
    out: PathBuf,
    /// Print the summary and the audit as one JSON object on the last line.
    #[arg(long)]
    json: bool,
    /// Print a built-in profile's TOML (to start an own profile from) and exit.
    #[arg(long, value_name = "NAME")]
    print_profile: Option<String>,
}

pub fn run(args: &SurgeArgs) -> anyhow::Result<()> {
    if let Some(name) = &args.print_profile {
        let text = Profile::builtin_text(name).with_context(|| {
            format!("no built-in profile {name:?}; use one of {:?}", lantern_surge::profile::BUILTIN_NAMES)
        })?;
        print!("{text}");
        return Ok(());
    }
    anyhow::ensure!(
        args.scale.is_finite() && args.scale > 0.0 && args.scale <= 10.0,
        "--scale must be a number in (0, 10], e.g. 0.02 for 200,000 orders of spring-festival"
    );
    let base = if Path::new(&args.profile).exists() {
        let text = std::fs::read_to_string(&args.profile)
            .with_context(|| format!("cannot read {}", args.profile))?;
        Profile::from_toml(&text).with_context(|| format!("profile file {}", args.profile))?
    } else {
        Profile::builtin(&args.profile)?
    };
    let scale_ppm = (args.scale * SCALE_PPM_ONE as f64).round() as u64;
    let profile = base.scaled(scale_ppm)?;
    let workload = Workload::new(&profile, args.seed)?;
    println!(
        "lantern surge: {} (seed {}, scale {}): {} orders from {} shoppers at {} outlets over {} simulated minutes",
        profile.name,
        args.seed,
        args.scale,
        profile.orders,
        profile.shoppers,
        profile.merchants.outlets,
        profile.duration_minutes
    );
    let mut runs = Vec::new();
    if args.target.is_some() || args.http {
        let admission_modes: Vec<bool> =
            if args.compare_admission { vec![true, false] } else { vec![!args.no_admission] };
        for admission in admission_modes {
            let known_capacity_per_s = runs.first().and_then(|run: &RunReport| run.summary.capacity_per_s);
            runs.push(http::run(args, &workload, admission, known_capacity_per_s)?);
        }
    } else {
        runs.push(engine::run(args, &workload)?);
    }
    let report = Report { profile, seed: args.seed, scale: args.scale, runs };
    let paths = write_report(&report, &args.out)?;
    for run in &report.runs {
        print_run(run);
    }
    println!(
        "reports: {}",
        paths.iter().map(|path| path.display().to_string()).collect::<Vec<_>>().join(", ")
    );
    if args.json {
        println!("{}", report.summary_json());
    }
    anyhow::ensure!(report.audit_passed(), "the audit found a broken invariant: see the FAIL lines above");
    Ok(())
}

fn print_run(run: &RunReport) {
    let summary = &run.summary;
    println!(
        "{}: {} orders placed of {} tries in {:.1} s ({:.0}x faster than the {:.1} simulated hours; {:.0} orders/s), queued {}, shed {}, shop busy {}, budget exhausted {}, failed {}, chats without an order {}, chat orders {}",
        run.label,
        summary.admitted,
        summary.offered,
        summary.wall_s,
        summary.compression,
        summary.simulated_s / 3_600.0,
        summary.admitted_per_s,
        summary.queued,
        summary.shed,
        summary.busy,
        summary.budget_exhausted,
        summary.failed,
        summary.chats_unfinished,
        summary.chat_orders
    );
    println!(
        "  latency p50 {:.2} ms p99 {:.2} ms; waiting room p99 {:.0} ms; budget given out {} of {} yuan",
        summary.latency.p50_ms,
        summary.latency.p99_ms,
        summary.waiting_room.p99_ms,
        summary.given_out_fen / 100,
        summary.budget_fen / 100
    );
    if let (Some(capacity), Some(ratio)) = (summary.capacity_per_s, summary.goodput_over_capacity) {
        println!(
            "  capacity {capacity:.0} orders/s; {} overload minutes with goodput {:.0} orders/s: goodput/capacity {ratio:.2}",
            summary.overload_minutes,
            summary.overload_goodput_per_s.unwrap_or(0.0)
        );
    }
    println!("  audit:");
    for check in &run.audit {
        println!("    {} {}: {}", if check.passed { "PASS" } else { "FAIL" }, check.name, check.detail);
    }
}

/// The progress bar of a run over `orders` first tries (hidden when stdout is not a terminal).
pub fn progress_bar(orders: u64) -> Option<indicatif::ProgressBar> {
    let bar = indicatif::ProgressBar::new(orders);
    bar.set_style(
        indicatif::ProgressStyle::with_template("  {bar:30} {pos}/{len} orders tried  {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(bar)
}

/// The bar's message: answers so far, orders per second and the simulated clock.
pub fn progress_message(recorder: &lantern_surge::Recorder, minute: u32, elapsed_s: f64) -> String {
    use lantern_surge::Answer;
    let admitted = recorder.total(Answer::Admitted);
    format!(
        "{:.0} orders/s  admitted {admitted}  queued {}  shed {}  busy {}  sim {:02}:{:02}",
        admitted as f64 / elapsed_s.max(1e-9),
        recorder.total(Answer::Queued),
        recorder.total(Answer::Shed),
        recorder.total(Answer::Busy),
        minute / 60,
        minute % 60
    )
}

fn write_report(report: &Report, out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create the report directory {}", out.display()))?;
    let files = [
        (out.join("surge.md"), report.to_markdown()),
        (out.join("surge.html"), report.to_html()),
        (out.join("surge.json"), report.to_json().to_string()),
    ];
    let mut paths = Vec::new();
    for (path, text) in files {
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        paths.push(path);
    }
    Ok(paths)
}

/// The campaign the surge runs, from the profile: the festival's 25-yuan coupon with the
/// profile's budget and caps.
pub fn campaign_spec(profile: &Profile, validity: lantern_core::Validity) -> lantern_core::CampaignSpec {
    let mut spec = crate::world::festival_campaign(Money::from_yuan(profile.campaign.budget_yuan), validity);
    spec.template =
        lantern_core::CouponTemplate::AmountOff { amount: Money::from_yuan(profile.campaign.coupon_yuan) };
    spec.per_shopper_limit = profile.campaign.per_shopper_limit;
    spec.referral_bonus_cap = profile.campaign.referral_bonus_cap;
    spec
}

/// What the driver saw besides the acknowledged orders: tries that got no answer at all (an
/// order may have been placed for them that nobody acknowledged).
#[derive(Debug)]
pub struct Seen {
    pub acks: Acks,
    /// Logical orders (arrival indexes) that were tried.
    pub n_orders_tried: u64,
    pub n_unanswered: u64,
    /// The surge's shoppers' ids: `shopper_id_base + 1 ..= shopper_id_base + shoppers`. Over
    /// HTTP the gateway also holds the demo's and the capacity probe's orders, which are not the
    /// surge's, and a chat shopper's order may be at any shop the agent found (the demo's too),
    /// so the surge's orders are told apart by who placed them, not where.
    pub shopper_ids: std::ops::RangeInclusive<u64>,
}

impl Seen {
    /// What a driver saw of `shoppers` shoppers numbered from `shopper_id_base + 1`, with room
    /// for `orders` acknowledged orders made before the run (see [`Acks::with_order_capacity`]).
    pub fn new(shopper_id_base: u64, shoppers: u64, orders: u64) -> Seen {
        Seen {
            acks: Acks::with_order_capacity(usize::try_from(orders).unwrap_or(usize::MAX)),
            n_orders_tried: 0,
            n_unanswered: 0,
            shopper_ids: shopper_id_base + 1..=shopper_id_base + shoppers,
        }
    }
}

/// Re-reads the data directory (the process that wrote it must have stopped), rebuilds the
/// ledger from its journal and checks every invariant of DESIGN.md against it and against what
/// the driver saw acknowledged.
pub fn audit_store(data: &Path, seen: &Seen) -> anyhow::Result<Vec<AuditCheck>> {
    let clock = Arc::new(lantern_sequencer::ManualClock::new(Timestamp::EPOCH));
    let (sequencer, replay) = node::start(data, OpenMode::Existing, Durability::Full, clock, 0, 0)
        .context("re-reading the store for the audit")?;
    let handle = sequencer.handle();
    let mut checks = handle.read(|ledger| {
        let mut checks = audit::audit_ledger(ledger, &seen.acks);
        checks.push(audit::capacity_check(ledger));
        checks.push(duplicate_check(surge_orders(ledger, seen), seen));
        checks
    });
    sequencer.stop();
    let mut out: Vec<AuditCheck> = checks
        .drain(..)
        .map(|check| AuditCheck { name: check.name.into(), passed: check.passed, detail: check.detail })
        .collect();
    out.insert(
        0,
        AuditCheck {
            name: "store re-read".into(),
            passed: true,
            detail: format!(
                "{} batches, {} commands replayed in {} ms",
                replay.n_batches, replay.n_commands, replay.elapsed_ms
            ),
        },
    );
    Ok(out)
}

/// The orders in the store placed by the surge's shoppers, at whatever shop.
fn surge_orders(ledger: &lantern_ledger::Ledger, seen: &Seen) -> u64 {
    ledger.orders().filter(|view| seen.shopper_ids.contains(&view.receipt.shopper.get())).count() as u64
}

/// No order placed twice and none acknowledged twice: every acknowledgement names its own
/// order, and the store holds no more orders than were acknowledged plus those whose answer
/// never arrived (a try cut off by a timeout may have placed one that nobody saw; its retry
/// with the same idempotency key gets that same order).
fn duplicate_check(n_orders_in_store: u64, seen: &Seen) -> audit::Check {
    let (n_duplicates, examples) = seen.acks.duplicate_orders(3);
    let n_acked = seen.acks.n_orders() as u64;
    let unacknowledged = n_orders_in_store.saturating_sub(n_acked);
    let passed =
        n_duplicates == 0 && unacknowledged <= seen.n_unanswered && n_orders_in_store <= seen.n_orders_tried;
    audit::Check {
        name: "no duplicate order",
        passed,
        detail: if passed {
            format!(
                "{n_orders_in_store} orders in the store for {} logical orders tried: {n_acked} acknowledged once each, {unacknowledged} placed by a try whose answer was lost ({} such tries)",
                seen.n_orders_tried, seen.n_unanswered
            )
        } else {
            format!(
                "{n_duplicates} orders acknowledged twice (e.g. {examples:?}); {n_orders_in_store} orders in the store, {n_acked} acknowledged, {} tries unanswered, {} logical orders",
                seen.n_unanswered, seen.n_orders_tried
            )
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use lantern_core::pricing::CartLine;
    use lantern_core::{Capacity, IdempotencyKey, ItemId, MerchantId, OrderChannel, ShopperId};
    use lantern_ledger::{Command, CouponChoice, Ledger, Outcome};

    use super::*;
    use crate::world;

    /// Shopper `shopper` orders one drink at `merchant`, without a coupon.
    fn order(ledger: &mut Ledger, shopper: u64, merchant: u64, key: &str) -> lantern_ledger::OrderReceipt {
        let now = world::FESTIVAL_STARTS_AT.plus_ms(60_000);
        let shopper = ShopperId::new(shopper);
        let lines = vec![CartLine { item: ItemId::new(101), quantity: 1, options: vec![] }];
        let merchant = MerchantId::new(merchant);
        let quote = match ledger
            .apply(&Command::Quote { shopper, merchant, lines, coupon: CouponChoice::None }, now)
        {
            Ok(Outcome::Quoted(view)) => view.quote,
            other => panic!("quote: {other:?}"),
        };
        let idempotency_key = IdempotencyKey::new(key).unwrap();
        match ledger
            .apply(&Command::PlaceOrder { shopper, quote, idempotency_key, channel: OrderChannel::Api }, now)
        {
            Ok(Outcome::OrderPlaced { receipt, .. }) => receipt,
            other => panic!("place: {other:?}"),
        }
    }

    #[test]
    fn the_duplicate_check_counts_the_surges_orders_by_shopper_at_any_shop() {
        let mut ledger = Ledger::new(crate::node::ledger_config(0));
        let now = world::FESTIVAL_STARTS_AT.plus_ms(60_000);
        for command in world::menu_commands() {
            ledger.apply(&command, now).unwrap();
        }
        // Outlet 1 is a demo shop; outlet 2 the surge's.
        for outlet in 1..=2 {
            ledger.apply(&world::tea_outlet(outlet, Capacity::new(100, 1_000).unwrap()), now).unwrap();
        }
        // The surge's shoppers are 1_001..=1_010.
        let mut seen = Seen::new(1_000, 10, 10);
        seen.n_orders_tried = 2;
        // A demo shopper's order at the demo shop is not the surge's.
        order(&mut ledger, 1, 1, "demo-1");
        // Two surge orders, acknowledged: one at the surge's outlet, one (a chat order) at the
        // demo's shop.
        seen.acks.push_order(&order(&mut ledger, 1_001, 2, "surge-1"));
        seen.acks.push_order(&order(&mut ledger, 1_002, 1, "surge-2"));
        assert_eq!(surge_orders(&ledger, &seen), 2);
        let held = duplicate_check(surge_orders(&ledger, &seen), &seen);
        assert!(held.passed, "{held:?}");
        // A second order for the same logical order at the demo's shop, acknowledged to nobody:
        // counted by outlet it would be missed; by shopper it is a duplicate.
        order(&mut ledger, 1_002, 1, "surge-2-again");
        assert_eq!(surge_orders(&ledger, &seen), 3);
        let broken = duplicate_check(surge_orders(&ledger, &seen), &seen);
        assert!(!broken.passed, "{broken:?}");
    }
}
