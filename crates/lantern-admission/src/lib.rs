//! Admission control for Lantern's gateway: who gets in now, who waits in line, who is told to
//! come back later, and when.
//!
//! Pure code: plain structs with `&mut self` methods, no I/O, no async, no threads and no clock.
//! Every method that depends on time takes `now_ms`; time going backwards counts as no time
//! passed. The gateway wraps one [`Admission`] in a mutex and calls it per request.
//!
//! The flow of one request:
//! 1. [`Admission::check_rate`]: token buckets per shopper and per IP ([`BucketConfig`]). Over
//!    the rate: shed with the exact time until a token.
//! 2. [`Admission::admit`] with the request's [`Class`]. Classes are priorities: each may fill
//!    only its share of the concurrency limit (`class_share_permille`), so chat is shed first
//!    and complete_checkout last. With room and nobody of its class or higher waiting: a
//!    [`Permit`]. Otherwise a [`Ticket`] in the class's FIFO waiting room, with its position and
//!    an ETA from the measured drain rate; or, with the room full, a shed with a retry time.
//! 3. The waiting page [`Admission::poll`]s its ticket every few hundred ms (a ticket not polled
//!    for `ticket_idle_ttl_ms` is dropped). When a slot frees, the first ticket of the highest
//!    waiting class is promoted: it reserves the slot for `admitted_ttl_ms`, and the shopper
//!    [`Admission::redeem`]s it for a permit.
//! 4. [`Admission::complete`] hands the permit back with the request's latency. The limit adapts
//!    (AIMD: +1 per limit's worth of fast completions, times `backoff_permille` at most once per
//!    target latency when slow or overloaded), and the freed slot goes to the next ticket.
//! 5. [`Admission::expire`] about every 100 ms drops departed shoppers' tickets.
//!
//! Costs: every call is O(log n) in the waiting tickets and allocation-free once the tables have
//! grown, except that a class's line sweeps out departed tickets in one O(n) pass at most once
//! per n tickets queued. Every table has a limit: `waiting_room_capacity` per class,
//! `bucket_keys_max` per bucket table, and the limiter's `max_limit` for slots; a waiting ticket
//! costs under 100 bytes.

mod admission;
mod bucket;
mod class;
mod config;
mod drain;
mod fenwick;
mod limiter;
mod line;

pub use admission::{
    Admission, AdmissionStats, ClassStats, Decision, ETA_MS_MAX, PROMOTION_LEAD_MAX, Permit,
    RECENT_PROMOTIONS_MAX, RETRY_AFTER_MS_MIN, ShedReason, Ticket, TicketState,
};
pub use class::{CLASS_COUNT, Class};
pub use config::{
    AdmissionConfig, BACKOFF_PERMILLE_MAX, BACKOFF_PERMILLE_MIN, BUCKET_BURST_MAX, BUCKET_KEYS_MAX,
    BUCKET_PER_SECOND_MAX, BucketConfig, ConfigError, ConfigProblem, LIMIT_MAX, LimiterConfig,
    TARGET_LATENCY_US_MAX, TARGET_LATENCY_US_MIN, TICKET_TTL_MS_MAX, TICKET_TTL_MS_MIN,
    WAITING_ROOM_CAPACITY_MAX, WAITING_TICKETS_TOTAL_MAX,
};
pub use drain::DRAIN_WINDOW_MS;
