//! The journal's binary format: ledger commands encoded compactly and decoded with validation.
//! No I/O.
//!
//! The sequencer encodes each batch of [`Command`]s with [`encode_batch`] into one byte body,
//! the store persists it (with fsync) and, on restart, [`decode_batch`] turns the bodies back into
//! commands to replay. Encoding is on the hot path of every order, so it allocates nothing but the
//! growth of the output buffer; decoding reads untrusted bytes (a damaged disk, a file from
//! another version), so it checks everything and never panics.
//!
//! # Format, version [`FORMAT_VERSION`]
//!
//! A batch is a header and the commands, back to back:
//!
//! ```text
//! magic "LTJB" (4 bytes) | format version (1 byte) | command count (u32, little-endian) | commands…
//! ```
//!
//! Each command is a tag byte followed by its fields in declaration order:
//! - unsigned integers and ids are LEB128 varints, in their shortest form;
//! - [`Money`](lantern_core::Money) is a zigzag varint (amounts may be negative as deltas);
//! - [`Timestamp`](lantern_core::Timestamp)s are varints of Unix milliseconds;
//! - `u8` fields (caps, option bounds) are one raw byte;
//! - strings are a varint byte length and UTF-8; vectors a varint length and the items;
//! - `Option` is a 0 or 1 byte, then the value if 1; enums are a tag byte, then their fields.
//!
//! Tags and field order are fixed forever for a format version: a change is a new version, and
//! a batch from a newer version is refused with [`DecodeError::NewerVersion`]. Older versions
//! keep decoding (version 1 lacks the order channel byte: its orders came through the API). The
//! encoding is canonical: every batch of the current version that decodes re-encodes to exactly
//! the same bytes.
//!
//! Decoded domain values are rebuilt only through their checking constructors
//! ([`Catalog::new`](lantern_core::Catalog::new), [`Merchant::new`](lantern_core::Merchant::new),
//! [`Capacity::new`](lantern_core::Capacity::new), [`Validity::new`](lantern_core::Validity::new),
//! [`IdempotencyKey::new`](lantern_core::IdempotencyKey::new)), so a decoded command is as
//! well-formed as one built in memory.

mod decode;
mod encode;
mod error;
mod format;

pub use decode::decode_batch;
pub use encode::encode_batch;
pub use error::{BACKUP_ADVICE, CommandProblem, DecodeError, InvalidValue};
pub use format::{BATCH_HEADER_BYTES, BATCH_MAGIC, FORMAT_VERSION};

#[cfg(doc)]
use lantern_ledger::Command;
