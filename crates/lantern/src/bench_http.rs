//! `lantern bench http`: the gateway measured from outside, over loopback, with its own load
//! generator.
//!
//! The benchmark request is one `POST /v1/coupon_orders`: claim the campaign's coupon, quote the
//! cart with it and place the order, answered 201 only once all three are durable. Every order
//! comes from a fresh shopper (the campaign allows one coupon each) at one of the bench outlets
//! registered through `POST /v1/merchants` before the load.
//!
//! Four parts; the gateway is `lantern serve --demo`, started as a child process (one for parts 1
//! and 3, a second one for part 4), killed at the end with its temporary data directory:
//! 1. capacity: a closed loop of N connections sending orders back to back;
//! 2. the Redis peer (`../shared/peers/redis.sh`, Lua claim + order, `appendfsync always`) at the
//!    same concurrency, in the same run, for the ratio;
//! 3. overload: an open loop at a multiple of the measured capacity, at a fixed rate whatever
//!    the answers, with shoppers that do what the waiting room asks (poll the ticket, repeat the
//!    request with it once admitted);
//! 4. the waiting room's memory: a second server with a concurrency limit of 1, tens of
//!    thousands of shoppers queued, as many long polls held open as the open-file limit allows,
//!    and the server's resident memory before, with the tickets, and with the polls (so the cost
//!    of a ticket and of an open connection are measured apart).
//!
//! The generator is one tokio thread speaking HTTP/1.1 over raw keep-alive connections
//! ([`client`]), so that on a 2-core machine most of the CPU goes to the server.

// Throughput and latency figures are floats; money never is.
#![allow(clippy::float_arithmetic)]

pub(crate) mod client;
mod h2;
pub(crate) mod server;

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine as _;
use hdrhistogram::Histogram;
use lantern_auth::{Claims, Role, Signer};
use lantern_core::{ShopperId, Timestamp};
use lantern_sequencer::{Clock, SystemClock};
use serde::Deserialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use self::client::{Answer, Conn};
use self::server::Server;

/// The demo's Spring Festival campaign and a drink on the tea menu.
const CAMPAIGN_ID: &str = "cmp_1";
const CATALOG_ID: &str = "cat_1";
const ITEM_ID: &str = "itm_101";
/// Bench outlets are `mer_1001` onwards (the demo's own shops are `mer_1` to `mer_10`).
const OUTLET_FIRST: u64 = 1_001;
/// Bench outlets take as much as a shop may declare, so the ledger and the gateway, not the
/// shops' kitchens, are what is measured.
const OUTLET_ORDERS_PER_MINUTE: u32 = lantern_core::ORDERS_PER_MINUTE_MAX;
const OUTLET_OPEN_ORDERS: u32 = lantern_core::OPEN_ORDERS_MAX;
/// Tables of the load server are sized for this many orders up front (`expected_orders`), as an
/// operator sizes a node for a campaign.
const LOAD_SERVER_EXPECTED_ORDERS: u64 = 2_000_000;
/// The capacity run's first second warms connections and the limiter and is not counted.
const WARMUP: Duration = Duration::from_secs(1);
/// A request not answered within this is counted unanswered (the server's own deadline is 10 s).
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Most requests the overload generator keeps outstanding at once, i.e. open connections in use
/// (fresh orders, ticket polls and repeated orders together). An arrival due while all are in
/// use is not sent and is counted as "generator saturated". Well inside the open-file limit of
/// both processes (20,000 here).
const OVERLOAD_IN_FLIGHT_MAX: usize = 4_096;
/// The overload run's opening: its first burst of requests on new connections waits to be read
/// before admission decides anything, and a second p99 leaves it out.
const OVERLOAD_OPENING: Duration = Duration::from_secs(2);
/// After the overload window, outstanding shoppers get this long to finish before they are cut.
const OVERLOAD_DRAIN: Duration = Duration::from_secs(10);
/// A waiting shopper's long poll during overload: inside the ticket's idle lifetime (10 s), so
/// a shopper who keeps a poll open keeps the ticket alive. The gateway answers at once when
/// the ticket is promoted.
const OVERLOAD_POLL_WAIT_MS: u64 = 8_000;
/// Most waiting-room long polls the overload generator keeps open at once, apart from the
/// orders' connections (a shopper's phone holds its own): the checkout class's waiting room
/// (10,000) fits, and with [`OVERLOAD_IN_FLIGHT_MAX`] it stays inside the open-file limit.
const OVERLOAD_POLLS_MAX: usize = 12_000;
/// A shopper re-queued (its ticket lapsed) at most this many times before giving up.
const TICKET_ROUNDS_MAX: u32 = 3;
/// The waiting-room test's long polls, as the issue states them.
const WAITER_POLL_WAIT_MS: u64 = 20_000;
/// Open files kept spare below the soft limit, in each process, when sizing the waiters.
const FD_SPARE: u64 = 256;
/// Connections being opened at once (the server's accept backlog is 1,024).
const CONNECTS_AT_ONCE: usize = 256;
/// Concurrent requests that take the single slot of the waiting-room server.
const SLOT_GRAB_REQUESTS: usize = 64;
/// Latency histograms: 1 µs to 10 minutes, 2 significant digits.
const LATENCY_US_MAX: u64 = 600_000_000;
/// Bench tokens are valid this long.
const TOKEN_TTL_MS: u64 = 6 * 60 * 60 * 1000;
/// Targets of issue 3, printed beside the figures.
const TARGET_RATIO_VS_REDIS: f64 = 1.5;
const TARGET_GOODPUT_RATIO: f64 = 0.9;
const TARGET_OVERLOAD_P99_MS: f64 = 50.0;
const TARGET_WAITER_KIB: f64 = 10.0;

