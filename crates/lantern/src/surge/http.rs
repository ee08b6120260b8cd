//! The HTTP driver: the surge played against a gateway end to end, over loopback or a network.
//!
//! Before the run, a short closed-loop probe (`bench http`'s capacity part) measures what the
//! gateway sustains; the 9 simulated hours are then compressed so that the average offered
//! rate is [`LOAD_FRACTION`] of that capacity, which puts the spikes (10x the average) at
//! several times capacity: the overload phases. Outlets' rates are scaled by the same factor,
//! so each shop sees the surge as it would in real time.
//!
//! The generator is the shoppers and a load balancer in front of the gateway, on a
//! multi-thread runtime (`--generator-threads`). Every shopper is a task (at most
//! [`SHOPPERS_ALIVE_MAX`] alive; arrivals are an open loop, a slow gateway does not slow them):
//! it sends its coupon order, follows a waiting-room ticket (long poll, then the same request
//! with `Lantern-Ticket`), and backs off and retries (or tries another outlet) when turned
//! away, as the profile says, never sooner than the gateway's own `Retry-After` in wall-clock
//! time. Its requests share a pool of keep-alive connections opened before the run; at most
//! `--in-flight-max` are outstanding at once (the balancer's connections) and long polls have
//! [`POLLS_IN_FLIGHT_MAX`] slots of their own; a request waiting for a slot counts that wait in
//! its latency.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use lantern_auth::{Role, Signer};
use lantern_core::{CampaignId, CouponId, Money, OrderId, ShopperId};
use lantern_sequencer::{Clock, SystemClock};
use lantern_surge::recorder::{Answer, Gauges, Recorder};
use lantern_surge::{Arrival, Channel, MINUTE_MS, Refusal, RunReport, Summary, Workload};
use tokio::sync::Semaphore;

use super::{Seen, SurgeArgs};
use crate::bench_http::client::{self, Conn};
use crate::bench_http::server::Server;
use crate::bench_http::{self, REQUEST_TIMEOUT, Target, TicketStatus, Verdict};

/// Average offered rate as a share of the measured capacity (the spikes go far above it).
const LOAD_FRACTION: f64 = 0.5;
/// The capacity probe: its outlets (`mer_1001`..), connections and measured seconds.
const PROBE_OUTLETS: u64 = 16;
const PROBE_CONNECTIONS: usize = 64;
const PROBE_S: u64 = 3;
/// Probe shoppers are numbered from here, apart from the workload's.
const PROBE_SHOPPER_FIRST: u64 = 1_000_000_000;
/// Surge outlet `n` is `mer_<OUTLET_ID_BASE + n>`, apart from the demo's and the probe's.
pub const OUTLET_ID_BASE: u64 = 2_000_000;

/// Surge outlet `n`'s name, as registered and as its chat shoppers say it.
fn outlet_name(outlet: u64) -> String {
    format!("Surge outlet {outlet}")
}
/// A shopper task's heap, rounded up: its future (2,672 bytes when measured) and the runtime's
/// task header. [`warm_heap`] touches this much for each of the first [`WARM_MINUTES`]' arrivals.
const SHOPPER_TASK_BYTES: usize = 3_072;
const WARM_MINUTES: usize = 5;
/// Connections registering outlets at once.
const REGISTER_CONNECTIONS: usize = 16;
/// Long-poll wait per waiting-room poll.
const POLL_WAIT_MS: u64 = 5_000;
/// Polls one ticket may take before the shopper leaves the line (counted as giving up).
const POLLS_PER_TICKET_MAX: u32 = 120;
/// Tickets one order may be given before its shopper gives up.
const TICKETS_PER_ORDER_MAX: u32 = 8;
/// Asks at reading back an order a chat placed (`GET /v1/orders/{id}`, a browse request that
/// admission may turn away under load), and the least wait after a refusal without a ticket.
const READ_BACK_TRIES_MAX: u32 = 8;
const READ_BACK_RETRY_MS_MIN: u64 = 100;
/// After the last arrival, shoppers still retrying or waiting get this long to finish.
const DRAIN_S_MAX: u64 = 120;
/// Most file descriptors' worth of requests in flight (`--in-flight-max`).
const IN_FLIGHT_LIMIT_MAX: usize = 20_000;
/// Most waiting-room long polls open at once, on connections of their own (a shopper in line
/// holds a poll open for up to [`POLL_WAIT_MS`]; counted against `--in-flight-max`, a long
/// line would leave no slot for new tries). With `--in-flight-max` it bounds the connections
/// open at once, under the 20,000 open files each side may have.
const POLLS_IN_FLIGHT_MAX: usize = 8_192;
/// Connections opened at once when the pool is filled before the run (more at once would
/// overflow the gateway's accept queue, and a dropped SYN costs a second or more).
const CONNECTS_AT_ONCE: usize = 256;
/// Most shoppers between their first try and their order or giving up (a task each, a few
/// KiB); arrivals beyond it wait to start. Far above what a spike brings while the gateway
/// answers, so the generator stays an open loop: a slow gateway does not slow the arrivals.
const SHOPPERS_ALIVE_MAX: usize = 200_000;
/// Most generator threads (`--generator-threads`).
pub const GENERATOR_THREADS_MAX: usize = 64;
/// The surge's shopper `n` is `shp_<SHOPPER_ID_BASE + n>` over HTTP, apart from the demo's
/// shoppers (1..) and the capacity probe's ([`PROBE_SHOPPER_FIRST`]..), so the audit can tell
/// the surge's orders by who placed them.
pub const SHOPPER_ID_BASE: u64 = 2_000_000_000;

/// CPU seconds of the gateway (when it is our child) and of this process at the start.
struct CpuMeter {
    started: Instant,
    gateway_s: Option<f64>,
    generator_s: f64,
}

