//! `POST /v1/chat`: one shopper message to the agent, the reply streamed as server-sent events
//! (text and structured events: results, cart, quote, order placed, queue position), or as one
//! JSON transcript. Sessions (cart, pending quote) live here, bounded in number and idle time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use lantern_admission::Class;
use lantern_agent::{Agent, AgentEvent, Session, TurnOutcome};
use lantern_core::ShopperId;
use parking_lot::Mutex;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::App;
use crate::convert::parse_json;
use crate::error::ApiError;
use crate::routes::{json, shopper_of};
use crate::shop::GatewayShop;
use crate::wire::ErrorBody;

/// Longest chat message, in characters.
pub const CHAT_MESSAGE_CHARS_MAX: usize = 2_000;
/// Longest session id, in bytes.
pub const CHAT_SESSION_ID_BYTES_MAX: usize = 64;
/// Events of one turn buffered for a slow reader; a turn makes a handful.
const CHAT_EVENTS_BUFFER: usize = 64;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatRequest {
    /// The shopper's message, English or Chinese.
    pub message: String,
    /// Which of the shopper's conversations (printable ASCII, at most 64 bytes); `default`
    /// when absent.
    #[serde(default)]
    pub session_id: Option<String>,
}

/// How a turn ended (the last event of a stream, or beside the events in JSON).
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatDone {
    pub intent: String,
    /// Whether the language model took part.
    pub used_llm: bool,
    /// Why the model's answer was not used, when it was asked and failed.
    pub llm_fallback: Option<String>,
    /// The order placed in this turn.
    pub order_id: Option<String>,
}

/// A whole turn as JSON (when the client does not ask for `text/event-stream`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatTranscript {
    /// Agent events in order, each with a `type`: `text`, `results`, `cart`, `quote`,
    /// `order_placed`, `order_status`, `coupons`, `queued`, `busy`, `choices`.
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<serde_json::Value>,
    pub done: ChatDone,
}

fn done_of(outcome: &TurnOutcome) -> ChatDone {
    ChatDone {
        intent: outcome.intent.as_str().to_owned(),
        used_llm: outcome.used_llm,
        llm_fallback: outcome.llm_fallback.clone(),
        order_id: outcome.placed.map(|order| order.to_string()),
    }
}

/// Chat sessions by shopper and session id. A session is taken out for a turn and put back
/// after, so two turns of one session never interleave.
#[derive(Debug)]
pub struct ChatSessions {
    slots: Mutex<FxHashMap<(ShopperId, String), Slot>>,
    sessions_max: usize,
    idle: Duration,
}

#[derive(Debug)]
enum Slot {
    Idle { session: Box<Session>, used_at: Instant },
    InTurn { since: Instant },
}

impl ChatSessions {
    pub fn new(sessions_max: usize, idle_ms: u64) -> ChatSessions {
        ChatSessions {
            slots: Mutex::new(FxHashMap::default()),
            sessions_max,
            idle: Duration::from_millis(idle_ms),
        }
    }

    fn take(&self, shopper: ShopperId, id: &str) -> Result<Session, ApiError> {
        let mut slots = self.slots.lock();
        let key = (shopper, id.to_owned());
        let session = match slots.remove(&key) {
            Some(Slot::Idle { session, .. }) => *session,
            // A turn that never gave its session back (its task died) is stale after the idle time.
            Some(Slot::InTurn { since }) if since.elapsed() < self.idle => {
                slots.insert(key, Slot::InTurn { since });
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "session_busy",
                    "this conversation is still answering the previous message; send the next one when it is done",
                )
                .with_retry_after_ms(1_000));
            }
            Some(Slot::InTurn { .. }) | None => {
                if slots.len() >= self.sessions_max {
                    let idle = self.idle;
                    slots.retain(|_, slot| match slot {
                        Slot::Idle { used_at, .. } => used_at.elapsed() < idle,
                        Slot::InTurn { since } => since.elapsed() < idle,
                    });
                }
                if slots.len() >= self.sessions_max {
                    return Err(ApiError::unavailable(
                        "chat_sessions_full",
                        "too many conversations are open; try again shortly",
                        5_000,
                    ));
                }
                Session::new(id)
            }
        };
        slots.insert(key, Slot::InTurn { since: Instant::now() });
        Ok(session)
    }

    fn put(&self, shopper: ShopperId, id: &str, session: Session) {
        self.slots.lock().insert(
            (shopper, id.to_owned()),
            Slot::Idle { session: Box::new(session), used_at: Instant::now() },
        );
    }
}

