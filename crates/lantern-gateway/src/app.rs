//! The gateway's shared state and the steps every request goes through: who is calling
//! (bearer token), may it come in now (admission), and has this request been made before
//! (idempotency), before its command goes to the ledger.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use lantern_admission::{
    Admission, AdmissionConfig, Class, Decision, Permit, ShedReason, Ticket, TicketState,
};
use lantern_auth::{Claims, Role, SignedTicket, Signer};
use lantern_core::{GeoPoint, IdempotencyKey, MerchantId, OrderId, QuoteId, ShopperId, Timestamp};
use lantern_ledger::{Command, Ledger, LedgerError, OrderReceipt, Outcome, RetiredOrder};
use lantern_sequencer::{Clock, ReplySlot, SequencerHandle, SubmitError};
use parking_lot::{Mutex, RwLock};
use rustc_hash::{FxHashMap, FxHashSet};
use sha2::Digest;
use tokio::sync::Notify;

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::wire::WaitingBody;

/// Header that carries an admitted waiting-room ticket on the repeated request.
pub const TICKET_HEADER: &str = "lantern-ticket";
/// Longest accepted `Idempotency-Key`, in bytes (as the ledger's keys).
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
/// Most retired orders the read index forgets in one pass (see [`App::prune_index`]).
pub const INDEX_PRUNE_BATCH_MAX: usize = 65_536;

/// How the gateway behaves. There is no `Default`: the binary states each value (from its
/// configuration file) and [`GatewayConfig::validate`] checks them.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    pub admission: AdmissionConfig,
    /// Off only to show, in the surge report, what happens without admission control.
    pub admission_enabled: bool,
    /// Largest request body accepted (a catalog upload is the largest legitimate one).
    pub body_bytes_max: usize,
    /// How long a request may wait for the ledger before it is answered 503.
    pub request_deadline_ms: u64,
    /// Longest a waiting-room long poll is held open.
    pub long_poll_ms: u64,
    /// SSE comment interval that keeps idle connections alive through proxies.
    pub sse_keepalive_ms: u64,
    /// Longest one SSE stream lives; clients reconnect.
    pub sse_lifetime_ms: u64,
    /// How long a signed waiting-room ticket is valid.
    pub ticket_ttl_ms: u64,
    /// Requests with an idempotency key being processed at once (each holds one entry).
    pub keys_in_flight_max: usize,
    /// A state-changing request whose turn in the waiting room is due within this long waits
    /// for it in the gateway instead of being answered with a ticket (0: always a ticket).
    pub line_wait_ms: u64,
    /// The chat agent's settings; its language model is off unless `agent.llm` is set.
    pub agent: lantern_agent::AgentConfig,
    pub llm: Option<lantern_llm::LlmConfig>,
    /// Chat sessions kept at once (each a cart and a pending quote).
    pub chat_sessions_max: usize,
    /// A chat session unused this long is forgotten.
    pub chat_session_idle_ms: u64,
    /// `POST /v1/guest_token` hands out shopper tokens to anyone (the demo's chat page).
    pub guest_tokens: bool,
    /// The Agentic Commerce Protocol: order links and webhooks.
    pub acp: crate::acp::AcpConfig,
    /// The cluster this node belongs to, when shoppers are sharded over several nodes.
    pub shards: Option<crate::sharding::ShardMap>,
    /// Where `POST /v1/ops/backups` puts backups; `None` when this gateway has no data
    /// directory to back up.
    pub backups: Option<crate::backups::BackupPlace>,
    /// Orders (and shoppers) the read index's tables are sized for up front, as the ledger's
    /// (`LedgerConfig::expected_orders`): no regrowing under the index's lock mid-surge, at the
    /// cost of that memory from the start. Zero sizes nothing ahead.
    pub expected_orders: usize,
}

impl GatewayConfig {
    /// Checks every value; the message names the field and the allowed range.
    pub fn validate(&self) -> Result<(), String> {
        self.admission.validate().map_err(|error| error.to_string())?;
        if let Some(shards) = &self.shards {
            shards.validate()?;
        }
        let checks: [(&str, u64, u64, u64); 10] = [
            ("limits.body_bytes_max", self.body_bytes_max as u64, 1_024, 64 << 20),
            ("limits.request_deadline_ms", self.request_deadline_ms, 10, 600_000),
            ("waiting_room.long_poll_ms", self.long_poll_ms, 100, 120_000),
            ("limits.sse_keepalive_ms", self.sse_keepalive_ms, 100, 600_000),
            ("limits.sse_lifetime_ms", self.sse_lifetime_ms, 1_000, 86_400_000),
            ("waiting_room.ticket_ttl_ms", self.ticket_ttl_ms, 1_000, 86_400_000),
            ("limits.keys_in_flight_max", self.keys_in_flight_max as u64, 1, 10_000_000),
            ("waiting_room.line_wait_ms", self.line_wait_ms, 0, 30_000),
            ("chat.sessions_max", self.chat_sessions_max as u64, 1, 10_000_000),
            ("chat.session_idle_ms", self.chat_session_idle_ms, 1_000, 86_400_000),
        ];
        for (field, value, min, max) in checks {
            if !(min..=max).contains(&value) {
                return Err(format!("{field} must be {min}..={max}, got {value}"));
            }
        }
        if let Some(webhook) = &self.acp.webhook {
            webhook.validate()?;
        }
        if let Some(signing) = &self.acp.signing {
            signing.validate()?;
        }
        if let Some(llm) = &self.llm {
            llm.validate().map_err(|error| format!("llm: {error}"))?;
        }
        Ok(())
    }

    /// Production defaults (documented in the configuration file's comments).
    pub fn default_for_serve() -> GatewayConfig {
        GatewayConfig {
            admission: AdmissionConfig::default_for_gateway(),
            admission_enabled: true,
            body_bytes_max: 4 << 20,
            request_deadline_ms: 10_000,
            long_poll_ms: 25_000,
            sse_keepalive_ms: 15_000,
            sse_lifetime_ms: 600_000,
            ticket_ttl_ms: 30 * 60 * 1000,
            keys_in_flight_max: 1_000_000,
            line_wait_ms: 2_000,
            agent: lantern_agent::AgentConfig::default(),
            llm: None,
            chat_sessions_max: 100_000,
            chat_session_idle_ms: 30 * 60 * 1000,
            guest_tokens: false,
            acp: crate::acp::AcpConfig {
                public_url: "http://localhost:8080".into(),
                webhook: None,
                signing: None,
                links: Vec::new(),
            },
            shards: None,
            backups: None,
            expected_orders: 0,
        }
    }
}

