//! Why a menu was refused, where, and what to do about it.

use lantern_core::CatalogError;

use crate::INPUT_BYTES_MAX;
use crate::table::CSV_COLUMNS_TEXT;

/// A refused menu. Every variant but [`FormatError::TooLarge`] knows where in the input the
/// problem is ([`FormatError::location`]), in the input's own terms: a JSON line and column or
/// path (`items[3].price_fen`), or a CSV line and column (`line 7, column price_fen`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error(
        "the menu is {length_bytes} bytes, more than the {INPUT_BYTES_MAX}-byte limit; \
         shorten the descriptions or split the menu"
    )]
    TooLarge { length_bytes: usize },

    /// Bad JSON, or JSON that does not follow the format (unknown or missing field, wrong type,
    /// a fraction where fen are expected).
    #[error("menu JSON, line {line}, column {column}: {message}; correct it and upload the menu again")]
    Json { line: usize, column: usize, message: String },

    #[error("menu CSV, line {line}: {message}; correct the file and upload it again")]
    Csv { line: u64, message: String },

    #[error(
        "menu CSV header, line {line}: column {column:?} is not part of the format; \
         correct its name (the columns are {CSV_COLUMNS_TEXT})"
    )]
    UnknownColumn { line: u64, column: String },

    #[error("menu CSV header, line {line}: column {column:?} appears twice; keep one of them")]
    DuplicateColumn { line: u64, column: String },

    #[error("menu CSV header, line {line}: column {column:?} is missing; add it to the header row")]
    MissingColumn { line: u64, column: &'static str },

    #[error("menu {location}: {field} is empty; fill it in")]
    MissingValue { location: String, field: &'static str },

    #[error("menu {location}: {value:?} is not {expected}")]
    BadValue {
        location: String,
        /// What was written, cut to 64 characters.
        value: String,
        /// What was expected, with an example.
        expected: &'static str,
    },

    /// CSV rows of one item or option group that contradict each other or are not together.
    #[error("menu {location}: {problem}")]
    Rows { location: String, problem: String },

    /// Aliases or a description over the limits, empty or repeated.
    #[error("menu {location}: {problem}")]
    Extras { location: String, problem: String },

    /// lantern-core refused the menu; `location` is where the item, group or choice it names
    /// was written, when it names one.
    #[error("menu{}: {error}; correct it and upload the menu again", at(.location))]
    Catalog {
        location: Option<String>,
        #[source]
        error: CatalogError,
    },
}

fn at(location: &Option<String>) -> String {
    location.as_ref().map(|location| format!(" {location}")).unwrap_or_default()
}

impl FormatError {
    /// A stable, machine-readable code for API responses.
    pub fn code(&self) -> &'static str {
        match self {
            FormatError::TooLarge { .. } => "catalog_too_large",
            FormatError::Json { .. } => "catalog_json_invalid",
            FormatError::Csv { .. } => "catalog_csv_invalid",
            FormatError::UnknownColumn { .. } => "catalog_csv_unknown_column",
            FormatError::DuplicateColumn { .. } => "catalog_csv_duplicate_column",
            FormatError::MissingColumn { .. } => "catalog_csv_missing_column",
            FormatError::MissingValue { .. } => "catalog_missing_value",
            FormatError::BadValue { .. } => "catalog_bad_value",
            FormatError::Rows { .. } => "catalog_csv_rows_disagree",
            FormatError::Extras { .. } => "catalog_bad_extras",
            FormatError::Catalog { .. } => "catalog_invalid",
        }
    }

    /// Where the problem is: `line 7, column 25` (JSON text), `items[3].option_groups[0]` (JSON
    /// value), `line 7, column price_fen` (CSV); `None` when it concerns the whole menu.
    pub fn location(&self) -> Option<String> {
        match self {
            FormatError::TooLarge { .. } => None,
            FormatError::Json { line, column, .. } => Some(format!("line {line}, column {column}")),
            FormatError::Csv { line, .. } => Some(format!("line {line}")),
            FormatError::UnknownColumn { line, column } | FormatError::DuplicateColumn { line, column } => {
                Some(format!("line {line}, column {column}"))
            }
            FormatError::MissingColumn { line, .. } => Some(format!("line {line}")),
            FormatError::MissingValue { location, .. }
            | FormatError::BadValue { location, .. }
            | FormatError::Rows { location, .. }
            | FormatError::Extras { location, .. } => Some(location.clone()),
            FormatError::Catalog { location, .. } => location.clone(),
        }
    }
}

/// At most 64 characters of `text`, for echoing input back in an error.
pub(crate) fn excerpt(text: &str) -> String {
    text.chars().take(64).collect()
}
