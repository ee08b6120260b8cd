//! Lantern's catalog formats: a merchant's menu as JSON or CSV, parsed into a validated
//! [`lantern_core::Catalog`] plus the display and search fields the ledger does not need
//! ([`ItemExtras`]: aliases and a description), and printed back as JSON. Pure: it parses text
//! and returns values; it does no I/O.
//!
//! The input is untrusted (a merchant's upload): it is bounded ([`INPUT_BYTES_MAX`],
//! [`ALIASES_PER_ITEM_MAX`], [`ALIAS_CHARS_MAX`], [`DESCRIPTION_CHARS_MAX`]), parsing never
//! panics, and every [`FormatError`] says where the problem is, what it is and what to do.
//! lantern-core's own rules (names, prices, option-group bounds, unique ids) are checked by
//! [`Catalog::new`](lantern_core::Catalog::new) and its [`CatalogError`](lantern_core::CatalogError)
//! is wrapped with the place in the input it points to.
//!
//! `FORMAT.md` next to this crate's `Cargo.toml` has a full example of each format.
//!
//! # Common rules
//!
//! - Money is integer fen (1 yuan = 100 fen) in fields named `price_fen` and `price_delta_fen`;
//!   a fraction such as `15.5` is refused (write `1550`).
//! - Ids are whole numbers: item ids (`u64`) unique on the menu, option ids (`u32`) unique
//!   within their item. The catalog's own id is not in the document: the caller passes it.
//! - Option kinds are `size`, `sugar`, `ice`, `topping` or `other`.
//! - Names, categories and choice names are 1 to 200 characters (lantern-core's rule); text is
//!   UTF-8, so `珍珠奶茶 Pearl Milk Tea` is an ordinary name.
//!
//! # JSON
//!
//! One object: an optional `"format": "lantern.menu/1"` and `"items"`, a list of items. An item
//! has `id`, `name`, `category`, `price_fen`, and optionally `aliases` (list of strings),
//! `description` and `option_groups`. A group has `kind`, `name`, `min_choices`, `max_choices`,
//! an optional `default_choice` (an option id) and `choices`, each with `id`, `name` and
//! `price_delta_fen`. Unknown fields are refused by name, so a typo is never silently ignored.
//! [`to_json`] prints every field and [`parse_json`] reads its output back to an equal menu.
//!
//! # CSV
//!
//! A header row naming the columns (any order, ASCII case ignored), then one row per option choice, so a menu can
//! be written in a spreadsheet without a mini-language in any cell:
//!
//! - item columns: `item_id`, `name`, `category`, `price_fen` (required), `aliases` (separated
//!   by `|`), `description`;
//! - option columns: `group_kind`, `group_name`, `min_choices`, `max_choices`, `choice_id`,
//!   `choice_name`, `price_delta_fen`, and optionally `default` (`yes` marks the group's default
//!   choice). Without options the option columns can be left out.
//!
//! Every row carries `item_id`. An item's rows are consecutive; its other item columns are
//! filled on its first row and, on the rest, left empty or repeated exactly. The same holds for
//! a group (identified by `group_name` within the item): its rows are consecutive and
//! `group_kind`, `min_choices` and `max_choices` are on its first row. An empty
//! `price_delta_fen` means 0. An item without options has one row with the option columns
//! empty. Cells are trimmed, rows with every cell empty are skipped, and a UTF-8 byte-order mark
//! (as spreadsheets write) is ignored.

mod error;
mod json;
mod menu;
mod table;

pub use error::FormatError;
pub use json::{parse_json, to_json};
pub use menu::{ALIAS_CHARS_MAX, ALIASES_PER_ITEM_MAX, DESCRIPTION_CHARS_MAX, ItemExtras, Menu};
pub use table::parse_csv;

/// Largest menu accepted, in bytes (4 MiB), checked before parsing: it bounds the memory and time
/// one upload can take.
pub const INPUT_BYTES_MAX: usize = 4 * 1024 * 1024;

/// The JSON format's name and version, the value of its optional `format` field.
pub const FORMAT_NAME: &str = "lantern.menu/1";

fn check_size(input: &str) -> Result<(), FormatError> {
    if input.len() > INPUT_BYTES_MAX {
        return Err(FormatError::TooLarge { length_bytes: input.len() });
    }
    Ok(())
}