/// Cores used on average since [`CpuMeter::start`].
#[derive(Debug, Clone, Copy)]
struct Cores {
    gateway: Option<f64>,
    generator: f64,
}

impl CpuMeter {
    fn start(gateway: &Gateway) -> CpuMeter {
        CpuMeter {
            started: Instant::now(),
            gateway_s: gateway.server.as_ref().and_then(Server::cpu_s),
            generator_s: bench_http::server::cpu_s("self").unwrap_or(0.0),
        }
    }

    fn cores(&self, gateway: &Gateway) -> Cores {
        let wall_s = self.started.elapsed().as_secs_f64().max(1e-3);
        let gateway_s = gateway.server.as_ref().and_then(Server::cpu_s);
        let generator_s = bench_http::server::cpu_s("self").unwrap_or(0.0);
        Cores {
            gateway: gateway_s.zip(self.gateway_s).map(|(now, then)| (now - then) / wall_s),
            generator: (generator_s - self.generator_s) / wall_s,
        }
    }
}

/// Below this many cores the gateway is taken as idle.
const SETTLED_CORES: f64 = 0.1;
/// How long to wait at most for the gateway to settle, and how often to look.
const SETTLE_S_MAX: u64 = 120;
const SETTLE_STEP_MS: u64 = 250;

/// Waits until the gateway (when it is our child) is idle: after registering thousands of
/// outlets it indexes them in the background for seconds, and a run started meanwhile would
/// measure that instead of the surge. Returns the seconds waited.
async fn settle(gateway: &Gateway) -> f64 {
    let began = Instant::now();
    let Some(server) = gateway.server.as_ref() else { return 0.0 };
    let mut last = server.cpu_s();
    while began.elapsed() < Duration::from_secs(SETTLE_S_MAX) {
        tokio::time::sleep(Duration::from_millis(SETTLE_STEP_MS)).await;
        let now = server.cpu_s();
        if let (Some(now), Some(then)) = (now, last)
            && (now - then) / (SETTLE_STEP_MS as f64 / 1_000.0) < SETTLED_CORES
        {
            break;
        }
        last = now;
    }
    began.elapsed().as_secs_f64()
}

/// The gateway under test.
struct Gateway {
    addr: SocketAddr,
    signer: Signer,
    server: Option<Server>,
}

/// What every shopper task shares.
struct Shared {
    workload: Workload,
    target: Target,
    campaign: CampaignId,
    started: Instant,
    compression: f64,
    recorder: Mutex<Recorder>,
    seen: Mutex<Seen>,
    n_in_flight: AtomicU64,
    pool: ConnPool,
    /// Requests outstanding at once (`--in-flight-max`): a request waits here for a slot, as
    /// on a phone whose network is saturated, and the wait is part of its latency.
    requests: Semaphore,
    /// Long polls open at once ([`POLLS_IN_FLIGHT_MAX`]).
    polls: Semaphore,
}

/// Keep-alive connections the shoppers share: a shopper takes one for each request (opening
/// a new one when none is idle) and gives it back after, so a connection serves many shoppers
/// and the gateway's accept path is not part of every order. Connections open at once are at
/// most the shoppers in flight (each holds one at a time) plus the idle ones kept, at most
/// `idle_max`.
struct ConnPool {
    idle: Mutex<Vec<Conn>>,
    idle_max: usize,
    n_opened: AtomicU64,
}

impl ConnPool {
    fn new(idle_max: usize) -> ConnPool {
        ConnPool { idle: Mutex::new(Vec::with_capacity(idle_max)), idle_max, n_opened: AtomicU64::new(0) }
    }

    /// Opens `n` connections to `addr` ahead of the run, [`CONNECTS_AT_ONCE`] at a time, as a
    /// load balancer holds its connections to a backend: the run measures admission, not the
    /// kernel's accept queue under a connection storm.
    async fn fill(&self, addr: SocketAddr, n: usize) -> anyhow::Result<()> {
        let mut opened = 0;
        while opened < n {
            let batch = CONNECTS_AT_ONCE.min(n - opened);
            let conns = futures_util::future::try_join_all((0..batch).map(|_| Conn::connect(addr)))
                .await
                .context("opening the generator's connections")?;
            self.n_opened.fetch_add(batch as u64, Ordering::Relaxed);
            for conn in conns {
                self.give(Some(conn));
            }
            opened += batch;
        }
        Ok(())
    }

    fn take(&self) -> Option<Conn> {
        let conn = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        if conn.is_none() {
            self.n_opened.fetch_add(1, Ordering::Relaxed);
        }
        conn
    }

    fn give(&self, conn: Option<Conn>) {
        if let Some(conn) = conn
            && let Ok(mut idle) = self.idle.lock()
            && idle.len() < self.idle_max
        {
            idle.push(conn);
        }
    }
}

