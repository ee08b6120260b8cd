//! Time as milliseconds since the Unix epoch, always passed in, never read from a clock here.

use std::fmt;

/// A point in time, milliseconds since the Unix epoch (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(u64);

impl Timestamp {
    pub const EPOCH: Timestamp = Timestamp(0);
    pub const MAX: Timestamp = Timestamp(u64::MAX);

    pub const fn from_ms(unix_ms: u64) -> Timestamp {
        Timestamp(unix_ms)
    }

    pub const fn unix_ms(self) -> u64 {
        self.0
    }

    pub const fn plus_ms(self, duration_ms: u64) -> Timestamp {
        Timestamp(self.0.saturating_add(duration_ms))
    }

    /// Milliseconds from `self` until `later`, zero if `later` is not later.
    pub const fn ms_until(self, later: Timestamp) -> u64 {
        later.0.saturating_sub(self.0)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}
