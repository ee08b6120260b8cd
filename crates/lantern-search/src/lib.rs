//! Lantern's catalog search: finds items on merchants' menus from what a shopper (or the chat
//! agent for them) types, in English, Chinese or both, typos included.
//!
//! [`SearchIndex`] is a tantivy index held in memory. Each document is one item of one
//! merchant: its name, aliases, description, option names, category and the merchant's name,
//! plus the ids and base price a hit needs, so a search answers without going back to the menu.
//!
//! - **Chinese** is cut into words by jieba; all text is lowercased.
//! - **Typos and partial names**: each query word of 4 or more letters also matches name and
//!   alias words within edit distance 1 (2 from 8 letters), and names and aliases carry character grams
//!   (single characters and pairs for Chinese, 3-grams otherwise; an item must share half of a
//!   query word's grams for them to count), so "lattee", "capuccino" and "珍株奶茶" still find
//!   what was meant.
//! - **Ranking**: BM25, with a name or alias match weighing most and a description match least.
//! - **Incremental updates**: [`SearchIndex::upsert_menu`] replaces one merchant's items in one
//!   commit (delete by merchant, then add), so a menu change never rebuilds the index, and a
//!   search sees either the old menu or the new one, never a mix.
//! - **Untrusted queries**: the query is never parsed as a query language, so no input is a
//!   syntax error; it is bounded ([`QUERY_CHARS_MAX`]), and text with no letters or digits finds
//!   nothing.
//!
//! What it does not do: persist the index (it is rebuilt from the menus at start), parse menus
//! (that is `lantern-catalog-io`), know whether a shop is open or busy, or price options; a hit
//! carries the base price only.

mod analysis;
mod index;

pub use index::{SearchHit, SearchIndex};

/// Most hits one search returns; a larger `limit` is lowered to it. The agent shows a handful.
pub const SEARCH_HITS_MAX: usize = 50;
/// Longest query accepted, in characters. A shopper types a few words; anything longer is
/// pasted text, refused before any work is done on it.
pub const QUERY_CHARS_MAX: usize = 200;
/// Most distinct words of a query that are searched for; later words are ignored. Bounds the
/// size of the query built from one request.
pub const QUERY_WORDS_MAX: usize = 16;
/// Most distinct character grams of a query that are searched for; later grams are ignored.
pub const QUERY_GRAMS_MAX: usize = 48;
/// Longest merchant display name, in characters: lantern-core's rule for a merchant's name.
pub use lantern_core::MERCHANT_NAME_CHARS_MAX;
/// Memory the index writer may buffer before it flushes a segment: 50 MB, for its one
/// indexing thread (tantivy needs at least 15 MB per thread). A whole 10,000-item menu fits.
pub const WRITER_MEMORY_BYTES: usize = 50_000_000;

/// Why a search or an index update failed.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error(
        "the query is longer than {QUERY_CHARS_MAX} characters; search for the item's name or a few words"
    )]
    QueryTooLong,
    #[error("the merchant name must be 1..={MERCHANT_NAME_CHARS_MAX} characters, got {chars}")]
    MerchantName { chars: usize },
    #[error("the search index failed ({0}); the index is unchanged since its last successful update")]
    Index(#[from] tantivy::TantivyError),
    #[error("an indexed document lacks its {field} field; the index was built by other code")]
    Corrupt { field: &'static str },
}
