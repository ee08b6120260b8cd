//! The CSV format: a header row, then one row per option choice (see the crate docs).

use std::collections::BTreeMap;
use std::str::FromStr;

use csv::{ReaderBuilder, StringRecord, Trim};
use lantern_core::{
    CatalogError, CatalogId, Item, ItemId, ItemOption, Money, OPTION_CHOICES_MAX, OPTION_GROUPS_MAX,
    OptionGroup, OptionId,
};

use crate::error::excerpt;
use crate::json::{
    CHOICE_COUNT_EXPECTED, FEN_EXPECTED, ITEM_ID_EXPECTED, KIND_EXPECTED, OPTION_ID_EXPECTED, option_kind,
};
use crate::menu::{GroupOrigin, ItemOrigin, ParsedItem, Place, assemble, check_extras};
use crate::{FormatError, ItemExtras, Menu, check_size};

/// Separates aliases inside the `aliases` cell.
const ALIAS_SEPARATOR: char = '|';

const DELTA_EXPECTED: &str =
    "a whole number of fen, negative for a discount (write +¥3 as 300), or empty for no change";
const DEFAULT_EXPECTED: &str = "`yes` (this is the group's default choice) or empty";

pub(crate) const CSV_COLUMNS_TEXT: &str = "item_id, name, category, price_fen, aliases, description, \
     group_kind, group_name, min_choices, max_choices, choice_id, choice_name, price_delta_fen, default";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Column {
    ItemId,
    Name,
    Category,
    PriceFen,
    Aliases,
    Description,
    GroupKind,
    GroupName,
    MinChoices,
    MaxChoices,
    ChoiceId,
    ChoiceName,
    PriceDeltaFen,
    Default,
}

const N_COLUMNS: usize = 14;

const COLUMNS: [Column; N_COLUMNS] = [
    Column::ItemId,
    Column::Name,
    Column::Category,
    Column::PriceFen,
    Column::Aliases,
    Column::Description,
    Column::GroupKind,
    Column::GroupName,
    Column::MinChoices,
    Column::MaxChoices,
    Column::ChoiceId,
    Column::ChoiceName,
    Column::PriceDeltaFen,
    Column::Default,
];

/// Columns every menu has.
const ITEM_REQUIRED: [Column; 4] = [Column::ItemId, Column::Name, Column::Category, Column::PriceFen];
/// The item's own columns after `item_id`, which later rows of the item leave empty or repeat.
const ITEM_FIELDS: [Column; 5] =
    [Column::Name, Column::Category, Column::PriceFen, Column::Aliases, Column::Description];
/// Columns a menu with options has, all of them.
const OPTION_REQUIRED: [Column; 7] = [
    Column::GroupKind,
    Column::GroupName,
    Column::MinChoices,
    Column::MaxChoices,
    Column::ChoiceId,
    Column::ChoiceName,
    Column::PriceDeltaFen,
];
/// The group's own columns after `group_name`, which later rows of the group leave empty or repeat.
const GROUP_FIELDS: [Column; 3] = [Column::GroupKind, Column::MinChoices, Column::MaxChoices];

impl Column {
    const fn name(self) -> &'static str {
        match self {
            Column::ItemId => "item_id",
            Column::Name => "name",
            Column::Category => "category",
            Column::PriceFen => "price_fen",
            Column::Aliases => "aliases",
            Column::Description => "description",
            Column::GroupKind => "group_kind",
            Column::GroupName => "group_name",
            Column::MinChoices => "min_choices",
            Column::MaxChoices => "max_choices",
            Column::ChoiceId => "choice_id",
            Column::ChoiceName => "choice_name",
            Column::PriceDeltaFen => "price_delta_fen",
            Column::Default => "default",
        }
    }
}