/// One run against a gateway with or without admission control; `known_capacity_per_s` (the
/// first run's, when comparing) skips the capacity probe.
pub fn run(
    args: &SurgeArgs,
    workload: &Workload,
    admission: bool,
    known_capacity_per_s: Option<f64>,
) -> anyhow::Result<RunReport> {
    anyhow::ensure!(
        (1..=IN_FLIGHT_LIMIT_MAX).contains(&args.in_flight_max),
        "--in-flight-max must be 1..={IN_FLIGHT_LIMIT_MAX}"
    );
    anyhow::ensure!(
        (1..=GENERATOR_THREADS_MAX).contains(&args.generator_threads),
        "--generator-threads must be 1..={GENERATOR_THREADS_MAX}"
    );
    let label = format!("http (admission {})", if admission { "on" } else { "off" });
    let mut gateway = start_gateway(args, workload, admission)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.generator_threads)
        .thread_name("surge-shopper")
        .enable_all()
        .build()?;
    let driven = runtime.block_on(drive(args, workload, &gateway, known_capacity_per_s));
    let (shared, wall_s, capacity_per_s, cores) = match driven {
        Ok(driven) => driven,
        Err(error) => {
            let tail = gateway.server.as_ref().map(Server::log_tail).unwrap_or_default();
            return Err(error.context(format!("the gateway's log ends:\n{tail}")));
        }
    };
    drop(runtime);
    let shared = Arc::try_unwrap(shared).map_err(|_| anyhow::anyhow!("shopper tasks outlived the run"))?;
    let recorder = shared.recorder.into_inner().map_err(|_| anyhow::anyhow!("recorder poisoned"))?;
    let seen = shared.seen.into_inner().map_err(|_| anyhow::anyhow!("acks poisoned"))?;
    let profile = workload.profile();
    let budget_fen = Money::from_yuan(profile.campaign.budget_yuan).fen();
    let mut summary = Summary::from_recorder(&recorder, profile, budget_fen, wall_s, Some(capacity_per_s));
    summary.gateway_cores = cores.gateway;
    summary.generator_cores = Some(cores.generator);
    let audit = match gateway.server.as_mut() {
        Some(server) => {
            anyhow::ensure!(
                server.alive(),
                "the gateway died during the surge; its log ends:\n{}",
                server.log_tail()
            );
            server.terminate()?;
            println!("  gateway stopped; auditing its store");
            super::audit_store(&server.data_dir(), &seen)?
        }
        None => {
            let acks_path = args.out.join("acks.txt");
            std::fs::create_dir_all(&args.out)?;
            std::fs::write(&acks_path, seen.acks.to_lines())
                .with_context(|| format!("cannot write {}", acks_path.display()))?;
            println!(
                "  the gateway is still running, so its store cannot be re-read now; stop it, then run:\n    lantern audit --data {} --acks {}",
                args.data.as_ref().map_or_else(|| "DIR".into(), |data| data.display().to_string()),
                acks_path.display()
            );
            Vec::new()
        }
    };
    if let Some(server) = gateway.server.take()
        && args.keep_data
    {
        println!("  kept the gateway's data directory: {}", server.data_dir().display());
        std::mem::forget(server);
    }
    Ok(RunReport { label, summary, audit, minutes: recorder.rows() })
}

fn start_gateway(args: &SurgeArgs, workload: &Workload, admission: bool) -> anyhow::Result<Gateway> {
    if let Some(url) = &args.target {
        let host = url.trim_start_matches("http://").trim_end_matches('/');
        let addr: SocketAddr = std::net::ToSocketAddrs::to_socket_addrs(host)
            .with_context(|| format!("--target {url}: give http://HOST:PORT"))?
            .next()
            .with_context(|| format!("--target {url} resolves to no address"))?;
        let data = args.data.as_ref().context(
            "--target needs --data DIR: the gateway's data directory, whose secret signs the surge's tokens",
        )?;
        let signer = crate::serve::load_or_make_signer(data)?;
        return Ok(Gateway { addr, signer, server: None });
    }
    let secret = bench_http::random_secret()?;
    let signer = Signer::new(&secret).map_err(|error| anyhow::anyhow!("{error}"))?;
    let secret_text = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &secret);
    let mut env = bench_http::base_env(&secret_text);
    env.push(("LANTERN_EXPECTED_ORDERS".into(), (workload.profile().orders * 2).to_string()));
    for pair in &args.server_env {
        let (key, value) = pair.split_once('=').context("--server-env takes KEY=VALUE")?;
        env.push((key.to_owned(), value.to_owned()));
    }
    let flags: &[&str] = if admission { &[] } else { &["--no-admission"] };
    let server = Server::start_with("surge", &env, flags)?;
    println!(
        "  gateway: `lantern serve --demo{}` pid {} on {}",
        if admission { "" } else { " --no-admission" },
        server.pid,
        server.addr
    );
    Ok(Gateway { addr: server.addr, signer, server: Some(server) })
}

