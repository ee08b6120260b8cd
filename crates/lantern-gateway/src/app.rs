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
use lantern_core::{IdempotencyKey, MerchantId, OrderId, QuoteId, ShopperId, Timestamp};
use lantern_ledger::{Command, Ledger, LedgerError, OrderReceipt, Outcome};
use lantern_sequencer::{Clock, SequencerHandle};
use parking_lot::{Mutex, RwLock};
use rustc_hash::{FxHashMap, FxHashSet};
use sha2::Digest;

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::wire::WaitingBody;

/// Header that carries an admitted waiting-room ticket on the repeated request.
pub const TICKET_HEADER: &str = "lantern-ticket";
/// Longest accepted `Idempotency-Key`, in bytes (as the ledger's keys).
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";

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
}

impl GatewayConfig {
    /// Checks every value; the message names the field and the allowed range.
    pub fn validate(&self) -> Result<(), String> {
        self.admission.validate().map_err(|error| error.to_string())?;
        let checks: [(&str, u64, u64, u64); 7] = [
            ("limits.body_bytes_max", self.body_bytes_max as u64, 1_024, 64 << 20),
            ("limits.request_deadline_ms", self.request_deadline_ms, 10, 600_000),
            ("waiting_room.long_poll_ms", self.long_poll_ms, 100, 120_000),
            ("limits.sse_keepalive_ms", self.sse_keepalive_ms, 100, 600_000),
            ("limits.sse_lifetime_ms", self.sse_lifetime_ms, 1_000, 86_400_000),
            ("waiting_room.ticket_ttl_ms", self.ticket_ttl_ms, 1_000, 86_400_000),
            ("limits.keys_in_flight_max", self.keys_in_flight_max as u64, 1, 10_000_000),
        ];
        for (field, value, min, max) in checks {
            if !(min..=max).contains(&value) {
                return Err(format!("{field} must be {min}..={max}, got {value}"));
            }
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
        }
    }
}

/// Orders by shopper, merchant and quote: the ledger keeps orders by id only, so the gateway
/// keeps these lookups beside it (rebuilt from the ledger at start, extended on each answer).
#[derive(Debug, Default)]
pub struct ReadIndex {
    pub orders_by_shopper: FxHashMap<ShopperId, Vec<OrderId>>,
    pub orders_by_merchant: FxHashMap<MerchantId, Vec<OrderId>>,
    pub order_by_quote: FxHashMap<QuoteId, OrderId>,
    pub merchants: Vec<MerchantId>,
}

impl ReadIndex {
    pub fn rebuild(ledger: &Ledger) -> ReadIndex {
        let mut index = ReadIndex { merchants: ledger.merchant_ids(), ..ReadIndex::default() };
        for view in ledger.orders() {
            index.record_order(&view.receipt);
        }
        index
    }

    /// Idempotent: a replayed answer records nothing new.
    pub fn record_order(&mut self, receipt: &OrderReceipt) {
        if self.order_by_quote.insert(receipt.quote, receipt.order).is_some() {
            return;
        }
        self.orders_by_shopper.entry(receipt.shopper).or_default().push(receipt.order);
        self.orders_by_merchant.entry(receipt.merchant).or_default().push(receipt.order);
    }

    pub fn record_merchant(&mut self, merchant: MerchantId) {
        if let Err(position) = self.merchants.binary_search(&merchant) {
            self.merchants.insert(position, merchant);
        }
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
    pub metrics: Metrics,
    keys_in_flight: Mutex<FxHashSet<(u64, u64)>>,
    pub ready: AtomicBool,
    next_request_id: AtomicU64,
    pub started: Instant,
}

impl App {
    pub fn new(
        config: GatewayConfig,
        sequencer: SequencerHandle,
        signer: Signer,
        clock: Arc<dyn Clock>,
    ) -> Arc<App> {
        let index = sequencer.read(ReadIndex::rebuild);
        Arc::new(App {
            admission: Mutex::new(Admission::new(config.admission.clone())),
            config,
            sequencer,
            signer,
            clock,
            index: RwLock::new(index),
            metrics: Metrics::default(),
            keys_in_flight: Mutex::new(FxHashSet::default()),
            ready: AtomicBool::new(true),
            next_request_id: AtomicU64::new(1),
            started: Instant::now(),
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

    /// Like [`App::submit`] for two commands that must reach the ledger back to back.
    pub async fn submit_pair(
        &self,
        first: Command,
        second: Command,
    ) -> Result<(Result<Outcome, ApiError>, Result<Outcome, ApiError>), ApiError> {
        let deadline = Duration::from_millis(self.config.request_deadline_ms);
        match tokio::time::timeout(deadline, self.sequencer.submit_pair(first, second)).await {
            Ok((first, second)) => Ok((first.map_err(ApiError::from), second.map_err(ApiError::from))),
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
        let (replayed, answer) = match self.submit(command).await? {
            Outcome::Keyed { replayed, answer } => (replayed, *answer),
            other => (false, Ok(other)),
        };
        Ok(Answer { replayed, result: answer })
    }

    /// What every state-changing handler does once its input is checked: admission, the
    /// in-flight mark on its key, then the keyed command through the ledger.
    pub async fn run_keyed(
        self: &Arc<App>,
        class: Class,
        shopper: Option<ShopperId>,
        ip: IpAddr,
        headers: &HeaderMap,
        keyed: &KeyedRequest,
        command: Command,
    ) -> Result<Answer, ApiError> {
        let _permit = self.admit(class, shopper, ip, headers)?;
        let _key = self.begin_key(keyed)?;
        self.submit_keyed(keyed, "", command).await
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
        if !self.config.admission_enabled {
            return Ok(PermitGuard { app: Arc::clone(self), permit: None, started: Instant::now() });
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
                Ok(permit) => {
                    return Ok(PermitGuard {
                        app: Arc::clone(self),
                        permit: Some(permit),
                        started: Instant::now(),
                    });
                }
                Err(TicketState::Waiting { position, eta_ms }) => {
                    drop(admission);
                    return Err(self.waiting(text.to_owned(), position, eta_ms));
                }
                // Admitted elsewhere (cannot happen) or gone: queue afresh below.
                Err(TicketState::Admitted { .. } | TicketState::Gone) => {}
            }
        }
        let decision = admission.admit(class, now_ms);
        drop(admission);
        match decision {
            Decision::Admit(permit) => {
                Ok(PermitGuard { app: Arc::clone(self), permit: Some(permit), started: Instant::now() })
            }
            other => Err(self.refusal(other, class, shopper, now)),
        }
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
                let status = match reason {
                    ShedReason::WaitingRoomFull => StatusCode::SERVICE_UNAVAILABLE,
                    _ => StatusCode::TOO_MANY_REQUESTS,
                };
                ApiError::new(status, code, message).with_retry_after_ms(retry_after_ms)
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

/// An admitted request's slot; released (and measured) when the request ends.
#[derive(Debug)]
pub struct PermitGuard {
    app: Arc<App>,
    permit: Option<Permit>,
    started: Instant,
}

impl PermitGuard {
    /// Marks the request as having met an overloaded ledger, a backoff signal.
    pub fn overloaded(&mut self) {
        if let Some(permit) = self.permit.take() {
            let latency_us = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
            self.app.admission.lock().complete(permit, latency_us, true, self.app.now().unix_ms());
        }
    }
}

impl Drop for PermitGuard {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            let latency_us = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
            self.app.admission.lock().complete(permit, latency_us, false, self.app.now().unix_ms());
        }
    }
}