/// Orders by shopper, merchant and quote: the ledger keeps orders by id only, so the gateway
/// keeps these lookups beside it (rebuilt from the ledger at start, extended on each answer).
#[derive(Debug, Default, PartialEq)]
pub struct ReadIndex {
    pub orders_by_shopper: FxHashMap<ShopperId, Vec<OrderId>>,
    pub orders_by_merchant: FxHashMap<MerchantId, Vec<OrderId>>,
    pub order_by_quote: FxHashMap<QuoteId, OrderId>,
    pub merchants: Vec<MerchantId>,
    /// Shops that said where they are, by grid cell ([`GEO_CELL_E6`] micro-degrees a side), and
    /// each one's cell: what "nearby" means.
    by_cell: FxHashMap<(i32, i32), Vec<MerchantId>>,
    cell_of: FxHashMap<MerchantId, (i32, i32)>,
}

/// Drops the `gone` orders from the lists of `owners` (each list once), and the lists left empty.
fn drop_orders<K: std::hash::Hash + Eq>(
    lists: &mut FxHashMap<K, Vec<OrderId>>,
    owners: impl Iterator<Item = K>,
    gone: &FxHashSet<OrderId>,
) {
    let owners: FxHashSet<K> = owners.collect();
    for owner in owners {
        if let Some(orders) = lists.get_mut(&owner) {
            orders.retain(|order| !gone.contains(order));
            if orders.is_empty() {
                lists.remove(&owner);
            }
        }
    }
}

/// A side of the "nearby" grid: 0.01 degree, about 1.1 km north to south.
pub const GEO_CELL_E6: i32 = 10_000;
/// Metres of a grid cell's side north to south (a degree of latitude is 111.2 km).
const GEO_CELL_M: f64 = 1_112.0;

fn cell_of(point: GeoPoint) -> (i32, i32) {
    (point.lat_e6().div_euclid(GEO_CELL_E6), point.lon_e6().div_euclid(GEO_CELL_E6))
}

impl ReadIndex {
    /// An empty index, its tables sized for `expected_orders`.
    pub fn sized(expected_orders: usize) -> ReadIndex {
        ReadIndex {
            orders_by_shopper: lantern_ledger::presized(expected_orders, |n| (ShopperId::new(n), Vec::new())),
            order_by_quote: lantern_ledger::presized(expected_orders, |n| (QuoteId::new(n), OrderId::new(n))),
            ..ReadIndex::default()
        }
    }

    /// The index of `ledger`'s orders, its tables sized for `expected_orders`.
    pub fn rebuild(ledger: &Ledger, expected_orders: usize) -> ReadIndex {
        let mut index = ReadIndex::sized(expected_orders);
        index.record_merchants(ledger);
        for view in ledger.orders() {
            index.record_order(&view.receipt);
        }
        index
    }

    /// The order an answer placed, if it placed one (inside a keyed answer too): what an index
    /// built from a replay's answers records ([`ReadIndex::finish`] completes it).
    pub fn placed(outcome: &Outcome) -> Option<&OrderReceipt> {
        match outcome {
            Outcome::OrderPlaced { receipt, .. } => Some(receipt),
            Outcome::Keyed { answer, .. } => answer.as_ref().as_ref().ok().and_then(ReadIndex::placed),
            _ => None,
        }
    }

    /// Completes an index recorded from the replay of `ledger`'s journal, every placed order in
    /// journal order, with what those answers do not carry: the shops and where they are, and
    /// the orders retired since. The same index as [`ReadIndex::rebuild`], without walking ten
    /// million orders after the replay; rebuilt after all when the ledger no longer remembers
    /// every order it retired.
    pub fn finish(mut self, ledger: &Ledger, expected_orders: usize) -> ReadIndex {
        let retired = ledger.retired_since(0, usize::MAX);
        if retired.missed {
            return ReadIndex::rebuild(ledger, expected_orders);
        }
        self.forget(&retired.orders);
        self.record_merchants(ledger);
        self
    }

    fn record_merchants(&mut self, ledger: &Ledger) {
        for merchant in ledger.merchant_ids() {
            let location = ledger.merchant(merchant).and_then(|(shop, ..)| shop.location);
            self.record_merchant(merchant, location);
        }
    }

    /// Idempotent: a replayed answer records nothing new.
    pub fn record_order(&mut self, receipt: &OrderReceipt) {
        if self.order_by_quote.insert(receipt.quote, receipt.order).is_some() {
            return;
        }
        self.orders_by_shopper.entry(receipt.shopper).or_default().push(receipt.order);
        self.orders_by_merchant.entry(receipt.merchant).or_default().push(receipt.order);
    }

    /// Forgets orders the ledger retired: their lists lose them, and a shopper or shop left
    /// with none leaves the index.
    pub fn forget(&mut self, retired: &[RetiredOrder]) {
        let gone: FxHashSet<OrderId> = retired.iter().map(|retired| retired.order).collect();
        for retired in retired {
            self.order_by_quote.remove(&retired.quote);
        }
        drop_orders(&mut self.orders_by_shopper, retired.iter().map(|retired| retired.shopper), &gone);
        drop_orders(&mut self.orders_by_merchant, retired.iter().map(|retired| retired.merchant), &gone);
    }

    /// A shop registered (or registered again, perhaps elsewhere or nowhere).
    pub fn record_merchant(&mut self, merchant: MerchantId, location: Option<GeoPoint>) {
        if let Err(position) = self.merchants.binary_search(&merchant) {
            self.merchants.insert(position, merchant);
        }
        if let Some(cell) = self.cell_of.remove(&merchant)
            && let Some(shops) = self.by_cell.get_mut(&cell)
        {
            shops.retain(|shop| *shop != merchant);
            if shops.is_empty() {
                self.by_cell.remove(&cell);
            }
        }
        if let Some(point) = location {
            let cell = cell_of(point);
            self.cell_of.insert(merchant, cell);
            self.by_cell.entry(cell).or_default().push(merchant);
        }
    }