async fn drive(
    args: &SurgeArgs,
    workload: &Workload,
    gateway: &Gateway,
    known_capacity_per_s: Option<f64>,
) -> anyhow::Result<(Arc<Shared>, f64, f64, Cores)> {
    let profile = workload.profile();
    bench_http::wait_ready(gateway.addr).await?;
    // Capacity first, on the demo campaign and the probe's own outlets.
    let probe = Arc::new(Target::new(gateway.addr, gateway.signer.clone(), PROBE_OUTLETS));
    let (capacity_per_s, measured) = match known_capacity_per_s {
        // The second run of --compare-admission: the same capacity, so the same compression,
        // the same offered load and the same overload threshold as the first.
        Some(capacity_per_s) => (capacity_per_s, "the first run's probe"),
        None => {
            bench_http::register_outlets(&probe, PROBE_OUTLETS).await?;
            let next_probe_shopper = Arc::new(AtomicU64::new(PROBE_SHOPPER_FIRST));
            let capacity = bench_http::run_capacity(
                &probe,
                &next_probe_shopper,
                PROBE_CONNECTIONS,
                Duration::from_secs(PROBE_S),
            )
            .await?;
            (capacity.orders_per_s, "capacity probe, 64 connections, closed loop")
        }
    };
    anyhow::ensure!(capacity_per_s > 0.0, "the capacity probe placed no order");
    let simulated_s = f64::from(profile.duration_minutes) * 60.0;
    let wall_s = args.wall_s.unwrap_or(profile.orders as f64 / (capacity_per_s * LOAD_FRACTION));
    anyhow::ensure!(wall_s.is_finite() && wall_s > 0.0, "--wall-s must be positive");
    let compression = simulated_s / wall_s;
    println!(
        "  capacity: {capacity_per_s:.0} orders/s ({measured}); playing {:.1} simulated hours in {wall_s:.0} s ({compression:.0}x), outlets' rates scaled by the same factor",
        simulated_s / 3_600.0
    );
    let target = Target::new(gateway.addr, gateway.signer.clone(), profile.merchants.outlets);
    let campaign = create_campaign(&target, workload).await?;
    register_surge_outlets(&target, workload, compression).await?;
    println!("  {} outlets registered, campaign {campaign}", profile.merchants.outlets);
    let pool = ConnPool::new(args.in_flight_max + POLLS_IN_FLIGHT_MAX);
    pool.fill(target.addr, args.in_flight_max).await?;
    let settled_s = settle(gateway).await;
    println!(
        "  gateway settled after {settled_s:.1} s (its catalog index takes the new outlets in the background)"
    );
    warm_heap(workload);
    let shared = Arc::new(Shared {
        workload: workload.clone(),
        target,
        campaign,
        started: Instant::now(),
        compression,
        recorder: Mutex::new(Recorder::new(profile.duration_minutes)),
        seen: Mutex::new(Seen::new(SHOPPER_ID_BASE, profile.shoppers, profile.orders)),
        n_in_flight: AtomicU64::new(0),
        pool,
        requests: Semaphore::new(args.in_flight_max),
        polls: Semaphore::new(POLLS_IN_FLIGHT_MAX),
    });
    let permits = Arc::new(Semaphore::new(SHOPPERS_ALIVE_MAX));
    let cpu = CpuMeter::start(gateway);
    let bar = super::progress_bar(profile.orders);
    let gauges = tokio::spawn(record_gauges(Arc::clone(&shared)));
    let mut n_started = 0u64;
    for minute in 0..profile.duration_minutes {
        for arrival in workload.arrivals_in_minute(minute) {
            let due = shared.wall_at(arrival.at_ms);
            // Arrivals already due go at once: a timer per arrival would cost the generator
            // more than the request.
            if due > Instant::now() {
                tokio::time::sleep_until(due.into()).await;
            }
            let permit = Arc::clone(&permits).acquire_owned().await.context("shopper permits closed")?;
            let shared_task = Arc::clone(&shared);
            shared.n_in_flight.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                shopper(&shared_task, arrival).await;
                shared_task.n_in_flight.fetch_sub(1, Ordering::Relaxed);
                drop(permit);
            });
            n_started += 1;
            if let Some(bar) = &bar
                && n_started.is_multiple_of(256)
            {
                bar.set_position(n_started);
                let recorder = shared.recorder.lock().map_err(|_| anyhow::anyhow!("recorder poisoned"))?;
                bar.set_message(super::progress_message(
                    &recorder,
                    minute,
                    shared.started.elapsed().as_secs_f64(),
                ));
            }
        }
    }
    // Let the last shoppers finish their retries and waits.
    let drain_until = Instant::now() + Duration::from_secs(DRAIN_S_MAX);
    while shared.n_in_flight.load(Ordering::Relaxed) > 0 && Instant::now() < drain_until {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let wall_s = shared.started.elapsed().as_secs_f64();
    let n_left = shared.n_in_flight.load(Ordering::Relaxed);
    anyhow::ensure!(
        n_left == 0,
        "{n_left} shoppers were still trying {DRAIN_S_MAX} s after the last arrival"
    );
    gauges.abort();
    let _ = gauges.await;
    set_gauges(&shared).await;
    fill_wall_times(&shared);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let cores = cpu.cores(gateway);
    println!(
        "  CPU over the run: gateway {}, load generator {:.2} cores ({} threads), {} connections opened",
        cores.gateway.map_or_else(|| "n/a".to_owned(), |cores| format!("{cores:.2}")),
        cores.generator,
        args.generator_threads,
        shared.pool.n_opened.load(Ordering::Relaxed)
    );
    Ok((shared, wall_s, capacity_per_s, cores))
}

impl Shared {
    /// The wall-clock instant of simulated time `at_ms`.
    fn wall_at(&self, at_ms: u64) -> Instant {
        self.started + Duration::from_secs_f64(at_ms as f64 / 1_000.0 / self.compression)
    }

    /// The simulated minute now.
    fn minute_now(&self) -> u32 {
        let simulated_ms = self.started.elapsed().as_secs_f64() * 1_000.0 * self.compression;
        u32::try_from((simulated_ms / MINUTE_MS as f64) as u64).unwrap_or(u32::MAX)
    }

    /// Records a try in the simulated minute it was sent in.
    fn record(&self, sent_minute: u32, first_try: bool, answer: Answer, latency: Duration) {
        if let Ok(mut recorder) = self.recorder.lock() {
            recorder.record(sent_minute, first_try, answer, micros(latency));
        }
    }

    fn shopper_token(&self, shopper: ShopperId) -> String {
        format!("Bearer {}", self.target.token(Role::Shopper(shopper)))
    }

    /// One request on a pooled connection.
    async fn exchange(&self, request: &[u8], timeout: Duration) -> std::io::Result<client::Answer> {
        self.exchange_in(&self.requests, request, timeout).await
    }

    /// One request on a pooled connection, once `slots` has room for it.
    async fn exchange_in(
        &self,
        slots: &Semaphore,
        request: &[u8],
        timeout: Duration,
    ) -> std::io::Result<client::Answer> {
        let _slot = slots.acquire().await.map_err(std::io::Error::other)?;
        let mut conn = self.pool.take();
        let result = bench_http::exchange(&mut conn, self.target.addr, request, timeout).await;
        self.pool.give(conn);
        result
    }

