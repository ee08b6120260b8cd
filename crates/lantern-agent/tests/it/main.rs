//! The agent over real components: a ledger behind a test `Shop`, the fast-path understanding
//! with bilingual menus, and (for the planner) a scripted OpenAI-compatible server on loopback.
//!
//! - `dialog`: ordering in English and Chinese, quotes with coupons, the confirmation rule,
//!   refusals (queued, busy), coupons, cancelling, ambiguity, switching shops.
//! - `planner`: the tool loop, streamed replies, invented prices, malformed arguments, 429,
//!   deadlines, injected instructions in catalog text, and no order without the shopper's yes.

#![allow(clippy::unwrap_used)]

mod dialog;
mod planner;
mod support;
