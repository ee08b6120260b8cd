//! Order webhooks of the Agentic Commerce Protocol (`openapi.agentic_checkout_webhook.yaml`):
//! `order_create` when an ACP checkout is completed, `order_update` when that order moves
//! (accepted, ready, cancelled, ...), each with the full order, POSTed to the configured URL
//! and signed `Merchant-Signature: t=<unix_s>,v1=<hex HMAC-SHA256(secret, t + "." + body)>`.
//!
//! Events wait in a bounded outbox (`outbox_max` in all; when it is full an event is dropped,
//! counted and logged, never blocking a checkout), split into `concurrency` lanes by order, each
//! sent by its own worker in order: an order's events arrive in the order they happened, and a
//! slow receiver (a 100 ms answer) still takes `concurrency` events at a time rather than ten a
//! second, which a surge's ACP orders would outrun. Each event is tried at most `attempts_max`
//! times with exponential backoff from `retry_base_ms` up to `retry_max_ms`. A 4xx other than 408
//! and 429 is final: the receiver refused that event.
//!
//! Which orders are followed is durable: an order keeps the channel it was placed through
//! (`OrderChannel::Acp`) in the journal. The outbox itself lives in memory, so events waiting in
//! it when the process stops (or is killed) would be lost; instead, a starting gateway sends
//! again the current state of every ACP order that changed within `resend_window_ms` (the newest
//! `outbox_max` of them). Delivery is therefore at least once: a receiver may see an order's
//! state twice, and tells repeats apart by the order's `id` and `updated_at`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hmac::{Hmac, Mac};
use lantern_core::{OrderChannel, OrderId, OrderStatus, Timestamp};
use parking_lot::Mutex;
use sha2::Sha256;
use tokio::sync::mpsc;

use crate::app::App;
use crate::wire::OrderBody;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "merchant-signature";
/// Most lanes (and requests at once) of the outbox.
pub const WEBHOOK_CONCURRENCY_MAX: usize = 64;