/// Parses a menu in the CSV format (see the crate docs and `FORMAT.md`).
pub fn parse_csv(catalog: CatalogId, input: &str) -> Result<Menu, FormatError> {
    check_size(input)?;
    let input = input.strip_prefix('\u{feff}').unwrap_or(input);
    let mut reader = ReaderBuilder::new().trim(Trim::All).flexible(true).from_reader(input.as_bytes());
    let header = read_header(&mut reader)?;
    let mut finished = Vec::new();
    let mut first_lines: BTreeMap<ItemId, u64> = BTreeMap::new();
    let mut current: Option<ItemBuild> = None;
    for record in reader.records() {
        let record = record.map_err(csv_error)?;
        let row =
            Row { line: record.position().map_or(0, csv::Position::line), record: &record, header: &header };
        if record.iter().all(str::is_empty) {
            continue;
        }
        row.check_unnamed_cells()?;
        let id_text = row.required(Column::ItemId)?;
        let id = ItemId::parse(id_text).map_err(|_| row.bad(Column::ItemId, ITEM_ID_EXPECTED))?;
        match &mut current {
            Some(build) if build.origin.id == id => build.continue_with(&row)?,
            _ => {
                finished.extend(current.take().map(ItemBuild::finish));
                if let Some(first_line) = first_lines.get(&id) {
                    return Err(FormatError::Rows {
                        location: row.at(Column::ItemId),
                        problem: format!(
                            "item {id} already appeared on line {first_line}, before other items; \
                             keep an item's rows together, or give this item its own id"
                        ),
                    });
                }
                first_lines.insert(id, row.line);
                current = Some(ItemBuild::start(id, &row)?);
            }
        }
    }
    finished.extend(current.take().map(ItemBuild::finish));
    assemble(catalog, finished)
}

/// lantern-core's own refusal, raised early where the rows pass its limits.
fn too_many_options(item: ItemId, row: &Row<'_>, column: Column) -> FormatError {
    FormatError::Catalog { location: Some(row.at(column)), error: CatalogError::OptionCount { item } }
}

fn csv_error(error: csv::Error) -> FormatError {
    FormatError::Csv { line: error.position().map_or(0, csv::Position::line), message: error.to_string() }
}

/// Which record field holds each column (`None`: the column is absent, its cells read as empty).
#[derive(Debug)]
struct Header {
    positions: [Option<usize>; N_COLUMNS],
}

fn read_header(reader: &mut csv::Reader<&[u8]>) -> Result<Header, FormatError> {
    let record = reader.headers().map_err(csv_error)?;
    let line = record.position().map_or(1, csv::Position::line).max(1);
    let mut positions = [None; N_COLUMNS];
    for (field_index, name) in record.iter().enumerate() {
        // Spreadsheets export empty header cells for unused columns; their cells must stay empty.
        if name.is_empty() {
            continue;
        }
        let Some(column) = COLUMNS.into_iter().find(|column| column.name().eq_ignore_ascii_case(name)) else {
            return Err(FormatError::UnknownColumn { line, column: excerpt(name) });
        };
        let slot = &mut positions[column as usize];
        if slot.is_some() {
            return Err(FormatError::DuplicateColumn { line, column: excerpt(name) });
        }
        *slot = Some(field_index);
    }
    let has_options = OPTION_REQUIRED.iter().any(|column| positions[*column as usize].is_some());
    let required = ITEM_REQUIRED.iter().chain(if has_options { &OPTION_REQUIRED[..] } else { &[] });
    if let Some(missing) = required.into_iter().find(|column| positions[**column as usize].is_none()) {
        return Err(FormatError::MissingColumn { line, column: missing.name() });
    }
    Ok(Header { positions })
}

struct Row<'a> {
    line: u64,
    record: &'a StringRecord,
    header: &'a Header,
}

