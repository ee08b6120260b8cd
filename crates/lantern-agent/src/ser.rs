//! Serialising lantern-core's ids and money (which know nothing of serde) for the agent's
//! events: ids as their display forms (`mer_7`), money as integer fen.

use std::fmt::Display;

use lantern_core::Money;
use serde::Serializer;

pub(crate) fn display<T: Display, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

pub(crate) fn fen<S: Serializer>(value: &Money, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_i64(value.fen())
}
