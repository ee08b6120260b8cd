//! [`AgentConfig`]: the agent's named limits; [`AgentStats`]: what it did, for metrics.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// Most numbered choices offered at once: one digit answers any of them.
pub const CHOICES_MAX: usize = 9;

/// Longest planner turn accepted in configuration, in milliseconds: a shopper is waiting.
pub const PLANNER_TURN_DEADLINE_MS_MAX: u64 = 120_000;

/// Shortest planner turn accepted in configuration, in milliseconds.
pub const PLANNER_TURN_DEADLINE_MS_MIN: u64 = 10;

/// The agent's limits. [`AgentConfig::validate`] checks them; [`Agent::new`](crate::Agent::new)
/// clamps values outside their ranges (and logs that), so a bad value can never make a turn
/// unbounded. Deserializable (unknown fields refused, missing ones default), so it can be a
/// section of the server's TOML file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    /// Most lines in one cart (one line is one item with its options, any quantity); at most the
    /// engine's `CART_LINES_MAX`.
    pub cart_lines_max: usize,
    /// Most search results or candidates shown (and numbered) at once; 1 to [`CHOICES_MAX`].
    pub results_shown_max: usize,
    /// Most orders listed by the planner's `order_status` tool.
    pub orders_shown_max: usize,
    /// The model is asked only when the fast path's confidence is below this (0 to 100; 0 never
    /// asks it), or when a message the fast path calls out of scope still names something to
    /// eat or drink.
    pub llm_below_confidence_pct: u8,
    /// Deadline over a whole planner turn (every model call and tool), in milliseconds; each call
    /// also has the client's own `deadline_ms`. Past it the fast path answers.
    pub planner_turn_deadline_ms: u64,
}

impl Default for AgentConfig {
    /// 20 cart lines, 5 results, 3 orders, the model below 60 % confidence, 20 s per planner turn.
    fn default() -> Self {
        AgentConfig {
            cart_lines_max: 20,
            results_shown_max: 5,
            orders_shown_max: 3,
            llm_below_confidence_pct: 60,
            planner_turn_deadline_ms: 20_000,
        }
    }
}

/// A configuration value out of range, with the field at fault and what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("agent.{field}: {value} is out of range; write a value from {min} to {max}")]
pub struct AgentConfigError {
    pub field: &'static str,
    pub value: u64,
    pub min: u64,
    pub max: u64,
}

fn check(field: &'static str, value: u64, min: u64, max: u64) -> Result<(), AgentConfigError> {
    if value < min || value > max {
        return Err(AgentConfigError { field, value, min, max });
    }
    Ok(())
}

fn as_u64(value: usize) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}

impl AgentConfig {
    /// Checks every field, giving the first problem found.
    pub fn validate(&self) -> Result<(), AgentConfigError> {
        let cart_max = as_u64(lantern_core::pricing::CART_LINES_MAX);
        check("cart_lines_max", as_u64(self.cart_lines_max), 1, cart_max)?;
        check("results_shown_max", as_u64(self.results_shown_max), 1, as_u64(CHOICES_MAX))?;
        check("orders_shown_max", as_u64(self.orders_shown_max), 1, as_u64(CHOICES_MAX))?;
        check("llm_below_confidence_pct", u64::from(self.llm_below_confidence_pct), 0, 100)?;
        check(
            "planner_turn_deadline_ms",
            self.planner_turn_deadline_ms,
            PLANNER_TURN_DEADLINE_MS_MIN,
            PLANNER_TURN_DEADLINE_MS_MAX,
        )?;
        Ok(())
    }

    /// Every field brought into its range.
    pub(crate) fn clamped(mut self) -> AgentConfig {
        if let Err(error) = self.validate() {
            tracing::warn!(%error, "agent configuration clamped into range");
        }
        self.cart_lines_max = self.cart_lines_max.clamp(1, lantern_core::pricing::CART_LINES_MAX);
        self.results_shown_max = self.results_shown_max.clamp(1, CHOICES_MAX);
        self.orders_shown_max = self.orders_shown_max.clamp(1, CHOICES_MAX);
        self.llm_below_confidence_pct = self.llm_below_confidence_pct.min(100);
        self.planner_turn_deadline_ms =
            self.planner_turn_deadline_ms.clamp(PLANNER_TURN_DEADLINE_MS_MIN, PLANNER_TURN_DEADLINE_MS_MAX);
        self
    }
}

/// What the agent did since it started.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AgentStats {
    pub turns: u64,
    /// Turns answered by the fast path alone (fallbacks from the planner included).
    pub fast_path_turns: u64,
    /// Turns given to the planner, whatever came of them.
    pub planner_turns: u64,
    /// Model calls made (each round of the tool loop is one).
    pub llm_calls: u64,
    /// Planner turns that ended in the fast path or a template reply, by reason: the model
    /// client's error kinds (`timeout`, `rate_limited`, `saturated`, ...), `tool_steps_exhausted`,
    /// `turn_deadline`, `money_mismatch`, `empty_reply`.
    pub llm_fallbacks: Vec<(String, u64)>,
    /// Tool calls the model asked for, and those refused (unknown tool or invalid arguments).
    pub tool_calls: u64,
    pub tool_calls_refused: u64,
    pub orders_placed: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) turns: AtomicU64,
    pub(crate) fast_path_turns: AtomicU64,
    pub(crate) planner_turns: AtomicU64,
    pub(crate) llm_calls: AtomicU64,
    pub(crate) tool_calls: AtomicU64,
    pub(crate) tool_calls_refused: AtomicU64,
    pub(crate) orders_placed: AtomicU64,
    fallbacks: Mutex<BTreeMap<&'static str, u64>>,
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn fallback(&self, reason: &'static str) {
        *self.fallbacks.lock().entry(reason).or_insert(0) += 1;
    }

    pub(crate) fn snapshot(&self) -> AgentStats {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        AgentStats {
            turns: load(&self.turns),
            fast_path_turns: load(&self.fast_path_turns),
            planner_turns: load(&self.planner_turns),
            llm_calls: load(&self.llm_calls),
            llm_fallbacks: self
                .fallbacks
                .lock()
                .iter()
                .map(|(reason, n)| ((*reason).to_string(), *n))
                .collect(),
            tool_calls: load(&self.tool_calls),
            tool_calls_refused: load(&self.tool_calls_refused),
            orders_placed: load(&self.orders_placed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_values_are_named_and_clamped() {
        assert_eq!(AgentConfig::default().validate(), Ok(()));
        let bad = AgentConfig { results_shown_max: 40, ..AgentConfig::default() };
        let error = bad.validate().err().map(|error| error.to_string()).unwrap_or_default();
        assert!(error.contains("agent.results_shown_max") && error.contains("1 to 9"), "{error}");
        assert_eq!(bad.clamped().results_shown_max, CHOICES_MAX);
    }
}