/// One message to the shopping agent; the answer streams as server-sent events when asked for
/// with `Accept: text/event-stream` (one `event:` per agent event, then `done`), else comes as
/// one JSON transcript. Orders are placed only when the shopper confirms a quote shown before.
#[utoipa::path(post, path = "/v1/chat", tag = "shopper", security(("bearer" = [])),
    request_body = ChatRequest,
    responses((status = 200, body = ChatTranscript, description = "JSON, or text/event-stream of the same events"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn chat(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let claims = app.caller(&headers)?;
    let shopper = shopper_of(&claims)?;
    let (permit, write_ticket) = admit_chat(&app, shopper, peer, &headers)?;
    let request: ChatRequest = parse_json(&body)?;
    let n_chars = request.message.chars().count();
    if request.message.trim().is_empty() || n_chars > CHAT_MESSAGE_CHARS_MAX {
        return Err(ApiError::invalid(
            "$.message",
            format!("write 1..={CHAT_MESSAGE_CHARS_MAX} characters (got {n_chars})"),
        ));
    }
    let session_id = request.session_id.unwrap_or_else(|| "default".to_owned());
    if session_id.is_empty()
        || session_id.len() > CHAT_SESSION_ID_BYTES_MAX
        || !session_id.bytes().all(|byte| byte.is_ascii_graphic())
    {
        return Err(ApiError::invalid(
            "$.session_id",
            format!("use 1..={CHAT_SESSION_ID_BYTES_MAX} printable ASCII characters"),
        ));
    }
    let mut session = app.chat.take(shopper, &session_id)?;
    let mut shop = GatewayShop::new(Arc::clone(&app), peer.ip());
    if let Some((class, ticket)) = write_ticket {
        shop = shop.with_ticket(class, ticket);
    }
    let shop = Arc::new(shop);
    let agent =
        Agent::new(shop, Arc::clone(&app.catalogs.lexicon), app.llm.clone(), app.config.agent.clone());
    let wants_stream = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains("text/event-stream"));
    if !wants_stream {
        let mut events = Vec::new();
        let outcome = agent
            .turn(&mut session, shopper, &request.message, &mut |event: AgentEvent| {
                events.push(serde_json::to_value(&event).unwrap_or_default());
            })
            .await;
        app.chat.put(shopper, &session_id, session);
        app.live.record_turn(&outcome);
        drop(permit);
        return Ok(json(StatusCode::OK, &ChatTranscript { events, done: done_of(&outcome) }, false));
    }
    let (sender, receiver) = tokio::sync::mpsc::channel::<Event>(CHAT_EVENTS_BUFFER);
    let message = request.message;
    tokio::spawn(async move {
        let events = sender.clone();
        let outcome = agent
            .turn(&mut session, shopper, &message, &mut move |event: AgentEvent| {
                let name = serde_json::to_value(&event)
                    .ok()
                    .and_then(|value| value["type"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| "event".to_owned());
                let event = Event::default().event(name).json_data(&event).unwrap_or_default();
                // A reader this far behind has gone; the turn itself still completes.
                let _ = events.try_send(event);
            })
            .await;
        app.chat.put(shopper, &session_id, session);
        app.live.record_turn(&outcome);
        drop(permit);
        let done = Event::default().event("done").json_data(done_of(&outcome)).unwrap_or_default();
        let _ = sender.send(done).await;
    });
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|event| (Ok::<_, std::convert::Infallible>(event), receiver))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()).into_response())
}

/// The chat turn's own slot (none when an admitted write ticket stands for it) and the write
/// ticket to hand to the shop.
type ChatAdmission = (Option<crate::app::PermitGuard>, Option<(Class, String)>);

/// The chat's own admission. A `Lantern-Ticket` of the chat class is redeemed as on any request.
/// A ticket of a write's class (from an earlier turn's `queued` event) goes to the shop, whose
/// first write of that class presents it; when that ticket is already admitted, its reserved
/// slot stands for the turn and the chat takes no slot of its own (else a gateway whose every
/// slot is reserved for returning shoppers could never let them back in to say "yes").
fn admit_chat(
    app: &Arc<App>,
    shopper: ShopperId,
    peer: SocketAddr,
    headers: &HeaderMap,
) -> Result<ChatAdmission, ApiError> {
    let Some(text) = headers.get(crate::app::TICKET_HEADER) else {
        return Ok((Some(app.admit(Class::Chat, Some(shopper), peer.ip(), headers)?), None));
    };
    let text = text
        .to_str()
        .map_err(|_| ApiError::invalid("$header.Lantern-Ticket", "the ticket must be printable ASCII"))?
        .to_owned();
    let signed = app.signer.verify_ticket(&text, app.now()).map_err(|error| {
        ApiError::invalid("$header.Lantern-Ticket", error.to_string()).with_code(error.code())
    })?;
    if signed.shopper != Some(shopper) {
        return Err(ApiError::forbidden("this waiting-room ticket was issued to another shopper"));
    }
    let class = Class::ALL
        .get(usize::from(signed.class))
        .copied()
        .ok_or_else(|| ApiError::invalid("$header.Lantern-Ticket", "the ticket names no known class"))?;
    if class == Class::Chat {
        return Ok((Some(app.admit(Class::Chat, Some(shopper), peer.ip(), headers)?), None));
    }
    let ticket =
        lantern_admission::Ticket { class, seq: signed.seq, issued_at_ms: signed.issued_at.unix_ms() };
    let admitted =
        matches!(app.admission.lock().peek(ticket), lantern_admission::TicketState::Admitted { .. });
    if admitted {
        return Ok((None, Some((class, text))));
    }
    let mut without_ticket = headers.clone();
    without_ticket.remove(crate::app::TICKET_HEADER);
    let permit = app.admit(Class::Chat, Some(shopper), peer.ip(), &without_ticket)?;
    Ok((Some(permit), Some((class, text))))
}