    /// Shops that said where they are, in the grid cells within `radius_m` of `at`, ring by
    /// ring from `at`'s own cell outwards, until `max` are found (the ring that reaches it is
    /// finished, so the nearest are not cut for farther ones): candidates, not yet measured.
    #[allow(clippy::float_arithmetic, reason = "metres on the map, never money")]
    pub fn near(&self, at: GeoPoint, radius_m: u32, max: usize) -> Vec<MerchantId> {
        let (lat_cell, lon_cell) = cell_of(at);
        let lat_rings = (f64::from(radius_m) / GEO_CELL_M).ceil() as i32;
        // A cell is narrower east to west away from the equator.
        let lon_cell_m = GEO_CELL_M * at.lat().to_radians().cos().max(0.05);
        let lon_rings = (f64::from(radius_m) / lon_cell_m).ceil() as i32;
        let mut found = Vec::new();
        for ring in 0..=lat_rings.max(lon_rings) {
            for d_lat in -ring.min(lat_rings)..=ring.min(lat_rings) {
                for d_lon in -ring.min(lon_rings)..=ring.min(lon_rings) {
                    // Only the cells of this ring: the inner ones were visited before.
                    if d_lat.abs() != ring && d_lon.abs() != ring {
                        continue;
                    }
                    if let Some(shops) = self.by_cell.get(&(lat_cell + d_lat, lon_cell + d_lon)) {
                        found.extend_from_slice(shops);
                    }
                }
            }
            if found.len() >= max {
                break;
            }
        }
        found
    }
}

/// Everything a request handler needs.
#[derive(Debug)]
pub struct App {
    pub config: GatewayConfig,
    pub sequencer: SequencerHandle,
    pub signer: Signer,
    pub clock: Arc<dyn Clock>,
    pub admission: Mutex<Admission>,
    pub index: RwLock<ReadIndex>,
    /// How many of the ledger's retired orders the index has forgotten (see `prune_index`).
    retired_cursor: Mutex<u64>,
    /// The Idempotency-Key of the latest backup started here, and its folder.
    pub(crate) backup_key: Mutex<Option<crate::backups::StartedBackup>>,
    /// Search index and the agent's lexicon.
    pub catalogs: crate::catalogs::Catalogs,
    /// The chat agent's model client, when one is configured.
    pub llm: Option<lantern_llm::LlmClient>,
    pub chat: crate::chat::ChatSessions,
    /// ACP order webhooks waiting to be sent.
    pub webhooks: crate::webhooks::Webhooks,
    pub metrics: Metrics,
    /// The live views' own counters, audit list and rate samples.
    pub live: Arc<crate::live::Live>,
    keys_in_flight: Mutex<FxHashSet<(u64, u64)>>,
    /// Long polls and streams waiting on a ticket, woken when it is promoted.
    waiters: Mutex<FxHashMap<(usize, u64), WaiterEntry>>,
    /// Commands of requests held in line, submitted for them at their promotion
    /// ([`App::admit_and_submit`]); never more than the waiting room holds.
    parked: Mutex<FxHashMap<(usize, u64), ParkedCommand>>,
    pub ready: AtomicBool,
    next_request_id: AtomicU64,
    pub started: Instant,
    /// How this process's start went, once the gateway is open ([`crate::Starting::open`]).
    pub start: std::sync::OnceLock<crate::wire::StartBody>,
}

impl App {
    pub fn new(
        config: GatewayConfig,
        sequencer: SequencerHandle,
        signer: Signer,
        clock: Arc<dyn Clock>,
    ) -> Arc<App> {
        App::with_index(config, sequencer, signer, clock, None)
    }