    fn order_request(
        &self,
        authorization: &str,
        arrival: &Arrival,
        merchant: u64,
        key: &str,
        ticket: Option<&str>,
    ) -> Vec<u8> {
        let options: Vec<String> =
            arrival.line.options.iter().map(|option| option.get().to_string()).collect();
        let body = format!(
            r#"{{"campaign_id":"{}","merchant_id":"mer_{}","line_items":[{{"id":"{}","quantity":{},"options":[{}]}}]}}"#,
            self.campaign,
            OUTLET_ID_BASE + merchant,
            arrival.line.item,
            arrival.line.quantity,
            options.join(",")
        );
        let mut headers = vec![
            ("authorization", authorization),
            ("idempotency-key", key),
            ("content-type", "application/json"),
        ];
        if let Some(ticket) = ticket {
            headers.push(("lantern-ticket", ticket));
        }
        client::request("POST", "/v1/coupon_orders", &headers, body.as_bytes())
    }
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// One shopper's order, from the first try to an order or giving up.
async fn shopper(shared: &Shared, arrival: Arrival) {
    if let Ok(mut seen) = shared.seen.lock() {
        seen.n_orders_tried += 1;
    }
    let arrival = Arrival {
        shopper: surge_shopper(arrival.shopper),
        referred_by: arrival.referred_by.map(surge_shopper),
        ..arrival
    };
    let authorization = shared.shopper_token(arrival.shopper);
    if let Some(referrer) = arrival.referred_by {
        referral_claim(shared, &authorization, &arrival, referrer).await;
    }
    let mut merchant = arrival.merchant.get();
    let (mut attempt, mut busy_answers, mut switches, mut tickets) = (0u32, 0u32, 0u32, 0u32);
    // The first nearby shop the gateway offered in its last busy answer.
    let mut offered: Option<u64> = None;
    let mut ticket: Option<String> = None;
    let mut first_try = true;
    if arrival.channel == Channel::Chat {
        // Through the agent first; a chat that ends without an order sends the shopper to the
        // promotion page (the coupon-order request below), as a retry.
        let sent_minute = shared.minute_now();
        let began = Instant::now();
        let answer = chat_order(shared, &authorization, &arrival).await;
        shared.record(sent_minute, true, answer, began.elapsed());
        if answer == Answer::Admitted {
            return;
        }
        first_try = false;
        attempt = 1;
    }
    loop {
        // A new outlet is a new request, so it gets a new key; a repeat (a lost answer, a
        // ticket) keeps the key and the body, so it can never place twice.
        let key = format!("surge-{}-{switches}", arrival.index);
        let request = shared.order_request(&authorization, &arrival, merchant, &key, ticket.as_deref());
        let began = Instant::now();
        let sent_minute = shared.minute_now();
        let result = shared.exchange(&request, REQUEST_TIMEOUT).await;
        let latency = began.elapsed();
        // The gateway's Retry-After is in its time, the wall clock's, not the simulated clock's.
        let mut retry_after_wall_ms = 0;
        let refusal = match result {
            Ok(answer) => match bench_http::classify(&answer) {
                Verdict::Ordered => {
                    shared.record(sent_minute, first_try, Answer::Admitted, latency);
                    if let Ok(mut recorder) = shared.recorder.lock() {
                        recorder.record_completed(shared.minute_now());
                    }
                    acknowledge(shared, &arrival, &answer.body);
                    return;
                }
                Verdict::Queued { ticket: given, poll_url, position, .. } => {
                    shared.record(sent_minute, first_try, Answer::Queued, latency);
                    first_try = false;
                    tickets += 1;
                    let waited = Instant::now();
                    if tickets <= TICKETS_PER_ORDER_MAX && wait_turn(shared, &poll_url, position).await {
                        if let Ok(mut recorder) = shared.recorder.lock() {
                            recorder.record_wait(shared.minute_now(), micros(waited.elapsed()));
                        }
                        ticket = Some(given);
                        continue;
                    }
                    give_up(shared);
                    return;
                }
                Verdict::Reason(code) => {
                    let (answer, refusal) = match code.as_str() {
                        "merchant_busy" | "merchant_paused" => {
                            offered = offered_outlet(&answer.body);
                            (Answer::Busy, Refusal::ShopBusy)
                        }
                        "budget_exhausted" => (Answer::BudgetExhausted, Refusal::BudgetExhausted),
                        "rate_limited" | "overloaded" | "waiting_room_full" | "timeout" => {
                            retry_after_wall_ms = retry_after_ms(&answer.body);
                            (Answer::Shed, Refusal::TryLater { retry_after_ms: 1_000 })
                        }
                        _ => (Answer::Failed, Refusal::Final),
                    };
                    shared.record(sent_minute, first_try, answer, latency);
                    refusal
                }
                Verdict::NoReason => {
                    if answer.status >= 500 {
                        unanswered(shared);
                    }
                    shared.record(sent_minute, first_try, Answer::Failed, latency);
                    Refusal::TryLater { retry_after_ms: 1_000 }
                }
            },
            Err(_) => {
                unanswered(shared);
                shared.record(sent_minute, first_try, Answer::Failed, latency);
                Refusal::TryLater { retry_after_ms: 1_000 }
            }
        };
        first_try = false;
        ticket = None;
        attempt += 1;
        busy_answers += u32::from(refusal == Refusal::ShopBusy);
        let Some(next) = shared.workload.next_try(&arrival, attempt, busy_answers, refusal) else {
            give_up(shared);
            return;
        };
        if next.switch_shop {
            // The nearby shop the gateway offered, as a shopper would take it; else any.
            let to_offered = offered.is_some();
            merchant =
                offered.take().unwrap_or_else(|| shared.workload.other_outlet(&arrival, attempt).get());
            if let Ok(mut recorder) = shared.recorder.lock() {
                recorder.record_switch(shared.minute_now(), to_offered);
            }
            switches += 1;
            busy_answers = 0;
        }
        let backoff = Duration::from_secs_f64(next.delay_ms as f64 / 1_000.0 / shared.compression);
        tokio::time::sleep(backoff.max(Duration::from_millis(retry_after_wall_ms))).await;
    }
}

/// The first surge outlet among a busy answer's `alternatives` (the gateway lists the faster
/// shops of the menu nearby, best first; the demo's shops, which the surge does not order from,
/// are passed over).
fn offered_outlet(body: &[u8]) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Alternative {
        id: String,
    }
    #[derive(serde::Deserialize)]
    struct Busy {
        #[serde(default)]
        alternatives: Vec<Alternative>,
    }
    let busy = serde_json::from_slice::<Busy>(body).ok()?;
    busy.alternatives.iter().find_map(|shop| {
        let id = lantern_core::MerchantId::parse(&shop.id).ok()?.get();
        id.checked_sub(OUTLET_ID_BASE).filter(|outlet| *outlet >= 1)
    })
}