#[derive(Debug, clap::Args)]
pub struct HttpBenchArgs {
    /// Connections of the closed-loop capacity run (the Redis peer gets as many clients).
    #[arg(long, default_value_t = 50)]
    connections: usize,
    /// Seconds of the capacity run (after one second of warm-up).
    #[arg(long, default_value_t = 20)]
    duration_s: u64,
    /// The Redis peer script (Redis + Lua, appendfsync always).
    #[arg(long, default_value = "../shared/peers/redis.sh")]
    peer_redis: PathBuf,
    /// Do not run the Redis peer.
    #[arg(long)]
    skip_redis: bool,
    /// Requests the Redis peer makes.
    #[arg(long, default_value_t = 400_000)]
    redis_requests: u64,
    /// Offered load of the overload run, as a multiple of the measured capacity.
    #[arg(long, default_value_t = 10.0)]
    overload_factor: f64,
    /// Seconds of the overload run.
    #[arg(long, default_value_t = 60)]
    overload_s: u64,
    /// Most requests the overload generator keeps outstanding; arrivals beyond it are counted
    /// as "generator saturated", not sent.
    #[arg(long, default_value_t = OVERLOAD_IN_FLIGHT_MAX)]
    overload_in_flight_max: usize,
    /// In the overload run, do not follow waiting-room tickets (a queued shopper walks away).
    #[arg(long)]
    ignore_tickets: bool,
    /// Do not run the overload part.
    #[arg(long)]
    skip_overload: bool,
    /// Shoppers to queue in the waiting-room memory test.
    #[arg(long, default_value_t = 50_000)]
    waiters: u64,
    /// Do not run the waiting-room memory test.
    #[arg(long)]
    skip_waiting_room: bool,
    /// Hold the waiting room's long polls over HTTP/1.1, one connection each (bounded by the
    /// open-file limit), instead of HTTP/2 streams sharing connections.
    #[arg(long)]
    waiters_http1: bool,
    /// Bench outlets to register and spread the orders over.
    #[arg(long, default_value_t = 100)]
    outlets: u64,
    /// Extra environment for the load server (capacity and overload), KEY=VALUE, repeatable;
    /// e.g. LANTERN_ADMISSION__INITIAL_LIMIT=1024.
    #[arg(long = "server-env", value_name = "KEY=VALUE")]
    server_env: Vec<String>,
    /// Print every figure as one JSON object on the last line.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &HttpBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!((1..=10_000).contains(&args.connections), "--connections must be 1..=10000");
    anyhow::ensure!(
        args.duration_s > 0 && args.overload_s > 0,
        "--duration-s and --overload-s must be positive"
    );
    anyhow::ensure!((1..=100_000).contains(&args.outlets), "--outlets must be 1..=100000");
    anyhow::ensure!(
        args.overload_factor.is_finite() && args.overload_factor > 0.0,
        "--overload-factor must be positive"
    );
    anyhow::ensure!(args.overload_in_flight_max > 0, "--overload-in-flight-max must be positive");
    // The waiting room holds at most 1,000,000 tickets a class (room is left for 1,000 more).
    anyhow::ensure!(args.waiters <= 999_000, "--waiters must be at most 999000");
    let mut extra_env = Vec::new();
    for pair in &args.server_env {
        let (key, value) = pair.split_once('=').context("--server-env takes KEY=VALUE")?;
        extra_env.push((key.to_owned(), value.to_owned()));
    }
    let secret = random_secret()?;
    let signer = Signer::new(&secret).map_err(|error| anyhow::anyhow!("{error}"))?;
    let secret_text = base64::engine::general_purpose::STANDARD.encode(&secret);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let fd_limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| server::open_files_soft_limit(&text));

    println!(
        "lantern bench http: POST /v1/coupon_orders (claim + quote + place, 201 only when durable), fresh shopper each, over {} bench outlets",
        args.outlets
    );
    println!(
        "  load generator: one thread, raw HTTP/1.1 keep-alive connections; server: `lantern serve --demo` on loopback"
    );

    // ---- capacity and overload, against one server ---------------------------------------------
    let mut load_env = base_env(&secret_text);
    load_env.push(("LANTERN_EXPECTED_ORDERS".into(), LOAD_SERVER_EXPECTED_ORDERS.to_string()));
    load_env.extend(extra_env);
    let mut server = Server::start("bench-http", &load_env)?;
    let target = Arc::new(Target::new(server.addr, signer.clone(), args.outlets));
    runtime.block_on(async {
        wait_ready(server.addr).await?;
        register_outlets(&target, args.outlets).await
    })?;
    println!("  server {} (pid {}), {} outlets registered", server.addr, server.pid, args.outlets);
    let next_shopper = Arc::new(AtomicU64::new(1));
    println!("capacity: {} connections, closed loop, {} s", args.connections, args.duration_s);
    let cpu = CpuMeter::start(&server);
    let mut capacity = runtime.block_on(run_capacity(
        &target,
        &next_shopper,
        args.connections,
        Duration::from_secs(args.duration_s),
    ))?;
    capacity.cores = cpu.cores(&server);
    print_capacity(&capacity);
    anyhow::ensure!(
        capacity.orders > 0,
        "no order succeeded in the capacity run (answers {:?}); the server's log ends:\n{}",
        capacity.tally.by_code,
        server.log_tail()
    );

    let peer = if args.skip_redis {
        None
    } else {
        println!("redis peer: {} --fsync always --clients {}", args.peer_redis.display(), args.connections);
        match run_peer(&args.peer_redis, args.connections, args.redis_requests) {
            Ok(peer) => {
                println!(
                    "  {:.0} ops/s  p50 {:.2} ms  p99 {:.2} ms  invariants {}",
                    peer.ops_per_s,
                    peer.p50_ms,
                    peer.p99_ms,
                    if peer.invariants_ok { "ok" } else { "BROKEN" }
                );
                Some(peer)
            }
            Err(error) => {
                println!("  the redis peer failed, no ratio: {error:#}");
                None
            }
        }
    };

    let overload = if args.skip_overload {
        None
    } else {
        let rate = (capacity.orders_per_s * args.overload_factor).round().max(1.0) as u64;
        println!(
            "overload: {rate} orders/s offered ({}x capacity), open loop, {} s, at most {} requests outstanding{}",
            args.overload_factor,
            args.overload_s,
            args.overload_in_flight_max,
            if args.ignore_tickets { ", tickets ignored" } else { ", queued shoppers follow their tickets" }
        );
        let (warnings_before, log_bytes_before) = server.log_warnings();
        let plan = OverloadPlan {
            rate_per_s: rate,
            window: Duration::from_secs(args.overload_s),
            in_flight_max: args.overload_in_flight_max,
            follow_tickets: !args.ignore_tickets,
        };
        let mut figures = runtime.block_on(run_overload(&target, &server, &next_shopper, plan))?;
        let (warnings_after, log_bytes_after) = server.log_warnings();
        figures.server_warnings = warnings_after.saturating_sub(warnings_before);
        figures.server_log_bytes = log_bytes_after.saturating_sub(log_bytes_before);
        figures.capacity_per_s = capacity.orders_per_s;
        print_overload(&figures);
        Some(figures)
    };
    anyhow::ensure!(server.alive(), "the server died; its log ends:\n{}", server.log_tail());
    drop(server);

    // ---- the waiting room's memory, against a server with one slot ------------------------------
    let waiting = if args.skip_waiting_room || args.waiters == 0 {
        None
    } else {
        let mut env = base_env(&secret_text);
        for (key, value) in [
            ("LANTERN_ADMISSION__INITIAL_LIMIT", "1".to_owned()),
            ("LANTERN_ADMISSION__MIN_LIMIT", "1".to_owned()),
            ("LANTERN_ADMISSION__MAX_LIMIT", "1".to_owned()),
            ("LANTERN_WAITING_ROOM__CAPACITY", format!("[1000,{},1000,1000,1000]", args.waiters + 1_000)),
            ("LANTERN_WAITING_ROOM__TICKET_IDLE_TTL_MS", "3600000".to_owned()),
            ("LANTERN_WAITING_ROOM__ADMITTED_TTL_MS", "3600000".to_owned()),
            // The bench's shoppers never redeem: with the default grace the gateway would take
            // each promoted one for walked away and promote the next, and fewer would wait.
            ("LANTERN_WAITING_ROOM__RESERVATION_GRACE_MS", "3600000".to_owned()),
        ] {
            env.push((key.to_owned(), value));
        }
        let server = Server::start("bench-http-waiting", &env)?;
        let target = Arc::new(Target::new(server.addr, signer, 1));
        println!(
            "waiting room: server {} (pid {}) with a concurrency limit of 1; {} shoppers queued, then long polls (wait_ms {WAITER_POLL_WAIT_MS})",
            server.addr, server.pid, args.waiters
        );
        let figures = runtime.block_on(async {
            wait_ready(server.addr).await?;
            register_outlets(&target, 1).await?;
            run_waiting_room(&target, &server, args.waiters, args.connections, fd_limit, !args.waiters_http1)
                .await
        });
        let figures = match figures {
            Ok(figures) => figures,
            Err(error) => return Err(error.context(format!("the server's log ends:\n{}", server.log_tail()))),
        };
        print_waiting(&figures);
        Some(figures)
    };

    print_table(&capacity, peer.as_ref(), overload.as_ref(), waiting.as_ref());
    if args.json {
        print_json(args, &capacity, peer.as_ref(), overload.as_ref(), waiting.as_ref());
    }
    Ok(())
}

/// Environment every bench server gets: the shared secret (so the bench mints tokens) and no
/// per-IP limit (every shopper of the bench comes from 127.0.0.1).
pub(crate) fn base_env(secret_text: &str) -> Vec<(String, String)> {
    vec![
        ("LANTERN_SECRET".into(), secret_text.to_owned()),
        ("LANTERN_ADMISSION__IP_PER_SECOND".into(), "0".into()),
    ]
}

pub(crate) fn random_secret() -> anyhow::Result<Vec<u8>> {
    let mut secret = vec![0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut random| std::io::Read::read_exact(&mut random, &mut secret))
        .context("cannot read /dev/urandom for the bench secret")?;
    Ok(secret)
}

/// CPU used by the server and by this process over a part of the run, in cores.
#[derive(Debug)]
struct CpuMeter {
    started: Instant,
    server_s: f64,
    generator_s: f64,
    machine_s: f64,
}

impl CpuMeter {
    fn start(server: &Server) -> CpuMeter {
        CpuMeter {
            started: Instant::now(),
            server_s: server.cpu_s().unwrap_or(0.0),
            generator_s: server::cpu_s("self").unwrap_or(0.0),
            machine_s: server::machine_busy_s().unwrap_or(0.0),
        }
    }