    /// [`App::new`] with the read index recorded from the replay's answers, if one was
    /// (`ReadIndex::placed` each answer into `ReadIndex::record_order`): finished here instead of
    /// rebuilt.
    pub fn with_index(
        config: GatewayConfig,
        sequencer: SequencerHandle,
        signer: Signer,
        clock: Arc<dyn Clock>,
        recorded: Option<ReadIndex>,
    ) -> Arc<App> {
        if let Some(done_ms) = config
            .backups
            .as_ref()
            .and_then(|place| crate::backups::newest_finished_unix_ms(&place.directory))
        {
            sequencer.counters().last_backup_done_unix_ms.fetch_max(done_ms, Ordering::Relaxed);
        }
        let started = Instant::now();
        let from_replay = recorded.is_some();
        let (index, n_retired) = sequencer.read(|ledger| {
            let index = match recorded {
                Some(recorded) => recorded.finish(ledger, config.expected_orders),
                None => ReadIndex::rebuild(ledger, config.expected_orders),
            };
            (index, ledger.n_retired())
        });
        let index_ms = started.elapsed().as_millis() as u64;
        let catalogs = sequencer.read(crate::catalogs::Catalogs::from_ledger);
        // A restart after a surge spends seconds here; the operator waiting on it sees where.
        tracing::info!(
            orders = index.order_by_quote.len(),
            from_replay,
            read_index_ms = index_ms,
            search_index_ms = started.elapsed().as_millis() as u64 - index_ms,
            "indexes rebuilt"
        );
        let llm = config.llm.clone().and_then(|llm| {
            let key = std::env::var(&llm.api_key_env).ok().filter(|key| !key.is_empty());
            match lantern_llm::LlmClient::new(llm, key) {
                Ok(client) => Some(client),
                Err(error) => {
                    tracing::warn!(%error, "language model off: its client could not be made");
                    None
                }
            }
        });
        let chat = crate::chat::ChatSessions::new(config.chat_sessions_max, config.chat_session_idle_ms);
        let webhooks = crate::webhooks::Webhooks::new(config.acp.webhook.clone());
        Arc::new(App {
            webhooks,
            admission: Mutex::new(Admission::new(config.admission.clone())),
            config,
            sequencer,
            signer,
            clock,
            index: RwLock::new(index),
            retired_cursor: Mutex::new(n_retired),
            backup_key: Mutex::new(None),
            catalogs,
            llm,
            chat,
            metrics: Metrics::default(),
            live: Arc::default(),
            keys_in_flight: Mutex::new(FxHashSet::default()),
            parked: Mutex::new(FxHashMap::default()),
            waiters: Mutex::new(FxHashMap::default()),
            ready: AtomicBool::new(true),
            next_request_id: AtomicU64::new(1),
            started: Instant::now(),
            start: std::sync::OnceLock::new(),
        })
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub fn next_request_id(&self) -> u64 {
        self.next_request_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Who is calling, from `Authorization: Bearer <token>`.
    pub fn caller(&self, headers: &HeaderMap) -> Result<Claims, ApiError> {
        let value = headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "token_missing",
                    "send `Authorization: Bearer <token>` (development tokens: `lantern token --help`)",
                )
            })?
            .to_str()
            .map_err(|_| {
                ApiError::unauthorized("token_malformed", "the Authorization header is not ASCII")
            })?;
        let token = lantern_auth::parse_bearer(value)
            .map_err(|error| ApiError::unauthorized(error.code(), error.to_string()))?;
        self.signer
            .verify_token(token, self.now())
            .map_err(|error| ApiError::unauthorized(error.code(), error.to_string()))
    }

    /// Runs `command` through the ledger and waits, at most the request deadline, for its
    /// durable answer.
    pub async fn submit(&self, command: Command) -> Result<Outcome, ApiError> {
        let deadline = Duration::from_millis(self.config.request_deadline_ms);
        match tokio::time::timeout(deadline, self.sequencer.submit(command)).await {
            Ok(reply) => reply.map_err(ApiError::from),
            Err(_) => Err(deadline_passed(self.config.request_deadline_ms)),
        }
    }

    /// Runs a keyed request: the ledger keeps its first answer with the write, so a repeat
    /// gets that answer (`replayed`), a different request under the same key is a conflict,
    /// and a repeat while the first is still running is told to wait.
    pub async fn submit_keyed(
        &self,
        keyed: &KeyedRequest,
        suffix: &str,
        command: Command,
    ) -> Result<Answer, ApiError> {
        let command = keyed.wrap(suffix, command)?;
        Ok(keyed_answer(self.submit(command).await?))
    }

    /// What every state-changing handler does once its input is checked: the in-flight mark on
    /// its key, admission (a command held in line is parked), then the keyed command through
    /// the ledger ([`App::admit_and_submit`]).
    pub async fn run_keyed(
        self: &Arc<App>,
        class: Class,
        shopper: Option<ShopperId>,
        ip: IpAddr,
        headers: &HeaderMap,
        keyed: &KeyedRequest,
        command: Command,
    ) -> Result<Answer, ApiError> {
        let (answer, _) = self.admit_and_submit(class, shopper, ip, headers, keyed, command).await?;
        Ok(answer)
    }

    /// Expires departed shoppers' tickets and wakes promoted ones; the server calls it every
    /// tick so that both happen even when no request comes.
    /// Forgets, in the read index, the orders the ledger retired since the last call (at most
    /// `INDEX_PRUNE_BATCH_MAX`; the rest next time), so the index stays as large as the
    /// ledger's retention and not as large as every order since the start. A gateway so far
    /// behind that the ledger no longer remembers what it retired rebuilds the index.
    pub fn prune_index(&self) {
        let mut cursor = self.retired_cursor.lock();
        let since = self.sequencer.read(|ledger| ledger.retired_since(*cursor, INDEX_PRUNE_BATCH_MAX));
        if since.missed {
            self.rebuild_index();
        } else if !since.orders.is_empty() {
            self.index.write().forget(&since.orders);
        }
        *cursor = since.next;
    }

    /// Replaces the read index with one rebuilt from the ledger. Never holds the index's lock
    /// while it reads the ledger (the order the two are taken in everywhere else is index, then
    /// ledger), so the orders recorded in the old index meanwhile are recorded again after.
    fn rebuild_index(&self) {
        let (fresh, next_order) = self.sequencer.read(|ledger| {
            let fresh = ReadIndex::rebuild(ledger, self.config.expected_orders);
            (fresh, ledger.orders().map(|view| view.receipt.order.get()).max().unwrap_or(0))
        });
        *self.index.write() = fresh;
        let since: Vec<OrderReceipt> = self.sequencer.read(|ledger| {
            ledger
                .orders()
                .filter(|view| view.receipt.order.get() > next_order)
                .map(|view| view.receipt)
                .collect()
        });
        let mut index = self.index.write();
        for receipt in &since {
            index.record_order(receipt);
        }
        tracing::warn!(
            n_orders = index.order_by_quote.len(),
            "read index rebuilt: it fell behind the ledger's retired orders"
        );
    }

    pub fn admission_tick(self: &Arc<App>) {
        let now_ms = self.now().unix_ms();
        let mut admission = self.admission.lock();
        admission.expire(now_ms);
        self.wake_promoted(admission);
    }

    /// Hands the tickets promoted since the last call their slots: a parked command is
    /// submitted at once for its request, a long poll (or a request held in line) is woken, and
    /// a ticket nobody is waiting on, issued over [`TICKET_FRESH_MS`] ago, has its holder marked
    /// away ([`Admission::mark_away`]).
    fn wake_promoted(self: &Arc<App>, mut admission: parking_lot::MutexGuard<'_, Admission>) {
        let mut promoted = Vec::new();
        admission.take_promoted(&mut promoted);
        drop(admission);
        let now_ms = self.now().unix_ms();
        // Marking a ticket away can promote the next; a few rounds settle a crowd of them, and
        // the next call or tick takes up whatever is left.
        for _round in 0..WAKE_ROUNDS_MAX {
            if promoted.is_empty() {
                return;
            }
            let mut handed_over = Vec::new();
            let mut away = Vec::new();
            {
                let mut parked = self.parked.lock();
                let waiters = self.waiters.lock();
                for ticket in promoted.drain(..) {
                    let key = ticket_key(ticket);
                    if let Some(command) = parked.remove(&key) {
                        handed_over.push((ticket, command));
                    } else if let Some((notify, _)) = waiters.get(&key) {
                        notify.notify_one();
                    } else if now_ms.saturating_sub(ticket.issued_at_ms) >= TICKET_FRESH_MS {
                        away.push(ticket);
                    }
                }
            }
            // One lock a round: redeem the parked tickets, mark the away ones, and take what that
            // promoted; the hand-overs themselves run outside it.
            let redeemed: Vec<_> = {
                let now_ms = self.now().unix_ms();
                let mut admission = self.admission.lock();
                let redeemed = handed_over
                    .into_iter()
                    .map(|(ticket, parked)| (admission.redeem(ticket, now_ms), parked))
                    .collect();
                for ticket in away {
                    admission.mark_away(ticket, now_ms);
                }
                admission.take_promoted(&mut promoted);
                redeemed
            };
            for (redeemed, parked) in redeemed {
                match redeemed {
                    Ok(permit) => {
                        let waited_ms =
                            u64::try_from(parked.parked_at.elapsed().as_millis()).unwrap_or(u64::MAX);
                        *parked.handoff.lock() =
                            Some((PermitGuard::new(self, Some(permit)), waited_ms.max(1)));
                        self.sequencer.try_submit_into(parked.command, parked.slot);
                    }
                    // Promoted and lapsed before this ran (a stall longer than the admitted TTL).
                    Err(_) => parked.slot.refuse(SubmitError::Overloaded { capacity: 0 }),
                }
            }
        }
    }

    /// Registers a long poll on `ticket`; it is woken when the ticket is promoted. `None` when
    /// `WAITERS_MAX` polls are registered already: that poll checks on its own, less often.
    pub fn wait_on(self: &Arc<App>, ticket: Ticket) -> Option<Waiter> {
        let key = ticket_key(ticket);
        let mut waiters = self.waiters.lock();
        if !waiters.contains_key(&key) && waiters.len() >= WAITERS_MAX {
            return None;
        }
        let (notify, n_polls) = waiters.entry(key).or_insert_with(|| (Arc::new(Notify::new()), 0));
        *n_polls += 1;
        Some(Waiter { app: Arc::clone(self), key, notify: Arc::clone(notify) })
    }

    /// The per-address rate limit alone, for requests that take no slot (guest tokens).
    pub fn check_ip_rate(&self, ip: IpAddr) -> Result<(), ApiError> {
        let now = self.now();
        let ip_key = match ip {
            IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
            IpAddr::V6(v6) => u128::from(v6),
        };
        let checked = self.admission.lock().check_rate(None, ip_key, now.unix_ms());
        checked.map_err(|decision| self.refusal(decision, Class::Browse, None, now))
    }

    /// Marks a key as being processed; the guard unmarks it.
    pub fn begin_key(self: &Arc<App>, keyed: &KeyedRequest) -> Result<KeyGuard, ApiError> {
        let entry = (keyed.scope, keyed.key_hash);
        let mut in_flight = self.keys_in_flight.lock();
        if in_flight.contains(&entry) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_in_flight",
                "a request with this Idempotency-Key is still being processed; retry after it finishes",
            )
            .with_retry_after_ms(1_000));
        }
        if in_flight.len() >= self.config.keys_in_flight_max {
            return Err(ApiError::unavailable(
                "overloaded",
                "too many requests in progress; retry shortly",
                1_000,
            ));
        }
        in_flight.insert(entry);
        Ok(KeyGuard { app: Arc::clone(self), entry })
    }

    /// Admission: rate limits, then a slot of `class`'s share of the concurrency limit, or a
    /// place in the waiting room, or a clear refusal. A request carrying an admitted ticket
    /// takes the slot the ticket reserved.
    pub fn admit(
        self: &Arc<App>,
        class: Class,
        shopper: Option<ShopperId>,
        ip: IpAddr,
        headers: &HeaderMap,
    ) -> Result<PermitGuard, ApiError> {
        self.admit_or_queue(class, shopper, ip, headers, false, &mut None).map(|(permit, _)| permit)
    }

    /// [`App::admit`], except that a request whose turn is due within `line_wait_ms` waits for it
    /// here, in its place in line, instead of being answered with a ticket to come back with:
    /// its turn then costs no round trip, and the shopper no extra request. Returns the permit
    /// and how long the request waited (0 when admitted at once).
    pub async fn admit_or_wait(
        self: &Arc<App>,
        class: Class,
        shopper: Option<ShopperId>,
        ip: IpAddr,
        headers: &HeaderMap,
    ) -> Result<(PermitGuard, u64), ApiError> {
        let line_wait_ms = self.config.line_wait_ms;
        let (permit, queued) =
            match self.admit_or_queue(class, shopper, ip, headers, line_wait_ms > 0, &mut None)? {
                (permit, None) => return Ok((permit, 0)),
                (permit, Some(queued)) => (permit, queued),
            };
        drop(permit);
        let waiting_since = Instant::now();
        let deadline = tokio::time::Instant::now() + Duration::from_millis(line_wait_ms);
        let waiter = self.wait_on(queued.ticket);
        // Only this request knows the ticket: if it is dropped (its client hung up, or its
        // deadline passed) the place is given up at once.
        let mut held = HeldTicket { app: self, ticket: Some(queued.ticket) };
        loop {
            let now_ms = self.now().unix_ms();
            let at_ceiling = match self.admission.lock().redeem(queued.ticket, now_ms) {
                Ok(permit) => {
                    held.ticket = None;
                    let waited_ms = u64::try_from(waiting_since.elapsed().as_millis()).unwrap_or(u64::MAX);
                    return Ok((PermitGuard::new(self, Some(permit)), waited_ms.max(1)));
                }
                // Waiting, or its turn come while the slots are at the ceiling (this request
                // ran so late that its reservation went stale).
                Err(state) => {
                    let Some((position, eta_ms)) = place_in_line(state) else {
                        return Err(ticket_lapsed());
                    };
                    if tokio::time::Instant::now() >= deadline {
                        // Not yet: the shopper keeps this place in line with the ticket.
                        held.ticket = None;
                        return Err(self.ticket_answer(queued.ticket, class, shopper, position, eta_ms));
                    }
                    matches!(state, TicketState::Admitted { .. })
                }
            };
            // A registered request is woken by its promotion (a completion promotes and
            // notifies; a notification sent before this wait is kept), so it looks on its own
            // only rarely: under overload thousands wait here, and waking each of them ten
            // times a second re-polled its whole future stack for nothing.
            let refresh_ms = if at_ceiling {
                CEILING_RETRY_MS
            } else if waiter.is_some() {
                LINE_WAIT_REFRESH_REGISTERED_MS
            } else {
                LINE_WAIT_REFRESH_MS
            };
            let refresh = tokio::time::Instant::now() + Duration::from_millis(refresh_ms);
            next_ticket_change(waiter.as_ref(), refresh.min(deadline)).await;
        }
    }

    /// Admission, then `command` through the ledger, for a request whose command is built before
    /// admission (every keyed write: [`App::run_keyed`], the coupon order). A request queued within the line wait
    /// *parks* its command: the completion that promotes its ticket submits the command for it,
    /// so the request, parked since it arrived, runs again once, with the ledger's answer.
    /// Under overload thousands wait so, and waking each a second time, cold, only to submit its
    /// own command cost the gateway a third of its cores. Returns the answer and how long the
    /// request waited in line (0 when admitted at once).
    pub async fn admit_and_submit(
        self: &Arc<App>,
        class: Class,
        shopper: Option<ShopperId>,
        ip: IpAddr,
        headers: &HeaderMap,
        keyed: &KeyedRequest,
        command: Command,
    ) -> Result<(Answer, u64), ApiError> {
        let line_wait_ms = self.config.line_wait_ms;
        let _key = self.begin_key(keyed)?;
        let (slot, pending) = SequencerHandle::reply_slot();
        let handoff = Handoff::default();
        let mut park = Some(ParkedCommand {
            command: keyed.wrap("", command)?,
            slot,
            handoff: Arc::clone(&handoff),
            parked_at: Instant::now(),
        });
        let (mut permit, queued) =
            self.admit_or_queue(class, shopper, ip, headers, line_wait_ms > 0, &mut park)?;
        if let Some(unparked) = park {
            // Admitted at once: nothing was parked.
            let answer = self.submit_wrapped_measured(&mut permit, unparked.command).await?;
            return Ok((answer, 0));
        }
        // Parked, so queued (`admit_or_queue` parks only a request it queues to wait).
        let Some(queued) = queued else {
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "bug",
                "a parked command has no ticket",
            ));
        };
        drop(permit);
        // Only this request knows the ticket: if it is dropped (its client hung up) while its
        // command is still parked, the place is given up at once.
        let mut held = ParkedTicket { app: self, ticket: Some(queued.ticket) };
        let answer = self.sequencer.answer(pending);
        tokio::pin!(answer);
        let line_deadline = tokio::time::Instant::now() + Duration::from_millis(line_wait_ms);
        let reply = match tokio::time::timeout_at(line_deadline, &mut answer).await {
            Ok(reply) => reply,
            Err(_) => {
                held.ticket = None;
                let unparked = self.parked.lock().remove(&ticket_key(queued.ticket));
                if let Some(unparked) = unparked {
                    // Still in line after the line wait: the client keeps the place with the ticket.
                    let now_ms = self.now().unix_ms();
                    let redeemed = self.admission.lock().redeem(queued.ticket, now_ms);
                    return match redeemed {
                        // Promoted just now, its hand-over not yet run: run it here.
                        Ok(permit) => {
                            let mut permit = PermitGuard::new(self, Some(permit));
                            let answer = self.submit_wrapped_measured(&mut permit, unparked.command).await?;
                            Ok((answer, line_wait_ms))
                        }
                        Err(state) => Err(match place_in_line(state) {
                            Some((position, eta_ms)) => {
                                self.ticket_answer(queued.ticket, class, shopper, position, eta_ms)
                            }
                            None => ticket_lapsed(),
                        }),
                    };
                }
                // Submitted for this request already: its answer comes within the request deadline.
                let deadline = Duration::from_millis(self.config.request_deadline_ms);
                match tokio::time::timeout(deadline, &mut answer).await {
                    Ok(reply) => reply,
                    Err(_) => return Err(deadline_passed(self.config.request_deadline_ms)),
                }
            }
        };
        held.ticket = None;
        let overloaded = matches!(reply, Err(SubmitError::Overloaded { .. }));
        let Some((mut permit, waited_ms)) = handoff.lock().take() else {
            // Answered without a hand-over: the slot was refused or dropped (shutting down).
            return Err(reply.map_err(ApiError::from).err().unwrap_or_else(ticket_lapsed));
        };
        permit.measured(self.sequencer.ledger_latency_us(), overloaded);
        Ok((keyed_answer(reply.map_err(ApiError::from)?), waited_ms))
    }

    /// Gives up a ticket whose holder is gone for good, and hands its slot, if promoted, on.
    fn abandon_ticket(self: &Arc<App>, ticket: Ticket) {
        let now_ms = self.now().unix_ms();
        let mut admission = self.admission.lock();
        admission.abandon(ticket, now_ms);
        self.wake_promoted(admission);
    }

    /// Commands parked for requests held in line.
    pub fn n_parked(&self) -> usize {
        self.parked.lock().len()
    }

    /// A wrapped keyed command through the ledger, then the ledger's own latency for the
    /// concurrency limit: the limit adapts to the ledger alone, not to time this task spent
    /// waiting for a busy core (under overload the cores are busy turning requests away, and that
    /// must not shrink the limit).
    async fn submit_wrapped_measured(
        &self,
        permit: &mut PermitGuard,
        command: Command,
    ) -> Result<Answer, ApiError> {
        let reply = self.submit(command).await;
        let overloaded = matches!(&reply, Err(error) if error.status == StatusCode::SERVICE_UNAVAILABLE);
        permit.measured(self.sequencer.ledger_latency_us(), overloaded);
        Ok(keyed_answer(reply?))
    }

    /// Admits, queues or refuses. With `may_wait`, a fresh request queued with an ETA within
    /// the line wait comes back as `Some(Queued)` (its permit guard empty) for the caller to
    /// wait on, and its `park` command, if any, is parked for it (taken out of `park`) before
    /// any completion can promote its ticket; otherwise a queued request is answered with its
    /// ticket.
    fn admit_or_queue(
        self: &Arc<App>,
        class: Class,
        shopper: Option<ShopperId>,
        ip: IpAddr,
        headers: &HeaderMap,
        may_wait: bool,
        park: &mut Option<ParkedCommand>,
    ) -> Result<(PermitGuard, Option<Queued>), ApiError> {
        if !self.config.admission_enabled {
            return Ok((PermitGuard::new(self, None), None));
        }
        let now = self.now();
        let now_ms = now.unix_ms();
        let ip_key = match ip {
            IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
            IpAddr::V6(v6) => u128::from(v6),
        };
        let presented = headers.get(TICKET_HEADER).and_then(|value| value.to_str().ok());
        let mut admission = self.admission.lock();
        if let Err(decision) = admission.check_rate(shopper.map(ShopperId::get), ip_key, now_ms) {
            drop(admission);
            return Err(self.refusal(decision, class, shopper, now));
        }
        if let Some(text) = presented {
            let signed = self
                .signer
                .verify_ticket(text, now)
                .map_err(|error| ApiError::invalid("$header.Lantern-Ticket", error.to_string()))?;
            if signed.shopper != shopper || usize::from(signed.class) != class.index() {
                return Err(ApiError::forbidden("this waiting-room ticket was issued for another request"));
            }
            let ticket = Ticket { class, seq: signed.seq, issued_at_ms: signed.issued_at.unix_ms() };
            match admission.redeem(ticket, now_ms) {
                Ok(permit) => return Ok((PermitGuard::new(self, Some(permit)), None)),
                Err(state) => {
                    // Gone: queue afresh below.
                    if let Some((position, eta_ms)) = place_in_line(state) {
                        drop(admission);
                        return Err(self.waiting(text.to_owned(), position, eta_ms));
                    }
                }
            }
        }
        let decision = admission.admit(class, now_ms);
        if let Decision::Wait { ticket, eta_ms, .. } = decision
            && may_wait
            && eta_ms <= self.config.line_wait_ms
            && let Some(command) = park.take()
        {
            // Under the admission lock: the completion that promotes this ticket finds it.
            self.parked.lock().insert(ticket_key(ticket), command);
        }
        // This call may have promoted tickets (a reservation going stale frees room): hand them
        // over now rather than at the next completion or tick, up to 100 ms away.
        self.wake_promoted(admission);
        match decision {
            Decision::Admit(permit) => Ok((PermitGuard::new(self, Some(permit)), None)),
            Decision::Wait { ticket, eta_ms, .. } if may_wait && eta_ms <= self.config.line_wait_ms => {
                Ok((PermitGuard::new(self, None), Some(Queued { ticket })))
            }
            other => Err(self.refusal(other, class, shopper, now)),
        }
    }

    fn ticket_answer(
        &self,
        ticket: Ticket,
        class: Class,
        shopper: Option<ShopperId>,
        position: u64,
        eta_ms: u64,
    ) -> ApiError {
        self.refusal(Decision::Wait { ticket, position, eta_ms }, class, shopper, self.now())
    }

    fn refusal(
        &self,
        decision: Decision,
        class: Class,
        shopper: Option<ShopperId>,
        now: Timestamp,
    ) -> ApiError {
        match decision {
            Decision::Admit(_) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "bug", "admitted as a refusal")
            }
            Decision::Wait { ticket, position, eta_ms } => {
                let signed = SignedTicket {
                    shopper,
                    class: u8::try_from(class.index()).unwrap_or(u8::MAX),
                    seq: ticket.seq,
                    issued_at: Timestamp::from_ms(ticket.issued_at_ms),
                    expires_at: now.plus_ms(self.config.ticket_ttl_ms),
                };
                self.waiting(self.signer.issue_ticket(&signed), position, eta_ms)
            }
            Decision::Shed { reason, retry_after_ms } => {
                let (code, message) = match reason {
                    ShedReason::ShopperRateLimited => {
                        ("shopper_rate_limited", "you are sending requests too fast; slow down and retry")
                    }
                    ShedReason::IpRateLimited => {
                        ("ip_rate_limited", "this address is sending requests too fast; slow down and retry")
                    }
                    ShedReason::WaitingRoomFull => (
                        "waiting_room_full",
                        "the waiting room for this kind of request is full; retry after the time given",
                    ),
                };
                // Every reason is "too many requests now", said with when to come back: a full
                // waiting room is the gateway working as designed, not failing (that is 503).
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, code, message)
                    .with_retry_after_ms(retry_after_ms)
            }
        }
    }

    fn waiting(&self, ticket: String, position: u64, eta_ms: u64) -> ApiError {
        let body = WaitingBody {
            kind: "invalid_request".into(),
            code: "queued".into(),
            message: format!(
                "you are number {position} in line, about {} s; poll the ticket and repeat the request with it when admitted",
                eta_ms.div_ceil(1000)
            ),
            poll_url: format!("/v1/waiting_room/{ticket}"),
            ticket,
            position,
            eta_ms,
        };
        ApiError::queued(body)
    }
}

