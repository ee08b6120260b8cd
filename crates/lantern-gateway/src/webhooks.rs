//! Order webhooks of the Agentic Commerce Protocol (`openapi.agentic_checkout_webhook.yaml`):
//! `order_create` when an ACP checkout is completed, `order_update` when that order moves
//! (accepted, ready, cancelled, ...), each with the full order, POSTed to the configured URL
//! and signed `Merchant-Signature: t=<unix_s>,v1=<hex HMAC-SHA256(secret, t + "." + body)>`.
//!
//! The events come from the ledger, not from the request handlers: the ledger records every
//! change to an order placed through ACP (`OrderChannel::Acp`) in a bounded feed
//! ([`Ledger::acp_changes_since`](lantern_ledger::Ledger::acp_changes_since)), whoever made it
//! (the shop, the shopper through the API, MCP or the chat), and one dispatcher follows that feed.
//! So no change is missed because a handler was cut off after its commit, and the feed, rebuilt
//! by replay, is the outbox that survives a crash.
//!
//! The dispatcher splits events into `concurrency` lanes by order (at most `outbox_max` waiting
//! in all), each sent by its own worker in order: an order's events arrive in the order they
//! happened, and a slow receiver (a 100 ms answer) still takes `concurrency` events at a time.
//! An event is tried up to `attempts_max` times, waiting from `retry_base_ms` doubling up to
//! `retry_max_ms` between tries, until the receiver takes it (2xx) or refuses it (a 4xx other
//! than 408 and 429, final). While a receiver is down its lanes wait, and the feed holds what
//! comes meanwhile (up to `ACP_CHANGES_KEPT_MAX` changes; beyond that the oldest are skipped,
//! counted and logged). An event that used up its tries steps aside, so its lane moves on, and
//! gets another round of tries every `retry_max_ms` (at most `SET_ASIDE_MAX` wait so).
//!
//! Once a second the settle mark (every change up to it delivered or refused by the receiver) is
//! journaled (`Command::SettleWebhooks`). A starting gateway sends the changes after the mark
//! again, one event per order in its current state (`order_create` when its only change since is
//! its placing): what the lanes held at a crash, and the events still set aside. Delivery is therefore
//! at least once: after a crash a receiver may see about a second of events twice, and tells
//! repeats apart by the order's `id` and `updated_at`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use hmac::{Hmac, Mac};
use lantern_core::OrderId;
use lantern_ledger::{Command, Ledger};
use parking_lot::Mutex;
use rustc_hash::FxHashMap;
use sha2::Sha256;
use tokio::sync::mpsc;

use crate::app::App;
use crate::convert::{order_as_of, order_of};

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "merchant-signature";
/// Most lanes (and requests at once) of the outbox.
pub const WEBHOOK_CONCURRENCY_MAX: usize = 64;
/// Changes the dispatcher reads from the ledger at once (one read lock each time).
pub const DISPATCH_BATCH_MAX: usize = 1_024;
/// How often the dispatcher looks for new changes when it found none.
pub const DISPATCH_POLL_MS: u64 = 50;
/// How often the settle mark is journaled, when it moved.
pub const SETTLE_INTERVAL_MS: u64 = 1_000;
/// Most events set aside at once for another round of tries; past it an event waits for the
/// next start (it stays unsettled).
pub const SET_ASIDE_MAX: usize = 65_536;
/// Every this many failed tries of one event, a warning (the others are logged at info).
const TRIES_PER_WARNING: u32 = 10;