    /// Cores used since `start` by the server, by this process, and by the whole machine
    /// (which adds the kernel's loopback network work and anything else running).
    fn cores(&self, server: &Server) -> Cores {
        let wall_s = self.started.elapsed().as_secs_f64().max(1e-3);
        let server_s = server.cpu_s().unwrap_or(0.0) - self.server_s;
        let generator_s = server::cpu_s("self").unwrap_or(0.0) - self.generator_s;
        let machine_s = server::machine_busy_s().unwrap_or(0.0) - self.machine_s;
        Cores { server: server_s / wall_s, generator: generator_s / wall_s, machine: machine_s / wall_s }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Cores {
    server: f64,
    generator: f64,
    machine: f64,
}

impl Cores {
    fn text(&self) -> String {
        format!(
            "CPU: server {:.2} cores, generator {:.2}, whole machine {:.2} busy of {}",
            self.server,
            self.generator,
            self.machine,
            std::thread::available_parallelism().map_or(0, std::num::NonZero::get)
        )
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_US_MAX, 2).expect("constant histogram bounds are valid")
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

fn quantile_ms(histogram: &Histogram<u64>, quantile: f64) -> f64 {
    if histogram.is_empty() { 0.0 } else { histogram.value_at_quantile(quantile) as f64 / 1000.0 }
}

// ---- requests -------------------------------------------------------------------------------

/// The server under test and what the bench signs for it.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) addr: SocketAddr,
    signer: Signer,
    issued_at: Timestamp,
    expires_at: Timestamp,
    outlets: u64,
}

impl Target {
    pub(crate) fn new(addr: SocketAddr, signer: Signer, outlets: u64) -> Target {
        let issued_at = SystemClock.now();
        Target { addr, signer, issued_at, expires_at: issued_at.plus_ms(TOKEN_TTL_MS), outlets }
    }

    pub(crate) fn token(&self, role: Role) -> String {
        self.signer.issue_token(&Claims { role, issued_at: self.issued_at, expires_at: self.expires_at })
    }

    /// Shopper `shopper`'s coupon order, at outlet `shopper mod outlets`; with the waiting
    /// room's ticket when repeated after admission (same key and body: the same request).
    fn order(&self, shopper: u64, ticket: Option<&str>) -> Vec<u8> {
        let authorization = format!("Bearer {}", self.token(Role::Shopper(ShopperId::new(shopper))));
        let key = format!("bench-{shopper}");
        let merchant = OUTLET_FIRST + shopper % self.outlets;
        let body = format!(
            r#"{{"campaign_id":"{CAMPAIGN_ID}","merchant_id":"mer_{merchant}","line_items":[{{"id":"{ITEM_ID}","quantity":1}}]}}"#
        );
        let mut headers = vec![
            ("authorization", authorization.as_str()),
            ("idempotency-key", key.as_str()),
            ("content-type", "application/json"),
        ];
        if let Some(ticket) = ticket {
            headers.push(("lantern-ticket", ticket));
        }
        client::request("POST", "/v1/coupon_orders", &headers, body.as_bytes())
    }
}

pub(crate) async fn wait_ready(addr: SocketAddr) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let request = client::request("GET", "/readyz", &[], b"");
    loop {
        if let Ok(mut conn) = Conn::connect(addr).await
            && let Ok(answer) = conn.send(&request).await
            && answer.status == 200
        {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "the server at {addr} was not ready within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Registers `mer_1001`.. as operator, each with its own Idempotency-Key.
pub(crate) async fn register_outlets(target: &Target, outlets: u64) -> anyhow::Result<()> {
    let mut conn = Conn::connect(target.addr).await?;
    let authorization = format!("Bearer {}", target.token(Role::Operator));
    for id in OUTLET_FIRST..OUTLET_FIRST + outlets {
        let body = format!(
            r#"{{"id":"mer_{id}","name":"Bench outlet {id}","catalog_id":"{CATALOG_ID}","orders_per_minute":{OUTLET_ORDERS_PER_MINUTE},"open_orders_max":{OUTLET_OPEN_ORDERS}}}"#
        );
        let key = format!("bench-outlet-{id}");
        let request = client::request(
            "POST",
            "/v1/merchants",
            &[
                ("authorization", authorization.as_str()),
                ("idempotency-key", key.as_str()),
                ("content-type", "application/json"),
            ],
            body.as_bytes(),
        );
        let answer = conn.send(&request).await.with_context(|| format!("registering mer_{id}"))?;
        anyhow::ensure!(
            answer.status == 201,
            "registering mer_{id}: {} {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
    }
    Ok(())
}

/// The operator's live statistics (`GET /v1/stats`).
async fn gateway_stats(conn: &mut Option<Conn>, target: &Target) -> Option<serde_json::Value> {
    let authorization = format!("Bearer {}", target.token(Role::Operator));
    let request = client::request("GET", "/v1/stats", &[("authorization", authorization.as_str())], b"");
    let answer = exchange(conn, target.addr, &request, REQUEST_TIMEOUT).await.ok()?;
    (answer.status == 200).then(|| serde_json::from_slice(&answer.body).ok()).flatten()
}

/// Checkout-class figures from `/v1/stats` (the class coupon orders are admitted in).
fn checkout_class(stats: &serde_json::Value) -> Option<&serde_json::Value> {
    stats["classes"].as_array()?.iter().find(|class| class["class"] == "checkout")
}

/// One request on `conn` (opened first if need be); a kept-alive connection the server has
/// closed meanwhile is replaced once.
pub(crate) async fn exchange(
    conn: &mut Option<Conn>,
    addr: SocketAddr,
    request: &[u8],
    timeout: Duration,
) -> io::Result<Answer> {
    let reused = conn.is_some();
    let result = send_on(conn, addr, request, timeout).await;
    match result {
        Err(error) if reused && is_stale(&error) => send_on(conn, addr, request, timeout).await,
        other => other,
    }
}

async fn send_on(
    conn: &mut Option<Conn>,
    addr: SocketAddr,
    request: &[u8],
    timeout: Duration,
) -> io::Result<Answer> {
    let mut open = match conn.take() {
        Some(open) => open,
        None => tokio::time::timeout(timeout, Conn::connect(addr))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??,
    };
    match tokio::time::timeout(timeout, open.send(request)).await {
        Ok(Ok(answer)) => {
            if open.reusable() {
                *conn = Some(open);
            }
            Ok(answer)
        }
        Ok(Err(error)) => Err(error),
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "no answer in time")),
    }
}

fn is_stale(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
    )
}

// ---- answers --------------------------------------------------------------------------------

/// What an answer to a coupon order says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Ordered,
    /// 429 `queued`, with a ticket and `Retry-After`.
    Queued {
        ticket: String,
        poll_url: String,
        position: u64,
        eta_ms: u64,
    },
    /// Refused with a `code` (and `Retry-After` where the status is 429 or 503).
    Reason(String),
    /// Refused without a ticket or a reason: what the gateway must never do.
    NoReason,
}

#[derive(Debug, Deserialize)]
struct RefusalBody {
    #[serde(default)]
    code: String,
    #[serde(default)]
    ticket: String,
    #[serde(default)]
    poll_url: String,
    #[serde(default)]
    position: u64,
    #[serde(default)]
    eta_ms: u64,
}

#[derive(Debug, Deserialize)]
pub(crate) struct TicketStatus {
    pub(crate) status: String,
    #[serde(default)]
    pub(crate) position: u64,
}

pub(crate) fn classify(answer: &Answer) -> Verdict {
    if answer.status == 201 {
        return Verdict::Ordered;
    }
    let Ok(body) = serde_json::from_slice::<RefusalBody>(&answer.body) else {
        return Verdict::NoReason;
    };
    let needs_retry_after = matches!(answer.status, 429 | 503);
    if answer.status == 429
        && body.code == "queued"
        && !body.ticket.is_empty()
        && !body.poll_url.is_empty()
        && answer.retry_after
    {
        return Verdict::Queued {
            ticket: body.ticket,
            poll_url: body.poll_url,
            position: body.position,
            eta_ms: body.eta_ms,
        };
    }
    if !body.code.is_empty() && body.code != "queued" && (answer.retry_after || !needs_retry_after) {
        return Verdict::Reason(body.code);
    }
    Verdict::NoReason
}

/// Answers counted by status and by reason.
#[derive(Debug, Default, Clone)]
struct Tally {
    by_status: BTreeMap<u16, u64>,
    /// Non-201 answers by `code` (`queued`, `waiting_room_full`, ...).
    by_code: BTreeMap<String, u64>,
    ordered: u64,
    /// 429 with a waiting-room ticket.
    with_ticket: u64,
    /// Other refusals with a code (and Retry-After on 429 and 503).
    with_reason: u64,
    /// Refusals lacking a ticket or a reason.
    without_reason: u64,
    errors_5xx: u64,
    /// Connection errors and timeouts: no answer at all.
    unanswered: u64,
}

impl Tally {
    fn record(&mut self, answer: &Answer, verdict: &Verdict) {
        *self.by_status.entry(answer.status).or_default() += 1;
        if answer.status >= 500 {
            self.errors_5xx += 1;
        }
        match verdict {
            Verdict::Ordered => self.ordered += 1,
            Verdict::Queued { .. } => {
                self.with_ticket += 1;
                *self.by_code.entry("queued".into()).or_default() += 1;
            }
            Verdict::Reason(code) => {
                self.with_reason += 1;
                *self.by_code.entry(code.clone()).or_default() += 1;
            }
            Verdict::NoReason => {
                self.without_reason += 1;
                *self.by_code.entry("(none)".into()).or_default() += 1;
            }
        }
    }

    fn merge(&mut self, other: &Tally) {
        for (status, count) in &other.by_status {
            *self.by_status.entry(*status).or_default() += count;
        }
        for (code, count) in &other.by_code {
            *self.by_code.entry(code.clone()).or_default() += count;
        }
        self.ordered += other.ordered;
        self.with_ticket += other.with_ticket;
        self.with_reason += other.with_reason;
        self.without_reason += other.without_reason;
        self.errors_5xx += other.errors_5xx;
        self.unanswered += other.unanswered;
    }

    fn turned_away(&self) -> u64 {
        self.with_ticket + self.with_reason
    }

    fn statuses_text(&self) -> String {
        let mut parts: Vec<String> =
            self.by_status.iter().map(|(status, count)| format!("{status}: {}", thousands(*count))).collect();
        if self.unanswered > 0 {
            parts.push(format!("unanswered: {}", thousands(self.unanswered)));
        }
        if parts.is_empty() { "none".into() } else { parts.join(", ") }
    }