fn deadline_passed(deadline_ms: u64) -> ApiError {
    ApiError::unavailable(
        "deadline_exceeded",
        format!(
            "the ledger did not answer within {deadline_ms} ms; retry with the same Idempotency-Key to get the answer"
        ),
        1_000,
    )
}

/// An idempotent request: the caller's key space, the key and the request's fingerprint.
#[derive(Clone, Debug)]
pub struct KeyedRequest {
    pub scope: u64,
    pub key: IdempotencyKey,
    pub key_hash: u64,
    pub fingerprint: u64,
}

impl KeyedRequest {
    /// From the request's `Idempotency-Key` header (required on every POST) and its bytes.
    pub fn from_request(
        claims: &Claims,
        headers: &HeaderMap,
        method_and_path: &str,
        body: &[u8],
    ) -> Result<KeyedRequest, ApiError> {
        let raw = headers.get(IDEMPOTENCY_KEY_HEADER).ok_or_else(|| {
            ApiError::invalid(
                "$header.Idempotency-Key",
                "every POST needs an Idempotency-Key header (a unique string per intended request, e.g. a UUID)",
            )
            .with_code("idempotency_key_required")
        })?;
        let text = raw.to_str().map_err(|_| {
            ApiError::invalid("$header.Idempotency-Key", "the Idempotency-Key must be printable ASCII")
        })?;
        let key = IdempotencyKey::new(text)
            .map_err(|error| ApiError::invalid("$header.Idempotency-Key", error.to_string()))?;
        let scope = match claims.role {
            Role::Shopper(shopper) => shopper.get(),
            Role::Merchant(merchant) => merchant.get() | 1 << 62,
            Role::Operator => 1 << 63,
        };
        let mut hasher = sha2::Sha256::new();
        hasher.update(method_and_path.as_bytes());
        hasher.update([0]);
        hasher.update(body);
        let fingerprint = first_u64(&hasher.finalize());
        let key_hash = first_u64(&sha2::Sha256::digest(key.as_str().as_bytes()));
        Ok(KeyedRequest { scope, key, key_hash, fingerprint })
    }