/// The `retry_after_ms` of a refusal's body (0 when it has none).
fn retry_after_ms(body: &[u8]) -> u64 {
    #[derive(serde::Deserialize)]
    struct RetryAfter {
        #[serde(default)]
        retry_after_ms: u64,
    }
    serde_json::from_slice::<RetryAfter>(body).map_or(0, |refusal| refusal.retry_after_ms)
}

fn give_up(shared: &Shared) {
    if let Ok(mut recorder) = shared.recorder.lock() {
        recorder.record_gave_up(shared.minute_now());
    }
}

fn unanswered(shared: &Shared) {
    if let Ok(mut seen) = shared.seen.lock() {
        seen.n_unanswered += 1;
    }
}

/// One chat conversation (`POST /v1/chat`, JSON): claim, the drink, checkout, "yes". Admitted
/// when the agent placed the order (then read back with `GET /v1/orders/{id}` for the audit),
/// busy when a shop was busy, shed when admission turned a message away, failed without a proper
/// answer, else unfinished (every message answered, no order: the shopper goes on by the API).
async fn chat_order(shared: &Shared, authorization: &str, arrival: &Arrival) -> Answer {
    let session = format!("surge-{}", arrival.index);
    let mut busy = false;
    // The agent knows the demo's shops and every surge outlet: the shopper names their outlet.
    // (Unnamed, every chat went to the first shop with the drink, a demo shop whose kitchen was
    // full within seconds, so 40 of 20,000 chats ordered.)
    let shop = outlet_name(arrival.merchant.get());
    // The demo's campaigns are open beside the surge's: the shopper says which, by its code.
    let campaign = shared.campaign.to_string();
    let messages = lantern_surge::chat_messages(arrival, Some(&shop), Some(&campaign));
    let (mut next, mut reconfirms) = (0, 0);
    while let Some(message) = messages.get(next) {
        let body = serde_json::json!({ "message": message, "session_id": session }).to_string();
        let request = client::request(
            "POST",
            "/v1/chat",
            &[("authorization", authorization), ("content-type", "application/json")],
            body.as_bytes(),
        );
        let Ok(answer) = shared.exchange(&request, REQUEST_TIMEOUT).await else {
            return Answer::Failed;
        };
        if answer.status == 429 || answer.status == 503 {
            return if matches!(bench_http::classify(&answer), Verdict::NoReason) {
                Answer::Failed
            } else {
                Answer::Shed
            };
        }
        let Ok(turn) = serde_json::from_slice::<serde_json::Value>(&answer.body) else {
            return Answer::Failed;
        };
        let has_event = |kind: &str| {
            turn["events"].as_array().is_some_and(|events| events.iter().any(|event| event["type"] == kind))
        };
        busy |= has_event("busy");
        if let Some(order) = turn["done"]["order_id"].as_str() {
            // The chat said the order is placed, so the shopper will not order again, whether or
            // not its read-back (a browse request, turned away first under load) succeeds.
            if let Some(body) = read_back_order(shared, authorization, order).await {
                acknowledge(shared, arrival, &body);
            } else {
                // Placed, but its acknowledgement could not be read back: an answer lost.
                unanswered(shared);
            }
            if let Ok(mut recorder) = shared.recorder.lock() {
                let minute = shared.minute_now();
                recorder.record_completed(minute);
                recorder.record_chat_order(minute);
            }
            return Answer::Admitted;
        }
        next += 1;
        // The "yes" met a quote that can no longer be placed, and a fresh one: say it again.
        if next == messages.len() && has_event("quote") && reconfirms < lantern_surge::CHAT_RECONFIRMS_MAX {
            next -= 1;
            reconfirms += 1;
        }
    }
    if busy { Answer::Busy } else { Answer::ChatUnfinished }
}

/// `GET /v1/orders/{order}`'s body. A browse request, it may be turned away under load: with a
/// ticket it waits its turn and asks again with the ticket, otherwise it asks again at the
/// refusal's `Retry-After` (at least [`READ_BACK_RETRY_MS_MIN`]); at most [`READ_BACK_TRIES_MAX`]
/// asks.
async fn read_back_order(shared: &Shared, authorization: &str, order: &str) -> Option<Vec<u8>> {
    let path = format!("/v1/orders/{order}");
    let mut ticket: Option<String> = None;
    for _ in 0..READ_BACK_TRIES_MAX {
        let mut headers = vec![("authorization", authorization)];
        if let Some(ticket) = ticket.as_deref() {
            headers.push(("lantern-ticket", ticket));
        }
        let request = client::request("GET", &path, &headers, b"");
        let answer = shared.exchange(&request, REQUEST_TIMEOUT).await.ok()?;
        match answer.status {
            200 => return Some(answer.body),
            429 | 503 => match bench_http::classify(&answer) {
                Verdict::Queued { ticket: given, poll_url, position, .. } => {
                    if !wait_turn(shared, &poll_url, position).await {
                        return None;
                    }
                    ticket = Some(given);
                }
                _ => {
                    let wait_ms = retry_after_ms(&answer.body).max(READ_BACK_RETRY_MS_MIN);
                    tokio::time::sleep(Duration::from_millis(wait_ms)).await;
                    ticket = None;
                }
            },
            _ => return None,
        }
    }
    None
}