/// Where and how order events go.
#[derive(Clone)]
pub struct WebhookConfig {
    /// The receiver, e.g. `https://agent.example.com/agentic_checkout/webhooks/order_events`.
    pub url: String,
    /// The shared HMAC secret.
    pub secret: Vec<u8>,
    /// Events handed to the lanes and not yet sent, at most (over all lanes); the ledger's
    /// feed holds the rest.
    pub outbox_max: usize,
    /// Lanes of the outbox, each with one worker sending one event at a time; an order's
    /// events all go through one lane, in order.
    pub concurrency: usize,
    /// Tries per event in a round, the first included. An event still not taken after them is
    /// set aside for another round `retry_max_ms` later; the settle mark stops before it, so a
    /// start meanwhile sends it again.
    pub attempts_max: u32,
    /// The wait before an event's second try, doubled for each later one up to `retry_max_ms`.
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// How long one try may take.
    pub timeout_ms: u64,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("WebhookConfig")
            .field("url", &self.url)
            .field("secret", &"<redacted>")
            .field("outbox_max", &self.outbox_max)
            .field("concurrency", &self.concurrency)
            .field("attempts_max", &self.attempts_max)
            .field("retry_base_ms", &self.retry_base_ms)
            .field("retry_max_ms", &self.retry_max_ms)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

impl WebhookConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(format!("acp.webhook_url must be an http(s) URL, got {:?}", self.url));
        }
        if self.secret.len() < 16 {
            return Err("the webhook secret must be at least 16 bytes".into());
        }
        let checks: [(&str, u64, u64, u64); 6] = [
            ("acp.webhook_outbox_max", self.outbox_max as u64, 1, 1_000_000),
            ("acp.webhook_concurrency", self.concurrency as u64, 1, WEBHOOK_CONCURRENCY_MAX as u64),
            ("acp.webhook_attempts_max", u64::from(self.attempts_max), 1, 100),
            ("acp.webhook_retry_base_ms", self.retry_base_ms, 1, 600_000),
            ("acp.webhook_retry_max_ms", self.retry_max_ms, self.retry_base_ms, 3_600_000),
            ("acp.webhook_timeout_ms", self.timeout_ms, 10, 600_000),
        ];
        for (field, value, min, max) in checks {
            if !(min..=max).contains(&value) {
                return Err(format!("{field} must be {min}..={max}, got {value}"));
            }
        }
        Ok(())
    }
}