    /// The ledger command for one step of this request; a request of several steps gives each
    /// its own suffix so each step is kept on its own.
    pub(crate) fn wrap(&self, suffix: &str, command: Command) -> Result<Command, ApiError> {
        let key = if suffix.is_empty() {
            self.key.clone()
        } else {
            IdempotencyKey::new(format!("{}#{suffix}", self.key.as_str())).map_err(|_| {
                ApiError::invalid(
                    "$header.Idempotency-Key",
                    "the Idempotency-Key is too long; use at most 200 bytes",
                )
            })?
        };
        Ok(Command::Keyed {
            scope: self.scope,
            key,
            fingerprint: self.fingerprint,
            command: Box::new(command),
        })
    }
}

fn first_u64(digest: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(bytes)
}

impl ApiError {
    pub fn with_code(mut self, code: &str) -> ApiError {
        self.code = code.into();
        self
    }
}

/// A keyed command's answer, and whether it was replayed.
#[derive(Debug)]
pub struct Answer {
    pub replayed: bool,
    pub result: Result<Outcome, LedgerError>,
}

/// Unmarks an idempotency key when its request ends, however it ends.
#[derive(Debug)]
pub struct KeyGuard {
    app: Arc<App>,
    entry: (u64, u64),
}

impl Drop for KeyGuard {
    fn drop(&mut self) {
        self.app.keys_in_flight.lock().remove(&self.entry);
    }
}