impl Row<'_> {
    fn cell(&self, column: Column) -> &str {
        self.header.positions[column as usize].and_then(|index| self.record.get(index)).unwrap_or("")
    }

    fn at(&self, column: Column) -> String {
        Place::Line(self.line).field(column.name())
    }

    fn required(&self, column: Column) -> Result<&str, FormatError> {
        let cell = self.cell(column);
        if cell.is_empty() {
            return Err(FormatError::MissingValue { location: self.at(column), field: column.name() });
        }
        Ok(cell)
    }

    fn bad(&self, column: Column, expected: &'static str) -> FormatError {
        FormatError::BadValue { location: self.at(column), value: excerpt(self.cell(column)), expected }
    }

    fn number<T: FromStr>(&self, column: Column, expected: &'static str) -> Result<T, FormatError> {
        self.required(column)?.parse().map_err(|_| self.bad(column, expected))
    }

    fn check_unnamed_cells(&self) -> Result<(), FormatError> {
        let named = |index: usize| self.header.positions.contains(&Some(index));
        match self.record.iter().enumerate().find(|(index, cell)| !cell.is_empty() && !named(*index)) {
            None => Ok(()),
            Some((index, _)) => Err(FormatError::Rows {
                location: format!("line {}", self.line),
                problem: format!(
                    "cell {} has text, but the header gives its column no name; \
                     name the column in the header or clear the cell",
                    index + 1
                ),
            }),
        }
    }

    /// Refuses a cell that is filled and differs from what the first row of its item or group
    /// said; empty means "as above".
    fn check_repeat(
        &self,
        column: Column,
        first: &str,
        first_line: u64,
        owner: &str,
    ) -> Result<(), FormatError> {
        let cell = self.cell(column);
        if cell.is_empty() || cell == first {
            return Ok(());
        }
        Err(FormatError::Rows {
            location: self.at(column),
            problem: format!(
                "{owner} has {} {:?} here but {:?} on line {first_line}; fill it on the first row only, \
                 or repeat it exactly",
                column.name(),
                excerpt(cell),
                excerpt(first),
            ),
        })
    }
}

/// An item whose rows are being read.
struct ItemBuild {
    item: Item,
    extras: ItemExtras,
    origin: ItemOrigin,
    first_line: u64,
    /// The first row's cells of [`ITEM_FIELDS`], to compare later rows with.
    first_cells: [String; ITEM_FIELDS.len()],
    /// The item was written without options; it has exactly one row.
    plain: bool,
    open_group: Option<GroupBuild>,
}

/// An option group whose rows are being read.
struct GroupBuild {
    group: OptionGroup,
    origin: GroupOrigin,
    first_line: u64,
    first_cells: [String; GROUP_FIELDS.len()],
    default_line: Option<u64>,
}

impl ItemBuild {
    fn start(id: ItemId, row: &Row<'_>) -> Result<ItemBuild, FormatError> {
        let name = row.required(Column::Name)?.to_owned();
        let category = row.required(Column::Category)?.to_owned();
        let price_fen: i64 = row.number(Column::PriceFen, FEN_EXPECTED)?;
        let aliases: Vec<String> = row
            .cell(Column::Aliases)
            .split(ALIAS_SEPARATOR)
            .map(str::trim)
            .filter(|alias| !alias.is_empty())
            .map(str::to_owned)
            .collect();
        let description = row.cell(Column::Description).to_owned();
        let at = Place::Line(row.line);
        check_extras(&aliases, &description, &at)?;
        let mut build = ItemBuild {
            item: Item { id, name, category, price: Money::from_fen(price_fen), option_groups: Vec::new() },
            extras: ItemExtras { item: id, aliases, description },
            origin: ItemOrigin { id, at, groups: Vec::new() },
            first_line: row.line,
            first_cells: ITEM_FIELDS.map(|column| row.cell(column).to_owned()),
            plain: false,
            open_group: None,
        };
        if row.cell(Column::GroupName).is_empty() {
            build.plain = true;
            let stray = OPTION_REQUIRED
                .into_iter()
                .chain([Column::Default])
                .find(|column| !row.cell(*column).is_empty());
            if stray.is_some() {
                return Err(FormatError::MissingValue {
                    location: row.at(Column::GroupName),
                    field: "group_name",
                });
            }
        } else {
            build.add_choice(row)?;
        }
        Ok(build)
    }

    fn continue_with(&mut self, row: &Row<'_>) -> Result<(), FormatError> {
        let owner = format!("item {}", self.origin.id);
        for (column, first) in ITEM_FIELDS.into_iter().zip(&self.first_cells) {
            row.check_repeat(column, first, self.first_line, &owner)?;
        }
        if self.plain || row.cell(Column::GroupName).is_empty() {
            return Err(FormatError::Rows {
                location: row.at(Column::GroupName),
                problem: format!(
                    "{owner} has more than one row, so every row of it is an option choice and needs \
                     group_name (an item without options has a single row)"
                ),
            });
        }
        self.add_choice(row)
    }