/// `t=<unix_s>,v1=<hex>` for `body` sent at `unix_s`.
pub fn signature(secret: &[u8], unix_s: u64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(unix_s.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let hex: String = mac.finalize().into_bytes().iter().map(|byte| format!("{byte:02x}")).collect();
    format!("t={unix_s},v1={hex}")
}

/// One event: the signed body and the feed number of the first change it reports.
#[derive(Debug)]
struct Event {
    number: u64,
    /// Its order, and that order's lane.
    order: u64,
    lane: usize,
    body: Vec<u8>,
}

/// Which changes are on their way, for the settle mark.
#[derive(Debug, Default)]
struct Settle {
    /// Events handed to a lane and not yet delivered or refused (set-aside ones stay), by number.
    pending: BTreeSet<u64>,
    /// Every change up to this was handed to a lane, or needed no event.
    dispatched_through: u64,
}

impl Settle {
    /// Every change up to the answer is settled. Events are handed out in number order, so an
    /// unsettled change sits at or after the first pending event's number.
    fn through(&self) -> u64 {
        self.pending.first().map_or(self.dispatched_through, |first| first - 1)
    }
}

/// The outbox and what has become of its events.
#[derive(Debug, Default)]
pub struct Webhooks {
    config: Option<WebhookConfig>,
    started: AtomicBool,
    settle: Mutex<Settle>,
    /// Events that used up their tries, waiting for the next round (at most `SET_ASIDE_MAX`),
    /// with the later events of their orders, which wait behind them.
    set_aside: Mutex<Vec<Event>>,
    /// The numbers of the events in `set_aside` or in a retry round, by order: a later event
    /// of one of these orders is set aside behind them untried, so an order's events reach the
    /// receiver in order across rounds too.
    held: Mutex<FxHashMap<u64, BTreeSet<u64>>>,
    pub n_delivered: AtomicU64,
    /// Events the receiver refused (a final 4xx).
    pub n_refused: AtomicU64,
    /// Rounds of `attempts_max` tries that ended without an answer (the event is set aside).
    pub n_given_up: AtomicU64,
    /// Tries that failed and were made again.
    pub n_retries: AtomicU64,
    /// Changes the feed no longer held when the dispatcher came to them.
    pub n_skipped: AtomicU64,
    /// Events sent again at start: the changes after the journaled settle mark.
    pub n_resent: AtomicU64,
    /// The settle mark as last journaled.
    pub settled_journaled: AtomicU64,
}

impl Webhooks {
    pub fn new(config: Option<WebhookConfig>) -> Webhooks {
        Webhooks { config, ..Webhooks::default() }
    }

    /// Starts the dispatcher, one sender per lane and the settle mark's journaling, in one task
    /// (once; later calls do nothing). Needs a tokio runtime.
    pub fn start(app: &Arc<App>) -> Option<tokio::task::JoinHandle<()>> {
        let config = app.webhooks.config.clone()?;
        if app.webhooks.started.swap(true, Ordering::SeqCst) {
            return None;
        }
        let client = webhook_client(&config)?;
        let n_lanes = config.concurrency.clamp(1, WEBHOOK_CONCURRENCY_MAX);
        let lane_max = config.outbox_max.div_ceil(n_lanes).max(1);
        let (lanes, receivers): (Vec<_>, Vec<_>) = (0..n_lanes).map(|_| mpsc::channel(lane_max)).unzip();
        let workers: Vec<_> = receivers
            .into_iter()
            .map(|receiver| deliver_all(Arc::clone(app), config.clone(), client.clone(), receiver))
            .collect();
        let app = Arc::clone(app);
        Some(tokio::spawn(async move {
            let settled = app.sequencer.read(Ledger::webhooks_settled_through);
            app.webhooks.settled_journaled.store(settled, Ordering::Relaxed);
            tokio::join!(
                dispatch(&app, &lanes, settled),
                futures_util::future::join_all(workers),
                journal_settle_mark(&app, settled),
                retry_set_aside(&app, &lanes, config.retry_max_ms)
            );
        }))
    }

    /// Changes ACP orders had that are not settled yet (as journaled).
    pub fn backlog(&self, ledger: &Ledger) -> u64 {
        ledger.n_acp_changes().saturating_sub(self.settled_journaled.load(Ordering::Relaxed))
    }

    /// The figures operators see (`/v1/stats`, the dashboard), when webhooks are on.
    pub fn body(&self, ledger: &Ledger) -> Option<crate::wire::WebhooksBody> {
        self.config.as_ref()?;
        let count = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Some(crate::wire::WebhooksBody {
            delivered: count(&self.n_delivered),
            refused: count(&self.n_refused),
            given_up: count(&self.n_given_up),
            retries: count(&self.n_retries),
            skipped: count(&self.n_skipped),
            resent: count(&self.n_resent),
            backlog: self.backlog(ledger),
        })
    }

    /// The webhooks' Prometheus lines, when webhooks are on: events by outcome, retries, and the
    /// backlog (changes not settled as journaled).
    pub fn write_metrics(&self, out: &mut String, backlog: u64) {
        use std::fmt::Write as _;
        if self.config.is_none() {
            return;
        }
        let _ = writeln!(
            out,
            "# HELP lantern_webhook_events_total ACP order webhook events, by outcome.\n# TYPE lantern_webhook_events_total counter"
        );
        let outcomes = [
            ("delivered", &self.n_delivered),
            ("refused", &self.n_refused),
            ("given_up", &self.n_given_up),
            ("skipped", &self.n_skipped),
            ("resent", &self.n_resent),
        ];
        for (outcome, counter) in outcomes {
            let _ = writeln!(
                out,
                "lantern_webhook_events_total{{outcome=\"{outcome}\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP lantern_webhook_retries_total Webhook tries that failed and were made again.\n# TYPE lantern_webhook_retries_total counter\nlantern_webhook_retries_total {}",
            self.n_retries.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP lantern_webhook_backlog Changes of ACP orders not yet settled (delivered or refused), as journaled.\n# TYPE lantern_webhook_backlog gauge\nlantern_webhook_backlog {backlog}"
        );
    }

    fn note_skipped(&self, n_missed: u64) {
        if n_missed > 0 {
            let n_skipped = self.n_skipped.fetch_add(n_missed, Ordering::Relaxed) + n_missed;
            tracing::warn!(
                n_missed,
                n_skipped,
                "webhooks: changes of acp orders were forgotten before they were sent"
            );
        }
    }
}

fn signed_event(
    app: &App,
    number: u64,
    placed: bool,
    (id, order): (OrderId, &crate::wire::OrderBody),
    n_lanes: usize,
) -> Event {
    let kind = if placed { "order_create" } else { "order_update" };
    let data = crate::acp::acp_order(order, &app.config.acp.public_url);
    let body = serde_json::to_vec(&serde_json::json!({ "type": kind, "data": data })).unwrap_or_default();
    // An order's events share a lane, so they are sent in the order they happened.
    let lane = id.get() as usize % n_lanes.max(1);
    Event { number, order: id.get(), lane, body }
}

/// Hands `event` to its order's lane, waiting for room: the feed, not the lanes, is the buffer.
async fn hand_out(app: &App, lanes: &[mpsc::Sender<Event>], event: Event) {
    app.webhooks.settle.lock().pending.insert(event.number);
    let number = event.number;
    if lanes[event.lane].send(event).await.is_err() {
        app.webhooks.settle.lock().pending.remove(&number);
    }
}

/// Every `retry_max_ms`, hands the events set aside since back to their lanes for another round
/// of tries, for ever: a receiver back after a long outage gets them without a restart. They
/// stay pending meanwhile, holding the settle mark back.
async fn retry_set_aside(app: &App, lanes: &[mpsc::Sender<Event>], retry_max_ms: u64) {
    loop {
        tokio::time::sleep(Duration::from_millis(retry_max_ms)).await;
        let events = std::mem::take(&mut *app.webhooks.set_aside.lock());
        for event in events {
            let _ = lanes[event.lane].send(event).await;
        }
    }
}

/// Follows the ledger's feed of ACP order changes from the settle mark, for ever.
async fn dispatch(app: &App, lanes: &[mpsc::Sender<Event>], settled: u64) {
    let webhooks = &app.webhooks;
    webhooks.settle.lock().dispatched_through = settled;
    let mut cursor = resend_unsettled(app, lanes, settled).await;
    loop {
        let (next, n_missed, events) = app.sequencer.read(|ledger| {
            let since = ledger.acp_changes_since(cursor, DISPATCH_BATCH_MAX);
            let events: Vec<_> = since
                .items
                .iter()
                .filter_map(|&(number, change)| {
                    Some((number, change, order_as_of(ledger, change.order, change.status, change.at)?))
                })
                .collect();
            (since.next, since.n_missed, events)
        });
        webhooks.note_skipped(n_missed);
        let idle = next == cursor;
        for (number, change, order) in events {
            hand_out(
                app,
                lanes,
                signed_event(app, number, change.placed(), (change.order, &order), lanes.len()),
            )
            .await;
        }
        webhooks.settle.lock().dispatched_through = next;
        cursor = next;
        if idle {
            tokio::time::sleep(Duration::from_millis(DISPATCH_POLL_MS)).await;
        }
    }
}

/// Sends again what the last run did not settle (the changes after `settled`), one event per
/// order in its current state, oldest first; the cursor to follow the feed from.
async fn resend_unsettled(app: &App, lanes: &[mpsc::Sender<Event>], settled: u64) -> u64 {
    let webhooks = &app.webhooks;
    let head = app.sequencer.read(Ledger::n_acp_changes);
    // Per order: the number of its first unsettled change, and whether that is its only one
    // and its placing.
    let mut unsettled: BTreeMap<OrderId, (u64, bool)> = BTreeMap::new();
    let mut cursor = settled;
    while cursor < head {
        let since = app.sequencer.read(|ledger| ledger.acp_changes_since(cursor, DISPATCH_BATCH_MAX));
        webhooks.note_skipped(since.n_missed);
        for (number, change) in since.items.iter().filter(|(number, _)| *number <= head) {
            unsettled
                .entry(change.order)
                .and_modify(|(_, only_placed)| *only_placed = false)
                .or_insert((*number, change.placed()));
        }
        cursor = since.next.min(head);
        if since.items.is_empty() {
            break;
        }
    }
    let mut firsts: Vec<(u64, OrderId, bool)> =
        unsettled.into_iter().map(|(order, (number, only_placed))| (number, order, only_placed)).collect();
    firsts.sort_unstable();
    if !firsts.is_empty() {
        webhooks.n_resent.fetch_add(firsts.len() as u64, Ordering::Relaxed);
        tracing::info!(
            n_events = firsts.len(),
            settled_through = settled,
            n_changes = head,
            "webhooks: sending again the acp orders whose changes were not settled before the start"
        );
    }
    for chunk in firsts.chunks(DISPATCH_BATCH_MAX) {
        let bodies: Vec<_> = app.sequencer.read(|ledger| {
            chunk
                .iter()
                .filter_map(|&(number, order, only_placed)| {
                    Some((number, order, only_placed, order_of(ledger, order)?))
                })
                .collect()
        });
        for (number, order, only_placed, body) in bodies {
            hand_out(app, lanes, signed_event(app, number, only_placed, (order, &body), lanes.len())).await;
        }
    }
    webhooks.settle.lock().dispatched_through = cursor;
    cursor
}

/// Journals the settle mark once more, when it moved: at a graceful stop, so the next start
/// sends nothing the receiver already has. The sequencer must still be running.
pub async fn journal_final_mark(app: &App) {
    if app.webhooks.config.is_none() || !app.webhooks.started.load(Ordering::SeqCst) {
        return;
    }
    let through = app.webhooks.settle.lock().through();
    if through > app.webhooks.settled_journaled.load(Ordering::Relaxed) {
        match app.submit(Command::SettleWebhooks { through }).await {
            Ok(_) => app.webhooks.settled_journaled.store(through, Ordering::Relaxed),
            Err(error) => {
                tracing::warn!(through, error = %error.message, "webhooks: the final settle mark was not journaled")
            }
        }
    }
}

/// Journals the settle mark every `SETTLE_INTERVAL_MS` when it moved, for ever.
async fn journal_settle_mark(app: &App, mut journaled: u64) {
    let mut interval = tokio::time::interval(Duration::from_millis(SETTLE_INTERVAL_MS));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let through = app.webhooks.settle.lock().through();
        if through <= journaled {
            continue;
        }
        match app.submit(Command::SettleWebhooks { through }).await {
            Ok(_) => {
                journaled = through;
                app.webhooks.settled_journaled.store(through, Ordering::Relaxed);
            }
            Err(error) => tracing::warn!(
                through,
                error = %error.message,
                "webhooks: the settle mark was not journaled; trying again in a second"
            ),
        }
    }
}

/// The HTTP client every lane shares (one connection pool); none when it cannot be built.
fn webhook_client(config: &WebhookConfig) -> Option<reqwest::Client> {
    // Webhook receivers may be https://; reqwest needs the process's TLS provider first.
    lantern_llm::install_tls_provider();
    match reqwest::Client::builder().timeout(Duration::from_millis(config.timeout_ms)).build() {
        Ok(client) => Some(client),
        Err(error) => {
            tracing::error!(%error, "webhooks off: no HTTP client");
            None
        }
    }
}

/// What became of one event.
enum Sent {
    Delivered,
    Refused,
    GivenUp,
}

/// One lane's worker: its events one at a time, in order.
async fn deliver_all(
    app: Arc<App>,
    config: WebhookConfig,
    client: reqwest::Client,
    mut receiver: mpsc::Receiver<Event>,
) {
    let webhooks = &app.webhooks;
    while let Some(event) = receiver.recv().await {
        let behind_earlier = webhooks
            .held
            .lock()
            .get(&event.order)
            .and_then(|numbers| numbers.first())
            .is_some_and(|&earliest| earliest < event.number);
        if behind_earlier {
            set_aside(webhooks, event);
            continue;
        }
        let (counter, settled) = match deliver(&app, &client, &config, &event).await {
            Sent::Delivered => (&webhooks.n_delivered, true),
            Sent::Refused => (&webhooks.n_refused, true),
            // Stays pending (the mark stops before it) and waits for the next round.
            Sent::GivenUp => (&webhooks.n_given_up, false),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if settled {
            webhooks.settle.lock().pending.remove(&event.number);
            release_held(webhooks, &event);
        } else {
            set_aside(webhooks, event);
        }
    }
}

/// Sets `event` aside for the next round, holding its order's later events behind it.
fn set_aside(webhooks: &Webhooks, event: Event) {
    let mut set_aside = webhooks.set_aside.lock();
    if set_aside.len() < SET_ASIDE_MAX {
        webhooks.held.lock().entry(event.order).or_default().insert(event.number);
        set_aside.push(event);
    } else {
        tracing::warn!(
            event = event.number,
            "webhooks: too many events set aside; this one waits for the next start"
        );
        // Nothing of its order waits behind an event no round will send.
        release_held(webhooks, &event);
    }
}

fn release_held(webhooks: &Webhooks, event: &Event) {
    let mut held = webhooks.held.lock();
    if let Some(numbers) = held.get_mut(&event.order) {
        numbers.remove(&event.number);
        if numbers.is_empty() {
            held.remove(&event.order);
        }
    }
}

/// Sends one event, trying again as configured.
async fn deliver(app: &App, client: &reqwest::Client, config: &WebhookConfig, event: &Event) -> Sent {
    let mut backoff_ms = config.retry_base_ms;
    for attempt in 1..=config.attempts_max {
        let now = app.now();
        let unix_s = now.unix_ms() / 1000;
        let sent = client
            .post(&config.url)
            .header("content-type", "application/json")
            .header(SIGNATURE_HEADER, signature(&config.secret, unix_s, &event.body))
            .header("request-id", format!("evt_{}", event.number))
            .header("timestamp", now.to_string())
            .body(event.body.clone())
            .send()
            .await;
        let outcome = match sent {
            Ok(response) if response.status().is_success() => return Sent::Delivered,
            Ok(response) => {
                let status = response.status().as_u16();
                if (400..500).contains(&status) && status != 408 && status != 429 {
                    tracing::warn!(
                        event = event.number,
                        status,
                        "webhook refused by the receiver; not retried"
                    );
                    return Sent::Refused;
                }
                format!("status {status}")
            }
            Err(error) => error.to_string(),
        };
        if attempt % TRIES_PER_WARNING == 0 {
            tracing::warn!(event = event.number, attempt, outcome, "webhook still not delivered");
        } else {
            tracing::info!(event = event.number, attempt, outcome, "webhook not delivered");
        }
        if attempt < config.attempts_max {
            app.webhooks.n_retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(backoff_ms)).await;
            backoff_ms = backoff_ms.saturating_mul(2).min(config.retry_max_ms);
        }
    }
    tracing::warn!(
        event = event.number,
        attempts = config.attempts_max,
        retry_in_ms = config.retry_max_ms,
        "webhook set aside after its tries; another round follows"
    );
    Sent::GivenUp
}
