//! Lantern's shopping agent: a shopper chats in English or Chinese, and the agent searches the
//! menus, keeps a cart, prices it with the best coupon, and places the order once the shopper
//! says yes to the exact quote shown.
//!
//! # One turn
//!
//! [`Agent::turn`] takes one message of a conversation ([`Session`]) and emits
//! [`AgentEvent`]s as it goes (result cards, the cart, a quote, a placed order, a place in line,
//! a busy shop with faster ones, numbered choices) and always ends with a `Text` that holds the
//! whole answer. The message is read by the fast path (`lantern-nlu`, no model, under a
//! millisecond); the dialog (`dialog.rs`) turns its [`Understanding`](lantern_nlu::Understanding)
//! into [`Shop`] operations: the commerce operations behind a trait, which the gateway
//! implements over the ledger with admission control in front.
//!
//! # The confirmation rule (DESIGN.md invariant 5)
//!
//! An order is placed only when the shopper answers yes (or "confirm") to the question the
//! agent's previous answer asked about a quote, and what is placed is exactly that quote: the
//! one the shopper saw, for the cart it priced. Any change to the cart cancels the quote (its
//! coupon goes back to the wallet) and needs a new yes; a yes with no quote shown prices the cart
//! and asks; a yes when the conversation has moved on shows the quote again and asks. The
//! idempotency key of a placement derives from the session id and the quote id, so a repeated
//! or retried yes answers the same order.
//!
//! # The model
//!
//! The LLM planner (`planner.rs`) is optional and off unless an [`LlmClient`] is given. It is
//! asked only when the fast path is unsure (confidence below
//! [`AgentConfig::llm_below_confidence_pct`], or a message it calls out of scope still names
//! food), never for a yes or no. It works through tools with validated arguments, a bounded
//! number of steps and a deadline, on a copy of the session that is kept only if it ends well.
//! It never places an order (there is no such tool), never cancels one without the shopper's
//! yes, never sees catalog text except as quarantined tool results, and never states a price
//! the tools did not give: a reply with any other money figure is replaced by the dialog's own
//! words. When the model is slow, down, rate-limited or over budget, the fast path answers and
//! adds a short clarifying question ([`TurnOutcome::llm_fallback`] says why).
//!
//! Every sentence is a template in `text.rs`, English and Chinese side by side, with money as
//! the engine computed it (`¥18.00` / `18.00元`).

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod config;
mod dialog;
mod event;
mod planner;
mod ser;
mod session;
pub mod shop;
mod text;

use std::sync::Arc;

use lantern_core::{OrderId, ShopperId};
use lantern_llm::{LlmClient, ToolSpec};
use lantern_nlu::{Intent, Lexicon, understand};
use parking_lot::RwLock;

pub use config::{
    AgentConfig, AgentConfigError, AgentStats, CHOICES_MAX, PLANNER_TURN_DEADLINE_MS_MAX,
    PLANNER_TURN_DEADLINE_MS_MIN,
};
pub use event::{AgentEvent, CartLineView};
pub use session::{PendingQuote, Session};
pub use shop::*;

use crate::config::{Counters, bump};
use crate::dialog::Turn;
use crate::planner::Planned;

/// The shopping agent: shared by every conversation of a process (it holds no conversation
/// state; that is the [`Session`]).
pub struct Agent<S: Shop> {
    shop: Arc<S>,
    lexicon: Arc<RwLock<Lexicon>>,
    llm: Option<LlmClient>,
    /// The planner's tools, built once.
    tools: Vec<ToolSpec>,
    config: AgentConfig,
    counters: Counters,
}

impl<S: Shop> std::fmt::Debug for Agent<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("config", &self.config)
            .field("llm", &self.llm)
            .field("stats", &self.counters.snapshot())
            .finish_non_exhaustive()
    }
}

/// What one turn came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnOutcome {
    /// What the fast path understood (also on turns the planner answered).
    pub intent: Intent,
    /// The fast path was unsure enough that a model would be asked, whether or not one is
    /// configured: with none, the turn was answered by the fast path plus a clarifying question.
    pub wanted_planner: bool,
    /// The planner answered this turn: its tools' work was kept and its reply (or the template
    /// in place of a reply that failed the money check) was sent.
    pub used_llm: bool,
    /// Why the planner's reply was not sent: a fallback to the fast path (`timeout`,
    /// `rate_limited`, `saturated`, `over_budget`, `circuit_open`, `unavailable`, `rejected`,
    /// `protocol`, `too_large`, `tool_steps_exhausted`, `turn_deadline`) or, with `used_llm`, the
    /// template sent instead (`money_mismatch`, `empty_reply`).
    pub llm_fallback: Option<String>,
    /// The order this turn placed, if it placed one.
    pub placed: Option<OrderId>,
}

