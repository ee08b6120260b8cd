//! [`LlmError`]: why a call to the model gave no usable answer, and [`ErrorKind`] for metrics.

/// Why a call gave no answer. Every kind means the same thing to the caller: answer with the
/// fast path plus a clarifying question ([`LlmError::should_fall_back`] is always true); the
/// kinds differ in what an operator should look at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LlmError {
    /// Every call slot was busy, so the model was not called at all.
    #[error(
        "the model planner is saturated: all {concurrency_max} call slots are busy; answer with the fast \
         path now (raise llm.concurrency_max only if the model server has spare capacity)"
    )]
    Saturated {
        /// The configured number of slots.
        concurrency_max: u32,
    },
    /// The tokens-per-minute budget cannot cover this call's estimate, so the model was not called.
    #[error(
        "the model planner is over its token budget: this call needs about {needed_tokens} tokens and \
         {available_tokens} of {tokens_per_minute_max} per minute are left; answer with the fast path \
         (the budget refills continuously)"
    )]
    OverBudget {
        /// The call's estimate: prompt bytes / 4 plus `max_tokens`.
        needed_tokens: u64,
        /// What the budget holds now.
        available_tokens: u64,
        /// The configured budget.
        tokens_per_minute_max: u64,
    },
    /// The circuit breaker is open after repeated failures, so the model was not called.
    #[error(
        "the model planner's circuit breaker is open after repeated failures; it lets one probe call \
         through in {retry_after_ms} ms; answer with the fast path meanwhile"
    )]
    CircuitOpen {
        /// Time until the breaker lets a probe through (0: a probe is already in flight).
        retry_after_ms: u64,
    },
    /// The call did not finish (headers and the whole stream) within the deadline.
    #[error(
        "the model did not finish within the {deadline_ms} ms deadline; answer with the fast path (if \
         this is frequent, the model server is overloaded or llm.deadline_ms is too short)"
    )]
    Timeout {
        /// The configured deadline.
        deadline_ms: u64,
    },
    /// The model server answered HTTP 429.
    #[error(
        "the model server is rate-limiting this client (HTTP 429){}; answer with the fast path",
        match retry_after_ms { Some(ms) => format!(", retry after {ms} ms"), None => String::new() }
    )]
    RateLimited {
        /// The server's `retry-after-ms` or `Retry-After` (seconds) header, in milliseconds.
        retry_after_ms: Option<u64>,
    },
    /// The model server could not be reached, or answered 5xx, or the connection broke.
    #[error(
        "the model server is unavailable ({detail}); answer with the fast path and check that it is running"
    )]
    Unavailable {
        /// What happened, without the request's content.
        detail: String,
    },
    /// The model server refused the request with another 4xx status.
    #[error(
        "the model server refused the request with HTTP {status} ({detail}); answer with the fast path \
         and check llm.base_url, llm.model and the API key"
    )]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The start of the server's error body.
        detail: String,
    },
    /// The answer did not follow the chat-completions wire format.
    #[error(
        "the model server's answer broke the chat-completions format ({detail}); answer with the fast \
         path and check that llm.base_url points at an OpenAI-compatible endpoint"
    )]
    Protocol {
        /// What was wrong.
        detail: String,
    },
    /// The request or the answer exceeded one of this crate's size limits.
    #[error("the {what} exceeded its limit of {limit}; answer with the fast path")]
    TooLarge {
        /// Which limit: "response bytes", "tool calls per answer", "tool call arguments bytes", ...
        what: &'static str,
        /// The limit's value.
        limit: usize,
    },
}

impl LlmError {
    /// Whether the caller should answer with the fast path plus a clarifying question. Always
    /// true: the planner is an optional improvement, so no failure of it may fail the shopper's
    /// turn. It is a method so that call sites say why they fall back.
    pub fn should_fall_back(&self) -> bool {
        true
    }

    /// The kind, for metrics labels and counting.
    pub fn kind(&self) -> ErrorKind {
        match self {
            LlmError::Saturated { .. } => ErrorKind::Saturated,
            LlmError::OverBudget { .. } => ErrorKind::OverBudget,
            LlmError::CircuitOpen { .. } => ErrorKind::CircuitOpen,
            LlmError::Timeout { .. } => ErrorKind::Timeout,
            LlmError::RateLimited { .. } => ErrorKind::RateLimited,
            LlmError::Unavailable { .. } => ErrorKind::Unavailable,
            LlmError::Rejected { .. } => ErrorKind::Rejected,
            LlmError::Protocol { .. } => ErrorKind::Protocol,
            LlmError::TooLarge { .. } => ErrorKind::TooLarge,
        }
    }

    /// Whether the model was never called: the refusal came from this client's own bounds.
    pub fn refused_locally(&self) -> bool {
        matches!(
            self,
            LlmError::Saturated { .. } | LlmError::OverBudget { .. } | LlmError::CircuitOpen { .. }
        )
    }

    /// How long the server or the breaker asked us to wait, when it said.
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            LlmError::RateLimited { retry_after_ms } => *retry_after_ms,
            LlmError::CircuitOpen { retry_after_ms } => Some(*retry_after_ms),
            _ => None,
        }
    }
}

/// The kinds of [`LlmError`], each with a stable name for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// [`LlmError::Saturated`].
    Saturated,
    /// [`LlmError::OverBudget`].
    OverBudget,
    /// [`LlmError::CircuitOpen`].
    CircuitOpen,
    /// [`LlmError::Timeout`].
    Timeout,
    /// [`LlmError::RateLimited`].
    RateLimited,
    /// [`LlmError::Unavailable`].
    Unavailable,
    /// [`LlmError::Rejected`].
    Rejected,
    /// [`LlmError::Protocol`].
    Protocol,
    /// [`LlmError::TooLarge`].
    TooLarge,
}

impl ErrorKind {
    /// How many kinds there are.
    pub const COUNT: usize = 9;

    /// Every kind, in a fixed order (the order of [`LlmStats::errors`](crate::LlmStats::errors)).
    pub const ALL: [ErrorKind; ErrorKind::COUNT] = [
        ErrorKind::Saturated,
        ErrorKind::OverBudget,
        ErrorKind::CircuitOpen,
        ErrorKind::Timeout,
        ErrorKind::RateLimited,
        ErrorKind::Unavailable,
        ErrorKind::Rejected,
        ErrorKind::Protocol,
        ErrorKind::TooLarge,
    ];

    /// The stable snake_case name, for a metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Saturated => "saturated",
            ErrorKind::OverBudget => "over_budget",
            ErrorKind::CircuitOpen => "circuit_open",
            ErrorKind::Timeout => "timeout",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Rejected => "rejected",
            ErrorKind::Protocol => "protocol",
            ErrorKind::TooLarge => "too_large",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}