/// Where and how order events go.
#[derive(Clone)]
pub struct WebhookConfig {
    /// The receiver, e.g. `https://agent.example.com/agentic_checkout/webhooks/order_events`.
    pub url: String,
    /// The shared HMAC secret.
    pub secret: Vec<u8>,
    /// Events waiting to be sent, at most (over all lanes).
    pub outbox_max: usize,
    /// Lanes of the outbox, each with one worker sending one event at a time; an order's
    /// events all go through one lane, in order.
    pub concurrency: usize,
    /// Tries per event, the first included.
    pub attempts_max: u32,
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// How long one try may take.
    pub timeout_ms: u64,
    /// At start, ACP orders that changed within this long are sent again (what the outbox may
    /// have held when the process stopped).
    pub resend_window_ms: u64,
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
            .field("resend_window_ms", &self.resend_window_ms)
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
        let checks: [(&str, u64, u64, u64); 7] = [
            ("acp.webhook_outbox_max", self.outbox_max as u64, 1, 1_000_000),
            ("acp.webhook_concurrency", self.concurrency as u64, 1, WEBHOOK_CONCURRENCY_MAX as u64),
            ("acp.webhook_attempts_max", u64::from(self.attempts_max), 1, 100),
            ("acp.webhook_retry_base_ms", self.retry_base_ms, 1, 600_000),
            ("acp.webhook_retry_max_ms", self.retry_max_ms, self.retry_base_ms, 3_600_000),
            ("acp.webhook_timeout_ms", self.timeout_ms, 10, 600_000),
            ("acp.webhook_resend_window_ms", self.resend_window_ms, 0, 7 * 86_400_000),
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

#[derive(Debug)]
struct Event {
    id: u64,
    body: Vec<u8>,
}

/// The outbox and what has become of its events.
#[derive(Debug, Default)]
pub struct Webhooks {
    config: Option<WebhookConfig>,
    /// One bounded queue per lane; empty when webhooks are off.
    lanes: Vec<mpsc::Sender<Event>>,
    receivers: Mutex<Vec<mpsc::Receiver<Event>>>,
    next_event: AtomicU64,
    pub n_delivered: AtomicU64,
    pub n_failed: AtomicU64,
    pub n_dropped: AtomicU64,
    /// Events sent again at start, in case the outbox held them when the process stopped.
    pub n_resent: AtomicU64,
}

impl Webhooks {
    pub fn new(config: Option<WebhookConfig>) -> Webhooks {
        let (lanes, receivers) = match &config {
            Some(config) => {
                let n_lanes = config.concurrency.clamp(1, WEBHOOK_CONCURRENCY_MAX);
                let lane_max = config.outbox_max.div_ceil(n_lanes).max(1);
                (0..n_lanes).map(|_| mpsc::channel(lane_max)).unzip()
            }
            None => (Vec::new(), Vec::new()),
        };
        Webhooks { config, lanes, receivers: Mutex::new(receivers), ..Webhooks::default() }
    }

    /// Starts the senders, one per lane, in one task (once; later calls do nothing), first
    /// queueing again what the outbox may have held when the process last stopped. Needs a
    /// tokio runtime.
    pub fn start(app: &Arc<App>) -> Option<tokio::task::JoinHandle<()>> {
        let config = app.webhooks.config.clone()?;
        let receivers = std::mem::take(&mut *app.webhooks.receivers.lock());
        if receivers.is_empty() {
            return None;
        }
        app.webhooks.resend_recent(app, &config);
        let client = webhook_client(&config)?;
        let workers: Vec<_> = receivers
            .into_iter()
            .map(|receiver| deliver_all(Arc::clone(app), config.clone(), client.clone(), receiver))
            .collect();
        Some(tokio::spawn(async move {
            futures_util::future::join_all(workers).await;
        }))
    }

    /// An ACP checkout placed `order`: send `order_create`.
    pub fn order_created(&self, app: &App, order: &OrderBody) {
        if !self.lanes.is_empty() {
            self.enqueue("order_create", app, order);
        }
    }

    /// `order` moved: send `order_update` when it was placed through ACP.
    pub fn order_changed(&self, app: &App, order: OrderId) {
        if self.lanes.is_empty() {
            return;
        }
        let body = app.sequencer.read(|ledger| {
            let view = ledger.order(order).filter(|view| view.channel == OrderChannel::Acp)?;
            Some(crate::convert::order_body(ledger, view))
        });
        if let Some(body) = body {
            self.enqueue("order_update", app, &body);
        }
    }

    /// Queues the current state of the ACP orders that changed within the resend window, newest
    /// last and at most the outbox's size: `order_create` for an order not moved since it was
    /// placed, else `order_update`.
    fn resend_recent(&self, app: &App, config: &WebhookConfig) {
        let since = Timestamp::from_ms(app.now().unix_ms().saturating_sub(config.resend_window_ms));
        let (events, n_skipped) = app.sequencer.read(|ledger| {
            let mut recent = VecDeque::new();
            let mut n_skipped = 0_u64;
            let changed =
                ledger.orders().filter(|view| view.channel == OrderChannel::Acp && view.updated_at >= since);
            for view in changed {
                recent.push_back(view);
                if recent.len() > config.outbox_max {
                    recent.pop_front();
                    n_skipped += 1;
                }
            }
            let events: Vec<_> = recent
                .into_iter()
                .map(|view| {
                    let unmoved =
                        view.status == OrderStatus::Placed && view.updated_at == view.receipt.placed_at;
                    let kind = if unmoved { "order_create" } else { "order_update" };
                    (kind, crate::convert::order_body(ledger, view))
                })
                .collect();
            (events, n_skipped)
        });
        if events.is_empty() {
            return;
        }
        self.n_resent.fetch_add(events.len() as u64, Ordering::Relaxed);
        tracing::info!(
            n_events = events.len(),
            n_skipped,
            resend_window_ms = config.resend_window_ms,
            "webhooks: sending again the acp orders that changed before the start"
        );
        for (kind, body) in &events {
            self.enqueue(kind, app, body);
        }
    }

    fn enqueue(&self, kind: &str, app: &App, order: &OrderBody) {
        // An order's events share a lane, so they are sent in the order they happened.
        let lane = OrderId::parse(&order.id).map_or(0, |id| id.get() as usize % self.lanes.len().max(1));
        let Some(sender) = self.lanes.get(lane) else { return };
        let data = crate::acp::acp_order(order, &app.config.acp.public_url);
        let body = serde_json::to_vec(&serde_json::json!({ "type": kind, "data": data })).unwrap_or_default();
        let id = self.next_event.fetch_add(1, Ordering::Relaxed) + 1;
        if sender.try_send(Event { id, body }).is_err() {
            let n_dropped = self.n_dropped.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::warn!(order = %order.id, kind, n_dropped, "webhook outbox full; event dropped");
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

/// One lane's worker: its events one at a time, in order.
async fn deliver_all(
    app: Arc<App>,
    config: WebhookConfig,
    client: reqwest::Client,
    mut receiver: mpsc::Receiver<Event>,
) {
    while let Some(event) = receiver.recv().await {
        let delivered = deliver(&app, &client, &config, &event).await;
        let counter = if delivered { &app.webhooks.n_delivered } else { &app.webhooks.n_failed };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Sends one event, retrying as configured; true when the receiver took it.
async fn deliver(app: &App, client: &reqwest::Client, config: &WebhookConfig, event: &Event) -> bool {
    let mut backoff_ms = config.retry_base_ms;
    for attempt in 1..=config.attempts_max {
        let now = app.now();
        let unix_s = now.unix_ms() / 1000;
        let sent = client
            .post(&config.url)
            .header("content-type", "application/json")
            .header(SIGNATURE_HEADER, signature(&config.secret, unix_s, &event.body))
            .header("request-id", format!("evt_{}", event.id))
            .header("timestamp", now.to_string())
            .body(event.body.clone())
            .send()
            .await;
        let outcome = match sent {
            Ok(response) if response.status().is_success() => return true,
            Ok(response) => {
                let status = response.status().as_u16();
                if (400..500).contains(&status) && status != 408 && status != 429 {
                    tracing::warn!(event = event.id, status, "webhook refused by the receiver; not retried");
                    return false;
                }
                format!("status {status}")
            }
            Err(error) => error.to_string(),
        };
        tracing::info!(event = event.id, attempt, outcome, "webhook not delivered");
        if attempt < config.attempts_max {
            tokio::time::sleep(Duration::from_millis(backoff_ms)).await;
            backoff_ms = backoff_ms.saturating_mul(2).min(config.retry_max_ms);
        }
    }
    tracing::warn!(event = event.id, attempts = config.attempts_max, "webhook given up");
    false
}
