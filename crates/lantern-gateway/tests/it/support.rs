//! A real gateway on loopback for each test: a sequencer over SQLite in a temporary directory,
//! seeded with two tea shops, a coffee shop and two campaigns, served by `lantern_gateway::serve`
//! in a tokio task, and a `reqwest` client that speaks HTTP to it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use lantern_auth::{Claims, Role, SignedTicket, Signer};
use lantern_core::{
    CampaignSpec, Capacity, Catalog, CatalogId, CouponTemplate, Eligibility, IssuancePace, Item, ItemId,
    ItemOption, Merchant, MerchantId, Money, OptionGroup, OptionId, OptionKind, ShopperId, Timestamp,
    Validity,
};
use lantern_gateway::{App, GatewayConfig};
use lantern_ledger::{Command, LedgerConfig};
use lantern_sequencer::{Clock, ManualClock, Sequencer, SequencerConfig, SystemClock};
use lantern_store::{BatchRecord, Durability, OpenMode, SqliteStore, Store, StoreError};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

/// Every test server signs with this secret.
pub const SECRET: [u8; 32] = [42; 32];
/// Tea shops (catalog 1) and the coffee shop (catalog 2) of the seed.
pub const TEA_1: &str = "mer_1";
pub const TEA_2: &str = "mer_2";
pub const COFFEE: &str = "mer_3";
/// The festival campaign: 25 yuan off, one per shopper, any shop.
pub const FESTIVAL: &str = "cmp_1";
/// A coffee-only campaign: 5 yuan off from 60 yuan, at the coffee shop only.
pub const COFFEE_DEAL: &str = "cmp_2";
pub const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// A temporary directory, removed when the last holder drops it.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|duration| duration.as_nanos())
            .unwrap_or(0);
        let unique = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("lantern-gw-{label}-{}-{nanos}-{unique}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Holds every journal append while closed: requests stay in flight (holding their admission
/// permit and idempotency key) for as long as a test wants.
#[derive(Debug, Default)]
pub struct Gate {
    closed: Mutex<bool>,
    changed: Condvar,
}

impl Gate {
    pub fn close(&self) {
        *self.closed.lock().unwrap_or_else(PoisonError::into_inner) = true;
    }

    pub fn open(&self) {
        *self.closed.lock().unwrap_or_else(PoisonError::into_inner) = false;
        self.changed.notify_all();
    }

    fn wait_open(&self) {
        let mut closed = self.closed.lock().unwrap_or_else(PoisonError::into_inner);
        while *closed {
            closed = self.changed.wait(closed).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

struct GatedStore {
    inner: SqliteStore,
    gate: Arc<Gate>,
}

impl Store for GatedStore {
    fn append(&mut self, batch: &BatchRecord) -> Result<(), StoreError> {
        self.gate.wait_open();
        self.inner.append(batch)
    }

    fn replay(
        &mut self,
        shard: u32,
        visit: &mut dyn FnMut(BatchRecord) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        self.inner.replay(shard, visit)
    }

    fn read_batches(
        &mut self,
        shard: u32,
        after_batch_seq: u64,
        batches_max: u64,
        visit: &mut dyn FnMut(BatchRecord) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        self.inner.read_batches(shard, after_batch_seq, batches_max, visit)
    }

    fn last_batch_seq(&mut self, shard: u32) -> Result<Option<u64>, StoreError> {
        self.inner.last_batch_seq(shard)
    }

    fn describe(&self) -> String {
        format!("gated {}", self.inner.describe())
    }
}

/// The gateway's production settings with rate limits out of the way; tests that exercise
/// admission set their own.
pub fn test_config() -> GatewayConfig {
    let mut config = GatewayConfig::default_for_serve();
    config.admission.shopper_bucket.burst = 1_000_000;
    config.admission.shopper_bucket.per_second = 1_000_000;
    config.admission.ip_bucket.burst = 1_000_000;
    config.admission.ip_bucket.per_second = 1_000_000;
    config.body_bytes_max = 64 * 1024;
    config.long_poll_ms = 5_000;
    // Queued requests get their ticket at once, so tests see the waiting room (the line wait has a
    // test of its own).
    config.line_wait_ms = 0;
    config.sse_keepalive_ms = 200;
    config.sse_lifetime_ms = 5_000;
    config
}

/// How a test server starts.
#[derive(Debug, Clone)]
pub struct Setup {
    pub config: GatewayConfig,
    pub durability: Durability,
    /// The gateway's and ledger's clock, moved by the test; the system's when none.
    pub clock: Option<Arc<ManualClock>>,
    pub ledger: LedgerConfig,
}

impl Default for Setup {
    fn default() -> Setup {
        Setup { config: test_config(), durability: Durability::Off, clock: None, ledger: ledger_config() }
    }
}

/// A gateway server on loopback that answers as starting until a [`Server`] is opened into it.
pub struct Serving {
    pub address: SocketAddr,
    pub starting: Arc<lantern_gateway::Starting>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    shutdown: tokio::sync::oneshot::Sender<()>,
}

impl Serving {
    pub async fn start() -> Serving {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address: SocketAddr = listener.local_addr().unwrap();
        let starting = lantern_gateway::Starting::new();
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let task =
            tokio::spawn(lantern_gateway::serve_from_start(listener, Arc::clone(&starting), async move {
                let _ = stopped.await;
            }));
        Serving { address, starting, task, shutdown }
    }
}

/// A running gateway.
pub struct Server {
    pub base: String,
    pub http: reqwest::Client,
    pub signer: Signer,
    pub app: Arc<App>,
    pub gate: Arc<Gate>,
    pub data: Arc<TempDir>,
    setup: Setup,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    sequencer: Option<Sequencer>,
    keys: AtomicU64,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("base", &self.base).finish_non_exhaustive()
    }
}

/// One HTTP answer, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    /// The body as JSON, or `Value::Null` when it is not JSON.
    pub json: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    pub fn replayed(&self) -> bool {
        self.header("idempotent-replayed") == Some("true")
    }

    pub fn code(&self) -> &str {
        self.json["code"].as_str().unwrap_or("")
    }

    /// Asserts a successful answer of `status` and returns its JSON.
    #[track_caller]
    pub fn ok(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "expected {status}, got {}: {}", self.status, self.text);
        &self.json
    }

    /// Asserts a refusal in the gateway's one error shape: `status`, JSON content type, string
    /// `type`, `code` and `message`, and the `code` given.
    #[track_caller]
    pub fn refused(&self, status: u16, code: &str) -> &Value {
        assert_eq!(self.status, status, "expected {status} {code}, got {}: {}", self.status, self.text);
        self.assert_error_shape();
        assert_eq!(self.code(), code, "{}", self.text);
        &self.json
    }

    /// Asserts the error shape: a 4xx (or a 503, the one server-side refusal that is not an
    /// error: overloaded, draining, waiting room full) with a JSON body with `type`, `code` and
    /// `message` (a queued answer has them too, with its ticket).
    #[track_caller]
    pub fn assert_error_shape(&self) {
        assert!(
            (400..500).contains(&self.status) || self.status == 503,
            "not a 4xx or 503: {} {}",
            self.status,
            self.text
        );
        let content_type = self.header("content-type").unwrap_or("");
        assert!(content_type.starts_with("application/json"), "content type {content_type:?}: {}", self.text);
        for field in ["type", "code", "message"] {
            assert!(
                self.json[field].as_str().is_some_and(|text| !text.is_empty()),
                "no string `{field}` in {}",
                self.text
            );
        }
        if matches!(self.status, 429 | 503) {
            assert!(self.header("retry-after").is_some(), "no Retry-After on {}: {}", self.status, self.text);
        }
    }

    /// Seconds of `Retry-After`.
    #[track_caller]
    pub fn retry_after_s(&self) -> u64 {
        self.header("retry-after").and_then(|value| value.parse().ok()).unwrap_or_else(|| {
            panic!("no numeric Retry-After in {:?}: {}", self.headers, self.text);
        })
    }
}

fn tea_options(large_delta_fen: i64) -> Vec<OptionGroup> {
    let choice = |id: u32, name: &str, delta: i64| ItemOption {
        id: OptionId::new(id),
        name: name.into(),
        price_delta: Money::from_fen(delta),
    };
    vec![
        OptionGroup {
            kind: OptionKind::Size,
            name: "size 杯型".into(),
            choices: vec![choice(1, "medium 中杯", 0), choice(2, "large 大杯", large_delta_fen)],
            min_choices: 1,
            max_choices: 1,
            default_choice: Some(OptionId::new(1)),
        },
        OptionGroup {
            kind: OptionKind::Sugar,
            name: "sugar 甜度".into(),
            choices: vec![choice(10, "regular 标准糖", 0), choice(11, "less 少糖", 0)],
            min_choices: 1,
            max_choices: 1,
            default_choice: Some(OptionId::new(10)),
        },
        OptionGroup {
            kind: OptionKind::Topping,
            name: "toppings 加料".into(),
            choices: vec![choice(30, "pearls 珍珠", 200), choice(32, "pudding 布丁", 300)],
            min_choices: 0,
            max_choices: 2,
            default_choice: None,
        },
    ]
}

fn item(id: u64, name: &str, category: &str, price_fen: i64, option_groups: Vec<OptionGroup>) -> Item {
    Item {
        id: ItemId::new(id),
        name: name.into(),
        category: category.into(),
        price: Money::from_fen(price_fen),
        option_groups,
    }
}

/// The seed: menus, shops and campaigns, as the ledger's own commands.
pub fn seed_commands(now: Timestamp) -> Vec<Command> {
    let tea = Catalog::new(
        CatalogId::new(1),
        vec![
            item(101, "珍珠奶茶 Pearl Milk Tea", "milk tea", 1500, tea_options(300)),
            item(102, "杨枝甘露 Mango Pomelo Sago", "fruit tea", 1900, tea_options(300)),
            item(106, "蛋挞 Egg Tart", "snack", 800, vec![]),
        ],
    )
    .unwrap();
    let coffee = Catalog::new(
        CatalogId::new(2),
        vec![
            item(201, "拿铁 Caffè Latte", "coffee", 2800, vec![]),
            item(202, "美式 Americano", "coffee", 2200, vec![]),
        ],
    )
    .unwrap();
    let capacity = Capacity::new(30, 40).unwrap();
    let shop = |id: u64, name: &str, catalog: u64| Command::RegisterMerchant {
        merchant: Merchant::new(MerchantId::new(id), name, CatalogId::new(catalog), capacity).unwrap(),
    };
    let validity =
        Validity::new(Timestamp::from_ms(now.unix_ms() - 60_000), now.plus_ms(30 * DAY_MS)).unwrap();
    let festival = CampaignSpec {
        name: "春节请你喝奶茶 Spring Festival treat".into(),
        budget: Money::from_yuan(1_000_000),
        template: CouponTemplate::AmountOff { amount: Money::from_yuan(25) },
        min_spend: Money::ZERO,
        eligibility: Eligibility::default(),
        per_shopper_limit: 1,
        referral_bonus_cap: 3,
        validity,
        pace: IssuancePace::Unlimited,
    };
    let coffee_deal = CampaignSpec {
        name: "coffee5".into(),
        budget: Money::from_yuan(1_000),
        template: CouponTemplate::AmountOff { amount: Money::from_yuan(5) },
        min_spend: Money::from_yuan(60),
        eligibility: Eligibility { merchants: vec![MerchantId::new(3)], categories: Vec::new() },
        per_shopper_limit: 1,
        referral_bonus_cap: 0,
        validity,
        pace: IssuancePace::Unlimited,
    };
    vec![
        Command::PublishCatalog { catalog: Arc::new(tea) },
        Command::PublishCatalog { catalog: Arc::new(coffee) },
        shop(1, "茶颜 Tea House #1", 1),
        shop(2, "茶颜 Tea House #2", 1),
        shop(3, "瑞咖 Coffee #1", 2),
        Command::CreateCampaign { spec: festival },
        Command::CreateCampaign { spec: coffee_deal },
    ]
}

pub fn ledger_config() -> LedgerConfig {
    LedgerConfig {
        hold_ttl_ms: 15 * 60 * 1000,
        order_retention_ms: 48 * 60 * 60 * 1000,
        expected_shoppers: 0,
        expected_orders: 0,
        retired_kept_max: lantern_ledger::RETIRED_KEPT_MAX,
    }
}

pub fn sequencer_config() -> SequencerConfig {
    SequencerConfig {
        shard: 0,
        intake_capacity: 4_096,
        batch_commands_max: 1_024,
        apply_chunk_commands_max: 256,
        idle_tick_ms: 0,
        // As `lantern serve` runs it: a slow test machine may well make the committer gather.
        gather_max_us: 2_000,
    }
}

impl Server {
    /// A seeded server with the test configuration.
    pub async fn start() -> Server {
        Server::start_with(Setup::default()).await
    }

    /// A seeded server with `config`.
    pub async fn with_config(config: GatewayConfig) -> Server {
        Server::start_with(Setup { config, ..Setup::default() }).await
    }

    pub async fn start_with(setup: Setup) -> Server {
        let data = Arc::new(TempDir::new("gateway"));
        Server::open(setup, data, true, None).await
    }

    /// A seeded server opened into `serving`, which answered as starting until now (as
    /// `lantern serve` does while it replays).
    pub async fn open_into(serving: Serving) -> Server {
        let data = Arc::new(TempDir::new("gateway"));
        Server::open(Setup::default(), data, true, Some(serving)).await
    }

    /// A server over a journal already in `data` (a restart, a backup).
    pub async fn open_existing(setup: Setup, data: Arc<TempDir>) -> Server {
        Server::open(setup, data, false, None).await
    }

    async fn open(setup: Setup, data: Arc<TempDir>, fresh: bool, serving: Option<Serving>) -> Server {
        let clock: Arc<dyn Clock> = match &setup.clock {
            Some(clock) => Arc::clone(clock) as Arc<dyn Clock>,
            None => Arc::new(SystemClock),
        };
        let mode = if fresh { OpenMode::Create } else { OpenMode::Existing };
        let store = SqliteStore::open(&data.0, mode, setup.durability).unwrap();
        let gate = Arc::new(Gate::default());
        let store = GatedStore { inner: store, gate: Arc::clone(&gate) };
        let (sequencer, _) =
            Sequencer::start(Box::new(store), setup.ledger, sequencer_config(), Arc::clone(&clock)).unwrap();
        let handle = sequencer.handle();
        if fresh {
            for command in seed_commands(clock.now()) {
                handle.submit(command).await.unwrap();
            }
        }
        let signer = Signer::new(&SECRET).unwrap();
        let app = App::new(setup.config.clone(), handle, signer.clone(), clock);
        let Serving { address, starting, task, shutdown } = match serving {
            Some(serving) => serving,
            None => Serving::start().await,
        };
        starting.open(Arc::clone(&app));
        lantern_llm::install_tls_provider();
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        Server {
            base: format!("http://{address}"),
            http,
            signer,
            app,
            gate,
            data,
            setup,
            shutdown: Some(shutdown),
            task: Some(task),
            sequencer: Some(sequencer),
            keys: AtomicU64::new(1),
        }
    }

    /// Stops gracefully (the server drains, then the sequencer commits what is queued) and
    /// starts a new server over the same data directory, on a new port.
    pub async fn restart(self) -> Server {
        let setup = self.setup.clone();
        self.restart_with(setup).await
    }

    /// Stops, then starts again on the same journal with `setup`.
    pub async fn restart_with(mut self, setup: Setup) -> Server {
        self.stop().await;
        let data = Arc::clone(&self.data);
        drop(self);
        Server::open(setup, data, false, None).await
    }

    /// Asks the server to shut down (as SIGTERM does) without waiting for it.
    pub fn request_shutdown(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }

    /// Shuts down gracefully: stops taking connections, waits for requests in flight, then
    /// stops the sequencer, which commits what is queued.
    pub async fn stop(&mut self) {
        self.request_shutdown();
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
        if let Some(sequencer) = self.sequencer.take() {
            tokio::task::spawn_blocking(move || sequencer.stop()).await.unwrap();
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A fresh idempotency key.
    pub fn key(&self) -> String {
        format!("key-{}", self.keys.fetch_add(1, Ordering::Relaxed))
    }

    pub fn token_for(&self, role: Role) -> String {
        let now = self.app.now();
        self.signer.issue_token(&Claims { role, issued_at: now, expires_at: now.plus_ms(DAY_MS) })
    }

    pub fn shopper(&self, id: u64) -> String {
        self.token_for(Role::Shopper(ShopperId::new(id)))
    }

    pub fn merchant(&self, id: u64) -> String {
        self.token_for(Role::Merchant(MerchantId::new(id)))
    }

    pub fn operator(&self) -> String {
        self.token_for(Role::Operator)
    }

    /// A well-signed waiting-room ticket, for presenting in the wrong place.
    pub fn some_ticket(&self) -> String {
        let now = SystemClock.now();
        self.signer.issue_ticket(&SignedTicket {
            shopper: Some(ShopperId::new(1)),
            class: 2,
            seq: 1,
            issued_at: now,
            expires_at: now.plus_ms(60_000),
        })
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.unwrap_or_else(|error| panic!("no HTTP answer: {error:?}"));
        read(response).await
    }

    pub async fn get(&self, token: &str, path: &str) -> Reply {
        self.send(self.http.get(self.url(path)).bearer_auth(token)).await
    }

    /// POST with a JSON body and the given idempotency key.
    pub async fn post_keyed(&self, token: &str, path: &str, key: &str, body: &Value) -> Reply {
        self.send(self.http.post(self.url(path)).bearer_auth(token).header("idempotency-key", key).json(body))
            .await
    }

    /// POST with a JSON body and a fresh idempotency key.
    pub async fn post(&self, token: &str, path: &str, body: &Value) -> Reply {
        self.post_keyed(token, path, &self.key(), body).await
    }

    /// POST raw bytes as `content_type` with a fresh key.
    pub async fn post_bytes(&self, token: &str, path: &str, content_type: &str, body: Vec<u8>) -> Reply {
        self.send(
            self.http
                .post(self.url(path))
                .bearer_auth(token)
                .header("idempotency-key", self.key())
                .header("content-type", content_type)
                .body(body),
        )
        .await
    }

    // ---- the shopper's steps -------------------------------------------------------------

    pub async fn claim(&self, token: &str, campaign: &str) -> Reply {
        self.post(token, &format!("/v1/campaigns/{campaign}/claim"), &json!({})).await
    }

    /// Opens a checkout session at `merchant` for `lines` and returns it (201 asserted).
    pub async fn checkout(&self, token: &str, merchant: &str, lines: Value) -> Value {
        let reply = self
            .post(token, "/v1/checkout_sessions", &json!({"merchant_id": merchant, "line_items": lines}))
            .await;
        reply.ok(201).clone()
    }

    /// Claims the festival coupon, opens a session for one pearl milk tea at `merchant` and
    /// completes it; returns the order.
    pub async fn place_order(&self, token: &str, merchant: &str) -> Value {
        let claimed = self.claim(token, FESTIVAL).await;
        assert_eq!(claimed.status, 201, "{}", claimed.text);
        let session = self.checkout(token, merchant, json!([{"id": "itm_101", "quantity": 1}])).await;
        let id = session["id"].as_str().unwrap();
        let completed = self.post(token, &format!("/v1/checkout_sessions/{id}/complete"), &json!({})).await;
        completed.ok(200)["order"].clone()
    }

    /// Sets `mer_<id>` to one order a minute with a deep kitchen, so that its rate is what
    /// refuses the next order.
    pub async fn one_order_a_minute(&self, id: u64) {
        let capacity = json!({"orders_per_minute": 1, "open_orders_max": 20});
        self.post(&self.merchant(id), "/v1/merchant/capacity", &capacity).await.ok(200);
    }

    pub async fn wallet(&self, token: &str) -> Vec<Value> {
        self.get(token, "/v1/wallet").await.ok(200)["coupons"].as_array().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        // The sequencer's stop blocks on its intake, which may not run inside the runtime.
        if let Some(sequencer) = self.sequencer.take() {
            self.gate.open();
            let _ = std::thread::spawn(move || sequencer.stop()).join();
        }
    }
}

pub async fn read(response: reqwest::Response) -> Reply {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text =
        response.text().await.unwrap_or_else(|error| panic!("body of a {status} unreadable: {error:?}"));
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply { status, headers, text, json }
}

/// Polls `condition` every 5 ms for up to 5 s.
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("timed out waiting for {what}");
}

/// A small xorshift generator: reproducible by seed, no dependency.
#[derive(Debug)]
pub struct Rng(u64);

impl Rng {
    /// Seeded from `LANTERN_FUZZ_SEED` when set, else `default`; prints the seed.
    pub fn from_env_or(default: u64) -> Rng {
        let seed =
            std::env::var("LANTERN_FUZZ_SEED").ok().and_then(|seed| seed.parse().ok()).unwrap_or(default);
        eprintln!("LANTERN_FUZZ_SEED={seed}");
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Every byte percent-encoded.
pub fn percent_encode(text: &str) -> String {
    text.bytes().map(|byte| format!("%{byte:02X}")).collect()
}