    fn codes_text(&self) -> String {
        let parts: Vec<String> =
            self.by_code.iter().map(|(code, count)| format!("{code} {}", thousands(*count))).collect();
        if parts.is_empty() { "none".into() } else { parts.join(", ") }
    }
}

// ---- capacity -------------------------------------------------------------------------------

#[derive(Debug)]
pub(crate) struct CapacityFigures {
    connections: usize,
    seconds: f64,
    orders: u64,
    pub(crate) orders_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    tally: Tally,
    cores: Cores,
}

pub(crate) async fn run_capacity(
    target: &Arc<Target>,
    next_shopper: &Arc<AtomicU64>,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<CapacityFigures> {
    let started = Instant::now();
    let measure_from = started + WARMUP;
    let ends = measure_from + duration;
    let n_done = Arc::new(AtomicU64::new(0));
    let mut workers = JoinSet::new();
    for _ in 0..connections {
        let target = Arc::clone(target);
        let next_shopper = Arc::clone(next_shopper);
        let n_done = Arc::clone(&n_done);
        workers.spawn(async move {
            let mut tally = Tally::default();
            let mut latency = latency_histogram();
            let mut conn = None;
            while Instant::now() < ends {
                let shopper = next_shopper.fetch_add(1, Ordering::Relaxed);
                let request = target.order(shopper, None);
                let began = Instant::now();
                let result = exchange(&mut conn, target.addr, &request, REQUEST_TIMEOUT).await;
                let finished = Instant::now();
                if began < measure_from || finished > ends {
                    continue;
                }
                match result {
                    Ok(answer) => {
                        let verdict = classify(&answer);
                        if verdict == Verdict::Ordered {
                            latency.saturating_record(micros(finished - began));
                            n_done.fetch_add(1, Ordering::Relaxed);
                        }
                        tally.record(&answer, &verdict);
                    }
                    Err(_) => {
                        tally.unanswered += 1;
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            (tally, latency)
        });
    }
    let bar = progress_bar(duration.as_millis() as u64 + WARMUP.as_millis() as u64, "{bar:40} {msg}");
    while Instant::now() < ends {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let elapsed = started.elapsed();
        bar.set_position(elapsed.as_millis() as u64);
        let measured_s = elapsed.saturating_sub(WARMUP).as_secs_f64();
        let done = n_done.load(Ordering::Relaxed);
        if measured_s > 0.0 {
            bar.set_message(format!("{} orders  {:.0}/s", thousands(done), done as f64 / measured_s));
        }
    }
    let mut tally = Tally::default();
    let mut latency = latency_histogram();
    while let Some(joined) = workers.join_next().await {
        let (worker_tally, worker_latency) = joined.context("a capacity worker failed")?;
        tally.merge(&worker_tally);
        latency.add(&worker_latency).context("merging latencies")?;
    }
    bar.finish_and_clear();
    let seconds = duration.as_secs_f64();
    Ok(CapacityFigures {
        connections,
        seconds,
        orders: tally.ordered,
        orders_per_s: tally.ordered as f64 / seconds,
        p50_ms: quantile_ms(&latency, 0.50),
        p99_ms: quantile_ms(&latency, 0.99),
        tally,
        cores: Cores::default(),
    })
}

fn print_capacity(figures: &CapacityFigures) {
    println!(
        "  {} orders in {:.0} s: {:.0} durable orders/s  p50 {:.2} ms  p99 {:.2} ms  answers {}\n  {}",
        thousands(figures.orders),
        figures.seconds,
        figures.orders_per_s,
        figures.p50_ms,
        figures.p99_ms,
        figures.tally.statuses_text(),
        figures.cores.text()
    );
}

// ---- the redis peer -------------------------------------------------------------------------

#[derive(Debug)]
struct PeerFigures {
    ops_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    invariants_ok: bool,
}

fn run_peer(script: &Path, clients: usize, requests: u64) -> anyhow::Result<PeerFigures> {
    let output = std::process::Command::new("bash")
        .arg(script)
        .args(["--fsync", "always", "--clients", &clients.to_string(), "--requests", &requests.to_string()])
        .output()
        .with_context(|| format!("cannot run {}", script.display()))?;
    anyhow::ensure!(
        output.status.success(),
        "{} failed ({}): {}",
        script.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().context("the peer printed nothing")?;
    let report: serde_json::Value = serde_json::from_str(last).context("the peer's last line is not JSON")?;
    Ok(PeerFigures {
        ops_per_s: report["ops_per_s"].as_f64().context("the peer's report has no ops_per_s")?,
        p50_ms: report["p50_ms"].as_f64().unwrap_or(0.0),
        p99_ms: report["p99_ms"].as_f64().unwrap_or(0.0),
        invariants_ok: report["invariants_ok"].as_bool().unwrap_or(false),
    })
}

// ---- overload -------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
struct OverloadPlan {
    rate_per_s: u64,
    window: Duration,
    in_flight_max: usize,
    follow_tickets: bool,
}

/// Arrivals due `elapsed` into an open loop at `rate_per_s`: arrival k (from 0) is due at
/// k / rate seconds, whatever happened to the earlier ones.
fn arrivals_due(elapsed: Duration, rate_per_s: u64) -> u64 {
    let due = elapsed.as_nanos() * u128::from(rate_per_s) / 1_000_000_000 + 1;
    u64::try_from(due).unwrap_or(u64::MAX)
}

/// What the overload generator's shoppers share.
#[derive(Debug)]
struct Overload {
    target: Arc<Target>,
    plan: OverloadPlan,
    /// Idle kept-alive connections.
    pool: Mutex<Vec<Conn>>,
    /// One permit per outstanding order request.
    permits: Arc<Semaphore>,
    /// One permit per open waiting-room long poll.
    poll_permits: Arc<Semaphore>,
    window_ends: Instant,
    started: Instant,
    n_waiting: AtomicU64,
    stats: Mutex<OverloadStats>,
}

#[derive(Debug)]
struct OverloadStats {
    /// Every answer to an order (fresh or repeated with a ticket).
    tally: Tally,
    /// Orders answered 201 within the window, and their requests' latency.
    goodput_orders: u64,
    admitted_latency: Histogram<u64>,
    /// Every 201's request, less the time the gateway held it in line (`Lantern-Waited-Ms`):
    /// the time from admission to the answer.
    served_latency: Histogram<u64>,
    served_latency_after_opening: Histogram<u64>,
    /// Arrival to 201 for shoppers who went through the waiting room.
    waited_latency: Histogram<u64>,
    per_second: Vec<u64>,
    shoppers_ordered: u64,
    shoppers_ordered_after_waiting: u64,
    shoppers_refused: u64,
    shoppers_left_queue: u64,
    shoppers_gone: u64,
    shoppers_unanswered: u64,
    polls: u64,
    poll_errors: u64,
}

#[derive(Debug)]
struct OverloadFigures {
    plan: OverloadPlan,
    capacity_per_s: f64,
    offered: u64,
    sent: u64,
    saturated: u64,
    goodput_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    waited_p50_ms: f64,
    waited_p99_ms: f64,
    served_p50_ms: f64,
    served_p99_ms: f64,
    after_opening_p99_ms: f64,
    tally: Tally,
    per_second: Vec<u64>,
    shoppers_ordered: u64,
    shoppers_ordered_after_waiting: u64,
    shoppers_refused: u64,
    shoppers_left_queue: u64,
    shoppers_gone: u64,
    shoppers_unanswered: u64,
    still_waiting: u64,
    still_in_flight: u64,
    polls: u64,
    poll_errors: u64,
    /// Samples of `/v1/stats` every 5 s: (second, limit, in flight, checkout waiting, drain/s).
    gateway_samples: Vec<(u64, u64, u64, u64, u64)>,
    server_warnings: u64,
    server_log_bytes: u64,
    cores: Cores,
}

impl Overload {
    /// One request on a pooled connection (or a new one); the caller holds a permit.
    async fn exchange(&self, request: &[u8], timeout: Duration) -> io::Result<Answer> {
        let mut conn = lock(&self.pool).pop();
        let result = exchange(&mut conn, self.target.addr, request, timeout).await;
        if let Some(conn) = conn {
            lock(&self.pool).push(conn);
        }
        result
    }

    async fn permit(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.permits).acquire_owned().await.ok()
    }

    /// One shopper: the order, and while it is queued, the ticket's polls and the repeat.
    async fn shopper(self: Arc<Overload>, shopper: u64, first_permit: OwnedSemaphorePermit) {
        let arrived = Instant::now();
        let mut request = self.target.order(shopper, None);
        let mut permit = Some(first_permit);
        let mut rounds = 0;
        loop {
            let held = match permit.take() {
                Some(held) => held,
                None => match self.permit().await {
                    Some(held) => held,
                    None => return,
                },
            };
            let began = Instant::now();
            let result = self.exchange(&request, REQUEST_TIMEOUT).await;
            drop(held);
            let finished = Instant::now();
            let answer = match result {
                Ok(answer) => answer,
                Err(_) => {
                    let mut stats = lock(&self.stats);
                    stats.tally.unanswered += 1;
                    stats.shoppers_unanswered += 1;
                    return;
                }
            };
            let verdict = classify(&answer);
            {
                let mut stats = lock(&self.stats);
                stats.tally.record(&answer, &verdict);
                match &verdict {
                    Verdict::Ordered => {
                        // Waited: came back with a ticket, or waited in line in the gateway.
                        let waited = rounds > 0 || answer.waited_ms > 0;
                        stats.shoppers_ordered += 1;
                        if waited {
                            stats.shoppers_ordered_after_waiting += 1;
                        }
                        if finished <= self.window_ends {
                            stats.goodput_orders += 1;
                            let held = Duration::from_millis(answer.waited_ms);
                            let served_us = micros((finished - began).saturating_sub(held));
                            stats.served_latency.saturating_record(served_us);
                            if began.duration_since(self.started) >= OVERLOAD_OPENING {
                                stats.served_latency_after_opening.saturating_record(served_us);
                            }
                            if waited {
                                stats.waited_latency.saturating_record(micros(finished - arrived));
                            } else {
                                stats.admitted_latency.saturating_record(micros(finished - began));
                            }
                            let second = (finished - self.started).as_secs() as usize;
                            if let Some(count) = stats.per_second.get_mut(second) {
                                *count += 1;
                            }
                        }
                    }
                    Verdict::Queued { .. } => {}
                    Verdict::Reason(_) | Verdict::NoReason => stats.shoppers_refused += 1,
                }
            }
            let Verdict::Queued { ticket, poll_url, position, .. } = verdict else { return };
            if !self.plan.follow_tickets || rounds >= TICKET_ROUNDS_MAX {
                lock(&self.stats).shoppers_left_queue += 1;
                return;
            }
            rounds += 1;
            self.n_waiting.fetch_add(1, Ordering::Relaxed);
            let admitted = self.wait_turn(&poll_url, position).await;
            self.n_waiting.fetch_sub(1, Ordering::Relaxed);
            if !admitted {
                return;
            }
            request = self.target.order(shopper, Some(&ticket));
        }
    }

    /// Polls the ticket until it is admitted (true) or gone or unanswerable (false).
    async fn wait_turn(&self, poll_url: &str, mut position: u64) -> bool {
        loop {
            let Ok(held) = Arc::clone(&self.poll_permits).acquire_owned().await else { return false };
            let path = format!("{poll_url}?wait_ms={OVERLOAD_POLL_WAIT_MS}&position={position}");
            let request = client::request("GET", &path, &[], b"");
            let timeout = REQUEST_TIMEOUT + Duration::from_millis(OVERLOAD_POLL_WAIT_MS);
            let result = self.exchange(&request, timeout).await;
            drop(held);
            let status = result
                .ok()
                .filter(|answer| answer.status == 200)
                .and_then(|answer| serde_json::from_slice::<TicketStatus>(&answer.body).ok());
            let mut stats = lock(&self.stats);
            stats.polls += 1;
            let Some(status) = status else {
                stats.poll_errors += 1;
                stats.shoppers_unanswered += 1;
                return false;
            };
            match status.status.as_str() {
                "admitted" => return true,
                "waiting" => position = status.position,
                _ => {
                    stats.shoppers_gone += 1;
                    return false;
                }
            }
        }
    }
}

async fn run_overload(
    target: &Arc<Target>,
    server: &Server,
    next_shopper: &Arc<AtomicU64>,
    plan: OverloadPlan,
) -> anyhow::Result<OverloadFigures> {
    let cpu = CpuMeter::start(server);
    let started = Instant::now();
    let window_secs = usize::try_from(plan.window.as_secs()).unwrap_or(usize::MAX);
    let overload = Arc::new(Overload {
        target: Arc::clone(target),
        plan,
        pool: Mutex::new(Vec::new()),
        permits: Arc::new(Semaphore::new(plan.in_flight_max)),
        poll_permits: Arc::new(Semaphore::new(OVERLOAD_POLLS_MAX)),
        window_ends: started + plan.window,
        started,
        n_waiting: AtomicU64::new(0),
        stats: Mutex::new(OverloadStats {
            tally: Tally::default(),
            goodput_orders: 0,
            admitted_latency: latency_histogram(),
            served_latency: latency_histogram(),
            served_latency_after_opening: latency_histogram(),
            waited_latency: latency_histogram(),
            per_second: vec![0; window_secs + 1],
            shoppers_ordered: 0,
            shoppers_ordered_after_waiting: 0,
            shoppers_refused: 0,
            shoppers_left_queue: 0,
            shoppers_gone: 0,
            shoppers_unanswered: 0,
            polls: 0,
            poll_errors: 0,
        }),
    });
    // The gateway's own view, every 5 s, on a connection of its own.
    let samples = Arc::new(Mutex::new(Vec::new()));
    let monitor = {
        let target = Arc::clone(target);
        let samples = Arc::clone(&samples);
        tokio::spawn(async move {
            let mut conn = None;
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let Some(stats) = gateway_stats(&mut conn, &target).await else { continue };
                let checkout = checkout_class(&stats);
                lock(&samples).push((
                    started.elapsed().as_secs(),
                    stats["concurrency_limit"].as_u64().unwrap_or(0),
                    stats["in_flight"].as_u64().unwrap_or(0),
                    checkout.and_then(|class| class["waiting"].as_u64()).unwrap_or(0),
                    stats["drain_per_s"].as_u64().unwrap_or(0),
                ));
            }
        })
    };
    let bar = progress_bar(plan.window.as_millis() as u64, "{bar:40} {msg}");
    let mut shoppers = JoinSet::new();
    let mut launched = 0u64;
    let mut saturated = 0u64;
    let mut last_drawn = Instant::now();
    loop {
        let elapsed = started.elapsed();
        if elapsed >= plan.window {
            break;
        }
        let due = arrivals_due(elapsed, plan.rate_per_s);
        while launched < due {
            launched += 1;
            match Arc::clone(&overload.permits).try_acquire_owned() {
                Ok(permit) => {
                    let shopper = next_shopper.fetch_add(1, Ordering::Relaxed);
                    shoppers.spawn(Arc::clone(&overload).shopper(shopper, permit));
                }
                Err(_) => saturated += 1,
            }
        }
        while shoppers.try_join_next().is_some() {}
        if last_drawn.elapsed() >= Duration::from_millis(250) {
            last_drawn = Instant::now();
            bar.set_position(elapsed.as_millis() as u64);
            let goodput = lock(&overload.stats).goodput_orders;
            let secs = elapsed.as_secs_f64().max(1e-3);
            bar.set_message(format!(
                "sent {:.0}/s  201 {:.0}/s  saturated {}  waiting {}  outstanding {}",
                (launched - saturated) as f64 / secs,
                goodput as f64 / secs,
                thousands(saturated),
                thousands(overload.n_waiting.load(Ordering::Relaxed)),
                thousands(shoppers.len() as u64)
            ));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // CPU over the window only, not the drain.
    let cores = cpu.cores(server);
    bar.set_message("draining");
    let drain_ends = tokio::time::Instant::now() + OVERLOAD_DRAIN;
    while !shoppers.is_empty() {
        match tokio::time::timeout_at(drain_ends, shoppers.join_next()).await {
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let still_waiting = overload.n_waiting.load(Ordering::Relaxed);
    let still_outstanding = shoppers.len() as u64;
    shoppers.shutdown().await;
    monitor.abort();
    bar.finish_and_clear();
    lock(&overload.pool).clear();
    let stats = lock(&overload.stats);
    let sent = launched - saturated;
    let gateway_samples = lock(&samples).clone();
    Ok(OverloadFigures {
        plan,
        capacity_per_s: 0.0,
        offered: launched,
        sent,
        saturated,
        goodput_per_s: stats.goodput_orders as f64 / plan.window.as_secs_f64(),
        p50_ms: quantile_ms(&stats.admitted_latency, 0.50),
        p99_ms: quantile_ms(&stats.admitted_latency, 0.99),
        waited_p50_ms: quantile_ms(&stats.waited_latency, 0.50),
        waited_p99_ms: quantile_ms(&stats.waited_latency, 0.99),
        served_p50_ms: quantile_ms(&stats.served_latency, 0.50),
        served_p99_ms: quantile_ms(&stats.served_latency, 0.99),
        after_opening_p99_ms: quantile_ms(&stats.served_latency_after_opening, 0.99),
        tally: stats.tally.clone(),
        per_second: stats.per_second.clone(),
        shoppers_ordered: stats.shoppers_ordered,
        shoppers_ordered_after_waiting: stats.shoppers_ordered_after_waiting,
        shoppers_refused: stats.shoppers_refused,
        shoppers_left_queue: stats.shoppers_left_queue,
        shoppers_gone: stats.shoppers_gone,
        shoppers_unanswered: stats.shoppers_unanswered,
        still_waiting,
        still_in_flight: still_outstanding.saturating_sub(still_waiting),
        polls: stats.polls,
        poll_errors: stats.poll_errors,
        gateway_samples,
        server_warnings: 0,
        server_log_bytes: 0,
        cores,
    })
}

impl OverloadFigures {
    fn goodput_ratio(&self) -> f64 {
        if self.capacity_per_s > 0.0 { self.goodput_per_s / self.capacity_per_s } else { 0.0 }
    }
}

fn print_overload(figures: &OverloadFigures) {
    let secs = figures.plan.window.as_secs_f64();
    println!(
        "  offered {} ({:.0}/s), sent {} ({:.0}/s), generator saturated {} (more than {} outstanding)",
        thousands(figures.offered),
        figures.offered as f64 / secs,
        thousands(figures.sent),
        figures.sent as f64 / secs,
        thousands(figures.saturated),
        figures.plan.in_flight_max
    );
    println!(
        "  goodput {:.0} orders/s = {:.2} of capacity; admitted at once p50 {:.2} ms p99 {:.2} ms; through the waiting room (held in the gateway or with a ticket) {} shoppers, arrival to order p50 {:.0} ms p99 {:.0} ms",
        figures.goodput_per_s,
        figures.goodput_ratio(),
        figures.p50_ms,
        figures.p99_ms,
        thousands(figures.shoppers_ordered_after_waiting),
        figures.waited_p50_ms,
        figures.waited_p99_ms
    );
    println!(
        "  admitted requests, from admission to answer (time held in line excluded, by Lantern-Waited-Ms): p50 {:.2} ms p99 {:.2} ms (sent from second 2 on: p99 {:.2} ms)",
        figures.served_p50_ms, figures.served_p99_ms, figures.after_opening_p99_ms
    );
    println!("  answers {}", figures.tally.statuses_text());
    println!("  refusal codes {}", figures.tally.codes_text());
    println!(
        "  shoppers: ordered {}, refused {}, left the queue {}, ticket gone {}, unanswered {}, still waiting at the end {}, still in flight {}; {} ticket polls ({} failed); server log: {} warnings, {} MiB\n  {}",
        thousands(figures.shoppers_ordered),
        thousands(figures.shoppers_refused),
        thousands(figures.shoppers_left_queue),
        thousands(figures.shoppers_gone),
        thousands(figures.shoppers_unanswered),
        thousands(figures.still_waiting),
        thousands(figures.still_in_flight),
        thousands(figures.polls),
        thousands(figures.poll_errors),
        thousands(figures.server_warnings),
        figures.server_log_bytes >> 20,
        figures.cores.text()
    );
    let per_5s: Vec<String> = figures
        .per_second
        .chunks(5)
        .filter(|chunk| chunk.len() == 5)
        .map(|chunk| format!("{:.0}", chunk.iter().sum::<u64>() as f64 / 5.0))
        .collect();
    if !per_5s.is_empty() {
        println!("  201/s by 5 s: {}", per_5s.join(" "));
    }
    if !figures.gateway_samples.is_empty() {
        let samples: Vec<String> = figures
            .gateway_samples
            .iter()
            .map(|(second, limit, in_flight, waiting, drain)| {
                format!("{second}s limit {limit} in-flight {in_flight} waiting {waiting} drain {drain}/s")
            })
            .collect();
        println!("  gateway: {}", samples.join("; "));
    }
}

// ---- the waiting room's memory ------------------------------------------------------------

#[derive(Debug, Default)]
struct WaitingFigures {
    target: u64,
    /// Tickets the server says are waiting (checkout class).
    tickets_waiting: u64,
    tickets_issued: u64,
    issue_tally: Tally,
    issue_seconds: f64,
    /// Long polls open at once when memory was read.
    polls_held: u64,
    polls_planned: u64,
    fd_limit: Option<u64>,
    /// The long polls were HTTP/2 streams sharing connections (else one HTTP/1.1 connection each).
    http2: bool,
    polls_ended_early: u64,
    rss_before_kib: u64,
    rss_queued_kib: u64,
    rss_polls_kib: u64,
}

impl WaitingFigures {
    fn ticket_bytes(&self) -> f64 {
        self.rss_queued_kib.saturating_sub(self.rss_before_kib) as f64 * 1024.0
            / self.tickets_waiting.max(1) as f64
    }

    fn connection_kib(&self) -> f64 {
        self.rss_polls_kib.saturating_sub(self.rss_queued_kib) as f64 / self.polls_held.max(1) as f64
    }

    /// A waiter: its ticket and its open long poll.
    fn waiter_kib(&self) -> f64 {
        self.ticket_bytes() / 1024.0 + self.connection_kib()
    }

    /// Whole delta over the waiters holding a poll (all of them, when every ticket has one).
    fn overall_kib(&self) -> f64 {
        self.rss_polls_kib.saturating_sub(self.rss_before_kib) as f64 / self.polls_held.max(1) as f64
    }
}

async fn settle_rss(server: &Server) -> u64 {
    let mut highest = 0;
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        highest = highest.max(server.rss_kib().unwrap_or(0));
    }
    highest
}

async fn run_waiting_room(
    target: &Arc<Target>,
    server: &Server,
    waiters: u64,
    connections: usize,
    fd_limit: Option<u64>,
    http2: bool,
) -> anyhow::Result<WaitingFigures> {
    let mut figures = WaitingFigures { target: waiters, fd_limit, http2, ..WaitingFigures::default() };
    figures.rss_before_kib = settle_rss(server).await;
    let tickets: Arc<Mutex<Vec<(u64, String)>>> = Arc::new(Mutex::new(Vec::new()));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let next_shopper = Arc::new(AtomicU64::new(1));
    let started = Instant::now();

    // Take the one slot: of concurrent orders one is admitted and the rest queue; when it
    // finishes, the first ticket is promoted and holds the slot (admitted_ttl_ms is an hour,
    // and it is never redeemed), so every later order queues.
    for _ in 0..20 {
        let mut grab = JoinSet::new();
        for _ in 0..SLOT_GRAB_REQUESTS {
            let target = Arc::clone(target);
            let shopper = next_shopper.fetch_add(1, Ordering::Relaxed);
            grab.spawn(async move {
                let mut conn = None;
                exchange(&mut conn, target.addr, &target.order(shopper, None), REQUEST_TIMEOUT).await
            });
        }
        while let Some(joined) = grab.join_next().await {
            let answer = joined.context("a slot-grabbing request failed")?;
            record_issue(&tally, &tickets, answer);
        }
        if !lock(&tickets).is_empty() {
            break;
        }
    }
    anyhow::ensure!(
        !lock(&tickets).is_empty(),
        "no order was queued with a concurrency limit of 1 (answers {})",
        lock(&tally).statuses_text()
    );

    // Queue the rest, closed loop.
    let bar = progress_bar(waiters, "{bar:40} {pos}/{len} tickets  {per_sec}");
    let mut workers = JoinSet::new();
    for _ in 0..connections {
        let target = Arc::clone(target);
        let next_shopper = Arc::clone(&next_shopper);
        let tickets = Arc::clone(&tickets);
        let tally = Arc::clone(&tally);
        let bar = bar.clone();
        workers.spawn(async move {
            let mut conn = None;
            let mut n_failed = 0;
            loop {
                let issued = lock(&tickets).len() as u64;
                bar.set_position(issued.min(waiters));
                // One more than asked: the first ticket holds the slot instead of waiting.
                if issued > waiters || n_failed > 1_000 {
                    break;
                }
                let shopper = next_shopper.fetch_add(1, Ordering::Relaxed);
                let answer =
                    exchange(&mut conn, target.addr, &target.order(shopper, None), REQUEST_TIMEOUT).await;
                if !record_issue(&tally, &tickets, answer) {
                    n_failed += 1;
                }
            }
        });
    }
    while workers.join_next().await.is_some() {}
    bar.finish_and_clear();
    figures.issue_seconds = started.elapsed().as_secs_f64();
    figures.issue_tally = lock(&tally).clone();
    figures.tickets_issued = lock(&tickets).len() as u64;
    let mut stats_conn = None;
    let stats = gateway_stats(&mut stats_conn, target).await.context("reading /v1/stats")?;
    figures.tickets_waiting = checkout_class(&stats).and_then(|class| class["waiting"].as_u64()).unwrap_or(0);
    drop(stats_conn);
    figures.rss_queued_kib = settle_rss(server).await;
    println!(
        "  {} tickets issued in {:.1} s ({}); {} waiting by /v1/stats; server RSS {} -> {} KiB",
        thousands(figures.tickets_issued),
        figures.issue_seconds,
        figures.issue_tally.statuses_text(),
        thousands(figures.tickets_waiting),
        thousands(figures.rss_before_kib),
        thousands(figures.rss_queued_kib)
    );

    // Hold long polls: over HTTP/1.1 as many as both processes' open-file limits allow; over
    // HTTP/2 every ticket, STREAMS_PER_CONNECTION to a connection.
    let mut chosen = std::mem::take(&mut *lock(&tickets));
    chosen.sort_by_key(|ticket| std::cmp::Reverse(ticket.0));
    let budget =
        if http2 { u64::MAX } else { fd_limit.map_or(u64::MAX, |limit| limit.saturating_sub(FD_SPARE)) };
    let planned = (chosen.len() as u64).min(waiters).min(budget);
    chosen.truncate(usize::try_from(planned).unwrap_or(usize::MAX));
    figures.polls_planned = planned;
    let holding = Arc::new(AtomicU64::new(0));
    let ended = Arc::new(AtomicU64::new(0));
    let bar = progress_bar(planned, "{bar:40} {pos}/{len} long polls open");
    let mut polls = JoinSet::new();
    if http2 {
        hold_polls_http2(target.addr, chosen, &holding, &ended, &mut polls).await?;
    } else {
        hold_polls_http1(target.addr, chosen, &holding, &ended, &mut polls);
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while holding.load(Ordering::Relaxed) + ended.load(Ordering::Relaxed) < planned
        && Instant::now() < deadline
    {
        bar.set_position(holding.load(Ordering::Relaxed));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bar.finish_and_clear();
    // Let the server read every request and park its handler.
    tokio::time::sleep(Duration::from_secs(2)).await;
    figures.rss_polls_kib = settle_rss(server).await;
    figures.polls_ended_early = ended.load(Ordering::Relaxed);
    figures.polls_held = holding.load(Ordering::Relaxed).saturating_sub(figures.polls_ended_early);
    polls.shutdown().await;
    Ok(figures)
}

/// The waiters' long polls over HTTP/1.1: a connection each, opened at most
/// [`CONNECTS_AT_ONCE`] at a time, each repolling while the ticket is still waiting.
fn hold_polls_http1(
    addr: SocketAddr,
    chosen: Vec<(u64, String)>,
    holding: &Arc<AtomicU64>,
    ended: &Arc<AtomicU64>,
    polls: &mut JoinSet<()>,
) {
    let connecting = Arc::new(Semaphore::new(CONNECTS_AT_ONCE));
    for (position, poll_url) in chosen {
        let holding = Arc::clone(holding);
        let ended = Arc::clone(ended);
        let connecting = Arc::clone(&connecting);
        polls.spawn(async move {
            let request = client::request(
                "GET",
                &format!("{poll_url}?wait_ms={WAITER_POLL_WAIT_MS}&position={position}"),
                &[],
                b"",
            );
            let opened = async {
                let _permit = connecting.acquire().await.ok()?;
                let mut conn = Conn::connect(addr).await.ok()?;
                conn.write(&request).await.ok()?;
                Some(conn)
            };
            let Some(mut conn) = opened.await else {
                ended.fetch_add(1, Ordering::Relaxed);
                return;
            };
            holding.fetch_add(1, Ordering::Relaxed);
            let timeout = REQUEST_TIMEOUT + Duration::from_millis(WAITER_POLL_WAIT_MS);
            loop {
                let answer = match tokio::time::timeout(timeout, conn.read()).await {
                    Ok(Ok(answer)) => answer,
                    _ => break,
                };
                let still_waiting = answer.status == 200
                    && serde_json::from_slice::<TicketStatus>(&answer.body)
                        .is_ok_and(|status| status.status == "waiting");
                if !still_waiting || conn.write(&request).await.is_err() {
                    break;
                }
            }
            ended.fetch_add(1, Ordering::Relaxed);
        });
    }
}

/// The waiters' long polls over HTTP/2: [`h2::STREAMS_PER_CONNECTION`] streams to a connection,
/// each repolling while the ticket is still waiting.
async fn hold_polls_http2(
    addr: SocketAddr,
    chosen: Vec<(u64, String)>,
    holding: &Arc<AtomicU64>,
    ended: &Arc<AtomicU64>,
    polls: &mut JoinSet<()>,
) -> anyhow::Result<()> {
    for group in chosen.chunks(h2::STREAMS_PER_CONNECTION) {
        let sender = h2::connect(addr).await.context("opening an HTTP/2 connection for long polls")?;
        for (position, poll_url) in group {
            let mut sender = sender.clone();
            let holding = Arc::clone(holding);
            let ended = Arc::clone(ended);
            let path = format!("{poll_url}?wait_ms={WAITER_POLL_WAIT_MS}&position={position}");
            polls.spawn(async move {
                let mut counted = false;
                loop {
                    let on_sent = || {
                        if !counted {
                            holding.fetch_add(1, Ordering::Relaxed);
                        }
                    };
                    let answer = h2::get(&mut sender, addr, &path, on_sent).await;
                    counted = true;
                    let still_waiting = answer.is_ok_and(|(status, body)| {
                        status == 200
                            && serde_json::from_slice::<TicketStatus>(&body)
                                .is_ok_and(|status| status.status == "waiting")
                    });
                    if !still_waiting {
                        break;
                    }
                }
                ended.fetch_add(1, Ordering::Relaxed);
            });
        }
    }
    Ok(())
}

/// Counts an answer of the queueing phase and keeps its ticket; false for anything but a ticket.
fn record_issue(
    tally: &Mutex<Tally>,
    tickets: &Mutex<Vec<(u64, String)>>,
    answer: io::Result<Answer>,
) -> bool {
    let Ok(answer) = answer else {
        lock(tally).unanswered += 1;
        return false;
    };
    let verdict = classify(&answer);
    lock(tally).record(&answer, &verdict);
    match verdict {
        Verdict::Queued { poll_url, position, .. } => {
            lock(tickets).push((position, poll_url));
            true
        }
        _ => false,
    }
}

fn print_waiting(figures: &WaitingFigures) {
    println!(
        "  {} long polls held at once over {} (planned {}; open-file limit {}); server RSS {} KiB",
        thousands(figures.polls_held),
        if figures.http2 { "HTTP/2 streams" } else { "HTTP/1.1 connections" },
        thousands(figures.polls_planned),
        figures.fd_limit.map_or("unlimited".into(), thousands),
        thousands(figures.rss_polls_kib)
    );
    println!(
        "  per ticket {:.0} bytes, per open long poll {:.2} KiB: {:.2} KiB per waiter (ticket + connection); whole growth over the waiters holding a poll {:.2} KiB",
        figures.ticket_bytes(),
        figures.connection_kib(),
        figures.waiter_kib(),
        figures.overall_kib()
    );
    if figures.polls_planned < figures.target {
        println!(
            "  fewer long polls than shoppers queued: each open poll takes a file descriptor in the server and in this process, and the open-file limit is {} (raising it past the hard limit needs CAP_SYS_RESOURCE); the other tickets wait without an open connection",
            figures.fd_limit.map_or("unlimited".into(), thousands)
        );
    }
}

// ---- report ---------------------------------------------------------------------------------

fn verdict_text(met: bool) -> &'static str {
    if met { "met" } else { "missed" }
}

fn print_table(
    capacity: &CapacityFigures,
    peer: Option<&PeerFigures>,
    overload: Option<&OverloadFigures>,
    waiting: Option<&WaitingFigures>,
) {
    let mut rows: Vec<(String, String, String)> = Vec::new();
    rows.push((
        format!("durable coupon orders/s, {} connections", capacity.connections),
        thousands(capacity.orders_per_s.round() as u64),
        String::new(),
    ));
    rows.push((
        "latency p50 / p99".into(),
        format!("{:.2} / {:.2} ms", capacity.p50_ms, capacity.p99_ms),
        String::new(),
    ));
    rows.push(("capacity answers".into(), capacity.tally.statuses_text(), String::new()));
    match peer {
        Some(peer) => {
            rows.push((
                format!("redis + lua, appendfsync always, {} clients, ops/s", capacity.connections),
                thousands(peer.ops_per_s.round() as u64),
                String::new(),
            ));
            let ratio = capacity.orders_per_s / peer.ops_per_s;
            rows.push((
                "lantern ÷ redis".into(),
                format!("{ratio:.2}"),
                format!("≥ {TARGET_RATIO_VS_REDIS}: {}", verdict_text(ratio >= TARGET_RATIO_VS_REDIS)),
            ));
        }
        None => rows.push(("redis peer".into(), "not run".into(), String::new())),
    }
    if let Some(overload) = overload {
        let secs = overload.plan.window.as_secs_f64();
        rows.push((
            format!("overload offered, {} s", overload.plan.window.as_secs()),
            format!("{}/s", thousands(overload.plan.rate_per_s)),
            String::new(),
        ));
        rows.push((
            "overload sent (generator saturated)".into(),
            format!(
                "{}/s ({})",
                thousands((overload.sent as f64 / secs).round() as u64),
                thousands(overload.saturated)
            ),
            String::new(),
        ));
        rows.push(("goodput, 201/s".into(), thousands(overload.goodput_per_s.round() as u64), String::new()));
        rows.push((
            "goodput ÷ capacity".into(),
            format!("{:.2}", overload.goodput_ratio()),
            format!(
                "≥ {TARGET_GOODPUT_RATIO}: {}",
                verdict_text(overload.goodput_ratio() >= TARGET_GOODPUT_RATIO)
            ),
        ));
        rows.push((
            "p99 of admitted requests, admission to answer".into(),
            format!("{:.2} ms", overload.served_p99_ms),
            format!(
                "< {TARGET_OVERLOAD_P99_MS} ms: {}",
                verdict_text(overload.served_p99_ms < TARGET_OVERLOAD_P99_MS)
            ),
        ));
        rows.push((
            "p99 of requests admitted on arrival (no wait)".into(),
            format!("{:.2} ms", overload.p99_ms),
            String::new(),
        ));
        rows.push((
            "p99 arrival to order, shoppers who waited".into(),
            format!("{:.0} ms", overload.waited_p99_ms),
            String::new(),
        ));
        rows.push(("overload answers".into(), overload.tally.statuses_text(), String::new()));
        rows.push((
            "turned away with ticket / with reason".into(),
            format!("{} / {}", thousands(overload.tally.with_ticket), thousands(overload.tally.with_reason)),
            String::new(),
        ));
        rows.push((
            "refusals without ticket or reason".into(),
            thousands(overload.tally.without_reason),
            format!("0: {}", verdict_text(overload.tally.without_reason == 0)),
        ));
        rows.push((
            "5xx answers".into(),
            thousands(overload.tally.errors_5xx),
            format!("0: {}", verdict_text(overload.tally.errors_5xx == 0)),
        ));
        rows.push((
            "unanswered (connection errors, timeouts)".into(),
            thousands(overload.tally.unanswered),
            String::new(),
        ));
    }
    if let Some(waiting) = waiting {
        rows.push((
            "waiting-room tickets waiting".into(),
            thousands(waiting.tickets_waiting),
            format!(
                "{}: {}",
                thousands(waiting.target),
                verdict_text(waiting.tickets_waiting >= waiting.target)
            ),
        ));
        rows.push((
            "long polls held open at once".into(),
            thousands(waiting.polls_held),
            format!("{}: {}", thousands(waiting.target), verdict_text(waiting.polls_held >= waiting.target)),
        ));
        rows.push((
            "server memory per waiter (ticket + long poll)".into(),
            format!(
                "{:.2} KiB ({:.0} B + {:.2} KiB)",
                waiting.waiter_kib(),
                waiting.ticket_bytes(),
                waiting.connection_kib()
            ),
            format!("< {TARGET_WAITER_KIB} KiB: {}", verdict_text(waiting.waiter_kib() < TARGET_WAITER_KIB)),
        ));
    }
    let width = |pick: fn(&(String, String, String)) -> &String, title: &str| {
        rows.iter().map(|row| pick(row).chars().count()).chain([title.chars().count()]).max().unwrap_or(0)
    };
    let widths =
        [width(|row| &row.0, "figure"), width(|row| &row.1, "measured"), width(|row| &row.2, "target")];
    let line = |a: &str, b: &str, c: &str| {
        let pad = |text: &str, width: usize| {
            format!("{text}{}", " ".repeat(width.saturating_sub(text.chars().count())))
        };
        println!("| {} | {} | {} |", pad(a, widths[0]), pad(b, widths[1]), pad(c, widths[2]));
    };
    println!();
    line("figure", "measured", "target");
    println!("|{}|{}|{}|", "-".repeat(widths[0] + 2), "-".repeat(widths[1] + 2), "-".repeat(widths[2] + 2));
    for (figure, measured, target) in &rows {
        line(figure, measured, target);
    }
}

fn counts_json<K: ToString>(counts: &BTreeMap<K, u64>) -> serde_json::Value {
    serde_json::Value::Object(
        counts.iter().map(|(key, count)| (key.to_string(), serde_json::Value::from(*count))).collect(),
    )
}

fn print_json(
    args: &HttpBenchArgs,
    capacity: &CapacityFigures,
    peer: Option<&PeerFigures>,
    overload: Option<&OverloadFigures>,
    waiting: Option<&WaitingFigures>,
) {
    let round2 = |value: f64| (value * 100.0).round() / 100.0;
    let mut summary = serde_json::json!({
        "connections": capacity.connections,
        "duration_s": args.duration_s,
        "outlets": args.outlets,
        "orders_per_s": capacity.orders_per_s.round(),
        "p50_ms": capacity.p50_ms,
        "p99_ms": capacity.p99_ms,
        "capacity_orders": capacity.orders,
        "capacity_statuses": counts_json(&capacity.tally.by_status),
        "capacity_codes": counts_json(&capacity.tally.by_code),
        "capacity_unanswered": capacity.tally.unanswered,
        "capacity_server_cores": round2(capacity.cores.server),
        "capacity_generator_cores": round2(capacity.cores.generator),
        "capacity_machine_busy_cores": round2(capacity.cores.machine),
        "redis_orders_per_s": peer.map(|peer| peer.ops_per_s.round()),
        "redis_p99_ms": peer.map(|peer| peer.p99_ms),
        "redis_invariants_ok": peer.map(|peer| peer.invariants_ok),
        "ratio_vs_redis": peer.map(|peer| round2(capacity.orders_per_s / peer.ops_per_s)),
    });
    if let Some(overload) = overload {
        let secs = overload.plan.window.as_secs_f64();
        let fields = serde_json::json!({
            "overload_s": overload.plan.window.as_secs(),
            "overload_factor": args.overload_factor,
            "overload_offered_per_s": overload.plan.rate_per_s,
            "overload_sent_per_s": (overload.sent as f64 / secs).round(),
            "overload_generator_saturated": overload.saturated,
            "overload_in_flight_max": overload.plan.in_flight_max,
            "overload_follow_tickets": overload.plan.follow_tickets,
            "overload_goodput_per_s": overload.goodput_per_s.round(),
            "overload_goodput_ratio": round2(overload.goodput_ratio()),
            "overload_p50_ms": overload.served_p50_ms,
            "overload_p99_ms": overload.served_p99_ms,
            "overload_p99_after_opening_ms": overload.after_opening_p99_ms,
            "overload_at_once_p50_ms": overload.p50_ms,
            "overload_at_once_p99_ms": overload.p99_ms,
            "overload_waited_p99_ms": overload.waited_p99_ms,
            "overload_statuses": counts_json(&overload.tally.by_status),
            "overload_codes": counts_json(&overload.tally.by_code),
            "errors_5xx": overload.tally.errors_5xx,
            "turned_away": overload.tally.turned_away(),
            "turned_away_with_ticket": overload.tally.with_ticket,
            "turned_away_with_reason": overload.tally.with_reason,
            "answers_without_ticket_or_reason": overload.tally.without_reason,
            "unanswered": overload.tally.unanswered,
            "overload_tickets_gone": overload.shoppers_gone,
            "overload_still_waiting": overload.still_waiting,
            "overload_server_warnings": overload.server_warnings,
            "overload_server_log_bytes": overload.server_log_bytes,
            "overload_server_cores": round2(overload.cores.server),
            "overload_generator_cores": round2(overload.cores.generator),
            "overload_machine_busy_cores": round2(overload.cores.machine),
        });
        merge_json(&mut summary, fields);
    }
    if let Some(waiting) = waiting {
        let fields = serde_json::json!({
            "waiters": waiting.polls_held,
            "waiters_target": waiting.target,
            "waiting_tickets": waiting.tickets_waiting,
            "waiter_kib_each": round2(waiting.waiter_kib()),
            "waiter_ticket_bytes": waiting.ticket_bytes().round(),
            "waiter_connection_kib": round2(waiting.connection_kib()),
            "waiter_overall_kib": round2(waiting.overall_kib()),
            "waiter_rss_kib": [waiting.rss_before_kib, waiting.rss_queued_kib, waiting.rss_polls_kib],
            "open_files_limit": waiting.fd_limit,
            "waiters_protocol": if waiting.http2 { "h2" } else { "http/1.1" },
        });
        merge_json(&mut summary, fields);
    }
    println!("{summary}");
}

fn merge_json(into: &mut serde_json::Value, from: serde_json::Value) {
    if let (Some(into), serde_json::Value::Object(from)) = (into.as_object_mut(), from) {
        into.extend(from);
    }
}

fn progress_bar(length: u64, template: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(length);
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!("  {template}"))
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

/// 1234567 as "1,234,567".
fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (idx, digit) in digits.chars().enumerate() {
        if idx > 0 && (digits.len() - idx).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_open_loop_schedule_keeps_its_rate_whatever_the_answers() {
        // Arrival 0 is due at once, then one every 1/rate seconds.
        assert_eq!(arrivals_due(Duration::ZERO, 1_000), 1);
        assert_eq!(arrivals_due(Duration::from_micros(999), 1_000), 1);
        assert_eq!(arrivals_due(Duration::from_millis(1), 1_000), 2);
        assert_eq!(arrivals_due(Duration::from_secs(60), 123_456), 60 * 123_456 + 1);
        // A generator that wakes late catches up at once instead of shifting the schedule.
        assert_eq!(arrivals_due(Duration::from_millis(250), 40_000), 10_001);
        let mut previous = 0;
        for step in 0..10_000u64 {
            let due = arrivals_due(Duration::from_micros(step * 37), 7_919);
            assert!(due >= previous);
            previous = due;
        }
    }

    fn answer(status: u16, retry_after: bool, body: &str) -> Answer {
        Answer { status, retry_after, waited_ms: 0, body: body.as_bytes().to_vec() }
    }

    #[test]
    fn every_refusal_needs_a_ticket_or_a_reason() {
        assert_eq!(classify(&answer(201, false, "{\"id\":\"ord_1\"}")), Verdict::Ordered);
        let queued = r#"{"type":"invalid_request","code":"queued","message":"m","ticket":"lw1.a.b","position":3,"eta_ms":120,"poll_url":"/v1/waiting_room/lw1.a.b"}"#;
        assert_eq!(
            classify(&answer(429, true, queued)),
            Verdict::Queued {
                ticket: "lw1.a.b".into(),
                poll_url: "/v1/waiting_room/lw1.a.b".into(),
                position: 3,
                eta_ms: 120
            }
        );
        assert_eq!(classify(&answer(429, false, queued)), Verdict::NoReason, "a 429 needs Retry-After");
        let full =
            r#"{"type":"invalid_request","code":"waiting_room_full","message":"m","retry_after_ms":1000}"#;
        assert_eq!(classify(&answer(429, true, full)), Verdict::Reason("waiting_room_full".into()));
        assert_eq!(classify(&answer(429, false, full)), Verdict::NoReason);
        assert_eq!(
            classify(&answer(409, false, r#"{"code":"budget_exhausted","message":"m"}"#)),
            Verdict::Reason("budget_exhausted".into())
        );
        assert_eq!(classify(&answer(502, false, "<html>bad gateway</html>")), Verdict::NoReason);
        let mut tally = Tally::default();
        for (status, retry_after, body) in [(429, true, queued), (503, true, full), (500, false, "oops")] {
            let answer = answer(status, retry_after, body);
            tally.record(&answer, &classify(&answer));
        }
        assert_eq!(
            (tally.with_ticket, tally.with_reason, tally.without_reason, tally.errors_5xx),
            (1, 1, 1, 2)
        );
        assert_eq!(tally.turned_away(), 2);
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
