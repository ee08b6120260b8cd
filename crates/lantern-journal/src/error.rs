//! Why a batch could not be decoded, and where.

use lantern_core::{CampaignError, CatalogError, IdError, MerchantError};

use crate::format::{BATCH_HEADER_BYTES, BATCH_MAGIC, FORMAT_VERSION};

/// What to do about a damaged journal, said at the end of each error for one.
pub const BACKUP_ADVICE: &str = "start from your latest backup instead (`lantern serve --data` on its folder, by default \
     under the data directory's backups/)";

/// A journal batch that cannot be decoded. Byte offsets count from the start of the batch;
/// command indexes from 0.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error(
        "journal batch is {length_bytes} bytes, shorter than its {BATCH_HEADER_BYTES}-byte header; \
         the entry is truncated: {BACKUP_ADVICE}"
    )]
    HeaderTruncated { length_bytes: usize },

    #[error(
        "journal batch starts with {found:02x?}, not lantern's magic {BATCH_MAGIC:02x?}; \
         it is not a lantern journal entry or it is damaged: {BACKUP_ADVICE}"
    )]
    BadMagic { found: [u8; 4] },

    #[error(
        "journal batch was written by a newer lantern (format version {version}; this lantern reads up to \
         version {FORMAT_VERSION}); upgrade lantern to read this journal"
    )]
    NewerVersion { version: u8 },

    #[error(
        "journal batch has format version {version}, which no lantern writes; \
         the entry is damaged: {BACKUP_ADVICE}"
    )]
    UnknownVersion { version: u8 },

    #[error(
        "journal batch declares {n_commands} commands but only {remaining_bytes} bytes follow its header; \
         the entry is damaged or truncated: {BACKUP_ADVICE}"
    )]
    CountBeyondEnd { n_commands: u32, remaining_bytes: usize },

    #[error(
        "journal batch, command {command_index} (byte {offset}): {problem}; \
         the entry is damaged: {BACKUP_ADVICE}"
    )]
    Command {
        /// Which command of the batch, from 0.
        command_index: usize,
        /// Where the offending field starts.
        offset: usize,
        problem: CommandProblem,
    },

    #[error(
        "journal batch has {n_bytes} bytes after its last command (from byte {offset}); \
         the entry is damaged: {BACKUP_ADVICE}"
    )]
    TrailingBytes { offset: usize, n_bytes: usize },
}

/// What was wrong inside one command. `what` names the field, as `command.field`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommandProblem {
    #[error("the batch ends inside {what}")]
    Truncated { what: &'static str },

    #[error("{what} has unknown tag {tag}")]
    UnknownTag { what: &'static str, tag: u8 },

    #[error("{what} is not a valid varint (longer than needed, or over 64 bits)")]
    BadVarint { what: &'static str },

    #[error("{what} is {value}, more than its largest value {max}")]
    OutOfRange { what: &'static str, value: u64, max: u64 },

    #[error("{what} claims {length} elements or bytes but only {remaining_bytes} bytes remain")]
    LengthBeyondEnd { what: &'static str, length: u64, remaining_bytes: usize },

    #[error("{what} is not valid UTF-8")]
    BadUtf8 { what: &'static str },

    #[error("{what} has presence byte {flag}, not 0 or 1")]
    BadPresence { what: &'static str, flag: u8 },

    #[error(
        "{what}: item {item} follows item {previous}, but the encoder writes items in increasing id order"
    )]
    UnorderedItems { what: &'static str, previous: u64, item: u64 },

    #[error("{what} is not a valid value: {source}")]
    Invalid {
        what: &'static str,
        #[source]
        source: InvalidValue,
    },
}

/// A domain value refused by its checking constructor.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidValue {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Merchant(#[from] MerchantError),
    #[error(transparent)]
    Campaign(#[from] CampaignError),
    #[error(transparent)]
    Id(#[from] IdError),
}