    fn add_choice(&mut self, row: &Row<'_>) -> Result<(), FormatError> {
        let group_name = row.cell(Column::GroupName);
        let same_group = self.open_group.as_ref().is_some_and(|open| open.group.name == group_name);
        if !same_group {
            self.close_group();
            // lantern-core refuses this too, but only at the end; refusing now keeps the search for
            // an earlier group of the same name below bounded.
            if self.origin.groups.len() >= OPTION_GROUPS_MAX {
                return Err(too_many_options(self.origin.id, row, Column::GroupName));
            }
            if let Some(earlier) = self.origin.groups.iter().find(|origin| origin.name == group_name) {
                return Err(FormatError::Rows {
                    location: row.at(Column::GroupName),
                    problem: format!(
                        "group {:?} of item {} already has rows from {}, before another group; \
                         keep a group's rows together",
                        excerpt(group_name),
                        self.origin.id,
                        earlier.at.here(),
                    ),
                });
            }
            self.open_group = Some(GroupBuild::start(row)?);
        }
        let Some(open) = &mut self.open_group else {
            return Ok(());
        };
        let owner = format!("group {:?} of item {}", excerpt(group_name), self.origin.id);
        if same_group {
            for (column, first) in GROUP_FIELDS.into_iter().zip(&open.first_cells) {
                row.check_repeat(column, first, open.first_line, &owner)?;
            }
        }
        if open.group.choices.len() >= OPTION_CHOICES_MAX {
            return Err(too_many_options(self.origin.id, row, Column::ChoiceId));
        }
        let id = OptionId::new(row.number(Column::ChoiceId, OPTION_ID_EXPECTED)?);
        let name = row.required(Column::ChoiceName)?.to_owned();
        let delta_fen: i64 = match row.cell(Column::PriceDeltaFen) {
            "" => 0,
            text => text.parse().map_err(|_| row.bad(Column::PriceDeltaFen, DELTA_EXPECTED))?,
        };
        let is_default = match row.cell(Column::Default).to_ascii_lowercase().as_str() {
            "" | "no" | "false" => false,
            "yes" | "true" => true,
            _ => return Err(row.bad(Column::Default, DEFAULT_EXPECTED)),
        };
        if is_default {
            if let Some(default_line) = open.default_line {
                return Err(FormatError::Rows {
                    location: row.at(Column::Default),
                    problem: format!(
                        "{owner} already has its default on line {default_line}; mark one choice only"
                    ),
                });
            }
            open.default_line = Some(row.line);
            open.group.default_choice = Some(id);
        }
        open.group.choices.push(ItemOption { id, name, price_delta: Money::from_fen(delta_fen) });
        open.origin.choices.push((id, Place::Line(row.line)));
        Ok(())
    }

    fn close_group(&mut self) {
        if let Some(GroupBuild { group, origin, .. }) = self.open_group.take() {
            self.item.option_groups.push(group);
            self.origin.groups.push(origin);
        }
    }

    fn finish(mut self) -> ParsedItem {
        self.close_group();
        ParsedItem { item: self.item, extras: self.extras, origin: self.origin }
    }
}

impl GroupBuild {
    fn start(row: &Row<'_>) -> Result<GroupBuild, FormatError> {
        let kind = option_kind(&row.required(Column::GroupKind)?.to_ascii_lowercase())
            .ok_or_else(|| row.bad(Column::GroupKind, KIND_EXPECTED))?;
        let min_choices = row.number(Column::MinChoices, CHOICE_COUNT_EXPECTED)?;
        let max_choices = row.number(Column::MaxChoices, CHOICE_COUNT_EXPECTED)?;
        let name = row.cell(Column::GroupName).to_owned();
        Ok(GroupBuild {
            origin: GroupOrigin { name: name.clone(), at: Place::Line(row.line), choices: Vec::new() },
            group: OptionGroup {
                kind,
                name,
                choices: Vec::new(),
                min_choices,
                max_choices,
                default_choice: None,
            },
            first_line: row.line,
            first_cells: GROUP_FIELDS.map(|column| row.cell(column).to_owned()),
            default_line: None,
        })
    }
}
