//! Signed credentials for Lantern: bearer tokens (shopper, merchant, operator) and waiting-room
//! tickets, both HMAC-SHA256 with an expiry. Pure: no I/O, no clock (the time is passed in), no
//! randomness.
//!
//! A [`Signer`] holds one key per purpose, both derived from one operator secret, so a ticket can
//! never pass as a token nor a token as a ticket, even before the prefixes are compared.
//!
//! # Formats
//!
//! ```text
//! token:  lt1.<payload>.<mac>      ticket: lw1.<payload>.<mac>
//! ```
//!
//! `<payload>` and `<mac>` are unpadded base64url. `<mac>` is HMAC-SHA256 over the ASCII text
//! before the second dot (`lt1.<payload>`), keyed with the purpose's key. The payload is binary,
//! fixed-width and big-endian, so one value has exactly one encoding; any other bytes are
//! [`AuthError::Malformed`]:
//!
//! ```text
//! token:  role (1 byte: 1 shopper, 2 merchant, 3 operator)
//!         | subject id (u64, shopper and merchant only) | issued_at (u64 ms) | expires_at (u64 ms)
//! ticket: shopper present (1 byte: 0 or 1) | shopper id (u64, if present) | class (1 byte, below
//!         ADMISSION_CLASSES) | seq (u64) | issued_at (u64 ms) | expires_at (u64 ms)
//! ```
//!
//! A credential is valid from `issued_at` (less [`CLOCK_SKEW_MS_MAX`], for nodes whose clocks
//! differ slightly) until just before `expires_at`. Verification checks the length bound first,
//! then the prefix, then the MAC (in constant time), and only then reads the payload, so
//! unauthenticated bytes are never interpreted.
//!
//! [`parse_bearer`] takes the token out of an `Authorization: Bearer …` header value.

mod error;
mod payload;
mod signer;

pub use error::AuthError;
pub use signer::{Signer, parse_bearer};

use std::fmt;

use lantern_core::{MerchantId, ShopperId, Timestamp};

/// Shortest secret [`Signer::new`] accepts, in bytes: as many as the HMAC-SHA256 output.
pub const SECRET_BYTES_MIN: usize = 32;
/// Longest token or ticket accepted, in bytes. Real ones are under 100; refusing longer input
/// before decoding bounds the work an attacker can cause per request.
pub const CREDENTIAL_BYTES_MAX: usize = 512;
/// How far `issued_at` may lie ahead of the verifier's clock, in milliseconds, so a credential
/// issued by a node whose clock runs slightly ahead is not refused as not yet valid.
pub const CLOCK_SKEW_MS_MAX: u64 = 5_000;
/// Number of admission classes; a ticket's `class` is below this.
pub const ADMISSION_CLASSES: u8 = 5;

/// Who a bearer token speaks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Shopper(ShopperId),
    Merchant(MerchantId),
    Operator,
}

impl fmt::Display for Role {
    /// `shopper shp_42`, `merchant mer_7`, `operator`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::Shopper(shopper) => write!(f, "shopper {shopper}"),
            Role::Merchant(merchant) => write!(f, "merchant {merchant}"),
            Role::Operator => f.write_str("operator"),
        }
    }
}

/// What a bearer token says: who, and for how long (`issued_at` inclusive, `expires_at`
/// exclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claims {
    pub role: Role,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
}

/// A waiting-room ticket: a place in the queue of one admission class, which the holder shows
/// again to be admitted when its turn comes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedTicket {
    /// The shopper, when the ticket was issued to a signed-in one.
    pub shopper: Option<ShopperId>,
    /// Admission class index, below [`ADMISSION_CLASSES`]. A ticket issued with a higher class
    /// never verifies.
    pub class: u8,
    /// Position in the class's queue: tickets are admitted in `seq` order.
    pub seq: u64,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
}