/// Records an order the gateway acknowledged (201), as the audit will look for it.
fn acknowledge(shared: &Shared, arrival: &Arrival, body: &[u8]) {
    #[derive(serde::Deserialize)]
    struct Placed {
        id: String,
        total: i64,
        #[serde(default)]
        coupon_id: Option<String>,
    }
    let parsed = serde_json::from_slice::<Placed>(body).ok().and_then(|placed| {
        let order = OrderId::parse(&placed.id).ok()?;
        let coupon = match placed.coupon_id.as_deref() {
            Some(text) => Some(parse_coupon(text)?),
            None => None,
        };
        Some((order, coupon, Money::from_fen(placed.total)))
    });
    if let Ok(mut seen) = shared.seen.lock() {
        match parsed {
            Some((order, coupon, total)) => seen.acks.push(order, arrival.shopper, coupon, total),
            // A 201 whose body cannot be read: the audit cannot look for it, so it counts as
            // an answer lost.
            None => seen.n_unanswered += 1,
        }
    }
}

/// The gateway's id of the workload's shopper `shopper` (see [`SHOPPER_ID_BASE`]).
fn surge_shopper(shopper: ShopperId) -> ShopperId {
    ShopperId::new(SHOPPER_ID_BASE + shopper.get())
}

/// `cpn_<campaign>_<shopper>_<ordinal>`.
fn parse_coupon(text: &str) -> Option<CouponId> {
    let mut parts = text.strip_prefix("cpn_")?.split('_');
    let campaign = CampaignId::new(parts.next()?.parse().ok()?);
    let shopper = ShopperId::new(parts.next()?.parse().ok()?);
    let ordinal = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some(CouponId { campaign, shopper, ordinal })
}

