//! The surge simulator's pure core: replay a campaign's rush (the Spring Festival of
//! `../shared/DESIGN.md`, or an operator's own profile) and report what held.
//!
//! - [`profile`]: the TOML profile format (`PROFILE.md`) and the built-in `spring-festival` and
//!   `budget-exhaustion` profiles, with `scaled` for smaller runs;
//! - [`workload`]: the deterministic workload: orders per simulated minute (phases, spikes,
//!   an hourly wave), and each order's shopper, referral, outlet (Zipf), cart and channel as a
//!   pure function of the seed and its index; outlets' capacities; shoppers' retry rule;
//! - [`recorder`]: per simulated minute, how tries were answered, latency and waiting-room
//!   percentiles, budget burn and kitchen backlog;
//! - [`report`]: the report as Markdown, a self-contained HTML page with SVG charts ([`svg`]),
//!   and JSON.
//!
//! No I/O, no clock: the drivers (in-process and over HTTP, in the `lantern` binary) pass time
//! and answers in.

pub mod profile;
pub mod random;
pub mod recorder;
pub mod report;
pub mod svg;
pub mod workload;

pub use profile::{Profile, ProfileError};
pub use random::{Zipf, draw, mix};
pub use recorder::{Answer, Gauges, Recorder};
pub use report::{AuditCheck, Report, RunReport, Summary};
pub use workload::{
    Arrival, CHAT_RECONFIRMS_MAX, Channel, MINUTE_MS, NextTry, Refusal, Workload, chat_messages,
};