/// An admitted request's slot; released when the request ends, with the ledger's latency
/// when the request reached the ledger (the limit adapts to that alone).
#[derive(Debug)]
pub struct PermitGuard {
    app: Arc<App>,
    permit: Option<Permit>,
    granted: Instant,
    ledger_latency_us: Option<u64>,
    overloaded: bool,
}

impl PermitGuard {
    fn new(app: &Arc<App>, permit: Option<Permit>) -> PermitGuard {
        PermitGuard {
            app: Arc::clone(app),
            permit,
            granted: Instant::now(),
            ledger_latency_us: None,
            overloaded: false,
        }
    }

    /// Records the ledger's latency, and whether it answered "overloaded" (a backoff signal).
    pub fn measured(&mut self, ledger_latency_us: u64, overloaded: bool) {
        self.ledger_latency_us = Some(ledger_latency_us);
        self.overloaded = overloaded;
    }
}

impl Drop for PermitGuard {
    fn drop(&mut self) {
        let Some(permit) = self.permit.take() else { return };
        let now_ms = self.app.now().unix_ms();
        let mut admission = self.app.admission.lock();
        match self.ledger_latency_us {
            Some(latency_us) => {
                let slot_time_us = u64::try_from(self.granted.elapsed().as_micros()).unwrap_or(u64::MAX);
                admission.complete_timed(permit, latency_us, Some(slot_time_us), self.overloaded, now_ms);
            }
            None => admission.complete_unmeasured(permit, now_ms),
        }
        self.app.wake_promoted(admission);
    }
}

