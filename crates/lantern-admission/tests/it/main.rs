//! Integration tests of admission control through its public API only.
//!
//! - `rate`: token buckets, exact retry times, the bounded key tables.
//! - `classes`: priority shares and no queue jumping.
//! - `waiting_room`: FIFO promotion, positions, ETAs, expiry of idle and unredeemed tickets.
//! - `limiter`: the AIMD concurrency limit.
//! - `config`: validation names the fields at fault.
//! - `property`: random sequences of calls, invariants checked after every step.

// Tests state their expectations with `expect`; a panic with the reason is the failure report.
#![allow(clippy::unwrap_used)]

mod classes;
mod config;
mod limiter;
mod property;
mod rate;
mod support;
mod waiting_room;
