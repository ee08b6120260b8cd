//! Every refusal as one JSON shape ([`ErrorBody`]) with the right status and `Retry-After`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lantern_core::ReasonCode;
use lantern_ledger::LedgerError;
use lantern_sequencer::SubmitError;

use crate::wire::{ErrorBody, MerchantSummary, WaitingBody};

/// Header marking an answer given again for a repeated idempotency key.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// A refused request: status, machine code, a message that says what to do, and when a retry
/// can succeed.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub param: Option<String>,
    pub retry_after_ms: Option<u64>,
    pub alternatives: Vec<MerchantSummary>,
    /// Set when the request was queued: the answer is the waiting room's ticket instead.
    pub waiting: Option<Box<WaitingBody>>,
    /// The first answer to this idempotency key, given again (`Idempotent-Replayed: true`).
    pub replayed: bool,
}

impl ApiError {
    pub fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: code.into(),
            message: message.into(),
            param: None,
            retry_after_ms: None,
            alternatives: Vec::new(),
            waiting: None,
            replayed: false,
        }
    }

    /// Queued in the waiting room (HTTP 429 with a ticket).
    pub fn queued(body: WaitingBody) -> ApiError {
        let retry_after_ms = body.eta_ms.max(1_000);
        ApiError {
            waiting: Some(Box::new(body)),
            ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, "queued", "queued in the waiting room")
        }
        .with_retry_after_ms(retry_after_ms)
    }

    /// Malformed input: names the field (a JSONPath) and says what is expected.
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError { param: Some(param.into()), ..ApiError::new(StatusCode::BAD_REQUEST, "invalid", message) }
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn unauthorized(code: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, code, message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn unavailable(code: &str, message: impl Into<String>, retry_after_ms: u64) -> ApiError {
        ApiError {
            retry_after_ms: Some(retry_after_ms),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
        }
    }

    pub fn with_retry_after_ms(mut self, retry_after_ms: u64) -> ApiError {
        self.retry_after_ms = Some(retry_after_ms);
        self
    }

    pub fn with_param(mut self, param: impl Into<String>) -> ApiError {
        self.param = Some(param.into());
        self
    }

    pub(crate) fn kind(&self) -> &'static str {
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            "service_unavailable"
        } else if self.status.is_server_error() {
            "processing_error"
        } else if self.status.is_redirection() {
            // Not the caller's mistake: the same request belongs at `Location`.
            "redirect"
        } else {
            "invalid_request"
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            kind: self.kind().into(),
            code: self.code.clone(),
            message: self.message.clone(),
            param: self.param.clone(),
            retry_after_ms: self.retry_after_ms,
            alternatives: self.alternatives.clone(),
        }
    }
}

/// Whole seconds for `Retry-After`, rounded up, at least 1.
pub fn retry_after_header(retry_after_ms: u64) -> HeaderValue {
    HeaderValue::from(retry_after_ms.div_ceil(1000).max(1))
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = match &self.waiting {
            Some(waiting) => (self.status, axum::Json(waiting)).into_response(),
            None => (self.status, axum::Json(self.body())).into_response(),
        };
        if self.replayed {
            response.headers_mut().insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
        }
        if let Some(retry_after_ms) = self.retry_after_ms {
            response.headers_mut().insert(header::RETRY_AFTER, retry_after_header(retry_after_ms));
        }
        response
    }
}

impl From<LedgerError> for ApiError {
    fn from(error: LedgerError) -> ApiError {
        let code = error.code();
        let status = match code {
            ReasonCode::Invalid => StatusCode::BAD_REQUEST,
            ReasonCode::NotFound => StatusCode::NOT_FOUND,
            ReasonCode::RateLimited | ReasonCode::MerchantBusy => StatusCode::TOO_MANY_REQUESTS,
            ReasonCode::Conflict => StatusCode::UNPROCESSABLE_ENTITY,
            ReasonCode::OutOfStock
            | ReasonCode::QuantityExceeded
            | ReasonCode::MaximumExceeded
            | ReasonCode::DiscountCodeMinimumNotMet
            | ReasonCode::DiscountCodeExpired
            | ReasonCode::DiscountCodeInvalid
            | ReasonCode::DiscountCodeUserIneligible
            | ReasonCode::DiscountCodeUsageLimitReached => StatusCode::UNPROCESSABLE_ENTITY,
            ReasonCode::Expired
            | ReasonCode::BudgetExhausted
            | ReasonCode::CampaignPaused
            | ReasonCode::CampaignNotStarted
            | ReasonCode::CampaignEnded
            | ReasonCode::MerchantPaused
            | ReasonCode::InvalidTransition => StatusCode::CONFLICT,
        };
        let code = match (&error, code) {
            (LedgerError::RequestConflict | LedgerError::IdempotencyConflict { .. }, _) => {
                "idempotency_conflict".to_owned()
            }
            (_, code) => code.as_str().to_owned(),
        };
        ApiError { retry_after_ms: error.retry_after_ms(), ..ApiError::new(status, code, error.to_string()) }
    }
}

/// When to retry a write the store could not take.
const STORE_RETRY_AFTER_MS: u64 = 2_000;

impl From<SubmitError> for ApiError {
    fn from(error: SubmitError) -> ApiError {
        match error {
            SubmitError::Ledger(error) => error.into(),
            SubmitError::Overloaded { .. } => ApiError::unavailable("overloaded", error.to_string(), 1_000),
            SubmitError::Stopped => ApiError::unavailable("shutting_down", error.to_string(), 5_000),
            // The store is down, not the request wrong: the same request succeeds once it is
            // back (the sequencer reconnects on its next commit), so say when to retry.
            SubmitError::Store(_) => ApiError::unavailable(
                "store_unavailable",
                format!("{error}. Nothing was recorded; retry with the same Idempotency-Key."),
                STORE_RETRY_AFTER_MS,
            ),
        }
    }
}