/// A ticket held by a request waiting in line inside the gateway; abandoned when dropped
/// unless the request redeemed it or handed it to its client (`ticket` taken).
struct HeldTicket<'a> {
    app: &'a Arc<App>,
    ticket: Option<Ticket>,
}

impl Drop for HeldTicket<'_> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.app.abandon_ticket(ticket);
        }
    }
}

/// The slot a parked command's request is handed at its promotion, and how long it waited.
type Handoff = Arc<Mutex<Option<(PermitGuard, u64)>>>;

/// A held request's command, waiting in [`App::parked`] for the promotion of its ticket.
#[derive(Debug)]
struct ParkedCommand {
    command: Command,
    slot: ReplySlot,
    handoff: Handoff,
    parked_at: Instant,
}

/// A ticket whose command is parked; abandoned when dropped while the command is still parked
/// (its client hung up), unless taken.
struct ParkedTicket<'a> {
    app: &'a Arc<App>,
    ticket: Option<Ticket>,
}

impl Drop for ParkedTicket<'_> {
    fn drop(&mut self) {
        let Some(ticket) = self.ticket.take() else { return };
        // Handed over already: the command runs, and its slot is freed with the hand-off.
        if self.app.parked.lock().remove(&ticket_key(ticket)).is_some() {
            self.app.abandon_ticket(ticket);
        }
    }
}

/// A ticket's key in [`App::parked`] and the long polls' waiters.
fn ticket_key(ticket: Ticket) -> (usize, u64) {
    (ticket.class.index(), ticket.seq)
}

/// The ledger's answer to a keyed command: its kept first answer, replayed or not.
fn keyed_answer(outcome: Outcome) -> Answer {
    match outcome {
        Outcome::Keyed { replayed, answer } => Answer { replayed, result: *answer },
        other => Answer { replayed: false, result: Ok(other) },
    }
}

/// Where a ticket that could not be redeemed stands, to answer with it: its place while it
/// waits; first in line, for a moment, when its turn came but its holder is back so late that the
/// slots are at the ceiling ([`Admission::redeem_ceiling`]); `None` when it is gone.
fn place_in_line(state: TicketState) -> Option<(u64, u64)> {
    match state {
        TicketState::Waiting { position, eta_ms } => Some((position, eta_ms)),
        TicketState::Admitted { .. } => Some((1, CEILING_RETRY_MS)),
        TicketState::Gone => None,
    }
}

fn ticket_lapsed() -> ApiError {
    ApiError::unavailable(
        "ticket_lapsed",
        "your place in line lapsed while waiting; send the request again",
        1_000,
    )
}

/// A fresh request given a place in line that it may wait for in the gateway.
#[derive(Clone, Copy, Debug)]
struct Queued {
    ticket: Ticket,
}

/// How often a held request that could not register for a wake-up ([`WAITERS_MAX`]) looks at
/// its place in line; a registered one is woken by its promotion.
const LINE_WAIT_REFRESH_MS: u64 = 100;
/// Rounds of hand-overs one [`App::wake_promoted`] runs: marking a promoted ticket's holder away
/// can promote the next.
const WAKE_ROUNDS_MAX: usize = 16;
/// A promoted ticket younger than this is not taken for away when nobody waits on it: its
/// holder is still receiving it (a chat turn's own queued write is promoted the moment the turn
/// ends, before the page can follow the ticket). Short: at a surge's opening, tickets answered
/// at once to chat shoppers who then left were promoted within a second of their issue, and a
/// second's exemption brought back a stall of half a second with nothing in flight.
const TICKET_FRESH_MS: u64 = 100;
/// The ETA given with its own ticket to a holder who came back after the grace while the slots
/// are at the ceiling ([`Admission::redeem_ceiling`]): a slot frees within a few ledger commits.
const CEILING_RETRY_MS: u64 = 100;

/// How often a held request registered for a wake-up looks anyway: well inside an admitted
/// ticket's TTL (2 s by default), so that a lost wake-up costs a delay, never the place.
const LINE_WAIT_REFRESH_REGISTERED_MS: u64 = 500;

/// Most long polls and streams registered for a wake-up at once; past it they check on their
/// own once a second.
pub const WAITERS_MAX: usize = 200_000;

/// The wake-up shared by the polls of one ticket (class index, seq), and how many there are.
type WaiterEntry = (Arc<Notify>, u32);

/// Sleeps until the ticket is promoted (when registered for a wake-up) or until `until`.
pub(crate) async fn next_ticket_change(waiter: Option<&Waiter>, until: tokio::time::Instant) {
    match waiter {
        Some(waiter) => {
            tokio::select! {
                () = waiter.promoted() => {}
                () = tokio::time::sleep_until(until) => {}
            }
        }
        None => tokio::time::sleep_until(until).await,
    }
}

/// A registered long poll; unregisters when dropped.
#[derive(Debug)]
pub struct Waiter {
    app: Arc<App>,
    key: (usize, u64),
    notify: Arc<Notify>,
}

impl Waiter {
    /// Resolves when the ticket is promoted (or was, since registration).
    pub async fn promoted(&self) {
        self.notify.notified().await;
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        let mut waiters = self.app.waiters.lock();
        if let Some((_, n_polls)) = waiters.get_mut(&self.key) {
            *n_polls -= 1;
            if *n_polls == 0 {
                waiters.remove(&self.key);
            }
        }
    }
}