impl<S: Shop> Agent<S> {
    /// An agent over `shop`, reading messages with `lexicon` (shared with whatever keeps the
    /// menus current) and, when `llm` is given, asking the planner when the fast path is unsure.
    /// A `config` outside its ranges is clamped into them (see [`AgentConfig::validate`]).
    pub fn new(
        shop: Arc<S>,
        lexicon: Arc<RwLock<Lexicon>>,
        llm: Option<LlmClient>,
        config: AgentConfig,
    ) -> Agent<S> {
        // The tools are for the model alone; without one there is nothing to describe them to.
        let tools = if llm.is_some() { planner::tools() } else { Vec::new() };
        Agent { shop, lexicon, llm, tools, config: config.clamped(), counters: Counters::default() }
    }

    pub fn config(&self) -> &AgentConfig {
        &self.config
    }

    /// One shopper message. Events are emitted as they happen (text may come in several
    /// pieces; every turn emits at least one `Text`). Never fails: refusals and model failures
    /// become answers.
    pub async fn turn(
        &self,
        session: &mut Session,
        shopper: ShopperId,
        text: &str,
        emit: &mut (dyn FnMut(AgentEvent) + Send),
    ) -> TurnOutcome {
        bump(&self.counters.turns);
        session.turns += 1;
        let understanding = {
            // The guard is dropped before any await: reads of the lexicon never wait on a turn.
            let lexicon = self.lexicon.read();
            understand(&lexicon, &session.context(), text)
        };
        // A reply without a word in it ("1", "2" to a numbered question) says nothing about the
        // shopper's language: the conversation keeps the one it had.
        let lang = match session.language {
            Some(last) if !text.chars().any(char::is_alphabetic) => last,
            _ => understanding.language,
        };
        session.language = Some(lang);
        let intent = understanding.intent;

        let mut fallback = None;
        let wanted_planner = self.wants_planner(&understanding);
        if let Some(client) = self.llm.as_ref().filter(|_| wanted_planner) {
            bump(&self.counters.planner_turns);
            match self.plan(client, session, shopper, text, lang, emit).await {
                Planned::Answered { fallback } => {
                    if let Some(reason) = fallback {
                        self.counters.fallback(reason);
                    }
                    return TurnOutcome {
                        intent,
                        wanted_planner,
                        used_llm: true,
                        llm_fallback: fallback.map(str::to_string),
                        placed: None,
                    };
                }
                Planned::FellBack(reason) => {
                    self.counters.fallback(reason);
                    fallback = Some(reason);
                }
            }
        }

        bump(&self.counters.fast_path_turns);
        let mut turn = Turn::new(session, shopper, lang, emit, None);
        self.fast_path(&mut turn, &understanding, text).await;
        if fallback.is_some() && turn.session.awaiting.is_none() && turn.session.question.is_none() {
            // The planner was asked because the fast path was unsure: ask what it could not tell.
            turn.say(text::clarify(lang));
        }
        let mut answer = turn.answer();
        if answer.is_empty() {
            answer = text::ok(lang);
        }
        let placed = turn.placed;
        turn.emit(AgentEvent::Text { text: answer });
        TurnOutcome {
            intent,
            wanted_planner,
            used_llm: false,
            llm_fallback: fallback.map(str::to_string),
            placed,
        }
    }

    /// Counters since the agent started, for metrics.
    pub fn stats(&self) -> AgentStats {
        self.counters.snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The gateway runs turns on a multi-threaded runtime: the future must be `Send` for any shop.
    #[allow(dead_code)]
    fn turn_future_is_send<S: Shop>(
        agent: &Agent<S>,
        session: &mut Session,
        emit: &mut (dyn FnMut(AgentEvent) + Send),
    ) {
        fn is_send<T: Send>(_: &T) {}
        let future = agent.turn(session, ShopperId::new(1), "hi", emit);
        is_send(&future);
    }
}
