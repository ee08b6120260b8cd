//! End-to-end tests of the HTTP gateway: a real server on loopback (in this process, over a
//! real sequencer and SQLite journal), spoken to over HTTP with `reqwest`.
//!
//! - `flows`: the shopper, merchant and operator journeys, amounts checked in fen.
//! - `auth`: tokens, roles, and that nobody reads or moves another's session or order.
//! - `idempotency`: replays, conflicts, keys in flight, refusals, keys across a restart.
//! - `admission`: the waiting room (ticket, long poll, SSE, redeem), full rooms, rate limits.
//! - `bad_input`: malformed, mistyped, oversized and unknown input on every endpoint, and a
//!   seeded fuzz of every POST endpoint (`LANTERN_FUZZ_SEED` to vary it).
//! - `chat`: the shopping agent's orders, sessions, streaming and bad input; search.
//! - `live`: the web pages and assets, guest tokens, live views, the audit list, chat tickets.
//! - `acp`: the Agentic Commerce Protocol's checkout walked by hand, with replays, conflicts
//!   and the signed order webhook received on loopback.
//! - `sharding`: a shopper's request at another node's gateway is redirected (307) there.
//! - `system`: health, readiness, metrics and the OpenAPI document.
//! - `backups`: a backup taken over HTTP while orders come in, then served from and checked.

#![allow(clippy::unwrap_used)]

mod acp;
mod admission;
mod auth;
mod backups;
mod bad_input;
mod chat;
mod flows;
mod idempotency;
mod live;
mod sharding;
mod support;
mod system;