/// A referred shopper claims first, naming the referrer (who earns a bonus coupon).
async fn referral_claim(shared: &Shared, authorization: &str, arrival: &Arrival, referrer: ShopperId) {
    let key = format!("surge-claim-{}", arrival.index);
    let body = format!(r#"{{"referred_by":"{referrer}"}}"#);
    let path = format!("/v1/campaigns/{}/claim", shared.campaign);
    let request = client::request(
        "POST",
        &path,
        &[
            ("authorization", authorization),
            ("idempotency-key", key.as_str()),
            ("content-type", "application/json"),
        ],
        body.as_bytes(),
    );
    // Its answer does not matter to the order: a refused claim leaves the order to claim.
    let _ = shared.exchange(&request, REQUEST_TIMEOUT).await;
}

/// Long-polls a ticket until it is admitted (true), or gone or past the polls allowed (false).
async fn wait_turn(shared: &Shared, poll_url: &str, mut position: u64) -> bool {
    for _ in 0..POLLS_PER_TICKET_MAX {
        let path = format!("{poll_url}?wait_ms={POLL_WAIT_MS}&position={position}");
        let request = client::request("GET", &path, &[], b"");
        let timeout = REQUEST_TIMEOUT + Duration::from_millis(POLL_WAIT_MS);
        let status = shared
            .exchange_in(&shared.polls, &request, timeout)
            .await
            .ok()
            .filter(|answer| answer.status == 200)
            .and_then(|answer| serde_json::from_slice::<TicketStatus>(&answer.body).ok());
        match status.as_ref().map(|status| status.status.as_str()) {
            Some("admitted") => return true,
            Some("waiting") => position = status.map_or(position, |status| status.position),
            _ => return false,
        }
    }
    false
}

async fn operator_post(
    target: &Target,
    conn: &mut Option<Conn>,
    path: &str,
    key: &str,
    body: &str,
) -> anyhow::Result<Vec<u8>> {
    let authorization = format!("Bearer {}", target.token(Role::Operator));
    let request = client::request(
        "POST",
        path,
        &[
            ("authorization", authorization.as_str()),
            ("idempotency-key", key),
            ("content-type", "application/json"),
        ],
        body.as_bytes(),
    );
    let answer = bench_http::exchange(conn, target.addr, &request, REQUEST_TIMEOUT)
        .await
        .with_context(|| format!("POST {path}"))?;
    anyhow::ensure!(
        answer.status == 201 || answer.status == 200,
        "POST {path}: {} {}",
        answer.status,
        String::from_utf8_lossy(&answer.body)
    );
    Ok(answer.body)
}

/// The profile's campaign, valid from a minute ago for a day.
async fn create_campaign(target: &Target, workload: &Workload) -> anyhow::Result<CampaignId> {
    let campaign = &workload.profile().campaign;
    let now = SystemClock.now();
    let body = serde_json::json!({
        "name": format!("surge {}", workload.profile().name),
        "budget": Money::from_yuan(campaign.budget_yuan).fen(),
        "template": "amount_off",
        "amount": Money::from_yuan(campaign.coupon_yuan).fen(),
        "per_shopper_limit": campaign.per_shopper_limit,
        "referral_bonus_cap": campaign.referral_bonus_cap,
        "starts_at": lantern_core::Timestamp::from_ms(now.unix_ms().saturating_sub(MINUTE_MS)).to_string(),
        "ends_at": now.plus_ms(24 * 60 * 60 * 1000).to_string(),
    });
    let mut conn = None;
    let key = format!("surge-campaign-{}", now.unix_ms());
    let answer = operator_post(target, &mut conn, "/v1/campaigns", &key, &body.to_string()).await?;
    let created: serde_json::Value =
        serde_json::from_slice(&answer).context("the campaign answer is not JSON")?;
    let id = created["id"]
        .as_str()
        .or_else(|| created["campaign"]["id"].as_str())
        .context("the campaign answer has no id")?;
    CampaignId::parse(id).map_err(|error| anyhow::anyhow!("campaign id {id}: {error}"))
}

/// Registers every outlet with its profile capacity, its rate scaled by `compression`.
async fn register_surge_outlets(
    target: &Target,
    workload: &Workload,
    compression: f64,
) -> anyhow::Result<()> {
    let outlets = workload.profile().merchants.outlets;
    let backlog_minutes = workload.profile().merchants.backlog_minutes;
    let next = AtomicU64::new(1);
    let bar = super::progress_bar(outlets);
    let workers = (0..REGISTER_CONNECTIONS).map(|_| async {
        let mut conn = None;
        loop {
            let outlet = next.fetch_add(1, Ordering::Relaxed);
            if outlet > outlets {
                return anyhow::Ok(());
            }
            let capacity = workload.capacity(lantern_core::MerchantId::new(outlet));
            let rate = ((f64::from(capacity.orders_per_minute()) * compression).round() as u64)
                .clamp(1, u64::from(lantern_core::ORDERS_PER_MINUTE_MAX));
            let backlog = (rate * u64::from(backlog_minutes)).min(u64::from(lantern_core::OPEN_ORDERS_MAX));
            let id = OUTLET_ID_BASE + outlet;
            let name = outlet_name(outlet);
            let place = workload.location(lantern_core::MerchantId::new(outlet));
            let (lat, lon) = (place.lat(), place.lon());
            let body = format!(
                r#"{{"id":"mer_{id}","name":"{name}","catalog_id":"cat_1","orders_per_minute":{rate},"open_orders_max":{backlog},"location":{{"lat":{lat:.6},"lon":{lon:.6}}}}}"#
            );
            operator_post(target, &mut conn, "/v1/merchants", &format!("surge-outlet-{id}"), &body).await?;
            if let Some(bar) = &bar {
                bar.inc(1);
            }
        }
    });
    futures_util::future::try_join_all(workers).await?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(())
}

/// Touches, then frees, as much of the generator's heap as the opening spike's shoppers will
/// take, on this thread, which spawns them. Memory the process has never used costs a page
/// fault and a zeroed page at first touch; left to the opening, the spike's tens of thousands
/// of new shopper tasks took this thread (and a core) for 400 ms of page faults, so the
/// arrivals went out late and the gateway sat idle while the clock ran. Freed, the pages stay
/// with the allocator for the tasks to reuse.
fn warm_heap(workload: &Workload) {
    let opening_arrivals: u64 = workload.per_minute().iter().take(WARM_MINUTES).sum();
    let blocks = usize::try_from(opening_arrivals).unwrap_or(usize::MAX).min(SHOPPERS_ALIVE_MAX);
    let warm: Vec<Vec<u8>> = (0..blocks).map(|_| vec![1; SHOPPER_TASK_BYTES]).collect();
    drop(std::hint::black_box(warm));
}

/// Reads the campaign's budget burn once a simulated minute.
async fn record_gauges(shared: Arc<Shared>) {
    let minute_wall = Duration::from_secs_f64(60.0 / shared.compression).max(Duration::from_millis(50));
    loop {
        tokio::time::sleep(minute_wall).await;
        set_gauges(&shared).await;
    }
}

async fn set_gauges(shared: &Shared) {
    let minute = shared.minute_now().saturating_sub(1);
    let authorization = format!("Bearer {}", shared.target.token(Role::Operator));
    let path = format!("/v1/campaigns/{}/stats", shared.campaign);
    let request = client::request("GET", &path, &[("authorization", authorization.as_str())], b"");
    let mut conn = None;
    let given_out_fen =
        match bench_http::exchange(&mut conn, shared.target.addr, &request, REQUEST_TIMEOUT).await {
            Ok(answer) if answer.status == 200 => serde_json::from_slice::<serde_json::Value>(&answer.body)
                .ok()
                .and_then(|stats| Some(stats["budget_total"].as_i64()? - stats["budget_available"].as_i64()?))
                .unwrap_or(0),
            _ => 0,
        };
    let gauges = Gauges {
        given_out_fen,
        backlog_total: 0,
        backlog_max: 0,
        wall_ms: u64::try_from(shared.started.elapsed().as_millis()).unwrap_or(u64::MAX),
    };
    if let Ok(mut recorder) = shared.recorder.lock() {
        let minute = minute.min(recorder.minutes().len().saturating_sub(1) as u32);
        recorder.set_gauges(minute, gauges);
    }
}

/// Every minute's wall-clock end is where the schedule puts it (tries are recorded in the
/// minute they were sent, so rates per minute are over the scheduled span); minutes the gauge
/// reader missed (it runs late under load) keep the budget burn read before them.
fn fill_wall_times(shared: &Shared) {
    let Ok(mut recorder) = shared.recorder.lock() else { return };
    let mut previous = Gauges::default();
    for minute in 0..recorder.minutes().len() {
        let mut gauges = recorder.minutes()[minute].gauges;
        let scheduled_ms = (minute as f64 + 1.0) * MINUTE_MS as f64 / shared.compression;
        gauges.wall_ms = (scheduled_ms as u64).max(previous.wall_ms + 1);
        gauges.given_out_fen = gauges.given_out_fen.max(previous.given_out_fen);
        recorder.set_gauges(minute as u32, gauges);
        previous = gauges;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_answer_offers_the_first_surge_outlet_among_its_alternatives() {
        let busy = format!(
            r#"{{"code":"merchant_busy","alternatives":[{{"id":"mer_2","distance_m":300}},{{"id":"mer_{}"}},{{"id":"mer_{}"}}]}}"#,
            OUTLET_ID_BASE + 17,
            OUTLET_ID_BASE + 3
        );
        // The demo's mer_2 is passed over: the surge does not order there.
        assert_eq!(offered_outlet(busy.as_bytes()), Some(17));
        assert_eq!(offered_outlet(br#"{"code":"merchant_busy","alternatives":[]}"#), None);
        assert_eq!(offered_outlet(br#"{"code":"merchant_busy"}"#), None);
        assert_eq!(offered_outlet(br#"{"alternatives":[{"id":"not an id"}]}"#), None);
        assert_eq!(offered_outlet(b"<html>"), None);
    }
}
